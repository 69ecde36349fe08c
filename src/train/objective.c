/*
 * objective.c: the diffusion objectives of objective.h as batch transforms.
 */
#include "train/objective.h"

#include <math.h>
#include <stdlib.h>

enum um_status um_obj_batch_alloc(struct um_obj_batch *b, int max_b, int max_l) {
    memset(b, 0, sizeof *b);
    size_t n = (size_t)max_b * (size_t)max_l * 2;
    b->tokens = malloc(n * sizeof *b->tokens);
    b->pos = malloc(n * sizeof *b->pos);
    b->targets = malloc(n * sizeof *b->targets);
    b->weights = malloc(n * sizeof *b->weights);
    if (!b->tokens || !b->pos || !b->targets || !b->weights) {
        um_obj_batch_free(b);
        return um_set_error(UM_ERR_NOMEM, "out of memory for a batch of %d x %d", max_b, max_l);
    }
    return UM_OK;
}

void um_obj_batch_free(struct um_obj_batch *b) {
    free(b->tokens);
    free(b->pos);
    free(b->targets);
    free(b->weights);
    memset(b, 0, sizeof *b);
}

/* t of sequence b (block k for BD3): forced, fixed, or drawn */
static double draw_t(const struct um_obj_params *p, um_rng *rng, int64_t index) {
    if (p->forced_t) return p->forced_t[index];
    return p->fixed_t >= 0 ? p->fixed_t : um_rng_uniform(rng);
}

/* is position `flat` masked with probability pm: forced or drawn */
static bool draw_mask(const struct um_obj_params *p, um_rng *rng, int64_t flat, double pm) {
    if (p->forced_mask) return p->forced_mask[flat] != 0;
    return um_rng_uniform(rng) < pm;
}

/* Put the loss term of position i (target x, weight w) on its row: i, or i-1 with a shift. */
static void add_term(const struct um_obj_params *p, struct um_obj_batch *o, int64_t row0, int i,
                     int32_t x, float w) {
    const int64_t r = row0 + (p->shift ? i - 1 : i);
    o->targets[r] = x;
    o->weights[r] = w;
    o->n_masked++;
}

enum um_status um_obj_build(const struct um_obj_params *p, const int32_t *x0,
                            const int32_t *prompt_len, int B, int L, um_rng *rng,
                            struct um_obj_batch *o) {
    if (B < 1 || L < 2) return um_set_error(UM_ERR_ARG, "objective: batch %d x %d too small", B, L);
    if (p->kind == UM_OBJ_SFT && !prompt_len)
        return um_set_error(UM_ERR_ARG, "objective sft: the data has no prompt lengths (use "
                            "task/SFT shards)");
    if (p->kind == UM_OBJ_BD3 && (p->block_size < 1 || L % p->block_size != 0))
        return um_set_error(UM_ERR_ARG, "objective bd3: block_size %d must divide seq_len %d",
                            p->block_size, L);
    if (p->kind != UM_OBJ_AR && p->mask_id < 0)
        return um_set_error(UM_ERR_ARG, "objective: the model has no mask token");
    const int T = p->kind == UM_OBJ_BD3 ? 2 * L : L;
    o->B = B;
    o->T = T;
    o->n_masked = 0;
    o->attn.block_size = p->block_size;
    o->attn.kind = p->kind == UM_OBJ_AR    ? UM_ATTN_CAUSAL
                   : p->kind == UM_OBJ_BD3 ? UM_ATTN_BD3
                                           : UM_ATTN_FULL;
    const double eps = p->eps;
    for (int b = 0; b < B; b++) {
        const int32_t *x = x0 + (int64_t)b * L;
        const int64_t row0 = (int64_t)b * T;
        for (int i = 0; i < T; i++) {
            o->tokens[row0 + i] = x[i % L];
            o->pos[row0 + i] = i % L;
            o->targets[row0 + i] = -1;
            o->weights[row0 + i] = 0.0f;
        }
        switch (p->kind) {
        case UM_OBJ_AR:
            for (int i = 0; i + 1 < L; i++) {
                o->targets[row0 + i] = x[i + 1];
                o->weights[row0 + i] = 1.0f;
                o->n_masked++;
            }
            break;
        case UM_OBJ_MDM: {
            const double pm = (1.0 - eps) * draw_t(p, rng, b) + eps;
            for (int i = 0; i < L; i++) {
                const bool m = draw_mask(p, rng, (int64_t)b * L + i, pm);
                if (!m || (p->shift && i == 0)) continue;
                o->tokens[row0 + i] = p->mask_id;
                add_term(p, o, row0, i, x[i], (float)(1.0 / pm));
            }
            break;
        }
        case UM_OBJ_SFT: {
            const int pl = prompt_len[b];
            if (pl < 0 || pl >= L)
                return um_set_error(UM_ERR_ARG, "objective sft: row %d has prompt length %d "
                                    "outside [0, %d)", b, pl, L);
            const double pm = (1.0 - eps) * draw_t(p, rng, b) + eps;
            const double len = (double)(L - pl);
            for (int i = pl; i < L; i++) {
                const bool m = draw_mask(p, rng, (int64_t)b * L + i, pm);
                if (!m || (p->shift && i == 0)) continue;
                o->tokens[row0 + i] = p->mask_id;
                add_term(p, o, row0, i, x[i], (float)(1.0 / (pm * len)));
            }
            break;
        }
        case UM_OBJ_BD3: {
            const int nb = L / p->block_size;
            for (int k = 0; k < nb; k++) {
                double t = draw_t(p, rng, (int64_t)b * nb + k);
                const double pm = t < eps ? eps : t;
                for (int i = k * p->block_size; i < (k + 1) * p->block_size; i++) {
                    const bool m = draw_mask(p, rng, (int64_t)b * L + i, pm);
                    if (!m || (p->shift && i == 0)) continue;
                    o->tokens[row0 + i] = p->mask_id;
                    add_term(p, o, row0, i, x[i], (float)(1.0 / pm));
                }
            }
            break;
        }
        }
    }
    o->norm = p->kind == UM_OBJ_SFT ? (double)B
              : p->kind == UM_OBJ_AR ? (double)B * (L - 1)
                                     : (double)B * L;
    return UM_OK;
}

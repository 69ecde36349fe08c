/*
 * forward.c: contexts and the forward pass of the transformer shared by LLaDA, Dream, Llama and
 * Qwen2 (pre-norm RMSNorm, RoPE rotate-half, GQA attention, SwiGLU MLP):
 *
 *   x = embed[tokens]
 *   per layer:  h = rmsnorm(x);  q,k,v = h Wq,Wk,Wv (+bias);  rope(q,k)
 *               x += attention(q,k,v) Wo
 *               h = rmsnorm(x);  x += (silu(h Wgate) * (h Wup)) Wdown
 *   logits[r] = rmsnorm(x[rows[r]]) Whead        (only the requested rows)
 *
 * Attention is bidirectional for the diffusion families and causal for the AR ones.
 * All buffers are allocated by um_ctx_init; um_forward allocates nothing.
 */
#include "model/model-impl.h"

#include "base/base.h"
#include "kernels/ops.h"

#include <stdlib.h>

static void ctx_free_buffers(um_ctx *c) {
    float **bufs[] = {&c->x, &c->h, &c->q, &c->k, &c->v, &c->ao, &c->g, &c->u, &c->tmp,
                      &c->scores, &c->rope_cos, &c->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
    free(c->pos);
}

enum um_status um_ctx_init(const um_model *model, int max_tokens, um_ctx **out) {
    if (!model || !out) return um_set_error(UM_ERR_ARG, "um_ctx_init: NULL argument");
    const struct um_model_info *in = &model->info;
    if (max_tokens < 1)
        return um_set_error(UM_ERR_ARG, "context of %d tokens: must be at least 1", max_tokens);
    if (max_tokens > in->max_positions)
        return um_set_error(UM_ERR_ARG, "%s: %d tokens exceed the model's limit of %d positions "
                            "(config max positions)", model->dir, max_tokens, in->max_positions);
    um_ctx *c = calloc(1, sizeof *c);
    if (!c) return um_set_error(UM_ERR_NOMEM, "out of memory");
    c->model = model;
    c->max_tokens = max_tokens;
    const size_t T = (size_t)max_tokens, D = (size_t)in->n_embd;
    const size_t QD = (size_t)in->n_head * (size_t)in->head_dim;
    const size_t KD = (size_t)in->n_head_kv * (size_t)in->head_dim;
    const size_t F = (size_t)in->n_ff, half = (size_t)in->head_dim / 2;
    c->x = malloc(T * D * sizeof(float));
    c->h = malloc(T * D * sizeof(float));
    c->tmp = malloc(T * D * sizeof(float));
    c->q = malloc(T * QD * sizeof(float));
    c->ao = malloc(T * QD * sizeof(float));
    c->k = malloc(T * KD * sizeof(float));
    c->v = malloc(T * KD * sizeof(float));
    c->g = malloc(T * F * sizeof(float));
    c->u = malloc(T * F * sizeof(float));
    c->scores = malloc((size_t)um_attention_scratch((int64_t)T, in->n_head_kv, in->head_dim) *
                       sizeof(float));
    c->rope_cos = malloc(T * half * sizeof(float));
    c->rope_sin = malloc(T * half * sizeof(float));
    c->pos = malloc(T * sizeof(int32_t));
    if (!c->x || !c->h || !c->tmp || !c->q || !c->ao || !c->k || !c->v || !c->g || !c->u ||
        !c->scores || !c->rope_cos || !c->rope_sin || !c->pos) {
        ctx_free_buffers(c);
        free(c);
        return um_set_error(UM_ERR_NOMEM, "out of memory allocating a context of %d tokens",
                            max_tokens);
    }
    um_rope_tables(c->rope_cos, c->rope_sin, max_tokens, in->head_dim, in->rope_theta);
    for (int i = 0; i < max_tokens; i++) c->pos[i] = i;
    *out = c;
    return UM_OK;
}

void um_ctx_free(um_ctx *c) {
    if (!c) return;
    ctx_free_buffers(c);
    free(c);
}

const um_model *um_ctx_model(const um_ctx *c) {
    return c->model;
}

int um_ctx_max_tokens(const um_ctx *c) {
    return c->max_tokens;
}

/* x[i] = embed[tokens[i]] widened to fp32 */
static void embed_rows(const um_wmat *e, const int32_t *tokens, int t, float *x) {
    const int64_t D = e->k;
    for (int i = 0; i < t; i++) {
        float *xi = x + (int64_t)i * D;
        const int64_t row = tokens[i];
        switch (e->dtype) {
        case UM_DTYPE_F32:
            memcpy(xi, (const float *)e->data + row * D, (size_t)D * sizeof(float));
            break;
        case UM_DTYPE_BF16: {
            const uint16_t *s = (const uint16_t *)e->data + row * D;
            for (int64_t j = 0; j < D; j++) xi[j] = um_bf16_to_f32(s[j]);
            break;
        }
        case UM_DTYPE_F16: {
            const uint16_t *s = (const uint16_t *)e->data + row * D;
            for (int64_t j = 0; j < D; j++) xi[j] = um_f16_to_f32(s[j]);
            break;
        }
        }
    }
}

enum um_status um_forward(um_ctx *c, const int32_t *tokens, int n_tokens, const int32_t *rows,
                          int n_rows, float *logits) {
    const um_model *m = c->model;
    const struct um_model_info *in = &m->info;
    if (n_tokens < 1 || n_tokens > c->max_tokens)
        return um_set_error(UM_ERR_ARG, "forward of %d tokens: the context holds 1..%d",
                            n_tokens, c->max_tokens);
    if (n_rows < 0 || n_rows > n_tokens)
        return um_set_error(UM_ERR_ARG, "forward: %d logit rows requested for %d tokens", n_rows,
                            n_tokens);
    for (int i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= in->n_vocab)
            return um_set_error(UM_ERR_ARG, "forward: token %d at position %d is outside the "
                                "vocabulary [0, %d)", tokens[i], i, in->n_vocab);
    for (int r = 0; r < n_rows; r++)
        if (rows[r] < 0 || rows[r] >= n_tokens)
            return um_set_error(UM_ERR_ARG, "forward: logit row %d is outside [0, %d)", rows[r],
                                n_tokens);

    const int64_t T = n_tokens, D = in->n_embd, F = in->n_ff;
    const int H = in->n_head, Hkv = in->n_head_kv, Dh = in->head_dim;
    const enum um_precision prec = m->precision;

    embed_rows(&m->embed, tokens, n_tokens, c->x);
    for (int l = 0; l < in->n_layer; l++) {
        const struct um_layer *ly = &m->layers[l];
        um_rmsnorm(c->h, c->x, ly->attn_norm, T, D, in->norm_eps);
        um_matmul(&ly->wq, c->h, T, c->q, ly->bq, prec);
        um_matmul(&ly->wk, c->h, T, c->k, ly->bk, prec);
        um_matmul(&ly->wv, c->h, T, c->v, ly->bv, prec);
        um_rope(c->q, T, H, Dh, c->pos, c->rope_cos, c->rope_sin);
        um_rope(c->k, T, Hkv, Dh, c->pos, c->rope_cos, c->rope_sin);
        um_attention(c->ao, c->q, c->k, c->v, T, H, Hkv, Dh, in->causal, c->scores);
        um_matmul(&ly->wo, c->ao, T, c->tmp, NULL, prec);
        um_add(c->x, c->tmp, T * D);
        um_rmsnorm(c->h, c->x, ly->ffn_norm, T, D, in->norm_eps);
        um_matmul(&ly->w_gate, c->h, T, c->g, NULL, prec);
        um_matmul(&ly->w_up, c->h, T, c->u, NULL, prec);
        um_swiglu(c->g, c->g, c->u, T * F);
        um_matmul(&ly->w_down, c->g, T, c->tmp, NULL, prec);
        um_add(c->x, c->tmp, T * D);
    }
    if (n_rows == 0) return UM_OK;
    /* gather the requested rows, final norm, LM head */
    for (int r = 0; r < n_rows; r++)
        memcpy(c->h + (int64_t)r * D, c->x + (int64_t)rows[r] * D, (size_t)D * sizeof(float));
    um_rmsnorm(c->h, c->h, m->final_norm, n_rows, D, in->norm_eps);
    um_matmul(&m->head, c->h, n_rows, logits, NULL, prec);
    return UM_OK;
}

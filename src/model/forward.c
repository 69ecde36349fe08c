/*
 * forward.c: contexts and the forward pass of the transformer shared by LLaDA, Dream, Llama and
 * Qwen2 (pre-norm RMSNorm, RoPE rotate-half, GQA attention, SwiGLU MLP):
 *
 *   x = embed[tokens]
 *   per layer:  h = rmsnorm(x);  q,k,v = h Wq,Wk,Wv (+bias);  [qk_norm: per-head rmsnorm of
 *               q and k (Qwen3 / SDAR)];  rope(q,k)
 *               x += attention(q,k,v) Wo
 *               h = rmsnorm(x);  x += (silu(h Wgate) * (h Wup)) Wdown
 *   logits[r] = rmsnorm(x[rows[r]]) Whead        (only the requested rows)
 *
 * Attention (um_flash_fwd) is bidirectional for LLaDA and Dream, causal for the AR families and
 * block-causal for the block-diffusion families (SDAR, Fast-dLLM v2).
 *
 * Windows and the KV cache. A forward computes a window of positions [q0, q1) of the canvas
 * (the whole canvas for um_forward). The window's K and V are written at their absolute
 * positions into the layer's K/V buffer; with the cache enabled that buffer is per layer and
 * survives the call, so a later window can attend to positions it does not recompute (the
 * Fast-dLLM prefix and dual caches, the exact block-diffusion cache). kv_ok records which
 * positions hold computed K/V since the last clear.
 * All buffers are allocated by um_ctx_init / um_ctx_enable_cache; a forward allocates nothing.
 */
#include "model/model-impl.h"

#include "base/base.h"
#include "kernels/flash_attn.h"
#include "kernels/ops_bwd.h"
#include "kernels/ops.h"

#include <stdlib.h>

static void ctx_free_buffers(um_ctx *c) {
    float **bufs[] = {&c->x, &c->h, &c->q, &c->k, &c->v, &c->ao, &c->g, &c->u, &c->tmp,
                      &c->scores, &c->rope_cos, &c->rope_sin};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]);
    free(c->pos);
    free(c->kv_ok);
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
    c->scores = malloc(um_flash_scratch_floats((int64_t)T, (int64_t)T, in->n_head, in->n_head_kv,
                                               in->head_dim) * sizeof(float));
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

enum um_status um_ctx_enable_cache(um_ctx *c) {
    if (c->cache) return UM_OK;
    const struct um_model_info *in = &c->model->info;
    const size_t n = (size_t)in->n_layer * (size_t)c->max_tokens * (size_t)in->n_head_kv *
                     (size_t)in->head_dim;
    float *k = malloc(n * sizeof(float)), *v = malloc(n * sizeof(float));
    uint8_t *ok = calloc((size_t)c->max_tokens, 1);
    if (!k || !v || !ok) {
        free(k);
        free(v);
        free(ok);
        return um_set_error(UM_ERR_NOMEM, "out of memory allocating a KV cache of %.1f MB "
                            "(%d layers x %d positions)", 2.0 * (double)n * 4 / 1e6,
                            in->n_layer, c->max_tokens);
    }
    free(c->k);
    free(c->v);
    c->k = k;
    c->v = v;
    c->kv_ok = ok;
    c->cache = true;
    return UM_OK;
}

void um_ctx_clear_cache(um_ctx *c) {
    if (c->cache) memset(c->kv_ok, 0, (size_t)c->max_tokens);
}

int64_t um_ctx_n_forwards(const um_ctx *c) {
    return c->n_forwards;
}

/* The model's attention mask (flash_attn.h kinds) and its block size. */
static int model_mask(const struct um_model_info *in, int *bs) {
    *bs = in->block_size > 0 ? in->block_size : 1;
    if (in->causal) return UM_MASK_CAUSAL;
    if (in->block_size > 0) return UM_MASK_BLOCK_CAUSAL;
    return UM_MASK_FULL;
}

enum um_status um_forward_window(um_ctx *c, const int32_t *tokens, int q0, int q1, int n_keys,
                                 const int32_t *rows, int n_rows, float *logits) {
    const um_model *m = c->model;
    const struct um_model_info *in = &m->info;
    if (n_keys < 1 || n_keys > c->max_tokens)
        return um_set_error(UM_ERR_ARG, "forward over %d keys: the context holds 1..%d", n_keys,
                            c->max_tokens);
    if (q0 < 0 || q1 <= q0 || q1 > n_keys)
        return um_set_error(UM_ERR_ARG, "forward window [%d, %d) is not inside [0, %d)", q0, q1,
                            n_keys);
    if (!c->cache && (q0 != 0 || q1 != n_keys))
        return um_set_error(UM_ERR_ARG, "forward window [%d, %d) of %d keys needs the KV cache "
                            "(um_ctx_enable_cache)", q0, q1, n_keys);
    if (c->cache) {
        for (int j = 0; j < n_keys; j++)
            if ((j < q0 || j >= q1) && !c->kv_ok[j])
                return um_set_error(UM_ERR_ARG, "forward window [%d, %d): key position %d is "
                                    "not in the KV cache", q0, q1, j);
    }
    const int n_q = q1 - q0;
    if (n_rows < 0 || n_rows > n_q)
        return um_set_error(UM_ERR_ARG, "forward: %d logit rows requested for %d tokens", n_rows,
                            n_q);
    for (int i = q0; i < q1; i++)
        if (tokens[i] < 0 || tokens[i] >= in->n_vocab)
            return um_set_error(UM_ERR_ARG, "forward: token %d at position %d is outside the "
                                "vocabulary [0, %d)", tokens[i], i, in->n_vocab);
    for (int r = 0; r < n_rows; r++)
        if (rows[r] < q0 || rows[r] >= q1)
            return um_set_error(UM_ERR_ARG, "forward: logit row %d is outside [%d, %d)", rows[r],
                                q0, q1);

    const int64_t T = n_q, D = in->n_embd, F = in->n_ff;
    const int H = in->n_head, Hkv = in->n_head_kv, Dh = in->head_dim;
    const int64_t KD = (int64_t)Hkv * Dh;
    const enum um_precision prec = m->precision;
    int bs;
    const int kind = model_mask(in, &bs);
    const int32_t *pos = c->pos + q0;

    c->n_forwards++;
    embed_rows(&m->embed, tokens + q0, n_q, c->x);
    for (int l = 0; l < in->n_layer; l++) {
        const struct um_layer *ly = &m->layers[l];
        float *kl = c->k, *vl = c->v;
        if (c->cache) {
            kl += (int64_t)l * c->max_tokens * KD;
            vl += (int64_t)l * c->max_tokens * KD;
        }
        float *kw = kl + (int64_t)q0 * KD, *vw = vl + (int64_t)q0 * KD;
        um_rmsnorm(c->h, c->x, ly->attn_norm, T, D, in->norm_eps);
        um_matmul(&ly->wq, c->h, T, c->q, ly->bq, prec);
        um_matmul(&ly->wk, c->h, T, kw, ly->bk, prec);
        um_matmul(&ly->wv, c->h, T, vw, ly->bv, prec);
        if (ly->q_norm) um_rmsnorm(c->q, c->q, ly->q_norm, T * H, Dh, in->norm_eps);
        if (ly->k_norm) um_rmsnorm(kw, kw, ly->k_norm, T * Hkv, Dh, in->norm_eps);
        um_rope(c->q, T, H, Dh, pos, c->rope_cos, c->rope_sin);
        um_rope(kw, T, Hkv, Dh, pos, c->rope_cos, c->rope_sin);
        um_flash_fwd(c->ao, NULL, c->q, kl, vl, 1, T, q0, n_keys, H, Hkv, Dh, kind, bs,
                     c->scores);
        um_matmul(&ly->wo, c->ao, T, c->tmp, NULL, prec);
        um_add(c->x, c->tmp, T * D);
        um_rmsnorm(c->h, c->x, ly->ffn_norm, T, D, in->norm_eps);
        um_matmul(&ly->w_gate, c->h, T, c->g, NULL, prec);
        um_matmul(&ly->w_up, c->h, T, c->u, NULL, prec);
        um_swiglu(c->g, c->g, c->u, T * F);
        um_matmul(&ly->w_down, c->g, T, c->tmp, NULL, prec);
        um_add(c->x, c->tmp, T * D);
    }
    if (c->cache) memset(c->kv_ok + q0, 1, (size_t)n_q);
    if (n_rows == 0) return UM_OK;
    /* gather the requested rows, final norm, LM head */
    for (int r = 0; r < n_rows; r++)
        memcpy(c->h + (int64_t)r * D, c->x + (int64_t)(rows[r] - q0) * D,
               (size_t)D * sizeof(float));
    um_rmsnorm(c->h, c->h, m->final_norm, n_rows, D, in->norm_eps);
    um_matmul(&m->head, c->h, n_rows, logits, NULL, prec);
    return UM_OK;
}

enum um_status um_forward(um_ctx *c, const int32_t *tokens, int n_tokens, const int32_t *rows,
                          int n_rows, float *logits) {
    if (n_tokens < 1 || n_tokens > c->max_tokens)
        return um_set_error(UM_ERR_ARG, "forward of %d tokens: the context holds 1..%d",
                            n_tokens, c->max_tokens);
    return um_forward_window(c, tokens, 0, n_tokens, n_tokens, rows, n_rows, logits);
}

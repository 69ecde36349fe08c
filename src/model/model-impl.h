/*
 * model-impl.h: private structures of the model module (config, weights, context).
 *
 * Invariants of a loaded um_model:
 * - every matrix points into the read-only safetensors mapping and has the shape the config
 *   implies (checked at load); 1-D weights (norms, biases) are widened to fp32 copies owned here;
 * - info.n_head % info.n_head_kv == 0, head_dim is even, all sizes are positive.
 */
#ifndef UM_MODEL_IMPL_H
#define UM_MODEL_IMPL_H

#include "unmask.h"

#include "io/safetensors.h"
#include "kernels/kernels.h"

struct um_layer {
    um_wmat wq, wk, wv, wo;    /* [H*Dh][D], [Hkv*Dh][D] x2, [D][H*Dh] */
    um_wmat w_gate, w_up;      /* [F][D] */
    um_wmat w_down;            /* [D][F] */
    float *attn_norm, *ffn_norm; /* [D] */
    float *bq, *bk, *bv;       /* [H*Dh], [Hkv*Dh] x2, or NULL */
    float *q_norm, *k_norm;    /* [Dh] each (qk_norm models: Qwen3/SDAR), or NULL */
};

struct um_model {
    struct um_model_info info;
    enum um_precision precision;
    char *dir;
    um_st_set *st;
    um_tokenizer *tok;         /* NULL if none */
    um_wmat embed;             /* [V][D] */
    um_wmat head;              /* [V][D]; equals embed when tied */
    float *final_norm;         /* [D] */
    struct um_layer *layers;   /* [L] */
    float *f32_pool;           /* owns all widened 1-D weights */
};

struct um_ctx {
    const um_model *model;
    int max_tokens;            /* T_max */
    float *x;                  /* [T_max][D] residual stream (window rows) */
    float *h;                  /* [T_max][D] normed input */
    float *q;                  /* [T_max][H*Dh] */
    float *k, *v;              /* no cache: [T_max][Hkv*Dh] for the layer being computed;
                                  cache: [L][T_max][Hkv*Dh], post-RoPE K and V per position */
    float *ao;                 /* [T_max][H*Dh] attention output */
    float *g, *u;              /* [T_max][F] */
    float *tmp;                /* [T_max][D] projection output */
    float *scores;             /* flash attention scratch */
    float *rope_cos, *rope_sin; /* [T_max][Dh/2] */
    int32_t *pos;              /* [T_max] = 0..T_max-1 */
    bool cache;                /* per-layer K/V kept across calls (um_ctx_enable_cache) */
    uint8_t *kv_ok;            /* cache: [T_max] 1 where K/V hold a computed position */
    int64_t n_forwards;        /* forward calls since init (statistics) */
};

/* config.c: parse DIR/config.json into info (family-specific field names). */
enum um_status um_config_load(const char *dir, struct um_model_info *info);

#endif

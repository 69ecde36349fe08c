/*
 * tmodel.c: the trainable transformer (tmodel.h) — fp32 master weights and gradients in two
 * contiguous arrays, a forward that keeps every activation the backward needs, the backward
 * (gradients accumulated), and saving as a Hugging Face folder.
 *
 * Math (identical to the inference forward, model/forward.c, except that attention takes a
 * mask and RoPE takes the caller's positions):
 *   x_0 = E[tokens]
 *   per layer l:  h1 = rmsnorm(x_l; r1) ;  q,k,v = h1 Wq,Wk,Wv (+b) ;  q,k = rope(q,k; pos)
 *                 ao = attn(q,k,v; mask, keeps lse) ;  xm = x_l + ao Wo^T
 *                 h2 = rmsnorm(xm; r2) ;  g = h2 Wg^T, u = h2 Wu^T, a = silu(g) u
 *                 x_{l+1} = xm + a Wd^T
 *   on the R rows with weight != 0 (gathered):  hf = rmsnorm(x_L[rows]) ;  z = hf Whead^T
 *   loss = sum_rows w CE(z, target) / norm
 * The backward runs the chain in reverse (ops_bwd.h for each op; weight gradients are GEMMs
 * dW += dY^T X through um_sgemm). Attention is flash attention (kernels/flash_attn.h): the
 * forward keeps only the row log-sum-exp, the backward recomputes the probabilities tile by
 * tile, so no T x T matrix exists and memory grows linearly in T. The head and the loss run
 * over chunks of rows so that the logits buffer is at most HEAD_CHUNK_FLOATS floats whatever
 * V is.
 *
 * Attention masks (ops_bwd.h): block(i) = i / block_size with i the index within the sequence
 * (for BD3, within its half), not the RoPE position; positions only feed RoPE and must lie in
 * [0, max_seq) (the table is built for max_seq positions).
 * Errors: invalid arguments are UM_ERR_ARG naming the batch element; a non-finite loss is
 * UM_ERR_ARG "non-finite loss ..." naming the first tensor holding a non-finite weight (the
 * gradients are then unspecified); um_tmodel_check_finite (tmodel-impl.h) scans weights and
 * gradients for the trainer.
 *
 * Memory (all at init, for N = B_max*T_max rows): per layer x_l, h1, xm, h2 [N][D], r1, r2
 * [N], q, ao [N][H*Dh], k, v [N][Hkv*Dh], g, u, a [N][F], lse [B_max][H][T_max]; one set
 * of backward scratch; the attention kernels' scratch (sized for the thread count at init);
 * the logits chunk. um_tmodel_step allocates nothing.
 */
#include "train/tmodel-impl.h"

#include "base/base.h"
#include "io/safetensors.h"
#include "kernels/flash_attn.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/ops_bwd.h"
#include "model/model-impl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define HEAD_CHUNK_FLOATS (1 << 24) /* logits chunk: rows * V <= this (64 MiB) */

/* Offsets of one layer's tensors in the weight/gradient arrays (-1: absent bias). */
struct tm_layer {
    int64_t attn_norm, wq, bq, wk, bk, wv, bv, wo, ffn_norm, gate, up, down;
};

/* Saved activations of one layer (pointers into tm->act). */
struct tm_act {
    float *x;        /* [N][D] layer input */
    float *h1;       /* [N][D] attn_norm(x) */
    float *r1;       /* [N] */
    float *q;        /* [N][H*Dh] after RoPE */
    float *k, *v;    /* [N][Hkv*Dh] (k after RoPE) */
    float *lse;      /* [B][H][T] attention row log-sum-exp (layout of the current call) */
    float *ao;       /* [N][H*Dh] attention output */
    float *xm;       /* [N][D] x + attention */
    float *h2;       /* [N][D] ffn_norm(xm) */
    float *r2;       /* [N] */
    float *g, *u, *a; /* [N][F] gate, up, silu(g) u */
};

/* Invariants: tensors[] tile [0, n_params) in order; layer offsets point into it; every
 * buffer is sized for N_max = max_batch * max_seq rows and T <= max_seq. */
struct um_tmodel {
    struct um_model_info info;
    int max_batch, max_seq;
    int64_t max_rows;              /* N_max */
    int n_tensors;
    struct um_tparam *tensors;
    int64_t n_params;
    float *w, *gr;                 /* [n_params] weights, gradients */
    int64_t embed, head, final_norm; /* offsets; head == embed when tied */
    struct tm_layer *ly;           /* [L] */

    float *act;                    /* one allocation for every saved activation */
    struct tm_act *la;             /* [L] */
    float *x_final;                /* [N][D] x_L */
    float *rope_cos, *rope_sin;    /* [T_max][Dh/2] */
    /* head / loss */
    int32_t *rows, *rtarget;       /* [N] selected rows and their targets */
    float *rweight;                /* [N] */
    float *xf, *hf, *rf;           /* [N][D], [N][D], [N] gathered x_L rows, normed, rms */
    int64_t chunk;                 /* rows per logits chunk (<= chunk_cap) */
    int64_t chunk_cap;             /* rows the logits buffer holds */
    float *logits;                 /* [chunk][V] */
    /* backward scratch */
    float *dx, *dh, *dhf;          /* [N][D] */
    float *dq, *dao;               /* [N][H*Dh] */
    float *dk, *dv;                /* [N][Hkv*Dh] */
    float *dg, *du, *da;           /* [N][F] */
    float *attn_scratch;           /* [attn_scratch_n] flash attention fwd/bwd scratch */
    int64_t attn_scratch_n;
    int attn_threads;              /* um_get_threads() the scratch was sized for */
};

/* ------------------------------------------------------------------------------------------
 * Tensor table */

static int64_t add_tensor(um_tmodel *tm, const char *name, enum um_param_kind kind, int64_t rows,
                          int64_t cols) {
    struct um_tparam *t = &tm->tensors[tm->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->kind = kind;
    t->n_dims = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 1;
    t->offset = tm->n_params;
    tm->n_params += rows * t->shape[1];
    return t->offset;
}

/* Fill the table in the Hugging Face order of the family (names as model/model.c loads). */
static void build_table(um_tmodel *tm) {
    const struct um_model_info *in = &tm->info;
    const bool llada = in->family == UM_FAMILY_LLADA;
    const int64_t D = in->n_embd, V = in->n_vocab, F = in->n_ff;
    const int64_t QD = (int64_t)in->n_head * in->head_dim;
    const int64_t KD = (int64_t)in->n_head_kv * in->head_dim;
    char name[96];
    tm->n_tensors = 0;
    tm->n_params = 0;
    tm->embed = add_tensor(tm, llada ? "model.transformer.wte.weight" : "model.embed_tokens.weight",
                           UM_PARAM_EMBED, V, D);
    for (int i = 0; i < in->n_layer; i++) {
        struct tm_layer *l = &tm->ly[i];
#define LNAME(a, b)                                                                            \
    (llada ? snprintf(name, sizeof name, "model.transformer.blocks.%d.%s", i, a)               \
           : snprintf(name, sizeof name, "model.layers.%d.%s", i, b),                          \
     name)
        l->attn_norm = add_tensor(tm, LNAME("attn_norm.weight", "input_layernorm.weight"),
                                  UM_PARAM_VECTOR, D, 0);
        l->bq = l->bk = l->bv = -1;
        l->wq = add_tensor(tm, LNAME("q_proj.weight", "self_attn.q_proj.weight"),
                           UM_PARAM_MATRIX, QD, D);
        if (in->qkv_bias)
            l->bq = add_tensor(tm, LNAME("q_proj.bias", "self_attn.q_proj.bias"),
                               UM_PARAM_VECTOR, QD, 0);
        l->wk = add_tensor(tm, LNAME("k_proj.weight", "self_attn.k_proj.weight"),
                           UM_PARAM_MATRIX, KD, D);
        if (in->qkv_bias)
            l->bk = add_tensor(tm, LNAME("k_proj.bias", "self_attn.k_proj.bias"),
                               UM_PARAM_VECTOR, KD, 0);
        l->wv = add_tensor(tm, LNAME("v_proj.weight", "self_attn.v_proj.weight"),
                           UM_PARAM_MATRIX, KD, D);
        if (in->qkv_bias)
            l->bv = add_tensor(tm, LNAME("v_proj.bias", "self_attn.v_proj.bias"),
                               UM_PARAM_VECTOR, KD, 0);
        l->wo = add_tensor(tm, LNAME("attn_out.weight", "self_attn.o_proj.weight"),
                           UM_PARAM_MATRIX, D, QD);
        l->ffn_norm = add_tensor(tm, LNAME("ff_norm.weight", "post_attention_layernorm.weight"),
                                 UM_PARAM_VECTOR, D, 0);
        l->gate = add_tensor(tm, LNAME("ff_proj.weight", "mlp.gate_proj.weight"),
                             UM_PARAM_MATRIX, F, D);
        l->up = add_tensor(tm, LNAME("up_proj.weight", "mlp.up_proj.weight"), UM_PARAM_MATRIX,
                           F, D);
        l->down = add_tensor(tm, LNAME("ff_out.weight", "mlp.down_proj.weight"),
                             UM_PARAM_MATRIX, D, F);
#undef LNAME
    }
    tm->final_norm = add_tensor(tm, llada ? "model.transformer.ln_f.weight" : "model.norm.weight",
                                UM_PARAM_VECTOR, D, 0);
    tm->head = in->tied_embeddings
                   ? tm->embed
                   : add_tensor(tm, llada ? "model.transformer.ff_out.weight" : "lm_head.weight",
                                UM_PARAM_HEAD, V, D);
}

/* ------------------------------------------------------------------------------------------
 * Lifetime */

static enum um_status check_info(const struct um_model_info *in, int max_batch, int max_seq) {
    if (in->n_vocab < 1 || in->n_embd < 1 || in->n_layer < 1 || in->n_head < 1 ||
        in->n_head_kv < 1 || in->head_dim < 2 || in->n_ff < 1)
        return um_set_error(UM_ERR_ARG, "tmodel: sizes must be positive (V %d, D %d, L %d, H %d, "
                            "Hkv %d, Dh %d, F %d)", in->n_vocab, in->n_embd, in->n_layer,
                            in->n_head, in->n_head_kv, in->head_dim, in->n_ff);
    if (in->n_head % in->n_head_kv != 0)
        return um_set_error(UM_ERR_ARG, "tmodel: n_head_kv (%d) does not divide n_head (%d)",
                            in->n_head_kv, in->n_head);
    if (in->head_dim % 2 != 0)
        return um_set_error(UM_ERR_ARG, "tmodel: head_dim %d is odd; RoPE needs pairs",
                            in->head_dim);
    if (!(in->norm_eps >= 0.0f) || !(in->rope_theta >= 1.0f) || !isfinite(in->rope_theta))
        return um_set_error(UM_ERR_ARG, "tmodel: norm_eps %g or rope_theta %g out of range",
                            (double)in->norm_eps, (double)in->rope_theta);
    switch (in->family) {
    case UM_FAMILY_LLADA:
        if ((int64_t)in->n_head * in->head_dim != in->n_embd)
            return um_set_error(UM_ERR_ARG, "tmodel: LLaDA needs n_embd (%d) = n_head (%d) * "
                                "head_dim (%d)", in->n_embd, in->n_head, in->head_dim);
        break;
    case UM_FAMILY_DREAM:
    case UM_FAMILY_QWEN2:
        if (!in->qkv_bias)
            return um_set_error(UM_ERR_ARG, "tmodel: %s has q/k/v biases; set qkv_bias",
                                um_family_str(in->family));
        break;
    case UM_FAMILY_LLAMA:
        if (in->qkv_bias)
            return um_set_error(UM_ERR_ARG, "tmodel: llama with q/k/v biases is not supported");
        break;
    default:
        return um_set_error(UM_ERR_ARG, "tmodel: unknown family %d", (int)in->family);
    }
    if (max_batch < 1 || max_seq < 1 || (int64_t)max_batch * max_seq > (1 << 24))
        return um_set_error(UM_ERR_ARG, "tmodel: max_batch %d x max_seq %d: each must be >= 1 "
                            "and the product <= 2^24", max_batch, max_seq);
    return UM_OK;
}

static enum um_status tm_alloc(const struct um_model_info *info, int max_batch, int max_seq,
                               um_tmodel **out) {
    enum um_status st = check_info(info, max_batch, max_seq);
    if (st != UM_OK) return st;
    um_tmodel *tm = calloc(1, sizeof *tm);
    if (!tm) return um_set_error(UM_ERR_NOMEM, "out of memory");
    tm->info = *info;
    tm->info.dtype = UM_DTYPE_F32;
    if (tm->info.max_positions < max_seq) tm->info.max_positions = max_seq;
    tm->max_batch = max_batch;
    tm->max_seq = max_seq;
    const struct um_model_info *in = &tm->info;
    const int64_t N = (int64_t)max_batch * max_seq, L = in->n_layer;
    const int64_t D = in->n_embd, V = in->n_vocab, F = in->n_ff;
    const int64_t QD = (int64_t)in->n_head * in->head_dim;
    const int64_t KD = (int64_t)in->n_head_kv * in->head_dim;
    const int64_t LS = (int64_t)max_batch * in->n_head * max_seq; /* lse per layer */
    const size_t sf = um_flash_scratch_floats(max_seq, max_seq, in->n_head, in->n_head_kv,
                                              in->head_dim);
    const size_t sb = um_flash_bwd_scratch_floats(max_seq, in->n_head, in->n_head_kv,
                                                  in->head_dim);
    tm->attn_scratch_n = (int64_t)(sf > sb ? sf : sb);
    tm->attn_threads = um_get_threads();
    tm->max_rows = N;
    tm->tensors = calloc((size_t)(3 + 12 * L), sizeof *tm->tensors);
    tm->ly = calloc((size_t)L, sizeof *tm->ly);
    tm->la = calloc((size_t)L, sizeof *tm->la);
    if (!tm->tensors || !tm->ly || !tm->la) goto nomem;
    build_table(tm);
    tm->info.n_params = tm->n_params;
    tm->w = calloc((size_t)tm->n_params, sizeof(float));
    tm->gr = calloc((size_t)tm->n_params, sizeof(float));

    const int64_t per_layer = 4 * N * D + 2 * N + 2 * N * QD + 2 * N * KD + 3 * N * F + LS;
    tm->chunk = HEAD_CHUNK_FLOATS / V;
    if (tm->chunk < 1) tm->chunk = 1;
    if (tm->chunk > N) tm->chunk = N;
    const int64_t half = in->head_dim / 2;
    const int64_t n_act = L * per_layer + N * D /* x_final */ + 2 * max_seq * half +
                          2 * N * D + N /* xf hf rf */ + N /* rweight */ + tm->chunk * V +
                          3 * N * D + 2 * N * QD + 2 * N * KD + 3 * N * F +
                          tm->attn_scratch_n;
    tm->act = malloc((size_t)n_act * sizeof(float));
    tm->rows = malloc((size_t)N * sizeof(int32_t));
    tm->rtarget = malloc((size_t)N * sizeof(int32_t));
    if (!tm->w || !tm->gr || !tm->act || !tm->rows || !tm->rtarget) goto nomem;
    float *p = tm->act;
#define TAKE(n) (p += (n), p - (n))
    for (int64_t l = 0; l < L; l++) {
        struct tm_act *a = &tm->la[l];
        a->x = TAKE(N * D);
        a->h1 = TAKE(N * D);
        a->r1 = TAKE(N);
        a->q = TAKE(N * QD);
        a->k = TAKE(N * KD);
        a->v = TAKE(N * KD);
        a->lse = TAKE(LS);
        a->ao = TAKE(N * QD);
        a->xm = TAKE(N * D);
        a->h2 = TAKE(N * D);
        a->r2 = TAKE(N);
        a->g = TAKE(N * F);
        a->u = TAKE(N * F);
        a->a = TAKE(N * F);
    }
    tm->x_final = TAKE(N * D);
    tm->rope_cos = TAKE(max_seq * half);
    tm->rope_sin = TAKE(max_seq * half);
    tm->xf = TAKE(N * D);
    tm->hf = TAKE(N * D);
    tm->rf = TAKE(N);
    tm->rweight = TAKE(N);
    tm->logits = TAKE(tm->chunk * V);
    tm->chunk_cap = tm->chunk;
    tm->dx = TAKE(N * D);
    tm->dh = TAKE(N * D);
    tm->dhf = TAKE(N * D);
    tm->dq = TAKE(N * QD);
    tm->dao = TAKE(N * QD);
    tm->dk = TAKE(N * KD);
    tm->dv = TAKE(N * KD);
    tm->dg = TAKE(N * F);
    tm->du = TAKE(N * F);
    tm->da = TAKE(N * F);
    tm->attn_scratch = TAKE(tm->attn_scratch_n);
#undef TAKE
    if (p != tm->act + n_act) {
        um_tmodel_free(tm);
        return um_set_error(UM_ERR_ARG, "tmodel: internal: activation layout mismatch");
    }
    um_rope_tables(tm->rope_cos, tm->rope_sin, max_seq, in->head_dim, in->rope_theta);
    *out = tm;
    return UM_OK;
nomem:
    um_tmodel_free(tm);
    return um_set_error(UM_ERR_NOMEM, "tmodel: out of memory for %d x %d tokens (%d layers, "
                        "D %d)", max_batch, max_seq, in->n_layer, in->n_embd);
}

enum um_status um_tmodel_init(const struct um_model_info *info, int max_batch, int max_seq,
                              uint64_t seed, float init_std, um_tmodel **out) {
    if (!info || !out) return um_set_error(UM_ERR_ARG, "um_tmodel_init: NULL argument");
    if (!(init_std >= 0.0f) || !isfinite(init_std))
        return um_set_error(UM_ERR_ARG, "um_tmodel_init: init_std %g must be finite and >= 0",
                            (double)init_std);
    um_tmodel *tm = NULL;
    enum um_status st = tm_alloc(info, max_batch, max_seq, &tm);
    if (st != UM_OK) return st;
    um_rng rng;
    um_rng_seed(&rng, seed, 0);
    for (int i = 0; i < tm->n_tensors; i++) {
        const struct um_tparam *t = &tm->tensors[i];
        float *w = tm->w + t->offset;
        const int64_t n = t->shape[0] * t->shape[1];
        if (t->n_dims == 1) {
            /* norm gains 1, biases 0 */
            const float v = strstr(t->name, ".bias") ? 0.0f : 1.0f;
            for (int64_t j = 0; j < n; j++) w[j] = v;
            continue;
        }
        for (int64_t j = 0; j < n; j += 2) { /* Box-Muller, two normals per pair of uniforms */
            const double u1 = um_rng_uniform(&rng), u2 = um_rng_uniform(&rng);
            const double rad = sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
            w[j] = (float)(init_std * rad * cos(th));
            if (j + 1 < n) w[j + 1] = (float)(init_std * rad * sin(th));
        }
    }
    *out = tm;
    return UM_OK;
}

static void widen(float *dst, const void *src, enum um_dtype dt, int64_t n) {
    switch (dt) {
    case UM_DTYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case UM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = um_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    case UM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = um_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    }
}

static void widen_mat(float *dst, const um_wmat *m) {
    widen(dst, m->data, m->dtype, m->n * m->k);
}

enum um_status um_tmodel_from_model(const um_model *m, int max_batch, int max_seq,
                                    um_tmodel **out) {
    if (!m || !out) return um_set_error(UM_ERR_ARG, "um_tmodel_from_model: NULL argument");
    um_tmodel *tm = NULL;
    enum um_status st = tm_alloc(&m->info, max_batch, max_seq, &tm);
    if (st != UM_OK) return st;
    const struct um_model_info *in = &tm->info;
    const int64_t D = in->n_embd;
    const int64_t QD = (int64_t)in->n_head * in->head_dim;
    const int64_t KD = (int64_t)in->n_head_kv * in->head_dim;
    widen_mat(tm->w + tm->embed, &m->embed);
    if (!in->tied_embeddings) widen_mat(tm->w + tm->head, &m->head);
    memcpy(tm->w + tm->final_norm, m->final_norm, (size_t)D * sizeof(float));
    for (int i = 0; i < in->n_layer; i++) {
        const struct um_layer *s = &m->layers[i];
        const struct tm_layer *l = &tm->ly[i];
        memcpy(tm->w + l->attn_norm, s->attn_norm, (size_t)D * sizeof(float));
        memcpy(tm->w + l->ffn_norm, s->ffn_norm, (size_t)D * sizeof(float));
        widen_mat(tm->w + l->wq, &s->wq);
        widen_mat(tm->w + l->wk, &s->wk);
        widen_mat(tm->w + l->wv, &s->wv);
        widen_mat(tm->w + l->wo, &s->wo);
        widen_mat(tm->w + l->gate, &s->w_gate);
        widen_mat(tm->w + l->up, &s->w_up);
        widen_mat(tm->w + l->down, &s->w_down);
        if (in->qkv_bias) {
            memcpy(tm->w + l->bq, s->bq, (size_t)QD * sizeof(float));
            memcpy(tm->w + l->bk, s->bk, (size_t)KD * sizeof(float));
            memcpy(tm->w + l->bv, s->bv, (size_t)KD * sizeof(float));
        }
    }
    *out = tm;
    return UM_OK;
}

void um_tmodel_free(um_tmodel *tm) {
    if (!tm) return;
    free(tm->tensors);
    free(tm->ly);
    free(tm->la);
    free(tm->w);
    free(tm->gr);
    free(tm->act);
    free(tm->rows);
    free(tm->rtarget);
    free(tm);
}

const struct um_model_info *um_tmodel_info(const um_tmodel *tm) { return &tm->info; }
int um_tmodel_n_tensors(const um_tmodel *tm) { return tm->n_tensors; }
const struct um_tparam *um_tmodel_tensor(const um_tmodel *tm, int i) {
    return (i >= 0 && i < tm->n_tensors) ? &tm->tensors[i] : NULL;
}
int64_t um_tmodel_n_params(const um_tmodel *tm) { return tm->n_params; }
float *um_tmodel_weights(um_tmodel *tm) { return tm->w; }
float *um_tmodel_grads(um_tmodel *tm) { return tm->gr; }
void um_tmodel_zero_grads(um_tmodel *tm) {
    memset(tm->gr, 0, (size_t)tm->n_params * sizeof(float));
}

int um_tmodel_find(const um_tmodel *tm, const char *name) {
    for (int i = 0; i < tm->n_tensors; i++)
        if (!strcmp(tm->tensors[i].name, name)) return i;
    return -1;
}

void um_tmodel_set_head_chunk(um_tmodel *tm, int64_t rows) {
    tm->chunk = rows < 1 ? 1 : rows > tm->chunk_cap ? tm->chunk_cap : rows;
}

static int first_nonfinite(const um_tmodel *tm, const float *a) {
    for (int i = 0; i < tm->n_tensors; i++) {
        const struct um_tparam *t = &tm->tensors[i];
        const float *x = a + t->offset;
        const int64_t n = t->shape[0] * t->shape[1];
        int bad = 0;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) reduction(| : bad) \
    if (n > 65536)
        for (int64_t j = 0; j < n; j++) bad |= !isfinite(x[j]);
        if (bad) return i;
    }
    return -1;
}

enum um_status um_tmodel_check_finite(const um_tmodel *tm, const char **bad_tensor) {
    int i = first_nonfinite(tm, tm->w);
    const char *what = "weight";
    if (i < 0) {
        i = first_nonfinite(tm, tm->gr);
        what = "gradient";
    }
    if (i < 0) return UM_OK;
    if (bad_tensor) *bad_tensor = tm->tensors[i].name;
    return um_set_error(UM_ERR_ARG, "non-finite %s in tensor %s", what, tm->tensors[i].name);
}

/* ------------------------------------------------------------------------------------------
 * Forward and backward */

static um_wmat wmat(const float *w, int64_t n, int64_t k) {
    um_wmat m = {UM_DTYPE_F32, w, n, k};
    return m;
}

static enum um_status check_batch(const um_tmodel *tm, const int32_t *tokens, const int32_t *pos,
                                  int B, int T, const struct um_attn_spec *attn) {
    if (!tokens || !pos || !attn) return um_set_error(UM_ERR_ARG, "tmodel step: NULL argument");
    if (B < 1 || T < 1 || T > tm->max_seq || (int64_t)B * T > tm->max_rows)
        return um_set_error(UM_ERR_ARG, "tmodel step: batch %d x %d tokens does not fit the "
                            "model's buffers (T <= %d and B*T <= %lld)", B, T, tm->max_seq,
                            (long long)tm->max_rows);
    if (um_get_threads() > tm->attn_threads)
        return um_set_error(UM_ERR_ARG, "tmodel step: %d threads, but the attention scratch was "
                            "sized for %d at init (call um_set_threads before um_tmodel_init)",
                            um_get_threads(), tm->attn_threads);
    if (attn->kind < UM_ATTN_FULL || attn->kind > UM_ATTN_BD3)
        return um_set_error(UM_ERR_ARG, "tmodel step: unknown attention kind %d", (int)attn->kind);
    if ((attn->kind == UM_ATTN_BLOCK_CAUSAL || attn->kind == UM_ATTN_BD3) && attn->block_size < 1)
        return um_set_error(UM_ERR_ARG, "tmodel step: block_size %d must be >= 1",
                            attn->block_size);
    if (attn->kind == UM_ATTN_BD3 && T % 2 != 0)
        return um_set_error(UM_ERR_ARG, "tmodel step: BD3 attention needs T = 2L (even), got "
                            "%d", T);
    const int64_t N = (int64_t)B * T;
    for (int64_t i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= tm->info.n_vocab)
            return um_set_error(UM_ERR_ARG, "tmodel step: token %d at [%lld][%lld] is outside "
                                "the vocabulary [0, %d)", tokens[i], (long long)(i / T),
                                (long long)(i % T), tm->info.n_vocab);
        if (pos[i] < 0 || pos[i] >= tm->max_seq)
            return um_set_error(UM_ERR_ARG, "tmodel step: position %d at [%lld][%lld] is "
                                "outside [0, %d) (the RoPE table of max_seq)", pos[i],
                                (long long)(i / T), (long long)(i % T), tm->max_seq);
    }
    return UM_OK;
}

/* Forward through the layers: fills la[] and x_final for N = B*T rows. */
static void forward_layers(um_tmodel *tm, const int32_t *tokens, const int32_t *pos, int B,
                           int T, const struct um_attn_spec *attn) {
    const struct um_model_info *in = &tm->info;
    const int64_t N = (int64_t)B * T, D = in->n_embd, F = in->n_ff;
    const int H = in->n_head, Hkv = in->n_head_kv, Dh = in->head_dim;
    const int64_t QD = (int64_t)H * Dh, KD = (int64_t)Hkv * Dh;
    const int bs = attn->block_size > 0 ? attn->block_size : 1;
    const float *E = tm->w + tm->embed;
    float *x0 = tm->la[0].x;
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t i = 0; i < N; i++)
        memcpy(x0 + i * D, E + (int64_t)tokens[i] * D, (size_t)D * sizeof(float));
    for (int l = 0; l < in->n_layer; l++) {
        const struct tm_layer *ly = &tm->ly[l];
        struct tm_act *a = &tm->la[l];
        const float *w = tm->w;
        float *xnext = l + 1 < in->n_layer ? tm->la[l + 1].x : tm->x_final;
        um_rmsnorm_fwd(a->h1, a->r1, a->x, w + ly->attn_norm, N, D, in->norm_eps);
        um_wmat wq = wmat(w + ly->wq, QD, D), wk = wmat(w + ly->wk, KD, D),
                wv = wmat(w + ly->wv, KD, D), wo = wmat(w + ly->wo, D, QD);
        um_matmul(&wq, a->h1, N, a->q, ly->bq >= 0 ? w + ly->bq : NULL, UM_PRECISION_FP32);
        um_matmul(&wk, a->h1, N, a->k, ly->bk >= 0 ? w + ly->bk : NULL, UM_PRECISION_FP32);
        um_matmul(&wv, a->h1, N, a->v, ly->bv >= 0 ? w + ly->bv : NULL, UM_PRECISION_FP32);
        um_rope(a->q, N, H, Dh, pos, tm->rope_cos, tm->rope_sin);
        um_rope(a->k, N, Hkv, Dh, pos, tm->rope_cos, tm->rope_sin);
        um_flash_fwd(a->ao, a->lse, a->q, a->k, a->v, B, T, 0, T, H, Hkv, Dh, (int)attn->kind,
                     bs, tm->attn_scratch);
        um_matmul(&wo, a->ao, N, a->xm, NULL, UM_PRECISION_FP32);
        um_add(a->xm, a->x, N * D);
        um_rmsnorm_fwd(a->h2, a->r2, a->xm, w + ly->ffn_norm, N, D, in->norm_eps);
        um_wmat wg = wmat(w + ly->gate, F, D), wu = wmat(w + ly->up, F, D),
                wd = wmat(w + ly->down, D, F);
        um_matmul(&wg, a->h2, N, a->g, NULL, UM_PRECISION_FP32);
        um_matmul(&wu, a->h2, N, a->u, NULL, UM_PRECISION_FP32);
        um_swiglu(a->a, a->g, a->u, N * F);
        um_matmul(&wd, a->a, N, xnext, NULL, UM_PRECISION_FP32);
        um_add(xnext, a->xm, N * D);
    }
}

/* Backward through the layers from dx = dL/dx_L (tm->dx, [N][D]); accumulates every weight
 * gradient, the embedding's last. */
static void backward_layers(um_tmodel *tm, const int32_t *tokens, const int32_t *pos, int B,
                            int T, const struct um_attn_spec *attn) {
    const int bs = attn->block_size > 0 ? attn->block_size : 1;
    const struct um_model_info *in = &tm->info;
    const int64_t N = (int64_t)B * T, D = in->n_embd, F = in->n_ff;
    const int H = in->n_head, Hkv = in->n_head_kv, Dh = in->head_dim;
    const int64_t QD = (int64_t)H * Dh, KD = (int64_t)Hkv * Dh;
    const float *w = tm->w;
    float *gr = tm->gr, *dx = tm->dx, *dh = tm->dh;
    for (int l = in->n_layer - 1; l >= 0; l--) {
        const struct tm_layer *ly = &tm->ly[l];
        const struct tm_act *a = &tm->la[l];
        /* x_{l+1} = xm + a Wd^T */
        um_sgemm(false, false, N, F, D, 1.0f, dx, D, w + ly->down, F, 0.0f, tm->da, F);
        um_sgemm(true, false, D, F, N, 1.0f, dx, D, a->a, F, 1.0f, gr + ly->down, F);
        um_swiglu_bwd(tm->dg, tm->du, tm->da, a->g, a->u, N * F);
        um_sgemm(true, false, F, D, N, 1.0f, tm->dg, F, a->h2, D, 1.0f, gr + ly->gate, D);
        um_sgemm(true, false, F, D, N, 1.0f, tm->du, F, a->h2, D, 1.0f, gr + ly->up, D);
        um_sgemm(false, false, N, D, F, 1.0f, tm->dg, F, w + ly->gate, D, 0.0f, dh, D);
        um_sgemm(false, false, N, D, F, 1.0f, tm->du, F, w + ly->up, D, 1.0f, dh, D);
        um_rmsnorm_bwd(dx, gr + ly->ffn_norm, dh, a->xm, a->r2, w + ly->ffn_norm, N, D);
        /* xm = x + ao Wo^T */
        um_sgemm(false, false, N, QD, D, 1.0f, dx, D, w + ly->wo, QD, 0.0f, tm->dao, QD);
        um_sgemm(true, false, D, QD, N, 1.0f, dx, D, a->ao, QD, 1.0f, gr + ly->wo, QD);
        um_flash_bwd(tm->dq, tm->dk, tm->dv, tm->dao, a->ao, a->lse, a->q, a->k, a->v, B, T, H,
                     Hkv, Dh, (int)attn->kind, bs, tm->attn_scratch);
        um_rope_bwd(tm->dq, N, H, Dh, pos, tm->rope_cos, tm->rope_sin);
        um_rope_bwd(tm->dk, N, Hkv, Dh, pos, tm->rope_cos, tm->rope_sin);
        if (ly->bq >= 0) {
            um_colsum_acc(gr + ly->bq, tm->dq, N, QD);
            um_colsum_acc(gr + ly->bk, tm->dk, N, KD);
            um_colsum_acc(gr + ly->bv, tm->dv, N, KD);
        }
        um_sgemm(true, false, QD, D, N, 1.0f, tm->dq, QD, a->h1, D, 1.0f, gr + ly->wq, D);
        um_sgemm(true, false, KD, D, N, 1.0f, tm->dk, KD, a->h1, D, 1.0f, gr + ly->wk, D);
        um_sgemm(true, false, KD, D, N, 1.0f, tm->dv, KD, a->h1, D, 1.0f, gr + ly->wv, D);
        um_sgemm(false, false, N, D, QD, 1.0f, tm->dq, QD, w + ly->wq, D, 0.0f, dh, D);
        um_sgemm(false, false, N, D, KD, 1.0f, tm->dk, KD, w + ly->wk, D, 1.0f, dh, D);
        um_sgemm(false, false, N, D, KD, 1.0f, tm->dv, KD, w + ly->wv, D, 1.0f, dh, D);
        um_rmsnorm_bwd(dx, gr + ly->attn_norm, dh, a->x, a->r1, w + ly->attn_norm, N, D);
    }
    um_embed_bwd(gr + tm->embed, dx, tokens, N, D);
}

/* Final norm, head and loss over the R gathered rows (tm->rows/rtarget/rweight), chunked.
 * logits_out (if not NULL) receives raw logits [R][V]. With backward, accumulates the head and
 * final-norm gradients and writes dL/dx_L into tm->dx (zero on unselected rows). */
static double head_and_loss(um_tmodel *tm, int64_t N, int64_t R, double norm, bool backward,
                            float *logits_out) {
    const struct um_model_info *in = &tm->info;
    const int64_t D = in->n_embd, V = in->n_vocab;
    const float *W = tm->w + tm->head;
    const um_wmat wh = wmat(W, V, D);
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t r = 0; r < R; r++)
        memcpy(tm->xf + r * D, tm->x_final + (int64_t)tm->rows[r] * D, (size_t)D * sizeof(float));
    um_rmsnorm_fwd(tm->hf, tm->rf, tm->xf, tm->w + tm->final_norm, R, D, in->norm_eps);
    double total = 0.0;
    for (int64_t c0 = 0; c0 < R; c0 += tm->chunk) {
        const int64_t C = R - c0 < tm->chunk ? R - c0 : tm->chunk;
        const float *hc = tm->hf + c0 * D;
        um_matmul(&wh, hc, C, tm->logits, NULL, UM_PRECISION_FP32);
        if (logits_out)
            memcpy(logits_out + c0 * V, tm->logits, (size_t)(C * V) * sizeof(float));
        total += um_softmax_ce(tm->logits, tm->rtarget + c0, tm->rweight + c0, C, V, 1.0 / norm,
                               backward);
        if (!backward) continue;
        um_sgemm(true, false, V, D, C, 1.0f, tm->logits, V, hc, D, 1.0f, tm->gr + tm->head, D);
        um_sgemm(false, false, C, D, V, 1.0f, tm->logits, V, W, D, 0.0f, tm->dhf + c0 * D, D);
    }
    if (backward) {
        memset(tm->dx, 0, (size_t)(N * D) * sizeof(float));
        /* dxf (in tm->dh) from the final norm, then scattered to the selected rows */
        memset(tm->dh, 0, (size_t)(R * D) * sizeof(float));
        um_rmsnorm_bwd(tm->dh, tm->gr + tm->final_norm, tm->dhf, tm->xf, tm->rf,
                       tm->w + tm->final_norm, R, D);
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
        for (int64_t r = 0; r < R; r++)
            memcpy(tm->dx + (int64_t)tm->rows[r] * D, tm->dh + r * D, (size_t)D * sizeof(float));
    }
    return total;
}

static enum um_status nonfinite_loss(const um_tmodel *tm, double loss) {
    const char *bad = NULL;
    int i = first_nonfinite(tm, tm->w);
    if (i >= 0) bad = tm->tensors[i].name;
    if (bad)
        return um_set_error(UM_ERR_ARG, "non-finite loss (%g): non-finite weight in tensor %s",
                            loss, bad);
    return um_set_error(UM_ERR_ARG, "non-finite loss (%g) with finite weights (activations "
                        "overflowed)", loss);
}

enum um_status um_tmodel_step(um_tmodel *tm, const int32_t *tokens, const int32_t *pos,
                              const int32_t *targets, const float *weights, int B, int T,
                              const struct um_attn_spec *attn, double norm, bool backward,
                              double *loss) {
    if (!tm || !targets || !weights) return um_set_error(UM_ERR_ARG, "um_tmodel_step: NULL "
                                                         "argument");
    enum um_status st = check_batch(tm, tokens, pos, B, T, attn);
    if (st != UM_OK) return st;
    if (!(norm > 0.0) || !isfinite(norm))
        return um_set_error(UM_ERR_ARG, "tmodel step: norm %g must be finite and > 0", norm);
    const int64_t N = (int64_t)B * T;
    int64_t R = 0;
    for (int64_t i = 0; i < N; i++) {
        if (!isfinite(weights[i]))
            return um_set_error(UM_ERR_ARG, "tmodel step: weight at [%lld][%lld] is not finite",
                                (long long)(i / T), (long long)(i % T));
        if (weights[i] == 0.0f) continue;
        if (targets[i] < 0 || targets[i] >= tm->info.n_vocab)
            return um_set_error(UM_ERR_ARG, "tmodel step: target %d at [%lld][%lld] (weight %g) "
                                "is outside the vocabulary [0, %d)", targets[i],
                                (long long)(i / T), (long long)(i % T), (double)weights[i],
                                tm->info.n_vocab);
        tm->rows[R] = (int32_t)i;
        tm->rtarget[R] = targets[i];
        tm->rweight[R] = weights[i];
        R++;
    }
    forward_layers(tm, tokens, pos, B, T, attn);
    const double total = R > 0 ? head_and_loss(tm, N, R, norm, backward, NULL) : 0.0;
    const double l = total / norm;
    if (!isfinite(l)) return nonfinite_loss(tm, l);
    if (backward && R > 0) backward_layers(tm, tokens, pos, B, T, attn);
    if (loss) *loss = l;
    return UM_OK;
}

enum um_status um_tmodel_logits(um_tmodel *tm, const int32_t *tokens, const int32_t *pos, int B,
                                int T, const struct um_attn_spec *attn, float *logits) {
    if (!tm || !logits) return um_set_error(UM_ERR_ARG, "um_tmodel_logits: NULL argument");
    enum um_status st = check_batch(tm, tokens, pos, B, T, attn);
    if (st != UM_OK) return st;
    const int64_t N = (int64_t)B * T;
    for (int64_t i = 0; i < N; i++) {
        tm->rows[i] = (int32_t)i;
        tm->rtarget[i] = 0;
        tm->rweight[i] = 1.0f;
    }
    forward_layers(tm, tokens, pos, B, T, attn);
    head_and_loss(tm, N, N, 1.0, false, logits);
    return UM_OK;
}

/* ------------------------------------------------------------------------------------------
 * Save */

/* Shortest decimal that reads back as the same float. */
static cJSON *num_f32(float f) {
    char buf[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return cJSON_CreateNumber(strtod(buf, NULL));
}

static void add_id(cJSON *o, const char *key, int32_t id) {
    if (id >= 0) cJSON_AddNumberToObject(o, key, id);
}

static char *config_json(const um_tmodel *tm, enum um_dtype dtype) {
    const struct um_model_info *in = &tm->info;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    const char *torch_dtype = dtype == UM_DTYPE_BF16  ? "bfloat16"
                              : dtype == UM_DTYPE_F16 ? "float16"
                                                      : "float32";
    if (in->family == UM_FAMILY_LLADA) {
        /* the field set of GSAI-ML/LLaDA-8B config.json that config.c reads */
        cJSON_AddItemToArray(arch, cJSON_CreateString("LLaDAModelLM"));
        cJSON_AddStringToObject(o, "model_type", "llada");
        cJSON_AddStringToObject(o, "activation_type", "silu");
        cJSON_AddStringToObject(o, "block_type", "llama");
        cJSON_AddNumberToObject(o, "d_model", in->n_embd);
        cJSON_AddNumberToObject(o, "n_heads", in->n_head);
        cJSON_AddNumberToObject(o, "n_kv_heads", in->n_head_kv);
        cJSON_AddNumberToObject(o, "n_layers", in->n_layer);
        cJSON_AddNumberToObject(o, "mlp_hidden_size", in->n_ff);
        cJSON_AddNumberToObject(o, "mlp_ratio", 4);
        cJSON_AddNumberToObject(o, "vocab_size", in->n_vocab);
        cJSON_AddNumberToObject(o, "embedding_size", in->n_vocab);
        cJSON_AddNumberToObject(o, "max_sequence_length", in->max_positions);
        cJSON_AddItemToObject(o, "rope_theta", num_f32(in->rope_theta));
        cJSON_AddItemToObject(o, "rms_norm_eps", num_f32(in->norm_eps));
        cJSON_AddBoolToObject(o, "rope", true);
        cJSON_AddStringToObject(o, "layer_norm_type", "rms");
        cJSON_AddBoolToObject(o, "weight_tying", in->tied_embeddings);
        cJSON_AddBoolToObject(o, "include_bias", false);
        cJSON_AddBoolToObject(o, "include_qkv_bias", in->qkv_bias);
        cJSON_AddBoolToObject(o, "alibi", false);
        cJSON_AddBoolToObject(o, "scale_logits", false);
    } else {
        const char *a = in->family == UM_FAMILY_DREAM   ? "DreamModel"
                        : in->family == UM_FAMILY_LLAMA ? "LlamaForCausalLM"
                                                        : "Qwen2ForCausalLM";
        const char *mt = in->family == UM_FAMILY_DREAM   ? "Dream"
                         : in->family == UM_FAMILY_LLAMA ? "llama"
                                                         : "qwen2";
        cJSON_AddItemToArray(arch, cJSON_CreateString(a));
        cJSON_AddStringToObject(o, "model_type", mt);
        cJSON_AddStringToObject(o, "hidden_act", "silu");
        cJSON_AddNumberToObject(o, "hidden_size", in->n_embd);
        cJSON_AddNumberToObject(o, "intermediate_size", in->n_ff);
        cJSON_AddNumberToObject(o, "num_hidden_layers", in->n_layer);
        cJSON_AddNumberToObject(o, "num_attention_heads", in->n_head);
        cJSON_AddNumberToObject(o, "num_key_value_heads", in->n_head_kv);
        if ((int64_t)in->n_head * in->head_dim != in->n_embd)
            cJSON_AddNumberToObject(o, "head_dim", in->head_dim);
        cJSON_AddNumberToObject(o, "max_position_embeddings", in->max_positions);
        cJSON_AddItemToObject(o, "rms_norm_eps", num_f32(in->norm_eps));
        cJSON_AddItemToObject(o, "rope_theta", num_f32(in->rope_theta));
        cJSON_AddNullToObject(o, "rope_scaling");
        cJSON_AddBoolToObject(o, "tie_word_embeddings", in->tied_embeddings);
        cJSON_AddNumberToObject(o, "vocab_size", in->n_vocab);
        cJSON_AddNumberToObject(o, "attention_dropout", 0);
        if (in->family == UM_FAMILY_LLAMA) {
            cJSON_AddBoolToObject(o, "attention_bias", false);
            cJSON_AddBoolToObject(o, "mlp_bias", false);
        } else {
            cJSON_AddBoolToObject(o, "use_sliding_window", false);
            cJSON_AddNullToObject(o, "sliding_window");
        }
    }
    add_id(o, "mask_token_id", in->mask_id);
    add_id(o, "bos_token_id", in->bos_id);
    add_id(o, "eos_token_id", in->eos_id);
    add_id(o, "pad_token_id", in->pad_id);
    /* not a Hugging Face field: config.c reads it for folders without a tokenizer */
    add_id(o, "eot_token_id", in->eot_id);
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype);
    cJSON_AddBoolToObject(o, "use_cache", false);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

enum um_status um_tmodel_save(const um_tmodel *tm, const char *dir, enum um_dtype dtype,
                              const char *tokenizer) {
    if (!tm || !dir) return um_set_error(UM_ERR_ARG, "um_tmodel_save: NULL argument");
    if (dtype != UM_DTYPE_F32 && dtype != UM_DTYPE_BF16 && dtype != UM_DTYPE_F16)
        return um_set_error(UM_ERR_ARG, "um_tmodel_save: unknown dtype %d", (int)dtype);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return um_set_error(UM_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    if (!um_is_dir(dir)) return um_set_error(UM_ERR_IO, "%s: not a folder", dir);
    enum um_status st = UM_OK;
    um_st_write_tensor *wt = calloc((size_t)tm->n_tensors, sizeof *wt);
    uint16_t *half = NULL;
    if (dtype != UM_DTYPE_F32) half = malloc((size_t)tm->n_params * sizeof(uint16_t));
    char *path = um_path_join(dir, "model.safetensors");
    if (!wt || !path || (dtype != UM_DTYPE_F32 && !half)) {
        st = um_set_error(UM_ERR_NOMEM, "um_tmodel_save: out of memory");
        goto done;
    }
    if (half)
        for (int64_t i = 0; i < tm->n_params; i++)
            half[i] = dtype == UM_DTYPE_BF16 ? um_f32_to_bf16(tm->w[i]) : um_f32_to_f16(tm->w[i]);
    for (int i = 0; i < tm->n_tensors; i++) {
        const struct um_tparam *t = &tm->tensors[i];
        wt[i].name = t->name;
        wt[i].dtype = dtype;
        wt[i].n_dims = t->n_dims;
        wt[i].shape[0] = t->shape[0];
        wt[i].shape[1] = t->shape[1];
        wt[i].data = half ? (const void *)(half + t->offset) : (const void *)(tm->w + t->offset);
    }
    static const char *const meta[] = {"format", "pt", NULL};
    st = um_st_write(path, wt, tm->n_tensors, meta);
    if (st != UM_OK) goto done;
    if (tokenizer) {
        char *text = NULL;
        size_t len = 0;
        st = um_read_file(tokenizer, (size_t)1 << 30, &text, &len);
        if (st == UM_OK) {
            char *tp = um_path_join(dir, "tokenizer.json");
            st = tp ? um_write_file_atomic(tp, text, len)
                    : um_set_error(UM_ERR_NOMEM, "out of memory");
            free(tp);
        }
        free(text);
        if (st != UM_OK) goto done;
    }
    char *cfg = config_json(tm, dtype);
    char *cp = um_path_join(dir, "config.json");
    if (!cfg || !cp) {
        st = um_set_error(UM_ERR_NOMEM, "um_tmodel_save: out of memory");
    } else {
        size_t n = strlen(cfg);
        cfg[n] = '\n'; /* cJSON_Print's terminator becomes the final newline */
        st = um_write_file_atomic(cp, cfg, n + 1);
    }
    free(cfg);
    free(cp);
done:
    free(wt);
    free(half);
    free(path);
    return st;
}

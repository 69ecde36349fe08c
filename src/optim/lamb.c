/*
 * lamb.c: LAMB, Layer-wise Adaptive Moments for Batch training (You et al. 2019, "Large Batch
 * Optimization for Deep Learning: Training BERT in 76 minutes", arXiv 1904.00962, Algorithm
 * 2), computed as NUS-HPC-AI-Lab/OrScale orscale/optim/lamb.py does, per tensor ("layer") W:
 *
 *   m <- beta1 m + (1 - beta1) g ;  v <- beta2 v + (1 - beta2) g^2
 *   u  = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) + wd W    bias-corrected
 *   r  = min(||W||_F / ||u||_F, lamb_clamp)  if both norms > 0, else 1   (lamb.py: clamp 10)
 *   W <- W - lr r u
 *
 * Choices (implementations disagree; see docs and the reference survey §2.2): bias correction
 * on (the paper and TF-Addons; cybertronai/pytorch-lamb drops it); the clamp bounds the ratio
 * (lamb.py's clamp_value), lamb_clamp <= 0 disables it; eps 1e-6 by default (lamb.py).
 * UM_PARAM_VECTOR tensors (norm gains, biases) get no weight decay and ratio 1, as LARS/LAMB
 * implementations exclude them (TF-Addons exclude_from_weight_decay /
 * exclude_from_layer_adaptation); embeddings and the head are ordinary layers here.
 * Rounding follows lamb.py's torch ops (mul_/add_(alpha) = FMA, addcmul, explicit m_hat and
 * v_hat) but the norms are accumulated in double, so agreement is to ~1e-6 relative.
 * Two passes: the first updates the moments and reduces ||u||, the second recomputes u from
 * the new moments and applies it (no buffer for u).
 */
#include "optim/optim-impl.h"

#include "base/base.h"

#include <math.h>

struct lamb_scalars {
    float b1, a1, b2, c2; /* fl(beta1), fl(1-beta1), fl(beta2), fl(1-beta2) */
    float bc1, bc2, eps, wd;
};

static inline float lamb_u(const struct lamb_scalars *k, float m, float v, float w) {
    float u = (m / k->bc1) / (sqrtf(v / k->bc2) + k->eps);
    return k->wd != 0.0f ? fmaf(w, k->wd, u) : u;
}

UM_OPTIM_FMA_CLONES
static double lamb_moments(const struct lamb_scalars *k, const float *restrict w,
                           const float *restrict g, float *restrict m, float *restrict v,
                           int64_t n) {
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = fmaf(gi, k->a1, m[i] * k->b1);
        float vi = fmaf(k->c2 * gi, gi, v[i] * k->b2); /* addcmul_ (adamw.c) */
        m[i] = mi;
        v[i] = vi;
        float u = lamb_u(k, mi, vi, w[i]);
        acc += (double)u * (double)u;
    }
    return acc;
}

UM_OPTIM_FMA_CLONES
static void lamb_apply(const struct lamb_scalars *k, float *restrict w, const float *restrict m,
                       const float *restrict v, float step, int64_t n) {
    for (int64_t i = 0; i < n; i++) w[i] = fmaf(lamb_u(k, m[i], v[i], w[i]), step, w[i]);
}

static enum um_status lamb_init(um_optim *o) {
    for (int i = 0; i < o->n; i++) {
        enum um_status st = um_adamw_init_slot(o, &o->slot[i]);
        if (st != UM_OK) return st;
    }
    return UM_OK;
}

static void lamb_tensor(um_optim *o, struct um_optim_slot *s, double lr, int64_t t) {
    const struct um_optim_params *p = &o->p;
    bool vec = s->t.kind == UM_PARAM_VECTOR;
    struct lamb_scalars k = {
        .b1 = (float)p->beta1, .a1 = (float)(1.0 - p->beta1),
        .b2 = (float)p->beta2, .c2 = (float)(1.0 - p->beta2),
        .bc1 = (float)(1.0 - pow(p->beta1, (double)t)),
        .bc2 = (float)(1.0 - pow(p->beta2, (double)t)),
        .eps = (float)p->eps, .wd = vec ? 0.0f : (float)p->weight_decay,
    };
    int64_t n = s->n, nb = (n + UM_OPTIM_BLOCK - 1) / UM_OPTIM_BLOCK;
    float wn = (float)sqrt(um_optim_sumsq(o, s->t.w, n)); /* pre-update ||W|| */
    double *part = o->part;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * UM_OPTIM_BLOCK, len = n - i0 < UM_OPTIM_BLOCK ? n - i0 : UM_OPTIM_BLOCK;
        part[b] = lamb_moments(&k, s->t.w + i0, s->t.g + i0, s->m1 + i0, s->m2 + i0, len);
    }
    double uu = 0.0;
    for (int64_t b = 0; b < nb; b++) uu += part[b];
    float un = (float)sqrt(uu);
    double raw = 1.0, ratio = 1.0;
    if (!vec && wn > 0.0f && un > 0.0f) {
        raw = (double)(wn / un);
        ratio = p->lamb_clamp > 0.0 && raw > (double)(float)p->lamb_clamp
                    ? (double)(float)p->lamb_clamp
                    : raw;
    }
    float step = (float)(-lr * ratio);
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * UM_OPTIM_BLOCK, len = n - i0 < UM_OPTIM_BLOCK ? n - i0 : UM_OPTIM_BLOCK;
        lamb_apply(&k, s->t.w + i0, s->m1 + i0, s->m2 + i0, step, len);
    }
    s->diag = (struct um_optim_diag){.valid = true, .ratio_raw = raw, .ratio = ratio,
                                     .clipped = fabs(ratio - raw) > 1e-8, .w_norm = wn,
                                     .q_norm = un, .c = 1.0};
}

static enum um_status lamb_step(um_optim *o, double lr_scale) {
    int64_t t = um_optim_count(o);
    for (int i = 0; i < o->n; i++) lamb_tensor(o, &o->slot[i], o->p.lr * lr_scale, t);
    return UM_OK;
}

const struct um_optim_vtable um_optim_lamb_vt = {
    .name = "lamb", .init = lamb_init, .step = lamb_step, .free_state = NULL,
};

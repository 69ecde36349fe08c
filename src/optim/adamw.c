/*
 * adamw.c: torch.optim.AdamW (Loshchilov & Hutter, arXiv 1711.05101) exactly as PyTorch's
 * default CPU path computes it in fp32 (pytorch/pytorch torch/optim/adamw.py
 * _single_tensor_adamw; ATen cpu/LerpKernel.cpp, BinaryOpsKernel.cpp, PointwiseOpsKernel.cpp),
 * rounding for rounding, so that a run matches PyTorch bit for bit:
 *
 *   t      <- t + 1                                   step count (exact in fp32)
 *   p      <- p * fl(1 - lr*wd)                       decoupled decay first
 *   m      <- lerp(m, g, fl(1 - beta1))               torch >= 2.0 (UM_ADAMW_EMA_LERP):
 *                fma(w, g - m, m)          if w < 0.5   the vectorised lerp is one FMA
 *                fma(w - 1, g - m, g)      otherwise
 *          |  fma(g, fl(1 - beta1), m * fl(beta1))    torch 1.x (UM_ADAMW_EMA_MULADD): mul_,
 *                                                     then add_(alpha) = Vectorized fmadd
 *   v      <- fma(fl(1 - beta2) * g, g, v * fl(beta2))   mul_, then addcmul_: value * t1, then
 *                                                     one FMA (measured: the compiler
 *                                                     contracts ATen's addcmul lambda)
 *   bc1    =  1 - beta1^t, bc2 = 1 - beta2^t          doubles (Python floats)
 *   d      =  sqrt(v) / fl(sqrt(bc2)) + fl(eps)       eps after the bias-correction divide
 *   p      <- p + (fl(-lr/bc1) * m) / d               addcdiv: (value * t1) / t2, then add
 *
 * fl() rounds a double to fp32 once, as PyTorch does when a Python scalar meets a float
 * tensor. Every FMA above was established by comparing against Debian's torch 1.13 build
 * element by element (lerp_ and add_(alpha) are FMAs in the vectorised loop and in the tail;
 * addcmul_ is contracted to one FMA; addcdiv_ and the divide are not). The torch 1.x form is
 * what torch 1.13's AdamW runs; the default is the current PyTorch form (its lerp_ kernel
 * rounds the same in 1.13, so tests/oracle/gen_optim.py checks both forms bit for bit: the
 * real torch.optim.AdamW, and torch >= 2.0's _single_tensor_adamw written out in torch ops).
 * Not verified here: other PyTorch builds (compilers that do not contract addcmul), and the
 * foreach/fused/CUDA paths, which order the operations differently.
 */
#include "optim/optim-impl.h"

#include "base/base.h"

#include <math.h>
#include <stdlib.h>

struct adamw_scalars {
    float decay;     /* fl(1 - lr*wd) */
    float w1;        /* fl(1 - beta1): lerp weight, or add_ alpha */
    float w1m1;      /* w1 - 1 in fp32 (lerp, w1 >= 0.5) */
    float b1;        /* fl(beta1) (mul-add form) */
    float b2, c2;    /* fl(beta2), fl(1 - beta2) */
    float s2;        /* fl(sqrt(1 - beta2^t)) */
    float eps;       /* fl(eps) */
    float neg_ss;    /* fl(-lr / (1 - beta1^t)) */
    bool lerp;
};

UM_OPTIM_FMA_CLONES
static void adamw_block(const struct adamw_scalars *k, float *restrict w, const float *restrict g,
                        float *restrict m, float *restrict v, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float p = w[i] * k->decay;
        float mi = m[i];
        if (!k->lerp)
            mi = fmaf(gi, k->w1, mi * k->b1);
        else if (k->w1 < 0.5f)
            mi = fmaf(k->w1, gi - mi, mi);
        else
            mi = fmaf(k->w1m1, gi - mi, gi);
        float vi = fmaf(k->c2 * gi, gi, v[i] * k->b2);
        float d = sqrtf(vi) / k->s2 + k->eps;
        m[i] = mi;
        v[i] = vi;
        w[i] = p + (k->neg_ss * mi) / d;
    }
}

void um_adamw_update(const um_optim *o, struct um_optim_slot *s, double lr, double wd,
                     int64_t t) {
    const struct um_optim_params *p = &o->p;
    struct adamw_scalars k;
    double bc1 = 1.0 - pow(p->beta1, (double)t);
    double bc2 = 1.0 - pow(p->beta2, (double)t);
    k.decay = (float)(1.0 - lr * wd);
    k.w1 = (float)(1.0 - p->beta1);
    k.w1m1 = k.w1 - 1.0f;
    k.b1 = (float)p->beta1;
    k.b2 = (float)p->beta2;
    k.c2 = (float)(1.0 - p->beta2);
    k.s2 = (float)sqrt(bc2);
    k.eps = (float)p->eps;
    k.neg_ss = (float)(-(lr / bc1));
    k.lerp = p->adamw_ema == UM_ADAMW_EMA_LERP;
    int64_t n = s->n, nb = (n + UM_OPTIM_BLOCK - 1) / UM_OPTIM_BLOCK;
    float *w = s->t.w, *m = s->m1, *v = s->m2;
    const float *g = s->t.g;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * UM_OPTIM_BLOCK, len = n - i0 < UM_OPTIM_BLOCK ? n - i0 : UM_OPTIM_BLOCK;
        adamw_block(&k, w + i0, g + i0, m + i0, v + i0, len);
    }
}

enum um_status um_adamw_init_slot(um_optim *o, struct um_optim_slot *s) {
    enum um_status st = um_optim_add_state(o, "exp_avg", s->t.name, s->n, &s->m1);
    if (st == UM_OK) st = um_optim_add_state(o, "exp_avg_sq", s->t.name, s->n, &s->m2);
    return st;
}

static enum um_status adamw_init(um_optim *o) {
    for (int i = 0; i < o->n; i++) {
        enum um_status st = um_adamw_init_slot(o, &o->slot[i]);
        if (st != UM_OK) return st;
    }
    return UM_OK;
}

static enum um_status adamw_step(um_optim *o, double lr_scale) {
    int64_t t = um_optim_count(o);
    double lr = o->p.lr * lr_scale;
    for (int i = 0; i < o->n; i++) um_adamw_update(o, &o->slot[i], lr, o->p.weight_decay, t);
    return UM_OK;
}

const struct um_optim_vtable um_optim_adamw_vt = {
    .name = "adamw", .init = adamw_init, .step = adamw_step, .free_state = NULL,
};

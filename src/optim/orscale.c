/*
 * orscale.c: OrScale, orthogonalised optimisation with layer-wise trust-ratio scaling
 * (Yuxuan Lou & Yang You, arXiv 2605.07815, 2026), as NUS-HPC-AI-Lab/OrScale
 * orscale/optim/orscale_optimizer.py computes it. Per hidden matrix W [m][n], momentum M:
 *
 *   M     <- mu M + G                      accumulating momentum (not Muon's EMA)
 *   M_hat  = mu M + G                      Nesterov look-ahead (nesterov = false: M_hat = M)
 *   Q      = NS(M_hat)                     Polar Express schedule (ns.c), fp32
 *   s      = 0.2 sqrt(max(m, n))           OrScale-LM (orscale_lm); 1 for plain OrScale
 *   D      = lambda W + s Q                the direction actually subtracted
 *   c      = ||W_0|| / ||lambda W_0 + s Q_0||   OrScale-LM, set once at the layer's first step
 *            (0.2 sqrt(max(m,n)) if either norm < 1e-6);  1 for plain OrScale
 *   r      = ||W|| / (c ||D|| + 1e-6)      all norms Frobenius, of the pre-update W
 *   r_hat  = clip(r, clip_min, clip_max)
 *   W     <- W - lr r_hat lambda W         coupled ("trust-scaled") weight decay, then
 *   W     <- W - lr r_hat s Q
 * Plain OrScale is the repo's "orscale_muon_wd" variant, OrScale-LM its
 * "orscale_muon_moonlight_calibrated" (the paper's OrScale-LM). The repo's other variants
 * (EMA "original", ||Q|| or ||M_hat|| denominators, RMS ratios) are its negative results and
 * are not implemented.
 *
 * Constants and their sources:
 *   mu = 0.95                 repo OrScaleOptimizer default momentum; paper §3
 *   ns_steps = 5              repo default ns_iters; newton_schulz.py POLAR_EXPRESS_COEFFS[:5]
 *   Polar Express triples     newton_schulz.py POLAR_EXPRESS_COEFFS (Amsel et al. 2025,
 *                             arXiv 2505.16932); normaliser 1.02 ||X||_F + 1e-6 (same file)
 *   0.2 sqrt(max(m, n))       muon.py MOONLIGHT_RMS_CONSTANT = 0.2 (Moonlight, arXiv
 *                             2502.16982), used as s and as c's fallback
 *   eps = 1e-6                repo default eps: ratio denominator and the calibration guard
 *   clip [0.1, 5.0]           OrScale-LM: configs/scaling_law_moonlight_strict.yaml r_min/r_max
 *                             and the class docstring ("[0.1, 5.0] for the Moonlight-shape
 *                             variants"); plain OrScale: class default [0.5, 1.5]
 *   lambda = 0.1, lr = 1e-3   scaling_law_moonlight_strict.yaml (125M preset; paper §5 runs)
 *   fallback AdamW            __init__.py build_optimizer: torch.optim.AdamW on ndim < 2 and
 *                             nn.Embedding weights, lr = adamw_lr (default 0.1 lr; the strict
 *                             config uses "same_as_lr", our default 1e-3), betas (0.9, 0.999),
 *                             eps 1e-8, weight decay adamw_weight_decay (0.1 in the config).
 *                             An untied LM head is routed to AdamW here (UM_PARAM_HEAD), as for
 *                             Muon; the repo's shape-based splitter would send it to OrScale.
 *
 * Precision: the repo runs NS in bfloat16 and everything else in fp32; here NS is fp32 too
 * (see ns.c). c is kept as fp32 (the repo keeps a Python float but multiplies it into a fp32
 * tensor, which rounds it to fp32 there as well). Norms are accumulated in double, then
 * rounded to fp32 before the ratio is formed in fp32 as the repo does.
 * Diagnostics per matrix (raw and applied ratio, clip flag, ||W||, ||Q||, ||D||, c) are kept
 * for um_optim_diag_get, mirroring the repo's _diagnostics.
 */
#include "optim/optim-impl.h"

#include "base/base.h"

#include <math.h>

#define MOONLIGHT_RMS 0.2 /* Moonlight RMS-matching constant */
#define ORSCALE_EPS 1e-6  /* ratio denominator and calibration guard */

UM_OPTIM_FMA_CLONES
static void orscale_momentum_rows(float *restrict buf, const float *restrict g,
                                  float *restrict u, int64_t i0, int64_t i1, int64_t rows,
                                  int64_t cols, bool tr, bool nesterov, float mu) {
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = i * cols + j;
            float gi = g[k];
            float mi = buf[k] * mu + gi; /* buf.mul_(mu).add_(g) */
            buf[k] = mi;
            u[tr ? j * rows + i : k] = nesterov ? mi * mu + gi : mi;
        }
    }
}

/* One pass over rows [i0, i1): sums of W^2, Q^2 and (lambda W + s Q)^2 (Q read in NS
 * orientation) into acc[0..2]. */
static void orscale_norms_rows(const float *restrict w, const float *restrict q, int64_t i0,
                               int64_t i1, int64_t rows, int64_t cols, bool tr, float lam,
                               float s, double acc[3]) {
    double aw = 0.0, aq = 0.0, ad = 0.0;
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = i * cols + j;
            float wk = w[k], qk = q[tr ? j * rows + i : k];
            float d = lam * wk + s * qk;
            aw += (double)wk * (double)wk;
            aq += (double)qk * (double)qk;
            ad += (double)d * (double)d;
        }
    }
    acc[0] = aw, acc[1] = aq, acc[2] = ad;
}

UM_OPTIM_FMA_CLONES
static void orscale_apply_rows(float *restrict w, const float *restrict q, int64_t i0,
                               int64_t i1, int64_t rows, int64_t cols, bool tr, bool decay,
                               float a_w, float a_q) {
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = i * cols + j;
            float p = w[k];
            if (decay) p = fmaf(p, a_w, p);        /* p.add_(p, alpha=-lr r lambda) */
            w[k] = fmaf(q[tr ? j * rows + i : k], a_q, p); /* p.add_(Q, alpha=-lr r s) */
        }
    }
}

static enum um_status orscale_init(um_optim *o) {
    for (int i = 0; i < o->n; i++) {
        struct um_optim_slot *s = &o->slot[i];
        if (s->fallback) {
            enum um_status st = um_adamw_init_slot(o, s);
            if (st != UM_OK) return st;
            continue;
        }
        enum um_status st = um_optim_add_state(o, "momentum", s->t.name, s->n, &s->m1);
        if (st == UM_OK) st = um_optim_add_state(o, "orscale_c", s->t.name, 1, &s->c);
        if (st != UM_OK) return st;
        if (!o->p.orscale_lm) s->c[0] = 1.0f; /* plain OrScale: c = 1, never calibrated */
    }
    return UM_OK;
}

static void orscale_matrix(um_optim *o, struct um_optim_slot *s, double lr) {
    const struct um_optim_params *p = &o->p;
    int64_t rows = s->t.rows, cols = s->t.cols;
    bool tr = rows > cols;
    int64_t r = tr ? cols : rows, c = tr ? rows : cols;
    float *ws = o->ns_ws;
    int64_t rb = 1 + UM_OPTIM_BLOCK / cols; /* rows per task */
    int64_t nt = (rows + rb - 1) / rb;
    float mu = (float)p->momentum;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nt > 1)
    for (int64_t b = 0; b < nt; b++) {
        int64_t i1 = (b + 1) * rb < rows ? (b + 1) * rb : rows;
        orscale_momentum_rows(s->m1, s->t.g, ws, b * rb, i1, rows, cols, tr, p->nesterov, mu);
    }
    const float *q = um_ns_iterate(ws, r, c, UM_NS_POLAR_EXPRESS, p->ns_steps);

    int64_t mx = rows > cols ? rows : cols;
    double shape = p->orscale_lm ? MOONLIGHT_RMS * sqrt((double)mx) : 1.0;
    float lam = (float)p->weight_decay, sf = (float)shape;
    double *part = o->part; /* 3 per task; nt <= max rows <= part_cap / 3 */
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nt > 1)
    for (int64_t b = 0; b < nt; b++) {
        int64_t i1 = (b + 1) * rb < rows ? (b + 1) * rb : rows;
        orscale_norms_rows(s->t.w, q, b * rb, i1, rows, cols, tr, lam, sf, part + 3 * b);
    }
    double ww = 0.0, qq = 0.0, dd = 0.0;
    for (int64_t b = 0; b < nt; b++) ww += part[3 * b], qq += part[3 * b + 1], dd += part[3 * b + 2];
    float wn = (float)sqrt(ww), qn = (float)sqrt(qq), dn = (float)sqrt(dd);

    if (s->c[0] == 0.0f) { /* OrScale-LM, first step: r_0 = 1 */
        bool tiny = (double)wn < ORSCALE_EPS || (double)dn < ORSCALE_EPS;
        s->c[0] = (float)(tiny ? MOONLIGHT_RMS * sqrt((double)mx) : (double)wn / (double)dn);
    }
    float ratio_f = wn / (s->c[0] * dn + (float)ORSCALE_EPS);
    double raw = (double)ratio_f;
    double rh = raw < p->clip_min ? p->clip_min : raw > p->clip_max ? p->clip_max : raw;
    float a_w = (float)(-lr * rh * p->weight_decay), a_q = (float)(-lr * rh * shape);
    bool decay = p->weight_decay != 0.0;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nt > 1)
    for (int64_t b = 0; b < nt; b++) {
        int64_t i1 = (b + 1) * rb < rows ? (b + 1) * rb : rows;
        orscale_apply_rows(s->t.w, q, b * rb, i1, rows, cols, tr, decay, a_w, a_q);
    }
    s->diag = (struct um_optim_diag){.valid = true, .ratio_raw = raw, .ratio = rh,
                                     .clipped = fabs(rh - raw) > 1e-8, .w_norm = wn,
                                     .q_norm = qn, .d_norm = dn, .c = s->c[0]};
}

static enum um_status orscale_step(um_optim *o, double lr_scale) {
    return um_optim_step_routed(o, lr_scale, orscale_matrix);
}

const struct um_optim_vtable um_optim_orscale_vt = {
    .name = "orscale", .init = orscale_init, .step = orscale_step, .free_state = NULL,
};

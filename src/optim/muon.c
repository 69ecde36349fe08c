/*
 * muon.c: Muon, MomentUm Orthogonalized by Newton-Schulz (Keller Jordan et al., 2024;
 * https://kellerjordan.github.io/posts/muon/), as KellerJordan/Muon muon.py muon_update and
 * SingleDeviceMuonWithAuxAdam compute it, per hidden matrix W [m][n] with momentum buffer M:
 *
 *   M <- lerp(M, G, 1 - beta)                 EMA momentum, beta = momentum (0.95)
 *   U <- lerp(G, M, beta) if nesterov else M  Nesterov look-ahead
 *   O <- NS5(U) * sqrt(max(1, m/n))           quintic Newton-Schulz (ns.c, UM_NS_QUINTIC)
 *   W <- W * fl(1 - lr*wd)                    decoupled weight decay, unscaled lr
 *   W <- W - lr * O
 *
 * lerp rounds as PyTorch's vectorised kernel (>= 2.0): fma(w, end - start, start) for w < 0.5,
 * fma(w - 1, end - start, end) otherwise; W - lr*O is add_(alpha) = fma(O, fl(-lr), W).
 * Differences from the reference, on purpose: Newton-Schulz runs in fp32 (the reference runs
 * it in bfloat16 on GPU), so results agree with it to NS precision, not bit for bit.
 *
 * Embeddings, the LM head and 1-D tensors go to torch.optim.AdamW (adamw.c) with adamw_lr
 * (default 3e-4, the SingleDeviceMuonWithAuxAdam default; adamw_lr <= 0 means 0.1 lr, the
 * OrScale repo's build_optimizer rule), beta1/beta2/eps (defaults (0.9, 0.95), 1e-10 as
 * KJ's auxiliary Adam) and adamw_weight_decay. KJ's auxiliary Adam is the same update as
 * torch.optim.AdamW up to rounding (it forms m/bc1 and sqrt(v/bc2) explicitly); we use
 * torch.optim.AdamW's rounding, as the OrScale repo's fallback does.
 */
#include "optim/optim-impl.h"

#include "base/base.h"

#include <math.h>

/* Momentum update and the NS input U (written to u, transposed when tr) for rows [i0, i1). */
UM_OPTIM_FMA_CLONES
static void muon_momentum_rows(float *restrict buf, const float *restrict g, float *restrict u,
                               int64_t i0, int64_t i1, int64_t rows, int64_t cols, bool tr,
                               bool nesterov, float w, float beta, float betam1) {
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = i * cols + j;
            float gi = g[k], mi = buf[k];
            mi = w < 0.5f ? fmaf(w, gi - mi, mi) : fmaf(w - 1.0f, gi - mi, gi);
            buf[k] = mi;
            float ui = mi;
            if (nesterov) ui = beta < 0.5f ? fmaf(beta, mi - gi, gi) : fmaf(betam1, mi - gi, mi);
            u[tr ? j * rows + i : k] = ui;
        }
    }
}

UM_OPTIM_FMA_CLONES
static void muon_apply_rows(float *restrict wt, const float *restrict x, int64_t i0, int64_t i1,
                            int64_t rows, int64_t cols, bool tr, float decay, float scale,
                            float neg_lr) {
    for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = i * cols + j;
            float o = x[tr ? j * rows + i : k] * scale;
            wt[k] = fmaf(o, neg_lr, wt[k] * decay);
        }
    }
}

static enum um_status muon_init(um_optim *o) {
    for (int i = 0; i < o->n; i++) {
        struct um_optim_slot *s = &o->slot[i];
        enum um_status st = s->fallback
                                ? um_adamw_init_slot(o, s)
                                : um_optim_add_state(o, "momentum", s->t.name, s->n, &s->m1);
        if (st != UM_OK) return st;
    }
    return UM_OK;
}

static void muon_matrix(um_optim *o, struct um_optim_slot *s, double lr) {
    const struct um_optim_params *p = &o->p;
    int64_t rows = s->t.rows, cols = s->t.cols;
    bool tr = rows > cols;
    int64_t r = tr ? cols : rows, c = tr ? rows : cols;
    float w = (float)(1.0 - p->momentum), beta = (float)p->momentum;
    float *ws = o->ns_ws;
    int64_t rb = 1 + UM_OPTIM_BLOCK / cols; /* rows per task */
    int64_t nt = (rows + rb - 1) / rb;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nt > 1)
    for (int64_t b = 0; b < nt; b++) {
        int64_t i1 = (b + 1) * rb < rows ? (b + 1) * rb : rows;
        muon_momentum_rows(s->m1, s->t.g, ws, b * rb, i1, rows, cols, tr, p->nesterov, w, beta,
                           beta - 1.0f);
    }
    const float *x = um_ns_iterate(ws, r, c, UM_NS_QUINTIC, p->ns_steps);
    double ratio = (double)rows / (double)cols;
    float scale = (float)sqrt(ratio > 1.0 ? ratio : 1.0);
    float decay = (float)(1.0 - lr * p->weight_decay), neg_lr = (float)(-lr);
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nt > 1)
    for (int64_t b = 0; b < nt; b++) {
        int64_t i1 = (b + 1) * rb < rows ? (b + 1) * rb : rows;
        muon_apply_rows(s->t.w, x, b * rb, i1, rows, cols, tr, decay, scale, neg_lr);
    }
    s->diag = (struct um_optim_diag){.valid = true, .ratio_raw = 1.0, .ratio = 1.0, .c = 1.0};
}

static enum um_status muon_step(um_optim *o, double lr_scale) {
    return um_optim_step_routed(o, lr_scale, muon_matrix);
}

const struct um_optim_vtable um_optim_muon_vt = {
    .name = "muon", .init = muon_init, .step = muon_step, .free_state = NULL,
};

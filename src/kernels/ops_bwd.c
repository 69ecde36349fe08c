/*
 * ops_bwd.c: training ops (ops_bwd.h): attention masks, RMSNorm / RoPE / SwiGLU /
 * softmax-CE / embedding backward, and forward variants that save what the backward needs.
 * Attention's forward and backward are flash_attn.c.
 *
 * Derivations (y = f(x), upstream gradient dy):
 *   RMSNorm  y = x r w, r = (mean(x^2) + eps)^-1/2:  dx = r (dy w) - x r^3 <dy w, x> / D,
 *            dw = sum_rows dy x r.
 *   RoPE     y = R(pos) x with R orthogonal:  dx = R^T dy (rotation by -angle).
 *   SwiGLU   a = silu(g) u, silu(g) = g sigma(g):  du = da silu(g),
 *            dg = da u sigma(g) (1 + g (1 - sigma(g))).
 *   CE       loss = lse(z) - z_t:  dz = softmax(z) - onehot(t).
 * Reductions over rows (dw, bias, embedding) run over column blocks so that threads never
 * write the same element.
 */
#include "kernels/ops_bwd.h"

#include "base/base.h"
#include "kernels/kernels.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define COLBLK 64 /* columns per thread task in row reductions */

int um_mask_ranges(int kind, int bs, int64_t t, int64_t i, int64_t r[4]) {
    switch (kind) {
    case UM_MASK_CAUSAL:
        r[0] = 0;
        r[1] = i + 1;
        return 1;
    case UM_MASK_BLOCK_CAUSAL: {
        int64_t end = (i / bs + 1) * bs;
        r[0] = 0;
        r[1] = end < t ? end : t;
        return 1;
    }
    case UM_MASK_BD3: {
        const int64_t n = t / 2;
        if (i < n) {
            const int64_t blk = i / bs, end = (blk + 1) * bs;
            r[0] = blk * bs;            /* noisy keys of the same block */
            r[1] = end < n ? end : n;
            r[2] = n;                   /* clean keys of earlier blocks */
            r[3] = n + blk * bs;
            return r[3] > r[2] ? 2 : 1;
        }
        const int64_t end = ((i - n) / bs + 1) * bs;
        r[0] = n;                       /* clean keys of this and earlier blocks */
        r[1] = n + (end < n ? end : n);
        return 1;
    }
    default:
        r[0] = 0;
        r[1] = t;
        return 1;
    }
}

int um_mask_visible(int kind, int bs, int64_t t, int64_t i, int64_t j) {
    int64_t r[4];
    int nr = um_mask_ranges(kind, bs, t, i, r);
    for (int k = 0; k < nr; k++)
        if (j >= r[2 * k] && j < r[2 * k + 1]) return 1;
    return 0;
}

void um_rmsnorm_fwd(float *y, float *r, const float *x, const float *w, int64_t n, int64_t d,
                    float eps) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (n > 1)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        float ss = 0.0f;
        for (int64_t j = 0; j < d; j++) ss += xi[j] * xi[j];
        float ri = 1.0f / sqrtf(ss / (float)d + eps);
        r[i] = ri;
        for (int64_t j = 0; j < d; j++) yi[j] = (xi[j] * ri) * w[j];
    }
}

void um_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *r,
                    const float *w, int64_t n, int64_t d) {
    if (dx) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (n > 1)
        for (int64_t i = 0; i < n; i++) {
            const float *xi = x + i * d, *dyi = dy + i * d;
            float *dxi = dx + i * d;
            double dot = 0.0;
            for (int64_t j = 0; j < d; j++) dot += (double)dyi[j] * w[j] * xi[j];
            const float ri = r[i];
            const float c = (float)(dot / (double)d) * ri * ri * ri;
            for (int64_t j = 0; j < d; j++) dxi[j] += ri * (dyi[j] * w[j]) - xi[j] * c;
        }
    }
    if (dw) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
        for (int64_t jb = 0; jb < d; jb += COLBLK) {
            const int64_t je = jb + COLBLK < d ? jb + COLBLK : d;
            float acc[COLBLK] = {0};
            for (int64_t i = 0; i < n; i++) {
                const float *xi = x + i * d, *dyi = dy + i * d;
                const float ri = r[i];
                for (int64_t j = jb; j < je; j++) acc[j - jb] += dyi[j] * xi[j] * ri;
            }
            for (int64_t j = jb; j < je; j++) dw[j] += acc[j - jb];
        }
    }
}

void um_rope_bwd(float *dx, int64_t n, int n_heads, int dh, const int32_t *pos,
                 const float *cos_t, const float *sin_t) {
    const int half = dh / 2;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (n > 1)
    for (int64_t i = 0; i < n; i++) {
        const float *c = cos_t + (int64_t)pos[i] * half;
        const float *s = sin_t + (int64_t)pos[i] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = dx + (i * n_heads + h) * dh;
            for (int j = 0; j < half; j++) {
                float a = v[j], b = v[j + half];
                v[j] = a * c[j] + b * s[j];
                v[j + half] = b * c[j] - a * s[j];
            }
        }
    }
}

void um_swiglu_bwd(float *dg, float *du, const float *da, const float *g, const float *u,
                   int64_t n) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (n > 4096)
    for (int64_t i = 0; i < n; i++) {
        const float x = g[i];
        const float s = 1.0f / (1.0f + expf(-x));
        const float d = da[i];
        du[i] = d * (x * s);
        dg[i] = d * u[i] * s * (1.0f + x * (1.0f - s));
    }
}

double um_softmax_ce(float *logits, const int32_t *targets, const float *w, int64_t r,
                     int64_t v, double scale, bool backward) {
    double total = 0.0;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) reduction(+ : total)
    for (int64_t i = 0; i < r; i++) {
        float *z = logits + i * v;
        float mx = -INFINITY;
        for (int64_t j = 0; j < v; j++)
            if (z[j] > mx) mx = z[j];
        double sum = 0.0;
        for (int64_t j = 0; j < v; j++) sum += (double)expf(z[j] - mx);
        const double lse = (double)mx + log(sum);
        const int32_t tg = targets[i];
        total += (double)w[i] * (lse - (double)z[tg]);
        if (backward) {
            const float coef = (float)(scale * (double)w[i]);
            const float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < v; j++) z[j] = coef * (expf(z[j] - mx) * inv);
            z[tg] -= coef;
        }
    }
    return total;
}

void um_embed_bwd(float *de, const float *dx, const int32_t *tokens, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t jb = 0; jb < d; jb += COLBLK) {
        const int64_t je = jb + COLBLK < d ? jb + COLBLK : d;
        for (int64_t i = 0; i < n; i++) {
            float *dst = de + (int64_t)tokens[i] * d;
            const float *src = dx + i * d;
            for (int64_t j = jb; j < je; j++) dst[j] += src[j];
        }
    }
}

void um_colsum_acc(float *db, const float *dy, int64_t n, int64_t c) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t jb = 0; jb < c; jb += COLBLK) {
        const int64_t je = jb + COLBLK < c ? jb + COLBLK : c;
        float acc[COLBLK] = {0};
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = jb; j < je; j++) acc[j - jb] += dy[i * c + j];
        for (int64_t j = jb; j < je; j++) db[j] += acc[j - jb];
    }
}

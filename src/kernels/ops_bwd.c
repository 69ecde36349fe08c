/*
 * ops_bwd.c: training ops (ops_bwd.h): masks, RMSNorm / RoPE / attention / SwiGLU /
 * softmax-CE / embedding backward, and forward variants that save what the backward needs.
 *
 * Derivations (y = f(x), upstream gradient dy):
 *   RMSNorm  y = x r w, r = (mean(x^2) + eps)^-1/2:  dx = r (dy w) - x r^3 <dy w, x> / D,
 *            dw = sum_rows dy x r.
 *   RoPE     y = R(pos) x with R orthogonal:  dx = R^T dy (rotation by -angle).
 *   Attention S = q k^T s, P = softmax(S) (masked), O = P v:  dv = P^T dO, dP = dO v^T,
 *            dS = P (dP - rowsum(dO O)) (since rowsum(P dP) = rowsum(dO O)), dq = s dS k,
 *            dk = s dS^T q.
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

/* Masked softmax in place on n_rows score rows of t keys (row r is query r % t);
 * invisible entries become 0. Serial: called inside a per-(sequence, head) task. */
static void masked_softmax_rows(float *s, int64_t n_rows, int64_t t, int kind, int bs) {
    for (int64_t row = 0; row < n_rows; row++) {
        const int64_t i = row % t;
        float *si = s + row * t;
        int64_t r[4];
        const int nr = um_mask_ranges(kind, bs, t, i, r);
        float mx = -INFINITY;
        for (int k = 0; k < nr; k++)
            for (int64_t j = r[2 * k]; j < r[2 * k + 1]; j++)
                if (si[j] > mx) mx = si[j];
        float sum = 0.0f;
        for (int k = 0; k < nr; k++)
            for (int64_t j = r[2 * k]; j < r[2 * k + 1]; j++) {
                si[j] = expf(si[j] - mx);
                sum += si[j];
            }
        const float inv = 1.0f / sum;
        int64_t prev = 0;
        for (int k = 0; k < nr; k++) {
            for (int64_t j = prev; j < r[2 * k]; j++) si[j] = 0.0f;
            for (int64_t j = r[2 * k]; j < r[2 * k + 1]; j++) si[j] *= inv;
            prev = r[2 * k + 1];
        }
        for (int64_t j = prev; j < t; j++) si[j] = 0.0f;
    }
}

void um_attn_fwd(float *out, float *p, const float *q, const float *k, const float *v,
                 int64_t b, int64_t t, int h, int hkv, int dh, int kind, int bs) {
    const int group = h / hkv;
    const int64_t qs = (int64_t)h * dh, ks = (int64_t)hkv * dh;
    const float scale = 1.0f / sqrtf((float)dh);
    um_sgemm_single_thread_backend();
    /* one task per (sequence, head): scores, masked softmax, P v */
#pragma omp parallel for schedule(dynamic, 1) num_threads(um_get_threads())
    for (int64_t task = 0; task < b * h; task++) {
        const int64_t bb = task / h;
        const int hh = (int)(task % h), g = hh / group;
        float *pbh = p + task * t * t;
        um_sgemm_1t(false, true, t, t, dh, scale, q + bb * t * qs + (int64_t)hh * dh, qs,
              k + bb * t * ks + (int64_t)g * dh, ks, 0.0f, pbh, t);
        masked_softmax_rows(pbh, t, t, kind, bs);
        um_sgemm_1t(false, false, t, dh, t, 1.0f, pbh, t, v + bb * t * ks + (int64_t)g * dh, ks, 0.0f,
              out + bb * t * qs + (int64_t)hh * dh, qs);
    }
}

void um_attn_fwd_ref(float *out, float *p, const float *q, const float *k, const float *v,
                     int64_t b, int64_t t, int h, int hkv, int dh, int kind, int bs) {
    const int group = h / hkv;
    const int64_t qs = (int64_t)h * dh, ks = (int64_t)hkv * dh;
    const float scale = 1.0f / sqrtf((float)dh);
    for (int64_t bb = 0; bb < b; bb++)
        for (int hh = 0; hh < h; hh++)
            for (int64_t i = 0; i < t; i++) {
                const int g = hh / group;
                const float *qi = q + (bb * t + i) * qs + (int64_t)hh * dh;
                float *pi = p + ((bb * h + hh) * t + i) * t;
                float mx = -INFINITY;
                for (int64_t j = 0; j < t; j++) {
                    if (!um_mask_visible(kind, bs, t, i, j)) continue;
                    const float *kj = k + (bb * t + j) * ks + (int64_t)g * dh;
                    float d = 0.0f;
                    for (int e = 0; e < dh; e++) d += qi[e] * kj[e];
                    pi[j] = d * scale;
                    if (pi[j] > mx) mx = pi[j];
                }
                float sum = 0.0f;
                for (int64_t j = 0; j < t; j++) {
                    if (!um_mask_visible(kind, bs, t, i, j)) {
                        pi[j] = 0.0f;
                        continue;
                    }
                    pi[j] = expf(pi[j] - mx);
                    sum += pi[j];
                }
                float *oi = out + (bb * t + i) * qs + (int64_t)hh * dh;
                for (int e = 0; e < dh; e++) oi[e] = 0.0f;
                for (int64_t j = 0; j < t; j++) {
                    pi[j] /= sum;
                    const float *vj = v + (bb * t + j) * ks + (int64_t)g * dh;
                    for (int e = 0; e < dh; e++) oi[e] += pi[j] * vj[e];
                }
            }
}

void um_attn_bwd(float *dq, float *dk, float *dv, float *ds, const float *dout,
                 const float *out, const float *p, const float *q, const float *k,
                 const float *v, int64_t b, int64_t t, int h, int hkv, int dh) {
    const int group = h / hkv;
    const int64_t qs = (int64_t)h * dh, ks = (int64_t)hkv * dh;
    const float scale = 1.0f / sqrtf((float)dh);
    um_sgemm_single_thread_backend();
    /* one task per (sequence, kv head): its query heads run in order, so dk/dv of the group
     * are written by one thread only */
#pragma omp parallel for schedule(dynamic, 1) num_threads(um_get_threads())
    for (int64_t task = 0; task < b * hkv; task++) {
        const int64_t bb = task / hkv;
        const int g = (int)(task % hkv);
        const float *kbg = k + bb * t * ks + (int64_t)g * dh;
        const float *vbg = v + bb * t * ks + (int64_t)g * dh;
        float *dkbg = dk + bb * t * ks + (int64_t)g * dh;
        float *dvbg = dv + bb * t * ks + (int64_t)g * dh;
        for (int64_t i = 0; i < t; i++)
            for (int e = 0; e < dh; e++) dkbg[i * ks + e] = dvbg[i * ks + e] = 0.0f;
        for (int hh = g * group; hh < (g + 1) * group; hh++) {
            const int64_t bh = bb * h + hh;
            const float *pbh = p + bh * t * t;
            float *sbh = ds + bh * t * t;
            const float *dobh = dout + bb * t * qs + (int64_t)hh * dh;
            const float *obh = out + bb * t * qs + (int64_t)hh * dh;
            const float *qbh = q + bb * t * qs + (int64_t)hh * dh;
            /* dP = dO v^T;  dS = scale * P (dP - rowsum(dO O)) */
            um_sgemm_1t(false, true, t, t, dh, 1.0f, dobh, qs, vbg, ks, 0.0f, sbh, t);
            for (int64_t i = 0; i < t; i++) {
                float delta = 0.0f;
                for (int e = 0; e < dh; e++) delta += dobh[i * qs + e] * obh[i * qs + e];
                const float *pi = pbh + i * t;
                float *si = sbh + i * t;
                for (int64_t j = 0; j < t; j++) si[j] = scale * pi[j] * (si[j] - delta);
            }
            um_sgemm_1t(true, false, t, dh, t, 1.0f, pbh, t, dobh, qs, 1.0f, dvbg, ks);
            um_sgemm_1t(false, false, t, dh, t, 1.0f, sbh, t, kbg, ks, 0.0f,
                  dq + bb * t * qs + (int64_t)hh * dh, qs);
            um_sgemm_1t(true, false, t, dh, t, 1.0f, sbh, t, qbh, qs, 1.0f, dkbg, ks);
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

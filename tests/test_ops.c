/*
 * test_ops.c: the forward-pass ops against plain double-precision implementations, and flash
 * attention (scalar reference and the dispatched ISA) against a double-precision definition,
 * at odd shapes (T not a multiple of the query or key tiles, Dh not a multiple of 16, GQA
 * groups, causal and not).
 * Tolerance: 2e-5 absolute on attention outputs of O(1) magnitude (fp32 summation order).
 */
#include "test.h"

#include "base/base.h"
#include "kernels/gemm-impl.h"
#include "kernels/kernels.h"
#include "kernels/flash_attn.h"
#include "kernels/ops.h"
#include "kernels/ops_bwd.h"

#include <stdlib.h>

static float *rnd(um_rng *r, int64_t n, float a) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(2 * um_rng_uniform(r) - 1) * a;
    return p;
}

/* double-precision attention, straight from the definition */
static void attn_naive(double *out, const float *q, const float *k, const float *v, int t, int h,
                       int hkv, int dh, int causal) {
    double *s = malloc((size_t)t * sizeof *s);
    for (int hh = 0; hh < h; hh++) {
        int g = hh / (h / hkv);
        for (int i = 0; i < t; i++) {
            int nk = causal ? i + 1 : t;
            double mx = -1e300, sum = 0;
            for (int j = 0; j < nk; j++) {
                double d = 0;
                for (int e = 0; e < dh; e++)
                    d += (double)q[(i * h + hh) * dh + e] * k[(j * hkv + g) * dh + e];
                s[j] = d / sqrt((double)dh);
                if (s[j] > mx) mx = s[j];
            }
            for (int j = 0; j < nk; j++) sum += s[j] = exp(s[j] - mx);
            for (int e = 0; e < dh; e++) {
                double o = 0;
                for (int j = 0; j < nk; j++) o += s[j] / sum * v[(j * hkv + g) * dh + e];
                out[(i * h + hh) * dh + e] = o;
            }
        }
    }
    free(s);
}

static void check_attention(um_rng *r, int t, int h, int hkv, int dh, int causal) {
    float *q = rnd(r, (int64_t)t * h * dh, 1.5f), *k = rnd(r, (int64_t)t * hkv * dh, 1.5f);
    float *v = rnd(r, (int64_t)t * hkv * dh, 1.0f);
    int64_t n = (int64_t)t * h * dh;
    float *o_ref = malloc((size_t)n * sizeof(float)), *o_simd = malloc((size_t)n * sizeof(float));
    double *o_dbl = malloc((size_t)n * sizeof(double));
    float *scratch =
        malloc(um_flash_scratch_floats(t, t, h, hkv, dh) * sizeof(float));
    const int kind = causal ? UM_MASK_CAUSAL : UM_MASK_FULL;
    attn_naive(o_dbl, q, k, v, t, h, hkv, dh, causal);
    um_flash_fwd_ref(o_ref, NULL, q, k, v, 1, t, 0, t, h, hkv, dh, kind, 1, scratch);
    double d_ref = 0, d_simd = 0;
    for (int64_t i = 0; i < n; i++) d_ref = fmax(d_ref, fabs(o_ref[i] - o_dbl[i]));
    CHECKF(d_ref < 2e-5, "ref attention T=%d H=%d Hkv=%d Dh=%d causal=%d: max|d|=%g", t, h, hkv,
           dh, causal, d_ref);
    um_flash_fwd(o_simd, NULL, q, k, v, 1, t, 0, t, h, hkv, dh, kind, 1, scratch);
    for (int64_t i = 0; i < n; i++) d_simd = fmax(d_simd, fabs(o_simd[i] - o_dbl[i]));
    CHECKF(d_simd < 2e-5, "flash attention T=%d H=%d Hkv=%d Dh=%d causal=%d: max|d|=%g", t, h,
           hkv, dh, causal, d_simd);
    printf("  attention T=%-4d H=%d Hkv=%d Dh=%-3d %s  ref %.2g  dispatched %.2g\n", t, h, hkv, dh,
           causal ? "causal" : "bidir ", d_ref, d_simd);
    free(q);
    free(k);
    free(v);
    free(o_ref);
    free(o_simd);
    free(o_dbl);
    free(scratch);
}

static void check_rmsnorm_rope_swiglu(um_rng *r) {
    const int t = 5, d = 24, dh = 8, nh = 3;
    float *x = rnd(r, t * d, 2.0f), *w = rnd(r, d, 1.0f), *y = malloc(t * d * sizeof(float));
    um_rmsnorm(y, x, w, t, d, 1e-5f);
    double worst = 0;
    for (int i = 0; i < t; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
        double rr = 1 / sqrt(ss / d + 1e-5);
        for (int j = 0; j < d; j++) worst = fmax(worst, fabs(y[i * d + j] - x[i * d + j] * rr * w[j]));
    }
    CHECKF(worst < 1e-5, "rmsnorm max|d|=%g", worst);

    /* rope: rotate-half pairs (i, i + Dh/2), angle pos / theta^(2i/Dh) */
    float cs[16 * 4], sn[16 * 4];
    um_rope_tables(cs, sn, 16, dh, 10000.0f);
    int32_t pos[5] = {0, 3, 7, 15, 1};
    float *qv = rnd(r, t * nh * dh, 1.0f), *q0 = malloc(t * nh * dh * sizeof(float));
    memcpy(q0, qv, t * nh * dh * sizeof(float));
    um_rope(qv, t, nh, dh, pos, cs, sn);
    worst = 0;
    for (int i = 0; i < t; i++)
        for (int hh = 0; hh < nh; hh++)
            for (int e = 0; e < dh / 2; e++) {
                double ang = pos[i] / pow(10000.0, 2.0 * e / dh);
                const float *a = q0 + (i * nh + hh) * dh;
                double o1 = a[e] * cos(ang) - a[e + dh / 2] * sin(ang);
                double o2 = a[e + dh / 2] * cos(ang) + a[e] * sin(ang);
                worst = fmax(worst, fabs(qv[(i * nh + hh) * dh + e] - o1));
                worst = fmax(worst, fabs(qv[(i * nh + hh) * dh + e + dh / 2] - o2));
            }
    CHECKF(worst < 1e-5, "rope max|d|=%g", worst);

    float g[7] = {-3, -1, -0.5f, 0, 0.5f, 1, 3}, u[7] = {1, 2, 3, 4, 5, 6, 7}, a[7];
    um_swiglu(a, g, u, 7);
    worst = 0;
    for (int i = 0; i < 7; i++) worst = fmax(worst, fabs(a[i] - g[i] / (1 + exp(-g[i])) * u[i]));
    CHECKF(worst < 1e-6, "swiglu max|d|=%g", worst);
    free(x);
    free(w);
    free(y);
    free(qv);
    free(q0);
}

/* um_sgemm (OpenBLAS or portable) against the double-accumulating reference, all four
 * transpose combinations, odd shapes, padded leading dimensions, alpha and beta. */
static void check_sgemm(um_rng *r) {
    const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 31, 130}};
    for (size_t si = 0; si < 4; si++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
                const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1;
                float *a = rnd(r, (int64_t)(ta ? k : m) * lda, 1.0f);
                float *b = rnd(r, (int64_t)(tb ? n : k) * ldb, 1.0f);
                float *c1 = rnd(r, (int64_t)m * ldc, 1.0f), *c2 = malloc(sizeof(float) * m * ldc);
                memcpy(c2, c1, sizeof(float) * m * ldc);
                um_sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c1, ldc);
                um_sgemm_ref(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c2, ldc);
                double d = 0;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        d = fmax(d, fabs(c1[i * ldc + j] - c2[i * ldc + j]));
                CHECKF(d < 1e-5 * (k + 1), "sgemm %dx%dx%d ta=%d tb=%d max|d|=%g", m, n, k, ta,
                       tb, d);
                free(a);
                free(b);
                free(c1);
                free(c2);
            }
}

int main(void) {
    um_rng r;
    um_rng_seed(&r, 42, 0);
    check_sgemm(&r);
    check_rmsnorm_rope_swiglu(&r);
    const int shapes[][4] = {{1, 1, 1, 8},   {5, 4, 2, 10},  {17, 6, 2, 16}, {33, 4, 1, 72},
                             {100, 2, 2, 64}, {64, 8, 2, 128}, {130, 4, 4, 40}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int causal = 0; causal < 2; causal++)
            check_attention(&r, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], causal);
    return TEST_DONE();
}

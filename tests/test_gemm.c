/*
 * test_gemm.c: um_matmul and every compiled-in GEMM backend against um_matmul_ref, on odd
 * shapes (remainders in M, N and K, K across the K-block boundary), for f32/f16/bf16 weights
 * in FP32 and BF16 precision, with and without bias; and um_matmul_ref (FP32) itself against a
 * double-precision product.
 *
 * Tolerance for element (i, j): |y - ref| <= 1e-5 * sum_k |x_ik w_jk| + 1e-6, where in BF16
 * precision x and w are the bf16-rounded values: backends may only differ in summation order.
 */
#include "base/base.h"
#include "kernels/gemm-impl.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    int64_t m, n, k;
} shape;

static const shape shapes[] = {
    {1, 1, 1},     {1, 17, 33},  {3, 65, 31},   {17, 129, 257}, {64, 100, 300}, {2, 7, 600},
    {4, 5, 1025},  {5, 19, 47},  {33, 15, 513}, {40, 7, 1100},  {31, 30, 64},   {96, 29, 32},
    {1, 45, 2048}, {65, 14, 33}, {8, 3, 3},
};
enum { N_SHAPES = (int)(sizeof shapes / sizeof shapes[0]) };

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const char *dtname(enum um_dtype dt) {
    return dt == UM_DTYPE_F32 ? "f32" : dt == UM_DTYPE_F16 ? "f16" : "bf16";
}

static float round_bf16(float f) { return um_bf16_to_f32(um_f32_to_bf16(f)); }

/* Weights [n][k] in dtype, plus their exact fp32 values. */
static void *make_weights(enum um_dtype dt, int64_t n, int64_t k, float *exact) {
    size_t cnt = (size_t)(n * k);
    void *d = malloc(cnt * (dt == UM_DTYPE_F32 ? 4 : 2));
    for (size_t i = 0; i < cnt; i++) {
        float v = frand();
        if (dt == UM_DTYPE_F32) {
            ((float *)d)[i] = v;
            exact[i] = v;
        } else if (dt == UM_DTYPE_F16) {
            uint16_t h = um_f32_to_f16(v);
            ((uint16_t *)d)[i] = h;
            exact[i] = um_f16_to_f32(h);
        } else {
            uint16_t h = um_f32_to_bf16(v);
            ((uint16_t *)d)[i] = h;
            exact[i] = um_bf16_to_f32(h);
        }
    }
    return d;
}

/* Largest |y - ref| / tol over the output; also reports the abs diff and tol there. */
static double worst_ratio(const float *y, const float *ref, const float *x, const float *wex,
                          int64_t m, int64_t n, int64_t k, int bf, double *out_diff,
                          double *out_tol) {
    double worst = 0.0;
    *out_diff = *out_tol = 0.0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t l = 0; l < k; l++) {
                float a = x[i * k + l], b = wex[j * k + l];
                if (bf) {
                    a = round_bf16(a);
                    b = round_bf16(b);
                }
                s += fabs((double)a * (double)b);
            }
            double tol = 1e-5 * s + 1e-6;
            double d = fabs((double)y[i * n + j] - (double)ref[i * n + j]);
            if (isnan(d)) d = INFINITY;
            if (d / tol > worst || (worst == 0.0 && j == 0 && i == 0)) {
                worst = d / tol;
                *out_diff = d;
                *out_tol = tol;
            }
        }
    return worst;
}

/* um_matmul_ref in FP32 against a double-precision product. */
static void test_ref_vs_double(void) {
    double worst = 0.0;
    for (int s = 0; s < N_SHAPES; s++) {
        const int64_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        float *x = malloc(sizeof(float) * (size_t)(m * k));
        float *wex = malloc(sizeof(float) * (size_t)(n * k));
        float *bias = malloc(sizeof(float) * (size_t)n);
        float *y = malloc(sizeof(float) * (size_t)(m * n));
        for (int64_t i = 0; i < m * k; i++) x[i] = frand();
        for (int64_t j = 0; j < n; j++) bias[j] = frand();
        void *wd = make_weights(UM_DTYPE_BF16, n, k, wex);
        um_wmat w = {UM_DTYPE_BF16, wd, n, k};
        um_matmul_ref(&w, x, m, y, bias, UM_PRECISION_FP32);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double d = bias[j], a = 0.0;
                for (int64_t l = 0; l < k; l++) {
                    d += (double)x[i * k + l] * wex[j * k + l];
                    a += fabs((double)x[i * k + l] * wex[j * k + l]);
                }
                double r = fabs(y[i * n + j] - d) / (1e-5 * (a + fabs(bias[j])) + 1e-6);
                if (r > worst) worst = r;
            }
        free(x);
        free(wex);
        free(bias);
        free(y);
        free(wd);
    }
    printf("ref(fp32) vs double: worst |d|/tol = %.3g (tol = 1e-5 * sum|x w| + 1e-6)\n", worst);
    CHECKF(worst <= 1.0, "ref vs double worst ratio %g", worst);
}

/* One backend over all shapes for (dtype, prec); returns the worst ratio. */
static void test_backend(const char *label, um_gemm_fn fn, enum um_dtype dt,
                         enum um_precision prec) {
    const int bf = prec == UM_PRECISION_BF16;
    double worst = 0.0, wdiff = 0.0, wtol = 0.0;
    int wshape = 0;
    for (int s = 0; s < N_SHAPES; s++) {
        const int64_t m = shapes[s].m, n = shapes[s].n, k = shapes[s].k;
        float *x = malloc(sizeof(float) * (size_t)(m * k));
        float *wex = malloc(sizeof(float) * (size_t)(n * k));
        float *bias = malloc(sizeof(float) * (size_t)n);
        float *y = malloc(sizeof(float) * (size_t)(m * n));
        float *ref = malloc(sizeof(float) * (size_t)(m * n));
        for (int64_t i = 0; i < m * k; i++) x[i] = frand();
        for (int64_t j = 0; j < n; j++) bias[j] = frand();
        void *wd = make_weights(dt, n, k, wex);
        um_wmat w = {dt, wd, n, k};
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            const float *b = with_bias ? bias : NULL;
            for (int64_t i = 0; i < m * n; i++) y[i] = NAN; /* every element must be written */
            um_matmul_ref(&w, x, m, ref, b, prec);
            fn(&w, x, m, y, b, prec);
            double d, t;
            double r = worst_ratio(y, ref, x, wex, m, n, k, bf, &d, &t);
            if (r > worst || (s == 0 && with_bias == 0)) {
                worst = r;
                wdiff = d;
                wtol = t;
                wshape = s;
            }
            CHECKF(r <= 1.0, "%s dtype=%s prec=%s M=%lld N=%lld K=%lld bias=%d: |d|=%g tol=%g",
                   label, dtname(dt), bf ? "bf16" : "fp32", (long long)m, (long long)n,
                   (long long)k, with_bias, d, t);
        }
        free(x);
        free(wex);
        free(bias);
        free(y);
        free(ref);
        free(wd);
    }
    printf("%-10s dtype=%-4s prec=%s: worst max|d|=%.3g tol=%.3g ratio=%.3g (at %lldx%lldx%lld)\n",
           label, dtname(dt), bf ? "bf16" : "fp32", wdiff, wtol, worst,
           (long long)shapes[wshape].m, (long long)shapes[wshape].n,
           (long long)shapes[wshape].k);
}

/* Sanity of the tolerance itself: an error the size of one bf16 rounding must fail it. */
static void test_tolerance_detects(void) {
    float x[4] = {1, 2, 3, 4}, wex[4] = {0.5f, 0.25f, 1, 1}, ref = 0, y;
    for (int l = 0; l < 4; l++) ref += x[l] * wex[l];
    y = ref * (1.0f + 1.0f / 256);
    double d, t;
    CHECK(worst_ratio(&y, &ref, x, wex, 1, 1, 4, 0, &d, &t) > 1.0);
}

int main(void) {
    const enum um_dtype dts[3] = {UM_DTYPE_F32, UM_DTYPE_F16, UM_DTYPE_BF16};
    const enum um_precision precs[2] = {UM_PRECISION_FP32, UM_PRECISION_BF16};
    test_tolerance_detects();
    test_ref_vs_double();
    for (int p = 0; p < 2; p++)
        for (int d = 0; d < 3; d++) {
            printf("default backend for dtype=%s prec=%s: %s\n", dtname(dts[d]),
                   p ? "bf16" : "fp32", um_matmul_backend(dts[d], precs[p]));
            CHECK(um_matmul_backend(dts[d], precs[p]) != NULL);
            test_backend("um_matmul", um_matmul, dts[d], precs[p]);
            for (int i = 1; i < um_gemm_n_backends(); i++) {
                const um_gemm_backend *be = um_gemm_backend_at(i);
                if (!be->supports(dts[d], precs[p])) continue;
                test_backend(be->name, be->fn, dts[d], precs[p]);
            }
        }
    /* The same through one thread and through three (uneven splits). */
    for (int th = 1; th <= 3; th += 2) {
        um_set_threads(th);
        printf("threads=%d\n", th);
        for (int i = 1; i < um_gemm_n_backends(); i++) {
            const um_gemm_backend *be = um_gemm_backend_at(i);
            if (be->supports(UM_DTYPE_BF16, UM_PRECISION_BF16))
                test_backend(be->name, be->fn, UM_DTYPE_BF16, UM_PRECISION_BF16);
            if (be->supports(UM_DTYPE_F16, UM_PRECISION_FP32))
                test_backend(be->name, be->fn, UM_DTYPE_F16, UM_PRECISION_FP32);
        }
    }
    return TEST_DONE();
}

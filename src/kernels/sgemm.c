/*
 * sgemm.c: general fp32 matrix product (kernels.h, um_sgemm) for training: OpenBLAS's
 * cblas_sgemm when available, otherwise a portable loop parallelised over rows of C. The
 * inference GEMM (um_matmul, gemm.c) stays separate: it handles 16-bit weights and picks
 * backends by measurement; this one is plain fp32 with transposes.
 */
#include "kernels/kernels.h"

#include "base/base.h"

#include <stdlib.h>
#ifdef UM_HAVE_OPENBLAS
#include <cblas.h>
#endif

static inline float el(const float *x, bool t, int64_t ld, int64_t i, int64_t j) {
    return t ? x[j * ld + i] : x[i * ld + j]; /* element (i, j) of op(x) */
}

void um_sgemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (double)el(a, trans_a, lda, i, p) * el(b, trans_b, ldb, p, j);
            float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s) + prev;
        }
}

void um_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc) {
    if (m <= 0 || n <= 0) return;
#ifdef UM_HAVE_OPENBLAS
    /* The inference GEMM sets OpenBLAS to one thread around its own per-thread calls, so set
     * the count every call. */
    openblas_set_num_threads(um_get_threads());
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, (int)lda, b,
                (int)ldb, beta, c, (int)ldc);
#else
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j++) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
        for (int64_t p = 0; p < k; p++) {
            const float av = alpha * el(a, trans_a, lda, i, p);
            if (!trans_b) {
                const float *bp = b + p * ldb;
                for (int64_t j = 0; j < n; j++) ci[j] += av * bp[j];
            } else {
                for (int64_t j = 0; j < n; j++) ci[j] += av * b[j * ldb + p];
            }
        }
    }
#endif
}

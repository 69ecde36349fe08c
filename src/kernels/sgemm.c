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
#ifdef _OPENMP
#include <omp.h>
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

/* um_sgemm on the calling thread only (inside the OpenMP region below; OpenBLAS's own
 * threads off). */
static void sgemm_1t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
#ifdef UM_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
#else
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j++) ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
        for (int64_t p = 0; p < k; p++) {
            const float av = alpha * el(a, ta, lda, i, p);
            for (int64_t j = 0; j < n; j++) ci[j] += av * el(b, tb, ldb, p, j);
        }
    }
#endif
}

static void single_thread_backend(void) {
#ifdef UM_HAVE_OPENBLAS
    openblas_set_num_threads(1);
#endif
}

void um_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    /* A multi-threaded BLAS would fight the OpenMP threads for the cores (measured: 1.6 s vs
     * 0.85 s per training step on 2 cores), so the backend runs single-threaded on slices of
     * 16 rows of C (or columns, when C is wide) split over the OpenMP threads. */
    single_thread_backend();
    const bool by_rows = m >= n;
    const int64_t dim = by_rows ? m : n, units = (dim + 15) / 16;
#pragma omp parallel num_threads(um_get_threads())
    {
        int t = 0, nth = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        int64_t i0 = units * t / nth * 16, i1 = units * (t + 1) / nth * 16;
        if (i1 > dim) i1 = dim;
        if (i1 > i0) {
            if (by_rows) /* rows i0..i1 of op(A) and of C */
                sgemm_1t(trans_a, trans_b, i1 - i0, n, k, alpha,
                         trans_a ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc);
            else /* columns i0..i1 of op(B) and of C */
                sgemm_1t(trans_a, trans_b, m, i1 - i0, k, alpha, a, lda,
                         trans_b ? b + i0 * ldb : b + i0, ldb, beta, c + i0, ldc);
        }
    }
}

/*
 * gemm_blas.c: the "openblas" GEMM backend (FP32 precision only): y = x W^T + bias through
 * cblas_sgemm. Each OpenMP thread owns an even share of W's rows (and so of y's columns); f32
 * weights are passed in place, f16/bf16 weights are widened exactly to fp32 in panels of at
 * most PANEL_BYTES per thread (one scratch buffer of the caller, a slice per thread), one
 * single-threaded sgemm per panel.
 * OpenBLAS's own thread pool is set to 1 thread so it does not compete with OpenMP.
 * Compiled only with UM_HAVE_OPENBLAS.
 */
#ifdef UM_HAVE_OPENBLAS

#include "kernels/gemm-impl.h"

#include "base/base.h"

#include <cblas.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define PANEL_BYTES ((size_t)8 << 20)

void um_gemm_blas(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                  enum um_precision prec) {
    const int64_t n_out = w->n, k_in = w->k;
    (void)prec; /* FP32 only (see supports in gemm.c) */
    if (m <= 0 || n_out <= 0) return;
    if (k_in <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n_out; j++) y[i * n_out + j] = bias ? bias[j] : 0.0f;
        return;
    }
    openblas_set_num_threads(1);
    int64_t np_max = (int64_t)(PANEL_BYTES / ((size_t)k_in * sizeof(float)));
    if (np_max < 16) np_max = 16;
    const int n_thr = um_get_threads();
    if (np_max > n_out) np_max = n_out;
    float *wp_all = NULL;
    if (w->dtype != UM_DTYPE_F32) {
        wp_all = um_gemm_scratch(1, (size_t)n_thr * (size_t)np_max * (size_t)k_in * 4);
        if (!wp_all) {
            um_gemm_portable(w, x, m, y, bias, prec);
            return;
        }
    }
#pragma omp parallel num_threads(n_thr)
    {
        int t = 0, nth = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        /* Split rows in multiples of 16 so panels stay aligned to cache lines of y. */
        const int64_t n_units = (n_out + 15) / 16;
        int64_t n0 = n_units * t / nth * 16, n1 = n_units * (t + 1) / nth * 16;
        if (n1 > n_out) n1 = n_out;
        if (w->dtype == UM_DTYPE_F32) {
            if (n1 > n0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)(n1 - n0),
                            (int)k_in, 1.0f, x, (int)k_in, (const float *)w->data + n0 * k_in,
                            (int)k_in, 0.0f, y + n0, (int)n_out);
        } else {
            float *wp = wp_all + (size_t)t * (size_t)np_max * (size_t)k_in;
            for (int64_t p = n0; p < n1; p += np_max) {
                const int64_t np = n1 - p < np_max ? n1 - p : np_max;
                const char *src = (const char *)w->data + (size_t)p * (size_t)k_in * 2;
                for (int64_t r = 0; r < np; r++)
                    um_gemm_widen_row(w->dtype, src + (size_t)r * (size_t)k_in * 2, 0, k_in,
                                      wp + r * k_in, 0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)np,
                            (int)k_in, 1.0f, x, (int)k_in, wp, (int)k_in, 0.0f, y + p,
                            (int)n_out);
            }
        }
        if (bias)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = n0; j < n1; j++) y[i * n_out + j] += bias[j];
    }
}

#else
typedef int um_gemm_blas_not_built; /* ISO C forbids an empty translation unit */
#endif

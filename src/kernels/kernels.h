/*
 * kernels.h: compute kernels of the forward pass. Private to the library.
 *
 * Matrices are row-major. A weight matrix is stored as in PyTorch's nn.Linear: W[N][K] (N
 * outputs, K inputs) in its file dtype (f32, f16 or bf16), and y = x W^T.
 *
 * Threading: kernels parallelise internally with OpenMP (um_get_threads() threads); callers
 * call them from one thread. Kernels allocate nothing per call except the GEMM backend's
 * per-thread packing buffers, which are allocated once and reused.
 *
 * Every optimised kernel has a scalar reference (*_ref) that tests compare against.
 */
#ifndef UM_KERNELS_H
#define UM_KERNELS_H

#include "unmask.h"

#include <stdint.h>

typedef struct um_wmat {
    enum um_dtype dtype;
    const void *data; /* [n][k] in dtype */
    int64_t n;        /* N: output features (rows) */
    int64_t k;        /* K: input features (columns) */
} um_wmat;

/* y[M][N] = x[M][K] . W[N][K]^T (+ bias[N] if bias != NULL).
 * UM_PRECISION_FP32: fp32 activations, weights widened exactly to fp32, fp32 accumulation.
 * UM_PRECISION_BF16: x rounded to bf16, bf16 products (weights rounded to bf16 if they are not
 * already), fp32 accumulation.
 * The backend (own AVX-512 kernels, OpenBLAS, oneDNN) is chosen by measurement; see gemm.c. */
void um_matmul(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
               enum um_precision prec);
/* Scalar reference: double accumulation is NOT used; plain fp32 dot products in k order. */
void um_matmul_ref(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                   enum um_precision prec);

/* Name of the backend um_matmul uses for this (dtype, precision), for reports. */
const char *um_matmul_backend(enum um_dtype dtype, enum um_precision prec);

/* General fp32 GEMM, row-major: C[M][N] = alpha * op(A) . op(B) + beta * C, where op(A) is
 * A[M][K] (trans_a false, lda >= K) or A^T with A stored [K][M] (trans_a true, lda >= M), and
 * op(B) is B[K][N] (trans_b false, ldb >= N) or B^T with B stored [N][K] (ldb >= K).
 * OpenBLAS when built with it (single-threaded slices over um_get_threads() OpenMP threads),
 * else a portable loop.
 * Used by the backward pass and by Newton-Schulz orthogonalisation. */
void um_sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc);
/* Scalar reference of um_sgemm (double accumulation) for tests. */
void um_sgemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc);

#endif /* UM_KERNELS_H */

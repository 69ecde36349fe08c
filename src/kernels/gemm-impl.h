/*
 * gemm-impl.h: the GEMM backends behind um_matmul (kernels.h), private to src/kernels, tests
 * and benchmarks.
 *
 * Every backend computes the same thing as um_matmul_ref: y[M][N] = x[M][K] . W[N][K]^T
 * (+ bias[N]), row-major, y not aliasing x, W or bias. They differ only in summation order
 * (and, in UM_PRECISION_BF16, in how denormal inputs are flushed by the hardware). A backend
 * may support only some (dtype, precision) pairs; `supports` says which on this CPU and build.
 *
 * The table is fixed at build time; which backend um_matmul uses is decided in gemm.c from
 * measurements (bench/bench_gemm.c).
 */
#ifndef UM_GEMM_IMPL_H
#define UM_GEMM_IMPL_H

#include "kernels/kernels.h"

#include <stdint.h>

/* One implementation of um_matmul's contract. */
typedef void (*um_gemm_fn)(const um_wmat *w, const float *x /* [M][K] */, int64_t m,
                           float *y /* [M][N] */, const float *bias /* [N] or NULL */,
                           enum um_precision prec);

typedef struct um_gemm_backend {
    const char *name; /* short static name, e.g. "avx512-bf16" */
    /* 1 when this backend can run (dtype, prec) on this CPU in this build. */
    int (*supports)(enum um_dtype dtype, enum um_precision prec);
    um_gemm_fn fn;
} um_gemm_backend;

/* All backends compiled in (whether or not this CPU runs them), in a fixed order; index 0 is
 * the scalar reference. The table is static; the pointers stay valid for the process. */
int um_gemm_n_backends(void);
const um_gemm_backend *um_gemm_backend_at(int i);
/* The backend um_matmul picks for this weight, precision and M; never NULL (falls back to
 * portable C). */
const um_gemm_backend *um_gemm_choose(const um_wmat *w, enum um_precision prec, int64_t m);

/* At or below this M the AVX-512 backend uses its dot-product path (decode-sized batches). */
#define UM_GEMM_SMALL_M 24

/* 1 when the CPU has AVX-512F/BW/VL (and, for avx512bf16, AVX512_BF16): cpuid, cached. */
int um_cpu_has_avx512(void);
int um_cpu_has_avx512bf16(void);

/* ---- Backends (each file defines its own; those not built are absent from the table). */

/* gemm.c: portable C, blocked and threaded; any CPU. */
void um_gemm_portable(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                      enum um_precision prec);

/* gemm_avx512.c: own microkernels. FP32: weights widened to fp32, FMA. BF16: vdpbf16ps. */
void um_gemm_avx512(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                    enum um_precision prec);

#ifdef UM_HAVE_OPENBLAS
/* gemm_blas.c: FP32 only. Weights widened per thread in panels, then single-threaded
 * cblas_sgemm per panel (f32 weights are used in place). */
void um_gemm_blas(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                  enum um_precision prec);
#endif

#ifdef UM_HAVE_DNNL
/* gemm_dnnl.c: oneDNN matmul. BF16: bf16 x bf16 -> f32 (bf16 weights used in place as a
 * transposed (K,N) view; f32/f16 weights rounded to bf16 in panels). FP32: f32 x f32 -> f32
 * (f32 weights in place, f16/bf16 widened in panels). Primitives are cached by shape. */
void um_gemm_dnnl(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                  enum um_precision prec);
#endif

/* ---- Shared helpers (gemm.c). */

/* A growable buffer owned by the calling thread, 64-byte aligned, for packing; `slot` (0..3)
 * picks one of a few independent buffers. Grows, never shrinks; freed when the thread exits.
 * The pointer is valid until the next call with the same slot on the same thread. NULL on
 * allocation failure (callers then fall back to the portable path). Call it from the thread
 * that calls um_matmul, not from OpenMP workers (whose lifetime the library does not own). */
void *um_gemm_scratch(int slot, size_t bytes);

/* Widen n elements of a row in `dtype` (starting at element `off`) to fp32; bf16-round them
 * when `to_bf16` (storing the rounded values as floats). Uses AVX-512 when the CPU has it. */
void um_gemm_widen_row(enum um_dtype dtype, const void *row, int64_t off, int64_t n, float *out,
                       int to_bf16);
/* Convert n elements of a row (from element `off`) to bf16, rounding to nearest even. */
void um_gemm_bf16_row(enum um_dtype dtype, const void *row, int64_t off, int64_t n,
                      uint16_t *out);
/* The AVX-512 versions (gemm_avx512.c; only call when um_cpu_has_avx512()). The bf16 one
 * uses vcvtne2ps2bf16 when the CPU has AVX512_BF16 (denormal inputs flush to zero). */
void um_gemm_widen_row_avx512(enum um_dtype dtype, const void *row, int64_t off, int64_t n,
                              float *out);
void um_gemm_bf16_row_avx512(enum um_dtype dtype, const void *row, int64_t off, int64_t n,
                             uint16_t *out);

#endif /* UM_GEMM_IMPL_H */

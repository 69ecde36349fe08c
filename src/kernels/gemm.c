/*
 * gemm.c: um_matmul (y = x W^T + bias) — the scalar reference, a portable blocked fallback,
 * the backend table and the per-(dtype, precision) dispatch, chosen by measurement.
 *
 * Backends (gemm-impl.h): "ref" (um_matmul_ref), "portable" (this file), "avx512-fp32" /
 * "avx512-bf16" (gemm_avx512.c), "openblas+widen" (gemm_blas.c), "dnnl-bf16" / "dnnl-fp32"
 * (gemm_dnnl.c).
 *
 * Measurements (bench/bench_gemm.c, Zen 4, OMP_NUM_THREADS=2, medians of interleaved runs;
 * the machine was shared with other jobs, so single numbers vary by up to ~2x between runs and
 * only same-run comparisons were used). GFLOP/s, bf16 weights unless noted; "ceil" = raw
 * oneDNN bf16 matmul with pre-reordered weights / raw OpenBLAS sgemm on f32 data:
 *
 *   M    N     K     | bf16 ceil dnnl-bf16 avx512-bf16 | f32 ceil avx512-fp32 openblas+widen dnnl-fp32
 *   1    4096  4096  |   15.2      12.8      20.7      |   2.0       15.7         2.7          6.1
 *   4    4096  4096  |   70.1      57.6      71.3      |   7.8       59.5        11.3         32.2
 *   32   4096  4096  |  269.8     218.8     179.5      |  51.9      123.7        47.5         30.0
 *   32   12288 4096  |  297.4     221.2     178.6      |  56.2      114.1        65.2         30.8
 *   128  4096  4096  |  361.1     339.3     258.0      | 113.3      149.2       129.6         54.6
 *   128  12288 4096  |  377.7     361.5     283.8      | 125.7      144.1       121.9         85.6
 *   512  12288 4096  |  410.1     346.8     273.6      | 163.4      151.6       145.6        109.9
 *   512  4096  12288 |  404.5     381.0     301.1      | 170.3      146.6       147.4        124.9
 *   512  1536  512   |  375.4     319.6     324.6      |  93.3      175.4       137.5        176.0
 *   512  512   1536  |  373.0     339.7     246.2      |  81.6      131.8       139.9        177.1
 *   f32 weights, 512x4096x4096: dnnl-bf16 339 vs avx512-bf16 290; fp32: dnnl-fp32 202,
 *   openblas 173, avx512-fp32 159 (at M=128: 188 / 150 / 169). f16 weights, same shape:
 *   dnnl-bf16 370 vs avx512-bf16 300; avx512-fp32 165 vs openblas+widen 155.
 * Hence the DISPATCH below.
 */
#include "kernels/gemm-impl.h"

#include "base/base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------------------------------
 * Reference. */

/* Weight element (n, k) as fp32, exactly. */
static float w_at(const um_wmat *w, int64_t n, int64_t k) {
    int64_t i = n * w->k + k;
    switch (w->dtype) {
    case UM_DTYPE_F32: return ((const float *)w->data)[i];
    case UM_DTYPE_F16: return um_f16_to_f32(((const uint16_t *)w->data)[i]);
    case UM_DTYPE_BF16: return um_bf16_to_f32(((const uint16_t *)w->data)[i]);
    }
    return 0.0f;
}

static float round_bf16(float f) { return um_bf16_to_f32(um_f32_to_bf16(f)); }

/* Plain fp32 dot products in k order; in BF16 precision both operands are first rounded to
 * bf16 (round to nearest even), whose products are exact in fp32. */
void um_matmul_ref(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                   enum um_precision prec) {
    const int64_t n_out = w->n, k_in = w->k;
    const int bf = prec == UM_PRECISION_BF16;
    for (int64_t i = 0; i < m; i++) {
        const float *xi = x + i * k_in;
        for (int64_t j = 0; j < n_out; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < k_in; k++) {
                float a = xi[k], b = w_at(w, j, k);
                if (bf) {
                    a = round_bf16(a);
                    b = round_bf16(b);
                }
                s += a * b;
            }
            y[i * n_out + j] = s + (bias ? bias[j] : 0.0f);
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Scratch buffers and helpers. */

/* Per-thread scratch: a struct per thread behind a pthread key, whose destructor frees the
 * buffers when the thread exits (so threads that come and go leak nothing). */
#define N_SCRATCH 4
typedef struct scratch_set {
    void *ptr[N_SCRATCH];
    size_t cap[N_SCRATCH];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p) {
    scratch_set *s = p;
    for (int i = 0; i < N_SCRATCH; i++) free(s->ptr[i]);
    free(s);
}
static void scratch_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

void *um_gemm_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= N_SCRATCH) return NULL;
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok) return NULL;
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (bytes > s->cap[slot]) {
        size_t cap = bytes + bytes / 4;
        cap = (cap + 63) & ~(size_t)63;
        void *p = aligned_alloc(64, cap);
        if (!p) return NULL;
        free(s->ptr[slot]);
        s->ptr[slot] = p;
        s->cap[slot] = cap;
    }
    return s->ptr[slot];
}

void um_gemm_widen_row(enum um_dtype dtype, const void *row, int64_t off, int64_t n, float *out,
                       int to_bf16) {
    if (!to_bf16 && dtype != UM_DTYPE_F32 && um_cpu_has_avx512()) {
        um_gemm_widen_row_avx512(dtype, row, off, n, out);
        return;
    }
    switch (dtype) {
    case UM_DTYPE_F32: memcpy(out, (const float *)row + off, (size_t)n * sizeof(float)); break;
    case UM_DTYPE_F16: {
        const uint16_t *r = (const uint16_t *)row + off;
        for (int64_t k = 0; k < n; k++) out[k] = um_f16_to_f32(r[k]);
        break;
    }
    case UM_DTYPE_BF16: {
        const uint16_t *r = (const uint16_t *)row + off;
        for (int64_t k = 0; k < n; k++) out[k] = um_bf16_to_f32(r[k]);
        break;
    }
    }
    if (to_bf16)
        for (int64_t k = 0; k < n; k++) out[k] = round_bf16(out[k]);
}

void um_gemm_bf16_row(enum um_dtype dtype, const void *row, int64_t off, int64_t n,
                      uint16_t *out) {
    if (dtype == UM_DTYPE_BF16) {
        memcpy(out, (const uint16_t *)row + off, (size_t)n * 2);
        return;
    }
    if (um_cpu_has_avx512bf16()) {
        um_gemm_bf16_row_avx512(dtype, row, off, n, out);
        return;
    }
    for (int64_t k = 0; k < n; k++)
        out[k] = um_f32_to_bf16(dtype == UM_DTYPE_F32 ? ((const float *)row)[off + k]
                                                      : um_f16_to_f32(((const uint16_t *)row)[off + k]));
}

/* ---------------------------------------------------------------------------------------
 * Portable C fallback: threads over blocks of W rows; each block of PR rows is widened (and
 * in BF16 precision rounded) KB columns at a time into a stack buffer, then dotted with every
 * row of x using 8 partial sums (so the compiler can vectorise without reassociation flags). */

#define PR 4
#define KB 512

void um_gemm_portable(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                      enum um_precision prec) {
    const int64_t n_out = w->n, k_in = w->k;
    const int bf = prec == UM_PRECISION_BF16;
    const int64_t n_blocks = (n_out + PR - 1) / PR;
    if (m <= 0 || n_out <= 0) return;
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t nb = 0; nb < n_blocks; nb++) {
        float wb[PR][KB], xb[KB];
        const int64_t n0 = nb * PR;
        const int nr = (int)(n_out - n0 < PR ? n_out - n0 : PR);
        for (int64_t i = 0; i < m; i++)
            for (int r = 0; r < nr; r++) y[i * n_out + n0 + r] = bias ? bias[n0 + r] : 0.0f;
        for (int64_t k0 = 0; k0 < k_in; k0 += KB) {
            const int kb = (int)(k_in - k0 < KB ? k_in - k0 : KB);
            for (int r = 0; r < nr; r++) {
                const char *row = (const char *)w->data;
                size_t esz = w->dtype == UM_DTYPE_F32 ? 4 : 2;
                um_gemm_widen_row(w->dtype, row + (size_t)(n0 + r) * (size_t)k_in * esz, k0, kb,
                                  wb[r], bf);
            }
            for (int64_t i = 0; i < m; i++) {
                const float *xi = x + i * k_in + k0;
                const float *xs = xi;
                if (bf) {
                    for (int k = 0; k < kb; k++) xb[k] = round_bf16(xi[k]);
                    xs = xb;
                }
                for (int r = 0; r < nr; r++) {
                    float p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    int k = 0;
                    for (; k + 8 <= kb; k += 8)
                        for (int l = 0; l < 8; l++) p[l] += xs[k + l] * wb[r][k + l];
                    for (; k < kb; k++) p[0] += xs[k] * wb[r][k];
                    y[i * n_out + n0 + r] +=
                        ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * CPU features. gcc 12's __builtin_cpu_supports knows "avx512f" etc. but not "avx512bf16",
 * so that one is read from cpuid leaf 7 subleaf 1, EAX bit 5 (after checking the OS saves the
 * ZMM state through xgetbv). */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static int os_saves_zmm(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 0xe6u) == 0xe6u; /* XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM */
}

static int detect_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") && os_saves_zmm();
}

static int detect_avx512bf16(void) {
    unsigned a, b, c, d;
    if (!detect_avx512()) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 5) & 1u;
}
#else
static int detect_avx512(void) { return 0; }
static int detect_avx512bf16(void) { return 0; }
#endif

static int cpu_avx512 = -1, cpu_avx512bf16 = -1; /* -1: not yet probed (races are benign) */

int um_cpu_has_avx512(void) {
    if (cpu_avx512 < 0) cpu_avx512 = detect_avx512();
    return cpu_avx512;
}
int um_cpu_has_avx512bf16(void) {
    if (cpu_avx512bf16 < 0) cpu_avx512bf16 = detect_avx512bf16();
    return cpu_avx512bf16;
}

/* ---------------------------------------------------------------------------------------
 * Backend table. */

static int sup_all(enum um_dtype dt, enum um_precision p) {
    (void)dt;
    (void)p;
    return 1;
}
static int sup_avx512(enum um_dtype dt, enum um_precision p) {
    (void)dt;
    return p == UM_PRECISION_BF16 ? um_cpu_has_avx512bf16() : um_cpu_has_avx512();
}
#ifdef UM_HAVE_OPENBLAS
static int sup_blas(enum um_dtype dt, enum um_precision p) {
    (void)dt;
    return p == UM_PRECISION_FP32;
}
#endif
#ifdef UM_HAVE_DNNL
/* oneDNN's bf16 path needs AVX512_BF16 hardware to be fast, so it is only offered there. */
static int sup_dnnl(enum um_dtype dt, enum um_precision p) {
    (void)dt;
    return p == UM_PRECISION_FP32 || um_cpu_has_avx512bf16();
}
#endif

static const um_gemm_backend backends[] = {
    {"ref", sup_all, um_matmul_ref},
    {"portable", sup_all, um_gemm_portable},
    {"avx512", sup_avx512, um_gemm_avx512},
#ifdef UM_HAVE_OPENBLAS
    {"openblas", sup_blas, um_gemm_blas},
#endif
#ifdef UM_HAVE_DNNL
    {"dnnl", sup_dnnl, um_gemm_dnnl},
#endif
};
enum { N_BACKENDS = (int)(sizeof backends / sizeof backends[0]) };

int um_gemm_n_backends(void) { return N_BACKENDS; }
const um_gemm_backend *um_gemm_backend_at(int i) {
    return i >= 0 && i < N_BACKENDS ? &backends[i] : NULL;
}

static const um_gemm_backend *find_backend(const char *name) {
    for (int i = 0; i < N_BACKENDS; i++)
        if (!strcmp(backends[i].name, name)) return &backends[i];
    return NULL;
}

/* First backend of `pref` (names, NULL-terminated) that supports (dtype, prec). */
static const um_gemm_backend *first_supported(const char *const *pref, enum um_dtype dt,
                                              enum um_precision prec) {
    for (; *pref; pref++) {
        const um_gemm_backend *b = find_backend(*pref);
        if (b && b->supports(dt, prec)) return b;
    }
    return &backends[1];
}

/* DISPATCH (see the measurements at the top of this file):
 * - M <= UM_GEMM_SMALL_M: own AVX-512 dot-product path in both precisions (oneDNN and
 *   OpenBLAS are tuned for larger M and lose 1.3-8x there).
 * - BF16, N*K >= 2^18: oneDNN (bf16 weights in place, f32/f16 rounded in panels); it beats our
 *   vdpbf16ps tiles by 15-30% at M >= 32. Smaller matrices: own AVX-512.
 * - FP32, f16/bf16 weights: own AVX-512 tiles (widening into an L1/L2 panel), which matched
 *   or beat OpenBLAS on widened panels at most measured shapes. f32 weights: oneDNN f32 matmul
 *   in place (faster than OpenBLAS sgemm at M = 128 and 512), OpenBLAS without oneDNN. */
const um_gemm_backend *um_gemm_choose(const um_wmat *w, enum um_precision prec, int64_t m) {
    static const char *const own[] = {"avx512", "portable", NULL};
    static const char *const bf16_big[] = {"dnnl", "avx512", "portable", NULL};
    static const char *const fp32_f32[] = {"dnnl", "openblas", "avx512", "portable", NULL};
    static const char *const fp32_other[] = {"avx512", "openblas", "portable", NULL};
    const enum um_dtype dt = w->dtype;
    if (m <= UM_GEMM_SMALL_M) return first_supported(own, dt, prec);
    if (prec == UM_PRECISION_BF16)
        return first_supported(w->n * w->k >= ((int64_t)1 << 18) ? bf16_big : own, dt, prec);
    return first_supported(dt == UM_DTYPE_F32 ? fp32_f32 : fp32_other, dt, prec);
}

void um_matmul(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
               enum um_precision prec) {
    if (m <= 0 || w->n <= 0) return;
    um_gemm_choose(w, prec, m)->fn(w, x, m, y, bias, prec);
}

/* Reported for a typical prefill shape of an 8B model: M = 512, N = K = 4096. */
const char *um_matmul_backend(enum um_dtype dtype, enum um_precision prec) {
    const um_wmat w = {dtype, NULL, 4096, 4096};
    const um_gemm_backend *b = um_gemm_choose(&w, prec, 512);
    const int bf = prec == UM_PRECISION_BF16;
    if (!strcmp(b->name, "avx512")) return bf ? "avx512-bf16" : "avx512-fp32";
    if (!strcmp(b->name, "dnnl")) return bf ? "dnnl-bf16" : "dnnl-fp32";
    if (!strcmp(b->name, "openblas")) return dtype == UM_DTYPE_F32 ? "openblas" : "openblas+widen";
    return b->name;
}

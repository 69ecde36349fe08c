/*
 * gemm_dnnl.c: the "dnnl" GEMM backend: y = x W^T + bias through a oneDNN matmul primitive
 * (oneDNN 2.x C API). Compiled only with UM_HAVE_DNNL.
 *
 * BF16 precision: x is rounded to bf16 into the caller's scratch; bf16 weights are given to
 * oneDNN in place as the (K, N) matrix W^T with strides (1, K); f32/f16 weights are rounded to
 * bf16 in panels of at most PANEL_BYTES (so a 126k-row LM head needs no full-size copy), one
 * matmul per panel writing its columns of y (row stride N). FP32 precision: the same with f32
 * x and f32 weights (f16/bf16 widened exactly in panels). Accumulation is fp32 in both.
 *
 * oneDNN primitive creation costs milliseconds, so primitives (with their memory objects,
 * whose data handles are set per call) are kept in a small cache keyed by (M, N, K, ldy,
 * weight type, bias), replaced round-robin. One lock serialises calls; oneDNN itself runs
 * the matmul on the OpenMP threads (um_get_threads()).
 */
#ifdef UM_HAVE_DNNL

#include "kernels/gemm-impl.h"

#include "base/base.h"

#include <dnnl.h>
#include <pthread.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define PANEL_BYTES ((size_t)8 << 20)
#define CACHE_SIZE 64

typedef struct prim_entry {
    int64_t m, n, k, ldy;   /* key: shape, y row stride */
    int bf;                 /* key: bf16 (1) or f32 (0) inputs */
    int has_bias;           /* key */
    dnnl_primitive_t prim;  /* NULL: empty slot */
    dnnl_memory_t src, wei, bias, dst;
} prim_entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static int init_state; /* 0: not tried, 1: ready, -1: failed */
static prim_entry cache[CACHE_SIZE];
static int cache_next;

static int init_dnnl(void) {
    if (init_state == 0) {
        init_state = -1;
        if (dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success &&
            dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) == dnnl_success)
            init_state = 1;
    }
    return init_state == 1;
}

static void free_entry(prim_entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->src) dnnl_memory_destroy(e->src);
    if (e->wei) dnnl_memory_destroy(e->wei);
    if (e->bias) dnnl_memory_destroy(e->bias);
    if (e->dst) dnnl_memory_destroy(e->dst);
    memset(e, 0, sizeof *e);
}

/* The cached primitive for this key, created on a miss; NULL if oneDNN refuses the shape. */
static prim_entry *get_prim(int64_t m, int64_t n, int64_t k, int64_t ldy, int bf, int has_bias) {
    for (int i = 0; i < CACHE_SIZE; i++) {
        prim_entry *e = &cache[i];
        if (e->prim && e->m == m && e->n == n && e->k == k && e->ldy == ldy && e->bf == bf &&
            e->has_bias == has_bias)
            return e;
    }
    prim_entry *e = &cache[cache_next];
    cache_next = (cache_next + 1) % CACHE_SIZE;
    free_entry(e);

    const dnnl_data_type_t it = bf ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src_md, wei_md, bias_md, dst_md;
    dnnl_dims_t src_dims = {m, k}, src_str = {k, 1};
    dnnl_dims_t wei_dims = {k, n}, wei_str = {1, k}; /* W^T: element (kk, j) at j*K + kk */
    dnnl_dims_t dst_dims = {m, n}, dst_str = {ldy, 1};
    dnnl_dims_t bias_dims = {1, n}, bias_str = {n, 1};
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_memory_desc_init_by_strides(&src_md, 2, src_dims, it, src_str) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&wei_md, 2, wei_dims, it, wei_str) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&dst_md, 2, dst_dims, dnnl_f32, dst_str) !=
            dnnl_success ||
        dnnl_memory_desc_init_by_strides(&bias_md, 2, bias_dims, dnnl_f32, bias_str) !=
            dnnl_success)
        return NULL;
    if (dnnl_matmul_desc_init(&md, &src_md, &wei_md, has_bias ? &bias_md : NULL, &dst_md) !=
            dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL) != dnnl_success)
        return NULL;
    dnnl_status_t st = dnnl_primitive_create(&e->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        e->prim = NULL;
        return NULL;
    }
    if (dnnl_memory_create(&e->src, &src_md, engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&e->wei, &wei_md, engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&e->dst, &dst_md, engine, DNNL_MEMORY_NONE) != dnnl_success ||
        (has_bias &&
         dnnl_memory_create(&e->bias, &bias_md, engine, DNNL_MEMORY_NONE) != dnnl_success)) {
        free_entry(e);
        return NULL;
    }
    e->m = m;
    e->n = n;
    e->k = k;
    e->ldy = ldy;
    e->bf = bf;
    e->has_bias = has_bias;
    return e;
}

/* y[:, 0..n) (row stride ldy) = a . b^T (+ bias) with a [M][K], b [n][K] in bf16 or f32. */
static int run_prim(int64_t m, int64_t n, int64_t k, int64_t ldy, int bf, const void *a,
                    const void *b, const float *bias, float *y) {
    prim_entry *e = get_prim(m, n, k, ldy, bf, bias != NULL);
    if (!e) return 0;
    dnnl_memory_set_data_handle(e->src, (void *)a);
    dnnl_memory_set_data_handle(e->wei, (void *)b);
    dnnl_memory_set_data_handle(e->dst, y);
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->wei}, {DNNL_ARG_DST, e->dst}, {0, NULL}};
    int nargs = 3;
    if (bias) {
        dnnl_memory_set_data_handle(e->bias, (void *)bias);
        args[3].arg = DNNL_ARG_BIAS;
        args[3].memory = e->bias;
        nargs = 4;
    }
    if (dnnl_primitive_execute(e->prim, stream, nargs, args) != dnnl_success) return 0;
    return dnnl_stream_wait(stream) == dnnl_success;
}

static int gemm_locked(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                       int bf) {
    const int64_t n_out = w->n, k_in = w->k;
    const size_t es = w->dtype == UM_DTYPE_F32 ? 4 : 2;
    if (!init_dnnl()) return 0;
    const void *a = x;
    if (bf) {
        uint16_t *xb = um_gemm_scratch(1, (size_t)m * (size_t)k_in * 2);
        if (!xb) return 0;
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
        for (int64_t i = 0; i < m; i++)
            um_gemm_bf16_row(UM_DTYPE_F32, x + i * k_in, 0, k_in, xb + i * k_in);
        a = xb;
    }
    /* Weights usable in place: bf16 for BF16, f32 for FP32. */
    if ((bf && w->dtype == UM_DTYPE_BF16) || (!bf && w->dtype == UM_DTYPE_F32))
        return run_prim(m, n_out, k_in, n_out, bf, a, w->data, bias, y);
    /* Otherwise convert panels of rows. */
    const size_t osz = bf ? 2 : 4;
    int64_t np_max = (int64_t)(PANEL_BYTES / ((size_t)k_in * osz));
    if (np_max < 64) np_max = 64;
    if (np_max > n_out) np_max = n_out;
    void *wp = um_gemm_scratch(2, (size_t)np_max * (size_t)k_in * osz);
    if (!wp) return 0;
    for (int64_t p = 0; p < n_out; p += np_max) {
        const int64_t np = n_out - p < np_max ? n_out - p : np_max;
        const char *src = (const char *)w->data + (size_t)p * (size_t)k_in * es;
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
        for (int64_t r = 0; r < np; r++) {
            if (bf)
                um_gemm_bf16_row(w->dtype, src + (size_t)r * (size_t)k_in * es, 0, k_in,
                                 (uint16_t *)wp + r * k_in);
            else
                um_gemm_widen_row(w->dtype, src + (size_t)r * (size_t)k_in * es, 0, k_in,
                                  (float *)wp + r * k_in, 0);
        }
        if (!run_prim(m, np, k_in, n_out, bf, a, wp, bias ? bias + p : NULL, y + p)) return 0;
    }
    return 1;
}

void um_gemm_dnnl(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                  enum um_precision prec) {
    if (m <= 0 || w->n <= 0) return;
    int ok = 0;
    if (w->k > 0) {
        pthread_mutex_lock(&lock);
        ok = gemm_locked(w, x, m, y, bias, prec == UM_PRECISION_BF16);
        pthread_mutex_unlock(&lock);
    }
    if (!ok) um_gemm_portable(w, x, m, y, bias, prec);
}

#else
typedef int um_gemm_dnnl_not_built; /* ISO C forbids an empty translation unit */
#endif

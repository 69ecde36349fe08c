/*
 * bench_gemm.c: throughput of every GEMM backend (gemm-impl.h) and of um_matmul's default on
 * the model's shapes, next to two ceilings measured in the same run: a raw oneDNN bf16 x bf16
 * -> f32 matmul (weights pre-reordered to oneDNN's preferred blocked layout, and also plain)
 * and a raw multi-threaded OpenBLAS sgemm on f32 data.
 *
 * Every backend's result is checked against um_matmul_ref (on 3 rows of x for big shapes)
 * before it is timed; a mismatch prints "FAIL" and makes the exit status 1. Times are the
 * median of >= 5 runs after one warm-up; the runs of all candidates for a shape are
 * interleaved (round robin), so that load from other processes hits them alike and the
 * fractions of the ceilings stay meaningful on a shared machine. Output, one line each:
 *   gemm backend=NAME dtype=bf16 prec=bf16 M=512 N=4096 K=4096 gflops=312.5 median_ms=55.0
 *        frac_ceiling=0.87
 * where frac_ceiling is relative to the blocked oneDNN bf16 matmul (prec=bf16) or to the raw
 * OpenBLAS sgemm (prec=fp32) of the same shape.
 *
 * Usage: bench_gemm [--quick] [--lmhead] [--runs N] [--shape M,N,K]
 */
#include "base/base.h"
#include "kernels/gemm-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef UM_HAVE_DNNL
#include <dnnl.h>
#endif
#ifdef UM_HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct shape {
    int64_t m, n, k;
} shape;

static int n_runs = 5;
static int n_failed = 0;

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static float frand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *dtname(enum um_dtype dt) {
    return dt == UM_DTYPE_F32 ? "f32" : dt == UM_DTYPE_F16 ? "f16" : "bf16";
}

static void print_line(const char *backend, enum um_dtype dt, enum um_precision prec,
                       const shape *s, double sec, double ceiling_gflops) {
    double gf = 2.0 * (double)s->m * (double)s->n * (double)s->k / sec * 1e-9;
    printf("gemm backend=%s dtype=%s prec=%s M=%lld N=%lld K=%lld gflops=%.1f median_ms=%.3f",
           backend, dtname(dt), prec == UM_PRECISION_BF16 ? "bf16" : "fp32", (long long)s->m,
           (long long)s->n, (long long)s->k, gf, sec * 1e3);
    if (ceiling_gflops > 0) printf(" frac_ceiling=%.2f", gf / ceiling_gflops);
    printf("\n");
    fflush(stdout);
}

/* ---- Calls through a backend. */
typedef struct call_ctx {
    um_gemm_fn fn;
    const um_wmat *w;
    const float *x;
    int64_t m;
    float *y;
    const float *bias;
    enum um_precision prec;
} call_ctx;

static void do_call(void *p) {
    call_ctx *c = p;
    c->fn(c->w, c->x, c->m, c->y, c->bias, c->prec);
}

/* Check fn against the reference on up to 3 rows of x (all rows when small); 1 if within the
 * summation-order tolerance. */
static int check_backend(um_gemm_fn fn, const um_wmat *w, const float *x, int64_t m,
                         const float *bias, enum um_precision prec, float *y, float *yref) {
    const int64_t n = w->n, k = w->k;
    fn(w, x, m, y, bias, prec);
    int64_t rows[3] = {0, m / 2, m - 1};
    int n_rows = m >= 3 ? 3 : (int)m;
    if (m <= 3)
        for (int i = 0; i < n_rows; i++) rows[i] = i;
    const int bf = prec == UM_PRECISION_BF16;
    double worst = 0.0;
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + rows[r] * k;
        um_matmul_ref(w, xr, 1, yref, bias, prec);
        for (int64_t j = 0; j < n; j++) {
            /* sum |x w| bound, computed cheaply from the reference's own inputs */
            double s = 0.0;
            for (int64_t l = 0; l < k; l += 1) {
                float a = xr[l], b;
                if (w->dtype == UM_DTYPE_F32)
                    b = ((const float *)w->data)[j * k + l];
                else if (w->dtype == UM_DTYPE_BF16)
                    b = um_bf16_to_f32(((const uint16_t *)w->data)[j * k + l]);
                else
                    b = um_f16_to_f32(((const uint16_t *)w->data)[j * k + l]);
                if (bf) {
                    a = um_bf16_to_f32(um_f32_to_bf16(a));
                    b = um_bf16_to_f32(um_f32_to_bf16(b));
                }
                s += fabs((double)a * b);
            }
            double d = fabs((double)y[rows[r] * n + j] - yref[j]);
            double ratio = d / (1e-5 * s + 1e-6);
            if (!(ratio <= worst)) worst = isnan(ratio) ? INFINITY : ratio;
        }
    }
    return worst <= 1.0;
}

/* ---- Candidates: everything timed for one shape, interleaved. */
typedef struct cand {
    char name[96];
    enum um_dtype dt;
    enum um_precision prec;
    void (*fn)(void *);
    void *ctx;
    int ceiling; /* 1: the bf16 ceiling, 2: the fp32 ceiling, 0: a backend */
    double t[64]; /* seconds per round */
} cand;

#define MAX_CANDS 48
static cand cands[MAX_CANDS];
static call_ctx call_ctxs[MAX_CANDS];
static int n_cands;

static cand *add_cand(const char *name, enum um_dtype dt, enum um_precision prec,
                      void (*fn)(void *), void *ctx, int ceiling) {
    if (n_cands == MAX_CANDS) return NULL;
    cand *c = &cands[n_cands++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->dt = dt;
    c->prec = prec;
    c->fn = fn;
    c->ctx = ctx;
    c->ceiling = ceiling;
    return c;
}

static double median_of(double *t, int n) {
    qsort(t, (size_t)n, sizeof t[0], cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Warm up every candidate, then time rounds of all of them: at least n_runs rounds, more (up to
 * 63) while a round is short, so fast shapes get enough samples for a stable median. */
static int run_rounds(void) {
    for (int c = 0; c < n_cands; c++) cands[c].fn(cands[c].ctx);
    int r = 0;
    double t_start = um_time_sec();
    while (r < 63 && (r < n_runs || um_time_sec() - t_start < 0.5)) {
        for (int c = 0; c < n_cands; c++) {
            double t0 = um_time_sec();
            cands[c].fn(cands[c].ctx);
            cands[c].t[r] = um_time_sec() - t0;
        }
        r++;
    }
    return r;
}

/* Time all candidates (interleaved) and print their medians. */
static void run_cands(const shape *s) {
    const int n = run_rounds();
    double ceil_gf[3] = {0, 0, 0};
    double med[MAX_CANDS];
    const double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    for (int c = 0; c < n_cands; c++) {
        med[c] = median_of(cands[c].t, n);
        if (cands[c].ceiling) ceil_gf[cands[c].ceiling] = flops / med[c] * 1e-9;
    }
    for (int c = 0; c < n_cands; c++) {
        const double ceil =
            cands[c].ceiling ? 0 : ceil_gf[cands[c].prec == UM_PRECISION_BF16 ? 1 : 2];
        print_line(cands[c].name, cands[c].dt, cands[c].prec, s, med[c], ceil);
    }
}

/* ---- Raw ceilings. */
#ifdef UM_HAVE_OPENBLAS
typedef struct blas_ctx {
    const float *x, *w;
    float *y;
    int m, n, k;
} blas_ctx;
/* Multi-threaded OpenBLAS (its own pool, um_get_threads() threads) on f32 data. */
static void do_blas(void *p) {
    blas_ctx *c = p;
    openblas_set_num_threads(um_get_threads());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->m, c->n, c->k, 1.0f, c->x, c->k,
                c->w, c->k, 0.0f, c->y, c->n);
    openblas_set_num_threads(1);
}
#endif

#ifdef UM_HAVE_DNNL
typedef struct dnnl_ctx {
    dnnl_primitive_t prim;
    dnnl_primitive_desc_t pd;
    dnnl_stream_t stream;
    dnnl_memory_t msrc, mw, mdst;
    dnnl_exec_arg_t args[3];
} dnnl_ctx;
static void do_dnnl(void *p) {
    dnnl_ctx *c = p;
    dnnl_primitive_execute(c->prim, c->stream, 3, c->args);
    dnnl_stream_wait(c->stream);
}
#define DN(call)                                                                               \
    do {                                                                                       \
        if ((call) != dnnl_success) {                                                          \
            fprintf(stderr, "oneDNN call failed: %s\n", #call);                                \
            return 0;                                                                          \
        }                                                                                      \
    } while (0)
/* Raw bf16 x bf16 -> f32 matmul; blocked: weights reordered once (not timed) into the layout
 * oneDNN prefers; otherwise the plain (K, N) view with strides (1, K) of W[N][K]. */
static int raw_dnnl_setup(dnnl_ctx *c, const shape *s, const uint16_t *xb, const uint16_t *wb,
                          float *y, int blocked) {
    static dnnl_engine_t eng;
    static dnnl_stream_t strm;
    if (!eng) {
        DN(dnnl_engine_create(&eng, dnnl_cpu, 0));
        DN(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    }
    dnnl_memory_desc_t src_md, wplain_md, wany_md, dst_md;
    dnnl_dims_t sd = {s->m, s->k}, wd = {s->k, s->n}, dd = {s->m, s->n};
    dnnl_dims_t ws = {1, s->k};
    DN(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_bf16, dnnl_ab));
    DN(dnnl_memory_desc_init_by_strides(&wplain_md, 2, wd, dnnl_bf16, ws));
    DN(dnnl_memory_desc_init_by_tag(&wany_md, 2, wd, dnnl_bf16, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, &src_md, blocked ? &wany_md : &wplain_md, NULL, &dst_md));
    DN(dnnl_primitive_desc_create(&c->pd, &md, NULL, eng, NULL));
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(c->pd, dnnl_query_weights_md, 0);
    dnnl_memory_t mwplain;
    DN(dnnl_memory_create(&c->msrc, &src_md, eng, (void *)xb));
    DN(dnnl_memory_create(&mwplain, &wplain_md, eng, (void *)wb));
    DN(dnnl_memory_create(&c->mdst, &dst_md, eng, y));
    DN(dnnl_memory_create(&c->mw, wmd, eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t rprim;
    DN(dnnl_reorder_primitive_desc_create(&rpd, &wplain_md, eng, wmd, eng, NULL));
    DN(dnnl_primitive_create(&rprim, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, mwplain}, {DNNL_ARG_TO, c->mw}};
    DN(dnnl_primitive_execute(rprim, strm, 2, rargs));
    DN(dnnl_stream_wait(strm));
    dnnl_primitive_destroy(rprim);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_memory_destroy(mwplain);
    DN(dnnl_primitive_create(&c->prim, c->pd));
    c->stream = strm;
    c->args[0].arg = DNNL_ARG_SRC;
    c->args[0].memory = c->msrc;
    c->args[1].arg = DNNL_ARG_WEIGHTS;
    c->args[1].memory = c->mw;
    c->args[2].arg = DNNL_ARG_DST;
    c->args[2].memory = c->mdst;
    return 1;
}
static void raw_dnnl_free(dnnl_ctx *c) {
    dnnl_primitive_destroy(c->prim);
    dnnl_primitive_desc_destroy(c->pd);
    dnnl_memory_destroy(c->msrc);
    dnnl_memory_destroy(c->mw);
    dnnl_memory_destroy(c->mdst);
}
#endif

/* Name of a backend as it runs (dtype, prec). */
static const char *run_name(const um_gemm_backend *b, enum um_dtype dt, enum um_precision p,
                            char *buf, size_t cap) {
    const char *suffix = p == UM_PRECISION_BF16 ? "bf16" : "fp32";
    if (!strcmp(b->name, "openblas"))
        snprintf(buf, cap, "%s", dt == UM_DTYPE_F32 ? "openblas" : "openblas+widen");
    else
        snprintf(buf, cap, "%s-%s", b->name, suffix);
    return buf;
}

static void bench_shape(const shape *s, int quick, const enum um_dtype *dts, int n_dts) {
    const int64_t m = s->m, n = s->n, k = s->k;
    float *x = malloc(sizeof(float) * (size_t)(m * k));
    float *y = malloc(sizeof(float) * (size_t)(m * n));
    float *yref = malloc(sizeof(float) * (size_t)n);
    float *bias = malloc(sizeof(float) * (size_t)n);
    uint16_t *wb = malloc(2 * (size_t)(n * k));
    float *wf = malloc(sizeof(float) * (size_t)(n * k));
    uint16_t *xb = malloc(2 * (size_t)(m * k));
    void *wd[3] = {NULL, NULL, NULL};
    um_wmat wm[3];
    if (!x || !y || !yref || !bias || !wb || !wf || !xb) {
        fprintf(stderr, "out of memory for %lldx%lldx%lld\n", (long long)m, (long long)n,
                (long long)k);
        exit(1);
    }
    for (int64_t i = 0; i < m * k; i++) x[i] = frand();
    for (int64_t i = 0; i < n; i++) bias[i] = frand();
    for (int64_t i = 0; i < n * k; i++) wb[i] = um_f32_to_bf16(frand() * 0.05f);
    for (int64_t i = 0; i < n * k; i++) wf[i] = um_bf16_to_f32(wb[i]);
    for (int64_t i = 0; i < m * k; i++) xb[i] = um_f32_to_bf16(x[i]);
    n_cands = 0;

#ifdef UM_HAVE_DNNL
    dnnl_ctx dctx[2];
    int dok[2] = {0, 0};
    for (int blocked = 1; blocked >= 0; blocked--) {
        dok[blocked] = raw_dnnl_setup(&dctx[blocked], s, xb, wb, y, blocked);
        if (dok[blocked])
            add_cand(blocked ? "dnnl-raw-blocked" : "dnnl-raw-plain", UM_DTYPE_BF16,
                     UM_PRECISION_BF16, do_dnnl, &dctx[blocked], blocked ? 1 : 0);
    }
#endif
#ifdef UM_HAVE_OPENBLAS
    blas_ctx bctx = {x, wf, y, (int)m, (int)n, (int)k};
    add_cand("openblas-raw", UM_DTYPE_F32, UM_PRECISION_FP32, do_blas, &bctx, 2);
#endif

    for (int d = 0; d < n_dts; d++) {
        const enum um_dtype dt = dts[d];
        if (dt == UM_DTYPE_BF16)
            wd[d] = wb;
        else if (dt == UM_DTYPE_F32)
            wd[d] = wf;
        else {
            wd[d] = malloc(2 * (size_t)(n * k));
            if (!wd[d]) continue;
            for (int64_t i = 0; i < n * k; i++) ((uint16_t *)wd[d])[i] = um_f32_to_f16(wf[i]);
        }
        wm[d] = (um_wmat){dt, wd[d], n, k};
        for (int p = 0; p < 2; p++) {
            const enum um_precision prec = p ? UM_PRECISION_BF16 : UM_PRECISION_FP32;
            for (int i = 1; i < um_gemm_n_backends(); i++) {
                const um_gemm_backend *b = um_gemm_backend_at(i);
                if (!b->supports(dt, prec)) continue;
                if (!strcmp(b->name, "portable") && (quick || m * n * k > ((int64_t)1 << 28)))
                    continue; /* too slow to matter */
                char name[64];
                run_name(b, dt, prec, name, sizeof name);
                if (!check_backend(b->fn, &wm[d], x, m, bias, prec, y, yref)) {
                    printf("gemm backend=%s dtype=%s prec=%s M=%lld N=%lld K=%lld FAIL\n", name,
                           dtname(dt), p ? "bf16" : "fp32", (long long)m, (long long)n,
                           (long long)k);
                    n_failed++;
                    continue;
                }
                call_ctxs[n_cands] = (call_ctx){b->fn, &wm[d], x, m, y, bias, prec};
                add_cand(name, dt, prec, do_call, &call_ctxs[n_cands], 0);
            }
            /* The default, as um_matmul dispatches it. */
            char name[80], chosen[32];
            snprintf(name, sizeof name, "default(%s)",
                     run_name(um_gemm_choose(&wm[d], prec, m), dt, prec, chosen, sizeof chosen));
            call_ctxs[n_cands] = (call_ctx){um_matmul, &wm[d], x, m, y, bias, prec};
            add_cand(name, dt, prec, do_call, &call_ctxs[n_cands], 0);
        }
    }
    run_cands(s);
#ifdef UM_HAVE_DNNL
    for (int b = 0; b < 2; b++)
        if (dok[b]) raw_dnnl_free(&dctx[b]);
#endif
    for (int d = 0; d < n_dts; d++)
        if (wd[d] && wd[d] != wb && wd[d] != wf) free(wd[d]);
    free(x);
    free(y);
    free(yref);
    free(bias);
    free(wb);
    free(wf);
    free(xb);
}

int main(int argc, char **argv) {
    int quick = 0, lmhead = 0;
    shape custom = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--lmhead"))
            lmhead = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            n_runs = atoi(argv[++i]) < 5 ? 5 : atoi(argv[i]);
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            long long a, b, c;
            if (sscanf(argv[++i], "%lld,%lld,%lld", &a, &b, &c) == 3) custom = (shape){a, b, c};
        } else {
            fprintf(stderr, "usage: %s [--quick] [--lmhead] [--runs N] [--shape M,N,K]\n",
                    argv[0]);
            return 2;
        }
    }
    printf("# bench_gemm: threads=%d avx512=%d avx512bf16=%d\n", um_get_threads(),
           um_cpu_has_avx512(), um_cpu_has_avx512bf16());
    const enum um_dtype bf_only[1] = {UM_DTYPE_BF16};
    const enum um_dtype all_dts[3] = {UM_DTYPE_BF16, UM_DTYPE_F32, UM_DTYPE_F16};
    if (custom.m > 0) {
        bench_shape(&custom, quick, all_dts, 3);
        return n_failed ? 1 : 0;
    }
    static const shape quick_shapes[] = {{1, 4096, 4096}, {32, 4096, 4096}, {512, 4096, 4096},
                                         {512, 1536, 512}};
    static const shape full_shapes[] = {
        {1, 4096, 4096},    {4, 4096, 4096},    {32, 4096, 4096},  {32, 12288, 4096},
        {32, 4096, 12288},  {128, 4096, 4096},  {128, 12288, 4096}, {128, 4096, 12288},
        {512, 4096, 4096},  {512, 12288, 4096}, {512, 4096, 12288}, {512, 512, 512},
        {512, 1536, 512},   {512, 512, 1536},
    };
    const shape *sh = quick ? quick_shapes : full_shapes;
    int n_sh = quick ? (int)(sizeof quick_shapes / sizeof quick_shapes[0])
                     : (int)(sizeof full_shapes / sizeof full_shapes[0]);
    for (int i = 0; i < n_sh; i++) bench_shape(&sh[i], quick, bf_only, 1);
    if (!quick) {
        /* Other weight dtypes on one representative shape. */
        static const shape rep = {512, 4096, 4096};
        const enum um_dtype other[2] = {UM_DTYPE_F32, UM_DTYPE_F16};
        bench_shape(&rep, quick, other, 2);
    }
    if (lmhead) {
        static const shape lm = {32, 126464, 4096};
        bench_shape(&lm, quick, bf_only, 1);
    }
    return n_failed ? 1 : 0;
}

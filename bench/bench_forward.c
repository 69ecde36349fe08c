/*
 * bench_forward.c: whole-model forward throughput and peak memory.
 *
 * Writes random bf16 checkpoints in the LLaDA layout to a temp folder (through the same
 * safetensors writer and loader users get), then times um_forward at 32, 128, 256 and 512 tokens in
 * both precisions, logits for every row. Models:
 *   llada8b-2L  LLaDA-8B's layer shape (D 4096, 32 heads, F 12288) at 2 layers, vocab 32768
 *   small-60M   D 512, 8 layers, 8 heads, F 1536, vocab 32768 (~60M parameters)
 * In the same run it times a raw oneDNN bf16 x bf16 -> f32 matmul (M 512, N 4096, K 4096), the
 * ceiling the forward is reported against. Before timing, the bf16 forward is checked against
 * the fp32 forward (argmax agreement and relative difference are printed).
 *
 * Output lines (machine-readable):
 *   ceiling name=dnnl-bf16 M=.. N=.. K=.. gflops=..
 *   forward model=.. prec=.. T=.. median_ms=.. gflops=.. backend=..   (as measured)
 *   ... and at the end the same lines with frac_ceiling=.. appended
 *   memory model=.. peak_rss_mb=..
 * Usage: bench_forward [--quick] [--model llada8b-2L|small-60M] [--runs N]
 */
#include "base/base.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "unmask.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef UM_HAVE_DNNL
#include <dnnl.h>
#endif

struct shape {
    const char *name;
    int d, layers, heads, ff, vocab;
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Random bf16 tensor with std `sd` (uniform), from a Philox stream. */
static uint16_t *rand_bf16(um_rng *r, int64_t n, float sd) {
    uint16_t *p = malloc((size_t)n * sizeof *p);
    if (!p) return NULL;
    float a = sd * sqrtf(3.0f);
    for (int64_t i = 0; i < n; i++)
        p[i] = um_f32_to_bf16((float)(2.0 * um_rng_uniform(r) - 1.0) * a);
    return p;
}

static int write_model(const struct shape *s, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char cfg[1024];
    int n = snprintf(cfg, sizeof cfg,
                     "{\"architectures\": [\"LLaDAModelLM\"], \"model_type\": \"llada\", "
                     "\"d_model\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, \"n_layers\": %d, "
                     "\"mlp_hidden_size\": %d, \"vocab_size\": %d, \"embedding_size\": %d, "
                     "\"max_sequence_length\": 4096, \"rope_theta\": 500000.0, "
                     "\"rms_norm_eps\": 1e-05, \"weight_tying\": false, \"include_bias\": false, "
                     "\"mask_token_id\": %d, \"eos_token_id\": %d}",
                     s->d, s->heads, s->heads, s->layers, s->ff, s->vocab, s->vocab,
                     s->vocab - 1, s->vocab - 2);
    if (um_write_file_atomic(path, cfg, (size_t)n) != UM_OK) return -1;
    int nt = 3 + 9 * s->layers;
    um_st_write_tensor *t = calloc((size_t)nt, sizeof *t);
    char(*names)[96] = calloc((size_t)nt, sizeof *names);
    um_rng r;
    um_rng_seed(&r, 1234, 0);
    const int64_t D = s->d, F = s->ff, V = s->vocab;
    int k = 0;
#define ADD(nm, n0, n1, sd)                                                                    \
    do {                                                                                       \
        snprintf(names[k], sizeof names[k], "%s", nm);                                         \
        t[k].name = names[k];                                                                  \
        t[k].dtype = UM_DTYPE_BF16;                                                            \
        t[k].n_dims = (n1) ? 2 : 1;                                                            \
        t[k].shape[0] = n0;                                                                    \
        t[k].shape[1] = n1;                                                                    \
        t[k].data = rand_bf16(&r, (n0) * ((n1) ? (n1) : 1), sd);                               \
        k++;                                                                                   \
    } while (0)
    ADD("model.transformer.wte.weight", V, D, 1.0f);
    ADD("model.transformer.ln_f.weight", D, 0, 1.0f);
    ADD("model.transformer.ff_out.weight", V, D, 0.02f);
    char nm[96];
    for (int l = 0; l < s->layers; l++) {
        const char *mats[] = {"q_proj", "k_proj", "v_proj", "attn_out"};
        for (int j = 0; j < 4; j++) {
            snprintf(nm, sizeof nm, "model.transformer.blocks.%d.%s.weight", l, mats[j]);
            ADD(nm, D, D, 0.02f);
        }
        snprintf(nm, sizeof nm, "model.transformer.blocks.%d.attn_norm.weight", l);
        ADD(nm, D, 0, 1.0f);
        snprintf(nm, sizeof nm, "model.transformer.blocks.%d.ff_norm.weight", l);
        ADD(nm, D, 0, 1.0f);
        snprintf(nm, sizeof nm, "model.transformer.blocks.%d.ff_proj.weight", l);
        ADD(nm, F, D, 0.02f);
        snprintf(nm, sizeof nm, "model.transformer.blocks.%d.up_proj.weight", l);
        ADD(nm, F, D, 0.02f);
        snprintf(nm, sizeof nm, "model.transformer.blocks.%d.ff_out.weight", l);
        ADD(nm, D, F, 0.02f);
    }
#undef ADD
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    enum um_status st = um_st_write(path, t, k, NULL);
    for (int i = 0; i < k; i++) free((void *)t[i].data);
    free(t);
    free(names);
    if (st != UM_OK) fprintf(stderr, "bench_forward: %s\n", um_last_error());
    return st == UM_OK ? 0 : -1;
}

/* FLOPs of one forward over T tokens with logits for all T rows. */
static double forward_flops(const struct shape *s, int t) {
    double D = s->d, F = s->ff, T = t;
    double per_layer = 2.0 * T * (4 * D * D + 3 * D * F) + 4.0 * T * T * D;
    return s->layers * per_layer + 2.0 * T * D * s->vocab;
}

#ifdef UM_HAVE_DNNL
/* Raw oneDNN (2.x API) bf16 matmul: src [M,K] bf16, weights [K,N] bf16 in the layout oneDNN
 * prefers, dst [M,N] f32. Median GFLOP/s over `runs`. */
static double dnnl_ceiling(int m, int n, int k, int runs) {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success) return 0;
    dnnl_stream_create(&strm, eng, dnnl_stream_default_flags);
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t da = {m, k}, db = {k, n}, dc = {m, n};
    dnnl_memory_desc_init_by_tag(&a, 2, da, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, db, dnnl_bf16, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&c, 2, dc, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    double gf = 0;
    if (dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL) == dnnl_success &&
        dnnl_primitive_create(&prim, pd) == dnnl_success) {
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_memory_t ma, mb, mc;
        dnnl_memory_create(&ma, &a, eng, DNNL_MEMORY_ALLOCATE);
        dnnl_memory_create(&mb, wmd, eng, DNNL_MEMORY_ALLOCATE);
        dnnl_memory_create(&mc, &c, eng, DNNL_MEMORY_ALLOCATE);
        void *pa, *pb;
        dnnl_memory_get_data_handle(ma, &pa);
        dnnl_memory_get_data_handle(mb, &pb);
        memset(pa, 0x3c, dnnl_memory_desc_get_size(&a));
        memset(pb, 0x3c, dnnl_memory_desc_get_size(wmd));
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        double *ts = malloc((size_t)runs * sizeof *ts);
        for (int i = -3; i < runs; i++) { /* 3 warm-up runs */
            double t0 = um_time_sec();
            dnnl_primitive_execute(prim, strm, 3, args);
            dnnl_stream_wait(strm);
            if (i >= 0) ts[i] = um_time_sec() - t0;
        }
        gf = 2.0 * m * n * k / median(ts, runs) * 1e-9;
        free(ts);
        dnnl_memory_destroy(ma);
        dnnl_memory_destroy(mb);
        dnnl_memory_destroy(mc);
        dnnl_primitive_destroy(prim);
        dnnl_primitive_desc_destroy(pd);
    }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return gf;
}
#endif

static long peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* Check bf16 vs fp32 logits before timing; returns 0 when the fp32 run worked. */
static int check_precisions(um_model *m32, um_model *m16, int t) {
    const struct um_model_info *in = um_model_get_info(m32);
    int32_t *tok = malloc((size_t)t * sizeof *tok), *rows = malloc((size_t)t * sizeof *rows);
    float *a = malloc((size_t)t * (size_t)in->n_vocab * sizeof *a);
    float *b = malloc((size_t)t * (size_t)in->n_vocab * sizeof *b);
    for (int i = 0; i < t; i++) {
        tok[i] = (i * 7919) % in->n_vocab;
        rows[i] = i;
    }
    um_ctx *c32 = NULL, *c16 = NULL;
    int rc = -1;
    if (um_ctx_init(m32, t, &c32) == UM_OK && um_ctx_init(m16, t, &c16) == UM_OK &&
        um_forward(c32, tok, t, rows, t, a) == UM_OK &&
        um_forward(c16, tok, t, rows, t, b) == UM_OK) {
        double num = 0, den = 0;
        int agree = 0;
        for (int r = 0; r < t; r++) {
            const float *x = a + (int64_t)r * in->n_vocab, *y = b + (int64_t)r * in->n_vocab;
            int ax = 0, ay = 0;
            for (int v = 0; v < in->n_vocab; v++) {
                num += (double)(x[v] - y[v]) * (x[v] - y[v]);
                den += (double)x[v] * x[v];
                if (x[v] > x[ax]) ax = v;
                if (y[v] > y[ay]) ay = v;
            }
            agree += ax == ay;
        }
        printf("check T=%d bf16_vs_fp32_rel_l2=%.3g argmax_agree=%d/%d\n", t, sqrt(num / den),
               agree, t);
        rc = 0;
    } else {
        fprintf(stderr, "bench_forward: %s\n", um_last_error());
    }
    um_ctx_free(c32);
    um_ctx_free(c16);
    free(tok);
    free(rows);
    free(a);
    free(b);
    return rc;
}

int main(int argc, char **argv) {
    int runs = 5, quick = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            runs = 3;
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_forward [--quick] [--runs N] [--model NAME]\n");
            return 2;
        }
    }
    if (runs < 1) runs = 1;
    const struct shape shapes[] = {
        {"llada8b-2L", 4096, 2, 32, 12288, 32768},
        {"small-60M", 512, 8, 8, 1536, 32768},
    };
    /* The ceiling is measured before the models and again after them; fractions use the
     * higher of the two (the conservative choice). */
    double ceiling = 0;
#ifdef UM_HAVE_DNNL
    ceiling = dnnl_ceiling(512, 4096, 4096, 10);
    printf("ceiling name=dnnl-bf16 when=start M=512 N=4096 K=4096 gflops=%.1f\n", ceiling);
#endif
    const int lens[] = {32, 128, 256, 512};
    char lines[32][200];
    double gfs[32];
    int n_lines = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const struct shape *s = &shapes[si];
        if (only && strcmp(only, s->name)) continue;
        char dir[] = "/tmp/unmask_bench_XXXXXX";
        if (!mkdtemp(dir) || write_model(s, dir) != 0) return 1;
        struct um_model_params p32 = um_model_default_params(), p16 = p32;
        p16.precision = UM_PRECISION_BF16;
        um_model *m32 = NULL, *m16 = NULL;
        if (um_model_load(dir, &p32, &m32) != UM_OK || um_model_load(dir, &p16, &m16) != UM_OK) {
            fprintf(stderr, "bench_forward: %s\n", um_last_error());
            return 1;
        }
        if (check_precisions(m32, m16, 32) != 0) return 1;
        for (int pi = 0; pi < 2; pi++) {
            um_model *m = pi ? m16 : m32;
            enum um_precision prec = pi ? UM_PRECISION_BF16 : UM_PRECISION_FP32;
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                int t = lens[li];
                if (quick && t == 512 && s->d > 1024 && pi == 0) continue;
                um_ctx *ctx = NULL;
                if (um_ctx_init(m, t, &ctx) != UM_OK) return 1;
                int32_t *tok = malloc((size_t)t * sizeof *tok), *rows = malloc((size_t)t * 4);
                float *lg = malloc((size_t)t * (size_t)s->vocab * sizeof *lg);
                for (int i = 0; i < t; i++) {
                    tok[i] = (i * 31) % s->vocab;
                    rows[i] = i;
                }
                double *ts = malloc((size_t)runs * sizeof *ts);
                for (int r = -1; r < runs; r++) {
                    double t0 = um_time_sec();
                    if (um_forward(ctx, tok, t, rows, t, lg) != UM_OK) return 1;
                    if (r >= 0) ts[r] = um_time_sec() - t0;
                }
                double med = median(ts, runs);
                double gf = forward_flops(s, t) / med * 1e-9;
                snprintf(lines[n_lines], sizeof lines[n_lines],
                         "forward model=%s prec=%s T=%d median_ms=%.1f gflops=%.1f backend=%s",
                         s->name, pi ? "bf16" : "fp32", t, med * 1e3, gf,
                         um_matmul_backend(UM_DTYPE_BF16, prec));
                gfs[n_lines++] = gf;
                printf("%s\n", lines[n_lines - 1]);
                fflush(stdout);
                free(ts);
                free(tok);
                free(rows);
                free(lg);
                um_ctx_free(ctx);
            }
        }
        printf("memory model=%s peak_rss_mb=%ld\n", s->name, peak_rss_mb());
        um_model_free(m32);
        um_model_free(m16);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_forward: could not remove %s\n", dir);
    }
#ifdef UM_HAVE_DNNL
    double c2 = dnnl_ceiling(512, 4096, 4096, 10);
    printf("ceiling name=dnnl-bf16 when=end M=512 N=4096 K=4096 gflops=%.1f\n", c2);
    if (c2 > ceiling) ceiling = c2;
#endif
    for (int i = 0; i < n_lines; i++)
        printf("%s frac_ceiling=%.2f\n", lines[i], ceiling > 0 ? gfs[i] / ceiling : 0.0);
    return 0;
}

/*
 * bench_optim.c: step time of every optimiser (AdamW, Muon, LAMB, OrScale-LM) on parameter sets
 * shaped like a small LLaDA (D 512, L 8, F 1536, V 32768, untied head: ~61M parameters) and
 * like one LLaDA-8B layer (D 4096, F 12288: q/k/v/o, gate/up/down, two norms; ~218M).
 *
 * Before timing, each optimiser's first step is checked: every weight finite; AdamW's first
 * tensor (its first 4096 elements) against a scalar double-precision AdamW step; OrScale-LM's
 * first-step trust ratio equal to 1 (its calibration). A failure prints "FAIL" and makes the
 * exit status 1. Then `reps` timed steps of each, round robin over the four optimisers (all
 * on the same tensors: gradients fixed, weights drift), median and minimum reported.
 * Output, one line per optimiser and model, then the OrScale overhead ratios of the same run:
 *   optim name=adamw model=llada-small params=60817408 threads=2 median_ms=123.4 min_ms=120.1
 *   optim_overhead model=llada-small orscale_over_adamw=3.21 orscale_over_muon=1.01
 *
 * Usage: bench_optim [--threads N] [--reps N] [--model small|layer8b|all]
 * (layer8b: Newton-Schulz on a 4096 x 12288 matrix costs ~1 TFLOP per iteration, ~23 TFLOP
 * per Muon/OrScale step for the layer; on two cores a step takes minutes, so pass --reps 0
 * there: each optimiser's checked first step is then the one reported, reps=0.)
 */
#include "base/base.h"
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pset {
    const char *model;
    int n;
    struct um_optim_tensor t[128];
    char names[128][48];
    int64_t n_params;
};

static int n_failed = 0;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void add(struct pset *s, const char *name, enum um_param_kind kind, int64_t r,
                int64_t c) {
    int i = s->n++;
    snprintf(s->names[i], sizeof s->names[i], "%s", name);
    int64_t n = r * c;
    float *w = malloc((size_t)n * sizeof(float)), *g = malloc((size_t)n * sizeof(float));
    if (!w || !g) {
        fprintf(stderr, "bench_optim: out of memory for %s\n", name);
        exit(1);
    }
    float sw = kind == UM_PARAM_VECTOR ? 0.0f : 0.02f;
    for (int64_t j = 0; j < n; j++) {
        w[j] = (kind == UM_PARAM_VECTOR ? 1.0f : 0.0f) + sw * frand();
        g[j] = 1e-3f * frand();
    }
    s->t[i] = (struct um_optim_tensor){.name = s->names[i], .kind = kind, .rows = r, .cols = c,
                                       .w = w, .g = g};
    s->n_params += n;
}

static void layer(struct pset *s, int l, int64_t d, int64_t f) {
    char b[48];
    static const char *sq[4] = {"q", "k", "v", "o"};
    for (int i = 0; i < 4; i++) {
        snprintf(b, sizeof b, "blk.%d.attn_%s", l, sq[i]);
        add(s, b, UM_PARAM_MATRIX, d, d);
    }
    snprintf(b, sizeof b, "blk.%d.ffn_gate", l);
    add(s, b, UM_PARAM_MATRIX, f, d);
    snprintf(b, sizeof b, "blk.%d.ffn_up", l);
    add(s, b, UM_PARAM_MATRIX, f, d);
    snprintf(b, sizeof b, "blk.%d.ffn_down", l);
    add(s, b, UM_PARAM_MATRIX, d, f);
    snprintf(b, sizeof b, "blk.%d.attn_norm", l);
    add(s, b, UM_PARAM_VECTOR, d, 1);
    snprintf(b, sizeof b, "blk.%d.ffn_norm", l);
    add(s, b, UM_PARAM_VECTOR, d, 1);
}

static void pset_free(struct pset *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].w);
        free((void *)s->t[i].g);
    }
    s->n = 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Scalar double-precision AdamW step on the first k elements of tensor 0 (step 1). */
static bool check_adamw(const struct um_optim_params *p, const float *w0, const float *w1,
                        const float *g, int64_t k) {
    double bc1 = 1 - p->beta1, bc2 = 1 - p->beta2, maxrel = 0;
    for (int64_t i = 0; i < k; i++) {
        double m = (1 - p->beta1) * g[i], v = (1 - p->beta2) * (double)g[i] * g[i];
        double want = w0[i] * (1 - p->lr * p->weight_decay) -
                      p->lr * (m / bc1) / (sqrt(v / bc2) + p->eps);
        maxrel = fmax(maxrel, fabs(want - w1[i]) / fmax(fabs(want), 1e-3));
    }
    return maxrel < 1e-5;
}

/* Create optimiser `kind` on s and run its first step (the warm-up) with the checks. */
static um_optim *create_checked(struct pset *s, enum um_optim_kind kind, double *sec) {
    struct um_optim_params p = um_optim_default_params(kind);
    um_optim *o = NULL;
    if (um_optim_create(&p, s->t, s->n, &o) != UM_OK) {
        printf("FAIL optim create %d: %s\n", (int)kind, um_last_error());
        n_failed++;
        return NULL;
    }
    int64_t k = s->t[0].rows * s->t[0].cols < 4096 ? s->t[0].rows * s->t[0].cols : 4096;
    float *w0 = malloc((size_t)k * sizeof(float));
    memcpy(w0, s->t[0].w, (size_t)k * sizeof(float));
    double t0 = um_time_sec();
    bool ok = um_optim_step(o, 1.0) == UM_OK;
    *sec = um_time_sec() - t0;
    for (int i = 0; ok && i < s->n; i++)
        for (int64_t j = 0; j < s->t[i].rows * s->t[i].cols; j++)
            if (!isfinite(s->t[i].w[j])) {
                ok = false;
                break;
            }
    /* AdamW runs first, on the untouched initial weights */
    if (ok && kind == UM_OPTIM_ADAMW) ok = check_adamw(&p, w0, s->t[0].w, s->t[0].g, k);
    if (ok && kind == UM_OPTIM_ORSCALE) {
        int im = 0;
        while (im < s->n - 1 && s->t[im].kind != UM_PARAM_MATRIX) im++;
        struct um_optim_diag d;
        um_optim_diag_get(o, im, &d);
        ok = d.valid && fabs(d.ratio_raw - 1.0) < 1e-5;
    }
    free(w0);
    if (!ok) {
        printf("FAIL optim %s model=%s: first step check\n", um_optim_name(o), s->model);
        n_failed++;
    }
    return o;
}

/* All four optimisers on the same tensors (the weights drift; gradients stay fixed), timed
 * round robin so that load from other processes hits them alike. */
static void run_model(struct pset *s, int reps) {
    um_optim *o[4];
    double *ts[4], med[4];
    bool first_only = reps < 1; /* report the checked first step itself */
    if (reps < 1) reps = 1;
    for (int k = 0; k < 4; k++) {
        ts[k] = malloc((size_t)reps * sizeof(double));
        o[k] = create_checked(s, (enum um_optim_kind)k, &ts[k][0]);
    }
    for (int r = 0; r < reps && !first_only; r++)
        for (int k = 0; k < 4; k++) {
            double t0 = um_time_sec();
            if (o[k]) um_optim_step(o[k], 1.0);
            ts[k][r] = um_time_sec() - t0;
        }
    for (int k = 0; k < 4; k++) {
        qsort(ts[k], (size_t)reps, sizeof(double), cmp_double);
        med[k] = reps % 2 ? ts[k][reps / 2] : 0.5 * (ts[k][reps / 2 - 1] + ts[k][reps / 2]);
        printf("optim name=%s model=%s params=%lld threads=%d reps=%d median_ms=%.1f "
               "min_ms=%.1f\n",
               um_optim_name(o[k]), s->model, (long long)s->n_params, um_get_threads(),
               first_only ? 0 : reps,
               med[k] * 1e3, ts[k][0] * 1e3);
        um_optim_free(o[k]);
        free(ts[k]);
    }
    printf("optim_overhead model=%s orscale_over_adamw=%.3f orscale_over_muon=%.3f "
           "muon_over_adamw=%.3f lamb_over_adamw=%.3f\n",
           s->model, med[UM_OPTIM_ORSCALE] / med[UM_OPTIM_ADAMW],
           med[UM_OPTIM_ORSCALE] / med[UM_OPTIM_MUON], med[UM_OPTIM_MUON] / med[UM_OPTIM_ADAMW],
           med[UM_OPTIM_LAMB] / med[UM_OPTIM_ADAMW]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5;
    const char *model = "all";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else {
            fprintf(stderr, "usage: bench_optim [--threads N] [--reps N] "
                            "[--model small|layer8b|all]\n");
            return 2;
        }
    }
    um_set_threads(threads);
    static struct pset s;
    if (strcmp(model, "small") == 0 || strcmp(model, "all") == 0) {
        memset(&s, 0, sizeof s);
        s.model = "llada-small";
        add(&s, "tok_embeddings", UM_PARAM_EMBED, 32768, 512);
        for (int l = 0; l < 8; l++) layer(&s, l, 512, 1536);
        add(&s, "norm", UM_PARAM_VECTOR, 512, 1);
        add(&s, "lm_head", UM_PARAM_HEAD, 32768, 512);
        run_model(&s, reps);
        pset_free(&s);
    }
    if (strcmp(model, "layer8b") == 0 || strcmp(model, "all") == 0) {
        memset(&s, 0, sizeof s);
        s.model = "llada-8b-layer";
        layer(&s, 0, 4096, 12288);
        run_model(&s, reps);
        pset_free(&s);
    }
    return n_failed ? 1 : 0;
}

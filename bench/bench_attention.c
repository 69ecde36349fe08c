/*
 * bench_attention.c: flash attention (kernels/flash_attn.h) against the straightforward
 * implementations, forward and backward, at one LLaDA-8B-like head shape with fewer heads
 * (H = Hkv = 8, Dh = 128; LLaDA-8B has 32) and a full (bidirectional) mask, one sequence.
 *
 * Forward, per T in 512 .. 8192:
 *   flash     um_flash_fwd (dispatched ISA; UM_FLASH_ISA overrides)
 *   ref       um_flash_fwd_ref: scalar, one full score row per query (the naive algorithm)
 * Backward: flash um_flash_bwd, checked against the scalar um_flash_bwd_ref (untimed, up to
 * --check-bwd-max-t). (The T x T backward it replaced was removed after the measurement in
 * BENCHMARKS.md; its column there comes from commit 38a5513.)
 * Every output is checked against the reference before the timings are printed. FLOPs: forward 4 T^2 H Dh (QK^T and PV);
 * backward 10 T^2 H Dh (the FlashAttention-2 convention, 2.5x forward, recomputation not
 * counted). Times are medians of --runs runs; from T = 4096 of 3 runs without a warm-up run.
 * The naive ref: 3 runs at 2048, 1 from 4096, and from 2048 on
 * only the first T/8 query rows, timed and scaled by 8 ("ref-naive-x8").
 *
 * Output: a header with the command line, one machine-readable line per measurement
 *   attn dir=fwd|bwd impl=.. T=.. runs=.. median_ms=.. gflops=.. max_rel_err=..
 * and a table. Usage: bench_attention [--threads N] [--max-t T] [--runs N]
 *                                     [--check-bwd-max-t T]
 */
#include "base/base.h"
#include "kernels/flash_attn.h"
#include "kernels/ops_bwd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define H 8
#define HKV 8
#define DH 128

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static float *alloc_f(size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_attention: out of memory (%zu floats)\n", n);
        exit(1);
    }
    return p;
}

static float *rnd(um_rng *r, size_t n, float a) {
    float *p = alloc_f(n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(2 * um_rng_uniform(r) - 1) * a;
    return p;
}

static double rel_err(const float *a, const float *ref, size_t n) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double)a[i] - ref[i]));
        s = fmax(s, fabs((double)ref[i]));
    }
    return m / fmax(s, 1e-30);
}

struct row {
    const char *dir, *impl;
    int64_t t;
    int runs;
    double ms, gflops, err;
};
static struct row rows[64];
static int n_rows;

static void report(const char *dir, const char *impl, int64_t t, int runs, double ms,
                   double flops, double err) {
    struct row r = {dir, impl, t, runs, ms, flops / (ms * 1e6), err};
    rows[n_rows++] = r;
    printf("attn dir=%s impl=%s T=%lld runs=%d median_ms=%.2f gflops=%.2f max_rel_err=%.2g\n",
           dir, impl, (long long)t, runs, ms, r.gflops, err);
    fflush(stdout);
}

static double find_ms(const char *dir, const char *impl, int64_t t) {
    for (int i = 0; i < n_rows; i++)
        if (!strcmp(rows[i].dir, dir) && !strcmp(rows[i].impl, impl) && rows[i].t == t)
            return rows[i].ms;
    return NAN;
}

int main(int argc, char **argv) {
    int threads = 2, runs = 5;
    int64_t max_t = 8192, check_bwd_max_t = 1024;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-t") && i + 1 < argc) max_t = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check-bwd-max-t") && i + 1 < argc)
            check_bwd_max_t = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--max-t T] [--runs N] "
                    "[--check-bwd-max-t T]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 15) runs = 5;
    um_set_threads(threads);
    printf("# command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n# bench_attention: H=%d Hkv=%d Dh=%d mask=full B=1 threads=%d flash_isa=%s "
           "runs=%d\n", H, HKV, DH, threads, um_flash_isa_name(um_flash_isa()), runs);
    char flash_name[32];
    snprintf(flash_name, sizeof flash_name, "flash-%s", um_flash_isa_name(um_flash_isa()));

    um_rng rng;
    um_rng_seed(&rng, 7, 0);
    static const int64_t ts[] = {512, 1024, 2048, 4096, 8192};
    double times[15];
    for (size_t ti = 0; ti < sizeof ts / sizeof ts[0]; ti++) {
        const int64_t t = ts[ti];
        if (t > max_t) break;
        const size_t nq = (size_t)t * H * DH, nk = (size_t)t * HKV * DH, nl = (size_t)H * t;
        float *q = rnd(&rng, nq, 2.0f), *k = rnd(&rng, nk, 2.0f), *v = rnd(&rng, nk, 1.0f);
        float *dout = rnd(&rng, nq, 1.0f);
        float *out = alloc_f(nq), *out_ref = alloc_f(nq);
        float *lse = alloc_f(nl), *lse_ref = alloc_f(nl);
        float *scr = alloc_f(um_flash_bwd_scratch_floats(t, H, HKV, DH));
        const double fwd_flops = 4.0 * t * t * H * DH, bwd_flops = 10.0 * t * t * H * DH;

        /* naive reference first: its output is what the others are checked against. From
         * T = 2048 it runs on the first T/8 query rows only (every row costs the same under
         * the full mask) and its time is scaled by 8; the checks then cover those rows. */
        const int ref_runs = t >= 4096 ? 1 : t >= 2048 ? 3 : runs;
        const int64_t tq_ref = t >= 2048 ? t / 8 : t;
        const double ref_scale = (double)t / (double)tq_ref;
        for (int r = 0; r < ref_runs; r++) {
            const double t0 = now_ms();
            um_flash_fwd_ref(out_ref, lse_ref, q, k, v, 1, tq_ref, 0, t, H, HKV, DH, UM_MASK_FULL,
                             1, scr);
            times[r] = (now_ms() - t0) * ref_scale;
        }
        const double ms_ref = median(times, ref_runs);
        const size_t nq_chk = (size_t)tq_ref * H * DH;

        const int big = t >= 4096, nr = big && runs > 3 ? 3 : runs;
        if (!big)
            um_flash_fwd(out, lse, q, k, v, 1, t, 0, t, H, HKV, DH, UM_MASK_FULL, 1, scr);
        for (int r = 0; r < nr; r++) {
            const double t0 = now_ms();
            um_flash_fwd(out, lse, q, k, v, 1, t, 0, t, H, HKV, DH, UM_MASK_FULL, 1, scr);
            times[r] = now_ms() - t0;
        }
        const double ms_flash = median(times, nr);
        double lse_err = 0; /* lse is [H][T]; the ref wrote [H][tq_ref] */
        for (int hh = 0; hh < H; hh++)
            for (int64_t i = 0; i < tq_ref; i++)
                lse_err = fmax(lse_err, fabs(lse[hh * t + i] - lse_ref[hh * tq_ref + i]));
        const double err_flash = fmax(rel_err(out, out_ref, nq_chk), lse_err);

        report("fwd", tq_ref == t ? "ref-naive" : "ref-naive-x8", t, ref_runs, ms_ref, fwd_flops,
               0.0);
        report("fwd", flash_name, t, nr, ms_flash, fwd_flops, err_flash);

        /* backward: flash, checked against the scalar reference where it is affordable */
        float *dq = alloc_f(nq), *dk = alloc_f(nk), *dv = alloc_f(nk);
        if (!big)
            um_flash_bwd(dq, dk, dv, dout, out, lse, q, k, v, 1, t, H, HKV, DH, UM_MASK_FULL, 1,
                         scr);
        for (int r = 0; r < nr; r++) {
            const double t0 = now_ms();
            um_flash_bwd(dq, dk, dv, dout, out, lse, q, k, v, 1, t, H, HKV, DH, UM_MASK_FULL, 1,
                         scr);
            times[r] = now_ms() - t0;
        }
        const double ms_fb = median(times, nr);
        double err_fb = NAN;
        if (t <= check_bwd_max_t) {
            float *dq2 = alloc_f(nq), *dk2 = alloc_f(nk), *dv2 = alloc_f(nk);
            um_flash_bwd_ref(dq2, dk2, dv2, dout, out, lse, q, k, v, 1, t, H, HKV, DH,
                             UM_MASK_FULL, 1, scr);
            err_fb = fmax(rel_err(dq, dq2, nq), fmax(rel_err(dk, dk2, nk), rel_err(dv, dv2, nk)));
            free(dq2), free(dk2), free(dv2);
        }
        report("bwd", flash_name, t, nr, ms_fb, bwd_flops, err_fb);
        free(q), free(k), free(v), free(dout), free(out), free(out_ref);
        free(lse), free(lse_ref), free(scr), free(dq), free(dk), free(dv);
    }

    printf("\n| T | naive ref ms | %s ms | GFLOP/s flash | x naive | bwd flash ms | "
           "bwd GFLOP/s |\n", flash_name);
    printf("|---|---|---|---|---|---|---|\n");
    for (size_t ti = 0; ti < sizeof ts / sizeof ts[0] && ts[ti] <= max_t; ti++) {
        const int64_t t = ts[ti];
        const double mr = t >= 2048 ? find_ms("fwd", "ref-naive-x8", t)
                                    : find_ms("fwd", "ref-naive", t);
        const double mf = find_ms("fwd", flash_name, t);
        const double bf = find_ms("bwd", flash_name, t);
        printf("| %lld | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", (long long)t, mr, mf,
               4.0 * t * t * H * DH / (mf * 1e6), mr / mf, bf, 10.0 * t * t * H * DH / (bf * 1e6));
    }
    return 0;
}

/*
 * bench_train_step.c: training throughput of um_tmodel_step (forward + backward, gradients
 * accumulated) on a ~10M-parameter LLaDA-shaped model.
 *
 * Model: D 256, 8 layers, 8 heads (Dh 32), F 704, V 8192 (untied head) = 10.5M parameters.
 * Batch: B 8 x T 256 tokens, full attention, masked-diffusion-like weights (each position
 * selected with probability 1/2, weight 1/p), norm B*T. Threads: --threads (default 2).
 * Before timing, the uniform-logits check runs (head zeroed: loss must be ln V within 1e-5).
 *
 * Output (machine-readable):
 *   train_step model=llada-10M params=.. B=.. T=.. attn=.. threads=.. median_ms=.. tokens_per_s=..
 *   phase fwd_ms=.. (forward only, same batch)
 * Usage: bench_train_step [--threads N] [--runs N] [--B N] [--T N] [--attn full|bd3]
 */
#include "base/base.h"
#include "train/tmodel-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = 2, runs = 5, B = 8, T = 256;
    enum um_attn_kind kind = UM_ATTN_FULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--B")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--T")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--attn"))
            kind = !strcmp(argv[i + 1], "bd3") ? UM_ATTN_BD3 : UM_ATTN_FULL;
    }
    if (runs < 1 || runs > 100) runs = 5;
    um_set_threads(threads);
    struct um_model_info in;
    memset(&in, 0, sizeof in);
    in.family = UM_FAMILY_LLADA;
    in.n_vocab = 8192;
    in.n_embd = 256;
    in.n_layer = 8;
    in.n_head = 8;
    in.n_head_kv = 8;
    in.head_dim = 32;
    in.n_ff = 704;
    in.rope_theta = 10000.0f;
    in.norm_eps = 1e-5f;
    in.max_positions = 4096;
    in.mask_id = 8191;
    in.bos_id = in.eos_id = in.eot_id = in.pad_id = -1;
    um_tmodel *tm = NULL;
    if (um_tmodel_init(&in, B, T, 1, 0.02f, &tm) != UM_OK) {
        fprintf(stderr, "bench_train_step: %s\n", um_last_error());
        return 1;
    }
    const int64_t N = (int64_t)B * T;
    int32_t *tok = malloc((size_t)N * 4), *pos = malloc((size_t)N * 4), *tg = malloc((size_t)N * 4);
    float *w = malloc((size_t)N * 4);
    um_rng r;
    um_rng_seed(&r, 2, 0);
    for (int64_t i = 0; i < N; i++) {
        const int64_t t = i % T;
        pos[i] = (int32_t)(kind == UM_ATTN_BD3 ? t % (T / 2) : t);
        tg[i] = (int32_t)(um_rng_u32(&r) % 8000);
        const bool sel = um_rng_uniform(&r) < 0.5 && (kind != UM_ATTN_BD3 || t < T / 2);
        tok[i] = sel ? in.mask_id : tg[i];
        w[i] = sel ? 2.0f : 0.0f;
    }
    struct um_attn_spec as = {kind, 16};
    /* check before timing: zero head -> uniform logits -> loss = ln V (weights 1) */
    int ih = um_tmodel_find(tm, "model.transformer.ff_out.weight");
    const struct um_tparam *h = um_tmodel_tensor(tm, ih);
    const size_t hb = (size_t)(h->shape[0] * h->shape[1]) * sizeof(float);
    float *keep = malloc(hb);
    memcpy(keep, um_tmodel_weights(tm) + h->offset, hb);
    memset(um_tmodel_weights(tm) + h->offset, 0, hb);
    float *ones = malloc((size_t)N * 4);
    double n_sel = 0, loss = 0;
    for (int64_t i = 0; i < N; i++) n_sel += (ones[i] = w[i] != 0.0f ? 1.0f : 0.0f);
    if (um_tmodel_step(tm, tok, pos, tg, ones, B, T, &as, n_sel, true, &loss) != UM_OK ||
        fabs(loss - log(8192.0)) > 1e-5) {
        fprintf(stderr, "bench_train_step: check failed: loss %.9f vs ln V %.9f (%s)\n", loss,
                log(8192.0), um_last_error());
        return 1;
    }
    memcpy(um_tmodel_weights(tm) + h->offset, keep, hb);
    double *ms = malloc(sizeof(double) * (size_t)runs), *fms = malloc(sizeof(double) * (size_t)runs);
    for (int it = 0; it < runs; it++) {
        double t0 = um_time_sec();
        um_tmodel_step(tm, tok, pos, tg, w, B, T, &as, (double)N, true, &loss);
        ms[it] = (um_time_sec() - t0) * 1e3;
        t0 = um_time_sec();
        um_tmodel_step(tm, tok, pos, tg, w, B, T, &as, (double)N, false, &loss);
        fms[it] = (um_time_sec() - t0) * 1e3;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    qsort(fms, (size_t)runs, sizeof *fms, cmp_double);
    const double med = ms[runs / 2];
    printf("train_step model=llada-10M params=%lld B=%d T=%d attn=%s threads=%d median_ms=%.1f "
           "tokens_per_s=%.0f loss=%.4f\n", (long long)um_tmodel_n_params(tm), B, T,
           kind == UM_ATTN_BD3 ? "bd3" : "full", threads, med, (double)N / (med / 1e3), loss);
    printf("phase fwd_ms=%.1f\n", fms[runs / 2]);
    free(ms);
    free(fms);
    free(keep);
    free(ones);
    free(tok);
    free(pos);
    free(tg);
    free(w);
    um_tmodel_free(tm);
    return 0;
}

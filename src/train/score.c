/*
 * score.c: um_eval_text, the held-out likelihood of a decoding configuration. Windows of
 * prompt_len + gen_length tokens are cut at evenly spaced offsets of a data folder's validation
 * stream; for each, um_generate runs on the prompt with the window's continuation as
 * score_target, so every step commits true tokens (ranked, and accepted by threshold or factor,
 * by the model's probability of them) and accumulates -log p of each at its commit. The sum
 * over windows divided by the scored tokens is a per-token negative log-likelihood; exp of it
 * a perplexity. It measures what a cache or a parallel rule costs the model's predictions with
 * the commit order that configuration would use.
 */
#include "unmask-train.h"

#include "base/base.h"
#include "train/data.h"

#include <math.h>
#include <stdlib.h>

enum um_status um_eval_text(const um_model *m, const char *data_dir, int n, int prompt_len,
                            const struct um_gen_params *gp, um_work_fn progress,
                            void *progress_user, struct um_text_score *res) {
    if (!m || !data_dir || !gp || !res || n < 1 || prompt_len < 1)
        return um_set_error(UM_ERR_ARG, "um_eval_text: bad arguments");
    um_dataset *ds = NULL;
    enum um_status st = um_dataset_open(data_dir, "val", &ds);
    if (st != UM_OK) return st;
    const struct um_model_info *info = um_model_get_info(m);
    const int64_t W = (int64_t)prompt_len + gp->gen_length;
    const int64_t N = um_dataset_n_tokens(ds);
    if (um_dataset_kind(ds) != UM_DATASET_STREAM)
        st = um_set_error(UM_ERR_ARG, "%s/val.bin: a text (stream) shard is needed, not task "
                          "rows", data_dir);
    else if (um_dataset_vocab(ds) > info->n_vocab)
        st = um_set_error(UM_ERR_ARG, "%s/meta.json: field 'n_vocab' %d exceeds the model's "
                          "vocabulary of %d", data_dir, um_dataset_vocab(ds), info->n_vocab);
    else if (N < W)
        st = um_set_error(UM_ERR_ARG, "%s/val.bin: %lld tokens, fewer than one window of %lld",
                          data_dir, (long long)N, (long long)W);
    int32_t *win = st == UM_OK ? malloc((size_t)W * sizeof *win) : NULL;
    int32_t *out = st == UM_OK ? malloc((size_t)gp->gen_length * sizeof *out) : NULL;
    if (st == UM_OK && (!win || !out)) st = um_set_error(UM_ERR_NOMEM, "out of memory");
    um_ctx *ctx = NULL;
    if (st == UM_OK) st = um_ctx_init(m, um_gen_context_tokens(m, prompt_len, gp), &ctx);

    struct um_text_score r = {.n = n};
    double t0 = um_time_sec();
    const int64_t stride = n > 1 ? (N - W) / (n - 1) : 0;
    for (int i = 0; st == UM_OK && i < n; i++) {
        st = um_dataset_stream_window(ds, (int64_t)i * stride, W, win);
        if (st != UM_OK) break;
        struct um_gen_params g = *gp;
        struct um_gen_stats gs = {0};
        g.seed = gp->seed + (uint64_t)i;
        g.stats = &gs;
        g.score_target = win + prompt_len;
        g.early_stop = false;
        st = um_generate(ctx, win, prompt_len, &g, out);
        if (st != UM_OK) break;
        r.tokens += gp->gen_length;
        r.nll += gs.nll;
        r.forwards += gs.forwards;
        if (progress && !progress(progress_user, i + 1, n))
            st = um_set_error(UM_ERR_CANCELLED, "um_eval_text: cancelled after %d of %d windows",
                              i + 1, n);
    }
    r.seconds = um_time_sec() - t0;
    r.nll_per_token = r.tokens > 0 ? r.nll / (double)r.tokens : 0.0;
    r.perplexity = exp(r.nll_per_token);
    um_ctx_free(ctx);
    free(win);
    free(out);
    um_dataset_close(ds);
    if (st == UM_OK) *res = r;
    return st;
}

/*
 * test_fast_decode.c: caches and parallel decoding.
 *
 * 1. KV-cache windows: after a full forward, recomputing a window over cached keys gives the
 *    full forward's logits (1e-5) for a bidirectional model (LLaDA: the dual-cache step on an
 *    unchanged canvas) and for the block-causal models (SDAR, Fast-dLLM v2: prefill + block).
 *    Misuse (keys not in the cache, a window without the cache) fails with a message.
 * 2. The Fast-dLLM commit rules (threshold, factor with the reference's edge cases) on hand-made
 *    confidences.
 * 3. Token-for-token equality with the PyTorch ports of the published loops, written by the
 *    oracle fixture beside each tiny model:
 *      ref_gen_fast.json  Fast-dLLM v1 (LLaDA / Dream): cache none | prefix | dual with a fixed
 *                         count, a threshold or a factor (tests/oracle/gen_fastdllm.py);
 *      ref_gen_bd.json    SDAR block_diffusion_generate and Fast-dLLM v2 generate
 *                         (tests/oracle/gen_blockdiff.py).
 *    Every case records min_gap, the smallest margin of any decision, >= 1e-4, so fp32
 *    summation-order differences cannot flip one. The model-forward counts must match too.
 * 4. The exact block cache: for every block-diffusion case, cache=block and cache=none produce
 *    the same tokens (and both the reference's).
 */
#include "test.h"

#include "base/base.h"
#include "decode/decode-impl.h"
#include "unmask.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int n_fast, n_bd;

static int json_int(const cJSON *o, const char *k, int dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? (int)it->valuedouble : dflt;
}
static double json_num(const cJSON *o, const char *k, double dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}
static const char *json_str(const cJSON *o, const char *k, const char *dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : dflt;
}
static int32_t *json_ids(const cJSON *a, int *n) {
    *n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    int32_t *v = malloc(((size_t)*n + 1) * sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
    return v;
}
static enum um_cache cache_of(const char *s) {
    if (!strcmp(s, "prefix")) return UM_CACHE_PREFIX;
    if (!strcmp(s, "dual")) return UM_CACHE_DUAL;
    if (!strcmp(s, "block")) return UM_CACHE_BLOCK;
    return UM_CACHE_NONE;
}

/* ---------------------------------------------------------------- 1. windows */

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double m = 0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)a[i]));
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m / scale;
}

static void check_windows(const char *dir) {
    um_model *m = NULL;
    CHECKF(um_model_load(dir, NULL, &m) == UM_OK, "%s", um_last_error());
    if (!m) return;
    const struct um_model_info *in = um_model_get_info(m);
    const int T = 21, V = in->n_vocab;
    int32_t tok[21], rows[21];
    for (int i = 0; i < T; i++) {
        tok[i] = (int32_t)((i * 37 + 11) % (V - 2));
        rows[i] = i;
    }
    float *full = malloc((size_t)T * V * sizeof(float));
    float *win = malloc((size_t)T * V * sizeof(float));
    um_ctx *c = NULL;
    CHECK(um_ctx_init(m, T, &c) == UM_OK);
    CHECK(um_forward(c, tok, T, rows, T, full) == UM_OK);
    /* without the cache a window is refused */
    CHECK(um_forward_window(c, tok, 4, 8, T, rows + 4, 4, win) == UM_ERR_ARG);
    CHECK(um_ctx_enable_cache(c) == UM_OK);
    /* keys not computed yet */
    CHECK(um_forward_window(c, tok, 4, 8, T, rows + 4, 4, win) == UM_ERR_ARG);
    CHECKF(strstr(um_last_error(), "not in the KV cache") != NULL, "%s", um_last_error());
    if (in->block_size > 0) {
        /* prefill whole blocks, then each later block over the cached prefix */
        const int B = in->block_size;
        int pre = T / 2 / B * B;
        if (pre == 0) pre = B;
        CHECK(um_forward_window(c, tok, 0, pre, pre, rows, pre, win) == UM_OK);
        for (int b0 = pre; b0 < T; b0 += B) {
            int b1 = b0 + B < T ? b0 + B : T;
            CHECK(um_forward_window(c, tok, b0, b1, b1, rows + b0, b1 - b0,
                                    win + (size_t)b0 * V) == UM_OK);
        }
    } else {
        /* dual-cache step on an unchanged canvas: full refresh, then a middle window */
        float *tmp = malloc((size_t)T * V * sizeof(float));
        CHECK(um_forward(c, tok, T, rows, T, tmp) == UM_OK);
        memcpy(win, tmp, (size_t)T * V * sizeof(float));
        CHECK(um_forward_window(c, tok, 5, 13, T, rows + 5, 8, win + (size_t)5 * V) == UM_OK);
        /* prefix-cache step: the suffix from 9 on */
        CHECK(um_forward_window(c, tok, 9, T, T, rows + 9, T - 9, tmp + (size_t)9 * V) == UM_OK);
        double e2 = max_rel_diff(full, tmp, (size_t)T * V);
        CHECKF(e2 < 1e-5, "%s: prefix window differs by %g", dir, e2);
        free(tmp);
    }
    double e = max_rel_diff(full, win, (size_t)T * V);
    printf("  %-40s window vs full forward: max rel diff %.2e\n", dir, e);
    CHECKF(e < 1e-5, "%s: window differs by %g", dir, e);
    CHECK(um_ctx_n_forwards(c) >= 3);
    um_ctx_clear_cache(c);
    CHECK(um_forward_window(c, tok, 4, 8, T, rows + 4, 4, win) == UM_ERR_ARG);
    um_ctx_free(c);
    free(full);
    free(win);
    um_model_free(m);
}

/* ---------------------------------------------------------------- 2. commit rules */

static int count(const double *conf, int n, double thr, double fac) {
    int32_t order[16], tmp[16];
    um_dec_sort_by_conf(conf, n, order, tmp);
    return um_dec_parallel_count(conf, order, n, thr, fac);
}

static void check_rules(void) {
    const double c[6] = {0.2, 0.95, 0.5, 0.91, 0.9, 0.1};
    CHECK(count(c, 6, 0.9, 0) == 3);  /* 0.95, 0.91, 0.9 (>= keeps the equal one) */
    CHECK(count(c, 6, 0.96, 0) == 1); /* always the most confident */
    CHECK(count(c, 6, 0.05, 0) == 6);
    /* factor f: t_n = 1 - f/(n+1) for n >= 2; sorted 0.95 0.91 0.9 0.5 0.2 0.1 */
    CHECK(count(c, 6, 0, 1.0) == 3); /* t2 = .667 ok, t3 = .75 ok (0.9), t4 = .8 > 0.5 stop */
    CHECK(count(c, 6, 0, 0.1) == 1); /* t2 = .9667 > 0.91: stop at n = 2 -> 1 */
    const double d[3] = {0.99, 0.98, 0.1};
    /* a stop at the last candidate commits all (the reference's top_i == len - 1 case) */
    CHECK(count(d, 3, 0, 1.0) == 3);
    const double e1[1] = {0.01};
    CHECK(count(e1, 1, 0, 1.0) == 1);
    CHECK(count(e1, 1, 0.9, 0) == 1);
}

/* ---------------------------------------------------------------- 3. references */

static int run(um_model *m, const int32_t *p, int np, struct um_gen_params *gp, int32_t *out,
               struct um_gen_stats *stats) {
    um_ctx *ctx = NULL;
    int need = um_gen_context_tokens(m, np, gp);
    if (um_ctx_init(m, need, &ctx) != UM_OK) return -1;
    gp->stats = stats;
    enum um_status st = um_generate(ctx, p, np, gp, out);
    if (st != UM_OK) printf("    error: %s\n", um_last_error());
    um_ctx_free(ctx);
    return st == UM_OK ? 0 : -1;
}

static void fast_case(um_model *m, const char *dir, int idx, const cJSON *c) {
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
    int np, nw;
    int32_t *p = json_ids(cJSON_GetObjectItemCaseSensitive(c, "prompt"), &np);
    int32_t *want = json_ids(cJSON_GetObjectItemCaseSensitive(c, "out"), &nw);
    struct um_gen_params gp = um_gen_default_params(m);
    if (!strcmp(json_str(c, "family", "llada"), "llada")) gp.alg = UM_ALG_NONE;
    gp.gen_length = json_int(params, "gen_length", 16);
    gp.block_length = json_int(params, "block_length", gp.gen_length);
    gp.steps = json_int(params, "steps", gp.gen_length);
    gp.cache = cache_of(json_str(params, "cache", "none"));
    gp.threshold = json_num(params, "threshold", 0);
    gp.factor = json_num(params, "factor", 0);
    const char *alg = json_str(params, "alg", NULL);
    if (alg && !strcmp(alg, "maskgit_plus")) gp.alg = UM_ALG_MASKGIT_PLUS;
    if (alg && !strcmp(alg, "entropy")) gp.alg = UM_ALG_ENTROPY;
    if (alg && !strcmp(alg, "topk_margin")) gp.alg = UM_ALG_TOPK_MARGIN;
    CHECK(nw == gp.gen_length);
    int32_t *out = calloc((size_t)gp.gen_length, sizeof *out);
    struct um_gen_stats stats;
    CHECKF(run(m, p, np, &gp, out, &stats) == 0, "%s case %d failed", dir, idx);
    int diff = 0, first = -1;
    for (int i = 0; i < gp.gen_length && i < nw; i++)
        if (out[i] != want[i]) {
            diff++;
            if (first < 0) first = i;
        }
    int want_fwd = json_int(c, "n_forwards", -1);
    printf("  %-28s %-30s cache %-6s thr %.2f fac %.1f: %d differ, forwards %lld (ref %d)\n",
           strrchr(dir, '/') + 1, json_str(c, "name", "?"), um_cache_str(gp.cache),
           gp.threshold, gp.factor, diff, (long long)stats.forwards, want_fwd);
    CHECKF(diff == 0, "%s case %d (%s): first difference at %d", dir, idx,
           json_str(c, "name", "?"), first);
    if (want_fwd >= 0)
        CHECKF(stats.forwards == want_fwd, "%s case %d: %lld forwards, reference %d", dir, idx,
               (long long)stats.forwards, want_fwd);
    n_fast++;
    free(out);
    free(p);
    free(want);
}

static void bd_case(um_model *m, const char *dir, int idx, const cJSON *c) {
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
    const char *algo = json_str(c, "algo", "?");
    int np, nw;
    int32_t *p = json_ids(cJSON_GetObjectItemCaseSensitive(c, "prompt"), &np);
    int32_t *want = json_ids(cJSON_GetObjectItemCaseSensitive(c, "out"), &nw);
    struct um_gen_params gp = um_gen_default_params(m);
    gp.gen_length = json_int(params, "gen_length", json_int(params, "max_new_tokens", 16));
    gp.block_length = json_int(params, "block_length", gp.block_length);
    gp.steps = json_int(params, "steps", gp.steps);
    gp.threshold = json_num(params, "threshold", 0);
    if (!strcmp(json_str(params, "remasking", ""), "low_confidence_static")) gp.threshold = 0;
    gp.sub_block = json_int(params, "sub_block", gp.sub_block);
    const bool fd2 = !strcmp(algo, "fastdllm2");
    /* the reference stops at EOS; compare up to and including the first stop token */
    int n_cmp = nw < gp.gen_length ? nw : gp.gen_length;
    const struct um_model_info *in = um_model_get_info(m);
    if (!fd2)
        for (int i = 0; i < n_cmp; i++)
            if (want[i] == in->eos_id || (in->eot_id >= 0 && want[i] == in->eot_id)) {
                n_cmp = i + 1;
                break;
            }
    int32_t *out[2];
    struct um_gen_stats stats[2];
    for (int k = 0; k < 2; k++) {
        gp.cache = k == 0 ? UM_CACHE_NONE : UM_CACHE_BLOCK;
        out[k] = calloc((size_t)gp.gen_length, sizeof(int32_t));
        CHECKF(run(m, p, np, &gp, out[k], &stats[k]) == 0, "%s case %d (cache %s) failed", dir,
               idx, um_cache_str(gp.cache));
    }
    int diff = 0, first = -1, same = 1;
    for (int i = 0; i < n_cmp; i++)
        if (out[1][i] != want[i]) {
            diff++;
            if (first < 0) first = i;
        }
    for (int i = 0; i < gp.gen_length; i++) same &= out[0][i] == out[1][i];
    int want_fwd = json_int(c, "n_forwards", -1);
    printf("  %-28s %-30s %d/%d differ; none==block %s; tokens %d (ref %d) forwards "
           "block %lld none %lld (ref %d)\n",
           strrchr(dir, '/') + 1, json_str(c, "name", "?"), diff, n_cmp, same ? "yes" : "NO",
           stats[1].tokens, n_cmp, (long long)stats[1].forwards, (long long)stats[0].forwards,
           want_fwd);
    CHECKF(diff == 0, "%s case %d (%s): first difference at %d", dir, idx,
           json_str(c, "name", "?"), first);
    CHECKF(same, "%s case %d: cache none and cache block differ", dir, idx);
    CHECKF(stats[0].tokens == stats[1].tokens, "%s case %d: token counts differ", dir, idx);
    if (fd2) CHECKF(stats[1].tokens == n_cmp, "%s case %d: %d tokens, reference %d", dir, idx,
                    stats[1].tokens, n_cmp);
    if (want_fwd >= 0)
        CHECKF(stats[1].forwards == want_fwd, "%s case %d: %lld forwards, reference %d", dir,
               idx, (long long)stats[1].forwards, want_fwd);
    n_bd++;
    free(out[0]);
    free(out[1]);
    free(p);
    free(want);
}

/* Fast-dLLM v2 with a gen length that is not a multiple of the block: whole blocks only
 * (gen_length / B of them), the rest of out[] is EOS, cache none == cache block. */
static void check_fd2_partial(const char *dir) {
    um_model *m = NULL;
    CHECKF(um_model_load(dir, NULL, &m) == UM_OK, "%s", um_last_error());
    if (!m) return;
    const struct um_model_info *in = um_model_get_info(m);
    const int32_t prompt[3] = {5, 6, 7};
    const int gen = in->block_size + in->block_size - 1;
    int32_t out[2][64];
    struct um_gen_stats st[2];
    for (int k = 0; k < 2; k++) {
        struct um_gen_params gp = um_gen_default_params(m);
        gp.gen_length = gen;
        gp.threshold = 0.5;
        gp.cache = k ? UM_CACHE_BLOCK : UM_CACHE_NONE;
        CHECK(gen <= 64 && run(m, prompt, 3, &gp, out[k], &st[k]) == 0);
    }
    CHECK(st[0].tokens == st[1].tokens && st[1].tokens >= 1 && st[1].tokens <= gen);
    for (int i = 0; i < gen; i++) CHECK(out[0][i] == out[1][i]);
    for (int i = st[1].tokens; i < gen; i++) CHECK(out[1][i] == in->eos_id);
    printf("  %-40s gen %d (not a multiple of %d): %d tokens, none == block\n", dir, gen,
           in->block_size, st[1].tokens);
    um_model_free(m);
}

static void run_file(const char *dir, const char *file, int kind) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *text = NULL;
    size_t len = 0;
    if (um_read_file(path, 64u << 20, &text, &len) != UM_OK) return;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    CHECKF(cJSON_IsArray(root), "%s: not a JSON array", path);
    um_model *m = NULL;
    CHECKF(um_model_load(dir, NULL, &m) == UM_OK, "%s", um_last_error());
    for (int i = 0; m && i < cJSON_GetArraySize(root); i++)
        (kind ? bd_case : fast_case)(m, dir, i, cJSON_GetArrayItem(root, i));
    um_model_free(m);
    cJSON_Delete(root);
}

int main(void) {
    check_rules();
    DIR *d = opendir(UM_TESTDATA);
    CHECKF(d != NULL, "no test data at %s", UM_TESTDATA);
    if (!d) return TEST_DONE();
    struct dirent *e;
    int n_win = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4096], path[4200];
        snprintf(dir, sizeof dir, "%s/%s", UM_TESTDATA, e->d_name);
        snprintf(path, sizeof path, "%s/config.json", dir);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        if (strstr(e->d_name, "llada") || strstr(e->d_name, "dream") ||
            strstr(e->d_name, "sdar") || strstr(e->d_name, "fastdllm2")) {
            check_windows(dir);
            n_win++;
        }
        if (strstr(e->d_name, "fastdllm2")) check_fd2_partial(dir);
        run_file(dir, "ref_gen_fast.json", 0);
        run_file(dir, "ref_gen_bd.json", 1);
    }
    closedir(d);
    CHECKF(n_win >= 4, "only %d models for the window check", n_win);
    CHECKF(n_fast >= 10, "only %d Fast-dLLM reference cases found", n_fast);
    CHECKF(n_bd >= 6, "only %d block-diffusion reference cases found", n_bd);
    return TEST_DONE();
}

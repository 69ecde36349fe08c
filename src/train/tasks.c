/*
 * tasks.c: the built-in synthetic tasks (exact answers, examples deterministic in (seed,
 * index)), the byte-level tokenizer for task models, and scoring a model on a task
 * (um_eval_task).
 *
 * Tasks (prompt -> answer; every example is drawn from Philox(seed, stream = index)):
 *   add      "a+b=" -> decimal a + b; a and b have 1..5 digits (digit count uniform, then
 *            the number uniform among numbers of that many digits, no leading zeros)
 *   sort     "sort d..d=" -> the 2..8 digits in ascending order
 *   reverse  "reverse d..d=" -> the 2..8 digits in reverse order
 * Prompts are at most 17 bytes, answers at most 8 bytes, so rows of 32 tokens fit with a
 * character-level tokenizer.
 */
#include "base/base.h"
#include "train/data.h"
#include "unmask-train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADD_MAX_DIGITS 5
#define LIST_MIN 2
#define LIST_MAX 8

static const char *const TASK_NAMES[] = {"add", "sort", "reverse", NULL};

const char *const *um_task_names(void) {
    return TASK_NAMES;
}

static int task_index(const char *task) {
    for (int i = 0; task && TASK_NAMES[i]; i++)
        if (strcmp(task, TASK_NAMES[i]) == 0) return i;
    return -1;
}

static enum um_status unknown_task(const char *task) {
    return um_set_error(UM_ERR_ARG, "task '%s' is unknown (add, sort, reverse)",
                        task ? task : "(null)");
}

/* Uniform integer in [0, n) (n <= 2^32; the bias of the modulo is below 2^-32 here). */
static uint64_t below(um_rng *r, uint64_t n) {
    return um_rng_u64(r) % n;
}

static uint64_t random_number(um_rng *r) {
    int digits = 1 + (int)below(r, ADD_MAX_DIGITS);
    uint64_t lo = 1;
    for (int i = 1; i < digits; i++) lo *= 10;
    if (digits == 1) return below(r, 10);
    return lo + below(r, 9 * lo);
}

static int cmp_char(const void *a, const void *b) {
    return *(const char *)a - *(const char *)b;
}

enum um_status um_task_example(const char *task, uint64_t seed, int64_t index, char *prompt,
                               size_t prompt_cap, char *answer, size_t answer_cap) {
    int t = task_index(task);
    if (t < 0) return unknown_task(task);
    if (!prompt || !answer || index < 0)
        return um_set_error(UM_ERR_ARG, "um_task_example: NULL buffer or negative index");
    um_rng r;
    um_rng_seed(&r, seed, (uint64_t)index);
    char p[64], a[32];
    if (t == 0) {
        uint64_t x = random_number(&r), y = random_number(&r);
        snprintf(p, sizeof p, "%llu+%llu=", (unsigned long long)x, (unsigned long long)y);
        snprintf(a, sizeof a, "%llu", (unsigned long long)(x + y));
    } else {
        int n = LIST_MIN + (int)below(&r, LIST_MAX - LIST_MIN + 1);
        char d[LIST_MAX + 1];
        for (int i = 0; i < n; i++) d[i] = (char)('0' + below(&r, 10));
        d[n] = 0;
        snprintf(p, sizeof p, "%s %s=", TASK_NAMES[t], d);
        if (t == 1) {
            qsort(d, (size_t)n, 1, cmp_char);
        } else {
            for (int i = 0; i < n / 2; i++) {
                char c = d[i];
                d[i] = d[n - 1 - i];
                d[n - 1 - i] = c;
            }
        }
        memcpy(a, d, (size_t)n + 1);
    }
    if (strlen(p) >= prompt_cap || strlen(a) >= answer_cap)
        return um_set_error(UM_ERR_ARG, "um_task_example: buffers of %zu / %zu bytes are too "
                            "small for '%s' / '%s'", prompt_cap, answer_cap, p, a);
    memcpy(prompt, p, strlen(p) + 1);
    memcpy(answer, a, strlen(a) + 1);
    return UM_OK;
}

enum um_status um_task_tokenizer(const char *task, const char *out_path) {
    if (task_index(task) < 0) return unknown_task(task);
    if (!out_path) return um_set_error(UM_ERR_ARG, "um_task_tokenizer: NULL path");
    struct um_bpe_train_params p = um_bpe_train_default_params();
    p.vocab_size = 256 + p.n_special;
    return um_bpe_train(NULL, 0, &p, out_path);
}

/* ---------------------------------------------------------------- evaluation */

enum um_status um_task_match(const um_tokenizer *tok, const int32_t *out, int n,
                             int32_t eos_model, const char *answer, bool *match) {
    int32_t eos_tok = um_data_eos_id(tok), n_vocab = um_tokenizer_n_vocab(tok);
    int k = 0;
    bool decodable = true;
    while (k < n && out[k] != eos_model && out[k] != eos_tok) {
        if (out[k] < 0 || out[k] >= n_vocab) decodable = false;
        k++;
    }
    *match = false;
    if (!decodable) return UM_OK;
    char *text = NULL;
    enum um_status st = um_tokenizer_decode(tok, out, (size_t)k, &text);
    if (st != UM_OK) return st;
    *match = strcmp(text, answer) == 0;
    free(text);
    return UM_OK;
}

#define EVAL_TEXT_CAP 64

enum um_status um_eval_task(const um_model *m, const char *task, int n,
                            const struct um_gen_params *gp, uint64_t seed,
                            um_work_fn progress, void *progress_user, struct um_eval_result *res) {
    if (!m || !gp || !res) return um_set_error(UM_ERR_ARG, "um_eval_task: NULL argument");
    if (task_index(task) < 0) return unknown_task(task);
    if (n < 1 || n > 10000000)
        return um_set_error(UM_ERR_ARG, "um_eval_task: n %d is outside [1, 10000000]", n);
    if (gp->gen_length < 1 || gp->gen_length > (1 << 20))
        return um_set_error(UM_ERR_ARG, "um_eval_task: gen_length %d is outside [1, %d]",
                            gp->gen_length, 1 << 20);
    const um_tokenizer *tok = um_model_tokenizer(m);
    if (!tok)
        return um_set_error(UM_ERR_ARG, "um_eval_task: the model has no tokenizer.json");
    const struct um_model_info *info = um_model_get_info(m);
    int32_t eos_model = info->eos_id;
    uint64_t eval_seed = seed ^ UM_TASK_SEED_EVAL;

    /* Prompts first, so that the context is sized (and allocated) once. */
    int32_t **prompts = calloc((size_t)n, sizeof *prompts);
    size_t *n_prompt = calloc((size_t)n, sizeof *n_prompt);
    int32_t *out = malloc((size_t)gp->gen_length * sizeof *out);
    enum um_status st = UM_OK;
    if (!prompts || !n_prompt || !out)
        st = um_set_error(UM_ERR_NOMEM, "um_eval_task: out of memory");
    size_t max_prompt = 0;
    char ptext[EVAL_TEXT_CAP], atext[EVAL_TEXT_CAP];
    for (int i = 0; st == UM_OK && i < n; i++) {
        st = um_task_example(task, eval_seed, i, ptext, sizeof ptext, atext, sizeof atext);
        if (st == UM_OK) st = um_tokenizer_encode(tok, ptext, strlen(ptext), &prompts[i],
                                                  &n_prompt[i]);
        if (st == UM_OK && n_prompt[i] > max_prompt) max_prompt = n_prompt[i];
    }
    um_ctx *ctx = NULL;
    if (st == UM_OK && max_prompt + (size_t)gp->gen_length > (size_t)(1 << 24))
        st = um_set_error(UM_ERR_ARG, "um_eval_task: prompts too long");
    if (st == UM_OK) st = um_ctx_init(m, um_gen_context_tokens(m, (int)max_prompt, gp), &ctx);

    struct um_eval_result r = {.n = n};
    double t0 = um_time_sec();
    for (int i = 0; st == UM_OK && i < n; i++) {
        st = um_task_example(task, eval_seed, i, ptext, sizeof ptext, atext, sizeof atext);
        if (st != UM_OK) break;
        struct um_gen_params g = *gp;
        struct um_gen_stats gs = {0};
        g.seed = gp->seed + (uint64_t)i;
        g.stats = &gs;
        st = um_generate(ctx, prompts[i], (int)n_prompt[i], &g, out);
        if (st != UM_OK) break;
        r.tokens += gs.tokens;
        r.forwards += gs.forwards;
        bool match = false;
        if ((st = um_task_match(tok, out, gp->gen_length, eos_model, atext, &match)) != UM_OK)
            break;
        r.correct += match;
        if (progress && !progress(progress_user, i + 1, n))
            st = um_set_error(UM_ERR_CANCELLED, "um_eval_task: cancelled after %d of %d examples",
                              i + 1, n);
    }
    r.seconds = um_time_sec() - t0;
    r.accuracy = (double)r.correct / n;
    um_ctx_free(ctx);
    for (int i = 0; prompts && i < n; i++) free(prompts[i]);
    free(prompts);
    free(n_prompt);
    free(out);
    if (st == UM_OK) *res = r;
    return st;
}

/*
 * cmd_eval.c: `unmask eval -m DIR --task NAME`: exact-match accuracy of a model on held-out
 * examples of a built-in task (um_eval_task). Progress on stderr; on stdout a few result lines
 * of which the LAST is always `accuracy X` with X in [0, 1] (scripts read that line).
 * `unmask eval -m DIR --text DATA`: held-out likelihood of the decoding configuration
 * (um_eval_text); the last line is `perplexity X`.
 */
#include "cli.h"
#include "unmask-train.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *EVAL_HELP =
    "usage: unmask eval -m DIR --task NAME [options]\n"
    "       unmask eval -m DIR --text DATA_DIR [--prompt-len N] [options]\n"
    "\n"
    "Generate answers for held-out examples of a built-in task (add, sort, reverse) from\n"
    "their prompts (no chat template) and count exact matches. The last line on stdout is\n"
    "'accuracy X'. Generation options are those of 'unmask generate' (defaults follow the\n"
    "model family, temperature 0 = greedy), except that --gen-length defaults to 16.\n"
    "\n"
    "  -m, --model DIR        model folder (with the task's tokenizer.json)\n"
    "  --task NAME            add | sort | reverse\n"
    "  --text DATA_DIR        instead of a task: score held-out text (DATA_DIR/val.bin, made\n"
    "                         by 'unmask data text' with the model's tokenizer): each window's\n"
    "                         continuation is committed in the order the decoding options\n"
    "                         choose; prints nll/token, then 'perplexity X' last\n"
    "  --prompt-len N         --text: prompt tokens per window (default 32)\n"
    "  --n N                  examples (default 200)\n"
    "  --seed S               task seed; examples come from S ^ UM_TASK_SEED_EVAL (default 0)\n"
    "  --gen-seed S           seed of the sampler (example i uses S + i; default 0)\n"
    "  --quiet                no progress on stderr\n"
    "  -h, --help             this help\n";

struct eval_progress {
    bool on;
};

static bool on_progress(void *user, int64_t done, int64_t total) {
    if (((struct eval_progress *)user)->on)
        fprintf(stderr, "\reval: %lld / %lld examples", (long long)done, (long long)total);
    return true;
}

/* The speed lines both modes print, and after the last stdout line the --stats line. */
static void print_speed(int64_t tokens, int64_t forwards, double seconds) {
    printf("seconds       %.3f\n", seconds);
    printf("tokens/s      %.1f\n", seconds > 0 ? (double)tokens / seconds : 0.0);
    printf("tokens/fwd    %.2f\n", forwards > 0 ? (double)tokens / (double)forwards : 0.0);
}
static void print_stats(bool on, int64_t tokens, int64_t forwards, double seconds) {
    if (!on) return;
    fflush(stdout);
    um_cli_print_stats(tokens, forwards, seconds);
}

int um_cmd_eval(int argc, char **argv);
int um_cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *task = NULL, *text = NULL;
    long n = 200, seed = 0, gen_seed = 0, prompt_len = 32;
    bool quiet = false;
    struct um_cli_gen_opts go;
    um_cli_gen_opts_init(&go);
    go.gen_length = 16;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(EVAL_HELP, stdout);
            fputs(UM_CLI_GEN_HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = true;
            continue;
        }
        int r = um_cli_gen_opt(&go, "eval", argc, argv, &i);
        if (r == 1) continue;
        if (r != 0) return r;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return um_cli_usage("eval", "unknown option or missing value: '%s'", a);
        i++;
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            dir = v;
        else if (!strcmp(a, "--task"))
            task = v;
        else if (!strcmp(a, "--text"))
            text = v;
        else if (!strcmp(a, "--prompt-len"))
            ok = um_cli_parse_long(v, 1, 1 << 20, &prompt_len);
        else if (!strcmp(a, "--n"))
            ok = um_cli_parse_long(v, 1, 10000000, &n);
        else if (!strcmp(a, "--seed"))
            ok = um_cli_parse_long(v, 0, LONG_MAX, &seed);
        else if (!strcmp(a, "--gen-seed"))
            ok = um_cli_parse_long(v, 0, LONG_MAX, &gen_seed);
        else
            return um_cli_usage("eval", "unknown option '%s'", a);
        if (!ok) return um_cli_usage("eval", "bad value for option '%s'", a);
    }
    if (!dir) return um_cli_usage("eval", "%s", "-m DIR is required");
    if (!task == !text)
        return um_cli_usage("eval", "%s", "exactly one of --task NAME or --text DATA_DIR");
    go.seed = gen_seed;

    struct um_model_params mp = um_model_default_params();
    um_cli_gen_model_params(&go, &mp);
    um_model *m = NULL;
    enum um_status st = um_model_load(dir, &mp, &m);
    if (st != UM_OK) return um_cli_fail(st);
    struct um_gen_params gp = um_gen_default_params(m);
    um_cli_gen_apply(&go, m, &gp);

    struct eval_progress pr = {!quiet && isatty(2)};
    if (text) {
        struct um_text_score ts;
        st = um_eval_text(m, text, (int)n, (int)prompt_len, &gp, on_progress, &pr, &ts);
        if (pr.on) fputc('\n', stderr);
        um_model_free(m);
        if (st != UM_OK) return um_cli_fail(st);
        printf("windows       %d\n", ts.n);
        printf("tokens        %lld\n", (long long)ts.tokens);
        print_speed(ts.tokens, ts.forwards, ts.seconds);
        printf("nll/token     %.4f\n", ts.nll_per_token);
        printf("perplexity %.3f\n", ts.perplexity);
        print_stats(go.stats, ts.tokens, ts.forwards, ts.seconds);
        return 0;
    }
    struct um_eval_result res;
    st = um_eval_task(m, task, (int)n, &gp, (uint64_t)seed, on_progress, &pr, &res);
    if (pr.on) fputc('\n', stderr);
    um_model_free(m);
    if (st != UM_OK) return um_cli_fail(st);
    printf("task          %s\n", task);
    printf("examples      %d\n", res.n);
    printf("correct       %d\n", res.correct);
    print_speed(res.tokens, res.forwards, res.seconds);
    printf("accuracy %.4f\n", res.accuracy);
    print_stats(go.stats, res.tokens, res.forwards, res.seconds);
    return 0;
}

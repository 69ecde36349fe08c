/*
 * cmd_eval.c: `unmask eval -m DIR --task NAME`: exact-match accuracy of a model on held-out
 * examples of a built-in task (um_eval_task). Progress on stderr; on stdout a few result lines
 * of which the LAST is always `accuracy X` with X in [0, 1] (scripts read that line).
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
    "\n"
    "Generate answers for held-out examples of a built-in task (add, sort, reverse) from\n"
    "their prompts (no chat template) and count exact matches. The last line on stdout is\n"
    "'accuracy X'.\n"
    "\n"
    "  -m, --model DIR        model folder (with the task's tokenizer.json)\n"
    "  --task NAME            add | sort | reverse\n"
    "  --n N                  examples (default 200)\n"
    "  --seed S               task seed; examples come from S ^ UM_TASK_SEED_EVAL (default 0)\n"
    "  --gen-length N         tokens generated after the prompt (default 16)\n"
    "  --steps N              denoising steps (default = gen length)\n"
    "  --block-length N       LLaDA block length (default = gen length)\n"
    "  --remasking R          low_confidence | random (LLaDA)\n"
    "  --alg A                origin | maskgit_plus | topk_margin | entropy (Dream schedule)\n"
    "  --eps E  --alg-temp T  --temperature T  --top-p P  --top-k K  --cfg S\n"
    "                         as for 'unmask generate' (defaults follow the model family;\n"
    "                         temperature 0 = greedy)\n"
    "  --gen-seed S           seed of the sampler (example i uses S + i; default 0)\n"
    "  --threads N            threads (default: all cores)\n"
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

int um_cmd_eval(int argc, char **argv);
int um_cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *task = NULL, *remasking = NULL, *alg = NULL;
    long n = 200, seed = 0, gen_seed = 0, gen_length = 16, steps = -1, block_length = -1;
    long top_k = -1, threads = 0;
    double eps = -1, alg_temp = -1, temperature = -1, top_p = -1, cfg = -1;
    bool quiet = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(EVAL_HELP, stdout);
            return 0;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = true;
            continue;
        }
        if (!v) return um_cli_usage("eval", "unknown option or missing value: '%s'", a);
        i++;
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            dir = v;
        else if (!strcmp(a, "--task"))
            task = v;
        else if (!strcmp(a, "--remasking"))
            remasking = v;
        else if (!strcmp(a, "--alg"))
            alg = v;
        else if (!strcmp(a, "--n"))
            ok = um_cli_parse_long(v, 1, 10000000, &n);
        else if (!strcmp(a, "--seed"))
            ok = um_cli_parse_long(v, 0, LONG_MAX, &seed);
        else if (!strcmp(a, "--gen-seed"))
            ok = um_cli_parse_long(v, 0, LONG_MAX, &gen_seed);
        else if (!strcmp(a, "--gen-length"))
            ok = um_cli_parse_long(v, 1, 1 << 20, &gen_length);
        else if (!strcmp(a, "--steps"))
            ok = um_cli_parse_long(v, 1, 1 << 20, &steps);
        else if (!strcmp(a, "--block-length"))
            ok = um_cli_parse_long(v, 1, 1 << 20, &block_length);
        else if (!strcmp(a, "--top-k"))
            ok = um_cli_parse_long(v, 0, INT_MAX, &top_k);
        else if (!strcmp(a, "--threads"))
            ok = um_cli_parse_long(v, 1, 1024, &threads);
        else if (!strcmp(a, "--eps"))
            ok = um_cli_parse_double(v, 1e-12, 0.999999, &eps);
        else if (!strcmp(a, "--alg-temp"))
            ok = um_cli_parse_double(v, 0, 1e6, &alg_temp);
        else if (!strcmp(a, "--temperature"))
            ok = um_cli_parse_double(v, 0, 1e6, &temperature);
        else if (!strcmp(a, "--top-p"))
            ok = um_cli_parse_double(v, 1e-9, 1, &top_p);
        else if (!strcmp(a, "--cfg"))
            ok = um_cli_parse_double(v, 0, 1e6, &cfg);
        else
            return um_cli_usage("eval", "unknown option '%s'", a);
        if (!ok) return um_cli_usage("eval", "bad value for option '%s'", a);
    }
    if (!dir) return um_cli_usage("eval", "%s", "-m DIR is required");
    if (!task) return um_cli_usage("eval", "%s", "--task NAME is required");
    int alg_v = UM_ALG_NONE;
    if (alg) {
        static const char *names[] = {"origin", "maskgit_plus", "topk_margin", "entropy"};
        alg_v = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(alg, names[k])) alg_v = UM_ALG_ORIGIN + k;
        if (alg_v < 0)
            return um_cli_usage("eval",
                               "--alg '%s': expected origin, maskgit_plus, topk_margin or entropy",
                               alg);
    }
    int remask_v = -1;
    if (remasking) {
        if (!strcmp(remasking, "low_confidence"))
            remask_v = UM_REMASK_LOW_CONFIDENCE;
        else if (!strcmp(remasking, "random"))
            remask_v = UM_REMASK_RANDOM;
        else
            return um_cli_usage("eval", "--remasking '%s': expected low_confidence or random",
                               remasking);
    }

    struct um_model_params mp = um_model_default_params();
    mp.n_threads = (int)threads;
    um_model *m = NULL;
    enum um_status st = um_model_load(dir, &mp, &m);
    if (st != UM_OK) return um_cli_fail(st);
    struct um_gen_params gp = um_gen_default_params(m);
    gp.gen_length = (int)gen_length;
    gp.steps = steps > 0 ? (int)steps : (int)gen_length;
    gp.block_length = block_length > 0 ? (int)block_length : (int)gen_length;
    if (alg) gp.alg = (enum um_alg)alg_v;
    if (remask_v >= 0) gp.remasking = (enum um_remasking)remask_v;
    if (eps >= 0) gp.eps = eps;
    if (alg_temp >= 0) gp.alg_temp = alg_temp;
    if (temperature >= 0) gp.temperature = temperature;
    if (top_p >= 0) gp.top_p = top_p;
    if (top_k >= 0) gp.top_k = (int)top_k;
    if (cfg >= 0) gp.cfg = cfg;
    gp.seed = (uint64_t)gen_seed;

    struct eval_progress pr = {!quiet && isatty(2)};
    struct um_eval_result res;
    st = um_eval_task(m, task, (int)n, &gp, (uint64_t)seed, on_progress, &pr, &res);
    if (pr.on) fputc('\n', stderr);
    um_model_free(m);
    if (st != UM_OK) return um_cli_fail(st);
    printf("task          %s\n", task);
    printf("examples      %d\n", res.n);
    printf("correct       %d\n", res.correct);
    printf("seconds       %.3f\n", res.seconds);
    printf("tokens/s      %.1f\n", res.seconds > 0 ? (double)res.tokens / res.seconds : 0.0);
    printf("accuracy %.4f\n", res.accuracy);
    return 0;
}

/*
 * cli.c: helpers shared by the subcommands of the unmask program: error reporting in the
 * one-line contract, and strict number / id-list parsing.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int um_cli_fail(enum um_status st) {
    fprintf(stderr, "unmask: error: %s\n", um_last_error());
    return st == UM_ERR_ARG ? EXIT_USAGE : 1;
}

int um_cli_usage(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "unmask %s: error: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'unmask %s --help')\n", cmd);
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- number parsing */

bool um_cli_parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool um_cli_parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* "1 2 3" (spaces or commas) -> malloc'd ids */
bool um_cli_parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return false;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX ||
            (*end && *end != ' ' && *end != ',' && *end != '\t' && *end != '\n')) {
            free(v);
            return false;
        }
        if (k == cap) {
            cap *= 2;
            int32_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                return false;
            }
            v = nv;
        }
        v[k++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = k;
    return true;
}

void um_cli_print_ids(const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
}


/* ---------------------------------------------------------------- generation options */

const char *const UM_CLI_GEN_HELP =
    "  --gen-length N         tokens to generate (the canvas after the prompt)\n"
    "  --steps N              denoising steps (default = gen length)\n"
    "  --block-length N       LLaDA semi-autoregressive block length (default = gen length)\n"
    "  --remasking R          low_confidence | random (LLaDA)\n"
    "  --alg A                origin | maskgit_plus | topk_margin | entropy (Dream schedule)\n"
    "  --eps E                Dream schedule end (default 1e-3)\n"
    "  --alg-temp T           Dream: sample positions from softmax(confidence / T)\n"
    "  --temperature T        token temperature (default 0 = greedy)\n"
    "  --top-p P              Dream nucleus filter (default 1 = off)\n"
    "  --top-k K              Dream top-k filter (default 0 = off)\n"
    "  --cfg S                LLaDA classifier-free guidance scale (default 0 = off)\n"
    "  --no-early-eos         LLaDA: EOS logit -inf and EOS/EoT confidence -inf\n"
    "  --cache C              none | prefix | dual (LLaDA, Dream: Fast-dLLM caches, refreshed\n"
    "                         per block) | block (SDAR, Fast-dLLM v2: exact, the default)\n"
    "  --threshold T          parallel decoding: commit every masked token of the block with\n"
    "                         confidence >= T (and the most confident one) per step\n"
    "  --factor F             parallel decoding: Fast-dLLM factor rule (LLaDA)\n"
    "  --sub-block N          Fast-dLLM v2 sub-block size (default 8)\n"
    "  --early-stop           LLaDA, Dream blocks: stop after the block that completes an EOS\n"
    "  --stats                last stderr line: stats: tokens=N forwards=F seconds=S tok_per_s=X\n"
    "  --threads N            threads (default: all cores)\n"
    "  --precision P          fp32 (default, exact) | bf16 (faster, approximate)\n";

void um_cli_gen_opts_init(struct um_cli_gen_opts *o) {
    o->gen_length = o->steps = o->block_length = o->top_k = -1;
    o->threads = 0;
    o->eps = o->alg_temp = o->temperature = o->top_p = o->cfg = -1;
    o->seed = 0;
    o->alg = o->remasking = o->precision = -1;
    o->no_early_eos = false;
    o->cache = -1;
    o->threshold = o->factor = -1;
    o->sub_block = -1;
    o->early_stop = o->stats = false;
}

int um_cli_gen_opt(struct um_cli_gen_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    bool *flag = !strcmp(a, "--no-early-eos") ? &o->no_early_eos
                 : !strcmp(a, "--early-stop") ? &o->early_stop
                 : !strcmp(a, "--stats")      ? &o->stats
                                              : NULL;
    if (flag) {
        *flag = true;
        return 1;
    }
    static const char *const with_value[] = {
        "--gen-length", "--steps", "--block-length", "--top-k", "--threads", "--eps",
        "--alg-temp", "--temperature", "--top-p", "--cfg", "--remasking", "--alg",
        "--precision", "--cache", "--threshold", "--factor", "--sub-block", NULL};
    bool known = false;
    for (int k = 0; with_value[k]; k++) known = known || !strcmp(a, with_value[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) return um_cli_usage(cmd, "option '%s' needs a value", a);
    const char *v = argv[++*i];
    bool ok = true;
    if (!strcmp(a, "--gen-length"))
        ok = um_cli_parse_long(v, 1, 1 << 20, &o->gen_length);
    else if (!strcmp(a, "--steps"))
        ok = um_cli_parse_long(v, 1, 1 << 20, &o->steps);
    else if (!strcmp(a, "--block-length"))
        ok = um_cli_parse_long(v, 1, 1 << 20, &o->block_length);
    else if (!strcmp(a, "--top-k"))
        ok = um_cli_parse_long(v, 0, INT_MAX, &o->top_k);
    else if (!strcmp(a, "--threads"))
        ok = um_cli_parse_long(v, 1, 1024, &o->threads);
    else if (!strcmp(a, "--eps"))
        ok = um_cli_parse_double(v, 1e-12, 0.999999, &o->eps);
    else if (!strcmp(a, "--alg-temp"))
        ok = um_cli_parse_double(v, 0, 1e6, &o->alg_temp);
    else if (!strcmp(a, "--temperature"))
        ok = um_cli_parse_double(v, 0, 1e6, &o->temperature);
    else if (!strcmp(a, "--top-p"))
        ok = um_cli_parse_double(v, 1e-9, 1, &o->top_p);
    else if (!strcmp(a, "--cfg"))
        ok = um_cli_parse_double(v, 0, 1e6, &o->cfg);
    else if (!strcmp(a, "--threshold"))
        ok = um_cli_parse_double(v, 0, 1, &o->threshold);
    else if (!strcmp(a, "--factor"))
        ok = um_cli_parse_double(v, 0, 1e6, &o->factor);
    else if (!strcmp(a, "--sub-block"))
        ok = um_cli_parse_long(v, 1, 1 << 20, &o->sub_block);
    else if (!strcmp(a, "--cache")) {
        o->cache = -1;
        for (int c = UM_CACHE_NONE; c <= UM_CACHE_BLOCK; c++)
            if (!strcmp(v, um_cache_str((enum um_cache)c))) o->cache = c;
        if (o->cache < 0)
            return um_cli_usage(cmd, "--cache '%s': expected none, prefix, dual or block", v);
    }
    else if (!strcmp(a, "--remasking")) {
        o->remasking = !strcmp(v, "low_confidence") ? UM_REMASK_LOW_CONFIDENCE
                       : !strcmp(v, "random")       ? UM_REMASK_RANDOM
                                                    : -1;
        if (o->remasking < 0)
            return um_cli_usage(cmd, "--remasking '%s': expected low_confidence or random", v);
    } else if (!strcmp(a, "--alg")) {
        static const char *const names[] = {"origin", "maskgit_plus", "topk_margin", "entropy"};
        o->alg = -1;
        for (int k = 0; k < 4; k++)
            if (!strcmp(v, names[k])) o->alg = UM_ALG_ORIGIN + k;
        if (o->alg < 0)
            return um_cli_usage(cmd,
                                "--alg '%s': expected origin, maskgit_plus, topk_margin or entropy",
                                v);
    } else if (!strcmp(a, "--precision")) {
        o->precision = !strcmp(v, "fp32")   ? UM_PRECISION_FP32
                       : !strcmp(v, "bf16") ? UM_PRECISION_BF16
                                            : -1;
        if (o->precision < 0) return um_cli_usage(cmd, "--precision '%s': expected fp32 or bf16", v);
    }
    if (!ok) return um_cli_usage(cmd, "bad value for option '%s'", a);
    return 1;
}

void um_cli_gen_model_params(const struct um_cli_gen_opts *o, struct um_model_params *mp) {
    mp->n_threads = (int)o->threads;
    if (o->precision >= 0) mp->precision = (enum um_precision)o->precision;
}

void um_cli_gen_apply(const struct um_cli_gen_opts *o, const um_model *model,
                      struct um_gen_params *gp) {
    const enum um_family f = um_model_get_info(model)->family;
    const bool block_model = f == UM_FAMILY_SDAR || f == UM_FAMILY_FASTDLLM2;
    if (o->gen_length > 0) gp->gen_length = (int)o->gen_length;
    if (o->steps > 0)
        gp->steps = (int)o->steps;
    else if (!block_model)
        gp->steps = gp->gen_length;
    if (o->block_length > 0)
        gp->block_length = (int)o->block_length;
    else if (!block_model)
        gp->block_length = gp->gen_length;
    if (o->cache >= 0) gp->cache = (enum um_cache)o->cache;
    if (o->threshold >= 0) gp->threshold = o->threshold;
    if (o->factor >= 0) gp->factor = o->factor;
    if (o->sub_block > 0) gp->sub_block = (int)o->sub_block;
    if (o->early_stop) gp->early_stop = true;
    if (o->alg >= 0) gp->alg = (enum um_alg)o->alg;
    if (o->remasking >= 0) gp->remasking = (enum um_remasking)o->remasking;
    if (o->eps >= 0) gp->eps = o->eps;
    if (o->alg_temp >= 0) gp->alg_temp = o->alg_temp;
    if (o->temperature >= 0) gp->temperature = o->temperature;
    if (o->top_p >= 0) gp->top_p = o->top_p;
    if (o->top_k >= 0) gp->top_k = (int)o->top_k;
    if (o->cfg >= 0) gp->cfg = o->cfg;
    if (o->no_early_eos) gp->logits_eos_inf = gp->confidence_eos_eot_inf = true;
    gp->seed = (uint64_t)o->seed;
}

void um_cli_print_stats(int64_t tokens, int64_t forwards, double seconds) {
    fprintf(stderr, "stats: tokens=%lld forwards=%lld seconds=%.3f tok_per_s=%.1f\n",
            (long long)tokens, (long long)forwards, seconds,
            seconds > 0 ? (double)tokens / seconds : 0.0);
}

/* Subcommands in their own files. Each declares its entry point here; a command whose file
 * is not yet written must not be listed. */
int um_cmd_train(int argc, char **argv);
int um_cmd_tokenizer(int argc, char **argv);
int um_cmd_data(int argc, char **argv);
int um_cmd_eval(int argc, char **argv);
const struct um_cli_command um_cli_commands[] = {
    {"tokenizer", um_cmd_tokenizer},
    {"data", um_cmd_data},
    {"eval", um_cmd_eval},
    {"train", um_cmd_train},
    {NULL, NULL},
};

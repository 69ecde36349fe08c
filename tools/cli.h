/*
 * cli.h: what the subcommand files of the unmask program share. Each subcommand is
 * `int run(int argc, char **argv)` over the arguments after its name, returning the exit
 * status: 0 success, 1 failure (one line on stderr naming file and field), 2 usage error.
 */
#ifndef UM_CLI_H
#define UM_CLI_H

#include "unmask.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_USAGE 2

/* Print "unmask: error: <um_last_error()>" and return the exit status for `st`. */
int um_cli_fail(enum um_status st);
/* Print "unmask CMD: error: <fmt with arg> (see 'unmask CMD --help')" and return 2. */
int um_cli_usage(const char *cmd, const char *fmt, const char *arg);
bool um_cli_parse_long(const char *s, long lo, long hi, long *out);
bool um_cli_parse_double(const char *s, double lo, double hi, double *out);
/* "1 2 3" (spaces or commas) -> malloc'd ids */
bool um_cli_parse_ids(const char *s, int32_t **ids, size_t *n);
void um_cli_print_ids(const int32_t *ids, size_t n);

/* Generation options shared by `generate` and `eval` (values < 0 / NULL: not given). */
struct um_cli_gen_opts {
    long gen_length, steps, block_length, top_k, threads;
    double eps, alg_temp, temperature, top_p, cfg;
    long long seed;           /* sampler seed (--seed in generate, --gen-seed in eval) */
    int alg;                  /* enum um_alg, -1 unset */
    int remasking;            /* enum um_remasking, -1 unset */
    bool no_early_eos;
    int precision;            /* enum um_precision, -1 unset */
    int cache;                /* enum um_cache, -1 unset */
    double threshold, factor; /* < 0 unset */
    long sub_block;           /* < 0 unset */
    bool early_stop, stats;
};
/* Help lines for the shared options (no --seed: each command names its sampler seed). */
extern const char *const UM_CLI_GEN_HELP;
void um_cli_gen_opts_init(struct um_cli_gen_opts *o);
/* If argv[*i] is a shared generation option, consume it (and its value, advancing *i) and
 * return 1; return 0 if it is not one; on a bad value print a usage error for `cmd` and
 * return EXIT_USAGE. */
int um_cli_gen_opt(struct um_cli_gen_opts *o, const char *cmd, int argc, char **argv, int *i);
/* Model parameters from the options (threads, precision). */
void um_cli_gen_model_params(const struct um_cli_gen_opts *o, struct um_model_params *mp);
/* Apply the given options over gp (from um_gen_default_params(model)): gen length, then steps
 * and block length (which default to the gen length for LLaDA and Dream, and stay the model's
 * block defaults for block-diffusion models), then the rest. */
void um_cli_gen_apply(const struct um_cli_gen_opts *o, const um_model *model,
                      struct um_gen_params *gp);
/* The --stats line: "stats: tokens=N forwards=F seconds=S tok_per_s=X" (stderr). */
void um_cli_print_stats(int64_t tokens, int64_t forwards, double seconds);

/* Subcommands defined in their own files (tools/cmd_*.c), listed in cli.c. */
struct um_cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
};
extern const struct um_cli_command um_cli_commands[]; /* ends with {NULL, NULL} */

#endif

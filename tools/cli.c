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

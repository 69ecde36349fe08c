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

/* Subcommands defined in their own files (tools/cmd_*.c), listed in cli.c. */
struct um_cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
};
extern const struct um_cli_command um_cli_commands[]; /* ends with {NULL, NULL} */

#endif

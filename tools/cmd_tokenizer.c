/*
 * cmd_tokenizer.c: `unmask tokenizer train` (byte-level BPE on text files, um_bpe_train) and
 * `unmask tokenizer task` (the character-level tokenizer of task models, um_task_tokenizer).
 * Both write a Hugging Face tokenizer.json atomically and print its path on stdout.
 */
#include "cli.h"
#include "unmask-train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *TOKENIZER_HELP =
    "usage: unmask tokenizer train --vocab-size N --out tokenizer.json [options] FILES...\n"
    "       unmask tokenizer task NAME --out tokenizer.json\n"
    "\n"
    "train: byte-level BPE on UTF-8 text files (NFC, Qwen2 pre-tokenizer regex), written as a\n"
    "Hugging Face tokenizer.json. Deterministic.\n"
    "  --vocab-size N        final vocabulary incl. 256 byte tokens and the special tokens\n"
    "  --special TOKEN       a special token (repeatable; replaces the default\n"
    "                        <|endoftext|> <|mdm_mask|>); the first should be an EOS token\n"
    "  --min-frequency N     do not merge pairs seen fewer than N times (default 2)\n"
    "  --out PATH            where to write tokenizer.json\n"
    "  --quiet               no progress on stderr\n"
    "\n"
    "task: the tokenizer of task models (add, sort, reverse): one token per byte plus\n"
    "<|endoftext|> (256) and <|mdm_mask|> (257).\n"
    "  -h, --help            this help\n";

struct progress {
    bool on;
    int64_t n_files;
};

static bool on_progress(void *user, int64_t done, int64_t total) {
    struct progress *p = user;
    if (!p->on) return true;
    if (done <= p->n_files)
        fprintf(stderr, "\rtokenizer: counted %lld of %lld files", (long long)done,
                (long long)p->n_files);
    else
        fprintf(stderr, "\rtokenizer: %lld of at most %lld merges   ",
                (long long)(done - p->n_files), (long long)(total - p->n_files));
    return true;
}

static int cmd_train(int argc, char **argv) {
    struct um_bpe_train_params p = um_bpe_train_default_params();
    const char **specials = calloc((size_t)argc + 1, sizeof *specials);
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!specials || !files) {
        free(specials);
        free(files);
        fprintf(stderr, "unmask: error: out of memory\n");
        return 1;
    }
    int n_special = 0, n_files = 0, rc = -1;
    long vocab = -1, minf = 2;
    const char *out = NULL;
    bool quiet = false;
    for (int i = 0; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(TOKENIZER_HELP, stdout);
            rc = 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--vocab-size") || !strcmp(a, "--special") ||
                   !strcmp(a, "--min-frequency") || !strcmp(a, "--out")) {
            if (!v) {
                rc = um_cli_usage("tokenizer", "option '%s' needs a value", a);
                break;
            }
            i++;
            if (!strcmp(a, "--vocab-size") && !um_cli_parse_long(v, 1, 1 << 21, &vocab))
                rc = um_cli_usage("tokenizer", "--vocab-size '%s': expected 1..2097152", v);
            else if (!strcmp(a, "--min-frequency") && !um_cli_parse_long(v, 1, 1L << 40, &minf))
                rc = um_cli_usage("tokenizer", "--min-frequency '%s': expected a count >= 1", v);
            else if (!strcmp(a, "--special"))
                specials[n_special++] = v;
            else if (!strcmp(a, "--out"))
                out = v;
        } else if (a[0] == '-' && a[1]) {
            rc = um_cli_usage("tokenizer", "unknown option '%s'", a);
        } else {
            files[n_files++] = a;
        }
    }
    if (rc < 0 && vocab < 0) rc = um_cli_usage("tokenizer", "%s", "--vocab-size N is required");
    if (rc < 0 && !out) rc = um_cli_usage("tokenizer", "%s", "--out PATH is required");
    if (rc < 0 && n_files == 0) rc = um_cli_usage("tokenizer", "%s", "no input FILES given");
    if (rc < 0) {
        struct progress pr = {!quiet && isatty(2), n_files};
        p.vocab_size = (int32_t)vocab;
        p.min_frequency = (int32_t)(minf > INT32_MAX ? INT32_MAX : minf);
        if (n_special > 0) {
            p.special_tokens = specials;
            p.n_special = n_special;
        }
        p.progress = on_progress;
        p.progress_user = &pr;
        enum um_status st = um_bpe_train(files, n_files, &p, out);
        if (pr.on) fputc('\n', stderr);
        rc = st == UM_OK ? 0 : um_cli_fail(st);
        if (st == UM_OK) printf("%s\n", out);
    }
    free(specials);
    free(files);
    return rc;
}

static int cmd_task(int argc, char **argv) {
    const char *task = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(TOKENIZER_HELP, stdout);
            return 0;
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (a[0] != '-' && !task) {
            task = a;
        } else {
            return um_cli_usage("tokenizer", "unknown or incomplete option '%s'", a);
        }
    }
    if (!task) return um_cli_usage("tokenizer", "%s", "task NAME is required");
    if (!out) return um_cli_usage("tokenizer", "%s", "--out PATH is required");
    enum um_status st = um_task_tokenizer(task, out);
    if (st != UM_OK) return um_cli_fail(st);
    printf("%s\n", out);
    return 0;
}

int um_cmd_tokenizer(int argc, char **argv);
int um_cmd_tokenizer(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        fputs(TOKENIZER_HELP, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[0], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[0], "task")) return cmd_task(argc - 1, argv + 1);
    return um_cli_usage("tokenizer", "unknown subcommand '%s' (train or task)", argv[0]);
}

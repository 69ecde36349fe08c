/*
 * cmd_data.c: `unmask data text` (text files -> token streams, um_data_build_text) and
 * `unmask data task` (a synthetic task -> SFT rows, um_data_build_task). Both write a data
 * folder (train.bin, val.bin, tokenizer.json, meta.json; format in src/train/data.h) and print
 * its counts on stdout.
 */
#include "cli.h"
#include "unmask-train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *DATA_HELP =
    "usage: unmask data text --tokenizer PATH --out DIR [options] FILES...\n"
    "       unmask data task --task NAME --tokenizer PATH --n-train N --n-val N --seq-len L\n"
    "                        --out DIR [--seed S]\n"
    "\n"
    "text: tokenize UTF-8 files into DIR/train.bin and DIR/val.bin (documents separated by\n"
    "the tokenizer's <|endoftext|>), DIR/tokenizer.json and DIR/meta.json.\n"
    "  --tokenizer PATH      tokenizer.json or a model folder\n"
    "  --out DIR             output folder (created if missing)\n"
    "  --val-fraction F      fraction of documents for validation (default 0.01)\n"
    "  --split-paragraphs    a document per run of non-blank lines (default: per file)\n"
    "  --seed S              seed of the train/val assignment (default 0)\n"
    "  --quiet               no progress on stderr\n"
    "\n"
    "task: SFT rows (prompt, answer, EOS padding to --seq-len) of a built-in task\n"
    "(add, sort, reverse; make its tokenizer with 'unmask tokenizer task NAME').\n"
    "  --task NAME  --n-train N  --n-val N  --seq-len L  --seed S (default 0)\n"
    "  -h, --help            this help\n";

static bool on_progress(void *user, int64_t done, int64_t total) {
    if (*(bool *)user)
        fprintf(stderr, "\rdata: %.1f of %.1f MB tokenized", (double)done / 1e6,
                (double)total / 1e6);
    return true;
}

static void print_stats(const struct um_data_stats *s, const char *dir) {
    printf("folder        %s\n", dir);
    printf("documents     %lld\n", (long long)s->n_documents);
    printf("train tokens  %lld\n", (long long)s->n_train_tokens);
    printf("val tokens    %lld\n", (long long)s->n_val_tokens);
}

static int cmd_text(int argc, char **argv) {
    struct um_data_text_params p = um_data_text_default_params();
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    if (!files) {
        fprintf(stderr, "unmask: error: out of memory\n");
        return 1;
    }
    int n_files = 0, rc = -1;
    const char *out = NULL;
    bool quiet = false;
    for (int i = 0; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "--tokenizer") || !strcmp(a, "--out") ||
                     !strcmp(a, "--val-fraction") || !strcmp(a, "--seed");
        if (takes && !v) {
            rc = um_cli_usage("data", "option '%s' needs a value", a);
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(DATA_HELP, stdout);
            rc = 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!strcmp(a, "--split-paragraphs")) {
            p.split_paragraphs = true;
        } else if (!strcmp(a, "--tokenizer")) {
            p.tokenizer = argv[++i];
        } else if (!strcmp(a, "--out")) {
            out = argv[++i];
        } else if (!strcmp(a, "--val-fraction")) {
            if (!um_cli_parse_double(argv[++i], 0, 0.999999, &p.val_fraction))
                rc = um_cli_usage("data", "--val-fraction '%s': expected a number in [0, 1)", v);
        } else if (!strcmp(a, "--seed")) {
            long s = 0;
            if (!um_cli_parse_long(argv[++i], 0, 0x7fffffffffffffffL, &s))
                rc = um_cli_usage("data", "--seed '%s': expected a non-negative integer", v);
            p.seed = (uint64_t)s;
        } else if (a[0] == '-' && a[1]) {
            rc = um_cli_usage("data", "unknown option '%s'", a);
        } else {
            files[n_files++] = a;
        }
    }
    if (rc < 0 && !p.tokenizer) rc = um_cli_usage("data", "%s", "--tokenizer PATH is required");
    if (rc < 0 && !out) rc = um_cli_usage("data", "%s", "--out DIR is required");
    if (rc < 0 && n_files == 0) rc = um_cli_usage("data", "%s", "no input FILES given");
    if (rc < 0) {
        bool show = !quiet && isatty(2);
        p.inputs = files;
        p.n_inputs = n_files;
        p.progress = on_progress;
        p.progress_user = &show;
        struct um_data_stats s;
        enum um_status st = um_data_build_text(&p, out, &s);
        if (show) fputc('\n', stderr);
        rc = st == UM_OK ? 0 : um_cli_fail(st);
        if (st == UM_OK) print_stats(&s, out);
    }
    free(files);
    return rc;
}

static int cmd_task(int argc, char **argv) {
    const char *task = NULL, *tokenizer = NULL, *out = NULL;
    long n_train = -1, n_val = -1, seq_len = -1, seed = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(DATA_HELP, stdout);
            return 0;
        }
        if (!v) return um_cli_usage("data", "unknown option or missing value: '%s'", a);
        i++;
        if (!strcmp(a, "--task")) {
            task = v;
        } else if (!strcmp(a, "--tokenizer")) {
            tokenizer = v;
        } else if (!strcmp(a, "--out")) {
            out = v;
        } else if (!strcmp(a, "--n-train")) {
            if (!um_cli_parse_long(v, 1, 1L << 31, &n_train))
                return um_cli_usage("data", "--n-train '%s': expected 1..2^31", v);
        } else if (!strcmp(a, "--n-val")) {
            if (!um_cli_parse_long(v, 0, 1L << 31, &n_val))
                return um_cli_usage("data", "--n-val '%s': expected 0..2^31", v);
        } else if (!strcmp(a, "--seq-len")) {
            if (!um_cli_parse_long(v, 2, 65536, &seq_len))
                return um_cli_usage("data", "--seq-len '%s': expected 2..65536", v);
        } else if (!strcmp(a, "--seed")) {
            if (!um_cli_parse_long(v, 0, 0x7fffffffffffffffL, &seed))
                return um_cli_usage("data", "--seed '%s': expected a non-negative integer", v);
        } else {
            return um_cli_usage("data", "unknown option '%s'", a);
        }
    }
    if (!task) return um_cli_usage("data", "%s", "--task NAME is required");
    if (!tokenizer) return um_cli_usage("data", "%s", "--tokenizer PATH is required");
    if (!out) return um_cli_usage("data", "%s", "--out DIR is required");
    if (n_train < 0 || n_val < 0 || seq_len < 0)
        return um_cli_usage("data", "%s", "--n-train, --n-val and --seq-len are required");
    struct um_data_stats s;
    enum um_status st = um_data_build_task(task, tokenizer, n_train, n_val, (int)seq_len,
                                           (uint64_t)seed, out, &s);
    if (st != UM_OK) return um_cli_fail(st);
    print_stats(&s, out);
    return 0;
}

int um_cmd_data(int argc, char **argv);
int um_cmd_data(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) {
        fputs(DATA_HELP, argc < 1 ? stderr : stdout);
        return argc < 1 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[0], "text")) return cmd_text(argc - 1, argv + 1);
    if (!strcmp(argv[0], "task")) return cmd_task(argc - 1, argv + 1);
    return um_cli_usage("data", "unknown subcommand '%s' (text or task)", argv[0]);
}

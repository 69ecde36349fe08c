/*
 * cmd_train.c: `unmask train CONFIG [--resume] [--set key=value ...]`. Prints a progress bar
 * (loss, tokens/s, time left) on stderr, evaluation lines with the validation ELBO and its
 * perplexity bound, and on success the folder of the exported model on stdout.
 */
#include "cli.h"
#include "unmask-train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *TRAIN_HELP =
    "usage: unmask train CONFIG [--resume] [--set KEY=VALUE ...] [--quiet]\n"
    "\n"
    "Train a diffusion LM (masked diffusion, SFT or block diffusion) from a `key = value`\n"
    "config file; docs/TRAINING.md lists every key. Writes OUT/checkpoint/ (resumable),\n"
    "OUT/train_log.tsv and, at the end, OUT/model/ (a Hugging Face folder for generate).\n"
    "\n"
    "  --resume           continue from OUT/checkpoint (bit for bit, same config and threads)\n"
    "  --set KEY=VALUE    override a config key (repeatable)\n"
    "  --quiet            no progress bar\n"
    "  -h, --help         this help\n";

struct bar {
    bool tty, quiet;
    double last_print;
    long long kill_after; /* test hook: SIGKILL itself after this step (0: off) */
};

static void fmt_time(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static bool on_progress(void *user, const struct um_train_progress *p) {
    struct bar *b = user;
    if (b->kill_after > 0 && p->step == b->kill_after) raise(SIGKILL);
    if (!isnan(p->val_loss))
        fprintf(stderr, "%seval step %lld: val loss %.4f (perplexity bound %.2f)\n",
                b->tty ? "\r\x1b[K" : "", (long long)p->step, p->val_loss, p->val_ppl_bound);
    if (b->quiet) return true;
    const bool done = p->step == p->steps;
    if (!b->tty && !done && p->elapsed_s - b->last_print < 10.0) return true;
    b->last_print = p->elapsed_s;
    char eta[32], el[32];
    fmt_time(p->eta_s, eta, sizeof eta);
    fmt_time(p->elapsed_s, el, sizeof el);
    const int width = 24;
    int filled = (int)((double)p->step / (double)p->steps * width);
    char barstr[64];
    for (int i = 0; i < width; i++) barstr[i] = i < filled ? '#' : '.';
    barstr[width] = 0;
    fprintf(stderr, "%sstep %lld/%lld [%s] loss %.4f lr %.2e gnorm %.2f %.0f tok/s %s%s%s%s",
            b->tty ? "\r\x1b[K" : "", (long long)p->step, (long long)p->steps, barstr, p->loss,
            p->lr, p->grad_norm, p->tokens_per_s, done ? "done in " : "", done ? el : eta,
            done ? "" : " left", b->tty && !done ? "" : "\n");
    fflush(stderr);
    return true;
}

int um_cmd_train(int argc, char **argv);
int um_cmd_train(int argc, char **argv) {
    const char *config = NULL;
    bool resume = false;
    struct bar b = {isatty(STDERR_FILENO) != 0, false, -1e9, 0};
    /* Test hook for the crash/resume test: the process kills itself with SIGKILL right after
     * the given step (as a power cut would), so the test needs no timing. */
    const char *kill_env = getenv("UNMASK_TEST_KILL_AFTER_STEP");
    if (kill_env) b.kill_after = atoll(kill_env);
    struct um_train_config cfg = um_train_config_default();
    const char *sets[64];
    int n_sets = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(TRAIN_HELP, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--resume")) {
            resume = true;
        } else if (!strcmp(argv[i], "--quiet")) {
            b.quiet = true;
        } else if (!strcmp(argv[i], "--set") && i + 1 < argc) {
            if (n_sets == 64) return um_cli_usage("train", "%s", "too many --set options");
            sets[n_sets++] = argv[++i];
        } else if (argv[i][0] == '-') {
            return um_cli_usage("train", "unknown or incomplete option '%s'", argv[i]);
        } else if (!config) {
            config = argv[i];
        } else {
            return um_cli_usage("train", "unexpected argument '%s'", argv[i]);
        }
    }
    if (!config) return um_cli_usage("train", "%s", "CONFIG is required");
    enum um_status st = um_train_config_load(config, &cfg);
    for (int i = 0; st == UM_OK && i < n_sets; i++)
        st = um_train_config_set(&cfg, sets[i], "--set");
    if (st != UM_OK) return um_cli_fail(st);
    st = um_train_run(&cfg, resume, on_progress, &b);
    if (st != UM_OK) {
        if (b.tty) fputs("\n", stderr);
        return um_cli_fail(st);
    }
    printf("%s/model\n", cfg.out);
    return 0;
}

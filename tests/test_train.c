/*
 * test_train.c: the training pipeline end to end through the real `unmask` binary:
 *   tokenizer train -> data text -> train (tiny LLaDA, masked diffusion) -> generate.
 * Checks:
 *   - crash and resume: a run killed with SIGKILL after step 5 (checkpoints every 3 steps) and
 *     resumed with --resume has exactly the loss trajectory (all 17 digits) and the final
 *     weights (byte for byte) of an uninterrupted run;
 *   - the loss goes down on real text (mean of the last 10 steps < mean of the first 10);
 *   - a diverging run (LAMB at lr 100, no clipping: weights grow ~100x a step) stops with exit 1 and one line naming the step and
 *     the tensor;
 *   - the exported model loads and generates;
 *   - every other objective (sft on task rows, bd3) and optimiser runs a few steps.
 */
#include "test.h"

#include "base/base.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char g_tmp[256], g_err[512];

static int run(const char *env, const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s %s >%s/out 2>%s", env ? env : "", UM_BINARY, args, g_tmp,
             g_err);
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static char *slurp(const char *path) {
    char *t = NULL;
    size_t n = 0;
    if (um_read_file(path, (size_t)1 << 30, &t, &n) != UM_OK) return strdup("");
    return t;
}

/* column `col` (0-based) of every data line of a train_log.tsv, joined by '\n' */
static char *log_column(const char *path, int col) {
    char *t = slurp(path);
    size_t cap = strlen(t) + 1, k = 0;
    char *out = calloc(cap, 1);
    char *save = NULL;
    int line = 0;
    for (char *l = strtok_r(t, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (line++ == 0) continue; /* header */
        char *s2 = NULL;
        int c = 0;
        for (char *f = strtok_r(l, "\t", &s2); f; f = strtok_r(NULL, "\t", &s2), c++)
            if (c == col) k += (size_t)snprintf(out + k, cap - k, "%s\n", f);
    }
    free(t);
    return out;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/unmask_train_XXXXXX");
    CHECK(mkdtemp(g_tmp) != NULL);
    snprintf(g_err, sizeof g_err, "%s/err", g_tmp);
    char args[8192], path[1024], path2[1024];
    const char *src = UM_SOURCE_DIR;

    /* corpus: the project's own docs and sources (real text, always present) */
    char corpus[2048];
    snprintf(corpus, sizeof corpus, "%s/README.md %s/docs/ARCHITECTURE.md %s/docs/TRAINING.md "
             "%s/src/model/forward.c %s/src/decode/llada.c %s/src/tokenizer/encode.c",
             src, src, src, src, src, src);
    snprintf(args, sizeof args, "tokenizer train --vocab-size 400 --special '<|endoftext|>' "
             "--special '<|mdm_mask|>' --out %s/tok.json %s", g_tmp, corpus);
    CHECKF(run(NULL, args) == 0, "tokenizer train failed: %s", slurp(g_err));
    snprintf(args, sizeof args, "data text --tokenizer %s/tok.json --out %s/data "
             "--split-paragraphs %s", g_tmp, g_tmp, corpus);
    CHECKF(run(NULL, args) == 0, "data text failed: %s", slurp(g_err));

    snprintf(path, sizeof path, "%s/tiny.conf", g_tmp);
    char conf[2048];
    snprintf(conf, sizeof conf,
             "# tiny LLaDA for the trainer test\n"
             "family = llada\nd_model = 32\nn_layers = 2\nn_heads = 2\nd_ff = 64\n"
             "objective = mdm\ndata = %s/data\ntokenizer = %s/tok.json\nseq_len = 32\n"
             "optimizer = adamw\nlr = 3e-3\nwarmup_steps = 2\nbatch_size = 4\nsteps = 8\n"
             "save_interval = 3\neval_interval = 4\neval_batches = 2\nseed = 7\n"
             "threads = 2\nsave_dtype = f32\n",
             g_tmp, g_tmp);
    write_text(path, conf);

    /* A: uninterrupted */
    snprintf(args, sizeof args, "train %s --quiet --set out=%s/runA", path, g_tmp);
    CHECKF(run(NULL, args) == 0, "run A failed: %s", slurp(g_err));
    /* B: killed after step 5, then resumed from the step-3 checkpoint */
    snprintf(args, sizeof args, "train %s --quiet --set out=%s/runB", path, g_tmp);
    int rc = run("UNMASK_TEST_KILL_AFTER_STEP=5", args);
    CHECKF(rc == 1000 + 9 || rc == 128 + 9, "run B should die of SIGKILL, rc=%d", rc);
    snprintf(path2, sizeof path2, "%s/runB/checkpoint/trainer_state.json", g_tmp);
    char *state = slurp(path2);
    CHECKF(strstr(state, "\"step\": 3") != NULL, "checkpoint after the kill: %s", state);
    free(state);
    snprintf(args, sizeof args, "train %s --quiet --resume --set out=%s/runB", path, g_tmp);
    CHECKF(run(NULL, args) == 0, "resume failed: %s", slurp(g_err));

    snprintf(path2, sizeof path2, "%s/runA/train_log.tsv", g_tmp);
    char *la = log_column(path2, 1), *va = log_column(path2, 6);
    snprintf(path2, sizeof path2, "%s/runB/train_log.tsv", g_tmp);
    char *lb = log_column(path2, 1), *vb = log_column(path2, 6);
    int n_lines = 0;
    for (char *c = la; *c; c++) n_lines += *c == '\n';
    CHECKF(n_lines == 8, "run A logged %d steps", n_lines);
    CHECKF(!strcmp(la, lb), "loss trajectories differ:\nA:\n%sB:\n%s", la, lb);
    CHECKF(!strcmp(va, vb), "validation losses differ:\nA:\n%sB:\n%s", va, vb);
    printf("  resume after SIGKILL: %d steps, trajectories %s\n", n_lines,
           strcmp(la, lb) ? "DIFFER" : "identical");
    free(la);
    free(lb);
    free(va);
    free(vb);
    snprintf(path, sizeof path, "%s/runA/checkpoint/model.safetensors", g_tmp);
    snprintf(path2, sizeof path2, "%s/runB/checkpoint/model.safetensors", g_tmp);
    char *wa = NULL, *wb = NULL;
    size_t na = 0, nb = 0;
    CHECK(um_read_file(path, (size_t)1 << 30, &wa, &na) == UM_OK);
    CHECK(um_read_file(path2, (size_t)1 << 30, &wb, &nb) == UM_OK);
    CHECKF(na == nb && wa && wb && memcmp(wa, wb, na) == 0, "final weights differ (%zu vs %zu "
           "bytes)", na, nb);
    free(wa);
    free(wb);

    /* the exported model generates */
    snprintf(args, sizeof args, "generate -m %s/runA/model --prompt-ids \"5 6 7\" --gen-length 8 "
             "--steps 4 --ids", g_tmp);
    CHECKF(run(NULL, args) == 0, "generate with the trained model failed: %s", slurp(g_err));

    /* the loss goes down over 80 steps */
    snprintf(path, sizeof path, "%s/tiny.conf", g_tmp);
    snprintf(args, sizeof args, "train %s --quiet --set out=%s/runC --set steps=80 "
             "--set save_interval=0 --set eval_interval=0", path, g_tmp);
    CHECKF(run(NULL, args) == 0, "run C failed: %s", slurp(g_err));
    snprintf(path2, sizeof path2, "%s/runC/train_log.tsv", g_tmp);
    char *lc = log_column(path2, 1);
    double first = 0, last = 0, v;
    int i = 0;
    for (char *l = lc; *l; i++) {
        v = atof(l);
        if (i < 10) first += v / 10;
        if (i >= 70) last += v / 10;
        l = strchr(l, '\n') + 1;
    }
    printf("  loss: first 10 steps %.3f, last 10 steps %.3f\n", first, last);
    CHECKF(i == 80 && last < first * 0.9, "loss did not go down: %.3f -> %.3f", first, last);
    free(lc);

    /* divergence stops with a message naming the step and a tensor */
    snprintf(args, sizeof args, "train %s --quiet --set out=%s/runD --set optimizer=lamb "
             "--set lr=100 --set grad_clip=0 --set warmup_steps=0 --set steps=60", path, g_tmp);
    rc = run(NULL, args);
    char *err = slurp(g_err);
    CHECKF(rc == 1 && strstr(err, "step ") && strstr(err, "not finite") &&
               strstr(err, "model.transformer."),
           "divergence: rc=%d stderr=%s", rc, err);
    printf("  divergence: %s", err);
    free(err);

    /* other optimisers and the block-diffusion objective run */
    const char *variants[] = {"--set optimizer=muon --set lr=0.02",
                              "--set optimizer=lamb --set lr=3e-3",
                              "--set optimizer=orscale --set lr=0.01",
                              "--set objective=bd3 --set block_size=8"};
    for (int k = 0; k < 4; k++) {
        snprintf(args, sizeof args, "train %s --quiet --set out=%s/runV%d --set steps=4 %s", path,
                 g_tmp, k, variants[k]);
        CHECKF(run(NULL, args) == 0, "%s failed: %s", variants[k], slurp(g_err));
    }

    /* config errors name file, line and key */
    snprintf(path, sizeof path, "%s/bad.conf", g_tmp);
    write_text(path, "d_model = 32\nlearning_rate = 1\n");
    snprintf(args, sizeof args, "train %s", path);
    rc = run(NULL, args);
    err = slurp(g_err);
    CHECKF(rc == 1 && strstr(err, "bad.conf:2") && strstr(err, "learning_rate"),
           "bad config: rc=%d %s", rc, err);
    free(err);

    snprintf(args, sizeof args, "rm -rf %s", g_tmp);
    CHECK(system(args) == 0);
    return TEST_DONE();
}

/*
 * test_default_models.c: the models the project trained and committed (models/) still work
 * with the current engine:
 *   - models/sort-llada: `unmask eval --task sort --n 200` with the standard decoding
 *     (gen length 16, 16 steps, low-confidence remasking) reaches accuracy >= 0.9;
 *   - models/kjv-llada: loads, and generates text from a prompt (the README's first command).
 */
#include "test.h"

#include "base/base.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char g_out[256], g_err[256];

static int run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s", UM_BINARY, args, g_out, g_err);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : 1000;
}

static char *slurp(const char *path) {
    char *t = NULL;
    size_t n = 0;
    if (um_read_file(path, 1u << 24, &t, &n) != UM_OK) return strdup("");
    return t;
}

int main(void) {
    char tmp[] = "/tmp/unmask_models_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(g_out, sizeof g_out, "%s/out", tmp);
    snprintf(g_err, sizeof g_err, "%s/err", tmp);
    char args[2048];

    snprintf(args, sizeof args, "eval -m %s/models/sort-llada --task sort --n 200 --seed 1 --quiet",
             UM_SOURCE_DIR);
    int rc = run(args);
    char *out = slurp(g_out);
    const char *last = strstr(out, "accuracy ");
    double acc = last ? atof(last + 9) : -1;
    printf("  sort-llada: accuracy %.3f over 200 held-out examples (rc %d)\n", acc, rc);
    CHECKF(rc == 0 && acc >= 0.9, "sort model accuracy %.3f < 0.9: %s %s", acc, out,
           slurp(g_err));
    free(out);

    snprintf(args, sizeof args, "generate -m %s/models/kjv-llada -p \"And God said\" --raw "
             "--gen-length 32 --steps 32 --block-length 16", UM_SOURCE_DIR);
    rc = run(args);
    out = slurp(g_out);
    printf("  kjv-llada: %s", out);
    CHECKF(rc == 0 && strlen(out) > 10, "text model generation failed: %s", slurp(g_err));
    free(out);

    snprintf(args, sizeof args, "rm -rf %s", tmp);
    CHECK(system(args) == 0);
    return TEST_DONE();
}

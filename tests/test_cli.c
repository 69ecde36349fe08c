/*
 * test_cli.c: the command-line contract under hostile input. Each case runs the real `unmask`
 * binary on a damaged copy of a tiny model and asserts: exit status in 1..127 (never a crash
 * signal), exactly one line on stderr, and that line names the file (and field) at fault.
 * Also checks --help for every command, --ids output length, and tokenize round trips.
 */
#include "test.h"

#include "base/base.h"
#include "io/safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_tmp[256];
static char g_out[512], g_err[512];

/* Run a shell command with stdout/stderr captured; return the exit status or 1000+signal. */
static int run(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s </dev/null", UM_BINARY, args, g_out, g_err);
    int st = system(cmd);
    if (st == -1) return -1;
    if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static char *slurp(const char *path) {
    char *t = NULL;
    size_t n = 0;
    if (um_read_file(path, 1u << 24, &t, &n) != UM_OK) return strdup("");
    return t;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Expect a clean failure whose single stderr line contains `needle`. */
static void expect_error(const char *what, const char *args, const char *needle) {
    int rc = run(args);
    char *err = slurp(g_err);
    CHECKF(rc >= 1 && rc <= 127, "%s: exit status %d (want 1..127); stderr: %s", what, rc, err);
    CHECKF(count_lines(err) == 1, "%s: %d stderr lines: %s", what, count_lines(err), err);
    CHECKF(strstr(err, needle) != NULL, "%s: stderr lacks '%s': %s", what, needle, err);
    printf("  %-34s rc=%d  %s", what, rc, err);
    free(err);
}

static void copy_file(const char *src, const char *dst) {
    char *t = NULL;
    size_t n = 0;
    CHECK(um_read_file(src, (size_t)1 << 31, &t, &n) == UM_OK);
    FILE *f = fopen(dst, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite(t, 1, n, f);
        fclose(f);
    }
    free(t);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* A fresh copy of the source model folder named `name`; returns its path (static buffer). */
static const char *fresh_model(const char *src, const char *name) {
    static char dir[512];
    char a[1024], b[1024];
    snprintf(dir, sizeof dir, "%s/%s", g_tmp, name);
    mkdir(dir, 0755);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        copy_file(a, b);
    }
    return dir;
}

/* Rewrite DIR/model.safetensors without tensor `drop` (NULL: keep all). */
static void rewrite_without(const char *src, const char *dir, const char *drop) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", src);
    um_st_set *set = NULL;
    CHECK(um_st_open_file(path, &set) == UM_OK);
    if (!set) return;
    int n = um_st_count(set), k = 0;
    um_st_write_tensor *w = calloc((size_t)n, sizeof *w);
    for (int i = 0; i < n; i++) {
        const um_st_tensor *t = um_st_get(set, i);
        if (drop && !strcmp(t->name, drop)) continue;
        w[k].name = t->name;
        w[k].dtype = t->dtype;
        w[k].n_dims = t->n_dims;
        memcpy(w[k].shape, t->shape, sizeof t->shape);
        w[k].data = t->data;
        k++;
    }
    CHECK(k == n - (drop ? 1 : 0));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECKF(um_st_write(path, w, k, NULL) == UM_OK, "%s", um_last_error());
    free(w);
    um_st_close(set);
}

static void patch_bytes(const char *path, long off, const void *bytes, size_t n) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, off, SEEK_SET);
    fwrite(bytes, 1, n, f);
    fclose(f);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/unmask_cli_XXXXXX");
    CHECK(mkdtemp(g_tmp) != NULL);
    snprintf(g_out, sizeof g_out, "%s/stdout", g_tmp);
    snprintf(g_err, sizeof g_err, "%s/stderr", g_tmp);
    const char *src = UM_TESTDATA "/llada_f32";
    char args[4096], path[1024];

    /* --help for every command, exit 0, text on stdout */
    const char *cmds[] = {"--help", "generate --help", "tokenize --help", "info --help"};
    for (int i = 0; i < 4; i++) {
        int rc = run(cmds[i]);
        char *out = slurp(g_out);
        CHECKF(rc == 0 && strstr(out, "usage: unmask") != NULL, "'%s' rc=%d", cmds[i], rc);
        free(out);
    }

    /* info on a good model */
    snprintf(args, sizeof args, "info -m %s", src);
    CHECKF(run(args) == 0, "info failed on %s", src);
    char *out = slurp(g_out);
    CHECK(strstr(out, "family        llada") != NULL);
    free(out);

    /* generate --ids prints exactly N ids on one line */
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1 2 3\" --gen-length 12 "
             "--steps 6 --block-length 4 --ids", src);
    CHECKF(run(args) == 0, "generate --ids failed");
    out = slurp(g_out);
    int n_ids = 0;
    for (char *tok = strtok(out, " \n"); tok; tok = strtok(NULL, " \n")) n_ids++;
    CHECKF(n_ids == 12, "generate --ids printed %d ids, want 12", n_ids);
    CHECK(count_lines(g_out) >= 0);
    free(out);

    /* --cache / --threshold / --stats: same tokens as the uncached run here is not required
     * (the caches are approximate), but the last stderr line is the stats line and the
     * token count is what was generated */
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1 2 3\" --gen-length 12 "
             "--block-length 4 --cache dual --threshold 0.5 --ids --stats", src);
    CHECKF(run(args) == 0, "generate --cache dual --stats failed");
    char *err = slurp(g_err);
    const char *last = err;
    for (const char *q = err; *q; q++)
        if (*q == '\n' && q[1]) last = q + 1;
    long long st_tok = -1, st_fwd = -1;
    double st_s = -1, st_tps = -1;
    CHECKF(sscanf(last, "stats: tokens=%lld forwards=%lld seconds=%lf tok_per_s=%lf", &st_tok,
                  &st_fwd, &st_s, &st_tps) == 4, "last stderr line: %s", last);
    CHECK(st_tok == 12 && st_fwd >= 3 && st_fwd <= 12 && st_s >= 0 && st_tps >= 0);
    free(err);
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1\" --cache sideways", src);
    expect_error("bad --cache", args, "--cache");
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1\" --cache block", src);
    expect_error("block cache on a full-attention model", args, "block");
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1\" --threshold 1.5", src);
    expect_error("threshold out of range", args, "--threshold");
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1\" --threshold 0.5 "
             "--factor 1", src);
    expect_error("threshold and factor", args, "--factor");

    /* usage errors */
    expect_error("unknown command", "frobnicate", "frobnicate");
    expect_error("unknown option", "generate --bogus", "--bogus");
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1\" --gen-length 10 "
             "--block-length 4", src);
    expect_error("block length not dividing", args, "block");
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1 x\"", src);
    expect_error("bad prompt ids", args, "--prompt-ids");

    /* missing paths */
    expect_error("nonexistent model dir", "info -m /nonexistent/model", "/nonexistent/model");
    expect_error("nonexistent tokenizer", "tokenize -m /nonexistent/tok.json hi",
                 "/nonexistent/tok.json");
    snprintf(path, sizeof path, "%s/empty", g_tmp);
    mkdir(path, 0755);
    snprintf(args, sizeof args, "info -m %s", path);
    expect_error("folder without config.json", args, "config.json");

    /* corrupt config.json */
    const char *d = fresh_model(src, "badcfg");
    snprintf(path, sizeof path, "%s/config.json", d);
    write_text(path, "{\"architectures\": [\"LLaDAModelLM\"], \"d_model\": ");
    snprintf(args, sizeof args, "info -m %s", d);
    expect_error("truncated config.json", args, "config.json");
    write_text(path, "{\"architectures\": [\"LLaDAModelLM\"], \"n_heads\": 4}");
    expect_error("config missing d_model", args, "d_model");
    write_text(path, "{\"architectures\": [\"GPT2LMHeadModel\"]}");
    expect_error("unsupported architecture", args, "GPT2LMHeadModel");

    /* config that disagrees with the weights */
    d = fresh_model(src, "shape");
    snprintf(path, sizeof path, "%s/config.json", d);
    char *cfg = slurp(path);
    char *p = strstr(cfg, "\"mlp_hidden_size\"");
    CHECK(p != NULL);
    if (p) {
        char *colon = strchr(p, ':');
        char *end = colon + 1;
        while (*end == ' ') end++;
        while (*end >= '0' && *end <= '9') end++;
        char patched[65536];
        snprintf(patched, sizeof patched, "%.*s: 7%s", (int)(colon - cfg), cfg, end);
        write_text(path, patched);
        snprintf(args, sizeof args, "info -m %s", d);
        expect_error("shape mismatch vs config", args, "ff_proj");
    }
    free(cfg);

    /* no mask_token_id in config and no tokenizer: the LLaDA default 126336 lies outside this
     * vocabulary, so the model has no mask id and generation says so */
    d = fresh_model(src, "nomask");
    snprintf(path, sizeof path, "%s/config.json", d);
    cfg = slurp(path);
    p = strstr(cfg, "\"mask_token_id\"");
    CHECK(p != NULL);
    if (p) {
        memcpy(p, "\"mask_token_xx\"", 15);
        write_text(path, cfg);
        snprintf(args, sizeof args, "info -m %s", d);
        CHECK(run(args) == 0);
        out = slurp(g_out);
        CHECKF(strstr(out, "mask id       -1") != NULL, "%s", out);
        free(out);
        snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1 2\" --gen-length 4", d);
        expect_error("no mask token", args, "mask");
    }
    free(cfg);

    /* truncated safetensors */
    d = fresh_model(src, "trunc");
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    CHECK(truncate(path, 1000) == 0);
    snprintf(args, sizeof args, "info -m %s", d);
    expect_error("truncated safetensors", args, "model.safetensors");
    CHECK(truncate(path, 5) == 0);
    expect_error("5-byte safetensors", args, "model.safetensors");

    /* header length past end of file */
    d = fresh_model(src, "hdrlen");
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    uint64_t big = 1ull << 40;
    patch_bytes(path, 0, &big, 8);
    snprintf(args, sizeof args, "info -m %s", d);
    expect_error("header length past end", args, "model.safetensors");

    /* missing tensor */
    d = fresh_model(src, "missing");
    rewrite_without(src, d, "model.transformer.blocks.1.up_proj.weight");
    snprintf(args, sizeof args, "info -m %s", d);
    expect_error("missing tensor", args, "model.transformer.blocks.1.up_proj.weight");

    /* corrupt tokenizer.json next to a good model */
    d = fresh_model(src, "badtok");
    snprintf(path, sizeof path, "%s/tokenizer.json", d);
    write_text(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [");
    snprintf(args, sizeof args, "info -m %s", d);
    expect_error("corrupt tokenizer.json", args, "tokenizer.json");

    /* token id out of range in --prompt-ids */
    snprintf(args, sizeof args, "generate -m %s --prompt-ids \"1 99999999\" --gen-length 4", src);
    expect_error("prompt id out of range", args, "99999999");

    snprintf(args, sizeof args, "rm -rf %s", g_tmp);
    CHECK(system(args) == 0);
    return TEST_DONE();
}

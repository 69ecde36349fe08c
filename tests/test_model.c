/*
 * test_model.c: forward pass against the PyTorch oracle. For every folder under UM_TESTDATA
 * that holds ref_logits.safetensors (written by tests/oracle/make_all.py from tiny random
 * checkpoints of each family and dtype), load the folder as a model, run each reference token
 * sequence and compare every logit row.
 *
 * Tolerance (fp32 precision): |ours - torch| <= 2e-4 + 2e-4 * |torch| per logit. Both sides
 * compute in fp32 from the same (exactly widened) weights, so differences come only from
 * summation order. bf16 precision is checked loosely (activations rounded to bf16) and its
 * max difference printed.
 */
#include "test.h"

#include "io/safetensors.h"
#include "unmask.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int n_models;

static double check_model(const char *dir, enum um_precision prec, double atol, double rtol) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ref_logits.safetensors", dir);
    um_st_set *ref = NULL;
    CHECKF(um_st_open_file(path, &ref) == UM_OK, "%s", um_last_error());
    if (!ref) return INFINITY;
    struct um_model_params mp = um_model_default_params();
    mp.precision = prec;
    um_model *m = NULL;
    enum um_status st = um_model_load(dir, &mp, &m);
    CHECKF(st == UM_OK, "load %s: %s", dir, um_last_error());
    if (st != UM_OK) {
        um_st_close(ref);
        return INFINITY;
    }
    const struct um_model_info *in = um_model_get_info(m);
    double worst = 0;
    for (int j = 0;; j++) {
        char name[64];
        snprintf(name, sizeof name, "tokens_%d", j);
        const um_st_tensor *tt = um_st_find(ref, name);
        if (!tt) {
            CHECKF(j > 0, "%s: no tokens_0", path);
            break;
        }
        snprintf(name, sizeof name, "logits_%d", j);
        const um_st_tensor *lt = um_st_find(ref, name);
        CHECKF(lt && lt->n_dims == 2 && lt->shape[1] == in->n_vocab, "%s: bad %s", path, name);
        if (!lt) break;
        int T = (int)tt->n_elems;
        CHECK(lt->shape[0] == T);
        int32_t *tok = malloc((size_t)T * sizeof *tok), *rows = malloc((size_t)T * sizeof *rows);
        float *out = malloc((size_t)T * (size_t)in->n_vocab * sizeof *out);
        for (int i = 0; i < T; i++) {
            float f;
            memcpy(&f, (const char *)tt->data + 4 * i, 4);
            tok[i] = (int32_t)f;
            rows[i] = T - 1 - i; /* reversed: row order must follow `rows` */
        }
        um_ctx *ctx = NULL;
        CHECKF(um_ctx_init(m, T, &ctx) == UM_OK, "%s", um_last_error());
        st = um_forward(ctx, tok, T, rows, T, out);
        CHECKF(st == UM_OK, "forward %s: %s", dir, um_last_error());
        double maxd = 0;
        int bad = 0;
        for (int r = 0; r < T && st == UM_OK; r++) {
            const float *want = (const float *)lt->data + (int64_t)rows[r] * in->n_vocab;
            const float *got = out + (int64_t)r * in->n_vocab;
            for (int v = 0; v < in->n_vocab; v++) {
                float w;
                memcpy(&w, &want[v], 4);
                double d = fabs((double)got[v] - (double)w);
                if (d > maxd) maxd = d;
                if (d > atol + rtol * fabs((double)w)) bad++;
            }
        }
        printf("  %-40s %-5s T=%-3d max|diff| = %.3g (%d logits out of tolerance)\n", dir,
               prec == UM_PRECISION_FP32 ? "fp32" : "bf16", T, maxd, bad);
        CHECKF(bad == 0, "%s T=%d: %d logits beyond %g + %g*|ref|", dir, T, bad, atol, rtol);
        if (maxd > worst) worst = maxd;
        um_ctx_free(ctx);
        free(tok);
        free(rows);
        free(out);
    }
    um_model_free(m);
    um_st_close(ref);
    return worst;
}

static void check_errors(const char *dir) {
    um_model *m = NULL;
    CHECK(um_model_load(dir, NULL, &m) == UM_OK);
    if (!m) return;
    um_ctx *ctx = NULL;
    CHECK(um_ctx_init(m, 4, &ctx) == UM_OK);
    const struct um_model_info *in = um_model_get_info(m);
    int32_t tok[4] = {0, 1, in->n_vocab, 2}, rows[1] = {0};
    float *out = malloc((size_t)in->n_vocab * sizeof *out);
    CHECK(um_forward(ctx, tok, 4, rows, 1, out) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "vocabulary") != NULL);
    tok[2] = 2;
    CHECK(um_forward(ctx, tok, 5, rows, 1, out) == UM_ERR_ARG);
    rows[0] = 4;
    CHECK(um_forward(ctx, tok, 4, rows, 1, out) == UM_ERR_ARG);
    rows[0] = 3;
    CHECK(um_forward(ctx, tok, 4, rows, 1, out) == UM_OK);
    CHECK(um_ctx_init(m, in->max_positions + 1, &ctx) == UM_ERR_ARG);
    free(out);
    um_ctx_free(ctx);
    um_model_free(m);
}

int main(void) {
    DIR *d = opendir(UM_TESTDATA);
    CHECKF(d != NULL, "no test data at %s (run the oracle_data fixture)", UM_TESTDATA);
    if (!d) return TEST_DONE();
    struct dirent *e;
    char first[4096] = "";
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4096], ref[4200];
        snprintf(dir, sizeof dir, "%s/%s", UM_TESTDATA, e->d_name);
        snprintf(ref, sizeof ref, "%s/ref_logits.safetensors", dir);
        FILE *f = fopen(ref, "rb");
        if (!f) continue;
        fclose(f);
        n_models++;
        check_model(dir, UM_PRECISION_FP32, 2e-4, 2e-4);
        /* bf16 activations: loose bound, the point is to report the effect */
        double w = check_model(dir, UM_PRECISION_BF16, 0.5, 0.1);
        (void)w;
        if (!first[0]) snprintf(first, sizeof first, "%s", dir);
    }
    closedir(d);
    CHECKF(n_models >= 4, "only %d reference models found in %s", n_models, UM_TESTDATA);
    if (first[0]) check_errors(first);
    return TEST_DONE();
}

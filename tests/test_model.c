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
 *
 * The block-diffusion folders (sdar_bf16, fastdllm2_f32) also have their model info checked
 * against the values tests/oracle/tiny_models.py wrote, and hostile SDAR / Fast-dLLM v2
 * configs must fail with a message naming config.json and the field.
 */
#include "test.h"

#include "io/safetensors.h"
#include "unmask.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n_models, n_block_diffusion;

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

/* Info of the tiny block-diffusion models (values from tiny_models.VARIANTS). */
static void check_block_diffusion_info(const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", UM_TESTDATA, name);
    um_model *m = NULL;
    CHECKF(um_model_load(dir, NULL, &m) == UM_OK, "load %s: %s", dir, um_last_error());
    if (!m) return;
    const struct um_model_info *in = um_model_get_info(m);
    if (!strcmp(name, "sdar_bf16")) {
        CHECK(in->family == UM_FAMILY_SDAR && !strcmp(um_family_str(in->family), "sdar"));
        CHECK(in->block_size == 4 && in->qk_norm && !in->causal && !in->shift_logits);
        CHECK(!in->qkv_bias && in->tied_embeddings && in->dtype == UM_DTYPE_BF16);
        CHECK(in->n_embd == 48 && in->n_head == 4 && in->n_head_kv == 2 && in->head_dim == 16);
        CHECK(in->mask_id == 396 && in->eos_id == 390 && in->bos_id == 390);
    } else {
        CHECK(in->family == UM_FAMILY_FASTDLLM2 &&
              !strcmp(um_family_str(in->family), "fastdllm2"));
        CHECK(in->block_size == 8 && !in->qk_norm && !in->causal && in->shift_logits);
        CHECK(in->qkv_bias && !in->tied_embeddings && in->dtype == UM_DTYPE_F32);
        CHECK(in->head_dim == 8 && in->mask_id == 380 && in->eos_id == 375);
        CHECK(in->eot_id == -1); /* the family's 151645 lies outside the tiny vocabulary */
    }
    um_model_free(m);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECKF(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* Loading a folder whose config.json is `cfg` fails with `want` and names `field`. */
static void expect_config_error(const char *dir, const char *cfg, enum um_status want,
                                const char *field) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, cfg);
    um_model *m = NULL;
    enum um_status st = um_model_load(dir, NULL, &m);
    CHECKF(st == want, "config %s: status %d, want %d (%s)", cfg, (int)st, (int)want,
           um_last_error());
    CHECKF(strstr(um_last_error(), "config.json") && strstr(um_last_error(), field),
           "message '%s' should name config.json and '%s'", um_last_error(), field);
    um_model_free(m);
}

/* Config fields of the block-diffusion families: defaults and hostile values. */
static void check_block_diffusion_configs(void) {
    char dir[] = "/tmp/um_test_model_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[4200], weights[4200], cfg[4200];
    /* bd_size absent: Fast-dLLM v2's default block of 32 (weights borrowed by a symlink) */
    snprintf(weights, sizeof weights, "%s/fastdllm2_f32/model.safetensors", UM_TESTDATA);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    CHECK(symlink(weights, path) == 0);
    write_text(cfg,
               "{\"architectures\": [\"Fast_dLLM_QwenForCausalLM\"], \"hidden_size\": 48, "
               "\"intermediate_size\": 96, \"num_attention_heads\": 6, "
               "\"num_key_value_heads\": 2, \"num_hidden_layers\": 2, \"vocab_size\": 384, "
               "\"eos_token_id\": 375, \"mask_token_id\": 380}");
    um_model *m = NULL;
    CHECKF(um_model_load(dir, NULL, &m) == UM_OK, "%s", um_last_error());
    if (m) CHECK(um_model_get_info(m)->block_size == 32);
    um_model_free(m);
    unlink(path);
    /* hostile values fail before any weight is read */
    expect_config_error(dir, "{\"architectures\": [\"SDARForCausalLM\"], \"hidden_size\": 48, "
                        "\"intermediate_size\": 8, \"num_attention_heads\": 4, "
                        "\"num_hidden_layers\": 1, \"vocab_size\": 16, \"head_dim\": 16, "
                        "\"attention_bias\": true}", UM_ERR_UNSUPPORTED, "attention_bias");
    expect_config_error(dir, "{\"architectures\": [\"SDARForCausalLM\"], \"hidden_size\": 48, "
                        "\"intermediate_size\": 8, \"num_attention_heads\": 4, "
                        "\"num_hidden_layers\": 1, \"vocab_size\": 16, \"block_size\": 0}",
                        UM_ERR_FORMAT, "block_size");
    expect_config_error(dir, "{\"architectures\": [\"Fast_dLLM_QwenForCausalLM\"], "
                        "\"hidden_size\": 48, \"intermediate_size\": 8, "
                        "\"num_attention_heads\": 4, \"num_hidden_layers\": 2, "
                        "\"vocab_size\": 16, \"bd_size\": -8}", UM_ERR_FORMAT, "bd_size");
    expect_config_error(dir, "{\"architectures\": [\"Fast_dLLM_QwenForCausalLM\"], "
                        "\"hidden_size\": 48, \"intermediate_size\": 8, "
                        "\"num_attention_heads\": 4, \"num_hidden_layers\": 2, "
                        "\"vocab_size\": 16, \"layer_types\": [\"full_attention\", "
                        "\"sliding_attention\"]}", UM_ERR_UNSUPPORTED, "layer_types");
    unlink(cfg);
    rmdir(dir);
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
        if (!strcmp(e->d_name, "sdar_bf16") || !strcmp(e->d_name, "fastdllm2_f32")) {
            check_block_diffusion_info(e->d_name);
            n_block_diffusion++;
        }
    }
    closedir(d);
    CHECKF(n_block_diffusion == 2, "%d of the 2 block-diffusion models found in %s",
           n_block_diffusion, UM_TESTDATA);
    if (n_block_diffusion == 2) check_block_diffusion_configs();
    CHECKF(n_models >= 4, "only %d reference models found in %s", n_models, UM_TESTDATA);
    if (first[0]) check_errors(first);
    return TEST_DONE();
}

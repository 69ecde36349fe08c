/*
 * test_generate.c: generation at temperature 0 equals the PyTorch reference token for token.
 * tests/oracle/ref_generate.py ports ML-GSAI/LLaDA `generate` and DreamLM/Dream `_sample` and
 * writes ref_gen.json beside each tiny model: cases {prompt, params, out, min_gap}. The
 * references were chosen so that every committed choice wins by at least min_gap (> 1e-4), so
 * fp32 summation-order differences cannot flip a token.
 */
#include "test.h"

#include "base/base.h"
#include "unmask.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static int n_cases;

static int json_int(const cJSON *o, const char *k, int dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? (int)it->valuedouble : dflt;
}
static double json_num(const cJSON *o, const char *k, double dflt) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}
static bool json_bool(const cJSON *o, const char *k) {
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void run_case(um_model *m, const char *dir, int idx, const cJSON *c) {
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(c, "prompt");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "out");
    CHECKF(cJSON_IsArray(prompt) && cJSON_IsObject(params) && cJSON_IsArray(want),
           "%s case %d malformed", dir, idx);
    if (!cJSON_IsArray(prompt) || !cJSON_IsObject(params) || !cJSON_IsArray(want)) return;
    int np = cJSON_GetArraySize(prompt);
    int32_t *p = malloc((size_t)np * sizeof *p);
    for (int i = 0; i < np; i++) p[i] = (int32_t)cJSON_GetArrayItem(prompt, i)->valuedouble;
    struct um_gen_params gp = um_gen_default_params(m);
    gp.gen_length = json_int(params, "gen_length", 16);
    gp.steps = json_int(params, "steps", gp.gen_length);
    gp.block_length = json_int(params, "block_length", gp.gen_length);
    gp.temperature = json_num(params, "temperature", 0);
    gp.cfg = json_num(params, "cfg", 0);
    gp.eps = json_num(params, "eps", 1e-3);
    gp.logits_eos_inf = json_bool(params, "logits_eos_inf");
    gp.confidence_eos_eot_inf = json_bool(params, "confidence_eos_eot_inf");
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(params, "alg");
    gp.alg = UM_ALG_NONE;
    if (cJSON_IsString(alg)) {
        if (!strcmp(alg->valuestring, "origin")) gp.alg = UM_ALG_ORIGIN;
        if (!strcmp(alg->valuestring, "maskgit_plus")) gp.alg = UM_ALG_MASKGIT_PLUS;
        if (!strcmp(alg->valuestring, "topk_margin")) gp.alg = UM_ALG_TOPK_MARGIN;
        if (!strcmp(alg->valuestring, "entropy")) gp.alg = UM_ALG_ENTROPY;
    }
    const cJSON *rm = cJSON_GetObjectItemCaseSensitive(params, "remasking");
    gp.remasking = (cJSON_IsString(rm) && !strcmp(rm->valuestring, "random"))
                       ? UM_REMASK_RANDOM
                       : UM_REMASK_LOW_CONFIDENCE;
    CHECK(cJSON_GetArraySize(want) == gp.gen_length);
    um_ctx *ctx = NULL;
    CHECKF(um_ctx_init(m, np + gp.gen_length, &ctx) == UM_OK, "%s", um_last_error());
    int32_t *out = calloc((size_t)gp.gen_length, sizeof *out);
    enum um_status st = um_generate(ctx, p, np, &gp, out);
    CHECKF(st == UM_OK, "%s case %d: %s", dir, idx, um_last_error());
    int diff = 0, first = -1;
    for (int i = 0; i < gp.gen_length && st == UM_OK; i++) {
        int w = (int)cJSON_GetArrayItem(want, i)->valuedouble;
        if (w != out[i]) {
            diff++;
            if (first < 0) first = i;
        }
    }
    printf("  %-36s case %d (%s, gen %d, steps %d, block %d, cfg %g): %d of %d tokens differ\n",
           dir, idx, cJSON_IsString(alg) ? alg->valuestring : "llada", gp.gen_length, gp.steps,
           gp.block_length, gp.cfg, diff, gp.gen_length);
    CHECKF(diff == 0, "%s case %d: first difference at %d", dir, idx, first);
    n_cases++;
    free(out);
    free(p);
    um_ctx_free(ctx);
}

int main(void) {
    DIR *d = opendir(UM_TESTDATA);
    CHECKF(d != NULL, "no test data at %s", UM_TESTDATA);
    if (!d) return TEST_DONE();
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char dir[4096], path[4200];
        snprintf(dir, sizeof dir, "%s/%s", UM_TESTDATA, e->d_name);
        snprintf(path, sizeof path, "%s/ref_gen.json", dir);
        char *text = NULL;
        size_t len = 0;
        if (um_read_file(path, 64u << 20, &text, &len) != UM_OK) continue;
        cJSON *root = cJSON_ParseWithLength(text, len);
        free(text);
        CHECKF(cJSON_IsArray(root), "%s: not a JSON array", path);
        um_model *m = NULL;
        CHECKF(um_model_load(dir, NULL, &m) == UM_OK, "%s", um_last_error());
        for (int i = 0; m && i < cJSON_GetArraySize(root); i++)
            run_case(m, dir, i, cJSON_GetArrayItem(root, i));
        um_model_free(m);
        cJSON_Delete(root);
    }
    closedir(d);
    CHECKF(n_cases >= 10, "only %d reference generation cases found", n_cases);
    return TEST_DONE();
}

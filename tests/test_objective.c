/*
 * test_objective.c: the training objectives (src/train/objective.c) against PyTorch.
 * tests/oracle/gen_objective.py writes, for MDM (LLaDA and Dream with its logit shift), SFT and
 * BD3, a clean batch x0 with its t and mask and the loss computed in float64 from the
 * published definitions. Here the same t and mask are forced into um_obj_build, the batch runs
 * through um_tmodel_step (the same tiny model), and the losses must agree to 1e-5 relative.
 * Also: a uniform-logits model gives ln V per weighted position exactly, and ln V on average
 * over random t and masks (the estimator is unbiased); structural checks of SFT and BD3.
 */
#include "test.h"

#include "base/base.h"
#include "io/safetensors.h"
#include "train/objective.h"
#include "train/tmodel-impl.h"
#include "train/tmodel.h"

#include <stdlib.h>
#include <string.h>

static float f32_at(const um_st_tensor *t, int64_t i) {
    float f;
    memcpy(&f, (const char *)t->data + 4 * i, 4);
    return f;
}

static um_tmodel *load_tmodel(const char *cname, int max_b, int max_t) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/grad/%s", UM_TESTDATA, cname);
    struct um_model_params mp = um_model_default_params();
    mp.load_tokenizer = false;
    um_model *m = NULL;
    CHECKF(um_model_load(dir, &mp, &m) == UM_OK, "%s", um_last_error());
    if (!m) return NULL;
    um_tmodel *tm = NULL;
    CHECKF(um_tmodel_from_model(m, max_b, max_t, &tm) == UM_OK, "%s", um_last_error());
    um_model_free(m);
    return tm;
}

static void oracle_case(const char *obj, const char *cname) {
    char path[1024];
    snprintf(path, sizeof path, "%s/objective/%s__%s.safetensors", UM_TESTDATA, obj, cname);
    um_st_set *set = NULL;
    CHECKF(um_st_open_file(path, &set) == UM_OK, "%s (run the oracle_data fixture)",
           um_last_error());
    if (!set) return;
    const um_st_tensor *x0t = um_st_find(set, "x0"), *tt = um_st_find(set, "t");
    const um_st_tensor *mt = um_st_find(set, "mask"), *pt = um_st_find(set, "prompt_len");
    const um_st_tensor *lt = um_st_find(set, "loss");
    CHECK(x0t && tt && mt && pt && lt && x0t->n_dims == 2);
    if (!x0t || !tt || !mt || !pt || !lt) return;
    const int B = (int)x0t->shape[0], L = (int)x0t->shape[1];
    int32_t *x0 = malloc(sizeof(int32_t) * B * L), *pl = malloc(sizeof(int32_t) * B);
    uint8_t *mask = malloc((size_t)B * L);
    double *t = malloc(sizeof(double) * tt->n_elems);
    for (int64_t i = 0; i < (int64_t)B * L; i++) {
        x0[i] = (int32_t)f32_at(x0t, i);
        mask[i] = f32_at(mt, i) != 0.0f;
    }
    for (int b = 0; b < B; b++) pl[b] = (int32_t)f32_at(pt, b);
    for (int64_t i = 0; i < tt->n_elems; i++) t[i] = f32_at(tt, i);

    um_tmodel *tm = load_tmodel(cname, B, !strcmp(obj, "bd3") ? 2 * L : L);
    if (tm) {
        const struct um_model_info *in = um_tmodel_info(tm);
        struct um_obj_params p;
        memset(&p, 0, sizeof p);
        p.kind = !strcmp(obj, "sft") ? UM_OBJ_SFT : !strcmp(obj, "bd3") ? UM_OBJ_BD3 : UM_OBJ_MDM;
        p.mask_id = in->mask_id;
        p.eps = 1e-3;
        p.block_size = 4;
        p.shift = in->shift_logits;
        p.fixed_t = -1;
        p.forced_t = t;
        p.forced_mask = mask;
        struct um_obj_batch batch;
        CHECK(um_obj_batch_alloc(&batch, B, L) == UM_OK);
        um_rng rng;
        um_rng_seed(&rng, 1, 0);
        CHECKF(um_obj_build(&p, x0, p.kind == UM_OBJ_SFT ? pl : NULL, B, L, &rng, &batch) ==
                   UM_OK,
               "%s", um_last_error());
        double loss = 0;
        CHECKF(um_tmodel_step(tm, batch.tokens, batch.pos, batch.targets, batch.weights, batch.B,
                              batch.T, &batch.attn, batch.norm, false, &loss) == UM_OK,
               "%s", um_last_error());
        const double want = f32_at(lt, 0);
        const double rel = fabs(loss - want) / fabs(want);
        printf("  %-4s %-10s loss %.6f  torch %.6f  rel diff %.2g\n", obj, cname, loss, want,
               rel);
        CHECKF(rel < 1e-5, "%s/%s: loss %.8f vs torch %.8f", obj, cname, loss, want);
        /* structure: SFT never masks the prompt; BD3's second half is x0 at shared positions */
        for (int b = 0; b < B; b++)
            for (int i = 0; i < L; i++) {
                const int32_t tok = batch.tokens[(int64_t)b * batch.T + i];
                if (p.kind == UM_OBJ_SFT && i < pl[b]) CHECK(tok == x0[b * L + i]);
                if (p.kind == UM_OBJ_BD3) {
                    CHECK(batch.tokens[(int64_t)b * batch.T + L + i] == x0[b * L + i]);
                    CHECK(batch.pos[(int64_t)b * batch.T + L + i] == i);
                }
            }
        um_obj_batch_free(&batch);
        um_tmodel_free(tm);
    }
    free(x0);
    free(pl);
    free(mask);
    free(t);
    um_st_close(set);
}

/* A model with an all-zero LM head predicts uniformly: every weighted position costs ln V, so
 * loss = ln V * sum(w) / norm exactly, and E[sum(w)] = B*L (E[1{masked}/p] = 1). */
static void uniform_logits(void) {
    const int B = 4, L = 12;
    um_tmodel *tm = load_tmodel("llada_mha", B, L);
    if (!tm) return;
    const struct um_model_info *in = um_tmodel_info(tm);
    const int hi = um_tmodel_find(tm, "model.transformer.ff_out.weight");
    const struct um_tparam *head = hi >= 0 ? um_tmodel_tensor(tm, hi) : NULL;
    CHECK(head != NULL);
    if (!head) return;
    memset(um_tmodel_weights(tm) + head->offset, 0,
           sizeof(float) * (size_t)(head->shape[0] * head->shape[1]));
    const double lnv = log((double)in->n_vocab);
    struct um_obj_params p;
    memset(&p, 0, sizeof p);
    p.kind = UM_OBJ_MDM;
    p.mask_id = in->mask_id;
    p.eps = 1e-3;
    p.fixed_t = -1;
    struct um_obj_batch batch;
    CHECK(um_obj_batch_alloc(&batch, B, L) == UM_OK);
    int32_t x0[4 * 12];
    um_rng rng;
    um_rng_seed(&rng, 99, 0);
    double mean = 0, worst = 0;
    const int n = 4000;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < B * L; i++) x0[i] = (int32_t)(um_rng_u32(&rng) % 60);
        CHECK(um_obj_build(&p, x0, NULL, B, L, &rng, &batch) == UM_OK);
        double sw = 0, loss = 0;
        for (int i = 0; i < B * L; i++) sw += batch.weights[i];
        if (k < 50) { /* the model forward is the slow part: check exactness on 50 batches */
            CHECK(um_tmodel_step(tm, batch.tokens, batch.pos, batch.targets, batch.weights, B, L,
                                 &batch.attn, batch.norm, false, &loss) == UM_OK);
            worst = fmax(worst, fabs(loss - lnv * sw / batch.norm) / lnv);
        }
        mean += lnv * sw / batch.norm / n;
    }
    printf("  uniform logits: ln V = %.5f, exact per batch to %.2g, mean over %d batches %.5f\n",
           lnv, worst, n, mean);
    CHECKF(worst < 1e-5, "uniform-logit loss differs from ln V * sum(w)/norm by %g", worst);
    CHECKF(fabs(mean - lnv) < 0.02 * lnv, "mean %.5f is not ln V %.5f within 2%%", mean, lnv);
    um_obj_batch_free(&batch);
    um_tmodel_free(tm);
}

int main(void) {
    oracle_case("mdm", "llada_mha");
    oracle_case("sft", "llada_mha");
    oracle_case("bd3", "llada_gqa");
    oracle_case("mdm", "dream_gqa");
    uniform_logits();
    return TEST_DONE();
}

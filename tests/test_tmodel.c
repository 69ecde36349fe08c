/*
 * test_tmodel.c: the trainable model's contract (src/train/tmodel.h) beyond gradients
 * (test_grad.c):
 * - tensor table: Hugging Face names, kinds, shapes, offsets tiling the arrays; seeded init
 *   (deterministic, matrices with the requested std, gains 1, biases 0);
 * - gradient accumulation: two half batches == one full batch (|diff| <= 1e-5 max|g| + 1e-7);
 * - a model with a zero head gives uniform logits: loss == ln V exactly per weighted position
 *   (|diff| <= 1e-6);
 * - save -> um_model_load -> um_forward gives the training forward's logits (f32 save:
 *   |diff| <= 1e-5 + 1e-5 |logit|; bf16 save: the loaded weights are the bf16 roundings) and
 *   the config loads back to the same info, for LLaDA, Dream, Llama and Qwen2;
 * - hostile arguments: clear UM_ERR_ARG messages, NaN parameters named by tensor.
 */
#include "test.h"

#include "base/base.h"
#include "train/tmodel-impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct um_model_info tiny_info(enum um_family fam) {
    struct um_model_info in;
    memset(&in, 0, sizeof in);
    in.family = fam;
    in.n_vocab = 50;
    in.n_embd = 32;
    in.n_layer = 2;
    in.n_head = 4;
    in.n_head_kv = 2;
    in.head_dim = 8;
    in.n_ff = 48;
    in.rope_theta = 10000.0f;
    in.norm_eps = 1e-5f;
    in.qkv_bias = fam == UM_FAMILY_DREAM || fam == UM_FAMILY_QWEN2;
    in.tied_embeddings = false;
    in.max_positions = 4096;
    in.mask_id = (fam == UM_FAMILY_LLADA || fam == UM_FAMILY_DREAM) ? 49 : -1;
    in.bos_id = -1;
    in.eos_id = 47;
    in.eot_id = 48;
    in.pad_id = 47;
    return in;
}

static void random_batch(um_rng *r, int B, int T, int V, int32_t *tok, int32_t *pos,
                         int32_t *tg, float *w) {
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)(um_rng_u32(r) % (uint32_t)V);
        pos[i] = i % T;
        bool sel = um_rng_uniform(r) < 0.6;
        tg[i] = sel ? (int32_t)(um_rng_u32(r) % (uint32_t)V) : -1;
        w[i] = sel ? (float)(0.5 + um_rng_uniform(r)) : 0.0f;
    }
}

static void test_table_and_init(void) {
    struct um_model_info in = tiny_info(UM_FAMILY_DREAM);
    um_tmodel *a = NULL, *b = NULL;
    CHECK(um_tmodel_init(&in, 2, 16, 42, 0.05f, &a) == UM_OK);
    CHECK(um_tmodel_init(&in, 2, 16, 42, 0.05f, &b) == UM_OK);
    if (!a || !b) return;
    CHECK(memcmp(um_tmodel_weights(a), um_tmodel_weights(b),
                 (size_t)um_tmodel_n_params(a) * sizeof(float)) == 0);
    /* embed, 12 per layer (with biases), final norm, head */
    CHECK(um_tmodel_n_tensors(a) == 1 + 12 * 2 + 2);
    int64_t off = 0;
    for (int i = 0; i < um_tmodel_n_tensors(a); i++) {
        const struct um_tparam *t = um_tmodel_tensor(a, i);
        CHECKF(t->offset == off, "%s offset", t->name);
        off += t->shape[0] * t->shape[1];
    }
    CHECK(off == um_tmodel_n_params(a));
    CHECK(um_tmodel_info(a)->n_params == off);
    const struct um_tparam *e = um_tmodel_tensor(a, 0);
    CHECK(!strcmp(e->name, "model.embed_tokens.weight") && e->kind == UM_PARAM_EMBED &&
          e->shape[0] == 50 && e->shape[1] == 32);
    int iq = um_tmodel_find(a, "model.layers.1.self_attn.q_proj.weight");
    int ib = um_tmodel_find(a, "model.layers.1.self_attn.k_proj.bias");
    int in_ = um_tmodel_find(a, "model.layers.0.post_attention_layernorm.weight");
    int ih = um_tmodel_find(a, "lm_head.weight");
    CHECK(iq > 0 && ib > 0 && in_ > 0 && ih > 0 && um_tmodel_find(a, "nope") == -1);
    if (iq > 0 && ib > 0 && in_ > 0 && ih > 0) {
        const struct um_tparam *q = um_tmodel_tensor(a, iq), *kb = um_tmodel_tensor(a, ib);
        const struct um_tparam *nw = um_tmodel_tensor(a, in_), *h = um_tmodel_tensor(a, ih);
        CHECK(q->kind == UM_PARAM_MATRIX && q->n_dims == 2 && q->shape[0] == 32);
        CHECK(kb->kind == UM_PARAM_VECTOR && kb->n_dims == 1 && kb->shape[0] == 16);
        CHECK(nw->kind == UM_PARAM_VECTOR && h->kind == UM_PARAM_HEAD);
        const float *w = um_tmodel_weights(a);
        double s = 0, s2 = 0;
        int64_t n = q->shape[0] * q->shape[1];
        for (int64_t j = 0; j < n; j++) s += w[q->offset + j], s2 += w[q->offset + j] * w[q->offset + j];
        double sd = sqrt(s2 / n - (s / n) * (s / n));
        CHECKF(fabs(sd - 0.05) < 0.01 && fabs(s / n) < 0.01, "init std %.4f mean %.4f", sd, s / n);
        bool ok = true;
        for (int64_t j = 0; j < kb->shape[0]; j++) ok = ok && w[kb->offset + j] == 0.0f;
        for (int64_t j = 0; j < nw->shape[0]; j++) ok = ok && w[nw->offset + j] == 1.0f;
        CHECK(ok);
    }
    um_tmodel_free(a);
    um_tmodel_free(b);
    /* tied LLaDA: no head tensor, HF names */
    in = tiny_info(UM_FAMILY_LLADA);
    in.tied_embeddings = true;
    in.head_dim = 8;
    CHECK(um_tmodel_init(&in, 1, 8, 1, 0.02f, &a) == UM_OK);
    if (a) {
        CHECK(um_tmodel_n_tensors(a) == 1 + 9 * 2 + 1);
        CHECK(um_tmodel_find(a, "model.transformer.wte.weight") == 0);
        CHECK(um_tmodel_find(a, "model.transformer.blocks.1.ff_out.weight") > 0);
        CHECK(um_tmodel_find(a, "model.transformer.ff_out.weight") == -1);
        CHECK(um_tmodel_find(a, "model.transformer.ln_f.weight") > 0);
    }
    um_tmodel_free(a);
}

static void test_accumulation(void) {
    struct um_model_info in = tiny_info(UM_FAMILY_LLADA);
    enum { B = 4, T = 12 };
    um_tmodel *tm = NULL;
    CHECK(um_tmodel_init(&in, B, T, 3, 0.2f, &tm) == UM_OK);
    if (!tm) return;
    um_rng r;
    um_rng_seed(&r, 77, 0);
    int32_t tok[B * T], pos[B * T], tg[B * T];
    float w[B * T];
    random_batch(&r, B, T, in.n_vocab, tok, pos, tg, w);
    const int64_t P = um_tmodel_n_params(tm);
    float *g1 = malloc((size_t)P * sizeof(float));
    struct um_attn_spec as = {UM_ATTN_BLOCK_CAUSAL, 4};
    double l1 = 0, la = 0, lb = 0;
    um_tmodel_zero_grads(tm);
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &as, B * T, true, &l1) == UM_OK);
    memcpy(g1, um_tmodel_grads(tm), (size_t)P * sizeof(float));
    um_tmodel_zero_grads(tm);
    const int h = B / 2 * T;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B / 2, T, &as, B * T, true, &la) == UM_OK);
    CHECK(um_tmodel_step(tm, tok + h, pos + h, tg + h, w + h, B / 2, T, &as, B * T, true, &lb) ==
          UM_OK);
    const float *g2 = um_tmodel_grads(tm);
    double mx = 0, gmax = 0;
    for (int64_t i = 0; i < P; i++) {
        mx = fmax(mx, fabs((double)g1[i] - g2[i]));
        gmax = fmax(gmax, fabs(g1[i]));
    }
    printf("accumulation: loss %.9f vs %.9f, max|g_full - g_halves| %.2e (max|g| %.2e)\n", l1,
           la + lb, mx, gmax);
    CHECK(fabs(l1 - (la + lb)) <= 1e-6 * fabs(l1));
    CHECK(mx <= 1e-5 * gmax + 1e-7);
    /* forward only leaves the gradients alone */
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &as, B * T, false, &l1) == UM_OK);
    double after = 0;
    for (int64_t i = 0; i < P; i++) after = fmax(after, fabs((double)g1[i] - g2[i]));
    CHECK(after == mx);
    /* the head and loss in chunks of 5 rows give the same loss and gradients */
    um_tmodel_zero_grads(tm);
    um_tmodel_set_head_chunk(tm, 5);
    double lc = 0;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &as, B * T, true, &lc) == UM_OK);
    um_tmodel_set_head_chunk(tm, 1 << 30);
    double mc = 0;
    for (int64_t i = 0; i < P; i++) mc = fmax(mc, fabs((double)g1[i] - um_tmodel_grads(tm)[i]));
    printf("head chunks of 5 rows: loss |diff| %.2e, max|g diff| %.2e\n", fabs(lc - l1), mc);
    CHECK(fabs(lc - l1) <= 1e-6 * fabs(l1) && mc <= 1e-5 * gmax + 1e-7);
    /* no weighted position: loss 0, gradients untouched */
    float zw[B * T] = {0};
    double l0 = -1;
    CHECK(um_tmodel_step(tm, tok, pos, tg, zw, B, T, &as, 1.0, true, &l0) == UM_OK && l0 == 0.0);
    free(g1);
    um_tmodel_free(tm);
}

static void test_uniform_logits(void) {
    struct um_model_info in = tiny_info(UM_FAMILY_LLADA);
    enum { B = 3, T = 10 };
    um_tmodel *tm = NULL;
    CHECK(um_tmodel_init(&in, B, T, 5, 0.3f, &tm) == UM_OK);
    if (!tm) return;
    int ih = um_tmodel_find(tm, "model.transformer.ff_out.weight");
    CHECK(ih > 0);
    const struct um_tparam *h = um_tmodel_tensor(tm, ih);
    memset(um_tmodel_weights(tm) + h->offset, 0,
           (size_t)(h->shape[0] * h->shape[1]) * sizeof(float));
    um_rng r;
    um_rng_seed(&r, 9, 0);
    int32_t tok[B * T], pos[B * T], tg[B * T];
    float w[B * T], ones[B * T];
    random_batch(&r, B, T, in.n_vocab, tok, pos, tg, w);
    int n_sel = 0;
    double wsum = 0;
    for (int i = 0; i < B * T; i++) {
        ones[i] = w[i] != 0.0f ? 1.0f : 0.0f;
        n_sel += w[i] != 0.0f;
        wsum += w[i];
    }
    struct um_attn_spec as = {UM_ATTN_FULL, 0};
    double loss = 0;
    CHECK(um_tmodel_step(tm, tok, pos, tg, ones, B, T, &as, n_sel, false, &loss) == UM_OK);
    printf("uniform logits: loss %.12f, ln V %.12f, |diff| %.2e\n", loss, log(in.n_vocab),
           fabs(loss - log(in.n_vocab)));
    CHECK(fabs(loss - log(in.n_vocab)) <= 1e-6);
    /* weighted: sum w ln V / norm */
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &as, 7.0, false, &loss) == UM_OK);
    CHECK(fabs(loss - wsum * log(in.n_vocab) / 7.0) <= 1e-6 * loss);
    um_tmodel_free(tm);
}

static void save_roundtrip(enum um_family fam, enum um_dtype dt) {
    struct um_model_info in = tiny_info(fam);
    if (fam == UM_FAMILY_LLAMA) in.head_dim = 12; /* head_dim != D/H is written out */
    if (fam == UM_FAMILY_QWEN2) in.tied_embeddings = true;
    enum { T = 11 };
    um_tmodel *tm = NULL;
    CHECK(um_tmodel_init(&in, 1, T, 11, 0.25f, &tm) == UM_OK);
    if (!tm) return;
    float *w = um_tmodel_weights(tm);
    um_rng r;
    um_rng_seed(&r, 3, 3);
    for (int i = 0; i < um_tmodel_n_tensors(tm); i++) { /* non-trivial gains and biases */
        const struct um_tparam *t = um_tmodel_tensor(tm, i);
        if (t->n_dims == 1)
            for (int64_t j = 0; j < t->shape[0]; j++)
                w[t->offset + j] += (float)(0.2 * (um_rng_uniform(&r) - 0.5));
    }
    if (dt != UM_DTYPE_F32) /* compare against the rounded weights the file holds */
        for (int64_t i = 0; i < um_tmodel_n_params(tm); i++)
            w[i] = um_bf16_to_f32(um_f32_to_bf16(w[i]));
    char dir[] = "/tmp/um_tmodel_save_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[256], tokp[256];
    snprintf(sub, sizeof sub, "%s/out", dir);
    snprintf(tokp, sizeof tokp, "%s/tok.json", dir);
    const char *tok_text = "{\"not\": \"a real tokenizer\"}\n";
    CHECK(um_write_file_atomic(tokp, tok_text, strlen(tok_text)) == UM_OK);
    enum um_status st = um_tmodel_save(tm, sub, dt, tokp);
    CHECKF(st == UM_OK, "save: %s", um_last_error());
    char *copied = NULL;
    size_t len = 0;
    char tj[300];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", sub);
    CHECK(um_read_file(tj, 1 << 20, &copied, &len) == UM_OK && len == strlen(tok_text) &&
          !memcmp(copied, tok_text, len));
    free(copied);
    remove(tj); /* not a loadable tokenizer */
    um_model *m = NULL;
    struct um_model_params mp = um_model_default_params();
    mp.n_threads = 2;
    st = um_model_load(sub, &mp, &m);
    CHECKF(st == UM_OK, "load saved %s: %s", um_family_str(fam), um_last_error());
    if (m) {
        const struct um_model_info *a = um_model_get_info(m);
        CHECK(a->family == in.family && a->n_vocab == in.n_vocab && a->n_embd == in.n_embd &&
              a->n_layer == in.n_layer && a->n_head == in.n_head &&
              a->n_head_kv == in.n_head_kv && a->head_dim == in.head_dim &&
              a->n_ff == in.n_ff && a->rope_theta == in.rope_theta &&
              a->norm_eps == in.norm_eps && a->qkv_bias == in.qkv_bias &&
              a->tied_embeddings == in.tied_embeddings && a->mask_id == in.mask_id &&
              a->eos_id == in.eos_id && a->pad_id == in.pad_id && a->eot_id == in.eot_id &&
              a->n_params == um_tmodel_n_params(tm) && a->dtype == dt);
        /* the inference forward (bidirectional for LLaDA/Dream, causal for Llama/Qwen2) */
        struct um_attn_spec as = {a->causal ? UM_ATTN_CAUSAL : UM_ATTN_FULL, 0};
        int32_t tok[T], pos[T], rows[T];
        for (int i = 0; i < T; i++) {
            tok[i] = (int32_t)((i * 7 + 3) % in.n_vocab);
            pos[i] = rows[i] = i;
        }
        float *l1 = malloc(sizeof(float) * T * (size_t)in.n_vocab);
        float *l2 = malloc(sizeof(float) * T * (size_t)in.n_vocab);
        um_ctx *ctx = NULL;
        CHECK(um_ctx_init(m, T, &ctx) == UM_OK);
        CHECK(um_forward(ctx, tok, T, rows, T, l1) == UM_OK);
        CHECK(um_tmodel_logits(tm, tok, pos, 1, T, &as, l2) == UM_OK);
        double mx = 0, big = 0;
        int bad = 0;
        for (int i = 0; i < T * in.n_vocab; i++) {
            double d = fabs((double)l1[i] - l2[i]);
            mx = fmax(mx, d);
            big = fmax(big, fabs(l2[i]));
            bad += !(d <= 1e-5 + 1e-5 * fabs(l2[i]));
        }
        printf("save %-5s %-4s -> load -> forward: max|logit diff| %.2e (max|logit| %.2f)\n",
               um_family_str(fam), um_dtype_str(dt), mx, big);
        CHECKF(bad == 0, "%s: %d logits differ (max %.3g)", um_family_str(fam), bad, mx);
        um_ctx_free(ctx);
        free(l1);
        free(l2);
        /* from_model widens the file's weights back to exactly what was saved */
        um_tmodel *back = NULL;
        CHECKF(um_tmodel_from_model(m, 1, T, &back) == UM_OK, "%s", um_last_error());
        if (back) {
            CHECK(um_tmodel_n_tensors(back) == um_tmodel_n_tensors(tm));
            CHECK(memcmp(um_tmodel_weights(back), um_tmodel_weights(tm),
                         (size_t)um_tmodel_n_params(tm) * sizeof(float)) == 0);
        }
        um_tmodel_free(back);
        um_model_free(m);
    }
    char p[300];
    snprintf(p, sizeof p, "%s/config.json", sub);
    remove(p);
    snprintf(p, sizeof p, "%s/model.safetensors", sub);
    remove(p);
    rmdir(sub);
    remove(tokp);
    rmdir(dir);
    um_tmodel_free(tm);
}

static bool msg_has(const char *s) {
    return strstr(um_last_error(), s) != NULL;
}

static void test_hostile(void) {
    struct um_model_info in = tiny_info(UM_FAMILY_LLADA);
    enum { B = 2, T = 8 };
    um_tmodel *tm = NULL;
    CHECK(um_tmodel_init(&in, B, T, 1, 0.1f, &tm) == UM_OK);
    if (!tm) return;
    um_rng r;
    um_rng_seed(&r, 1, 1);
    int32_t tok[B * T], pos[B * T], tg[B * T];
    float w[B * T];
    random_batch(&r, B, T, in.n_vocab, tok, pos, tg, w);
    w[3] = 1.0f;
    tg[3] = 5;
    struct um_attn_spec full = {UM_ATTN_FULL, 0};
    double loss = 0;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_OK);

    tok[5] = in.n_vocab;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("outside the vocabulary"));
    printf("hostile: %s\n", um_last_error());
    tok[5] = -1;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG);
    tok[5] = 0;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B + 1, T, &full, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("does not fit"));
    printf("hostile: %s\n", um_last_error());
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, 1, T + 1, &full, 16, true, &loss) == UM_ERR_ARG);
    /* B*T within B_max*T_max with T <= T_max is fine: 4 x 4 */
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, 4, 4, &full, 16, true, &loss) == UM_OK);
    pos[2] = T;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("position"));
    pos[2] = 2;
    tg[3] = in.n_vocab;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("target"));
    printf("hostile: %s\n", um_last_error());
    tg[3] = 5;
    w[4] = NAN;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("not finite"));
    printf("hostile: %s\n", um_last_error());
    w[4] = INFINITY;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG);
    w[4] = 0.0f;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 0.0, true, &loss) == UM_ERR_ARG);
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, NAN, true, &loss) == UM_ERR_ARG);
    struct um_attn_spec bad_bs = {UM_ATTN_BLOCK_CAUSAL, 0}, bd3 = {UM_ATTN_BD3, 2},
                        bad_kind = {(enum um_attn_kind)9, 1};
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &bad_bs, 16, true, &loss) == UM_ERR_ARG);
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, 2, 7, &bd3, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("even"));
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &bad_kind, 16, true, &loss) == UM_ERR_ARG);
    CHECK(um_tmodel_step(tm, NULL, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG);

    /* NaN in a parameter: the step fails naming the tensor; check_finite names it too */
    const char *bad = NULL;
    CHECK(um_tmodel_check_finite(tm, &bad) == UM_OK);
    int iu = um_tmodel_find(tm, "model.transformer.blocks.1.up_proj.weight");
    CHECK(iu > 0);
    float *wt = um_tmodel_weights(tm) + um_tmodel_tensor(tm, iu)->offset;
    wt[17] = NAN;
    CHECK(um_tmodel_step(tm, tok, pos, tg, w, B, T, &full, 16, true, &loss) == UM_ERR_ARG &&
          msg_has("non-finite loss") && msg_has("model.transformer.blocks.1.up_proj.weight"));
    printf("hostile: %s\n", um_last_error());
    CHECK(um_tmodel_check_finite(tm, &bad) == UM_ERR_ARG && bad &&
          !strcmp(bad, "model.transformer.blocks.1.up_proj.weight") && msg_has("weight"));
    wt[17] = 0.0f;
    um_tmodel_zero_grads(tm);
    int in_ = um_tmodel_find(tm, "model.transformer.ln_f.weight");
    um_tmodel_grads(tm)[um_tmodel_tensor(tm, in_)->offset + 3] = INFINITY;
    CHECK(um_tmodel_check_finite(tm, &bad) == UM_ERR_ARG &&
          !strcmp(bad, "model.transformer.ln_f.weight") && msg_has("non-finite gradient"));
    printf("hostile: %s\n", um_last_error());
    um_tmodel_free(tm);

    /* bad init arguments */
    um_tmodel *x = NULL;
    struct um_model_info b1 = in;
    b1.n_head_kv = 3;
    CHECK(um_tmodel_init(&b1, 1, 8, 1, 0.02f, &x) == UM_ERR_ARG && !x);
    b1 = in;
    b1.head_dim = 7;
    b1.n_embd = 28;
    CHECK(um_tmodel_init(&b1, 1, 8, 1, 0.02f, &x) == UM_ERR_ARG && !x);
    b1 = in;
    b1.head_dim = 16; /* LLaDA needs D = H * Dh */
    CHECK(um_tmodel_init(&b1, 1, 8, 1, 0.02f, &x) == UM_ERR_ARG && !x);
    CHECK(um_tmodel_init(&in, 4096, 8192, 1, 0.02f, &x) == UM_ERR_ARG && !x); /* > 2^24 rows */
    CHECK(um_tmodel_init(&in, 0, 8, 1, 0.02f, &x) == UM_ERR_ARG && !x);
    CHECK(um_tmodel_init(&in, 1, 8, 1, NAN, &x) == UM_ERR_ARG && !x);
    b1 = tiny_info(UM_FAMILY_DREAM);
    b1.qkv_bias = false;
    CHECK(um_tmodel_init(&b1, 1, 8, 1, 0.02f, &x) == UM_ERR_ARG && !x);
    um_tmodel_free(NULL);
}

int main(void) {
    um_set_threads(2);
    test_table_and_init();
    test_accumulation();
    test_uniform_logits();
    save_roundtrip(UM_FAMILY_LLADA, UM_DTYPE_F32);
    save_roundtrip(UM_FAMILY_DREAM, UM_DTYPE_F32);
    save_roundtrip(UM_FAMILY_LLAMA, UM_DTYPE_F32);
    save_roundtrip(UM_FAMILY_QWEN2, UM_DTYPE_F32);
    save_roundtrip(UM_FAMILY_LLADA, UM_DTYPE_BF16);
    test_hostile();
    return TEST_DONE();
}

/*
 * model.c: load a Hugging Face model folder into a um_model: config, mmap'd safetensors
 * weights checked name by name against the shapes the config implies, widened fp32 copies of
 * the 1-D weights, and the tokenizer if the folder has one.
 *
 * Tensor names per family:
 *   LLaDA:  model.transformer.{wte, ln_f, ff_out}.weight,
 *           model.transformer.blocks.{i}.{attn_norm, q_proj, k_proj, v_proj, attn_out,
 *           ff_norm, ff_proj (gate), up_proj, ff_out (down)}.weight
 *   others: model.embed_tokens.weight, model.norm.weight, lm_head.weight (absent when tied),
 *           model.layers.{i}.{input_layernorm, post_attention_layernorm}.weight,
 *           model.layers.{i}.self_attn.{q,k,v,o}_proj.weight (+ q/k/v bias),
 *           model.layers.{i}.self_attn.{q,k}_norm.weight [head_dim] (QK-norm models: SDAR),
 *           model.layers.{i}.mlp.{gate,up,down}_proj.weight
 */
#include "model/model-impl.h"

#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>

const char *um_family_str(enum um_family f) {
    switch (f) {
    case UM_FAMILY_LLADA: return "llada";
    case UM_FAMILY_DREAM: return "dream";
    case UM_FAMILY_LLAMA: return "llama";
    case UM_FAMILY_QWEN2: return "qwen2";
    case UM_FAMILY_SDAR: return "sdar";
    case UM_FAMILY_FASTDLLM2: return "fastdllm2";
    }
    return "unknown";
}

const char *um_dtype_str(enum um_dtype t) {
    switch (t) {
    case UM_DTYPE_F32: return "f32";
    case UM_DTYPE_F16: return "f16";
    case UM_DTYPE_BF16: return "bf16";
    }
    return "unknown";
}

struct um_model_params um_model_default_params(void) {
    struct um_model_params p = {0, UM_PRECISION_FP32, true};
    return p;
}

/* Loader state: the set, where messages point, the fp32 pool being filled. */
struct loader {
    um_model *m;
    const char *dir;
    int64_t pool_used, pool_cap;
    int64_t n_params;
};

static enum um_status find_tensor(struct loader *ld, const char *name, int n_dims, int64_t d0,
                                  int64_t d1, const um_st_tensor **out) {
    const um_st_tensor *t = um_st_find(ld->m->st, name);
    if (!t) {
        for (int i = 0; i < um_st_count(ld->m->st); i++) {
            const um_st_tensor *u = um_st_get(ld->m->st, i);
            if (!strcmp(u->name, name))
                return um_set_error(UM_ERR_UNSUPPORTED, "%s: tensor '%s' has a dtype other "
                                    "than F32, F16 or BF16", u->file, name);
        }
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s' is missing from the checkpoint",
                            ld->dir, name);
    }
    if ((uintptr_t)t->data % um_dtype_size(t->dtype) != 0)
        return um_set_error(UM_ERR_UNSUPPORTED, "%s: tensor '%s' is not aligned to its %zu-byte "
                            "elements in the file", t->file, name, um_dtype_size(t->dtype));
    int64_t want[2] = {d0, d1};
    bool ok = t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++) ok = t->shape[i] == want[i];
    if (!ok) {
        if (n_dims == 1)
            return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s' has shape [%lld%s] but the config "
                                "implies [%lld]", t->file, name, (long long)t->shape[0],
                                t->n_dims == 1 ? "" : ", ...", (long long)d0);
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s' has %d dims [%lld, %lld] but the "
                            "config implies [%lld, %lld]", t->file, name, t->n_dims,
                            (long long)t->shape[0], (long long)(t->n_dims > 1 ? t->shape[1] : 0),
                            (long long)d0, (long long)d1);
    }
    ld->n_params += t->n_elems;
    *out = t;
    return UM_OK;
}

static enum um_status get_mat(struct loader *ld, const char *name, int64_t n, int64_t k,
                              um_wmat *w) {
    const um_st_tensor *t;
    enum um_status st = find_tensor(ld, name, 2, n, k, &t);
    if (st != UM_OK) return st;
    w->dtype = t->dtype;
    w->data = t->data;
    w->n = n;
    w->k = k;
    return UM_OK;
}

/* 1-D weight widened into the fp32 pool. */
static enum um_status get_vec(struct loader *ld, const char *name, int64_t n, float **out) {
    const um_st_tensor *t;
    enum um_status st = find_tensor(ld, name, 1, n, 0, &t);
    if (st != UM_OK) return st;
    if (ld->pool_used + n > ld->pool_cap)
        return um_set_error(UM_ERR_FORMAT, "%s: internal: fp32 pool too small", ld->dir);
    float *dst = ld->m->f32_pool + ld->pool_used;
    ld->pool_used += n;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case UM_DTYPE_F32: memcpy(&dst[i], (const char *)t->data + 4 * i, 4); break;
        case UM_DTYPE_F16: dst[i] = um_f16_to_f32(((const uint16_t *)t->data)[i]); break;
        case UM_DTYPE_BF16: dst[i] = um_bf16_to_f32(((const uint16_t *)t->data)[i]); break;
        }
    }
    *out = dst;
    return UM_OK;
}

static enum um_status load_weights(struct loader *ld) {
    um_model *m = ld->m;
    const struct um_model_info *in = &m->info;
    const int64_t D = in->n_embd, V = in->n_vocab, F = in->n_ff;
    const int64_t QD = (int64_t)in->n_head * in->head_dim;
    const int64_t KD = (int64_t)in->n_head_kv * in->head_dim;
    const bool llada = in->family == UM_FAMILY_LLADA;
    char name[256];
    enum um_status st;

    m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
    const int64_t Dh = in->head_dim;
    ld->pool_cap = D + (int64_t)in->n_layer * (2 * D + (in->qkv_bias ? QD + 2 * KD : 0) +
                                               (in->qk_norm ? 2 * Dh : 0));
    m->f32_pool = malloc((size_t)ld->pool_cap * sizeof(float));
    if (!m->layers || !m->f32_pool) return um_set_error(UM_ERR_NOMEM, "out of memory");

    st = get_mat(ld, llada ? "model.transformer.wte.weight" : "model.embed_tokens.weight", V, D,
                 &m->embed);
    if (st != UM_OK) return st;
    if (in->tied_embeddings) {
        m->head = m->embed;
    } else {
        st = get_mat(ld, llada ? "model.transformer.ff_out.weight" : "lm_head.weight", V, D,
                     &m->head);
        if (st != UM_OK) return st;
    }
    st = get_vec(ld, llada ? "model.transformer.ln_f.weight" : "model.norm.weight", D,
                 &m->final_norm);
    if (st != UM_OK) return st;

    for (int i = 0; i < in->n_layer; i++) {
        struct um_layer *l = &m->layers[i];
        /* name table: (llada name, other name, kind 0=mat/1=vec, n, k, destination) */
        struct {
            const char *a, *b;
            int64_t n, k;
            um_wmat *w;
            float **v;
        } items[] = {
            {"attn_norm", "input_layernorm", D, 0, NULL, &l->attn_norm},
            {"q_proj", "self_attn.q_proj", QD, D, &l->wq, NULL},
            {"k_proj", "self_attn.k_proj", KD, D, &l->wk, NULL},
            {"v_proj", "self_attn.v_proj", KD, D, &l->wv, NULL},
            {"attn_out", "self_attn.o_proj", D, QD, &l->wo, NULL},
            {"ff_norm", "post_attention_layernorm", D, 0, NULL, &l->ffn_norm},
            {"ff_proj", "mlp.gate_proj", F, D, &l->w_gate, NULL},
            {"up_proj", "mlp.up_proj", F, D, &l->w_up, NULL},
            {"ff_out", "mlp.down_proj", D, F, &l->w_down, NULL},
        };
        for (size_t j = 0; j < sizeof items / sizeof items[0]; j++) {
            if (llada)
                snprintf(name, sizeof name, "model.transformer.blocks.%d.%s.weight", i,
                         items[j].a);
            else
                snprintf(name, sizeof name, "model.layers.%d.%s.weight", i, items[j].b);
            st = items[j].w ? get_mat(ld, name, items[j].n, items[j].k, items[j].w)
                            : get_vec(ld, name, items[j].n, items[j].v);
            if (st != UM_OK) return st;
        }
        if (in->qkv_bias) {
            const char *bn[3] = {"q_proj", "k_proj", "v_proj"};
            float **bd[3] = {&l->bq, &l->bk, &l->bv};
            int64_t bs[3] = {QD, KD, KD};
            for (int j = 0; j < 3; j++) {
                if (llada)
                    snprintf(name, sizeof name, "model.transformer.blocks.%d.%s.bias", i, bn[j]);
                else
                    snprintf(name, sizeof name, "model.layers.%d.self_attn.%s.bias", i, bn[j]);
                st = get_vec(ld, name, bs[j], bd[j]);
                if (st != UM_OK) return st;
            }
        }
        if (in->qk_norm) { /* Qwen3 names; one [Dh] weight shared by all heads */
            snprintf(name, sizeof name, "model.layers.%d.self_attn.q_norm.weight", i);
            st = get_vec(ld, name, Dh, &l->q_norm);
            if (st != UM_OK) return st;
            snprintf(name, sizeof name, "model.layers.%d.self_attn.k_norm.weight", i);
            st = get_vec(ld, name, Dh, &l->k_norm);
            if (st != UM_OK) return st;
        }
    }
    m->info.dtype = m->embed.dtype;
    m->info.n_params = ld->n_params;
    return UM_OK;
}

/* Special ids the config does not carry: looked up in the tokenizer by their strings, else
 * the family's published value when it lies inside the vocabulary: LLaDA-8B mask 126336
 * (<|mdm_mask|>), Dream-v0 151666 (<|mask|>), SDAR 151669 (<|MASK|>, JetAstra/SDAR
 * generate.py), Fast-dLLM v2 151665 (|<MASK>|, the generate() default in its modeling.py). */
static void special_ids_from_tokenizer(um_model *m) {
    struct um_model_info *in = &m->info;
    static const struct {
        enum um_family family;
        const char *token;
        int32_t id;
    } masks[] = {
        {UM_FAMILY_LLADA, "<|mdm_mask|>", 126336},
        {UM_FAMILY_DREAM, "<|mask|>", 151666},
        {UM_FAMILY_SDAR, "<|MASK|>", 151669},
        {UM_FAMILY_FASTDLLM2, "|<MASK>|", 151665},
    };
    for (size_t i = 0; in->mask_id < 0 && i < sizeof masks / sizeof masks[0]; i++) {
        if (masks[i].family != in->family) continue;
        int32_t id = m->tok ? um_tokenizer_token_id(m->tok, masks[i].token) : -1;
        if (id < 0) id = masks[i].id;
        if (id < in->n_vocab) in->mask_id = id;
    }
    if (!m->tok) return;
    const char *eot = in->family == UM_FAMILY_LLADA ? "<|eot_id|>" : "<|im_end|>";
    int32_t id = um_tokenizer_token_id(m->tok, eot);
    if (id >= 0 && id < in->n_vocab) in->eot_id = id;
    if (in->family == UM_FAMILY_LLADA && in->bos_id < 0) {
        id = um_tokenizer_token_id(m->tok, "<|startoftext|>");
        if (id >= 0 && id < in->n_vocab) in->bos_id = id;
    }
}

enum um_status um_model_load(const char *dir, const struct um_model_params *params,
                             um_model **out) {
    struct um_model_params p = params ? *params : um_model_default_params();
    if (!dir || !out) return um_set_error(UM_ERR_ARG, "um_model_load: NULL argument");
    if (!um_is_dir(dir))
        return um_set_error(UM_ERR_IO, "%s: not a directory (expected a Hugging Face model "
                            "folder with config.json)", dir);
    um_set_threads(p.n_threads);
    um_model *m = calloc(1, sizeof *m);
    if (!m) return um_set_error(UM_ERR_NOMEM, "out of memory");
    m->precision = p.precision;
    m->dir = strdup(dir);
    enum um_status st = m->dir ? UM_OK : um_set_error(UM_ERR_NOMEM, "out of memory");
    if (st == UM_OK) st = um_config_load(dir, &m->info);
    if (st == UM_OK) st = um_st_open_dir(dir, &m->st);
    if (st == UM_OK) {
        struct loader ld = {m, dir, 0, 0, 0};
        st = load_weights(&ld);
    }
    if (st == UM_OK && p.load_tokenizer) {
        char *tp = um_path_join(dir, "tokenizer.json");
        if (tp && um_file_exists(tp)) st = um_tokenizer_load(tp, &m->tok);
        free(tp);
        if (st == UM_OK && m->tok && um_tokenizer_n_vocab(m->tok) > m->info.n_vocab)
            st = um_set_error(UM_ERR_FORMAT, "%s/tokenizer.json: %d token ids but the model's "
                              "vocabulary has %d rows", dir, um_tokenizer_n_vocab(m->tok),
                              m->info.n_vocab);
    }
    if (st == UM_OK) special_ids_from_tokenizer(m);
    if (st != UM_OK) {
        um_model_free(m);
        return st;
    }
    *out = m;
    return UM_OK;
}

void um_model_free(um_model *m) {
    if (!m) return;
    um_tokenizer_free(m->tok);
    um_st_close(m->st);
    free(m->layers);
    free(m->f32_pool);
    free(m->dir);
    free(m);
}

const struct um_model_info *um_model_get_info(const um_model *m) {
    return &m->info;
}

const um_tokenizer *um_model_tokenizer(const um_model *m) {
    return m->tok;
}

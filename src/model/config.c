/*
 * config.c: Hugging Face config.json -> struct um_model_info, for the families unmask runs.
 *
 * Family is decided by "architectures"[0] (falling back to "model_type"):
 *   LLaDAModelLM / llada      OLMo-style fields: d_model, n_heads, n_kv_heads, n_layers,
 *                             mlp_hidden_size (or mlp_ratio * d_model), vocab_size,
 *                             embedding_size (rows of wte and of the head), max_sequence_length,
 *                             rope_theta, rms_norm_eps, weight_tying, include_bias,
 *                             mask_token_id, eos_token_id (default 126081).
 * A mask id absent from config.json is taken from the tokenizer or the family default
 * (model.c: <|mdm_mask|> / 126336 for LLaDA, <|mask|> / 151666 for Dream, <|MASK|> / 151669
 * for SDAR, |<MASK>| / 151665 for Fast-dLLM v2).
 *   DreamModel / Dream        Qwen2 fields, q/k/v bias, logits shifted by one.
 *   LlamaForCausalLM / llama  causal; attention_bias and mlp_bias must be false.
 *   Qwen2ForCausalLM / qwen2  causal, q/k/v bias.
 *   SDARForCausalLM / sdar    Qwen3 layout (JetAstra/SDAR, e.g. JetLM/SDAR-1.7B-Chat config.json):
 *                             per-head q_norm/k_norm, explicit head_dim, "attention_bias"
 *                             (must be false: it would also put a bias on o_proj), block-causal
 *                             attention over "block_size" positions (the released configs carry
 *                             it; default 4, SDAR's default, when absent), "mask_token_id"
 *                             (151669 in the release).
 *   Fast_dLLM_QwenForCausalLM / Fast_dLLM_Qwen
 *                             Fast-dLLM v2 (Efficient-Large-Model/Fast_dLLM_v2_7B): Qwen2.5
 *                             layout with q/k/v bias, block-causal attention over "bd_size"
 *                             positions (default 32, the modeling code's default), logits shifted
 *                             by one like Dream; mask 151665 and stop token 151645 (<|im_end|>)
 *                             are the modeling code's generate() defaults, not config fields.
 * Qwen2-style fields: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads (default = heads), head_dim (default hidden/heads; q_proj is then
 * [heads*head_dim][hidden], which need not equal hidden), layer_types (every entry must be
 * "full_attention"),
 * max_position_embeddings, rms_norm_eps, rope_theta, tie_word_embeddings, vocab_size, and the
 * *_token_id fields (an id or a list of ids, the first is used).
 * Every error names config.json's path and the field.
 */
#include "model/model-impl.h"

#include "base/base.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

struct cfg_reader {
    const cJSON *root;
    const char *path;
    enum um_status st; /* first error, UM_OK while none */
};

static const cJSON *cfg_field(struct cfg_reader *r, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(r->root, name);
}

static void cfg_fail(struct cfg_reader *r, enum um_status st, const char *fmt, const char *name,
                     const char *what) {
    if (r->st != UM_OK) return;
    r->st = um_set_error(st, fmt, r->path, name, what);
}

/* Integer field. required: missing is an error; otherwise dflt. Range [lo, hi]. A list takes
 * its first element (eos_token_id may be a list). null counts as missing. */
static int64_t cfg_int(struct cfg_reader *r, const char *name, bool required, int64_t dflt,
                       int64_t lo, int64_t hi) {
    const cJSON *it = cfg_field(r, name);
    if (it && cJSON_IsArray(it)) it = cJSON_GetArrayItem(it, 0);
    if (!it || cJSON_IsNull(it)) {
        if (required) cfg_fail(r, UM_ERR_FORMAT, "%s: field '%s' is %s", name, "missing");
        return dflt;
    }
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
        it->valuedouble < (double)lo || it->valuedouble > (double)hi) {
        if (r->st == UM_OK)
            r->st = um_set_error(UM_ERR_FORMAT,
                                 "%s: field '%s' must be an integer in [%lld, %lld]", r->path,
                                 name, (long long)lo, (long long)hi);
        return dflt;
    }
    return (int64_t)it->valuedouble;
}

static double cfg_num(struct cfg_reader *r, const char *name, double dflt, double lo,
                      double hi) {
    const cJSON *it = cfg_field(r, name);
    if (!it || cJSON_IsNull(it)) return dflt;
    if (!cJSON_IsNumber(it) || !(it->valuedouble >= lo && it->valuedouble <= hi)) {
        if (r->st == UM_OK)
            r->st = um_set_error(UM_ERR_FORMAT, "%s: field '%s' must be a number in [%g, %g]",
                                 r->path, name, lo, hi);
        return dflt;
    }
    return it->valuedouble;
}

static bool cfg_bool(struct cfg_reader *r, const char *name, bool dflt) {
    const cJSON *it = cfg_field(r, name);
    if (!it || cJSON_IsNull(it)) return dflt;
    if (!cJSON_IsBool(it)) {
        cfg_fail(r, UM_ERR_FORMAT, "%s: field '%s' must be %s", name, "true or false");
        return dflt;
    }
    return cJSON_IsTrue(it);
}

static const char *cfg_str(struct cfg_reader *r, const char *name) {
    const cJSON *it = cfg_field(r, name);
    if (it && cJSON_IsArray(it)) it = cJSON_GetArrayItem(it, 0);
    return (it && cJSON_IsString(it)) ? it->valuestring : NULL;
}

#define I32MAX 2147483647
#define DIM_MAX (1 << 20)

static void parse_llada(struct cfg_reader *r, struct um_model_info *in) {
    in->n_embd = (int32_t)cfg_int(r, "d_model", true, 0, 1, DIM_MAX);
    in->n_head = (int32_t)cfg_int(r, "n_heads", true, 0, 1, 4096);
    in->n_head_kv = (int32_t)cfg_int(r, "n_kv_heads", false, in->n_head, 1, 4096);
    in->n_layer = (int32_t)cfg_int(r, "n_layers", true, 0, 1, 4096);
    int64_t ratio = cfg_int(r, "mlp_ratio", false, 4, 1, 1024);
    in->n_ff = (int32_t)cfg_int(r, "mlp_hidden_size", false, ratio * in->n_embd, 1, 1 << 24);
    int32_t vocab = (int32_t)cfg_int(r, "vocab_size", true, 0, 1, 1 << 24);
    in->n_vocab = (int32_t)cfg_int(r, "embedding_size", false, vocab, vocab, 1 << 24);
    in->max_positions = (int32_t)cfg_int(r, "max_sequence_length", false, 4096, 1, I32MAX);
    in->rope_theta = (float)cfg_num(r, "rope_theta", 10000.0, 1.0, 1e12);
    in->norm_eps = (float)cfg_num(r, "rms_norm_eps", 1e-5, 0.0, 1.0);
    in->tied_embeddings = cfg_bool(r, "weight_tying", false);
    in->mask_id = (int32_t)cfg_int(r, "mask_token_id", false, -1, 0, I32MAX); /* see model.c */
    in->eos_id = (int32_t)cfg_int(r, "eos_token_id", false, 126081, 0, I32MAX);
    in->pad_id = (int32_t)cfg_int(r, "pad_token_id", false, -1, -1, I32MAX);
    in->bos_id = (int32_t)cfg_int(r, "bos_token_id", false, -1, -1, I32MAX);
    in->head_dim = in->n_head > 0 ? in->n_embd / in->n_head : 0;
    if (r->st == UM_OK && in->n_embd % in->n_head != 0)
        r->st = um_set_error(UM_ERR_FORMAT, "%s: field 'd_model' (%d) is not a multiple of "
                             "'n_heads' (%d)", r->path, in->n_embd, in->n_head);
    if (cfg_bool(r, "include_bias", false))
        cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' %s", "include_bias",
                 "is true; LLaDA checkpoints with biases are not supported");
    in->qkv_bias = cfg_bool(r, "include_qkv_bias", false);
    const char *act = cfg_str(r, "activation_type");
    if (act && strcmp(act, "silu") != 0 && strcmp(act, "swiglu") != 0)
        cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' is '%s' (only silu is supported)",
                 "activation_type", act);
    const char *norm = cfg_str(r, "layer_norm_type");
    if (norm && strcmp(norm, "rms") != 0)
        cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' is '%s' (only rms is supported)",
                 "layer_norm_type", norm);
    const cJSON *rope = cfg_field(r, "rope");
    if (rope && cJSON_IsFalse(rope))
        cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' %s", "rope",
                 "is false; only rotary position embeddings are supported");
    in->chat_template = UM_CHAT_LLADA;
}

static void parse_qwen_like(struct cfg_reader *r, struct um_model_info *in) {
    in->n_embd = (int32_t)cfg_int(r, "hidden_size", true, 0, 1, DIM_MAX);
    in->n_head = (int32_t)cfg_int(r, "num_attention_heads", true, 0, 1, 4096);
    in->n_head_kv = (int32_t)cfg_int(r, "num_key_value_heads", false, in->n_head, 1, 4096);
    in->n_layer = (int32_t)cfg_int(r, "num_hidden_layers", true, 0, 1, 4096);
    in->n_ff = (int32_t)cfg_int(r, "intermediate_size", true, 0, 1, 1 << 24);
    in->n_vocab = (int32_t)cfg_int(r, "vocab_size", true, 0, 1, 1 << 24);
    in->max_positions = (int32_t)cfg_int(r, "max_position_embeddings", false, 4096, 1, I32MAX);
    in->rope_theta = (float)cfg_num(r, "rope_theta", 10000.0, 1.0, 1e12);
    in->norm_eps = (float)cfg_num(r, "rms_norm_eps", 1e-6, 0.0, 1.0);
    in->tied_embeddings = cfg_bool(r, "tie_word_embeddings", false);
    in->bos_id = (int32_t)cfg_int(r, "bos_token_id", false, -1, -1, I32MAX);
    in->eos_id = (int32_t)cfg_int(r, "eos_token_id", false, -1, -1, I32MAX);
    in->pad_id = (int32_t)cfg_int(r, "pad_token_id", false, -1, -1, I32MAX);
    in->mask_id = (int32_t)cfg_int(r, "mask_token_id", false, -1, -1, I32MAX);
    int64_t dflt_hd = (in->n_head > 0 && in->n_embd % in->n_head == 0) ? in->n_embd / in->n_head
                                                                         : 0;
    in->head_dim = (int32_t)cfg_int(r, "head_dim", dflt_hd == 0, dflt_hd, 1, 65536);
    const cJSON *rs = cfg_field(r, "rope_scaling");
    if (rs && !cJSON_IsNull(rs))
        cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' %s", "rope_scaling",
                 "is set; scaled RoPE is not supported yet");
    const char *act = cfg_str(r, "hidden_act");
    if (act && strcmp(act, "silu") != 0)
        cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' is '%s' (only silu is supported)",
                 "hidden_act", act);
    /* transformers >= 4.53 configs list the attention kind per layer */
    const cJSON *lt = cfg_field(r, "layer_types"), *e;
    if (lt && cJSON_IsArray(lt)) {
        cJSON_ArrayForEach(e, lt) {
            if (!cJSON_IsString(e) || strcmp(e->valuestring, "full_attention") != 0) {
                cfg_fail(r, UM_ERR_UNSUPPORTED, "%s: field '%s' %s", "layer_types",
                         "has an entry other than \"full_attention\" (sliding-window "
                         "attention is not supported)");
                break;
            }
        }
    }
}

/* Block size of a block-diffusion family: field `name`, else the family default. */
static int32_t cfg_block_size(struct cfg_reader *r, const char *name, int32_t dflt) {
    return (int32_t)cfg_int(r, name, false, dflt, 1, 1 << 20);
}

enum um_status um_config_load(const char *dir, struct um_model_info *info) {
    char *path = um_path_join(dir, "config.json");
    if (!path) return um_set_error(UM_ERR_NOMEM, "out of memory");
    char *text = NULL;
    size_t len = 0;
    enum um_status st = um_read_file(path, 16u << 20, &text, &len);
    if (st != UM_OK) {
        free(path);
        return st;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        st = um_set_error(UM_ERR_FORMAT, "%s: not a JSON object (corrupt or truncated)", path);
        cJSON_Delete(root);
        free(path);
        return st;
    }
    struct cfg_reader r = {root, path, UM_OK};
    struct um_model_info in;
    memset(&in, 0, sizeof in);
    in.mask_id = in.bos_id = in.eos_id = in.eot_id = in.pad_id = -1;

    const char *arch = cfg_str(&r, "architectures");
    const char *mt = cfg_str(&r, "model_type");
    const char *name = arch ? arch : mt;
    if (!name) {
        st = um_set_error(UM_ERR_FORMAT, "%s: fields 'architectures' and 'model_type' are both "
                          "missing", path);
    } else if (!strcmp(name, "LLaDAModelLM") || !strcmp(name, "llada")) {
        in.family = UM_FAMILY_LLADA;
        parse_llada(&r, &in);
    } else if (!strcmp(name, "DreamModel") || !strcmp(name, "Dream")) {
        in.family = UM_FAMILY_DREAM;
        parse_qwen_like(&r, &in);
        in.qkv_bias = true;
        in.shift_logits = true;
        in.chat_template = UM_CHAT_DREAM;
    } else if (!strcmp(name, "LlamaForCausalLM") || !strcmp(name, "llama")) {
        in.family = UM_FAMILY_LLAMA;
        parse_qwen_like(&r, &in);
        in.causal = true;
        if (cfg_bool(&r, "attention_bias", false) || cfg_bool(&r, "mlp_bias", false))
            cfg_fail(&r, UM_ERR_UNSUPPORTED, "%s: field '%s' %s", "attention_bias",
                     "or mlp_bias is true; Llama with biases is not supported");
    } else if (!strcmp(name, "Qwen2ForCausalLM") || !strcmp(name, "qwen2")) {
        in.family = UM_FAMILY_QWEN2;
        parse_qwen_like(&r, &in);
        in.causal = true;
        in.qkv_bias = true;
    } else if (!strcmp(name, "SDARForCausalLM") || !strcmp(name, "sdar")) {
        in.family = UM_FAMILY_SDAR;
        parse_qwen_like(&r, &in);
        in.qk_norm = true;
        in.block_size = cfg_block_size(&r, "block_size", 4);
        if (cfg_bool(&r, "attention_bias", false))
            cfg_fail(&r, UM_ERR_UNSUPPORTED, "%s: field '%s' %s", "attention_bias",
                     "is true; SDAR with q/k/v/o biases is not supported");
    } else if (!strcmp(name, "Fast_dLLM_QwenForCausalLM") || !strcmp(name, "Fast_dLLM_Qwen")) {
        in.family = UM_FAMILY_FASTDLLM2;
        parse_qwen_like(&r, &in);
        in.qkv_bias = true; /* the modeling code always builds q/k/v with bias=True */
        in.shift_logits = true;
        in.block_size = cfg_block_size(&r, "bd_size", 32);
    } else {
        st = um_set_error(UM_ERR_UNSUPPORTED, "%s: field 'architectures' is '%s' (supported: "
                          "LLaDAModelLM, DreamModel, LlamaForCausalLM, Qwen2ForCausalLM, "
                          "SDARForCausalLM, Fast_dLLM_QwenForCausalLM)", path, name);
    }
    /* Not a Hugging Face field: real checkpoints get EoT from the tokenizer (<|eot_id|>,
     * <|im_end|>); folders without a tokenizer (test models) may name it here. */
    if (st == UM_OK) in.eot_id = (int32_t)cfg_int(&r, "eot_token_id", false, -1, -1, I32MAX);
    /* Fast-dLLM v2's generate() stops at 151645 (<|im_end|>) by default; the tokenizer, when
     * present, overrides this (model.c). Ids outside the vocabulary are dropped below. */
    if (st == UM_OK && in.family == UM_FAMILY_FASTDLLM2 && in.eot_id < 0) in.eot_id = 151645;
    if (st == UM_OK) st = r.st;
    if (st == UM_OK && in.n_head % in.n_head_kv != 0)
        st = um_set_error(UM_ERR_FORMAT, "%s: field 'n_kv_heads/num_key_value_heads' (%d) does "
                          "not divide the number of heads (%d)", path, in.n_head_kv, in.n_head);
    if (st == UM_OK && in.head_dim % 2 != 0)
        st = um_set_error(UM_ERR_FORMAT, "%s: head dimension %d is odd; RoPE needs pairs", path,
                          in.head_dim);
    if (st == UM_OK && in.mask_id >= in.n_vocab)
        st = um_set_error(UM_ERR_FORMAT, "%s: field 'mask_token_id' (%d) is outside the "
                          "vocabulary (%d)", path, in.mask_id, in.n_vocab);
    if (st == UM_OK) {
        int32_t *ids[] = {&in.bos_id, &in.eos_id, &in.pad_id, &in.eot_id};
        for (int i = 0; i < 4; i++)
            if (*ids[i] >= in.n_vocab) *ids[i] = -1; /* out-of-range ids are ignored */
        *info = in;
    }
    cJSON_Delete(root);
    free(path);
    return st;
}

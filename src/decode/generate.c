/*
 * generate.c: the public generation entry points. um_generate adapts a um_ctx into the logits
 * provider of decode.h (each request is one um_forward over the whole canvas) and runs
 * um_decode_run; um_gen_default_params picks the reference defaults of the model's family.
 */
#include "decode/decode-impl.h"

static enum um_status ctx_logits(void *user, const int32_t *tokens, int n_tokens,
                                 const int32_t *rows, int n_rows, float *logits) {
    return um_forward((um_ctx *)user, tokens, n_tokens, rows, n_rows, logits);
}

static enum um_status ctx_window(void *user, const int32_t *tokens, int q0, int q1, int n_keys,
                                 const int32_t *rows, int n_rows, float *logits) {
    return um_forward_window((um_ctx *)user, tokens, q0, q1, n_keys, rows, n_rows, logits);
}

const char *um_cache_str(enum um_cache c) {
    switch (c) {
    case UM_CACHE_NONE: return "none";
    case UM_CACHE_PREFIX: return "prefix";
    case UM_CACHE_DUAL: return "dual";
    case UM_CACHE_BLOCK: return "block";
    }
    return "unknown";
}

/* The decode view of a model (no provider: um_generate fills it in). */
static struct um_decode_model decode_model(const struct um_model_info *info) {
    struct um_decode_model dm = {
        .logits = ctx_logits,
        .window = ctx_window,
        .n_vocab = info->n_vocab,
        .mask_id = info->mask_id,
        .eos_id = info->eos_id,
        .eot_id = info->eot_id,
        .shift_logits = info->shift_logits,
        .block_size = info->block_size,
        .algo = info->family == UM_FAMILY_SDAR        ? UM_DEC_ALGO_SDAR
                : info->family == UM_FAMILY_FASTDLLM2 ? UM_DEC_ALGO_FASTDLLM2
                                                      : UM_DEC_ALGO_MDM,
    };
    return dm;
}

int um_gen_context_tokens(const um_model *model, int n_prompt, const struct um_gen_params *p) {
    struct um_decode_model dm = decode_model(um_model_get_info(model));
    return um_decode_canvas_tokens(&dm, n_prompt, p);
}

/* Defaults of the reference entry points:
 * - LLaDA generate.py `generate`: steps = gen_length = block_length = 128, temperature 0,
 *   cfg 0, remasking low_confidence.
 * - Dream `diffusion_generate`: steps = gen_length, alg entropy (the Dream README's choice),
 *   eps 1e-3 (DreamGenerationConfig), alg_temp 0, greedy: temperature 0, top_p / top_k off.
 * - Llama / Qwen2 (autoregressive, no mask token): the LLaDA values; um_generate refuses them. */
struct um_gen_params um_gen_default_params(const um_model *model) {
    struct um_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.gen_length = 128;
    gp.steps = 128;
    gp.block_length = 128;
    gp.remasking = UM_REMASK_LOW_CONFIDENCE;
    gp.alg = UM_ALG_NONE;
    gp.eps = 1e-3;
    gp.alg_temp = 0.0;
    gp.temperature = 0.0;
    gp.top_p = 1.0;
    gp.top_k = 0;
    gp.cfg = 0.0;
    gp.logits_eos_inf = false;
    gp.confidence_eos_eot_inf = false;
    gp.seed = 0;
    gp.progress = NULL;
    gp.progress_user = NULL;
    const struct um_model_info *info = model ? um_model_get_info(model) : NULL;
    if (info && info->family == UM_FAMILY_DREAM) gp.alg = UM_ALG_ENTROPY;
    /* SDAR generate.py: block 4 (the model's), 4 denoising steps per block,
     * low_confidence_dynamic at 0.85 (greedy here: temperature 0). Fast-dLLM v2 chat: block 32
     * (the model's), sub-block 8, threshold 0.9. Both with their exact block KV cache. */
    if (info && (info->family == UM_FAMILY_SDAR || info->family == UM_FAMILY_FASTDLLM2)) {
        gp.block_length = info->block_size;
        gp.steps = info->block_size;
        gp.cache = UM_CACHE_BLOCK;
        gp.threshold = info->family == UM_FAMILY_SDAR ? 0.85 : 0.9;
        if (info->family == UM_FAMILY_FASTDLLM2)
            gp.sub_block = info->block_size < 8 ? info->block_size : 8;
    }
    return gp;
}

enum um_status um_generate(um_ctx *ctx, const int32_t *prompt, int n_prompt,
                           const struct um_gen_params *params, int32_t *out) {
    if (!ctx || !params || !out)
        return um_set_error(UM_ERR_ARG, "um_generate: ctx, params and out must not be NULL");
    const struct um_model_info *info = um_model_get_info(um_ctx_model(ctx));
    if (info->mask_id < 0)
        return um_set_error(UM_ERR_UNSUPPORTED,
                            "config.json: field 'mask_token_id' is missing and the %s model "
                            "has no mask token in its vocabulary; diffusion generation needs one",
                            um_family_str(info->family));
    double t0 = um_time_sec();
    struct um_decode_model dm = decode_model(info);
    dm.user = ctx;
    int max_tokens = um_ctx_max_tokens(ctx);
    int need = n_prompt >= 0 && params->gen_length > 0
                   ? um_decode_canvas_tokens(&dm, n_prompt, params) : 0;
    if (need > max_tokens)
        return um_set_error(UM_ERR_ARG,
                            "prompt of %d tokens + --gen-length %d needs %d positions, more than "
                            "the context of %d tokens",
                            n_prompt, params->gen_length, need, max_tokens);
    if (params->cache != UM_CACHE_NONE) {
        enum um_status s = um_ctx_enable_cache(ctx);
        if (s != UM_OK) return s;
        um_ctx_clear_cache(ctx);
    }
    struct um_gen_stats st = {0};
    enum um_status s = um_decode_run_stats(&dm, prompt, n_prompt, params, out, &st);
    st.seconds = um_time_sec() - t0;
    if (params->stats) *params->stats = st;
    return s;
}

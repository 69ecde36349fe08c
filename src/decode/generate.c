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
    int max_tokens = um_ctx_max_tokens(ctx);
    if (n_prompt >= 0 && params->gen_length > 0 &&
        (int64_t)n_prompt + params->gen_length > max_tokens)
        return um_set_error(UM_ERR_ARG,
                            "prompt of %d tokens + --gen-length %d exceeds the context of %d "
                            "tokens",
                            n_prompt, params->gen_length, max_tokens);

    struct um_decode_model dm = {
        .logits = ctx_logits,
        .user = ctx,
        .n_vocab = info->n_vocab,
        .mask_id = info->mask_id,
        .eos_id = info->eos_id,
        .eot_id = info->eot_id,
        .shift_logits = info->shift_logits,
    };
    return um_decode_run(&dm, prompt, n_prompt, params, out);
}

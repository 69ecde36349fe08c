/*
 * decode.c: um_decode_run, the entry of the decode module. It validates the parameters (each
 * message names the command-line option at fault), sizes and allocates every buffer of the
 * generation once, seeds the RNG streams, and hands the canvas to the LLaDA block schedule
 * (alg = none, llada.c) or the Dream timestep schedule (dream.c). It also holds the two pieces
 * both schedules share: fetching logits rows (logit shift, classifier-free guidance,
 * logits_eos_inf) and reporting progress.
 *
 * Contract beyond decode.h:
 * - The progress callback receives step = number of steps finished (1 .. n_steps) after each
 *   step; n_steps = params->steps for both schedules.
 * - On UM_OK or UM_ERR_CANCELLED out[gen_length] receives canvas[n_prompt..]; on other errors
 *   out is untouched.
 * - The provider is called only for rows it must compute: the (shifted) rows of the masked
 *   positions a step may commit, each row once, ascending; one call per step (two with cfg),
 *   except that a LLaDA step whose candidates outnumber the buffer (possible only after the
 *   model proposed mask_id itself) requests them in chunks. Steps that commit nothing do not
 *   call it (the references run the model and discard the result).
 * - Options a schedule does not use are ignored: block_length and remasking by Dream; eps,
 *   alg_temp, top_p and top_k by LLaDA (as in the references). cfg, logits_eos_inf and
 *   confidence_eos_eot_inf, LLaDA options in the reference, act in both schedules.
 */
#include "decode/decode-impl.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

enum um_status um_dec_fetch_logits(struct um_dec_state *st, const int32_t *pos, int n) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const size_t V = (size_t)m->n_vocab;

    int nr = 0;
    for (int c = 0; c < n; c++) {
        int32_t r = m->shift_logits ? (pos[c] > 0 ? pos[c] - 1 : 0) : pos[c];
        if (nr == 0 || st->rows[nr - 1] != r) st->rows[nr++] = r; /* pos ascending */
        st->row_of[c] = nr - 1;
    }
    if (nr > st->r_max) /* cannot happen (see um_decode_run); guards the logits buffer */
        return um_set_error(UM_ERR_ARG, "decode: %d logit rows exceed the %d allocated", nr,
                            st->r_max);

    enum um_status s =
        st->win ? m->window(m->user, st->canvas, st->win_q0, st->win_q1, st->win_keys, st->rows,
                            nr, st->logits)
                : m->logits(m->user, st->canvas, st->n_canvas, st->rows, nr, st->logits);
    if (s != UM_OK) return s;
    st->n_forwards++;

    if (p->cfg > 0) {
        /* generate.py: un_x = x with prompt_index (the prompt's non-mask tokens) set to mask */
        for (int j = 0; j < st->n_canvas; j++)
            st->uncond[j] =
                j < st->n_prompt && st->prompt[j] != m->mask_id ? m->mask_id : st->canvas[j];
        s = m->logits(m->user, st->uncond, st->n_canvas, st->rows, nr, st->logits_un);
        if (s != UM_OK) return s;
        st->n_forwards++;
        /* un_logits + (cfg_scale + 1) * (logits - un_logits), elementwise in float32 */
        const float w = (float)(p->cfg + 1.0);
        const size_t total = (size_t)nr * V;
        for (size_t i = 0; i < total; i++) {
            float un = st->logits_un[i];
            st->logits[i] = un + w * (st->logits[i] - un);
        }
    }
    if (p->logits_eos_inf && m->eos_id >= 0)
        for (int r = 0; r < nr; r++)
            st->logits[(size_t)r * V + (size_t)m->eos_id] = -INFINITY;
    return UM_OK;
}

void um_dec_set_window(struct um_dec_state *st, int start, int end) {
    const enum um_cache c = st->p->cache;
    if (c != UM_CACHE_PREFIX && c != UM_CACHE_DUAL) return;
    st->win = true;
    st->win_q0 = start;
    st->win_q1 = c == UM_CACHE_DUAL ? end : st->n_canvas;
    st->win_keys = st->n_canvas;
}

enum um_status um_dec_progress(struct um_dec_state *st) {
    st->step_done++;
    const struct um_gen_params *p = st->p;
    if (p->progress &&
        !p->progress(p->progress_user, st->canvas, st->n_canvas, st->step_done, st->n_steps_total))
        return um_set_error(UM_ERR_CANCELLED, "generation cancelled after step %d of %d",
                            st->step_done, st->n_steps_total);
    return UM_OK;
}

/* The block schedule shared by LLaDA and Fast-dLLM's Dream loop: block_length divides
 * gen_length and steps is a multiple of the block count. */
static enum um_status check_blocks(const struct um_gen_params *p) {
    if (p->block_length < 1)
        return um_set_error(UM_ERR_ARG, "--block-length %d must be at least 1", p->block_length);
    if (p->gen_length % p->block_length != 0)
        return um_set_error(UM_ERR_ARG, "--block-length %d does not divide --gen-length %d",
                            p->block_length, p->gen_length);
    int n_blocks = p->gen_length / p->block_length;
    if (p->steps % n_blocks != 0)
        return um_set_error(UM_ERR_ARG,
                            "--steps %d is not a multiple of the %d blocks "
                            "(--gen-length %d / --block-length %d)",
                            p->steps, n_blocks, p->gen_length, p->block_length);
    return UM_OK;
}

static enum um_status validate(const struct um_decode_model *m, const int32_t *prompt, int n_prompt,
                               const struct um_gen_params *p, const int32_t *out) {
    if (!m || !m->logits) return um_set_error(UM_ERR_ARG, "decode: no logits provider");
    if (!p || !out) return um_set_error(UM_ERR_ARG, "decode: params and out must not be NULL");
    if (m->n_vocab < 1) return um_set_error(UM_ERR_ARG, "decode: vocabulary size %d", m->n_vocab);
    if (m->mask_id < 0 || m->mask_id >= m->n_vocab)
        return um_set_error(UM_ERR_ARG, "decode: mask id %d outside the vocabulary of %d",
                            m->mask_id, m->n_vocab);
    if (m->eos_id < -1 || m->eos_id >= m->n_vocab || m->eot_id < -1 || m->eot_id >= m->n_vocab)
        return um_set_error(UM_ERR_ARG, "decode: eos id %d / eot id %d outside the vocabulary",
                            m->eos_id, m->eot_id);
    if (n_prompt < 0 || (n_prompt > 0 && !prompt))
        return um_set_error(UM_ERR_ARG, "decode: prompt of %d tokens without data", n_prompt);
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= m->n_vocab)
            return um_set_error(UM_ERR_ARG,
                                "prompt token %d is id %d, outside the vocabulary of %d", i,
                                prompt[i], m->n_vocab);
    if (p->gen_length < 1)
        return um_set_error(UM_ERR_ARG, "--gen-length %d must be at least 1", p->gen_length);
    if ((int64_t)n_prompt + p->gen_length > INT_MAX / 2)
        return um_set_error(UM_ERR_ARG, "prompt of %d tokens + --gen-length %d is too long",
                            n_prompt, p->gen_length);
    if (p->steps < 1) return um_set_error(UM_ERR_ARG, "--steps %d must be at least 1", p->steps);
    if (!(p->temperature >= 0) || isinf(p->temperature))
        return um_set_error(UM_ERR_ARG, "--temperature %g must be a finite number >= 0",
                            p->temperature);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return um_set_error(UM_ERR_ARG, "--top-p %g must be in (0, 1]", p->top_p);
    if (p->top_k < 0) return um_set_error(UM_ERR_ARG, "--top-k %d must be >= 0", p->top_k);
    if (!(p->cfg >= 0) || isinf(p->cfg))
        return um_set_error(UM_ERR_ARG, "--cfg %g must be a finite number >= 0", p->cfg);
    if (!(p->alg_temp >= 0) || isinf(p->alg_temp))
        return um_set_error(UM_ERR_ARG, "--alg-temp %g must be a finite number >= 0", p->alg_temp);
    if (p->remasking != UM_REMASK_LOW_CONFIDENCE && p->remasking != UM_REMASK_RANDOM)
        return um_set_error(UM_ERR_ARG, "--remasking: unknown value %d", (int)p->remasking);
    if (!(p->threshold >= 0 && p->threshold <= 1))
        return um_set_error(UM_ERR_ARG, "--threshold %g must be in [0, 1] (0 = off)",
                            p->threshold);
    if (!(p->factor >= 0) || isinf(p->factor))
        return um_set_error(UM_ERR_ARG, "--factor %g must be a finite number >= 0 (0 = off)",
                            p->factor);
    if (p->threshold > 0 && p->factor > 0)
        return um_set_error(UM_ERR_ARG, "--threshold and --factor are alternatives; give one");
    if ((int)p->cache < UM_CACHE_NONE || (int)p->cache > UM_CACHE_BLOCK)
        return um_set_error(UM_ERR_ARG, "--cache: unknown value %d", (int)p->cache);
    if (p->cache != UM_CACHE_NONE && !m->window)
        return um_set_error(UM_ERR_ARG, "--cache %s needs a model with a KV cache",
                            um_cache_str(p->cache));
    if (m->algo != UM_DEC_ALGO_MDM) {
        if (p->cache != UM_CACHE_NONE && p->cache != UM_CACHE_BLOCK)
            return um_set_error(UM_ERR_ARG, "--cache %s is for full-attention models (LLaDA, "
                                "Dream); block-diffusion models take --cache none or block",
                                um_cache_str(p->cache));
        if (m->block_size < 1)
            return um_set_error(UM_ERR_ARG, "decode: block size %d", m->block_size);
        if (p->factor > 0)
            return um_set_error(UM_ERR_ARG, "--factor is for LLaDA and Dream models");
        if (p->cfg > 0) return um_set_error(UM_ERR_ARG, "--cfg is for LLaDA and Dream models");
        if (m->algo == UM_DEC_ALGO_SDAR) {
            if (p->block_length != m->block_size)
                return um_set_error(UM_ERR_ARG, "--block-length %d differs from the model's "
                                    "block size %d (config.json)", p->block_length,
                                    m->block_size);
            if (p->steps > p->block_length)
                return um_set_error(UM_ERR_ARG, "--steps %d: SDAR takes at most --block-length "
                                    "(%d) denoising steps per block", p->steps, p->block_length);
        } else {
            if (p->gen_length < m->block_size)
                return um_set_error(UM_ERR_ARG, "--gen-length %d is below the block size %d: "
                                    "Fast-dLLM v2 generates whole blocks", p->gen_length,
                                    m->block_size);
            int sb = p->sub_block > 0 ? p->sub_block : 8;
            if (sb > m->block_size || m->block_size % sb != 0)
                return um_set_error(UM_ERR_ARG, "--sub-block %d must divide the block size %d",
                                    sb, m->block_size);
        }
        return UM_OK;
    }
    if (p->score_target && (p->alg != UM_ALG_NONE || p->cfg > 0))
        return um_set_error(UM_ERR_ARG, "scoring a target needs the LLaDA schedule without cfg");
    if (p->score_target)
        for (int i = 0; i < p->gen_length; i++)
            if (p->score_target[i] < 0 || p->score_target[i] >= m->n_vocab)
                return um_set_error(UM_ERR_ARG, "score target token %d is id %d, outside the "
                                    "vocabulary of %d", i, p->score_target[i], m->n_vocab);
    if (p->cache == UM_CACHE_BLOCK)
        return um_set_error(UM_ERR_ARG, "--cache block is for block-diffusion models (SDAR, "
                            "Fast-dLLM v2); LLaDA and Dream take none, prefix or dual");
    if (p->cache != UM_CACHE_NONE && p->cfg > 0)
        return um_set_error(UM_ERR_ARG, "--cfg with --cache %s is not supported (the "
                            "unconditional pass would need its own cache)",
                            um_cache_str(p->cache));
    switch (p->alg) {
    case UM_ALG_NONE: {
        enum um_status s = check_blocks(p);
        if (s != UM_OK) return s;
        break;
    }
    case UM_ALG_ORIGIN:
    case UM_ALG_MASKGIT_PLUS:
    case UM_ALG_TOPK_MARGIN:
    case UM_ALG_ENTROPY:
        if (p->factor > 0)
            return um_set_error(UM_ERR_ARG, "--factor is for LLaDA (Fast-dLLM's Dream loop "
                                "has the threshold rule only)");
        if (p->cache != UM_CACHE_NONE || p->threshold > 0) { /* Fast-dLLM's block loop */
            enum um_status s = check_blocks(p);
            if (s != UM_OK) return s;
            int nb = p->gen_length / p->block_length;
            if (p->threshold <= 0 && p->steps / nb < 2)
                return um_set_error(UM_ERR_ARG, "--steps %d: Dream's cached block loop needs at "
                                    "least 2 steps per block (%d blocks) without --threshold",
                                    p->steps, nb);
            if (p->cfg > 0 || p->alg_temp > 0)
                return um_set_error(UM_ERR_ARG, "--cfg and --alg-temp are not available in "
                                    "Dream's cached block loop");
        }
        if (!(p->eps > 0 && p->eps < 1))
            return um_set_error(UM_ERR_ARG, "--eps %g must be in (0, 1)", p->eps);
        break;
    default:
        return um_set_error(UM_ERR_ARG, "--alg: unknown value %d", (int)p->alg);
    }
    return UM_OK;
}

static void state_free(struct um_dec_state *st) {
    free(st->canvas);
    free(st->uncond);
    free(st->pos);
    free(st->rows);
    free(st->row_of);
    free(st->x0);
    free(st->conf);
    free(st->order);
    free(st->order_tmp);
    free(st->keys);
    free(st->counts);
    free(st->timesteps);
    free(st->logits);
    free(st->logits_un);
    free(st->row_tmp);
    free(st->vprob);
    free(st->vidx);
    free(st->vheap);
    free(st->logp);
}

/* Allocate every buffer of the generation (sizes in decode-impl.h). */
static enum um_status state_alloc(struct um_dec_state *st) {
    const struct um_gen_params *p = st->p;
    const size_t T = (size_t)st->canvas_cap, V = (size_t)st->m->n_vocab;
    if ((size_t)st->r_max > SIZE_MAX / sizeof(float) / V)
        return um_set_error(UM_ERR_NOMEM, "decode: %d logit rows of %zu floats overflow", st->r_max,
                            V);
    const size_t logits_bytes = (size_t)st->r_max * V * sizeof(float);

    st->canvas = malloc(T * sizeof(int32_t));
    st->uncond = p->cfg > 0 ? malloc(T * sizeof(int32_t)) : NULL;
    st->pos = malloc(T * sizeof(int32_t));
    st->rows = malloc(T * sizeof(int32_t));
    st->row_of = malloc(T * sizeof(int32_t));
    st->x0 = malloc(T * sizeof(int32_t));
    st->conf = malloc(T * sizeof(double));
    st->order = malloc(T * sizeof(int32_t));
    st->order_tmp = malloc(T * sizeof(int32_t));
    st->keys = malloc(T * sizeof(double));
    st->counts = malloc((size_t)p->steps * sizeof(int32_t));
    st->timesteps = malloc(((size_t)p->steps + 1) * sizeof(float));
    st->logits = malloc(logits_bytes);
    st->logits_un = p->cfg > 0 ? malloc(logits_bytes) : NULL;
    st->row_tmp = malloc(V * sizeof(float));
    st->vprob = malloc(V * sizeof(double));
    st->vidx = malloc(V * sizeof(int32_t));
    st->vheap = malloc(V * sizeof(float));
    st->logp = malloc(T * sizeof(double));
    if (!st->canvas || (p->cfg > 0 && (!st->uncond || !st->logits_un)) || !st->pos || !st->rows ||
        !st->row_of || !st->x0 || !st->conf || !st->order || !st->order_tmp || !st->keys ||
        !st->counts || !st->timesteps || !st->logits || !st->row_tmp || !st->vprob || !st->vidx ||
        !st->vheap || !st->logp)
        return um_set_error(UM_ERR_NOMEM, "decode: out of memory (%zu bytes of logits)",
                            logits_bytes * (p->cfg > 0 ? 2 : 1));
    return UM_OK;
}

int um_decode_canvas_tokens(const struct um_decode_model *m, int n_prompt,
                            const struct um_gen_params *p) {
    const int64_t B = m->block_size > 0 ? m->block_size : 1;
    int64_t n = (int64_t)n_prompt + p->gen_length;
    if (m->algo == UM_DEC_ALGO_SDAR) n = (n + B - 1) / B * B;
    /* Fast-dLLM v2: each of gen_length / B blocks pads the sequence to a block boundary (at
     * most B masks) and appends one AR token; the prompt may get one AR token first. */
    if (m->algo == UM_DEC_ALGO_FASTDLLM2) {
        int64_t grown = (int64_t)n_prompt + 1 + (p->gen_length / B) * (B + 1);
        if (grown > n) n = grown; /* out[] is read from the canvas: keep prompt + gen_length */
    }
    return n > INT_MAX ? INT_MAX : (int)n;
}

enum um_status um_decode_run(const struct um_decode_model *m, const int32_t *prompt, int n_prompt,
                             const struct um_gen_params *p, int32_t *out) {
    return um_decode_run_stats(m, prompt, n_prompt, p, out, NULL);
}

enum um_status um_decode_run_stats(const struct um_decode_model *m, const int32_t *prompt,
                                   int n_prompt, const struct um_gen_params *p, int32_t *out,
                                   struct um_gen_stats *stats) {
    enum um_status s = validate(m, prompt, n_prompt, p, out);
    if (s != UM_OK) return s;

    struct um_dec_state st;
    memset(&st, 0, sizeof st);
    st.m = m;
    st.p = p;
    st.prompt = prompt;
    st.n_prompt = n_prompt;
    st.n_canvas = n_prompt + p->gen_length;
    st.canvas_cap = um_decode_canvas_tokens(m, n_prompt, p);
    st.n_out = p->gen_length;
    st.n_steps_total = p->steps;
    /* Rows per step. Dream: every mask of the canvas (masks only disappear). LLaDA: the masks
     * before the end of the current block. A block is untouched before its turn and its counts
     * sum to its length, each step finding at least its count among the block's own masks, so
     * blocks 0..b-1 commit exactly b * block_length tokens: at most prompt masks +
     * block_length masks lie before the end of block b. With parallel rules a block ends only
     * when it has no mask left, so the same bound holds. Block-diffusion loops: one block. */
    int prompt_masks = 0;
    for (int i = 0; i < n_prompt; i++)
        prompt_masks += prompt[i] == m->mask_id;
    if (m->algo != UM_DEC_ALGO_MDM) {
        st.r_max = m->block_size;
        st.n_steps_total = m->algo == UM_DEC_ALGO_SDAR
                               ? (st.canvas_cap / m->block_size) * p->steps
                               : p->gen_length;
    } else {
        st.r_max = prompt_masks + (p->alg == UM_ALG_NONE ? p->block_length : p->gen_length);
        if (p->threshold > 0 || p->factor > 0) st.n_steps_total = p->gen_length;
    }

    s = state_alloc(&st);
    if (s == UM_OK) {
        if (n_prompt > 0) memcpy(st.canvas, prompt, (size_t)n_prompt * sizeof(int32_t));
        for (int j = n_prompt; j < st.canvas_cap; j++)
            st.canvas[j] = m->mask_id;
        um_rng_seed(&st.rng_tokens, p->seed, UM_DEC_STREAM_TOKENS);
        um_rng_seed(&st.rng_remask, p->seed, UM_DEC_STREAM_REMASK);
        um_rng_seed(&st.rng_reveal, p->seed, UM_DEC_STREAM_REVEAL);
        um_rng_seed(&st.rng_select, p->seed, UM_DEC_STREAM_SELECT);

        switch (m->algo) {
        case UM_DEC_ALGO_SDAR: s = um_dec_sdar_run(&st); break;
        case UM_DEC_ALGO_FASTDLLM2: s = um_dec_fastdllm2_run(&st); break;
        default:
            s = p->alg == UM_ALG_NONE ? um_dec_llada_run(&st)
                : p->cache != UM_CACHE_NONE || p->threshold > 0 ? um_dec_dream_fast_run(&st)
                                                                : um_dec_dream_run(&st);
        }
        if (s == UM_OK || s == UM_ERR_CANCELLED)
            memcpy(out, st.canvas + n_prompt, (size_t)p->gen_length * sizeof(int32_t));
        if (stats) {
            stats->tokens = st.n_out;
            stats->steps = st.step_done;
            stats->forwards = st.n_forwards;
            stats->nll = st.nll;
        }
    }
    state_free(&st);
    return s;
}

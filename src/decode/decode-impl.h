/*
 * decode-impl.h: private pieces of the decode module shared by decode.c (validation, buffers,
 * dispatch), llada.c (LLaDA block schedule), dream.c (Dream timestep schedule) and sample.c
 * (per-row sampling, confidence and selection rules). Not part of the public API; tests may
 * call these helpers directly.
 *
 * Shape letters: T canvas tokens (prompt + generation), V vocabulary, R logit rows requested
 * in one provider call (R <= r_max, see um_decode_run), C candidate positions in one step.
 */
#ifndef UM_DECODE_IMPL_H
#define UM_DECODE_IMPL_H

#include "base/base.h"
#include "decode/decode.h"

/* RNG streams derived from params->seed, one per purpose, so that turning one random feature
 * on or off does not shift the draws of another. */
enum um_dec_stream {
    UM_DEC_STREAM_TOKENS = 0, /* Gumbel noise (LLaDA) and categorical draws (Dream) */
    UM_DEC_STREAM_REMASK = 1, /* LLaDA remasking='random' confidences */
    UM_DEC_STREAM_REVEAL = 2, /* Dream alg=origin: which masks are revealed this step */
    UM_DEC_STREAM_SELECT = 3, /* Dream alg_temp > 0: positions sampled without replacement */
};

/* One generation's state and scratch. Every buffer is allocated once by um_decode_run before
 * the first step and freed after the last; no step allocates.
 * Invariants: canvas[0..n_prompt) is the prompt (mask ids in it are generated too, as in the
 * references), canvas[n_prompt..T) the generation; every request asks for at most r_max rows. */
struct um_dec_state {
    const struct um_decode_model *m;
    const struct um_gen_params *p;
    const int32_t *prompt; /* [n_prompt], borrowed */
    int n_prompt;
    int n_canvas;      /* T */
    int r_max;         /* most logit rows one step can request */
    int n_steps_total; /* steps reported to the progress callback */
    int step_done;     /* steps finished so far (progress counter) */

    int32_t *canvas;    /* [T] current tokens */
    int32_t *uncond;    /* [T] cfg > 0: canvas with prompt tokens replaced by mask_id */
    int32_t *pos;       /* [T] candidate positions of this step, ascending */
    int32_t *rows;      /* [T] distinct logit rows requested, ascending */
    int32_t *row_of;    /* [T] candidate c reads logits row row_of[c] (index into rows) */
    int32_t *x0;        /* [T] proposed token per candidate */
    double *conf;       /* [T] confidence per candidate */
    int32_t *order;     /* [T] selection result: candidate indices */
    int32_t *order_tmp; /* [T] merge-sort scratch */
    double *keys;       /* [T] selection keys (Gumbel-top-k) */
    int32_t *counts;    /* [steps per block] LLaDA transfer counts */
    float *timesteps;   /* [steps + 1] Dream linspace(1, eps, steps + 1) in float32 */
    float *logits;      /* [r_max][V] logits of the requested rows (combined if cfg) */
    float *logits_un;   /* [r_max][V] unconditional pass (cfg > 0 only) */
    float *row_tmp;     /* [V] a row being filtered/scaled (Dream sample_tokens) */
    double *vprob;      /* [V] probabilities of one row */
    int32_t *vidx;      /* [V] token indices (top-p sort) */
    float *vheap;       /* [V] top-k heap */

    um_rng rng_tokens, rng_remask, rng_reveal, rng_select;

    /* caches: when win is set, um_dec_fetch_logits computes only [win_q0, win_q1) with keys
     * [0, win_keys) through the window provider */
    bool win;
    int win_q0, win_q1, win_keys;
    int64_t n_forwards; /* provider calls */
    double *logp;       /* [T] score_target: log p(target) per candidate */
    double nll;         /* score_target: accumulated -log p */
    int n_out;          /* generated tokens (block-diffusion loops, early stop) */
    int canvas_cap;     /* allocated canvas positions (>= n_canvas) */
};

/* ---- schedules (llada.c, dream.c) */

/* LLaDA get_num_transfer_tokens (ML-GSAI/LLaDA generate.py): counts[i] = n_masked / steps,
 * plus one for the first n_masked % steps steps. */
void um_dec_llada_counts(int n_masked, int steps, int32_t *counts);

/* torch.linspace(start, end, n) in float32, bit for bit as the oracle's PyTorch (1.13.1, CPU,
 * AVX2 kernel) computes it; dream.c explains the formula and how newer PyTorch differs. */
void um_dec_linspace_f32(float start, float end, int n, float *out);

/* Dream number_transfer_tokens = int(n_masked * (1 - s / t)) evaluated in float32 as torch does
 * (num_mask_token is a float32 tensor); on the last step all n_masked. */
int um_dec_dream_count(int n_masked, float t, float s, bool last);

enum um_status um_dec_llada_run(struct um_dec_state *st);
/* SDAR block_diffusion_generate and Fast-dLLM v2 generate (blockdiff.c) */
enum um_status um_dec_sdar_run(struct um_dec_state *st);
enum um_status um_dec_fastdllm2_run(struct um_dec_state *st);

/* The tokens that end a generation: the model's EOS or EoT. */
static inline bool um_dec_is_stop(const struct um_decode_model *m, int32_t t) {
    return (m->eos_id >= 0 && t == m->eos_id) || (m->eot_id >= 0 && t == m->eot_id);
}
/* What follows a stop token: EOS, else EoT. */
static inline int32_t um_dec_stop_fill(const struct um_decode_model *m) {
    return m->eos_id >= 0 ? m->eos_id : m->eot_id;
}

/* If the generation [n_prompt, end) holds a stop token with no mask before it: positions after
 * it up to `end` become `fill`, n_out counts the tokens up to and including it, and it returns
 * true; else nothing changes (llada.c). Serves --early-stop and the block-diffusion outputs. */
bool um_dec_cut_at_stop(struct um_dec_state *st, int end, int32_t fill);

/* Restrict the next um_dec_fetch_logits to the cached window of a block [start, end): the
 * suffix [start, T) for the prefix cache, the block for the dual cache, keys [0, T) (decode.c).
 * A no-op for cache = none. The caller clears st->win after the fetch. */
void um_dec_set_window(struct um_dec_state *st, int start, int end);

/* Fast-dLLM parallel commit rules over candidates already ordered by confidence (order[n],
 * conf descending): how many of the first to commit. threshold > 0: the first, then every
 * one with confidence >= threshold (get_transfer_index); factor > 0: get_transfer_index_dynamic
 * (see llada.c). */
int um_dec_parallel_count(const double *conf, const int32_t *order, int n, double threshold,
                          double factor);
enum um_status um_dec_dream_run(struct um_dec_state *st);
/* Fast-dLLM's Dream block loop with caches / threshold (dream.c) */
enum um_status um_dec_dream_fast_run(struct um_dec_state *st);

/* ---- shared step pieces (decode.c) */

/* Fill st->rows / st->row_of for the n candidate positions pos[n] (ascending, n <= r_max;
 * shift: position i reads row i-1, position 0 row 0; a row needed twice is requested once)
 * and run the provider on the canvas, again on the unconditional canvas when cfg > 0; applies
 * the cfg combination and logits_eos_inf. Candidate c's logits are then
 * st->logits[row_of[c]][V]. Returns the provider's status. */
enum um_status um_dec_fetch_logits(struct um_dec_state *st, const int32_t *pos, int n);

/* Report a finished step; UM_ERR_CANCELLED if the callback says stop. */
enum um_status um_dec_progress(struct um_dec_state *st);

/* ---- per-row sampling and selection (sample.c) */

/* Index of the largest of x[n]; the first on ties (torch.argmax). */
int32_t um_dec_argmax(const float *x, int n);

/* LLaDA add_gumbel_noise + argmax for one row at temperature > 0. */
int32_t um_dec_gumbel_argmax(const float *l, int n_vocab, double temperature, um_rng *rng);

/* softmax(l)[k] computed in float64 with the maximum subtracted, with the columns ex_a and
 * ex_b (-1: none) taken as -inf, i.e. left out of the normaliser (0 if k is one of them). */
double um_dec_softmax_prob(const float *l, int n_vocab, int32_t k, int32_t ex_a, int32_t ex_b);

/* Dream top_p_logits on one row, in place: keep the smallest prefix (by descending
 * probability, ties by lower token id) whose cumulative probability exceeds top_p, always the
 * top-1; the rest become -FLT_MAX (torch.finfo(float32).min). prob[V] and idx[V] are scratch. */
void um_dec_top_p(float *l, int n_vocab, double top_p, double *prob, int32_t *idx);

/* Dream top_k_logits on one row, in place: entries below the k-th largest value become
 * -FLT_MAX (ties with it are kept). heap[k] is scratch. No-op for k <= 0 or k >= V. */
void um_dec_top_k(float *l, int n_vocab, int top_k, float *heap);

/* Dream sample_tokens on one row. `l` is copied to st->row_tmp first (it is not modified).
 * Returns x0 and writes the confidence of `alg` (top-1 probability for maskgit_plus/origin,
 * top1 - top2 for topk_margin, sum p log(p + 1e-10) for entropy). */
int32_t um_dec_sample_row(struct um_dec_state *st, const float *l, double *confidence);

/* Order candidates 0..n-1 by conf descending, ties by lower index (candidates are in
 * ascending position, so: lower position first); writes all n into order[]. */
void um_dec_sort_by_conf(const double *conf, int n, int32_t *order, int32_t *tmp);

/* Gumbel-top-k: order candidates by conf[c] / alg_temp + Gumbel noise, descending; the first
 * k are a sample without replacement from softmax(conf / alg_temp) (torch.multinomial
 * without replacement). keys[n] scratch. */
void um_dec_sample_order(const double *conf, int n, double alg_temp, um_rng *rng, double *keys,
                         int32_t *order, int32_t *tmp);

#endif /* UM_DECODE_IMPL_H */

/*
 * dream.c: the Dream timestep schedule, as `_sample` of DreamGenerationMixin in
 * generation_utils.py of Dream-org/Dream-v0-Base-7B / -Instruct-7B (HKUNLP/Dream; Ye et al.
 * 2025, "Dream 7B").
 *
 * timesteps = torch.linspace(1, eps, steps + 1) in float32; step i goes from t = timesteps[i]
 * to s = timesteps[i + 1]. Every mask of the canvas (prompt included) is a candidate. Dream
 * models predict the token at position i from the output row i - 1 (row 0 for position 0);
 * um_dec_fetch_logits applies that shift when the model declares shift_logits.
 *   origin:        each mask is revealed with probability 1 - s / t (1 on the last step) and
 *                  its token drawn with sample_tokens.
 *   maskgit_plus, topk_margin, entropy:
 *                  sample_tokens proposes x0 and a confidence for every mask; the number to
 *                  commit is int(n_masked * (1 - s / t)) in float32 (all remaining on the last
 *                  step); commit the most confident (ties by lower position), or with
 *                  alg_temp > 0 a sample without replacement from softmax(confidence / alg_temp).
 * Entropy confidence is sum p log(p + 1e-10), the NEGATIVE entropy: higher means more certain,
 * so the most peaked distributions are committed first.
 *
 * Extensions beyond the reference (off by default): cfg and logits_eos_inf act on the logits
 * exactly as in the LLaDA schedule, and confidence_eos_eot_inf gives EOS/EoT proposals
 * confidence -inf (committed last).
 * Steps that commit nothing (count 0, or no mask revealed) skip the model call: the reference
 * runs the model and discards the result.
 */
#include "decode/decode-impl.h"

#include <math.h>

/* torch.linspace(start, end, n) in float32 as computed by the PyTorch the oracle tests use
 * (Debian python3-torch 1.13.1, CPU kernel dispatched at AVX2). linspace_kernel in
 * aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp takes step = (end - start) / (n - 1) in
 * float32 and halfway = n / 2, and element i = start + step * i below halfway, else
 * end - step * (n - 1 - i). The 1.13 build (model fitted to its output and checked): each such
 * scalar is one fused multiply-add (GCC contracts under -mfma); the loop is vectorised, runs
 * of 16 elements being two 8-lane Vectorized<float>::arange(base, step) with lane k =
 * base + k * step (two roundings) and base the scalar formula at the vector's first index
 * (which also picks the branch); the n mod 16 tail is scalar. This reproduces all 337,400
 * values checked (steps 1..299, 511, 512, 1000, 1024; eps 1e-6 .. 0.999). Newer PyTorch
 * (scalar loop only, "precision issue") and CUDA use the scalar formula everywhere and differ
 * in the last bit for some elements; the transfer counts int(n * (1 - s / t)) agreed in every
 * case we compared. */
static float linspace_scalar(float start, float end, float step, int n, int half, int i) {
    return i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - 1 - i), end);
}

void um_dec_linspace_f32(float start, float end, int n, float *out) {
    if (n == 1) {
        out[0] = start;
        return;
    }
    const int lanes = 8;
    float step = (end - start) / (float)(n - 1);
    int half = n / 2, i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) /* two vectors per iteration */
        for (int v = i; v < i + 2 * lanes; v += lanes) {
            float base = linspace_scalar(start, end, step, n, half, v);
            for (int k = 0; k < lanes; k++) {
                volatile float ks = (float)k * step; /* no contraction into an FMA */
                out[v + k] = base + ks;
            }
        }
    for (; i < n; i++)
        out[i] = linspace_scalar(start, end, step, n, half, i);
}

int um_dec_dream_count(int n_masked, float t, float s, bool last) {
    if (last) return n_masked;
    float ratio = 1.0f - s / t;           /* (1 - s / t): float32 tensor arithmetic */
    float want = (float)n_masked * ratio; /* num_mask_token is a float32 tensor */
    int k = (int)want;                    /* int() truncates toward zero */
    if (k < 0) k = 0;
    if (k > n_masked) k = n_masked;
    return k;
}


static enum um_status dream_step(struct um_dec_state *st, int i) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const int V = m->n_vocab;
    const bool last = i == p->steps - 1;
    const float t = st->timesteps[i], s = st->timesteps[i + 1];

    int n = 0;
    for (int j = 0; j < st->n_canvas; j++)
        if (st->canvas[j] == m->mask_id) st->pos[n++] = j;
    if (n == 0) return UM_OK;

    if (p->alg == UM_ALG_ORIGIN) {
        float p_transfer = last ? 1.0f : 1.0f - s / t;
        int nr = 0;
        for (int c = 0; c < n; c++)
            if (um_rng_uniform(&st->rng_reveal) < (double)p_transfer) st->pos[nr++] = st->pos[c];
        if (nr == 0) return UM_OK;
        enum um_status e = um_dec_fetch_logits(st, st->pos, nr);
        if (e != UM_OK) return e;
        for (int c = 0; c < nr; c++) {
            double conf;
            const float *l = st->logits + (size_t)st->row_of[c] * (size_t)V;
            st->x0[c] = um_dec_sample_row(st, l, &conf);
        }
        for (int c = 0; c < nr; c++)
            st->canvas[st->pos[c]] = st->x0[c];
        return UM_OK;
    }

    int k = um_dec_dream_count(n, t, s, last);
    if (k == 0) return UM_OK;
    enum um_status e = um_dec_fetch_logits(st, st->pos, n);
    if (e != UM_OK) return e;
    for (int c = 0; c < n; c++) {
        const float *l = st->logits + (size_t)st->row_of[c] * (size_t)V;
        st->x0[c] = um_dec_sample_row(st, l, &st->conf[c]);
        if (p->confidence_eos_eot_inf && um_dec_is_stop(m, st->x0[c])) st->conf[c] = -INFINITY;
    }
    if (p->alg_temp > 0)
        um_dec_sample_order(st->conf, n, p->alg_temp, &st->rng_select, st->keys, st->order,
                            st->order_tmp);
    else
        um_dec_sort_by_conf(st->conf, n, st->order, st->order_tmp);
    for (int j = 0; j < k; j++) {
        int c = st->order[j];
        st->canvas[st->pos[c]] = st->x0[c];
    }
    return UM_OK;
}

enum um_status um_dec_dream_run(struct um_dec_state *st) {
    um_dec_linspace_f32(1.0f, (float)st->p->eps, st->p->steps + 1, st->timesteps);
    for (int i = 0; i < st->p->steps; i++) {
        enum um_status s = dream_step(st, i);
        if (s != UM_OK) return s;
        s = um_dec_progress(st);
        if (s != UM_OK) return s;
    }
    return UM_OK;
}

/* Fast-dLLM's block loop for Dream, `_sample` of NVlabs Fast-dLLM dream/model/
 * generation_utils_block.py (Wu et al. 2025, arXiv 2505.22618), used when a cache or a
 * threshold is asked for. The generation is cut into gen_length / block_length blocks:
 *   1. a full forward (refreshing every cached K/V); the block's first position takes the
 *      argmax of the row before it, unconditionally;
 *   2. then, until the block has no mask: forward the canvas (cache none, an extension: the
 *      published loop always caches), [block start, T) (prefix) or the block (dual) over keys
 *      [0, T); with a threshold commit every masked position whose top-1 probability reaches
 *      it, always the most confident (as LLaDA's rule); without one, the Dream schedule per
 *      block: steps / n_blocks steps, timesteps linspace(1, eps, spb + 1), step i = 1, 2, ...
 *      commits int(n_masked * (1 - t[i+1] / t[i])) (all on step spb - 1) ranked by negative
 *      entropy (the published loop ranks by it whatever the alg).
 * The published loop shifts the logits inside a window (its first row reads itself); that
 * row belongs to the block's first position, which step 1 already filled, so the usual shift
 * (position p reads row p - 1) gives the same rows. */
enum um_status um_dec_dream_fast_run(struct um_dec_state *st) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const int V = m->n_vocab;
    const int n_blocks = p->gen_length / p->block_length;
    const int spb = p->steps / n_blocks;
    const bool thr = p->threshold > 0;
    if (!thr) um_dec_linspace_f32(1.0f, (float)p->eps, spb + 1, st->timesteps);

    for (int b = 0; b < n_blocks; b++) {
        const int start = st->n_prompt + b * p->block_length, end = start + p->block_length;
        /* 1. refresh and the block's first token */
        st->pos[0] = start;
        enum um_status s = um_dec_fetch_logits(st, st->pos, 1);
        if (s != UM_OK) return s;
        double c0;
        const float *l0 = st->logits + (size_t)st->row_of[0] * (size_t)V;
        st->canvas[start] = p->temperature > 0 ? um_dec_sample_row(st, l0, &c0)
                                               : um_dec_argmax(l0, V);
        s = um_dec_progress(st);
        if (s != UM_OK) return s;
        /* 2. the rest of the block */
        for (int i = 1;; i++) {
            int n = 0;
            for (int j = start; j < end; j++)
                if (st->canvas[j] == m->mask_id) st->pos[n++] = j;
            if (n == 0) break;
            if (!thr && i >= spb) break; /* the schedule ended (cannot happen: last takes all) */
            um_dec_set_window(st, start, end);
            s = um_dec_fetch_logits(st, st->pos, n);
            st->win = false;
            if (s != UM_OK) return s;
            for (int c = 0; c < n; c++) {
                const float *l = st->logits + (size_t)st->row_of[c] * (size_t)V;
                if (p->temperature > 0)
                    st->x0[c] = um_dec_sample_row(st, l, &st->conf[c]);
                else
                    st->x0[c] = um_dec_argmax(l, V);
                if (!thr) { /* negative entropy of the row, one exp per entry */
                    double mx = l[st->x0[c]], z = 0, e = 0;
                    for (int v = 0; v < V; v++) z += st->vprob[v] = exp((double)l[v] - mx);
                    for (int v = 0; v < V; v++) {
                        double q = st->vprob[v] / z;
                        e += q * log(q + 1e-10);
                    }
                    st->conf[c] = e;
                } else if (p->temperature <= 0) {
                    st->conf[c] = um_dec_softmax_prob(l, V, st->x0[c], -1, -1);
                }
            }
            um_dec_sort_by_conf(st->conf, n, st->order, st->order_tmp);
            int k = thr ? um_dec_parallel_count(st->conf, st->order, n, p->threshold, 0)
                        : um_dec_dream_count(n, st->timesteps[i], st->timesteps[i + 1],
                                             i == spb - 1);
            for (int j = 0; j < k; j++)
                st->canvas[st->pos[st->order[j]]] = st->x0[st->order[j]];
            s = um_dec_progress(st);
            if (s != UM_OK) return s;
        }
        if (p->early_stop && um_dec_cut_at_stop(st, st->n_canvas, um_dec_stop_fill(m))) break;
    }
    return UM_OK;
}

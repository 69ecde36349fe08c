/*
 * blockdiff.c: the generation loops of the block-diffusion models, whose attention is
 * block-causal (a key is visible iff its block is not after the query's block, blocks of
 * block_size absolute positions). Finished blocks never change and never see later ones, so
 * their K/V can be cached exactly: with cache = block a step computes only the current block
 * over keys [0, block end) and the output equals the cache-free path (cache = none, which
 * recomputes every position before the block end) token for token.
 *
 * SDAR, JetAstra/SDAR generate.py `block_diffusion_generate` (Cheng et al. 2025,
 * arXiv 2510.06303):
 *   - the canvas is ceil((prompt + gen_length) / B) whole blocks; the prompt's whole blocks are
 *     prefilled (K/V stored), the partial last prompt block is decoded with the first new
 *     tokens;
 *   - per block up to `steps` denoising steps, counts[s] = B / steps (+1 for the first
 *     B % steps steps); a step samples every masked position of the block (temperature, top-k,
 *     top-p; greedy at temperature 0) and commits:
 *       low_confidence_static: the counts[s] most confident;
 *       low_confidence_dynamic (threshold > 0): every one with confidence > threshold if they
 *       are at least counts[s], else the counts[s] most confident;
 *   - a block without masks is forwarded once more to store its K/V; generation stops after a
 *     block once the generation holds EOS (or EoT).
 *   Deviation: when counts[s] exceeds the block's remaining masks the reference's torch.topk
 *   also picks unmasked positions (confidence -inf) and overwrites them with their proposals;
 *   we commit only masked positions.
 *
 * Fast-dLLM v2, the `generate` of Efficient-Large-Model/Fast_dLLM_v2_7B modeling.py (Wu et al.
 * 2025, arXiv 2509.26328), without its approximate sub-block cache (use_block_cache=False):
 *   - a prompt longer than B has its whole blocks prefilled; if its length is a multiple of B
 *     the last logit row gives the first new token (AR). Deviation: a prompt of exactly B
 *     tokens is not prefilled by the reference, which then forwards the first block without
 *     any cache: the model never sees the prompt and later blocks get positions shifted by B.
 *     We treat it like every other multiple of B (prefill, AR token);
 *   - each of gen_length / B blocks: pad the sequence with masks to the next block boundary
 *     (a whole block when already on one) and decode the block's sub-blocks left to right;
 *     each step forwards the block and reads position i's logits from row i - 1 (token shift;
 *     the block's first position reads its own row), samples every position of the sub-block,
 *     and commits the masked ones with probability > threshold plus always the most probable;
 *   - a finished block is forwarded to store its K/V and its last row gives the next block's
 *     first token (AR);
 *   - the stop token (eos_id) ends generation once nothing before it in the current block is
 *     masked; the output is cut after it.
 */
#include "decode/decode-impl.h"

#include <math.h>

/* Logits of canvas rows rows[n] (absolute, inside the block [b0, b1)), keys [0, b1): the block
 * alone with the exact cache, else every position up to the block end. */
static enum um_status bd_forward(struct um_dec_state *st, int b0, int b1, const int32_t *rows,
                                 int n) {
    const struct um_decode_model *m = st->m;
    enum um_status s =
        st->p->cache == UM_CACHE_BLOCK
            ? m->window(m->user, st->canvas, b0, b1, b1, rows, n, st->logits)
            : m->logits(m->user, st->canvas, b1, rows, n, st->logits);
    if (s == UM_OK) st->n_forwards++;
    return s;
}

/* Store the K/V of the finished blocks [b0, b1): a finished block, or the prompt's whole
 * blocks (cache = block only; the cache-free path recomputes them at every step). */
static enum um_status bd_store(struct um_dec_state *st, int b0, int b1) {
    if (st->p->cache != UM_CACHE_BLOCK) return UM_OK;
    return bd_forward(st, b0, b1, NULL, 0);
}

/* x0 and confidence of one logits row: greedy argmax with its softmax probability (float64) at
 * temperature 0, else the Dream-style sampler (temperature, top-p, top-k). */
static int32_t bd_sample(struct um_dec_state *st, const float *l, double *conf) {
    if (st->p->temperature > 0) return um_dec_sample_row(st, l, conf);
    int32_t x0 = um_dec_argmax(l, st->m->n_vocab);
    *conf = um_dec_softmax_prob(l, st->m->n_vocab, x0, -1, -1);
    return x0;
}

/* First stop token in [from, to), or -1. */
static int find_stop(const struct um_dec_state *st, int from, int to) {
    for (int j = from; j < to; j++)
        if (um_dec_is_stop(st->m, st->canvas[j])) return j;
    return -1;
}

enum um_status um_dec_sdar_run(struct um_dec_state *st) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const int B = m->block_size, L0 = st->n_prompt;
    const int n_blocks = st->canvas_cap / B;
    st->n_canvas = st->canvas_cap;
    um_dec_llada_counts(B, p->steps, st->counts);

    const int first = L0 / B;
    enum um_status s = first > 0 ? bd_store(st, 0, first * B) : UM_OK;
    if (s != UM_OK) return s;
    for (int b = first; b < n_blocks; b++) {
        const int b0 = b * B, b1 = b0 + B;
        for (int step = 0; step <= p->steps; step++) {
            int n = 0;
            for (int j = b0; j < b1; j++)
                if (st->canvas[j] == m->mask_id) st->pos[n++] = j;
            if (n == 0) {
                s = bd_store(st, b0, b1);
                if (s != UM_OK) return s;
                break;
            }
            if (step == p->steps) break; /* cannot happen: the counts sum to B */
            s = bd_forward(st, b0, b1, st->pos, n);
            if (s != UM_OK) return s;
            for (int c = 0; c < n; c++)
                st->x0[c] = bd_sample(st, st->logits + (size_t)c * (size_t)m->n_vocab,
                                      &st->conf[c]);
            um_dec_sort_by_conf(st->conf, n, st->order, st->order_tmp);
            int k = st->counts[step];
            if (p->threshold > 0) {
                int high = 0;
                for (int c = 0; c < n; c++)
                    high += st->conf[c] > p->threshold;
                if (high >= k) k = high; /* exactly the ones above: the first `high` in order */
            }
            if (k > n) k = n;
            for (int j = 0; j < k; j++)
                st->canvas[st->pos[st->order[j]]] = st->x0[st->order[j]];
            s = um_dec_progress(st);
            if (s != UM_OK) return s;
        }
        if (find_stop(st, L0, b1) >= 0) break;
    }
    /* generated tokens: up to and including the first stop token (every block before it is
     * complete), after it EOS; n_out stays gen_length without one */
    um_dec_cut_at_stop(st, L0 + p->gen_length, um_dec_stop_fill(m));
    return UM_OK;
}

/* The reference's stop test inside a block: a stop token among the block's new tokens
 * [from, len) with no mask between `from` and it. */
static bool fd2_stopped(const struct um_dec_state *st, int from, int len) {
    int j = find_stop(st, from, len);
    if (j < 0) return false;
    for (int i = from; i < j; i++)
        if (st->canvas[i] == st->m->mask_id) return false;
    return true;
}

/* Forward the block [b0, b1) and append the argmax of its last row (the AR token). */
static enum um_status fd2_ar_token(struct um_dec_state *st, int b0, int b1, int *len) {
    const int32_t row = b1 - 1;
    enum um_status s = bd_forward(st, b0, b1, &row, 1);
    if (s != UM_OK) return s;
    st->canvas[(*len)++] = um_dec_argmax(st->logits, st->m->n_vocab);
    return UM_OK;
}

enum um_status um_dec_fastdllm2_run(struct um_dec_state *st) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const int B = m->block_size, L0 = st->n_prompt;
    const int sb = p->sub_block > 0 ? p->sub_block : 8;
    const double thr = p->threshold > 0 ? p->threshold : 0.9;
    const int n_blocks = p->gen_length / B;
    const size_t V = (size_t)m->n_vocab;
    int len = L0;
    enum um_status s;

    if (L0 >= B) { /* prefill the prompt's whole blocks */
        int pre = L0 / B * B;
        s = L0 % B == 0 ? fd2_ar_token(st, 0, pre, &len) : bd_store(st, 0, pre);
        if (s != UM_OK) return s;
    }
    for (int blk = 0; blk < n_blocks; blk++) {
        if (find_stop(st, L0, len) >= 0) break;
        const int pl = len;                 /* the block's new tokens start here */
        const int pad = B - pl % B;
        for (int j = 0; j < pad; j++)
            st->canvas[len++] = m->mask_id;
        const int b0 = len - B, b1 = len;
        st->n_canvas = len;
        bool done = false;
        while (!done) {
            if (fd2_stopped(st, pl, len)) break;
            int n_mask = 0;
            for (int j = b0; j < b1; j++)
                n_mask += st->canvas[j] == m->mask_id;
            if (n_mask == 0) {
                s = fd2_ar_token(st, b0, b1, &len);
                if (s != UM_OK) return s;
                st->n_canvas = len;
                break;
            }
            for (int s0 = b0; s0 < b1 && !done; s0 += sb) {
                const int s1 = s0 + sb;
                for (;;) {
                    int n = 0;
                    for (int j = s0; j < s1; j++)
                        n += st->canvas[j] == m->mask_id;
                    if (n == 0) break;
                    if (fd2_stopped(st, pl, len)) {
                        done = true;
                        break;
                    }
                    /* rows: position i reads row i - 1, the block's first position its own */
                    int nr = 0;
                    for (int j = s0; j < s1; j++) {
                        int32_t r = j > b0 ? j - 1 : b0;
                        if (nr == 0 || st->rows[nr - 1] != r) st->rows[nr++] = r;
                        st->row_of[j - s0] = nr - 1;
                    }
                    s = bd_forward(st, b0, b1, st->rows, nr);
                    if (s != UM_OK) return s;
                    /* commit the masked positions above the threshold and the most probable */
                    int best = -1;
                    double best_c = -INFINITY;
                    for (int j = s0; j < s1; j++) {
                        const int c = j - s0;
                        st->conf[c] = -INFINITY;
                        if (st->canvas[j] != m->mask_id) continue;
                        st->x0[c] = bd_sample(st, st->logits + (size_t)st->row_of[c] * V,
                                              &st->conf[c]);
                        if (st->conf[c] > best_c) {
                            best_c = st->conf[c];
                            best = c;
                        }
                    }
                    for (int j = s0; j < s1; j++) {
                        const int c = j - s0;
                        if (st->canvas[j] == m->mask_id && (c == best || st->conf[c] > thr))
                            st->canvas[j] = st->x0[c];
                    }
                    s = um_dec_progress(st);
                    if (s != UM_OK) return s;
                }
            }
        }
    }
    /* output: the tokens after the prompt, cut after the first stop token (nothing before it
     * is masked: a block ends complete or at fd2_stopped), padded with EOS */
    const int end = L0 + p->gen_length;
    const int32_t fill = m->eos_id >= 0 ? m->eos_id : m->mask_id;
    if (!um_dec_cut_at_stop(st, end, fill)) {
        const int n_gen = len - L0 < p->gen_length ? len - L0 : p->gen_length;
        for (int j = L0 + n_gen; j < end; j++)
            st->canvas[j] = fill;
        st->n_out = n_gen;
    }
    return UM_OK;
}

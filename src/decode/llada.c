/*
 * llada.c: the LLaDA block schedule, as `generate` in ML-GSAI/LLaDA generate.py (Nie et al.
 * 2025, "Large Language Diffusion Models"), including the later options logits_eos_inf and
 * confidence_eos_eot_inf of the same file.
 *
 * The canvas is prompt + gen_length masks, cut into gen_length / block_length blocks decoded
 * left to right with steps / n_blocks steps each. A block's step i commits counts[i] tokens,
 * counts from `get_num_transfer_tokens` over the block's masks. Each step:
 *   1. logits for the masked positions up to the end of the current block (the reference
 *      computes every row but gives positions after the block confidence -inf, so their
 *      proposals are never committed; we do not compute them). With cfg > 0 a second pass on
 *      the canvas with the prompt's tokens masked: un + (cfg + 1) * (cond - un).
 *   2. logits_eos_inf: the EOS logit becomes -inf (before sampling and before the softmax).
 *   3. x0 = argmax (temperature 0) or the Gumbel-max draw (temperature > 0).
 *   4. confidence: low_confidence = softmax probability of x0, random = U(0, 1). We compute the
 *      softmax in float64 (an earlier generate.py did too; the current one uses the logits'
 *      dtype, which only matters for near-ties).
 *      confidence_eos_eot_inf: -inf where x0 is EOS or EoT (see below).
 *   5. commit the counts[i] candidates of highest confidence, ties by lower position.
 *
 * confidence_eos_eot_inf. The reference line is
 *     logits_with_noise[:, :, EOS] = logits[:, :, EOT] = -inf
 * run AFTER x0 was taken, so it never changes x0. At temperature 0 add_gumbel_noise returns
 * `logits` itself, so both columns of `logits` become -inf: softmax is renormalised without
 * EOS and EoT, and a position whose x0 is EOS/EoT gets confidence 0, below every other
 * candidate of the block (but still committed when the count needs it). At temperature > 0 the
 * noised tensor is a float64 copy and only EoT's column is cleared, so x0 = EOS keeps a (raised)
 * confidence; with remasking='random' the line has no effect. The intent (the option's name)
 * is that EOS/EoT are not committed early. We do what the reference does at temperature 0 for
 * every temperature and both remasking rules: low_confidence renormalises without the EOS and
 * EoT columns, and a candidate whose x0 is EOS or EoT gets confidence -inf (ranked after all
 * others, lower position first, where torch.topk orders its equal zeros in an unspecified way).
 *
 * Counts larger than the finite candidates. The reference's EOS/EoT candidates have
 * confidence 0, so torch.topk reaches them before any -inf entry (positions after the block,
 * unmasked positions). Likewise our -inf candidates of the block are taken, lower position
 * first, when the count exceeds the others, so each block is complete after its steps as in
 * the reference. Positions after the block are never candidates.
 *
 * Prompt positions holding mask_id are candidates too (the reference's mask_index covers the
 * whole canvas), so a prompt with masks is infilled; those stay masked in the cfg pass.
 */
#include "decode/decode-impl.h"

#include <math.h>

void um_dec_llada_counts(int n_masked, int steps, int32_t *counts) {
    int base = n_masked / steps, rem = n_masked % steps;
    for (int i = 0; i < steps; i++)
        counts[i] = base + (i < rem ? 1 : 0);
}

/* Fast-dLLM get_transfer_index (threshold) and get_transfer_index_dynamic (factor), NVlabs
 * Fast-dLLM llada/generate.py (Wu et al. 2025, arXiv 2505.22618). Both see the masked positions
 * of the current block with their confidences sorted in descending order, c_1 >= c_2 >= ...:
 * - threshold: c_1 always, then every c_k >= threshold (the reference drops c_k < threshold);
 * - factor: thresholds t_1 = -1, t_n = 1 - factor / (n + 1); scan n = 1, 2, ... and stop at the
 *   first n with c_n < t_n; commit n - 1 of them, except that a stop at the last candidate (or
 *   no stop at all) commits every candidate, and one candidate is always committed (the
 *   reference's `if top_i == 0 or top_i == len(threshs) - 1: top_i += 1`). */
int um_dec_parallel_count(const double *conf, const int32_t *order, int n, double threshold,
                          double factor) {
    if (n <= 0) return 0;
    if (factor > 0) {
        int top_i = 0;
        for (top_i = 0; top_i < n; top_i++) {
            double th = top_i == 0 ? -1.0 : 1.0 - factor / (double)(top_i + 2);
            if (conf[order[top_i]] < th) break;
        }
        if (top_i == n) top_i = n - 1; /* the loop variable keeps its last value in Python */
        if (top_i == 0 || top_i == n - 1) top_i++;
        return top_i;
    }
    int k = 1;
    while (k < n && conf[order[k]] >= threshold) k++;
    return k;
}

/* One step of a block: candidates are the masked positions in [lo, end); commit k of them
 * (k < 0: the parallel rule of the params). Logits come through the state's window, if set. */
static enum um_status llada_step(struct um_dec_state *st, int lo, int end, int k) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const int V = m->n_vocab;

    int n = 0;
    for (int j = lo; j < end; j++)
        if (st->canvas[j] == m->mask_id) st->pos[n++] = j;
    if (n == 0 || k == 0) return UM_OK;

    /* confidence_eos_eot_inf: softmax without the EOS / EoT columns (see the file comment) */
    const int32_t ex_eos = p->confidence_eos_eot_inf ? m->eos_id : -1;
    const int32_t ex_eot = p->confidence_eos_eot_inf ? m->eot_id : -1;
    /* One request normally. Only a committed mask_id (a model proposing the mask token) leaves
     * more candidates than the buffer holds; then the rows come in chunks. */
    for (int c0 = 0; c0 < n; c0 += st->r_max) {
        int nc = n - c0 < st->r_max ? n - c0 : st->r_max;
        enum um_status s = um_dec_fetch_logits(st, st->pos + c0, nc);
        if (s != UM_OK) return s;
        for (int c = c0; c < c0 + nc; c++) {
            const float *l = st->logits + (size_t)st->row_of[c - c0] * (size_t)V;
            const int j = st->pos[c];
            const bool scored = p->score_target && j >= st->n_prompt;
            int32_t x0 = scored                ? p->score_target[j - st->n_prompt]
                         : p->temperature > 0 ? um_dec_gumbel_argmax(l, V, p->temperature,
                                                                     &st->rng_tokens)
                                              : um_dec_argmax(l, V);
            st->logp[c] = scored ? log(um_dec_softmax_prob(l, V, x0, -1, -1)) : 0.0;
            double conf = p->remasking == UM_REMASK_RANDOM
                              ? um_rng_uniform(&st->rng_remask)
                              : um_dec_softmax_prob(l, V, x0, ex_eos, ex_eot);
            if (p->confidence_eos_eot_inf && um_dec_is_stop(m, x0)) conf = -INFINITY;
            st->x0[c] = x0;
            st->conf[c] = conf;
        }
    }
    um_dec_sort_by_conf(st->conf, n, st->order, st->order_tmp);
    if (k < 0) k = um_dec_parallel_count(st->conf, st->order, n, p->threshold, p->factor);
    if (k > n) k = n;
    for (int j = 0; j < k; j++) {
        int c = st->order[j];
        st->canvas[st->pos[c]] = st->x0[c];
        st->nll -= st->logp[c];
    }
    return UM_OK;
}

static int count_masks(const struct um_dec_state *st, int a, int b) {
    int n = 0;
    for (int j = a; j < b; j++)
        n += st->canvas[j] == st->m->mask_id;
    return n;
}

bool um_dec_cut_at_stop(struct um_dec_state *st, int end, int32_t fill) {
    const struct um_decode_model *m = st->m;
    for (int j = st->n_prompt; j < end; j++) {
        int32_t t = st->canvas[j];
        if (t == m->mask_id) return false;
        if (um_dec_is_stop(m, t)) {
            for (int i = j + 1; i < end; i++)
                st->canvas[i] = fill;
            st->n_out = j + 1 - st->n_prompt;
            return true;
        }
    }
    return false;
}

/* The LLaDA block schedule, and Fast-dLLM's generate / generate_with_prefix_cache /
 * generate_with_dual_cache around it:
 * - fixed counts (no threshold or factor): steps / n_blocks steps per block with LLaDA's
 *   counts; parallel rules: steps until the block has no mask left;
 * - cache none: every step forwards the canvas; candidates are the masks before the block end
 *   (prompt masks included, as in generate.py);
 * - prefix / dual: the block's first step forwards the whole canvas (refreshing every K/V) and
 *   commits from it; later steps forward [block start, T) (prefix) or the block alone (dual)
 *   over keys [0, T), reading the rest from the cache; candidates are the block's masks. */
enum um_status um_dec_llada_run(struct um_dec_state *st) {
    const struct um_gen_params *p = st->p;
    const int n_blocks = p->gen_length / p->block_length;
    const int spb = p->steps / n_blocks; /* steps per block */
    const bool parallel = p->threshold > 0 || p->factor > 0;
    const bool cached = p->cache == UM_CACHE_PREFIX || p->cache == UM_CACHE_DUAL;

    for (int b = 0; b < n_blocks; b++) {
        int start = st->n_prompt + b * p->block_length, end = start + p->block_length;
        if (!parallel) um_dec_llada_counts(count_masks(st, start, end), spb, st->counts);
        for (int i = 0;; i++) {
            if (!parallel && i == spb) break;
            if ((parallel || cached) && (i > 0 || cached) && count_masks(st, start, end) == 0)
                break;
            if (i > 0) um_dec_set_window(st, start, end);
            enum um_status s =
                llada_step(st, cached && i > 0 ? start : 0, end, parallel ? -1 : st->counts[i]);
            st->win = false;
            if (s != UM_OK) return s;
            s = um_dec_progress(st);
            if (s != UM_OK) return s;
        }
        if (p->early_stop && um_dec_cut_at_stop(st, st->n_canvas, um_dec_stop_fill(st->m)))
            break;
    }
    return UM_OK;
}

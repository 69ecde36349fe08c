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

/* One step of a block ending (exclusive) at canvas position `end`: propose and commit k. */
static enum um_status llada_step(struct um_dec_state *st, int end, int k) {
    const struct um_decode_model *m = st->m;
    const struct um_gen_params *p = st->p;
    const int V = m->n_vocab;

    int n = 0;
    for (int j = 0; j < end; j++)
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
            int32_t x0 = p->temperature > 0
                             ? um_dec_gumbel_argmax(l, V, p->temperature, &st->rng_tokens)
                             : um_dec_argmax(l, V);
            double conf = p->remasking == UM_REMASK_RANDOM
                              ? um_rng_uniform(&st->rng_remask)
                              : um_dec_softmax_prob(l, V, x0, ex_eos, ex_eot);
            if (p->confidence_eos_eot_inf &&
                ((m->eos_id >= 0 && x0 == m->eos_id) || (m->eot_id >= 0 && x0 == m->eot_id)))
                conf = -INFINITY;
            st->x0[c] = x0;
            st->conf[c] = conf;
        }
    }
    um_dec_sort_by_conf(st->conf, n, st->order, st->order_tmp);
    if (k > n) k = n;
    for (int j = 0; j < k; j++) {
        int c = st->order[j];
        st->canvas[st->pos[c]] = st->x0[c];
    }
    return UM_OK;
}

enum um_status um_dec_llada_run(struct um_dec_state *st) {
    const struct um_gen_params *p = st->p;
    const int32_t mask = st->m->mask_id;
    const int n_blocks = p->gen_length / p->block_length;
    const int spb = p->steps / n_blocks; /* steps per block */

    for (int b = 0; b < n_blocks; b++) {
        int start = st->n_prompt + b * p->block_length, end = start + p->block_length;
        int n_masked = 0;
        for (int j = start; j < end; j++)
            n_masked += st->canvas[j] == mask;
        um_dec_llada_counts(n_masked, spb, st->counts);
        for (int i = 0; i < spb; i++) {
            enum um_status s = llada_step(st, end, st->counts[i]);
            if (s != UM_OK) return s;
            s = um_dec_progress(st);
            if (s != UM_OK) return s;
        }
    }
    return UM_OK;
}

/*
 * objective.h: diffusion training objectives as batch transforms. Each takes clean token rows
 * and produces what um_tmodel_step consumes (tokens, positions, targets, weights, norm, attention
 * structure). Private to the library.
 *
 *   MDM  masked-diffusion pre-training (LLaDA, arXiv 2502.09992; MDLM, arXiv 2406.07524):
 *        one t ~ U(0,1) per sequence, mask probability p = (1-eps) t + eps, masked positions
 *        weighted 1/p, loss normalised by all positions B*T.
 *   SFT  LLaDA SFT: the prompt is never masked; response positions (including EOS padding) are
 *        masked with p as above; each sequence's sum is divided by its response length, then
 *        averaged over the batch (weights 1/(p*len_b), norm B).
 *   BD3  block diffusion, BD3-LM vectorised training (Arriola et al., arXiv 2503.09573): the
 *        model sees [x_t ; x_0] (2T tokens, shared positions) under the BD3 attention mask; one
 *        t per (sequence, block), p = t clipped to [eps, 1], weight 1/p, loss on the noisy half
 *        only, normalised by B*T.
 *   AR   next-token prediction with a causal mask (baseline).
 * Families with a logit shift (Dream) predict token i at row i-1: the target and weight of a
 * masked position i move to row i-1, and position 0 is never masked.
 *
 * Randomness: all draws come from the um_rng passed in, in a fixed order (per sequence: t, then
 * the mask of each position left to right), so a step is reproducible from its seed.
 */
#ifndef UM_OBJECTIVE_H
#define UM_OBJECTIVE_H

#include "base/base.h"
#include "train/tmodel.h"

enum um_objective { UM_OBJ_MDM = 0, UM_OBJ_SFT, UM_OBJ_BD3, UM_OBJ_AR };

struct um_obj_batch {
    int B, T;               /* T: tokens per row fed to the model (2L for BD3) */
    int32_t *tokens;        /* [B][T] */
    int32_t *pos;           /* [B][T] */
    int32_t *targets;       /* [B][T] */
    float *weights;         /* [B][T] */
    double norm;
    struct um_attn_spec attn;
    int64_t n_masked;       /* positions with a loss term */
};

struct um_obj_params {
    enum um_objective kind;
    int32_t mask_id;
    double eps;             /* 1e-3 */
    int block_size;         /* BD3 */
    bool shift;             /* Dream-style logit shift */
    double fixed_t;         /* >= 0: use this t for every sequence/block (evaluation, tests) */
    /* Tests (PyTorch oracle): when set, t and the mask are taken from here instead of being
     * drawn: forced_t[B] (BD3: [B][L/block_size]) and forced_mask[B][L] (1 = masked). */
    const double *forced_t;
    const uint8_t *forced_mask;
};

/* Buffers for up to B x (2*L) tokens, allocated once. */
enum um_status um_obj_batch_alloc(struct um_obj_batch *b, int max_b, int max_l);
void um_obj_batch_free(struct um_obj_batch *b);

/* Build the model batch from clean rows x0[B][L] (prompt_len[B] for SFT, else NULL). */
enum um_status um_obj_build(const struct um_obj_params *p, const int32_t *x0,
                            const int32_t *prompt_len, int B, int L, um_rng *rng,
                            struct um_obj_batch *out);

#endif

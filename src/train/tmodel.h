/*
 * tmodel.h: a trainable transformer of the LLaDA / Dream / Llama / Qwen2 families in fp32:
 * master weights, gradients, the activations a backward pass needs, and writing the result as a
 * Hugging Face folder the inference engine loads. Private to the library.
 *
 * One call runs forward (and optionally backward) over a batch of B sequences of T tokens with a
 * given attention structure, and a per-position cross-entropy target and weight:
 *
 *   loss = sum_{b,i} weight[b][i] * CE(logits[b][i], target[b][i]) / norm
 *
 * Positions with weight 0 need no logits (the LM head and the loss run only on weighted rows).
 * Objectives (masked diffusion, SFT, block diffusion, AR) are expressed by the caller through
 * tokens, positions, targets, weights, norm and the attention structure; Dream's logit shift is
 * the caller's choice of target row (row i-1 predicts token i).
 *
 * Memory: every buffer is sized at init for B_max x T_max tokens; um_tmodel_step allocates
 * nothing. Attention is flash attention (kernels/flash_attn.h): only the row log-sum-exp is kept
 * for the backward, so memory is linear in T (max_seq is still capped at 1024 in tmodel.c
 * until a test expectation changes). Threads: OpenMP inside; call from one thread; the
 * thread count (um_set_threads) must not grow after init (attention scratch is sized for it;
 * a step with more threads fails with UM_ERR_ARG).
 */
#ifndef UM_TMODEL_H
#define UM_TMODEL_H

#include "optim/optim.h"
#include "unmask.h"

enum um_attn_kind {
    UM_ATTN_FULL = 0,      /* bidirectional */
    UM_ATTN_CAUSAL,        /* key j visible to query i iff j <= i */
    UM_ATTN_BLOCK_CAUSAL,  /* iff block(j) <= block(i), block = pos / block_size */
    UM_ATTN_BD3,           /* BD3-LM vectorised training: the sequence is [x_t (T/2) ; x_0 (T/2)]
                              with shared positions; noisy i sees noisy j of the same block and
                              clean j of earlier blocks; clean i sees clean j with
                              block(j) <= block(i) (Arriola et al., ICLR 2025, arXiv 2503.09573) */
};

struct um_attn_spec {
    enum um_attn_kind kind;
    int block_size;        /* BLOCK_CAUSAL and BD3 */
};

/* One trainable tensor, named as in the Hugging Face layout of the family. */
struct um_tparam {
    char name[96];
    enum um_param_kind kind;
    int n_dims;            /* 1 or 2 */
    int64_t shape[2];      /* [rows][cols] (nn.Linear: [out][in]); 1-D: shape[1] = 1 */
    int64_t offset;        /* into the weight and gradient arrays */
};

typedef struct um_tmodel um_tmodel;

/* Random init (seeded, Philox): matrices ~ N(0, init_std^2) (init_std 0.02 by default),
 * norm gains 1, biases 0. `info` gives the family and sizes (n_vocab, n_embd, n_layer, n_head,
 * n_head_kv, head_dim, n_ff, rope_theta, norm_eps, qkv_bias, tied_embeddings, ...). */
enum um_status um_tmodel_init(const struct um_model_info *info, int max_batch, int max_seq,
                              uint64_t seed, float init_std, um_tmodel **out);
/* Start from a loaded model's weights (widened to fp32). */
enum um_status um_tmodel_from_model(const um_model *m, int max_batch, int max_seq,
                                    um_tmodel **out);
void um_tmodel_free(um_tmodel *tm);

const struct um_model_info *um_tmodel_info(const um_tmodel *tm);
int um_tmodel_n_tensors(const um_tmodel *tm);
const struct um_tparam *um_tmodel_tensor(const um_tmodel *tm, int i);
int64_t um_tmodel_n_params(const um_tmodel *tm);
float *um_tmodel_weights(um_tmodel *tm);   /* [n_params] */
float *um_tmodel_grads(um_tmodel *tm);     /* [n_params] */
void um_tmodel_zero_grads(um_tmodel *tm);

/* tokens/pos/targets/weights: [B][T]. Gradients are ACCUMULATED (+=) when backward is true,
 * so gradient accumulation over micro-batches is repeated calls. *loss receives the batch loss
 * (already divided by norm). Targets of weight-0 positions are ignored (may be -1). */
enum um_status um_tmodel_step(um_tmodel *tm, const int32_t *tokens, const int32_t *pos,
                              const int32_t *targets, const float *weights, int B, int T,
                              const struct um_attn_spec *attn, double norm, bool backward,
                              double *loss);

/* Write DIR/config.json (the family's real field names, as um_model_load reads them) and
 * DIR/model.safetensors in `dtype` (f32 or bf16), atomically (temp + rename). If `tokenizer`
 * is a path, it is copied to DIR/tokenizer.json. */
enum um_status um_tmodel_save(const um_tmodel *tm, const char *dir, enum um_dtype dtype,
                              const char *tokenizer);

#endif

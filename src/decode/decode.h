/*
 * decode.h: generation algorithms over an abstract logits provider, so they can be tested
 * with hand-made logits. um_generate (public) wraps um_forward into this interface.
 * Private to the library.
 */
#ifndef UM_DECODE_H
#define UM_DECODE_H

#include "unmask.h"

/* Logits provider: run the model on tokens[T] and write raw logits[R][V] for rows[R]. */
typedef enum um_status (*um_logits_fn)(void *user, const int32_t *tokens, int n_tokens,
                                       const int32_t *rows, int n_rows, float *logits);

/* Window provider (KV cache): compute positions [q0, q1) of tokens, attending to keys
 * [0, n_keys) of which those outside the window come from the cache (um_forward_window). */
typedef enum um_status (*um_window_fn)(void *user, const int32_t *tokens, int q0, int q1,
                                       int n_keys, const int32_t *rows, int n_rows,
                                       float *logits);

/* Which sampler family: the full-attention references (LLaDA block schedule / Dream timestep
 * schedule, chosen by params->alg) or a block-diffusion model's own loop. */
enum um_dec_algo { UM_DEC_ALGO_MDM = 0, UM_DEC_ALGO_SDAR, UM_DEC_ALGO_FASTDLLM2 };

struct um_decode_model {
    um_logits_fn logits;
    um_window_fn window; /* NULL: no KV cache, only cache = none */
    void *user;
    enum um_dec_algo algo;
    int32_t block_size;  /* SDAR / Fast-dLLM v2 attention block */
    int32_t n_vocab;     /* V */
    int32_t mask_id;
    int32_t eos_id;      /* -1 if none */
    int32_t eot_id;      /* -1 if none */
    bool shift_logits;   /* Dream: token at i is predicted from row i-1 (row 0 for i = 0) */
};

/* Canvas positions the generation needs (see um_gen_context_tokens). */
int um_decode_canvas_tokens(const struct um_decode_model *m, int n_prompt,
                            const struct um_gen_params *p);

/* Generate into out[gen_length] as um_generate does. Validates params (gen_length > 0,
 * steps > 0, block/steps divisibility, ranges) with messages naming the option. */
enum um_status um_decode_run(const struct um_decode_model *m, const int32_t *prompt,
                             int n_prompt, const struct um_gen_params *p, int32_t *out);
/* The same, also returning the generated-token count and forward count in *stats (NULL ok). */
enum um_status um_decode_run_stats(const struct um_decode_model *m, const int32_t *prompt,
                                   int n_prompt, const struct um_gen_params *p, int32_t *out,
                                   struct um_gen_stats *stats);

#endif

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

struct um_decode_model {
    um_logits_fn logits;
    void *user;
    int32_t n_vocab;     /* V */
    int32_t mask_id;
    int32_t eos_id;      /* -1 if none */
    int32_t eot_id;      /* -1 if none */
    bool shift_logits;   /* Dream: token at i is predicted from row i-1 (row 0 for i = 0) */
};

/* Generate into out[gen_length] as um_generate does. Validates params (gen_length > 0,
 * steps > 0, block/steps divisibility, ranges) with messages naming the option. */
enum um_status um_decode_run(const struct um_decode_model *m, const int32_t *prompt,
                             int n_prompt, const struct um_gen_params *p, int32_t *out);

#endif

/*
 * tmodel-impl.h: private extras of the trainable model (tmodel.h) for the trainer and tests.
 */
#ifndef UM_TMODEL_IMPL_H
#define UM_TMODEL_IMPL_H

#include "train/tmodel.h"

/* Index of the tensor with this Hugging Face name, or -1. */
int um_tmodel_find(const um_tmodel *tm, const char *name);

/* Scan weights, then gradients, for NaN/Inf. UM_OK when all are finite; otherwise UM_ERR_ARG
 * with the message "non-finite weight in tensor NAME" or "non-finite gradient in tensor NAME"
 * and *bad_tensor (if not NULL) set to NAME (borrowed, lives as long as tm). The trainer calls
 * it after the backward of the last micro-batch and before the optimiser step. */
enum um_status um_tmodel_check_finite(const um_tmodel *tm, const char **bad_tensor);

/* Forward only, logits of every row: logits[B*T][V] for the batch (same arithmetic as
 * um_tmodel_step; V = info.n_vocab). Validation as um_tmodel_step. Allocates nothing. */
enum um_status um_tmodel_logits(um_tmodel *tm, const int32_t *tokens, const int32_t *pos, int B,
                                int T, const struct um_attn_spec *attn, float *logits);

/* Rows per chunk of the head + loss (default: as many as fit HEAD_CHUNK_FLOATS logits, at most
 * B_max*T_max). Tests lower it to exercise chunking; values are clamped to [1, default]. */
void um_tmodel_set_head_chunk(um_tmodel *tm, int64_t rows);

#endif

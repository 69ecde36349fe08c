/*
 * ops_bwd.h: the training-side ops (fp32): forward variants that keep what the backward needs,
 * and the backward of every op of the transformer block but attention (flash_attn.h). Private
 * to the library.
 *
 * Shapes: N rows (= B*T tokens), B sequences of T tokens, D hidden, H/Hkv heads, Dh head dim,
 * F feed-forward, V vocabulary, R selected rows. Row-major throughout; q is [N][H*Dh] with head
 * h at columns h*Dh.., k/v are [N][Hkv*Dh]; query head h reads key/value head h / (H/Hkv).
 *
 * Conventions: a `d*` argument documented "+=" is accumulated into (the caller zeroes it),
 * otherwise it is overwritten. Ops parallelise with OpenMP (um_get_threads()). Call them
 * from one thread. Nothing here allocates.
 *
 * These loops are the scalar references themselves (plain C, no intrinsics); tests check each
 * backward against finite differences of a double-precision forward.
 */
#ifndef UM_OPS_BWD_H
#define UM_OPS_BWD_H

#include <stdbool.h>
#include <stdint.h>

/* Attention masks (values equal enum um_attn_kind of train/tmodel.h). Within one sequence of
 * T tokens, with blk(i) = i / bs (the index in the sequence, not the RoPE position):
 *   FULL          every key
 *   CAUSAL        j <= i
 *   BLOCK_CAUSAL  blk(j) <= blk(i)
 *   BD3           T = 2n: [x_t (n) ; x_0 (n)]; with blk of the index inside its half,
 *                 noisy i < n sees noisy j < n with blk(j) == blk(i) and clean j >= n with
 *                 blk(j-n) < blk(i); clean i >= n sees clean j >= n with blk(j-n) <= blk(i-n).
 * Every query sees at least itself, so no softmax row is empty. */
enum um_mask_kind { UM_MASK_FULL = 0, UM_MASK_CAUSAL, UM_MASK_BLOCK_CAUSAL, UM_MASK_BD3 };

/* The keys query i may see form at most two half-open ranges [r[0], r[1]), [r[2], r[3]);
 * returns how many (1 or 2). bs >= 1; for BD3, t is even. */
int um_mask_ranges(int kind, int bs, int64_t t, int64_t i, int64_t r[4]);
/* 1 if key j is visible to query i (the same rule, one element). */
int um_mask_visible(int kind, int bs, int64_t t, int64_t i, int64_t j);

/* y[N][D] = x * r * w with r[N] = 1/sqrt(mean(x^2) + eps) saved (same arithmetic as
 * um_rmsnorm). */
void um_rmsnorm_fwd(float *y, float *r, const float *x, const float *w, int64_t n, int64_t d,
                    float eps);
/* Backward of um_rmsnorm_fwd given dy[N][D]:
 *   dx += r * (dy*w) - x * r^3 * mean((dy*w) * x)      (dx may be NULL: skipped)
 *   dw += sum_rows dy * x * r                          (dw may be NULL: skipped) */
void um_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *r,
                    const float *w, int64_t n, int64_t d);

/* Backward of um_rope (in place on dx[N][n_heads*Dh]): the transpose rotation,
 * (da, db) -> (da c + db s, db c - da s) per rotate-half pair. */
void um_rope_bwd(float *dx, int64_t n, int n_heads, int dh, const int32_t *pos,
                 const float *cos_t, const float *sin_t);

/* Attention forward and backward: kernels/flash_attn.h (um_flash_fwd, um_flash_bwd). */

/* a = silu(g) * u backward: dg = da * u * silu'(g), du = da * silu(g) (n elements). */
void um_swiglu_bwd(float *dg, float *du, const float *da, const float *g, const float *u,
                   int64_t n);

/* Softmax cross-entropy over rows of logits[R][V] with targets[R] in [0, V) and weights w[R]:
 * returns sum_r w[r] * (logsumexp(logits[r]) - logits[r][targets[r]]) (double accumulation).
 * If backward, logits is overwritten with its gradient scaled by `scale`:
 *   dlogits[r][j] = scale * w[r] * (softmax(logits[r])[j] - [j == targets[r]]). */
double um_softmax_ce(float *logits, const int32_t *targets, const float *w, int64_t r,
                     int64_t v, double scale, bool backward);

/* Embedding backward: dE[tokens[i]][:] += dx[i][:] for i < n (scatter-add; repeated ids
 * accumulate). */
void um_embed_bwd(float *de, const float *dx, const int32_t *tokens, int64_t n, int64_t d);

/* Bias gradient: db[C] += sum_rows dy[N][C]. */
void um_colsum_acc(float *db, const float *dy, int64_t n, int64_t c);


#endif

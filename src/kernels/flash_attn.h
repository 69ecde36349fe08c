/*
 * flash_attn.h: masked multi-head attention in fp32 without a T x T matrix, forward and
 * backward, after FlashAttention-2 (T. Dao, "FlashAttention-2: Faster Attention with Better
 * Parallelism and Work Partitioning", 2023, arXiv 2307.08691). Private to the library.
 *
 * Shapes: B sequences; per sequence tq queries and tk keys; H query heads, Hkv key/value heads
 * (H % Hkv == 0; query head h reads kv head h / (H/Hkv)), Dh head dim. Row-major: q and out are
 * [B*tq][H*Dh] with head h at columns h*Dh, k and v are [B*tk][Hkv*Dh]; sequence b starts at
 * row b*tq (queries) and b*tk (keys). Query row i of a sequence sits at key position q0 + i and
 * sees key j iff um_mask_visible(kind, bs, tk, q0 + i, j) (ops_bwd.h: FULL, CAUSAL,
 * BLOCK_CAUSAL, BD3). Scores are scaled by 1/sqrt(Dh); softmax in natural exp.
 *
 * Contract (checked by callers, not here): b, tq, tk >= 1, q0 >= 0, q0 + tq <= tk < 2^31,
 * h, hkv, dh >= 1, h % hkv == 0, bs >= 1, tk even for BD3. Every query then sees at least
 * itself, so no softmax row is empty.
 *
 * Memory: nothing allocates; all working memory is the caller's `scratch`, sized by the
 * *_scratch_floats functions for the thread count um_get_threads() returns at sizing time. The
 * kernels use um_get_threads() threads, so that count must not grow between sizing and the call.
 * Working memory is O(threads * (tile * Dh + tk)): no tq x tk matrix is formed.
 *
 * Threads: OpenMP inside (num_threads(um_get_threads())); call from one thread. Outputs are
 * written by exactly one thread each (no atomics, no reductions across threads), so results do
 * not depend on the thread count.
 *
 * Implementations: a scalar reference (flash_attn.c, one full score row per query, double
 * accumulation), AVX2+FMA (flash_attn_avx2.c) and AVX-512 (flash_attn_avx512.c), the last two
 * from one tiled template (flash_attn_tmpl.inc). um_flash_fwd / um_flash_bwd pick AVX-512 when
 * the CPU has it, else AVX2+FMA, else the reference; the environment variable
 * UM_FLASH_ISA=scalar|avx2|avx512 forces one (a request for an ISA the CPU lacks is ignored).
 */
#ifndef UM_FLASH_ATTN_H
#define UM_FLASH_ATTN_H

#include <stddef.h>
#include <stdint.h>

/* Tile sizes shared by the implementations (scratch is sized for the largest). */
#define UM_FLASH_QT_MAX 32 /* query rows per tile (AVX-512: 32, AVX2: 16) */
#define UM_FLASH_KT 64     /* keys per tile */

enum um_flash_isa { UM_FLASH_SCALAR = 0, UM_FLASH_AVX2, UM_FLASH_AVX512 };

/* Backward work partition (um_flash_bwd_isa). AUTO picks by the number of (sequence, kv head)
 * pairs against the thread count. */
enum um_flash_bwd_mode {
    UM_FLASH_BWD_AUTO = 0,
    UM_FLASH_BWD_BY_HEAD,  /* one task per (sequence, kv head): dK, dV and dQ in one sweep */
    UM_FLASH_BWD_BY_TILE,  /* tasks per (sequence, kv head, key tile) for dK/dV, then per
                              (sequence, head, query tile) for dQ (recomputes S and dP) */
};

/* Forward: out[B*tq][H*Dh] = softmax(q k^T / sqrt(Dh), masked) v; lse (NULL: not written)
 * [B][H][tq] = log sum_j exp(score_ij) over visible j (natural log). scratch holds
 * um_flash_scratch_floats(tq, tk, h, hkv, dh) floats (for all threads). */
size_t um_flash_scratch_floats(int64_t tq, int64_t tk, int h, int hkv, int dh);
void um_flash_fwd(float *out, float *lse, const float *q, const float *k, const float *v,
                  int64_t b, int64_t tq, int64_t q0, int64_t tk, int h, int hkv, int dh,
                  int kind, int bs, float *scratch);

/* Backward (training: tq == tk == t, q0 == 0). Given out and lse of the forward and
 * dout[B*t][H*Dh], overwrites dq[B*t][H*Dh], dk and dv[B*t][Hkv*Dh] (GQA: summed over the
 * query heads of a group). With D_i = rowsum(dout_i * out_i), P = exp(S - lse):
 *   dV = P^T dO;  dP = dO V^T;  dS = P (dP - D);  dQ = dS K / sqrt(Dh);  dK = dS^T Q / sqrt(Dh).
 * scratch holds um_flash_bwd_scratch_floats(t, h, hkv, dh) floats. */
size_t um_flash_bwd_scratch_floats(int64_t t, int h, int hkv, int dh);
void um_flash_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out,
                  const float *lse, const float *q, const float *k, const float *v, int64_t b,
                  int64_t t, int h, int hkv, int dh, int kind, int bs, float *scratch);

/* Scalar references, same contracts (lse is required by the backward). The forward keeps one
 * score row per thread; the backward runs one task per (sequence, kv head). Used by tests and
 * as the fallback on CPUs without AVX2+FMA. */
void um_flash_fwd_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                      int64_t b, int64_t tq, int64_t q0, int64_t tk, int h, int hkv, int dh,
                      int kind, int bs, float *scratch);
void um_flash_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out,
                      const float *lse, const float *q, const float *k, const float *v,
                      int64_t b, int64_t t, int h, int hkv, int dh, int kind, int bs,
                      float *scratch);

/* ---- Dispatch (for tests and benchmarks). */

/* 1 when this CPU runs `isa` (enum um_flash_isa). */
int um_flash_isa_available(int isa);
/* The ISA um_flash_fwd/bwd use now: UM_FLASH_ISA if set and available, else the best. */
int um_flash_isa(void);
const char *um_flash_isa_name(int isa);
/* The same kernels with the ISA (and, backward, the work partition) chosen by the caller; an
 * unavailable ISA falls back as um_flash_isa() does. */
void um_flash_fwd_isa(int isa, float *out, float *lse, const float *q, const float *k,
                      const float *v, int64_t b, int64_t tq, int64_t q0, int64_t tk, int h,
                      int hkv, int dh, int kind, int bs, float *scratch);
void um_flash_bwd_isa(int isa, int mode, float *dq, float *dk, float *dv, const float *dout,
                      const float *out, const float *lse, const float *q, const float *k,
                      const float *v, int64_t b, int64_t t, int h, int hkv, int dh, int kind,
                      int bs, float *scratch);

/* ---- Internal: shared by the implementations (flash_attn.c). */

/* Floats of scratch one thread uses (every implementation fits in it). */
size_t um_flash_thread_floats(int64_t tq, int64_t tk, int dh);
/* Visible key ranges of the query rows p0 .. p0+nq-1 (key positions) of one tile of qt lanes,
 * as four int32 arrays of qt lanes: rg = lo0[qt] hi0[qt] lo1[qt] hi1[qt], row r seeing keys
 * [lo0, hi0) and [lo1, hi1); lanes r >= nq get empty ranges. *jlo, *jhi bound the union. */
void um_flash_tile_ranges(int32_t *rg, int qt, int kind, int bs, int64_t tk, int64_t p0, int nq,
                          int64_t *jlo, int64_t *jhi);
/* 1 when some row of the tile sees some key in [j0, j1). */
int um_flash_tile_visible(const int32_t *rg, int qt, int nq, int64_t j0, int64_t j1);
/* The backward partition AUTO resolves to for b*hkv tasks on nth threads. */
int um_flash_bwd_auto_mode(int64_t b, int hkv, int nth);

/* SIMD versions (only call when um_flash_isa_available says so). */
void um_flash_fwd_avx512(float *out, float *lse, const float *q, const float *k, const float *v,
                         int64_t b, int64_t tq, int64_t q0, int64_t tk, int h, int hkv, int dh,
                         int kind, int bs, float *scratch);
void um_flash_bwd_avx512(int mode, float *dq, float *dk, float *dv, const float *dout,
                         const float *out, const float *lse, const float *q, const float *k,
                         const float *v, int64_t b, int64_t t, int h, int hkv, int dh, int kind,
                         int bs, float *scratch);
void um_flash_fwd_avx2(float *out, float *lse, const float *q, const float *k, const float *v,
                       int64_t b, int64_t tq, int64_t q0, int64_t tk, int h, int hkv, int dh,
                       int kind, int bs, float *scratch);
void um_flash_bwd_avx2(int mode, float *dq, float *dk, float *dv, const float *dout,
                       const float *out, const float *lse, const float *q, const float *k,
                       const float *v, int64_t b, int64_t t, int h, int hkv, int dh, int kind,
                       int bs, float *scratch);

#endif /* UM_FLASH_ATTN_H */

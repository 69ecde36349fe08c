/*
 * gemm_avx512.c: AVX-512 microkernels for um_matmul (y[M][N] = x[M][K] . W[N][K]^T + bias),
 * tested against um_matmul_ref (tests/test_gemm.c). Compiled with -mavx512f/bw/vl/dq/bf16,
 * -mfma -mf16c; called only when gemm.c's cpuid check passed.
 *
 * Two paths:
 *
 * - Tiles (M > SMALL_M). The output is computed in NR x MR tiles (NR = 14 rows of W by MR = 32
 *   rows of x) held transposed in 28 zmm accumulators: lanes run along M, so the x operand is
 *   a vector and the W operand a broadcast scalar. That needs x packed k-major per 32-row tile,
 *   xp[k][32] (small: it is reused across all of N), while W is only copied row by row into an
 *   L1-sized per-thread buffer wb[NR][KC] (widened to fp32, or rounded to bf16): no transpose
 *   of the big operand. K is blocked by KC so the packed x block stays in L2; each tile is
 *   added to y (transposing it) once per K block.
 *     FP32: acc[i][h] += xp[k][16h..16h+15] * wb[i][k]        (vfmadd231ps, broadcast)
 *     BF16: acc[i][h] += dot of bf16 pairs: xp holds (x[m][2p], x[m][2p+1]) pairs, k-major by
 *           pair, and wb[i][2p..2p+1] is broadcast as one 32-bit word (vdpbf16ps).
 * - Dot products (M <= SMALL_M, decode-sized): lanes run along K; each W row is loaded once per
 *   group of 4 rows of x and widened (or, in BF16, rounded with vcvtne2ps2bf16) on the fly;
 *   horizontal sums at the end. This path is bound by the bandwidth of reading W.
 *
 * Threads: one OpenMP region per call; W rows (tiles) are split evenly among threads, or the
 * rows of x when N has fewer tiles than threads. Packing buffers: xp lives in the caller
 * thread's scratch (um_gemm_scratch), wb on each thread's stack.
 *
 * Numerics: FP32 sums products of exact fp32 values; BF16 rounds x and W to bf16 (RNE; the
 * hardware conversions flush denormal inputs to zero, as vdpbf16ps does) and accumulates in
 * fp32. Only summation order differs from the reference.
 */
#include "kernels/gemm-impl.h"

#include "base/base.h"

#include <immintrin.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define NR 14 /* W rows per tile */
#define MR 32 /* x rows per tile (2 zmm) */
#ifndef KC
#define KC 512 /* K block (even) */
#endif
#ifndef XP_BLOCK_BYTES
#define XP_BLOCK_BYTES (512 << 10) /* packed x per M block: half of Zen 4's 1 MiB L2 */
#endif
#ifndef PF
#define PF 8 /* prefetch distance in k steps (x tile) */
#endif
#ifndef SMALL_M
#define SMALL_M UM_GEMM_SMALL_M /* at or below: dot-product path */
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static size_t dtype_size(enum um_dtype dt) { return dt == UM_DTYPE_F32 ? 4 : 2; }

/* Row n of W, as a byte pointer. */
static const char *w_row(const um_wmat *w, int64_t n) {
    return (const char *)w->data + (size_t)n * (size_t)w->k * dtype_size(w->dtype);
}

/* ---------------------------------------------------------------------------------------
 * Conversions of up to 16 elements (mask selects them; others read as 0). */

ALWAYS_INLINE __m512 load16_f32(enum um_dtype dt, const void *p, __mmask16 mk) {
    switch (dt) {
    case UM_DTYPE_F32: return _mm512_maskz_loadu_ps(mk, p);
    case UM_DTYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, p));
    case UM_DTYPE_BF16:
    default:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, p)), 16));
    }
}

/* Masks of the first n lanes (n may be <= 0 or past the end). */
static __mmask16 mask16(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}
static __mmask32 mask32(int64_t n) {
    return n >= 32 ? (__mmask32)0xffffffffu : n <= 0 ? 0 : (__mmask32)((1u << n) - 1);
}

/* dst[0..n) = W row elements [off, off+n) widened to fp32. */
static void widen_f32(enum um_dtype dt, const char *row, int64_t off, int n, float *dst) {
    const size_t es = dtype_size(dt);
    for (int k = 0; k < n; k += 16) {
        __mmask16 mk = mask16(n - k);
        _mm512_mask_storeu_ps(dst + k, mk, load16_f32(dt, row + (size_t)(off + k) * es, mk));
    }
}

/* 32 fp32 values (lo: first 16) rounded to bf16, RNE. */
ALWAYS_INLINE __m512i round2_bf16(__m512 lo, __m512 hi) {
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* dst[0..n) = W row elements [off, off+n) as bf16 (rounded RNE if not bf16 already). */
static void to_bf16(enum um_dtype dt, const char *row, int64_t off, int n, uint16_t *dst) {
    if (dt == UM_DTYPE_BF16) {
        memcpy(dst, (const uint16_t *)row + off, (size_t)n * 2);
        return;
    }
    const size_t es = dtype_size(dt);
    for (int k = 0; k < n; k += 32) {
        __m512 lo = load16_f32(dt, row + (size_t)(off + k) * es, mask16(n - k));
        __m512 hi = load16_f32(dt, row + (size_t)(off + k + 16) * es, mask16(n - k - 16));
        _mm512_mask_storeu_epi16(dst + k, mask32(n - k), round2_bf16(lo, hi));
    }
}

void um_gemm_widen_row_avx512(enum um_dtype dtype, const void *row, int64_t off, int64_t n,
                              float *out) {
    for (int64_t k = 0; k < n; k += 1 << 20) {
        const int c = (int)(n - k < (1 << 20) ? n - k : (1 << 20));
        widen_f32(dtype, row, off + k, c, out + k);
    }
}

void um_gemm_bf16_row_avx512(enum um_dtype dtype, const void *row, int64_t off, int64_t n,
                             uint16_t *out) {
    for (int64_t k = 0; k < n; k += 1 << 20) {
        const int c = (int)(n - k < (1 << 20) ? n - k : (1 << 20));
        to_bf16(dtype, row, off + k, c, out + k);
    }
}

/* ---------------------------------------------------------------------------------------
 * Packing x for the tiles. */

/* FP32: xp[k][j] = x[m0 + j][k0 + k] for k < kc, j < MR; rows j >= mv are 0. */
static void pack_x_f32(const float *x, int64_t k_in, int64_t m0, int mv, int64_t k0, int kc,
                       float *xp) {
    for (int j = 0; j < mv; j++) {
        const float *xr = x + (m0 + j) * k_in + k0;
        for (int k = 0; k < kc; k++) xp[k * MR + j] = xr[k];
    }
    for (int j = mv; j < MR; j++)
        for (int k = 0; k < kc; k++) xp[k * MR + j] = 0.0f;
}

/* BF16: xp32[p][j] = bf16 pair (x[m0+j][k0+2p], x[m0+j][k0+2p+1]) as a 32-bit word, for
 * p < ceil(kc/2); the missing odd element and rows j >= mv are 0. */
static void pack_x_bf16(const float *x, int64_t k_in, int64_t m0, int mv, int64_t k0, int kc,
                        uint32_t *xp) {
    const int np = (kc + 1) / 2;
    uint32_t tmp[16];
    for (int j = 0; j < mv; j++) {
        const float *xr = x + (m0 + j) * k_in + k0;
        for (int k = 0; k < kc; k += 32) {
            __m512 lo = _mm512_maskz_loadu_ps(mask16(kc - k), xr + k);
            __m512 hi = kc - k > 16 ? _mm512_maskz_loadu_ps(mask16(kc - k - 16), xr + k + 16)
                                    : _mm512_setzero_ps();
            _mm512_storeu_si512(tmp, round2_bf16(lo, hi));
            const int p0 = k / 2, pn = np - p0 < 16 ? np - p0 : 16;
            for (int p = 0; p < pn; p++) xp[(p0 + p) * MR + j] = tmp[p];
        }
    }
    for (int j = mv; j < MR; j++)
        for (int p = 0; p < np; p++) xp[p * MR + j] = 0;
}

/* ---------------------------------------------------------------------------------------
 * Microkernels: a full NR x MR tile over kc (FP32) or np pairs (BF16); tmp[i][j] receives the
 * sum for W row i and x row j. */

static void tile_f32(int kc, const float *restrict xp, const float *restrict wb,
                     float *restrict tmp) {
    __m512 c0[NR], c1[NR];
#pragma GCC unroll 14
    for (int i = 0; i < NR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 a0 = _mm512_load_ps(xp + k * MR), a1 = _mm512_load_ps(xp + k * MR + 16);
        _mm_prefetch((const char *)(xp + (k + PF) * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(xp + (k + PF) * MR + 16), _MM_HINT_T0);
#pragma GCC unroll 14
        for (int i = 0; i < NR; i++) {
            const __m512 b = _mm512_set1_ps(wb[i * KC + k]);
            c0[i] = _mm512_fmadd_ps(a0, b, c0[i]);
            c1[i] = _mm512_fmadd_ps(a1, b, c1[i]);
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < NR; i++) {
        _mm512_store_ps(tmp + i * MR, c0[i]);
        _mm512_store_ps(tmp + i * MR + 16, c1[i]);
    }
}

static void tile_bf16(int np, const uint32_t *restrict xp, const uint16_t *restrict wb,
                      float *restrict tmp) {
    __m512 c0[NR], c1[NR];
#pragma GCC unroll 14
    for (int i = 0; i < NR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < np; p++) {
        const __m512bh a0 = (__m512bh)_mm512_load_si512(xp + p * MR);
        const __m512bh a1 = (__m512bh)_mm512_load_si512(xp + p * MR + 16);
        _mm_prefetch((const char *)(xp + (p + PF) * MR), _MM_HINT_T0);
        _mm_prefetch((const char *)(xp + (p + PF) * MR + 16), _MM_HINT_T0);
#pragma GCC unroll 14
        for (int i = 0; i < NR; i++) {
            uint32_t pair;
            memcpy(&pair, wb + i * KC + 2 * p, 4);
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)pair);
            c0[i] = _mm512_dpbf16_ps(c0[i], a0, b);
            c1[i] = _mm512_dpbf16_ps(c1[i], a1, b);
        }
    }
#pragma GCC unroll 14
    for (int i = 0; i < NR; i++) {
        _mm512_store_ps(tmp + i * MR, c0[i]);
        _mm512_store_ps(tmp + i * MR + 16, c1[i]);
    }
}

/* In-register transpose of a 16x16 float block: on return r[j] holds old column j. */
ALWAYS_INLINE __m512 unpacklo_pd_ps(__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}
ALWAYS_INLINE __m512 unpackhi_pd_ps(__m512 a, __m512 b) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
}
ALWAYS_INLINE void transpose16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) { /* per 128-bit lane l: rows 2i, 2i+1 at columns 4l.. */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* r[4i + c], lane l: rows 4i..4i+3 at column 4l + c */
        r[4 * i + 0] = unpacklo_pd_ps(t[4 * i + 0], t[4 * i + 2]);
        r[4 * i + 1] = unpackhi_pd_ps(t[4 * i + 0], t[4 * i + 2]);
        r[4 * i + 2] = unpacklo_pd_ps(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = unpackhi_pd_ps(t[4 * i + 1], t[4 * i + 3]);
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) t[c] = r[c], t[4 + c] = r[4 + c], t[8 + c] = r[8 + c],
                                t[12 + c] = r[12 + c];
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) { /* gather lane l of the four row groups: column 4l + c */
        const __m512 a = _mm512_shuffle_f32x4(t[c], t[4 + c], 0x88);
        const __m512 b = _mm512_shuffle_f32x4(t[c], t[4 + c], 0xdd);
        const __m512 e = _mm512_shuffle_f32x4(t[8 + c], t[12 + c], 0x88);
        const __m512 d = _mm512_shuffle_f32x4(t[8 + c], t[12 + c], 0xdd);
        r[c] = _mm512_shuffle_f32x4(a, e, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(a, e, 0xdd);
        r[4 + c] = _mm512_shuffle_f32x4(b, d, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(b, d, 0xdd);
    }
}

/* y[m0 + j][n0 + i] (+)= tmp[i][j] for j < mv, i < nr; the first K block stores bias + sum.
 * Each 16-row half of the tile is transposed in registers, then added with masked stores. */
static void tile_update(const float *tmp, float *y, int64_t n_out, int64_t m0, int mv,
                        int64_t n0, int nr, int first, const float *bias) {
    const __mmask16 mk = mask16(nr);
    const __m512 b = first && bias ? _mm512_maskz_loadu_ps(mk, bias + n0) : _mm512_setzero_ps();
    for (int h = 0; h * 16 < mv; h++) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            r[i] = i < NR ? _mm512_load_ps(tmp + i * MR + 16 * h) : _mm512_setzero_ps();
        transpose16(r);
        const int jn = mv - 16 * h < 16 ? mv - 16 * h : 16;
        for (int j = 0; j < jn; j++) {
            float *yr = y + (m0 + 16 * h + j) * n_out + n0;
            const __m512 old = first ? b : _mm512_maskz_loadu_ps(mk, yr);
            _mm512_mask_storeu_ps(yr, mk, _mm512_add_ps(old, r[j]));
        }
    }
}

/* Copy rows [n0, n0+nr) x K blocks [kb0, kb1) of W into wb as kb1-kb0 consecutive blocks
 * [NR][KC] (fp32, or bf16 in BF16), row by row so W is read as one contiguous stream (the
 * rows of a tile are adjacent in memory); rows nr..NR-1 and, in BF16, an odd tail column are
 * zero. */
static void fill_wb(const um_wmat *w, int bf, int64_t n0, int nr, int64_t kb0, int64_t kb1,
                    void *wb) {
    const int64_t k_in = w->k;
    for (int i = 0; i < NR; i++) {
        const char *row = i < nr ? w_row(w, n0 + i) : NULL;
        for (int64_t kb = kb0; kb < kb1; kb++) {
            const int64_t k0 = kb * KC;
            const int kc = (int)(k_in - k0 < KC ? k_in - k0 : KC);
            const size_t off = (size_t)((kb - kb0) * NR + i) * KC;
            if (bf) {
                uint16_t *d = (uint16_t *)wb + off;
                if (row)
                    to_bf16(w->dtype, row, k0, kc, d);
                else
                    memset(d, 0, (size_t)kc * 2);
                if (kc & 1) d[kc] = 0;
            } else {
                float *d = (float *)wb + off;
                if (row)
                    widen_f32(w->dtype, row, k0, kc, d);
                else
                    memset(d, 0, (size_t)kc * 4);
            }
        }
    }
}

/* Blocking of the tile path for one call. Packed x tiles (MR rows x KC columns) are grouped
 * in windows of kw K blocks x all M tiles; while W passes by, the x tiles of one M block (mct
 * tiles) of the window are re-read for every W tile, so kw * mct tiles must fit in L2
 * (XP_BLOCK_BYTES). M is covered first (W is then read from memory once per M block), then K:
 * for small M whole rows of W are read contiguously across the K blocks of a window. */
typedef struct tile_plan {
    int64_t n_tiles, m_tiles, k_blocks;
    int64_t mct; /* x tiles per M block */
    int64_t kw;  /* K blocks per packing window */
    size_t xp_tile; /* elements (floats or bf16 pairs) per packed x tile */
} tile_plan;

static tile_plan plan_tiles(const um_wmat *w, int64_t m, int bf) {
    tile_plan p;
    p.n_tiles = (w->n + NR - 1) / NR;
    p.m_tiles = (m + MR - 1) / MR;
    p.k_blocks = (w->k + KC - 1) / KC;
    p.xp_tile = (size_t)MR * KC;
    int64_t budget = XP_BLOCK_BYTES / (int64_t)(MR * KC * (bf ? 2 : 4));
    if (budget < 1) budget = 1;
    p.mct = p.m_tiles < budget ? p.m_tiles : budget;
    p.kw = budget / p.mct;
    if (p.kw > p.k_blocks) p.kw = p.k_blocks;
    if (p.kw < 1) p.kw = 1;
    return p;
}

static void gemm_tiles(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                       int bf, const tile_plan *pl, void *xp_all, float *wb_all) {
    const int64_t n_out = w->n, k_in = w->k;
    const int64_t n_tiles = pl->n_tiles, m_tiles = pl->m_tiles, mct = pl->mct, kw = pl->kw;
    const size_t xp_tile = pl->xp_tile;
#pragma omp parallel num_threads(um_get_threads())
    {
        int t = 0, nth = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        nth = omp_get_num_threads();
#endif
        int64_t nt0 = 0, nt1 = n_tiles, mt0 = 0, mt1 = m_tiles;
        if (n_tiles >= nth) {
            nt0 = n_tiles * t / nth;
            nt1 = n_tiles * (t + 1) / nth;
        } else {
            mt0 = m_tiles * t / nth;
            mt1 = m_tiles * (t + 1) / nth;
        }
        float *wb = wb_all + (size_t)t * NR * KC * (size_t)kw;
        _Alignas(64) float tmp[NR * MR];
        for (int64_t kb0 = 0; kb0 < pl->k_blocks; kb0 += kw) {
            const int64_t kb1 = kb0 + kw < pl->k_blocks ? kb0 + kw : pl->k_blocks;
            if (kb0 > 0) {
#pragma omp barrier
            }
            /* Pack the window: tile (kb, mt) at ((kb - kb0) * m_tiles + mt) * xp_tile. */
            for (int64_t q = t; q < (kb1 - kb0) * m_tiles; q += nth) {
                const int64_t kb = kb0 + q / m_tiles, mt = q % m_tiles, k0 = kb * KC;
                const int kc = (int)(k_in - k0 < KC ? k_in - k0 : KC);
                const int mv = (int)(m - mt * MR < MR ? m - mt * MR : MR);
                if (bf)
                    pack_x_bf16(x, k_in, mt * MR, mv, k0, kc, (uint32_t *)xp_all + q * xp_tile);
                else
                    pack_x_f32(x, k_in, mt * MR, mv, k0, kc, (float *)xp_all + q * xp_tile);
            }
#pragma omp barrier
            for (int64_t mb = mt0; mb < mt1; mb += mct) {
                const int64_t mb1 = mb + mct < mt1 ? mb + mct : mt1;
                for (int64_t nt = nt0; nt < nt1; nt++) {
                    const int64_t n0 = nt * NR;
                    const int nr = (int)(n_out - n0 < NR ? n_out - n0 : NR);
                    fill_wb(w, bf, n0, nr, kb0, kb1, wb);
                    for (int64_t kb = kb0; kb < kb1; kb++) {
                        const int64_t k0 = kb * KC;
                        const int kc = (int)(k_in - k0 < KC ? k_in - k0 : KC);
                        const size_t wo = (size_t)(kb - kb0) * NR * KC; /* elements */
                        const void *wbk = bf ? (const void *)((const uint16_t *)wb + wo)
                                             : (const void *)(wb + wo);
                        const size_t q0 = (size_t)((kb - kb0) * m_tiles);
                        for (int64_t mt = mb; mt < mb1; mt++) {
                            const int mv = (int)(m - mt * MR < MR ? m - mt * MR : MR);
                            if (bf)
                                tile_bf16((kc + 1) / 2,
                                          (const uint32_t *)xp_all + (q0 + (size_t)mt) * xp_tile,
                                          (const uint16_t *)wbk, tmp);
                            else
                                tile_f32(kc, (const float *)xp_all + (q0 + (size_t)mt) * xp_tile,
                                         (const float *)wbk, tmp);
                            tile_update(tmp, y, n_out, mt * MR, mv, n0, nr, k0 == 0, bias);
                        }
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Dot-product path for small M. */

/* FP32: rows [n0, n0+NRD) of W against rows [m0, m0+MRD) of x; y gets bias + sums. */
ALWAYS_INLINE void dot_f32(const int MRD, const int NRD, const um_wmat *w, const float *x,
                           int64_t m0, int64_t n0, float *y, const float *bias) {
    const int64_t k_in = w->k, n_out = w->n;
    const enum um_dtype dt = w->dtype;
    const size_t es = dtype_size(dt);
    __m512 acc[4][4];
    const char *wr[4];
#pragma GCC unroll 4
    for (int r = 0; r < NRD; r++) wr[r] = w_row(w, n0 + r);
#pragma GCC unroll 4
    for (int i = 0; i < MRD; i++)
#pragma GCC unroll 4
        for (int r = 0; r < NRD; r++) acc[i][r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < k_in; k += 16) {
        const __mmask16 mk = mask16(k_in - k);
        __m512 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < NRD; r++) wv[r] = load16_f32(dt, wr[r] + (size_t)k * es, mk);
#pragma GCC unroll 4
        for (int i = 0; i < MRD; i++) {
            const __m512 xv = _mm512_maskz_loadu_ps(mk, x + (m0 + i) * k_in + k);
#pragma GCC unroll 4
            for (int r = 0; r < NRD; r++) acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MRD; i++)
#pragma GCC unroll 4
        for (int r = 0; r < NRD; r++)
            y[(m0 + i) * n_out + n0 + r] =
                _mm512_reduce_add_ps(acc[i][r]) + (bias ? bias[n0 + r] : 0.0f);
}

/* BF16: xb holds x rounded to bf16, rows of stride k_in. */
ALWAYS_INLINE void dot_bf16(const int MRD, const int NRD, const um_wmat *w, const uint16_t *xb,
                            int64_t m0, int64_t n0, float *y, const float *bias) {
    const int64_t k_in = w->k, n_out = w->n;
    const enum um_dtype dt = w->dtype;
    const size_t es = dtype_size(dt);
    __m512 acc[4][4];
    const char *wr[4];
#pragma GCC unroll 4
    for (int r = 0; r < NRD; r++) wr[r] = w_row(w, n0 + r);
#pragma GCC unroll 4
    for (int i = 0; i < MRD; i++)
#pragma GCC unroll 4
        for (int r = 0; r < NRD; r++) acc[i][r] = _mm512_setzero_ps();
    for (int64_t k = 0; k < k_in; k += 32) {
        const __mmask32 mk = mask32(k_in - k);
        __m512bh wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < NRD; r++) {
            if (dt == UM_DTYPE_BF16) {
                wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(mk, wr[r] + (size_t)k * 2);
            } else {
                const __mmask16 lo = (__mmask16)mk, hi = (__mmask16)(mk >> 16);
                wv[r] = _mm512_cvtne2ps_pbh(load16_f32(dt, wr[r] + (size_t)(k + 16) * es, hi),
                                            load16_f32(dt, wr[r] + (size_t)k * es, lo));
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < MRD; i++) {
            const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mk, xb + (m0 + i) * k_in + k);
#pragma GCC unroll 4
            for (int r = 0; r < NRD; r++) acc[i][r] = _mm512_dpbf16_ps(acc[i][r], xv, wv[r]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < MRD; i++)
#pragma GCC unroll 4
        for (int r = 0; r < NRD; r++)
            y[(m0 + i) * n_out + n0 + r] =
                _mm512_reduce_add_ps(acc[i][r]) + (bias ? bias[n0 + r] : 0.0f);
}

#define DOT_CASES(FN, XARG)                                                                    \
    switch (mr) {                                                                              \
    case 1: FN(1, nrd, w, XARG, m0, n0, y, bias); break;                                       \
    case 2: FN(2, nrd, w, XARG, m0, n0, y, bias); break;                                       \
    case 3: FN(3, nrd, w, XARG, m0, n0, y, bias); break;                                       \
    default: FN(4, nrd, w, XARG, m0, n0, y, bias); break;                                      \
    }

static void dot_rows4_f32(const um_wmat *w, const float *x, int mr, int64_t m0, int64_t n0,
                          float *y, const float *bias) {
    const int nrd = 4;
    DOT_CASES(dot_f32, x)
}
static void dot_rows1_f32(const um_wmat *w, const float *x, int mr, int64_t m0, int64_t n0,
                          float *y, const float *bias) {
    const int nrd = 1;
    DOT_CASES(dot_f32, x)
}
static void dot_rows4_bf16(const um_wmat *w, const uint16_t *xb, int mr, int64_t m0, int64_t n0,
                           float *y, const float *bias) {
    const int nrd = 4;
    DOT_CASES(dot_bf16, xb)
}
static void dot_rows1_bf16(const um_wmat *w, const uint16_t *xb, int mr, int64_t m0, int64_t n0,
                           float *y, const float *bias) {
    const int nrd = 1;
    DOT_CASES(dot_bf16, xb)
}

static void gemm_dot(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                     int bf, uint16_t *xb) {
    const int64_t n_out = w->n, k_in = w->k;
    if (bf) {
        /* Round x to bf16 once (RNE, hardware; rows of stride K). */
        for (int64_t i = 0; i < m; i++)
            for (int64_t k = 0; k < k_in; k += 32) {
                const int64_t r = k_in - k;
                __m512 lo = _mm512_maskz_loadu_ps(mask16(r), x + i * k_in + k);
                __m512 hi = r > 16 ? _mm512_maskz_loadu_ps(mask16(r - 16), x + i * k_in + k + 16)
                                   : _mm512_setzero_ps();
                _mm512_mask_storeu_epi16(xb + i * k_in + k, mask32(r), round2_bf16(lo, hi));
            }
    }
    const int64_t n_groups = (n_out + 3) / 4;
#pragma omp parallel for schedule(static) num_threads(um_get_threads())
    for (int64_t g = 0; g < n_groups; g++) {
        const int64_t n0 = g * 4;
        for (int64_t m0 = 0; m0 < m; m0 += 4) {
            const int mr = (int)(m - m0 < 4 ? m - m0 : 4);
            if (n0 + 4 <= n_out) {
                if (bf)
                    dot_rows4_bf16(w, xb, mr, m0, n0, y, bias);
                else
                    dot_rows4_f32(w, x, mr, m0, n0, y, bias);
            } else {
                for (int64_t n = n0; n < n_out; n++) {
                    if (bf)
                        dot_rows1_bf16(w, xb, mr, m0, n, y, bias);
                    else
                        dot_rows1_f32(w, x, mr, m0, n, y, bias);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Entry point. */

void um_gemm_avx512(const um_wmat *w, const float *x, int64_t m, float *y, const float *bias,
                    enum um_precision prec) {
    const int bf = prec == UM_PRECISION_BF16;
    if (m <= 0 || w->n <= 0) return;
    if (w->k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < w->n; j++) y[i * w->n + j] = bias ? bias[j] : 0.0f;
        return;
    }
    if (m <= SMALL_M) {
        uint16_t *xb = NULL;
        if (bf) {
            xb = um_gemm_scratch(0, (size_t)m * (size_t)w->k * 2);
            if (!xb) {
                um_gemm_portable(w, x, m, y, bias, prec);
                return;
            }
        }
        gemm_dot(w, x, m, y, bias, bf, xb);
        return;
    }
    const tile_plan pl = plan_tiles(w, m, bf);
    void *xp = um_gemm_scratch(0, (size_t)(pl.kw * pl.m_tiles) * pl.xp_tile * 4);
    float *wb = um_gemm_scratch(1, (size_t)um_get_threads() * NR * KC * (size_t)pl.kw * 4);
    if (!xp || !wb) {
        um_gemm_portable(w, x, m, y, bias, prec);
        return;
    }
    gemm_tiles(w, x, m, y, bias, bf, &pl, xp, wb);
}

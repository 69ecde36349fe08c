/*
 * flash_attn_avx512.c: AVX-512 flash attention (flash_attn.h), forward and backward: the tiled
 * template flash_attn_tmpl.inc over 16-float vectors, 32 query rows per tile (two vectors of
 * lanes). Lane masks are __mmask16 from integer compares of the key index against each row's
 * visible ranges. exp is the vectorised Taylor evaluation of attention_avx512.c (about 1 ulp).
 * Only call when um_cpu_has_avx512().
 */
#include "kernels/flash_attn.h"

#include "base/base.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;
#define VL 16
#define NV 2
#define FA_JB 6 /* scores: 6 keys x 2 vectors = 12 accumulators */
#define FA_EB 6 /* O^T += V^T P^T: 6 columns x 2 vectors */
#define FA_JR 3 /* dK/dV rows: 3 keys x 4 vectors of Dh */
#define FA_EV 4
#define FA_FN(name) um_flash_##name##_avx512

static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf x) { _mm512_storeu_ps(p, x); }
static inline __mmask16 first_n(int n) { return (__mmask16)((1u << n) - 1u); }
static inline vf vf_loadn(const float *p, int n) { return _mm512_maskz_loadu_ps(first_n(n), p); }
static inline void vf_storen(float *p, vf x, int n) { _mm512_mask_storeu_ps(p, first_n(n), x); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vi vi_load(const int32_t *p) { return _mm512_loadu_si512((const void *)p); }
static inline vi vi_set1(int32_t x) { return _mm512_set1_epi32(x); }
static inline vm vm_in(vi lo0, vi hi0, vi lo1, vi hi1, vi j) {
    const __mmask16 a = _mm512_mask_cmplt_epi32_mask(_mm512_cmple_epi32_mask(lo0, j), j, hi0);
    const __mmask16 b = _mm512_mask_cmplt_epi32_mask(_mm512_cmple_epi32_mask(lo1, j), j, hi1);
    return (vm)(a | b);
}
static inline vf vf_maskz(vm m, vf x) { return _mm512_maskz_mov_ps(m, x); }
static inline vf vf_mask_max(vf acc, vm m, vf x) { return _mm512_mask_max_ps(acc, m, acc, x); }

/* exp(x): x = n ln2 + r, |r| <= ln2/2 (ln2 in two parts), e^r by Taylor to r^7, times 2^n by
 * vscalefps. Clamped to [-87.5, 88] (below: about 0, as expf underflows). */
static inline vf vf_exp(vf x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.5f)), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

#include "kernels/flash_attn_tmpl.inc"

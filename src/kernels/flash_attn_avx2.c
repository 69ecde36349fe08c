/*
 * flash_attn_avx2.c: AVX2+FMA flash attention (flash_attn.h), forward and backward: the tiled
 * template flash_attn_tmpl.inc over 8-float vectors, 16 query rows per tile (two vectors of
 * lanes). Lane masks are all-ones vectors from integer compares; partial rows use
 * vmaskmovps. exp: Taylor to r^7 after an exact two-part ln2 reduction, 2^n built in the
 * exponent field (inputs clamped to [-87.3, 88.3] so n stays a normal exponent). Only call when
 * the CPU has AVX2 and FMA.
 */
#include "kernels/flash_attn.h"

#include "base/base.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm;
#define VL 8
#define NV 2
#define FA_JB 5 /* scores: 5 keys x 2 vectors = 10 accumulators (16 ymm registers) */
#define FA_EB 5
#define FA_JR 3 /* dK/dV rows: 3 keys x 3 vectors of Dh */
#define FA_EV 3
#define FA_FN(name) um_flash_##name##_avx2

static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf x) { _mm256_storeu_ps(p, x); }
static inline __m256i first_n(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vf_loadn(const float *p, int n) { return _mm256_maskload_ps(p, first_n(n)); }
static inline void vf_storen(float *p, vf x, int n) { _mm256_maskstore_ps(p, first_n(n), x); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vi vi_load(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline vi vi_set1(int32_t x) { return _mm256_set1_epi32(x); }
/* j in [lo, hi)  <=>  !(lo > j) && hi > j */
static inline vm vm_in(vi lo0, vi hi0, vi lo1, vi hi1, vi j) {
    const __m256i a = _mm256_andnot_si256(_mm256_cmpgt_epi32(lo0, j), _mm256_cmpgt_epi32(hi0, j));
    const __m256i b = _mm256_andnot_si256(_mm256_cmpgt_epi32(lo1, j), _mm256_cmpgt_epi32(hi1, j));
    return _mm256_castsi256_ps(_mm256_or_si256(a, b));
}
static inline vf vf_maskz(vm m, vf x) { return _mm256_and_ps(x, m); }
static inline vf vf_mask_max(vf acc, vm m, vf x) {
    return _mm256_max_ps(acc, _mm256_blendv_ps(acc, x, m));
}

static inline vf vf_exp(vf x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#include "kernels/flash_attn_tmpl.inc"

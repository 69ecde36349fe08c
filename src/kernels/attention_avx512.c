/*
 * attention_avx512.c: AVX-512 version of um_attention (ops.h), same contract as the scalar
 * reference um_attention_ref in ops.c.
 *
 * Layout: for each KV head g, K is transposed once into kt[g][Dh][T], so a block of QB queries
 * scores 16 keys per vector with broadcast-FMA (no horizontal sums). Softmax runs per row in
 * fp32; P.V accumulates rows of V (Dh floats, 16 per vector). Work is split over
 * (head, query block) pairs with OpenMP; each thread owns a QB x T score block. exp is a
 * vectorised Taylor evaluation accurate to about 1 ulp (exp16).
 */
#include "kernels/ops.h"

#include "base/base.h"

#include <immintrin.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define QB 8 /* queries per block */

/* exp(x) for 16 floats: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts for an exact
 * reduction), e^r by its Taylor series to r^7 (truncation < 6e-9 relative, below fp32's half
 * ulp), then scaled by 2^n with vscalefps. Inputs here are <= 0 (x - max); below -87.3 the
 * result underflows to 0 as expf does. */
static inline __m512 exp16(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.5f));
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

static inline __mmask16 tail_mask(int64_t n) {
    if (n <= 0) return 0;
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

void um_attention_avx512(float *out, const float *q, const float *k, const float *v, int64_t t,
                         int n_head, int n_head_kv, int dh, bool causal, float *scratch) {
    const int group = n_head / n_head_kv;
    const float scale = 1.0f / sqrtf((float)dh);
    const int64_t qs = (int64_t)n_head * dh, ks = (int64_t)n_head_kv * dh;
    float *kt = scratch; /* [Hkv][Dh][T] */
    float *sc_all = scratch + (int64_t)n_head_kv * dh * t;

#pragma omp parallel num_threads(um_get_threads())
    {
#pragma omp for schedule(static) collapse(2)
        for (int g = 0; g < n_head_kv; g++)
            for (int64_t j = 0; j < t; j++) {
                const float *kj = k + j * ks + (int64_t)g * dh;
                float *dst = kt + (int64_t)g * dh * t + j;
                for (int e = 0; e < dh; e++) dst[(int64_t)e * t] = kj[e];
            }
#ifdef _OPENMP
        float *sc = sc_all + (int64_t)omp_get_thread_num() * QB * t;
#else
        float *sc = sc_all;
#endif
        const int64_t n_qb = (t + QB - 1) / QB;
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int h = 0; h < n_head; h++) {
            for (int64_t b = 0; b < n_qb; b++) {
                const int g = h / group;
                const int64_t i0 = b * QB;
                const int nq = (int)(t - i0 < QB ? t - i0 : QB);
                const int64_t n_keys = causal ? i0 + nq : t;
                const float *ktg = kt + (int64_t)g * dh * t;
                /* scores: sc[r][j] = scale * q_r . k_j */
                for (int64_t j = 0; j < n_keys; j += 16) {
                    const __mmask16 m = tail_mask(n_keys - j);
                    __m512 acc[QB];
                    for (int r = 0; r < QB; r++) acc[r] = _mm512_setzero_ps();
                    for (int e = 0; e < dh; e++) {
                        const __m512 kv = _mm512_maskz_loadu_ps(m, ktg + (int64_t)e * t + j);
                        for (int r = 0; r < nq; r++) {
                            const float qv = q[(i0 + r) * qs + (int64_t)h * dh + e];
                            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(qv), kv, acc[r]);
                        }
                    }
                    for (int r = 0; r < nq; r++)
                        _mm512_mask_storeu_ps(sc + (int64_t)r * t + j, m,
                                              _mm512_mul_ps(acc[r], _mm512_set1_ps(scale)));
                }
                for (int r = 0; r < nq; r++) {
                    float *s = sc + (int64_t)r * t;
                    const int64_t nk = causal ? i0 + r + 1 : t;
                    __m512 vmx = _mm512_set1_ps(-INFINITY);
                    for (int64_t j = 0; j < nk; j += 16)
                        vmx = _mm512_mask_max_ps(vmx, tail_mask(nk - j), vmx,
                                                 _mm512_maskz_loadu_ps(tail_mask(nk - j), s + j));
                    const __m512 mxv = _mm512_set1_ps(_mm512_reduce_max_ps(vmx));
                    __m512 vsum = _mm512_setzero_ps();
                    for (int64_t j = 0; j < nk; j += 16) {
                        const __mmask16 m = tail_mask(nk - j);
                        const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), mxv));
                        _mm512_mask_storeu_ps(s + j, m, e);
                        vsum = _mm512_mask_add_ps(vsum, m, vsum, e);
                    }
                    const float sum = _mm512_reduce_add_ps(vsum);
                    const float inv = 1.0f / sum;
                    float *o = out + (i0 + r) * qs + (int64_t)h * dh;
                    for (int e0 = 0; e0 < dh; e0 += 64) {
                        /* up to 4 vectors (64 floats) of the output row in registers */
                        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
                        const int rem = dh - e0;
                        const __mmask16 m0 = tail_mask(rem), m1 = tail_mask(rem - 16),
                                        m2 = tail_mask(rem - 32), m3 = tail_mask(rem - 48);
                        for (int64_t j = 0; j < nk; j++) {
                            const float *vj = v + j * ks + (int64_t)g * dh + e0;
                            const __m512 p = _mm512_set1_ps(s[j] * inv);
                            a0 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m0, vj), a0);
                            if (rem > 16)
                                a1 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m1, vj + 16), a1);
                            if (rem > 32)
                                a2 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m2, vj + 32), a2);
                            if (rem > 48)
                                a3 = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m3, vj + 48), a3);
                        }
                        _mm512_mask_storeu_ps(o + e0, m0, a0);
                        if (rem > 16) _mm512_mask_storeu_ps(o + e0 + 16, m1, a1);
                        if (rem > 32) _mm512_mask_storeu_ps(o + e0 + 32, m2, a2);
                        if (rem > 48) _mm512_mask_storeu_ps(o + e0 + 48, m3, a3);
                    }
                }
            }
        }
    }
}

/*
 * ops.c: RMSNorm, RoPE (rotate-half), attention with GQA (bidirectional or causal), SwiGLU, in
 * fp32 with OpenMP. These are the plain implementations; the fused, tiled flash-attention
 * kernel replaces um_attention for long sequences (see docs/ARCHITECTURE.md).
 */
#include "kernels/ops.h"

#include "base/base.h"
#include "kernels/gemm-impl.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void um_rmsnorm(float *y, const float *x, const float *w, int64_t t, int64_t d, float eps) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (t > 1)
    for (int64_t i = 0; i < t; i++) {
        const float *xi = x + i * d;
        float *yi = y + i * d;
        float ss = 0.0f;
        for (int64_t j = 0; j < d; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / (float)d + eps);
        for (int64_t j = 0; j < d; j++) yi[j] = (xi[j] * r) * w[j];
    }
}

void um_rope_tables(float *cos_t, float *sin_t, int n_pos, int dh, float theta) {
    int half = dh / 2;
    for (int i = 0; i < half; i++) {
        float inv = 1.0f / powf(theta, (float)(2 * i) / (float)dh);
        for (int p = 0; p < n_pos; p++) {
            float a = (float)p * inv;
            cos_t[(int64_t)p * half + i] = cosf(a);
            sin_t[(int64_t)p * half + i] = sinf(a);
        }
    }
}

void um_rope(float *x, int64_t t, int n_heads, int dh, const int32_t *pos, const float *cos_t,
             const float *sin_t) {
    int half = dh / 2;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (t > 1)
    for (int64_t i = 0; i < t; i++) {
        const float *c = cos_t + (int64_t)pos[i] * half;
        const float *s = sin_t + (int64_t)pos[i] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (i * n_heads + h) * dh;
            for (int j = 0; j < half; j++) {
                float a = v[j], b = v[j + half];
                v[j] = a * c[j] - b * s[j];
                v[j + half] = b * c[j] + a * s[j];
            }
        }
    }
}

int64_t um_attention_scratch(int64_t t, int n_head_kv, int dh) {
    /* AVX-512 path: transposed keys [Hkv][Dh][T] + 8 score rows per thread; the reference
     * needs one score row per thread, which this covers */
    return (int64_t)n_head_kv * dh * t + (int64_t)um_get_threads() * 8 * t;
}

void um_attention(float *out, const float *q, const float *k, const float *v, int64_t t,
                  int n_head, int n_head_kv, int dh, bool causal, float *scratch) {
    if (um_cpu_has_avx512())
        um_attention_avx512(out, q, k, v, t, n_head, n_head_kv, dh, causal, scratch);
    else
        um_attention_ref(out, q, k, v, t, n_head, n_head_kv, dh, causal, scratch);
}

void um_attention_ref(float *out, const float *q, const float *k, const float *v, int64_t t,
                  int n_head, int n_head_kv, int dh, bool causal, float *scratch) {
    const int group = n_head / n_head_kv;
    const float scale = 1.0f / sqrtf((float)dh);
    const int64_t qs = (int64_t)n_head * dh, ks = (int64_t)n_head_kv * dh;
#pragma omp parallel num_threads(um_get_threads())
    {
#ifdef _OPENMP
        float *sc = scratch + (int64_t)omp_get_thread_num() * t;
#else
        float *sc = scratch;
#endif
#pragma omp for schedule(dynamic, 4) collapse(2)
        for (int h = 0; h < n_head; h++) {
            for (int64_t i = 0; i < t; i++) {
                const int g = h / group;
                const float *qi = q + i * qs + (int64_t)h * dh;
                const int64_t n_keys = causal ? i + 1 : t;
                float mx = -INFINITY;
                for (int64_t j = 0; j < n_keys; j++) {
                    const float *kj = k + j * ks + (int64_t)g * dh;
                    float d = 0.0f;
                    for (int e = 0; e < dh; e++) d += qi[e] * kj[e];
                    d *= scale;
                    sc[j] = d;
                    if (d > mx) mx = d;
                }
                float sum = 0.0f;
                for (int64_t j = 0; j < n_keys; j++) {
                    sc[j] = expf(sc[j] - mx);
                    sum += sc[j];
                }
                float inv = 1.0f / sum;
                float *oi = out + i * qs + (int64_t)h * dh;
                for (int e = 0; e < dh; e++) oi[e] = 0.0f;
                for (int64_t j = 0; j < n_keys; j++) {
                    const float *vj = v + j * ks + (int64_t)g * dh;
                    float p = sc[j] * inv;
                    for (int e = 0; e < dh; e++) oi[e] += p * vj[e];
                }
            }
        }
    }
}

void um_swiglu(float *a, const float *g, const float *u, int64_t n) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (n > 4096)
    for (int64_t i = 0; i < n; i++) {
        float x = g[i];
        a[i] = x / (1.0f + expf(-x)) * u[i];
    }
}

void um_add(float *y, const float *x, int64_t n) {
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (n > 4096)
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

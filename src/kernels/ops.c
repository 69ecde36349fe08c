/*
 * ops.c: RMSNorm, RoPE (rotate-half), SwiGLU and residual adds, in fp32 with OpenMP.
 * Attention is the flash kernel (flash_attn.h).
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

/*
 * ops.h: the element-wise and attention ops of the forward pass (fp32). Private.
 * Each op splits its work over OpenMP threads internally; callers call from one thread.
 * Shapes: T tokens, D hidden, H/Hkv heads, Dh head dim, F feed-forward.
 */
#ifndef UM_OPS_H
#define UM_OPS_H

#include <stdbool.h>
#include <stdint.h>

/* y[T][D] = x[T][D] * rsqrt(mean(x^2) + eps) * w[D]  (y may alias x) */
void um_rmsnorm(float *y, const float *x, const float *w, int64_t t, int64_t d, float eps);

/* RoPE, rotate-half pairing (element i pairs with i + Dh/2), in place on x[T][n_heads*Dh] using
 * tables cos_t/sin_t[pos][Dh/2] for positions pos[T]. */
void um_rope(float *x, int64_t t, int n_heads, int dh, const int32_t *pos, const float *cos_t,
             const float *sin_t);
/* Fill cos/sin tables [n_pos][Dh/2] as Hugging Face computes them in float32:
 * inv_freq[i] = 1 / theta^(2i/Dh), angle = pos * inv_freq[i]. */
void um_rope_tables(float *cos_t, float *sin_t, int n_pos, int dh, float theta);

/* Attention: see flash_attn.h (um_flash_fwd). */

/* a[T][F] = silu(g) * u  (a may alias g) */
void um_swiglu(float *a, const float *g, const float *u, int64_t n);

/* y += x, n elements */
void um_add(float *y, const float *x, int64_t n);

#endif

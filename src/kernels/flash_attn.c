/*
 * flash_attn.c: the scalar references of flash_attn.h, the run-time dispatch between them and
 * the AVX2 / AVX-512 versions, and the tile-mask helpers the SIMD versions share.
 *
 * The references follow the definition directly, one query row at a time: the scores of the
 * visible keys (um_mask_ranges) go into a row buffer of tk floats, then max, exp, sum and P v
 * (dot products and the softmax sum accumulated in double, P v and dQ rows in float). The backward runs one task per (sequence,
 * kv head) so that the rows of dK and dV it accumulates belong to one thread.
 */
#include "kernels/flash_attn.h"

#include "base/base.h"
#include "kernels/gemm-impl.h"
#include "kernels/ops_bwd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t um_flash_thread_floats(int64_t tq, int64_t tk, int dh) {
    (void)tq;
    const size_t qt = UM_FLASH_QT_MAX, kt = UM_FLASH_KT;
    /* tiled: Q^T, dO^T, O^T/dQ^T [Dh][QT]; Q, dO rows [QT][Dh]; S^T, dP^T [KT][QT]; K, V
     * tiles [KT][Dh]; 8 lane vectors [QT] */
    const size_t tiled = 5 * qt * (size_t)dh + 2 * kt * qt + 2 * kt * (size_t)dh + 8 * qt;
    const size_t ref = 2 * (size_t)tk; /* score row and dS row */
    return round16(tiled > ref ? tiled : ref) + 16;
}

size_t um_flash_scratch_floats(int64_t tq, int64_t tk, int h, int hkv, int dh) {
    (void)h;
    (void)hkv;
    int nth = um_get_threads();
    if (nth < 1) nth = 1;
    return (size_t)nth * um_flash_thread_floats(tq, tk, dh);
}

size_t um_flash_bwd_scratch_floats(int64_t t, int h, int hkv, int dh) {
    return um_flash_scratch_floats(t, t, h, hkv, dh);
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* ------------------------------------------------------------------------------------------
 * Tile masks */

void um_flash_tile_ranges(int32_t *rg, int qt, int kind, int bs, int64_t tk, int64_t p0, int nq,
                          int64_t *jlo, int64_t *jhi) {
    int32_t *lo0 = rg, *hi0 = rg + qt, *lo1 = rg + 2 * qt, *hi1 = rg + 3 * qt;
    int64_t lo = tk, hi = 0;
    for (int r = 0; r < qt; r++) {
        lo0[r] = hi0[r] = lo1[r] = hi1[r] = 0;
        if (r >= nq) continue;
        int64_t x[4];
        const int n = um_mask_ranges(kind, bs, tk, p0 + r, x);
        lo0[r] = (int32_t)x[0];
        hi0[r] = (int32_t)x[1];
        if (n > 1) {
            lo1[r] = (int32_t)x[2];
            hi1[r] = (int32_t)x[3];
        }
        for (int k = 0; k < n; k++) {
            if (x[2 * k + 1] <= x[2 * k]) continue;
            if (x[2 * k] < lo) lo = x[2 * k];
            if (x[2 * k + 1] > hi) hi = x[2 * k + 1];
        }
    }
    *jlo = lo < hi ? lo : 0;
    *jhi = lo < hi ? hi : 0;
}

int um_flash_tile_visible(const int32_t *rg, int qt, int nq, int64_t j0, int64_t j1) {
    const int32_t *lo0 = rg, *hi0 = rg + qt, *lo1 = rg + 2 * qt, *hi1 = rg + 3 * qt;
    for (int r = 0; r < nq; r++)
        if ((lo0[r] < j1 && hi0[r] > j0 && hi0[r] > lo0[r]) ||
            (lo1[r] < j1 && hi1[r] > j0 && hi1[r] > lo1[r]))
            return 1;
    return 0;
}

int um_flash_bwd_auto_mode(int64_t b, int hkv, int nth) {
    /* BY_HEAD does 5 tile products per (query, key) tile pair, BY_TILE 7 but with tq/QT times
     * more tasks. Keep BY_HEAD while its load balance (tasks over rounds * threads) beats 5/7. */
    const int64_t tasks = b * hkv;
    if (nth <= 1) return UM_FLASH_BWD_BY_HEAD;
    const int64_t rounds = (tasks + nth - 1) / nth;
    return 7 * tasks >= 5 * rounds * nth ? UM_FLASH_BWD_BY_HEAD : UM_FLASH_BWD_BY_TILE;
}

/* ------------------------------------------------------------------------------------------
 * Scalar references */

void um_flash_fwd_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                      int64_t b, int64_t tq, int64_t q0, int64_t tk, int h, int hkv, int dh,
                      int kind, int bs, float *scratch) {
    const int group = h / hkv;
    const int64_t qs = (int64_t)h * dh, ks = (int64_t)hkv * dh;
    const double scale = 1.0 / sqrt((double)dh);
    const size_t per = um_flash_thread_floats(tq, tk, dh);
#pragma omp parallel num_threads(um_get_threads())
    {
        float *s = scratch + (size_t)thread_id() * per; /* [tk] scores, then exp */
#pragma omp for schedule(dynamic, 8)
        for (int64_t row = 0; row < b * h * tq; row++) {
            const int64_t bb = row / (h * tq), i = row % tq;
            const int hh = (int)(row / tq % h), g = hh / group;
            const float *qi = q + (bb * tq + i) * qs + (int64_t)hh * dh;
            const float *kb = k + bb * tk * ks + (int64_t)g * dh;
            const float *vb = v + bb * tk * ks + (int64_t)g * dh;
            int64_t r[4];
            const int nr = um_mask_ranges(kind, bs, tk, q0 + i, r);
            float mx = -INFINITY;
            for (int c = 0; c < nr; c++)
                for (int64_t j = r[2 * c]; j < r[2 * c + 1]; j++) {
                    double d = 0.0;
                    for (int e = 0; e < dh; e++) d += (double)qi[e] * kb[j * ks + e];
                    s[j] = (float)(d * scale);
                    if (s[j] > mx) mx = s[j];
                }
            double sum = 0.0;
            for (int c = 0; c < nr; c++)
                for (int64_t j = r[2 * c]; j < r[2 * c + 1]; j++) {
                    s[j] = expf(s[j] - mx);
                    sum += s[j];
                }
            float *oi = out + (bb * tq + i) * qs + (int64_t)hh * dh;
            const float inv = (float)(1.0 / sum);
            for (int e = 0; e < dh; e++) oi[e] = 0.0f;
            for (int c = 0; c < nr; c++)
                for (int64_t j = r[2 * c]; j < r[2 * c + 1]; j++) {
                    const float pj = s[j] * inv;
                    for (int e = 0; e < dh; e++) oi[e] += pj * vb[j * ks + e];
                }
            if (lse) lse[(bb * h + hh) * tq + i] = (float)((double)mx + log(sum));
        }
    }
}

void um_flash_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out,
                      const float *lse, const float *q, const float *k, const float *v,
                      int64_t b, int64_t t, int h, int hkv, int dh, int kind, int bs,
                      float *scratch) {
    const int group = h / hkv;
    const int64_t qs = (int64_t)h * dh, ks = (int64_t)hkv * dh;
    const double scale = 1.0 / sqrt((double)dh);
    const size_t per = um_flash_thread_floats(t, t, dh);
#pragma omp parallel num_threads(um_get_threads())
    {
        float *p = scratch + (size_t)thread_id() * per; /* [t] probabilities of one row */
        float *ds = p + t;                              /* [t] dS of one row (scaled) */
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < b * hkv; task++) {
            const int64_t bb = task / hkv;
            const int g = (int)(task % hkv);
            const float *kb = k + bb * t * ks + (int64_t)g * dh;
            const float *vb = v + bb * t * ks + (int64_t)g * dh;
            float *dkb = dk + bb * t * ks + (int64_t)g * dh;
            float *dvb = dv + bb * t * ks + (int64_t)g * dh;
            for (int64_t j = 0; j < t; j++)
                for (int e = 0; e < dh; e++) dkb[j * ks + e] = dvb[j * ks + e] = 0.0f;
            for (int hh = g * group; hh < (g + 1) * group; hh++)
                for (int64_t i = 0; i < t; i++) {
                    const int64_t ro = (bb * t + i) * qs + (int64_t)hh * dh;
                    const float *qi = q + ro, *oi = out + ro, *doi = dout + ro;
                    const double li = lse[(bb * h + hh) * t + i];
                    double di = 0.0;
                    for (int e = 0; e < dh; e++) di += (double)doi[e] * oi[e];
                    int64_t r[4];
                    const int nr = um_mask_ranges(kind, bs, t, i, r);
                    for (int c = 0; c < nr; c++)
                        for (int64_t j = r[2 * c]; j < r[2 * c + 1]; j++) {
                            double sc = 0.0, dp = 0.0;
                            for (int e = 0; e < dh; e++) {
                                sc += (double)qi[e] * kb[j * ks + e];
                                dp += (double)doi[e] * vb[j * ks + e];
                            }
                            const double pj = exp(sc * scale - li);
                            p[j] = (float)pj;
                            ds[j] = (float)(pj * (dp - di) * scale);
                        }
                    float *dqi = dq + ro;
                    for (int e = 0; e < dh; e++) dqi[e] = 0.0f;
                    for (int c = 0; c < nr; c++)
                        for (int64_t j = r[2 * c]; j < r[2 * c + 1]; j++)
                            for (int e = 0; e < dh; e++) dqi[e] += ds[j] * kb[j * ks + e];
                    for (int c = 0; c < nr; c++)
                        for (int64_t j = r[2 * c]; j < r[2 * c + 1]; j++)
                            for (int e = 0; e < dh; e++) {
                                dkb[j * ks + e] += ds[j] * qi[e];
                                dvb[j * ks + e] += p[j] * doi[e];
                            }
                }
        }
    }
}

/* ------------------------------------------------------------------------------------------
 * Dispatch */

static int cpu_avx2 = -1;

static int has_avx2_fma(void) {
    if (cpu_avx2 < 0) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        cpu_avx2 = 0;
#endif
    }
    return cpu_avx2;
}

int um_flash_isa_available(int isa) {
    switch (isa) {
    case UM_FLASH_SCALAR: return 1;
    case UM_FLASH_AVX2: return has_avx2_fma();
    case UM_FLASH_AVX512: return um_cpu_has_avx512();
    default: return 0;
    }
}

const char *um_flash_isa_name(int isa) {
    switch (isa) {
    case UM_FLASH_AVX2: return "avx2";
    case UM_FLASH_AVX512: return "avx512";
    default: return "scalar";
    }
}

static int best_isa(void) {
    if (um_flash_isa_available(UM_FLASH_AVX512)) return UM_FLASH_AVX512;
    if (um_flash_isa_available(UM_FLASH_AVX2)) return UM_FLASH_AVX2;
    return UM_FLASH_SCALAR;
}

int um_flash_isa(void) {
    const char *env = getenv("UM_FLASH_ISA");
    if (env) {
        for (int isa = UM_FLASH_SCALAR; isa <= UM_FLASH_AVX512; isa++)
            if (strcmp(env, um_flash_isa_name(isa)) == 0 && um_flash_isa_available(isa))
                return isa;
    }
    return best_isa();
}

static int resolve(int isa) { return um_flash_isa_available(isa) ? isa : um_flash_isa(); }

void um_flash_fwd_isa(int isa, float *out, float *lse, const float *q, const float *k,
                      const float *v, int64_t b, int64_t tq, int64_t q0, int64_t tk, int h,
                      int hkv, int dh, int kind, int bs, float *scratch) {
    switch (resolve(isa)) {
    case UM_FLASH_AVX512:
        um_flash_fwd_avx512(out, lse, q, k, v, b, tq, q0, tk, h, hkv, dh, kind, bs, scratch);
        break;
    case UM_FLASH_AVX2:
        um_flash_fwd_avx2(out, lse, q, k, v, b, tq, q0, tk, h, hkv, dh, kind, bs, scratch);
        break;
    default:
        um_flash_fwd_ref(out, lse, q, k, v, b, tq, q0, tk, h, hkv, dh, kind, bs, scratch);
    }
}

void um_flash_bwd_isa(int isa, int mode, float *dq, float *dk, float *dv, const float *dout,
                      const float *out, const float *lse, const float *q, const float *k,
                      const float *v, int64_t b, int64_t t, int h, int hkv, int dh, int kind,
                      int bs, float *scratch) {
    if (mode != UM_FLASH_BWD_BY_HEAD && mode != UM_FLASH_BWD_BY_TILE)
        mode = um_flash_bwd_auto_mode(b, hkv, um_get_threads());
    switch (resolve(isa)) {
    case UM_FLASH_AVX512:
        um_flash_bwd_avx512(mode, dq, dk, dv, dout, out, lse, q, k, v, b, t, h, hkv, dh, kind,
                            bs, scratch);
        break;
    case UM_FLASH_AVX2:
        um_flash_bwd_avx2(mode, dq, dk, dv, dout, out, lse, q, k, v, b, t, h, hkv, dh, kind, bs,
                          scratch);
        break;
    default:
        um_flash_bwd_ref(dq, dk, dv, dout, out, lse, q, k, v, b, t, h, hkv, dh, kind, bs,
                         scratch);
    }
}

void um_flash_fwd(float *out, float *lse, const float *q, const float *k, const float *v,
                  int64_t b, int64_t tq, int64_t q0, int64_t tk, int h, int hkv, int dh,
                  int kind, int bs, float *scratch) {
    um_flash_fwd_isa(um_flash_isa(), out, lse, q, k, v, b, tq, q0, tk, h, hkv, dh, kind, bs,
                     scratch);
}

void um_flash_bwd(float *dq, float *dk, float *dv, const float *dout, const float *out,
                  const float *lse, const float *q, const float *k, const float *v, int64_t b,
                  int64_t t, int h, int hkv, int dh, int kind, int bs, float *scratch) {
    um_flash_bwd_isa(um_flash_isa(), UM_FLASH_BWD_AUTO, dq, dk, dv, dout, out, lse, q, k, v, b,
                     t, h, hkv, dh, kind, bs, scratch);
}

/*
 * test_flash_attn.c: flash attention (kernels/flash_attn.h), forward and backward.
 *
 * 1. The scalar reference against softmax(q k^T / sqrt(Dh)) v computed in double from the
 *    definition, with the mask written out independently (mask_rule below), and its gradient
 *    from the analytic formulas in double: max |diff| <= 1e-5 relative to the largest
 *    magnitude of the reference (output, each gradient); lse <= 1e-5 absolute.
 * 2. Every ISA this CPU runs (scalar, AVX2, AVX-512) and both backward work partitions against
 *    the reference: output <= 2e-5 and gradients <= 1e-4 relative, lse <= 1e-5 absolute.
 * Shapes are odd on purpose: tq, tk in {1, 3, 17, 65, 130, 257} (not multiples of the 16/32-row
 * query tiles or the 64-key tiles), Dh in {8, 20, 64, 128} (20: a partial vector), H/Hkv in
 * {4/4, 6/2, 8/1}, every mask kind with block sizes 1, 3, 4, 16, B = 2 sequences (1 at the
 * longest t, for the sanitizer build's run time), and queries
 * that are a subset of the keys (q0 > 0, tq < tk). Scratch is exactly the size the sizing
 * function asks for (ASan sees overruns) and filled with NaN (reads of unwritten scratch show).
 * Also: the SIMD results do not depend on the thread count, and UM_FLASH_ISA is honoured.
 */
#include "test.h"

#include "base/base.h"
#include "kernels/flash_attn.h"
#include "kernels/ops_bwd.h"

#include <stdlib.h>
#include <string.h>

static float *rnd(um_rng *r, int64_t n, float a) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(2 * um_rng_uniform(r) - 1) * a;
    return p;
}

static float *nan_buf(size_t n) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

/* The mask from its definition (ops_bwd.h), independent of um_mask_ranges. */
static int mask_rule(int kind, int bs, int64_t t, int64_t i, int64_t j) {
    switch (kind) {
    case UM_MASK_FULL: return 1;
    case UM_MASK_CAUSAL: return j <= i;
    case UM_MASK_BLOCK_CAUSAL: return j / bs <= i / bs;
    default: {
        const int64_t n = t / 2;
        if (i < n) return j < n ? j / bs == i / bs : (j - n) / bs < i / bs;
        return j >= n && (j - n) / bs <= (i - n) / bs;
    }
    }
}

struct shape {
    int64_t b, tq, q0, tk;
    int h, hkv, dh, kind, bs;
};

static double max_abs(const float *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}
static double max_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        m = fmax(m, d != d ? INFINITY : d);
    }
    return m;
}
static double max_diff_d(const float *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        m = fmax(m, d != d ? INFINITY : d);
    }
    return m;
}
static double max_abs_d(const double *a, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

/* Double-precision forward and (when dout) backward from the definition. */
static void naive(const struct shape *s, const float *q, const float *k, const float *v,
                  const float *dout, double *out, double *lse, double *dq, double *dk,
                  double *dv) {
    const int64_t qs = (int64_t)s->h * s->dh, ks = (int64_t)s->hkv * s->dh;
    const int group = s->h / s->hkv, dh = s->dh;
    const double scale = 1.0 / sqrt((double)dh);
    double *p = malloc((size_t)s->tk * sizeof *p);
    if (dout) {
        memset(dq, 0, (size_t)(s->b * s->tq * qs) * sizeof *dq);
        memset(dk, 0, (size_t)(s->b * s->tk * ks) * sizeof *dk);
        memset(dv, 0, (size_t)(s->b * s->tk * ks) * sizeof *dv);
    }
    for (int64_t bb = 0; bb < s->b; bb++)
        for (int hh = 0; hh < s->h; hh++)
            for (int64_t i = 0; i < s->tq; i++) {
                const int g = hh / group;
                const int64_t ro = (bb * s->tq + i) * qs + (int64_t)hh * dh;
                double mx = -INFINITY;
                for (int64_t j = 0; j < s->tk; j++) {
                    p[j] = -INFINITY;
                    if (!mask_rule(s->kind, s->bs, s->tk, s->q0 + i, j)) continue;
                    double d = 0;
                    for (int e = 0; e < dh; e++)
                        d += (double)q[ro + e] * k[(bb * s->tk + j) * ks + (int64_t)g * dh + e];
                    p[j] = d * scale;
                    mx = fmax(mx, p[j]);
                }
                double sum = 0;
                for (int64_t j = 0; j < s->tk; j++) sum += p[j] = exp(p[j] - mx);
                for (int64_t j = 0; j < s->tk; j++) p[j] /= sum;
                lse[(bb * s->h + hh) * s->tq + i] = mx + log(sum);
                for (int e = 0; e < dh; e++) {
                    double o = 0;
                    for (int64_t j = 0; j < s->tk; j++)
                        o += p[j] * v[(bb * s->tk + j) * ks + (int64_t)g * dh + e];
                    out[ro + e] = o;
                }
                if (!dout) continue;
                /* dP_j = dO . v_j; dS_j = P_j (dP_j - dO . O); dq = dS k s; dk += dS q s */
                double di = 0;
                for (int e = 0; e < dh; e++) di += (double)dout[ro + e] * out[ro + e];
                for (int64_t j = 0; j < s->tk; j++) {
                    if (p[j] == 0) continue;
                    const int64_t ko = (bb * s->tk + j) * ks + (int64_t)g * dh;
                    double dp = 0;
                    for (int e = 0; e < dh; e++) dp += (double)dout[ro + e] * v[ko + e];
                    const double ds = p[j] * (dp - di) * scale;
                    for (int e = 0; e < dh; e++) {
                        dq[ro + e] += ds * k[ko + e];
                        dk[ko + e] += ds * q[ro + e];
                        dv[ko + e] += p[j] * dout[ro + e];
                    }
                }
            }
    free(p);
}

static const char *kind_name(int kind) {
    static const char *n[] = {"full", "causal", "block_causal", "bd3"};
    return n[kind];
}

static int n_cases;
/* worst errors seen, for the summary line */
static double worst_ref_fwd, worst_ref_bwd, worst_fwd, worst_lse, worst_bwd;

/* Gradients are compared relative to their largest magnitude, but not below this: with one
 * visible key (t = 1) dS is 0 exactly and dq, dk are pure rounding noise. Inputs are O(1). */
#define GRAD_FLOOR 1e-2

/* Check one shape: reference against the double definition (when `with_naive`), every ISA
 * against the reference; backward too when tq == tk and q0 == 0. */
static void check_shape(um_rng *rng, const struct shape *s, int with_naive) {
    const int64_t qs = (int64_t)s->h * s->dh, ks = (int64_t)s->hkv * s->dh;
    const int64_t nq = s->b * s->tq * qs, nk = s->b * s->tk * ks, nl = s->b * s->h * s->tq;
    const int bwd = s->tq == s->tk && s->q0 == 0;
    float *q = rnd(rng, nq, 2.0f), *k = rnd(rng, nk, 2.0f), *v = rnd(rng, nk, 1.0f);
    float *dout = rnd(rng, nq, 1.0f);
    float *out_ref = malloc((size_t)nq * sizeof(float)), *lse_ref = malloc((size_t)nl * 4);
    float *out = malloc((size_t)nq * sizeof(float)), *lse = malloc((size_t)nl * 4);
    float *dq_ref = malloc((size_t)nq * 4), *dk_ref = malloc((size_t)nk * 4);
    float *dv_ref = malloc((size_t)nk * 4), *dq = malloc((size_t)nq * 4);
    float *dk = malloc((size_t)nk * 4), *dv = malloc((size_t)nk * 4);
    const size_t n_scr = um_flash_scratch_floats(s->tq, s->tk, s->h, s->hkv, s->dh);
    const size_t n_bscr = bwd ? um_flash_bwd_scratch_floats(s->tk, s->h, s->hkv, s->dh) : 0;
    float *scr = nan_buf(n_scr > n_bscr ? n_scr : n_bscr);
    char name[160];
    snprintf(name, sizeof name, "B=%lld tq=%lld q0=%lld tk=%lld H=%d Hkv=%d Dh=%d %s bs=%d",
             (long long)s->b, (long long)s->tq, (long long)s->q0, (long long)s->tk, s->h, s->hkv,
             s->dh, kind_name(s->kind), s->bs);
    n_cases++;

    um_flash_fwd_ref(out_ref, lse_ref, q, k, v, s->b, s->tq, s->q0, s->tk, s->h, s->hkv, s->dh,
                     s->kind, s->bs, scr);
    if (bwd)
        um_flash_bwd_ref(dq_ref, dk_ref, dv_ref, dout, out_ref, lse_ref, q, k, v, s->b, s->tk,
                         s->h, s->hkv, s->dh, s->kind, s->bs, scr);
    if (with_naive) {
        double *o = malloc((size_t)nq * 8), *l = malloc((size_t)nl * 8);
        double *gq = malloc((size_t)nq * 8), *gk = malloc((size_t)nk * 8);
        double *gv = malloc((size_t)nk * 8);
        naive(s, q, k, v, bwd ? dout : NULL, o, l, gq, gk, gv);
        const double eo = max_diff_d(out_ref, o, nq) / fmax(max_abs_d(o, nq), 1e-30);
        const double el = max_diff_d(lse_ref, l, nl);
        worst_ref_fwd = fmax(worst_ref_fwd, fmax(eo, el));
        CHECKF(eo <= 1e-5 && el <= 1e-5, "ref fwd vs double %s: out rel %.3g lse %.3g", name, eo,
               el);
        if (bwd) {
            const double eq = max_diff_d(dq_ref, gq, nq) / fmax(max_abs_d(gq, nq), GRAD_FLOOR);
            const double ek = max_diff_d(dk_ref, gk, nk) / fmax(max_abs_d(gk, nk), GRAD_FLOOR);
            const double ev = max_diff_d(dv_ref, gv, nk) / fmax(max_abs_d(gv, nk), GRAD_FLOOR);
            worst_ref_bwd = fmax(worst_ref_bwd, fmax(eq, fmax(ek, ev)));
            CHECKF(eq <= 1e-5 && ek <= 1e-5 && ev <= 1e-5,
                   "ref bwd vs double %s: dq %.3g dk %.3g dv %.3g", name, eq, ek, ev);
        }
        free(o), free(l), free(gq), free(gk), free(gv);
    }

    const double so = fmax(max_abs(out_ref, nq), 1e-30);
    const double sq = bwd ? fmax(max_abs(dq_ref, nq), GRAD_FLOOR) : 1;
    const double sk = bwd ? fmax(max_abs(dk_ref, nk), GRAD_FLOOR) : 1;
    const double sv = bwd ? fmax(max_abs(dv_ref, nk), GRAD_FLOOR) : 1;
    for (int isa = UM_FLASH_SCALAR; isa <= UM_FLASH_AVX512; isa++) {
        if (!um_flash_isa_available(isa)) continue;
        for (size_t i = 0; i < n_scr; i++) scr[i] = NAN;
        um_flash_fwd_isa(isa, out, lse, q, k, v, s->b, s->tq, s->q0, s->tk, s->h, s->hkv, s->dh,
                         s->kind, s->bs, scr);
        const double eo = max_diff(out, out_ref, nq) / so, el = max_diff(lse, lse_ref, nl);
        if (isa != UM_FLASH_SCALAR) worst_fwd = fmax(worst_fwd, eo), worst_lse = fmax(worst_lse, el);
        CHECKF(eo <= 2e-5 && el <= 1e-5, "%s fwd %s: out rel %.3g lse %.3g",
               um_flash_isa_name(isa), name, eo, el);
        if (!bwd) continue;
        for (int mode = UM_FLASH_BWD_BY_HEAD; mode <= UM_FLASH_BWD_BY_TILE; mode++) {
            if (isa == UM_FLASH_SCALAR) break; /* the dispatch to the reference itself */
            for (size_t i = 0; i < n_bscr; i++) scr[i] = NAN;
            um_flash_bwd_isa(isa, mode, dq, dk, dv, dout, out_ref, lse_ref, q, k, v, s->b, s->tk,
                             s->h, s->hkv, s->dh, s->kind, s->bs, scr);
            const double eq = max_diff(dq, dq_ref, nq) / sq, ek = max_diff(dk, dk_ref, nk) / sk;
            const double ev = max_diff(dv, dv_ref, nk) / sv;
            worst_bwd = fmax(worst_bwd, fmax(eq, fmax(ek, ev)));
            CHECKF(eq <= 1e-4 && ek <= 1e-4 && ev <= 1e-4,
                   "%s bwd mode %d %s: dq %.3g dk %.3g dv %.3g", um_flash_isa_name(isa), mode,
                   name, eq, ek, ev);
        }
    }
    free(q), free(k), free(v), free(dout), free(out_ref), free(lse_ref), free(out), free(lse);
    free(dq_ref), free(dk_ref), free(dv_ref), free(dq), free(dk), free(dv), free(scr);
}

/* Same inputs, 1 thread vs 2 threads: identical bits (each output has one writer). */
static void check_threads(um_rng *rng) {
    const struct shape s = {2, 65, 0, 65, 6, 2, 20, UM_MASK_BLOCK_CAUSAL, 4};
    const int64_t qs = (int64_t)s.h * s.dh, ks = (int64_t)s.hkv * s.dh;
    const int64_t nq = s.b * s.tq * qs, nk = s.b * s.tk * ks, nl = s.b * s.h * s.tq;
    float *q = rnd(rng, nq, 2.0f), *k = rnd(rng, nk, 2.0f), *v = rnd(rng, nk, 1.0f);
    float *dout = rnd(rng, nq, 1.0f);
    float *o[2], *l[2], *g[2];
    for (int th = 0; th < 2; th++) {
        um_set_threads(th + 1);
        float *scr = nan_buf(um_flash_bwd_scratch_floats(s.tk, s.h, s.hkv, s.dh));
        o[th] = malloc((size_t)nq * 4), l[th] = malloc((size_t)nl * 4);
        g[th] = malloc((size_t)(nq + 2 * nk) * 4);
        um_flash_fwd(o[th], l[th], q, k, v, s.b, s.tq, 0, s.tk, s.h, s.hkv, s.dh, s.kind, s.bs,
                     scr);
        um_flash_bwd_isa(um_flash_isa(), UM_FLASH_BWD_BY_TILE, g[th], g[th] + nq,
                         g[th] + nq + nk, dout, o[th], l[th], q, k, v, s.b, s.tk, s.h, s.hkv,
                         s.dh, s.kind, s.bs, scr);
        free(scr);
    }
    CHECK(memcmp(o[0], o[1], (size_t)nq * 4) == 0);
    CHECK(memcmp(l[0], l[1], (size_t)nl * 4) == 0);
    CHECK(memcmp(g[0], g[1], (size_t)(nq + 2 * nk) * 4) == 0);
    for (int th = 0; th < 2; th++) free(o[th]), free(l[th]), free(g[th]);
    free(q), free(k), free(v), free(dout);
}

static void check_env(void) {
    setenv("UM_FLASH_ISA", "scalar", 1);
    CHECK(um_flash_isa() == UM_FLASH_SCALAR);
    setenv("UM_FLASH_ISA", "avx2", 1);
    CHECK(um_flash_isa() == (um_flash_isa_available(UM_FLASH_AVX2)
                                 ? UM_FLASH_AVX2
                                 : um_flash_isa_available(UM_FLASH_AVX512) ? UM_FLASH_AVX512
                                                                           : UM_FLASH_SCALAR));
    setenv("UM_FLASH_ISA", "nonsense", 1);
    const int best = um_flash_isa();
    unsetenv("UM_FLASH_ISA");
    CHECK(um_flash_isa() == best);
    CHECK(best == UM_FLASH_AVX512 || !um_flash_isa_available(UM_FLASH_AVX512));
    printf("flash attention ISAs: scalar%s%s (dispatch: %s)\n",
           um_flash_isa_available(UM_FLASH_AVX2) ? " avx2" : "",
           um_flash_isa_available(UM_FLASH_AVX512) ? " avx512" : "", um_flash_isa_name(best));
}

int main(void) {
    um_set_threads(2);
    um_rng rng;
    um_rng_seed(&rng, 2024, 0);
    check_env();
    static const int64_t ts[] = {1, 3, 17, 65, 130, 257};
    static const int dhs[] = {8, 20, 64, 128};
    static const int heads[][2] = {{4, 4}, {6, 2}, {8, 1}};
    static const int bss[] = {1, 3, 4, 16};
    /* training shapes (tq == tk, backward too): every t x every mask, the other dimensions
     * cycling so that each value meets several masks and lengths */
    for (int ti = 0; ti < 6; ti++)
        for (int kind = 0; kind < 4; kind++) {
            const int c = ti * 4 + kind;
            int64_t t = ts[ti];
            if (kind == UM_MASK_BD3 && t % 2) t += 1;
            const int dh = dhs[(ti + kind) % 4];
            /* the largest shapes skip the O(T^2 Dh) double-precision check, which dominates
             * the run time under sanitizers; the reference was checked at the smaller ones */
            const int naive_ok = t * t * dh <= 130 * 130 * 20;
            /* B = 2 except at the longest t, to keep the sanitizer build under its time */
            struct shape s = {t > 200 ? 1 : 2, t, 0, t, heads[c % 3][0], heads[c % 3][1], dh,
                              kind, bss[(c + ti) % 4]};
            check_shape(&rng, &s, naive_ok);
        }
    /* queries a subset of the keys (inference over a suffix or a middle block), forward only */
    for (int ti = 1; ti < 6; ti++)
        for (int kind = 0; kind < 3; kind++) {
            const int c = ti * 3 + kind;
            const int64_t tk = ts[ti], tq = ts[(ti + kind) % ti];
            const int64_t q0 = c % 2 ? tk - tq : (tk - tq) / 2;
            if (tq >= tk) continue;
            const int dh = dhs[c % 4];
            struct shape s = {2, tq, q0 > 0 ? q0 : tk - tq, tk, heads[c % 3][0],
                              heads[c % 3][1], dh, kind, bss[c % 4]};
            check_shape(&rng, &s, tq * tk * dh <= 65 * 257 * 64);
        }
    /* BD3 and the other masks at a Dh the cycle above pairs with few masks */
    const struct shape extra[] = {
        {2, 130, 0, 130, 4, 1, 128, UM_MASK_BD3, 16},
        {1, 66, 0, 66, 4, 4, 20, UM_MASK_BD3, 3},
        {2, 64, 0, 64, 4, 4, 8, UM_MASK_BD3, 1},
        {1, 257, 0, 257, 4, 4, 64, UM_MASK_CAUSAL, 1},
        {1, 100, 0, 100, 6, 2, 128, UM_MASK_FULL, 1},
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        check_shape(&rng, &extra[i], extra[i].tk * extra[i].tk * extra[i].dh <= 130 * 130 * 20);
    check_threads(&rng);
    printf("%d shapes; worst: ref vs double fwd %.2g bwd %.2g; SIMD vs ref out %.2g lse %.2g "
           "grads %.2g\n", n_cases, worst_ref_fwd, worst_ref_bwd, worst_fwd, worst_lse, worst_bwd);
    return TEST_DONE();
}

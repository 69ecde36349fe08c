/*
 * test_grad.c: gradients of the trainable model (src/train/tmodel.c) and of the backward ops
 * (src/kernels/ops_bwd.c).
 *
 * 1. Oracle (tests/oracle/gen_grad.py, torch autograd in float64): for 4 tiny configurations
 *    (LLaDA MHA, LLaDA GQA tied, Dream GQA with biases, Llama GQA with head_dim != D/H) x 4
 *    attention kinds (full, causal, block-causal block 4, BD3 T = 2x10 block 4), load the
 *    folder, um_tmodel_from_model, one step with backward, and compare
 *      loss:            |ours - torch| <= 1e-5 + 1e-5 |torch|
 *      every gradient:  |ours - torch| <= 1e-4 + 1e-3 |torch| per element
 *    printing the loss difference and the max abs difference per tensor.
 * 2. Finite differences per op, in double: a double forward written here, central differences
 *    with h = 1e-6, against the fp32 backward op: |analytic - fd| <= 1e-4 (1 + |fd|)
 *    (rmsnorm dx and dw, rope, attention dq/dk/dv for every mask kind, swiglu, softmax-CE,
 *    embedding), plus each mask against its rule written out independently.
 * 3. Whole-model finite differences in fp32 (Dream with biases and BD3 attention; LLaDA tied
 *    with block-causal): central differences h = 1e-2 on a sample of every tensor's entries,
 *    |analytic - fd| <= 3e-3 + 3e-2 |analytic| (fp32 loss noise / 2h dominates).
 * Missing oracle files are failures naming the file and the script that writes it.
 */
#include "test.h"

#include "base/base.h"
#include "io/safetensors.h"
#include "kernels/flash_attn.h"
#include "kernels/ops.h"
#include "kernels/ops_bwd.h"
#include "train/tmodel-impl.h"

#include <stdlib.h>
#include <string.h>

static const char *const CONFIGS[] = {"llada_mha", "llada_gqa", "dream_gqa", "llama_causal"};
static const char *const KINDS[] = {"full", "causal", "block_causal", "bd3"};

/* ------------------------------------------------------------------ oracle cases */

static const float *tensor_f32(um_st_set *s, const char *name, int64_t *n) {
    const um_st_tensor *t = um_st_find(s, name);
    if (!t || t->dtype != UM_DTYPE_F32) return NULL;
    if (n) *n = t->n_elems;
    return (const float *)t->data;
}

static double worst_case_grad = 0, worst_case_loss = 0;

static void oracle_case(const char *cfg, const char *kind, bool via_init) {
    char path[4096], folder[4096];
    snprintf(path, sizeof path, "%s/grad/%s__%s.safetensors", UM_TESTDATA, cfg, kind);
    snprintf(folder, sizeof folder, "%s/grad/%s", UM_TESTDATA, cfg);
    um_st_set *ref = NULL;
    if (um_st_open_file(path, &ref) != UM_OK) {
        CHECKF(0, "oracle file missing or unreadable: %s (%s); it is written by "
               "tests/oracle/gen_grad.py through make_all.py (ctest fixture oracle_data)",
               path, um_last_error());
        return;
    }
    int64_t n_tok = 0;
    const float *ftok = tensor_f32(ref, "tokens", &n_tok);
    const float *fpos = tensor_f32(ref, "pos", NULL), *ftg = tensor_f32(ref, "targets", NULL);
    const float *fw = tensor_f32(ref, "weights", NULL), *fattn = tensor_f32(ref, "attn", NULL);
    const float *fnorm = tensor_f32(ref, "norm", NULL), *floss = tensor_f32(ref, "loss", NULL);
    const float *fmax = tensor_f32(ref, "max_seq", NULL);
    const um_st_tensor *tt = um_st_find(ref, "tokens");
    CHECKF(ftok && fpos && ftg && fw && fattn && fnorm && floss && fmax && tt->n_dims == 2,
           "%s: incomplete case file", path);
    if (!(ftok && fpos && ftg && fw && fattn && fnorm && floss && fmax && tt->n_dims == 2)) {
        um_st_close(ref);
        return;
    }
    const int B = (int)tt->shape[0], T = (int)tt->shape[1];
    um_model *m = NULL;
    struct um_model_params mp = um_model_default_params();
    mp.load_tokenizer = false;
    enum um_status st = um_model_load(folder, &mp, &m);
    CHECKF(st == UM_OK, "load %s: %s", folder, um_last_error());
    um_tmodel *tm = NULL;
    if (st == UM_OK) {
        if (!via_init) {
            st = um_tmodel_from_model(m, B, (int)fmax[0], &tm);
            CHECKF(st == UM_OK, "from_model %s: %s", folder, um_last_error());
        } else {
            /* init from the info, then copy the weights by name from the file */
            st = um_tmodel_init(um_model_get_info(m), B, (int)fmax[0], 7, 0.02f, &tm);
            CHECKF(st == UM_OK, "init %s: %s", folder, um_last_error());
            um_st_set *ws = NULL;
            if (st == UM_OK && um_st_open_dir(folder, &ws) == UM_OK) {
                for (int i = 0; i < um_tmodel_n_tensors(tm); i++) {
                    const struct um_tparam *p = um_tmodel_tensor(tm, i);
                    int64_t n = 0;
                    const float *src = tensor_f32(ws, p->name, &n);
                    CHECKF(src && n == p->shape[0] * p->shape[1], "%s: tensor %s", folder,
                           p->name);
                    if (src)
                        memcpy(um_tmodel_weights(tm) + p->offset, src, (size_t)n * sizeof(float));
                }
                CHECK(um_st_count(ws) == um_tmodel_n_tensors(tm));
            }
            um_st_close(ws);
        }
    }
    if (tm) {
        const int64_t N = (int64_t)B * T;
        int32_t *tok = malloc((size_t)N * 4), *pos = malloc((size_t)N * 4);
        int32_t *tg = malloc((size_t)N * 4);
        for (int64_t i = 0; i < N; i++) {
            tok[i] = (int32_t)ftok[i];
            pos[i] = (int32_t)fpos[i];
            tg[i] = (int32_t)ftg[i];
        }
        struct um_attn_spec as = {(enum um_attn_kind)(int)fattn[0], (int)fattn[1]};
        um_tmodel_zero_grads(tm);
        double loss = 0;
        st = um_tmodel_step(tm, tok, pos, tg, fw, B, T, &as, fnorm[0], true, &loss);
        CHECKF(st == UM_OK, "%s/%s step: %s", cfg, kind, um_last_error());
        const double ldiff = fabs(loss - floss[0]);
        CHECKF(ldiff <= 1e-5 + 1e-5 * fabs(floss[0]), "%s/%s loss %.8g vs torch %.8g", cfg, kind,
               loss, (double)floss[0]);
        if (ldiff > worst_case_loss) worst_case_loss = ldiff;
        printf("grad %-13s %-12s%s loss %.6f |diff| %.2e\n", cfg, kind, via_init ? " (init)" : "",
               loss, ldiff);
        double case_max = 0;
        for (int i = 0; i < um_tmodel_n_tensors(tm); i++) {
            const struct um_tparam *p = um_tmodel_tensor(tm, i);
            char gname[160];
            snprintf(gname, sizeof gname, "grad.%s", p->name);
            int64_t n = 0;
            const float *g = tensor_f32(ref, gname, &n);
            CHECKF(g && n == p->shape[0] * p->shape[1], "%s: no %s", path, gname);
            if (!g) continue;
            const float *ours = um_tmodel_grads(tm) + p->offset;
            double mx = 0, mref = 0;
            int64_t bad = 0;
            for (int64_t j = 0; j < n; j++) {
                double d = fabs((double)ours[j] - g[j]);
                if (d > mx) mx = d;
                if (fabs(g[j]) > mref) mref = fabs(g[j]);
                if (!(d <= 1e-4 + 1e-3 * fabs(g[j]))) bad++;
            }
            CHECKF(bad == 0, "%s/%s: %s: %lld elements out of tolerance (max diff %.3g)", cfg,
                   kind, p->name, (long long)bad, mx);
            printf("    %-48s max|diff| %.2e (max|grad| %.2e)\n", p->name, mx, mref);
            if (mx > case_max) case_max = mx;
        }
        CHECK(um_st_count(ref) == 8 + um_tmodel_n_tensors(tm));
        if (case_max > worst_case_grad) worst_case_grad = case_max;
        free(tok);
        free(pos);
        free(tg);
    }
    um_tmodel_free(tm);
    um_model_free(m);
    um_st_close(ref);
}

/* ------------------------------------------------------------------ op finite differences */

static double frand(um_rng *r) { return 2.0 * um_rng_uniform(r) - 1.0; }

static void fill(float *x, int64_t n, um_rng *r, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(scale * frand(r));
}

/* max over i of |a - fd| / (1 + |fd|) */
static double fd_err(const float *a, const double *fd, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(a[i] - fd[i]) / (1.0 + fabs(fd[i]));
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

#define FD_H 1e-6
#define FD_TOL 1e-4

/* double forwards; each returns L = sum(y * c) */
static double rms_L(const double *x, const double *w, const double *c, int n, int d, double eps) {
    double L = 0;
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
        double r = 1.0 / sqrt(ss / d + eps);
        for (int j = 0; j < d; j++) L += x[i * d + j] * r * w[j] * c[i * d + j];
    }
    return L;
}

static void fd_vec(double (*f)(void *), void *ctx, double *x, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        double s = x[i];
        x[i] = s + FD_H;
        double p = f(ctx);
        x[i] = s - FD_H;
        double m = f(ctx);
        x[i] = s;
        out[i] = (p - m) / (2 * FD_H);
    }
}

struct rms_ctx {
    double *x, *w, *c;
    int n, d;
    double eps;
};
static double rms_f(void *p) {
    struct rms_ctx *c = p;
    return rms_L(c->x, c->w, c->c, c->n, c->d, c->eps);
}

static void test_rmsnorm_fd(um_rng *r) {
    enum { n = 5, d = 13 };
    float x[n * d], w[d], c[n * d], y[n * d], rr[n], dx[n * d] = {0}, dw[d] = {0};
    double xd[n * d], wd[d], cd[n * d], fdx[n * d], fdw[d];
    fill(x, n * d, r, 1.5);
    fill(c, n * d, r, 1.0);
    for (int j = 0; j < d; j++) w[j] = (float)(1.0 + 0.3 * frand(r));
    for (int i = 0; i < n * d; i++) xd[i] = x[i], cd[i] = c[i];
    for (int j = 0; j < d; j++) wd[j] = w[j];
    um_rmsnorm_fwd(y, rr, x, w, n, d, 1e-5f);
    float y2[n * d];
    um_rmsnorm(y2, x, w, n, d, 1e-5f);
    CHECK(memcmp(y, y2, sizeof y) == 0); /* same arithmetic as the inference op */
    um_rmsnorm_bwd(dx, dw, c, x, rr, w, n, d);
    struct rms_ctx ctx = {xd, wd, cd, n, d, (double)1e-5f};
    fd_vec(rms_f, &ctx, xd, n * d, fdx);
    fd_vec(rms_f, &ctx, wd, d, fdw);
    double ex = fd_err(dx, fdx, n * d), ew = fd_err(dw, fdw, d);
    printf("fd rmsnorm      dx %.2e  dw %.2e\n", ex, ew);
    CHECKF(ex <= FD_TOL && ew <= FD_TOL, "rmsnorm fd %.3g %.3g", ex, ew);
}

struct rope_ctx {
    double *x, *c;
    const float *cs, *sn;
    const int32_t *pos;
    int n, h, dh;
};
static double rope_f(void *p) {
    struct rope_ctx *c = p;
    int half = c->dh / 2;
    double L = 0;
    for (int i = 0; i < c->n; i++)
        for (int hh = 0; hh < c->h; hh++)
            for (int j = 0; j < half; j++) {
                int64_t o = ((int64_t)i * c->h + hh) * c->dh;
                double a = c->x[o + j], b = c->x[o + j + half];
                double co = c->cs[c->pos[i] * half + j], si = c->sn[c->pos[i] * half + j];
                L += (a * co - b * si) * c->c[o + j] + (b * co + a * si) * c->c[o + j + half];
            }
    return L;
}

static void test_rope_fd(um_rng *r) {
    enum { n = 4, h = 3, dh = 10, P = 16 };
    float cs[P * dh / 2], sn[P * dh / 2], dx[n * h * dh];
    double xd[n * h * dh], cd[n * h * dh], fdx[n * h * dh];
    int32_t pos[n] = {0, 7, 3, 15};
    um_rope_tables(cs, sn, P, dh, 10000.0f);
    for (int i = 0; i < n * h * dh; i++) {
        xd[i] = frand(r);
        cd[i] = frand(r);
        dx[i] = (float)cd[i];
    }
    um_rope_bwd(dx, n, h, dh, pos, cs, sn);
    struct rope_ctx ctx = {xd, cd, cs, sn, pos, n, h, dh};
    fd_vec(rope_f, &ctx, xd, n * h * dh, fdx);
    double e = fd_err(dx, fdx, n * h * dh);
    printf("fd rope         dx %.2e\n", e);
    CHECKF(e <= FD_TOL, "rope fd %.3g", e);
}

/* mask rules written out independently of ops_bwd.c */
static int rule(int kind, int bs, int t, int i, int j) {
    switch (kind) {
    case UM_MASK_FULL: return 1;
    case UM_MASK_CAUSAL: return j <= i;
    case UM_MASK_BLOCK_CAUSAL: return j / bs <= i / bs;
    default: {
        int n = t / 2;
        int qn = i < n, kn = j < n;
        int bi = (qn ? i : i - n) / bs, bj = (kn ? j : j - n) / bs;
        if (qn && kn) return bi == bj;
        if (qn && !kn) return bj < bi;
        if (!qn && !kn) return bj <= bi;
        return 0;
    }
    }
}

static void test_masks(void) {
    int bad = 0;
    for (int kind = 0; kind < 4; kind++)
        for (int t = 2; t <= 22; t += 2)
            for (int bs = 1; bs <= 7; bs++)
                for (int i = 0; i < t; i++)
                    for (int j = 0; j < t; j++)
                        bad += um_mask_visible(kind, bs, t, i, j) != rule(kind, bs, t, i, j);
    CHECKF(bad == 0, "%d mask entries differ from the written-out rules", bad);
}

struct attn_ctx {
    double *q, *k, *v, *c;
    int b, t, h, hkv, dh, kind, bs;
};
static double attn_f(void *p) {
    struct attn_ctx *c = p;
    const int qs = c->h * c->dh, ks = c->hkv * c->dh, grp = c->h / c->hkv;
    double L = 0, sc[64];
    for (int bb = 0; bb < c->b; bb++)
        for (int hh = 0; hh < c->h; hh++)
            for (int i = 0; i < c->t; i++) {
                const double *qi = c->q + (bb * c->t + i) * qs + hh * c->dh;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < c->t; j++) {
                    if (!rule(c->kind, c->bs, c->t, i, j)) continue;
                    const double *kj = c->k + (bb * c->t + j) * ks + (hh / grp) * c->dh;
                    double d = 0;
                    for (int e = 0; e < c->dh; e++) d += qi[e] * kj[e];
                    sc[j] = d / sqrt((double)c->dh);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < c->t; j++)
                    if (rule(c->kind, c->bs, c->t, i, j)) sum += exp(sc[j] - mx);
                for (int e = 0; e < c->dh; e++) {
                    double o = 0;
                    for (int j = 0; j < c->t; j++) {
                        if (!rule(c->kind, c->bs, c->t, i, j)) continue;
                        o += exp(sc[j] - mx) / sum *
                             c->v[(bb * c->t + j) * ks + (hh / grp) * c->dh + e];
                    }
                    L += o * c->c[(bb * c->t + i) * qs + hh * c->dh + e];
                }
            }
    return L;
}

static void test_attention_fd(um_rng *r) {
    enum { b = 2, t = 10, h = 4, hkv = 2, dh = 6, bs = 3 };
    enum { NQ = b * t * h * dh, NK = b * t * hkv * dh, NL = b * h * t };
    static float q[NQ], k[NK], v[NK], out[NQ], out_ref[NQ], lse[NL], lse_ref[NL], dq[NQ],
        dk[NK], dv[NK], c[NQ];
    static double qd[NQ], kd[NK], vd[NK], cd[NQ], fq[NQ], fk[NK], fv[NK];
    size_t ns = um_flash_scratch_floats(t, t, h, hkv, dh);
    size_t nb = um_flash_bwd_scratch_floats(t, h, hkv, dh);
    float *scr = malloc((ns > nb ? ns : nb) * sizeof(float));
    for (int kind = 0; kind < 4; kind++) {
        fill(q, NQ, r, 1.5);
        fill(k, NK, r, 1.5);
        fill(v, NK, r, 1.0);
        fill(c, NQ, r, 1.0);
        for (int i = 0; i < NQ; i++) qd[i] = q[i], cd[i] = c[i];
        for (int i = 0; i < NK; i++) kd[i] = k[i], vd[i] = v[i];
        um_flash_fwd(out, lse, q, k, v, b, t, 0, t, h, hkv, dh, kind, bs, scr);
        um_flash_fwd_ref(out_ref, lse_ref, q, k, v, b, t, 0, t, h, hkv, dh, kind, bs, scr);
        double fwd_diff = 0;
        for (int i = 0; i < NQ; i++) fwd_diff = fmax(fwd_diff, fabs(out[i] - out_ref[i]));
        for (int i = 0; i < NL; i++) fwd_diff = fmax(fwd_diff, fabs(lse[i] - lse_ref[i]));
        CHECKF(fwd_diff <= 1e-5, "attention kind %d: fwd vs ref %.3g", kind, fwd_diff);
        um_flash_bwd(dq, dk, dv, c, out, lse, q, k, v, b, t, h, hkv, dh, kind, bs, scr);
        struct attn_ctx ctx = {qd, kd, vd, cd, b, t, h, hkv, dh, kind, bs};
        fd_vec(attn_f, &ctx, qd, NQ, fq);
        fd_vec(attn_f, &ctx, kd, NK, fk);
        fd_vec(attn_f, &ctx, vd, NK, fv);
        double eq = fd_err(dq, fq, NQ), ek = fd_err(dk, fk, NK), ev = fd_err(dv, fv, NK);
        printf("fd attention %-12s dq %.2e  dk %.2e  dv %.2e  (fwd vs ref %.1e)\n",
               KINDS[kind], eq, ek, ev, fwd_diff);
        CHECKF(eq <= FD_TOL && ek <= FD_TOL && ev <= FD_TOL, "attention kind %d fd %.3g %.3g %.3g",
               kind, eq, ek, ev);
    }
    free(scr);
}

struct swi_ctx {
    double *g, *u, *c;
    int n;
};
static double swi_f(void *p) {
    struct swi_ctx *c = p;
    double L = 0;
    for (int i = 0; i < c->n; i++) L += c->g[i] / (1 + exp(-c->g[i])) * c->u[i] * c->c[i];
    return L;
}

static void test_swiglu_fd(um_rng *r) {
    enum { n = 37 };
    float g[n], u[n], c[n], dg[n], du[n];
    double gd[n], ud[n], cd[n], fg[n], fu[n];
    fill(g, n, r, 4.0);
    fill(u, n, r, 2.0);
    fill(c, n, r, 1.0);
    for (int i = 0; i < n; i++) gd[i] = g[i], ud[i] = u[i], cd[i] = c[i];
    um_swiglu_bwd(dg, du, c, g, u, n);
    struct swi_ctx ctx = {gd, ud, cd, n};
    fd_vec(swi_f, &ctx, gd, n, fg);
    fd_vec(swi_f, &ctx, ud, n, fu);
    double eg = fd_err(dg, fg, n), eu = fd_err(du, fu, n);
    printf("fd swiglu       dg %.2e  du %.2e\n", eg, eu);
    CHECKF(eg <= FD_TOL && eu <= FD_TOL, "swiglu fd %.3g %.3g", eg, eu);
}

struct ce_ctx {
    double *z;
    const int32_t *tg;
    const float *w;
    int r, v;
};
static double ce_f(void *p) {
    struct ce_ctx *c = p;
    double L = 0;
    for (int i = 0; i < c->r; i++) {
        double mx = -INFINITY, s = 0;
        for (int j = 0; j < c->v; j++) mx = fmax(mx, c->z[i * c->v + j]);
        for (int j = 0; j < c->v; j++) s += exp(c->z[i * c->v + j] - mx);
        L += c->w[i] * (mx + log(s) - c->z[i * c->v + c->tg[i]]);
    }
    return L;
}

static void test_ce_fd(um_rng *r) {
    enum { R = 4, V = 19 };
    float z[R * V], z0[R * V], w[R] = {1.0f, 0.5f, 2.5f, 0.125f};
    int32_t tg[R] = {0, 18, 7, 7};
    double zd[R * V], fz[R * V];
    fill(z, R * V, r, 5.0);
    memcpy(z0, z, sizeof z);
    for (int i = 0; i < R * V; i++) zd[i] = z[i];
    struct ce_ctx ctx = {zd, tg, w, R, V};
    const double scale = 0.25;
    double loss = um_softmax_ce(z, tg, w, R, V, scale, true);
    double ref = ce_f(&ctx);
    CHECKF(fabs(loss - ref) <= 1e-5 * fabs(ref), "ce loss %.9g vs %.9g", loss, ref);
    double loss_fwd = um_softmax_ce(z0, tg, w, R, V, scale, false);
    CHECK(loss_fwd == loss);
    fd_vec(ce_f, &ctx, zd, R * V, fz);
    for (int i = 0; i < R * V; i++) fz[i] *= scale;
    double e = fd_err(z, fz, R * V);
    printf("fd softmax-CE   dz %.2e  (loss |diff| %.1e)\n", e, fabs(loss - ref));
    CHECKF(e <= FD_TOL, "ce fd %.3g", e);
}

static void test_embed_bwd(um_rng *r) {
    enum { n = 9, d = 70, V = 5 };
    int32_t tok[n] = {0, 3, 3, 1, 4, 3, 0, 2, 4};
    float dx[n * d], de[V * d] = {0};
    double ref[V * d] = {0};
    fill(dx, n * d, r, 1.0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) ref[tok[i] * d + j] += dx[i * d + j];
    um_embed_bwd(de, dx, tok, n, d);
    double e = 0;
    for (int i = 0; i < V * d; i++) e = fmax(e, fabs(de[i] - ref[i]));
    printf("fd embedding    dE %.2e (the gradient is a scatter-add: exact up to order)\n", e);
    CHECKF(e <= 1e-6, "embedding bwd %.3g", e);
    float db[d] = {0};
    um_colsum_acc(db, dx, n, d);
    double eb = 0;
    for (int j = 0; j < d; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += dx[i * d + j];
        eb = fmax(eb, fabs(db[j] - s));
    }
    CHECKF(eb <= 1e-5, "colsum %.3g", eb);
}

/* ------------------------------------------------------------------ whole-model fd (fp32) */

static void whole_model_fd(enum um_family fam, enum um_attn_kind kind, bool tied) {
    struct um_model_info in;
    memset(&in, 0, sizeof in);
    in.family = fam;
    in.n_vocab = 23;
    in.n_embd = 16;
    in.n_layer = 2;
    in.n_head = 4;
    in.n_head_kv = 2;
    in.head_dim = 4;
    in.n_ff = 20;
    in.rope_theta = 10000.0f;
    in.norm_eps = 1e-5f;
    in.qkv_bias = fam == UM_FAMILY_DREAM;
    in.tied_embeddings = tied;
    in.mask_id = 22;
    in.bos_id = in.eos_id = in.eot_id = in.pad_id = -1;
    enum { B = 2, T = 8 };
    um_tmodel *tm = NULL;
    enum um_status st = um_tmodel_init(&in, B, T, 99, 0.3f, &tm);
    CHECKF(st == UM_OK, "init: %s", um_last_error());
    if (!tm) return;
    um_rng r;
    um_rng_seed(&r, 5, 1);
    float *w = um_tmodel_weights(tm);
    for (int64_t i = 0; i < um_tmodel_n_params(tm); i++) w[i] += (float)(0.1 * frand(&r));
    int32_t tok[B * T], pos[B * T], tg[B * T];
    float wt[B * T];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int32_t)(um_rng_u32(&r) % 23);
        pos[i] = kind == UM_ATTN_BD3 ? (i % T) % (T / 2) : i % T;
        tg[i] = (int32_t)(um_rng_u32(&r) % 23);
        wt[i] = (kind == UM_ATTN_BD3 && i % T >= T / 2) ? 0.0f : (float)(0.5 + um_rng_uniform(&r));
    }
    struct um_attn_spec as = {kind, 3};
    double loss;
    um_tmodel_zero_grads(tm);
    st = um_tmodel_step(tm, tok, pos, tg, wt, B, T, &as, B * T, true, &loss);
    CHECKF(st == UM_OK, "step: %s", um_last_error());
    const float *g = um_tmodel_grads(tm);
    double worst = 0;
    int n_checked = 0, bad = 0;
    const float h = 1e-2f;
    for (int ti = 0; ti < um_tmodel_n_tensors(tm); ti++) {
        const struct um_tparam *p = um_tmodel_tensor(tm, ti);
        const int64_t n = p->shape[0] * p->shape[1];
        for (int s = 0; s < 4; s++) {
            const int64_t j = p->offset + (int64_t)(um_rng_u32(&r) % (uint32_t)n);
            const float keep = w[j];
            double lp, lm;
            w[j] = keep + h;
            um_tmodel_step(tm, tok, pos, tg, wt, B, T, &as, B * T, false, &lp);
            w[j] = keep - h;
            um_tmodel_step(tm, tok, pos, tg, wt, B, T, &as, B * T, false, &lm);
            w[j] = keep;
            const double fd = (lp - lm) / (2.0 * h);
            const double err = fabs(fd - g[j]);
            if (!(err <= 3e-3 + 3e-2 * fabs(g[j]))) {
                bad++;
                fprintf(stderr, "  %s[%lld]: analytic %.6g fd %.6g\n", p->name,
                        (long long)(j - p->offset), (double)g[j], fd);
            }
            if (err > worst) worst = err;
            n_checked++;
        }
    }
    printf("fd whole model  %s %s%s: %d entries, max |analytic - fd| %.2e\n",
           um_family_str(fam), KINDS[kind], tied ? " tied" : "", n_checked, worst);
    CHECKF(bad == 0, "whole-model fd: %d of %d entries out of tolerance", bad, n_checked);
    um_tmodel_free(tm);
}

int main(void) {
    um_set_threads(2);
    um_rng r;
    um_rng_seed(&r, 1234, 0);
    test_masks();
    test_rmsnorm_fd(&r);
    test_rope_fd(&r);
    test_attention_fd(&r);
    test_swiglu_fd(&r);
    test_ce_fd(&r);
    test_embed_bwd(&r);
    whole_model_fd(UM_FAMILY_DREAM, UM_ATTN_BD3, false);
    whole_model_fd(UM_FAMILY_LLADA, UM_ATTN_BLOCK_CAUSAL, true);
    whole_model_fd(UM_FAMILY_LLAMA, UM_ATTN_CAUSAL, false);
    for (size_t c = 0; c < sizeof CONFIGS / sizeof *CONFIGS; c++)
        for (size_t k = 0; k < sizeof KINDS / sizeof *KINDS; k++)
            oracle_case(CONFIGS[c], KINDS[k], false);
    oracle_case("llada_mha", "bd3", true);
    oracle_case("dream_gqa", "full", true);
    printf("oracle: worst loss |diff| %.2e, worst gradient max|diff| %.2e "
           "(tolerance 1e-4 + 1e-3 |ref| per element)\n", worst_case_loss, worst_case_grad);
    return TEST_DONE();
}

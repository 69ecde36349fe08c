/*
 * test_optim.c: the optimisers of src/optim/ against PyTorch trajectories and hand checks.
 *
 * Oracle (tests/oracle/gen_optim.py -> UM_TESTDATA/optim/<name>.safetensors): initial weights,
 * ten steps of gradients with a decaying lr multiplier, and the weights after every step from
 * torch.optim.AdamW (also for the AdamW fallback of Muon/OrScale) and plain-torch Muon, LAMB,
 * OrScale-LM and plain OrScale. Tolerances, relative to the tensor's max |weight|:
 *   AdamW and every AdamW-fallback tensor  1e-6 (expected: 0, bit-exact with the same torch)
 *   LAMB                                   1e-5 (norms summed in double here, fp32 in torch)
 *   Muon / OrScale matrices (Newton-Schulz) 1e-4 (GEMM summation order; NS amplifies it)
 * Hand checks: Newton-Schulz singular values equal the scalar polynomial applied to the
 * input's (Jacobi SVD below) and lie in the schedule's band; NS is invariant to input scale and
 * commutes with transposition; OrScale-LM's ratio is 1 at the first step; OrScale-LM with the
 * ratio pinned to 1 and lambda 0 is Muon with Moonlight scaling, step for step; LAMB's ratio
 * fallback and clamp; state round trip into a fresh optimiser is bit-exact; results do not
 * depend on the thread count (no GEMM involved); error paths.
 */
#include "base/base.h"
#include "io/safetensors.h"
#include "optim/optim-impl.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef UM_TESTDATA
#define UM_TESTDATA "testdata"
#endif

#define MAX_T 16

/* ------------------------------------------------------------------ oracle files */

struct traj {
    um_st_set *set;
    cJSON *meta, *params, *kinds, *shapes, *lr_scale;
    int steps;
    bool lerp; /* adamw_ema of the torch that wrote it */
};

static cJSON *meta_json(cJSON *meta, const char *key) {
    cJSON *s = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsString(s) ? cJSON_Parse(s->valuestring) : NULL;
}

static bool traj_open(const char *name, struct traj *tr) {
    memset(tr, 0, sizeof *tr);
    char path[512];
    snprintf(path, sizeof path, "%s/optim/%s.safetensors", UM_TESTDATA, name);
    if (!um_file_exists(path)) {
        fprintf(stderr, "FAIL: oracle file %s is missing: run /usr/bin/python3 "
                        "tests/oracle/gen_optim.py --out %s (or ctest, whose oracle_data "
                        "fixture runs make_all.py)\n", path, UM_TESTDATA);
        return false;
    }
    enum um_status st = um_st_open_file(path, &tr->set);
    CHECKF(st == UM_OK, "%s", um_last_error());
    if (st != UM_OK) return false;
    /* the metadata: parse the JSON header ourselves */
    char *buf = NULL;
    size_t len = 0;
    if (um_read_file(path, (size_t)64 << 20, &buf, &len) != UM_OK || len < 8) {
        free(buf);
        return false;
    }
    uint64_t hn = 0;
    memcpy(&hn, buf, 8);
    cJSON *hdr = hn <= len - 8 ? cJSON_ParseWithLength(buf + 8, (size_t)hn) : NULL;
    free(buf);
    if (!hdr) return false;
    tr->meta = cJSON_DetachItemFromObjectCaseSensitive(hdr, "__metadata__");
    cJSON_Delete(hdr);
    if (!tr->meta) return false;
    tr->params = meta_json(tr->meta, "params");
    tr->kinds = meta_json(tr->meta, "kinds");
    tr->shapes = meta_json(tr->meta, "shapes");
    tr->lr_scale = meta_json(tr->meta, "lr_scale");
    cJSON *steps = meta_json(tr->meta, "steps");
    tr->steps = cJSON_IsNumber(steps) ? steps->valueint : 0;
    cJSON_Delete(steps);
    cJSON *ema = cJSON_GetObjectItemCaseSensitive(tr->meta, "adamw_ema");
    tr->lerp = cJSON_IsString(ema) && strcmp(ema->valuestring, "lerp") == 0;
    return tr->params && tr->kinds && tr->shapes && tr->lr_scale && tr->steps > 0;
}

static void traj_close(struct traj *tr) {
    um_st_close(tr->set);
    cJSON_Delete(tr->meta);
    cJSON_Delete(tr->params);
    cJSON_Delete(tr->kinds);
    cJSON_Delete(tr->shapes);
    cJSON_Delete(tr->lr_scale);
}

static const float *ref_f32(const struct traj *tr, const char *fmt, int k, const char *t,
                            int64_t n) {
    char name[200];
    if (k >= 0)
        snprintf(name, sizeof name, fmt, k, t);
    else
        snprintf(name, sizeof name, fmt, t);
    const um_st_tensor *x = um_st_find(tr->set, name);
    CHECKF(x && x->dtype == UM_DTYPE_F32 && x->n_elems == n, "oracle tensor %s", name);
    return x && x->dtype == UM_DTYPE_F32 && x->n_elems == n ? (const float *)x->data : NULL;
}

static double num(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1.0 : 0.0;
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static enum um_param_kind kind_of(const char *s) {
    if (strcmp(s, "matrix") == 0) return UM_PARAM_MATRIX;
    if (strcmp(s, "embed") == 0) return UM_PARAM_EMBED;
    if (strcmp(s, "head") == 0) return UM_PARAM_HEAD;
    return UM_PARAM_VECTOR;
}

static struct um_optim_params params_of(const struct traj *tr) {
    const cJSON *p = tr->params;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(p, "kind");
    const char *ks = cJSON_IsString(k) ? k->valuestring : "";
    enum um_optim_kind kind = strcmp(ks, "muon") == 0      ? UM_OPTIM_MUON
                              : strcmp(ks, "lamb") == 0    ? UM_OPTIM_LAMB
                              : strcmp(ks, "orscale") == 0 ? UM_OPTIM_ORSCALE
                                                           : UM_OPTIM_ADAMW;
    struct um_optim_params q = um_optim_default_params(kind);
    q.lr = num(p, "lr", q.lr);
    q.beta1 = num(p, "beta1", q.beta1);
    q.beta2 = num(p, "beta2", q.beta2);
    q.eps = num(p, "eps", q.eps);
    q.weight_decay = num(p, "weight_decay", q.weight_decay);
    q.momentum = num(p, "momentum", q.momentum);
    q.nesterov = num(p, "nesterov", q.nesterov) != 0.0;
    q.ns_steps = (int)num(p, "ns_steps", q.ns_steps);
    q.adamw_lr = num(p, "adamw_lr", q.adamw_lr);
    q.adamw_weight_decay = num(p, "adamw_weight_decay", q.adamw_weight_decay);
    q.clip_min = num(p, "clip_min", q.clip_min);
    q.clip_max = num(p, "clip_max", q.clip_max);
    q.orscale_lm = num(p, "orscale_lm", q.orscale_lm) != 0.0;
    q.lamb_clamp = num(p, "lamb_clamp", q.lamb_clamp);
    q.adamw_ema = tr->lerp ? UM_ADAMW_EMA_LERP : UM_ADAMW_EMA_MULADD;
    const cJSON *ema = cJSON_GetObjectItemCaseSensitive(p, "adamw_ema"); /* forced form */
    if (cJSON_IsString(ema))
        q.adamw_ema = strcmp(ema->valuestring, "lerp") == 0 ? UM_ADAMW_EMA_LERP
                                                            : UM_ADAMW_EMA_MULADD;
    return q;
}

static int64_t ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* Run one oracle trajectory; returns false if the file is unusable. */
static bool check_trajectory(const char *name) {
    struct traj tr;
    if (!traj_open(name, &tr)) {
        CHECKF(false, "oracle %s unusable", name);
        traj_close(&tr);
        return false;
    }
    struct um_optim_params p = params_of(&tr);
    struct um_optim_tensor t[MAX_T];
    char *names[MAX_T];
    float *g[MAX_T];
    int n = 0;
    const cJSON *sh;
    cJSON_ArrayForEach(sh, tr.shapes) {
        if (n == MAX_T) break;
        const cJSON *kd = cJSON_GetObjectItemCaseSensitive(tr.kinds, sh->string);
        int nd = cJSON_GetArraySize(sh);
        int64_t rows = (int64_t)cJSON_GetArrayItem(sh, 0)->valuedouble;
        int64_t cols = nd > 1 ? (int64_t)cJSON_GetArrayItem(sh, 1)->valuedouble : 1;
        names[n] = strdup(sh->string);
        t[n] = (struct um_optim_tensor){.name = names[n],
                                        .kind = kind_of(cJSON_IsString(kd) ? kd->valuestring
                                                                           : "vector"),
                                        .rows = rows, .cols = cols};
        t[n].w = malloc((size_t)(rows * cols) * sizeof(float));
        g[n] = malloc((size_t)(rows * cols) * sizeof(float));
        t[n].g = g[n];
        const float *w0 = ref_f32(&tr, "w.0.%s", -1, names[n], rows * cols);
        if (w0) memcpy(t[n].w, w0, (size_t)(rows * cols) * sizeof(float));
        n++;
    }
    um_optim *o = NULL;
    enum um_status st = um_optim_create(&p, t, n, &o);
    CHECKF(st == UM_OK, "%s: %s", name, um_last_error());
    bool ortho = p.kind == UM_OPTIM_MUON || p.kind == UM_OPTIM_ORSCALE;
    double tol_ns = 1e-4, tol_elem = p.kind == UM_OPTIM_LAMB ? 1e-5 : 1e-6;
    double max_ns = 0, max_elem = 0, max_abs = 0, max_ratio = 0;
    int64_t max_ulp = 0;
    for (int k = 0; o && k < tr.steps; k++) {
        for (int i = 0; i < n; i++) {
            const float *gk = ref_f32(&tr, "g.%d.%s", k, names[i], t[i].rows * t[i].cols);
            if (gk) memcpy(g[i], gk, (size_t)(t[i].rows * t[i].cols) * sizeof(float));
        }
        double sc = cJSON_GetArrayItem(tr.lr_scale, k)->valuedouble;
        CHECK(um_optim_step(o, sc) == UM_OK);
        for (int i = 0; i < n; i++) {
            int64_t ne = t[i].rows * t[i].cols;
            const float *ref = ref_f32(&tr, "w.%d.%s", k + 1, names[i], ne);
            if (!ref) continue;
            double mref = 0, md = 0;
            for (int64_t j = 0; j < ne; j++) {
                mref = fmax(mref, fabs(ref[j]));
                md = fmax(md, fabs((double)t[i].w[j] - ref[j]));
            }
            bool ns_path = ortho && t[i].kind == UM_PARAM_MATRIX;
            double rel = md / (mref > 0 ? mref : 1.0);
            max_abs = fmax(max_abs, md);
            if (ns_path) {
                max_ns = fmax(max_ns, rel);
            } else {
                max_elem = fmax(max_elem, rel);
                for (int64_t j = 0; j < ne; j++) {
                    int64_t u = ulp_diff(t[i].w[j], ref[j]);
                    if (u > max_ulp) max_ulp = u;
                }
            }
            CHECKF(rel <= (ns_path ? tol_ns : tol_elem), "%s step %d %s: max|diff| %.3g (rel %.3g)",
                   name, k, names[i], md, rel);
            if (p.kind == UM_OPTIM_ORSCALE && t[i].kind == UM_PARAM_MATRIX) {
                const float *rr = ref_f32(&tr, "ratio.%d.%s", k, names[i], 2);
                struct um_optim_diag d;
                CHECK(um_optim_diag_get(o, i, &d) == UM_OK && d.valid);
                if (rr) {
                    max_ratio = fmax(max_ratio, fabs(d.ratio_raw - rr[0]));
                    CHECKF(fabs(d.ratio_raw - rr[0]) <= 1e-4 && fabs(d.ratio - rr[1]) <= 1e-4,
                           "%s step %d %s: ratio %.7f/%.7f vs torch %.7f/%.7f", name, k,
                           names[i], d.ratio_raw, d.ratio, rr[0], rr[1]);
                }
                if (k == 0 && p.orscale_lm)
                    CHECKF(fabs(d.ratio_raw - 1.0) <= 1e-6, "%s: first-step ratio %.9f",
                           name, d.ratio_raw);
            }
        }
    }
    if (o && p.kind == UM_OPTIM_ORSCALE) {
        for (int i = 0; i < n; i++) {
            if (t[i].kind != UM_PARAM_MATRIX) continue;
            const float *cr = ref_f32(&tr, "c.%s", -1, names[i], 1);
            struct um_optim_diag d;
            um_optim_diag_get(o, i, &d);
            if (cr) CHECKF(fabs(d.c - cr[0]) <= 1e-5 * fabs(cr[0]), "%s %s: c %.8g vs %.8g",
                           name, names[i], d.c, (double)cr[0]);
        }
    }
    if (o) {
        CHECK(um_optim_steps(o) == tr.steps);
        printf("optim %-14s vs torch %s (AdamW first moment: %s): max|diff| %.3g; rel: NS "
               "matrices %.3g, element-wise tensors %.3g (max %lld ulp)%s",
               name, cJSON_GetObjectItemCaseSensitive(tr.meta, "torch")->valuestring,
               p.adamw_ema == UM_ADAMW_EMA_LERP ? "lerp" : "mul-add", max_abs, max_ns, max_elem, (long long)max_ulp,
               p.kind == UM_OPTIM_ORSCALE ? "" : "\n");
        if (p.kind == UM_OPTIM_ORSCALE) printf("; ratio max|diff| %.3g\n", max_ratio);
    }
    um_optim_free(o);
    for (int i = 0; i < n; i++) {
        free(t[i].w);
        free(g[i]);
        free(names[i]);
    }
    traj_close(&tr);
    return true;
}

/* ------------------------------------------------------------------ helpers */

static void randn(um_rng *r, float *x, int64_t n, double sd) {
    for (int64_t i = 0; i < n; i++) {
        double u1 = um_rng_uniform(r), u2 = um_rng_uniform(r);
        x[i] = (float)(sd * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

/* Eigenvalues of the symmetric s [n][n] (destroyed) by cyclic Jacobi rotations, ascending. */
static void jacobi_eig(double *s, int n, double *ev) {
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) off += s[i * n + j] * s[i * n + j];
        if (off < 1e-30) break;
        for (int p = 0; p < n; p++) {
            for (int q = p + 1; q < n; q++) {
                double apq = s[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double th = (s[q * n + q] - s[p * n + p]) / (2 * apq);
                double tt = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(tt * tt + 1), sn = tt * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = s[k * n + p], akq = s[k * n + q];
                    s[k * n + p] = c * akp - sn * akq;
                    s[k * n + q] = sn * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = s[p * n + k], aqk = s[q * n + k];
                    s[p * n + k] = c * apk - sn * aqk;
                    s[q * n + k] = sn * apk + c * aqk;
                }
            }
        }
    }
    for (int i = 0; i < n; i++) ev[i] = s[i * n + i];
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && ev[j] < ev[j - 1]; j--) {
            double tmp = ev[j];
            ev[j] = ev[j - 1];
            ev[j - 1] = tmp;
        }
}

/* Singular values (ascending) of x [r][c], r <= c, via the eigenvalues of x x^T. */
static void singular_values(const float *x, int r, int c, double *sv) {
    double *s = malloc((size_t)r * r * sizeof(double));
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) {
            double a = 0;
            for (int k = 0; k < c; k++) a += (double)x[i * c + k] * x[j * c + k];
            s[i * r + j] = a;
        }
    jacobi_eig(s, r, sv);
    for (int i = 0; i < r; i++) sv[i] = sqrt(fmax(sv[i], 0));
    free(s);
}

static const double PE[5][3] = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
};

static double poly_iter(double s, enum um_ns_schedule sch, int steps) {
    for (int k = 0; k < steps; k++) {
        const double *c = sch == UM_NS_QUINTIC ? (const double[3]){3.4445, -4.7750, 2.0315}
                                               : PE[k];
        s = c[0] * s + c[1] * s * s * s + c[2] * s * s * s * s * s;
    }
    return s;
}

/* ------------------------------------------------------------------ hand checks */

static void test_ns(void) {
    const int R = 24, C = 40;
    um_rng rng;
    um_rng_seed(&rng, 7, 0);
    float *g = malloc(R * C * sizeof(float)), *gt = malloc(R * C * sizeof(float));
    float *x = malloc(R * C * sizeof(float)), *y = malloc(R * C * sizeof(float));
    float *ws = malloc(um_ns_workspace_floats(R, C) * sizeof(float));
    randn(&rng, g, R * C, 1.0);
    double sin_[24], sout[24];
    singular_values(g, R, C, sin_);
    double fro = 0;
    for (int i = 0; i < R * C; i++) fro += (double)g[i] * g[i];
    fro = sqrt(fro);
    for (int sch = 0; sch < 2; sch++) {
        enum um_ns_schedule s = sch ? UM_NS_POLAR_EXPRESS : UM_NS_QUINTIC;
        um_ns_orthogonalize(g, R, C, s, 5, ws, x);
        singular_values(x, R, C, sout);
        double maxd = 0, lo = 1e9, hi = 0, want[24];
        for (int i = 0; i < R; i++)
            want[i] = poly_iter(sin_[i] / (s == UM_NS_QUINTIC ? fro + 1e-7 : fro * 1.02 + 1e-6),
                                s, 5);
        for (int i = 1; i < R; i++) /* the iterated polynomial is not monotone: sort */
            for (int j = i; j > 0 && want[j] < want[j - 1]; j--) {
                double tmp = want[j];
                want[j] = want[j - 1];
                want[j - 1] = tmp;
            }
        for (int i = 0; i < R; i++) {
            maxd = fmax(maxd, fabs(sout[i] - want[i]));
            lo = fmin(lo, sout[i]);
            hi = fmax(hi, sout[i]);
        }
        CHECKF(maxd < 1e-4, "NS %d: singular values differ from the scalar polynomial by %g", sch,
               maxd);
        /* the bands: KJ quintic ~[0.68, 1.13] (KJ: "S'_ii ~ Uniform(0.5, 1.5)"); Polar
         * Express after five steps: close to 1 */
        if (s == UM_NS_QUINTIC)
            CHECKF(lo > 0.5 && hi < 1.5, "quintic NS singular values in [%g, %g]", lo, hi);
        else
            CHECKF(lo > 0.8 && hi < 1.2, "Polar Express singular values in [%g, %g]", lo, hi);
        printf("ns %-13s singular values in [%.4f, %.4f] (input cond %.1f); max |s - p(s)| %.2g\n",
               sch ? "polar-express" : "quintic", lo, hi, sin_[R - 1] / sin_[0], maxd);
        /* invariance to the input's scale */
        float *gs = malloc(R * C * sizeof(float));
        for (int i = 0; i < R * C; i++) gs[i] = g[i] * 37.25f;
        um_ns_orthogonalize(gs, R, C, s, 5, ws, y);
        double md = 0, mx = 0;
        for (int i = 0; i < R * C; i++) {
            md = fmax(md, fabs((double)x[i] - y[i]));
            mx = fmax(mx, fabs(x[i]));
        }
        CHECKF(md <= 1e-5 * mx, "NS scale invariance: %g", md);
        free(gs);
        /* transpose symmetry: NS(G^T) = NS(G)^T (the same computation, so exactly) */
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) gt[j * R + i] = g[i * C + j];
        um_ns_orthogonalize(gt, C, R, s, 5, ws, y);
        int same = 1;
        for (int i = 0; i < R; i++)
            for (int j = 0; j < C; j++) same &= y[j * R + i] == x[i * C + j];
        CHECKF(same, "NS transpose symmetry (schedule %d)", sch);
    }
    free(g);
    free(gt);
    free(x);
    free(y);
    free(ws);
}

/* OrScale-LM with r_hat pinned to 1 (clip [1, 1]) and lambda 0 is Muon with Moonlight's shape
 * scale and accumulating Nesterov momentum (OrScale repo muon.py moonlight_rms=True). */
static void test_orscale_is_moonlight(void) {
    const int R = 40, C = 24, N = R * C;
    um_rng rng;
    um_rng_seed(&rng, 11, 0);
    float *w = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float));
    float *wr = malloc(N * sizeof(float)), *m = calloc(N, sizeof(float));
    float *u = malloc(N * sizeof(float)), *q = malloc(N * sizeof(float));
    float *ws = malloc(um_ns_workspace_floats(R, C) * sizeof(float));
    randn(&rng, w, N, 0.05);
    memcpy(wr, w, N * sizeof(float));
    struct um_optim_tensor t = {.name = "w", .kind = UM_PARAM_MATRIX, .rows = R, .cols = C,
                                .w = w, .g = g};
    struct um_optim_params p = um_optim_default_params(UM_OPTIM_ORSCALE);
    p.weight_decay = 0.0, p.clip_min = 1.0, p.clip_max = 1.0, p.lr = 3e-3;
    um_optim *o = NULL;
    CHECK(um_optim_create(&p, &t, 1, &o) == UM_OK);
    double s = 0.2 * sqrt((double)R);
    int64_t max_ulp = 0;
    for (int k = 0; o && k < 4; k++) {
        randn(&rng, g, N, 0.1);
        CHECK(um_optim_step(o, 1.0) == UM_OK);
        for (int i = 0; i < N; i++) {
            m[i] = m[i] * 0.95f + g[i];
            u[i] = m[i] * 0.95f + g[i];
        }
        um_ns_orthogonalize(u, R, C, UM_NS_POLAR_EXPRESS, 5, ws, q);
        float a = (float)(-p.lr * s);
        for (int i = 0; i < N; i++) wr[i] = fmaf(q[i], a, wr[i]);
        for (int i = 0; i < N; i++) {
            int64_t d = ulp_diff(w[i], wr[i]);
            if (d > max_ulp) max_ulp = d;
        }
    }
    CHECKF(max_ulp <= 1, "OrScale(r=1, lambda=0) vs Muon+Moonlight: %lld ulp", (long long)max_ulp);
    um_optim_free(o);
    free(w), free(g), free(wr), free(m), free(u), free(q), free(ws);
}

static void test_lamb_fallback(void) {
    const int N = 64;
    float w[64], g[64], w2[64], g2[64];
    um_rng rng;
    um_rng_seed(&rng, 3, 0);
    randn(&rng, g, N, 0.1);
    memset(w, 0, sizeof w);
    randn(&rng, w2, N, 0.5);
    memset(g2, 0, sizeof g2);
    struct um_optim_tensor t[2] = {
        {.name = "zero_w", .kind = UM_PARAM_MATRIX, .rows = 8, .cols = 8, .w = w, .g = g},
        {.name = "zero_g", .kind = UM_PARAM_MATRIX, .rows = 8, .cols = 8, .w = w2, .g = g2},
    };
    struct um_optim_params p = um_optim_default_params(UM_OPTIM_LAMB);
    um_optim *o = NULL;
    CHECK(um_optim_create(&p, t, 2, &o) == UM_OK);
    CHECK(o && um_optim_step(o, 1.0) == UM_OK);
    struct um_optim_diag d0, d1;
    CHECK(um_optim_diag_get(o, 0, &d0) == UM_OK && um_optim_diag_get(o, 1, &d1) == UM_OK);
    /* ||W|| = 0: ratio 1, W = -lr m_hat/(sqrt(v_hat)+eps) ~ -lr sign(g) */
    CHECKF(d0.ratio == 1.0 && d0.w_norm == 0.0, "zero-weight ratio %g", d0.ratio);
    double md = 0;
    for (int i = 0; i < N; i++) {
        double want = -p.lr * (double)g[i] / (fabs((double)g[i]) + p.eps);
        md = fmax(md, fabs(w[i] - want));
    }
    CHECKF(md < 1e-6, "zero-weight LAMB step off by %g", md);
    /* G = 0: u = wd W, ratio ||W|| / (wd ||W||) = 100, clamped at 10 */
    CHECKF(d1.ratio == 10.0 && d1.clipped && fabs(d1.ratio_raw - 100.0) < 1e-3,
           "zero-gradient ratio raw %g applied %g", d1.ratio_raw, d1.ratio);
    um_optim_free(o);
}

static void fill_set(um_rng *rng, struct um_optim_tensor *t, float **w, float **g, int copy) {
    static const struct {
        const char *name;
        enum um_param_kind kind;
        int r, c;
    } S[5] = {{"a.q", UM_PARAM_MATRIX, 24, 40}, {"a.o", UM_PARAM_MATRIX, 40, 24},
              {"emb", UM_PARAM_EMBED, 30, 8},   {"head", UM_PARAM_HEAD, 30, 8},
              {"norm", UM_PARAM_VECTOR, 8, 1}};
    for (int i = 0; i < 5; i++) {
        int n = S[i].r * S[i].c;
        if (!copy) {
            w[i] = malloc(n * sizeof(float));
            g[i] = malloc(n * sizeof(float));
            randn(rng, w[i], n, 0.1);
        }
        t[i] = (struct um_optim_tensor){.name = S[i].name, .kind = S[i].kind, .rows = S[i].r,
                                        .cols = S[i].c, .w = w[i], .g = g[i]};
    }
}

/* Run 3 steps, copy the state into a fresh optimiser with copied weights: the next step must
 * be identical, bit for bit. */
static void test_state_roundtrip(enum um_optim_kind kind, bool lm) {
    um_rng rng;
    um_rng_seed(&rng, 21, (uint64_t)kind);
    struct um_optim_tensor ta[5], tb[5];
    float *wa[5], *ga[5], *wb[5], *gb[5];
    fill_set(&rng, ta, wa, ga, 0);
    struct um_optim_params p = um_optim_default_params(kind);
    p.orscale_lm = lm;
    if (kind == UM_OPTIM_ORSCALE && !lm) p.clip_min = 0.5, p.clip_max = 1.5;
    um_optim *a = NULL, *b = NULL;
    CHECK(um_optim_create(&p, ta, 5, &a) == UM_OK);
    for (int k = 0; a && k < 3; k++) {
        for (int i = 0; i < 5; i++) randn(&rng, ga[i], ta[i].rows * ta[i].cols, 0.1);
        CHECK(um_optim_step(a, 1.0 - 0.1 * k) == UM_OK);
    }
    for (int i = 0; i < 5; i++) {
        size_t nb = (size_t)(ta[i].rows * ta[i].cols) * sizeof(float);
        wb[i] = malloc(nb);
        gb[i] = malloc(nb);
        memcpy(wb[i], wa[i], nb);
    }
    fill_set(&rng, tb, wb, gb, 1);
    CHECK(um_optim_create(&p, tb, 5, &b) == UM_OK);
    if (a && b) {
        CHECK(um_optim_state_count(a) == um_optim_state_count(b));
        int nst = um_optim_state_count(a);
        for (int i = 0; i < nst; i++) {
            const struct um_optim_state_buf *sa = um_optim_state_get(a, i);
            const struct um_optim_state_buf *sb = um_optim_state_get(b, i);
            CHECK(strcmp(sa->name, sb->name) == 0 && sa->n == sb->n);
            memcpy(sb->data, sa->data, (size_t)sa->n * sizeof(float));
        }
        CHECK(um_optim_state_get(a, nst) == NULL && um_optim_state_get(a, -1) == NULL);
        CHECK(um_optim_steps(b) == 3);
        for (int i = 0; i < 5; i++) {
            randn(&rng, ga[i], ta[i].rows * ta[i].cols, 0.1);
            memcpy(gb[i], ga[i], (size_t)(ta[i].rows * ta[i].cols) * sizeof(float));
        }
        CHECK(um_optim_step(a, 0.7) == UM_OK && um_optim_step(b, 0.7) == UM_OK);
        int same = 1;
        for (int i = 0; i < 5; i++)
            same &= memcmp(wa[i], wb[i], (size_t)(ta[i].rows * ta[i].cols) * sizeof(float)) == 0;
        for (int i = 0; i < nst; i++) {
            const struct um_optim_state_buf *sa = um_optim_state_get(a, i);
            const struct um_optim_state_buf *sb = um_optim_state_get(b, i);
            same &= memcmp(sa->data, sb->data, (size_t)sa->n * sizeof(float)) == 0;
        }
        CHECKF(same, "state round trip of %s is not bit-exact", um_optim_name(a));
        if (kind == UM_OPTIM_ORSCALE) { /* the calibration constant travels with the state */
            bool found = false;
            for (int i = 0; i < nst; i++)
                if (strcmp(um_optim_state_get(a, i)->name, "orscale_c.a.q") == 0)
                    found = um_optim_state_get(a, i)->data[0] > 0;
            CHECK(found);
        }
    }
    um_optim_free(a);
    um_optim_free(b);
    for (int i = 0; i < 5; i++) free(wa[i]), free(ga[i]), free(wb[i]), free(gb[i]);
}

/* Element-wise optimisers and norms do not depend on the thread count. */
static void test_threads(void) {
    const int64_t N = 3 * UM_OPTIM_BLOCK + 17;
    float *w1 = malloc(N * sizeof(float)), *w2 = malloc(N * sizeof(float));
    float *g = malloc(N * sizeof(float));
    um_rng rng;
    um_rng_seed(&rng, 5, 0);
    randn(&rng, w1, N, 0.2);
    memcpy(w2, w1, N * sizeof(float));
    for (int kind = UM_OPTIM_ADAMW; kind <= UM_OPTIM_LAMB; kind += UM_OPTIM_LAMB) {
        struct um_optim_params p = um_optim_default_params((enum um_optim_kind)kind);
        struct um_optim_tensor t1 = {.name = "x", .kind = UM_PARAM_MATRIX, .rows = N, .cols = 1,
                                     .w = w1, .g = g};
        struct um_optim_tensor t2 = t1;
        t2.w = w2;
        um_optim *a = NULL, *b = NULL;
        CHECK(um_optim_create(&p, &t1, 1, &a) == UM_OK && um_optim_create(&p, &t2, 1, &b) == UM_OK);
        int saved = um_get_threads();
        for (int k = 0; a && b && k < 3; k++) {
            randn(&rng, g, N, 0.1);
            um_set_threads(1);
            um_optim_step(a, 1.0);
            um_set_threads(2);
            um_optim_step(b, 1.0);
        }
        um_set_threads(saved);
        CHECKF(memcmp(w1, w2, N * sizeof(float)) == 0, "%s differs between 1 and 2 threads",
               um_optim_name(a));
        um_optim_free(a);
        um_optim_free(b);
    }
    free(w1), free(w2), free(g);
}

static void expect_arg(enum um_status st, const char *what) {
    CHECKF(st == UM_ERR_ARG && um_last_error()[0], "%s: status %d, message '%s'", what, (int)st,
           um_last_error());
}

static void test_errors(void) {
    float w[4] = {1, 2, 3, 4}, g[4] = {0};
    struct um_optim_tensor t[2] = {
        {.name = "a", .kind = UM_PARAM_MATRIX, .rows = 2, .cols = 2, .w = w, .g = g},
        {.name = "b", .kind = UM_PARAM_VECTOR, .rows = 4, .cols = 1, .w = w, .g = g},
    };
    struct um_optim_params p = um_optim_default_params(UM_OPTIM_ORSCALE);
    um_optim *sentinel = (um_optim *)&p, *o = sentinel;
    expect_arg(um_optim_create(&p, t, 0, &o), "n = 0");
    expect_arg(um_optim_create(&p, NULL, 1, &o), "NULL tensors");
    expect_arg(um_optim_create(NULL, t, 1, &o), "NULL params");
    expect_arg(um_optim_create(&p, t, 1, NULL), "NULL out");
    struct um_optim_tensor bad = t[0];
    bad.w = NULL;
    expect_arg(um_optim_create(&p, &bad, 1, &o), "NULL weights");
    bad = t[0];
    bad.g = NULL;
    expect_arg(um_optim_create(&p, &bad, 1, &o), "NULL gradient");
    bad = t[0];
    bad.rows = 0;
    expect_arg(um_optim_create(&p, &bad, 1, &o), "zero rows");
    bad = t[0];
    bad.name = NULL;
    expect_arg(um_optim_create(&p, &bad, 1, &o), "NULL name");
    struct um_optim_tensor dup[2] = {t[0], t[0]};
    expect_arg(um_optim_create(&p, dup, 2, &o), "duplicate names");
    struct um_optim_params q = p;
    q.lr = -1e-3;
    expect_arg(um_optim_create(&q, t, 2, &o), "negative lr");
    q = p, q.lr = NAN;
    expect_arg(um_optim_create(&q, t, 2, &o), "NaN lr");
    q = p, q.clip_min = 2, q.clip_max = 1;
    expect_arg(um_optim_create(&q, t, 2, &o), "clip_min > clip_max");
    q = p, q.ns_steps = 6;
    expect_arg(um_optim_create(&q, t, 2, &o), "OrScale ns_steps 6");
    q = p, q.momentum = 1.0;
    expect_arg(um_optim_create(&q, t, 2, &o), "momentum 1");
    q = um_optim_default_params(UM_OPTIM_ADAMW), q.beta2 = 1.0;
    expect_arg(um_optim_create(&q, t, 2, &o), "beta2 1");
    q = p, q.kind = (enum um_optim_kind)9;
    expect_arg(um_optim_create(&q, t, 2, &o), "unknown kind");
    CHECK(o == sentinel); /* failed calls leave *out untouched */
    expect_arg(um_optim_step(NULL, 1.0), "step(NULL)");
    o = NULL;
    CHECK(um_optim_create(&p, t, 2, &o) == UM_OK);
    float w0[4];
    memcpy(w0, w, sizeof w);
    expect_arg(um_optim_step(o, -1.0), "negative lr_scale");
    expect_arg(um_optim_step(o, INFINITY), "infinite lr_scale");
    CHECK(memcmp(w, w0, sizeof w) == 0 && um_optim_steps(o) == 0);
    struct um_optim_diag d;
    expect_arg(um_optim_diag_get(o, 2, &d), "diag out of range");
    CHECK(strcmp(um_optim_name(o), "orscale-lm") == 0);
    CHECK(um_optim_state_get(NULL, 0) == NULL && um_optim_state_count(NULL) == 0);
    um_optim_free(o);
    um_optim_free(NULL);
}

int main(void) {
    const char *names[] = {"adamw", "adamw_lerp", "muon", "lamb", "orscale", "orscale_plain"};
    for (int i = 0; i < 6; i++) check_trajectory(names[i]);
    test_ns();
    test_orscale_is_moonlight();
    test_lamb_fallback();
    test_state_roundtrip(UM_OPTIM_ADAMW, false);
    test_state_roundtrip(UM_OPTIM_MUON, false);
    test_state_roundtrip(UM_OPTIM_LAMB, false);
    test_state_roundtrip(UM_OPTIM_ORSCALE, true);
    test_state_roundtrip(UM_OPTIM_ORSCALE, false);
    test_threads();
    test_errors();
    return TEST_DONE();
}

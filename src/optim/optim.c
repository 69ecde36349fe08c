/*
 * optim.c: what every optimiser shares: defaults, validation, creation (state registration,
 * workspace sizing), the step counter, dispatch through the vtable, the state list and the
 * diagnostics accessor.
 *
 * Step counter: kept as two fp32 values so the trainer can save it with the other state
 * buffers and restore it bit-exactly: count = step[1] * 2^24 + step[0], both exact integers.
 */
#include "optim/optim-impl.h"

#include "base/base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_RADIX 16777216.0 /* 2^24: every integer below it is exact in fp32 */

struct um_optim_params um_optim_default_params(enum um_optim_kind kind) {
    struct um_optim_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.nesterov = true;
    p.ns_steps = 5;
    p.momentum = 0.95;
    p.adamw_ema = UM_ADAMW_EMA_LERP;
    p.lamb_clamp = 10.0;
    p.clip_min = 0.1;
    p.clip_max = 5.0;
    switch (kind) {
    case UM_OPTIM_ADAMW: /* torch.optim.AdamW defaults */
        p.lr = 1e-3, p.beta1 = 0.9, p.beta2 = 0.999, p.eps = 1e-8, p.weight_decay = 1e-2;
        break;
    case UM_OPTIM_MUON:
        /* KellerJordan/Muon muon.py SingleDeviceMuonWithAuxAdam: Muon lr 0.02, momentum 0.95,
         * weight_decay 0; auxiliary Adam lr 3e-4, betas (0.9, 0.95), eps 1e-10, wd 0. */
        p.lr = 0.02, p.weight_decay = 0.0;
        p.adamw_lr = 3e-4, p.beta1 = 0.9, p.beta2 = 0.95, p.eps = 1e-10;
        p.adamw_weight_decay = 0.0;
        break;
    case UM_OPTIM_LAMB: /* NUS-HPC-AI-Lab/OrScale orscale/optim/lamb.py defaults */
        p.lr = 1e-3, p.beta1 = 0.9, p.beta2 = 0.999, p.eps = 1e-6, p.weight_decay = 0.01;
        break;
    case UM_OPTIM_ORSCALE:
        /* OrScale-LM as in the repo's configs/scaling_law_moonlight_strict.yaml
         * (orscale_muon_moonlight_calibrated at the 125M preset): lr 1e-3, weight_decay
         * (lambda) 0.1, r in [0.1, 5.0], AdamW fallback lr = lr ("same_as_lr"), wd 0.1, with
         * torch.optim.AdamW's betas (0.9, 0.999) and eps 1e-8 (build_optimizer). */
        p.lr = 1e-3, p.weight_decay = 0.1, p.orscale_lm = true;
        p.adamw_lr = 1e-3, p.adamw_weight_decay = 0.1;
        p.beta1 = 0.9, p.beta2 = 0.999, p.eps = 1e-8;
        break;
    }
    return p;
}

double um_optim_fallback_lr(const struct um_optim_params *p) {
    return p->adamw_lr > 0 ? p->adamw_lr : 0.1 * p->lr;
}

int64_t um_optim_count(const um_optim *o) {
    return (int64_t)o->step[1] * (int64_t)STEP_RADIX + (int64_t)o->step[0];
}

static bool bad_rate(double x) {
    return !(x >= 0.0) || !isfinite(x);
}

static enum um_status check_params(const struct um_optim_params *p) {
    if ((unsigned)p->kind > UM_OPTIM_ORSCALE)
        return um_set_error(UM_ERR_ARG, "optim: unknown optimiser kind %d", (int)p->kind);
    if (bad_rate(p->lr)) return um_set_error(UM_ERR_ARG, "optim: lr %g is not >= 0", p->lr);
    if (bad_rate(p->weight_decay))
        return um_set_error(UM_ERR_ARG, "optim: weight_decay %g is not >= 0", p->weight_decay);
    bool adam_like = p->kind == UM_OPTIM_ADAMW || p->kind == UM_OPTIM_LAMB;
    bool ortho = p->kind == UM_OPTIM_MUON || p->kind == UM_OPTIM_ORSCALE;
    if (adam_like || ortho) { /* the fallback needs them too */
        if (!(p->beta1 >= 0.0 && p->beta1 < 1.0))
            return um_set_error(UM_ERR_ARG, "optim: beta1 %g not in [0, 1)", p->beta1);
        if (!(p->beta2 >= 0.0 && p->beta2 < 1.0))
            return um_set_error(UM_ERR_ARG, "optim: beta2 %g not in [0, 1)", p->beta2);
        if (bad_rate(p->eps)) return um_set_error(UM_ERR_ARG, "optim: eps %g is not >= 0", p->eps);
        if ((unsigned)p->adamw_ema > UM_ADAMW_EMA_MULADD)
            return um_set_error(UM_ERR_ARG, "optim: unknown adamw_ema %d", (int)p->adamw_ema);
    }
    if (ortho) {
        if (!(p->momentum >= 0.0 && p->momentum < 1.0))
            return um_set_error(UM_ERR_ARG, "optim: momentum %g not in [0, 1)", p->momentum);
        int max_ns = p->kind == UM_OPTIM_ORSCALE ? 5 : 100;
        if (p->ns_steps < 1 || p->ns_steps > max_ns)
            return um_set_error(UM_ERR_ARG, "optim: ns_steps %d not in [1, %d]", p->ns_steps,
                                max_ns);
        if (!isfinite(p->adamw_lr))
            return um_set_error(UM_ERR_ARG, "optim: adamw_lr %g is not finite", p->adamw_lr);
        if (bad_rate(p->adamw_weight_decay))
            return um_set_error(UM_ERR_ARG, "optim: adamw_weight_decay %g is not >= 0",
                                p->adamw_weight_decay);
    }
    if (p->kind == UM_OPTIM_ORSCALE &&
        !(p->clip_min > 0.0 && p->clip_min <= p->clip_max && isfinite(p->clip_max)))
        return um_set_error(UM_ERR_ARG, "optim: OrScale clip [%g, %g] needs 0 < min <= max",
                            p->clip_min, p->clip_max);
    if (p->kind == UM_OPTIM_LAMB && !(p->lamb_clamp <= 0.0 || isfinite(p->lamb_clamp)))
        return um_set_error(UM_ERR_ARG, "optim: lamb_clamp %g is not finite", p->lamb_clamp);
    return UM_OK;
}

static enum um_status check_tensors(const struct um_optim_tensor *t, int n) {
    if (!t) return um_set_error(UM_ERR_ARG, "optim: tensor list is NULL");
    if (n < 1) return um_set_error(UM_ERR_ARG, "optim: %d tensors (need >= 1)", n);
    for (int i = 0; i < n; i++) {
        const struct um_optim_tensor *a = &t[i];
        if (!a->name) return um_set_error(UM_ERR_ARG, "optim: tensor %d has no name", i);
        if (strlen(a->name) > 120)
            return um_set_error(UM_ERR_ARG, "optim: tensor %d: name longer than 120 bytes", i);
        if (!a->w || !a->g)
            return um_set_error(UM_ERR_ARG, "optim: tensor '%s': NULL %s", a->name,
                                a->w ? "gradient" : "weights");
        if ((unsigned)a->kind > UM_PARAM_VECTOR)
            return um_set_error(UM_ERR_ARG, "optim: tensor '%s': unknown kind %d", a->name,
                                (int)a->kind);
        if (a->rows < 1 || a->cols < 1 || a->rows > ((int64_t)1 << 40) / a->cols)
            return um_set_error(UM_ERR_ARG, "optim: tensor '%s': bad shape [%lld, %lld]",
                                a->name, (long long)a->rows, (long long)a->cols);
        for (int j = 0; j < i; j++)
            if (strcmp(t[j].name, a->name) == 0)
                return um_set_error(UM_ERR_ARG, "optim: tensor name '%s' appears twice",
                                    a->name);
    }
    return UM_OK;
}

enum um_status um_optim_add_state(um_optim *o, const char *prefix, const char *param,
                                  int64_t n, float **out) {
    struct um_optim_state_buf *b = &o->state[o->n_state];
    snprintf(b->name, sizeof b->name, "%s.%s", prefix, param);
    b->data = calloc((size_t)n, sizeof(float));
    if (!b->data)
        return um_set_error(UM_ERR_NOMEM, "optim: cannot allocate %s (%lld floats)", b->name,
                            (long long)n);
    b->n = n;
    o->n_state++;
    *out = b->data;
    return UM_OK;
}

static const struct um_optim_vtable *vtable_of(enum um_optim_kind k) {
    switch (k) {
    case UM_OPTIM_ADAMW: return &um_optim_adamw_vt;
    case UM_OPTIM_MUON: return &um_optim_muon_vt;
    case UM_OPTIM_LAMB: return &um_optim_lamb_vt;
    case UM_OPTIM_ORSCALE: return &um_optim_orscale_vt;
    }
    return NULL;
}

enum um_status um_optim_create(const struct um_optim_params *p, const struct um_optim_tensor *t,
                               int n, um_optim **out) {
    if (!p || !out) return um_set_error(UM_ERR_ARG, "optim: NULL %s", p ? "out" : "params");
    enum um_status st = check_params(p);
    if (st == UM_OK) st = check_tensors(t, n);
    if (st != UM_OK) return st;

    um_optim *o = calloc(1, sizeof *o);
    if (!o) return um_set_error(UM_ERR_NOMEM, "optim: cannot allocate the optimiser");
    o->p = *p;
    o->vt = vtable_of(p->kind);
    o->n = n;
    o->slot = calloc((size_t)n, sizeof *o->slot);
    o->state = calloc((size_t)(1 + 3 * n), sizeof *o->state);
    if (!o->slot || !o->state) {
        um_optim_free(o);
        return um_set_error(UM_ERR_NOMEM, "optim: cannot allocate %d tensor records", n);
    }
    struct um_optim_state_buf *sb = &o->state[o->n_state++];
    snprintf(sb->name, sizeof sb->name, "step");
    sb->data = o->step;
    sb->n = 2;

    bool ortho = p->kind == UM_OPTIM_MUON || p->kind == UM_OPTIM_ORSCALE;
    int64_t max_n = 1, max_rows = 1;
    size_t ws = 0;
    for (int i = 0; i < n; i++) {
        struct um_optim_slot *s = &o->slot[i];
        s->t = t[i];
        s->n = t[i].rows * t[i].cols;
        s->fallback = ortho && t[i].kind != UM_PARAM_MATRIX;
        if (s->n > max_n) max_n = s->n;
        if (t[i].rows > max_rows) max_rows = t[i].rows;
        if (ortho && !s->fallback) {
            size_t w = um_ns_workspace_floats(t[i].rows, t[i].cols);
            if (w > ws) ws = w;
        }
    }
    o->part_cap = (max_n + UM_OPTIM_BLOCK - 1) / UM_OPTIM_BLOCK;
    if (o->part_cap < 3 * max_rows) o->part_cap = 3 * max_rows; /* OrScale: 3 sums per task */
    o->part = malloc((size_t)o->part_cap * sizeof(double));
    if (ws) {
        o->ns_ws = malloc(ws * sizeof(float));
        o->ns_ws_floats = ws;
    }
    if (!o->part || (ws && !o->ns_ws)) {
        um_optim_free(o);
        return um_set_error(UM_ERR_NOMEM, "optim: cannot allocate the workspace (%zu floats)",
                            ws);
    }
    st = o->vt->init(o);
    if (st != UM_OK) {
        um_optim_free(o);
        return st;
    }
    *out = o;
    return UM_OK;
}

void um_optim_free(um_optim *o) {
    if (!o) return;
    if (o->vt && o->vt->free_state) o->vt->free_state(o);
    for (int i = 1; i < o->n_state; i++) free(o->state[i].data); /* [0] is o->step */
    free(o->state);
    free(o->slot);
    free(o->ns_ws);
    free(o->part);
    free(o);
}

enum um_status um_optim_step(um_optim *o, double lr_scale) {
    if (!o) return um_set_error(UM_ERR_ARG, "optim: step on a NULL optimiser");
    if (bad_rate(lr_scale))
        return um_set_error(UM_ERR_ARG, "optim: lr_scale %g is not >= 0", lr_scale);
    int64_t c = um_optim_count(o);
    if (!(o->step[0] >= 0 && o->step[0] < STEP_RADIX && o->step[1] >= 0 &&
          o->step[1] < STEP_RADIX && o->step[0] == floorf(o->step[0]) &&
          o->step[1] == floorf(o->step[1])))
        return um_set_error(UM_ERR_ARG, "optim: state 'step' holds [%g, %g], not a count",
                            (double)o->step[0], (double)o->step[1]);
    c++;
    o->step[0] = (float)(c % (int64_t)STEP_RADIX);
    o->step[1] = (float)(c / (int64_t)STEP_RADIX);
    return o->vt->step(o, lr_scale);
}

int64_t um_optim_steps(const um_optim *o) {
    return o ? um_optim_count(o) : 0;
}

const char *um_optim_name(const um_optim *o) {
    if (!o) return "none";
    if (o->p.kind == UM_OPTIM_ORSCALE) return o->p.orscale_lm ? "orscale-lm" : "orscale";
    return o->vt->name;
}

int um_optim_state_count(const um_optim *o) {
    return o ? o->n_state : 0;
}

const struct um_optim_state_buf *um_optim_state_get(const um_optim *o, int i) {
    if (!o || i < 0 || i >= o->n_state) return NULL;
    return &o->state[i];
}

enum um_status um_optim_diag_get(const um_optim *o, int i, struct um_optim_diag *out) {
    if (!o || !out) return um_set_error(UM_ERR_ARG, "optim: diag_get with a NULL argument");
    if (i < 0 || i >= o->n)
        return um_set_error(UM_ERR_ARG, "optim: diag_get: tensor %d not in [0, %d)", i, o->n);
    *out = o->slot[i].diag;
    return UM_OK;
}

double um_optim_sumsq(const um_optim *o, const float *x, int64_t n) {
    int64_t nb = (n + UM_OPTIM_BLOCK - 1) / UM_OPTIM_BLOCK;
    double *part = o->part;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        int64_t e = (b + 1) * UM_OPTIM_BLOCK < n ? (b + 1) * UM_OPTIM_BLOCK : n;
        double acc = 0.0;
        for (int64_t i = b * UM_OPTIM_BLOCK; i < e; i++) acc += (double)x[i] * (double)x[i];
        part[b] = acc;
    }
    double s = 0.0;
    for (int64_t b = 0; b < nb; b++) s += part[b];
    return s;
}

enum um_status um_optim_step_routed(um_optim *o, double lr_scale,
                                    void (*matrix)(um_optim *o, struct um_optim_slot *s,
                                                   double lr)) {
    const int64_t t = um_optim_count(o);
    const double lr = o->p.lr * lr_scale, alr = um_optim_fallback_lr(&o->p) * lr_scale;
    for (int i = 0; i < o->n; i++) {
        struct um_optim_slot *s = &o->slot[i];
        if (s->fallback)
            um_adamw_update(o, s, alr, o->p.adamw_weight_decay, t);
        else
            matrix(o, s, lr);
    }
    return UM_OK;
}

/*
 * optim.h: optimisers behind one vtable (AdamW, Muon, LAMB, OrScale). Private to the library.
 *
 * An optimiser updates a list of fp32 parameter tensors in place from their fp32 gradients.
 * Each tensor carries a kind, so orthogonalising optimisers (Muon, OrScale) can route
 * non-matrix tensors (1-D gains/biases, embeddings, the LM head) to their AdamW fallback, as the
 * reference implementations do.
 *
 * Lifetime: um_optim_create copies the parameter list (pointers stay borrowed: the caller keeps
 * weights and gradients alive and at the same addresses until um_optim_free). State (moments,
 * momentum, OrScale's per-layer constant) is allocated once at creation. step() allocates
 * nothing. Threads: step() may use OpenMP internally; call it from one thread.
 */
#ifndef UM_OPTIM_H
#define UM_OPTIM_H

#include "unmask.h"

#include <stdint.h>

enum um_param_kind {
    UM_PARAM_MATRIX = 0, /* hidden 2-D weight (q/k/v/o, MLP): Muon/OrScale apply */
    UM_PARAM_EMBED,      /* token embedding: AdamW in Muon/OrScale */
    UM_PARAM_HEAD,       /* LM head: AdamW in Muon/OrScale */
    UM_PARAM_VECTOR,     /* 1-D (norm gains, biases): AdamW in Muon/OrScale, no weight decay
                            in LAMB's trust ratio (ratio 1) */
};

struct um_optim_tensor {
    const char *name;          /* for messages and checkpoints; borrowed */
    enum um_param_kind kind;
    int64_t rows, cols;        /* 2-D: [rows][cols] as torch stores nn.Linear (fan_out, fan_in);
                                  1-D: rows = n, cols = 1 */
    float *w;                  /* weights, rows*cols, updated in place */
    const float *g;            /* gradients, same shape */
};

enum um_optim_kind { UM_OPTIM_ADAMW = 0, UM_OPTIM_MUON, UM_OPTIM_LAMB, UM_OPTIM_ORSCALE };

struct um_optim_params {
    enum um_optim_kind kind;
    double lr;                 /* base learning rate (matrix params for Muon/OrScale) */
    double beta1, beta2, eps;  /* AdamW/LAMB (and the AdamW fallback) */
    double weight_decay;       /* AdamW/LAMB decoupled; Muon decoupled; OrScale coupled (lambda) */
    double momentum;           /* Muon/OrScale mu (0.95) */
    bool nesterov;             /* Muon/OrScale (true) */
    int ns_steps;              /* Newton-Schulz iterations (5) */
    double adamw_lr;           /* lr of the AdamW fallback in Muon/OrScale (<=0: 0.1*lr) */
    double adamw_weight_decay; /* weight decay of the fallback */
    double clip_min, clip_max; /* OrScale ratio clip ([0.1, 5] for OrScale-LM) */
    bool orscale_lm;           /* OrScale-LM: s = 0.2 sqrt(max(m,n)) and calibrated c */
};
struct um_optim_params um_optim_default_params(enum um_optim_kind kind);

typedef struct um_optim um_optim;

enum um_status um_optim_create(const struct um_optim_params *p, const struct um_optim_tensor *t,
                               int n, um_optim **out);
void um_optim_free(um_optim *o);
/* One update with learning rate multiplier lr_scale (schedules multiply every lr by it). */
enum um_status um_optim_step(um_optim *o, double lr_scale);
/* Steps taken so far. */
int64_t um_optim_steps(const um_optim *o);
const char *um_optim_name(const um_optim *o);

/* Serialisable state: a flat list of named fp32 buffers (e.g. "exp_avg.<param>",
 * "momentum.<param>", "orscale_c.<param>" [1], "step" [1]) so the trainer can write them with
 * the safetensors writer and read them back for bit-exact resume. Pointers are owned by the
 * optimiser and valid until um_optim_free. */
struct um_optim_state_buf {
    char name[160];
    float *data;
    int64_t n;
};
int um_optim_state_count(const um_optim *o);
const struct um_optim_state_buf *um_optim_state_get(const um_optim *o, int i);

/* vtable each optimiser file implements (adamw.c, muon.c, lamb.c, orscale.c) */
struct um_optim_vtable {
    const char *name;
    enum um_status (*init)(um_optim *o);   /* allocate state */
    enum um_status (*step)(um_optim *o, double lr_scale);
    void (*free_state)(um_optim *o);
};

#endif

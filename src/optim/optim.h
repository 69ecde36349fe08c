/*
 * optim.h: optimisers behind one vtable (AdamW, Muon, LAMB, OrScale). Private to the library.
 *
 * An optimiser updates a list of fp32 parameter tensors in place from their fp32 gradients.
 * Each tensor carries a kind, so orthogonalising optimisers (Muon, OrScale) can route
 * non-matrix tensors (1-D gains/biases, embeddings, the LM head) to their AdamW fallback, as the
 * reference implementations do.
 *
 *   AdamW   adamw.c    torch.optim.AdamW, single-tensor CPU path, rounding for rounding
 *   Muon    muon.c     KellerJordan/Muon muon.py (EMA momentum, quintic Newton-Schulz, fp32)
 *   LAMB    lamb.c     You et al. 2019 (arXiv 1904.00962), as NUS-HPC-AI-Lab/OrScale lamb.py
 *   OrScale orscale.c  Lou & You 2026 (arXiv 2605.07815), NUS-HPC-AI-Lab/OrScale
 *                      orscale_optimizer.py ("orscale_muon_moonlight_calibrated" = OrScale-LM,
 *                      "orscale_muon_wd" = plain OrScale)
 *
 * Lifetime: um_optim_create copies the parameter list (pointers stay borrowed: the caller keeps
 * weights, gradients and names alive and at the same addresses until um_optim_free). State
 * (moments, momentum, OrScale's per-layer constant, the step counter) and the Newton-Schulz
 * workspace (sized for the largest matrix) are allocated once at creation; step() allocates
 * nothing. Threads: step() uses OpenMP (um_get_threads()) and OpenBLAS internally; call it from
 * one thread. Results do not depend on the thread count except through um_sgemm (norms are
 * reduced over fixed-size blocks in a fixed order).
 */
#ifndef UM_OPTIM_H
#define UM_OPTIM_H

#include "unmask.h"

#include <stdint.h>

enum um_param_kind {
    UM_PARAM_MATRIX = 0, /* hidden 2-D weight (q/k/v/o, MLP): Muon/OrScale apply */
    UM_PARAM_EMBED,      /* token embedding: AdamW in Muon/OrScale */
    UM_PARAM_HEAD,       /* LM head: AdamW in Muon/OrScale */
    UM_PARAM_VECTOR,     /* 1-D (norm gains, biases): AdamW in Muon/OrScale; in LAMB no weight
                            decay and trust ratio 1 */
};

struct um_optim_tensor {
    const char *name;          /* for messages and checkpoints; borrowed; unique in the list */
    enum um_param_kind kind;
    int64_t rows, cols;        /* 2-D: [rows][cols] as torch stores nn.Linear (fan_out, fan_in);
                                  1-D: rows = n, cols = 1 */
    float *w;                  /* weights, rows*cols, updated in place */
    const float *g;            /* gradients, same shape; read during step() only */
};

enum um_optim_kind { UM_OPTIM_ADAMW = 0, UM_OPTIM_MUON, UM_OPTIM_LAMB, UM_OPTIM_ORSCALE };

/* Rounding of AdamW's first-moment update (the two PyTorch generations differ; see adamw.c). */
enum um_adamw_ema {
    UM_ADAMW_EMA_LERP = 0, /* torch >= 2.0: exp_avg.lerp_(grad, 1 - beta1) (vectorised FMA form) */
    UM_ADAMW_EMA_MULADD,   /* torch 1.x: exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1) */
};

struct um_optim_params {
    enum um_optim_kind kind;
    double lr;                 /* base learning rate (matrix params for Muon/OrScale); >= 0 */
    double beta1, beta2, eps;  /* AdamW/LAMB (and the AdamW fallback); betas in [0, 1) */
    double weight_decay;       /* AdamW/LAMB decoupled; Muon decoupled; OrScale coupled (lambda) */
    double momentum;           /* Muon/OrScale mu (0.95), in [0, 1) */
    bool nesterov;             /* Muon/OrScale (true) */
    int ns_steps;              /* Newton-Schulz iterations (5); Muon 1..100, OrScale 1..5 (the
                                  Polar Express schedule has five triples) */
    double adamw_lr;           /* lr of the AdamW fallback in Muon/OrScale (<=0: 0.1*lr, the
                                  OrScale repo's build_optimizer default) */
    double adamw_weight_decay; /* weight decay of the fallback */
    double clip_min, clip_max; /* OrScale ratio clip ([0.1, 5] for OrScale-LM, [0.5, 1.5] plain);
                                  0 < clip_min <= clip_max (clip_min = clip_max = 1 forces the
                                  ratio to 1: OrScale-LM with lambda 0 is then Muon+Moonlight) */
    bool orscale_lm;           /* OrScale-LM: s = 0.2 sqrt(max(m,n)) and calibrated c */
    enum um_adamw_ema adamw_ema; /* AdamW and the fallback; default UM_ADAMW_EMA_LERP */
    double lamb_clamp;         /* LAMB: upper bound of the trust ratio (<=0: none); 10 as in the
                                  OrScale repo's lamb.py */
};
/* Published defaults per kind (each value's source is in the .c file that implements it). */
struct um_optim_params um_optim_default_params(enum um_optim_kind kind);

typedef struct um_optim um_optim;

/* Validate `p` and the n tensors (n >= 1, non-NULL pointers, positive shapes, unique names,
 * finite non-negative rates) and allocate all state. On failure returns UM_ERR_ARG (or
 * UM_ERR_NOMEM) with a message naming the field or tensor, and leaves *out untouched. */
enum um_status um_optim_create(const struct um_optim_params *p, const struct um_optim_tensor *t,
                               int n, um_optim **out);
/* Frees everything the optimiser owns; accepts NULL. */
void um_optim_free(um_optim *o);
/* One update of every tensor from its gradient, with learning rate multiplier lr_scale
 * (schedules multiply every lr by it; >= 0 and finite, else UM_ERR_ARG and nothing changes). */
enum um_status um_optim_step(um_optim *o, double lr_scale);
/* Steps taken so far (read from the "step" state buffer, so a restored state counts). */
int64_t um_optim_steps(const um_optim *o);
const char *um_optim_name(const um_optim *o);

/* Serialisable state: a flat list of named fp32 buffers so the trainer can write them with
 * the safetensors writer and read them back for bit-exact resume:
 *   "step" [2]                  count = step[1] * 2^24 + step[0] (both exact integers in fp32)
 *   "exp_avg.<param>", "exp_avg_sq.<param>"   AdamW, LAMB, and the AdamW fallback
 *   "momentum.<param>"          Muon/OrScale matrices
 *   "orscale_c.<param>" [1]     OrScale: the per-layer constant c (0 = not calibrated yet)
 * Writing into `data` (same n) between steps restores a state. Pointers are owned by the
 * optimiser and valid until um_optim_free; um_optim_state_get returns NULL out of range. */
struct um_optim_state_buf {
    char name[160];
    float *data;
    int64_t n;
};
int um_optim_state_count(const um_optim *o);
const struct um_optim_state_buf *um_optim_state_get(const um_optim *o, int i);

/* Per-tensor diagnostics of the last step, for logging (the OrScale repo's _diagnostics).
 * OrScale matrices: every field. LAMB: ratio, clip flag, ||W||, ||u|| (in q_norm) of every
 * tensor. Muon matrices: ratio 1 only (no norms are computed: they would cost passes).
 * `valid` is false for AdamW, for tensors that went to the AdamW fallback, and before the
 * first step. */
struct um_optim_diag {
    bool valid;
    double ratio_raw;   /* OrScale ||W|| / (c ||D|| + 1e-6); LAMB ||W|| / ||u|| */
    double ratio;       /* the ratio applied (clipped / clamped) */
    bool clipped;       /* |ratio - ratio_raw| > 1e-8 */
    double w_norm;      /* ||W||_F before the update */
    double q_norm;      /* ||Q||_F of the orthogonalised direction (LAMB: ||u||) */
    double d_norm;      /* OrScale ||lambda W + s Q||_F */
    double c;           /* OrScale calibration constant (1 for plain OrScale) */
};
/* UM_ERR_ARG if o is NULL or i is out of range. */
enum um_status um_optim_diag_get(const um_optim *o, int i, struct um_optim_diag *out);

/* vtable each optimiser file implements (adamw.c, muon.c, lamb.c, orscale.c). init() sizes and
 * registers the state buffers through optim-impl.h; step() runs one update with the learning
 * rates already multiplied by lr_scale and the step counter already incremented. */
struct um_optim_vtable {
    const char *name;
    enum um_status (*init)(um_optim *o);   /* allocate state */
    enum um_status (*step)(um_optim *o, double lr_scale);
    void (*free_state)(um_optim *o);
};

#endif

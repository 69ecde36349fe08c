/*
 * optim-impl.h: the optimiser object and the pieces the four optimiser files share (state
 * registration, deterministic norms, the torch AdamW element update, Newton-Schulz).
 * Private to src/optim/ and its tests.
 */
#ifndef UM_OPTIM_IMPL_H
#define UM_OPTIM_IMPL_H

#include "optim/optim.h"

#include <stddef.h>

/* Element loops run over blocks of UM_OPTIM_BLOCK floats (OpenMP over blocks); reductions sum
 * one double per block, then the blocks in order, so a norm does not depend on the number of
 * threads. */
#define UM_OPTIM_BLOCK 16384

/* Hot element loops are compiled twice where the compiler can: with FMA instructions and
 * without (fmaf() from libm then), chosen at load time. Every fmaf() in them is a deliberate
 * fused multiply-add that mirrors PyTorch's vectorised kernels; nothing else is contracted
 * (-std=c11 implies -ffp-contract=off). */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define UM_OPTIM_FMA_CLONES __attribute__((target_clones("fma", "default")))
#endif
#endif
#ifndef UM_OPTIM_FMA_CLONES
#define UM_OPTIM_FMA_CLONES
#endif

/* One parameter tensor and its state. Invariant: n = rows * cols >= 1; m1/m2/c are NULL when
 * the optimiser keeps no such state for this tensor. */
struct um_optim_slot {
    struct um_optim_tensor t;
    int64_t n;
    bool fallback;             /* Muon/OrScale: goes to the AdamW fallback */
    float *m1;                 /* exp_avg [n] (AdamW-type), or momentum [n] (Muon/OrScale) */
    float *m2;                 /* exp_avg_sq [n] */
    float *c;                  /* OrScale [1] */
    struct um_optim_diag diag; /* last step */
};

struct um_optim {
    struct um_optim_params p;
    const struct um_optim_vtable *vt;
    int n;
    struct um_optim_slot *slot;        /* [n] */
    float step[2];                     /* state "step": count = step[1] * 2^24 + step[0] */
    struct um_optim_state_buf *state;  /* [n_state], capacity 1 + 3 n */
    int n_state;
    /* Newton-Schulz workspace for the largest matrix (NULL for AdamW/LAMB) */
    float *ns_ws;
    size_t ns_ws_floats;
    double *part;                      /* partial sums, [part_cap]: one per block, or three
                                          per row task (OrScale), >= 3 max(rows) */
    int64_t part_cap;
};

/* Register a zeroed fp32 state buffer "<prefix>.<param>" of n floats; *out points to it. */
enum um_status um_optim_add_state(um_optim *o, const char *prefix, const char *param,
                                  int64_t n, float **out);

/* Sum of squares of x[0..n) in double, blockwise (see UM_OPTIM_BLOCK); n <= o->part_cap *
 * UM_OPTIM_BLOCK. */
double um_optim_sumsq(const um_optim *o, const float *x, int64_t n);

/* Step count after the increment of the current step. */
int64_t um_optim_count(const um_optim *o);

/* Effective learning rate of the AdamW fallback (adamw_lr, or 0.1 lr when adamw_lr <= 0). */
double um_optim_fallback_lr(const struct um_optim_params *p);
/* One step of an orthogonalising optimiser (Muon, OrScale): non-matrix tensors take the AdamW
 * fallback update at the fallback learning rate, matrices take `matrix` at lr. */
enum um_status um_optim_step_routed(um_optim *o, double lr_scale,
                                    void (*matrix)(um_optim *o, struct um_optim_slot *s,
                                                   double lr));

/* adamw.c: one torch.optim.AdamW update of slot s (its m1 = exp_avg, m2 = exp_avg_sq) at step
 * t >= 1 with learning rate lr and decoupled weight decay wd, beta1/beta2/eps/adamw_ema from
 * o->p. Used by the AdamW optimiser and by the Muon/OrScale fallback. */
void um_adamw_update(const um_optim *o, struct um_optim_slot *s, double lr, double wd,
                     int64_t t);
/* Register exp_avg/exp_avg_sq for slot s. */
enum um_status um_adamw_init_slot(um_optim *o, struct um_optim_slot *s);

/* ---- Newton-Schulz (ns.c) */
enum um_ns_schedule {
    UM_NS_QUINTIC,       /* Keller Jordan: (3.4445, -4.7750, 2.0315) every iteration,
                            X / (||X||_F + 1e-7) */
    UM_NS_POLAR_EXPRESS, /* Amsel et al. 2025 as in the OrScale repo: five triples, one per
                            iteration, X / (1.02 ||X||_F + 1e-6) */
};
/* Floats of workspace um_ns_iterate / um_ns_orthogonalize need for a rows x cols matrix:
 * 2 r c + 2 r^2 with r = min(rows, cols). */
size_t um_ns_workspace_floats(int64_t rows, int64_t cols);
/* ws[0 .. r*c) holds X [r][c] with r <= c (the wide orientation). Normalises it and runs
 * `steps` iterations of X <- a X + (b A + c A A) X, A = X X^T, all in fp32 (um_sgemm).
 * Returns the result, which lies in ws[0 .. r*c) or ws[r*c .. 2 r*c). */
float *um_ns_iterate(float *ws, int64_t r, int64_t c, enum um_ns_schedule sched, int steps);
/* Whole operation on g [rows][cols] (transposed internally when rows > cols); out [rows][cols]
 * must not alias g or ws. For tests and tools. */
void um_ns_orthogonalize(const float *g, int64_t rows, int64_t cols, enum um_ns_schedule sched,
                         int steps, float *ws, float *out);

extern const struct um_optim_vtable um_optim_adamw_vt, um_optim_muon_vt, um_optim_lamb_vt,
    um_optim_orscale_vt;

#endif

/*
 * ns.c: Newton-Schulz orthogonalisation, the shared core of Muon and OrScale.
 *
 * On X [r][c] with r <= c (a tall input is transposed first, and the result back):
 *   X <- X / (mul * ||X||_F + add)
 *   repeat: A = X X^T [r][r];  B = b A + c (A A);  X <- a X + B X
 * which maps every singular value s of the normalised input through the odd quintic
 * p(s) = a s + b s^3 + c s^5, leaving the singular vectors alone, so the result approximates
 * the polar factor U V^T of X = U S V^T.
 *
 * Schedules:
 *   UM_NS_QUINTIC        KellerJordan/Muon muon.py zeropower_via_newtonschulz5:
 *                        (a, b, c) = (3.4445, -4.7750, 2.0315) every iteration, normaliser
 *                        ||X||_F + 1e-7. Singular values end in roughly [0.7, 1.2] (KJ: "S'_ii
 *                        ~ Uniform(0.5, 1.5)"), not at 1.
 *   UM_NS_POLAR_EXPRESS  Amsel et al. 2025 (arXiv 2505.16932) as NUS-HPC-AI-Lab/OrScale
 *                        orscale/optim/newton_schulz.py uses them: one triple per iteration
 *                        (five), normaliser 1.02 ||X||_F + 1e-6.
 * Precision: both references run the iteration in bfloat16 on GPU; this is the fp32 reference
 * path (every product through um_sgemm in fp32), so it is closer to the exact polynomial than
 * the reference code. The norm is accumulated in double and rounded to fp32 once.
 * Memory: the caller supplies the workspace (um_ns_workspace_floats); nothing is allocated.
 */
#include "optim/optim-impl.h"

#include "base/base.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

static const double QUINTIC[3] = {3.4445, -4.7750, 2.0315};

static const double POLAR_EXPRESS[5][3] = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
};

size_t um_ns_workspace_floats(int64_t rows, int64_t cols) {
    int64_t r = rows < cols ? rows : cols, c = rows < cols ? cols : rows;
    return (size_t)(2 * r * c + 2 * r * r);
}

float *um_ns_iterate(float *ws, int64_t r, int64_t c, enum um_ns_schedule sched, int steps) {
    int64_t rc = r * c;
    float *x = ws, *y = ws + rc, *a = ws + 2 * rc, *bm = a + r * r;
    double ss = 0.0;
    for (int64_t i = 0; i < rc; i++) ss += (double)x[i] * (double)x[i];
    float nrm = (float)sqrt(ss);
    float den = sched == UM_NS_QUINTIC ? nrm + 1e-7f : nrm * 1.02f + 1e-6f;
#pragma omp parallel for schedule(static) num_threads(um_get_threads()) if (rc > 65536)
    for (int64_t i = 0; i < rc; i++) x[i] = x[i] / den;
    for (int k = 0; k < steps; k++) {
        const double *co = sched == UM_NS_QUINTIC ? QUINTIC : POLAR_EXPRESS[k < 5 ? k : 4];
        /* A = X X^T */
        um_sgemm(false, true, r, r, c, 1.0f, x, c, x, c, 0.0f, a, r);
        /* B = b A + c (A A) */
        memcpy(bm, a, (size_t)(r * r) * sizeof(float));
        um_sgemm(false, false, r, r, r, (float)co[2], a, r, a, r, (float)co[1], bm, r);
        /* Y = a X + B X */
        memcpy(y, x, (size_t)rc * sizeof(float));
        um_sgemm(false, false, r, c, r, 1.0f, bm, r, x, c, (float)co[0], y, c);
        float *t = x;
        x = y;
        y = t;
    }
    return x;
}

void um_ns_orthogonalize(const float *g, int64_t rows, int64_t cols, enum um_ns_schedule sched,
                         int steps, float *ws, float *out) {
    bool tr = rows > cols;
    int64_t r = tr ? cols : rows, c = tr ? rows : cols;
    if (tr) {
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) ws[j * rows + i] = g[i * cols + j];
    } else {
        memcpy(ws, g, (size_t)(rows * cols) * sizeof(float));
    }
    const float *x = um_ns_iterate(ws, r, c, sched, steps);
    if (tr) {
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) out[i * cols + j] = x[j * rows + i];
    } else {
        memcpy(out, x, (size_t)(rows * cols) * sizeof(float));
    }
}

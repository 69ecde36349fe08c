/*
 * test_decode.c: the generation algorithms of src/decode/ against hand-computed expectations
 * and values written down from PyTorch, with fake logits providers (no model needed).
 *
 * Oracles: LLaDA generate.py (get_num_transfer_tokens, add_gumbel_noise, low-confidence
 * remasking, cfg), Dream generation_utils.py (timesteps, transfer counts, sample_tokens,
 * top_p_logits, top_k_logits, alg_temp), and torch.linspace values printed by Debian's
 * python3-torch 1.13.1 (`torch.linspace(1, eps, steps + 1)`, float32 bits below).
 * Statistical checks are sized to fail with probability < 1e-6 when the code is right.
 * Uses only um_decode_run and the module's private helpers, so it links without a model.
 */
#include "decode/decode-impl.h"
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- fake provider */

struct fake;
typedef float (*fake_fn)(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v);

struct fake {
    int V;
    int32_t mask;
    bool shift;          /* the model declares shift_logits (rows need not be masked) */
    fake_fn fn;          /* logit of token v at output row `row` */
    const float *tab;    /* fn_same: the row every request gets, [V] */
    enum um_status fail; /* != UM_OK: the provider fails with it */
    int calls;           /* provider invocations */
    int violations;      /* contract breaches: rows unsorted, out of range, not masked */
    int max_row;         /* largest row ever requested */
    int max_rows_call;   /* largest R in one call */
};

static enum um_status fake_logits(void *user, const int32_t *tokens, int n_tokens,
                                  const int32_t *rows, int n_rows, float *logits) {
    struct fake *f = user;
    f->calls++;
    if (f->fail != UM_OK) return um_set_error(f->fail, "fake provider failure");
    if (n_rows > f->max_rows_call) f->max_rows_call = n_rows;
    for (int r = 0; r < n_rows; r++) {
        if (rows[r] < 0 || rows[r] >= n_tokens || (r > 0 && rows[r] <= rows[r - 1]))
            f->violations++;
        else if (!f->shift && tokens[rows[r]] != f->mask)
            f->violations++;
        if (rows[r] > f->max_row) f->max_row = rows[r];
        for (int v = 0; v < f->V; v++)
            logits[(size_t)r * f->V + v] = f->fn(f, tokens, n_tokens, rows[r], v);
    }
    return UM_OK;
}

static struct um_decode_model mk_model(struct fake *f, int32_t eos, int32_t eot) {
    struct um_decode_model m = {.logits = fake_logits, .user = f, .n_vocab = f->V,
                                .mask_id = f->mask, .eos_id = eos, .eot_id = eot,
                                .shift_logits = f->shift};
    return m;
}

static struct um_gen_params mk_params(int gen, int steps, int block) {
    struct um_gen_params p;
    memset(&p, 0, sizeof p);
    p.gen_length = gen;
    p.steps = steps;
    p.block_length = block;
    p.remasking = UM_REMASK_LOW_CONFIDENCE;
    p.alg = UM_ALG_NONE;
    p.eps = 1e-3;
    p.top_p = 1.0;
    return p;
}

/* Every row the same: the table's first row. */
static float fn_same(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    (void)row;
    return f->tab[v];
}

/* Row r prefers token (3r + 1) mod V, with margin 2. */
static float fn_by_row(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    return v == (3 * row + 1) % f->V ? 2.0f : 0.0f;
}

/* ---------------------------------------------------------------- progress recorder */

#define REC_MAX 512
struct rec {
    int32_t mask;
    int32_t prev[REC_MAX];
    int commit_step[REC_MAX]; /* 1-based step a position was committed in, 0 = never */
    int per_step[REC_MAX];    /* commits in step s (index s - 1) */
    int calls;
    int last_n_steps;
    int cancel_at; /* return false at this step (0: never) */
};

static void rec_init(struct rec *r, const int32_t *prompt, int n_prompt, int gen, int32_t mask) {
    memset(r, 0, sizeof *r);
    r->mask = mask;
    for (int i = 0; i < n_prompt; i++)
        r->prev[i] = prompt[i];
    for (int i = n_prompt; i < n_prompt + gen; i++)
        r->prev[i] = mask;
}

static bool rec_progress(void *user, const int32_t *canvas, int n_canvas, int step, int n_steps) {
    struct rec *r = user;
    r->calls++;
    r->last_n_steps = n_steps;
    for (int i = 0; i < n_canvas && i < REC_MAX; i++) {
        if (r->prev[i] == r->mask && canvas[i] != r->mask) {
            r->commit_step[i] = step;
            if (step >= 1 && step <= REC_MAX) r->per_step[step - 1]++;
        }
        r->prev[i] = canvas[i];
    }
    return r->cancel_at == 0 || step < r->cancel_at;
}

/* ---------------------------------------------------------------- schedules */

static void test_llada_counts(void) {
    int32_t c[8];
    um_dec_llada_counts(10, 4, c);
    CHECK(c[0] == 3 && c[1] == 3 && c[2] == 2 && c[3] == 2);
    um_dec_llada_counts(5, 8, c);
    CHECK(c[0] == 1 && c[1] == 1 && c[2] == 1 && c[3] == 1 && c[4] == 1 && c[5] == 0 && c[6] == 0 &&
          c[7] == 0);
    um_dec_llada_counts(0, 3, c);
    CHECK(c[0] == 0 && c[1] == 0 && c[2] == 0);

    /* Through the decoder: commits per step follow the counts; steps with count 0 skip the
     * model; only masked rows of the current block are requested. */
    static const float row[4] = {0.5f, 1.0f, 0.0f, 0.2f};
    struct fake f = {.V = 4, .mask = 3, .fn = fn_same, .tab = row};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[2] = {0, 1}, out[16];
    struct rec r;

    struct um_gen_params p = mk_params(10, 4, 10);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 2, 10, 3);
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    CHECK(r.calls == 4 && r.last_n_steps == 4);
    CHECK(r.per_step[0] == 3 && r.per_step[1] == 3 && r.per_step[2] == 2 && r.per_step[3] == 2);
    CHECK(f.violations == 0);

    f.calls = 0;
    p = mk_params(5, 8, 5);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 2, 5, 3);
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    CHECK(r.calls == 8);
    for (int s = 0; s < 8; s++)
        CHECK(r.per_step[s] == (s < 5 ? 1 : 0));
    CHECK(f.calls == 5);
    for (int j = 0; j < 5; j++)
        CHECK(out[j] == 1);

    /* two blocks of 4, two steps each: block 0 finishes in steps 1-2 and is the only one read */
    f.calls = 0;
    f.max_row = 0;
    f.max_rows_call = 0;
    p = mk_params(8, 4, 4);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 2, 8, 3);
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    for (int s = 0; s < 4; s++)
        CHECK(r.per_step[s] == 2);
    for (int j = 0; j < 4; j++)
        CHECK(r.commit_step[2 + j] >= 1 && r.commit_step[2 + j] <= 2);
    for (int j = 4; j < 8; j++)
        CHECK(r.commit_step[2 + j] >= 3);
    CHECK(f.max_rows_call <= 4);
    CHECK(f.violations == 0);
}

/* torch.linspace(1, eps, steps + 1) from python3-torch 1.13.1, as float32 bits */
static const uint32_t LIN_7[8] = {0x3f800000u, 0x3f5b7714u, 0x3f36ee27u, 0x3f12653au,
                                  0x3edbb89du, 0x3e92a6c4u, 0x3e1329d7u, 0x3a83126fu};
static const uint32_t LIN_20[21] = {
    0x3f800000u, 0x3f73367au, 0x3f666cf4u, 0x3f59a36eu, 0x3f4cd9e8u, 0x3f401062u, 0x3f3346dcu,
    0x3f267d56u, 0x3f19b3d0u, 0x3f0cea4au, 0x3f0020c4u, 0x3ee6ae7cu, 0x3ecd1b70u, 0x3eb38864u,
    0x3e99f559u, 0x3e80624du, 0x3e4d9e84u, 0x3e1a786cu, 0x3dcea4a9u, 0x3d50b0f2u, 0x3a83126fu};
static const uint32_t LIN_40[41] = {
    0x3f800000u, 0x3f79a9fcu, 0x3f7353f8u, 0x3f6cfdf4u, 0x3f66a7f0u, 0x3f6051ecu, 0x3f59fbe8u,
    0x3f53a5e3u, 0x3f4d4fdfu, 0x3f46f9dbu, 0x3f40a3d7u, 0x3f3a4dd3u, 0x3f33f7cfu, 0x3f2da1cau,
    0x3f274bc6u, 0x3f20f5c2u, 0x3f1a9fbeu, 0x3f1449bau, 0x3f0df3b6u, 0x3f079db2u, 0x3f0147aeu,
    0x3ef5e353u, 0x3ee9374bu, 0x3edc8b42u, 0x3ecfdf3bu, 0x3ec33333u, 0x3eb6872bu, 0x3ea9db22u,
    0x3e9d2f1au, 0x3e908312u, 0x3e83d70au, 0x3e6e5603u, 0x3e54fdf4u, 0x3e3ba5e3u, 0x3e224dd3u,
    0x3e08f5c2u, 0x3ddf3b64u, 0x3dac8b44u, 0x3d73b646u, 0x3d0e5604u, 0x3c23d70au};
static const uint32_t LIN_5_HALF[6] = {0x3f800000u, 0x3f666666u, 0x3f4ccccdu,
                                       0x3f333333u, 0x3f19999au, 0x3f000000u};

static int lin_mismatches(int steps, float eps, const uint32_t *want) {
    float t[64];
    um_dec_linspace_f32(1.0f, eps, steps + 1, t);
    int bad = 0;
    for (int i = 0; i <= steps; i++) {
        uint32_t b;
        memcpy(&b, &t[i], 4);
        bad += b != want[i];
    }
    return bad;
}

/* Dream transfer counts per step from n0 masks, simulated in PyTorch (commit = count). */
struct traj {
    float eps;
    int steps, n0;
    int counts[32];
};
static const struct traj TRAJ[] = {
    {1e-3f, 7, 10, {1, 1, 1, 1, 1, 2, 3}},
    {1e-3f, 8, 16, {1, 2, 2, 2, 2, 2, 2, 3}},
    {1e-3f, 3, 17, {5, 5, 7}},
    {1e-3f, 16, 100, {6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 8}},
    {0.5f, 4, 10, {1, 1, 1, 7}},
    /* exact arithmetic gives int(3 * (1 - 0.5 / 0.75)) = 1 on step 2; float32 gives 0 */
    {0.25f, 3, 4, {1, 0, 3}},
    {0.5f, 5, 64, {6, 6, 6, 6, 40}},
    {0.01f, 10, 256, {25, 25, 25, 25, 25, 25, 25, 26, 26, 29}},
    {0.01f, 32, 128, {3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                      4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 6}},
};

static void test_dream_schedule(void) {
    CHECK(lin_mismatches(7, 1e-3f, LIN_7) == 0);
    CHECK(lin_mismatches(20, 1e-3f, LIN_20) == 0); /* 16 vectorised + 5 scalar elements */
    CHECK(lin_mismatches(40, 0.01f, LIN_40) == 0);
    CHECK(lin_mismatches(5, 0.5f, LIN_5_HALF) == 0);

    /* 64 and 128 steps from 64 / 128 masks: 0, then 1 per step, 2 on the last step */
    float t[130];
    for (int n = 64; n <= 128; n += 64) {
        um_dec_linspace_f32(1.0f, 1e-3f, n + 1, t);
        int m = n, ok = 1;
        for (int i = 0; i < n; i++) {
            int k = um_dec_dream_count(m, t[i], t[i + 1], i == n - 1);
            int want = i == 0 ? 0 : i == n - 1 ? 2 : 1;
            ok &= k == want;
            m -= k;
        }
        CHECKF(ok, "dream counts %d/%d", n, n);
    }

    static const float row[4] = {0.5f, 1.0f, 0.0f, 0.2f};
    struct fake f = {.V = 4, .mask = 3, .fn = fn_same, .tab = row};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[1] = {2};
    static int32_t out[300];
    static struct rec r;
    for (size_t c = 0; c < sizeof TRAJ / sizeof TRAJ[0]; c++) {
        const struct traj *tr = &TRAJ[c];
        um_dec_linspace_f32(1.0f, tr->eps, tr->steps + 1, t);
        int n = tr->n0, ok = 1;
        for (int i = 0; i < tr->steps; i++) {
            int k = um_dec_dream_count(n, t[i], t[i + 1], i == tr->steps - 1);
            ok &= k == tr->counts[i];
            n -= k;
        }
        CHECKF(ok, "dream counts eps %g steps %d n %d (helper)", tr->eps, tr->steps, tr->n0);

        struct um_gen_params p = mk_params(tr->n0, tr->steps, tr->n0);
        p.alg = UM_ALG_ENTROPY;
        p.eps = tr->eps;
        p.progress = rec_progress;
        p.progress_user = &r;
        rec_init(&r, prompt, 1, tr->n0, 3);
        CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
        ok = r.calls == tr->steps;
        for (int i = 0; i < tr->steps; i++)
            ok &= r.per_step[i] == tr->counts[i];
        CHECKF(ok, "dream counts eps %g steps %d n %d (decoder)", tr->eps, tr->steps, tr->n0);
    }
    CHECK(f.violations == 0);
}

/* ---------------------------------------------------------------- selection */

static void test_ties(void) {
    /* identical logits everywhere: equal confidences, committed left to right */
    static const float row[4] = {0.1f, 0.7f, 0.3f, 0.0f};
    struct fake f = {.V = 4, .mask = 3, .fn = fn_same, .tab = row};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[3] = {0, 1, 2}, out[8], out2[8];
    struct rec r;
    struct um_gen_params p = mk_params(8, 8, 8);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 3, 8, 3);
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    for (int j = 0; j < 8; j++)
        CHECK(r.commit_step[3 + j] == j + 1);

    p.alg = UM_ALG_MASKGIT_PLUS;
    p.steps = 4;
    rec_init(&r, prompt, 3, 8, 3);
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    for (int j = 1; j < 8; j++)
        CHECK(r.commit_step[3 + j] >= r.commit_step[3 + j - 1]);

    /* the same seed reproduces a sampled run; other seeds give other runs */
    p = mk_params(8, 8, 8);
    p.temperature = 1.0;
    p.seed = 42;
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    CHECK(um_decode_run(&m, prompt, 3, &p, out2) == UM_OK);
    CHECK(memcmp(out, out2, sizeof out) == 0);
    int differ = 0;
    for (uint64_t s = 43; s < 53; s++) {
        p.seed = s;
        CHECK(um_decode_run(&m, prompt, 3, &p, out2) == UM_OK);
        differ += memcmp(out, out2, sizeof out) != 0;
    }
    CHECK(differ > 0);
    CHECK(f.violations == 0);
}

/* cfg: conditional logits when the prompt is visible, unconditional when it is masked */
static float fn_cfg(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)n_tokens;
    (void)row;
    static const float cond[3] = {1.0f, 1.2f, 0.0f}, un[3] = {0.0f, 1.5f, 0.0f};
    return tokens[0] == f->mask ? un[v] : cond[v];
}

static void test_cfg(void) {
    struct fake f = {.V = 3, .mask = 2, .fn = fn_cfg};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[2] = {1, 0}, out[4];
    struct um_gen_params p = mk_params(4, 4, 4);
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    for (int j = 0; j < 4; j++)
        CHECK(out[j] == 1); /* argmax of cond */
    CHECK(f.calls == 4);

    /* cfg 1: un + 2 (cond - un) = [2, 0.9, 0] -> token 0 */
    f.calls = 0;
    p.cfg = 1.0;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    for (int j = 0; j < 4; j++)
        CHECK(out[j] == 0);
    CHECK(f.calls == 8);
    /* cfg 0.5: un + 1.5 (cond - un) = [1.5, 1.05, 0] -> token 0 */
    p.cfg = 0.5;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    for (int j = 0; j < 4; j++)
        CHECK(out[j] == 0);
    /* cfg 0.1: un + 1.1 (cond - un) = [1.1, 1.17, 0] -> token 1 */
    p.cfg = 0.1;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    for (int j = 0; j < 4; j++)
        CHECK(out[j] == 1);
    CHECK(f.violations == 0);
}

/* rows of gen position 2 peaked, the rest flat (canvas offset 1 for the prompt) */
static float fn_peak(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    (void)f;
    return row == 3 ? (v == 0 ? 20.0f : 0.0f) : 0.0f;
}

static void test_alg_temp(void) {
    /* 4 masks, steps 2, eps 1e-3: step 1 commits int(4 * (1 - 0.5005)) = 1 position */
    struct fake f = {.V = 4, .mask = 3, .fn = fn_peak};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[1] = {1}, out[4];
    struct rec r;
    struct um_gen_params p = mk_params(4, 2, 4);
    p.alg = UM_ALG_ENTROPY;
    p.progress = rec_progress;
    p.progress_user = &r;

    int first_not_peak0 = 0, first_not_peak1 = 0;
    const int n_seeds = 400;
    for (int s = 0; s < n_seeds; s++) {
        p.seed = (uint64_t)s;
        p.alg_temp = 0.0;
        rec_init(&r, prompt, 1, 4, 3);
        CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
        CHECK(r.per_step[0] == 1);
        first_not_peak0 += r.commit_step[3] != 1;
        p.alg_temp = 1.0;
        rec_init(&r, prompt, 1, 4, 3);
        CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
        CHECK(r.per_step[0] == 1);
        first_not_peak1 += r.commit_step[3] != 1;
    }
    CHECK(first_not_peak0 == 0);
    /* P(first pick not the peak) = 3w / (1 + 3w), w = exp(c_flat - c_peak) with the
     * negative entropies c; accept mean +- 6 sd of the binomial (fails w.p. < 1e-8) */
    double c_flat = 4 * 0.25 * log(0.25 + 1e-10);
    double z = 1 + 3 * exp(-20.0), p0 = 1 / z, pe = exp(-20.0) / z;
    double c_peak = p0 * log(p0 + 1e-10) + 3 * pe * log(pe + 1e-10);
    double w = exp(c_flat - c_peak), q = 3 * w / (1 + 3 * w);
    double mean = n_seeds * q, sd = sqrt(n_seeds * q * (1 - q));
    CHECKF(fabs(first_not_peak1 - mean) < 6 * sd, "alg_temp: %d of %d not peak first, expect %.1f",
           first_not_peak1, n_seeds, mean);
}

/* per canvas row (prompt of 1): gen 0 flat, gen 1 mildly peaked, gen 2 strongly, gen 3 flat */
static float fn_levels(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    (void)f;
    if (row == 2) return v == 1 ? 1.0f : 0.0f;
    if (row == 3) return v == 2 ? 6.0f : 0.0f;
    return 0.0f;
}

static void test_confidence_order(void) {
    struct fake f = {.V = 4, .mask = 3, .fn = fn_levels};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[1] = {0}, out[4];
    struct rec r;
    const enum um_alg algs[3] = {UM_ALG_ENTROPY, UM_ALG_MASKGIT_PLUS, UM_ALG_TOPK_MARGIN};
    for (int a = 0; a < 3; a++) {
        struct um_gen_params p = mk_params(4, 2, 4);
        p.alg = algs[a];
        p.progress = rec_progress;
        p.progress_user = &r;
        rec_init(&r, prompt, 1, 4, 3);
        CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
        /* the most peaked position (gen 2) is committed first, alone */
        CHECKF(r.commit_step[3] == 1 && r.per_step[0] == 1, "alg %d", (int)algs[a]);
        CHECK(out[2] == 2 && out[1] == 1);
    }
    /* a direct check of the entropy sign: 3 steps from 4 masks commit 1, 1, 2 */
    struct um_gen_params p = mk_params(4, 3, 4);
    p.alg = UM_ALG_ENTROPY;
    p.eps = 0.1; /* counts 1, 1, 2 (torch) */
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 1, 4, 3);
    CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
    CHECK(r.commit_step[3] == 1 && r.commit_step[2] == 2 && r.commit_step[1] == 3 &&
          r.commit_step[4] == 3);
}

/* ---------------------------------------------------------------- sampling distribution */

static double chi_square(const int *count, const double *prob, int k, int n) {
    double x = 0;
    for (int i = 0; i < k; i++) {
        double e = n * prob[i];
        x += (count[i] - e) * (count[i] - e) / e;
    }
    return x;
}

static void sampled_distribution(const char *what, const struct um_gen_params *p0, double temp) {
    enum { N = 20000 };
    static const float row[4] = {0.0f, 1.0f, 2.0f, 0.5f};
    struct fake f = {.V = 5, .mask = 4, .fn = fn_same};
    static float row5[5];
    for (int v = 0; v < 4; v++)
        row5[v] = row[v];
    row5[4] = -INFINITY; /* the mask token itself is never proposed */
    f.tab = row5;
    struct um_decode_model m = mk_model(&f, -1, -1);
    static int32_t out[N];
    int32_t prompt[1] = {0};
    struct um_gen_params p = *p0;
    p.gen_length = N;
    p.block_length = N;
    p.steps = 1;
    p.temperature = temp;
    p.seed = 7;
    CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
    int count[4] = {0, 0, 0, 0}, other = 0;
    for (int j = 0; j < N; j++) {
        if (out[j] >= 0 && out[j] < 4)
            count[out[j]]++;
        else
            other++;
    }
    double prob[4], z = 0;
    for (int v = 0; v < 4; v++)
        z += exp(row[v] / temp);
    for (int v = 0; v < 4; v++)
        prob[v] = exp(row[v] / temp) / z;
    double x = chi_square(count, prob, 4, N);
    int distinct = (count[0] > 0) + (count[1] > 0) + (count[2] > 0) + (count[3] > 0);
    CHECKF(other == 0 && distinct == 4, "%s: tokens do not vary across positions", what);
    /* chi-square, 3 degrees of freedom: P(X > 30.66) = 1e-6 */
    CHECKF(x < 30.66, "%s: chi-square %.2f (counts %d %d %d %d)", what, x, count[0], count[1],
           count[2], count[3]);
}

static void test_sampling(void) {
    struct um_gen_params p = mk_params(1, 1, 1);
    sampled_distribution("llada gumbel T=1", &p, 1.0);
    sampled_distribution("llada gumbel T=0.5", &p, 0.5);
    p.remasking = UM_REMASK_RANDOM;
    sampled_distribution("llada random remasking T=1", &p, 1.0);
    p = mk_params(1, 1, 1);
    p.alg = UM_ALG_ENTROPY;
    sampled_distribution("dream entropy T=1", &p, 1.0);
    p.alg = UM_ALG_ORIGIN;
    sampled_distribution("dream origin T=0.7", &p, 0.7);
    p.alg = UM_ALG_MASKGIT_PLUS;
    p.top_p = 1.0;
    sampled_distribution("dream maskgit_plus T=2", &p, 2.0);
}

/* ---------------------------------------------------------------- filters */

static int kept_mask(const float *l, int n) {
    int k = 0;
    for (int v = 0; v < n; v++)
        if (l[v] != -FLT_MAX) k |= 1 << v;
    return k;
}

/* Brute-force top_p keep set (full sort by probability desc, ties by lower id). */
static const double *g_prob;
static int cmp_rank(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_prob[x] != g_prob[y]) return g_prob[x] > g_prob[y] ? -1 : 1;
    return x < y ? -1 : 1;
}

static void test_top_p_random(void) {
    enum { VMAX = 3000 };
    static float l[VMAX], ref[VMAX];
    static double prob[VMAX], bprob[VMAX];
    static int32_t idx[VMAX], order[VMAX];
    um_rng r;
    um_rng_seed(&r, 99, 0);
    int bad = 0;
    for (int it = 0; it < 300; it++) {
        int V = 17 + (int)(um_rng_uniform(&r) * (VMAX - 17));
        double scale = 0.1 + 10 * um_rng_uniform(&r), top_p = um_rng_uniform(&r);
        for (int v = 0; v < V; v++) {
            l[v] = (float)(scale * -log(-log(um_rng_uniform(&r))));
            ref[v] = l[v];
        }
        float mx = l[um_dec_argmax(l, V)];
        double sum = 0;
        for (int v = 0; v < V; v++)
            sum += bprob[v] = exp((double)l[v] - mx);
        for (int v = 0; v < V; v++) {
            bprob[v] /= sum;
            order[v] = v;
        }
        g_prob = bprob;
        qsort(order, (size_t)V, sizeof order[0], cmp_rank);
        double cum = 0;
        int kept = V;
        for (int j = 0; j < V; j++) {
            cum += bprob[order[j]];
            if (cum > top_p) {
                kept = j + 1;
                break;
            }
        }
        um_dec_top_p(l, V, top_p, prob, idx);
        for (int j = 0; j < V; j++) {
            bool want = j < kept;
            int32_t v = order[j];
            bad += want ? l[v] != ref[v] : l[v] != -FLT_MAX;
        }
    }
    CHECKF(bad == 0, "top_p vs brute force: %d tokens differ", bad);

    /* flat row of 1024: probabilities 2^-10 are exact; cumsum exceeds 0.5 at the 513th */
    for (int v = 0; v < 1024; v++)
        l[v] = 0.25f;
    um_dec_top_p(l, 1024, 0.5, prob, idx);
    int ok = 1;
    for (int v = 0; v < 1024; v++)
        ok &= v < 513 ? l[v] == 0.25f : l[v] == -FLT_MAX;
    CHECK(ok);
}

static void test_filters(void) {
    double prob[4];
    int32_t idx[4];
    float heap[4];
    /* softmax = .598 .133 .220 .049; sorted 0, 2, 1, 3; cumulative .598 .818 .951 1 */
    const float base[4] = {2.0f, 0.5f, 1.0f, -0.5f};
    const struct {
        double top_p;
        int kept;
    } cases[] = {{0.8, 0x5}, {0.5, 0x1}, {0.6, 0x5}, {0.82, 0x7}, {0.96, 0xf}, {1e-9, 0x1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float l[4];
        memcpy(l, base, sizeof l);
        um_dec_top_p(l, 4, cases[c].top_p, prob, idx);
        CHECKF(kept_mask(l, 4) == cases[c].kept, "top_p %g kept 0x%x", cases[c].top_p,
               kept_mask(l, 4));
        CHECK(l[0] == 2.0f);
    }
    float l[4];
    memcpy(l, base, sizeof l);
    um_dec_top_k(l, 4, 2, heap);
    CHECK(kept_mask(l, 4) == 0x5);
    const float ties[4] = {1.0f, 1.0f, 1.0f, 0.0f};
    memcpy(l, ties, sizeof l);
    um_dec_top_k(l, 4, 2, heap); /* ties with the 2nd largest are kept */
    CHECK(kept_mask(l, 4) == 0x7);
    memcpy(l, base, sizeof l);
    um_dec_top_k(l, 4, 0, heap);
    CHECK(kept_mask(l, 4) == 0xf);

    /* temperature 0: top_p / top_k leave the argmax alone */
    struct fake f = {.V = 9, .mask = 8, .fn = fn_by_row}; /* (3r + 1) % 9 never 8 */
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[2] = {0, 1}, ref[12], out[12];
    struct um_gen_params p = mk_params(12, 6, 12);
    p.alg = UM_ALG_MASKGIT_PLUS;
    CHECK(um_decode_run(&m, prompt, 2, &p, ref) == UM_OK);
    for (int j = 0; j < 12; j++)
        CHECK(ref[j] == (3 * (2 + j) + 1) % 9);
    p.top_p = 0.05;
    p.top_k = 1;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    CHECK(memcmp(ref, out, sizeof out) == 0);
    p.top_p = 0.9;
    p.top_k = 3;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    CHECK(memcmp(ref, out, sizeof out) == 0);
    /* temperature 1 with top_k 1 or a tiny top_p: only the argmax survives */
    p.temperature = 1.0;
    p.top_p = 1.0;
    p.top_k = 1;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    CHECK(memcmp(ref, out, sizeof out) == 0);
    p.top_k = 0;
    p.top_p = 0.01;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    CHECK(memcmp(ref, out, sizeof out) == 0);
    CHECK(f.violations == 0);
}

/* ---------------------------------------------------------------- Dream logit shift */

static void test_shift(void) {
    struct fake f = {.V = 15, .mask = 14, .fn = fn_by_row, .shift = true};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[3] = {4, 5, 6}, out[6];
    struct um_gen_params p = mk_params(6, 3, 6);
    p.alg = UM_ALG_ENTROPY;
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    for (int j = 0; j < 6; j++)
        CHECK(out[j] == (3 * (3 + j - 1) + 1) % 15); /* row i - 1 */
    CHECK(f.violations == 0);

    /* no prompt: positions 0 and 1 both read row 0, requested once */
    f.max_rows_call = 0;
    CHECK(um_decode_run(&m, NULL, 0, &p, out) == UM_OK);
    CHECK(out[0] == 1 && out[1] == 1);
    for (int j = 2; j < 6; j++)
        CHECK(out[j] == (3 * (j - 1) + 1) % 15);
    CHECK(f.violations == 0);
    CHECK(f.max_rows_call <= 5);

    /* origin reveals through the same rows */
    p.alg = UM_ALG_ORIGIN;
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    for (int j = 0; j < 6; j++)
        CHECK(out[j] == (3 * (3 + j - 1) + 1) % 15);

    /* without the shift, position i reads row i */
    f.shift = false;
    m = mk_model(&f, -1, -1);
    p.alg = UM_ALG_ENTROPY;
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    for (int j = 0; j < 6; j++)
        CHECK(out[j] == (3 * (3 + j) + 1) % 15);
    CHECK(f.violations == 0);
}

/* ---------------------------------------------------------------- EOS options */

/* canvas rows 1..4 (prompt of 1): EOS sure, EoT sure, token 0 likely, token 1 less likely */
static float fn_eos(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    (void)f;
    static const float t[4][6] = {{0, 0, 0, 9, 0, -INFINITY},
                                  {0, 0, 0, 0, 9, -INFINITY},
                                  {3, 0, 0, 0, 0, -INFINITY},
                                  {0, 2, 0, 0, 0, -INFINITY}};
    return t[(row - 1) & 3][v];
}

/* rows 1, 2: A = token 0 beside a strong EOS, B = token 1 alone */
static float fn_renorm(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    (void)f;
    static const float t[2][6] = {{2, 0, 0, 1.9f, 0, -INFINITY}, {0, 1.5f, 0, 0, 0, -INFINITY}};
    return t[(row - 1) & 1][v];
}

static void test_eos_options(void) {
    struct fake f = {.V = 6, .mask = 5, .fn = fn_eos};
    struct um_decode_model m = mk_model(&f, 3, 4);
    int32_t prompt[1] = {0}, out[4];
    struct rec r;
    struct um_gen_params p = mk_params(4, 4, 4);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 1, 4, 5);
    CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
    CHECK(out[0] == 3 && out[1] == 4 && out[2] == 0 && out[3] == 1);
    CHECK(r.commit_step[1] == 1 && r.commit_step[2] == 2 && r.commit_step[3] == 3 &&
          r.commit_step[4] == 4);

    /* confidence_eos_eot_inf: EOS/EoT proposals wait until nothing else is left */
    p.confidence_eos_eot_inf = true;
    rec_init(&r, prompt, 1, 4, 5);
    CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
    CHECK(out[0] == 3 && out[1] == 4 && out[2] == 0 && out[3] == 1);
    CHECK(r.commit_step[3] == 1 && r.commit_step[4] == 2 && r.commit_step[1] == 3 &&
          r.commit_step[2] == 4);

    /* As the reference at temperature 0 (its line clears the EOS and EoT columns of the
     * logits the softmax reads), confidences are renormalised without EOS/EoT: A = .433 < B =
     * .528 becomes A = .787 > B = .692, so A is committed first. */
    struct fake f2 = {.V = 6, .mask = 5, .fn = fn_renorm};
    struct um_decode_model m2 = mk_model(&f2, 3, 4);
    struct um_gen_params p2 = mk_params(2, 2, 2);
    p2.progress = rec_progress;
    p2.progress_user = &r;
    rec_init(&r, prompt, 1, 2, 5);
    CHECK(um_decode_run(&m2, prompt, 1, &p2, out) == UM_OK);
    CHECK(out[0] == 0 && out[1] == 1 && r.commit_step[2] == 1 && r.commit_step[1] == 2);
    p2.confidence_eos_eot_inf = true;
    rec_init(&r, prompt, 1, 2, 5);
    CHECK(um_decode_run(&m2, prompt, 1, &p2, out) == UM_OK);
    CHECK(out[0] == 0 && out[1] == 1 && r.commit_step[1] == 1 && r.commit_step[2] == 2);

    /* logits_eos_inf: EOS is never proposed (EoT still is) */
    p.confidence_eos_eot_inf = false;
    p.logits_eos_inf = true;
    CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
    CHECK(out[0] == 0 && out[1] == 4 && out[2] == 0 && out[3] == 1);
    p.temperature = 1.0;
    for (uint64_t s = 0; s < 20; s++) {
        p.seed = s;
        CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
        for (int j = 0; j < 4; j++)
            CHECK(out[j] != 3 && out[j] != 5);
    }
}

/* ---------------------------------------------------------------- random remasking */

static void test_random_remasking(void) {
    static const float row[4] = {0.1f, 0.7f, 0.3f, 0.0f};
    struct fake f = {.V = 4, .mask = 3, .fn = fn_same, .tab = row};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[1] = {0}, out[8];
    struct rec r;
    struct um_gen_params p = mk_params(8, 8, 8);
    p.remasking = UM_REMASK_RANDOM;
    p.progress = rec_progress;
    p.progress_user = &r;
    int not_left_to_right = 0;
    for (uint64_t s = 0; s < 10; s++) {
        p.seed = s;
        rec_init(&r, prompt, 1, 8, 3);
        CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
        for (int j = 0; j < 8; j++)
            CHECK(out[j] == 1);
        int inorder = 1;
        for (int j = 0; j < 8; j++)
            inorder &= r.commit_step[1 + j] == j + 1;
        not_left_to_right += !inorder;
    }
    CHECK(not_left_to_right >= 9); /* 1/8! chance per seed of the identity order */
}

/* ---------------------------------------------------------------- cancel, errors */

static void test_cancel_and_errors(void) {
    static const float row[4] = {0.1f, 0.7f, 0.3f, 0.0f};
    struct fake f = {.V = 4, .mask = 3, .fn = fn_same, .tab = row};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[2] = {0, 1}, out[16];
    struct rec r;

    struct um_gen_params p = mk_params(8, 8, 8);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 2, 8, 3);
    r.cancel_at = 2;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_ERR_CANCELLED);
    CHECK(r.calls == 2);
    CHECK(out[0] == 1 && out[1] == 1);
    for (int j = 2; j < 8; j++)
        CHECK(out[j] == 3);
    CHECK(strstr(um_last_error(), "cancel") != NULL);

    p.alg = UM_ALG_ENTROPY;
    rec_init(&r, prompt, 2, 8, 3);
    r.cancel_at = 1;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_ERR_CANCELLED);
    CHECK(r.calls == 1);

    /* provider failures propagate */
    f.fail = UM_ERR_IO;
    p = mk_params(8, 8, 8);
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_ERR_IO);
    f.fail = UM_OK;

    struct bad {
        struct um_gen_params p;
        const char *msg;
    } bad[20];
    int nb = 0;
    bad[nb] = (struct bad){mk_params(0, 4, 4), "--gen-length 0"};
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 7), "--block-length 7 does not divide --gen-length 16"};
    nb++;
    bad[nb] = (struct bad){mk_params(16, 5, 4), "--steps 5"};
    nb++;
    bad[nb] = (struct bad){mk_params(16, 0, 16), "--steps 0"};
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 0), "--block-length 0"};
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--temperature"};
    bad[nb].p.temperature = -1;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--temperature"};
    bad[nb].p.temperature = NAN;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--top-p 0 must be in (0, 1]"};
    bad[nb].p.top_p = 0;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--top-p 1.5"};
    bad[nb].p.top_p = 1.5;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--top-k -1"};
    bad[nb].p.top_k = -1;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--cfg"};
    bad[nb].p.cfg = -0.5;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--alg-temp"};
    bad[nb].p.alg_temp = -1;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--eps 0 must be in (0, 1)"};
    bad[nb].p.alg = UM_ALG_ENTROPY;
    bad[nb].p.eps = 0;
    nb++;
    bad[nb] = (struct bad){mk_params(16, 4, 16), "--eps 1 "};
    bad[nb].p.alg = UM_ALG_ORIGIN;
    bad[nb].p.eps = 1;
    nb++;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < 16; j++)
            out[j] = 777;
        enum um_status s = um_decode_run(&m, prompt, 2, &bad[i].p, out);
        CHECKF(s == UM_ERR_ARG && strstr(um_last_error(), bad[i].msg) != NULL,
               "case %d: status %d, message '%s', want '%s'", i, (int)s, um_last_error(),
               bad[i].msg);
        CHECK(out[0] == 777 && out[15] == 777); /* untouched */
    }
    /* a block schedule option does not constrain the Dream schedule, and vice versa */
    p = mk_params(16, 4, 7);
    p.alg = UM_ALG_ENTROPY;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    p = mk_params(16, 4, 16);
    p.eps = 0;
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);

    /* inputs: prompt ids, mask id, NULLs */
    int32_t bad_prompt[2] = {0, 4};
    p = mk_params(4, 4, 4);
    CHECK(um_decode_run(&m, bad_prompt, 2, &p, out) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "prompt token 1 is id 4") != NULL);
    bad_prompt[1] = -2;
    CHECK(um_decode_run(&m, bad_prompt, 2, &p, out) == UM_ERR_ARG);
    struct um_decode_model m2 = m;
    m2.mask_id = 4;
    CHECK(um_decode_run(&m2, prompt, 2, &p, out) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "mask id") != NULL);
    m2 = m;
    m2.eos_id = 9;
    CHECK(um_decode_run(&m2, prompt, 2, &p, out) == UM_ERR_ARG);
    CHECK(um_decode_run(NULL, prompt, 2, &p, out) == UM_ERR_ARG);
    CHECK(um_decode_run(&m, prompt, 2, NULL, out) == UM_ERR_ARG);
    CHECK(um_decode_run(&m, prompt, 2, &p, NULL) == UM_ERR_ARG);
    CHECK(um_decode_run(&m, NULL, 2, &p, out) == UM_ERR_ARG);
    CHECK(um_decode_run(&m, prompt, -1, &p, out) == UM_ERR_ARG);
    /* steps > gen_length is allowed (LLaDA commits 0 on some steps) */
    p = mk_params(4, 12, 4);
    CHECK(um_decode_run(&m, prompt, 2, &p, out) == UM_OK);
    for (int j = 0; j < 4; j++)
        CHECK(out[j] == 1);
}

/* A prompt holding mask ids is infilled (the references treat every mask as a candidate). */
static void test_prompt_masks(void) {
    static const float row[4] = {0.1f, 0.7f, 0.3f, 0.0f};
    struct fake f = {.V = 4, .mask = 3, .fn = fn_same, .tab = row};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[3] = {0, 3, 2}, out[4];
    struct rec r;
    struct um_gen_params p = mk_params(4, 4, 4);
    p.progress = rec_progress;
    p.progress_user = &r;
    rec_init(&r, prompt, 3, 4, 3);
    CHECK(um_decode_run(&m, prompt, 3, &p, out) == UM_OK);
    CHECK(r.commit_step[1] == 1); /* the prompt's mask goes first (lowest position) */
    int masks = 0;
    for (int j = 0; j < 4; j++)
        masks += out[j] == 3;
    CHECK(masks == 1); /* 4 commits for 5 masks: the block's last position stays masked */
    CHECK(f.violations == 0);
}

/* canvas row 1 (the first generated position) proposes the mask token itself */
static float fn_mask_pick(const struct fake *f, const int32_t *tokens, int n_tokens, int row,
                          int v) {
    (void)tokens;
    (void)n_tokens;
    (void)f;
    if (row == 1) return v == 3 ? 5.0f : 0.0f;
    return v == 1 ? 2.0f : v == 3 ? -INFINITY : 0.0f;
}

/* A committed mask_id stays a candidate (as in the reference); later blocks then have more
 * candidates than one block's rows, which the decoder requests in chunks. */
static void test_mask_commit(void) {
    struct fake f = {.V = 4, .mask = 3, .fn = fn_mask_pick};
    struct um_decode_model m = mk_model(&f, -1, -1);
    int32_t prompt[1] = {0}, out[8];
    struct um_gen_params p = mk_params(8, 8, 4);
    CHECK(um_decode_run(&m, prompt, 1, &p, out) == UM_OK);
    CHECK(f.violations == 0);
    CHECK(f.max_rows_call <= 4);
    CHECK(f.calls == 4 + 4 * 2); /* block 1: 8 candidates in 2 chunks of 4 */
    for (int j = 0; j < 8; j++)
        CHECK(out[j] == 3); /* position 0 wins every step and is "committed" as a mask */
}

/* Position-dependent fake: row r prefers token (r % 5) + 1, except rows >= eos_row prefer EOS
 * (id 0); confidence grows with the row so the order is deterministic. */
static float fn_eos_at(const struct fake *f, const int32_t *tokens, int n_tokens, int row, int v) {
    (void)tokens;
    (void)n_tokens;
    const int eos_row = (int)f->tab[0];
    const int want = row >= eos_row ? 0 : row % 5 + 1;
    return v == want ? 4.0f + 0.01f * (float)row : 0.0f;
}

/* --early-stop: after the block that completes an EOS with nothing masked before it the rest
 * is EOS, no further provider call is made, and stats count tokens up to the EOS. Scoring:
 * committing a given target sums -log p(target) over exactly gen_length commits. */
static void test_early_stop_and_score(void) {
    const float eos_row = 10; /* canvas row 10 = generated position 7 (prompt of 3) */
    struct fake f = {.V = 8, .mask = 7, .fn = fn_eos_at, .tab = &eos_row};
    struct um_decode_model m = mk_model(&f, 0, -1);
    const int32_t prompt[3] = {1, 2, 3};
    struct um_gen_params p = mk_params(24, 24, 4);
    int32_t full[24], early[24];
    struct um_gen_stats st_full, st_early;
    CHECK(um_decode_run_stats(&m, prompt, 3, &p, full, &st_full) == UM_OK);
    const int calls_full = f.calls;
    f.calls = 0;
    p.early_stop = true;
    CHECK(um_decode_run_stats(&m, prompt, 3, &p, early, &st_early) == UM_OK);
    CHECK(st_full.tokens == 24);
    CHECKF(st_early.tokens == 8, "early stop counted %d tokens", st_early.tokens);
    for (int i = 0; i < 8; i++) CHECK(early[i] == full[i]);
    for (int i = 8; i < 24; i++) CHECK(early[i] == 0);
    CHECKF(f.calls < calls_full && st_early.forwards == f.calls, "calls %d of %d", f.calls,
           calls_full);

    /* scoring: target = what greedy decoding produced, so every commit is the argmax */
    p.early_stop = false;
    p.score_target = full;
    int32_t out[24];
    struct um_gen_stats sc;
    CHECK(um_decode_run_stats(&m, prompt, 3, &p, out, &sc) == UM_OK);
    for (int i = 0; i < 24; i++) CHECK(out[i] == full[i]);
    /* each row: softmax over 8 logits with one at 4 + 0.01 r, seven at 0 */
    double want = 0;
    for (int j = 3; j < 27; j++) {
        double a = (double)(4.0f + 0.01f * (float)j);
        want += -log(exp(a) / (exp(a) + 7.0));
    }
    CHECKF(fabs(sc.nll - want) < 1e-4, "nll %.6f want %.6f", sc.nll, want);
    p.score_target = NULL;
}

int main(void) {
    test_llada_counts();
    test_dream_schedule();
    test_ties();
    test_cfg();
    test_alg_temp();
    test_confidence_order();
    test_sampling();
    test_filters();
    test_top_p_random();
    test_shift();
    test_eos_options();
    test_random_remasking();
    test_cancel_and_errors();
    test_prompt_masks();
    test_mask_commit();
    test_early_stop_and_score();
    return TEST_DONE();
}

/*
 * sample.c: the per-row rules of the two reference samplers and the position selection rules.
 *
 * LLaDA (ML-GSAI/LLaDA generate.py): `add_gumbel_noise` + argmax, and the softmax probability
 * of the chosen token as its confidence.
 * Dream (Dream-org/Dream-v0-*-7B generation_utils.py, HKUNLP/Dream): `top_p_logits`,
 * `top_k_logits`, `sample_tokens` (categorical draw or argmax, and the three confidences).
 * Selection: torch.topk over confidences (ties by lower position: torch leaves the order of
 * equal values unspecified) and torch.multinomial without replacement via the Gumbel-top-k
 * trick (Kool, van Hoof, Welling, ICML 2019, "Stochastic Beams and Where to Find Them").
 */
#include "decode/decode-impl.h"

#include <float.h>
#include <math.h>

int32_t um_dec_argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* The reference draws u ~ U(0,1) per (position, token) in float64 and takes
 * argmax_v exp(l_v) / (-log u_v)^temperature. We take the logarithm of that score,
 * l_v - temperature * log(-log u_v): the same argmax (log is monotone), without the overflow
 * of exp() in float64 for logits above ~709 where the reference would compare infinities. */
int32_t um_dec_gumbel_argmax(const float *l, int n_vocab, double temperature, um_rng *rng) {
    int32_t best = 0;
    double best_score = -INFINITY;
    for (int v = 0; v < n_vocab; v++) {
        double u = um_rng_uniform(rng); /* in (0, 1): both logs are finite */
        double score = (double)l[v] - temperature * log(-log(u));
        if (score > best_score || v == 0) {
            best_score = score;
            best = v;
        }
    }
    return best;
}

double um_dec_softmax_prob(const float *l, int n_vocab, int32_t k, int32_t ex_a, int32_t ex_b) {
    if (k == ex_a || k == ex_b) return 0.0;
    double mx = -INFINITY;
    for (int v = 0; v < n_vocab; v++)
        if (v != ex_a && v != ex_b && l[v] > mx) mx = l[v];
    if (mx == -INFINITY) return 0.0; /* every logit -inf: no probability anywhere */
    double sum = 0.0;
    for (int v = 0; v < n_vocab; v++)
        if (v != ex_a && v != ex_b) sum += exp((double)l[v] - mx);
    return exp((double)l[k] - mx) / sum;
}

/* Stable merge sort of idx[n] by key descending (ties keep their input order). */
static void sort_desc_f64(const double *key, int32_t *idx, int32_t *tmp, int n) {
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n;
            int hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, o = lo;
            while (a < mid && b < hi) {
                /* take from the right half only if strictly greater: stability */
                if (key[idx[b]] > key[idx[a]])
                    tmp[o++] = idx[b++];
                else
                    tmp[o++] = idx[a++];
            }
            while (a < mid)
                tmp[o++] = idx[a++];
            while (b < hi)
                tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* Token a ranks before token b: higher probability, ties by lower id (a total order). */
static bool ranks_before(const double *prob, int32_t a, int32_t b) {
    return prob[a] > prob[b] || (prob[a] == prob[b] && a < b);
}

static void swap_i32(int32_t *a, int32_t *b) {
    int32_t t = *a;
    *a = *b;
    *b = t;
}

void um_dec_top_p(float *l, int n_vocab, double top_p, double *prob, int32_t *idx) {
    float mx = l[um_dec_argmax(l, n_vocab)];
    if (mx == -INFINITY) return; /* nothing has probability: nothing to filter */
    double sum = 0.0;
    for (int v = 0; v < n_vocab; v++) {
        prob[v] = exp((double)l[v] - (double)mx);
        sum += prob[v];
    }
    for (int v = 0; v < n_vocab; v++) {
        prob[v] /= sum;
        idx[v] = v;
    }

    /* Reference rule: sort descending, remove[j] = cumsum[j] > top_p, shifted right by one with
     * remove[0] = 0; i.e. keep the first K = j* + 1 tokens, j* the first index whose inclusive
     * cumulative probability exceeds top_p (all tokens if none does). The reference sorts the
     * whole row; we find K by quickselect on the rank order, carrying the mass ranked before
     * the current range (expected O(V)). On return idx[0..K) holds the kept tokens. */
    int lo = 0, hi = n_vocab, kept = -1;
    double acc = 0.0; /* probability of the tokens in idx[0..lo) */
    while (hi - lo > 16) {
        /* median of three as pivot, moved to idx[hi - 1] */
        int mid = lo + (hi - lo) / 2;
        if (ranks_before(prob, idx[mid], idx[lo])) swap_i32(&idx[mid], &idx[lo]);
        if (ranks_before(prob, idx[hi - 1], idx[lo])) swap_i32(&idx[hi - 1], &idx[lo]);
        if (ranks_before(prob, idx[mid], idx[hi - 1])) swap_i32(&idx[mid], &idx[hi - 1]);
        int32_t pv = idx[hi - 1];
        int store = lo;
        double mass = 0.0;
        for (int i = lo; i < hi - 1; i++)
            if (ranks_before(prob, idx[i], pv)) {
                swap_i32(&idx[i], &idx[store]);
                mass += prob[idx[store]];
                store++;
            }
        swap_i32(&idx[store], &idx[hi - 1]); /* pivot at its rank */
        if (acc + mass > top_p) {
            hi = store; /* the boundary lies among the tokens ranked before the pivot */
        } else if (acc + mass + prob[pv] > top_p) {
            kept = store + 1; /* the pivot is the boundary */
            break;
        } else {
            acc += mass + prob[pv];
            lo = store + 1;
        }
    }
    if (kept < 0) {
        /* a short range: insertion sort it and scan */
        for (int i = lo + 1; i < hi; i++)
            for (int j = i; j > lo && ranks_before(prob, idx[j], idx[j - 1]); j--)
                swap_i32(&idx[j], &idx[j - 1]);
        kept = hi; /* also when rounding of the sums left the boundary unmet */
        for (int i = lo; i < hi; i++) {
            acc += prob[idx[i]];
            if (acc > top_p) {
                kept = i + 1;
                break;
            }
        }
    }
    for (int j = 0; j < kept; j++)
        prob[idx[j]] = -1.0; /* marks kept tokens */
    for (int v = 0; v < n_vocab; v++)
        if (prob[v] != -1.0) l[v] = -FLT_MAX;
}

/* Min-heap of k floats: heap[0] is the smallest of the k largest seen so far. */
static void heap_sift_down(float *h, int k, int i) {
    for (;;) {
        int s = i, a = 2 * i + 1, b = 2 * i + 2;
        if (a < k && h[a] < h[s]) s = a;
        if (b < k && h[b] < h[s]) s = b;
        if (s == i) return;
        float t = h[i];
        h[i] = h[s];
        h[s] = t;
        i = s;
    }
}

void um_dec_top_k(float *l, int n_vocab, int top_k, float *heap) {
    if (top_k <= 0 || top_k >= n_vocab) return; /* min(top_k, V) keeps everything */
    for (int v = 0; v < top_k; v++)
        heap[v] = l[v];
    for (int i = top_k / 2 - 1; i >= 0; i--)
        heap_sift_down(heap, top_k, i);
    for (int v = top_k; v < n_vocab; v++)
        if (l[v] > heap[0]) {
            heap[0] = l[v];
            heap_sift_down(heap, top_k, 0);
        }
    float kth = heap[0]; /* torch.topk(logits, k)[0][..., -1] */
    for (int v = 0; v < n_vocab; v++)
        if (l[v] < kth) l[v] = -FLT_MAX;
}

int32_t um_dec_sample_row(struct um_dec_state *st, const float *l, double *confidence) {
    const struct um_gen_params *p = st->p;
    const int V = st->m->n_vocab;
    float *x = st->row_tmp;
    double *prob = st->vprob;

    /* sample_tokens: logits / temperature (if > 0), top_p filter (if < 1), top_k filter, softmax.
     * The reference works in float32; we scale in float32 and normalise in float64. */
    if (p->temperature > 0) {
        float tf = (float)p->temperature;
        for (int v = 0; v < V; v++)
            x[v] = l[v] / tf;
    } else {
        memcpy(x, l, (size_t)V * sizeof *x);
    }
    if (p->top_p < 1.0) um_dec_top_p(x, V, p->top_p, prob, st->vidx);
    if (p->top_k > 0) um_dec_top_k(x, V, p->top_k, st->vheap);

    int32_t top = um_dec_argmax(x, V);
    double mx = (double)x[top], sum = 0.0;
    for (int v = 0; v < V; v++) {
        prob[v] = mx == -INFINITY ? 1.0 : exp((double)x[v] - mx);
        sum += prob[v];
    }
    for (int v = 0; v < V; v++)
        prob[v] /= sum;

    int32_t x0 = top; /* temperature 0: probs.max(-1), first index on ties */
    if (p->temperature > 0) {
        /* dists.Categorical(probs).sample(): inverse CDF in token order */
        double u = um_rng_uniform(&st->rng_tokens), cum = 0.0;
        x0 = -1;
        for (int v = 0; v < V; v++) {
            if (prob[v] <= 0.0) continue;
            cum += prob[v];
            x0 = v;
            if (u < cum) break;
        }
        if (x0 < 0) x0 = top;
    }

    double c;
    if (p->alg == UM_ALG_TOPK_MARGIN) {
        double t1 = -1.0, t2 = -1.0; /* largest two probabilities, with multiplicity */
        for (int v = 0; v < V; v++) {
            if (prob[v] > t1) {
                t2 = t1;
                t1 = prob[v];
            } else if (prob[v] > t2) {
                t2 = prob[v];
            }
        }
        c = t1 - (t2 < 0.0 ? 0.0 : t2);
    } else if (p->alg == UM_ALG_ENTROPY) {
        /* negative entropy: higher = more certain, committed first */
        c = 0.0;
        for (int v = 0; v < V; v++)
            c += prob[v] * log(prob[v] + 1e-10);
    } else {
        c = prob[x0];
    }
    *confidence = c;
    return x0;
}

void um_dec_sort_by_conf(const double *conf, int n, int32_t *order, int32_t *tmp) {
    for (int i = 0; i < n; i++)
        order[i] = i;
    sort_desc_f64(conf, order, tmp, n);
}

void um_dec_sample_order(const double *conf, int n, double alg_temp, um_rng *rng, double *keys,
                         int32_t *order, int32_t *tmp) {
    /* log softmax(conf / alg_temp) + Gumbel; the normaliser is common to all and dropped. The
     * top-k of these keys is distributed as k successive draws without replacement. */
    for (int i = 0; i < n; i++) {
        double u = um_rng_uniform(rng);
        keys[i] = conf[i] / alg_temp - log(-log(u));
    }
    um_dec_sort_by_conf(keys, n, order, tmp);
}

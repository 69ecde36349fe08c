/*
 * bpe_train.c: training a byte-level BPE tokenizer (um_bpe_train) and writing it as a Hugging
 * Face tokenizer.json that tokenizer.c (and the `tokenizers` libraries) load.
 *
 * Pipeline, the same stages encode.c runs at inference so that training and encoding agree:
 *   1. each file is read whole, checked to be UTF-8 (the message names file and byte offset)
 *      and NFC-normalised with utf8proc;
 *   2. pre-tokenised with the Qwen2 Split regex (behavior Isolated: matches and the gaps
 *      between them are both words), PCRE2 with UTF + UCP as tokenizer.c compiles it;
 *   3. identical words are counted in a hash map; each distinct word becomes a sequence of
 *      byte symbols;
 *   4. merges: the most frequent adjacent pair (counted over words, weighted by word count) is
 *      merged into a new token, repeatedly, until the vocabulary plus the special tokens
 *      reaches vocab_size or the best pair is seen fewer than min_frequency times. Ties go to
 *      the pair with the smallest (left id, right id). Merging is applied left to right,
 *      non-overlapping, inside each word (HF tokenizers models/bpe/word.rs Word::merge).
 *
 * Pair counts live in a hash map; every pair keeps the list of words it occurs in, so a merge
 * touches only those words. The best pair comes from a max-heap with lazy deletion (as the HF
 * BpeTrainer does): pair counts only fall after they are pushed, except for pairs involving the
 * new token, which are pushed after each merge with their final count; a popped entry whose
 * count is out of date is pushed again with the current count.
 *
 * Ids: the 256 byte tokens first, in GPT-2 byte-to-unicode order (sorted by the code point each
 * byte is written as, which is the order HF's trainer gives its initial alphabet), then the
 * merged tokens in merge order, then the special tokens (added_tokens, special=true). Two
 * merges that spell the same string (e.g. "ab"+"c" and "a"+"bc") share one id, and both are
 * listed in model.merges, as HF does.
 *
 * Special tokens are not looked for in the training text (they should not occur in it).
 */
#include "base/base.h"
#include "tokenizer/tokenizer-impl.h"
#include "unmask-train.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* The Qwen2 / Qwen3 pre-tokenizer regex, exactly as in their tokenizer.json. */
static const char QWEN2_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Largest training file read. */
#define MAX_TRAIN_FILE ((size_t)1 << 30)
/* Largest vocabulary trained (ids stay far below UM_TOK_MAX_ID). */
#define MAX_VOCAB (1 << 21)
/* Longest special token. */
#define MAX_SPECIAL_LEN 256

struct um_bpe_train_params um_bpe_train_default_params(void) {
    static const char *const specials[] = {"<|endoftext|>", "<|mdm_mask|>"};
    struct um_bpe_train_params p = {0};
    p.vocab_size = 8192;
    p.special_tokens = specials;
    p.n_special = 2;
    p.min_frequency = 2;
    return p;
}

static uint64_t hash_bytes(const unsigned char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

/* A set of byte strings stored in one pool: string i is pool[off[i] .. off[i] + len[i]).
 * Open addressing over string indices (-1 empty); cap is a power of two, n < cap / 2. Used for
 * the distinct words of the corpus and for the token strings. */
struct strset {
    unsigned char *pool;
    size_t n_pool, cap_pool;
    size_t *off;
    uint32_t *len;
    size_t n, cap_items;
    int32_t *slot;
    size_t cap;
};

static void strset_free(struct strset *s) {
    free(s->pool);
    free(s->off);
    free(s->len);
    free(s->slot);
}

static bool strset_rehash(struct strset *s, size_t cap) {
    int32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return false;
    memset(slot, 0xff, cap * sizeof *slot);
    for (size_t i = 0; i < s->n; i++) {
        size_t j = (size_t)hash_bytes(s->pool + s->off[i], s->len[i]) & (cap - 1);
        while (slot[j] >= 0) j = (j + 1) & (cap - 1);
        slot[j] = (int32_t)i;
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return true;
}

/* Index of w[0..n) in the set, adding it if absent (*added tells). -1 on out of memory. */
static int32_t strset_intern(struct strset *s, const unsigned char *w, size_t n, bool *added) {
    if (s->cap == 0 && !strset_rehash(s, 1024)) return -1;
    size_t j = (size_t)hash_bytes(w, n) & (s->cap - 1);
    for (; s->slot[j] >= 0; j = (j + 1) & (s->cap - 1)) {
        int32_t i = s->slot[j];
        if (s->len[i] == n && memcmp(s->pool + s->off[i], w, n) == 0) {
            *added = false;
            return i;
        }
    }
    if (s->n >= INT32_MAX - 1 || n > UINT32_MAX) return -1;
    if (!grow((void **)&s->pool, &s->cap_pool, s->n_pool + n + 1, 1)) return -1;
    if (s->n == s->cap_items) { /* off and len grow together */
        size_t c = s->cap_items ? 2 * s->cap_items : 256;
        size_t *o = realloc(s->off, c * sizeof *o);
        if (!o) return -1;
        s->off = o;
        uint32_t *l = realloc(s->len, c * sizeof *l);
        if (!l) return -1;
        s->len = l;
        s->cap_items = c;
    }
    memcpy(s->pool + s->n_pool, w, n);
    s->off[s->n] = s->n_pool;
    s->len[s->n] = (uint32_t)n;
    s->n_pool += n;
    int32_t id = (int32_t)s->n++;
    s->slot[j] = id;
    *added = true;
    if (2 * s->n >= s->cap && !strset_rehash(s, 2 * s->cap)) return -1;
    return id;
}

/* A pair of adjacent symbols: its weighted count and the words it has occurred in (possibly
 * with stale entries: the word is re-checked when merged). */
struct pair {
    int32_t a, b;
    int64_t count;
    int32_t *occ;
    int32_t n_occ, cap_occ;
    int32_t stamp; /* merge step that last touched it as a new pair */
};

struct heap_entry {
    int64_t count;
    int32_t a, b;
    int32_t pair;
};

struct trainer {
    const struct um_bpe_train_params *p;
    const char *out_path;

    struct strset words;   /* distinct pre-tokenised words (raw bytes) */
    int64_t *wcount;       /* [words.n] occurrences */
    size_t cap_wcount;

    int32_t *sym;          /* symbols of all words, word w at sym[soff[w] ..+ slen[w]) */
    size_t *soff;
    uint32_t *slen;
    int32_t *wstamp;       /* [words.n] last merge step that rewrote the word */

    struct strset toks;    /* token id -> bytes; ids 0..255 are the bytes in GPT-2 order */

    struct pair *pairs;
    size_t n_pairs, cap_pairs;
    int32_t *pslot;        /* open addressing over pair indices, -1 empty */
    size_t cap_pslot;

    struct heap_entry *heap;
    size_t n_heap, cap_heap;

    int32_t *merges;       /* [2 * n_merges] (left id, right id) */
    size_t n_merges, cap_merges;
    int32_t *touched;      /* pairs touched as new pairs by the current merge */
    size_t n_touched, cap_touched;
    int32_t step;
};

static enum um_status nomem(const struct trainer *T) {
    return um_set_error(UM_ERR_NOMEM, "%s: out of memory while training the tokenizer",
                        T->out_path);
}

/* ---------------------------------------------------------------- counting words */

static enum um_status add_word(struct trainer *T, const unsigned char *w, size_t n) {
    if (n == 0) return UM_OK;
    bool added;
    int32_t i = strset_intern(&T->words, w, n, &added);
    if (i < 0) return nomem(T);
    if (added) {
        if (!grow((void **)&T->wcount, &T->cap_wcount, (size_t)i + 1, sizeof *T->wcount))
            return nomem(T);
        T->wcount[i] = 0;
    }
    T->wcount[i]++;
    return UM_OK;
}

/* Splits s[0..n) with the regex (matches and gaps both words) and counts the words. */
static enum um_status count_words(struct trainer *T, pcre2_code *re, pcre2_match_data *md,
                                  const char *file, const unsigned char *s, size_t n) {
    size_t pos = 0, last = 0;
    enum um_status st;
    while (pos < n) {
        int rc = pcre2_match(re, s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return um_set_error(UM_ERR_UNSUPPORTED, "%s: pre-tokenizer failed at byte %zu: %s",
                                file, pos, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: skip one character */
            uint32_t cp;
            int k = um_utf8_next(s + ms, n - ms, &cp);
            pos = ms + (k > 0 ? (size_t)k : 1);
            continue;
        }
        if (ms > last && (st = add_word(T, s + last, ms - last)) != UM_OK) return st;
        if ((st = add_word(T, s + ms, me - ms)) != UM_OK) return st;
        last = pos = me;
    }
    return add_word(T, s + last, n - last);
}

static enum um_status count_file(struct trainer *T, pcre2_code *re, pcre2_match_data *md,
                                 const char *file) {
    char *data = NULL;
    size_t len = 0;
    enum um_status st = um_read_file(file, MAX_TRAIN_FILE, &data, &len);
    if (st != UM_OK) return st;
    const unsigned char *s = (const unsigned char *)data;
    size_t bad = um_utf8_check(s, len);
    if (bad != len) {
        free(data);
        return um_set_error(UM_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", file, bad);
    }
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++) ascii = s[i] < 0x80;
    if (ascii) {
        st = count_words(T, re, md, file, s, len);
        free(data);
        return st;
    }
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)len, &nfc,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    free(data);
    if (m < 0) {
        free(nfc);
        return um_set_error(m == UTF8PROC_ERROR_NOMEM ? UM_ERR_NOMEM : UM_ERR_FORMAT,
                            "%s: NFC normalisation failed: %s", file, utf8proc_errmsg(m));
    }
    st = count_words(T, re, md, file, nfc, (size_t)m);
    free(nfc);
    return st;
}

/* ---------------------------------------------------------------- pairs and heap */

static int32_t pair_find(const struct trainer *T, int32_t a, int32_t b, size_t *slot) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t mask = T->cap_pslot - 1, j = (size_t)hash_u64(key) & mask;
    for (; T->pslot[j] >= 0; j = (j + 1) & mask) {
        const struct pair *q = &T->pairs[T->pslot[j]];
        if (q->a == a && q->b == b) return T->pslot[j];
    }
    *slot = j;
    return -1;
}

static bool pslot_rehash(struct trainer *T, size_t cap) {
    int32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return false;
    memset(slot, 0xff, cap * sizeof *slot);
    for (size_t i = 0; i < T->n_pairs; i++) {
        uint64_t key = (uint64_t)(uint32_t)T->pairs[i].a << 32 | (uint32_t)T->pairs[i].b;
        size_t j = (size_t)hash_u64(key) & (cap - 1);
        while (slot[j] >= 0) j = (j + 1) & (cap - 1);
        slot[j] = (int32_t)i;
    }
    free(T->pslot);
    T->pslot = slot;
    T->cap_pslot = cap;
    return true;
}

/* Index of pair (a, b), created with count 0 if absent; -1 on out of memory. */
static int32_t pair_get(struct trainer *T, int32_t a, int32_t b) {
    size_t j = 0;
    int32_t i = pair_find(T, a, b, &j);
    if (i >= 0) return i;
    if (T->n_pairs >= INT32_MAX - 1) return -1;
    if (!grow((void **)&T->pairs, &T->cap_pairs, T->n_pairs + 1, sizeof *T->pairs)) return -1;
    i = (int32_t)T->n_pairs++;
    T->pairs[i] = (struct pair){.a = a, .b = b, .stamp = -1};
    T->pslot[j] = i;
    if (2 * T->n_pairs >= T->cap_pslot && !pslot_rehash(T, 2 * T->cap_pslot)) return -1;
    return i;
}

/* Adds `delta` occurrences of (a, b) in word w. New occurrences record the word and, during a
 * merge (step >= 0), mark the pair for a heap push at the end of the step. */
static bool pair_add(struct trainer *T, int32_t a, int32_t b, int64_t delta, int32_t w) {
    int32_t i = pair_get(T, a, b);
    if (i < 0) return false;
    struct pair *q = &T->pairs[i];
    q->count += delta;
    if (delta <= 0) return true;
    if (q->n_occ == 0 || q->occ[q->n_occ - 1] != w) {
        if (q->n_occ == q->cap_occ) {
            int32_t c = q->cap_occ ? 2 * q->cap_occ : 4;
            int32_t *o = realloc(q->occ, (size_t)c * sizeof *o);
            if (!o) return false;
            q->occ = o;
            q->cap_occ = c;
        }
        q->occ[q->n_occ++] = w;
    }
    if (T->step >= 0 && q->stamp != T->step) {
        q->stamp = T->step;
        if (!grow((void **)&T->touched, &T->cap_touched, T->n_touched + 1, sizeof *T->touched))
            return false;
        T->touched[T->n_touched++] = i;
    }
    return true;
}

/* Heap order: higher count first, then smaller (a, b). */
static bool entry_before(const struct heap_entry *x, const struct heap_entry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static bool heap_push(struct trainer *T, int32_t pi) {
    if (!grow((void **)&T->heap, &T->cap_heap, T->n_heap + 1, sizeof *T->heap)) return false;
    const struct pair *q = &T->pairs[pi];
    struct heap_entry e = {q->count, q->a, q->b, pi};
    size_t i = T->n_heap++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!entry_before(&e, &T->heap[up])) break;
        T->heap[i] = T->heap[up];
        i = up;
    }
    T->heap[i] = e;
    return true;
}

static struct heap_entry heap_pop(struct trainer *T) {
    struct heap_entry top = T->heap[0];
    struct heap_entry last = T->heap[--T->n_heap];
    size_t i = 0, n = T->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct heap_entry *best = &last;
        if (l < n && entry_before(&T->heap[l], best)) {
            m = l;
            best = &T->heap[l];
        }
        if (r < n && entry_before(&T->heap[r], best)) m = r;
        if (m == i) break;
        T->heap[i] = T->heap[m];
        i = m;
    }
    if (n > 0) T->heap[i] = last;
    return top;
}

/* ---------------------------------------------------------------- merging */

/* Rank of each byte in GPT-2 byte-to-unicode order (the initial token ids). */
static void byte_ranks(int32_t rank[256]) {
    for (int b = 0; b < 256; b++) {
        int r = 0;
        for (int c = 0; c < 256; c++) r += um_byte_to_cp[c] < um_byte_to_cp[b];
        rank[b] = r;
    }
}

static enum um_status init_symbols(struct trainer *T) {
    int32_t rank[256], byte_of[256];
    byte_ranks(rank);
    for (int b = 0; b < 256; b++) byte_of[rank[b]] = b;
    for (int id = 0; id < 256; id++) {
        unsigned char c = (unsigned char)byte_of[id];
        bool added;
        if (strset_intern(&T->toks, &c, 1, &added) != id) return nomem(T);
    }
    size_t nw = T->words.n;
    T->sym = malloc((T->words.n_pool ? T->words.n_pool : 1) * sizeof *T->sym);
    T->soff = malloc((nw ? nw : 1) * sizeof *T->soff);
    T->slen = malloc((nw ? nw : 1) * sizeof *T->slen);
    T->wstamp = malloc((nw ? nw : 1) * sizeof *T->wstamp);
    if (!T->sym || !T->soff || !T->slen || !T->wstamp || !pslot_rehash(T, 1 << 16))
        return nomem(T);
    for (size_t w = 0; w < nw; w++) {
        const unsigned char *s = T->words.pool + T->words.off[w];
        T->soff[w] = T->words.off[w];
        T->slen[w] = T->words.len[w];
        T->wstamp[w] = -1;
        for (uint32_t k = 0; k < T->words.len[w]; k++) T->sym[T->soff[w] + k] = rank[s[k]];
    }
    T->step = -1;
    for (size_t w = 0; w < nw; w++) {
        const int32_t *s = T->sym + T->soff[w];
        for (uint32_t k = 0; k + 1 < T->slen[w]; k++)
            if (!pair_add(T, s[k], s[k + 1], T->wcount[w], (int32_t)w)) return nomem(T);
    }
    for (size_t i = 0; i < T->n_pairs; i++)
        if (!heap_push(T, (int32_t)i)) return nomem(T);
    return UM_OK;
}

/* Replaces every (a, b) in word w by c, left to right, updating the neighbouring pairs. */
static bool merge_word(struct trainer *T, int32_t w, int32_t a, int32_t b, int32_t c) {
    int32_t *s = T->sym + T->soff[w];
    uint32_t n = T->slen[w];
    int64_t cnt = T->wcount[w];
    uint32_t i = 0;
    while (i + 1 < n) {
        if (s[i] != a || s[i + 1] != b) {
            i++;
            continue;
        }
        if (i > 0) {
            if (!pair_add(T, s[i - 1], a, -cnt, w) || !pair_add(T, s[i - 1], c, cnt, w))
                return false;
        }
        if (i + 2 < n) {
            if (!pair_add(T, b, s[i + 2], -cnt, w) || !pair_add(T, c, s[i + 2], cnt, w))
                return false;
        }
        s[i] = c;
        memmove(s + i + 1, s + i + 2, (n - i - 2) * sizeof *s);
        n--;
        i++;
    }
    T->slen[w] = n;
    return true;
}

static enum um_status run_merges(struct trainer *T, int32_t n_target, int64_t work_base,
                                 int64_t work_total) {
    const struct um_bpe_train_params *p = T->p;
    unsigned char *buf = NULL;
    size_t cap_buf = 0;
    enum um_status st = UM_OK;
    int32_t step = 0;
    while ((int32_t)T->toks.n < n_target && T->n_heap > 0) {
        struct heap_entry e = heap_pop(T);
        struct pair *q = &T->pairs[e.pair];
        if (q->count != e.count) {
            if (q->count > 0 && !heap_push(T, e.pair)) {
                st = nomem(T);
                break;
            }
            continue;
        }
        if (q->count < p->min_frequency || q->count <= 0) break;
        int32_t a = q->a, b = q->b;
        size_t la = T->toks.len[a], lb = T->toks.len[b];
        if (!grow((void **)&buf, &cap_buf, la + lb, 1)) {
            st = nomem(T);
            break;
        }
        memcpy(buf, T->toks.pool + T->toks.off[a], la);
        memcpy(buf + la, T->toks.pool + T->toks.off[b], lb);
        bool added;
        int32_t c = strset_intern(&T->toks, buf, la + lb, &added);
        if (c < 0 || !grow((void **)&T->merges, &T->cap_merges, 2 * T->n_merges + 2,
                           sizeof *T->merges)) {
            st = nomem(T);
            break;
        }
        T->merges[2 * T->n_merges] = a;
        T->merges[2 * T->n_merges + 1] = b;
        T->n_merges++;

        /* The occurrence list of (a, b) never grows during its own merge (new pairs involve
         * c, and c differs from a and b), but T->pairs may move: keep the list itself. */
        int32_t *occ = q->occ, n_occ = q->n_occ;
        q->occ = NULL;
        q->n_occ = q->cap_occ = 0;
        T->step = step;
        T->n_touched = 0;
        bool ok = true;
        for (int32_t k = 0; k < n_occ && ok; k++) {
            int32_t w = occ[k];
            if (T->wstamp[w] == step) continue;
            T->wstamp[w] = step;
            ok = merge_word(T, w, a, b, c);
        }
        free(occ);
        T->pairs[e.pair].count = 0;
        for (size_t k = 0; k < T->n_touched && ok; k++)
            if (T->pairs[T->touched[k]].count > 0) ok = heap_push(T, T->touched[k]);
        if (!ok) {
            st = nomem(T);
            break;
        }
        step++;
        if (p->progress && (step & 63) == 0 &&
            !p->progress(p->progress_user, work_base + step, work_total)) {
            st = um_set_error(UM_ERR_CANCELLED, "%s: tokenizer training cancelled", T->out_path);
            break;
        }
    }
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- tokenizer.json */

/* Token bytes written with the GPT-2 byte-to-unicode map; *out is malloc'd, NUL-terminated. */
static char *bytelevel(const unsigned char *s, size_t n) {
    char *o = malloc(2 * n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = um_byte_to_cp[s[i]];
        if (cp < 0x80) {
            o[k++] = (char)cp;
        } else {
            o[k++] = (char)(0xc0 | (cp >> 6));
            o[k++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    o[k] = 0;
    return o;
}

static cJSON *bytelevel_obj(void) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", false);
    cJSON_AddBoolToObject(o, "trim_offsets", false);
    cJSON_AddBoolToObject(o, "use_regex", false);
    return o;
}

static bool add_token_string(cJSON *arr_or_obj, const struct strset *toks, int32_t id,
                             bool as_key, int32_t value) {
    char *s = bytelevel(toks->pool + toks->off[id], toks->len[id]);
    if (!s) return false;
    cJSON *item = as_key ? cJSON_CreateNumber(value) : cJSON_CreateString(s);
    bool ok = item != NULL;
    if (ok && as_key) ok = cJSON_AddItemToObject(arr_or_obj, s, item);
    if (ok && !as_key) ok = cJSON_AddItemToArray(arr_or_obj, item);
    if (!ok) cJSON_Delete(item);
    free(s);
    return ok;
}

/* The whole tokenizer.json document, in the layout of Qwen3's file. */
static cJSON *build_json(const struct trainer *T) {
    const struct um_bpe_train_params *p = T->p;
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    bool ok = cJSON_AddStringToObject(root, "version", "1.0") &&
              cJSON_AddNullToObject(root, "truncation") && cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    ok = ok && added;
    int32_t n_tok = (int32_t)T->toks.n;
    for (int i = 0; ok && i < p->n_special; i++) {
        cJSON *a = cJSON_CreateObject();
        ok = a && cJSON_AddItemToArray(added, a);
        if (!ok) {
            cJSON_Delete(a);
            break;
        }
        ok = cJSON_AddNumberToObject(a, "id", n_tok + i) &&
             cJSON_AddStringToObject(a, "content", p->special_tokens[i]) &&
             cJSON_AddBoolToObject(a, "single_word", false) &&
             cJSON_AddBoolToObject(a, "lstrip", false) && cJSON_AddBoolToObject(a, "rstrip", false) &&
             cJSON_AddBoolToObject(a, "normalized", false) &&
             cJSON_AddBoolToObject(a, "special", true);
    }
    cJSON *norm = ok ? cJSON_AddObjectToObject(root, "normalizer") : NULL;
    ok = norm && cJSON_AddStringToObject(norm, "type", "NFC");
    cJSON *pre = ok ? cJSON_AddObjectToObject(root, "pre_tokenizer") : NULL;
    ok = pre && cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *seq = ok ? cJSON_AddArrayToObject(pre, "pretokenizers") : NULL;
    cJSON *split = seq ? cJSON_CreateObject() : NULL;
    ok = split && cJSON_AddItemToArray(seq, split);
    if (!ok) cJSON_Delete(split);
    ok = ok && cJSON_AddStringToObject(split, "type", "Split");
    cJSON *pat = ok ? cJSON_AddObjectToObject(split, "pattern") : NULL;
    ok = pat && cJSON_AddStringToObject(pat, "Regex", QWEN2_REGEX) &&
         cJSON_AddStringToObject(split, "behavior", "Isolated") &&
         cJSON_AddBoolToObject(split, "invert", false);
    cJSON *bl = ok ? bytelevel_obj() : NULL;
    ok = bl && cJSON_AddItemToArray(seq, bl);
    if (!ok) cJSON_Delete(bl);
    cJSON *post = ok ? bytelevel_obj() : NULL;
    ok = post && cJSON_AddItemToObject(root, "post_processor", post);
    if (!ok) cJSON_Delete(post);
    cJSON *dec = ok ? bytelevel_obj() : NULL;
    ok = dec && cJSON_AddItemToObject(root, "decoder", dec);
    if (!ok) cJSON_Delete(dec);
    cJSON *model = ok ? cJSON_AddObjectToObject(root, "model") : NULL;
    ok = model && cJSON_AddStringToObject(model, "type", "BPE") &&
         cJSON_AddNullToObject(model, "dropout") && cJSON_AddNullToObject(model, "unk_token") &&
         cJSON_AddStringToObject(model, "continuing_subword_prefix", "") &&
         cJSON_AddStringToObject(model, "end_of_word_suffix", "") &&
         cJSON_AddBoolToObject(model, "fuse_unk", false) &&
         cJSON_AddBoolToObject(model, "byte_fallback", false) &&
         cJSON_AddBoolToObject(model, "ignore_merges", false);
    cJSON *vocab = ok ? cJSON_AddObjectToObject(model, "vocab") : NULL;
    ok = vocab != NULL;
    for (int32_t id = 0; ok && id < n_tok; id++) ok = add_token_string(vocab, &T->toks, id, true, id);
    cJSON *merges = ok ? cJSON_AddArrayToObject(model, "merges") : NULL;
    ok = merges != NULL;
    for (size_t m = 0; ok && m < T->n_merges; m++) {
        cJSON *pair = cJSON_CreateArray();
        ok = pair && cJSON_AddItemToArray(merges, pair);
        if (!ok) {
            cJSON_Delete(pair);
            break;
        }
        ok = add_token_string(pair, &T->toks, T->merges[2 * m], false, 0) &&
             add_token_string(pair, &T->toks, T->merges[2 * m + 1], false, 0);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* ---------------------------------------------------------------- entry point */

static enum um_status check_params(const char *const *files, int n_files,
                                   const struct um_bpe_train_params *p, const char *out_path) {
    if (!p || !out_path || n_files < 0 || (n_files > 0 && !files))
        return um_set_error(UM_ERR_ARG, "um_bpe_train: NULL argument");
    if (p->n_special < 0 || (p->n_special > 0 && !p->special_tokens))
        return um_set_error(UM_ERR_ARG, "um_bpe_train: special_tokens is NULL");
    if (p->vocab_size < 256 + p->n_special || p->vocab_size > MAX_VOCAB)
        return um_set_error(UM_ERR_ARG,
                            "um_bpe_train: vocab_size %d is outside [%d, %d] (256 byte tokens "
                            "plus %d special tokens at least)",
                            p->vocab_size, 256 + p->n_special, MAX_VOCAB, p->n_special);
    if (p->min_frequency < 1)
        return um_set_error(UM_ERR_ARG, "um_bpe_train: min_frequency %d is below 1",
                            p->min_frequency);
    for (int i = 0; i < n_files; i++)
        if (!files[i]) return um_set_error(UM_ERR_ARG, "um_bpe_train: files[%d] is NULL", i);
    for (int i = 0; i < p->n_special; i++) {
        const char *s = p->special_tokens[i];
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > MAX_SPECIAL_LEN)
            return um_set_error(UM_ERR_ARG,
                                "um_bpe_train: special token %d is empty or longer than %d bytes",
                                i, MAX_SPECIAL_LEN);
        if (um_utf8_check((const unsigned char *)s, n) != n)
            return um_set_error(UM_ERR_ARG, "um_bpe_train: special token %d is not UTF-8", i);
        for (int j = 0; j < i; j++)
            if (strcmp(s, p->special_tokens[j]) == 0)
                return um_set_error(UM_ERR_ARG, "um_bpe_train: special token '%s' given twice",
                                    s);
    }
    return UM_OK;
}

static void trainer_free(struct trainer *T) {
    strset_free(&T->words);
    strset_free(&T->toks);
    free(T->wcount);
    free(T->sym);
    free(T->soff);
    free(T->slen);
    free(T->wstamp);
    for (size_t i = 0; i < T->n_pairs; i++) free(T->pairs[i].occ);
    free(T->pairs);
    free(T->pslot);
    free(T->heap);
    free(T->merges);
    free(T->touched);
}

enum um_status um_bpe_train(const char *const *files, int n_files,
                            const struct um_bpe_train_params *params, const char *out_path) {
    enum um_status st = check_params(files, n_files, params, out_path);
    if (st != UM_OK) return st;
    struct trainer T = {.p = params, .out_path = out_path};
    int32_t n_target = params->vocab_size - params->n_special;
    int64_t work_total = n_files + (int64_t)(n_target - 256);

    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)QWEN2_REGEX, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    if (!re) return um_set_error(UM_ERR_UNSUPPORTED, "um_bpe_train: the Qwen2 regex does not "
                                 "compile with this PCRE2 (error %d)", err);
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) st = nomem(&T);
    for (int i = 0; st == UM_OK && i < n_files; i++) {
        st = count_file(&T, re, md, files[i]);
        if (st == UM_OK && params->progress && !params->progress(params->progress_user, i + 1,
                                                                 work_total))
            st = um_set_error(UM_ERR_CANCELLED, "%s: tokenizer training cancelled", out_path);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);

    if (st == UM_OK) st = init_symbols(&T);
    if (st == UM_OK) st = run_merges(&T, n_target, n_files, work_total);
    char *text = NULL;
    if (st == UM_OK) {
        cJSON *root = build_json(&T);
        text = root ? cJSON_Print(root) : NULL;
        cJSON_Delete(root);
        if (!text) st = nomem(&T);
    }
    trainer_free(&T);
    if (st == UM_OK) st = um_write_file_atomic(out_path, text, strlen(text));
    free(text);
    return st;
}

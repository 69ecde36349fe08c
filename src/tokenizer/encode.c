/*
 * encode.c: text -> ids, in the order Hugging Face tokenizers applies its stages:
 *   1. split the text on added tokens (longest match at each position, leftmost first, as
 *      HF's leftmost-longest Aho-Corasick), honouring lstrip / rstrip / single_word; each
 *      match becomes its id;
 *   2. normalize the pieces in between (NFC through utf8proc when the file asks for it);
 *   3. pre-tokenize: each regex step (Split, behavior Isolated: matches and the gaps between
 *      them both become pieces) runs on the pieces of the previous step;
 *   4. ByteLevel + BPE: every piece is a word of bytes, one symbol per byte (the byte's
 *      character under the GPT-2 map), merged pair by pair in merge-rank order, lowest rank
 *      first and leftmost among equals (HF models/bpe/word.rs merge_all, with a binary heap);
 *      with ignore_merges a word that is itself in the vocabulary is emitted whole.
 * All scratch memory belongs to the call, so encode is safe on a shared tokenizer.
 *
 * Known differences from HF, none of which the supported files exercise: added tokens marked
 * normalized=true are matched on the raw text rather than the normalized text; the regexes
 * run on PCRE2 (HF uses Oniguruma), whose \s also matches U+180E.
 */
#include "base/base.h"
#include "tokenizer/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* One BPE symbol; merged-away symbols are marked dead and unlinked. */
struct sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    bool alive;
};

/* A candidate merge of symbol pos with its right neighbour. */
struct cand {
    int32_t rank;
    int32_t pos;
    int32_t id;
};

/* Memo of BPE results per word (words repeat a lot in real text). */
struct cache_slot {
    uint64_t hash;    /* 0: empty */
    uint32_t key_off; /* into keys */
    uint32_t key_len;
    uint32_t ids_off; /* into ids */
    uint32_t n_ids;
};

#define CACHE_MAX_WORD 64
#define CACHE_MAX_SLOTS (1u << 16)

struct enc {
    const um_tokenizer *t;
    int32_t *out;
    size_t n_out, cap_out;
    pcre2_match_data *md[UM_TOK_MAX_STEPS];
    struct sym *sym;
    size_t cap_sym;
    struct cand *heap;
    size_t n_heap, cap_heap;
    char *bl; /* byte-level spelling of a word (ignore_merges lookup) */
    size_t cap_bl;
    struct cache_slot *cache;
    size_t n_cache;
    char *ckeys;
    size_t n_ckeys, cap_ckeys;
    int32_t *cids;
    size_t n_cids, cap_cids;
};

static enum um_status nomem(void) {
    return um_set_error(UM_ERR_NOMEM, "um_tokenizer_encode: out of memory");
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

static enum um_status push_id(struct enc *E, int32_t id) {
    if (!grow((void **)&E->out, &E->cap_out, E->n_out + 1, sizeof *E->out)) return nomem();
    E->out[E->n_out++] = id;
    return UM_OK;
}

/* ---------------------------------------------------------------- BPE */

static bool cand_less(const struct cand *a, const struct cand *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct enc *E, struct cand c) {
    size_t i = E->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &E->heap[p])) break;
        E->heap[i] = E->heap[p];
        i = p;
    }
    E->heap[i] = c;
}

static struct cand heap_pop(struct enc *E) {
    struct cand top = E->heap[0];
    struct cand last = E->heap[--E->n_heap];
    size_t i = 0, n = E->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct cand *best = &last;
        if (l < n && cand_less(&E->heap[l], best)) {
            m = l;
            best = &E->heap[l];
        }
        if (r < n && cand_less(&E->heap[r], best)) m = r;
        if (m == i) break;
        E->heap[i] = E->heap[m];
        i = m;
    }
    if (n > 0) E->heap[i] = last;
    return top;
}

static void add_cand(struct enc *E, int32_t pos) {
    const struct sym *s = E->sym;
    const struct um_pairmap_slot *m = um_pairmap_get(&E->t->merges, s[pos].id, s[s[pos].next].id);
    if (m) heap_push(E, (struct cand){m->rank, pos, m->id});
}

/* BPE of one word; appends its ids. */
static enum um_status bpe_word(struct enc *E, const unsigned char *w, size_t n) {
    const um_tokenizer *t = E->t;
    if (t->ignore_merges) {
        if (!grow((void **)&E->bl, &E->cap_bl, 2 * n, 1)) return nomem();
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = um_byte_to_cp[w[i]];
            if (cp < 0x80) {
                E->bl[k++] = (char)cp;
            } else {
                E->bl[k++] = (char)(0xc0 | (cp >> 6));
                E->bl[k++] = (char)(0x80 | (cp & 0x3f));
            }
        }
        int32_t id = um_strmap_get(&t->vocab, E->bl, k);
        if (id >= 0) return push_id(E, id);
    }
    if (n > (size_t)INT32_MAX / 4)
        return um_set_error(UM_ERR_ARG, "um_tokenizer_encode: a %zu-byte word is too long", n);
    if (!grow((void **)&E->sym, &E->cap_sym, n, sizeof *E->sym) ||
        !grow((void **)&E->heap, &E->cap_heap, 3 * n + 4, sizeof *E->heap))
        return nomem();
    struct sym *s = E->sym;
    int32_t ns = 0;
    bool last_unk = false;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id < 0) {
            /* Not in the vocabulary: unk_token if any (fused when asked), else dropped. */
            if (t->unk_id < 0) continue;
            if (t->fuse_unk && last_unk) continue;
            id = t->unk_id;
            last_unk = true;
        } else {
            last_unk = false;
        }
        s[ns] = (struct sym){id, ns - 1, ns + 1, true};
        ns++;
    }
    if (ns == 0) return UM_OK;
    s[ns - 1].next = -1;
    E->n_heap = 0;
    for (int32_t i = 0; i + 1 < ns; i++) add_cand(E, i);
    while (E->n_heap > 0) {
        struct cand c = heap_pop(E);
        struct sym *a = &s[c.pos];
        if (!a->alive || a->next < 0) continue;
        struct sym *b = &s[a->next];
        const struct um_pairmap_slot *m = um_pairmap_get(&t->merges, a->id, b->id);
        if (!m || m->id != c.id) continue; /* stale candidate */
        a->id = c.id;
        b->alive = false;
        a->next = b->next;
        if (b->next >= 0) s[b->next].prev = c.pos;
        if (a->prev >= 0) add_cand(E, a->prev);
        if (a->next >= 0) add_cand(E, c.pos);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        enum um_status st = push_id(E, s[i].id);
        if (st != UM_OK) return st;
    }
    return UM_OK;
}

static uint64_t word_hash(const unsigned char *w, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

/* bpe_word through the per-call memo (short words only; the memo stops growing when full). */
static enum um_status bpe_cached(struct enc *E, const unsigned char *w, size_t n) {
    if (n > CACHE_MAX_WORD || !E->cache) return bpe_word(E, w, n);
    uint64_t h = word_hash(w, n);
    size_t mask = CACHE_MAX_SLOTS - 1, i = (size_t)h & mask;
    for (;;) {
        struct cache_slot *c = &E->cache[i];
        if (c->hash == 0) break;
        if (c->hash == h && c->key_len == n && memcmp(E->ckeys + c->key_off, w, n) == 0) {
            if (!grow((void **)&E->out, &E->cap_out, E->n_out + c->n_ids, sizeof *E->out))
                return nomem();
            memcpy(E->out + E->n_out, E->cids + c->ids_off, c->n_ids * sizeof *E->out);
            E->n_out += c->n_ids;
            return UM_OK;
        }
        i = (i + 1) & mask;
    }
    size_t before = E->n_out;
    enum um_status st = bpe_word(E, w, n);
    if (st != UM_OK || E->n_cache >= CACHE_MAX_SLOTS / 2) return st;
    size_t k = E->n_out - before;
    if (!grow((void **)&E->ckeys, &E->cap_ckeys, E->n_ckeys + n, 1) ||
        !grow((void **)&E->cids, &E->cap_cids, E->n_cids + k, sizeof *E->cids))
        return nomem();
    memcpy(E->ckeys + E->n_ckeys, w, n);
    memcpy(E->cids + E->n_cids, E->out + before, k * sizeof *E->cids);
    E->cache[i] = (struct cache_slot){h, (uint32_t)E->n_ckeys, (uint32_t)n, (uint32_t)E->n_cids,
                                      (uint32_t)k};
    E->n_ckeys += n;
    E->n_cids += k;
    E->n_cache++;
    return UM_OK;
}

/* ---------------------------------------------------------------- pre-tokenizer */

static size_t char_len_at(const unsigned char *s, size_t n) {
    uint32_t cp;
    int k = um_utf8_next(s, n, &cp);
    return k > 0 ? (size_t)k : 1;
}

/* Runs regex step `step` over s[0..n) and passes every piece (matches and the gaps between
 * them, in order) to the next step; after the last step each piece is a BPE word. */
static enum um_status split(struct enc *E, int step, const unsigned char *s, size_t n) {
    if (n == 0) return UM_OK;
    const um_tokenizer *t = E->t;
    if (step == t->n_steps) return bpe_cached(E, s, n);
    pcre2_code *re = t->steps[step].re;
    pcre2_match_data *md = E->md[step];
    size_t pos = 0, last = 0;
    enum um_status st;
    while (pos < n) {
        int rc = pcre2_match(re, s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return um_set_error(UM_ERR_UNSUPPORTED,
                                "um_tokenizer_encode: %s: pre-tokenizer step %d failed: %s",
                                t->path, step, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: no piece, move on by one character */
            pos = ms + char_len_at(s + ms, n - ms);
            continue;
        }
        if (ms > last && (st = split(E, step + 1, s + last, ms - last)) != UM_OK) return st;
        if ((st = split(E, step + 1, s + ms, me - ms)) != UM_OK) return st;
        last = pos = me;
    }
    return split(E, step + 1, s + last, n - last);
}

static enum um_status encode_segment(struct enc *E, const unsigned char *s, size_t n) {
    if (n == 0) return UM_OK;
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++) ascii = s[i] < 0x80;
    if (!E->t->nfc || ascii) return split(E, 0, s, n);
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (m < 0) {
        free(dst);
        return um_set_error(m == UTF8PROC_ERROR_NOMEM ? UM_ERR_NOMEM : UM_ERR_ARG,
                            "um_tokenizer_encode: NFC failed: %s", utf8proc_errmsg(m));
    }
    enum um_status st = split(E, 0, dst, (size_t)m);
    free(dst);
    return st;
}

/* ---------------------------------------------------------------- added tokens */

static bool is_word_cp(uint32_t cp) {
    if (cp == '_') return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Code point that ends just before s[i] (s valid UTF-8, i > 0); *start gets its offset. */
static uint32_t cp_before(const unsigned char *s, size_t i, size_t *start) {
    size_t j = i - 1;
    while (j > 0 && (s[j] & 0xc0) == 0x80) j--;
    uint32_t cp = 0;
    if (um_utf8_next(s + j, i - j, &cp) == 0) cp = s[j];
    *start = j;
    return cp;
}

static bool single_word_ok(const unsigned char *s, size_t n, size_t start, size_t end) {
    uint32_t cp;
    size_t j;
    if (start > 0 && is_word_cp(cp_before(s, start, &j))) return false;
    if (end < n && um_utf8_next(s + end, n - end, &cp) > 0 && is_word_cp(cp)) return false;
    return true;
}

static enum um_status encode_all(struct enc *E, const unsigned char *s, size_t n) {
    const um_tokenizer *t = E->t;
    size_t seg = 0, i = 0;
    enum um_status st;
    while (i < n) {
        if (!t->trie_first[s[i]]) {
            i++;
            continue;
        }
        int best = -1;
        size_t best_end = 0;
        int32_t node = 0;
        for (size_t k = i; k < n; k++) {
            int32_t ch = t->trie[node].first_child;
            while (ch >= 0 && t->trie[ch].byte != s[k]) ch = t->trie[ch].next_sibling;
            if (ch < 0) break;
            node = ch;
            int tk = t->trie[node].token;
            if (tk >= 0 && (!t->added[tk].single_word || single_word_ok(s, n, i, k + 1))) {
                best = tk;
                best_end = k + 1;
            }
        }
        if (best < 0) {
            i++;
            continue;
        }
        size_t start = i, end = best_end;
        const struct um_added_token *a = &t->added[best];
        if (a->lstrip) {
            while (start > seg) {
                size_t j;
                if (!um_is_space_cp(cp_before(s, start, &j))) break;
                start = j;
            }
        }
        if (a->rstrip) {
            uint32_t cp;
            int k;
            while (end < n && (k = um_utf8_next(s + end, n - end, &cp)) > 0 && um_is_space_cp(cp))
                end += (size_t)k;
        }
        if ((st = encode_segment(E, s + seg, start - seg)) != UM_OK) return st;
        if ((st = push_id(E, a->id)) != UM_OK) return st;
        seg = i = end;
    }
    return encode_segment(E, s + seg, n - seg);
}

enum um_status um_tokenizer_encode(const um_tokenizer *tok, const char *text, size_t len,
                                   int32_t **ids, size_t *n_ids) {
    if (!tok || !ids || !n_ids || (!text && len > 0))
        return um_set_error(UM_ERR_ARG, "um_tokenizer_encode: NULL argument");
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t bad = um_utf8_check(s, len);
    if (bad != len)
        return um_set_error(UM_ERR_ARG, "um_tokenizer_encode: invalid UTF-8 at byte %zu", bad);
    struct enc E = {.t = tok};
    enum um_status st = UM_OK;
    for (int k = 0; k < tok->n_steps && st == UM_OK; k++) {
        E.md[k] = pcre2_match_data_create_from_pattern(tok->steps[k].re, NULL);
        if (!E.md[k]) st = nomem();
    }
    if (st == UM_OK && len >= 256) E.cache = calloc(CACHE_MAX_SLOTS, sizeof *E.cache);
    if (st == UM_OK) st = encode_all(&E, s, len);
    for (int k = 0; k < tok->n_steps; k++) pcre2_match_data_free(E.md[k]);
    free(E.sym);
    free(E.heap);
    free(E.bl);
    free(E.cache);
    free(E.ckeys);
    free(E.cids);
    if (st == UM_OK && !E.out && !(E.out = malloc(sizeof *E.out))) st = nomem();
    if (st != UM_OK) {
        free(E.out);
        return st;
    }
    *ids = E.out;
    *n_ids = E.n_out;
    return UM_OK;
}

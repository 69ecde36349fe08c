/*
 * tokenizer.c: loading a Hugging Face tokenizer.json (byte-level BPE) into an immutable
 * um_tokenizer, plus the small lookups (n_vocab, token_id) and free.
 *
 * What is accepted (everything else is UM_ERR_UNSUPPORTED naming the field, and malformed
 * input UM_ERR_FORMAT naming file and field):
 *   model          type "BPE" with vocab {string: id}, merges as "a b" strings or ["a", "b"]
 *                  pairs, ignore_merges, unk_token/fuse_unk; no dropout, no byte_fallback,
 *                  no continuing_subword_prefix / end_of_word_suffix;
 *   normalizer     null, NFC, or a Sequence of NFC;
 *   pre_tokenizer  ByteLevel (add_prefix_space false), or a Sequence of Split (Regex or
 *                  String pattern, behavior Isolated, invert false) ending in ByteLevel;
 *   decoder        ByteLevel;
 *   added_tokens   [{id, content, special, single_word, lstrip, rstrip, normalized}];
 *   post_processor, truncation, padding: ignored (encode adds no BOS/EOS).
 */
#include "base/base.h"
#include "tokenizer/tokenizer-impl.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The GPT-2 pre-tokenizer regex that ByteLevel applies when use_regex is true (HF
 * tokenizers pre_tokenizers/byte_level.rs). */
static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct loader {
    const char *file;
    um_tokenizer *tok;
    size_t pool_used;
};

static enum um_status fail(const struct loader *L, enum um_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum um_status fail(const struct loader *L, enum um_status st, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Strings quoted from the file may hold control characters; keep the message one line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    return um_set_error(st, "%s: %s", L->file, msg);
}

/* A short, printable excerpt of a string from the file for messages. */
static const char *excerpt(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", *p);
        } else {
            buf[n++] = (char)*p;
        }
    }
    if (n + 5 >= cap && n >= 3) memcpy(buf + n - 3, "...", 3);
    buf[n] = 0;
    return buf;
}

static const cJSON *get(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static bool is_null_or_absent(const cJSON *v) {
    return v == NULL || cJSON_IsNull(v);
}

/* Optional boolean field: absent/null gives def; a non-boolean is a format error. */
static enum um_status get_bool(const struct loader *L, const cJSON *obj, const char *key,
                               const char *where, bool def, bool *out) {
    const cJSON *v = get(obj, key);
    if (is_null_or_absent(v)) {
        *out = def;
        return UM_OK;
    }
    if (!cJSON_IsBool(v)) return fail(L, UM_ERR_FORMAT, "%s.%s: not a boolean", where, key);
    *out = cJSON_IsTrue(v);
    return UM_OK;
}

/* An id: integral JSON number in [0, UM_TOK_MAX_ID]. */
static bool get_id(const cJSON *v, int32_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= UM_TOK_MAX_ID)) return false;
    int32_t i = (int32_t)d;
    if ((double)i != d) return false;
    *out = i;
    return true;
}

static char *pool_add(struct loader *L, const char *s, size_t n) {
    char *p = L->tok->pool + L->pool_used;
    memcpy(p, s, n);
    p[n] = 0;
    L->pool_used += n + 1;
    return p;
}

/* ---------------------------------------------------------------- model */

static enum um_status check_model_options(const struct loader *L, const cJSON *model) {
    const cJSON *type = get(model, "type");
    if (type && !cJSON_IsNull(type)) {
        if (!cJSON_IsString(type)) return fail(L, UM_ERR_FORMAT, "model.type: not a string");
        if (strcmp(type->valuestring, "BPE") != 0) {
            char buf[64];
            return fail(L, UM_ERR_UNSUPPORTED,
                        "model.type '%s' is not supported (byte-level BPE only)",
                        excerpt(type->valuestring, buf, sizeof buf));
        }
    } else if (!get(model, "merges")) {
        return fail(L, UM_ERR_UNSUPPORTED,
                    "model.type: missing and no merges (byte-level BPE only)");
    }
    const cJSON *dropout = get(model, "dropout");
    if (!is_null_or_absent(dropout)) {
        if (!cJSON_IsNumber(dropout)) return fail(L, UM_ERR_FORMAT, "model.dropout: not a number");
        if (dropout->valuedouble != 0.0)
            return fail(L, UM_ERR_UNSUPPORTED, "model.dropout %g is not supported",
                        dropout->valuedouble);
    }
    bool b;
    enum um_status st = get_bool(L, model, "byte_fallback", "model", false, &b);
    if (st != UM_OK) return st;
    if (b) return fail(L, UM_ERR_UNSUPPORTED, "model.byte_fallback true is not supported");
    static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = get(model, affix[i]);
        if (is_null_or_absent(v)) continue;
        if (!cJSON_IsString(v)) return fail(L, UM_ERR_FORMAT, "model.%s: not a string", affix[i]);
        if (v->valuestring[0])
            return fail(L, UM_ERR_UNSUPPORTED, "model.%s '%s' is not supported", affix[i],
                        v->valuestring);
    }
    return UM_OK;
}

/* Validates model.vocab and added_tokens, sizes the string pool and n_vocab. */
static enum um_status measure(struct loader *L, const cJSON *vocab, const cJSON *added,
                              size_t *pool_len, int32_t *max_id) {
    size_t total = 0;
    int32_t mx = -1;
    char buf[64];
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id;
        if (!e->string) return fail(L, UM_ERR_FORMAT, "model.vocab: entry without a key");
        if (!get_id(e, &id))
            return fail(L, UM_ERR_FORMAT,
                        "model.vocab[\"%s\"]: id is not an integer in [0, %d]",
                        excerpt(e->string, buf, sizeof buf), UM_TOK_MAX_ID);
        size_t n = strlen(e->string);
        if (um_utf8_check((const unsigned char *)e->string, n) != n)
            return fail(L, UM_ERR_FORMAT, "model.vocab[\"%s\"]: token is not valid UTF-8",
                        excerpt(e->string, buf, sizeof buf));
        if (id > mx) mx = id;
        total += n + 1;
    }
    int i = 0;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next, i++) {
        if (!cJSON_IsObject(a))
            return fail(L, UM_ERR_FORMAT, "added_tokens[%d]: not an object", i);
        int32_t id;
        if (!get_id(get(a, "id"), &id))
            return fail(L, UM_ERR_FORMAT, "added_tokens[%d].id: not an integer in [0, %d]", i,
                        UM_TOK_MAX_ID);
        const cJSON *c = get(a, "content");
        if (!cJSON_IsString(c))
            return fail(L, UM_ERR_FORMAT, "added_tokens[%d].content: not a string", i);
        size_t n = strlen(c->valuestring);
        if (n == 0) return fail(L, UM_ERR_FORMAT, "added_tokens[%d].content: empty", i);
        if (um_utf8_check((const unsigned char *)c->valuestring, n) != n)
            return fail(L, UM_ERR_FORMAT, "added_tokens[%d].content: not valid UTF-8", i);
        if (id > mx) mx = id;
        total += n + 1;
    }
    *pool_len = total;
    *max_id = mx;
    return UM_OK;
}

/* The bytes a vocabulary token stands for: each character mapped back through the GPT-2
 * byte map; a token with any character outside the map is taken as its raw UTF-8 (as HF's
 * ByteLevel decoder does). Writes at most strlen(s) bytes; returns the count. */
static uint32_t bytelevel_decode(const char *s, char *out) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    uint32_t k = 0;
    while (i < n) {
        uint32_t cp;
        int len = um_utf8_next(p + i, n - i, &cp);
        int b = len ? um_cp_to_byte(cp) : -1;
        if (b < 0) {
            memcpy(out, s, n);
            return (uint32_t)n;
        }
        out[k++] = (char)b;
        i += (size_t)len;
    }
    return k;
}

static enum um_status load_vocab(struct loader *L, const cJSON *vocab, const cJSON *added) {
    um_tokenizer *t = L->tok;
    size_t n_entries = (size_t)cJSON_GetArraySize(vocab);
    size_t n_added = added ? (size_t)cJSON_GetArraySize(added) : 0;
    if (!um_strmap_init(&t->vocab, n_entries) || !um_strmap_init(&t->added_map, n_added))
        return fail(L, UM_ERR_NOMEM, "out of memory for the vocabulary");
    size_t nv = (size_t)t->n_vocab;
    t->dec_off = calloc(nv ? nv : 1, sizeof *t->dec_off);
    t->dec_len = calloc(nv ? nv : 1, sizeof *t->dec_len);
    t->dec_pool = malloc(t->pool_len ? t->pool_len : 1);
    t->added = calloc(n_added ? n_added : 1, sizeof *t->added);
    bool *set = calloc(nv ? nv : 1, 1);
    if (!t->dec_off || !t->dec_len || !t->dec_pool || !t->added || !set) {
        free(set);
        return fail(L, UM_ERR_NOMEM, "out of memory for %zu ids", nv);
    }
    uint32_t dec_used = 0;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = (int32_t)e->valuedouble; /* validated by measure() */
        size_t n = strlen(e->string);
        const char *key = pool_add(L, e->string, n);
        um_strmap_put(&t->vocab, key, (uint32_t)n, id);
        if (!set[id]) { /* duplicate ids: the first token decodes */
            set[id] = true;
            t->dec_off[id] = dec_used;
            t->dec_len[id] = bytelevel_decode(key, t->dec_pool + dec_used);
            dec_used += t->dec_len[id];
        }
    }
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        struct um_added_token *at = &t->added[t->n_added];
        int32_t id = (int32_t)get(a, "id")->valuedouble;
        const char *content = get(a, "content")->valuestring;
        size_t n = strlen(content);
        char where[48];
        snprintf(where, sizeof where, "added_tokens[%d]", t->n_added);
        enum um_status st;
        if ((st = get_bool(L, a, "special", where, false, &at->special)) != UM_OK ||
            (st = get_bool(L, a, "lstrip", where, false, &at->lstrip)) != UM_OK ||
            (st = get_bool(L, a, "rstrip", where, false, &at->rstrip)) != UM_OK ||
            (st = get_bool(L, a, "single_word", where, false, &at->single_word)) != UM_OK ||
            (st = get_bool(L, a, "normalized", where, !at->special, &at->normalized)) != UM_OK) {
            free(set);
            return st;
        }
        at->content = pool_add(L, content, n);
        at->len = (uint32_t)n;
        at->id = id;
        t->n_added++;
        um_strmap_put(&t->added_map, at->content, at->len, id);
        /* Added tokens decode to their content, whatever the vocabulary says for the id. */
        set[id] = true;
        t->dec_off[id] = dec_used;
        t->dec_len[id] = (uint32_t)n;
        memcpy(t->dec_pool + dec_used, content, n);
        dec_used += (uint32_t)n;
    }
    free(set);
    for (int b = 0; b < 256; b++) {
        char s[4];
        uint32_t cp = um_byte_to_cp[b];
        size_t n;
        if (cp < 0x80) {
            s[0] = (char)cp;
            n = 1;
        } else {
            s[0] = (char)(0xc0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3f));
            n = 2;
        }
        t->byte_id[b] = um_strmap_get(&t->vocab, s, n);
    }
    return UM_OK;
}

static enum um_status load_merges(struct loader *L, const cJSON *merges) {
    um_tokenizer *t = L->tok;
    if (is_null_or_absent(merges)) return um_pairmap_init(&t->merges, 0)
                                              ? UM_OK
                                              : fail(L, UM_ERR_NOMEM, "out of memory");
    if (!cJSON_IsArray(merges)) return fail(L, UM_ERR_FORMAT, "model.merges: not an array");
    size_t n = (size_t)cJSON_GetArraySize(merges);
    if (n > (size_t)UM_TOK_MAX_ID)
        return fail(L, UM_ERR_FORMAT, "model.merges: %zu entries, more than %d", n,
                    UM_TOK_MAX_ID);
    if (!um_pairmap_init(&t->merges, n))
        return fail(L, UM_ERR_NOMEM, "out of memory for %zu merges", n);
    char *cat = NULL;
    size_t cat_cap = 0;
    enum um_status st = UM_OK;
    int32_t rank = 0;
    char buf[64];
    for (const cJSON *m = merges->child; m; m = m->next, rank++) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring;
            const char *sp = strchr(s, ' ');
            if (!sp) {
                st = fail(L, UM_ERR_FORMAT, "model.merges[%d]: '%s' is not two tokens", rank,
                          excerpt(s, buf, sizeof buf));
                break;
            }
            a = s;
            la = (size_t)(sp - s);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(m->child) && cJSON_IsString(m->child->next)) {
            a = m->child->valuestring;
            b = m->child->next->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            st = fail(L, UM_ERR_FORMAT, "model.merges[%d]: not a string or pair", rank);
            break;
        }
        int32_t ia = um_strmap_get(&t->vocab, a, la);
        int32_t ib = um_strmap_get(&t->vocab, b, lb);
        if (ia < 0 || ib < 0) {
            char tokbuf[64];
            size_t ln = ia < 0 ? la : lb;
            const char *s = ia < 0 ? a : b;
            if (ln > sizeof tokbuf - 1) ln = sizeof tokbuf - 1;
            memcpy(tokbuf, s, ln);
            tokbuf[ln] = 0;
            st = fail(L, UM_ERR_FORMAT, "model.merges[%d]: token '%s' is not in model.vocab",
                      rank, excerpt(tokbuf, buf, sizeof buf));
            break;
        }
        if (la + lb > cat_cap) {
            cat_cap = 2 * (la + lb) + 64;
            char *nc = realloc(cat, cat_cap);
            if (!nc) {
                st = fail(L, UM_ERR_NOMEM, "out of memory");
                break;
            }
            cat = nc;
        }
        memcpy(cat, a, la);
        memcpy(cat + la, b, lb);
        int32_t iab = um_strmap_get(&t->vocab, cat, la + lb);
        if (iab < 0) {
            char tokbuf[64];
            size_t ln = la + lb < sizeof tokbuf - 1 ? la + lb : sizeof tokbuf - 1;
            memcpy(tokbuf, cat, ln);
            tokbuf[ln] = 0;
            st = fail(L, UM_ERR_FORMAT,
                      "model.merges[%d]: merged token '%s' is not in model.vocab", rank,
                      excerpt(tokbuf, buf, sizeof buf));
            break;
        }
        /* A repeated pair keeps its last rank, as HF's map built from the list does. */
        um_pairmap_put(&t->merges, ia, ib, rank, iab);
    }
    free(cat);
    return st;
}

/* ---------------------------------------------------------------- normalizer, pre-tokenizer */

static enum um_status load_normalizer(struct loader *L, const cJSON *norm) {
    if (is_null_or_absent(norm)) return UM_OK;
    if (!cJSON_IsObject(norm)) return fail(L, UM_ERR_FORMAT, "normalizer: not an object");
    const cJSON *type = get(norm, "type");
    if (!cJSON_IsString(type)) return fail(L, UM_ERR_FORMAT, "normalizer.type: not a string");
    if (strcmp(type->valuestring, "NFC") == 0) {
        L->tok->nfc = true;
        return UM_OK;
    }
    if (strcmp(type->valuestring, "Sequence") == 0) {
        const cJSON *list = get(norm, "normalizers");
        if (!cJSON_IsArray(list))
            return fail(L, UM_ERR_FORMAT, "normalizer.normalizers: not an array");
        int i = 0;
        for (const cJSON *n = list->child; n; n = n->next, i++) {
            const cJSON *t = cJSON_IsObject(n) ? get(n, "type") : NULL;
            if (!cJSON_IsString(t))
                return fail(L, UM_ERR_FORMAT, "normalizer.normalizers[%d].type: not a string", i);
            if (strcmp(t->valuestring, "NFC") != 0)
                return fail(L, UM_ERR_UNSUPPORTED,
                            "normalizer.normalizers[%d].type '%s' is not supported (NFC only)",
                            i, t->valuestring);
            L->tok->nfc = true;
        }
        return UM_OK;
    }
    return fail(L, UM_ERR_UNSUPPORTED, "normalizer.type '%s' is not supported (NFC only)",
                type->valuestring);
}

static enum um_status add_regex(struct loader *L, const char *where, const char *pattern,
                                bool literal) {
    um_tokenizer *t = L->tok;
    if (t->n_steps >= UM_TOK_MAX_STEPS)
        return fail(L, UM_ERR_UNSUPPORTED, "%s: more than %d pre-tokenizer steps", where,
                    UM_TOK_MAX_STEPS);
    int err;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &err, &off,
                                   NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return fail(L, UM_ERR_UNSUPPORTED, "%s: regex does not compile at offset %zu: %s", where,
                    (size_t)off, (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    t->steps[t->n_steps++].re = re;
    return UM_OK;
}

static enum um_status load_split(struct loader *L, const cJSON *p, const char *where) {
    char w[96];
    const cJSON *pat = get(p, "pattern");
    if (!cJSON_IsObject(pat)) return fail(L, UM_ERR_FORMAT, "%s.pattern: not an object", where);
    const cJSON *behavior = get(p, "behavior");
    if (!cJSON_IsString(behavior))
        return fail(L, UM_ERR_FORMAT, "%s.behavior: not a string", where);
    if (strcmp(behavior->valuestring, "Isolated") != 0)
        return fail(L, UM_ERR_UNSUPPORTED, "%s.behavior '%s' is not supported (Isolated only)",
                    where, behavior->valuestring);
    bool invert;
    enum um_status st = get_bool(L, p, "invert", where, false, &invert);
    if (st != UM_OK) return st;
    if (invert) return fail(L, UM_ERR_UNSUPPORTED, "%s.invert true is not supported", where);
    const cJSON *re = get(pat, "Regex");
    const cJSON *str = get(pat, "String");
    if (cJSON_IsString(re)) {
        snprintf(w, sizeof w, "%s.pattern.Regex", where);
        return add_regex(L, w, re->valuestring, false);
    }
    if (cJSON_IsString(str)) {
        if (!str->valuestring[0])
            return fail(L, UM_ERR_FORMAT, "%s.pattern.String: empty", where);
        snprintf(w, sizeof w, "%s.pattern.String", where);
        return add_regex(L, w, str->valuestring, true);
    }
    return fail(L, UM_ERR_FORMAT, "%s.pattern: neither Regex nor String", where);
}

static enum um_status load_bytelevel(struct loader *L, const cJSON *p, const char *where) {
    bool prefix, use_regex;
    enum um_status st = get_bool(L, p, "add_prefix_space", where, false, &prefix);
    if (st != UM_OK) return st;
    if (prefix)
        return fail(L, UM_ERR_UNSUPPORTED, "%s.add_prefix_space true is not supported", where);
    if ((st = get_bool(L, p, "use_regex", where, true, &use_regex)) != UM_OK) return st;
    if (use_regex) return add_regex(L, where, GPT2_REGEX, false);
    return UM_OK;
}

static enum um_status load_pretokenizer(struct loader *L, const cJSON *pre) {
    if (is_null_or_absent(pre))
        return fail(L, UM_ERR_UNSUPPORTED,
                    "pre_tokenizer: null is not supported (byte-level BPE needs ByteLevel)");
    if (!cJSON_IsObject(pre)) return fail(L, UM_ERR_FORMAT, "pre_tokenizer: not an object");
    const cJSON *type = get(pre, "type");
    if (!cJSON_IsString(type)) return fail(L, UM_ERR_FORMAT, "pre_tokenizer.type: not a string");
    if (strcmp(type->valuestring, "ByteLevel") == 0)
        return load_bytelevel(L, pre, "pre_tokenizer");
    if (strcmp(type->valuestring, "Sequence") != 0)
        return fail(L, UM_ERR_UNSUPPORTED,
                    "pre_tokenizer.type '%s' is not supported (Sequence of Split and ByteLevel)",
                    type->valuestring);
    const cJSON *list = get(pre, "pretokenizers");
    if (!cJSON_IsArray(list))
        return fail(L, UM_ERR_FORMAT, "pre_tokenizer.pretokenizers: not an array");
    int i = 0;
    bool bytelevel = false;
    for (const cJSON *p = list->child; p; p = p->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "pre_tokenizer.pretokenizers[%d]", i);
        const cJSON *t = cJSON_IsObject(p) ? get(p, "type") : NULL;
        if (!cJSON_IsString(t)) return fail(L, UM_ERR_FORMAT, "%s.type: not a string", where);
        if (bytelevel)
            return fail(L, UM_ERR_UNSUPPORTED, "%s: steps after ByteLevel are not supported",
                        where);
        enum um_status st;
        if (strcmp(t->valuestring, "Split") == 0) {
            st = load_split(L, p, where);
        } else if (strcmp(t->valuestring, "ByteLevel") == 0) {
            st = load_bytelevel(L, p, where);
            bytelevel = true;
        } else {
            st = fail(L, UM_ERR_UNSUPPORTED, "%s.type '%s' is not supported (Split, ByteLevel)",
                      where, t->valuestring);
        }
        if (st != UM_OK) return st;
    }
    if (!bytelevel)
        return fail(L, UM_ERR_UNSUPPORTED,
                    "pre_tokenizer.pretokenizers: no ByteLevel step (byte-level BPE only)");
    return UM_OK;
}

static enum um_status load_decoder(struct loader *L, const cJSON *dec) {
    if (is_null_or_absent(dec))
        return fail(L, UM_ERR_UNSUPPORTED, "decoder: null is not supported (ByteLevel only)");
    const cJSON *type = cJSON_IsObject(dec) ? get(dec, "type") : NULL;
    if (!cJSON_IsString(type)) return fail(L, UM_ERR_FORMAT, "decoder.type: not a string");
    if (strcmp(type->valuestring, "ByteLevel") != 0)
        return fail(L, UM_ERR_UNSUPPORTED, "decoder.type '%s' is not supported (ByteLevel only)",
                    type->valuestring);
    return UM_OK;
}

/* ---------------------------------------------------------------- added-token trie */

static enum um_status build_trie(struct loader *L) {
    um_tokenizer *t = L->tok;
    size_t cap = 1;
    for (int i = 0; i < t->n_added; i++) cap += t->added[i].len;
    if (cap > (size_t)INT32_MAX) return fail(L, UM_ERR_FORMAT, "added_tokens: too long");
    t->trie = malloc(cap * sizeof *t->trie);
    if (!t->trie) return fail(L, UM_ERR_NOMEM, "out of memory for added tokens");
    t->trie[0] = (struct um_trie_node){-1, -1, -1, 0};
    t->n_trie = 1;
    for (int i = 0; i < t->n_added; i++) {
        const struct um_added_token *a = &t->added[i];
        int32_t node = 0;
        for (uint32_t k = 0; k < a->len; k++) {
            uint8_t c = (uint8_t)a->content[k];
            int32_t ch = t->trie[node].first_child;
            while (ch >= 0 && t->trie[ch].byte != c) ch = t->trie[ch].next_sibling;
            if (ch < 0) {
                ch = t->n_trie++;
                t->trie[ch] = (struct um_trie_node){-1, t->trie[node].first_child, -1, c};
                t->trie[node].first_child = ch;
            }
            node = ch;
        }
        /* Two entries with the same content: the later one wins, like the content map. */
        t->trie[node].token = i;
        t->trie_first[(uint8_t)a->content[0]] = true;
    }
    return UM_OK;
}

/* ---------------------------------------------------------------- load / free */

static enum um_status load_json(struct loader *L, const cJSON *root) {
    um_tokenizer *t = L->tok;
    if (!cJSON_IsObject(root)) return fail(L, UM_ERR_FORMAT, "top level: not an object");
    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(model)) return fail(L, UM_ERR_FORMAT, "model: missing or not an object");
    enum um_status st = check_model_options(L, model);
    if (st != UM_OK) return st;
    const cJSON *vocab = get(model, "vocab");
    if (!cJSON_IsObject(vocab)) return fail(L, UM_ERR_FORMAT, "model.vocab: not an object");
    const cJSON *added = get(root, "added_tokens");
    if (is_null_or_absent(added)) added = NULL;
    else if (!cJSON_IsArray(added))
        return fail(L, UM_ERR_FORMAT, "added_tokens: not an array");

    size_t pool_len = 0;
    int32_t max_id = -1;
    if ((st = measure(L, vocab, added, &pool_len, &max_id)) != UM_OK) return st;
    if (max_id < 0) return fail(L, UM_ERR_FORMAT, "model.vocab: empty");
    if (pool_len > UINT32_MAX) return fail(L, UM_ERR_FORMAT, "model.vocab: too large");
    t->n_vocab = max_id + 1;
    t->pool_len = pool_len;
    t->pool = malloc(pool_len ? pool_len : 1);
    if (!t->pool) return fail(L, UM_ERR_NOMEM, "out of memory (%zu bytes of tokens)", pool_len);
    if ((st = load_vocab(L, vocab, added)) != UM_OK) return st;
    if ((st = load_merges(L, get(model, "merges"))) != UM_OK) return st;

    if ((st = get_bool(L, model, "ignore_merges", "model", false, &t->ignore_merges)) != UM_OK)
        return st;
    if ((st = get_bool(L, model, "fuse_unk", "model", false, &t->fuse_unk)) != UM_OK) return st;
    t->unk_id = -1;
    const cJSON *unk = get(model, "unk_token");
    if (!is_null_or_absent(unk)) {
        if (!cJSON_IsString(unk)) return fail(L, UM_ERR_FORMAT, "model.unk_token: not a string");
        t->unk_id = um_strmap_get(&t->vocab, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0)
            return fail(L, UM_ERR_FORMAT, "model.unk_token '%s' is not in model.vocab",
                        unk->valuestring);
    }
    if ((st = load_normalizer(L, get(root, "normalizer"))) != UM_OK) return st;
    if ((st = load_pretokenizer(L, get(root, "pre_tokenizer"))) != UM_OK) return st;
    if ((st = load_decoder(L, get(root, "decoder"))) != UM_OK) return st;
    return build_trie(L);
}

enum um_status um_tokenizer_load(const char *path, um_tokenizer **out) {
    if (!path || !out) return um_set_error(UM_ERR_ARG, "um_tokenizer_load: NULL argument");
    char *file = um_is_dir(path) ? um_path_join(path, "tokenizer.json") : strdup(path);
    if (!file) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    char *data = NULL;
    size_t len = 0;
    enum um_status st = um_read_file(file, UM_TOK_MAX_FILE, &data, &len);
    if (st != UM_OK) {
        free(file);
        return st;
    }
    um_tokenizer *tok = calloc(1, sizeof *tok);
    struct loader L = {file, tok, 0};
    cJSON *root = NULL;
    if (!tok) {
        st = fail(&L, UM_ERR_NOMEM, "out of memory");
    } else if (len == 0) {
        st = fail(&L, UM_ERR_FORMAT, "empty file");
    } else {
        const char *end = NULL;
        root = cJSON_ParseWithLengthOpts(data, len, &end, false);
        if (!root) {
            size_t at = end && end >= data ? (size_t)(end - data) : 0;
            st = fail(&L, UM_ERR_FORMAT, "invalid or truncated JSON near byte %zu", at);
        } else {
            st = load_json(&L, root);
        }
    }
    cJSON_Delete(root);
    free(data);
    if (st != UM_OK) {
        free(file);
        um_tokenizer_free(tok);
        return st;
    }
    tok->path = file;
    *out = tok;
    return UM_OK;
}

void um_tokenizer_free(um_tokenizer *tok) {
    if (!tok) return;
    for (int i = 0; i < tok->n_steps; i++) pcre2_code_free(tok->steps[i].re);
    um_strmap_free(&tok->vocab);
    um_strmap_free(&tok->added_map);
    um_pairmap_free(&tok->merges);
    free(tok->dec_pool);
    free(tok->dec_off);
    free(tok->dec_len);
    free(tok->added);
    free(tok->trie);
    free(tok->pool);
    free(tok->path);
    free(tok);
}

int32_t um_tokenizer_n_vocab(const um_tokenizer *tok) {
    return tok ? tok->n_vocab : 0;
}

int32_t um_tokenizer_token_id(const um_tokenizer *tok, const char *token) {
    if (!tok || !token) return -1;
    size_t n = strlen(token);
    int32_t id = um_strmap_get(&tok->added_map, token, n);
    return id >= 0 ? id : um_strmap_get(&tok->vocab, token, n);
}

/*
 * decode.c: ids -> UTF-8 text (HF ByteLevel decoder). Each id stands for bytes computed at
 * load time (vocabulary tokens with the GPT-2 byte map undone, added tokens as their
 * content); the bytes of all ids are joined and then converted as Rust's
 * String::from_utf8_lossy does: every maximal ill-formed subsequence (Unicode 3.9, "U+FFFD
 * substitution of maximal subparts") becomes one U+FFFD, so the output is always valid UTF-8.
 */
#include "base/base.h"
#include "tokenizer/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>

/* Length of the longest prefix of s[0..n) that is a valid UTF-8 sequence or the start of
 * one (at least 1), and whether it is complete. */
static size_t maximal_subpart(const unsigned char *s, size_t n, bool *valid) {
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xbf;
    *valid = false;
    if (c < 0x80) {
        *valid = true;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 1;
    }
    size_t k = 1;
    for (; k < (size_t)len; k++) {
        if (k >= n || s[k] < lo || s[k] > hi) return k;
        lo = 0x80;
        hi = 0xbf;
    }
    *valid = true;
    return k;
}

enum um_status um_tokenizer_decode(const um_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                   char **text) {
    if (!tok || !text || (!ids && n_ids > 0))
        return um_set_error(UM_ERR_ARG, "um_tokenizer_decode: NULL argument");
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_vocab)
            return um_set_error(UM_ERR_ARG, "um_tokenizer_decode: ids[%zu] = %d is out of range "
                                "[0, %d)", i, ids[i], tok->n_vocab);
        total += tok->dec_len[ids[i]];
    }
    char *raw = malloc(total + 1);
    /* Worst case every byte is invalid and becomes the 3 bytes of U+FFFD. */
    char *out = total <= (SIZE_MAX - 1) / 3 ? malloc(3 * total + 1) : NULL;
    if (!raw || !out) {
        free(raw);
        free(out);
        return um_set_error(UM_ERR_NOMEM, "um_tokenizer_decode: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n_ids; i++) {
        memcpy(raw + k, tok->dec_pool + tok->dec_off[ids[i]], tok->dec_len[ids[i]]);
        k += tok->dec_len[ids[i]];
    }
    const unsigned char *s = (const unsigned char *)raw;
    size_t o = 0;
    for (size_t i = 0; i < total;) {
        bool valid;
        size_t m = maximal_subpart(s + i, total - i, &valid);
        if (valid) {
            memcpy(out + o, s + i, m);
            o += m;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
        i += m;
    }
    out[o] = 0;
    free(raw);
    *text = out;
    return UM_OK;
}

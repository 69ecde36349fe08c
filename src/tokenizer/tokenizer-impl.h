/*
 * tokenizer-impl.h: private structures of the byte-level BPE tokenizer (Hugging Face
 * tokenizer.json: Qwen2/3, Llama 3). Shared by tokenizer.c (load, lookup), strmap.c (hash
 * maps), encode.c (added-token split, NFC, regex pre-tokenizer, BPE merges), decode.c
 * (byte-level decoder, lossy UTF-8) and chat.c (chat templates).
 *
 * A loaded tokenizer is immutable; encode/decode only read it and keep their scratch memory
 * per call, so one tokenizer may be used by many threads at once.
 */
#ifndef UM_TOKENIZER_IMPL_H
#define UM_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "unmask.h"

/* Largest id accepted in a tokenizer file (vocab or added token). */
#define UM_TOK_MAX_ID 10000000
/* Largest tokenizer.json read (real ones are 2-20 MB). */
#define UM_TOK_MAX_FILE ((size_t)512 << 20)
/* Most pre-tokenizer regex steps (Split entries plus ByteLevel's own regex). */
#define UM_TOK_MAX_STEPS 8

/* Hash map from byte strings to int32 values (open addressing, linear probing).
 * Invariant: cap is 0 or a power of two and n < cap / 2; keys are borrowed and must outlive
 * the map (they point into the tokenizer's string pool). */
struct um_strmap_slot {
    const char *key; /* NULL: empty slot */
    uint32_t len;
    int32_t val;
};
typedef struct um_strmap {
    struct um_strmap_slot *slots;
    size_t cap;
    size_t n;
} um_strmap;

/* Capacity for about n keys; returns false on out of memory. */
bool um_strmap_init(um_strmap *m, size_t n);
void um_strmap_free(um_strmap *m);
/* Insert or overwrite; the map must have been sized for all its keys by um_strmap_init. */
void um_strmap_put(um_strmap *m, const char *key, uint32_t len, int32_t val);
/* Value of key, or -1. */
int32_t um_strmap_get(const um_strmap *m, const char *key, size_t len);

/* Merge table: (left id, right id) -> (rank, merged id). Same probing scheme as um_strmap;
 * an empty slot has key UINT64_MAX. */
struct um_pairmap_slot {
    uint64_t key; /* (uint64_t)left << 32 | right */
    int32_t rank; /* position in model.merges: lower merges first */
    int32_t id;   /* id of the merged token */
};
typedef struct um_pairmap {
    struct um_pairmap_slot *slots;
    size_t cap;
} um_pairmap;

bool um_pairmap_init(um_pairmap *m, size_t n);
void um_pairmap_free(um_pairmap *m);
void um_pairmap_put(um_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* Slot of (a, b) or NULL. */
const struct um_pairmap_slot *um_pairmap_get(const um_pairmap *m, int32_t a, int32_t b);

/* One entry of added_tokens. content points into the string pool. */
struct um_added_token {
    const char *content;
    uint32_t len; /* > 0 */
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
};

/* Byte trie over added-token contents for longest-match splitting. Node 0 is the root;
 * children of a node form a sibling list. token is an index into added[] or -1. */
struct um_trie_node {
    int32_t first_child;
    int32_t next_sibling;
    int32_t token;
    uint8_t byte;
};

/* One regex pre-tokenizer step (Split with behavior Isolated, or ByteLevel's GPT-2 regex). */
struct um_pretok_step {
    pcre2_code *re;
};

struct um_tokenizer {
    char *path;          /* file the tokenizer came from (messages) */
    char *pool;          /* every vocab and added-token string, NUL-separated */
    size_t pool_len;

    um_strmap vocab;     /* model.vocab: byte-level token string -> id */
    um_strmap added_map; /* added token content -> id */
    um_pairmap merges;   /* model.merges */
    int32_t n_vocab;     /* max id + 1 over vocab and added tokens */

    /* Decoding: for each id in [0, n_vocab), the bytes it stands for (byte-level mapping
     * undone for vocab tokens, content for added tokens). dec_len[id] == 0 for holes. */
    char *dec_pool;
    uint32_t *dec_off;   /* [n_vocab] */
    uint32_t *dec_len;   /* [n_vocab] */

    int32_t byte_id[256]; /* id of the one-character token of each byte, -1 if absent */
    int32_t unk_id;       /* -1: unknown characters are dropped (as HF does without unk) */
    bool fuse_unk;
    bool ignore_merges;   /* emit a word whole when it is in the vocabulary (Llama 3) */
    bool nfc;             /* normalizer NFC (Qwen) */

    struct um_pretok_step steps[UM_TOK_MAX_STEPS];
    int n_steps;

    struct um_added_token *added;
    int n_added;
    struct um_trie_node *trie;
    int n_trie;
    bool trie_first[256]; /* bytes that can start an added token */
};

/* GPT-2 byte <-> unicode map: byte b is written as code point um_byte_to_cp[b]. */
extern const uint16_t um_byte_to_cp[256];
/* Byte of code point cp under that map, or -1. */
int um_cp_to_byte(uint32_t cp);

/* Decode one UTF-8 sequence strictly (no overlongs, surrogates or > U+10FFFF). Returns its
 * length (1-4) and the code point, or 0 if s[0..n) does not start with a valid sequence. */
int um_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
/* Offset of the first invalid byte, or n if s[0..n) is valid UTF-8. */
size_t um_utf8_check(const unsigned char *s, size_t n);
/* Unicode White_Space. */
bool um_is_space_cp(uint32_t cp);

#endif /* UM_TOKENIZER_IMPL_H */

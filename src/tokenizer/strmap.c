/*
 * strmap.c: the tokenizer's two hash maps: byte string -> id (vocabulary, added tokens) and
 * token pair -> (rank, merged id) (BPE merges). Open addressing with linear probing, sized
 * once at load time for a load factor below 1/2; lookups never allocate.
 */
#include "tokenizer/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, then a final mix so that the low bits used for the slot index are well spread. */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t cap_for(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    return cap;
}

bool um_strmap_init(um_strmap *m, size_t n) {
    m->cap = cap_for(n);
    m->n = 0;
    m->slots = calloc(m->cap, sizeof *m->slots);
    return m->slots != NULL;
}

void um_strmap_free(um_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

void um_strmap_put(um_strmap *m, const char *key, uint32_t len, int32_t val) {
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_bytes(key, len) & mask;
    for (;;) {
        struct um_strmap_slot *s = &m->slots[i];
        if (!s->key) {
            s->key = key;
            s->len = len;
            s->val = val;
            m->n++;
            return;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0) {
            s->val = val;
            return;
        }
        i = (i + 1) & mask;
    }
}

int32_t um_strmap_get(const um_strmap *m, const char *key, size_t len) {
    if (m->cap == 0) return -1;
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_bytes(key, len) & mask;
    for (;;) {
        const struct um_strmap_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->len == len && memcmp(s->key, key, len) == 0) return s->val;
        i = (i + 1) & mask;
    }
}

bool um_pairmap_init(um_pairmap *m, size_t n) {
    m->cap = cap_for(n);
    m->slots = malloc(m->cap * sizeof *m->slots);
    if (!m->slots) return false;
    for (size_t i = 0; i < m->cap; i++) m->slots[i].key = UINT64_MAX;
    return true;
}

void um_pairmap_free(um_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
}

static uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

void um_pairmap_put(um_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t key = pair_key(a, b);
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_u64(key) & mask;
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key) i = (i + 1) & mask;
    m->slots[i].key = key;
    m->slots[i].rank = rank;
    m->slots[i].id = id;
}

const struct um_pairmap_slot *um_pairmap_get(const um_pairmap *m, int32_t a, int32_t b) {
    if (m->cap == 0) return NULL;
    uint64_t key = pair_key(a, b);
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_u64(key) & mask;
    for (;;) {
        const struct um_pairmap_slot *s = &m->slots[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & mask;
    }
}

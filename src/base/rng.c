/*
 * rng.c: Philox4x32-10 counter-based generator (Salmon, Moraes, Dror, Shaw: "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011). Constants are those of the paper / Random123.
 */
#include "base/base.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_block(uint64_t key, uint64_t ctr, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0x6a09e667u, c3 = 0xbb67ae85u;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int i = 0; i < 10; i++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0; c1 = n1; c2 = n2; c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void um_rng_seed(um_rng *r, uint64_t seed, uint64_t stream) {
    /* splitmix64 of (seed, stream) gives well-spread keys for nearby seeds */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    r->key = z ^ (z >> 31);
    r->counter = 0;
    r->n_buf = 0;
}

uint32_t um_rng_u32(um_rng *r) {
    if (r->n_buf == 0) {
        philox_block(r->key, r->counter++, r->buf);
        r->n_buf = 4;
    }
    return r->buf[--r->n_buf];
}

uint64_t um_rng_u64(um_rng *r) {
    uint64_t hi = um_rng_u32(r);
    return (hi << 32) | um_rng_u32(r);
}

double um_rng_uniform(um_rng *r) {
    /* (k + 0.5) / 2^53 lies strictly inside (0, 1) */
    uint64_t k = um_rng_u64(r) >> 11;
    return ((double)k + 0.5) * (1.0 / 9007199254740992.0);
}

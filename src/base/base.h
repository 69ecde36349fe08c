/*
 * base.h: services every module uses: error messages, a counter-based RNG, timers, whole-file
 * reads, atomic writes, and float16/bfloat16 conversions. Private to the library.
 */
#ifndef UM_BASE_H
#define UM_BASE_H

#include "unmask.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* Record a printf-style message for um_last_error() and return `st`. */
enum um_status um_set_error(enum um_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11, "Parallel random numbers: as
 * easy as 1, 2, 3"). The state is (key, counter); each call consumes one counter value, so a
 * stream is reproducible from its seed and position. */
typedef struct um_rng {
    uint64_t key;     /* from the seed */
    uint64_t counter; /* next block to produce */
    uint32_t buf[4];  /* unread outputs of the current block */
    int n_buf;        /* how many of buf are unread */
} um_rng;
void um_rng_seed(um_rng *r, uint64_t seed, uint64_t stream);
uint32_t um_rng_u32(um_rng *r);
uint64_t um_rng_u64(um_rng *r);
/* Uniform double in the open interval (0, 1), 53 bits. */
double um_rng_uniform(um_rng *r);

/* Monotonic seconds. */
double um_time_sec(void);

/* Read a whole file; *data is malloc'd and NUL-terminated (len excludes the NUL). Fails with
 * UM_ERR_IO naming the path; files larger than max_bytes are UM_ERR_FORMAT. */
enum um_status um_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

/* Write `len` bytes to `path` atomically: temp file in the same folder, fsync, rename. */
enum um_status um_write_file_atomic(const char *path, const void *data, size_t len);

/* Join a folder and a file name into a malloc'd path. */
char *um_path_join(const char *dir, const char *name);
int um_file_exists(const char *path);
int um_is_dir(const char *path);

/* Number of threads kernels use (set once by um_model_load from its params). */
int um_get_threads(void);
void um_set_threads(int n);

/* ---- 16-bit float conversions (hot paths; inline on purpose). */
static inline float um_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* Round to nearest even, NaN preserved (as torch does). */
static inline uint16_t um_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float um_f16_to_f32(uint16_t h);
uint16_t um_f32_to_f16(float f);

#endif /* UM_BASE_H */

/*
 * data.c: the token shard format of data.h: the streaming writer (temporary file, header
 * written last, fsync, rename) and the validating, mmap'ing reader, which also checks a shard
 * against its folder's meta.json. The builders that produce shards are in data_build.c.
 *
 * Shards are little-endian; this code maps them directly, so a big-endian host is refused
 * (UM_ERR_UNSUPPORTED) rather than read wrongly.
 */
#include "train/data.h"

#include "base/base.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest vocabulary a shard may declare. */
#define MAX_SHARD_VOCAB (1 << 24)
/* Longest row. */
#define MAX_SEQ_LEN (1 << 20)
/* Largest meta.json read. */
#define MAX_META_BYTES ((size_t)1 << 20)

struct um_dataset {
    char *path;                /* shard file (messages) */
    char *tokenizer;           /* DIR/tokenizer.json or NULL */
    void *map;                 /* whole file, read-only */
    size_t map_len;
    enum um_shard_kind kind;
    int32_t n_vocab, eos_id, seq_len;
    int64_t n_tokens, n_rows;
    const int32_t *tokens;     /* [n_tokens] into map */
    const int32_t *prompt_len; /* rows: [n_rows] into map */
};

static bool little_endian(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int32_t um_data_eos_id(const um_tokenizer *tok) {
    static const char *const names[] = {"<|endoftext|>", "<|end_of_text|>", "</s>", "<|eos|>"};
    for (size_t i = 0; tok && i < sizeof names / sizeof *names; i++) {
        int32_t id = um_tokenizer_token_id(tok, names[i]);
        if (id >= 0) return id;
    }
    return -1;
}

/* ---------------------------------------------------------------- writer */

static enum um_status w_io(struct um_shard_writer *w, const char *what) {
    return um_set_error(UM_ERR_IO, "%s: %s failed: %s", w->path, what, strerror(errno));
}

enum um_status um_shard_begin(struct um_shard_writer *w, const char *path,
                              enum um_shard_kind kind, int32_t n_vocab, int32_t eos_id,
                              int32_t seq_len) {
    memset(w, 0, sizeof *w);
    if (!little_endian())
        return um_set_error(UM_ERR_UNSUPPORTED, "%s: shards are little-endian; this host is not",
                            path);
    if (n_vocab < 1 || n_vocab > MAX_SHARD_VOCAB || eos_id < 0 || eos_id >= n_vocab ||
        (kind != UM_DATASET_STREAM && kind != UM_DATASET_ROWS) ||
        (kind == UM_DATASET_ROWS && (seq_len < 1 || seq_len > MAX_SEQ_LEN)) ||
        (kind == UM_DATASET_STREAM && seq_len != 0))
        return um_set_error(UM_ERR_ARG, "%s: bad shard parameters (vocab %d, eos %d, seq_len %d)",
                            path, n_vocab, eos_id, seq_len);
    size_t pl = strlen(path);
    w->path = malloc(pl + 1);
    w->tmp = malloc(pl + 16);
    if (!w->path || !w->tmp) {
        free(w->path);
        free(w->tmp);
        return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(w->path, path, pl + 1);
    snprintf(w->tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(w->tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        enum um_status st = w_io(w, "creating a temporary file");
        if (fd >= 0) {
            close(fd);
            unlink(w->tmp);
        }
        free(w->path);
        free(w->tmp);
        return st;
    }
    w->file = f;
    w->kind = kind;
    w->n_vocab = n_vocab;
    w->eos_id = eos_id;
    w->seq_len = seq_len;
    unsigned char zero[UM_SHARD_HEADER_BYTES] = {0}; /* the header is written by finish */
    if (fwrite(zero, 1, sizeof zero, f) != sizeof zero) {
        enum um_status st = w_io(w, "write");
        um_shard_abort(w);
        return st;
    }
    return UM_OK;
}

static enum um_status append_ids(struct um_shard_writer *w, const int32_t *ids, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= w->n_vocab)
            return um_set_error(UM_ERR_ARG, "%s: token %lld is id %d, outside [0, %d)", w->path,
                                (long long)(w->n_tokens + i), ids[i], w->n_vocab);
    if (n > 0 && fwrite(ids, sizeof *ids, (size_t)n, w->file) != (size_t)n) return w_io(w, "write");
    w->n_tokens += n;
    return UM_OK;
}

enum um_status um_shard_append(struct um_shard_writer *w, const int32_t *ids, int64_t n) {
    if (w->kind != UM_DATASET_STREAM || n < 0 || (n > 0 && !ids))
        return um_set_error(UM_ERR_ARG, "%s: um_shard_append on a rows shard or bad count",
                            w->path);
    return append_ids(w, ids, n);
}

enum um_status um_shard_append_row(struct um_shard_writer *w, const int32_t *row,
                                   int32_t prompt_len) {
    if (w->kind != UM_DATASET_ROWS || !row || prompt_len < 0 || prompt_len > w->seq_len)
        return um_set_error(UM_ERR_ARG, "%s: row %lld: bad prompt length %d (seq_len %d)",
                            w->path, (long long)w->n_rows, prompt_len, w->seq_len);
    if (w->n_rows == w->cap_rows) {
        int64_t c = w->cap_rows ? 2 * w->cap_rows : 1024;
        int32_t *p = realloc(w->prompt_len, (size_t)c * sizeof *p);
        if (!p) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", w->path);
        w->prompt_len = p;
        w->cap_rows = c;
    }
    enum um_status st = append_ids(w, row, w->seq_len);
    if (st != UM_OK) return st;
    w->prompt_len[w->n_rows++] = prompt_len;
    return UM_OK;
}

void um_shard_abort(struct um_shard_writer *w) {
    if (w->file) fclose(w->file);
    if (w->tmp) unlink(w->tmp);
    free(w->path);
    free(w->tmp);
    free(w->prompt_len);
    memset(w, 0, sizeof *w);
}

enum um_status um_shard_finish(struct um_shard_writer *w) {
    FILE *f = w->file;
    enum um_status st = UM_OK;
    if (w->kind == UM_DATASET_ROWS && w->n_rows > 0 &&
        fwrite(w->prompt_len, sizeof *w->prompt_len, (size_t)w->n_rows, f) != (size_t)w->n_rows)
        st = w_io(w, "write");
    unsigned char h[UM_SHARD_HEADER_BYTES] = {0};
    memcpy(h, UM_SHARD_MAGIC, 8); /* includes the terminating NUL */
    put_u32(h + 8, UM_SHARD_VERSION);
    put_u32(h + 12, (uint32_t)w->kind);
    put_u32(h + 16, UM_SHARD_DTYPE_INT32);
    put_u32(h + 20, (uint32_t)w->n_vocab);
    put_u64(h + 24, (uint64_t)w->n_tokens);
    put_u64(h + 32, (uint64_t)w->n_rows);
    put_u32(h + 40, (uint32_t)w->seq_len);
    put_u32(h + 44, (uint32_t)w->eos_id);
    if (st == UM_OK && (fseek(f, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, f) != sizeof h))
        st = w_io(w, "writing the header");
    if (st == UM_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) st = w_io(w, "flush");
    if (st == UM_OK) {
        w->file = NULL;
        if (fclose(f) != 0) st = w_io(w, "close");
        if (st == UM_OK && rename(w->tmp, w->path) != 0) st = w_io(w, "rename");
    }
    if (st == UM_OK) {
        free(w->tmp);
        w->tmp = NULL;
    }
    um_shard_abort(w); /* frees; removes the temporary file only if it is still there */
    return st;
}

/* ---------------------------------------------------------------- reader */

static enum um_status shard_fail(const char *path, enum um_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum um_status shard_fail(const char *path, enum um_status st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return um_set_error(st, "%s: %s", path, msg);
}

/* Checks the header and contents of a mapped shard and fills the dataset fields. */
static enum um_status parse_shard(um_dataset *ds, const unsigned char *m, size_t size) {
    const char *path = ds->path;
    if (size < UM_SHARD_HEADER_BYTES)
        return shard_fail(path, UM_ERR_FORMAT, "%zu bytes, shorter than the %d-byte header",
                          size, UM_SHARD_HEADER_BYTES);
    if (memcmp(m, UM_SHARD_MAGIC, 8) != 0)
        return shard_fail(path, UM_ERR_FORMAT, "magic: not a token shard (want \"UMTOKv1\\0\")");
    uint32_t version = get_u32(m + 8), kind = get_u32(m + 12), dtype = get_u32(m + 16);
    int64_t n_vocab = (int32_t)get_u32(m + 20);
    int64_t n_tokens = (int64_t)get_u64(m + 24), n_rows = (int64_t)get_u64(m + 32);
    int64_t seq_len = (int32_t)get_u32(m + 40), eos = (int32_t)get_u32(m + 44);
    if (version != UM_SHARD_VERSION)
        return shard_fail(path, UM_ERR_UNSUPPORTED, "version %u is not supported (want %d)",
                          version, UM_SHARD_VERSION);
    if (kind != UM_DATASET_STREAM && kind != UM_DATASET_ROWS)
        return shard_fail(path, UM_ERR_FORMAT, "kind %u is neither 1 (stream) nor 2 (rows)", kind);
    if (dtype != UM_SHARD_DTYPE_INT32)
        return shard_fail(path, UM_ERR_UNSUPPORTED, "dtype %u is not supported (1 = int32)",
                          dtype);
    if (n_vocab < 1 || n_vocab > MAX_SHARD_VOCAB)
        return shard_fail(path, UM_ERR_FORMAT, "n_vocab %lld is outside [1, %d]",
                          (long long)n_vocab, MAX_SHARD_VOCAB);
    if (eos < 0 || eos >= n_vocab)
        return shard_fail(path, UM_ERR_FORMAT, "eos_id %lld is outside [0, %lld)",
                          (long long)eos, (long long)n_vocab);
    for (int i = 48; i < UM_SHARD_HEADER_BYTES; i++)
        if (m[i])
            return shard_fail(path, UM_ERR_FORMAT, "reserved header byte %d is not zero", i);
    const int64_t max_count = (INT64_MAX - UM_SHARD_HEADER_BYTES) / 8;
    if (n_tokens < 0 || n_tokens > max_count || n_rows < 0 || n_rows > max_count)
        return shard_fail(path, UM_ERR_FORMAT, "n_tokens %lld / n_rows %lld out of range",
                          (long long)n_tokens, (long long)n_rows);
    if (kind == UM_DATASET_STREAM) {
        if (n_rows != 0 || seq_len != 0)
            return shard_fail(path, UM_ERR_FORMAT,
                              "stream shard with n_rows %lld / seq_len %lld (both must be 0)",
                              (long long)n_rows, (long long)seq_len);
    } else {
        if (seq_len < 1 || seq_len > MAX_SEQ_LEN)
            return shard_fail(path, UM_ERR_FORMAT, "seq_len %lld is outside [1, %d]",
                              (long long)seq_len, MAX_SEQ_LEN);
        if (n_rows > max_count / seq_len || n_tokens != n_rows * seq_len)
            return shard_fail(path, UM_ERR_FORMAT, "n_tokens %lld is not n_rows %lld x seq_len %lld",
                              (long long)n_tokens, (long long)n_rows, (long long)seq_len);
    }
    int64_t want = UM_SHARD_HEADER_BYTES + 4 * (n_tokens + n_rows);
    if ((int64_t)size != want)
        return shard_fail(path, UM_ERR_FORMAT,
                          "file is %zu bytes but the header describes %lld (n_tokens %lld, "
                          "n_rows %lld)",
                          size, (long long)want, (long long)n_tokens, (long long)n_rows);
    const int32_t *tok = (const int32_t *)(const void *)(m + UM_SHARD_HEADER_BYTES);
    for (int64_t i = 0; i < n_tokens; i++)
        if (tok[i] < 0 || tok[i] >= n_vocab)
            return shard_fail(path, UM_ERR_FORMAT, "token %lld (byte %lld) is id %d, outside [0, %lld)",
                              (long long)i, (long long)(UM_SHARD_HEADER_BYTES + 4 * i), tok[i],
                              (long long)n_vocab);
    const int32_t *pl = tok + n_tokens;
    for (int64_t i = 0; i < n_rows; i++)
        if (pl[i] < 0 || pl[i] > seq_len)
            return shard_fail(path, UM_ERR_FORMAT, "prompt_len[%lld] %d is outside [0, %lld]",
                              (long long)i, pl[i], (long long)seq_len);
    ds->kind = (enum um_shard_kind)kind;
    ds->n_vocab = (int32_t)n_vocab;
    ds->eos_id = (int32_t)eos;
    ds->seq_len = (int32_t)seq_len;
    ds->n_tokens = n_tokens;
    ds->n_rows = n_rows;
    ds->tokens = tok;
    ds->prompt_len = kind == UM_DATASET_ROWS ? pl : NULL;
    return UM_OK;
}

enum um_status um_shard_open(const char *path, um_dataset **out) {
    if (!path || !out) return um_set_error(UM_ERR_ARG, "um_shard_open: NULL argument");
    if (!little_endian())
        return um_set_error(UM_ERR_UNSUPPORTED, "%s: shards are little-endian; this host is not",
                            path);
    um_dataset *ds = calloc(1, sizeof *ds);
    if (ds) ds->path = strdup(path);
    if (!ds || !ds->path) {
        free(ds);
        return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY);
    struct stat sb;
    enum um_status st = UM_OK;
    if (fd < 0)
        st = um_set_error(UM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        st = um_set_error(UM_ERR_IO, "%s: not a regular file", path);
    if (st == UM_OK) {
        ds->map_len = (size_t)sb.st_size;
        /* an empty file still gets a (one-page) mapping, so that parse_shard reports its size */
        ds->map = mmap(NULL, ds->map_len ? ds->map_len : 1, PROT_READ, MAP_PRIVATE, fd, 0);
        if (ds->map == MAP_FAILED) {
            ds->map = NULL;
            st = um_set_error(UM_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
    }
    if (fd >= 0) close(fd);
    if (st == UM_OK) st = parse_shard(ds, ds->map, ds->map_len);
    if (st != UM_OK) {
        um_dataset_close(ds);
        return st;
    }
    *out = ds;
    return UM_OK;
}

void um_dataset_close(um_dataset *ds) {
    if (!ds) return;
    if (ds->map) munmap(ds->map, ds->map_len ? ds->map_len : 1);
    free(ds->path);
    free(ds->tokenizer);
    free(ds);
}

/* ---------------------------------------------------------------- meta.json */

static enum um_status meta_int(const char *file, const cJSON *obj, const char *where,
                               const char *key, int64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble ||
        v->valuedouble < 0 || v->valuedouble > 9.0e15)
        return um_set_error(UM_ERR_FORMAT, "%s: %s%s: not a non-negative integer", file, where,
                            key);
    *out = (int64_t)v->valuedouble;
    return UM_OK;
}

/* Checks ds (opened from DIR/<split>.bin) against DIR/meta.json and records the tokenizer. */
static enum um_status check_meta(um_dataset *ds, const char *dir, const char *split) {
    char *meta_path = um_path_join(dir, "meta.json");
    if (!meta_path) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", dir);
    char *text = NULL;
    size_t len = 0;
    enum um_status st = um_read_file(meta_path, MAX_META_BYTES, &text, &len);
    cJSON *root = st == UM_OK ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    const char *f = meta_path;
    if (st == UM_OK && !cJSON_IsObject(root))
        st = um_set_error(UM_ERR_FORMAT, "%s: not a JSON object", f);
    const cJSON *fmt = st == UM_OK ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
    if (st == UM_OK && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "unmask-tokens") != 0))
        st = um_set_error(UM_ERR_FORMAT, "%s: format: not \"unmask-tokens\"", f);
    int64_t version = 0, n_vocab = 0, eos = 0, n_tokens = 0, n_rows = 0;
    if (st == UM_OK) st = meta_int(f, root, "", "version", &version);
    if (st == UM_OK && version != 1)
        st = um_set_error(UM_ERR_UNSUPPORTED, "%s: version %lld is not supported", f,
                          (long long)version);
    const cJSON *kind = st == UM_OK ? cJSON_GetObjectItemCaseSensitive(root, "kind") : NULL;
    const char *want_kind = ds->kind == UM_DATASET_STREAM ? "stream" : "rows";
    if (st == UM_OK && (!cJSON_IsString(kind) || strcmp(kind->valuestring, want_kind) != 0))
        st = um_set_error(UM_ERR_FORMAT, "%s: kind: not \"%s\" as in %s", f, want_kind, ds->path);
    if (st == UM_OK) st = meta_int(f, root, "", "n_vocab", &n_vocab);
    if (st == UM_OK) st = meta_int(f, root, "", "eos_id", &eos);
    if (st == UM_OK && (n_vocab != ds->n_vocab || eos != ds->eos_id))
        st = um_set_error(UM_ERR_FORMAT,
                          "%s: n_vocab %lld / eos_id %lld disagree with %s (%d / %d)", f,
                          (long long)n_vocab, (long long)eos, ds->path, ds->n_vocab, ds->eos_id);
    const cJSON *part = st == UM_OK ? cJSON_GetObjectItemCaseSensitive(root, split) : NULL;
    if (st == UM_OK && !cJSON_IsObject(part))
        st = um_set_error(UM_ERR_FORMAT, "%s: %s: not an object", f, split);
    char where[32];
    snprintf(where, sizeof where, "%s.", split);
    if (st == UM_OK) st = meta_int(f, part, where, "n_tokens", &n_tokens);
    if (st == UM_OK) st = meta_int(f, part, where, "n_rows", &n_rows);
    if (st == UM_OK && (n_tokens != ds->n_tokens || n_rows != ds->n_rows))
        st = um_set_error(UM_ERR_FORMAT,
                          "%s: %s.n_tokens %lld / n_rows %lld disagree with %s (%lld / %lld)", f,
                          split, (long long)n_tokens, (long long)n_rows, ds->path,
                          (long long)ds->n_tokens, (long long)ds->n_rows);
    const cJSON *tk = st == UM_OK ? cJSON_GetObjectItemCaseSensitive(root, "tokenizer") : NULL;
    if (st == UM_OK && (!cJSON_IsString(tk) || !tk->valuestring[0] ||
                        strchr(tk->valuestring, '/') || !strcmp(tk->valuestring, "..") ||
                        !strcmp(tk->valuestring, ".")))
        st = um_set_error(UM_ERR_FORMAT, "%s: tokenizer: not a file name inside the folder", f);
    if (st == UM_OK && !(ds->tokenizer = um_path_join(dir, tk->valuestring)))
        st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", f);
    cJSON_Delete(root);
    free(meta_path);
    return st;
}

enum um_status um_dataset_open(const char *dir, const char *split, um_dataset **out) {
    if (!dir || !split || !out) return um_set_error(UM_ERR_ARG, "um_dataset_open: NULL argument");
    if (strcmp(split, "train") != 0 && strcmp(split, "val") != 0)
        return um_set_error(UM_ERR_ARG, "um_dataset_open: split '%s' is neither train nor val",
                            split);
    char name[16];
    snprintf(name, sizeof name, "%s.bin", split);
    char *path = um_path_join(dir, name);
    if (!path) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", dir);
    um_dataset *ds = NULL;
    enum um_status st = um_shard_open(path, &ds);
    free(path);
    if (st == UM_OK) st = check_meta(ds, dir, split);
    if (st != UM_OK) {
        um_dataset_close(ds);
        return st;
    }
    *out = ds;
    return UM_OK;
}

/* ---------------------------------------------------------------- accessors */

enum um_shard_kind um_dataset_kind(const um_dataset *ds) { return ds->kind; }
int64_t um_dataset_n_tokens(const um_dataset *ds) { return ds->n_tokens; }
int64_t um_dataset_n_rows(const um_dataset *ds) { return ds->n_rows; }
int32_t um_dataset_seq_len(const um_dataset *ds) { return ds->seq_len; }
int32_t um_dataset_vocab(const um_dataset *ds) { return ds->n_vocab; }
int32_t um_dataset_eos(const um_dataset *ds) { return ds->eos_id; }
const char *um_dataset_tokenizer_path(const um_dataset *ds) { return ds->tokenizer; }
const int32_t *um_dataset_tokens(const um_dataset *ds) { return ds->tokens; }

enum um_status um_dataset_stream_window(const um_dataset *ds, int64_t offset, int64_t len,
                                        int32_t *out) {
    if (!ds || (!out && len > 0))
        return um_set_error(UM_ERR_ARG, "um_dataset_stream_window: NULL argument");
    if (ds->kind != UM_DATASET_STREAM)
        return um_set_error(UM_ERR_ARG, "%s: a rows shard has no stream windows", ds->path);
    if (offset < 0 || len < 0 || offset > ds->n_tokens || len > ds->n_tokens - offset)
        return um_set_error(UM_ERR_ARG, "%s: window [%lld, +%lld) outside the %lld tokens",
                            ds->path, (long long)offset, (long long)len,
                            (long long)ds->n_tokens);
    if (len > 0) memcpy(out, ds->tokens + offset, (size_t)len * sizeof *out);
    return UM_OK;
}

enum um_status um_dataset_row(const um_dataset *ds, int64_t i, int32_t *tokens,
                              int32_t *prompt_len) {
    if (!ds) return um_set_error(UM_ERR_ARG, "um_dataset_row: NULL argument");
    if (ds->kind != UM_DATASET_ROWS)
        return um_set_error(UM_ERR_ARG, "%s: a stream shard has no rows", ds->path);
    if (i < 0 || i >= ds->n_rows)
        return um_set_error(UM_ERR_ARG, "%s: row %lld outside [0, %lld)", ds->path,
                            (long long)i, (long long)ds->n_rows);
    if (tokens)
        memcpy(tokens, ds->tokens + i * ds->seq_len, (size_t)ds->seq_len * sizeof *tokens);
    if (prompt_len) *prompt_len = ds->prompt_len[i];
    return UM_OK;
}

/*
 * safetensors.c: the safetensors reader (mmap, header validation, sharded index, name lookup)
 * and the streaming atomic writer declared in safetensors.h.
 *
 * Reading a file: map it read-only, copy the N header bytes into a NUL-terminated buffer (so the
 * JSON parser can never run off the mapping), parse with cJSON, validate every entry into a
 * um_st_tensor record, then check overlap by sorting on offsets. A set is built by appending
 * files (one for a single file, one per distinct shard for an index) and is finished by sorting
 * an index of names, which gives both the duplicate check and O(log n) lookup.
 *
 * JSON numbers arrive as doubles: an integer field is accepted only if it is a finite, whole,
 * non-negative number <= 2^53, so it converts to uint64_t exactly.
 */
#include "io/safetensors.h"

#include "base/base.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* 100 MB, as the reference library */
#define ST_MAX_INDEX ((size_t)100 * 1000 * 1000)
#define ST_MAX_INT 9007199254740992.0 /* 2^53: largest double below which integers are exact */

/* ------------------------------------------------------------------------------- dtypes */

/* Every dtype the safetensors format defines, with its size in bits (sub-byte types F4/F6 are
 * packed; a tensor of them must hold a whole number of bytes). `um` is the engine dtype for
 * the supported ones, -1 otherwise. */
typedef struct st_dtype_info {
    const char *name;
    int bits;
    int um;
} st_dtype_info;

static const st_dtype_info ST_DTYPES[] = {
    {"F32", 32, UM_DTYPE_F32},  {"F16", 16, UM_DTYPE_F16},  {"BF16", 16, UM_DTYPE_BF16},
    {"BOOL", 8, -1},            {"U8", 8, -1},              {"I8", 8, -1},
    {"F8_E4M3", 8, -1},         {"F8_E5M2", 8, -1},         {"F8_E8M0", 8, -1},
    {"I16", 16, -1},            {"U16", 16, -1},            {"I32", 32, -1},
    {"U32", 32, -1},            {"I64", 64, -1},            {"U64", 64, -1},
    {"F64", 64, -1},            {"C64", 64, -1},            {"F4", 4, -1},
    {"F6_E2M3", 6, -1},         {"F6_E3M2", 6, -1},
};
#define ST_N_DTYPES ((int)(sizeof ST_DTYPES / sizeof ST_DTYPES[0]))

static const st_dtype_info *st_dtype_lookup(const char *s) {
    for (int i = 0; i < ST_N_DTYPES; i++)
        if (strcmp(ST_DTYPES[i].name, s) == 0) return &ST_DTYPES[i];
    return NULL;
}

/* Name of a supported dtype as written in the header; NULL outside the enum. */
static const char *st_dtype_name(enum um_dtype t) {
    switch (t) {
    case UM_DTYPE_F32: return "F32";
    case UM_DTYPE_F16: return "F16";
    case UM_DTYPE_BF16: return "BF16";
    }
    return NULL;
}

size_t um_dtype_size(enum um_dtype t) {
    switch (t) {
    case UM_DTYPE_F32: return 4;
    case UM_DTYPE_F16: return 2;
    case UM_DTYPE_BF16: return 2;
    }
    return 0;
}

/* ------------------------------------------------------------------------------- the set */

/* One mapped file. Invariant: addr is a PROT_READ mapping of len bytes (len >= 8), path is
 * owned. */
typedef struct st_map {
    void *addr;
    size_t len;
    char *path;
} st_map;

/* Invariants once open returns: tensors[0..n) are valid records whose name is malloc'd and
 * owned here and whose file points at a maps[].path; dtype_names[i] is the dtype string of
 * tensors[i] (static storage); by_name is a permutation of 0..n sorted by strcmp of names, with
 * no two names equal. */
struct um_st_set {
    um_st_tensor *tensors;
    const char **dtype_names;
    int n, cap;
    int *by_name;
    st_map *maps;
    int n_maps;
};

void um_st_close(um_st_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n; i++) free((char *)set->tensors[i].name);
    for (int i = 0; i < set->n_maps; i++) {
        munmap(set->maps[i].addr, set->maps[i].len);
        free(set->maps[i].path);
    }
    free(set->tensors);
    free(set->dtype_names);
    free(set->by_name);
    free(set->maps);
    free(set);
}

int um_st_count(const um_st_set *set) { return set ? set->n : 0; }

const um_st_tensor *um_st_get(const um_st_set *set, int i) {
    if (!set || i < 0 || i >= set->n) return NULL;
    return &set->tensors[i];
}

/* Index in by_name order of `name`, or -1. */
static int st_find_index(const um_st_set *set, const char *name) {
    int lo = 0, hi = set->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(set->tensors[set->by_name[mid]].name, name);
        if (c == 0) return set->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

const um_st_tensor *um_st_find(const um_st_set *set, const char *name) {
    if (!set || !name || !set->by_name) return NULL;
    int i = st_find_index(set, name);
    if (i < 0) return NULL;
    const um_st_tensor *t = &set->tensors[i];
    if (!t->supported) {
        um_set_error(UM_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, F16, BF16)",
                     t->file, t->name, set->dtype_names[i]);
        return NULL;
    }
    return t;
}

/* Append a zeroed tensor record; NULL when out of memory. */
static um_st_tensor *st_push(um_st_set *set, const char **dtype_name_slot[]) {
    if (set->n == set->cap) {
        int cap = set->cap ? set->cap * 2 : 64;
        um_st_tensor *t = realloc(set->tensors, (size_t)cap * sizeof *t);
        if (!t) return NULL;
        set->tensors = t;
        const char **d = realloc(set->dtype_names, (size_t)cap * sizeof *d);
        if (!d) return NULL;
        set->dtype_names = d;
        set->cap = cap;
    }
    um_st_tensor *t = &set->tensors[set->n];
    memset(t, 0, sizeof *t);
    set->dtype_names[set->n] = NULL;
    *dtype_name_slot = &set->dtype_names[set->n];
    set->n++;
    return t;
}

/* ------------------------------------------------------------------------------- header */

/* Reads a JSON integer field (see the file comment). Returns 0 and sets *v, or -1. */
static int st_json_uint(const cJSON *j, uint64_t *v) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_INT)) return -1; /* also rejects NaN */
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return -1;
    *v = u;
    return 0;
}

/* Per-file offsets kept for the overlap check. */
typedef struct st_span {
    uint64_t begin, end;
    int idx; /* tensor index in the set */
} st_span;

static int st_span_cmp(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Validates one header entry `e` (key e->string) of file `path` into a new record of `set`.
 * `buf`/`buf_len` are the data buffer. On success writes its offsets to *span. */
static enum um_status st_parse_entry(um_st_set *set, const char *path, const cJSON *e,
                                     const uint8_t *buf, uint64_t buf_len, st_span *span) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", path,
                            name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!jd) return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': missing dtype", path, name);
    if (!js) return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': missing shape", path, name);
    if (!jo)
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': missing data_offsets", path, name);
    if (!cJSON_IsString(jd))
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", path, name);
    const st_dtype_info *di = st_dtype_lookup(jd->valuestring);
    if (!di)
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.32s'", path, name,
                            jd->valuestring);

    if (!cJSON_IsArray(js))
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': shape is not an array", path, name);
    int n_dims = cJSON_GetArraySize(js);
    if (n_dims > UM_ST_MAX_DIMS)
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': shape has %d dims, at most %d",
                            path, name, n_dims, UM_ST_MAX_DIMS);
    int64_t shape[UM_ST_MAX_DIMS];
    bool any_zero = false;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        uint64_t v;
        if (st_json_uint(d, &v) != 0)
            return um_set_error(UM_ERR_FORMAT,
                                "%s: tensor '%s': shape[%d] is not a non-negative integer <= 2^53",
                                path, name, k);
        shape[k] = (int64_t)v;
        if (v == 0) any_zero = true;
    }
    /* n_elems and n_bits with overflow checks; a zero dim makes the product 0 whatever the
     * others are (each is already <= 2^53). */
    uint64_t n_elems = 1;
    if (any_zero) {
        n_elems = 0;
    } else {
        for (int i = 0; i < n_dims; i++) {
            uint64_t d = (uint64_t)shape[i];
            if (n_elems > (uint64_t)INT64_MAX / d)
                return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': shape product overflows",
                                    path, name);
            n_elems *= d;
        }
    }
    if (n_elems > UINT64_MAX / (uint64_t)di->bits)
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': byte size overflows", path, name);
    uint64_t n_bits = n_elems * (uint64_t)di->bits;
    if (n_bits % 8 != 0)
        return um_set_error(UM_ERR_FORMAT,
                            "%s: tensor '%s': %llu elements of %s do not fill whole bytes", path,
                            name, (unsigned long long)n_elems, di->name);
    uint64_t need = n_bits / 8;

    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return um_set_error(UM_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets is not an array of two integers", path,
                            name);
    uint64_t begin, end;
    if (st_json_uint(jo->child, &begin) != 0 || st_json_uint(jo->child->next, &end) != 0)
        return um_set_error(UM_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets are not non-negative integers <= 2^53",
                            path, name);
    if (begin > end)
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] begin > end",
                            path, name, (unsigned long long)begin, (unsigned long long)end);
    if (end > buf_len)
        return um_set_error(UM_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] end past the data buffer "
                            "(%llu bytes)",
                            path, name, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)buf_len);
    if (end - begin != need) {
        char sh[160];
        int p = snprintf(sh, sizeof sh, "[");
        for (int i = 0; i < n_dims && p < (int)sizeof sh - 24; i++)
            p += snprintf(sh + p, sizeof sh - (size_t)p, "%s%lld", i ? ", " : "",
                          (long long)shape[i]);
        snprintf(sh + p, sizeof sh - (size_t)p, "]");
        return um_set_error(UM_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but shape "
                            "%s of %s needs %llu",
                            path, name, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)(end - begin), sh, di->name,
                            (unsigned long long)need);
    }

    const char **dslot;
    um_st_tensor *t = st_push(set, &dslot);
    if (!t) return um_set_error(UM_ERR_NOMEM, "%s: out of memory for tensor records", path);
    t->name = strdup(name);
    if (!t->name) {
        set->n--;
        return um_set_error(UM_ERR_NOMEM, "%s: out of memory for tensor names", path);
    }
    *dslot = di->name;
    t->supported = di->um >= 0;
    t->dtype = di->um >= 0 ? (enum um_dtype)di->um : UM_DTYPE_F32;
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++) t->shape[i] = shape[i];
    t->n_elems = (int64_t)n_elems;
    t->data = buf + begin;
    t->n_bytes = (size_t)need;
    t->file = path;
    span->begin = begin;
    span->end = end;
    span->idx = set->n - 1;
    return UM_OK;
}

/* Validates a parsed header `root` of file `path` and appends its tensors to `set`. */
static enum um_status st_parse_header(um_st_set *set, const char *path, const cJSON *root,
                                      const uint8_t *buf, uint64_t buf_len) {
    if (!cJSON_IsObject(root))
        return um_set_error(UM_ERR_FORMAT, "%s: header is not a JSON object", path);
    int n_entries = cJSON_GetArraySize(root);
    st_span *spans = malloc((size_t)(n_entries > 0 ? n_entries : 1) * sizeof *spans);
    if (!spans) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    int n_spans = 0;
    enum um_status st = UM_OK;
    bool seen_meta = false;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) { /* cJSON always names object members; be defensive */
            st = um_set_error(UM_ERR_FORMAT, "%s: header member without a name", path);
            break;
        }
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta) {
                st = um_set_error(UM_ERR_FORMAT, "%s: duplicate __metadata__", path);
                break;
            }
            seen_meta = true;
            if (!cJSON_IsObject(e)) {
                st = um_set_error(UM_ERR_FORMAT, "%s: __metadata__ is not a JSON object", path);
                break;
            }
            for (const cJSON *m = e->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    st = um_set_error(UM_ERR_FORMAT, "%s: __metadata__ '%s' is not a string",
                                      path, m->string ? m->string : "");
                    break;
                }
            }
            if (st != UM_OK) break;
            continue;
        }
        st = st_parse_entry(set, path, e, buf, buf_len, &spans[n_spans]);
        if (st != UM_OK) break;
        n_spans++;
    }
    if (st == UM_OK && n_spans > 1) {
        qsort(spans, (size_t)n_spans, sizeof *spans, st_span_cmp);
        uint64_t max_end = spans[0].end;
        int max_idx = spans[0].idx;
        for (int i = 1; i < n_spans; i++) {
            if (spans[i].begin < max_end) {
                st = um_set_error(UM_ERR_FORMAT,
                                  "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor "
                                  "'%s' (ends at %llu)",
                                  path, set->tensors[spans[i].idx].name,
                                  (unsigned long long)spans[i].begin,
                                  (unsigned long long)spans[i].end,
                                  set->tensors[max_idx].name, (unsigned long long)max_end);
                break;
            }
            if (spans[i].end > max_end) {
                max_end = spans[i].end;
                max_idx = spans[i].idx;
            }
        }
    }
    free(spans);
    return st;
}

/* ------------------------------------------------------------------------------- open */

/* Maps `path` and appends its tensors to `set` (the mapping joins set->maps even when the header
 * is rejected, so the caller's um_st_close releases it). */
static enum um_status st_add_file(um_st_set *set, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return um_set_error(UM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        enum um_status st = um_set_error(UM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return um_set_error(UM_ERR_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return um_set_error(UM_ERR_FORMAT,
                            "%s: file is %lld bytes, too short for the 8-byte header length",
                            path, (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return um_set_error(UM_ERR_IO, "%s: file too large to map", path);
    }
    size_t len = (size_t)sb.st_size;
    void *addr = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (addr == MAP_FAILED)
        return um_set_error(UM_ERR_IO, "%s: mmap failed: %s", path, strerror(map_errno));

    st_map *maps = realloc(set->maps, (size_t)(set->n_maps + 1) * sizeof *maps);
    char *pcopy = strdup(path);
    if (!maps || !pcopy) {
        if (maps) set->maps = maps;
        free(pcopy);
        munmap(addr, len);
        return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    }
    set->maps = maps;
    set->maps[set->n_maps++] = (st_map){addr, len, pcopy};
    path = pcopy; /* tensor records point at the owned copy */

    const uint8_t *bytes = addr;
    uint64_t n_header = 0;
    for (int i = 7; i >= 0; i--) n_header = (n_header << 8) | bytes[i];
    if (n_header == 0)
        return um_set_error(UM_ERR_FORMAT, "%s: header length is 0", path);
    if (n_header > (uint64_t)len - 8)
        return um_set_error(UM_ERR_FORMAT,
                            "%s: header length %llu is past the end of the file (%zu bytes)", path,
                            (unsigned long long)n_header, len);
    if (n_header > ST_MAX_HEADER)
        return um_set_error(UM_ERR_FORMAT, "%s: header length %llu is more than the %llu allowed",
                            path, (unsigned long long)n_header,
                            (unsigned long long)ST_MAX_HEADER);

    /* The copy is NUL-terminated so no parser bug can read past the header. */
    char *hdr = malloc((size_t)n_header + 1);
    if (!hdr) return um_set_error(UM_ERR_NOMEM, "%s: out of memory for the header", path);
    memcpy(hdr, bytes + 8, (size_t)n_header);
    hdr[n_header] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n_header, &end, 0);
    enum um_status st = UM_OK;
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + n_header ? (size_t)(end - hdr) : 0;
        st = um_set_error(UM_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu)", path,
                          8 + at);
    } else {
        /* Only padding may follow the JSON value. */
        for (const char *p = end; p && p < hdr + n_header; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                st = um_set_error(UM_ERR_FORMAT,
                                  "%s: header has trailing bytes after the JSON (byte %zu)", path,
                                  (size_t)(8 + (p - hdr)));
                break;
            }
        }
        if (st == UM_OK)
            st = st_parse_header(set, path, root, bytes + 8 + n_header,
                                 (uint64_t)len - 8 - n_header);
    }
    cJSON_Delete(root);
    free(hdr);
    return st;
}

static int st_name_cmp(const um_st_set *set, int a, int b) {
    return strcmp(set->tensors[a].name, set->tensors[b].name);
}

/* Sorts by_name (merge sort: qsort has no context argument in C11) and rejects duplicates. */
static enum um_status st_finish(um_st_set *set) {
    int n = set->n;
    set->by_name = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    int *tmp = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    if (!set->by_name || !tmp) {
        free(tmp);
        return um_set_error(UM_ERR_NOMEM, "safetensors: out of memory for the name index");
    }
    for (int i = 0; i < n; i++) set->by_name[i] = i;
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                tmp[k++] = st_name_cmp(set, set->by_name[j], set->by_name[i]) < 0
                               ? set->by_name[j++]
                               : set->by_name[i++];
            while (i < mid) tmp[k++] = set->by_name[i++];
            while (j < hi) tmp[k++] = set->by_name[j++];
        }
        memcpy(set->by_name, tmp, (size_t)n * sizeof(int));
    }
    free(tmp);
    for (int i = 1; i < n; i++) {
        const um_st_tensor *a = &set->tensors[set->by_name[i - 1]];
        const um_st_tensor *b = &set->tensors[set->by_name[i]];
        if (strcmp(a->name, b->name) != 0) continue;
        if (a->file == b->file)
            return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s': duplicate tensor name", a->file,
                                a->name);
        return um_set_error(UM_ERR_FORMAT, "%s: tensor '%s' is also in %s", a->file, a->name,
                            b->file);
    }
    return UM_OK;
}

enum um_status um_st_open_file(const char *path, um_st_set **out) {
    if (!path || !out) return um_set_error(UM_ERR_ARG, "um_st_open_file: NULL argument");
    um_st_set *set = calloc(1, sizeof *set);
    if (!set) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    enum um_status st = st_add_file(set, path);
    if (st == UM_OK) st = st_finish(set);
    if (st != UM_OK) {
        um_st_close(set);
        return st;
    }
    *out = set;
    return UM_OK;
}

/* ------------------------------------------------------------------------------- index */

static int st_strptr_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A shard name is a plain file name inside the model folder. */
static bool st_plain_name(const char *s) {
    return s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strchr(s, '/') &&
           !strchr(s, '\\');
}

static enum um_status st_open_index(const char *dir, const char *ipath, um_st_set **out) {
    char *text = NULL;
    size_t text_len = 0;
    enum um_status st = um_read_file(ipath, ST_MAX_INDEX, &text, &text_len);
    if (st != UM_OK) return st;
    cJSON *root = cJSON_ParseWithLength(text, text_len);
    free(text);
    if (!root) return um_set_error(UM_ERR_FORMAT, "%s: not valid JSON", ipath);

    um_st_set *set = NULL;
    const char **shards = NULL;
    const cJSON *wm = NULL;
    if (!cJSON_IsObject(root)) {
        st = um_set_error(UM_ERR_FORMAT, "%s: not a JSON object", ipath);
        goto done;
    }
    wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        st = um_set_error(UM_ERR_FORMAT, "%s: weight_map is missing or not an object", ipath);
        goto done;
    }
    int n_wm = cJSON_GetArraySize(wm);
    if (n_wm == 0) {
        st = um_set_error(UM_ERR_FORMAT, "%s: weight_map is empty", ipath);
        goto done;
    }
    shards = malloc((size_t)n_wm * sizeof *shards);
    if (!shards) {
        st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", ipath);
        goto done;
    }
    int n_sh = 0;
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            st = um_set_error(UM_ERR_FORMAT, "%s: weight_map '%s' is not a string", ipath,
                              e->string ? e->string : "");
            goto done;
        }
        if (!st_plain_name(e->valuestring)) {
            st = um_set_error(UM_ERR_FORMAT,
                              "%s: weight_map '%s': shard '%.200s' is not a plain file name",
                              ipath, e->string ? e->string : "", e->valuestring);
            goto done;
        }
        shards[n_sh++] = e->valuestring;
    }
    qsort(shards, (size_t)n_sh, sizeof *shards, st_strptr_cmp);
    set = calloc(1, sizeof *set);
    if (!set) {
        st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", ipath);
        goto done;
    }
    for (int i = 0; i < n_sh; i++) {
        if (i > 0 && strcmp(shards[i], shards[i - 1]) == 0) continue;
        char *sp = um_path_join(dir, shards[i]);
        if (!sp) {
            st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", ipath);
            goto done;
        }
        if (!um_file_exists(sp)) {
            st = um_set_error(UM_ERR_IO, "%s: shard %s named in weight_map does not exist", ipath,
                              sp);
            free(sp);
            goto done;
        }
        st = st_add_file(set, sp);
        free(sp);
        if (st != UM_OK) goto done;
    }
    st = st_finish(set);
    if (st != UM_OK) goto done;
    /* Each weight_map entry must be in the shard it names. */
    for (const cJSON *e = wm->child; e; e = e->next) {
        int i = st_find_index(set, e->string);
        if (i < 0) {
            st = um_set_error(UM_ERR_FORMAT,
                              "%s: weight_map '%s': tensor not found in shard %s", ipath,
                              e->string, e->valuestring);
            goto done;
        }
        const char *f = set->tensors[i].file;
        const char *base = strrchr(f, '/');
        base = base ? base + 1 : f;
        if (strcmp(base, e->valuestring) != 0) {
            st = um_set_error(UM_ERR_FORMAT,
                              "%s: weight_map '%s': tensor is in %s, not in shard %s", ipath,
                              e->string, f, e->valuestring);
            goto done;
        }
    }
done:
    free(shards);
    cJSON_Delete(root);
    if (st != UM_OK) {
        um_st_close(set);
        return st;
    }
    *out = set;
    return UM_OK;
}

enum um_status um_st_open_dir(const char *dir, um_st_set **out) {
    if (!dir || !out) return um_set_error(UM_ERR_ARG, "um_st_open_dir: NULL argument");
    char *ipath = um_path_join(dir, "model.safetensors.index.json");
    char *spath = um_path_join(dir, "model.safetensors");
    enum um_status st;
    if (!ipath || !spath)
        st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", dir);
    else if (um_file_exists(ipath))
        st = st_open_index(dir, ipath, out);
    else if (um_file_exists(spath))
        st = um_st_open_file(spath, out);
    else
        st = um_set_error(UM_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json",
                          dir);
    free(ipath);
    free(spath);
    return st;
}

/* ------------------------------------------------------------------------------- writer */

/* Growable string for the header. `failed` sticks once an allocation fails. */
typedef struct st_buf {
    char *p;
    size_t len, cap;
    bool failed;
} st_buf;

static void st_buf_put(st_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void st_buf_str(st_buf *b, const char *s) { st_buf_put(b, s, strlen(s)); }

/* Appends `s` as a JSON string literal (quotes, backslash and control bytes escaped; other
 * bytes, including UTF-8, copied). */
static void st_buf_json_str(st_buf *b, const char *s) {
    st_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            st_buf_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            st_buf_put(b, esc, 6);
        } else {
            st_buf_put(b, (const char *)p, 1);
        }
    }
    st_buf_put(b, "\"", 1);
}

static void st_buf_u64(st_buf *b, uint64_t v) {
    char num[24];
    int k = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    st_buf_put(b, num, (size_t)k);
}

static int st_write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        size_t chunk = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        ssize_t w = write(fd, p, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Validates the writer's input and fills sizes[i] with the byte size of tensor i. */
static enum um_status st_check_write(const char *path, const um_st_write_tensor *tensors, int n,
                                     const char *const *meta_kv, uint64_t *sizes) {
    for (int i = 0; i < n; i++) {
        const um_st_write_tensor *t = &tensors[i];
        if (!t->name || !t->name[0])
            return um_set_error(UM_ERR_ARG, "%s: tensor %d has an empty name", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return um_set_error(UM_ERR_ARG, "%s: tensor %d may not be named __metadata__", path,
                                i);
        if (!st_dtype_name(t->dtype))
            return um_set_error(UM_ERR_ARG, "%s: tensor '%s': invalid dtype %d", path, t->name,
                                (int)t->dtype);
        if (t->n_dims < 0 || t->n_dims > UM_ST_MAX_DIMS)
            return um_set_error(UM_ERR_ARG, "%s: tensor '%s': n_dims %d outside 0..%d", path,
                                t->name, t->n_dims, UM_ST_MAX_DIMS);
        uint64_t n_elems = 1;
        bool zero = false;
        for (int d = 0; d < t->n_dims; d++) {
            if (t->shape[d] < 0 || (double)t->shape[d] > ST_MAX_INT)
                return um_set_error(UM_ERR_ARG, "%s: tensor '%s': shape[%d] = %lld is invalid",
                                    path, t->name, d, (long long)t->shape[d]);
            if (t->shape[d] == 0) zero = true;
        }
        if (zero) {
            n_elems = 0;
        } else {
            for (int d = 0; d < t->n_dims; d++) {
                uint64_t v = (uint64_t)t->shape[d];
                if (n_elems > ((uint64_t)1 << 53) / v)
                    return um_set_error(UM_ERR_ARG, "%s: tensor '%s': shape product too large",
                                        path, t->name);
                n_elems *= v;
            }
        }
        uint64_t bytes = n_elems * um_dtype_size(t->dtype);
        if (bytes > ((uint64_t)1 << 53) || bytes > (uint64_t)SIZE_MAX)
            return um_set_error(UM_ERR_ARG, "%s: tensor '%s': too large", path, t->name);
        if (bytes > 0 && !t->data)
            return um_set_error(UM_ERR_ARG, "%s: tensor '%s': data is NULL", path, t->name);
        sizes[i] = bytes;
    }
    /* Unique names: sort pointers. */
    if (n > 1) {
        const char **names = malloc((size_t)n * sizeof *names);
        if (!names) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
        for (int i = 0; i < n; i++) names[i] = tensors[i].name;
        qsort(names, (size_t)n, sizeof *names, st_strptr_cmp);
        for (int i = 1; i < n; i++) {
            if (strcmp(names[i], names[i - 1]) == 0) {
                enum um_status st = um_set_error(UM_ERR_ARG, "%s: tensor '%s': duplicate name",
                                                 path, names[i]);
                free(names);
                return st;
            }
        }
        free(names);
    }
    if (meta_kv) {
        for (int i = 0; meta_kv[i]; i += 2)
            if (!meta_kv[i + 1])
                return um_set_error(UM_ERR_ARG, "%s: metadata key '%s' has no value", path,
                                    meta_kv[i]);
    }
    return UM_OK;
}

enum um_status um_st_write(const char *path, const um_st_write_tensor *tensors, int n,
                           const char *const *meta_kv) {
    if (!path || n < 0 || (n > 0 && !tensors))
        return um_set_error(UM_ERR_ARG, "um_st_write: invalid arguments");
    uint64_t *sizes = malloc((size_t)(n > 0 ? n : 1) * sizeof *sizes);
    if (!sizes) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    enum um_status st = st_check_write(path, tensors, n, meta_kv, sizes);
    if (st != UM_OK) {
        free(sizes);
        return st;
    }

    st_buf b = {0};
    st_buf_str(&b, "{");
    bool first = true;
    if (meta_kv && meta_kv[0]) {
        st_buf_str(&b, "\"__metadata__\":{");
        for (int i = 0; meta_kv[i]; i += 2) {
            if (i) st_buf_str(&b, ",");
            st_buf_json_str(&b, meta_kv[i]);
            st_buf_str(&b, ":");
            st_buf_json_str(&b, meta_kv[i + 1]);
        }
        st_buf_str(&b, "}");
        first = false;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const um_st_write_tensor *t = &tensors[i];
        if (!first) st_buf_str(&b, ",");
        first = false;
        st_buf_json_str(&b, t->name);
        st_buf_str(&b, ":{\"dtype\":\"");
        st_buf_str(&b, st_dtype_name(t->dtype));
        st_buf_str(&b, "\",\"shape\":[");
        for (int d = 0; d < t->n_dims; d++) {
            if (d) st_buf_str(&b, ",");
            st_buf_u64(&b, (uint64_t)t->shape[d]);
        }
        st_buf_str(&b, "],\"data_offsets\":[");
        st_buf_u64(&b, off);
        st_buf_str(&b, ",");
        if (sizes[i] > ((uint64_t)1 << 53) - off) {
            free(sizes);
            free(b.p);
            return um_set_error(UM_ERR_ARG, "%s: total data size too large", path);
        }
        off += sizes[i];
        st_buf_u64(&b, off);
        st_buf_str(&b, "]}");
    }
    st_buf_str(&b, "}");
    while (!b.failed && b.len % 8 != 0) st_buf_str(&b, " ");
    if (b.failed) {
        free(sizes);
        free(b.p);
        return um_set_error(UM_ERR_NOMEM, "%s: out of memory for the header", path);
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)b.len >> (8 * i));

    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) {
        free(sizes);
        free(b.p);
        return um_set_error(UM_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = um_set_error(UM_ERR_IO, "%s: cannot create temp file: %s", path, strerror(errno));
        free(tmp);
        free(sizes);
        free(b.p);
        return st;
    }
    int bad = st_write_all(fd, len8, 8) || st_write_all(fd, b.p, b.len);
    for (int i = 0; i < n && !bad; i++)
        if (sizes[i] > 0) bad = st_write_all(fd, tensors[i].data, (size_t)sizes[i]);
    if (bad) {
        st = um_set_error(UM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
    } else if (fsync(fd) != 0) {
        st = um_set_error(UM_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
    } else if (close(fd) != 0 || chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        st = um_set_error(UM_ERR_IO, "%s: cannot finish write: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        /* Make the rename durable: fsync the folder (best effort). */
        const char *slash = strrchr(path, '/');
        char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
        if (dir) {
            int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    free(tmp);
    free(sizes);
    free(b.p);
    return st;
}

/*
 * test_safetensors.c: the safetensors reader and writer (src/io/safetensors.c).
 *
 * Round trips through um_st_write (F32/F16/BF16, a 0-d scalar, a zero-size tensor, metadata),
 * writer argument checks, unsupported-but-valid dtypes, a two-shard index, a table of hostile
 * files and index folders that must each fail cleanly with a message naming the file, and a
 * fixed-seed mutation fuzz loop over a valid file that must never crash (run it under
 * -DUM_SANITIZE=address,undefined). Everything lives in a mkdtemp folder removed at the end.
 */
#include "base/base.h"
#include "io/safetensors.h"
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static char *path_in(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot create %s\n", path);
        exit(2);
    }
    if (len) fwrite(data, 1, len, f);
    fclose(f);
}

/* Writes 8-byte little-endian `hlen`, the header text, then `n_data` bytes 0..255 repeating. */
static void write_st(const char *path, uint64_t hlen, const char *header, size_t n_data) {
    size_t hl = strlen(header);
    size_t total = 8 + hl + n_data;
    unsigned char *b = malloc(total);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, header, hl);
    for (size_t i = 0; i < n_data; i++) b[8 + hl + i] = (unsigned char)i;
    write_bytes(path, b, total);
    free(b);
}

/* A file whose header length field is exactly the header text length. */
static void write_hdr(const char *name, const char *header, size_t n_data) {
    write_st(path_in(name), strlen(header), header, n_data);
}

static void rm_rf(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[1024];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Opening `name` (a file in g_dir) must fail with a non-OK status, leave the out pointer NULL,
 * and give a message containing `name`. */
static void expect_bad_file(int line, const char *name, enum um_status want) {
    um_st_set *set = NULL;
    enum um_status st = um_st_open_file(path_in(name), &set);
    const char *msg = um_last_error();
    CHECKF(st != UM_OK && set == NULL, "line %d: %s opened (status %d)", line, name, (int)st);
    CHECKF(want == UM_OK || st == want, "line %d: %s: status %s, want %s: %s", line, name,
           um_status_str(st), um_status_str(want), msg);
    CHECKF(strstr(msg, name) != NULL, "line %d: message does not name %s: %s", line, name, msg);
    if (st != UM_OK) printf("  ok: %s\n", msg);
    um_st_close(set);
}
#define BAD(name, hdr, n_data)                                                                 \
    do {                                                                                       \
        write_hdr(name, hdr, n_data);                                                          \
        expect_bad_file(__LINE__, name, UM_ERR_FORMAT);                                        \
    } while (0)

/* Same for a folder: message must contain `needle`. */
static void expect_bad_dir(int line, const char *dir, const char *needle, enum um_status want) {
    um_st_set *set = NULL;
    enum um_status st = um_st_open_dir(dir, &set);
    const char *msg = um_last_error();
    CHECKF(st != UM_OK && set == NULL, "line %d: %s opened", line, dir);
    CHECKF(st == want, "line %d: %s: status %s, want %s: %s", line, dir, um_status_str(st),
           um_status_str(want), msg);
    CHECKF(strstr(msg, needle) != NULL, "line %d: message lacks '%s': %s", line, needle, msg);
    if (st != UM_OK) printf("  ok: %s\n", msg);
    um_st_close(set);
}

static bool same_tensor(const um_st_tensor *t, const um_st_write_tensor *w) {
    if (!t || !w) return false;
    if (strcmp(t->name, w->name) || !t->supported || t->dtype != w->dtype ||
        t->n_dims != w->n_dims)
        return false;
    int64_t n = 1;
    for (int d = 0; d < w->n_dims; d++) {
        if (t->shape[d] != w->shape[d]) return false;
        n *= w->shape[d];
    }
    if (t->n_elems != n || t->n_bytes != (size_t)n * um_dtype_size(w->dtype)) return false;
    return t->n_bytes == 0 || memcmp(t->data, w->data, t->n_bytes) == 0;
}

static void test_round_trip(void) {
    float a[6] = {1.f, -2.f, 3.5f, 0.f, 1e-3f, -7.25f};
    uint16_t h[5], bf[6];
    for (int i = 0; i < 5; i++) h[i] = um_f32_to_f16((float)i * 0.5f - 1.f);
    for (int i = 0; i < 6; i++) bf[i] = um_f32_to_bf16((float)i * 3.f + 0.25f);
    float s = 42.f;
    um_st_write_tensor w[5] = {
        {"model.embed.weight", UM_DTYPE_F32, 2, {2, 3}, a},
        {"scalar", UM_DTYPE_F32, 0, {0}, &s},
        {"layers.0.h", UM_DTYPE_F16, 1, {5}, h},
        {"layers.0.\"quoted\\name\"", UM_DTYPE_BF16, 3, {3, 1, 2}, bf},
        {"empty", UM_DTYPE_BF16, 2, {4, 0}, NULL},
    };
    const char *meta[] = {"format", "pt", "note", "tab\there \"q\"", NULL};
    const char *p = path_in("rt.safetensors");
    enum um_status st = um_st_write(p, w, 5, meta);
    CHECKF(st == UM_OK, "write: %s", um_last_error());

    /* Header length is a multiple of 8, so the data buffer starts 8-aligned. */
    FILE *f = fopen(p, "rb");
    unsigned char len8[8] = {0};
    CHECK(f && fread(len8, 1, 8, f) == 8);
    if (f) fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | len8[i];
    CHECKF(hl % 8 == 0 && hl > 0, "header length %llu", (unsigned long long)hl);

    um_st_set *set = NULL;
    st = um_st_open_file(p, &set);
    CHECKF(st == UM_OK && set, "open: %s", um_last_error());
    if (!set) return;
    CHECK(um_st_count(set) == 5);
    for (int i = 0; i < 5; i++) {
        CHECKF(same_tensor(um_st_find(set, w[i].name), &w[i]), "find %s", w[i].name);
        CHECKF(same_tensor(um_st_get(set, i), &w[i]), "get %d", i); /* file order kept */
    }
    const um_st_tensor *sc = um_st_find(set, "scalar");
    CHECK(sc && sc->n_dims == 0 && sc->n_elems == 1 && sc->n_bytes == 4);
    const um_st_tensor *em = um_st_find(set, "empty");
    CHECK(em && em->n_elems == 0 && em->n_bytes == 0);
    CHECK(um_st_find(set, "nope") == NULL);
    CHECK(um_st_find(set, "") == NULL);
    CHECK(um_st_get(set, 5) == NULL && um_st_get(set, -1) == NULL);
    CHECK(strstr(um_st_get(set, 0)->file, "rt.safetensors") != NULL);
    um_st_close(set);

    /* A folder holding model.safetensors opens the same way. */
    char sub[256];
    snprintf(sub, sizeof sub, "%s/single", g_dir);
    mkdir(sub, 0755);
    char *mp = um_path_join(sub, "model.safetensors");
    CHECK(um_st_write(mp, w, 5, NULL) == UM_OK);
    set = NULL;
    st = um_st_open_dir(sub, &set);
    CHECKF(st == UM_OK, "open_dir single: %s", um_last_error());
    CHECK(um_st_count(set) == 5 && same_tensor(um_st_find(set, "layers.0.h"), &w[2]));
    um_st_close(set);
    free(mp);

    /* Zero tensors is a valid file. */
    CHECK(um_st_write(path_in("none.safetensors"), NULL, 0, NULL) == UM_OK);
    set = NULL;
    CHECK(um_st_open_file(path_in("none.safetensors"), &set) == UM_OK && um_st_count(set) == 0);
    um_st_close(set);

    CHECK(um_dtype_size(UM_DTYPE_F32) == 4 && um_dtype_size(UM_DTYPE_F16) == 2 &&
          um_dtype_size(UM_DTYPE_BF16) == 2);
    um_st_close(NULL);
    CHECK(um_st_count(NULL) == 0 && um_st_find(NULL, "x") == NULL);
}

static void test_writer_args(void) {
    float a[2] = {1, 2};
    char p[512];
    snprintf(p, sizeof p, "%s", path_in("bad_write.safetensors"));
    um_st_write_tensor dup[2] = {{"x", UM_DTYPE_F32, 1, {2}, a}, {"x", UM_DTYPE_F32, 1, {2}, a}};
    um_st_write_tensor empty[1] = {{"", UM_DTYPE_F32, 1, {2}, a}};
    um_st_write_tensor dims[1] = {{"x", UM_DTYPE_F32, 9, {1, 1, 1, 1, 1, 1, 1, 1}, a}};
    um_st_write_tensor neg[1] = {{"x", UM_DTYPE_F32, 2, {2, -1}, a}};
    um_st_write_tensor nodata[1] = {{"x", UM_DTYPE_F32, 1, {2}, NULL}};
    um_st_write_tensor meta_name[1] = {{"__metadata__", UM_DTYPE_F32, 1, {2}, a}};
    um_st_write_tensor ok[1] = {{"x", UM_DTYPE_F32, 1, {2}, a}};
    const char *odd[] = {"k", NULL};
    CHECK(um_st_write(p, dup, 2, NULL) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "duplicate") != NULL);
    CHECK(um_st_write(p, empty, 1, NULL) == UM_ERR_ARG);
    CHECK(um_st_write(p, dims, 1, NULL) == UM_ERR_ARG);
    CHECK(um_st_write(p, neg, 1, NULL) == UM_ERR_ARG);
    CHECK(um_st_write(p, nodata, 1, NULL) == UM_ERR_ARG);
    CHECK(um_st_write(p, meta_name, 1, NULL) == UM_ERR_ARG);
    CHECK(um_st_write(p, ok, -1, NULL) == UM_ERR_ARG);
    CHECK(um_st_write(p, ok, 1, odd) == UM_ERR_ARG);
    CHECK(access(p, F_OK) != 0); /* nothing written, no temp file left */
    CHECK(um_st_write(path_in("nodir/x.safetensors"), ok, 1, NULL) == UM_ERR_IO);
    CHECK(strstr(um_last_error(), "nodir") != NULL);
    /* Overwrite replaces atomically. */
    CHECK(um_st_write(p, ok, 1, NULL) == UM_OK);
    CHECK(um_st_write(p, ok, 1, NULL) == UM_OK);
    DIR *d = opendir(g_dir);
    int n_tmp = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n_tmp++;
    if (d) closedir(d);
    CHECKF(n_tmp == 0, "%d temp files left", n_tmp);
}

static void test_unsupported_dtypes(void) {
    /* I64 [2] (16 bytes), F32 [1] (4), U8 [3] (3), F4 [2] (1 byte): valid file. */
    write_hdr("mixed.safetensors",
              "{\"pos\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
              "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
              "\"m\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[20,23]},"
              "\"q\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[23,24]},"
              "\"__metadata__\":{\"format\":\"pt\"}}",
              24);
    um_st_set *set = NULL;
    enum um_status st = um_st_open_file(path_in("mixed.safetensors"), &set);
    CHECKF(st == UM_OK, "mixed: %s", um_last_error());
    if (!set) return;
    CHECK(um_st_count(set) == 4);
    const um_st_tensor *w = um_st_find(set, "w");
    CHECK(w && w->supported && w->dtype == UM_DTYPE_F32 && w->n_bytes == 4);
    CHECK(um_st_find(set, "pos") == NULL);
    CHECKF(strstr(um_last_error(), "I64") && strstr(um_last_error(), "pos") &&
               strstr(um_last_error(), "mixed.safetensors"),
           "message: %s", um_last_error());
    const um_st_tensor *g = um_st_get(set, 0);
    CHECK(g && !g->supported && strcmp(g->name, "pos") == 0 && g->n_bytes == 16);
    const um_st_tensor *q = um_st_get(set, 3);
    CHECK(q && !q->supported && q->n_elems == 2 && q->n_bytes == 1);
    um_st_close(set);
}

static void test_sharded(void) {
    char dir[256];
    snprintf(dir, sizeof dir, "%s/sharded", g_dir);
    mkdir(dir, 0755);
    float a[4] = {1, 2, 3, 4}, b[3] = {5, 6, 7};
    uint16_t c[2] = {0x3f80, 0x4000};
    um_st_write_tensor s1[2] = {{"a", UM_DTYPE_F32, 2, {2, 2}, a},
                                {"b", UM_DTYPE_F32, 1, {3}, b}};
    um_st_write_tensor s2[1] = {{"c", UM_DTYPE_BF16, 1, {2}, c}};
    char *p1 = um_path_join(dir, "model-00001-of-00002.safetensors");
    char *p2 = um_path_join(dir, "model-00002-of-00002.safetensors");
    char *ip = um_path_join(dir, "model.safetensors.index.json");
    CHECK(um_st_write(p1, s1, 2, NULL) == UM_OK);
    CHECK(um_st_write(p2, s2, 1, NULL) == UM_OK);
    const char *index = "{\"metadata\":{\"total_size\":32},\"weight_map\":{"
                        "\"a\":\"model-00001-of-00002.safetensors\","
                        "\"c\":\"model-00002-of-00002.safetensors\","
                        "\"b\":\"model-00001-of-00002.safetensors\"}}";
    write_bytes(ip, index, strlen(index));
    um_st_set *set = NULL;
    enum um_status st = um_st_open_dir(dir, &set);
    CHECKF(st == UM_OK, "sharded: %s", um_last_error());
    if (set) {
        CHECK(um_st_count(set) == 3);
        CHECK(same_tensor(um_st_find(set, "a"), &s1[0]));
        CHECK(same_tensor(um_st_find(set, "b"), &s1[1]));
        const um_st_tensor *tc = um_st_find(set, "c");
        CHECK(same_tensor(tc, &s2[0]));
        CHECK(tc && strstr(tc->file, "model-00002-of-00002.safetensors") != NULL);
        CHECK(strstr(um_st_find(set, "a")->file, "model-00001-of-00002") != NULL);
        um_st_close(set);
    }

    /* Hostile indexes, each in the same folder (rewriting the index). */
    struct {
        const char *json, *needle;
        enum um_status want;
    } cases[] = {
        {"{\"weight_map\": {\"a\": ", "index.json", UM_ERR_FORMAT},
        {"[1, 2]", "index.json", UM_ERR_FORMAT},
        {"{\"weight_map\": []}", "weight_map", UM_ERR_FORMAT},
        {"{\"weight_map\": {}}", "weight_map", UM_ERR_FORMAT},
        {"{\"weight_map\": {\"a\": 3}}", "'a'", UM_ERR_FORMAT},
        {"{\"weight_map\": {\"a\": \"model-00009-of-00002.safetensors\"}}", "model-00009",
         UM_ERR_IO},
        {"{\"weight_map\": {\"a\": \"../rt.safetensors\"}}", "../rt.safetensors", UM_ERR_FORMAT},
        {"{\"weight_map\": {\"a\": \"..\"}}", "'..'", UM_ERR_FORMAT},
        {"{\"weight_map\": {\"a\": \"/etc/passwd\"}}", "/etc/passwd", UM_ERR_FORMAT},
        {"{\"weight_map\": {\"zz\": \"model-00001-of-00002.safetensors\"}}", "'zz'",
         UM_ERR_FORMAT},
        {"{\"weight_map\": {\"c\": \"model-00001-of-00002.safetensors\", \"a\": "
         "\"model-00002-of-00002.safetensors\"}}",
         "'c'", UM_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_bytes(ip, cases[i].json, strlen(cases[i].json));
        expect_bad_dir(__LINE__ + (int)i * 0, dir, cases[i].needle, cases[i].want);
    }

    /* The same tensor name in two shards. */
    um_st_write_tensor s3[1] = {{"a", UM_DTYPE_F32, 1, {3}, b}};
    char *p3 = um_path_join(dir, "extra.safetensors");
    CHECK(um_st_write(p3, s3, 1, NULL) == UM_OK);
    const char *dup = "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", "
                      "\"b\": \"extra.safetensors\"}}";
    write_bytes(ip, dup, strlen(dup));
    expect_bad_dir(__LINE__, dir, "'a'", UM_ERR_FORMAT);
    /* A shard that is itself corrupt: its name appears. */
    write_bytes(p3, "garbage", 7);
    expect_bad_dir(__LINE__, dir, "extra.safetensors", UM_ERR_FORMAT);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/does-not-exist", g_dir);
    expect_bad_dir(__LINE__, missing, "does-not-exist", UM_ERR_IO);
    char emptyd[300];
    snprintf(emptyd, sizeof emptyd, "%s/emptydir", g_dir);
    mkdir(emptyd, 0755);
    expect_bad_dir(__LINE__, emptyd, "no model.safetensors or model.safetensors.index.json",
                   UM_ERR_IO);
    free(p1);
    free(p2);
    free(p3);
    free(ip);
}

static void test_hostile(void) {
    write_bytes(path_in("empty.safetensors"), "", 0);
    expect_bad_file(__LINE__, "empty.safetensors", UM_ERR_FORMAT);
    write_bytes(path_in("five.safetensors"), "\x10\0\0\0\0", 5);
    expect_bad_file(__LINE__, "five.safetensors", UM_ERR_FORMAT);
    expect_bad_file(__LINE__, "absent.safetensors", UM_ERR_IO);
    expect_bad_file(__LINE__, "", UM_ERR_IO); /* g_dir itself: not a regular file */

    write_st(path_in("past_end.safetensors"), 100, "{}", 10);
    expect_bad_file(__LINE__, "past_end.safetensors", UM_ERR_FORMAT);
    write_st(path_in("huge_len.safetensors"), (uint64_t)1 << 63, "{}", 10);
    expect_bad_file(__LINE__, "huge_len.safetensors", UM_ERR_FORMAT);
    write_st(path_in("max_len.safetensors"), UINT64_MAX, "{}", 10);
    expect_bad_file(__LINE__, "max_len.safetensors", UM_ERR_FORMAT);
    write_st(path_in("zero_len.safetensors"), 0, "{}", 10);
    expect_bad_file(__LINE__, "zero_len.safetensors", UM_ERR_FORMAT);
    /* Header length 101 MB in a sparse file that long: over the 100 MB cap. */
    {
        const char *p = path_in("big_header.safetensors");
        write_st(p, 101u * 1000 * 1000, "{}", 0);
        CHECK(truncate(p, 102l * 1000 * 1000) == 0);
        expect_bad_file(__LINE__, "big_header.safetensors", UM_ERR_FORMAT);
        unlink(p);
    }
    /* A header length shorter than the JSON text cuts it. */
    write_st(path_in("short_len.safetensors"), 5,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    expect_bad_file(__LINE__, "short_len.safetensors", UM_ERR_FORMAT);

    BAD("not_json.safetensors", "hello, world", 0);
    BAD("array.safetensors", "[1, 2, 3]", 0);
    BAD("string.safetensors", "\"abc\"", 0);
    BAD("trailing.safetensors", "{} x", 0);
    write_st(path_in("nul_in_header.safetensors"), 4, "{}", 2); /* data bytes 0, 1 */
    expect_bad_file(__LINE__, "nul_in_header.safetensors", UM_ERR_FORMAT);
    BAD("entry_not_obj.safetensors", "{\"a\": 5}", 0);
    BAD("no_dtype.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    BAD("no_shape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4);
    BAD("no_offsets.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4);
    BAD("dtype_q4.safetensors", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        4);
    BAD("dtype_num.safetensors", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    BAD("dtype_lower.safetensors",
        "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_neg.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_frac.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_huge.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_inf.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e999],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_2p54.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[18014398509481984],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_overflow.safetensors",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
        4);
    BAD("shape_overflow2.safetensors",
        "{\"a\":{\"dtype\":\"I64\",\"shape\":[1099511627776,2048],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_str.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4);
    BAD("shape_elem_str.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4);
    BAD("shape_9d.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    BAD("off_past_end.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
    BAD("off_begin_gt_end.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
    BAD("off_mismatch.safetensors",
        "{\"model.norm.weight\":{\"dtype\":\"BF16\",\"shape\":[48],\"data_offsets\":[0,100]}}",
        100);
    BAD("off_three.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8);
    BAD("off_one.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}",
        8);
    BAD("off_neg.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8);
    BAD("off_obj.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"0\":4}}}", 8);
    BAD("overlap.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        12);
    BAD("overlap_inside.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        16);
    BAD("duplicate.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        8);
    BAD("meta_num.safetensors", "{\"__metadata__\": 5}", 0);
    BAD("meta_nonstr.safetensors", "{\"__metadata__\": {\"k\": 1}}", 0);
    BAD("meta_twice.safetensors", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0);
    BAD("f4_odd.safetensors", "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}",
        2);
    {
        /* 5000 nested arrays: past cJSON's nesting limit, must fail without deep recursion. */
        enum { DEPTH = 5000 };
        char *deep = malloc(2 * DEPTH + 16);
        size_t k = 0;
        k += (size_t)sprintf(deep, "{\"a\":");
        for (int i = 0; i < DEPTH; i++) deep[k++] = '[';
        for (int i = 0; i < DEPTH; i++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = 0;
        BAD("deep.safetensors", deep, 0);
        free(deep);
    }

    /* Allowed: gaps in the buffer, and data past the last tensor. */
    write_hdr("gaps.safetensors",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
              "\"b\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[12,14]}}",
              32);
    um_st_set *set = NULL;
    enum um_status st = um_st_open_file(path_in("gaps.safetensors"), &set);
    CHECKF(st == UM_OK, "gaps: %s", um_last_error());
    const um_st_tensor *t = um_st_find(set, "a");
    CHECK(t && ((const unsigned char *)t->data)[0] == 4);
    um_st_close(set);
}

/* Mutations of a valid file: never crash; touch every byte of every tensor returned. */
static void test_fuzz(void) {
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t h[3] = {1, 2, 3};
    um_st_write_tensor w[3] = {{"alpha", UM_DTYPE_F32, 2, {2, 3}, a},
                               {"beta", UM_DTYPE_BF16, 1, {3}, h},
                               {"gamma", UM_DTYPE_F16, 0, {0}, h}};
    const char *meta[] = {"format", "pt", NULL};
    const char *src = path_in("fuzz_src.safetensors");
    CHECK(um_st_write(src, w, 3, meta) == UM_OK);
    char *orig = NULL;
    size_t n = 0;
    CHECK(um_read_file(src, 1 << 20, &orig, &n) == UM_OK);
    if (!orig) return;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)orig[i];
    size_t span = 8 + (size_t)hl; /* mutate the length field and the header */
    unsigned char *buf = malloc(n + 1);
    const char *fp = path_in("fuzz.safetensors");
    const char interesting[] = "{}[]\",:-.0123456789eE \\";
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int n_ok = 0, n_bad = 0, n_msg = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(buf, orig, n);
        size_t len = n;
#define RND() (seed = seed * 6364136223846793005ull + 1442695040888963407ull, (size_t)(seed >> 33))
        int n_mut = 1 + (int)(RND() % 4);
        for (int m = 0; m < n_mut; m++) {
            size_t pos = RND() % span;
            switch (RND() % 8) {
            case 0: buf[pos] ^= (unsigned char)(1u << (RND() % 8)); break;
            case 1: buf[pos] = (unsigned char)RND(); break;
            case 2: buf[pos] = (unsigned char)interesting[RND() % (sizeof interesting - 1)]; break;
            case 3: len = RND() % (n + 1); break;
            default: /* change a digit of the header: shapes and offsets stay JSON */
                while (pos < span && (buf[pos] < '0' || buf[pos] > '9')) pos++;
                if (pos < span) buf[pos] = (unsigned char)('0' + RND() % 10);
                break;
            }
        }
#undef RND
        write_bytes(fp, buf, len);
        um_st_set *set = NULL;
        enum um_status st = um_st_open_file(fp, &set);
        if (st == UM_OK) {
            n_ok++;
            unsigned sum = 0;
            for (int i = 0; i < um_st_count(set); i++) {
                const um_st_tensor *t = um_st_get(set, i);
                for (size_t k = 0; k < t->n_bytes; k++) sum += ((const unsigned char *)t->data)[k];
                um_st_find(set, t->name);
            }
            (void)sum;
            um_st_close(set);
        } else {
            n_bad++;
            if (set == NULL && strstr(um_last_error(), "fuzz.safetensors")) n_msg++;
        }
    }
    printf("  fuzz: %d opened, %d rejected\n", n_ok, n_bad);
    CHECK(n_ok > 0 && n_bad > 0);
    CHECKF(n_msg == n_bad, "%d of %d rejections named the file", n_msg, n_bad);
    free(buf);
    free(orig);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/um_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_round_trip();
    test_writer_args();
    test_unsupported_dtypes();
    test_sharded();
    test_hostile();
    test_fuzz();
    rm_rf(g_dir);
    return TEST_DONE();
}

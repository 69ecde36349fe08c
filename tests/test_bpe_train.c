/*
 * test_bpe_train.c: the BPE trainer (um_bpe_train).
 *
 *   - known answer: on "hello hello hello world" the merges, their order (ties to the
 *     smallest id pair) and min_frequency are as worked out by hand;
 *   - layout: byte tokens at ids 0..255 in GPT-2 order, special tokens after the merges;
 *   - determinism: training twice writes identical bytes;
 *   - the oracle: a tokenizer trained on a fixed corpus (this repository's C sources, docs and
 *     half of tests/oracle/tok_corpus.txt) encodes held-out text (the other half, the public
 *     header, tools/cli.c) to the same ids in um_tokenizer_encode and in @lenml/tokenizers
 *     (tests/oracle/bpe_oracle.mjs run with node); decode(encode(x)) gives x back;
 *   - hostile input: missing file, invalid UTF-8, bad parameters give clean errors and leave
 *     no output behind.
 * Without node or the modules at UM_NODE_MODULES the oracle check fails with a message.
 */
#include "test.h"

#include "base/base.h"
#include "unmask-train.h"
#include "unmask.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#ifndef UM_SOURCE_DIR
#define UM_SOURCE_DIR "."
#endif
#ifndef UM_NODE_MODULES
#define UM_NODE_MODULES "build/npm/node_modules"
#endif

static char g_dir[256];

static char *path_in(const char *name) {
    static char buf[16][512];
    static int k;
    k = (k + 1) & 15;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* thin wrappers over the library's own file helpers (base.h) */
static char *read_all(const char *path, size_t *len) {
    char *b = NULL;
    size_t n = 0;
    if (um_read_file(path, (size_t)1 << 30, &b, &n) != UM_OK) return NULL;
    if (len) *len = n;
    return b;
}

static void write_all(const char *path, const char *data, size_t n) {
    (void)um_write_file_atomic(path, data, n);
}

/* ------------------------------------------------------------ corpus helpers */

/* Growing byte buffer. */
struct buf {
    char *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* tok_corpus.txt escapes (\n \t \r \\) decoded, as tok_oracle.mjs does. */
static size_t decode_escapes(const char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[i + 1];
            char r = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == '\\' ? '\\' : 0;
            if (r) {
                out[k++] = r;
                i++;
                continue;
            }
        }
        out[k++] = s[i];
    }
    return k;
}

/* One held-out case written in the corpus escape format. */
static void add_case(struct buf *held, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        const char *e = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\\' ? "\\\\" : NULL;
        if (e)
            buf_add(held, e, 2);
        else
            buf_add(held, &c, 1);
    }
    buf_add(held, "\n", 1);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends every *.c and *.h file of a source folder (sorted by name) to b. */
static int add_sources(struct buf *b, const char *sub) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", UM_SOURCE_DIR, sub);
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 2 && (!strcmp(e->d_name + l - 2, ".c") || !strcmp(e->d_name + l - 2, ".h")))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        size_t len;
        char *s = read_all(p, &len);
        if (s) buf_add(b, s, len);
        free(s);
        free(names[i]);
    }
    return n;
}

/* ------------------------------------------------------------ known answer */

static void test_known_answer(void) {
    const char *f = path_in("hello.txt");
    write_all(f, "hello hello hello world", 23);
    const char *files[] = {f};
    const char *out = path_in("hello.json");
    struct um_bpe_train_params p = um_bpe_train_default_params();
    p.vocab_size = 400;
    CHECK(p.n_special == 2 && p.min_frequency == 2);
    CHECKF(um_bpe_train(files, 1, &p, out) == UM_OK, "%s", um_last_error());
    um_tokenizer *tok = NULL;
    CHECKF(um_tokenizer_load(out, &tok) == UM_OK, "%s", um_last_error());
    if (!tok) return;
    /* Pairs seen 3 times: (e,l) (h,e) (l,l) (l,o); ties go to the smallest ids (GPT-2 order:
     * printable ASCII c has id c - 33): e l; then h el; then l o; then hel lo; then Ġ hello
     * (twice); every other pair is seen once < min_frequency 2. */
    static const char *const want[] = {"el", "hel", "lo", "hello", "\xc4\xa0hello"};
    for (int i = 0; i < 5; i++)
        CHECKF(um_tokenizer_token_id(tok, want[i]) == 256 + i, "%s -> %d", want[i],
               um_tokenizer_token_id(tok, want[i]));
    CHECK(um_tokenizer_n_vocab(tok) == 256 + 5 + 2);
    CHECK(um_tokenizer_token_id(tok, "<|endoftext|>") == 261);
    CHECK(um_tokenizer_token_id(tok, "<|mdm_mask|>") == 262);
    /* byte tokens: '!' is 0, 'a' is 64, byte 0x00 (written U+0100) is 188, space (U+0120) 220 */
    CHECK(um_tokenizer_token_id(tok, "!") == 0);
    CHECK(um_tokenizer_token_id(tok, "a") == 'a' - 33);
    CHECK(um_tokenizer_token_id(tok, "\xc4\x80") == 188);
    CHECK(um_tokenizer_token_id(tok, "\xc4\xa0") == 220);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(um_tokenizer_encode(tok, " hello world<|endoftext|>", 25, &ids, &n) == UM_OK);
    CHECK(n == 8 && ids[0] == 260 && ids[1] == 220 && ids[7] == 261);
    free(ids);
    um_tokenizer_free(tok);

    /* A vocabulary cap stops after two merges. */
    p.vocab_size = 256 + 2 + 2;
    CHECK(um_bpe_train(files, 1, &p, out) == UM_OK);
    CHECK(um_tokenizer_load(out, &tok) == UM_OK);
    if (tok) {
        CHECK(um_tokenizer_token_id(tok, "hel") == 257);
        CHECK(um_tokenizer_token_id(tok, "lo") == -1);
        CHECK(um_tokenizer_n_vocab(tok) == 260);
        um_tokenizer_free(tok);
    }
    /* No files: the plain byte-level tokenizer with the special tokens. */
    p.vocab_size = 300;
    const char *sp[] = {"<|a|>"};
    p.special_tokens = sp;
    p.n_special = 1;
    CHECK(um_bpe_train(NULL, 0, &p, out) == UM_OK);
    CHECK(um_tokenizer_load(out, &tok) == UM_OK);
    if (tok) {
        CHECK(um_tokenizer_n_vocab(tok) == 257);
        CHECK(um_tokenizer_token_id(tok, "<|a|>") == 256);
        um_tokenizer_free(tok);
    }
}

/* ------------------------------------------------------------ hostile input */

static void test_errors(void) {
    struct um_bpe_train_params p = um_bpe_train_default_params();
    p.vocab_size = 300;
    const char *out = path_in("err.json");
    const char *missing[] = {path_in("does-not-exist.txt")};
    CHECK(um_bpe_train(missing, 1, &p, out) == UM_ERR_IO);
    CHECK(strstr(um_last_error(), "does-not-exist.txt") != NULL);
    const char *bad = path_in("bad.txt");
    write_all(bad, "ok text \xff\xfe more", 15);
    const char *files[] = {bad};
    CHECK(um_bpe_train(files, 1, &p, out) == UM_ERR_FORMAT);
    CHECKF(strstr(um_last_error(), "bad.txt") && strstr(um_last_error(), "byte 8"), "%s",
           um_last_error());
    p.vocab_size = 257; /* below 256 + 2 specials */
    CHECK(um_bpe_train(NULL, 0, &p, out) == UM_ERR_ARG);
    p.vocab_size = 300;
    const char *dup[] = {"<|x|>", "<|x|>"};
    p.special_tokens = dup;
    CHECK(um_bpe_train(NULL, 0, &p, out) == UM_ERR_ARG);
    const char *empty[] = {""};
    p.special_tokens = empty;
    p.n_special = 1;
    CHECK(um_bpe_train(NULL, 0, &p, out) == UM_ERR_ARG);
    p = um_bpe_train_default_params();
    p.min_frequency = 0;
    CHECK(um_bpe_train(NULL, 0, &p, out) == UM_ERR_ARG);
    CHECK(access(out, F_OK) != 0); /* nothing written by any failed call */
}

/* ------------------------------------------------------------ oracle */

static bool cancel_at_2(void *user, int64_t done, int64_t total) {
    (void)total;
    *(int *)user += 1;
    return done < 2;
}

static void test_oracle(void) {
    /* Training corpus: sources, docs, even lines of tok_corpus; held out: the rest. */
    struct buf train = {0}, held = {0};
    int n_src = add_sources(&train, "src/tokenizer") + add_sources(&train, "src/decode") +
                add_sources(&train, "src/model") + add_sources(&train, "src/base");
    CHECKF(n_src >= 10, "only %d source files under %s/src", n_src, UM_SOURCE_DIR);
    size_t len;
    char *doc = read_all(UM_SOURCE_DIR "/docs/ARCHITECTURE.md", &len);
    if (doc) buf_add(&train, doc, len);
    free(doc);
    char *corpus = read_all(UM_SOURCE_DIR "/tests/oracle/tok_corpus.txt", &len);
    CHECK(corpus != NULL);
    int line = 0;
    for (char *s = corpus; s && *s; line++) {
        char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        char *dec = malloc(n + 1);
        size_t k = decode_escapes(s, n, dec);
        if (line % 2 == 0) {
            buf_add(&train, dec, k);
            buf_add(&train, "\n", 1);
        } else {
            add_case(&held, dec, k);
        }
        free(dec);
        s = e ? e + 1 : s + n;
    }
    free(corpus);
    static const char *const extra_files[] = {"/include/unmask.h", "/tools/cli.c"};
    for (int f = 0; f < 2; f++) {
        char p[512];
        snprintf(p, sizeof p, "%s%s", UM_SOURCE_DIR, extra_files[f]);
        char *s = read_all(p, &len);
        CHECKF(s != NULL, "%s missing", p);
        for (char *q = s; q && *q;) {
            char *e = strchr(q, '\n');
            size_t n = e ? (size_t)(e - q + 1) : strlen(q); /* keep the newline */
            add_case(&held, q, n);
            q += n;
        }
        free(s);
    }
    static const char *const cases[] = {
        "<|endoftext|>tokens<|mdm_mask|> around <|endoftext|>",
        "Cafe\xcc\x81 vs Caf\xc3\xa9 (NFD and NFC)",
        "  \t  mixed   whitespace\r\n\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        add_case(&held, cases[i], strlen(cases[i]));

    const char *train_path = path_in("train.txt"), *held_path = path_in("held.txt");
    write_all(train_path, train.p, train.n);
    write_all(held_path, held.p, held.n);
    const char *files[] = {train_path};
    const char *out = path_in("tokenizer.json"), *out2 = path_in("tokenizer2.json");
    struct um_bpe_train_params p = um_bpe_train_default_params();
    p.vocab_size = 2048;
    CHECKF(um_bpe_train(files, 1, &p, out) == UM_OK, "%s", um_last_error());
    CHECKF(um_bpe_train(files, 1, &p, out2) == UM_OK, "%s", um_last_error());
    size_t l1 = 0, l2 = 0;
    char *a = read_all(out, &l1), *b = read_all(out2, &l2);
    CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0); /* deterministic */
    free(a);
    free(b);
    /* cancelling leaves no output */
    int calls = 0;
    p.progress = cancel_at_2;
    p.progress_user = &calls;
    const char *two[] = {train_path, train_path};
    const char *cancelled = path_in("cancelled.json");
    CHECK(um_bpe_train(two, 2, &p, cancelled) == UM_ERR_CANCELLED);
    CHECK(calls == 2 && access(cancelled, F_OK) != 0);

    um_tokenizer *tok = NULL;
    CHECKF(um_tokenizer_load(out, &tok) == UM_OK, "%s", um_last_error());
    CHECK(tok && um_tokenizer_n_vocab(tok) == 2048);

    char cmd[2048];
    char mod_pkg[600];
    snprintf(mod_pkg, sizeof mod_pkg, "%s/@lenml/tokenizers/package.json", UM_NODE_MODULES);
    bool have_node = system("node --version > /dev/null 2>&1") == 0;
    bool have_mod = access(mod_pkg, R_OK) == 0;
    CHECKF(have_node, "%s", "node is not on PATH: the tokenizer oracle cannot run");
    CHECKF(have_mod, "%s missing: run npm install (see docs) or set UM_NODE_MODULES", mod_pkg);
    const char *ids_path = path_in("held.ids");
    int rc = -1;
    if (have_node && have_mod) {
        snprintf(cmd, sizeof cmd,
                 "node '%s/tests/oracle/bpe_oracle.mjs' --node-modules '%s' --tokenizer '%s' "
                 "--corpus '%s' --out '%s'",
                 UM_SOURCE_DIR, UM_NODE_MODULES, out, held_path, ids_path);
        rc = system(cmd);
        CHECKF(rc == 0, "bpe_oracle.mjs failed (%d)", rc);
    }
    char *oracle = rc == 0 ? read_all(ids_path, NULL) : NULL;
    int n_cases = 0, n_same = 0;
    int64_t n_tokens = 0, n_chars = 0;
    char *o = oracle;
    for (char *s = held.p; tok && oracle && s && *s; n_cases++) {
        char *e = strchr(s, '\n');
        size_t n = (size_t)(e - s);
        char *dec = malloc(n + 1);
        size_t k = decode_escapes(s, n, dec);
        dec[k] = 0;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        bool ok = um_tokenizer_encode(tok, dec, k, &ids, &n_ids) == UM_OK;
        /* the oracle's line */
        char *oe = o ? strchr(o, '\n') : NULL;
        bool same = ok && oe != NULL;
        size_t j = 0;
        for (char *q = o; same && q < oe;) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) break;
            same = j < n_ids && ids[j] == v;
            j++;
            q = end;
        }
        same = same && j == n_ids;
        if (!same && n_cases - n_same < 5)
            fprintf(stderr, "held-out case %d differs: %.*s\n  oracle: %.*s\n", n_cases,
                    (int)n, s, oe ? (int)(oe - o) : 0, o ? o : "");
        n_same += same;
        n_tokens += (int64_t)n_ids;
        n_chars += (int64_t)k;
        /* round trip: the text comes back NFC-normalised (utf8proc as the reference) */
        if (ok) {
            char *back = NULL;
            char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)dec);
            CHECKF(um_tokenizer_decode(tok, ids, n_ids, &back) == UM_OK && back && nfc &&
                       strcmp(back, nfc) == 0,
                   "round trip of case %d", n_cases);
            free(back);
            free(nfc);
        }
        free(ids);
        free(dec);
        o = oe ? oe + 1 : NULL;
        s = e + 1;
    }
    CHECKF(oracle == NULL || n_cases > 300, "%d held-out cases", n_cases);
    CHECKF(oracle != NULL && n_same == n_cases, "%d of %d held-out cases agree with the oracle",
           n_same, n_cases);
    printf("bpe oracle: %d/%d held-out cases identical (%lld tokens, %.2f bytes/token)\n",
           n_same, n_cases, (long long)n_tokens, n_tokens ? (double)n_chars / n_tokens : 0.0);
    free(oracle);
    um_tokenizer_free(tok);
    free(train.p);
    free(held.p);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/um_bpe_test_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_known_answer();
    test_errors();
    test_oracle();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_DONE();
}

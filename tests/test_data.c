/*
 * test_data.c: the data side of training.
 *
 *   - tasks: examples are deterministic in (seed, index), answers are right (the add prompt is
 *     parsed and summed, sort / reverse checked against their definitions), sizes in bounds;
 *   - the task tokenizer: 258 ids, one token per character, EOS and mask where documented;
 *   - task shards: rows decode to prompt + answer + EOS padding, prompt lengths, val from its
 *     own seed stream, identical bytes when built twice;
 *   - text shards: documents (paragraphs of several files) come back exactly, split between
 *     train and val as the rule says, EOS after each; meta.json; windows and their bounds;
 *   - hostile input: shard files with bad magic, version, kind, dtype, vocab, EOS, reserved
 *     bytes, truncated or lying sizes, ids or prompt lengths out of range; meta.json that
 *     disagrees or points outside the folder; bad inputs to the builders. Each is a clean
 *     error naming the file;
 *   - um_eval_task on a tiny random LLaDA model written here (config.json, safetensors, task
 *     tokenizer): counts consistent, accuracy in [0, 1], progress and cancel;
 *   - the commands `unmask tokenizer task`, `unmask data task|text` and `unmask eval`.
 */
#include "test.h"

#include "base/base.h"
#include "train/data.h"
#include "unmask-train.h"
#include "unmask.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef UM_BINARY
#define UM_BINARY "build/unmask"
#endif

static char g_dir[256];

static const char *path_in(const char *name) {
    static char buf[32][512];
    static int k;
    k = (k + 1) & 31;
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

static void write_all(const char *path, const void *data, size_t n) {
    (void)um_write_file_atomic(path, data, n);
}

/* ------------------------------------------------------------ tasks */

static void test_tasks(void) {
    const char *const *names = um_task_names();
    int n_names = 0;
    while (names[n_names]) n_names++;
    CHECK(n_names == 3 && !strcmp(names[0], "add"));
    char p[64], a[32], p2[64], a2[32];
    int n_diff = 0, max_p = 0, max_a = 0;
    for (int t = 0; t < n_names; t++) {
        for (int64_t i = 0; i < 2000; i++) {
            CHECK(um_task_example(names[t], 42, i, p, sizeof p, a, sizeof a) == UM_OK);
            CHECK(um_task_example(names[t], 42, i, p2, sizeof p2, a2, sizeof a2) == UM_OK);
            CHECK(!strcmp(p, p2) && !strcmp(a, a2)); /* deterministic */
            CHECK(um_task_example(names[t], 43, i, p2, sizeof p2, a2, sizeof a2) == UM_OK);
            n_diff += strcmp(p, p2) != 0;
            if ((int)strlen(p) > max_p) max_p = (int)strlen(p);
            if ((int)strlen(a) > max_a) max_a = (int)strlen(a);
            size_t lp = strlen(p);
            CHECK(lp >= 2 && p[lp - 1] == '=');
            if (t == 0) {
                unsigned long long x, y;
                char tail;
                int k = sscanf(p, "%llu+%llu%c", &x, &y, &tail);
                CHECK(k == 3 && tail == '=' && x < 100000 && y < 100000);
                char want[32];
                snprintf(want, sizeof want, "%llu", x + y);
                CHECKF(!strcmp(want, a), "%s -> %s", p, a);
                /* no leading zeros in operands */
                CHECK(p[0] != '0' || p[1] == '+');
            } else {
                const char *prefix = t == 1 ? "sort " : "reverse ";
                CHECK(!strncmp(p, prefix, strlen(prefix)));
                const char *d = p + strlen(prefix);
                size_t n = strlen(d) - 1;
                CHECK(n >= 2 && n <= 8 && strlen(a) == n);
                int count_p[10] = {0}, count_a[10] = {0};
                for (size_t k = 0; k < n; k++) {
                    count_p[d[k] - '0']++;
                    count_a[a[k] - '0']++;
                    if (t == 1 && k > 0) CHECK(a[k - 1] <= a[k]);
                    if (t == 2) CHECK(a[k] == d[n - 1 - k]);
                }
                CHECK(memcmp(count_p, count_a, sizeof count_p) == 0);
            }
        }
    }
    CHECK(n_diff > 5000); /* other seeds give other examples */
    CHECK(max_p <= 17 && max_a <= 8);
    /* the add digit counts are spread over 1..5 */
    int seen_len[7] = {0};
    for (int64_t i = 0; i < 500; i++) {
        um_task_example("add", 7, i, p, sizeof p, a, sizeof a);
        seen_len[strchr(p, '+') - p]++;
    }
    for (int d = 1; d <= 5; d++) CHECK(seen_len[d] > 50);
    CHECK(um_task_example("mul", 0, 0, p, sizeof p, a, sizeof a) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "mul") != NULL);
    CHECK(um_task_example("add", 0, 0, p, 3, a, sizeof a) == UM_ERR_ARG);
    CHECK(um_task_example("add", 0, -1, p, sizeof p, a, sizeof a) == UM_ERR_ARG);
}

static void test_task_tokenizer(void) {
    const char *tp = path_in("task_tok.json");
    CHECK(um_task_tokenizer("add", tp) == UM_OK);
    CHECK(um_task_tokenizer("nope", tp) == UM_ERR_ARG);
    um_tokenizer *tok = NULL;
    CHECKF(um_tokenizer_load(tp, &tok) == UM_OK, "%s", um_last_error());
    if (!tok) return;
    CHECK(um_tokenizer_n_vocab(tok) == 258);
    CHECK(um_tokenizer_token_id(tok, "<|endoftext|>") == 256);
    CHECK(um_tokenizer_token_id(tok, "<|mdm_mask|>") == 257);
    CHECK(um_data_eos_id(tok) == 256);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(um_tokenizer_encode(tok, "reverse 12345=", 14, &ids, &n) == UM_OK && n == 14);
    free(ids);
    /* scoring: the output up to the first EOS must be exactly the answer. Byte tokens are in
     * GPT-2 order: printable ASCII c has id c - 33. */
#define I(c) ((c) - 33)
    static const struct {
        int32_t out[6];
        bool want;
    } cases[] = {
        {{I('4'), I('6'), I('9'), I('0'), 256, 256}, true},
        {{I('4'), I('6'), I('9'), I('0'), 256, I('7')}, true}, /* after EOS: ignored */
        {{I('4'), I('6'), I('9'), I('0'), I('7'), 256}, false}, /* too long */
        {{I('4'), I('6'), I('9'), 256, 256, 256}, false},      /* too short */
        {{I('4'), I('6'), I('9'), I('0'), 257, 256}, false},   /* a mask left */
        {{I('4'), I('6'), I('9'), I('0'), 999, 256}, false},   /* undecodable id before EOS */
        {{I('4'), I('6'), I('9'), I('0'), 5, 256}, false},     /* unless 5 is the model's EOS */
    };
#undef I
    CHECK(um_tokenizer_token_id(tok, "4") == '4' - 33);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        bool match = !cases[k].want;
        CHECK(um_task_match(tok, cases[k].out, 6, -1, "4690", &match) == UM_OK);
        CHECKF(match == cases[k].want, "scoring case %zu", k);
    }
    bool match = false;
    CHECK(um_task_match(tok, cases[6].out, 6, 5, "4690", &match) == UM_OK && match);
    CHECK(um_task_match(tok, cases[0].out, 6, -1, "469", &match) == UM_OK && !match);
    um_tokenizer_free(tok);
}

/* ------------------------------------------------------------ task shards */

static void test_task_shards(void) {
    const char *tp = path_in("task_tok.json");
    const char *dir = path_in("add_data");
    struct um_data_stats s;
    CHECKF(um_data_build_task("add", tp, 300, 50, 24, 5, dir, &s) == UM_OK, "%s",
           um_last_error());
    CHECK(s.n_documents == 350 && s.n_train_tokens == 300 * 24 && s.n_val_tokens == 50 * 24);
    um_tokenizer *tok = NULL;
    CHECK(um_tokenizer_load(tp, &tok) == UM_OK);
    for (int part = 0; part < 2 && tok; part++) {
        um_dataset *ds = NULL;
        CHECKF(um_dataset_open(dir, part ? "val" : "train", &ds) == UM_OK, "%s", um_last_error());
        if (!ds) continue;
        int64_t n_rows = part ? 50 : 300;
        CHECK(um_dataset_kind(ds) == UM_DATASET_ROWS && um_dataset_n_rows(ds) == n_rows &&
              um_dataset_seq_len(ds) == 24 && um_dataset_vocab(ds) == 258 &&
              um_dataset_eos(ds) == 256 && um_dataset_n_tokens(ds) == n_rows * 24);
        CHECK(strstr(um_dataset_tokenizer_path(ds), "add_data/tokenizer.json") != NULL);
        int32_t row[24], pl = -1;
        for (int64_t i = 0; i < n_rows; i++) {
            CHECK(um_dataset_row(ds, i, row, &pl) == UM_OK);
            char p[64], a[32];
            um_task_example("add", part ? 5 ^ UM_TASK_SEED_VAL : 5, i, p, sizeof p, a, sizeof a);
            int lp = (int)strlen(p), la = (int)strlen(a);
            CHECK(pl == lp);
            char *text = NULL;
            CHECK(um_tokenizer_decode(tok, row, (size_t)(lp + la), &text) == UM_OK);
            char want[96];
            snprintf(want, sizeof want, "%s%s", p, a);
            CHECKF(text && !strcmp(text, want), "row %lld: %s vs %s", (long long)i, text, want);
            free(text);
            for (int k = lp + la; k < 24; k++) CHECK(row[k] == 256);
            CHECK(memcmp(row, um_dataset_tokens(ds) + i * 24, sizeof row) == 0);
        }
        CHECK(um_dataset_row(ds, n_rows, row, &pl) == UM_ERR_ARG);
        CHECK(um_dataset_row(ds, -1, row, &pl) == UM_ERR_ARG);
        CHECK(um_dataset_stream_window(ds, 0, 1, row) == UM_ERR_ARG);
        um_dataset_close(ds);
    }
    um_tokenizer_free(tok);
    /* built twice: identical shards */
    const char *dir2 = path_in("add_data2");
    CHECK(um_data_build_task("add", tp, 300, 50, 24, 5, dir2, NULL) == UM_OK);
    size_t l1 = 0, l2 = 0;
    char *a = read_all(path_in("add_data/train.bin"), &l1);
    char *b = read_all(path_in("add_data2/train.bin"), &l2);
    CHECK(a && b && l1 == l2 && l1 == 64 + 4 * (300 * 24 + 300) && memcmp(a, b, l1) == 0);
    free(a);
    free(b);
    char *meta = read_all(path_in("add_data/meta.json"), NULL);
    CHECK(meta && strstr(meta, "\"task\":\t\"add\"") && strstr(meta, "\"kind\":\t\"rows\"") &&
          strstr(meta, "\"max_answer_tokens\":\t6"));
    free(meta);
    /* a row that does not fit: "12345+67890=" and its answer need more than 8 tokens */
    CHECK(um_data_build_task("add", tp, 300, 0, 8, 5, path_in("short"), NULL) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "seq_len 8") != NULL);
    CHECK(access(path_in("short/train.bin"), F_OK) != 0 &&
          access(path_in("short/meta.json"), F_OK) != 0);
    CHECK(um_data_build_task("mul", tp, 3, 0, 32, 5, path_in("x"), NULL) == UM_ERR_ARG);
    CHECK(um_data_build_task("add", tp, 0, 0, 32, 5, path_in("x"), NULL) == UM_ERR_ARG);
    CHECK(um_data_build_task("add", path_in("missing.json"), 3, 0, 32, 5, path_in("x"), NULL) ==
          UM_ERR_IO);
}

/* ------------------------------------------------------------ text shards */

static const char *const DOCS_A[] = {"First paragraph of file a.\nIt has two lines.",
                                     "Second paragraph, caf\xc3\xa9 and 12345.",
                                     "Third one:\n\tindented line"};
static const char *const DOCS_B[] = {"Only paragraph of b, with a trailing space "};

static void test_text_shards(void) {
    /* a.txt: paragraphs separated by runs of blank (and whitespace-only) lines */
    char a[512];
    snprintf(a, sizeof a, "\n\n%s\n\n  \n%s\n\n\n%s\n", DOCS_A[0], DOCS_A[1], DOCS_A[2]);
    write_all(path_in("a.txt"), a, strlen(a));
    write_all(path_in("b.txt"), DOCS_B[0], strlen(DOCS_B[0]));
    write_all(path_in("blank.txt"), " \n\t\n", 4);
    const char *tp = path_in("task_tok.json"); /* byte-level, EOS 256 */
    const char *inputs[] = {path_in("a.txt"), path_in("blank.txt"), path_in("b.txt")};
    struct um_data_text_params p = um_data_text_default_params();
    CHECK(p.val_fraction == 0.01 && !p.split_paragraphs);
    p.tokenizer = tp;
    p.inputs = inputs;
    p.n_inputs = 3;
    p.split_paragraphs = true;
    p.val_fraction = 0.01; /* 4 documents: the rule still sends one to val */
    p.seed = 9;
    struct um_data_stats s;
    const char *dir = path_in("text_data");
    CHECKF(um_data_build_text(&p, dir, &s) == UM_OK, "%s", um_last_error());
    CHECK(s.n_documents == 4);
    um_dataset *tr = NULL, *va = NULL;
    CHECKF(um_dataset_open(dir, "train", &tr) == UM_OK, "%s", um_last_error());
    CHECKF(um_dataset_open(dir, "val", &va) == UM_OK, "%s", um_last_error());
    CHECK(um_dataset_open(dir, "test", &va) == UM_ERR_ARG);
    um_tokenizer *tok = NULL;
    CHECK(um_tokenizer_load(tp, &tok) == UM_OK);
    if (!tr || !va || !tok) return;
    CHECK(um_dataset_kind(tr) == UM_DATASET_STREAM && um_dataset_n_rows(tr) == 0);
    CHECK(um_dataset_n_tokens(tr) == s.n_train_tokens && um_dataset_n_tokens(va) == s.n_val_tokens);
    CHECK(s.n_val_tokens > 0 && s.n_train_tokens > 0);
    /* Split both streams at EOS and walk the documents in input order. */
    const char *docs[] = {DOCS_A[0], DOCS_A[1], DOCS_A[2], DOCS_B[0]};
    int64_t pos[2] = {0, 0};
    int n_val = 0;
    for (int d = 0; d < 4; d++) {
        /* which stream holds it: the one whose next document decodes to it */
        bool found = false;
        for (int k = 0; k < 2 && !found; k++) {
            um_dataset *ds = k ? va : tr;
            int64_t n = um_dataset_n_tokens(ds), e = pos[k];
            const int32_t *t = um_dataset_tokens(ds);
            while (e < n && t[e] != 256) e++;
            if (e >= n) continue;
            int32_t buf[256];
            if (e - pos[k] > 256) continue;
            CHECK(um_dataset_stream_window(ds, pos[k], e - pos[k], buf) == UM_OK);
            char *text = NULL;
            CHECK(um_tokenizer_decode(tok, buf, (size_t)(e - pos[k]), &text) == UM_OK);
            if (text && !strcmp(text, docs[d])) {
                found = true;
                pos[k] = e + 1;
                n_val += k;
            }
            free(text);
        }
        CHECKF(found, "document %d not found in order", d);
    }
    CHECK(pos[0] == um_dataset_n_tokens(tr) && pos[1] == um_dataset_n_tokens(va));
    CHECK(n_val == 1);
    int32_t w[4];
    CHECK(um_dataset_stream_window(tr, um_dataset_n_tokens(tr) - 1, 1, w) == UM_OK && w[0] == 256);
    CHECK(um_dataset_stream_window(tr, um_dataset_n_tokens(tr), 1, w) == UM_ERR_ARG);
    CHECK(um_dataset_stream_window(tr, -1, 1, w) == UM_ERR_ARG);
    CHECK(um_dataset_stream_window(tr, 0, -1, w) == UM_ERR_ARG);
    CHECK(um_dataset_stream_window(tr, INT64_MAX, 2, w) == UM_ERR_ARG);
    CHECK(um_dataset_row(tr, 0, w, NULL) == UM_ERR_ARG);
    um_dataset_close(tr);
    um_dataset_close(va);

    /* whole files as documents, val_fraction 0: 2 documents (blank.txt has none), empty val */
    p.split_paragraphs = false;
    p.val_fraction = 0;
    CHECK(um_data_build_text(&p, path_in("text_whole"), &s) == UM_OK);
    CHECKF(s.n_documents == 2 && s.n_val_tokens == 0 &&
               s.n_train_tokens == (int64_t)strlen(a) + (int64_t)strlen(DOCS_B[0]) + 2,
           "%lld documents, %lld + %lld tokens", (long long)s.n_documents,
           (long long)s.n_train_tokens, (long long)s.n_val_tokens);
    CHECK(um_dataset_open(path_in("text_whole"), "val", &va) == UM_OK && va &&
          um_dataset_n_tokens(va) == 0);
    um_dataset_close(va);
    char *meta = read_all(path_in("text_whole/meta.json"), NULL);
    CHECK(meta && strstr(meta, "\"n_documents\":\t2") && strstr(meta, "\"eos_id\":\t256") &&
          strstr(meta, "b.txt"));
    free(meta);

    /* errors */
    write_all(path_in("bad.txt"), "fine\n\nbad \xc3\x28 byte", 17);
    const char *bad[] = {path_in("bad.txt")};
    p.inputs = bad;
    p.n_inputs = 1;
    CHECK(um_data_build_text(&p, path_in("text_bad"), &s) == UM_ERR_FORMAT);
    CHECKF(strstr(um_last_error(), "bad.txt") && strstr(um_last_error(), "byte 10"), "%s",
           um_last_error());
    p.inputs = inputs;
    p.n_inputs = 3;
    p.val_fraction = 1.0;
    CHECK(um_data_build_text(&p, path_in("text_bad"), &s) == UM_ERR_ARG);
    p.val_fraction = 0.9999; /* every document drawn for val: none left for train */
    p.split_paragraphs = true;
    CHECK(um_data_build_text(&p, path_in("text_bad"), &s) == UM_ERR_ARG);
    p.val_fraction = 0.1;
    const char *only_blank[] = {path_in("blank.txt")};
    p.inputs = only_blank;
    p.n_inputs = 1;
    CHECK(um_data_build_text(&p, path_in("text_bad"), &s) == UM_ERR_ARG);
    /* a tokenizer without an end-of-text token */
    struct um_bpe_train_params bp = um_bpe_train_default_params();
    const char *sp[] = {"<|x|>"};
    bp.special_tokens = sp;
    bp.n_special = 1;
    bp.vocab_size = 257;
    CHECK(um_bpe_train(NULL, 0, &bp, path_in("noeos.json")) == UM_OK);
    p.inputs = inputs;
    p.n_inputs = 3;
    p.tokenizer = path_in("noeos.json");
    CHECK(um_data_build_text(&p, path_in("text_bad"), &s) == UM_ERR_ARG);
    CHECK(strstr(um_last_error(), "end-of-text") != NULL);
    CHECK(access(path_in("text_bad/meta.json"), F_OK) != 0);
    um_tokenizer_free(tok);
}

/* ------------------------------------------------------------ hostile shards */

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes `base` with one change and expects um_shard_open to fail with `want` and a message
 * naming the file and containing `needle`. */
static void expect_bad(const unsigned char *base, size_t n, size_t at, const void *patch,
                       size_t plen, size_t new_len, enum um_status want, const char *needle) {
    unsigned char *b = malloc(n + 64);
    memcpy(b, base, n);
    if (patch) memcpy(b + at, patch, plen);
    const char *path = path_in("hostile.bin");
    write_all(path, b, new_len);
    um_dataset *ds = NULL;
    enum um_status st = um_shard_open(path, &ds);
    CHECKF(st == want && ds == NULL && strstr(um_last_error(), "hostile.bin") &&
               strstr(um_last_error(), needle),
           "patch at %zu: status %d, message '%s' (want '%s')", at, st, um_last_error(), needle);
    um_dataset_close(ds);
    free(b);
}

static void test_hostile(void) {
    size_t n = 0, nr = 0;
    unsigned char *s = (unsigned char *)read_all(path_in("text_data/train.bin"), &n);
    unsigned char *r = (unsigned char *)read_all(path_in("add_data/val.bin"), &nr);
    CHECK(s && n > 64 && r && nr > 64);
    if (!s || !r) return;
    um_dataset *ds = NULL;
    write_all(path_in("ok.bin"), s, n);
    CHECK(um_shard_open(path_in("ok.bin"), &ds) == UM_OK && um_dataset_tokenizer_path(ds) == NULL);
    um_dataset_close(ds);
    unsigned char v4[4], v8[8];
    expect_bad(s, n, 0, "UMTOKv2", 8, n, UM_ERR_FORMAT, "magic");
    expect_bad(s, n, 0, NULL, 0, 0, UM_ERR_FORMAT, "shorter than");
    expect_bad(s, n, 0, NULL, 0, 40, UM_ERR_FORMAT, "shorter than");
    expect_bad(s, n, 0, NULL, 0, n - 4, UM_ERR_FORMAT, "bytes but the header");
    expect_bad(s, n, 0, NULL, 0, n + 4, UM_ERR_FORMAT, "bytes but the header");
    put32(v4, 2);
    expect_bad(s, n, 8, v4, 4, n, UM_ERR_UNSUPPORTED, "version");
    put32(v4, 3);
    expect_bad(s, n, 12, v4, 4, n, UM_ERR_FORMAT, "kind");
    put32(v4, 2);
    expect_bad(s, n, 16, v4, 4, n, UM_ERR_UNSUPPORTED, "dtype");
    put32(v4, 0);
    expect_bad(s, n, 20, v4, 4, n, UM_ERR_FORMAT, "n_vocab");
    put32(v4, 0x80000000u);
    expect_bad(s, n, 20, v4, 4, n, UM_ERR_FORMAT, "n_vocab");
    put32(v4, 258);
    expect_bad(s, n, 44, v4, 4, n, UM_ERR_FORMAT, "eos_id");
    put64(v8, (uint64_t)(n - 64) / 4 + 1); /* n_tokens one more than the file holds */
    expect_bad(s, n, 24, v8, 8, n, UM_ERR_FORMAT, "bytes but the header");
    put64(v8, UINT64_MAX / 2); /* absurd counts must not overflow the size check */
    expect_bad(s, n, 24, v8, 8, n, UM_ERR_FORMAT, "out of range");
    put64(v8, UINT64_MAX);
    expect_bad(s, n, 24, v8, 8, n, UM_ERR_FORMAT, "out of range");
    put64(v8, 1);
    expect_bad(s, n, 32, v8, 8, n, UM_ERR_FORMAT, "stream shard with n_rows");
    v4[0] = 1;
    expect_bad(s, n, 50, v4, 1, n, UM_ERR_FORMAT, "reserved");
    put32(v4, 258);
    expect_bad(s, n, 64 + 4 * 3, v4, 4, n, UM_ERR_FORMAT, "token 3 (byte 76)");
    put32(v4, 0xffffffffu);
    expect_bad(s, n, 64, v4, 4, n, UM_ERR_FORMAT, "token 0");
    /* rows */
    put32(v4, 25);
    expect_bad(r, nr, 64 + 4 * 50 * 24 + 4 * 7, v4, 4, nr, UM_ERR_FORMAT, "prompt_len[7]");
    put32(v4, 0xffffffffu);
    expect_bad(r, nr, 64 + 4 * 50 * 24, v4, 4, nr, UM_ERR_FORMAT, "prompt_len[0]");
    put64(v8, 50 * 24 + 1);
    expect_bad(r, nr, 24, v8, 8, nr, UM_ERR_FORMAT, "not n_rows");
    put32(v4, 0);
    expect_bad(r, nr, 40, v4, 4, nr, UM_ERR_FORMAT, "seq_len");
    put64(v8, (uint64_t)1 << 61);
    expect_bad(r, nr, 32, v8, 8, nr, UM_ERR_FORMAT, "out of range");
    CHECK(um_shard_open(path_in("nope.bin"), &ds) == UM_ERR_IO);
    CHECK(um_shard_open(g_dir, &ds) == UM_ERR_IO); /* a folder */

    /* meta.json that disagrees with the shards, is missing, or points outside the folder */
    const char *dir = path_in("meta_case");
    mkdir(dir, 0777);
    write_all(path_in("meta_case/train.bin"), s, n);
    CHECK(um_dataset_open(dir, "train", &ds) == UM_ERR_IO);
    CHECK(strstr(um_last_error(), "meta.json") != NULL);
    char *meta = read_all(path_in("text_data/meta.json"), NULL);
    CHECK(meta != NULL);
    if (meta) {
        write_all(path_in("meta_case/meta.json"), meta, strlen(meta));
        CHECK(um_dataset_open(dir, "train", &ds) == UM_OK);
        um_dataset_close(ds);
        static const char *const swaps[][3] = {
            {"\"n_vocab\":\t258", "\"n_vocab\":\t259", "n_vocab"},
            {"\"eos_id\":\t256", "\"eos_id\":\t0", "eos_id"},
            {"\"kind\":\t\"stream\"", "\"kind\":\t\"rows\"", "kind"},
            {"\"format\":\t\"unmask-tokens\"", "\"format\":\t\"other\"", "format"},
            {"\"tokenizer\":\t\"tokenizer.json\"", "\"tokenizer\":\t\"../x.json\"", "tokenizer"},
            {"\"version\":\t1", "\"version\":\t2", "version"},
            {"{", "[", "object"},
        };
        for (size_t k = 0; k < sizeof swaps / sizeof *swaps; k++) {
            char *at = strstr(meta, swaps[k][0]);
            CHECKF(at != NULL, "%s not in meta.json", swaps[k][0]);
            if (!at) continue;
            size_t l0 = strlen(swaps[k][0]), l1 = strlen(swaps[k][1]);
            size_t ml = strlen(meta);
            char *m2 = malloc(ml + l1 + 1);
            memcpy(m2, meta, (size_t)(at - meta));
            memcpy(m2 + (at - meta), swaps[k][1], l1);
            strcpy(m2 + (at - meta) + l1, at + l0);
            write_all(path_in("meta_case/meta.json"), m2, strlen(m2));
            enum um_status st = um_dataset_open(dir, "train", &ds);
            CHECKF(st != UM_OK && strstr(um_last_error(), "meta.json") &&
                       strstr(um_last_error(), swaps[k][2]),
                   "meta swap %zu: %d %s", k, st, um_last_error());
            free(m2);
        }
        /* the train token count in meta.json must match the shard */
        char *nt = strstr(meta, "\"n_tokens\":\t");
        if (nt) {
            nt += strlen("\"n_tokens\":\t");
            *nt = *nt == '9' ? '8' : '9';
            write_all(path_in("meta_case/meta.json"), meta, strlen(meta));
            CHECK(um_dataset_open(dir, "train", &ds) == UM_ERR_FORMAT);
            CHECK(strstr(um_last_error(), "train.n_tokens") != NULL);
        }
    }
    free(meta);
    free(s);
    free(r);
}

/* ------------------------------------------------------------ eval on a tiny model */

/* A tiny random LLaDA (D 32, 2 heads, 1 layer, F 64, tied embeddings) with the task
 * tokenizer, written as a Hugging Face folder. */
static void write_tiny_model(const char *dir) {
    const int V = 258, D = 32, F = 64;
    mkdir(dir, 0777);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"LLaDAModelLM\"], \"model_type\": \"llada\", \"d_model\": %d,"
             " \"n_heads\": 2, \"n_kv_heads\": 2, \"n_layers\": 1, \"mlp_hidden_size\": %d,"
             " \"vocab_size\": %d, \"embedding_size\": %d, \"max_sequence_length\": 256,"
             " \"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-5, \"weight_tying\": true,"
             " \"activation_type\": \"silu\", \"layer_norm_type\": \"rms\","
             " \"eos_token_id\": 256, \"mask_token_id\": 257}",
             D, F, V, V);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_all(p, cfg, strlen(cfg));
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    CHECK(um_task_tokenizer("add", p) == UM_OK);
    struct {
        const char *name;
        int rows, cols; /* cols 0: a vector */
        bool norm;
    } t[] = {
        {"model.transformer.wte.weight", V, D, false},
        {"model.transformer.ln_f.weight", D, 0, true},
        {"model.transformer.blocks.0.attn_norm.weight", D, 0, true},
        {"model.transformer.blocks.0.q_proj.weight", D, D, false},
        {"model.transformer.blocks.0.k_proj.weight", D, D, false},
        {"model.transformer.blocks.0.v_proj.weight", D, D, false},
        {"model.transformer.blocks.0.attn_out.weight", D, D, false},
        {"model.transformer.blocks.0.ff_norm.weight", D, 0, true},
        {"model.transformer.blocks.0.ff_proj.weight", F, D, false},
        {"model.transformer.blocks.0.up_proj.weight", F, D, false},
        {"model.transformer.blocks.0.ff_out.weight", D, F, false},
    };
    const int nt = (int)(sizeof t / sizeof *t);
    char hdr[4096];
    size_t hl = 0, off = 0;
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "{");
    for (int i = 0; i < nt; i++) {
        size_t cnt = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        if (t[i].cols)
            hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl,
                                   "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                   "\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", t[i].name, t[i].rows, t[i].cols, off,
                                   off + 4 * cnt);
        else
            hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl,
                                   "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],"
                                   "\"data_offsets\":[%zu,%zu]}",
                                   i ? "," : "", t[i].name, t[i].rows, off, off + 4 * cnt);
        off += 4 * cnt;
    }
    hl += (size_t)snprintf(hdr + hl, sizeof hdr - hl, "}");
    while (hl % 8) hdr[hl++] = ' ';
    unsigned char *file = malloc(8 + hl + off);
    put64(file, hl);
    memcpy(file + 8, hdr, hl);
    float *w = (float *)(void *)(file + 8 + hl);
    uint64_t x = 12345;
    size_t k = 0;
    for (int i = 0; i < nt; i++) {
        size_t cnt = (size_t)t[i].rows * (size_t)(t[i].cols ? t[i].cols : 1);
        for (size_t j = 0; j < cnt; j++, k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            float u = (float)((x >> 40) & 0xffffff) / 16777216.0f - 0.5f;
            w[k] = t[i].norm ? 1.0f : 0.2f * u;
        }
    }
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_all(p, file, 8 + hl + off);
    free(file);
}

struct eval_count {
    int calls;
    int64_t last;
    int stop_at;
};

static bool count_progress(void *user, int64_t done, int64_t total) {
    struct eval_count *c = user;
    c->calls++;
    c->last = done;
    (void)total;
    return c->stop_at == 0 || done < c->stop_at;
}

static void test_eval(void) {
    const char *dir = path_in("tiny_model");
    write_tiny_model(dir);
    struct um_model_params mp = um_model_default_params();
    mp.n_threads = 1;
    um_model *m = NULL;
    CHECKF(um_model_load(dir, &mp, &m) == UM_OK, "%s", um_last_error());
    if (!m) return;
    CHECK(um_model_get_info(m)->mask_id == 257);
    struct um_gen_params gp = um_gen_default_params(m);
    gp.gen_length = 8;
    gp.steps = 8;
    gp.block_length = 8;
    struct um_eval_result res = {0};
    struct eval_count c = {0};
    CHECKF(um_eval_task(m, "add", 6, &gp, 1, count_progress, &c, &res) == UM_OK, "%s",
           um_last_error());
    CHECK(res.n == 6 && res.correct >= 0 && res.correct <= 6);
    CHECK(res.accuracy >= 0 && res.accuracy <= 1 && res.accuracy == (double)res.correct / 6);
    CHECK(res.tokens == 6 * 8 && res.seconds >= 0);
    CHECK(c.calls == 6 && c.last == 6);
    /* deterministic with greedy decoding */
    int add_correct = res.correct;
    struct um_eval_result res2 = {0};
    CHECK(um_eval_task(m, "sort", 4, &gp, 1, NULL, NULL, &res) == UM_OK);
    CHECK(um_eval_task(m, "sort", 4, &gp, 1, NULL, NULL, &res2) == UM_OK);
    CHECK(res.correct == res2.correct && res.n == 4);
    printf("eval on a random model: add %d/6, sort %d/4\n", add_correct, res2.correct);
    struct eval_count stop = {.stop_at = 2};
    res2.n = -1;
    CHECK(um_eval_task(m, "add", 5, &gp, 1, count_progress, &stop, &res2) == UM_ERR_CANCELLED);
    CHECK(stop.calls == 2 && res2.n == -1); /* untouched on failure */
    CHECK(um_eval_task(m, "nope", 5, &gp, 1, NULL, NULL, &res2) == UM_ERR_ARG);
    CHECK(um_eval_task(m, "add", 0, &gp, 1, NULL, NULL, &res2) == UM_ERR_ARG);
    gp.gen_length = 0;
    CHECK(um_eval_task(m, "add", 2, &gp, 1, NULL, NULL, &res2) == UM_ERR_ARG);
    um_model_free(m);
    /* without a tokenizer */
    mp.load_tokenizer = false;
    CHECK(um_model_load(dir, &mp, &m) == UM_OK);
    gp.gen_length = 8;
    if (m) CHECK(um_eval_task(m, "add", 2, &gp, 1, NULL, NULL, &res2) == UM_ERR_ARG);
    um_model_free(m);
}

/* ------------------------------------------------------------ commands */

/* Runs the program; returns its exit status and the last line of its stdout in `last`. */
static int run(const char *args, char *last, size_t cap) {
    char cmd[2048];
    const char *out = path_in("cmd_out.txt");
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2> '%s'", UM_BINARY, args, out,
             path_in("cmd_err.txt"));
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    if (last) {
        last[0] = 0;
        char *text = read_all(out, NULL);
        if (text) {
            size_t n = strlen(text);
            while (n > 0 && text[n - 1] == '\n') text[--n] = 0;
            char *nl = strrchr(text, '\n');
            snprintf(last, cap, "%s", nl ? nl + 1 : text);
            free(text);
        }
    }
    return rc;
}

static void test_commands(void) {
    if (access(UM_BINARY, X_OK) != 0) {
        CHECKF(0, "%s is not built", UM_BINARY);
        return;
    }
    char last[512], args[1536];
    snprintf(args, sizeof args, "tokenizer task add --out '%s'", path_in("cli_tok.json"));
    CHECK(run(args, last, sizeof last) == 0 && strstr(last, "cli_tok.json"));
    snprintf(args, sizeof args,
             "data task --task add --tokenizer '%s' --n-train 20 --n-val 5 --seq-len 32 "
             "--out '%s' --seed 3",
             path_in("cli_tok.json"), path_in("cli_add"));
    CHECK(run(args, last, sizeof last) == 0 && !strcmp(last, "val tokens    160"));
    um_dataset *ds = NULL;
    CHECK(um_dataset_open(path_in("cli_add"), "train", &ds) == UM_OK && ds &&
          um_dataset_n_rows(ds) == 20);
    um_dataset_close(ds);
    snprintf(args, sizeof args,
             "data text --tokenizer '%s' --out '%s' --split-paragraphs --val-fraction 0.2 '%s' "
             "'%s'",
             path_in("cli_tok.json"), path_in("cli_text"), path_in("a.txt"), path_in("b.txt"));
    CHECK(run(args, last, sizeof last) == 0 && !strncmp(last, "val tokens", 10));
    snprintf(args, sizeof args, "tokenizer train --vocab-size 300 --out '%s' '%s' '%s'",
             path_in("cli_bpe.json"), path_in("a.txt"), path_in("b.txt"));
    CHECK(run(args, last, sizeof last) == 0);
    um_tokenizer *tok = NULL;
    CHECK(um_tokenizer_load(path_in("cli_bpe.json"), &tok) == UM_OK);
    um_tokenizer_free(tok);
    snprintf(args, sizeof args, "eval -m '%s' --task add --n 3 --gen-length 8 --threads 1",
             path_in("tiny_model"));
    CHECK(run(args, last, sizeof last) == 0);
    double acc = -1;
    char tail = 0;
    CHECKF(sscanf(last, "accuracy %lf%c", &acc, &tail) == 1 && acc >= 0 && acc <= 1,
           "last line '%s'", last);
    /* one-line errors and usage errors */
    CHECK(run("eval --task add", NULL, 0) == 2);
    CHECK(run("data task --task add", NULL, 0) == 2);
    CHECK(run("tokenizer train --vocab-size 300", NULL, 0) == 2);
    CHECK(run("tokenizer frob", NULL, 0) == 2);
    snprintf(args, sizeof args, "data text --tokenizer '%s' --out '%s' '%s'",
             path_in("cli_tok.json"), path_in("cli_bad"), path_in("bad.txt"));
    CHECK(run(args, NULL, 0) == 1);
    char *err = read_all(path_in("cmd_err.txt"), NULL);
    CHECKF(err && !strncmp(err, "unmask: error: ", 15) && strstr(err, "bad.txt") &&
               strchr(err, '\n') == err + strlen(err) - 1,
           "stderr: %s", err ? err : "(none)");
    free(err);
    CHECK(run("eval --help", last, sizeof last) == 0);
    CHECK(run("data --help", NULL, 0) == 0 && run("tokenizer --help", NULL, 0) == 0);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/um_data_test_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_tasks();
    test_task_tokenizer();
    test_task_shards();
    test_text_shards();
    test_hostile();
    test_eval();
    test_commands();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_DONE();
}

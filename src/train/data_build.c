/*
 * data_build.c: building data folders (the format is in data.h): um_data_build_text (text
 * corpus -> token streams) and um_data_build_task (synthetic task -> SFT rows).
 *
 * Text: two passes over the inputs. The first reads every file, checks UTF-8 and counts the
 * documents, so that the train/val assignment (a Philox draw per document, see
 * unmask-train.h) can guarantee a non-empty val; the second tokenizes each document and
 * appends it, followed by EOS, to train.bin or val.bin. Outputs appear only when everything
 * succeeded (finish_all): shards via temporary files and rename, meta.json last.
 */
#include "base/base.h"
#include "tokenizer/tokenizer-impl.h" /* um_utf8_check */
#include "train/data.h"
#include "unmask-train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest input file read. */
#define MAX_INPUT_FILE ((size_t)1 << 30)
/* Largest tokenizer.json copied. */
#define MAX_TOKENIZER_FILE ((size_t)512 << 20)

struct um_data_text_params um_data_text_default_params(void) {
    struct um_data_text_params p = {0};
    p.val_fraction = 0.01;
    return p;
}

/* ---------------------------------------------------------------- shared steps */

static enum um_status make_dir(const char *dir) {
    if (um_is_dir(dir)) return UM_OK;
    if (mkdir(dir, 0777) != 0 && !(errno == EEXIST && um_is_dir(dir)))
        return um_set_error(UM_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    return UM_OK;
}

/* Loads the tokenizer and finds EOS. */
static enum um_status load_tokenizer(const char *path, um_tokenizer **tok, int32_t *eos) {
    if (!path) return um_set_error(UM_ERR_ARG, "no tokenizer given");
    enum um_status st = um_tokenizer_load(path, tok);
    if (st != UM_OK) return st;
    *eos = um_data_eos_id(*tok);
    if (*eos < 0) {
        um_tokenizer_free(*tok);
        *tok = NULL;
        return um_set_error(UM_ERR_ARG,
                            "%s: the tokenizer has no end-of-text token (<|endoftext|>, "
                            "<|end_of_text|>, </s> or <|eos|>)",
                            path);
    }
    return UM_OK;
}

/* The last steps of a build: meta.json is removed first (a folder without it is not a data
 * folder, so a crash in between leaves nothing that looks valid), then the shards are renamed
 * into place, the tokenizer copied to DIR/tokenizer.json and meta.json written. With st !=
 * UM_OK the shards are abandoned instead. */
static enum um_status finish_all(enum um_status st, const char *dir, const char *tokenizer,
                                 struct um_shard_writer *tr, struct um_shard_writer *va,
                                 const cJSON *meta) {
    char *meta_path = um_path_join(dir, "meta.json");
    char *src = um_is_dir(tokenizer) ? um_path_join(tokenizer, "tokenizer.json")
                                     : strdup(tokenizer);
    char *dst = um_path_join(dir, "tokenizer.json");
    char *text = meta ? cJSON_Print(meta) : NULL;
    if (st == UM_OK && (!meta_path || !src || !dst || !text))
        st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", dir);
    if (st == UM_OK && unlink(meta_path) != 0 && errno != ENOENT)
        st = um_set_error(UM_ERR_IO, "%s: cannot remove the old file: %s", meta_path,
                          strerror(errno));
    if (st == UM_OK) st = um_shard_finish(tr);
    else um_shard_abort(tr);
    if (st == UM_OK) st = um_shard_finish(va);
    else um_shard_abort(va);
    char *data = NULL;
    size_t len = 0;
    if (st == UM_OK) st = um_read_file(src, MAX_TOKENIZER_FILE, &data, &len);
    if (st == UM_OK) st = um_write_file_atomic(dst, data, len);
    if (st == UM_OK) st = um_write_file_atomic(meta_path, text, strlen(text));
    free(data);
    free(text);
    free(meta_path);
    free(src);
    free(dst);
    return st;
}

/* The common part of meta.json; the caller adds its own fields. NULL on out of memory. */
static cJSON *meta_common(const char *kind, const char *tokenizer, int32_t n_vocab, int32_t eos,
                          uint64_t seed, const struct um_shard_writer *tr,
                          const struct um_shard_writer *va) {
    cJSON *root = cJSON_CreateObject();
    char seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)seed);
    bool ok = root && cJSON_AddStringToObject(root, "format", "unmask-tokens") &&
              cJSON_AddNumberToObject(root, "version", 1) &&
              cJSON_AddStringToObject(root, "kind", kind) &&
              cJSON_AddStringToObject(root, "dtype", "int32") &&
              cJSON_AddStringToObject(root, "tokenizer", "tokenizer.json") &&
              cJSON_AddStringToObject(root, "tokenizer_source", tokenizer) &&
              cJSON_AddNumberToObject(root, "n_vocab", n_vocab) &&
              cJSON_AddNumberToObject(root, "eos_id", eos) &&
              cJSON_AddStringToObject(root, "seed", seed_s);
    const struct um_shard_writer *w[2] = {tr, va};
    static const char *const names[2] = {"train", "val"};
    for (int i = 0; ok && i < 2; i++) {
        cJSON *o = cJSON_AddObjectToObject(root, names[i]);
        char file[16];
        snprintf(file, sizeof file, "%s.bin", names[i]);
        ok = o && cJSON_AddStringToObject(o, "file", file) &&
             cJSON_AddNumberToObject(o, "n_tokens", (double)w[i]->n_tokens) &&
             cJSON_AddNumberToObject(o, "n_rows", (double)w[i]->n_rows);
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Begins DIR/train.bin and DIR/val.bin. */
static enum um_status begin_pair(const char *dir, enum um_shard_kind kind, int32_t n_vocab,
                                 int32_t eos, int32_t seq_len, struct um_shard_writer *tr,
                                 struct um_shard_writer *va) {
    char *pt = um_path_join(dir, "train.bin"), *pv = um_path_join(dir, "val.bin");
    enum um_status st = pt && pv ? UM_OK : um_set_error(UM_ERR_NOMEM, "%s: out of memory", dir);
    if (st == UM_OK) st = um_shard_begin(tr, pt, kind, n_vocab, eos, seq_len);
    if (st == UM_OK) {
        st = um_shard_begin(va, pv, kind, n_vocab, eos, seq_len);
        if (st != UM_OK) um_shard_abort(tr);
    }
    free(pt);
    free(pv);
    return st;
}

/* ---------------------------------------------------------------- documents */

/* Only ASCII whitespace (a line never holds '\n'; a whole file may). */
static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v' &&
            s[i] != '\n')
            return false;
    return true;
}

static size_t line_end(const char *s, size_t n, size_t p) {
    const char *e = memchr(s + p, '\n', n - p);
    return e ? (size_t)(e - s) : n;
}

/* Next document of s[0..n) from *pos: the whole text (if not split and not blank) or the next
 * run of non-blank lines (without the newline of its last line). */
static bool next_doc(const char *s, size_t n, bool split, size_t *pos, size_t *start,
                     size_t *len) {
    if (!split) {
        if (*pos > 0 || blank(s, n) || n == 0) {
            *pos = n;
            return false;
        }
        *pos = n;
        *start = 0;
        *len = n;
        return true;
    }
    size_t p = *pos;
    while (p < n) { /* skip blank lines */
        size_t e = line_end(s, n, p);
        if (!blank(s + p, e - p)) break;
        p = e < n ? e + 1 : n;
    }
    if (p >= n) {
        *pos = n;
        return false;
    }
    size_t first = p, last_end = p;
    while (p < n) {
        size_t e = line_end(s, n, p);
        if (blank(s + p, e - p)) break;
        last_end = e;
        p = e < n ? e + 1 : n;
    }
    *start = first;
    *len = last_end - first;
    *pos = p;
    return true;
}

static enum um_status read_input(const char *path, char **data, size_t *len) {
    enum um_status st = um_read_file(path, MAX_INPUT_FILE, data, len);
    if (st != UM_OK) return st;
    size_t bad = um_utf8_check((const unsigned char *)*data, *len);
    if (bad != *len) {
        free(*data);
        *data = NULL;
        return um_set_error(UM_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu", path, bad);
    }
    return UM_OK;
}

/* ---------------------------------------------------------------- text */

static enum um_status check_text_params(const struct um_data_text_params *p, const char *dir) {
    if (!p || !dir) return um_set_error(UM_ERR_ARG, "um_data_build_text: NULL argument");
    if (p->n_inputs < 1 || !p->inputs)
        return um_set_error(UM_ERR_ARG, "um_data_build_text: no input files");
    for (int i = 0; i < p->n_inputs; i++)
        if (!p->inputs[i])
            return um_set_error(UM_ERR_ARG, "um_data_build_text: inputs[%d] is NULL", i);
    if (!(p->val_fraction >= 0 && p->val_fraction < 1))
        return um_set_error(UM_ERR_ARG, "um_data_build_text: val_fraction %g is outside [0, 1)",
                            p->val_fraction);
    return UM_OK;
}

/* Pass 1: documents per file and the total bytes. */
static enum um_status count_docs(const struct um_data_text_params *p, int64_t *n_docs,
                                 int64_t *n_bytes) {
    *n_docs = *n_bytes = 0;
    for (int i = 0; i < p->n_inputs; i++) {
        char *data = NULL;
        size_t len = 0;
        enum um_status st = read_input(p->inputs[i], &data, &len);
        if (st != UM_OK) return st;
        size_t pos = 0, s0, l0;
        while (next_doc(data, len, p->split_paragraphs, &pos, &s0, &l0)) (*n_docs)++;
        *n_bytes += (int64_t)len;
        free(data);
    }
    return UM_OK;
}

/* is_val[i] for every document (see unmask-train.h for the rule). */
static enum um_status assign_val(const struct um_data_text_params *p, int64_t n_docs,
                                 const char *dir, bool **is_val) {
    bool *v = calloc((size_t)(n_docs > 0 ? n_docs : 1), sizeof *v);
    if (!v) return um_set_error(UM_ERR_NOMEM, "%s: out of memory", dir);
    int64_t n_val = 0, best = -1;
    double best_u = 2;
    for (int64_t i = 0; i < n_docs && p->val_fraction > 0; i++) {
        um_rng r;
        um_rng_seed(&r, p->seed, (uint64_t)i);
        double u = um_rng_uniform(&r);
        v[i] = u < p->val_fraction;
        n_val += v[i];
        if (u < best_u) {
            best_u = u;
            best = i;
        }
    }
    if (p->val_fraction > 0 && n_val == 0 && n_docs >= 2) {
        v[best] = true;
        n_val = 1;
    }
    if (n_docs == 0 || n_val == n_docs) {
        free(v);
        return um_set_error(UM_ERR_ARG,
                            "%s: %lld documents in the inputs, none left for train "
                            "(val_fraction %g)",
                            dir, (long long)n_docs, p->val_fraction);
    }
    *is_val = v;
    return UM_OK;
}

enum um_status um_data_build_text(const struct um_data_text_params *p, const char *out_dir,
                                  struct um_data_stats *stats) {
    enum um_status st = check_text_params(p, out_dir);
    if (st != UM_OK) return st;
    int64_t n_docs = 0, n_bytes = 0;
    if ((st = count_docs(p, &n_docs, &n_bytes)) != UM_OK) return st;
    bool *is_val = NULL;
    if ((st = assign_val(p, n_docs, out_dir, &is_val)) != UM_OK) return st;
    if ((st = make_dir(out_dir)) != UM_OK) {
        free(is_val);
        return st;
    }
    um_tokenizer *tok = NULL;
    int32_t eos = -1;
    if ((st = load_tokenizer(p->tokenizer, &tok, &eos)) != UM_OK) {
        free(is_val);
        return st;
    }
    int32_t n_vocab = um_tokenizer_n_vocab(tok);
    struct um_shard_writer tr, va;
    if ((st = begin_pair(out_dir, UM_DATASET_STREAM, n_vocab, eos, 0, &tr, &va)) != UM_OK) {
        um_tokenizer_free(tok);
        free(is_val);
        return st;
    }
    int64_t doc = 0, bytes_done = 0, n_val_docs = 0;
    for (int i = 0; st == UM_OK && i < p->n_inputs; i++) {
        char *data = NULL;
        size_t len = 0;
        if ((st = read_input(p->inputs[i], &data, &len)) != UM_OK) break;
        size_t pos = 0, s0, l0;
        while (st == UM_OK && next_doc(data, len, p->split_paragraphs, &pos, &s0, &l0)) {
            if (doc >= n_docs) { /* the file changed between the passes */
                st = um_set_error(UM_ERR_IO, "%s: changed while being read", p->inputs[i]);
                break;
            }
            int32_t *ids = NULL;
            size_t n_ids = 0;
            st = um_tokenizer_encode(tok, data + s0, l0, &ids, &n_ids);
            if (st != UM_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", um_last_error());
                st = um_set_error(st, "%s: document at byte %zu: %s", p->inputs[i], s0, msg);
                break;
            }
            struct um_shard_writer *w = is_val[doc] ? &va : &tr;
            n_val_docs += is_val[doc];
            st = um_shard_append(w, ids, (int64_t)n_ids);
            if (st == UM_OK) st = um_shard_append(w, &eos, 1);
            free(ids);
            doc++;
        }
        free(data);
        bytes_done += (int64_t)len;
        if (st == UM_OK && p->progress && !p->progress(p->progress_user, bytes_done, n_bytes))
            st = um_set_error(UM_ERR_CANCELLED, "%s: building the data was cancelled", out_dir);
    }
    if (st == UM_OK && doc != n_docs)
        st = um_set_error(UM_ERR_IO, "%s: the inputs changed while being read", out_dir);
    cJSON *meta = NULL;
    if (st == UM_OK) {
        meta = meta_common("stream", p->tokenizer, n_vocab, eos, p->seed, &tr, &va);
        cJSON *inputs = meta ? cJSON_AddArrayToObject(meta, "inputs") : NULL;
        bool ok = inputs && cJSON_AddNumberToObject(meta, "n_documents", (double)n_docs) &&
                  cJSON_AddNumberToObject(meta, "n_train_documents", (double)(n_docs - n_val_docs)) &&
                  cJSON_AddNumberToObject(meta, "n_val_documents", (double)n_val_docs) &&
                  cJSON_AddNumberToObject(meta, "val_fraction", p->val_fraction) &&
                  cJSON_AddBoolToObject(meta, "split_paragraphs", p->split_paragraphs);
        for (int i = 0; ok && i < p->n_inputs; i++) {
            cJSON *s = cJSON_CreateString(p->inputs[i]);
            ok = s && cJSON_AddItemToArray(inputs, s);
            if (!ok) cJSON_Delete(s);
        }
        if (!ok) st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", out_dir);
    }
    struct um_data_stats s = {n_docs, tr.n_tokens, va.n_tokens};
    st = finish_all(st, out_dir, p->tokenizer, &tr, &va, meta);
    cJSON_Delete(meta);
    um_tokenizer_free(tok);
    free(is_val);
    if (st == UM_OK && stats) *stats = s;
    return st;
}

/* ---------------------------------------------------------------- tasks */

#define TASK_TEXT_CAP 64

/* Encodes example `index` of (task, seed) into row[seq_len]; *n_prompt and *n_answer get the
 * token counts. */
static enum um_status task_row(const um_tokenizer *tok, const char *task, uint64_t seed,
                               int64_t index, const char *split, int seq_len, int32_t eos,
                               int32_t *row, int32_t *n_prompt, int32_t *n_answer) {
    char ptext[TASK_TEXT_CAP], atext[TASK_TEXT_CAP];
    enum um_status st = um_task_example(task, seed, index, ptext, sizeof ptext, atext,
                                        sizeof atext);
    if (st != UM_OK) return st;
    int32_t *pi = NULL, *ai = NULL;
    size_t np = 0, na = 0;
    st = um_tokenizer_encode(tok, ptext, strlen(ptext), &pi, &np);
    if (st == UM_OK) st = um_tokenizer_encode(tok, atext, strlen(atext), &ai, &na);
    if (st == UM_OK && np + na + 1 > (size_t)seq_len)
        st = um_set_error(UM_ERR_ARG,
                          "task %s: %s example %lld ('%s' -> '%s') needs %zu + %zu tokens and "
                          "an EOS, more than seq_len %d",
                          task, split, (long long)index, ptext, atext, np, na, seq_len);
    if (st == UM_OK) {
        memcpy(row, pi, np * sizeof *row);
        memcpy(row + np, ai, na * sizeof *row);
        for (size_t k = np + na; k < (size_t)seq_len; k++) row[k] = eos;
        *n_prompt = (int32_t)np;
        *n_answer = (int32_t)na;
    }
    free(pi);
    free(ai);
    return st;
}

enum um_status um_data_build_task(const char *task, const char *tokenizer, int64_t n_train,
                                  int64_t n_val, int seq_len, uint64_t seed, const char *out_dir,
                                  struct um_data_stats *stats) {
    if (!task || !tokenizer || !out_dir)
        return um_set_error(UM_ERR_ARG, "um_data_build_task: NULL argument");
    char ptext[TASK_TEXT_CAP], atext[TASK_TEXT_CAP];
    enum um_status st = um_task_example(task, seed, 0, ptext, sizeof ptext, atext, sizeof atext);
    if (st != UM_OK) return st;
    if (n_train < 1 || n_train > ((int64_t)1 << 31) || n_val < 0 || n_val > ((int64_t)1 << 31))
        return um_set_error(UM_ERR_ARG,
                            "um_data_build_task: n_train %lld / n_val %lld outside [1, 2^31] / "
                            "[0, 2^31]",
                            (long long)n_train, (long long)n_val);
    if (seq_len < 2 || seq_len > 65536)
        return um_set_error(UM_ERR_ARG, "um_data_build_task: seq_len %d is outside [2, 65536]",
                            seq_len);
    if ((st = make_dir(out_dir)) != UM_OK) return st;
    um_tokenizer *tok = NULL;
    int32_t eos = -1;
    if ((st = load_tokenizer(tokenizer, &tok, &eos)) != UM_OK) return st;
    int32_t n_vocab = um_tokenizer_n_vocab(tok);
    struct um_shard_writer tr, va;
    int32_t *row = malloc((size_t)seq_len * sizeof *row);
    if (!row) st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", out_dir);
    if (st == UM_OK) st = begin_pair(out_dir, UM_DATASET_ROWS, n_vocab, eos, seq_len, &tr, &va);
    if (st != UM_OK) {
        free(row);
        um_tokenizer_free(tok);
        return st;
    }
    int32_t max_p = 0, max_a = 0;
    for (int part = 0; part < 2 && st == UM_OK; part++) {
        struct um_shard_writer *w = part ? &va : &tr;
        int64_t n = part ? n_val : n_train;
        uint64_t s = part ? seed ^ UM_TASK_SEED_VAL : seed;
        for (int64_t i = 0; i < n && st == UM_OK; i++) {
            int32_t np = 0, na = 0;
            st = task_row(tok, task, s, i, part ? "val" : "train", seq_len, eos, row, &np, &na);
            if (st == UM_OK) st = um_shard_append_row(w, row, np);
            if (np > max_p) max_p = np;
            if (na > max_a) max_a = na;
        }
    }
    cJSON *meta = NULL;
    if (st == UM_OK) {
        meta = meta_common("rows", tokenizer, n_vocab, eos, seed, &tr, &va);
        bool ok = meta && cJSON_AddStringToObject(meta, "task", task) &&
                  cJSON_AddNumberToObject(meta, "seq_len", seq_len) &&
                  cJSON_AddNumberToObject(meta, "n_train", (double)n_train) &&
                  cJSON_AddNumberToObject(meta, "n_val", (double)n_val) &&
                  cJSON_AddNumberToObject(meta, "max_prompt_tokens", max_p) &&
                  cJSON_AddNumberToObject(meta, "max_answer_tokens", max_a);
        if (!ok) st = um_set_error(UM_ERR_NOMEM, "%s: out of memory", out_dir);
    }
    struct um_data_stats sts = {n_train + n_val, tr.n_tokens, va.n_tokens};
    st = finish_all(st, out_dir, tokenizer, &tr, &va, meta);
    cJSON_Delete(meta);
    free(row);
    um_tokenizer_free(tok);
    if (st == UM_OK && stats) *stats = sts;
    return st;
}

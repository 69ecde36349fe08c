/*
 * data.h: token shards, the files `unmask data` writes and the trainer reads. Private to the
 * library (the public side is um_data_build_text / um_data_build_task in unmask-train.h).
 *
 * A data folder DIR holds
 *   DIR/meta.json       written last: what the folder holds (see below);
 *   DIR/train.bin       shard with the training tokens;
 *   DIR/val.bin         shard with the validation tokens (may hold 0 tokens / rows);
 *   DIR/tokenizer.json  a copy of the tokenizer the ids come from.
 * Every file is written to a temporary file, flushed and renamed, meta.json after the others.
 *
 * Shard file (.bin), all integers little-endian:
 *   offset  size  field
 *        0     8  magic "UMTOKv1\0"
 *        8     4  uint32 version = 1
 *       12     4  uint32 kind: 1 stream, 2 rows
 *       16     4  uint32 dtype: 1 int32 (the only one)
 *       20     4  int32 n_vocab: every id is in [0, n_vocab)
 *       24     8  int64 n_tokens (rows: n_rows * seq_len)
 *       32     8  int64 n_rows (stream: 0)
 *       40     4  int32 seq_len (stream: 0)
 *       44     4  int32 eos_id, in [0, n_vocab)
 *       48    16  zero
 *       64        int32 tokens[n_tokens]
 *                 rows only: int32 prompt_len[n_rows], each in [0, seq_len]
 * The file size must be exactly 64 + 4 * (n_tokens + n_rows). A stream is documents, each
 * followed by eos_id. A row is one example: prompt tokens, answer tokens, then eos_id up to
 * seq_len; prompt_len[i] is the prompt's token count (the SFT loss covers positions
 * prompt_len..seq_len-1 of the row, the EOS padding included).
 *
 * meta.json: {"format": "unmask-tokens", "version": 1, "kind": "stream"|"rows",
 *   "dtype": "int32", "tokenizer": "tokenizer.json", "tokenizer_source": PATH, "n_vocab": V,
 *   "eos_id": E, "train": {"file": "train.bin", "n_tokens": N, "n_rows": R},
 *   "val": {...}, and for text: "n_documents", "n_train_documents", "n_val_documents",
 *   "val_fraction", "split_paragraphs", "inputs"; for tasks: "task", "seq_len", "n_train",
 *   "n_val", "max_prompt_tokens", "max_answer_tokens"; "seed" as a decimal string}.
 *
 * Reading: um_dataset_open validates everything once (magic, version, kind, dtype, sizes
 * against the file size, every id below n_vocab, prompt lengths, agreement with meta.json)
 * and mmaps the shard read-only; afterwards the accessors cannot fail on a valid request.
 * A dataset is immutable after open and may be read by many threads at once.
 */
#ifndef UM_TRAIN_DATA_H
#define UM_TRAIN_DATA_H

#include "unmask.h"

#include <stdbool.h>
#include <stdint.h>

#define UM_SHARD_MAGIC "UMTOKv1" /* with its NUL: 8 bytes */
#define UM_SHARD_VERSION 1
#define UM_SHARD_HEADER_BYTES 64
#define UM_SHARD_DTYPE_INT32 1

enum um_shard_kind { UM_DATASET_STREAM = 1, UM_DATASET_ROWS = 2 };

typedef struct um_dataset um_dataset;

/* Open DIR/<split>.bin ("train" or "val") and check it against DIR/meta.json. On failure *out is
 * untouched and um_last_error() names the file and field. */
enum um_status um_dataset_open(const char *dir, const char *split, um_dataset **out);
/* Open one shard file without a meta.json (tests, tools). */
enum um_status um_shard_open(const char *path, um_dataset **out);
void um_dataset_close(um_dataset *ds);

enum um_shard_kind um_dataset_kind(const um_dataset *ds);
int64_t um_dataset_n_tokens(const um_dataset *ds); /* stream length; rows: n_rows * seq_len */
int64_t um_dataset_n_rows(const um_dataset *ds);   /* 0 for streams */
int32_t um_dataset_seq_len(const um_dataset *ds);  /* 0 for streams */
int32_t um_dataset_vocab(const um_dataset *ds);
int32_t um_dataset_eos(const um_dataset *ds);
/* DIR/tokenizer.json of the folder (borrowed, lives as long as ds); NULL from um_shard_open. */
const char *um_dataset_tokenizer_path(const um_dataset *ds);
/* All tokens (borrowed, read-only mapping, lives as long as ds): [n_tokens]; rows are
 * tokens[i * seq_len .. (i + 1) * seq_len). */
const int32_t *um_dataset_tokens(const um_dataset *ds);

/* Stream: out[len] = tokens[offset .. offset + len). UM_ERR_ARG if the window does not fit
 * (0 <= offset, 0 <= len, offset + len <= n_tokens) or ds is a rows shard. */
enum um_status um_dataset_stream_window(const um_dataset *ds, int64_t offset, int64_t len,
                                        int32_t *out);
/* Rows: tokens[seq_len] and *prompt_len of row i (either output may be NULL). UM_ERR_ARG if
 * i is out of range or ds is a stream. */
enum um_status um_dataset_row(const um_dataset *ds, int64_t i, int32_t *tokens,
                              int32_t *prompt_len);

/* ---- Writing (data_build.c). A writer streams tokens into a temporary file next to `path`;
 * um_shard_finish writes the header, flushes and renames; um_shard_abort removes the temporary
 * file. Either of the two must be called once after a successful um_shard_begin. */
struct um_shard_writer {
    char *path;              /* final name */
    char *tmp;               /* temporary name */
    void *file;              /* FILE * */
    enum um_shard_kind kind;
    int32_t n_vocab, eos_id, seq_len;
    int64_t n_tokens, n_rows;
    int32_t *prompt_len;     /* rows: [n_rows], written after the tokens */
    int64_t cap_rows;
};
enum um_status um_shard_begin(struct um_shard_writer *w, const char *path,
                              enum um_shard_kind kind, int32_t n_vocab, int32_t eos_id,
                              int32_t seq_len);
/* Stream: append ids (each must be in [0, n_vocab): UM_ERR_ARG otherwise). */
enum um_status um_shard_append(struct um_shard_writer *w, const int32_t *ids, int64_t n);
/* Rows: append one row of seq_len ids with its prompt length. */
enum um_status um_shard_append_row(struct um_shard_writer *w, const int32_t *row,
                                   int32_t prompt_len);
enum um_status um_shard_finish(struct um_shard_writer *w);
void um_shard_abort(struct um_shard_writer *w);

/* The end-of-text id of a tokenizer: the first of <|endoftext|>, <|end_of_text|>, </s>,
 * <|eos|> that it has, or -1. */
int32_t um_data_eos_id(const um_tokenizer *tok);

/* Task scoring (tasks.c): *match is true when out[0..n) up to its first EOS (eos_model, or the
 * tokenizer's end-of-text token) decodes to exactly `answer`. An id the tokenizer cannot decode
 * (e.g. a padded vocabulary row) before the EOS makes the answer wrong, not an error. */
enum um_status um_task_match(const um_tokenizer *tok, const int32_t *out, int n,
                             int32_t eos_model, const char *answer, bool *match);

#endif /* UM_TRAIN_DATA_H */

/*
 * unmask-train.h: the training side of the public API (next to unmask.h, as ggml-opt.h sits
 * next to ggml.h): tokenizer training, token shards, synthetic tasks and their evaluation, and
 * the trainer. Same conventions as unmask.h: enum um_status results, um_last_error() messages
 * naming file and field, no printing, *_free(NULL) is a no-op, outputs written atomically.
 */
#ifndef UNMASK_TRAIN_H
#define UNMASK_TRAIN_H

#include "unmask.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of long work: done of total units (bytes, examples, steps). Return false to cancel
 * (the call then returns UM_ERR_CANCELLED and leaves no partial output). */
typedef bool (*um_work_fn)(void *user, int64_t done, int64_t total);

/* ---------------------------------------------------------------- tokenizer training */

struct um_bpe_train_params {
    int32_t vocab_size;               /* final size incl. the 256 byte tokens and specials */
    const char *const *special_tokens; /* added as special tokens after the merges, in order */
    int n_special;
    int32_t min_frequency;            /* pairs seen fewer times are not merged (default 2) */
    um_work_fn progress;
    void *progress_user;
};
struct um_bpe_train_params um_bpe_train_default_params(void);

/* Train a byte-level BPE tokenizer (Qwen2-style pre-tokenizer regex, NFC normaliser, ByteLevel
 * decoder) on UTF-8 text files and write a Hugging Face tokenizer.json to out_path that
 * um_tokenizer_load and the `tokenizers` libraries load and encode identically. */
enum um_status um_bpe_train(const char *const *files, int n_files,
                            const struct um_bpe_train_params *params, const char *out_path);

/* ---------------------------------------------------------------- token shards */

/* Text corpus -> DIR/train.bin, DIR/val.bin (token streams, documents separated by EOS) and
 * DIR/meta.json. Each input file is one document unless it is split on blank lines
 * (split_paragraphs); a deterministic val_fraction of documents goes to val. */
struct um_data_text_params {
    const char *tokenizer;            /* tokenizer.json or a model folder */
    const char *const *inputs;
    int n_inputs;
    bool split_paragraphs;
    double val_fraction;              /* default 0.01 */
    uint64_t seed;
    um_work_fn progress;
    void *progress_user;
};
struct um_data_text_params um_data_text_default_params(void);
struct um_data_stats {
    int64_t n_documents, n_train_tokens, n_val_tokens;
};
enum um_status um_data_build_text(const struct um_data_text_params *p, const char *out_dir,
                                  struct um_data_stats *stats);

/* ---------------------------------------------------------------- synthetic tasks */

/* Names of the built-in tasks ("add", ...), NULL-terminated. */
const char *const *um_task_names(void);
/* One example of `task`, deterministic in (seed, index): prompt and answer as text. */
enum um_status um_task_example(const char *task, uint64_t seed, int64_t index, char *prompt,
                               size_t prompt_cap, char *answer, size_t answer_cap);
/* SFT shards for a task: rows of seq_len tokens (prompt, answer, EOS padding) with the prompt
 * length of each row, in DIR/train.bin and DIR/val.bin plus DIR/meta.json. */
enum um_status um_data_build_task(const char *task, const char *tokenizer, int64_t n_train,
                                  int64_t n_val, int seq_len, uint64_t seed, const char *out_dir,
                                  struct um_data_stats *stats);

struct um_eval_result {
    int n;                /* examples */
    int correct;
    double accuracy;      /* correct / n */
    double seconds;
    int64_t tokens;       /* generated tokens */
};
/* Generate an answer for n held-out examples (seed distinct from training data) with the
 * model's chat-free prompt format and `gp` (gen_length etc.), compare with the exact answer. */
enum um_status um_eval_task(const um_model *m, const char *task, int n,
                            const struct um_gen_params *gp, uint64_t seed,
                            um_work_fn progress, void *progress_user, struct um_eval_result *res);

#ifdef __cplusplus
}
#endif
#endif /* UNMASK_TRAIN_H */

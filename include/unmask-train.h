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
    int32_t vocab_size;               /* final size incl. the 256 byte tokens and specials
                                         (default 8192) */
    const char *const *special_tokens; /* added as special tokens after the merges, in order
                                         (default "<|endoftext|>", "<|mdm_mask|>": EOS for the
                                         data tools and the mask token um_model_load finds) */
    int n_special;
    int32_t min_frequency;            /* pairs seen fewer times are not merged (default 2) */
    um_work_fn progress;              /* units: input files, then merges */
    void *progress_user;
};
struct um_bpe_train_params um_bpe_train_default_params(void);

/* Train a byte-level BPE tokenizer on UTF-8 text files and write a Hugging Face tokenizer.json
 * to out_path (atomically) that um_tokenizer_load and the `tokenizers` libraries load and
 * encode identically. The text is NFC-normalised and split with the Qwen2 pre-tokenizer regex
 * (so digits are single tokens); the most frequent adjacent pair is merged repeatedly (ties:
 * smallest ids) until vocab_size is reached or no pair occurs min_frequency times. Ids: the 256
 * byte tokens in GPT-2 byte-to-unicode order, the merged tokens, then the special tokens.
 * Deterministic: the same files and params give the same bytes. n_files may be 0: a plain
 * byte-level tokenizer. Files must be valid UTF-8 (UM_ERR_FORMAT names file and byte). */
enum um_status um_bpe_train(const char *const *files, int n_files,
                            const struct um_bpe_train_params *params, const char *out_path);

/* ---------------------------------------------------------------- token shards */

/* Text corpus -> DIR/train.bin, DIR/val.bin (token streams, each document followed by EOS),
 * DIR/tokenizer.json (a copy) and DIR/meta.json (written last); the shard format is in
 * src/train/data.h. Each input file is one document unless it is split on blank lines
 * (split_paragraphs: runs of non-blank lines are documents); whitespace-only documents are
 * skipped. Document i goes to val when Philox(seed, i) < val_fraction; with val_fraction > 0
 * and at least two documents, val gets at least one (the one with the smallest draw), and
 * train must keep at least one. EOS is the tokenizer's <|endoftext|> (else <|end_of_text|>,
 * </s>, <|eos|>); a tokenizer with none of them is UM_ERR_ARG. DIR is created if missing (its
 * parent must exist). Progress units: input bytes. */
struct um_data_text_params {
    const char *tokenizer;            /* tokenizer.json or a model folder */
    const char *const *inputs;
    int n_inputs;
    bool split_paragraphs;
    double val_fraction;              /* in [0, 1), default 0.01 */
    uint64_t seed;
    um_work_fn progress;
    void *progress_user;
};
struct um_data_text_params um_data_text_default_params(void);
struct um_data_stats {
    int64_t n_documents, n_train_tokens, n_val_tokens; /* tasks: examples, tokens of rows */
};
enum um_status um_data_build_text(const struct um_data_text_params *p, const char *out_dir,
                                  struct um_data_stats *stats);

/* ---------------------------------------------------------------- synthetic tasks */

/* Seeds of the three disjoint example streams of a task run with seed S: training rows use S,
 * validation rows S ^ UM_TASK_SEED_VAL, um_eval_task S ^ UM_TASK_SEED_EVAL. (Small tasks have
 * few distinct problems, so the streams may share problems; they never share draws.) */
#define UM_TASK_SEED_VAL 0x5eed5eed00000001ull
#define UM_TASK_SEED_EVAL 0x5eed5eed00000002ull

/* Names of the built-in tasks, NULL-terminated: "add" ("123+4567=" -> "4690", operands of
 * 1..5 digits), "sort" ("sort 3141=" -> "1134", 2..8 digits), "reverse" ("reverse 3141=" ->
 * "1413"). Prompts are at most 17 bytes and answers at most 8. Static. */
const char *const *um_task_names(void);
/* One example of `task`, deterministic in (seed, index): prompt and answer as NUL-terminated
 * text in the caller's buffers (UM_ERR_ARG if they are too small or the task is unknown). */
enum um_status um_task_example(const char *task, uint64_t seed, int64_t index, char *prompt,
                               size_t prompt_cap, char *answer, size_t answer_cap);
/* Write the tokenizer for task models to out_path: byte-level with no merges (every character
 * of a prompt is one token) plus the default special tokens <|endoftext|> (EOS, id 256) and
 * <|mdm_mask|> (mask, id 257): 258 ids. */
enum um_status um_task_tokenizer(const char *task, const char *out_path);
/* SFT shards for a task: rows of seq_len tokens (prompt, answer, EOS padding) with the prompt
 * length of each row, in DIR/train.bin (examples 0..n_train-1 of seed) and DIR/val.bin
 * (examples 0..n_val-1 of seed ^ UM_TASK_SEED_VAL), plus DIR/tokenizer.json and DIR/meta.json.
 * Prompt and answer are tokenized separately (as um_eval_task does). An example that does not
 * fit seq_len with at least one EOS is UM_ERR_ARG naming it. */
enum um_status um_data_build_task(const char *task, const char *tokenizer, int64_t n_train,
                                  int64_t n_val, int seq_len, uint64_t seed, const char *out_dir,
                                  struct um_data_stats *stats);

struct um_eval_result {
    int n;                /* examples */
    int correct;
    double accuracy;      /* correct / n */
    double seconds;
    int64_t tokens;       /* generated tokens (um_gen_stats.tokens summed) */
    int64_t forwards;     /* model forward passes, summed */
};
/* Score a model on n held-out examples 0..n-1 of seed ^ UM_TASK_SEED_EVAL: the prompt text is
 * encoded with the model's tokenizer (no chat template, no BOS), um_generate runs with `gp`
 * (gen_length etc.; example i uses gp->seed + i), the output up to the first EOS (the model's
 * eos_id or the tokenizer's) is decoded and must equal the answer exactly. progress is called
 * after every example (units: examples). The model must have a tokenizer. *res is written
 * only on success. */
enum um_status um_eval_task(const um_model *m, const char *task, int n,
                            const struct um_gen_params *gp, uint64_t seed,
                            um_work_fn progress, void *progress_user, struct um_eval_result *res);

/* Held-out likelihood of a decoding configuration (src/train/score.c): n windows of
 * prompt_len + gp->gen_length tokens, evenly spaced over DIR/val.bin (a text data folder made
 * with the model's tokenizer); each window's continuation is decoded as gp->score_target (the
 * LLaDA schedule with gp's blocks, steps, cache, threshold or factor), summing -log p of every
 * true token at the step that commits it. */
struct um_text_score {
    int n;                /* windows */
    int64_t tokens;       /* scored tokens = n * gen_length */
    double nll;           /* summed negative log-likelihood (nats) */
    double nll_per_token;
    double perplexity;    /* exp(nll_per_token) */
    int64_t forwards;
    double seconds;
};
enum um_status um_eval_text(const um_model *m, const char *data_dir, int n, int prompt_len,
                            const struct um_gen_params *gp, um_work_fn progress,
                            void *progress_user, struct um_text_score *res);

/* ---------------------------------------------------------------- trainer */

/* Everything a training run needs; read from a `key = value` config file (see
 * docs/TRAINING.md for every key, its default and its meaning). */
struct um_train_config {
    /* model */
    char family[16];          /* llada | dream */
    int d_model, n_layers, n_heads, n_kv_heads, d_ff;
    double rope_theta, norm_eps, init_std;
    bool tie_embeddings;
    char init_from[512];      /* optional model folder to start from (fine-tuning) */
    /* objective */
    char objective[8];        /* mdm | sft | bd3 | ar */
    int block_size;           /* bd3 */
    double mask_eps;          /* 1e-3 */
    /* data */
    char data[512];           /* folder written by `unmask data` */
    char tokenizer[512];      /* tokenizer.json; copied into the outputs */
    int seq_len;
    /* optimisation */
    char optimizer[16];       /* adamw | muon | lamb | orscale */
    double lr, weight_decay, beta1, beta2, adam_eps, momentum, adamw_lr, adamw_weight_decay;
    double clip_min, clip_max;
    int ns_steps;
    char schedule[16];        /* wsd | cosine | constant */
    int64_t warmup_steps;
    double decay_fraction;    /* wsd: last fraction of steps decays linearly */
    double min_lr_ratio;      /* floor of the schedule, as a fraction of lr */
    int batch_size, grad_accum;
    double grad_clip;         /* global L2 norm; 0 = off */
    int64_t steps;
    uint64_t seed;
    /* evaluation and output */
    int64_t eval_interval;
    int eval_batches;
    int64_t save_interval;
    char out[512];
    char save_dtype[8];       /* f32 | bf16: dtype of the exported model */
    int threads;
};
/* Defaults (documented in docs/TRAINING.md). */
struct um_train_config um_train_config_default(void);
/* Read a config file over the current values; unknown keys and bad values are errors naming
 * the file, line and key. */
enum um_status um_train_config_load(const char *path, struct um_train_config *cfg);
/* Apply one "key=value" override (from the command line); `origin` names it in messages. */
enum um_status um_train_config_set(struct um_train_config *cfg, const char *key_value,
                                   const char *origin);

struct um_train_progress {
    int64_t step, steps;      /* steps done / total */
    double loss;              /* training loss of the last step */
    double lr;                /* learning rate of the last step */
    double grad_norm;         /* before clipping */
    double tokens_per_s;      /* since the run (or resume) started */
    double elapsed_s, eta_s;
    double val_loss;          /* NaN unless this report follows an evaluation */
    double val_ppl_bound;     /* exp(val_loss): the diffusion ELBO as a perplexity bound */
};
typedef bool (*um_train_fn)(void *user, const struct um_train_progress *p);

/* Train. Writes OUT/checkpoint/ (fp32 weights in the Hugging Face layout, optimiser state,
 * trainer state) every save_interval steps and at the end, atomically; OUT/train_log.tsv (one
 * line per step); and OUT/model/ (the exported model in save_dtype, loadable by
 * um_model_load). With resume, continues from OUT/checkpoint bit for bit (same config and
 * thread count). A non-finite loss, gradient or weight stops the run with UM_ERR_FORMAT naming
 * the step and the tensor. */
enum um_status um_train_run(const struct um_train_config *cfg, bool resume, um_train_fn progress,
                            void *user);

#ifdef __cplusplus
}
#endif
#endif /* UNMASK_TRAIN_H */

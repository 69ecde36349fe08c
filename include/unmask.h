/*
 * unmask.h: the public API of unmask, a C11 engine for diffusion language models (dLLMs).
 *
 * A dLLM starts from a canvas of mask tokens and unmasks many positions per step with
 * bidirectional attention. unmask loads Hugging Face checkpoints directly (config.json,
 * safetensors, tokenizer.json) for LLaDA, Dream, Llama and Qwen2, runs the forward pass on
 * the CPU, and generates with the published samplers (LLaDA `generate`, Dream
 * `diffusion_generate`).
 *
 * Worked example (error handling shortened):
 *
 *     um_model *model = NULL;
 *     struct um_model_params mp = um_model_default_params();
 *     if (um_model_load("models/tiny-llada", &mp, &model) != UM_OK) {
 *         fprintf(stderr, "error: %s\n", um_last_error());
 *         return 1;
 *     }
 *     const um_tokenizer *tok = um_model_tokenizer(model);
 *     int32_t *ids; size_t n_ids;
 *     um_tokenizer_encode(tok, "Hello", 5, &ids, &n_ids);
 *     um_ctx *ctx; um_ctx_init(model, (int)n_ids + 64, &ctx);
 *     struct um_gen_params gp = um_gen_default_params(model);
 *     gp.gen_length = 64; gp.steps = 64; gp.block_length = 32;
 *     int32_t out[64];
 *     um_generate(ctx, ids, (int)n_ids, &gp, out);
 *     char *text; um_tokenizer_decode(tok, out, 64, &text);
 *     puts(text);
 *     free(text); free(ids); um_ctx_free(ctx); um_model_free(model);
 *
 * Conventions
 * - Every fallible call returns enum um_status. On failure, um_last_error() returns a one-line
 *   message (per thread) naming the file, field or byte offset at fault; outputs are left
 *   untouched unless stated.
 * - Library code never prints and never exits.
 * - Handles are opaque; *_free(NULL) is a no-op. Buffers returned through `**out` pointers
 *   are malloc'd and the caller frees them with free().
 * - Threads: a um_model is immutable after load and may be shared by many um_ctx, each used
 *   by one thread at a time. Kernels inside a call use OpenMP with n_threads threads.
 *
 * Shape letters used in comments: T tokens, D hidden size, H query heads, Hkv key/value
 * heads, Dh head dim, F feed-forward size, V vocabulary, L layers, R requested logit rows.
 */
#ifndef UNMASK_H
#define UNMASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

enum um_status {
    UM_OK = 0,
    UM_ERR_IO = 1,          /* file missing, unreadable, mmap failed */
    UM_ERR_FORMAT = 2,      /* malformed safetensors / JSON / tokenizer / config */
    UM_ERR_UNSUPPORTED = 3, /* valid input we do not handle (architecture, dtype) */
    UM_ERR_NOMEM = 4,
    UM_ERR_ARG = 5,         /* invalid argument from the caller */
    UM_ERR_CANCELLED = 6,   /* a progress callback asked to stop */
};

/* Message of the last failed call on this thread ("" if none). Valid until the next failing
 * call on the same thread. */
const char *um_last_error(void);
/* Short name of a status ("io", "format", ...). Static string. */
const char *um_status_str(enum um_status st);

/* ---------------------------------------------------------------- tokenizer */

typedef struct um_tokenizer um_tokenizer;

/* Load a Hugging Face tokenizer.json (byte-level BPE: Qwen2/3, Llama 3, and the project's own).
 * `path` is the file or a folder that contains tokenizer.json. */
enum um_status um_tokenizer_load(const char *path, um_tokenizer **out);
void um_tokenizer_free(um_tokenizer *tok);

/* Encode UTF-8 text to ids. Adds no BOS/EOS. Added/special tokens written literally in the text
 * (e.g. "<|im_end|>") are recognised as single ids. Invalid UTF-8 is an error.
 * On success *ids is malloc'd with *n_ids entries (may be 0); the caller frees it. */
enum um_status um_tokenizer_encode(const um_tokenizer *tok, const char *text, size_t len,
                                   int32_t **ids, size_t *n_ids);
/* Decode ids to UTF-8 text; byte sequences that are not valid UTF-8 become U+FFFD. Ids out of
 * range are an error. *text is malloc'd, NUL-terminated; the caller frees it. */
enum um_status um_tokenizer_decode(const um_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                   char **text);
/* Number of ids (base vocabulary plus added tokens, i.e. max id + 1). */
int32_t um_tokenizer_n_vocab(const um_tokenizer *tok);
/* Id of a token given by its exact string (vocabulary or added token), or -1. */
int32_t um_tokenizer_token_id(const um_tokenizer *tok, const char *token);

/* Chat templates of the instruct models (single user turn, generation prompt appended). */
enum um_chat_template {
    UM_CHAT_NONE = 0,
    UM_CHAT_LLADA,  /* LLaDA-8B-Instruct (Llama 3 style headers) */
    UM_CHAT_DREAM,  /* Dream-v0-Instruct-7B (Qwen2 ChatML with default system prompt) */
};
/* Wrap `user` in the template. *out is malloc'd, NUL-terminated. */
enum um_status um_chat_apply(enum um_chat_template tmpl, const char *user, char **out);

/* ---------------------------------------------------------------- model */

enum um_family {
    UM_FAMILY_LLADA = 0, /* LLaDAModelLM: OLMo-style names, bidirectional, no logit shift */
    UM_FAMILY_DREAM,     /* DreamModel: Qwen2 names, q/k/v bias, bidirectional, logits shifted */
    UM_FAMILY_LLAMA,     /* LlamaForCausalLM: causal AR baseline */
    UM_FAMILY_QWEN2,     /* Qwen2ForCausalLM: causal AR baseline, q/k/v bias */
    UM_FAMILY_SDAR,      /* SDARForCausalLM: Qwen3 names, QK-norm, block-causal block diffusion */
    UM_FAMILY_FASTDLLM2, /* Fast_dLLM_QwenForCausalLM: Qwen2.5 names, q/k/v bias, block-causal,
                            token shift (masked token i predicted at row i-1) */
};
const char *um_family_str(enum um_family f);

enum um_dtype { UM_DTYPE_F32 = 0, UM_DTYPE_F16, UM_DTYPE_BF16 };
const char *um_dtype_str(enum um_dtype t);

enum um_precision {
    UM_PRECISION_FP32 = 0, /* default, exact: fp32 activations, weights widened on the fly */
    UM_PRECISION_BF16,     /* opt-in: activations rounded to bf16, bf16 dot products */
};

struct um_model_info {
    enum um_family family;
    enum um_dtype dtype;     /* dtype of the matrices on disk */
    int32_t n_vocab;         /* V: rows of the embedding / LM head */
    int32_t n_embd;          /* D */
    int32_t n_layer;         /* L */
    int32_t n_head;          /* H */
    int32_t n_head_kv;       /* Hkv (divides H) */
    int32_t head_dim;        /* Dh */
    int32_t n_ff;            /* F */
    int32_t max_positions;   /* context limit from config */
    float rope_theta;
    float norm_eps;
    bool causal;             /* true for Llama/Qwen2 */
    int32_t block_size;      /* block-diffusion families (SDAR, Fast-dLLM v2): attention is
                                block-causal over blocks of this many positions (key j visible
                                to query i iff j / block_size <= i / block_size); 0 otherwise */
    bool qk_norm;            /* Qwen3 layout: per-head RMSNorm of q and k before RoPE */
    bool shift_logits;       /* Dream: token i is predicted at row i-1 */
    bool qkv_bias;
    bool tied_embeddings;
    int64_t n_params;        /* total parameter count */
    int32_t mask_id;         /* -1 if the family has none (AR models) */
    int32_t bos_id, eos_id, eot_id, pad_id; /* -1 where absent */
    enum um_chat_template chat_template;
};

typedef struct um_model um_model;

struct um_model_params {
    int n_threads;                 /* 0: all cores */
    enum um_precision precision;   /* UM_PRECISION_FP32 by default */
    bool load_tokenizer;           /* default true; a missing tokenizer.json is not an error */
};
struct um_model_params um_model_default_params(void);

/* Load a Hugging Face model folder: config.json, model.safetensors or
 * model.safetensors.index.json with shards, optional tokenizer.json. Weights are mmap'd
 * read-only and stay in their file dtype. Everything is validated; on failure *out is untouched
 * and um_last_error() names the file and field. */
enum um_status um_model_load(const char *dir, const struct um_model_params *params,
                             um_model **out);
void um_model_free(um_model *model);
/* Borrowed; lives as long as the model. */
const struct um_model_info *um_model_get_info(const um_model *model);
/* Borrowed tokenizer, or NULL if the folder had none. */
const um_tokenizer *um_model_tokenizer(const um_model *model);

/* ---------------------------------------------------------------- forward */

/* A context holds the activations for sequences of up to max_tokens tokens. All memory is
 * allocated here; um_forward allocates nothing. One thread uses a context at a time. */
typedef struct um_ctx um_ctx;
enum um_status um_ctx_init(const um_model *model, int max_tokens, um_ctx **out);
void um_ctx_free(um_ctx *ctx);
/* The model a context was made for (borrowed). */
const um_model *um_ctx_model(const um_ctx *ctx);
/* Largest token count the context accepts. */
int um_ctx_max_tokens(const um_ctx *ctx);

/* Run the model on tokens[T] (positions 0..T-1; bidirectional attention unless the model is
 * causal) and write raw logits for the requested rows: logits[R][V] where row r holds the
 * output at position rows[r]. No logit shift is applied here (see shift_logits). */
enum um_status um_forward(um_ctx *ctx, const int32_t *tokens, int n_tokens, const int32_t *rows,
                          int n_rows, float *logits);

/* KV cache for diffusion decoding (Fast-dLLM prefix/dual caches, block-diffusion KV cache).
 * After um_ctx_enable_cache every forward also keeps, per layer, the post-RoPE keys and values
 * of the positions it computed (2 * L * max_tokens * Hkv * Dh floats, allocated here, once).
 * Without it a context keeps one layer's K/V only and um_forward_window needs n_keys == q_end
 * and q_start == 0. */
enum um_status um_ctx_enable_cache(um_ctx *ctx);
/* Forget every cached position (the next window must recompute what it reads). */
void um_ctx_clear_cache(um_ctx *ctx);
/* Model forward calls made with this context so far (um_forward and um_forward_window). */
int64_t um_ctx_n_forwards(const um_ctx *ctx);

/* Compute only the positions [q_start, q_end) of a canvas, reading tokens[q_start..q_end), and
 * attend over keys at positions [0, n_keys) (q_end <= n_keys): the window's fresh K/V replace
 * the cached ones at its positions; the others are read from the cache and must have been
 * computed by an earlier call since the last clear (else UM_ERR_ARG). The model's mask applies
 * with absolute positions (bidirectional, causal, or block-causal for block-diffusion models).
 * Logits for the requested absolute rows[R] (each in [q_start, q_end)) go to logits[R][V].
 * um_forward(ctx, t, n, ...) is um_forward_window(ctx, t, 0, n, n, ...). */
enum um_status um_forward_window(um_ctx *ctx, const int32_t *tokens, int q_start, int q_end,
                                 int n_keys, const int32_t *rows, int n_rows, float *logits);

/* ---------------------------------------------------------------- generation */

enum um_remasking { UM_REMASK_LOW_CONFIDENCE = 0, UM_REMASK_RANDOM };
enum um_alg {
    UM_ALG_NONE = 0,   /* LLaDA block schedule (generate.py) */
    UM_ALG_ORIGIN,     /* Dream timestep schedule, each mask revealed with prob 1 - s/t */
    UM_ALG_MASKGIT_PLUS, /* Dream: confidence = top-1 probability */
    UM_ALG_TOPK_MARGIN,  /* Dream: confidence = top1 - top2 */
    UM_ALG_ENTROPY,      /* Dream: confidence = sum p log p (higher = more certain) */
};

/* Called after every denoising step with the whole canvas (prompt + generation); `step` is the
 * number of steps finished (1..n_steps). Return false to cancel (um_generate then returns
 * UM_ERR_CANCELLED). */
typedef bool (*um_progress_fn)(void *user, const int32_t *canvas, int n_canvas, int step,
                               int n_steps);

/* Caches for diffusion decoding (see docs/DECODING.md). */
enum um_cache {
    UM_CACHE_NONE = 0, /* every step recomputes the whole canvas (the reference path) */
    UM_CACHE_PREFIX,   /* Fast-dLLM prefix cache (LLaDA, Dream): at each block start one full
                          forward; the following steps recompute the block and everything after
                          it, reading the prefix K/V (approximate: refreshed per block) */
    UM_CACHE_DUAL,     /* Fast-dLLM DualCache: the following steps recompute only the block,
                          reading prefix and suffix K/V from the block-start forward */
    UM_CACHE_BLOCK,    /* block-diffusion models (SDAR, Fast-dLLM v2): exact KV cache of the
                          finished blocks; output equals UM_CACHE_NONE token for token */
};
const char *um_cache_str(enum um_cache c);

/* Filled by um_generate when params->stats is set. */
struct um_gen_stats {
    int tokens;          /* generated tokens (up to and including an EOS that ended generation) */
    int steps;           /* denoising steps run */
    int64_t forwards;    /* model forward passes (two per step with cfg) */
    double seconds;      /* wall time of um_generate */
    double nll;          /* score_target: sum over the generation of -log p(target token) at
                            the step that commits it (natural log) */
};

struct um_gen_params {
    int gen_length;      /* N tokens after the prompt */
    int steps;           /* total denoising steps */
    int block_length;    /* LLaDA block schedule; gen_length must be a multiple */
    enum um_remasking remasking;
    enum um_alg alg;     /* != NONE selects the Dream timestep schedule */
    double eps;          /* Dream schedule end, default 1e-3 */
    double alg_temp;     /* Dream: >0 samples positions from softmax(conf / alg_temp) */
    double temperature;  /* 0 = greedy */
    double top_p;        /* Dream: 1 = off */
    int top_k;           /* Dream: 0 = off */
    double cfg;          /* LLaDA classifier-free guidance scale, 0 = off */
    bool logits_eos_inf;         /* LLaDA: EOS logit set to -inf */
    bool confidence_eos_eot_inf; /* LLaDA: EOS/EoT dropped from the confidence softmax, and
                                    positions predicting them are committed last */
    uint64_t seed;
    /* Parallel decoding and caches (Fast-dLLM, arXiv 2505.22618; SDAR; Fast-dLLM v2) */
    enum um_cache cache;  /* UM_CACHE_NONE by default; BLOCK for SDAR / Fast-dLLM v2 */
    double threshold;     /* > 0: each step commits every masked position of the block whose
                             confidence reaches it, and always the most confident one (LLaDA,
                             Dream: replaces the fixed count; SDAR: dynamic rule, at least the
                             scheduled count; Fast-dLLM v2: its threshold, default 0.9) */
    double factor;        /* > 0: Fast-dLLM factor rule: commit the n most confident with
                             c_n >= 1 - factor / (n + 1) (LLaDA, Dream) */
    int sub_block;        /* Fast-dLLM v2 sub-block size (0: 8, the published default) */
    bool early_stop;      /* LLaDA, Dream: stop after the block in which EOS (or EoT) appears
                             with nothing masked before it; the rest becomes EOS */
    struct um_gen_stats *stats; /* optional output */
    /* Scoring (LLaDA schedule only): when set, gen_length target tokens are committed instead
     * of the model's proposals, ranked by the probability the model gives them, and
     * stats->nll sums -log p(target) at each commit: the likelihood of held-out text under a
     * decoding configuration (cache, threshold, factor, blocks), with the same commit order
     * rules as generation. */
    const int32_t *score_target;
    um_progress_fn progress;
    void *progress_user;
};
/* Defaults follow the model family (LLaDA: low_confidence blocks; Dream: entropy schedule). */
struct um_gen_params um_gen_default_params(const um_model *model);

/* Canvas positions a context needs to generate with these parameters: n_prompt + gen_length,
 * rounded up for block-diffusion models (whole blocks, plus Fast-dLLM v2's AR token). */
int um_gen_context_tokens(const um_model *model, int n_prompt, const struct um_gen_params *params);

/* Generate gen_length tokens after prompt[n_prompt]; out[gen_length] receives the whole canvas
 * after the prompt (mask ids only if cancelled; after an early stop at EOS the rest is EOS).
 * The context must hold um_gen_context_tokens() positions (CFG passes run one after another).
 * Caches other than NONE enable the context's KV cache (allocated once, kept for reuse). */
enum um_status um_generate(um_ctx *ctx, const int32_t *prompt, int n_prompt,
                           const struct um_gen_params *params, int32_t *out);

#ifdef __cplusplus
}
#endif
#endif /* UNMASK_H */

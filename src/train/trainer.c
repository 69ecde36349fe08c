/*
 * trainer.c: um_train_run, the training loop.
 *
 *   setup     config -> model sizes (vocabulary and special ids from the tokenizer), data
 *             shards, um_tmodel (random init, init_from, or the checkpoint on resume),
 *             optimiser over the model's tensors, objective
 *   step s    lr = lr * schedule(s); grads = 0; for each micro-batch: draw rows and the
 *             objective's noise from a generator seeded by (seed, s, micro) and accumulate
 *             gradients; check finiteness; clip the global norm; optimiser step
 *   eval      the objective's loss on fixed validation batches (fixed seeds): for the masked
 *             objectives this is the diffusion ELBO, an upper bound on the NLL per token, so
 *             exp(loss) bounds the perplexity
 *   save      OUT/checkpoint/ (fp32 weights in the HF layout, optimiser state, trainer state),
 *             replaced atomically; OUT/model/ exported at the end in save_dtype
 *
 * Reproducibility: every random draw of step s comes from um_rng seeded with (seed, s), so a
 * resumed run repeats the uninterrupted one bit for bit given the same thread count.
 */
#include "unmask-train.h"

#include "base/base.h"
#include "io/safetensors.h"
#include "optim/optim.h"
#include "train/data.h"
#include "train/objective.h"
#include "train/tmodel.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVAL_STREAM 0x5eedea1ull /* seeds of the validation batches, independent of training */

struct trainer {
    const struct um_train_config *cfg;
    struct um_model_info info;
    um_dataset *train, *val;
    um_tmodel *tm;
    um_optim *opt;
    struct um_obj_params obj;
    struct um_obj_batch batch;
    int32_t *rows;          /* [B][L] clean rows */
    int32_t *prompt_len;    /* [B] (rows data) */
    char *ckpt, *ckpt_tmp, *ckpt_old, *model_dir, *log_path;
};

/* ---------------------------------------------------------------- helpers */

static char *join(const char *a, const char *b) {
    char *p = um_path_join(a, b);
    return p;
}

/* Remove a folder that holds only plain files (our checkpoints). */
static void remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = join(dir, e->d_name);
        if (p) unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static enum um_status make_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return um_set_error(UM_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    return UM_OK;
}

static double schedule(const struct um_train_config *c, int64_t step) {
    const double floor_ = c->min_lr_ratio;
    if (c->warmup_steps > 0 && step < c->warmup_steps)
        return (double)(step + 1) / (double)c->warmup_steps;
    if (!strcmp(c->schedule, "constant")) return 1.0;
    if (!strcmp(c->schedule, "cosine")) {
        const double span = (double)(c->steps - c->warmup_steps);
        const double x = span > 0 ? (double)(step - c->warmup_steps) / span : 1.0;
        return floor_ + (1.0 - floor_) * 0.5 * (1.0 + cos(M_PI * (x > 1 ? 1 : x)));
    }
    /* wsd: stable at 1, then linear decay over the last decay_fraction of the steps */
    const int64_t decay_steps = (int64_t)(c->decay_fraction * (double)c->steps);
    const int64_t decay_start = c->steps - decay_steps;
    if (decay_steps <= 0 || step < decay_start) return 1.0;
    const double x = (double)(step - decay_start + 1) / (double)decay_steps;
    return 1.0 - (1.0 - floor_) * (x > 1 ? 1 : x);
}

/* Hash of every key that shapes the trajectory (not steps, intervals, out, eval sizes). */
static uint64_t config_hash(const struct um_train_config *c) {
    struct um_train_config k = *c;
    k.steps = 0;
    k.eval_interval = k.save_interval = 0;
    k.eval_batches = 0;
    memset(k.out, 0, sizeof k.out);
    memset(k.save_dtype, 0, sizeof k.save_dtype);
    memset(k.init_from, 0, sizeof k.init_from);
    const unsigned char *p = (const unsigned char *)&k;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof k; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* ---------------------------------------------------------------- setup */

static enum um_status model_info_from_config(struct trainer *tr, const um_tokenizer *tok) {
    const struct um_train_config *c = tr->cfg;
    struct um_model_info *in = &tr->info;
    memset(in, 0, sizeof *in);
    const bool dream = !strcmp(c->family, "dream");
    in->family = dream ? UM_FAMILY_DREAM : UM_FAMILY_LLADA;
    in->dtype = UM_DTYPE_F32;
    in->n_vocab = um_tokenizer_n_vocab(tok);
    in->n_embd = c->d_model;
    in->n_layer = c->n_layers;
    in->n_head = c->n_heads;
    in->n_head_kv = c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads;
    if (c->d_model % c->n_heads != 0 || (c->d_model / c->n_heads) % 2 != 0)
        return um_set_error(UM_ERR_FORMAT, "config: d_model %d must be n_heads %d times an even "
                            "head size", c->d_model, c->n_heads);
    if (in->n_head % in->n_head_kv != 0)
        return um_set_error(UM_ERR_FORMAT, "config: n_kv_heads %d must divide n_heads %d",
                            in->n_head_kv, in->n_head);
    in->head_dim = c->d_model / c->n_heads;
    in->n_ff = c->d_ff;
    in->max_positions = c->seq_len > 4096 ? c->seq_len : 4096;
    in->rope_theta = (float)c->rope_theta;
    in->norm_eps = (float)c->norm_eps;
    in->causal = false;
    in->shift_logits = dream;
    in->qkv_bias = dream;
    in->tied_embeddings = c->tie_embeddings;
    in->chat_template = UM_CHAT_NONE;
    const char *mask_names[] = {"<|mdm_mask|>", "<|mask|>"};
    in->mask_id = -1;
    for (int i = 0; i < 2 && in->mask_id < 0; i++)
        in->mask_id = um_tokenizer_token_id(tok, mask_names[dream ? 1 - i : i]);
    if (in->mask_id < 0 && strcmp(c->objective, "ar") != 0)
        return um_set_error(UM_ERR_FORMAT, "%s: no mask token (<|mdm_mask|> or <|mask|>); train "
                            "the tokenizer with --special '<|mdm_mask|>'", c->tokenizer);
    in->eos_id = um_dataset_eos(tr->train);
    in->pad_id = in->eos_id;
    in->bos_id = -1;
    in->eot_id = -1;
    return UM_OK;
}

static enum um_status make_optimizer(struct trainer *tr) {
    const struct um_train_config *c = tr->cfg;
    enum um_optim_kind kind = !strcmp(c->optimizer, "muon")      ? UM_OPTIM_MUON
                              : !strcmp(c->optimizer, "lamb")    ? UM_OPTIM_LAMB
                              : !strcmp(c->optimizer, "orscale") ? UM_OPTIM_ORSCALE
                                                                 : UM_OPTIM_ADAMW;
    struct um_optim_params p = um_optim_default_params(kind);
    p.lr = c->lr;
    p.beta1 = c->beta1;
    p.beta2 = c->beta2;
    p.eps = c->adam_eps;
    p.weight_decay = c->weight_decay;
    p.momentum = c->momentum;
    p.ns_steps = c->ns_steps;
    if (c->adamw_lr > 0) p.adamw_lr = c->adamw_lr;
    p.adamw_weight_decay = c->adamw_weight_decay;
    p.clip_min = c->clip_min;
    p.clip_max = c->clip_max;
    const int n = um_tmodel_n_tensors(tr->tm);
    struct um_optim_tensor *t = calloc((size_t)n, sizeof *t);
    if (!t) return um_set_error(UM_ERR_NOMEM, "out of memory");
    float *w = um_tmodel_weights(tr->tm), *g = um_tmodel_grads(tr->tm);
    for (int i = 0; i < n; i++) {
        const struct um_tparam *tp = um_tmodel_tensor(tr->tm, i);
        t[i].name = tp->name;
        t[i].kind = tp->kind;
        t[i].rows = tp->shape[0];
        t[i].cols = tp->n_dims == 2 ? tp->shape[1] : 1;
        t[i].w = w + tp->offset;
        t[i].g = g + tp->offset;
    }
    enum um_status st = um_optim_create(&p, t, n, &tr->opt);
    free(t);
    return st;
}

/* ---------------------------------------------------------------- batches */

/* Clean rows for micro-batch `micro` of step `step` from `ds` (train or val). */
static enum um_status draw_rows(struct trainer *tr, um_dataset *ds, um_rng *rng, int L) {
    const int B = tr->cfg->batch_size;
    for (int b = 0; b < B; b++) {
        enum um_status st;
        if (um_dataset_kind(ds) == UM_DATASET_ROWS) {
            const int64_t n = um_dataset_n_rows(ds);
            const int64_t i = (int64_t)(um_rng_u64(rng) % (uint64_t)n);
            st = um_dataset_row(ds, i, tr->rows + (int64_t)b * L, &tr->prompt_len[b]);
        } else {
            const int64_t n = um_dataset_n_tokens(ds);
            const int64_t off = (int64_t)(um_rng_u64(rng) % (uint64_t)(n - L + 1));
            st = um_dataset_stream_window(ds, off, L, tr->rows + (int64_t)b * L);
            tr->prompt_len[b] = 0;
        }
        if (st != UM_OK) return st;
    }
    return UM_OK;
}

/* Loss of one micro-batch (backward accumulates into the gradients when asked). */
static enum um_status run_micro(struct trainer *tr, um_dataset *ds, um_rng *rng, int L,
                                bool backward, double norm_scale, double *loss) {
    enum um_status st = draw_rows(tr, ds, rng, L);
    if (st != UM_OK) return st;
    const bool rows = um_dataset_kind(ds) == UM_DATASET_ROWS;
    st = um_obj_build(&tr->obj, tr->rows, rows ? tr->prompt_len : NULL, tr->cfg->batch_size, L,
                      rng, &tr->batch);
    if (st != UM_OK) return st;
    const struct um_obj_batch *b = &tr->batch;
    return um_tmodel_step(tr->tm, b->tokens, b->pos, b->targets, b->weights, b->B, b->T,
                          &b->attn, b->norm * norm_scale, backward, loss);
}

static enum um_status evaluate(struct trainer *tr, double *val_loss) {
    const int L = tr->cfg->seq_len;
    double sum = 0;
    for (int j = 0; j < tr->cfg->eval_batches; j++) {
        um_rng rng;
        um_rng_seed(&rng, tr->cfg->seed ^ EVAL_STREAM, (uint64_t)j);
        double l = 0;
        enum um_status st = run_micro(tr, tr->val, &rng, L, false, 1.0, &l);
        if (st != UM_OK) return st;
        sum += l;
    }
    *val_loss = tr->cfg->eval_batches > 0 ? sum / tr->cfg->eval_batches : NAN;
    return UM_OK;
}

/* Global gradient norm; the first non-finite tensor is reported. */
static enum um_status grad_norm(struct trainer *tr, int64_t step, double *norm) {
    const float *g = um_tmodel_grads(tr->tm);
    double total = 0;
    for (int i = 0; i < um_tmodel_n_tensors(tr->tm); i++) {
        const struct um_tparam *tp = um_tmodel_tensor(tr->tm, i);
        const int64_t n = tp->shape[0] * (tp->n_dims == 2 ? tp->shape[1] : 1);
        double s = 0;
        for (int64_t k = 0; k < n; k++) s += (double)g[tp->offset + k] * g[tp->offset + k];
        if (!isfinite(s))
            return um_set_error(UM_ERR_FORMAT, "step %lld: gradient of tensor '%s' is not finite "
                                "(NaN or Inf); lower lr or check the data", (long long)step + 1,
                                tp->name);
        total += s;
    }
    *norm = sqrt(total);
    return UM_OK;
}

static enum um_status check_weights(struct trainer *tr, int64_t step) {
    const float *w = um_tmodel_weights(tr->tm);
    for (int i = 0; i < um_tmodel_n_tensors(tr->tm); i++) {
        const struct um_tparam *tp = um_tmodel_tensor(tr->tm, i);
        const int64_t n = tp->shape[0] * (tp->n_dims == 2 ? tp->shape[1] : 1);
        for (int64_t k = 0; k < n; k++)
            if (!isfinite(w[tp->offset + k]))
                return um_set_error(UM_ERR_FORMAT, "step %lld: weight of tensor '%s' is not "
                                    "finite after the optimiser step", (long long)step + 1,
                                    tp->name);
    }
    return UM_OK;
}

/* ---------------------------------------------------------------- checkpoints */

static enum um_status save_checkpoint(struct trainer *tr, int64_t step) {
    remove_flat_dir(tr->ckpt_tmp);
    enum um_status st = make_dir(tr->ckpt_tmp);
    if (st == UM_OK) st = um_tmodel_save(tr->tm, tr->ckpt_tmp, UM_DTYPE_F32, NULL);
    if (st == UM_OK) {
        const int n = um_optim_state_count(tr->opt);
        um_st_write_tensor *w = calloc((size_t)(n > 0 ? n : 1), sizeof *w);
        if (!w) return um_set_error(UM_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            const struct um_optim_state_buf *b = um_optim_state_get(tr->opt, i);
            w[i].name = b->name;
            w[i].dtype = UM_DTYPE_F32;
            w[i].n_dims = 1;
            w[i].shape[0] = b->n;
            w[i].data = b->data;
        }
        char *p = join(tr->ckpt_tmp, "optimizer.safetensors");
        st = p ? um_st_write(p, w, n, NULL) : um_set_error(UM_ERR_NOMEM, "out of memory");
        free(p);
        free(w);
    }
    if (st == UM_OK) {
        char text[256];
        int len = snprintf(text, sizeof text,
                           "{\"step\": %lld, \"config_hash\": \"%016llx\", \"optimizer\": "
                           "\"%s\"}\n",
                           (long long)step, (unsigned long long)config_hash(tr->cfg),
                           um_optim_name(tr->opt));
        char *p = join(tr->ckpt_tmp, "trainer_state.json");
        st = p ? um_write_file_atomic(p, text, (size_t)len)
               : um_set_error(UM_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (st != UM_OK) return st;
    /* swap in: checkpoint -> checkpoint.old, tmp -> checkpoint, drop old */
    remove_flat_dir(tr->ckpt_old);
    if (um_is_dir(tr->ckpt) && rename(tr->ckpt, tr->ckpt_old) != 0)
        return um_set_error(UM_ERR_IO, "%s: cannot rename: %s", tr->ckpt, strerror(errno));
    if (rename(tr->ckpt_tmp, tr->ckpt) != 0)
        return um_set_error(UM_ERR_IO, "%s: cannot rename: %s", tr->ckpt_tmp, strerror(errno));
    remove_flat_dir(tr->ckpt_old);
    return UM_OK;
}

static enum um_status load_checkpoint(struct trainer *tr, int64_t *step) {
    /* a crash between the two renames leaves only checkpoint.old: use it */
    if (!um_is_dir(tr->ckpt) && um_is_dir(tr->ckpt_old) && rename(tr->ckpt_old, tr->ckpt) != 0)
        return um_set_error(UM_ERR_IO, "%s: cannot rename: %s", tr->ckpt_old, strerror(errno));
    char *p = join(tr->ckpt, "trainer_state.json");
    char *text = NULL;
    size_t len = 0;
    enum um_status st = p ? um_read_file(p, 1 << 16, &text, &len)
                          : um_set_error(UM_ERR_NOMEM, "out of memory");
    if (st != UM_OK) {
        free(p);
        return st;
    }
    long long s = -1;
    unsigned long long h = 0;
    const char *sp = strstr(text, "\"step\":"), *hp = strstr(text, "\"config_hash\": \"");
    if (!sp || !hp || sscanf(sp + 7, "%lld", &s) != 1 || sscanf(hp + 16, "%llx", &h) != 1 ||
        s < 0)
        st = um_set_error(UM_ERR_FORMAT, "%s: fields 'step' and 'config_hash' are required", p);
    else if (h != config_hash(tr->cfg))
        st = um_set_error(UM_ERR_ARG, "%s: the checkpoint was written with a different config "
                          "(only steps, eval_*, save_interval and out may change on resume)", p);
    free(text);
    free(p);
    if (st != UM_OK) return st;

    struct um_model_params mp = um_model_default_params();
    mp.load_tokenizer = false;
    mp.n_threads = tr->cfg->threads;
    um_model *m = NULL;
    st = um_model_load(tr->ckpt, &mp, &m);
    if (st != UM_OK) return st;
    um_tmodel *tm = NULL;
    st = um_tmodel_from_model(m, tr->cfg->batch_size, tr->obj.kind == UM_OBJ_BD3
                                                          ? 2 * tr->cfg->seq_len
                                                          : tr->cfg->seq_len,
                              &tm);
    um_model_free(m);
    if (st != UM_OK) return st;
    if (um_tmodel_n_params(tm) != um_tmodel_n_params(tr->tm)) {
        um_tmodel_free(tm);
        return um_set_error(UM_ERR_FORMAT, "%s: checkpoint has %lld parameters, the config "
                            "implies %lld", tr->ckpt, (long long)um_tmodel_n_params(tm),
                            (long long)um_tmodel_n_params(tr->tm));
    }
    memcpy(um_tmodel_weights(tr->tm), um_tmodel_weights(tm),
           (size_t)um_tmodel_n_params(tm) * sizeof(float));
    um_tmodel_free(tm);

    p = join(tr->ckpt, "optimizer.safetensors");
    um_st_set *set = NULL;
    st = p ? um_st_open_file(p, &set) : um_set_error(UM_ERR_NOMEM, "out of memory");
    for (int i = 0; st == UM_OK && i < um_optim_state_count(tr->opt); i++) {
        const struct um_optim_state_buf *b = um_optim_state_get(tr->opt, i);
        const um_st_tensor *t = um_st_find(set, b->name);
        if (!t || t->dtype != UM_DTYPE_F32 || t->n_elems != b->n)
            st = um_set_error(UM_ERR_FORMAT, "%s: optimiser state '%s' is missing or has the "
                              "wrong size", p, b->name);
        else
            memcpy(b->data, t->data, (size_t)b->n * sizeof(float));
    }
    um_st_close(set);
    free(p);
    if (st == UM_OK) *step = s;
    return st;
}

/* Keep the log lines of steps <= `step` (after a resume), rewriting the file atomically. */
static enum um_status trim_log(struct trainer *tr, int64_t step) {
    char *text = NULL;
    size_t len = 0;
    if (um_read_file(tr->log_path, (size_t)1 << 30, &text, &len) != UM_OK) return UM_OK;
    size_t keep = 0;
    for (char *l = text; *l;) {
        char *nl = strchr(l, '\n');
        if (!nl) break;
        long long s;
        if (sscanf(l, "%lld", &s) == 1 && s > step) break;
        keep = (size_t)(nl + 1 - text);
        l = nl + 1;
    }
    enum um_status st = um_write_file_atomic(tr->log_path, text, keep);
    free(text);
    return st;
}

/* ---------------------------------------------------------------- run */

static void trainer_free(struct trainer *tr) {
    um_optim_free(tr->opt);
    um_tmodel_free(tr->tm);
    um_dataset_close(tr->train);
    um_dataset_close(tr->val);
    um_obj_batch_free(&tr->batch);
    free(tr->rows);
    free(tr->prompt_len);
    free(tr->ckpt);
    free(tr->ckpt_tmp);
    free(tr->ckpt_old);
    free(tr->model_dir);
    free(tr->log_path);
}

static enum um_status setup(struct trainer *tr, bool resume, int64_t *start) {
    const struct um_train_config *c = tr->cfg;
    if (!c->data[0]) return um_set_error(UM_ERR_ARG, "config: key 'data' is required");
    if (!c->tokenizer[0]) return um_set_error(UM_ERR_ARG, "config: key 'tokenizer' is required");
    um_set_threads(c->threads);
    enum um_status st = make_dir(c->out);
    if (st != UM_OK) return st;
    tr->ckpt = join(c->out, "checkpoint");
    tr->ckpt_tmp = join(c->out, "checkpoint.tmp");
    tr->ckpt_old = join(c->out, "checkpoint.old");
    tr->model_dir = join(c->out, "model");
    tr->log_path = join(c->out, "train_log.tsv");
    if (!tr->ckpt || !tr->ckpt_tmp || !tr->ckpt_old || !tr->model_dir || !tr->log_path)
        return um_set_error(UM_ERR_NOMEM, "out of memory");

    if ((st = um_dataset_open(c->data, "train", &tr->train)) != UM_OK) return st;
    if ((st = um_dataset_open(c->data, "val", &tr->val)) != UM_OK) return st;
    um_tokenizer *tok = NULL;
    if ((st = um_tokenizer_load(c->tokenizer, &tok)) != UM_OK) return st;
    st = model_info_from_config(tr, tok);
    um_tokenizer_free(tok);
    if (st != UM_OK) return st;
    if (um_dataset_vocab(tr->train) > tr->info.n_vocab)
        return um_set_error(UM_ERR_FORMAT, "%s: data uses %d token ids but the tokenizer %s has "
                            "%d", c->data, um_dataset_vocab(tr->train), c->tokenizer,
                            tr->info.n_vocab);
    const bool rows = um_dataset_kind(tr->train) == UM_DATASET_ROWS;
    um_dataset *splits[2] = {tr->train, tr->val};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && c->eval_batches == 0) break;
        const bool enough = rows ? um_dataset_n_rows(splits[i]) > 0
                                 : um_dataset_n_tokens(splits[i]) >= c->seq_len;
        if (!enough)
            return um_set_error(UM_ERR_FORMAT, "%s: the %s split has fewer than %s%s", c->data,
                                i ? "val" : "train", rows ? "one row" : "seq_len tokens",
                                i ? " (set eval_batches = 0 to train without validation)" : "");
    }
    if (rows && um_dataset_seq_len(tr->train) != c->seq_len)
        return um_set_error(UM_ERR_ARG, "config: seq_len %d differs from the rows of %s (%d)",
                            c->seq_len, c->data, um_dataset_seq_len(tr->train));

    tr->obj.kind = !strcmp(c->objective, "sft")   ? UM_OBJ_SFT
                   : !strcmp(c->objective, "bd3") ? UM_OBJ_BD3
                   : !strcmp(c->objective, "ar")  ? UM_OBJ_AR
                                                  : UM_OBJ_MDM;
    if (tr->obj.kind == UM_OBJ_SFT && !rows)
        return um_set_error(UM_ERR_ARG, "config: objective sft needs task/SFT rows, but %s holds "
                            "a text stream", c->data);
    tr->obj.mask_id = tr->info.mask_id;
    tr->obj.eps = c->mask_eps;
    tr->obj.block_size = c->block_size;
    tr->obj.shift = tr->info.shift_logits;
    tr->obj.fixed_t = -1;
    tr->info.causal = tr->obj.kind == UM_OBJ_AR;
    const int T = tr->obj.kind == UM_OBJ_BD3 ? 2 * c->seq_len : c->seq_len;

    if (c->init_from[0] && !resume) {
        struct um_model_params mp = um_model_default_params();
        mp.load_tokenizer = false;
        um_model *m = NULL;
        if ((st = um_model_load(c->init_from, &mp, &m)) != UM_OK) return st;
        st = um_tmodel_from_model(m, c->batch_size, T, &tr->tm);
        um_model_free(m);
    } else {
        st = um_tmodel_init(&tr->info, c->batch_size, T, c->seed, (float)c->init_std, &tr->tm);
    }
    if (st != UM_OK) return st;
    if ((st = make_optimizer(tr)) != UM_OK) return st;
    if ((st = um_obj_batch_alloc(&tr->batch, c->batch_size, c->seq_len)) != UM_OK) return st;
    tr->rows = malloc((size_t)c->batch_size * (size_t)c->seq_len * sizeof *tr->rows);
    tr->prompt_len = calloc((size_t)c->batch_size, sizeof *tr->prompt_len);
    if (!tr->rows || !tr->prompt_len) return um_set_error(UM_ERR_NOMEM, "out of memory");

    *start = 0;
    if (resume) {
        if (!um_is_dir(tr->ckpt) && !um_is_dir(tr->ckpt_old))
            return um_set_error(UM_ERR_IO, "%s: no checkpoint to resume from", tr->ckpt);
        if ((st = load_checkpoint(tr, start)) != UM_OK) return st;
        if ((st = trim_log(tr, *start)) != UM_OK) return st;
    } else {
        const char *hdr = "step\tloss\tlr\tgrad_norm\ttokens\tseconds\tval_loss\n";
        if ((st = um_write_file_atomic(tr->log_path, hdr, strlen(hdr))) != UM_OK) return st;
    }
    return UM_OK;
}

enum um_status um_train_run(const struct um_train_config *cfg, bool resume, um_train_fn progress,
                            void *user) {
    if (!cfg) return um_set_error(UM_ERR_ARG, "um_train_run: NULL config");
    struct trainer tr;
    memset(&tr, 0, sizeof tr);
    tr.cfg = cfg;
    int64_t start = 0;
    enum um_status st = setup(&tr, resume, &start);
    FILE *log = NULL;
    if (st == UM_OK) {
        log = fopen(tr.log_path, "a");
        if (!log) st = um_set_error(UM_ERR_IO, "%s: cannot open: %s", tr.log_path, strerror(errno));
    }
    const int L = cfg->seq_len, B = cfg->batch_size;
    const double t0 = um_time_sec();
    int64_t tokens = 0;
    for (int64_t step = start; st == UM_OK && step < cfg->steps; step++) {
        const double lr_scale = schedule(cfg, step);
        um_tmodel_zero_grads(tr.tm);
        double loss = 0;
        for (int micro = 0; st == UM_OK && micro < cfg->grad_accum; micro++) {
            um_rng rng;
            um_rng_seed(&rng, cfg->seed, (uint64_t)step * (uint64_t)cfg->grad_accum +
                                             (uint64_t)micro);
            int len = L;
            /* LLaDA's random-length trick: 1% of pre-training batches are cut to U{2..L} */
            if (tr.obj.kind == UM_OBJ_MDM && um_rng_uniform(&rng) < 0.01)
                len = 2 + (int)(um_rng_uniform(&rng) * (L - 1));
            double l = 0;
            st = run_micro(&tr, tr.train, &rng, len, true, (double)cfg->grad_accum, &l);
            loss += l;
            tokens += (int64_t)B * len;
        }
        if (st != UM_OK) break;
        if (!isfinite(loss)) {
            st = um_set_error(UM_ERR_FORMAT, "step %lld: the loss is not finite (%g); lower lr or "
                              "check the data", (long long)step + 1, loss);
            break;
        }
        double gnorm = 0;
        if ((st = grad_norm(&tr, step, &gnorm)) != UM_OK) break;
        if (cfg->grad_clip > 0 && gnorm > cfg->grad_clip) {
            const float s = (float)(cfg->grad_clip / (gnorm + 1e-6));
            float *g = um_tmodel_grads(tr.tm);
            const int64_t n = um_tmodel_n_params(tr.tm);
            for (int64_t k = 0; k < n; k++) g[k] *= s;
        }
        if ((st = um_optim_step(tr.opt, lr_scale)) != UM_OK) break;
        if ((st = check_weights(&tr, step)) != UM_OK) break;

        struct um_train_progress pr;
        memset(&pr, 0, sizeof pr);
        pr.step = step + 1;
        pr.steps = cfg->steps;
        pr.loss = loss;
        pr.lr = cfg->lr * lr_scale;
        pr.grad_norm = gnorm;
        pr.elapsed_s = um_time_sec() - t0;
        pr.tokens_per_s = (double)tokens / (pr.elapsed_s > 0 ? pr.elapsed_s : 1e-9);
        pr.eta_s = pr.elapsed_s / (double)(step + 1 - start) * (double)(cfg->steps - step - 1);
        pr.val_loss = NAN;
        pr.val_ppl_bound = NAN;
        const bool last = step + 1 == cfg->steps;
        if (cfg->eval_batches > 0 &&
            ((cfg->eval_interval > 0 && (step + 1) % cfg->eval_interval == 0) || last)) {
            if ((st = evaluate(&tr, &pr.val_loss)) != UM_OK) break;
            pr.val_ppl_bound = exp(pr.val_loss);
        }
        fprintf(log, "%lld\t%.17g\t%.6g\t%.6g\t%lld\t%.2f\t", (long long)pr.step, loss, pr.lr,
                gnorm, (long long)tokens, pr.elapsed_s);
        if (isnan(pr.val_loss))
            fprintf(log, "\n");
        else
            fprintf(log, "%.17g\n", pr.val_loss);
        fflush(log);
        if ((cfg->save_interval > 0 && (step + 1) % cfg->save_interval == 0) || last)
            if ((st = save_checkpoint(&tr, step + 1)) != UM_OK) break;
        if (progress && !progress(user, &pr)) {
            st = um_set_error(UM_ERR_CANCELLED, "training cancelled at step %lld",
                              (long long)pr.step);
            break;
        }
    }
    if (log) fclose(log);
    if (st == UM_OK) {
        st = make_dir(tr.model_dir);
        if (st == UM_OK)
            st = um_tmodel_save(tr.tm, tr.model_dir,
                                !strcmp(cfg->save_dtype, "f32") ? UM_DTYPE_F32 : UM_DTYPE_BF16,
                                cfg->tokenizer);
    }
    trainer_free(&tr);
    return st;
}

/*
 * train_config.c: the trainer's `key = value` config file. One key per line, '#' starts a
 * comment, blank lines ignored; values are integers, reals, booleans (true/false), or strings
 * (the rest of the line, trimmed). Every key is in the table below with its type and range;
 * unknown keys, bad values and duplicates are errors naming the file, line and key.
 */
#include "unmask-train.h"

#include "base/base.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

enum key_type { K_INT, K_I64, K_REAL, K_BOOL, K_STR };

struct key_def {
    const char *name;
    enum key_type type;
    size_t offset;
    size_t size;     /* strings: buffer size */
    double lo, hi;   /* numeric range */
    const char *choices; /* strings: '|'-separated allowed values, or NULL */
};

#define OFF(f) offsetof(struct um_train_config, f)
#define SZ(f) sizeof(((struct um_train_config *)0)->f)
static const struct key_def KEYS[] = {
    {"family", K_STR, OFF(family), SZ(family), 0, 0, "llada|dream"},
    {"d_model", K_INT, OFF(d_model), 0, 8, 65536, NULL},
    {"n_layers", K_INT, OFF(n_layers), 0, 1, 1024, NULL},
    {"n_heads", K_INT, OFF(n_heads), 0, 1, 1024, NULL},
    {"n_kv_heads", K_INT, OFF(n_kv_heads), 0, 0, 1024, NULL},
    {"d_ff", K_INT, OFF(d_ff), 0, 1, 1 << 20, NULL},
    {"rope_theta", K_REAL, OFF(rope_theta), 0, 1, 1e12, NULL},
    {"norm_eps", K_REAL, OFF(norm_eps), 0, 1e-12, 1e-1, NULL},
    {"init_std", K_REAL, OFF(init_std), 0, 1e-6, 10, NULL},
    {"tie_embeddings", K_BOOL, OFF(tie_embeddings), 0, 0, 0, NULL},
    {"init_from", K_STR, OFF(init_from), SZ(init_from), 0, 0, NULL},
    {"objective", K_STR, OFF(objective), SZ(objective), 0, 0, "mdm|sft|bd3|ar"},
    {"block_size", K_INT, OFF(block_size), 0, 1, 1 << 16, NULL},
    {"mask_eps", K_REAL, OFF(mask_eps), 0, 0, 0.5, NULL},
    {"data", K_STR, OFF(data), SZ(data), 0, 0, NULL},
    {"tokenizer", K_STR, OFF(tokenizer), SZ(tokenizer), 0, 0, NULL},
    {"seq_len", K_INT, OFF(seq_len), 0, 2, 1 << 16, NULL},
    {"optimizer", K_STR, OFF(optimizer), SZ(optimizer), 0, 0, "adamw|muon|lamb|orscale"},
    {"lr", K_REAL, OFF(lr), 0, 0, 100, NULL},
    {"weight_decay", K_REAL, OFF(weight_decay), 0, 0, 10, NULL},
    {"beta1", K_REAL, OFF(beta1), 0, 0, 0.999999, NULL},
    {"beta2", K_REAL, OFF(beta2), 0, 0, 0.999999999, NULL},
    {"adam_eps", K_REAL, OFF(adam_eps), 0, 0, 1, NULL},
    {"momentum", K_REAL, OFF(momentum), 0, 0, 0.999999, NULL},
    {"adamw_lr", K_REAL, OFF(adamw_lr), 0, 0, 100, NULL},
    {"adamw_weight_decay", K_REAL, OFF(adamw_weight_decay), 0, 0, 10, NULL},
    {"clip_min", K_REAL, OFF(clip_min), 0, 0, 1e6, NULL},
    {"clip_max", K_REAL, OFF(clip_max), 0, 0, 1e6, NULL},
    {"ns_steps", K_INT, OFF(ns_steps), 0, 1, 100, NULL},
    {"schedule", K_STR, OFF(schedule), SZ(schedule), 0, 0, "wsd|cosine|constant"},
    {"warmup_steps", K_I64, OFF(warmup_steps), 0, 0, 1e12, NULL},
    {"decay_fraction", K_REAL, OFF(decay_fraction), 0, 0, 1, NULL},
    {"min_lr_ratio", K_REAL, OFF(min_lr_ratio), 0, 0, 1, NULL},
    {"batch_size", K_INT, OFF(batch_size), 0, 1, 1 << 16, NULL},
    {"grad_accum", K_INT, OFF(grad_accum), 0, 1, 1 << 16, NULL},
    {"grad_clip", K_REAL, OFF(grad_clip), 0, 0, 1e9, NULL},
    {"steps", K_I64, OFF(steps), 0, 1, 1e12, NULL},
    {"seed", K_I64, OFF(seed), 0, 0, 9e15, NULL},
    {"eval_interval", K_I64, OFF(eval_interval), 0, 0, 1e12, NULL},
    {"eval_batches", K_INT, OFF(eval_batches), 0, 0, 1 << 20, NULL},
    {"save_interval", K_I64, OFF(save_interval), 0, 0, 1e12, NULL},
    {"out", K_STR, OFF(out), SZ(out), 0, 0, NULL},
    {"save_dtype", K_STR, OFF(save_dtype), SZ(save_dtype), 0, 0, "f32|bf16"},
    {"threads", K_INT, OFF(threads), 0, 0, 1024, NULL},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

struct um_train_config um_train_config_default(void) {
    struct um_train_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.family, sizeof c.family, "llada");
    c.d_model = 256;
    c.n_layers = 4;
    c.n_heads = 4;
    c.n_kv_heads = 0; /* 0: = n_heads */
    c.d_ff = 704;
    c.rope_theta = 10000.0;
    c.norm_eps = 1e-5;
    c.init_std = 0.02;
    snprintf(c.objective, sizeof c.objective, "mdm");
    c.block_size = 16;
    c.mask_eps = 1e-3;
    c.seq_len = 128;
    snprintf(c.optimizer, sizeof c.optimizer, "adamw");
    c.lr = 1e-3;
    c.weight_decay = 0.1;
    c.beta1 = 0.9;
    c.beta2 = 0.95;
    c.adam_eps = 1e-8;
    c.momentum = 0.95;
    c.adamw_lr = 0; /* 0: the optimiser's default */
    c.adamw_weight_decay = 0.0;
    c.clip_min = 0.1;
    c.clip_max = 5.0;
    c.ns_steps = 5;
    snprintf(c.schedule, sizeof c.schedule, "wsd");
    c.warmup_steps = 100;
    c.decay_fraction = 0.2;
    c.min_lr_ratio = 0.0;
    c.batch_size = 16;
    c.grad_accum = 1;
    c.grad_clip = 1.0;
    c.steps = 1000;
    c.seed = 1;
    c.eval_interval = 200;
    c.eval_batches = 8;
    c.save_interval = 200;
    snprintf(c.out, sizeof c.out, "runs/default");
    snprintf(c.save_dtype, sizeof c.save_dtype, "bf16");
    return c;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
    return s;
}

static bool in_choices(const char *v, const char *choices) {
    size_t n = strlen(v);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !strncmp(c, v, n)) return true;
        if (!bar) break;
        c = bar + 1;
    }
    return false;
}

/* Set key to value; `where` is "FILE:LINE" or the origin of an override. */
static enum um_status set_key(struct um_train_config *cfg, const char *key, const char *val,
                              const char *where) {
    const struct key_def *k = NULL;
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].name, key)) k = &KEYS[i];
    if (!k) return um_set_error(UM_ERR_FORMAT, "%s: unknown key '%s'", where, key);
    char *base = (char *)cfg + k->offset;
    if (k->type == K_STR) {
        if (strlen(val) >= k->size)
            return um_set_error(UM_ERR_FORMAT, "%s: key '%s': value longer than %zu bytes", where,
                                key, k->size - 1);
        if (k->choices && !in_choices(val, k->choices))
            return um_set_error(UM_ERR_FORMAT, "%s: key '%s': '%s' is not one of %s", where, key,
                                val, k->choices);
        snprintf(base, k->size, "%s", val);
        return UM_OK;
    }
    if (k->type == K_BOOL) {
        if (strcmp(val, "true") && strcmp(val, "false"))
            return um_set_error(UM_ERR_FORMAT, "%s: key '%s': expected true or false, got '%s'",
                                where, key, val);
        *(bool *)base = !strcmp(val, "true");
        return UM_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v) || v < k->lo || v > k->hi ||
        (k->type != K_REAL && v != floor(v)))
        return um_set_error(UM_ERR_FORMAT, "%s: key '%s': '%s' is not %s in [%g, %g]", where,
                            key, val, k->type == K_REAL ? "a number" : "an integer", k->lo, k->hi);
    if (k->type == K_INT) *(int *)base = (int)v;
    if (k->type == K_I64) *(int64_t *)base = (int64_t)v;
    if (k->type == K_REAL) *(double *)base = v;
    return UM_OK;
}

enum um_status um_train_config_set(struct um_train_config *cfg, const char *kv,
                                   const char *origin) {
    const char *eq = strchr(kv, '=');
    if (!eq) return um_set_error(UM_ERR_FORMAT, "%s: '%s' is not key=value", origin, kv);
    char key[64];
    size_t kl = (size_t)(eq - kv);
    if (kl >= sizeof key) return um_set_error(UM_ERR_FORMAT, "%s: key too long", origin);
    memcpy(key, kv, kl);
    key[kl] = 0;
    char *val = strdup(eq + 1);
    if (!val) return um_set_error(UM_ERR_NOMEM, "out of memory");
    enum um_status st = set_key(cfg, trim(key), trim(val), origin);
    free(val);
    return st;
}

enum um_status um_train_config_load(const char *path, struct um_train_config *cfg) {
    char *text = NULL;
    size_t len = 0;
    enum um_status st = um_read_file(path, 1u << 20, &text, &len);
    if (st != UM_OK) return st;
    if (strlen(text) != len) {
        free(text);
        return um_set_error(UM_ERR_FORMAT, "%s: contains a NUL byte", path);
    }
    bool seen[N_KEYS];
    memset(seen, 0, sizeof seen);
    int line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *l = trim(line);
        if (!*l) continue;
        char where[600];
        snprintf(where, sizeof where, "%s:%d", path, line_no);
        char *eq = strchr(l, '=');
        if (!eq) {
            st = um_set_error(UM_ERR_FORMAT, "%s: expected 'key = value'", where);
            break;
        }
        *eq = 0;
        char *key = trim(l), *val = trim(eq + 1);
        for (size_t i = 0; i < N_KEYS; i++)
            if (!strcmp(KEYS[i].name, key)) {
                if (seen[i]) st = um_set_error(UM_ERR_FORMAT, "%s: key '%s' set twice", where, key);
                seen[i] = true;
            }
        if (st == UM_OK) st = set_key(cfg, key, val, where);
        if (st != UM_OK) break;
    }
    free(text);
    return st;
}

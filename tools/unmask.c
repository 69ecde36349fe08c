/*
 * unmask.c: the command-line program. One binary, one subcommand per job:
 *
 *   unmask generate -m DIR (-p TEXT | --prompt-ids "ID ...") [options]
 *   unmask tokenize -m PATH TEXT | --decode "ID ..."
 *   unmask info -m DIR
 *
 * Contract (other tools script against it): results on stdout; any error is one line on stderr
 * "unmask: error: ..." naming the file and field, exit status 1 (2 for usage errors). Uses only
 * the public API in unmask.h.
 */
#include "cli.h"
#include "unmask.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- info */

static const char *INFO_HELP =
    "usage: unmask info -m DIR\n"
    "\n"
    "Print a model folder's family, sizes, dtype, parameter count and special ids.\n"
    "\n"
    "  -m, --model DIR   Hugging Face model folder (config.json + safetensors)\n"
    "  -h, --help        this help\n";

static int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(INFO_HELP, stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) {
            dir = argv[++i];
        } else {
            return um_cli_usage("info", "unknown or incomplete option '%s'", argv[i]);
        }
    }
    if (!dir) return um_cli_usage("info", "%s", "-m DIR is required");
    struct um_model_params mp = um_model_default_params();
    um_model *m = NULL;
    enum um_status st = um_model_load(dir, &mp, &m);
    if (st != UM_OK) return um_cli_fail(st);
    const struct um_model_info *in = um_model_get_info(m);
    printf("family        %s\n", um_family_str(in->family));
    printf("dtype         %s\n", um_dtype_str(in->dtype));
    printf("parameters    %lld\n", (long long)in->n_params);
    printf("layers        %d\n", in->n_layer);
    printf("hidden        %d\n", in->n_embd);
    printf("heads         %d (kv %d, head dim %d)\n", in->n_head, in->n_head_kv, in->head_dim);
    printf("ffn           %d\n", in->n_ff);
    printf("vocab         %d\n", in->n_vocab);
    printf("max positions %d\n", in->max_positions);
    printf("rope theta    %g\n", (double)in->rope_theta);
    printf("norm eps      %g\n", (double)in->norm_eps);
    if (in->block_size > 0)
        printf("attention     block-causal (block %d)\n", in->block_size);
    else
        printf("attention     %s\n", in->causal ? "causal" : "bidirectional");
    if (in->qk_norm) printf("qk norm       yes\n");
    printf("logit shift   %s\n", in->shift_logits ? "yes" : "no");
    printf("tied head     %s\n", in->tied_embeddings ? "yes" : "no");
    printf("mask id       %d\n", in->mask_id);
    printf("bos id        %d\n", in->bos_id);
    printf("eos id        %d\n", in->eos_id);
    printf("eot id        %d\n", in->eot_id);
    printf("pad id        %d\n", in->pad_id);
    printf("tokenizer     %s\n", um_model_tokenizer(m) ? "yes" : "no");
    um_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- tokenize */

static const char *TOKENIZE_HELP =
    "usage: unmask tokenize -m PATH TEXT\n"
    "       unmask tokenize -m PATH --decode \"ID ID ...\"\n"
    "\n"
    "Encode TEXT to token ids (space-separated, one line; no BOS/EOS added; special tokens\n"
    "written in the text are recognised), or decode ids to text.\n"
    "\n"
    "  -m, --model PATH  model folder or tokenizer.json\n"
    "  --decode IDS      decode instead of encode\n"
    "  -h, --help        this help\n";

static int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL, *decode = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(TOKENIZE_HELP, stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--decode") && i + 1 < argc) {
            decode = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != 0) {
            return um_cli_usage("tokenize", "unknown or incomplete option '%s'", argv[i]);
        } else if (!text) {
            text = argv[i];
        } else {
            return um_cli_usage("tokenize", "unexpected argument '%s' (quote the text)", argv[i]);
        }
    }
    if (!path) return um_cli_usage("tokenize", "%s", "-m PATH is required");
    if (!text && !decode) return um_cli_usage("tokenize", "%s", "TEXT or --decode is required");
    um_tokenizer *tok = NULL;
    enum um_status st = um_tokenizer_load(path, &tok);
    if (st != UM_OK) return um_cli_fail(st);
    int rc = 0;
    if (decode) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *out = NULL;
        if (!um_cli_parse_ids(decode, &ids, &n)) {
            um_tokenizer_free(tok);
            return um_cli_usage("tokenize", "--decode '%s': expected non-negative integer ids",
                               decode);
        }
        st = um_tokenizer_decode(tok, ids, n, &out);
        if (st == UM_OK)
            printf("%s\n", out);
        else
            rc = um_cli_fail(st);
        free(out);
        free(ids);
    } else {
        int32_t *ids = NULL;
        size_t n = 0;
        st = um_tokenizer_encode(tok, text, strlen(text), &ids, &n);
        if (st == UM_OK)
            um_cli_print_ids(ids, n);
        else
            rc = um_cli_fail(st);
        free(ids);
    }
    um_tokenizer_free(tok);
    return rc;
}

/* ---------------------------------------------------------------- generate */

static const char *GENERATE_HELP =
    "usage: unmask generate -m DIR (-p TEXT | --prompt-ids \"ID ...\") [options]\n"
    "\n"
    "Generate with a diffusion LLM. With --alg the Dream timestep schedule is used,\n"
    "otherwise the LLaDA block schedule. Defaults follow the model family.\n"
    "\n"
    "  -m, --model DIR        Hugging Face model folder\n"
    "  -p, --prompt TEXT      prompt text (wrapped in the model's chat template unless --raw)\n"
    "  --prompt-ids IDS       prompt as token ids (\"1 2 3\"); no template\n"
    "  --raw                  do not apply the chat template\n"
    "  --ids                  print the N generated ids (the whole canvas after the prompt)\n"
    "  --seed S               random seed (default 0)\n"
    "  --visual               show the canvas being unmasked live (terminal)\n"
    "  -h, --help             this help\n";

struct visual_state {
    const um_tokenizer *tok;
    int n_prompt;
    int32_t mask_id;
    bool visual;
    bool progress;
};

static bool on_step(void *user, const int32_t *canvas, int n_canvas, int step, int n_steps) {
    struct visual_state *vs = user;
    if (vs->visual && vs->tok) {
        /* redraw: clear screen, print the generated part with masks shown as '_' */
        fputs("\x1b[H\x1b[2J", stderr);
        fprintf(stderr, "step %d/%d\n\n", step, n_steps);
        /* runs of committed tokens are decoded together so split UTF-8 characters join */
        for (int i = vs->n_prompt; i < n_canvas;) {
            if (canvas[i] == vs->mask_id) {
                fputs("\x1b[2m_\x1b[0m", stderr);
                i++;
                continue;
            }
            int j = i;
            while (j < n_canvas && canvas[j] != vs->mask_id) j++;
            char *s = NULL;
            if (um_tokenizer_decode(vs->tok, &canvas[i], (size_t)(j - i), &s) == UM_OK)
                fputs(s, stderr);
            free(s);
            i = j;
        }
        fputs("\n", stderr);
        fflush(stderr);
    } else if (vs->progress) {
        fprintf(stderr, "\rstep %d/%d", step, n_steps);
        if (step == n_steps) fputs("\n", stderr);
        fflush(stderr);
    }
    return true;
}

static int cmd_generate(int argc, char **argv) {
    const char *dir = NULL, *prompt = NULL, *prompt_ids = NULL;
    bool raw = false, want_ids = false, visual = false;
    struct um_cli_gen_opts go;
    um_cli_gen_opts_init(&go);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(GENERATE_HELP, stdout);
            fputs(UM_CLI_GEN_HELP, stdout);
            return 0;
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (!strcmp(a, "--ids")) {
            want_ids = true;
        } else if (!strcmp(a, "--visual")) {
            visual = true;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") ||
                   !strcmp(a, "--prompt") || !strcmp(a, "--prompt-ids") || !strcmp(a, "--seed")) {
            if (!v) return um_cli_usage("generate", "option '%s' needs a value", a);
            i++;
            if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
                dir = v;
            } else if (!strcmp(a, "--prompt-ids")) {
                prompt_ids = v;
            } else if (!strcmp(a, "--seed")) {
                long sv;
                if (!um_cli_parse_long(v, 0, LONG_MAX, &sv))
                    return um_cli_usage("generate", "bad value for option '%s'", a);
                go.seed = sv;
            } else {
                prompt = v;
            }
        } else {
            int r = um_cli_gen_opt(&go, "generate", argc, argv, &i);
            if (r == 0) return um_cli_usage("generate", "unknown option '%s'", a);
            if (r != 1) return r;
        }
    }
    if (!dir) return um_cli_usage("generate", "%s", "-m DIR is required");
    if (!prompt == !prompt_ids)
        return um_cli_usage("generate", "%s",
                            "exactly one of -p TEXT or --prompt-ids is required");
    struct um_model_params mp = um_model_default_params();
    um_cli_gen_model_params(&go, &mp);

    um_model *m = NULL;
    enum um_status st = um_model_load(dir, &mp, &m);
    if (st != UM_OK) return um_cli_fail(st);
    const struct um_model_info *in = um_model_get_info(m);
    const um_tokenizer *tok = um_model_tokenizer(m);
    int rc = 0;
    int32_t *ids = NULL, *out = NULL;
    size_t n_ids = 0;
    char *templated = NULL, *text = NULL;
    um_ctx *ctx = NULL;

    if (prompt_ids) {
        if (!um_cli_parse_ids(prompt_ids, &ids, &n_ids)) {
            rc = um_cli_usage("generate", "--prompt-ids '%s': expected non-negative integer ids",
                             prompt_ids);
            goto done;
        }
    } else {
        if (!tok) {
            fprintf(stderr, "unmask: error: %s/tokenizer.json: missing; use --prompt-ids\n", dir);
            rc = 1;
            goto done;
        }
        const char *ptext = prompt;
        if (!raw && in->chat_template != UM_CHAT_NONE) {
            st = um_chat_apply(in->chat_template, prompt, &templated);
            if (st != UM_OK) {
                rc = um_cli_fail(st);
                goto done;
            }
            ptext = templated;
        }
        st = um_tokenizer_encode(tok, ptext, strlen(ptext), &ids, &n_ids);
        if (st != UM_OK) {
            rc = um_cli_fail(st);
            goto done;
        }
    }

    struct um_gen_params gp = um_gen_default_params(m);
    um_cli_gen_apply(&go, m, &gp);
    struct um_gen_stats stats = {0};
    gp.stats = &stats;
    struct visual_state vs = {tok, (int)n_ids, in->mask_id, visual && tok != NULL,
                              isatty(STDERR_FILENO) != 0};
    gp.progress = on_step;
    gp.progress_user = &vs;

    const int need = n_ids > (size_t)INT_MAX / 2 ? INT_MAX
                                                  : um_gen_context_tokens(m, (int)n_ids, &gp);
    if (need > in->max_positions) {
        fprintf(stderr, "unmask: error: %s/config.json: prompt (%zu tokens) + --gen-length %d "
                "need %d positions, more than the model's %d\n", dir, n_ids, gp.gen_length,
                need, in->max_positions);
        rc = 1;
        goto done;
    }
    st = um_ctx_init(m, need, &ctx);
    if (st != UM_OK) {
        rc = um_cli_fail(st);
        goto done;
    }
    out = malloc((size_t)gp.gen_length * sizeof *out);
    if (!out) {
        fprintf(stderr, "unmask: error: out of memory\n");
        rc = 1;
        goto done;
    }
    st = um_generate(ctx, ids, (int)n_ids, &gp, out);
    if (st != UM_OK) {
        rc = um_cli_fail(st);
        goto done;
    }
    const size_t n_out = (size_t)stats.tokens;
    if (want_ids || !tok) {
        um_cli_print_ids(out, n_out);
    } else {
        /* text: up to the first EOS / EoT, as the reference chat scripts show it */
        size_t n = 0;
        while (n < n_out && out[n] != in->eos_id && out[n] != in->eot_id) n++;
        st = um_tokenizer_decode(tok, out, n, &text);
        if (st != UM_OK) {
            rc = um_cli_fail(st);
            goto done;
        }
        printf("%s\n", text);
    }
    if (go.stats) {
        fflush(stdout);
        um_cli_print_stats(stats.tokens, stats.forwards, stats.seconds);
    }
done:
    free(text);
    free(out);
    free(templated);
    free(ids);
    um_ctx_free(ctx);
    um_model_free(m);
    return rc;
}

/* ---------------------------------------------------------------- main */

static const char *MAIN_HELP =
    "usage: unmask COMMAND [options]\n"
    "\n"
    "unmask runs diffusion language models (LLaDA, Dream) from Hugging Face folders.\n"
    "\n"
    "commands:\n"
    "  generate   generate text with a diffusion LLM\n"
    "  tokenize   encode text to ids or decode ids to text\n"
    "  info       describe a model folder\n"
    "  data       turn text files or a synthetic task into token shards\n"
    "  train      train a diffusion LM from a config file\n"
    "  eval       measure a model's accuracy on a synthetic task\n"
    "  tokenizer  train a byte-level BPE tokenizer (tokenizer.json)\n"
    "\n"
    "'unmask COMMAND --help' shows the options of a command.\n";

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(MAIN_HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    for (const struct um_cli_command *c = um_cli_commands; c->name; c++)
        if (!strcmp(cmd, c->name)) return c->run(argc - 2, argv + 2);
    fprintf(stderr, "unmask: error: unknown command '%s' (see 'unmask --help')\n", cmd);
    return EXIT_USAGE;
}

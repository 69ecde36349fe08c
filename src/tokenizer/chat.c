/*
 * chat.c: the chat templates of the supported instruct models, for one user turn with the
 * generation prompt (what tokenizer.apply_chat_template(messages, add_generation_prompt=True,
 * tokenize=False) renders for messages = [{"role": "user", "content": user}]).
 *
 * LLaDA-8B-Instruct: the Llama 3 template with bos_token "<|startoftext|>"; the content goes
 *   through Jinja's `| trim` (Python str.strip()) as in the Llama 3 template. Where confirmed:
 *   ML-GSAI/LLaDA chat.py renders the prompt with apply_chat_template(m,
 *   add_generation_prompt=True, tokenize=False), and public LLaDA-8B-Instruct scripts (e.g. a
 *   WINO decoding script using mask_id 126336) hard-code exactly
 *   "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n{msg}<|eot_id|>"
 *   "<|start_header_id|>assistant<|end_header_id|>\n\n".
 * Dream-v0-Instruct-7B: Qwen2 ChatML; without a system message the template inserts
 *   "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" (the Qwen2 default system
 *   prompt, as in public Qwen2-style tokenizer_config.json chat_template strings:
 *   "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are
 *   a helpful assistant.<|im_end|>\n' }}{% endif %}..."). Dream's own tokenizer_config.json
 *   was not in the searchable index, so this rests on Dream being Qwen2.5-based and on the
 *   Dream demos calling apply_chat_template with add_generation_prompt=True. No trim.
 */
#include "base/base.h"
#include "tokenizer/tokenizer-impl.h"

#include <stdlib.h>
#include <string.h>

static const char LLADA_PRE[] = "<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n";
static const char LLADA_POST[] = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
static const char DREAM_PRE[] = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                                "<|im_start|>user\n";
static const char DREAM_POST[] = "<|im_end|>\n<|im_start|>assistant\n";

/* Python's str.isspace() (what Jinja's trim strips): Unicode White_Space plus the ASCII
 * separators U+001C..U+001F. */
static bool py_space(uint32_t cp) {
    return um_is_space_cp(cp) || (cp >= 0x1c && cp <= 0x1f);
}

/* Trims Python whitespace from both ends of s[0..*n); returns the new start. Bytes that are
 * not valid UTF-8 stop the trim (they are not whitespace). */
static const char *py_strip(const char *s, size_t *n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t a = 0, b = *n;
    while (a < b) {
        uint32_t cp;
        int k = um_utf8_next(p + a, b - a, &cp);
        if (k == 0 || !py_space(cp)) break;
        a += (size_t)k;
    }
    while (b > a) {
        size_t j = b - 1;
        while (j > a && (p[j] & 0xc0) == 0x80) j--;
        uint32_t cp;
        int k = um_utf8_next(p + j, b - j, &cp);
        if (k == 0 || (size_t)k != b - j || !py_space(cp)) break;
        b = j;
    }
    *n = b - a;
    return s + a;
}

enum um_status um_chat_apply(enum um_chat_template tmpl, const char *user, char **out) {
    if (!user || !out) return um_set_error(UM_ERR_ARG, "um_chat_apply: NULL argument");
    const char *pre, *post;
    size_t n = strlen(user);
    switch (tmpl) {
    case UM_CHAT_NONE:
        pre = post = "";
        break;
    case UM_CHAT_LLADA:
        pre = LLADA_PRE;
        post = LLADA_POST;
        user = py_strip(user, &n);
        break;
    case UM_CHAT_DREAM:
        pre = DREAM_PRE;
        post = DREAM_POST;
        break;
    default:
        return um_set_error(UM_ERR_ARG, "um_chat_apply: unknown template %d", (int)tmpl);
    }
    size_t lp = strlen(pre), lq = strlen(post);
    char *s = malloc(lp + n + lq + 1);
    if (!s) return um_set_error(UM_ERR_NOMEM, "um_chat_apply: out of memory");
    memcpy(s, pre, lp);
    memcpy(s + lp, user, n);
    memcpy(s + lp + n, post, lq);
    s[lp + n + lq] = 0;
    *out = s;
    return UM_OK;
}

// load_pre_tokenizer.c: tokenizer.json "pre_tokenizer" -> PreStep list (the built-in
// pre-tokenizers become Split steps with the regexes the Rust library uses).
#include "internal.h"

#include <stdlib.h>
#include <strings.h>

static PreStep* pre_add(TokenizerImpl* m, int kind) {
    m->pre = xrealloc(m->pre, (size_t)(m->n_pre + 1) * sizeof(PreStep));
    PreStep* st = &m->pre[m->n_pre++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

static int pre_add_split(LoadCtx* L, TokenizerImpl* m, const char* path, const char* pat, int literal, int behavior, int invert) {
    PreStep* st = pre_add(m, PRE_SPLIT);
    st->behavior = behavior;
    st->invert = invert;
    char msg[400];
    if (tok_regex_compile(&st->re, pat, strlen(pat), literal, 1, msg, sizeof msg)) return err_set(L->err, "%s: %s: %s", L->name, path, msg);
    return 0;
}

static int parse_behavior(LoadCtx* L, const cJSON* j, const char* path, int dflt, int* out) {
    const char* b = tok_jstr(j, "behavior");
    *out = dflt;
    if (!b) return 0;
    if (strcasecmp(b, "Removed") == 0) *out = SPLIT_REMOVED;
    else if (strcasecmp(b, "Isolated") == 0) *out = SPLIT_ISOLATED;
    else if (strcasecmp(b, "MergedWithPrevious") == 0) *out = SPLIT_MERGED_PREV;
    else if (strcasecmp(b, "MergedWithNext") == 0) *out = SPLIT_MERGED_NEXT;
    else if (strcasecmp(b, "Contiguous") == 0) *out = SPLIT_CONTIGUOUS;
    else return err_set(L->err, "%s: %s.behavior '%s' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", L->name, path, b);
    return 0;
}

#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define PUNCT_CLASS "[\\p{P}!-/:-@\\[-`{-~]"

int tok_parse_pre_tokenizer(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path) {
    TokenizerImpl* m = t->impl;
    int rc;
    const char* type = tok_component_type(L, t, j, path, "pretokenizers", tok_parse_pre_tokenizer, &rc);
    if (!type) return rc;
    if (strcmp(type, "Split") == 0) {
        int behavior;
        if (parse_behavior(L, j, path, SPLIT_ISOLATED, &behavior)) return -1;
        PreStep* st = pre_add(m, PRE_SPLIT);
        st->behavior = behavior;
        st->invert = tok_jbool(j, "invert", 0);
        return tok_parse_pattern(L, j, path, &st->re);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (tok_jbool(j, "add_prefix_space", 1)) pre_add(m, PRE_PREFIX_SPACE);
        if (tok_jbool(j, "use_regex", 1)) return pre_add_split(L, m, path, GPT2_PATTERN, 0, SPLIT_ISOLATED, 0);
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        PreStep* st = pre_add(m, PRE_METASPACE);
        if (tok_parse_replacement(L, j, path, st->repl, &st->repl_len)) return -1;
        if (tok_parse_prepend_scheme(L, j, path, &st->prepend)) return -1;
        if (tok_jbool(j, "split", 1)) {
            char r[8];
            memcpy(r, st->repl, (size_t)st->repl_len);
            r[st->repl_len] = 0;
            return pre_add_split(L, m, path, r, 1, SPLIT_MERGED_NEXT, 0);
        }
        return 0;
    }
    if (strcmp(type, "Digits") == 0)
        return pre_add_split(L, m, path, tok_jbool(j, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+", 0, SPLIT_ISOLATED, 0);
    if (strcmp(type, "Whitespace") == 0) return pre_add_split(L, m, path, "\\w+|[^\\w\\s]+", 0, SPLIT_REMOVED, 1);
    if (strcmp(type, "WhitespaceSplit") == 0) return pre_add_split(L, m, path, "\\s+", 0, SPLIT_REMOVED, 0);
    if (strcmp(type, "Punctuation") == 0) {
        int behavior;
        if (parse_behavior(L, j, path, SPLIT_ISOLATED, &behavior)) return -1;
        return pre_add_split(L, m, path, PUNCT_CLASS, 0, behavior, 0);
    }
    if (strcmp(type, "BertPreTokenizer") == 0) {
        if (pre_add_split(L, m, path, "\\s+", 0, SPLIT_REMOVED, 0)) return -1;
        return pre_add_split(L, m, path, PUNCT_CLASS, 0, SPLIT_ISOLATED, 0);
    }
    return err_set(L->err, "%s: %s.type '%s' is not supported (Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, Sequence)", L->name, path, type);
}

// Whether the pre-tokenizer maps text to the bytes-to-unicode alphabet.
int tok_has_byte_level(const cJSON* j) {
    if (!cJSON_IsObject(j)) return 0;
    const char* type = tok_jstr(j, "type");
    if (type && strcmp(type, "ByteLevel") == 0) return 1;
    const cJSON* arr = tok_jget(j, "pretokenizers");
    const cJSON* it;
    if (cJSON_IsArray(arr)) cJSON_ArrayForEach(it, arr) if (tok_has_byte_level(it)) return 1;
    return 0;
}

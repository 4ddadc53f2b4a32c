// load_post_processor.c: tokenizer.json "post_processor" -> the ids put around a single sequence.
#include "internal.h"

#include <stdlib.h>

// A special token of a post-processor, by name: the template's own id list, else the vocab.
static int special_ids(LoadCtx* L, const Tokenizer* t, const cJSON* specials, const char* tok, const char* path, IntVec* out) {
    const cJSON* e = tok_jget(specials, tok);
    const cJSON* ids = tok_jget(e, "ids");
    if (cJSON_IsArray(ids)) {
        const cJSON* it;
        cJSON_ArrayForEach(it, ids) {
            if (!cJSON_IsNumber(it)) return err_set(L->err, "%s: %s.special_tokens.%s.ids: expected numbers", L->name, path, tok);
            iv_push(out, (int)it->valuedouble);
        }
        return 0;
    }
    int id = tokenizer_token_to_id(t, tok);
    if (id < 0) return err_set(L->err, "%s: %s: special token '%s' is not in the vocabulary", L->name, path, tok);
    iv_push(out, id);
    return 0;
}

int tok_parse_post_processor(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path) {
    TokenizerImpl* m = t->impl;
    int rc;
    const char* type = tok_component_type(L, t, j, path, "processors", tok_parse_post_processor, &rc);
    if (!type) return rc;
    IntVec pre = {0}, suf = {0};
    if (strcmp(type, "ByteLevel") == 0) {
        return 0; // offsets only
    } else if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON* single = tok_jget(j, "single");
        const cJSON* specials = tok_jget(j, "special_tokens");
        if (!cJSON_IsArray(single)) return err_set(L->err, "%s: %s.single: expected an array", L->name, path);
        int seen_a = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, single) {
            const cJSON* sp = tok_jget(it, "SpecialToken");
            const cJSON* sq = tok_jget(it, "Sequence");
            if (sp) {
                const char* id = tok_jstr(sp, "id");
                if (!id) { free(pre.p); free(suf.p); return err_set(L->err, "%s: %s.single: SpecialToken without id", L->name, path); }
                if (special_ids(L, t, specials, id, path, seen_a ? &suf : &pre)) { free(pre.p); free(suf.p); return -1; }
            } else if (sq) seen_a = 1;
        }
    } else if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        const cJSON* cls = tok_jget(j, "cls");
        const cJSON* sep = tok_jget(j, "sep");
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(cls, 1)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(sep, 1)))
            return err_set(L->err, "%s: %s: cls and sep must be [token, id] pairs", L->name, path);
        iv_push(&pre, (int)cJSON_GetArrayItem(cls, 1)->valuedouble);
        iv_push(&suf, (int)cJSON_GetArrayItem(sep, 1)->valuedouble);
    } else
        return err_set(L->err, "%s: %s.type '%s' is not supported (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)", L->name, path, type);
    // A later processor wraps what the earlier ones produced.
    for (int i = 0; i < m->prefix.n; i++) iv_push(&pre, m->prefix.p[i]);
    for (int i = 0; i < suf.n; i++) iv_push(&m->suffix, suf.p[i]);
    free(m->prefix.p);
    m->prefix = pre;
    free(suf.p);
    return 0;
}

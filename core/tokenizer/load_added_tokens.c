// load_added_tokens.c: tokenizer.json "added_tokens" -> the added-token list (their pieces and
// flags), then, once the normalizer is loaded, their normalized forms and the two indexes split_added
// searches (tokens matched before and after normalization).
#include "internal.h"

#include <stdlib.h>

int tok_added_tokens_check(LoadCtx* L, const cJSON* added, int* max_id) {
    int ai = 0;
    const cJSON* it;
    if (cJSON_IsArray(added)) cJSON_ArrayForEach(it, added) {
        int id;
        if (tok_parse_id(tok_jget(it, "id"), &id)) return err_set(L->err, "%s: added_tokens[%d].id: expected an integer id in [0, 2^24)", L->name, ai);
        if (!tok_jstr(it, "content")) return err_set(L->err, "%s: added_tokens[%d].content: expected a string", L->name, ai);
        if (id > *max_id) *max_id = id;
        ai++;
    }
    return 0;
}

void tok_load_added_tokens(Tokenizer* t, const cJSON* added) {
    TokenizerImpl* m = t->impl;
    const cJSON* it;
    if (cJSON_IsArray(added)) {
        m->added = xcalloc((size_t)cJSON_GetArraySize(added) + 1, sizeof(AddedTok));
        cJSON_ArrayForEach(it, added) {
            AddedTok* a = &m->added[m->n_added];
            const char* content = tok_jstr(it, "content");
            a->id = (int)tok_jget(it, "id")->valuedouble;
            a->content = xstrdup(content);
            a->len = strlen(content);
            a->special = (unsigned char)tok_jbool(it, "special", 0);
            a->lstrip = (unsigned char)tok_jbool(it, "lstrip", 0);
            a->rstrip = (unsigned char)tok_jbool(it, "rstrip", 0);
            a->single_word = (unsigned char)tok_jbool(it, "single_word", 0);
            a->normalized = (unsigned char)tok_jbool(it, "normalized", !a->special);
            if (a->len == 0) { free(a->content); continue; }
            free(m->piece[a->id]);
            m->piece[a->id] = xstrdup(content);
            m->flags[a->id] |= FLAG_ADDED | (a->special ? FLAG_SPECIAL : 0);
            m->n_added++;
        }
    }
}

typedef struct {
    unsigned char first;
    size_t len;
    int idx;
} AddedKey;

static int cmp_added_key(const void* a, const void* b) {
    const AddedKey* x = a;
    const AddedKey* y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; // longest first
    return x->idx - y->idx;
}

static void build_added_index(TokenizerImpl* m, AddedIndex* ix, int normalized) {
    AddedKey* keys = xmalloc((size_t)(m->n_added + 1) * sizeof(AddedKey));
    ix->order = xmalloc((size_t)(m->n_added + 1) * sizeof(int));
    ix->n = 0;
    for (int i = 0; i < m->n_added; i++) {
        const AddedTok* a = &m->added[i];
        if (a->normalized != normalized) continue;
        size_t len = normalized ? a->norm_len : a->len;
        if (len == 0) continue;
        keys[ix->n].first = (unsigned char)(normalized ? a->norm : a->content)[0];
        keys[ix->n].len = len;
        keys[ix->n].idx = i;
        ix->n++;
    }
    qsort(keys, (size_t)ix->n, sizeof(AddedKey), cmp_added_key);
    int k = 0;
    for (int i = 0; i < ix->n; i++) ix->order[i] = keys[i].idx;
    for (int b = 0; b <= 256; b++) {
        while (k < ix->n && keys[k].first < b) k++;
        ix->start[b] = k;
    }
    free(keys);
}

void tok_added_tokens_index(TokenizerImpl* m) {
    // normalized added tokens are matched after normalization, so normalize their content
    Ctx c;
    tok_ctx_init(&c);
    for (int i = 0; i < m->n_added; i++) {
        AddedTok* a = &m->added[i];
        if (!a->normalized) continue;
        size_t nn;
        const char* ns = tok_normalize(m, &c, a->content, a->len, &nn);
        a->norm = xmalloc(nn + 1);
        memcpy(a->norm, ns, nn);
        a->norm[nn] = 0;
        a->norm_len = nn;
    }
    tok_ctx_free(&c);
    build_added_index(m, &m->raw_index, 0);
    build_added_index(m, &m->norm_index, 1);
}

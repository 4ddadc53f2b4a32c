// load_normalizer.c: tokenizer.json "normalizer" -> NormStep list.
#include "internal.h"

#include <stdlib.h>

int tok_parse_normalizer(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path) {
    TokenizerImpl* m = t->impl;
    int rc;
    const char* type = tok_component_type(L, t, j, path, "normalizers", tok_parse_normalizer, &rc);
    if (!type) return rc;
    NormStep st;
    memset(&st, 0, sizeof st);
    if (strcmp(type, "NFC") == 0) st.kind = NORM_NFC;
    else if (strcmp(type, "NFD") == 0) st.kind = NORM_NFD;
    else if (strcmp(type, "NFKC") == 0) st.kind = NORM_NFKC;
    else if (strcmp(type, "NFKD") == 0) st.kind = NORM_NFKD;
    else if (strcmp(type, "Lowercase") == 0) st.kind = NORM_LOWER;
    else if (strcmp(type, "StripAccents") == 0) st.kind = NORM_STRIP_ACCENTS;
    else if (strcmp(type, "Strip") == 0) {
        st.kind = NORM_STRIP;
        st.left = tok_jbool(j, "strip_left", 1);
        st.right = tok_jbool(j, "strip_right", 1);
    } else if (strcmp(type, "Replace") == 0) {
        st.kind = NORM_REPLACE;
        const char* content = tok_jstr(j, "content");
        if (!content) return err_set(L->err, "%s: %s.content: expected a string", L->name, path);
        if (tok_parse_pattern(L, j, path, &st.re)) return -1;
        st.content = xstrdup(content);
    } else if (strcmp(type, "Prepend") == 0) {
        st.kind = NORM_PREPEND;
        const char* pre = tok_jstr(j, "prepend");
        if (!pre) return err_set(L->err, "%s: %s.prepend: expected a string", L->name, path);
        st.content = xstrdup(pre);
    } else
        return err_set(L->err, "%s: %s.type '%s' is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Sequence)", L->name, path, type);
    m->norm = xrealloc(m->norm, (size_t)(m->n_norm + 1) * sizeof(NormStep));
    m->norm[m->n_norm++] = st;
    return 0;
}

// load_normalizer.c: tokenizer.json "normalizer" -> NormStep list.
#include "internal.h"

#include <stdlib.h>

int tok_parse_normalizer(LoadCtx* L, TokenizerImpl* m, const cJSON* j, const char* path) {
    if (!j || cJSON_IsNull(j)) return 0;
    const char* type = tok_jstr(j, "type");
    if (!type) return err_set(L->err, "%s: %s.type missing", L->name, path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = tok_jget(j, "normalizers");
        if (!cJSON_IsArray(arr)) return err_set(L->err, "%s: %s.normalizers: expected an array", L->name, path);
        int i = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, arr) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i++);
            if (tok_parse_normalizer(L, m, it, sub)) return -1;
        }
        return 0;
    }
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

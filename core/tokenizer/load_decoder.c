// load_decoder.c: tokenizer.json "decoder" -> DecStep list (applied by decode.c).
#include "internal.h"

#include <stdlib.h>

int tok_parse_decoder(LoadCtx* L, TokenizerImpl* m, const cJSON* j, const char* path) {
    if (!j || cJSON_IsNull(j)) return 0;
    const char* type = tok_jstr(j, "type");
    if (!type) return err_set(L->err, "%s: %s.type missing", L->name, path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = tok_jget(j, "decoders");
        if (!cJSON_IsArray(arr)) return err_set(L->err, "%s: %s.decoders: expected an array", L->name, path);
        int i = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, arr) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%d]", path, i++);
            if (tok_parse_decoder(L, m, it, sub)) return -1;
        }
        return 0;
    }
    DecStep st;
    memset(&st, 0, sizeof st);
    if (strcmp(type, "ByteLevel") == 0) st.kind = DEC_BYTELEVEL;
    else if (strcmp(type, "ByteFallback") == 0) st.kind = DEC_BYTEFALLBACK;
    else if (strcmp(type, "Fuse") == 0) st.kind = DEC_FUSE;
    else if (strcmp(type, "Replace") == 0) {
        st.kind = DEC_REPLACE;
        const char* content = tok_jstr(j, "content");
        if (!content) return err_set(L->err, "%s: %s.content: expected a string", L->name, path);
        if (tok_parse_pattern(L, j, path, &st.re)) return -1;
        st.content = xstrdup(content);
    } else if (strcmp(type, "Strip") == 0) {
        st.kind = DEC_STRIP;
        const char* content = tok_jstr(j, "content");
        if (!content) content = " ";
        size_t n = strlen(content);
        if (n == 0 || n > 4) return err_set(L->err, "%s: %s.content: expected one character", L->name, path);
        memcpy(st.strip_char, content, n);
        st.strip_len = (int)n;
        st.start = tok_jint(j, "start", 0);
        st.stop = tok_jint(j, "stop", 0);
    } else if (strcmp(type, "Metaspace") == 0) {
        st.kind = DEC_METASPACE;
        if (tok_parse_replacement(L, j, path, st.repl, &st.repl_len)) return -1;
        if (tok_parse_prepend_scheme(L, j, path, &st.prepend)) return -1;
    } else
        return err_set(L->err, "%s: %s.type '%s' is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)", L->name, path, type);
    m->dec = xrealloc(m->dec, (size_t)(m->n_dec + 1) * sizeof(DecStep));
    m->dec[m->n_dec++] = st;
    return 0;
}

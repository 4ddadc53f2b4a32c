// load_decoder.c: tokenizer.json "decoder" -> DecStep list (applied by decode.c).
#include "internal.h"

#include <math.h>
#include <stdlib.h>

// Strip's start / stop: how many characters it removes, a whole number >= 0 (absent: 0).
static int strip_count(LoadCtx* L, const cJSON* j, const char* key, const char* path, int* out) {
    const cJSON* v = tok_jget(j, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1 << 20) || v->valuedouble != floor(v->valuedouble))
        return err_set(L->err, "%s: %s.%s: expected a whole number of characters (0 to %d)", L->name, path, key, 1 << 20);
    *out = (int)v->valuedouble;
    return 0;
}

int tok_parse_decoder(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path) {
    TokenizerImpl* m = t->impl;
    int rc;
    const char* type = tok_component_type(L, t, j, path, "decoders", tok_parse_decoder, &rc);
    if (!type) return rc;
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
        if (strip_count(L, j, "start", path, &st.start) || strip_count(L, j, "stop", path, &st.stop)) return -1;
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

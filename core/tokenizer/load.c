// load.c: tokenizer.json (+ tokenizer_config.json) -> Tokenizer: the entry points, the order in
// which the components are loaded (model, normalizer, pre-tokenizer, post-processor, decoder), the
// config's named special tokens, the JSON helpers every component's loader uses, and freeing.
#include "internal.h"

#include <stdlib.h>

const cJSON* tok_jget(const cJSON* o, const char* k) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}
const char* tok_jstr(const cJSON* o, const char* k) {
    const cJSON* v = tok_jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
int tok_jbool(const cJSON* o, const char* k, int dflt) {
    const cJSON* v = tok_jget(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}
// A token named in tokenizer_config.json: "text" or {"content": "text", ...}.
static const char* jtoken(const cJSON* o, const char* k) {
    const cJSON* v = tok_jget(o, k);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return tok_jstr(v, "content");
    return NULL;
}

// An id in tokenizer.json: an integer in [0, 2^24). Returns 0, or -1 for anything else.
int tok_parse_id(const cJSON* v, int* out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (d < 0 || d >= (1 << 24) || d != (double)(int)d) return -1;
    *out = (int)d;
    return 0;
}

// A component object's "type". Returns NULL with *rc set when the caller is done: 0 for an absent
// (null) component or a Sequence, whose elements went through fn one by one (path key[i]); -1 on
// an error.
const char* tok_component_type(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path, const char* key,
                               ComponentFn fn, int* rc) {
    *rc = 0;
    if (!j || cJSON_IsNull(j)) return NULL;
    const char* type = tok_jstr(j, "type");
    if (!type) { *rc = err_set(L->err, "%s: %s.type missing", L->name, path); return NULL; }
    if (strcmp(type, "Sequence") != 0) return type;
    const cJSON* arr = tok_jget(j, key);
    if (!cJSON_IsArray(arr)) { *rc = err_set(L->err, "%s: %s.%s: expected an array", L->name, path, key); return NULL; }
    int i = 0;
    const cJSON* it;
    cJSON_ArrayForEach(it, arr) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s[%d]", path, key, i++);
        if (fn(L, t, it, sub)) { *rc = -1; return NULL; }
    }
    return NULL;
}

// {"String": s} or {"Regex": r}
int tok_parse_pattern(LoadCtx* L, const cJSON* o, const char* path, Regex* re) {
    const cJSON* p = tok_jget(o, "pattern");
    const char* s = tok_jstr(p, "String");
    const char* r = tok_jstr(p, "Regex");
    if (!s && !r) return err_set(L->err, "%s: %s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", L->name, path);
    char msg[400];
    if (tok_regex_compile(re, s ? s : r, strlen(s ? s : r), s != NULL, 1, msg, sizeof msg))
        return err_set(L->err, "%s: %s.pattern: %s", L->name, path, msg);
    return 0;
}

int tok_parse_prepend_scheme(LoadCtx* L, const cJSON* j, const char* path, int* out) {
    const char* ps = tok_jstr(j, "prepend_scheme");
    *out = tok_jbool(j, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER; // older files
    if (!ps) return 0;
    if (strcmp(ps, "always") == 0) *out = PREPEND_ALWAYS;
    else if (strcmp(ps, "first") == 0) *out = PREPEND_FIRST;
    else if (strcmp(ps, "never") == 0) *out = PREPEND_NEVER;
    else return err_set(L->err, "%s: %s.prepend_scheme '%s' is not one of always, first, never", L->name, path, ps);
    return 0;
}

int tok_parse_replacement(LoadCtx* L, const cJSON* j, const char* path, char* repl, int* repl_len) {
    const char* r = tok_jstr(j, "replacement");
    if (!r) r = "\xE2\x96\x81";
    size_t n = strlen(r);
    if (n == 0 || n > 4) return err_set(L->err, "%s: %s.replacement: expected one character", L->name, path);
    memcpy(repl, r, n);
    *repl_len = (int)n;
    return 0;
}

static int load_all(LoadCtx* L, Tokenizer* t, const cJSON* root, const cJSON* cfg) {
    TokenizerImpl* m = t->impl;
    if (tok_load_model(L, t, root)) return -1;
    if (tok_parse_normalizer(L, t, tok_jget(root, "normalizer"), "normalizer")) return -1;
    if (tok_parse_pre_tokenizer(L, t, tok_jget(root, "pre_tokenizer"), "pre_tokenizer")) return -1;
    if (tok_parse_post_processor(L, t, tok_jget(root, "post_processor"), "post_processor")) return -1;
    if (tok_parse_decoder(L, t, tok_jget(root, "decoder"), "decoder")) return -1;

    tok_added_tokens_index(m); // needs the normalizer

    // tokenizer_config.json: named special tokens and add_bos_token / add_eos_token
    const char* bos = jtoken(cfg, "bos_token");
    const char* eos = jtoken(cfg, "eos_token");
    const char* pad = jtoken(cfg, "pad_token");
    t->bos_id = bos ? tokenizer_token_to_id(t, bos) : (m->prefix.n > 0 ? m->prefix.p[0] : -1);
    t->eos_id = eos ? tokenizer_token_to_id(t, eos) : (m->suffix.n > 0 ? m->suffix.p[m->suffix.n - 1] : -1);
    t->pad_id = pad ? tokenizer_token_to_id(t, pad) : -1;
    if (tok_jbool(cfg, "add_bos_token", 0) && t->bos_id >= 0) {
        int has = 0;
        for (int i = 0; i < m->prefix.n; i++) has |= m->prefix.p[i] == t->bos_id;
        if (!has) {
            IntVec p = {0};
            iv_push(&p, t->bos_id);
            for (int i = 0; i < m->prefix.n; i++) iv_push(&p, m->prefix.p[i]);
            free(m->prefix.p);
            m->prefix = p;
        }
    }
    if (tok_jbool(cfg, "add_eos_token", 0) && t->eos_id >= 0) {
        int has = 0;
        for (int i = 0; i < m->suffix.n; i++) has |= m->suffix.p[i] == t->eos_id;
        if (!has) iv_push(&m->suffix, t->eos_id);
    }
    const cJSON* extra = tok_jget(cfg, "additional_special_tokens");
    const cJSON* it;
    if (cJSON_IsArray(extra)) cJSON_ArrayForEach(it, extra) {
        const char* s = cJSON_IsString(it) ? it->valuestring : tok_jstr(it, "content");
        int id = s ? tokenizer_token_to_id(t, s) : -1;
        if (id >= 0) m->flags[id] |= FLAG_SPECIAL;
    }
    for (int i = 0; i < m->prefix.n; i++)
        if (m->prefix.p[i] < 0 || m->prefix.p[i] >= t->vocab_size) return err_set(L->err, "%s: post_processor: special token id %d is outside the vocabulary", L->name, m->prefix.p[i]);
    for (int i = 0; i < m->suffix.n; i++)
        if (m->suffix.p[i] < 0 || m->suffix.p[i] >= t->vocab_size) return err_set(L->err, "%s: post_processor: special token id %d is outside the vocabulary", L->name, m->suffix.p[i]);
    tok_build_decode_table(t);
    return 0;
}

static int load_impl(Tokenizer* t, const char* json, size_t len, const char* name, const char* cfg_json, const char* cfg_name, Err* err) {
    memset(t, 0, sizeof *t);
    t->bos_id = t->eos_id = t->pad_id = t->unk_id = -1;
    // JSON text is UTF-8 (RFC 8259); cJSON copies other bytes into strings unchecked, and a vocab
    // entry that is not UTF-8 could never match the (sanitized) text it is meant to encode.
    const unsigned char* u = (const unsigned char*)json;
    for (size_t i = 0; i < len;) {
        int l = u[i] < 0x80 ? 1 : tok_utf8_valid_char(u + i, len - i);
        if (!l) return err_set(err, "%s: not valid UTF-8 at byte %zu (JSON text must be UTF-8)", name, i);
        i += (size_t)l;
    }
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) return err_set(err, "%s: not valid JSON (syntax error near byte %zu)", name, end ? (size_t)(end - json) : (size_t)0);
    if (!cJSON_IsObject(root)) { cJSON_Delete(root); return err_set(err, "%s: expected a JSON object at the top level", name); }
    cJSON* cfg = NULL;
    if (cfg_json) {
        cfg = cJSON_ParseWithOpts(cfg_json, &end, 0);
        if (!cfg || !cJSON_IsObject(cfg)) {
            size_t at = end ? (size_t)(end - cfg_json) : 0;
            cJSON_Delete(root);
            cJSON_Delete(cfg);
            return err_set(err, "%s: not a valid JSON object (near byte %zu)", cfg_name, at);
        }
    }
    t->impl = xcalloc(1, sizeof(TokenizerImpl));
    t->impl->name = xstrdup(name);
    LoadCtx L = {name, err};
    int rc = load_all(&L, t, root, cfg);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    if (rc) tokenizer_free(t);
    return rc;
}

int tokenizer_load_json(Tokenizer* t, const char* json, size_t len, const char* config_json, const char* name, Err* err) {
    return load_impl(t, json, len, name ? name : "tokenizer.json", config_json, "tokenizer_config.json", err);
}

int tokenizer_load_files(Tokenizer* t, const char* json_path, const char* config_path, Err* err) {
    memset(t, 0, sizeof *t);
    size_t len;
    char* json = read_file_text(json_path, &len, err);
    if (!json) return -1;
    char* cfg = NULL;
    if (config_path) {
        cfg = read_file_text(config_path, NULL, err);
        if (!cfg) { free(json); return -1; }
    }
    int rc = load_impl(t, json, len, json_path, cfg, config_path, err);
    free(json);
    free(cfg);
    return rc;
}

int tokenizer_load(Tokenizer* t, const char* dir, Err* err) {
    char jp[4096], cp[4096];
    path_join(jp, sizeof jp, dir, "tokenizer.json");
    path_join(cp, sizeof cp, dir, "tokenizer_config.json");
    if (!file_exists(jp)) { memset(t, 0, sizeof *t); return err_set(err, "%s: not found (a model directory needs tokenizer.json)", jp); }
    return tokenizer_load_files(t, jp, file_exists(cp) ? cp : NULL, err);
}

void tokenizer_free(Tokenizer* t) {
    if (!t || !t->impl) return;
    TokenizerImpl* m = t->impl;
    for (int i = 0; i < t->vocab_size && m->piece; i++) free(m->piece[i]);
    free(m->piece);
    free(m->flags);
    buf_free(&m->model_bytes);
    free(m->vocab_map.slots);
    free(m->merges.slots);
    for (int i = 0; i < m->n_added; i++) { free(m->added[i].content); free(m->added[i].norm); }
    free(m->added);
    free(m->raw_index.order);
    free(m->norm_index.order);
    for (int i = 0; i < m->n_norm; i++) { tok_regex_free(&m->norm[i].re); free(m->norm[i].content); }
    free(m->norm);
    for (int i = 0; i < m->n_pre; i++) tok_regex_free(&m->pre[i].re);
    free(m->pre);
    for (int i = 0; i < m->n_dec; i++) { tok_regex_free(&m->dec[i].re); free(m->dec[i].content); }
    free(m->dec);
    free(m->prefix.p);
    free(m->suffix.p);
    free(m->dec_off);
    free(m->dec_len);
    buf_free(&m->dec_bytes);
    free(m->name);
    free(m);
    memset(t, 0, sizeof *t);
    t->bos_id = t->eos_id = t->pad_id = t->unk_id = -1;
}

// encode.c: tokenizer_encode and tokenizer_pre_tokenize: input sanitised, then added tokens,
// normalizer, pre-tokenizer and BPE per section; the per-call scratch (Ctx) lives here.
#include "internal.h"

#include <stdlib.h>

void tok_ctx_init(Ctx* c) {
    memset(c, 0, sizeof *c);
    c->md = pcre2_match_data_create(32, NULL);
}

void tok_ctx_free(Ctx* c) {
    pcre2_match_data_free(c->md);
    for (int i = 0; i < 2; i++) { buf_free(&c->nbuf[i]); buf_free(&c->pbuf[i]); free(c->spans[i].p); }
    free(c->matches.p);
    free(c->u32);
    free(c->sym);
    free(c->heap);
    free(c->cache);
    buf_free(&c->cache_keys);
    free(c->cache_ids.p);
}

#ifndef CACHE_MAX
#define CACHE_MAX (1u << 18)
#endif
// Sizes the word cache for a text of len bytes; short texts do without.
void tok_ctx_cache_init(Ctx* c, size_t len) {
    if (len < 4096) return;
    size_t cap = 1024;
    while (cap < len / 8 && cap < CACHE_MAX) cap *= 2;
    c->cache = xcalloc(cap, sizeof(CacheEnt));
    c->cache_mask = cap - 1;
}

// Text between non-normalized added tokens: normalize (per section: the "legacy" behaviour both
// references share), then split on normalized added tokens. The first piece keeps the section
// index (Metaspace's prepend_scheme "first" looks at it); later pieces count as later sections.
static void encode_section(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out) {
    size_t nn;
    const char* ns = tok_normalize(t->impl, c, s, n, &nn);
    if (nn == 0) return;
    tok_split_added(t, c, &t->impl->norm_index, ns, nn, section_index, tok_pretokenize_encode, out);
}

// The input as valid UTF-8: text itself, or a copy in clean with U+FFFD for invalid bytes.
static const char* valid_text(const char* text, size_t* len, Buf* clean) {
    const char* s = text ? text : "";
    if (tok_utf8_is_valid(s, *len)) return s;
    tok_utf8_sanitize(s, *len, clean);
    *len = clean->n;
    return clean->p;
}

int tokenizer_encode(const Tokenizer* t, const char* text, size_t len, int add_special, int** ids, int* n, Err* err) {
    *ids = NULL;
    *n = 0;
    if (!t || !t->impl) return err_set(err, "tokenizer_encode: tokenizer not loaded");
    if (!text && len) return err_set(err, "tokenizer_encode: text is NULL");
    const TokenizerImpl* m = t->impl;
    Buf clean = {0};
    const char* s = valid_text(text, &len, &clean);
    Ctx c;
    tok_ctx_init(&c);
    tok_ctx_cache_init(&c, len);
    IntVec out = {0};
    if (add_special) for (int i = 0; i < m->prefix.n; i++) iv_push(&out, m->prefix.p[i]);
    tok_split_added(t, &c, &m->raw_index, s, len, 0, encode_section, &out);
    if (add_special) for (int i = 0; i < m->suffix.n; i++) iv_push(&out, m->suffix.p[i]);
    tok_ctx_free(&c);
    buf_free(&clean);
    if (!out.p) out.p = xmalloc(sizeof(int));
    *ids = out.p;
    *n = out.n;
    return 0;
}

int tokenizer_pre_tokenize(const Tokenizer* t, const char* text, size_t len,
                           void (*fn)(void* ctx, const char* piece, size_t n), void* ctx, Err* err) {
    if (!t || !t->impl) return err_set(err, "tokenizer_pre_tokenize: tokenizer not loaded");
    Buf clean = {0};
    const char* s = valid_text(text, &len, &clean);
    Ctx c;
    tok_ctx_init(&c);
    c.piece_fn = fn;
    c.piece_ctx = ctx;
    IntVec added = {0}; // ids of the added tokens met on the way: not pieces, dropped
    tok_split_added(t, &c, &t->impl->raw_index, s, len, 0, encode_section, &added);
    free(added.p);
    tok_ctx_free(&c);
    buf_free(&clean);
    return 0;
}

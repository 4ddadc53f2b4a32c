// vocab.c: lookups in a loaded vocabulary: id -> piece, piece -> id, special flags.
#include "internal.h"

#include <stdlib.h>

const char* tokenizer_piece(const Tokenizer* t, int id) {
    if (!t || !t->impl || id < 0 || id >= t->vocab_size) return NULL;
    return t->impl->piece[id];
}

int tokenizer_vocab_size(const Tokenizer* t) { return t ? t->vocab_size : 0; }

int tokenizer_is_special(const Tokenizer* t, int id) {
    if (!t || !t->impl || id < 0 || id >= t->vocab_size) return 0;
    return (t->impl->flags[id] & FLAG_SPECIAL) != 0;
}

// Converts a tokenizer.json token string to the model's key bytes (byte-level: through the
// unicode-to-bytes table). Returns 0 if the string has a character outside that alphabet.
int tok_piece_to_model(const TokenizerImpl* m, int byte_level, const char* s, size_t n, Buf* out) {
    out->n = 0;
    buf_reserve(out, n);
    if (!byte_level) { buf_put(out, s, n); return 1; }
    const unsigned char* u = (const unsigned char*)s;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int l = tok_utf8_next(u + i, n - i, &cp);
        if (cp >= 324 || m->u2b[cp] < 0) return 0;
        buf_putc(out, (char)m->u2b[cp]);
        i += (size_t)l;
    }
    return 1;
}

int tokenizer_piece_bytes(const Tokenizer* t, int id, char* out, size_t cap) {
    const char* piece = tokenizer_piece(t, id);
    if (!piece || !t->byte_level) return -1;
    Buf b = {0};
    int n = tok_piece_to_model(t->impl, 1, piece, strlen(piece), &b) ? (int)(b.n < cap ? b.n : cap) : -1;
    if (n > 0) memcpy(out, b.p, (size_t)n);
    buf_free(&b);
    return n;
}

int tokenizer_token_to_id(const Tokenizer* t, const char* piece) {
    if (!t || !t->impl || !piece) return -1;
    const TokenizerImpl* m = t->impl;
    for (int i = 0; i < m->n_added; i++)
        if (strcmp(m->added[i].content, piece) == 0) return m->added[i].id;
    Buf b = {0};
    int id = -1;
    if (tok_piece_to_model(m, t->byte_level, piece, strlen(piece), &b)) id = strmap_get(&m->vocab_map, m->model_bytes.p, b.p, b.n);
    buf_free(&b);
    if (id < 0) // tokens outside the byte alphabet are not in the map; rare, so scan
        for (int i = 0; i < t->vocab_size; i++)
            if (m->piece[i] && strcmp(m->piece[i], piece) == 0) return i;
    return id;
}

// fuzz_encode.c: libFuzzer target for encoding and decoding with fixed tokenizers: the demo's
// byte-level BPE (models/demo/base) and the hand-made ones of tests/fuzz/tokenizer_seeds/. The
// first input byte picks the tokenizer, the rest is the text (random bytes: invalid UTF-8 too).
// Checked: every id is in the vocabulary; decode gives valid UTF-8 and the same text as the
// token-by-token stream; the demo tokenizer (no normalizer, byte-level) gives back exactly the text
// when it is valid UTF-8; and the input read as ids (pairs of bytes, some out of range) decodes to
// valid UTF-8 as well (skipping special tokens or not: bit of the first byte). Run from the repository root. Seeds: tests/fuzz/encode_seeds/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static const char* const FILES[] = {
    "models/demo/base/tokenizer.json",  // index 0: the round-trip check applies
    "tests/fuzz/tokenizer_seeds/byte_level.json",
    "tests/fuzz/tokenizer_seeds/metaspace.json",
    "tests/fuzz/tokenizer_seeds/normalizers.json",
    "tests/fuzz/tokenizer_seeds/sentencepiece.json",
};
#define N_TOK (int)(sizeof FILES / sizeof FILES[0])
static Tokenizer g_tok[N_TOK];

int LLVMFuzzerInitialize(int* argc, char*** argv) {
    for (int i = 0; i < N_TOK; i++) {
        Err err;
        if (tokenizer_load_files(&g_tok[i], FILES[i], NULL, &err)) {
            fprintf(stderr, "fuzz_encode: %s (run it from the repository root)\n", err.msg);
            exit(1);
        }
    }
    return 0;
}

// UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates, nothing above U+10FFFF.
static int is_utf8(const unsigned char* s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t MIN[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < MIN[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

static void fail(const char* what, int which, size_t len) {
    fprintf(stderr, "fuzz_encode: %s (%s, %zu bytes of text)\n", what, FILES[which], len);
    abort();
}

// Decodes ids token by token and whole; the stream must be valid UTF-8 and decode the same text (up
// to a U+0000, where decode's C string ends). Returns decode's text.
static char* decode_checked(int which, const int* ids, int n, int skip_special) {
    const Tokenizer* t = &g_tok[which];
    TokenStream st;
    token_stream_init(&st, t, skip_special);
    char* joined = NULL;
    size_t jl = 0, l;
    for (int i = 0; i <= n; i++) {
        const char* piece = i < n ? token_stream_push(&st, ids[i], &l) : token_stream_flush(&st, &l);
        joined = realloc(joined, jl + l + 1);
        memcpy(joined + jl, piece, l);
        jl += l;
    }
    token_stream_free(&st);
    if (!is_utf8((const unsigned char*)joined, jl)) fail("the token stream gave invalid UTF-8", which, jl);
    char* whole = tokenizer_decode(t, ids, n, skip_special);
    size_t wl = strlen(whole);
    if (wl != strnlen(joined, jl) || memcmp(whole, joined, wl) != 0) fail("decode differs from the token stream", which, wl);
    free(joined);
    return whole;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    int which = data[0] % N_TOK;
    const Tokenizer* t = &g_tok[which];
    const char* text = (const char*)data + 1;
    size_t len = size - 1;
    int V = tokenizer_vocab_size(t);
    for (int sp = 0; sp <= 1; sp++) {
        int* ids;
        int n;
        Err err;
        if (tokenizer_encode(t, text, len, sp, &ids, &n, &err)) continue;  // e.g. no <unk> for a character
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= V) fail("encode gave an id outside the vocabulary", which, len);
        char* back = decode_checked(which, ids, n, sp);
        if (which == 0 && !sp && is_utf8(data + 1, len) && !memchr(text, 0, len) &&
            (strlen(back) != len || memcmp(back, text, len) != 0))
            fail("decode(encode(text)) is not the text", which, len);
        free(back);
        free(ids);
    }
    int n = (int)(len / 2);
    int* ids = malloc((n ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) ids[i] = (data[1 + 2 * i] | data[2 + 2 * i] << 8) % (V + 8) - 4;  // -4 .. V+3
    free(decode_checked(which, ids, n, data[0] / N_TOK % 2));
    free(ids);
    return 0;
}

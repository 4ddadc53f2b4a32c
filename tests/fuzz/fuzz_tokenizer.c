// fuzz_tokenizer.c: libFuzzer target for the tokenizer loader. The input is taken as tokenizer.json;
// when it loads, a few fixed strings and the input itself (as text: arbitrary bytes, so the UTF-8
// sanitizing runs too) are encoded, decoded and streamed back. Seeds: tests/fuzz/tokenizer_seeds/.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static void exercise(const Tokenizer* t, const char* text, size_t len) {
    int* ids;
    int n;
    Err err;
    for (int sp = 0; sp <= 1; sp++) {
        if (tokenizer_encode(t, text, len, sp, &ids, &n, &err)) continue;
        char* s = tokenizer_decode(t, ids, n, sp);
        free(s);
        TokenStream st;
        token_stream_init(&st, t, 0);
        size_t l;
        for (int i = 0; i < n; i++) token_stream_push(&st, ids[i], &l);
        token_stream_flush(&st, &l);
        token_stream_free(&st);
        for (int i = 0; i < n && i < 8; i++) tokenizer_piece(t, ids[i]);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Tokenizer t;
    Err err;
    if (tokenizer_load_json(&t, (const char*)data, size, NULL, "fuzz.json", &err) != 0) return 0;
    static const char* texts[] = {"Hello world", " <s> a</s>b<unk>", "caf\xC3\xA9 e\xCC\x81 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x91\x8D",
                                  "  \t\r\n 12345 I'm", "", "\xFF\xFE bad \xC3"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) exercise(&t, texts[i], strlen(texts[i]));
    exercise(&t, (const char*)data, size < 4096 ? size : 4096);
    tokenizer_token_to_id(&t, "a");
    tokenizer_free(&t);
    return 0;
}

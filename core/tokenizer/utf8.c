// utf8.c: the tokenizer's UTF-8 primitives: decode and encode one character, validity (WHATWG),
// replacement of invalid input by U+FFFD, and the two character classes the pipeline needs.
#include "internal.h"

#include <utf8proc.h>

// Decodes one character of valid UTF-8; returns its length.
int tok_utf8_next(const unsigned char* s, size_t n, int32_t* cp) {
    unsigned c = s[0];
    if (c < 0x80 || n < 2) { *cp = (int32_t)c; return 1; }
    if (c < 0xE0) { *cp = (int32_t)(((c & 0x1F) << 6) | (s[1] & 0x3F)); return 2; }
    if (c < 0xF0 || n < 4) {
        if (n < 3) { *cp = (int32_t)c; return 1; }
        *cp = (int32_t)(((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F));
        return 3;
    }
    *cp = (int32_t)(((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F));
    return 4;
}

// Length of the valid UTF-8 character at s, or 0 if the bytes there are not one.
int tok_utf8_valid_char(const unsigned char* s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
    else return 0;
    if ((size_t)need >= n) return 0;
    for (int i = 1; i <= need; i++) {
        unsigned b = s[i];
        if (b < lo || b > hi) return 0;
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

int tok_utf8_is_valid(const char* s, size_t n) {
    const unsigned char* u = (const unsigned char*)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        int l = tok_utf8_valid_char(u + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

int tok_utf8_encode(int32_t cp, char* out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

// Unicode White_Space: what Rust's char::is_whitespace and the JS reference's \s both use.
int tok_is_white_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

// Rust regex's \w: alphabetic, marks, decimal digits, connector punctuation, joiners.
int tok_is_word_char(int32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    utf8proc_category_t cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME) || cat == UTF8PROC_CATEGORY_ND ||
           cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_PC || c == 0x200C || c == 0x200D;
}

// Copies s into out replacing invalid UTF-8 by U+FFFD, one per maximal invalid subpart (WHATWG).
void tok_utf8_sanitize(const char* s, size_t n, Buf* out) {
    const unsigned char* u = (const unsigned char*)s;
    size_t i = 0;
    out->n = 0;
    buf_reserve(out, n + 16);
    while (i < n) {
        int l = tok_utf8_valid_char(u + i, n - i);
        if (l) { buf_put(out, u + i, (size_t)l); i += (size_t)l; continue; }
        // Skip the maximal prefix of a valid sequence (at least one byte).
        size_t j = i + 1;
        unsigned c = u[i], lo = 0x80, hi = 0xBF;
        int need = 0;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        for (int k = 0; k < need && j < n && u[j] >= lo && u[j] <= hi; k++, j++) { lo = 0x80; hi = 0xBF; }
        buf_put(out, "\xEF\xBF\xBD", 3);
        i = j;
    }
}

// regex.c: patterns as written in tokenizer.json (Oniguruma syntax) translated to PCRE2, compiled
// (JIT when available) and matched.
#include "internal.h"

// Character-class bodies shared by the translation and the built-in pre-tokenizers. \s means the
// Unicode White_Space property (PCRE2's own \s would also take U+180E); \w is the JS reference's
// emulation of Oniguruma's word class.
#define WS_BODY "\\t\\n\\x0b\\f\\r\\x20\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
#define WORD_BODY "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{b2}\\x{b3}\\x{b9}\\x{bc}-\\x{be}"

static int is_alpha_ascii(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char other_case(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 32) : (char)(c + 32); }

// Copies the escape starting at src[i] (a backslash) to out and returns the index after it.
static size_t copy_escape(const char* src, size_t n, size_t i, Buf* out) {
    size_t j = i + 1;
    if (j >= n) { buf_put(out, "\\\\", 2); return n; }
    char c = src[j];
    if ((c == 'p' || c == 'P' || c == 'x' || c == 'u') && j + 1 < n && src[j + 1] == '{') {
        const char* close = memchr(src + j, '}', n - j);
        size_t end = close ? (size_t)(close - src) + 1 : n;
        if (c == 'u') { buf_put(out, "\\x", 2); buf_put(out, src + j + 1, end - j - 1); }
        else buf_put(out, src + i, end - i);
        return end;
    }
    if (c == 'u') { // \uHHHH (JS style) -> \x{HHHH}
        size_t k = j + 1;
        while (k < n && k < j + 5 && strchr("0123456789abcdefABCDEF", src[k])) k++;
        buf_put(out, "\\x{", 3);
        buf_put(out, src + j + 1, k - j - 1);
        buf_putc(out, '}');
        return k;
    }
    int l = tok_utf8_valid_char((const unsigned char*)src + j, n - j);
    if (l < 1) l = 1;
    buf_putc(out, '\\');
    buf_put(out, src + j, (size_t)l);
    return j + (size_t)l;
}

// Translates an Oniguruma pattern (Ruby syntax, as the Rust library uses) to PCRE2. Handled:
// \s \S \w \W \h \H as the JS reference defines them, and (?i:...) folding only ASCII letters
// (PCRE2 would also fold U+017F into 's' and U+212A into 'k', which the reference does not).
static void regex_translate(const char* src, size_t n, Buf* out) {
    int fold_stack[128];
    int depth = 0, fold = 0, in_class = 0, class_first = 0;
    size_t i = 0;
    out->n = 0;
    buf_reserve(out, n * 2 + 16);
    while (i < n) {
        char c = src[i];
        if (c == '\\' && i + 1 < n) {
            char e = src[i + 1];
            if (in_class) {
                class_first = 0;
                if (e == 's') { buf_put(out, WS_BODY, strlen(WS_BODY)); i += 2; continue; }
                if (e == 'S') { buf_put(out, "\\P{White_Space}", 15); i += 2; continue; }
                if (e == 'w') { buf_put(out, WORD_BODY, strlen(WORD_BODY)); i += 2; continue; }
                if (e == 'h') { buf_put(out, "0-9A-Fa-f", 9); i += 2; continue; }
            } else {
                const char* rep = NULL;
                if (e == 's') rep = "[" WS_BODY "]";
                else if (e == 'S') rep = "[^" WS_BODY "]";
                else if (e == 'w') rep = "[" WORD_BODY "]";
                else if (e == 'W') rep = "[^" WORD_BODY "]";
                else if (e == 'h') rep = "[0-9A-Fa-f]";
                else if (e == 'H') rep = "[^0-9A-Fa-f]";
                if (rep) { buf_put(out, rep, strlen(rep)); i += 2; continue; }
            }
            i = copy_escape(src, n, i, out);
            continue;
        }
        if (in_class) {
            if (c == ']' && !class_first) { in_class = 0; buf_putc(out, c); i++; continue; }
            if (c == '[' && i + 1 < n && src[i + 1] == ':') { // POSIX class: copy through ":]"
                const char* end = strstr(src + i, ":]");
                size_t e = end ? (size_t)(end - src) + 2 : n;
                buf_put(out, src + i, e - i);
                i = e;
                class_first = 0;
                continue;
            }
            class_first = 0;
            if (fold && is_alpha_ascii(c)) {
                if (i + 2 < n && src[i + 1] == '-' && is_alpha_ascii(src[i + 2])) { // a-z -> a-zA-Z
                    char r[6] = {c, '-', src[i + 2], other_case(c), '-', other_case(src[i + 2])};
                    buf_put(out, r, 6);
                    i += 3;
                    continue;
                }
                char r[2] = {c, other_case(c)};
                buf_put(out, r, 2);
                i++;
                continue;
            }
            buf_putc(out, c);
            i++;
            continue;
        }
        if (c == '[') {
            in_class = 1;
            buf_putc(out, c);
            i++;
            if (i < n && src[i] == '^') { buf_putc(out, '^'); i++; }
            class_first = 1;
            continue;
        }
        if (c == '(') {
            if (depth < 128) fold_stack[depth] = fold;
            depth++;
            if (n - i >= 4 && memcmp(src + i, "(?i:", 4) == 0) {
                fold = 1;
                buf_put(out, "(?:", 3);
                i += 4;
                continue;
            }
            if (n - i >= 4 && memcmp(src + i, "(?i)", 4) == 0) { // applies to the rest of the group
                depth--;
                fold = 1;
                i += 4;
                continue;
            }
            buf_putc(out, c);
            i++;
            // Group prefixes: copy names verbatim so their letters are not folded.
            if (i < n && src[i] == '?') {
                size_t j = i + 1;
                if (j < n && (src[j] == '<' || src[j] == 'P' || src[j] == '\'')) {
                    size_t k = j;
                    while (k < n && src[k] != '>' && src[k] != '\'' && src[k] != ')') k++;
                    if (j + 1 < n && (src[j + 1] == '=' || src[j + 1] == '!')) k = j + 1;
                    buf_put(out, src + i, k + 1 - i);
                    i = k + 1;
                }
            }
            continue;
        }
        if (c == ')') {
            if (depth > 0) { depth--; if (depth < 128) fold = fold_stack[depth]; }
            buf_putc(out, c);
            i++;
            continue;
        }
        if (c == '{') { // quantifier or literal brace: digits and commas only
            size_t j = i + 1;
            while (j < n && ((src[j] >= '0' && src[j] <= '9') || src[j] == ',')) j++;
            if (j < n && src[j] == '}' && j > i + 1) { buf_put(out, src + i, j + 1 - i); i = j + 1; continue; }
            buf_put(out, "\\{", 2);
            i++;
            continue;
        }
        if (fold && is_alpha_ascii(c)) {
            char r[4] = {'[', c, other_case(c), ']'};
            buf_put(out, r, 4);
            i++;
            continue;
        }
        buf_putc(out, c);
        i++;
    }
}

// Compiles a pattern; literal=1 matches the string as is. Returns 0 or -1 with msg filled.
int tok_regex_compile(Regex* r, const char* pat, size_t len, int literal, int translate, char* msg, size_t msgn) {
    Buf tr = {0};
    const char* src = pat;
    size_t srclen = len;
    if (!literal && translate) {
        regex_translate(pat, len, &tr);
        src = tr.p;
        srclen = tr.n;
    }
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    r->code = pcre2_compile((PCRE2_SPTR)src, srclen, opts, &ec, &eo, NULL);
    if (!r->code) {
        PCRE2_UCHAR m[256];
        pcre2_get_error_message(ec, m, sizeof m);
        snprintf(msg, msgn, "invalid pattern (PCRE2 at offset %zu: %s)", (size_t)eo, (const char*)m);
        buf_free(&tr);
        return -1;
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); // falls back to the interpreter if JIT is missing
    buf_free(&tr);
    return 0;
}

void tok_regex_free(Regex* r) {
    if (r->code) pcre2_code_free(r->code);
    r->code = NULL;
}

// One match attempt at or after pos. JIT code runs on a small machine stack; if a pattern needs
// more, the interpreter (which backtracks on the heap) takes over.
int tok_regex_match(const Regex* r, const char* s, size_t n, size_t pos, pcre2_match_data* md) {
    int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
    return rc;
}

// Appends every non-empty match in s[0..n) to out as (start, len) spans. After an empty match the
// search resumes one character later, as JavaScript's matchAll does. Returns -1 on a PCRE2 error.
int tok_regex_find_all(const Regex* r, pcre2_match_data* md, const char* s, size_t n, SpanVec* out) {
    size_t pos = 0;
    while (pos <= n) {
        int rc = tok_regex_match(r, s, n, pos, md);
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc < 0) return -1;
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        if (b > a) {
            sv_push(out, a, b - a);
            pos = b;
        } else {
            if (a >= n) return 0;
            int32_t cp;
            pos = a + (size_t)tok_utf8_next((const unsigned char*)s + a, n - a, &cp);
        }
    }
    return 0;
}

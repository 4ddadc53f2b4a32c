// tokenizer.c: Hugging Face tokenizer.json -> Tokenizer; encode (added tokens, normalizers,
// pre-tokenizers, BPE, post-processor) and decode (per-token byte table, WHATWG UTF-8, strip).
// The pipeline follows the Rust `tokenizers` library. Hugging Face's JS port (our test oracle,
// tests/e2e/test_tokenizer_ref.sh) agrees with it on everything the Qwen3, Llama-3 and Mistral
// files use; where the two differ we take Rust's side: \s is Unicode White_Space (JS's built-in
// ByteLevel regex, WhitespaceSplit and Strip use ECMAScript \s, which adds U+FEFF and lacks U+0085),
// Digits and Whitespace are Unicode-aware (JS: ASCII \d, \w), Punctuation isolates each character
// (JS merges runs), StripAccents removes Mn only (JS: all marks), Lowercase has no final-sigma rule.
// Regexes written for Oniguruma are translated to PCRE2 (see regex_translate).
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

// ----------------------------------------------------------------------------
// growable buffers

typedef struct {
    char* p;
    size_t n, cap;
} Buf;

static void buf_reserve(Buf* b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}
static void buf_put(Buf* b, const void* s, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void buf_putc(Buf* b, char c) { buf_put(b, &c, 1); }
static void buf_free(Buf* b) { free(b->p); memset(b, 0, sizeof *b); }

typedef struct {
    int* p;
    int n, cap;
} IntVec;

static void iv_push(IntVec* v, int x) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->p = xrealloc(v->p, (size_t)v->cap * sizeof(int));
    }
    v->p[v->n++] = x;
}

typedef struct {
    size_t off, len;
} Span;

typedef struct {
    Span* p;
    int n, cap;
} SpanVec;

static void sv_push(SpanVec* v, size_t off, size_t len) {
    if (len == 0) return; // empty pieces never reach the model (Rust filters them too)
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->p = xrealloc(v->p, (size_t)v->cap * sizeof(Span));
    }
    v->p[v->n].off = off;
    v->p[v->n].len = len;
    v->n++;
}

// ----------------------------------------------------------------------------
// UTF-8

// Decodes one character of valid UTF-8; returns its length.
static int utf8_next(const unsigned char* s, size_t n, int32_t* cp) {
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
static int utf8_valid_char(const unsigned char* s, size_t n) {
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

static int utf8_is_valid(const char* s, size_t n) {
    const unsigned char* u = (const unsigned char*)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        int l = utf8_valid_char(u + i, n - i);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

static int utf8_encode(int32_t cp, char* out) {
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
static int is_white_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

// Rust regex's \w: alphabetic, marks, decimal digits, connector punctuation, joiners.
static int is_word_char(int32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    utf8proc_category_t cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME) || cat == UTF8PROC_CATEGORY_ND ||
           cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_PC || c == 0x200C || c == 0x200D;
}

// Copies s into out replacing invalid UTF-8 by U+FFFD, one per maximal invalid subpart (WHATWG).
static void utf8_sanitize(const char* s, size_t n, Buf* out) {
    const unsigned char* u = (const unsigned char*)s;
    size_t i = 0;
    out->n = 0;
    buf_reserve(out, n + 16);
    while (i < n) {
        int l = utf8_valid_char(u + i, n - i);
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

// ----------------------------------------------------------------------------
// hashing: bytes -> id, and (id, id) -> merge

static uint64_t hash_bytes(const void* p, size_t n) {
    const unsigned char* s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

typedef struct {
    uint32_t off, len; // key bytes in the owning arena
    int32_t id;        // -1: empty slot
    uint32_t h;
} StrSlot;

typedef struct {
    StrSlot* slots;
    size_t mask;
    size_t count;
} StrMap;

static void strmap_init(StrMap* m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = xmalloc(cap * sizeof(StrSlot));
    for (size_t i = 0; i < cap; i++) m->slots[i].id = -1;
    m->mask = cap - 1;
    m->count = 0;
}

static int strmap_get(const StrMap* m, const char* arena, const void* key, size_t len) {
    if (!m->slots) return -1;
    uint64_t h = hash_bytes(key, len);
    size_t i = (size_t)h & m->mask;
    for (;;) {
        const StrSlot* s = &m->slots[i];
        if (s->id < 0) return -1;
        if (s->h == (uint32_t)h && s->len == len && memcmp(arena + s->off, key, len) == 0) return s->id;
        i = (i + 1) & m->mask;
    }
}

// Inserts or overwrites key (already stored at arena+off).
static void strmap_put(StrMap* m, const char* arena, uint32_t off, uint32_t len, int id) {
    uint64_t h = hash_bytes(arena + off, len);
    size_t i = (size_t)h & m->mask;
    for (;;) {
        StrSlot* s = &m->slots[i];
        if (s->id < 0) {
            s->off = off; s->len = len; s->id = id; s->h = (uint32_t)h;
            m->count++;
            return;
        }
        if (s->h == (uint32_t)h && s->len == len && memcmp(arena + s->off, arena + off, len) == 0) {
            s->id = id;
            return;
        }
        i = (i + 1) & m->mask;
    }
}

typedef struct {
    uint64_t key; // (left << 32) | right; UINT64_MAX: empty
    int32_t rank, new_id;
} PairSlot;

typedef struct {
    PairSlot* slots;
    size_t mask;
} PairMap;

static inline uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
static inline size_t pair_hash(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17); }

static void pairmap_init(PairMap* m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = xmalloc(cap * sizeof(PairSlot));
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
}

static const PairSlot* pairmap_get(const PairMap* m, int a, int b) {
    uint64_t k = pair_key(a, b);
    size_t i = pair_hash(k) & m->mask;
    for (;;) {
        const PairSlot* s = &m->slots[i];
        if (s->key == k) return s;
        if (s->key == UINT64_MAX) return NULL;
        i = (i + 1) & m->mask;
    }
}

// A repeated merge takes the later rank, as both reference implementations do (map overwrite).
static void pairmap_put(PairMap* m, int a, int b, int rank, int new_id) {
    uint64_t k = pair_key(a, b);
    size_t i = pair_hash(k) & m->mask;
    for (;;) {
        PairSlot* s = &m->slots[i];
        if (s->key == UINT64_MAX || s->key == k) {
            s->key = k; s->rank = rank; s->new_id = new_id;
            return;
        }
        i = (i + 1) & m->mask;
    }
}

// ----------------------------------------------------------------------------
// regexes: Oniguruma syntax (as written in tokenizer.json) -> PCRE2

typedef struct {
    pcre2_code* code;
} Regex;

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
    int l = utf8_valid_char((const unsigned char*)src + j, n - j);
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
static int regex_compile(Regex* r, const char* pat, size_t len, int literal, int translate, char* msg, size_t msgn) {
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

static void regex_free(Regex* r) {
    if (r->code) pcre2_code_free(r->code);
    r->code = NULL;
}

// One match attempt at or after pos. JIT code runs on a small machine stack; if a pattern needs
// more, the interpreter (which backtracks on the heap) takes over.
static int regex_match(const Regex* r, const char* s, size_t n, size_t pos, pcre2_match_data* md) {
    int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
    return rc;
}

// Appends every non-empty match in s[0..n) to out as (start, len) spans. After an empty match the
// search resumes one character later, as JavaScript's matchAll does. Returns -1 on a PCRE2 error.
static int regex_find_all(const Regex* r, pcre2_match_data* md, const char* s, size_t n, SpanVec* out) {
    size_t pos = 0;
    while (pos <= n) {
        int rc = regex_match(r, s, n, pos, md);
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
            pos = a + (size_t)utf8_next((const unsigned char*)s + a, n - a, &cp);
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// tokenizer state

enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD, NORM_LOWER, NORM_STRIP, NORM_STRIP_ACCENTS, NORM_REPLACE, NORM_PREPEND };
typedef struct {
    int kind;
    int left, right; // Strip
    Regex re;        // Replace
    char* content;   // Replace / Prepend
} NormStep;

enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };
enum { PRE_SPLIT, PRE_PREFIX_SPACE, PRE_METASPACE };
enum { PREPEND_NEVER, PREPEND_ALWAYS, PREPEND_FIRST };
typedef struct {
    int kind;
    Regex re;        // Split
    int behavior, invert;
    char repl[8];    // Metaspace replacement (UTF-8)
    int repl_len;
    int prepend;     // Metaspace prepend scheme
} PreStep;

enum { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
typedef struct {
    int kind;
    Regex re;
    char* content;
    char strip_char[8];
    int strip_len, start, stop;
    char repl[8];
    int repl_len;
    int prepend;
} DecStep;

typedef struct {
    char* content;
    size_t len;
    char* norm; // content after the normalizer (normalized tokens only)
    size_t norm_len;
    int id;
    unsigned char lstrip, rstrip, single_word, normalized, special;
} AddedTok;

// Added tokens grouped by first byte, longest first, so the leftmost-longest match is the first
// candidate that matches at the leftmost position.
typedef struct {
    int* order;      // indices into added[]
    int start[257];  // order[start[b] .. start[b+1]) begin with byte b
    int n;
} AddedIndex;

struct TokenizerImpl {
    char* name;
    // model
    char** piece;            // (vocab_size) token string as in tokenizer.json, NULL for holes
    Buf model_bytes;         // arena of keys for vocab_map
    StrMap vocab_map;        // model bytes -> id (byte-level: raw bytes; else UTF-8)
    PairMap merges;
    int n_merges;
    int byte_id[256];        // byte-level: id of each single byte, -1 if missing
    int fallback_id[256];    // id of "<0xNN>", -1 if missing
    int byte_fallback, fuse_unk, ignore_merges;
    char meta[8];            // SentencePiece style: metaspace that no token has after another
    int meta_len;            // character, so a word can be cut before it (0: no such cut)
    int meta_id;             // its id (-1 if not in the vocab)
    int16_t u2b[324];        // bytes-to-unicode inverse (code point -> byte), -1 if none
    uint16_t b2u[256];
    // added tokens
    AddedTok* added;
    int n_added;
    AddedIndex raw_index, norm_index;
    unsigned char* flags;    // (vocab_size) FLAG_*
    // pipeline
    NormStep* norm;
    int n_norm;
    PreStep* pre;
    int n_pre;
    DecStep* dec;
    int n_dec;
    IntVec prefix, suffix;   // post-processor ids around a single sequence
    // decode table
    uint32_t* dec_off;       // (vocab_size) bytes of each token after the per-token decoder steps
    uint32_t* dec_len;
    Buf dec_bytes;
    char strip_char[8];      // global Strip decoder (after Fuse) and Metaspace first-token strip
    int strip_len, strip_start, strip_stop;
    int join_space;          // no decoder: tokens joined with ' '
};

enum { FLAG_ADDED = 1, FLAG_SPECIAL = 2 };

// ----------------------------------------------------------------------------
// per-call scratch (encode is reentrant: all mutable state lives here)

typedef struct {
    int32_t id;
    int32_t prev, next;
    uint32_t start, len;
} Sym;

typedef struct {
    int32_t rank, pos, right, left_id, right_id, new_id;
} HeapEnt;

typedef struct {
    pcre2_match_data* md;
    Buf nbuf[2];
    Buf pbuf[2];
    int32_t* u32;      // utf8proc working buffer
    size_t u32_cap;
    SpanVec spans[2];
    SpanVec matches;
    Sym* sym;
    size_t sym_cap;
    HeapEnt* heap;
    size_t heap_n, heap_cap;
    int last_unk;
    // word cache for long texts: word bytes -> ids (words repeat, and BPE is the costly part)
    struct CacheEnt* cache;
    size_t cache_mask, cache_n;
    Buf cache_keys;
    IntVec cache_ids;
    // tokenizer_pre_tokenize: pieces go to this callback instead of the model
    void (*piece_fn)(void* ctx, const char* piece, size_t n);
    void* piece_ctx;
} Ctx;

typedef struct CacheEnt { // 16 bytes: the table is probed at random, so keep it small
    uint32_t h;
    uint32_t key_off, ids_off;
    uint16_t key_len, n_ids; // n_ids 0: empty slot
} CacheEnt;

static void ctx_init(Ctx* c) {
    memset(c, 0, sizeof *c);
    c->md = pcre2_match_data_create(32, NULL);
}

static void ctx_free(Ctx* c) {
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
static void ctx_cache_init(Ctx* c, size_t len) {
    if (len < 4096) return;
    size_t cap = 1024;
    while (cap < len / 8 && cap < CACHE_MAX) cap *= 2;
    c->cache = xcalloc(cap, sizeof(CacheEnt));
    c->cache_mask = cap - 1;
}

// ----------------------------------------------------------------------------
// normalizers

// Normalizes one stretch with utf8proc into dst, through the context's UTF-32 buffer.
static void normalize_island(Ctx* c, int opts, const char* s, size_t n, Buf* dst) {
    for (;;) {
        utf8proc_ssize_t k = utf8proc_decompose((const utf8proc_uint8_t*)s, (utf8proc_ssize_t)n, c->u32,
                                                (utf8proc_ssize_t)c->u32_cap, (utf8proc_option_t)opts);
        if (k < 0) { buf_put(dst, s, n); return; } // cannot happen on sanitized text
        if ((size_t)k > c->u32_cap) {
            c->u32_cap = (size_t)k + 64;
            c->u32 = xrealloc(c->u32, c->u32_cap * sizeof(int32_t));
            continue;
        }
        // reencode composes (when asked), then writes UTF-8 over the buffer
        utf8proc_ssize_t b = utf8proc_reencode(c->u32, k, (utf8proc_option_t)opts);
        if (b < 0) { buf_put(dst, s, n); return; }
        buf_put(dst, c->u32, (size_t)b);
        return;
    }
}

// Unicode normalization of s[0..n) into dst. ASCII is invariant under every form, and no
// character composes with an ASCII character before it, so only "islands" go through utf8proc:
// a run holding non-ASCII text, from the ASCII character before it (a base a combining mark may
// join) to the next ASCII character that is followed by ASCII or by the end.
static void unicode_normalize(Ctx* c, int opts, const char* s, size_t n, Buf* dst) {
    const unsigned char* u = (const unsigned char*)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && u[j] < 0x80) j++;
        if (j == n) { buf_put(dst, s + i, n - i); return; }
        size_t a = j > i ? j - 1 : j;
        buf_put(dst, s + i, a - i);
        size_t k = j;
        while (k < n && (u[k] >= 0x80 || (k + 1 < n && u[k + 1] >= 0x80))) k++;
        normalize_island(c, opts, s + a, k - a, dst);
        i = k;
    }
}

// Runs the normalizer on s[0..n); the result lives in s itself or in one of c->nbuf.
static const char* normalize(const TokenizerImpl* m, Ctx* c, const char* s, size_t n, size_t* out_n) {
    const char* cur = s;
    size_t cur_n = n;
    int k = 0;
    for (int si = 0; si < m->n_norm; si++) {
        const NormStep* st = &m->norm[si];
        Buf* dst = &c->nbuf[k];
        dst->n = 0;
        buf_reserve(dst, cur_n + 8);
        switch (st->kind) {
        case NORM_NFC: case NORM_NFD: case NORM_NFKC: case NORM_NFKD: {
            size_t i = 0;
            while (i < cur_n && (unsigned char)cur[i] < 0x80) i++;
            if (i == cur_n) continue; // ASCII is invariant under every normalization form
            int opts = UTF8PROC_STABLE;
            if (st->kind == NORM_NFC) opts |= UTF8PROC_COMPOSE;
            if (st->kind == NORM_NFD) opts |= UTF8PROC_DECOMPOSE;
            if (st->kind == NORM_NFKC) opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
            if (st->kind == NORM_NFKD) opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
            unicode_normalize(c, opts, cur, cur_n, dst);
            break;
        }
        case NORM_LOWER: {
            const unsigned char* u = (const unsigned char*)cur;
            for (size_t i = 0; i < cur_n;) {
                if (u[i] < 0x80) {
                    char ch = (char)u[i];
                    if (ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
                    buf_putc(dst, ch);
                    i++;
                    continue;
                }
                int32_t cp;
                int l = utf8_next(u + i, cur_n - i, &cp);
                char e[4];
                if (cp == 0x130) buf_put(dst, "i\xCC\x87", 3); // İ lowercases to i + combining dot
                else buf_put(dst, e, (size_t)utf8_encode(utf8proc_tolower(cp), e));
                i += (size_t)l;
            }
            break;
        }
        case NORM_STRIP: {
            const unsigned char* u = (const unsigned char*)cur;
            size_t a = 0, b = cur_n;
            while (st->left && a < b) {
                int32_t cp;
                int l = utf8_next(u + a, b - a, &cp);
                if (!is_white_space(cp)) break;
                a += (size_t)l;
            }
            while (st->right && b > a) {
                size_t p = b - 1;
                while (p > a && (u[p] & 0xC0) == 0x80) p--;
                int32_t cp;
                utf8_next(u + p, b - p, &cp);
                if (!is_white_space(cp)) break;
                b = p;
            }
            buf_put(dst, cur + a, b - a);
            break;
        }
        case NORM_STRIP_ACCENTS: {
            const unsigned char* u = (const unsigned char*)cur;
            for (size_t i = 0; i < cur_n;) {
                int32_t cp;
                int l = utf8_next(u + i, cur_n - i, &cp);
                if (cp < 0x300 || utf8proc_category(cp) != UTF8PROC_CATEGORY_MN) buf_put(dst, cur + i, (size_t)l);
                i += (size_t)l;
            }
            break;
        }
        case NORM_REPLACE: {
            c->matches.n = 0;
            regex_find_all(&st->re, c->md, cur, cur_n, &c->matches);
            size_t pos = 0, cl = strlen(st->content);
            for (int j = 0; j < c->matches.n; j++) {
                buf_put(dst, cur + pos, c->matches.p[j].off - pos);
                buf_put(dst, st->content, cl);
                pos = c->matches.p[j].off + c->matches.p[j].len;
            }
            buf_put(dst, cur + pos, cur_n - pos);
            break;
        }
        case NORM_PREPEND:
            if (cur_n == 0) continue; // Rust prepends only to non-empty strings
            buf_put(dst, st->content, strlen(st->content));
            buf_put(dst, cur, cur_n);
            break;
        }
        cur = dst->p;
        cur_n = dst->n;
        k ^= 1;
    }
    *out_n = cur_n;
    return cur;
}

// ----------------------------------------------------------------------------
// pre-tokenizers

typedef struct {
    int has, prev_match;
    size_t off, len;
} Fold;

// One element of a split (a match or the gap between matches) folded per Rust's
// SplitDelimiterBehavior; spans are absolute offsets into the piece's buffer.
static void fold_elem(int behavior, Fold* f, SpanVec* dst, size_t off, size_t len, int is_match) {
    switch (behavior) {
    case SPLIT_REMOVED:
        if (!is_match) sv_push(dst, off, len);
        break;
    case SPLIT_ISOLATED:
        sv_push(dst, off, len);
        break;
    case SPLIT_MERGED_PREV:
        if (is_match && !f->prev_match && f->has) f->len += len;
        else {
            if (f->has) sv_push(dst, f->off, f->len);
            f->has = 1; f->off = off; f->len = len;
        }
        f->prev_match = is_match;
        break;
    case SPLIT_MERGED_NEXT: // a match is glued to the following non-match
        if (f->has) {
            if (!is_match) { sv_push(dst, f->off, off + len - f->off); f->has = 0; }
            else { sv_push(dst, f->off, f->len); f->off = off; f->len = len; }
        } else if (is_match) {
            f->has = 1; f->off = off; f->len = len;
        } else sv_push(dst, off, len);
        break;
    case SPLIT_CONTIGUOUS:
        if (f->has && is_match == f->prev_match) f->len += len;
        else {
            if (f->has) sv_push(dst, f->off, f->len);
            f->has = 1; f->off = off; f->len = len;
        }
        f->prev_match = is_match;
        break;
    }
}

static void model_pieces(const Tokenizer* t, Ctx* c, const char* base, SpanVec* sp, IntVec* out);

// Splits one piece with a Split step. With a sink (the last pre-tokenizer step) finished pieces
// go to the model in batches, so a long text never holds all its pre-tokens at once.
static void split_piece(const Tokenizer* t, const PreStep* st, Ctx* c, const char* base, Span sp, SpanVec* dst, IntVec* sink) {
    const char* s = base + sp.off;
    Fold f = {0};
    size_t pos = 0, at = 0;
    while (at <= sp.len) {
        int rc = regex_match(&st->re, s, sp.len, at, c->md);
        if (rc < 0) break; // no match (or a PCRE2 resource error: the rest stays one piece)
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(c->md);
        size_t a = ov[0], b = ov[1];
        if (b == a) { // empty match: resume one character later, as JavaScript's matchAll does
            if (a >= sp.len) break;
            int32_t cp;
            at = a + (size_t)utf8_next((const unsigned char*)s + a, sp.len - a, &cp);
            continue;
        }
        if (a > pos) fold_elem(st->behavior, &f, dst, sp.off + pos, a - pos, st->invert);
        fold_elem(st->behavior, &f, dst, sp.off + a, b - a, !st->invert);
        pos = at = b;
        if (sink && dst->n >= 256) model_pieces(t, c, base, dst, sink);
    }
    if (pos < sp.len) fold_elem(st->behavior, &f, dst, sp.off + pos, sp.len - pos, st->invert);
    if (f.has) sv_push(dst, f.off, f.len);
}

// Pre-tokenizes s[0..n) and encodes every piece with the model.
static void pretokenize_encode(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out) {
    const TokenizerImpl* m = t->impl;
    int si = 0, pb = 0;
    SpanVec* cur = &c->spans[0];
    cur->n = 0;
    sv_push(cur, 0, n);
    const char* base = s;
    c->last_unk = 0;
    for (int k = 0; k < m->n_pre; k++) {
        const PreStep* st = &m->pre[k];
        SpanVec* dst = &c->spans[si ^ 1];
        dst->n = 0;
        if (st->kind == PRE_SPLIT) {
            IntVec* sink = k == m->n_pre - 1 ? out : NULL;
            for (int j = 0; j < cur->n; j++) split_piece(t, st, c, base, cur->p[j], dst, sink);
        } else {
            Buf* b = &c->pbuf[pb];
            b->n = 0;
            for (int j = 0; j < cur->n; j++) {
                Span sp = cur->p[j];
                size_t off = b->n;
                const char* p = base + sp.off;
                if (st->kind == PRE_PREFIX_SPACE) {
                    if (p[0] != ' ') buf_putc(b, ' ');
                    buf_put(b, p, sp.len);
                } else { // PRE_METASPACE: spaces -> replacement, then maybe prepend one
                    int starts = (p[0] == ' ') || (sp.len >= (size_t)st->repl_len && memcmp(p, st->repl, (size_t)st->repl_len) == 0);
                    int want = st->prepend == PREPEND_ALWAYS || (st->prepend == PREPEND_FIRST && section_index == 0 && j == 0);
                    if (want && !starts) buf_put(b, st->repl, (size_t)st->repl_len);
                    for (size_t i = 0; i < sp.len; i++) {
                        if (p[i] == ' ') buf_put(b, st->repl, (size_t)st->repl_len);
                        else buf_putc(b, p[i]);
                    }
                }
                sv_push(dst, off, b->n - off);
            }
            base = b->p;
            pb ^= 1;
        }
        cur = dst;
        si ^= 1;
    }
    model_pieces(t, c, base, cur, out);
}

// ----------------------------------------------------------------------------
// BPE model

static inline int heap_less(const HeapEnt* a, const HeapEnt* b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(Ctx* c, HeapEnt e) {
    if (c->heap_n == c->heap_cap) {
        c->heap_cap = c->heap_cap ? c->heap_cap * 2 : 256;
        c->heap = xrealloc(c->heap, c->heap_cap * sizeof(HeapEnt));
    }
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &c->heap[p])) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = e;
}

static HeapEnt heap_pop(Ctx* c) {
    HeapEnt top = c->heap[0];
    HeapEnt last = c->heap[--c->heap_n];
    size_t i = 0, n = c->heap_n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t r = l + 1, m = (r < n && heap_less(&c->heap[r], &c->heap[l])) ? r : l;
        if (!heap_less(&c->heap[m], &last)) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n > 0) c->heap[i] = last;
    return top;
}

static inline void try_pair(const TokenizerImpl* m, Ctx* c, int a, int b) {
    int ia = c->sym[a].id, ib = c->sym[b].id;
    if (ia < 0 || ib < 0) return;
    const PairSlot* p = pairmap_get(&m->merges, ia, ib);
    if (!p) return;
    HeapEnt e = {p->rank, a, b, ia, ib, p->new_id};
    heap_push(c, e);
}

// A symbol the vocab does not know: <0xNN> tokens when byte_fallback has them all, else the unk
// token (consecutive unks fused into one when fuse_unk), else nothing, as the reference does.
static void emit_unknown(const TokenizerImpl* m, const Tokenizer* t, Ctx* c, const unsigned char* s, size_t len, IntVec* out) {
    if (m->byte_fallback) {
        int ok = 1;
        for (size_t i = 0; i < len; i++) ok &= m->fallback_id[s[i]] >= 0;
        if (ok) {
            for (size_t i = 0; i < len; i++) iv_push(out, m->fallback_id[s[i]]);
            c->last_unk = 0;
            return;
        }
    }
    if (t->unk_id >= 0) {
        if (m->fuse_unk && c->last_unk) return;
        iv_push(out, t->unk_id);
        c->last_unk = 1;
    }
}

// Encodes one pre-token: start from bytes (byte-level) or characters, then repeatedly apply the
// lowest-ranked merge present, leftmost first on ties (a min-heap of candidate pairs with lazy
// invalidation, O(n log n) per word).
static void bpe_word(const Tokenizer* t, Ctx* c, const char* w, size_t n, IntVec* out) {
    const TokenizerImpl* m = t->impl;
    if (n == 0) return;
    uint64_t h = 0;
    CacheEnt* slot = NULL;
    if (c->cache && n <= 64) {
        h = hash_bytes(w, n);
        size_t i = (size_t)h & c->cache_mask;
        for (;;) {
            CacheEnt* e = &c->cache[i];
            if (e->n_ids == 0) { slot = e; break; }
            if (e->h == (uint32_t)h && e->key_len == n && memcmp(c->cache_keys.p + e->key_off, w, n) == 0) {
                for (int k = 0; k < e->n_ids; k++) iv_push(out, c->cache_ids.p[e->ids_off + k]);
                c->last_unk = 0; // words that produce unk are never cached
                return;
            }
            i = (i + 1) & c->cache_mask;
        }
        if (c->cache_n * 2 > c->cache_mask) slot = NULL; // full enough: stop caching
    }
    if (m->ignore_merges) { // a word that is itself a token is not split (Llama-3)
        int id = strmap_get(&m->vocab_map, m->model_bytes.p, w, n);
        if (id >= 0) { iv_push(out, id); c->last_unk = (id == t->unk_id); return; }
    }
    int out_start = out->n;
    if (c->sym_cap < n) {
        c->sym_cap = n < 64 ? 64 : n;
        c->sym = xrealloc(c->sym, c->sym_cap * sizeof(Sym));
    }
    const unsigned char* u = (const unsigned char*)w;
    int ns = 0;
    for (size_t i = 0; i < n;) {
        Sym* s = &c->sym[ns];
        size_t l = 1;
        if (t->byte_level || u[i] < 0x80) s->id = m->byte_id[u[i]];
        else {
            int32_t cp;
            l = (size_t)utf8_next(u + i, n - i, &cp);
            if (l == (size_t)m->meta_len && memcmp(w + i, m->meta, l) == 0) s->id = m->meta_id;
            else s->id = strmap_get(&m->vocab_map, m->model_bytes.p, w + i, l);
        }
        s->prev = ns - 1;
        s->next = ns + 1;
        s->start = (uint32_t)i;
        s->len = (uint32_t)l;
        ns++;
        i += l;
    }
    c->sym[ns - 1].next = -1;
    if (ns > 1 && m->n_merges > 0) {
        c->heap_n = 0;
        for (int i = 0; i + 1 < ns; i++) try_pair(m, c, i, i + 1);
        while (c->heap_n > 0) {
            HeapEnt e = heap_pop(c);
            Sym* L = &c->sym[e.pos];
            if (L->len == 0 || L->next != e.right || L->id != e.left_id) continue; // stale
            Sym* R = &c->sym[e.right];
            if (R->id != e.right_id) continue;
            L->id = e.new_id;
            L->len += R->len;
            L->next = R->next;
            if (R->next >= 0) c->sym[R->next].prev = e.pos;
            R->len = 0;
            if (L->prev >= 0) try_pair(m, c, L->prev, e.pos);
            if (L->next >= 0) try_pair(m, c, e.pos, L->next);
        }
    }
    int any_unk = 0;
    for (int i = 0; i >= 0; i = c->sym[i].next) {
        const Sym* s = &c->sym[i];
        if (s->id >= 0) { iv_push(out, s->id); c->last_unk = (s->id == t->unk_id); }
        else emit_unknown(m, t, c, u + s->start, s->len, out);
        any_unk |= c->last_unk;
    }
    int n_ids = out->n - out_start;
    if (slot && !any_unk && n_ids > 0 && n_ids < 65536) {
        slot->h = (uint32_t)h;
        slot->key_off = (uint32_t)c->cache_keys.n;
        slot->key_len = (uint16_t)n;
        slot->ids_off = (uint32_t)c->cache_ids.n;
        slot->n_ids = (uint16_t)n_ids;
        buf_put(&c->cache_keys, w, n);
        for (int k = 0; k < n_ids; k++) iv_push(&c->cache_ids, out->p[out_start + k]);
        c->cache_n++;
    }
}

// ----------------------------------------------------------------------------
// added tokens

// Finds the leftmost-longest added token in s[from..n); returns its index or -1.
static int added_find(const TokenizerImpl* m, const AddedIndex* ix, const char* s, size_t n, size_t from, size_t* at) {
    const unsigned char* u = (const unsigned char*)s;
    for (size_t i = from; i < n; i++) {
        int a = ix->start[u[i]], b = ix->start[u[i] + 1];
        for (int k = a; k < b; k++) {
            const AddedTok* tk = &m->added[ix->order[k]];
            const char* content = tk->normalized ? tk->norm : tk->content;
            size_t len = tk->normalized ? tk->norm_len : tk->len;
            if (len <= n - i && memcmp(s + i, content, len) == 0) { *at = i; return ix->order[k]; }
        }
    }
    return -1;
}

typedef void (*SegFn)(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out);

// Splits s on the added tokens of one index (Rust's AddedVocabulary::find_matches): text between
// matches goes to fn, matched tokens go straight to out. single_word matches touching a word
// character are dropped; lstrip/rstrip swallow the whitespace beside the token.
static void split_added(const Tokenizer* t, Ctx* c, const AddedIndex* ix, const char* s, size_t n, int section,
                        SegFn fn, IntVec* out) {
    const TokenizerImpl* m = t->impl;
    const unsigned char* u = (const unsigned char*)s;
    size_t pos = 0, scan = 0, at;
    int k;
    while (ix->n > 0 && (k = added_find(m, ix, s, n, scan, &at)) >= 0) {
        const AddedTok* tk = &m->added[k];
        size_t len = tk->normalized ? tk->norm_len : tk->len;
        size_t start = at, stop = at + len;
        scan = stop;
        if (tk->single_word) {
            int32_t cp;
            if (start > 0) {
                size_t p = start - 1;
                while (p > 0 && (u[p] & 0xC0) == 0x80) p--;
                utf8_next(u + p, start - p, &cp);
                if (is_word_char(cp)) continue;
            }
            if (stop < n) {
                utf8_next(u + stop, n - stop, &cp);
                if (is_word_char(cp)) continue;
            }
        }
        if (tk->lstrip) {
            while (start > pos) {
                size_t p = start - 1;
                while (p > pos && (u[p] & 0xC0) == 0x80) p--;
                int32_t cp;
                utf8_next(u + p, start - p, &cp);
                if (!is_white_space(cp)) break;
                start = p;
            }
        }
        if (tk->rstrip) {
            while (stop < n) {
                int32_t cp;
                int l = utf8_next(u + stop, n - stop, &cp);
                if (!is_white_space(cp)) break;
                stop += (size_t)l;
            }
        }
        if (start > pos) fn(t, c, s + pos, start - pos, section++, out);
        iv_push(out, tk->id);
        section++;
        pos = scan = stop;
    }
    if (pos < n) fn(t, c, s + pos, n - pos, section, out);
}

// Runs BPE on each piece and empties sp.
static void model_pieces(const Tokenizer* t, Ctx* c, const char* base, SpanVec* sp, IntVec* out) {
    const TokenizerImpl* m = t->impl;
    if (c->piece_fn) {
        for (int j = 0; j < sp->n; j++) c->piece_fn(c->piece_ctx, base + sp->p[j].off, sp->p[j].len);
        sp->n = 0;
        return;
    }
    for (int j = 0; j < sp->n; j++) {
        const char* w = base + sp->p[j].off;
        size_t n = sp->p[j].len;
        if (m->meta_len == 0) { bpe_word(t, c, w, n, out); continue; }
        // No merge can span "x|metaspace" (x not a metaspace), so cutting there gives the same
        // tokens and keeps BPE words short when there is no pre-tokenizer (Llama-2, Mistral).
        size_t ml = (size_t)m->meta_len, a = 0;
        for (size_t i = 1; i + ml <= n; i++) {
            if (memcmp(w + i, m->meta, ml) != 0) continue;
            if (i >= ml && memcmp(w + i - ml, m->meta, ml) == 0) continue;
            bpe_word(t, c, w + a, i - a, out);
            a = i;
        }
        bpe_word(t, c, w + a, n - a, out);
    }
    sp->n = 0;
}

// Text between non-normalized added tokens: normalize (per section: the "legacy" behaviour both
// references share), then split on normalized added tokens. The first piece keeps the section
// index (Metaspace's prepend_scheme "first" looks at it); later pieces count as later sections.
static void encode_section(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out) {
    size_t nn;
    const char* ns = normalize(t->impl, c, s, n, &nn);
    if (nn == 0) return;
    split_added(t, c, &t->impl->norm_index, ns, nn, section_index, pretokenize_encode, out);
}

int tokenizer_encode(const Tokenizer* t, const char* text, size_t len, int add_special, int** ids, int* n, Err* err) {
    *ids = NULL;
    *n = 0;
    if (!t || !t->impl) return err_set(err, "tokenizer_encode: tokenizer not loaded");
    if (!text && len) return err_set(err, "tokenizer_encode: text is NULL");
    const TokenizerImpl* m = t->impl;
    Buf clean = {0};
    const char* s = text ? text : "";
    if (!utf8_is_valid(s, len)) {
        utf8_sanitize(s, len, &clean);
        s = clean.p;
        len = clean.n;
    }
    Ctx c;
    ctx_init(&c);
    ctx_cache_init(&c, len);
    IntVec out = {0};
    if (add_special) for (int i = 0; i < m->prefix.n; i++) iv_push(&out, m->prefix.p[i]);
    split_added(t, &c, &m->raw_index, s, len, 0, encode_section, &out);
    if (add_special) for (int i = 0; i < m->suffix.n; i++) iv_push(&out, m->suffix.p[i]);
    ctx_free(&c);
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
    const char* s = text ? text : "";
    if (!utf8_is_valid(s, len)) {
        utf8_sanitize(s, len, &clean);
        s = clean.p;
        len = clean.n;
    }
    Ctx c;
    ctx_init(&c);
    c.piece_fn = fn;
    c.piece_ctx = ctx;
    IntVec added = {0}; // ids of the added tokens met on the way: not pieces, dropped
    split_added(t, &c, &t->impl->raw_index, s, len, 0, encode_section, &added);
    free(added.p);
    ctx_free(&c);
    buf_free(&clean);
    return 0;
}

// ----------------------------------------------------------------------------
// decoding: every token's bytes are precomputed (decoder steps up to Fuse), then the stream
// turns bytes into UTF-8 characters (WHATWG replacement) and applies the global Strip.

static void ts_put(TokenStream* s, const char* p, size_t n) {
    if (s->out_len + n + 1 > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 64;
        while (cap < s->out_len + n + 1) cap *= 2;
        s->out = xrealloc(s->out, cap);
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    s->out[s->out_len] = 0;
}

static void ts_char(TokenStream* s, const char* ch, int len) {
    const TokenizerImpl* m = s->t->impl;
    int is_strip = m->strip_len == len && memcmp(ch, m->strip_char, (size_t)len) == 0;
    if (s->strip_start > 0) {
        if (is_strip) { s->strip_start--; return; }
        s->strip_start = 0;
    }
    s->strip_start = 0;
    if (m->strip_stop > 0) {
        if (is_strip) { s->held++; return; } // maybe trailing: decide at flush
        for (; s->held > 0; s->held--) ts_put(s, m->strip_char, (size_t)m->strip_len);
    }
    ts_put(s, ch, (size_t)len);
}

static void ts_byte(TokenStream* s, unsigned char b) {
    for (;;) {
        if (s->need == 0) {
            if (b < 0x80) { char ch = (char)b; ts_char(s, &ch, 1); return; }
            s->lo = 0x80; s->hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) s->need = 1;
            else if (b >= 0xE0 && b <= 0xEF) { s->need = 2; if (b == 0xE0) s->lo = 0xA0; if (b == 0xED) s->hi = 0x9F; }
            else if (b >= 0xF0 && b <= 0xF4) { s->need = 3; if (b == 0xF0) s->lo = 0x90; if (b == 0xF4) s->hi = 0x8F; }
            else { ts_char(s, "\xEF\xBF\xBD", 3); return; }
            s->pend[0] = b;
            s->npend = 1;
            return;
        }
        if (b < s->lo || b > s->hi) { // the pending prefix is invalid: one U+FFFD, then retry b
            s->need = 0;
            s->npend = 0;
            ts_char(s, "\xEF\xBF\xBD", 3);
            continue;
        }
        s->lo = 0x80; s->hi = 0xBF;
        s->pend[s->npend++] = b;
        if (s->npend == s->need + 1) {
            ts_char(s, (const char*)s->pend, s->npend);
            s->need = 0;
            s->npend = 0;
        }
        return;
    }
}

void token_stream_init(TokenStream* s, const Tokenizer* t, int skip_special) {
    memset(s, 0, sizeof *s);
    s->t = t;
    s->skip_special = skip_special;
    s->strip_start = t && t->impl ? t->impl->strip_start : 0;
}

static void ts_feed(TokenStream* s, int id) {
    const Tokenizer* t = s->t;
    const TokenizerImpl* m = t->impl;
    if (id < 0 || id >= t->vocab_size) return;
    if (s->skip_special && (m->flags[id] & FLAG_SPECIAL)) return;
    if (m->join_space && s->n_tokens > 0) ts_byte(s, ' ');
    s->n_tokens++;
    const unsigned char* p = (const unsigned char*)m->dec_bytes.p + m->dec_off[id];
    for (uint32_t i = 0; i < m->dec_len[id]; i++) ts_byte(s, p[i]);
}

const char* token_stream_push(TokenStream* s, int id, size_t* len) {
    s->out_len = 0;
    ts_put(s, "", 0);
    if (s->t && s->t->impl) ts_feed(s, id);
    if (len) *len = s->out_len;
    return s->out;
}

static void ts_finish(TokenStream* s) {
    const TokenizerImpl* m = s->t->impl;
    if (s->need) {
        s->need = 0;
        s->npend = 0;
        ts_char(s, "\xEF\xBF\xBD", 3);
    }
    int keep = s->held - m->strip_stop;
    for (; keep > 0; keep--) ts_put(s, m->strip_char, (size_t)m->strip_len);
    s->held = 0;
    s->n_tokens = 0;
    s->strip_start = m->strip_start;
}

const char* token_stream_flush(TokenStream* s, size_t* len) {
    s->out_len = 0;
    ts_put(s, "", 0);
    if (s->t && s->t->impl) ts_finish(s);
    if (len) *len = s->out_len;
    return s->out;
}

void token_stream_free(TokenStream* s) {
    free(s->out);
    memset(s, 0, sizeof *s);
}

char* tokenizer_decode(const Tokenizer* t, const int* ids, int n, int skip_special) {
    TokenStream s;
    token_stream_init(&s, t, skip_special);
    ts_put(&s, "", 0);
    if (t && t->impl) {
        for (int i = 0; i < n; i++) ts_feed(&s, ids[i]);
        ts_finish(&s);
    }
    return s.out; // the caller frees it
}

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
static int piece_to_model(const TokenizerImpl* m, int byte_level, const char* s, size_t n, Buf* out) {
    out->n = 0;
    buf_reserve(out, n);
    if (!byte_level) { buf_put(out, s, n); return 1; }
    const unsigned char* u = (const unsigned char*)s;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        int l = utf8_next(u + i, n - i, &cp);
        if (cp >= 324 || m->u2b[cp] < 0) return 0;
        buf_putc(out, (char)m->u2b[cp]);
        i += (size_t)l;
    }
    return 1;
}

int tokenizer_token_to_id(const Tokenizer* t, const char* piece) {
    if (!t || !t->impl || !piece) return -1;
    const TokenizerImpl* m = t->impl;
    for (int i = 0; i < m->n_added; i++)
        if (strcmp(m->added[i].content, piece) == 0) return m->added[i].id;
    Buf b = {0};
    int id = -1;
    if (piece_to_model(m, t->byte_level, piece, strlen(piece), &b)) id = strmap_get(&m->vocab_map, m->model_bytes.p, b.p, b.n);
    buf_free(&b);
    if (id < 0) // tokens outside the byte alphabet are not in the map; rare, so scan
        for (int i = 0; i < t->vocab_size; i++)
            if (m->piece[i] && strcmp(m->piece[i], piece) == 0) return i;
    return id;
}

// ----------------------------------------------------------------------------
// loading

static const cJSON* jget(const cJSON* o, const char* k) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}
static const char* jstr(const cJSON* o, const char* k) {
    const cJSON* v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
static int jbool(const cJSON* o, const char* k, int dflt) {
    const cJSON* v = jget(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}
static int jint(const cJSON* o, const char* k, int dflt) {
    const cJSON* v = jget(o, k);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : dflt;
}
// A token named in tokenizer_config.json: "text" or {"content": "text", ...}.
static const char* jtoken(const cJSON* o, const char* k) {
    const cJSON* v = jget(o, k);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return jstr(v, "content");
    return NULL;
}

typedef struct {
    const char* name; // file name used in messages
    Err* err;
} LoadCtx;

// {"String": s} or {"Regex": r}
static int parse_pattern(LoadCtx* L, const cJSON* o, const char* path, Regex* re) {
    const cJSON* p = jget(o, "pattern");
    const char* s = jstr(p, "String");
    const char* r = jstr(p, "Regex");
    if (!s && !r) return err_set(L->err, "%s: %s.pattern: expected {\"String\": ...} or {\"Regex\": ...}", L->name, path);
    char msg[400];
    if (regex_compile(re, s ? s : r, strlen(s ? s : r), s != NULL, 1, msg, sizeof msg))
        return err_set(L->err, "%s: %s.pattern: %s", L->name, path, msg);
    return 0;
}

static int parse_normalizer(LoadCtx* L, TokenizerImpl* m, const cJSON* j, const char* path) {
    if (!j || cJSON_IsNull(j)) return 0;
    const char* type = jstr(j, "type");
    if (!type) return err_set(L->err, "%s: %s.type missing", L->name, path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = jget(j, "normalizers");
        if (!cJSON_IsArray(arr)) return err_set(L->err, "%s: %s.normalizers: expected an array", L->name, path);
        int i = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, arr) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i++);
            if (parse_normalizer(L, m, it, sub)) return -1;
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
        st.left = jbool(j, "strip_left", 1);
        st.right = jbool(j, "strip_right", 1);
    } else if (strcmp(type, "Replace") == 0) {
        st.kind = NORM_REPLACE;
        const char* content = jstr(j, "content");
        if (!content) return err_set(L->err, "%s: %s.content: expected a string", L->name, path);
        if (parse_pattern(L, j, path, &st.re)) return -1;
        st.content = xstrdup(content);
    } else if (strcmp(type, "Prepend") == 0) {
        st.kind = NORM_PREPEND;
        const char* pre = jstr(j, "prepend");
        if (!pre) return err_set(L->err, "%s: %s.prepend: expected a string", L->name, path);
        st.content = xstrdup(pre);
    } else
        return err_set(L->err, "%s: %s.type '%s' is not supported (NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, Sequence)", L->name, path, type);
    m->norm = xrealloc(m->norm, (size_t)(m->n_norm + 1) * sizeof(NormStep));
    m->norm[m->n_norm++] = st;
    return 0;
}

static PreStep* pre_add(TokenizerImpl* m, int kind) {
    m->pre = xrealloc(m->pre, (size_t)(m->n_pre + 1) * sizeof(PreStep));
    PreStep* st = &m->pre[m->n_pre++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

static int pre_add_split(LoadCtx* L, TokenizerImpl* m, const char* path, const char* pat, int literal, int behavior, int invert) {
    PreStep* st = pre_add(m, PRE_SPLIT);
    st->behavior = behavior;
    st->invert = invert;
    char msg[400];
    if (regex_compile(&st->re, pat, strlen(pat), literal, 1, msg, sizeof msg)) return err_set(L->err, "%s: %s: %s", L->name, path, msg);
    return 0;
}

static int parse_behavior(LoadCtx* L, const cJSON* j, const char* path, int dflt, int* out) {
    const char* b = jstr(j, "behavior");
    *out = dflt;
    if (!b) return 0;
    if (strcasecmp(b, "Removed") == 0) *out = SPLIT_REMOVED;
    else if (strcasecmp(b, "Isolated") == 0) *out = SPLIT_ISOLATED;
    else if (strcasecmp(b, "MergedWithPrevious") == 0) *out = SPLIT_MERGED_PREV;
    else if (strcasecmp(b, "MergedWithNext") == 0) *out = SPLIT_MERGED_NEXT;
    else if (strcasecmp(b, "Contiguous") == 0) *out = SPLIT_CONTIGUOUS;
    else return err_set(L->err, "%s: %s.behavior '%s' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous", L->name, path, b);
    return 0;
}

static int parse_prepend_scheme(LoadCtx* L, const cJSON* j, const char* path, int* out) {
    const char* ps = jstr(j, "prepend_scheme");
    *out = jbool(j, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER; // older files
    if (!ps) return 0;
    if (strcmp(ps, "always") == 0) *out = PREPEND_ALWAYS;
    else if (strcmp(ps, "first") == 0) *out = PREPEND_FIRST;
    else if (strcmp(ps, "never") == 0) *out = PREPEND_NEVER;
    else return err_set(L->err, "%s: %s.prepend_scheme '%s' is not one of always, first, never", L->name, path, ps);
    return 0;
}

static int parse_replacement(LoadCtx* L, const cJSON* j, const char* path, char* repl, int* repl_len) {
    const char* r = jstr(j, "replacement");
    if (!r) r = "\xE2\x96\x81";
    size_t n = strlen(r);
    if (n == 0 || n > 4) return err_set(L->err, "%s: %s.replacement: expected one character", L->name, path);
    memcpy(repl, r, n);
    *repl_len = (int)n;
    return 0;
}

#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define PUNCT_CLASS "[\\p{P}!-/:-@\\[-`{-~]"

static int parse_pre_tokenizer(LoadCtx* L, TokenizerImpl* m, const cJSON* j, const char* path) {
    if (!j || cJSON_IsNull(j)) return 0;
    const char* type = jstr(j, "type");
    if (!type) return err_set(L->err, "%s: %s.type missing", L->name, path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = jget(j, "pretokenizers");
        if (!cJSON_IsArray(arr)) return err_set(L->err, "%s: %s.pretokenizers: expected an array", L->name, path);
        int i = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, arr) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i++);
            if (parse_pre_tokenizer(L, m, it, sub)) return -1;
        }
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        int behavior;
        if (parse_behavior(L, j, path, SPLIT_ISOLATED, &behavior)) return -1;
        PreStep* st = pre_add(m, PRE_SPLIT);
        st->behavior = behavior;
        st->invert = jbool(j, "invert", 0);
        return parse_pattern(L, j, path, &st->re);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (jbool(j, "add_prefix_space", 1)) pre_add(m, PRE_PREFIX_SPACE);
        if (jbool(j, "use_regex", 1)) return pre_add_split(L, m, path, GPT2_PATTERN, 0, SPLIT_ISOLATED, 0);
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        PreStep* st = pre_add(m, PRE_METASPACE);
        if (parse_replacement(L, j, path, st->repl, &st->repl_len)) return -1;
        if (parse_prepend_scheme(L, j, path, &st->prepend)) return -1;
        if (jbool(j, "split", 1)) {
            char r[8];
            memcpy(r, st->repl, (size_t)st->repl_len);
            r[st->repl_len] = 0;
            return pre_add_split(L, m, path, r, 1, SPLIT_MERGED_NEXT, 0);
        }
        return 0;
    }
    if (strcmp(type, "Digits") == 0)
        return pre_add_split(L, m, path, jbool(j, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+", 0, SPLIT_ISOLATED, 0);
    if (strcmp(type, "Whitespace") == 0) return pre_add_split(L, m, path, "\\w+|[^\\w\\s]+", 0, SPLIT_REMOVED, 1);
    if (strcmp(type, "WhitespaceSplit") == 0) return pre_add_split(L, m, path, "\\s+", 0, SPLIT_REMOVED, 0);
    if (strcmp(type, "Punctuation") == 0) {
        int behavior;
        if (parse_behavior(L, j, path, SPLIT_ISOLATED, &behavior)) return -1;
        return pre_add_split(L, m, path, PUNCT_CLASS, 0, behavior, 0);
    }
    if (strcmp(type, "BertPreTokenizer") == 0) {
        if (pre_add_split(L, m, path, "\\s+", 0, SPLIT_REMOVED, 0)) return -1;
        return pre_add_split(L, m, path, PUNCT_CLASS, 0, SPLIT_ISOLATED, 0);
    }
    return err_set(L->err, "%s: %s.type '%s' is not supported (Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, Sequence)", L->name, path, type);
}

// Whether the pre-tokenizer maps text to the bytes-to-unicode alphabet.
static int has_byte_level(const cJSON* j) {
    if (!cJSON_IsObject(j)) return 0;
    const char* type = jstr(j, "type");
    if (type && strcmp(type, "ByteLevel") == 0) return 1;
    const cJSON* arr = jget(j, "pretokenizers");
    const cJSON* it;
    if (cJSON_IsArray(arr)) cJSON_ArrayForEach(it, arr) if (has_byte_level(it)) return 1;
    return 0;
}

// A special token of a post-processor, by name: the template's own id list, else the vocab.
static int special_ids(LoadCtx* L, const Tokenizer* t, const cJSON* specials, const char* tok, const char* path, IntVec* out) {
    const cJSON* e = jget(specials, tok);
    const cJSON* ids = jget(e, "ids");
    if (cJSON_IsArray(ids)) {
        const cJSON* it;
        cJSON_ArrayForEach(it, ids) {
            if (!cJSON_IsNumber(it)) return err_set(L->err, "%s: %s.special_tokens.%s.ids: expected numbers", L->name, path, tok);
            iv_push(out, (int)it->valuedouble);
        }
        return 0;
    }
    int id = tokenizer_token_to_id(t, tok);
    if (id < 0) return err_set(L->err, "%s: %s: special token '%s' is not in the vocabulary", L->name, path, tok);
    iv_push(out, id);
    return 0;
}

static int parse_post_processor(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path) {
    TokenizerImpl* m = t->impl;
    if (!j || cJSON_IsNull(j)) return 0;
    const char* type = jstr(j, "type");
    if (!type) return err_set(L->err, "%s: %s.type missing", L->name, path);
    IntVec pre = {0}, suf = {0};
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = jget(j, "processors");
        if (!cJSON_IsArray(arr)) return err_set(L->err, "%s: %s.processors: expected an array", L->name, path);
        int i = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, arr) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.processors[%d]", path, i++);
            if (parse_post_processor(L, t, it, sub)) return -1;
        }
        return 0;
    } else if (strcmp(type, "ByteLevel") == 0) {
        return 0; // offsets only
    } else if (strcmp(type, "TemplateProcessing") == 0) {
        const cJSON* single = jget(j, "single");
        const cJSON* specials = jget(j, "special_tokens");
        if (!cJSON_IsArray(single)) return err_set(L->err, "%s: %s.single: expected an array", L->name, path);
        int seen_a = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, single) {
            const cJSON* sp = jget(it, "SpecialToken");
            const cJSON* sq = jget(it, "Sequence");
            if (sp) {
                const char* id = jstr(sp, "id");
                if (!id) { free(pre.p); free(suf.p); return err_set(L->err, "%s: %s.single: SpecialToken without id", L->name, path); }
                if (special_ids(L, t, specials, id, path, seen_a ? &suf : &pre)) { free(pre.p); free(suf.p); return -1; }
            } else if (sq) seen_a = 1;
        }
    } else if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        const cJSON* cls = jget(j, "cls");
        const cJSON* sep = jget(j, "sep");
        if (cJSON_GetArraySize(cls) != 2 || cJSON_GetArraySize(sep) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(cls, 1)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(sep, 1)))
            return err_set(L->err, "%s: %s: cls and sep must be [token, id] pairs", L->name, path);
        iv_push(&pre, (int)cJSON_GetArrayItem(cls, 1)->valuedouble);
        iv_push(&suf, (int)cJSON_GetArrayItem(sep, 1)->valuedouble);
    } else
        return err_set(L->err, "%s: %s.type '%s' is not supported (TemplateProcessing, RobertaProcessing, BertProcessing, ByteLevel, Sequence)", L->name, path, type);
    // A later processor wraps what the earlier ones produced.
    for (int i = 0; i < m->prefix.n; i++) iv_push(&pre, m->prefix.p[i]);
    for (int i = 0; i < suf.n; i++) iv_push(&m->suffix, suf.p[i]);
    free(m->prefix.p);
    m->prefix = pre;
    free(suf.p);
    return 0;
}

static int parse_decoder(LoadCtx* L, TokenizerImpl* m, const cJSON* j, const char* path) {
    if (!j || cJSON_IsNull(j)) return 0;
    const char* type = jstr(j, "type");
    if (!type) return err_set(L->err, "%s: %s.type missing", L->name, path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON* arr = jget(j, "decoders");
        if (!cJSON_IsArray(arr)) return err_set(L->err, "%s: %s.decoders: expected an array", L->name, path);
        int i = 0;
        const cJSON* it;
        cJSON_ArrayForEach(it, arr) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s.decoders[%d]", path, i++);
            if (parse_decoder(L, m, it, sub)) return -1;
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
        const char* content = jstr(j, "content");
        if (!content) return err_set(L->err, "%s: %s.content: expected a string", L->name, path);
        if (parse_pattern(L, j, path, &st.re)) return -1;
        st.content = xstrdup(content);
    } else if (strcmp(type, "Strip") == 0) {
        st.kind = DEC_STRIP;
        const char* content = jstr(j, "content");
        if (!content) content = " ";
        size_t n = strlen(content);
        if (n == 0 || n > 4) return err_set(L->err, "%s: %s.content: expected one character", L->name, path);
        memcpy(st.strip_char, content, n);
        st.strip_len = (int)n;
        st.start = jint(j, "start", 0);
        st.stop = jint(j, "stop", 0);
    } else if (strcmp(type, "Metaspace") == 0) {
        st.kind = DEC_METASPACE;
        if (parse_replacement(L, j, path, st.repl, &st.repl_len)) return -1;
        if (parse_prepend_scheme(L, j, path, &st.prepend)) return -1;
    } else
        return err_set(L->err, "%s: %s.type '%s' is not supported (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)", L->name, path, type);
    m->dec = xrealloc(m->dec, (size_t)(m->n_dec + 1) * sizeof(DecStep));
    m->dec[m->n_dec++] = st;
    return 0;
}

// Precomputes each token's bytes through the decoder steps that act per token.
static void build_decode_table(Tokenizer* t) {
    TokenizerImpl* m = t->impl;
    int V = t->vocab_size;
    m->dec_off = xcalloc((size_t)V, sizeof(uint32_t));
    m->dec_len = xcalloc((size_t)V, sizeof(uint32_t));
    m->join_space = m->n_dec == 0;
    int fused = 0;
    for (int k = 0; k < m->n_dec; k++) {
        const DecStep* st = &m->dec[k];
        if (st->kind == DEC_FUSE) fused = 1;
        if (st->kind == DEC_STRIP && fused) { // after Fuse: strips the whole text
            memcpy(m->strip_char, st->strip_char, sizeof m->strip_char);
            m->strip_len = st->strip_len;
            m->strip_start = st->start;
            m->strip_stop = st->stop;
        }
        if (st->kind == DEC_METASPACE && st->prepend != PREPEND_NEVER && m->strip_len == 0) {
            m->strip_char[0] = ' '; // the first token loses its leading space
            m->strip_len = 1;
            m->strip_start = 1;
        }
    }
    Ctx c;
    ctx_init(&c);
    Buf cur = {0}, nxt = {0};
    for (int id = 0; id < V; id++) {
        const char* src = m->piece[id];
        m->dec_off[id] = (uint32_t)m->dec_bytes.n;
        if (!src) continue;
        cur.n = 0;
        buf_put(&cur, src, strlen(src));
        int after_fuse = 0;
        for (int k = 0; k < m->n_dec; k++) {
            const DecStep* st = &m->dec[k];
            nxt.n = 0;
            buf_reserve(&nxt, cur.n + 8);
            switch (st->kind) {
            case DEC_FUSE: after_fuse = 1; continue;
            case DEC_BYTELEVEL: // added tokens are written as they are; the rest maps back to bytes
                if (m->flags[id] & FLAG_ADDED) continue;
                for (size_t i = 0; i < cur.n;) {
                    int32_t cp;
                    int l = utf8_next((const unsigned char*)cur.p + i, cur.n - i, &cp);
                    if (cp < 324 && m->u2b[cp] >= 0) buf_putc(&nxt, (char)m->u2b[cp]);
                    else buf_put(&nxt, cur.p + i, (size_t)l);
                    i += (size_t)l;
                }
                break;
            case DEC_REPLACE: {
                if (!utf8_is_valid(cur.p, cur.n)) continue;
                c.matches.n = 0;
                regex_find_all(&st->re, c.md, cur.p, cur.n, &c.matches);
                size_t pos = 0;
                for (int j = 0; j < c.matches.n; j++) {
                    buf_put(&nxt, cur.p + pos, c.matches.p[j].off - pos);
                    buf_put(&nxt, st->content, strlen(st->content));
                    pos = c.matches.p[j].off + c.matches.p[j].len;
                }
                buf_put(&nxt, cur.p + pos, cur.n - pos);
                break;
            }
            case DEC_BYTEFALLBACK: {
                unsigned v;
                char tail;
                if (cur.n == 6 && memcmp(cur.p, "<0x", 3) == 0 && cur.p[5] == '>' && sscanf(cur.p + 3, "%2x%c", &v, &tail) == 2 && tail == '>')
                    buf_putc(&nxt, (char)v);
                else continue;
                break;
            }
            case DEC_STRIP: {
                if (after_fuse) continue;
                size_t a = 0, b = cur.n, sl = (size_t)st->strip_len;
                for (int i = 0; i < st->start && b - a >= sl && memcmp(cur.p + a, st->strip_char, sl) == 0; i++) a += sl;
                for (int i = 0; i < st->stop && b - a >= sl && memcmp(cur.p + b - sl, st->strip_char, sl) == 0; i++) b -= sl;
                buf_put(&nxt, cur.p + a, b - a);
                break;
            }
            case DEC_METASPACE:
                for (size_t i = 0; i < cur.n;) {
                    if (cur.n - i >= (size_t)st->repl_len && memcmp(cur.p + i, st->repl, (size_t)st->repl_len) == 0) {
                        buf_putc(&nxt, ' ');
                        i += (size_t)st->repl_len;
                    } else buf_putc(&nxt, cur.p[i++]);
                }
                break;
            }
            Buf tmp = cur;
            cur = nxt;
            nxt = tmp;
        }
        buf_put(&m->dec_bytes, cur.p, cur.n);
        m->dec_len[id] = (uint32_t)(m->dec_bytes.n - m->dec_off[id]);
    }
    buf_free(&cur);
    buf_free(&nxt);
    ctx_free(&c);
}

typedef struct {
    unsigned char first;
    size_t len;
    int idx;
} AddedKey;

static int cmp_added_key(const void* a, const void* b) {
    const AddedKey* x = a;
    const AddedKey* y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1; // longest first
    return x->idx - y->idx;
}

static void build_added_index(TokenizerImpl* m, AddedIndex* ix, int normalized) {
    AddedKey* keys = xmalloc((size_t)(m->n_added + 1) * sizeof(AddedKey));
    ix->order = xmalloc((size_t)(m->n_added + 1) * sizeof(int));
    ix->n = 0;
    for (int i = 0; i < m->n_added; i++) {
        const AddedTok* a = &m->added[i];
        if (a->normalized != normalized) continue;
        size_t len = normalized ? a->norm_len : a->len;
        if (len == 0) continue;
        keys[ix->n].first = (unsigned char)(normalized ? a->norm : a->content)[0];
        keys[ix->n].len = len;
        keys[ix->n].idx = i;
        ix->n++;
    }
    qsort(keys, (size_t)ix->n, sizeof(AddedKey), cmp_added_key);
    int k = 0;
    for (int i = 0; i < ix->n; i++) ix->order[i] = keys[i].idx;
    for (int b = 0; b <= 256; b++) {
        while (k < ix->n && keys[k].first < b) k++;
        ix->start[b] = k;
    }
    free(keys);
}

static int parse_id(const cJSON* v, int* out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (d < 0 || d >= (1 << 24) || d != (double)(int)d) return -1;
    *out = (int)d;
    return 0;
}

static int load_model(LoadCtx* L, Tokenizer* t, const cJSON* root) {
    TokenizerImpl* m = t->impl;
    const cJSON* model = jget(root, "model");
    if (!cJSON_IsObject(model)) return err_set(L->err, "%s: model missing (expected an object with type, vocab and merges)", L->name);
    const char* type = jstr(model, "type");
    if (type && strcmp(type, "BPE") != 0)
        return err_set(L->err, "%s: model.type '%s' is not supported (expected BPE)", L->name, type);
    if (!type && !jget(model, "merges")) return err_set(L->err, "%s: model.type missing (expected BPE)", L->name);
    const char* csp = jstr(model, "continuing_subword_prefix");
    const char* eow = jstr(model, "end_of_word_suffix");
    if (csp && *csp) return err_set(L->err, "%s: model.continuing_subword_prefix '%s' is not supported (expected null or \"\")", L->name, csp);
    if (eow && *eow) return err_set(L->err, "%s: model.end_of_word_suffix '%s' is not supported (expected null or \"\")", L->name, eow);
    m->byte_fallback = jbool(model, "byte_fallback", 0);
    m->fuse_unk = jbool(model, "fuse_unk", 0);
    m->ignore_merges = jbool(model, "ignore_merges", 0);
    t->byte_level = has_byte_level(jget(root, "pre_tokenizer"));

    // bytes-to-unicode (GPT-2): printable bytes map to themselves, the rest to 256 + n.
    for (int i = 0; i < 324; i++) m->u2b[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int u = printable ? b : 256 + extra++;
        m->b2u[b] = (uint16_t)u;
        m->u2b[u] = (int16_t)b;
    }

    const cJSON* vocab = jget(model, "vocab");
    if (cJSON_IsArray(vocab)) return err_set(L->err, "%s: model.vocab is an array (a Unigram vocab?); expected an object mapping token to id", L->name);
    if (!cJSON_IsObject(vocab)) return err_set(L->err, "%s: model.vocab missing (expected an object mapping token to id)", L->name);
    const cJSON* added = jget(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) return err_set(L->err, "%s: added_tokens: expected an array", L->name);
    const cJSON* merges = jget(model, "merges");
    if (!cJSON_IsArray(merges)) return err_set(L->err, "%s: model.merges missing (expected an array)", L->name);

    // vocab size: every id named by the vocab or the added tokens
    int max_id = -1, n_vocab = 0;
    const cJSON* it;
    cJSON_ArrayForEach(it, vocab) {
        int id;
        if (parse_id(it, &id)) return err_set(L->err, "%s: model.vocab['%s']: expected an integer id in [0, 2^24)", L->name, it->string);
        if (id > max_id) max_id = id;
        n_vocab++;
    }
    int ai = 0;
    if (cJSON_IsArray(added)) cJSON_ArrayForEach(it, added) {
        int id;
        if (parse_id(jget(it, "id"), &id)) return err_set(L->err, "%s: added_tokens[%d].id: expected an integer id in [0, 2^24)", L->name, ai);
        if (!jstr(it, "content")) return err_set(L->err, "%s: added_tokens[%d].content: expected a string", L->name, ai);
        if (id > max_id) max_id = id;
        ai++;
    }
    if (max_id < 0) return err_set(L->err, "%s: model.vocab is empty", L->name);
    int V = max_id + 1;
    t->vocab_size = V;
    m->piece = xcalloc((size_t)V, sizeof(char*));
    m->flags = xcalloc((size_t)V, 1);
    strmap_init(&m->vocab_map, (size_t)n_vocab);
    Buf key = {0};
    cJSON_ArrayForEach(it, vocab) {
        int id = (int)it->valuedouble;
        free(m->piece[id]);
        m->piece[id] = xstrdup(it->string);
        // Tokens outside the byte alphabet can never come out of byte-level BPE: keep them out
        // of the map so raw text cannot hit them by accident.
        if (!piece_to_model(m, t->byte_level, it->string, strlen(it->string), &key)) continue;
        uint32_t off = (uint32_t)m->model_bytes.n;
        buf_put(&m->model_bytes, key.p, key.n);
        strmap_put(&m->vocab_map, m->model_bytes.p, off, (uint32_t)key.n, id);
    }

    // added tokens
    if (cJSON_IsArray(added)) {
        m->added = xcalloc((size_t)cJSON_GetArraySize(added) + 1, sizeof(AddedTok));
        cJSON_ArrayForEach(it, added) {
            AddedTok* a = &m->added[m->n_added];
            const char* content = jstr(it, "content");
            a->id = (int)jget(it, "id")->valuedouble;
            a->content = xstrdup(content);
            a->len = strlen(content);
            a->special = (unsigned char)jbool(it, "special", 0);
            a->lstrip = (unsigned char)jbool(it, "lstrip", 0);
            a->rstrip = (unsigned char)jbool(it, "rstrip", 0);
            a->single_word = (unsigned char)jbool(it, "single_word", 0);
            a->normalized = (unsigned char)jbool(it, "normalized", !a->special);
            if (a->len == 0) { free(a->content); continue; }
            free(m->piece[a->id]);
            m->piece[a->id] = xstrdup(content);
            m->flags[a->id] |= FLAG_ADDED | (a->special ? FLAG_SPECIAL : 0);
            m->n_added++;
        }
    }

    // merges, ranked by position; both "a b" and ["a", "b"] forms
    pairmap_init(&m->merges, (size_t)cJSON_GetArraySize(merges));
    Buf left = {0}, right = {0};
    int rank = 0, rc = 0;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(it)) {
            a = it->valuestring;
            const char* sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) { rc = err_set(L->err, "%s: model.merges[%d] '%s': expected \"left right\" with exactly one space", L->name, rank, a); break; }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else { rc = err_set(L->err, "%s: model.merges[%d]: expected \"left right\" or [\"left\", \"right\"]", L->name, rank); break; }
        int ida = -1, idb = -1, idm = -1;
        if (piece_to_model(m, t->byte_level, a, la, &left)) ida = strmap_get(&m->vocab_map, m->model_bytes.p, left.p, left.n);
        if (piece_to_model(m, t->byte_level, b, lb, &right)) idb = strmap_get(&m->vocab_map, m->model_bytes.p, right.p, right.n);
        if (ida < 0 || idb < 0) {
            const char* bad = ida < 0 ? a : b;
            int bl = (int)(ida < 0 ? la : lb);
            rc = err_set(L->err, "%s: model.merges[%d] names token '%.*s', which is not in model.vocab", L->name, rank, bl, bad);
            break;
        }
        buf_put(&left, right.p, right.n);
        idm = strmap_get(&m->vocab_map, m->model_bytes.p, left.p, left.n);
        if (idm < 0) { rc = err_set(L->err, "%s: model.merges[%d]: merged token '%.*s%.*s' is not in model.vocab", L->name, rank, (int)la, a, (int)lb, b); break; }
        pairmap_put(&m->merges, ida, idb, rank, idm);
        rank++;
    }
    m->n_merges = rank;
    buf_free(&left);
    buf_free(&right);
    if (rc) { buf_free(&key); return rc; }

    // byte-level alphabet and <0xNN> fallback tokens
    for (int b = 0; b < 256; b++) {
        char ch = (char)b;
        m->byte_id[b] = strmap_get(&m->vocab_map, m->model_bytes.p, &ch, 1);
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->fallback_id[b] = -1;
        if (piece_to_model(m, t->byte_level, name, 6, &key)) m->fallback_id[b] = strmap_get(&m->vocab_map, m->model_bytes.p, key.p, key.n);
    }
    // Without the byte alphabet, byte_id keeps the ids of the one-byte (ASCII) characters: the
    // symbol lookup's fast path. Multi-byte characters go through the map.
    if (!t->byte_level) for (int b = 0x80; b < 256; b++) m->byte_id[b] = -1;
    // The metaspace cut (see model_pieces) is exact only if no token has U+2581 after another
    // character; the merged tokens are all in the vocab, so scanning the vocab is enough.
    if (!t->byte_level) {
        const char* ms = "\xE2\x96\x81";
        int ok = 1;
        for (int id = 0; id < V && ok; id++) {
            const char* p = m->piece[id];
            if (!p) continue; // added tokens too: some are also model tokens, so stay on the safe side
            while (strncmp(p, ms, 3) == 0) p += 3;
            if (strstr(p, ms)) ok = 0;
        }
        if (ok) {
            memcpy(m->meta, ms, 3);
            m->meta_len = 3;
            m->meta_id = strmap_get(&m->vocab_map, m->model_bytes.p, ms, 3);
        }
    }
    const char* unk = jstr(model, "unk_token");
    if (unk && piece_to_model(m, t->byte_level, unk, strlen(unk), &key)) t->unk_id = strmap_get(&m->vocab_map, m->model_bytes.p, key.p, key.n);
    buf_free(&key);
    return 0;
}

static int load_all(LoadCtx* L, Tokenizer* t, const cJSON* root, const cJSON* cfg) {
    TokenizerImpl* m = t->impl;
    if (load_model(L, t, root)) return -1;
    if (parse_normalizer(L, m, jget(root, "normalizer"), "normalizer")) return -1;
    if (parse_pre_tokenizer(L, m, jget(root, "pre_tokenizer"), "pre_tokenizer")) return -1;
    if (parse_post_processor(L, t, jget(root, "post_processor"), "post_processor")) return -1;
    if (parse_decoder(L, m, jget(root, "decoder"), "decoder")) return -1;

    // normalized added tokens are matched after normalization, so normalize their content
    Ctx c;
    ctx_init(&c);
    for (int i = 0; i < m->n_added; i++) {
        AddedTok* a = &m->added[i];
        if (!a->normalized) continue;
        size_t nn;
        const char* ns = normalize(m, &c, a->content, a->len, &nn);
        a->norm = xmalloc(nn + 1);
        memcpy(a->norm, ns, nn);
        a->norm[nn] = 0;
        a->norm_len = nn;
    }
    ctx_free(&c);
    build_added_index(m, &m->raw_index, 0);
    build_added_index(m, &m->norm_index, 1);

    // tokenizer_config.json: named special tokens and add_bos_token / add_eos_token
    const char* bos = jtoken(cfg, "bos_token");
    const char* eos = jtoken(cfg, "eos_token");
    const char* pad = jtoken(cfg, "pad_token");
    t->bos_id = bos ? tokenizer_token_to_id(t, bos) : (m->prefix.n > 0 ? m->prefix.p[0] : -1);
    t->eos_id = eos ? tokenizer_token_to_id(t, eos) : (m->suffix.n > 0 ? m->suffix.p[m->suffix.n - 1] : -1);
    t->pad_id = pad ? tokenizer_token_to_id(t, pad) : -1;
    if (jbool(cfg, "add_bos_token", 0) && t->bos_id >= 0) {
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
    if (jbool(cfg, "add_eos_token", 0) && t->eos_id >= 0) {
        int has = 0;
        for (int i = 0; i < m->suffix.n; i++) has |= m->suffix.p[i] == t->eos_id;
        if (!has) iv_push(&m->suffix, t->eos_id);
    }
    const cJSON* extra = jget(cfg, "additional_special_tokens");
    const cJSON* it;
    if (cJSON_IsArray(extra)) cJSON_ArrayForEach(it, extra) {
        const char* s = cJSON_IsString(it) ? it->valuestring : jstr(it, "content");
        int id = s ? tokenizer_token_to_id(t, s) : -1;
        if (id >= 0) m->flags[id] |= FLAG_SPECIAL;
    }
    for (int i = 0; i < m->prefix.n; i++)
        if (m->prefix.p[i] < 0 || m->prefix.p[i] >= t->vocab_size) return err_set(L->err, "%s: post_processor: special token id %d is outside the vocabulary", L->name, m->prefix.p[i]);
    for (int i = 0; i < m->suffix.n; i++)
        if (m->suffix.p[i] < 0 || m->suffix.p[i] >= t->vocab_size) return err_set(L->err, "%s: post_processor: special token id %d is outside the vocabulary", L->name, m->suffix.p[i]);
    build_decode_table(t);
    return 0;
}

static int load_impl(Tokenizer* t, const char* json, size_t len, const char* name, const char* cfg_json, const char* cfg_name, Err* err) {
    memset(t, 0, sizeof *t);
    t->bos_id = t->eos_id = t->pad_id = t->unk_id = -1;
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
    for (int i = 0; i < m->n_norm; i++) { regex_free(&m->norm[i].re); free(m->norm[i].content); }
    free(m->norm);
    for (int i = 0; i < m->n_pre; i++) regex_free(&m->pre[i].re);
    free(m->pre);
    for (int i = 0; i < m->n_dec; i++) { regex_free(&m->dec[i].re); free(m->dec[i].content); }
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

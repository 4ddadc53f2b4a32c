// normalize.c: the normalizer steps (NFC, NFD, NFKC, NFKD through utf8proc, Lowercase, Strip,
// StripAccents, Replace, Prepend) run in sequence over one stretch of text.
#include "internal.h"

#include <utf8proc.h>

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
const char* tok_normalize(const TokenizerImpl* m, Ctx* c, const char* s, size_t n, size_t* out_n) {
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
                int l = tok_utf8_next(u + i, cur_n - i, &cp);
                char e[4];
                if (cp == 0x130) buf_put(dst, "i\xCC\x87", 3); // İ lowercases to i + combining dot
                else buf_put(dst, e, (size_t)tok_utf8_encode(utf8proc_tolower(cp), e));
                i += (size_t)l;
            }
            break;
        }
        case NORM_STRIP: {
            const unsigned char* u = (const unsigned char*)cur;
            size_t a = 0, b = cur_n;
            while (st->left && a < b) {
                int32_t cp;
                int l = tok_utf8_next(u + a, b - a, &cp);
                if (!tok_is_white_space(cp)) break;
                a += (size_t)l;
            }
            while (st->right && b > a) {
                size_t p = b - 1;
                while (p > a && (u[p] & 0xC0) == 0x80) p--;
                int32_t cp;
                tok_utf8_next(u + p, b - p, &cp);
                if (!tok_is_white_space(cp)) break;
                b = p;
            }
            buf_put(dst, cur + a, b - a);
            break;
        }
        case NORM_STRIP_ACCENTS: {
            const unsigned char* u = (const unsigned char*)cur;
            for (size_t i = 0; i < cur_n;) {
                int32_t cp;
                int l = tok_utf8_next(u + i, cur_n - i, &cp);
                if (cp < 0x300 || utf8proc_category(cp) != UTF8PROC_CATEGORY_MN) buf_put(dst, cur + i, (size_t)l);
                i += (size_t)l;
            }
            break;
        }
        case NORM_REPLACE: {
            c->matches.n = 0;
            tok_regex_find_all(&st->re, c->md, cur, cur_n, &c->matches);
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

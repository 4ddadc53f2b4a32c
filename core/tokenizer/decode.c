// decode.c: decoding. At load every token's bytes are precomputed through the decoder steps that
// act per token (ByteLevel, Replace, ByteFallback, Strip, Metaspace; up to Fuse); the stream then
// turns bytes into UTF-8 characters (WHATWG replacement) and applies the global Strip.
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

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

// Precomputes each token's bytes through the decoder steps that act per token.
void tok_build_decode_table(Tokenizer* t) {
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
    tok_ctx_init(&c);
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
                    int l = tok_utf8_next((const unsigned char*)cur.p + i, cur.n - i, &cp);
                    if (cp < 324 && m->u2b[cp] >= 0) buf_putc(&nxt, (char)m->u2b[cp]);
                    else buf_put(&nxt, cur.p + i, (size_t)l);
                    i += (size_t)l;
                }
                break;
            case DEC_REPLACE: {
                if (!tok_utf8_is_valid(cur.p, cur.n)) continue;
                c.matches.n = 0;
                tok_regex_find_all(&st->re, c.md, cur.p, cur.n, &c.matches);
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
    tok_ctx_free(&c);
}

// pretokenize.c: the pre-tokenizer steps (regex splits with Rust's delimiter behaviours, the
// ByteLevel prefix space, Metaspace) cutting normalized text into the pieces BPE encodes.
#include "internal.h"

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

// Splits one piece with a Split step. With a sink (the last pre-tokenizer step) finished pieces
// go to the model in batches, so a long text never holds all its pre-tokens at once.
static void split_piece(const Tokenizer* t, const PreStep* st, Ctx* c, const char* base, Span sp, SpanVec* dst, IntVec* sink) {
    const char* s = base + sp.off;
    Fold f = {0};
    size_t pos = 0, at = 0;
    while (at <= sp.len) {
        int rc = tok_regex_match(&st->re, s, sp.len, at, c->md);
        if (rc < 0) break; // no match (or a PCRE2 resource error: the rest stays one piece)
        PCRE2_SIZE* ov = pcre2_get_ovector_pointer(c->md);
        size_t a = ov[0], b = ov[1];
        if (b == a) { // empty match: resume one character later, as JavaScript's matchAll does
            if (a >= sp.len) break;
            int32_t cp;
            at = a + (size_t)tok_utf8_next((const unsigned char*)s + a, sp.len - a, &cp);
            continue;
        }
        if (a > pos) fold_elem(st->behavior, &f, dst, sp.off + pos, a - pos, st->invert);
        fold_elem(st->behavior, &f, dst, sp.off + a, b - a, !st->invert);
        pos = at = b;
        if (sink && dst->n >= 256) tok_model_pieces(t, c, base, dst, sink);
    }
    if (pos < sp.len) fold_elem(st->behavior, &f, dst, sp.off + pos, sp.len - pos, st->invert);
    if (f.has) sv_push(dst, f.off, f.len);
}

// Pre-tokenizes s[0..n) and encodes every piece with the model.
void tok_pretokenize_encode(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out) {
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
    tok_model_pieces(t, c, base, cur, out);
}

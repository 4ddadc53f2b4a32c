// added.c: splitting text on the added tokens before the model runs (leftmost-longest match,
// lstrip, rstrip, single_word, normalized); the index it searches is built by load_added_tokens.c.
#include "internal.h"

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

// Splits s on the added tokens of one index (Rust's AddedVocabulary::find_matches): text between
// matches goes to fn, matched tokens go straight to out. single_word matches touching a word
// character are dropped; lstrip/rstrip swallow the whitespace beside the token.
void tok_split_added(const Tokenizer* t, Ctx* c, const AddedIndex* ix, const char* s, size_t n, int section,
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
                tok_utf8_next(u + p, start - p, &cp);
                if (tok_is_word_char(cp)) continue;
            }
            if (stop < n) {
                tok_utf8_next(u + stop, n - stop, &cp);
                if (tok_is_word_char(cp)) continue;
            }
        }
        if (tk->lstrip) {
            while (start > pos) {
                size_t p = start - 1;
                while (p > pos && (u[p] & 0xC0) == 0x80) p--;
                int32_t cp;
                tok_utf8_next(u + p, start - p, &cp);
                if (!tok_is_white_space(cp)) break;
                start = p;
            }
        }
        if (tk->rstrip) {
            while (stop < n) {
                int32_t cp;
                int l = tok_utf8_next(u + stop, n - stop, &cp);
                if (!tok_is_white_space(cp)) break;
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

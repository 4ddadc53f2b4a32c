// bpe.c: the BPE model: one pre-token -> ids by lowest-rank merges (a min-heap of candidate pairs),
// unknown symbols through byte_fallback or unk, and a per-call word cache for long texts.
#include "internal.h"

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
            l = (size_t)tok_utf8_next(u + i, n - i, &cp);
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

// Runs BPE on each piece and empties sp.
void tok_model_pieces(const Tokenizer* t, Ctx* c, const char* base, SpanVec* sp, IntVec* out) {
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

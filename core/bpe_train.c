// bpe_train.c: byte-level BPE training (see bpe_train.h). Steps:
//   1. pre-tokenize the text with the very tokenizer being built (no merges yet), so training and
//      encoding split text identically, and count each distinct pre-token (word type);
//   2. count adjacent pairs over word types (weighted by frequency), remembering which types hold
//      each pair;
//   3. repeatedly take the most frequent pair from a max-heap (stale entries re-pushed lazily),
//      rewrite only the word types that hold it, and update the counts of the pairs they lose and
//      gain;
//   4. write tokenizer.json / tokenizer_config.json with cJSON.
#include "bpe_train.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

// Llama-3's pre-tokenizer: contractions, letters with one leading non-letter, digits in threes,
// punctuation runs, newlines, spaces.
#define PRE_REGEX "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define EOT "<|endoftext|>"
#define PAD "<|pad|>"

// ----------------------------------------------------------------------------
// word types

typedef struct {
    char* bytes;        // arena of word bytes
    size_t n_bytes, cap_bytes;
    uint32_t* off;      // (n_types) start of each type in bytes (and in the symbol arena)
    uint32_t* len;      // (n_types) byte length
    int64_t* freq;      // (n_types) occurrences in the text
    int n_types, cap_types;
    int* slots;         // open addressing: type index + 1, 0 empty
    size_t mask;
    size_t n_words;
} Words;

static uint64_t hash_bytes(const char* s, size_t n) {
    uint64_t h = 1469598103934665603ull; // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void words_grow_slots(Words* w) {
    size_t cap = w->slots ? (w->mask + 1) * 2 : 1024;
    int* slots = xcalloc(cap, sizeof(int));
    for (int t = 0; t < w->n_types; t++) {
        size_t i = (size_t)hash_bytes(w->bytes + w->off[t], w->len[t]) & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = t + 1;
    }
    free(w->slots);
    w->slots = slots;
    w->mask = cap - 1;
}

static void on_piece(void* ctx, const char* piece, size_t n) {
    Words* w = ctx;
    w->n_words++;
    if (!w->slots || (size_t)w->n_types * 2 >= w->mask) words_grow_slots(w);
    size_t i = (size_t)hash_bytes(piece, n) & w->mask;
    for (;;) {
        int t = w->slots[i] - 1;
        if (t < 0) break;
        if (w->len[t] == n && memcmp(w->bytes + w->off[t], piece, n) == 0) { w->freq[t]++; return; }
        i = (i + 1) & w->mask;
    }
    if (w->n_types == w->cap_types) {
        w->cap_types = w->cap_types ? w->cap_types * 2 : 4096;
        w->off = xrealloc(w->off, sizeof(uint32_t) * (size_t)w->cap_types);
        w->len = xrealloc(w->len, sizeof(uint32_t) * (size_t)w->cap_types);
        w->freq = xrealloc(w->freq, sizeof(int64_t) * (size_t)w->cap_types);
    }
    if (w->n_bytes + n > w->cap_bytes) {
        while (w->n_bytes + n > w->cap_bytes) w->cap_bytes = w->cap_bytes ? w->cap_bytes * 2 : 1 << 16;
        w->bytes = xrealloc(w->bytes, w->cap_bytes);
    }
    int t = w->n_types++;
    memcpy(w->bytes + w->n_bytes, piece, n);
    w->off[t] = (uint32_t)w->n_bytes;
    w->len[t] = (uint32_t)n;
    w->freq[t] = 1;
    w->n_bytes += n;
    w->slots[i] = t + 1;
}

static void words_free(Words* w) {
    free(w->bytes);
    free(w->off);
    free(w->len);
    free(w->freq);
    free(w->slots);
}

// ----------------------------------------------------------------------------
// pair statistics

typedef struct {
    int a, b;
    int64_t count;
    int* types;   // word types that held this pair when it was counted (may hold stale entries)
    int n, cap;
    int stamp;    // last merge step that queued this pair for the heap
} Pair;

typedef struct {
    Pair* p;
    int n, cap;
    uint64_t* keys; // open addressing: (a << 32 | b), UINT64_MAX empty
    int* idx;
    size_t mask;
} Pairs;

static inline uint64_t pkey(int a, int b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
static inline size_t phash(uint64_t k) { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20); }

static void pairs_rehash(Pairs* ps, size_t cap) {
    free(ps->keys);
    free(ps->idx);
    ps->keys = xmalloc(cap * sizeof(uint64_t));
    ps->idx = xmalloc(cap * sizeof(int));
    for (size_t i = 0; i < cap; i++) ps->keys[i] = UINT64_MAX;
    ps->mask = cap - 1;
    for (int j = 0; j < ps->n; j++) {
        uint64_t k = pkey(ps->p[j].a, ps->p[j].b);
        size_t i = phash(k) & ps->mask;
        while (ps->keys[i] != UINT64_MAX) i = (i + 1) & ps->mask;
        ps->keys[i] = k;
        ps->idx[i] = j;
    }
}

// Index of pair (a, b), created with count 0 if new.
static int pair_at(Pairs* ps, int a, int b) {
    if (!ps->keys || (size_t)(ps->n + 1) * 2 > ps->mask) pairs_rehash(ps, ps->keys ? (ps->mask + 1) * 2 : 1 << 16);
    uint64_t k = pkey(a, b);
    size_t i = phash(k) & ps->mask;
    while (ps->keys[i] != UINT64_MAX) {
        if (ps->keys[i] == k) return ps->idx[i];
        i = (i + 1) & ps->mask;
    }
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 1 << 14;
        ps->p = xrealloc(ps->p, sizeof(Pair) * (size_t)ps->cap);
    }
    Pair* p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    p->a = a;
    p->b = b;
    p->stamp = -1;
    ps->keys[i] = k;
    ps->idx[i] = ps->n;
    return ps->n++;
}

static void pair_add_type(Pair* p, int t) {
    if (p->n > 0 && p->types[p->n - 1] == t) return; // the same type twice in a row
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->types = xrealloc(p->types, sizeof(int) * (size_t)p->cap);
    }
    p->types[p->n++] = t;
}

typedef struct {
    int64_t count;
    int a, b;
} HeapEnt;

// max-heap: larger count first, then the smaller pair (deterministic ties)
static int heap_before(const HeapEnt* x, const HeapEnt* y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

typedef struct {
    HeapEnt* e;
    size_t n, cap;
} Heap;

static void heap_push(Heap* h, HeapEnt v) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1 << 14;
        h->e = xrealloc(h->e, sizeof(HeapEnt) * h->cap);
    }
    size_t i = h->n++;
    while (i > 0 && heap_before(&v, &h->e[(i - 1) / 2])) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = v;
}

static HeapEnt heap_pop(Heap* h) {
    HeapEnt top = h->e[0], last = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const HeapEnt* best = &last;
        if (l < h->n && heap_before(&h->e[l], best)) { m = l; best = &h->e[l]; }
        if (r < h->n && heap_before(&h->e[r], best)) m = r;
        if (m == i) break;
        h->e[i] = h->e[m];
        i = m;
    }
    if (h->n > 0) h->e[i] = last;
    return top;
}

// ----------------------------------------------------------------------------
// tokenizer.json

// GPT-2's bytes-to-unicode: printable bytes stand for themselves, the others for U+0100 + n.
static void bytes_to_unicode(int b2u[256]) {
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = printable ? b : 256 + extra++;
    }
}

// The token's bytes written in the bytes-to-unicode alphabet (malloc'd UTF-8).
static char* token_string(const int b2u[256], const unsigned char* bytes, size_t n) {
    char* s = xmalloc(2 * n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int u = b2u[bytes[i]];
        if (u < 0x80) s[k++] = (char)u;
        else {
            s[k++] = (char)(0xC0 | (u >> 6));
            s[k++] = (char)(0x80 | (u & 0x3F));
        }
    }
    s[k] = 0;
    return s;
}

static cJSON* added_token(int id, const char* content) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", id);
    cJSON_AddStringToObject(o, "content", content);
    cJSON_AddBoolToObject(o, "single_word", 0);
    cJSON_AddBoolToObject(o, "lstrip", 0);
    cJSON_AddBoolToObject(o, "rstrip", 0);
    cJSON_AddBoolToObject(o, "normalized", 0);
    cJSON_AddBoolToObject(o, "special", 1);
    return o;
}

static cJSON* byte_level(int add_prefix_space, int trim_offsets, int use_regex) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", add_prefix_space);
    cJSON_AddBoolToObject(o, "trim_offsets", trim_offsets);
    cJSON_AddBoolToObject(o, "use_regex", use_regex);
    return o;
}

// tokenizer.json for n_tok tokens (the 256 bytes first; tok_off/tok_len index the bytes of each
// token) and n_merges merges (merges[2k], merges[2k+1] are the ids merged at rank k).
static char* tokenizer_json(const unsigned char* tok_bytes, const uint32_t* tok_off, const uint32_t* tok_len, int n_tok,
                            const int* merges, int n_merges) {
    int b2u[256];
    bytes_to_unicode(b2u);
    char** names = xmalloc(sizeof(char*) * (size_t)n_tok);
    for (int id = 0; id < n_tok; id++) names[id] = token_string(b2u, tok_bytes + tok_off[id], tok_len[id]);

    cJSON* root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON* added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON_AddItemToArray(added, added_token(n_tok, EOT));
    cJSON_AddItemToArray(added, added_token(n_tok + 1, PAD));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON* pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON* seq = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON* split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON* pat = cJSON_AddObjectToObject(split, "pattern");
    cJSON_AddStringToObject(pat, "Regex", PRE_REGEX);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", 0);
    cJSON_AddItemToArray(seq, split);
    cJSON_AddItemToArray(seq, byte_level(0, 1, 0));
    // post-processor: "<|endoftext|>" before the text (the BOS), as Llama's template does
    cJSON* post = cJSON_AddObjectToObject(root, "post_processor");
    cJSON_AddStringToObject(post, "type", "TemplateProcessing");
    cJSON* single = cJSON_AddArrayToObject(post, "single");
    cJSON* pair = cJSON_AddArrayToObject(post, "pair");
    for (int k = 0; k < 2; k++) { // pair: <eot> A <eot> B
        cJSON* sp = cJSON_CreateObject();
        cJSON* spi = cJSON_AddObjectToObject(sp, "SpecialToken");
        cJSON_AddStringToObject(spi, "id", EOT);
        cJSON_AddNumberToObject(spi, "type_id", k);
        cJSON_AddItemToArray(pair, sp);
        cJSON* sq = cJSON_CreateObject();
        cJSON* sqi = cJSON_AddObjectToObject(sq, "Sequence");
        cJSON_AddStringToObject(sqi, "id", k ? "B" : "A");
        cJSON_AddNumberToObject(sqi, "type_id", k);
        cJSON_AddItemToArray(pair, sq);
        if (k == 0) {
            cJSON_AddItemToArray(single, cJSON_Duplicate(sp, 1));
            cJSON_AddItemToArray(single, cJSON_Duplicate(sq, 1));
        }
    }
    cJSON* sts = cJSON_AddObjectToObject(post, "special_tokens");
    cJSON* st = cJSON_AddObjectToObject(sts, EOT);
    cJSON_AddStringToObject(st, "id", EOT);
    cJSON_AddItemToObject(st, "ids", cJSON_CreateIntArray(&n_tok, 1));
    const char* eot_name = EOT;
    cJSON_AddItemToObject(st, "tokens", cJSON_CreateStringArray(&eot_name, 1));
    cJSON_AddItemToObject(root, "decoder", byte_level(1, 1, 1));
    cJSON* model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddNullToObject(model, "continuing_subword_prefix");
    cJSON_AddNullToObject(model, "end_of_word_suffix");
    cJSON_AddBoolToObject(model, "fuse_unk", 0);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON_AddBoolToObject(model, "ignore_merges", 0);
    cJSON* vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int id = 0; id < n_tok; id++) cJSON_AddNumberToObject(vocab, names[id], id);
    cJSON* ml = cJSON_AddArrayToObject(model, "merges");
    for (int k = 0; k < n_merges; k++) {
        const char* ab[2] = {names[merges[2 * k]], names[merges[2 * k + 1]]};
        cJSON_AddItemToArray(ml, cJSON_CreateStringArray(ab, 2));
    }
    char* out = cJSON_Print(root);
    cJSON_Delete(root);
    for (int id = 0; id < n_tok; id++) free(names[id]);
    free(names);
    return out;
}

static char* tokenizer_config_json(void) {
    cJSON* c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "tokenizer_class", "PreTrainedTokenizerFast");
    cJSON_AddStringToObject(c, "bos_token", EOT);
    cJSON_AddStringToObject(c, "eos_token", EOT);
    cJSON_AddStringToObject(c, "pad_token", PAD);
    cJSON_AddNullToObject(c, "unk_token");
    cJSON_AddBoolToObject(c, "add_bos_token", 1);
    cJSON_AddBoolToObject(c, "add_eos_token", 0);
    cJSON_AddBoolToObject(c, "clean_up_tokenization_spaces", 0);
    char* out = cJSON_Print(c);
    cJSON_Delete(c);
    return out;
}

// ----------------------------------------------------------------------------
// training

int bpe_train(const char* text, size_t len, int vocab_size, const char* out_dir, BpeTrainStats* stats, Err* err) {
    double t0 = now_seconds();
    if (vocab_size < BPE_TRAIN_MIN_VOCAB || vocab_size > BPE_TRAIN_MAX_VOCAB)
        return err_set(err, "bpe_train: vocab size %d: expected %d..%d (256 bytes + 2 special tokens + merges)", vocab_size,
                       BPE_TRAIN_MIN_VOCAB, BPE_TRAIN_MAX_VOCAB);
    int target = vocab_size - 258;

    // 1. pre-tokenize with the tokenizer itself (bytes only, no merges yet) and count word types
    uint32_t byte_off[256], byte_len[256];
    unsigned char all_bytes[256];
    for (int b = 0; b < 256; b++) { all_bytes[b] = (unsigned char)b; byte_off[b] = (uint32_t)b; byte_len[b] = 1; }
    char* skeleton = tokenizer_json(all_bytes, byte_off, byte_len, 256, NULL, 0);
    Tokenizer pre;
    if (tokenizer_load_json(&pre, skeleton, strlen(skeleton), NULL, "bpe_train skeleton tokenizer.json", err)) {
        free(skeleton);
        return -1;
    }
    free(skeleton);
    Words w = {0};
    int rc = tokenizer_pre_tokenize(&pre, text, len, on_piece, &w, err);
    tokenizer_free(&pre);
    if (rc) { words_free(&w); return -1; }
    if (w.n_types == 0) { words_free(&w); return err_set(err, "bpe_train: the training text holds no words"); }

    // symbols of each type: byte ids to start with (id = byte value), rewritten in place
    int* sym = xmalloc(sizeof(int) * (w.n_bytes + 1));
    uint32_t* sym_len = xmalloc(sizeof(uint32_t) * (size_t)w.n_types);
    for (size_t i = 0; i < w.n_bytes; i++) sym[i] = (unsigned char)w.bytes[i];
    memcpy(sym_len, w.len, sizeof(uint32_t) * (size_t)w.n_types);

    // 2. pair counts over types
    Pairs ps = {0};
    for (int t = 0; t < w.n_types; t++) {
        const int* s = sym + w.off[t];
        for (uint32_t i = 0; i + 1 < sym_len[t]; i++) {
            int q = pair_at(&ps, s[i], s[i + 1]); // may move ps.p: index after the call
            ps.p[q].count += w.freq[t];
            pair_add_type(&ps.p[q], t);
        }
    }
    Heap heap = {0};
    for (int j = 0; j < ps.n; j++) heap_push(&heap, (HeapEnt){ps.p[j].count, ps.p[j].a, ps.p[j].b});

    // token bytes: ids 0..255 are the bytes, merged tokens follow
    size_t tb_cap = 4096, tb_n = 256;
    unsigned char* tb = xmalloc(tb_cap);
    memcpy(tb, all_bytes, 256);
    uint32_t* tok_off = xmalloc(sizeof(uint32_t) * (size_t)(256 + target));
    uint32_t* tok_len = xmalloc(sizeof(uint32_t) * (size_t)(256 + target));
    memcpy(tok_off, byte_off, sizeof byte_off);
    memcpy(tok_len, byte_len, sizeof byte_len);
    // A merge can rebuild a string that already is a token ("ab"+"c" after "a"+"bc"): it then
    // maps to that token, as in Hugging Face's trainer, so token strings stay unique.
    size_t tcap = 1024;
    while (tcap < 2 * (size_t)(256 + target)) tcap *= 2;
    int* tslots = xcalloc(tcap, sizeof(int)); // token id + 1, 0 empty
    for (int id = 0; id < 256; id++) {
        size_t i = (size_t)hash_bytes((const char*)all_bytes + id, 1) & (tcap - 1);
        while (tslots[i]) i = (i + 1) & (tcap - 1);
        tslots[i] = id + 1;
    }
    int n_tok = 256, cap_merges = 1024;
    int* merges = xmalloc(sizeof(int) * 2 * (size_t)cap_merges);
    int* seen = xmalloc(sizeof(int) * (size_t)w.n_types);
    for (int t = 0; t < w.n_types; t++) seen[t] = -1;
    int* touched = NULL; // pairs gaining counts in this step
    int n_touched = 0, cap_touched = 0;

    // 3. merges
    int n_merges = 0;
    while (n_tok - 256 < target && heap.n > 0) {
        HeapEnt top = heap_pop(&heap);
        int pi = pair_at(&ps, top.a, top.b);
        int64_t cur = ps.p[pi].count;
        if (cur != top.count) { // stale: counts only fall for existing pairs, so re-queue
            if (cur > 0) heap_push(&heap, (HeapEnt){cur, top.a, top.b});
            continue;
        }
        if (cur < 2) break; // nothing occurs twice any more
        int a = top.a, b = top.b;
        if (n_merges == cap_merges) merges = xrealloc(merges, sizeof(int) * 2 * (size_t)(cap_merges *= 2));
        merges[2 * n_merges] = a;
        merges[2 * n_merges + 1] = b;
        size_t zl = (size_t)tok_len[a] + tok_len[b];
        while (tb_n + zl > tb_cap) { tb_cap *= 2; tb = xrealloc(tb, tb_cap); }
        memcpy(tb + tb_n, tb + tok_off[a], tok_len[a]); // candidate bytes, kept if new
        memcpy(tb + tb_n + tok_len[a], tb + tok_off[b], tok_len[b]);
        size_t ti = (size_t)hash_bytes((const char*)tb + tb_n, zl) & (tcap - 1);
        int z = -1;
        for (; tslots[ti]; ti = (ti + 1) & (tcap - 1)) {
            int id = tslots[ti] - 1;
            if (tok_len[id] == zl && memcmp(tb + tok_off[id], tb + tb_n, zl) == 0) { z = id; break; }
        }
        if (z < 0) {
            z = n_tok++;
            tok_off[z] = (uint32_t)tb_n;
            tok_len[z] = (uint32_t)zl;
            tb_n += zl;
            tslots[ti] = z + 1;
        }
        n_touched = 0;
        // The list of types holding (a, b) is not extended during this step (no new pair equals
        // (a, b)), but pair_at may move ps.p: index, never hold a pointer across calls.
        int* types = ps.p[pi].types;
        int n_types = ps.p[pi].n;
        ps.p[pi].types = NULL;
        ps.p[pi].n = ps.p[pi].cap = 0;
        for (int k = 0; k < n_types; k++) {
            int t = types[k];
            if (seen[t] == n_merges) continue;
            seen[t] = n_merges;
            int* s = sym + w.off[t];
            uint32_t n = sym_len[t];
            int has = 0;
            for (uint32_t i = 0; i + 1 < n && !has; i++) has = s[i] == a && s[i + 1] == b;
            if (!has) continue; // stale entry
            int64_t f = w.freq[t];
            for (uint32_t i = 0; i + 1 < n; i++) {
                int q = pair_at(&ps, s[i], s[i + 1]);
                ps.p[q].count -= f;
            }
            uint32_t j = 0;
            for (uint32_t i = 0; i < n;) {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) { s[j++] = z; i += 2; }
                else s[j++] = s[i++];
            }
            sym_len[t] = j;
            for (uint32_t i = 0; i + 1 < j; i++) {
                int q = pair_at(&ps, s[i], s[i + 1]);
                ps.p[q].count += f;
                if (s[i] != z && s[i + 1] != z) continue;
                pair_add_type(&ps.p[q], t);
                if (ps.p[q].stamp != n_merges) {
                    ps.p[q].stamp = n_merges;
                    if (n_touched == cap_touched) {
                        cap_touched = cap_touched ? cap_touched * 2 : 1024;
                        touched = xrealloc(touched, sizeof(int) * (size_t)cap_touched);
                    }
                    touched[n_touched++] = q;
                }
            }
        }
        free(types);
        for (int k = 0; k < n_touched; k++) {
            const Pair* q = &ps.p[touched[k]];
            if (q->count > 0) heap_push(&heap, (HeapEnt){q->count, q->a, q->b});
        }
        n_merges++;
    }

    // 4. write the files
    char* tj = tokenizer_json(tb, tok_off, tok_len, n_tok, merges, n_merges);
    char* cj = tokenizer_config_json();
    char path[4200];
    rc = mkdir_p(out_dir, err);
    if (rc == 0) rc = write_file_atomic(path_join(path, sizeof path, out_dir, "tokenizer.json"), tj, strlen(tj), err);
    if (rc == 0) rc = write_file_atomic(path_join(path, sizeof path, out_dir, "tokenizer_config.json"), cj, strlen(cj), err);
    if (stats) {
        stats->n_words = w.n_words;
        stats->n_types = (size_t)w.n_types;
        stats->n_merges = n_merges;
        stats->vocab_size = n_tok + 2;
        stats->seconds = now_seconds() - t0;
    }
    free(tj);
    free(cj);
    free(touched);
    free(tslots);
    free(seen);
    free(merges);
    free(tok_off);
    free(tok_len);
    free(tb);
    free(heap.e);
    for (int j = 0; j < ps.n; j++) free(ps.p[j].types);
    free(ps.p);
    free(ps.keys);
    free(ps.idx);
    free(sym);
    free(sym_len);
    words_free(&w);
    return rc;
}

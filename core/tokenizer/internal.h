// internal.h: what the files of core/tokenizer/ share (the public API is core/tokenizer.h): growable
// buffers and hash maps (inline: the BPE inner loop uses them), the loaded tokenizer's state, the
// per-call scratch of encode, and each file's functions. One file per job:
//   utf8.c      UTF-8 primitives           regex.c        Oniguruma -> PCRE2, compile, match
//   normalize.c normalizer steps           pretokenize.c  pre-tokenizer steps
//   bpe.c       the BPE model              added.c        splitting on added tokens
//   encode.c    encode entry points        decode.c       decode table and streaming decoder
//   vocab.c     id <-> piece lookups       load*.c        tokenizer.json, one file per component
// The pipeline follows the Rust `tokenizers` library. Hugging Face's JS port (our test oracle,
// tests/e2e/test_tokenizer_ref.sh) agrees with it on everything the Qwen3, Llama-3 and Mistral
// files use; where the two differ we take Rust's side: \s is Unicode White_Space (JS's built-in
// ByteLevel regex, WhitespaceSplit and Strip use ECMAScript \s, which adds U+FEFF and lacks U+0085),
// Digits and Whitespace are Unicode-aware (JS: ASCII \d, \w), Punctuation isolates each character
// (JS merges runs), StripAccents removes Mn only (JS: all marks), Lowercase has no final-sigma rule.
#ifndef SLIMSCOPE_TOKENIZER_INTERNAL_H
#define SLIMSCOPE_TOKENIZER_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "../tokenizer.h"

// ----------------------------------------------------------------------------
// growable buffers

typedef struct {
    char* p;
    size_t n, cap;
} Buf;

static inline void buf_reserve(Buf* b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra + 1) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}
static inline void buf_put(Buf* b, const void* s, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static inline void buf_putc(Buf* b, char c) { buf_put(b, &c, 1); }
static inline void buf_free(Buf* b) { free(b->p); memset(b, 0, sizeof *b); }

typedef struct {
    int* p;
    int n, cap;
} IntVec;

static inline void iv_push(IntVec* v, int x) {
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

static inline void sv_push(SpanVec* v, size_t off, size_t len) {
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
// hashing: bytes -> id, and (id, id) -> merge

static inline uint64_t hash_bytes(const void* p, size_t n) {
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

static inline void strmap_init(StrMap* m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = xmalloc(cap * sizeof(StrSlot));
    for (size_t i = 0; i < cap; i++) m->slots[i].id = -1;
    m->mask = cap - 1;
    m->count = 0;
}

static inline int strmap_get(const StrMap* m, const char* arena, const void* key, size_t len) {
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
static inline void strmap_put(StrMap* m, const char* arena, uint32_t off, uint32_t len, int id) {
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

static inline void pairmap_init(PairMap* m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = xmalloc(cap * sizeof(PairSlot));
    for (size_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
}

static inline const PairSlot* pairmap_get(const PairMap* m, int a, int b) {
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
static inline void pairmap_put(PairMap* m, int a, int b, int rank, int new_id) {
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
// tokenizer state

typedef struct {
    pcre2_code* code;
} Regex;

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

typedef void (*SegFn)(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out);

typedef struct {
    const char* name; // file name used in messages
    Err* err;
} LoadCtx;

// ----------------------------------------------------------------------------
// functions shared between the files (each defined in the file named)

// utf8.c
int tok_utf8_next(const unsigned char* s, size_t n, int32_t* cp);
int tok_utf8_valid_char(const unsigned char* s, size_t n);
int tok_utf8_is_valid(const char* s, size_t n);
int tok_utf8_encode(int32_t cp, char* out);
int tok_is_white_space(int32_t c);
int tok_is_word_char(int32_t c);
void tok_utf8_sanitize(const char* s, size_t n, Buf* out);

// regex.c
int tok_regex_compile(Regex* r, const char* pat, size_t len, int literal, int translate, char* msg, size_t msgn);
void tok_regex_free(Regex* r);
int tok_regex_match(const Regex* r, const char* s, size_t n, size_t pos, pcre2_match_data* md);
int tok_regex_find_all(const Regex* r, pcre2_match_data* md, const char* s, size_t n, SpanVec* out);

// encode.c
void tok_ctx_init(Ctx* c);
void tok_ctx_free(Ctx* c);
void tok_ctx_cache_init(Ctx* c, size_t len);

// normalize.c
const char* tok_normalize(const TokenizerImpl* m, Ctx* c, const char* s, size_t n, size_t* out_n);

// pretokenize.c
void tok_pretokenize_encode(const Tokenizer* t, Ctx* c, const char* s, size_t n, int section_index, IntVec* out);

// bpe.c
void tok_model_pieces(const Tokenizer* t, Ctx* c, const char* base, SpanVec* sp, IntVec* out);

// added.c
void tok_split_added(const Tokenizer* t, Ctx* c, const AddedIndex* ix, const char* s, size_t n, int section,
                 SegFn fn, IntVec* out);

// decode.c
void tok_build_decode_table(Tokenizer* t);

// vocab.c
int tok_piece_to_model(const TokenizerImpl* m, int byte_level, const char* s, size_t n, Buf* out);

// load.c: JSON helpers and fields several components share
const cJSON* tok_jget(const cJSON* o, const char* k);
const char* tok_jstr(const cJSON* o, const char* k);
int tok_jbool(const cJSON* o, const char* k, int dflt);
typedef int (*ComponentFn)(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path);
const char* tok_component_type(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path, const char* key,
                               ComponentFn fn, int* rc);
int tok_parse_id(const cJSON* v, int* out);
int tok_parse_pattern(LoadCtx* L, const cJSON* o, const char* path, Regex* re);
int tok_parse_prepend_scheme(LoadCtx* L, const cJSON* j, const char* path, int* out);
int tok_parse_replacement(LoadCtx* L, const cJSON* j, const char* path, char* repl, int* repl_len);

// load_<component>.c
int tok_load_model(LoadCtx* L, Tokenizer* t, const cJSON* root);
int tok_added_tokens_check(LoadCtx* L, const cJSON* added, int* max_id); // ids, contents; raises max_id
void tok_load_added_tokens(Tokenizer* t, const cJSON* added);            // after the vocab
void tok_added_tokens_index(TokenizerImpl* m);                           // after the normalizer
int tok_parse_normalizer(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path);
int tok_parse_pre_tokenizer(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path);
int tok_has_byte_level(const cJSON* j);
int tok_parse_post_processor(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path);
int tok_parse_decoder(LoadCtx* L, Tokenizer* t, const cJSON* j, const char* path);

#endif

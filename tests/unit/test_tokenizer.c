// test_tokenizer.c: the tokenizer on tiny tokenizer.json files written here, with every expected
// id derived by hand from the merge ranks (not from running any implementation): a byte-level
// file (merge priority, leftmost ties, pair and string merge forms, added tokens with lstrip,
// rstrip, single_word, template post-processor), a SentencePiece-style file (Prepend/Replace
// normalizer, byte_fallback, fuse_unk, the legacy doubled metaspace, decoder chain), a
// normalizer file (NFKC, Lowercase, normalized added tokens), a Metaspace pre-tokenizer file, the
// five Split behaviours, streaming decode of split UTF-8, concurrent encodes, and malformed files
// (each a one-line error naming the file).
#include "testutil.h"

#include <pthread.h>

#include "tokenizer.h"

// ---------------------------------------------------------------------------------------------
// helpers

// Tokenizer JSON is written with ' for " to keep the C strings readable.
static char* dq(const char* s) {
    char* r = strdup(s);
    for (char* p = r; *p; p++)
        if (*p == '\'') *p = '"';
    return r;
}

static void load_q(Tokenizer* t, const char* json_q, const char* config_q) {
    char* j = dq(json_q);
    char* c = config_q ? dq(config_q) : NULL;
    Err err = {{0}};
    int rc = tokenizer_load_json(t, j, strlen(j), c, "tiny.json", &err);
    if (rc) fail_msg("load failed: %s", err.msg);
    free(j);
    free(c);
}

// Encodes text and compares with the expected ids (n_exp of them).
static void expect_ids(const Tokenizer* t, const char* text, int add_special, const int* exp, int n_exp) {
    int* ids;
    int n;
    Err err = {{0}};
    if (tokenizer_encode(t, text, strlen(text), add_special, &ids, &n, &err)) fail_msg("encode failed: %s", err.msg);
    int same = n == n_exp;
    for (int i = 0; same && i < n; i++) same = ids[i] == exp[i];
    if (!same) {
        char got[512] = "", want[512] = "";
        for (int i = 0; i < n && strlen(got) < 480; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%d ", ids[i]);
        for (int i = 0; i < n_exp && strlen(want) < 480; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "%d ", exp[i]);
        free(ids);
        fail_msg("encode(\"%s\", add_special=%d): got [%s] want [%s]", text, add_special, got, want);
    }
    free(ids);
}
#define EXPECT(t, text, sp, ...)                                              \
    do {                                                                      \
        const int e_[] = {__VA_ARGS__};                                       \
        expect_ids((t), (text), (sp), e_, (int)(sizeof e_ / sizeof e_[0]));   \
    } while (0)
#define EXPECT_NONE(t, text, sp) expect_ids((t), (text), (sp), NULL, 0)

static void expect_decode(const Tokenizer* t, const int* ids, int n, int skip, const char* want) {
    char* s = tokenizer_decode(t, ids, n, skip);
    if (strcmp(s, want) != 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "decode: got \"%s\" want \"%s\"", s, want);
        free(s);
        fail_msg("%s", msg);
    }
    free(s);
}
#define DECODE(t, skip, want, ...)                                                   \
    do {                                                                             \
        const int d_[] = {__VA_ARGS__};                                              \
        expect_decode((t), d_, (int)(sizeof d_ / sizeof d_[0]), (skip), (want));     \
    } while (0)

// ---------------------------------------------------------------------------------------------
// a byte-level (GPT-2 style) file

// Ġ is the space byte, Ã and © are the bytes C3 A9 of "é" in the bytes-to-unicode alphabet.
// Merge ranks: b c (0), a b (1), Ġ a (2), Ġa b (3), Ã © (4), a a (5); a mix of the pair and
// string forms.
static const char* BYTE_JSON =
    "{'version': '1.0',"
    " 'added_tokens': ["
    "  {'id': 20, 'content': '<|end|>', 'single_word': false, 'lstrip': false, 'rstrip': false, 'normalized': false, 'special': true},"
    "  {'id': 21, 'content': '<x>', 'single_word': false, 'lstrip': true, 'rstrip': false, 'normalized': false, 'special': false},"
    "  {'id': 22, 'content': '[w]', 'single_word': true, 'lstrip': false, 'rstrip': false, 'normalized': false, 'special': false},"
    "  {'id': 23, 'content': '<r>', 'single_word': false, 'lstrip': false, 'rstrip': true, 'normalized': false, 'special': false},"
    "  {'id': 24, 'content': '<s>', 'single_word': false, 'lstrip': false, 'rstrip': false, 'normalized': false, 'special': true}],"
    " 'normalizer': null,"
    " 'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': false, 'trim_offsets': true, 'use_regex': true},"
    " 'post_processor': {'type': 'TemplateProcessing',"
    "   'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}}, {'Sequence': {'id': 'A', 'type_id': 0}},"
    "              {'SpecialToken': {'id': '<|end|>', 'type_id': 0}}],"
    "   'pair': [],"
    "   'special_tokens': {'<s>': {'id': '<s>', 'ids': [24], 'tokens': ['<s>']},"
    "                      '<|end|>': {'id': '<|end|>', 'ids': [20], 'tokens': ['<|end|>']}}},"
    " 'decoder': {'type': 'ByteLevel', 'add_prefix_space': true, 'trim_offsets': true, 'use_regex': true},"
    " 'model': {'type': 'BPE', 'dropout': null, 'unk_token': null, 'continuing_subword_prefix': null,"
    "   'end_of_word_suffix': null, 'fuse_unk': false, 'byte_fallback': false,"
    "   'vocab': {'a': 0, 'b': 1, 'c': 2, 'Ġ': 3, 'ab': 4, 'bc': 5, 'Ġa': 6, 'Ġab': 7, 'Ã': 8, '©': 9,"
    "             'Ã©': 10, '!': 11, 'aa': 12, 'x': 13, '<': 14, '>': 15, '[': 16, 'w': 17, ']': 18},"
    "   'merges': [['b', 'c'], 'a b', ['Ġ', 'a'], 'Ġa b', ['Ã', '©'], 'a a']}}";

static void test_byte_level_merges(void** state) {
    Tokenizer t;
    load_q(&t, BYTE_JSON, NULL);
    assert_int_equal(t.byte_level, 1);
    assert_int_equal(tokenizer_vocab_size(&t), 25);
    // "abc": b c (rank 0) beats a b (rank 1); then a+bc has no merge.
    EXPECT(&t, "abc", 0, 0, 5);
    // "aaa": two equal-rank candidates, the leftmost merges first.
    EXPECT(&t, "aaa", 0, 12, 0);
    // " ab": a b (1) before Ġ a (2), leaving Ġ + ab (no "Ġ ab" merge), so "Ġab" is unreachable.
    EXPECT(&t, " ab", 0, 3, 4);
    // " aa": Ġ a (2) before a a (5): Ġa, a.
    EXPECT(&t, " aa", 0, 6, 0);
    // "é" is the bytes C3 A9 -> Ã ©, merged by rank 4.
    EXPECT(&t, "\xC3\xA9", 0, 10);
    // GPT-2 regex pieces: "ab", "!!" (bytes not merged), " a".
    EXPECT(&t, "ab!! a", 0, 4, 11, 11, 6);
    // A byte that is not in the vocab, with no unk token, is dropped.
    EXPECT(&t, "az", 0, 0);
    // The template puts <s> before and <|end|> after.
    EXPECT(&t, "abc", 1, 24, 0, 5, 20);
    EXPECT(&t, "", 1, 24, 20);
    EXPECT_NONE(&t, "", 0);
    assert_int_equal(t.bos_id, 24);
    assert_int_equal(t.eos_id, 20);
    tokenizer_free(&t);
}

static void test_byte_level_added_tokens(void** state) {
    Tokenizer t;
    load_q(&t, BYTE_JSON, NULL);
    // special tokens inside text are recognised with or without add_special
    EXPECT(&t, "a<|end|>b", 0, 0, 20, 1);
    EXPECT(&t, "<s>a", 1, 24, 24, 0, 20);
    // lstrip swallows the spaces before <x>; without it they would become Ġ tokens
    EXPECT(&t, "a  <x>b", 0, 0, 21, 1);
    // rstrip swallows the spaces after <r>
    EXPECT(&t, "a<r>  b", 0, 0, 23, 1);
    // single_word: matched when no word character touches it ...
    EXPECT(&t, "[w] a", 0, 22, 6);
    // ... and left to the model when one does ("a", "[", "w", "]" are separate regex pieces)
    EXPECT(&t, "a[w]", 0, 0, 16, 17, 18);
    // an incomplete added token is ordinary text
    EXPECT(&t, "<x", 0, 14, 13);
    tokenizer_free(&t);
}

static void test_byte_level_decode(void** state) {
    Tokenizer t;
    load_q(&t, BYTE_JSON, NULL);
    DECODE(&t, 0, "<s>abc<|end|>", 24, 0, 5, 20);
    DECODE(&t, 1, "abc", 24, 0, 5, 20);
    DECODE(&t, 0, " ab", 3, 4);
    DECODE(&t, 0, "\xC3\xA9", 10);
    DECODE(&t, 0, "\xC3\xA9", 8, 9);
    // a lone lead byte decodes to U+FFFD; ids out of range decode to nothing
    DECODE(&t, 0, "a\xEF\xBF\xBD", 0, 8);
    DECODE(&t, 0, "ab", 0, 999, -1, 1);
    assert_string_equal(tokenizer_piece(&t, 7), "Ġab");
    assert_string_equal(tokenizer_piece(&t, 20), "<|end|>");
    assert_null(tokenizer_piece(&t, 19)); // a hole in the id range
    assert_null(tokenizer_piece(&t, 25));
    assert_int_equal(tokenizer_token_to_id(&t, "Ġab"), 7);
    // the bytes behind a piece: Ġ is the space (0x20), Ã the byte 0xC3 of GPT-2's alphabet
    char bytes[8];
    assert_int_equal(tokenizer_piece_bytes(&t, 7, bytes, sizeof bytes), 3);
    assert_memory_equal(bytes, " ab", 3);
    assert_int_equal(tokenizer_piece_bytes(&t, 8, bytes, sizeof bytes), 1);
    assert_int_equal((unsigned char)bytes[0], 0xC3);
    assert_int_equal(tokenizer_piece_bytes(&t, 7, bytes, 2), 2);  // at most cap
    assert_int_equal(tokenizer_piece_bytes(&t, 19, bytes, sizeof bytes), -1);  // no such token
    assert_int_equal(tokenizer_token_to_id(&t, "<x>"), 21);
    assert_int_equal(tokenizer_token_to_id(&t, "nope"), -1);
    assert_int_equal(tokenizer_is_special(&t, 20), 1);
    assert_int_equal(tokenizer_is_special(&t, 21), 0);
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------------------------
// a SentencePiece-style file (Llama-2 / Mistral layout)

static const char* SP_JSON =
    "{'added_tokens': ["
    "  {'id': 0, 'content': '<unk>', 'special': true, 'normalized': false},"
    "  {'id': 1, 'content': '<s>', 'special': true, 'normalized': false},"
    "  {'id': 2, 'content': '</s>', 'special': true, 'normalized': false}],"
    " 'normalizer': {'type': 'Sequence', 'normalizers': [{'type': 'Prepend', 'prepend': '▁'},"
    "                {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '▁'}]},"
    " 'pre_tokenizer': null,"
    " 'post_processor': {'type': 'TemplateProcessing', 'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}},"
    "   {'Sequence': {'id': 'A', 'type_id': 0}}], 'pair': [],"
    "   'special_tokens': {'<s>': {'id': '<s>', 'ids': [1], 'tokens': ['<s>']}}},"
    " 'decoder': {'type': 'Sequence', 'decoders': [{'type': 'Replace', 'pattern': {'String': '▁'}, 'content': ' '},"
    "   {'type': 'ByteFallback'}, {'type': 'Fuse'}, {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]},"
    " 'model': {'type': 'BPE', 'unk_token': '<unk>', 'fuse_unk': true, 'byte_fallback': true,"
    "   'vocab': {'<unk>': 0, '<s>': 1, '</s>': 2, '<0xE2>': 3, '<0x82>': 4, '<0xAC>': 5, '▁': 6, 'h': 7, 'i': 8,"
    "             '▁h': 9, '▁hi': 10},"
    "   'merges': ['▁ h', '▁h i']}}";

static const char* SP_CONFIG = "{'add_bos_token': true, 'add_eos_token': false, 'bos_token': '<s>', 'eos_token': '</s>',"
                               " 'unk_token': '<unk>', 'legacy': true}";

static void test_sentencepiece_encode(void** state) {
    Tokenizer t;
    load_q(&t, SP_JSON, SP_CONFIG);
    assert_int_equal(t.byte_level, 0);
    assert_int_equal(t.bos_id, 1);
    assert_int_equal(t.eos_id, 2);
    assert_int_equal(t.unk_id, 0);
    // "hi" -> "▁hi": ▁ h (0) then ▁h i (1); the template adds <s> (and add_bos_token adds no second)
    EXPECT(&t, "hi", 1, 1, 10);
    EXPECT(&t, "hi", 0, 10);
    // "hi €" -> "▁hi▁€": € is not in the vocab, so its bytes E2 82 AC fall back to <0xNN>
    EXPECT(&t, "hi \xE2\x82\xAC", 0, 10, 6, 3, 4, 5);
    // ü (C3 BC) has no <0xC3> token: unk, and the second unk is fused into the first
    EXPECT(&t, "\xC3\xBC\xC3\xBC", 0, 6, 0);
    // legacy: the Prepend normalizer runs on each piece between added tokens -> doubled ▁
    EXPECT(&t, " <s> ", 0, 6, 6, 1, 6, 6);
    EXPECT(&t, "<s>hi", 0, 1, 10);
    tokenizer_free(&t);
}

static void test_sentencepiece_decode(void** state) {
    Tokenizer t;
    load_q(&t, SP_JSON, SP_CONFIG);
    // Replace ▁ -> ' ', bytes fused into €, then Strip removes one leading space
    DECODE(&t, 1, "hi \xE2\x82\xAC", 1, 10, 6, 3, 4, 5);
    DECODE(&t, 0, "<s> hi \xE2\x82\xAC", 1, 10, 6, 3, 4, 5);
    DECODE(&t, 0, " hi", 6, 10); // only one space is stripped
    DECODE(&t, 0, "\xEF\xBF\xBD hi", 3, 10); // an unfinished byte sequence becomes U+FFFD
    assert_string_equal(tokenizer_piece(&t, 10), "▁hi");
    assert_int_equal(tokenizer_token_to_id(&t, "<0xE2>"), 3);
    char bytes[8];
    assert_int_equal(tokenizer_piece_bytes(&t, 3, bytes, sizeof bytes), -1);  // not byte-level
    tokenizer_free(&t);
}

static void test_streaming_split_utf8(void** state) {
    Tokenizer t;
    load_q(&t, SP_JSON, SP_CONFIG);
    TokenStream s;
    token_stream_init(&s, &t, 0);
    size_t n;
    assert_string_equal(token_stream_push(&s, 10, &n), "hi"); // first token: leading space stripped
    assert_string_equal(token_stream_push(&s, 6, &n), " ");
    assert_string_equal(token_stream_push(&s, 3, &n), "");     // E2: half a character, held back
    assert_int_equal(n, 0);
    assert_string_equal(token_stream_push(&s, 4, &n), "");     // 82: still incomplete
    assert_string_equal(token_stream_push(&s, 5, &n), "\xE2\x82\xAC");
    assert_int_equal(n, 3);
    assert_string_equal(token_stream_flush(&s, &n), "");
    // after a flush the stream starts over (the leading-space strip applies again)
    assert_string_equal(token_stream_push(&s, 10, &n), "hi");
    assert_string_equal(token_stream_push(&s, 3, &n), "");
    assert_string_equal(token_stream_flush(&s, &n), "\xEF\xBF\xBD"); // incomplete at the end
    // an invalid continuation: the held byte becomes U+FFFD and the new text follows
    assert_string_equal(token_stream_push(&s, 3, &n), "");
    assert_string_equal(token_stream_push(&s, 10, &n), "\xEF\xBF\xBD hi");
    token_stream_flush(&s, &n);
    token_stream_free(&s);

    // byte-level: é split over two tokens, and special tokens skipped
    Tokenizer b;
    load_q(&b, BYTE_JSON, NULL);
    token_stream_init(&s, &b, 1);
    assert_string_equal(token_stream_push(&s, 24, &n), ""); // <s> skipped
    assert_string_equal(token_stream_push(&s, 8, &n), "");
    assert_string_equal(token_stream_push(&s, 9, &n), "\xC3\xA9");
    assert_string_equal(token_stream_push(&s, 20, &n), "");
    assert_string_equal(token_stream_flush(&s, &n), "");
    token_stream_free(&s);
    tokenizer_free(&b);
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------------------------
// normalizers, normalized added tokens, no decoder

static const char* NORM_JSON =
    "{'added_tokens': [{'id': 7, 'content': 'World', 'special': false, 'normalized': true}],"
    " 'normalizer': {'type': 'Sequence', 'normalizers': [{'type': 'NFKC'}, {'type': 'Lowercase'}]},"
    " 'pre_tokenizer': {'type': 'WhitespaceSplit'},"
    " 'post_processor': null, 'decoder': null,"
    " 'model': {'type': 'BPE', 'unk_token': '<unk>', 'fuse_unk': false, 'ignore_merges': true,"
    "   'vocab': {'<unk>': 0, 'fi': 1, 'hello': 2, 'cafe': 3, 'caf\\u00e9': 4, 'a': 5},"
    "   'merges': []}}";

static void test_normalizers(void** state) {
    Tokenizer t;
    load_q(&t, NORM_JSON, NULL);
    EXPECT(&t, "\xEF\xAC\x81", 0, 1);         // U+FB01 ligature -> NFKC "fi"
    EXPECT(&t, "HELLO", 0, 2);                 // Lowercase
    EXPECT(&t, "cafe\xCC\x81", 0, 4);          // e + combining acute composes to é
    EXPECT(&t, "cafe  HELLO", 0, 3, 2);        // WhitespaceSplit drops the spaces
    EXPECT(&t, "WORLD world", 0, 7, 7);        // a normalized added token matches after normalization
    EXPECT(&t, "xyz", 0, 0, 0, 0);             // unknown characters: one unk each (fuse_unk off)
    DECODE(&t, 0, "hello fi", 2, 1);           // no decoder: tokens joined by a space
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------------------------
// Metaspace pre-tokenizer with prepend_scheme "first"

static const char* META_JSON =
    "{'added_tokens': [{'id': 5, 'content': '<s>', 'special': true, 'normalized': false}],"
    " 'normalizer': null,"
    " 'pre_tokenizer': {'type': 'Metaspace', 'replacement': '▁', 'prepend_scheme': 'first', 'split': true},"
    " 'post_processor': null,"
    " 'decoder': {'type': 'Metaspace', 'replacement': '▁', 'prepend_scheme': 'first', 'split': true},"
    " 'model': {'type': 'BPE', 'vocab': {'▁a': 0, '▁b': 1, 'a': 2, 'b': 3, '▁': 4, '<s>': 5},"
    "   'merges': ['▁ a', '▁ b']}}";

static void test_metaspace(void** state) {
    Tokenizer t;
    load_q(&t, META_JSON, NULL);
    EXPECT(&t, "a b", 0, 0, 1);       // "▁a▁b" split before each ▁
    EXPECT(&t, "<s>a b", 0, 5, 2, 1); // not the first section: no ▁ prepended to "a"
    DECODE(&t, 0, "a b", 0, 1);       // the first token loses its leading space
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------------------------
// Split behaviours (the Rust library's own example: "the-final--countdown" on "-")

static void split_case(const char* behavior, int invert, const int* exp, int n_exp) {
    char json[2048];
    snprintf(json, sizeof json,
             "{'added_tokens': [], 'normalizer': null, 'post_processor': null, 'decoder': null,"
             " 'pre_tokenizer': {'type': 'Split', 'pattern': {'String': '-'}, 'behavior': '%s', 'invert': %s},"
             " 'model': {'type': 'BPE', 'ignore_merges': true, 'merges': [],"
             "   'vocab': {'the': 0, 'final': 1, 'countdown': 2, '-': 3, '--': 4, 'the-': 5, 'final-': 6,"
             "             '-final': 7, '-countdown': 8}}}",
             behavior, invert ? "true" : "false");
    Tokenizer t;
    load_q(&t, json, NULL);
    expect_ids(&t, "the-final--countdown", 0, exp, n_exp);
    tokenizer_free(&t);
}

static void test_split_behaviors(void** state) {
    const int removed[] = {0, 1, 2};
    const int isolated[] = {0, 3, 1, 3, 3, 2};
    const int prev[] = {5, 6, 3, 2};
    const int next[] = {0, 7, 3, 8};
    const int contiguous[] = {0, 3, 1, 4, 2};
    const int inverted[] = {3, 3, 3}; // invert: the words are the delimiters, and are removed
    split_case("Removed", 0, removed, 3);
    split_case("Isolated", 0, isolated, 6);
    split_case("MergedWithPrevious", 0, prev, 4);
    split_case("MergedWithNext", 0, next, 4);
    split_case("Contiguous", 0, contiguous, 5);
    split_case("Removed", 1, inverted, 3);
}

// ---------------------------------------------------------------------------------------------
// concurrency: a const Tokenizer encodes from several threads at once

typedef struct {
    const Tokenizer* t;
    const char* text;
    int* ids;
    int n;
} Job;

static void* encode_job(void* arg) {
    Job* j = arg;
    Err err;
    for (int r = 0; r < 20; r++) {
        free(j->ids);
        if (tokenizer_encode(j->t, j->text, strlen(j->text), 1, &j->ids, &j->n, &err)) j->n = -1;
    }
    return NULL;
}

static void test_concurrent_encode(void** state) {
    Tokenizer t;
    load_q(&t, BYTE_JSON, NULL);
    // long enough (over 4 KB) for the word cache
    size_t len = 0;
    char* text = malloc(64 * 1024);
    while (len < 60 * 1024) len += (size_t)sprintf(text + len, "abc aaa \xC3\xA9 <x> ab!! [w] ");
    int* ref;
    int nref;
    Err err;
    assert_int_equal(tokenizer_encode(&t, text, len, 1, &ref, &nref, &err), 0);
    Job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (Job){&t, text, NULL, 0};
        assert_int_equal(pthread_create(&th[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].n, nref);
        assert_memory_equal(jobs[i].ids, ref, (size_t)nref * sizeof(int));
        free(jobs[i].ids);
    }
    free(ref);
    free(text);
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------------------------
// malformed files: one line, naming the file and what was expected

static void expect_load_error(const char* json_q, const char* config_q, const char* needle) {
    char dir[64], path[256];
    test_tmpdir(dir);
    char* j = dq(json_q);
    Err err = {{0}};
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(write_file_atomic(path, j, strlen(j), &err), 0);
    if (config_q) {
        char* c = dq(config_q);
        char cp[256];
        snprintf(cp, sizeof cp, "%s/tokenizer_config.json", dir);
        assert_int_equal(write_file_atomic(cp, c, strlen(c), &err), 0);
        free(c);
    }
    free(j);
    Tokenizer t;
    int rc = tokenizer_load(&t, dir, &err);
    test_rmrf(dir);
    if (rc == 0) { tokenizer_free(&t); fail_msg("loaded although it should fail with \"%s\"", needle); }
    if (!strstr(err.msg, needle)) fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
    if (strchr(err.msg, '\n')) fail_msg("error \"%s\" is more than one line", err.msg);
    const char* file = config_q && strstr(needle, "config") ? "tokenizer_config.json" : "tokenizer.json";
    if (!strstr(err.msg, file)) fail_msg("error \"%s\" does not name %s", err.msg, file);
    assert_null(t.impl);
}

static void test_malformed(void** state) {
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {", NULL, "not valid JSON");
    expect_load_error("[1, 2]", NULL, "expected a JSON object");
    expect_load_error("{'model': {'type': 'Unigram', 'vocab': [['a', 0.0]]}}", NULL, "model.type 'Unigram' is not supported");
    expect_load_error("{'model': {'type': 'BPE', 'merges': []}}", NULL, "model.vocab missing");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}}}", NULL, "model.merges missing");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0, 'b': 1, 'ab': 2}, 'merges': ['a zz']}}", NULL,
                      "model.merges[0] names token 'zz', which is not in model.vocab");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0, 'b': 1}, 'merges': [['a', 'b']]}}", NULL,
                      "merged token 'ab' is not in model.vocab");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': ['a']}}", NULL, "model.merges[0] 'a'");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': -3}, 'merges': []}}", NULL, "model.vocab['a']");
    // several tokens for one id, and an empty vocab (also when added tokens name ids)
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0, 'b': 1, 'c': 1}, 'merges': []}}", NULL,
                      "model.vocab['b'] and model.vocab['c'] both have id 1");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {}, 'merges': []}}", NULL, "model.vocab is empty");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {}, 'merges': []}, 'added_tokens': [{'id': 0, 'content': '<s>'}]}",
                      NULL, "model.vocab is empty");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []}, 'pre_tokenizer': {'type': 'Fancy'}}", NULL,
                      "pre_tokenizer.type 'Fancy' is not supported");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []},"
                      " 'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [{'type': 'Split', 'pattern': {'Regex': '(a'}}]}}",
                      NULL, "pre_tokenizer.pretokenizers[0].pattern: invalid pattern");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []}, 'normalizer': {'type': 'Precompiled'}}", NULL,
                      "normalizer.type 'Precompiled' is not supported");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []}, 'decoder': {'type': 'CTC'}}", NULL,
                      "decoder.type 'CTC' is not supported");
    // Strip counts: whole numbers (1e20 overflowed the int it was cast to, a string became 0)
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []}, 'decoder': {'type': 'Strip', 'content': ' ', 'start': 1e20}}",
                      NULL, "decoder.start: expected a whole number of characters (0 to 1048576)");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []}, 'decoder': {'type': 'Strip', 'content': ' ', 'stop': '1'}}",
                      NULL, "decoder.stop: expected a whole number of characters");
    expect_load_error("{'model': {'type': 'BPE', 'vocab': {'a': 0}, 'merges': []}}", "{'bos_token': ", "tokenizer_config.json: not a valid JSON");
    // a directory without tokenizer.json
    char dir[64];
    test_tmpdir(dir);
    Tokenizer t;
    Err err;
    assert_int_equal(tokenizer_load(&t, dir, &err), -1);
    assert_non_null(strstr(err.msg, "tokenizer.json: not found"));
    test_rmrf(dir);
    // encode on an unloaded tokenizer is an error, not a crash
    int* ids;
    int n;
    assert_int_equal(tokenizer_encode(&t, "a", 1, 0, &ids, &n, &err), -1);
}

// Invalid UTF-8 in the input becomes U+FFFD before encoding (one per maximal invalid subpart).
static void test_invalid_utf8_input(void** state) {
    Tokenizer t;
    load_q(&t, SP_JSON, SP_CONFIG);
    int* ids;
    int n;
    Err err;
    assert_int_equal(tokenizer_encode(&t, "h\xFF" "i", 3, 0, &ids, &n, &err), 0);
    // "▁h" + U+FFFD (EF BF BD: no <0xEF> token -> unk) + "i"
    const int exp[] = {9, 0, 8};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, exp, sizeof exp);
    free(ids);
    tokenizer_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_level_merges),
        cmocka_unit_test(test_byte_level_added_tokens),
        cmocka_unit_test(test_byte_level_decode),
        cmocka_unit_test(test_sentencepiece_encode),
        cmocka_unit_test(test_sentencepiece_decode),
        cmocka_unit_test(test_streaming_split_utf8),
        cmocka_unit_test(test_normalizers),
        cmocka_unit_test(test_metaspace),
        cmocka_unit_test(test_split_behaviors),
        cmocka_unit_test(test_concurrent_encode),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_invalid_utf8_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

// test_bpe_train.c: byte-level BPE training on a tiny text whose merges are derived by hand, the
// written files loaded back with tokenizer_load (ids, specials, decode), early stop, and errors.
//
// Text "aaab aaab aaab" pre-tokenizes to "aaab" (once) and " aaab" (twice). Pair counts:
// (a,a) 2+4=6, (a,b) 1+2=3, (' ',a) 2 -> merge 1: a+a=256 ("aaab" -> aa a b, leftmost first).
// Then (aa,a) 3 and (a,b) 3 tie: the smaller pair (97,98) wins -> merge 2: a+b=257.
// Then (aa,ab) 3 -> merge 3: 258 "aaab"; then (' ',aaab) 2 -> merge 4: 259 " aaab"; then no pair.
#include "testutil.h"

#include "bpe_train.h"
#include "tokenizer.h"

static const char* TEXT = "aaab aaab aaab";

static void train_ok(const char* dir, int vocab, BpeTrainStats* st) {
    Err err;
    if (bpe_train(TEXT, strlen(TEXT), vocab, dir, st, &err)) fail_msg("bpe_train: %s", err.msg);
}

static void expect(const Tokenizer* t, const char* text, int sp, const int* want, int n_want) {
    int* ids;
    int n;
    Err err;
    assert_int_equal(tokenizer_encode(t, text, strlen(text), sp, &ids, &n, &err), 0);
    if (n != n_want || memcmp(ids, want, sizeof(int) * (size_t)n) != 0) {
        char got[256] = "";
        for (int i = 0; i < n && strlen(got) < 200; i++) snprintf(got + strlen(got), sizeof got - strlen(got), "%d ", ids[i]);
        free(ids);
        fail_msg("\"%s\": got [%s]", text, got);
    }
    free(ids);
}

static void test_hand_derived_merges(void** state) {
    char dir[64];
    test_tmpdir(dir);
    BpeTrainStats st;
    train_ok(dir, 262, &st);
    assert_int_equal(st.n_merges, 4);
    assert_int_equal(st.vocab_size, 262);
    assert_int_equal(st.n_words, 3);
    assert_int_equal(st.n_types, 2);
    // the merges as written, in the bytes-to-unicode alphabet (Ġ is the space)
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    Err err;
    char* json = read_file_text(path, NULL, &err);
    assert_non_null(json);
    char* compact = malloc(strlen(json) + 1);
    size_t k = 0;
    for (const char* p = json; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n') compact[k++] = *p;
    compact[k] = 0;
    if (!strstr(compact, "\"merges\":[[\"a\",\"a\"],[\"a\",\"b\"],[\"aa\",\"ab\"],[\"Ġ\",\"aaab\"]]")) fail_msg("merges not as derived: %s", compact);
    free(compact);
    free(json);

    Tokenizer t;
    if (tokenizer_load(&t, dir, &err)) fail_msg("load: %s", err.msg);
    assert_int_equal(tokenizer_vocab_size(&t), 262);
    assert_int_equal(t.bos_id, 260);
    assert_int_equal(t.eos_id, 260);
    assert_int_equal(t.pad_id, 261);
    assert_string_equal(tokenizer_piece(&t, 259), "Ġaaab");
    assert_string_equal(tokenizer_piece(&t, 260), "<|endoftext|>");
    assert_string_equal(tokenizer_piece(&t, 261), "<|pad|>");
    const int w1[] = {258, 259};
    expect(&t, "aaab aaab", 0, w1, 2);
    const int w2[] = {260, 258, 259}; // the template adds <|endoftext|> as BOS
    expect(&t, "aaab aaab", 1, w2, 3);
    const int w3[] = {258, 260, 259}; // <|endoftext|> inside text stays one token
    expect(&t, "aaab<|endoftext|> aaab", 0, w3, 3);
    const int w4[] = {99, 258}; // "caaab": c a a a b -> c aa a b -> c aa ab -> c aaab
    expect(&t, "caaab", 0, w4, 2);
    const int w5[] = {98, 97}; // "ba": no merge applies
    expect(&t, "ba", 0, w5, 2);
    int ids[] = {260, 258, 259, 261};
    char* s = tokenizer_decode(&t, ids, 4, 1);
    assert_string_equal(s, "aaab aaab");
    free(s);
    tokenizer_free(&t);
    test_rmrf(dir);
}

static void test_fewer_merges_and_early_stop(void** state) {
    char dir[64];
    test_tmpdir(dir);
    BpeTrainStats st;
    // room for two merges only: "aaab" is then aa + ab
    train_ok(dir, 260, &st);
    assert_int_equal(st.n_merges, 2);
    Tokenizer t;
    Err err;
    if (tokenizer_load(&t, dir, &err)) fail_msg("load: %s", err.msg);
    const int w[] = {256, 257, 32, 256, 257};
    expect(&t, "aaab aaab", 0, w, 5);
    assert_int_equal(t.bos_id, 258);
    tokenizer_free(&t);
    // asking for more than the text supports stops when no pair occurs twice
    train_ok(dir, 5000, &st);
    assert_int_equal(st.n_merges, 4);
    assert_int_equal(st.vocab_size, 262);
    if (tokenizer_load(&t, dir, &err)) fail_msg("load: %s", err.msg);
    assert_int_equal(tokenizer_vocab_size(&t), 262);
    tokenizer_free(&t);
    test_rmrf(dir);
}

static void test_errors(void** state) {
    char dir[64];
    test_tmpdir(dir);
    Err err;
    assert_int_equal(bpe_train(TEXT, strlen(TEXT), 100, dir, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "vocab size 100"));
    assert_int_equal(bpe_train("", 0, 1000, dir, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no words"));
    assert_int_equal(bpe_train("<|endoftext|>", 13, 1000, dir, NULL, &err), -1); // only a special token
    test_rmrf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_derived_merges),
        cmocka_unit_test(test_fewer_merges_and_early_stop),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

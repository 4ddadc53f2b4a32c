// test_metrics.c: the top-k list of core/metrics.c against hand-computed softmax values.
#include "testutil.h"

#include "metrics.h"

// logits log(w) for weights w = 1, 4, 2, 4, 0.5 (sum 11.5): probabilities w / 11.5.
static void test_top_k_order_and_ties(void** st) {
    float lg[5] = {logf(1.0f), logf(4.0f), logf(2.0f), logf(4.0f), logf(0.5f)};
    int ids[3];
    float p[3];
    top_k_probs(lg, 5, 3, ids, p);
    // ids 1 and 3 tie at 4/11.5: the lower id comes first
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 2);
    float want[3] = {4 / 11.5f, 4 / 11.5f, 2 / 11.5f};
    assert_close_f(p, want, 3, 1e-6, "top-3 probabilities");
}

// Fewer candidates than k: the rest of the list stays at id -1, probability -1.
static void test_top_k_short_vocab(void** st) {
    float lg[2] = {0.0f, 0.0f};
    int ids[4];
    float p[4];
    top_k_probs(lg, 2, 4, ids, p);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    assert_int_equal(ids[2], -1);
    assert_int_equal(ids[3], -1);
    assert_true(p[0] == 0.5f && p[1] == 0.5f && p[2] == -1.0f && p[3] == -1.0f);
}

// Inserted one at a time, compared in double: equal values keep the earlier id; 0.3f + 1e-9 beats
// 0.3f although it rounds to 0.3f in float (the float ulp there is 3e-8), where it would not.
static void test_top_k_insert_double(void** st) {
    int ids[2];
    float p[2];
    top_k_clear(ids, p, 2);
    top_k_insert(ids, p, 2, 0, 0.3);
    top_k_insert(ids, p, 2, 1, 0.3);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 1);
    top_k_insert(ids, p, 2, 2, (double)0.3f + 1e-9);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_k_order_and_ties),
        cmocka_unit_test(test_top_k_short_vocab),
        cmocka_unit_test(test_top_k_insert_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

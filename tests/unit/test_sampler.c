// test_sampler.c: greedy, temperature and top-p sampling against hand-computed distributions.
#include "testutil.h"

#include "sampler.h"

static void test_greedy_is_argmax_lowest_on_ties(void** st) {
    float lg[5] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
    Sampler s;
    sampler_init(&s, 5, 0.0f, 1.0f, 42);
    assert_int_equal(sampler_sample(&s, lg), 1);
    sampler_free(&s);
}

static void test_same_seed_same_sequence(void** st) {
    float lg[8] = {0.5f, 0.1f, 0.3f, 0.9f, 0.2f, 0.7f, 0.4f, 0.6f};
    Sampler a, b, c;
    sampler_init(&a, 8, 1.0f, 0.9f, 7);
    sampler_init(&b, 8, 1.0f, 0.9f, 7);
    sampler_init(&c, 8, 1.0f, 0.9f, 8);
    int differs = 0;
    for (int i = 0; i < 200; i++) {
        int x = sampler_sample(&a, lg), y = sampler_sample(&b, lg), z = sampler_sample(&c, lg);
        assert_int_equal(x, y);
        differs |= x != z;
    }
    assert_true(differs);
    sampler_free(&a);
    sampler_free(&b);
    sampler_free(&c);
}

// The sampler draws u from rng.h's xorshift* stream of the seed with RNG_STREAM_SAMPLER (the first
// two uniforms of seed 7 are 1991636 / 2^24 = 0.11871 and 7154739 / 2^24 = 0.42646, see
// test_rng.c); with 100 equally likely tokens, u picks token floor(100 u): 11, then 42.
static void test_stream_of_the_seed(void** st) {
    float lg[100] = {0};
    Sampler s;
    sampler_init(&s, 100, 1.0f, 1.0f, 7);
    assert_int_equal(sampler_sample(&s, lg), 11);
    assert_int_equal(sampler_sample(&s, lg), 42);
    sampler_free(&s);
}

static void test_temperature_frequencies(void** st) {
    // logits log(0.5), log(0.3), log(0.2) at T = 1 give probabilities 0.5, 0.3, 0.2;
    // at T = 2 they become proportional to sqrt: 0.7071, 0.5477, 0.4472 / 1.7020.
    float lg[3] = {logf(0.5f), logf(0.3f), logf(0.2f)};
    double want1[3] = {0.5, 0.3, 0.2}, want2[3] = {0.41545, 0.32180, 0.26275};
    for (int pass = 0; pass < 2; pass++) {
        Sampler s;
        sampler_init(&s, 3, pass ? 2.0f : 1.0f, 1.0f, 3);
        int cnt[3] = {0};
        int N = 40000;
        for (int i = 0; i < N; i++) cnt[sampler_sample(&s, lg)]++;
        for (int k = 0; k < 3; k++) {
            double f = (double)cnt[k] / N, w = pass ? want2[k] : want1[k];
            if (fabs(f - w) > 0.01) fail_msg("T=%d token %d: frequency %g, expected %g", pass + 1, k, f, w);
        }
        sampler_free(&s);
    }
}

static void test_top_p_keeps_the_nucleus(void** st) {
    // probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps {0, 1} (mass 0.8) renormalised to 0.625 / 0.375
    float lg[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    Sampler s;
    sampler_init(&s, 4, 1.0f, 0.75f, 11);
    int cnt[4] = {0}, N = 40000;
    for (int i = 0; i < N; i++) cnt[sampler_sample(&s, lg)]++;
    assert_int_equal(cnt[2], 0);
    assert_int_equal(cnt[3], 0);
    assert_true(fabs((double)cnt[0] / N - 0.625) < 0.01);
    sampler_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_is_argmax_lowest_on_ties),
        cmocka_unit_test(test_same_seed_same_sequence),
        cmocka_unit_test(test_stream_of_the_seed),
        cmocka_unit_test(test_temperature_frequencies),
        cmocka_unit_test(test_top_p_keeps_the_nucleus),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}

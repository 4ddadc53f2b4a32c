// test_rng.c: core/rng.c against values computed by an independent implementation (Python, big
// integers masked to 64 bits) and the published splitmix64 outputs for seed 0.
#include "testutil.h"

#include "rng.h"

static void test_hash_is_splitmix64(void** st) {
    // splitmix64 seeded with 0: the reference outputs of Vigna's splitmix64.c
    assert_true(rng_hash(0, 0) == 0xe220a8397b1dcdafull);
    assert_true(rng_hash(0, 1) == 0x6e789e6aa1b965f4ull);
    assert_true(rng_hash(0, 2) == 0x06c45d188009454full);
    // the eighth output of the stream started at 12345
    assert_true(rng_hash(12345, 7) == 0x6e7411b06820371cull);
}

static void test_xorshift_stream(void** st) {
    Rng r;
    rng_seed(&r, 1); // state 1 * golden + RNG_STREAM_INIT
    assert_true(rng_u64(&r) == 0x901f42540d0f0967ull);
    assert_true(rng_u64(&r) == 0x0469b097996b7fc9ull);
    assert_true(rng_u64(&r) == 0x49b0c7c0c3f7612cull);
    // uniforms are the top 24 bits: exact in float
    rng_seed_stream(&r, 7, RNG_STREAM_SAMPLER);
    assert_true(rng_uniform(&r) == 1991636.0f / 16777216.0f);
    assert_true(rng_uniform(&r) == 7154739.0f / 16777216.0f);
    // the seed whose state would be 0 (a fixed point of xorshift) starts from state 1 instead
    rng_seed(&r, 0xbdcd24ab55804917ull);
    assert_true(r.s == 1);
    assert_true(rng_u64(&r) == 0x47e4ce4b896cdd1dull);
    assert_true(rng_u64(&r) == 0xabcfa6a8e079651dull);
}

static void test_normal_moments(void** st) {
    Rng r;
    rng_seed(&r, 99);
    const int n = 200000;
    double s1 = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_normal(&r);
        s1 += x;
        s2 += x * x;
        s4 += x * x * x * x;
    }
    double mean = s1 / n, var = s2 / n - mean * mean, kurt = s4 / n;
    // N(0, 1): standard errors of mean, variance and E[x^4] are 0.0022, 0.0032 and 0.022 here
    if (fabs(mean) > 0.012 || fabs(var - 1) > 0.016 || fabs(kurt - 3) > 0.11)
        fail_msg("mean %g, variance %g, E[x^4] %g (want 0, 1, 3)", mean, var, kurt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_is_splitmix64),
        cmocka_unit_test(test_xorshift_stream),
        cmocka_unit_test(test_normal_moments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

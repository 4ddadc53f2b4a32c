// test_forward.c: the CPU forward pass against an independent double-precision reference and
// against itself under equivalences (KV cache = prefill, GQA = replicated MHA, BF16 ~ F32, ...).
#include "testutil.h"

#include "ops.h"
#include "forward.h"
#include "reference.h"

static float* run_all(const Model* m, const int* toks, int n) {
    RunState s;
    Err err;
    assert_int_equal(runstate_init(&s, m, NULL, 64, 16, &err), 0);  // max_batch 16 < n exercises chunking
    float* lg = malloc((size_t)n * m->cfg.vocab_size * sizeof(float));
    if (forward(m, NULL, NULL, &s, toks, n, 0, lg, 1, NULL, &err)) fail_msg("%s", err.msg);
    runstate_free(&s);
    return lg;
}

static const int TOKS[20] = {3, 17, 42, 8, 8, 1, 49, 23, 5, 0, 11, 37, 29, 2, 44, 19, 7, 30, 13, 26};

static void check_against_reference(const ModelConfig* c, uint64_t seed, const char* label) {
    Model m;
    model_init_random(&m, c, 0.3f, seed);
    int n = 20;
    float* got = run_all(&m, TOKS, n);
    double* want = malloc((size_t)n * c->vocab_size * sizeof(double));
    reference_forward(&m, TOKS, n, want);
    assert_close_d(got, want, (size_t)n * c->vocab_size, 1e-4, label);
    free(got);
    free(want);
    model_free(&m);
}

static void test_one_block_matches_double_reference(void** st) {
    ModelConfig c = reference_config(1, 4, 4);
    check_against_reference(&c, 1, "1 block MHA");
}

static void test_gqa_biases_untied_match_reference(void** st) {
    ModelConfig c = reference_config(3, 4, 2);
    c.arch = ARCH_QWEN2;
    c.attn_bias = 1;
    check_against_reference(&c, 2, "3 blocks GQA + q/k/v bias, untied");
    c.tie_embeddings = 1;
    check_against_reference(&c, 3, "3 blocks GQA tied");
}

static void test_rope_hand_values(void** st) {
    // D = 4, theta = 10000: inv_freq = (1, 0.01); position 1 rotates pairs (0,2) by 1 rad, (1,3) by 0.01.
    ModelConfig c = reference_config(1, 1, 1);
    c.head_dim = 4;
    float inv[2];
    rope_inv_freq(inv, &c);
    assert_float_equal(inv[0], 1.0f, 1e-7);
    assert_float_equal(inv[1], 0.01f, 1e-9);
    float cos_t[4], sin_t[4];  // positions 0 and 1
    rope_tables(cos_t, sin_t, inv, 0, 2, 4);
    int p0 = 0, p1 = 1;
    float x[4] = {1, 2, 3, 4};
    rope_forward(x, x, cos_t, sin_t, &p1, 1, 1, 4);
    // 1 cos1 - 3 sin1, 2 cos.01 - 4 sin.01, 3 cos1 + 1 sin1, 4 cos.01 + 2 sin.01
    float want[4] = {-1.9841106486f, 1.9599006675f, 2.4623778862f, 4.0197996684f};
    assert_close_f(x, want, 4, 1e-6, "rope position 1");
    float y[4] = {1, 2, 3, 4};
    rope_forward(y, y, cos_t, sin_t, &p0, 1, 1, 4);  // position 0 is the identity
    float same[4] = {1, 2, 3, 4};
    assert_close_f(y, same, 4, 0, "rope position 0");
}

static void test_llama3_rope_scaling(void** st) {
    // factor 8, low 1, high 4, original 8192: wavelengths < 2048 kept, > 8192 divided by 8, ramp between.
    ModelConfig c = reference_config(1, 1, 1);
    c.head_dim = 128;
    c.rope_theta = 500000.0f;
    c.rope_scaling = ROPE_LLAMA3;
    c.rope_factor = 8;
    c.rope_low_freq_factor = 1;
    c.rope_high_freq_factor = 4;
    c.rope_original_max_pos = 8192;
    float inv[64];
    rope_inv_freq(inv, &c);
    for (int i = 0; i < 64; i++) {
        double f = pow(500000.0, -2.0 * i / 128), wl = 2 * M_PI / f, want;
        if (wl < 2048) want = f;
        else if (wl > 8192) want = f / 8;
        else {
            double sm = (8192 / wl - 1) / 3;
            want = (1 - sm) * f / 8 + sm * f;
        }
        assert_true(fabs(inv[i] - want) <= 1e-6 * want);
    }
    assert_float_equal(inv[0], 1.0f, 0);            // short wavelength: unchanged
    assert_true(fabs(inv[63] - pow(500000.0, -126.0 / 128) / 8) < 1e-12);  // long: divided by 8
}

static void test_causal_mask(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.3f, 4);
    int a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 2, 3, 40, 41, 42};
    float* la = run_all(&m, a, 6);
    float* lb = run_all(&m, b, 6);
    assert_close_f(la, lb, 3 * c.vocab_size, 0, "positions 0-2 unchanged by later tokens");
    double d = 0;
    for (int i = 3 * c.vocab_size; i < 6 * c.vocab_size; i++) d += fabs(la[i] - lb[i]);
    assert_true(d > 1e-3);  // and the later positions do see their own tokens
    free(la);
    free(lb);
    model_free(&m);
}

static void test_gqa_equals_replicated_mha(void** st) {
    ModelConfig cg = reference_config(2, 4, 2), cm = reference_config(2, 4, 4);
    Model g, mha;
    model_init_random(&g, &cg, 0.3f, 5);
    model_init_random(&mha, &cm, 0.3f, 6);
    // copy everything, then replicate each K/V head for the query heads of its group
    memcpy(weight_f32(&mha.embed), weight_f32(&g.embed), (size_t)cg.vocab_size * cg.dim * sizeof(float));
    memcpy(weight_f32(&mha.lm_head), weight_f32(&g.lm_head), (size_t)cg.vocab_size * cg.dim * sizeof(float));
    memcpy(mha.final_norm, g.final_norm, cg.dim * sizeof(float));
    int D = cg.head_dim, C = cg.dim;
    for (int l = 0; l < 2; l++) {
        LayerWeights *s = &g.layers[l], *d = &mha.layers[l];
        memcpy(d->attn_norm, s->attn_norm, C * sizeof(float));
        memcpy(d->mlp_norm, s->mlp_norm, C * sizeof(float));
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (p == PROJ_K || p == PROJ_V) {
                for (int h = 0; h < 4; h++)
                    memcpy(weight_f32(&d->w[p]) + (size_t)h * D * C, weight_f32(&s->w[p]) + (size_t)(h / 2) * D * C, (size_t)D * C * sizeof(float));
            } else {
                memcpy(weight_f32(&d->w[p]), weight_f32(&s->w[p]), (size_t)g.proj_in[p] * g.proj_out[p] * sizeof(float));
            }
        }
    }
    float* a = run_all(&g, TOKS, 12);
    float* b = run_all(&mha, TOKS, 12);
    assert_close_f(a, b, 12 * cg.vocab_size, 1e-5, "GQA vs replicated MHA");
    free(a);
    free(b);
    model_free(&g);
    model_free(&mha);
}

static void test_kv_cache_decode_equals_prefill(void** st) {
    ModelConfig c = reference_config(3, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.3f, 7);
    int n = 20, V = c.vocab_size;
    float* full = run_all(&m, TOKS, n);
    RunState s;
    Err err;
    assert_int_equal(runstate_init(&s, &m, NULL, 64, 8, &err), 0);
    float* one = malloc(V * sizeof(float));
    // prefill 5 tokens, then decode the rest one by one
    assert_int_equal(forward(&m, NULL, NULL, &s, TOKS, 5, 0, one, 0, NULL, &err), 0);
    assert_close_f(one, full + 4 * V, V, 1e-4, "prefill last position");
    for (int t = 5; t < n; t++) {
        assert_int_equal(forward(&m, NULL, NULL, &s, TOKS + t, 1, t, one, 0, NULL, &err), 0);
        char label[64];
        snprintf(label, sizeof label, "decode position %d", t);
        assert_close_f(one, full + (size_t)t * V, V, 1e-4, label);
    }
    free(one);
    free(full);
    runstate_free(&s);
    model_free(&m);
}

static void test_bf16_f16_close_to_f32_and_shards_bit_identical(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m;
    model_init_random(&m, &c, 1.0f / sqrtf((float)c.dim), 8);  // trained-model scale: std 1/sqrt(C)
    char dir[64], sub[160];
    test_tmpdir(dir);
    Err err;
    Model loaded[4];
    const char* names[4] = {"f32", "bf16", "f16", "sharded"};
    DType dts[4] = {DT_F32, DT_BF16, DT_F16, DT_F32};
    for (int i = 0; i < 4; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        if (model_save(&m, sub, dts[i], i == 3 ? 3 : 1, &err)) fail_msg("%s", err.msg);
        if (model_load(&loaded[i], sub, &err)) fail_msg("%s", err.msg);
    }
    assert_int_equal(loaded[3].n_shards, 3);
    float* ref = run_all(&loaded[0], TOKS, 10);
    size_t nl = 10 * (size_t)c.vocab_size;
    for (int i = 1; i < 4; i++) {
        float* lg = run_all(&loaded[i], TOKS, 10);
        if (i == 3) {
            assert_close_f(lg, ref, nl, 0, names[i]);  // shards: bit for bit
        } else {
            // half precision: relative error of the logits as a whole, ||a - b|| / ||a|| < 1e-2
            double num = 0, den = 0;
            for (size_t k = 0; k < nl; k++) {
                num += (double)(lg[k] - ref[k]) * (lg[k] - ref[k]);
                den += (double)ref[k] * ref[k];
            }
            if (!(sqrt(num / den) < 1e-2)) fail_msg("%s: relative error %g >= 1e-2", names[i], sqrt(num / den));
        }
        free(lg);
    }
    free(ref);
    for (int i = 0; i < 4; i++) model_free(&loaded[i]);
    model_free(&m);
    test_rmrf(dir);
}

static void test_tied_equals_untied_with_copied_head(void** st) {
    ModelConfig ct = reference_config(2, 4, 2), cu = ct;
    ct.tie_embeddings = 1;
    Model t, u;
    model_init_random(&t, &ct, 0.3f, 9);
    model_init_random(&u, &cu, 0.3f, 9);  // same seed: identical draws up to the lm_head
    assert_ptr_equal(t.lm_head.data, t.embed.data);
    assert_ptr_not_equal(u.lm_head.data, u.embed.data);
    memcpy(weight_f32(&u.lm_head), weight_f32(&u.embed), (size_t)cu.vocab_size * cu.dim * sizeof(float));
    float* a = run_all(&t, TOKS, 8);
    float* b = run_all(&u, TOKS, 8);
    assert_close_f(a, b, 8 * ct.vocab_size, 0, "tied vs untied with lm_head = embed");
    free(a);
    free(b);
    model_free(&t);
    model_free(&u);
}

static void test_errors(void** st) {
    ModelConfig c = reference_config(1, 2, 2);
    Model m;
    model_init_random(&m, &c, 0.3f, 10);
    RunState s;
    Err err;
    assert_int_equal(runstate_init(&s, &m, NULL, 8, 4, &err), 0);
    float lg[50];
    int bad[1] = {50};
    assert_int_equal(forward(&m, NULL, NULL, &s, bad, 1, 0, lg, 0, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "outside the vocabulary"));
    int ok[9] = {0};
    assert_int_equal(forward(&m, NULL, NULL, &s, ok, 9, 0, lg, 0, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "exceeds the context"));
    runstate_free(&s);
    model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_block_matches_double_reference),
        cmocka_unit_test(test_gqa_biases_untied_match_reference),
        cmocka_unit_test(test_rope_hand_values),
        cmocka_unit_test(test_llama3_rope_scaling),
        cmocka_unit_test(test_causal_mask),
        cmocka_unit_test(test_gqa_equals_replicated_mha),
        cmocka_unit_test(test_kv_cache_decode_equals_prefill),
        cmocka_unit_test(test_bf16_f16_close_to_f32_and_shards_bit_identical),
        cmocka_unit_test(test_tied_equals_untied_with_copied_head),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("forward", tests, NULL, NULL);
}

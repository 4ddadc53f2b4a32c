// test_compare.c: two adapters on one context (app/session_compare.c): KL(A || B) and top-1 per
// position against hand-made distributions in double precision, the routing difference per block
// on hand-built traces, and a session on a small random model: the same adapter twice gives KL 0
// and no difference, a SLIM adapter against a plain LoRA gives the KL of forward() called directly;
// re-made caches give the same context.
#include "testutil.h"

#include <math.h>

#include "adapter.h"
#include "forward.h"
#include "app/session.h"

// KL(P || Q) = sum p log(p / q), in double, straight from the probabilities.
static double kl_ref(const double* p, const double* q, int V) {
    double kl = 0;
    for (int i = 0; i < V; i++) kl += p[i] * log(p[i] / q[i]);
    return kl;
}

static void test_compare_rows(void** st) {
    enum { V = 4, N = 3 };
    const double P[N][V] = {{0.5, 0.25, 0.125, 0.125}, {0.7, 0.1, 0.1, 0.1}, {0.4, 0.3, 0.2, 0.1}};
    const double Q[N][V] = {{0.25, 0.25, 0.25, 0.25}, {0.1, 0.1, 0.1, 0.7}, {0.4, 0.3, 0.2, 0.1}};
    float la[N * V], lb[N * V];
    for (int t = 0; t < N; t++)
        for (int i = 0; i < V; i++) {  // logits: log-probabilities shifted (softmax does not see the shift)
            la[t * V + i] = (float)(log(P[t][i]) + 3.0);
            lb[t * V + i] = (float)(log(Q[t][i]) - 1.5);
        }
    double kl[N];
    int ta[N], tb[N];
    compare_rows(la, lb, N, V, kl, ta, tb);
    // row 0: 0.5 ln 2 - 2 * 0.125 ln 2 = 0.25 ln 2 by hand
    assert_true(fabs(kl[0] - 0.25 * log(2.0)) < 1e-6);
    for (int t = 0; t < N; t++)
        if (fabs(kl[t] - kl_ref(P[t], Q[t], V)) > 1e-6) fail_msg("row %d: KL %.9f, reference %.9f", t, kl[t], kl_ref(P[t], Q[t], V));
    assert_true(kl[1] > 1.0);  // 0.6 ln 7 = 1.1675
    assert_true(kl[2] < 1e-7);
    assert_int_equal(ta[0], 0);
    assert_int_equal(tb[0], 0);  // a tie among the four: the first
    assert_int_equal(ta[1], 0);
    assert_int_equal(tb[1], 3);
    assert_int_equal(ta[2], tb[2]);
}

// A: SLIM, 1 identity + 3 LoRA experts, 2 blocks; B: a plain LoRA applied at block 0 only.
static void test_compare_block(void** st) {
    Trace a, b;
    trace_init(&a, 2, 4, 1, 2);
    trace_init(&b, 2, 1, 0, 2);
    a.n = b.n = 2;
    memset(a.w, 0, 2 * 2 * 4 * sizeof(float));
    float wa0[4] = {0.875f, 0.125f, 0, 0}, wa1[4] = {0, 0, 0.6f, 0.4f};
    memcpy(a.w + 0 * 4, wa0, sizeof wa0);  // pos 0 blk 0: i0 and LoRA 0
    memcpy(a.w + 1 * 4, wa1, sizeof wa1);  // pos 0 blk 1: LoRA 1 and 2
    a.routed[0] = a.routed[1] = 1;
    a.id_share[0] = 0.875f;
    a.id_share[1] = 0;
    b.routed[0] = b.routed[1] = 0;
    b.w[0] = 1, b.id_share[0] = 0;  // applied at block 0: its always-on expert
    b.w[1] = 0, b.id_share[1] = 1;  // not at block 1
    BlockDiff d;
    compare_block(&a, &b, 0, 0, &d);
    assert_string_equal(d.kept_a, "i0 0");
    assert_string_equal(d.kept_b, "on");
    assert_true(d.share_a == 0.875f && d.share_b == 0);
    assert_int_equal(d.differs, 1);
    compare_block(&a, &b, 0, 1, &d);
    assert_string_equal(d.kept_a, "1 2");
    assert_string_equal(d.kept_b, "-");
    assert_int_equal(d.differs, 1);  // shares 0 and 1
    // A against itself: no difference; the same share but other kept experts: a difference
    compare_block(&a, &a, 0, 1, &d);
    assert_int_equal(d.differs, 0);
    Trace c;
    trace_init(&c, 2, 4, 1, 2);
    c.n = 2;
    memcpy(c.w, a.w, 2 * 2 * 4 * sizeof(float));
    memcpy(c.id_share, a.id_share, 2 * 2 * sizeof(float));
    memcpy(c.routed, a.routed, 2 * 2);
    c.w[1 * 4 + 1] = 0.6f, c.w[1 * 4 + 2] = 0;  // LoRA 0 and 2
    compare_block(&a, &c, 0, 1, &d);
    assert_string_equal(d.kept_b, "0 2");
    assert_int_equal(d.differs, 1);
    trace_free(&a);
    trace_free(&b);
    trace_free(&c);
}

// ---------------------------------------------------------------------------------------------
// a session on a small random model with a SLIM and a plain LoRA adapter

static void save_adapter(const Model* m, AdapterType type, const char* dir, uint64_t seed) {
    AdapterSpec spec;
    adapter_spec_default(&spec);
    spec.type = type;
    spec.r = 4;
    spec.lora_alpha = 8;
    spec.n_clusters = 3;
    Adapter a;
    Err err;
    adapter_alloc(&a, m, &spec);
    adapter_init_random(&a, 0.3f, seed);
    if (adapter_save(&a, dir, DT_F32, &err)) fail_msg("%s", err.msg);
    adapter_free(&a);
}

static void test_compare_session(void** st) {
    char dir[64], mdir[128], sdir[128], ldir[128];
    test_tmpdir(dir);
    snprintf(mdir, sizeof mdir, "%s/model", dir);
    snprintf(sdir, sizeof sdir, "%s/slim", dir);
    snprintf(ldir, sizeof ldir, "%s/lora", dir);
    ModelConfig cfg = {0};
    cfg.arch = ARCH_LLAMA;
    cfg.dim = 32, cfg.hidden_dim = 64, cfg.n_layers = 3, cfg.n_heads = 2, cfg.n_kv_heads = 1, cfg.head_dim = 16;
    cfg.vocab_size = 40, cfg.max_seq_len = 64, cfg.norm_eps = 1e-5f, cfg.rope_theta = 10000.0f, cfg.bos_id = 1, cfg.eos_id = -1;
    Model m;
    Err err;
    model_init_random(&m, &cfg, 0.3f, 11);
    if (model_save(&m, mdir, DT_F32, 1, &err)) fail_msg("%s", err.msg);
    save_adapter(&m, ADAPTER_SLIM, sdir, 5);
    save_adapter(&m, ADAPTER_LORA, ldir, 6);
    model_free(&m);
    Settings set;
    settings_defaults(&set, "test");
    set.model_dir = mdir;
    set.adapter_dir = sdir;
    set.threads = 1;
    set.device = DEVICE_CPU;
    Session s;
    if (session_open(&s, &set, &err)) fail_msg("%s", err.msg);
    enum { N = 9 };
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = (i * 7 + 3) % 40;
    if (session_feed(&s, ids, N, &err)) fail_msg("%s", err.msg);
    int L = cfg.n_layers, V = cfg.vocab_size;

    // the same adapter twice: KL exactly 0, the same top-1 and the same routing everywhere
    Comparison c;
    if (session_compare_open(&s, sdir, &err) || session_compare_context(&s, &c, &err)) fail_msg("%s", err.msg);
    assert_int_equal(c.n, N);
    for (int t = 0; t < N; t++) {
        assert_true(c.kl[t] == 0.0);
        assert_int_equal(c.top_a[t], c.top_b[t]);
        for (int l = 0; l < L; l++) {
            BlockDiff d;
            compare_block(&s.trace, &c.tb, t, l, &d);
            if (d.differs) fail_msg("pos %d blk %d: %s / %s, %.3f / %.3f", t, l, d.kept_a, d.kept_b, d.share_a, d.share_b);
        }
    }
    comparison_free(&c);

    // SLIM against the plain LoRA: the KL of the two adapters' own forward passes, in double
    if (session_compare_open(&s, ldir, &err) || session_compare_context(&s, &c, &err)) fail_msg("%s", err.msg);
    float* la = malloc((size_t)N * V * sizeof(float));
    float* lb = malloc((size_t)N * V * sizeof(float));
    RunState ra, rb;
    if (runstate_init(&ra, &s.model, &s.adapter, 64, 0, &err) || runstate_init(&rb, &s.model, &s.cmp, 64, 0, &err)) fail_msg("%s", err.msg);
    SlimRun lora_run;
    slim_run_init(&lora_run, &s.cmp, L);
    lora_run.mask_ratio = s.run.mask_ratio;
    if (slim_run_prepare(&lora_run, &s.cmp, &err)) fail_msg("%s", err.msg);
    if (forward(&s.model, &s.adapter, &s.run, &ra, ids, N, 0, la, 1, NULL, &err) ||
        forward(&s.model, &s.cmp, &lora_run, &rb, ids, N, 0, lb, 1, NULL, &err))
        fail_msg("%s", err.msg);
    double kl_sum = 0;
    int shares_differ = 0;
    for (int t = 0; t < N; t++) {
        const float *p = la + (size_t)t * V, *q = lb + (size_t)t * V;
        double mp = p[0], mq = q[0], zp = 0, zq = 0, kl = 0;
        for (int i = 1; i < V; i++) mp = p[i] > mp ? p[i] : mp, mq = q[i] > mq ? q[i] : mq;
        for (int i = 0; i < V; i++) zp += exp(p[i] - mp), zq += exp(q[i] - mq);
        for (int i = 0; i < V; i++) {
            double lp = p[i] - mp - log(zp), lq = q[i] - mq - log(zq);
            kl += exp(lp) * (lp - lq);
        }
        if (fabs(c.kl[t] - kl) > 1e-6 * (1 + kl)) fail_msg("pos %d: KL %.9g, reference %.9g", t, c.kl[t], kl);
        kl_sum += kl;
        for (int l = 0; l < L; l++) {
            BlockDiff d;
            compare_block(&s.trace, &c.tb, t, l, &d);
            assert_string_equal(d.kept_b, "on");
            assert_true(d.share_b == 0);  // a plain LoRA: always on, identity share 0
            shares_differ += d.share_a != d.share_b;
        }
    }
    assert_true(kl_sum > 0);
    assert_true(shares_differ > 0);  // the SLIM adapter's identity experts take weight somewhere
    comparison_free(&c);
    // the caches re-made (what closing B does on a device backend): the same context, logits and routing
    float* before = malloc(V * sizeof(float));
    memcpy(before, s.logits, V * sizeof(float));
    float share = s.trace.id_share[(N - 1) * L + 1];
    if (session_reopen_states(&s, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.n_tokens, N);
    assert_int_equal(s.trace.n, N);
    assert_memory_equal(before, s.logits, V * sizeof(float));
    assert_true(s.trace.id_share[(N - 1) * L + 1] == share);
    free(before);
    if (session_compare_close(&s, &err)) fail_msg("%s", err.msg);
    assert_int_equal(s.has_cmp, 0);
    slim_run_free(&lora_run);
    runstate_free(&ra);
    runstate_free(&rb);
    free(la);
    free(lb);
    session_close(&s);
    settings_free(&set);
    test_rmrf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_rows),
        cmocka_unit_test(test_compare_block),
        cmocka_unit_test(test_compare_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

// test_gpu.c: the CUDA backend against the CPU backend through the same BackendOps table: every op
// on random inputs (normalised squared error), then whole forward passes with the same model,
// adapter, prompt and p on both (logits: F32 weights relative error < 1e-4, BF16 < 1e-2; the same
// kept experts at every block and token), and greedy decoding of the shipped demo model. Without a
// usable CUDA device, or in a build without CUDA, it reports one skipped test with the reason.
#include "testutil.h"

#include "adapter.h"
#include "device.h"
#include "forward.h"
#include "reference.h"
#include "sampler.h"
#include "app/session.h"

static Backend* g_cuda;

// sum (a - b)^2 / sum b^2
static double nse(const float* a, const float* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

static void expect_nse(const float* got, const float* want, size_t n, double tol, const char* label) {
    double e = nse(got, want, n);
    if (!(e < tol)) fail_msg("%s: normalised squared error %g (tolerance %g)", label, e, tol);
}

static float* randv(Rng* r, size_t n, float scale) {
    float* p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_normal(r);
    return p;
}

static float* on_backend(Backend* be, const float* host, size_t n) {
    float* d = be->ops->alloc(be, n * sizeof(float));
    assert_non_null(d);
    be->ops->upload(be, d, host, n * sizeof(float));
    return d;
}

static float* to_host(Backend* be, const float* d, size_t n) {
    float* h = malloc(n * sizeof(float));
    be->ops->sync(be);
    be->ops->download(be, h, d, n * sizeof(float));
    return h;
}

static void no_error(Backend* be) {
    const char* e = be->ops->error(be);
    if (e) fail_msg("%s backend: %s", be->name, e);
}

// ---------------------------------------------------------------------------------------------
// each op on both backends

// The outputs of every op on one backend, from the same host inputs.
typedef struct {
    float *embed, *mm_f32, *mm_f32_1, *mm_bf16, *mm_f16, *norm, *rope, *att_prefill, *att_decode, *silu, *add;
    float *lora_p0, *lora_p5, *lora_tok, rel_p0[5], rel_p5[5];
    float route_z[5 * 10], route_dist[5], route_dist_rms[5];
    int route_nearest[5];
} OpOutputs;

typedef struct {
    Model m;
    Adapter a;
    SlimRun run0, run5, run_tok;  // p = 0; p = 0.5 fixed; p = 0.5 per token
    float *x, *xs, *b, *g, *u, *q, *k, *v, *wts;
    int tokens[5];
} OpInputs;

enum { N = 5, IN = 64, OUT = 48 };

static void op_inputs(OpInputs* in) {
    ModelConfig c = reference_config(2, 4, 2);
    c.dim = IN, c.hidden_dim = 96, c.head_dim = 16;
    model_init_random(&in->m, &c, 0.3f, 21);
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.r = 8;
    adapter_alloc(&in->a, &in->m, &sp);
    adapter_init_random(&in->a, 0.2f, 22);
    slim_run_init(&in->run0, &in->a, c.n_layers);
    slim_run_init(&in->run5, &in->a, c.n_layers);
    slim_run_init(&in->run_tok, &in->a, c.n_layers);
    in->run5.mask_ratio = in->run_tok.mask_ratio = 0.5f;
    in->run_tok.mask_refresh = REFRESH_PER_TOKEN;
    Err err;
    if (slim_run_prepare(&in->run0, &in->a, &err) || slim_run_prepare(&in->run5, &in->a, &err) ||
        slim_run_prepare(&in->run_tok, &in->a, &err))
        fail_msg("%s", err.msg);
    Rng r;
    rng_seed(&r, 23);
    int qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim, F = c.hidden_dim;
    in->x = randv(&r, (size_t)N * IN, 1.0f);
    in->xs = randv(&r, (size_t)N * F, 1.0f);
    in->b = randv(&r, OUT, 1.0f);
    in->g = randv(&r, (size_t)N * F, 2.0f);
    in->u = randv(&r, (size_t)N * F, 1.0f);
    in->q = randv(&r, (size_t)N * qd, 1.0f);
    in->k = randv(&r, (size_t)N * kvd, 1.0f);
    in->v = randv(&r, (size_t)N * kvd, 1.0f);
    // routing weights: token t keeps LoRA experts t % 8 and (t + 3) % 8 (identity experts first)
    int E = in->a.n_experts;
    in->wts = calloc((size_t)N * E, sizeof(float));
    for (int t = 0; t < N; t++) {
        in->wts[t * E + in->a.n_id + t % in->a.n_lora] = 0.7f;
        in->wts[t * E + in->a.n_id + (t + 3) % in->a.n_lora] = 0.3f;
        in->tokens[t] = (t * 11 + 2) % c.vocab_size;
    }
}

static void op_inputs_free(OpInputs* in) {
    slim_run_free(&in->run0), slim_run_free(&in->run5), slim_run_free(&in->run_tok);
    adapter_free(&in->a);
    model_free(&in->m);
    free(in->x), free(in->xs), free(in->b), free(in->g), free(in->u), free(in->q), free(in->k), free(in->v), free(in->wts);
}

// A weight of OUT x IN with the values of w32 in dtype t (the storage is returned for freeing).
static Weight weight_as(const float* w32, WeightType t, void** storage) {
    size_t n = (size_t)OUT * IN;
    Weight w = {.type = t, .rows = OUT, .cols = IN};
    if (t == WEIGHT_F32) {
        *storage = malloc(n * 4);
        memcpy(*storage, w32, n * 4);
    } else {
        uint16_t* h = malloc(n * 2);
        for (size_t i = 0; i < n; i++) h[i] = t == WEIGHT_BF16 ? f32_to_bf16(w32[i]) : f32_to_f16(w32[i]);
        *storage = h;
    }
    w.data = *storage;
    return w;
}

static float* lora_on(Backend* be, RunState* rs, OpInputs* in, const SlimRun* run, const float* y0, float* rel) {
    const Model* m = &in->m;
    float *y = on_backend(be, y0, (size_t)N * m->cfg.hidden_dim), *v = on_backend(be, in->x, (size_t)N * IN);
    LoraCall call = {.a = &in->a, .run = run, .layer = 1, .proj = PROJ_GATE, .wts = in->wts, .pos = 7, .scratch = rs->scratch,
                     .iscratch = rs->iscratch, .scratch_stride = rs->scratch_stride, .iscratch_stride = rs->iscratch_stride};
    be->ops->lora_delta(be, y, v, N, &call, rel);
    float* h = to_host(be, y, (size_t)N * m->cfg.hidden_dim);
    be->ops->release(be, y), be->ops->release(be, v);
    return h;
}

static void run_ops(Backend* be, OpInputs* in, OpOutputs* o) {
    const ModelConfig* c = &in->m.cfg;
    const BackendOps* op = be->ops;
    RunState rs;  // for its KV cache and RoPE tables on this backend
    Err err;
    if (runstate_init_on(&rs, be, &in->m, &in->a, 64, 8, &err)) fail_msg("%s", err.msg);
    int qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, F = c->hidden_dim;
    size_t nC = (size_t)N * IN;
    float* dx = on_backend(be, in->x, nC);
    float* dy = op->alloc(be, (size_t)N * F * sizeof(float) * 2);
    op->embed(be, dy, &in->m.embed, in->tokens, N);
    o->embed = to_host(be, dy, nC);
    // matmul: a projection of the model in each dtype, with a bias, for 5 rows and for 1
    Rng r;
    rng_seed(&r, 24);
    float* w32 = randv(&r, (size_t)OUT * IN, 0.3f);
    WeightType types[3] = {WEIGHT_F32, WEIGHT_BF16, WEIGHT_F16};
    float** outs[3] = {&o->mm_f32, &o->mm_bf16, &o->mm_f16};
    for (int i = 0; i < 3; i++) {
        void* st;
        Weight w = weight_as(w32, types[i], &st);
        op->matmul(be, dy, dx, &w, in->b, N);
        *outs[i] = to_host(be, dy, (size_t)N * OUT);
        if (i == 0) {
            op->matmul(be, dy, dx, &w, NULL, 1);
            o->mm_f32_1 = to_host(be, dy, OUT);
        }
        op->run_end(be), op->run_begin(be);  // the weight's storage goes: drop the device copy
        free(st);
    }
    free(w32);
    op->rmsnorm(be, dy, dx, in->m.layers[0].attn_norm, N, IN, 1e-5f);
    o->norm = to_host(be, dy, nC);
    // RoPE at positions 9..13, then attention: a prefill of 5 rows at 0..4 and one decode row at 5
    float* dq = on_backend(be, in->q, (size_t)N * qd);
    op->rope(be, dq, &rs.kv, 9, N, c->n_heads);
    o->rope = to_host(be, dq, (size_t)N * qd);
    float *dk = on_backend(be, in->k, (size_t)N * kvd), *dv = on_backend(be, in->v, (size_t)N * kvd);
    op->attention(be, dy, dq, dk, dv, &rs.kv, 0, 0, N);
    o->att_prefill = to_host(be, dy, (size_t)N * qd);
    op->attention(be, dy, dq, dk, dv, &rs.kv, 0, N, 1);
    o->att_decode = to_host(be, dy, qd);
    float *dg = on_backend(be, in->g, (size_t)N * F), *du = on_backend(be, in->u, (size_t)N * F);
    op->silu_mul(be, dy, dg, du, (size_t)N * F);
    o->silu = to_host(be, dy, (size_t)N * F);
    op->add(be, dg, du, (size_t)N * F);
    o->add = to_host(be, dg, (size_t)N * F);
    // the masked LoRA delta of the gate projection at block 1 (two kept experts per token)
    o->lora_p0 = lora_on(be, &rs, in, &in->run0, in->g, o->rel_p0);
    o->lora_p5 = lora_on(be, &rs, in, &in->run5, in->g, o->rel_p5);
    o->lora_tok = lora_on(be, &rs, in, &in->run_tok, in->g, NULL);
    // routing inputs at block 1 from x (clusters around x's scale, so the nearest one varies)
    assert_true(in->a.n_experts <= 10);
    op->route_measure(be, o->route_z, o->route_nearest, o->route_dist, dx, N, &in->a, 1);
    in->a.distance = DIST_RMS;  // the RMS distance (adapter_config "distance": "rms")
    op->route_measure(be, o->route_z, o->route_nearest, o->route_dist_rms, dx, N, &in->a, 1);
    in->a.distance = DIST_MAX;
    no_error(be);
    float* bufs[] = {dx, dy, dq, dk, dv, dg, du};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) op->release(be, bufs[i]);
    runstate_free(&rs);
}

static void outputs_free(OpOutputs* o) {
    float* p[] = {o->embed, o->mm_f32, o->mm_f32_1, o->mm_bf16, o->mm_f16, o->norm, o->rope, o->att_prefill, o->att_decode,
                  o->silu, o->add, o->lora_p0, o->lora_p5, o->lora_tok};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static void test_each_op_matches_cpu(void** st) {
    OpInputs in;
    op_inputs(&in);
    OpOutputs cpu, gpu;
    run_ops(backend_cpu(), &in, &cpu);
    run_ops(g_cuda, &in, &gpu);
    int F = in.m.cfg.hidden_dim, qd = in.m.cfg.n_heads * in.m.cfg.head_dim;
    expect_nse(gpu.embed, cpu.embed, (size_t)N * IN, 1e-12, "embed");
    expect_nse(gpu.mm_f32, cpu.mm_f32, (size_t)N * OUT, 1e-10, "matmul F32, 5 rows + bias");
    expect_nse(gpu.mm_f32_1, cpu.mm_f32_1, OUT, 1e-10, "matmul F32, 1 row");
    expect_nse(gpu.mm_bf16, cpu.mm_bf16, (size_t)N * OUT, 1e-8, "matmul BF16 (x as hi + lo)");
    expect_nse(gpu.mm_f16, cpu.mm_f16, (size_t)N * OUT, 1e-8, "matmul F16 (x as hi + lo)");
    expect_nse(gpu.norm, cpu.norm, (size_t)N * IN, 1e-10, "rmsnorm");
    expect_nse(gpu.rope, cpu.rope, (size_t)N * qd, 1e-10, "rope");
    expect_nse(gpu.att_prefill, cpu.att_prefill, (size_t)N * qd, 1e-10, "attention, prefill of 5");
    expect_nse(gpu.att_decode, cpu.att_decode, qd, 1e-10, "attention, decode over the cache");
    expect_nse(gpu.silu, cpu.silu, (size_t)N * F, 1e-10, "silu_mul");
    expect_nse(gpu.add, cpu.add, (size_t)N * F, 1e-12, "add");
    expect_nse(gpu.lora_p0, cpu.lora_p0, (size_t)N * F, 1e-10, "lora_delta p = 0");
    expect_nse(gpu.lora_p5, cpu.lora_p5, (size_t)N * F, 1e-10, "lora_delta p = 0.5 fixed masks");
    expect_nse(gpu.lora_tok, cpu.lora_tok, (size_t)N * F, 1e-10, "lora_delta p = 0.5 per-token masks");
    expect_nse(gpu.rel_p0, cpu.rel_p0, N, 1e-8, "lora_delta relative size, p = 0");
    expect_nse(gpu.rel_p5, cpu.rel_p5, N, 1e-8, "lora_delta relative size, p = 0.5");
    expect_nse(gpu.route_z, cpu.route_z, (size_t)N * in.a.n_experts, 1e-10, "route_measure: router logits");
    expect_nse(gpu.route_dist, cpu.route_dist, N, 1e-10, "route_measure: distances");
    expect_nse(gpu.route_dist_rms, cpu.route_dist_rms, N, 1e-10, "route_measure: RMS distances");
    for (int t = 0; t < N; t++) assert_int_equal(gpu.route_nearest[t], cpu.route_nearest[t]);
    // the masks matter: p = 0.5 differs from p = 0 on both backends
    assert_true(nse(cpu.lora_p5, cpu.lora_p0, (size_t)N * F) > 1e-6);
    outputs_free(&cpu), outputs_free(&gpu);
    op_inputs_free(&in);
}

// ---------------------------------------------------------------------------------------------
// whole forward passes

static const int PROMPT[16] = {3, 17, 42, 8, 8, 1, 49, 23, 5, 0, 11, 37, 2, 30, 19, 44};

// Logits of every position (prefill of 12, then 4 decoded one by one) and the trace, on be.
static float* forward_on(Backend* be, const Model* m, const Adapter* a, const SlimRun* run, Trace* tr) {
    RunState rs;
    Err err;
    if (runstate_init_on(&rs, be, m, a, 32, 8, &err)) fail_msg("%s", err.msg);  // batch 8: the prefill is chunked
    int V = m->cfg.vocab_size;
    float* lg = malloc((size_t)16 * V * sizeof(float));
    if (forward(m, a, run, &rs, PROMPT, 12, 0, lg, 1, tr, &err)) fail_msg("%s", err.msg);
    for (int t = 12; t < 16; t++)
        if (forward(m, a, run, &rs, PROMPT + t, 1, t, lg + (size_t)t * V, 0, tr, &err)) fail_msg("%s", err.msg);
    runstate_free(&rs);
    return lg;
}

// Relative error of the logits, ||gpu - cpu|| / ||cpu||.
static double rel_err(const float* g, const float* c, size_t n) { return sqrt(nse(g, c, n)); }

static void same_kept_experts(const Trace* a, const Trace* b, int n, const char* label) {
    int L = a->n_layers, E = a->n_experts;
    for (int pos = 0; pos < n; pos++)
        for (int l = 0; l < L; l++)
            for (int e = 0; e < E; e++) {
                size_t i = ((size_t)pos * L + l) * E + e;
                if ((a->w[i] != 0) != (b->w[i] != 0))
                    fail_msg("%s: expert %d kept on one backend only at position %d, block %d", label, e, pos, l);
            }
}

// A SLIM adapter (gate/up/down) or a plain LoRA one (q, v, down: the attention-side deltas too).
static void parity_adapter(const Model* m, AdapterType type, const char* dtype, double tol) {
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.type = type;
    if (type == ADAPTER_LORA) sp.target_mask = (1u << PROJ_Q) | (1u << PROJ_V) | (1u << PROJ_DOWN);
    Adapter a;
    adapter_alloc(&a, m, &sp);
    adapter_init_random(&a, 0.1f, 31);
    float ps[3] = {0.0f, 0.3f, 0.3f};
    MaskRefresh refresh[3] = {REFRESH_FIXED, REFRESH_FIXED, REFRESH_PER_TOKEN};
    size_t n = (size_t)16 * m->cfg.vocab_size;
    for (int i = 0; i < 3; i++) {
        SlimRun run;
        slim_run_init(&run, &a, m->cfg.n_layers);
        run.mask_ratio = ps[i];
        run.mask_refresh = refresh[i];
        Err err;
        if (slim_run_prepare(&run, &a, &err)) fail_msg("%s", err.msg);
        Trace tc, tg;
        trace_init(&tc, m->cfg.n_layers, a.n_experts, a.n_id, 16);
        trace_init(&tg, m->cfg.n_layers, a.n_experts, a.n_id, 16);
        float* lc = forward_on(backend_cpu(), m, &a, &run, &tc);
        float* lg = forward_on(g_cuda, m, &a, &run, &tg);
        char label[96];
        snprintf(label, sizeof label, "%s weights, %s adapter, p = %.1f %s", dtype, type == ADAPTER_LORA ? "LoRA" : "SLIM", ps[i],
                 mask_refresh_name(refresh[i]));
        double e = rel_err(lg, lc, n);
        print_message("%s: logits relative error %.2e\n", label, e);
        if (!(e < tol)) fail_msg("%s: logits relative error %g (tolerance %g)", label, e, tol);
        same_kept_experts(&tc, &tg, 16, label);
        free(lc), free(lg);
        trace_free(&tc), trace_free(&tg);
        slim_run_free(&run);
    }
    adapter_free(&a);
}

static void parity(const Model* m, const char* dtype, double tol) {
    parity_adapter(m, ADAPTER_SLIM, dtype, tol);
    parity_adapter(m, ADAPTER_LORA, dtype, tol);
    size_t n = (size_t)16 * m->cfg.vocab_size;
    float* lc = forward_on(backend_cpu(), m, NULL, NULL, NULL);
    float* lg = forward_on(g_cuda, m, NULL, NULL, NULL);
    double e = rel_err(lg, lc, n);
    if (!(e < tol)) fail_msg("%s weights, base model: logits relative error %g (tolerance %g)", dtype, e, tol);
    free(lc), free(lg);
}

static void test_forward_parity_f32_and_bf16(void** st) {
    ModelConfig c = reference_config(3, 4, 2);
    c.dim = 64, c.hidden_dim = 96, c.head_dim = 16;
    Model m;
    model_init_random(&m, &c, 0.3f, 41);
    parity(&m, "F32", 1e-4);
    char tmp[64], dir[128];
    test_tmpdir(tmp);
    snprintf(dir, sizeof dir, "%s/bf16", tmp);
    Err err;
    if (model_save(&m, dir, DT_BF16, 1, &err)) fail_msg("%s", err.msg);
    Model b;
    if (model_load_as(&b, dir, WEIGHTS_NATIVE, &err)) fail_msg("%s", err.msg);
    assert_int_equal(b.layers[0].w[PROJ_Q].type, WEIGHT_BF16);
    parity(&b, "BF16", 1e-2);
    model_free(&b);
    model_free(&m);
    test_rmrf(tmp);
}

// Greedy continuation ids of the demo model + SLIM adapter on one device.
static void demo_greedy(DeviceKind dev, int* out, int n) {
    Settings st;
    settings_defaults(&st, "test");
    st.model_dir = "models/demo/base";
    st.adapter_dir = "models/demo/slim";
    st.device = dev;
    Session s;
    Err err;
    if (session_open(&s, &st, &err)) fail_msg("%s", err.msg);
    int *ids = NULL, n_ids = 0;
    if (session_encode(&s, "Q: 45+78= A:", 1, &ids, &n_ids, &err) || session_feed(&s, ids, n_ids, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < n; i++) {
        out[i] = argmax(s.logits, s.model.cfg.vocab_size);
        if (session_feed(&s, &out[i], 1, &err)) fail_msg("%s", err.msg);
    }
    free(ids);
    session_close(&s);
}

static void test_demo_greedy_tokens_identical(void** st) {
    if (!file_exists("models/demo/slim/adapter_config.json")) skip();
    enum { T = 24 };
    int cpu[T], gpu[T];
    demo_greedy(DEVICE_CPU, cpu, T);
    demo_greedy(DEVICE_CUDA, gpu, T);
    for (int i = 0; i < T; i++)
        if (cpu[i] != gpu[i]) fail_msg("demo greedy token %d: cpu %d, cuda %d", i, cpu[i], gpu[i]);
}

int main(void) {
    char why[1024];
    g_cuda = backend_cuda(why, sizeof why);
    if (!g_cuda) {
        printf("1..1\nok 1 # SKIP GPU tests not run: %s\n", why);
        return 0;
    }
    printf("# cuda device: %s\n", g_cuda->device);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_op_matches_cpu),
        cmocka_unit_test(test_forward_parity_f32_and_bf16),
        cmocka_unit_test(test_demo_greedy_tokens_identical),
    };
    return cmocka_run_group_tests_name("gpu", tests, NULL, NULL);
}

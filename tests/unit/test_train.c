// test_train.c: the training engine's behaviour: a tiny model overfits a fixed 64-token sequence;
// a LoRA adapter learns a toy task (exact match measured by the inference engine); the training
// forward of SLIM matches the inference forward (with and without per-step masks); interrupt +
// resume reproduces an uninterrupted run bit for bit; the schedule, AdamW, clipping, gradient
// accumulation and the sliding clusters against independent computations.
#include "forward.h"
#include "testutil.h"
#include "train.h"
#include "train_internal.h"

static void config_small(ModelConfig* c, int V, int C, int F, int L, int H, int Hkv) {
    memset(c, 0, sizeof *c);
    c->arch = ARCH_LLAMA;
    c->dim = C, c->hidden_dim = F, c->n_layers = L, c->n_heads = H, c->n_kv_heads = Hkv, c->head_dim = C / H;
    c->vocab_size = V, c->max_seq_len = 128, c->norm_eps = 1e-5f, c->rope_theta = 10000, c->tie_embeddings = 1;
    c->bos_id = c->eos_id = -1;
    strcpy(c->torch_dtype, "float32");
}

static void batch_alloc(Batch* b, int B, int T) {
    b->B = B, b->T = T, b->lens = NULL;
    b->tokens = calloc(B * T, sizeof(int));
    b->targets = calloc(B * T, sizeof(int));
}
static void batch_free(Batch* b) { free(b->tokens), free(b->targets); }

static void random_tokens(Batch* b, int V, Rng* r) {
    for (int i = 0; i < b->B * b->T; i++) b->tokens[i] = (int)(rng_u64(r) % V);
    for (int i = 0; i < b->B * b->T; i++) b->targets[i] = (int)(rng_u64(r) % V);
}

static void make_slim(Adapter* a, Model* m, int n_id, float yield) {
    AdapterSpec s;
    adapter_spec_default(&s);
    s.r = 4, s.lora_alpha = 8, s.n_id = n_id, s.n_lora = 4, s.top_k = 2, s.n_clusters = 3, s.yield_scale = yield;
    adapter_alloc(a, m, &s);
    trainer_init_adapter(a, 9);
}

// ---------------------------------------------------------------------------------------------
// learning

static void test_overfit_64_tokens(void** state) {
    ModelConfig c;
    config_small(&c, 32, 64, 128, 2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.02f, 1);
    trainer_init_model_weights(&m, 0.02f, 1);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = 1, tc.seq_len = 64, tc.steps = 300, tc.warmup = 10, tc.lr = 1e-2f, tc.weight_decay = 0;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, NULL, &tc, &err), 0);
    Batch b;
    batch_alloc(&b, 1, 64);
    Rng r;
    rng_seed(&r, 42);
    int seq[65];
    for (int i = 0; i < 65; i++) seq[i] = (int)(rng_u64(&r) % 32);
    for (int i = 0; i < 64; i++) b.tokens[i] = seq[i], b.targets[i] = seq[i + 1];
    StepStats st;
    double first = 0;
    for (int s = 0; s < tc.steps; s++) {
        trainer_step(&t, &b, 1, &st);
        if (s == 0) first = st.ce;
    }
    // measured again by a separate forward (not the value the step printed)
    int nv;
    double final = trainer_forward(&t, &b, 0, &nv) / nv;
    print_message("  overfit: loss %.3f -> %.4f in %d steps\n", first, final, tc.steps);
    assert_true(first > 3.0);
    assert_true(final < 0.05);
    batch_free(&b);
    trainer_free(&t);
    model_free(&m);
}

// Toy task: [BOS, x, SEP] -> [perm(x), EOS] over 16 symbols; exact match by greedy decoding with
// the inference engine.
enum { TOY_N = 16, TOY_BOS = 16, TOY_SEP = 17, TOY_EOS = 18, TOY_V = 24 };
static int toy_perm(int x) { return (x * 7 + 3) % TOY_N; }

static double toy_accuracy(const Model* m, const Adapter* a) {
    RunState s;
    Err err;
    assert_int_equal(runstate_init(&s, m, a, 8, 8, &err), 0);
    SlimRun run;
    slim_run_init(&run, a, m->cfg.n_layers);
    float* logits = malloc(TOY_V * sizeof(float));
    int correct = 0;
    for (int x = 0; x < TOY_N; x++) {
        int prompt[3] = {TOY_BOS, x, TOY_SEP}, out[2];
        assert_int_equal(forward(m, a, a ? &run : NULL, &s, prompt, 3, 0, logits, 0, NULL, &err), 0);
        for (int k = 0; k < 2; k++) {
            int best = 0;
            for (int i = 1; i < TOY_V; i++) best = logits[i] > logits[best] ? i : best;
            out[k] = best;
            if (k == 0) assert_int_equal(forward(m, a, a ? &run : NULL, &s, &best, 1, 3, logits, 0, NULL, &err), 0);
        }
        correct += out[0] == toy_perm(x) && out[1] == TOY_EOS;
    }
    free(logits);
    slim_run_free(&run);
    runstate_free(&s);
    return (double)correct / TOY_N;
}

static void test_lora_learns_toy_task(void** state) {
    ModelConfig c;
    config_small(&c, TOY_V, 32, 64, 2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.3f, 3);
    double before = toy_accuracy(&m, NULL);
    AdapterSpec s;
    adapter_spec_default(&s);
    s.type = ADAPTER_LORA, s.r = 8, s.lora_alpha = 16, s.target_mask = (1u << PROJ_COUNT) - 1;
    Adapter a;
    adapter_alloc(&a, &m, &s);
    trainer_init_adapter(&a, 4);
    double with_zero_b = toy_accuracy(&m, &a);  // B = 0: the adapter changes nothing yet
    TrainConfig tc;
    train_config_default(&tc, TRAIN_LORA);
    tc.batch = TOY_N, tc.seq_len = 4, tc.steps = 150, tc.warmup = 10, tc.lr = 1e-2f;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
    Batch b;
    batch_alloc(&b, TOY_N, 4);
    for (int x = 0; x < TOY_N; x++) {
        int full[5] = {TOY_BOS, x, TOY_SEP, toy_perm(x), TOY_EOS};
        for (int i = 0; i < 4; i++) {
            b.tokens[x * 4 + i] = full[i];
            b.targets[x * 4 + i] = i >= 2 ? full[i + 1] : -1;  // loss on the response only
        }
    }
    StepStats st;
    for (int i = 0; i < tc.steps; i++) trainer_step(&t, &b, 1, &st);
    double after = toy_accuracy(&m, &a);
    print_message("  toy task exact match: base %.2f, untrained adapter %.2f, trained LoRA %.2f (loss %.3f)\n", before,
                  with_zero_b, after, st.ce);
    assert_true(before < 0.2);
    assert_true(with_zero_b == before);
    assert_true(after > 0.9);
    batch_free(&b);
    trainer_free(&t);
    adapter_free(&a);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// the training forward is the inference forward

static void check_matches_inference(float p) {
    ModelConfig c;
    config_small(&c, 40, 32, 48, 2, 4, 2);
    c.attn_bias = 1, c.tie_embeddings = 0;
    Model m;
    model_init_random(&m, &c, 0.3f, 21);
    Adapter a;
    make_slim(&a, &m, 2, 1.0f);
    a.mask_seed = 77;
    Rng r;
    rng_seed(&r, 5);
    for (size_t i = 0; i < a.n_params; i++) a.storage[i] += 0.3f * rng_normal(&r);  // B != 0, random router
    for (int l = 0; l < a.n_layers; l++)
        for (int i = 0; i < a.n_clusters * a.dim; i++) a.layers[l].sigma[i] = 0.5f + rng_uniform(&r);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_SLIM);
    tc.batch = 2, tc.seq_len = 9, tc.train_mask_ratio = p;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
    t.clusters_ready = 1;
    t.step = 7;
    Batch b;
    batch_alloc(&b, 2, 9);
    random_tokens(&b, c.vocab_size, &r);
    int nv;
    trainer_forward(&t, &b, 0, &nv);
    size_t np = (size_t)2 * 9 * c.vocab_size;
    float* probs = malloc(np * sizeof(float));
    memcpy(probs, trainer_probs(&t), np * sizeof(float));
    RunState s;
    assert_int_equal(runstate_init(&s, &m, &a, 16, 16, &err), 0);
    SlimRun run;
    slim_run_init(&run, &a, c.n_layers);
    run.mask_ratio = p, run.mask_refresh = REFRESH_PER_STEP, run.step = 7, run.mask_seed = 77;
    assert_int_equal(slim_run_prepare(&run, &a, &err), 0);
    float* logits = malloc(9 * c.vocab_size * sizeof(float));
    double worst = 0;
    for (int row = 0; row < 2; row++) {
        assert_int_equal(forward(&m, &a, &run, &s, b.tokens + row * 9, 9, 0, logits, 1, NULL, &err), 0);
        for (int i = 0; i < 9; i++) {
            float* lg = logits + i * c.vocab_size;
            double mx = lg[0], sum = 0;
            for (int v = 1; v < c.vocab_size; v++) mx = lg[v] > mx ? lg[v] : mx;
            for (int v = 0; v < c.vocab_size; v++) sum += exp(lg[v] - mx);
            for (int v = 0; v < c.vocab_size; v++) {
                double d = fabs(exp(lg[v] - mx) / sum - probs[(row * 9 + i) * c.vocab_size + v]);
                worst = d > worst ? d : worst;
            }
        }
    }
    print_message("  p = %.1f: max |p_train - p_inference| = %.2e\n", p, worst);
    assert_true(worst < 1e-4);
    // the same with the masks of another step must differ when p > 0 (masks are keyed by the step)
    if (p > 0) {
        t.step = 8;
        trainer_forward(&t, &b, 0, &nv);
        double diff = 0;
        for (size_t i = 0; i < np; i++) diff += fabs(trainer_probs(&t)[i] - probs[i]);
        assert_true(diff > 1e-3);
    }
    free(probs);
    free(logits);
    slim_run_free(&run);
    runstate_free(&s);
    batch_free(&b);
    trainer_free(&t);
    adapter_free(&a);
    model_free(&m);
}
static void test_matches_inference_unmasked(void** state) { check_matches_inference(0.0f); }
static void test_matches_inference_masked(void** state) { check_matches_inference(0.4f); }

// ---------------------------------------------------------------------------------------------
// resume

// Runs `steps` SLIM steps (masks, accumulation, sliding clusters); when save_at > 0, checkpoints
// there and continues in a fresh trainer loaded from the checkpoint. Returns the final loss and
// copies the final adapter storage into out.
static float resume_run(int steps, int save_at, const char* dir, float* out, size_t n_out) {
    ModelConfig c;
    config_small(&c, 40, 32, 48, 2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.3f, 31);
    Adapter a;
    make_slim(&a, &m, 2, 1.0f);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_SLIM);
    tc.batch = 2, tc.seq_len = 8, tc.accum = 2, tc.steps = steps, tc.warmup = 2, tc.lr = 5e-3f;
    tc.train_mask_ratio = 0.3f, tc.l1_lambda = 0.01f, tc.balance_lambda = 0.01f;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
    Rng data;
    rng_seed(&data, 99);
    Batch mb[2];
    batch_alloc(&mb[0], 2, 8);
    batch_alloc(&mb[1], 2, 8);
    StepStats st;
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt.bin", dir);
    for (int s = 0; s < steps; s++) {
        if (save_at > 0 && s == save_at) {
            char extra[128];
            snprintf(extra, sizeof extra, "data_rng=%llu\n", (unsigned long long)data.s);
            assert_int_equal(trainer_save_checkpoint(&t, path, extra, &err), 0);
            // a fresh process: new model/adapter/trainer from the same recipe, then the checkpoint
            trainer_free(&t);
            adapter_free(&a);
            make_slim(&a, &m, 2, 1.0f);
            assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
            char* ex = NULL;
            assert_int_equal(trainer_load_checkpoint(&t, path, &ex, &err), 0);
            char buf[64];
            assert_non_null(kv_get(ex, "data_rng", buf, sizeof buf));
            data.s = strtoull(buf, NULL, 10);
            free(ex);
            assert_int_equal((int)t.step, save_at);
        }
        random_tokens(&mb[0], c.vocab_size, &data);
        random_tokens(&mb[1], c.vocab_size, &data);
        trainer_step(&t, mb, 2, &st);
    }
    memcpy(out, a.storage, n_out * sizeof(float));
    batch_free(&mb[0]), batch_free(&mb[1]);
    trainer_free(&t);
    adapter_free(&a);
    model_free(&m);
    return st.loss;
}

static void test_resume_is_exact(void** state) {
    char dir[64];
    test_tmpdir(dir);
    ModelConfig c;
    config_small(&c, 40, 32, 48, 2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.3f, 31);
    Adapter a;
    make_slim(&a, &m, 2, 1.0f);
    size_t n = a.n_params;
    adapter_free(&a);
    model_free(&m);
    float *p1 = malloc(n * sizeof(float)), *p2 = malloc(n * sizeof(float));
    float l1 = resume_run(10, 0, dir, p1, n);
    float l2 = resume_run(10, 4, dir, p2, n);
    print_message("  final loss uninterrupted %.7f, resumed %.7f\n", l1, l2);
    assert_true(l1 == l2);
    assert_memory_equal(p1, p2, n * sizeof(float));  // centres and sigma included
    free(p1), free(p2);
    test_rmrf(dir);
}

static void test_checkpoint_errors(void** state) {
    char dir[64], path[128];
    test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/x.bin", dir);
    FILE* f = fopen(path, "w");
    fputs("not a checkpoint", f);
    fclose(f);
    Err err;
    char* ex;
    assert_int_equal(checkpoint_read_extra(path, &ex, &err), -1);
    assert_non_null(strstr(err.msg, "not a slimscope training checkpoint"));
    // a checkpoint of another shape is refused with both sizes named
    ModelConfig c;
    config_small(&c, 40, 32, 48, 2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.1f, 1);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = 1, tc.seq_len = 4;
    Trainer t;
    assert_int_equal(trainer_init(&t, &m, NULL, &tc, &err), 0);
    assert_int_equal(trainer_save_checkpoint(&t, path, "a=1\nb=two\n", &err), 0);
    char buf[32];
    assert_int_equal(checkpoint_read_extra(path, &ex, &err), 0);
    assert_string_equal(kv_get(ex, "b", buf, sizeof buf), "two");
    assert_null(kv_get(ex, "c", buf, sizeof buf));
    free(ex);
    Model m2;
    config_small(&c, 41, 32, 48, 2, 4, 2);
    model_init_random(&m2, &c, 0.1f, 1);
    Trainer t2;
    assert_int_equal(trainer_init(&t2, &m2, NULL, &tc, &err), 0);
    assert_int_equal(trainer_load_checkpoint(&t2, path, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "parameters"));
    trainer_free(&t2);
    trainer_free(&t);
    model_free(&m2);
    model_free(&m);
    test_rmrf(dir);
}

// ---------------------------------------------------------------------------------------------
// optimiser pieces

static void test_lr_schedule(void** state) {
    TrainConfig c;
    train_config_default(&c, TRAIN_PRETRAIN);
    c.lr = 1e-3f, c.warmup = 10, c.steps = 110, c.min_lr_frac = 0.1f;
    assert_true(fabsf(train_lr(&c, 0) - 1e-4f) < 1e-9f);   // (0 + 1) / 10 of the peak
    assert_true(fabsf(train_lr(&c, 9) - 1e-3f) < 1e-9f);
    assert_true(fabsf(train_lr(&c, 10) - 1e-3f) < 1e-9f);  // cosine starts at the peak
    assert_true(fabsf(train_lr(&c, 60) - 5.5e-4f) < 1e-8f);  // halfway: (1e-3 + 1e-4) / 2
    assert_true(fabsf(train_lr(&c, 110) - 1e-4f) < 1e-9f);
    assert_true(fabsf(train_lr(&c, 500) - 1e-4f) < 1e-9f);
    for (int s = 11; s < 110; s++) assert_true(train_lr(&c, s) <= train_lr(&c, s - 1));
}

static void test_adamw_and_decay_groups(void** state) {
    ModelConfig c;
    config_small(&c, 16, 16, 24, 1, 2, 1);
    c.attn_bias = 1;
    Model m;
    model_init_random(&m, &c, 0.5f, 2);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = 1, tc.seq_len = 4, tc.weight_decay = 0.5f;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, NULL, &tc, &err), 0);
    // biases and norms get no decay; matrices do
    for (int g = 0; g < t.n_groups; g++) {
        int matrix = strstr(t.groups[g].name, "norm") == NULL && strstr(t.groups[g].name, "bias") == NULL;
        if (t.groups[g].decay != matrix) fail_msg("group %s: decay %d", t.groups[g].name, t.groups[g].decay);
    }
    float* before = malloc(t.n_params * sizeof(float));
    memcpy(before, t.params, t.n_params * sizeof(float));
    Rng r;
    rng_seed(&r, 3);
    for (size_t i = 0; i < t.n_params; i++) t.grads[i] = rng_normal(&r);
    for (size_t i = 0; i < 10; i++) t.grads[i] = 0;  // zero gradient: only decay moves these
    float lr = 0.01f;
    trainer_adamw(&t, lr);
    // step 1: m_hat = g, v_hat = g^2, so p -= lr * (g / (|g| + eps) + wd * p)
    for (int g = 0; g < t.n_groups; g++)
        for (size_t i = t.groups[g].off; i < t.groups[g].off + t.groups[g].n; i++) {
            double gr = t.grads[i], p0 = before[i];
            double expect = p0 - lr * (gr / (fabs(gr) + 1e-8) + (t.groups[g].decay ? 0.5 * p0 : 0));
            if (fabs(t.params[i] - expect) > 1e-6) fail_msg("%s[%zu]: %g vs %g", t.groups[g].name, i, t.params[i], expect);
        }
    free(before);
    trainer_free(&t);
    model_free(&m);
}

static void test_clipping_and_accumulation(void** state) {
    ModelConfig c;
    config_small(&c, 30, 16, 24, 2, 2, 1);
    Model m1, m2, m3;
    model_init_random(&m1, &c, 0.3f, 4);
    model_init_random(&m2, &c, 0.3f, 4);
    model_init_random(&m3, &c, 0.3f, 4);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = 2, tc.seq_len = 5, tc.grad_clip = 0;
    Trainer one, acc, clip;
    Err err;
    assert_int_equal(trainer_init(&one, &m1, NULL, &tc, &err), 0);
    TrainConfig tc1 = tc;
    tc1.batch = 1;
    assert_int_equal(trainer_init(&acc, &m2, NULL, &tc1, &err), 0);
    TrainConfig tcc = tc;
    tcc.grad_clip = 1e-3f;
    assert_int_equal(trainer_init(&clip, &m3, NULL, &tcc, &err), 0);
    Batch b, half[2];
    batch_alloc(&b, 2, 5);
    Rng r;
    rng_seed(&r, 8);
    random_tokens(&b, c.vocab_size, &r);
    b.targets[3] = -1, b.targets[6] = -1, b.targets[7] = -1;  // uneven scored counts per half
    for (int k = 0; k < 2; k++) {
        half[k].B = 1, half[k].T = 5, half[k].lens = NULL;
        half[k].tokens = b.tokens + 5 * k;
        half[k].targets = b.targets + 5 * k;
    }
    // the gradient of one batch of 2, computed by hand: zero, forward, backward
    int nv;
    trainer_zero_grad(&one);
    trainer_forward(&one, &b, 1, &nv);
    trainer_backward(&one, 1.0f / nv);
    double norm = 0;
    for (size_t i = 0; i < one.n_params; i++) norm += (double)one.grads[i] * one.grads[i];
    norm = sqrt(norm);
    float* g1 = malloc(one.n_params * sizeof(float));
    memcpy(g1, one.grads, one.n_params * sizeof(float));
    // two micro-batches of 1: the accumulated gradient (adam_m = (1 - beta1) g after one step)
    StepStats st;
    trainer_step(&acc, half, 2, &st);
    double worst = 0;
    for (size_t i = 0; i < acc.n_params; i++) {
        double d = fabs(acc.adam_m[i] / (1 - tc.beta1) - g1[i]);
        worst = d > worst ? d : worst;
    }
    print_message("  accumulation: max |g_accum - g_batch| = %.2e, grad norm %.4f (step says %.4f)\n", worst, norm,
                  st.grad_norm);
    assert_true(worst < 1e-6);
    assert_true(fabs(st.grad_norm - norm) < 1e-4 * norm);
    // clipping: the step's gradient has norm grad_clip
    trainer_step(&clip, &b, 1, &st);
    double cn = 0;
    for (size_t i = 0; i < clip.n_params; i++) cn += pow(clip.adam_m[i] / (1 - tc.beta1), 2);
    assert_true(norm > 1e-3);
    assert_true(fabs(sqrt(cn) - 1e-3) < 1e-6);
    free(g1);
    batch_free(&b);
    trainer_free(&one), trainer_free(&acc), trainer_free(&clip);
    model_free(&m1), model_free(&m2), model_free(&m3);
}

// ---------------------------------------------------------------------------------------------
// sliding clusters (SLIM.md section 5) against a double-precision re-implementation

static void test_sliding_clusters(void** state) {
    ModelConfig c;
    config_small(&c, 20, 16, 24, 1, 2, 1);
    Model m;
    model_init_random(&m, &c, 0.3f, 5);
    Adapter a;
    make_slim(&a, &m, 2, 1.0f);
    a.cluster_momentum = 0.1f;
    TrainConfig tc;
    train_config_default(&tc, TRAIN_SLIM);
    tc.batch = 2, tc.seq_len = 8;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
    int C = 16, N = a.n_clusters, n = 12;
    float *x = malloc(n * C * sizeof(float)), *x2 = malloc(n * C * sizeof(float));
    Rng r;
    rng_seed(&r, 6);
    for (int i = 0; i < n * C; i++) x[i] = rng_normal(&r), x2[i] = 2 * rng_normal(&r);
    memcpy(x + 3 * C, x, C * sizeof(float));  // a repeated state: centres must still be distinct
    int real[12];
    for (int i = 0; i < n; i++) real[i] = i;
    train_clusters_init(&t, 0, x, real, n);
    AdapterLayer* al = &a.layers[0];
    for (int j = 0; j < N; j++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= memcmp(al->centers + j * C, x + i * C, C * sizeof(float)) == 0;
        assert_true(found);
        for (int k = 0; k < j; k++) assert_true(memcmp(al->centers + j * C, al->centers + k * C, C * sizeof(float)) != 0);
    }
    double var[16];
    for (int ch = 0; ch < C; ch++) {
        double mu = 0, v = 0;
        for (int i = 0; i < n; i++) mu += x[i * C + ch] / n;
        for (int i = 0; i < n; i++) v += (x[i * C + ch] - mu) * (x[i * C + ch] - mu) / n;
        var[ch] = v;
        for (int j = 0; j < N; j++) assert_true(fabs(al->sigma[j * C + ch] - sqrt(v + 1e-6)) < 1e-5);
    }
    // the update, re-implemented: nearest centre, move by m * delta, var from the old delta
    double cen[3][16], vr[3][16];
    for (int j = 0; j < N; j++)
        for (int ch = 0; ch < C; ch++) cen[j][ch] = al->centers[j * C + ch], vr[j][ch] = var[ch];
    for (int i = 0; i < n; i++) {
        int best = 0;
        double bd = 1e300;
        for (int j = 0; j < N; j++) {
            double d2 = 0;
            for (int ch = 0; ch < C; ch++) d2 += pow(x2[i * C + ch] - cen[j][ch], 2);
            if (d2 < bd) bd = d2, best = j;
        }
        for (int ch = 0; ch < C; ch++) {
            double delta = x2[i * C + ch] - cen[best][ch];
            cen[best][ch] += 0.1 * delta;
            vr[best][ch] = 0.9 * vr[best][ch] + 0.1 * delta * delta;
        }
    }
    train_clusters_update(&t, 0, x2, real, n);
    for (int j = 0; j < N; j++)
        for (int ch = 0; ch < C; ch++) {
            assert_true(fabs(al->centers[j * C + ch] - cen[j][ch]) < 1e-5);
            assert_true(fabs(al->sigma[j * C + ch] - sqrt(vr[j][ch] + 1e-6)) < 1e-5);
        }
    free(x), free(x2);
    trainer_free(&t);
    adapter_free(&a);
    model_free(&m);
}

// max-form d of x against the nearest of N centres (SLIM.md section 2, steps 2-3), in double.
static double ref_dist(const float* x, const float* cen, const float* sig, int N, int C) {
    int best = 0;
    double bd = 1e300, mx = 0;
    for (int j = 0; j < N; j++) {
        double d2 = 0;
        for (int ch = 0; ch < C; ch++) d2 += pow(x[ch] - cen[j * C + ch], 2);
        if (d2 < bd) bd = d2, best = j;
    }
    for (int ch = 0; ch < C; ch++) mx = fmax(mx, fabs(x[ch] - cen[best * C + ch]) / sig[best * C + ch]);
    return mx - 1;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

// tau-quantile of n values by linear interpolation at tau (n - 1), in double (sorts v)
static double ref_quantile(double* v, int n, double tau) {
    qsort(v, n, sizeof(double), cmp_double);
    double pos = tau * (n - 1);
    int i = (int)pos;
    return i >= n - 1 ? v[n - 1] : v[i] + (pos - i) * (v[i + 1] - v[i]);
}

// --skip-special-tokens: the special token in front of each row stays out of the cluster init and
// the yield quantiles; "quantile" calibration: q50/q90 start at the first batch's quantiles and
// move by q = (1 - m) q + m q_batch, each checked against a double-precision recomputation from
// the block's MLP inputs.
static void test_skip_special_and_yield_quantiles(void** state) {
    float v[5] = {4, 1, 3, 2, 5};
    assert_float_equal(train_quantile(v, 5, 0.5f), 3.0f, 0);
    assert_float_equal(train_quantile(v, 5, 0.9f), 4.6f, 1e-6);  // position 3.6: 4 + 0.6 * (5 - 4)
    ModelConfig c;
    config_small(&c, 20, 16, 24, 1, 2, 1);
    Model m;
    model_init_random(&m, &c, 0.3f, 5);
    AdapterSpec s;
    adapter_spec_default(&s);
    s.r = 4, s.lora_alpha = 8, s.n_id = 2, s.n_lora = 4, s.top_k = 2, s.n_clusters = 3;
    s.yield_calibration = YCAL_QUANTILE;
    Adapter a;
    adapter_alloc(&a, &m, &s);
    trainer_init_adapter(&a, 9);
    a.cluster_momentum = 0.1f;
    TrainConfig tc;
    train_config_default(&tc, TRAIN_SLIM);
    tc.batch = 2, tc.seq_len = 8, tc.skip_special = 1;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
    int special = 19;
    trainer_set_special(&t, &special, 1);
    Batch b;
    batch_alloc(&b, 2, 8);
    Rng r;
    rng_seed(&r, 3);
    int C = 16, N = 3, BT = 16;
    AdapterLayer* al = &a.layers[0];
    double dv[16];
    float cen[3 * 16], sig[3 * 16];
    for (int pass = 0; pass < 2; pass++) {
        random_tokens(&b, 19, &r);  // ids 0..18: only the row starts are special
        b.tokens[0] = b.tokens[8] = special;
        t.tc.update_clusters = pass;  // pass 0: the init alone; pass 1: the sliding update
        float q_old[2] = {al->yield_q[0], al->yield_q[1]};
        memcpy(cen, al->centers, sizeof cen);
        memcpy(sig, al->sigma, sizeof sig);
        int nv;
        trainer_forward(&t, &b, 1, &nv);
        assert_int_equal(t.cur_n_real, BT - 2);
        ActViews av;
        train_act_views(&t, &av);
        const float* x = av.a[A_LN2];  // block 0's MLP inputs, (BT, C)
        if (pass == 0) {  // centres among the ordinary states, var over them alone
            for (int j = 0; j < N; j++) {
                int found = 0;
                for (int n = 0; n < BT; n++)
                    if (n % 8) found |= memcmp(al->centers + j * C, x + n * C, C * sizeof(float)) == 0;
                assert_true(found);
            }
            for (int ch = 0; ch < C; ch++) {
                double mu = 0, var = 0;
                for (int n = 0; n < BT; n++) mu += n % 8 ? x[n * C + ch] / (BT - 2) : 0;
                for (int n = 0; n < BT; n++) var += n % 8 ? pow(x[n * C + ch] - mu, 2) / (BT - 2) : 0;
                assert_true(fabs(al->sigma[ch] - sqrt(var + 1e-6)) < 1e-5);
            }
            memcpy(cen, al->centers, sizeof cen);  // q of the init: d against the fresh centres
            memcpy(sig, al->sigma, sizeof sig);
        }
        int k = 0;
        for (int n = 0; n < BT; n++)
            if (n % 8) dv[k++] = ref_dist(x + n * C, cen, sig, N, C);
        double q50 = ref_quantile(dv, k, 0.5), q90 = ref_quantile(dv, k, 0.9);
        if (pass == 1) q50 = 0.9 * q_old[0] + 0.1 * q50, q90 = 0.9 * q_old[1] + 0.1 * q90;
        assert_true(fabs(al->yield_q[0] - q50) < 1e-5);
        assert_true(fabs(al->yield_q[1] - q90) < 1e-5);
        if (pass == 1) assert_true(memcmp(cen, al->centers, sizeof cen) != 0);  // the centres did slide
    }
    batch_free(&b);
    trainer_free(&t);
    adapter_free(&a);
    model_free(&m);
}

// A training step initialises the clusters from the first batch and never touches them through
// the optimiser; identical runs are identical.
static void test_first_step_and_determinism(void** state) {
    float* res[2];
    for (int run = 0; run < 2; run++) {
        ModelConfig c;
        config_small(&c, 20, 16, 24, 2, 2, 1);
        Model m;
        model_init_random(&m, &c, 0.3f, 5);
        Adapter a;
        make_slim(&a, &m, 2, 1.0f);
        TrainConfig tc;
        train_config_default(&tc, TRAIN_SLIM);
        tc.batch = 2, tc.seq_len = 8, tc.steps = 5;
        Trainer t;
        Err err;
        assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
        Batch b;
        batch_alloc(&b, 2, 8);
        Rng r;
        rng_seed(&r, 1);
        random_tokens(&b, c.vocab_size, &r);
        b.lens = calloc(2, sizeof(int));
        b.lens[0] = 8, b.lens[1] = 5;  // padding rows do not feed the clusters
        StepStats st;
        assert_int_equal(t.clusters_ready, 0);
        for (int s = 0; s < 5; s++) trainer_step(&t, &b, 1, &st);
        assert_int_equal(t.clusters_ready, 1);
        for (int l = 0; l < 2; l++)
            for (int i = 0; i < a.n_clusters * a.dim; i++) assert_true(a.layers[l].sigma[i] > 0);
        res[run] = malloc(a.n_params * sizeof(float));
        memcpy(res[run], a.storage, a.n_params * sizeof(float));
        if (run == 1) assert_memory_equal(res[0], res[1], a.n_params * sizeof(float));
        free(b.lens);
        batch_free(&b);
        trainer_free(&t);
        adapter_free(&a);
        model_free(&m);
    }
    free(res[0]), free(res[1]);
}

int main(void) {
    ops_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lr_schedule),
        cmocka_unit_test(test_adamw_and_decay_groups),
        cmocka_unit_test(test_clipping_and_accumulation),
        cmocka_unit_test(test_sliding_clusters),
        cmocka_unit_test(test_first_step_and_determinism),
        cmocka_unit_test(test_skip_special_and_yield_quantiles),
        cmocka_unit_test(test_matches_inference_unmasked),
        cmocka_unit_test(test_matches_inference_masked),
        cmocka_unit_test(test_checkpoint_errors),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_overfit_64_tokens),
        cmocka_unit_test(test_lora_learns_toy_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

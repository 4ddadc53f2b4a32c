// test_slim.c: SLIM routing on hand-made vectors, the masked merge against an explicit
// element-masked product, adapters against explicitly merged models, and adapter errors.
#include "testutil.h"

#include <cjson/cJSON.h>
#include <sys/wait.h>

#include "adapter.h"
#include "forward.h"
#include "reference.h"
#include "slim.h"

static const int TOKS[12] = {3, 17, 42, 8, 8, 1, 49, 23, 5, 0, 11, 37};

static float* logits_with(const Model* m, const Adapter* a, const SlimRun* run, int n) {
    RunState s;
    Err err;
    if (runstate_init(&s, m, a, 32, 8, &err)) fail_msg("%s", err.msg);
    float* lg = malloc((size_t)n * m->cfg.vocab_size * sizeof(float));
    if (forward(m, a, run, &s, TOKS, n, 0, lg, 1, NULL, &err)) fail_msg("%s", err.msg);
    runstate_free(&s);
    return lg;
}

// The hand-made routing fixture: C = 2, E = 3 (1 identity + 2 LoRA), 2 clusters, top 2, gamma = 2,
// router z = (x0, x1, x0 + x1), centres (0, 0) and (3, 3) with sigma (1, 2) and (0.5, 0.5).
static void hand_adapter(Model* m, Adapter* a, AdapterSpec* sp, SlimDistance dist, YieldCalibration ycal) {
    ModelConfig c = reference_config(1, 2, 2);
    c.dim = 2;
    c.head_dim = 2;
    c.n_heads = c.n_kv_heads = 1;
    model_init_random(m, &c, 0.1f, 1);
    adapter_spec_default(sp);
    sp->n_id = 1, sp->n_lora = 2, sp->n_clusters = 2, sp->yield_scale = 2.0f, sp->r = 1;
    sp->distance = dist, sp->yield_calibration = ycal;
    adapter_alloc(a, m, sp);
    AdapterLayer* al = &a->layers[0];
    float W[6] = {1, 0, 0, 1, 1, 1};
    float centers[4] = {0, 0, 3, 3}, sigma[4] = {1, 2, 0.5f, 0.5f};
    memcpy(al->router_w, W, sizeof W);
    memcpy(al->centers, centers, sizeof centers);
    memcpy(al->sigma, sigma, sizeof sigma);
}

static void test_routing_hand_values(void** st) {
    Model m;
    AdapterSpec sp;
    Adapter a;
    hand_adapter(&m, &a, &sp, DIST_MAX, YCAL_NONE);
    AdapterLayer* al = &a.layers[0];
    SlimRun run;
    slim_run_init(&run, &a, 1);
    float z[3], zy[3], pi[3], w[3];
    Route rt = {z, zy, pi, w, 0, 0, 0};
    // x = (1, 0.5): nearest centre 0 (d2 1.25 vs 10.25); d = max(1/1, 0.5/2) - 1 = 0.
    float x1[2] = {1.0f, 0.5f};
    slim_route(&rt, x1, &a, &run, 0);
    assert_int_equal(rt.nearest, 0);
    assert_float_equal(rt.dist, 0.0f, 1e-7);
    // z = (1, 0.5, 1.5), no yield; pi = softmax: e^1, e^.5, e^1.5 / sum
    double e0 = exp(1.0), e1 = exp(0.5), e2 = exp(1.5), s = e0 + e1 + e2;
    assert_float_equal(pi[0], e0 / s, 1e-6);
    assert_float_equal(pi[2], e2 / s, 1e-6);
    // top 2 = experts 2 and 0; renormalised over them
    assert_float_equal(w[2], e2 / (e0 + e2), 1e-6);
    assert_float_equal(w[0], e0 / (e0 + e2), 1e-6);
    assert_float_equal(w[1], 0.0f, 0);
    assert_float_equal(rt.id_share, e0 / (e0 + e2), 1e-6);
    // x = (2.5, 4): nearest centre 1; d = max(0.5/0.5, 1/0.5) - 1 = 1; identity logit += 2
    float x2[2] = {2.5f, 4.0f};
    slim_route(&rt, x2, &a, &run, 0);
    assert_int_equal(rt.nearest, 1);
    assert_float_equal(rt.dist, 1.0f, 1e-6);
    assert_float_equal(zy[0], 2.5f + 2.0f, 1e-6);
    assert_float_equal(zy[2], 6.5f, 1e-6);
    // ties: x = (1, 1) with W rows (1,0), (0,1): z1 = z2 = 1 when expert 2's row is (0.5, 0.5)
    float W2[6] = {0, 0, 1, 0, 0, 1};              // z = (0, x0, x1)
    memcpy(al->router_w, W2, sizeof W2);
    float x3[2] = {0.5f, 0.5f};                    // d = max(.5/1, .5/2) - 1 = -0.5: identity logit -1
    sp.top_k = 1;
    a.top_k = 1;
    slim_route(&rt, x3, &a, &run, 0);
    assert_float_equal(rt.dist, -0.5f, 1e-7);
    assert_float_equal(w[1], 1.0f, 0);             // tie between experts 1 and 2 -> lower index
    assert_float_equal(w[2], 0.0f, 0);
    assert_float_equal(rt.id_share, 0.0f, 0);
    // lora-only: identity excluded; identity-only: everything on identity
    a.top_k = 2;
    run.mode = MODE_LORA_ONLY;
    slim_route(&rt, x1, &a, &run, 0);
    assert_float_equal(pi[0], 0.0f, 0);
    assert_float_equal(w[1] + w[2], 1.0f, 1e-6);
    run.mode = MODE_IDENTITY_ONLY;
    slim_route(&rt, x1, &a, &run, 0);
    assert_float_equal(rt.id_share, 1.0f, 0);
    assert_float_equal(w[1] + w[2], 0.0f, 0);
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
}

static void test_identity_and_off_equal_base(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.2f, 2);
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.r = 4;
    Adapter a;
    adapter_alloc(&a, &m, &sp);
    adapter_init_random(&a, 0.3f, 3);
    SlimRun run;
    slim_run_init(&run, &a, 2);
    float* base = logits_with(&m, NULL, NULL, 12);
    float* with = logits_with(&m, &a, &run, 12);
    double d = 0;
    for (int i = 0; i < 12 * 50; i++) d += fabs(with[i] - base[i]);
    assert_true(d > 1e-3);  // the adapter does something
    run.mode = MODE_OFF;
    float* off = logits_with(&m, &a, &run, 12);
    assert_close_f(off, base, 12 * 50, 0, "mode off");
    run.mode = MODE_IDENTITY_ONLY;
    float* ido = logits_with(&m, &a, &run, 12);
    assert_close_f(ido, base, 12 * 50, 0, "identity-only");
    run.mode = MODE_SLIM;
    run.force[0] = run.force[1] = 1;  // expert 1 is an identity expert
    float* forced = logits_with(&m, &a, &run, 12);
    assert_close_f(forced, base, 12 * 50, 0, "forced identity at every block");
    run.force[0] = run.force[1] = -1;
    run.layer_on[0] = run.layer_on[1] = 0;
    float* layers_off = logits_with(&m, &a, &run, 12);
    assert_close_f(layers_off, base, 12 * 50, 0, "adapter-layers none");
    free(base); free(with); free(off); free(ido); free(forced); free(layers_off);
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
}

static void merge_into(Model* m, const LoraProj* lp, int l, Proj p, int k, float factor) {
    float* W = weight_f32(&m->layers[l].w[p]);
    for (int o = 0; o < lp->out; o++)
        for (int i = 0; i < lp->in; i++) {
            double s = 0;
            for (int j = 0; j < lp->r; j++)
                s += (double)lp->B[(size_t)k * lp->out * lp->r + (size_t)o * lp->r + j] * lp->A[(size_t)k * lp->r * lp->in + (size_t)j * lp->in + i];
            W[(size_t)o * lp->in + i] += (float)(factor * s);
        }
}

static void test_single_expert_equals_merged_model(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m, merged;
    model_init_random(&m, &c, 0.2f, 4);
    model_init_random(&merged, &c, 0.2f, 4);
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.n_id = 0;
    sp.n_lora = 1;
    sp.top_k = 1;
    sp.r = 4;
    sp.lora_alpha = 12;  // s = 3
    Adapter a;
    adapter_alloc(&a, &m, &sp);
    adapter_init_random(&a, 0.2f, 5);
    for (int l = 0; l < 2; l++)
        for (int p = PROJ_GATE; p <= PROJ_DOWN; p++) merge_into(&merged, &a.layers[l].proj[p], l, p, 0, 3.0f);
    SlimRun run;
    slim_run_init(&run, &a, 2);
    float* got = logits_with(&m, &a, &run, 12);
    double* want = malloc(12 * 50 * sizeof(double));
    reference_forward(&merged, TOKS, 12, want);
    assert_close_d(got, want, 12 * 50, 1e-4, "SLIM one expert vs W + (alpha/r) B A");
    free(got);
    free(want);
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
    model_free(&merged);
}

static void test_masked_product_equals_element_masked(void** st) {
    ModelConfig c = reference_config(1, 2, 2);
    Model m;
    model_init_random(&m, &c, 0.2f, 6);
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.n_id = 0;
    sp.n_lora = 2;
    sp.r = 3;
    sp.lora_alpha = 6;
    Adapter a;
    adapter_alloc(&a, &m, &sp);
    adapter_init_random(&a, 0.5f, 7);
    SlimRun run;
    slim_run_init(&run, &a, 1);
    run.mask_ratio = 0.4f;
    run.mask_seed = 99;
    Err err;
    assert_int_equal(slim_run_prepare(&run, &a, &err), 0);
    const LoraProj* lp = &a.layers[0].proj[PROJ_DOWN];
    int in = lp->in, out = lp->out;
    float v[48], y[32] = {0}, w[2] = {0.25f, 0.75f}, scratch[3 + 3 * 48 + 2 * 3 * 48];  // slim_scratch_floats(3, 48)
    int iscr[96];
    Rng r;
    rng_seed(&r, 8);
    for (int i = 0; i < in; i++) v[i] = rng_normal(&r);
    slim_apply_proj(y, v, &a, &run, 0, PROJ_DOWN, w, 0, scratch, iscr);
    // explicit: sum_k w_k s rescale_k (M_k ⊙ B_k A_k) v, with M_k[o][i] = row kept and column kept
    double want[32] = {0};
    for (int k = 0; k < 2; k++) {
        int rows[32], cols[48];
        MaskSet ms = {.rows = rows, .cols = cols};
        mask_build(&ms, out, in, 0.4f, mask_key(99, 0, k, PROJ_DOWN, 0));
        unsigned char rk[32] = {0}, ck[48] = {0};
        for (int i = 0; i < ms.n_row; i++) rk[rows[i]] = 1;
        for (int i = 0; i < ms.n_col; i++) ck[cols[i]] = 1;
        assert_true(fabs(ms.rescale - (double)out * in / (ms.n_row * ms.n_col)) < 1e-6);
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                if (!rk[o] || !ck[i]) continue;
                double ba = 0;
                for (int j = 0; j < 3; j++) ba += (double)lp->B[(size_t)k * out * 3 + o * 3 + j] * lp->A[(size_t)k * 3 * in + j * in + i];
                want[o] += w[k] * 2.0 * ms.rescale * ba * v[i];
            }
    }
    assert_close_d(y, want, out, 1e-5, "row/column masking vs element mask");
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
}

static void test_masked_fraction_and_p0(void** st) {
    int rows[200], cols[300];
    for (int pi = 1; pi <= 9; pi += 2) {
        float p = pi / 10.0f;
        double kept = 0;
        int seeds = 400;
        for (int s = 0; s < seeds; s++) {
            MaskSet m = {.rows = rows, .cols = cols};
            mask_build(&m, 200, 300, p, mask_key(s, 1, 2, 3, 0));
            kept += (double)m.n_row * m.n_col / (200.0 * 300.0);
            for (int i = 1; i < m.n_row; i++) assert_true(rows[i] > rows[i - 1]);
        }
        double masked = 1 - kept / seeds;
        if (fabs(masked - p) > 0.01) fail_msg("p = %g: masked fraction %g", p, masked);
    }
    // p = 0 is the plain adapter: bit-identical to the masked path with everything kept
    ModelConfig c = reference_config(1, 2, 2);
    Model m;
    model_init_random(&m, &c, 0.2f, 9);
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.r = 4;
    Adapter a;
    adapter_alloc(&a, &m, &sp);
    adapter_init_random(&a, 0.3f, 10);
    SlimRun run;
    slim_run_init(&run, &a, 1);
    float* p0 = logits_with(&m, &a, &run, 12);
    run.mask_ratio = 1e-9f;  // q rounds to 1: every row and column kept, rescale exactly 1
    float* tiny = logits_with(&m, &a, &run, 12);
    assert_close_f(p0, tiny, 12 * 50, 0, "p = 0 vs all-kept mask");
    // packed keep-sets (prepared) and masks drawn on the fly give the same bits
    Err err;
    run.mask_ratio = 0.5f;
    assert_int_equal(slim_run_prepare(&run, &a, &err), 0);
    float* packed = logits_with(&m, &a, &run, 12);
    run.cached_p = -1;  // invalidate the cache: masks are drawn during the forward pass
    float* fly = logits_with(&m, &a, &run, 12);
    assert_close_f(packed, fly, 12 * 50, 0, "packed vs on-the-fly masks");
    double moved = 0;
    for (int i = 0; i < 12 * 50; i++) moved += fabs(packed[i] - p0[i]);
    assert_true(moved > 1e-4);  // and masking changes the output
    free(packed);
    free(fly);
    run.mask_ratio = 1.0f;
    assert_int_equal(slim_run_prepare(&run, &a, &err), -1);
    assert_non_null(strstr(err.msg, "outside [0, 1)"));
    free(p0);
    free(tiny);
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
}

static void test_same_seed_same_masks_across_processes(void** st) {
    int rows[64], cols[64], child_rows[64];
    MaskSet m = {.rows = rows, .cols = cols};
    mask_build(&m, 64, 64, 0.5f, mask_key(1234, 3, 4, 5, 6));
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        int r2[64], c2[64];
        MaskSet mm = {.rows = r2, .cols = c2};
        mask_build(&mm, 64, 64, 0.5f, mask_key(1234, 3, 4, 5, 6));
        if (write(fd[1], r2, sizeof r2) != sizeof r2) _exit(1);
        _exit(0);
    }
    assert_int_equal(read(fd[0], child_rows, sizeof child_rows), (ssize_t)sizeof child_rows);
    waitpid(pid, NULL, 0);
    assert_memory_equal(rows, child_rows, m.n_row * sizeof(int));
    // and a different seed draws a different set
    int r3[64], c3[64];
    MaskSet m3 = {.rows = r3, .cols = c3};
    mask_build(&m3, 64, 64, 0.5f, mask_key(1235, 3, 4, 5, 6));
    assert_true(memcmp(rows, r3, m.n_row * sizeof(int)) != 0);
}

// Writes a PEFT LoRA adapter by hand: q_proj and down_proj, rank_pattern for down_proj, rsLoRA.
static void write_peft(const char* dir, const Model* m, float** A, float** B, int L) {
    char path[256];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE* f = fopen(path, "w");
    fprintf(f, "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"down_proj\"],"
               " \"rank_pattern\": {\"down_proj\": 2}, \"alpha_pattern\": {\"model.layers.1.self_attn.q_proj\": 2},"
               " \"use_rslora\": true}");
    fclose(f);
    StWrite w[8];
    char names[8][128];
    int n = 0;
    for (int l = 0; l < L; l++)
        for (int which = 0; which < 2; which++) {
            Proj p = which ? PROJ_DOWN : PROJ_Q;
            int r = which ? 2 : 4;
            const char* grp = which ? "mlp" : "self_attn";
            snprintf(names[n], 128, "base_model.model.model.layers.%d.%s.%s.lora_A.weight", l, grp, PROJ_NAMES[p]);
            w[n] = (StWrite){names[n], DT_F32, 2, {r, m->proj_in[p]}, A[l * 2 + which]};
            n++;
            snprintf(names[n], 128, "base_model.model.model.layers.%d.%s.%s.lora_B.weight", l, grp, PROJ_NAMES[p]);
            w[n] = (StWrite){names[n], DT_F32, 2, {m->proj_out[p], r}, B[l * 2 + which]};
            n++;
        }
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    Err err;
    if (st_write(path, w, n, NULL, &err)) fail_msg("%s", err.msg);
}

static void test_peft_lora_equals_merged(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m, merged;
    model_init_random(&m, &c, 0.2f, 11);
    model_init_random(&merged, &c, 0.2f, 11);
    float *A[4], *B[4];
    Rng r;
    rng_seed(&r, 12);
    for (int l = 0; l < 2; l++)
        for (int which = 0; which < 2; which++) {
            Proj p = which ? PROJ_DOWN : PROJ_Q;
            int rk = which ? 2 : 4;
            A[l * 2 + which] = malloc(rk * m.proj_in[p] * sizeof(float));
            B[l * 2 + which] = malloc(m.proj_out[p] * rk * sizeof(float));
            for (int i = 0; i < rk * m.proj_in[p]; i++) A[l * 2 + which][i] = 0.2f * rng_normal(&r);
            for (int i = 0; i < rk * m.proj_out[p]; i++) B[l * 2 + which][i] = 0.2f * rng_normal(&r);
            // rsLoRA scale alpha / sqrt(r): q_proj 8/2 = 4 (block 1: alpha 2 -> 1), down_proj 8/sqrt(2)
            float s = which ? 8.0f / sqrtf(2.0f) : (l == 1 ? 1.0f : 4.0f);
            LoraProj lp = {rk, m.proj_in[p], m.proj_out[p], s, A[l * 2 + which], B[l * 2 + which]};
            merge_into(&merged, &lp, l, p, 0, s);
        }
    char dir[64];
    test_tmpdir(dir);
    write_peft(dir, &m, A, B, 2);
    Adapter a;
    Err err;
    if (adapter_load(&a, dir, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(a.type, ADAPTER_LORA);
    SlimRun run;
    slim_run_init(&run, &a, 2);
    float* got = logits_with(&m, &a, &run, 12);
    double* want = malloc(12 * 50 * sizeof(double));
    reference_forward(&merged, TOKS, 12, want);
    assert_close_d(got, want, 12 * 50, 1e-4, "PEFT LoRA vs merged");
    free(got);
    free(want);
    for (int i = 0; i < 4; i++) {
        free(A[i]);
        free(B[i]);
    }
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
    model_free(&merged);
    test_rmrf(dir);
}

// rank_pattern and alpha_pattern must be objects of finite numbers (ranks: integers >= 1): an array
// crashed the loader (entries without a key), 1e10 overflowed the int rank, 1e39 became an inf scale.
static void test_peft_pattern_errors(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.2f, 11);
    float *A[4], *B[4];
    for (int i = 0; i < 4; i++) {
        A[i] = calloc(4 * 64, sizeof(float));
        B[i] = calloc(4 * 64, sizeof(float));
    }
    char dir[64], path[128];
    test_tmpdir(dir);
    write_peft(dir, &m, A, B, 2);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    static const struct {
        const char *patterns, *msg;
    } cases[] = {
        {"\"rank_pattern\": [2]", "field 'rank_pattern' must be an object of module names and numbers"},
        {"\"rank_pattern\": {\"down_proj\": 1e10}", "rank for model.layers.0.mlp.down_proj must be an integer >= 1"},
        {"\"rank_pattern\": {\"down_proj\": 1.5}", "rank for model.layers.0.mlp.down_proj must be an integer >= 1"},
        {"\"rank_pattern\": {\"down_proj\": 2}, \"alpha_pattern\": {\"q_proj\": 1e39}", "alpha_pattern entry 'q_proj' must be a finite number"},
        {"\"rank_pattern\": {\"down_proj\": 2}, \"alpha_pattern\": {\"q_proj\": \"2\"}", "alpha_pattern entry 'q_proj' must be a finite number"},
        {"\"rank_pattern\": {\"down_proj\": 2}, \"alpha_pattern\": {\"down_proj\": 2}", NULL},  // and a valid one loads
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE* f = fopen(path, "w");
        fprintf(f, "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"down_proj\"], "
                   "%s}", cases[i].patterns);
        fclose(f);
        Adapter a;
        Err err;
        int rc = adapter_load(&a, dir, &m, &err);
        if (!cases[i].msg) {
            if (rc) fail_msg("%s: %s", cases[i].patterns, err.msg);
            assert_float_equal(a.layers[0].proj[PROJ_DOWN].scale, 1.0f, 0);  // alpha 2 / r 2
            adapter_free(&a);
            continue;
        }
        if (rc == 0) fail_msg("%s: loaded", cases[i].patterns);
        if (!strstr(err.msg, cases[i].msg) || !strstr(err.msg, path)) fail_msg("%s: got '%s'", cases[i].patterns, err.msg);
    }
    for (int i = 0; i < 4; i++) {
        free(A[i]);
        free(B[i]);
    }
    model_free(&m);
    test_rmrf(dir);
}

// Saves a valid SLIM adapter for m into dir (after `edit` changed it) and returns adapter_load's error.
static int load_error(const Model* save_for, const Model* load_for, void (*edit)(Adapter*), const char* cfg_patch,
                      const char* drop, char* msg) {
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.r = 2;
    Adapter a;
    adapter_alloc(&a, save_for, &sp);
    adapter_init_random(&a, 0.1f, 13);
    if (edit) edit(&a);
    char dir[64];
    test_tmpdir(dir);
    Err err;
    if (adapter_save(&a, dir, DT_F32, &err)) fail_msg("%s", err.msg);
    adapter_free(&a);
    if (cfg_patch) {  // rewrite one field of adapter_config.json
        char path[128];
        snprintf(path, sizeof path, "%s/adapter_config.json", dir);
        char* text = read_file_text(path, NULL, &err);
        cJSON* root = cJSON_Parse(text);
        free(text);
        char key[64], sval[64], rest;
        double val;
        for (const char* kv = cfg_patch; kv; kv = strchr(kv, ',') ? strchr(kv, ',') + 1 : NULL) {  // "k=v,k=v"
            sscanf(kv, "%63[^=]=%63[^,]", key, sval);
            cJSON_DeleteItemFromObject(root, key);  // a number when the value reads as one, else a string
            if (sscanf(sval, "%lf%c", &val, &rest) == 1) cJSON_AddNumberToObject(root, key, val);
            else cJSON_AddStringToObject(root, key, sval);
        }
        char* out = cJSON_Print(root);
        write_file_atomic(path, out, strlen(out), &err);
        free(out);
        cJSON_Delete(root);
    }
    if (drop) {  // rewrite the tensors without the one named `drop`
        char path[128];
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
        StFile f;
        if (st_open(&f, path, &err)) fail_msg("%s", err.msg);
        StWrite* w = calloc(f.n, sizeof *w);
        float** bufs = calloc(f.n, sizeof *bufs);
        int n = 0;
        for (int i = 0; i < f.n; i++) {
            if (!strcmp(f.tensors[i].name, drop)) continue;
            bufs[n] = malloc(f.tensors[i].numel * sizeof(float));
            st_to_f32(bufs[n], f.tensors[i].data, f.tensors[i].dtype, f.tensors[i].numel);
            w[n] = (StWrite){f.tensors[i].name, DT_F32, f.tensors[i].ndim, {f.tensors[i].shape[0], f.tensors[i].shape[1]}, bufs[n]};
            n++;
        }
        assert_int_equal(n, f.n - 1);
        if (st_write(path, w, n, NULL, &err)) fail_msg("%s", err.msg);
        for (int i = 0; i < n; i++) free(bufs[i]);
        free(bufs);
        free(w);
        st_close(&f);
    }
    Adapter b;
    int rc = adapter_load(&b, dir, load_for, &err);
    if (rc == 0) adapter_free(&b);
    strcpy(msg, rc ? err.msg : "");
    test_rmrf(dir);
    return rc;
}

static void put_nan(Adapter* a) { a->layers[1].proj[PROJ_UP].B[5] = NAN; }

static void test_adapter_errors(void** st) {
    ModelConfig c = reference_config(2, 4, 2), wide = c, deep = c;
    wide.dim = 64;
    wide.head_dim = 16;
    deep.n_layers = 3;
    Model m, mw, md;
    model_init_random(&m, &c, 0.2f, 14);
    model_init_random(&mw, &wide, 0.2f, 14);
    model_init_random(&md, &deep, 0.2f, 14);
    char msg[1024];
    assert_int_equal(load_error(&mw, &m, NULL, NULL, NULL, msg), -1);
    assert_non_null(strstr(msg, "hidden size 64"));
    assert_int_equal(load_error(&md, &m, NULL, NULL, NULL, msg), -1);
    assert_non_null(strstr(msg, "block 2"));
    assert_int_equal(load_error(&m, &m, NULL, "top_k=11", NULL, msg), -1);
    assert_non_null(strstr(msg, "top_k = 11"));
    assert_int_equal(load_error(&m, &m, NULL, "mask_ratio=1.5", NULL, msg), -1);
    assert_non_null(strstr(msg, "mask_ratio"));
    // ranks and expert counts far beyond the file fail on the first tensor's shape, before the
    // adapter is allocated (1e12 values per block: the allocation used to abort)
    assert_int_equal(load_error(&m, &m, NULL, "r=1000000,num_lora_experts=1000000", NULL, msg), -1);
    assert_non_null(strstr(msg, "router.weight' has shape [10, 32] but E = 1000002 experts x hidden 32 needs [1000002, 32]"));
    const char* gone = "base_model.model.model.layers.1.mlp.up_proj.experts.7.lora_B.weight";
    assert_int_equal(load_error(&m, &m, NULL, NULL, gone, msg), -1);
    assert_non_null(strstr(msg, "missing tensor"));
    assert_non_null(strstr(msg, gone));
    assert_int_equal(load_error(&m, &m, put_nan, NULL, NULL, msg), -1);
    assert_non_null(strstr(msg, "non-finite"));
    assert_non_null(strstr(msg, "adapter_model.safetensors"));
    // the routing keys: names only; "quantile" needs the per-block quantile tensor
    assert_int_equal(load_error(&m, &m, NULL, "distance=euclid", NULL, msg), -1);
    assert_non_null(strstr(msg, "adapter_config.json: field 'distance' must be \"max\" or \"rms\""));
    assert_int_equal(load_error(&m, &m, NULL, "yield_calibration=3", NULL, msg), -1);
    assert_non_null(strstr(msg, "field 'yield_calibration' must be \"none\" or \"quantile\""));
    assert_int_equal(load_error(&m, &m, NULL, "yield_calibration=quantile", NULL, msg), -1);
    assert_non_null(strstr(msg, "missing tensor 'base_model.model.model.layers.0.mlp.clusters.yield_quantiles'"));
    assert_int_equal(load_error(&m, &m, NULL, "distance=rms", NULL, msg), 0);
    assert_int_equal(load_error(&m, &m, NULL, NULL, NULL, msg), 0);  // and the unedited adapter loads
    model_free(&m);
    model_free(&mw);
    model_free(&md);
}

static void test_save_load_round_trip(void** st) {
    ModelConfig c = reference_config(2, 4, 2);
    Model m;
    model_init_random(&m, &c, 0.2f, 15);
    AdapterSpec sp;
    adapter_spec_default(&sp);
    sp.r = 3;
    int layers[1] = {1};
    sp.layers = layers;
    sp.n_layer_list = 1;
    Adapter a, b;
    adapter_alloc(&a, &m, &sp);
    adapter_init_random(&a, 0.3f, 16);
    char dir[64];
    test_tmpdir(dir);
    Err err;
    assert_int_equal(adapter_save(&a, dir, DT_F32, &err), 0);
    if (adapter_load(&b, dir, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(b.layers[0].active, 0);
    assert_int_equal(b.layers[1].active, 1);
    assert_int_equal(b.n_params, a.n_params);
    assert_memory_equal(a.storage, b.storage, a.n_params * sizeof(float));
    adapter_free(&a);
    adapter_free(&b);
    model_free(&m);
    test_rmrf(dir);
}

// One expert numbering: identity experts i0.., LoRA experts 0.. (2 identity + 8 LoRA: index 2 is "0").
static void test_expert_names(void** st) {
    char buf[64];
    assert_string_equal(slim_expert_name(buf, sizeof buf, 2, 0), "i0");
    assert_string_equal(slim_expert_name(buf, sizeof buf, 2, 1), "i1");
    assert_string_equal(slim_expert_name(buf, sizeof buf, 2, 2), "0");
    assert_string_equal(slim_expert_name(buf, sizeof buf, 2, 9), "7");
    assert_string_equal(slim_expert_name(buf, sizeof buf, 0, 0), "0");  // plain LoRA / MoE-LoRA
    assert_int_equal(slim_expert_parse("i0", 2, 10), 0);
    assert_int_equal(slim_expert_parse("i1", 2, 10), 1);
    assert_int_equal(slim_expert_parse("0", 2, 10), 2);
    assert_int_equal(slim_expert_parse("5", 2, 10), 7);
    assert_int_equal(slim_expert_parse("7", 2, 10), 9);
    // names that do not exist or are not names
    const char* bad[] = {"8", "i2", "", "i", "-1", "+1", "1.0", "x", "I0", "i-1", " 1", "1 ", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (slim_expert_parse(bad[i], 2, 10) != -1) fail_msg("'%s' parsed as an expert", bad[i]);
    assert_int_equal(slim_expert_parse("i0", 0, 1), -1);  // no identity experts
    assert_int_equal(slim_expert_parse("0", 0, 1), 0);
    // every name parses back to its index
    for (int e = 0; e < 10; e++) assert_int_equal(slim_expert_parse(slim_expert_name(buf, sizeof buf, 2, e), 2, 10), e);
    assert_string_equal(slim_expert_range(buf, sizeof buf, 2, 10), "LoRA 0..7 or identity i0..i1");
    assert_string_equal(slim_expert_range(buf, sizeof buf, 1, 4), "LoRA 0..2 or identity i0");
    assert_string_equal(slim_expert_range(buf, sizeof buf, 0, 1), "LoRA 0");
    assert_string_equal(slim_expert_range(buf, sizeof buf, 0, 8), "LoRA 0..7");
}

// The two routing choices beyond the paper, by hand on C = 2: the RMS distance and the
// quantile-calibrated yield; then a save / load round trip and the config bytes of each form.
static void test_rms_distance_and_quantile_yield(void** st) {
    Model m;
    AdapterSpec sp;
    Adapter a;
    hand_adapter(&m, &a, &sp, DIST_RMS, YCAL_QUANTILE);
    AdapterLayer* al = &a.layers[0];
    assert_non_null(al->yield_q);
    al->yield_q[0] = 0.5f, al->yield_q[1] = 1.5f;  // q50, q90
    SlimRun run;
    slim_run_init(&run, &a, 1);
    float z[3], zy[3], pi[3], w[3];
    Route rt = {z, zy, pi, w, 0, 0, 0};
    // x = (1, 0.5): nearest centre 0; d = sqrt((1 + 0.25) / 2) = 0.790569 (sigma plays no part)
    float x1[2] = {1.0f, 0.5f};
    slim_route(&rt, x1, &a, &run, 0);
    assert_int_equal(rt.nearest, 0);
    assert_float_equal(rt.dist, 0.7905694, 1e-6);
    // yield = 2 * (0.790569 - 0.5) / (1.5 - 0.5) = 0.581139 on the identity logit z0 = 1
    assert_float_equal(zy[0], 1.5811388, 1e-6);
    assert_float_equal(zy[1], 0.5f, 0);
    assert_float_equal(zy[2], 1.5f, 0);
    // x = (2.5, 4): nearest centre 1; d = sqrt((0.25 + 1) / 2) = 0.790569 as well
    float x2[2] = {2.5f, 4.0f};
    slim_route(&rt, x2, &a, &run, 0);
    assert_int_equal(rt.nearest, 1);
    assert_float_equal(rt.dist, 0.7905694, 1e-6);
    // at d = q50 the yield is 0; identity overtakes a LoRA logit 1 above it at d = 0.5 + 1 * 1 / 2
    YieldMap y = slim_yield_map(&a, 0);
    assert_float_equal(slim_yield(y, 0.5f), 0.0f, 1e-7);
    assert_float_equal(slim_yield_inverse(y, 1.0f), 1.0f, 1e-7);
    // the paper's form: offset 0, span 1
    a.yield_calibration = YCAL_NONE;
    y = slim_yield_map(&a, 0);
    assert_float_equal(slim_yield(y, 0.75f), 1.5f, 1e-7);
    assert_float_equal(slim_yield_inverse(y, 1.0f), 0.5f, 1e-7);
    a.yield_calibration = YCAL_QUANTILE;
    // round trip: the keys and the quantile tensor come back
    char dir[64], path[128];
    test_tmpdir(dir);
    Err err;
    assert_int_equal(adapter_save(&a, dir, DT_F32, &err), 0);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char* text = read_file_text(path, NULL, &err);
    assert_non_null(strstr(text, "\"distance\":\t\"rms\""));
    assert_non_null(strstr(text, "\"yield_calibration\":\t\"quantile\""));
    free(text);
    Adapter b;
    if (adapter_load(&b, dir, &m, &err)) fail_msg("%s", err.msg);
    assert_int_equal(b.distance, DIST_RMS);
    assert_int_equal(b.yield_calibration, YCAL_QUANTILE);
    assert_float_equal(b.layers[0].yield_q[0], 0.5f, 0);
    assert_float_equal(b.layers[0].yield_q[1], 1.5f, 0);
    adapter_free(&b);
    // q50 >= q90 cannot come from the sliding update: a one-line error
    al->yield_q[1] = 0.5f;
    assert_int_equal(adapter_save(&a, dir, DT_F32, &err), 0);
    assert_int_equal(adapter_load(&b, dir, &m, &err), -1);
    assert_non_null(strstr(err.msg, "yield_quantiles' must hold q50 < q90"));
    // the paper's form writes neither key (adapters of earlier builds keep their bytes)
    a.distance = DIST_MAX;
    Adapter p;
    sp.distance = DIST_MAX, sp.yield_calibration = YCAL_NONE;
    adapter_alloc(&p, &m, &sp);
    assert_null(p.layers[0].yield_q);
    assert_int_equal(adapter_save(&p, dir, DT_F32, &err), 0);
    text = read_file_text(path, NULL, &err);
    assert_null(strstr(text, "distance"));
    assert_null(strstr(text, "yield_calibration"));
    free(text);
    adapter_free(&p);
    test_rmrf(dir);
    slim_run_free(&run);
    adapter_free(&a);
    model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing_hand_values),
        cmocka_unit_test(test_identity_and_off_equal_base),
        cmocka_unit_test(test_single_expert_equals_merged_model),
        cmocka_unit_test(test_masked_product_equals_element_masked),
        cmocka_unit_test(test_masked_fraction_and_p0),
        cmocka_unit_test(test_same_seed_same_masks_across_processes),
        cmocka_unit_test(test_peft_lora_equals_merged),
        cmocka_unit_test(test_peft_pattern_errors),
        cmocka_unit_test(test_adapter_errors),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_expert_names),
        cmocka_unit_test(test_rms_distance_and_quantile_yield),
    };
    return cmocka_run_group_tests_name("slim", tests, NULL, NULL);
}

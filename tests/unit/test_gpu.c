// test_gpu.c: every CUDA kernel against its CPU twin, by normalised squared error. Skipped (not
// passed) when slimscope was built without CUDA or no device is present.
#include "testutil.h"

#include "ops.h"
#include "mask.h"
#include "model.h"

#ifdef SLIM_GPU
#include "gpu/gpu.h"

// sum (a - b)^2 / sum b^2
static double nse(const float* a, const float* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (double)(a[i] - b[i]) * (a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? num / den : num;
}

static float* randv(Rng* r, size_t n) {
    float* p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = rng_normal(r);
    return p;
}

static float* dev(const float* h, size_t n) {
    float* d = gpu_alloc(n);
    gpu_upload(d, h, n * sizeof(float));
    return d;
}

static void back(float* h, const float* d, size_t n) {
    gpu_sync();
    gpu_download(h, d, n * sizeof(float));
}

static int setup(void** st) {
    char msg[256];
    if (!gpu_available() || gpu_init(msg, sizeof msg)) return -1;
    return 0;
}

static void test_ops_match_cpu(void** st) {
    if (!gpu_available()) skip();
    Rng r;
    rng_seed(&r, 1);
    int n = 5, in = 96, out = 80, C = 96, Hq = 4, Hkv = 2, D = 16, pos0 = 3;
    // matmul with bias
    float *x = randv(&r, n * in), *w = randv(&r, out * in), *b = randv(&r, out), *y = malloc(n * out * 4), *yg = malloc(n * out * 4);
    linear_forward(y, x, &(Weight){.data = w, .type = WEIGHT_F32, .rows = out, .cols = in}, b, n);
    float *dx = dev(x, n * in), *dw = dev(w, out * in), *db = dev(b, out), *dy = gpu_alloc(n * out);
    gpu_matmul(dy, dx, dw, db, n, in, out);
    back(yg, dy, n * out);
    assert_true(nse(yg, y, n * out) < 1e-10);
    // rmsnorm
    float *nw = randv(&r, C), *o = malloc(n * C * 4), *og = malloc(n * C * 4);
    rmsnorm_forward(o, NULL, x, nw, n, C, 1e-5f);
    float *dnw = dev(nw, C), *dout = gpu_alloc(n * C);
    gpu_rmsnorm(dout, dx, dnw, n, C, 1e-5f);
    back(og, dout, n * C);
    assert_true(nse(og, o, n * C) < 1e-10);
    // rope
    float inv[8];
    ModelConfig c = {0};
    c.head_dim = D;
    c.rope_theta = 10000;
    rope_inv_freq(inv, &c);
    float* q = randv(&r, n * Hq * D);
    float* qg = malloc(n * Hq * D * 4);
    float *dq = dev(q, n * Hq * D), *dinv = dev(inv, 8);
    float cos_t[8 * 8], sin_t[8 * 8];  // positions 0..7 (pos0 + n = 8)
    rope_tables(cos_t, sin_t, inv, 0, pos0 + n, D);
    int pos[5];
    for (int t = 0; t < n; t++) pos[t] = pos0 + t;
    rope_forward(q, q, cos_t, sin_t, pos, n, Hq, D);
    gpu_rope(dq, n, Hq, D, pos0, dinv);
    back(qg, dq, n * Hq * D);
    assert_true(nse(qg, q, n * Hq * D) < 1e-10);
    // attention over a cache of pos0 + n rows
    int rows = pos0 + n;
    float *kc = randv(&r, rows * Hkv * D), *vc = randv(&r, rows * Hkv * D), *att = malloc(rows * 4);
    float *ao = malloc(n * Hq * D * 4), *aog = malloc(n * Hq * D * 4);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < Hq; h++)  // GQA: query head h reads key/value head h / (Hq / Hkv)
            attention_cached_head(ao + (t * Hq + h) * D, q + (t * Hq + h) * D, kc + h / (Hq / Hkv) * D, vc + h / (Hq / Hkv) * D,
                                  pos0 + t + 1, Hkv * D, D, att);
    float *dkc = dev(kc, rows * Hkv * D), *dvc = dev(vc, rows * Hkv * D), *dao = gpu_alloc(n * Hq * D);
    gpu_upload(dq, q, n * Hq * D * 4);
    gpu_attention(dao, dq, dkc, dvc, n, pos0, Hq, Hkv, D);
    back(aog, dao, n * Hq * D);
    assert_true(nse(aog, ao, n * Hq * D) < 1e-10);
    // silu * up
    float *u = randv(&r, n * in), *su = malloc(n * in * 4), *sug = malloc(n * in * 4);
    swiglu_forward(su, x, u, n * in);
    float *du = dev(u, n * in), *dsu = gpu_alloc(n * in);
    gpu_silu_mul(dsu, dx, du, n * in);
    back(sug, dsu, n * in);
    assert_true(nse(sug, su, n * in) < 1e-10);
    gpu_free(dx); gpu_free(dw); gpu_free(db); gpu_free(dy); gpu_free(dnw); gpu_free(dout); gpu_free(dq); gpu_free(dinv);
    gpu_free(dkc); gpu_free(dvc); gpu_free(dao); gpu_free(du); gpu_free(dsu);
    free(x); free(w); free(b); free(y); free(yg); free(nw); free(o); free(og); free(q); free(qg); free(kc); free(vc);
    free(att); free(ao); free(aog); free(u); free(su); free(sug);
}

static void test_masked_lora_matches_cpu(void** st) {
    if (!gpu_available()) skip();
    Rng r;
    rng_seed(&r, 2);
    int in = 64, out = 48, rk = 8;
    int rows[48], cols[64];
    MaskSet m = {0, 0, rows, cols, 0, NULL, NULL};
    mask_build(&m, out, in, 0.5f, mask_key(3, 0, 1, 2, 0));
    float *ap = randv(&r, rk * m.n_col), *bp = randv(&r, m.n_row * rk), *v = randv(&r, in);
    float y[48] = {0}, yg[48], h[8];
    for (int j = 0; j < rk; j++) {  // the CPU form of SLIM.md section 4
        double s = 0;
        for (int c2 = 0; c2 < m.n_col; c2++) s += ap[j * m.n_col + c2] * v[cols[c2]];
        h[j] = (float)s * 0.7f;
    }
    for (int i = 0; i < m.n_row; i++) {
        double s = 0;
        for (int j = 0; j < rk; j++) s += bp[i * rk + j] * h[j];
        y[rows[i]] += (float)s;
    }
    float *dy = gpu_alloc(out), *dv = dev(v, in), *dap = dev(ap, rk * m.n_col), *dbp = dev(bp, m.n_row * rk);
    int *drows = gpu_alloc_int(out), *dcols = gpu_alloc_int(in);
    gpu_upload(drows, rows, m.n_row * sizeof(int));
    gpu_upload(dcols, cols, m.n_col * sizeof(int));
    float zero[48] = {0};
    gpu_upload(dy, zero, sizeof zero);
    gpu_lora_masked(dy, dv, dap, dbp, drows, dcols, m.n_row, m.n_col, rk, 0.7f);
    back(yg, dy, out);
    assert_true(nse(yg, y, out) < 1e-10);
    gpu_free(dy); gpu_free(dv); gpu_free(dap); gpu_free(dbp); gpu_free(drows); gpu_free(dcols);
    free(ap); free(bp); free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_match_cpu),
        cmocka_unit_test(test_masked_lora_matches_cpu),
    };
    if (setup(NULL)) {
        printf("1..1\nok 1 # SKIP no CUDA device: GPU kernels not run\n");
        return 0;
    }
    int rc = cmocka_run_group_tests_name("gpu", tests, NULL, NULL);
    gpu_shutdown();
    return rc;
}
#else
int main(void) {
    printf("1..1\nok 1 # SKIP built without CUDA (GPU=0 or no nvcc)\n");
    return 0;
}
#endif

// backend_cpu.c: the CPU implementation of the backend seam: host memory, core/ops.c for the
// math (matmul in the weight's dtype, RMSNorm, RoPE, cached attention, SiLU gate) and slim.c for
// the routing inputs and the masked LoRA deltas.
#include "backend.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops.h"

static void* cpu_alloc(Backend* be, size_t bytes) { return calloc(1, bytes ? bytes : 1); }
static void cpu_release(Backend* be, void* p) { free(p); }
static void cpu_copy(Backend* be, void* dst, const void* src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_sync(Backend* be) {}
static void cpu_run(Backend* be) {}

static void cpu_embed(Backend* be, float* x, const Weight* table, const int* tokens, int n) {
    embedding_forward(x, tokens, table, n);
}

static void cpu_matmul(Backend* be, float* y, const float* x, const Weight* w, const float* b, int n) {
    linear_forward(y, x, w, b, n);
}

static void cpu_rmsnorm(Backend* be, float* out, const float* x, const float* w, int n, int C, float eps) {
    rmsnorm_forward(out, NULL, x, w, n, C, eps);
}

static void cpu_rope(Backend* be, float* x, const KVCache* kv, int pos, int n, int heads) {
    int p[64];  // rows at consecutive positions, in chunks of 64
    for (int t0 = 0; t0 < n; t0 += 64) {
        int m = n - t0 < 64 ? n - t0 : 64;
        for (int t = 0; t < m; t++) p[t] = pos + t0 + t;
        float* xc = x + (size_t)t0 * heads * kv->head_dim;
        rope_forward(xc, xc, kv->rope_cos, kv->rope_sin, p, m, heads, kv->head_dim);
    }
}

static void cpu_attention(Backend* be, float* out, const float* q, const float* k, const float* v, KVCache* kv, int l,
                          int pos, int n) {
    int D = kv->head_dim, Hq = kv->n_heads, Hkv = kv->n_kv_heads, qd = Hq * D, kvd = Hkv * D;
    size_t cap = kv->cap;
    float *kc = kv->k[l], *vc = kv->v[l];
    for (int t = 0; t < n; t++)
        for (int h = 0; h < Hkv; h++) {
            memcpy(kc + ((size_t)h * cap + pos + t) * D, k + (size_t)t * kvd + (size_t)h * D, D * sizeof(float));
            memcpy(vc + ((size_t)h * cap + pos + t) * D, v + (size_t)t * kvd + (size_t)h * D, D * sizeof(float));
        }
    if (n > 4) {  // prefill: each head's chunk through sgemm, heads split between threads
#pragma omp parallel
        {
            float* S = xmalloc((size_t)n * (pos + n) * sizeof(float));
#pragma omp for schedule(dynamic, 1)
            for (int h = 0; h < Hq; h++) {
                size_t kvh = h / (Hq / Hkv);
                attention_cached_rows(out + (size_t)h * D, qd, q + (size_t)h * D, qd, kc + kvh * cap * D, vc + kvh * cap * D, n,
                                      pos, D, S);
            }
            free(S);
        }
        return;
    }
    // threads only pay off when there is real work: (tokens x heads x context x head size)
    long work = (long)n * Hq * (pos + n) * D;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (work > 200000)
    for (int t = 0; t < n; t++)
        for (int h = 0; h < Hq; h++) {
            int th = omp_get_thread_num();
            float* att = kv->att + (size_t)(th < kv->att_threads ? th : 0) * kv->max_seq;
            size_t kvh = h / (Hq / Hkv);  // GQA: the key/value head of query head h
            // causal: position pos + t sees cache rows 0..pos + t
            attention_cached_head(out + (size_t)t * qd + (size_t)h * D, q + (size_t)t * qd + (size_t)h * D,
                                  kc + kvh * cap * D, vc + kvh * cap * D, pos + t + 1, D, D, att);
        }
}

static void cpu_silu_mul(Backend* be, float* out, const float* gate, const float* up, size_t n) {
    swiglu_forward(out, gate, up, n);
}

static void cpu_add(Backend* be, float* x, const float* y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static void cpu_lora_delta(Backend* be, float* y, const float* v, int n, const LoraCall* c, float* rel) {
    const LoraProj* lp = &c->a->layers[c->layer].proj[c->proj];
    int in = lp->in, out = lp->out, E = c->a->n_experts;
#pragma omp parallel for schedule(static) if (n > 4)
    for (int t = 0; t < n; t++) {
        int th = c->slot + omp_get_thread_num();  // scratch slot: callers running in parallel pass their own
        float* yt = y + (size_t)t * out;
        double base2 = 0;
        if (rel)
            for (int i = 0; i < out; i++) base2 += (double)yt[i] * yt[i];
        float d2 = slim_apply_proj(yt, v + (size_t)t * in, c->a, c->run, c->layer, c->proj, c->wts ? c->wts + (size_t)t * E : NULL,
                                   c->pos + t, c->scratch + th * c->scratch_stride, c->iscratch + th * c->iscratch_stride);
        if (rel) rel[t] = base2 > 0 ? sqrtf(d2 / base2) : 0;
    }
}

static void cpu_route_measure(Backend* be, float* z, int* nearest, float* dist, const float* x, int n, const Adapter* a, int l) {
    int E = a->n_experts, C = a->dim;
#pragma omp parallel for schedule(static) if (n > 4)
    for (int t = 0; t < n; t++) slim_route_measure(z + (size_t)t * E, nearest + t, dist + t, x + (size_t)t * C, a, l);
}

static const char* cpu_error(Backend* be) { return NULL; }

static const BackendOps CPU_OPS = {
    .alloc = cpu_alloc, .release = cpu_release, .upload = cpu_copy, .download = cpu_copy, .copy = cpu_copy,
    .sync = cpu_sync, .run_begin = cpu_run, .run_end = cpu_run,
    .embed = cpu_embed, .matmul = cpu_matmul, .rmsnorm = cpu_rmsnorm, .rope = cpu_rope, .attention = cpu_attention,
    .silu_mul = cpu_silu_mul, .add = cpu_add, .route_measure = cpu_route_measure, .lora_delta = cpu_lora_delta,
    .error = cpu_error,
};

Backend* backend_cpu(void) {
    static Backend cpu = {&CPU_OPS, NULL, "cpu", "CPU (OpenBLAS + OpenMP)", 1};
    return &cpu;
}

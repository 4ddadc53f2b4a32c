// bench_engine.c: `slimscope bench`'s engine table. The limits are measured by the bench itself
// (streaming-read bandwidth, sgemm and BF16-GEMM peaks), then decode and prefill of several model
// shapes are set against them: decode against the roofline (weight bytes per token / bandwidth),
// prefill against the GEMM peak. Random checkpoints of the 110M / 1B / 8B shapes are written once
// into a cache directory and reused. Every figure is a median after warm-up. Also the training
// table (train_bench).
#include "bench.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "forward.h"
#include "rng.h"
#include "sampler.h"
#include "train.h"

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

double bench_median(double* v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Peak resident set: reset before a row (Linux: 5 > /proc/self/clear_refs), read after it.
void bench_rss_reset(void) {
    FILE* f = fopen("/proc/self/clear_refs", "w");
    if (f) fputs("5", f), fclose(f);
}

double bench_rss_peak_mb(void) {
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024;
}

// ---------------------------------------------------------------------------------------------
// the limits

// Sum of buf[lo, hi) with four independent vector accumulators: bound by memory, not by adds.
__attribute__((target("avx512f"))) static uint64_t sum_avx512(const uint64_t* buf, size_t lo, size_t hi) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = lo; i < hi; i += 32) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(buf + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(buf + i + 8));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(buf + i + 16));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(buf + i + 24));
    }
    return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t* buf, size_t lo, size_t hi) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = lo; i < hi; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const void*)(buf + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const void*)(buf + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const void*)(buf + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const void*)(buf + i + 12)));
    }
    uint64_t v[4];
    _mm256_storeu_si256((void*)v, _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    return v[0] + v[1] + v[2] + v[3];
}

static uint64_t sum_plain(const uint64_t* buf, size_t lo, size_t hi) {
    uint64_t a[4] = {0};
    for (size_t i = lo; i < hi; i += 4)
        for (int k = 0; k < 4; k++) a[k] += buf[i + k];
    return a[0] + a[1] + a[2] + a[3];
}

// Streaming read of 1 GiB, each thread its contiguous share, as the matrix kernels read weights.
double bench_read_bandwidth_gbs(void) {
    cpu_features_detect();
    size_t n = (size_t)1 << 27;  // uint64s
    uint64_t* buf = aligned_alloc(64, n * sizeof *buf);
    if (!buf) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i * 0x9E3779B97F4A7C15ull;
    double t[7];
    volatile uint64_t sink = 0;
    for (int r = 0; r < 8; r++) {
        double t0 = now_seconds();
        uint64_t acc = 0;
#pragma omp parallel reduction(+ : acc)
        {
            size_t nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t lo = n / nt / 32 * 32 * id, hi = id + 1 == nt ? n : n / nt / 32 * 32 * (id + 1);
            acc += g_cpu.avx512f ? sum_avx512(buf, lo, hi) : g_cpu.avx2 ? sum_avx2(buf, lo, hi) : sum_plain(buf, lo, hi);
        }
        sink += acc;
        if (r) t[r - 1] = now_seconds() - t0;  // round 0 is the warm-up
    }
    free(buf);
    return n * sizeof(uint64_t) / bench_median(t, 7) / 1e9;
}

// GFLOP/s of y (512, 2048) = x W^T with W (2048, 2048) of type t, through matmul().
double bench_gemm_gflops(WeightType t) {
    int n = 512, in = 2048, out = 2048;
    float* x = xmalloc((size_t)n * in * sizeof(float));
    float* y = xmalloc((size_t)n * out * sizeof(float));
    float* wf = xmalloc((size_t)in * out * sizeof(float));
    uint16_t* wh = xmalloc((size_t)in * out * sizeof(uint16_t));
    for (size_t i = 0; i < (size_t)n * in; i++) x[i] = (float)((i * 37) % 101) / 101 - 0.5f;
    for (size_t i = 0; i < (size_t)in * out; i++) {
        wf[i] = (float)((i * 53) % 97) / 97 - 0.5f;
        wh[i] = f32_to_bf16(wf[i]);
    }
    Weight w = {.data = t == WEIGHT_F32 ? (void*)wf : (void*)wh, .type = t, .rows = out, .cols = in};
    double s[5];
    for (int r = 0; r < 6; r++) {
        double t0 = now_seconds();
        matmul(y, x, &w, NULL, n);
        if (r) s[r - 1] = now_seconds() - t0;
    }
    free(x), free(y), free(wf), free(wh);
    return 2.0 * n * in * out / bench_median(s, 5) / 1e9;
}

// ---------------------------------------------------------------------------------------------
// model shapes

static ModelConfig shape(int dim, int layers, int heads, int kv_heads, int mlp, int vocab, int tied) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_LLAMA;
    c.dim = dim, c.n_layers = layers, c.n_heads = heads, c.n_kv_heads = kv_heads, c.hidden_dim = mlp;
    c.head_dim = dim / heads, c.vocab_size = vocab, c.tie_embeddings = tied;
    c.max_seq_len = 4096, c.norm_eps = 1e-5f, c.rope_theta = 500000;
    c.bos_id = 1, c.eos_id = 2;
    return c;
}

ModelConfig bench_shape_110m(void) { return shape(768, 12, 12, 12, 2048, 32000, 0); }
ModelConfig bench_shape_1b(void) { return shape(2048, 16, 32, 8, 8192, 128256, 1); }
ModelConfig bench_shape_8b(void) { return shape(4096, 32, 32, 8, 14336, 128256, 0); }

// <cache>/<name>: written on first use (random weights, std 0.02), reused afterwards.
int bench_checkpoint(char* dir, size_t n, const char* name, const ModelConfig* c, DType dt, Err* err) {
    const char* base = getenv("SLIMSCOPE_BENCH_CACHE");
    char def[4096];
    if (!base) {
        const char* xdg = getenv("XDG_CACHE_HOME");
        const char* home = getenv("HOME");
        if (xdg) snprintf(def, sizeof def, "%s/slimscope/bench", xdg);
        else snprintf(def, sizeof def, "%s/.cache/slimscope/bench", home ? home : "/tmp");
        base = def;
    }
    snprintf(dir, n, "%s/%s", base, name);
    char done[4200];
    snprintf(done, sizeof done, "%s/model.safetensors", dir);
    if (file_exists(done)) return 0;
    size_t bytes = config_param_count(c) * dtype_size(dt);
    fprintf(stderr, "bench: writing %s (%.1f GB of random %s weights, once) ...\n", dir, bytes / 1e9, dtype_name(dt));
    return model_write_random(c, dir, dt, 0.02f, 1, err);
}

// Bytes of weights one decoded token streams: every matrix but the embedding (one row is read).
size_t bench_bytes_per_token(const Model* m) {
    size_t b = weight_bytes(&m->lm_head);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) b += weight_bytes(&m->layers[l].w[p]);
    return b;
}

// Decodes after a prompt of `ctx` tokens: median seconds per token over `n` tokens after 3 warm-up
// tokens. a/run may be NULL (base model); tr may be NULL.
double bench_decode_seconds(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, Trace* tr, int ctx, int n) {
    int V = m->cfg.vocab_size;
    int* prompt = xmalloc(ctx * sizeof(int));
    for (int i = 0; i < ctx; i++) prompt[i] = (i * 131 + 7) % V;
    float* logits = xmalloc(V * sizeof(float));
    Err err;
    if (tr) trace_reset(tr);
    if (forward(m, a, run, s, prompt, ctx, 0, logits, 0, tr, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    double* t = xmalloc(n * sizeof(double));
    for (int i = 0; i < n + 3; i++) {
        int next = argmax(logits, V);
        double t0 = now_seconds();
        if (forward(m, a, run, s, &next, 1, ctx + i, logits, 0, tr, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            exit(1);
        }
        if (i >= 3) t[i - 3] = now_seconds() - t0;
    }
    double med = bench_median(t, n);
    free(t), free(prompt), free(logits);
    return med;
}

// Median seconds of a prefill of n tokens (after one warm-up run), and its FLOPs.
double bench_prefill_seconds(const Model* m, RunState* s, int n, int rounds, double* flops) {
    const ModelConfig* c = &m->cfg;
    int* toks = xmalloc(n * sizeof(int));
    for (int i = 0; i < n; i++) toks[i] = (i * 131 + 7) % c->vocab_size;
    float* logits = xmalloc(c->vocab_size * sizeof(float));
    double* t = xmalloc(rounds * sizeof(double));
    Err err;
    for (int r = 0; r <= rounds; r++) {
        double t0 = now_seconds();
        if (forward(m, NULL, NULL, s, toks, n, 0, logits, 0, NULL, &err)) {
            fprintf(stderr, "bench: %s\n", err.msg);
            exit(1);
        }
        if (r) t[r - 1] = now_seconds() - t0;
    }
    // matrices: 2 FLOPs per weight per token (lm_head once); attention: QK^T and AV over the causal prefix
    double mat = 0;
    for (int p = 0; p < PROJ_COUNT; p++) mat += (double)m->proj_in[p] * m->proj_out[p];
    *flops = 2.0 * mat * c->n_layers * n + 2.0 * c->dim * c->vocab_size +
             4.0 * c->n_layers * c->n_heads * c->head_dim * (double)n * (n + 1) / 2;
    double med = bench_median(t, rounds);
    free(toks), free(logits), free(t);
    return med;
}

// ---------------------------------------------------------------------------------------------
// training throughput (the demo's shapes)

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench_batch(Batch* b, int B, int T, int V, Rng* r) {
    b->B = B, b->T = T, b->lens = NULL;
    b->tokens = xmalloc((size_t)B * T * sizeof(int));
    b->targets = xmalloc((size_t)B * T * sizeof(int));
    for (int i = 0; i < B * T; i++) b->tokens[i] = (int)(rng_u64(r) % V);
    for (int i = 0; i < B * T; i++) b->targets[i] = i % T == T - 1 ? (int)(rng_u64(r) % V) : b->tokens[i + 1];
}

static void bench_run(const char* label, Model* m, Adapter* a, TrainConfig* tc, int steps) {
    Trainer t;
    Err err;
    if (trainer_init(&t, m, a, tc, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return;
    }
    Rng r;
    rng_seed(&r, 1);
    Batch b;
    bench_batch(&b, tc->batch, tc->seq_len, m->cfg.vocab_size, &r);
    StepStats st;
    trainer_step(&t, &b, 1, &st);  // warm-up (page faults, thread start)
    train_matmul_seconds(1);
    train_attention_seconds(1);
    t.stat_total_s = 0;
    double t0 = now_seconds(), c0 = cpu_seconds();
    for (int i = 0; i < steps; i++) trainer_step(&t, &b, 1, &st);
    double dt = now_seconds() - t0, cpu = cpu_seconds() - c0;
    double mm = train_matmul_seconds(1), att = train_attention_seconds(1);
    double tok = (double)steps * tc->batch * tc->seq_len;
    // cores busy = cpu / wall: below the thread count when other processes share the cores
    printf("  %-8s %6.0f tokens/s  step %.3f s  matmul %4.1f%%  attention %4.1f%%  other %4.1f%%  cores busy %.1f  "
           "trainable %zu\n",
           label, tok / dt, dt / steps, 100 * mm / dt, 100 * att / dt, 100 * (dt - mm - att) / dt, cpu / dt, t.n_params);
    free(b.tokens);
    free(b.targets);
    trainer_free(&t);
}

void train_bench(void) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_LLAMA;
    // the demo's base model (tools/demo/model.json): 5.4M parameters
    c.dim = 256, c.hidden_dim = 688, c.n_layers = 6, c.n_heads = 8, c.n_kv_heads = 4, c.head_dim = 32;
    c.vocab_size = 4096, c.max_seq_len = 256, c.norm_eps = 1e-5f, c.rope_theta = 10000, c.tie_embeddings = 1;
    c.bos_id = c.eos_id = -1;
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "float32");
    Model m;
    model_init_random(&m, &c, 0.02f, 1);
    int threads = ops_get_threads();
    printf("training bench: Llama %d layers, hidden %d, mlp %d, heads %d/%d, vocab %d: %.2fM parameters; "
           "batch 16 x 256 tokens, %d threads\n",
           c.n_layers, c.dim, c.hidden_dim, c.n_heads, c.n_kv_heads, c.vocab_size, m.n_params / 1e6, threads);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = 16, tc.seq_len = 256;
    bench_run("pretrain", &m, NULL, &tc, 3);
    const char* names[] = {"lora", "moelora", "slim"};
    for (int k = 0; k < 3; k++) {
        AdapterSpec s;
        adapter_spec_default(&s);
        s.r = 4, s.lora_alpha = 8;  // the demo's adapters (tools/demo/recipe.sh)
        if (k == 0) s.type = ADAPTER_LORA, s.r = 32, s.lora_alpha = 64;
        if (k == 1) s.n_id = 0, s.yield_scale = 0;
        Adapter a;
        adapter_alloc(&a, &m, &s);
        trainer_init_adapter(&a, 1);
        TrainConfig ft;
        train_config_default(&ft, (TrainMethod)(TRAIN_LORA + k));
        ft.batch = 16, ft.seq_len = 64;  // short prompt/response examples
        bench_run(names[k], &m, &a, &ft, 5);
        adapter_free(&a);
    }
    model_free(&m);
}

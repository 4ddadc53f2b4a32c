// cmd_bench.c: `slimscope bench`: one table measured in one run. The machine's limits first
// (bandwidth, GEMM peaks), then decode against its roofline and prefill against the GEMM peak for
// the demo and the 110M / 1B / 8B shapes, SLIM and masking and the trace as ratios to the base
// model, decode at growing context, then training throughput and the TUI's refresh time. With a
// usable CUDA device, the same decode, prefill and SLIM rows on it against its measured bandwidth.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "bench.h"
#include "commands.h"
#include "device.h"
#include "forward.h"
#include "session.h"
#include "train.h"
#include "sampler.h"
#include "views/tui.h"
#include "worker.h"

typedef struct {
    Backend* be;       // where the rows run
    double bandwidth;  // GB/s
    double sgemm;      // GFLOP/s (0: not measured on this backend)
} Limits;

static int load(Model* m, const char* dir, WeightsMode mode) {
    Err err;
    if (model_load_as(m, dir, mode, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int cached(char* dir, size_t n, const char* name, ModelConfig c, DType dt) {
    Err err;
    if (bench_checkpoint(dir, n, name, &c, dt, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return -1;
    }
    return 0;
}

// One decode row: load, decode at context 16, roofline from the bytes streamed per token.
static void decode_row(const char* label, const char* dir, WeightsMode mode, const Limits* lim) {
    bench_rss_reset();
    Model m;
    if (load(&m, dir, mode)) return;
    RunState s;
    Err err;
    if (runstate_init_on(&s, lim->be, &m, NULL, 256, 64, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        model_free(&m);
        return;
    }
    int n = lim->be->host_memory ? (m.cfg.dim >= 4096 ? 8 : m.cfg.dim >= 2048 ? 16 : 32) : 32;
    double sec = bench_decode_seconds(&m, NULL, NULL, &s, NULL, 16, n);
    double mb = bench_bytes_per_token(&m) / 1e6, roof = lim->bandwidth * 1e3 / mb;
    printf("  %-14s %-5s %9.1f %11.1f %11.1f %8.0f%% %9.0f\n", label, weight_type_name(m.layers[0].w[PROJ_Q].type), mb, roof,
           1 / sec, 100 / sec / roof, bench_rss_peak_mb());
    runstate_free(&s);
    model_free(&m);
}

static void prefill_row(const char* label, const char* dir, WeightsMode mode, const Limits* lim) {
    Model m;
    if (load(&m, dir, mode)) return;
    RunState s;
    Err err;
    if (runstate_init_on(&s, lim->be, &m, NULL, 512, 0, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        model_free(&m);
        return;
    }
    double flops, sec = bench_prefill_seconds(&m, &s, 512, m.cfg.dim >= 2048 && lim->be->host_memory ? 1 : 3, &flops);
    char of_peak[16] = "       -";
    if (lim->sgemm > 0) snprintf(of_peak, sizeof of_peak, "%9.0f%%", 100 * flops / sec / 1e9 / lim->sgemm);
    printf("  %-14s %-5s %10.1f %10.1f %s\n", label, weight_type_name(m.layers[0].w[PROJ_Q].type), 512 / sec,
           flops / sec / 1e9, of_peak);
    runstate_free(&s);
    model_free(&m);
}

// SLIM (E = 10, 2 identity, r 16, top 2, gate/up/down; clusters wide enough that LoRA experts win)
// on a BF16 shape: masking ratios and the trace, interleaved per round, as ratios to base.
static void slim_rows(const char* dir, Backend* be) {
    Model m;
    if (load(&m, dir, WEIGHTS_NATIVE)) return;
    AdapterSpec sp;
    adapter_spec_default(&sp);
    Adapter a;
    adapter_alloc(&a, &m, &sp);
    adapter_init_random(&a, 0.02f, 2);
    for (int l = 0; l < a.n_layers; l++)
        for (int i = 0; i < a.n_clusters * a.dim; i++) a.layers[l].sigma[i] = 100.0f;  // d < 0: LoRA experts win
    enum { NV = 6 };
    const char* names[NV] = {"base", "SLIM p = 0", "SLIM p = 0.3", "SLIM p = 0.6", "SLIM p = 0.9", "SLIM p = 0 + trace"};
    float ps[NV] = {0, 0, 0.3f, 0.6f, 0.9f, 0};
    SlimRun runs[NV];
    Err err;
    for (int v = 0; v < NV; v++) {
        slim_run_init(&runs[v], &a, m.cfg.n_layers);
        runs[v].mask_ratio = ps[v];
        slim_run_prepare(&runs[v], &a, &err);
    }
    Trace tr;
    trace_init(&tr, m.cfg.n_layers, a.n_experts, a.n_id, 64);
    RunState s;
    if (runstate_init_on(&s, be, &m, &a, 256, 64, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return;
    }
    enum { ROUNDS = 5 };
    double t[NV][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int v = 0; v < NV; v++)
            t[v][r] = bench_decode_seconds(&m, v ? &a : NULL, v ? &runs[v] : NULL, &s, v == NV - 1 ? &tr : NULL, 16, 16);
    double med[NV];
    for (int v = 0; v < NV; v++) med[v] = bench_median(t[v], ROUNDS);
    for (int v = 0; v < NV; v++)
        printf("  %-20s %10.1f %10.2f %10.3fx\n", names[v], 1 / med[v], 1e3 * med[v], med[v] / med[0]);
    printf("  SLIM over base %+.1f%% (target <= 10%%); p = 0.6 vs p = 0: %.3fx the time (target <= 1); trace %+.1f%% (target <= 3%%)\n",
           100 * (med[1] / med[0] - 1), med[3] / med[1], 100 * (med[5] / med[1] - 1));
    runstate_free(&s);
    trace_free(&tr);
    for (int v = 0; v < NV; v++) slim_run_free(&runs[v]);
    adapter_free(&a);
    model_free(&m);
}

static void context_rows(const char* dir) {
    Model m;
    if (load(&m, dir, WEIGHTS_NATIVE)) return;
    RunState s;
    Err err;
    if (runstate_init(&s, &m, NULL, 2100, 64, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return;
    }
    int ctx[3] = {64, 512, 2048};
    double sec[3];
    for (int k = 0; k < 3; k++) sec[k] = bench_decode_seconds(&m, NULL, NULL, &s, NULL, ctx[k], 16);
    for (int k = 0; k < 3; k++) printf("  context %-6d %10.1f tokens/s %8.3fx the time at 64\n", ctx[k], 1 / sec[k], sec[k] / sec[0]);
    runstate_free(&s);
    model_free(&m);
}

static void engine_tables(int quick) {
    cpu_features_detect();
    Limits lim;
    lim.be = backend_cpu();
    lim.bandwidth = bench_read_bandwidth_gbs();
    lim.sgemm = bench_gemm_gflops(WEIGHT_F32);
    double bf16 = bench_gemm_gflops(WEIGHT_BF16);
    printf("engine: %d threads; CPU: %s%s%s\n", ops_get_threads(), g_cpu.avx512bf16 ? "avx512-bf16 " : "",
           g_cpu.avx512f ? "avx512f " : "", g_cpu.avx2 ? "avx2" : "");
    printf("\nlimits (medians after warm-up)\n");
    printf("  streaming read bandwidth (1 GiB)       %8.1f GB/s\n", lim.bandwidth);
    printf("  sgemm peak (512 x 2048 x 2048)         %8.1f GFLOP/s\n", lim.sgemm);
    printf("  BF16 GEMM, widened tiles + sgemm       %8.1f GFLOP/s  (%.2fx sgemm)\n", bf16, bf16 / lim.sgemm);

    char d110f[4096], d110b[4096], d1b[4096], d8b[4096];
    int have110 = cached(d110f, sizeof d110f, "110m-f32", bench_shape_110m(), DT_F32) == 0 &&
                  cached(d110b, sizeof d110b, "110m-bf16", bench_shape_110m(), DT_BF16) == 0;
    int have1b = !quick && cached(d1b, sizeof d1b, "1b-bf16", bench_shape_1b(), DT_BF16) == 0;
    int have8b = !quick && cached(d8b, sizeof d8b, "8b-bf16", bench_shape_8b(), DT_BF16) == 0;

    printf("\ndecode at context 16 (median of 8-32 tokens after 3 warm-up); roofline = bandwidth / bytes per token\n");
    printf("  %-14s %-5s %9s %11s %11s %9s %9s\n", "model", "dtype", "MB/token", "roofline/s", "tokens/s", "achieved", "RSS MB");
    if (file_exists("models/demo/base/config.json")) decode_row("demo 5.4M", "models/demo/base", WEIGHTS_NATIVE, &lim);
    if (have110) {
        decode_row("110M", d110f, WEIGHTS_NATIVE, &lim);
        decode_row("110M", d110b, WEIGHTS_NATIVE, &lim);
    }
    if (have1b) {
        decode_row("1B", d1b, WEIGHTS_NATIVE, &lim);
        decode_row("1B", d1b, WEIGHTS_Q8, &lim);
    }
    if (have8b) decode_row("8B", d8b, WEIGHTS_NATIVE, &lim);

    printf("\nprefill of a 512-token prompt (median after warm-up); FLOPs: 2 per weight per token + attention\n");
    printf("  %-14s %-5s %10s %10s %10s\n", "model", "dtype", "tokens/s", "GFLOP/s", "of sgemm");
    if (have110) {
        prefill_row("110M", d110f, WEIGHTS_NATIVE, &lim);
        prefill_row("110M", d110b, WEIGHTS_NATIVE, &lim);
    }
    if (have1b) prefill_row("1B", d1b, WEIGHTS_NATIVE, &lim);

    if (have110) {
        printf("\nSLIM on the 110M BF16 shape: E = 10 (2 identity), r 16, top 2, gate/up/down; medians of 5 interleaved rounds\n");
        printf("  %-20s %10s %10s %11s\n", "variant", "tokens/s", "ms/token", "time/base");
        slim_rows(d110b, backend_cpu());
        printf("\ndecode at growing context (110M BF16)\n");
        context_rows(d110b);
    }
}

// The GPU rows: decode against the roofline of the device's measured copy bandwidth (HBM), prefill,
// and SLIM against base, for the 1B and 8B BF16 shapes (110M with --quick).
static void gpu_tables(int quick) {
    char why[1024];
    Backend* be = backend_cuda(why, sizeof why);
    printf("\nGPU: ");
    if (!be) {
        printf("no rows (%s)\n", why);
        return;
    }
    Limits lim = {be, backend_cuda_bandwidth_gbs(), 0};
    printf("cuda, %s; device-to-device copy bandwidth %.0f GB/s (read + write), the roofline below\n", be->device, lim.bandwidth);
    char d110b[4096], d1b[4096], d8b[4096];
    int have110 = cached(d110b, sizeof d110b, "110m-bf16", bench_shape_110m(), DT_BF16) == 0;
    int have1b = !quick && cached(d1b, sizeof d1b, "1b-bf16", bench_shape_1b(), DT_BF16) == 0;
    int have8b = !quick && cached(d8b, sizeof d8b, "8b-bf16", bench_shape_8b(), DT_BF16) == 0;
    printf("\nGPU decode at context 16 (median of 32 tokens after 3 warm-up); achieved = of the HBM roofline\n");
    printf("  %-14s %-5s %9s %11s %11s %9s %9s\n", "model", "dtype", "MB/token", "roofline/s", "tokens/s", "achieved", "RSS MB");
    if (have110) decode_row("110M", d110b, WEIGHTS_NATIVE, &lim);
    if (have1b) decode_row("1B", d1b, WEIGHTS_NATIVE, &lim);
    if (have8b) decode_row("8B", d8b, WEIGHTS_NATIVE, &lim);
    printf("\nGPU prefill of a 512-token prompt (median of 3 after warm-up)\n");
    printf("  %-14s %-5s %10s %10s %10s\n", "model", "dtype", "tokens/s", "GFLOP/s", "of peak");
    if (have110) prefill_row("110M", d110b, WEIGHTS_NATIVE, &lim);
    if (have1b) prefill_row("1B", d1b, WEIGHTS_NATIVE, &lim);
    if (have8b) prefill_row("8B", d8b, WEIGHTS_NATIVE, &lim);
    const char* slim_dir = have8b ? d8b : have1b ? d1b : have110 ? d110b : NULL;
    if (slim_dir) {
        printf("\nGPU SLIM on the %s BF16 shape: E = 10 (2 identity), r 16, top 2, gate/up/down; medians of 5 interleaved rounds\n",
               have8b ? "8B" : have1b ? "1B" : "110M");
        printf("  %-20s %10s %10s %11s\n", "variant", "tokens/s", "ms/token", "time/base");
        slim_rows(slim_dir, be);
    }
}

// `generate`'s loop (untraced feed, greedy) on the session: tokens/s over the new tokens.
static double generate_rate(Session* s, const int* ids, int n_ids, int n) {
    Err err;
    session_reset(s);
    s->untraced = 1;
    if (session_feed(s, ids, n_ids, &err)) return -1;
    Sampler sm;
    sampler_init(&sm, s->model.cfg.vocab_size, 0, 1, 0);
    Generation g;
    session_generation(s, &g, &sm, n, GEN_EMIT_EOS);  // generate's flags
    int produced;
    double t0 = now_seconds();
    generation_run(&g, &produced, &err);
    double dt = now_seconds() - t0;
    sampler_free(&sm);
    s->untraced = 0;
    return produced > 1 ? (produced - 1) / dt : 0;  // the last token is not fed: as generate reports
}

// The TUI's worker on the same session and prompt: traced feed and snapshot published at every
// token, the screen drawn at the terminal loop's frame rate; the rate the status bar shows.
static double tui_rate(Session* s, const char* prompt, int n) {
    session_reset(s);
    Tui* t = tui_new(s, 1, 40, 160);
    double rate = -1;
    if (worker_wait_idle(t->w, 300)) goto done;
    t->ui.n_new = n;
    t->ui.temp = 0;
    tui_submit_line(t, prompt);
    double last = 0;
    for (;;) {
        const Snapshot* sn = worker_lock(t->w);
        unsigned long v = sn->version;
        worker_unlock(t->w);
        if (now_seconds() - last >= TUI_FRAME_SECONDS) {
            tui_render(t);
            last = now_seconds();
        }
        if (worker_idle(t->w)) break;
        worker_wait_version(t->w, v, 60);
    }
    const Snapshot* sn = worker_lock(t->w);
    rate = sn->tok_per_s;
    worker_unlock(t->w);
done:
    tui_free(t);
    return rate;
}

// TUI decode against generate, interleaved rounds, medians (the target: >= 90%).
static void tui_decode_row(const char* label, const char* model, const char* adapter, const char* prompt) {
    Settings st;
    settings_defaults(&st, "bench");
    st.model_dir = model;
    st.adapter_dir = adapter;
    Session s;
    Err err;
    if (session_open(&s, &st, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return;
    }
    int *ids = NULL, n_ids = 0;
    if (s.has_tok ? session_encode(&s, prompt, 1, &ids, &n_ids, &err) : 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        session_close(&s);
        return;
    }
    if (!s.has_tok) {  // the TUI reads ids typed as "1 2 3"
        ids = xmalloc(4 * sizeof(int));
        for (n_ids = 0; n_ids < 4; n_ids++) ids[n_ids] = atoi(prompt + 2 * n_ids);
    }
    enum { ROUNDS = 3, N = 48 };
    double g[ROUNDS], u[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        g[r] = generate_rate(&s, ids, n_ids, N);
        u[r] = tui_rate(&s, prompt, N);
    }
    double gm = bench_median(g, ROUNDS), um = bench_median(u, ROUNDS);
    printf("  %-28s %10.1f %10.1f %9.0f%%\n", label, gm, um, 100 * um / gm);
    free(ids);
    session_close(&s);
}

// ---------------------------------------------------------------------------------------------
// the TUI: a change of p until the masking panel is redrawn

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

double tui_bench_p_change_ms(Session* s, int reps) {
    if (!s->has_adapter || reps < 1) return -1;
    Err err;
    if (s->n_tokens == 0) {  // a prompt plus continuation's worth: 64 ids spread over the vocabulary
        int V = s->model.cfg.vocab_size, n = s->rs.max_seq < 64 ? s->rs.max_seq : 64, ids[64];
        for (int i = 0; i < n; i++) ids[i] = (int)((i * 7919L + 3) % V);
        if (session_feed(s, ids, n, &err)) return -1;
    }
    float p_orig = s->run.mask_ratio;
    Tui* t = tui_new(s, 1, 40, 160);
    screen_set_focus(&t->scr, V_MASKING);
    double* ms = xmalloc(reps * sizeof(double));
    double result = -1;
    if (worker_wait_idle(t->w, 300)) goto done;  // first comparison and the sweep
    for (int r = 0; r < reps; r++) {
        int key = t->ui.p + 0.05f <= 0.9f ? ']' : '[';
        if (r % 10 >= 5 && t->ui.p >= 0.05f) key = '[';
        double t0 = now_seconds();
        tui_key(t, key);
        for (;;) {  // until the snapshot holds the comparison at the new p
            const Snapshot* sn = worker_lock(t->w);
            unsigned long v = sn->version;
            int done = sn->cmp_valid && fabsf(sn->cmp_p - t->ui.p) < 1e-6f && sn->cmp_pos == ui_sel_pos(&t->ui, sn);
            worker_unlock(t->w);
            if (done) break;
            if (worker_wait_version(t->w, v, 60)) goto done;
        }
        tui_render(t);  // the masking panel drawn with the new values
        ms[r] = (now_seconds() - t0) * 1e3;
        if (worker_wait_idle(t->w, 300)) goto done;  // the context recomputed before the next change
    }
    qsort(ms, reps, sizeof(double), cmp_double);
    result = ms[reps / 2];
done:
    if (t->ui.p != p_orig) {
        Job j = {.kind = JOB_SET_P, .f = p_orig};
        worker_post(t->w, &j);
        worker_wait_idle(t->w, 300);
    }
    tui_free(t);
    free(ms);
    return result;
}

typedef struct {
    int only;  // position in the choices of --only; 0: every table
    int quick;
} BenchArgs;

static const Option BENCH_OPTIONS[] = {
    {"only", OPT_CHOICE, offsetof(BenchArgs, only), "all|engine|gpu|train|tui", "the tables to measure", 0},
    {"quick", OPT_FLAG, offsetof(BenchArgs, quick), NULL, "skip the 1B and 8B shapes"},
    {NULL},
};

int cmd_bench(int argc, char** argv) {
    BenchArgs A;
    Settings threads_st;
    memset(&A, 0, sizeof A);
    settings_defaults(&threads_st, "bench");
    OptionSet sets[] = {settings_options(&threads_st, "threads"), {BENCH_OPTIONS, &A, NULL}};
    int done_status = options_begin("bench", sets, 2, argc, argv,
        "usage: slimscope bench [--threads N] [--only engine|gpu|train|tui] [--quick]\n"
        "Prints speed tables: the machine's bandwidth and GEMM peaks, decode against the roofline and\n"
        "prefill against the GEMM peak (demo, 110M F32/BF16, 1B BF16/Q8_0, 8B BF16), SLIM, masking and\n"
        "the trace as ratios to base, decode at context 64/512/2048, training throughput, and the TUI's\n"
        "masking-panel refresh; with a usable CUDA device, decode (against the HBM roofline), prefill and SLIM\n"
        "rows on it (gpu). The random 110M/1B/8B checkpoints (0.8 + 2.5 + 16 GB) are written once into\n"
        "$SLIMSCOPE_BENCH_CACHE (default ~/.cache/slimscope/bench).\n");
    if (done_status >= 0) return done_status;
    static const char* const ONLY[] = {NULL, "engine", "gpu", "train", "tui"};
    const char* only = ONLY[A.only];
    int quick = A.quick, threads = threads_st.threads;
    if (threads) ops_set_threads(threads);
    if (!only || !strcmp(only, "engine")) engine_tables(quick);
    if (!only || !strcmp(only, "gpu")) gpu_tables(quick);
    if (!only || !strcmp(only, "train")) {
        printf("\n");
        train_bench();
    }
    if (only && strcmp(only, "tui")) return 0;
    printf("\nTUI decode against generate (%s; greedy, 48 tokens, medians of 3 interleaved rounds; target >= 90%%)\n",
           "the worker's traced feed and snapshot per token, drawing at 60 frames/s");
    printf("  %-28s %10s %10s %10s\n", "model", "generate", "TUI", "TUI/gen");
    if (file_exists("models/demo/slim/adapter_config.json"))
        tui_decode_row("demo 5.4M + SLIM", "models/demo/base", "models/demo/slim", "The package");
    char d110b[4096];
    if (!quick && cached(d110b, sizeof d110b, "110m-bf16", bench_shape_110m(), DT_BF16) == 0)
        tui_decode_row("110M BF16 (no adapter)", d110b, NULL, "1 2 3 4");
    // the TUI's masking panel: a change of p until the panel is redrawn, on the shipped demo
    Settings st;
    settings_defaults(&st, "bench");
    st.model_dir = "models/demo/base";
    st.adapter_dir = "models/demo/slim";
    Session s;
    Err err;
    if (file_exists("models/demo/slim/adapter_config.json") && session_open(&s, &st, &err) == 0) {
        double ms = tui_bench_p_change_ms(&s, 20);
        printf("\nTUI: change of p -> masking panel redrawn: %.1f ms (median of 20, demo model; target <= 100 ms)\n", ms);
        session_close(&s);
    } else {
        printf("\nTUI: masking-panel refresh not measured (models/demo is missing)\n");
    }
    return 0;
}

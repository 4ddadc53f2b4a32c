// cmd_bench.c: `slimscope bench`: speed figures measured side by side in one run (the machines are
// shared and noisy, so variants are interleaved and the best of several rounds is kept).
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "commands.h"
#include "forward.h"
#include "sampler.h"
#include "session.h"
#include "train.h"
#include "views/tui.h"

// Decodes n_new tokens after a prompt; returns decode tokens/s.
static double decode_speed(const Model* m, const Adapter* a, SlimRun* run, RunState* s, int n_new) {
    int V = m->cfg.vocab_size, prompt[16];
    for (int i = 0; i < 16; i++) prompt[i] = (i * 131 + 7) % V;
    float* logits = xmalloc(V * sizeof(float));
    Err err;
    if (forward(m, a, run, s, prompt, 16, 0, logits, 0, NULL, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    double t0 = now_seconds();
    for (int i = 0; i < n_new; i++) {
        int next = argmax(logits, V);
        forward(m, a, run, s, &next, 1, 16 + i, logits, 0, NULL, &err);
    }
    double dt = now_seconds() - t0;
    free(logits);
    return n_new / dt;
}

static void bench_decode(int threads) {
    ModelConfig c = {0};
    c.arch = ARCH_LLAMA;
    c.dim = 512;
    c.hidden_dim = 1536;
    c.n_layers = 8;
    c.n_heads = c.n_kv_heads = 8;
    c.head_dim = 64;
    c.vocab_size = 8192;
    c.max_seq_len = 256;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000;
    Model m;
    model_init_random(&m, &c, 0.02f, 1);
    AdapterSpec sp;
    adapter_spec_default(&sp);  // E = 10 (2 identity + 8 LoRA), r = 16, top 2, gate/up/down
    Adapter a;
    adapter_alloc(&a, &m, &sp);
    Rng r;
    rng_seed(&r, 2);
    for (size_t i = 0; i < a.n_params; i++) a.storage[i] = 0.02f * rng_normal(&r);
    for (int l = 0; l < a.n_layers; l++)
        for (int i = 0; i < a.n_clusters * a.dim; i++) a.layers[l].sigma[i] = 100.0f;  // d < 0: LoRA experts win
    SlimRun slim0, slim5;
    slim_run_init(&slim0, &a, c.n_layers);
    slim_run_init(&slim5, &a, c.n_layers);
    slim5.mask_ratio = 0.5f;
    Err err;
    slim_run_prepare(&slim0, &a, &err);
    slim_run_prepare(&slim5, &a, &err);
    RunState s;
    if (runstate_init(&s, &m, &a, 256, 64, &err)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(1);
    }
    const char* names[3] = {"base", "SLIM p=0", "SLIM p=0.5"};
    double best[3] = {0, 0, 0};
    for (int round = 0; round < 5; round++)
        for (int v = 0; v < 3; v++) {
            double tps = decode_speed(&m, v ? &a : NULL, v == 0 ? NULL : v == 1 ? &slim0 : &slim5, &s, 64);
            if (tps > best[v]) best[v] = tps;
        }
    printf("\ndecode: %.1fM-parameter Llama (C %d, F %d, %d blocks, V %d), SLIM E = 10 (2 identity), r 16, top 2,\n"
           "gate/up/down; %d threads; best of 5 interleaved rounds of 64 tokens\n",
           config_param_count(&c) / 1e6, c.dim, c.hidden_dim, c.n_layers, c.vocab_size, threads);
    printf("  %-12s %12s %14s %10s\n", "variant", "tokens/s", "ms/token", "vs base");
    for (int v = 0; v < 3; v++)
        printf("  %-12s %12.1f %14.3f %9.3fx\n", names[v], best[v], 1000.0 / best[v], best[0] / best[v]);
    printf("  SLIM overhead per token: %+.1f%% (target <= 15%%); p = 0.5 vs p = 0: %.3fx the time\n",
           100.0 * (best[0] / best[1] - 1), best[1] / best[2]);
    // the masked merge alone: one block's three adapted projections, two kept LoRA experts
    float w[10] = {0}, *v = xmalloc(c.hidden_dim * sizeof(float)), *y = xmalloc(c.hidden_dim * sizeof(float));
    w[3] = 0.6f;
    w[7] = 0.4f;
    for (int i = 0; i < c.hidden_dim; i++) v[i] = rng_normal(&r);
    float* scratch = xmalloc(slim_scratch_floats(a.r, c.hidden_dim) * sizeof(float));
    int* iscratch = xmalloc(2 * c.hidden_dim * sizeof(int));
    float ps[4] = {0, 0.3f, 0.5f, 0.9f};
    double us[4] = {1e30, 1e30, 1e30, 1e30};
    for (int round = 0; round < 5; round++)
        for (int k = 0; k < 4; k++) {
            SlimRun run;
            slim_run_init(&run, &a, c.n_layers);
            run.mask_ratio = ps[k];
            slim_run_prepare(&run, &a, &err);
            double t0 = now_seconds();
            for (int it = 0; it < 2000; it++)
                for (int p = PROJ_GATE; p <= PROJ_DOWN; p++) slim_apply_proj(y, v, &a, &run, 0, (Proj)p, w, 0, scratch, iscratch);
            double t = (now_seconds() - t0) / 2000 * 1e6;
            if (t < us[k]) us[k] = t;
            slim_run_free(&run);
        }
    printf("  masked merge alone (one block, gate/up/down, 2 kept experts, 1 thread), best of 5:\n");
    for (int k = 0; k < 4; k++) printf("    p = %.1f  %7.2f us  %5.3fx the time of p = 0\n", ps[k], us[k], us[k] / us[0]);
    free(v);
    free(y);
    free(scratch);
    free(iscratch);
    runstate_free(&s);
    slim_run_free(&slim0);
    slim_run_free(&slim5);
    adapter_free(&a);
    model_free(&m);
}

int cmd_bench(int argc, char** argv) {
    int threads = 0;
    const char* only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: slimscope bench [--threads N] [--only decode|train|tui]\n"
                   "Prints speed tables: decode with and without SLIM and masking, training throughput,\n"
                   "and the TUI's masking-panel refresh time.\n");
            return 0;
        } else {
            fprintf(stderr, "bench: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (threads) forward_set_threads(threads);
    if (!only || !strcmp(only, "decode")) bench_decode(forward_get_threads());
    if (!only || !strcmp(only, "train")) {
        printf("\n");
        train_bench();
    }
    if (only && strcmp(only, "tui")) return 0;
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

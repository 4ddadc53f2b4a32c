// fuzz_adapter.c: libFuzzer target for adapter loading (core/adapter.c) against a small model,
// tests/fuzz/adapter_model/ (hidden 16, 2 blocks, vocab 32; see make_seeds.sh). The input is
// adapter_config.json, a NUL byte, then adapter_model.safetensors (no NUL: all of it is the config);
// both are written into a directory and loaded. An adapter that loads is also prepared (keep-sets
// at its masking ratio, or 0.25) and run for three positions, so what the loader accepts is what
// the forward pass can use. Run from the repository root. Seeds: tests/fuzz/adapter_seeds/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forward.h"
#include "input.h"

static Model g_model;
static char g_dir[64];

int LLVMFuzzerInitialize(int* argc, char*** argv) {
    Err err;
    if (model_load(&g_model, "tests/fuzz/adapter_model", &err)) {
        fprintf(stderr, "fuzz_adapter: %s (run it from the repository root)\n", err.msg);
        exit(1);
    }
    ops_set_threads(1);
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz-adapter-%d", (int)getpid());
    return 0;
}

static void run_adapter(const Adapter* a) {
    SlimRun run;
    RunState s;
    Err err;
    static const int toks[3] = {1, 5, 31};
    float logits[32];
    slim_run_init(&run, a, g_model.cfg.n_layers);
    if (run.mask_ratio == 0) run.mask_ratio = 0.25f;
    if (slim_run_prepare(&run, a, &err) == 0 && runstate_init(&s, &g_model, a, 8, 4, &err) == 0) {
        forward(&g_model, a, &run, &s, toks, 3, 0, logits, 0, NULL, &err);
        runstate_free(&s);
    }
    slim_run_free(&run);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const uint8_t* nul = memchr(data, 0, size);
    size_t cfg_len = nul ? (size_t)(nul - data) : size;
    char cfg[128], st[128];
    snprintf(cfg, sizeof cfg, "%s/adapter_config.json", g_dir);
    snprintf(st, sizeof st, "%s/adapter_model.safetensors", g_dir);
    mkdir(g_dir, 0700);
    size_t skip = cfg_len + (nul != NULL);
    if (fuzz_write(cfg, data, cfg_len) || fuzz_write(st, data + skip, size - skip)) return 0;
    Adapter a;
    Err err;
    if (adapter_load(&a, g_dir, &g_model, &err) == 0) {
        run_adapter(&a);
        adapter_free(&a);
    }
    unlink(cfg);
    unlink(st);
    rmdir(g_dir);
    return 0;
}

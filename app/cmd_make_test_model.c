// cmd_make_test_model.c: `slimscope make-test-model`: a small random model, optionally with a random
// SLIM adapter, for tests and for trying the UI without a trained model. Byte-level tokenizer: none;
// use --ids, or copy a tokenizer.json next to it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "commands.h"

static void usage(void) {
    printf("usage: slimscope make-test-model --out DIR [--adapter-out DIR] [--dim C] [--layers L] [--vocab V]\n"
           "                                 [--seed S] [--dtype F32|F16|BF16]\n");
}

int cmd_make_test_model(int argc, char** argv) {
    const char *out = NULL, *adapter_out = NULL, *dtype = "F32";
    int dim = 64, layers = 2, vocab = 256;
    unsigned long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--help")) { usage(); return 0; }
        if (!v) { fprintf(stderr, "make-test-model: option %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--out")) out = v;
        else if (!strcmp(argv[i], "--adapter-out")) adapter_out = v;
        else if (!strcmp(argv[i], "--dim")) dim = atoi(v);
        else if (!strcmp(argv[i], "--layers")) layers = atoi(v);
        else if (!strcmp(argv[i], "--vocab")) vocab = atoi(v);
        else if (!strcmp(argv[i], "--seed")) seed = strtoul(v, NULL, 10);
        else if (!strcmp(argv[i], "--dtype")) dtype = v;
        else { fprintf(stderr, "make-test-model: unknown option '%s'\n", argv[i]); return 2; }
        i++;
    }
    if (!out || dim < 8 || dim % 8 || layers < 1 || vocab < 2) {
        fprintf(stderr, "make-test-model: --out DIR is required; --dim must be a multiple of 8, --layers >= 1, --vocab >= 2\n");
        return 2;
    }
    DType dt = !strcmp(dtype, "BF16") ? DT_BF16 : !strcmp(dtype, "F16") ? DT_F16 : DT_F32;
    ModelConfig c = {0};
    c.arch = ARCH_LLAMA;
    c.dim = dim;
    c.hidden_dim = dim * 8 / 3 / 8 * 8;
    c.n_layers = layers;
    c.n_heads = dim / 16 > 0 ? dim / 16 : 1;
    c.n_kv_heads = c.n_heads % 2 == 0 ? c.n_heads / 2 : c.n_heads;
    c.head_dim = dim / c.n_heads;
    c.vocab_size = vocab;
    c.max_seq_len = 512;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.bos_id = 1;
    c.eos_id = 2;
    Model m;
    model_init_random(&m, &c, 0.5f / sqrtf((float)dim) * 4, seed);
    Err err;
    if (model_save(&m, out, dt, 1, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        model_free(&m);
        return 1;
    }
    if (adapter_out) {
        AdapterSpec spec;
        adapter_spec_default(&spec);
        spec.r = 4;
        spec.lora_alpha = 8;
        spec.n_clusters = 4;
        Adapter a;
        adapter_alloc(&a, &m, &spec);
        adapter_init_random(&a, 0.3f, seed + 1000);
        snprintf(a.base_model, sizeof a.base_model, "%s", out);
        int rc = adapter_save(&a, adapter_out, dt, &err);
        adapter_free(&a);
        if (rc) {
            fprintf(stderr, "%s\n", err.msg);
            model_free(&m);
            return 1;
        }
    }
    model_free(&m);
    return 0;
}

// cmd_make_test_model.c: `slimscope make-test-model`: a small random model, optionally with a random
// SLIM adapter, for tests and for trying the UI without a trained model. Byte-level tokenizer: none;
// use --ids, or copy a tokenizer.json next to it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "commands.h"
#include "train_cli.h"

typedef struct {
    const char *out, *adapter_out;
    int dim, layers, vocab, dtype;
    uint64_t seed;
} TestModelArgs;

#define F(field) offsetof(TestModelArgs, field)
static const Option TEST_MODEL_OPTIONS[] = {
    {"out", OPT_STR, F(out), "DIR", "model directory to write (required)"},
    {"adapter-out", OPT_STR, F(adapter_out), "DIR", "also write a random SLIM adapter there"},
    {"dim", OPT_INT, F(dim), "C", "hidden size, a multiple of 8", 64, IN_RANGE(8, 65536)},
    {"layers", OPT_INT, F(layers), "L", "blocks", 2, IN_RANGE(1, 1024)},
    {"vocab", OPT_INT, F(vocab), "V", "vocabulary size", 256, IN_RANGE(2, 1 << 24)},
    {"seed", OPT_U64, F(seed), "S", "seed of the random weights", 1},
    {"dtype", OPT_CHOICE, F(dtype), DTYPE_CHOICES, "weights on disk (upper case works too)", 0},
    {NULL},
};
#undef F

int cmd_make_test_model(int argc, char** argv) {
    TestModelArgs A;
    memset(&A, 0, sizeof A);
    OptionSet set = {TEST_MODEL_OPTIONS, &A, NULL};
    int done_status = options_begin("make-test-model", &set, 1, argc, argv,
                                    "usage: slimscope make-test-model --out DIR [--adapter-out DIR] [options]\n"
                                    "A small random model (and SLIM adapter) for tests; no tokenizer: use --ids.\n");
    if (done_status >= 0) return done_status;
    if (!A.out) {
        fprintf(stderr, "make-test-model: --out DIR is required\n");
        return 2;
    }
    if (A.dim % 8) {
        fprintf(stderr, "make-test-model: --dim must be a multiple of 8, got %d\n", A.dim);
        return 2;
    }
    const char* out = A.out;
    int dim = A.dim, layers = A.layers, vocab = A.vocab;
    uint64_t seed = A.seed;
    DType dt = DTYPE_OF_CHOICE[A.dtype];
    const char* adapter_out = A.adapter_out;
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

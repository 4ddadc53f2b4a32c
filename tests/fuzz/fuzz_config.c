// fuzz_config.c: libFuzzer target for config.json parsing (core/config.c). The input is the JSON
// text. A config that parses must be usable: its RoPE frequencies are finite and positive, and
// config_save writes a file that config_load reads back to the same values (pretrain and the
// tests save configs this way). Seeds: tests/fuzz/config_seeds/.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ops.h"

static void fail(const char* what, const ModelConfig* c) {
    fprintf(stderr, "fuzz_config: %s (hidden %d, heads %d/%d, head_dim %d, theta %g, rope %d factor %g)\n", what,
            c->dim, c->n_heads, c->n_kv_heads, c->head_dim, c->rope_theta, (int)c->rope_scaling, c->rope_factor);
    abort();
}

// The fields a model is built from; rope parameters only where the scaling type reads them.
static int same_config(const ModelConfig* a, const ModelConfig* b) {
    if (a->arch != b->arch || a->dim != b->dim || a->hidden_dim != b->hidden_dim || a->n_layers != b->n_layers ||
        a->n_heads != b->n_heads || a->n_kv_heads != b->n_kv_heads || a->head_dim != b->head_dim ||
        a->vocab_size != b->vocab_size || a->max_seq_len != b->max_seq_len || a->norm_eps != b->norm_eps ||
        a->rope_theta != b->rope_theta || a->rope_scaling != b->rope_scaling || a->tie_embeddings != b->tie_embeddings ||
        a->attn_bias != b->attn_bias || a->o_bias != b->o_bias || a->mlp_bias != b->mlp_bias || a->bos_id != b->bos_id ||
        a->eos_id != b->eos_id)
        return 0;
    if (a->rope_scaling != ROPE_DEFAULT && a->rope_factor != b->rope_factor) return 0;
    if (a->rope_scaling == ROPE_LLAMA3 &&
        (a->rope_low_freq_factor != b->rope_low_freq_factor || a->rope_high_freq_factor != b->rope_high_freq_factor ||
         a->rope_original_max_pos != b->rope_original_max_pos))
        return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char* json = malloc(size + 1);
    memcpy(json, data, size);
    json[size] = 0;
    ModelConfig c;
    Err err;
    if (config_parse(&c, json, "fuzz/config.json", &err) == 0) {
        float* f = malloc((size_t)c.head_dim / 2 * sizeof(float));
        rope_inv_freq(f, &c);
        for (int i = 0; i < c.head_dim / 2; i++)
            if (!(isfinite(f[i]) && f[i] > 0)) fail("accepted config gives a RoPE frequency that is not finite and positive", &c);
        free(f);
        (void)config_param_count(&c);
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz-config-%d.json", (int)getpid());
        ModelConfig back;
        if (config_save(&c, path, &err)) fail(err.msg, &c);
        if (config_load(&back, path, &err)) fail(err.msg, &c);
        if (!same_config(&c, &back)) fail("config_save + config_load changed the config", &c);
        unlink(path);
    }
    free(json);
    return 0;
}

// cmd_inspect.c: `slimscope inspect`: architecture, parameter count, dtypes and memory of a model.
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "commands.h"
#include "settings.h"
#include "tokenizer.h"

static const char* OPTS = "model adapter";

int cmd_inspect(int argc, char** argv) {
    Settings st;
    Err err;
    settings_defaults(&st, "inspect");
    if (settings_parse(&st, argc, argv, OPTS, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    if (st.help) {
        printf("usage: slimscope inspect --model DIR [--adapter DIR]\n\noptions:\n");
        settings_print_options(stdout, OPTS);
        return 0;
    }
    if (!st.model_dir) {
        fprintf(stderr, "inspect: --model DIR is required\n");
        return 2;
    }
    Model m;
    if (model_load(&m, st.model_dir, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const ModelConfig* c = &m.cfg;
    size_t params = config_param_count(c);
    printf("model            %s\n", st.model_dir);
    printf("architecture     %s (%d blocks, hidden %d, MLP %d, %d heads / %d KV heads of %d)\n", arch_name(c->arch),
           c->n_layers, c->dim, c->hidden_dim, c->n_heads, c->n_kv_heads, c->head_dim);
    printf("vocabulary       %d tokens, %s lm_head\n", c->vocab_size, c->tie_embeddings ? "tied" : "separate");
    printf("positions        %d (RoPE theta %g%s)\n", c->max_seq_len, c->rope_theta,
           c->rope_scaling == ROPE_LLAMA3 ? ", llama3 scaling" : c->rope_scaling == ROPE_LINEAR ? ", linear scaling" : "");
    printf("biases           q/k/v %s, o %s, mlp %s\n", c->attn_bias ? "yes" : "no", c->o_bias ? "yes" : "no", c->mlp_bias ? "yes" : "no");
    printf("parameters       %zu (%.2f M)\n", params, params / 1e6);
    printf("file dtype       %s in %d file%s (converted to F32 at load)\n", dtype_name(m.file_dtype), m.n_shards,
           m.n_shards == 1 ? "" : "s");
    printf("memory           %.1f MB of weights in F32; KV cache %.1f KB per position\n", m.n_params * 4.0 / 1e6,
           2.0 * c->n_layers * c->n_kv_heads * c->head_dim * 4 / 1e3);
    char path[4200];
    if (file_exists(path_join(path, sizeof path, st.model_dir, "tokenizer.json"))) {
        Tokenizer t;
        if (tokenizer_load(&t, st.model_dir, &err) == 0) {
            printf("tokenizer        %d tokens (%s), bos %d, eos %d\n", tokenizer_vocab_size(&t),
                   t.byte_level ? "byte-level BPE" : "SentencePiece-style BPE", t.bos_id, t.eos_id);
            tokenizer_free(&t);
        } else {
            printf("tokenizer        unreadable: %s\n", err.msg);
        }
    }
    int rc = 0;
    if (st.adapter_dir) {
        Adapter a;
        if (adapter_load(&a, st.adapter_dir, &m, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            rc = 1;
        } else {
            int active = 0;
            for (int l = 0; l < a.n_layers; l++) active += a.layers[l].active;
            printf("adapter          %s: %s, r %d, alpha %g, %d blocks, %zu parameters\n", st.adapter_dir,
                   a.type == ADAPTER_SLIM ? "SLIM" : "LoRA", a.r, a.lora_alpha, active, a.n_params);
            if (a.type == ADAPTER_SLIM)
                printf("experts          %d identity + %d LoRA, top %d, %d clusters, yield %g\n", a.n_id, a.n_lora, a.top_k,
                       a.n_clusters, a.yield_scale);
            adapter_free(&a);
        }
    }
    model_free(&m);
    return rc;
}

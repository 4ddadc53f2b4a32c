// cmd_inspect.c: `slimscope inspect`: architecture, parameter count, dtypes and memory of a model.
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "commands.h"
#include "device.h"
#include "settings.h"
#include "tokenizer.h"

static const char* OPTS = "model adapter weights device";

int cmd_inspect(int argc, char** argv) {
    Settings st;
    Err err;
    int done_status = settings_begin(&st, "inspect", argc, argv, OPTS, "usage: slimscope inspect --model DIR [--adapter DIR]\n");
    if (done_status >= 0) return done_status;
    if (!st.model_dir) {
        fprintf(stderr, "inspect: --model DIR is required\n");
        return 2;
    }
    Model m;
    if (model_load_as(&m, st.model_dir, (WeightsMode)st.weights, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    // the device the forward pass would run on: a CPU fallback is explained on this line, not on stderr
    Backend* be = backend_cpu();
    char note[1200] = "";
    if (st.weights == WEIGHTS_Q8 && st.device != DEVICE_CPU) {
        if (st.device == DEVICE_CUDA) {
            fprintf(stderr, "inspect: --device cuda: Q8_0 weights (--weights q8) run on the CPU only\n");
            model_free(&m);
            return 1;
        }
        snprintf(note, sizeof note, "--weights q8 runs on the CPU");
    } else if (device_open((DeviceKind)st.device, &be, note, sizeof note, &err)) {
        fprintf(stderr, "inspect: %s\n", err.msg);
        model_free(&m);
        return 1;
    }
    const ModelConfig* c = &m.cfg;
    size_t params = config_param_count(c);
    printf("model            %s\n", st.model_dir);
    printf("device           %s: %s%s%s%s\n", be->name, be->device, note[0] ? " [" : "", note, note[0] ? "]" : "");
    printf("architecture     %s (%d blocks, hidden %d, MLP %d, %d heads / %d KV heads of %d)\n", arch_name(c->arch),
           c->n_layers, c->dim, c->hidden_dim, c->n_heads, c->n_kv_heads, c->head_dim);
    printf("vocabulary       %d tokens, %s lm_head\n", c->vocab_size, c->tie_embeddings ? "tied" : "separate");
    printf("positions        %d (RoPE theta %g%s)\n", c->max_seq_len, c->rope_theta,
           c->rope_scaling == ROPE_LLAMA3 ? ", llama3 scaling" : c->rope_scaling == ROPE_LINEAR ? ", linear scaling" : "");
    printf("biases           q/k/v %s, o %s, mlp %s\n", c->attn_bias ? "yes" : "no", c->o_bias ? "yes" : "no", c->mlp_bias ? "yes" : "no");
    printf("parameters       %zu (%.2f M)\n", params, params / 1e6);
    printf("file dtype       %s in %d file%s; --weights %s\n", dtype_name(m.file_dtype), m.n_shards,
           m.n_shards == 1 ? "" : "s", WEIGHTS_MODE_NAMES[m.mode]);
    // Each matrix family: the dtype it is computed in and the kernels chosen for decode (1 row of x)
    // and prefill (64 rows). Blocks share their dtype; a block that differs is named.
    if (!be->host_memory) printf("products         cublasGemmEx, F32 accumulation (the kernels below are the CPU's)\n");
    printf("computed as      %-10s %-6s %-42s %s\n", "tensor", "dtype", "decode kernel", "prefill kernel");
    size_t bytes = weight_bytes(&m.embed) + (c->tie_embeddings && m.lm_head.data == m.embed.data ? 0 : weight_bytes(&m.lm_head));
    for (int p = -1; p <= PROJ_COUNT; p++) {
        const Weight* w = p < 0 ? &m.embed : p == PROJ_COUNT ? &m.lm_head : &m.layers[0].w[p];
        const char* name = p < 0 ? "embed" : p == PROJ_COUNT ? "lm_head" : PROJ_NAMES[p];
        printf("                 %-10s %-6s %-42s %s\n", name, weight_type_name(w->type),
               p < 0 ? "row lookup" : matmul_kernel_name(w, 1), p < 0 ? "row lookup" : matmul_kernel_name(w, 64));
        for (int l = 1; p >= 0 && p < PROJ_COUNT && l < c->n_layers; l++)
            if (m.layers[l].w[p].type != w->type)
                printf("                 %-10s %-6s (block %d)\n", name, weight_type_name(m.layers[l].w[p].type), l);
    }
    for (int l = 0; l < c->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) bytes += weight_bytes(&m.layers[l].w[p]);
    printf("memory           %.1f MB of matrices as computed; KV cache %.1f KB per position (F32)\n", bytes / 1e6,
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
            if (a.type == ADAPTER_SLIM) {
                printf("routing          distance %s, yield calibration %s (%s)\n", slim_distance_name(a.distance),
                       yield_calibration_name(a.yield_calibration),
                       a.yield_calibration == YCAL_QUANTILE ? "gamma * (d - q50) / (q90 - q50)" : "gamma * d");
                for (int l = 0; l < a.n_layers; l++)
                    if (a.layers[l].active && a.layers[l].yield_q)
                        printf("yield quantiles  block %d: q50 %.4f, q90 %.4f\n", l, a.layers[l].yield_q[0], a.layers[l].yield_q[1]);
            }
            adapter_free(&a);
        }
    }
    model_free(&m);
    return rc;
}

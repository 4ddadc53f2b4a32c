// config.h: config.json of a Hugging Face Llama-family model (llama, mistral, qwen2).
#ifndef SLIMSCOPE_CONFIG_H
#define SLIMSCOPE_CONFIG_H

#include "common.h"

typedef enum { ARCH_LLAMA = 0, ARCH_MISTRAL, ARCH_QWEN2 } ArchType;
typedef enum { ROPE_DEFAULT = 0, ROPE_LINEAR, ROPE_LLAMA3 } RopeScalingType;

typedef struct {
    ArchType arch;
    int dim;           // hidden_size (C)
    int hidden_dim;    // intermediate_size (F)
    int n_layers;      // num_hidden_layers
    int n_heads;       // num_attention_heads
    int n_kv_heads;    // num_key_value_heads (GQA); = n_heads when absent
    int head_dim;      // head_dim, or hidden_size / num_attention_heads
    int vocab_size;
    int max_seq_len;   // max_position_embeddings
    float norm_eps;    // rms_norm_eps
    float rope_theta;
    RopeScalingType rope_scaling;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_pos;
    int tie_embeddings;
    int attn_bias;     // q/k/v (and o for llama's attention_bias) carry a bias
    int o_bias;        // o_proj has a bias (llama attention_bias = true)
    int mlp_bias;      // llama mlp_bias
    int bos_id, eos_id;  // -1 when absent (eos: the first of a list)
    char torch_dtype[16];
} ModelConfig;

// Reads <path> (a config.json). Unknown model types and missing fields are errors naming the field.
int config_load(ModelConfig* c, const char* path, Err* err);

// Reads a config from a JSON string; `path` is only used in error messages.
int config_parse(ModelConfig* c, const char* json, const char* path, Err* err);

// Writes a config.json (atomically) that config_load and Hugging Face transformers both accept.
int config_save(const ModelConfig* c, const char* path, Err* err);

const char* arch_name(ArchType a);

// Number of parameters of the base model (embeddings and lm_head counted once when tied).
size_t config_param_count(const ModelConfig* c);

#endif

// model.h: a loaded Llama-family model. Weights are float32 in one allocation (converted at load
// from F32/F16/BF16), each a pointer into it, in Hugging Face layout: a linear layer's weight is
// (out, in) row-major, so y = W x.
#ifndef SLIMSCOPE_MODEL_H
#define SLIMSCOPE_MODEL_H

#include "config.h"
#include "rng.h"
#include "safetensors.h"

// The seven linear projections of a block, in one enum so that adapters address them uniformly.
typedef enum { PROJ_Q = 0, PROJ_K, PROJ_V, PROJ_O, PROJ_GATE, PROJ_UP, PROJ_DOWN, PROJ_COUNT } Proj;
extern const char* const PROJ_NAMES[PROJ_COUNT];  // "q_proj", ..., "down_proj"
int proj_from_name(const char* name);             // -1 when unknown
int proj_is_mlp(Proj p);

typedef struct {
    float* attn_norm;          // (C)  input_layernorm
    float* mlp_norm;           // (C)  post_attention_layernorm
    float* w[PROJ_COUNT];      // q (Hq*D, C), k/v (Hkv*D, C), o (C, Hq*D), gate/up (F, C), down (C, F)
    float* b[PROJ_COUNT];      // biases (out) or NULL
} LayerWeights;

typedef struct {
    ModelConfig cfg;
    char dir[4096];
    float* embed;              // (V, C)
    float* final_norm;         // (C)
    float* lm_head;            // (V, C); == embed when tied
    LayerWeights* layers;      // (L)
    int proj_in[PROJ_COUNT], proj_out[PROJ_COUNT];  // shapes of each projection
    float* storage;            // the single allocation behind every pointer above
    size_t n_params;
    DType file_dtype;          // dtype of the checkpoint's tensors (the first one seen)
    int n_shards;
} Model;

// Loads <dir>/config.json and model.safetensors or the shards listed in model.safetensors.index.json.
int model_load(Model* m, const char* dir, Err* err);
// Allocates a model for cfg with weights drawn from N(0, std) (norms = 1, biases = 0); seeded.
void model_init_random(Model* m, const ModelConfig* cfg, float std, uint64_t seed);
// Writes config.json and model.safetensors (dtype) into dir (created if needed), atomically per file.
// shards > 1 writes model-0000i-of-0000n.safetensors plus model.safetensors.index.json.
int model_save(const Model* m, const char* dir, DType dtype, int shards, Err* err);
void model_free(Model* m);

// Name of tensor number i in HF naming (i < model_tensor_count); fills ptr/shape; used by save.
int model_tensor_count(const Model* m);
const char* model_tensor_info(const Model* m, int i, char* name, size_t n, float** ptr, int* ndim, int64_t shape[2]);

#endif

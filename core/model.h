// model.h: a loaded Llama-family model in Hugging Face layout (a linear layer's weight is (out, in)
// row-major, so y = W x). The matrices are Weights in the dtype they are computed in: by default the
// checkpoint's own (F32/F16/BF16 used straight from the mmap), or widened to F32 (training, and
// `--weights f32`), or quantised to Q8_0 (`--weights q8`). Norms and biases are always float32.
#ifndef SLIMSCOPE_MODEL_H
#define SLIMSCOPE_MODEL_H

#include "config.h"
#include "rng.h"
#include "safetensors.h"
#include "weight.h"

// The seven linear projections of a block, in one enum so that adapters address them uniformly.
typedef enum { PROJ_Q = 0, PROJ_K, PROJ_V, PROJ_O, PROJ_GATE, PROJ_UP, PROJ_DOWN, PROJ_COUNT } Proj;
extern const char* const PROJ_NAMES[PROJ_COUNT];  // "q_proj", ..., "down_proj"
int proj_from_name(const char* name);             // -1 when unknown
int proj_is_mlp(Proj p);

typedef struct {
    float* attn_norm;          // (C)  input_layernorm
    float* mlp_norm;           // (C)  post_attention_layernorm
    Weight w[PROJ_COUNT];      // q (Hq*D, C), k/v (Hkv*D, C), o (C, Hq*D), gate/up (F, C), down (C, F)
    float* b[PROJ_COUNT];      // biases (out) or NULL
} LayerWeights;

// How the checkpoint's matrices are held: as stored, widened to float32, or quantised to Q8_0.
typedef enum { WEIGHTS_NATIVE = 0, WEIGHTS_F32, WEIGHTS_Q8 } WeightsMode;
extern const char* const WEIGHTS_MODE_NAMES[3];  // "native", "f32", "q8"

typedef struct {
    ModelConfig cfg;
    char dir[4096];
    Weight embed;              // (V, C)
    float* final_norm;         // (C)
    Weight lm_head;            // (V, C); the embedding's data when tied (unless quantised)
    LayerWeights* layers;      // (L)
    int proj_in[PROJ_COUNT], proj_out[PROJ_COUNT];  // shapes of each projection
    float* storage;            // float32 tensors the model owns: all of them in WEIGHTS_F32 and random
                               // models (one allocation, tensor-table order), else only norms + biases
    size_t n_params;           // parameters of all tensors
    int owns_all;              // every tensor lies in storage (what training needs)
    void** owned;              // per-tensor allocations: Q8_0 values + scales, realigned F32 copies
    int n_owned;
    StFile* files;             // the mapped checkpoint files the Weights point into
    int n_files;
    WeightsMode mode;
    DType file_dtype;          // dtype of the checkpoint's tensors (the first one seen)
    int n_shards;
} Model;

// Loads <dir>/config.json and model.safetensors or the shards listed in model.safetensors.index.json,
// matrices held as `mode` says; model_load is model_load_as(..., WEIGHTS_NATIVE, ...).
int model_load_as(Model* m, const char* dir, WeightsMode mode, Err* err);
int model_load(Model* m, const char* dir, Err* err);
// Allocates a model for cfg with weights drawn from N(0, std) (norms = 1, biases = 0); seeded.
void model_init_random(Model* m, const ModelConfig* cfg, float std, uint64_t seed);
// Writes config.json and model.safetensors (dtype) into dir (created if needed), atomically per file.
// shards > 1 writes model-0000i-of-0000n.safetensors plus model.safetensors.index.json.
int model_save(const Model* m, const char* dir, DType dtype, int shards, Err* err);
void model_free(Model* m);
// Writes config.json + model.safetensors for cfg with random weights (uniform of standard deviation
// std, norms 1, biases 0; the same for a given seed), each tensor made as it is written, so that
// checkpoints larger than memory can be made.
int model_write_random(const ModelConfig* cfg, const char* dir, DType dtype, float std, uint64_t seed, Err* err);

// Name of tensor number i in HF naming (i < model_tensor_count); fills shape, and ptr with its float32
// data (NULL when the tensor is not float32 in memory: use a model that owns_all for saving/training).
int model_tensor_count(const Model* m);
const char* model_tensor_info(const Model* m, int i, char* name, size_t n, float** ptr, int* ndim, int64_t shape[2]);

#endif

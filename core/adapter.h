// adapter.h: a SLIM adapter (shared/SLIM.md section 6) or a plain PEFT LoRA adapter, in memory.
// A PEFT LoRA adapter is held as one always-on LoRA expert with no router and no clusters.
#ifndef SLIMSCOPE_ADAPTER_H
#define SLIMSCOPE_ADAPTER_H

#include "model.h"

typedef enum { ADAPTER_SLIM = 0, ADAPTER_LORA } AdapterType;
typedef enum { REFRESH_FIXED = 0, REFRESH_PER_TOKEN, REFRESH_PER_STEP } MaskRefresh;
// adapter_config.json "distance": the paper's max over channels of |x - c| / sigma, minus 1
// ("max"), or the Euclidean RMS distance sqrt(||x - c||^2 / C) to the nearest centre ("rms").
typedef enum { DIST_MAX = 0, DIST_RMS } SlimDistance;
// "yield_calibration": "none" (the paper: identity logits + gamma * d) or "quantile"
// (+ gamma * (d - q50) / (q90 - q50), q50/q90 the in-distribution quantiles of d per block).
typedef enum { YCAL_NONE = 0, YCAL_QUANTILE } YieldCalibration;

// LoRA experts of one projection of one block.
typedef struct {
    int r, in, out;
    float scale;               // lora_alpha / r (or / sqrt(r) with rsLoRA)
    float* A;                  // (E_lora, r, in)
    float* B;                  // (E_lora, out, r)
} LoraProj;

typedef struct {
    int active;                // this block carries the adapter
    float* router_w;           // (E, C)      SLIM only
    float* router_b;           // (E) or NULL
    float* centers;            // (N, C)      SLIM only
    float* sigma;              // (N, C)
    float* yield_q;            // (2) q50, q90 of d in distribution; only with YCAL_QUANTILE
    LoraProj proj[PROJ_COUNT]; // A == NULL when the projection is not targeted
} AdapterLayer;

typedef struct {
    AdapterType type;
    int n_layers, dim;
    int n_id, n_lora, n_experts;   // E_id, E_lora, E = E_id + E_lora (identity experts first)
    int top_k, n_clusters;
    int r;
    float lora_alpha;
    float yield_scale, cluster_momentum;
    int router_bias, use_rslora;
    SlimDistance distance;
    YieldCalibration yield_calibration;
    float mask_ratio;              // defaults for a run (SlimRun overrides)
    uint64_t mask_seed;
    MaskRefresh mask_refresh;
    unsigned target_mask;          // bit p set when projection p is targeted
    char base_model[512];
    char dir[4096];
    AdapterLayer* layers;          // (n_layers)
    float* storage;                // one allocation behind every tensor pointer
    size_t n_params;
} Adapter;

// Loads an adapter directory (adapter_config.json + adapter_model.safetensors) and validates it
// against the model: hidden size, layer indices, shapes, expert counts, top_k <= E, sigma > 0, finite.
int adapter_load(Adapter* a, const char* dir, const Model* m, Err* err);

// Allocates a SLIM (or LoRA when type == ADAPTER_LORA) adapter shaped for m, zero-filled, with
// the given hyperparameters; layers == NULL means every block. Used by training and tests.
typedef struct {
    AdapterType type;
    int r;
    float lora_alpha;
    int n_id, n_lora, top_k, n_clusters;
    float yield_scale, cluster_momentum;
    int router_bias;
    SlimDistance distance;
    YieldCalibration yield_calibration;
    unsigned target_mask;          // default (0): gate, up, down
    const int* layers;             // NULL = all blocks
    int n_layer_list;
} AdapterSpec;
void adapter_spec_default(AdapterSpec* s);  // SLIM.md section 6 defaults
void adapter_alloc(Adapter* a, const Model* m, const AdapterSpec* s);
// Test and benchmark adapters: every parameter (router, A, B) ~ std * N(0, 1) and every cluster
// sigma ~ U(0.5, 1.5) (sigma must be positive), from one seeded stream.
void adapter_init_random(Adapter* a, float std, uint64_t seed);

// Writes adapter_config.json and adapter_model.safetensors into dir (created if needed).
int adapter_save(const Adapter* a, const char* dir, DType dtype, Err* err);
void adapter_free(Adapter* a);

// Parses "mask_refresh" names: fixed, per_token, per_step (-1 when unknown).
int mask_refresh_from_name(const char* s);
const char* mask_refresh_name(MaskRefresh r);
// "max" / "rms" and "none" / "quantile" (-1 when unknown).
int slim_distance_from_name(const char* s);
const char* slim_distance_name(SlimDistance d);
int yield_calibration_from_name(const char* s);
const char* yield_calibration_name(YieldCalibration c);

#endif

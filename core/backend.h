// backend.h: the seam between the forward pass and the hardware, ggml-style: a Backend is an
// opaque context with a table of operations. forward.c calls only these; core/backend_cpu.c
// implements them with core/ops.c and OpenBLAS, gpu/backend_cuda.cu implements the same table with
// CUDA + cuBLAS (loaded at run time by core/device.c). Activation buffers passed to the ops are the
// backend's own (for the CPU, host memory); weights, norms, biases, adapter tensors, token ids,
// routing weights and `rel` are host memory (a device backend keeps its own copies of weights).
#ifndef SLIMSCOPE_BACKEND_H
#define SLIMSCOPE_BACKEND_H

#include "adapter.h"
#include "slim.h"
#include "weight.h"

// The KV cache of one run: per block (Hkv, cap, D), so one head's keys are read front to back;
// grown as positions are used (kv_reserve in forward.c), never beyond max_seq. The caches and the
// RoPE tables are backend buffers.
typedef struct {
    float** k;                 // (L) -> (Hkv, cap, D)
    float** v;                 // (L) -> (Hkv, cap, D)
    int cap, max_seq;          // positions allocated; the context limit
    int n_layers, n_heads, n_kv_heads, head_dim;
    float* rope_cos;           // (cap, D/2) RoPE tables for the allocated positions
    float* rope_sin;
    float* att;                // (threads, max_seq) attention scores (host memory; CPU backend only)
    int att_threads;
} KVCache;

// One adapter projection's delta for a chunk of n tokens (SLIM.md sections 3-4).
typedef struct {
    const Adapter* a;
    const SlimRun* run;
    int layer;
    Proj proj;
    const float* wts;          // (n, E) routing weights of each token (LoRA: one weight, may be NULL)
    int pos;                   // position of the first token (per-token masks)
    float* scratch;            // (threads, scratch_stride) and (threads, iscratch_stride)
    int* iscratch;
    size_t scratch_stride, iscratch_stride;
    int slot;                  // first scratch slot (callers running side by side take their own)
} LoraCall;

typedef struct Backend Backend;

typedef struct {
    void* (*alloc)(Backend* be, size_t bytes);  // zeroed; NULL when out of memory
    void (*release)(Backend* be, void* p);
    void (*upload)(Backend* be, void* dst, const void* host, size_t bytes);
    void (*download)(Backend* be, void* host, const void* src, size_t bytes);
    void (*copy)(Backend* be, void* dst, const void* src, size_t bytes);  // within the backend's memory
    void (*sync)(Backend* be);
    // A RunState starts / stops using the backend. A device backend copies weights on first use,
    // keyed by their host address; the copies are dropped when the last RunState ends (the model
    // or adapter they came from may be freed next, and its address reused).
    void (*run_begin)(Backend* be);
    void (*run_end)(Backend* be);
    // x (n, C) = rows tokens[0..n) of the embedding table
    void (*embed)(Backend* be, float* x, const Weight* table, const int* tokens, int n);
    // y (n, W.rows) = x (n, W.cols) W^T + b (b may be NULL), W in its own dtype
    void (*matmul)(Backend* be, float* y, const float* x, const Weight* w, const float* b, int n);
    // out (n, C) = x / sqrt(mean(x^2) + eps) * w
    void (*rmsnorm)(Backend* be, float* out, const float* x, const float* w, int n, int C, float eps);
    // x (n, heads, D) rotated in place, row t at position pos + t (tables of kv)
    void (*rope)(Backend* be, float* x, const KVCache* kv, int pos, int n, int heads);
    // stores k, v (n, Hkv*D) at positions pos.. of block l, then out (n, Hq*D) = causal attention of q
    void (*attention)(Backend* be, float* out, const float* q, const float* k, const float* v, KVCache* kv, int l,
                      int pos, int n);
    void (*silu_mul)(Backend* be, float* out, const float* gate, const float* up, size_t n);
    void (*add)(Backend* be, float* x, const float* y, size_t n);  // x += y
    // SLIM routing inputs of n tokens at block l from x (n, C) (SLIM.md section 2 steps 1-3, see
    // slim_route_measure): z (n, E) router logits, nearest (n) centres, dist (n) distances d, in
    // host memory: the few values per token that routing (slim_route_decide, on the host) needs.
    void (*route_measure)(Backend* be, float* z, int* nearest, float* dist, const float* x, int n, const Adapter* a, int l);
    // y (n, out) += the adapter's delta of v (n, in); rel (n, may be NULL) = ||delta|| / ||y before||
    void (*lora_delta)(Backend* be, float* y, const float* v, int n, const LoraCall* call, float* rel);
    // The first failure since the last call (call site named), or NULL; reading it clears it. After
    // a failure a backend may skip work until then, so results are only valid when this is NULL.
    const char* (*error)(Backend* be);
} BackendOps;

struct Backend {
    const BackendOps* ops;
    void* ctx;
    const char* name;    // "cpu", "cuda"
    const char* device;  // what it runs on, for status lines ("NVIDIA H200, 140 GB")
    int host_memory;     // its buffers are host memory: what a download would copy can be read in place
};

// The CPU backend (one shared instance; stateless apart from its error text).
Backend* backend_cpu(void);

#endif

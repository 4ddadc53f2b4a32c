// forward.h: the inference forward pass (prefill and decode with a KV cache), with SLIM applied
// in the MLP of every adapted block and every routing decision written into a Trace.
#ifndef SLIMSCOPE_FORWARD_H
#define SLIMSCOPE_FORWARD_H

#include "backend.h"
#include "model.h"
#include "ops.h"
#include "slim.h"
#include "trace.h"

typedef struct {
    Backend* be;               // where the forward pass runs (backend_cpu() by default)
    int max_seq, max_batch;    // context limit; tokens per chunk
    KVCache kv;                // grown as positions are used
    float* x;                  // (B, C) residual stream
    float* xb;                 // (B, C) normed input
    float* xb2;                // (B, max(C, Hq*D)) attention output / projection output
    float* q;                  // (B, Hq*D)
    float* k;                  // (B, Hkv*D)
    float* v;                  // (B, Hkv*D)
    float* hb;                 // (B, F) gate
    float* hb2;                // (B, F) up
    float* hmix;               // (B, F) silu(gate) * up
    float* route_buf;          // (B, 4 * E) routing scratch
    float* rel_buf;            // (2, B) relative sizes of adapter deltas (for the trace; 2 side-by-side callers)
    float* host_buf;           // host copies of device buffers (backends without host memory)
    size_t host_cap;
    float* scratch;            // (threads, scratch_stride) LoRA scratch (slim_scratch_floats)
    int* iscratch;             // (threads, iscratch_stride) mask index scratch
    size_t scratch_stride, iscratch_stride;
    float* lens_buf;           // (lens_rows, V) logits: one row, or a chunk's when all rows are wanted
    int lens_rows;
    float* rope_inv_freq;      // (D/2)
} RunState;

// max_seq <= 0: the model's maximum; max_batch <= 0: 256 tokens per chunk.
int runstate_init(RunState* s, const Model* m, const Adapter* a, int max_seq, int max_batch, Err* err);
void runstate_free(RunState* s);

// Runs tokens[0..n) at positions pos..pos+n-1, filling the KV cache for them (n may exceed
// max_batch: it is processed in chunks). logits: (V) for the last position, or (n, V) when
// all_logits. a == NULL or run->mode == MODE_OFF runs the base model. tr may be NULL.
int forward(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, const int* tokens, int n, int pos,
            float* logits, int all_logits, Trace* tr, Err* err);


#endif

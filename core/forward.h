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
    Backend* be;               // where the forward pass runs; the buffers below marked (be) are its memory
    int max_seq, max_batch;    // context limit; tokens per chunk
    KVCache kv;                // grown as positions are used
    float* x;                  // (be) (B, C) residual stream
    float* xb;                 // (be) (B, C) normed input
    float* xb2;                // (be) (B, max(C, Hq*D)) attention output / projection output
    float* q;                  // (be) (B, Hq*D)
    float* k;                  // (be) (B, Hkv*D)
    float* v;                  // (be) (B, Hkv*D)
    float* hb;                 // (be) (B, F) gate
    float* hb2;                // (be) (B, F) up
    float* hmix;               // (be) (B, F) silu(gate) * up
    float* route_buf;          // (B, 4 * E) routing scratch
    float* route_z;            // (B, E) router logits from the backend (route_measure)
    float* route_dist;         // (B) cluster distances d
    int* route_nearest;        // (B) nearest centres
    float* rel_buf;            // (2, B) relative sizes of adapter deltas (for the trace; 2 side-by-side callers)
    float* host_buf;           // host copies of device buffers (backends without host memory)
    size_t host_cap;
    float* scratch;            // (threads, scratch_stride) LoRA scratch (slim_scratch_floats)
    int* iscratch;             // (threads, iscratch_stride) mask index scratch
    size_t scratch_stride, iscratch_stride;
    float* lens_buf;           // (be) (lens_rows, V) logits: one row, or a chunk's when all rows are wanted
    int lens_rows;
    float* rope_inv_freq;      // (D/2)
} RunState;

// max_seq <= 0: the model's maximum; max_batch <= 0: 256 tokens per chunk. runstate_init runs on
// the CPU, runstate_init_on on the given backend (core/device.h chooses one from --device). A
// RunState must be freed before the model and adapter it runs.
int runstate_init(RunState* s, const Model* m, const Adapter* a, int max_seq, int max_batch, Err* err);
int runstate_init_on(RunState* s, Backend* be, const Model* m, const Adapter* a, int max_seq, int max_batch, Err* err);
void runstate_free(RunState* s);

// Runs tokens[0..n) at positions pos..pos+n-1, filling the KV cache for them (n may exceed
// max_batch: it is processed in chunks). logits: (V) for the last position, or (n, V) when
// all_logits. a == NULL or run->mode == MODE_OFF runs the base model. tr may be NULL.
int forward(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, const int* tokens, int n, int pos,
            float* logits, int all_logits, Trace* tr, Err* err);


#endif

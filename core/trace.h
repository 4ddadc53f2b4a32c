// trace.h: every SLIM decision, per position and block (shared/SLIM.md section 7). The engine
// fills it during prefill and decode; views and the JSONL writer only read it. Indexed by the
// absolute position in the sequence, so recomputing a prefix overwrites the same rows.
#ifndef SLIMSCOPE_TRACE_H
#define SLIMSCOPE_TRACE_H

#include "common.h"

#define TRACE_TOPK 5

typedef struct {
    int n_layers, n_experts, n_id;  // E experts, the first n_id are identity experts
    int cap;                        // positions allocated
    int n;                          // positions filled (max position written + 1)
    int* token;                     // (cap) input token at the position
    float* z;                       // (cap, L, E) raw router logits
    float* zy;                      // (cap, L, E) yielded logits z'
    float* pi;                      // (cap, L, E) softmax(z')
    float* w;                       // (cap, L, E) kept weights (0 = not kept)
    int* nearest;                   // (cap, L) nearest centre j*
    float* dist;                    // (cap, L) distance d
    float* id_share;                // (cap, L) identity share (1 when the adapter is off there)
    float* rel_delta;               // (cap, L, 7) ||delta y|| / ||W v|| per projection (0 = untargeted)
    unsigned char* routed;          // (cap, L) 1 when the block had a SLIM router at this position
    // next-token distribution after the position: top TRACE_TOPK ids and probabilities
    int* top_id;                    // (cap, TRACE_TOPK)
    float* top_p;                   // (cap, TRACE_TOPK)
    float* entropy;                 // (cap) in nats
    // logit lens (filled when want_lens): each block's output read through final norm + lm_head
    int want_lens;
    int* lens_id;                   // (cap, L) top token
    float* lens_p;                  // (cap, L) its probability
} Trace;

void trace_init(Trace* t, int n_layers, int n_experts, int n_id, int cap);
void trace_free(Trace* t);
void trace_reset(Trace* t);
// Grows the capacity to at least cap positions (contents kept).
void trace_reserve(Trace* t, int cap);

// What trace_write_jsonl adds to the rows; every field may be NULL.
typedef const char* (*TokenTextFn)(void* ctx, int id);
typedef struct {
    const char* header;                // a JSON object written as the first line (the run's settings)
    TokenTextFn text;                  // the text of a token id ("text")
    void* ctx;                         // for text
    const unsigned char* generated;    // (positions) 1: the token was generated, 0: it came with the prompt ("source")
} TraceExtras;

// Writes positions [from, to) as JSONL (one object per position and block), through a temporary
// file renamed when complete ("-": standard output).
int trace_write_jsonl(const Trace* t, const char* path, int from, int to, const TraceExtras* x, Err* err);

#endif

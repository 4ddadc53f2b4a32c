// session.h: the interactive state shared by the TUI and the batch commands: the loaded model,
// tokenizer and adapter, the run-time SLIM controls, the context tokens with their KV cache, and
// the Trace of everything computed so far.
#ifndef SLIMSCOPE_SESSION_H
#define SLIMSCOPE_SESSION_H

#include "adapter.h"
#include "forward.h"
#include "sampler.h"
#include "settings.h"
#include "tokenizer.h"
#include "trace.h"

typedef struct {
    Model model;
    Tokenizer tok;
    int has_tok;
    Adapter adapter;
    int has_adapter;
    SlimRun run;
    RunState rs;               // KV cache of the context
    RunState aux;              // second cache for what-if recomputations (other p, base model)
    Trace trace;
    int* tokens;               // (max_seq) context
    int n_tokens;
    float* logits;             // (V) next-token logits after the last context token
    int threads;
} Session;

// Loads --model (and its tokenizer when tokenizer.json is there), --adapter, and applies the
// SLIM options of st (mask ratio/seed/refresh, adapter mode, --force, --adapter-layers).
int session_open(Session* s, const Settings* st, Err* err);
void session_close(Session* s);

// Swaps the adapter (NULL dir: none) without reloading the model; the context is recomputed.
int session_load_adapter(Session* s, const char* dir, Err* err);
// Re-validates p and rebuilds mask caches after the caller changed s->run.
int session_apply_run(Session* s, Err* err);

// Prompt ids from --ids or --prompt (tokenized with special tokens); *ids is malloc'd.
int session_prompt_ids(Session* s, const Settings* st, int** ids, int* n, Err* err);
int session_encode(Session* s, const char* text, int add_special, int** ids, int* n, Err* err);

// Appends ids to the context and runs them (trace and logits updated).
int session_feed(Session* s, const int* ids, int n, Err* err);
// Recomputes the whole context under the current run settings (after a change of p or mode).
int session_recompute(Session* s, Err* err);
void session_reset(Session* s);

// Next-token logits (V) after position pos (0-based, < n_tokens) under `run` (NULL: adapter off),
// computed in the auxiliary cache so the context is untouched.
int session_logits_at(Session* s, int pos, const SlimRun* run, float* logits, Err* err);

// Text of one token for display (the tokenizer piece decoded, or "#id" without a tokenizer).
const char* session_token_text(Session* s, int id, char* buf, size_t n);

#endif

// session.h: the interactive state shared by the TUI and the batch commands: the loaded model,
// tokenizer and adapter, the run-time SLIM controls, the context tokens with their KV cache, and
// the Trace of everything computed so far.
#ifndef SLIMSCOPE_SESSION_H
#define SLIMSCOPE_SESSION_H

#include "adapter.h"
#include "device.h"
#include "forward.h"
#include "generation.h"
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
    int untraced;              // set by commands that read only the logits: the trace is not filled
    int* tokens;               // (max_seq) context
    int n_tokens;
    float* logits;             // (V) next-token logits after the last context token
    int threads;
    Backend* be;               // where the forward passes run (--device)
} Session;

// Loads --model (and its tokenizer when tokenizer.json is there), --adapter, applies the SLIM
// options of st (mask ratio/seed/refresh, adapter mode, --force, --adapter-layers) and opens the
// --device backend (with --device auto and no usable GPU: one line on stderr, then the CPU).
int session_open(Session* s, const Settings* st, Err* err);
void session_close(Session* s);

// The --device backend for command cmd: with auto and no usable GPU, one line on stderr saying
// why, then the CPU; Q8_0 weights (a WeightsMode) run on the CPU only. 0, or -1 with err.
int session_open_device(DeviceKind kind, int weights, const char* cmd, Backend** be, Err* err);

// Swaps the adapter (NULL dir: none) without reloading the model; the context is recomputed.
int session_load_adapter(Session* s, const char* dir, Err* err);
// Re-validates p and rebuilds mask caches after the caller changed s->run.
int session_apply_run(Session* s, Err* err);

// Prompt ids from --ids or --prompt (tokenized with special tokens); *ids is malloc'd.
int session_prompt_ids(Session* s, const Settings* st, int** ids, int* n, Err* err);
int session_encode(Session* s, const char* text, int add_special, int** ids, int* n, Err* err);

// Appends ids to the context and runs them (trace and logits updated).
int session_feed(Session* s, const int* ids, int n, Err* err);
// Sets g up to generate up to n_new tokens after the context with sm (flags: GEN_*), feeding them
// with session_feed and stopping at the tokenizer's (or the model's) EOS; the caller adds on_token.
void session_generation(Session* s, Generation* g, Sampler* sm, int n_new, unsigned flags);
int session_eos(const Session* s);  // the tokenizer's EOS id, or the model's
// Recomputes the whole context under the current run settings (after a change of p or mode).
int session_recompute(Session* s, Err* err);
void session_reset(Session* s);

// Next-token logits (V) after position pos (0-based, < n_tokens) under `run` (NULL: adapter off),
// computed in the auxiliary cache so the context is untouched.
int session_logits_at(Session* s, int pos, const SlimRun* run, float* logits, Err* err);

// Text of one token for display (the tokenizer piece decoded, or "#id" without a tokenizer).
const char* session_token_text(Session* s, int id, char* buf, size_t n);

// ---------------------------------------------------------------------------------------------
// For the TUI (views/worker.c): what-if computations in the auxiliary cache (the context's own
// cache and trace are untouched), and per-position summaries of a trace for display.

// dst = src's controls (mode, seed, refresh, forcing, active layers) with mask ratio p, prepared.
// dst must be uninitialised or freed; free it with slim_run_free.
int session_run_copy(Session* s, SlimRun* dst, const SlimRun* src, float p, Err* err);

// Next-token logits (V) after position pos under run (NULL: adapter off); when lens_id/lens_p
// (L entries each) are given, also the logit lens of position pos at every block.
int session_probe_at(Session* s, int pos, const SlimRun* run, float* logits, int* lens_id, float* lens_p, Err* err);

// Logits ((n_tokens - from) x V) of the context positions [from, n_tokens) under run (NULL: off).
int session_context_logits(Session* s, const SlimRun* run, int from, float* out, Err* err);

// Over n rows of V logits: mean KL(P || Q) (nats) and the fraction of rows whose top-1 ids agree.
void session_compare_logits(const float* p_logits, const float* q_logits, int n, int V, double* kl_mean, double* top1_agree);

// Keeps the first n context tokens (their KV rows stay valid) and recomputes the logits after them.
int session_truncate(Session* s, int n, Err* err);

// Continues context[0..start) by up to count tokens sampled with sm under run, in the auxiliary
// cache; stops before eos (eos < 0: never). Returns the number of ids written to out, or -1.
int session_continue_aux(Session* s, const SlimRun* run, int start, int count, Sampler* sm, int eos, int* out, Err* err);

// 1 when trace row pl (pos * L + l) is a block where a plain LoRA adapter (no router) was applied.
int session_plain_lora_on(const Trace* t, size_t pl);
// Mean identity share over the blocks that had a router, or an always-on plain LoRA, at pos (1 when
// none had: nothing of an adapter was applied).
float session_mean_id_share(const Trace* t, int pos);
// At (pos, l): 0 a plain LoRA applied there (its one expert); -2 no router; -1 identity experts hold most of the weight; k >= 0: LoRA expert k
// (counted among the LoRA experts) holds the largest weight.
int session_dominant_expert(const Trace* t, int pos, int l);
// The distance d at which the yield (identity logits + gamma * d, SLIM.md section 2 step 4) makes an
// identity expert the top-1 at (pos, l); NAN without a router or when gamma is 0.
float session_identity_win_d(const Trace* t, int pos, int l, YieldMap y);

#endif

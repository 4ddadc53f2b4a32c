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
    unsigned char* generated;  // (max_seq) 1 where the context token was generated, 0 where it came with a prompt
    int n_tokens;
    int max_seq;               // positions of the caches (--ctx)
    float* logits;             // (V) next-token logits after the last context token
    int threads;
    Backend* be;               // where the forward passes run (--device)
    // a second adapter B beside the first (A), on the same context: `compare`, the TUI's `:compare`
    Adapter cmp;
    int has_cmp;
    SlimRun cmp_run;           // s->run's controls (mode, p, mask seed and refresh, adapter layers), no forcing
    RunState cmp_rs;           // B's cache
} Session;

// Loads --model (and its tokenizer when tokenizer.json is there), --adapter, applies the SLIM
// options of st (mask ratio/seed/refresh, adapter mode, --force, --adapter-layers) and opens the
// --device backend (with --device auto and no usable GPU: one line on stderr, then the CPU).
int session_open(Session* s, const Settings* st, Err* err);
// session_open for a command: 0 when open; otherwise prints the error, frees st and returns 1 (the
// command's exit status).
int session_open_cmd(Session* s, Settings* st);
void session_close(Session* s);

// The --device backend for command cmd: with auto and no usable GPU, one line on stderr saying
// why, then the CPU; Q8_0 weights (a WeightsMode) run on the CPU only. 0, or -1 with err.
int session_open_device(DeviceKind kind, int weights, const char* cmd, Backend** be, Err* err);

// Swaps the adapter (NULL dir: none) without reloading the model; the context is recomputed.
int session_load_adapter(Session* s, const char* dir, Err* err);
// Frees and re-makes the context's caches and trace (the context is recomputed): on a device backend
// the last RunState to end drops the device's copies of adapter tensors, so none outlives its adapter.
int session_reopen_states(Session* s, Err* err);
// Re-validates p and rebuilds mask caches after the caller changed s->run.
int session_apply_run(Session* s, Err* err);

// Prompt ids from --ids or --prompt (tokenized with special tokens; `-`: standard input); *ids is
// malloc'd (NULL on error). A prompt longer than the context is refused with its size.
int session_prompt_ids(Session* s, const Settings* st, int** ids, int* n, Err* err);
int session_encode(Session* s, const char* text, int add_special, int** ids, int* n, Err* err);

// Appends ids to the context and runs them (trace and logits updated).
int session_feed(Session* s, const int* ids, int n, Err* err);
// Sets g up to generate up to n_new tokens after the context with sm (flags: GEN_*), feeding them
// with session_feed and stopping at the tokenizer's (or the model's) EOS; the caller adds on_token.
void session_generation(Session* s, Generation* g, Sampler* sm, int n_new, unsigned flags);
int session_eos(const Session* s);  // the tokenizer's EOS id, or the model's
// The one stderr line of a command whose generation stopped at the end of the context (GEN_FULL).
void session_report_full(const Session* s, const char* cmd, int produced, int asked);
// Recomputes the whole context under the current run settings (after a change of p or mode).
int session_recompute(Session* s, Err* err);
void session_reset(Session* s);

// The sampler settings of a generation, for the first line of a saved trace.
typedef struct {
    float temp, top_p;
    uint64_t seed;
    int n_new;
} SamplingSettings;

// app/session_trace.c: the trace of the context as JSONL (path "-": standard output), its first
// line the settings (session_settings_json: {"settings":{...}}, malloc'd) and each position marked
// "source": "prompt" or "generated". cmd names the command that wrote it.
char* session_settings_json(const Session* s, const char* cmd, const SamplingSettings* sm);
int session_write_trace(Session* s, const char* path, const char* cmd, const SamplingSettings* sm, Err* err);

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

// ---------------------------------------------------------------------------------------------
// app/session_compare.c: adapter A (the session's; none: the base model) against a second adapter
// B on the context. B runs under A's mode, p, mask seed and refresh and adapter layers (not its
// forcing: that names A's experts).

// Loads B (replacing a B loaded before; on a load failure the old one stays); session_close frees it.
int session_compare_open(Session* s, const char* dir, Err* err);
// Frees B; on a device backend the context's caches are re-made (session_reopen_states) first.
int session_compare_close(Session* s, Err* err);
void session_compare_free(Session* s);  // for session_close

typedef struct {
    int n;                     // positions compared (the context)
    double* kl;                // (n) KL(A || B) of the next-token distributions after each position, nats
    int *top_a, *top_b;        // (n) their top-1 ids
    Trace tb;                  // B's routing at every position (A's is the session's trace)
} Comparison;

// Runs the context under A and B (A in the auxiliary cache: the context's own cache and trace are
// untouched) into c (initialised here; free it with comparison_free).
int session_compare_context(Session* s, Comparison* c, Err* err);
void comparison_free(Comparison* c);
// Over n rows of V logits: KL(A || B) per row (double precision) and the top-1 id of each.
void compare_rows(const float* la, const float* lb, int n, int V, double* kl, int* top_a, int* top_b);

// How A's and B's routing differ at (pos, l): identity share of each, kept experts of each (names
// as slim_expert_name, "on" for a plain LoRA applied there: its one always-on expert, "-" where
// the adapter is not applied), and whether they differ (identity shares more than 0.005 apart, or,
// both SLIM, other kept experts).
typedef struct {
    float share_a, share_b;
    char kept_a[96], kept_b[96];
    int differs;
} BlockDiff;
void compare_block(const Trace* ta, const Trace* tb, int pos, int l, BlockDiff* d);

#endif

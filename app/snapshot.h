// snapshot.h: everything the views read, in one struct. The worker thread owns the Session and
// publishes what it computed into a Snapshot (under a mutex); the UI thread renders from it and
// never touches the Session. A test builds one by hand from a Trace (snapshot_set_trace).
#ifndef SLIMSCOPE_SNAPSHOT_H
#define SLIMSCOPE_SNAPSHOT_H

#include <stdint.h>

#include "session.h"
#include "trace.h"

#define SWEEP_MAX 16
#define CMP_BASE 0   // adapter off
#define CMP_P0 1     // adapter at p = 0
#define CMP_CUR 2    // adapter at the current p

typedef struct {
    unsigned long version;     // bumped on every publish
    // what is loaded
    char model_name[128];
    char adapter_name[128];
    char adapter_kind[96];     // "SLIM 2 id + 8 LoRA, top-2" / "LoRA" / "none"
    char device[16];
    int has_adapter, is_slim;
    int n_layers, n_experts, n_id, n_clusters, vocab;
    float yield_scale;
    float* yield_offset;       // (n_layers) the yield is yield_scale * (d - offset) / span at each
    float* yield_span;         //   block (slim_yield_map); 0 and 1 (the paper's form) after snapshot_shape
    float lora_scale;          // s = lora_alpha / r (sqrt(r) with rsLoRA)
    int threads, max_seq;
    // the run the trace was computed with
    int mode;                  // AdapterMode
    float p;
    uint64_t mask_seed;
    int* force;                // (n_layers) -1 = routed normally
    // the context
    int n;                     // tokens (== tr.n)
    int gen_start;             // first position of the last generation (n when there was none)
    // the run the generated text [gen_start, n) was sampled under: the panels are recomputed when
    // the run changes, the text is not, so it is shown stale until regenerated (snapshot_gen_stale)
    float gen_p;
    int gen_mode;
    uint64_t gen_mask_seed;
    int* gen_force;            // (n_layers)
    unsigned long adapter_ver, gen_adapter_ver;  // bumped by each :load; its value then
    char gen_adapter[128];
    Trace tr;                  // copy of the session trace, rows [0, n)
    char** text;               // (tr.cap) text each token adds to the output (streaming decode: "" for
                               //   a token that only starts a multi-byte character)
    char** label;              // (tr.cap) the token on its own, for titles ("\xE6" for a partial byte)
    const char* const* vocab_text;  // (vocab) display text of any id (shared, read-only)
    // per-position summaries (session_mean_id_share, session_dominant_expert, session_identity_win_d)
    float* tok_share;          // (tr.cap)
    signed char* dominant;     // (tr.cap, L) -2 no router, -1 identity, k LoRA expert k
    float* win_d;              // (tr.cap, L)
    // masking panel: next-token comparison at cmp_pos (base, p = 0, current p)
    int cmp_valid, cmp_pos;
    float cmp_p;
    int cmp_id[3][TRACE_TOPK];
    float cmp_prob[3][TRACE_TOPK];
    double kl_p0, kl_base;     // KL(p=0 || p), KL(base || p)
    int* lens_off_id;          // (n_layers) logit lens at cmp_pos with the adapter off
    float* lens_off_p;
    int* lens_on_id;           // (n_layers) logit lens at cmp_pos at the current p
    float* lens_on_p;
    // KL and top-1 agreement with p = 0 against p, averaged over the context (background)
    int sweep_n, sweep_total;  // points done / planned
    int sweep_positions;
    float sweep_p[SWEEP_MAX];
    double sweep_kl[SWEEP_MAX], sweep_agree[SWEEP_MAX];
    // `:compare DIR`: a second adapter B on the context (app/session_compare.c), at cmpb_pos
    int cmpb_on;
    char cmpb_name[128], cmpb_kind[96];
    int cmpb_valid, cmpb_pos;  // the fields below describe the context at cmpb_pos
    double cmpb_kl;            // KL(A || B) after cmpb_pos
    int cmpb_top_a, cmpb_top_b;
    BlockDiff* cmpb_blk;       // (n_layers) the routing difference per block at cmpb_pos
    int cmpb_n, cmpb_top_diff; // positions compared; of those, where top-1 differs
    double cmpb_kl_mean;
    // `g`: the continuation regenerated at p against the one at p = 0
    int regen_state;           // 0 none, 1 running, 2 done
    int regen_start, regen_div;  // first position; first diverging offset (-1: none so far)
    float regen_p;
    int regen_len;
    int* regen_p0;             // (regen_cap) the p = 0 continuation
    int regen_cap;
    // activity
    int busy;                  // generating or recomputing
    char busy_what[64];
    double tok_per_s;
    char msg[512];
    int msg_error;
    unsigned long msg_seq;     // bumped with each new message
} Snapshot;

void snapshot_init(Snapshot* s);
void snapshot_free(Snapshot* s);
// Shapes the snapshot for a model/adapter (n_layers, n_experts, n_id); drops the context.
void snapshot_shape(Snapshot* s, int n_layers, int n_experts, int n_id);
// Copies trace rows [from, t->n) (and n = t->n), with texts and labels from text[i - from] and
// label[i - from] when given (strings are copied; label NULL: the text), and recomputes the
// summaries of those rows.
void snapshot_set_trace(Snapshot* s, const Trace* t, int from, const char* const* text, const char* const* label);
void snapshot_set_text(Snapshot* s, int pos, const char* text, const char* label);
// The label of the token at pos ("" when unknown).
const char* snapshot_label(const Snapshot* s, int pos);
void snapshot_message(Snapshot* s, int error, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// 1 when there is generated text and it was sampled under another run than now: p, mode and mask
// seed as asked for (the UI's, ahead of the worker), the adapter and forcing as published. why gets
// what it was sampled under: "p 0.60", then what else differs (", mode slim", ", adapter a", ...).
int snapshot_gen_stale(const Snapshot* s, float p, int mode, uint64_t mask_seed, char* why, size_t n);
// Text of a vocabulary id ("#id" when no table or out of range); buf holds at least 16 bytes.
const char* snapshot_vocab(const Snapshot* s, int id, char* buf, int n);

#endif

// train.h: the training engine. Op pairs (x_forward / x_backward, llm.c style: outputs, inputs,
// weights, dims; every backward accumulates with +=) in core/train_ops.c; the training model
// (parameters, gradients, activations and AdamW state, each one allocation sliced by a size
// table), SLIM / LoRA / MoE-LoRA blocks, sliding clusters, the optimiser step and the learning-rate
// schedule in core/train.c; checkpoints, the progress log and the bench in core/train_io.c.
// Pretraining trains every base weight; fine-tuning freezes the base model and trains the
// adapter's routers and LoRA A/B (shared/SLIM.md section 5).
//
// AdamW weight decay: pretraining decays the matrices (embeddings, every projection, lm_head),
// never the norms or biases; fine-tuning decays LoRA A/B and the router weight, never the router
// bias. The sliding clusters (centres, sigma) are no parameters of the optimiser at all.
#ifndef SLIMSCOPE_TRAIN_H
#define SLIMSCOPE_TRAIN_H

#include "adapter.h"
#include "model.h"
#include "slim.h"

// ---------------------------------------------------------------------------------------------
// ops (core/train_ops.c). N = B*T rows. Activations are row-major (N, channels).

// Threads for the OpenMP loops and OpenBLAS (both); 0 = leave as is.
void train_set_threads(int n);
int train_get_threads(void);
// Seconds spent in sgemm calls made outside parallel regions (the bench's matmul share).
double train_matmul_seconds(int reset);
// Wall seconds inside attention_forward / attention_backward (their sgemm calls are not in the above).
double train_attention_seconds(int reset);

// out (N, C) = wte[tokens]
void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C);
void embedding_backward(float* dwte, const float* dout, const int* tokens, int N, int C);

// out = inp / sqrt(mean(inp^2) + eps) * weight, per row; rstd (N) saved for the backward.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C);

// PyTorch: out (N, OC) = inp (N, IC) @ weight.T + bias; weight (OC, IC); bias may be NULL.
// Backward: any of dinp, dweight, dbias may be NULL (frozen weights, first layer).
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int IC, int OC);
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int IC, int OC);

// RoPE in Hugging Face's rotate_half layout (element i pairs with i + D/2) on (N, H, D) where row
// n sits at position pos[n]; cos/sin tables are (max_pos, D/2). out may alias inp.
void rope_forward(float* out, const float* inp, const float* cos_t, const float* sin_t, const int* pos, int N, int H,
                  int D);
void rope_backward(float* dinp, const float* dout, const float* cos_t, const float* sin_t, const int* pos, int N,
                   int H, int D);
// cos_t/sin_t (max_pos, D/2) from inv_freq, with the same float arithmetic as core/cpu.c.
void rope_tables(float* cos_t, float* sin_t, const float* inv_freq, int max_pos, int D);

// Causal self-attention with GQA (query head h reads key/value head h / (Hq/Hkv)).
// q (B, T, Hq*D), k, v (B, T, Hkv*D), out (B, T, Hq*D); att (B, Hq, T, T) saves the probabilities
// (zeros above the diagonal). Backward: dq, dk, dv accumulate.
void attention_forward(float* out, float* att, const float* q, const float* k, const float* v, int B, int T, int Hq,
                       int Hkv, int D);
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* att, int B, int T, int Hq, int Hkv, int D);

// out = silu(gate) * up, elementwise.
void swiglu_forward(float* out, const float* gate, const float* up, size_t n);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n);

// losses (N) = -log softmax(logits)[target]; rows with target < 0 get loss 0. probs (N, V) may
// alias logits. Backward WRITES dlogits = dloss * (probs - onehot) (0 on ignored rows), so that
// dlogits may alias probs (the logits buffer is used three times); it does not accumulate.
void crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, int N, int V);
void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V);

// One LoRA expert applied to a gathered set of n rows: for i < n, t = idx[i] (idx NULL: t = i),
//   y[t] += w[i] * scale * B (A v[t])            (w NULL: weight 1)
// A (r, IC), B (OC, r). h (n, r) saves A v[t] for the backward; scratch: n * (IC + r + OC) floats.
void lora_forward(float* y, float* h, float* scratch, const float* v, const int* idx, const float* w, int n,
                  const float* A, const float* B, float scale, int IC, int OC, int r);
// dv[t] += ..., dA += ..., dB += ..., dw[i] += scale * <B^T dy[t], h[i]> (dw may be NULL).
// scratch: at least n * (2 IC + OC + 2 r) floats.
void lora_backward(float* dv, float* dA, float* dB, float* dw, const float* dy, const float* v, const int* idx,
                   const float* w, const float* h, int n, const float* A, const float* B, float scale, int IC,
                   int OC, int r, float* scratch);

// Router backward through the renormalised softmax over the kept set (SLIM.md section 2 step 5):
// kept weights are w_i = exp(z'_i) / sum_{j kept} exp(z'_j), so dz'_i = w_i (dw_i - sum_j w_j dw_j)
// on the kept set; the top-k choice and the yield term gamma * d are constants. dpi (N, E), may be
// NULL: gradient w.r.t. the full softmax pi (the balance loss). dz = dz'. Then dW_r += dz^T x,
// db_r += sum dz, dx += dz W_r. dz: scratch (N, E). Any of dx, dWr, dbr may be NULL.
void router_backward(float* dx, float* dWr, float* dbr, float* dz, const float* dw, const float* dpi, const float* x,
                     const float* Wr, const float* w, const float* pi, int N, int C, int E);

// ---------------------------------------------------------------------------------------------
// the training model (core/train.c)

typedef enum { TRAIN_PRETRAIN = 0, TRAIN_LORA, TRAIN_MOELORA, TRAIN_SLIM } TrainMethod;
const char* train_method_name(TrainMethod m);
int train_method_from_name(const char* s);  // -1 when unknown

typedef struct {
    TrainMethod method;
    int batch;              // sequences per micro-batch (B)
    int seq_len;            // T (maximum; fine-tuning batches may be shorter)
    int accum;              // micro-batches per optimiser step
    int steps, warmup;      // total optimiser steps; linear warmup steps
    float lr, min_lr_frac;  // peak learning rate; cosine decays to lr * min_lr_frac at `steps`
    float weight_decay, beta1, beta2, adam_eps, grad_clip;  // grad_clip <= 0: no clipping
    uint64_t seed;
    // fine-tuning (SLIM.md section 5)
    float l1_lambda, balance_lambda, train_mask_ratio;
    int update_clusters;    // sliding-cluster updates in training forwards (SLIM); 0 freezes them
    float init_std;         // pretraining: N(0, init_std) weights (o/down scaled by 1/sqrt(2L))
} TrainConfig;
void train_config_default(TrainConfig* c, TrainMethod m);

// A contiguous run of trainable floats in the parameter storage; AdamW and clipping walk these.
typedef struct {
    char name[128];
    size_t off, n;
    int decay;              // AdamW weight decay applies (matrices: linear weights, embeddings, LoRA A/B, router)
} ParamGroup;

// One micro-batch: tokens and targets (B, T); targets < 0 are not scored. lens (B) may be NULL:
// row b holds lens[b] real tokens, the rest is padding (not used for clusters or balance).
typedef struct {
    int B, T;
    int* tokens;
    int* targets;
    int* lens;
} Batch;

typedef struct {
    float loss;             // total objective: CE + l1_lambda * L1 + balance_lambda * balance
    float ce;               // mean cross-entropy over the scored targets
    float l1, balance;      // the unweighted regularisers (0 when off)
    float grad_norm;        // global norm before clipping
    float lr;
    int n_tokens;           // scored targets in the step
} StepStats;

typedef struct {
    TrainConfig tc;
    Model* model;           // base weights; trained in pretraining, frozen otherwise
    Adapter* adapter;       // trained in fine-tuning; NULL in pretraining
    int L, C, F, V, Hq, Hkv, D, E, K;  // K: LoRA experts kept per token at most
    int first_layer;        // the lowest block whose backward is needed
    // parameters: the model's or the adapter's single storage; gradients and AdamW state mirror it
    float* params;
    size_t n_params;
    float* grads;           // (n_params) same offsets as params
    float* adam_m;          // (n_params)
    float* adam_v;          // (n_params)
    Model gmodel;           // pretraining: a Model whose pointers lie in grads (same offsets)
    Adapter gadapter;       // fine-tuning: an Adapter whose pointers lie in grads
    Adapter madapter;       // fine-tuning with train_mask_ratio > 0: masked copies of A/B for this step
    float* mask_storage;
    ParamGroup* groups;
    int n_groups;
    // activations: one allocation, sizes from a table (see train.c)
    float* acts_memory;
    size_t n_acts;
    int* iacts_memory;      // token lists, positions, nearest centres
    size_t n_iacts;
    float* rope_cos;        // (T, D/2)
    float* rope_sin;
    // SLIM state
    SlimRun run;            // mode slim, mask ratio = train_mask_ratio, refresh per step (epoch = step)
    float* cluster_var;     // (L, N, C) per-channel variance behind sigma = sqrt(var + 1e-6)
    int clusters_ready;
    // bookkeeping
    uint64_t step;          // optimiser steps taken
    int cur_B, cur_T;       // shape of the last forward
    int cur_has_acts;       // the last forward saved activations for a backward
    double cur_loss_sum;    // sum of CE over scored targets in the last forward
    int cur_n_valid;
    int cur_n_real;         // tokens that are not padding (Batch.lens)
    double cur_balance;     // balance term of the last backward (unweighted)
    float balance_scale;    // 1 / micro-batches of the step: the balance term is their mean
    double stat_matmul_s, stat_total_s;  // seconds in sgemm / in forward+backward (for the bench)
} Trainer;

// Pretraining: m is a randomly initialised (or loaded) model, a == NULL. Fine-tuning: m frozen, a
// allocated by adapter_alloc (init with trainer_init_adapter). tc->batch, seq_len size the buffers.
int trainer_init(Trainer* t, Model* m, Adapter* a, const TrainConfig* tc, Err* err);
void trainer_free(Trainer* t);
// Pretraining init: weights N(0, std), residual projections (o, down) scaled by 1/sqrt(2L), norms 1.
void trainer_init_model_weights(Model* m, float std, uint64_t seed);
// Adapter init (SLIM.md section 5): A ~ Kaiming-uniform (PEFT: bound 1/sqrt(in)), B = 0,
// router N(0, 0.02), bias 0; centres/sigma are set from the first training batch.
void trainer_init_adapter(Adapter* a, uint64_t seed);

// Forward over one micro-batch. train != 0: saves activations for trainer_backward and applies
// the sliding-cluster updates (SLIM). Returns the summed CE over scored targets; *n_valid their count.
double trainer_forward(Trainer* t, const Batch* b, int train, int* n_valid);
void trainer_zero_grad(Trainer* t);
// Backward of the last training forward; dloss = d objective / d (summed CE), e.g. 1 / n_valid.
void trainer_backward(Trainer* t, float dloss);
// The regularisers on the adapter: adds l1_lambda * dL1 to grads; returns the unweighted L1.
double trainer_l1(Trainer* t, int add_grad);
// One optimiser step over n_micro micro-batches: zero grads, forward+backward each (CE normalised
// over all scored targets of the step), regularisers, clipping, AdamW at the scheduled lr.
void trainer_step(Trainer* t, const Batch* micro, int n_micro, StepStats* st);
// (B*T, V) next-token probabilities of the last forward (valid until the next backward).
const float* trainer_probs(const Trainer* t);
// Sliding clusters of block l from token states x (rows real[0..n_real)): the init from the first
// batch and the per-token update (SLIM.md section 5). Called by the training forward.
void train_clusters_init(Trainer* t, int l, const float* x, const int* real, int n_real);
void train_clusters_update(Trainer* t, int l, const float* x, const int* real, int n_real);
// Mean CE over the given batches without touching any state (no cluster updates).
double trainer_eval(Trainer* t, const Batch* batches, int n, int* n_tokens);

// Learning rate at step s (0-based): linear warmup from lr/warmup to lr, then cosine to lr*min_lr_frac.
float train_lr(const TrainConfig* c, int step);
// Global L2 norm of the trainable gradients (deterministic order).
double trainer_grad_norm(const Trainer* t);
void trainer_adamw(Trainer* t, float lr);

// ---------------------------------------------------------------------------------------------
// checkpoints (core/train_io.c): one file written to a temporary name and renamed, holding the
// parameters, AdamW moments, cluster variances, step, and a caller-supplied text blob (data
// position, RNG states, schedule and early-stopping state as key=value lines).

int trainer_save_checkpoint(const Trainer* t, const char* path, const char* extra, Err* err);
// Restores a checkpoint into an initialised trainer of the same shape. *extra (malloc'd) gets the blob.
int trainer_load_checkpoint(Trainer* t, const char* path, char** extra, Err* err);
// Reads only the text blob of a checkpoint (to rebuild the trainer before loading the rest).
int checkpoint_read_extra(const char* path, char** extra, Err* err);
// key=value lookup in a blob; returns NULL when absent (pointer into a static buffer per call).
const char* kv_get(const char* blob, const char* key, char* buf, size_t n);

// ---------------------------------------------------------------------------------------------
// progress line and CSV log (core/train_io.c)

typedef struct {
    FILE* csv;
    int tty;
    double t0, last_print;
    int total_steps, done_steps;
} TrainLog;

// resume_step >= 0: keep the CSV's rows up to that step (a resumed run rewrites the later ones).
int trainlog_open(TrainLog* lg, const char* csv_path, int resume_step, int total_steps, Err* err);
// Prints the progress line (\r on a terminal, one line per call otherwise every `every` steps)
// and appends the CSV row step,loss,lr,tokens_per_s,val_loss (val_loss empty when < 0).
void trainlog_step(TrainLog* lg, int step, const StepStats* st, double tokens_per_s, float val_loss);
void trainlog_close(TrainLog* lg);

// `slimscope bench`: training tokens/s and share of time in matmuls for a ~4M-parameter model.
void train_bench(void);

#endif

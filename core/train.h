// train.h: the training engine. Op pairs (x_forward / x_backward, llm.c style: outputs, inputs,
// weights, dims; every backward accumulates with +=) in core/ops.c (shared with inference); the training model
// (parameters, gradients, activations and AdamW state, each one allocation sliced by a size
// table), SLIM / LoRA / MoE-LoRA blocks, sliding clusters, the optimiser step and the learning-rate
// schedule in core/train*.c; checkpoints and the progress log in core/train_io.c.
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
#include "ops.h"
#include "slim.h"

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
    int skip_special;       // special input tokens (BOS, ...; trainer_set_special) stay out of the
                            // cluster fitting, the yield quantiles and the balance term's load
    int balance_lora_only;  // the balance term spreads the load over the LoRA experts only (identity
                            // experts neither counted nor pushed); 0: over all E experts
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
    unsigned char* special; // (V) 1 for the special token ids (trainer_set_special); NULL: none
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
// Marks token ids as special (tc.skip_special keeps them out of the routing statistics).
void trainer_set_special(Trainer* t, const int* ids, int n);
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
// yield_calibration "quantile": q50, q90 of block l's in-distribution d. The init sets them to the
// first batch's quantiles (d against the fresh centres); the update moves them by the sliding
// rule, q = (1 - m) q + m q_batch, with q_batch the quantiles of the batch's routing distances.
void train_yield_quantiles_init(Trainer* t, int l, const float* x, const int* real, int n_real);
void train_yield_quantiles_update(Trainer* t, int l, const float* dist, const int* real, int n_real);
// The tau-quantile of v (n values, sorted in place): linear interpolation at tau * (n - 1).
float train_quantile(float* v, int n, float tau);
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

#endif

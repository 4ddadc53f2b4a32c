// train_internal.h: what the files of the training engine share (core/train.c, train_adapter.c,
// train_forward.c, train_step.c) and nothing else includes: the activation table and its views.
#ifndef SLIMSCOPE_TRAIN_INTERNAL_H
#define SLIMSCOPE_TRAIN_INTERNAL_H

#include "train.h"

#define PAR(work) ((work) >= 32768)  // small loops stay on one thread

// activations: a size table, one allocation (llm.c's ActivationTensors)
enum {
    A_RES, A_LN1, A_LN1_RSTD, A_Q, A_K, A_V, A_ATT, A_ATTY, A_RES_MID, A_LN2, A_LN2_RSTD, A_GATE, A_UP, A_HMIX,
    A_LNF, A_LNF_RSTD, A_LOGITS, A_LOSSES,
    A_RZ, A_RZY, A_RPI, A_RW, A_RDIST, A_LORA_H, A_LORA_W,
    // backward scratch (one layer at a time)
    A_DRES, A_DLN, A_DATTY, A_DQR, A_DQ, A_DKR, A_DK, A_DV, A_DGATE, A_DUP, A_DHMIX, A_DW, A_DZ, A_DPI, A_DWL,
    A_LSCRATCH, A_DAB,
    A_COUNT
};
enum { I_TOKENS, I_TARGETS, I_POS, I_REAL, I_NEAREST, I_LORA_IDX, I_LORA_N, I_MASK, I_COUNT };

typedef struct {
    float* a[A_COUNT];
    int* i[I_COUNT];
} ActViews;

// Slices the trainer's activation allocation by the size table.
void train_act_views(const Trainer* t, ActViews* v);
// Per (layer, projection) slot of the saved LoRA activations: -1 when the projection is untargeted.
int train_lora_slot(const Trainer* t, int p);
// Writes A' (dropped columns zeroed) and B' (dropped rows zeroed) into the mask storage.
void train_prepare_masks(Trainer* t, int* ibuf);
// y (BT, out) += the adapter's delta on projection p of block l for input v (BT, in).
void train_adapter_forward(Trainer* t, ActViews* av, int l, int p, float* y, const float* v, int BT);
// The backward of train_adapter_forward.
void train_adapter_backward(Trainer* t, ActViews* av, int l, int p, float* dv, const float* dy, const float* v,
                                  int BT);

#endif

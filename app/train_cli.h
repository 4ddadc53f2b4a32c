// train_cli.h: helpers shared by the training commands (app/cmd_train.c, cmd_pretrain.c, cmd_eval.c).
#ifndef SLIMSCOPE_TRAIN_CLI_H
#define SLIMSCOPE_TRAIN_CLI_H

#include <signal.h>

#include "common.h"
#include "options.h"
#include "safetensors.h"
#include "train.h"

// --dtype of the commands that write weights: the choices and the DType of each.
#define DTYPE_CHOICES "f32|f16|bf16"
extern const DType DTYPE_OF_CHOICE[3];
int checkpoint_locate(const char* dir, char* path, size_t n, Err* err);
int recipe_check(const char* saved, const char* now, Err* err);
extern volatile sig_atomic_t g_train_stop;  // set by SIGINT after train_catch_sigint()
void train_catch_sigint(void);

#endif

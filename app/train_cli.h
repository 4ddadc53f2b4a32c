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
// At the start of a run: removes from dir and dir/checkpoint/ the temporary files of a run that was
// killed while writing (see atomic_remove_stale), saying so on stderr.
void remove_stale_tmp_files(const char* dir);
// The one-line error of a failed final write (err), with where the work can be continued: the last
// checkpoint written (step >= 0) or none.
void final_write_failed(Err* err, const char* what, const char* out, const char* ckpt_path, int ckpt_step);
extern volatile sig_atomic_t g_train_stop;  // set by SIGINT after train_catch_sigint()
void train_catch_sigint(void);

#endif

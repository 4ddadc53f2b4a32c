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
// options_begin for a training command: its own table plus --threads (by the rule of every command),
// whose count it applies. Returns options_begin's status (>= 0: exit with it).
int train_options_begin(const char* cmd, const Option* table, void* args, int argc, char** argv, const char* usage);
// At the start of a run: removes from out (and resume, when another directory) and their checkpoint/
// the temporary files of a run that was killed while writing (see atomic_remove_stale), saying so.
void remove_stale_tmp_files(const char* out, const char* resume);
// The one-line error of a failed final write (err), with where the work can be continued: the last
// checkpoint written (step >= 0) or none.
void final_write_failed(Err* err, const char* what, const char* out, const char* ckpt_path, int ckpt_step);
extern volatile sig_atomic_t g_train_stop;  // set by SIGINT after train_catch_sigint()
void train_catch_sigint(void);

#endif

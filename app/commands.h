// commands.h: one entry point per subcommand (app/cmd_*.c). Each returns the process exit status.
#ifndef SLIMSCOPE_COMMANDS_H
#define SLIMSCOPE_COMMANDS_H

int cmd_forward(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_make_test_model(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_trace(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_profile(int argc, char** argv);
int cmd_tui(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_pretrain(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_tokenizer_train(int argc, char** argv);
int cmd_demo_data(int argc, char** argv);

// Option tables of train, pretrain and eval (app/cmd_train.c): "--name value" or "--name=value".
#include <signal.h>
#include "common.h"
#include "safetensors.h"
typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STR, OPT_U64 } OptType;
typedef struct {
    const char* name;
    OptType type;
    void* ptr;        // int*, int*, float*, const char**, uint64_t*
    const char* help;
    int seen;
} Opt;
int opts_parse(Opt* opts, int argc, char** argv, int* help, Err* err);  // opts ends with {NULL}
void opts_usage(FILE* f, const Opt* opts);
int opts_seen(const Opt* opts, const char* name);
int parse_dtype(const char* s, DType* d, Err* err);
int checkpoint_locate(const char* dir, char* path, size_t n, Err* err);
int recipe_check(const char* saved, const char* now, Err* err);
extern volatile sig_atomic_t g_train_stop;  // set by SIGINT after train_catch_sigint()
void train_catch_sigint(void);

#endif

// commands.h: one entry point per subcommand (app/cmd_*.c). Each returns the process exit status.
#ifndef SLIMSCOPE_COMMANDS_H
#define SLIMSCOPE_COMMANDS_H

int cmd_forward(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_make_test_model(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_trace(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_profile(int argc, char** argv);
int cmd_tui(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_pretrain(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_tokenizer_train(int argc, char** argv);
int cmd_demo_data(int argc, char** argv);

#endif

// tui_commands.h: the `:` commands typed at the prompt (:temp :top-p :n :seed :p :mask-seed
// :mode :force :unforce :load :save :append :reset :help :quit), parsed and validated on the UI
// thread and turned into worker jobs or UI state changes.
#ifndef SLIMSCOPE_VIEWS_TUI_COMMANDS_H
#define SLIMSCOPE_VIEWS_TUI_COMMANDS_H

struct Tui;

// Runs one line starting with ':'; returns action flags (ACT_QUIT for :quit). Errors go to the
// message line.
int commands_execute(struct Tui* t, const char* line);
// Help lines ("  :temp T\tsampling temperature ...") into out; returns how many (at most max).
int commands_help(const char** out, int max);

#endif

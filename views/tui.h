// tui.h: the terminal UI's main loop: input (ncurses keys into readline's callback interface or
// the key table), resize, redraw scheduling, and the worker thread that runs the model. Also a
// headless mode (no terminal: the screen exists only as a Canvas) for tests and benchmarks (app/cmd_bench.c).
#ifndef SLIMSCOPE_TUI_H
#define SLIMSCOPE_TUI_H

#include "app/session.h"
#include "canvas.h"
#include "screen.h"
#include "view.h"
#include "app/worker.h"

typedef struct Tui {
    Session* s;                // owned by the worker thread while it runs
    Worker* w;
    Screen scr;
    UiState ui;
    Canvas cv;
    int headless;
    int quit, exit_signal;
    int dirty;
    int wake[2];               // worker -> main loop
    char hist_path[4096];
    int hist_lines;
    unsigned char rlq[512];    // bytes waiting for readline
    int rlq_head, rlq_tail;
    unsigned long seen_msg_seq;
    int sent_sel;              // selection last sent to the worker
    const char** help;         // help overlay lines (owned)
    int n_help;
} Tui;

// Opens the UI on an open session. headless: no terminal (rows x cols canvas only); otherwise
// the terminal is taken by tui_run.
// Worker updates are drawn at most this often (keys at once).
#define TUI_FRAME_SECONDS (1.0 / 60)

Tui* tui_new(Session* s, int headless, int rows, int cols);
void tui_free(Tui* t);
// Runs until quit; restores the terminal on every way out. Returns the exit status.
int tui_run(Tui* t);
// One key through the dispatch (help overlay, prompt, focused panel, key table): action flags.
int tui_key(Tui* t, int key);
// Updates the panels from the latest snapshot and draws them into t->cv (and the terminal).
void tui_render(Tui* t);
// What Enter does with a line: a :command, or a prompt to generate from.
void tui_submit_line(Tui* t, const char* line);
void tui_message(Tui* t, int error, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
// Sampler settings of the next generation, as a job.
void tui_fill_sampler(const Tui* t, Job* j);

#endif

// crt.h: the one place that owns the terminal (htop's CRT): curses set-up and tear-down, the
// colour table, signals, and stderr, which is redirected to a temporary file while curses runs and
// printed after endwin. Views never touch curses: they draw into a Canvas with ColorElements and
// crt_blit puts it on the screen through crt_colors.
#ifndef SLIMSCOPE_CRT_H
#define SLIMSCOPE_CRT_H

#include "canvas.h"
#include "common.h"

// Every colour a view may use. The mapping to terminal attributes lives in crt.c's table, with a
// 256-colour, an 8-colour and a monochrome (NO_COLOR) column.
typedef enum {
    C_NORMAL = 0,
    C_DIM,
    C_BOLD,
    C_TITLE,           // panel title bar
    C_TITLE_FOCUS,     // title bar of the focused panel
    C_SEPARATOR,       // vertical rule between panels
    C_STATUS,          // status bar
    C_STATUS_KEY,      // highlighted values in the status bar
    C_BUSY,            // "generating" indicator
    C_MESSAGE,         // information line
    C_ERROR,           // error line
    C_PROMPT,          // prompt text when focused
    C_PROMPT_DIM,      // prompt text when another panel has focus
    C_CURSOR_TOKEN,    // the selected token in the output panel
    C_HELP,            // help overlay body
    C_HELP_KEY,        // key names in the help overlay
    C_SHARE_0,         // token tint by identity share: 0 = all LoRA ...
    C_SHARE_1,
    C_SHARE_2,
    C_SHARE_3,
    C_SHARE_4,         // ... 4 = all identity (adapter bypassed)
    C_HEAT_0,          // router heat ramp, low ...
    C_HEAT_1,
    C_HEAT_2,
    C_HEAT_3,
    C_HEAT_4,
    C_HEAT_5,
    C_HEAT_6,
    C_HEAT_7,          // ... high
    C_ID_EXPERT,       // identity expert labels
    C_LORA_EXPERT,     // LoRA expert labels
    C_KEPT,            // kept (top-k) marker
    C_SELECTED,        // selected cell / row
    C_BAR,             // distance bar
    C_BAR_MARK,        // where the yield makes identity win
    C_NEAREST,         // nearest centre marker
    C_SPARK,           // sparkline
    C_SPARK_SEL,       // sparkline point of the selected token
    C_LENS_SAME,       // lens rows where adapters on/off agree
    C_LENS_DIFF,       // lens rows where they differ
    C_CHART_KL,        // KL against p
    C_CHART_AGREE,     // top-1 agreement against p
    C_CHART_CUR,       // the current p on the chart
    C_DIVERGE,         // first token where the regenerated continuation leaves the p = 0 one
    C_DIVERGE_STALE,   // the same in text generated under another run (dimmed)
    C_SEL_ID,          // selection map: identity dominant
    C_UNROUTED,        // selection map / router: no router at this block
    C_EXPERT_0,        // selection map: LoRA expert k dominant (colours cycle over 6)
    C_EXPERT_1,
    C_EXPERT_2,
    C_EXPERT_3,
    C_EXPERT_4,
    C_EXPERT_5,
    COLOR_COUNT
} ColorElement;

typedef enum { CRT_MONO = 0, CRT_8 = 8, CRT_256 = 256 } ColorMode;

// Attributes (curses attr_t values) of each element for the current mode; filled by crt_init.
extern int crt_colors[COLOR_COUNT];

// Takes the terminal: locale, stderr redirect, curses in raw mode with keypad, colours (256, 8, or
// none when NO_COLOR is set or the terminal has none), signal handlers, an atexit restore.
// Returns 0, or -1 with err when there is no usable terminal.
int crt_init(Err* err);
// Gives the terminal back (idempotent, safe on every exit path) and prints what stderr got meanwhile.
void crt_done(void);
int crt_active(void);
ColorMode crt_color_mode(void);
// Restores the terminal, prints the message, exits with status 1.
void crt_fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

// Current size; after a SIGWINCH, crt_take_resize() re-reads it and resizes curses.
void crt_size(int* rows, int* cols);
int crt_take_resize(void);
// File descriptor that becomes readable when a signal arrived (SIGTERM, SIGINT, SIGHUP, SIGWINCH).
int crt_signal_fd(void);
// The terminating signal received (SIGTERM, SIGHUP, SIGQUIT), or 0; SIGINT is counted separately.
int crt_take_term_signal(void);
int crt_take_sigint(void);
void crt_drain_signal_fd(void);

// Next key (curses key code or byte), or -1 when none is waiting.
int crt_read_key(void);
// Puts a key back so the next crt_read_key returns it.
void crt_unread_key(int key);
// Waits up to timeout_ms for input on the terminal; 1 when some is there.
int crt_wait_input(int timeout_ms);
// Copies the canvas to the screen and places (or hides) the cursor.
void crt_blit(const Canvas* c);
// Forces a full repaint on the next blit (after a resize or Ctrl-L).
void crt_invalidate(void);

// Key names used by the views (curses values, re-exported so views need no curses header).
extern const int KEY_CODE_LEFT, KEY_CODE_RIGHT, KEY_CODE_UP, KEY_CODE_DOWN, KEY_CODE_HOME, KEY_CODE_END,
    KEY_CODE_PPAGE, KEY_CODE_NPAGE, KEY_CODE_BTAB, KEY_CODE_RESIZE, KEY_CODE_F1, KEY_CODE_BACKSPACE, KEY_CODE_DC,
    KEY_CODE_ENTER, KEY_CODE_IC;

#endif

// screen.h: the screen manager (htop's ScreenManager): owns the panels, lays them out for the
// terminal size (full from 80x24, compact from 40x10, a one-line message below), keeps the focus
// (Tab ring) and hands keys to the focused panel; draws the help overlay.
#ifndef SLIMSCOPE_SCREEN_H
#define SLIMSCOPE_SCREEN_H

#include "view.h"

typedef enum { V_PROMPT = 0, V_OUTPUT, V_ROUTER, V_DISTANCE, V_SELECTION, V_MASKING, V_LENS, V_STATUS, V_COMPARE, V_COUNT } ViewId;
typedef enum { LAYOUT_FULL = 0, LAYOUT_COMPACT, LAYOUT_TINY } Layout;

#define FULL_MIN_ROWS 24
#define FULL_MIN_COLS 80
#define COMPACT_MIN_ROWS 10
#define COMPACT_MIN_COLS 40

typedef struct {
    View* views[V_COUNT];
    int focus;                 // ViewId with the focus
    int detail;                // compact layout: the panel shown under the output
    Layout layout;
    int rows, cols;
    int n_layers;              // of the last snapshot (panel heights)
    int msg_on_prompt;         // full layout short of rows: messages go on the prompt row
    const char** help;         // help overlay lines: "KEYS\tdescription" or a heading
    int n_help;
} Screen;

void screen_init(Screen* scr);
void screen_free(Screen* scr);
// Places the panels for a rows x cols terminal.
void screen_layout(Screen* scr, int rows, int cols);
void screen_update(Screen* scr, const Snapshot* s, const UiState* u);
// Draws every visible panel (and the overlay) into c, which must be rows x cols.
void screen_draw(Screen* scr, Canvas* c, const UiState* u);
// Moves the focus along the ring (dir = +1 / -1); returns the new focus.
int screen_focus_next(Screen* scr, int dir);
void screen_set_focus(Screen* scr, int id);
// Gives the key to the focused panel; ACT_IGNORED when it has no use for it.
int screen_on_key(Screen* scr, int key, UiState* u);
void screen_set_help(Screen* scr, const char** lines, int n);

#endif

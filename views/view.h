// view.h: the base of every panel (htop's Panel/Object): a struct that starts with `View super;`
// and a const table of functions. update() takes what the panel shows from the Snapshot and the
// UI state (no drawing), draw() renders into a Canvas (no data access beyond the view and the
// snapshot it was updated from), on_key() handles a key and returns action flags.
#ifndef SLIMSCOPE_VIEW_H
#define SLIMSCOPE_VIEW_H

#include "canvas.h"
#include "app/snapshot.h"

// What a key handler asks of the main loop (htop's HTOP_* flags).
enum {
    ACT_OK = 0,          // handled, nothing else to do
    ACT_REDRAW = 1,      // the screen must be redrawn
    ACT_RERUN = 2,       // the selection changed: the worker recomputes what depends on it
    ACT_QUIT = 4,        // leave the program
    ACT_IGNORED = 8,     // not handled here: try the next handler
};

// Interactive state owned by the UI thread (the snapshot is owned by the worker).
typedef struct {
    int sel;                   // selected position (token cursor); -1 = follow the last token
    int layer;                 // selected block: router row, distance sparkline, lens row
    int expert;                // selected expert: router column
    int help;                  // help overlay open
    int help_scroll;
    int compact;               // compact layout in use
    int msg_on_prompt;         // the message line is drawn on the prompt row (full layout, short)
    // sampler settings (:temp :top-p :n :seed), used by the next generation
    float temp, top_p;
    int n_new;
    uint64_t seed;
    int append;                // a prompt continues the context (:append on) instead of starting anew
    // run settings as last asked for (shown at once, before the worker has recomputed)
    float p;
    uint64_t mask_seed;
    int mode;
    int quit_armed;            // Ctrl-C pressed once
    char msg[512];             // UI-side message; shown when newer than the snapshot's
    int msg_error;
    unsigned long msg_seq;     // snapshot msg_seq seen when msg was set
    double rss_mb;             // resident memory, refreshed by the main loop
    double latency_ms;         // last key-to-screen time
} UiState;

// The selected position resolved against the snapshot (the last token while following), -1 if empty.
static inline int ui_sel_pos(const UiState* u, const Snapshot* s) {
    if (s->n <= 0) return -1;
    if (u->sel < 0 || u->sel >= s->n) return s->n - 1;
    return u->sel;
}

typedef struct View View;

typedef struct {
    const char* name;          // panel name, also its title
    const char* keys_help;     // "Up/Down  select block\n..." for the help overlay (may be NULL)
    void (*update)(View* v, const Snapshot* s, const UiState* u);
    void (*draw)(View* v, Canvas* c);
    int (*on_key)(View* v, int key, UiState* u);  // may be NULL
    void (*destroy)(View* v);                      // may be NULL
} ViewClass;

struct View {
    const ViewClass* klass;
    int x, y, w, h;            // rectangle on the canvas; row y is the title bar
    int visible;
    int focused;
    const Snapshot* snap;      // what update() saw; valid until the next update
    const UiState* ui;
};

// Constructors of the panels (views/panel_*.c).
View* output_view_new(void);
View* router_view_new(void);
View* distance_view_new(void);
View* selection_view_new(void);
View* masking_view_new(void);
View* lens_view_new(void);
View* compare_view_new(void);  // in the Lens's place while `:compare` is on
View* status_view_new(void);

// Prompt line: readline's state copied by the main loop, drawn by panel_prompt.c.
typedef struct {
    const char* prompt;        // readline's display prompt ("slimscope> " or the search prompt)
    const char* line;          // rl_line_buffer
    int point;                 // byte offset of the cursor in line
    int active;                // the prompt has focus
    int busy;                  // generating: shown next to the prompt
} PromptState;
View* prompt_view_new(void);
void prompt_view_set(View* v, const PromptState* p);

static inline void view_update(View* v, const Snapshot* s, const UiState* u) {
    v->snap = s;
    v->ui = u;
    if (v->klass->update) v->klass->update(v, s, u);
}
static inline void view_draw(View* v, Canvas* c) {
    if (!v->visible || v->w <= 0 || v->h <= 0) return;
    canvas_clip(c, v->x, v->y, v->w, v->h);
    v->klass->draw(v, c);
    canvas_unclip(c);
}
static inline int view_on_key(View* v, int key, UiState* u) {
    return v->klass->on_key ? v->klass->on_key(v, key, u) : ACT_IGNORED;
}
// A panel of `size` bytes (its struct, which starts with `View super;`), zeroed, visible.
View* view_alloc(size_t size, const ViewClass* klass);
void view_destroy(View* v);

#endif

// panel_prompt.c: the prompt line. Readline edits the line (views/tui.c feeds it the keys); this
// view draws readline's prompt, line and cursor inside the screen, scrolling sideways when the
// line is wider than the panel. When the screen is short of rows the message line is drawn here
// too, right of the text.
#include <string.h>

#include "draw.h"

typedef struct {
    View super;
    PromptState ps;
} PromptView;

void prompt_view_set(View* v, const PromptState* p) { ((PromptView*)v)->ps = *p; }

// Draws the prompt and the line; returns the column after the text.
static int prompt_draw_line(View* v, Canvas* c) {
    PromptView* pv = (PromptView*)v;
    const PromptState* p = &pv->ps;
    const char* prompt = p->prompt ? p->prompt : "slimscope> ";
    const char* line = p->line ? p->line : "";
    int pc = p->active ? C_PROMPT : C_PROMPT_DIM;
    int row = v->y, w = v->w;
    size_t len = strlen(line), point = p->point < 0 ? 0 : (size_t)p->point > len ? len : (size_t)p->point;
    int pw = text_width(prompt), cur = text_width_n(line, point);
    if (!p->active && len == 0) {
        int col = canvas_put(c, row, v->x, prompt, pc);
        return canvas_putn(c, row, col, "(Tab, i or : to type)", v->x + w - col, C_DIM);
    }
    if (pw + cur < w - 1) {  // everything up to the cursor fits
        int col = canvas_put(c, row, v->x, prompt, pc);
        col = canvas_putn(c, row, col, line, v->x + w - col, C_NORMAL);
        if (p->active) {
            c->cursor_row = row;
            c->cursor_col = v->x + pw + cur;
        }
        return col;
    }
    // scrolled: "…" then the end of the text before the cursor, then what follows
    const char* s = line;
    int skipped = 0, target = cur - (w - 2);
    while (*s && skipped < target) {
        uint32_t cp;
        int k = utf8_decode(s, len - (size_t)(s - line), &cp);
        skipped += cell_width(cp);
        s += k;
    }
    canvas_put(c, row, v->x, "…", C_DIM);
    int end = canvas_putn(c, row, v->x + 1, s, w - 1, C_NORMAL);
    if (p->active) {
        c->cursor_row = row;
        size_t upto = line + point > s ? (size_t)(line + point - s) : 0;  // a 1-2 column panel skips past it
        c->cursor_col = v->x + 1 + text_width_n(s, upto);
    }
    return end;
}

static void prompt_draw(View* v, Canvas* c) {
    int end = prompt_draw_line(v, c);
    const UiState* u = v->ui;
    if (!u || !u->msg_on_prompt || !u->msg[0]) return;
    // the message, right-aligned, in what the text leaves free (cut at its end when narrow)
    int from = end + 2, w = text_width(u->msg), right = v->x + v->w;
    if (right - from < 8) return;
    int col = right - w > from ? right - w : from;
    canvas_putn(c, v->y, col, u->msg, right - col, u->msg_error ? C_ERROR : C_MESSAGE);
}

static const ViewClass PROMPT_CLASS = {
    .name = "Prompt",
    .keys_help = "Enter  generate from the line, or run it when it is a :command\n"
                 "Up/Down  history ($XDG_STATE_HOME/slimscope/history)\n"
                 "Ctrl-R  search the history\n"
                 "Esc  stop generating; when idle, go to the panels\n"
                 "Left/Right  move the token cursor when the line is empty\n"
                 "Ctrl-D  quit on an empty line",
    .draw = prompt_draw,
};

View* prompt_view_new(void) { return view_alloc(sizeof(PromptView), &PROMPT_CLASS); }

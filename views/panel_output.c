// panel_output.c: the context (prompt and generated text) token by token, each token tinted by its
// identity share (how much of the adapter was bypassed), with the token cursor (Left/Right) that
// selects the position every other panel describes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"

typedef struct {
    View super;
    int sel;                   // selected position, -1 when the context is empty
    int follow;                // the cursor follows the last token
    int top;                   // first visible line
} OutputView;

static void output_update(View* v, const Snapshot* s, const UiState* u) {
    OutputView* o = (OutputView*)v;
    o->sel = ui_sel_pos(u, s);
    o->follow = u->sel < 0;
}

// Lays the tokens out in `width` columns; draws lines [top, top + rows) when c is given.
// Returns the number of lines; *sel_line gets the line where the selected token starts.
static int layout(const OutputView* o, Canvas* c, int x0, int y0, int width, int top, int rows, int* sel_line) {
    const Snapshot* s = o->super.snap;
    int line = 0, col = 0;
    *sel_line = 0;
    int div_pos = s->regen_state && s->regen_div >= 0 ? s->regen_start + s->regen_div : -1;
    for (int pos = 0; pos < s->n; pos++) {
        const char* text = s->text && s->text[pos] ? s->text[pos] : "";
        int empty = *text == 0;
        // a token that adds no text: "∅" when it is nothing on its own either (an id without a
        // piece), invisible when it only starts a multi-byte character, unless the cursor is on it
        if (empty && !*snapshot_label(s, pos)) text = "∅";
        else if (empty && pos == o->sel) text = "▯";
        int color = pos == o->sel ? C_CURSOR_TOKEN : pos == div_pos ? C_DIVERGE : empty ? C_DIM : share_color(s->tok_share[pos]);
        // wrap before a token that would not fit (unless it is longer than a line anyway)
        const char* nl = strchr(text, '\n');
        char first[256];
        snprintf(first, sizeof first, "%.*s", nl ? (int)(nl - text) : 255, text);
        int tw = text_width(first) + (nl ? 1 : 0);
        if (col > 0 && col + tw > width && tw <= width) {
            line++;
            col = 0;
        }
        if (pos == o->sel) *sel_line = line;
        size_t n = strlen(text);
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            i += utf8_decode(text + i, n - i, &cp);
            if (cp == '\n') {
                if (col >= width) {
                    line++;
                    col = 0;
                }
                if (c && line >= top && line < top + rows) canvas_put_char(c, y0 + line - top, x0 + col, 0x21B5, color);
                line++;
                col = 0;
                continue;
            }
            if (cp == '\t') cp = 0x21E5;
            if (cp == '\r') cp = 0x240D;
            int w = cell_width(cp);
            if (w == 0) continue;
            if (col + w > width) {
                line++;
                col = 0;
            }
            if (c && line >= top && line < top + rows) canvas_put_char(c, y0 + line - top, x0 + col, cp, color);
            col += w;
        }
    }
    return line + 1;
}

static void output_draw(View* v, Canvas* c) {
    OutputView* o = (OutputView*)v;
    const Snapshot* s = v->snap;
    char info[256], tok[64];
    if (o->sel >= 0) {
        token_display(tok, sizeof tok, snapshot_label(s, o->sel));
        snprintf(info, sizeof info, "pos %d/%d '%s'  id-share %.0f%%%s", o->sel, s->n, tok, 100.0 * s->tok_share[o->sel],
                 o->follow ? "" : "  (End: follow)");
    } else {
        snprintf(info, sizeof info, "empty context");
    }
    draw_title(c, v, info);
    // legend of the tint, right-aligned on the title bar when there is room
    int legend_w = 21;
    if (v->w >= text_width(info) + legend_w + 12) {
        int col = v->x + v->w - legend_w;
        int tc = v->focused ? C_TITLE_FOCUS : C_TITLE;
        col = canvas_put(c, v->y, col, "LoRA ", tc);
        for (int k = 0; k <= 4; k++) canvas_put_char(c, v->y, col++, 0x25A0, share_color(k / 4.0));
        canvas_put(c, v->y, col, " identity", tc);
    }
    int rows = v->h - 1, width = v->w;
    if (rows <= 0) return;
    if (s->n == 0) {
        canvas_putn(c, v->y + 1, v->x, "Type a prompt below and press Enter.", width, C_DIM);
        if (rows > 1) canvas_putn(c, v->y + 2, v->x, "Enter moves the focus to the panels, where ? lists every key;", width, C_DIM);
        if (rows > 2) canvas_putn(c, v->y + 3, v->x, "i, :, / or Enter go back to typing; Tab cycles the panels and the prompt.", width, C_DIM);
        return;
    }
    int sel_line;
    int n_lines = layout(o, NULL, 0, 0, width, 0, 0, &sel_line);
    if (o->follow) {
        o->top = n_lines > rows ? n_lines - rows : 0;
    } else {
        if (sel_line < o->top) o->top = sel_line;
        if (sel_line >= o->top + rows) o->top = sel_line - rows + 1;
        if (o->top > n_lines - 1) o->top = n_lines - 1;
        if (o->top < 0) o->top = 0;
    }
    layout(o, c, v->x, v->y + 1, width, o->top, rows, &sel_line);
}

static const ViewClass OUTPUT_CLASS = {
    .name = "Output",
    .keys_help = "Left/Right  move the token cursor (also on an empty prompt)\nHome/End  first token / follow the last",
    .update = output_update,
    .draw = output_draw,
};

View* output_view_new(void) { return view_alloc(sizeof(OutputView), &OUTPUT_CLASS); }

View* view_alloc(size_t size, const ViewClass* klass) {
    View* v = xcalloc(1, size);
    v->klass = klass;
    v->visible = 1;
    return v;
}

void view_destroy(View* v) {
    if (!v) return;
    if (v->klass->destroy) v->klass->destroy(v);
    free(v);
}

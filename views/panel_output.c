// panel_output.c: the context (prompt and generated text) token by token, each token tinted by its
// identity share (how much of the adapter was bypassed), with the token cursor (Left/Right) that
// selects the position every other panel describes. Generated text sampled under another run than
// the current one (p, mode, adapter, ...) is dimmed with a note until `g` regenerates it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"

typedef struct {
    View super;
    int sel;                   // selected position, -1 when the context is empty
    int follow;                // the cursor follows the last token
    int top;                   // first visible line
    int stale;                 // the generated text is from another run
    char stale_why[256];
} OutputView;

static void output_update(View* v, const Snapshot* s, const UiState* u) {
    OutputView* o = (OutputView*)v;
    o->sel = ui_sel_pos(u, s);
    o->follow = u->sel < 0;
    o->stale = snapshot_gen_stale(s, u->p, u->mode, u->mask_seed, o->stale_why, sizeof o->stale_why);
}

// The text token pos shows: a token that adds no text is "∅" when it is nothing on its own either
// (an id without a piece), invisible when it only starts a multi-byte character, unless the
// cursor is on it ("▯").
static const char* shown_text(const OutputView* o, int pos) {
    const Snapshot* s = o->super.snap;
    const char* text = s->text && s->text[pos] ? s->text[pos] : "";
    if (*text) return text;
    return !*snapshot_label(s, pos) ? "∅" : pos == o->sel ? "▯" : "";
}

static int breaks_word(uint32_t cp) { return cp == ' ' || cp == '\n' || cp == '\t'; }

// Columns of the word starting at byte i of token pos, across the tokens that follow (up to limit).
static int word_width(const OutputView* o, int pos, size_t i, int limit) {
    int w = 0;
    for (; pos < o->super.snap->n && w <= limit; pos++, i = 0) {
        const char* t = shown_text(o, pos);
        size_t n = strlen(t);
        while (i < n) {
            uint32_t cp;
            i += utf8_decode(t + i, n - i, &cp);
            if (breaks_word(cp)) return w;
            w += cell_width(cp == '\r' ? 0x240D : cp);
        }
    }
    return w;
}

// Lays the tokens out in `width` columns, wrapping at word boundaries (a word longer than a line is
// cut); draws lines [top, top + rows) when c is given. Returns the number of lines; *sel_line gets
// the line where the selected token starts.
static int layout(const OutputView* o, Canvas* c, int x0, int y0, int width, int top, int rows, int* sel_line) {
    const Snapshot* s = o->super.snap;
    int line = 0, col = 0, after_space = 1;
    *sel_line = 0;
    int div_pos = s->regen_state && s->regen_div >= 0 ? s->regen_start + s->regen_div : -1;
    for (int pos = 0; pos < s->n; pos++) {
        const char* text = shown_text(o, pos);
        int empty = !s->text || !s->text[pos] || !*s->text[pos];
        int old = o->stale && pos >= s->gen_start;
        int color = pos == o->sel ? C_CURSOR_TOKEN : pos == div_pos ? (old ? C_DIVERGE_STALE : C_DIVERGE)
                  : empty || old ? C_DIM : share_color(s->tok_share[pos]);
        if (pos == o->sel) *sel_line = line;
        size_t n = strlen(text);
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t at = i;
            i += utf8_decode(text + i, n - i, &cp);
            if (cp == '\n') {
                if (col >= width) {
                    line++;
                    col = 0;
                }
                if (c && line >= top && line < top + rows) canvas_put_char(c, y0 + line - top, x0 + col, 0x21B5, color);
                line++;
                col = 0;
                after_space = 1;
                continue;
            }
            if (cp == ' ' && col >= width) {  // a space at the end of a line is the line break
                line++;
                col = 0;
                after_space = 1;
                if (pos == o->sel && at == 0) *sel_line = line;
                continue;
            }
            int starts_word = after_space && !breaks_word(cp);
            after_space = breaks_word(cp);
            if (cp == '\t') cp = 0x21E5;
            if (cp == '\r') cp = 0x240D;
            int w = cell_width(cp);
            if (w == 0) continue;
            if (starts_word && col > 0) {  // the whole word to the next line when it fits there
                int ww = word_width(o, pos, at, width);
                if (col + ww > width && ww <= width) {
                    line++;
                    col = 0;
                }
            }
            if (col + w > width) {
                line++;
                col = 0;
            }
            if (pos == o->sel && at == 0) *sel_line = line;
            if (c && line >= top && line < top + rows) canvas_put_char(c, y0 + line - top, x0 + col, cp, color);
            col += w;
        }
    }
    return line + 1;
}

static void output_draw(View* v, Canvas* c) {
    OutputView* o = (OutputView*)v;
    const Snapshot* s = v->snap;
    char infos[2][256], tok[64];
    const char* info = infos[0];
    if (o->sel >= 0) {
        token_display(tok, sizeof tok, snapshot_label(s, o->sel));
        snprintf(infos[1], sizeof infos[1], "pos %d/%d '%s'  id-share %.0f%%", o->sel, s->n, tok, 100.0 * s->tok_share[o->sel]);
        snprintf(infos[0], sizeof infos[0], "%.200s%s", infos[1], o->follow ? "" : "  (End: follow)");
        draw_title_fit(c, v, (const char* const[]){infos[0], infos[1]}, 2, NULL);
    } else {
        snprintf(infos[0], sizeof infos[0], "empty context");
        draw_title(c, v, info);
    }
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
    if (o->stale && rows >= 2) {  // the last row says why the text is dimmed and what to do
        rows--;
        char note[320];
        snprintf(note, sizeof note, "generated at %s (g or Enter regenerates)", o->stale_why);
        canvas_putn(c, v->y + v->h - 1, v->x, note, width, C_BOLD);
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

// panel_lens.c: logit lens of the selected token: each block's top next-token prediction read
// through the final norm and lm_head, with the adapter as configured and with it off, side by
// side; rows where they differ are highlighted (where the adapter changes the prediction).
#include <stdio.h>
#include <string.h>

#include "draw.h"

typedef struct {
    View super;
    int pos, layer;
    int have;
    int n_diff;
} LensView;

static void lens_update(View* v, const Snapshot* s, const UiState* u) {
    LensView* lv = (LensView*)v;
    lv->pos = ui_sel_pos(u, s);
    lv->layer = u->layer < s->n_layers ? u->layer : s->n_layers - 1;
    // both lenses come from the worker's comparison at the selected position (computed on demand)
    lv->have = lv->pos >= 0 && s->cmp_valid && s->cmp_pos == lv->pos;
    lv->n_diff = 0;
    if (lv->have)
        for (int l = 0; l < s->n_layers; l++) lv->n_diff += s->lens_on_id[l] != s->lens_off_id[l];
}

static void lens_entry(Canvas* c, int row, int col, int w, const Snapshot* s, int id, float p, int color) {
    char vb[32], tok[96], cell[160];
    token_display(tok, sizeof tok, snapshot_vocab(s, id, vb, sizeof vb));
    snprintf(cell, sizeof cell, "'%s' %.2f", tok, p);
    canvas_putn(c, row, col, cell, w, color);
}

static void lens_draw(View* v, Canvas* c) {
    LensView* lv = (LensView*)v;
    const Snapshot* s = v->snap;
    int L = s->n_layers, pos = lv->pos;
    int y = v->y + 1, rows = v->h - 1;
    // the column heads get a row when every block fits below them, else the title names the columns
    int header = rows > L;
    char info[4][128];
    snprintf(info[0], sizeof info[0], "pos %d: %s differ at %d/%d blocks", pos, header ? "on/off" : "on │ off,", lv->n_diff, L);
    snprintf(info[1], sizeof info[1], "%s %d/%d differ", header ? "on/off" : "on │ off,", lv->n_diff, L);
    snprintf(info[3], sizeof info[3], "%s", header ? "on/off" : "on │ off");
    if (pos >= 0) snprintf(info[2], sizeof info[2], "pos %d", pos);
    else snprintf(info[2], sizeof info[2], "no token selected");
    int body = rows - header;
    int l0 = window_start(L, body, lv->layer);
    char tag[64];
    if (lv->have) draw_title_fit(c, v, (const char* const[]){info[0], info[1], info[3]}, 3, block_window_tag(tag, sizeof tag, l0, body, L));
    else draw_title(c, v, info[2]);
    if (rows <= 0) return;
    if (pos < 0) {
        canvas_putn(c, y, v->x, "no token selected", v->w, C_DIM);
        return;
    }
    if (!lv->have) {
        canvas_putn(c, y, v->x, "computing the logit lens…", v->w, C_DIM);
        return;
    }
    int colw = (v->w - 7) / 2;  // block number, two columns, the rule, the ≠ mark
    if (header) {
        canvas_put(c, y, v->x, "blk", C_DIM);
        canvas_putn(c, y, v->x + 4, s->has_adapter ? (colw >= 21 ? "adapter as configured" : "adapter on") : "no adapter", colw, C_DIM);
        canvas_putn(c, y, v->x + 5 + colw, "adapter off", colw, C_DIM);
    }
    for (int i = 0; i < body && l0 + i < L; i++) {
        int l = l0 + i, row = y + header + i;
        int on_id = s->lens_on_id[l];
        int differ = on_id != s->lens_off_id[l];
        int color = differ ? C_LENS_DIFF : C_LENS_SAME;
        canvas_printf(c, row, v->x, l == lv->layer ? C_SELECTED : C_NORMAL, "%3d", l);
        lens_entry(c, row, v->x + 4, colw, s, on_id, s->lens_on_p[l], color);
        canvas_put_char(c, row, v->x + 4 + colw, 0x2502, C_SEPARATOR);
        lens_entry(c, row, v->x + 5 + colw, colw, s, s->lens_off_id[l], s->lens_off_p[l], color);
        if (differ) canvas_put(c, row, v->x + 5 + 2 * colw, "≠", C_LENS_DIFF);
    }
}

static int lens_key(View* v, int key, UiState* u) { return panel_block_key(v, key, u); }

static const ViewClass LENS_CLASS = {
    .name = "Lens",
    .keys_help = "Up/Down  select the block",
    .update = lens_update,
    .draw = lens_draw,
    .on_key = lens_key,
};

View* lens_view_new(void) { return view_alloc(sizeof(LensView), &LENS_CLASS); }

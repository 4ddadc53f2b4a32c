// panel_compare.c: `:compare DIR`: the adapter (A) against a second one (B) on the context, in the
// Lens panel's place while it is on. The title has the context's mean KL(A‖B) and where the top-1
// tokens differ; the first row the cursor's token (KL, top-1 of each); then per block the identity
// share and kept experts of each, '≠' where the routing differs (app/session_compare.c decides).
#include <stdio.h>
#include <string.h>

#include "draw.h"

typedef struct {
    View super;
    int pos, layer;
    int have;
} CompareView;

static void compare_update(View* v, const Snapshot* s, const UiState* u) {
    CompareView* cv = (CompareView*)v;
    cv->pos = ui_sel_pos(u, s);
    cv->layer = u->layer < s->n_layers ? u->layer : s->n_layers - 1;
    cv->have = cv->pos >= 0 && s->cmpb_on && s->cmpb_valid && s->cmpb_pos == cv->pos;
}

static const char* quoted(const Snapshot* s, int id, char* out, size_t n) {
    char vb[32], tok[96];
    token_display(tok, sizeof tok, snapshot_vocab(s, id, vb, sizeof vb));
    snprintf(out, n, "'%s'", tok);
    return out;
}

static void compare_draw(View* v, Canvas* c) {
    CompareView* cv = (CompareView*)v;
    const Snapshot* s = v->snap;
    int L = s->n_layers, y = v->y + 1, rows = v->h - 1, x = v->x, w = v->w;
    char info[3][300], tag[64];
    snprintf(info[0], sizeof info[0], "A %s │ B %s: mean KL %.3f, top-1 differs %d/%d", s->adapter_name, s->cmpb_name,
             s->cmpb_kl_mean, s->cmpb_top_diff, s->cmpb_n);
    snprintf(info[1], sizeof info[1], "%s │ %s: KL %.3f, top-1 ≠ %d/%d", s->adapter_name, s->cmpb_name, s->cmpb_kl_mean,
             s->cmpb_top_diff, s->cmpb_n);
    snprintf(info[2], sizeof info[2], "%s │ %s", s->adapter_name, s->cmpb_name);
    int body = rows - 1;  // the cursor's row, then the blocks
    int l0 = window_start(L, body, cv->layer);
    if (cv->have) draw_title_fit(c, v, (const char* const[]){info[0], info[1], info[2]}, 3, block_window_tag(tag, sizeof tag, l0, body, L));
    else draw_title(c, v, info[2]);
    if (rows <= 0) return;
    if (cv->pos < 0) {
        canvas_putn(c, y, x, "no token selected", w, C_DIM);
        return;
    }
    if (!cv->have) {
        canvas_putn(c, y, x, "computing the comparison…", w, C_DIM);
        return;
    }
    char ta[120], tb[120], line[400];
    int differs = s->cmpb_top_a != s->cmpb_top_b;
    snprintf(line, sizeof line, "pos %d KL(A‖B) %.4f top-1 %s%s%s", cv->pos, s->cmpb_kl, quoted(s, s->cmpb_top_a, ta, sizeof ta),
             differs ? " ≠ " : " = ", quoted(s, s->cmpb_top_b, tb, sizeof tb));
    canvas_putn(c, y, x, line, w, differs ? C_LENS_DIFF : C_NORMAL);
    int colw = (w - 20) / 2;  // block, the two shares, the two kept lists, the ≠ mark
    for (int i = 0; i < body && l0 + i < L; i++) {
        int l = l0 + i, row = y + 1 + i;
        const BlockDiff* d = &s->cmpb_blk[l];
        int color = d->differs ? C_LENS_DIFF : C_LENS_SAME;
        canvas_printf(c, row, x, l == cv->layer ? C_SELECTED : C_NORMAL, "%3d", l);
        canvas_printf(c, row, x + 4, color, "id %.2f│%.2f", d->share_a, d->share_b);
        canvas_putn(c, row, x + 18, d->kept_a, colw, color);
        canvas_put_char(c, row, x + 18 + colw, 0x2502, C_SEPARATOR);
        canvas_putn(c, row, x + 19 + colw, d->kept_b, colw, color);
        if (d->differs) canvas_put(c, row, x + w - 1, "≠", C_LENS_DIFF);
    }
}

static const ViewClass COMPARE_CLASS = {
    .name = "Compare",
    .update = compare_update,
    .draw = compare_draw,
};

View* compare_view_new(void) { return view_alloc(sizeof(CompareView), &COMPARE_CLASS); }

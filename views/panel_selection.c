// panel_selection.c: the selection map, tokens (columns) x blocks (rows): '·' where identity
// experts hold most of the weight, the LoRA expert's number (in its colour) where LoRA dominates,
// blank where the block has no router. The cursor's column is highlighted.
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "slim.h"

typedef struct {
    View super;
    int pos, layer;
    int left;                  // first position shown
} SelectionView;

static void selection_update(View* v, const Snapshot* s, const UiState* u) {
    SelectionView* sv = (SelectionView*)v;
    sv->pos = ui_sel_pos(u, s);
    sv->layer = u->layer < s->n_layers ? u->layer : s->n_layers - 1;
}

static void selection_draw(View* v, Canvas* c) {
    SelectionView* sv = (SelectionView*)v;
    const Snapshot* s = v->snap;
    int L = s->n_layers, pos = sv->pos;
    int y = v->y + 1, rows = v->h - 1;
    // every block first, then the position ticks, then the footer, as rows allow
    int body = rows < L ? rows : L;
    int header = rows > L, footer = rows > L + 1;
    int l0 = window_start(L, body, sv->layer);
    char tag[64];
    draw_title_fit(c, v, (const char* const[]){"· identity  0-9a-z LoRA expert  (tokens x blocks)", "· identity  0-9a-z LoRA expert", "· id  0-9a-z LoRA"}, 3,
                   s->has_adapter ? block_window_tag(tag, sizeof tag, l0, body, L) : NULL);
    if (rows <= 0) return;
    if (!s->has_adapter) {
        canvas_putn(c, y, v->x, "no adapter loaded (:load DIR)", v->w, C_DIM);
        return;
    }
    int label_w = 4, width = v->w - label_w;
    if (width <= 0) return;
    // horizontal window that keeps the cursor visible, sticking to the end while following
    if (pos >= 0) {
        if (pos < sv->left) sv->left = pos;
        if (pos >= sv->left + width) sv->left = pos - width + 1;
    }
    if (sv->left > s->n - 1) sv->left = s->n > width ? s->n - width : 0;
    if (sv->left < 0) sv->left = 0;
    // header: position ticks every 10 and the cursor mark
    if (header) {
        canvas_put(c, y, v->x, "pos", C_DIM);
        for (int i = 0; i < width && sv->left + i < s->n; i++) {
            int p = sv->left + i;
            if (p == pos) canvas_put_char(c, y, v->x + label_w + i, 0x25BC, C_CURSOR_TOKEN);
            else if (p % 10 == 0) {
                char num[16];
                snprintf(num, sizeof num, "%d", p);
                if (i + (int)strlen(num) <= width && !(pos > p && pos - p < (int)strlen(num)))
                    canvas_put(c, y, v->x + label_w + i, num, C_DIM);
            }
        }
    }
    for (int r = 0; r < body && l0 + r < L; r++) {
        int l = l0 + r, row = y + header + r;
        canvas_printf(c, row, v->x, l == sv->layer ? C_SELECTED : C_NORMAL, "%3d", l);
        for (int i = 0; i < width && sv->left + i < s->n; i++) {
            int p = sv->left + i;
            int k = s->dominant[(size_t)p * L + l];
            uint32_t ch = k == -2 ? ' ' : k == -1 ? 0x00B7 : (uint32_t)expert_char(k);
            int color = k == -2 ? C_UNROUTED : k == -1 ? C_SEL_ID : expert_color(k);
            canvas_put_char(c, row, v->x + label_w + i, ch, p == pos ? C_SELECTED : color);
        }
    }
    if (footer && pos >= 0) {
        char tok[64];
        int row = y + rows - 1;
        int k = s->dominant[(size_t)pos * L + sv->layer];
        char what[48], name[16];
        if (k == -2) snprintf(what, sizeof what, "no router");
        else if (k == -1) snprintf(what, sizeof what, "identity");
        else snprintf(what, sizeof what, "LoRA expert %s", slim_expert_name(name, sizeof name, s->n_id, s->n_id + k));
        canvas_printf(c, row, v->x, C_NORMAL, "pos %d '%s' blk %d: %s", pos, token_display(tok, sizeof tok, snapshot_label(s, pos)),
                      sv->layer, what);
    }
}

static int selection_key(View* v, int key, UiState* u) { return panel_block_key(v, key, u); }

static const ViewClass SELECTION_CLASS = {
    .name = "Selection",
    .keys_help = "Up/Down  select the block (row)",
    .update = selection_update,
    .draw = selection_draw,
    .on_key = selection_key,
};

View* selection_view_new(void) { return view_alloc(sizeof(SelectionView), &SELECTION_CLASS); }

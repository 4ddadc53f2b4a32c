// panel_router.c: blocks x experts heat map of the routing probabilities pi of the selected token;
// identity experts left of the rule, LoRA experts right of it; kept (top-k) cells marked '*';
// the selected cell (Up/Down block, ',' '.' expert) and its values on the last row.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/session.h"
#include "draw.h"

typedef struct {
    View super;
    int pos, layer, expert;
} RouterView;

static void router_update(View* v, const Snapshot* s, const UiState* u) {
    RouterView* r = (RouterView*)v;
    r->pos = ui_sel_pos(u, s);
    r->layer = u->layer < s->n_layers ? u->layer : s->n_layers - 1;
    r->expert = u->expert < s->n_experts ? u->expert : s->n_experts - 1;
}

// Label of expert e: identity experts "i0".., LoRA experts "0".. (counted among the LoRA experts).
static void expert_label(const Snapshot* s, int e, char* buf, size_t n) {
    if (e < s->n_id) snprintf(buf, n, "i%d", e);
    else snprintf(buf, n, "%d", e - s->n_id);
}

static void router_draw(View* v, Canvas* c) {
    RouterView* r = (RouterView*)v;
    const Snapshot* s = v->snap;
    const Trace* t = &s->tr;
    int L = s->n_layers, E = s->n_experts, pos = r->pos;
    char info[160], tok[64];
    if (pos >= 0) snprintf(info, sizeof info, "pos %d '%s'  pi per block x expert", pos, token_display(tok, sizeof tok, snapshot_label(s, pos)));
    else snprintf(info, sizeof info, "no token selected");
    draw_title(c, v, info);
    int y = v->y + 1, rows = v->h - 1;
    if (rows <= 0) return;
    if (!s->has_adapter) {
        canvas_putn(c, y, v->x, "no adapter loaded (:load DIR)", v->w, C_DIM);
        return;
    }
    // cell width: 3 (two shade glyphs + kept marker), 2, or 1 as the width allows
    int label_w = 4, sep = s->n_id > 0 && s->n_id < E ? 1 : 0;
    int cw = 3;
    while (cw > 1 && label_w + E * cw + sep > v->w) cw--;
    int grid_w = label_w + E * cw + sep;
    // header: expert labels
    canvas_put(c, y, v->x, "blk", C_DIM);
    for (int e = 0; e < E; e++) {
        char lab[16];
        expert_label(s, e, lab, sizeof lab);
        int col = v->x + label_w + e * cw + (e >= s->n_id ? sep : 0);
        canvas_putn(c, y, col, lab, cw, e < s->n_id ? C_ID_EXPERT : C_LORA_EXPERT);
    }
    if (sep) canvas_put_char(c, y, v->x + label_w + s->n_id * cw, 0x2502, C_SEPARATOR);
    if (v->w >= grid_w + 8) canvas_put(c, y, v->x + grid_w + 1, "id-share", C_DIM);
    int body = rows - 2;  // header and footer
    if (body < 1) body = rows - 1;
    int l0 = window_start(L, body, r->layer);
    for (int i = 0; i < body && l0 + i < L; i++) {
        int l = l0 + i, row = y + 1 + i;
        canvas_printf(c, row, v->x, l == r->layer ? C_SELECTED : C_NORMAL, "%3d", l);
        if (pos < 0) continue;
        size_t pl = (size_t)pos * L + l;
        // a plain LoRA (no router) applied here is its one expert with all the weight: shown as routed
        int plain_on = session_plain_lora_on(t, pl);
        int routed = t->routed[pl] || plain_on;
        for (int e = 0; e < E; e++) {
            int col = v->x + label_w + e * cw + (e >= s->n_id ? sep : 0);
            if (!routed) {
                canvas_fill(c, row, col, cw, 0x00B7, C_UNROUTED);
                continue;
            }
            double pi = plain_on ? 1.0 : t->pi[pl * E + e];
            int kept = t->w[pl * E + e] != 0;
            int hw = cw >= 2 ? cw - 1 : 1;
            if (cw == 1 && kept) canvas_put_char(c, row, col, 0x25CF, heat_color(pi));  // ● kept
            else draw_heat_cell(c, row, col, hw, pi);
            if (cw >= 2) canvas_put_char(c, row, col + hw, kept ? '*' : ' ', C_KEPT);
            if (l == r->layer && e == r->expert) canvas_tint(c, row, col, cw, C_SELECTED);
        }
        if (sep) canvas_put_char(c, row, v->x + label_w + s->n_id * cw, 0x2502, C_SEPARATOR);
        if (v->w >= grid_w + 8) {
            if (routed) canvas_printf(c, row, v->x + grid_w + 1, share_color(t->id_share[pl]), "%3.0f%%", 100.0 * t->id_share[pl]);
            else canvas_put(c, row, v->x + grid_w + 1, "off", C_UNROUTED);
            if (s->force && s->force[l] >= 0 && v->w >= grid_w + 14) {
                char lab[16];
                expert_label(s, s->force[l], lab, sizeof lab);
                canvas_printf(c, row, v->x + grid_w + 6, C_BAR_MARK, "F%s", lab);
            }
        }
    }
    // footer: the selected cell
    if (rows >= 3 && pos >= 0) {
        int row = y + rows - 1, l = r->layer, e = r->expert;
        size_t pl = (size_t)pos * L + l, pe = pl * E + e;
        char lab[16];
        expert_label(s, e, lab, sizeof lab);
        if (session_plain_lora_on(t, pl))
            canvas_printf(c, row, v->x, C_NORMAL, "blk %d: plain LoRA: always on (scale %g)", l, s->lora_scale);
        else if (!t->routed[pl])
            canvas_printf(c, row, v->x, C_NORMAL, "blk %d: no router here (adapter off at this block)", l);
        else
            canvas_printf(c, row, v->x, C_BOLD, "blk %d %s %s: pi %.3f w %.3f z %.2f z' %.2f%s", l, e < s->n_id ? "id" : "LoRA", lab,
                          t->pi[pe], t->w[pe], t->z[pe], t->zy[pe], t->w[pe] != 0 ? " kept" : "");
    }
}

static int router_key(View* v, int key, UiState* u) { return panel_block_key(v, key, u); }

static const ViewClass ROUTER_CLASS = {
    .name = "Router",
    .keys_help = "Up/Down  select the block (row)\n, .  select the expert (column)",
    .update = router_update,
    .draw = router_draw,
    .on_key = router_key,
};

View* router_view_new(void) { return view_alloc(sizeof(RouterView), &ROUTER_CLASS); }

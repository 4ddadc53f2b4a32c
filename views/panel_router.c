// panel_router.c: blocks x experts heat map of the routing probabilities pi of the selected token;
// identity experts left of the rule, LoRA experts right of it; kept (top-k) cells marked '*';
// the selected cell (Up/Down block, ',' '.' expert) and its values on the last row, the shade
// scale above it when there is a row to spare.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app/session.h"
#include "draw.h"
#include "slim.h"

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

static void router_draw(View* v, Canvas* c) {
    RouterView* r = (RouterView*)v;
    const Snapshot* s = v->snap;
    const Trace* t = &s->tr;
    int L = s->n_layers, E = s->n_experts, pos = r->pos;
    char info[3][160], tok[64];
    token_display(tok, sizeof tok, snapshot_label(s, pos));
    snprintf(info[0], sizeof info[0], "pos %d '%s'  pi per block x expert", pos, tok);
    snprintf(info[1], sizeof info[1], "pos %d '%s'", pos, tok);
    snprintf(info[2], sizeof info[2], "pos %d", pos);
    if (pos < 0) snprintf(info[0], sizeof info[0], "no token selected");
    int y = v->y + 1, rows = v->h - 1;
    // rows: header, the blocks, then the footer (selected cell) and the shade scale when they fit
    int body = rows - 1 < L ? rows - 1 : L;
    if (body < 1) body = 1;
    int footer = rows - 1 - body >= 1, legend = rows - 1 - body >= 2;
    int l0 = window_start(L, body, r->layer);
    char tag[64];
    draw_title_fit(c, v, (const char* const[]){info[0], info[1], info[2]}, pos >= 0 ? 3 : 1,
                   s->has_adapter && rows >= 2 ? block_window_tag(tag, sizeof tag, l0, body, L) : NULL);
    if (rows <= 0) return;
    if (!s->has_adapter) {
        canvas_putn(c, y, v->x, "no adapter loaded (:load DIR)", v->w, C_DIM);
        return;
    }
    // cell widths {LoRA, identity}: 3 (two shade glyphs + kept marker), 2 or 1; identity cells keep
    // 3 columns for their "iN" labels while LoRA cells shrink. The widest that leaves room for the
    // id-share column, else the widest that fits.
    static const int CW[][2] = {{3, 3}, {2, 3}, {2, 2}, {1, 1}};
    int label_w = 4, sep = s->n_id > 0 && s->n_id < E ? 1 : 0, k = -1;
    for (int extra = 8; extra >= 0 && k < 0; extra -= 8)
        for (int i = 0; i < 4 && k < 0; i++)
            if (label_w + s->n_id * CW[i][1] + sep + (E - s->n_id) * CW[i][0] + extra <= v->w) k = i;
    int cw = CW[k < 0 ? 3 : k][0], icw = CW[k < 0 ? 3 : k][1];
    int rule_x = v->x + label_w + s->n_id * icw, grid_w = rule_x - v->x + sep + (E - s->n_id) * cw;
#define CELL_X(e) ((e) < s->n_id ? v->x + label_w + (e) * icw : rule_x + sep + ((e) - s->n_id) * cw)
    // header: expert labels
    canvas_put(c, y, v->x, "blk", C_DIM);
    for (int e = 0; e < E; e++) {
        char lab[16];
        slim_expert_name(lab, sizeof lab, s->n_id, e);
        canvas_putn(c, y, CELL_X(e), lab, e < s->n_id ? icw : cw, e < s->n_id ? C_ID_EXPERT : C_LORA_EXPERT);
    }
    if (sep) canvas_put_char(c, y, rule_x, 0x2502, C_SEPARATOR);
    if (v->w >= grid_w + 8) canvas_put(c, y, v->x + grid_w + 1, v->w >= grid_w + 9 ? "id-share" : "id%", C_DIM);
    for (int i = 0; i < body && l0 + i < L; i++) {
        int l = l0 + i, row = y + 1 + i;
        canvas_printf(c, row, v->x, l == r->layer ? C_SELECTED : C_NORMAL, "%3d", l);
        if (pos < 0) continue;
        size_t pl = (size_t)pos * L + l;
        // a plain LoRA (no router) applied here is its one expert with all the weight: shown as routed
        int plain_on = session_plain_lora_on(t, pl);
        int routed = t->routed[pl] || plain_on;
        for (int e = 0; e < E; e++) {
            int col = CELL_X(e), ew = e < s->n_id ? icw : cw;
            if (!routed) {
                canvas_fill(c, row, col, ew, 0x00B7, C_UNROUTED);
                continue;
            }
            double pi = plain_on ? 1.0 : t->pi[pl * E + e];
            int kept = t->w[pl * E + e] != 0;
            int hw = ew >= 2 ? ew - 1 : 1;
            if (ew == 1 && kept) canvas_put_char(c, row, col, 0x25CF, heat_color(pi));  // ● kept
            else draw_heat_cell(c, row, col, hw, pi);
            if (ew >= 2) canvas_put_char(c, row, col + hw, kept ? '*' : ' ', C_KEPT);
            if (l == r->layer && e == r->expert) canvas_tint(c, row, col, ew, C_SELECTED);
        }
        if (sep) canvas_put_char(c, row, rule_x, 0x2502, C_SEPARATOR);
        if (v->w >= grid_w + 8) {
            if (routed) canvas_printf(c, row, v->x + grid_w + 1, share_color(t->id_share[pl]), "%3.0f%%", 100.0 * t->id_share[pl]);
            else canvas_put(c, row, v->x + grid_w + 1, "off", C_UNROUTED);
            if (s->force && s->force[l] >= 0 && v->w >= grid_w + 14) {
                char lab[16];
                slim_expert_name(lab, sizeof lab, s->n_id, s->force[l]);
                canvas_printf(c, row, v->x + grid_w + 6, C_BAR_MARK, "F%s", lab);
            }
        }
    }
    if (legend) {
        int col = canvas_put(c, y + rows - 2, v->x, "pi ", C_DIM);
        col = draw_heat_legend(c, y + rows - 2, col, v->x + v->w - col);
        canvas_putn(c, y + rows - 2, col, "  * kept", v->x + v->w - col, C_KEPT);
    }
    // footer: the selected cell
    if (footer && pos >= 0) {
        int row = y + rows - 1, l = r->layer, e = r->expert;
        size_t pl = (size_t)pos * L + l, pe = pl * E + e;
        char lab[16];
        slim_expert_name(lab, sizeof lab, s->n_id, e);
        if (session_plain_lora_on(t, pl))
            canvas_printf(c, row, v->x, C_NORMAL, "blk %d: plain LoRA: always on (scale %g)", l, s->lora_scale);
        else if (!t->routed[pl])
            canvas_printf(c, row, v->x, C_NORMAL, "blk %d: no router here (adapter off at this block)", l);
        else
            canvas_printf(c, row, v->x, C_BOLD, "blk %d %s %s: pi %.3f w %.3f z %.2f z' %.2f%s", l, e < s->n_id ? "id" : "LoRA", lab,
                          t->pi[pe], t->w[pe], t->z[pe], t->zy[pe], t->w[pe] != 0 ? " kept" : "");
    }
#undef CELL_X
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

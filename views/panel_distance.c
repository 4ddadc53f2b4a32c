// panel_distance.c: per block, the cluster distance d of the selected token as a bar with the
// point where the yield makes an identity expert the top-1 marked '┃', and the nearest centre;
// below, a sparkline of d across the sequence for the selected block. The bars share one scale
// over the whole sequence, so moving the cursor does not rescale them; in lora-only mode (no
// identity experts, no yield) the crossing point is not drawn.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "slim.h"

typedef struct {
    View super;
    int pos, layer;
    double lo, hi;             // bar scale
    int show_win;              // identity experts take part: draw where they win
} DistanceView;

static int cmp_float(const void* a, const void* b) {
    float x = *(const float*)a, y = *(const float*)b;
    return (x > y) - (x < y);
}

static void distance_update(View* v, const Snapshot* s, const UiState* u) {
    DistanceView* d = (DistanceView*)v;
    d->pos = ui_sel_pos(u, s);
    d->layer = u->layer < s->n_layers ? u->layer : s->n_layers - 1;
    d->show_win = s->mode != MODE_LORA_ONLY;
    // one scale for the sequence: from d = -1 (the centre itself) to the 90th percentile of the
    // positions' largest d (an outlier such as a first token far from every centre saturates its
    // bars instead of flattening everyone else's), or a crossing point not far beyond it; at least 1
    d->lo = -1;
    d->hi = 1;
    int L = s->n_layers, m = 0;
    float* top_d = xmalloc((s->n > 0 ? s->n : 1) * sizeof(float));
    for (int pos = 0; pos < s->n; pos++) {
        float mx = -INFINITY;
        for (int l = 0; l < L; l++)
            if (s->tr.routed[(size_t)pos * L + l] && s->tr.dist[(size_t)pos * L + l] > mx) mx = s->tr.dist[(size_t)pos * L + l];
        if (isfinite(mx)) top_d[m++] = mx;
    }
    if (m) {
        qsort(top_d, m, sizeof(float), cmp_float);
        if (top_d[(int)(0.9 * (m - 1))] > d->hi) d->hi = top_d[(int)(0.9 * (m - 1))];
    }
    free(top_d);
    double top = d->hi;
    size_t n = (size_t)s->n * L;
    for (size_t pl = 0; pl < n && d->show_win; pl++)
        if (s->tr.routed[pl] && isfinite(s->win_d[pl]) && s->win_d[pl] > d->hi && s->win_d[pl] < 4 * top) d->hi = s->win_d[pl];
    d->hi = ceil(d->hi);
}

static void distance_draw(View* v, Canvas* c) {
    DistanceView* d = (DistanceView*)v;
    const Snapshot* s = v->snap;
    const Trace* t = &s->tr;
    int L = s->n_layers, pos = d->pos;
    char info[3][160];
    snprintf(info[0], sizeof info[0], "d per block, scale %.0f..%.0f%s", d->lo, d->hi, d->show_win ? ", ┃ = identity wins" : "");
    snprintf(info[1], sizeof info[1], "d %.0f..%.0f%s", d->lo, d->hi, d->show_win ? "  ┃ identity wins" : "");
    snprintf(info[2], sizeof info[2], "d %.0f..%.0f", d->lo, d->hi);
    int y = v->y + 1, rows = v->h - 1;
    // every block's bar first; then a sparkline for each block, or for the selected one, as rows allow
    int body = rows < L ? rows : L;
    int spark_rows = rows >= 2 * L ? L : rows > L ? 1 : 0;
    int l0 = window_start(L, body, d->layer);
    char tag[64];
    draw_title_fit(c, v, (const char* const[]){info[0], info[1], info[2]}, 3,
                   s->is_slim ? block_window_tag(tag, sizeof tag, l0, body, L) : NULL);
    if (rows <= 0) return;
    if (!s->has_adapter || !s->is_slim) {
        canvas_putn(c, y, v->x, s->has_adapter ? "plain LoRA adapter: no clusters" : "no adapter loaded (:load DIR)", v->w, C_DIM);
        return;
    }
    // nearest-centre dots when the clusters are few enough
    int dots = s->n_clusters <= 8 ? s->n_clusters : 0;
    int tail = 4 + (dots ? dots + 1 : 0) + 4;  // " c12" + dots + " →id"
    int bw = v->w - 11 - tail;
    if (bw < 4) {
        bw = v->w - 11 - 4;
        dots = 0;
    }
    for (int i = 0; i < body && l0 + i < L && pos >= 0; i++) {
        int l = l0 + i, row = y + i;
        size_t pl = (size_t)pos * L + l;
        canvas_printf(c, row, v->x, l == d->layer ? C_SELECTED : C_NORMAL, "%3d", l);
        if (!t->routed[pl]) {
            canvas_put(c, row, v->x + 4, "no router", C_UNROUTED);
            continue;
        }
        float dist = t->dist[pl], win = d->show_win ? s->win_d[pl] : NAN;
        canvas_printf(c, row, v->x + 4, C_NORMAL, "%6.2f", dist);
        int bx = v->x + 11;
        if (bw > 0) {
            draw_hbar(c, row, bx, bw, dist, d->lo, d->hi, C_BAR);
            if (isfinite(win)) {
                int mc = bar_col(bw, win, d->lo, d->hi);
                canvas_put_char(c, row, bx + mc, win > d->hi ? 0x25B8 : win < d->lo ? 0x25C2 : 0x2503, C_BAR_MARK);
            }
        }
        int col = bx + (bw > 0 ? bw : 0);
        col = canvas_printf(c, row, col, C_NEAREST, " c%d", t->nearest[pl]);
        if (dots) {
            col++;
            for (int j = 0; j < dots; j++) canvas_put_char(c, row, col++, j == t->nearest[pl] ? 0x25CF : 0x25CB, j == t->nearest[pl] ? C_NEAREST : C_DIM);
        }
        if (isfinite(win) && dist >= win) canvas_put(c, row, col, " →id", C_ID_EXPERT);
    }
    if (!spark_rows || s->n == 0) return;
    // sparklines of d at a block across the sequence (a window of positions around the cursor)
    int lab_w = text_width("blk 99 d:") + 1;
    int width = v->w - lab_w - 1;
    if (width < 4) return;
    int n = s->n < width ? s->n : width;
    if (n > 1024) n = 1024;
    int p0 = pos >= 0 ? window_start(s->n, n, pos) : 0;
    int first = spark_rows >= L ? 0 : d->layer;
    for (int k = 0; k < spark_rows && first + k < L; k++) {
        int l = first + k, row = y + rows - spark_rows + k;
        canvas_printf(c, row, v->x, l == d->layer ? C_SELECTED : C_DIM, "blk %d d:", l);
        float vals[1024];
        for (int i = 0; i < n; i++) {
            size_t pl = (size_t)(p0 + i) * L + l;
            vals[i] = t->routed[pl] ? t->dist[pl] : NAN;
        }
        draw_sparkline(c, row, v->x + lab_w, vals, n, 0, 0, C_SPARK, pos - p0, C_SPARK_SEL);  // scaled to its own range
    }
}

static int distance_key(View* v, int key, UiState* u) { return panel_block_key(v, key, u); }

static const ViewClass DISTANCE_CLASS = {
    .name = "Distance",
    .keys_help = "Up/Down  select the block (its d is the sparkline)",
    .update = distance_update,
    .draw = distance_draw,
    .on_key = distance_key,
};

View* distance_view_new(void) { return view_alloc(sizeof(DistanceView), &DISTANCE_CLASS); }

// panel_status.c: the status bar (model, adapter, device, threads, mode, p, mask seed, tokens/s,
// memory, context, last key-to-screen time, activity) and, when the view has two rows, the message line above it.
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "slim.h"

typedef struct {
    View super;
} StatusView;

static void status_draw(View* v, Canvas* c) {
    const Snapshot* s = v->snap;
    const UiState* u = v->ui;
    int bar = v->y + v->h - 1;
    // message line (or the whole bar when there is one row and a message)
    if (u->msg[0] && v->h >= 2) canvas_putn(c, v->y, v->x, u->msg, v->w, u->msg_error ? C_ERROR : C_MESSAGE);
    canvas_fill(c, bar, v->x, v->w, ' ', C_STATUS);
    if (u->msg[0] && v->h == 1) {
        canvas_putn(c, bar, v->x, u->msg, v->w, u->msg_error ? C_ERROR : C_STATUS_KEY);
        return;
    }
    char right[96] = "";
    if (s->busy) snprintf(right, sizeof right, " ● %s (Esc stops) ", s->busy_what);
    int rw = text_width(right);
    int limit = v->x + v->w - rw;
    struct { const char* key; char val[256]; } f[12];
    int n = 0;
    snprintf(f[n].val, sizeof f[n].val, "%s", s->model_name), f[n++].key = "model ";
    snprintf(f[n].val, sizeof f[n].val, "%.100s%s%.90s%s", s->has_adapter ? s->adapter_name : "none", s->has_adapter ? " (" : "",
             s->has_adapter ? s->adapter_kind : "", s->has_adapter ? ")" : ""), f[n++].key = "adapter ";
    snprintf(f[n].val, sizeof f[n].val, "%s %dt", s->device, s->threads), f[n++].key = "";
    snprintf(f[n].val, sizeof f[n].val, "%s", adapter_mode_name((AdapterMode)u->mode)), f[n++].key = "mode ";
    snprintf(f[n].val, sizeof f[n].val, "%.2f", u->p), f[n++].key = "p ";
    snprintf(f[n].val, sizeof f[n].val, "%llu", (unsigned long long)u->mask_seed), f[n++].key = "seed ";
    snprintf(f[n].val, sizeof f[n].val, "%.1f", s->tok_per_s), f[n++].key = "tok/s ";
    snprintf(f[n].val, sizeof f[n].val, "%.0f MB", u->rss_mb), f[n++].key = "mem ";
    snprintf(f[n].val, sizeof f[n].val, "%d/%d", s->n, s->max_seq), f[n++].key = "ctx ";
    if (u->latency_ms > 0) snprintf(f[n].val, sizeof f[n].val, "%.0f ms", u->latency_ms), f[n++].key = "key ";
    snprintf(f[n].val, sizeof f[n].val, "help"), f[n++].key = "? ";
    // fields left out when the bar is too narrow, first to last: the adapter's description, then
    // help, key time, memory, device, tokens/s, context, seed (model, adapter, mode and p stay)
    static const int DROP[] = {-1, 10, 9, 7, 2, 6, 8, 5};
    int keep[12];
    for (int i = 0; i < n; i++) keep[i] = 1;
    for (size_t d = 0;; d++) {
        int total = 1;
        for (int i = 0; i < n; i++)
            if (keep[i]) total += text_width(f[i].key) + text_width(f[i].val) + 3;
        if (total <= limit - v->x || d >= sizeof DROP / sizeof DROP[0]) break;
        if (DROP[d] < 0) {
            char* paren = strchr(f[1].val, '(');
            if (paren) paren[paren > f[1].val && paren[-1] == ' ' ? -1 : 0] = 0;
        } else if (DROP[d] < n) {
            keep[DROP[d]] = 0;
        }
    }
    int col = v->x + 1, first = 1;
    for (int i = 0; i < n; i++) {
        if (!keep[i]) continue;
        if (!first) col = canvas_put(c, bar, col, "│ ", C_STATUS);
        first = 0;
        col = canvas_putn(c, bar, col, f[i].key, limit - col, C_STATUS);
        col = canvas_putn(c, bar, col, f[i].val, limit - col, C_STATUS_KEY);
        col = canvas_put(c, bar, col, " ", C_STATUS);
    }
    if (rw && rw < v->w) canvas_put(c, bar, limit, right, C_BUSY);
}

static const ViewClass STATUS_CLASS = {
    .name = "Status",
    .draw = status_draw,
};

View* status_view_new(void) {
    StatusView* sv = xcalloc(1, sizeof *sv);
    sv->super.klass = &STATUS_CLASS;
    sv->super.visible = 1;
    return &sv->super;
}

// panel_status.c: the status bar (model, adapter, device, threads, mode, p, mask seed, sampling
// (temperature, top-p, sampling seed), n, whether a prompt appends, tokens/s, memory, context, last
// key-to-screen time, activity) and, when the view has two rows, the message line above it.
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
    if (u->msg[0] && v->h == 1 && !u->msg_on_prompt) {
        canvas_putn(c, bar, v->x, u->msg, v->w, u->msg_error ? C_ERROR : C_STATUS_KEY);
        return;
    }
    char right[96] = "";
    if (s->busy) snprintf(right, sizeof right, " ● %s (Esc stops) ", s->busy_what);
    int rw = text_width(right);
    int limit = v->x + v->w - rw;
    // the fields, in the order shown; DROP says which go first when the bar is too narrow
    enum { F_MODEL, F_ADAPTER, F_DEVICE, F_MODE, F_P, F_MASK_SEED, F_SAMPLING, F_N, F_PROMPT, F_TOKS, F_MEM, F_CTX, F_KEY, F_HELP, F_COUNT };
    struct { const char* key; char val[256]; } f[F_COUNT];
    for (int i = 0; i < F_COUNT; i++) f[i].key = "", f[i].val[0] = 0;
    snprintf(f[F_MODEL].val, sizeof f[0].val, "%s", s->model_name), f[F_MODEL].key = "model ";
    snprintf(f[F_ADAPTER].val, sizeof f[0].val, "%.100s%s%.90s%s", s->has_adapter ? s->adapter_name : "none", s->has_adapter ? " (" : "",
             s->has_adapter ? s->adapter_kind : "", s->has_adapter ? ")" : ""), f[F_ADAPTER].key = "adapter ";
    snprintf(f[F_DEVICE].val, sizeof f[0].val, "%s %dt", s->device, s->threads);
    snprintf(f[F_MODE].val, sizeof f[0].val, "%s", adapter_mode_name((AdapterMode)u->mode)), f[F_MODE].key = "mode ";
    snprintf(f[F_P].val, sizeof f[0].val, "%.2f", u->p), f[F_P].key = "p ";
    snprintf(f[F_MASK_SEED].val, sizeof f[0].val, "%llu", (unsigned long long)u->mask_seed), f[F_MASK_SEED].key = "mask seed ";
    // temp 0 is greedy; top-p and the sampling seed are shown all the same (they act once temp > 0)
    snprintf(f[F_SAMPLING].val, sizeof f[0].val, "temp %g top-p %g sampling seed %llu", u->temp, u->top_p, (unsigned long long)u->seed);
    snprintf(f[F_N].val, sizeof f[0].val, "%d", u->n_new), f[F_N].key = "n ";
    snprintf(f[F_PROMPT].val, sizeof f[0].val, "%s", u->append ? "appends" : "new sequence"), f[F_PROMPT].key = "prompt ";
    snprintf(f[F_TOKS].val, sizeof f[0].val, "%.1f", s->tok_per_s), f[F_TOKS].key = "tok/s ";
    snprintf(f[F_MEM].val, sizeof f[0].val, "%.0f MB", u->rss_mb), f[F_MEM].key = "mem ";
    snprintf(f[F_CTX].val, sizeof f[0].val, "%d/%d", s->n, s->max_seq), f[F_CTX].key = "ctx ";
    if (u->latency_ms > 0) snprintf(f[F_KEY].val, sizeof f[0].val, "%.0f ms", u->latency_ms), f[F_KEY].key = "key ";
    snprintf(f[F_HELP].val, sizeof f[0].val, "help"), f[F_HELP].key = "? ";
    // left out when the bar is too narrow, first to last: the adapter's description (-1), then
    // help, memory, device, sampling, key time, mask seed, n, prompt mode, context, tokens/s
    // (model, adapter, mode and p stay)
    static const int DROP[] = {-1, F_HELP, F_MEM, F_DEVICE, F_SAMPLING, F_KEY, F_MASK_SEED, F_N, F_PROMPT, F_CTX, F_TOKS};
    int keep[F_COUNT], n = F_COUNT;
    for (int i = 0; i < n; i++) keep[i] = f[i].val[0] != 0;
    for (size_t d = 0;; d++) {
        int total = 1;
        for (int i = 0; i < n; i++)
            if (keep[i]) total += text_width(f[i].key) + text_width(f[i].val) + 3;
        if (total <= limit - v->x || d >= sizeof DROP / sizeof DROP[0]) break;
        if (DROP[d] < 0) {
            char* paren = strchr(f[F_ADAPTER].val, '(');
            if (paren) paren[paren > f[F_ADAPTER].val && paren[-1] == ' ' ? -1 : 0] = 0;
        } else {
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

View* status_view_new(void) { return view_alloc(sizeof(StatusView), &STATUS_CLASS); }

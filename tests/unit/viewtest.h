// viewtest.h: what the panel tests share: a hand-built Trace and Snapshot (values in the comment
// of build_trace), rendering one view into a Canvas, and assertions on the text read back.
#ifndef SLIMSCOPE_VIEWTEST_H
#define SLIMSCOPE_VIEWTEST_H

#include "testutil.h"

#include "adapter.h"
#include "views/draw.h"
#include "views/screen.h"
#include "views/tui.h"

// ---------------------------------------------------------------------------------------------
// helpers

static inline char* row_text(const Canvas* c, int row) {
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    return canvas_row_text(c, row, buf[k], sizeof buf[k]);
}

static inline char* text_at(const Canvas* c, int row, int col, int len) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    return canvas_text_at(c, row, col, len, buf[k], sizeof buf[k]);
}

#define assert_text_at(c, row, col, s)                                                                      \
    do {                                                                                                    \
        const char* got_ = text_at((c), (row), (col), text_width(s));                                       \
        if (strcmp(got_, (s)) != 0)                                                                         \
            fail_msg("row %d col %d: expected '%s', got '%s' (row: '%s')", (row), (col), (s), got_, row_text((c), (row))); \
    } while (0)

#define assert_row_has(c, row, s)                                                                           \
    do {                                                                                                    \
        if (!strstr(row_text((c), (row)), (s))) fail_msg("row %d: '%s' not in '%s'", (row), (s), row_text((c), (row))); \
    } while (0)

#define assert_row_lacks(c, row, s)                                                                         \
    do {                                                                                                    \
        if (strstr(row_text((c), (row)), (s))) fail_msg("row %d: '%s' unexpectedly in '%s'", (row), (s), row_text((c), (row))); \
    } while (0)

static const char* VOCAB[8] = {"a", "b", "c", "dog", "cat", " the", "\n", "x"};

// A trace of 4 positions, 2 blocks, E = 4 experts (1 identity + 3 LoRA), values set by hand.
//   pos 0 'Hi'     blk 0: pi .7 .1 .1 .1  kept {0,1} w .875 .125  d 0.5 c1    blk 1: no router
//   pos 1 ' there' blk 0: pi .04 .03 .9 .03 kept {0,2} w .0426 0 .9574 0  d -0.5 c0, z -1 0 2 0
//                  blk 1: pi .5 .2 .2 .1 kept {0,1} w .714 .286  d 1.5 c0, z 1 2 .5 0
//   pos 2 '\n'     blk 0: identity  blk 1: LoRA expert 2 (e = 3) dominant
//   pos 3 'ok'     like pos 2
static inline void build_trace(Trace* t) {
    trace_init(t, 2, 4, 1, 4);
    t->want_lens = 1;
    t->n = 4;
    int L = 2, E = 4;
    memset(t->z, 0, 4 * L * E * sizeof(float));
    memset(t->zy, 0, 4 * L * E * sizeof(float));
    memset(t->pi, 0, 4 * L * E * sizeof(float));
    memset(t->w, 0, 4 * L * E * sizeof(float));
    for (int i = 0; i < 4 * L; i++) {
        t->routed[i] = 1;
        t->nearest[i] = 0;
        t->dist[i] = 0;
        t->id_share[i] = 1;
    }
    for (int i = 0; i < 4 * L * 7; i++) t->rel_delta[i] = -1;
#define SET4(arr, pos, l, a, b, c, d)                                    \
    do {                                                                 \
        float* p_ = (arr) + ((size_t)(pos) * L + (l)) * E;               \
        p_[0] = a, p_[1] = b, p_[2] = c, p_[3] = d;                      \
    } while (0)
    for (int p = 0; p < 4; p++) t->token[p] = p;
    SET4(t->pi, 0, 0, 0.7f, 0.1f, 0.1f, 0.1f);
    SET4(t->w, 0, 0, 0.875f, 0.125f, 0, 0);
    SET4(t->z, 0, 0, 2.0f, 0.0f, 0.0f, 0.0f);
    t->id_share[0 * L + 0] = 0.875f;
    t->dist[0 * L + 0] = 0.5f;
    t->nearest[0 * L + 0] = 1;
    t->routed[0 * L + 1] = 0;
    SET4(t->pi, 1, 0, 0.04f, 0.03f, 0.9f, 0.03f);
    SET4(t->w, 1, 0, 0.0426f, 0, 0.9574f, 0);
    SET4(t->z, 1, 0, -1.0f, 0.0f, 2.0f, 0.0f);
    SET4(t->zy, 1, 0, -1.25f, 0.0f, 2.0f, 0.0f);
    t->id_share[1 * L + 0] = 0.0426f;
    t->dist[1 * L + 0] = -0.5f;
    SET4(t->pi, 1, 1, 0.5f, 0.2f, 0.2f, 0.1f);
    SET4(t->w, 1, 1, 0.714f, 0.286f, 0, 0);
    SET4(t->z, 1, 1, 1.0f, 2.0f, 0.5f, 0.0f);
    t->id_share[1 * L + 1] = 0.714f;
    t->dist[1 * L + 1] = 1.5f;
    for (int p = 2; p < 4; p++) {
        SET4(t->pi, p, 0, 0.6f, 0.2f, 0.1f, 0.1f);
        SET4(t->w, p, 0, 0.75f, 0.25f, 0, 0);
        t->id_share[p * L + 0] = 0.75f;
        SET4(t->pi, p, 1, 0.1f, 0.1f, 0.2f, 0.6f);
        SET4(t->w, p, 1, 0, 0, 0.25f, 0.75f);
        t->id_share[p * L + 1] = 0.0f;
        t->dist[p * L + 1] = 3.0f;
    }
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < L; l++) {
            t->lens_id[p * L + l] = 3 + l;  // "dog", "cat"
            t->lens_p[p * L + l] = 0.25f + 0.5f * l;
        }
    for (int p = 0; p < 4; p++)
        for (int k = 0; k < TRACE_TOPK; k++) {
            t->top_id[p * TRACE_TOPK + k] = k;
            t->top_p[p * TRACE_TOPK + k] = 0.1f;
        }
}

static inline void build_snapshot(Snapshot* s, Trace* t) {
    static const char* texts[4] = {"Hi", " there", "\n", "ok"};
    build_trace(t);
    snapshot_init(s);
    s->yield_scale = 0.5f;  // before set_trace: the crossing points use it
    snapshot_set_trace(s, t, 0, texts, NULL);
    s->has_adapter = 1;
    s->is_slim = 1;
    s->n_clusters = 2;
    s->vocab = 8;
    s->vocab_text = VOCAB;
    s->max_seq = 512;
    s->threads = 3;
    snprintf(s->model_name, sizeof s->model_name, "tiny");
    snprintf(s->adapter_name, sizeof s->adapter_name, "slimA");
    snprintf(s->adapter_kind, sizeof s->adapter_kind, "SLIM 1 id + 3 LoRA, top-2, r 4");
}

static inline UiState ui_default(void) {
    UiState u;
    memset(&u, 0, sizeof u);
    u.sel = -1;
    u.top_p = 1;
    u.n_new = 32;
    return u;
}

// Renders one view at (x, y, w, h) of a canvas.
static inline void render(View* v, Canvas* c, const Snapshot* s, const UiState* u, int x, int y, int w, int h) {
    v->x = x;
    v->y = y;
    v->w = w;
    v->h = h;
    v->visible = 1;
    canvas_clear(c, C_NORMAL);
    view_update(v, s, u);
    view_draw(v, c);
}

static inline void panel_done(View* v, Canvas* c, Snapshot* s, Trace* t) {
    view_destroy(v);
    canvas_free(c);
    snapshot_free(s);
    trace_free(t);
}

#endif

// test_views.c: the TUI's panels rendered into a Canvas from a hand-built Trace, asserting text
// (and colour) at row/col; the canvas itself; the screen layouts. The worker thread behind them is
// tested in test_worker.c.
#include "testutil.h"

#include "adapter.h"
#include "views/draw.h"
#include "views/screen.h"
#include "views/tui.h"

// ---------------------------------------------------------------------------------------------
// helpers

static char* row_text(const Canvas* c, int row) {
    static char buf[8][4096];
    static int k;
    k = (k + 1) % 8;
    return canvas_row_text(c, row, buf[k], sizeof buf[k]);
}

static char* text_at(const Canvas* c, int row, int col, int len) {
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
static void build_trace(Trace* t) {
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

static void build_snapshot(Snapshot* s, Trace* t) {
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

static UiState ui_default(void) {
    UiState u;
    memset(&u, 0, sizeof u);
    u.sel = -1;
    u.top_p = 1;
    u.n_new = 32;
    return u;
}

// Renders one view at (x, y, w, h) of a canvas.
static void render(View* v, Canvas* c, const Snapshot* s, const UiState* u, int x, int y, int w, int h) {
    v->x = x;
    v->y = y;
    v->w = w;
    v->h = h;
    v->visible = 1;
    canvas_clear(c, C_NORMAL);
    view_update(v, s, u);
    view_draw(v, c);
}

// ---------------------------------------------------------------------------------------------
// canvas

static void test_canvas_text_and_clipping(void** st) {
    Canvas c;
    canvas_init(&c, 4, 10);
    assert_int_equal(canvas_put(&c, 0, 2, "abc", C_BOLD), 5);
    assert_text_at(&c, 0, 2, "abc");
    assert_int_equal(canvas_color_at(&c, 0, 3), C_BOLD);
    assert_int_equal(canvas_color_at(&c, 0, 5), C_NORMAL);
    // double-width characters take two cells; the row reads back as the same text
    assert_int_equal(canvas_put(&c, 1, 0, "日本x", C_NORMAL), 5);
    assert_text_at(&c, 1, 0, "日本x");
    assert_int_equal(canvas_char_at(&c, 1, 1), CANVAS_CONT);
    // a wide character that would straddle the clip edge is left out
    canvas_clip(&c, 0, 2, 2, 1);
    canvas_put(&c, 2, 0, "a日", C_NORMAL);
    canvas_put(&c, 3, 0, "zzz", C_NORMAL);  // outside the clip rows
    canvas_unclip(&c);
    assert_text_at(&c, 2, 0, "a   ");
    assert_text_at(&c, 3, 0, "   ");
    // invalid UTF-8 -> U+FFFD, control characters -> middle dot, text past the edge dropped
    canvas_clear(&c, C_NORMAL);
    canvas_put(&c, 0, 0, "a\xff" "b\x01" "c", C_NORMAL);
    assert_text_at(&c, 0, 0, "a\xEF\xBF\xBD" "b\xC2\xB7" "c");
    canvas_put(&c, 1, 7, "overflow", C_NORMAL);
    assert_text_at(&c, 1, 7, "ove");
    // overwriting half of a wide character blanks the other half
    canvas_put(&c, 2, 0, "日", C_NORMAL);
    canvas_put(&c, 2, 1, "x", C_NORMAL);
    assert_text_at(&c, 2, 0, " x");
    int col;
    assert_int_equal(canvas_find(&c, "ove", 0, &col), 1);
    assert_int_equal(col, 7);
    canvas_free(&c);
}

static void test_draw_scales(void** st) {
    // heat: v -> glyph: below 0.02 a dot, then 1 + floor(4v) steps of shade, capped at full block
    assert_int_equal(heat_glyph(0.0), 0x00B7);
    assert_int_equal(heat_glyph(0.1), 0x2591);
    assert_int_equal(heat_glyph(0.3), 0x2592);
    assert_int_equal(heat_glyph(0.6), 0x2593);
    assert_int_equal(heat_glyph(0.9), 0x2588);
    assert_int_equal(heat_color(0.9), C_HEAT_7);
    assert_int_equal(heat_color(0.1), C_HEAT_0);
    assert_int_equal(share_color(0.0), C_SHARE_0);
    assert_int_equal(share_color(1.0), C_SHARE_4);
    assert_int_equal(share_color(0.5), C_SHARE_2);
    assert_int_equal(spark_glyph(0), 0x2581);
    assert_int_equal(spark_glyph(1), 0x2588);
    Canvas c;
    canvas_init(&c, 1, 10);
    draw_hbar(&c, 0, 0, 8, 0.5, 0, 1, C_BAR);  // half of 8 cells: 4 full blocks then the track
    assert_text_at(&c, 0, 0, "████────");
    canvas_clear(&c, C_NORMAL);
    draw_hbar(&c, 0, 0, 4, 0.3, 0, 1, C_BAR);  // 0.3 * 32 eighths = 9.6 -> 10: one block + a quarter
    assert_text_at(&c, 0, 0, "█▎──");
    canvas_free(&c);
    char buf[64];
    assert_string_equal(token_display(buf, sizeof buf, "a\nb\t"), "a↵b⇥");
    assert_string_equal(token_display(buf, sizeof buf, ""), "∅");
}

// ---------------------------------------------------------------------------------------------
// panels

static void panel_done(View* v, Canvas* c, Snapshot* s, Trace* t) {
    view_destroy(v);
    canvas_free(c);
    snapshot_free(s);
    trace_free(t);
}

static void test_router_panel(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 10, 50);
    View* v = router_view_new();
    UiState u = ui_default();
    u.sel = 1;
    u.layer = 1;
    u.expert = 1;
    render(v, &c, &s, &u, 0, 0, 50, 7);
    assert_text_at(&c, 0, 0, "  Router  pos 1 ' there'");
    // header: labels at 4 + e * 3 (+ 1 for the rule after the identity expert)
    assert_text_at(&c, 1, 0, "blk");
    assert_text_at(&c, 1, 4, "i0");
    assert_text_at(&c, 1, 7, "│");
    assert_text_at(&c, 1, 8, "0");
    assert_text_at(&c, 1, 11, "1");
    assert_text_at(&c, 1, 14, "2");
    // blk 0 of pos 1: pi .04 .03 .9 .03 -> ░ ░ █ ░ (above 0.02: the lightest shade), kept
    // experts 0 and 2 marked '*'
    assert_text_at(&c, 2, 0, "  0 ");
    assert_text_at(&c, 2, 4, "░░*│░░");
    assert_text_at(&c, 2, 11, "██*");
    assert_int_equal(canvas_color_at(&c, 2, 11), C_HEAT_7);
    assert_int_equal(canvas_color_at(&c, 2, 4), C_HEAT_0);
    assert_text_at(&c, 2, 14, "░░ ");
    // blk 1: pi .5 .2 .2 .1 -> ▓ ░ ░ ░ (0.5*4 = 2 -> 3rd shade), experts 0, 1 kept
    assert_text_at(&c, 3, 4, "▓▓*│░░*░░ ░░ ");
    // the selected cell (blk 1, expert 1) is highlighted and described in the footer
    assert_int_equal(canvas_color_at(&c, 3, 8), C_SELECTED);
    assert_int_equal(canvas_color_at(&c, 3, 4), heat_color(0.5));
    assert_text_at(&c, 6, 0, "blk 1 LoRA 0: pi 0.200 w 0.286 z 2.00 z' 0.00 kept");
    // identity share column: 4% at blk 0, 71% at blk 1
    assert_row_has(&c, 2, "  4%");
    assert_row_has(&c, 3, " 71%");
    // pos 0, blk 1 has no router: dots in the unrouted colour and "off"
    u.sel = 0;
    render(v, &c, &s, &u, 0, 0, 50, 7);
    assert_text_at(&c, 3, 4, "···│··");
    assert_int_equal(canvas_color_at(&c, 3, 4), C_UNROUTED);
    assert_row_has(&c, 3, "off");
    assert_text_at(&c, 6, 0, "blk 1: no router here");
    // a forced block is flagged
    s.force[0] = 2;
    render(v, &c, &s, &u, 0, 0, 50, 7);
    assert_row_has(&c, 2, "F1");
    // narrow: cells shrink to 2 columns (heat + marker)
    render(v, &c, &s, &u, 0, 0, 14, 7);
    assert_text_at(&c, 1, 4, "i0│0 1 2");
    panel_done(v, &c, &s, &t);
}

// A plain LoRA adapter (one expert, no router) applied at block 0 of 2 blocks and absent at block 1:
// an always-on expert, identity share 0 where it is applied.
static void test_router_plain_lora(void** st) {
    static const char* texts[2] = {"a", "b"};
    Trace t;
    trace_init(&t, 2, 1, 0, 2);
    t.n = 2;
    for (int pl = 0; pl < 4; pl++) {
        t.routed[pl] = 0;
        t.nearest[pl] = -1;
        t.dist[pl] = 0;
        t.z[pl] = t.zy[pl] = 0;
        t.pi[pl] = 1;
        int applied = pl % 2 == 0;  // block 0
        t.w[pl] = applied ? 1.0f : 0.0f;
        t.id_share[pl] = applied ? 0.0f : 1.0f;
        for (int p = 0; p < 7; p++) t.rel_delta[pl * 7 + p] = -1;
    }
    t.token[0] = 0, t.token[1] = 1;
    Snapshot s;
    snapshot_init(&s);
    snapshot_shape(&s, 2, 1, 0);
    snapshot_set_trace(&s, &t, 0, texts, NULL);
    s.has_adapter = 1;
    s.lora_scale = 2.0f;  // lora_alpha 8 / r 4
    s.vocab = 8;
    s.vocab_text = VOCAB;
    // the mean over the blocks where it was applied: 0, not the "nothing applied" 1
    assert_float_equal(s.tok_share[0], 0.0, 0);
    assert_float_equal(s.tok_share[1], 0.0, 0);
    assert_int_equal(s.dominant[0], 0);   // block 0: LoRA expert 0
    assert_int_equal(s.dominant[1], -2);  // block 1: nothing there
    Canvas c;
    canvas_init(&c, 8, 50);
    View* v = router_view_new();
    UiState u = ui_default();
    u.sel = 1;
    u.layer = 0;
    render(v, &c, &s, &u, 0, 0, 50, 5);
    assert_row_has(&c, 2, "  0%");
    assert_row_has(&c, 3, "off");
    assert_row_has(&c, 4, "blk 0: plain LoRA: always on (scale 2)");
    u.layer = 1;
    render(v, &c, &s, &u, 0, 0, 50, 5);
    assert_row_has(&c, 4, "blk 1: no router here");
    panel_done(v, &c, &s, &t);
}

static void test_distance_panel(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    // identity wins once z_id + gamma d >= max z_lora: pos 1 blk 1: (2 - 1) / 0.5 = 2
    assert_float_equal(s.win_d[1 * 2 + 1], 2.0, 1e-6);
    assert_float_equal(s.win_d[1 * 2 + 0], 6.0, 1e-6);  // (2 - (-1)) / 0.5
    assert_true(isnan(s.win_d[0 * 2 + 1]));             // no router
    Canvas c;
    canvas_init(&c, 12, 60);
    View* v = distance_view_new();
    UiState u = ui_default();
    u.sel = 1;
    u.layer = 1;
    render(v, &c, &s, &u, 0, 0, 60, 6);
    // scale -1 .. ceil(max d or crossing below 4 * 1) = -1 .. 2
    assert_row_has(&c, 0, "scale -1..2");
    assert_text_at(&c, 1, 0, "  0  -0.50 ");
    assert_text_at(&c, 2, 0, "  1   1.50 ");
    // bars start at col 11, width 60 - 11 - (4 + 3 + 4) = 38 (2 clusters: dots drawn)
    int bw = 38;
    // blk 0: d = -0.5 is 1/6 of the scale; its crossing (6) lies past the end: '▸' at the last cell
    assert_text_at(&c, 1, 11 + bw - 1, "▸");
    assert_text_at(&c, 1, 11 + bw, " c0 ●○");
    // blk 1: crossing at 2 = the top of the scale -> last cell '┃'; d 1.5 < 2: no "→id"
    assert_text_at(&c, 2, 11 + bw - 1, "┃");
    assert_int_equal(canvas_color_at(&c, 2, 11 + bw - 1), C_BAR_MARK);
    assert_row_lacks(&c, 2, "→id");
    // bar length: (1.5 + 1) / 3 * 38 * 8 eighths = 253.3 -> 31 full cells and 5 eighths
    assert_text_at(&c, 2, 11 + 30, "█▋─");
    // the sparkline of d at the selected block across the sequence (pos 0 has no router there)
    assert_text_at(&c, 5, 0, "blk 1 d:");
    // values 1.5, 3, 3 over their own range 1.5..3 -> ▁ █ █, the cursor (pos 1) highlighted
    assert_text_at(&c, 5, 11, "▁██");
    assert_int_equal(canvas_color_at(&c, 5, 11), C_SPARK_SEL);
    // pos 2, blk 1: d = 3 past its crossing (id max 0 + 0.5 d >= lora max 0 -> 0): "→id"
    u.sel = 2;
    render(v, &c, &s, &u, 0, 0, 60, 6);
    assert_row_has(&c, 2, "→id");
    // tall enough: one sparkline per block
    render(v, &c, &s, &u, 0, 0, 60, 9);
    assert_text_at(&c, 7, 0, "blk 0 d:");
    assert_text_at(&c, 8, 0, "blk 1 d:");
    panel_done(v, &c, &s, &t);
}

static void test_selection_panel(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 8, 40);
    View* v = selection_view_new();
    UiState u = ui_default();
    u.sel = 2;
    render(v, &c, &s, &u, 0, 0, 40, 6);
    assert_row_has(&c, 0, "Selection");
    // header: '0' tick at pos 0, cursor mark at pos 2 (col 4 + 2)
    assert_text_at(&c, 1, 4, "0");
    assert_text_at(&c, 1, 6, "▼");
    // blk 0: identity, LoRA expert 1 (e = 2), identity, identity
    assert_text_at(&c, 2, 0, "  0 ·1··");
    assert_int_equal(canvas_color_at(&c, 2, 5), expert_color(1));
    assert_int_equal(canvas_color_at(&c, 2, 4), C_SEL_ID);
    // blk 1: no router, identity (w .714 on identity), LoRA expert 2, LoRA expert 2
    assert_text_at(&c, 3, 0, "  1  ·22");
    assert_int_equal(canvas_color_at(&c, 3, 6), C_SELECTED);  // the cursor's column
    assert_text_at(&c, 5, 0, "pos 2 '↵' blk 0: identity");
    panel_done(v, &c, &s, &t);
}

static void test_output_panel(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 6, 40);
    View* v = output_view_new();
    UiState u = ui_default();
    u.sel = 1;
    render(v, &c, &s, &u, 0, 0, 40, 4);
    // title: position, text and the token's mean identity share over routed blocks:
    // pos 1: (0.0426 + 0.714) / 2 = 37.8% -> 38%
    assert_text_at(&c, 0, 0, "  Output  pos 1/4 ' there'  id-share 38%");
    // "Hi there↵" then a new line with "ok"
    assert_text_at(&c, 1, 0, "Hi there↵");
    assert_text_at(&c, 2, 0, "ok");
    // tints: 'Hi' = pos 0: share 0.875 (only blk 0 routed) -> round(3.5) = 4; cursor on ' there'
    assert_int_equal(canvas_color_at(&c, 1, 0), C_SHARE_4);
    assert_int_equal(canvas_color_at(&c, 1, 2), C_CURSOR_TOKEN);
    assert_int_equal(canvas_color_at(&c, 1, 7), C_CURSOR_TOKEN);
    // pos 3 'ok': (0.75 + 0) / 2 = 0.375 -> round(1.5) = 2
    assert_int_equal(canvas_color_at(&c, 2, 0), C_SHARE_2);
    // narrow: ' there' does not fit after "Hi" in 6 columns and wraps as a whole
    render(v, &c, &s, &u, 0, 0, 6, 4);
    assert_text_at(&c, 1, 0, "Hi    ");
    assert_text_at(&c, 2, 0, " there");
    // following the last token: the title says so by leaving out "(End: follow)"
    u.sel = -1;
    render(v, &c, &s, &u, 0, 0, 40, 4);
    assert_row_has(&c, 0, "pos 3/4 'ok'");
    assert_row_lacks(&c, 0, "End: follow");
    // the first token where `g` left the p = 0 continuation is marked
    s.regen_state = 2;
    s.regen_start = 2;
    s.regen_div = 1;
    u.sel = 0;
    render(v, &c, &s, &u, 0, 0, 40, 4);
    assert_int_equal(canvas_color_at(&c, 2, 0), C_DIVERGE);
    panel_done(v, &c, &s, &t);
}

static void test_masking_panel(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    s.cmp_valid = 1;
    s.cmp_pos = 3;
    s.cmp_p = 0.3f;
    s.mask_seed = 7;
    for (int k = 0; k < TRACE_TOPK; k++) {
        s.cmp_id[CMP_BASE][k] = k;                 // a b c dog cat
        s.cmp_id[CMP_P0][k] = 4 - k;               // cat dog c b a
        s.cmp_id[CMP_CUR][k] = k == 0 ? 4 : 4 - k; // cat dog c b a... (rank 0 agrees with p = 0)
        s.cmp_prob[CMP_BASE][k] = 0.5f - 0.1f * k;
        s.cmp_prob[CMP_P0][k] = 0.4f - 0.05f * k;
        s.cmp_prob[CMP_CUR][k] = 0.3f - 0.05f * k;
    }
    s.cmp_id[CMP_CUR][1] = 5;  // " the" where p = 0 has "dog"
    s.kl_p0 = 0.1234;
    s.kl_base = 2.5;
    s.sweep_total = 10;
    s.sweep_n = 10;
    for (int i = 0; i < 10; i++) {
        s.sweep_p[i] = i / 10.0f;
        s.sweep_kl[i] = i * 0.1;      // 0 .. 0.9, max 0.9
        s.sweep_agree[i] = 1 - i / 9.0;
    }
    Canvas c;
    canvas_init(&c, 12, 82);
    View* v = masking_view_new();
    UiState u = ui_default();
    u.p = 0.3f;
    u.mask_seed = 7;
    render(v, &c, &s, &u, 0, 0, 82, 11);
    assert_text_at(&c, 0, 0, "  Masking  p 0.30  mask seed 7");
    assert_text_at(&c, 1, 0, "p 0.30");
    assert_row_lacks(&c, 1, "computing");
    assert_text_at(&c, 2, 0, "KL(p=0‖p) 0.1234  KL(base‖p) 2.5000");
    // columns of (82 - 1) / 3 = 27: base, p = 0, p = 0.30
    assert_text_at(&c, 3, 0, "base");
    assert_text_at(&c, 3, 27, "p=0");
    assert_text_at(&c, 3, 54, "p=0.30");
    assert_text_at(&c, 4, 0, "'a' 0.50");
    assert_text_at(&c, 4, 27, "'cat' 0.40");
    assert_text_at(&c, 4, 54, "'cat' 0.30");
    assert_text_at(&c, 5, 54, "' the' 0.25");
    assert_int_equal(canvas_color_at(&c, 5, 54), C_LENS_DIFF);  // differs from p = 0 at that rank
    assert_int_equal(canvas_color_at(&c, 4, 54), C_NORMAL);
    // chart: KL 0..0.9 scaled to its max -> ▁..█, the current p (0.3) highlighted
    int row = 9, col = text_width("vs p 0..0.9  KL ");
    assert_text_at(&c, row, 0, "vs p 0..0.9  KL ");
    assert_text_at(&c, row, col, "▁▂▃▃▄▅▆▆▇█");
    assert_int_equal(canvas_color_at(&c, row, col + 3), C_CHART_CUR);
    assert_row_has(&c, row, "top-1 █▇▆▆▅▄▃▃▂▁");
    assert_row_has(&c, row, "@0.3: 0.300 67%");
    assert_text_at(&c, 10, 0, "g: regenerate at p 0.30 and compare with p=0");
    // p asked for but not computed yet: values dimmed and "computing…"
    u.p = 0.35f;
    render(v, &c, &s, &u, 0, 0, 82, 11);
    assert_row_has(&c, 1, "computing…");
    assert_int_equal(canvas_color_at(&c, 4, 0), C_DIM);
    // after `g`: the divergence is reported with both tokens
    u.p = 0.3f;
    s.regen_state = 2;
    s.regen_start = 2;
    s.regen_div = 1;
    s.regen_p = 0.3f;
    int p0[2] = {6, 3};  // "\n", "dog"
    s.regen_p0 = p0;
    s.regen_len = 2;
    render(v, &c, &s, &u, 0, 0, 82, 11);
    assert_text_at(&c, 10, 0, "g: p 0.30 leaves p=0 at +1: 'ok' vs 'dog'");
    s.regen_p0 = NULL;
    panel_done(v, &c, &s, &t);
}

static void test_lens_panel(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    s.cmp_valid = 1;
    s.cmp_pos = 1;
    s.lens_off_id[0] = 3;  // "dog": same as on at blk 0
    s.lens_off_id[1] = 7;  // "x": differs at blk 1
    s.lens_off_p[0] = 0.5f;
    s.lens_off_p[1] = 0.125f;
    s.lens_on_id[0] = 3;  // "dog", "cat"
    s.lens_on_id[1] = 4;
    s.lens_on_p[0] = 0.25f;
    s.lens_on_p[1] = 0.75f;
    Canvas c;
    canvas_init(&c, 6, 49);
    View* v = lens_view_new();
    UiState u = ui_default();
    u.sel = 1;
    render(v, &c, &s, &u, 0, 0, 49, 5);
    assert_row_has(&c, 0, "pos 1: on/off differ at 1/2 blocks");
    // columns: (49 - 7) / 2 = 21 each, on at col 4, the rule at 25, off at col 26, ≠ at 47
    assert_text_at(&c, 2, 0, "  0 'dog' 0.25");
    assert_text_at(&c, 2, 25, "│'dog' 0.50");
    assert_text_at(&c, 3, 4, "'cat' 0.75");
    assert_text_at(&c, 3, 26, "'x' 0.12");
    assert_text_at(&c, 3, 47, "≠");
    assert_int_equal(canvas_color_at(&c, 3, 4), C_LENS_DIFF);
    assert_int_equal(canvas_color_at(&c, 2, 4), C_LENS_SAME);
    assert_row_has(&c, 3, "≠");
    assert_row_lacks(&c, 2, "≠");
    // another position: the lens waits for the worker
    u.sel = 2;
    render(v, &c, &s, &u, 0, 0, 49, 5);
    assert_row_has(&c, 1, "computing the logit lens");
    panel_done(v, &c, &s, &t);
}

static void test_status_bar(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 2, 200);
    View* v = status_view_new();
    UiState u = ui_default();
    u.p = 0.25f;
    u.mask_seed = 3;
    u.mode = 1;  // off
    u.rss_mb = 42;
    render(v, &c, &s, &u, 0, 0, 200, 2);
    assert_text_at(&c, 1, 0, " model tiny │ adapter slimA (SLIM 1 id + 3 LoRA, top-2, r 4) │ cpu 3t │ mode off │ p 0.25 │ mask seed 3 │ greedy │ n 32 │ prompt new sequence ");
    assert_row_has(&c, 1, "mem 42 MB");
    assert_row_has(&c, 1, "ctx 4/512");
    // the device is the session's backend (--device), as the worker publishes it
    snprintf(s.device, sizeof s.device, "cuda");
    render(v, &c, &s, &u, 0, 0, 200, 2);
    assert_row_has(&c, 1, "│ cuda 3t │ mode off");
    snprintf(s.device, sizeof s.device, "cpu");
    // sampling settings and the sampling seed, apart from the mask seed; :append on
    u.temp = 0.8f;
    u.top_p = 0.9f;
    u.seed = 7;
    u.n_new = 12;
    u.append = 1;
    render(v, &c, &s, &u, 0, 0, 200, 2);
    assert_row_has(&c, 1, "│ mask seed 3 │ temp 0.8 top-p 0.9 seed 7 │ n 12 │ prompt appends │");
    u.temp = 0;
    u.append = 0;
    // narrow: the adapter's description goes first, model / adapter / mode / p stay
    render(v, &c, &s, &u, 0, 0, 60, 2);
    assert_row_has(&c, 1, "model tiny │ adapter slimA │");
    assert_row_has(&c, 1, "mode off │ p 0.25");
    assert_row_lacks(&c, 1, "SLIM 1 id");
    // messages on the line above; busy on the right of the bar
    snprintf(u.msg, sizeof u.msg, "bad value");
    u.msg_error = 1;
    s.busy = 1;
    snprintf(s.busy_what, sizeof s.busy_what, "generating");
    render(v, &c, &s, &u, 0, 0, 100, 2);
    assert_text_at(&c, 0, 0, "bad value");
    assert_int_equal(canvas_color_at(&c, 0, 0), C_ERROR);
    assert_row_has(&c, 1, "● generating (Esc stops)");
    panel_done(v, &c, &s, &t);
}

static void test_prompt_panel(void** st) {
    Canvas c;
    canvas_init(&c, 1, 20);
    View* v = prompt_view_new();
    Snapshot s;
    snapshot_init(&s);
    UiState u = ui_default();
    PromptState ps = {.prompt = "> ", .line = "héllo", .point = 3, .active = 1};  // after "hé"
    prompt_view_set(v, &ps);
    render(v, &c, &s, &u, 0, 0, 20, 1);
    assert_text_at(&c, 0, 0, "> héllo");
    assert_int_equal(c.cursor_row, 0);
    assert_int_equal(c.cursor_col, 4);
    // a line wider than the panel scrolls so that the cursor stays visible
    ps.line = "0123456789abcdefghijklmnopqrstuvwxyz";
    ps.point = 36;
    prompt_view_set(v, &ps);
    render(v, &c, &s, &u, 0, 0, 20, 1);
    assert_text_at(&c, 0, 0, "…");
    assert_row_has(&c, 0, "xyz");
    assert_true(c.cursor_col <= 19);
    assert_text_at(&c, 0, c.cursor_col - 3, "xyz");
    view_destroy(v);
    snapshot_free(&s);
    canvas_free(&c);
}

static void test_screen_layouts(void** st) {
    Screen scr;
    screen_init(&scr);
    scr.n_layers = 4;
    // full: every panel visible, inside the screen, none overlapping
    int sizes[][2] = {{24, 80}, {60, 200}, {36, 120}};
    for (int k = 0; k < 3; k++) {
        int R = sizes[k][0], C = sizes[k][1];
        screen_layout(&scr, R, C);
        assert_int_equal(scr.layout, LAYOUT_FULL);
        static unsigned char cover[60][200];
        memset(cover, 0, sizeof cover);
        for (int i = 0; i < V_COUNT; i++) {
            View* v = scr.views[i];
            assert_true(v->visible);
            assert_true(v->x >= 0 && v->y >= 0 && v->x + v->w <= C && v->y + v->h <= R);
            for (int r = v->y; r < v->y + v->h; r++)
                for (int x = v->x; x < v->x + v->w; x++) {
                    if (cover[r][x]) fail_msg("%dx%d: panel %d overlaps at %d,%d", C, R, i, x, r);
                    cover[r][x] = 1;
                }
        }
        assert_int_equal(scr.views[V_STATUS]->y + scr.views[V_STATUS]->h, R);
        assert_true(scr.views[V_OUTPUT]->h >= 4);
    }
    // compact: output, one detail panel (the focused one), prompt, status
    screen_layout(&scr, 20, 60);
    assert_int_equal(scr.layout, LAYOUT_COMPACT);
    int visible = 0;
    for (int i = 0; i < V_COUNT; i++) visible += scr.views[i]->visible;
    assert_int_equal(visible, 4);
    assert_true(scr.views[V_ROUTER]->visible);
    screen_set_focus(&scr, V_MASKING);
    assert_true(scr.views[V_MASKING]->visible);
    assert_false(scr.views[V_ROUTER]->visible);
    // tiny: a one-line message, nothing else
    screen_layout(&scr, 8, 30);
    assert_int_equal(scr.layout, LAYOUT_TINY);
    Canvas c;
    canvas_init(&c, 8, 30);
    UiState u = ui_default();
    screen_draw(&scr, &c, &u);
    assert_text_at(&c, 0, 0, "too small 30x8, need 40x10");
    for (int i = 0; i < V_COUNT; i++) assert_false(scr.views[i]->visible);
    canvas_free(&c);
    screen_free(&scr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canvas_text_and_clipping),
        cmocka_unit_test(test_draw_scales),
        cmocka_unit_test(test_router_panel),
        cmocka_unit_test(test_router_plain_lora),
        cmocka_unit_test(test_distance_panel),
        cmocka_unit_test(test_selection_panel),
        cmocka_unit_test(test_output_panel),
        cmocka_unit_test(test_masking_panel),
        cmocka_unit_test(test_lens_panel),
        cmocka_unit_test(test_status_bar),
        cmocka_unit_test(test_prompt_panel),
        cmocka_unit_test(test_screen_layouts),
    };
    return cmocka_run_group_tests_name("views", tests, NULL, NULL);
}

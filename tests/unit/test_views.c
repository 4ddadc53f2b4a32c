// test_views.c: the TUI's panels rendered into a Canvas from a hand-built Trace, asserting text
// (and colour) at row/col; the canvas itself; the screen layouts. The worker thread behind them is
// tested in test_worker.c.
#include "testutil.h"

#include "viewtest.h"

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
    // narrow: LoRA cells shrink to 2 columns (heat + marker), identity cells keep 3 for "i0"
    u.sel = 1;
    render(v, &c, &s, &u, 0, 0, 14, 7);
    assert_text_at(&c, 1, 4, "i0 │0 1 2");
    assert_text_at(&c, 3, 4, "▓▓*│░*░ ░ ");
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
    // one scale for the sequence: -1 .. ceil(largest d (3, pos 2) or crossing below 4 x 3 (6, pos 1)) = -1 .. 6
    assert_row_has(&c, 0, "scale -1..6");
    assert_text_at(&c, 1, 0, "  0  -0.50 ");
    assert_text_at(&c, 2, 0, "  1   1.50 ");
    // bars start at col 11, width 60 - 11 - (4 + 3 + 4) = 38 (2 clusters: dots drawn)
    int bw = 38;
    // blk 0: its crossing (6) is the top of the scale: '┃' in the last cell
    assert_text_at(&c, 1, 11 + bw - 1, "┃");
    assert_text_at(&c, 1, 11 + bw, " c0 ●○");
    // blk 1: crossing at 2 -> cell floor(3 / 7 * 38) = 16; d 1.5 < 2: no "→id"
    assert_text_at(&c, 2, 11 + 16, "┃");
    assert_int_equal(canvas_color_at(&c, 2, 11 + 16), C_BAR_MARK);
    assert_row_lacks(&c, 2, "→id");
    // bar length: (1.5 + 1) / 7 * 38 * 8 eighths = 108.6 -> 109: 13 full cells and 5 eighths
    assert_text_at(&c, 2, 11 + 12, "█▋─");
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
    // narrow: "there" does not fit after "Hi " in 6 columns and wraps as a word
    render(v, &c, &s, &u, 0, 0, 6, 4);
    assert_text_at(&c, 1, 0, "Hi    ");
    assert_text_at(&c, 2, 0, "there↵");
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
    // the KLs belong to the cursor's next token, and say so
    assert_text_at(&c, 2, 0, "next after pos 3 'ok': KL(p=0‖p) 0.1234  KL(base‖p) 2.5000");
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
    // chart: KL 0..0.9 scaled to its max -> ▁..█, the current p (0.3) highlighted; labelled as a
    // mean over the context
    int row = 9, col = text_width("context mean over p 0..0.9: KL ");
    assert_text_at(&c, row, 0, "context mean over p 0..0.9: KL ");
    assert_text_at(&c, row, col, "▁▂▃▃▄▅▆▆▇█");
    assert_int_equal(canvas_color_at(&c, row, col + 3), C_CHART_CUR);
    assert_row_has(&c, row, "top-1 █▇▆▆▅▄▃▃▂▁");
    assert_row_has(&c, row, "@0.3 0.300 67%");
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
    canvas_init(&c, 2, 240);
    View* v = status_view_new();
    UiState u = ui_default();
    u.p = 0.25f;
    u.mask_seed = 3;
    u.mode = 1;  // off
    u.rss_mb = 42;
    render(v, &c, &s, &u, 0, 0, 240, 2);
    // temperature (0: greedy), top-p, n and both seeds, each labelled
    assert_text_at(&c, 1, 0, " model tiny │ adapter slimA (SLIM 1 id + 3 LoRA, top-2, r 4) │ cpu 3t │ mode off │ p 0.25 │ mask seed 3 │ temp 0 top-p 1 sampling seed 0 │ n 32 │ prompt new sequence ");
    assert_row_has(&c, 1, "mem 42 MB");
    assert_row_has(&c, 1, "ctx 4/512");
    // the device is the session's backend (--device), as the worker publishes it
    snprintf(s.device, sizeof s.device, "cuda");
    render(v, &c, &s, &u, 0, 0, 240, 2);
    assert_row_has(&c, 1, "│ cuda 3t │ mode off");
    snprintf(s.device, sizeof s.device, "cpu");
    // sampling settings and the sampling seed, apart from the mask seed; :append on
    u.temp = 0.8f;
    u.top_p = 0.9f;
    u.seed = 7;
    u.n_new = 12;
    u.append = 1;
    render(v, &c, &s, &u, 0, 0, 240, 2);
    assert_row_has(&c, 1, "│ mask seed 3 │ temp 0.8 top-p 0.9 sampling seed 7 │ n 12 │ prompt appends │");
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
    // full: every panel visible, inside the screen, none overlapping (Compare only in the Lens's
    // place while :compare is on)
    int sizes[][2] = {{24, 80}, {60, 200}, {36, 120}};
    for (int k = 0; k < 3; k++) {
        int R = sizes[k][0], C = sizes[k][1];
        screen_layout(&scr, R, C);
        assert_int_equal(scr.layout, LAYOUT_FULL);
        static unsigned char cover[60][200];
        memset(cover, 0, sizeof cover);
        assert_false(scr.views[V_COMPARE]->visible);
        for (int i = 0; i < V_COUNT; i++) {
            View* v = scr.views[i];
            if (i == V_COMPARE) continue;
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
    // :compare on: the Compare panel takes the Lens's place; off: the Lens is back
    Snapshot sn;
    snapshot_init(&sn);
    snapshot_shape(&sn, 4, 1, 0);
    UiState u0 = ui_default();
    View *lens = scr.views[V_LENS], *cmp = scr.views[V_COMPARE];
    int lx = lens->x, ly = lens->y, lw = lens->w, lh = lens->h;
    sn.cmpb_on = 1;
    screen_update(&scr, &sn, &u0);
    assert_true(cmp->visible && !lens->visible);
    assert_true(cmp->x == lx && cmp->y == ly && cmp->w == lw && cmp->h == lh);
    sn.cmpb_on = 0;
    screen_update(&scr, &sn, &u0);
    assert_true(lens->visible && !cmp->visible);
    assert_true(lens->x == lx && lens->y == ly && lens->w == lw && lens->h == lh);
    snapshot_free(&sn);
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

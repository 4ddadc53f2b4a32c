// test_panels.c: what the panels say about themselves: stale generated text (and the stale
// check), word wrapping in the Output, the Router's shade scale, one Distance scale per sequence,
// panels with fewer rows than blocks, the message on the prompt row, the help's wrapped lines and
// the full layout at 80x24 / 120x36 / 200x60 with the demo's 6 blocks. Hand-built snapshots as in
// test_views.c (viewtest.h).
#include "testutil.h"

#include "slim.h"
#include "viewtest.h"

// The generated text [gen_start, n) of build_snapshot: positions 2 and 3, sampled at p 0.3 in
// slim mode with mask seed 7, no forcing, under the first adapter.
static void generated_at(Snapshot* s) {
    s->gen_start = 2;
    s->gen_p = 0.3f;
    s->gen_mode = MODE_SLIM;
    s->gen_mask_seed = 7;
    s->adapter_ver = s->gen_adapter_ver = 1;
    snprintf(s->gen_adapter, sizeof s->gen_adapter, "slimA");
}

static void test_gen_stale(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    generated_at(&s);
    char why[256];
    // the same run: fresh; "why" still names the p it was sampled at
    assert_int_equal(snapshot_gen_stale(&s, 0.3f, MODE_SLIM, 7, why, sizeof why), 0);
    assert_string_equal(why, "p 0.30");
    // another p, mode, mask seed (only counts when p > 0), adapter, forcing
    assert_int_equal(snapshot_gen_stale(&s, 0.35f, MODE_SLIM, 7, why, sizeof why), 1);
    assert_string_equal(why, "p 0.30");
    assert_int_equal(snapshot_gen_stale(&s, 0.3f, MODE_LORA_ONLY, 7, why, sizeof why), 1);
    assert_string_equal(why, "p 0.30, mode slim");
    assert_int_equal(snapshot_gen_stale(&s, 0.3f, MODE_SLIM, 8, why, sizeof why), 1);
    assert_string_equal(why, "p 0.30, mask seed 7");
    s.gen_p = 0;
    assert_int_equal(snapshot_gen_stale(&s, 0.0f, MODE_SLIM, 8, why, sizeof why), 0);  // p = 0 keeps everything
    s.gen_p = 0.3f;
    s.adapter_ver = 2;
    assert_int_equal(snapshot_gen_stale(&s, 0.3f, MODE_SLIM, 7, why, sizeof why), 1);
    assert_string_equal(why, "p 0.30, adapter slimA");
    s.adapter_ver = 1;
    s.force[1] = 3;  // now: block 1 forced to LoRA expert 2 (e = 3); generated without forcing
    assert_int_equal(snapshot_gen_stale(&s, 0.3f, MODE_SLIM, 7, why, sizeof why), 1);
    assert_string_equal(why, "p 0.30, forced: none");
    s.gen_force[0] = 0;  // generated with block 0 forced to identity expert i0
    assert_int_equal(snapshot_gen_stale(&s, 0.6f, MODE_SLIM, 7, why, sizeof why), 1);
    assert_string_equal(why, "p 0.30, forced: 0:i0");
    s.force[1] = -1;
    s.force[0] = 0;
    assert_int_equal(snapshot_gen_stale(&s, 0.3f, MODE_SLIM, 7, why, sizeof why), 0);
    // nothing generated: never stale
    s.gen_start = s.n;
    assert_int_equal(snapshot_gen_stale(&s, 0.9f, MODE_OFF, 1, why, sizeof why), 0);
    snapshot_free(&s);
    trace_free(&t);
}

static void test_output_stale(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    generated_at(&s);
    s.regen_state = 2;  // `g` found the continuation leaving p = 0 at pos 3
    s.regen_start = 2;
    s.regen_div = 1;
    Canvas c;
    canvas_init(&c, 6, 60);
    View* v = output_view_new();
    UiState u = ui_default();
    u.sel = 0;
    u.p = 0.3f;
    u.mask_seed = 7;
    render(v, &c, &s, &u, 0, 0, 60, 5);
    // fresh: "Hi there↵" / "ok", ok in its divergence colour, no note
    assert_int_equal(canvas_color_at(&c, 2, 0), C_DIVERGE);
    assert_int_equal(canvas_color_at(&c, 1, 2), share_color(s.tok_share[1]));
    assert_row_lacks(&c, 4, "generated at");
    // p moved: the generated positions (2: "\n", 3: "ok") are dimmed, the prompt is not
    u.p = 0.6f;
    render(v, &c, &s, &u, 0, 0, 60, 5);
    assert_int_equal(canvas_color_at(&c, 1, 8), C_DIM);             // ↵ of pos 2
    assert_int_equal(canvas_color_at(&c, 2, 0), C_DIVERGE_STALE);   // "ok", the divergence
    assert_int_equal(canvas_color_at(&c, 1, 2), share_color(s.tok_share[1]));
    assert_int_equal(canvas_color_at(&c, 1, 0), C_CURSOR_TOKEN);
    assert_text_at(&c, 4, 0, "generated at p 0.30 (g or Enter regenerates)");
    assert_int_equal(canvas_color_at(&c, 4, 0), C_BOLD);
    // the masking panel's `g` line is dimmed with it
    View* m = masking_view_new();
    int p0[2] = {6, 3};
    s.regen_p0 = p0;
    s.regen_len = 2;
    s.regen_p = 0.3f;
    Canvas mc;
    canvas_init(&mc, 12, 60);
    render(m, &mc, &s, &u, 0, 0, 60, 11);
    int row = canvas_find(&mc, "g: p 0.30 leaves p=0 at +1", 0, NULL);
    assert_true(row > 0);
    assert_int_equal(canvas_color_at(&mc, row, 0), C_DIM);
    u.p = 0.3f;
    render(m, &mc, &s, &u, 0, 0, 60, 11);
    assert_int_equal(canvas_color_at(&mc, row, 0), C_DIVERGE);
    s.regen_p0 = NULL;
    view_destroy(m);
    canvas_free(&mc);
    panel_done(v, &c, &s, &t);
}

// Output wraps at word boundaries, across tokens ("wor" + "ld" is one word); a word longer than the
// line is cut.
static void test_output_word_wrap(void** st) {
    static const char* texts[6] = {"Hello", " wor", "ld", " again", " x", " abcdefghijkl"};
    Trace t;
    trace_init(&t, 1, 1, 0, 6);
    t.n = 6;
    memset(t.routed, 0, 6);
    for (int i = 0; i < 6; i++) t.id_share[i] = 1, t.w[i] = 0, t.token[i] = i;
    Snapshot s;
    snapshot_init(&s);
    snapshot_set_trace(&s, &t, 0, texts, NULL);
    Canvas c;
    canvas_init(&c, 8, 20);
    View* v = output_view_new();
    UiState u = ui_default();
    u.sel = 1;
    render(v, &c, &s, &u, 0, 0, 10, 7);
    assert_text_at(&c, 1, 0, "Hello     ");  // " wor" + "ld" does not fit after it: its space ends the line
    assert_text_at(&c, 2, 0, "world     ");
    assert_text_at(&c, 3, 0, "again x ab");  // a word longer than a line is cut where the line ends
    assert_text_at(&c, 4, 0, "cdefghijkl");
    assert_int_equal(canvas_color_at(&c, 2, 0), C_CURSOR_TOKEN);  // "wor" of the cursor's " wor"
    assert_int_equal(canvas_color_at(&c, 2, 3), share_color(1.0)); // "ld": no router, identity share 1
    // scrolled down in a short panel (6 lines: Hello/world/again/x abcd/efghij/kl, the cursor's
    // token starting on the 4th), then made taller: every line is shown again, none left empty
    u.sel = 5;
    render(v, &c, &s, &u, 0, 0, 6, 3);
    assert_text_at(&c, 1, 0, "again ");
    assert_text_at(&c, 2, 0, "x abcd");
    render(v, &c, &s, &u, 0, 0, 6, 7);
    assert_text_at(&c, 1, 0, "Hello ");
    assert_text_at(&c, 6, 0, "kl    ");
    panel_done(v, &c, &s, &t);
}

static void test_router_scale_and_window(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 10, 60);
    View* v = router_view_new();
    UiState u = ui_default();
    u.sel = 1;
    render(v, &c, &s, &u, 0, 0, 60, 7);
    // title, header, 2 blocks, (blank), the shade scale, the footer
    assert_text_at(&c, 5, 0, "pi ·<.02 ░<.25 ▒<.5 ▓<.75 █≤1  * kept");
    assert_int_equal(canvas_color_at(&c, 5, 3), heat_color(0.01));
    assert_int_equal(canvas_color_at(&c, 5, 27), heat_color(0.9));
    assert_row_has(&c, 6, "blk 0 id i0: pi 0.040");
    // one row short of the scale: the footer stays, the scale goes
    render(v, &c, &s, &u, 0, 0, 60, 5);
    assert_row_has(&c, 4, "blk 0 id i0");
    assert_true(canvas_find(&c, "* kept", 0, NULL) < 0);
    // fewer rows than blocks: the window around the selected block, said on the title bar
    u.layer = 1;
    render(v, &c, &s, &u, 0, 0, 60, 3);
    assert_text_at(&c, 2, 0, "  1 ");
    assert_row_has(&c, 0, " blk 1-1/2 ↑ ");
    assert_row_has(&c, 0, "pi per block x expert");  // the title makes room for the tag: it is not cut
    render(v, &c, &s, &u, 0, 0, 30, 3);
    assert_text_at(&c, 0, 0, "  Router  pos 1   blk 1-1/2 ↑ ");
    // narrow: two-column LoRA cells so that the id-share column stays (4 + 3 + 1 + 3 * 2 + 8 = 22)
    render(v, &c, &s, &u, 0, 0, 24, 7);
    assert_text_at(&c, 1, 4, "i0 │0 1 2");
    assert_row_has(&c, 1, "id-share");
    assert_row_has(&c, 3, " 71%");
    panel_done(v, &c, &s, &t);
}

// The bar scale covers the whole sequence: the same at every cursor position.
static void test_distance_scale_per_sequence(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 12, 60);
    View* v = distance_view_new();
    UiState u = ui_default();
    // largest d 3 (pos 2, 3), largest crossing within 4 x 3: 6 (pos 1 blk 0)
    for (int pos = 0; pos < 4; pos++) {
        u.sel = pos;
        render(v, &c, &s, &u, 0, 0, 60, 6);
        assert_row_has(&c, 0, "d per block, scale -1..6, ┃ = identity wins");
    }
    // lora-only: identity experts take no part, no crossing is drawn; the scale is d's alone
    s.mode = MODE_LORA_ONLY;
    u.sel = 2;
    render(v, &c, &s, &u, 0, 0, 60, 6);
    assert_row_has(&c, 0, "d per block, scale -1..3");
    assert_row_lacks(&c, 0, "identity");
    for (int r = 1; r < 3; r++) {
        assert_row_lacks(&c, r, "→id");
        assert_row_lacks(&c, r, "┃");
    }
    // narrow: the short title
    s.mode = MODE_SLIM;
    render(v, &c, &s, &u, 0, 0, 36, 6);
    assert_row_has(&c, 0, "Distance  d -1..6  ┃ identity wins");
    panel_done(v, &c, &s, &t);
}

static void test_lens_and_selection_windows(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    s.cmp_valid = 1;
    s.cmp_pos = 1;
    for (int l = 0; l < 2; l++) s.lens_on_id[l] = s.lens_off_id[l] = 3, s.lens_on_p[l] = s.lens_off_p[l] = 0.5f;
    Canvas c;
    canvas_init(&c, 8, 49);
    View* v = lens_view_new();
    UiState u = ui_default();
    u.sel = 1;
    // exactly the blocks: no column heads, the title names the columns
    render(v, &c, &s, &u, 0, 0, 49, 3);
    assert_row_has(&c, 0, "pos 1: on │ off, differ at 0/2 blocks");
    assert_text_at(&c, 1, 0, "  0 'dog' 0.50");
    assert_text_at(&c, 2, 0, "  1 ");
    view_destroy(v);
    v = selection_view_new();
    render(v, &c, &s, &u, 0, 0, 40, 2);  // one row for two blocks
    assert_row_has(&c, 0, " blk 0-0/2 ↓ ");
    assert_text_at(&c, 1, 0, "  0 ");
    render(v, &c, &s, &u, 0, 0, 40, 3);  // both blocks, no ticks, no footer
    assert_text_at(&c, 1, 0, "  0 ·");
    assert_text_at(&c, 2, 0, "  1  ");
    assert_row_lacks(&c, 0, "/2 ");
    panel_done(v, &c, &s, &t);
}

// Short of rows, the message goes on the prompt row (right of the text) and the status bar stays.
static void test_message_on_prompt_row(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    Canvas c;
    canvas_init(&c, 2, 80);
    UiState u = ui_default();
    u.msg_on_prompt = 1;
    snprintf(u.msg, sizeof u.msg, "12 tokens per prompt");
    View* p = prompt_view_new();
    PromptState ps = {.prompt = "slimscope> ", .line = "abc", .point = 3, .active = 1};
    prompt_view_set(p, &ps);
    render(p, &c, &s, &u, 0, 0, 80, 1);
    assert_text_at(&c, 0, 0, "slimscope> abc");
    assert_text_at(&c, 0, 80 - 20, "12 tokens per prompt");
    assert_int_equal(canvas_color_at(&c, 0, 60), C_MESSAGE);
    View* b = status_view_new();
    render(b, &c, &s, &u, 0, 1, 80, 1);
    assert_row_has(&c, 1, "model tiny");
    assert_row_lacks(&c, 1, "tokens per prompt");
    view_destroy(p);
    view_destroy(b);
    snapshot_free(&s);
    trace_free(&t);
    canvas_free(&c);
}

// A line far longer than any fixed buffer (6003 bytes, 3003 columns: "é" is 2 bytes, 1 column)
// scrolls to keep the cursor in view, wherever the cursor is.
static void test_prompt_long_line(void** st) {
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    char* line = xmalloc(6004);
    for (int k = 0; k < 3000; k++) memcpy(line + 2 * k, "é", 2);
    memcpy(line + 6000, "END", 4);
    Canvas c;
    canvas_init(&c, 1, 80);
    UiState u = ui_default();
    View* p = prompt_view_new();
    // cursor at the end: "…", 75 é, "END" in columns 76-78, the cursor after it in column 79
    PromptState ps = {.prompt = "slimscope> ", .line = line, .point = 6003, .active = 1};
    prompt_view_set(p, &ps);
    render(p, &c, &s, &u, 0, 0, 80, 1);
    assert_text_at(&c, 0, 0, "…éé");
    assert_text_at(&c, 0, 76, "END");
    assert_int_equal(c.cursor_col, 79);
    // cursor at byte 5000 (column 2500 of the line): the line from its column 2422 on, cursor in column 79
    ps.point = 5000;
    prompt_view_set(p, &ps);
    render(p, &c, &s, &u, 0, 0, 80, 1);
    assert_text_at(&c, 0, 0, "…");
    assert_text_at(&c, 0, 78, "é");
    assert_int_equal(c.cursor_col, 79);
    // cursor after 4100 ASCII bytes (then the e-acutes): column 4100 of the line, 'xY' just left of it
    memset(line, 'x', 4100);
    line[4099] = 'Y';
    ps.point = 4100;
    prompt_view_set(p, &ps);
    render(p, &c, &s, &u, 0, 0, 80, 1);
    assert_text_at(&c, 0, 77, "xY");
    assert_int_equal(c.cursor_col, 79);
    view_destroy(p);
    free(line);
    snapshot_free(&s);
    trace_free(&t);
    canvas_free(&c);
}

// Every block of a 6-block model (the demo's) in every per-block panel at the three sizes; the
// status bar keeps tok/s at 80 columns.
static void test_full_layouts_show_every_block(void** st) {
    Screen scr;
    screen_init(&scr);
    scr.n_layers = 6;
    int sizes[][2] = {{24, 80}, {36, 120}, {60, 200}};
    for (int k = 0; k < 3; k++) {
        int R = sizes[k][0], C = sizes[k][1];
        screen_layout(&scr, R, C);
        assert_int_equal(scr.layout, LAYOUT_FULL);
        if (scr.views[V_ROUTER]->h < 6 + 2 || scr.views[V_DISTANCE]->h < 6 + 1 || scr.views[V_LENS]->h < 6 + 1 ||
            scr.views[V_SELECTION]->h < 6 + 1)
            fail_msg("%dx%d: router %d, distance %d, lens %d, selection %d rows for 6 blocks", C, R, scr.views[V_ROUTER]->h,
                     scr.views[V_DISTANCE]->h, scr.views[V_LENS]->h, scr.views[V_SELECTION]->h);
        assert_true(scr.views[V_OUTPUT]->h >= 4);
        assert_true(scr.views[V_MASKING]->h >= 7);
        assert_int_equal(scr.msg_on_prompt, R < 30);  // 80x24: 22 rows needed on the right
    }
    screen_free(&scr);
    Trace t;
    Snapshot s;
    build_snapshot(&s, &t);
    s.tok_per_s = 123.4;
    Canvas c;
    canvas_init(&c, 1, 80);
    View* b = status_view_new();
    UiState u = ui_default();
    render(b, &c, &s, &u, 0, 0, 80, 1);
    assert_row_has(&c, 0, "tok/s 123.4");
    view_destroy(b);
    snapshot_free(&s);
    trace_free(&t);
    canvas_free(&c);
}

// Help descriptions wrap at word boundaries under their key.
static void test_help_wraps(void** st) {
    Screen scr;
    screen_init(&scr);
    static const char* lines[] = {"Heading", "k\tone two three four five six seven eight nine ten eleven twelve"};
    screen_set_help(&scr, lines, 2);
    screen_layout(&scr, 20, 50);
    Canvas c;
    canvas_init(&c, 20, 50);
    UiState u = ui_default();
    u.help = 1;
    Snapshot s;
    snapshot_init(&s);
    screen_update(&scr, &s, &u);
    screen_draw(&scr, &c, &u);
    // box of width 46 at column 2, descriptions at 2 + 24 = 26, 20 columns wide
    int r = canvas_find(&c, "Heading", 0, NULL);
    assert_true(r > 0);
    assert_text_at(&c, r + 1, 5, "k");
    assert_text_at(&c, r + 1, 26, "one two three four  ");
    assert_text_at(&c, r + 2, 26, "five six seven eight");
    assert_text_at(&c, r + 3, 26, "nine ten eleven     ");
    assert_text_at(&c, r + 4, 26, "twelve");
    snapshot_free(&s);
    canvas_free(&c);
    screen_free(&scr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_stale),
        cmocka_unit_test(test_output_stale),
        cmocka_unit_test(test_output_word_wrap),
        cmocka_unit_test(test_router_scale_and_window),
        cmocka_unit_test(test_distance_scale_per_sequence),
        cmocka_unit_test(test_lens_and_selection_windows),
        cmocka_unit_test(test_message_on_prompt_row),
        cmocka_unit_test(test_prompt_long_line),
        cmocka_unit_test(test_full_layouts_show_every_block),
        cmocka_unit_test(test_help_wraps),
    };
    return cmocka_run_group_tests_name("panels", tests, NULL, NULL);
}

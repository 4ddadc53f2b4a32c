// test_report.c: `slimscope report` (app/report_*.c): the HTML escaping, the identity-share colour
// scale, a hand-made trace read back (kept experts by index and by name, the identity threshold
// of both yield forms, derived by hand), the one-line errors of bad traces, and the page's cells.
#include "testutil.h"

#include "app/report.h"

static char* escaped(const char* s) {
    char* buf = NULL;
    size_t len = 0;
    FILE* f = open_memstream(&buf, &len);
    html_escape(f, s);
    fclose(f);
    return buf;
}

static void test_escape(void** state) {
    char* e = escaped("a<b>&\"'\n\x01z");
    assert_string_equal(e, "a&lt;b&gt;&amp;&quot;&#39;\xe2\x86\xb5\xef\xbf\xbdz");
    free(e);
    e = escaped("</text><script>x</script>");
    assert_string_equal(e, "&lt;/text&gt;&lt;script&gt;x&lt;/script&gt;");
    free(e);
    e = escaped("d\xc3\xa9j\xc3\xa0 vu \xf0\x9f\x99\x82");  // UTF-8 passes through
    assert_string_equal(e, "d\xc3\xa9j\xc3\xa0 vu \xf0\x9f\x99\x82");
    free(e);
    // invalid UTF-8 (a stray continuation byte, a lead byte without its continuation, a surrogate,
    // a character cut at the end): U+FFFD per byte that starts no valid character
    e = escaped("a\x80" "b\xc3(\xed\xa0\x80|\xe2\x86");
    assert_string_equal(e, "a\xef\xbf\xbd" "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd");
    free(e);
}

static void test_colour_scale(void** state) {
    char c[8];
    // stops (217,95,2), (247,247,247), (44,123,182); halfway: the channel means, .5 rounded up
    const struct { float v; const char* hex; } cases[] = {
        {0, "#d95f02"}, {0.5f, "#f7f7f7"}, {1, "#2c7bb6"},
        {0.25f, "#e8ab7d"},  // 232, 171, 124.5
        {0.75f, "#92b9d7"},  // 145.5, 185, 214.5
        {-3, "#d95f02"}, {7, "#2c7bb6"}, {NAN, "#cccccc"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        report_colour(cases[i].v, c);
        assert_string_equal(c, cases[i].hex);
    }
}

// 2 positions x 2 blocks, experts: i0, then LoRA 0 and 1. Block 0 has the paper's yield, 2 d;
// block 1 a calibrated one, 1 * (d - 0.5) / 0.25. Kept experts by index (the older form) and by name.
static const char* TRACE =
    "{\"settings\":{\"model\":\"m\",\"force\":[],\"mask_ratio\":0.3,\"adapter_layers\":null}}\n"
    "{\"pos\":0,\"token\":5,\"source\":\"prompt\",\"text\":\"<b>&\",\"layer\":0,\"routed\":true,\"z\":[0,1,3],\"d\":1,"
    "\"z_yield\":[2,1,3],\"pi\":[0.4,0.1,0.5],\"w\":[0,0.25,0.75],\"kept\":[1,2],\"identity_share\":0}\n"
    "{\"pos\":0,\"token\":5,\"source\":\"prompt\",\"text\":\"<b>&\",\"layer\":1,\"routed\":true,\"z\":[1,2,0.5],\"d\":1,"
    "\"z_yield\":[3,2,0.5],\"pi\":[0.6,0.3,0.1],\"w\":[0.6,0.4,0],\"kept\":[\"i0\",\"0\"],\"identity_share\":0.6}\n"
    "{\"pos\":1,\"token\":7,\"source\":\"generated\",\"text\":\"x\\n\",\"layer\":0,\"routed\":true,\"z\":[0,0.4,0.8],\"d\":0.5,"
    "\"z_yield\":[1,0.4,0.8],\"pi\":[0.4,0.2,0.4],\"w\":[0.3,0,0.7],\"kept\":[0,2],\"identity_share\":0.3}\n"
    "{\"pos\":1,\"token\":7,\"source\":\"generated\",\"text\":\"x\\n\",\"layer\":1,\"routed\":true,\"z\":[0,2,1],\"d\":0.75,"
    "\"z_yield\":[1,2,1],\"pi\":[0.2,0.5,0.3],\"w\":[0,0.6,0.4],\"kept\":[\"0\",\"1\"],\"identity_share\":0}\n";

static void read_text(const char* text, Report* r, int* rc, char* msg) {
    char dir[64], path[128];
    test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    test_write_file(path, text);
    Err err = {{0}};
    *rc = report_read(r, path, &err);
    // the message without the temporary directory
    const char* m = strstr(err.msg, "t.jsonl");
    strcpy(msg, *rc ? (m ? m : err.msg) : "");
    test_rmrf(dir);
}

static void read_ok(const char* text, Report* r) {
    int rc;
    char msg[512];
    read_text(text, r, &rc, msg);
    if (rc) fail_msg("%s", msg);
}

static void test_read_hand_trace(void** state) {
    Report r;
    read_ok(TRACE, &r);
    assert_int_equal(r.n_pos, 2);
    assert_int_equal(r.n_layers, 2);
    assert_int_equal(r.n_experts, 3);
    assert_int_equal(r.n_id, 1);
    assert_int_equal(r.n_generated, 1);
    assert_string_equal(r.settings, "model m \xc2\xb7 force none \xc2\xb7 mask_ratio 0.3 \xc2\xb7 adapter_layers none");
    assert_true(fabsf(r.mask_ratio - 0.3f) < 1e-7f);
    assert_string_equal(r.text[0], "<b>&");
    assert_string_equal(r.text[1], "x\n");
    assert_int_equal(r.token[1], 7);
    assert_int_equal(r.generated[0], 0);
    assert_int_equal(r.generated[1], 1);
    // cells (pos, block): kept names, the heaviest, and the d at which identity becomes top-1:
    // (lora_max - id_max) / slope + offset: block 0 (3-0)/2 = 1.5, (0.8-0)/2 = 0.4;
    // block 1 0.5 + (2-1) * 0.25 = 0.75, 0.5 + (2-0) * 0.25 = 1.0
    const struct { const char *kept, *dominant; float win, share; } want[4] = {
        {"0 0.25, 1 0.75", "1", 1.5f, 0}, {"i0 0.60, 0 0.40", "i0", 0.75f, 0.6f},
        {"i0 0.30, 1 0.70", "1", 0.4f, 0.3f}, {"0 0.60, 1 0.40", "0", 1.0f, 0},
    };
    for (int i = 0; i < 4; i++) {
        const ReportCell* c = &r.cell[i];
        assert_string_equal(c->kept, want[i].kept);
        assert_string_equal(c->dominant, want[i].dominant);
        if (!(fabsf(c->win_d - want[i].win) < 1e-5f)) fail_msg("cell %d: threshold %g, expected %g", i, c->win_d, want[i].win);
        assert_true(c->id_share == want[i].share);
    }
    report_free(&r);
}

// z_yield = z everywhere (lora-only, or no identity experts): no threshold anywhere; a row without
// a router (plain LoRA) has no kept experts and no d.
static void test_no_yield_no_threshold(void** state) {
    const char* t =
        "{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":true,\"z\":[0,1],\"d\":2,"
        "\"z_yield\":[0,1],\"pi\":[0.2,0.8],\"w\":[0,1],\"kept\":[\"1\"],\"identity_share\":0}\n"
        "{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":1,\"routed\":false,\"identity_share\":0}\n";
    Report r;
    read_ok(t, &r);
    assert_int_equal(r.n_id, 0);
    assert_null(r.settings);
    assert_true(isnan(r.cell[0].win_d));
    assert_string_equal(r.cell[0].dominant, "1");
    assert_false(r.cell[1].routed);
    assert_null(r.cell[1].kept);
    assert_true(isnan(r.cell[1].d));
    report_free(&r);
    // lora-only mode, kept experts by router index: identity expert i0 is the one dropped (pi = 0)
    t = "{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":true,\"z\":[3,0,1],\"d\":2,"
        "\"z_yield\":[3,0,1],\"pi\":[0,0.27,0.73],\"w\":[0,0,1],\"kept\":[2],\"identity_share\":0}\n";
    read_ok(t, &r);
    assert_int_equal(r.n_id, 1);
    assert_string_equal(r.cell[0].kept, "1 1.00");
    assert_true(isnan(r.cell[0].win_d));
    report_free(&r);
}

static void test_errors(void** state) {
    const char* row = "{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":false,\"identity_share\":1}\n";
    char buf[2048];
    const struct { const char *text, *msg; } cases[] = {
        {"", "t.jsonl: no rows (expected a trace: one JSON object per position and block)"},
        {"{\"settings\":{}}\n", "t.jsonl: no rows (expected a trace: one JSON object per position and block)"},
        {"<html>\n", "t.jsonl:1: not a JSON object (expected one JSON object per line: a trace)"},
        {"{\"settings\":{}}\n[1,2]\n", "t.jsonl:2: not a JSON object (expected one JSON object per line: a trace)"},
        {"{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":false}\n",
         "t.jsonl:1: field 'identity_share' missing (expected a number)"},
        {"{\"pos\":0,\"token\":1,\"text\":\"a\",\"layer\":0,\"routed\":false,\"identity_share\":1}\n",
         "t.jsonl:1: field 'source' missing (expected \"prompt\" or \"generated\")"},
        {"{\"pos\":-1,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":false,\"identity_share\":1}\n",
         "t.jsonl:1: field 'pos' is not an integer in [0, 9999999]"},
        {"{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":true,\"identity_share\":1,"
         "\"d\":1,\"z\":[1,2],\"z_yield\":[1],\"w\":[1,0],\"kept\":[0]}\n",
         "t.jsonl:1: field 'z_yield' has 1 values (expected 2, one per expert)"},
        {"{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":true,\"identity_share\":1,"
         "\"d\":1,\"z\":[1,2],\"z_yield\":[1,2],\"w\":[1,0]}\n",
         "t.jsonl:1: field 'pi' missing (expected an array of numbers, one per expert)"},
        {"{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":true,\"identity_share\":1,"
         "\"d\":1,\"z\":[1,2],\"z_yield\":[1,2],\"pi\":[1,0],\"w\":[1,0]}\n",
         "t.jsonl:1: field 'kept' missing (expected an array of expert names)"},
        {"{\"pos\":0,\"token\":1,\"source\":\"prompt\",\"text\":\"a\",\"layer\":0,\"routed\":true,\"identity_share\":1,"
         "\"d\":1,\"z\":[1,2],\"z_yield\":[1,2],\"pi\":[1,0],\"w\":[1,0],\"kept\":[\"x\"]}\n",
         "t.jsonl:1: field 'kept' has an element that names no expert (expected \"i0\", \"3\" or an index)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Report r;
        int rc;
        char msg[512];
        read_text(cases[i].text, &r, &rc, msg);
        assert_int_equal(rc, -1);
        assert_string_equal(msg, cases[i].msg);
    }
    // the same row twice; a missing block of position 1
    snprintf(buf, sizeof buf, "%s%s", row, row);
    Report r;
    int rc;
    char msg[512];
    read_text(buf, &r, &rc, msg);
    assert_int_equal(rc, -1);
    assert_string_equal(msg, "t.jsonl: 2 rows for 1 positions x 1 blocks (expected one row per position and block)");
    snprintf(buf, sizeof buf, "%.*s", (int)(strrchr(TRACE, '{') - TRACE), TRACE);  // no row for (pos 1, block 1)
    read_text(buf, &r, &rc, msg);
    assert_int_equal(rc, -1);
    assert_string_equal(msg, "t.jsonl: 3 rows for 2 positions x 2 blocks (expected one row per position and block)");
    Err err = {{0}};
    assert_int_equal(report_read(&r, "/nonexistent/t.jsonl", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/t.jsonl"));
}

static size_t count(const char* hay, const char* needle) {
    size_t n = 0;
    for (const char* p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static char* page_of(const Report* r) {
    char* page = NULL;
    size_t len = 0;
    FILE* f = open_memstream(&page, &len);
    assert_int_equal(report_write_html(r, f), 0);
    fclose(f);
    return page;
}

static void test_page(void** state) {
    Report r;
    read_ok(TRACE, &r);
    char* page = page_of(&r);
    assert_int_equal(count(page, "class=\"cell share\""), 4);
    assert_int_equal(count(page, "class=\"cell kept\""), 4);
    // identity wins where d >= the threshold: (pos 0, block 1) 1 >= 0.75 and (pos 1, block 0) 0.5 >= 0.4
    assert_int_equal(count(page, "class=\"d-pt id-wins\""), 2);
    assert_int_equal(count(page, "class=\"d-pt\""), 2);
    assert_non_null(strstr(page, "&lt;b&gt;&amp;"));
    assert_null(strstr(page, "<b>&"));
    assert_non_null(strstr(page, "model m \xc2\xb7 force none"));
    assert_non_null(strstr(page, "(p = 0.3 here)"));
    assert_int_equal(count(page, "class=\"boundary\""), 2 + 2);  // both heat maps, both distance charts
    // cell (pos 0, block 0): all LoRA, orange; (pos 0, block 1) share 0.6: a fifth of the way from grey to blue, (206.4, 222.2, 234)
    assert_non_null(strstr(page, "y=\"86\" width=\"14\" height=\"14\" fill=\"#d95f02\""));
    assert_non_null(strstr(page, "fill=\"#cedeea\""));
    assert_null(strstr(page, "http"));
    free(page);
    report_free(&r);
}

// The CSV of `slimscope sweep`, two seeds at p = 0.5 with p = 0 between them.
static void test_sweep(void** state) {
    char dir[64], path[128];
    test_tmpdir(dir);
    snprintf(path, sizeof path, "%s/s.csv", dir);
    const char* head = "ratio,seed,kl_p0_p,kl_base_p,top1_agree_p0,top1_agree_base,identity_share\n";
    char csv[512];
    snprintf(csv, sizeof csv, "%s0.5,1,0.4,1.5,0.5,0,0.2\n0,1,0,2,1,0,0.1\n0.5,2,0.2,1.0,0.75,0,0.2\n", head);
    test_write_file(path, csv);
    Report r;
    read_ok(TRACE, &r);
    Err err = {{0}};
    if (report_read_sweep(&r, path, &err)) fail_msg("%s", err.msg);
    assert_int_equal(r.n_sweep, 3);
    assert_true(r.sweep[2].p == 0.5f && r.sweep[2].kl_p0 == 0.2f && r.sweep[2].kl_base == 1.0f && r.sweep[2].agree_p0 == 0.75f);
    char* page = page_of(&r);
    assert_int_equal(count(page, "class=\"kl-pt\""), 3);
    // x = 56 + 448 p / 0.9, y = 10 + 180 (1 - v / 2.1) (KL up to 2 * 1.05): the means at p = 0 and
    // 0.5, KL(p=0||p) 0 and 0.3, KL(base||p) 2 and 1.25
    assert_non_null(strstr(page, "<path class=\"kl-line\" d=\"M56.0 190.0 L304.9 164.3 \"/>"));
    assert_non_null(strstr(page, "<path class=\"klb-line\" d=\"M56.0 18.6 L304.9 82.9 \"/>"));
    assert_null(strstr(page, "holds no KL vs p"));
    free(page);
    report_free(&r);

    const struct { const char *text, *msg; } cases[] = {
        {"ratio,seed,kl_base_p,top1_agree_p0\n0,1,2,1\n", "s.csv:1: no column 'kl_p0_p' (expected the CSV of slimscope sweep)"},
        {"HEAD0,1,x,2,1,0,0.1\n", "s.csv:2: column 'kl_p0_p' is not a number: 'x'"},
        {"HEAD0,1\n", "s.csv:2: 2 columns (expected 7 as in the header)"},
        {"HEAD", "s.csv: no rows (expected the CSV of slimscope sweep)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char* t = cases[i].text;
        snprintf(csv, sizeof csv, "%s%s", strncmp(t, "HEAD", 4) ? "" : head, strncmp(t, "HEAD", 4) ? t : t + 4);
        test_write_file(path, csv);
        read_ok(TRACE, &r);
        assert_int_equal(report_read_sweep(&r, path, &err), -1);
        assert_string_equal(strstr(err.msg, "s.csv"), cases[i].msg);
        assert_int_equal(r.n_sweep, 0);
        report_free(&r);
    }
    test_rmrf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_colour_scale),
        cmocka_unit_test(test_read_hand_trace),
        cmocka_unit_test(test_no_yield_no_threshold),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

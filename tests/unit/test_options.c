// test_options.c: app/options.c, the one option parser: values, range edges (open and closed),
// choices, short names, the error messages, the generated --help, and the Settings table's rules
// as the TUI's `:` commands use them; the --ids messages; the progress line of long jobs.
#include "testutil.h"

#include <math.h>
#include <stddef.h>

#include "app/options.h"
#include "app/progress.h"
#include "app/settings.h"

typedef struct {
    const char* name;
    int count, verbose, mode;
    long long big;
    uint64_t seed;
    float ratio, mass;
} Args;

#define F(field) offsetof(Args, field)
static const Option OPTS[] = {
    {"name", OPT_STR, F(name), "TEXT", "a name", .def_str = "anon"},
    {"count", OPT_INT, F(count), "N", "how many", 3, IN_RANGE(1, 10), .short_name = 'c'},
    {"verbose", OPT_FLAG, F(verbose), NULL, "talk"},
    {"mode", OPT_CHOICE, F(mode), "fast|slow|off", "speed", 1},
    {"big", OPT_I64, F(big), "B", "a big one", -1, "none", AT_LEAST(0)},
    {"seed", OPT_U64, F(seed), "S", "seed", 7},
    {"ratio", OPT_FLOAT, F(ratio), "P", "half-open", NAN, "unset", IN_RANGE_CO(0, 1)},
    {"mass", OPT_FLOAT, F(mass), "P", "open below", 1, IN_RANGE_OC(0, 1)},
    {NULL},
};

static int parse(Args* a, Err* err, int argc, char** argv) {
    OptionSet set = {OPTS, a, NULL};
    int help;
    memset(a, 0x55, sizeof *a);  // the defaults must overwrite everything
    options_defaults(&set, 1);
    return options_parse("cmd", &set, 1, argc, argv, &help, err) ? -1 : help;
}

static void test_defaults_and_values(void** st) {
    Args a;
    Err err;
    char* none[] = {"cmd"};
    assert_int_equal(parse(&a, &err, 1, none), 0);
    assert_string_equal(a.name, "anon");
    assert_int_equal(a.count, 3);
    assert_int_equal(a.verbose, 0);
    assert_int_equal(a.mode, 1);
    assert_true(a.big == -1);
    assert_true(a.seed == 7);
    assert_true(isnan(a.ratio));
    assert_true(a.mass == 1.0f);
    char* argv[] = {"cmd", "--name", "x", "-c", "10", "--verbose", "--mode=OFF", "--big", "9000000000",
                    "--seed=18446744073709551", "--ratio", "0", "--mass", "1"};
    assert_int_equal(parse(&a, &err, 14, argv), 0);
    assert_string_equal(a.name, "x");
    assert_int_equal(a.count, 10);
    assert_int_equal(a.verbose, 1);
    assert_int_equal(a.mode, 2);  // choices match without case
    assert_true(a.big == 9000000000LL);
    assert_true(a.seed == 18446744073709551ull);
    assert_true(a.ratio == 0.0f);
    assert_true(a.mass == 1.0f);
    char* help[] = {"cmd", "-h"};
    assert_int_equal(parse(&a, &err, 2, help), 1);
}

static void expect_error(const char* arg1, const char* arg2, const char* msg) {
    Args a;
    Err err;
    char* argv[] = {"cmd", (char*)arg1, (char*)arg2};
    assert_int_equal(parse(&a, &err, arg2 ? 3 : 2, argv), -1);
    assert_string_equal(err.msg, msg);
}

static void test_errors(void** st) {
    expect_error("--count", "0", "cmd: --count expects an integer in [1, 10], got '0'");
    expect_error("--count", "11", "cmd: --count expects an integer in [1, 10], got '11'");
    expect_error("--count", "2x", "cmd: --count expects an integer in [1, 10], got '2x'");
    expect_error("--count", "99999999999", "cmd: --count expects an integer in [1, 10], got '99999999999'");
    expect_error("--ratio", "1", "cmd: --ratio expects a number in [0, 1), got '1'");
    expect_error("--ratio", "-0.01", "cmd: --ratio expects a number in [0, 1), got '-0.01'");
    expect_error("--ratio", "nan", "cmd: --ratio expects a number in [0, 1), got 'nan'");
    expect_error("--mass", "0", "cmd: --mass expects a number in (0, 1], got '0'");
    expect_error("--big", "-1", "cmd: --big expects an integer >= 0, got '-1'");
    expect_error("--seed", "-1", "cmd: --seed expects an integer >= 0, got '-1'");
    expect_error("--mode", "medium", "cmd: --mode expects fast, slow or off, got 'medium'");
    expect_error("--mode", "", "cmd: --mode expects fast, slow or off, got ''");
    expect_error("--count", NULL, "cmd: --count needs a value (N)");
    expect_error("--verbose=1", NULL, "cmd: --verbose takes no value");
    expect_error("--colour", NULL, "cmd: unknown option '--colour' (see slimscope cmd --help)");
    expect_error("-z", NULL, "cmd: unknown option '-z' (see slimscope cmd --help)");
    expect_error("stray", NULL, "cmd: unexpected argument 'stray' (see slimscope cmd --help)");
}

static void test_only_restricts_the_table(void** st) {
    Args a;
    Err err;
    int help;
    OptionSet set = {OPTS, &a, "name mode"};
    options_defaults(&set, 1);
    char* ok[] = {"cmd", "--mode", "fast"};
    assert_int_equal(options_parse("cmd", &set, 1, 3, ok, &help, &err), 0);
    assert_int_equal(a.mode, 0);
    char* bad[] = {"cmd", "--count", "2"};  // in the table, not in `only`
    assert_int_equal(options_parse("cmd", &set, 1, 3, bad, &help, &err), -1);
    assert_string_equal(err.msg, "cmd: unknown option '--count' (see slimscope cmd --help)");
}

static void test_help_lines(void** st) {
    Args a;
    OptionSet set = {OPTS, &a, NULL};
    char buf[4096] = "";
    FILE* f = fmemopen(buf, sizeof buf - 1, "w");
    options_print(f, &set, 1);
    fclose(f);
    assert_non_null(strstr(buf, "  --count N            how many (also -c); in [1, 10], default 3\n"));
    assert_non_null(strstr(buf, "  --mode fast|slow|off speed; default slow\n"));
    assert_non_null(strstr(buf, "  --ratio P            half-open; in [0, 1), default unset\n"));
    assert_non_null(strstr(buf, "  --verbose            talk\n"));
    assert_non_null(strstr(buf, "  --seed S             seed; >= 0, default 7\n"));
    assert_non_null(strstr(buf, "  --name TEXT          a name; default anon\n"));
}

// The `:` commands of the TUI go through the Settings rules: p as --mask-ratio, the mode by name.
static void test_settings_rules(void** st) {
    Settings s;
    Err err;
    settings_defaults(&s, "tui");
    assert_int_equal(settings_parse_value(&s, "mask-ratio", ":p", "0.25", &err), 0);
    assert_true(s.mask_ratio == 0.25f);
    assert_int_equal(settings_parse_value(&s, "mask-ratio", ":p", "1", &err), -1);
    assert_string_equal(err.msg, ":p expects a number in [0, 1), got '1'");
    assert_int_equal(settings_parse_value(&s, "adapter-mode", ":mode", "identity-only", &err), 0);
    assert_int_equal(s.adapter_mode, 3);  // MODE_IDENTITY_ONLY
    assert_int_equal(settings_parse_value(&s, "top-p", ":top-p", "0", &err), -1);
    assert_string_equal(err.msg, ":top-p expects a number in (0, 1], got '0'");
    settings_free(&s);
}

// --ids names the option, the bad id and its index.
static void test_ids_errors(void** st) {
    Settings s;
    Err err;
    settings_defaults(&s, "forward");
    assert_int_equal(settings_parse_value(&s, "ids", "--ids", "4,5,6", &err), 0);
    assert_int_equal(s.n_ids, 3);
    assert_int_equal(s.ids[2], 6);
    assert_int_equal(settings_parse_value(&s, "ids", "--ids", "4,5x,6", &err), -1);
    assert_string_equal(err.msg, "--ids: '5x' at index 1 is not a token id (expected comma-separated ids, e.g. 1,2,3)");
    assert_int_equal(settings_parse_value(&s, "ids", "--ids", "7,,8", &err), -1);
    assert_string_equal(err.msg, "--ids: '' at index 1 is not a token id (expected comma-separated ids, e.g. 1,2,3)");
    assert_int_equal(settings_parse_value(&s, "ids", "--ids", "-3", &err), -1);
    assert_string_equal(err.msg, "--ids: '-3' at index 0 is not a token id (expected comma-separated ids, e.g. 1,2,3)");
    settings_free(&s);
}

static char* read_all(FILE* f) {
    static char buf[512];
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    return buf;
}

// The progress line: redrawn in place, the first and the last step always, anything in between at
// most every 0.1 s, erased at the end; without a terminal (NULL) nothing at all.
static void test_progress(void** st) {
    FILE* f = tmpfile();
    assert_non_null(f);
    Progress p;
    progress_begin_on(&p, f, "profile", "texts", 40);
    progress_step(&p, 0);
    progress_step(&p, 1);   // within 0.1 s of the first: not drawn
    progress_step(&p, 40);  // the last: drawn
    progress_end(&p);
    assert_string_equal(read_all(f), "\rprofile: 0/40 texts (0%)\033[K\rprofile: 40/40 texts (100%)\033[K\r\033[K");
    fclose(f);
    f = tmpfile();
    progress_begin_on(&p, f, "eval", "examples", 3);
    progress_end(&p);  // nothing drawn: nothing to erase
    assert_string_equal(read_all(f), "");
    fclose(f);
    progress_begin_on(&p, NULL, "eval", "examples", 3);
    progress_step(&p, 1);
    progress_end(&p);
    assert_int_equal(p.shown, 0);
}

// --force BLOCK:EXPERT keeps the expert's name (i0.. identity, 0.. LoRA) for the session to resolve.
static void test_force_option(void** st) {
    Settings s;
    Err err;
    settings_defaults(&s, "test");
    assert_int_equal(settings_parse_value(&s, "force", "--force", "3:i1", &err), 0);
    assert_int_equal(settings_parse_value(&s, "force", "--force", "0:7", &err), 0);
    assert_int_equal(s.n_force, 2);
    assert_int_equal(s.force_layer[0], 3);
    assert_string_equal(s.force_expert[0], "i1");
    assert_int_equal(s.force_layer[1], 0);
    assert_string_equal(s.force_expert[1], "7");
    const char* bad[] = {"3", "3:", ":1", "a:1", "-1:0", "3:x", "3:i", "3:1:2", "3:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (settings_parse_value(&s, "force", "--force", bad[i], &err) != -1) fail_msg("--force %s accepted", bad[i]);
        char want[200];
        snprintf(want, sizeof want, "--force expects BLOCK:EXPERT (e.g. 3:0 for LoRA expert 0, 3:i1 for identity expert 1), got '%s'", bad[i]);
        assert_string_equal(err.msg, want);
    }
    assert_int_equal(s.n_force, 2);
    settings_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_errors),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_only_restricts_the_table),
        cmocka_unit_test(test_help_lines),
        cmocka_unit_test(test_settings_rules),
        cmocka_unit_test(test_force_option),
    };
    return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}

// test_tasks.c: the demo's synthetic tasks (core/tasks.c) and `slimscope demo-data`: formats by
// hand, every generated answer recomputed independently from its prompt, determinism, no
// train/test overlap (for two seeds), JSONL that a JSON parser reads back, the exact-match rule.
#include "testutil.h"

#include <cjson/cJSON.h>
#include <time.h>

#include "tasks.h"

int cmd_demo_data(int argc, char** argv);  // app/cmd_demo_data.c (in the library)

// ---------------------------------------------------------------------------------------------
// helpers

static int cmp_str(const void* a, const void* b) { return strcmp(*(const char* const*)a, *(const char* const*)b); }

// Runs cmd_demo_data with the arguments given (NULL-terminated), stdout silenced.
static int run_demo_data(const char* first, ...) {
    char* argv[32];
    int argc = 0;
    argv[argc++] = "demo-data";
    va_list ap;
    va_start(ap, first);
    for (const char* a = first; a && argc < 31; a = va_arg(ap, const char*)) argv[argc++] = (char*)a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    int saved = dup(1);
    FILE* devnull = fopen("/dev/null", "w");
    dup2(fileno(devnull), 1);
    int rc = cmd_demo_data(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(devnull);
    return rc;
}

static char* slurp(const char* dir, const char* name, size_t* len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    Err err;
    char* s = read_file_text(path, len, &err);
    if (!s) fail_msg("%s", err.msg);
    return s;
}

// Parses a JSONL file into examples; fails on any line that is not an object with exactly the
// string fields prompt, response and task.
static int parse_jsonl(const char* text, TaskExample* out, int cap) {
    int n = 0;
    const char* p = text;
    while (*p) {
        const char* e = strchr(p, '\n');
        if (!e) fail_msg("line %d has no final newline", n + 1);
        char line[1024];
        size_t len = (size_t)(e - p);
        assert_true(len < sizeof line);
        memcpy(line, p, len);
        line[len] = 0;
        cJSON* o = cJSON_Parse(line);
        if (!o || !cJSON_IsObject(o)) fail_msg("line %d is not a JSON object: %s", n + 1, line);
        assert_int_equal(cJSON_GetArraySize(o), 3);
        cJSON* pr = cJSON_GetObjectItemCaseSensitive(o, "prompt");
        cJSON* re = cJSON_GetObjectItemCaseSensitive(o, "response");
        cJSON* tk = cJSON_GetObjectItemCaseSensitive(o, "task");
        if (!cJSON_IsString(pr) || !cJSON_IsString(re) || !cJSON_IsString(tk))
            fail_msg("line %d: prompt, response and task must be strings: %s", n + 1, line);
        assert_true(n < cap);
        out[n].task = task_from_name(tk->valuestring);
        if (out[n].task < 0) fail_msg("line %d: unknown task '%s'", n + 1, tk->valuestring);
        snprintf(out[n].prompt, sizeof out[n].prompt, "%s", pr->valuestring);
        snprintf(out[n].response, sizeof out[n].response, "%s", re->valuestring);
        cJSON_Delete(o);
        n++;
        p = e + 1;
    }
    return n;
}

// Recomputes the answer of an example from its prompt alone (a second implementation of each
// task, written from the formats in tasks.h) and checks ranges and conventions.
static void check_example(const TaskExample* ex) {
    size_t lp = strlen(ex->prompt);
    if (lp == 0 || ex->prompt[lp - 1] == ' ') fail_msg("prompt '%s' is empty or ends with a space", ex->prompt);
    if (ex->response[0] != ' ' || ex->response[1] == ' ' || ex->response[1] == 0)
        fail_msg("response '%s' must start with exactly one space", ex->response);
    if (strchr(ex->prompt, '\n') || strchr(ex->response, '\n')) fail_msg("newline in '%s'", ex->prompt);
    char want[128];
    switch (ex->task) {
    case TASK_ADD: {
        int a, b, used = 0;
        if (sscanf(ex->prompt, "Q: %d+%d= A:%n", &a, &b, &used) != 2 || used != (int)lp)
            fail_msg("add prompt '%s'", ex->prompt);
        assert_true(a >= 0 && a <= 99 && b >= 0 && b <= 99);
        assert_true(a % 10 + b % 10 <= 9 && a / 10 + b / 10 <= 9);  // no carry
        snprintf(want, sizeof want, " %d", a + b);
        break;
    }
    case TASK_DATE: {
        static const char* M[12] = {"January", "February", "March",     "April",   "May",      "June",
                                    "July",    "August",   "September", "October", "November", "December"};
        int y, m, d, used = 0;
        if (sscanf(ex->prompt, "date %4d-%2d-%2d ->%n", &y, &m, &d, &used) != 3 || used != (int)lp ||
            lp != strlen("date 2021-03-07 ->"))
            fail_msg("date prompt '%s'", ex->prompt);
        assert_true(y >= 1950 && y <= 2049 && m >= 1 && m <= 12 && d >= 1);
        // a valid date survives timegm's normalisation unchanged
        struct tm tm = {0};
        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        tm.tm_hour = 12;
        timegm(&tm);
        if (tm.tm_year != y - 1900 || tm.tm_mon != m - 1 || tm.tm_mday != d) fail_msg("invalid date '%s'", ex->prompt);
        snprintf(want, sizeof want, " %d %s %d", d, M[m - 1], y);
        break;
    }
    case TASK_REVERSE: {
        if (strncmp(ex->prompt, "reverse: ", 9) || strcmp(ex->prompt + lp - 3, " ->"))
            fail_msg("reverse prompt '%s'", ex->prompt);
        char buf[TASK_PROMPT_MAX];
        snprintf(buf, sizeof buf, "%.*s", (int)(lp - 12), ex->prompt + 9);
        char* w[8];
        int n = 0;
        for (char* t = strtok(buf, " "); t; t = strtok(NULL, " ")) {
            assert_true(n < 8);
            w[n++] = t;
        }
        assert_true(n == 3 || n == 4);
        int nw;
        const char* const* words = task_words(&nw);
        for (int i = 0; i < n; i++) {
            int found = 0;
            for (int k = 0; k < nw; k++) found |= !strcmp(words[k], w[i]);
            if (!found) fail_msg("'%s' is not in the word list", w[i]);
            for (int j = 0; j < i; j++)
                if (!strcmp(w[i], w[j])) fail_msg("repeated word in '%s'", ex->prompt);
        }
        size_t l = 0;
        for (int i = n - 1; i >= 0; i--) l += (size_t)snprintf(want + l, sizeof want - l, " %s", w[i]);
        break;
    }
    case TASK_MAX: {
        int v[5], n, used = 0;
        n = sscanf(ex->prompt, "largest of %d %d %d %d", &v[0], &v[1], &v[2], &v[3]);
        assert_true(n == 3 || n == 4);
        char fmt[64];
        snprintf(fmt, sizeof fmt, "largest of%s:%%n", n == 3 ? " %*d %*d %*d" : " %*d %*d %*d %*d");
        sscanf(ex->prompt, fmt, &used);
        if (used != (int)lp) fail_msg("max prompt '%s'", ex->prompt);
        int best = 0;
        for (int i = 0; i < n; i++) {
            assert_true(v[i] >= 10 && v[i] <= 99);
            for (int j = 0; j < i; j++) assert_true(v[i] != v[j]);
            if (v[i] > best) best = v[i];
        }
        snprintf(want, sizeof want, " %d", best);
        break;
    }
    default:
        fail_msg("task %d out of range", ex->task);
    }
    if (strcmp(want, ex->response)) fail_msg("'%s' -> '%s', expected '%s'", ex->prompt, ex->response, want);
}

// ---------------------------------------------------------------------------------------------
// formats, by hand

static void test_formats_by_hand(void** st) {
    TaskExample ex;
    task_format_add(&ex, 382, 49);
    assert_string_equal(ex.prompt, "Q: 382+49= A:");
    assert_string_equal(ex.response, " 431");
    assert_int_equal(ex.task, TASK_ADD);
    task_format_add(&ex, 999, 99);
    assert_string_equal(ex.response, " 1098");

    assert_int_equal(task_format_date(&ex, 2021, 3, 7), 0);
    assert_string_equal(ex.prompt, "date 2021-03-07 ->");
    assert_string_equal(ex.response, " 7 March 2021");
    assert_int_equal(task_format_date(&ex, 1999, 12, 31), 0);
    assert_string_equal(ex.response, " 31 December 1999");
    assert_int_equal(task_format_date(&ex, 2024, 2, 29), 0);  // leap year
    assert_string_equal(ex.prompt, "date 2024-02-29 ->");
    assert_int_equal(task_format_date(&ex, 2000, 2, 29), 0);  // divisible by 400
    assert_int_equal(task_format_date(&ex, 2023, 2, 29), -1);
    assert_int_equal(task_format_date(&ex, 1900, 2, 29), -1);  // divisible by 100, not 400
    assert_int_equal(task_format_date(&ex, 2021, 4, 31), -1);
    assert_int_equal(task_format_date(&ex, 2021, 13, 1), -1);
    assert_int_equal(task_format_date(&ex, 2021, 1, 0), -1);

    const char* w[3] = {"cat", "dog", "sun"};
    task_format_reverse(&ex, w, 3);
    assert_string_equal(ex.prompt, "reverse: cat dog sun ->");
    assert_string_equal(ex.response, " sun dog cat");

    int v[4] = {47, 82, 15, 60};
    task_format_max(&ex, v, 3);
    assert_string_equal(ex.prompt, "largest of 47 82 15:");
    assert_string_equal(ex.response, " 82");
    int u[4] = {12, 34, 56, 99};
    task_format_max(&ex, u, 4);
    assert_string_equal(ex.prompt, "largest of 12 34 56 99:");
    assert_string_equal(ex.response, " 99");
}

static void test_names_and_lists(void** st) {
    assert_string_equal(task_name(TASK_ADD), "add");
    assert_string_equal(task_name(TASK_MAX), "max");
    assert_string_equal(task_name(N_TASKS), "?");
    assert_int_equal(task_from_name("date"), TASK_DATE);
    assert_int_equal(task_from_name("Date"), -1);
    int t[N_TASKS];
    Err err;
    assert_int_equal(task_parse_list("reverse,add", t, &err), 2);
    assert_int_equal(t[0], TASK_REVERSE);
    assert_int_equal(t[1], TASK_ADD);
    assert_int_equal(task_parse_list("add,mul", t, &err), -1);
    assert_non_null(strstr(err.msg, "mul"));
    assert_int_equal(task_parse_list("add,add", t, &err), -1);
    assert_int_equal(task_parse_list("add,", t, &err), -1);
    assert_int_equal(task_parse_list("", t, &err), -1);
    // the word list: distinct lowercase words of 3-5 letters
    int n;
    const char* const* words = task_words(&n);
    assert_true(n >= 100);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(words[i]);
        assert_true(l >= 3 && l <= 5);
        for (size_t k = 0; k < l; k++) assert_true(words[i][k] >= 'a' && words[i][k] <= 'z');
        for (int j = 0; j < i; j++)
            if (!strcmp(words[i], words[j])) fail_msg("word '%s' listed twice", words[i]);
    }
}

static void test_exact_match_rule(void** st) {
    assert_true(task_exact_match(" 431", " 431"));
    assert_true(task_exact_match(" 431", "431"));
    assert_true(task_exact_match(" 431", " 431 \nQ: 12+13= A: 25"));  // cut at the newline
    assert_true(task_exact_match(" 7 March 2021", " 7 March 2021  "));
    assert_false(task_exact_match(" 431", " 4310"));
    assert_false(task_exact_match(" 431", " 43"));
    assert_false(task_exact_match(" 431", " 4 31"));
    assert_false(task_exact_match(" 7 March 2021", " 7 march 2021"));
    assert_false(task_exact_match(" 431", ""));
    assert_false(task_exact_match(" 431", "\n431"));  // nothing before the newline
    assert_true(task_exact_match("", "  "));
}

// ---------------------------------------------------------------------------------------------
// generators

static void test_generated_answers_are_right(void** st) {
    int counts[N_TASKS][2] = {{0}};
    for (int t = 0; t < N_TASKS; t++)
        for (uint64_t i = 0; i < 4000; i++) {
            TaskExample ex;
            task_example(&ex, t, 7, i);
            assert_int_equal(ex.task, t);
            check_example(&ex);
            counts[t][task_is_test(&ex)]++;
        }
    // about 10% held out per task (binomial, 4000 draws: sd ~ 19)
    for (int t = 0; t < N_TASKS; t++)
        if (counts[t][1] < 300 || counts[t][1] > 500) fail_msg("task %s: %d of 4000 held out", task_name(t), counts[t][1]);
}

static void test_generator_is_deterministic(void** st) {
    int differs = 0;
    for (int t = 0; t < N_TASKS; t++)
        for (uint64_t i = 0; i < 500; i++) {
            TaskExample a, b, c;
            task_example(&a, t, 1, i);
            task_example(&b, t, 1, i);
            task_example(&c, t, 2, i);
            assert_string_equal(a.prompt, b.prompt);
            assert_string_equal(a.response, b.response);
            differs += strcmp(a.prompt, c.prompt) != 0;
        }
    assert_true(differs > 1900);  // another seed gives (nearly) all different examples
    // the addition operands cover their range (0-99, digits without a carry): of the 3025 pairs,
    // 1045 have an operand below 10 (P = 0.345), 110 one above 89 (P = 0.036), 550 a sum above 89
    int lo = 0, hi = 0, sum_hi = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        TaskExample ex;
        task_example(&ex, TASK_ADD, 3, i);
        int a, b;
        assert_int_equal(sscanf(ex.prompt, "Q: %d+%d= A:", &a, &b), 2);
        lo += a < 10 || b < 10;
        hi += a > 89 || b > 89;
        sum_hi += a + b > 89;
    }
    assert_true(lo > 290 && lo < 400 && hi > 15 && hi < 60 && sum_hi > 130 && sum_hi < 240);
}

static void test_split_does_not_overlap(void** st) {
    int tasks[N_TASKS] = {TASK_ADD, TASK_DATE, TASK_REVERSE, TASK_MAX};
    int per[N_TASKS] = {1500, 1500, 1500, 1500};
    Err err;
    TaskSet tr[2], te[2][N_TASKS];
    for (int s = 0; s < 2; s++) {
        assert_int_equal(task_make_train(&tr[s], tasks, per, N_TASKS, (uint64_t)s + 1, &err), 0);
        assert_int_equal(tr[s].n, 6000);
        for (int t = 0; t < N_TASKS; t++) {
            assert_int_equal(task_make_test(&te[s][t], t, 300, (uint64_t)s + 1, &err), 0);
            assert_int_equal(te[s][t].n, 300);
        }
    }
    // every training prompt of both seeds, sorted; no test prompt of either seed may be among them
    char* prompts[12000];
    int np = 0, per_task[N_TASKS] = {0};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < tr[s].n; i++) {
            check_example(&tr[s].ex[i]);
            prompts[np++] = tr[s].ex[i].prompt;
            if (s == 0) per_task[tr[s].ex[i].task]++;
        }
    for (int t = 0; t < N_TASKS; t++) assert_int_equal(per_task[t], 1500);
    qsort(prompts, (size_t)np, sizeof *prompts, cmp_str);
    // within one seed's training set the prompts are distinct
    char* one[6000];
    for (int i = 0; i < 6000; i++) one[i] = tr[0].ex[i].prompt;
    qsort(one, 6000, sizeof *one, cmp_str);
    for (int i = 1; i < 6000; i++)
        if (!strcmp(one[i - 1], one[i])) fail_msg("training prompt '%s' twice", one[i]);
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < N_TASKS; t++) {
            char* tp[300];
            for (int i = 0; i < 300; i++) {
                const TaskExample* ex = &te[s][t].ex[i];
                assert_int_equal(ex->task, t);
                check_example(ex);
                const char* key = ex->prompt;
                if (bsearch(&key, prompts, (size_t)np, sizeof *prompts, cmp_str))
                    fail_msg("test prompt '%s' (seed %d) is also a training prompt", key, s + 1);
                tp[i] = te[s][t].ex[i].prompt;
            }
            qsort(tp, 300, sizeof *tp, cmp_str);
            for (int i = 1; i < 300; i++)
                if (!strcmp(tp[i - 1], tp[i])) fail_msg("test prompt '%s' twice", tp[i]);
        }
    // the mixture is shuffled: the first 100 examples hold more than one task
    int first_kinds = 0;
    for (int t = 0; t < N_TASKS; t++) {
        int seen = 0;
        for (int i = 0; i < 100; i++) seen |= tr[0].ex[i].task == t;
        first_kinds += seen;
    }
    assert_int_equal(first_kinds, N_TASKS);
    for (int s = 0; s < 2; s++) {
        taskset_free(&tr[s]);
        for (int t = 0; t < N_TASKS; t++) taskset_free(&te[s][t]);
    }
}

// A share beyond a task's distinct training examples repeats them in order (no held-out prompt).
static void test_small_task_repeats_its_examples(void** st) {
    // 100 years of dates: 36525 distinct prompts, ~90% of them for training
    int tasks[1] = {TASK_DATE}, per[1] = {34000};
    TaskSet s;
    Err err;
    assert_int_equal(task_make_train(&s, tasks, per, 1, 1, &err), 0);
    assert_int_equal(s.n, 34000);
    int d = s.n_distinct[TASK_DATE];
    assert_true(d > 32000 && d < 34000);
    // the shuffled mixture holds each distinct prompt once or twice, d distinct in all
    char** p = malloc(s.n * sizeof *p);
    for (int i = 0; i < s.n; i++) {
        assert_false(task_is_test(&s.ex[i]));
        p[i] = s.ex[i].prompt;
    }
    qsort(p, s.n, sizeof *p, cmp_str);
    int distinct = 1, run = 1, max_run = 1;
    for (int i = 1; i < s.n; i++) {
        run = strcmp(p[i - 1], p[i]) ? 1 : run + 1;
        distinct += run == 1;
        max_run = run > max_run ? run : max_run;
    }
    assert_int_equal(distinct, d);
    assert_int_equal(max_run, 2);
    free(p);
    taskset_free(&s);
    per[0] = 30000;  // this many exist: all distinct
    assert_int_equal(task_make_train(&s, tasks, per, 1, 1, &err), 0);
    assert_int_equal(s.n_distinct[TASK_DATE], 30000);
    taskset_free(&s);
}

// ---------------------------------------------------------------------------------------------
// JSONL and the command

static void test_jsonl_escaping(void** st) {
    TaskExample ex = {TASK_REVERSE, "say \"hi\" \\ back\nslash\t\x01", " ok"};
    char line[512];
    int len = task_jsonl_line(line, sizeof line, &ex);
    assert_true(len > 0 && (size_t)len == strlen(line));
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', (size_t)len - 1));
    cJSON* o = cJSON_Parse(line);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "prompt")->valuestring, ex.prompt);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "response")->valuestring, " ok");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "task")->valuestring, "reverse");
    cJSON_Delete(o);
    task_format_add(&ex, 382, 49);
    task_jsonl_line(line, sizeof line, &ex);
    assert_string_equal(line, "{\"prompt\": \"Q: 382+49= A:\", \"response\": \" 431\", \"task\": \"add\"}\n");
    assert_int_equal(task_jsonl_line(line, 20, &ex), -1);  // does not fit
}

static void test_demo_data_command(void** st) {
    char d1[64], d2[64], d3[64];
    test_tmpdir(d1);
    test_tmpdir(d2);
    test_tmpdir(d3);
    assert_int_equal(run_demo_data("--out", d1, "--train", "2002", "--test", "150", "--seed", "5", NULL), 0);
    assert_int_equal(run_demo_data("--out", d2, "--seed", "5", "--test", "150", "--train", "2002", NULL), 0);
    assert_int_equal(run_demo_data("--out", d3, "--train", "2002", "--test", "150", "--seed", "6", NULL), 0);
    static const char* files[] = {"train.jsonl", "test_add.jsonl", "test_date.jsonl", "test_reverse.jsonl",
                                  "test_max.jsonl"};
    static TaskExample ex[4000];
    for (int f = 0; f < 5; f++) {
        size_t l1, l2, l3;
        char *a = slurp(d1, files[f], &l1), *b = slurp(d2, files[f], &l2), *c = slurp(d3, files[f], &l3);
        // same seed: the same bytes; another seed: other examples
        if (l1 != l2 || memcmp(a, b, l1)) fail_msg("%s differs between two runs with the same seed", files[f]);
        assert_false(l1 == l3 && !memcmp(a, c, l1));
        int n = parse_jsonl(a, ex, 4000);
        assert_int_equal(n, f == 0 ? 2002 : 150);
        int per[N_TASKS] = {0};
        for (int i = 0; i < n; i++) {
            check_example(&ex[i]);
            assert_int_equal(task_is_test(&ex[i]), f != 0);
            per[ex[i].task]++;
        }
        if (f == 0) {  // 2002 = 4 * 500 + 2: the remainder goes to the first tasks
            assert_int_equal(per[TASK_ADD], 501);
            assert_int_equal(per[TASK_DATE], 501);
            assert_int_equal(per[TASK_REVERSE], 500);
            assert_int_equal(per[TASK_MAX], 500);
        } else {
            assert_int_equal(per[f - 1], 150);
        }
        free(a);
        free(b);
        free(c);
    }
    // a subset of tasks
    char d4[64];
    test_tmpdir(d4);
    assert_int_equal(run_demo_data("--out", d4, "--train", "10", "--test", "3", "--tasks", "max,add", NULL), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/test_max.jsonl", d4);
    assert_true(file_exists(path));
    snprintf(path, sizeof path, "%s/test_date.jsonl", d4);
    assert_false(file_exists(path));
    size_t l;
    char* t = slurp(d4, "train.jsonl", &l);
    assert_int_equal(parse_jsonl(t, ex, 4000), 10);
    free(t);
    test_rmrf(d1);
    test_rmrf(d2);
    test_rmrf(d3);
    test_rmrf(d4);
}

static void test_demo_data_command_errors(void** st) {
    char d[64];
    test_tmpdir(d);
    assert_int_equal(run_demo_data("--train", "10", NULL), 2);                          // no --out
    assert_int_equal(run_demo_data("--out", d, "--train", "-5", NULL), 2);              // negative
    assert_int_equal(run_demo_data("--out", d, "--train", "12x", NULL), 2);             // not a number
    assert_int_equal(run_demo_data("--out", d, "--tasks", "add,spell", NULL), 2);       // unknown task
    assert_int_equal(run_demo_data("--out", d, "--bogus", "1", NULL), 2);               // unknown option
    assert_int_equal(run_demo_data("--out", d, "--seed", NULL), 2);                     // missing value
    assert_int_equal(run_demo_data("--out", d, "--tasks", "date", "--test", "40000", NULL), 1);  // too many
    char path[256];
    snprintf(path, sizeof path, "%s/test_date.jsonl", d);
    assert_false(file_exists(path));  // nothing half-written
    test_rmrf(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_by_hand),
        cmocka_unit_test(test_names_and_lists),
        cmocka_unit_test(test_exact_match_rule),
        cmocka_unit_test(test_generated_answers_are_right),
        cmocka_unit_test(test_generator_is_deterministic),
        cmocka_unit_test(test_split_does_not_overlap),
        cmocka_unit_test(test_small_task_repeats_its_examples),
        cmocka_unit_test(test_jsonl_escaping),
        cmocka_unit_test(test_demo_data_command),
        cmocka_unit_test(test_demo_data_command_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

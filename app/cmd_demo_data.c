// cmd_demo_data.c: `slimscope demo-data`: the demo's downstream data (issue 6, item 4). Writes
// DIR/train.jsonl (the tasks mixed and shuffled) and DIR/test_<task>.jsonl per task, from the
// generators of core/tasks.c; the same arguments give the same bytes on every machine.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "tasks.h"

typedef struct {
    const char *out, *tasks;
    uint64_t seed;
    int n_train, n_test;
} DemoDataArgs;

#define F(field) offsetof(DemoDataArgs, field)
static const Option DEMO_DATA_OPTIONS[] = {
    {"out", OPT_STR, F(out), "DIR", "output directory (created): train.jsonl, test_<task>.jsonl"},
    {"seed", OPT_U64, F(seed), "S", "generator seed; the train/test split does not depend on it", 1, AT_LEAST(0)},
    {"train", OPT_INT, F(n_train), "N", "training examples in all, split evenly over the tasks", 20000, IN_RANGE(0, 10000000)},
    {"test", OPT_INT, F(n_test), "N", "held-out examples per task", 200, IN_RANGE(0, 1000000)},
    {"tasks", OPT_STR, F(tasks), "LIST", "tasks to generate, of add, date, reverse, max", .def_str = "add,date,reverse,max"},
    {NULL},
};
#undef F

int cmd_demo_data(int argc, char** argv) {
    DemoDataArgs A;
    memset(&A, 0, sizeof A);
    OptionSet opts = {DEMO_DATA_OPTIONS, &A, NULL};
    int done_status = options_begin("demo-data", &opts, 1, argc, argv,
        "usage: slimscope demo-data --out DIR [--seed S] [--train N] [--test N] [--tasks add,date,reverse,max]\n"
        "formats: add \"Q: 38+49= A:\" -> \" 87\"; date \"date 2021-03-07 ->\" -> \" 7 March 2021\";\n"
        "         reverse \"reverse: cat dog sun ->\" -> \" sun dog cat\"; max \"largest of 47 82 15:\" -> \" 82\"\n");
    if (done_status >= 0) return done_status;
    const char *out = A.out, *tasks_spec = A.tasks;
    uint64_t seed = A.seed;
    long long n_train = A.n_train, n_test = A.n_test;
    if (!out) {
        fprintf(stderr, "demo-data: --out DIR is required (see slimscope demo-data --help)\n");
        return 2;
    }
    Err err;
    int tasks[N_TASKS];
    int n_tasks = task_parse_list(tasks_spec, tasks, &err);
    if (n_tasks < 0) {
        fprintf(stderr, "demo-data: %s\n", err.msg);
        return 2;
    }
    if (mkdir_p(out, &err)) {
        fprintf(stderr, "demo-data: %s\n", err.msg);
        return 1;
    }

    // training mixture: N split evenly, the remainder to the first tasks
    int per[N_TASKS];
    for (int k = 0; k < n_tasks; k++) per[k] = (int)(n_train / n_tasks + (k < n_train % n_tasks));
    TaskSet set;
    char path[4096];
    if (task_make_train(&set, tasks, per, n_tasks, (uint64_t)seed, &err) ||
        task_write_jsonl(path_join(path, sizeof path, out, "train.jsonl"), &set, &err)) {
        fprintf(stderr, "demo-data: %s\n", err.msg);
        taskset_free(&set);
        return 1;
    }
    printf("%s: %d examples (", path, set.n);
    for (int k = 0; k < n_tasks; k++) {
        printf("%s%s %d", k ? ", " : "", task_name(tasks[k]), per[k]);
        if (set.n_distinct[tasks[k]] < per[k]) printf(": %d distinct, repeated", set.n_distinct[tasks[k]]);
    }
    printf(")\n");
    taskset_free(&set);

    for (int k = 0; k < n_tasks; k++) {
        char name[64];
        snprintf(name, sizeof name, "test_%s.jsonl", task_name(tasks[k]));
        if (task_make_test(&set, tasks[k], (int)n_test, (uint64_t)seed, &err) ||
            task_write_jsonl(path_join(path, sizeof path, out, name), &set, &err)) {
            fprintf(stderr, "demo-data: %s\n", err.msg);
            taskset_free(&set);
            return 1;
        }
        printf("%s: %d examples\n", path, set.n);
        taskset_free(&set);
    }
    return 0;
}

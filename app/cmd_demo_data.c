// cmd_demo_data.c: `slimscope demo-data`: the demo's downstream data (issue 6, item 4). Writes
// DIR/train.jsonl (the tasks mixed and shuffled) and DIR/test_<task>.jsonl per task, from the
// generators of core/tasks.c; the same arguments give the same bytes on every machine.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "tasks.h"

static void usage(FILE* f) {
    fprintf(f,
            "usage: slimscope demo-data --out DIR [--seed S] [--train N] [--test N] [--tasks add,date,reverse,max]\n"
            "  --out DIR     output directory (created): train.jsonl, test_<task>.jsonl\n"
            "  --seed S      generator seed (default 1); the train/test split does not depend on it\n"
            "  --train N     training examples in all, split evenly over the tasks (default 20000)\n"
            "  --test N      held-out examples per task (default 200)\n"
            "  --tasks LIST  tasks to generate (default all: add, date, reverse, max)\n"
            "formats: add \"Q: 38+49= A:\" -> \" 87\"; date \"date 2021-03-07 ->\" -> \" 7 March 2021\";\n"
            "         reverse \"reverse: cat dog sun ->\" -> \" sun dog cat\"; max \"largest of 47 82 15:\" -> \" 82\"\n");
}

// Whole non-negative decimal number in [0, max]; -1 otherwise.
static long long parse_count(const char* s, long long max) {
    if (!s || !*s) return -1;
    for (const char* p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v > (unsigned long long)max) return -1;
    return (long long)v;
}

int cmd_demo_data(int argc, char** argv) {
    const char *out = NULL, *tasks_spec = "add,date,reverse,max";
    long long seed = 1, n_train = 20000, n_test = 200;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "demo-data: option %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--out")) {
            out = v;
        } else if (!strcmp(argv[i], "--tasks")) {
            tasks_spec = v;
        } else if (!strcmp(argv[i], "--seed")) {
            if ((seed = parse_count(v, 0x7fffffffffffffffll)) < 0) {
                fprintf(stderr, "demo-data: --seed must be a non-negative whole number, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--train")) {
            if ((n_train = parse_count(v, 10000000)) < 0) {
                fprintf(stderr, "demo-data: --train must be a whole number in 0..10000000, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--test")) {
            if ((n_test = parse_count(v, 1000000)) < 0) {
                fprintf(stderr, "demo-data: --test must be a whole number in 0..1000000, not '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "demo-data: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!out) {
        fprintf(stderr, "demo-data: --out DIR is required\n");
        usage(stderr);
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
    for (int k = 0; k < n_tasks; k++) printf("%s%s %d", k ? ", " : "", task_name(tasks[k]), per[k]);
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

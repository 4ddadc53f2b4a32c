// tasks.h: the demo's synthetic downstream tasks (issue 6, item 4) and their exact-match metric.
//
// Four tasks, each with its own prompt/response format:
//   add      "Q: 35+42= A:"             -> " 77"             two numbers 0-99 whose digits add up
//                                                              without a carry (3025 pairs)
//   date     "date 2021-03-07 ->"       -> " 7 March 2021"   valid dates 1950-2049
//   reverse  "reverse: cat dog sun ->"  -> " sun dog cat"    3-4 distinct words of a fixed list
//   max      "largest of 47 82 15:"     -> " 82"             3-4 distinct numbers 10-99
//
// Conventions (the fine-tuning loader in core/data.h and `slimscope eval` rely on them):
// - The prompt ends without a trailing space; the response starts with one space and holds no
//   newline and no special marker: the training example is prompt + response + EOS (added by
//   the loader), and generation stops at EOS or at a newline.
// - Exact match (task_exact_match): the generated continuation, cut at its first newline, equals
//   the response once leading and trailing whitespace are removed from both.
// - Example i of a task is a pure function of (task, seed, i) (task_example). Whether an example
//   is held out is a function of its content alone (task_is_test: a hash of task and prompt), never
//   of the seed, so no test example appears in any training set, whatever seeds were used.
#ifndef SLIMSCOPE_TASKS_H
#define SLIMSCOPE_TASKS_H

#include <stdint.h>

#include "common.h"

typedef enum { TASK_ADD = 0, TASK_DATE, TASK_REVERSE, TASK_MAX, N_TASKS } TaskKind;

#define TASK_PROMPT_MAX 96
#define TASK_RESPONSE_MAX 64
#define TASK_TEST_PER_MILLE 100   // ~10% of each task's distinct prompts are held out

typedef struct {
    int task;                             // TaskKind
    char prompt[TASK_PROMPT_MAX];
    char response[TASK_RESPONSE_MAX];
} TaskExample;

const char* task_name(int task);          // "add", "date", "reverse", "max"; "?" when out of range
int task_from_name(const char* name);     // -1 when unknown
// Parses "add,date" into tasks (at most N_TASKS, no repeats); returns the count or -1 with err.
int task_parse_list(const char* spec, int* tasks, Err* err);

// The fixed word list of the reverse task (common English words, 3-5 lowercase letters).
const char* const* task_words(int* n);

// ---------------------------------------------------------------------------------------------
// formatting: one example from its parameters (used by the generators; tests check them by hand)

void task_format_add(TaskExample* ex, int a, int b);
// Returns -1 (ex untouched) when y-m-d is not a valid Gregorian date in 1-9999.
int task_format_date(TaskExample* ex, int y, int m, int d);
void task_format_reverse(TaskExample* ex, const char* const* words, int n);
void task_format_max(TaskExample* ex, const int* nums, int n);

// ---------------------------------------------------------------------------------------------
// generation and splits

// The i-th candidate example of a task for a seed (pure; the same on every machine).
void task_example(TaskExample* ex, int task, uint64_t seed, uint64_t i);
// 64-bit FNV-1a of "task name\0prompt" (the prompt determines the response).
uint64_t task_hash(const TaskExample* ex);
// Held-out: task_hash % 1000 < TASK_TEST_PER_MILLE.
int task_is_test(const TaskExample* ex);

typedef struct {
    TaskExample* ex;
    int n;
    int n_distinct[N_TASKS];  // task_make_train: distinct examples behind each task's share
} TaskSet;

// n_per_task[k] training examples of tasks[k] (candidates 0, 1, 2, ... of seed that are not held
// out, distinct; a task with fewer distinct training examples than asked repeats them in order to
// fill its share), all tasks mixed and shuffled by a PRNG seeded from seed.
int task_make_train(TaskSet* out, const int* tasks, const int* n_per_task, int n_tasks, uint64_t seed, Err* err);
// n distinct held-out examples of one task, in candidate order.
int task_make_test(TaskSet* out, int task, int n, uint64_t seed, Err* err);
void taskset_free(TaskSet* s);

// One JSONL line {"prompt": ..., "response": ..., "task": ...} with a trailing newline, JSON
// string escaping applied. Returns the length, or -1 when it does not fit in n bytes.
int task_jsonl_line(char* out, size_t n, const TaskExample* ex);
// Writes the set as JSONL through a temporary file and rename.
int task_write_jsonl(const char* path, const TaskSet* s, Err* err);

// ---------------------------------------------------------------------------------------------
// metric

// 1 when generated (cut at its first '\n') equals expected, leading/trailing whitespace ignored.
int task_exact_match(const char* expected, const char* generated);

#endif

// tasks.c: the demo's synthetic downstream tasks: formatting, the deterministic generators, the
// content-hash split into train and test, JSONL output and the exact-match rule (see tasks.h).
#include "tasks.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

static const char* TASK_NAMES[N_TASKS] = {"add", "date", "reverse", "max"};

static const char* MONTHS[12] = {"January", "February", "March",     "April",   "May",      "June",
                                 "July",    "August",   "September", "October", "November", "December"};

// Common English words of 3-5 lowercase letters, all distinct: short and frequent enough to be one
// or two tokens of a small English BPE vocabulary.
static const char* WORDS[] = {
    "apple", "arm",   "baby",  "bag",   "ball",  "band",  "bank",  "bed",   "bell",  "bird",  "boat",  "body",
    "bone",  "book",  "box",   "boy",   "bread", "bus",   "cake",  "car",   "card",  "cat",   "chair", "city",
    "clock", "cloud", "coat",  "cow",   "cup",   "day",   "desk",  "dog",   "door",  "dream", "dress", "drum",
    "duck",  "ear",   "earth", "egg",   "eye",   "face",  "farm",  "field", "fire",  "fish",  "flag",  "floor",
    "food",  "foot",  "fork",  "frog",  "fruit", "game",  "gate",  "gift",  "girl",  "glass", "goat",  "gold",
    "grass", "hand",  "hat",   "head",  "heart", "hill",  "home",  "horse", "house", "ice",   "iron",  "jar",
    "key",   "king",  "kite",  "lake",  "lamp",  "land",  "leaf",  "leg",   "lion",  "lip",   "lock",  "man",
    "map",   "milk",  "money", "moon",  "mouse", "mouth", "music", "nail",  "name",  "neck",  "nest",  "night",
    "nose",  "note",  "oak",   "ocean", "oil",   "page",  "pain",  "paper", "park",  "path",  "pen",   "pig",
    "pipe",  "plan",  "plate", "pot",   "queen", "rain",  "ring",  "river", "road",  "rock",  "roof",  "room",
    "root",  "rope",  "rose",  "salt",  "sand",  "sea",   "seed",  "sheep", "ship",  "shoe",  "shop",  "silk",
    "sky",   "snake", "snow",  "song",  "soup",  "star",  "stone", "sun",   "table", "tail",  "tea",   "tent",
    "tiger", "time",  "toe",   "tool",  "tooth", "town",  "toy",   "train", "tree",  "truck", "van",   "wall",
    "water", "wave",  "whale", "wheel", "wind",  "wing",  "wolf",  "wood",  "wool",  "word",  "world", "yard",
};
#define N_WORDS (int)(sizeof WORDS / sizeof WORDS[0])

const char* task_name(int task) { return task >= 0 && task < N_TASKS ? TASK_NAMES[task] : "?"; }

int task_from_name(const char* name) { return name_index(TASK_NAMES, N_TASKS, name); }

int task_parse_list(const char* spec, int* tasks, Err* err) {
    int n = 0;
    for (const char* p = spec ? spec : "";;) {
        const char* e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        if (len == 0 || len >= sizeof name) return err_set(err, "--tasks '%s': empty or overlong task name", spec);
        memcpy(name, p, len);
        name[len] = 0;
        int t = task_from_name(name);
        if (t < 0) return err_set(err, "--tasks: unknown task '%s' (known: add, date, reverse, max)", name);
        for (int k = 0; k < n; k++)
            if (tasks[k] == t) return err_set(err, "--tasks: task '%s' named twice", name);
        tasks[n++] = t;
        if (!e) return n;
        p = e + 1;
    }
}

const char* const* task_words(int* n) {
    *n = N_WORDS;
    return WORDS;
}

// ---------------------------------------------------------------------------------------------
// formatting

void task_format_add(TaskExample* ex, int a, int b) {
    ex->task = TASK_ADD;
    snprintf(ex->prompt, sizeof ex->prompt, "Q: %d+%d= A:", a, b);
    snprintf(ex->response, sizeof ex->response, " %d", a + b);
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m) {
    static const int D[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : D[m - 1];
}

int task_format_date(TaskExample* ex, int y, int m, int d) {
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return -1;
    ex->task = TASK_DATE;
    snprintf(ex->prompt, sizeof ex->prompt, "date %04d-%02d-%02d ->", y, m, d);
    snprintf(ex->response, sizeof ex->response, " %d %s %d", d, MONTHS[m - 1], y);
    return 0;
}

void task_format_reverse(TaskExample* ex, const char* const* words, int n) {
    ex->task = TASK_REVERSE;
    size_t lp = (size_t)snprintf(ex->prompt, sizeof ex->prompt, "reverse:");
    size_t lr = 0;
    ex->response[0] = 0;
    for (int i = 0; i < n; i++) {
        lp += (size_t)snprintf(ex->prompt + lp, sizeof ex->prompt - lp, " %s", words[i]);
        lr += (size_t)snprintf(ex->response + lr, sizeof ex->response - lr, " %s", words[n - 1 - i]);
    }
    snprintf(ex->prompt + lp, sizeof ex->prompt - lp, " ->");
}

void task_format_max(TaskExample* ex, const int* nums, int n) {
    ex->task = TASK_MAX;
    size_t lp = (size_t)snprintf(ex->prompt, sizeof ex->prompt, "largest of");
    int best = nums[0];
    for (int i = 0; i < n; i++) {
        lp += (size_t)snprintf(ex->prompt + lp, sizeof ex->prompt - lp, " %d", nums[i]);
        if (nums[i] > best) best = nums[i];
    }
    snprintf(ex->prompt + lp, sizeof ex->prompt - lp, ":");
    snprintf(ex->response, sizeof ex->response, " %d", best);
}

// ---------------------------------------------------------------------------------------------
// generation: a splitmix64 stream (rng_hash) keyed by (seed, task, i)

static uint64_t mix64(uint64_t z) { return rng_hash(z, 0); }

typedef struct {
    uint64_t key, n; // the stream's start and the draws made
} TaskRng;

static uint64_t trng_next(TaskRng* r) { return rng_hash(r->key, r->n++); }

// Uniform integer in [lo, hi] (multiply-shift on the high 32 bits: integer arithmetic only).
static int trng_range(TaskRng* r, int lo, int hi) {
    uint64_t span = (uint64_t)(hi - lo + 1);
    return lo + (int)(((trng_next(r) >> 32) * span) >> 32);
}

void task_example(TaskExample* ex, int task, uint64_t seed, uint64_t i) {
    TaskRng r = {mix64(mix64(mix64(seed) ^ (uint64_t)(task + 1)) ^ i), 0};
    switch (task) {
    case TASK_ADD: {  // no carry: each digit of the sum is the sum of two digits (issue 15)
        int a, b;
        do {
            a = trng_range(&r, 0, 99), b = trng_range(&r, 0, 99);
        } while (a % 10 + b % 10 > 9 || a / 10 + b / 10 > 9);
        task_format_add(ex, a, b);
        break;
    }
    case TASK_DATE: {
        int y = trng_range(&r, 1950, 2049), m = trng_range(&r, 1, 12);
        int d = trng_range(&r, 1, days_in_month(y, m));
        task_format_date(ex, y, m, d);
        break;
    }
    case TASK_REVERSE: {
        int n = trng_range(&r, 3, 4), pick[4];
        const char* w[4];
        for (int k = 0; k < n; k++) {
            int again;
            do {  // distinct words: redraw on a repeat
                pick[k] = trng_range(&r, 0, N_WORDS - 1);
                again = 0;
                for (int j = 0; j < k; j++) again |= pick[j] == pick[k];
            } while (again);
            w[k] = WORDS[pick[k]];
        }
        task_format_reverse(ex, w, n);
        break;
    }
    default: {  // TASK_MAX
        int n = trng_range(&r, 3, 4), v[4];
        for (int k = 0; k < n; k++) {
            int again;
            do {
                v[k] = trng_range(&r, 10, 99);
                again = 0;
                for (int j = 0; j < k; j++) again |= v[j] == v[k];
            } while (again);
        }
        task_format_max(ex, v, n);
        break;
    }
    }
}

uint64_t task_hash(const TaskExample* ex) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
    const char* parts[2] = {task_name(ex->task), ex->prompt};
    for (int k = 0; k < 2; k++) {
        for (const unsigned char* p = (const unsigned char*)parts[k]; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
        h = (h ^ 0) * 0x100000001b3ull;  // the separator byte
    }
    return h;
}

int task_is_test(const TaskExample* ex) { return task_hash(ex) % 1000 < TASK_TEST_PER_MILLE; }

// ---------------------------------------------------------------------------------------------
// splits

// Open-addressing set of 64-bit content hashes (0 marks an empty slot; a hash of 0 is stored as 1).
typedef struct {
    uint64_t* slot;
    size_t cap;
} HashSet;

static void hashset_init(HashSet* s, size_t n) {
    s->cap = 16;
    while (s->cap < 2 * n + 16) s->cap *= 2;
    s->slot = xcalloc(s->cap, sizeof *s->slot);
}

// Returns 1 when h was added, 0 when it was there already.
static int hashset_add(HashSet* s, uint64_t h) {
    if (!h) h = 1;
    size_t i = (size_t)mix64(h) & (s->cap - 1);
    while (s->slot[i]) {
        if (s->slot[i] == h) return 0;
        i = (i + 1) & (s->cap - 1);
    }
    s->slot[i] = h;
    return 1;
}

// Appends the first n distinct candidates of task (from candidate 0 on) whose split is `want_test`.
static int collect(TaskExample* out, int task, int n, int want_test, uint64_t seed, int* n_distinct, Err* err) {
    HashSet seen;
    hashset_init(&seen, (size_t)n);
    uint64_t limit = 64 * (uint64_t)n + 100000, i = 0;
    int got = 0;
    for (; got < n && i < limit; i++) {
        TaskExample ex;
        task_example(&ex, task, seed, i);
        if (task_is_test(&ex) != want_test || !hashset_add(&seen, task_hash(&ex))) continue;
        out[got++] = ex;
    }
    free(seen.slot);
    // a training share larger than the task's distinct examples (add: ~2720 of 3025 prompts) is
    // filled by repeating them in order: more epochs of that task, never a held-out prompt
    if (n_distinct) *n_distinct = got;
    for (int k = 0; !want_test && got > 0 && got < n; k++) out[got++] = out[k];
    if (got < n)
        return err_set(err, "task %s: only %d distinct %s examples found in %llu candidates, %d asked for",
                       task_name(task), got, want_test ? "test" : "training", (unsigned long long)i, n);
    return 0;
}

int task_make_train(TaskSet* out, const int* tasks, const int* n_per_task, int n_tasks, uint64_t seed, Err* err) {
    memset(out, 0, sizeof *out);
    long long total = 0;
    for (int k = 0; k < n_tasks; k++) {
        if (tasks[k] < 0 || tasks[k] >= N_TASKS) return err_set(err, "task index %d out of range", tasks[k]);
        if (n_per_task[k] < 0) return err_set(err, "task %s: negative example count", task_name(tasks[k]));
        total += n_per_task[k];
    }
    if (total > 100000000) return err_set(err, "%lld training examples asked for; at most 100000000", total);
    TaskExample* ex = xmalloc((size_t)(total ? total : 1) * sizeof *ex);
    int n = 0;
    for (int k = 0; k < n_tasks; k++) {
        if (collect(ex + n, tasks[k], n_per_task[k], 0, seed, &out->n_distinct[tasks[k]], err)) {
            free(ex);
            return -1;
        }
        n += n_per_task[k];
    }
    // Fisher-Yates shuffle of the mixture, from its own stream of the seed
    TaskRng r = {mix64(seed ^ 0x73687566666c65ull), 0};
    for (int i = n - 1; i > 0; i--) {
        int j = trng_range(&r, 0, i);
        TaskExample t = ex[i];
        ex[i] = ex[j];
        ex[j] = t;
    }
    out->ex = ex;
    out->n = n;
    return 0;
}

int task_make_test(TaskSet* out, int task, int n, uint64_t seed, Err* err) {
    out->ex = NULL;
    out->n = 0;
    if (task < 0 || task >= N_TASKS) return err_set(err, "task index %d out of range", task);
    if (n < 0 || n > 10000000) return err_set(err, "task %s: %d test examples asked for", task_name(task), n);
    TaskExample* ex = xmalloc((size_t)(n ? n : 1) * sizeof *ex);
    if (collect(ex, task, n, 1, seed, NULL, err)) {
        free(ex);
        return -1;
    }
    out->ex = ex;
    out->n = n;
    return 0;
}

void taskset_free(TaskSet* s) {
    free(s->ex);
    s->ex = NULL;
    s->n = 0;
}

// ---------------------------------------------------------------------------------------------
// JSONL

// Appends s as a JSON string literal at out[*len]; returns -1 when it does not fit.
static int json_string(char* out, size_t n, size_t* len, const char* s) {
    size_t l = *len;
#define PUT(c)                     \
    do {                           \
        if (l + 1 >= n) return -1; \
        out[l++] = (char)(c);      \
    } while (0)
    PUT('"');
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT(c);
        } else if (c == '\n') {
            PUT('\\');
            PUT('n');
        } else if (c == '\t') {
            PUT('\\');
            PUT('t');
        } else if (c < 0x20 || c == 0x7f) {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", c);
            for (char* q = u; *q; q++) PUT(*q);
        } else {
            PUT(c);
        }
    }
    PUT('"');
#undef PUT
    out[l] = 0;
    *len = l;
    return 0;
}

static int append_raw(char* out, size_t n, size_t* len, const char* s) {
    size_t k = strlen(s);
    if (*len + k + 1 > n) return -1;
    memcpy(out + *len, s, k + 1);
    *len += k;
    return 0;
}

int task_jsonl_line(char* out, size_t n, const TaskExample* ex) {
    size_t len = 0;
    if (n == 0) return -1;
    out[0] = 0;
    if (append_raw(out, n, &len, "{\"prompt\": ") || json_string(out, n, &len, ex->prompt) ||
        append_raw(out, n, &len, ", \"response\": ") || json_string(out, n, &len, ex->response) ||
        append_raw(out, n, &len, ", \"task\": ") || json_string(out, n, &len, task_name(ex->task)) ||
        append_raw(out, n, &len, "}\n"))
        return -1;
    return (int)len;
}

int task_write_jsonl(const char* path, const TaskSet* s, Err* err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    char line[1024];
    for (int i = 0; i < s->n; i++) {
        int len = task_jsonl_line(line, sizeof line, &s->ex[i]);
        if (len < 0) {
            atomic_abort(&af);
            return err_set(err, "%s: example %d does not fit in a JSONL line", path, i);
        }
        if (fwrite(line, 1, (size_t)len, af.f) != (size_t)len) {
            atomic_abort(&af);
            return err_set(err, "%s: write failed", path);
        }
    }
    return atomic_commit(&af, err);
}

// ---------------------------------------------------------------------------------------------
// metric

int task_exact_match(const char* expected, const char* generated) {
    const char *e0 = expected, *g0 = generated;
    while (*e0 && isspace((unsigned char)*e0)) e0++;
    while (*g0 && *g0 != '\n' && isspace((unsigned char)*g0)) g0++;
    const char* e1 = e0 + strlen(e0);
    const char* g1 = strchr(g0, '\n');
    if (!g1) g1 = g0 + strlen(g0);
    while (e1 > e0 && isspace((unsigned char)e1[-1])) e1--;
    while (g1 > g0 && isspace((unsigned char)g1[-1])) g1--;
    return e1 - e0 == g1 - g0 && !memcmp(e0, g0, (size_t)(e1 - e0));
}

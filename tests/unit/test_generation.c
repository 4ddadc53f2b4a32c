// test_generation.c: app/generation.c, the one generation loop, on a scripted state: greedy
// sampling picks the id whose logit the script raises, so which tokens are passed on, which are
// fed and why the loop ends can be written down by hand for each flag.
#include "testutil.h"

#include "app/generation.h"

enum { V = 8, EOS = 7 };

typedef struct {
    const int* script;  // the token each step's logits point at
    int step;
    int fed[32], n_fed;
    int capacity;       // tokens feed accepts
    float logits[V];
    int out[32], n_out;
    int stop_after;     // on_token asks to stop after this many (0: never)
} Script;

static void point_at(Script* s) {
    for (int v = 0; v < V; v++) s->logits[v] = v == s->script[s->step] ? 1.0f : 0.0f;
}
static int feed(void* state, int id, Err* err) {
    Script* s = state;
    if (s->n_fed == s->capacity) return err_set(err, "full");
    s->fed[s->n_fed++] = id;
    s->step++;
    point_at(s);
    return 0;
}
static int room(const void* state) {
    const Script* s = state;
    return s->capacity - s->n_fed;
}
static int collect(void* ctx, int k, int id) {
    Script* s = ctx;
    assert_int_equal(k, s->n_out);
    s->out[s->n_out++] = id;
    return s->stop_after && s->n_out == s->stop_after;
}

static GenEnd run(Script* s, const int* script, int capacity, int n_new, unsigned flags, int* produced) {
    memset(s, 0, sizeof *s);
    s->script = script;
    s->capacity = capacity;
    point_at(s);
    Sampler sm;
    sampler_init(&sm, V, 0, 1, 0);  // greedy
    Generation g = {.n_new = n_new, .eos = EOS, .flags = flags, .sampler = &sm, .feed = feed, .room = room,
                    .logits = s->logits, .state = s, .on_token = collect, .ctx = s};
    Err err;
    GenEnd e = generation_run(&g, produced, &err);
    sampler_free(&sm);
    return e;
}

static void test_count_and_eos(void** st) {
    static const int script[] = {3, 4, 5, EOS, 1, 1};
    Script s;
    int n;
    // generate's flags: EOS passed on, neither it nor the last token fed
    assert_int_equal(run(&s, script, 100, 10, GEN_EMIT_EOS, &n), GEN_EOS);
    assert_int_equal(n, 4);
    assert_int_equal(s.n_out, 4);
    assert_int_equal(s.out[3], EOS);
    assert_int_equal(s.n_fed, 3);
    // trace's: EOS passed on and fed
    assert_int_equal(run(&s, script, 100, 10, GEN_EMIT_EOS | GEN_FEED_ALL, &n), GEN_EOS);
    assert_int_equal(n, 4);
    assert_int_equal(s.n_fed, 4);
    assert_int_equal(s.fed[3], EOS);
    // the worker's: stops before EOS, every other token fed
    assert_int_equal(run(&s, script, 100, 10, GEN_FEED_ALL, &n), GEN_EOS);
    assert_int_equal(n, 3);
    assert_int_equal(s.n_fed, 3);
    // eval's: stops before EOS, the last token passed on not fed
    assert_int_equal(run(&s, script, 100, 2, 0, &n), GEN_DONE);
    assert_int_equal(n, 2);
    assert_int_equal(s.out[1], 4);
    assert_int_equal(s.n_fed, 1);
    assert_int_equal(run(&s, script, 100, 2, GEN_FEED_ALL, &n), GEN_DONE);
    assert_int_equal(s.n_fed, 2);
    assert_int_equal(run(&s, script, 100, 0, GEN_FEED_ALL, &n), GEN_DONE);
    assert_int_equal(n, 0);
}

static void test_full_context_and_stop(void** st) {
    static const int script[] = {1, 2, 3, 4, 5, 6, 1, 2};
    Script s;
    int n;
    // room for 2: without GEN_FEED_ALL the third token is still passed on, then the loop ends
    assert_int_equal(run(&s, script, 2, 10, 0, &n), GEN_FULL);
    assert_int_equal(n, 3);
    assert_int_equal(s.n_fed, 2);
    assert_int_equal(s.out[2], 3);
    // with it, only what can be fed is passed on
    assert_int_equal(run(&s, script, 2, 10, GEN_FEED_ALL, &n), GEN_FULL);
    assert_int_equal(n, 2);
    assert_int_equal(s.n_fed, 2);
    // on_token asking to stop
    memset(&s, 0, sizeof s);
    s.script = script, s.capacity = 100, s.stop_after = 2;
    point_at(&s);
    Sampler sm;
    sampler_init(&sm, V, 0, 1, 0);
    Generation g = {.n_new = 10, .eos = EOS, .flags = GEN_FEED_ALL, .sampler = &sm, .feed = feed, .room = room,
                    .logits = s.logits, .state = &s, .on_token = collect, .ctx = &s};
    Err err;
    assert_int_equal(generation_run(&g, &n, &err), GEN_STOPPED);
    assert_int_equal(n, 2);
    // a cancel flag already set: nothing is sampled
    volatile int cancel = 1;
    g.cancel = &cancel;
    assert_int_equal(generation_run(&g, &n, &err), GEN_STOPPED);
    assert_int_equal(n, 0);
    sampler_free(&sm);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_and_eos),
        cmocka_unit_test(test_full_context_and_stop),
    };
    return cmocka_run_group_tests_name("generation", tests, NULL, NULL);
}

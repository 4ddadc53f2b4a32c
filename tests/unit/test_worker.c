// test_worker.c: the TUI's worker thread (app/worker.c) driven headless through a Tui on a small
// random model: keys and `:` commands post jobs, and what the worker publishes is checked against
// the engine called directly.
#include "testutil.h"

#include "adapter.h"
#include "app/bench.h"
#include "forward.h"
#include "metrics.h"
#include "views/draw.h"
#include "views/screen.h"
#include "views/tui.h"

// ---------------------------------------------------------------------------------------------
// the worker, headless, against the engine called directly

typedef struct {
    char dir[64];
    Settings st;
    Session s;
} Fixture;

static void fixture_open(Fixture* f, int n_prompt) {
    test_tmpdir(f->dir);
    char mdir[128], adir[128];
    snprintf(mdir, sizeof mdir, "%s/model", f->dir);
    snprintf(adir, sizeof adir, "%s/adapter", f->dir);
    ModelConfig c = {0};
    c.arch = ARCH_LLAMA;
    c.dim = 32;
    c.hidden_dim = 64;
    c.n_layers = 3;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = 16;
    c.vocab_size = 40;
    c.max_seq_len = 64;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.bos_id = 1;
    c.eos_id = -1;
    Model m;
    Err err;
    model_init_random(&m, &c, 0.3f, 11);
    if (model_save(&m, mdir, DT_F32, 1, &err)) fail_msg("%s", err.msg);
    AdapterSpec spec;
    adapter_spec_default(&spec);
    spec.r = 4;
    spec.lora_alpha = 8;
    spec.n_clusters = 3;
    Adapter a;
    adapter_alloc(&a, &m, &spec);
    adapter_init_random(&a, 0.3f, 5);
    if (adapter_save(&a, adir, DT_F32, &err)) fail_msg("%s", err.msg);
    adapter_free(&a);
    model_free(&m);
    settings_defaults(&f->st, "test");
    f->st.model_dir = xstrdup(mdir);
    f->st.adapter_dir = xstrdup(adir);
    f->st.lens = 1;
    f->st.threads = 1;
    if (session_open(&f->s, &f->st, &err)) fail_msg("%s", err.msg);
    int ids[16];
    for (int i = 0; i < n_prompt; i++) ids[i] = (i * 7 + 3) % 40;
    if (n_prompt && session_feed(&f->s, ids, n_prompt, &err)) fail_msg("%s", err.msg);
}

static void fixture_close(Fixture* f) {
    session_close(&f->s);
    free((char*)f->st.model_dir);
    free((char*)f->st.adapter_dir);
    settings_free(&f->st);
    test_rmrf(f->dir);
}

// The snapshot's comparison at the selected position equals the engine's own logits, KL and top-5.
static void expect_comparison(Session* s, const Snapshot* sn, int pos, float p) {
    int V = s->model.cfg.vocab_size;
    float* base = malloc(V * sizeof(float));
    float* p0 = malloc(V * sizeof(float));
    float* cur = malloc(V * sizeof(float));
    Err err;
    SlimRun r0, rp;
    slim_run_init(&r0, &s->adapter, s->model.cfg.n_layers);
    slim_run_init(&rp, &s->adapter, s->model.cfg.n_layers);
    r0.mask_ratio = 0;
    rp.mask_ratio = p;
    rp.mask_seed = s->run.mask_seed;
    if (slim_run_prepare(&r0, &s->adapter, &err) || slim_run_prepare(&rp, &s->adapter, &err)) fail_msg("%s", err.msg);
    if (session_logits_at(s, pos, NULL, base, &err) || session_logits_at(s, pos, &r0, p0, &err) ||
        session_logits_at(s, pos, &rp, cur, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(sn->cmp_pos, pos);
    assert_float_equal(sn->cmp_p, p, 1e-7);
    // the worker runs the prefix and the position as two calls: last-bit differences only
    assert_float_equal(sn->kl_p0, kl_logits(p0, cur, V), 1e-4);
    assert_float_equal(sn->kl_base, kl_logits(base, cur, V), 1e-4);
    int ids[TRACE_TOPK];
    float probs[TRACE_TOPK];
    top_k_probs(cur, V, TRACE_TOPK, ids, probs);
    for (int k = 0; k < TRACE_TOPK; k++) {
        assert_int_equal(sn->cmp_id[CMP_CUR][k], ids[k]);
        assert_float_equal(sn->cmp_prob[CMP_CUR][k], probs[k], 1e-5);
    }
    top_k_probs(base, V, TRACE_TOPK, ids, probs);
    assert_int_equal(sn->cmp_id[CMP_BASE][0], ids[0]);
    // the on-demand lens at pos equals a lens-recording forward over the whole prefix
    int L = s->model.cfg.n_layers;
    for (int on = 0; on < 2; on++) {
        Trace tr;
        RunState rs;
        trace_init(&tr, L, s->trace.n_experts, s->trace.n_id, pos + 1);
        tr.want_lens = 1;
        if (runstate_init(&rs, &s->model, &s->adapter, 64, 64, &err)) fail_msg("%s", err.msg);
        if (forward(&s->model, on ? &s->adapter : NULL, on ? &rp : NULL, &rs, s->tokens, pos + 1, 0, cur, 0, &tr, &err))
            fail_msg("%s", err.msg);
        const int* id = on ? sn->lens_on_id : sn->lens_off_id;
        const float* pr = on ? sn->lens_on_p : sn->lens_off_p;
        for (int l = 0; l < L; l++) {
            assert_int_equal(id[l], tr.lens_id[(size_t)pos * L + l]);
            assert_float_equal(pr[l], tr.lens_p[(size_t)pos * L + l], 1e-5);
        }
        runstate_free(&rs);
        trace_free(&tr);
    }
    slim_run_free(&r0);
    slim_run_free(&rp);
    free(base);
    free(p0);
    free(cur);
}

static void test_worker_p_change_and_cursor(void** st) {
    Fixture f;
    fixture_open(&f, 10);
    Tui* t = tui_new(&f.s, 1, 40, 120);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    const Snapshot* sn = worker_lock(t->w);
    assert_int_equal(sn->n, 10);
    assert_int_equal(sn->cmp_valid, 1);
    assert_int_equal(sn->sweep_n, 10);  // the background sweep finished
    assert_float_equal(sn->sweep_kl[0], 0, 0);
    assert_float_equal(sn->sweep_agree[0], 1, 0);
    worker_unlock(t->w);
    // worker idle: the test thread may use the session
    expect_comparison(&f.s, sn, 9, 0.0f);
    // ] twice: p = 0.1; the comparison and the context are recomputed at the new p
    screen_set_focus(&t->scr, V_MASKING);
    tui_key(t, ']');
    tui_key(t, ']');
    assert_float_equal(t->ui.p, 0.1f, 1e-7);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_float_equal(f.s.run.mask_ratio, 0.1f, 1e-7);
    expect_comparison(&f.s, sn, 9, 0.1f);
    assert_true(sn->kl_p0 > 0);
    // the panel shows it
    tui_render(t);
    int col, row = canvas_find(&t->cv, "Masking  p 0.10", 0, &col);
    assert_true(row >= 0);
    char kl[64];
    snprintf(kl, sizeof kl, "KL(p=0‖p) %.4f", sn->kl_p0);
    assert_true(canvas_find(&t->cv, kl, 0, NULL) >= 0);
    // the trace of the context was recomputed at p = 0.1: same as a fresh forward with a trace
    Trace tr;
    Err err;
    trace_init(&tr, f.s.trace.n_layers, f.s.trace.n_experts, f.s.trace.n_id, 10);
    float* lg = malloc(f.s.model.cfg.vocab_size * sizeof(float));
    RunState rs;
    if (runstate_init(&rs, &f.s.model, &f.s.adapter, 64, 64, &err)) fail_msg("%s", err.msg);
    if (forward(&f.s.model, &f.s.adapter, &f.s.run, &rs, f.s.tokens, 10, 0, lg, 0, &tr, &err)) fail_msg("%s", err.msg);
    size_t nw = (size_t)10 * tr.n_layers * tr.n_experts;
    assert_close_f(f.s.trace.w, tr.w, nw, 0, "session trace w at p = 0.1");
    assert_close_f(sn->tr.w, f.s.trace.w, nw, 0, "snapshot vs session trace w");
    assert_close_f(sn->tr.w, tr.w, nw, 0, "snapshot trace w at p = 0.1");
    assert_close_f(sn->tr.pi, tr.pi, nw, 0, "snapshot trace pi at p = 0.1");
    runstate_free(&rs);
    free(lg);
    trace_free(&tr);
    // Left: the masking panel describes position 8 after the worker recomputed it
    tui_key(t, KEY_CODE_LEFT);
    assert_int_equal(t->ui.sel, 8);
    worker_select(t->w, t->ui.sel);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    expect_comparison(&f.s, sn, 8, 0.1f);
    // :mode off: every block's identity share is 1
    tui_submit_line(t, ":mode off");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    for (int i = 0; i < 10 * sn->n_layers; i++) assert_float_equal(sn->tr.id_share[i], 1.0, 0);
    tui_render(t);
    assert_true(canvas_find(&t->cv, "id-share 100%", 0, NULL) >= 0);
    // a bad command is a message, not a crash; p outside [0, 1) is refused
    tui_submit_line(t, ":p 1.5");
    assert_non_null(strstr(t->ui.msg, "[0, 1)"));
    assert_float_equal(t->ui.p, 0.1f, 1e-7);
    tui_free(t);
    fixture_close(&f);
}

static void test_worker_reset_save_regen(void** st) {
    Fixture f;
    fixture_open(&f, 6);
    Tui* t = tui_new(&f.s, 1, 30, 100);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    // :save writes the settings line, then one line per position and block; nothing was generated
    // yet: the sampler is the one the next prompt would use, and every position is a prompt one
    char path[128];
    snprintf(path, sizeof path, "%s/trace.jsonl", f.dir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, ":save %s", path);
    t->ui.temp = 0.5f;
    t->ui.n_new = 7;
    tui_submit_line(t, cmd);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    char out[1024];
    snprintf(cmd, sizeof cmd, "wc -l < %s", path);
    test_run(cmd, out, sizeof out);
    assert_int_equal(atoi(out), 1 + 6 * 3);
    snprintf(cmd, sizeof cmd, "grep -c '\"source\":\"prompt\"' %s", path);
    test_run(cmd, out, sizeof out);
    assert_int_equal(atoi(out), 6 * 3);
    char want[512];
    snprintf(want, sizeof want,
             "{\"settings\":{\"slimscope\":\"%s\",\"command\":\"tui\",\"model\":\"%s\",\"adapter\":\"%s\",\"adapter_type\":\"slim\","
             "\"mask_ratio\":0,\"mask_seed\":%llu,\"mask_refresh\":\"%s\",\"adapter_mode\":\"slim\",\"force\":[],\"adapter_layers\":null,"
             "\"temp\":0.5,\"top_p\":1,\"seed\":0,\"n\":7,\"ctx\":64,\"weights\":\"native\",\"device\":\"%s\",\"positions\":6}}",
             SLIMSCOPE_VERSION, f.st.model_dir, f.st.adapter_dir, (unsigned long long)f.s.run.mask_seed,
             mask_refresh_name(f.s.run.mask_refresh), f.s.rs.be ? f.s.rs.be->name : "cpu");
    snprintf(cmd, sizeof cmd, "head -1 %s", path);
    test_run(cmd, out, sizeof out);
    char* nl = strchr(out, '\n');
    if (nl) *nl = 0;
    assert_string_equal(out, want);
    t->ui.temp = 0;
    // g: p = 0 continuation vs one at p = 0.5, both greedy: the first difference is recorded
    t->ui.n_new = 8;
    tui_submit_line(t, ":p 0.5");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    tui_key(t, 'g');
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    const Snapshot* sn = worker_lock(t->w);
    worker_unlock(t->w);
    assert_int_equal(sn->regen_state, 2);
    assert_int_equal(sn->regen_start, 6);
    assert_int_equal(sn->n, 14);
    // greedy p = 0 continuation by hand, from the session's own functions
    Err err;
    SlimRun r0;
    if (session_run_copy(&f.s, &r0, &f.s.run, 0.0f, &err)) fail_msg("%s", err.msg);
    Sampler sm;
    sampler_init(&sm, f.s.model.cfg.vocab_size, 0, 1, 0);
    int p0[8];
    int n0 = session_continue_aux(&f.s, &r0, 6, 8, &sm, -1, p0, &err);
    assert_int_equal(n0, 8);
    int div = -1;
    for (int i = 0; i < 8 && div < 0; i++)
        if (f.s.tokens[6 + i] != p0[i]) div = i;
    assert_int_equal(sn->regen_div, div);
    for (int i = 0; i < 8; i++) assert_int_equal(sn->regen_p0[i], p0[i]);
    sampler_free(&sm);
    slim_run_free(&r0);
    // :reset empties the context
    tui_submit_line(t, ":reset");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(sn->n, 0);
    assert_int_equal(f.s.n_tokens, 0);
    // a prompt starts a new sequence; a leading '+' or :append on continues the context
    t->ui.n_new = 0;
    tui_submit_line(t, "3,4,5");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    tui_submit_line(t, "7,8");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(f.s.n_tokens, 2);
    assert_int_equal(f.s.tokens[0], 7);
    assert_int_equal(f.s.tokens[1], 8);
    tui_submit_line(t, "+9");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(f.s.n_tokens, 3);
    assert_int_equal(f.s.tokens[2], 9);
    tui_submit_line(t, ":append on");
    assert_int_equal(t->ui.append, 1);
    tui_submit_line(t, "10,11");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(f.s.n_tokens, 5);
    assert_int_equal(f.s.tokens[4], 11);
    assert_int_equal(sn->n, 5);
    tui_submit_line(t, ":append off");
    tui_submit_line(t, "12");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(f.s.n_tokens, 1);
    assert_int_equal(f.s.tokens[0], 12);
    tui_free(t);
    fixture_close(&f);
}

// A prompt longer than 4096 bytes is read whole (60 ids, each padded to 100 bytes: the old job
// buffer held 40 of them); one with more tokens than the context is refused with its size and the
// context stays as it was; a generation that fills the context stops there and says so.
static void test_worker_long_prompt(void** st) {
    Fixture f;
    fixture_open(&f, 0);
    Tui* t = tui_new(&f.s, 1, 30, 100);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    t->ui.n_new = 0;
    size_t cap = 60 * 100 + 1, len = 0;
    char* line = malloc(cap);
    for (int i = 0; i < 60; i++) len += snprintf(line + len, cap - len, "%-99d,", (i * 11 + 5) % 40);
    assert_int_equal(len, 6000);
    tui_submit_line(t, line);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(f.s.n_tokens, 60);
    for (int i = 0; i < 60; i++) assert_int_equal(f.s.tokens[i], (i * 11 + 5) % 40);
    // 65 ids > the 64 positions of the fixture's context
    len = 0;
    for (int i = 0; i < 65; i++) len += snprintf(line + len, cap - len, "%d,", i % 40);
    tui_submit_line(t, line);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    const Snapshot* sn = worker_lock(t->w);
    char msg[sizeof sn->msg];
    snprintf(msg, sizeof msg, "%s", sn->msg);
    int is_error = sn->msg_error, n = sn->n;
    worker_unlock(t->w);
    assert_string_equal(msg, "prompt is 65 tokens; the context holds 64 (--ctx)");
    assert_int_equal(is_error, 1);
    assert_int_equal(f.s.n_tokens, 60);
    assert_int_equal(n, 60);
    assert_int_equal(f.s.tokens[59], (59 * 11 + 5) % 40);
    // 10 more tokens asked for after 60 + 1 of 64 positions: generation stops when the context is
    // full (every generated token is fed: 3 of them) and says so
    t->ui.n_new = 10;
    tui_submit_line(t, "+1");
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    assert_int_equal(f.s.n_tokens, 64);
    sn = worker_lock(t->w);
    snprintf(msg, sizeof msg, "%s", sn->msg);
    worker_unlock(t->w);
    assert_string_equal(msg, "stopped at the context limit of 64 positions: :reset clears it");
    for (int i = 61; i < 64; i++) assert_int_equal(f.s.generated[i], 1);
    assert_int_equal(f.s.generated[60], 0);
    // :n past the context is accepted with a note; :save - is refused (standard output is the screen)
    tui_submit_line(t, ":n 100");
    assert_int_equal(t->ui.n_new, 100);
    assert_string_equal(t->ui.msg, "100 tokens per prompt; generation stops at the context's 64 positions");
    tui_submit_line(t, ":save -");
    assert_int_equal(t->ui.msg_error, 1);
    assert_non_null(strstr(t->ui.msg, ":save needs a file name"));
    free(line);
    tui_free(t);
    fixture_close(&f);
}

// Runs one line as Enter would, waits for the worker, and says whether the generated text is stale
// (why: what it was sampled under).
static int stale_after(Tui* t, const char* line, char* why) {
    tui_submit_line(t, line);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    const Snapshot* sn = worker_lock(t->w);
    int stale = snapshot_gen_stale(sn, t->ui.p, t->ui.mode, t->ui.mask_seed, why, 256);
    worker_unlock(t->w);
    return stale;
}

// After a change of the run the generated text is stale (the panels are recomputed, the text is
// not); Enter on an empty line regenerates it at the new p, as `g` does.
static void test_worker_stale_text_and_enter(void** st) {
    Fixture f;
    fixture_open(&f, 0);
    Tui* t = tui_new(&f.s, 1, 30, 100);
    assert_int_equal(worker_wait_idle(t->w, 60), 0);
    t->ui.n_new = 4;
    char why[256];
    assert_int_equal(stale_after(t, "3,4,5", why), 0);  // no tokenizer.json: token ids
    const Snapshot* sn = worker_lock(t->w);
    worker_unlock(t->w);
    assert_int_equal(sn->gen_start, 3);
    assert_int_equal(sn->n, 7);
    assert_int_equal(stale_after(t, "", why), 0);  // fresh: an empty line does nothing
    assert_int_equal(sn->regen_state, 0);
    assert_int_equal(stale_after(t, ":p 0.5", why), 1);
    assert_string_equal(why, "p 0.00");
    assert_int_equal(stale_after(t, ":force 1 i0", why), 1);
    assert_int_equal(f.s.run.force[1], 0);
    assert_string_equal(why, "p 0.00, forced: none");
    // Enter on the empty line: regenerated at p 0.5 with block 1 forced, fresh again
    assert_int_equal(stale_after(t, "", why), 0);
    assert_string_equal(why, "p 0.50");
    assert_int_equal(sn->regen_state, 2);
    assert_int_equal(sn->n, 7);
    // the new continuation is the greedy one at p 0.5, continued by hand in the auxiliary cache
    Err err;
    SlimRun r;
    if (session_run_copy(&f.s, &r, &f.s.run, 0.5f, &err)) fail_msg("%s", err.msg);
    Sampler sm;
    sampler_init(&sm, f.s.model.cfg.vocab_size, 0, 1, 0);
    int want[4];
    assert_int_equal(session_continue_aux(&f.s, &r, 3, 4, &sm, -1, want, &err), 4);
    for (int i = 0; i < 4; i++) assert_int_equal(f.s.tokens[3 + i], want[i]);
    sampler_free(&sm);
    slim_run_free(&r);
    // a mode that differs, then the same mode again: stale, then fresh
    assert_int_equal(stale_after(t, ":mode lora-only", why), 1);
    assert_string_equal(why, "p 0.50, mode slim");
    assert_int_equal(stale_after(t, ":mode slim", why), 0);
    tui_free(t);
    fixture_close(&f);
}

static void test_bench_p_change(void** st) {
    Fixture f;
    fixture_open(&f, 12);
    double ms = tui_bench_p_change_ms(&f.s, 5);
    assert_true(ms > 0 && ms < 5000);
    assert_float_equal(f.s.run.mask_ratio, 0.0f, 0);  // p restored afterwards
    fixture_close(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_p_change_and_cursor),
        cmocka_unit_test(test_worker_reset_save_regen),
        cmocka_unit_test(test_worker_long_prompt),
        cmocka_unit_test(test_worker_stale_text_and_enter),
        cmocka_unit_test(test_bench_p_change),
    };
    return cmocka_run_group_tests_name("worker", tests, NULL, NULL);
}

// worker.c: the engine thread (see worker.h): its queue, the jobs and the publishing of results.
// Every model computation of the TUI happens on this thread, through the session's functions; what
// it computes while idle (comparison, sweep) is in worker_background.c.
#include "worker_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

// ---------------------------------------------------------------------------------------------
// publishing

void worker_wake(Worker* w) {
    if (w->wake_fd >= 0) {
        char b = 1;
        if (write(w->wake_fd, &b, 1) < 0) {}
    }
    pthread_mutex_lock(&w->mu);
    pthread_cond_broadcast(&w->idle_cv);
    pthread_mutex_unlock(&w->mu);
}

static const char* base_name(const char* path, char* buf, size_t n) {
    snprintf(buf, n, "%s", path);
    size_t k = strlen(buf);
    while (k > 1 && buf[k - 1] == '/') buf[--k] = 0;
    const char* slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}

// The yield of each block (the Distance panel's crossing points): gamma, and the calibration's
// offset and span; after snapshot_shape, which resets them to the paper's form.
static void snap_set_yield(Snapshot* p, const Session* s) {
    int slim = s->has_adapter && s->adapter.type == ADAPTER_SLIM;
    p->yield_scale = s->has_adapter ? s->adapter.yield_scale : 0;
    for (int l = 0; slim && l < p->n_layers && l < s->adapter.n_layers; l++) {
        YieldMap y = slim_yield_map(&s->adapter, l);
        p->yield_offset[l] = y.offset;
        p->yield_span[l] = y.span;
    }
}

// Settings and identity of what is loaded (caller holds snap_mu).
void worker_fill_settings(Worker* w) {
    Session* s = w->s;
    Snapshot* p = &w->snap;
    char buf[4096];
    snprintf(p->model_name, sizeof p->model_name, "%s", base_name(s->model.dir, buf, sizeof buf));
    p->has_adapter = s->has_adapter;
    p->is_slim = s->has_adapter && s->adapter.type == ADAPTER_SLIM;
    if (s->has_adapter) {
        const Adapter* a = &s->adapter;
        snprintf(p->adapter_name, sizeof p->adapter_name, "%s", base_name(a->dir, buf, sizeof buf));
        if (p->is_slim) snprintf(p->adapter_kind, sizeof p->adapter_kind, "SLIM %d id + %d LoRA, top-%d, r %d", a->n_id, a->n_lora, a->top_k, a->r);
        else snprintf(p->adapter_kind, sizeof p->adapter_kind, "LoRA r %d", a->r);
        p->n_clusters = a->n_clusters;
        p->lora_scale = a->r > 0 ? a->lora_alpha / (a->use_rslora ? sqrtf((float)a->r) : (float)a->r) : 0;
    } else {
        snprintf(p->adapter_name, sizeof p->adapter_name, "none");
        snprintf(p->adapter_kind, sizeof p->adapter_kind, "none");
        p->n_clusters = 0;
    }
    p->vocab = s->model.cfg.vocab_size;
    p->vocab_text = (const char* const*)w->vocab_text;
    p->threads = s->threads;
    snprintf(p->device, sizeof p->device, "%s", s->rs.be ? s->rs.be->name : "cpu");  // --device, as opened
    p->max_seq = s->rs.max_seq;
    p->mode = s->run.mode;
    p->p = s->run.mask_ratio;
    p->mask_seed = s->run.mask_seed;
    for (int l = 0; l < p->n_layers && l < s->model.cfg.n_layers; l++) p->force[l] = s->run.force ? s->run.force[l] : -1;
    p->gen_start = w->gen_start < s->n_tokens ? w->gen_start : s->n_tokens;
    p->tok_per_s = w->tok_per_s;
}

// The token on its own, for titles and tables: its decoded text, or when that is not whole
// characters (U+FFFD), its piece (SentencePiece "<0xE6>") or its bytes ("\xE6", byte-level).
static char* token_label(Session* s, int id, char* out, size_t n) {
    char buf[256], bytes[64];
    session_token_text(s, id, buf, sizeof buf);
    const char* piece = s->has_tok ? tokenizer_piece(&s->tok, id) : NULL;
    int partial = piece && strstr(buf, "\xEF\xBF\xBD");
    int nb = partial ? tokenizer_piece_bytes(&s->tok, id, bytes, sizeof bytes) : -1;
    if (!partial || nb < 0) {
        snprintf(out, n, "%s", partial ? piece : buf);
        return out;
    }
    size_t o = 0;
    for (int i = 0; i < nb && o + 5 < n; i++) {
        unsigned char b = (unsigned char)bytes[i];
        if (b >= 0x20 && b < 0x7f) out[o++] = (char)b;
        else o += snprintf(out + o, n - o, "\\x%02X", b);
    }
    out[o] = 0;
    return out;
}

// Text each context token in [from, n) adds to the output, from the streaming decoder kept in
// step with the context (re-run from the start when the context changed below `from`).
static char** stream_texts(Worker* w, int from, int n) {
    Session* s = w->s;
    char** texts = xmalloc((n - from) * sizeof(char*));
    if (!s->has_tok) {
        for (int i = from; i < n; i++) {
            char buf[64];
            snprintf(buf, sizeof buf, "%s ", session_token_text(s, s->tokens[i], buf + 32, 32));
            texts[i - from] = xstrdup(buf);
        }
        return texts;
    }
    size_t len;
    if (w->ts_n != from) {
        token_stream_flush(&w->ts, &len);
        w->ts_n = 0;
        for (int i = 0; i < from; i++) token_stream_push(&w->ts, s->tokens[i], &len);
        w->ts_n = from;
    }
    for (int i = from; i < n; i++) texts[i - from] = xstrdup(token_stream_push(&w->ts, s->tokens[i], &len));
    w->ts_n = n;
    return texts;
}

// Publishes the settings and trace rows [from, n) (from < 0: none), with token texts when asked.
static void publish(Worker* w, int from, int with_text) {
    Session* s = w->s;
    int n = s->n_tokens;
    char **texts = NULL, **labels = NULL;
    if (with_text && from >= 0 && from < n) {
        texts = stream_texts(w, from, n);
        labels = xmalloc((n - from) * sizeof(char*));
        for (int i = from; i < n; i++) {
            char buf[256];
            labels[i - from] = xstrdup(token_label(s, s->tokens[i], buf, sizeof buf));
        }
    }
    if (from >= 0 && from > n) w->ts_n = -1;  // the context shrank: re-run the stream next time
    pthread_mutex_lock(&w->snap_mu);
    if (from >= 0) snapshot_set_trace(&w->snap, &s->trace, from, (const char* const*)texts, (const char* const*)labels);
    worker_fill_settings(w);
    w->snap.version++;
    pthread_mutex_unlock(&w->snap_mu);
    if (texts)
        for (int i = from; i < n; i++) {
            free(texts[i - from]);
            free(labels[i - from]);
        }
    free(texts);
    free(labels);
    worker_wake(w);
}

void worker_message(Worker* w, int error, const char* text) {
    pthread_mutex_lock(&w->snap_mu);
    snapshot_message(&w->snap, error, "%s", text);
    w->snap.version++;
    pthread_mutex_unlock(&w->snap_mu);
    worker_wake(w);
}

static void set_busy(Worker* w, const char* what) {
    pthread_mutex_lock(&w->snap_mu);
    w->snap.busy = what != NULL;
    snprintf(w->snap.busy_what, sizeof w->snap.busy_what, "%s", what ? what : "");
    w->snap.version++;
    pthread_mutex_unlock(&w->snap_mu);
    worker_wake(w);
}

// ---------------------------------------------------------------------------------------------
// jobs

typedef struct {
    Worker* w;
    const int* p0;  // the p = 0 continuation, or NULL
    int p0_len;
    double t0;
} GenerateCtx;

// After each token: its rate, where it first leaves the p = 0 continuation, and the snapshot.
static int on_generated(void* ctx, int k, int id) {
    GenerateCtx* c = ctx;
    Worker* w = c->w;
    w->tok_ver++;
    double dt = now_seconds() - c->t0;
    w->tok_per_s = dt > 0 ? (k + 1) / dt : 0;
    if (c->p0) {
        pthread_mutex_lock(&w->snap_mu);
        if (w->snap.regen_div < 0 && (k >= c->p0_len || c->p0[k] != id)) w->snap.regen_div = k;
        pthread_mutex_unlock(&w->snap_mu);
    }
    publish(w, w->s->n_tokens - 1, 1);
    return 0;
}

// The run the next generated tokens are sampled under, for the views' stale check.
static void record_generation_run(Worker* w) {
    const SlimRun* r = &w->s->run;
    Snapshot* p = &w->snap;
    pthread_mutex_lock(&w->snap_mu);
    p->gen_p = r->mask_ratio;
    p->gen_mode = r->mode;
    p->gen_mask_seed = r->mask_seed;
    for (int l = 0; l < p->n_layers; l++) p->gen_force[l] = r->force ? r->force[l] : -1;
    p->gen_adapter_ver = p->adapter_ver;
    snprintf(p->gen_adapter, sizeof p->gen_adapter, "%s", p->adapter_name);
    pthread_mutex_unlock(&w->snap_mu);
}

// Samples up to n_new tokens after the context, feeding each one (so it has a trace row) and
// publishing it. With p0 (the p = 0 continuation), records where the new one first leaves it.
static void generate(Worker* w, const Job* j, const int* p0, int p0_len) {
    Session* s = w->s;
    Err err;
    w->gen_start = s->n_tokens;
    record_generation_run(w);
    publish(w, -1, 0);
    Sampler sm;
    sampler_init(&sm, s->model.cfg.vocab_size, j->temp, j->top_p, j->seed);
    w->sampling = (SamplingSettings){j->temp, j->top_p, j->seed, j->n_new};
    w->sampled = 1;
    set_busy(w, p0 ? "regenerating" : "generating");
    GenerateCtx c = {w, p0, p0_len, now_seconds()};
    Generation g;
    session_generation(s, &g, &sm, j->n_new, GEN_FEED_ALL);
    g.on_token = on_generated, g.ctx = &c, g.cancel = &w->cancel;
    int produced;
    switch (generation_run(&g, &produced, &err)) {
    case GEN_STOPPED: worker_message(w, 0, "stopped"); break;
    case GEN_EOS: worker_message(w, 0, "end of sequence"); break;
    case GEN_FULL: {
        char m[128];
        snprintf(m, sizeof m, "stopped at the context limit of %d positions: :reset clears it", s->rs.max_seq);
        worker_message(w, 1, m);
        break;
    }
    case GEN_ERROR: worker_message(w, 1, err.msg); break;
    case GEN_DONE: break;
    }
    sampler_free(&sm);
}

// Empties the context (`:reset`, and a prompt that starts a new sequence).
static void clear_context(Worker* w) {
    session_reset(w->s);
    w->gen_start = 0;
    w->tok_ver++;
    pthread_mutex_lock(&w->snap_mu);
    w->snap.regen_state = 0;
    w->snap.cmp_valid = w->snap.cmpb_valid = 0;
    w->snap.sweep_n = w->snap.sweep_total = 0;
    pthread_mutex_unlock(&w->snap_mu);
    publish(w, 0, 0);
}

static void job_submit(Worker* w, const Job* j) {
    Session* s = w->s;
    Err err;
    int *ids = NULL, n = 0;
    int fresh = !j->append || s->n_tokens == 0;  // the prompt starts a new sequence
    const char* text = j->text ? j->text : "";
    set_busy(w, "reading the prompt");
    if (!s->has_tok) {  // no tokenizer.json: the line is token ids, "1,2,3" or "1 2 3"
        ids = xmalloc((strlen(text) / 2 + 1) * sizeof(int));
        const char* p = text;
        char* end;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            if (!*p) break;
            long v = strtol(p, &end, 10);
            if (end == p || v < 0 || v >= s->model.cfg.vocab_size) {
                free(ids);
                char m[256];
                snprintf(m, sizeof m, "no tokenizer.json next to the model: type token ids in 0..%d, e.g. 1,2,3", s->model.cfg.vocab_size - 1);
                worker_message(w, 1, m);
                return;
            }
            ids[n++] = (int)v;
            p = end;
        }
    } else if (session_encode(s, text, fresh, &ids, &n, &err)) {
        worker_message(w, 1, err.msg);
        return;
    }
    char m[256];
    if (n == 0) {
        worker_message(w, 1, "the prompt encodes to no tokens");
    } else if (n > s->rs.max_seq) {  // refused before anything is cleared: the old context stays
        snprintf(m, sizeof m, "prompt is %d tokens; the context holds %d (--ctx)", n, s->rs.max_seq);
        worker_message(w, 1, m);
    } else if (!fresh && s->n_tokens + n > s->rs.max_seq) {
        snprintf(m, sizeof m, "context full: %d + %d tokens exceed %d (:reset clears it)", s->n_tokens, n, s->rs.max_seq);
        worker_message(w, 1, m);
    } else {
        if (!j->append && s->n_tokens > 0) clear_context(w);
        int from = s->n_tokens;
        if (session_feed(s, ids, n, &err)) {
            worker_message(w, 1, err.msg);
        } else {
            w->tok_ver++;
            pthread_mutex_lock(&w->snap_mu);
            w->snap.regen_state = 0;
            pthread_mutex_unlock(&w->snap_mu);
            publish(w, from, 1);
            generate(w, j, NULL, 0);
        }
    }
    free(ids);
}

// `g`: continue the last prompt at p = 0 in the auxiliary cache, then regenerate the context's
// continuation at the current p, marking the first token where the two differ.
static void job_regen(Worker* w, const Job* j) {
    Session* s = w->s;
    Err err;
    if (s->n_tokens == 0) {
        worker_message(w, 1, "nothing to regenerate: type a prompt first");
        return;
    }
    int start = w->gen_start > 0 && w->gen_start < s->n_tokens ? w->gen_start : s->n_tokens;
    int count = j->n_new;
    if (start + count > s->rs.max_seq) count = s->rs.max_seq - start;
    if (count <= 0) {
        worker_message(w, 1, "context full: :reset clears it");
        return;
    }
    set_busy(w, "continuing at p = 0");
    int* p0 = xmalloc(count * sizeof(int));
    SlimRun r0;
    Sampler sm;
    sampler_init(&sm, s->model.cfg.vocab_size, j->temp, j->top_p, j->seed);
    int n0 = session_run_copy(s, &r0, &s->run, 0.0f, &err);
    if (!n0) n0 = session_continue_aux(s, &r0, start, count, &sm, session_eos(s), p0, &err);
    slim_run_free(&r0);
    sampler_free(&sm);
    if (n0 < 0 || session_truncate(s, start, &err)) {
        worker_message(w, 1, err.msg);
        free(p0);
        return;
    }
    w->tok_ver++;
    pthread_mutex_lock(&w->snap_mu);
    Snapshot* p = &w->snap;
    if (p->regen_cap < count) {
        p->regen_p0 = xrealloc(p->regen_p0, count * sizeof(int));
        p->regen_cap = count;
    }
    memcpy(p->regen_p0, p0, n0 * sizeof(int));
    p->regen_len = n0;
    p->regen_start = start;
    p->regen_div = -1;
    p->regen_p = s->run.mask_ratio;
    p->regen_state = 1;
    pthread_mutex_unlock(&w->snap_mu);
    publish(w, start, 1);
    generate(w, j, p0, n0);
    pthread_mutex_lock(&w->snap_mu);
    p->regen_state = 2;
    if (p->regen_div < 0 && s->n_tokens - start < n0) p->regen_div = s->n_tokens - start;  // stopped earlier than p = 0
    pthread_mutex_unlock(&w->snap_mu);
    free(p0);
}

// After a change of the run: the masking panel first (one forward pass), then the context.
static void rerun(Worker* w, int p_only) {
    Session* s = w->s;
    Err err;
    w->run_ver++;
    if (!p_only) w->runx_ver++;
    publish(w, -1, 0);
    int pos = worker_selected_pos(w);
    if (pos >= 0) worker_compare(w, pos);
    set_busy(w, "recomputing");
    if (session_recompute(s, &err)) worker_message(w, 1, err.msg);
    publish(w, 0, 0);
}

static void job_run_change(Worker* w, const Job* j) {
    Session* s = w->s;
    Err err;
    SlimRun* r = &s->run;
    int L = s->model.cfg.n_layers;
    switch (j->kind) {
    case JOB_SET_P: r->mask_ratio = j->f; break;
    case JOB_SET_MASK_SEED: r->mask_seed = (uint64_t)j->a; break;
    case JOB_SET_MODE: r->mode = (AdapterMode)j->a; break;
    case JOB_FORCE: r->force[j->a] = (int)j->b; break;
    case JOB_UNFORCE:
        for (int l = 0; l < L; l++)
            if (j->a < 0 || l == j->a) r->force[l] = -1;
        break;
    default: return;
    }
    if (session_apply_run(s, &err)) {
        worker_message(w, 1, err.msg);
        return;
    }
    rerun(w, j->kind == JOB_SET_P);
}

static void job_load(Worker* w, const Job* j) {
    Session* s = w->s;
    Err err;
    set_busy(w, "loading the adapter");
    if (session_load_adapter(s, j->text, &err)) {
        worker_message(w, 1, err.msg);
        if (s->rs.kv.k) return;  // the old adapter is still in place
    }
    w->tok_ver++;
    w->run_ver++;
    w->runx_ver++;
    pthread_mutex_lock(&w->snap_mu);
    w->snap.adapter_ver++;
    snapshot_shape(&w->snap, s->trace.n_layers, s->trace.n_experts, s->trace.n_id);
    snap_set_yield(&w->snap, s);
    pthread_mutex_unlock(&w->snap_mu);
    publish(w, 0, 1);
    char m[4200];
    snprintf(m, sizeof m, "loaded %.4000s", j->text ? j->text : "no adapter");
    worker_message(w, 0, m);
}

// `:compare DIR` loads B beside the adapter (the background computes the comparison); `:compare
// off` (NULL) ends it.
static void job_compare(Worker* w, const Job* j) {
    Session* s = w->s;
    Err err;
    char m[4300];
    if (j->text) {
        set_busy(w, "loading the adapter to compare");
        if (session_compare_open(s, j->text, &err)) {
            worker_message(w, 1, err.msg);
            return;
        }
        snprintf(m, sizeof m, "comparing with %.4000s (the Compare panel replaces the Lens; :compare off ends it)", j->text);
    } else {
        if (session_compare_close(s, &err)) worker_message(w, 1, err.msg);
        snprintf(m, sizeof m, "compare off");
    }
    w->b_ver++;
    char buf[4096];
    pthread_mutex_lock(&w->snap_mu);
    Snapshot* p = &w->snap;
    p->cmpb_on = s->has_cmp;
    p->cmpb_valid = 0;
    snprintf(p->cmpb_name, sizeof p->cmpb_name, "%s", s->has_cmp ? base_name(s->cmp.dir, buf, sizeof buf) : "");
    if (s->has_cmp && s->cmp.type == ADAPTER_SLIM)
        snprintf(p->cmpb_kind, sizeof p->cmpb_kind, "SLIM %d id + %d LoRA, top-%d", s->cmp.n_id, s->cmp.n_lora, s->cmp.top_k);
    else snprintf(p->cmpb_kind, sizeof p->cmpb_kind, "%s", s->has_cmp ? "plain LoRA" : "");
    p->version++;
    pthread_mutex_unlock(&w->snap_mu);
    worker_message(w, 0, m);
}

static void run_job(Worker* w, const Job* j) {
    Session* s = w->s;
    Err err;
    char m[4300];
    switch (j->kind) {
    case JOB_SUBMIT: job_submit(w, j); break;
    case JOB_REGEN: job_regen(w, j); break;
    case JOB_SET_P:
    case JOB_SET_MASK_SEED:
    case JOB_SET_MODE:
    case JOB_FORCE:
    case JOB_UNFORCE: job_run_change(w, j); break;
    case JOB_LOAD: job_load(w, j); break;
    case JOB_SAVE:
        // the sampler of the last generation; before any, the one the next would use
        if (!w->sampled) w->sampling = (SamplingSettings){j->temp, j->top_p, j->seed, j->n_new};
        if (session_write_trace(s, j->text, "tui", &w->sampling, &err)) {
            worker_message(w, 1, err.msg);
        } else {
            snprintf(m, sizeof m, "saved the trace of %d positions to %.4000s (the settings on its first line)", s->n_tokens, j->text);
            worker_message(w, 0, m);
        }
        break;
    case JOB_RESET:
        clear_context(w);
        worker_message(w, 0, "context cleared");
        break;
    case JOB_COMPARE: job_compare(w, j); break;
    }
    set_busy(w, NULL);
}

// ---------------------------------------------------------------------------------------------
// thread

static void* worker_main(void* arg) {
    Worker* w = arg;
    // OpenMP's thread count is per thread: without this the worker would run the session's
    // parallel loops with the default count, not the one its RunState scratch was sized for
    ops_set_threads(w->s->threads);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->quit && !w->qn && !worker_derived_pending(w)) {
            w->idle = 1;
            w->cancel = 0;  // an Esc stops the generations queued or running when it came, no later ones
            pthread_cond_broadcast(&w->idle_cv);
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->quit) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        w->idle = 0;
        if (w->qn) {
            Job* j = xmalloc(sizeof *j);
            *j = w->queue[0];
            memmove(w->queue, w->queue + 1, (w->qn - 1) * sizeof(Job));
            w->qn--;
            w->running = 1;
            pthread_mutex_unlock(&w->mu);
            run_job(w, j);
            free((char*)j->text);
            free(j);
            pthread_mutex_lock(&w->mu);
            w->running = 0;
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        int pos = worker_selected_pos(w);
        pthread_mutex_unlock(&w->mu);
        if (worker_compare_pending(w, pos)) worker_compare(w, pos);
        else if (worker_adapters_pending(w, pos)) worker_compare_adapters(w, pos);
        else if (worker_sweep_pending(w)) worker_sweep_step(w);
    }
    return NULL;
}

Worker* worker_new(Session* s, int wake_fd) {
    Worker* w = xcalloc(1, sizeof *w);
    w->s = s;
    w->wake_fd = wake_fd;
    w->want_pos = -1;
    w->cmp_pos = w->ref_pos = -1;
    w->tok_ver = w->run_ver = w->runx_ver = 1;
    w->sweep_next = SWEEP_POINTS;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->snap_mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->idle_cv, NULL);
    int V = s->model.cfg.vocab_size, L = s->model.cfg.n_layers;
    w->vocab_text = xmalloc(V * sizeof(char*));
    for (int i = 0; i < V; i++) {
        char buf[256];
        w->vocab_text[i] = xstrdup(token_label(s, i, buf, sizeof buf));
    }
    if (s->has_tok) token_stream_init(&w->ts, &s->tok, 0);
    w->ts_n = 0;
    w->base_logits = xmalloc(V * sizeof(float));
    w->p0_logits = xmalloc(V * sizeof(float));
    w->cur_logits = xmalloc(V * sizeof(float));
    w->lens_off_id = xcalloc(L, sizeof(int));
    w->lens_off_p = xcalloc(L, sizeof(float));
    w->lens_p0_id = xcalloc(L, sizeof(int));
    w->lens_p0_p = xcalloc(L, sizeof(float));
    w->lens_on_id = xcalloc(L, sizeof(int));
    w->lens_on_p = xcalloc(L, sizeof(float));
    snapshot_init(&w->snap);
    snapshot_shape(&w->snap, s->trace.n_layers, s->trace.n_experts, s->trace.n_id);
    snap_set_yield(&w->snap, s);
    w->gen_start = s->n_tokens;
    publish(w, 0, 1);
    w->started = pthread_create(&w->th, NULL, worker_main, w) == 0;
    if (!w->started) {
        worker_message(w, 1, "cannot start the worker thread");
    }
    return w;
}

void worker_free(Worker* w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->quit = 1;
    w->cancel = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started) pthread_join(w->th, NULL);
    int V = w->s->model.cfg.vocab_size;
    for (int i = 0; i < V; i++) free(w->vocab_text[i]);
    free(w->vocab_text);
    if (w->s->has_tok) token_stream_free(&w->ts);
    for (int i = 0; i < w->qn; i++) free((char*)w->queue[i].text);
    free(w->queue);
    free(w->base_logits);
    free(w->p0_logits);
    free(w->cur_logits);
    free(w->lens_off_id);
    free(w->lens_off_p);
    free(w->lens_p0_id);
    free(w->lens_p0_p);
    free(w->lens_on_id);
    free(w->lens_on_p);
    free(w->sweep_ref);
    free(w->sweep_cur);
    if (w->cmpb_have) comparison_free(&w->cmpb);
    snapshot_free(&w->snap);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->snap_mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->idle_cv);
    free(w);
}

void worker_post(Worker* w, const Job* j) {
    pthread_mutex_lock(&w->mu);
    if (j->kind == JOB_SET_P && w->qn && w->queue[w->qn - 1].kind == JOB_SET_P) {
        w->queue[w->qn - 1].f = j->f;  // coalesce key repeats
    } else {
        if (w->qn == w->qcap) {
            w->qcap = w->qcap ? 2 * w->qcap : 8;
            w->queue = xrealloc(w->queue, w->qcap * sizeof(Job));
        }
        Job* q = &w->queue[w->qn++];
        *q = *j;
        q->text = j->text ? xstrdup(j->text) : NULL;
    }
    w->idle = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int worker_cancel(Worker* w) {
    pthread_mutex_lock(&w->mu);
    int busy = w->running || w->qn;
    if (busy) w->cancel = 1;
    pthread_mutex_unlock(&w->mu);
    return busy;
}

void worker_select(Worker* w, int pos) {
    pthread_mutex_lock(&w->mu);
    if (w->want_pos != pos) {
        w->want_pos = pos;
        w->idle = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

const Snapshot* worker_lock(Worker* w) {
    pthread_mutex_lock(&w->snap_mu);
    return &w->snap;
}

void worker_unlock(Worker* w) { pthread_mutex_unlock(&w->snap_mu); }

int worker_idle(Worker* w) {
    pthread_mutex_lock(&w->mu);
    int idle = w->idle && !w->qn && !w->running;
    pthread_mutex_unlock(&w->mu);
    return idle;
}

static void deadline(struct timespec* ts, double timeout_s) {
    clock_gettime(CLOCK_REALTIME, ts);
    double t = ts->tv_sec + ts->tv_nsec * 1e-9 + timeout_s;
    ts->tv_sec = (time_t)t;
    ts->tv_nsec = (long)((t - (double)ts->tv_sec) * 1e9);
}

int worker_wait_idle(Worker* w, double timeout_s) {
    struct timespec ts;
    deadline(&ts, timeout_s);
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!(w->idle && !w->qn && !w->running))
        if (pthread_cond_timedwait(&w->idle_cv, &w->mu, &ts) == ETIMEDOUT) {
            rc = -1;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int worker_wait_version(Worker* w, unsigned long version, double timeout_s) {
    struct timespec ts;
    deadline(&ts, timeout_s);
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&w->snap_mu);
        unsigned long v = w->snap.version;
        pthread_mutex_unlock(&w->snap_mu);
        if (v > version) break;
        if (pthread_cond_timedwait(&w->idle_cv, &w->mu, &ts) == ETIMEDOUT) {
            rc = -1;
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

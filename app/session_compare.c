// session_compare.c: a second adapter B beside the session's adapter A on the same context (see
// session.h): per position KL(A || B) of the next-token distributions and their top-1 tokens, and
// per block how the two routings differ. `slimscope compare` and the TUI's `:compare` use it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "session.h"

#define COMPARE_CHUNK 256  // positions per forward pass: bounds the two logit buffers (chunk x V)

// B's cache and B; with `device`, the context's caches end first, so the device drops its copies
// of B's tensors (keyed by host address) before B's memory can be reused.
static int release_b(Session* s, int device, Err* err) {
    if (!s->has_cmp) return 0;
    runstate_free(&s->cmp_rs);
    if (device) {
        runstate_free(&s->rs);
        runstate_free(&s->aux);
    }
    slim_run_free(&s->cmp_run);
    adapter_free(&s->cmp);
    s->has_cmp = 0;
    return device ? session_reopen_states(s, err) : 0;
}

int session_compare_close(Session* s, Err* err) { return release_b(s, s->be && !s->be->host_memory, err); }

void session_compare_free(Session* s) { release_b(s, 0, NULL); }

int session_compare_open(Session* s, const char* dir, Err* err) {
    Adapter b;
    if (adapter_load(&b, dir, &s->model, err)) return -1;
    if (session_compare_close(s, err)) {
        adapter_free(&b);
        return -1;
    }
    if (runstate_init_on(&s->cmp_rs, s->be, &s->model, &b, s->max_seq, 0, err)) {
        adapter_free(&b);
        return -1;
    }
    s->cmp = b;
    slim_run_init(&s->cmp_run, &s->cmp, s->model.cfg.n_layers);
    s->has_cmp = 1;
    return 0;
}

// B's run: A's controls now (they change with :p, :mode, ...), no forcing.
static int sync_run(Session* s, Err* err) {
    SlimRun* r = &s->cmp_run;
    const SlimRun* a = &s->run;
    r->mode = a->mode;
    r->mask_ratio = a->mask_ratio;
    r->mask_seed = a->mask_seed;
    r->mask_refresh = a->mask_refresh;
    r->step = a->step;
    int L = s->model.cfg.n_layers;
    if (r->layer_on) {
        if (a->layer_on) memcpy(r->layer_on, a->layer_on, L);
        else memset(r->layer_on, 1, L);
    }
    return slim_run_prepare(r, &s->cmp, err);
}

void compare_rows(const float* la, const float* lb, int n, int V, double* kl, int* top_a, int* top_b) {
    for (int t = 0; t < n; t++) {
        const float *p = la + (size_t)t * V, *q = lb + (size_t)t * V;
        kl[t] = kl_logits(p, q, V);
        top_a[t] = argmax(p, V);
        top_b[t] = argmax(q, V);
    }
}

int session_compare_context(Session* s, Comparison* c, Err* err) {
    memset(c, 0, sizeof *c);
    if (!s->has_cmp) return err_set(err, "compare: no second adapter loaded");
    int n = s->n_tokens, V = s->model.cfg.vocab_size, L = s->model.cfg.n_layers;
    if (n == 0) return err_set(err, "compare: the context is empty");
    if (sync_run(s, err)) return -1;
    c->n = n;
    c->kl = xcalloc(n, sizeof(double));
    c->top_a = xcalloc(n, sizeof(int));
    c->top_b = xcalloc(n, sizeof(int));
    trace_init(&c->tb, L, s->cmp.n_experts, s->cmp.n_id, n);
    int chunk = n < COMPARE_CHUNK ? n : COMPARE_CHUNK;
    float* la = xmalloc((size_t)chunk * V * sizeof(float));
    float* lb = xmalloc((size_t)chunk * V * sizeof(float));
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    int rc = 0;
    for (int from = 0; from < n && !rc; from += chunk) {
        int m = n - from < chunk ? n - from : chunk;
        // each in its own cache, chunk after chunk: the earlier chunks' keys and values are there
        rc = forward(&s->model, a, &s->run, &s->aux, s->tokens + from, m, from, la, 1, NULL, err) ||
             forward(&s->model, &s->cmp, &s->cmp_run, &s->cmp_rs, s->tokens + from, m, from, lb, 1, &c->tb, err);
        if (!rc) compare_rows(la, lb, m, V, c->kl + from, c->top_a + from, c->top_b + from);
    }
    free(la);
    free(lb);
    if (rc) {
        comparison_free(c);
        return -1;
    }
    return 0;
}

void comparison_free(Comparison* c) {
    free(c->kl);
    free(c->top_a);
    free(c->top_b);
    trace_free(&c->tb);
    memset(c, 0, sizeof *c);
}

// The kept experts at row pl, space-separated; "on" for a plain LoRA applied there, "-" where the
// adapter was not applied.
static int kept_names(const Trace* t, size_t pl, char* buf, size_t n) {
    buf[0] = 0;
    if (session_plain_lora_on(t, pl)) {
        snprintf(buf, n, "on");
        return 0;
    }
    if (!t->routed[pl]) {
        snprintf(buf, n, "-");
        return 0;
    }
    size_t o = 0;
    const float* w = t->w + pl * t->n_experts;
    for (int e = 0; e < t->n_experts; e++) {
        if (w[e] <= 0) continue;
        char name[16];
        slim_expert_name(name, sizeof name, t->n_id, e);
        int k = snprintf(buf + o, n - o, "%s%s", o ? " " : "", name);
        if (k < 0 || (size_t)k >= n - o) break;
        o += (size_t)k;
    }
    return 1;
}

void compare_block(const Trace* ta, const Trace* tb, int pos, int l, BlockDiff* d) {
    size_t pa = (size_t)pos * ta->n_layers + l, pb = (size_t)pos * tb->n_layers + l;
    d->share_a = ta->id_share[pa];
    d->share_b = tb->id_share[pb];
    int slim_a = kept_names(ta, pa, d->kept_a, sizeof d->kept_a);
    int slim_b = kept_names(tb, pb, d->kept_b, sizeof d->kept_b);
    d->differs = fabsf(d->share_a - d->share_b) > 0.005f || (slim_a && slim_b && strcmp(d->kept_a, d->kept_b) != 0);
}

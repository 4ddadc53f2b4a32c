// forward.c: prefill and decode of a Llama-family model with a KV cache, SLIM applied in the MLP
// of adapted blocks (and PEFT LoRA on any projection), every routing decision written to a Trace.
// All math goes through the backend seam (backend.h); routing's decision (slim_route_decide: yield,
// softmax, top-k) runs on the host from the few values the backend measures per token and block.
#include "forward.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "ops.h"

static int max_int(int a, int b) { return a > b ? a : b; }

// Makes room for n positions in the KV cache (doubling from 64, up to max_seq), keeping what it
// holds; the RoPE tables (computed on the host, uploaded) grow with it.
static int kv_reserve(Backend* be, KVCache* kv, const float* inv_freq, int n, Err* err) {
    if (n <= kv->cap) return 0;
    const BackendOps* op = be->ops;
    int cap = kv->cap ? kv->cap : 64;
    while (cap < n) cap *= 2;
    if (cap > kv->max_seq) cap = kv->max_seq;
    int D = kv->head_dim, H = kv->n_kv_heads;
    size_t bytes = (size_t)H * cap * D * sizeof(float);
    for (int l = 0; l < kv->n_layers; l++) {
        float** caches[2] = {&kv->k[l], &kv->v[l]};
        for (int i = 0; i < 2; i++) {
            float* grown = op->alloc(be, bytes);
            if (!grown)
                return err_set(err, "cannot allocate a KV cache of %zu MB for %d positions (%s backend)",
                               2 * bytes * kv->n_layers >> 20, cap, be->name);
            for (int h = 0; h < H && kv->cap; h++)  // head h's rows move to their new place
                op->copy(be, grown + (size_t)h * cap * D, *caches[i] + (size_t)h * kv->cap * D, (size_t)kv->cap * D * sizeof(float));
            op->release(be, *caches[i]);
            *caches[i] = grown;
        }
    }
    size_t tb = (size_t)cap * D / 2 * sizeof(float);
    float *cos_t = xmalloc(tb), *sin_t = xmalloc(tb);
    rope_tables(cos_t, sin_t, inv_freq, 0, cap, D);
    float *dc = op->alloc(be, tb), *ds = op->alloc(be, tb);
    if (dc && ds) {
        op->upload(be, dc, cos_t, tb);
        op->upload(be, ds, sin_t, tb);
    }
    free(cos_t), free(sin_t);
    if (!dc || !ds) {
        op->release(be, dc), op->release(be, ds);
        return err_set(err, "cannot allocate RoPE tables for %d positions (%s backend)", cap, be->name);
    }
    op->release(be, kv->rope_cos), op->release(be, kv->rope_sin);
    kv->rope_cos = dc, kv->rope_sin = ds;
    kv->cap = cap;
    return 0;
}

static void kv_free(Backend* be, KVCache* kv) {
    for (int l = 0; l < kv->n_layers && kv->k; l++) {
        be->ops->release(be, kv->k[l]);
        be->ops->release(be, kv->v[l]);
    }
    be->ops->release(be, kv->rope_cos), be->ops->release(be, kv->rope_sin);
    free(kv->k), free(kv->v), free(kv->att);
    memset(kv, 0, sizeof *kv);
}

int runstate_init(RunState* s, const Model* m, const Adapter* a, int max_seq, int max_batch, Err* err) {
    return runstate_init_on(s, backend_cpu(), m, a, max_seq, max_batch, err);
}

int runstate_init_on(RunState* s, Backend* be, const Model* m, const Adapter* a, int max_seq, int max_batch, Err* err) {
    memset(s, 0, sizeof *s);
    ops_apply_threads();
    const ModelConfig* c = &m->cfg;
    if (max_seq <= 0) max_seq = c->max_seq_len;
    if (max_batch <= 0) max_batch = 256;  // prefill chunks: sgemm and the attention products run at speed from here
    s->be = be;
    be->ops->run_begin(be);
    s->max_seq = max_seq;
    s->max_batch = max_batch;
    size_t B = max_batch, C = c->dim, F = c->hidden_dim;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    // Scratch slots for every thread any caller's parallel loops may use: the thread count is a
    // per-thread OpenMP setting, so a forward() from another thread may differ from this one's.
    int nt = max_int(max_int(omp_get_max_threads(), omp_get_num_procs()), ops_get_threads());
    KVCache* kv = &s->kv;
    kv->max_seq = max_seq, kv->n_layers = c->n_layers, kv->n_heads = c->n_heads, kv->n_kv_heads = c->n_kv_heads;
    kv->head_dim = c->head_dim, kv->att_threads = nt;
    kv->k = xcalloc(c->n_layers, sizeof(float*));
    kv->v = xcalloc(c->n_layers, sizeof(float*));
    kv->att = xcalloc((size_t)nt * max_seq, sizeof(float));
    s->rope_inv_freq = xcalloc(c->head_dim / 2, sizeof(float));
    rope_inv_freq(s->rope_inv_freq, c);
    if (kv_reserve(be, kv, s->rope_inv_freq, max_seq < 64 ? max_seq : 64, err)) {
        runstate_free(s);
        return -1;
    }
    // the activations: backend buffers
    struct {
        float** p;
        size_t n;
    } bufs[] = {{&s->x, B * C}, {&s->xb, B * C}, {&s->xb2, B * (C > qd ? C : qd)}, {&s->q, B * qd}, {&s->k, B * kvd},
                {&s->v, B * kvd}, {&s->hb, B * F}, {&s->hb2, B * F}, {&s->hmix, B * F},
                {&s->lens_buf, (size_t)c->vocab_size}};  // one row; grown when a chunk's rows are all needed
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i].p = be->ops->alloc(be, bufs[i].n * sizeof(float)))) {
            err_set(err, "cannot allocate %zu MB of activations (%s backend)", bufs[i].n * sizeof(float) >> 20, be->name);
            runstate_free(s);
            return -1;
        }
    s->lens_rows = 1;
    int E = a ? a->n_experts : 1;
    s->route_buf = xcalloc(B * 4 * E, sizeof(float));
    s->route_z = xcalloc(B * E, sizeof(float));
    s->route_dist = xcalloc(B, sizeof(float));
    s->route_nearest = xcalloc(B, sizeof(int));
    s->rel_buf = xcalloc(2 * B, sizeof(float));
    int max_io = max_int(max_int((int)C, (int)F), max_int((int)qd, (int)kvd));
    int r = a ? a->r : 0;
    if (a)
        for (int l = 0; l < a->n_layers; l++)
            for (int p = 0; p < PROJ_COUNT; p++) r = max_int(r, a->layers[l].proj[p].r);
    s->scratch_stride = slim_scratch_floats(r, max_io);
    s->scratch = xcalloc((size_t)nt * s->scratch_stride, sizeof(float));
    s->iscratch_stride = 2 * (size_t)max_io;
    s->iscratch = xcalloc((size_t)nt * s->iscratch_stride, sizeof(int));
    return 0;
}

void runstate_free(RunState* s) {
    Backend* be = s->be;
    if (!be) return;  // never initialised (or freed already)
    kv_free(be, &s->kv);
    float* bufs[] = {s->x, s->xb, s->xb2, s->q, s->k, s->v, s->hb, s->hb2, s->hmix, s->lens_buf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) be->ops->release(be, bufs[i]);
    free(s->route_buf); free(s->route_z); free(s->route_dist); free(s->route_nearest); free(s->rel_buf); free(s->scratch); free(s->iscratch);
    free(s->rope_inv_freq); free(s->host_buf);
    be->ops->run_end(be);
    memset(s, 0, sizeof *s);
}

// Top TRACE_TOPK of softmax(logits) and its entropy, into the trace row of `pos`.
static void trace_next_token(Trace* tr, int pos, const float* logits, int V) {
    float mx = logits[0];
    for (int i = 1; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0, ent = 0;
    for (int i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    int* ids = tr->top_id + (size_t)pos * TRACE_TOPK;
    float* ps = tr->top_p + (size_t)pos * TRACE_TOPK;
    top_k_clear(ids, ps, TRACE_TOPK);
    for (int i = 0; i < V; i++) {
        double lp = logits[i] - lse, p = exp(lp);
        ent -= p * lp;
        top_k_insert(ids, ps, TRACE_TOPK, i, p);
    }
    tr->entropy[pos] = (float)ent;
}

// Adds the adapter's delta to projection p's outputs y for the n tokens of a chunk (inputs v,
// routing weights wts) and records the relative size of the delta in the trace.
static void adapt(RunState* s, float* y, const float* v, int n, const Adapter* a, const SlimRun* run, int l, Proj p,
                  const float* wts, int pos, Trace* tr, int slot) {
    if (!a->layers[l].proj[p].A) return;
    LoraCall call = {.a = a, .run = run, .layer = l, .proj = p, .wts = wts, .pos = pos, .scratch = s->scratch,
                     .iscratch = s->iscratch, .scratch_stride = s->scratch_stride, .iscratch_stride = s->iscratch_stride,
                     .slot = slot};
    float* rel = tr ? s->rel_buf + (size_t)(slot ? 1 : 0) * s->max_batch : NULL;  // side-by-side callers: own rows
    s->be->ops->lora_delta(s->be, y, v, n, &call, rel);
    for (int t = 0; rel && t < n; t++) tr->rel_delta[((size_t)(pos + t) * a->n_layers + l) * PROJ_COUNT + p] = rel[t];
}

// Routes the n tokens of a chunk at block l from their MLP inputs xb (backend memory; NULL for a
// plain LoRA), into the trace or scratch: the backend measures (router logits, nearest centre,
// distance), the host decides (yield, softmax, top-k). Returns the per-token weight rows (stride E).
static float* route_chunk(const float* xb, int n, const Adapter* a, const SlimRun* run, int l, int pos, Trace* tr,
                          RunState* s) {
    int E = a->n_experts, L = a->n_layers;
    float* wrows = s->route_buf;  // (n, E) weights, then scratch z/zy/pi when there is no trace
    if (xb) s->be->ops->route_measure(s->be, s->route_z, s->route_nearest, s->route_dist, xb, n, a, l);
    for (int t = 0; t < n; t++) {
        Route rt;
        float* sc = s->route_buf + (size_t)s->max_batch * E + (size_t)t * 3 * E;
        if (tr) {
            size_t off = ((size_t)(pos + t) * L + l) * E;
            rt.z = tr->z + off;
            rt.zy = tr->zy + off;
            rt.pi = tr->pi + off;
        } else {
            rt.z = sc;
            rt.zy = sc + E;
            rt.pi = sc + 2 * E;
        }
        rt.w = wrows + (size_t)t * E;
        if (xb) {
            memcpy(rt.z, s->route_z + (size_t)t * E, E * sizeof(float));
            rt.nearest = s->route_nearest[t];
            rt.dist = s->route_dist[t];
        }
        slim_route_decide(&rt, a, run, l);
        if (tr) {
            size_t pl = (size_t)(pos + t) * L + l;
            memcpy(tr->w + pl * E, rt.w, E * sizeof(float));
            tr->nearest[pl] = rt.nearest;
            tr->dist[pl] = rt.dist;
            tr->id_share[pl] = rt.id_share;
            tr->routed[pl] = a->type == ADAPTER_SLIM && a->layers[l].active;
        }
    }
    return wrows;
}

// Records block l's logit-lens prediction (top token and its probability) for n positions from
// their logits (row-major, V per row).
static void lens_record(Trace* tr, const float* logits, int n, int V, int L, int l, int pos) {
    for (int t = 0; t < n; t++) {
        const float* lg = logits + (size_t)t * V;
        int best = 0;
        for (int i = 1; i < V; i++) best = lg[i] > lg[best] ? i : best;
        double sum = 0;
        for (int i = 0; i < V; i++) sum += exp((double)lg[i] - lg[best]);
        size_t pl = (size_t)(pos + t) * L + l;
        tr->lens_id[pl] = best;
        tr->lens_p[pl] = (float)(1.0 / sum);
    }
}

// A device buffer's n floats readable on the host: in place on a host-memory backend, else copied
// into the run's host buffer.
static const float* host_view(RunState* s, const float* dev, size_t n) {
    if (s->be->host_memory) return dev;
    if (n > s->host_cap) s->host_buf = xrealloc(s->host_buf, (s->host_cap = n) * sizeof(float));
    s->be->ops->download(s->be, s->host_buf, dev, n * sizeof(float));
    return s->host_buf;
}

// Trace defaults at block l for positions without a router there.
static void trace_block_defaults(Trace* tr, int n, int pos, int l, int L, int E) {
    for (int t = 0; t < n; t++) {
        size_t pl = (size_t)(pos + t) * L + l;
        tr->routed[pl] = 0;
        tr->id_share[pl] = 1;
        tr->nearest[pl] = -1;
        tr->dist[pl] = 0;
        memset(tr->w + pl * E, 0, E * sizeof(float));
        for (int p = 0; p < PROJ_COUNT; p++) tr->rel_delta[pl * PROJ_COUNT + p] = -1;
    }
}

// One chunk of n <= max_batch tokens at positions pos..pos+n-1 (shared/SLIM.md, section numbers
// in the comments); leaves the final-normed residual stream in s->x.
static void forward_chunk(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, const int* tokens, int n,
                          int pos, Trace* tr) {
    const ModelConfig* c = &m->cfg;
    const BackendOps* op = s->be->ops;
    Backend* be = s->be;
    int C = c->dim, F = c->hidden_dim, L = c->n_layers, qd = c->n_heads * c->head_dim;
    int use_adapter = a && run && run->mode != MODE_OFF;
    int E = a ? a->n_experts : 1;
    size_t nC = (size_t)n * C;

    op->embed(be, s->x, &m->embed, tokens, n);
    if (tr)
        for (int t = 0; t < n; t++) tr->token[pos + t] = tokens[t];

    for (int l = 0; l < L; l++) {
        const LayerWeights* w = &m->layers[l];
        int adapted = use_adapter && a->layers[l].active;
        float* wts = NULL;  // routing weights of this block's tokens
        if (tr) trace_block_defaults(tr, n, pos, l, L, E);
        if (adapted && a->type == ADAPTER_LORA) wts = route_chunk(NULL, n, a, run, l, pos, tr, s);  // always on

        // attention: x -> rmsnorm -> q, k, v (+ bias) -> RoPE -> cache -> causal attention -> o_proj -> residual
        op->rmsnorm(be, s->xb, s->x, w->attn_norm, n, C, c->norm_eps);
        op->matmul(be, s->q, s->xb, &w->w[PROJ_Q], w->b[PROJ_Q], n);
        op->matmul(be, s->k, s->xb, &w->w[PROJ_K], w->b[PROJ_K], n);
        op->matmul(be, s->v, s->xb, &w->w[PROJ_V], w->b[PROJ_V], n);
        if (wts) {
            adapt(s, s->q, s->xb, n, a, run, l, PROJ_Q, wts, pos, tr, 0);
            adapt(s, s->k, s->xb, n, a, run, l, PROJ_K, wts, pos, tr, 0);
            adapt(s, s->v, s->xb, n, a, run, l, PROJ_V, wts, pos, tr, 0);
        }
        op->rope(be, s->q, &s->kv, pos, n, c->n_heads);
        op->rope(be, s->k, &s->kv, pos, n, c->n_kv_heads);
        op->attention(be, s->xb2, s->q, s->k, s->v, &s->kv, l, pos, n);
        float* att_out = s->q;  // o_proj's input, kept for its adapter
        op->copy(be, att_out, s->xb2, (size_t)n * qd * sizeof(float));
        op->matmul(be, s->xb2, att_out, &w->w[PROJ_O], w->b[PROJ_O], n);
        if (wts) adapt(s, s->xb2, att_out, n, a, run, l, PROJ_O, wts, pos, tr, 0);
        op->add(be, s->x, s->xb2, nC);

        // MLP: x -> rmsnorm -> route (SLIM section 2) -> gate, up (+ masked expert deltas, sections
        // 3-4) -> silu(gate) * up -> down (+ deltas) -> residual
        op->rmsnorm(be, s->xb, s->x, w->mlp_norm, n, C, c->norm_eps);
        if (adapted && a->type == ADAPTER_SLIM)
            wts = route_chunk(s->xb, n, a, run, l, pos, tr, s);
        op->matmul(be, s->hb, s->xb, &w->w[PROJ_GATE], w->b[PROJ_GATE], n);
        op->matmul(be, s->hb2, s->xb, &w->w[PROJ_UP], w->b[PROJ_UP], n);
        if (wts && n <= 4 && ops_get_threads() > 1 && be->host_memory) {
            // decode on the CPU: the two deltas are independent and too small to split, so run them side by side
#pragma omp parallel sections num_threads(2)
            {
#pragma omp section
                adapt(s, s->hb, s->xb, n, a, run, l, PROJ_GATE, wts, pos, tr, omp_get_thread_num());
#pragma omp section
                adapt(s, s->hb2, s->xb, n, a, run, l, PROJ_UP, wts, pos, tr, omp_get_thread_num());
            }
        } else if (wts) {
            adapt(s, s->hb, s->xb, n, a, run, l, PROJ_GATE, wts, pos, tr, 0);
            adapt(s, s->hb2, s->xb, n, a, run, l, PROJ_UP, wts, pos, tr, 0);
        }
        op->silu_mul(be, s->hmix, s->hb, s->hb2, (size_t)n * F);
        op->matmul(be, s->xb2, s->hmix, &w->w[PROJ_DOWN], w->b[PROJ_DOWN], n);
        if (wts) adapt(s, s->xb2, s->hmix, n, a, run, l, PROJ_DOWN, wts, pos, tr, 0);
        op->add(be, s->x, s->xb2, nC);

        // logit lens: this block's residual stream through the final norm and lm_head (the last
        // block's lens is the model's own output: forward() records it from the final logits)
        if (tr && tr->want_lens && l < L - 1) {
            op->rmsnorm(be, s->xb, s->x, m->final_norm, n, C, c->norm_eps);
            op->matmul(be, s->lens_buf, s->xb, &m->lm_head, NULL, n);
            lens_record(tr, host_view(s, s->lens_buf, (size_t)n * c->vocab_size), n, c->vocab_size, L, l, pos);
        }
    }
    op->rmsnorm(be, s->x, s->x, m->final_norm, n, C, c->norm_eps);
}

int forward(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, const int* tokens, int n, int pos,
            float* logits, int all_logits, Trace* tr, Err* err) {
    const ModelConfig* c = &m->cfg;
    if (n <= 0) return err_set(err, "forward: no tokens");
    ops_apply_threads();  // --threads holds in whichever thread calls
    if (pos < 0 || pos + n > s->max_seq)
        return err_set(err, "sequence of %d tokens exceeds the context of %d positions", pos + n, s->max_seq);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return err_set(err, "token id %d at index %d is outside the vocabulary (0..%d)", tokens[t], t, c->vocab_size - 1);
    if (run && !(run->mask_ratio >= 0.0f && run->mask_ratio < 1.0f))
        return err_set(err, "mask ratio p = %g is outside [0, 1)", run->mask_ratio);
    if (kv_reserve(s->be, &s->kv, s->rope_inv_freq, pos + n, err)) return -1;
    if ((all_logits || tr) && s->lens_rows < s->max_batch) {  // logits of every row of a chunk
        size_t bytes = (size_t)s->max_batch * c->vocab_size * sizeof(float);
        float* grown = s->be->ops->alloc(s->be, bytes);
        if (!grown) return err_set(err, "cannot allocate %zu MB of logits (%s backend)", bytes >> 20, s->be->name);
        s->be->ops->release(s->be, s->lens_buf);
        s->lens_buf = grown;
        s->lens_rows = s->max_batch;
    }
    if (tr) {
        trace_reserve(tr, pos + n);
        if (tr->n < pos + n) tr->n = pos + n;
    }
    const BackendOps* op = s->be->ops;
    int V = c->vocab_size, C = c->dim;
    for (int start = 0; start < n; start += s->max_batch) {
        int nb = n - start < s->max_batch ? n - start : s->max_batch;
        forward_chunk(m, a, run, s, tokens + start, nb, pos + start, tr);
        int last_chunk = start + nb == n;
        if (all_logits || tr) {
            op->matmul(s->be, s->lens_buf, s->x, &m->lm_head, NULL, nb);
            const float* lg = host_view(s, s->lens_buf, (size_t)nb * V);
            if (tr)
                for (int t = 0; t < nb; t++) trace_next_token(tr, pos + start + t, lg + (size_t)t * V, V);
            if (tr && tr->want_lens) lens_record(tr, lg, nb, V, c->n_layers, c->n_layers - 1, pos + start);
            if (all_logits) memcpy(logits + (size_t)start * V, lg, (size_t)nb * V * sizeof(float));
            else if (last_chunk) memcpy(logits, lg + (size_t)(nb - 1) * V, V * sizeof(float));
        } else if (last_chunk) {
            op->matmul(s->be, s->lens_buf, s->x + (size_t)(nb - 1) * C, &m->lm_head, NULL, 1);
            op->download(s->be, logits, s->lens_buf, V * sizeof(float));
        }
    }
    op->sync(s->be);
    const char* e = op->error(s->be);
    return e ? err_set(err, "%s backend: %s", s->be->name, e) : 0;
}

// forward.c: prefill and decode of a Llama-family model with a KV cache, SLIM applied in the MLP
// of adapted blocks (and PEFT LoRA on any projection), every routing decision written to a Trace.
#include "forward.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static int g_threads = 0;

void forward_set_threads(int n) {
    if (n < 1) n = 1;
    g_threads = n;
    openblas_set_num_threads(1);  // parallelism comes from OpenMP (cpu_matmul splits the rows)
    omp_set_num_threads(n);
}

int forward_get_threads(void) { return g_threads ? g_threads : omp_get_max_threads(); }

static int max_int(int a, int b) { return a > b ? a : b; }

// Makes room for n positions in the KV cache (doubling, up to max_seq), keeping what it holds.
static int kv_reserve(RunState* s, int n, Err* err) {
    if (n <= s->kv_cap) return 0;
    int cap = s->kv_cap ? s->kv_cap : 64;
    while (cap < n) cap *= 2;
    if (cap > s->max_seq) cap = s->max_seq;
    int D = s->head_dim, H = s->kv_dim / D;
    size_t bytes = (size_t)H * cap * D * sizeof(float);
    for (int l = 0; l < s->n_layers; l++) {
        float** caches[2] = {&s->key_cache[l], &s->value_cache[l]};
        for (int i = 0; i < 2; i++) {
            float* grown = malloc(bytes);
            if (!grown)
                return err_set(err, "cannot allocate a KV cache of %zu MB for %d positions",
                               2 * bytes * s->n_layers >> 20, cap);
            for (int h = 0; h < H && s->kv_cap; h++)  // head h's rows move to their new place
                memcpy(grown + (size_t)h * cap * D, *caches[i] + (size_t)h * s->kv_cap * D, (size_t)s->kv_cap * D * sizeof(float));
            free(*caches[i]);
            *caches[i] = grown;
        }
    }
    s->kv_cap = cap;
    return 0;
}

int runstate_init(RunState* s, const Model* m, const Adapter* a, int max_seq, int max_batch, Err* err) {
    memset(s, 0, sizeof *s);
    openblas_set_num_threads(1);  // parallelism comes from OpenMP (cpu_matmul splits the rows)
    const ModelConfig* c = &m->cfg;
    if (max_seq <= 0) max_seq = c->max_seq_len;
    if (max_batch <= 0) max_batch = 64;
    s->max_seq = max_seq;
    s->max_batch = max_batch;
    size_t B = max_batch, C = c->dim, F = c->hidden_dim, V = c->vocab_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    s->n_layers = c->n_layers;
    s->kv_dim = (int)kvd;
    s->head_dim = c->head_dim;
    s->key_cache = xcalloc(c->n_layers, sizeof(float*));
    s->value_cache = xcalloc(c->n_layers, sizeof(float*));
    if (kv_reserve(s, max_seq < 64 ? max_seq : 64, err)) {
        runstate_free(s);
        return -1;
    }
    // Scratch slots for every thread any caller's parallel loops may use: the thread count is a
    // per-thread OpenMP setting, so a forward() from another thread may differ from this one's.
    int nt = max_int(max_int(omp_get_max_threads(), omp_get_num_procs()), g_threads);
    s->x = xcalloc(B * C, sizeof(float));
    s->xb = xcalloc(B * C, sizeof(float));
    s->xb2 = xcalloc(B * (C > qd ? C : qd), sizeof(float));
    s->q = xcalloc(B * qd, sizeof(float));
    s->k = xcalloc(B * kvd, sizeof(float));
    s->v = xcalloc(B * kvd, sizeof(float));
    s->att = xcalloc((size_t)nt * max_seq, sizeof(float));
    s->hb = xcalloc(B * F, sizeof(float));
    s->hb2 = xcalloc(B * F, sizeof(float));
    s->hmix = xcalloc(B * F, sizeof(float));
    int E = a ? a->n_experts : 1;
    s->route_buf = xcalloc(B * 4 * E, sizeof(float));
    int max_io = max_int(max_int((int)C, (int)F), max_int((int)qd, (int)kvd));
    int r = a ? a->r : 0;
    if (a)
        for (int l = 0; l < a->n_layers; l++)
            for (int p = 0; p < PROJ_COUNT; p++) r = max_int(r, a->layers[l].proj[p].r);
    s->scratch = xcalloc((size_t)nt * slim_scratch_floats(r, max_io), sizeof(float));
    s->scratch_stride = slim_scratch_floats(r, max_io);
    s->iscratch_stride = 2 * (size_t)max_io;
    s->iscratch = xcalloc((size_t)nt * 2 * max_io, sizeof(int));
    s->lens_buf = xcalloc(B * V, sizeof(float));
    s->rope_inv_freq = xcalloc(c->head_dim / 2, sizeof(float));
    cpu_rope_inv_freq(s->rope_inv_freq, c);
    return 0;
}

void runstate_free(RunState* s) {
    for (int l = 0; l < s->n_layers && s->key_cache; l++) {
        free(s->key_cache[l]);
        free(s->value_cache[l]);
    }
    free(s->key_cache); free(s->value_cache); free(s->x); free(s->xb); free(s->xb2); free(s->q); free(s->k);
    free(s->v); free(s->att); free(s->hb); free(s->hb2); free(s->hmix); free(s->route_buf); free(s->scratch);
    free(s->iscratch); free(s->lens_buf); free(s->rope_inv_freq);
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
    for (int k = 0; k < TRACE_TOPK; k++) {
        ids[k] = -1;
        ps[k] = -1;
    }
    for (int i = 0; i < V; i++) {
        double lp = logits[i] - lse, p = exp(lp);
        ent -= p * lp;
        if (p <= ps[TRACE_TOPK - 1]) continue;
        int k = TRACE_TOPK - 1;
        while (k > 0 && p > ps[k - 1]) {
            ps[k] = ps[k - 1];
            ids[k] = ids[k - 1];
            k--;
        }
        ps[k] = (float)p;
        ids[k] = i;
    }
    tr->entropy[pos] = (float)ent;
}

// Adds the adapter's delta to projection p's outputs for the n tokens of a chunk and records
// the relative size of the delta in the trace.
static void apply_adapter(float* y, const float* v, int n, int in, int out, const Model* m, const Adapter* a,
                          const SlimRun* run, int l, Proj p, const float* wts, int stride_w, int pos, Trace* tr,
                          RunState* s, int slot) {
    if (!a->layers[l].proj[p].A) return;
    (void)in;
#pragma omp parallel for schedule(static) if (n > 4)
    for (int t = 0; t < n; t++) {
        int th = slot + omp_get_thread_num();  // scratch slot: callers running in parallel pass their own
        float* yt = y + (size_t)t * out;
        double base2 = 0;
        if (tr)
            for (int i = 0; i < out; i++) base2 += (double)yt[i] * yt[i];
        float d2 = slim_apply_proj(yt, v + (size_t)t * in, a, run, l, p, wts + (size_t)t * stride_w, pos + t,
                                   s->scratch + th * s->scratch_stride, s->iscratch + th * s->iscratch_stride);
        if (tr) tr->rel_delta[((size_t)(pos + t) * m->cfg.n_layers + l) * PROJ_COUNT + p] = base2 > 0 ? sqrtf(d2 / base2) : 0;
    }
}

// Routes the n tokens of a chunk at block l from their MLP inputs xb, into the trace or scratch.
// Returns the per-token weight rows (stride E).
static float* route_chunk(const float* xb, int n, const Adapter* a, const SlimRun* run, int l, int pos, Trace* tr,
                          RunState* s) {
    int E = a->n_experts, L = a->n_layers, C = a->dim;
    float* wrows = s->route_buf;  // (n, E) weights, then scratch z/zy/pi when there is no trace
#pragma omp parallel for schedule(static) if (n > 4 && a->type == ADAPTER_SLIM)
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
        slim_route(&rt, xb ? xb + (size_t)t * C : NULL, a, run, l);
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

// Logit lens: block l's residual stream for each token of the chunk, through final norm + lm_head.
// The last block's lens is the model's own output: forward() records it from the final logits.
static void lens_chunk(const Model* m, RunState* s, int n, int l, int pos, Trace* tr) {
    const ModelConfig* c = &m->cfg;
    float* normed = s->xb;  // free at this point of the block loop
    cpu_rmsnorm(normed, s->x, m->final_norm, n, c->dim, c->norm_eps);
    matmul(s->lens_buf, normed, &m->lm_head, NULL, n);
    lens_record(tr, s->lens_buf, n, c->vocab_size, c->n_layers, l, pos);
}

// One chunk of n <= max_batch tokens at positions pos..pos+n-1.
static void forward_chunk(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, const int* tokens, int n,
                          int pos, Trace* tr) {
    const ModelConfig* c = &m->cfg;
    int C = c->dim, F = c->hidden_dim, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    int qd = Hq * D, kvd = Hkv * D, L = c->n_layers;
    int use_adapter = a && run && run->mode != MODE_OFF;
    int E = a ? a->n_experts : 1;

    // token embeddings
    for (int t = 0; t < n; t++) weight_row(s->x + (size_t)t * C, &m->embed, tokens[t]);
    if (tr)
        for (int t = 0; t < n; t++) tr->token[pos + t] = tokens[t];

    for (int l = 0; l < L; l++) {
        const LayerWeights* w = &m->layers[l];
        float* kc = s->key_cache[l];
        float* vc = s->value_cache[l];
        size_t cap = s->kv_cap;
        int adapted = use_adapter && a->layers[l].active;
        float* wts = NULL;
        if (tr) {  // defaults for blocks without a router at this position
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
        if (adapted && a->type == ADAPTER_LORA) wts = route_chunk(NULL, n, a, run, l, pos, tr, s);

        // attention: x -> rmsnorm -> q, k, v (+ bias) -> RoPE -> cache -> causal attention -> o_proj -> residual
        cpu_rmsnorm(s->xb, s->x, w->attn_norm, n, C, c->norm_eps);
        matmul(s->q, s->xb, &w->w[PROJ_Q], w->b[PROJ_Q], n);
        matmul(s->k, s->xb, &w->w[PROJ_K], w->b[PROJ_K], n);
        matmul(s->v, s->xb, &w->w[PROJ_V], w->b[PROJ_V], n);
        if (wts) {
            apply_adapter(s->q, s->xb, n, C, qd, m, a, run, l, PROJ_Q, wts, E, pos, tr, s, 0);
            apply_adapter(s->k, s->xb, n, C, kvd, m, a, run, l, PROJ_K, wts, E, pos, tr, s, 0);
            apply_adapter(s->v, s->xb, n, C, kvd, m, a, run, l, PROJ_V, wts, E, pos, tr, s, 0);
        }
        for (int t = 0; t < n; t++) {
            cpu_rope(s->q + (size_t)t * qd, Hq, D, pos + t, s->rope_inv_freq);
            cpu_rope(s->k + (size_t)t * kvd, Hkv, D, pos + t, s->rope_inv_freq);
        }
        for (int t = 0; t < n; t++)
            for (int h = 0; h < Hkv; h++) {
                memcpy(kc + ((size_t)h * cap + pos + t) * D, s->k + (size_t)t * kvd + (size_t)h * D, D * sizeof(float));
                memcpy(vc + ((size_t)h * cap + pos + t) * D, s->v + (size_t)t * kvd + (size_t)h * D, D * sizeof(float));
            }
        // threads only pay off when there is real work: (tokens x heads x context x head size)
        long att_work = (long)n * Hq * (pos + n) * D;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) if (att_work > 200000)
        for (int t = 0; t < n; t++)
            for (int h = 0; h < Hq; h++) {
                float* att = s->att + (size_t)omp_get_thread_num() * s->max_seq;
                // causal: position pos+t sees cache rows 0..pos+t
                size_t kvh = h / (Hq / Hkv);  // GQA: the key/value head of query head h
                cpu_attention_head(s->xb2 + (size_t)t * qd + (size_t)h * D, s->q + (size_t)t * qd + (size_t)h * D,
                                   kc + kvh * cap * D, vc + kvh * cap * D, pos + t + 1, D, D, att);
            }
        memcpy(s->q, s->xb2, (size_t)n * qd * sizeof(float));  // o_proj input, kept for its adapter
        matmul(s->xb2, s->q, &w->w[PROJ_O], w->b[PROJ_O], n);
        if (wts) apply_adapter(s->xb2, s->q, n, qd, C, m, a, run, l, PROJ_O, wts, E, pos, tr, s, 0);
        for (size_t i = 0; i < (size_t)n * C; i++) s->x[i] += s->xb2[i];

        // MLP: x -> rmsnorm -> route (SLIM) -> gate, up -> silu(gate) * up -> down -> residual
        cpu_rmsnorm(s->xb, s->x, w->mlp_norm, n, C, c->norm_eps);
        if (adapted && a->type == ADAPTER_SLIM) wts = route_chunk(s->xb, n, a, run, l, pos, tr, s);
        matmul(s->hb, s->xb, &w->w[PROJ_GATE], w->b[PROJ_GATE], n);
        matmul(s->hb2, s->xb, &w->w[PROJ_UP], w->b[PROJ_UP], n);
        if (wts && n <= 4 && forward_get_threads() > 1) {
            // decode: the two adapters are independent and too small to split, so run them side by side
#pragma omp parallel sections num_threads(2)
            {
#pragma omp section
                apply_adapter(s->hb, s->xb, n, C, F, m, a, run, l, PROJ_GATE, wts, E, pos, tr, s, omp_get_thread_num());
#pragma omp section
                apply_adapter(s->hb2, s->xb, n, C, F, m, a, run, l, PROJ_UP, wts, E, pos, tr, s, omp_get_thread_num());
            }
        } else if (wts) {
            apply_adapter(s->hb, s->xb, n, C, F, m, a, run, l, PROJ_GATE, wts, E, pos, tr, s, 0);
            apply_adapter(s->hb2, s->xb, n, C, F, m, a, run, l, PROJ_UP, wts, E, pos, tr, s, 0);
        }
        cpu_silu_mul(s->hmix, s->hb, s->hb2, (size_t)n * F);
        matmul(s->xb2, s->hmix, &w->w[PROJ_DOWN], w->b[PROJ_DOWN], n);
        if (wts) apply_adapter(s->xb2, s->hmix, n, F, C, m, a, run, l, PROJ_DOWN, wts, E, pos, tr, s, 0);
        for (size_t i = 0; i < (size_t)n * C; i++) s->x[i] += s->xb2[i];

        if (tr && tr->want_lens && l < c->n_layers - 1) lens_chunk(m, s, n, l, pos, tr);
    }
    cpu_rmsnorm(s->x, s->x, m->final_norm, n, C, c->norm_eps);
}

int forward(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, const int* tokens, int n, int pos,
            float* logits, int all_logits, Trace* tr, Err* err) {
    const ModelConfig* c = &m->cfg;
    if (n <= 0) return err_set(err, "forward: no tokens");
    if (g_threads) omp_set_num_threads(g_threads);  // --threads holds in whichever thread calls
    if (pos < 0 || pos + n > s->max_seq)
        return err_set(err, "sequence of %d tokens exceeds the context of %d positions", pos + n, s->max_seq);
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return err_set(err, "token id %d at index %d is outside the vocabulary (0..%d)", tokens[t], t, c->vocab_size - 1);
    if (run && !(run->mask_ratio >= 0.0f && run->mask_ratio < 1.0f))
        return err_set(err, "mask ratio p = %g is outside [0, 1)", run->mask_ratio);
    if (kv_reserve(s, pos + n, err)) return -1;
    if (tr) {
        trace_reserve(tr, pos + n);
        if (tr->n < pos + n) tr->n = pos + n;
    }
    int V = c->vocab_size, C = c->dim;
    for (int start = 0; start < n; start += s->max_batch) {
        int nb = n - start < s->max_batch ? n - start : s->max_batch;
        forward_chunk(m, a, run, s, tokens + start, nb, pos + start, tr);
        int last_chunk = start + nb == n;
        if (all_logits || tr) {
            matmul(s->lens_buf, s->x, &m->lm_head, NULL, nb);
            if (tr)
                for (int t = 0; t < nb; t++) trace_next_token(tr, pos + start + t, s->lens_buf + (size_t)t * V, V);
            if (tr && tr->want_lens) lens_record(tr, s->lens_buf, nb, V, c->n_layers, c->n_layers - 1, pos + start);
            if (all_logits) memcpy(logits + (size_t)start * V, s->lens_buf, (size_t)nb * V * sizeof(float));
            else if (last_chunk) memcpy(logits, s->lens_buf + (size_t)(nb - 1) * V, V * sizeof(float));
        } else if (last_chunk) {
            matmul(logits, s->x + (size_t)(nb - 1) * C, &m->lm_head, NULL, 1);
        }
    }
    return 0;
}

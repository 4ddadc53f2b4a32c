// worker_background.c: what the worker computes when its queue is empty (see worker.h): the
// next-token comparison and logit lens at the selected position, the comparison with a second
// adapter (`:compare`), then the sweep over p, one step
// per call so a new job is never kept waiting for more than one forward pass.
#include <string.h>

#include "metrics.h"
#include "worker_internal.h"

int worker_selected_pos(const Worker* w) {
    int n = w->s->n_tokens;
    if (n == 0) return -1;
    return w->want_pos < 0 || w->want_pos >= n ? n - 1 : w->want_pos;
}

int worker_compare_pending(const Worker* w, int pos) {
    return pos >= 0 && (pos != w->cmp_pos || w->cmp_tok_ver != w->tok_ver || w->cmp_run_ver != w->run_ver);
}

int worker_sweep_pending(const Worker* w) {
    if (!w->s->has_adapter || w->s->n_tokens == 0) return 0;
    return w->sweep_tok_ver != w->tok_ver || w->sweep_runx_ver != w->runx_ver || w->sweep_next < SWEEP_POINTS;
}

int worker_adapters_pending(const Worker* w, int pos) {
    if (!w->s->has_cmp || pos < 0) return 0;
    // after a failed comparison (have 0) nothing is retried until the context, run or B changes
    return w->cmpb_tok_ver != w->tok_ver || w->cmpb_run_ver != w->run_ver || w->cmpb_b_ver != w->b_ver ||
           (w->cmpb_have && w->cmpb_pub_pos != pos);
}

int worker_derived_pending(const Worker* w) {
    int pos = worker_selected_pos(w);
    return worker_compare_pending(w, pos) || worker_adapters_pending(w, pos) || worker_sweep_pending(w);
}

// Next-token distributions after pos under the base model, p = 0 and the current p, and the
// logit lens at pos for each (one lm_head product per block at one position, so the main trace
// does without it). Base and p = 0 are cached: a change of p costs one forward pass.
void worker_compare(Worker* w, int pos) {
    Session* s = w->s;
    Err err;
    int V = s->model.cfg.vocab_size, rc = 0;
    if (pos != w->ref_pos || w->ref_tok_ver != w->tok_ver || w->ref_runx_ver != w->runx_ver) {
        SlimRun r0;
        rc = session_run_copy(s, &r0, &s->run, 0.0f, &err);
        if (!rc) rc = session_probe_at(s, pos, NULL, w->base_logits, w->lens_off_id, w->lens_off_p, &err);
        if (!rc) rc = session_probe_at(s, pos, &r0, w->p0_logits, w->lens_p0_id, w->lens_p0_p, &err);
        slim_run_free(&r0);
        if (!rc) {
            w->ref_pos = pos;
            w->ref_tok_ver = w->tok_ver;
            w->ref_runx_ver = w->runx_ver;
        } else {
            w->ref_pos = -1;
        }
    }
    if (!rc) {
        int L = s->model.cfg.n_layers;
        if (s->run.mask_ratio == 0.0f) {  // p = 0 is the plain adapter
            memcpy(w->cur_logits, w->p0_logits, V * sizeof(float));
            memcpy(w->lens_on_id, w->lens_p0_id, L * sizeof(int));
            memcpy(w->lens_on_p, w->lens_p0_p, L * sizeof(float));
        } else {
            rc = session_probe_at(s, pos, &s->run, w->cur_logits, w->lens_on_id, w->lens_on_p, &err);
        }
    }
    w->cmp_pos = pos;
    w->cmp_tok_ver = w->tok_ver;
    w->cmp_run_ver = w->run_ver;
    if (rc) {
        worker_message(w, 1, err.msg);
        return;
    }
    double kl0, klb, agree;
    session_compare_logits(w->p0_logits, w->cur_logits, 1, V, &kl0, &agree);
    session_compare_logits(w->base_logits, w->cur_logits, 1, V, &klb, &agree);
    pthread_mutex_lock(&w->snap_mu);
    Snapshot* p = &w->snap;
    const float* lg[3] = {w->base_logits, w->p0_logits, w->cur_logits};
    for (int j = 0; j < 3; j++) top_k_probs(lg[j], V, TRACE_TOPK, p->cmp_id[j], p->cmp_prob[j]);
    p->kl_p0 = kl0;
    p->kl_base = klb;
    p->cmp_pos = pos;
    p->cmp_p = s->run.mask_ratio;
    p->cmp_valid = 1;
    memcpy(p->lens_off_id, w->lens_off_id, p->n_layers * sizeof(int));
    memcpy(p->lens_off_p, w->lens_off_p, p->n_layers * sizeof(float));
    memcpy(p->lens_on_id, w->lens_on_id, p->n_layers * sizeof(int));
    memcpy(p->lens_on_p, w->lens_on_p, p->n_layers * sizeof(float));
    worker_fill_settings(w);
    p->version++;
    pthread_mutex_unlock(&w->snap_mu);
    worker_wake(w);
}

// One step of the sweep: KL(p=0 || p) and top-1 agreement with p = 0, averaged over the last
// positions of the context, for p = 0, 0.1, ..., 0.9.
void worker_sweep_step(Worker* w) {
    Session* s = w->s;
    Err err;
    int V = s->model.cfg.vocab_size, n = s->n_tokens;
    int rc = 0;
    if (w->sweep_tok_ver != w->tok_ver || w->sweep_runx_ver != w->runx_ver) {  // restart: p = 0 reference
        int cap = SWEEP_FLOATS / V;
        if (cap < 1) cap = 1;
        w->sweep_from = n > cap ? n - cap : 0;
        size_t sz = (size_t)(n - w->sweep_from) * V * sizeof(float);
        w->sweep_ref = xrealloc(w->sweep_ref, sz);
        w->sweep_cur = xrealloc(w->sweep_cur, sz);
        SlimRun r0;
        rc = session_run_copy(s, &r0, &s->run, 0.0f, &err);
        if (!rc) rc = session_context_logits(s, &r0, w->sweep_from, w->sweep_ref, &err);
        slim_run_free(&r0);
        w->sweep_tok_ver = w->tok_ver;
        w->sweep_runx_ver = w->runx_ver;
        for (int i = 0; i < SWEEP_POINTS; i++) w->sweep_p[i] = i / 10.0f;
        w->sweep_kl[0] = 0;  // p = 0 against itself, exactly (no masking, no rescale)
        w->sweep_agree[0] = 1;
        w->sweep_next = rc ? SWEEP_POINTS : 1;
    } else {
        int i = w->sweep_next;
        SlimRun r;
        rc = session_run_copy(s, &r, &s->run, w->sweep_p[i], &err);
        if (!rc) rc = session_context_logits(s, &r, w->sweep_from, w->sweep_cur, &err);
        slim_run_free(&r);
        if (!rc) session_compare_logits(w->sweep_ref, w->sweep_cur, n - w->sweep_from, V, &w->sweep_kl[i], &w->sweep_agree[i]);
        w->sweep_next = rc ? SWEEP_POINTS : i + 1;
    }
    if (rc) {
        worker_message(w, 1, err.msg);
        return;
    }
    pthread_mutex_lock(&w->snap_mu);
    Snapshot* p = &w->snap;
    p->sweep_total = SWEEP_POINTS;
    p->sweep_n = w->sweep_next;
    p->sweep_positions = n - w->sweep_from;
    memcpy(p->sweep_p, w->sweep_p, sizeof p->sweep_p);
    memcpy(p->sweep_kl, w->sweep_kl, sizeof p->sweep_kl);
    memcpy(p->sweep_agree, w->sweep_agree, sizeof p->sweep_agree);
    p->version++;
    pthread_mutex_unlock(&w->snap_mu);
    worker_wake(w);
}

// `:compare`: the context under A and B (two forward passes over it, only when the context, the
// run or B changed), then what the panel shows at pos: KL, top-1 and the routing per block.
void worker_compare_adapters(Worker* w, int pos) {
    Session* s = w->s;
    Err err;
    if (!w->cmpb_have || w->cmpb_tok_ver != w->tok_ver || w->cmpb_run_ver != w->run_ver || w->cmpb_b_ver != w->b_ver) {
        if (w->cmpb_have) comparison_free(&w->cmpb);
        w->cmpb_have = 0;
        w->cmpb_tok_ver = w->tok_ver;
        w->cmpb_run_ver = w->run_ver;
        w->cmpb_b_ver = w->b_ver;
        if (session_compare_context(s, &w->cmpb, &err)) {
            worker_message(w, 1, err.msg);
            return;
        }
        w->cmpb_have = 1;
    }
    w->cmpb_pub_pos = pos;
    const Comparison* c = &w->cmpb;
    if (pos >= c->n) return;
    pthread_mutex_lock(&w->snap_mu);
    Snapshot* p = &w->snap;
    p->cmpb_valid = 1;
    p->cmpb_pos = pos;
    p->cmpb_kl = c->kl[pos];
    p->cmpb_top_a = c->top_a[pos];
    p->cmpb_top_b = c->top_b[pos];
    p->cmpb_n = c->n;
    p->cmpb_top_diff = 0;
    p->cmpb_kl_mean = 0;
    for (int t = 0; t < c->n; t++) {
        p->cmpb_top_diff += c->top_a[t] != c->top_b[t];
        p->cmpb_kl_mean += c->kl[t] / c->n;
    }
    for (int l = 0; l < p->n_layers; l++) compare_block(&s->trace, &c->tb, pos, l, &p->cmpb_blk[l]);
    p->version++;
    pthread_mutex_unlock(&w->snap_mu);
    worker_wake(w);
}

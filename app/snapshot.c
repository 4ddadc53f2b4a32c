// snapshot.c: storage of the Snapshot the views read (see snapshot.h). Copies trace rows and
// fills the per-position summaries through the session's trace functions; no model math here.
#include "snapshot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "slim.h"

void snapshot_init(Snapshot* s) {
    memset(s, 0, sizeof *s);
    snprintf(s->device, sizeof s->device, "cpu");
    snapshot_shape(s, 1, 1, 0);
}

static void free_texts(Snapshot* s) {
    if (s->text)
        for (int i = 0; i < s->tr.cap; i++) free(s->text[i]);
    if (s->label)
        for (int i = 0; i < s->tr.cap; i++) free(s->label[i]);
    free(s->text);
    free(s->label);
    s->text = NULL;
    s->label = NULL;
}

void snapshot_free(Snapshot* s) {
    free_texts(s);
    trace_free(&s->tr);
    free(s->tok_share);
    free(s->dominant);
    free(s->win_d);
    free(s->yield_offset);
    free(s->yield_span);
    free(s->force);
    free(s->gen_force);
    free(s->lens_off_id);
    free(s->lens_off_p);
    free(s->lens_on_id);
    free(s->lens_on_p);
    free(s->regen_p0);
    free(s->cmpb_blk);
    memset(s, 0, sizeof *s);
}

void snapshot_shape(Snapshot* s, int n_layers, int n_experts, int n_id) {
    free_texts(s);
    trace_free(&s->tr);
    trace_init(&s->tr, n_layers, n_experts, n_id, 16);
    s->n_layers = n_layers;
    s->n_experts = s->tr.n_experts;
    s->n_id = n_id;
    s->n = 0;
    s->gen_start = 0;
    s->text = xcalloc(s->tr.cap, sizeof(char*));
    s->label = xcalloc(s->tr.cap, sizeof(char*));
    s->tok_share = xrealloc(s->tok_share, s->tr.cap * sizeof(float));
    s->dominant = xrealloc(s->dominant, (size_t)s->tr.cap * n_layers);
    s->win_d = xrealloc(s->win_d, (size_t)s->tr.cap * n_layers * sizeof(float));
    s->force = xrealloc(s->force, n_layers * sizeof(int));
    s->gen_force = xrealloc(s->gen_force, n_layers * sizeof(int));
    for (int l = 0; l < n_layers; l++) s->force[l] = s->gen_force[l] = -1;
    s->cmpb_blk = xrealloc(s->cmpb_blk, n_layers * sizeof(BlockDiff));
    s->cmpb_valid = 0;
    s->yield_offset = xrealloc(s->yield_offset, n_layers * sizeof(float));
    s->yield_span = xrealloc(s->yield_span, n_layers * sizeof(float));
    for (int l = 0; l < n_layers; l++) s->yield_offset[l] = 0, s->yield_span[l] = 1;
    s->lens_off_id = xrealloc(s->lens_off_id, n_layers * sizeof(int));
    s->lens_off_p = xrealloc(s->lens_off_p, n_layers * sizeof(float));
    s->lens_on_id = xrealloc(s->lens_on_id, n_layers * sizeof(int));
    s->lens_on_p = xrealloc(s->lens_on_p, n_layers * sizeof(float));
    s->cmp_valid = 0;
    s->sweep_n = s->sweep_total = 0;
    s->regen_state = 0;
}

static void reserve(Snapshot* s, int cap) {
    int old = s->tr.cap;
    if (cap <= old) return;
    trace_reserve(&s->tr, cap);
    int nc = s->tr.cap, L = s->n_layers;
    s->text = xrealloc(s->text, nc * sizeof(char*));
    s->label = xrealloc(s->label, nc * sizeof(char*));
    for (int i = old; i < nc; i++) s->text[i] = s->label[i] = NULL;
    s->tok_share = xrealloc(s->tok_share, nc * sizeof(float));
    s->dominant = xrealloc(s->dominant, (size_t)nc * L);
    s->win_d = xrealloc(s->win_d, (size_t)nc * L * sizeof(float));
}

// Copies rows [from, to) of each per-position array of the trace.
#define COPY_ROWS(field, per) memcpy(d->field + (size_t)from * (per), t->field + (size_t)from * (per), (size_t)(to - from) * (per) * sizeof *d->field)

void snapshot_set_trace(Snapshot* s, const Trace* t, int from, const char* const* text, const char* const* label) {
    if (t->n_layers != s->n_layers || t->n_experts != s->n_experts || t->n_id != s->n_id) snapshot_shape(s, t->n_layers, t->n_experts, t->n_id);
    int to = t->n;
    if (from < 0) from = 0;
    reserve(s, to > 0 ? to : 1);
    Trace* d = &s->tr;
    size_t L = t->n_layers, E = t->n_experts;
    if (to > from) {
        COPY_ROWS(token, 1);
        COPY_ROWS(z, L * E);
        COPY_ROWS(zy, L * E);
        COPY_ROWS(pi, L * E);
        COPY_ROWS(w, L * E);
        COPY_ROWS(nearest, L);
        COPY_ROWS(dist, L);
        COPY_ROWS(id_share, L);
        COPY_ROWS(rel_delta, L * PROJ_COUNT);
        COPY_ROWS(routed, L);
        COPY_ROWS(top_id, TRACE_TOPK);
        COPY_ROWS(top_p, TRACE_TOPK);
        COPY_ROWS(entropy, 1);
        if (t->want_lens) {
            COPY_ROWS(lens_id, L);
            COPY_ROWS(lens_p, L);
        }
    }
    d->want_lens = t->want_lens;
    d->n = to;
    s->n = to;
    if (s->gen_start > to) s->gen_start = to;
    for (int pos = from; pos < to; pos++) {
        if (text) snapshot_set_text(s, pos, text[pos - from], label ? label[pos - from] : NULL);
        s->tok_share[pos] = session_mean_id_share(d, pos);
        for (size_t l = 0; l < L; l++) {
            s->dominant[pos * L + l] = (signed char)session_dominant_expert(d, pos, (int)l);
            YieldMap y = {s->yield_scale, s->yield_offset[l], s->yield_span[l]};
            s->win_d[pos * L + l] = session_identity_win_d(d, pos, (int)l, y);
        }
    }
}

void snapshot_set_text(Snapshot* s, int pos, const char* text, const char* label) {
    reserve(s, pos + 1);
    free(s->text[pos]);
    free(s->label[pos]);
    s->text[pos] = xstrdup(text ? text : "");
    s->label[pos] = xstrdup(label ? label : text ? text : "");
}

const char* snapshot_label(const Snapshot* s, int pos) {
    if (pos < 0 || pos >= s->tr.cap || !s->label || !s->label[pos]) return "";
    return s->label[pos];
}

void snapshot_message(Snapshot* s, int error, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    s->msg_error = error;
    s->msg_seq++;
}

int snapshot_gen_stale(const Snapshot* s, float p, int mode, uint64_t mask_seed, char* why, size_t n) {
    size_t k = (size_t)snprintf(why, n, "p %.2f", s->gen_p);
#define WHY(...) (k < n ? k += (size_t)snprintf(why + k, n - k, __VA_ARGS__) : 0)
    if (s->gen_start >= s->n) return 0;  // nothing generated
    int stale = fabsf(p - s->gen_p) > 1e-6f;
    if (mode != s->gen_mode) {
        stale = 1;
        WHY(", mode %s", adapter_mode_name((AdapterMode)s->gen_mode));
    }
    if (s->adapter_ver != s->gen_adapter_ver) {
        stale = 1;
        WHY(", adapter %s", s->gen_adapter);
    }
    if ((p > 0 || s->gen_p > 0) && mask_seed != s->gen_mask_seed) {  // at p = 0 the masks keep everything
        stale = 1;
        WHY(", mask seed %llu", (unsigned long long)s->gen_mask_seed);
    }
    int forcing = 0;
    for (int l = 0; l < s->n_layers; l++) forcing |= s->force[l] != s->gen_force[l];
    if (forcing) {
        stale = 1;
        int any = 0;
        char name[16];
        WHY(", forced:");
        for (int l = 0; l < s->n_layers; l++)
            if (s->gen_force[l] >= 0) WHY(" %d:%s", l, slim_expert_name(name, sizeof name, s->n_id, s->gen_force[l])), any = 1;
        if (!any) WHY(" none");
    }
#undef WHY
    if (k >= n && n) why[n - 1] = 0;
    return stale;
}

const char* snapshot_vocab(const Snapshot* s, int id, char* buf, int n) {
    if (s->vocab_text && id >= 0 && id < s->vocab && s->vocab_text[id]) return s->vocab_text[id];
    snprintf(buf, n, "#%d", id);
    return buf;
}

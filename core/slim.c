// slim.c: SLIM routing (shared/SLIM.md section 2) and the masked dynamic merge (sections 3-4).
#include "slim.h"

#include <cblas.h>

#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* MODE_NAMES[] = {"slim", "off", "lora-only", "identity-only"};
const char* adapter_mode_name(AdapterMode m) { return MODE_NAMES[m]; }
int adapter_mode_from_name(const char* s) { return name_index(MODE_NAMES, 4, s); }

char* slim_expert_name(char* buf, size_t n, int n_id, int e) {
    if (e < n_id) snprintf(buf, n, "i%d", e);
    else snprintf(buf, n, "%d", e - n_id);
    return buf;
}

int slim_expert_parse(const char* s, int n_id, int n_experts) {
    int id = s[0] == 'i';
    const char* d = s + id;
    if (!*d || strlen(d) > 6 || strspn(d, "0123456789") != strlen(d)) return -1;
    int k = atoi(d);
    if (id) return k < n_id ? k : -1;
    return k < n_experts - n_id ? n_id + k : -1;
}

char* slim_expert_range(char* buf, size_t n, int n_id, int n_experts) {
    int n_lora = n_experts - n_id;
    char lora[32] = "", ids[32] = "";
    if (n_lora == 1) snprintf(lora, sizeof lora, "LoRA 0");
    else if (n_lora > 1) snprintf(lora, sizeof lora, "LoRA 0..%d", n_lora - 1);
    if (n_id == 1) snprintf(ids, sizeof ids, "identity i0");
    else if (n_id > 1) snprintf(ids, sizeof ids, "identity i0..i%d", n_id - 1);
    snprintf(buf, n, "%s%s%s", lora, *lora && *ids ? " or " : "", ids);
    return buf;
}

void slim_run_init(SlimRun* r, const Adapter* a, int n_layers) {
    memset(r, 0, sizeof *r);
    r->mode = MODE_SLIM;
    r->cached_p = -1;
    if (a) {
        r->mask_ratio = a->mask_ratio;
        r->mask_seed = a->mask_seed;
        r->mask_refresh = a->mask_refresh;
    }
    r->force = xmalloc(n_layers * sizeof(int));
    r->layer_on = xmalloc(n_layers);
    for (int l = 0; l < n_layers; l++) {
        r->force[l] = -1;
        r->layer_on[l] = 1;
    }
}

void slim_run_free(SlimRun* r) {
    free(r->force);
    free(r->layer_on);
    free(r->masks);
    free(r->mask_idx);
    free(r->mask_packed);
    memset(r, 0, sizeof *r);
}

static uint64_t mask_epoch(const SlimRun* run, int pos) {
    return run->mask_refresh == REFRESH_PER_TOKEN ? (uint64_t)pos : run->mask_refresh == REFRESH_PER_STEP ? run->step : 0;
}

int slim_run_prepare(SlimRun* r, const Adapter* a, Err* err) {
    if (!(r->mask_ratio >= 0.0f && r->mask_ratio < 1.0f))
        return err_set(err, "mask ratio p = %g is outside [0, 1)", r->mask_ratio);
    r->cached_p = -1;
    if (!a || r->mask_refresh == REFRESH_PER_TOKEN) return 0;
    size_t total = 0, packed = 0;
    for (int l = 0; l < a->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            const LoraProj* lp = &a->layers[l].proj[p];
            if (!lp->A) continue;
            total += (size_t)a->n_lora * (lp->in + lp->out);
            packed += (size_t)a->n_lora * lp->r * (lp->in + lp->out);
        }
    free(r->masks);
    free(r->mask_idx);
    free(r->mask_packed);
    r->mask_packed = NULL;
    r->masks = xcalloc((size_t)a->n_layers * a->n_lora * PROJ_COUNT, sizeof(MaskSet));
    r->mask_idx = xmalloc((total ? total : 1) * sizeof(int));
    if (r->mask_ratio > 0) r->mask_packed = xmalloc((packed ? packed : 1) * sizeof(float));
    uint64_t epoch = mask_epoch(r, 0);
    int* next = r->mask_idx;
    float* next_packed = r->mask_packed;
    for (int l = 0; l < a->n_layers; l++)
        for (int k = 0; k < a->n_lora; k++)
            for (int p = 0; p < PROJ_COUNT; p++) {
                const LoraProj* lp = &a->layers[l].proj[p];
                if (!lp->A) continue;
                MaskSet* m = &r->masks[((size_t)l * a->n_lora + k) * PROJ_COUNT + p];
                m->rows = next;
                m->cols = next + lp->out;
                next += lp->out + lp->in;
                mask_build(m, lp->out, lp->in, r->mask_ratio, mask_key(r->mask_seed, l, a->n_id + k, p, epoch));
                if (!next_packed) continue;
                // pack A[:, kept cols] and B[kept rows, :] of expert k
                const float* A = lp->A + (size_t)k * lp->r * lp->in;
                const float* B = lp->B + (size_t)k * lp->out * lp->r;
                m->a_packed = next_packed;
                for (int j = 0; j < lp->r; j++)
                    for (int c = 0; c < m->n_col; c++) *next_packed++ = A[(size_t)j * lp->in + m->cols[c]];
                m->b_packed = next_packed;
                for (int i = 0; i < m->n_row; i++) {
                    memcpy(next_packed, B + (size_t)m->rows[i] * lp->r, lp->r * sizeof(float));
                    next_packed += lp->r;
                }
            }
    r->cached_p = r->mask_ratio;
    r->cached_seed = r->mask_seed;
    r->cached_epoch = epoch;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// routing

int slim_nearest(const float* x, const float* centers, const float* sigma, int n_clusters, int C, SlimDistance distance,
                 float* dist) {
    int best = 0;
    float best_d2 = INFINITY;
    for (int j = 0; j < n_clusters; j++) {  // 2. nearest centre by Euclidean distance, ties -> lowest j
        const float* c = centers + (size_t)j * C;
        float d2 = 0;
#pragma omp simd reduction(+ : d2)
        for (int i = 0; i < C; i++) {
            float t = x[i] - c[i];
            d2 += t * t;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = j;
        }
    }
    if (distance == DIST_RMS) {  // sqrt(||x - c_j*||^2 / C): no per-channel scales
        *dist = sqrtf(best_d2 / (float)C);
        return best;
    }
    // 3. d = max_c |x - c_j*| / sigma_j* - 1
    const float* c = centers + (size_t)best * C;
    const float* s = sigma + (size_t)best * C;
    float mx = 0;
#pragma omp simd reduction(max : mx)
    for (int i = 0; i < C; i++) {
        float t = fabsf(x[i] - c[i]) / s[i];
        mx = t > mx ? t : mx;
    }
    *dist = mx - 1.0f;
    return best;
}

void slim_route_measure(float* z, int* nearest, float* dist, const float* x, const Adapter* a, int l) {
    int E = a->n_experts, C = a->dim;
    const AdapterLayer* al = &a->layers[l];
    // 1. router logits z = W_r x (+ b_r)
    for (int e = 0; e < E; e++) {
        const float* wr = al->router_w + (size_t)e * C;
        float s = dot_f32(wr, x, C);
        if (al->router_b) s += al->router_b[e];
        z[e] = s;
    }
    // 2-3. nearest centre and distance
    *nearest = slim_nearest(x, al->centers, al->sigma, a->n_clusters, C, a->distance, dist);
}

YieldMap slim_yield_map(const Adapter* a, int l) {
    YieldMap y = {a->yield_scale, 0.0f, 1.0f};
    const float* q = a->layers[l].yield_q;
    if (a->yield_calibration == YCAL_QUANTILE && q) {
        y.offset = q[0];
        y.span = q[1] - q[0] > 1e-6f ? q[1] - q[0] : 1e-6f;  // the loader checks q50 < q90; training may not yet
    }
    return y;
}

float slim_yield(YieldMap y, float d) { return y.gamma * (d - y.offset) / y.span; }

float slim_yield_inverse(YieldMap y, float offset) { return y.gamma == 0 ? NAN : y.offset + offset * y.span / y.gamma; }

void slim_route(Route* o, const float* x, const Adapter* a, const SlimRun* run, int l) {
    if (a->type == ADAPTER_SLIM) slim_route_measure(o->z, &o->nearest, &o->dist, x, a, l);
    slim_route_decide(o, a, run, l);
}

void slim_route_decide(Route* o, const Adapter* a, const SlimRun* run, int l) {
    int E = a->n_experts;
    const AdapterLayer* al = &a->layers[l];
    int on = al->active && run->mode != MODE_OFF && (!run->layer_on || run->layer_on[l]);
    if (a->type == ADAPTER_LORA) {  // one always-on expert, no router
        o->z[0] = o->zy[0] = 0;
        o->pi[0] = 1;
        o->w[0] = on && run->mode != MODE_IDENTITY_ONLY ? 1.0f : 0.0f;
        o->nearest = -1;
        o->dist = 0;
        o->id_share = 1.0f - o->w[0];
        return;
    }
    // 4. yield: identity logits move by gamma * d (calibrated: slim_yield_map); lora-only drops identity experts and the yield
    int lora_only = run->mode == MODE_LORA_ONLY, id_only = run->mode == MODE_IDENTITY_ONLY;
    int lo = lora_only ? a->n_id : 0, hi = id_only ? a->n_id : E;
    float yield = slim_yield(slim_yield_map(a, l), o->dist);
    for (int e = 0; e < E; e++) o->zy[e] = o->z[e] + (e < a->n_id && !lora_only ? yield : 0.0f);
    // 5. softmax over the allowed experts, top-k by pi (ties -> lower index), renormalise
    float mx = -INFINITY;
    for (int e = lo; e < hi; e++) mx = o->zy[e] > mx ? o->zy[e] : mx;
    double sum = 0;
    for (int e = 0; e < E; e++) {
        o->pi[e] = e >= lo && e < hi ? expf(o->zy[e] - mx) : 0.0f;
        sum += o->pi[e];
    }
    for (int e = 0; e < E; e++) o->pi[e] = (float)(o->pi[e] / sum);
    for (int e = 0; e < E; e++) o->w[e] = 0;
    int k = a->top_k < hi - lo ? a->top_k : hi - lo;
    double kept = 0;
    for (int n = 0; n < k; n++) {
        int best = -1;
        for (int e = lo; e < hi; e++)
            if (o->w[e] == 0 && (best < 0 || o->pi[e] > o->pi[best])) best = e;  // strict >: lower index wins ties
        o->w[best] = 1;  // mark as kept
        kept += o->pi[best];
    }
    for (int e = 0; e < E; e++) o->w[e] = o->w[e] != 0 ? (float)(o->pi[e] / kept) : 0.0f;
    if (run->force && run->force[l] >= 0 && run->force[l] < E) {  // intervention: one expert takes all
        for (int e = 0; e < E; e++) o->w[e] = e == run->force[l] ? 1.0f : 0.0f;
    }
    // 6. identity share
    o->id_share = 0;
    for (int e = 0; e < a->n_id; e++) o->id_share += o->w[e];
    if (!on) {  // adapter off here: the router is shown but nothing is applied
        for (int e = 0; e < E; e++) o->w[e] = 0;
        o->id_share = 1;
    }
    if (id_only) o->id_share = 1;
}

// ---------------------------------------------------------------------------------------------
// dynamic merge

size_t slim_scratch_floats(int r, int max_io) { return (size_t)r + 3 * (size_t)max_io + 2 * (size_t)r * max_io; }

// delta += B' (f * A' vg): A' (r, nc), B' (nr, r), rows[i] the output row of B' row i. Every path
// (p = 0, packed masks, masks drawn on the fly) goes through here with the same sgemv shapes, so
// p = 0 and a mask that keeps everything give the same bits.
static void lora_product(float* delta, const float* ap, const float* vg, const float* bp, const int* rows, int nr, int nc,
                         int r, float f, float* h, float* tmp) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, r, nc, f, ap, nc, vg, 1, 0.0f, h, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, nr, r, 1.0f, bp, r, h, 1, 0.0f, tmp, 1);
    if (rows)
        for (int i = 0; i < nr; i++) delta[rows[i]] += tmp[i];
    else
        for (int i = 0; i < nr; i++) delta[i] += tmp[i];
}

float slim_apply_proj(float* y, const float* v, const Adapter* a, const SlimRun* run, int l, Proj p, const float* w,
                      int pos, float* scratch, int* iscratch) {
    const LoraProj* lp = &a->layers[l].proj[p];
    if (!lp->A) return 0.0f;
    int r = lp->r, in = lp->in, out = lp->out;
    float* h = scratch;                     // (r)   f * A' v
    float* delta = h + r;                   // (out) sum of the experts' deltas
    float* tmp = delta + out;               // (out) one expert's B' h
    float* vg = tmp + out;                  // (in)  v gathered at the kept columns
    float* ag = vg + in;                    // (r, in)  A' gathered on the fly
    float* bg = ag + (size_t)r * in;        // (out, r) B' gathered on the fly
    float pr = run->mask_ratio;
    int any = 0;
    for (int k = 0; k < a->n_lora; k++) {
        float wk = w ? w[a->n_id + k] : 1.0f;
        if (wk == 0.0f) continue;
        const float* A = lp->A + (size_t)k * r * in;
        const float* B = lp->B + (size_t)k * out * r;
        if (!any) memset(delta, 0, out * sizeof(float));
        any = 1;
        if (pr <= 0.0f) {  // p = 0: the plain adapter, no masking, no rescale
            lora_product(delta, A, v, B, NULL, out, in, r, wk * lp->scale, h, tmp);
            continue;
        }
        // masked: only kept columns of A and kept rows of B take part (SLIM.md section 4)
        MaskSet local = {0}, *m;
        uint64_t epoch = mask_epoch(run, pos);
        if (run->masks && run->cached_p == pr && run->cached_seed == run->mask_seed && run->cached_epoch == epoch &&
            run->mask_refresh != REFRESH_PER_TOKEN) {
            m = &run->masks[((size_t)l * a->n_lora + k) * PROJ_COUNT + p];
        } else {
            local.rows = iscratch;
            local.cols = iscratch + out;
            mask_build(&local, out, in, pr, mask_key(run->mask_seed, l, a->n_id + k, p, epoch));
            m = &local;
        }
        for (int c = 0; c < m->n_col; c++) vg[c] = v[m->cols[c]];
        const float *ap = m->a_packed, *bp = m->b_packed;
        if (!ap) {  // masks drawn on the fly (per token): gather the kept parts first
            for (int j = 0; j < r; j++)
                for (int c = 0; c < m->n_col; c++) ag[(size_t)j * m->n_col + c] = A[(size_t)j * in + m->cols[c]];
            for (int i = 0; i < m->n_row; i++) memcpy(bg + (size_t)i * r, B + (size_t)m->rows[i] * r, r * sizeof(float));
            ap = ag;
            bp = bg;
        }
        lora_product(delta, ap, vg, bp, m->rows, m->n_row, m->n_col, r, wk * lp->scale * m->rescale, h, tmp);
    }
    if (!any) return 0.0f;
    double n2 = 0;
    for (int i = 0; i < out; i++) {
        y[i] += delta[i];
        n2 += (double)delta[i] * delta[i];
    }
    return (float)n2;
}

// train_adapter.c: the adapter inside the training model: the masked copies of A and B for a step,
// the sliding clusters (shared/SLIM.md section 5), and the forward and backward of the SLIM / LoRA /
// MoE-LoRA delta on one projection.
#include "train_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// masks (train_mask_ratio > 0): masked copies of A and B for this step, keyed as slim.c keys them

static void build_mask(const Trainer* t, MaskSet* ms, int* ibuf, int l, int k, int p) {
    const LoraProj* lp = &t->adapter->layers[l].proj[p];
    ms->rows = ibuf;
    ms->cols = ibuf + lp->out;
    mask_build(ms, lp->out, lp->in, t->run.mask_ratio,
               mask_key(t->run.mask_seed, l, t->adapter->n_id + k, p, t->run.step));
}

// Writes A' (dropped columns zeroed) and B' (dropped rows zeroed) into the mask storage.
void train_prepare_masks(Trainer* t, int* ibuf) {
    const Adapter* a = t->adapter;
    for (int l = 0; l < a->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            const LoraProj* lp = &a->layers[l].proj[p];
            LoraProj* mp = &t->madapter.layers[l].proj[p];
            if (!lp->A) continue;
            for (int k = 0; k < a->n_lora; k++) {
                MaskSet ms;
                build_mask(t, &ms, ibuf, l, k, p);
                float* A = mp->A + (size_t)k * lp->r * lp->in;
                float* B = mp->B + (size_t)k * lp->out * lp->r;
                memset(A, 0, (size_t)lp->r * lp->in * sizeof(float));
                memset(B, 0, (size_t)lp->out * lp->r * sizeof(float));
                for (int j = 0; j < lp->r; j++)
                    for (int c = 0; c < ms.n_col; c++)
                        A[(size_t)j * lp->in + ms.cols[c]] = lp->A[(size_t)k * lp->r * lp->in + (size_t)j * lp->in + ms.cols[c]];
                for (int i = 0; i < ms.n_row; i++)
                    memcpy(B + (size_t)ms.rows[i] * lp->r, lp->B + (size_t)k * lp->out * lp->r + (size_t)ms.rows[i] * lp->r,
                           lp->r * sizeof(float));
            }
        }
}

// ---------------------------------------------------------------------------------------------
// sliding clusters (SLIM.md section 5)

// Centres: N distinct token states of the first batch (drawn in a seeded order); var: the batch's
// per-channel variance; sigma = sqrt(var + 1e-6).
void train_clusters_init(Trainer* t, int l, const float* x, const int* real, int n_real) {
    const Adapter* a = t->adapter;
    int N = a->n_clusters, C = t->C;
    AdapterLayer* al = &a->layers[l];
    float* var = t->cluster_var + (size_t)l * N * C;
    if (n_real <= 0) {  // nothing but padding: unit scales around the origin until real tokens come
        for (size_t i = 0; i < (size_t)N * C; i++) var[i] = 1.0f, al->sigma[i] = 1.0f, al->centers[i] = 0.0f;
        return;
    }
    double* mean = xcalloc(C, sizeof(double));
    double* sq = xcalloc(C, sizeof(double));
    for (int i = 0; i < n_real; i++)
        for (int c = 0; c < C; c++) {
            double v = x[(size_t)real[i] * C + c];
            mean[c] += v;
            sq[c] += v * v;
        }
    for (int c = 0; c < C; c++) {
        double mu = mean[c] / n_real, vv = sq[c] / n_real - mu * mu;
        var[c] = (float)(vv > 0 ? vv : 0);
    }
    for (int j = 1; j < N; j++) memcpy(var + (size_t)j * C, var, C * sizeof(float));
    // a seeded shuffle of the real tokens, then the first N distinct states
    int* order = xmalloc(n_real * sizeof(int));
    memcpy(order, real, n_real * sizeof(int));
    Rng r;
    rng_seed(&r, t->tc.seed * 31 + (uint64_t)l + 7);
    for (int i = n_real - 1; i > 0; i--) {
        int j = (int)(rng_u64(&r) % (uint64_t)(i + 1));
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    int got = 0;
    for (int i = 0; i < n_real && got < N; i++) {
        const float* xi = x + (size_t)order[i] * C;
        int dup = 0;
        for (int j = 0; j < got && !dup; j++) dup = memcmp(al->centers + (size_t)j * C, xi, C * sizeof(float)) == 0;
        if (!dup) memcpy(al->centers + (size_t)got++ * C, xi, C * sizeof(float));
    }
    for (int j = got; j < N; j++)  // fewer distinct states than centres: repeat (ties go to the lower index)
        memcpy(al->centers + (size_t)j * C, al->centers + (size_t)(j % (got ? got : 1)) * C, C * sizeof(float));
    for (size_t i = 0; i < (size_t)N * C; i++) al->sigma[i] = sqrtf(var[i] + 1e-6f);
    free(order);
    free(mean);
    free(sq);
}

// For every real token in order: j* = nearest centre; delta = x - c; c += m delta;
// var = (1 - m) var + m delta^2 (delta before the move); sigma = sqrt(var + 1e-6).
void train_clusters_update(Trainer* t, int l, const float* x, const int* real, int n_real) {
    const Adapter* a = t->adapter;
    int N = a->n_clusters, C = t->C;
    AdapterLayer* al = &a->layers[l];
    float* var = t->cluster_var + (size_t)l * N * C;
    float m = a->cluster_momentum;
    for (int i = 0; i < n_real; i++) {
        const float* xi = x + (size_t)real[i] * C;
        float d;
        int j = slim_nearest(xi, al->centers, al->sigma, N, C, a->distance, &d);
        float* c = al->centers + (size_t)j * C;
        float* v = var + (size_t)j * C;
        float* s = al->sigma + (size_t)j * C;
        for (int k = 0; k < C; k++) {
            float delta = xi[k] - c[k];
            c[k] += m * delta;
            v[k] = (1 - m) * v[k] + m * delta * delta;
            s[k] = sqrtf(v[k] + 1e-6f);
        }
    }
}

static int cmp_float(const void* a, const void* b) {
    float x = *(const float*)a, y = *(const float*)b;
    return x < y ? -1 : x > y;
}

float train_quantile(float* v, int n, float tau) {
    if (n <= 0) return 0.0f;
    qsort(v, n, sizeof(float), cmp_float);
    double pos = tau * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    return (float)(v[i] + (pos - i) * (v[i + 1] - v[i]));
}

// q50, q90 of the distances of the real tokens; 0 when the batch has none (kept as they were).
static int batch_quantiles(const float* dist, const int* real, int n_real, float q[2]) {
    if (n_real <= 0) return 0;
    float* v = xmalloc(n_real * sizeof(float));
    for (int i = 0; i < n_real; i++) v[i] = dist[real[i]];
    q[0] = train_quantile(v, n_real, 0.5f);
    q[1] = train_quantile(v, n_real, 0.9f);
    free(v);
    return 1;
}

void train_yield_quantiles_init(Trainer* t, int l, const float* x, const int* real, int n_real) {
    const Adapter* a = t->adapter;
    AdapterLayer* al = &a->layers[l];
    if (!al->yield_q) return;
    al->yield_q[0] = 0.0f, al->yield_q[1] = 1.0f;  // no real token yet: the paper's map
    float* d = xmalloc((size_t)(n_real > 0 ? n_real : 1) * sizeof(float));
    int* idx = xmalloc((size_t)(n_real > 0 ? n_real : 1) * sizeof(int));
    for (int i = 0; i < n_real; i++) {
        slim_nearest(x + (size_t)real[i] * t->C, al->centers, al->sigma, a->n_clusters, t->C, a->distance, &d[i]);
        idx[i] = i;
    }
    batch_quantiles(d, idx, n_real, al->yield_q);
    free(d);
    free(idx);
}

void train_yield_quantiles_update(Trainer* t, int l, const float* dist, const int* real, int n_real) {
    const Adapter* a = t->adapter;
    AdapterLayer* al = &a->layers[l];
    float q[2], m = a->cluster_momentum;
    if (!al->yield_q || !batch_quantiles(dist, real, n_real, q)) return;
    for (int k = 0; k < 2; k++) al->yield_q[k] = (1 - m) * al->yield_q[k] + m * q[k];
}

// ---------------------------------------------------------------------------------------------
// the adapter on one projection

typedef struct {
    const float* A;  // expert k's A (masked copy when masking)
    const float* B;
    float scale;     // s * rescale
} ExpertMats;

static void expert_mats(const Trainer* t, int l, int k, int p, ExpertMats* em, int* ibuf) {
    const LoraProj* lp = &t->adapter->layers[l].proj[p];
    const LoraProj* src = t->mask_storage ? &t->madapter.layers[l].proj[p] : lp;
    em->A = src->A + (size_t)k * lp->r * lp->in;
    em->B = src->B + (size_t)k * lp->out * lp->r;
    em->scale = lp->scale;
    if (t->mask_storage) {
        MaskSet ms;
        build_mask(t, &ms, ibuf, l, k, p);
        em->scale = lp->scale * ms.rescale;  // the same product slim_apply_proj forms: w * s * rescale
    }
}

// y (BT, out) += the adapter's delta on projection p of block l for input v (BT, in).
void train_adapter_forward(Trainer* t, ActViews* av, int l, int p, float* y, const float* v, int BT) {
    const Adapter* a = t->adapter;
    int s = train_lora_slot(t, p);
    if (!a || s < 0 || !a->layers[l].proj[p].A) return;
    const LoraProj* lp = &a->layers[l].proj[p];
    int np = 0;
    for (int q = 0; q < PROJ_COUNT; q++) np += (a->target_mask >> q) & 1;
    size_t cap = (size_t)t->tc.batch * t->tc.seq_len * t->K;
    float* h = av->a[A_LORA_H] + ((size_t)l * np + s) * cap * lp->r;
    int* ibuf = av->i[I_MASK];
    for (int k = 0; k < a->n_lora; k++) {
        ExpertMats em;
        expert_mats(t, l, k, p, &em, ibuf);
        if (a->type == ADAPTER_LORA) {
            lora_forward(y, h, av->a[A_LSCRATCH], v, NULL, NULL, BT, em.A, em.B, em.scale, lp->in, lp->out, lp->r);
            continue;
        }
        int n = av->i[I_LORA_N][(size_t)l * a->n_lora + k];
        const int* idx = av->i[I_LORA_IDX] + ((size_t)l * a->n_lora + k) * t->tc.batch * t->tc.seq_len;
        const float* w = av->a[A_LORA_W] + ((size_t)l * a->n_lora + k) * t->tc.batch * t->tc.seq_len;
        lora_forward(y, h, av->a[A_LSCRATCH], v, idx, w, n, em.A, em.B, em.scale, lp->in, lp->out, lp->r);
        h += (size_t)n * lp->r;
    }
}

// Backward of train_adapter_forward: dv += ..., LoRA grads, and dw (BT, E) += d loss / d w.
void train_adapter_backward(Trainer* t, ActViews* av, int l, int p, float* dv, const float* dy, const float* v,
                                  int BT) {
    const Adapter* a = t->adapter;
    int s = train_lora_slot(t, p);
    if (!a || s < 0 || !a->layers[l].proj[p].A) return;
    const LoraProj* lp = &a->layers[l].proj[p];
    const LoraProj* gp = &t->gadapter.layers[l].proj[p];
    int np = 0;
    for (int q = 0; q < PROJ_COUNT; q++) np += (a->target_mask >> q) & 1;
    size_t cap = (size_t)t->tc.batch * t->tc.seq_len * t->K, BTmax = (size_t)t->tc.batch * t->tc.seq_len;
    const float* h = av->a[A_LORA_H] + ((size_t)l * np + s) * cap * lp->r;
    int* ibuf = av->i[I_MASK];
    size_t nA = (size_t)lp->r * lp->in, nB = (size_t)lp->out * lp->r;
    for (int k = 0; k < a->n_lora; k++) {
        ExpertMats em;
        expert_mats(t, l, k, p, &em, ibuf);
        float* dA = gp->A + (size_t)k * nA;
        float* dB = gp->B + (size_t)k * nB;
        float* tA = dA;
        float* tB = dB;
        if (t->mask_storage) {  // gradients of the masked copies, masked again on the way to A and B
            tA = av->a[A_DAB];
            tB = tA + nA;
            memset(tA, 0, (nA + nB) * sizeof(float));
        }
        int n;
        if (a->type == ADAPTER_LORA) {
            n = BT;
            lora_backward(dv, tA, tB, NULL, dy, v, NULL, NULL, h, BT, em.A, em.B, em.scale, lp->in, lp->out, lp->r,
                          av->a[A_LSCRATCH]);
        } else {
            n = av->i[I_LORA_N][(size_t)l * a->n_lora + k];
            const int* idx = av->i[I_LORA_IDX] + ((size_t)l * a->n_lora + k) * BTmax;
            const float* w = av->a[A_LORA_W] + ((size_t)l * a->n_lora + k) * BTmax;
            float* dwl = av->a[A_DWL];
            memset(dwl, 0, n * sizeof(float));
            lora_backward(dv, tA, tB, dwl, dy, v, idx, w, h, n, em.A, em.B, em.scale, lp->in, lp->out, lp->r,
                          av->a[A_LSCRATCH]);
            float* dw = av->a[A_DW];
            for (int i = 0; i < n; i++) dw[(size_t)idx[i] * t->E + a->n_id + k] += dwl[i];
        }
        if (t->mask_storage) {
            MaskSet ms;
            build_mask(t, &ms, ibuf, l, k, p);
            for (int j = 0; j < lp->r; j++)
                for (int c = 0; c < ms.n_col; c++) dA[(size_t)j * lp->in + ms.cols[c]] += tA[(size_t)j * lp->in + ms.cols[c]];
            for (int i = 0; i < ms.n_row; i++)
                for (int j = 0; j < lp->r; j++) dB[(size_t)ms.rows[i] * lp->r + j] += tB[(size_t)ms.rows[i] * lp->r + j];
        }
        h += (size_t)n * lp->r;
    }
}


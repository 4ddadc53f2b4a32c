// train.c: the training model. Owns the parameter/gradient/AdamW buffers (mirrors of the model's
// or the adapter's single storage, so the same offsets address a weight, its gradient and its
// moments), the activations (one allocation sliced by a size table, llm.c style), the training
// forward and backward of a Llama block with SLIM / LoRA / MoE-LoRA on its projections, the sliding
// clusters (shared/SLIM.md section 5) and the optimiser step. The op pairs live in train_ops.c;
// checkpoints, the progress log and the bench in train_io.c.
#include "train.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>


#define PAR(work) ((work) >= 32768)  // as in train_ops.c: small loops stay on one thread

// ---------------------------------------------------------------------------------------------
// configuration

static const char* METHOD_NAMES[] = {"pretrain", "lora", "moelora", "slim"};
const char* train_method_name(TrainMethod m) { return METHOD_NAMES[m]; }
int train_method_from_name(const char* s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, METHOD_NAMES[i]) == 0) return i;
    return -1;
}

void train_config_default(TrainConfig* c, TrainMethod m) {
    memset(c, 0, sizeof *c);
    c->method = m;
    c->batch = 8;
    c->seq_len = m == TRAIN_PRETRAIN ? 256 : 128;
    c->accum = 1;
    c->steps = 1000;
    c->warmup = m == TRAIN_PRETRAIN ? 100 : 20;
    c->lr = m == TRAIN_PRETRAIN ? 1e-3f : 1e-3f;
    c->min_lr_frac = 0.1f;
    c->weight_decay = m == TRAIN_PRETRAIN ? 0.1f : 0.0f;
    c->beta1 = 0.9f;
    c->beta2 = m == TRAIN_PRETRAIN ? 0.95f : 0.999f;
    c->adam_eps = 1e-8f;
    c->grad_clip = 1.0f;
    c->seed = 1337;
    c->update_clusters = 1;
    c->init_std = 0.02f;
}

float train_lr(const TrainConfig* c, int step) {
    if (c->warmup > 0 && step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    int decay_steps = c->steps - c->warmup;
    if (decay_steps <= 0) return c->lr;
    double ratio = (double)(step - c->warmup) / decay_steps;
    if (ratio > 1) ratio = 1;
    double coeff = 0.5 * (1.0 + cos(M_PI * ratio));  // 1 -> 0
    double min_lr = c->lr * c->min_lr_frac;
    return (float)(min_lr + coeff * (c->lr - min_lr));
}

// ---------------------------------------------------------------------------------------------
// initialisation

void trainer_init_model_weights(Model* m, float std, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    int n = model_tensor_count(m);
    float res_scale = 1.0f / sqrtf(2.0f * m->cfg.n_layers);  // GPT-2: residual projections scaled down
    for (int i = 0; i < n; i++) {
        char name[256];
        float* p;
        int ndim;
        int64_t shape[2];
        model_tensor_info(m, i, name, sizeof name, &p, &ndim, shape);
        size_t numel = (size_t)shape[0] * (ndim == 2 ? shape[1] : 1);
        int is_norm = strstr(name, "norm") != NULL;
        float s = strstr(name, "o_proj") || strstr(name, "down_proj") ? std * res_scale : std;
        for (size_t k = 0; k < numel; k++) p[k] = is_norm ? 1.0f : ndim == 1 ? 0.0f : s * rng_normal(&r);
    }
}

void trainer_init_adapter(Adapter* a, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed ^ 0x5eedada7ull);
    for (int l = 0; l < a->n_layers; l++) {
        AdapterLayer* al = &a->layers[l];
        if (!al->active) continue;
        if (al->router_w)
            for (size_t i = 0; i < (size_t)a->n_experts * a->dim; i++) al->router_w[i] = 0.02f * rng_normal(&r);
        if (al->router_b) memset(al->router_b, 0, a->n_experts * sizeof(float));
        for (int p = 0; p < PROJ_COUNT; p++) {
            LoraProj* lp = &al->proj[p];
            if (!lp->A) continue;
            // PEFT: kaiming_uniform_(A, a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)); B = 0
            float bound = 1.0f / sqrtf((float)lp->in);
            for (size_t i = 0; i < (size_t)a->n_lora * lp->r * lp->in; i++) lp->A[i] = bound * (2 * rng_uniform(&r) - 1);
            memset(lp->B, 0, (size_t)a->n_lora * lp->out * lp->r * sizeof(float));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// views: a Model / Adapter whose pointers address another storage at the same offsets

static float* rebase(const float* p, const float* from, float* to) { return p ? to + (p - from) : NULL; }

static void model_view(Model* v, const Model* m, float* storage) {
    *v = *m;
    v->storage = storage;
    v->layers = xmalloc(m->cfg.n_layers * sizeof(LayerWeights));
    v->embed.data = rebase(weight_f32(&m->embed), m->storage, storage);
    v->final_norm = rebase(m->final_norm, m->storage, storage);
    v->lm_head.data = rebase(weight_f32(&m->lm_head), m->storage, storage);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        LayerWeights* d = &v->layers[l];
        const LayerWeights* s = &m->layers[l];
        d->attn_norm = rebase(s->attn_norm, m->storage, storage);
        d->mlp_norm = rebase(s->mlp_norm, m->storage, storage);
        for (int p = 0; p < PROJ_COUNT; p++) {
            d->w[p] = s->w[p];
            d->w[p].data = rebase(weight_f32(&s->w[p]), m->storage, storage);
            d->b[p] = rebase(s->b[p], m->storage, storage);
        }
    }
}

static void adapter_view(Adapter* v, const Adapter* a, float* storage) {
    *v = *a;
    v->storage = storage;
    v->layers = xmalloc(a->n_layers * sizeof(AdapterLayer));
    for (int l = 0; l < a->n_layers; l++) {
        AdapterLayer* d = &v->layers[l];
        const AdapterLayer* s = &a->layers[l];
        *d = *s;
        d->router_w = rebase(s->router_w, a->storage, storage);
        d->router_b = rebase(s->router_b, a->storage, storage);
        d->centers = rebase(s->centers, a->storage, storage);
        d->sigma = rebase(s->sigma, a->storage, storage);
        for (int p = 0; p < PROJ_COUNT; p++) {
            d->proj[p].A = rebase(s->proj[p].A, a->storage, storage);
            d->proj[p].B = rebase(s->proj[p].B, a->storage, storage);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// parameter groups

static void add_group(Trainer* t, const char* name, const float* p, size_t n, int decay) {
    if (!p || !n) return;
    t->groups = xrealloc(t->groups, (t->n_groups + 1) * sizeof(ParamGroup));
    ParamGroup* g = &t->groups[t->n_groups++];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->off = (size_t)(p - t->params);
    g->n = n;
    g->decay = decay;
}

static void build_groups(Trainer* t) {
    if (!t->adapter) {  // pretraining: every tensor; decay on matrices (embeddings, projections, lm_head)
        int n = model_tensor_count(t->model);
        for (int i = 0; i < n; i++) {
            char name[256];
            float* p;
            int ndim;
            int64_t shape[2];
            model_tensor_info(t->model, i, name, sizeof name, &p, &ndim, shape);
            add_group(t, name, p, (size_t)shape[0] * (ndim == 2 ? shape[1] : 1), ndim == 2);
        }
        return;
    }
    // fine-tuning: routers and LoRA A/B; decay on all of them except the router bias; the clusters
    // (centres, sigma) are not trained by gradient (SLIM.md section 5)
    const Adapter* a = t->adapter;
    for (int l = 0; l < a->n_layers; l++) {
        const AdapterLayer* al = &a->layers[l];
        if (!al->active) continue;
        char name[128];
        snprintf(name, sizeof name, "layers.%d.router.weight", l);
        add_group(t, name, al->router_w, (size_t)a->n_experts * a->dim, 1);
        snprintf(name, sizeof name, "layers.%d.router.bias", l);
        add_group(t, name, al->router_b, a->n_experts, 0);
        for (int p = 0; p < PROJ_COUNT; p++) {
            const LoraProj* lp = &al->proj[p];
            if (!lp->A) continue;
            snprintf(name, sizeof name, "layers.%d.%s.lora_A", l, PROJ_NAMES[p]);
            add_group(t, name, lp->A, (size_t)a->n_lora * lp->r * lp->in, 1);
            snprintf(name, sizeof name, "layers.%d.%s.lora_B", l, PROJ_NAMES[p]);
            add_group(t, name, lp->B, (size_t)a->n_lora * lp->out * lp->r, 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// activations: a size table, one allocation (llm.c's ActivationTensors)

enum {
    A_RES, A_LN1, A_LN1_RSTD, A_Q, A_K, A_V, A_ATT, A_ATTY, A_RES_MID, A_LN2, A_LN2_RSTD, A_GATE, A_UP, A_HMIX,
    A_LNF, A_LNF_RSTD, A_LOGITS, A_LOSSES,
    A_RZ, A_RZY, A_RPI, A_RW, A_RDIST, A_LORA_H, A_LORA_W,
    // backward scratch (one layer at a time)
    A_DRES, A_DLN, A_DATTY, A_DQR, A_DQ, A_DKR, A_DK, A_DV, A_DGATE, A_DUP, A_DHMIX, A_DW, A_DZ, A_DPI, A_DWL,
    A_LSCRATCH, A_DAB,
    A_COUNT
};
enum { I_TOKENS, I_TARGETS, I_POS, I_REAL, I_NEAREST, I_LORA_IDX, I_LORA_N, I_MASK, I_COUNT };

// Per (layer, projection) slot of the saved LoRA activations: -1 when the projection is untargeted.
static int lora_slot(const Trainer* t, int p) {
    if (!t->adapter || !(t->adapter->target_mask & (1u << p))) return -1;
    int s = 0;
    for (int q = 0; q < p; q++) s += (t->adapter->target_mask >> q) & 1;
    return s;
}

typedef struct {
    float* a[A_COUNT];
    int* i[I_COUNT];
} ActViews;

static void act_sizes(const Trainer* t, size_t* fs, size_t* is) {
    size_t B = t->tc.batch, T = t->tc.seq_len, BT = B * T, L = t->L, C = t->C, F = t->F, V = t->V;
    size_t qd = (size_t)t->Hq * t->D, kvd = (size_t)t->Hkv * t->D, E = t->E;
    const Adapter* a = t->adapter;
    size_t np = 0, r = a ? a->r : 0, El = a ? a->n_lora : 0, maxd = C > F ? C : F;
    maxd = maxd > qd ? maxd : qd;
    if (a)
        for (int p = 0; p < PROJ_COUNT; p++) np += (a->target_mask >> p) & 1;
    int slim = a && a->type == ADAPTER_SLIM;
    memset(fs, 0, A_COUNT * sizeof(size_t));
    memset(is, 0, I_COUNT * sizeof(size_t));
    fs[A_RES] = (L + 1) * BT * C;
    fs[A_LN1] = L * BT * C;
    fs[A_LN1_RSTD] = L * BT;
    fs[A_Q] = L * BT * qd;
    fs[A_K] = L * BT * kvd;
    fs[A_V] = L * BT * kvd;
    fs[A_ATT] = L * B * t->Hq * T * T;
    fs[A_ATTY] = L * BT * qd;
    fs[A_RES_MID] = L * BT * C;
    fs[A_LN2] = L * BT * C;
    fs[A_LN2_RSTD] = L * BT;
    fs[A_GATE] = L * BT * F;
    fs[A_UP] = L * BT * F;
    fs[A_HMIX] = L * BT * F;
    fs[A_LNF] = BT * C;
    fs[A_LNF_RSTD] = BT;
    fs[A_LOGITS] = BT * V;
    fs[A_LOSSES] = BT;
    if (slim) fs[A_RZ] = fs[A_RZY] = fs[A_RPI] = fs[A_RW] = L * BT * E;
    if (slim) fs[A_RDIST] = L * BT;
    fs[A_LORA_H] = L * np * BT * t->K * r;
    fs[A_LORA_W] = L * El * BT;
    fs[A_DRES] = BT * C;
    fs[A_DLN] = BT * C;
    fs[A_DATTY] = BT * qd;
    fs[A_DQR] = fs[A_DQ] = BT * qd;
    fs[A_DKR] = fs[A_DK] = fs[A_DV] = BT * kvd;
    fs[A_DGATE] = fs[A_DUP] = fs[A_DHMIX] = BT * F;
    if (slim) fs[A_DW] = fs[A_DZ] = fs[A_DPI] = BT * E;
    fs[A_DWL] = a ? BT : 0;
    fs[A_LSCRATCH] = a ? BT * (2 * maxd + maxd + 2 * r) : 0;
    fs[A_DAB] = a ? 2 * r * maxd : 0;
    is[I_TOKENS] = is[I_TARGETS] = is[I_POS] = BT;
    is[I_REAL] = BT;
    if (slim) is[I_NEAREST] = L * BT;
    is[I_LORA_IDX] = L * El * BT;
    is[I_LORA_N] = L * El;
    is[I_MASK] = a ? 2 * maxd : 0;
}

static void act_views(const Trainer* t, ActViews* v) {
    size_t fs[A_COUNT], is[I_COUNT];
    act_sizes(t, fs, is);
    float* p = t->acts_memory;
    for (int i = 0; i < A_COUNT; i++) {
        v->a[i] = fs[i] ? p : NULL;
        p += fs[i];
    }
    int* q = t->iacts_memory;
    for (int i = 0; i < I_COUNT; i++) {
        v->i[i] = is[i] ? q : NULL;
        q += is[i];
    }
}

// ---------------------------------------------------------------------------------------------
// init / free

int trainer_init(Trainer* t, Model* m, Adapter* a, const TrainConfig* tc, Err* err) {
    memset(t, 0, sizeof *t);
    const ModelConfig* c = &m->cfg;
    t->tc = *tc;
    t->model = m;
    t->adapter = a;
    t->L = c->n_layers, t->C = c->dim, t->F = c->hidden_dim, t->V = c->vocab_size;
    t->Hq = c->n_heads, t->Hkv = c->n_kv_heads, t->D = c->head_dim;
    if (tc->batch < 1 || tc->seq_len < 1 || tc->accum < 1)
        return err_set(err, "training: batch (%d), seq_len (%d) and accum (%d) must be >= 1", tc->batch, tc->seq_len,
                       tc->accum);
    if (c->head_dim % 2 || c->n_heads % c->n_kv_heads)
        return err_set(err, "%s: head_dim must be even and num_attention_heads a multiple of num_key_value_heads",
                       m->dir[0] ? m->dir : "model");
    if (!m->owns_all)
        return err_set(err, "%s: training needs the model's weights widened to float32 (load it with WEIGHTS_F32)",
                       m->dir[0] ? m->dir : "model");
    if (tc->train_mask_ratio < 0 || tc->train_mask_ratio >= 1)
        return err_set(err, "training: train_mask_ratio = %g is outside [0, 1)", tc->train_mask_ratio);
    if ((tc->method == TRAIN_PRETRAIN) != (a == NULL))
        return err_set(err, "training: method %s %s an adapter", train_method_name(tc->method),
                       a ? "does not take" : "needs");
    if (a) {
        if (a->n_layers != t->L || a->dim != t->C)
            return err_set(err, "adapter: made for %d blocks of hidden size %d, the model has %d of %d", a->n_layers,
                           a->dim, t->L, t->C);
        t->E = a->n_experts;
        t->K = a->type == ADAPTER_LORA ? 1 : (a->top_k < a->n_lora ? a->top_k : a->n_lora);
        t->params = a->storage;
        t->n_params = a->n_params;
        t->first_layer = t->L;
        for (int l = 0; l < t->L; l++)
            if (a->layers[l].active) {
                t->first_layer = l;
                break;
            }
    } else {
        t->params = m->storage;
        t->n_params = m->n_params;
        t->first_layer = 0;
    }
    t->balance_scale = 1.0f;
    t->grads = xcalloc(t->n_params, sizeof(float));
    t->adam_m = xcalloc(t->n_params, sizeof(float));
    t->adam_v = xcalloc(t->n_params, sizeof(float));
    if (a) {
        adapter_view(&t->gadapter, a, t->grads);
        if (tc->train_mask_ratio > 0) {
            t->mask_storage = xcalloc(t->n_params, sizeof(float));
            adapter_view(&t->madapter, a, t->mask_storage);
        }
        slim_run_init(&t->run, a, t->L);
        t->run.mode = MODE_SLIM;
        t->run.mask_ratio = tc->train_mask_ratio;
        t->run.mask_refresh = REFRESH_PER_STEP;
        t->run.mask_seed = a->mask_seed;
        if (a->type == ADAPTER_SLIM && a->n_clusters > 0)
            t->cluster_var = xcalloc((size_t)t->L * a->n_clusters * t->C, sizeof(float));
    } else {
        model_view(&t->gmodel, m, t->grads);
    }
    build_groups(t);
    size_t fs[A_COUNT], is[I_COUNT];
    act_sizes(t, fs, is);
    for (int i = 0; i < A_COUNT; i++) t->n_acts += fs[i];
    for (int i = 0; i < I_COUNT; i++) t->n_iacts += is[i];
    t->acts_memory = xcalloc(t->n_acts, sizeof(float));
    t->iacts_memory = xcalloc(t->n_iacts, sizeof(int));
    float* inv = xmalloc(t->D / 2 * sizeof(float));
    rope_inv_freq(inv, c);
    t->rope_cos = xmalloc((size_t)tc->seq_len * t->D / 2 * sizeof(float));
    t->rope_sin = xmalloc((size_t)tc->seq_len * t->D / 2 * sizeof(float));
    rope_tables(t->rope_cos, t->rope_sin, inv, 0, tc->seq_len, t->D);
    free(inv);
    return 0;
}

void trainer_free(Trainer* t) {
    free(t->grads);
    free(t->adam_m);
    free(t->adam_v);
    free(t->gmodel.layers);
    free(t->gadapter.layers);
    free(t->madapter.layers);
    free(t->mask_storage);
    free(t->groups);
    free(t->acts_memory);
    free(t->iacts_memory);
    free(t->rope_cos);
    free(t->rope_sin);
    free(t->cluster_var);
    if (t->adapter) slim_run_free(&t->run);
    memset(t, 0, sizeof *t);
}

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
static void prepare_masks(Trainer* t, int* ibuf) {
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
        int j = slim_nearest(xi, al->centers, al->sigma, N, C, &d);
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
static void adapter_proj_forward(Trainer* t, ActViews* av, int l, int p, float* y, const float* v, int BT) {
    const Adapter* a = t->adapter;
    int s = lora_slot(t, p);
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

// Backward of adapter_proj_forward: dv += ..., LoRA grads, and dw (BT, E) += d loss / d w.
static void adapter_proj_backward(Trainer* t, ActViews* av, int l, int p, float* dv, const float* dy, const float* v,
                                  int BT) {
    const Adapter* a = t->adapter;
    int s = lora_slot(t, p);
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

// ---------------------------------------------------------------------------------------------
// forward

static int attn_targeted(const Trainer* t, int l) {
    const Adapter* a = t->adapter;
    if (!a || a->type != ADAPTER_LORA || !a->layers[l].active) return 0;
    return (a->target_mask & ((1u << PROJ_Q) | (1u << PROJ_K) | (1u << PROJ_V) | (1u << PROJ_O))) != 0;
}

// SLIM routing of every token at block l (slim_route: the inference engine's own decision), the
// cluster updates, and the per-expert token lists.
static void route_block(Trainer* t, ActViews* av, int l, const float* x, int BT, int train, const int* real,
                        int n_real) {
    const Adapter* a = t->adapter;
    int E = t->E, El = a->n_lora;
    size_t BTmax = (size_t)t->tc.batch * t->tc.seq_len;
    int* cnt = av->i[I_LORA_N] + (size_t)l * El;
    int* idx = av->i[I_LORA_IDX] + (size_t)l * El * BTmax;
    float* wl = av->a[A_LORA_W] + (size_t)l * El * BTmax;
    if (a->type == ADAPTER_LORA) return;  // one always-on expert: the fast path, no lists
    // the first forward (normally the first training batch) sets the centres; an evaluation
    // before any training would otherwise route against all-zero centres and sigma
    if (!t->clusters_ready && a->n_clusters > 0) train_clusters_init(t, l, x, real, n_real);
    float* rz = av->a[A_RZ] + (size_t)l * BTmax * E;
    float* rzy = av->a[A_RZY] + (size_t)l * BTmax * E;
    float* rpi = av->a[A_RPI] + (size_t)l * BTmax * E;
    float* rw = av->a[A_RW] + (size_t)l * BTmax * E;
    float* rd = av->a[A_RDIST] + (size_t)l * BTmax;
    int* nearest = av->i[I_NEAREST] + (size_t)l * BTmax;
#pragma omp parallel for schedule(static) if (PAR((size_t)BT * t->C * E))
    for (int n = 0; n < BT; n++) {
        Route r = {rz + (size_t)n * E, rzy + (size_t)n * E, rpi + (size_t)n * E, rw + (size_t)n * E, 0, 0, 0};
        slim_route(&r, x + (size_t)n * t->C, a, &t->run, l);
        nearest[n] = r.nearest;
        rd[n] = r.dist;
    }
    if (train && t->tc.update_clusters && a->n_clusters > 0) train_clusters_update(t, l, x, real, n_real);
    for (int k = 0; k < El; k++) {
        int c = 0;
        for (int n = 0; n < BT; n++) {
            float w = rw[(size_t)n * E + a->n_id + k];
            if (w != 0.0f) {
                idx[(size_t)k * BTmax + c] = n;
                wl[(size_t)k * BTmax + c] = w;
                c++;
            }
        }
        cnt[k] = c;
    }
}

double trainer_forward(Trainer* t, const Batch* b, int train, int* n_valid) {
    double t0 = now_seconds();
    ops_set_threads(0);  // OpenBLAS single-threaded inside training (see train_ops.c mm())
    ActViews av;
    act_views(t, &av);
    const Model* m = t->model;
    const Adapter* a = t->adapter;
    int B = b->B, T = b->T, BT = B * T, C = t->C, F = t->F, V = t->V, L = t->L;
    int qd = t->Hq * t->D, kvd = t->Hkv * t->D;
    size_t BTmax = (size_t)t->tc.batch * t->tc.seq_len;
    float eps = m->cfg.norm_eps;
    if (B < 1 || T < 1 || B > t->tc.batch || T > t->tc.seq_len) {  // the buffers were sized by trainer_init
        fprintf(stderr, "trainer_forward: batch %d x %d exceeds the trainer's %d x %d\n", B, T, t->tc.batch, t->tc.seq_len);
        if (n_valid) *n_valid = 0;
        t->cur_has_acts = 0;
        return NAN;
    }
    int* tokens = av.i[I_TOKENS];
    int* targets = av.i[I_TARGETS];
    int* pos = av.i[I_POS];
    int* real = av.i[I_REAL];
    memcpy(tokens, b->tokens, BT * sizeof(int));
    memcpy(targets, b->targets, BT * sizeof(int));
    int n_real = 0;
    for (int n = 0; n < BT; n++) {
        pos[n] = n % T;
        if (!b->lens || pos[n] < b->lens[n / T]) real[n_real++] = n;
    }
    if (a) {
        t->run.step = t->step;
        if (t->mask_storage) prepare_masks(t, av.i[I_MASK]);
    }
    float* res = av.a[A_RES];
    embedding_forward(res, tokens, &m->embed, BT);
    for (int l = 0; l < L; l++) {
        const LayerWeights* w = &m->layers[l];
        float* x = res + (size_t)l * BTmax * C;
        float* ln1 = av.a[A_LN1] + (size_t)l * BTmax * C;
        float* ln1_rstd = av.a[A_LN1_RSTD] + (size_t)l * BTmax;
        float* q = av.a[A_Q] + (size_t)l * BTmax * qd;
        float* k = av.a[A_K] + (size_t)l * BTmax * kvd;
        float* v = av.a[A_V] + (size_t)l * BTmax * kvd;
        float* att = av.a[A_ATT] + (size_t)l * BTmax * t->Hq * t->tc.seq_len;
        float* atty = av.a[A_ATTY] + (size_t)l * BTmax * qd;
        float* res_mid = av.a[A_RES_MID] + (size_t)l * BTmax * C;
        float* ln2 = av.a[A_LN2] + (size_t)l * BTmax * C;
        float* ln2_rstd = av.a[A_LN2_RSTD] + (size_t)l * BTmax;
        float* gate = av.a[A_GATE] + (size_t)l * BTmax * F;
        float* up = av.a[A_UP] + (size_t)l * BTmax * F;
        float* hmix = av.a[A_HMIX] + (size_t)l * BTmax * F;
        float* out = res + (size_t)(l + 1) * BTmax * C;
        int adapted = a && a->layers[l].active;

        // attention: x -> rmsnorm -> q, k, v (+ bias, + LoRA) -> RoPE -> causal attention -> o_proj -> residual
        rmsnorm_forward(ln1, ln1_rstd, x, w->attn_norm, BT, C, eps);
        linear_forward(q, ln1, &w->w[PROJ_Q], w->b[PROJ_Q], BT);
        linear_forward(k, ln1, &w->w[PROJ_K], w->b[PROJ_K], BT);
        linear_forward(v, ln1, &w->w[PROJ_V], w->b[PROJ_V], BT);
        if (attn_targeted(t, l)) {
            adapter_proj_forward(t, &av, l, PROJ_Q, q, ln1, BT);
            adapter_proj_forward(t, &av, l, PROJ_K, k, ln1, BT);
            adapter_proj_forward(t, &av, l, PROJ_V, v, ln1, BT);
        }
        rope_forward(q, q, t->rope_cos, t->rope_sin, pos, BT, t->Hq, t->D);
        rope_forward(k, k, t->rope_cos, t->rope_sin, pos, BT, t->Hkv, t->D);
        attention_forward(atty, att, q, k, v, B, T, t->Hq, t->Hkv, t->D);
        linear_forward(res_mid, atty, &w->w[PROJ_O], w->b[PROJ_O], BT);
        if (attn_targeted(t, l)) adapter_proj_forward(t, &av, l, PROJ_O, res_mid, atty, BT);
#pragma omp parallel for simd schedule(static) if (PAR((size_t)BT * C))
        for (size_t i = 0; i < (size_t)BT * C; i++) res_mid[i] += x[i];

        // MLP: rmsnorm -> route (SLIM, SLIM.md section 2) -> gate, up (+ experts) -> silu(gate) * up
        //      -> down (+ experts) -> residual (SLIM.md section 3)
        rmsnorm_forward(ln2, ln2_rstd, res_mid, w->mlp_norm, BT, C, eps);
        if (adapted) route_block(t, &av, l, ln2, BT, train, real, n_real);
        linear_forward(gate, ln2, &w->w[PROJ_GATE], w->b[PROJ_GATE], BT);
        linear_forward(up, ln2, &w->w[PROJ_UP], w->b[PROJ_UP], BT);
        if (adapted) {
            adapter_proj_forward(t, &av, l, PROJ_GATE, gate, ln2, BT);
            adapter_proj_forward(t, &av, l, PROJ_UP, up, ln2, BT);
        }
        swiglu_forward(hmix, gate, up, (size_t)BT * F);
        linear_forward(out, hmix, &w->w[PROJ_DOWN], w->b[PROJ_DOWN], BT);
        if (adapted) adapter_proj_forward(t, &av, l, PROJ_DOWN, out, hmix, BT);
#pragma omp parallel for simd schedule(static) if (PAR((size_t)BT * C))
        for (size_t i = 0; i < (size_t)BT * C; i++) out[i] += res_mid[i];
    }
    if (a && a->type == ADAPTER_SLIM) t->clusters_ready = 1;
    // final norm, lm_head, cross-entropy (the logits buffer then holds the probabilities)
    float* lnf = av.a[A_LNF];
    rmsnorm_forward(lnf, av.a[A_LNF_RSTD], res + (size_t)L * BTmax * C, m->final_norm, BT, C, eps);
    float* logits = av.a[A_LOGITS];
    linear_forward(logits, lnf, &m->lm_head, NULL, BT);
    crossentropy_forward(av.a[A_LOSSES], logits, logits, targets, BT, V);
    double sum = 0;
    int cnt = 0;
    for (int n = 0; n < BT; n++)
        if (targets[n] >= 0) {
            sum += av.a[A_LOSSES][n];
            cnt++;
        }
    t->cur_B = B, t->cur_T = T;
    t->cur_has_acts = train;
    t->cur_loss_sum = sum;
    t->cur_n_valid = cnt;
    t->cur_n_real = n_real;
    if (n_valid) *n_valid = cnt;
    t->stat_total_s += now_seconds() - t0;
    return sum;
}

// ---------------------------------------------------------------------------------------------
// balance loss (Switch/MixLoRA style): E * sum_e f_e P_e per adapted block, averaged over blocks;
// f_e = share of (token, kept slot) pairs routed to e (a constant), P_e = mean router probability.

static double balance_value(Trainer* t, ActViews* av, int l, int BT, const int* real, int n_real, float* dpi,
                            float weight) {
    const Adapter* a = t->adapter;
    int E = t->E;
    size_t BTmax = (size_t)t->tc.batch * t->tc.seq_len;
    const float* rw = av->a[A_RW] + (size_t)l * BTmax * E;
    const float* rpi = av->a[A_RPI] + (size_t)l * BTmax * E;
    double f[64] = {0}, P[64] = {0};
    int kept = 0;
    for (int i = 0; i < n_real; i++)
        for (int e = 0; e < E && e < 64; e++) {
            if (rw[(size_t)real[i] * E + e] != 0.0f) f[e] += 1, kept++;
            P[e] += rpi[(size_t)real[i] * E + e];
        }
    double val = 0;
    for (int e = 0; e < E && e < 64; e++) {
        f[e] /= kept > 0 ? kept : 1;
        P[e] /= n_real > 0 ? n_real : 1;
        val += E * f[e] * P[e];
    }
    if (dpi) {
        memset(dpi, 0, (size_t)BT * E * sizeof(float));
        for (int i = 0; i < n_real; i++)
            for (int e = 0; e < E && e < 64; e++) dpi[(size_t)real[i] * E + e] = (float)(weight * E * f[e] / n_real);
    }
    (void)a;
    return val;
}

static int n_adapted_routed(const Trainer* t) {
    int n = 0;
    for (int l = 0; l < t->L; l++) n += t->adapter->layers[l].active;
    return n;
}

// ---------------------------------------------------------------------------------------------
// backward

void trainer_zero_grad(Trainer* t) { memset(t->grads, 0, t->n_params * sizeof(float)); }

void trainer_backward(Trainer* t, float dloss) {
    if (!t->cur_has_acts) return;
    double t0 = now_seconds();
    ops_set_threads(0);
    ActViews av;
    act_views(t, &av);
    const Model* m = t->model;
    const Model* gm = t->adapter ? NULL : &t->gmodel;
    const Adapter* a = t->adapter;
    int B = t->cur_B, T = t->cur_T, BT = B * T, C = t->C, F = t->F, V = t->V, L = t->L;
    int qd = t->Hq * t->D, kvd = t->Hkv * t->D, E = t->E;
    size_t BTmax = (size_t)t->tc.batch * t->tc.seq_len;
    int* pos = av.i[I_POS];
    int* real = av.i[I_REAL];
    int n_real = t->cur_n_real;
    float* res = av.a[A_RES];
    float* dres = av.a[A_DRES];
    float* dln = av.a[A_DLN];
    float* logits = av.a[A_LOGITS];

    // cross-entropy and lm_head
    crossentropy_backward(logits, logits, av.i[I_TARGETS], dloss, BT, V);
    memset(dln, 0, (size_t)BT * C * sizeof(float));
    linear_backward(dln, gm ? weight_f32(&gm->lm_head) : NULL, NULL, logits, av.a[A_LNF], weight_f32(&m->lm_head), BT, C, V);
    memset(dres, 0, (size_t)BT * C * sizeof(float));
    rmsnorm_backward(dres, gm ? gm->final_norm : NULL, dln, res + (size_t)L * BTmax * C, m->final_norm,
                     av.a[A_LNF_RSTD], BT, C);

    int n_bal = a && a->type == ADAPTER_SLIM && t->tc.balance_lambda > 0 ? n_adapted_routed(t) : 0;
    t->cur_balance = 0;
    for (int l = L - 1; l >= t->first_layer; l--) {
        const LayerWeights* w = &m->layers[l];
        const LayerWeights* gw = gm ? &gm->layers[l] : NULL;
        float* x = res + (size_t)l * BTmax * C;
        float* ln1 = av.a[A_LN1] + (size_t)l * BTmax * C;
        float* ln1_rstd = av.a[A_LN1_RSTD] + (size_t)l * BTmax;
        float* q = av.a[A_Q] + (size_t)l * BTmax * qd;
        float* k = av.a[A_K] + (size_t)l * BTmax * kvd;
        float* v = av.a[A_V] + (size_t)l * BTmax * kvd;
        float* att = av.a[A_ATT] + (size_t)l * BTmax * t->Hq * t->tc.seq_len;
        float* atty = av.a[A_ATTY] + (size_t)l * BTmax * qd;
        float* res_mid = av.a[A_RES_MID] + (size_t)l * BTmax * C;
        float* ln2 = av.a[A_LN2] + (size_t)l * BTmax * C;
        float* ln2_rstd = av.a[A_LN2_RSTD] + (size_t)l * BTmax;
        float* gate = av.a[A_GATE] + (size_t)l * BTmax * F;
        float* up = av.a[A_UP] + (size_t)l * BTmax * F;
        float* hmix = av.a[A_HMIX] + (size_t)l * BTmax * F;
        int adapted = a && a->layers[l].active;
        int slim = adapted && a->type == ADAPTER_SLIM;
        // below the lowest adapted block nothing is trainable: the last block we visit needs no
        // input gradient (unless its attention carries LoRA, whose gradient comes from above it)
        int need_dx_mlp = !a || l > t->first_layer || attn_targeted(t, l);
        int need_attn = !a || l > t->first_layer || attn_targeted(t, l);
        int need_dx_attn = !a || l > t->first_layer;

        // MLP (dres holds d loss / d block output; the residual passes it to res_mid unchanged)
        float* dhmix = av.a[A_DHMIX];
        float* dgate = av.a[A_DGATE];
        float* dup = av.a[A_DUP];
        float* dw = av.a[A_DW];
        if (slim) memset(dw, 0, (size_t)BT * E * sizeof(float));
        memset(dhmix, 0, (size_t)BT * F * sizeof(float));
        linear_backward(dhmix, gw ? weight_f32(&gw->w[PROJ_DOWN]) : NULL, gw ? gw->b[PROJ_DOWN] : NULL, dres, hmix, weight_f32(&w->w[PROJ_DOWN]),
                        BT, F, C);
        if (adapted) adapter_proj_backward(t, &av, l, PROJ_DOWN, dhmix, dres, hmix, BT);
        memset(dgate, 0, (size_t)BT * F * sizeof(float));
        memset(dup, 0, (size_t)BT * F * sizeof(float));
        swiglu_backward(dgate, dup, dhmix, gate, up, (size_t)BT * F);
        float* dln2 = need_dx_mlp ? dln : NULL;
        if (dln2) memset(dln2, 0, (size_t)BT * C * sizeof(float));
        linear_backward(dln2, gw ? weight_f32(&gw->w[PROJ_GATE]) : NULL, gw ? gw->b[PROJ_GATE] : NULL, dgate, ln2,
                        weight_f32(&w->w[PROJ_GATE]), BT, C, F);
        linear_backward(dln2, gw ? weight_f32(&gw->w[PROJ_UP]) : NULL, gw ? gw->b[PROJ_UP] : NULL, dup, ln2, weight_f32(&w->w[PROJ_UP]), BT, C, F);
        if (adapted) {
            adapter_proj_backward(t, &av, l, PROJ_GATE, dln2, dgate, ln2, BT);
            adapter_proj_backward(t, &av, l, PROJ_UP, dln2, dup, ln2, BT);
        }
        if (slim) {
            float* dpi = NULL;
            if (n_bal) {
                dpi = av.a[A_DPI];
                t->cur_balance += balance_value(t, &av, l, BT, real, n_real, dpi, t->tc.balance_lambda * t->balance_scale / n_bal) / n_bal;
            }
            const AdapterLayer* gal = &t->gadapter.layers[l];
            router_backward(dln2, gal->router_w, gal->router_b, av.a[A_DZ], dw, dpi, ln2, a->layers[l].router_w,
                            av.a[A_RW] + (size_t)l * BTmax * E, av.a[A_RPI] + (size_t)l * BTmax * E, BT, C, E);
        }
        if (!need_attn) break;
        rmsnorm_backward(dres, gw ? gw->mlp_norm : NULL, dln2, res_mid, w->mlp_norm, ln2_rstd, BT, C);

        // attention
        float* datty = av.a[A_DATTY];
        memset(datty, 0, (size_t)BT * qd * sizeof(float));
        linear_backward(datty, gw ? weight_f32(&gw->w[PROJ_O]) : NULL, gw ? gw->b[PROJ_O] : NULL, dres, atty, weight_f32(&w->w[PROJ_O]), BT, qd, C);
        if (attn_targeted(t, l)) adapter_proj_backward(t, &av, l, PROJ_O, datty, dres, atty, BT);
        float *dqr = av.a[A_DQR], *dq = av.a[A_DQ], *dkr = av.a[A_DKR], *dk = av.a[A_DK], *dv = av.a[A_DV];
        memset(dqr, 0, (size_t)BT * qd * sizeof(float));
        memset(dkr, 0, (size_t)BT * kvd * sizeof(float));
        memset(dv, 0, (size_t)BT * kvd * sizeof(float));
        attention_backward(dqr, dkr, dv, datty, q, k, v, att, B, T, t->Hq, t->Hkv, t->D);
        memset(dq, 0, (size_t)BT * qd * sizeof(float));
        memset(dk, 0, (size_t)BT * kvd * sizeof(float));
        rope_backward(dq, dqr, t->rope_cos, t->rope_sin, pos, BT, t->Hq, t->D);
        rope_backward(dk, dkr, t->rope_cos, t->rope_sin, pos, BT, t->Hkv, t->D);
        float* dln1 = need_dx_attn ? dln : NULL;
        if (dln1) memset(dln1, 0, (size_t)BT * C * sizeof(float));
        linear_backward(dln1, gw ? weight_f32(&gw->w[PROJ_Q]) : NULL, gw ? gw->b[PROJ_Q] : NULL, dq, ln1, weight_f32(&w->w[PROJ_Q]), BT, C, qd);
        linear_backward(dln1, gw ? weight_f32(&gw->w[PROJ_K]) : NULL, gw ? gw->b[PROJ_K] : NULL, dk, ln1, weight_f32(&w->w[PROJ_K]), BT, C, kvd);
        linear_backward(dln1, gw ? weight_f32(&gw->w[PROJ_V]) : NULL, gw ? gw->b[PROJ_V] : NULL, dv, ln1, weight_f32(&w->w[PROJ_V]), BT, C, kvd);
        if (attn_targeted(t, l)) {
            adapter_proj_backward(t, &av, l, PROJ_Q, dln1, dq, ln1, BT);
            adapter_proj_backward(t, &av, l, PROJ_K, dln1, dk, ln1, BT);
            adapter_proj_backward(t, &av, l, PROJ_V, dln1, dv, ln1, BT);
        }
        if (!need_dx_attn) break;
        rmsnorm_backward(dres, gw ? gw->attn_norm : NULL, dln1, x, w->attn_norm, ln1_rstd, BT, C);
    }
    if (gm) embedding_backward(weight_f32(&gm->embed), dres, av.i[I_TOKENS], BT, C);
    t->stat_total_s += now_seconds() - t0;
}

// ---------------------------------------------------------------------------------------------
// regularisers, clipping, AdamW, the step

double trainer_l1(Trainer* t, int add_grad) {
    const Adapter* a = t->adapter;
    if (!a) return 0;
    double total = 0;
    float lam = t->tc.l1_lambda;
    for (int l = 0; l < a->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            const LoraProj* lp = &a->layers[l].proj[p];
            if (!a->layers[l].active || !lp->A) continue;
            const LoraProj* gp = &t->gadapter.layers[l].proj[p];
            size_t nA = (size_t)lp->r * lp->in, nB = (size_t)lp->out * lp->r;
            for (int k = 0; k < a->n_lora; k++) {
                // L1 = mean|A| + mean|B| per expert and projection (|B|/(r*C_out) + |A|/(r*C_in))
                const float* A = lp->A + k * nA;
                const float* Bm = lp->B + k * nB;
                double sa = 0, sb = 0;
                for (size_t i = 0; i < nA; i++) sa += fabsf(A[i]);
                for (size_t i = 0; i < nB; i++) sb += fabsf(Bm[i]);
                total += sa / nA + sb / nB;
                if (add_grad && lam != 0) {
                    float* dA = gp->A + k * nA;
                    float* dB = gp->B + k * nB;
                    float ga = lam / nA, gb = lam / nB;
                    for (size_t i = 0; i < nA; i++) dA[i] += A[i] > 0 ? ga : A[i] < 0 ? -ga : 0.0f;
                    for (size_t i = 0; i < nB; i++) dB[i] += Bm[i] > 0 ? gb : Bm[i] < 0 ? -gb : 0.0f;
                }
            }
        }
    return total;
}

double trainer_grad_norm(const Trainer* t) {
    double total = 0;
    for (int g = 0; g < t->n_groups; g++) {
        const float* d = t->grads + t->groups[g].off;
        double s = 0;
        for (size_t i = 0; i < t->groups[g].n; i++) s += (double)d[i] * d[i];
        total += s;
    }
    return sqrt(total);
}

void trainer_adamw(Trainer* t, float lr) {
    const TrainConfig* c = &t->tc;
    double step = (double)t->step + 1;
    float b1c = (float)(1.0 - pow(c->beta1, step)), b2c = (float)(1.0 - pow(c->beta2, step));
    for (int g = 0; g < t->n_groups; g++) {
        const ParamGroup* pg = &t->groups[g];
        float* p = t->params + pg->off;
        float* gr = t->grads + pg->off;
        float* m = t->adam_m + pg->off;
        float* v = t->adam_v + pg->off;
        float wd = pg->decay ? c->weight_decay : 0.0f;
#pragma omp parallel for simd schedule(static) if (PAR(pg->n))
        for (size_t i = 0; i < pg->n; i++) {
            float gi = gr[i];
            m[i] = c->beta1 * m[i] + (1 - c->beta1) * gi;
            v[i] = c->beta2 * v[i] + (1 - c->beta2) * gi * gi;
            float mh = m[i] / b1c, vh = v[i] / b2c;
            p[i] -= lr * (mh / (sqrtf(vh) + c->adam_eps) + wd * p[i]);
        }
    }
}

void trainer_step(Trainer* t, const Batch* micro, int n_micro, StepStats* st) {
    memset(st, 0, sizeof *st);
    trainer_zero_grad(t);
    int total = 0;
    for (int i = 0; i < n_micro; i++)
        for (int n = 0; n < micro[i].B * micro[i].T; n++) total += micro[i].targets[n] >= 0;
    double ce = 0, bal = 0;
    t->balance_scale = 1.0f / n_micro;  // the step's balance term is the mean over its micro-batches
    for (int i = 0; i < n_micro; i++) {
        int nv;
        ce += trainer_forward(t, &micro[i], 1, &nv);
        trainer_backward(t, total > 0 ? 1.0f / total : 0.0f);
        bal += t->cur_balance / n_micro;
    }
    t->balance_scale = 1.0f;
    double l1 = t->adapter ? trainer_l1(t, t->tc.l1_lambda != 0) : 0;
    st->ce = total > 0 ? (float)(ce / total) : 0.0f;
    st->l1 = (float)l1;
    st->balance = (float)bal;
    st->loss = st->ce + t->tc.l1_lambda * st->l1 + t->tc.balance_lambda * st->balance;
    st->n_tokens = total;
    double norm = trainer_grad_norm(t);
    st->grad_norm = (float)norm;
    if (t->tc.grad_clip > 0 && norm > t->tc.grad_clip) {
        float s = (float)(t->tc.grad_clip / norm);
        for (int g = 0; g < t->n_groups; g++) {
            float* d = t->grads + t->groups[g].off;
            for (size_t i = 0; i < t->groups[g].n; i++) d[i] *= s;
        }
    }
    st->lr = train_lr(&t->tc, (int)t->step);
    trainer_adamw(t, st->lr);
    t->step++;
}

const float* trainer_probs(const Trainer* t) {
    ActViews av;
    act_views(t, &av);
    return av.a[A_LOGITS];
}

double trainer_eval(Trainer* t, const Batch* batches, int n, int* n_tokens) {
    double sum = 0;
    int cnt = 0;
    for (int i = 0; i < n; i++) {
        int nv;
        sum += trainer_forward(t, &batches[i], 0, &nv);
        cnt += nv;
    }
    if (n_tokens) *n_tokens = cnt;
    return cnt ? sum / cnt : 0;
}

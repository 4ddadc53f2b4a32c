// train.c: the training model's configuration and set-up. Owns the parameter/gradient/AdamW
// buffers (mirrors of the model's or the adapter's single storage, so the same offsets address a
// weight, its gradient and its moments), the parameter groups, and the activations (one
// allocation sliced by a size table, llm.c style). The rest of the engine: the adapter on one
// projection, masks and clusters in train_adapter.c; forward and backward in train_forward.c; the
// optimiser step in train_step.c; the op pairs in ops.c; checkpoints, the log and the bench in
// train_io.c.
#include "train_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// configuration

static const char* METHOD_NAMES[] = {"pretrain", "lora", "moelora", "slim"};
const char* train_method_name(TrainMethod m) { return METHOD_NAMES[m]; }
int train_method_from_name(const char* s) { return name_index(METHOD_NAMES, 4, s); }

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
        d->yield_q = rebase(s->yield_q, a->storage, storage);
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
// activations: the sizes of the table of train_internal.h


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

void train_act_views(const Trainer* t, ActViews* v) {
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
    free(t->special);
    if (t->adapter) slim_run_free(&t->run);
    memset(t, 0, sizeof *t);
}

void trainer_set_special(Trainer* t, const int* ids, int n) {
    if (!t->special) t->special = xcalloc(t->V, 1);
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->V) t->special[ids[i]] = 1;
}

// Per (layer, projection) slot of the saved LoRA activations: -1 when the projection is untargeted.
int train_lora_slot(const Trainer* t, int p) {
    if (!t->adapter || !(t->adapter->target_mask & (1u << p))) return -1;
    int s = 0;
    for (int q = 0; q < p; q++) s += (t->adapter->target_mask >> q) & 1;
    return s;
}

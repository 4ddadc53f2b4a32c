// train_forward.c: the training forward of the model (Llama blocks, the adapter on their
// projections, the loss) and its backward, with the load-balance term.
#include "train_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// One block's saved activations, sliced out of the table (x: the block's input in A_RES).
typedef struct {
    float *x, *ln1, *ln1_rstd, *q, *k, *v, *att, *atty, *res_mid, *ln2, *ln2_rstd, *gate, *up, *hmix;
} BlockActs;

static BlockActs block_acts(const Trainer* t, const ActViews* av, int l) {
    size_t BTmax = (size_t)t->tc.batch * t->tc.seq_len, C = t->C, F = t->F, qd = (size_t)t->Hq * t->D,
           kvd = (size_t)t->Hkv * t->D, row = (size_t)l * BTmax;
    BlockActs b;
    b.x = av->a[A_RES] + row * C;
    b.ln1 = av->a[A_LN1] + row * C;
    b.ln1_rstd = av->a[A_LN1_RSTD] + row;
    b.q = av->a[A_Q] + row * qd;
    b.k = av->a[A_K] + row * kvd;
    b.v = av->a[A_V] + row * kvd;
    b.att = av->a[A_ATT] + row * t->Hq * t->tc.seq_len;
    b.atty = av->a[A_ATTY] + row * qd;
    b.res_mid = av->a[A_RES_MID] + row * C;
    b.ln2 = av->a[A_LN2] + row * C;
    b.ln2_rstd = av->a[A_LN2_RSTD] + row;
    b.gate = av->a[A_GATE] + row * F;
    b.up = av->a[A_UP] + row * F;
    b.hmix = av->a[A_HMIX] + row * F;
    return b;
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
    if (!t->clusters_ready && a->n_clusters > 0) {
        train_clusters_init(t, l, x, real, n_real);
        train_yield_quantiles_init(t, l, x, real, n_real);
    }
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
    if (train && t->tc.update_clusters && a->n_clusters > 0) {
        train_yield_quantiles_update(t, l, rd, real, n_real);
        train_clusters_update(t, l, x, real, n_real);
    }
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
    train_act_views(t, &av);
    const Model* m = t->model;
    const Adapter* a = t->adapter;
    int B = b->B, T = b->T, BT = B * T, C = t->C, F = t->F, V = t->V, L = t->L;
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
        int special = t->tc.skip_special && t->special && b->tokens[n] >= 0 && b->tokens[n] < t->V && t->special[b->tokens[n]];
        if ((!b->lens || pos[n] < b->lens[n / T]) && !special) real[n_real++] = n;
    }
    if (a) {
        t->run.step = t->step;
        if (t->mask_storage) train_prepare_masks(t, av.i[I_MASK]);
    }
    float* res = av.a[A_RES];
    embedding_forward(res, tokens, &m->embed, BT);
    for (int l = 0; l < L; l++) {
        const LayerWeights* w = &m->layers[l];
        BlockActs ba = block_acts(t, &av, l);
        float *x = ba.x, *ln1 = ba.ln1, *ln1_rstd = ba.ln1_rstd, *q = ba.q, *k = ba.k, *v = ba.v, *att = ba.att;
        float *atty = ba.atty, *res_mid = ba.res_mid, *ln2 = ba.ln2, *ln2_rstd = ba.ln2_rstd, *gate = ba.gate;
        float *up = ba.up, *hmix = ba.hmix;
        float* out = res + (size_t)(l + 1) * BTmax * C;
        int adapted = a && a->layers[l].active;

        // attention: x -> rmsnorm -> q, k, v (+ bias, + LoRA) -> RoPE -> causal attention -> o_proj -> residual
        rmsnorm_forward(ln1, ln1_rstd, x, w->attn_norm, BT, C, eps);
        linear_forward(q, ln1, &w->w[PROJ_Q], w->b[PROJ_Q], BT);
        linear_forward(k, ln1, &w->w[PROJ_K], w->b[PROJ_K], BT);
        linear_forward(v, ln1, &w->w[PROJ_V], w->b[PROJ_V], BT);
        if (attn_targeted(t, l)) {
            train_adapter_forward(t, &av, l, PROJ_Q, q, ln1, BT);
            train_adapter_forward(t, &av, l, PROJ_K, k, ln1, BT);
            train_adapter_forward(t, &av, l, PROJ_V, v, ln1, BT);
        }
        rope_forward(q, q, t->rope_cos, t->rope_sin, pos, BT, t->Hq, t->D);
        rope_forward(k, k, t->rope_cos, t->rope_sin, pos, BT, t->Hkv, t->D);
        attention_forward(atty, att, q, k, v, B, T, t->Hq, t->Hkv, t->D);
        linear_forward(res_mid, atty, &w->w[PROJ_O], w->b[PROJ_O], BT);
        if (attn_targeted(t, l)) train_adapter_forward(t, &av, l, PROJ_O, res_mid, atty, BT);
#pragma omp parallel for simd schedule(static) if (PAR((size_t)BT * C))
        for (size_t i = 0; i < (size_t)BT * C; i++) res_mid[i] += x[i];

        // MLP: rmsnorm -> route (SLIM, SLIM.md section 2) -> gate, up (+ experts) -> silu(gate) * up
        //      -> down (+ experts) -> residual (SLIM.md section 3)
        rmsnorm_forward(ln2, ln2_rstd, res_mid, w->mlp_norm, BT, C, eps);
        if (adapted) route_block(t, &av, l, ln2, BT, train, real, n_real);
        linear_forward(gate, ln2, &w->w[PROJ_GATE], w->b[PROJ_GATE], BT);
        linear_forward(up, ln2, &w->w[PROJ_UP], w->b[PROJ_UP], BT);
        if (adapted) {
            train_adapter_forward(t, &av, l, PROJ_GATE, gate, ln2, BT);
            train_adapter_forward(t, &av, l, PROJ_UP, up, ln2, BT);
        }
        swiglu_forward(hmix, gate, up, (size_t)BT * F);
        linear_forward(out, hmix, &w->w[PROJ_DOWN], w->b[PROJ_DOWN], BT);
        if (adapted) train_adapter_forward(t, &av, l, PROJ_DOWN, out, hmix, BT);
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
// balance loss over the LoRA experts only (TrainConfig.balance_lora_only): El * sum_k f_k P_k with
// f_k the share of kept LoRA slots routed to LoRA expert k (a constant) and P_k the mean of
// pi_k / S, S = the token's total LoRA probability; identity experts get no gradient from it.

static double balance_lora_only(Trainer* t, const float* rw, const float* rpi, int BT, const int* real, int n_real,
                                float* dpi, float weight) {
    const Adapter* a = t->adapter;
    int E = t->E, lo = a->n_id, El = E - lo;
    double f[64] = {0}, P[64] = {0};
    int kept = 0;
    for (int i = 0; i < n_real; i++) {
        const float *w = rw + (size_t)real[i] * E, *pi = rpi + (size_t)real[i] * E;
        double S = 0;
        for (int e = lo; e < E && e < 64; e++) S += pi[e];
        for (int e = lo; e < E && e < 64; e++) {
            if (w[e] != 0.0f) f[e] += 1, kept++;
            P[e] += S > 0 ? pi[e] / S : 0;
        }
    }
    double val = 0;
    for (int e = lo; e < E && e < 64; e++) {
        f[e] /= kept > 0 ? kept : 1;
        P[e] /= n_real > 0 ? n_real : 1;
        val += El * f[e] * P[e];
    }
    if (dpi) {  // d (pi_e / S) / d pi_j = [e == j] / S - pi_e / S^2 for LoRA j
        memset(dpi, 0, (size_t)BT * E * sizeof(float));
        for (int i = 0; i < n_real; i++) {
            const float* pi = rpi + (size_t)real[i] * E;
            double S = 0, fp = 0;
            for (int e = lo; e < E && e < 64; e++) S += pi[e], fp += f[e] * pi[e];
            if (!(S > 0)) continue;
            for (int e = lo; e < E && e < 64; e++)
                dpi[(size_t)real[i] * E + e] = (float)(weight * El / n_real * (f[e] / S - fp / (S * S)));
        }
    }
    return val;
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
    if (t->tc.balance_lora_only && a->n_id > 0) return balance_lora_only(t, rw, rpi, BT, real, n_real, dpi, weight);
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
    train_act_views(t, &av);
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
        BlockActs ba = block_acts(t, &av, l);
        float *x = ba.x, *ln1 = ba.ln1, *ln1_rstd = ba.ln1_rstd, *q = ba.q, *k = ba.k, *v = ba.v, *att = ba.att;
        float *atty = ba.atty, *res_mid = ba.res_mid, *ln2 = ba.ln2, *ln2_rstd = ba.ln2_rstd, *gate = ba.gate;
        float *up = ba.up, *hmix = ba.hmix;
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
        if (adapted) train_adapter_backward(t, &av, l, PROJ_DOWN, dhmix, dres, hmix, BT);
        memset(dgate, 0, (size_t)BT * F * sizeof(float));
        memset(dup, 0, (size_t)BT * F * sizeof(float));
        swiglu_backward(dgate, dup, dhmix, gate, up, (size_t)BT * F);
        float* dln2 = need_dx_mlp ? dln : NULL;
        if (dln2) memset(dln2, 0, (size_t)BT * C * sizeof(float));
        linear_backward(dln2, gw ? weight_f32(&gw->w[PROJ_GATE]) : NULL, gw ? gw->b[PROJ_GATE] : NULL, dgate, ln2,
                        weight_f32(&w->w[PROJ_GATE]), BT, C, F);
        linear_backward(dln2, gw ? weight_f32(&gw->w[PROJ_UP]) : NULL, gw ? gw->b[PROJ_UP] : NULL, dup, ln2, weight_f32(&w->w[PROJ_UP]), BT, C, F);
        if (adapted) {
            train_adapter_backward(t, &av, l, PROJ_GATE, dln2, dgate, ln2, BT);
            train_adapter_backward(t, &av, l, PROJ_UP, dln2, dup, ln2, BT);
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
        if (attn_targeted(t, l)) train_adapter_backward(t, &av, l, PROJ_O, datty, dres, atty, BT);
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
            train_adapter_backward(t, &av, l, PROJ_Q, dln1, dq, ln1, BT);
            train_adapter_backward(t, &av, l, PROJ_K, dln1, dk, ln1, BT);
            train_adapter_backward(t, &av, l, PROJ_V, dln1, dv, ln1, BT);
        }
        if (!need_dx_attn) break;
        rmsnorm_backward(dres, gw ? gw->attn_norm : NULL, dln1, x, w->attn_norm, ln1_rstd, BT, C);
    }
    if (gm) embedding_backward(weight_f32(&gm->embed), dres, av.i[I_TOKENS], BT, C);
    t->stat_total_s += now_seconds() - t0;
}


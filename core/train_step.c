// train_step.c: the optimiser side of training: the L1 term, the gradient norm and clipping,
// AdamW, one step over micro-batches, and the held-out loss.
#include "train_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

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
    train_act_views(t, &av);
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


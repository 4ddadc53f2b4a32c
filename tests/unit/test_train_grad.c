// test_train_grad.c: whole-model gradient checks. An independent double-precision Llama forward
// (with SLIM routing, masked LoRA experts, L1 and balance terms) is differentiated by central
// finite differences and compared with the trainer's float backward, parameter group by group
// (relative error < 1e-3): base weights in pretraining; routers and LoRA A/B in fine-tuning.
// The top-k choice and the distance d are recorded once and held fixed, as SLIM.md section 5 says.
#include "testutil.h"
#include "train.h"

// ---------------------------------------------------------------------------------------------
// the reference model

typedef struct {
    const Model* m;
    const Adapter* a;
    double* w;            // model storage in double (same offsets)
    double* ad;           // adapter storage in double
    int B, T;
    const int *tokens, *targets;
    unsigned char* kept;  // (L, BT, E) recorded top-k choice
    double* dist;         // (L, BT) recorded distance d
    int recorded;
    float p_mask;
    uint64_t step;
    double l1_lambda, bal_lambda;
    int bal_lora_only;    // the balance term over the LoRA experts only, P normalised over them
    int skip_token;       // input token id left out of the balance term's load (-1: none)
    double* probs;        // (BT, V) of the last call
} Ref;

#define RW(ptr) (R->w + ((ptr) - R->m->storage))
#define RA(ptr) (R->ad + ((ptr) - R->a->storage))

static void r_rmsnorm(double* out, const double* x, const double* w, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += x[n * C + i] * x[n * C + i];
        double s = 1 / sqrt(ss / C + eps);
        for (int i = 0; i < C; i++) out[n * C + i] = x[n * C + i] * s * w[i];
    }
}

// y (N, OC) = x W^T + b
static void r_linear(double* y, const double* x, const double* W, const double* b, int N, int IC, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < IC; i++) s += W[o * IC + i] * x[n * IC + i];
            y[n * OC + o] = s;
        }
}

// y (N, OC) += w[n] * (LoRA expert k of projection p) v, masked as SLIM.md section 4 says
static void r_lora(Ref* R, double* y, const double* v, int N, int l, int k, int p, const double* wts) {
    const Adapter* a = R->a;
    const LoraProj* lp = &a->layers[l].proj[p];
    int r = lp->r, IC = lp->in, OC = lp->out;
    const double* A = RA(lp->A) + (size_t)k * r * IC;
    const double* B = RA(lp->B) + (size_t)k * OC * r;
    int* rows_keep = calloc(OC, sizeof(int));
    int* cols_keep = calloc(IC, sizeof(int));
    double rescale = 1;
    if (R->p_mask > 0) {
        MaskSet ms;
        ms.rows = malloc(OC * sizeof(int));
        ms.cols = malloc(IC * sizeof(int));
        mask_build(&ms, OC, IC, R->p_mask, mask_key(a->mask_seed, l, a->n_id + k, p, R->step));
        for (int i = 0; i < ms.n_row; i++) rows_keep[ms.rows[i]] = 1;
        for (int i = 0; i < ms.n_col; i++) cols_keep[ms.cols[i]] = 1;
        rescale = (double)OC * IC / ((double)ms.n_row * ms.n_col);
        free(ms.rows), free(ms.cols);
    } else {
        for (int i = 0; i < OC; i++) rows_keep[i] = 1;
        for (int i = 0; i < IC; i++) cols_keep[i] = 1;
    }
    double h[64];
    for (int n = 0; n < N; n++) {
        double wn = wts ? wts[n] : 1;
        if (wn == 0) continue;
        for (int j = 0; j < r; j++) {
            double s = 0;
            for (int i = 0; i < IC; i++) s += cols_keep[i] ? A[j * IC + i] * v[n * IC + i] : 0;
            h[j] = s;
        }
        for (int o = 0; o < OC; o++) {
            if (!rows_keep[o]) continue;
            double s = 0;
            for (int j = 0; j < r; j++) s += B[o * r + j] * h[j];
            y[n * OC + o] += wn * lp->scale * rescale * s;
        }
    }
    free(rows_keep), free(cols_keep);
}

static void r_proj(Ref* R, double* y, const double* v, int N, int l, int p, const double* route_w, int stride) {
    const LayerWeights* lw = &R->m->layers[l];
    r_linear(y, v, RW(weight_f32(&lw->w[p])), lw->b[p] ? RW(lw->b[p]) : NULL, N, R->m->proj_in[p], R->m->proj_out[p]);
    const Adapter* a = R->a;
    if (!a || !a->layers[l].active || !a->layers[l].proj[p].A) return;
    if (a->type == ADAPTER_SLIM && !proj_is_mlp(p)) return;
    double* wk = malloc(N * sizeof(double));
    for (int k = 0; k < a->n_lora; k++) {
        for (int n = 0; n < N; n++) wk[n] = route_w ? route_w[n * stride + a->n_id + k] : 1;
        r_lora(R, y, v, N, l, k, p, wk);
    }
    free(wk);
}

// Returns the objective: mean CE over scored targets + l1 * L1 + bal * balance.
static double ref_loss(Ref* R) {
    const ModelConfig* c = &R->m->cfg;
    const Adapter* a = R->a;
    int B = R->B, T = R->T, N = B * T, C = c->dim, F = c->hidden_dim, V = c->vocab_size, D = c->head_dim;
    int Hq = c->n_heads, Hkv = c->n_kv_heads, qd = Hq * D, kvd = Hkv * D, E = a ? a->n_experts : 1;
    double *x = calloc(N * C, 8), *h = calloc(N * C, 8), *q = calloc(N * qd, 8), *k = calloc(N * kvd, 8);
    double *v = calloc(N * kvd, 8), *att = calloc(N * qd, 8), *o = calloc(N * C, 8), *g = calloc(N * F, 8);
    double *u = calloc(N * F, 8), *hm = calloc(N * F, 8), *pi = calloc(N * E, 8), *rw = calloc(N * E, 8);
    double* logits = calloc((size_t)N * V, 8);
    double bal_total = 0;
    int n_bal = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++) x[n * C + i] = RW(weight_f32(&R->m->embed))[R->tokens[n] * C + i];
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights* lw = &R->m->layers[l];
        r_rmsnorm(h, x, RW(lw->attn_norm), N, C, c->norm_eps);
        r_proj(R, q, h, N, l, PROJ_Q, NULL, 0);
        r_proj(R, k, h, N, l, PROJ_K, NULL, 0);
        r_proj(R, v, h, N, l, PROJ_V, NULL, 0);
        for (int n = 0; n < N; n++) {  // RoPE, rotate_half layout
            int pos = n % T;
            for (int hh = 0; hh < Hq + Hkv; hh++) {
                double* vec = hh < Hq ? q + n * qd + hh * D : k + n * kvd + (hh - Hq) * D;
                for (int i = 0; i < D / 2; i++) {
                    double ang = pos * pow(c->rope_theta, -2.0 * i / D), cs = cos(ang), sn = sin(ang);
                    double a0 = vec[i], b0 = vec[i + D / 2];
                    vec[i] = a0 * cs - b0 * sn;
                    vec[i + D / 2] = b0 * cs + a0 * sn;
                }
            }
        }
        for (int b = 0; b < B; b++)
            for (int hh = 0; hh < Hq; hh++) {
                int kh = hh / (Hq / Hkv);
                for (int i = 0; i < T; i++) {
                    double s[256], mx = -1e300, sum = 0;
                    for (int j = 0; j <= i; j++) {
                        double d = 0;
                        for (int e = 0; e < D; e++) d += q[(b * T + i) * qd + hh * D + e] * k[(b * T + j) * kvd + kh * D + e];
                        s[j] = d / sqrt((double)D);
                        mx = s[j] > mx ? s[j] : mx;
                    }
                    for (int j = 0; j <= i; j++) sum += (s[j] = exp(s[j] - mx));
                    for (int e = 0; e < D; e++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += s[j] / sum * v[(b * T + j) * kvd + kh * D + e];
                        att[(b * T + i) * qd + hh * D + e] = acc;
                    }
                }
            }
        r_proj(R, o, att, N, l, PROJ_O, NULL, 0);
        for (int i = 0; i < N * C; i++) x[i] += o[i];
        r_rmsnorm(h, x, RW(lw->mlp_norm), N, C, c->norm_eps);
        double* route_w = NULL;
        if (a && a->layers[l].active && a->type == ADAPTER_SLIM) {
            const AdapterLayer* al = &a->layers[l];
            for (int n = 0; n < N; n++) {
                double z[32];
                size_t rec = (size_t)l * N + n;
                if (!R->recorded) {  // d from the nearest centre (SLIM.md section 2, steps 2-3)
                    int best = 0;
                    double bd = 1e300;
                    for (int j = 0; j < a->n_clusters; j++) {
                        double d2 = 0;
                        for (int i = 0; i < C; i++) {
                            double t = h[n * C + i] - al->centers[j * C + i];
                            d2 += t * t;
                        }
                        if (d2 < bd) bd = d2, best = j;
                    }
                    double mx = 0;
                    for (int i = 0; i < C; i++) {
                        double t = fabs(h[n * C + i] - al->centers[best * C + i]) / al->sigma[best * C + i];
                        mx = t > mx ? t : mx;
                    }
                    R->dist[rec] = a->distance == DIST_RMS ? sqrt(bd / C) : mx - 1;
                }
                double yield = a->yield_scale * R->dist[rec];  // calibrated: gamma (d - q50) / (q90 - q50)
                if (a->yield_calibration == YCAL_QUANTILE)
                    yield = a->yield_scale * (R->dist[rec] - al->yield_q[0]) / (al->yield_q[1] - al->yield_q[0]);
                double mx = -1e300, sum = 0;
                for (int e = 0; e < E; e++) {
                    double s = al->router_b ? RA(al->router_b)[e] : 0;
                    for (int i = 0; i < C; i++) s += RA(al->router_w)[e * C + i] * h[n * C + i];
                    z[e] = s + (e < a->n_id ? yield : 0);
                    mx = z[e] > mx ? z[e] : mx;
                }
                for (int e = 0; e < E; e++) sum += (pi[n * E + e] = exp(z[e] - mx));
                for (int e = 0; e < E; e++) pi[n * E + e] /= sum;
                unsigned char* kp = R->kept + rec * E;
                if (!R->recorded) {  // top-k by pi, ties to the lower index
                    memset(kp, 0, (size_t)a->n_experts);
                    for (int kk = 0; kk < a->top_k; kk++) {
                        int best = -1;
                        for (int e = 0; e < E; e++)
                            if (!kp[e] && (best < 0 || pi[n * E + e] > pi[n * E + best])) best = e;
                        kp[best] = 1;
                    }
                }
                double ks = 0;
                for (int e = 0; e < E; e++) ks += kp[e] ? pi[n * E + e] : 0;
                for (int e = 0; e < E; e++) rw[n * E + e] = kp[e] ? pi[n * E + e] / ks : 0;
            }
            route_w = rw;
            if (R->bal_lambda > 0) {  // E * sum_e f_e P_e, f from the (fixed) kept sets
                // lora-only: El * sum over LoRA e of f_e (share of kept LoRA slots) P_e (mean pi_e / S)
                int lo = R->bal_lora_only ? a->n_id : 0, n_load = 0;
                double f[32] = {0}, P[32] = {0}, val = 0;
                int kept = 0;
                for (int n = 0; n < N; n++) {
                    if (R->tokens[n] == R->skip_token) continue;
                    double S = 0;
                    for (int e = lo; e < E; e++) S += pi[n * E + e];
                    for (int e = lo; e < E; e++) {
                        if (R->kept[((size_t)l * N + n) * E + e]) f[e] += 1, kept++;
                        P[e] += R->bal_lora_only ? pi[n * E + e] / S : pi[n * E + e];
                    }
                    n_load++;
                }
                for (int e = lo; e < E; e++) val += (E - lo) * (f[e] / kept) * (P[e] / n_load);
                bal_total += val;
                n_bal++;
            }
        }
        r_proj(R, g, h, N, l, PROJ_GATE, route_w, E);
        r_proj(R, u, h, N, l, PROJ_UP, route_w, E);
        for (int i = 0; i < N * F; i++) hm[i] = g[i] / (1 + exp(-g[i])) * u[i];
        r_proj(R, o, hm, N, l, PROJ_DOWN, route_w, E);
        for (int i = 0; i < N * C; i++) x[i] += o[i];
    }
    R->recorded = 1;
    r_rmsnorm(h, x, RW(R->m->final_norm), N, C, c->norm_eps);
    r_linear(logits, h, RW(weight_f32(&R->m->lm_head)), NULL, N, C, V);
    double ce = 0;
    int cnt = 0;
    for (int n = 0; n < N; n++) {
        double mx = -1e300, sum = 0;
        for (int i = 0; i < V; i++) mx = logits[n * V + i] > mx ? logits[n * V + i] : mx;
        for (int i = 0; i < V; i++) sum += exp(logits[n * V + i] - mx);
        for (int i = 0; i < V; i++) R->probs[n * V + i] = exp(logits[n * V + i] - mx) / sum;
        if (R->targets[n] < 0) continue;
        ce += log(sum) + mx - logits[n * V + R->targets[n]];
        cnt++;
    }
    double obj = ce / cnt;
    if (a && R->l1_lambda > 0) {
        double l1 = 0;
        for (int l = 0; l < a->n_layers; l++)
            for (int p = 0; p < PROJ_COUNT; p++) {
                const LoraProj* lp = &a->layers[l].proj[p];
                if (!a->layers[l].active || !lp->A) continue;
                size_t nA = (size_t)lp->r * lp->in, nB = (size_t)lp->out * lp->r;
                for (int kk = 0; kk < a->n_lora; kk++) {
                    double sa = 0, sb = 0;
                    for (size_t i = 0; i < nA; i++) sa += fabs(RA(lp->A)[kk * nA + i]);
                    for (size_t i = 0; i < nB; i++) sb += fabs(RA(lp->B)[kk * nB + i]);
                    l1 += sa / nA + sb / nB;
                }
            }
        obj += R->l1_lambda * l1;
    }
    if (n_bal) obj += R->bal_lambda * bal_total / n_bal;
    free(x), free(h), free(q), free(k), free(v), free(att), free(o), free(g), free(u), free(hm), free(pi), free(rw);
    free(logits);
    return obj;
}

static void ref_init(Ref* R, const Model* m, const Adapter* a, const Batch* b) {
    memset(R, 0, sizeof *R);
    R->m = m, R->a = a, R->B = b->B, R->T = b->T, R->tokens = b->tokens, R->targets = b->targets;
    R->w = malloc(m->n_params * sizeof(double));
    for (size_t i = 0; i < m->n_params; i++) R->w[i] = m->storage[i];
    if (a) {
        R->ad = malloc(a->n_params * sizeof(double));
        for (size_t i = 0; i < a->n_params; i++) R->ad[i] = a->storage[i];
    }
    int E = a ? a->n_experts : 1;
    R->kept = calloc((size_t)m->cfg.n_layers * b->B * b->T * E, 1);
    R->dist = calloc((size_t)m->cfg.n_layers * b->B * b->T, sizeof(double));
    R->probs = calloc((size_t)b->B * b->T * m->cfg.vocab_size, sizeof(double));
    R->skip_token = -1;
}

static void ref_free(Ref* R) {
    free(R->w), free(R->ad), free(R->kept), free(R->dist), free(R->probs);
}

// ---------------------------------------------------------------------------------------------
// fixtures

static void tiny_config(ModelConfig* c, int tie, int bias) {
    memset(c, 0, sizeof *c);
    c->arch = bias ? ARCH_QWEN2 : ARCH_LLAMA;
    c->dim = 16, c->hidden_dim = 24, c->n_layers = 2, c->n_heads = 4, c->n_kv_heads = 2, c->head_dim = 4;
    c->vocab_size = 23, c->max_seq_len = 32, c->norm_eps = 1e-5f, c->rope_theta = 10000;
    c->tie_embeddings = tie, c->attn_bias = bias;
    c->bos_id = c->eos_id = -1;
    strcpy(c->torch_dtype, "float32");
}

static void random_batch(Batch* b, int B, int T, int V, uint64_t seed, int ignore_some) {
    Rng r;
    rng_seed(&r, seed);
    b->B = B, b->T = T, b->lens = NULL;
    b->tokens = malloc(B * T * sizeof(int));
    b->targets = malloc(B * T * sizeof(int));
    for (int i = 0; i < B * T; i++) {
        b->tokens[i] = (int)(rng_u64(&r) % V);
        b->targets[i] = (int)(rng_u64(&r) % V);
        if (ignore_some && i % 3 == 1) b->targets[i] = -1;
    }
}

static void perturb(float* p, size_t n, float std, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) p[i] += std * rng_normal(&r);
}

// For every trainable group: central differences of the reference (all entries, or 60 sampled
// for large groups) against the trainer's gradient.
static void check_groups(Trainer* t, Ref* R, double* store, const float* fstore) {
    for (int gi = 0; gi < t->n_groups; gi++) {
        const ParamGroup* g = &t->groups[gi];
        size_t stride = g->n > 60 ? g->n / 60 : 1;
        double num = 0, den = 0, h = 1e-6;
        for (size_t i = 0; i < g->n; i += stride) {
            double* x = store + g->off + i;
            double keep = *x;
            *x = keep + h;
            double lp = ref_loss(R);
            *x = keep - h;
            double lm = ref_loss(R);
            *x = keep;
            double fd = (lp - lm) / (2 * h), ga = t->grads[g->off + i];
            num += (fd - ga) * (fd - ga);
            den += fd * fd;
        }
        (void)fstore;
        double rel = sqrt(num) / (sqrt(den) + 1e-300);
        if (den == 0) fail_msg("%s: the finite-difference gradient is zero; the check would be vacuous", g->name);
        if (!(rel < 1e-3)) fail_msg("group %s: relative gradient error %g", g->name, rel);
        print_message("  %-34s rel err %.2e\n", g->name, rel);
    }
}

static void run_pretrain_check(int tie, int bias) {
    ModelConfig c;
    tiny_config(&c, tie, bias);
    Model m;
    model_init_random(&m, &c, 0.3f, 7);
    perturb(m.storage, m.n_params, 0.05f, 8);  // norms and biases away from 1 and 0
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = 2, tc.seq_len = 6;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, NULL, &tc, &err), 0);
    Batch b;
    random_batch(&b, 2, 6, c.vocab_size, 3, 1);
    trainer_zero_grad(&t);
    int nv;
    double sum = trainer_forward(&t, &b, 1, &nv);
    Ref R;
    ref_init(&R, &m, NULL, &b);
    double ref = ref_loss(&R);
    if (fabs(sum / nv - ref) > 1e-5 * fabs(ref)) fail_msg("loss %.8f vs reference %.8f", sum / nv, ref);
    const float* probs = trainer_probs(&t);  // before the backward turns them into gradients
    for (int i = 0; i < b.B * b.T * c.vocab_size; i++)
        if (fabs(probs[i] - R.probs[i]) > 1e-5) fail_msg("probability %d: %g vs reference %g", i, probs[i], R.probs[i]);
    trainer_backward(&t, 1.0f / nv);
    // every tensor of the model is a group (tied: lm_head is the embedding)
    assert_int_equal(t.n_groups, model_tensor_count(&m));
    check_groups(&t, &R, R.w, m.storage);
    ref_free(&R);
    free(b.tokens), free(b.targets);
    trainer_free(&t);
    model_free(&m);
}

static void test_grad_pretrain_untied_bias(void** state) { run_pretrain_check(0, 1); }
static void test_grad_pretrain_tied(void** state) { run_pretrain_check(1, 0); }

// Fine-tuning: kind 0 = SLIM, 1 = MoE-LoRA (no identity, no yield), 2 = plain LoRA on every projection.
// opts (SLIM): the choices beyond the paper.
enum { OPT_BAL_LORA = 1, OPT_SKIP_SPECIAL = 2, OPT_RMS = 4, OPT_QUANTILE = 8 };
static void run_finetune_check_opts(int kind, float p_mask, float l1, float bal, int opts) {
    ModelConfig c;
    tiny_config(&c, 0, 1);
    Model m;
    model_init_random(&m, &c, 0.3f, 11);
    AdapterSpec s;
    adapter_spec_default(&s);
    s.r = 2, s.lora_alpha = 4, s.n_lora = 3, s.n_id = kind == 0 ? 2 : 0, s.top_k = 2, s.n_clusters = 3;
    s.yield_scale = kind == 0 ? 1.5f : 0.0f;
    s.router_bias = 1;
    s.distance = opts & OPT_RMS ? DIST_RMS : DIST_MAX;
    s.yield_calibration = opts & OPT_QUANTILE ? YCAL_QUANTILE : YCAL_NONE;
    if (kind == 2) {
        s.type = ADAPTER_LORA;
        s.target_mask = (1u << PROJ_COUNT) - 1;
    }
    Adapter a;
    adapter_alloc(&a, &m, &s);
    a.mask_seed = 5;
    trainer_init_adapter(&a, 3);
    for (int l = 0; l < a.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            LoraProj* lp = &a.layers[l].proj[p];
            if (lp->A) perturb(lp->B, (size_t)a.n_lora * lp->out * lp->r, 0.4f, 100 + l * 7 + p);  // B != 0
        }
    for (int l = 0; l < a.n_layers; l++) {
        AdapterLayer* al = &a.layers[l];
        if (al->router_w) perturb(al->router_w, (size_t)a.n_experts * a.dim, 0.5f, 200 + l);
        if (al->router_b) perturb(al->router_b, a.n_experts, 0.3f, 300 + l);
        if (al->centers) {  // clusters set by hand (the sliding update is tested elsewhere)
            perturb(al->centers, (size_t)a.n_clusters * a.dim, 1.0f, 400 + l);
            for (int i = 0; i < a.n_clusters * a.dim; i++) al->sigma[i] = 0.5f + 0.1f * (i % 7);
        }
        if (al->yield_q) al->yield_q[0] = 0.3f + 0.2f * l, al->yield_q[1] = 1.1f + 0.3f * l;
    }
    TrainConfig tc;
    train_config_default(&tc, kind == 0 ? TRAIN_SLIM : kind == 1 ? TRAIN_MOELORA : TRAIN_LORA);
    tc.batch = 2, tc.seq_len = 6, tc.train_mask_ratio = p_mask, tc.update_clusters = 0;
    tc.l1_lambda = l1, tc.balance_lambda = bal;
    tc.balance_lora_only = (opts & OPT_BAL_LORA) != 0, tc.skip_special = (opts & OPT_SKIP_SPECIAL) != 0;
    Trainer t;
    Err err;
    assert_int_equal(trainer_init(&t, &m, &a, &tc, &err), 0);
    int special = 4;  // a token id marked special (skip_special keeps it out of the load)
    trainer_set_special(&t, &special, 1);
    t.clusters_ready = 1;
    t.step = 3;  // masks keyed by the step
    Batch b;
    random_batch(&b, 2, 6, c.vocab_size, 5, 1);
    if (opts & OPT_SKIP_SPECIAL) b.tokens[0] = b.tokens[6] = special;  // a BOS in front of each row
    trainer_zero_grad(&t);
    int nv;
    double sum = trainer_forward(&t, &b, 1, &nv);
    trainer_backward(&t, 1.0f / nv);
    trainer_l1(&t, 1);
    Ref R;
    ref_init(&R, &m, &a, &b);
    R.p_mask = p_mask, R.step = 3, R.l1_lambda = l1, R.bal_lambda = bal;
    R.bal_lora_only = (opts & OPT_BAL_LORA) != 0;
    R.skip_token = opts & OPT_SKIP_SPECIAL ? special : -1;
    double ref = ref_loss(&R);
    double l1v = trainer_l1(&t, 0);
    double obj = sum / nv + l1 * l1v + bal * t.cur_balance;
    if (fabs(obj - ref) > 1e-5 * fabs(ref)) fail_msg("objective %.8f vs reference %.8f", obj, ref);
    check_groups(&t, &R, R.ad, a.storage);
    ref_free(&R);
    free(b.tokens), free(b.targets);
    trainer_free(&t);
    adapter_free(&a);
    model_free(&m);
}

static void run_finetune_check(int kind, float p_mask, float l1, float bal) { run_finetune_check_opts(kind, p_mask, l1, bal, 0); }

static void test_grad_slim(void** state) { run_finetune_check(0, 0.0f, 0.0f, 0.0f); }
// the balance term over LoRA experts only, without the special token's load
static void test_grad_slim_balance_lora_only_skip_special(void** state) {
    run_finetune_check_opts(0, 0.0f, 0.0f, 0.3f, OPT_BAL_LORA | OPT_SKIP_SPECIAL);
}
// RMS distance and the quantile-calibrated yield (d and the quantiles are constants of the backward)
static void test_grad_slim_rms_quantile(void** state) { run_finetune_check_opts(0, 0.3f, 0.0f, 0.1f, OPT_RMS | OPT_QUANTILE); }
static void test_grad_slim_masked_l1_balance(void** state) { run_finetune_check(0, 0.5f, 0.05f, 0.1f); }
static void test_grad_moelora(void** state) { run_finetune_check(1, 0.0f, 0.0f, 0.0f); }
static void test_grad_lora_all_projections(void** state) { run_finetune_check(2, 0.3f, 0.01f, 0.0f); }

int main(void) {
    ops_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_pretrain_untied_bias),
        cmocka_unit_test(test_grad_pretrain_tied),
        cmocka_unit_test(test_grad_slim),
        cmocka_unit_test(test_grad_slim_masked_l1_balance),
        cmocka_unit_test(test_grad_slim_balance_lora_only_skip_special),
        cmocka_unit_test(test_grad_slim_rms_quantile),
        cmocka_unit_test(test_grad_moelora),
        cmocka_unit_test(test_grad_lora_all_projections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

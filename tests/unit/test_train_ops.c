// test_train_ops.c: every training op's backward against central finite differences of an
// independent double-precision reference forward (relative error of each gradient < 1e-3), and
// every float forward against the same reference.
#include "testutil.h"
#include "train.h"

// ---------------------------------------------------------------------------------------------
// helpers

static uint64_t g_rng = 88172645463325252ull;
static double urand(void) {  // xorshift64, uniform in (-1, 1)
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}
static void fill(float* f, double* d, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) {
        f[i] = (float)(urand() * scale);
        if (d) d[i] = f[i];
    }
}
static double* dalloc(size_t n) { return calloc(n ? n : 1, sizeof(double)); }
static float* falloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

typedef double (*LossFn)(void* ctx);

// Central differences of L w.r.t. x[0..n) compared with the analytic float gradient ga.
static void check_grad(const char* label, double* x, const float* ga, size_t n, LossFn L, void* ctx) {
    double num = 0, den = 0, h = 1e-5;
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = L(ctx);
        x[i] = keep - h;
        double lm = L(ctx);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h);
        num += (fd - ga[i]) * (fd - ga[i]);
        den += fd * fd;
    }
    double rel = sqrt(num) / (sqrt(den) + 1e-30);
    if (den == 0) fail_msg("%s: finite-difference gradient is identically zero", label);
    if (!(rel < 1e-3)) fail_msg("%s: relative gradient error %g", label, rel);
    print_message("  %-28s rel err %.2e\n", label, rel);
}

static void check_fwd(const char* label, const float* f, const double* d, size_t n, double tol) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(f[i] - d[i]) / (1.0 + fabs(d[i]));
        if (!(e <= worst)) worst = e;
    }
    if (!(worst < tol)) fail_msg("%s forward: max error %g", label, worst);
}

// ---------------------------------------------------------------------------------------------
// references (double)

static void ref_rmsnorm(double* out, const double* x, const double* w, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += x[n * C + i] * x[n * C + i];
        double s = 1.0 / sqrt(ss / C + eps);
        for (int i = 0; i < C; i++) out[n * C + i] = x[n * C + i] * s * w[i];
    }
}

static void ref_linear(double* out, const double* x, const double* W, const double* b, int N, int IC, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < IC; i++) s += W[o * IC + i] * x[n * IC + i];
            out[n * OC + o] = s;
        }
}

static void ref_rope(double* out, const double* x, const float* ct, const float* st, const int* pos, int N, int H,
                     int D) {
    int half = D / 2;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < half; i++) {
                double c = ct[pos[n] * half + i], s = st[pos[n] * half + i];
                const double* v = x + (n * H + h) * D;
                out[(n * H + h) * D + i] = v[i] * c - v[i + half] * s;
                out[(n * H + h) * D + i + half] = v[i + half] * c + v[i] * s;
            }
}

static void ref_attention(double* out, const double* q, const double* k, const double* v, int B, int T, int Hq,
                          int Hkv, int D) {
    double* a = dalloc(T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++) {
            int kh = h / (Hq / Hkv);
            for (int i = 0; i < T; i++) {
                const double* qi = q + ((b * T + i) * Hq + h) * D;
                double mx = -1e300, sum = 0;
                for (int j = 0; j <= i; j++) {
                    const double* kj = k + ((b * T + j) * Hkv + kh) * D;
                    double s = 0;
                    for (int d = 0; d < D; d++) s += qi[d] * kj[d];
                    a[j] = s / sqrt((double)D);
                    if (a[j] > mx) mx = a[j];
                }
                for (int j = 0; j <= i; j++) sum += (a[j] = exp(a[j] - mx));
                double* o = out + ((b * T + i) * Hq + h) * D;
                for (int d = 0; d < D; d++) o[d] = 0;
                for (int j = 0; j <= i; j++) {
                    const double* vj = v + ((b * T + j) * Hkv + kh) * D;
                    for (int d = 0; d < D; d++) o[d] += a[j] / sum * vj[d];
                }
            }
        }
    free(a);
}

// ---------------------------------------------------------------------------------------------
// embedding

typedef struct {
    double *wte, *dout;
    const int* tok;
    int N, C, V;
} EmbCtx;
static double emb_loss(void* p) {
    EmbCtx* c = p;
    double s = 0;
    for (int n = 0; n < c->N; n++)
        for (int i = 0; i < c->C; i++) s += c->dout[n * c->C + i] * c->wte[c->tok[n] * c->C + i];
    return s;
}
static void test_embedding(void** state) {
    int N = 7, C = 6, V = 5;
    int tok[7] = {0, 3, 3, 1, 4, 3, 0};
    float *wte = falloc(V * C), *out = falloc(N * C), *dout = falloc(N * C), *dwte = falloc(V * C);
    double *wd = dalloc(V * C), *dd = dalloc(N * C);
    fill(wte, wd, V * C, 1);
    fill(dout, dd, N * C, 1);
    ops_set_threads(2);
    embedding_forward(out, tok, &(Weight){.data = wte, .type = WEIGHT_F32, .rows = V, .cols = C}, N);
    for (int n = 0; n < N; n++) assert_close_f(out + n * C, wte + tok[n] * C, C, 0, "embedding forward");
    embedding_backward(dwte, dout, tok, N, C);
    EmbCtx c = {wd, dd, tok, N, C, V};
    check_grad("embedding dwte", wd, dwte, V * C, emb_loss, &c);
    free(wte), free(out), free(dout), free(dwte), free(wd), free(dd);
}

// ---------------------------------------------------------------------------------------------
// rmsnorm

typedef struct {
    double *x, *w, *dout, *tmp;
    int N, C;
} NormCtx;
static double norm_loss(void* p) {
    NormCtx* c = p;
    ref_rmsnorm(c->tmp, c->x, c->w, c->N, c->C, 1e-5);
    double s = 0;
    for (int i = 0; i < c->N * c->C; i++) s += c->tmp[i] * c->dout[i];
    return s;
}
static void test_rmsnorm(void** state) {
    int N = 5, C = 16;
    float *x = falloc(N * C), *w = falloc(C), *out = falloc(N * C), *rstd = falloc(N), *dout = falloc(N * C);
    float *dx = falloc(N * C), *dw = falloc(C);
    double *xd = dalloc(N * C), *wd = dalloc(C), *dd = dalloc(N * C), *ref = dalloc(N * C);
    fill(x, xd, N * C, 2);
    fill(w, wd, C, 1);
    fill(dout, dd, N * C, 1);
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    ref_rmsnorm(ref, xd, wd, N, C, 1e-5);
    check_fwd("rmsnorm", out, ref, N * C, 1e-5);
    // accumulation: start from a non-zero gradient and subtract it afterwards
    for (int i = 0; i < N * C; i++) dx[i] = 0.5f;
    rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
    for (int i = 0; i < N * C; i++) dx[i] -= 0.5f;
    NormCtx c = {xd, wd, dd, ref, N, C};
    check_grad("rmsnorm dinp", xd, dx, N * C, norm_loss, &c);
    check_grad("rmsnorm dweight", wd, dw, C, norm_loss, &c);
    free(x), free(w), free(out), free(rstd), free(dout), free(dx), free(dw), free(xd), free(wd), free(dd), free(ref);
}

// ---------------------------------------------------------------------------------------------
// linear

typedef struct {
    double *x, *W, *b, *dout, *tmp;
    int N, IC, OC;
} LinCtx;
static double lin_loss(void* p) {
    LinCtx* c = p;
    ref_linear(c->tmp, c->x, c->W, c->b, c->N, c->IC, c->OC);
    double s = 0;
    for (int i = 0; i < c->N * c->OC; i++) s += c->tmp[i] * c->dout[i];
    return s;
}
static void test_linear(void** state) {
    int N = 6, IC = 9, OC = 7;
    float *x = falloc(N * IC), *W = falloc(OC * IC), *b = falloc(OC), *out = falloc(N * OC), *dout = falloc(N * OC);
    float *dx = falloc(N * IC), *dW = falloc(OC * IC), *db = falloc(OC);
    double *xd = dalloc(N * IC), *Wd = dalloc(OC * IC), *bd = dalloc(OC), *dd = dalloc(N * OC), *ref = dalloc(N * OC);
    fill(x, xd, N * IC, 1);
    fill(W, Wd, OC * IC, 1);
    fill(b, bd, OC, 1);
    fill(dout, dd, N * OC, 1);
    linear_forward(out, x, &(Weight){.data = W, .type = WEIGHT_F32, .rows = OC, .cols = IC}, b, N);
    ref_linear(ref, xd, Wd, bd, N, IC, OC);
    check_fwd("linear", out, ref, N * OC, 1e-5);
    linear_backward(dx, dW, db, dout, x, W, N, IC, OC);
    LinCtx c = {xd, Wd, bd, dd, ref, N, IC, OC};
    check_grad("linear dinp", xd, dx, N * IC, lin_loss, &c);
    check_grad("linear dweight", Wd, dW, OC * IC, lin_loss, &c);
    check_grad("linear dbias", bd, db, OC, lin_loss, &c);
    // without bias, and a NULL dinp is allowed
    linear_forward(out, x, &(Weight){.data = W, .type = WEIGHT_F32, .rows = OC, .cols = IC}, NULL, N);
    ref_linear(ref, xd, Wd, NULL, N, IC, OC);
    check_fwd("linear (no bias)", out, ref, N * OC, 1e-5);
    memset(dW, 0, OC * IC * sizeof(float));
    linear_backward(NULL, dW, NULL, dout, x, W, N, IC, OC);
    c.b = NULL;
    check_grad("linear dweight (no bias)", Wd, dW, OC * IC, lin_loss, &c);
    free(x), free(W), free(b), free(out), free(dout), free(dx), free(dW), free(db);
    free(xd), free(Wd), free(bd), free(dd), free(ref);
}

// ---------------------------------------------------------------------------------------------
// rope

typedef struct {
    double *x, *dout, *tmp;
    const float *ct, *st;
    const int* pos;
    int N, H, D;
} RopeCtx;
static double rope_loss(void* p) {
    RopeCtx* c = p;
    ref_rope(c->tmp, c->x, c->ct, c->st, c->pos, c->N, c->H, c->D);
    double s = 0;
    for (int i = 0; i < c->N * c->H * c->D; i++) s += c->tmp[i] * c->dout[i];
    return s;
}
static void test_rope(void** state) {
    int N = 5, H = 3, D = 8, P = 20;
    int pos[5] = {0, 1, 7, 19, 3};
    float inv[4], *ct = falloc(P * D / 2), *st = falloc(P * D / 2);
    for (int i = 0; i < D / 2; i++) inv[i] = powf(10000.0f, -2.0f * i / D);
    rope_tables(ct, st, inv, 0, P, D);
    assert_true(fabsf(ct[7 * 4 + 1] - cosf(7 * inv[1])) < 1e-7f);  // HF: angle = pos * inv_freq
    size_t n = N * H * D;
    float *x = falloc(n), *out = falloc(n), *dout = falloc(n), *dx = falloc(n);
    double *xd = dalloc(n), *dd = dalloc(n), *ref = dalloc(n);
    fill(x, xd, n, 1);
    fill(dout, dd, n, 1);
    rope_forward(out, x, ct, st, pos, N, H, D);
    ref_rope(ref, xd, ct, st, pos, N, H, D);
    check_fwd("rope", out, ref, n, 1e-6);
    // in place gives the same result
    float* y = falloc(n);
    memcpy(y, x, n * sizeof(float));
    rope_forward(y, y, ct, st, pos, N, H, D);
    assert_close_f(y, out, n, 0, "rope in place");
    rope_backward(dx, dout, ct, st, pos, N, H, D);
    RopeCtx c = {xd, dd, ref, ct, st, pos, N, H, D};
    check_grad("rope dinp", xd, dx, n, rope_loss, &c);
    free(ct), free(st), free(x), free(out), free(dout), free(dx), free(xd), free(dd), free(ref), free(y);
}

// ---------------------------------------------------------------------------------------------
// attention

typedef struct {
    double *q, *k, *v, *dout, *tmp;
    int B, T, Hq, Hkv, D;
} AttCtx;
static double att_loss(void* p) {
    AttCtx* c = p;
    ref_attention(c->tmp, c->q, c->k, c->v, c->B, c->T, c->Hq, c->Hkv, c->D);
    double s = 0;
    for (int i = 0; i < c->B * c->T * c->Hq * c->D; i++) s += c->tmp[i] * c->dout[i];
    return s;
}
static void run_attention(int B, int T, int Hq, int Hkv, int D) {
    size_t nq = B * T * Hq * D, nk = B * T * Hkv * D;
    float *q = falloc(nq), *k = falloc(nk), *v = falloc(nk), *out = falloc(nq), *att = falloc(B * Hq * T * T);
    float *dout = falloc(nq), *dq = falloc(nq), *dk = falloc(nk), *dv = falloc(nk);
    double *qd = dalloc(nq), *kd = dalloc(nk), *vd = dalloc(nk), *dd = dalloc(nq), *ref = dalloc(nq);
    fill(q, qd, nq, 1.5);
    fill(k, kd, nk, 1.5);
    fill(v, vd, nk, 1);
    fill(dout, dd, nq, 1);
    for (int threads = 1; threads <= 2; threads++) {
        ops_set_threads(threads);
        attention_forward(out, att, q, k, v, B, T, Hq, Hkv, D);
        ref_attention(ref, qd, kd, vd, B, T, Hq, Hkv, D);
        check_fwd("attention", out, ref, nq, 1e-5);
        memset(dq, 0, nq * sizeof(float));
        memset(dk, 0, nk * sizeof(float));
        memset(dv, 0, nk * sizeof(float));
        attention_backward(dq, dk, dv, dout, q, k, v, att, B, T, Hq, Hkv, D);
        AttCtx c = {qd, kd, vd, dd, ref, B, T, Hq, Hkv, D};
        check_grad("attention dq", qd, dq, nq, att_loss, &c);
        check_grad("attention dk", kd, dk, nk, att_loss, &c);
        check_grad("attention dv", vd, dv, nk, att_loss, &c);
    }
    free(q), free(k), free(v), free(out), free(att), free(dout), free(dq), free(dk), free(dv);
    free(qd), free(kd), free(vd), free(dd), free(ref);
}
static void test_attention(void** state) {
    run_attention(2, 6, 4, 2, 4);
    run_attention(1, 150, 2, 1, 4);  // several causal row blocks, the last one partial
}

// ---------------------------------------------------------------------------------------------
// swiglu

typedef struct {
    double *g, *u, *dout;
    int n;
} SwiCtx;
static double swi_loss(void* p) {
    SwiCtx* c = p;
    double s = 0;
    for (int i = 0; i < c->n; i++) s += c->g[i] / (1 + exp(-c->g[i])) * c->u[i] * c->dout[i];
    return s;
}
static void test_swiglu(void** state) {
    int n = 40;
    float *g = falloc(n), *u = falloc(n), *out = falloc(n), *dout = falloc(n), *dg = falloc(n), *du = falloc(n);
    double *gd = dalloc(n), *ud = dalloc(n), *dd = dalloc(n), *ref = dalloc(n);
    fill(g, gd, n, 4);
    fill(u, ud, n, 1);
    fill(dout, dd, n, 1);
    swiglu_forward(out, g, u, n);
    for (int i = 0; i < n; i++) ref[i] = gd[i] / (1 + exp(-gd[i])) * ud[i];
    check_fwd("swiglu", out, ref, n, 1e-6);
    swiglu_backward(dg, du, dout, g, u, n);
    SwiCtx c = {gd, ud, dd, n};
    check_grad("swiglu dgate", gd, dg, n, swi_loss, &c);
    check_grad("swiglu dup", ud, du, n, swi_loss, &c);
    free(g), free(u), free(out), free(dout), free(dg), free(du), free(gd), free(ud), free(dd), free(ref);
}

// ---------------------------------------------------------------------------------------------
// cross-entropy

typedef struct {
    double* l;
    const int* t;
    int N, V;
    double dloss;
} CeCtx;
static double ce_loss(void* p) {
    CeCtx* c = p;
    double s = 0;
    for (int n = 0; n < c->N; n++) {
        if (c->t[n] < 0) continue;
        double mx = -1e300, sum = 0;
        for (int i = 0; i < c->V; i++) mx = c->l[n * c->V + i] > mx ? c->l[n * c->V + i] : mx;
        for (int i = 0; i < c->V; i++) sum += exp(c->l[n * c->V + i] - mx);
        s += log(sum) + mx - c->l[n * c->V + c->t[n]];
    }
    return s * c->dloss;
}
static void test_crossentropy(void** state) {
    int N = 5, V = 11;
    int t[5] = {3, -1, 10, 0, 3};
    float *l = falloc(N * V), *p = falloc(N * V), *loss = falloc(N), *dl = falloc(N * V);
    double* ld = dalloc(N * V);
    fill(l, ld, N * V, 3);
    crossentropy_forward(loss, p, l, t, N, V);
    CeCtx c = {ld, t, N, V, 1.0};
    double total = 0;
    for (int n = 0; n < N; n++) total += loss[n];
    assert_true(loss[1] == 0.0f);
    assert_true(fabs(total - ce_loss(&c)) < 1e-5 * fabs(total));
    crossentropy_backward(dl, p, t, 0.25f, N, V);
    c.dloss = 0.25;
    check_grad("crossentropy dlogits", ld, dl, N * V, ce_loss, &c);
    // in place: probs overwritten by the gradient
    crossentropy_forward(loss, l, l, t, N, V);
    crossentropy_backward(l, l, t, 0.25f, N, V);
    assert_close_f(l, dl, N * V, 1e-7, "crossentropy in place");
    free(l), free(p), free(loss), free(dl), free(ld);
}

// ---------------------------------------------------------------------------------------------
// LoRA on a gathered row set

typedef struct {
    double *v, *A, *B, *w, *dout;
    const int* idx;
    int n, N, IC, OC, r;
    double scale;
} LoraCtx;
static double lora_loss(void* p) {
    LoraCtx* c = p;
    double s = 0;
    for (int i = 0; i < c->n; i++) {
        int t = c->idx ? c->idx[i] : i;
        for (int o = 0; o < c->OC; o++) {
            double y = 0;
            for (int j = 0; j < c->r; j++) {
                double h = 0;
                for (int k = 0; k < c->IC; k++) h += c->A[j * c->IC + k] * c->v[t * c->IC + k];
                y += c->B[o * c->r + j] * h;
            }
            s += c->dout[t * c->OC + o] * y * c->scale * (c->w ? c->w[i] : 1.0);
        }
    }
    return s;
}
static void test_lora(void** state) {
    int N = 9, IC = 10, OC = 7, r = 3, n = 4;
    int idx[4] = {1, 4, 5, 8};
    float scale = 2.0f;
    float *v = falloc(N * IC), *A = falloc(r * IC), *B = falloc(OC * r), *w = falloc(n), *y = falloc(N * OC);
    float *y0 = falloc(N * OC), *h = falloc(N * r), *scr = falloc(N * (2 * IC + OC + 2 * r)), *dout = falloc(N * OC);
    float *dv = falloc(N * IC), *dA = falloc(r * IC), *dB = falloc(OC * r), *dw = falloc(n);
    double *vd = dalloc(N * IC), *Ad = dalloc(r * IC), *Bd = dalloc(OC * r), *wd = dalloc(n), *dd = dalloc(N * OC);
    fill(v, vd, N * IC, 1);
    fill(A, Ad, r * IC, 1);
    fill(B, Bd, OC * r, 1);
    fill(w, wd, n, 1);
    fill(dout, dd, N * OC, 1);
    fill(y, NULL, N * OC, 1);
    memcpy(y0, y, N * OC * sizeof(float));
    lora_forward(y, h, scr, v, idx, w, n, A, B, scale, IC, OC, r);
    // forward: untouched rows stay, touched rows get the double reference delta
    for (int t = 0; t < N; t++) {
        int i = -1;
        for (int k = 0; k < n; k++)
            if (idx[k] == t) i = k;
        for (int o = 0; o < OC; o++) {
            double d = 0;
            if (i >= 0)
                for (int j = 0; j < r; j++) {
                    double hh = 0;
                    for (int k = 0; k < IC; k++) hh += Ad[j * IC + k] * vd[t * IC + k];
                    d += Bd[o * r + j] * hh * scale * wd[i];
                }
            if (fabs(y[t * OC + o] - (y0[t * OC + o] + d)) > 1e-5) fail_msg("lora forward row %d col %d", t, o);
        }
    }
    lora_backward(dv, dA, dB, dw, dout, v, idx, w, h, n, A, B, scale, IC, OC, r, scr);
    LoraCtx c = {vd, Ad, Bd, wd, dd, idx, n, N, IC, OC, r, scale};
    check_grad("lora dv (gathered)", vd, dv, N * IC, lora_loss, &c);
    check_grad("lora dA (gathered)", Ad, dA, r * IC, lora_loss, &c);
    check_grad("lora dB (gathered)", Bd, dB, OC * r, lora_loss, &c);
    check_grad("lora dw (gathered)", wd, dw, n, lora_loss, &c);
    // all rows, weight 1
    memset(dv, 0, N * IC * sizeof(float));
    memset(dA, 0, r * IC * sizeof(float));
    memset(dB, 0, OC * r * sizeof(float));
    lora_forward(y, h, scr, v, NULL, NULL, N, A, B, scale, IC, OC, r);
    lora_backward(dv, dA, dB, NULL, dout, v, NULL, NULL, h, N, A, B, scale, IC, OC, r, scr);
    LoraCtx c2 = {vd, Ad, Bd, NULL, dd, NULL, N, N, IC, OC, r, scale};
    check_grad("lora dv (all rows)", vd, dv, N * IC, lora_loss, &c2);
    check_grad("lora dA (all rows)", Ad, dA, r * IC, lora_loss, &c2);
    check_grad("lora dB (all rows)", Bd, dB, OC * r, lora_loss, &c2);
    free(v), free(A), free(B), free(w), free(y), free(y0), free(h), free(scr), free(dout), free(dv), free(dA), free(dB);
    free(dw), free(vd), free(Ad), free(Bd), free(wd), free(dd);
}

// ---------------------------------------------------------------------------------------------
// router: slim_route's forward against the double reference, and router_backward against FD

typedef struct {
    double *x, *W, *b, *dw, *dpi, *dist;
    const unsigned char* kept;  // (N, E) the float forward's top-k choice, held fixed
    int N, C, E, n_id;
    double gamma;
} RouteCtx;
static void ref_route(RouteCtx* c, int n, double* pi, double* w) {
    double z[16], mx = -1e300, sum = 0, ks = 0;
    for (int e = 0; e < c->E; e++) {
        double s = c->b ? c->b[e] : 0;
        for (int i = 0; i < c->C; i++) s += c->W[e * c->C + i] * c->x[n * c->C + i];
        z[e] = s + (e < c->n_id ? c->gamma * c->dist[n] : 0);  // yield with d held constant
        mx = z[e] > mx ? z[e] : mx;
    }
    for (int e = 0; e < c->E; e++) sum += (pi[e] = exp(z[e] - mx));
    for (int e = 0; e < c->E; e++) pi[e] /= sum;
    for (int e = 0; e < c->E; e++) ks += c->kept[n * c->E + e] ? pi[e] : 0;
    for (int e = 0; e < c->E; e++) w[e] = c->kept[n * c->E + e] ? pi[e] / ks : 0;
}
static double route_loss(void* p) {
    RouteCtx* c = p;
    double s = 0, pi[16], w[16];
    for (int n = 0; n < c->N; n++) {
        ref_route(c, n, pi, w);
        for (int e = 0; e < c->E; e++) s += w[e] * c->dw[n * c->E + e] + pi[e] * c->dpi[n * c->E + e];
    }
    return s;
}
static void test_router(void** state) {
    int N = 6, C = 8, E = 5, n_id = 2, NC = 3;
    Adapter a;
    memset(&a, 0, sizeof a);
    a.type = ADAPTER_SLIM;
    a.n_layers = 1, a.dim = C, a.n_id = n_id, a.n_lora = E - n_id, a.n_experts = E, a.top_k = 2, a.n_clusters = NC;
    a.r = 2, a.yield_scale = 0.7f;
    AdapterLayer al;
    memset(&al, 0, sizeof al);
    al.active = 1;
    float *W = falloc(E * C), *b = falloc(E), *cen = falloc(NC * C), *sig = falloc(NC * C), *x = falloc(N * C);
    double *Wd = dalloc(E * C), *bd = dalloc(E), *xd = dalloc(N * C), *dwd = dalloc(N * E), *dpid = dalloc(N * E);
    fill(W, Wd, E * C, 1);
    fill(b, bd, E, 0.5);
    fill(cen, NULL, NC * C, 1);
    for (int i = 0; i < NC * C; i++) sig[i] = 0.5f + 0.4f * (float)urand();
    fill(x, xd, N * C, 1);
    al.router_w = W, al.router_b = b, al.centers = cen, al.sigma = sig;
    a.layers = &al;
    a.router_bias = 1;
    SlimRun run;
    slim_run_init(&run, &a, 1);
    float *z = falloc(N * E), *zy = falloc(N * E), *pi = falloc(N * E), *w = falloc(N * E), *dist = falloc(N);
    unsigned char* kept = calloc(N * E, 1);
    double* distd = dalloc(N);
    for (int n = 0; n < N; n++) {
        Route r = {z + n * E, zy + n * E, pi + n * E, w + n * E, 0, 0, 0};
        slim_route(&r, x + n * C, &a, &run, 0);
        dist[n] = r.dist;
        distd[n] = r.dist;
        int nk = 0;
        for (int e = 0; e < E; e++) nk += (kept[n * E + e] = w[n * E + e] != 0.0f);
        assert_int_equal(nk, 2);
    }
    RouteCtx c = {xd, Wd, bd, dwd, dpid, distd, kept, N, C, E, n_id, 0.7};
    double rpi[16], rw[16];
    for (int n = 0; n < N; n++) {
        ref_route(&c, n, rpi, rw);
        check_fwd("route pi", pi + n * E, rpi, E, 1e-5);
        check_fwd("route w", w + n * E, rw, E, 1e-5);
    }
    float *dw = falloc(N * E), *dpi = falloc(N * E), *dx = falloc(N * C), *dW = falloc(E * C), *db = falloc(E);
    float* dz = falloc(N * E);
    fill(dw, dwd, N * E, 1);
    fill(dpi, dpid, N * E, 1);
    router_backward(dx, dW, db, dz, dw, dpi, x, W, w, pi, N, C, E);
    check_grad("router dx", xd, dx, N * C, route_loss, &c);
    check_grad("router dW", Wd, dW, E * C, route_loss, &c);
    check_grad("router db", bd, db, E, route_loss, &c);
    slim_run_free(&run);
    free(W), free(b), free(cen), free(sig), free(x), free(Wd), free(bd), free(xd), free(dwd), free(dpid);
    free(z), free(zy), free(pi), free(w), free(dist), free(kept), free(distd), free(dw), free(dpi), free(dx), free(dW);
    free(db), free(dz);
}

int main(void) {
    ops_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding), cmocka_unit_test(test_rmsnorm),   cmocka_unit_test(test_linear),
        cmocka_unit_test(test_rope),      cmocka_unit_test(test_attention), cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_crossentropy), cmocka_unit_test(test_lora),   cmocka_unit_test(test_router),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

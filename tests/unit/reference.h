// reference.h: an independent double-precision Llama forward pass for tests, written from the
// Hugging Face definitions (not from core/forward.c): RMSNorm, rotate_half RoPE, GQA, SiLU MLP.
// Optional merged LoRA deltas per projection are added to the weights by the tests themselves.
#ifndef SLIMSCOPE_REFERENCE_H
#define SLIMSCOPE_REFERENCE_H

#include "model.h"

// Element i of W's row-major data as the stored dtype defines it, decoded here without the engine's
// kernels: F32 as is, F16 by its bit fields, BF16 as the top half of a float32, Q8_0 as scale * q.
static inline double ref_weight(const Weight* w, size_t i) {
    const uint16_t* h = w->data;
    switch (w->type) {
    case WEIGHT_F32: return ((const float*)w->data)[i];
    case WEIGHT_BF16: {
        uint32_t u = (uint32_t)h[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case WEIGHT_F16: {
        int e = (h[i] >> 10) & 31, mant = h[i] & 1023;
        double v = e == 0 ? ldexp(mant, -24) : ldexp(1024 + mant, e - 25);
        return h[i] & 0x8000 ? -v : v;
    }
    case WEIGHT_Q8: return (double)w->scale[i / Q8_BLOCK] * ((const int8_t*)w->data)[i];
    }
    return NAN;
}

// logits (n, V) for every position of tokens[0..n).
static inline void reference_forward(const Model* m, const int* tokens, int n, double* logits) {
    const ModelConfig* c = &m->cfg;
    int C = c->dim, F = c->hidden_dim, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads, V = c->vocab_size;
    double* x = calloc((size_t)n * C, sizeof(double));
    double* h = calloc((size_t)n * C, sizeof(double));
    double* q = calloc((size_t)n * Hq * D, sizeof(double));
    double* k = calloc((size_t)n * Hkv * D, sizeof(double));
    double* v = calloc((size_t)n * Hkv * D, sizeof(double));
    double* att = calloc((size_t)n * Hq * D, sizeof(double));
    double* g = calloc((size_t)n * F, sizeof(double));
    double* u = calloc((size_t)n * F, sizeof(double));
    double* sc = calloc(n, sizeof(double));
    for (int t = 0; t < n; t++)
        for (int i = 0; i < C; i++) x[t * C + i] = ref_weight(&m->embed, (size_t)tokens[t] * C + i);
#define RMS(dst, src, wt)                                                              \
    for (int t = 0; t < n; t++) {                                                      \
        double ss = 0;                                                                 \
        for (int i = 0; i < C; i++) ss += src[t * C + i] * src[t * C + i];             \
        double r = 1.0 / sqrt(ss / C + c->norm_eps);                                   \
        for (int i = 0; i < C; i++) dst[t * C + i] = src[t * C + i] * r * (wt)[i];     \
    }
#define LIN(dst, src, W, B, in, out)                                                   \
    for (int t = 0; t < n; t++)                                                        \
        for (int o = 0; o < (out); o++) {                                              \
            double s = (B) ? (B)[o] : 0.0;                                             \
            for (int i = 0; i < (in); i++) s += ref_weight(&(W), (size_t)o * (in) + i) * src[(size_t)t * (in) + i]; \
            dst[(size_t)t * (out) + o] = s;                                            \
        }
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights* w = &m->layers[l];
        RMS(h, x, w->attn_norm);
        LIN(q, h, w->w[PROJ_Q], w->b[PROJ_Q], C, Hq * D);
        LIN(k, h, w->w[PROJ_K], w->b[PROJ_K], C, Hkv * D);
        LIN(v, h, w->w[PROJ_V], w->b[PROJ_V], C, Hkv * D);
        // RoPE, rotate_half: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), x1 = first half
        for (int t = 0; t < n; t++)
            for (int which = 0; which < 2; which++) {
                double* base = which ? k + (size_t)t * Hkv * D : q + (size_t)t * Hq * D;
                int heads = which ? Hkv : Hq;
                for (int hh = 0; hh < heads; hh++)
                    for (int i = 0; i < D / 2; i++) {
                        double f = pow((double)c->rope_theta, -2.0 * i / D), a = t * f;
                        double* p = base + hh * D;
                        double x1 = p[i], x2 = p[i + D / 2];
                        p[i] = x1 * cos(a) - x2 * sin(a);
                        p[i + D / 2] = x2 * cos(a) + x1 * sin(a);
                    }
            }
        for (int t = 0; t < n; t++)
            for (int hh = 0; hh < Hq; hh++) {
                int kh = hh / (Hq / Hkv);
                double mx = -1e300, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double d = 0;
                    for (int i = 0; i < D; i++) d += q[((size_t)t * Hq + hh) * D + i] * k[((size_t)s * Hkv + kh) * D + i];
                    sc[s] = d / sqrt((double)D);
                    mx = sc[s] > mx ? sc[s] : mx;
                }
                for (int s = 0; s <= t; s++) sum += (sc[s] = exp(sc[s] - mx));
                for (int i = 0; i < D; i++) {
                    double o = 0;
                    for (int s = 0; s <= t; s++) o += sc[s] / sum * v[((size_t)s * Hkv + kh) * D + i];
                    att[((size_t)t * Hq + hh) * D + i] = o;
                }
            }
        LIN(h, att, w->w[PROJ_O], w->b[PROJ_O], Hq * D, C);
        for (size_t i = 0; i < (size_t)n * C; i++) x[i] += h[i];
        RMS(h, x, w->mlp_norm);
        LIN(g, h, w->w[PROJ_GATE], w->b[PROJ_GATE], C, F);
        LIN(u, h, w->w[PROJ_UP], w->b[PROJ_UP], C, F);
        for (size_t i = 0; i < (size_t)n * F; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        LIN(h, g, w->w[PROJ_DOWN], w->b[PROJ_DOWN], F, C);
        for (size_t i = 0; i < (size_t)n * C; i++) x[i] += h[i];
    }
    RMS(h, x, m->final_norm);
    LIN(logits, h, m->lm_head, (const float*)NULL, C, V);
#undef RMS
#undef LIN
    free(x); free(h); free(q); free(k); free(v); free(att); free(g); free(u); free(sc);
}

// A small random config: the tests vary fields from here.
static inline ModelConfig reference_config(int layers, int heads, int kv_heads) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.arch = ARCH_LLAMA;
    c.dim = 32;
    c.hidden_dim = 48;
    c.n_layers = layers;
    c.n_heads = heads;
    c.n_kv_heads = kv_heads;
    c.head_dim = 8;
    c.vocab_size = 50;
    c.max_seq_len = 64;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.bos_id = c.eos_id = -1;
    return c;
}

static inline void assert_close_d(const float* got, const double* want, size_t n, double tol, const char* label) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (!(d <= worst)) { worst = d; at = i; }
    }
    if (!(worst <= tol)) fail_msg("%s: max abs diff %g at %zu (%g vs %g), tolerance %g", label, worst, at, got[at], want[at], tol);
}

#endif

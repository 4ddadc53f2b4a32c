// cpu.h: the CPU backend's ops (OpenBLAS for matrix products, OpenMP loops for the rest).
// gpu/ implements the same ops with CUDA; tests compare the two.
#ifndef SLIMSCOPE_CPU_H
#define SLIMSCOPE_CPU_H

#include "config.h"

// Dot product with 16 independent partial sums combined in a fixed order: vectorises without
// -ffast-math and gives the same bits whatever the alignment of a and b (masked = unmasked at p = 0).
static inline float dot_f32(const float* a, const float* b, int n) {
    float acc[16] = {0};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
    for (int k = 0; i < n; i++, k++) acc[k] += a[i] * b[i];
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) acc[k] += acc[k + w];
    return acc[0];
}

// y (n, out) = x (n, in) W^T + b, W (out, in) row-major; b may be NULL. n == 1 uses sgemv.
void cpu_matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out);
// out (n, C) = x / sqrt(mean(x^2) + eps) * w, row by row.
void cpu_rmsnorm(float* out, const float* x, const float* w, int n, int C, float eps);
// inv_freq (D/2): theta^(-2i/D), with linear or llama3 rope_scaling applied.
void cpu_rope_inv_freq(float* inv_freq, const ModelConfig* c);
// Rotates n_heads heads of size D in place at position pos, HF rotate_half layout (i pairs with i + D/2).
void cpu_rope(float* x, int n_heads, int D, int pos, const float* inv_freq);
// out = silu(gate) * up, elementwise.
void cpu_silu_mul(float* out, const float* gate, const float* up, size_t n);
// In-place softmax of x (n).
void cpu_softmax(float* x, int n);
// One head of attention: query qh (D) over n_ctx cached key/value rows of one head, row t at
// kh + t * stride (and vh + t * stride).
void cpu_attention_head(float* oh, const float* qh, const float* kh, const float* vh, int n_ctx, size_t stride, int D,
                        float* att);
// Causal attention of one query position over cached keys 0..n_ctx-1 for every head.
// q (Hq*D), caches (n_ctx rows of Hkv*D), out (Hq*D); att: scratch of n_ctx floats.
void cpu_attention(float* out, const float* q, const float* k_cache, const float* v_cache, int n_ctx, int Hq, int Hkv,
                   int D, float* att);

#endif

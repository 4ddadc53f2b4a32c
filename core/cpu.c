// cpu.c: CPU ops for the forward pass. Matrix products go to OpenBLAS; the rest are plain loops.
#include "cpu.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

// Columns [o0, o1) of y (n, out) = x W^T + b: rows o0..o1-1 of W.
static void cpu_matmul_block(float* y, const float* x, const float* w, const float* b, int n, int in, int out, int o0,
                             int o1) {
    int m = o1 - o0;
    const float* wb = w + (size_t)o0 * in;
    if (n == 1) {
        if (b) memcpy(y + o0, b + o0, m * sizeof(float));
        cblas_sgemv(CblasRowMajor, CblasNoTrans, m, in, 1.0f, wb, in, x, 1, b ? 1.0f : 0.0f, y + o0, 1);
        return;
    }
    if (b)
        for (int t = 0; t < n; t++) memcpy(y + (size_t)t * out + o0, b + o0, m * sizeof(float));
    // PyTorch: y = x @ W.T + b
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, in, 1.0f, x, in, wb, in, b ? 1.0f : 0.0f, y + o0, out);
}

// OpenBLAS runs single-threaded (forward_set_threads); the threads come from OpenMP, which splits
// W's rows into blocks. One threading runtime means no spinning pool steals the cores of another.
void cpu_matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out) {
    int nt = omp_get_max_threads();
    long work = (long)n * in * out;
    if (nt > 1 && work >= 1L << 17 && out >= 64) {
        int blocks = nt;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int k = 0; k < blocks; k++) {
            int o0 = (int)((long)out * k / blocks), o1 = (int)((long)out * (k + 1) / blocks);
            if (o1 > o0) cpu_matmul_block(y, x, w, b, n, in, out, o0, o1);
        }
        return;
    }
    cpu_matmul_block(y, x, w, b, n, in, out, 0, out);
}

void cpu_rmsnorm(float* out, const float* x, const float* w, int n, int C, float eps) {
    for (int t = 0; t < n; t++) {
        const float* xr = x + (size_t)t * C;
        float* o = out + (size_t)t * C;
        double ss = 0;  // accumulate in double: C can be large and x far from zero-mean
        for (int i = 0; i < C; i++) ss += (double)xr[i] * xr[i];
        float scale = (float)(1.0 / sqrt(ss / C + eps));
        for (int i = 0; i < C; i++) o[i] = xr[i] * scale * w[i];
    }
}

void cpu_rope_inv_freq(float* inv_freq, const ModelConfig* c) {
    int D = c->head_dim;
    for (int i = 0; i < D / 2; i++) {
        double f = pow((double)c->rope_theta, -2.0 * i / D);
        if (c->rope_scaling == ROPE_LINEAR) {
            f /= c->rope_factor;
        } else if (c->rope_scaling == ROPE_LLAMA3) {
            // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, a smooth ramp between.
            double old = c->rope_original_max_pos, lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
            double wavelen = 2 * M_PI / f;
            if (wavelen > old / lo) {
                f /= c->rope_factor;
            } else if (wavelen >= old / hi) {
                double smooth = (old / wavelen - lo) / (hi - lo);
                f = (1 - smooth) * f / c->rope_factor + smooth * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}

void cpu_rope(float* x, int n_heads, int D, int pos, const float* inv_freq) {
    int half = D / 2;
    for (int i = 0; i < half; i++) {
        float angle = pos * inv_freq[i];
        float c = cosf(angle), s = sinf(angle);
        for (int h = 0; h < n_heads; h++) {
            float* v = x + (size_t)h * D;
            // PyTorch: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1)
            float a = v[i], b = v[i + half];
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
        }
    }
}

void cpu_silu_mul(float* out, const float* gate, const float* up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void cpu_softmax(float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void cpu_attention_head(float* oh, const float* qh, const float* kh, const float* vh, int n_ctx, size_t stride, int D,
                        float* att) {
    float scale = 1.0f / sqrtf((float)D);
    for (int t = 0; t < n_ctx; t++) att[t] = dot_f32(qh, kh + (size_t)t * stride, D) * scale;
    cpu_softmax(att, n_ctx);
    memset(oh, 0, D * sizeof(float));
    for (int t = 0; t < n_ctx; t++) {
        const float* vt = vh + (size_t)t * stride;
        float a = att[t];
        for (int i = 0; i < D; i++) oh[i] += a * vt[i];
    }
}

void cpu_attention(float* out, const float* q, const float* k_cache, const float* v_cache, int n_ctx, int Hq, int Hkv,
                   int D, float* att) {
    int group = Hq / Hkv;  // GQA: query head h reads key/value head h / (Hq / Hkv)
    for (int h = 0; h < Hq; h++)
        cpu_attention_head(out + (size_t)h * D, q + (size_t)h * D, k_cache + (size_t)(h / group) * D,
                           v_cache + (size_t)(h / group) * D, n_ctx, (size_t)Hkv * D, D, att);
}

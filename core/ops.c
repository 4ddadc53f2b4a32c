// ops.c: the engine's op pairs (see ops.h), used by inference and training alike. Matrix products
// go to matmul() (weight.c) forward and OpenBLAS sgemm backward; other loops use OpenMP with
// static schedules and no floating-point reductions across threads, so results depend only on the
// thread count (deterministic runs for a given --threads).
#include "ops.h"

#include "common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// threads and the timed sgemm

static int g_threads = 0;
static double g_matmul_s = 0, g_attention_s = 0;
static int g_in_attention = 0;  // attention's products are counted as attention, not as matmul

void ops_set_threads(int n) {
    if (n > 0) {
        g_threads = n;
        omp_set_num_threads(n);
    }
    openblas_set_num_threads(1);  // see mm(): the OpenMP threads split the products
}

int ops_get_threads(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void ops_apply_threads(void) {
    if (g_threads) omp_set_num_threads(g_threads);
    openblas_set_num_threads(1);
}

double train_matmul_seconds(int reset) {
    double s = g_matmul_s;
    if (reset) g_matmul_s = 0;
    return s;
}

double train_attention_seconds(int reset) {
    double s = g_attention_s;
    if (reset) g_attention_s = 0;
    return s;
}

// Row-major sgemm: C (M, N) = alpha * op(A) op(B) + beta * C. OpenBLAS itself runs on one thread:
// mixing its pthreads with OpenMP's on two cores made both spin against each other (a third of
// the time went to busy-waiting), so the product is split here, by rows of C (or by columns when
// C has few rows), across the OpenMP threads. Inside a parallel region it runs as one call.
// Timed when called outside a parallel region (the bench's "share of time in matmuls").
static void mm(int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
               float beta, float* C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {  // empty sum: C = beta * C
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    int nt = ops_get_threads();
    if (omp_in_parallel() || nt <= 1 || (double)M * N * K < 262144.0) {
        int timed = !omp_in_parallel() && !g_in_attention;
        double t0 = timed ? now_seconds() : 0;
        cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        if (timed) g_matmul_s += now_seconds() - t0;
        return;
    }
    double t0 = now_seconds();
    int by_rows = M >= N || M >= 64 * nt;
#pragma omp parallel num_threads(nt)
    {
        int i = omp_get_thread_num(), n = omp_get_num_threads();
        int total = by_rows ? M : N;
        // chunk boundaries on multiples of 16 keep the kernels' blocks whole
        int per = ((total + n - 1) / n + 15) / 16 * 16;
        int lo = i * per, hi = lo + per < total ? lo + per : total;
        if (lo < hi) {
            if (by_rows)
                cblas_sgemm(CblasRowMajor, TA, TB, hi - lo, N, K, alpha, ta ? A + lo : A + (size_t)lo * lda, lda, B, ldb,
                            beta, C + (size_t)lo * ldc, ldc);
            else
                cblas_sgemm(CblasRowMajor, TA, TB, M, hi - lo, K, alpha, A, lda, tb ? B + (size_t)lo * ldb : B + lo, ldb,
                            beta, C + lo, ldc);
        }
    }
    g_matmul_s += now_seconds() - t0;
}

// Loops smaller than this run on one thread: a parallel region costs more than it saves.
#define PAR(work) ((work) >= 32768)

// Splits [0, n) into nt contiguous chunks; chunk i is [*lo, *hi).
static void chunk(size_t n, int nt, int i, size_t* lo, size_t* hi) {
    *lo = n * i / nt;
    *hi = n * (i + 1) / nt;
}

// ---------------------------------------------------------------------------------------------
// embedding

void embedding_forward(float* out, const int* tokens, const Weight* wte, int N) {
    int C = wte->cols;
#pragma omp parallel for schedule(static) if (PAR((size_t)N * C))
    for (int n = 0; n < N; n++) weight_row(out + (size_t)n * C, wte, tokens[n]);
}

void embedding_backward(float* dwte, const float* dout, const int* tokens, int N, int C) {
    // rows of dwte repeat when a token repeats: split the channels between threads instead of rows
#pragma omp parallel if (PAR((size_t)N * C))
    {
        size_t lo, hi;
        chunk(C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        for (int n = 0; n < N; n++) {
            float* d = dwte + (size_t)tokens[n] * C;
            const float* g = dout + (size_t)n * C;
#pragma omp simd
            for (size_t i = lo; i < hi; i++) d[i] += g[i];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if (PAR((size_t)N * C))
    for (int n = 0; n < N; n++) {
        const float* x = inp + (size_t)n * C;
        float* o = out + (size_t)n * C;
        double ss = 0;  // as core/cpu.c: accumulate in double
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < C; i++) ss += (double)x[i] * x[i];
        float s = (float)(1.0 / sqrt(ss / C + eps));
#pragma omp simd
        for (int i = 0; i < C; i++) o[i] = x[i] * s * weight[i];
        if (rstd) rstd[n] = s;
    }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C) {
    // y_i = w_i x_i s, s = (mean x^2 + eps)^(-1/2): dx_i = s w_i dy_i - s^3 x_i / C * sum_j w_j dy_j x_j
    if (dinp) {
#pragma omp parallel for schedule(static) if (PAR((size_t)N * C))
        for (int n = 0; n < N; n++) {
            const float* x = inp + (size_t)n * C;
            const float* g = dout + (size_t)n * C;
            float* d = dinp + (size_t)n * C;
            float s = rstd[n];
            double dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int i = 0; i < C; i++) dot += (double)g[i] * weight[i] * x[i];
            float k = (float)(dot * s * s * s / C);
#pragma omp simd
            for (int i = 0; i < C; i++) d[i] += s * weight[i] * g[i] - k * x[i];
        }
    }
    if (dweight) {
#pragma omp parallel if (PAR((size_t)N * C))
        {
            size_t lo, hi;
            chunk(C, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            for (int n = 0; n < N; n++) {
                const float* x = inp + (size_t)n * C;
                const float* g = dout + (size_t)n * C;
                float s = rstd[n];
#pragma omp simd
                for (size_t i = lo; i < hi; i++) dweight[i] += g[i] * x[i] * s;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// linear

void linear_forward(float* out, const float* inp, const Weight* weight, const float* bias, int N) {
    int timed = !omp_in_parallel() && !g_in_attention;
    double t0 = timed ? now_seconds() : 0;
    matmul(out, inp, weight, bias, N);  // PyTorch: out = inp @ weight.T + bias
    if (timed) g_matmul_s += now_seconds() - t0;
}

void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int IC, int OC) {
    if (dinp) mm(0, 0, N, IC, OC, 1.0f, dout, OC, weight, IC, 1.0f, dinp, IC);        // dinp += dout @ W
    if (dweight) mm(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, 1.0f, dweight, IC);     // dW += dout.T @ inp
    if (dbias) {
#pragma omp parallel if (PAR((size_t)N * OC))
        {
            size_t lo, hi;
            chunk(OC, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            for (int n = 0; n < N; n++) {
                const float* g = dout + (size_t)n * OC;
#pragma omp simd
                for (size_t j = lo; j < hi; j++) dbias[j] += g[j];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RoPE (rotate_half layout)

void rope_inv_freq(float* inv_freq, const ModelConfig* c) {
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

void rope_tables(float* cos_t, float* sin_t, const float* inv_freq, int p0, int p1, int D) {
    int half = D / 2;
    for (int p = p0; p < p1; p++)
        for (int i = 0; i < half; i++) {
            float angle = p * inv_freq[i];
            cos_t[(size_t)p * half + i] = cosf(angle);
            sin_t[(size_t)p * half + i] = sinf(angle);
        }
}

// out = R(sign * angle) inp per head, R = [[c, -s], [s, c]] on the halves (PyTorch: x * cos +
// rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1)); acc adds to out instead. The backward is
// the transpose, R(-angle), accumulated. Inlined with constant sign and acc: no cost in the loop.
static inline __attribute__((always_inline)) void rope_rotate(float* out, const float* inp, const float* cos_t,
                                                              const float* sin_t, const int* pos, int N, int H, int D,
                                                              const float sign, const int acc) {
    int half = D / 2;
#pragma omp parallel for schedule(static) if (PAR((size_t)N * H * D))
    for (int n = 0; n < N; n++) {
        const float* c = cos_t + (size_t)pos[n] * half;
        const float* s = sin_t + (size_t)pos[n] * half;
        for (int h = 0; h < H; h++) {
            const float* x = inp + ((size_t)n * H + h) * D;
            float* o = out + ((size_t)n * H + h) * D;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float a = x[i], b = x[i + half], sn = sign * s[i];
                float lo = a * c[i] - b * sn, hi = b * c[i] + a * sn;
                o[i] = acc ? o[i] + lo : lo;
                o[i + half] = acc ? o[i + half] + hi : hi;
            }
        }
    }
}

void rope_forward(float* out, const float* inp, const float* cos_t, const float* sin_t, const int* pos, int N, int H,
                  int D) {
    rope_rotate(out, inp, cos_t, sin_t, pos, N, H, D, 1.0f, 0);
}

void rope_backward(float* dinp, const float* dout, const float* cos_t, const float* sin_t, const int* pos, int N,
                   int H, int D) {
    rope_rotate(dinp, dout, cos_t, sin_t, pos, N, H, D, -1.0f, 1);
}

// ---------------------------------------------------------------------------------------------
// causal attention with GQA

// exp(x) for the softmaxes and SiLU: Cody-Waite range reduction and a degree-6 polynomial
// (relative error ~2e-7), written without calls or branches so the loops vectorise.
static inline float fexp(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    union {
        float f;
        uint32_t u;
    } t = {x * 1.44269504f + 12582912.0f}, e;  // round to nearest (1.5 * 2^23 trick): n sits in t's low bits
    float n = t.f - 12582912.0f;
    float r = x - n * 0.693145752f;
    r = r - n * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666418f + r * (0.00833345205f + r * 0.00138878031f)))));
    // 2^n from t's bits rather than (int)n, which is undefined for a NaN x (the NaN still comes out, through p)
    e.u = (t.u - 0x4B400000u + 127u) << 23;
    return p * e.f;
}

// Sum of x[0..n) in double with four partial sums (a fixed order: deterministic).
static inline double dsum(const float* x, int n) {
    double a = 0, b = 0, c = 0, d = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) a += x[i], b += x[i + 1], c += x[i + 2], d += x[i + 3];
    for (; i < n; i++) a += x[i];
    return (a + b) + (c + d);
}

// Causal attention in row blocks: block [i0, i0 + R) only needs keys 0..i0 + R - 1, so the
// products skip the masked upper triangle (about 40% of the work at T = 256).
#define ATT_BLOCK 64

// Each (b, h) pair is independent: threads take pairs and call single-threaded sgemm.
void attention_forward(float* out, float* att, const float* q, const float* k, const float* v, int B, int T, int Hq,
                       int Hkv, int D) {
    int qd = Hq * D, kvd = Hkv * D, group = Hq / Hkv;
    float scale = 1.0f / sqrtf((float)D);
    int nt = ops_get_threads();
    double t0 = now_seconds();
    g_in_attention = 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (PAR((size_t)B * Hq * T * T * D / 8))
    for (int bh = 0; bh < B * Hq; bh++) {
        int b = bh / Hq, h = bh % Hq, kvh = h / group;
        const float* qh = q + (size_t)b * T * qd + (size_t)h * D;
        const float* kh = k + (size_t)b * T * kvd + (size_t)kvh * D;
        const float* vh = v + (size_t)b * T * kvd + (size_t)kvh * D;
        float* oh = out + (size_t)b * T * qd + (size_t)h * D;
        float* P = att + (size_t)bh * T * T;
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int R = T - i0 < ATT_BLOCK ? T - i0 : ATT_BLOCK, nc = i0 + R;
            float* Pb = P + (size_t)i0 * T;
            // PyTorch: S = q @ k.T / sqrt(D), causal mask, softmax, out = P @ v
            mm(0, 1, R, nc, D, scale, qh + (size_t)i0 * qd, qd, kh, kvd, 0.0f, Pb, T);
            for (int ii = 0; ii < R; ii++) {
                int i = i0 + ii;
                float* row = Pb + (size_t)ii * T;
                float mx = row[0];
#pragma omp simd reduction(max : mx)
                for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
#pragma omp simd
                for (int j = 0; j <= i; j++) row[j] = fexp(row[j] - mx);
                float inv = (float)(1.0 / dsum(row, i + 1));
#pragma omp simd
                for (int j = 0; j <= i; j++) row[j] *= inv;
                for (int j = i + 1; j < T; j++) row[j] = 0.0f;
            }
            mm(0, 0, R, D, nc, 1.0f, Pb, T, vh, kvd, 0.0f, oh + (size_t)i0 * qd, qd);
        }
    }
    g_in_attention = 0;
    g_attention_s += now_seconds() - t0;
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* att, int B, int T, int Hq, int Hkv, int D) {
    int qd = Hq * D, kvd = Hkv * D, group = Hq / Hkv;
    float scale = 1.0f / sqrtf((float)D);
    int nt = ops_get_threads();
    float* scratch = xmalloc((size_t)nt * ATT_BLOCK * T * sizeof(float));
    double t0 = now_seconds();
    g_in_attention = 1;
    // threads take (b, kv head) pairs: the query heads sharing a kv head accumulate into its dk, dv
#pragma omp parallel for schedule(static) num_threads(nt) if (PAR((size_t)B * Hq * T * T * D / 8))
    for (int bk = 0; bk < B * Hkv; bk++) {
        int b = bk / Hkv, kvh = bk % Hkv;
        float* dS = scratch + (size_t)omp_get_thread_num() * ATT_BLOCK * T;
        const float* kh = k + (size_t)b * T * kvd + (size_t)kvh * D;
        const float* vh = v + (size_t)b * T * kvd + (size_t)kvh * D;
        float* dkh = dk + (size_t)b * T * kvd + (size_t)kvh * D;
        float* dvh = dv + (size_t)b * T * kvd + (size_t)kvh * D;
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            const float* P = att + ((size_t)b * Hq + h) * T * T;
            const float* qh = q + (size_t)b * T * qd + (size_t)h * D;
            const float* doh = dout + (size_t)b * T * qd + (size_t)h * D;
            float* dqh = dq + (size_t)b * T * qd + (size_t)h * D;
            for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
                int R = T - i0 < ATT_BLOCK ? T - i0 : ATT_BLOCK, nc = i0 + R;
                const float* Pb = P + (size_t)i0 * T;
                const float* dob = doh + (size_t)i0 * qd;
                mm(0, 1, R, nc, D, 1.0f, dob, qd, vh, kvd, 0.0f, dS, T);  // dP = dout @ v.T
                for (int ii = 0; ii < R; ii++) {  // softmax backward: dS = P * (dP - sum_j P dP) * scale
                    int i = i0 + ii;
                    float* row = dS + (size_t)ii * T;
                    const float* p = Pb + (size_t)ii * T;
                    double a = 0, c = 0;
                    int j = 0;
                    for (; j + 2 <= i + 1; j += 2) a += (double)row[j] * p[j], c += (double)row[j + 1] * p[j + 1];
                    for (; j <= i; j++) a += (double)row[j] * p[j];
                    float fs = (float)(a + c);
#pragma omp simd
                    for (j = 0; j <= i; j++) row[j] = p[j] * (row[j] - fs) * scale;
                    for (j = i + 1; j < nc; j++) row[j] = 0.0f;
                }
                mm(0, 0, R, D, nc, 1.0f, dS, T, kh, kvd, 1.0f, dqh + (size_t)i0 * qd, qd);  // dq += dS @ k
                mm(1, 0, nc, D, R, 1.0f, dS, T, qh + (size_t)i0 * qd, qd, 1.0f, dkh, kvd);  // dk += dS.T @ q
                mm(1, 0, nc, D, R, 1.0f, Pb, T, dob, qd, 1.0f, dvh, kvd);                   // dv += P.T @ dout
            }
        }
    }
    free(scratch);
    g_in_attention = 0;
    g_attention_s += now_seconds() - t0;
}

// ---------------------------------------------------------------------------------------------
// attention of one position over a KV cache (inference)

void attention_cached_head(float* oh, const float* qh, const float* kh, const float* vh, int n_ctx, size_t stride, int D,
                           float* att) {
    float scale = 1.0f / sqrtf((float)D);
    float mx = -INFINITY;
    for (int t = 0; t < n_ctx; t++) {
        att[t] = dot_f32(qh, kh + (size_t)t * stride, D) * scale;
        mx = att[t] > mx ? att[t] : mx;
    }
    double sum = 0;
    for (int t = 0; t < n_ctx; t++) {
        att[t] = expf(att[t] - mx);
        sum += att[t];
    }
    float inv = (float)(1.0 / sum);
    memset(oh, 0, D * sizeof(float));
    for (int t = 0; t < n_ctx; t++) {
        const float* vt = vh + (size_t)t * stride;
        float a = att[t] * inv;
        for (int i = 0; i < D; i++) oh[i] += a * vt[i];
    }
}

void attention_cached_rows(float* out, size_t out_stride, const float* q, size_t q_stride, const float* kh,
                           const float* vh, int n, int pos, int D, float* S) {
    int ctx = pos + n;
    float scale = 1.0f / sqrtf((float)D);
    // PyTorch: S = q @ k.T / sqrt(D); row t sees keys 0..pos + t
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, ctx, D, scale, q, (int)q_stride, kh, D, 0.0f, S, ctx);
    for (int t = 0; t < n; t++) {
        float* row = S + (size_t)t * ctx;
        int len = pos + t + 1;
        float mx = -INFINITY;
        for (int j = 0; j < len; j++) mx = row[j] > mx ? row[j] : mx;
        double sum = 0;
        for (int j = 0; j < len; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < len; j++) row[j] *= inv;
        for (int j = len; j < ctx; j++) row[j] = 0;  // causal mask
    }
    // out = P @ v
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, ctx, 1.0f, S, ctx, vh, D, 0.0f, out, (int)out_stride);
}

// ---------------------------------------------------------------------------------------------
// SiLU gate

void swiglu_forward(float* out, const float* gate, const float* up, size_t n) {
#pragma omp parallel for simd schedule(static) if (PAR(n))
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + fexp(-g)) * up[i];
    }
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n) {
#pragma omp parallel for simd schedule(static) if (PAR(n))
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float sg = 1.0f / (1.0f + fexp(-g));
        // d silu(g) / dg = sg * (1 + g * (1 - sg))
        dgate[i] += dout[i] * up[i] * sg * (1.0f + g * (1.0f - sg));
        dup[i] += dout[i] * g * sg;
    }
}

// ---------------------------------------------------------------------------------------------
// cross-entropy

void crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, int N, int V) {
#pragma omp parallel for schedule(static) if (PAR((size_t)N * V))
    for (int n = 0; n < N; n++) {
        const float* l = logits + (size_t)n * V;
        float* p = probs + (size_t)n * V;
        int t = targets[n];
        float mx = l[0];
#pragma omp simd reduction(max : mx)
        for (int i = 1; i < V; i++) mx = l[i] > mx ? l[i] : mx;
        float lt = t >= 0 ? l[t] : 0.0f;  // read before p (which may alias l) is written
#pragma omp simd
        for (int i = 0; i < V; i++) p[i] = fexp(l[i] - mx);
        double sum = dsum(p, V);
        float inv = (float)(1.0 / sum);
#pragma omp simd
        for (int i = 0; i < V; i++) p[i] *= inv;
        losses[n] = t >= 0 ? (float)(log(sum) - (double)(lt - mx)) : 0.0f;
    }
}

void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V) {
#pragma omp parallel for schedule(static) if (PAR((size_t)N * V))
    for (int n = 0; n < N; n++) {
        const float* p = probs + (size_t)n * V;
        float* d = dlogits + (size_t)n * V;
        int t = targets[n];
        if (t < 0) {
            memset(d, 0, V * sizeof(float));
            continue;
        }
#pragma omp simd
        for (int i = 0; i < V; i++) d[i] = dloss * p[i];
        d[t] -= dloss;
    }
}

// ---------------------------------------------------------------------------------------------
// LoRA expert on a gathered set of rows

static void gather_rows(float* dst, const float* src, const int* idx, int n, int C) {
#pragma omp parallel for schedule(static) if (PAR((size_t)n * C))
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * C, src + (size_t)idx[i] * C, C * sizeof(float));
}

static void scatter_add_rows(float* dst, const float* src, const int* idx, int n, int C) {
    // the rows of one expert's token list are distinct, so threads never share a row
#pragma omp parallel for schedule(static) if (PAR((size_t)n * C))
    for (int i = 0; i < n; i++) {
        float* d = dst + (size_t)idx[i] * C;
        const float* s = src + (size_t)i * C;
#pragma omp simd
        for (int c = 0; c < C; c++) d[c] += s[c];
    }
}

void lora_forward(float* y, float* h, float* scratch, const float* v, const int* idx, const float* w, int n,
                  const float* A, const float* B, float scale, int IC, int OC, int r) {
    if (n <= 0) return;
    float* vg = scratch;                       // (n, IC)
    float* hw = vg + (size_t)n * IC;           // (n, r)
    float* yg = hw + (size_t)n * r;            // (n, OC)
    const float* vin = v;
    if (idx) {
        gather_rows(vg, v, idx, n, IC);
        vin = vg;
    }
    mm(0, 1, n, r, IC, 1.0f, vin, IC, A, IC, 0.0f, h, r);  // h = v @ A.T
    for (int i = 0; i < n; i++) {
        float f = (w ? w[i] : 1.0f) * scale;
        for (int j = 0; j < r; j++) hw[(size_t)i * r + j] = h[(size_t)i * r + j] * f;
    }
    if (idx) {
        mm(0, 1, n, OC, r, 1.0f, hw, r, B, r, 0.0f, yg, OC);  // PyTorch: y += w * s * (h @ B.T)
        scatter_add_rows(y, yg, idx, n, OC);
    } else {
        mm(0, 1, n, OC, r, 1.0f, hw, r, B, r, 1.0f, y, OC);
    }
}

void lora_backward(float* dv, float* dA, float* dB, float* dw, const float* dy, const float* v, const int* idx,
                   const float* w, const float* h, int n, const float* A, const float* B, float scale, int IC,
                   int OC, int r, float* scratch) {
    if (n <= 0) return;
    float* dyg = scratch;                      // (n, OC)
    float* G = dyg + (size_t)n * OC;           // (n, r)
    float* hw = G + (size_t)n * r;             // (n, r)
    float* vg = hw + (size_t)n * r;            // (n, IC)
    float* dvg = vg + (size_t)n * IC;          // (n, IC)
    const float* dyin = dy;
    const float* vin = v;
    if (idx) {
        gather_rows(dyg, dy, idx, n, OC);
        gather_rows(vg, v, idx, n, IC);
        dyin = dyg;
        vin = vg;
    }
    mm(0, 0, n, r, OC, 1.0f, dyin, OC, B, r, 0.0f, G, r);  // G = dy @ B  (n, r)
    for (int i = 0; i < n; i++) {
        float f = (w ? w[i] : 1.0f) * scale;
        float* g = G + (size_t)i * r;
        const float* hi = h + (size_t)i * r;
        if (dw) {  // d y / d w_i = scale * B h_i, so dw_i = scale * <B^T dy, h_i>
            double s = 0;
            for (int j = 0; j < r; j++) s += (double)g[j] * hi[j];
            dw[i] += (float)(s * scale);
        }
        for (int j = 0; j < r; j++) {
            hw[(size_t)i * r + j] = hi[j] * f;
            g[j] *= f;  // G becomes dh = f * B^T dy
        }
    }
    if (dB) mm(1, 0, OC, r, n, 1.0f, dyin, OC, hw, r, 1.0f, dB, r);   // dB += dy.T @ (f h)
    if (dA) mm(1, 0, r, IC, n, 1.0f, G, r, vin, IC, 1.0f, dA, IC);     // dA += dh.T @ v
    if (dv) {
        if (idx) {
            mm(0, 0, n, IC, r, 1.0f, G, r, A, IC, 0.0f, dvg, IC);      // dv += dh @ A
            scatter_add_rows(dv, dvg, idx, n, IC);
        } else {
            mm(0, 0, n, IC, r, 1.0f, G, r, A, IC, 1.0f, dv, IC);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// router

void router_backward(float* dx, float* dWr, float* dbr, float* dz, const float* dw, const float* dpi, const float* x,
                     const float* Wr, const float* w, const float* pi, int N, int C, int E) {
#pragma omp parallel for schedule(static) if (PAR((size_t)N * E * 4))
    for (int n = 0; n < N; n++) {
        const float* wn = w + (size_t)n * E;
        const float* gw = dw + (size_t)n * E;
        float* z = dz + (size_t)n * E;
        double s = 0;
        for (int e = 0; e < E; e++)
            if (wn[e] != 0.0f) s += (double)wn[e] * gw[e];
        for (int e = 0; e < E; e++) z[e] = wn[e] != 0.0f ? wn[e] * (gw[e] - (float)s) : 0.0f;
        if (dpi) {  // softmax backward over every expert (the balance loss reads pi)
            const float* p = pi + (size_t)n * E;
            const float* gp = dpi + (size_t)n * E;
            double s2 = 0;
            for (int e = 0; e < E; e++) s2 += (double)p[e] * gp[e];
            for (int e = 0; e < E; e++) z[e] += p[e] * (gp[e] - (float)s2);
        }
    }
    if (dWr) mm(1, 0, E, C, N, 1.0f, dz, E, x, C, 1.0f, dWr, C);   // dW_r += dz.T @ x
    if (dbr)
        for (int n = 0; n < N; n++)
            for (int e = 0; e < E; e++) dbr[e] += dz[(size_t)n * E + e];
    if (dx) mm(0, 0, N, C, E, 1.0f, dz, E, Wr, C, 1.0f, dx, C);    // dx += dz @ W_r
}

// ops.h: the one op set of the engine, llm.c style pairs: each x_forward saves what its x_backward
// needs, arguments are ordered outputs, inputs, weights, dims, and backward passes accumulate (+=).
// Inference (forward.c, through the CPU backend) and training (train.c) call the same forward halves.
#ifndef SLIMSCOPE_OPS_H
#define SLIMSCOPE_OPS_H

#include "config.h"
#include "weight.h"

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

// ---------------------------------------------------------------------------------------------
// N rows (B*T in training, the chunk in inference). Activations are row-major (N, channels).

// The one place that sets threads: OpenMP's team size for every loop and product (OpenBLAS itself
// stays single-threaded: see mm() in ops.c); 0 = leave as is. ops_apply_threads() re-applies the
// setting in the calling thread (an OpenMP setting is per thread: the TUI's worker calls it).
void ops_set_threads(int n);
int ops_get_threads(void);
void ops_apply_threads(void);
// Seconds spent in sgemm calls made outside parallel regions (the bench's matmul share).
double train_matmul_seconds(int reset);
// Wall seconds inside attention_forward / attention_backward (their sgemm calls are not in the above).
double train_attention_seconds(int reset);

// out (N, C) = wte[tokens] (any weight dtype: rows widened to float32)
void embedding_forward(float* out, const int* tokens, const Weight* wte, int N);
void embedding_backward(float* dwte, const float* dout, const int* tokens, int N, int C);

// out = inp / sqrt(mean(inp^2) + eps) * weight, per row; rstd (N) saved for the backward (may be NULL).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int N, int C);

// PyTorch: out (N, OC) = inp (N, IC) @ weight.T + bias; weight (OC, IC) in any dtype (matmul() in
// weight.c); bias may be NULL. Backward (float32 weights): any of dinp, dweight, dbias may be NULL.
void linear_forward(float* out, const float* inp, const Weight* weight, const float* bias, int N);
void linear_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int N, int IC, int OC);

// RoPE in Hugging Face's rotate_half layout (element i pairs with i + D/2) on (N, H, D) where row
// n sits at position pos[n]; cos/sin tables are (max_pos, D/2). out may alias inp.
void rope_forward(float* out, const float* inp, const float* cos_t, const float* sin_t, const int* pos, int N, int H,
                  int D);
void rope_backward(float* dinp, const float* dout, const float* cos_t, const float* sin_t, const int* pos, int N,
                   int H, int D);
// inv_freq (D/2): theta^(-2i/D), with linear or llama3 rope_scaling applied.
void rope_inv_freq(float* inv_freq, const ModelConfig* c);
// Rows [p0, p1) of the cos/sin tables (max_pos, D/2) from inv_freq.
void rope_tables(float* cos_t, float* sin_t, const float* inv_freq, int p0, int p1, int D);

// Causal self-attention with GQA (query head h reads key/value head h / (Hq/Hkv)).
// q (B, T, Hq*D), k, v (B, T, Hkv*D), out (B, T, Hq*D); att (B, Hq, T, T) saves the probabilities
// (zeros above the diagonal). Backward: dq, dk, dv accumulate.
void attention_forward(float* out, float* att, const float* q, const float* k, const float* v, int B, int T, int Hq,
                       int Hkv, int D);
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* att, int B, int T, int Hq, int Hkv, int D);

// Inference: one query position over a KV cache. qh (D) against n_ctx cached rows of one key/value
// head, row t at kh + t * stride (and vh + t * stride); oh (D); att: scratch of n_ctx floats.
void attention_cached_head(float* oh, const float* qh, const float* kh, const float* vh, int n_ctx, size_t stride, int D,
                           float* att);

// The same for n query rows at positions pos..pos+n-1 (a prefill chunk) of one head, through two
// sgemm calls: rows of q and out at the given strides, key/value rows contiguous (stride D);
// S: scratch of n * (pos + n) floats.
void attention_cached_rows(float* out, size_t out_stride, const float* q, size_t q_stride, const float* kh,
                           const float* vh, int n, int pos, int D, float* S);

// out = silu(gate) * up, elementwise.
void swiglu_forward(float* out, const float* gate, const float* up, size_t n);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, size_t n);

// losses (N) = -log softmax(logits)[target]; rows with target < 0 get loss 0. probs (N, V) may
// alias logits. Backward WRITES dlogits = dloss * (probs - onehot) (0 on ignored rows), so that
// dlogits may alias probs (the logits buffer is used three times); it does not accumulate.
void crossentropy_forward(float* losses, float* probs, const float* logits, const int* targets, int N, int V);
void crossentropy_backward(float* dlogits, const float* probs, const int* targets, float dloss, int N, int V);

// One LoRA expert applied to a gathered set of n rows: for i < n, t = idx[i] (idx NULL: t = i),
//   y[t] += w[i] * scale * B (A v[t])            (w NULL: weight 1)
// A (r, IC), B (OC, r). h (n, r) saves A v[t] for the backward; scratch: n * (IC + r + OC) floats.
void lora_forward(float* y, float* h, float* scratch, const float* v, const int* idx, const float* w, int n,
                  const float* A, const float* B, float scale, int IC, int OC, int r);
// dv[t] += ..., dA += ..., dB += ..., dw[i] += scale * <B^T dy[t], h[i]> (dw may be NULL).
// scratch: at least n * (2 IC + OC + 2 r) floats.
void lora_backward(float* dv, float* dA, float* dB, float* dw, const float* dy, const float* v, const int* idx,
                   const float* w, const float* h, int n, const float* A, const float* B, float scale, int IC,
                   int OC, int r, float* scratch);

// Router backward through the renormalised softmax over the kept set (SLIM.md section 2 step 5):
// kept weights are w_i = exp(z'_i) / sum_{j kept} exp(z'_j), so dz'_i = w_i (dw_i - sum_j w_j dw_j)
// on the kept set; the top-k choice and the yield term gamma * d are constants. dpi (N, E), may be
// NULL: gradient w.r.t. the full softmax pi (the balance loss). dz = dz'. Then dW_r += dz^T x,
// db_r += sum dz, dx += dz W_r. dz: scratch (N, E). Any of dx, dWr, dbr may be NULL.
void router_backward(float* dx, float* dWr, float* dbr, float* dz, const float* dw, const float* dpi, const float* x,
                     const float* Wr, const float* w, const float* pi, int N, int C, int E);

#endif

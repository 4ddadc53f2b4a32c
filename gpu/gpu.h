// gpu.h: CUDA + cuBLAS kernels: the same ops as core/ops.c on device memory. Each kernel has
// its CPU twin in core/ops.c (or core/slim.c) and tests/unit/test_gpu.c compares the two on a GPU.
// Built when nvcc is found (GPU=0 disables); every function is safe to call without a device:
// gpu_available() says whether one is there.
#ifndef SLIMSCOPE_GPU_H
#define SLIMSCOPE_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Number of CUDA devices (0 when none or no driver).
int gpu_available(void);
// Creates the cuBLAS handle on device 0; returns 0, or -1 with a message in msg (size n).
int gpu_init(char* msg, size_t n);
void gpu_shutdown(void);

float* gpu_alloc(size_t n_floats);
int* gpu_alloc_int(size_t n);
void gpu_free(void* p);
void gpu_upload(void* dst, const void* src, size_t bytes);
void gpu_download(void* dst, const void* src, size_t bytes);
void gpu_sync(void);

// y (n, out) = x (n, in) W^T + b (cuBLAS sgemm); b may be NULL.
void gpu_matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out);
// out (n, C) = x / sqrt(mean(x^2) + eps) * w.
void gpu_rmsnorm(float* out, const float* x, const float* w, int n, int C, float eps);
// Rotates x (n tokens of n_heads heads of size D) in place, token t at position pos0 + t, rotate_half layout.
void gpu_rope(float* x, int n, int n_heads, int D, int pos0, const float* inv_freq);
// out = silu(gate) * up.
void gpu_silu_mul(float* out, const float* gate, const float* up, size_t n);
// Causal attention for n query tokens at positions pos0..pos0+n-1 over caches of rows 0..pos0+n-1.
void gpu_attention(float* out, const float* q, const float* k_cache, const float* v_cache, int n, int pos0, int Hq,
                   int Hkv, int D);
// Masked LoRA delta of one expert for one token with packed keep-sets (SLIM.md section 4):
// y[rows[i]] += factor * B_packed[i] . (A_packed vg), vg = v gathered at cols.
void gpu_lora_masked(float* y, const float* v, const float* a_packed, const float* b_packed, const int* rows,
                     const int* cols, int n_row, int n_col, int r, float factor);

#ifdef __cplusplus
}
#endif

#endif

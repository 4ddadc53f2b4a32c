// backend.cu: device memory, cuBLAS matrix products and the small kernels of the forward pass.
// CPU twins: core/cpu.c (matmul, rmsnorm, rope, silu_mul, attention) and core/slim.c (masked LoRA).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

#include "gpu/gpu.h"

static cublasHandle_t g_blas;
static int g_ready;

extern "C" int gpu_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

extern "C" int gpu_init(char* msg, size_t n) {
    if (g_ready) return 0;
    if (!gpu_available()) {
        snprintf(msg, n, "no CUDA device");
        return -1;
    }
    cudaError_t e = cudaSetDevice(0);
    if (e != cudaSuccess) {
        snprintf(msg, n, "cudaSetDevice: %s", cudaGetErrorString(e));
        return -1;
    }
    if (cublasCreate(&g_blas) != CUBLAS_STATUS_SUCCESS) {
        snprintf(msg, n, "cublasCreate failed");
        return -1;
    }
    g_ready = 1;
    return 0;
}

extern "C" void gpu_shutdown(void) {
    if (g_ready) cublasDestroy(g_blas);
    g_ready = 0;
}

extern "C" float* gpu_alloc(size_t n) {
    void* p = NULL;
    return cudaMalloc(&p, n * sizeof(float)) == cudaSuccess ? (float*)p : NULL;
}

extern "C" int* gpu_alloc_int(size_t n) {
    void* p = NULL;
    return cudaMalloc(&p, n * sizeof(int)) == cudaSuccess ? (int*)p : NULL;
}

extern "C" void gpu_free(void* p) { cudaFree(p); }
extern "C" void gpu_upload(void* dst, const void* src, size_t bytes) { cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice); }
extern "C" void gpu_download(void* dst, const void* src, size_t bytes) { cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost); }
extern "C" void gpu_sync(void) { cudaDeviceSynchronize(); }

__global__ static void broadcast_bias(float* y, const float* b, int n, int out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)n * out) y[i] = b[i % out];
}

extern "C" void gpu_matmul(float* y, const float* x, const float* w, const float* b, int n, int in, int out) {
    float one = 1.0f, beta = 0.0f;
    if (b) {
        size_t total = (size_t)n * out;
        broadcast_bias<<<(unsigned)((total + 255) / 256), 256>>>(y, b, n, out);
        beta = 1.0f;
    }
    // Row-major y (n, out) = x (n, in) W^T is column-major y^T (out, n) = W (out, in as in x out) x^T.
    cublasSgemm(g_blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, w, in, x, in, &beta, y, out);
}

// One block per row; a shared-memory tree sums the squares.
__global__ static void rmsnorm_kernel(float* out, const float* x, const float* w, int C, float eps) {
    __shared__ float part[256];
    const float* xr = x + (size_t)blockIdx.x * C;
    float s = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += xr[i] * xr[i];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k /= 2) {
        if (threadIdx.x < k) part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    float scale = rsqrtf(part[0] / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) out[(size_t)blockIdx.x * C + i] = xr[i] * scale * w[i];
}

extern "C" void gpu_rmsnorm(float* out, const float* x, const float* w, int n, int C, float eps) {
    rmsnorm_kernel<<<n, 256>>>(out, x, w, C, eps);
}

__global__ static void rope_kernel(float* x, int n, int n_heads, int D, int pos0, const float* inv_freq) {
    int half = D / 2;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (token, head, i < half)
    if (idx >= (size_t)n * n_heads * half) return;
    int i = idx % half, h = (idx / half) % n_heads, t = idx / half / n_heads;
    float angle = (pos0 + t) * inv_freq[i], c = cosf(angle), s = sinf(angle);
    float* v = x + ((size_t)t * n_heads + h) * D;
    float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
}

extern "C" void gpu_rope(float* x, int n, int n_heads, int D, int pos0, const float* inv_freq) {
    size_t total = (size_t)n * n_heads * (D / 2);
    rope_kernel<<<(unsigned)((total + 255) / 256), 256>>>(x, n, n_heads, D, pos0, inv_freq);
}

__global__ static void silu_mul_kernel(float* out, const float* g, const float* u, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

extern "C" void gpu_silu_mul(float* out, const float* gate, const float* up, size_t n) {
    silu_mul_kernel<<<(unsigned)((n + 255) / 256), 256>>>(out, gate, up, n);
}

// One block per (query token, head): scores in shared memory, softmax, weighted sum of values.
__global__ static void attention_kernel(float* out, const float* q, const float* kc, const float* vc, int pos0, int Hq,
                                        int Hkv, int D) {
    extern __shared__ float sc[];
    int t = blockIdx.x, h = blockIdx.y, n_ctx = pos0 + t + 1, kvd = Hkv * D, kvh = h / (Hq / Hkv);
    const float* qh = q + ((size_t)t * Hq + h) * D;
    float scale = rsqrtf((float)D);
    for (int s = threadIdx.x; s < n_ctx; s += blockDim.x) {
        const float* k = kc + (size_t)s * kvd + (size_t)kvh * D;
        float d = 0;
        for (int i = 0; i < D; i++) d += qh[i] * k[i];
        sc[s] = d * scale;
    }
    __syncthreads();
    __shared__ float mx, sum;
    if (threadIdx.x == 0) {
        mx = sc[0];
        for (int s = 1; s < n_ctx; s++) mx = fmaxf(mx, sc[s]);
        sum = 0;
        for (int s = 0; s < n_ctx; s++) sum += (sc[s] = expf(sc[s] - mx));
    }
    __syncthreads();
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float o = 0;
        for (int s = 0; s < n_ctx; s++) o += sc[s] * vc[(size_t)s * kvd + (size_t)kvh * D + i];
        out[((size_t)t * Hq + h) * D + i] = o / sum;
    }
}

extern "C" void gpu_attention(float* out, const float* q, const float* k_cache, const float* v_cache, int n, int pos0,
                              int Hq, int Hkv, int D) {
    dim3 grid(n, Hq);
    attention_kernel<<<grid, 128, (size_t)(pos0 + n) * sizeof(float)>>>(out, q, k_cache, v_cache, pos0, Hq, Hkv, D);
}

// h = A_packed vg (r values), then each kept row adds factor * B_packed[i] . h.
__global__ static void lora_masked_kernel(float* y, const float* v, const float* ap, const float* bp, const int* rows,
                                          const int* cols, int n_row, int n_col, int r, float factor) {
    extern __shared__ float h[];
    for (int j = threadIdx.x; j < r; j += blockDim.x) {
        float s = 0;
        for (int c = 0; c < n_col; c++) s += ap[(size_t)j * n_col + c] * v[cols[c]];
        h[j] = s * factor;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < n_row; i += blockDim.x) {
        float s = 0;
        for (int j = 0; j < r; j++) s += bp[(size_t)i * r + j] * h[j];
        y[rows[i]] += s;
    }
}

extern "C" void gpu_lora_masked(float* y, const float* v, const float* a_packed, const float* b_packed, const int* rows,
                                const int* cols, int n_row, int n_col, int r, float factor) {
    lora_masked_kernel<<<1, 256, r * sizeof(float)>>>(y, v, a_packed, b_packed, rows, cols, n_row, n_col, r, factor);
}

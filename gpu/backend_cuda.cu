// backend_cuda.cu: the CUDA implementation of the backend seam (core/backend.h), built into
// build/libslimscope_cuda.so and loaded by core/device.c. Weights, norms, biases and adapter
// tensors are copied to the device on first use (keyed by their host address, dropped when the
// last RunState ends); activations and the KV cache live on the device; per token and block only
// the routing measurements (E + 2 values), the trace's relative sizes, and the logits come back.
// Matrix products are cublasGemmEx with F32 accumulation: F32 weights as they are, BF16/F16
// weights against x split into two half-precision rows (x = hi + lo, one product reads W once for
// both), so the result keeps close to float32 accuracy. Every CUDA and cuBLAS call is checked;
// the first failure is kept with its call site and reported through forward()'s Err.
// CPU twins: core/backend_cpu.c, core/ops.c, core/slim.c (slim_apply_proj).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <unordered_map>
#include <vector>

#include "gpu/gpu.h"

// ---------------------------------------------------------------------------------------------
// state and error reporting

typedef struct {
    void* dev;
    size_t bytes;
} DevCopy;

// A keep-set on the device: cols (n_col) then rowmap (out): rowmap[o] = o's index among the kept
// rows, or -1 (SLIM.md section 4); built on the host by mask_build, so both backends draw the same.
typedef struct {
    int* idx;
    int n_col;
    float rescale;
    size_t bytes;
} DevMask;

// Device scratch, grown on demand: one buffer per use so that a call's buffers never alias.
enum { S_XHALF, S_YPAIR, S_TOKENS, S_TASKS, S_H, S_NORMS, S_ROUTE, S_COUNT };

struct Cuda {
    Backend be;
    cublasHandle_t blas;
    char device[320];
    char err[1024];
    int failed;
    int runs;                                        // live RunStates (run_begin / run_end)
    std::unordered_map<const void*, DevCopy> copies; // host address -> device copy
    std::unordered_map<unsigned long long, DevMask> masks;  // mask key (with p, out, in) -> keep-set
    size_t mask_bytes;
    void* scratch[S_COUNT];
    size_t scratch_bytes[S_COUNT];
};

static Cuda* g;  // one device per process

static void fail(const char* fmt, ...) {
    if (g->failed) return;  // the first failure is the one worth reading
    g->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
}

static bool check_cuda(cudaError_t e, const char* what, int line) {
    if (e == cudaSuccess) return true;
    fail("gpu/backend_cuda.cu:%d: %s: %s", line, what, cudaGetErrorString(e));
    return false;
}

static bool check_blas(cublasStatus_t s, const char* what, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    fail("gpu/backend_cuda.cu:%d: %s: %s", line, what, cublasGetStatusString(s));
    return false;
}

#define CK(call) check_cuda((call), #call, __LINE__)
#define CB(call) check_blas((call), #call, __LINE__)
#define LAUNCHED(name) check_cuda(cudaGetLastError(), "launch of " name, __LINE__)

static unsigned blocks_for(size_t n, unsigned threads) { return (unsigned)((n + threads - 1) / threads); }

// A scratch buffer of at least `bytes`; NULL after a failure.
static void* scratch(int slot, size_t bytes) {
    if (g->scratch_bytes[slot] >= bytes) return g->scratch[slot];
    if (g->scratch[slot]) CK(cudaFree(g->scratch[slot]));
    g->scratch[slot] = NULL;
    g->scratch_bytes[slot] = 0;
    size_t want = bytes < 4096 ? 4096 : bytes + bytes / 4;
    if (!CK(cudaMalloc(&g->scratch[slot], want))) return NULL;
    g->scratch_bytes[slot] = want;
    return g->scratch[slot];
}

// The device copy of `bytes` of host data at `host`, made on first use; NULL after a failure.
static const void* device_copy(const void* host, size_t bytes) {
    auto it = g->copies.find(host);
    if (it != g->copies.end() && it->second.bytes >= bytes) return it->second.dev;
    if (it != g->copies.end()) {  // asked for more than was copied: copy again
        CK(cudaFree(it->second.dev));
        g->copies.erase(it);
    }
    void* dev = NULL;
    if (!CK(cudaMalloc(&dev, bytes ? bytes : 1))) return NULL;
    if (!CK(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice))) {
        cudaFree(dev);
        return NULL;
    }
    g->copies[host] = DevCopy{dev, bytes};
    return dev;
}

static const float* device_floats(const float* host, size_t n) { return (const float*)device_copy(host, n * sizeof(float)); }

static size_t weight_elem_bytes(WeightType t) { return t == WEIGHT_F32 ? 4 : 2; }

// The device copy of w's matrix; Q8_0 is refused (the CPU backend runs it).
static const void* device_weight(const Weight* w) {
    if (w->type == WEIGHT_Q8) {
        fail("Q8_0 weights are not supported by the CUDA backend (use --weights native or f32, or --device cpu)");
        return NULL;
    }
    return device_copy(w->data, (size_t)w->rows * w->cols * weight_elem_bytes(w->type));
}

static void drop_copies(void) {
    for (auto& kv : g->copies) CK(cudaFree(kv.second.dev));
    g->copies.clear();
    for (auto& kv : g->masks) CK(cudaFree(kv.second.idx));
    g->masks.clear();
    g->mask_bytes = 0;
}

// ---------------------------------------------------------------------------------------------
// memory

static void* cu_alloc(Backend* be, size_t bytes) {
    void* p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();  // out of memory is reported by the caller, and is not sticky
        return NULL;
    }
    if (!CK(cudaMemset(p, 0, bytes))) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cu_release(Backend* be, void* p) {
    if (p) CK(cudaFree(p));
}

static void cu_upload(Backend* be, void* dst, const void* host, size_t bytes) {
    if (!g->failed && bytes) CK(cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice));
}

static void cu_download(Backend* be, void* host, const void* src, size_t bytes) {
    if (!g->failed && bytes) CK(cudaMemcpy(host, src, bytes, cudaMemcpyDeviceToHost));
}

static void cu_copy(Backend* be, void* dst, const void* src, size_t bytes) {
    if (!g->failed && bytes) CK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

static void cu_sync(Backend* be) { CK(cudaDeviceSynchronize()); }

static void cu_run_begin(Backend* be) { g->runs++; }

static void cu_run_end(Backend* be) {
    if (--g->runs <= 0) {
        g->runs = 0;
        drop_copies();
    }
}

static const char* cu_error(Backend* be) {
    if (!g->failed) return NULL;
    g->failed = 0;
    return g->err;
}

// ---------------------------------------------------------------------------------------------
// kernels (one thread per output element unless said otherwise)

__device__ static float widen(const void* w, size_t i, WeightType t) {
    if (t == WEIGHT_F32) return ((const float*)w)[i];
    if (t == WEIGHT_BF16) return __bfloat162float(((const __nv_bfloat16*)w)[i]);
    return __half2float(((const __half*)w)[i]);
}

__global__ static void embed_kernel(float* x, const void* table, WeightType t, const int* tokens, int n, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * C) return;
    size_t row = i / C, c = i % C;
    x[i] = widen(table, (size_t)tokens[row] * C + c, t);
}

// x -> (hi, lo) in half precision H (__nv_bfloat16 or __half, whose float constructors round to
// nearest even): hi = x rounded, lo = the rest rounded; the n hi values first, then the n lo values.
template <typename H>
__global__ static void split_kernel(H* xs, const float* x, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    H hi = H(x[i]);
    xs[i] = hi;
    xs[n + i] = H(x[i] - (float)hi);
}

// y (n, out) = pair[t] + pair[n + t] (+ b): the hi and lo products summed.
__global__ static void combine_kernel(float* y, const float* pair, const float* b, int n, int out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * out) return;
    y[i] = pair[i] + pair[(size_t)n * out + i] + (b ? b[i % out] : 0.0f);
}

__global__ static void bias_kernel(float* y, const float* b, int n, int out) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (size_t)n * out) y[i] += b[i % out];
}

// Sum (or max) of v over a block of 256 threads, returned to every thread; red: 256 floats of
// shared memory, free again on return.
template <bool MAX>
__device__ static float block_reduce(float v, float* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k /= 2) {
        if (threadIdx.x < k) red[threadIdx.x] = MAX ? fmaxf(red[threadIdx.x], red[threadIdx.x + k]) : red[threadIdx.x] + red[threadIdx.x + k];
        __syncthreads();
    }
    float s = red[0];
    __syncthreads();
    return s;
}
#define block_sum(v, red) block_reduce<false>((v), (red))
#define block_max(v, red) block_reduce<true>((v), (red))

// One block of 256 threads per row.
__global__ static void rmsnorm_kernel(float* out, const float* x, const float* w, int C, float eps) {
    __shared__ float red[256];
    const float* xr = x + (size_t)blockIdx.x * C;
    float s = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x) s += xr[i] * xr[i];
    float scale = rsqrtf(block_sum(s, red) / C + eps);
    for (int i = threadIdx.x; i < C; i += blockDim.x) out[(size_t)blockIdx.x * C + i] = xr[i] * scale * w[i];
}

// Hugging Face rotate_half: element i pairs with i + D/2; row t at position pos + t of the tables.
__global__ static void rope_kernel(float* x, const float* cos_t, const float* sin_t, int pos, int n, int heads, int D) {
    int half = D / 2;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (token, head, i < half)
    if (idx >= (size_t)n * heads * half) return;
    int i = idx % half, t = idx / half / heads;
    size_t row = idx / half;
    float c = cos_t[(size_t)(pos + t) * half + i], s = sin_t[(size_t)(pos + t) * half + i];
    float* v = x + row * D;
    float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
}

// k, v (n, Hkv*D) into the caches (Hkv, cap, D) at positions pos..pos+n-1.
__global__ static void kv_store_kernel(float* kc, float* vc, const float* k, const float* v, int cap, int pos, int n, int Hkv,
                                       int D) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;  // (token, head, d)
    if (i >= (size_t)n * Hkv * D) return;
    int d = i % D, h = (i / D) % Hkv, t = i / D / Hkv;
    size_t dst = ((size_t)h * cap + pos + t) * D + d;
    kc[dst] = k[i];
    vc[dst] = v[i];
}

#define ATT_THREADS 256
#define ATT_MAX_D 512
// Causal attention, flash style: one block per (query row t, head h) walks the cache in tiles of
// ATT_THREADS keys (one key per thread), keeping a running max m and sum l of the softmax and
// the output rescaled as m grows, so any context length fits in a few floats of shared memory.
__global__ static void attention_kernel(float* out, const float* q, const float* kc, const float* vc, int cap, int pos,
                                        int Hq, int Hkv, int D, float scale) {
    extern __shared__ float sh[];  // q (D) | p (ATT_THREADS) | red (ATT_THREADS)
    float *qs = sh, *ps = sh + D, *red = ps + ATT_THREADS;
    int t = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    int kvh = h / (Hq / Hkv), n_ctx = pos + t + 1;  // GQA; row t sees cache rows 0..pos + t
    const float* kh = kc + (size_t)kvh * cap * D;
    const float* vh = vc + (size_t)kvh * cap * D;
    for (int d = tid; d < D; d += ATT_THREADS) qs[d] = q[((size_t)t * Hq + h) * D + d];
    __syncthreads();
    float acc[ATT_MAX_D / ATT_THREADS] = {0};  // output dims tid, tid + ATT_THREADS, ...
    float m = -INFINITY, l = 0;
    for (int s0 = 0; s0 < n_ctx; s0 += ATT_THREADS) {
        int s = s0 + tid;
        float sc = -INFINITY;
        if (s < n_ctx) {
            const float* kr = kh + (size_t)s * D;
            float dot = 0;
            for (int d = 0; d < D; d++) dot += qs[d] * kr[d];
            sc = dot * scale;
        }
        float m_new = fmaxf(m, block_max(sc, red));  // finite: key s0 is always in range
        float p = s < n_ctx ? expf(sc - m_new) : 0.0f;
        ps[tid] = p;
        float corr = expf(m - m_new);  // 0 on the first tile (m = -inf)
        l = l * corr + block_sum(p, red);  // block_sum's barriers also publish ps
        int ns = n_ctx - s0 < ATT_THREADS ? n_ctx - s0 : ATT_THREADS;
        for (int k = 0; k < ATT_MAX_D / ATT_THREADS; k++) {
            int d = tid + k * ATT_THREADS;
            if (d >= D) break;
            float a = acc[k] * corr;
            for (int j = 0; j < ns; j++) a += ps[j] * vh[(size_t)(s0 + j) * D + d];
            acc[k] = a;
        }
        m = m_new;
        __syncthreads();  // ps is rewritten by the next tile
    }
    for (int k = 0; k < ATT_MAX_D / ATT_THREADS; k++) {
        int d = tid + k * ATT_THREADS;
        if (d < D) out[((size_t)t * Hq + h) * D + d] = acc[k] / l;
    }
}

__global__ static void silu_mul_kernel(float* out, const float* gate, const float* up, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

__global__ static void add_kernel(float* x, const float* y, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

// SLIM routing inputs (SLIM.md section 2 steps 1-3), one block of 256 threads per token: z = W_r x
// (+ b), the nearest centre by squared distance (ties -> lowest j, as slim_nearest), and
// d = max_c |x - c_j*| / sigma_j* - 1 (rms: sqrt(||x - c_j*||^2 / C)). out: z (n, E), then dist (n),
// then nearest (n, as int).
__global__ static void route_kernel(float* out, const float* x, const float* wr, const float* br, const float* centers,
                                    const float* sigma, int n, int E, int N, int C, int rms) {
    __shared__ float red[256];
    int t = blockIdx.x;
    const float* xt = x + (size_t)t * C;
    for (int e = 0; e < E; e++) {
        float s = 0;
        for (int i = threadIdx.x; i < C; i += blockDim.x) s += wr[(size_t)e * C + i] * xt[i];
        s = block_sum(s, red);
        if (threadIdx.x == 0) out[(size_t)t * E + e] = s + (br ? br[e] : 0.0f);
    }
    int best = 0;
    float best_d2 = INFINITY;
    for (int j = 0; j < N; j++) {
        float s = 0;
        for (int i = threadIdx.x; i < C; i += blockDim.x) {
            float d = xt[i] - centers[(size_t)j * C + i];
            s += d * d;
        }
        s = block_sum(s, red);  // the same value in every thread, so every thread picks the same best
        if (s < best_d2) best_d2 = s, best = j;
    }
    float mx = 0;
    for (int i = threadIdx.x; i < C; i += blockDim.x)
        mx = fmaxf(mx, fabsf(xt[i] - centers[(size_t)best * C + i]) / sigma[(size_t)best * C + i]);
    mx = block_max(mx, red);
    if (threadIdx.x == 0) {
        out[(size_t)n * E + t] = rms ? sqrtf(best_d2 / (float)C) : mx - 1.0f;
        ((int*)out)[(size_t)n * E + n + t] = best;
    }
}

// One (token, kept LoRA expert) pair of a lora_delta call.
typedef struct {
    int t, k;        // token of the chunk, LoRA expert
    int n_col;       // kept columns of A (in when unmasked)
    int mask;        // offset of the keep-set in the call's mask table, -1 when unmasked
    float factor;    // w * s * rescale
} LoraTask;

// h[task] (r) = factor * A_k[:, kept cols] v_t[kept cols]: one block per task, a warp per rank row.
__global__ static void lora_h_kernel(float* h, const LoraTask* tasks, const int* const* masks, const float* A, const float* v,
                                     int r, int in) {
    const LoraTask tk = tasks[blockIdx.x];
    const int* cols = tk.mask >= 0 ? masks[tk.mask] : NULL;
    const float* vt = v + (size_t)tk.t * in;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
    for (int j = warp; j < r; j += n_warps) {
        const float* arow = A + ((size_t)tk.k * r + j) * in;
        float s = 0;
        for (int c = lane; c < tk.n_col; c += 32) {
            int col = cols ? cols[c] : c;
            s += arow[col] * vt[col];
        }
        for (int off = 16; off > 0; off /= 2) s += __shfl_down_sync(0xffffffffu, s, off);
        if (lane == 0) h[(size_t)blockIdx.x * r + j] = tk.factor * s;
    }
}

// y[t, o] += sum over the token's tasks whose keep-set holds row o of B_k[o, :] . h[task]; and per
// block the partial sums of delta^2 and y^2 (before) for the trace's relative size.
__global__ static void lora_out_kernel(float* y, float* norms, const float* h, const LoraTask* tasks, const int* task_start,
                                       const int* const* masks, const float* B, int r, int out, int in) {
    __shared__ float red[256];
    int t = blockIdx.y, o = blockIdx.x * blockDim.x + threadIdx.x;
    float delta = 0, base = 0;
    if (o < out) {
        for (int i = task_start[t]; i < task_start[t + 1]; i++) {
            const LoraTask tk = tasks[i];
            if (tk.mask >= 0 && masks[tk.mask][tk.n_col + o] < 0) continue;  // row o dropped by the mask
            const float* brow = B + ((size_t)tk.k * out + o) * r;
            const float* ht = h + (size_t)i * r;
            float s = 0;
            for (int j = 0; j < r; j++) s += brow[j] * ht[j];
            delta += s;
        }
        float* yo = y + (size_t)t * out + o;
        base = *yo;
        *yo = base + delta;
    }
    float d2 = block_sum(delta * delta, red), b2 = block_sum(base * base, red);
    if (threadIdx.x == 0) {
        norms[((size_t)t * gridDim.x + blockIdx.x) * 2] = d2;
        norms[((size_t)t * gridDim.x + blockIdx.x) * 2 + 1] = b2;
    }
}

// ---------------------------------------------------------------------------------------------
// ops

static void cu_embed(Backend* be, float* x, const Weight* table, const int* tokens, int n) {
    if (g->failed) return;
    const void* dt = device_weight(table);
    int* dtok = (int*)scratch(S_TOKENS, n * sizeof(int));
    if (!dt || !dtok || !CK(cudaMemcpy(dtok, tokens, n * sizeof(int), cudaMemcpyHostToDevice))) return;
    size_t total = (size_t)n * table->cols;
    embed_kernel<<<blocks_for(total, 256), 256>>>(x, dt, table->type, dtok, n, table->cols);
    LAUNCHED("embed_kernel");
}

static void cu_matmul(Backend* be, float* y, const float* x, const Weight* w, const float* b, int n) {
    if (g->failed) return;
    int out = w->rows, in = w->cols;
    const void* dw = device_weight(w);
    const float* db = b ? device_floats(b, out) : NULL;
    if (!dw || (b && !db)) return;
    const float one = 1.0f, zero = 0.0f;
    size_t total = (size_t)n * out;
    if (w->type == WEIGHT_F32) {
        // row-major y (n, out) = x (n, in) W^T is column-major y^T (out, n) = W x^T, W read as (in, out)^T
        CB(cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, dw, CUDA_R_32F, in, x, CUDA_R_32F, in, &zero, y,
                        CUDA_R_32F, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        if (db) {
            bias_kernel<<<blocks_for(total, 256), 256>>>(y, db, n, out);
            LAUNCHED("bias_kernel");
        }
        return;
    }
    void* xs = scratch(S_XHALF, (size_t)2 * n * in * 2);
    float* pair = (float*)scratch(S_YPAIR, (size_t)2 * n * out * sizeof(float));
    if (!xs || !pair) return;
    size_t nx = (size_t)n * in;
    cudaDataType t = w->type == WEIGHT_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    if (w->type == WEIGHT_BF16) split_kernel<<<blocks_for(nx, 256), 256>>>((__nv_bfloat16*)xs, x, nx);
    else split_kernel<<<blocks_for(nx, 256), 256>>>((__half*)xs, x, nx);
    if (!LAUNCHED("split kernel")) return;
    CB(cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, 2 * n, in, &one, dw, t, in, xs, t, in, &zero, pair, CUDA_R_32F, out,
                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    combine_kernel<<<blocks_for(total, 256), 256>>>(y, pair, db, n, out);
    LAUNCHED("combine_kernel");
}

static void cu_rmsnorm(Backend* be, float* out, const float* x, const float* w, int n, int C, float eps) {
    if (g->failed) return;
    const float* dw = device_floats(w, C);
    if (!dw) return;
    rmsnorm_kernel<<<n, 256>>>(out, x, dw, C, eps);
    LAUNCHED("rmsnorm_kernel");
}

static void cu_rope(Backend* be, float* x, const KVCache* kv, int pos, int n, int heads) {
    if (g->failed) return;
    size_t total = (size_t)n * heads * (kv->head_dim / 2);
    rope_kernel<<<blocks_for(total, 256), 256>>>(x, kv->rope_cos, kv->rope_sin, pos, n, heads, kv->head_dim);
    LAUNCHED("rope_kernel");
}

static void cu_attention(Backend* be, float* out, const float* q, const float* k, const float* v, KVCache* kv, int l, int pos,
                         int n) {
    if (g->failed) return;
    int D = kv->head_dim, Hq = kv->n_heads, Hkv = kv->n_kv_heads;
    if (D > ATT_MAX_D) {
        fail("gpu/backend_cuda.cu: head_dim %d exceeds the attention kernel's %d", D, ATT_MAX_D);
        return;
    }
    size_t total = (size_t)n * Hkv * D;
    kv_store_kernel<<<blocks_for(total, 256), 256>>>(kv->k[l], kv->v[l], k, v, kv->cap, pos, n, Hkv, D);
    if (!LAUNCHED("kv_store_kernel")) return;
    dim3 grid(n, Hq);
    size_t shared = (D + 2 * ATT_THREADS) * sizeof(float);
    attention_kernel<<<grid, ATT_THREADS, shared>>>(out, q, kv->k[l], kv->v[l], kv->cap, pos, Hq, Hkv, D, 1.0f / sqrtf((float)D));
    LAUNCHED("attention_kernel");
}

static void cu_silu_mul(Backend* be, float* out, const float* gate, const float* up, size_t n) {
    if (g->failed) return;
    silu_mul_kernel<<<blocks_for(n, 256), 256>>>(out, gate, up, n);
    LAUNCHED("silu_mul_kernel");
}

static void cu_add(Backend* be, float* x, const float* y, size_t n) {
    if (g->failed) return;
    add_kernel<<<blocks_for(n, 256), 256>>>(x, y, n);
    LAUNCHED("add_kernel");
}

static void cu_route_measure(Backend* be, float* z, int* nearest, float* dist, const float* x, int n, const Adapter* a, int l) {
    if (g->failed) return;
    const AdapterLayer* al = &a->layers[l];
    int E = a->n_experts, N = a->n_clusters, C = a->dim;
    const float* wr = device_floats(al->router_w, (size_t)E * C);
    const float* br = al->router_b ? device_floats(al->router_b, E) : NULL;
    const float* ce = device_floats(al->centers, (size_t)N * C);
    const float* sg = device_floats(al->sigma, (size_t)N * C);
    size_t count = (size_t)n * (E + 2);
    float* dout = (float*)scratch(S_ROUTE, count * sizeof(float));
    if (!wr || (al->router_b && !br) || !ce || !sg || !dout) return;
    route_kernel<<<n, 256>>>(dout, x, wr, br, ce, sg, n, E, N, C, a->distance == DIST_RMS);
    if (!LAUNCHED("route_kernel")) return;
    std::vector<float> host(count);
    if (!CK(cudaMemcpy(host.data(), dout, count * sizeof(float), cudaMemcpyDeviceToHost))) return;
    memcpy(z, host.data(), (size_t)n * E * sizeof(float));
    memcpy(dist, host.data() + (size_t)n * E, n * sizeof(float));
    memcpy(nearest, host.data() + (size_t)n * E + n, n * sizeof(int));
}

// The epoch of a token's masks (as slim.c's mask_epoch: the position for per_token, the step for per_step).
static uint64_t mask_epoch(const SlimRun* run, int pos) {
    return run->mask_refresh == REFRESH_PER_TOKEN ? (uint64_t)pos : run->mask_refresh == REFRESH_PER_STEP ? run->step : 0;
}

// The device keep-set for (key, p, out, in), drawn on the host by mask_build on first use. Masks
// depend on nothing else, so the cache never holds a stale one; it is emptied when it grows past
// 512 MB (per-token masks add one set per position).
static const DevMask* device_mask(uint64_t key, float p, int out, int in) {
    uint32_t pb;
    memcpy(&pb, &p, 4);
    unsigned long long id = key ^ ((unsigned long long)pb << 1) ^ ((unsigned long long)out << 33) ^ ((unsigned long long)in << 47);
    auto it = g->masks.find(id);
    if (it != g->masks.end()) return &it->second;
    std::vector<int> rows(out), cols(in);
    MaskSet m;
    memset(&m, 0, sizeof m);
    m.rows = rows.data();
    m.cols = cols.data();
    mask_build(&m, out, in, p, key);
    std::vector<int> packed((size_t)m.n_col + out, -1);  // cols, then rowmap
    memcpy(packed.data(), cols.data(), m.n_col * sizeof(int));
    for (int i = 0; i < m.n_row; i++) packed[(size_t)m.n_col + rows[i]] = i;
    DevMask dm = {NULL, m.n_col, m.rescale, packed.size() * sizeof(int)};
    if (!CK(cudaMalloc((void**)&dm.idx, dm.bytes))) return NULL;
    if (!CK(cudaMemcpy(dm.idx, packed.data(), dm.bytes, cudaMemcpyHostToDevice))) {
        cudaFree(dm.idx);
        return NULL;
    }
    g->mask_bytes += dm.bytes;
    return &(g->masks[id] = dm);
}

// The masked LoRA delta of every kept expert of every token of the chunk in two launches
// (SLIM.md sections 3-4): the (token, expert) tasks and their keep-sets are listed on the host.
static void cu_lora_delta(Backend* be, float* y, const float* v, int n, const LoraCall* c, float* rel) {
    if (g->failed) return;
    const Adapter* a = c->a;
    const LoraProj* lp = &a->layers[c->layer].proj[c->proj];
    if (!lp->A) return;
    int r = lp->r, in = lp->in, out = lp->out, E = a->n_experts;
    float p = c->run->mask_ratio;
    if (g->mask_bytes > ((size_t)512 << 20)) {
        for (auto& kv : g->masks) CK(cudaFree(kv.second.idx));
        g->masks.clear();
        g->mask_bytes = 0;
    }
    std::vector<LoraTask> tasks;
    std::vector<int> start(n + 1);
    std::vector<const int*> mask_ptrs;
    for (int t = 0; t < n; t++) {
        start[t] = (int)tasks.size();
        for (int k = 0; k < a->n_lora; k++) {
            float wk = c->wts ? c->wts[(size_t)t * E + a->n_id + k] : 1.0f;
            if (wk == 0.0f) continue;
            LoraTask tk = {t, k, in, -1, wk * lp->scale};
            if (p > 0.0f) {  // p = 0: the plain adapter, no masking, no rescale
                uint64_t key = mask_key(c->run->mask_seed, c->layer, a->n_id + k, c->proj, mask_epoch(c->run, c->pos + t));
                const DevMask* dm = device_mask(key, p, out, in);
                if (!dm) return;
                tk.n_col = dm->n_col;
                tk.mask = (int)mask_ptrs.size();
                tk.factor *= dm->rescale;
                mask_ptrs.push_back(dm->idx);
            }
            tasks.push_back(tk);
        }
    }
    start[n] = (int)tasks.size();
    if (tasks.empty()) {  // no expert kept for any token: y is unchanged
        for (int t = 0; rel && t < n; t++) rel[t] = 0;
        return;
    }
    const float* dA = device_floats(lp->A, (size_t)a->n_lora * r * in);
    const float* dB = device_floats(lp->B, (size_t)a->n_lora * out * r);
    if (!dA || !dB) return;
    // one upload: tasks | task_start | mask pointers
    size_t tb = tasks.size() * sizeof(LoraTask), sb = start.size() * sizeof(int), mb = mask_ptrs.size() * sizeof(int*);
    size_t sb_off = tb, mb_off = (tb + sb + 15) / 16 * 16;
    std::vector<char> blob(mb_off + mb);
    memcpy(blob.data(), tasks.data(), tb);
    memcpy(blob.data() + sb_off, start.data(), sb);
    if (mb) memcpy(blob.data() + mb_off, mask_ptrs.data(), mb);
    char* dblob = (char*)scratch(S_TASKS, blob.size());
    float* dh = (float*)scratch(S_H, tasks.size() * r * sizeof(float));
    unsigned row_blocks = blocks_for(out, 256);
    float* dnorms = (float*)scratch(S_NORMS, (size_t)n * row_blocks * 2 * sizeof(float));
    if (!dblob || !dh || !dnorms || !CK(cudaMemcpy(dblob, blob.data(), blob.size(), cudaMemcpyHostToDevice))) return;
    const LoraTask* dtasks = (const LoraTask*)dblob;
    const int* dstart = (const int*)(dblob + sb_off);
    const int* const* dmasks = (const int* const*)(dblob + mb_off);
    lora_h_kernel<<<(unsigned)tasks.size(), 256>>>(dh, dtasks, dmasks, dA, v, r, in);
    if (!LAUNCHED("lora_h_kernel")) return;
    lora_out_kernel<<<dim3(row_blocks, n), 256>>>(y, dnorms, dh, dtasks, dstart, dmasks, dB, r, out, in);
    if (!LAUNCHED("lora_out_kernel") || !rel) return;
    std::vector<float> norms((size_t)n * row_blocks * 2);
    if (!CK(cudaMemcpy(norms.data(), dnorms, norms.size() * sizeof(float), cudaMemcpyDeviceToHost))) return;
    for (int t = 0; t < n; t++) {
        double d2 = 0, b2 = 0;
        for (unsigned b = 0; b < row_blocks; b++) {
            d2 += norms[((size_t)t * row_blocks + b) * 2];
            b2 += norms[((size_t)t * row_blocks + b) * 2 + 1];
        }
        rel[t] = b2 > 0 ? (float)sqrt(d2 / b2) : 0.0f;
    }
}

// ---------------------------------------------------------------------------------------------
// entry

static const BackendOps CUDA_OPS = {
    cu_alloc, cu_release, cu_upload, cu_download, cu_copy, cu_sync, cu_run_begin, cu_run_end, cu_embed, cu_matmul, cu_rmsnorm,
    cu_rope, cu_attention, cu_silu_mul, cu_add, cu_route_measure, cu_lora_delta, cu_error,
};

static Backend* cu_open(char* why, size_t n) {
    if (g) return &g->be;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, n, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        return NULL;
    }
    if (count == 0) {
        snprintf(why, n, "the CUDA driver reports no device");
        return NULL;
    }
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
        snprintf(why, n, "device 0: %s", cudaGetErrorString(e));
        return NULL;
    }
    if (prop.major < 8) {
        snprintf(why, n, "%s has compute capability %d.%d; the CUDA backend needs 8.0 or newer", prop.name, prop.major, prop.minor);
        return NULL;
    }
    Cuda* c = new Cuda();
    cublasStatus_t s = cublasCreate(&c->blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, n, "cublasCreate: %s", cublasGetStatusString(s));
        delete c;
        return NULL;
    }
    // default math: CUBLAS_COMPUTE_32F products stay float32 (no TF32), as the parity tests need
    if ((s = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, n, "cublasSetMathMode: %s", cublasGetStatusString(s));
        cublasDestroy(c->blas);
        delete c;
        return NULL;
    }
    snprintf(c->device, sizeof c->device, "%s, %.0f GB", prop.name, prop.totalGlobalMem / 1e9);
    c->be.ops = &CUDA_OPS;
    c->be.ctx = c;
    c->be.name = "cuda";
    c->be.device = c->device;
    c->be.host_memory = 0;
    g = c;
    return &c->be;
}

static double cu_copy_bandwidth(Backend* be) {
    size_t bytes = (size_t)1 << 30;
    void *src = NULL, *dst = NULL;
    cudaEvent_t e0, e1;
    double best = 0;
    if (cudaMalloc(&src, bytes) == cudaSuccess && cudaMalloc(&dst, bytes) == cudaSuccess &&
        cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess) {
        cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);  // warm-up
        for (int r = 0; r < 5; r++) {
            float ms = 0;
            cudaEventRecord(e0);
            cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
            cudaEventRecord(e1);
            cudaEventSynchronize(e1);
            cudaEventElapsedTime(&ms, e0, e1);
            double gbs = 2.0 * bytes / (ms / 1e3) / 1e9;  // every byte read once and written once
            best = gbs > best ? gbs : best;
        }
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
    }
    cudaGetLastError();
    cudaFree(src);
    cudaFree(dst);
    return best;
}

extern "C" const CudaEntry* slimscope_cuda_entry(void) {
    static const CudaEntry entry = {SLIM_CUDA_ABI, SLIM_CUDA_SIZES, cu_open, cu_copy_bandwidth};
    return &entry;
}

// weight.c: y = x W^T + b for weights in their own dtype. F32 goes to OpenBLAS (sgemv / sgemm on
// row blocks). F16 / BF16 / Q8_0 use dot-product kernels for decode (a few rows of x: the product is
// bound by the bytes of W streamed, so W is read once in its own dtype) and, for prefill, tiles of W
// widened to float32 and handed to sgemm (the widening is amortised over the rows of x).
// Every variant sums in float32 in a fixed order: the result depends on the dtype, never on threads.
#include "weight.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

CpuFeatures g_cpu = {-1, -1, -1};

void cpu_features_detect(void) {
    if (g_cpu.avx2 >= 0) return;
    __builtin_cpu_init();
    /* F16C is not asked for: every AVX2 CPU has it (it came a generation
     * earlier), and clang's __builtin_cpu_supports does not know the name. */
    g_cpu.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    g_cpu.avx512f = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    g_cpu.avx512bf16 = g_cpu.avx512f && __builtin_cpu_supports("avx512bf16");
}

const char* weight_type_name(WeightType t) {
    static const char* const names[] = {"F32", "F16", "BF16", "Q8_0"};
    return t >= WEIGHT_F32 && t <= WEIGHT_Q8 ? names[t] : "?";
}

size_t weight_bytes(const Weight* w) {
    size_t n = (size_t)w->rows * w->cols;
    switch (w->type) {
    case WEIGHT_F32: return n * 4;
    case WEIGHT_F16:
    case WEIGHT_BF16: return n * 2;
    case WEIGHT_Q8: return n + n / Q8_BLOCK * sizeof(float);
    }
    return 0;
}

void q8_quantize(int8_t* q, float* scale, const float* src, int rows, int cols) {
    size_t nb = (size_t)rows * cols / Q8_BLOCK;
    for (size_t b = 0; b < nb; b++) {
        const float* s = src + b * Q8_BLOCK;
        float amax = 0;
        for (int i = 0; i < Q8_BLOCK; i++) amax = fmaxf(amax, fabsf(s[i]));
        float d = amax / 127.0f, inv = d > 0 ? 1.0f / d : 0.0f;
        scale[b] = d;
        for (int i = 0; i < Q8_BLOCK; i++) q[b * Q8_BLOCK + i] = (int8_t)lrintf(s[i] * inv);
    }
}

// ---------------------------------------------------------------------------------------------
// widening rows to float32 (embedding lookup, prefill tiles)

static void widen_rows(float* dst, const Weight* w, int r0, int nr) {
    size_t n = (size_t)nr * w->cols, off = (size_t)r0 * w->cols;
    switch (w->type) {
    case WEIGHT_F32: memcpy(dst, (const float*)w->data + off, n * sizeof(float)); break;
    case WEIGHT_F16: {
        const uint16_t* s = (const uint16_t*)w->data + off;
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
        break;
    }
    case WEIGHT_BF16: {
        const uint16_t* s = (const uint16_t*)w->data + off;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)s[i] << 16;
            memcpy(&dst[i], &u, 4);
        }
        break;
    }
    case WEIGHT_Q8: {
        const int8_t* q = (const int8_t*)w->data + off;
        const float* sc = w->scale + off / Q8_BLOCK;
        for (size_t i = 0; i < n; i++) dst[i] = sc[i / Q8_BLOCK] * q[i];
        break;
    }
    }
}

void weight_row(float* dst, const Weight* w, int r) { widen_rows(dst, w, r, 1); }

// ---------------------------------------------------------------------------------------------
// dot kernels: one row of W against x (cols floats). `xs` is x prepared for the kernel: for the
// AVX-512 BF16 kernel, x split into bf16 high and low halves (x = hi + lo to ~16 mantissa bits), so
// vdpbf16ps multiplies at BF16 rate with close to float32 accuracy; for the others, x itself.

typedef float (*DotFn)(const void* row, const float* scale, const void* xs, int cols);

// Horizontal sums in one fixed order.
__attribute__((target("avx512f"))) static inline float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }
__attribute__((target("avx2"))) static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx512f,avx512bw,avx512bf16,avx512vl")))
static float dot_bf16_avx512bf16(const void* row, const float* scale, const void* xs, int cols) {
    const uint16_t* w = row;
    const uint16_t* hi = xs;
    const uint16_t* lo = hi + cols;
    __m512 acc_hi = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= cols; i += 32) {
        __m512i wv = _mm512_loadu_si512(w + i);
        acc_hi = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc_hi, (__m512bh)_mm512_loadu_si512(hi + i), (__m512bh)wv),
                                  (__m512bh)_mm512_loadu_si512(lo + i), (__m512bh)wv);
    }
    if (i < cols) {
        __mmask32 m = (__mmask32)((1ull << (cols - i)) - 1);
        __m512i wv = _mm512_maskz_loadu_epi16(m, w + i);
        acc_hi = _mm512_dpbf16_ps(_mm512_dpbf16_ps(acc_hi, (__m512bh)_mm512_maskz_loadu_epi16(m, hi + i), (__m512bh)wv),
                                  (__m512bh)_mm512_maskz_loadu_epi16(m, lo + i), (__m512bh)wv);
    }
    return hsum512(acc_hi);
}

// x -> (hi, lo) bf16 halves for dot_bf16_avx512bf16: hi = x rounded to bf16, lo = the rest rounded.
static void split_bf16(uint16_t* hi, uint16_t* lo, const float* x, int n) {
    for (int i = 0; i < n; i++) {
        hi[i] = f32_to_bf16(x[i]);
        lo[i] = f32_to_bf16(x[i] - bf16_to_f32(hi[i]));
    }
}

__attribute__((target("avx512f,avx512bw")))
static float dot_bf16_avx512(const void* row, const float* scale, const void* xs, int cols) {
    const uint16_t* w = row;
    const float* x = xs;
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= cols; i += 16) {
        __m512 wf = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const void*)(w + i))), 16));
        acc = _mm512_fmadd_ps(wf, _mm512_loadu_ps(x + i), acc);
    }
    float s = hsum512(acc);
    for (; i < cols; i++) s += bf16_to_f32(w[i]) * x[i];
    return s;
}

__attribute__((target("avx2,fma")))
static float dot_bf16_avx2(const void* row, const float* scale, const void* xs, int cols) {
    const uint16_t* w = row;
    const float* x = xs;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= cols; i += 16) {
        __m256i w16 = _mm256_loadu_si256((const void*)(w + i));
        __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(w16)), 16));
        __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(w16, 1)), 16));
        acc0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), acc1);
    }
    float s = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < cols; i++) s += bf16_to_f32(w[i]) * x[i];
    return s;
}

__attribute__((target("avx512f")))
static float dot_f16_avx512(const void* row, const float* scale, const void* xs, int cols) {
    const uint16_t* w = row;
    const float* x = xs;
    __m512 acc = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= cols; i += 16)
        acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const void*)(w + i))), _mm512_loadu_ps(x + i), acc);
    float s = hsum512(acc);
    for (; i < cols; i++) s += f16_to_f32(w[i]) * x[i];
    return s;
}

__attribute__((target("avx2,fma,f16c")))
static float dot_f16_avx2(const void* row, const float* scale, const void* xs, int cols) {
    const uint16_t* w = row;
    const float* x = xs;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= cols; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const void*)(w + i))), _mm256_loadu_ps(x + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const void*)(w + i + 8))), _mm256_loadu_ps(x + i + 8), acc1);
    }
    float s = hsum256(_mm256_add_ps(acc0, acc1));
    for (; i < cols; i++) s += f16_to_f32(w[i]) * x[i];
    return s;
}

// Q8_0: cols is a multiple of Q8_BLOCK (q8_quantize's condition).
__attribute__((target("avx512f")))
static float dot_q8_avx512(const void* row, const float* scale, const void* xs, int cols) {
    const int8_t* q = row;
    const float* x = xs;
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0, b = 0; i < cols; i += Q8_BLOCK, b++) {
        // The rows four ahead: measured 1.5x on one thread with file-mapped 4 KB pages. (The BF16
        // kernel gains nothing from it: one row streamed at a time is what keeps it at bandwidth.)
        _mm_prefetch((const char*)(q + 4 * (size_t)cols + i), _MM_HINT_T0);
        __m512 q0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const void*)(q + i))));
        __m512 q1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const void*)(q + i + 16))));
        __m512 blk = _mm512_fmadd_ps(q1, _mm512_loadu_ps(x + i + 16), _mm512_mul_ps(q0, _mm512_loadu_ps(x + i)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(scale[b]), blk, acc);
    }
    return hsum512(acc);
}

__attribute__((target("avx2,fma")))
static float dot_q8_avx2(const void* row, const float* scale, const void* xs, int cols) {
    const int8_t* q = row;
    const float* x = xs;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0, b = 0; i < cols; i += Q8_BLOCK, b++) {
        __m256 blk = _mm256_setzero_ps();
        for (int k = 0; k < Q8_BLOCK; k += 8) {
            __m256 qv = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const void*)(q + i + k))));
            blk = _mm256_fmadd_ps(qv, _mm256_loadu_ps(x + i + k), blk);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale[b]), blk, acc);
    }
    return hsum256(acc);
}

// Portable fallbacks (no AVX2): also what the kernels are tested against.
static float dot_generic(const void* row, const float* scale, const void* xs, int cols, WeightType t) {
    const float* x = xs;
    float acc = 0;
    for (int i = 0; i < cols; i++) {
        float w = t == WEIGHT_F16    ? f16_to_f32(((const uint16_t*)row)[i])
                  : t == WEIGHT_BF16 ? bf16_to_f32(((const uint16_t*)row)[i])
                                     : scale[i / Q8_BLOCK] * ((const int8_t*)row)[i];
        acc += w * x[i];
    }
    return acc;
}
static float dot_f16_c(const void* r, const float* s, const void* x, int c) { return dot_generic(r, s, x, c, WEIGHT_F16); }
static float dot_bf16_c(const void* r, const float* s, const void* x, int c) { return dot_generic(r, s, x, c, WEIGHT_BF16); }
static float dot_q8_c(const void* r, const float* s, const void* x, int c) { return dot_generic(r, s, x, c, WEIGHT_Q8); }

typedef struct {
    DotFn fn;
    const char* name;
    int split_bf16;  // x is passed as bf16 hi/lo halves
} DotKernel;

static DotKernel dot_kernel(WeightType t) {
    cpu_features_detect();
    switch (t) {
    case WEIGHT_BF16:
        if (g_cpu.avx512bf16) return (DotKernel){dot_bf16_avx512bf16, "avx512-bf16 vdpbf16ps (x as bf16 hi+lo)", 1};
        if (g_cpu.avx512f) return (DotKernel){dot_bf16_avx512, "avx512 bf16->f32 fma", 0};
        if (g_cpu.avx2) return (DotKernel){dot_bf16_avx2, "avx2 bf16->f32 fma", 0};
        return (DotKernel){dot_bf16_c, "generic bf16", 0};
    case WEIGHT_F16:
        if (g_cpu.avx512f) return (DotKernel){dot_f16_avx512, "avx512 f16->f32 fma", 0};
        if (g_cpu.avx2) return (DotKernel){dot_f16_avx2, "avx2+f16c f16->f32 fma", 0};
        return (DotKernel){dot_f16_c, "generic f16", 0};
    case WEIGHT_Q8:
        if (g_cpu.avx512f) return (DotKernel){dot_q8_avx512, "avx512 q8_0->f32 fma", 0};
        if (g_cpu.avx2) return (DotKernel){dot_q8_avx2, "avx2 q8_0->f32 fma", 0};
        return (DotKernel){dot_q8_c, "generic q8_0", 0};
    default: return (DotKernel){NULL, "openblas", 0};
    }
}

// ---------------------------------------------------------------------------------------------
// the product

// Rows of x up to which the dot kernels run (each row of W is read once and used for every row
// of x while it sits in L1); above it, widened tiles + sgemm.
#define DOT_MAX_N 4
// Rows of W widened per sgemm tile: large enough for sgemm to run at speed, small enough for L2.
#define TILE_ROWS 64

static size_t row_bytes(const Weight* w) {
    return w->type == WEIGHT_F32 ? (size_t)w->cols * 4 : w->type == WEIGHT_Q8 ? (size_t)w->cols : (size_t)w->cols * 2;
}

// Threads pay off only with enough work, and each needs a block of rows.
static int threads_for(long work, int rows) {
    int nt = omp_get_max_threads();
    return nt > 1 && work >= 1L << 17 && rows >= 64 ? nt : 1;
}

// F32: OpenBLAS runs single-threaded; OpenMP splits W's rows into one block per thread.
static void matmul_f32(float* y, const float* x, const Weight* w, int n, int o0, int o1) {
    int m = o1 - o0, in = w->cols;
    const float* wb = (const float*)w->data + (size_t)o0 * in;
    if (n == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, m, in, 1.0f, wb, in, x, 1, 0.0f, y + o0, 1);
    // PyTorch: y = x @ W.T
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, in, 1.0f, x, in, wb, in, 0.0f, y + o0, w->rows);
}

static void matmul_dots(float* y, const void* xs, size_t xs_stride, const Weight* w, int n, int o0, int o1, DotFn fn) {
    const char* base = w->data;
    size_t rb = row_bytes(w), nb = w->cols / Q8_BLOCK;
    int o = o0;
    for (; o < o1; o++) {
        const float* sc = w->type == WEIGHT_Q8 ? w->scale + (size_t)o * nb : NULL;
        for (int t = 0; t < n; t++)
            y[(size_t)t * w->rows + o] = fn(base + (size_t)o * rb, sc, (const char*)xs + t * xs_stride, w->cols);
    }
}

// Rows of W are handed out in blocks, dynamically: when another process takes a core for a while,
// the other threads take over its blocks instead of waiting (each output is computed the same way
// whichever thread computes it, so results do not depend on the schedule).
static int block_rows(int out, int nt, int align) {
    int rows = out / (nt * 8);
    rows = rows < 16 ? 16 : rows;
    return (rows + align - 1) / align * align;
}

void matmul(float* y, const float* x, const Weight* w, const float* b, int n) {
    int out = w->rows, in = w->cols;
    int nt = threads_for((long)n * in * out, out);
    if (w->type == WEIGHT_F32) {
        int br = block_rows(out, nt, 4), nb = (out + br - 1) / br;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
        for (int k = 0; k < nb; k++) matmul_f32(y, x, w, n, k * br, (k + 1) * br < out ? (k + 1) * br : out);
    } else if (n > DOT_MAX_N) {
        int nb = (out + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            float* tile = xmalloc((size_t)TILE_ROWS * in * sizeof(float));
#pragma omp for schedule(dynamic, 1)
            for (int k = 0; k < nb; k++) {
                int r = k * TILE_ROWS, nr = out - r < TILE_ROWS ? out - r : TILE_ROWS;
                widen_rows(tile, w, r, nr);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nr, in, 1.0f, x, in, tile, in, 0.0f, y + r, out);
            }
            free(tile);
        }
    } else {
        DotKernel k = dot_kernel(w->type);
        const void* xs = x;
        size_t stride = (size_t)in * sizeof(float);
        uint16_t* split = NULL;
        if (k.split_bf16) {  // x (a few rows) as bf16 halves, made once per call
            split = xmalloc((size_t)n * 2 * in * sizeof(uint16_t));
            for (int t = 0; t < n; t++)
                split_bf16(split + (size_t)t * 2 * in, split + (size_t)t * 2 * in + in, x + (size_t)t * in, in);
            xs = split;
            stride = (size_t)2 * in * sizeof(uint16_t);
        }
        int br = block_rows(out, nt, 4), nb = (out + br - 1) / br;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
        for (int j = 0; j < nb; j++) matmul_dots(y, xs, stride, w, n, j * br, (j + 1) * br < out ? (j + 1) * br : out, k.fn);
        free(split);
    }
    if (b)
        for (int t = 0; t < n; t++)
            for (int o = 0; o < out; o++) y[(size_t)t * out + o] += b[o];
}

const char* matmul_kernel_name(const Weight* w, int n) {
    if (w->type == WEIGHT_F32) return n == 1 ? "openblas sgemv" : "openblas sgemm";
    if (n > DOT_MAX_N) return "widened tiles + openblas sgemm";
    return dot_kernel(w->type).name;
}

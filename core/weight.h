// weight.h: a weight matrix in the dtype it is computed in (F32, F16, BF16 straight from the
// checkpoint's mmap, or Q8_0 blocks quantised at load), and the one product every forward uses:
// y = x W^T + b. The kernel is chosen per call from the dtype, the number of rows of x and what
// the CPU supports (AVX-512 BF16, AVX-512F, AVX2 + F16C, plain C), detected once at run time.
#ifndef SLIMSCOPE_WEIGHT_H
#define SLIMSCOPE_WEIGHT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { WEIGHT_F32 = 0, WEIGHT_F16, WEIGHT_BF16, WEIGHT_Q8 } WeightType;

// Q8_0 as llama.cpp users know it: blocks of 32 consecutive values of a row share one scale,
// value = scale * q with q in [-127, 127]. Rows whose length is not a multiple of 32 stay unquantised.
#define Q8_BLOCK 32

typedef struct {
    const void* data;      // (rows, cols) row-major: float / uint16_t (F16, BF16) / int8_t (Q8)
    const float* scale;    // Q8 only: (rows, cols / Q8_BLOCK)
    WeightType type;
    int rows, cols;        // out, in: y (n, rows) = x (n, cols) W^T
} Weight;

const char* weight_type_name(WeightType t);  // "F32", "F16", "BF16", "Q8_0"
size_t weight_bytes(const Weight* w);        // bytes streamed by one full product

// The F32 data of an F32 weight (training and tests, which own float storage).
static inline float* weight_f32(const Weight* w) { return (float*)w->data; }

// y (n, rows) = x (n, cols) W^T + b; b (rows) may be NULL. Threads: OpenMP over W's rows.
void matmul(float* y, const float* x, const Weight* w, const float* b, int n);
// Row r of W as float32 (embedding lookup).
void weight_row(float* dst, const Weight* w, int r);
// Name of the kernel matmul() uses for w with n rows of x (for `inspect` and `bench`).
const char* matmul_kernel_name(const Weight* w, int n);

// Quantises src (rows, cols) float32 into q (rows * cols) and scale (rows * cols / Q8_BLOCK).
// cols must be a multiple of Q8_BLOCK.
void q8_quantize(int8_t* q, float* scale, const float* src, int rows, int cols);

// CPU features the kernels may use (set at first use; the tests force the fallbacks).
typedef struct {
    int avx512bf16, avx512f, avx2;
} CpuFeatures;
extern CpuFeatures g_cpu;
void cpu_features_detect(void);

#endif

// gpu.h: the entry point of the CUDA backend (gpu/backend_cuda.cu), built into
// build/libslimscope_cuda.so. core/device.c loads that library with dlopen on first use, so the
// slimscope binary itself needs no CUDA library and starts (on the CPU) where there is none.
#ifndef SLIMSCOPE_GPU_H
#define SLIMSCOPE_GPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "core/backend.h"
#ifdef __cplusplus
}
#endif

// Changed whenever CudaEntry changes; the struct sizes below catch a library built from other
// headers than the binary loading it (a stale build/).
#define SLIM_CUDA_ABI 2
#define SLIM_CUDA_SIZES \
    {sizeof(Weight), sizeof(KVCache), sizeof(LoraCall), sizeof(Adapter), sizeof(SlimRun), sizeof(MaskSet), sizeof(BackendOps)}
#define SLIM_CUDA_N_SIZES 7
#define SLIM_CUDA_ENTRY "slimscope_cuda_entry"

typedef struct {
    int abi;                                   // SLIM_CUDA_ABI
    size_t sizes[SLIM_CUDA_N_SIZES];           // SLIM_CUDA_SIZES as the library was compiled
    // Opens device 0 once per process: the backend, or NULL with the reason in why (size n).
    Backend* (*open)(char* why, size_t n);
    // Device-to-device copy bandwidth in GB/s (bytes read + written), measured; 0 on failure.
    double (*copy_bandwidth_gbs)(Backend* be);
} CudaEntry;

#ifdef __cplusplus
extern "C"
#endif
const CudaEntry* slimscope_cuda_entry(void);

#endif

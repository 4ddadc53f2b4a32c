// device.h: --device cpu|cuda|auto -> the Backend the forward pass runs on. The CUDA backend is
// build/libslimscope_cuda.so, loaded on first use (dlopen), so that a machine without the CUDA
// libraries, the driver or a GPU runs the same binary on the CPU.
#ifndef SLIMSCOPE_DEVICE_H
#define SLIMSCOPE_DEVICE_H

#include "backend.h"
#include "common.h"

typedef enum { DEVICE_AUTO = 0, DEVICE_CPU, DEVICE_CUDA } DeviceKind;
extern const char* const DEVICE_NAMES[3];  // "auto", "cpu", "cuda"
int device_from_name(const char* s);       // -1 when unknown

// The backend for kind. cpu: the CPU. cuda: the CUDA backend, or -1 with err saying why it is not
// usable. auto: CUDA when usable, else the CPU with the reason in note (one line for stderr);
// note is "" when nothing needs saying (CUDA chosen, or a build without CUDA).
int device_open(DeviceKind kind, Backend** be, char* note, size_t note_n, Err* err);

// The CUDA backend (the library loaded and device 0 opened once per process), or NULL with the
// reason in why. The library is $SLIMSCOPE_CUDA_LIB if set, else libslimscope_cuda.so next to the
// executable or in its build/ folder, else the path recorded at build time.
Backend* backend_cuda(char* why, size_t n);
// Device copy bandwidth (GB/s) measured by the CUDA backend, for bench; 0 without one.
double backend_cuda_bandwidth_gbs(void);

#endif

// safetensors.h: read (validate + mmap) and write safetensors files. F32, F16 and BF16.
// Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data; offsets are relative to the first byte after the header.
#ifndef SLIMSCOPE_SAFETENSORS_H
#define SLIMSCOPE_SAFETENSORS_H

#include "common.h"

typedef enum { DT_F32 = 0, DT_F16, DT_BF16 } DType;

#define ST_MAX_DIMS 8

typedef struct {
    char* name;
    DType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    const void* data;  // points into the mapping
} StTensor;

typedef struct {
    char* path;
    void* map;
    size_t map_size;
    int n;
    StTensor* tensors;  // sorted by name (binary search in st_find)
} StFile;

const char* dtype_name(DType d);
size_t dtype_size(DType d);

int st_open(StFile* f, const char* path, Err* err);
const StTensor* st_find(const StFile* f, const char* name);
// Writes t's shape as "2, 3" (for messages: "[%s]") into buf of size n; returns buf.
char* st_shape_str(const StTensor* t, char* buf, size_t n);
void st_close(StFile* f);

// Converts n elements of src (dtype d) to float32 dst.
void st_to_f32(float* dst, const void* src, DType d, size_t n);

// Index of the first non-finite element (NaN or inf) of n elements of src (dtype d); n when all are finite.
size_t st_find_nonfinite(const void* src, DType d, size_t n);

// A tensor to write: float32 data converted to `dtype` on the way out. Without data, fill() makes
// elements [start, start + n) as they are written (tensors too large to hold in memory).
typedef struct {
    const char* name;
    DType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float* data;
    void (*fill)(float* dst, size_t start, size_t n, const void* ctx);
    const void* fill_ctx;
} StWrite;

// Writes the tensors (in the given order) to path via a temporary file and rename.
// metadata: optional NULL-terminated list of key, value, key, value... strings.
int st_write(const char* path, const StWrite* t, int n, const char* const* metadata, Err* err);

#endif

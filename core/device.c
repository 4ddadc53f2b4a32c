// device.c: the choice of backend (--device) and the run-time loading of the CUDA backend. The
// binary never links a CUDA library: the backend is a shared object opened with dlopen, so its
// absence (or a missing driver or GPU) is a reason to report, never a failure to start.
#include "device.h"

#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SLIM_GPU
#include "gpu/gpu.h"
#endif

const char* const DEVICE_NAMES[3] = {"auto", "cpu", "cuda"};

int device_from_name(const char* s) { return name_index(DEVICE_NAMES, 3, s); }

#ifdef SLIM_GPU
#define LIB_NAME "libslimscope_cuda.so"

static const CudaEntry* g_entry;
static Backend* g_cuda;
static char g_why[1024];
static int g_tried;

// Candidate paths of the library, in the order they are tried (see device.h).
static int lib_candidates(char paths[][PATH_MAX + 64], int max) {
    int n = 0;
    const char* env = getenv("SLIMSCOPE_CUDA_LIB");
    if (env && *env) {  // an explicit choice is the only one tried
        snprintf(paths[n++], PATH_MAX + 64, "%s", env);
        return n;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char* dir = dirname(exe);
        snprintf(paths[n++], PATH_MAX + 64, "%s/" LIB_NAME, dir);
        snprintf(paths[n++], PATH_MAX + 64, "%s/build/" LIB_NAME, dir);
    }
#ifdef SLIM_CUDA_LIB
    if (n < max) snprintf(paths[n++], PATH_MAX + 64, "%s", SLIM_CUDA_LIB);
#endif
    return n;
}

// Loads the library and checks that it was built from the same headers.
static const CudaEntry* load_entry(char* why, size_t wn) {
    char paths[4][PATH_MAX + 64];
    int n = lib_candidates(paths, 4);
    const char* tried = NULL;
    for (int i = 0; i < n; i++) {
        if (access(paths[i], F_OK) != 0 && !(i == 0 && getenv("SLIMSCOPE_CUDA_LIB"))) continue;
        tried = paths[i];
        void* h = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char* e = dlerror();
            snprintf(why, wn, "cannot load the CUDA backend: %.900s", e ? e : paths[i]);
            return NULL;
        }
        const CudaEntry* (*entry)(void) = (const CudaEntry* (*)(void))dlsym(h, SLIM_CUDA_ENTRY);
        const CudaEntry* ce = entry ? entry() : NULL;
        size_t sizes[SLIM_CUDA_N_SIZES] = SLIM_CUDA_SIZES;
        if (!ce || ce->abi != SLIM_CUDA_ABI || memcmp(ce->sizes, sizes, sizeof sizes)) {
            snprintf(why, wn, "%.900s was built from other sources than this binary (rebuild with make)", paths[i]);
            dlclose(h);
            return NULL;
        }
        return ce;  // kept loaded for the life of the process
    }
    if (!tried) snprintf(why, wn, "the CUDA backend (" LIB_NAME ") is not next to the binary nor at its build path");
    return NULL;
}

// Asks the driver (libcuda.so.1, through its C API) whether there is a device before the backend
// and cuBLAS are loaded: without a driver or GPU that costs ~100 MB of memory for nothing.
static int driver_has_device(char* why, size_t wn) {
    void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        snprintf(why, wn, "no CUDA driver: %.900s", e ? e : "libcuda.so.1 not found");
        return 0;
    }
    int (*cu_init)(unsigned) = (int (*)(unsigned))dlsym(h, "cuInit");
    int (*cu_count)(int*) = (int (*)(int*))dlsym(h, "cuDeviceGetCount");
    int (*cu_error)(int, const char**) = (int (*)(int, const char**))dlsym(h, "cuGetErrorString");
    int count = 0, rc = cu_init && cu_count ? cu_init(0) : -1;
    if (rc == 0) rc = cu_count(&count);
    if (rc != 0 || count == 0) {
        const char* e = NULL;
        if (rc > 0 && cu_error) cu_error(rc, &e);
        if (rc == 0) snprintf(why, wn, "the CUDA driver reports no device");
        else snprintf(why, wn, "the CUDA driver fails to start: %.900s", e ? e : "cuInit or cuDeviceGetCount missing");
        dlclose(h);
        return 0;
    }
    return 1;  // the driver stays loaded: the CUDA runtime uses it next
}

Backend* backend_cuda(char* why, size_t n) {
    if (!g_tried) {
        g_tried = 1;
        // an explicit library is always loaded (its loading is what is asked for)
        if (!getenv("SLIMSCOPE_CUDA_LIB") && !driver_has_device(g_why, sizeof g_why)) goto done;
        g_entry = load_entry(g_why, sizeof g_why);
        if (g_entry) g_cuda = g_entry->open(g_why, sizeof g_why);
    }
done:
    if (!g_cuda && why) snprintf(why, n, "%s", g_why);
    return g_cuda;
}

double backend_cuda_bandwidth_gbs(void) { return backend_cuda(NULL, 0) ? g_entry->copy_bandwidth_gbs(g_cuda) : 0; }
#else
Backend* backend_cuda(char* why, size_t n) {
    if (why) snprintf(why, n, "this slimscope was built without CUDA (GPU=0, or nvcc and libcudart were not found)");
    return NULL;
}

double backend_cuda_bandwidth_gbs(void) { return 0; }
#endif

int device_open(DeviceKind kind, Backend** be, char* note, size_t note_n, Err* err) {
    if (note_n) note[0] = 0;
    *be = backend_cpu();
    if (kind == DEVICE_CPU) return 0;
    char why[1024];
    Backend* cuda = backend_cuda(why, sizeof why);
    if (cuda) {
        *be = cuda;
        return 0;
    }
    if (kind == DEVICE_CUDA) return err_set(err, "--device cuda: %s", why);
#ifdef SLIM_GPU
    snprintf(note, note_n, "--device auto: no usable CUDA device (%s); running on the CPU", why);
#endif
    return 0;
}

// fuzz_safetensors.c: libFuzzer target for the safetensors parser and the model loader's checks.
// The input bytes become a file (st_open maps files), which is parsed and, when valid, read.
// Seeds: tests/fuzz/safetensors_seeds/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "input.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz-st-%d.safetensors", (int)getpid());
    if (fuzz_write(path, data, size)) return 0;
    StFile st;
    Err err;
    if (st_open(&st, path, &err) == 0) {
        float buf[64];
        for (int i = 0; i < st.n; i++) {  // touch every tensor's bytes: the offsets were validated
            size_t n = st.tensors[i].numel < 64 ? st.tensors[i].numel : 64;
            st_to_f32(buf, st.tensors[i].data, st.tensors[i].dtype, n);
        }
        st_close(&st);
    }
    unlink(path);
    return 0;
}

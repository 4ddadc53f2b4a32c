// input.h: what the fuzz targets share: the input bytes written to a file for the loaders that read
// files (paths under /tmp carry the pid, so parallel runs do not meet).
#ifndef SLIMSCOPE_FUZZ_INPUT_H
#define SLIMSCOPE_FUZZ_INPUT_H

#include <stdint.h>
#include <stdio.h>

// Writes n bytes to path; 0 on success.
static inline int fuzz_write(const char* path, const uint8_t* p, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = fwrite(p, 1, n, f);
    return fclose(f) == 0 && put == n ? 0 : -1;
}

#endif

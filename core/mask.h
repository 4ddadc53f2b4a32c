// mask.h: the fast masking of shared/SLIM.md section 4. Whole input columns of A and output rows
// of B are kept or dropped; the keep-sets come from the counter hash of rng.h keyed by
// (mask_seed, layer, expert, projection, epoch), so every machine and backend draws the same masks.
#ifndef SLIMSCOPE_MASK_H
#define SLIMSCOPE_MASK_H

#include <stdint.h>

#include "rng.h"

typedef struct {
    int n_row, n_col;          // kept rows of B (of out) and kept columns of A (of in)
    int* rows;                 // (out) buffer; first n_row entries hold kept row indices, ascending
    int* cols;                 // (in)  buffer; first n_col entries hold kept column indices, ascending
    float rescale;             // out*in / (n_row*n_col); 1 when p == 0
    // Optional copies of the kept parts of one expert's A (r, n_col) and B (n_row, r), packed
    // contiguously so the masked product runs at full vector speed (filled by slim_run_prepare).
    float* a_packed;
    float* b_packed;
} MaskSet;

uint64_t mask_key(uint64_t seed, int layer, int expert, int proj, uint64_t epoch);

// Fills m (whose rows/cols buffers hold out/in ints) with the keep-sets for ratio p in [0, 1).
// p == 0 keeps everything with rescale exactly 1.
void mask_build(MaskSet* m, int out, int in, float p, uint64_t key);

#endif

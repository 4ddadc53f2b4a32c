// mask.c: the row/column keep-sets of SLIM.md section 4, drawn with the counter hash of rng.h.
#include "mask.h"

#include <math.h>
#include <stdlib.h>

uint64_t mask_key(uint64_t seed, int layer, int expert, int proj, uint64_t epoch) {
    uint64_t k = rng_hash(seed, (uint64_t)layer);
    k = rng_hash(k, (uint64_t)expert);
    k = rng_hash(k, (uint64_t)proj);
    return rng_hash(k, epoch);
}

static int cmp_int(const void* a, const void* b) { return *(const int*)a - *(const int*)b; }

// Chooses k of n indices uniformly without replacement (partial Fisher-Yates driven by the
// counter-based hash), leaving them ascending in idx[0..k).
static void choose(int* idx, int n, int k, uint64_t key) {
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)(rng_hash(key, (uint64_t)i) % (uint64_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    qsort(idx, k, sizeof(int), cmp_int);
}

static int keep_count(float q, int n) {
    int k = (int)lrintf(q * n);
    return k < 1 ? 1 : k > n ? n : k;
}

void mask_build(MaskSet* m, int out, int in, float p, uint64_t key) {
    if (p <= 0.0f) {
        m->n_row = out;
        m->n_col = in;
        for (int i = 0; i < out; i++) m->rows[i] = i;
        for (int i = 0; i < in; i++) m->cols[i] = i;
        m->rescale = 1.0f;
        return;
    }
    float q = sqrtf(1.0f - p);  // keep a q-fraction of rows and of columns: about (1 - p) of B A survives
    m->n_row = keep_count(q, out);
    m->n_col = keep_count(q, in);
    choose(m->rows, out, m->n_row, rng_hash(key, 0x524f5753ull));   // "ROWS"
    choose(m->cols, in, m->n_col, rng_hash(key, 0x434f4c53ull));    // "COLS"
    m->rescale = (float)((double)out * in / ((double)m->n_row * m->n_col));
}

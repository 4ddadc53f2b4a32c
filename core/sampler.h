// sampler.h: next-token choice from logits: greedy (temperature 0), temperature, top-p; seeded.
#ifndef SLIMSCOPE_SAMPLER_H
#define SLIMSCOPE_SAMPLER_H

#include <stdint.h>

#include "rng.h"

typedef struct {
    int vocab_size;
    float temperature;  // 0 = greedy
    float top_p;        // 1 = off
    Rng rng;            // the same seed gives the same samples
    int* idx;           // (V) scratch
    float* probs;       // (V) scratch
} Sampler;

void sampler_init(Sampler* s, int vocab_size, float temperature, float top_p, uint64_t seed);
void sampler_free(Sampler* s);
int sampler_sample(Sampler* s, const float* logits);
// Index of the largest logit (lowest index on ties).
int argmax(const float* x, int n);

#endif

// sampler.c: greedy, temperature and nucleus (top-p) sampling with a seeded generator.
#include "sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void sampler_init(Sampler* s, int vocab_size, float temperature, float top_p, uint64_t seed) {
    s->vocab_size = vocab_size;
    s->temperature = temperature;
    s->top_p = top_p;
    rng_seed_stream(&s->rng, seed, RNG_STREAM_SAMPLER);
    s->idx = xmalloc(vocab_size * sizeof(int));
    s->probs = xmalloc(vocab_size * sizeof(float));
}

void sampler_free(Sampler* s) {
    free(s->idx);
    free(s->probs);
}

int argmax(const float* x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int cmp_prob_desc(const void* a, const void* b, void* ctx) {
    const float* probs = ctx;
    float pa = probs[*(const int*)a], pb = probs[*(const int*)b];
    if (pa != pb) return pa < pb ? 1 : -1;
    return *(const int*)a - *(const int*)b;  // stable order for equal probabilities
}

int sampler_sample(Sampler* s, const float* logits) {
    int V = s->vocab_size;
    if (s->temperature <= 0.0f) return argmax(logits, V);
    float* p = s->probs;
    float mx = logits[argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        p[i] = expf((logits[i] - mx) / s->temperature);
        sum += p[i];
    }
    for (int i = 0; i < V; i++) p[i] = (float)(p[i] / sum);
    float u = rng_uniform(&s->rng);
    if (s->top_p <= 0.0f || s->top_p >= 1.0f) {
        double cdf = 0;
        for (int i = 0; i < V; i++) {
            cdf += p[i];
            if (u < cdf) return i;
        }
        return V - 1;
    }
    // Nucleus: the smallest set of most likely tokens whose mass reaches top_p. Tokens below
    // (1 - top_p) / (V - 1) can never be in it, so they are dropped before sorting.
    float cutoff = (1.0f - s->top_p) / (V - 1);
    int n = 0;
    for (int i = 0; i < V; i++)
        if (p[i] >= cutoff) s->idx[n++] = i;
    qsort_r(s->idx, n, sizeof(int), cmp_prob_desc, p);
    double mass = 0;
    int last = n - 1;
    for (int i = 0; i < n; i++) {
        mass += p[s->idx[i]];
        if (mass >= s->top_p) {
            last = i;
            break;
        }
    }
    double r = u * mass, cdf = 0;
    for (int i = 0; i <= last; i++) {
        cdf += p[s->idx[i]];
        if (r < cdf) return s->idx[i];
    }
    return s->idx[last];
}

// rng.c: the xorshift64* stream and the splitmix64 counter hash (see rng.h).
#include "rng.h"

#include <math.h>

#define GOLDEN 0x9E3779B97F4A7C15ull // 2^64 / golden ratio

void rng_seed_stream(Rng* r, uint64_t seed, uint64_t stream) {
    r->s = seed * GOLDEN + stream;
    if (!r->s) r->s = 1; // xorshift stays at 0 forever
}

void rng_seed(Rng* r, uint64_t seed) { rng_seed_stream(r, seed, RNG_STREAM_INIT); }

uint64_t rng_u64(Rng* r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

float rng_uniform(Rng* r) { return (float)((rng_u64(r) >> 40) * (1.0 / 16777216.0)); }

float rng_normal(Rng* r) {
    float u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

uint64_t rng_hash(uint64_t key, uint64_t counter) {
    uint64_t z = key + (counter + 1) * GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

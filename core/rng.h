// rng.h: every random number the engine draws, from two generators (each reproduces the stream
// its users drew before they shared this module, so seeds give the same models, masks and text):
//   - Rng: a seeded xorshift64* stream, for sequential draws (weight init, data order, sampling).
//     The seed is spread by the golden ratio and offset by a stream constant, so users that share
//     a seed (init, sampler) still draw from different streams;
//   - rng_hash: splitmix64's finaliser over (key, counter), stateless, so any draw can be
//     recomputed anywhere in any order (mask keep-sets, task examples, shuffles, data splits).
#ifndef SLIMSCOPE_RNG_H
#define SLIMSCOPE_RNG_H

#include <stdint.h>

#define RNG_STREAM_INIT 0x2545F4914F6CDD1Dull    // rng_seed: init, data order, tests
#define RNG_STREAM_SAMPLER 0x853C49E6748FEA9Bull // the sampler

typedef struct {
    uint64_t s; // never 0
} Rng;

void rng_seed(Rng* r, uint64_t seed); // = rng_seed_stream(r, seed, RNG_STREAM_INIT)
void rng_seed_stream(Rng* r, uint64_t seed, uint64_t stream);
uint64_t rng_u64(Rng* r);
float rng_uniform(Rng* r); // [0, 1), 24 bits
float rng_normal(Rng* r);  // N(0, 1) by Box-Muller

// splitmix64 output number `counter` of a stream started at key: the value is
// fmix64(key + (counter + 1) * golden), so rng_hash(s, 0), rng_hash(s, 1), ... is splitmix64 from s.
uint64_t rng_hash(uint64_t key, uint64_t counter);

#endif

/* oz-rng.h — seeded random streams keyed by (seed, purpose).
 *
 * Every consumer of randomness (weight init, shuffling, dropout, noise, Bernoulli input,
 * jitter) owns a stream derived from the run seed and a purpose string, so that adding
 * a new consumer never shifts the numbers another one draws.  The generator is
 * xoshiro256** seeded through splitmix64; it is not cryptographic.
 *
 * Not thread-safe per stream: a stream is used by one thread at a time.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} OzRng;

void oz_rng_init(OzRng *rng, uint64_t seed, const char *purpose);
/* Sub-stream `index` of a key (a 64-bit draw from a parent stream): independent streams
 * that several threads can draw at once, each the same whatever the split. */
void oz_rng_init_sub(OzRng *rng, uint64_t key, uint64_t index);

static inline uint64_t oz__rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits (xoshiro256**).  Inline: noise draws call it per neuron. */
static inline uint64_t oz_rng_next(OzRng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = oz__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = oz__rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double oz_rng_uniform(OzRng *rng) {
    return (double)(oz_rng_next(rng) >> 11) * 0x1.0p-53;
}
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t oz_rng_below(OzRng *rng, uint64_t n);
/* Standard normal N(0, 1). */
double oz_rng_gauss(OzRng *rng);
/* n standard normals as floats, two per 64-bit draw (a different sequence from n calls of
 * oz_rng_gauss, and about twice as fast). */
void oz_rng_gauss_fill(OzRng *rng, float *out, gsize n);
/* Fisher–Yates shuffle of an index array. */
void oz_rng_shuffle(OzRng *rng, int *idx, int n);

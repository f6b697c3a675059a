/* oz-rng.c — xoshiro256** with splitmix64 seeding (Blackman & Vigna), written from the
 * published description.  Streams are keyed by FNV-1a of the purpose string mixed into
 * the seed, so two purposes never share a sequence. */
#include "oz-rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void oz_rng_init(OzRng *rng, uint64_t seed, const char *purpose) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = purpose ? purpose : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ULL;
    }
    uint64_t x = seed ^ h;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    rng->has_spare = FALSE;
    rng->spare = 0.0;
}

uint64_t oz_rng_next(OzRng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double oz_rng_uniform(OzRng *rng) {
    return (double)(oz_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t oz_rng_below(OzRng *rng, uint64_t n) {
    g_assert(n > 0);
    /* Rejection on the top of the range removes modulo bias. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t r;
    do
        r = oz_rng_next(rng);
    while (r >= limit);
    return r % n;
}

double oz_rng_gauss(OzRng *rng) {
    if (rng->has_spare) {
        rng->has_spare = FALSE;
        return rng->spare;
    }
    double u1, u2;
    do
        u1 = oz_rng_uniform(rng);
    while (u1 <= 0.0);
    u2 = oz_rng_uniform(rng);
    double r = sqrt(-2.0 * log(u1));
    double th = 2.0 * G_PI * u2;
    rng->spare = r * sin(th);
    rng->has_spare = TRUE;
    return r * cos(th);
}

void oz_rng_shuffle(OzRng *rng, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)oz_rng_below(rng, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

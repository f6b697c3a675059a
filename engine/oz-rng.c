/* oz-rng.c — xoshiro256** with splitmix64 seeding (Blackman & Vigna), written from the
 * published description.  Streams are keyed by FNV-1a of the purpose string mixed into
 * the seed, so two purposes never share a sequence. */
#include "oz-rng.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
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
}

void oz_rng_init_sub(OzRng *rng, uint64_t key, uint64_t index) {
    /* Two splitmix rounds decorrelate neighbouring indices before seeding. */
    uint64_t x = key;
    uint64_t h = splitmix64(&x) ^ (index * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&h);
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

/* Standard normals by the ziggurat method (Marsaglia & Tsang, J. Stat. Softw. 2000),
 * 128 layers.  Nearly every draw costs one integer and one multiply; the rare draws on
 * a layer edge or in the tail (|z| > r) fall back to the exact density.  Box–Muller
 * (log + sincos per pair) cost a sixth of an OPZO training step. */
#define ZIG_LAYERS 128
static const double zig_r = 3.442619855899;

typedef struct {
    guint32 k[ZIG_LAYERS];
    double w[ZIG_LAYERS], f[ZIG_LAYERS];
} ZigTables;

static ZigTables zig;

static void zig_init(void) {
    const double m = 2147483648.0, v = 9.91256303526217e-3;
    double d = zig_r, t = d;
    double q = v / exp(-0.5 * d * d);
    zig.k[0] = (guint32)((d / q) * m);
    zig.k[1] = 0;
    zig.w[0] = q / m;
    zig.w[ZIG_LAYERS - 1] = d / m;
    zig.f[0] = 1.0;
    zig.f[ZIG_LAYERS - 1] = exp(-0.5 * d * d);
    for (int i = ZIG_LAYERS - 2; i >= 1; i--) {
        d = sqrt(-2.0 * log(v / d + exp(-0.5 * d * d)));
        zig.k[i + 1] = (guint32)((d / t) * m);
        t = d;
        zig.f[i] = exp(-0.5 * d * d);
        zig.w[i] = d / m;
    }
}

static double open_uniform(OzRng *rng) {
    double u;
    do
        u = oz_rng_uniform(rng);
    while (u <= 0.0);
    return u;
}

static void zig_once(void) {
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        zig_init();
        g_once_init_leave(&once, 1);
    }
}

/* The rare case: hz fell outside its layer's rectangle.  Settle it (tail or edge test),
 * drawing fresh 32-bit candidates from the high half of new draws until one is taken. */
static double zig_slow(OzRng *rng, gint32 hz) {
    for (;;) {
        guint32 iz = (guint32)hz & (ZIG_LAYERS - 1);
        guint32 mag = hz < 0 ? (guint32)(-(gint64)hz) : (guint32)hz;
        double x = hz * zig.w[iz];
        if (mag < zig.k[iz])
            return x; /* inside the layer's rectangle */
        if (iz == 0) {
            /* The tail beyond r, by Marsaglia's exponential rejection. */
            double xt, y;
            do {
                xt = -log(open_uniform(rng)) / zig_r;
                y = -log(open_uniform(rng));
            } while (y + y < xt * xt);
            return hz > 0 ? zig_r + xt : -zig_r - xt;
        }
        /* On the layer's edge: accept by the density itself. */
        if (zig.f[iz] + oz_rng_uniform(rng) * (zig.f[iz - 1] - zig.f[iz]) < exp(-0.5 * x * x))
            return x;
        hz = (gint32)(guint32)(oz_rng_next(rng) >> 32);
    }
}

double oz_rng_gauss(OzRng *rng) {
    zig_once();
    return zig_slow(rng, (gint32)(guint32)(oz_rng_next(rng) >> 32));
}

void oz_rng_gauss_fill(OzRng *rng, float *out, gsize n) {
    zig_once();
    gsize i = 0;
    while (i < n) {
        /* Two 32-bit candidates per draw: high half first, then low half. */
        uint64_t r = oz_rng_next(rng);
        gint32 pair[2] = {(gint32)(guint32)(r >> 32), (gint32)(guint32)r};
        for (int h = 0; h < 2 && i < n; h++) {
            gint32 hz = pair[h];
            guint32 iz = (guint32)hz & (ZIG_LAYERS - 1);
            guint32 mag = hz < 0 ? (guint32)(-(gint64)hz) : (guint32)hz;
            out[i++] = (float)(mag < zig.k[iz] ? hz * zig.w[iz] : zig_slow(rng, hz));
        }
    }
}

void oz_rng_shuffle(OzRng *rng, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)oz_rng_below(rng, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* oz-noise.c — see oz-noise.h. */
#include "oz-noise.h"

#include "engine/oz-par.h"

#include <math.h>
#include <string.h>

int oz_noise_dist_from_string(const char *s) {
    static const char *const names[OZ_NOISE_DIST_COUNT] = {"gaussian", "rademacher", "sphere"};
    for (int i = 0; i < OZ_NOISE_DIST_COUNT; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

typedef struct {
    OzNoiseDist dist;
    uint64_t key;
    guint64 row0; /* the global row of row 0 */
    float *z;
    int n;
    gboolean sphere_unit;
} NoiseJob;

static void sample_row(const NoiseJob *j, int b) {
    OzRng rng;
    oz_rng_init_sub(&rng, j->key, j->row0 + (uint64_t)b);
    const int n = j->n;
    float *zb = j->z + (gsize)b * n;
    if (j->dist == OZ_NOISE_RADEMACHER) {
        /* 64 signs per draw. */
        for (int i = 0; i < n; i += 64) {
            guint64 bits = oz_rng_next(&rng);
            int end = MIN(n, i + 64);
            for (int k = i; k < end; k++, bits >>= 1)
                zb[k] = (bits & 1) ? 1.0f : -1.0f;
        }
        return;
    }
    oz_rng_gauss_fill(&rng, zb, (gsize)n);
    if (j->dist == OZ_NOISE_SPHERE) {
        double norm2 = 0.0;
        for (int i = 0; i < n; i++)
            norm2 += (double)zb[i] * zb[i];
        double radius = j->sphere_unit ? 1.0 : sqrt((double)n);
        float scale = norm2 > 0.0 ? (float)(radius / sqrt(norm2)) : 0.0f;
        for (int i = 0; i < n; i++)
            zb[i] *= scale;
    }
}

static void sample_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    for (gsize b = begin; b < end; b++)
        sample_row(ctx, (int)b);
}

void oz_noise_sample_key(OzNoiseDist dist, uint64_t key, float *z, int rows, int n,
                         gboolean sphere_unit) {
    oz_noise_sample_key_at(dist, key, 0, z, rows, n, sphere_unit);
}

void oz_noise_sample_key_at(OzNoiseDist dist, uint64_t key, int row0, float *z, int rows, int n,
                            gboolean sphere_unit) {
    NoiseJob j = {dist, key, (guint64)row0, z, n, sphere_unit};
    oz_par_for((gsize)rows, 1, sample_rows, &j);
}

void oz_noise_sample(OzNoiseDist dist, OzRng *rng, float *z, int rows, int n,
                     gboolean sphere_unit) {
    oz_noise_sample_key(dist, oz_rng_next(rng), z, rows, n, sphere_unit);
}

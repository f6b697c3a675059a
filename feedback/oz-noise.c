/* oz-noise.c — see oz-noise.h. */
#include "oz-noise.h"

#include <math.h>
#include <string.h>

int oz_noise_dist_from_string(const char *s) {
    static const char *const names[OZ_NOISE_DIST_COUNT] = {"gaussian", "rademacher", "sphere"};
    for (int i = 0; i < OZ_NOISE_DIST_COUNT; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void oz_noise_sample(OzNoiseDist dist, OzRng *rng, float *z, int rows, int n,
                     gboolean sphere_unit) {
    gsize total = (gsize)rows * (gsize)n;
    switch (dist) {
    case OZ_NOISE_RADEMACHER:
        /* 64 signs per draw. */
        for (gsize i = 0; i < total; i += 64) {
            guint64 bits = oz_rng_next(rng);
            gsize end = MIN(total, i + 64);
            for (gsize k = i; k < end; k++, bits >>= 1)
                z[k] = (bits & 1) ? 1.0f : -1.0f;
        }
        return;
    case OZ_NOISE_SPHERE:
    case OZ_NOISE_GAUSSIAN:
    case OZ_NOISE_DIST_COUNT:
        for (gsize i = 0; i < total; i++)
            z[i] = (float)oz_rng_gauss(rng);
        break;
    }
    if (dist == OZ_NOISE_SPHERE) {
        for (int b = 0; b < rows; b++) {
            float *zb = z + (gsize)b * n;
            double norm2 = 0.0;
            for (int i = 0; i < n; i++)
                norm2 += (double)zb[i] * zb[i];
            double radius = sphere_unit ? 1.0 : sqrt((double)n);
            float scale = norm2 > 0.0 ? (float)(radius / sqrt(norm2)) : 0.0f;
            for (int i = 0; i < n; i++)
                zb[i] *= scale;
        }
    }
}

/* oz-noise.h — the probe z injected by OPZO and ZO (docs/ALGORITHM.md §6).
 *
 * One z per sample, per neuron, per tick: Gaussian N(0,1), Rademacher ±1, or uniform on
 * the sphere of radius √n per sample (so every component has unit variance, the reading
 * of docs/ALGORITHM.md §6.1).  Antithetic pairs (−z after each fresh draw) are the caller's.
 */
#pragma once

#include "engine/oz-rng.h"

typedef enum {
    OZ_NOISE_GAUSSIAN = 0,
    OZ_NOISE_RADEMACHER,
    OZ_NOISE_SPHERE,
    OZ_NOISE_DIST_COUNT
} OzNoiseDist;

/* Fills z (rows, n).  sphere_unit puts sphere samples on the radius-1 sphere instead of
 * radius √n (the alternative reading).  One 64-bit key is drawn from rng; row b then
 * comes from its own sub-stream (key, b), so the rows are drawn in parallel across the
 * compute team (engine/oz-par.h) and z is the same at any thread count. */
void oz_noise_sample(OzNoiseDist dist, OzRng *rng, float *z, int rows, int n,
                     gboolean sphere_unit);
/* The same with the key given (a 64-bit draw the caller made earlier): a caller that
 * draws the keys of several populations ahead of time fixes their order. */
void oz_noise_sample_key(OzNoiseDist dist, uint64_t key, float *z, int rows, int n,
                         gboolean sphere_unit);
/* The same for rows that are rows row0 … row0 + rows − 1 of a larger batch (one process's
 * share of an MPI run's mini-batch): row b comes from sub-stream (key, row0 + b), so a
 * batch split between processes draws what it draws whole. */
void oz_noise_sample_key_at(OzNoiseDist dist, uint64_t key, int row0, float *z, int rows, int n,
                            gboolean sphere_unit);
/* Parses "gaussian", "rademacher", "sphere"; −1 otherwise. */
int oz_noise_dist_from_string(const char *s);

/* oz-dist-single.c — oz-dist.h for a build without MPI: one process, rank 0 of 1, and every
 * collective leaves its buffer as it is (the sum over one rank is its own value). */
#include "oz-dist.h"

#include <stdlib.h>
#include <string.h>

gboolean oz_dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return TRUE;
}

void oz_dist_finalize(void) {}

gboolean oz_dist_available(void) {
    return FALSE;
}

int oz_dist_rank(void) {
    return 0;
}

int oz_dist_size(void) {
    return 1;
}

int oz_dist_world_rank(void) {
    return 0;
}

int oz_dist_world_size(void) {
    return 1;
}

void oz_dist_solo(gboolean solo) {
    (void)solo;
}

void oz_dist_sum_f32(float *buf, gsize n) {
    (void)buf;
    (void)n;
}

void oz_dist_sum_f64(double *buf, gsize n) {
    (void)buf;
    (void)n;
}

void oz_dist_sum_i64(gint64 *buf, gsize n) {
    (void)buf;
    (void)n;
}

int oz_dist_max_int(int value) {
    return value;
}

void oz_dist_bcast(void *buf, gsize bytes, int root) {
    (void)buf;
    (void)bytes;
    (void)root;
}

guint8 *oz_dist_gather_bytes(const guint8 *buf, gsize n, int root, gsize *out_len) {
    (void)root;
    *out_len = n;
    return n ? g_memdup2(buf, n) : g_malloc0(1);
}

void oz_dist_barrier(void) {}

double oz_dist_seconds(void) {
    return 0.0;
}

guint64 oz_dist_bytes_sent(void) {
    return 0;
}

void oz_dist_abort(int code) {
    exit(code);
}

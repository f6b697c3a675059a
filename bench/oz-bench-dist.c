/* oz-bench-dist.c — the time of one fixed-order sum (engine/oz-dist.h) of the gradients of
 * the paper's networks, under `mpirun -np N` (a build with -Dmpi=enabled; docs/CLUSTER.md).
 *
 *   mpirun -np 2 build-mpi/bench/oz-bench-dist [reps]
 *
 * For each size (MNIST FC's 1,276,810 floats, N-MNIST FC's 2,499,210, conv5's 1,727,498,
 * OPZO's per-tick M of the FC nets, 16,000, and of conv5, 1,756,160) rank 0 prints the median
 * over reps sums (after a barrier, so one rank's lateness is not counted) in milliseconds and
 * the bandwidth it implies, 2·(N−1)/N · bytes / time. */
#include "engine/oz-dist.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (!oz_dist_init(&argc, &argv))
        return 1;
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    if (reps < 1)
        reps = 1;
    const struct {
        const char *name;
        gsize n;
    } sizes[] = {{"MNIST FC gradients", 1276810},
                 {"N-MNIST FC gradients", 2499210},
                 {"conv5 gradients", 1727498},
                 {"FC nets' OPZO M (one tick)", 16000},
                 {"conv5 OPZO M (one tick)", 1756160}};
    const int N = oz_dist_size();
    if (oz_dist_rank() == 0)
        printf(
            "%d ranks, median of %d sums\n| buffer | floats | ms | GB/s |\n| --- | --- | --- | --- "
            "|\n",
            N, reps);
    for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++) {
        float *buf = g_new(float, sizes[s].n);
        double *t = g_new(double, reps);
        for (int r = 0; r < reps; r++) {
            for (gsize i = 0; i < sizes[s].n; i++)
                buf[i] = (float)(i % 7);
            oz_dist_barrier();
            gint64 t0 = g_get_monotonic_time();
            oz_dist_sum_f32(buf, sizes[s].n);
            t[r] = (double)(g_get_monotonic_time() - t0) / 1e3;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp);
        double ms = t[reps / 2];
        double bytes = 2.0 * (N - 1) / N * (double)sizes[s].n * sizeof(float);
        if (oz_dist_rank() == 0)
            printf("| %s | %zu | %.2f | %.2f |\n", sizes[s].name, sizes[s].n, ms,
                   ms > 0 ? bytes / (ms * 1e-3) / 1e9 : 0.0);
        g_free(buf);
        g_free(t);
    }
    oz_dist_finalize();
    return 0;
}

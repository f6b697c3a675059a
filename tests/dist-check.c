/* dist-check.c — the collectives of engine/oz-dist.h checked on every rank of an MPI job:
 * `mpirun -np N dist-check N` (tests/test-dist.c runs it through tests/mpi-run.sh).
 *
 * The float sums are the point.  oz-dist.h promises ((x₀ + x₁) + x₂) + … per element, rank
 * 0's value first, whatever MPI would choose.  With two ranks every grouping gives the same
 * float (a + b = b + a), so the values here are chosen so that the grouping shows from three
 * ranks on: per element the ranks hold a rotation of (10⁸, −10⁸, 1) in float32 — and
 * (10¹⁷, −10¹⁷, 1) in float64, where 1 is likewise below half an ulp of the big values —, so
 * that (10⁸ − 10⁸) + 1 = 1 while 10⁸ + (−10⁸ + 1) = 0.  Each rank computes every rank's
 * values, forms the rank-order sum itself and compares its buffer with it bit for bit.  It
 * also checks, at three ranks or more, that every other first pair (x_a + x_b) would have
 * given another result for some element, so a passing check means the order was rank order
 * (for each element, the expected value is the rank-order sum).
 * The lengths include 1 and 2 (ranks that own no part of the buffer) and 1000 and 1001 (not
 * divisible by three), small after large (the scratch buffer is reused).
 *
 * Integer sums, the status-word maximum, the broadcast, the gather, solo mode and the bytes
 * the float sum sends are checked for their exact values.  Each rank prints `rank R of N:
 * C checks passed` to standard output when all passed; any failure is printed to standard
 * error with the rank, and the rank exits 1 after leaving the job, which makes mpirun
 * fail.
 */
#include "engine/oz-dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size;
static int checks, failures;

/* Records one check; prints the first failures (a broken sum fails thousands). */
static void check(gboolean ok, const char *what, gsize n, gsize i, double got, double want) {
    checks++;
    if (ok)
        return;
    if (failures++ < 10)
        fprintf(stderr,
                "dist-check: rank %d of %d: %s, length %zu, element %zu: got %.17g, expected "
                "%.17g\n",
                rank, size, what, n, i, got, want);
}

/* Rank r's value at element i of the float buffers: a rotation of (big, −big, 1) by i,
 * scaled by 1…5 so that elements differ in magnitude too. */
static double pattern(double big, int r, gsize i) {
    const double p[3] = {big, -big, 1.0};
    return p[((gsize)r + i) % 3] * (double)(1 + i % 5);
}

static float value_f32(int r, gsize i) {
    return (float)pattern(1e8, r, i);
}

static double value_f64(int r, gsize i) {
    return pattern(1e17, r, i);
}

/* The sum over ranks of element i with ranks a and b added first, then the others in rank
 * order; a = 0, b = 1 is the rank order itself.  FLT_EVAL_METHOD 0 (x86-64, no
 * -ffast-math): each float addition is rounded to float. */
static float grouped_f32(gsize i, int a, int b) {
    float acc = value_f32(a, i) + value_f32(b, i);
    for (int r = 0; r < size; r++)
        if (r != a && r != b)
            acc += value_f32(r, i);
    return acc;
}

static double grouped_f64(gsize i, int a, int b) {
    double acc = value_f64(a, i) + value_f64(b, i);
    for (int r = 0; r < size; r++)
        if (r != a && r != b)
            acc += value_f64(r, i);
    return acc;
}

/* Whether the values can tell rank order from every other first pair over n elements: for
 * each pair (a, b) ≠ (0, 1), some element whose sum differs.  Needs three ranks. */
static gboolean order_shows(gsize n, gboolean f64) {
    for (int a = 0; a < size; a++)
        for (int b = a + 1; b < size; b++) {
            if (a == 0 && b == 1)
                continue;
            gboolean differs = FALSE;
            for (gsize i = 0; i < n && !differs; i++)
                differs = f64 ? grouped_f64(i, a, b) != grouped_f64(i, 0, 1)
                              : grouped_f32(i, a, b) != grouped_f32(i, 0, 1);
            if (!differs)
                return FALSE;
        }
    return TRUE;
}

static void check_sum_f32(gsize n) {
    float *buf = g_new(float, n);
    for (gsize i = 0; i < n; i++)
        buf[i] = value_f32(rank, i);
    const guint64 sent = oz_dist_bytes_sent();
    oz_dist_sum_f32(buf, n);
    /* What this rank sent, summed below over the ranks (after every rank's own count). */
    gint64 bytes = (gint64)(oz_dist_bytes_sent() - sent);
    for (gsize i = 0; i < n; i++) {
        float want = grouped_f32(i, 0, 1);
        check(memcmp(&buf[i], &want, sizeof want) == 0, "float32 sum", n, i, buf[i], want);
    }
    /* docs/CLUSTER.md: the fixed-order sum sends 2·(N−1)/N of the buffer from every rank. */
    oz_dist_sum_i64(&bytes, 1);
    check(bytes == (gint64)(2 * (gsize)(size - 1) * n * sizeof(float)),
          "bytes the float32 sum sent, over all ranks", n, 0, (double)bytes,
          (double)(2 * (gsize)(size - 1) * n * sizeof(float)));
    g_free(buf);
}

static void check_sum_f64(gsize n) {
    double *buf = g_new(double, n);
    for (gsize i = 0; i < n; i++)
        buf[i] = value_f64(rank, i);
    oz_dist_sum_f64(buf, n);
    for (gsize i = 0; i < n; i++) {
        double want = grouped_f64(i, 0, 1);
        check(memcmp(&buf[i], &want, sizeof want) == 0, "float64 sum", n, i, buf[i], want);
    }
    g_free(buf);
}

/* Values beyond 32 bits, one rank's negative, so that a narrowed or partial sum shows. */
static gint64 value_i64(int r, gsize i) {
    return ((gint64)(r + 1) << 40) + (gint64)i * (r + 3) - (r == 1 ? (gint64)1 << 50 : 0);
}

static void check_sum_i64(gsize n) {
    gint64 *buf = g_new(gint64, n);
    for (gsize i = 0; i < n; i++)
        buf[i] = value_i64(rank, i);
    oz_dist_sum_i64(buf, n);
    for (gsize i = 0; i < n; i++) {
        gint64 want = 0;
        for (int r = 0; r < size; r++)
            want += value_i64(r, i);
        check(buf[i] == want, "int64 sum", n, i, (double)buf[i], (double)want);
    }
    g_free(buf);
}

/* The status word: the largest held by a middle rank, by rank 0 among negatives, by the
 * last rank. */
static void check_max(void) {
    int got = oz_dist_max_int(rank == 1 ? 143 : 130);
    check(got == 143, "status maximum held by rank 1", 1, 0, got, 143);
    got = oz_dist_max_int(-rank - 5);
    check(got == -5, "maximum of negatives held by rank 0", 1, 0, got, -5);
    got = oz_dist_max_int(rank);
    check(got == size - 1, "maximum held by the last rank", 1, 0, got, size - 1);
}

/* The last rank's 37 bytes reach every rank. */
static void check_bcast(void) {
    const int root = size - 1;
    guint8 buf[37];
    for (gsize k = 0; k < sizeof buf; k++)
        buf[k] = rank == root ? (guint8)(200 + k) : 0;
    oz_dist_bcast(buf, sizeof buf, root);
    for (gsize k = 0; k < sizeof buf; k++)
        check(buf[k] == (guint8)(200 + k), "broadcast from the last rank", sizeof buf, k, buf[k],
              (guint8)(200 + k));
}

/* Rank r sends r bytes (rank 0 none) to rank 1, which receives them in rank order. */
static void check_gather(void) {
    const int root = 1;
    guint8 mine[64];
    for (int k = 0; k < rank; k++)
        mine[k] = (guint8)(16 * rank + k);
    gsize len = 0;
    g_autofree guint8 *all = oz_dist_gather_bytes(mine, (gsize)rank, root, &len);
    if (rank != root) {
        check(all == NULL, "gather result away from the root", 0, 0, all != NULL, 0);
        return;
    }
    const gsize want_len = (gsize)size * (gsize)(size - 1) / 2;
    check(len == want_len, "gathered length", len, 0, (double)len, (double)want_len);
    gsize at = 0;
    for (int r = 0; r < size && len == want_len; r++)
        for (int k = 0; k < r; k++, at++)
            check(all[at] == (guint8)(16 * r + k), "gathered byte", len, at, all[at],
                  (guint8)(16 * r + k));
}

/* Solo: the process is rank 0 of 1 and a sum leaves its own values; the job is still
 * there. */
static void check_solo(void) {
    oz_dist_solo(TRUE);
    check(oz_dist_rank() == 0 && oz_dist_size() == 1, "solo rank 0 of 1", 1, 0, oz_dist_size(), 1);
    check(oz_dist_world_rank() == rank && oz_dist_world_size() == size, "world size in solo", 1, 0,
          oz_dist_world_size(), size);
    float x[3] = {value_f32(rank, 0), value_f32(rank, 1), value_f32(rank, 2)};
    oz_dist_sum_f32(x, 3);
    for (gsize i = 0; i < 3; i++)
        check(x[i] == value_f32(rank, i), "solo float32 sum", 3, i, x[i], value_f32(rank, i));
    oz_dist_solo(FALSE);
    check(oz_dist_size() == size, "size after solo", 1, 0, oz_dist_size(), size);
}

int main(int argc, char **argv) {
    /* At most 64 ranks: check_gather's buffer. */
    if (argc != 2 || atoi(argv[1]) < 2 || atoi(argv[1]) > 64) {
        fprintf(stderr, "usage: mpirun -np N dist-check N  (2 <= N <= 64)\n");
        return 2;
    }
    const int want = atoi(argv[1]);
    if (!oz_dist_init(&argc, &argv))
        return 1;
    rank = oz_dist_rank();
    size = oz_dist_size();
    if (!oz_dist_available() || size != want) {
        /* Without a job the sums are no-ops: a check run that way would prove nothing. */
        fprintf(stderr, "dist-check: rank %d of %d, expected %d ranks (MPI build: %s)\n", rank,
                size, want, oz_dist_available() ? "yes" : "no");
        oz_dist_finalize();
        return 1;
    }
    /* Small after large: the scratch buffer kept between sums is reused. */
    const gsize lengths[] = {1000, 1, 2, 3, 4, 7, 1001};
    for (gsize k = 0; k < G_N_ELEMENTS(lengths); k++) {
        check_sum_f32(lengths[k]);
        check_sum_f64(lengths[k]);
        check_sum_i64(lengths[k]);
    }
    if (size >= 3)
        for (int f64 = 0; f64 < 2; f64++)
            check(order_shows(1000, f64),
                  f64 ? "float64 values tell the grouping apart"
                      : "float32 values tell the grouping apart",
                  1000, 0, 0, 1);
    check_max();
    check_bcast();
    check_gather();
    check_solo();
    oz_dist_barrier();
    oz_dist_finalize();
    if (failures) {
        fprintf(stderr, "dist-check: rank %d of %d: %d of %d checks failed\n", rank, size, failures,
                checks);
        return 1;
    }
    printf("rank %d of %d: %d checks passed\n", rank, size, checks);
    return 0;
}

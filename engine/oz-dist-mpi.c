/* oz-dist-mpi.c — oz-dist.h over MPI (built with -Dmpi=enabled).
 *
 * The job is joined only when a launcher started the process: Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, a PMI or PMIx launcher (MPICH's hydra, srun --mpi=pmi2|pmix) sets
 * PMI_SIZE, PMI_RANK or PMIX_RANK.  Otherwise the program is one process and MPI is never
 * initialised, so the MPI build run by hand (and its tests run without mpirun) behaves as
 * the single build.
 *
 * The float sums do not use MPI_Allreduce: the standard leaves its order of additions to
 * the implementation (it may change with the message size or the algorithm chosen), and
 * the sums must be repeatable bit for bit.  Instead each rank owns a contiguous part of the
 * buffer, receives that part from every rank (MPI_Alltoallv), adds the copies in rank
 * order, and the summed parts are gathered by every rank (MPI_Allgatherv).  Each element
 * is thus ((x₀ + x₁) + x₂) + … whichever rank owns it, and the traffic is that of a
 * reduce-scatter plus an all-gather, 2·(N−1)/N of the buffer per rank, which is what a
 * good allreduce moves too.  Integer sums and the maximum are exact and use
 * MPI_Allreduce.
 *
 * Only the simulation thread calls MPI (MPI_THREAD_FUNNELED): the compute team's helpers
 * and libuv's thread pool never do.
 */
#include "oz-dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean joined;
static gboolean solo;
static int world_rank, world_size = 1;
/* The parts a fixed-order sum receives, kept between calls: a fresh multi-megabyte block
 * per step would be mapped and faulted in page by page every time. */
static guint8 *scratch;
static gsize scratch_len;
/* What the collectives cost this process (oz_dist_seconds, oz_dist_bytes_sent). */
static gint64 comm_us;
static guint64 comm_bytes;

static gboolean launched(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"};
    for (gsize i = 0; i < G_N_ELEMENTS(vars); i++)
        if (g_getenv(vars[i]))
            return TRUE;
    return FALSE;
}

gboolean oz_dist_init(int *argc, char ***argv) {
    if (joined || !launched())
        return TRUE;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "opzosim: error: cannot join the MPI job (MPI_Init_thread failed)\n");
        return FALSE;
    }
    joined = TRUE;
    /* Errors end the job with a message rather than leaving ranks waiting. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    return TRUE;
}

void oz_dist_finalize(void) {
    if (!joined)
        return;
    joined = FALSE;
    g_clear_pointer(&scratch, g_free);
    scratch_len = 0;
    MPI_Finalize();
}

gboolean oz_dist_available(void) {
    return TRUE;
}

static gboolean alone(void) {
    return !joined || solo || world_size == 1;
}

int oz_dist_rank(void) {
    return alone() ? 0 : world_rank;
}

int oz_dist_size(void) {
    return alone() ? 1 : world_size;
}

int oz_dist_world_rank(void) {
    return joined ? world_rank : 0;
}

int oz_dist_world_size(void) {
    return joined ? world_size : 1;
}

void oz_dist_solo(gboolean on) {
    solo = on;
}

/* Rank r's part of n elements: [lo, lo + count). */
static void part_of(gsize n, int r, int size, int *lo, int *count) {
    gsize base = n / (gsize)size, rest = n % (gsize)size;
    gsize start = (gsize)r * base + MIN((gsize)r, rest);
    *lo = (int)start;
    *count = (int)(base + ((gsize)r < rest));
}

/* The fixed-order sum of the file comment, for elements of `size` bytes added by add(acc,
 * x, count). */
static void sum_fixed(void *buf, gsize n, gsize elem, MPI_Datatype type,
                      void (*add)(void *acc, const void *x, int count)) {
    if (alone() || n == 0)
        return;
    g_assert(n <= INT_MAX);
    const int N = world_size, me = world_rank;
    int *scount = g_new(int, N), *sdisp = g_new(int, N), *rcount = g_new(int, N),
        *rdisp = g_new(int, N);
    int mylo = 0, mycount = 0;
    part_of(n, me, N, &mylo, &mycount);
    for (int r = 0; r < N; r++) {
        part_of(n, r, N, &sdisp[r], &scount[r]);
        rcount[r] = mycount;
        rdisp[r] = r * mycount;
    }
    const gsize need = MAX((gsize)mycount * (gsize)N * elem, 1);
    if (need > scratch_len) {
        g_free(scratch);
        scratch = g_malloc(need);
        scratch_len = need;
    }
    guint8 *parts = scratch;
    const gint64 t0 = g_get_monotonic_time();
    /* Every part but its own out, its own summed part to every other rank. */
    comm_bytes += (guint64)(n - (gsize)mycount) * elem + (guint64)mycount * (guint64)(N - 1) * elem;
    MPI_Alltoallv(buf, scount, sdisp, type, parts, rcount, rdisp, type, MPI_COMM_WORLD);
    /* Rank 0's copy, then rank 1's added to it, and so on. */
    guint8 *acc = parts;
    for (int r = 1; r < N; r++)
        add(acc, parts + (gsize)r * mycount * elem, mycount);
    memcpy((guint8 *)buf + (gsize)mylo * elem, acc, (gsize)mycount * elem);
    MPI_Allgatherv(MPI_IN_PLACE, 0, type, buf, scount, sdisp, type, MPI_COMM_WORLD);
    comm_us += g_get_monotonic_time() - t0;
    g_free(scount);
    g_free(sdisp);
    g_free(rcount);
    g_free(rdisp);
}

static void add_f32(void *acc, const void *x, int count) {
    float *a = acc;
    const float *b = x;
    for (int i = 0; i < count; i++)
        a[i] += b[i];
}

static void add_f64(void *acc, const void *x, int count) {
    double *a = acc;
    const double *b = x;
    for (int i = 0; i < count; i++)
        a[i] += b[i];
}

void oz_dist_sum_f32(float *buf, gsize n) {
    sum_fixed(buf, n, sizeof(float), MPI_FLOAT, add_f32);
}

void oz_dist_sum_f64(double *buf, gsize n) {
    sum_fixed(buf, n, sizeof(double), MPI_DOUBLE, add_f64);
}

void oz_dist_sum_i64(gint64 *buf, gsize n) {
    if (alone() || n == 0)
        return;
    g_assert(n <= INT_MAX);
    const gint64 t0 = g_get_monotonic_time();
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    comm_us += g_get_monotonic_time() - t0;
    comm_bytes += n * sizeof(gint64);
}

int oz_dist_max_int(int value) {
    if (alone())
        return value;
    int out = value;
    const gint64 t0 = g_get_monotonic_time();
    MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    comm_us += g_get_monotonic_time() - t0;
    comm_bytes += sizeof(int);
    return out;
}

void oz_dist_bcast(void *buf, gsize bytes, int root) {
    if (alone() || bytes == 0)
        return;
    g_assert(bytes <= INT_MAX);
    MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
}

guint8 *oz_dist_gather_bytes(const guint8 *buf, gsize n, int root, gsize *out_len) {
    if (alone()) {
        *out_len = n;
        return n ? g_memdup2(buf, n) : g_malloc0(1);
    }
    g_assert(n <= INT_MAX);
    const int N = world_size;
    int mine = (int)n;
    int *counts = world_rank == root ? g_new(int, N) : NULL;
    MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, root, MPI_COMM_WORLD);
    int *disp = NULL;
    guint8 *all = NULL;
    gsize total = 0;
    if (world_rank == root) {
        disp = g_new(int, N);
        for (int r = 0; r < N; r++) {
            disp[r] = (int)total;
            total += (gsize)counts[r];
        }
        g_assert(total <= INT_MAX);
        all = g_malloc(MAX(total, 1));
    }
    MPI_Gatherv(buf, mine, MPI_BYTE, all, counts, disp, MPI_BYTE, root, MPI_COMM_WORLD);
    g_free(counts);
    g_free(disp);
    *out_len = total;
    return all;
}

double oz_dist_seconds(void) {
    return (double)comm_us / 1e6;
}

guint64 oz_dist_bytes_sent(void) {
    return comm_bytes;
}

void oz_dist_barrier(void) {
    if (!alone())
        MPI_Barrier(MPI_COMM_WORLD);
}

void oz_dist_abort(int code) {
    if (joined && !solo && world_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

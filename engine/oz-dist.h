/* oz-dist.h — the processes of a run: one, or the ranks of an MPI job (docs/CLUSTER.md).
 *
 * Every call the simulator makes across processes goes through this interface.  Two
 * implementations, chosen by meson's `mpi` option: oz-dist-single.c (one process: rank 0
 * of 1, every collective a no-op that leaves its buffer as it is) and oz-dist-mpi.c (Open
 * MPI).  A program built with MPI but not started by a launcher (mpirun, srun) is one
 * process too and never initialises MPI, so it behaves as the single build.
 *
 * Sums of floats are formed in a fixed order — rank 0's value, plus rank 1's, plus rank
 * 2's, … — whatever MPI's own reduction would choose, so a run with N ranks gives the same
 * bits every time it is repeated.  Integer sums and the maximum are exact, so their order
 * does not matter.
 *
 * Collectives must be called by every rank in the same order with the same sizes (the
 * run keeps its ranks in lockstep: every rank steps every batch).  oz_dist_solo(TRUE)
 * turns the process into a world of its own (rank 0 of 1) until oz_dist_solo(FALSE): a
 * sweep's ranks run their combinations alone that way.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Joins the job when the process was started by an MPI launcher (else: one process).
 * Call once, first thing in main.  Returns FALSE (with a message on stderr) when the
 * launcher's job cannot be joined. */
gboolean oz_dist_init(int *argc, char ***argv);
/* Leaves the job (MPI_Finalize); a no-op for one process.  Call once, last thing. */
void oz_dist_finalize(void);
/* Whether this build can run as several processes (built with -Dmpi=enabled). */
gboolean oz_dist_available(void);

int oz_dist_rank(void);
int oz_dist_size(void);
/* The job's rank and size, whatever oz_dist_solo says. */
int oz_dist_world_rank(void);
int oz_dist_world_size(void);
/* TRUE: this process alone (rank 0 of 1) until called with FALSE. */
void oz_dist_solo(gboolean solo);

/* In place: buf becomes the sum over ranks, formed in rank order (rank 0 + rank 1 + …). */
void oz_dist_sum_f32(float *buf, gsize n);
void oz_dist_sum_f64(double *buf, gsize n);
void oz_dist_sum_i64(gint64 *buf, gsize n);
/* The largest of the ranks' values. */
int oz_dist_max_int(int value);
/* bytes from root's buf into every rank's buf. */
void oz_dist_bcast(void *buf, gsize bytes, int root);
/* Every rank's bytes at root, in rank order; NULL elsewhere.  *out_len is the total.
 * (transfer full) */
guint8 *oz_dist_gather_bytes(const guint8 *buf, gsize n, int root, gsize *out_len);
void oz_dist_barrier(void);
/* Seconds this process has spent in collectives (waiting for slower ranks included) and
 * the bytes it has sent, since the start; 0 for one process. */
double oz_dist_seconds(void);
guint64 oz_dist_bytes_sent(void);
/* Ends every rank of the job now (MPI_Abort) with code; exits with code for one process. */
G_NORETURN void oz_dist_abort(int code);

G_END_DECLS

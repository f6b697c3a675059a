/* oz-par.h — the compute team: the calling thread plus helper threads that split dense
 * products and per-neuron loops between them.
 *
 * Why our own team instead of OpenBLAS's threads: with OpenBLAS threading every product,
 * its second thread spun and yielded (sched_yield) through all the serial per-neuron work
 * between products — a fifth of the profile — and that work ran on one core.  One team
 * that runs both the products (OpenBLAS single-threaded inside each part) and the loops
 * keeps both cores busy and nobody spinning against anybody.  The helpers are libuv
 * threads; they spin briefly on an atomic generation counter after each job and then
 * sleep on a condition variable.
 *
 * Determinism: a loop is split into contiguous parts, one per thread, and every element is
 * computed by exactly one part with the same arithmetic as a serial loop, so per-element
 * loops give the same bits at any thread count.  Reductions across parts are done by the
 * caller in part order.  A product is split along the larger of M and N; each element of C
 * is still one single-threaded OpenBLAS reduction over K.
 *
 * The team is process-wide (as OpenBLAS's thread count is).  Library code calls
 * oz_par_for() and oz_sgemm(); with one thread (the default) they run inline.  Jobs must
 * not be nested and must be started from one thread at a time (the simulation thread). */
#pragma once

#include <cblas.h>
#include <glib.h>

G_BEGIN_DECLS

#define OZ_PAR_MAX_THREADS 256

/* Sets the team size (1..OZ_PAR_MAX_THREADS), starting or stopping helpers, and pins
 * OpenBLAS to one thread per call.  Not to be called while a job runs. */
void oz_par_set_threads(int n);
int oz_par_threads(void);

/* fn(ctx, part, begin, end) over [0, n) in contiguous parts, one per thread, each
 * boundary a multiple of grain (except n itself).  part is 0..oz_par_threads()-1 and
 * identifies a slot for per-part partial results.  Small n (< 2·grain) runs inline as
 * part 0 over the whole range. */
typedef void (*OzParFn)(void *ctx, int part, gsize begin, gsize end);
void oz_par_for(gsize n, gsize grain, OzParFn fn, void *ctx);

/* dst[i] = src[i] and dst[i] += src[i] for i < n, split across the team. */
void oz_par_copy(float *dst, const float *src, gsize n);
void oz_par_add(float *dst, const float *src, gsize n);

/* cblas_sgemm, row-major, split across the team when the product is large enough. */
void oz_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Stops the helpers (also done at exit). */
void oz_par_shutdown(void);

G_END_DECLS

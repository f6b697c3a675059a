/* oz-bench-util.h — what the benchmarks share: the median of a set of timings, and a spike
 * frame made from a packet of floats. */
#pragma once

#include "neurons/oz-population.h"

#include <glib.h>

/* Sorts the n values of t in place and returns t[n / 2]: the median when n is odd. */
double oz_bench_median(double *t, int n);

/* f->s holds a packet of batch samples × n neurons: makes it a spike frame (kind, counts,
 * nspikes), its index lists not built yet (building them is part of a delivery). */
void oz_bench_spike_frame(OzFrame *f, int batch, int n);

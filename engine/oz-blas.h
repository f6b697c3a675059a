/* oz-blas.h — which OpenBLAS kernels the process multiplies with.
 *
 * OpenBLAS picks its kernel set (AVX2 "Haswell", AVX-512 "SkylakeX" or "Cooperlake", ...)
 * by CPU model when it loads, unless the environment variable OPENBLAS_CORETYPE names one.
 * Kernel sets round sums in different orders, so the last bits of a run depend on the set
 * as they do on the thread count: the run log records it (parameters: owner 'run', key
 * 'blas_kernels') and a resumed run on other kernels says so (docs/PERFORMANCE.md,
 * "OpenBLAS kernels"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The kernels in use, as OpenBLAS names them ("Cooperlake", "Haswell", ...). */
const char *oz_blas_kernels(void);

G_END_DECLS

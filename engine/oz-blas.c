/* oz-blas.c — see oz-blas.h. */
#include "oz-blas.h"

extern char *openblas_get_corename(void);

const char *oz_blas_kernels(void) {
    const char *name = openblas_get_corename();
    return name && *name ? name : "unknown";
}

/* oz-vec.h — sixteen floats as one value, for the register-blocked event-style loops
 * (event and delta delivery, sparse gradient sums).  GCC's and clang's vector extension:
 * one zmm register with AVX-512, two ymm or four xmm otherwise; loads and stores go
 * through memcpy, so no alignment is assumed.  Element-wise + and * round as the scalar
 * operations do, so a loop over OzVec16 gives the bits of the plain loop it replaces. */
#pragma once

#include <string.h>

typedef float OzVec16 __attribute__((vector_size(64)));

static inline OzVec16 oz_vload16(const float *x) {
    OzVec16 v;
    memcpy(&v, x, sizeof v);
    return v;
}

static inline void oz_vstore16(float *x, OzVec16 v) {
    memcpy(x, &v, sizeof v);
}

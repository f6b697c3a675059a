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

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* The entries of a row whose value changed: for each i with cur[i] − prev[i] ≠ 0, in
 * ascending order, idx gets i and val the difference; prev becomes cur.  idx and val need
 * room for n entries.  Returns the count.  (Delta delivery's and sparse chunks' change
 * lists.)  With AVX-512, sixteen at a time: the lanes that changed are compressed in a
 * register and stored in full at the list's end (≤ i, so inside the row; what lies past
 * the new end is overwritten later or never read) — the same lists as the scalar loop. */
static inline int oz_list_changes(const float *cur, float *prev, int n, int *idx, float *val) {
    int cnt = 0, i = 0;
#ifdef __AVX512F__
    const __m512i step = _mm512_set1_epi32(16);
    __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; i + 16 <= n; i += 16) {
        __m512 c = _mm512_loadu_ps(cur + i);
        __m512 d = _mm512_sub_ps(c, _mm512_loadu_ps(prev + i));
        __mmask16 m = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        _mm512_storeu_si512(idx + cnt, _mm512_maskz_compress_epi32(m, ids));
        _mm512_storeu_ps(val + cnt, _mm512_maskz_compress_ps(m, d));
        _mm512_storeu_ps(prev + i, c);
        cnt += __builtin_popcount((unsigned)m);
        ids = _mm512_add_epi32(ids, step);
    }
#endif
    for (; i < n; i++) {
        const float d = cur[i] - prev[i];
        idx[cnt] = i;
        val[cnt] = d;
        cnt += d != 0.0f;
        prev[i] = cur[i];
    }
    return cnt;
}

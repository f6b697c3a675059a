/* oz-bench-util.c — the helpers every benchmark shares (bench/oz-bench-util.h). */
#include "oz-bench-util.h"

#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double oz_bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return t[n / 2];
}

void oz_bench_spike_frame(OzFrame *f, int batch, int n) {
    f->kind = OZ_FRAME_SPIKES;
    f->nspikes = 0;
    for (int b = 0; b < batch; b++) {
        int cnt = 0;
        for (int i = 0; i < n; i++)
            cnt += f->s[b * n + i] != 0.0f;
        f->counts[b] = cnt;
        f->nspikes += (guint64)cnt;
    }
    f->indexed = FALSE;
}

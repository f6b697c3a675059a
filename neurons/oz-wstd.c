/* oz-wstd.c — scaled weight standardisation, forward and backward (see oz-wstd.h).
 *
 * Runs once per optimizer step, not per tick, so it favours plain loops in double over
 * speed.  Each unit's sums run over its fan-in in ascending j whichever of the two loop
 * orders the layout's strides pick, so dense and convolution layouts give the same
 * numbers for the same weights.
 */
#include "neurons/oz-wstd.h"

#include <math.h>

typedef struct {
    OzWstd pub;
    double *mu, *s, *acc_a, *acc_b; /* (units) each: scratch of one call */
} Wstd;

/* Visits every (unit u, fan-in index j, tensor index idx) with the contiguous dimension
 * inner; for each u, j ascends. */
#define FOR_FAN_IN(L, u, j, idx, ...)                                                              \
    do {                                                                                           \
        if ((L)->elem_stride >= (L)->unit_stride) {                                                \
            for (gsize j = 0; j < (L)->fan_in; j++)                                                \
                for (gsize u = 0; u < (L)->units; u++) {                                           \
                    const gsize idx = u * (L)->unit_stride + j * (L)->elem_stride;                 \
                    __VA_ARGS__                                                                    \
                }                                                                                  \
        } else {                                                                                   \
            for (gsize u = 0; u < (L)->units; u++)                                                 \
                for (gsize j = 0; j < (L)->fan_in; j++) {                                          \
                    const gsize idx = u * (L)->unit_stride + j * (L)->elem_stride;                 \
                    __VA_ARGS__                                                                    \
                }                                                                                  \
        }                                                                                          \
    } while (0)

OzWstd *oz_wstd_new(const OzFanIn *lay) {
    g_return_val_if_fail(lay && lay->units > 0 && lay->fan_in >= 2, NULL);
    Wstd *w = g_new0(Wstd, 1);
    w->pub.lay = *lay;
    w->pub.nw = lay->units * lay->fan_in;
    w->pub.w_raw = g_new0(float, w->pub.nw);
    w->pub.grad_raw = g_new0(float, w->pub.nw);
    w->pub.gamma = g_new(float, lay->units);
    w->pub.gamma_grad = g_new0(float, lay->units);
    for (gsize u = 0; u < lay->units; u++)
        w->pub.gamma[u] = 1.0f;
    w->mu = g_new(double, lay->units);
    w->s = g_new(double, lay->units);
    w->acc_a = g_new(double, lay->units);
    w->acc_b = g_new(double, lay->units);
    return &w->pub;
}

void oz_wstd_free(OzWstd *ws) {
    if (!ws)
        return;
    Wstd *w = (Wstd *)ws;
    g_free(ws->w_raw);
    g_free(ws->grad_raw);
    g_free(ws->gamma);
    g_free(ws->gamma_grad);
    g_free(w->mu);
    g_free(w->s);
    g_free(w->acc_a);
    g_free(w->acc_b);
    g_free(w);
}

/* μ and s = sqrt(N σ² + ε) of every unit of the raw W, σ² the unbiased variance (two
 * passes: the centred sum of squares keeps its precision for weights far from zero). */
static void unit_stats(Wstd *w) {
    const OzFanIn *L = &w->pub.lay;
    const float *raw = w->pub.w_raw;
    const double n = (double)L->fan_in;
    for (gsize u = 0; u < L->units; u++)
        w->acc_a[u] = w->acc_b[u] = 0.0;
    FOR_FAN_IN(L, u, j, idx, { w->acc_a[u] += raw[idx]; });
    for (gsize u = 0; u < L->units; u++)
        w->mu[u] = w->acc_a[u] / n;
    FOR_FAN_IN(L, u, j, idx, {
        const double c = raw[idx] - w->mu[u];
        w->acc_b[u] += c * c;
    });
    for (gsize u = 0; u < L->units; u++) {
        const double var = w->acc_b[u] / (n - 1.0);
        w->s[u] = sqrt(n * var + OZ_WSTD_EPS);
    }
}

void oz_wstd_forward(const OzWstd *ws, float *w_hat) {
    Wstd *w = (Wstd *)ws;
    const OzFanIn *L = &ws->lay;
    unit_stats(w);
    for (gsize u = 0; u < L->units; u++)
        w->acc_a[u] = (double)ws->gamma[u] / w->s[u];
    FOR_FAN_IN(L, u, j, idx, { w_hat[idx] = (float)((ws->w_raw[idx] - w->mu[u]) * w->acc_a[u]); });
}

void oz_wstd_backward(OzWstd *ws, const float *g) {
    Wstd *w = (Wstd *)ws;
    const OzFanIn *L = &ws->lay;
    const double n = (double)L->fan_in;
    unit_stats(w);
    /* acc_a = Σ_j G_j, acc_b = Σ_j G_j c_j. */
    for (gsize u = 0; u < L->units; u++)
        w->acc_a[u] = w->acc_b[u] = 0.0;
    FOR_FAN_IN(L, u, j, idx, {
        w->acc_a[u] += g[idx];
        w->acc_b[u] += (double)g[idx] * (ws->w_raw[idx] - w->mu[u]);
    });
    for (gsize u = 0; u < L->units; u++)
        ws->gamma_grad[u] = (float)(w->acc_b[u] / w->s[u]);
    FOR_FAN_IN(L, u, j, idx, {
        const double s = w->s[u], c = ws->w_raw[idx] - w->mu[u];
        const double gbar = w->acc_a[u] / n;
        const double proj = n / (n - 1.0) * c * w->acc_b[u] / (s * s);
        ws->grad_raw[idx] = (float)((double)ws->gamma[u] / s * ((double)g[idx] - gbar - proj));
    });
}

/* oz-bench-delivery — event-driven vs dense (sgemm) vs delta spike delivery.
 *
 * For an 800 → 800 projection and a batch of 128, times one delivery of a random spike
 * packet at several presynaptic firing rates, by each path, and prints the median of
 * `reps` timings per cell and the ratio, as a Markdown table and as JSON lines.  The
 * delta column times the same packet sent as its change from a previous packet that
 * differs in 5% of the neurons (each neuron flipped with probability 0.05), as a hidden
 * layer under a static input does from tick to tick.
 * Usage: oz-bench-delivery [reps] [threads]
 */
#include "neurons/oz-projection.h"
#include "oz-bench-util.h"

#include "engine/oz-par.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    oz_par_set_threads(threads);
    /* OpenBLAS's own worker thread spins for about 0.1 s after the library starts (it
     * never gets work here); let it fall asleep before timing anything. */
    g_usleep(300000);
    const int B = 128, N = 800;
    OzPopulationParams lif = {.model = "lif", .size = N, .lambda = 0.5f, .v_th = 1.0f};
    OzPopulation *pre = oz_population_new("pre", &lif, B, NULL);
    OzPopulation *post = oz_population_new("post", &lif, B, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 1.0f};
    OzProjection *proj = oz_projection_new("p", pre, post, &pp);
    OzProjectionParams dp = {.init = OZ_INIT_UNIFORM, .init_scale = 1.0f,
                             .delivery = OZ_DELIVERY_DELTA};
    OzProjection *dproj = oz_projection_new("d", pre, post, &dp);
    OzRng rng;
    oz_rng_init(&rng, 1, "bench");
    oz_projection_init_weights(proj, &rng);
    memcpy(dproj->w, proj->w, sizeof(float) * N * N);
    float *s_prev = g_new(float, (gsize)B * N), *s_cur = g_new(float, (gsize)B * N);
    float *acc = g_new0(float, (gsize)B * N);
    double *t_ev = g_new(double, reps), *t_de = g_new(double, reps), *t_dl = g_new(double, reps);
    const double rates[] = {0.01, 0.05, 0.10, 0.20, 0.40};
    printf("| rate | event-driven (ms) | dense sgemm (ms) | event/dense | delta, 5%% changed (ms) "
           "| delta/dense |\n|---|---|---|---|---|---|\n");
    GString *json = g_string_new("[");
    for (gsize r = 0; r < G_N_ELEMENTS(rates); r++) {
        /* A packet at this rate, drawn as tests/oz-test-util.c's oz_test_spike_frame draws
         * it (the bench is built without Criterion, so it does not link the test helpers). */
        OzFrame *f = oz_population_frame(pre, 0);
        f->value = 1.0f;
        for (int k = 0; k < B * N; k++)
            f->s[k] = oz_rng_uniform(&rng) < rates[r] ? 1.0f : 0.0f;
        oz_bench_spike_frame(f, B, N);
        /* The previous packet of the delta column: 5% of the neurons flipped. */
        memcpy(s_cur, f->s, sizeof(float) * B * N);
        for (int k = 0; k < B * N; k++)
            s_prev[k] = oz_rng_uniform(&rng) < 0.05 ? 1.0f - s_cur[k] : s_cur[k];
        for (int k = -1; k < reps; k++) { /* k = −1 warms caches and BLAS threads */
            for (int path = 0; path < 2; path++) {
                proj->p.delivery = path == 0 ? OZ_DELIVERY_EVENT : OZ_DELIVERY_DENSE;
                memset(acc, 0, sizeof(float) * B * N);
                f->indexed = FALSE; /* building the spike lists is part of the event path */
                gint64 t0 = g_get_monotonic_time();
                oz_projection_deliver(proj, f, acc);
                double ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
                if (k >= 0)
                    (path == 0 ? t_ev : t_de)[k] = ms;
            }
            /* Delta: deliver the previous packet (untimed), then this one as a change. */
            oz_projection_reset(dproj);
            memcpy(f->s, s_prev, sizeof(float) * B * N);
            oz_bench_spike_frame(f, B, N);
            memset(acc, 0, sizeof(float) * B * N);
            if (f->nspikes)
                oz_projection_deliver(dproj, f, acc);
            memcpy(f->s, s_cur, sizeof(float) * B * N);
            oz_bench_spike_frame(f, B, N);
            memset(acc, 0, sizeof(float) * B * N);
            gint64 t0 = g_get_monotonic_time();
            oz_projection_deliver(dproj, f, acc);
            if (k >= 0)
                t_dl[k] = (double)(g_get_monotonic_time() - t0) / 1000.0;
        }
        double me = oz_bench_median(t_ev, reps), md = oz_bench_median(t_de, reps),
               ml = oz_bench_median(t_dl, reps);
        printf("| %.0f%% | %.3f | %.3f | %.2f | %.3f | %.2f |\n", rates[r] * 100, me, md, me / md, ml,
               ml / md);
        g_string_append_printf(json,
                               "%s{\"rate\": %.2f, \"event_ms\": %.4f, \"dense_ms\": %.4f, "
                               "\"delta_5pct_ms\": %.4f}",
                               r ? ", " : "", rates[r], me, md, ml);
    }
    g_string_append(json, "]");
    fprintf(stderr, "%s\n", json->str);
    g_string_free(json, TRUE);
    g_free(acc);
    g_free(t_ev);
    g_free(t_de);
    g_free(t_dl);
    g_free(s_prev);
    g_free(s_cur);
    oz_projection_free(dproj);
    oz_projection_free(proj);
    oz_population_free(pre);
    oz_population_free(post);
    return 0;
}

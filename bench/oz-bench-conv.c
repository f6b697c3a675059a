/* oz-bench-conv — event-driven vs im2col + sgemm delivery through a conv2d projection.
 *
 * For a 64 → 128 channel 3×3 convolution (padding 1) on a 14×14 map, times one delivery
 * of a random spike packet at presynaptic firing rates of 1% to 40%, by each path, and
 * prints the median of `reps` timings per cell and their ratio as a Markdown table and
 * as JSON lines (stderr).  Also prints the im2col buffer's size, which depends on the
 * layer and the thread count only (not on T or the batch).
 * Usage: oz-bench-conv [reps] [threads] [batch]
 */
#include "neurons/oz-projection.h"
#include "oz-bench-util.h"

#include "engine/oz-par.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The conv2d kind's keys: kernel 3, padding 1, the rest defaults. */
static gpointer conv_keys(const OzProjectionKindOps *ops) {
    gpointer kp = g_malloc0(ops->params_size);
    oz_param_defaults(ops->params, kp);
    g_autofree char *why = NULL;
    if (!oz_param_parse(oz_param_find(ops->params, "padding"), "1", kp, &why))
        g_error("%s", why);
    return kp;
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    const int threads = argc > 2 ? atoi(argv[2]) : 2;
    const int B = argc > 3 ? atoi(argv[3]) : 32;
    oz_par_set_threads(threads);
    g_usleep(300000); /* let OpenBLAS's own start-up thread fall asleep */
    const int CI = 64, CO = 128, H = 14, W = 14, NPRE = CI * H * W, NPOST = CO * H * W;
    OzPopulationParams a = {.model = "lif", .size = NPRE, .rank = 3, .shape = {CI, H, W},
                            .lambda = 0.5f, .v_th = 1.0f};
    OzPopulationParams b = {.model = "lif", .size = NPOST, .rank = 3, .shape = {CO, H, W},
                            .lambda = 0.5f, .v_th = 1.0f};
    OzPopulation *pre = oz_population_new("pre", &a, B, NULL);
    OzPopulation *post = oz_population_new("post", &b, B, NULL);
    const OzProjectionKindOps *ops = oz_projection_kind_lookup("conv2d");
    gpointer kp = conv_keys(ops);
    OzProjectionParams pp = {.init = OZ_INIT_KAIMING, .init_scale = 1.0f, .kind = ops,
                             .kind_params = kp};
    OzProjection *proj = oz_projection_new("c", pre, post, &pp);
    g_free(kp);
    OzRng rng;
    oz_rng_init(&rng, 1, "bench");
    oz_projection_init_weights(proj, &rng);
    float *acc = g_new0(float, (gsize)B * NPOST);
    double *t_ev = g_new(double, reps), *t_im = g_new(double, reps);
    const double rates[] = {0.01, 0.02, 0.05, 0.10, 0.20, 0.40};
    printf("| rate | event-driven (ms) | im2col + sgemm (ms) | event/im2col |\n"
           "|---|---|---|---|\n");
    GString *json = g_string_new("[");
    for (gsize r = 0; r < G_N_ELEMENTS(rates); r++) {
        OzFrame *f = oz_population_frame(pre, 0);
        f->value = 1.0f;
        for (int k = 0; k < B * NPRE; k++)
            f->s[k] = oz_rng_uniform(&rng) < rates[r] ? 1.0f : 0.0f;
        oz_bench_spike_frame(f, B, NPRE);
        for (int k = -1; k < reps; k++) { /* k = −1 warms caches and allocates buffers */
            for (int path = 0; path < 2; path++) {
                proj->p.delivery = path == 0 ? OZ_DELIVERY_EVENT : OZ_DELIVERY_DENSE;
                memset(acc, 0, sizeof(float) * B * NPOST);
                f->indexed = FALSE; /* building the spike lists is part of the event path */
                gint64 t0 = g_get_monotonic_time();
                oz_projection_deliver(proj, f, acc);
                double ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
                if (k >= 0)
                    (path == 0 ? t_ev : t_im)[k] = ms;
            }
        }
        double me = oz_bench_median(t_ev, reps), mi = oz_bench_median(t_im, reps);
        printf("| %.0f%% | %.2f | %.2f | %.2f |\n", rates[r] * 100, me, mi, me / mi);
        g_string_append_printf(json, "%s{\"rate\": %.2f, \"event_ms\": %.4f, \"im2col_ms\": %.4f}",
                               r ? ", " : "", rates[r], me, mi);
    }
    /* The per-thread im2col matrices (C_in·k·k × H′·W′ floats each) and event accumulators
     * (H′·W′ × C_out floats each). */
    const double col_mb = (double)threads * CI * 9 * H * W * 4 / 1e6;
    const double scratch_mb = (double)threads * H * W * CO * 4 / 1e6;
    printf("\nbatch %d, %d threads; im2col buffer %.2f MB, event accumulators %.2f MB "
           "(per projection, independent of T and the batch)\n",
           B, threads, col_mb, scratch_mb);
    g_string_append(json, "]");
    fprintf(stderr, "%s\n", json->str);
    g_string_free(json, TRUE);
    g_free(acc);
    g_free(t_ev);
    g_free(t_im);
    oz_projection_free(proj);
    oz_population_free(pre);
    oz_population_free(post);
    oz_par_shutdown();
    return 0;
}

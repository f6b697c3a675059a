/* oz-bench-engine — events per second through the engine alone.
 *
 * 1000 chains of self-rescheduling events with delays 0..7 ticks and 8 stages, the
 * shape of a network's traffic, until `total` events (default 10^7) have been
 * dispatched.  Prints the median of `reps` runs.  Usage: oz-bench-engine [total] [reps]
 */
#include "engine/oz-engine.h"
#include "engine/oz-rng.h"
#include "oz-bench-util.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct {
    OzRng rng;
    guint handler;
    guint64 left;
} Chain;

static void hop(OzEngine *e, const OzEvent *ev, gpointer user) {
    Chain *c = user;
    if (c->left == 0)
        return;
    c->left--;
    guint64 r = oz_rng_next(&c->rng);
    gint64 delay = (gint64)(r & 7);
    guint32 stage = (guint32)((r >> 3) & 7);
    if (delay == 0 && stage < ev->stage)
        stage = ev->stage;
    oz_engine_schedule(e, ev->tick + delay, stage, c->handler, ev->arg);
}

int main(int argc, char **argv) {
    guint64 total = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ULL;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    double *rate = g_new(double, reps);
    for (int k = 0; k < reps; k++) {
        OzEngine *e = oz_engine_new();
        Chain c;
        oz_rng_init(&c.rng, 1, "bench");
        c.left = total;
        c.handler = oz_engine_add_handler(e, "hop", hop, &c);
        for (int i = 0; i < 1000; i++)
            oz_engine_schedule(e, 0, 0, c.handler, i);
        gint64 t0 = g_get_monotonic_time();
        guint64 n = oz_engine_run_all(e);
        double s = (double)(g_get_monotonic_time() - t0) / 1e6;
        rate[k] = (double)n / s;
        oz_engine_free(e);
    }
    printf("%.0f\n", oz_bench_median(rate, reps));
    g_free(rate);
    return 0;
}

/* Engine: ordering by (tick, stage, seq), scheduling from handlers, cancellation. */
#include "engine/oz-engine.h"
#include "engine/oz-rng.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    GArray *log; /* of OzEvent */
    guint self;  /* handler id, for rescheduling */
    int remaining;
} Rec;

static void record(OzEngine *e, const OzEvent *ev, gpointer user) {
    Rec *r = user;
    g_array_append_val(r->log, *ev);
    (void)e;
}

Test(engine, dispatches_in_tick_stage_seq_order) {
    OzEngine *e = oz_engine_new();
    Rec r = {g_array_new(FALSE, FALSE, sizeof(OzEvent)), 0, 0};
    guint h = oz_engine_add_handler(e, "rec", record, &r);
    /* Inserted out of order on purpose; arg encodes the expected position. */
    oz_engine_schedule(e, 2, 0, h, 4);
    oz_engine_schedule(e, 1, 5, h, 3);
    oz_engine_schedule(e, 1, 1, h, 1);
    oz_engine_schedule(e, 0, 9, h, 0);
    oz_engine_schedule(e, 1, 1, h, 2); /* same (tick, stage): after the earlier insert */
    oz_engine_schedule(e, 7, 0, h, 5);
    cr_assert_eq(oz_engine_run_all(e), 6);
    for (guint i = 0; i < r.log->len; i++)
        cr_assert_eq(g_array_index(r.log, OzEvent, i).arg, (gint64)i, "position %u", i);
    cr_assert_eq(oz_engine_now(e), 7);
    cr_assert_eq(oz_engine_pending(e), 0);
    g_array_free(r.log, TRUE);
    oz_engine_free(e);
}

static void chain(OzEngine *e, const OzEvent *ev, gpointer user) {
    Rec *r = user;
    g_array_append_val(r->log, *ev);
    if (--r->remaining > 0) {
        /* Same tick, same stage: must still run after everything already queued there. */
        oz_engine_schedule(e, ev->tick, ev->stage, r->self, ev->arg + 100);
        oz_engine_schedule(e, ev->tick + 1, 0, r->self, ev->arg + 1);
    }
}

Test(engine, handlers_schedule_into_the_current_tick_and_later) {
    OzEngine *e = oz_engine_new();
    Rec r = {g_array_new(FALSE, FALSE, sizeof(OzEvent)), 0, 3};
    r.self = oz_engine_add_handler(e, "chain", chain, &r);
    guint h2 = oz_engine_add_handler(e, "rec", record, &r);
    oz_engine_schedule(e, 0, 0, r.self, 0);
    oz_engine_schedule(e, 0, 0, h2, -1);
    oz_engine_run_all(e);
    /* Worked by hand: #0 chain(0) queues #2 (0,0) and #3 (1,0); #1 rec(-1); #2 chain(100)
     * queues #4 (0,0) and #5 (1,0); #4 chain(200) stops; then tick 1: #3, #5. */
    gint64 want[] = {0, -1, 100, 200, 1, 101};
    cr_assert_eq(r.log->len, G_N_ELEMENTS(want));
    for (guint i = 0; i < G_N_ELEMENTS(want); i++)
        cr_assert_eq(g_array_index(r.log, OzEvent, i).arg, want[i], "position %u", i);
    for (guint i = 1; i < r.log->len; i++) {
        const OzEvent *a = &g_array_index(r.log, OzEvent, i - 1);
        const OzEvent *b = &g_array_index(r.log, OzEvent, i);
        cr_assert(a->tick < b->tick || (a->tick == b->tick && a->stage < b->stage) ||
                  (a->tick == b->tick && a->stage == b->stage && a->seq < b->seq));
    }
    g_array_free(r.log, TRUE);
    oz_engine_free(e);
}

Test(engine, run_until_stops_before_the_tick) {
    OzEngine *e = oz_engine_new();
    Rec r = {g_array_new(FALSE, FALSE, sizeof(OzEvent)), 0, 0};
    guint h = oz_engine_add_handler(e, "rec", record, &r);
    for (int t = 0; t < 10; t++)
        oz_engine_schedule(e, t, 0, h, t);
    cr_assert_eq(oz_engine_run(e, 4), 4);
    cr_assert_eq(oz_engine_pending(e), 6);
    cr_assert_eq(oz_engine_run_all(e), 6);
    cr_assert_eq(oz_engine_handler_count(e, h), 10);
    g_array_free(r.log, TRUE);
    oz_engine_free(e);
}

Test(engine, cancelled_events_are_not_dispatched) {
    OzEngine *e = oz_engine_new();
    Rec r = {g_array_new(FALSE, FALSE, sizeof(OzEvent)), 0, 0};
    guint h = oz_engine_add_handler(e, "rec", record, &r);
    oz_engine_schedule(e, 1, 0, h, 1);
    guint64 s = oz_engine_schedule(e, 2, 0, h, 2);
    oz_engine_schedule(e, 3, 0, h, 3);
    cr_assert(oz_engine_cancel(e, s));
    cr_assert_not(oz_engine_cancel(e, 999));
    cr_assert_eq(oz_engine_run_all(e), 2);
    cr_assert_eq(g_array_index(r.log, OzEvent, 1).arg, 3);
    g_array_free(r.log, TRUE);
    oz_engine_free(e);
}

Test(engine, many_random_events_come_out_sorted) {
    OzEngine *e = oz_engine_new();
    Rec r = {g_array_new(FALSE, FALSE, sizeof(OzEvent)), 0, 0};
    guint h = oz_engine_add_handler(e, "rec", record, &r);
    OzRng rng;
    oz_rng_init(&rng, 7, "engine-test");
    for (int i = 0; i < 5000; i++)
        oz_engine_schedule(e, (gint64)oz_rng_below(&rng, 50), (guint32)oz_rng_below(&rng, 4), h,
                           i);
    cr_assert_eq(oz_engine_run_all(e), 5000);
    for (guint i = 1; i < r.log->len; i++) {
        const OzEvent *a = &g_array_index(r.log, OzEvent, i - 1);
        const OzEvent *b = &g_array_index(r.log, OzEvent, i);
        cr_assert(a->tick < b->tick || (a->tick == b->tick && a->stage < b->stage) ||
                      (a->tick == b->tick && a->stage == b->stage && a->seq < b->seq),
                  "out of order at %u", i);
    }
    g_array_free(r.log, TRUE);
    oz_engine_free(e);
}

Test(rng, streams_are_reproducible_and_distinct_by_purpose) {
    OzRng a, b, c;
    oz_rng_init(&a, 42, "noise");
    oz_rng_init(&b, 42, "noise");
    oz_rng_init(&c, 42, "dropout");
    int same_ac = 0;
    for (int i = 0; i < 100; i++) {
        guint64 x = oz_rng_next(&a), y = oz_rng_next(&b), z = oz_rng_next(&c);
        cr_assert_eq(x, y);
        same_ac += x == z;
    }
    cr_assert_eq(same_ac, 0);
}

Test(rng, gaussian_has_unit_moments) {
    OzRng r;
    oz_rng_init(&r, 1, "gauss");
    double s = 0, s2 = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double g = oz_rng_gauss(&r);
        s += g;
        s2 += g * g;
    }
    /* Standard errors: mean 1/sqrt(n) ≈ 0.0022, variance sqrt(2/n) ≈ 0.0032. */
    cr_assert_float_eq(s / n, 0.0, 0.012);
    cr_assert_float_eq(s2 / n, 1.0, 0.016);
}

/* Φ(x), for the distribution test below. */
static double normal_cdf(double x) {
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* Moments, tail mass and KS distance of n draws that should be N(0, 1). */
static void check_standard_normal(double *v, int n) {
    double s3 = 0, s4 = 0;
    int tail = 0;
    for (int i = 0; i < n; i++) {
        s3 += v[i] * v[i] * v[i];
        s4 += v[i] * v[i] * v[i] * v[i];
        tail += fabs(v[i]) > 3.442619855899; /* beyond the ziggurat's base layer */
    }
    /* Skewness 0 and kurtosis 3 (standard errors about 0.004 and 0.008). */
    cr_assert_float_eq(s3 / n, 0.0, 0.03);
    cr_assert_float_eq(s4 / n, 3.0, 0.06);
    /* P(|z| > 3.4426) = 5.76e-4: about 230 of 400000. */
    cr_assert(tail > 160 && tail < 310, "tail count %d", tail);
    /* Kolmogorov–Smirnov distance against Phi (critical value at 1% about 0.0026). */
    qsort(v, n, sizeof(double), cmp_double);
    double ks = 0;
    for (int i = 0; i < n; i++) {
        double c = normal_cdf(v[i]);
        ks = fmax(ks, fmax(fabs(c - (double)i / n), fabs(c - (double)(i + 1) / n)));
    }
    cr_assert_lt(ks, 0.0026, "KS distance %g", ks);
}

Test(rng, gaussian_matches_the_normal_distribution_including_tails) {
    OzRng r;
    oz_rng_init(&r, 99, "gauss");
    const int n = 400000;
    double *v = g_new(double, n);
    for (int i = 0; i < n; i++)
        v[i] = oz_rng_gauss(&r);
    check_standard_normal(v, n);
    g_free(v);
}

/* The fill takes two normals from each 64-bit draw: neighbours must be as independent as
 * any two draws, and the whole as normal as oz_rng_gauss. */
Test(rng, gaussian_fill_is_normal_and_its_pairs_are_uncorrelated) {
    OzRng r;
    oz_rng_init(&r, 7, "gauss-fill");
    const int n = 400000;
    float *f = g_new(float, n);
    /* Odd-sized chunks put the pair boundary everywhere. */
    for (int i = 0; i < n; i += 799)
        oz_rng_gauss_fill(&r, f + i, (gsize)MIN(799, n - i));
    double *v = g_new(double, n);
    double s = 0, s2 = 0, lag1 = 0;
    for (int i = 0; i < n; i++) {
        v[i] = f[i];
        s += v[i];
        s2 += v[i] * v[i];
        if (i > 0)
            lag1 += v[i] * v[i - 1];
    }
    cr_assert_float_eq(s / n, 0.0, 0.009); /* 4 standard errors */
    cr_assert_float_eq(s2 / n, 1.0, 0.012);
    cr_assert_float_eq(lag1 / n, 0.0, 0.0064, "lag-1 correlation %g", lag1 / n);
    /* Same key and index: the same numbers; another index: others. */
    OzRng a, b, c;
    oz_rng_init_sub(&a, 12345, 3);
    oz_rng_init_sub(&b, 12345, 3);
    oz_rng_init_sub(&c, 12345, 4);
    float x[37], y[37], z[37];
    oz_rng_gauss_fill(&a, x, 37);
    oz_rng_gauss_fill(&b, y, 37);
    oz_rng_gauss_fill(&c, z, 37);
    cr_assert_arr_eq(x, y, sizeof x);
    cr_assert(memcmp(x, z, sizeof x) != 0);
    check_standard_normal(v, n);
    g_free(v);
    g_free(f);
}

typedef struct {
    GArray *log;
    guint self;
    OzRng rng;
    int budget;
} Wild;

static void wild(OzEngine *e, const OzEvent *ev, gpointer user) {
    Wild *w = user;
    g_array_append_val(w->log, *ev);
    if (w->budget-- <= 0)
        return;
    /* Near and far futures, same-tick later stages, to mix the ring and the heap. */
    guint64 r = oz_rng_next(&w->rng);
    gint64 delay = (r & 3) == 0 ? (gint64)((r >> 8) % 300) : (gint64)((r >> 8) % 4);
    guint32 stage = (guint32)((r >> 20) % 5);
    if (delay == 0 && stage < ev->stage)
        stage = ev->stage;
    oz_engine_schedule(e, ev->tick + delay, stage, w->self, ev->arg);
}

Test(engine, far_events_keep_the_total_order) {
    OzEngine *e = oz_engine_new();
    Wild w = {g_array_new(FALSE, FALSE, sizeof(OzEvent)), 0, {{0}}, 50000};
    oz_rng_init(&w.rng, 3, "wild");
    w.self = oz_engine_add_handler(e, "wild", wild, &w);
    for (int i = 0; i < 200; i++)
        oz_engine_schedule(e, (gint64)oz_rng_below(&w.rng, 500), (guint32)oz_rng_below(&w.rng, 5),
                           w.self, i);
    /* The same (tick, stage) from the heap and, later, straight into the ring. */
    oz_engine_schedule(e, 900, 2, w.self, -1);
    oz_engine_run(e, 850);
    cr_assert_eq(oz_engine_now(e) < 850, TRUE);
    oz_engine_schedule(e, 900, 2, w.self, -2);
    oz_engine_run_all(e);
    cr_assert_eq(oz_engine_pending(e), 0);
    gboolean seen_first = FALSE;
    for (guint i = 0; i < w.log->len; i++) {
        const OzEvent *b = &g_array_index(w.log, OzEvent, i);
        if (i > 0) {
            const OzEvent *a = &g_array_index(w.log, OzEvent, i - 1);
            cr_assert(a->tick < b->tick || (a->tick == b->tick && a->stage < b->stage) ||
                          (a->tick == b->tick && a->stage == b->stage && a->seq < b->seq),
                      "out of order at %u: (%ld,%u,%lu) then (%ld,%u,%lu)", i, (long)a->tick,
                      a->stage, (unsigned long)a->seq, (long)b->tick, b->stage,
                      (unsigned long)b->seq);
        }
        if (b->arg == -1)
            seen_first = TRUE;
        if (b->arg == -2)
            cr_assert(seen_first, "the earlier-scheduled event of (900, 2) comes first");
    }
    cr_assert_eq(w.log->len, 200 + 2 + 50000);
    g_array_free(w.log, TRUE);
    oz_engine_free(e);
}

/* test-par.c — the compute team (engine/oz-par.h): every index exactly once, products
 * equal to a double-precision reference however they are split, and the per-neuron
 * loops (LIF, noise, dropout, event delivery) bit-identical at any thread count. */
#include "engine/oz-par.h"
#include "feedback/oz-noise.h"
#include "neurons/oz-population.h"
#include "neurons/oz-projection.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static void reset_team(void) {
    oz_par_set_threads(1);
}

TestSuite(par, .fini = reset_team);

typedef struct {
    int *hits;
    gsize grain, n;
    int bad_part;
    int bad_boundary;
} CoverJob;

static void cover(void *ctx, int part, gsize begin, gsize end) {
    CoverJob *j = ctx;
    if (part < 0 || part >= oz_par_threads())
        j->bad_part = 1;
    if (begin % j->grain != 0 || (end % j->grain != 0 && end != j->n))
        j->bad_boundary = 1;
    for (gsize i = begin; i < end; i++)
        j->hits[i]++; /* parts are disjoint: no two threads touch one index */
}

Test(par, every_index_is_visited_exactly_once) {
    const gsize sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 100, 1000, 1024, 12345};
    const gsize grains[] = {1, 16, 64};
    for (int threads = 1; threads <= 4; threads++) {
        oz_par_set_threads(threads);
        cr_assert_eq(oz_par_threads(), threads);
        for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++)
            for (gsize g = 0; g < G_N_ELEMENTS(grains); g++) {
                gsize n = sizes[s];
                CoverJob j = {g_new0(int, n + 1), grains[g], n, 0, 0};
                oz_par_for(n, grains[g], cover, &j);
                for (gsize i = 0; i < n; i++)
                    cr_assert_eq(j.hits[i], 1, "threads %d n %zu grain %zu: index %zu hit %d",
                                 threads, n, grains[g], i, j.hits[i]);
                cr_assert_eq(j.hits[n], 0);
                cr_assert_not(j.bad_part);
                cr_assert_not(j.bad_boundary, "threads %d n %zu grain %zu", threads, n, grains[g]);
                g_free(j.hits);
            }
    }
}

typedef struct {
    gint64 sum[OZ_PAR_MAX_THREADS];
} SumJob;

static void sum_part(void *ctx, int part, gsize begin, gsize end) {
    SumJob *j = ctx;
    for (gsize i = begin; i < end; i++)
        j->sum[part] += (gint64)i;
}

/* Many jobs back to back, and some after the helpers have gone to sleep: a lost wake-up
 * would hang here (the test's timeout), a lost part would give a wrong sum. */
Test(par, many_jobs_with_sleeping_helpers_lose_nothing, .timeout = 60) {
    for (int threads = 2; threads <= 3; threads++) {
        oz_par_set_threads(threads);
        for (int k = 0; k < 20000; k++) {
            if (k % 2000 == 0)
                g_usleep(5000); /* longer than the helpers' spin */
            SumJob j = {{0}};
            gsize n = 64 + (gsize)(k % 200);
            oz_par_for(n, 1, sum_part, &j);
            gint64 total = 0;
            for (int p = 0; p < threads; p++)
                total += j.sum[p];
            cr_assert_eq(total, (gint64)(n * (n - 1) / 2), "job %d", k);
        }
    }
    /* Resizing down and up again keeps working. */
    const int sizes[] = {1, 4, 2, 1, 3};
    for (gsize s = 0; s < G_N_ELEMENTS(sizes); s++) {
        oz_par_set_threads(sizes[s]);
        SumJob j = {{0}};
        oz_par_for(1000, 1, sum_part, &j);
        gint64 total = 0;
        for (int p = 0; p < sizes[s]; p++)
            total += j.sum[p];
        cr_assert_eq(total, 499500);
    }
}

static float frand(guint32 *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 16777216.0f - 0.5f;
}

/* C = alpha·op(A)·op(B) + beta·C against a double loop, for shapes that split along M
 * and along N, every transpose, beta 0 and 1, at 1, 2 and 3 threads. */
Test(par, split_products_match_a_double_reference) {
    const int shapes[][3] = {{200, 150, 37}, {90, 700, 64}, {128, 800, 50}, {800, 64, 128}};
    for (gsize sh = 0; sh < G_N_ELEMENTS(shapes); sh++) {
        const int m = shapes[sh][0], n = shapes[sh][1], k = shapes[sh][2];
        float *a = g_new(float, (gsize)m *k), *b = g_new(float, (gsize)k *n);
        float *c0 = g_new(float, (gsize)m *n), *c = g_new(float, (gsize)m *n);
        double *ref = g_new(double, (gsize)m *n);
        guint32 st = 12345u + (guint32)sh;
        for (gsize i = 0; i < (gsize)m * k; i++)
            a[i] = frand(&st);
        for (gsize i = 0; i < (gsize)k * n; i++)
            b[i] = frand(&st);
        for (gsize i = 0; i < (gsize)m * n; i++)
            c0[i] = frand(&st);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int beta = 0; beta <= 1; beta++) {
                    /* A is m×k (lda k) or stored transposed k×m (lda m); B likewise. */
                    int lda = ta ? m : k, ldb = tb ? k : n;
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            double s = 0;
                            for (int p = 0; p < k; p++) {
                                double x = ta ? a[(gsize)p * lda + i] : a[(gsize)i * lda + p];
                                double y = tb ? b[(gsize)j * ldb + p] : b[(gsize)p * ldb + j];
                                s += x * y;
                            }
                            ref[(gsize)i * n + j] = 0.5 * s + beta * (double)c0[(gsize)i * n + j];
                        }
                    for (int threads = 1; threads <= 3; threads++) {
                        oz_par_set_threads(threads);
                        memcpy(c, c0, sizeof(float) * (gsize)m * n);
                        oz_sgemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                                 n, k, 0.5f, a, lda, b, ldb, (float)beta, c, n);
                        for (gsize i = 0; i < (gsize)m * n; i++)
                            cr_assert(fabs(c[i] - ref[i]) <= 1e-5 * (1.0 + fabs(ref[i])),
                                      "%dx%dx%d ta %d tb %d beta %d threads %d: C[%zu] = %.8g, "
                                      "reference %.8g",
                                      m, n, k, ta, tb, beta, threads, i, c[i], ref[i]);
                    }
                }
        g_free(a);
        g_free(b);
        g_free(c0);
        g_free(c);
        g_free(ref);
    }
}

/* The same split twice gives the same bits (the determinism contract is per thread
 * count). */
Test(par, a_split_product_is_reproducible) {
    const int m = 128, n = 800, k = 784;
    float *a = g_new(float, (gsize)m *k), *b = g_new(float, (gsize)k *n);
    float *c1 = g_new0(float, (gsize)m *n), *c2 = g_new0(float, (gsize)m *n);
    guint32 st = 7;
    for (gsize i = 0; i < (gsize)m * k; i++)
        a[i] = frand(&st);
    for (gsize i = 0; i < (gsize)k * n; i++)
        b[i] = frand(&st);
    oz_par_set_threads(2);
    oz_sgemm(CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c1, n);
    oz_sgemm(CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c2, n);
    cr_assert(memcmp(c1, c2, sizeof(float) * (gsize)m * n) == 0);
    g_free(a);
    g_free(b);
    g_free(c1);
    g_free(c2);
}

Test(par, noise_is_the_same_at_any_thread_count) {
    const int rows = 64, n = 300;
    float *ref = g_new(float, rows *n), *z = g_new(float, rows *n);
    for (int d = 0; d < OZ_NOISE_DIST_COUNT; d++) {
        for (int threads = 1; threads <= 3; threads++) {
            oz_par_set_threads(threads);
            OzRng rng;
            oz_rng_init(&rng, 2022, "noise");
            oz_noise_sample(d, &rng, threads == 1 ? ref : z, rows, n, FALSE);
            if (threads > 1)
                cr_assert(memcmp(ref, z, sizeof(float) * rows * n) == 0,
                          "distribution %d differs at %d threads", d, threads);
        }
        /* Rows are different streams. */
        cr_assert(memcmp(ref, ref + n, sizeof(float) * n) != 0);
    }
    g_free(ref);
    g_free(z);
}

/* A LIF population with dropout and the probe, stepped for a few ticks: masks, u, s,
 * traces and spike counts are bit-identical at 1, 2 and 3 threads. */
static GByteArray *lif_run(int threads) {
    oz_par_set_threads(threads);
    const int B = 48, N = 500;
    OzPopulationParams l = {
        .model = "lif", .size = N, .lambda = 0.5f, .v_th = 1.0f, .dropout = 0.2f, .bias = TRUE};
    OzPopulation *pop = oz_population_new("h", &l, B, NULL);
    oz_population_set_depth(pop, 4);
    OzRng rng, noise;
    oz_rng_init(&rng, 5, "dropout");
    oz_rng_init(&noise, 5, "noise");
    pop->rng = &rng;
    pop->training = TRUE;
    pop->noise_mode = OZ_NOISE_AFTER;
    pop->noise_alpha = 0.3f;
    oz_population_reset(pop);
    GByteArray *out = g_byte_array_new();
    g_byte_array_append(out, (const guint8 *)pop->mask, sizeof(float) * B * N);
    guint32 st = 99;
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < B * N; i++)
            pop->acc[i] = 1.5f * (frand(&st) + 0.5f);
        OzFrame *f = oz_population_frame(pop, t);
        oz_noise_sample(OZ_NOISE_GAUSSIAN, &noise, f->z, B, N, FALSE);
        oz_population_step(pop, t);
        cr_assert_gt(f->nspikes, 0);
        g_byte_array_append(out, (const guint8 *)f->u, sizeof(float) * B * N);
        g_byte_array_append(out, (const guint8 *)f->s, sizeof(float) * B * N);
        g_byte_array_append(out, (const guint8 *)f->trace, sizeof(float) * B * N);
        g_byte_array_append(out, (const guint8 *)f->counts, sizeof(int) * B);
        g_byte_array_append(out, (const guint8 *)&f->nspikes, sizeof f->nspikes);
    }
    oz_population_free(pop);
    return out;
}

Test(par, lif_steps_are_the_same_at_any_thread_count) {
    GByteArray *ref = lif_run(1);
    for (int threads = 2; threads <= 3; threads++) {
        GByteArray *got = lif_run(threads);
        cr_assert_eq(got->len, ref->len);
        cr_assert(memcmp(got->data, ref->data, ref->len) == 0, "%d threads differ", threads);
        g_byte_array_free(got, TRUE);
    }
    g_byte_array_free(ref, TRUE);
}

/* Event-driven delivery, split by samples: the same bits at any thread count, and the
 * double-precision product. */
Test(par, event_delivery_is_the_same_at_any_thread_count) {
    const int B = 40, NPRE = 300, NPOST = 200;
    OzPopulationParams l = {.model = "lif", .size = NPRE, .lambda = 0.5f, .v_th = 1.0f};
    OzPopulation *pre = oz_population_new("pre", &l, B, NULL);
    l.size = NPOST;
    OzPopulation *post = oz_population_new("post", &l, B, NULL);
    OzProjectionParams pp = {
        .init = OZ_INIT_NORMAL, .init_scale = 1.0f, .delivery = OZ_DELIVERY_EVENT};
    OzProjection *proj = oz_projection_new("p", pre, post, &pp);
    OzRng rng;
    oz_rng_init(&rng, 4, "test");
    oz_projection_init_weights(proj, &rng);
    OzFrame *f = oz_population_frame(pre, 0);
    oz_test_spike_frame(f, B, NPRE, 0.1, 1.25f, FALSE, &rng);
    float *ref = g_new0(float, B *NPOST), *acc = g_new0(float, B *NPOST);
    for (int threads = 1; threads <= 3; threads++) {
        oz_par_set_threads(threads);
        f->indexed = FALSE;
        float *dst = threads == 1 ? ref : acc;
        memset(dst, 0, sizeof(float) * B * NPOST);
        oz_projection_deliver(proj, f, dst);
        cr_assert_eq(proj->packets_event, (guint64)threads, "the event path, at %d threads",
                     threads);
        if (threads > 1)
            cr_assert(memcmp(ref, acc, sizeof(float) * B * NPOST) == 0, "%d threads differ",
                      threads);
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < NPOST; j++) {
            double s = 0;
            for (int i = 0; i < NPRE; i++)
                s += (double)f->s[b * NPRE + i] * proj->w[i * NPOST + j];
            cr_assert(fabs(ref[b * NPOST + j] - s) <= 1e-5 * (1.0 + fabs(s)));
        }
    /* And the very bits of the plainest loop: per spike, in ascending neuron order, a
     * row of val·w added (200 columns: a register block of 128, four of 16, and 8 left). */
    float *plain = g_new0(float, B *NPOST);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < NPRE; i++)
            if (f->s[b * NPRE + i] != 0.0f)
                for (int j = 0; j < NPOST; j++)
                    plain[b * NPOST + j] += f->value * proj->w[i * NPOST + j];
    cr_assert(memcmp(plain, ref, sizeof(float) * B * NPOST) == 0);
    g_free(plain);
    g_free(ref);
    g_free(acc);
    oz_projection_free(proj);
    oz_population_free(pre);
    oz_population_free(post);
}

/* Delta delivery (the change lists, their sums and the kept currents) is computed per
 * sample, so a sequence of packets gives the same bits at any thread count.  (Full
 * packets by sgemm would not: a split product rounds differently; the threshold keeps
 * them on the event path.) */
static GByteArray *delta_run(int threads) {
    oz_par_set_threads(threads);
    const int B = 40, NPRE = 300, NPOST = 200, PACKETS = 6;
    OzPopulationParams l = {.model = "lif", .size = NPRE, .lambda = 0.5f, .v_th = 1.0f};
    OzPopulation *pre = oz_population_new("pre", &l, B, NULL);
    l.size = NPOST;
    OzPopulation *post = oz_population_new("post", &l, B, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_NORMAL, .init_scale = 1.0f,
                             .delivery = OZ_DELIVERY_AUTO, .dense_threshold = 0.9f,
                             .delta = TRUE, .delta_refresh = 3};
    OzProjection *proj = oz_projection_new("p", pre, post, &pp);
    OzRng rng;
    oz_rng_init(&rng, 5, "test");
    oz_projection_init_weights(proj, &rng);
    oz_projection_reset(proj);
    OzFrame *f = oz_population_frame(pre, 0);
    memset(f->s, 0, sizeof(float) * B * NPRE);
    float *acc = g_new0(float, B *NPOST);
    GByteArray *out = g_byte_array_new();
    for (int t = 0; t < PACKETS; t++) {
        oz_test_spike_frame(f, B, NPRE, t == 0 ? 0.1 : 0.03, 1.25f, TRUE, &rng);
        oz_projection_deliver(proj, f, acc);
        g_byte_array_append(out, (const guint8 *)acc, sizeof(float) * B * NPOST);
    }
    cr_assert_eq(proj->packets_delta, 4, "packets 1-3 and 5 are changes (refresh after 3)");
    cr_assert_gt(proj->delta_rows, 0);
    cr_assert_eq(proj->packets_event, 2, "packets 0 and 4 in full, by the event path");
    cr_assert_eq(proj->packets_dense, 0);
    g_free(acc);
    oz_projection_free(proj);
    oz_population_free(pre);
    oz_population_free(post);
    return out;
}

Test(par, delta_delivery_is_the_same_at_any_thread_count) {
    GByteArray *one = delta_run(1);
    for (int threads = 2; threads <= 3; threads++) {
        GByteArray *other = delta_run(threads);
        cr_assert_eq(other->len, one->len);
        cr_assert(memcmp(one->data, other->data, one->len) == 0, "%d threads differ", threads);
        g_byte_array_unref(other);
    }
    g_byte_array_unref(one);
}

/* Neurons: a hand-worked network tick by tick, event vs dense delivery, delays, cycles,
 * the surrogate, dropout masks and Bernoulli input. */
#include "neurons/oz-network.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static const OzPopulationParams LIF = {.model = "lif", .size = 1, .lambda = 0.5f, .v_th = 1.0f};
static const OzProjectionParams PLAIN = {.delay_ticks = 0, .init = OZ_INIT_ZERO};

typedef struct {
    float u[2][16]; /* pre-reset membrane of h (0) and g (1) per tick */
    float trace[16];
    float osum_after[16];
    int spikes[2][16];
} Trace3;

static void watch3(OzPopulation *pop, gint64 t, gpointer user) {
    Trace3 *tr = user;
    const OzFrame *f = oz_population_frame(pop, t);
    if (strcmp(pop->name, "h") == 0 || strcmp(pop->name, "g") == 0) {
        int k = pop->name[0] == 'h' ? 0 : 1;
        tr->u[k][t] = pop->u[0];
        tr->spikes[k][t] = f->counts[0];
        if (k == 0)
            tr->trace[t] = f->trace[0];
    }
    if (strcmp(pop->name, "out") == 0)
        tr->osum_after[t] = pop->osum[0];
}

/* in (x = 1) --0.8--> h (LIF) --1.5--> g (LIF) --2.0--> out (readout), λ = 0.5,
 * V_th = 1, no bias, T = 6.  Worked by hand:
 *   t   u_h     s_h  v_h     u_g      s_g  v_g     â_h
 *   0   0.8     0    0.8     0        0    0       0
 *   1   1.2     1    0.2     1.5      1    0.5     1
 *   2   0.9     0    0.9     0.25     0    0.25    0.5
 *   3   1.25    1    0.25    1.625    1    0.625   1.25
 *   4   0.925   0    0.925   0.3125   0    0.3125  0.625
 *   5   1.2625  1    0.2625  1.65625  1    0.65625 1.3125
 * out: o[t] = 2·s_g[t], so Σ o = 6; SynOps h→g = 3 spikes × 1, g→out = 3 × 1;
 * dense MACs in→h = 1 (the static current is computed once per sample). */
Test(neurons, three_neuron_network_matches_hand_computation) {
    OzNetwork *net = oz_network_new(1, 6);
    OzPopulationParams in = {.model = "input", .size = 1, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams ro = {.model = "readout", .size = 1};
    cr_assert(oz_network_add_population(net, "in", &in, NULL));
    cr_assert(oz_network_add_population(net, "h", &LIF, NULL));
    cr_assert(oz_network_add_population(net, "g", &LIF, NULL));
    cr_assert(oz_network_add_population(net, "out", &ro, NULL));
    OzProjection *a = oz_network_add_projection(net, "a", "in", "h", &PLAIN, NULL);
    OzProjection *b = oz_network_add_projection(net, "b", "h", "g", &PLAIN, NULL);
    OzProjection *c = oz_network_add_projection(net, "c", "g", "out", &PLAIN, NULL);
    cr_assert(oz_network_prepare(net, -1, NULL));
    cr_assert_eq(net->window_ticks, 6);
    a->w[0] = 0.8f;
    b->w[0] = 1.5f;
    c->w[0] = 2.0f;
    oz_network_population(net, "in")->x[0] = 1.0f;
    Trace3 tr = {0};
    oz_network_set_observer(net, watch3, &tr);
    oz_network_reset(net, 1, FALSE);
    oz_network_run_window(net);

    const float uh[6] = {0.8f, 1.2f, 0.9f, 1.25f, 0.925f, 1.2625f};
    const float ug[6] = {0.0f, 1.5f, 0.25f, 1.625f, 0.3125f, 1.65625f};
    const int sh[6] = {0, 1, 0, 1, 0, 1};
    const float th[6] = {0.0f, 1.0f, 0.5f, 1.25f, 0.625f, 1.3125f};
    for (int t = 0; t < 6; t++) {
        cr_assert_float_eq(tr.u[0][t], uh[t], 1e-6, "u_h[%d] = %g, want %g", t, tr.u[0][t], uh[t]);
        cr_assert_float_eq(tr.u[1][t], ug[t], 1e-6, "u_g[%d] = %g, want %g", t, tr.u[1][t], ug[t]);
        cr_assert_eq(tr.spikes[0][t], sh[t], "s_h[%d]", t);
        cr_assert_eq(tr.spikes[1][t], sh[t], "s_g[%d]", t);
        cr_assert_float_eq(tr.trace[t], th[t], 1e-6, "trace_h[%d]", t);
    }
    cr_assert_float_eq(oz_network_population(net, "out")->osum[0], 6.0f, 1e-6);
    cr_assert_eq(b->synops, 3);
    cr_assert_eq(c->synops, 3);
    cr_assert_eq(b->row_fetches, 3);
    cr_assert_eq(a->dense_macs, 1);
    cr_assert_eq(a->synops, 0);
    cr_assert_eq(oz_network_population(net, "h")->spikes, 3);
    cr_assert_eq(oz_network_population(net, "h")->neuron_updates, 6);
    oz_network_free(net);
}

/* The random spike frames the delivery tests use (tests/oz-test-util.c): a fresh frame
 * fires at the asked density, a flipped one changes that fraction of the neurons both
 * ways, and counts and nspikes match s. */
Test(neurons, test_spike_frames_have_the_asked_density_and_changes) {
    const int B = 8, N = 500;
    OzPopulationParams pp = LIF;
    pp.size = N;
    OzPopulation *pop = oz_population_new("p", &pp, B, NULL);
    OzFrame *f = oz_population_frame(pop, 0);
    OzRng rng;
    oz_rng_init(&rng, 7, "test");
    oz_test_spike_frame(f, B, N, 0.3, 1.5f, FALSE, &rng);
    float *before = g_memdup2(f->s, sizeof(float) * B * N);
    oz_test_spike_frame(f, B, N, 0.1, 1.5f, TRUE, &rng);
    int on = 0, off = 0, fired = 0;
    for (int b = 0; b < B; b++) {
        int cnt = 0;
        for (int i = 0; i < N; i++) {
            float x = before[b * N + i], y = f->s[b * N + i];
            cr_assert(x == 0.0f || x == 1.5f);
            cr_assert(y == 0.0f || y == 1.5f);
            on += x == 0.0f && y != 0.0f;
            off += x != 0.0f && y == 0.0f;
            fired += x != 0.0f;
            cnt += y != 0.0f;
        }
        cr_assert_eq(f->counts[b], cnt);
    }
    guint64 total = 0;
    for (int b = 0; b < B; b++)
        total += (guint64)f->counts[b];
    cr_assert_eq(f->nspikes, total);
    cr_assert_eq(f->kind, OZ_FRAME_SPIKES);
    cr_assert_not(f->indexed);
    /* 4000 neurons: 30% ± 3% fire; 10% ± 1.5% of each kind change. */
    cr_assert(fabs(fired / 4000.0 - 0.3) < 0.03, "%d fired", fired);
    cr_assert(fabs(on / (4000.0 - fired) - 0.1) < 0.015, "%d turned on", on);
    cr_assert(fabs(off / (double)fired - 0.1) < 0.03, "%d turned off", off);
    g_free(before);
    oz_population_free(pop);
}

/* Two LIF populations of batch samples, "pre" of n_pre neurons and "post" of n_post, for a
 * projection between them. */
static void lif_pair(int batch, int n_pre, int n_post, OzPopulation **pre, OzPopulation **post) {
    OzPopulationParams pre_p = LIF, post_p = LIF;
    pre_p.size = n_pre;
    post_p.size = n_post;
    *pre = oz_population_new("pre", &pre_p, batch, NULL);
    *post = oz_population_new("post", &post_p, batch, NULL);
}

Test(neurons, event_delivery_equals_dense_matrix_product) {
    const int B = 7, NPRE = 93, NPOST = 41;
    OzPopulation *pre, *post;
    lif_pair(B, NPRE, NPOST, &pre, &post);
    OzProjectionParams pp = {.init = OZ_INIT_NORMAL, .init_scale = 1.0f};
    OzProjection *proj = oz_projection_new("p", pre, post, &pp);
    OzRng rng;
    oz_rng_init(&rng, 3, "test");
    oz_projection_init_weights(proj, &rng);
    float *ev = g_new0(float, B *NPOST), *de = g_new0(float, B *NPOST);
    double *ref = g_new0(double, B *NPOST);
    const double rates[] = {0.0, 0.01, 0.1, 0.5, 1.0};
    for (gsize r = 0; r < G_N_ELEMENTS(rates); r++) {
        OzFrame *f = oz_population_frame(pre, 0);
        oz_test_spike_frame(f, B, NPRE, rates[r], 1.0f, FALSE, &rng);
        memset(ev, 0, sizeof(float) * B * NPOST);
        memset(de, 0, sizeof(float) * B * NPOST);
        /* Reference in double: I[b][j] = Σ_i s[b][i] W[i][j]. */
        for (int b = 0; b < B; b++)
            for (int j = 0; j < NPOST; j++) {
                double acc = 0;
                for (int i = 0; i < NPRE; i++)
                    acc += (double)f->s[b * NPRE + i] * (double)proj->w[i * NPOST + j];
                ref[b * NPOST + j] = acc;
            }
        /* Each packet took the path it was sent by (an empty one takes none). */
        const guint64 one = f->nspikes ? 1 : 0;
        proj->p.delivery = OZ_DELIVERY_EVENT;
        oz_projection_deliver(proj, f, ev);
        guint64 synops_event = proj->synops;
        cr_assert(proj->packets_event == one && proj->packets_dense == 0, "rate %g", rates[r]);
        proj->p.delivery = OZ_DELIVERY_DENSE;
        oz_projection_deliver(proj, f, de);
        cr_assert(proj->packets_event == one && proj->packets_dense == one, "rate %g", rates[r]);
        cr_assert_eq(proj->synops, 2 * synops_event, "both paths count the same SynOps");
        /* Only the sgemm path counts its multiply-adds, and only for a non-empty packet. */
        cr_assert_eq(proj->spike_dense_macs, f->nspikes ? (guint64)B * NPRE * NPOST : 0, "rate %g",
                     rates[r]);
        cr_assert_eq(synops_event, f->nspikes * NPOST);
        for (int k = 0; k < B * NPOST; k++) {
            cr_assert_float_eq(ev[k], ref[k], 1e-4, "event [%d] rate %g", k, rates[r]);
            cr_assert_float_eq(de[k], ref[k], 1e-4, "dense [%d] rate %g", k, rates[r]);
        }
        oz_projection_counters_clear(proj);
    }
    g_free(ev);
    g_free(de);
    g_free(ref);
    oz_projection_free(proj);
    oz_population_free(pre);
    oz_population_free(post);
}

/* The packets of one sample through a delta-delivering projection, each compared with a
 * direct s·W in double.  The weights are multiples of 1/256 and the spike value 1.25, so
 * every partial sum is exact in float: the delta path must give the very same bits. */
Test(neurons, delta_delivery_equals_the_direct_product_packet_after_packet) {
    /* 93 = 5·16 + 13 presynaptic (vector and scalar change scans); 149 = 128 + 16 + 5
     * postsynaptic (the register block, a 16-column block and a scalar tail). */
    const int B = 5, NPRE = 93, NPOST = 149, PACKETS = 14, REFRESH = 4;
    OzPopulation *pre, *post;
    lif_pair(B, NPRE, NPOST, &pre, &post);
    OzProjectionParams pp = {.init = OZ_INIT_ZERO, .delivery = OZ_DELIVERY_DELTA,
                             .delta_refresh = REFRESH};
    OzProjection *proj = oz_projection_new("p", pre, post, &pp);
    cr_assert_not_null(proj->cur, "delta state is allocated for a spiking source");
    OzRng rng;
    oz_rng_init(&rng, 11, "test");
    for (int k = 0; k < NPRE * NPOST; k++)
        proj->w[k] = (float)((int)(oz_rng_uniform(&rng) * 513.0) - 256) / 256.0f;
    float *acc = g_new0(float, B *NPOST);
    OzFrame *f = oz_population_frame(pre, 0);
    memset(f->s, 0, sizeof(float) * B * NPRE);
    oz_projection_reset(proj);
    guint64 expect_delta = 0;
    int run = 0;
    gboolean have_prev = FALSE;
    for (int t = 0; t < PACKETS; t++) {
        /* Packet 0 fires 30%; then few changes, a storm of changes at 6, a silent packet
         * at 9 (the next one restarts from a full packet). */
        double flip = t == 0 ? 0.3 : t == 6 ? 0.9 : 0.05;
        if (t == 9)
            memset(f->s, 0, sizeof(float) * B * NPRE);
        oz_test_spike_frame(f, B, NPRE, t == 9 ? 0.0 : flip, 1.25f, TRUE, &rng);
        memset(acc, 0, sizeof(float) * B * NPOST);
        oz_projection_deliver(proj, f, acc);
        if (f->nspikes == 0) {
            have_prev = FALSE;
        } else {
            if (have_prev && run < REFRESH) {
                expect_delta++;
                run++;
            } else {
                run = 0;
            }
            have_prev = TRUE;
        }
        cr_assert_eq(proj->packets_delta, expect_delta, "packet %d", t);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < NPOST; j++) {
                double ref = 0;
                for (int i = 0; i < NPRE; i++)
                    ref += (double)f->s[b * NPRE + i] * (double)proj->w[i * NPOST + j];
                cr_assert_eq(acc[b * NPOST + j], (float)ref, "packet %d sample %d column %d: %.9g "
                             "vs %.9g", t, b, j, acc[b * NPOST + j], ref);
            }
    }
    cr_assert_gt(expect_delta, 5);
    cr_assert_gt(proj->delta_rows, 0, "the delta packets added changed rows");
    /* SynOps count the network's spikes, not the rows our path fetched. */
    cr_assert_eq(proj->row_fetches * NPOST, proj->synops);
    cr_assert_lt(proj->delta_rows, proj->row_fetches);
    g_free(acc);
    oz_projection_free(proj);
    oz_population_free(pre);
    oz_population_free(post);
}

/* Auto delivery with delta allowed takes the cheapest of three per packet, and gets the
 * same currents as the event path to rounding; a dense (noisy) frame in between and a
 * new sample restart from a full packet. */
Test(neurons, auto_delivery_picks_delta_event_or_dense_by_the_shorter_list) {
    const int B = 6, NPRE = 200, NPOST = 50;
    OzPopulation *pre, *post;
    lif_pair(B, NPRE, NPOST, &pre, &post);
    OzProjectionParams pp = {.init = OZ_INIT_NORMAL, .init_scale = 1.0f,
                             .delivery = OZ_DELIVERY_AUTO, .dense_threshold = 0.15f,
                             .delta = TRUE, .delta_refresh = 0};
    OzProjection *proj = oz_projection_new("p", pre, post, &pp);
    OzProjectionParams plain_p = pp;
    plain_p.delivery = OZ_DELIVERY_EVENT;
    plain_p.delta = FALSE;
    OzProjection *plain = oz_projection_new("q", pre, post, &plain_p);
    cr_assert_null(plain->cur, "no delta state where delta delivery is off");
    OzRng rng;
    oz_rng_init(&rng, 12, "test");
    oz_projection_init_weights(proj, &rng);
    memcpy(plain->w, proj->w, sizeof(float) * NPRE * NPOST);
    float *acc = g_new0(float, B *NPOST), *ref = g_new0(float, B *NPOST);
    OzFrame *f = oz_population_frame(pre, 0);
    memset(f->s, 0, sizeof(float) * B * NPRE);
    oz_projection_reset(proj);
    /* (flip, path expected): 40% firing → dense; 2% changes of 40% → delta; a storm of
     * changes while 10% fire → event; and so on. */
    struct {
        double flip;
        const char *path;
    } steps[] = {{0.4, "dense"}, {0.02, "delta"}, {0.02, "delta"}, {0.6, "dense"},
                 {-1, "event"},  {0.01, "delta"}, {-2, "dense"},   {0.01, "event"}};
    for (gsize t = 0; t < G_N_ELEMENTS(steps); t++) {
        guint64 ev = proj->packets_event, de = proj->packets_dense, dl = proj->packets_delta;
        if (steps[t].flip == -1) {
            /* 10% firing, all different from before: fewer spikes than changes. */
            for (int k = 0; k < B * NPRE; k++)
                f->s[k] = 0.0f;
            oz_test_spike_frame(f, B, NPRE, 0.1, 1.0f, TRUE, &rng);
        } else if (steps[t].flip == -2) {
            /* A noisy dense frame (as under OPZO's probe) goes by sgemm and breaks the
             * chain of changes. */
            f->kind = OZ_FRAME_DENSE;
            f->nspikes = 0;
            for (int k = 0; k < B * NPRE; k++)
                f->s[k] = (float)oz_rng_gauss(&rng);
        } else {
            oz_test_spike_frame(f, B, NPRE, steps[t].flip, 1.0f, TRUE, &rng);
        }
        memset(acc, 0, sizeof(float) * B * NPOST);
        memset(ref, 0, sizeof(float) * B * NPOST);
        oz_projection_deliver(proj, f, acc);
        if (f->kind == OZ_FRAME_DENSE) {
            oz_projection_deliver(plain, f, ref);
            /* Back to a spike frame for the next step, changing from silence. */
            memset(f->s, 0, sizeof(float) * B * NPRE);
            oz_test_spike_frame(f, B, NPRE, 0.05, 1.0f, TRUE, &rng);
        } else {
            oz_projection_deliver(plain, f, ref);
        }
        const char *path = proj->packets_delta > dl   ? "delta"
                           : proj->packets_event > ev ? "event"
                           : proj->packets_dense > de ? "dense"
                                                      : "none";
        cr_assert_str_eq(path, steps[t].path, "step %zu", t);
        for (int k = 0; k < B * NPOST; k++)
            cr_assert(fabsf(acc[k] - ref[k]) <= 1e-5f * (1.0f + fabsf(ref[k])),
                      "step %zu [%d]: %g vs %g", t, k, acc[k], ref[k]);
    }
    /* The reference projection never took the delta path. */
    cr_assert_eq(plain->packets_delta, 0);
    cr_assert_gt(plain->packets_event, 0);
    /* A new sample: its first packet is full even if it repeats the last one. */
    oz_projection_reset(proj);
    guint64 dl = proj->packets_delta;
    memset(acc, 0, sizeof(float) * B * NPOST);
    oz_projection_deliver(proj, f, acc);
    cr_assert_eq(proj->packets_delta, dl);
    g_free(acc);
    g_free(ref);
    oz_projection_free(proj);
    oz_projection_free(plain);
    oz_population_free(pre);
    oz_population_free(post);
}

typedef struct {
    float u[32];
} UTrace;

static void watch_u(OzPopulation *pop, gint64 t, gpointer user) {
    if (strcmp(pop->name, "h") == 0)
        ((UTrace *)user)->u[t] = pop->u[0];
}

static void run_delay(int delay, UTrace *out, gint64 *window) {
    OzNetwork *net = oz_network_new(1, 8);
    OzPopulationParams in = {.model = "input", .size = 1, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams h = LIF;
    h.v_th = 100.0f; /* never fires: u integrates the input */
    OzPopulationParams ro = {.model = "readout", .size = 1};
    oz_network_add_population(net, "in", &in, NULL);
    oz_network_add_population(net, "h", &h, NULL);
    oz_network_add_population(net, "out", &ro, NULL);
    OzProjectionParams pp = {.delay_ticks = delay, .init = OZ_INIT_ZERO};
    OzProjection *a = oz_network_add_projection(net, "a", "in", "h", &pp, NULL);
    oz_network_add_projection(net, "b", "h", "out", &PLAIN, NULL);
    cr_assert(oz_network_prepare(net, -1, NULL));
    a->w[0] = 0.3f;
    oz_network_population(net, "in")->x[0] = 1.0f;
    oz_network_set_observer(net, watch_u, out);
    oz_network_reset(net, 1, FALSE);
    oz_network_run_window(net);
    *window = net->window_ticks;
    oz_network_free(net);
}

Test(neurons, one_tick_delay_shifts_the_input_by_exactly_one_tick) {
    UTrace d0 = {{0}}, d1 = {{0}};
    gint64 w0, w1;
    run_delay(0, &d0, &w0);
    run_delay(1, &d1, &w1);
    cr_assert_eq(w0, 8);
    cr_assert_eq(w1, 9, "auto drain adds the delay");
    cr_assert_eq(d1.u[0], 0.0f);
    for (int t = 0; t < 8; t++)
        cr_assert_eq(d1.u[t + 1], d0.u[t], "tick %d: %g vs %g", t, d1.u[t + 1], d0.u[t]);
    cr_assert_float_eq(d0.u[0], 0.3f, 1e-7);
}

Test(neurons, zero_delay_cycle_is_rejected_and_a_delayed_one_is_not) {
    for (int delay = 0; delay <= 1; delay++) {
        OzNetwork *net = oz_network_new(1, 4);
        OzPopulationParams in = {.model = "input", .size = 2};
        OzPopulationParams l = LIF;
        l.size = 2;
        oz_network_add_population(net, "in", &in, NULL);
        oz_network_add_population(net, "a", &l, NULL);
        oz_network_add_population(net, "b", &l, NULL);
        OzProjectionParams back = PLAIN;
        back.delay_ticks = delay;
        oz_network_add_projection(net, "in_a", "in", "a", &PLAIN, NULL);
        oz_network_add_projection(net, "a_b", "a", "b", &PLAIN, NULL);
        oz_network_add_projection(net, "b_a", "b", "a", &back, NULL);
        GError *err = NULL;
        gboolean ok = oz_network_prepare(net, -1, &err);
        if (delay == 0) {
            cr_assert_not(ok);
            cr_assert_not_null(err);
            cr_assert(strstr(err->message, "zero-delay cycle") != NULL, "%s", err->message);
            cr_assert_not_null(net->cycle_projection);
            g_error_free(err);
        } else {
            cr_assert(ok, "%s", err ? err->message : "");
            cr_assert_eq(net->drain_ticks, 1);
        }
        oz_network_free(net);
    }
}

Test(neurons, surrogate_matches_the_closed_form) {
    const float a = 0.25f, vth = 1.0f;
    cr_assert_float_eq(oz_surrogate(1.0f, vth, a), 1.0f, 1e-6, "peak is 1 at threshold");
    const float us[] = {-30.0f, -1.0f, 0.5f, 0.9f, 1.3f, 2.0f, 40.0f};
    for (gsize i = 0; i < G_N_ELEMENTS(us); i++) {
        double x = (us[i] - vth) / a;
        double e = exp(-x);
        double want = (1.0 / a) * e / ((1.0 + e) * (1.0 + e));
        cr_assert_float_eq(oz_surrogate(us[i], vth, a), want, 1e-6, "u = %g", us[i]);
        cr_assert_float_eq(oz_surrogate(us[i], vth, a), oz_surrogate(2 * vth - us[i], vth, a), 1e-6,
                           "symmetric about V_th");
    }
}

Test(neurons, dropout_mask_is_fixed_per_sample_and_scaled) {
    OzPopulationParams l = LIF;
    l.size = 1000;
    l.dropout = 0.2f;
    OzPopulation *pop = oz_population_new("h", &l, 4, NULL);
    OzRng rng;
    oz_rng_init(&rng, 9, "dropout");
    pop->rng = &rng;
    pop->training = TRUE;
    oz_population_reset(pop);
    int dropped = 0;
    for (int i = 0; i < 4000; i++) {
        cr_assert(pop->mask[i] == 0.0f || pop->mask[i] == 1.25f);
        dropped += pop->mask[i] == 0.0f;
    }
    cr_assert(dropped > 700 && dropped < 900, "about 20%% dropped, got %d", dropped);
    /* Strong input: every kept neuron fires with value 1/(1−p), dropped ones never. */
    for (int t = 0; t < 3; t++) {
        for (int i = 0; i < 4000; i++)
            pop->acc[i] = 5.0f;
        oz_population_step(pop, t);
        const OzFrame *f = oz_population_frame(pop, t);
        cr_assert_float_eq(f->value, 1.25f, 1e-7);
        for (int i = 0; i < 4000; i++)
            cr_assert_eq(f->s[i], pop->mask[i]);
    }
    pop->training = FALSE;
    oz_population_reset(pop);
    for (int i = 0; i < 4000; i++)
        cr_assert_eq(pop->mask[i], 1.0f, "no dropout when not training");
    oz_population_free(pop);
}

Test(neurons, bernoulli_input_spikes_with_the_pixel_probability) {
    OzPopulationParams in = {.model = "input", .size = 3, .encoding = OZ_ENCODING_BERNOULLI};
    OzPopulation *pop = oz_population_new("in", &in, 1, NULL);
    OzRng rng;
    oz_rng_init(&rng, 5, "input");
    pop->rng = &rng;
    pop->x[0] = 0.0f;
    pop->x[1] = 1.0f;
    pop->x[2] = 0.3f;
    oz_population_reset(pop);
    int fired[3] = {0};
    const int T = 20000;
    for (int t = 0; t < T; t++) {
        oz_population_step(pop, t);
        const OzFrame *f = oz_population_frame(pop, t);
        for (int i = 0; i < 3; i++)
            fired[i] += f->s[i] != 0.0f;
    }
    cr_assert_eq(fired[0], 0);
    cr_assert_eq(fired[1], T);
    cr_assert_float_eq(fired[2] / (double)T, 0.3, 0.015);
    cr_assert_eq(pop->spikes, (guint64)(fired[1] + fired[2]));
    oz_population_free(pop);
}

Test(neurons, unknown_model_and_bad_wiring_are_errors) {
    OzNetwork *net = oz_network_new(1, 2);
    OzPopulationParams bad = {.model = "izhikevich", .size = 1};
    GError *err = NULL;
    cr_assert_null(oz_network_add_population(net, "x", &bad, &err));
    cr_assert(strstr(err->message, "izhikevich"));
    g_clear_error(&err);
    OzPopulationParams in = {.model = "input", .size = 1};
    OzPopulationParams ro = {.model = "readout", .size = 1};
    oz_network_add_population(net, "in", &in, NULL);
    oz_network_add_population(net, "out", &ro, NULL);
    cr_assert_null(oz_network_add_projection(net, "p", "in", "nowhere", &PLAIN, &err));
    cr_assert(strstr(err->message, "nowhere"));
    g_clear_error(&err);
    cr_assert_null(oz_network_add_projection(net, "q", "out", "in", &PLAIN, &err));
    g_clear_error(&err);
    cr_assert_null(oz_network_add_population(net, "in", &in, &err), "duplicate name");
    g_clear_error(&err);
    oz_network_free(net);
}

Test(neurons, fast_exp_is_accurate_on_its_whole_range) {
    double worst = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f * (float)i / 200000.0f;
        double want = exp((double)x), got = oz_exp_neg(x);
        worst = fmax(worst, fabs(got - want) / want);
    }
    cr_assert_lt(worst, 3e-7, "worst relative error %g", worst);
    cr_assert_eq(oz_exp_neg(0.0f), 1.0f);
    cr_assert(oz_exp_neg(-1000.0f) > 0.0f && oz_exp_neg(-1000.0f) < 1e-37f, "clamped, not 0/NaN");
}

/* An IF neuron (no leak) driven by a constant 0.75 with V_th = 1, soft reset, worked by hand
 * (every value exact in binary):
 *   t   u      s  v      â (0.5·â + s)
 *   0   0.75   0  0.75   0
 *   1   1.5    1  0.5    1
 *   2   1.25   1  0.25   1.5
 *   3   1.0    1  0      1.75      (a tie fires)
 *   4   0.75   0  0.75   0.875
 *   5   1.5    1  0.5    1.4375
 * (A LIF neuron with λ = 0.5 would charge to 0.75 + 0.375 = 1.125 at t = 1: the leak is what
 * differs.) */
Test(neurons, if_neuron_integrates_without_leak_tick_by_tick) {
    const char *keys[] = {"v_th", "bias", NULL}, *values[] = {"1", "false", NULL};
    OzPopulationParams pp = {.model = "if", .size = 1, .keys = keys, .values = values};
    g_autoptr(GError) err = NULL;
    g_autoptr(OzPopulation) pop = oz_population_new("h", &pp, 1, &err);
    cr_assert_not_null(pop, "%s", err ? err->message : "");
    oz_population_set_depth(pop, 6);
    oz_population_reset(pop);
    const float u[6] = {0.75f, 1.5f, 1.25f, 1.0f, 0.75f, 1.5f};
    const int s[6] = {0, 1, 1, 1, 0, 1};
    const float v[6] = {0.75f, 0.5f, 0.25f, 0.0f, 0.75f, 0.5f};
    const float tr[6] = {0, 1, 1.5f, 1.75f, 0.875f, 1.4375f};
    for (int t = 0; t < 6; t++) {
        pop->acc[0] = 0.75f;
        oz_population_step(pop, t);
        const OzFrame *f = oz_population_frame(pop, t);
        cr_assert_eq(f->u[0], u[t], "u at t = %d: %g", t, f->u[0]);
        cr_assert_eq(f->counts[0], s[t], "spike at t = %d", t);
        cr_assert_eq(pop->v[0], v[t], "v at t = %d: %g", t, pop->v[0]);
        cr_assert_eq(f->trace[0], tr[t], "trace at t = %d: %g", t, f->trace[0]);
    }
    cr_assert_eq(pop->ops->trace_decay(pop), 0.5f);
}

/* Steps a one-neuron population of `model` with a constant input and checks u, the spike
 * and v after the reset at every tick against the rows given. */
static void check_ticks(const char *model, const char *const *keys, const char *const *values,
                        float input, int ticks, const float *u, const int *s, const float *v) {
    OzPopulationParams pp = {.model = model, .size = 1, .keys = keys, .values = values};
    g_autoptr(GError) err = NULL;
    g_autoptr(OzPopulation) pop = oz_population_new("h", &pp, 1, &err);
    cr_assert_not_null(pop, "%s", err ? err->message : "");
    oz_population_reset(pop);
    for (int t = 0; t < ticks; t++) {
        pop->acc[0] = input;
        oz_population_step(pop, t);
        const OzFrame *f = oz_population_frame(pop, t);
        cr_assert_eq(f->u[0], u[t], "%s: u at t = %d: %g", model, t, f->u[0]);
        cr_assert_eq(f->counts[0], s[t], "%s: spike at t = %d", model, t);
        cr_assert_eq(pop->v[0], v[t], "%s: v at t = %d: %g", model, t, pop->v[0]);
    }
}

/* Hard reset, worked by hand with the same constant input 0.75 and V_th = 1 (exact in
 * binary).  LIF, λ = 0.5, v_reset = 0.25:
 *   t   u        s  v (hard)   v (soft would be)
 *   0   0.75     0  0.75
 *   1   1.125    1  0.25       0.125
 *   2   0.875    0  0.875
 *   3   1.1875   1  0.25
 *   4   0.875    0  0.875
 * IF, v_reset = 0: 0.75 → 1.5 (spike, v = 0) → 0.75 → 1.5 (spike, v = 0): a hard reset
 * throws away the 0.5 a soft one keeps (compare if_neuron_integrates_without_leak). */
Test(neurons, hard_reset_sets_the_membrane_to_v_reset_tick_by_tick) {
    const char *lk[] = {"lambda", "v_th", "bias", "reset", "v_reset", NULL};
    const char *lv[] = {"0.5", "1", "false", "hard", "0.25", NULL};
    const float lu[5] = {0.75f, 1.125f, 0.875f, 1.1875f, 0.875f};
    const int ls[5] = {0, 1, 0, 1, 0};
    const float lvv[5] = {0.75f, 0.25f, 0.875f, 0.25f, 0.875f};
    check_ticks("lif", lk, lv, 0.75f, 5, lu, ls, lvv);
    const char *ik[] = {"v_th", "bias", "reset", NULL};
    const char *iv[] = {"1", "false", "hard", NULL};
    const float iu[4] = {0.75f, 1.5f, 0.75f, 1.5f};
    const int is[4] = {0, 1, 0, 1};
    const float ivv[4] = {0.75f, 0.0f, 0.75f, 0.0f};
    check_ticks("if", ik, iv, 0.75f, 4, iu, is, ivv);
    /* The soft reset, named, is the default's. */
    const char *sk[] = {"lambda", "v_th", "bias", "reset", NULL};
    const char *sv[] = {"0.5", "1", "false", "soft", NULL};
    const float sv_[2] = {0.75f, 0.125f};
    check_ticks("lif", sk, sv, 0.75f, 2, lu, ls, sv_);
}

Test(neurons, hard_reset_at_or_above_the_threshold_is_rejected) {
    const char *k[] = {"v_th", "reset", "v_reset", NULL};
    const char *v[] = {"1", "hard", "1", NULL};
    OzPopulationParams pp = {.model = "lif", .size = 1, .keys = k, .values = v};
    g_autoptr(GError) err = NULL;
    cr_assert_null(oz_population_new("h", &pp, 1, &err));
    cr_assert(strstr(err->message, "v_reset") && strstr(err->message, "below"), "%s",
              err->message);
    /* Under a soft reset v_reset is not used, so it is not checked. */
    const char *soft[] = {"1", "soft", "1", NULL};
    pp.values = soft;
    g_autoptr(OzPopulation) pop = oz_population_new("h", &pp, 1, NULL);
    cr_assert_not_null(pop);
}

/* trace_lambda decouples the presynaptic trace from the membrane.  LIF, λ = 0.5, input 0.75,
 * V_th = 1, soft reset, trace_lambda = 0.25:
 *   t   u       s  â (0.25·â + s)    (â with λ = 0.5 would be)
 *   0   0.75    0  0
 *   1   1.125   1  1
 *   2   0.8125  0  0.25              0.5
 *   3   1.15625 1  1.0625            1.25
 * IF keeps 0.5 by default (if_neuron_integrates_without_leak) and takes its own: with 0.75
 * its trace is 0, 1, 1.75, 2.3125 on 0.75, 1.5, 1.25, 1.0 (spikes at t = 1, 2, 3). */
Test(neurons, trace_lambda_sets_the_trace_decay_apart_from_the_leak) {
    const char *lk[] = {"lambda", "v_th", "bias", "trace_lambda", NULL};
    const char *lv[] = {"0.5", "1", "false", "0.25", NULL};
    OzPopulationParams pp = {.model = "lif", .size = 1, .keys = lk, .values = lv};
    g_autoptr(GError) err = NULL;
    g_autoptr(OzPopulation) lif = oz_population_new("h", &pp, 1, &err);
    cr_assert_not_null(lif, "%s", err ? err->message : "");
    oz_population_set_depth(lif, 4);
    oz_population_reset(lif);
    const float lu[4] = {0.75f, 1.125f, 0.8125f, 1.15625f}, ltr[4] = {0, 1, 0.25f, 1.0625f};
    for (int t = 0; t < 4; t++) {
        lif->acc[0] = 0.75f;
        oz_population_step(lif, t);
        const OzFrame *f = oz_population_frame(lif, t);
        cr_assert_eq(f->u[0], lu[t], "lif u at t = %d: %g", t, f->u[0]);
        cr_assert_eq(f->trace[0], ltr[t], "lif trace at t = %d: %g", t, f->trace[0]);
    }
    cr_assert_eq(lif->ops->trace_decay(lif), 0.25f, "the learner's sparse chunks see it");
    const char *ik[] = {"v_th", "bias", "trace_lambda", NULL};
    const char *iv[] = {"1", "false", "0.75", NULL};
    pp = (OzPopulationParams){.model = "if", .size = 1, .keys = ik, .values = iv};
    g_autoptr(OzPopulation) ifp = oz_population_new("g", &pp, 1, &err);
    cr_assert_not_null(ifp, "%s", err ? err->message : "");
    oz_population_set_depth(ifp, 4);
    oz_population_reset(ifp);
    const float itr[4] = {0, 1, 1.75f, 2.3125f};
    for (int t = 0; t < 4; t++) {
        ifp->acc[0] = 0.75f;
        oz_population_step(ifp, t);
        cr_assert_eq(oz_population_frame(ifp, t)->trace[0], itr[t], "if trace at t = %d", t);
    }
    /* -1 is the model's own; other negative values are not decays. */
    const char *bad[] = {"0.5", "1", "false", "-0.5", NULL};
    pp = (OzPopulationParams){.model = "lif", .size = 1, .keys = lk, .values = bad};
    g_clear_error(&err);
    cr_assert_null(oz_population_new("h", &pp, 1, &err));
    cr_assert(strstr(err->message, "trace_lambda"), "%s", err->message);
}

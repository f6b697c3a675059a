/* The spike input of event data (neurons/oz-model-events.c) on hand-made binned samples:
 * the frames it emits are the samples' cells, a cell of c events delivers c times its weight
 * row and counts c synaptic events per synapse on every delivery path and projection kind,
 * and the first layer's weight gradient takes c as the input's factor. */
#include "neurons/oz-kind.h"
#include "neurons/oz-network.h"
#include "neurons/oz-neuron.h"
#include "neurons/oz-projection.h"
#include "plasticity/oz-learner.h"

#include <criterion/criterion.h>
#include <string.h>

#define C 2
#define H 3
#define W 3
#define N (C * H * W) /* 18 */
#define BATCH 2
#define TICKS 3

/* Two samples of three ticks, as an OzSpikeSet lays them out (absolute offsets, ascending
 * cells per tick).  Sample 0: tick 0 cells 1 and 5, tick 1 silent, tick 2 cells 0 and 17.
 * Sample 1: tick 0 cell 2, tick 1 cells 4 and 9, tick 2 cell 11. */
static const guint64 tick_off[2 * (TICKS + 1)] = {0, 2, 2, 4, 4, 5, 7, 8};
static const guint16 cells[8] = {1, 5, 0, 17, 2, 4, 9, 11};
/* Counts mode: how many events each cell holds. */
static const guint8 counts[8] = {1, 2, 3, 1, 3, 1, 2, 4};

static OzPopulation *events_pop(void) {
    OzPopulationParams pp = {
        .model = "events", .size = N, .rank = 3, .shape = {C, H, W}, .lambda = 0.5f};
    GError *err = NULL;
    OzPopulation *pop = oz_population_new("in", &pp, BATCH, &err);
    cr_assert_not_null(pop, "%s", err ? err->message : "");
    cr_assert(oz_neuron_has(pop, OZ_NEURON_SOURCE | OZ_NEURON_SPIKE_SOURCE));
    cr_assert_eq(oz_neuron_emits(pop), OZ_EMITS_SPIKES);
    pop->input_ticks = TICKS;
    return pop;
}

/* Points row b at sample s of the hand-made set. */
static void load(OzPopulation *pop, int b, int s, gboolean with_counts) {
    pop->spike_in[b] = (OzSpikeSample){.tick_off = tick_off + s * (TICKS + 1),
                                       .cell = cells,
                                       .count = with_counts ? counts : NULL,
                                       .ticks = TICKS};
}

/* The dense frame sample s should emit at tick t: its cells, 1 or their count. */
static void expected_frame(int s, int t, gboolean with_counts, float *out) {
    memset(out, 0, sizeof(float) * N);
    const guint64 *off = tick_off + s * (TICKS + 1);
    for (guint64 k = off[t]; k < off[t + 1]; k++)
        out[cells[k]] = with_counts ? (float)counts[k] : 1.0f;
}

static void check_window(OzPopulation *pop, const int *samples, gboolean with_counts) {
    oz_population_reset(pop);
    for (int t = 0; t <= TICKS; t++) {
        oz_population_step(pop, t);
        OzFrame *f = oz_population_frame(pop, t);
        cr_assert_eq(f->tick, t);
        if (t == TICKS) {
            cr_assert_eq(f->kind, OZ_FRAME_EMPTY, "silent after the input ticks");
            cr_assert_eq(f->nspikes, 0);
            continue;
        }
        cr_assert_eq(f->kind, OZ_FRAME_SPIKES);
        guint64 events = 0;
        for (int b = 0; b < BATCH; b++) {
            float want[N];
            expected_frame(samples[b], t, with_counts, want);
            int listed = 0;
            for (int i = 0; i < N; i++) {
                cr_assert_eq(f->s[b * N + i], want[i], "tick %d row %d cell %d: %g, want %g", t,
                             b, i, f->s[b * N + i], want[i]);
                listed += want[i] != 0.0f;
                events += (guint64)want[i];
            }
            cr_assert_eq(f->counts[b], listed, "tick %d row %d: list length", t, b);
            const int *idx = oz_frame_index(f, BATCH, N);
            for (int k = 0; k < f->counts[b]; k++) {
                cr_assert_neq(want[idx[b * N + k]], 0.0f, "listed cells are the frame's");
                cr_assert_eq(f->mult[b * N + k], want[idx[b * N + k]], "mult is the count");
            }
        }
        cr_assert_eq(f->nspikes, events, "tick %d: nspikes counts events", t);
        cr_assert(f->trace == f->s, "the first layer's factor is the emitted frame");
    }
}

Test(events_input, frames_equal_the_binned_cells) {
    OzPopulation *pop = events_pop();
    for (int with_counts = 0; with_counts < 2; with_counts++) {
        int order[BATCH] = {0, 1};
        load(pop, 0, 0, with_counts);
        load(pop, 1, 1, with_counts);
        check_window(pop, order, with_counts);
        /* The next window with the samples swapped: nothing of the last one may remain. */
        int swapped[BATCH] = {1, 0};
        load(pop, 0, 1, with_counts);
        load(pop, 1, 0, with_counts);
        check_window(pop, swapped, with_counts);
    }
    /* A row past the batch's samples (ticks 0) is silent. */
    pop->spike_in[1] = (OzSpikeSample){0};
    oz_population_reset(pop);
    oz_population_step(pop, 0);
    OzFrame *f = oz_population_frame(pop, 0);
    cr_assert_eq(f->counts[1], 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(f->s[N + i], 0.0f);
    oz_population_free(pop);
}

/* The λ-trace when the rule asks for it ([rule] first_layer_factor = trace). */
Test(events_input, input_trace_is_the_lambda_trace_of_the_frames) {
    OzPopulation *pop = events_pop();
    oz_population_set_depth(pop, 2);
    oz_population_enable_input_trace(pop);
    load(pop, 0, 0, TRUE);
    load(pop, 1, 1, TRUE);
    oz_population_reset(pop);
    float trace[BATCH][N] = {{0}};
    for (int t = 0; t < TICKS; t++) {
        oz_population_step(pop, t);
        OzFrame *f = oz_population_frame(pop, t);
        cr_assert(f->trace != f->s);
        for (int b = 0; b < BATCH; b++) {
            float want[N];
            expected_frame(b, t, TRUE, want);
            for (int i = 0; i < N; i++) {
                trace[b][i] = 0.5f * trace[b][i] + want[i];
                cr_assert_eq(f->trace[b * N + i], trace[b][i], "tick %d row %d cell %d: %g want %g", t, b,
                             i, f->trace[b * N + i], trace[b][i]);
            }
        }
    }
    oz_population_free(pop);
}

/* Weights that are small non-zero integers (−2, −1, 1, 2), so every path's sums are exact
 * and comparable bit for bit, and a synapse is there exactly where its weight is not 0. */
static void integer_weights(OzProjection *p) {
    static const float values[4] = {-2.0f, -1.0f, 1.0f, 2.0f};
    for (gsize k = 0; k < p->nw; k++)
        p->w[k] = values[(k * 7 + k / 5) % 4];
}

/* Σ over listed cells of count × W[cell] for each row: the current a frame must deliver,
 * computed through the kind's own chain_apply (C = W) on a one-hot input per cell, so the
 * test needs no knowledge of the kind's layout. */
static void expected_current(const OzProjection *p, int t, const int *samples, float *out) {
    memset(out, 0, sizeof(float) * BATCH * p->n_post);
    for (int b = 0; b < BATCH; b++) {
        float want[N];
        expected_frame(samples[b], t, TRUE, want);
        for (int i = 0; i < N; i++) {
            if (want[i] == 0.0f)
                continue;
            /* Row i of W, through the kind: out_pre (1, n_pre) += down (1, n_post) · Wᵀ
             * gives W[i][j] as the i-th entry for the one-hot down = e_j. */
            for (int j = 0; j < p->n_post; j++) {
                float down[64] = {0}, col[N] = {0};
                down[j] = 1.0f;
                p->kind->chain_apply(p, NULL, down, 1, col);
                out[b * p->n_post + j] += want[i] * col[i];
            }
        }
    }
}

/* The synaptic events a frame is: Σ over cells of count × the cell's out-degree. */
static guint64 expected_synops(const OzProjection *p, int t, const int *samples) {
    guint64 n = 0;
    for (int b = 0; b < BATCH; b++) {
        float want[N];
        expected_frame(samples[b], t, TRUE, want);
        for (int i = 0; i < N; i++) {
            if (want[i] == 0.0f)
                continue;
            guint64 degree = 0;
            for (int j = 0; j < p->n_post; j++) {
                float down[64] = {0}, col[N] = {0};
                down[j] = 1.0f;
                p->kind->chain_apply(p, NULL, down, 1, col);
                degree += col[i] != 0.0f;
            }
            n += (guint64)want[i] * degree;
        }
    }
    return n;
}

Test(events_input, counts_deliver_c_rows_and_c_synaptic_events_on_every_path) {
    const OzDelivery paths[] = {OZ_DELIVERY_EVENT, OZ_DELIVERY_DENSE, OZ_DELIVERY_DELTA,
                                OZ_DELIVERY_AUTO};
    const char *names[] = {"event", "dense", "delta", "auto"};
    const int n_post = 20;
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++) {
        for (gsize d = 0; d < G_N_ELEMENTS(paths); d++) {
            OzPopulation *in = events_pop();
            /* Shaped 20×1×1 so that every kind takes it: conv2d's default 3×3 kernel over
             * the 2×3×3 input gives one position per channel. */
            OzPopulationParams lp = {.model = "lif",
                                     .size = n_post,
                                     .rank = 3,
                                     .shape = {n_post, 1, 1},
                                     .lambda = 0.5f,
                                     .v_th = 1};
            OzPopulation *post = oz_population_new("h", &lp, BATCH, NULL);
            OzProjectionParams pp = {.delivery = paths[d],
                                     .dense_threshold = 0.15f,
                                     .delta = TRUE,
                                     .delta_refresh = 32,
                                     .kind = *k,
                                     .seed = 5};
            OzProjection *p = oz_projection_new("in_h", in, post, &pp);
            integer_weights(p);
            int order[BATCH] = {0, 1};
            load(in, 0, 0, TRUE);
            load(in, 1, 1, TRUE);
            oz_population_reset(in);
            oz_projection_reset(p);
            guint64 synops = 0;
            for (int t = 0; t < TICKS; t++) {
                oz_population_step(in, t);
                float acc[BATCH * 20] = {0}, want[BATCH * 20];
                oz_projection_deliver(p, oz_population_frame(in, t), acc);
                expected_current(p, t, order, want);
                for (int j = 0; j < BATCH * n_post; j++)
                    cr_assert_eq(acc[j], want[j], "%s kind, %s path, tick %d, entry %d: %g, want %g",
                                 (*k)->name, names[d], t, j, acc[j], want[j]);
                synops += expected_synops(p, t, order);
                cr_assert_eq(p->synops, synops, "%s kind, %s path, tick %d: synops %lu, want %lu",
                             (*k)->name, names[d], t, (unsigned long)p->synops,
                             (unsigned long)synops);
            }
            oz_projection_free(p);
            oz_population_free(post);
            oz_population_free(in);
        }
    }
}

/* Cell 5 of sample 0 holds 2 events at tick 0.  Network A takes it in counts mode; network
 * B takes the same sample as binary spikes but with row 5 of the first layer's W doubled.
 * Both deliver the same currents (2·w = 1·(2w) exactly), so every hidden and readout value,
 * and every g_u, is the same; the first layer's gradient row 5 is Σ_t x_5[t]·g_u[t], so A's
 * is exactly twice B's (x_5 = 2 against 1) and every other row is equal. */
Test(events_input, first_layer_gradient_takes_the_count_as_the_input_factor) {
    const char *rules[] = {"bp", "dfa"};
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        float grad[2][N * 12];
        for (int net_b = 0; net_b < 2; net_b++) {
            OzRng init, noise;
            oz_rng_init(&init, 3, "init");
            oz_rng_init(&noise, 3, "noise");
            OzNetwork *net = oz_network_new(BATCH, TICKS);
            OzPopulationParams in = {.model = "events", .size = N, .rank = 3, .shape = {C, H, W}};
            OzPopulationParams lif = {.model = "lif", .size = 12, .lambda = 0.5f, .v_th = 1.0f,
                                      .bias = TRUE};
            OzPopulationParams ro = {.model = "readout", .size = 3, .bias = TRUE};
            OzPopulation *ip = oz_network_add_population(net, "in", &in, NULL);
            oz_network_add_population(net, "h", &lif, NULL);
            oz_network_add_population(net, "out", &ro, NULL);
            OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 6.0f};
            OzProjection *w1 = oz_network_add_projection(net, "w1", "in", "h", &pp, NULL);
            oz_network_add_projection(net, "w2", "h", "out", &pp, NULL);
            OzLearnParams lp = {
                .rule = rules[r],
                .loss_lambda = 0.3,
                .surrogate_a = 0.25,
                .grad_chunk_ticks = 2,
                .optim = {.kind = OZ_OPTIM_SGD, .lr = 0.0},
            };
            GError *err = NULL;
            OzLearner *l = oz_learner_new(net, &lp, &init, &noise, &err);
            cr_assert_not_null(l, "%s", err ? err->message : "");
            gint64 lat = oz_learner_finalize(l, 3, &err);
            cr_assert_geq(lat, 0, "%s", err ? err->message : "");
            cr_assert(oz_network_prepare(
                net, oz_network_delay_to(net, oz_network_population(net, "out")) + lat, NULL));
            oz_network_init_parameters(net, &init);
            oz_learner_prepare(l);
            l->lr = 0.0;
            if (net_b)
                for (int j = 0; j < 12; j++)
                    w1->w[5 * 12 + j] *= 2.0f;
            /* A: counts where only cell 5 (sample 0, tick 0) holds 2 events; B: binary. */
            static const guint8 only_cell5[8] = {1, 2, 1, 1, 1, 1, 1, 1};
            load(ip, 0, 0, FALSE);
            load(ip, 1, 1, FALSE);
            for (int b = 0; b < BATCH && !net_b; b++)
                ip->spike_in[b].count = only_cell5;
            const guint8 y[BATCH] = {1, 2};
            oz_network_reset(net, BATCH, TRUE);
            oz_learner_begin(l, y, TRUE);
            oz_network_run_window(net);
            memcpy(grad[net_b], w1->grad, sizeof grad[net_b]);
            oz_learner_free(l);
            oz_network_free(net);
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 12 && i != 5; j++)
                cr_assert_eq(grad[0][i * 12 + j], grad[1][i * 12 + j], "%s: row %d col %d",
                             rules[r], i, j);
        gboolean moved = FALSE;
        for (int j = 0; j < 12; j++) {
            cr_assert_eq(grad[0][5 * 12 + j], 2.0f * grad[1][5 * 12 + j],
                         "%s: row 5 col %d: %g, want 2 x %g", rules[r], j, grad[0][5 * 12 + j],
                         grad[1][5 * 12 + j]);
            moved |= grad[1][5 * 12 + j] != 0.0f;
        }
        cr_assert(moved, "%s: the gradient of row 5 is not zero (the test means something)",
                  rules[r]);
    }
}

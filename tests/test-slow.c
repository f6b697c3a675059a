/* The `slow` suite (not under the sanitizers: .ci/run runs it on the release build only).
 *
 * A sparse projection from 10⁶ to 10⁶ neurons with indegree 100 (10⁸ synapses), driven by a
 * Bernoulli input at 1%, builds and runs a few ticks of inference at batch size 1 with a
 * peak RSS (build included) under 1.5 GiB, and counts as SynOps exactly the synapses its
 * input spikes reached: Σ over the transmitted spikes of the neuron's out-degree (the
 * out-degrees are read through the kind's chain slot alone, with every weight 1).
 *
 * Network: in (input, bernoulli, p = 0.01) → sparse, fixed_indegree 100 → h (lif, 10⁶) →
 * dense → out (readout, 10).  No learner: inference needs none of its buffers. */
#include "neurons/oz-kind.h"
#include "neurons/oz-network.h"
#include "neurons/oz-projection.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

enum { N = 1000000, K = 100, M = 10, T = 4 };
#define RSS_LIMIT_KB (1536L * 1024L) /* 1.5 GiB */

typedef struct {
    guint32 *fired; /* (N) spikes of each input neuron over the window */
    guint64 spikes;
} Count;

static void count_input(OzPopulation *pop, gint64 tick, gpointer data) {
    Count *c = data;
    if (strcmp(pop->name, "in") != 0)
        return;
    const OzFrame *f = oz_population_frame(pop, tick);
    if (f->kind != OZ_FRAME_SPIKES)
        return;
    for (int i = 0; i < pop->n; i++)
        if (f->s[i] != 0.0f)
            c->fired[i]++;
    c->spikes += f->nspikes;
}

static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

Test(slow, sparse_1e8_synapses_run_inference_under_1_5_gib, .timeout = 600) {
    gint64 t0 = g_get_monotonic_time();
    OzNetwork *net = oz_network_new(1, T);
    OzPopulationParams in = {
        .model = "input", .size = N, .encoding = OZ_ENCODING_BERNOULLI, .lambda = 0.5f};
    OzPopulationParams lif = {.model = "lif", .size = N, .lambda = 0.5f, .v_th = 1.0f};
    OzPopulationParams ro = {.model = "readout", .size = M};
    cr_assert_not_null(oz_network_add_population(net, "in", &in, NULL));
    cr_assert_not_null(oz_network_add_population(net, "h", &lif, NULL));
    cr_assert_not_null(oz_network_add_population(net, "out", &ro, NULL));

    const OzProjectionKindOps *sparse = oz_projection_kind_lookup("sparse");
    cr_assert_not_null(sparse);
    gpointer keys = g_malloc0(sparse->params_size);
    oz_param_defaults(sparse->params, keys);
    g_autofree char *why = NULL;
    cr_assert(oz_param_parse(oz_param_find(sparse->params, "indegree"), "100", keys, &why), "%s",
              why);
    OzProjectionParams sp = {.init = OZ_INIT_UNIFORM,
                             .init_scale = 4.0f,
                             .dense_threshold = 0.15f,
                             .kind = sparse,
                             .kind_params = keys,
                             .seed = 2022};
    OzProjectionParams dp = {
        .init = OZ_INIT_UNIFORM, .init_scale = 1.0f, .dense_threshold = 0.15f, .seed = 2022};
    OzProjection *a = oz_network_add_projection(net, "a", "in", "h", &sp, NULL);
    OzProjection *b = oz_network_add_projection(net, "b", "h", "out", &dp, NULL);
    g_free(keys);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_eq(a->nw, (gsize)N * K, "10⁸ synapses");
    cr_assert(oz_network_prepare(net, -1, NULL));
    OzRng init, input;
    oz_rng_init(&init, 2022, "init");
    oz_rng_init(&input, 2022, "input");
    oz_network_init_parameters(net, &init);
    OzPopulation *pin = oz_network_population(net, "in");
    pin->rng = &input;
    for (gsize i = 0; i < N; i++)
        pin->x[i] = 0.01f;
    gint64 t1 = g_get_monotonic_time();

    Count c = {.fired = g_new0(guint32, N)};
    oz_network_set_observer(net, count_input, &c);
    oz_network_reset(net, 1, FALSE);
    oz_network_run_window(net);
    gint64 t2 = g_get_monotonic_time();
    long rss = peak_rss_kb();

    /* About 1% of 10⁶ neurons per tick for T ticks. */
    cr_assert_gt(c.spikes, (guint64)(0.009 * N * T));
    cr_assert_lt(c.spikes, (guint64)(0.011 * N * T));
    cr_assert_eq(c.spikes, pin->spikes);
    cr_assert_gt(oz_network_population(net, "h")->neuron_updates, 0);

    /* Out-degrees through the chain slot: every weight 1, down = 1 → out[i] = degree(i). */
    for (gsize k = 0; k < a->nw; k++)
        a->w[k] = 1.0f;
    float *ones = g_new(float, N), *deg = g_new0(float, N);
    for (gsize j = 0; j < N; j++)
        ones[j] = 1.0f;
    a->kind->chain_apply(a, NULL, ones, 1, deg);
    guint64 reached = 0, degsum = 0;
    for (gsize i = 0; i < N; i++) {
        reached += (guint64)c.fired[i] * (guint64)deg[i];
        degsum += (guint64)deg[i];
    }
    cr_assert_eq(degsum, (guint64)N * K, "the out-degrees sum to the synapses");
    cr_assert_eq(a->synops, reached, "SynOps %llu, synapses reached %llu",
                 (unsigned long long)a->synops, (unsigned long long)reached);
    cr_assert_gt(a->synops, (guint64)(0.9 * K * c.spikes));
    cr_assert_lt(a->synops, (guint64)(1.1 * K * c.spikes));

    fprintf(stderr,
            "slow: 10^8 synapses: build %.1f s, %d ticks %.2f s, peak RSS %ld KiB (%.0f MiB), "
            "%llu input spikes, %llu SynOps\n",
            (t1 - t0) / 1e6, (int)net->window_ticks, (t2 - t1) / 1e6, rss, rss / 1024.0,
            (unsigned long long)c.spikes, (unsigned long long)a->synops);
    cr_assert_lt(rss, RSS_LIMIT_KB, "peak RSS %ld KiB, limit %ld KiB", rss, RSS_LIMIT_KB);
    g_free(ones);
    g_free(deg);
    g_free(c.fired);
    oz_network_free(net);
}

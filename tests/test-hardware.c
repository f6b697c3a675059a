/* test-hardware.c — the [hardware] chip (neurons/oz-hardware.h, docs/HARDWARE.md): each
 * effect against hand-computed values on a small network (quantised forward weights,
 * mismatch factors of a hardware seed, threshold and leak mismatch, noise statistics, lost
 * spikes and their counts), what each rule knows of the chip (BP's nominal model against
 * bp_model = exact, noise_is_probe), and the program: a chip with every effect off is the
 * ideal simulation bit for bit, bad keys exit 2, eval --set tests a stored network on a
 * chip. */
#include "engine/oz-par.h"
#include "io/oz-scenario.h"
#include "neurons/oz-hardware.h"
#include "neurons/oz-neuron.h"
#include "oz-test-util.h"
#include "plasticity/oz-learner.h"
#include "plasticity/oz-rule.h"
#include "sim/oz-run.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

TestSuite(hardware);

enum { B = 64, N_IN = 20, N_H = 50, N_G = 200 };

/* in (current, N_IN) → h (lif, N_H) → g (lif, N_G): projections a and b, prepared and
 * reset for B samples, with the chip hp attached.  (transfer full) */
static OzNetwork *small_net(const OzHardwareParams *hp, float lambda, float v_th) {
    OzNetwork *net = oz_network_new(B, 4);
    OzPopulationParams in = {.model = "input", .size = N_IN, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams h = {.model = "lif", .size = N_H, .lambda = lambda, .v_th = v_th};
    OzPopulationParams g = h;
    g.size = N_G;
    cr_assert(oz_network_add_population(net, "in", &in, NULL));
    cr_assert(oz_network_add_population(net, "h", &h, NULL));
    cr_assert(oz_network_add_population(net, "g", &g, NULL));
    OzProjectionParams pp = {
        .init = OZ_INIT_NORMAL, .init_scale = 1.0f, .delivery = OZ_DELIVERY_EVENT};
    cr_assert(oz_network_add_projection(net, "a", "in", "h", &pp, NULL));
    cr_assert(oz_network_add_projection(net, "b", "h", "g", &pp, NULL));
    cr_assert(oz_network_prepare(net, 0, NULL));
    OzRng rng;
    oz_rng_init(&rng, 11, "test");
    oz_network_init_parameters(net, &rng);
    oz_hardware_attach(net, hp, 2022);
    oz_network_reset(net, B, FALSE);
    return net;
}

static OzHardwareParams chip(void) {
    OzHardwareParams hp;
    oz_hardware_params_defaults(&hp);
    return hp;
}

Test(hardware, quantisation_is_symmetric_uniform_with_the_scale_of_max_abs_w) {
    /* 3 bits: levels k·s, |k| ≤ 3, s = max|w| / 3 = 1/3. */
    const float w[] = {0.5f, -0.25f, 0.1f, 1.0f, -1.0f, 0.3f, -0.5f, 0.0f};
    const int k[] = {2, -1, 0, 3, -3, 1, -2, 0}; /* round(w/s), half away from zero */
    float q[8];
    float s = oz_hardware_quantise(w, 8, 3, q);
    cr_assert_eq(s, 1.0f / 3.0f);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(q[i], (float)k[i] * s, "w[%d] = %g: got %g, want %d·s", i, (double)w[i],
                     (double)q[i], k[i]);
    /* All zeros stay zeros; 16 bits keeps the extremes. */
    const float z[3] = {0};
    cr_assert_eq(oz_hardware_quantise(z, 3, 4, q), 0.0f);
    cr_assert(q[0] == 0.0f && q[1] == 0.0f && q[2] == 0.0f);
    oz_hardware_quantise(w, 8, 16, q);
    cr_assert_eq(q[3], 1.0f);
    cr_assert_eq(q[4], -1.0f);
}

Test(hardware, forward_weights_are_requantised_from_max_abs_w_at_every_reset) {
    OzHardwareParams hp = chip();
    hp.weight_bits = 3;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, 1.0f);
    OzProjection *b = oz_network_projection(net, "b");
    cr_assert_not_null(b->wf, "a quantising chip gives the projection forward weights");
    for (gsize i = 0; i < b->nw; i++)
        b->w[i] = 0.0f;
    b->w[0] = 0.5f;
    b->w[1] = -0.25f;
    b->w[2] = 1.0f;
    oz_projection_reset(b); /* what follows every optimizer step */
    const float *wf = oz_projection_forward_w(b);
    cr_assert_eq(wf[0], 2.0f / 3.0f);
    cr_assert_eq(wf[1], -1.0f / 3.0f);
    cr_assert_eq(wf[2], 1.0f);
    cr_assert_eq(b->w[0], 0.5f, "learning keeps the full-precision weights");
    /* A step that doubles max|W| doubles the scale: 0.5 is now k = round(0.5/(2/3)) = 1. */
    b->w[2] = 2.0f;
    oz_projection_reset(b);
    cr_assert_eq(wf[0], 2.0f / 3.0f);
    cr_assert_eq(wf[1], 0.0f, "-0.25 / (2/3) rounds to 0");
    cr_assert_eq(wf[2], 2.0f);
}

Test(hardware, weight_mismatch_is_a_fixed_factor_per_synapse_from_the_hardware_seed) {
    const double sigma = 0.2;
    OzHardwareParams hp = chip();
    hp.weight_mismatch = sigma;
    hp.seed = 7;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, 1.0f);
    g_autoptr(OzNetwork) same = small_net(&hp, 0.5f, 1.0f);
    hp.seed = 8;
    g_autoptr(OzNetwork) other = small_net(&hp, 0.5f, 1.0f);
    OzProjection *b = oz_network_projection(net, "b");
    const float *wf = oz_projection_forward_w(b);
    /* By hand: exp(σ·ξ) with ξ the Gaussian draws of (seed, "hardware:w:b"). */
    OzRng rng;
    oz_rng_init(&rng, 7, "hardware:w:b");
    double sum = 0, sum2 = 0;
    for (gsize i = 0; i < b->nw; i++) {
        float f = (float)exp(sigma * oz_rng_gauss(&rng));
        cr_assert_eq(wf[i], b->w[i] * f, "synapse %zu", i);
        double lf = log(wf[i] / b->w[i]);
        sum += lf;
        sum2 += lf * lf;
    }
    double n = (double)b->nw, mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    cr_assert(fabs(mean) < 4 * sigma / sqrt(n), "mean of log factors %g", mean);
    cr_assert(fabs(sd - sigma) < 0.05 * sigma, "sd of log factors %g, want %g", sd, sigma);
    const float *wf_same = oz_projection_forward_w(oz_network_projection(same, "b"));
    const float *wf_other = oz_projection_forward_w(oz_network_projection(other, "b"));
    cr_assert(memcmp(wf, wf_same, b->nw * sizeof(float)) == 0, "same seed: the same chip");
    gsize differ = 0;
    for (gsize i = 0; i < b->nw; i++)
        differ += wf[i] != wf_other[i];
    cr_assert_gt(differ, b->nw * 9 / 10, "another seed: another chip (%zu differ)", differ);
}

Test(hardware, a_mismatched_threshold_decides_each_neurons_spike_and_its_psi) {
    const double sigma = 0.3;
    const float vth = 1.0f;
    OzHardwareParams hp = chip();
    hp.threshold_mismatch = sigma;
    hp.seed = 3;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, vth);
    OzPopulation *h = oz_network_population(net, "h");
    float f[N_H];
    oz_hardware_factors(3, "hardware:vth:h", sigma, f, N_H);
    /* Just above its own threshold on even neurons, just below on odd ones. */
    int nominal_differs = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N_H; i++) {
            float x = vth * f[i] * (i % 2 ? 0.999f : 1.001f);
            h->acc[b * N_H + i] = x;
            nominal_differs += b == 0 && (x >= vth) != (i % 2 == 0);
        }
    cr_assert_gt(nominal_differs, 5, "the nominal threshold would decide otherwise");
    oz_population_step(h, 0);
    const OzFrame *fr = oz_population_frame(h, 0);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < N_H; i++)
            cr_assert_eq(fr->s[b * N_H + i], i % 2 ? 0.0f : 1.0f, "sample %d neuron %d", b, i);
    /* ψ around the neuron's own threshold; around V_th under a nominal model. */
    float g[N_H], out[N_H];
    for (int i = 0; i < N_H; i++)
        g[i] = 1.0f;
    h->ops->surrogate(h, fr->u, 0.25f, g, out, 0, N_H);
    for (int i = 0; i < N_H; i++)
        cr_assert_eq(out[i], oz_surrogate(fr->u[i], vth * f[i], 0.25f), "psi of neuron %d", i);
    h->chip->psi_nominal = TRUE;
    h->ops->surrogate(h, fr->u, 0.25f, g, out, 0, N_H);
    for (int i = 0; i < N_H; i++)
        cr_assert_eq(out[i], oz_surrogate(fr->u[i], vth, 0.25f), "nominal psi of neuron %d", i);
}

Test(hardware, a_mismatched_leak_is_clipped_to_0_999) {
    const double sigma = 1.0;
    const float lambda = 0.9f;
    OzHardwareParams hp = chip();
    hp.leak_mismatch = sigma;
    hp.seed = 3;
    g_autoptr(OzNetwork) net = small_net(&hp, lambda, 100.0f);
    OzPopulation *h = oz_network_population(net, "h");
    float f[N_H];
    oz_hardware_factors(3, "hardware:leak:h", sigma, f, N_H);
    for (int i = 0; i < B * N_H; i++)
        h->acc[i] = 1.0f;
    oz_population_step(h, 0); /* u = 1, far below the threshold */
    oz_population_step(h, 1); /* u = λ_i · 1 */
    const OzFrame *fr = oz_population_frame(h, 1);
    int clipped = 0;
    for (int i = 0; i < N_H; i++) {
        float want = fminf(lambda * f[i], 0.999f);
        clipped += lambda * f[i] > 0.999f;
        cr_assert_eq(fr->u[i], want, "neuron %d: u = %g, want %g", i, (double)fr->u[i],
                     (double)want);
        cr_assert_eq(fr->u[(B - 1) * N_H + i], want);
    }
    cr_assert_gt(clipped, 0, "some factors exceed 0.999/λ, so the clip is exercised");
}

Test(hardware, neuron_noise_is_fresh_gaussian_with_the_given_sigma) {
    const double sigma = 0.5;
    OzHardwareParams hp = chip();
    hp.neuron_noise = sigma;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, 1e6f);
    OzPopulation *g = oz_network_population(net, "g");
    oz_population_step(g, 0); /* zero input: u is the noise */
    const OzFrame *f0 = oz_population_frame(g, 0);
    const gsize cells = (gsize)B * N_G;
    g_autofree float *u0 = g_memdup2(f0->u, cells * sizeof(float));
    oz_population_step(g, 1);
    const OzFrame *f1 = oz_population_frame(g, 1);
    double sum = 0, sum2 = 0, cross = 0;
    for (gsize i = 0; i < cells; i++) {
        sum += u0[i];
        sum2 += (double)u0[i] * u0[i];
        double n1 = f1->u[i] - 0.5 * u0[i]; /* the second tick's noise */
        cross += u0[i] * n1;
    }
    double n = (double)cells, mean = sum / n, var = sum2 / n - mean * mean;
    cr_assert(fabs(mean) < 4 * sigma / sqrt(n), "mean %g", mean);
    /* Var of the sample variance is 2σ⁴/n: within four standard deviations. */
    cr_assert(fabs(var - sigma * sigma) < 4 * sigma * sigma * sqrt(2 / n), "variance %g", var);
    cr_assert(fabs(cross / n) < 4 * sigma * sigma / sqrt(n), "fresh each tick: cov %g", cross / n);
}

Test(hardware, spike_drop_rate_lies_in_its_binomial_interval_and_lost_spikes_are_not_synops) {
    const double p = 0.25;
    OzHardwareParams hp = chip();
    hp.spike_drop = p;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, 1.0f);
    OzPopulation *h = oz_network_population(net, "h"), *g = oz_network_population(net, "g");
    OzProjection *b = oz_network_projection(net, "b");
    OzFrame *f = oz_population_frame(h, 0);
    OzRng rng;
    oz_rng_init(&rng, 5, "test");
    oz_test_spike_frame(f, B, N_H, 0.4, 1.0f, FALSE, &rng);
    f->tick = 0;
    for (gsize i = 0; i < (gsize)B * N_H; i++)
        f->trace[i] = f->s[i];
    g_autofree float *sent = g_memdup2(f->s, sizeof(float) * B * N_H);
    const guint64 emitted = f->nspikes;
    memset(g->acc, 0, sizeof(float) * B * N_G);
    oz_projection_deliver(b, f, g->acc);
    const guint64 kept = b->chip->kept.nspikes, lost = b->chip->dropped;
    cr_assert_eq(kept + lost, emitted);
    /* 99.99% two-sided interval of Binomial(emitted, p). */
    double mu = emitted * p, sd = sqrt(emitted * p * (1 - p));
    cr_assert(fabs((double)lost - mu) < 3.9 * sd,
              "%" G_GUINT64_FORMAT " lost of %" G_GUINT64_FORMAT, lost, emitted);
    cr_assert_eq(b->synops, kept * N_G, "SynOps count only the spikes that arrive");
    cr_assert_eq(b->row_fetches, kept);
    /* The sender is untouched: its packet and its trace still hold every spike. */
    cr_assert(memcmp(f->s, sent, sizeof(float) * B * N_H) == 0);
    for (gsize i = 0; i < (gsize)B * N_H; i++)
        cr_assert_eq(f->trace[i], sent[i]);
    /* What arrived is W summed over the kept spikes, a subset of the sent ones. */
    const float *ks = b->chip->kept.s;
    for (int s = 0; s < B; s++)
        for (int j = 0; j < N_G; j++) {
            double want = 0;
            for (int i = 0; i < N_H; i++) {
                cr_assert(ks[s * N_H + i] == 0.0f || sent[s * N_H + i] != 0.0f);
                want += ks[s * N_H + i] * (double)b->w[(gsize)i * N_G + j];
            }
            cr_assert(fabs(g->acc[s * N_G + j] - want) < 1e-4, "sample %d post %d", s, j);
        }
}

Test(hardware, bp_chains_through_nominal_weights_unless_given_the_exact_chip) {
    OzHardwareParams hp = chip();
    hp.weight_mismatch = 0.3;
    hp.weight_bits = 4;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, 1.0f);
    OzProjection *b = oz_network_projection(net, "b");
    const OzRuleOps *bp = oz_rule_lookup("bp");
    OzLearner l = {.net = net};
    cr_assert_eq(bp->chip_model(NULL, &l), OZ_CHIP_NOMINAL);
    cr_assert_eq(bp->chain_matrix(NULL, &l, b), b->w, "nominal: Wᵀ of the learned weights");
    net->hw->p.bp_model = OZ_BP_MODEL_EXACT;
    cr_assert_eq(bp->chip_model(NULL, &l), OZ_CHIP_EXACT);
    cr_assert_eq(bp->chain_matrix(NULL, &l, b), b->wf, "exact: the chip's forward weights");
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++)
        if (*r != bp)
            cr_assert(!(*r)->chip_model || (*r)->chip_model(NULL, &l) == OZ_CHIP_LOCAL,
                      "%s uses only what the chip gives", (*r)->name);
}

/* ---- The program and in-process runs on a small data set ---- */

/* A 4×4-pixel data set of 16 training and n_test test samples in `classes` classes in dir
 * and a scenario over it: in (16) → h (lif, 12) → out (classes).  (transfer full) */
static char *scenario_n(const char *dir, const char *rule, int n_test, int classes) {
    oz_test_write_dataset(dir, 16, n_test, 4, 4, classes);
    g_autofree char *text = g_strdup_printf("[run]\nticks = 4\nbatch_size = 4\nthreads = 1\n"
                                            "mode = train\nepochs = 1\n"
                                            "[data]\ndir = %s\nclasses = %d\n"
                                            "[rule]\nname = %s\n"
                                            "[population in]\nmodel = input\nsize = 16\n"
                                            "[population h]\nmodel = lif\nsize = 12\n"
                                            "[population out]\nmodel = readout\nsize = %d\n"
                                            "[projection a]\nfrom = in\nto = h\ninit_scale = 4\n"
                                            "[projection b]\nfrom = h\nto = out\n",
                                            dir, classes, rule, classes);
    return oz_test_write_file(dir, "s.ini", text);
}

static char *scenario(const char *dir, const char *rule) {
    return scenario_n(dir, rule, 8, 2);
}

/* Runs the scenario at path with the given --set list into db; asserts exit 0. */
static void run_with(const char *path, const char *db, const char *const *sets, char **err) {
    g_autoptr(GPtrArray) args = oz_test_args_new("run", path, "--db", db, "--quiet", NULL);
    for (int i = 0; sets && sets[i]; i++)
        oz_test_args_add(args, "--set", sets[i], NULL);
    g_autofree char *e = NULL;
    int rc = oz_test_runv(oz_test_args_end(args), &e);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, e);
    if (err)
        *err = g_steal_pointer(&e);
}

static gboolean same_weights(const char *db_a, const char *db_b) {
    const char *sql = "SELECT group_concat(hex(data)) FROM (SELECT data FROM checkpoints "
                      "WHERE name LIKE 'w:%' ORDER BY name)";
    g_autofree char *a = oz_test_qs(db_a, sql), *b = oz_test_qs(db_b, sql);
    return strcmp(a, b) == 0;
}

Test(hardware, bp_nominal_model_differs_from_exact_on_a_mismatched_chip_and_equals_it_off) {
    char *dir = oz_test_tmpdir();
    g_autofree char *path = scenario(dir, "bp");
    const char *cases[][3] = {
        {"hardware.weight_mismatch=0.3", NULL, NULL},    /* Wᵀ of the chain */
        {"hardware.threshold_mismatch=0.3", NULL, NULL}, /* ψ's threshold */
    };
    for (gsize c = 0; c < G_N_ELEMENTS(cases); c++) {
        g_autofree char *dn = g_strdup_printf("%s/n%zu.sqlite", dir, c);
        g_autofree char *de = g_strdup_printf("%s/e%zu.sqlite", dir, c);
        const char *nominal[] = {cases[c][0], NULL};
        const char *exact[] = {cases[c][0], "hardware.bp_model=exact", NULL};
        run_with(path, dn, nominal, NULL);
        g_autofree char *err = NULL;
        run_with(path, de, exact, &err);
        cr_assert(!same_weights(dn, de), "%s: BP's nominal model learns otherwise", cases[c][0]);
        cr_assert_not_null(strstr(err, "REFERENCE ONLY"), "the run says it is a reference");
        cr_assert_eq(oz_test_q(de, "SELECT count(*) FROM parameters WHERE owner = 'hardware' "
                                   "AND key = 'reference'"),
                     1);
        cr_assert_eq(oz_test_q(dn, "SELECT count(*) FROM parameters WHERE owner = 'hardware' "
                                   "AND key = 'reference'"),
                     0);
    }
    /* Every effect off: exact and nominal are the same model. */
    g_autofree char *d0 = g_strdup_printf("%s/off-n.sqlite", dir);
    g_autofree char *d1 = g_strdup_printf("%s/off-e.sqlite", dir);
    run_with(path, d0, NULL, NULL);
    const char *exact_off[] = {"hardware.bp_model=exact", NULL};
    run_with(path, d1, exact_off, NULL);
    cr_assert(same_weights(d0, d1));
    oz_test_rmtree(dir);
}

Test(hardware, a_chip_with_every_effect_off_is_the_ideal_simulation_bit_for_bit) {
    char *dir = oz_test_tmpdir();
    const char *rules[] = {"bp", "dfa", "opzo"};
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        g_autofree char *path = scenario(dir, rules[r]);
        g_autofree char *da = g_strdup_printf("%s/ideal-%s.sqlite", dir, rules[r]);
        g_autofree char *db = g_strdup_printf("%s/off-%s.sqlite", dir, rules[r]);
        run_with(path, da, NULL, NULL);
        const char *off[] = {"hardware.seed=99", "hardware.noise_is_probe=true",
                             "hardware.bp_model=exact", "hardware.weight_bits=0", NULL};
        run_with(path, db, off, NULL);
        oz_test_assert_checkpoints_equal(da, 1, db, 1);
        cr_assert_eq(oz_test_q(db, "SELECT count(*) FROM parameters WHERE owner = 'hardware'"), 0,
                     "an ideal chip logs nothing of its own");
    }
    oz_test_rmtree(dir);
}

Test(hardware, bad_hardware_keys_exit_2_naming_file_section_and_key) {
    char *dir = oz_test_tmpdir();
    g_autofree char *path = scenario(dir, "opzo");
    g_autofree char *db = g_strdup_printf("%s/x.sqlite", dir);
    const char *cases[][2] = {
        {"hardware.weight_bits=1", "weight_bits"},
        {"hardware.weight_bits=17", "weight_bits"},
        {"hardware.spike_drop=1.5", "spike_drop"},
        {"hardware.neuron_noise=-1", "neuron_noise"},
        {"hardware.bp_model=perfect", "bp_model"},
        {"hardware.weight_mismatch=x", "weight_mismatch"},
        {"hardware.noise=1", "noise"},
    };
    for (gsize c = 0; c < G_N_ELEMENTS(cases); c++) {
        g_autofree char *err = NULL;
        int rc = oz_test_run(&err, "run", path, "--db", db, "--quiet", "--set", cases[c][0], NULL);
        cr_assert_eq(rc, 2, "%s: exit %d", cases[c][0], rc);
        g_autofree char *want = g_strdup_printf("[hardware] %s", cases[c][1]);
        cr_assert_not_null(strstr(err, want), "%s: %s", cases[c][0], err);
        cr_assert_not_null(strstr(err, path), "%s names the file: %s", cases[c][0], err);
    }
    cr_assert(!g_file_test(db, G_FILE_TEST_EXISTS), "bad input starts nothing");
    oz_test_rmtree(dir);
}

Test(hardware, eval_tests_a_stored_network_on_a_chip_and_repeats_a_noisy_chips_test_phase) {
    char *dir = oz_test_tmpdir();
    /* Enough test samples and noise that other streams would give another accuracy. */
    g_autofree char *path = scenario_n(dir, "opzo", 400, 8);
    g_autofree char *db = g_strdup_printf("%s/x.sqlite", dir);
    const char *noisy[] = {"hardware.neuron_noise=1.5", "hardware.spike_drop=0.3", NULL};
    run_with(path, db, noisy, NULL);
    /* The same chip: the test phase's noise and lost spikes start from the same streams. */
    g_autofree char *out = NULL;
    int rc = oz_test_run(&out, "eval", "--db", db, NULL);
    cr_assert_eq(rc, 0, "eval of a noisy chip repeats its test phase: %s", out);
    g_autofree char *err = NULL;
    g_autoptr(GPtrArray) args =
        oz_test_args_new("eval", "--db", db, "--set", "hardware.weight_bits=2", "--set",
                         "hardware.neuron_noise=0", NULL);
    cr_assert_eq(oz_test_runv(oz_test_args_end(args), &err), 0, "%s", err);
    g_clear_pointer(&err, g_free);
    rc = oz_test_run(&err, "eval", "--db", db, "--set", "hardware.weight_bits=1", NULL);
    cr_assert_eq(rc, 2);
    oz_test_rmtree(dir);
}

/* One training batch of the scenario at path with sets, in process.  (transfer full) */
static OzRun *one_batch(const char *path, const char *const *sets, OzScenario **sc_out) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load(path, sets, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    oz_par_set_threads(1);
    OzRun *run = oz_run_new(sc, &err);
    cr_assert_not_null(run, "%s", err ? err->message : "");
    OzLogBatch *rows = NULL;
    cr_assert(oz_run_step(run, &rows));
    oz_log_batch_free(rows);
    *sc_out = sc;
    return run;
}

Test(hardware, noise_is_probe_makes_the_chips_noise_the_probe_of_opzo) {
    char *dir = oz_test_tmpdir();
    g_autofree char *path = scenario(dir, "opzo");
    const char *probe[] = {"hardware.neuron_noise=0.4", "hardware.noise_is_probe=true", NULL};
    OzScenario *sc = NULL;
    OzRun *run = one_batch(path, probe, &sc);
    OzPopulation *h = oz_network_population(run->net, "h");
    cr_assert_eq(h->noise_mode, OZ_NOISE_BEFORE, "the probe goes before the neuron");
    cr_assert_eq(h->noise_alpha, 0.4f, "α = σ");
    cr_assert(!run->learner->p.antithetic, "no antithetic pairs");
    cr_assert_eq(run->learner->p.noise, OZ_NOISE_GAUSSIAN);
    cr_assert(h->chip->noise_is_probe);
    h->training = TRUE;
    cr_assert_null(oz_chip_noise(h, h->start_tick), "the probe is the noise: none added");
    cr_assert_not_null(oz_chip_noise(h, h->start_tick + 4), "after the input ticks: the chip's");
    h->training = FALSE;
    cr_assert_not_null(oz_chip_noise(h, h->start_tick), "at test: the chip's own noise");
    oz_run_free(run);
    oz_scenario_free(sc);
    /* With false, the noise is the chip's own and OPZO keeps its probe. */
    const char *own[] = {"hardware.neuron_noise=0.4", NULL};
    run = one_batch(path, own, &sc);
    h = oz_network_population(run->net, "h");
    cr_assert_eq(h->noise_mode, OZ_NOISE_AFTER);
    cr_assert_eq(h->noise_alpha, (float)sc->rule.alpha_start);
    cr_assert(run->learner->p.antithetic);
    h->training = TRUE;
    cr_assert_not_null(oz_chip_noise(h, h->start_tick));
    oz_run_free(run);
    oz_scenario_free(sc);
    /* A rule without a probe meets the chip's noise in training too. */
    g_autofree char *dfa = scenario(dir, "dfa");
    run = one_batch(dfa, probe, &sc);
    h = oz_network_population(run->net, "h");
    cr_assert(!h->chip->noise_is_probe);
    h->training = TRUE;
    cr_assert_not_null(oz_chip_noise(h, h->start_tick));
    oz_run_free(run);
    oz_scenario_free(sc);
    oz_test_rmtree(dir);
}

Test(hardware, a_bp_pretrained_network_fine_tunes_with_every_rule_by_init_from) {
    char *dir = oz_test_tmpdir();
    g_autofree char *path = scenario(dir, "bp");
    g_autofree char *pre = g_strdup_printf("%s/pre.sqlite", dir);
    g_autofree char *ft = g_strdup_printf("%s/ft.sqlite", dir);
    run_with(path, pre, NULL, NULL);
    const char *rules[] = {"opzo", "dfa", "dkp", "zo"};
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        g_autofree char *rule = g_strdup_printf("rule.name=%s", rules[r]);
        g_autofree char *err = NULL;
        int rc = oz_test_run(&err, "run", path, "--db", ft, "--quiet", "--init-from", pre, "--set",
                             rule, "--set", "hardware.neuron_noise=0.3", "--set",
                             "hardware.noise_is_probe=true", NULL);
        cr_assert_eq(rc, 0, "%s from a BP checkpoint (no feedback matrices): %s", rules[r], err);
    }
    /* The fine-tunes started from BP's weights: their first training batch met them. */
    cr_assert_eq(oz_test_q(ft, "SELECT count(*) FROM runs WHERE status = 'finished'"), 4);
    oz_test_rmtree(dir);
}

/* An inference run of a network with a projection of every kind, every spike packet sent
 * as events: in (1,8,6) →conv2d (im2col: a current)→ h (4,8,6) →conv2d (events)→
 * k (2,8,6) →sparse→ g (30) →dense→ out (3), with the extra --set list.  (transfer full) */
static OzRun *every_kind_run(const char *dir, const char *const *sets, OzScenario **sc_out) {
    oz_test_write_dataset(dir, 4, 8, 8, 6, 3);
    g_autofree char *text = g_strdup_printf(
        "[run]\nbatch_size = 8\nticks = 4\nthreads = 1\ndelivery = event\n"
        "[data]\ndir = %s\nclasses = 3\n"
        "[population in]\nmodel = input\nshape = 1,8,6\n"
        "[population h]\nmodel = lif\nshape = 4,8,6\n"
        "[population k]\nmodel = lif\nshape = 2,8,6\n"
        "[population g]\nmodel = lif\nsize = 30\n"
        "[population out]\nmodel = readout\nsize = 3\n"
        "[projection a]\nfrom = in\nto = h\nkind = conv2d\npadding = 1\ninit_scale = 3\n"
        "[projection hk]\nfrom = h\nto = k\nkind = conv2d\npadding = 1\ninit_scale = 3\n"
        "[projection b]\nfrom = k\nto = g\nkind = sparse\ninit_scale = 3\n"
        "[projection c]\nfrom = g\nto = out\n",
        dir);
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(text, "k.ini", sets, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    oz_par_set_threads(1);
    OzRun *run = oz_run_new(sc, &err);
    cr_assert_not_null(run, "%s", err ? err->message : "");
    *sc_out = sc;
    return run;
}

Test(hardware, every_kind_delivers_through_the_chips_forward_weights) {
    char *dir = oz_test_tmpdir();
    const char *chip_sets[] = {"hardware.weight_bits=3", "hardware.weight_mismatch=0.4", NULL};
    OzScenario *sa = NULL, *sb = NULL;
    OzRun *a = every_kind_run(dir, chip_sets, &sa);
    OzRun *b = every_kind_run(dir, NULL, &sb);
    /* The ideal twin gets the chip's forward weights as its own: both must then compute
     * the same forward pass, bit for bit. */
    int kinds = 0;
    for (guint i = 0; i < a->net->projs->len; i++) {
        OzProjection *pa = g_ptr_array_index(a->net->projs, i);
        OzProjection *pb = g_ptr_array_index(b->net->projs, i);
        oz_projection_reset(pa);
        cr_assert_not_null(pa->wf, "%s (%s) has forward weights", pa->name, pa->kind->name);
        gsize differ = 0;
        for (gsize k = 0; k < pa->nw; k++)
            differ += pa->wf[k] != pa->w[k];
        cr_assert_gt(differ, pa->nw / 2, "%s: the chip changes its weights", pa->name);
        memcpy(pb->w, pa->wf, pa->nw * sizeof(float));
        oz_projection_reset(pb);
        kinds++;
    }
    cr_assert_eq(kinds, 4);
    OzLogBatch *rows = NULL;
    cr_assert(oz_run_step(a, &rows));
    oz_log_batch_free(rows);
    rows = NULL;
    cr_assert(oz_run_step(b, &rows));
    oz_log_batch_free(rows);
    OzPopulation *oa = oz_network_population(a->net, "out");
    OzPopulation *ob = oz_network_population(b->net, "out");
    double mass = 0;
    for (int k = 0; k < 8 * 3; k++) {
        cr_assert_eq(oa->osum[k], ob->osum[k], "readout sum %d: chip %g, twin %g", k,
                     (double)oa->osum[k], (double)ob->osum[k]);
        mass += fabs(oa->osum[k]);
    }
    cr_assert_gt(mass, 0.0, "spikes reached the readout");
    for (guint i = 0; i < a->net->projs->len; i++) {
        OzProjection *pa = g_ptr_array_index(a->net->projs, i);
        cr_assert_gt(pa->row_fetches + pa->dense_macs, 0, "%s carried activity", pa->name);
    }
    oz_run_free(a);
    oz_run_free(b);
    oz_scenario_free(sa);
    oz_scenario_free(sb);
    oz_test_rmtree(dir);
}

/* The noise of one step of g and the packet b delivers with lost spikes, at `threads`
 * threads.  (transfer full) */
static float *noisy_and_dropped(int threads) {
    oz_par_set_threads(threads);
    OzHardwareParams hp = chip();
    hp.neuron_noise = 0.7;
    hp.spike_drop = 0.3;
    g_autoptr(OzNetwork) net = small_net(&hp, 0.5f, 1e6f);
    OzPopulation *h = oz_network_population(net, "h"), *g = oz_network_population(net, "g");
    OzFrame *f = oz_population_frame(h, 0);
    OzRng rng;
    oz_rng_init(&rng, 5, "test");
    oz_test_spike_frame(f, B, N_H, 0.4, 1.0f, FALSE, &rng);
    f->tick = 0;
    OzProjection *b = oz_network_projection(net, "b");
    oz_projection_deliver(b, f, g->acc);
    oz_population_step(g, 0);
    const gsize nu = (gsize)B * N_G, ns = (gsize)B * N_H;
    float *out = g_new(float, nu + ns);
    memcpy(out, oz_population_frame(g, 0)->u, nu * sizeof(float));
    memcpy(out + nu, b->chip->kept.s, ns * sizeof(float));
    oz_par_set_threads(1);
    return out;
}

Test(hardware, noise_and_lost_spikes_are_the_same_bits_at_any_thread_count) {
    g_autofree float *one = noisy_and_dropped(1);
    g_autofree float *three = noisy_and_dropped(3);
    const gsize n = (gsize)B * N_G + (gsize)B * N_H;
    for (gsize i = 0; i < n; i++)
        cr_assert_eq(one[i], three[i], "element %zu: %g at 1 thread, %g at 3", i, (double)one[i],
                     (double)three[i]);
}

/* The current-based LIF model (neurons/oz-model-cubalif.c) and its NIR mapping: one neuron's
 * current, membrane and spikes tick by tick against values worked by hand; the bias in the
 * current; with α = 0 a cubalif network trains bit for bit as the same lif network with
 * every rule (the same ψ, trace and bias); with α > 0 it learns; CubaLIF files (made by
 * tests/nir-files.py with h5py) imported with hand-computed weights and spikes, the NIR
 * paper's recurrent example in snnTorch's nested RSynaptic layout among them; a trained
 * cubalif network exported and imported again runs its test phase spike for spike. */
#include "oz-test-util.h"

#include "io/oz-nir.h"
#include "neurons/oz-neuron.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 48, 32, 6, 6, 10);
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(cubalif, .init = setup, .fini = teardown, .timeout = 240);

/* A cubalif population of n neurons, batch 1, with the keys given. */
static OzPopulation *cuba_new(int n, const char *const *keys, const char *const *values) {
    OzPopulationParams pp = {.model = "cubalif", .size = n, .keys = keys, .values = values};
    g_autoptr(GError) err = NULL;
    OzPopulation *pop = oz_population_new("c", &pp, 1, &err);
    cr_assert_not_null(pop, "%s", err ? err->message : "");
    oz_population_set_depth(pop, 1);
    oz_population_reset(pop);
    return pop;
}

/* α = λ = 0.5, V_th = 1, soft reset, input x = 1, 1, 0, 0, 2, 0 (I = αI + x, u = λv + I):
 *   t  I          u                       spike  v (after the reset)
 *   0  1          0 + 1 = 1 (a tie fires)   1    0
 *   1  .5+1=1.5   0 + 1.5 = 1.5             1    .5
 *   2  .75        .25 + .75 = 1             1    0
 *   3  .375       0 + .375 = .375           0    .375
 *   4  .1875+2    .1875 + 2.1875 = 2.375    1    1.375
 *   5  1.09375    .6875 + 1.09375 = 1.78125 1    .78125
 * A lif neuron with the same input would not fire at t = 2 (u = .25 + 0): the current's
 * memory is what differs. */
Test(cubalif, one_neuron_current_membrane_and_spikes_tick_by_tick) {
    const char *keys[] = {"alpha", "lambda", "v_th", "bias", NULL};
    const char *values[] = {"0.5", "0.5", "1", "false", NULL};
    g_autoptr(OzPopulation) pop = cuba_new(1, keys, values);
    const float x[6] = {1, 1, 0, 0, 2, 0};
    const float cur[6] = {1, 1.5f, 0.75f, 0.375f, 2.1875f, 1.09375f};
    const float u[6] = {1, 1.5f, 1, 0.375f, 2.375f, 1.78125f};
    const int s[6] = {1, 1, 1, 0, 1, 1};
    const float v[6] = {0, 0.5f, 0, 0.375f, 1.375f, 0.78125f};
    const float *i_cur = NULL;
    cr_assert_eq(oz_neuron_ctl(pop, OZ_NEURON_CTL_CURRENT, &i_cur), 0);
    for (int t = 0; t < 6; t++) {
        pop->acc[0] = x[t];
        oz_population_step(pop, t);
        const OzFrame *f = oz_population_frame(pop, t);
        cr_assert_eq(i_cur[0], cur[t], "I at t = %d: %g", t, i_cur[0]);
        cr_assert_eq(f->u[0], u[t], "u at t = %d: %g", t, f->u[0]);
        cr_assert_eq(f->counts[0], s[t], "spike at t = %d", t);
        cr_assert_eq(pop->v[0], v[t], "v at t = %d: %g", t, pop->v[0]);
    }
}

/* The bias goes into the current: with b = 0.25 and no input, α = λ = 0.5,
 * I = .25, .375, .4375, .46875 and u = λv + I = .25, .5, .6875, .8125 (no spike; a lif
 * neuron's u = λv + b would be .25, .375, .4375, .46875).  A window starts at rest: after a
 * reset the same ticks repeat. */
Test(cubalif, the_bias_feeds_the_current_and_a_window_starts_at_rest) {
    const char *keys[] = {"alpha", "lambda", "v_th", "reset", NULL};
    const char *values[] = {"0.5", "0.5", "1", "hard", NULL};
    g_autoptr(OzPopulation) pop = cuba_new(1, keys, values);
    pop->bias[0] = 0.25f;
    const float cur[4] = {0.25f, 0.375f, 0.4375f, 0.46875f};
    const float u[4] = {0.25f, 0.5f, 0.6875f, 0.8125f};
    const float *i_cur = NULL;
    cr_assert_eq(oz_neuron_ctl(pop, OZ_NEURON_CTL_CURRENT, &i_cur), 0);
    for (int rep = 0; rep < 2; rep++) {
        oz_population_reset(pop);
        for (int t = 0; t < 4; t++) {
            oz_population_step(pop, t);
            const OzFrame *f = oz_population_frame(pop, t);
            cr_assert_eq(i_cur[0], cur[t], "window %d, I at t = %d: %g", rep, t, i_cur[0]);
            cr_assert_eq(f->u[0], u[t], "window %d, u at t = %d: %g", rep, t, f->u[0]);
            cr_assert_eq(f->counts[0], 0);
        }
    }
}

static const char *const net = "[population in]\nmodel = input\nsize = 36\n"
                               "[population h1]\nmodel = %s\nsize = 24\nlambda = 0.75\n%s"
                               "[population h2]\nmodel = %s\nsize = 16\nv_th = 0.8\n"
                               "reset = hard\n%s"
                               "[population out]\nmodel = readout\nsize = 10\n"
                               "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 4\n"
                               "[projection h1_h2]\nfrom = h1\nto = h2\ninit_scale = 3\n"
                               "[projection h2_out]\nfrom = h2\nto = out\n";

/* Trains `sections` with `rule` for `epochs` into DIR/NAME.sqlite (a fixed seed). */
static char *train(const char *name, const char *rule, int epochs, const char *sections) {
    g_autofree char *text = g_strdup_printf(
        "[run]\nmode = train\nticks = 4\nbatch_size = 16\nthreads = 1\nepochs = %d\n"
        "[data]\ndir = %s\nnormalize = true\n[rule]\nname = %s\n[record]\nspike_samples = 8\n%s",
        epochs, dir, rule, sections);
    g_autofree char *ini = g_strconcat(name, ".ini", NULL);
    g_autofree char *sc = oz_test_write_file(dir, ini, text);
    g_autofree char *dbn = g_strconcat(name, ".sqlite", NULL);
    char *db = g_build_filename(dir, dbn, NULL);
    g_remove(db);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s: %s", name, err);
    return db;
}

/* With α = 0 the current is the input (I = x) and u = λv + x is lif's charge; ψ and the
 * trace are the same, so every rule trains the cubalif network to the same weights, bit for
 * bit, as the lif network.  (Without biases: with one, cubalif adds b into the current
 * before λv, lif after it, which rounds differently.) */
Test(cubalif, with_alpha_zero_every_rule_trains_it_as_lif_bit_for_bit) {
    const char *rules[] = {"bp", "dfa", "dkp", "zo", "opzo", "fa", "sign"};
    g_autofree char *lif = g_strdup_printf(net, "lif", "bias = false\n", "lif", "bias = false\n");
    g_autofree char *cuba = g_strdup_printf(net, "cubalif", "alpha = 0\nbias = false\n", "cubalif",
                                            "alpha = 0\nbias = false\n");
    for (gsize i = 0; i < G_N_ELEMENTS(rules); i++) {
        g_autofree char *a = train("lif", rules[i], 1, lif);
        g_autofree char *b = train("cuba", rules[i], 1, cuba);
        cr_assert_eq(oz_test_q(b, "select count(*) from checkpoints where name like 'w:%'"), 3,
                     "%s", rules[i]);
        oz_test_assert_checkpoints_equal(a, 1, b, 1);
    }
}

/* With α = 0.5 the network trains (bp, lr 0.01, four epochs): the training loss falls by
 * more than 3% (2.248 to 2.124 on this data; a lif network: 2.239 to 2.132). */
Test(cubalif, with_a_synaptic_current_it_learns) {
    g_autofree char *sections =
        g_strdup_printf(net, "cubalif", "alpha = 0.5\n", "cubalif", "alpha = 0.5\n");
    g_autofree char *cuba = g_strconcat("[optimizer]\nlr = 0.01\n", sections, NULL);
    g_autofree char *db = train("cuba5", "bp", 4, cuba);
    double first = (double)oz_test_q(db, "select cast(loss * 1e6 as integer) from epochs where "
                                         "phase = 'train' order by epoch limit 1");
    double last = (double)oz_test_q(db, "select cast(loss * 1e6 as integer) from epochs where "
                                        "phase = 'train' order by epoch desc limit 1");
    cr_assert(last < first * 0.97, "training loss %g -> %g", first / 1e6, last / 1e6);
    g_autofree char *alpha = oz_test_qs(db, "select value from parameters where owner = "
                                            "'population h1' and key = 'alpha'");
    cr_assert_str_eq(alpha, "0.5");
}

/* Writes the files of tests/nir-files.py into DIR (python3 with h5py). */
static void nir_files(void) {
    cr_assert(*OZ_PYTHON, "python3 with h5py was not found at configure time (python3-h5py)");
    g_autofree char *script = g_build_filename(OZ_SOURCE_DIR, "tests", "nir-files.py", NULL);
    const char *argv[] = {OZ_PYTHON, script, dir, NULL};
    g_autofree char *out = NULL, *err = NULL;
    int status = -1;
    cr_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                           &status, NULL));
    cr_assert(g_spawn_check_wait_status(status, NULL), "nir-files.py: %s", err);
}

/* The network of DIR/FILE on one sample x = (1, 0, 1, 0) (label 1, no normalisation) for
 * T = 4 ticks; returns the run log (transfer full) and its spikes in *spikes. */
static char *one_sample(const char *file, char **spikes) {
    guint8 img[4] = {255, 0, 255, 0}, lab[1] = {1};
    guint32 idims[3] = {1, 2, 2}, ldims[1] = {1};
    g_autofree char *ti = g_build_filename(dir, "one-img", NULL);
    g_autofree char *tl = g_build_filename(dir, "one-lab", NULL);
    oz_test_write_idx(ti, idims, 3, img, FALSE);
    oz_test_write_idx(tl, ldims, 1, lab, FALSE);
    g_autofree char *text =
        g_strdup_printf("[run]\nticks = 4\nbatch_size = 1\nthreads = 1\n[data]\ndataset = idx\n"
                        "test_images = %s\ntest_labels = %s\nclasses = 2\nnormalize = false\n"
                        "[record]\nspike_samples = 1\n[network]\nfrom_nir = %s/%s\n",
                        ti, tl, dir, file);
    g_autofree char *sc = oz_test_write_file(dir, "one.ini", text);
    char *db = g_strdup_printf("%s/%s.sqlite", dir, file);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s", err);
    *spikes = oz_test_qs(db, "select group_concat(population || ':' || tick || ':' || neuron, "
                             "' ') from (select * from spikes where phase = 'test' order by "
                             "population, sample, tick, neuron)");
    return db;
}

/* cuba.nir (tests/nir-files.py, cuba()): α = λ = 0.5 from τ = 2e-4 s at dt = 1e-4, the gain
 * (dt·r/τ_mem)(dt·w_in/τ_syn) = 2 folded into fc, so the currents are x·W = (0.25, 1.25).
 *   neuron 0: I = .25, .375, .4375, .46875; u = λv + I = .25, .5, .6875, .8125: silent.
 *   neuron 1: I = 1.25, 1.875, 2.1875, 2.34375, each u ≥ 1: fires at t = 0..3 (v = 0).
 * The spiking output counts (0, 4): class 1, the label. */
Test(cubalif, a_cubalif_file_imports_with_hand_computed_gain_and_spikes) {
    nir_files();
    g_autofree char *path = g_build_filename(dir, "cuba.nir", NULL);
    g_autoptr(GHashTable) t = NULL;
    g_autofree char *sections = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert(oz_nir_import(path, 1e-4, FALSE, &sections, &t, &error), "%s",
              error ? error->message : "");
    cr_assert(strstr(sections, "model = cubalif\n") && strstr(sections, "alpha = 0.5\n") &&
                  strstr(sections, "lambda = 0.5\n") && strstr(sections, "reset = hard\n"),
              "%s", sections);
    const OzNirTensor *w = g_hash_table_lookup(t, "w:fc");
    cr_assert(w && w->n == 8);
    /* (n_pre, n_post): fc's (out, in) = ((.125, 0, 0, 0), (.375, .5, .25, 0)) times 2. */
    const float want[8] = {0.25f, 0.75f, 0, 1.0f, 0, 0.5f, 0, 0};
    for (int k = 0; k < 8; k++)
        cr_assert_eq(w->v[k], want[k], "w[%d] = %g", k, w->v[k]);
    g_autofree char *spikes = NULL;
    g_autofree char *db = one_sample("cuba.nir", &spikes);
    cr_assert_str_eq(spikes, "cuba:0:1 cuba:1:1 cuba:2:1 cuba:3:1");
    cr_assert_eq(oz_test_q(db, "select cast(accuracy as integer) from epochs"), 1);
}

/* The NIR paper's recurrent CubaLIF in snnTorch's RSynaptic layout (a nested graph `rsyn`):
 * w_rec sends 0.25 · 2 = 0.5 from neuron 1 onto neuron 0, a tick later.  Neuron 1 fires at
 * t = 0..3 as without it; neuron 0 now gets .25 + .5·s1[t−1]:
 *   t = 0: I = .25, u = .25;  t = 1: I = .125 + .75 = .875, u = .125 + .875 = 1 fires (v = 0);
 *   t = 2: I = .4375 + .75 = 1.1875 fires;  t = 3: I = .59375 + .75 = 1.34375 fires.
 * The recurrent delay adds a drain tick, t = 4, with the input silent: neuron 1 has
 * I = 2.34375/2 = 1.171875 and fires; neuron 0 has I = .671875 + .5 = 1.171875 and fires. */
Test(cubalif, the_recurrent_example_in_a_nested_graph_reads_the_previous_tick) {
    nir_files();
    g_autofree char *spikes = NULL;
    g_autofree char *db = one_sample("cuba-recurrent.nir", &spikes);
    cr_assert_str_eq(spikes, "rsyn_lif:0:1 rsyn_lif:1:0 rsyn_lif:1:1 rsyn_lif:2:0 rsyn_lif:2:1 "
                             "rsyn_lif:3:0 rsyn_lif:3:1 rsyn_lif:4:0 rsyn_lif:4:1");
    g_autofree char *rec = oz_test_qs(db, "select pre || '>' || post || ':' || delay_ticks from "
                                          "projections where name = 'rsyn_w_rec'");
    cr_assert_str_eq(rec, "rsyn_lif>rsyn_lif:1");
}

/* A trained cubalif network (soft and hard resets, a bias in the current) exported and
 * imported again: CubaLIF nodes with τ_syn = dt/(1 − α), w_in = 1/(1 − α), τ_mem and r from
 * λ, and the test phase spike for spike. */
Test(cubalif, an_exported_cubalif_network_comes_back_spike_for_spike) {
    g_autofree char *sections =
        g_strdup_printf(net, "cubalif", "alpha = 0.5\n", "cubalif", "alpha = 0.25\n");
    g_autofree char *a = train("rt", "dfa", 1, sections);
    g_autofree char *nir = g_build_filename(dir, "rt.nir", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "export", a, "--format", "nir", "--out", nir, NULL), 0, "%s",
                 err);
    g_autoptr(GError) error = NULL;
    g_autoptr(OzNirGraph) g = oz_nir_read(nir, &error);
    cr_assert_not_null(g, "%s", error ? error->message : "");
    const OzNirNode *h1 = oz_nir_node_find(g, "h1");
    cr_assert(h1 && strcmp(h1->type, "CubaLIF") == 0);
    const double want[] = {2e-4, 4e-4, 2, 4}; /* α = 0.5, λ = 0.75 */
    const char *fields[] = {"tau_syn", "tau_mem", "w_in", "r"};
    for (int k = 0; k < 4; k++) {
        const OzNirField *f = oz_nir_field_find(h1->fields, fields[k]);
        cr_assert(f && f->n == 24, "%s", fields[k]);
        cr_assert_float_eq(f->v[0], want[k], 1e-12, "%s = %g", fields[k], f->v[0]);
    }
    g_autofree char *text =
        g_strdup_printf("[run]\nticks = 4\nbatch_size = 16\nthreads = 1\n[data]\ndir = %s\n"
                        "[record]\nspike_samples = 8\n[network]\nfrom_nir = %s\n",
                        dir, nir);
    g_autofree char *sc = oz_test_write_file(dir, "rtb.ini", text);
    g_autofree char *b = g_build_filename(dir, "rtb.sqlite", NULL);
    g_autofree char *err2 = NULL;
    cr_assert_eq(oz_test_run(&err2, "run", sc, "--db", b, "--quiet", NULL), 0, "%s", err2);
    const char *sql = "select group_concat(population || ':' || sample || ':' || tick || ':' || "
                      "neuron, ' ') from (select * from spikes where phase = 'test' order by "
                      "population, sample, tick, neuron)";
    g_autofree char *sa = oz_test_qs(a, sql), *sb = oz_test_qs(b, sql);
    cr_assert(sa && strlen(sa) > 100);
    cr_assert_str_eq(sb, sa);
    const char *acc = "select printf('%.17g', accuracy) from epochs where phase = 'test'";
    g_autofree char *aa = oz_test_qs(a, acc), *ab = oz_test_qs(b, acc);
    cr_assert_str_eq(ab, aa);
}

/* NIR export and import (io/oz-nir.c, io/oz-nir-import.c, sim/oz-export.c): a trained
 * network exported and imported again runs the same test phase spike for spike (dense with
 * hard and soft resets, a delay; a pooled, padded convolution); the exported file read by
 * h5py alone (tests/nir-check.py) against the run log's checkpoint; a file written by h5py
 * in snnTorch's layout (tests/nir-files.py) imported with hand-computed parameters,
 * weights and spikes; broken files refused with exit 2; an imported file fine-tuned with
 * every rule, and a spiking output refused for training. */
#include "oz-test-util.h"

#include "io/oz-nir.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 48, 32, 6, 6, 10);
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(nir, .init = setup, .fini = teardown, .timeout = 240);

/* Runs one of the python scripts of tests/ with h5py; returns its exit status, *out its
 * standard output and error (transfer full). */
static int python(char **out, const char *script, const char *a1, const char *a2, const char *a3,
                  const char *a4, const char *a5) {
    cr_assert(*OZ_PYTHON, "python3 with h5py was not found at configure time (python3-h5py)");
    g_autofree char *path = g_build_filename(OZ_SOURCE_DIR, "tests", script, NULL);
    const char *argv[] = {OZ_PYTHON, path, a1, a2, a3, a4, a5, NULL};
    int status = -1;
    g_autofree char *so = NULL, *se = NULL;
    g_autoptr(GError) err = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se,
                           &status, &err),
              "%s", err ? err->message : "");
    *out = g_strconcat(so, se, NULL);
    return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

/* The test phase's accuracy (all 17 digits) and spikes, as text. */
static char *test_accuracy(const char *db) {
    return oz_test_qs(db, "select printf('%.17g', accuracy) from epochs where phase = 'test' "
                          "order by epoch desc limit 1");
}

static char *spikes_before(const char *db, int ticks) {
    g_autofree char *sql = g_strdup_printf(
        "select group_concat(population || ':' || sample || ':' || tick || ':' || neuron, ' ') "
        "from (select * from spikes where phase = 'test' and tick < %d order by population, "
        "sample, tick, neuron)",
        ticks);
    return oz_test_qs(db, sql);
}

static char *test_spikes(const char *db) {
    return spikes_before(db, G_MAXINT);
}

static const char *const dense_net = "[population in]\nmodel = input\nsize = 36\n"
                                     "[population h1]\nmodel = lif\nsize = 24\nlambda = 0.75\n"
                                     "reset = %s\n"
                                     "[population h2]\nmodel = lif\nsize = 16\nv_th = 0.8\n"
                                     "reset = %s\n"
                                     "[population out]\nmodel = readout\nsize = 10\n"
                                     "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 4\n"
                                     "[projection h1_h2]\nfrom = h1\nto = h2\ndelay = 2\n"
                                     "init_scale = 3\n"
                                     "[projection h2_out]\nfrom = h2\nto = out\n";

/* Trains the network of sections for one epoch into DIR/a.sqlite and exports it to
 * DIR/net.nir; returns export's standard error (transfer full). */
static char *train_and_export(const char *sections, const char *rule) {
    g_autofree char *text = g_strdup_printf("[run]\nmode = train\nticks = 4\nbatch_size = 16\n"
                                            "threads = 1\n[data]\ndir = %s\nnormalize = true\n"
                                            "[rule]\nname = %s\n[record]\nspike_samples = 8\n%s",
                                            dir, rule, sections);
    g_autofree char *sc = oz_test_write_file(dir, "a.ini", text);
    g_autofree char *db = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *nir = g_build_filename(dir, "net.nir", NULL);
    g_remove(db);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s", err);
    g_free(err);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "export", db, "--format", "nir", "--out", nir, NULL), 0, "%s",
                 err);
    return err;
}

/* Runs DIR/net.nir for inference into DIR/b.sqlite; returns the exit code. */
static int run_imported(const char *mode, const char *extra, char **err) {
    g_autofree char *text =
        g_strdup_printf("[run]\nmode = %s\nticks = 4\nbatch_size = 16\nthreads = 1\n"
                        "[data]\ndir = %s\ntrain_limit = 32\n[record]\nspike_samples = 8\n"
                        "[network]\nfrom_nir = %s/net.nir\n%s",
                        mode, dir, dir, extra ? extra : "");
    g_autofree char *sc = oz_test_write_file(dir, "b.ini", text);
    g_autofree char *db = g_build_filename(dir, "b.sqlite", NULL);
    g_remove(db);
    return oz_test_run(err, "run", sc, "--db", db, "--quiet", NULL);
}

static void assert_same_test_phase(void) {
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    g_autofree char *acc_a = test_accuracy(a), *acc_b = test_accuracy(b);
    g_autofree char *sp_a = test_spikes(a), *sp_b = test_spikes(b);
    cr_assert_str_eq(acc_b, acc_a, "accuracy after the round trip");
    cr_assert(sp_a && strlen(sp_a) > 100, "the original recorded spikes");
    cr_assert_str_eq(sp_b, sp_a, "the imported network spikes as the original did");
}

Test(nir, dense_round_trip_with_hard_reset_is_exact) {
    g_autofree char *sections = g_strdup_printf(dense_net, "hard", "hard");
    g_autofree char *err = train_and_export(sections, "dfa");
    cr_assert_null(strstr(err ? err : "", "warning"), "a hard reset loses nothing: %s", err);
    g_autofree char *ierr = NULL;
    cr_assert_eq(run_imported("infer", NULL, &ierr), 0, "%s", ierr);
    assert_same_test_phase();
}

Test(nir, soft_reset_is_named_in_a_warning_and_honoured_from_the_metadata) {
    g_autofree char *sections = g_strdup_printf(dense_net, "soft", "hard");
    g_autofree char *err = train_and_export(sections, "opzo");
    cr_assert(err && strstr(err, "warning") && strstr(err, "h1") && !strstr(err, "h2"),
              "the warning names h1 only: %s", err ? err : "");
    g_autofree char *ierr = NULL;
    cr_assert_eq(run_imported("infer", NULL, &ierr), 0, "%s", ierr);
    assert_same_test_phase();
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    g_autofree char *reset = oz_test_qs(b, "select value from parameters where owner = "
                                           "'population h1' and key = 'reset'");
    cr_assert_str_eq(reset, "soft");
    /* Without the metadata (--set) the subtract reset is replaced, and the spikes differ. */
    g_autofree char *ierr2 = NULL;
    cr_assert_eq(run_imported("infer", "[population h1]\nreset = hard\n", &ierr2), 0, "%s", ierr2);
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *sp_a = test_spikes(a), *sp_b = test_spikes(b);
    cr_assert_str_neq(sp_b, sp_a, "a hard reset changes the spikes of this network");
}

Test(nir, conv_round_trip_with_pool_padding_and_delay_is_exact) {
    const char *sections = "[population in]\nmodel = input\nshape = 1,6,6\n"
                           "[population c]\nmodel = lif\nshape = 4,4,4\nreset = hard\n"
                           "[population out]\nmodel = readout\nsize = 10\n"
                           "[projection conv]\nfrom = in\nto = c\nkind = conv2d\nkernel = 2\n"
                           "padding = 1\npool = avg\npool_size = 2\ninit_scale = 4\n"
                           "[projection c_out]\nfrom = c\nto = out\ndelay = 1\n";
    g_free(train_and_export(sections, "bp"));
    g_autofree char *ierr = NULL;
    cr_assert_eq(run_imported("infer", NULL, &ierr), 0, "%s", ierr);
    assert_same_test_phase();
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    g_autofree char *keys = oz_test_qs(b, "select group_concat(key || '=' || value) from "
                                          "parameters where owner = 'projection conv' and key "
                                          "in ('kernel', 'padding', 'pool', 'pool_size')");
    cr_assert_str_eq(keys, "kernel=2,padding=1,pool=avg,pool_size=2");
}

/* The share of the spike rows of a that b has too. */
static double spike_overlap(const char *a, const char *b) {
    g_auto(GStrv) ra = g_strsplit(a, " ", -1), rb = g_strsplit(b, " ", -1);
    g_autoptr(GHashTable) set = g_hash_table_new(g_str_hash, g_str_equal);
    for (char **r = rb; *r; r++)
        g_hash_table_add(set, *r);
    guint same = 0, n = g_strv_length(ra);
    for (char **r = ra; *r; r++)
        same += g_hash_table_contains(set, *r);
    guint nb = g_strv_length(rb);
    return n ? (double)same / MAX(n, nb) : 0.0;
}

/* Without this project's metadata (stripped by h5py) the file is what another tool reads:
 * λ from τ, weights and biases from the Affine and Conv2d nodes and v_leak, the input
 * normalisation folded into the first layer (fed pixel/255), per-position offsets of the
 * padded convolution in v_leak.  It computes the same network up to rounding while the input
 * is on (T = 4 ticks); after it the folded offset −mean/std·ΣW keeps flowing where opzosim's
 * input is silent (docs/INTEROP.md), so only those ticks are compared. */
Test(nir, without_opzosim_metadata_the_file_is_the_same_network_up_to_rounding) {
    const char *nets[] = {
        "[population in]\nmodel = input\nshape = 1,6,6\n"
        "[population c]\nmodel = lif\nshape = 4,4,4\nreset = hard\n"
        "[population out]\nmodel = readout\nsize = 10\n"
        "[projection conv]\nfrom = in\nto = c\nkind = conv2d\nkernel = 2\n"
        "padding = 1\npool = avg\npool_size = 2\ninit_scale = 4\n"
        "[projection c_out]\nfrom = c\nto = out\n",
        NULL,
    };
    g_autofree char *dense = g_strdup_printf(dense_net, "hard", "hard");
    nets[1] = dense;
    for (int k = 0; k < 2; k++) {
        g_free(train_and_export(nets[k], "dfa"));
        g_autofree char *nir = g_build_filename(dir, "net.nir", NULL);
        g_autofree char *out = NULL;
        cr_assert_eq(python(&out, "nir-files.py", "--strip", nir, NULL, NULL, NULL), 0, "%s", out);
        g_autofree char *ierr = NULL;
        cr_assert_eq(run_imported("infer", "[data]\nnormalize = false\n", &ierr), 0, "%s", ierr);
        g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
        g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
        g_autofree char *sp_a = spikes_before(a, 4), *sp_b = spikes_before(b, 4);
        double overlap = spike_overlap(sp_a, sp_b);
        cr_assert(overlap > 0.98, "net %d: %.4f of the spikes agree", k, overlap);
        g_autofree char *text_a = test_accuracy(a), *text_b = test_accuracy(b);
        double acc_a = g_ascii_strtod(text_a, NULL);
        double acc_b = g_ascii_strtod(text_b, NULL);
        cr_assert(fabs(acc_a - acc_b) <= 1.0 / 32 + 1e-12, "net %d: accuracy %g against %g", k,
                  acc_b, acc_a);
    }
}

Test(nir, exported_structure_checked_by_h5py_against_the_checkpoint) {
    g_autofree char *sections = g_strdup_printf(dense_net, "hard", "soft");
    g_free(train_and_export(sections, "dfa"));
    g_autofree char *nir = g_build_filename(dir, "net.nir", NULL);
    g_autofree char *db = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *out = NULL;
    int rc = python(&out, "nir-check.py", nir, db, "1", "0", "1e-4");
    cr_assert_eq(rc, 0, "nir-check.py: %s", out);
    cr_assert(strstr(out, "ok"), "%s", out);
    /* --dt changes τ; the checker, told the same dt, agrees. */
    g_autofree char *err2 = NULL;
    cr_assert_eq(
        oz_test_run(&err2, "export", db, "--format", "nir", "--out", nir, "--dt", "1e-3", NULL), 0,
        "%s", err2);
    g_autofree char *out2 = NULL;
    cr_assert_eq(python(&out2, "nir-check.py", nir, db, "1", "0", "1e-3"), 0, "%s", out2);
    g_autofree char *out3 = NULL;
    cr_assert_neq(python(&out3, "nir-check.py", nir, db, "1", "0", "1e-4"), 0,
                  "the checker notices a τ made for another dt");
}

/* Runs the network of the NIR file at nir for inference on one sample x = (1, 0, 1, 0)
 * (pixels 255, 0, 255, 0, no normalisation, label 1) for T = 4 ticks, recording its spikes;
 * returns the run log's path (transfer full). */
static char *run_one_sample(const char *nir) {
    guint8 img[4] = {255, 0, 255, 0}, lab[1] = {1};
    guint32 idims[3] = {1, 2, 2}, ldims[1] = {1};
    g_autofree char *ti = g_build_filename(dir, "t-img", NULL);
    g_autofree char *tl = g_build_filename(dir, "t-lab", NULL);
    oz_test_write_idx(ti, idims, 3, img, FALSE);
    oz_test_write_idx(tl, ldims, 1, lab, FALSE);
    g_autofree char *text = g_strdup_printf(
        "[run]\nticks = 4\nbatch_size = 1\nthreads = 1\n"
        "[data]\ndataset = idx\ntest_images = %s\ntest_labels = %s\nclasses = 2\n"
        "normalize = false\n[record]\nspike_samples = 1\n[network]\nfrom_nir = %s\n",
        ti, tl, nir);
    g_autofree char *sc = oz_test_write_file(dir, "snn.ini", text);
    char *db = g_strconcat(nir, ".sqlite", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s", err);
    return db;
}

/* The hand-made snnTorch-layout file of tests/nir-files.py (no metadata of this project),
 * run on one sample for T = 4 ticks; the spikes are worked out by hand below. */
Test(nir, snntorch_layout_import_has_hand_computed_parameters_weights_and_spikes) {
    g_autofree char *out = NULL;
    cr_assert_eq(python(&out, "nir-files.py", dir, NULL, NULL, NULL, NULL), 0, "%s", out);
    g_autofree char *snn = g_build_filename(dir, "snn.nir", NULL);
    /* The tensors, in opzosim's layout: fc1 (out, in) = (3, 4) becomes W (4, 3). */
    g_autoptr(GHashTable) t = NULL;
    g_autofree char *sections = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert(oz_nir_import(snn, 1e-4, FALSE, &sections, &t, &error), "%s",
              error ? error->message : "");
    const OzNirTensor *w1 = g_hash_table_lookup(t, "w:fc1");
    cr_assert(w1 && w1->n == 12);
    const float fc1[3][4] = {{0.875f, 0, 0, 0}, {0, 0, 0.25f, 0}, {0.75f, 1, 0.5f, 0}};
    for (int i = 0; i < 4; i++)
        for (int o = 0; o < 3; o++)
            cr_assert_float_eq(w1->v[i * 3 + o], fc1[o][i], 1e-6, "W[%d][%d]", i, o);
    /* lif2's gain dt·r/τ = 0.5 is folded into fc2. */
    const OzNirTensor *w2 = g_hash_table_lookup(t, "w:fc2");
    cr_assert(w2 && w2->n == 6);
    cr_assert_float_eq(w2->v[0 * 2 + 0], 0.5f, 1e-6);
    cr_assert_float_eq(w2->v[2 * 2 + 1], 0.5f, 1e-6);
    cr_assert_float_eq(w2->v[1 * 2 + 0], 0.0f, 1e-9);
    const OzNirTensor *b1 = g_hash_table_lookup(t, "b:lif1");
    cr_assert(b1 && b1->n == 3 && b1->v[1] == 0.25f && b1->v[0] == 0.0f);

    g_autofree char *db = run_one_sample(snn);
    /* λ = 1 − dt/τ, V_th, the hard reset to v_reset, as the run logged them. */
    g_autofree char *p1 = oz_test_qs(db, "select group_concat(key || '=' || value, ' ') from "
                                         "(select * from parameters where owner = 'population "
                                         "lif1' and key in ('lambda', 'v_th', 'reset', 'v_reset') "
                                         "order by key)");
    cr_assert_str_eq(p1, "lambda=0.5 reset=hard v_reset=-2 v_th=1");
    g_autofree char *vth2 = oz_test_qs(db, "select value from parameters where owner = "
                                           "'population lif2' and key = 'v_th'");
    cr_assert_eq((float)g_ascii_strtod(vth2, NULL), 0.6f);
    /* lif1, I = W x + b = (0.875, 0.25 + 0.25, 0.75 + 0.5) = (0.875, 0.5, 1.25), u = v/2 + I:
     *   n0: .875, 1.3125 fires (v = −2), −1 + .875 = −.125, −.0625 + .875 = .8125: t = 1;
     *   n1: .5, .75, .875, .9375: never;
     *   n2: 1.25 fires (v = −2), −1 + 1.25 = .25, .125 + 1.25 = 1.375 fires, .25: t = 0, 2.
     * lif2, I = 0.5·(s0, s2), V_th 0.6, u = v/2 + I:
     *   n0: 0, .5, .25, .125: never;  n1: .5, .25, .125 + .5 = .625 fires at t = 2, 0. */
    g_autofree char *sp = test_spikes(db);
    cr_assert_str_eq(sp, "lif1:0:0:2 lif1:0:1:0 lif1:0:2:2 lif2:0:2:1");
    /* The spiking output layer classifies by spike counts: (0, 1) gives class 1. */
    g_autofree char *acc = test_accuracy(db);
    cr_assert_str_eq(acc, "1");
}

/* recurrent.nir is snn.nir with a recurrent Linear on lif1, 0.5 from neuron 2 onto neuron 1:
 * it reads the previous tick's spikes (a 1-tick delay).  Neuron 1 then gets 0.5 + 0.5·s2[t−1]:
 * u = .5, .25 + .5 + .5 = 1.25 fires (v = −2), −1 + .5 = −.5, −.25 + .5 + .5 = .75: one more
 * spike, at t = 1; nothing else changes.  Training it is refused. */
Test(nir, a_recurrent_linear_reads_the_previous_tick) {
    g_autofree char *out = NULL;
    cr_assert_eq(python(&out, "nir-files.py", dir, NULL, NULL, NULL, NULL), 0, "%s", out);
    g_autofree char *rec = g_build_filename(dir, "recurrent.nir", NULL);
    g_autofree char *db = run_one_sample(rec);
    g_autofree char *sp = test_spikes(db);
    cr_assert_str_eq(sp, "lif1:0:0:2 lif1:0:1:0 lif1:0:1:1 lif1:0:2:2 lif2:0:2:1");
    cr_assert_eq(oz_test_q(db, "select delay_ticks from projections where name = 'rec'"), 1);
    g_autofree char *text = g_strdup_printf(
        "[run]\nmode = train\nticks = 4\nthreads = 1\n[data]\ndir = %s\nclasses = 2\n"
        "[population in]\nsize = 36\n[network]\nfrom_nir = %s\n",
        dir, rec);
    g_autofree char *sc = oz_test_write_file(dir, "rt.ini", text);
    g_autofree char *tdb = g_build_filename(dir, "rt.sqlite", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", tdb, "--quiet", NULL), 2, "%s", err);
    cr_assert(strstr(err, "recurrent"), "%s", err);
}

/* A Sinabs-style file (tests/nir-files.py, sinabs()): IF layers shaped (C, H, W), a padded
 * Conv2d, a SumPool2d read by the next Conv2d, Flatten and a bias-free Affine into a
 * spiking output layer.  It imports as if, conv2d (with pool = sum) and dense projections
 * without biases, and runs for inference on 6×6 images. */
Test(nir, a_sinabs_style_conv_network_runs_for_inference) {
    g_autofree char *out = NULL;
    cr_assert_eq(python(&out, "nir-files.py", dir, NULL, NULL, NULL, NULL), 0, "%s", out);
    g_autofree char *text = g_strdup_printf("[run]\nticks = 4\nbatch_size = 16\nthreads = 1\n"
                                            "[data]\ndir = %s\nnormalize = false\n"
                                            "[record]\nspike_samples = 4\n"
                                            "[network]\nfrom_nir = %s/sinabs.nir\n",
                                            dir, dir);
    g_autofree char *sc = oz_test_write_file(dir, "sinabs.ini", text);
    g_autofree char *db = g_build_filename(dir, "sinabs.sqlite", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s", err);
    g_autofree char *pops = oz_test_qs(db, "select group_concat(name || ':' || model || ':' || "
                                           "shape, ' ') from (select * from populations order "
                                           "by name)");
    cr_assert_str_eq(pops, "1:if:2,6,6 4:if:4,2,2 7:if:10 input:input:1,6,6 out:readout:10");
    g_autofree char *kinds = oz_test_qs(db, "select group_concat(owner || '.' || key || '=' || "
                                            "value, ' ') from parameters where key in ('kernel', "
                                            "'padding', 'pool', 'pool_size', 'bias')");
    cr_assert_str_eq(kinds, "population 1.bias=false population 4.bias=false population "
                            "7.bias=false population out.bias=false projection 0.kernel=3 "
                            "projection 0.padding=1 projection 0.pool=none projection "
                            "0.pool_size=2 projection 3.kernel=2 projection 3.padding=0 "
                            "projection 3.pool=sum projection 3.pool_size=2");
    cr_assert(oz_test_q(db, "select count(*) from spikes where population = '1'") > 0,
              "the first layer spikes");
}

Test(nir, broken_files_exit_2_with_a_clear_message) {
    g_autofree char *out = NULL;
    cr_assert_eq(python(&out, "nir-files.py", dir, NULL, NULL, NULL, NULL), 0, "%s", out);
    const struct {
        const char *file, *needle, *needle2;
    } cases[] = {
        {"missing-type.nir", "node 'lif1' has no 'type'", NULL},
        {"unknown-node.nir", "lif1 (LI)", "thr (Threshold)"},
        {"bad-edge.nir", "names node 'ghost'", "fc1 -> ghost"},
        {"shape-mismatch.nir", "node 'fc1' (Affine): weight has shape (3, 5)", "(3, 4)"},
        {"not-hdf5.nir", "not an HDF5 file", NULL},
        {"absent.nir", "no such file", NULL},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strdup_printf("[run]\nticks = 4\nthreads = 1\n[data]\ndir = %s\n"
                                                "[network]\nfrom_nir = %s/%s\n",
                                                dir, dir, cases[i].file);
        g_autofree char *sc = oz_test_write_file(dir, "broken.ini", text);
        g_autofree char *db = g_build_filename(dir, "broken.sqlite", NULL);
        g_autofree char *err = NULL;
        cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 2, "%s: %s",
                     cases[i].file, err);
        cr_assert(strstr(err, cases[i].file), "names the file: %s", err);
        cr_assert(strstr(err, cases[i].needle), "%s: %s", cases[i].file, err);
        cr_assert(!cases[i].needle2 || strstr(err, cases[i].needle2), "%s: %s", cases[i].file, err);
        cr_assert(!g_file_test(db, G_FILE_TEST_EXISTS), "nothing started");
    }
}

Test(nir, a_spiking_output_layer_is_not_fine_tuned) {
    g_autofree char *out = NULL;
    cr_assert_eq(python(&out, "nir-files.py", dir, NULL, NULL, NULL, NULL), 0, "%s", out);
    g_autofree char *text = g_strdup_printf(
        "[run]\nmode = train\nticks = 4\nthreads = 1\n[data]\ndir = %s\nclasses = 2\n"
        "[population in]\nsize = 36\n[network]\nfrom_nir = %s/snn.nir\n",
        dir, dir);
    g_autofree char *sc = oz_test_write_file(dir, "ft.ini", text);
    g_autofree char *db = g_build_filename(dir, "ft.sqlite", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 2, "%s", err);
    cr_assert(strstr(err, "output layer spikes") && strstr(err, "not fine-tuned"), "%s", err);
}

Test(nir, an_imported_network_with_a_readout_fine_tunes_with_every_rule) {
    g_autofree char *sections = g_strdup_printf(dense_net, "hard", "hard");
    g_free(train_and_export(sections, "dfa"));
    const char *rules[] = {"bp", "dfa", "dkp", "zo", "opzo", "fa", "sign"};
    for (gsize i = 0; i < G_N_ELEMENTS(rules); i++) {
        g_autofree char *extra = g_strdup_printf("[rule]\nname = %s\n", rules[i]);
        g_autofree char *ierr = NULL;
        cr_assert_eq(run_imported("train", extra, &ierr), 0, "%s: %s", rules[i], ierr);
        g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
        cr_assert_eq(oz_test_q(b, "select count(*) from epochs where phase = 'train'"), 1, "%s",
                     rules[i]);
    }
}

Test(nir, export_of_a_log_without_checkpoints_exits_2) {
    g_autofree char *sections = g_strdup_printf(dense_net, "hard", "hard");
    g_autofree char *text =
        g_strdup_printf("[run]\nticks = 4\nthreads = 1\n[data]\ndir = %s\n%s", dir, sections);
    g_autofree char *sc = oz_test_write_file(dir, "inf.ini", text);
    g_autofree char *db = g_build_filename(dir, "inf.sqlite", NULL);
    g_autofree char *nir = g_build_filename(dir, "x.nir", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s", err);
    g_autofree char *err2 = NULL;
    cr_assert_eq(oz_test_run(&err2, "export", db, "--format", "nir", "--out", nir, NULL), 2, "%s",
                 err2);
    cr_assert(strstr(err2, "no checkpoint"), "%s", err2);
}

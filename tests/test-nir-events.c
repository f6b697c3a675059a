/* NIR and event input (docs/INTEROP.md, docs/EVENTS.md): a network trained on real N-MNIST
 * recordings (tests/data/nmnist-small) exports with an Input node of its shape whose metadata
 * says how the events were binned, and comes back through [network] from_nir as the spike
 * input, running its test phase spike for spike as the original; the importer takes the
 * spike input for a file's Input where the node's metadata or the scenario names it, the
 * image input otherwise; a file written by h5py alone (tests/nir-files.py, events.nir:
 * Input (2, 34, 34) → Flatten → Affine → LIF → Affine → Output) runs on a real recording as
 * a dense reference computed here from the recording's events and the file's weights; sparse
 * projections export as Affines with zeros and come back as dense ones, exactly. */
#include "oz-test-util.h"

#include "io/oz-events.h"
#include "io/oz-nir.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(nir_events, .init = setup, .fini = teardown, .timeout = 300);

/* Runs tests/nir-files.py DIR (python3 with h5py), which writes events.nir among others. */
static void write_nir_files(void) {
    cr_assert(*OZ_PYTHON, "python3 with h5py was not found at configure time (python3-h5py)");
    g_autofree char *script = g_build_filename(OZ_SOURCE_DIR, "tests", "nir-files.py", NULL);
    const char *argv[] = {OZ_PYTHON, script, dir, NULL};
    int status = -1;
    g_autofree char *so = NULL, *se = NULL;
    g_autoptr(GError) err = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se,
                           &status, &err),
              "%s", err ? err->message : "");
    cr_assert(g_spawn_check_wait_status(status, NULL), "nir-files.py: %s%s", so, se);
}

/* [data] over the real recordings: 20 for training, 10 for testing, and more keys. */
static char *real_data(const char *more) {
    return g_strdup_printf("[data]\ndataset = nmnist\ndir = %s/nmnist-small\n"
                           "train_list = train20.txt\ntest_list = test10.txt\n%s",
                           OZ_TEST_DATA_DIR, more);
}

/* The test phase's accuracy (all 17 digits) and every recorded spike, as text. */
static char *test_accuracy(const char *db) {
    return oz_test_qs(db, "select printf('%.17g', accuracy) from epochs where phase = 'test' "
                          "order by epoch desc limit 1");
}

static char *test_spikes(const char *db) {
    return oz_test_qs(db, "select group_concat(population || ':' || sample || ':' || tick || ':' "
                          "|| neuron, ' ') from (select * from spikes where phase = 'test' order "
                          "by population, sample, tick, neuron)");
}

static const OzNirField *meta(const GPtrArray *m, const char *name) {
    const OzNirField *f = oz_nir_field_find(m, name);
    cr_assert(f, "metadata %s", name);
    return f;
}

/* A network with a counts-mode, time-binned event input trains briefly on 20 real
 * recordings, exports (the Input node: its shape and the binning in its metadata), and the
 * file run with [network] from_nir and the same data, no [population] section, classifies
 * the 10 test recordings with the same accuracy and the same spikes, input ones included;
 * the scenario's model = input wins over the metadata (and is refused by the data check). */
Test(nir_events, an_event_network_exports_its_binning_and_comes_back_spike_for_spike) {
    g_autofree char *data = real_data("bin = time\nbin_us = 4000\nvalues = counts\n");
    g_autofree char *train =
        g_strdup_printf("[run]\nmode = train\nticks = 6\nbatch_size = 10\nthreads = 1\n%s"
                        "[population in]\nmodel = events\nshape = 2,34,34\n"
                        "[population h]\nmodel = lif\nsize = 32\nreset = hard\n"
                        "[population out]\nmodel = readout\nsize = 10\n"
                        "[projection in_h]\nfrom = in\nto = h\ninit_scale = 6\n"
                        "[projection h_out]\nfrom = h\nto = out\n"
                        "[rule]\nname = dfa\n[record]\nspike_samples = 10\n",
                        data);
    g_autofree char *sa = oz_test_write_file(dir, "a.ini", train);
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *nir = g_build_filename(dir, "net.nir", NULL);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sa, "--db", a, "--quiet", NULL), 0, "%s", err);
    g_free(err);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "export", a, "--format", "nir", "--out", nir, NULL), 0, "%s",
                 err);
    cr_assert_null(strstr(err ? err : "", "warning"), "a hard reset loses nothing: %s", err);
    g_free(err);

    /* The file: an Input of the population's shape, what to feed in its metadata, nothing
     * folded (events have no normalisation). */
    g_autoptr(GError) error = NULL;
    g_autoptr(OzNirGraph) g = oz_nir_read(nir, &error);
    cr_assert(g, "%s", error ? error->message : "");
    const OzNirNode *in = oz_nir_node_find(g, "input");
    cr_assert(in && strcmp(in->type, "Input") == 0);
    const OzNirField *shape = oz_nir_field_find(in->fields, "shape");
    cr_assert(shape && shape->n == 3 && shape->v[0] == 2 && shape->v[1] == 34 && shape->v[2] == 34);
    cr_assert_str_eq(oz_nir_meta_text(in->meta, "opzosim_model"), "events");
    cr_assert_str_eq(oz_nir_meta_text(in->meta, "opzosim_dataset"), "nmnist");
    cr_assert_str_eq(oz_nir_meta_text(in->meta, "opzosim_bin"), "time");
    cr_assert_str_eq(oz_nir_meta_text(in->meta, "opzosim_values"), "counts");
    cr_assert_str_eq(oz_nir_meta_text(in->meta, "opzosim_stabilise"), "false");
    cr_assert_eq(meta(in->meta, "opzosim_bin_us")->v[0], 4000.0);
    cr_assert_eq(meta(in->meta, "opzosim_T")->v[0], 6.0);
    cr_assert(strstr(oz_nir_meta_text(in->meta, "opzosim_feed"), "binned events"));
    cr_assert_str_eq(oz_nir_meta_text(g->meta, "opzosim_encoding"), "events");
    cr_assert(strstr(oz_nir_meta_text(g->meta, "opzosim_input_scale"), "binned events"));
    cr_assert_eq(meta(g->meta, "opzosim_normalize")->v[0], 0.0);
    const OzNirNode *w = oz_nir_node_find(g, "in_h");
    cr_assert(w && strcmp(w->type, "Affine") == 0);
    cr_assert_null(oz_nir_field_find(w->meta, "opzosim_weight"), "nothing folded");

    /* Back in through the scenario: the input is the spike input again. */
    g_autofree char *infer =
        g_strdup_printf("[run]\nticks = 6\nbatch_size = 10\nthreads = 1\n%s"
                        "[record]\nspike_samples = 10\n[network]\nfrom_nir = %s\n",
                        data, nir);
    g_autofree char *sb = oz_test_write_file(dir, "b.ini", infer);
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sb, "--db", b, "--quiet", NULL), 0, "%s", err);
    g_free(err);
    g_autofree char *model = oz_test_qs(b, "select model from populations where name = 'in'");
    cr_assert_str_eq(model, "events");
    g_autofree char *acc_a = test_accuracy(a), *acc_b = test_accuracy(b);
    g_autofree char *sp_a = test_spikes(a), *sp_b = test_spikes(b);
    cr_assert_str_eq(acc_b, acc_a, "accuracy after the round trip");
    cr_assert(sp_a && strstr(sp_a, "in:") && strstr(sp_a, "h:"), "input and hidden spikes");
    cr_assert_str_eq(sp_b, sp_a, "the imported network spikes as the original did");

    /* The scenario's model wins over the metadata: the image input, with an encoding of its
     * own (not the file's `events`), refused by the data check, not by the scenario's keys. */
    g_autofree char *as_images = g_strconcat(infer, "[population in]\nmodel = input\n", NULL);
    g_autofree char *sc = oz_test_write_file(dir, "c.ini", as_images);
    g_autofree char *c = g_build_filename(dir, "c.sqlite", NULL);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", c, "--quiet", NULL), 2, "%s", err);
    cr_assert(strstr(err, "c.ini: [population in] model: input does not take the samples"), "%s",
              err);
    g_free(err);
}

/* The section the import makes of population NAME (up to the next section).  (transfer
 * full) */
static char *section_of(const char *sections, const char *name) {
    g_autofree char *head = g_strdup_printf("[population %s]\n", name);
    const char *s = strstr(sections, head);
    cr_assert(s, "no %s in:\n%s", head, sections);
    const char *end = strstr(s + 1, "\n[");
    return end ? g_strndup(s, (gsize)(end - s)) : g_strdup(s);
}

/* A file's Input without this project's metadata is the image input, unless the scenario
 * names the spike input: then the events model reads the node (no image encoding key), and
 * without it the run on event data is refused naming the model (exit 2). */
Test(nir_events, the_scenario_or_the_metadata_chooses_the_spike_input_for_an_input_node) {
    write_nir_files();
    g_autofree char *file = g_build_filename(dir, "events.nir", NULL);
    g_autofree char *plain = NULL;
    g_autoptr(GError) error = NULL;
    cr_assert(oz_nir_import_given(file, 1e-4, FALSE, NULL, &plain, NULL, &error), "%s",
              error ? error->message : "");
    g_autofree char *in_plain = section_of(plain, "input");
    cr_assert(strstr(in_plain, "model = input\n") && strstr(in_plain, "shape = 2,34,34\n"), "%s",
              in_plain);

    g_autoptr(GKeyFile) given = g_key_file_new();
    g_key_file_set_value(given, "population input", "model", "events");
    g_autofree char *named = NULL;
    cr_assert(oz_nir_import_given(file, 1e-4, FALSE, given, &named, NULL, &error), "%s",
              error ? error->message : "");
    g_autofree char *in_named = section_of(named, "input");
    cr_assert(strstr(in_named, "model = events\n") && strstr(in_named, "shape = 2,34,34\n"), "%s",
              in_named);
    cr_assert_null(strstr(in_named, "encoding"), "the spike input has no encoding: %s", in_named);

    /* Through the program, without the scenario's model: the image input, refused. */
    g_autofree char *data = real_data("test_limit = 1\n");
    g_autofree char *text = g_strdup_printf("[run]\nticks = 4\nbatch_size = 1\nthreads = 1\n%s"
                                            "[network]\nfrom_nir = %s\n",
                                            data, file);
    g_autofree char *sc = oz_test_write_file(dir, "plain.ini", text);
    g_autofree char *db = g_build_filename(dir, "plain.sqlite", NULL);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 2, "%s", err);
    cr_assert(strstr(err, "plain.ini: [population input] model: input does not take the "
                          "samples of [data] dataset = nmnist"),
              "%s", err);
    g_free(err);
}

/* events.nir (h5py, no metadata of this project) run with [population input] model = events
 * on the first test recording (60001.bs2; 10 ms bins from t = 0, binary, T = 4: it has few
 * events in its first 12 ms).  The reference: the recording read and binned here (cell
 * p·34·34 + y·34 + x for ⌊t/10000⌋ = tick), I = W x + b with the file's weights (k/8: exact
 * sums in any order), the LIF u = v/2 + I, a spike at u ≥ 1, hard reset to 0.  Every input
 * and hidden spike of the four ticks must be the reference's. */
Test(nir_events, a_foreign_event_network_spikes_as_a_dense_reference_on_a_real_recording) {
    write_nir_files();
    g_autofree char *file = g_build_filename(dir, "events.nir", NULL);
    enum { T = 4, N_IN = 2 * 34 * 34, N_H = 8 };
    g_autofree char *data = real_data("test_limit = 1\nbin = time\nbin_us = 10000\n");
    g_autofree char *text = g_strdup_printf("[run]\nticks = %d\nbatch_size = 1\nthreads = 1\n%s"
                                            "[record]\nspike_samples = 1\n"
                                            "[population input]\nmodel = events\n"
                                            "[network]\nfrom_nir = %s\n",
                                            T, data, file);
    g_autofree char *sc = oz_test_write_file(dir, "foreign.ini", text);
    g_autofree char *db = g_build_filename(dir, "foreign.sqlite", NULL);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s", err);
    g_free(err);

    /* The reference, from the recording and the file. */
    g_autoptr(GError) error = NULL;
    g_autofree char *rec = g_build_filename(OZ_TEST_DATA_DIR, "nmnist-small", "60001.bs2", NULL);
    OzEventStream s = {0};
    cr_assert(oz_nmnist_read_file(rec, &s, &error), "%s", error ? error->message : "");
    static float x[T][N_IN];
    memset(x, 0, sizeof x);
    for (gsize k = 0; k < s.n; k++) {
        gint64 tick = s.ev[k].t / 10000;
        if (s.ev[k].t >= 0 && tick < T)
            x[tick][s.ev[k].p * 34 * 34 + s.ev[k].y * 34 + s.ev[k].x] = 1.0f;
    }
    oz_event_stream_clear(&s);
    g_autoptr(OzNirGraph) g = oz_nir_read(file, &error);
    cr_assert(g, "%s", error ? error->message : "");
    const OzNirNode *fc1 = oz_nir_node_find(g, "fc1");
    const OzNirField *wf = oz_nir_field_find(fc1->fields, "weight");
    const OzNirField *bf = oz_nir_field_find(fc1->fields, "bias");
    cr_assert(wf && wf->n == (gsize)N_H * N_IN && bf && bf->n == N_H);
    g_autoptr(GString) want = g_string_new(NULL);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < N_IN; i++)
            if (x[t][i] != 0.0f)
                g_string_append_printf(want, "%sinput:0:%d:%d", want->len ? " " : "", t, i);
    gsize input_spikes = want->len;
    /* Spikes are listed by population, then tick, then neuron. */
    float v[N_H] = {0};
    int hidden = 0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < N_H; j++) {
            float current = (float)bf->v[j];
            for (int i = 0; i < N_IN; i++)
                current += (float)wf->v[(gsize)j * N_IN + i] * x[t][i];
            float u = 0.5f * v[j] + current;
            if (u >= 1.0f) {
                g_string_append_printf(want, " lif1:0:%d:%d", t, j);
                hidden++;
            }
            v[j] = u >= 1.0f ? 0.0f : u;
        }
    cr_assert(input_spikes > 0, "the recording has events in the first 40 ms");
    cr_assert(hidden > 0 && hidden < T * N_H, "the reference spikes sometimes: %d of %d", hidden,
              T * N_H);
    g_autofree char *got = test_spikes(db);
    cr_assert_str_eq(got, want->str);
}

/* Sparse projections (fixed_indegree and pairwise) export as the Affine of their dense
 * equivalent, absent synapses zero: as many non-zero weights as synapses, and the file run
 * as dense projections classifies the test recordings with the same accuracy and spikes.
 * Exactly, because both deliver each spike as its row added in spike order ([run] delivery
 * = event for the dense kind; an absent synapse adds a zero, which changes no sum) with
 * binary frames (1·w is w); an sgemm delivery would round differently. */
Test(nir_events, sparse_projections_export_as_affines_with_zeros_and_come_back_exactly) {
    g_autofree char *data = real_data("");
    g_autofree char *train = g_strdup_printf(
        "[run]\nmode = train\nticks = 6\nbatch_size = 10\nthreads = 1\ndelivery = event\n%s"
        "[population in]\nmodel = events\nshape = 2,34,34\n"
        "[population h1]\nmodel = lif\nsize = 48\nreset = hard\n"
        "[population h2]\nmodel = lif\nsize = 24\nreset = hard\n"
        "[population out]\nmodel = readout\nsize = 10\n"
        "[projection in_h1]\nfrom = in\nto = h1\nkind = sparse\nconnectivity = pairwise\n"
        "p = 0.1\ninit_scale = 6\n"
        "[projection h1_h2]\nfrom = h1\nto = h2\nkind = sparse\nindegree = 8\ninit_scale = 3\n"
        "[projection h2_out]\nfrom = h2\nto = out\n"
        "[rule]\nname = dfa\n[record]\nspike_samples = 10\n",
        data);
    g_autofree char *sa = oz_test_write_file(dir, "sparse.ini", train);
    g_autofree char *a = g_build_filename(dir, "sparse.sqlite", NULL);
    g_autofree char *nir = g_build_filename(dir, "sparse.nir", NULL);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sa, "--db", a, "--quiet", NULL), 0, "%s", err);
    g_free(err);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "export", a, "--format", "nir", "--out", nir, NULL), 0, "%s",
                 err);
    g_free(err);

    g_autoptr(GError) error = NULL;
    g_autoptr(OzNirGraph) g = oz_nir_read(nir, &error);
    cr_assert(g, "%s", error ? error->message : "");
    const char *names[2] = {"in_h1", "h1_h2"};
    const int shape[2][2] = {{48, 2 * 34 * 34}, {24, 48}};
    for (int k = 0; k < 2; k++) {
        const OzNirNode *n = oz_nir_node_find(g, names[k]);
        cr_assert(n && strcmp(n->type, "Affine") == 0, "%s", names[k]);
        const OzNirField *w = oz_nir_field_find(n->fields, "weight");
        cr_assert(w && w->rank == 2 && (int)w->dims[0] == shape[k][0] &&
                      (int)w->dims[1] == shape[k][1],
                  "%s: (out, in)", names[k]);
        gsize nonzero = 0;
        for (gsize i = 0; i < w->n; i++)
            nonzero += w->v[i] != 0.0;
        g_autofree char *sql = g_strdup_printf(
            "select length(data) / 4 from checkpoints where name = 'w:%s'", names[k]);
        gint64 synapses = oz_test_q(a, sql);
        cr_assert_eq((gint64)nonzero, synapses, "%s: one non-zero weight per synapse", names[k]);
        cr_assert_lt(synapses, (gint64)w->n / 4, "%s is sparse", names[k]);
    }

    g_autofree char *infer =
        g_strdup_printf("[run]\nticks = 6\nbatch_size = 10\nthreads = 1\ndelivery = event\n%s"
                        "[record]\nspike_samples = 10\n[network]\nfrom_nir = %s\n",
                        data, nir);
    g_autofree char *sb = oz_test_write_file(dir, "sparse-b.ini", infer);
    g_autofree char *b = g_build_filename(dir, "sparse-b.sqlite", NULL);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sb, "--db", b, "--quiet", NULL), 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(b, "select count(*) from parameters where owner = 'projection "
                              "h1_h2' and key = 'connectivity'"),
                 0, "the imported projection is dense");
    g_autofree char *acc_a = test_accuracy(a), *acc_b = test_accuracy(b);
    g_autofree char *sp_a = test_spikes(a), *sp_b = test_spikes(b);
    cr_assert_str_eq(acc_b, acc_a, "accuracy after the round trip");
    cr_assert(sp_a && strstr(sp_a, "h1:") && strstr(sp_a, "h2:"), "hidden spikes");
    cr_assert_str_eq(sp_b, sp_a, "the dense import spikes as the sparse original did");
}

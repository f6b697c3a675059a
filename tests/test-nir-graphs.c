/* NIR: nested graphs on import, and the export of what a network delivers.  A file whose
 * hidden layer is a nested graph (tests/nir-files.py, nested.nir) runs as the flat file
 * does, spike for spike; a trained network with scaled weight standardisation and an
 * output scale exports its effective weights s·Ŵ (checked against sWS recomputed here in
 * double from the checkpoint's raw W and γ), and the plain network imported from the file
 * runs the original's test phase spike for spike. */
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

TestSuite(nir_graphs, .init = setup, .fini = teardown, .timeout = 240);

static const char *const spikes_sql =
    "select group_concat(population || ':' || sample || ':' || tick || ':' || neuron, ' ') "
    "from (select * from spikes where phase = 'test' order by population, sample, tick, "
    "neuron)";
static const char *const accuracy_sql =
    "select printf('%.17g', accuracy) from epochs where phase = 'test'";

/* Runs scenario text into DIR/NAME.sqlite; returns the log's path (transfer full). */
static char *run(const char *name, const char *text) {
    g_autofree char *ini = g_strconcat(name, ".ini", NULL);
    g_autofree char *sc = oz_test_write_file(dir, ini, text);
    g_autofree char *dbn = g_strconcat(name, ".sqlite", NULL);
    char *db = g_build_filename(dir, dbn, NULL);
    g_remove(db);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", sc, "--db", db, "--quiet", NULL), 0, "%s: %s", name, err);
    return db;
}

/* snn.nir and nested.nir (the same network with lif1 inside a NIRGraph `lif1` holding
 * input, lif, output) on the same eight test samples: the nested layer is population
 * lif1_lif, and every spike and the accuracy are the flat file's. */
Test(nir_graphs, a_nested_hidden_layer_runs_as_the_flat_file) {
    cr_assert(*OZ_PYTHON, "python3 with h5py was not found at configure time (python3-h5py)");
    g_autofree char *script = g_build_filename(OZ_SOURCE_DIR, "tests", "nir-files.py", NULL);
    const char *argv[] = {OZ_PYTHON, script, dir, NULL};
    int status = -1;
    g_autofree char *out = NULL, *perr = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &perr,
                           &status, NULL));
    cr_assert(g_spawn_check_wait_status(status, NULL), "nir-files.py: %s", perr);
    /* Eight 2×2 images: the files' input has 4 neurons. */
    g_autofree char *d4 = g_build_filename(dir, "d4", NULL);
    g_mkdir(d4, 0700);
    oz_test_write_dataset(d4, 8, 8, 2, 2, 2);
    char *db[2];
    const char *files[2] = {"snn.nir", "nested.nir"};
    for (int k = 0; k < 2; k++) {
        g_autofree char *text = g_strdup_printf(
            "[run]\nticks = 4\nbatch_size = 8\nthreads = 1\n[data]\ndir = %s\nclasses = 2\n"
            "normalize = false\n[record]\nspike_samples = 8\n[network]\nfrom_nir = %s/%s\n",
            d4, dir, files[k]);
        db[k] = run(k ? "nested" : "flat", text);
    }
    g_autofree char *pops = oz_test_qs(db[1], "select group_concat(name || ':' || model, ' ') "
                                              "from populations");
    cr_assert_str_eq(pops, "input:input lif1_lif:lif lif2:lif out:readout");
    g_autofree char *flat = oz_test_qs(db[0], spikes_sql);
    g_autofree char *nested = oz_test_qs(db[1], spikes_sql);
    cr_assert(flat && strstr(flat, "lif1:"), "the flat network's hidden layer spikes: %s", flat);
    g_autoptr(GString) renamed = g_string_new(nested);
    g_string_replace(renamed, "lif1_lif:", "lif1:", 0);
    cr_assert_str_eq(renamed->str, flat);
    g_autofree char *acc0 = oz_test_qs(db[0], accuracy_sql);
    g_autofree char *acc1 = oz_test_qs(db[1], accuracy_sql);
    cr_assert_str_eq(acc1, acc0);
    g_free(db[0]);
    g_free(db[1]);
}

/* The checkpoint's float32 tensor name of run 1's last epoch.  (transfer full) */
static float *tensor(const char *db, const char *name, gsize *n) {
    g_autofree char *sql = g_strdup_printf(
        "select data from checkpoints where name = '%s' order by epoch desc limit 1", name);
    g_autoptr(GBytes) b = oz_test_blob(db, sql);
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(b, &len);
    *n = len / 4;
    float *v = g_new(float, MAX(*n, 1));
    memcpy(v, p, len); /* little-endian, as this host */
    return v;
}

static const char *const sws_net =
    "[population in]\nmodel = input\nshape = 1,6,6\n"
    "[population c]\nmodel = lif\nshape = 4,5,5\nreset = hard\noutput_scale = 2.74\n"
    "[population h]\nmodel = lif\nsize = 12\nreset = hard\noutput_scale = 2.74\n"
    "[population out]\nmodel = readout\nsize = 10\n"
    "[projection conv]\nfrom = in\nto = c\nkind = conv2d\nkernel = 2\ninit_scale = 4\n"
    "weight_standardization = true\n"
    "[projection c_h]\nfrom = c\nto = h\nweight_standardization = true\n"
    "[projection h_out]\nfrom = h\nto = out\nweight_standardization = true\n";

/* A conv network with sWS on every projection and output_scale = 2.74 on both hidden
 * layers, trained briefly with bp, exports without refusal.  c_h's Affine holds
 * 2.74·Ŵᵀ, Ŵ_ij = γ_j (W_ij − μ_j)/sqrt(N σ_j² + 1e-4) over unit j's fan-in (column j of
 * W (n_pre, n_post), σ² unbiased), recomputed here in double from w:c_h and gamma:c_h.
 * The plain network imported from the file (no sWS, no output scale) runs the test phase
 * spike for spike with the same accuracy: its weights are the rounded products fl(s·Ŵ),
 * and the original's event delivery rounds s·Ŵ the same way before adding. */
Test(nir_graphs, sws_and_output_scale_export_their_effective_weights) {
    g_autofree char *text = g_strdup_printf(
        "[run]\nmode = train\nticks = 4\nbatch_size = 16\nthreads = 1\n[data]\ndir = %s\n"
        "normalize = true\n[rule]\nname = bp\n[record]\nspike_samples = 8\n%s",
        dir, sws_net);
    g_autofree char *a = run("sws", text);
    g_autofree char *nir = g_build_filename(dir, "sws.nir", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "export", a, "--format", "nir", "--out", nir, NULL), 0, "%s",
                 err);
    gsize nw = 0, ng = 0;
    g_autofree float *w = tensor(a, "w:c_h", &nw);
    g_autofree float *gamma = tensor(a, "gamma:c_h", &ng);
    const int n_pre = 100, n_post = 12;
    cr_assert_eq(nw, (gsize)n_pre * n_post);
    cr_assert_eq(ng, (gsize)n_post);
    g_autoptr(GError) error = NULL;
    g_autoptr(OzNirGraph) g = oz_nir_read(nir, &error);
    cr_assert_not_null(g, "%s", error ? error->message : "");
    const OzNirNode *aff = oz_nir_node_find(g, "c_h");
    cr_assert(aff && strcmp(aff->type, "Affine") == 0);
    const OzNirField *wf = oz_nir_field_find(aff->fields, "weight");
    cr_assert(wf && wf->rank == 2 && wf->dims[0] == (gsize)n_post && wf->dims[1] == (gsize)n_pre);
    for (int j = 0; j < n_post; j++) {
        double mu = 0, ss = 0;
        for (int i = 0; i < n_pre; i++)
            mu += w[i * n_post + j];
        mu /= n_pre;
        for (int i = 0; i < n_pre; i++)
            ss += (w[i * n_post + j] - mu) * (w[i * n_post + j] - mu);
        double s = sqrt(n_pre * (ss / (n_pre - 1)) + 1e-4);
        for (int i = 0; i < n_pre; i++) {
            double want = 2.74 * gamma[j] * (w[i * n_post + j] - mu) / s;
            double got = wf->v[(gsize)j * n_pre + i];
            cr_assert(fabs(got - want) <= 1e-5 * fmax(1.0, fabs(want)), "W[%d][%d]: %.9g, not %.9g",
                      j, i, got, want);
        }
    }
    g_autofree char *btext =
        g_strdup_printf("[run]\nticks = 4\nbatch_size = 16\nthreads = 1\n[data]\ndir = %s\n"
                        "[record]\nspike_samples = 8\n[network]\nfrom_nir = %s\n",
                        dir, nir);
    g_autofree char *b = run("swsb", btext);
    g_autofree char *ws = oz_test_qs(b, "select count(*) from parameters where key = "
                                        "'output_scale' and value != '1'");
    cr_assert_str_eq(ws, "0", "the imported network is plain");
    g_autofree char *sa = oz_test_qs(a, spikes_sql), *sb = oz_test_qs(b, spikes_sql);
    cr_assert(sa && strlen(sa) > 100, "the original spikes");
    cr_assert_str_eq(sb, sa);
    g_autofree char *aa = oz_test_qs(a, accuracy_sql), *ab = oz_test_qs(b, accuracy_sql);
    cr_assert_str_eq(ab, aa);
}

/* A kind the build does not have is not exportable: exit 2, naming the projection and its
 * kind, and no file.  (Every built-in kind has a NIR mapping, sparse included; the run's
 * scenario text names another kind.) */
Test(nir_graphs, a_kind_this_build_does_not_have_is_not_exportable_by_name) {
    g_autofree char *text = g_strdup_printf(
        "[run]\nmode = train\nticks = 4\nbatch_size = 16\nthreads = 1\n[data]\ndir = %s\n"
        "[rule]\nname = dfa\n[population in]\nmodel = input\nsize = 36\n"
        "[population h]\nmodel = lif\nsize = 20\n[population out]\nmodel = readout\nsize = 10\n"
        "[projection in_h]\nfrom = in\nto = h\nkind = sparse\nconnectivity = fixed_indegree\n"
        "indegree = 8\n[projection h_out]\nfrom = h\nto = out\n",
        dir);
    g_autofree char *db = run("sparse", text);
    cr_assert_eq(oz_test_exec(db, "update runs set scenario = replace(replace(scenario, "
                                  "'kind=sparse', 'kind=nosuch'), 'kind = sparse', "
                                  "'kind = nosuch')"),
                 1, "the run's scenario names another kind");
    g_autofree char *nir = g_build_filename(dir, "sparse.nir", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "export", db, "--format", "nir", "--out", nir, NULL), 2, "%s",
                 err);
    cr_assert(strstr(err, "projection in_h: kind nosuch is not a kind of this build"), "%s", err);
    cr_assert(!g_file_test(nir, G_FILE_TEST_EXISTS));
}

/* test-report.c — `opzosim plot`, `report` and `runs` on a run log the test makes: a sweep
 * of two rules (dfa, opzo) over the tiny data set, with gradient statistics and spike
 * samples recorded.  Each figure kind must be a valid PNG and SVG, its --data must hold
 * one series per run with the numbers SQL gives (the raster: one mark per recorded
 * spike), the report's numbers must equal SQL computed here (energies from the test's own
 * sums of the counters), and a missing run or an empty table must exit 2 without writing
 * a file. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

static char *dir;
static char *db;

static const char scenario_fmt[] = "[run]\nmode = train\nepochs = 2\nticks = 4\nbatch_size = 16\n"
                                   "threads = 1\n[data]\ndir = %s\n"
                                   "[record]\nspike_samples = 3\ngrad_stats = true\n"
                                   "grad_stats_every = 1\n"
                                   "[population in]\nmodel = input\nsize = 36\n"
                                   "[population h1]\nmodel = lif\nsize = 20\n"
                                   "[population h2]\nmodel = lif\nsize = 16\n"
                                   "[population out]\nmodel = readout\nsize = 10\n"
                                   "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                                   "[projection h1_h2]\nfrom = h1\nto = h2\ninit_scale = 3\n"
                                   "[projection h2_out]\nfrom = h2\nto = out\n";

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 40, 20, 6, 6, 10);
    g_autofree char *text = g_strdup_printf(scenario_fmt, dir);
    g_autofree char *scenario = oz_test_write_file(dir, "s.ini", text);
    db = g_build_filename(dir, "s.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "sweep", scenario, "--vary", "rule.name=dfa,opzo", "--db", db,
                             "--quiet", NULL),
                 0);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 2);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(db);
}

TestSuite(report, .init = setup, .fini = teardown);

/* The first column of sql's first row as a double (NAN for NULL or no row). */
static double qd(const char *path, const char *sql) {
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(h));
    double v = NAN;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

static void assert_close(double got, double want, const char *what) {
    cr_assert(isfinite(want), "%s: no value to compare with", what);
    cr_assert(fabs(got - want) <= 1e-9 * fabs(want) + 1e-300, "%s: %.17g, expected %.17g", what,
              got, want);
}

/* A CSV file as rows of fields (quotes removed, "" inside quotes read as "). */
static GPtrArray *read_csv(const char *path) {
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(path, &text, NULL, NULL), "%s was written", path);
    GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!**l)
            continue;
        GPtrArray *f = g_ptr_array_new();
        GString *cur = g_string_new(NULL);
        gboolean quoted = FALSE;
        for (const char *c = *l;; c++) {
            if (quoted && *c == '"' && c[1] == '"') {
                g_string_append_c(cur, '"');
                c++;
            } else if (*c == '"') {
                quoted = !quoted;
            } else if ((*c == ',' && !quoted) || !*c) {
                g_ptr_array_add(f, g_string_free(cur, FALSE));
                cur = g_string_new(NULL);
                if (!*c)
                    break;
            } else {
                g_string_append_c(cur, *c);
            }
        }
        g_string_free(cur, TRUE);
        g_ptr_array_add(f, NULL);
        g_ptr_array_add(rows, g_ptr_array_free(f, FALSE));
    }
    return rows;
}

/* Runs `plot DB ARGS... --what kind --out out [--data csv]` and returns the exit code. */
static int plot(const char *kind, const char *out, const char *csv, const char *const *extra,
                char **err) {
    g_autoptr(GPtrArray) args = oz_test_args_new("plot", db, "--what", kind, "--out", out, NULL);
    if (csv)
        oz_test_args_add(args, "--data", csv, NULL);
    oz_test_args_addv(args, extra ? extra : (const char *const[]){NULL});
    return oz_test_runv(oz_test_args_end(args), err);
}

static const char *const kinds[] = {"curves", "raster", "rates", "energy", "grad", "ops"};

/* Checks the PNG signature and that the IHDR chunk comes first with the figure's size. */
static void assert_png(const char *path, guint32 width, guint32 height) {
    g_autofree guint8 *b = NULL;
    gsize n = 0;
    cr_assert(g_file_get_contents(path, (char **)&b, &n, NULL), "%s exists", path);
    static const guint8 sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert(n > 33 && memcmp(b, sig, 8) == 0, "%s starts with the PNG signature", path);
    cr_assert(memcmp(b + 12, "IHDR", 4) == 0, "%s: IHDR first", path);
    guint32 w = (guint32)b[16] << 24 | (guint32)b[17] << 16 | (guint32)b[18] << 8 | b[19];
    guint32 h = (guint32)b[20] << 24 | (guint32)b[21] << 16 | (guint32)b[22] << 8 | b[23];
    cr_assert(w == width && h == height, "%s is %ux%u, expected %ux%u", path, w, h, width, height);
}

static void assert_svg(const char *path) {
    g_autofree char *s = NULL;
    cr_assert(g_file_get_contents(path, &s, NULL, NULL), "%s exists", path);
    cr_assert(g_str_has_prefix(s, "<?xml"), "%s starts with an XML declaration", path);
    cr_assert(strstr(s, "<svg") && strstr(s, "</svg>"), "%s holds an svg element", path);
}

Test(report, every_plot_kind_writes_a_valid_png_svg_and_pdf) {
    for (gsize k = 0; k < G_N_ELEMENTS(kinds); k++) {
        const char *const one[] = {"--run", "1", NULL};
        const char *const *extra = strcmp(kinds[k], "raster") == 0 ? one : NULL;
        g_autofree char *png = g_strdup_printf("%s/%s.png", dir, kinds[k]);
        g_autofree char *svg = g_strdup_printf("%s/%s.svg", dir, kinds[k]);
        g_autofree char *pdf = g_strdup_printf("%s/%s.pdf", dir, kinds[k]);
        char *err = NULL;
        cr_assert_eq(plot(kinds[k], png, NULL, extra, &err), 0, "%s: %s", kinds[k], err);
        g_free(err);
        assert_png(png, 1100, strcmp(kinds[k], "raster") == 0 ? 760 : 680);
        cr_assert_eq(plot(kinds[k], svg, NULL, extra, NULL), 0, "%s svg", kinds[k]);
        assert_svg(svg);
        cr_assert_eq(plot(kinds[k], pdf, NULL, extra, NULL), 0, "%s pdf", kinds[k]);
        g_autofree char *p = NULL;
        cr_assert(g_file_get_contents(pdf, &p, NULL, NULL) && g_str_has_prefix(p, "%PDF-"),
                  "%s is a PDF", pdf);
    }
}

/* Plots kind with --data and returns the CSV's rows after the header, checking the header
 * and that there is one series (run_id) per run of the log. */
static GPtrArray *plot_data(const char *kind, const char *const *extra, guint runs) {
    g_autofree char *png = g_strdup_printf("%s/%s.png", dir, kind);
    g_autofree char *csv = g_strdup_printf("%s/%s.csv", dir, kind);
    char *err = NULL;
    cr_assert_eq(plot(kind, png, csv, extra, &err), 0, "%s: %s", kind, err);
    g_free(err);
    GPtrArray *rows = read_csv(csv);
    cr_assert_gt(rows->len, 1, "%s: rows", kind);
    char **h = rows->pdata[0];
    g_autofree char *header = g_strjoinv(",", h);
    cr_assert_str_eq(header, "run_id,run,panel,series,x,y,note");
    g_ptr_array_remove_index(rows, 0);
    g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < rows->len; i++)
        g_hash_table_add(ids, ((char **)rows->pdata[i])[0]);
    cr_assert_eq(g_hash_table_size(ids), runs, "%s: one series per run", kind);
    return rows;
}

static double field(GPtrArray *rows, guint i, int col) {
    return g_ascii_strtod(((char **)rows->pdata[i])[col], NULL);
}

static const char *sfield(GPtrArray *rows, guint i, int col) {
    return ((char **)rows->pdata[i])[col];
}

Test(report, curves_data_holds_every_epoch_row_with_its_accuracy_and_loss) {
    g_autoptr(GPtrArray) rows = plot_data("curves", NULL, 2);
    /* Two runs × two epochs × two phases × (accuracy, loss). */
    cr_assert_eq(rows->len, 2 * 2 * 2 * 2);
    for (guint i = 0; i < rows->len; i++) {
        const char *panel = sfield(rows, i, 2), *phase = sfield(rows, i, 3);
        g_autofree char *sql = g_strdup_printf(
            "select %s from epochs where run_id = %s and epoch = %.0f and phase = '%s'",
            strcmp(panel, "accuracy") == 0 ? "100 * accuracy" : "loss", sfield(rows, i, 0),
            field(rows, i, 4), phase);
        assert_close(field(rows, i, 5), qd(db, sql), sql);
    }
}

/* The loss of a run that diverged is not finite: it cannot be drawn, so it is left out of
 * the figure and of --data, and the rest is drawn (PLplot would otherwise get an infinite
 * axis and warn). */
Test(report, a_value_that_is_not_finite_is_left_out_of_the_figure_and_its_data) {
    oz_test_exec(db, "update epochs set loss = 9e999 where run_id = 1 and epoch = 1 and "
                     "phase = 'train'");
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where loss > 1e308"), 1);
    g_autofree char *png = g_strdup_printf("%s/inf.png", dir);
    g_autofree char *csv = g_strdup_printf("%s/inf.csv", dir);
    char *err = NULL;
    cr_assert_eq(plot("curves", png, csv, NULL, &err), 0, "%s", err);
    cr_assert(!strstr(err, "PLPLOT"), "%s", err);
    g_free(err);
    assert_png(png, 1100, 680);
    g_autoptr(GPtrArray) rows = read_csv(csv);
    cr_assert_eq(rows->len, 1 + 2 * 2 * 2 * 2 - 1, "every point but the infinite loss");
    for (guint i = 1; i < rows->len; i++)
        cr_assert(isfinite(field(rows, i, 5)), "row %u: %s", i, sfield(rows, i, 5));
}

Test(report, raster_data_has_one_mark_per_recorded_spike_of_the_sample) {
    const char *const one[] = {"--run", "2", NULL};
    g_autoptr(GPtrArray) rows = plot_data("raster", one, 1);
    /* The default sample: the newest epoch's first recorded test sample. */
    gint64 want = oz_test_q(db, "select count(*) from spikes where run_id = 2 and phase = 'test'"
                                " and epoch = 1 and sample = 0");
    cr_assert_gt(want, 0);
    cr_assert_eq((gint64)rows->len, want, "%u marks, %" G_GINT64_FORMAT " spikes", rows->len, want);
    for (guint i = 0; i < rows->len; i++) {
        g_autofree char *sql = g_strdup_printf(
            "select count(*) from spikes where run_id = 2 and epoch = 1 and phase = 'test' and"
            " sample = 0 and population = '%s' and tick = %.0f and neuron = %.0f",
            sfield(rows, i, 2), field(rows, i, 4), field(rows, i, 5));
        cr_assert_eq(oz_test_q(db, sql), 1, "%s", sql);
    }
    /* Another sample by option. */
    const char *const other[] = {"--run", "2", "--sample", "2", "--epoch", "1", NULL};
    g_autoptr(GPtrArray) rows2 = plot_data("raster", other, 1);
    cr_assert_eq((gint64)rows2->len,
                 oz_test_q(db, "select count(*) from spikes where run_id = 2 and phase = 'test'"
                               " and epoch = 1 and sample = 2"));
}

Test(report, rates_data_equals_spikes_over_neuron_ticks) {
    g_autoptr(GPtrArray) rows = plot_data("rates", NULL, 2);
    cr_assert_eq((gint64)rows->len,
                 oz_test_q(db, "select count(*) from firing_rates where rate is not null"));
    for (guint i = 0; i < rows->len; i++) {
        /* series is "POP PHASE"; the rate computed here from the counts and the sizes. */
        g_auto(GStrv) s = g_strsplit(sfield(rows, i, 3), " ", 2);
        g_autofree char *sql = g_strdup_printf(
            "select 1.0 * f.spikes / (e.samples * e.ticks * p.size) from firing_rates f join"
            " epochs e using (run_id, epoch, phase) join populations p on p.run_id = f.run_id"
            " and p.name = f.population where f.run_id = %s and f.epoch = %.0f and f.phase ="
            " '%s' and f.population = '%s'",
            sfield(rows, i, 0), field(rows, i, 4), s[1], s[0]);
        assert_close(field(rows, i, 5), qd(db, sql), sql);
    }
}

/* Joules per sample of run, phase and model from the counters, with the model's energies
 * typed in here (docs/ENERGY.md's table), not read from the views. */
static double joules(gint64 run, const char *phase, double synop, double mac, double nu, double fb,
                     double upd) {
    g_autofree char *w = g_strdup_printf(
        "where run_id = %" G_GINT64_FORMAT " and phase = '%s' and epoch = 1", run, phase);
    g_autofree char *a = g_strdup_printf("select sum(synops) from synops %s", w);
    g_autofree char *b = g_strdup_printf("select sum(dense_macs) from synops %s", w);
    g_autofree char *c = g_strdup_printf("select sum(neuron_updates) from firing_rates %s", w);
    g_autofree char *d = g_strdup_printf("select sum(update_ops) from synops %s", w);
    g_autofree char *e = g_strdup_printf("select max(samples) from synops %s", w);
    g_autofree char *f = g_strdup_printf(
        "select sum(feedback_macs) from training_ops where run_id = %" G_GINT64_FORMAT
        " and epoch = 1",
        run);
    double pj = qd(db, a) * synop + qd(db, b) * mac + qd(db, c) * nu;
    if (strcmp(phase, "train") == 0)
        pj += qd(db, f) * fb + qd(db, d) * upd;
    return 1e-12 * pj / qd(db, e);
}

Test(report, energy_data_equals_the_counters_times_the_models_energies) {
    g_autoptr(GPtrArray) rows = plot_data("energy", NULL, 2);
    int checked = 0;
    for (guint i = 0; i < rows->len; i++) {
        gint64 run = g_ascii_strtoll(sfield(rows, i, 0), NULL, 10);
        gboolean train = g_str_has_prefix(sfield(rows, i, 2), "training");
        const char *model = sfield(rows, i, 3);
        const char *phase = train ? "train" : "test";
        double want = NAN;
        if (strcmp(model, "cmos45-fp32") == 0)
            want = joules(run, phase, 0.9, 4.6, 0, 4.6, 14.6);
        else if (strcmp(model, "loihi") == 0)
            want = joules(run, phase, 27.1, 0, 81, 0, 120);
        else if (strcmp(model, "cmos45-int8") == 0)
            want = joules(run, phase, 0.03, 0.23, 0, 0.23, 2.73);
        else
            continue;
        assert_close(field(rows, i, 5), want, model);
        /* Loihi has no MAC energy and the runs make dense MACs: marked. */
        cr_assert_eq(strcmp(model, "loihi") == 0, *sfield(rows, i, 6) != '\0', "%s note '%s'",
                     model, sfield(rows, i, 6));
        checked++;
    }
    cr_assert_eq(checked, 2 * 2 * 3, "three models, two phases, two runs");
}

Test(report, grad_data_equals_grad_stats) {
    g_autoptr(GPtrArray) rows = plot_data("grad", NULL, 2);
    cr_assert_eq((gint64)rows->len,
                 oz_test_q(db, "select count(cos_bp) + count(nullif(variance > 0, 0)) from"
                               " grad_stats"));
    for (guint i = 0; i < rows->len; i++) {
        g_autofree char *sql = g_strdup_printf(
            "select %s from grad_stats where run_id = %s and epoch = %.0f and projection = '%s'",
            g_str_has_prefix(sfield(rows, i, 2), "cosine") ? "cos_bp" : "variance",
            sfield(rows, i, 0), field(rows, i, 4), sfield(rows, i, 3));
        assert_close(field(rows, i, 5), qd(db, sql), sql);
    }
}

/* A panel without points — no variance, as when an epoch measured one batch — is drawn
 * empty (with a note) beside the others, instead of an axis over an empty range (which
 * hung PLplot's axis drawing). */
Test(report, grad_without_variance_draws_the_cosines_and_an_empty_panel) {
    oz_test_exec(db, "update grad_stats set variance = null");
    g_autoptr(GPtrArray) rows = plot_data("grad", NULL, 2);
    cr_assert_eq((gint64)rows->len, oz_test_q(db, "select count(cos_bp) from grad_stats"));
    for (guint i = 0; i < rows->len; i++)
        cr_assert(g_str_has_prefix(sfield(rows, i, 2), "cosine"), "%s", sfield(rows, i, 2));
    g_autofree char *png = g_strdup_printf("%s/grad.png", dir);
    assert_png(png, 1100, 680);
    g_autofree char *svg = g_strdup_printf("%s/grad.svg", dir);
    char *err = NULL;
    cr_assert_eq(plot("grad", svg, NULL, NULL, &err), 0, "%s", err);
    g_free(err);
    assert_svg(svg);
}

Test(report, ops_data_is_the_training_counts_per_sample_in_millions) {
    g_autoptr(GPtrArray) rows = plot_data("ops", NULL, 2);
    cr_assert_eq(rows->len, 2 * 4);
    for (guint i = 0; i < rows->len; i++) {
        const char *kind = sfield(rows, i, 3);
        const char *sum = strcmp(kind, "forward SynOps") == 0   ? "sum(synops)"
                          : strcmp(kind, "dense MACs") == 0     ? "sum(dense_macs)"
                          : strcmp(kind, "weight updates") == 0 ? "sum(update_ops)"
                                                                : NULL;
        g_autofree char *sql =
            sum ? g_strdup_printf("select %s / 40.0 from synops where run_id = %s and epoch = 1"
                                  " and phase = 'train'",
                                  sum, sfield(rows, i, 0))
                : g_strdup_printf("select sum(feedback_macs) / 40.0 from training_ops where"
                                  " run_id = %s and epoch = 1",
                                  sfield(rows, i, 0));
        assert_close(field(rows, i, 5) * 1e6, qd(db, sql), sql);
    }
}

/* Asserts that args exit 2 with want in standard error and leave no file at out. */
static void assert_refused(const char *const *args, const char *want, const char *out) {
    char *err = NULL;
    int rc = oz_test_runv(args, &err);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert(strstr(err, want), "wants '%s' in: %s", want, err);
    cr_assert(!g_file_test(out, G_FILE_TEST_EXISTS), "%s was not written", out);
    g_autofree char *folder = g_path_get_dirname(out);
    g_autoptr(GDir) d = g_dir_open(folder, 0, NULL);
    for (const char *n; (n = g_dir_read_name(d));)
        cr_assert(!strstr(n, ".tmp"), "no temporary file is left: %s", n);
    g_free(err);
}

Test(report, a_missing_run_or_an_empty_table_exits_2_and_writes_no_file) {
    g_autofree char *out = g_build_filename(dir, "f.png", NULL);
    g_autofree char *csv = g_build_filename(dir, "f.csv", NULL);
    assert_refused((const char *const[]){"plot", db, "--run", "nosuch", "--what", "curves", "--out",
                                         out, "--data", csv, NULL},
                   "has no run nosuch", out);
    assert_refused(
        (const char *const[]){"plot", db, "--run", "7", "--what", "curves", "--out", out, NULL},
        "has no run 7", out);
    assert_refused((const char *const[]){"plot", db, "--sweep", "nosuch", "--what", "curves",
                                         "--out", out, NULL},
                   "no run of a sweep tagged 'nosuch'", out);
    assert_refused((const char *const[]){"plot", db, "--run", "1", "--what", "raster", "--sample",
                                         "99", "--out", out, NULL},
                   "no recorded spikes", out);
    assert_refused((const char *const[]){"plot", db, "--what", "raster", "--out", out, NULL},
                   "draws one run", out);
    assert_refused((const char *const[]){"plot", db, "--what", "bars", "--out", out, NULL},
                   "expected curves, raster", out);
    g_autofree char *gif = g_build_filename(dir, "f.gif", NULL);
    assert_refused((const char *const[]){"plot", db, "--what", "curves", "--out", gif, NULL},
                   "must end in .png, .svg or .pdf", gif);
    /* An empty table: the log without its gradient statistics. */
    oz_test_exec(db, "delete from grad_stats");
    assert_refused(
        (const char *const[]){"plot", db, "--what", "grad", "--out", out, "--data", csv, NULL},
        "nothing to plot for --what grad: no gradient statistics", out);
    cr_assert(!g_file_test(csv, G_FILE_TEST_EXISTS));
    /* A file that is not a run log, and one that is not there. */
    g_autofree char *junk = oz_test_write_file(dir, "junk.sqlite", "not a database at all\n");
    assert_refused((const char *const[]){"plot", junk, "--what", "curves", "--out", out, NULL},
                   "is not a run log", out);
    assert_refused((const char *const[]){"report", "/nonexistent/x.sqlite", NULL},
                   "run log /nonexistent/x.sqlite: no such file", out);
}

/* The report as CSV: value of (table prefix, quantity, run id). */
static double report_value(GPtrArray *rows, const char *table, const char *quantity,
                           const char *run) {
    for (guint i = 1; i < rows->len; i++)
        if (g_str_has_prefix(sfield(rows, i, 0), table) &&
            strcmp(sfield(rows, i, 1), quantity) == 0 && strcmp(sfield(rows, i, 2), run) == 0)
            return field(rows, i, 4);
    cr_assert_fail("the report has no %s / %s for run %s", table, quantity, run);
    return NAN;
}

Test(report, report_numbers_equal_sql) {
    g_autofree char *out = g_build_filename(dir, "r.csv", NULL);
    cr_assert_eq(oz_test_run(NULL, "report", db, "--format", "csv", "--out", out, NULL), 0);
    g_autoptr(GPtrArray) rows = read_csv(out);
    const char *runs[] = {"1", "2"};
    for (int r = 0; r < 2; r++) {
        const char *id = runs[r];
        g_autofree char *acc = g_strdup_printf(
            "select 100 * accuracy from epochs where run_id = %s and phase = 'test' and epoch = 1",
            id);
        assert_close(report_value(rows, "Accuracy", "final test accuracy (%)", id), qd(db, acc),
                     "final");
        g_autofree char *best = g_strdup_printf(
            "select 100 * max(accuracy) from epochs where run_id = %s and phase = 'test'", id);
        assert_close(report_value(rows, "Accuracy", "best test accuracy (%)", id), qd(db, best),
                     "best");
        g_autofree char *secs = g_strdup_printf(
            "select (select seconds from epochs where run_id = %s and phase = 'train' and epoch"
            " = 0) / 2 + (select seconds from epochs where run_id = %s and phase = 'train' and"
            " epoch = 1) / 2",
            id, id);
        assert_close(report_value(rows, "Accuracy", "seconds per training epoch", id), qd(db, secs),
                     "seconds");
        /* Rates from the spike counts and the sizes (36-20-16-10, 4 ticks, 20 test samples). */
        g_autofree char *h1 = g_strdup_printf(
            "select spikes / (20.0 * 4 * 20) from firing_rates where run_id = %s and epoch = 1"
            " and phase = 'test' and population = 'h1'",
            id);
        assert_close(report_value(rows, "Firing rate", "h1 inference", id), qd(db, h1), "rate");
        /* SynOps of h1_h2 at inference = h1's transmitted spikes × 16 targets, per sample. */
        g_autofree char *syn = g_strdup_printf(
            "select spikes * 16 / 20.0 from firing_rates where run_id = %s and epoch = 1 and"
            " phase = 'test' and population = 'h1'",
            id);
        assert_close(report_value(rows, "SynOps", "h1_h2 inference SynOps", id), qd(db, syn),
                     "synops");
        /* in_h1's static input: 36 × 20 MACs once per sample. */
        assert_close(report_value(rows, "SynOps", "in_h1 inference dense MACs", id), 36 * 20,
                     "dense");
        g_autofree char *upd = g_strdup_printf(
            "select sum(update_ops) / 40.0 from synops where run_id = %s and epoch = 1 and phase"
            " = 'train'",
            id);
        assert_close(report_value(rows, "Training operations", "weight updates", id), qd(db, upd),
                     "updates");
        gint64 rid = r + 1;
        assert_close(report_value(rows, "Energy", "cmos45-fp32 inference", id),
                     joules(rid, "test", 0.9, 4.6, 0, 0, 0), "fp32 inference");
        assert_close(report_value(rows, "Energy", "cmos45-fp32 training", id),
                     joules(rid, "train", 0.9, 4.6, 0, 4.6, 14.6), "fp32 training");
    }
    /* Text and Markdown show the same numbers, rounded; Loihi is marked. */
    char *err = NULL;
    g_autofree char *md = g_build_filename(dir, "r.md", NULL);
    cr_assert_eq(oz_test_run(&err, "report", db, "--format", "markdown", "--out", md, NULL), 0,
                 "%s", err);
    g_free(err);
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(md, &text, NULL, NULL));
    g_autofree char *acc = g_strdup_printf(
        "%.4g", qd(db, "select 100 * accuracy from epochs where run_id = 2 and phase = 'test' and"
                       " epoch = 1"));
    cr_assert(strstr(text, "| final test accuracy (%)"), "%s", text);
    cr_assert(strstr(text, acc), "the accuracy %s is in: %s", acc, text);
    cr_assert(strstr(text, "| loihi inference"), "%s", text);
    cr_assert(strstr(text, "* the model has no energy"), "%s", text);
}

Test(report, html_report_is_one_page_with_tables_and_inline_svg_figures) {
    g_autofree char *out = g_build_filename(dir, "r.html", NULL);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "report", db, "--format", "html", "--out", out, NULL), 0, "%s",
                 err);
    g_free(err);
    g_autofree char *html = NULL;
    cr_assert(g_file_get_contents(out, &html, NULL, NULL));
    cr_assert(g_str_has_prefix(html, "<!DOCTYPE html>"));
    int svgs = 0, tables = 0;
    for (const char *p = html; (p = strstr(p, "<svg")); p++)
        svgs++;
    for (const char *p = html; (p = strstr(p, "<table>")); p++)
        tables++;
    /* curves, rates, energy, ops and grad (two runs: no raster). */
    cr_assert_eq(svgs, 5, "%d inline figures", svgs);
    cr_assert_eq(tables, 5, "%d tables", tables);
    cr_assert(!strstr(html, "<?xml"), "the figures' XML declarations are dropped");
    cr_assert(!strstr(html, "<img") && !strstr(html, "<link") && !strstr(html, "src="),
              "nothing is loaded from elsewhere");
}

Test(report, runs_lists_every_run_with_its_rule_status_and_best_accuracy) {
    g_autofree char *out = NULL;
    cr_assert_eq(oz_test_run_out(&out, NULL, "runs", db, NULL), 0);
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    cr_assert_eq(g_strv_length(lines), 4, "header, two runs, end: %s", out);
    const char *rules[] = {"dfa", "opzo"};
    for (int r = 0; r < 2; r++) {
        g_autofree char *best = g_strdup_printf(
            "%.2f%%", qd(db, r == 0 ? "select 100 * max(accuracy) from epochs where run_id = 1"
                                      " and phase = 'test'"
                                    : "select 100 * max(accuracy) from epochs where run_id = 2"
                                      " and phase = 'test'"));
        g_auto(GStrv) f = g_strsplit_set(lines[r + 1], " ", -1);
        g_autoptr(GPtrArray) words = g_ptr_array_new();
        for (char **w = f; *w; w++)
            if (**w)
                g_ptr_array_add(words, *w);
        cr_assert_geq(words->len, 8, "%s", lines[r + 1]);
        cr_assert_eq(g_ascii_strtoll(words->pdata[0], NULL, 10), r + 1);
        cr_assert_str_eq(words->pdata[1], "s");
        cr_assert_str_eq(words->pdata[2], rules[r]);
        cr_assert_str_eq(words->pdata[3], "finished");
        cr_assert_str_eq(words->pdata[4], "2");
        cr_assert_str_eq(words->pdata[5], best);
        cr_assert(strstr(lines[r + 1], rules[r]) && strstr(lines[r + 1], "s.ini@"), "sweep tag: %s",
                  lines[r + 1]);
    }
}

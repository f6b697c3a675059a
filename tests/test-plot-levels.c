/* test-plot-levels.c — `opzosim plot --what levels` (final test accuracy against a scenario
 * key, one line per group of runs) on a run log the test makes: a sweep of two rules (dfa,
 * opzo) over three levels of hardware.neuron_noise, a BP run given the exact chip, and a
 * deployment (the first dfa net tested on a noisy chip by `run --init-from` in infer mode).
 * The --data CSV must hold one point per run at the level it ran with and the accuracy SQL
 * gives for its last test epoch, the figures must be valid PNG and SVG, the line names must
 * leave out default values but the first key's, the deployment must be the point `eval`
 * prints, and a missing key, a non-numeric one, two runs in one cell and a selection with
 * no test phase must exit 2 without writing a figure. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

static char *dir;
static char *db;
static char *scenario;

static const char scenario_fmt[] = "[run]\nmode = train\nepochs = 2\nticks = 4\nbatch_size = 8\n"
                                   "threads = 1\n[data]\ndir = %s\n"
                                   "[population in]\nmodel = input\nsize = 36\n"
                                   "[population h1]\nmodel = lif\nsize = 20\n"
                                   "[population out]\nmodel = readout\nsize = 10\n"
                                   "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                                   "[projection h1_out]\nfrom = h1\nto = out\n"
                                   "[optimizer]\nlr = 0.02\n";

/* The runs: ids 1-6 the sweep (dfa, opzo at noise 0, 0.5, 1), 7 BP with the exact chip at
 * 0.5, 8 the deployment of run 1 at 0.5. */
static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 48, 30, 6, 6, 10);
    g_autofree char *text = g_strdup_printf(scenario_fmt, dir);
    scenario = oz_test_write_file(dir, "s.ini", text);
    db = g_build_filename(dir, "s.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "sweep", scenario, "--vary", "rule.name=dfa,opzo", "--vary",
                             "hardware.neuron_noise=0,0.5,1", "--db", db, "--quiet", NULL),
                 0);
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--set", "rule.name=bp", "--set",
                             "hardware.bp_model=exact", "--set", "hardware.neuron_noise=0.5",
                             "--db", db, "--quiet", NULL),
                 0);
    g_autofree char *from = g_strdup_printf("%s:1", db);
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--init-from", from, "--set", "run.mode=infer",
                             "--set", "rule.name=dfa", "--set", "hardware.neuron_noise=0.5",
                             "--db", db, "--quiet", NULL),
                 0);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 8);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(db);
    g_free(scenario);
}

TestSuite(plot_levels, .init = setup, .fini = teardown);

/* The --data CSV as rows of fields (quotes removed; the fields written here hold none). */
static GPtrArray *read_csv(const char *path) {
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(path, &text, NULL, NULL), "%s was written", path);
    GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        if (!**l)
            continue;
        char **f = g_strsplit(*l, ",", -1);
        for (char **c = f; *c; c++) {
            gsize n = strlen(*c);
            if (n >= 2 && (*c)[0] == '"' && (*c)[n - 1] == '"') {
                memmove(*c, *c + 1, n - 2);
                (*c)[n - 2] = '\0';
            }
        }
        g_ptr_array_add(rows, f);
    }
    return rows;
}

/* The first column of sql's first row as a double (the row must be there). */
static double qd(const char *path, const char *sql) {
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s has a row", sql);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* Runs `plot DB --what levels --out out [--data csv] EXTRA...` and returns the exit code. */
static int plot(const char *out, const char *csv, const char *const *extra, char **err) {
    g_autoptr(GPtrArray) args =
        oz_test_args_new("plot", db, "--what", "levels", "--out", out, NULL);
    if (csv)
        oz_test_args_add(args, "--data", csv, NULL);
    oz_test_args_addv(args, extra);
    return oz_test_runv(oz_test_args_end(args), err);
}

/* The column of the CSV header named name. */
static int column(GPtrArray *rows, const char *name) {
    char **head = rows->pdata[0];
    for (int i = 0; head[i]; i++)
        if (strcmp(head[i], name) == 0)
            return i;
    cr_assert_fail("the CSV has no column %s", name);
    return -1;
}

Test(plot_levels, the_data_has_one_point_per_run_at_its_level_with_its_last_test_accuracy) {
    /* The last epoch must matter: some run's test accuracy changed from epoch 0 to 1. */
    cr_assert_gt(oz_test_q(db, "select count(*) from epochs a join epochs b on a.run_id = b.run_id"
                               " and a.phase = 'test' and b.phase = 'test' and a.epoch = 0 and"
                               " b.epoch = 1 where a.accuracy != b.accuracy"),
                 0, "the test needs a run whose accuracy changed between its epochs");
    g_autofree char *png = g_build_filename(dir, "l.png", NULL);
    g_autofree char *svg = g_build_filename(dir, "l.svg", NULL);
    g_autofree char *csv = g_build_filename(dir, "l.csv", NULL);
    g_autofree char *err = NULL;
    const char *const x[] = {"--sweep", "s.ini@", "--x", "hardware.neuron_noise", NULL};
    cr_assert_eq(plot(png, csv, x, &err), 0, "%s", err);
    g_autoptr(GPtrArray) rows = read_csv(csv);
    cr_assert_eq(rows->len, 1 + 6, "one point per sweep run");
    int cid = column(rows, "run_id"), cs = column(rows, "series"), cx = column(rows, "x"),
        cy = column(rows, "y");
    const double levels[3] = {0, 0.5, 1};
    for (guint i = 1; i < rows->len; i++) {
        char **r = rows->pdata[i];
        /* The sweep ran dfa and opzo alternately at each level: ids 1..6. */
        gint64 id = g_ascii_strtoll(r[cid], NULL, 10);
        cr_assert(id >= 1 && id <= 6, "run %s is of the sweep", r[cid]);
        cr_assert_str_eq(r[cs], id % 2 ? "dfa" : "opzo", "run %" G_GINT64_FORMAT "'s line", id);
        /* Lines in the order of their names, points by x: dfa's three, then opzo's. */
        guint k = (i - 1) % 3;
        cr_assert_str_eq(r[cs], i <= 3 ? "dfa" : "opzo", "row %u's line", i);
        cr_assert_eq(g_ascii_strtod(r[cx], NULL), levels[k], "row %u: x %s", i, r[cx]);
        cr_assert_eq(g_ascii_strtod(r[cx], NULL), levels[(id - 1) / 2], "run %" G_GINT64_FORMAT,
                     id);
        g_autofree char *sql = g_strdup_printf("select accuracy from epochs where run_id = %"
                                               G_GINT64_FORMAT " and phase = 'test' order by"
                                               " epoch desc limit 1",
                                               id);
        double want = 100.0 * qd(db, sql);
        cr_assert_eq(g_ascii_strtod(r[cy], NULL), want, "run %" G_GINT64_FORMAT ": y %s, SQL %.17g",
                     id, r[cy], want);
    }
    /* The lines are in name order, not in the order of the runs: opzo's runs 2, 4 and 6
     * ran before bp's run 7, yet bp's line comes first (the same colour in every figure
     * of the same lines). */
    g_autofree char *csv2 = g_build_filename(dir, "l2.csv", NULL);
    const char *const x2[] = {"--run", "2",     "--run", "4",   "--run",
                              "6",     "--run", "7",     "--x", "hardware.neuron_noise",
                              NULL};
    g_clear_pointer(&err, g_free);
    cr_assert_eq(plot(png, csv2, x2, &err), 0, "%s", err);
    g_autoptr(GPtrArray) rows2 = read_csv(csv2);
    cr_assert_eq(rows2->len, 1 + 4);
    for (guint i = 1; i < rows2->len; i++)
        cr_assert_str_eq(((char **)rows2->pdata[i])[cs], i == 1 ? "bp" : "opzo", "row %u", i);
    /* The figure: a PNG by its signature, and an SVG of the same points. */
    g_autofree guint8 *b = NULL;
    gsize n = 0;
    cr_assert(g_file_get_contents(png, (char **)&b, &n, NULL));
    static const guint8 sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    cr_assert(n > 1000 && memcmp(b, sig, 8) == 0, "%s is a PNG", png);
    g_clear_pointer(&err, g_free);
    cr_assert_eq(plot(svg, NULL, x, &err), 0, "%s", err);
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(svg, &text, NULL, NULL));
    cr_assert(strstr(text, "<svg") != NULL, "%s is an SVG", svg);
}

/* The "test accuracy N%" eval prints. */
static double eval_accuracy(const char *out) {
    const char *at = strstr(out, "test accuracy ");
    cr_assert(at, "eval printed: %s", out);
    return g_ascii_strtod(at + strlen("test accuracy "), NULL);
}

Test(plot_levels, line_names_leave_out_default_values_and_a_deployment_is_evals_point) {
    g_autofree char *png = g_build_filename(dir, "l.png", NULL);
    g_autofree char *csv = g_build_filename(dir, "l.csv", NULL);
    g_autofree char *err = NULL;
    const char *const x[] = {"--x", "hardware.neuron_noise", "--by",
                             "rule.name,hardware.bp_model,run.mode", NULL};
    cr_assert_eq(plot(png, csv, x, &err), 0, "%s", err);
    g_autoptr(GPtrArray) rows = read_csv(csv);
    cr_assert_eq(rows->len, 1 + 8);
    int cid = column(rows, "run_id"), cs = column(rows, "series"), cx = column(rows, "x"),
        cy = column(rows, "y");
    /* run.mode's default is infer and hardware.bp_model's nominal: a training run says
     * train, BP on the exact chip says exact, and the deployment (infer, nominal) is named
     * by its rule alone — the first key is always named, though opzo is rule.name's
     * default. */
    static const char *const want[9] = {NULL,         "dfa train",      "opzo train", "dfa train",
                                        "opzo train", "dfa train",      "opzo train",
                                        "bp exact train", "dfa"};
    for (guint i = 1; i < rows->len; i++) {
        char **r = rows->pdata[i];
        gint64 id = g_ascii_strtoll(r[cid], NULL, 10);
        cr_assert(id >= 1 && id <= 8);
        cr_assert_str_eq(r[cs], want[id], "run %" G_GINT64_FORMAT "'s line", id);
    }
    /* The deployment: run 8 at 0.5, with the accuracy eval prints for run 1 on that chip. */
    char **dep = NULL;
    for (guint i = 1; i < rows->len; i++)
        if (strcmp(((char **)rows->pdata[i])[cid], "8") == 0)
            dep = rows->pdata[i];
    cr_assert(dep, "the deployment has a point");
    cr_assert_eq(g_ascii_strtod(dep[cx], NULL), 0.5);
    g_autofree char *out = NULL;
    cr_assert_eq(oz_test_run_out(&out, NULL, "eval", "--db", db, "--run", "1", "--set",
                                 "hardware.neuron_noise=0.5", NULL),
                 0);
    cr_assert_lt(fabs(g_ascii_strtod(dep[cy], NULL) - eval_accuracy(out)), 1e-4,
                 "deployment %s%%, eval: %s", dep[cy], out);
}

Test(plot_levels, a_missing_or_non_numeric_key_exits_2_naming_it) {
    g_autofree char *png = g_build_filename(dir, "bad.png", NULL);
    g_autofree char *err = NULL;
    const char *const missing[] = {"--x", "hardware.nosuch_key", NULL};
    cr_assert_eq(plot(png, NULL, missing, &err), 2, "%s", err);
    cr_assert(strstr(err, "[hardware] nosuch_key: unknown key") != NULL, "%s", err);
    g_clear_pointer(&err, g_free);
    const char *const by[] = {"--x", "hardware.neuron_noise", "--by", "rule.nmae", NULL};
    cr_assert_eq(plot(png, NULL, by, &err), 2, "%s", err);
    cr_assert(strstr(err, "[rule] nmae: unknown key (did you mean 'name'?)") != NULL, "%s", err);
    g_clear_pointer(&err, g_free);
    const char *const text[] = {"--x", "rule.name", NULL};
    cr_assert_eq(plot(png, NULL, text, &err), 2, "%s", err);
    cr_assert(strstr(err, "run s (id 1) has rule.name = 'dfa', which is not a number") != NULL,
              "%s", err);
    g_clear_pointer(&err, g_free);
    const char *const none[] = {NULL};
    cr_assert_eq(plot(png, NULL, none, &err), 2, "%s", err);
    cr_assert(strstr(err, "needs --x") != NULL, "%s", err);
    cr_assert_not(g_file_test(png, G_FILE_TEST_EXISTS), "no figure after a refusal");
}

Test(plot_levels, two_runs_in_one_cell_exit_2_naming_both) {
    /* By rule alone, the dfa training run at 0.5 (id 3) and the dfa deployment at 0.5 (id 8)
     * share a cell. */
    g_autofree char *png = g_build_filename(dir, "dup.png", NULL);
    g_autofree char *err = NULL;
    const char *const x[] = {"--x", "hardware.neuron_noise", NULL};
    cr_assert_eq(plot(png, NULL, x, &err), 2, "%s", err);
    cr_assert(strstr(err, "runs s (id 3) and s (id 8) are both in line 'dfa' at "
                          "hardware.neuron_noise = 0.5") != NULL,
              "%s", err);
    cr_assert(strstr(err, "one run per cell") != NULL, "%s", err);
    cr_assert_not(g_file_test(png, G_FILE_TEST_EXISTS));
}

Test(plot_levels, runs_without_a_test_phase_are_left_out_and_none_left_exits_2) {
    /* A run stopped after its first batch has no test epoch. */
    g_autofree char *db2 = g_build_filename(dir, "stopped.sqlite", NULL);
    const char *const args[] = {"run", scenario, "--db", db2, "--quiet", NULL};
    const char *const env[] = {"OPZOSIM_TEST_INTERRUPT_AFTER=1", NULL};
    oz_test_runv_env(args, env, NULL);
    cr_assert_eq(oz_test_q(db2, "select count(*) from runs"), 1);
    cr_assert_eq(oz_test_q(db2, "select count(*) from epochs where phase = 'test'"), 0);
    g_autofree char *png = g_build_filename(dir, "none.png", NULL);
    g_autofree char *err = NULL;
    const char *const plot_args[] = {"plot", db2,    "--what", "levels", "--x",
                                     "hardware.neuron_noise", "--out", png, NULL};
    cr_assert_eq(oz_test_runv(plot_args, &err), 2, "%s", err);
    cr_assert(strstr(err, "warning: plot --what levels: run s (id 1) has no test accuracy") !=
                  NULL,
              "%s", err);
    cr_assert(strstr(err, "nothing to plot for --what levels") != NULL, "%s", err);
    cr_assert_not(g_file_test(png, G_FILE_TEST_EXISTS));
}

/* test-merge.c — `opzosim merge` and reading an older run log: every row of every table of
 * every input is in the merged log with its run's new id (compared table by table, column
 * by column, blobs byte for byte), a merged run's `eval` gives its stored accuracy, an
 * older log (schema version 0) is migrated in memory and left as it was, energy models
 * named alike with other values are refused, and OUT is never half written or replaced
 * without --force. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

static char *dir, *scenario, *log_a, *log_b, *out;

static const char scenario_fmt[] = "[run]\nmode = train\nepochs = 2\nticks = 4\nbatch_size = 16\n"
                                   "threads = 1\n[data]\ndir = %s\n"
                                   "[record]\nspike_samples = 2\ngrad_stats = true\n"
                                   "grad_stats_every = 2\ncheckpoints_all = true\n"
                                   "[population in]\nmodel = input\nsize = 36\n"
                                   "[population h1]\nmodel = lif\nsize = 20\n"
                                   "[population out]\nmodel = readout\nsize = 10\n"
                                   "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                                   "[projection h1_out]\nfrom = h1\nto = out\n";

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 40, 20, 6, 6, 10);
    g_autofree char *text = g_strdup_printf(scenario_fmt, dir);
    scenario = oz_test_write_file(dir, "s.ini", text);
    log_a = g_build_filename(dir, "a.sqlite", NULL);
    log_b = g_build_filename(dir, "b.sqlite", NULL);
    out = g_build_filename(dir, "out.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "sweep", scenario, "--vary", "rule.name=dfa,opzo", "--db", log_a,
                             "--quiet", NULL),
                 0);
    cr_assert_eq(
        oz_test_run(NULL, "run", scenario, "--db", log_b, "--quiet", "--set", "run.seed=7", NULL),
        0);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(scenario);
    g_free(log_a);
    g_free(log_b);
    g_free(out);
}

TestSuite(merge, .init = setup, .fini = teardown);

static gint64 q1(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    gint64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The columns of schema.table but skip, quoted and joined by commas with prefix before
 * each.  (transfer full) */
static char *column_list(sqlite3 *db, const char *schema, const char *table, const char *skip,
                         const char *prefix) {
    g_autofree char *sql = g_strdup_printf("PRAGMA %s.table_info(\"%s\")", schema, table);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    GString *s = g_string_new(NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 1);
        if (strcmp(c, skip) == 0)
            continue;
        g_string_append_printf(s, "%s%s\"%s\"", s->len ? ", " : "", prefix, c);
    }
    sqlite3_finalize(st);
    return g_string_free(s, FALSE);
}

/* Asserts that every row of every table of the log at in is in merged, with run ids
 * mapped by (name, started_at, sweep), and that merged holds no more rows for those runs.
 * Returns the number of tables compared that had rows. */
static int assert_all_rows_kept(const char *merged, const char *in, gint64 n_runs) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(merged, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    g_autofree char *attach = g_strdup_printf("ATTACH '%s' AS x", in);
    cr_assert_eq(sqlite3_exec(db, attach, NULL, NULL, NULL), SQLITE_OK);
    /* The runs: every column but the id. */
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TEMP TABLE map AS SELECT o.id AS old, n.id AS new FROM"
                              " x.runs o JOIN main.runs n ON n.name = o.name AND n.started_at ="
                              " o.started_at AND n.sweep IS o.sweep",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(q1(db, "select count(*) from temp.map"), n_runs, "%s: every run is found", in);
    cr_assert_eq(q1(db, "select count(distinct new) from temp.map"), n_runs);
    g_autofree char *rc = column_list(db, "x", "runs", "id", "");
    g_autofree char *runs_diff = g_strdup_printf(
        "select count(*) from (select %s from x.runs except select %s from main.runs)", rc, rc);
    cr_assert_eq(q1(db, runs_diff), 0, "%s: runs rows differ", in);
    /* Every table with a run_id column. */
    sqlite3_stmt *t = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "select name from x.sqlite_master where type = 'table' and"
                                    " name not like 'sqlite_%' and name != 'runs'",
                                    -1, &t, NULL),
                 SQLITE_OK);
    int compared = 0;
    while (sqlite3_step(t) == SQLITE_ROW) {
        g_autofree char *table = g_strdup((const char *)sqlite3_column_text(t, 0));
        g_autofree char *probe = g_strdup_printf(
            "select count(*) from pragma_table_info('%s', 'x') where name = 'run_id'", table);
        gboolean by_run = q1(db, probe) == 1;
        g_autofree char *cols = column_list(db, "x", table, by_run ? "run_id" : "", "s.");
        g_autofree char *plain = column_list(db, "x", table, by_run ? "run_id" : "", "");
        g_autofree char *n_in = g_strdup_printf("select count(*) from x.\"%s\"", table);
        gint64 rows = q1(db, n_in);
        if (by_run) {
            g_autofree char *diff = g_strdup_printf(
                "select count(*) from (select m.new, %s from x.\"%s\" s join temp.map m on m.old"
                " = s.run_id except select run_id, %s from main.\"%s\")",
                cols, table, plain, table);
            cr_assert_eq(q1(db, diff), 0, "%s: table %s: rows missing or changed", in, table);
            g_autofree char *n_out = g_strdup_printf(
                "select count(*) from main.\"%s\" where run_id in (select new from temp.map)",
                table);
            cr_assert_eq(q1(db, n_out), rows, "%s: table %s: %" G_GINT64_FORMAT " rows in", in,
                         table, rows);
        } else {
            g_autofree char *diff = g_strdup_printf(
                "select count(*) from (select %s from x.\"%s\" except select %s from main.\"%s\")",
                plain, table, plain, table);
            cr_assert_eq(q1(db, diff), 0, "%s: table %s: rows missing or changed", in, table);
        }
        compared += rows > 0;
    }
    sqlite3_finalize(t);
    sqlite3_close(db);
    return compared;
}

Test(merge, merge_keeps_every_row_of_every_table_with_renumbered_ids) {
    /* A user's own table, column and energy model travel too. */
    oz_test_exec(log_b, "CREATE TABLE notes(run_id INTEGER, text TEXT);"
                        "INSERT INTO notes VALUES(1, 'hello');"
                        "ALTER TABLE runs ADD COLUMN tag TEXT; UPDATE runs SET tag = 'x';"
                        "INSERT INTO energy_models(model, synop_pj) VALUES('mychip', 2.5)");
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "merge", out, log_a, log_b, NULL), 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(out, "select count(*) from runs"), 3);
    cr_assert_eq(oz_test_q(out, "select count(*) from runs where id in (1, 2, 3)"), 3);
    int a = assert_all_rows_kept(out, log_a, 2);
    int b = assert_all_rows_kept(out, log_b, 1);
    /* populations, parameters, projections, epochs, firing_rates, synops, spikes,
     * training_ops, grad_stats, checkpoints, energy_models (and notes in b). */
    cr_assert_geq(a, 11, "%d tables with rows compared", a);
    cr_assert_geq(b, 12, "%d tables with rows compared", b);
    cr_assert_eq(oz_test_q(out, "select run_id from notes"), 3, "b's run 1 is now 3");
    g_autofree char *tag = oz_test_qs(out, "select tag from runs where id = 3");
    cr_assert_str_eq(tag, "x");
    cr_assert_eq(oz_test_q(out, "select count(*) from energy_models"), 9);
    cr_assert_eq(oz_test_q(out, "pragma user_version"), 1);
}

Test(merge, a_merged_run_evaluates_to_its_stored_accuracy) {
    cr_assert_eq(oz_test_run(NULL, "merge", out, log_a, log_b, NULL), 0);
    /* eval exits 0 only when the accuracy it measures is the stored one. */
    for (int id = 1; id <= 3; id++) {
        g_autofree char *run = g_strdup_printf("%d", id);
        char *err = NULL;
        int rc = oz_test_run(&err, "eval", "--db", out, "--run", run, NULL);
        cr_assert_eq(rc, 0, "eval of merged run %d: exit %d: %s", id, rc, err);
        g_free(err);
    }
}

/* Makes the log at path look like one written before schema version 1. */
static void make_old(const char *path) {
    oz_test_exec(path, "DROP VIEW training_energy;"
                       "ALTER TABLE energy_models DROP COLUMN feedback_mac_pj;"
                       "ALTER TABLE energy_models DROP COLUMN update_pj;"
                       "ALTER TABLE energy_models DROP COLUMN training_source;"
                       "PRAGMA user_version = 0");
}

Test(merge, an_older_log_is_migrated_in_memory_for_merge_and_report_and_left_unchanged) {
    make_old(log_b);
    g_autofree char *before = NULL;
    gsize n_before = 0;
    cr_assert(g_file_get_contents(log_b, &before, &n_before, NULL));
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "merge", out, log_a, log_b, NULL), 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(out, "select count(*) from energy_models"), 8);
    cr_assert_eq(oz_test_q(out, "select update_pj from energy_models where model = 'loihi'"), 120);
    cr_assert_eq(oz_test_q(out, "select count(*) from energy_models where training_source is"
                                " null"),
                 0);
    cr_assert_eq(oz_test_q(out, "select count(*) from training_energy where run_id = 3"), 2 * 8);
    /* report reads the old log through the same migration. */
    g_autofree char *csv = g_build_filename(dir, "r.csv", NULL);
    cr_assert_eq(oz_test_run(&err, "report", log_b, "--format", "csv", "--out", csv, NULL), 0, "%s",
                 err);
    g_free(err);
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(csv, &text, NULL, NULL));
    cr_assert(strstr(text, "\"cmos45-fp32 training\""), "training energy of an old log: %s", text);
    g_autofree char *after = NULL;
    gsize n_after = 0;
    cr_assert(g_file_get_contents(log_b, &after, &n_after, NULL));
    cr_assert(n_before == n_after && memcmp(before, after, n_after) == 0,
              "the old log is left as it was");
    cr_assert_eq(oz_test_q(log_b, "pragma user_version"), 0);
}

Test(merge, energy_models_named_alike_with_other_values_are_refused) {
    oz_test_exec(log_b, "UPDATE energy_models SET synop_pj = 1.5 WHERE model = 'loihi'");
    char *err = NULL;
    int rc = oz_test_run(&err, "merge", out, log_a, log_b, NULL);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert(strstr(err, "energy model 'loihi' differs") && strstr(err, "synop_pj = 27.1") &&
                  strstr(err, "1.5"),
              "%s", err);
    g_free(err);
    cr_assert(!g_file_test(out, G_FILE_TEST_EXISTS), "no output");
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    for (const char *n; (n = g_dir_read_name(d));)
        cr_assert(!strstr(n, ".tmp"), "no temporary file is left: %s", n);
}

Test(merge, an_existing_output_is_kept_unless_forced) {
    g_free(oz_test_write_file(dir, "out.sqlite", "precious\n"));
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "merge", out, log_a, NULL), 2);
    cr_assert(strstr(err, "exists (--force replaces it)"), "%s", err);
    g_free(err);
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(out, &text, NULL, NULL));
    cr_assert_str_eq(text, "precious\n");
    cr_assert_eq(oz_test_run(NULL, "merge", out, log_a, "--force", NULL), 0);
    cr_assert_eq(oz_test_q(out, "select count(*) from runs"), 2);
    /* An input that is not a run log: exit 2, the output stays as it was. */
    g_autofree char *junk = oz_test_write_file(dir, "junk.sqlite", "");
    cr_assert_eq(oz_test_run(&err, "merge", out, log_b, junk, "--force", NULL), 2);
    cr_assert(strstr(err, "is not a run log"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(out, "select count(*) from runs"), 2);
}

Test(merge, an_older_log_opened_for_writing_is_migrated_to_the_current_version) {
    make_old(log_b);
    cr_assert_eq(oz_test_q(log_b, "pragma user_version"), 0);
    /* A run into the old log: oz_runlog_open migrates it. */
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", log_b, "--quiet", NULL), 0);
    cr_assert_eq(oz_test_q(log_b, "pragma user_version"), 1);
    cr_assert_eq(oz_test_q(log_b, "select count(*) from energy_models where training_source is"
                                  " not null"),
                 8);
    cr_assert_eq(oz_test_q(log_b, "select count(*) from training_energy where run_id = 1"), 2 * 8,
                 "the run made before the migration has its training energy");
    /* A user's change to a training energy after the migration is kept on the next open. */
    oz_test_exec(log_b, "UPDATE energy_models SET update_pj = NULL, training_source = NULL WHERE"
                        " model = 'loihi'");
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", log_b, "--quiet", NULL), 0);
    cr_assert_eq(oz_test_q(log_b, "select count(*) from energy_models where model = 'loihi' and"
                                  " update_pj is null"),
                 1);
}

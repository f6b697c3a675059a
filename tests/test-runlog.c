/* Run log: schema, synchronous and thread-pool writes, the energy view. */
#include "io/oz-runlog.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <sqlite3.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(runlog, .init = setup, .fini = teardown);

static double query_double(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    double v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static const OzRunInfo INFO = {"t", "t.ini", "[run]\n", NULL, 1, 1, "infer", NULL};

Test(runlog, synchronous_batches_and_finish) {
    g_autofree char *path = g_build_filename(dir, "a.sqlite", NULL);
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open(path, NULL, 5000, &err);
    cr_assert_not_null(log, "%s", err ? err->message : "");
    cr_assert_eq(oz_runlog_begin_run(log, &INFO, &err), 1);
    OzLogBatch *b = oz_log_batch_new();
    oz_log_batch_add(b, OZ_ROW_EPOCH, "isiindnnd", (gint64)0, "test", (gint64)10, (gint64)6, 0.5,
                     1.25);
    cr_assert_eq(oz_log_batch_rows(b), 1);
    oz_runlog_submit(log, b);
    cr_assert_null(oz_runlog_error(log));
    sqlite3 *db = oz_runlog_db(log);
    cr_assert_float_eq(query_double(db, "select accuracy from epochs where run_id = 1"), 0.5,
                       1e-12);
    cr_assert(oz_runlog_finish_run(log, "finished", NULL, &err));
    cr_assert_float_eq(query_double(db, "select status = 'finished' from runs where id = 1"), 1, 0);
    oz_runlog_close(log);
}

Test(runlog, thread_pool_writer_commits_every_batch_in_order) {
    g_autofree char *path = g_build_filename(dir, "b.sqlite", NULL);
    uv_loop_t loop;
    uv_loop_init(&loop);
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open(path, &loop, 5000, &err);
    cr_assert_not_null(log);
    oz_runlog_begin_run(log, &INFO, &err);
    for (int k = 0; k < 20; k++) {
        OzLogBatch *b = oz_log_batch_new();
        for (int i = 0; i < 100; i++)
            oz_log_batch_add(b, OZ_ROW_SPIKE, "isisii", (gint64)0, "test", (gint64)k, "h",
                             (gint64)i, (gint64)(k * 100 + i));
        oz_runlog_submit(log, b);
    }
    cr_assert(oz_runlog_busy(log));
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_not(oz_runlog_busy(log));
    cr_assert_null(oz_runlog_error(log));
    sqlite3 *db = oz_runlog_db(log);
    cr_assert_float_eq(query_double(db, "select count(*) from spikes"), 2000, 0);
    /* Batches commit in submission order: rowid order follows the neuron numbering. */
    cr_assert_float_eq(
        query_double(db, "select count(*) from spikes a join spikes b on b.rowid = a.rowid + 1 "
                         "where b.neuron != a.neuron + 1"),
        0, 0);
    oz_runlog_close(log);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(runlog, energy_view_multiplies_counts_by_model_energies) {
    g_autofree char *path = g_build_filename(dir, "c.sqlite", NULL);
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open(path, NULL, 5000, &err);
    oz_runlog_begin_run(log, &INFO, &err);
    OzLogBatch *b = oz_log_batch_new();
    oz_log_batch_add(b, OZ_ROW_SYNOPS, "issiiiiiii", (gint64)0, "test", "p", (gint64)4,
                     (gint64)1000, (gint64)5, (gint64)10, (gint64)0, (gint64)0, (gint64)0);
    oz_log_batch_add(b, OZ_ROW_FIRING_RATE, "issiidi", (gint64)0, "test", "h", (gint64)5,
                     (gint64)50, 0.1, (gint64)100);
    oz_runlog_submit(log, b);
    sqlite3 *db = oz_runlog_db(log);
    /* cmos45-fp32: 1000 × 0.9 + 10 × 4.6 = 946 pJ; per sample / 4. */
    cr_assert_float_eq(query_double(db, "select joules from energy where model = 'cmos45-fp32'"),
                       946e-12, 1e-18);
    cr_assert_float_eq(
        query_double(db, "select joules_per_sample from energy where model = 'cmos45-fp32'"),
        946e-12 / 4, 1e-18);
    /* loihi: 1000 × 27.1 + 100 × 81 = 35200 pJ, but it has no MAC energy. */
    cr_assert_float_eq(query_double(db, "select joules from energy where model = 'loihi'"),
                       35200e-12, 1e-17);
    cr_assert_float_eq(query_double(db, "select covers_all_ops from energy where model = 'loihi'"),
                       0, 0);
    cr_assert_float_eq(query_double(db, "select count(*) from energy_models"), 8, 0);
    oz_runlog_close(log);
}

Test(runlog, unwritable_path_is_a_clear_error) {
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open("/nonexistent/dir/x.sqlite", NULL, 5000, &err);
    cr_assert_null(log);
    cr_assert(strstr(err->message, "/nonexistent/dir/x.sqlite"), "%s", err->message);
    g_error_free(err);
}

/* A log written before a column existed gets it when opened, and takes new rows. */
Test(runlog, an_older_log_gains_the_new_columns) {
    g_autofree char *path = g_build_filename(dir, "old.sqlite", NULL);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "CREATE TABLE synops(run_id INTEGER NOT NULL, epoch INTEGER NOT "
                              "NULL, phase TEXT NOT NULL, projection TEXT NOT NULL, samples "
                              "INTEGER, synops INTEGER, row_fetches INTEGER, dense_macs INTEGER, "
                              "feedback_ops INTEGER NOT NULL DEFAULT 0, update_ops INTEGER NOT "
                              "NULL DEFAULT 0, PRIMARY KEY(run_id, epoch, phase, projection));"
                              "CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                              "scenario_path TEXT, scenario TEXT, overrides TEXT, seed INTEGER, "
                              "threads INTEGER, version TEXT, mode TEXT, status TEXT NOT NULL, "
                              "message TEXT, started_at TEXT NOT NULL, finished_at TEXT, "
                              "seconds REAL);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open(path, NULL, 5000, &err);
    cr_assert_not_null(log, "%s", err ? err->message : "");
    cr_assert(oz_runlog_begin_run(log, &INFO, &err), "%s", err ? err->message : "");
    OzLogBatch *b = oz_log_batch_new();
    oz_log_batch_add(b, OZ_ROW_SYNOPS, "issiiiiiii", (gint64)0, "test", "p", (gint64)4,
                     (gint64)1000, (gint64)5, (gint64)10, (gint64)0, (gint64)0, (gint64)77);
    oz_runlog_submit(log, b);
    cr_assert(oz_runlog_finish_run(log, "finished", NULL, &err), "%s", err ? err->message : "");
    oz_runlog_close(log);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_float_eq(query_double(db, "SELECT spike_dense_macs FROM synops"), 77.0, 1e-9);
    /* The writer's time was recorded: positive, and far below a second for two rows. */
    double ls = query_double(db, "SELECT log_seconds FROM runs");
    cr_assert(ls > 0.0 && ls < 1.0, "%g", ls);
    cr_assert_gt(query_double(db, "SELECT peak_rss_kb FROM runs"), 0.0);
    cr_assert(query_double(db, "SELECT count(*) FROM runs WHERE sweep IS NULL") == 1.0);
    sqlite3_close(db);
}

/* A spike list row becomes one spikes row per neuron, in order, with its keys. */
Test(runlog, a_spike_list_expands_to_one_row_per_neuron) {
    g_autofree char *path = g_build_filename(dir, "list.sqlite", NULL);
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open(path, NULL, 5000, &err);
    cr_assert_not_null(log, "%s", err ? err->message : "");
    cr_assert(oz_runlog_begin_run(log, &INFO, &err));
    OzLogBatch *b = oz_log_batch_new();
    oz_log_batch_add(b, OZ_ROW_SPIKE_LIST, "isisis", (gint64)2, "test", (gint64)7, "h1", (gint64)4,
                     "[3,5,799]");
    oz_log_batch_add(b, OZ_ROW_SPIKE_LIST, "isisis", (gint64)2, "test", (gint64)8, "h2", (gint64)0,
                     "[]");
    oz_runlog_submit(log, b);
    oz_runlog_close(log);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_float_eq(query_double(db, "SELECT count(*) FROM spikes"), 3.0, 1e-9);
    cr_assert_float_eq(query_double(db, "SELECT count(*) FROM spikes WHERE run_id = 1 AND "
                                        "epoch = 2 AND phase = 'test' AND sample = 7 AND "
                                        "population = 'h1' AND tick = 4"),
                       3.0, 1e-9);
    cr_assert_float_eq(query_double(db, "SELECT group_concat(neuron, ' ') = '3 5 799' FROM "
                                        "(SELECT neuron FROM spikes ORDER BY rowid)"),
                       1.0, 1e-9);
    cr_assert_float_eq(query_double(db, "SELECT sum(typeof(neuron) = 'integer') FROM spikes"), 3.0,
                       1e-9);
    sqlite3_close(db);
}

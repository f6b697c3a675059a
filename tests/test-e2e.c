/* End to end: the opzosim program on a small generated data set. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static char *scenario;


static char *scenario_text(int features, const char *extra) {
    return g_strdup_printf("[run]\nticks = 4\nbatch_size = 16\nthreads = 1\n"
                           "[data]\ndir = %s\n"
                           "[record]\nspike_samples = 3\n"
                           "[population in]\nmodel = input\nsize = %d\n"
                           "[population h1]\nmodel = lif\nsize = 40\n"
                           "[population h2]\nmodel = lif\nsize = 30\n"
                           "[population out]\nmodel = readout\nsize = 10\n"
                           "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                           "[projection h1_h2]\nfrom = h1\nto = h2\ninit_scale = 6\n"
                           "[projection h2_out]\nfrom = h2\nto = out\n%s",
                           dir, features, extra ? extra : "");
}

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 40, 50, 6, 6, 10);
    g_autofree char *text = scenario_text(36, NULL);
    scenario = oz_test_write_file(dir, "s.ini", text);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(scenario);
}

/* No per-test timeout: meson's (tests/meson.build) bounds the suite, and under valgrind
 * (scripts/valgrind.sh) a test may take minutes. */
TestSuite(e2e, .init = setup, .fini = teardown);





Test(e2e, inference_run_logs_rates_synops_spikes_and_energy) {
    g_autofree char *db = g_build_filename(dir, "r.sqlite", NULL);
    const char *args[] = {"run", scenario, "--db", db, "--quiet", NULL};
    char *err = NULL;
    int rc = oz_test_runv(args, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from firing_rates"), 4, "a row per population");
    cr_assert_eq(oz_test_q(db, "select count(*) from firing_rates where rate is not null"), 2);
    cr_assert_eq(oz_test_q(db, "select samples from epochs where phase = 'test'"), 50);
    cr_assert_eq(oz_test_q(db, "select count(*) from synops"), 3);
    cr_assert_eq(oz_test_q(db, "select dense_macs from synops where projection = 'in_h1'"), 50 * 36 * 40);
    /* SynOps = spikes × fan-out, exactly. */
    cr_assert_eq(oz_test_q(db, "select s.synops - f.spikes * 30 from synops s join firing_rates f "
                       "on f.population = 'h1' where s.projection = 'h1_h2'"),
                 0);
    cr_assert_gt(oz_test_q(db, "select count(*) from spikes"), 0);
    cr_assert_eq(oz_test_q(db, "select max(sample) from spikes"), 2, "only the first 3 samples");
    cr_assert_eq(oz_test_q(db, "select count(*) from energy where phase = 'test'"), 8);
    cr_assert_eq(oz_test_q(db, "select count(*) from populations"), 4);
    cr_assert_eq(oz_test_q(db, "select count(*) from projections"), 3);
}

Test(e2e, training_logs_loss_accuracy_lr_and_alpha_per_epoch) {
    g_autofree char *db = g_build_filename(dir, "train.sqlite", NULL);
    const char *args[] = {"run",          scenario, "--db",           db,
                          "--quiet",      "--set",  "run.mode=train", "--set",
                          "run.epochs=3", "--set",  "rule.name=opzo", NULL};
    char *err = NULL;
    int rc = oz_test_runv(args, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'train'"), 3);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'test'"), 3);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'train' and loss > 0 and "
                       "accuracy between 0 and 1 and seconds > 0 and lr > 0"),
                 3);
    /* α linear 0.2 → 0.01 over 3 epochs: 0.2, 0.105, 0.01; cosine lr: 1, 0.75, 0.25 × lr0. */
    cr_assert_eq(
        oz_test_q(db, "select round(alpha * 1000) from epochs where phase = 'train' and epoch = 1"), 105);
    cr_assert_eq(oz_test_q(db, "select round(lr / 2e-4 * 100) from epochs where phase = 'train' and "
                       "epoch = 2"),
                 25);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'test' and loss > 0"), 3);
    /* The alternative α readings: e/E per epoch, and fixed. */
    g_autofree char *db2 = g_build_filename(dir, "train2.sqlite", NULL);
    const char *a2[] = {"run",
                        scenario,
                        "--db",
                        db2,
                        "--quiet",
                        "--set",
                        "run.mode=train",
                        "--set",
                        "run.epochs=3",
                        "--set",
                        "rule.alpha_schedule=linear_e_over_E",
                        NULL};
    cr_assert_eq(oz_test_runv(a2, NULL), 0);
    cr_assert_eq(
        oz_test_q(db2, "select round(alpha * 1e5) from epochs where phase = 'train' and epoch = 1"), 13667);
    g_autofree char *db3 = g_build_filename(dir, "train3.sqlite", NULL);
    const char *a3[] = {"run",
                        scenario,
                        "--db",
                        db3,
                        "--quiet",
                        "--set",
                        "run.mode=train",
                        "--set",
                        "run.epochs=2",
                        "--set",
                        "rule.alpha_schedule=fixed",
                        "--set",
                        "optimizer.schedule=constant",
                        NULL};
    cr_assert_eq(oz_test_runv(a3, NULL), 0);
    cr_assert_eq(oz_test_q(db3, "select count(*) from epochs where phase = 'train' and "
                        "abs(alpha - 0.2) < 1e-6 and abs(lr - 2e-4) < 1e-12"),
                 2);
}

/* At one thread and at three (the compute team splits every per-neuron loop of this
 * net, on two cores or more), reruns are identical, checkpoints included. */
Test(e2e, same_seed_gives_identical_logs) {
    const char *threads[] = {"1", "3"};
    for (gsize t = 0; t < G_N_ELEMENTS(threads); t++) {
        char *dbs[2];
        for (int k = 0; k < 2; k++) {
            g_autofree char *name = g_strdup_printf("%d-%s.sqlite", k + 1, threads[t]);
            dbs[k] = g_build_filename(dir, name, NULL);
            const char *argv[] = {"run",
                                  scenario,
                                  "--db",
                                  dbs[k],
                                  "--quiet",
                                  "--threads",
                                  threads[t],
                                  "--set",
                                  "run.mode=train",
                                  "--set",
                                  "rule.name=opzo",
                                  "--set",
                                  "population h1.dropout=0.2",
                                  NULL};
            cr_assert_eq(oz_test_runv(argv, NULL), 0);
        }
        g_autofree char *db1 = dbs[0];
        g_autofree char *db2 = dbs[1];
        const char *sqls[] = {
            "select sum(spikes) from firing_rates", "select sum(synops) from synops",
            "select sum(tick * 1000 + neuron) from spikes", "select accuracy * 1e9 from epochs",
            "select loss * 1e12 from epochs where phase = 'train'"};
        for (gsize i = 0; i < G_N_ELEMENTS(sqls); i++)
            cr_assert_eq(oz_test_q(db1, sqls[i]), oz_test_q(db2, sqls[i]), "%s threads: %s", threads[t], sqls[i]);
        g_autofree char *c1 = oz_test_qs(db1, "select group_concat(hex(data)) from checkpoints");
        g_autofree char *c2 = oz_test_qs(db2, "select group_concat(hex(data)) from checkpoints");
        cr_assert(c1 && *c1 && g_strcmp0(c1, c2) == 0, "%s threads: checkpoints differ",
                  threads[t]);
    }
}

typedef struct {
    const char *what;
    const char *set;   /* a --set, or NULL */
    const char *extra; /* appended text, or NULL */
    const char *must[3];
} Bad;

Test(e2e, malformed_scenarios_exit_2_naming_file_section_key) {
    const Bad cases[] = {
        {"unknown section", NULL, "[recrod]\nx = 1\n", {"[recrod]", "did you mean", NULL}},
        {"unknown key",
         NULL,
         "[population h3]\nmodel = lif\nsize = 3\nsiz = 4\n",
         {"[population h3]", "siz", "did you mean 'size'"}},
        {"wrong type", "population h1.size=big", NULL, {"[population h1]", "size", "'big'"}},
        {"out of range", "population h1.v_th=-1", NULL, {"[population h1]", "v_th", "range"}},
        {"missing data file", "data.dir=/nonexistent", NULL, {"[data]", "dir", "/nonexistent"}},
        {"unknown population",
         NULL,
         "[projection p9]\nfrom = h1\nto = h7\n",
         {"[projection p9]", "to", "'h7'"}},
        {"size vs data", "population in.size=35", NULL, {"[population in]", "size", "36"}},
        {"zero-delay cycle",
         NULL,
         "[projection back]\nfrom = h2\nto = h1\n",
         {"[projection back]", "delay", "cycle"}},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = scenario_text(36, cases[i].extra);
        g_autofree char *path = oz_test_write_file(dir, "bad.ini", text);
        g_autofree char *db = g_build_filename(dir, "bad.sqlite", NULL);
        const char *args[] = {
            "run", path, "--db", db, "--quiet", cases[i].set ? "--set" : NULL, cases[i].set, NULL};
        char *err = NULL;
        int rc = oz_test_runv(args, &err);
        cr_assert_eq(rc, 2, "%s: exit %d, stderr: %s", cases[i].what, rc, err);
        cr_assert(strstr(err, "bad.ini"), "%s: names the file: %s", cases[i].what, err);
        for (int k = 0; k < 3 && cases[i].must[k]; k++)
            cr_assert(strstr(err, cases[i].must[k]), "%s: wants '%s' in: %s", cases[i].what,
                      cases[i].must[k], err);
        cr_assert_eq(g_strstr_len(err, -1, "\n") - err + 1, (long)strlen(err), "%s: one line: %s",
                     cases[i].what, err);
        g_free(err);
        if (g_file_test(db, G_FILE_TEST_EXISTS))
            cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'running'"), 0);
    }
}

Test(e2e, bad_command_lines_exit_2) {
    const char *a1[] = {"run", NULL};
    cr_assert_eq(oz_test_runv(a1, NULL), 2);
    const char *a2[] = {"frobnicate", NULL};
    cr_assert_eq(oz_test_runv(a2, NULL), 2);
    const char *a3[] = {"run", "/nonexistent.ini", NULL};
    cr_assert_eq(oz_test_runv(a3, NULL), 2);
    const char *a4[] = {"--version", NULL};
    cr_assert_eq(oz_test_runv(a4, NULL), 0);
}

/* Starts a long inference run, sends sig once its run row exists, and checks the exit
 * code and the run row. */
static void signal_midrun(int sig, int want_exit, const char *db_name) {
    /* Enough samples that the run is still going when the signal comes. */
    oz_test_write_dataset(dir, 10, 60000, 6, 6, 10);
    g_autofree char *db = g_build_filename(dir, db_name, NULL);
    const char *argv[] = {oz_test_bin(),    "run",
                          scenario, "--db",
                          db,       "--quiet",
                          "--set",  "run.batch_size=8",
                          "--set",  "population h1.size=3000",
                          "--set",  "population h2.size=3000",
                          NULL};
    GPid pid;
    cr_assert(g_spawn_async(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                            NULL));
    /* Up to a minute: under valgrind the program needs many seconds to start. */
    for (int i = 0; i < 3000; i++) {
        g_usleep(20000);
        if (g_file_test(db, G_FILE_TEST_EXISTS) && oz_test_q_try(db, "select count(*) from runs") == 1)
            break;
    }
    g_usleep(100000);
    kill(pid, sig);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);
    cr_assert(WIFEXITED(status), "exited normally (status %d)", status);
    cr_assert_eq(WEXITSTATUS(status), want_exit, "exit %d", WEXITSTATUS(status));
    g_autofree char *sql = g_strdup_printf("select count(*) from runs where status = "
                                           "'interrupted' and message like '%%%s%%'",
                                           sig == SIGINT ? "SIGINT" : "SIGTERM");
    cr_assert_eq(oz_test_q(db, sql), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from populations"), 4, "committed rows survive");
}

Test(e2e, sigint_stops_after_a_batch_and_marks_the_run_interrupted) {
    signal_midrun(SIGINT, 130, "int.sqlite");
}

Test(e2e, sigterm_exits_143_with_the_run_interrupted) {
    signal_midrun(SIGTERM, 143, "term.sqlite");
}


Test(e2e, resumed_run_equals_an_uninterrupted_one_and_eval_reproduces_it) {
    oz_test_write_dataset(dir, 20000, 500, 6, 6, 10);
    g_autofree char *full = g_build_filename(dir, "full.sqlite", NULL);
    g_autofree char *cut = g_build_filename(dir, "cut.sqlite", NULL);
    const char *sets[] = {"--set", "run.mode=train", "--set", "run.epochs=3",
                          "--set", "rule.name=opzo", "--set", "population h1.dropout=0.2",
                          NULL};
    GPtrArray *a = g_ptr_array_new();
    const char *head[] = {"run", scenario, "--quiet", "--db"};
    for (int i = 0; i < 4; i++)
        g_ptr_array_add(a, (gpointer)head[i]);
    g_ptr_array_add(a, full);
    for (int i = 0; sets[i]; i++)
        g_ptr_array_add(a, (gpointer)sets[i]);
    g_ptr_array_add(a, NULL);
    cr_assert_eq(oz_test_runv((const char *const *)a->pdata, NULL), 0);
    /* The same run, interrupted once its first epoch is checkpointed, then resumed. */
    a->pdata[4] = cut;
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)oz_test_bin());
    for (guint i = 0; i + 1 < a->len; i++)
        g_ptr_array_add(argv, a->pdata[i]);
    g_ptr_array_add(argv, NULL);
    GPid pid;
    cr_assert(g_spawn_async(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &pid, NULL));
    for (int i = 0; i < 12000; i++) { /* up to a minute (valgrind) */
        g_usleep(5000);
        if (g_file_test(cut, G_FILE_TEST_EXISTS) &&
            oz_test_q_try(cut, "select count(*) from checkpoints where epoch = 0") > 0)
            break;
    }
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    g_spawn_close_pid(pid);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    cr_assert_eq(code, 130, "the signal must land mid-run (exit %d)", code);
    cr_assert_eq(oz_test_q(cut, "select count(*) from runs where status = 'interrupted'"), 1);
    cr_assert_lt(oz_test_q(cut, "select count(*) from epochs where phase = 'test'"), 3);
    g_ptr_array_insert(a, 3, (gpointer) "--resume");
    cr_assert_eq(oz_test_runv((const char *const *)a->pdata, NULL), 0);
    cr_assert_eq(oz_test_q(cut, "select count(*) from runs"), 1, "resumed into the same run");
    cr_assert_eq(oz_test_q(cut, "select count(*) from runs where status = 'finished'"), 1);
    const char *names[] = {"w:in_h1", "w:h1_h2", "w:h2_out", "b:h1", "fb:h2", "m:h1_h2"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *sql = g_strdup_printf(
            "select data from checkpoints where epoch = 2 and name = '%s'", names[i]);
        GBytes *x = oz_test_blob(full, sql), *y = oz_test_blob(cut, sql);
        cr_assert(g_bytes_equal(x, y), "%s differs after resume", names[i]);
        g_bytes_unref(x);
        g_bytes_unref(y);
    }
    for (int e = 0; e < 3; e++) {
        g_autofree char *sql = g_strdup_printf(
            "select accuracy * 1e12 from epochs where epoch = %d and phase = 'test'", e);
        cr_assert_eq(oz_test_q(full, sql), oz_test_q(cut, sql), "epoch %d test accuracy", e);
    }
    const char *ev[] = {"eval", "--db", full, NULL};
    char *err = NULL;
    cr_assert_eq(oz_test_runv(ev, &err), 0, "eval reproduces the stored accuracy: %s", err);
    g_free(err);
    g_ptr_array_free(a, TRUE);
    g_ptr_array_free(argv, TRUE);
}

Test(e2e, sweep_runs_the_cross_product_into_one_database) {
    g_autofree char *db = g_build_filename(dir, "sweep.sqlite", NULL);
    const char *args[] = {"sweep",
                          scenario,
                          "--db",
                          db,
                          "--quiet",
                          "--set",
                          "run.mode=train",
                          "--vary",
                          "rule.name=opzo,dfa",
                          "--vary",
                          "feedback h1.delay=0,3",
                          NULL};
    char *err = NULL;
    int rc = oz_test_runv(args, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 4);
    cr_assert_eq(oz_test_q(db, "select count(distinct sweep) from runs"), 4, "each run tagged");
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where sweep like '%rule.name=dfa feedback "
                       "h1.delay=3'"),
                 1);
    /* Stored eligibility: the delayed run learns exactly what the undelayed one does. */
    cr_assert_eq(oz_test_q(db, "select count(distinct e.accuracy) from epochs e join runs r on r.id = "
                       "e.run_id where e.phase = 'test' and r.sweep like '%rule.name=opzo%'"),
                 1);
    const char *bad[] = {"sweep", scenario, "--db", db, "--vary", "rule.name=opzo,hebb", NULL};
    err = NULL;
    cr_assert_eq(oz_test_runv(bad, &err), 2, "an invalid combination stops the sweep before it runs");
    cr_assert(strstr(err, "hebb"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs"), 4);
}

Test(e2e, numerical_guards_stop_the_run_and_keep_the_last_good_checkpoint) {
    /* SGD with an absurd learning rate overflows the weights within a few batches. */
    g_autofree char *db = g_build_filename(dir, "nan.sqlite", NULL);
    const char *a1[] = {"run",
                        scenario,
                        "--db",
                        db,
                        "--quiet",
                        "--set",
                        "run.mode=train",
                        "--set",
                        "run.epochs=3",
                        "--set",
                        "optimizer.name=sgd",
                        "--set",
                        "optimizer.lr=1e6",
                        "--set",
                        "rule.name=bp",
                        NULL};
    char *err = NULL;
    cr_assert_eq(oz_test_runv(a1, &err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "finite") || strstr(err, "NaN") || strstr(err, "infinite"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'failed' and message is not null"),
                 1);
    /* Runaway firing: a low max_rate trips the guard after two batches of the first epoch. */
    g_autofree char *db2 = g_build_filename(dir, "runaway.sqlite", NULL);
    const char *a2[] = {"run",
                        scenario,
                        "--db",
                        db2,
                        "--quiet",
                        "--set",
                        "run.mode=train",
                        "--set",
                        "run.max_rate=0.01",
                        "--set",
                        "run.runaway_batches=2",
                        NULL};
    err = NULL;
    cr_assert_eq(oz_test_runv(a2, &err), 1, "stderr: %s", err);
    cr_assert(strstr(err, "runaway firing: population h1"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db2, "select count(*) from runs where status = 'failed'"), 1);
    cr_assert_eq(oz_test_q(db2, "select count(*) from checkpoints"), 0, "no checkpoint of a faulty epoch");
    cr_assert_eq(oz_test_q(db2, "select count(*) from epochs"), 0);
}

Test(e2e, a_full_disk_fails_the_run_cleanly_and_keeps_committed_epochs) {
    g_autofree char *db = g_build_filename(dir, "full.sqlite", NULL);
    const char *argv[] = {oz_test_bin(),   "run",           scenario, "--db",
                          db,      "--quiet",       "--set",  "run.mode=train",
                          "--set", "run.epochs=20", "--set",  "record.checkpoints_all=true",
                          NULL};
    /* 60 pages of 4 KiB hold the schema and a few epochs of this small net, not 20. */
    char **env = g_environ_setenv(g_get_environ(), "OPZOSIM_FAULT_MAX_PAGES", "60", TRUE);
    int status = 0;
    char *err = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err,
                           &status, NULL));
    g_strfreev(env);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "stderr: %s", err);
    cr_assert(strstr(err, "full") && strstr(err, "full.sqlite"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'failed' and message like "
                       "'%full%'"),
                 1);
    gint64 epochs = oz_test_q(db, "select count(*) from epochs where phase = 'test'");
    cr_assert(epochs >= 1 && epochs < 20, "some epochs were committed before the fault (%ld)",
              (long)epochs);
    /* Every committed test epoch has its whole checkpoint: nothing half-written. */
    cr_assert_eq(oz_test_q(db, "select count(distinct epoch) from checkpoints"), epochs);
    cr_assert_eq(oz_test_q(db, "select count(*) from checkpoints group by epoch order by 1 limit 1"),
                 oz_test_q(db, "select count(*) from checkpoints group by epoch order by 1 desc limit 1"));
    cr_assert_eq(oz_test_q(db, "select count(*) from pragma_integrity_check where integrity_check = 'ok'"),
                 1);
}

Test(e2e, a_locked_run_log_is_a_clear_error_after_the_busy_timeout) {
    g_autofree char *db = g_build_filename(dir, "locked.sqlite", NULL);
    const char *first[] = {"run", scenario, "--db", db, "--quiet", NULL};
    cr_assert_eq(oz_test_runv(first, NULL), 0);
    sqlite3 *holder;
    cr_assert_eq(sqlite3_open(db, &holder), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    const char *second[] = {"run", scenario, "--db", db, "--quiet", "--busy-timeout", "300", NULL};
    char *err = NULL;
    int rc = oz_test_runv(second, &err);
    sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(holder);
    cr_assert_eq(rc, 1, "stderr: %s", err);
    cr_assert(strstr(err, "locked.sqlite") && strstr(err, "locked"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'running'"), 0);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs"), 1, "the first run is intact");
}

Test(e2e, init_from_a_checkpoint_starts_from_its_weights) {
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    const char *train[] = {"run",
                           scenario,
                           "--db",
                           a,
                           "--quiet",
                           "--set",
                           "run.mode=train",
                           "--set",
                           "run.epochs=2",
                           "--set",
                           "optimizer.lr=1e-2",
                           NULL};
    cr_assert_eq(oz_test_runv(train, NULL), 0);
    const char *infer[] = {"run", scenario, "--db", b, "--quiet", "--init-from", a, NULL};
    char *err = NULL;
    cr_assert_eq(oz_test_runv(infer, &err), 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(a, "select accuracy * 1e12 from epochs where phase = 'test' and epoch = 1"),
                 oz_test_q(b, "select accuracy * 1e12 from epochs where phase = 'test'"),
                 "inference from the checkpoint reproduces its test accuracy");
    cr_assert_eq(oz_test_q(b, "select count(*) from runs where overrides like '%--init-from%'"), 1);
    const char *bad[] = {
        "run", scenario, "--db", b, "--quiet", "--init-from", "/nonexistent.sqlite", NULL};
    err = NULL;
    cr_assert_eq(oz_test_runv(bad, &err), 2);
    cr_assert(strstr(err, "/nonexistent.sqlite"), "%s", err);
    g_free(err);
}

/* Interrupts a training run after `batches` mini-batches (through the program's test
 * hook, which raises SIGINT), resumes it, and checks that every logged number and the
 * final weights equal those of `full`. */
static void interrupt_and_resume(const char *full, const char *cut, int batches) {
    const char *argv[] = {oz_test_bin(),    "run",
                          scenario, "--db",
                          cut,      "--quiet",
                          "--set",  "run.mode=train",
                          "--set",  "run.epochs=2",
                          "--set",  "record.grad_stats=true",
                          "--set",  "record.grad_stats_every=3",
                          NULL};
    g_autofree char *n = g_strdup_printf("%d", batches);
    char **env = g_environ_setenv(g_get_environ(), "OPZOSIM_TEST_INTERRUPT_AFTER", n, TRUE);
    int status = 0;
    cr_assert(g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                           &status, NULL));
    g_strfreev(env);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130,
              "interrupt after %d batches: status %d", batches, status);
    cr_assert_gt(oz_test_q(cut, "select count(*) from interrupt_state"), 0, "state committed (%d)",
                 batches);
    const char *again[] = {"run",     scenario,
                           "--db",    cut,
                           "--quiet", "--resume",
                           "--set",   "run.mode=train",
                           "--set",   "run.epochs=2",
                           "--set",   "record.grad_stats=true",
                           "--set",   "record.grad_stats_every=3",
                           NULL};
    char *err = NULL;
    cr_assert_eq(oz_test_runv(again, &err), 0, "%s", err);
    cr_assert(strstr(err, "where it was interrupted"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(cut, "select count(*) from interrupt_state"), 0, "cleared by the next epoch");
    const char *sqls[] = {
        "select sum(accuracy * 1e12) from epochs",
        "select sum(loss * 1e12) from epochs",
        "select sum(spikes) from firing_rates",
        "select sum(synops + update_ops) from synops",
        "select sum(feedback_macs) from training_ops",
        "select sum(cos_bp * 1e12) + sum(variance * 1e18) from grad_stats",
        "select count(*) from spikes",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(sqls); i++)
        cr_assert_eq(oz_test_q(full, sqls[i]), oz_test_q(cut, sqls[i]), "%s (after %d batches)", sqls[i], batches);
    const char *names[] = {"w:in_h1", "w:h1_h2", "w:h2_out", "fb:h1", "v:in_h1"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *sql = g_strdup_printf(
            "select data from checkpoints where epoch = 1 and name = '%s'", names[i]);
        GBytes *x = oz_test_blob(full, sql), *y = oz_test_blob(cut, sql);
        cr_assert(g_bytes_equal(x, y), "%s differs (after %d batches)", names[i], batches);
        g_bytes_unref(x);
        g_bytes_unref(y);
    }
}

Test(e2e, interrupted_anywhere_then_resumed_equals_uninterrupted) {
    /* 4000 training samples in batches of 16: 250 train + 19 test batches per epoch. */
    oz_test_write_dataset(dir, 4000, 300, 6, 6, 10);
    g_autofree char *full = g_build_filename(dir, "u.sqlite", NULL);
    const char *args[] = {"run",
                          scenario,
                          "--db",
                          full,
                          "--quiet",
                          "--set",
                          "run.mode=train",
                          "--set",
                          "run.epochs=2",
                          "--set",
                          "record.grad_stats=true",
                          "--set",
                          "record.grad_stats_every=3",
                          NULL};
    cr_assert_eq(oz_test_runv(args, NULL), 0);
    /* Inside the first training phase, inside the first test phase (spikes are being
     * recorded there), exactly at the end of epoch 1, and inside the second training phase. */
    const int at[] = {37, 255, 269, 400};
    for (gsize i = 0; i < G_N_ELEMENTS(at); i++) {
        g_autofree char *name = g_strdup_printf("cut%zu.sqlite", i);
        g_autofree char *cut = g_build_filename(dir, name, NULL);
        interrupt_and_resume(full, cut, at[i]);
    }
}

/* An unreadable data file.  Root reads everything, so as root the program is run as
 * "nobody" (setpriv, util-linux); the files are made readable to it except the one. */
Test(e2e, an_unreadable_data_file_is_a_clear_error) {
    g_autofree char *pub = g_strdup_printf("%s/pub", dir);
    cr_assert_eq(g_mkdir_with_parents(pub, 0755), 0);
    cr_assert_eq(chmod(dir, 0755), 0);
    oz_test_write_dataset(pub, 20, 20, 6, 6, 10);
    g_autofree char *text = g_strdup_printf("[data]\ndir = %s\n"
                                            "[population in]\nmodel = input\nsize = 36\n"
                                            "[population out]\nmodel = readout\nsize = 10\n"
                                            "[projection p]\nfrom = in\nto = out\n",
                                            pub);
    g_autofree char *sc = oz_test_write_file(pub, "perm.ini", text);
    g_autofree char *labels = g_build_filename(pub, "t10k-labels-idx1-ubyte", NULL);
    g_autofree char *images = g_build_filename(pub, "t10k-images-idx3-ubyte", NULL);
    cr_assert_eq(chmod(images, 0644), 0);
    cr_assert_eq(chmod(sc, 0644), 0);
    cr_assert_eq(chmod(labels, 0000), 0);
    g_autofree char *db = g_build_filename(pub, "perm.sqlite", NULL);
    const char *as_user[] = {oz_test_bin(), "run", sc, "--db", db, "--quiet", NULL};
    const char *as_nobody[] = {"setpriv",
                               "--reuid=65534",
                               "--regid=65534",
                               "--clear-groups",
                               oz_test_bin(),
                               "run",
                               sc,
                               "--db",
                               db,
                               "--quiet",
                               NULL};
    gboolean root = geteuid() == 0;
    g_autofree char *setpriv = g_find_program_in_path("setpriv");
    if (root && !setpriv)
        cr_skip_test("running as root without setpriv");
    int status = 0;
    char *err = NULL;
    cr_assert(g_spawn_sync(pub, (char **)(root ? as_nobody : as_user), NULL, G_SPAWN_SEARCH_PATH,
                           NULL, NULL, NULL, &err, &status, NULL));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d: %s", status, err);
    cr_assert(strstr(err, "t10k-labels-idx1-ubyte") && strstr(err, "ermission denied"), "%s", err);
    g_free(err);
    chmod(labels, 0644);
}

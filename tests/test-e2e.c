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

/* The argument vector "run SCENARIO --db DB --quiet" and whatever is added to it. */
static GPtrArray *run_args(const char *db) {
    return oz_test_args_new("run", scenario, "--db", db, "--quiet", NULL);
}

/* Training with every optional table and tensor on: gradient statistics (every third
 * batch), local-learning readouts (ll: tensors), spike rows (the scenario records the
 * first 3 test samples) and a checkpoint of every epoch, so a comparison of two logs
 * covers all of them. */
static const char *const train_all[] = {"--set", "run.mode=train",
                                        "--set", "record.grad_stats=true",
                                        "--set", "record.grad_stats_every=3",
                                        "--set", "rule.local_learning=true",
                                        "--set", "record.checkpoints_all=true",
                                        NULL};

/* Polls (every 5 ms, up to a minute: valgrind is slow to start) until sql over db yields
 * a positive number; returns whether it did. */
static gboolean poll_until(const char *db, const char *sql) {
    for (int i = 0; i < 12000; i++) {
        if (g_file_test(db, G_FILE_TEST_EXISTS) && oz_test_q_try(db, sql) > 0)
            return TRUE;
        g_usleep(5000);
    }
    return FALSE;
}

Test(e2e, inference_run_logs_rates_synops_spikes_and_energy) {
    g_autofree char *db = g_build_filename(dir, "r.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", NULL);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from firing_rates"), 4, "a row per population");
    cr_assert_eq(oz_test_q(db, "select count(*) from firing_rates where rate is not null"), 2);
    cr_assert_eq(oz_test_q(db, "select samples from epochs where phase = 'test'"), 50);
    cr_assert_eq(oz_test_q(db, "select count(*) from synops"), 3);
    cr_assert_eq(oz_test_q(db, "select dense_macs from synops where projection = 'in_h1'"),
                 50 * 36 * 40);
    /* SynOps = spikes × fan-out, exactly. */
    cr_assert_eq(oz_test_q(db, "select s.synops - f.spikes * 30 from synops s join firing_rates f "
                               "on f.population = 'h1' where s.projection = 'h1_h2'"),
                 0);
    /* Every spike packet of h1 (one per tick and batch while it fires) took one path; no
     * gradient chunks without training. */
    cr_assert_gt(oz_test_q(db, "select packets_event + packets_dense + packets_delta from synops "
                               "where projection = 'h1_h2'"),
                 0);
    cr_assert_eq(oz_test_q(db, "select sum(grad_flushes_sparse + grad_flushes_dense) from synops"),
                 0);
    cr_assert_gt(oz_test_q(db, "select count(*) from spikes"), 0);
    cr_assert_eq(oz_test_q(db, "select max(sample) from spikes"), 2, "only the first 3 samples");
    cr_assert_eq(oz_test_q(db, "select count(*) from energy where phase = 'test'"), 8);
    cr_assert_eq(oz_test_q(db, "select count(*) from populations"), 4);
    cr_assert_eq(oz_test_q(db, "select count(*) from projections"), 3);
}

Test(e2e, training_logs_loss_accuracy_lr_and_alpha_per_epoch) {
    g_autofree char *db = g_build_filename(dir, "train.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--set", "run.mode=train",
                         "--set", "run.epochs=3", "--set", "rule.name=opzo", NULL);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'train'"), 3);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'test'"), 3);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'train' and loss > 0 and "
                               "accuracy between 0 and 1 and seconds > 0 and lr > 0"),
                 3);
    /* α linear 0.2 → 0.01 over 3 epochs: 0.2, 0.105, 0.01; cosine lr: 1, 0.75, 0.25 × lr0. */
    cr_assert_eq(oz_test_q(db, "select round(alpha * 1000) from epochs where phase = 'train' and "
                               "epoch = 1"),
                 105);
    cr_assert_eq(oz_test_q(db, "select round(lr / 2e-4 * 100) from epochs where phase = 'train' "
                               "and epoch = 2"),
                 25);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where phase = 'test' and loss > 0"), 3);
    /* The alternative α readings: e/E per epoch, and fixed. */
    g_autofree char *db2 = g_build_filename(dir, "train2.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", db2, "--quiet", "--set",
                             "run.mode=train", "--set", "run.epochs=3", "--set",
                             "rule.alpha_schedule=linear_e_over_E", NULL),
                 0);
    cr_assert_eq(oz_test_q(db2, "select round(alpha * 1e5) from epochs where phase = 'train' and "
                                "epoch = 1"),
                 13667);
    g_autofree char *db3 = g_build_filename(dir, "train3.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", db3, "--quiet", "--set",
                             "run.mode=train", "--set", "run.epochs=2", "--set",
                             "rule.alpha_schedule=fixed", "--set", "optimizer.schedule=constant",
                             NULL),
                 0);
    cr_assert_eq(oz_test_q(db3, "select count(*) from epochs where phase = 'train' and "
                                "abs(alpha - 0.2) < 1e-6 and abs(lr - 2e-4) < 1e-12"),
                 2);
}

/* At one thread and at three (the compute team splits every per-neuron loop of this
 * net, on two cores or more), reruns are identical: every logged row and checkpoint. */
Test(e2e, same_seed_gives_identical_logs) {
    const char *threads[] = {"1", "3"};
    for (gsize t = 0; t < G_N_ELEMENTS(threads); t++) {
        char *dbs[2];
        for (int k = 0; k < 2; k++) {
            g_autofree char *name = g_strdup_printf("%d-%s.sqlite", k + 1, threads[t]);
            dbs[k] = g_build_filename(dir, name, NULL);
            GPtrArray *a = run_args(dbs[k]);
            oz_test_args_addv(a, train_all);
            oz_test_args_add(a, "--threads", threads[t], "--set", "rule.name=opzo", "--set",
                             "population h1.dropout=0.2", NULL);
            cr_assert_eq(oz_test_runv(oz_test_args_end(a), NULL), 0);
            g_ptr_array_free(a, TRUE);
        }
        oz_test_assert_logs_equal(dbs[0], 1, dbs[1], 1);
        g_free(dbs[0]);
        g_free(dbs[1]);
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
         {"bad.ini: [projection back] delay: zero-delay cycle among projections h1_h2, h2_out, "
          "back: every cycle needs a projection with delay >= 1"}},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = scenario_text(36, cases[i].extra);
        g_autofree char *path = oz_test_write_file(dir, "bad.ini", text);
        g_autofree char *db = g_build_filename(dir, "bad.sqlite", NULL);
        char *err = NULL;
        int rc = oz_test_run(&err, "run", path, "--db", db, "--quiet",
                             cases[i].set ? "--set" : NULL, cases[i].set, NULL);
        cr_assert_eq(rc, 2, "%s: exit %d, stderr: %s", cases[i].what, rc, err);
        cr_assert(strstr(err, "bad.ini"), "%s: names the file: %s", cases[i].what, err);
        for (int k = 0; k < 3 && cases[i].must[k]; k++)
            cr_assert(strstr(err, cases[i].must[k]), "%s: wants '%s' in: %s", cases[i].what,
                      cases[i].must[k], err);
        cr_assert_eq(g_strstr_len(err, -1, "\n") - err + 1, (long)strlen(err), "%s: one line: %s",
                     cases[i].what, err);
        g_free(err);
        cr_assert_not(g_file_test(db, G_FILE_TEST_EXISTS), "%s: no run log, so no run row",
                      cases[i].what);
    }
}

Test(e2e, bad_command_lines_exit_2) {
    cr_assert_eq(oz_test_run(NULL, "run", NULL), 2);
    cr_assert_eq(oz_test_run(NULL, "frobnicate", NULL), 2);
    cr_assert_eq(oz_test_run(NULL, "run", "/nonexistent.ini", NULL), 2);
    cr_assert_eq(oz_test_run(NULL, "--version", NULL), 0);
}

/* Starts a long inference run, sends sig once its run row exists (the program catches
 * signals before it creates the row), and checks the exit code and the run row. */
static void signal_midrun(int sig, int want_exit, const char *db_name) {
    /* Enough samples that the run is still going when the signal comes. */
    oz_test_write_dataset(dir, 10, 60000, 6, 6, 10);
    g_autofree char *db = g_build_filename(dir, db_name, NULL);
    GPtrArray *a = run_args(db);
    oz_test_args_add(a, "--set", "run.batch_size=8", "--set", "population h1.size=3000", "--set",
                     "population h2.size=3000", NULL);
    GPid pid = oz_test_spawnv(oz_test_args_end(a));
    g_ptr_array_free(a, TRUE);
    gboolean started = poll_until(db, "select count(*) from runs");
    kill(pid, sig);
    int code = oz_test_wait(pid);
    cr_assert(started, "the run row never appeared");
    cr_assert_eq(code, want_exit, "exit %d", code);
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

/* The checkpoint of the last epoch holds every kind of tensor (so comparing checkpoints
 * compares all of them): weights, biases, feedback matrices, LL readouts, both AdamW
 * moments, the step count and every random stream. */
static void assert_checkpoint_is_complete(const char *db) {
    const char *const kinds[] = {
        "w:%",         "b:%",         "fb:%",      "ll:%",       "m:%",
        "v:%",           "optim:steps",   "rng:init.%",    "rng:input.%", "rng:input_test.%",
        "rng:dropout.%", "rng:shuffle.%", "rng:noise.%",   "rng:jitter.%", NULL};
    for (const char *const *k = kinds; *k; k++) {
        g_autofree char *sql =
            g_strdup_printf("select count(*) from checkpoints where name like '%s' and epoch = "
                            "(select max(epoch) from checkpoints)",
                            *k);
        cr_assert_gt(oz_test_q(db, sql), 0, "%s: no checkpoint tensor %s", db, *k);
    }
}

Test(e2e, resumed_run_equals_an_uninterrupted_one_and_eval_reproduces_it) {
    oz_test_write_dataset(dir, 20000, 500, 6, 6, 10);
    g_autofree char *full = g_build_filename(dir, "full.sqlite", NULL);
    g_autofree char *cut = g_build_filename(dir, "cut.sqlite", NULL);
    const char *const sets[] = {"--set", "run.epochs=3",
                                "--set", "rule.name=opzo",
                                "--set", "population h1.dropout=0.2",
                                "--set", "record.grad_stats_every=25",
                                NULL};
    GPtrArray *a = run_args(full);
    oz_test_args_addv(a, train_all);
    oz_test_args_addv(a, sets);
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), NULL), 0);
    g_ptr_array_free(a, TRUE);
    /* The same run, interrupted by a real SIGINT once its first epoch is checkpointed,
     * then resumed. */
    a = run_args(cut);
    oz_test_args_addv(a, train_all);
    oz_test_args_addv(a, sets);
    GPid pid = oz_test_spawnv(oz_test_args_end(a));
    gboolean saved = poll_until(cut, "select count(*) from checkpoints where epoch = 0");
    kill(pid, SIGINT);
    int code = oz_test_wait(pid);
    cr_assert(saved, "no checkpoint of epoch 0 appeared");
    cr_assert_eq(code, 130, "the signal must land mid-run (exit %d)", code);
    cr_assert_eq(oz_test_q(cut, "select count(*) from runs where status = 'interrupted'"), 1);
    cr_assert_lt(oz_test_q(cut, "select count(*) from epochs where phase = 'test'"), 3);
    oz_test_args_add(a, "--resume", NULL);
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), NULL), 0);
    g_ptr_array_free(a, TRUE);
    cr_assert_eq(oz_test_q(cut, "select count(*) from runs"), 1, "resumed into the same run");
    cr_assert_eq(oz_test_q(cut, "select count(*) from runs where status = 'finished'"), 1);
    assert_checkpoint_is_complete(full);
    oz_test_assert_logs_equal(full, 1, cut, 1);
    for (int k = 0; k < 2; k++) {
        char *err = NULL;
        cr_assert_eq(oz_test_run(&err, "eval", "--db", k ? cut : full, NULL), 0,
                     "eval reproduces the stored accuracy: %s", err);
        g_free(err);
    }
}

/* The id of the run of a sweep whose tag ends with tail. */
static gint64 sweep_run(const char *db, const char *tail) {
    g_autofree char *sql = g_strdup_printf("select id from runs where sweep like '%%: %s'", tail);
    return oz_test_q(db, sql);
}

Test(e2e, sweep_runs_the_cross_product_into_one_database) {
    g_autofree char *db = g_build_filename(dir, "sweep.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "sweep", scenario, "--db", db, "--quiet", "--set", "run.mode=train",
                         "--vary", "rule.name=opzo,dfa", "--vary", "feedback h1.delay=0,3", NULL);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 4);
    cr_assert_eq(oz_test_q(db, "select count(distinct sweep) from runs"), 4, "each run tagged");
    cr_assert_eq(oz_test_q(db,
                           "select count(*) from runs where sweep like '%rule.name=dfa feedback "
                           "h1.delay=3'"),
                 1);
    /* Stored eligibility: the delayed run learns exactly what the undelayed one does —
     * every tensor of the checkpoint (weights, moments, feedback matrices, random streams)
     * is the same, byte for byte. */
    const char *rules[] = {"opzo", "dfa"};
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        g_autofree char *d0 = g_strdup_printf("rule.name=%s feedback h1.delay=0", rules[r]);
        g_autofree char *d3 = g_strdup_printf("rule.name=%s feedback h1.delay=3", rules[r]);
        gint64 run0 = sweep_run(db, d0), run3 = sweep_run(db, d3);
        cr_assert_neq(run0, run3);
        oz_test_assert_checkpoints_equal(db, run0, db, run3);
    }
    err = NULL;
    cr_assert_eq(
        oz_test_run(&err, "sweep", scenario, "--db", db, "--vary", "rule.name=opzo,hebb", NULL), 2,
        "an invalid combination stops the sweep before it runs");
    cr_assert(strstr(err, "hebb"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs"), 4);
}

Test(e2e, numerical_guards_stop_the_run_and_keep_the_last_good_checkpoint) {
    /* SGD with an absurd learning rate overflows the weights within a few batches. */
    g_autofree char *db = g_build_filename(dir, "nan.sqlite", NULL);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--set",
                             "run.mode=train", "--set", "run.epochs=3", "--set",
                             "optimizer.name=sgd", "--set", "optimizer.lr=1e6", "--set",
                             "rule.name=bp", NULL),
                 1, "stderr: %s", err);
    cr_assert(strstr(err, "finite") || strstr(err, "NaN") || strstr(err, "infinite"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'failed' and message is "
                               "not null"),
                 1);
    /* Runaway firing: with max_rate 0.01 every training batch counts, and the 3 batches of
     * an epoch (40 samples of 16) stay below runaway_batches = 4, so epoch 0 ends well; the
     * count goes on in the next training phase and trips in epoch 1's first batch. */
    const char *const runaway[] = {"--set", "run.mode=train",        "--set", "run.max_rate=0.01",
                                   "--set", "run.runaway_batches=4", NULL};
    g_autofree char *db2 = g_build_filename(dir, "runaway.sqlite", NULL);
    GPtrArray *a = run_args(db2);
    oz_test_args_addv(a, runaway);
    oz_test_args_add(a, "--set", "run.epochs=3", NULL);
    err = NULL;
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), &err), 1, "stderr: %s", err);
    g_ptr_array_free(a, TRUE);
    cr_assert(strstr(err, "runaway firing: population h1"), "%s", err);
    cr_assert(strstr(err, "last good checkpoint is epoch 0"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db2, "select count(*) from runs where status = 'failed'"), 1);
    cr_assert_eq(oz_test_q(db2, "select count(*) from epochs where epoch = 0"), 2);
    cr_assert_eq(oz_test_q(db2, "select count(*) from epochs where epoch > 0"), 0,
                 "the faulty epoch is not logged");
    cr_assert_eq(oz_test_q(db2, "select count(*) from checkpoints where epoch != 0"), 0,
                 "no checkpoint of a faulty epoch");
    /* The checkpoint kept is epoch 0's: every tensor equals that of the same run stopped
     * after one epoch (α and the learning rate of epoch 0 do not depend on the number of
     * epochs; runaway_batches = 4 is never reached). */
    g_autofree char *db3 = g_build_filename(dir, "one-epoch.sqlite", NULL);
    a = run_args(db3);
    oz_test_args_addv(a, runaway);
    oz_test_args_add(a, "--set", "run.epochs=1", NULL);
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), NULL), 0);
    g_ptr_array_free(a, TRUE);
    oz_test_assert_checkpoints_equal(db2, 1, db3, 1);
    /* And it reproduces epoch 0's stored test accuracy (eval exits 1 if not). */
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "eval", "--db", db2, NULL), 0, "%s", err);
    g_free(err);
    /* A fault in the last batch of a training phase: runaway_batches = 6 trips in epoch 1's
     * third and last training batch, whose phase would end, log its row and go on to the
     * test phase and the checkpoint if the faulty batch did not stop the run. */
    const char *const late[] = {"--set", "run.mode=train",        "--set", "run.max_rate=0.01",
                                "--set", "run.runaway_batches=6", NULL};
    g_autofree char *db4 = g_build_filename(dir, "late.sqlite", NULL);
    a = run_args(db4);
    oz_test_args_addv(a, late);
    oz_test_args_add(a, "--set", "run.epochs=3", NULL);
    err = NULL;
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), &err), 1, "stderr: %s", err);
    g_ptr_array_free(a, TRUE);
    cr_assert(strstr(err, "for 6 batches in a row") &&
                  strstr(err, "last good checkpoint is epoch 0"),
              "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db4, "select count(*) from epochs where epoch > 0"), 0,
                 "the faulty epoch's training phase is not logged");
    cr_assert_eq(oz_test_q(db4, "select count(*) from checkpoints where epoch != 0"), 0,
                 "no checkpoint of a faulty epoch");
    cr_assert_gt(oz_test_q(db4, "select count(*) from checkpoints where epoch = 0"), 0,
                 "epoch 0's checkpoint is kept");
    /* A fault before any epoch finished says there is no checkpoint (not "epoch -1"). */
    g_autofree char *db5 = g_build_filename(dir, "early.sqlite", NULL);
    a = run_args(db5);
    oz_test_args_add(a, "--set", "run.mode=train", "--set", "run.max_rate=0.01", "--set",
                     "run.runaway_batches=1", NULL);
    err = NULL;
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), &err), 1, "stderr: %s", err);
    g_ptr_array_free(a, TRUE);
    cr_assert(strstr(err, "no epoch finished, so there is no checkpoint") &&
                  !strstr(err, "epoch -1"),
              "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db5, "select count(*) from checkpoints"), 0);
}

Test(e2e, a_full_disk_fails_the_run_cleanly_and_keeps_committed_epochs) {
    g_autofree char *db = g_build_filename(dir, "full.sqlite", NULL);
    GPtrArray *a = run_args(db);
    oz_test_args_add(a, "--set", "run.mode=train", "--set", "run.epochs=20", "--set",
                     "record.checkpoints_all=true", NULL);
    /* 60 pages of 4 KiB hold the schema and a few epochs of this small net, not 20. */
    const char *const env[] = {"OPZOSIM_FAULT_MAX_PAGES=60", NULL};
    char *err = NULL;
    int rc = oz_test_runv_env(oz_test_args_end(a), env, &err);
    g_ptr_array_free(a, TRUE);
    cr_assert_eq(rc, 1, "stderr: %s", err);
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
    cr_assert_eq(
        oz_test_q(db, "select count(*) from checkpoints group by epoch order by 1 limit 1"),
        oz_test_q(db, "select count(*) from checkpoints group by epoch order by 1 desc limit 1"));
    cr_assert_eq(oz_test_q(db, "select count(*) from pragma_integrity_check where "
                               "integrity_check = 'ok'"),
                 1);
}

Test(e2e, a_locked_run_log_is_a_clear_error_after_the_busy_timeout) {
    g_autofree char *db = g_build_filename(dir, "locked.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", db, "--quiet", NULL), 0);
    sqlite3 *holder;
    cr_assert_eq(sqlite3_open(db, &holder), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    char *err = NULL;
    int rc =
        oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--busy-timeout", "300", NULL);
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
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", a, "--quiet", "--set", "run.mode=train",
                             "--set", "run.epochs=2", "--set", "optimizer.lr=1e-2", NULL),
                 0);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", scenario, "--db", b, "--quiet", "--init-from", a, NULL),
                 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(a, "select accuracy * 1e12 from epochs where phase = 'test' and "
                              "epoch = 1"),
                 oz_test_q(b, "select accuracy * 1e12 from epochs where phase = 'test'"),
                 "inference from the checkpoint reproduces its test accuracy");
    cr_assert_eq(oz_test_q(b, "select count(*) from runs where overrides like '%--init-from%'"), 1);
    err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", scenario, "--db", b, "--quiet", "--init-from",
                             "/nonexistent.sqlite", NULL),
                 2);
    cr_assert(strstr(err, "/nonexistent.sqlite"), "%s", err);
    g_free(err);
}

/* Runs a training run (train_all plus sets; 2 epochs) uninterrupted into full, then, for
 * each count in cuts, the same run interrupted after that many mini-batches (through the
 * program's test hook, which raises SIGINT) and resumed; every logged row and checkpoint
 * must equal those of full. */
static void assert_resumes_anywhere(const char *tag, const char *full, const char *const *sets,
                                    const int *cuts, gsize ncuts) {
    GPtrArray *a = run_args(full);
    oz_test_args_addv(a, train_all);
    oz_test_args_add(a, "--set", "run.epochs=2", NULL);
    oz_test_args_addv(a, sets);
    cr_assert_eq(oz_test_runv(oz_test_args_end(a), NULL), 0);
    g_ptr_array_free(a, TRUE);
    for (gsize i = 0; i < ncuts; i++) {
        g_autofree char *name = g_strdup_printf("%s-cut%d.sqlite", tag, cuts[i]);
        g_autofree char *cut = g_build_filename(dir, name, NULL);
        g_autofree char *hook = g_strdup_printf("OPZOSIM_TEST_INTERRUPT_AFTER=%d", cuts[i]);
        const char *const env[] = {hook, NULL};
        a = run_args(cut);
        oz_test_args_addv(a, train_all);
        oz_test_args_add(a, "--set", "run.epochs=2", NULL);
        oz_test_args_addv(a, sets);
        int rc = oz_test_runv_env(oz_test_args_end(a), env, NULL);
        cr_assert_eq(rc, 130, "%s: interrupt after %d batches: exit %d", tag, cuts[i], rc);
        cr_assert_gt(oz_test_q(cut, "select count(*) from interrupt_state"), 0,
                     "%s: state committed (%d)", tag, cuts[i]);
        oz_test_args_add(a, "--resume", NULL);
        char *err = NULL;
        cr_assert_eq(oz_test_runv(oz_test_args_end(a), &err), 0, "%s", err);
        cr_assert(strstr(err, "where it was interrupted"), "%s", err);
        g_free(err);
        g_ptr_array_free(a, TRUE);
        cr_assert_eq(oz_test_q(cut, "select count(*) from interrupt_state"), 0,
                     "cleared by the next epoch");
        oz_test_assert_logs_equal(full, 1, cut, 1);
    }
}

Test(e2e, interrupted_anywhere_then_resumed_equals_uninterrupted) {
    /* 4000 training samples in batches of 16: 250 train + 19 test batches per epoch. */
    oz_test_write_dataset(dir, 4000, 300, 6, 6, 10);
    g_autofree char *full = g_build_filename(dir, "u.sqlite", NULL);
    /* Inside the first training phase, inside the first test phase, exactly at the end of
     * epoch 1, inside the second training phase, and inside the last test phase (spikes
     * are being recorded there). */
    const int at[] = {37, 255, 269, 400, 525};
    const char *const sets[] = {NULL};
    assert_resumes_anywhere("opzo", full, sets, at, G_N_ELEMENTS(at));
    assert_checkpoint_is_complete(full);
}

/* DFA sends spike packets in training, so delta delivery and sparse gradient chunks are
 * taken (the defaults); their state lives within a batch, and their counters in the
 * interruption state. */
Test(e2e, a_dfa_run_with_delta_packets_and_sparse_chunks_resumes_anywhere) {
    oz_test_write_dataset(dir, 4000, 300, 6, 6, 10);
    g_autofree char *full = g_build_filename(dir, "dfa.sqlite", NULL);
    const int at[] = {100, 260, 400};
    const char *const sets[] = {"--set", "rule.name=dfa", NULL};
    assert_resumes_anywhere("dfa", full, sets, at, G_N_ELEMENTS(at));
    for (int e = 0; e < 2; e++)
        for (int test = 0; test < 2; test++) {
            g_autofree char *sql = g_strdup_printf(
                "select sum(packets_delta) from synops where epoch = %d and phase = '%s'", e,
                test ? "test" : "train");
            cr_assert_gt(oz_test_q(full, sql), 0, "epoch %d %s: delta packets", e,
                         test ? "test" : "train");
        }
    cr_assert_gt(oz_test_q(full, "select min(grad_flushes_sparse) from synops where phase = "
                                 "'train' and projection = 'h1_h2'"),
                 0, "sparse chunks in every training phase");
    cr_assert_eq(oz_test_q(full, "select sum(grad_flushes_sparse + grad_flushes_dense) from "
                                 "synops where phase = 'test'"),
                 0);
    /* The counts are per phase: both training phases have the same batches and windows,
     * so the same number of flushes (a count carried over would double in epoch 1). */
    cr_assert_eq(oz_test_q(full, "select count(distinct grad_flushes_sparse + grad_flushes_dense) "
                                 "from synops where phase = 'train' and projection = 'h1_h2'"),
                 1);
    cr_assert_eq(oz_test_q(full, "select count(distinct packets_event + packets_dense + "
                                 "packets_delta) from synops where phase = 'train' and "
                                 "projection = 'h1_h2'"),
                 1);
}

/* OPZO with feedback delays and jitter: errors arrive late and out of order (drawn from
 * the jitter stream); h2's arrive under current eligibility, so the draws decide which
 * factors they meet and a jitter stream resumed wrongly changes the weights. */
Test(e2e, an_opzo_run_with_feedback_delay_and_jitter_resumes_anywhere) {
    oz_test_write_dataset(dir, 4000, 300, 6, 6, 10);
    g_autofree char *full = g_build_filename(dir, "jitter.sqlite", NULL);
    const int at[] = {37, 400};
    const char *const sets[] = {
        "--set", "rule.name=opzo",       "--set", "feedback h1.delay=2",
        "--set", "feedback h1.jitter=2", "--set", "feedback h2.delay=1",
        "--set", "feedback h2.jitter=3", "--set", "feedback h2.eligibility=current",
        NULL};
    assert_resumes_anywhere("jitter", full, sets, at, G_N_ELEMENTS(at));
}

/* A log written before the delivery and gradient-path counters existed gains their
 * columns when opened (0 in its old rows) and takes new rows. */
Test(e2e, an_older_run_log_gains_the_path_counter_columns) {
    g_autofree char *db = g_build_filename(dir, "old.sqlite", NULL);
    sqlite3 *h;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h,
                              "CREATE TABLE synops(run_id INTEGER NOT NULL, epoch INTEGER NOT "
                              "NULL, phase TEXT NOT NULL, projection TEXT NOT NULL, samples "
                              "INTEGER, synops INTEGER, row_fetches INTEGER, dense_macs INTEGER, "
                              "feedback_ops INTEGER NOT NULL DEFAULT 0, update_ops INTEGER NOT "
                              "NULL DEFAULT 0, spike_dense_macs INTEGER NOT NULL DEFAULT 0, "
                              "PRIMARY KEY(run_id, epoch, phase, projection));"
                              "INSERT INTO synops VALUES(99, 0, 'test', 'p', 1, 2, 3, 4, 0, 0, 5);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(h);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--set", "run.mode=train",
                         "--set", "rule.name=dfa", NULL);
    cr_assert_eq(rc, 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select packets_event + packets_dense + packets_delta + delta_rows "
                               "+ grad_flushes_sparse + grad_flushes_dense from synops where "
                               "run_id = 99"),
                 0);
    cr_assert_gt(oz_test_q(db, "select sum(packets_delta) from synops where run_id = 1"), 0);
    cr_assert_gt(oz_test_q(db, "select sum(grad_flushes_sparse + grad_flushes_dense) from synops "
                               "where run_id = 1"),
                 0);
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
    g_autofree char *says = g_strdup_printf("opzosim: error: %s: cannot open: ", labels);
    cr_assert(g_str_has_prefix(err, says) && g_str_has_suffix(err, "Permission denied\n"), "%s",
              err);
    g_free(err);
    chmod(labels, 0644);
}

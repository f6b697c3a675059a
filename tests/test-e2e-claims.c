/* test-e2e-claims.c — statements of docs/RELIABILITY.md about the program that needed a
 * test of their own: what `run --resume` refuses (no unfinished run, a changed scenario,
 * an interruption state lacking a tensor this build needs), the retries that mark the
 * run row at the end, and bad input found before a run starts (an input population whose
 * size is not the data's, a bad --set), which exits 2 and writes no run log. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

static char *dir;
static char *scenario;
static char *db;

static char *scenario_text(double lr) {
    return g_strdup_printf("[run]\nmode = train\nepochs = 2\nticks = 4\nbatch_size = 16\n"
                           "threads = 1\n"
                           "[data]\ndir = %s\n"
                           "[optimizer]\nlr = %g\n"
                           "[population in]\nmodel = input\nsize = 36\n"
                           "[population h1]\nmodel = lif\nsize = 20\n"
                           "[population out]\nmodel = readout\nsize = 10\n"
                           "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                           "[projection h1_out]\nfrom = h1\nto = out\n",
                           dir, lr);
}

static void setup(void) {
    dir = oz_test_tmpdir();
    /* 40 training samples: three batches of 16 per epoch. */
    oz_test_write_dataset(dir, 40, 20, 6, 6, 10);
    g_autofree char *text = scenario_text(1e-3);
    scenario = oz_test_write_file(dir, "s.ini", text);
    db = g_build_filename(dir, "s.sqlite", NULL);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(scenario);
    g_free(db);
}

TestSuite(e2e_claims, .init = setup, .fini = teardown);

/* Runs the scenario and has the program raise SIGINT after two batches (its test hook):
 * the run row is left interrupted with its state in interrupt_state. */
static void run_interrupted(void) {
    g_setenv("OPZOSIM_TEST_INTERRUPT_AFTER", "2", TRUE);
    int rc = oz_test_run(NULL, "run", scenario, "--db", db, "--quiet", NULL);
    g_unsetenv("OPZOSIM_TEST_INTERRUPT_AFTER");
    cr_assert_eq(rc, 130, "interrupted (exit %d)", rc);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'interrupted'"), 1);
    cr_assert_gt(oz_test_q(db, "select count(*) from interrupt_state"), 0);
}

/* Asserts that `run [sets] --resume` exits 2 with every string of must on one line of
 * standard error. */
static void expect_refused(const char *what, const char *const *sets, const char *const *must) {
    g_autoptr(GPtrArray) args =
        oz_test_args_new("run", scenario, "--db", db, "--quiet", "--resume", NULL);
    for (const char *const *s = sets; s && *s; s++)
        oz_test_args_add(args, "--set", *s, NULL);
    char *err = NULL;
    int rc = oz_test_runv(oz_test_args_end(args), &err);
    cr_assert_eq(rc, 2, "%s: exit %d: %s", what, rc, err);
    for (const char *const *m = must; *m; m++)
        cr_assert(strstr(err, *m), "%s: wants '%s' in: %s", what, *m, err);
    cr_assert_eq(strchr(err, '\n') - err + 1, (long)strlen(err), "%s: one line: %s", what, err);
    g_free(err);
}

Test(e2e_claims, resume_without_an_unfinished_run_exits_2_saying_so) {
    const char *must[] = {"opzosim: error: --resume: no unfinished run named 's' in the run log\n",
                          NULL};
    /* A new run log. */
    expect_refused("empty run log", NULL, must);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs"), 0, "nothing was started");
    /* A run log whose only run of that name has finished. */
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", db, "--quiet", NULL), 0);
    expect_refused("finished run", NULL, must);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs"), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs"), 4, "the finished run is untouched");
}

Test(e2e_claims, resume_with_a_changed_scenario_exits_2_saying_so) {
    run_interrupted();
    const char *must[] = {"--resume: ",
                          "s.ini (with its --set overrides) differs from the scenario "
                          "run 1 was started with; ",
                          NULL};
    /* Another override than the run was started with. */
    const char *sets[] = {"optimizer.lr=0.002", NULL};
    expect_refused("changed override", sets, must);
    /* The file itself edited. */
    g_autofree char *edited = scenario_text(2e-3);
    g_free(oz_test_write_file(dir, "s.ini", edited));
    expect_refused("edited file", NULL, must);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'interrupted'"), 1,
                 "the interrupted run is untouched");
    cr_assert_gt(oz_test_q(db, "select count(*) from interrupt_state"), 0);
    /* The original text resumes: the refusals were about the change. */
    g_autofree char *original = scenario_text(1e-3);
    g_free(oz_test_write_file(dir, "s.ini", original));
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--resume", NULL), 0,
                 "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 1);
}

/* The kernel set OpenBLAS multiplies with decides the last bits of a run, so the run log
 * keeps the one a run started with, and a resume on another set says so (and only then).
 * Prescott and Nehalem are SSE kernel sets every x86-64 machine runs. */
Test(e2e_claims, a_run_logs_its_blas_kernels_and_a_resume_on_other_kernels_warns) {
    struct {
        const char *start, *resume;
        gboolean warns;
    } cases[] = {{"Prescott", "Prescott", FALSE}, {"Prescott", "Nehalem", TRUE}};
    for (int i = 0; i < 2; i++) {
        g_setenv("OPENBLAS_CORETYPE", cases[i].start, TRUE);
        run_interrupted();
        cr_assert_eq(oz_test_q(db, "select max(id) from runs where status = 'interrupted'"), i + 1);
        g_setenv("OPENBLAS_CORETYPE", cases[i].resume, TRUE);
        char *err = NULL;
        int rc = oz_test_run(&err, "run", scenario, "--db", db, "--resume", NULL);
        g_unsetenv("OPENBLAS_CORETYPE");
        cr_assert_eq(rc, 0, "%s", err);
        g_autofree char *banner = g_strdup_printf(", OpenBLAS %s kernels\n", cases[i].resume);
        cr_assert(strstr(err, banner), "the banner names the kernels: %s", err);
        g_autofree char *warning = g_strdup_printf(
            "opzosim: warning: run %d started with OpenBLAS's Prescott kernels and continues "
            "with %s: its results will differ in the last bits from an uninterrupted run "
            "(OPENBLAS_CORETYPE=Prescott keeps the first)\n",
            i + 1, cases[i].resume);
        cr_assert_eq(strstr(err, warning) != NULL, cases[i].warns, "case %d: %s", i, err);
        cr_assert_eq(strstr(err, "warning") != NULL, cases[i].warns, "case %d: %s", i, err);
        g_free(err);
        g_autofree char *q = g_strdup_printf(
            "select group_concat(value) from parameters where run_id = %d and owner = 'run' "
            "and key = 'blas_kernels'",
            i + 1);
        g_autofree char *kept = oz_test_qs(db, q);
        cr_assert_str_eq(kept, "Prescott", "the run keeps the kernels it started with");
    }
}

/* An interruption state written by a build that stored fewer tensors (as one from before
 * a counter was added) lacks one this build needs: resuming it could not continue as
 * the uninterrupted run would, so it is refused, naming the tensor. */
Test(e2e_claims, an_interruption_state_lacking_a_required_tensor_is_refused_naming_it) {
    run_interrupted();
    cr_assert_eq(oz_test_exec(db, "DELETE FROM interrupt_state WHERE name = 'pos:cursor'"), 1,
                 "the state held pos:cursor");
    const char *must[] = {
        "opzosim: error: interruption state of run 1 has no tensor 'pos:cursor' (the network "
        "needs int32[])",
        NULL};
    expect_refused("state without pos:cursor", NULL, must);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'interrupted'"), 1,
                 "the run row is untouched");
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs"), 0, "nothing ran");
}

/* The run row is marked at the end in up to three attempts; OPZOSIM_FAULT_FINISH_FAILS=N
 * makes the first N fail. */
Test(e2e_claims, marking_the_run_row_is_tried_three_times_then_the_row_stays_running) {
    g_setenv("OPZOSIM_FAULT_FINISH_FAILS", "2", TRUE);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", NULL);
    cr_assert_eq(rc, 0, "two failures, then marked: exit %d: %s", rc, err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'finished'"), 1);

    g_setenv("OPZOSIM_FAULT_FINISH_FAILS", "3", TRUE);
    rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", NULL);
    g_unsetenv("OPZOSIM_FAULT_FINISH_FAILS");
    cr_assert_eq(rc, 1, "three failures: exit %d: %s", rc, err);
    cr_assert(strstr(err, "run 2 stays marked 'running'") && strstr(err, "s.sqlite"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where id = 2 and status = 'running'"), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where run_id = 2"), 4,
                 "the run itself completed and logged");
}

/* Runs `run SCENARIO --db DB --quiet` with args added, and asserts exit 2 with one line of
 * standard error holding every string of must, and no run log written. */
static void expect_bad_input(const char *what, const char *const *args, const char *const *must) {
    g_autoptr(GPtrArray) a = oz_test_args_new("run", scenario, "--db", db, "--quiet", NULL);
    oz_test_args_addv(a, args);
    char *err = NULL;
    int rc = oz_test_runv(oz_test_args_end(a), &err);
    cr_assert_eq(rc, 2, "%s: exit %d: %s", what, rc, err);
    for (const char *const *m = must; *m; m++)
        cr_assert(strstr(err, *m), "%s: wants '%s' in: %s", what, *m, err);
    cr_assert_eq(strchr(err, '\n') - err + 1, (long)strlen(err), "%s: one line: %s", what, err);
    g_free(err);
    cr_assert_not(g_file_test(db, G_FILE_TEST_EXISTS), "%s: no run log is written", what);
}

/* The input population's size is checked against the images it will read: the training
 * images, and in an inference run the test images. */
Test(e2e_claims, an_input_size_other_than_the_data_exits_2_naming_both) {
    g_autofree char *train_images = g_build_filename(dir, "train-images-idx3-ubyte", NULL);
    g_autofree char *train_says =
        g_strdup_printf("s.ini: [population in] size: 35 does not match the data: %s holds 6×6 = "
                        "36 pixels per sample",
                        train_images);
    const char *train[] = {"--set", "population in.size=35", NULL};
    const char *train_must[] = {train_says, NULL};
    expect_bad_input("training", train, train_must);
    g_autofree char *test_images = g_build_filename(dir, "t10k-images-idx3-ubyte", NULL);
    g_autofree char *test_says =
        g_strdup_printf("s.ini: [population in] size: 37 does not match the data: %s holds 6×6 = "
                        "36 pixels per sample",
                        test_images);
    const char *infer[] = {"--set", "population in.size=37", "--set", "run.mode=infer", NULL};
    const char *infer_must[] = {test_says, NULL};
    expect_bad_input("inference", infer, infer_must);
}

/* A --set that is not SECTION.KEY=VALUE, one naming a population or projection the file
 * does not have, and a bad value given with --set. */
Test(e2e_claims, a_bad_set_exits_2_saying_what_is_wrong) {
    const char *syntax[] = {"--set", "seed=3", NULL};
    const char *syntax_must[] = {"opzosim: error: --set 'seed=3': expected section.key=value, "
                                 "e.g. run.seed=0 or 'population h1.dropout=0.1'",
                                 NULL};
    expect_bad_input("syntax", syntax, syntax_must);
    const char *section[] = {"--set", "population zz.size=3", NULL};
    g_autofree char *section_says = g_strdup_printf(
        "--set 'population zz.size=3': %s has no section [population zz]", scenario);
    const char *section_must[] = {section_says, NULL};
    expect_bad_input("section", section, section_must);
    const char *value[] = {"--set", "run.seed=x", NULL};
    const char *value_must[] = {
        "s.ini: [run] seed: expected an integer in [0, 9200000000000000000], got 'x' (set with "
        "--set)\n",
        NULL};
    expect_bad_input("value", value, value_must);
}

/* The numeric guard on the loss.  SGD at lr 3e4 makes DFA's loss NaN while the weights are
 * still finite (found by trying rates: at most others the weights overflow first, which
 * test-e2e-exit.c covers; a change to training may move this one there too, and then
 * another rate is needed).  Exit 1, the run failed with the message, the last good
 * checkpoint kept. */
Test(e2e_claims, a_loss_that_becomes_nan_fails_the_run_naming_the_last_good_checkpoint) {
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--set", "run.epochs=6",
                         "--set", "optimizer.name=sgd", "--set", "optimizer.lr=3e4", "--set",
                         "rule.name=dfa", NULL);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    const char *says = "the loss became NaN in epoch 4 (batch starting at sample 32); the last "
                       "good checkpoint is epoch 3";
    g_autofree char *line = g_strdup_printf("opzosim: error: %s\n", says);
    cr_assert_str_eq(err, line);
    g_free(err);
    g_autofree char *stored = oz_test_qs(db, "select message from runs where status = 'failed'");
    cr_assert_str_eq(stored, says);
    cr_assert_eq(oz_test_q(db, "select max(epoch) from checkpoints"), 3);
    cr_assert_eq(oz_test_q(db, "select count(*) from epochs where epoch > 3"), 0,
                 "nothing of the faulty epoch is logged");
}

/* The tables that have gained columns (runs, synops, checkpoints, interrupt_state) are
 * written with their columns named, so a column another build adds at their end breaks no
 * write. */
Test(e2e_claims, a_column_added_to_a_table_whose_insert_names_its_columns_breaks_no_write) {
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", db, "--quiet", NULL), 0);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    const char *tables[] = {"runs", "synops", "checkpoints", "interrupt_state"};
    for (gsize i = 0; i < G_N_ELEMENTS(tables); i++) {
        g_autofree char *sql =
            g_strdup_printf("ALTER TABLE %s ADD COLUMN later INTEGER DEFAULT 7", tables[i]);
        cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
    }
    sqlite3_close(h);
    /* Run 2: interrupted (the runs row and the interruption state are written), then
     * resumed to its end (synops rows and checkpoints). */
    run_interrupted();
    cr_assert_gt(oz_test_q(db, "select count(*) from interrupt_state where later = 7"), 0);
    char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--resume", NULL), 0,
                 "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where id = 2 and status = 'finished' "
                               "and later = 7"),
                 1);
    cr_assert_gt(oz_test_q(db, "select count(*) from synops where run_id = 2 and later = 7"), 0);
    cr_assert_gt(oz_test_q(db, "select count(*) from checkpoints where run_id = 2 and later = 7"),
                 0);
}

/* A run log that cannot be opened ends the program with exit 1 before any run starts: a
 * folder that cannot be made (a file is in the way) and a path that is a folder. */
Test(e2e_claims, a_run_log_that_cannot_be_opened_exits_1_naming_it) {
    g_autofree char *under_file = g_build_filename(scenario, "x.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", under_file, "--quiet", NULL);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    g_autofree char *folder =
        g_strdup_printf("opzosim: error: cannot create the folder %s for the run log: ", scenario);
    cr_assert(g_str_has_prefix(err, folder), "%s", err);
    g_free(err);
    rc = oz_test_run(&err, "run", scenario, "--db", dir, "--quiet", NULL);
    cr_assert_eq(rc, 1, "exit %d: %s", rc, err);
    g_autofree char *open = g_strdup_printf("opzosim: error: run log %s: cannot open: ", dir);
    cr_assert(g_str_has_prefix(err, open), "%s", err);
    g_free(err);
}

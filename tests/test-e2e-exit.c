/* Exit codes by error domain (sim/oz-main.c exit_code_for): the program on a small
 * generated data set, for the cases the domains decide; and that every module reports
 * under a domain of its own. */
#include "oz-test-util.h"

#include "feedback/oz-feedback.h"
#include "io/oz-events.h"
#include "io/oz-idx.h"
#include "io/oz-nir.h"
#include "io/oz-runlog.h"
#include "io/oz-scenario.h"
#include "neurons/oz-population.h"
#include "plasticity/oz-learner.h"
#include "sim/oz-checkpoint.h"
#include "sim/oz-convert.h"
#include "sim/oz-run.h"
#include "sim/oz-study.h"

#include <criterion/criterion.h>
#include <string.h>

static char *dir;
static char *scenario;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 40, 30, 6, 6, 10);
    g_autofree char *text = g_strdup_printf("[run]\nticks = 4\nbatch_size = 16\nthreads = 1\n"
                                            "[data]\ndir = %s\n"
                                            "[population in]\nmodel = input\nsize = 36\n"
                                            "[population h1]\nmodel = lif\nsize = 40\n"
                                            "[population out]\nmodel = readout\nsize = 10\n"
                                            "[projection in_h1]\nfrom = in\nto = h1\n"
                                            "init_scale = 6\n"
                                            "[projection h1_out]\nfrom = h1\nto = out\n",
                                            dir);
    scenario = oz_test_write_file(dir, "s.ini", text);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(scenario);
}

TestSuite(e2e, .init = setup, .fini = teardown);

Test(e2e, every_module_reports_under_its_own_error_domain) {
    const struct {
        GQuark quark;
        const char *name;
    } domains[] = {
        {OZ_NEURONS_ERROR, "oz-neurons-error-quark"},
        {OZ_FEEDBACK_ERROR, "oz-feedback-error-quark"},
        {OZ_LEARNER_ERROR, "oz-learner-error-quark"},
        {OZ_IDX_ERROR, "oz-idx-error-quark"},
        {OZ_EVENTS_ERROR, "oz-events-error-quark"},
        {OZ_SCENARIO_ERROR, "oz-scenario-error-quark"},
        {OZ_RUNLOG_ERROR, "oz-runlog-error-quark"},
        {OZ_RUN_ERROR, "oz-run-error-quark"},
        {OZ_CHECKPOINT_ERROR, "oz-checkpoint-error-quark"},
        {OZ_STUDY_ERROR, "oz-study-error-quark"},
        {OZ_CONVERT_ERROR, "oz-convert-error-quark"},
        {OZ_NIR_ERROR, "oz-nir-error-quark"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(domains); i++) {
        cr_assert_str_eq(g_quark_to_string(domains[i].quark), domains[i].name);
        cr_assert_neq(domains[i].quark, G_FILE_ERROR, "%s", domains[i].name);
        for (gsize k = 0; k < i; k++)
            cr_assert_neq(domains[i].quark, domains[k].quark, "%s and %s share a domain",
                          domains[i].name, domains[k].name);
    }
}

Test(e2e, a_numeric_fault_exits_1_and_fails_the_run) {
    /* SGD with an absurd learning rate overflows the weights within a few batches. */
    g_autofree char *db = g_build_filename(dir, "nan.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--set", "run.mode=train",
                         "--set", "run.epochs=2", "--set", "optimizer.name=sgd", "--set",
                         "optimizer.lr=1e6", "--set", "rule.name=bp", NULL);
    cr_assert_eq(rc, 1, "stderr: %s", err);
    const char *says = "weights of projection in_h1 are no longer finite in epoch 1; the last "
                       "good checkpoint is epoch 0";
    g_autofree char *line = g_strdup_printf("opzosim: error: %s\n", says);
    cr_assert_str_eq(err, line);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'failed'"), 1);
    g_autofree char *stored = oz_test_qs(db, "select message from runs");
    cr_assert_str_eq(stored, says);
}

/* A run of the scenario interrupted after its first batch (the program's test hook),
 * left unfinished in db. */
static void interrupted_run(const char *db, const char *mode) {
    g_autofree char *set_mode = g_strdup_printf("run.mode=%s", mode);
    g_setenv("OPZOSIM_TEST_INTERRUPT_AFTER", "1", TRUE);
    int rc = oz_test_run(NULL, "run", scenario, "--db", db, "--quiet", "--set", set_mode, NULL);
    g_unsetenv("OPZOSIM_TEST_INTERRUPT_AFTER");
    cr_assert_eq(rc, 130);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'interrupted'"), 1);
}

Test(e2e, resume_with_a_changed_scenario_exits_2_and_leaves_the_run_alone) {
    g_autofree char *db = g_build_filename(dir, "changed.sqlite", NULL);
    interrupted_run(db, "train");
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--resume", "--set",
                         "run.mode=train", "--set", "optimizer.lr=0.5", NULL);
    cr_assert_eq(rc, 2, "stderr: %s", err);
    cr_assert(strstr(err, "differs") && strstr(err, "s.ini"), "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs"), 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from runs where status = 'interrupted'"), 1);
}

Test(e2e, resume_without_an_unfinished_run_exits_2) {
    g_autofree char *db = g_build_filename(dir, "none.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--resume", "--set",
                         "run.mode=train", NULL);
    cr_assert_eq(rc, 2, "stderr: %s", err);
    cr_assert(strstr(err, "no unfinished run"), "%s", err);
    g_free(err);
}

Test(e2e, resume_of_an_inference_run_exits_2) {
    g_autofree char *db = g_build_filename(dir, "infer.sqlite", NULL);
    interrupted_run(db, "infer");
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--resume", "--set",
                         "run.mode=infer", NULL);
    cr_assert_eq(rc, 2, "stderr: %s", err);
    cr_assert(strstr(err, "--resume: only training runs (run.mode = train) can be resumed"), "%s",
              err);
    g_free(err);
}

Test(e2e, init_from_a_checkpoint_of_another_shape_exits_2) {
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", a, "--quiet", "--set", "run.mode=train",
                             "--set", "run.epochs=1", NULL),
                 0);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", b, "--quiet", "--set",
                         "population h1.size=41", "--init-from", a, NULL);
    cr_assert_eq(rc, 2, "stderr: %s", err);
    cr_assert(strstr(err, "in_h1"), "the message names the tensor that does not fit: %s", err);
    g_free(err);
    cr_assert_not(g_file_test(b, G_FILE_TEST_EXISTS), "bad input leaves no run log");
}

/* A blob of the run's own log that cannot be read back is a runtime failure (exit 1), not
 * bad input: the user gave nothing wrong. */
Test(e2e, resume_from_a_corrupt_blob_of_the_runs_own_log_exits_1) {
    g_autofree char *db = g_build_filename(dir, "corrupt.sqlite", NULL);
    interrupted_run(db, "train");
    cr_assert_eq(oz_test_exec(db, "update interrupt_state set data = substr(data, 1, "
                                  "length(data) - 1) where name = 'w:in_h1'"),
                 1, "the interruption state holds w:in_h1");
    char *err = NULL;
    int rc = oz_test_run(&err, "run", scenario, "--db", db, "--quiet", "--resume", "--set",
                         "run.mode=train", NULL);
    cr_assert_eq(rc, 1, "stderr: %s", err);
    cr_assert(strstr(err, "w:in_h1"), "names the tensor: %s", err);
    g_free(err);
}

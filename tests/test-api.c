/* libopzosim's public API (sim/opzosim.h): a scenario from text with overrides, errors as
 * GErrors, stepping, accuracy and counters equal to what the program logs for the same
 * scenario, a checkpoint saved and loaded back, a NIR export. */
#include "oz-test-util.h"

#include "io/oz-nir.h"
#include "io/oz-scenario.h"
#include "sim/opzosim.h"

#include <criterion/criterion.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 48, 32, 6, 6, 10);
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 120);

static char *scenario_text(void) {
    return g_strdup_printf("[run]\nmode = train\nticks = 4\nbatch_size = 16\nthreads = 1\n"
                           "[data]\ndir = %s\n[rule]\nname = dfa\n"
                           "[population in]\nmodel = input\nsize = 36\n"
                           "[population h]\nmodel = lif\nsize = 24\n"
                           "[population out]\nmodel = readout\nsize = 10\n"
                           "[projection in_h]\nfrom = in\nto = h\ninit_scale = 4\n"
                           "[projection h_out]\nfrom = h\nto = out\n",
                           dir);
}

Test(api, a_bad_scenario_is_a_gerror_naming_the_key) {
    g_autofree char *text = scenario_text();
    const char *bad[] = {"run.ticks=0", NULL};
    g_autoptr(GError) error = NULL;
    OzSim *sim = oz_sim_new_from_data(text, "mine.ini", bad, &error);
    cr_assert_null(sim);
    cr_assert(error && error->domain == OZ_SCENARIO_ERROR, "a scenario error");
    cr_assert(strstr(error->message, "mine.ini") && strstr(error->message, "ticks"), "%s",
              error->message);
}

Test(api, counters_and_accuracy_equal_the_programs_for_the_same_scenario) {
    g_autofree char *text = scenario_text();
    const char *sets[] = {"optimizer.lr=1e-3", NULL};
    g_autoptr(GError) error = NULL;
    g_autoptr(OzSim) sim = oz_sim_new_from_data(text, "api.ini", sets, &error);
    cr_assert_not_null(sim, "%s", error ? error->message : "");
    cr_assert_eq(oz_sim_accuracy(sim), -1, "no phase has finished");
    gboolean done = FALSE;
    cr_assert(oz_sim_step(sim, &done, &error) && !done);
    cr_assert_eq(oz_sim_batches(sim), 1);
    cr_assert(oz_sim_synops(sim) > 0);
    cr_assert(oz_sim_run(sim, &error), "%s", error ? error->message : "");
    /* 48 training and 32 test samples in batches of 16. */
    cr_assert_eq(oz_sim_batches(sim), 5);
    g_autofree char *sc = oz_test_write_file(dir, "api.ini", text);
    g_autofree char *db = g_build_filename(dir, "prog.sqlite", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(
        oz_test_run(&err, "run", sc, "--db", db, "--quiet", "--set", "optimizer.lr=1e-3", NULL), 0,
        "%s", err);
    cr_assert_eq((gint64)oz_sim_synops(sim), oz_test_q(db, "select sum(synops) from synops"));
    g_autofree char *acc = oz_test_qs(db, "select printf('%.17g', accuracy) from epochs where "
                                          "phase = 'test'");
    g_autofree char *mine = g_strdup_printf("%.17g", oz_sim_accuracy(sim));
    cr_assert_str_eq(mine, acc);
    cr_assert_eq((gint64)oz_sim_spikes(sim), oz_test_q(db, "select sum(spikes) from firing_rates"));
}

Test(api, a_saved_checkpoint_loads_back_and_exports) {
    g_autofree char *text = scenario_text();
    g_autoptr(GError) error = NULL;
    g_autoptr(OzSim) sim = oz_sim_new_from_data(text, "api.ini", NULL, &error);
    cr_assert_not_null(sim, "%s", error ? error->message : "");
    cr_assert(oz_sim_run(sim, &error), "%s", error ? error->message : "");
    g_autofree char *db = g_build_filename(dir, "saved.sqlite", NULL);
    gint64 run_id = -1;
    cr_assert(oz_sim_save_checkpoint(sim, db, &run_id, &error), "%s", error ? error->message : "");
    cr_assert_eq(run_id, 1);
    cr_assert_eq(oz_test_q(db, "select count(*) from checkpoints where name = 'w:in_h' and "
                               "epoch = 1"),
                 1, "the epoch after the one trained");
    /* The same network for inference, from the checkpoint: the same test accuracy. */
    const char *infer[] = {"run.mode=infer", NULL};
    g_autoptr(OzSim) again = oz_sim_new_from_data(text, "api.ini", infer, &error);
    cr_assert_not_null(again);
    cr_assert(oz_sim_load_checkpoint(again, db, &error), "%s", error ? error->message : "");
    cr_assert(oz_sim_run(again, &error));
    cr_assert_eq(oz_sim_accuracy(again), oz_sim_accuracy(sim));
    /* A checkpoint that is not there is an error. */
    g_autofree char *absent = g_build_filename(dir, "absent.sqlite", NULL);
    g_clear_error(&error);
    cr_assert_not(oz_sim_load_checkpoint(again, absent, &error));
    cr_assert_not_null(error);
    g_autofree char *nir = g_build_filename(dir, "saved.nir", NULL);
    g_clear_error(&error);
    cr_assert(oz_sim_export_nir(db, -1, -1, 1e-4, nir, NULL, &error), "%s",
              error ? error->message : "");
    g_autoptr(OzNirGraph) g = oz_nir_read(nir, &error);
    cr_assert_not_null(g);
    cr_assert_not_null(oz_nir_node_find(g, "in_h"));
}

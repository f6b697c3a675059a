/* Scenario validation: every malformation gives one message naming file, section, key. */
#include "io/oz-scenario.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <string.h>

static char *dir;
static char *base_text;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 4, 4, 2, 2, 2);
    base_text = g_strdup_printf("[run]\nticks = 3\nbatch_size = 2\n"
                                "[data]\ndir = %s\nclasses = 2\n"
                                "[population in]\nmodel = input\nsize = 4\n"
                                "[population h]\nmodel = lif\nsize = 3\n"
                                "[population out]\nmodel = readout\nsize = 2\n"
                                "[projection a]\nfrom = in\nto = h\n"
                                "[projection b]\nfrom = h\nto = out\n",
                                dir);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(base_text);
}

TestSuite(scenario, .init = setup, .fini = teardown);

static GError *expect_error(const char *text, const char *const *sets, const char *section,
                            const char *key) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(text, "my.ini", sets, &err);
    cr_assert_null(sc, "expected an error");
    cr_assert_not_null(err);
    cr_assert(strstr(err->message, "my.ini"), "names the file: %s", err->message);
    g_autofree char *sec = g_strdup_printf("[%s]", section);
    cr_assert(strstr(err->message, sec), "names the section %s: %s", sec, err->message);
    if (key) {
        g_autofree char *k = g_strdup_printf("] %s:", key);
        cr_assert(strstr(err->message, k), "names the key %s: %s", key, err->message);
    }
    return err;
}

static char *with(const char *extra) {
    return g_strconcat(base_text, extra, NULL);
}

Test(scenario, valid_file_gets_defaults) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(base_text, "dir/my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_str_eq(sc->run.name, "my");
    cr_assert_eq(sc->run.seed, 2022);
    cr_assert_eq(sc->run.ticks, 3);
    cr_assert_eq(sc->pops->len, 3);
    OzPopulationConfig *h = g_ptr_array_index(sc->pops, 1);
    cr_assert_float_eq(h->lambda, 0.5, 1e-12);
    cr_assert_float_eq(h->v_th, 1.0, 1e-12);
    cr_assert(g_str_has_suffix(sc->data.test_images, "t10k-images-idx3-ubyte"));
    oz_scenario_free(sc);
}

Test(scenario, overrides_apply_and_are_named_in_errors) {
    const char *sets[] = {"run.seed=7", "population h.lambda=0.25", NULL};
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(base_text, "my.ini", sets, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_eq(sc->run.seed, 7);
    cr_assert_float_eq(((OzPopulationConfig *)g_ptr_array_index(sc->pops, 1))->lambda, 0.25,
                       1e-12);
    cr_assert(strstr(sc->text, "seed=7"), "stored text has the override");
    oz_scenario_free(sc);
    const char *bad[] = {"run.seed=x", NULL};
    err = expect_error(base_text, bad, "run", "seed");
    cr_assert(strstr(err->message, "--set"), "%s", err->message);
    g_error_free(err);
    const char *nosec[] = {"population zz.size=3", NULL};
    err = NULL;
    cr_assert_null(oz_scenario_load_data(base_text, "my.ini", nosec, &err));
    cr_assert(strstr(err->message, "population zz"), "%s", err->message);
    g_error_free(err);
    const char *malformed[] = {"seed=3", NULL};
    err = NULL;
    cr_assert_null(oz_scenario_load_data(base_text, "my.ini", malformed, &err));
    cr_assert(strstr(err->message, "section.key=value"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, unknown_section_suggests_the_right_one) {
    g_autofree char *t = with("[recrod]\nspike_samples = 1\n");
    GError *err = expect_error(t, NULL, "recrod", NULL);
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "did you mean 'record'"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, unknown_key_suggests_the_right_one) {
    g_autofree char *t = g_strconcat(base_text, "[population h2]\nmodel = lif\nsize = 3\nlamda = 0.4\n",
                                     NULL);
    GError *err = expect_error(t, NULL, "population h2", "lamda");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "did you mean 'lambda'"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, wrong_type_is_named) {
    const char *sets[] = {"population h.size=many", NULL};
    GError *err = expect_error(base_text, sets, "population h", "size");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
    cr_assert(strstr(err->message, "integer") && strstr(err->message, "'many'"), "%s",
              err->message);
    g_error_free(err);
    const char *b[] = {"record.synops=perhaps", NULL};
    err = expect_error(base_text, b, "record", "synops");
    g_error_free(err);
    const char *e[] = {"population h.model=izhikevich", NULL};
    err = expect_error(base_text, e, "population h", "model");
    cr_assert(strstr(err->message, "input, lif, readout"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, out_of_range_is_named) {
    const char *sets[] = {"population h.lambda=1.5", NULL};
    GError *err = expect_error(base_text, sets, "population h", "lambda");
    cr_assert(strstr(err->message, "out of range"), "%s", err->message);
    g_error_free(err);
    const char *d[] = {"projection a.delay=-1", NULL};
    err = expect_error(base_text, d, "projection a", "delay");
    g_error_free(err);
    const char *t[] = {"run.ticks=0", NULL};
    err = expect_error(base_text, t, "run", "ticks");
    g_error_free(err);
}

Test(scenario, missing_required_key_is_named) {
    g_autofree char *t = with("[population h2]\nmodel = lif\n");
    GError *err = expect_error(t, NULL, "population h2", "size");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_MISSING);
    g_error_free(err);
}

Test(scenario, unknown_population_is_named) {
    g_autofree char *t = with("[projection c]\nfrom = h\nto = h9\n");
    GError *err = expect_error(t, NULL, "projection c", "to");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_REFERENCE);
    cr_assert(strstr(err->message, "'h9'") && strstr(err->message, "in, h, out"), "%s",
              err->message);
    g_error_free(err);
    const char *r[] = {"record.spike_populations=h,hh", NULL};
    err = expect_error(base_text, r, "record", "spike_populations");
    g_error_free(err);
}

Test(scenario, missing_data_file_is_named) {
    const char *sets[] = {"data.dir=/nonexistent/mnist", NULL};
    GError *err = expect_error(base_text, sets, "data", "dir");
    cr_assert(strstr(err->message, "t10k-images-idx3-ubyte"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, syntax_error_names_the_file) {
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data("[run\nseed = 1\n", "my.ini", NULL, &err));
    cr_assert(strstr(err->message, "my.ini"));
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_PARSE);
    g_error_free(err);
}

Test(scenario, network_needs_one_input_and_one_readout) {
    const char *sets[] = {"population out.model=lif", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(base_text, "my.ini", sets, &err));
    cr_assert(strstr(err->message, "exactly one"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, levenshtein_distance) {
    cr_assert_eq(oz_levenshtein("lambda", "lamda"), 1);
    cr_assert_eq(oz_levenshtein("", "abc"), 3);
    cr_assert_eq(oz_levenshtein("kitten", "sitting"), 3);
}

Test(scenario, describe_lists_every_section) {
    g_autofree char *d = oz_scenario_describe();
    cr_assert(strstr(d, "[run]") && strstr(d, "[population NAME]") && strstr(d, "v_th"));
}

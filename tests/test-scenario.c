/* Scenario validation: every malformation gives one message naming file, section, key. */
#include "io/oz-scenario.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <string.h>

TestSuite(scenario, .init = oz_test_tiny_setup, .fini = oz_test_tiny_teardown);

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
    return g_strconcat(oz_test_tiny_text, extra, NULL);
}

Test(scenario, valid_file_gets_defaults) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(oz_test_tiny_text, "dir/my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_str_eq(sc->run.name, "my");
    cr_assert_eq(sc->run.seed, 2022);
    cr_assert_eq(sc->run.ticks, 3);
    cr_assert_eq(sc->pops->len, 3);
    OzPopulationConfig *h = g_ptr_array_index(sc->pops, 1);
    cr_assert_str_eq(oz_population_config_get(h, "lambda"), "0.5");
    cr_assert_str_eq(oz_population_config_get(h, "v_th"), "1");
    cr_assert_str_eq(oz_data_config_get(&sc->data, "dir"), oz_test_tiny_dir);
    cr_assert_str_eq(oz_data_config_get(&sc->data, "mean"), "0.13070000000000001");
    oz_scenario_free(sc);
}

Test(scenario, overrides_apply_and_are_named_in_errors) {
    const char *sets[] = {"run.seed=7", "population h.lambda=0.25", NULL};
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_eq(sc->run.seed, 7);
    cr_assert_str_eq(
        oz_population_config_get(g_ptr_array_index(sc->pops, 1), "lambda"), "0.25");
    cr_assert(strstr(sc->text, "seed=7"), "stored text has the override");
    oz_scenario_free(sc);
    const char *bad[] = {"run.seed=x", NULL};
    err = expect_error(oz_test_tiny_text, bad, "run", "seed");
    cr_assert(strstr(err->message, "expected an integer in [0, 9200000000000000000], got 'x'"),
              "%s", err->message);
    cr_assert(g_str_has_suffix(err->message, " (set with --set)"), "%s", err->message);
    g_error_free(err);
    /* The same bad value from the file itself is not said to come from --set. */
    g_autofree char *in_file = with("[run]\nseed = x\n");
    err = expect_error(in_file, NULL, "run", "seed");
    cr_assert_null(strstr(err->message, "--set"), "%s", err->message);
    g_error_free(err);
    const char *nosec[] = {"population zz.size=3", NULL};
    err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", nosec, &err));
    cr_assert_str_eq(err->message, "--set 'population zz.size=3': my.ini has no section "
                                   "[population zz]");
    g_error_free(err);
    const char *malformed[] = {"seed=3", NULL};
    err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", malformed, &err));
    cr_assert(g_str_has_prefix(err->message, "--set 'seed=3': expected section.key=value, e.g. "),
              "%s", err->message);
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_PARSE);
    g_error_free(err);
}

Test(scenario, unknown_section_suggests_the_right_one) {
    g_autofree char *t = with("[recrod]\nspike_samples = 1\n");
    GError *err = expect_error(t, NULL, "recrod", NULL);
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "my.ini: [recrod]: unknown section (did you mean 'record'?)"),
              "%s", err->message);
    g_error_free(err);
}

Test(scenario, unknown_key_suggests_the_right_one) {
    g_autofree char *t = g_strconcat(oz_test_tiny_text,
                                     "[population h2]\nmodel = lif\nsize = 3\nlamda = 0.4\n", NULL);
    GError *err = expect_error(t, NULL, "population h2", "lamda");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "[population h2] lamda: unknown key (did you mean 'lambda'?); "
                                   "keys of a population section: model, size, "),
              "%s", err->message);
    g_error_free(err);
}

Test(scenario, wrong_type_is_named) {
    const char *sets[] = {"population h.size=many", NULL};
    GError *err = expect_error(oz_test_tiny_text, sets, "population h", "size");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
    cr_assert(strstr(err->message, "[population h] size: expected an integer in [1, 10000000], "
                                   "got 'many'"),
              "%s", err->message);
    g_error_free(err);
    const char *b[] = {"record.synops=perhaps", NULL};
    err = expect_error(oz_test_tiny_text, b, "record", "synops");
    g_error_free(err);
    const char *e[] = {"population h.model=izhikevich", NULL};
    err = expect_error(oz_test_tiny_text, e, "population h", "model");
    cr_assert(strstr(err->message, "[population h] model: expected one of input, lif, readout, "
                                   "if, events, cubalif, got 'izhikevich'"),
              "%s", err->message);
    g_error_free(err);
}

Test(scenario, out_of_range_is_named) {
    const char *sets[] = {"population h.lambda=1.5", NULL};
    GError *err = expect_error(oz_test_tiny_text, sets, "population h", "lambda");
    cr_assert(strstr(err->message, "1.5 is out of range: expected a number in [0, 1]"), "%s",
              err->message);
    g_error_free(err);
    const char *d[] = {"projection a.delay=-1", NULL};
    err = expect_error(oz_test_tiny_text, d, "projection a", "delay");
    cr_assert(strstr(err->message, "-1 is out of range: expected an integer in [0, 10000]"), "%s",
              err->message);
    g_error_free(err);
    const char *t[] = {"run.ticks=0", NULL};
    err = expect_error(oz_test_tiny_text, t, "run", "ticks");
    cr_assert(strstr(err->message, "0 is out of range: expected an integer in [1, 100000]"), "%s",
              err->message);
    g_error_free(err);
    const char *v[] = {"population h.v_th=-1", NULL};
    err = expect_error(oz_test_tiny_text, v, "population h", "v_th");
    cr_assert(strstr(err->message, "-1 is out of range: expected a number in [1e-06, 1e+06]"), "%s",
              err->message);
    g_error_free(err);
    /* A number of the schema itself (lambda above is a model key, checked by the model's
     * parameter table). */
    const char *l[] = {"rule.loss_lambda=1.5", NULL};
    err = expect_error(oz_test_tiny_text, l, "rule", "loss_lambda");
    cr_assert(strstr(err->message, "out of range"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, missing_required_key_is_named) {
    g_autofree char *t = with("[population h2]\nmodel = lif\n");
    GError *err = expect_error(t, NULL, "population h2", "size");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_MISSING);
    cr_assert_str_eq(err->message,
                     "my.ini: [population h2] size: required key is missing (number of neurons; may be "
                     "left out when shape is given, and both must agree)");
    g_error_free(err);
}

Test(scenario, unknown_population_is_named) {
    g_autofree char *t = with("[projection c]\nfrom = h\nto = h9\n");
    GError *err = expect_error(t, NULL, "projection c", "to");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_REFERENCE);
    cr_assert(strstr(err->message, "[projection c] to: no population named 'h9' (defined: in, h, "
                                   "out)"),
              "%s", err->message);
    g_error_free(err);
    const char *r[] = {"record.spike_populations=h,hh", NULL};
    err = expect_error(oz_test_tiny_text, r, "record", "spike_populations");
    cr_assert(strstr(err->message, "no population named 'hh' (defined: in, h, out)"), "%s",
              err->message);
    g_error_free(err);
}

Test(scenario, missing_data_file_is_named) {
    const char *sets[] = {"data.dir=/nonexistent/mnist", NULL};
    GError *err = expect_error(oz_test_tiny_text, sets, "data", "dir");
    cr_assert(strstr(err->message, "[data] dir: no file t10k-images-idx3-ubyte or "
                                   "t10k-images-idx3-ubyte.gz in '/nonexistent/mnist' (run "
                                   "scripts/setup.sh to fetch MNIST)"),
              "%s", err->message);
    g_error_free(err);
}

Test(scenario, syntax_error_names_the_file) {
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data("[run\nseed = 1\n", "my.ini", NULL, &err));
    cr_assert(g_str_has_prefix(err->message, "my.ini: not a valid key file: "), "%s", err->message);
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_PARSE);
    g_error_free(err);
}

Test(scenario, network_needs_one_input_and_one_readout) {
    const char *sets[] = {"population out.model=lif", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err));
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

/* oz_test_tiny_text with "name = value" in its [run] section. */
static char *with_name(const char *value) {
    return g_strdup_printf("[run]\nname = %s\n%s", value, oz_test_tiny_text + strlen("[run]\n"));
}

/* A run name is part of the run log's path, so every way of giving one — the file, --set —
 * rejects anything that could reach outside runs/ or is not a plain name, and says why. */
Test(scenario, run_names_that_are_not_plain_are_rejected) {
    g_autofree char *long_name = g_strnfill(OZ_RUN_NAME_MAX + 1, 'a');
    const struct {
        const char *name, *why;
    } bad[] = {
        {"..", "it starts with '.'"},
        {"a/b", "'/' at byte 1"},
        {"../../x", "'/' at byte 2"},
        {"/abs", "'/' at byte 0"},
        {"-x", "it starts with '-'"},
        {".x", "it starts with '.'"},
        {"_x", "it starts with '_'"},
        {"a b", "a space at byte 1"},
        {"na\xc3\xafve", "a non-ASCII byte 0xc3 at byte 2"},
        {"a\\nb", "the control character 0x0a at byte 1"}, /* a valid escape: a newline */
        {"a:b", "':' at byte 1"},
        {long_name, "it is 101 bytes long"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *t = with_name(bad[i].name);
        GError *err = expect_error(t, NULL, "run", "name");
        cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE, "%s", err->message);
        cr_assert(strstr(err->message, bad[i].why), "'%s': says '%s': %s", bad[i].name, bad[i].why,
                  err->message);
        g_autofree char *lead =
            g_strdup_printf("[run] name: '%s' is not a plain name (%s): ", bad[i].name, bad[i].why);
        if (g_str_is_ascii(bad[i].name) && !strchr(bad[i].name, '\\'))
            cr_assert(strstr(err->message, lead), "wants '%s' in: %s", lead, err->message);
        cr_assert(strstr(err->message, "runs/NAME.sqlite") &&
                      strstr(err->message, "1 to 100 ASCII letters, digits, '-', '_' or '.', "
                                           "starting with a letter or digit"),
                  "says what is allowed: %s", err->message);
        g_error_free(err);
        /* The same through --set, which the message then names. */
        g_autofree char *set = g_strdup_printf("run.name=%s", bad[i].name);
        const char *sets[] = {set, NULL};
        err = expect_error(oz_test_tiny_text, sets, "run", "name");
        cr_assert(strstr(err->message, bad[i].why) && strstr(err->message, "--set"), "%s",
                  err->message);
        g_error_free(err);
    }
}

Test(scenario, an_escaped_nul_in_a_value_is_an_error_not_a_cut_name) {
    /* GKeyFile knows \s \n \t \r \\ only; "\0" is an invalid escape, which GLib reports
     * beside the value it hands back. */
    const char *values[] = {"a\\0b", "ok\\0", "a\\", "x\\;y"};
    for (gsize i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autofree char *t = with_name(values[i]);
        GError *err = expect_error(t, NULL, "run", "name");
        cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
        cr_assert(strstr(err->message, "escape sequence"), "%s", err->message);
        g_error_free(err);
        g_autofree char *set = g_strdup_printf("run.name=%s", values[i]);
        const char *sets[] = {set, NULL};
        err = expect_error(oz_test_tiny_text, sets, "run", "name");
        cr_assert(strstr(err->message, "escape sequence") && strstr(err->message, "--set"), "%s",
                  err->message);
        g_error_free(err);
    }
    /* The value is shown as written, with the byte where the bad escape starts. */
    g_autofree char *t0 = with_name("a\\0b");
    GError *e0 = expect_error(t0, NULL, "run", "name");
    cr_assert(strstr(e0->message, "[run] name: 'a\\0b' has an escape sequence a key file does "
                                  "not know at byte 1"),
              "%s", e0->message);
    g_error_free(e0);
    /* The byte where the bad escape starts is named. */
    g_autofree char *t = with_name("ab\\0");
    GError *err = expect_error(t, NULL, "run", "name");
    cr_assert(strstr(err->message, "at byte 2"), "%s", err->message);
    g_error_free(err);
    /* Not only names: any key, e.g. a data path. */
    const char *dirs[] = {"data.dir=/tmp\\0/x", NULL};
    err = expect_error(oz_test_tiny_text, dirs, "data", "dir");
    cr_assert(strstr(err->message, "escape sequence"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, a_value_that_is_not_utf8_is_an_error_not_the_default) {
    /* GLib returns nothing for it; the default must not stand in. */
    g_autofree char *t = with_name("na\xefve");
    GError *err = expect_error(t, NULL, "run", "name");
    cr_assert(strstr(err->message, "[run] name: 'na\\357ve' is not UTF-8 text"), "%s",
              err->message);
    g_error_free(err);
}

Test(scenario, a_nul_byte_in_the_file_is_an_error) {
    /* The key-file parser would stop at it and drop the rest of the file. */
    const char text[] = "[run]\nname = ok\0rest\n[run]\nseed = 1\n";
    g_autofree char *path = g_build_filename(oz_test_tiny_dir, "nul.ini", NULL);
    cr_assert(g_file_set_contents(path, text, sizeof text - 1, NULL));
    GError *err = NULL;
    cr_assert_null(oz_scenario_load(path, NULL, &err));
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_PARSE);
    g_autofree char *want =
        g_strdup_printf("%s: a NUL byte at offset 15: a scenario is a text file", path);
    cr_assert_str_eq(err->message, want);
    g_error_free(err);
}

Test(scenario, plain_run_names_are_accepted) {
    g_autofree char *longest = g_strnfill(OZ_RUN_NAME_MAX, 'b');
    const char *good[] = {"run-1_a.b", "A", "9lives", "a..b", longest};
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *t = with_name(good[i]);
        GError *err = NULL;
        OzScenario *sc = oz_scenario_load_data(t, "my.ini", NULL, &err);
        cr_assert_not_null(sc, "'%s': %s", good[i], err ? err->message : "");
        cr_assert_str_eq(sc->run.name, good[i]);
        oz_scenario_free(sc);
        g_autofree char *set = g_strdup_printf("run.name=%s", good[i]);
        const char *sets[] = {set, NULL};
        sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err);
        cr_assert_not_null(sc, "--set '%s': %s", good[i], err ? err->message : "");
        cr_assert_str_eq(sc->run.name, good[i]);
        oz_scenario_free(sc);
    }
}

Test(scenario, a_defaulted_run_name_is_the_file_name_made_plain) {
    GError *err = NULL;
    OzScenario *sc =
        oz_scenario_load_data(oz_test_tiny_text, "some dir/my scenario (v2).ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_str_eq(sc->run.name, "my_scenario__v2_");
    oz_scenario_free(sc);
    const struct {
        const char *path, *name;
    } cases[] = {
        {"s.ini", "s"},
        {"/a/b/paper.v2.ini", "paper.v2"},
        {"na\xc3\xafve.ini", "na_ve"}, /* one '_' per character */
        {"na\xefve.ini", "na_ve"},     /* not UTF-8: one per byte */
        {"\xff\xfe.ini", "run__"},
        {".hidden.ini", "run.hidden"},
        {"-rf.ini", "run-rf"},
        {"_x.ini", "run_x"},
        {"..", "run."},
        {"", "run."},
        {"dir/", "dir"},
        {"a b\tc\n.ini", "a_b_c_"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *name = oz_scenario_name_from_path(cases[i].path);
        cr_assert_str_eq(name, cases[i].name, "from '%s'", cases[i].path);
        cr_assert(oz_scenario_name_is_plain(name, NULL), "%s", name);
    }
    /* Cut to the longest plain name, after "run" is put in front. */
    g_autofree char *long_base = g_strnfill(300, 'x');
    long_base[0] = '.';
    g_autofree char *name = oz_scenario_name_from_path(long_base);
    cr_assert_eq(strlen(name), OZ_RUN_NAME_MAX);
    cr_assert(g_str_has_prefix(name, "run.xx"), "%s", name);
}

Test(scenario, keys_describe_what_a_run_name_may_be) {
    g_autofree char *d = oz_scenario_describe();
    cr_assert(strstr(d, "1 to 100 ASCII letters") && strstr(d, "replaced by '_'") &&
                  strstr(d, "'run' put in front"),
              "%s", d);
}

/* A [feedback NAME] section sends errors to the population NAME, which must be a lif one. */
Test(scenario, feedback_into_a_population_that_does_not_learn_is_named) {
    const struct {
        const char *section, *says;
    } bad[] = {
        {"[feedback out]\ndelay = 1\n",
         "my.ini: [feedback out]: errors go to a hidden population of a learnable model "
         "(lif|if|cubalif) named like the section; 'out' is of model readout, which does not "
         "learn (defined: in, h, out)"},
        {"[feedback in]\n",
         "my.ini: [feedback in]: errors go to a hidden population of a learnable model "
         "(lif|if|cubalif) named like the section; 'in' is of model input, which does not "
         "learn (defined: in, h, out)"},
        {"[feedback h9]\ndelay = 1\n",
         "my.ini: [feedback h9]: errors go to a hidden population of a learnable model "
         "(lif|if|cubalif) named like the section; 'h9' is not defined (defined: in, h, out)"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *t = with(bad[i].section);
        GError *err = NULL;
        cr_assert_null(oz_scenario_load_data(t, "my.ini", NULL, &err), "%s", bad[i].section);
        cr_assert_eq(err->code, OZ_SCENARIO_ERROR_REFERENCE, "%s", err->message);
        cr_assert_str_eq(err->message, bad[i].says);
        g_error_free(err);
    }
    /* The lif population takes it. */
    g_autofree char *good = with("[feedback h]\ndelay = 1\n");
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(good, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_eq(sc->feedbacks->len, 1);
    oz_scenario_free(sc);
}

/* Population, projection and feedback names are letters, digits, '_' and '-' only. */
Test(scenario, section_names_are_letters_digits_underscore_and_dash) {
    const char *bad[] = {"population h.x", "projection ../a", "feedback h/1", "population a b"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *t = g_strdup_printf("%s[%s]\n", oz_test_tiny_text, bad[i]);
        GError *err = NULL;
        cr_assert_null(oz_scenario_load_data(t, "my.ini", NULL, &err), "[%s]", bad[i]);
        cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE, "%s", err->message);
        const char *name = strchr(bad[i], ' ') + 1;
        g_autofree char *want = g_strdup_printf(
            "my.ini: [%s]: the name '%s' must be letters, digits, '_' or '-'", bad[i], name);
        cr_assert_str_eq(err->message, want);
        g_error_free(err);
    }
    g_autofree char *good = with("[population h_2-b]\nmodel = lif\nsize = 2\n");
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(good, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    oz_scenario_free(sc);
}

/* The wiring checks ask the models (emits, caps), and name the projection's key. */
Test(scenario, projections_from_a_silent_model_or_into_a_source_are_named) {
    g_autofree char *from_out = with("[projection c]\nfrom = out\nto = h\n");
    GError *err = expect_error(from_out, NULL, "projection c", "from");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_REFERENCE);
    cr_assert(strstr(err->message, "'out' (model readout) emits nothing"), "%s", err->message);
    g_error_free(err);
    g_autofree char *into_in = with("[projection c]\nfrom = h\nto = in\n");
    err = expect_error(into_in, NULL, "projection c", "to");
    cr_assert(strstr(err->message, "is an input and takes no projection"), "%s", err->message);
    g_error_free(err);
}

Test(scenario, rule_keys_come_from_the_rules_ops_tables) {
    /* `opzosim keys` lists a rule's own key under that rule. */
    g_autofree char *d = oz_scenario_describe();
    const char *opzo = strstr(d, "  name = opzo:");
    cr_assert_not_null(opzo, "%s", d);
    const char *mom = strstr(opzo, "    momentum ");
    const char *next = strstr(opzo + 1, "  name = ");
    cr_assert(mom && (!next || mom < next), "momentum listed under opzo");
    const char *dfa = strstr(d, "  name = dfa:");
    cr_assert(dfa && strstr(dfa, "    dfa_fan "), "dfa_fan listed under dfa");

    /* A key of another registered rule is accepted and not kept. */
    GError *err = NULL;
    g_autofree char *bp = with("[rule]\nname = bp\nmomentum = 0.9\ndfa_fan = n\n");
    OzScenario *sc = oz_scenario_load_data(bp, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert(sc->rule.keys && !sc->rule.keys[0], "bp keeps no rule keys");
    oz_scenario_free(sc);

    /* The chosen rule's keys are kept as text, defaults included. */
    g_autofree char *op = with("[rule]\nname = opzo\nm_batch = sum\n");
    sc = oz_scenario_load_data(op, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    gboolean sum = FALSE, mom_def = FALSE;
    for (int i = 0; sc->rule.keys[i]; i++) {
        sum |= !strcmp(sc->rule.keys[i], "m_batch") && !strcmp(sc->rule.values[i], "sum");
        mom_def |= !strcmp(sc->rule.keys[i], "momentum") && g_ascii_strtod(sc->rule.values[i], NULL) == 0.99999;
    }
    cr_assert(sum && mom_def);
    oz_scenario_free(sc);

    /* A bad value of the rule's own key is named. */
    g_autofree char *badv = with("[rule]\nname = opzo\nmomentum = 2\n");
    g_error_free(expect_error(badv, NULL, "rule", "momentum"));

    /* A key no rule knows is an error. */
    g_autofree char *unk = with("[rule]\nname = bp\nmomentun = 0.9\n");
    err = expect_error(unk, NULL, "rule", "momentun");
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "did you mean 'momentum'?"), "%s", err->message);
    g_error_free(err);
}

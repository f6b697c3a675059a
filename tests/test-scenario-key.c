/* test-scenario-key.c — oz_scenario_key_value, one key of a scenario's text read without
 * loading the rest (what `plot --what levels` reads from each run of a log): the value
 * written or set, the schema's default, a plugin key's default from the plugin the section
 * chooses (else the first registered plugin that has it), and the errors naming section and
 * key.  The data folder named in the text does not exist: nothing but the text is read. */
#include "io/oz-scenario.h"

#include <criterion/criterion.h>
#include <string.h>

static const char text[] = "[run]\nmode = train\n[data]\ndir = /nonexistent/opzosim-data\n"
                           "[rule]\nname = dfa\n"
                           "[population in]\nmodel = input\nsize = 4\n"
                           "[population h]\nmodel = lif\nsize = 3\nv_th = 0.75\n"
                           "[population out]\nmodel = readout\nsize = 2\n"
                           "[projection a]\nfrom = in\nto = h\n"
                           "[projection b]\nfrom = h\nto = out\n";

/* The value of key (with overrides, NULL-terminated, or NULL), asserting success; *def
 * receives the default when def is not NULL.  (transfer full) */
static char *value(const char *key, const char *const *overrides, char **def) {
    GError *error = NULL;
    char *v = oz_scenario_key_value(text, "t.ini", overrides, key, def, &error);
    cr_assert(v, "%s: %s", key, error ? error->message : "?");
    return v;
}

Test(scenario_key, a_written_or_set_value_else_the_schema_default) {
    g_autofree char *def = NULL;
    g_autofree char *mode = value("run.mode", NULL, &def);
    cr_assert_str_eq(mode, "train");
    cr_assert_str_eq(def, "infer", "the schema's default beside the written value");
    /* No [hardware] section: the schema's default. */
    g_autofree char *noise = value("hardware.neuron_noise", NULL, NULL);
    cr_assert_str_eq(noise, "0");
    const char *const set[] = {"hardware.neuron_noise=0.7", NULL};
    g_autofree char *set_noise = value("hardware.neuron_noise", set, NULL);
    cr_assert_str_eq(set_noise, "0.7");
    g_autofree char *pop = value(" population h . v_th ", NULL, NULL);
    cr_assert_str_eq(pop, "0.75", "spaces around the parts as --set takes them");
}

Test(scenario_key, a_plugin_key_takes_the_default_of_the_plugin_the_section_chooses) {
    /* lif's lambda, dfa's dfa_fan (the rule is dfa). */
    g_autofree char *lambda = value("population h.lambda", NULL, NULL);
    cr_assert_str_eq(lambda, "0.5");
    g_autofree char *fan = value("rule.dfa_fan", NULL, NULL);
    cr_assert_str_eq(fan, "m");
    /* opzo's momentum under dfa: a key of another registered rule, its default. */
    g_autofree char *def = NULL;
    g_autofree char *m = value("rule.momentum", NULL, &def);
    cr_assert_str_eq(m, "0.99999");
    cr_assert_str_eq(def, "0.99999");
    /* The data sets' dir defaults differ: the chosen set's, not the first registered. */
    GError *error = NULL;
    g_autofree char *dir = oz_scenario_key_value("[data]\ndataset = fashion-mnist\n", "f.ini", NULL,
                                                 "data.dir", NULL, &error);
    cr_assert(dir, "%s", error ? error->message : "?");
    cr_assert_str_eq(dir, "/usr/share/datasets/fashion-mnist");
}

/* The error of key, asserting its code and that its message holds want. */
static void assert_error(const char *key, int code, const char *want) {
    GError *error = NULL;
    char *v = oz_scenario_key_value(text, "t.ini", NULL, key, NULL, &error);
    cr_assert_null(v, "%s gave '%s'", key, v);
    cr_assert(error && error->domain == OZ_SCENARIO_ERROR, "%s: a scenario error", key);
    cr_assert_eq(error->code, code, "%s: code %d, %s", key, error->code, error->message);
    cr_assert(strstr(error->message, want), "%s: '%s' lacks '%s'", key, error->message, want);
    g_error_free(error);
}

Test(scenario_key, unknown_sections_and_keys_name_them) {
    assert_error("hardware.nosie", OZ_SCENARIO_ERROR_UNKNOWN,
                 "t.ini: [hardware] nosie: unknown key; keys of a hardware section: ");
    assert_error("rule.nmae", OZ_SCENARIO_ERROR_UNKNOWN,
                 "[rule] nmae: unknown key (did you mean 'name'?)");
    assert_error("hardwre.neuron_noise", OZ_SCENARIO_ERROR_UNKNOWN,
                 "[hardwre]: unknown section (did you mean 'hardware'?)");
    assert_error("population h2.lambda", OZ_SCENARIO_ERROR_REFERENCE,
                 "[population h2]: no such section");
    assert_error("neuron_noise", OZ_SCENARIO_ERROR_PARSE, "expected section.key");
}

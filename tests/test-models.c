/* Neuron models as plugins: every registered model's ops table is well formed, its keys
 * reach the scenario, `opzosim keys` and the run log from the table alone, and bad values
 * are rejected naming the key; population shapes; keys of other models and of no model. */
#include "io/oz-runlog.h"
#include "io/oz-scenario.h"
#include "neurons/oz-network.h"
#include "neurons/oz-neuron.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <sqlite3.h>
#include <string.h>

static int n_models(void) {
    int n = 0;
    while (oz_neuron_models()[n])
        n++;
    return n;
}

/* One parameter per registered model: its index in the registry. */
#define MAX_MODELS 32
ParameterizedTestParameters(models, every_model_is_well_formed) {
    static int idx[MAX_MODELS];
    int n = n_models();
    cr_assert(n > 0 && n <= MAX_MODELS);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n);
}

ParameterizedTest(int *i, models, every_model_is_well_formed) {
    const OzNeuronOps *ops = oz_neuron_models()[*i];
    g_autofree char *why = NULL;
    cr_assert(oz_neuron_ops_check(ops, &why), "%s", why);
    cr_assert_eq(ops->api_version, OZ_NEURON_API_VERSION);
    cr_assert_eq(oz_neuron_lookup(ops->name), ops, "%s is found by its name", ops->name);
    for (int j = 0; j < *i; j++)
        cr_assert_str_neq(oz_neuron_models()[j]->name, ops->name, "registered once");
    /* A population of it can be made and stepped with its defaults (an empty key list). */
    const char *none[] = {NULL};
    OzPopulationParams pp = {.model = ops->name, .size = 3, .keys = none, .values = none};
    g_autoptr(GError) err = NULL;
    g_autoptr(OzPopulation) pop = oz_population_new("p", &pp, 2, &err);
    cr_assert_not_null(pop, "%s", err ? err->message : "");
    OzRng rng;
    oz_rng_init(&rng, 1, "t");
    pop->rng = &rng;
    oz_population_reset(pop);
    oz_population_step(pop, 0);
    cr_assert(oz_neuron_emits(pop) < OZ_EMITS_COUNT);
    if (ops->surrogate) {
        /* ψ > 0 everywhere and g·ψ is linear in g. */
        float u[6] = {-2, -0.5f, 0, 0.5f, 1, 3}, g[6] = {1, 1, 1, 2, 2, 2}, out[6];
        ops->surrogate(pop, u, 0.25f, g, out, 0, 6);
        for (int k = 0; k < 6; k++)
            cr_assert(out[k] > 0.0f && isfinite(out[k]), "ψ(%g) = %g", u[k], out[k]);
    }
}

ParameterizedTestParameters(models, every_key_is_listed_and_checked) {
    static int idx[MAX_MODELS];
    int n = n_models();
    for (int i = 0; i < n; i++)
        idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n);
}

/* A value the spec must reject: past the range, not a boolean, not a choice. */
static char *bad_value(const OzParamSpec *s) {
    switch (s->type) {
    case OZ_PARAM_FLOAT:
    case OZ_PARAM_DOUBLE:
    case OZ_PARAM_INT:
        return g_strdup_printf("%.0f", s->max + 1.0 + fabs(s->max));
    case OZ_PARAM_BOOL:
        return g_strdup("perhaps");
    default:
        return g_strdup("no-such-choice");
    }
}

/* Every key of the model's tables: listed by `keys` (oz_scenario_describe) under the model,
 * accepted by the scenario with its default and kept in the population's keys, and a bad
 * value rejected by the scenario and by oz_population_new, each naming the key. */
ParameterizedTest(int *i, models, every_key_is_listed_and_checked) {
    const OzNeuronOps *ops = oz_neuron_models()[*i];
    g_autofree char *described = oz_scenario_describe();
    g_autofree char *head = g_strdup_printf("  model = %s: ", ops->name);
    const char *at = strstr(described, head);
    cr_assert_not_null(at, "keys lists model %s", ops->name);
    const OzParamSpec *tables[2] = {ops->common_params, ops->params};
    for (int t = 0; t < 2; t++) {
        for (int k = 0; tables[t] && tables[t][k].key; k++) {
            const OzParamSpec *s = &tables[t][k];
            g_autofree char *line = g_strdup_printf("\n    %-16s %s", s->key, s->help);
            const char *found = strstr(at, line);
            const char *next = strstr(at + 1, "  model = ");
            cr_assert(found && (!next || found < next), "keys lists %s under model %s", s->key,
                      ops->name);

            /* The scenario, on a population of this model (the hidden one, h). */
            g_autofree char *set_model = g_strdup_printf("population h.model=%s", ops->name);
            g_autofree char *bad = bad_value(s);
            g_autofree char *set_bad = g_strdup_printf("population h.%s=%s", s->key, bad);
            const char *sets[] = {set_model, set_bad, NULL};
            GError *err = NULL;
            OzScenario *sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err);
            cr_assert_null(sc, "%s = %s is rejected", s->key, bad);
            g_autofree char *named = g_strdup_printf("[population h] %s:", s->key);
            cr_assert(strstr(err->message, named), "names the key: %s", err->message);
            cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
            g_clear_error(&err);

            /* And the population itself, from keys given as text. */
            const char *keys[] = {s->key, NULL}, *values[] = {bad, NULL};
            OzPopulationParams pp = {.model = ops->name, .size = 2, .keys = keys, .values = values};
            cr_assert_null(oz_population_new("p", &pp, 1, &err));
            cr_assert(strstr(err->message, s->key), "names the key: %s", err->message);
            g_clear_error(&err);

            /* Its default is what a population of the model gets when the key is absent. */
            const char *set_def[] = {set_model, NULL};
            if (ops->caps & (OZ_NEURON_SOURCE | OZ_NEURON_READOUT))
                continue; /* h cannot be a second input or readout */
            sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", set_def, &err);
            cr_assert_not_null(sc, "%s", err ? err->message : "");
            OzPopulationConfig *h = g_ptr_array_index(sc->pops, 1);
            const char *v = oz_population_config_get(h, s->key);
            cr_assert_not_null(v, "population h keeps %s", s->key);
            g_autofree char *dv = g_strdup(s->def);
            cr_assert_str_eq(v, dv);
            oz_scenario_free(sc);
        }
    }
}

TestSuite(models, .init = oz_test_tiny_setup, .fini = oz_test_tiny_teardown);

Test(models, a_key_of_another_model_is_accepted_and_ignored) {
    /* encoding belongs to input, v_th to lif: the readout and lif ignore them. */
    g_autofree char *t = g_strconcat(oz_test_tiny_text, "", NULL);
    const char *sets[] = {"population out.v_th=2", "population h.encoding=bernoulli", NULL};
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(t, "my.ini", sets, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    OzPopulationConfig *h = g_ptr_array_index(sc->pops, 1), *out = g_ptr_array_index(sc->pops, 2);
    cr_assert_null(oz_population_config_get(h, "encoding"), "not kept for a lif population");
    cr_assert_null(oz_population_config_get(out, "v_th"), "not kept for a readout");
    cr_assert_str_eq(oz_population_config_get(out, "bias"), "true");
    oz_scenario_free(sc);
}

Test(models, a_key_no_model_knows_is_an_error) {
    const char *sets[] = {"population h.tau_refractory=2", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err));
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "[population h] tau_refractory:"), "%s", err->message);
    /* The list of keys a population section takes includes every model's keys. */
    cr_assert(strstr(err->message, "encoding") && strstr(err->message, "v_th") &&
                  strstr(err->message, "shape"),
              "%s", err->message);
    g_error_free(err);
}

Test(models, an_unknown_model_lists_the_registered_ones) {
    const char *sets[] = {"population h.model=lfi", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err));
    g_autofree char *names = oz_neuron_names();
    cr_assert(strstr(err->message, "[population h] model:") && strstr(err->message, names) &&
                  strstr(err->message, "did you mean 'lif'"),
              "%s", err->message);
    g_error_free(err);
    OzPopulationParams pp = {.model = "lfi", .size = 1};
    err = NULL;
    cr_assert_null(oz_population_new("p", &pp, 1, &err));
    cr_assert(strstr(err->message, names), "%s", err->message);
    g_error_free(err);
}

Test(models, feedback_goes_to_a_learnable_population_only) {
    g_autofree char *t = g_strconcat(oz_test_tiny_text, "[feedback in]\ndelay = 1\n", NULL);
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(t, "my.ini", NULL, &err));
    cr_assert(strstr(err->message, "[feedback in]") && strstr(err->message, "learnable") &&
                  strstr(err->message, "lif"),
              "%s", err->message);
    g_error_free(err);
}

/* ---- Shapes ---- */

static OzPopulationConfig *load_h(const char *const *sets, OzScenario **sc) {
    GError *err = NULL;
    *sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err);
    cr_assert_not_null(*sc, "%s", err ? err->message : "");
    return g_ptr_array_index((*sc)->pops, 1);
}

Test(models, a_shape_gives_the_size) {
    /* shape alone: size is its product. */
    g_autofree char *t =
        g_strconcat(oz_test_tiny_text, "[population c]\nmodel = lif\nshape = 2, 3,4\n",
                    "[projection cc]\nfrom = h\nto = c\n", NULL);
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(t, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    OzPopulationConfig *c = g_ptr_array_index(sc->pops, 3);
    cr_assert_eq(c->size, 24);
    cr_assert_eq(c->rank, 3);
    cr_assert(c->dims[0] == 2 && c->dims[1] == 3 && c->dims[2] == 4);
    oz_scenario_free(sc);
    /* Both, agreeing; a plain N. */
    const char *both[] = {"population h.shape=3", NULL};
    OzPopulationConfig *h = load_h(both, &sc);
    cr_assert_eq(h->size, 3);
    cr_assert_eq(h->rank, 1);
    oz_scenario_free(sc);
    /* Neither: size stays required. */
    const char *none[] = {NULL};
    h = load_h(none, &sc);
    cr_assert_eq(h->rank, 0);
    oz_scenario_free(sc);
}

Test(models, a_shape_that_disagrees_or_is_malformed_is_named) {
    const struct {
        const char *set;
        const char *key;
    } bad[] = {
        {"population h.shape=2,2", "size"}, /* product 4, size 3 */
        {"population h.shape=3,x", "shape"},       {"population h.shape=3,0", "shape"},
        {"population h.shape=1,1,1,1,3", "shape"}, {"population h.shape=-3", "shape"},
        {"population h.shape=4000,4000", "shape"}, /* more neurons than a size may have */
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        const char *sets[] = {bad[i].set, NULL};
        GError *err = NULL;
        cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err), "%s",
                       bad[i].set);
        g_autofree char *named = g_strdup_printf("my.ini: [population h] %s:", bad[i].key);
        cr_assert(strstr(err->message, named), "%s: %s", bad[i].set, err->message);
        cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
        g_error_free(err);
    }
    /* No size and an empty shape: the size is missing. */
    g_autofree char *t =
        g_strconcat(oz_test_tiny_text, "[population c]\nmodel = lif\nshape =\n", NULL);
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(t, "my.ini", NULL, &err));
    cr_assert(strstr(err->message, "[population c] size:"), "%s", err->message);
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_MISSING);
    g_error_free(err);
}

Test(models, a_population_keeps_its_shape) {
    OzPopulationParams pp = {.model = "lif", .size = 24, .rank = 3, .shape = {2, 3, 4}};
    g_autoptr(GError) err = NULL;
    g_autoptr(OzPopulation) pop = oz_population_new("c", &pp, 1, &err);
    cr_assert_not_null(pop, "%s", err ? err->message : "");
    g_autofree char *s = oz_population_shape_string(pop);
    cr_assert_str_eq(s, "2,3,4");
    OzPopulationParams flat = {.model = "lif", .size = 7};
    g_autoptr(OzPopulation) p2 = oz_population_new("d", &flat, 1, NULL);
    g_autofree char *s2 = oz_population_shape_string(p2);
    cr_assert_str_eq(s2, "7");
    pp.size = 25;
    cr_assert_null(oz_population_new("c", &pp, 1, &err));
    cr_assert(strstr(err->message, "24") && strstr(err->message, "25"), "%s", err->message);
}

/* ---- The program: `keys`, the parameters table, populations.shape ---- */

Test(models, keys_lists_every_model_key_from_the_ops_tables) {
    g_autofree char *out = NULL;
    cr_assert_eq(oz_test_run_out(&out, NULL, "keys", NULL), 0, "keys exits 0");
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
        g_autofree char *head = g_strdup_printf("  model = %s: %s\n", (*m)->name, (*m)->help);
        const char *at = strstr(out, head);
        cr_assert_not_null(at, "keys lists model %s", (*m)->name);
        const OzParamSpec *tables[2] = {(*m)->common_params, (*m)->params};
        for (int t = 0; t < 2; t++)
            for (int k = 0; tables[t] && tables[t][k].key; k++) {
                g_autofree char *def = g_strdup_printf("[default: %s]", tables[t][k].def);
                g_autofree char *key = g_strdup_printf("\n    %-16s ", tables[t][k].key);
                const char *line = strstr(at, key);
                cr_assert(line && strstr(line, def), "model %s key %s with its default", (*m)->name,
                          tables[t][k].key);
            }
    }
}

Test(models, parameters_and_shapes_are_logged) {
    g_autofree char *text = g_strconcat(oz_test_tiny_text, "", NULL);
    g_autofree char *path = oz_test_write_file(oz_test_tiny_dir, "s.ini", text);
    g_autofree char *db = g_build_filename(oz_test_tiny_dir, "log.sqlite", NULL);
    g_autofree char *err = NULL;
    int rc = oz_test_run(&err, "run", path, "--db", db, "--quiet", "--set",
                         "population h.shape=3,1", "--set", "population h.v_th=0.75", NULL);
    cr_assert_eq(rc, 0, "%s", err);
    /* One row per key of each population's model, defaults included. */
    gint64 want = 0;
    const char *models[] = {"input", "lif", "readout"};
    for (int i = 0; i < 3; i++) {
        const OzNeuronOps *ops = oz_neuron_lookup(models[i]);
        want += oz_param_count(ops->common_params) + oz_param_count(ops->params);
    }
    cr_assert_eq(
        oz_test_q(db, "SELECT COUNT(*) FROM parameters WHERE owner LIKE 'population %'"), want);
    g_autofree char *vth = oz_test_qs(
        db, "SELECT value FROM parameters WHERE owner = 'population h' AND key = 'v_th'");
    cr_assert_str_eq(vth, "0.75");
    g_autofree char *lam = oz_test_qs(
        db, "SELECT value FROM parameters WHERE owner = 'population h' AND key = 'lambda'");
    cr_assert_str_eq(lam, "0.5");
    /* A default that means "the model's own" is logged as the value it resolved to. */
    g_autofree char *tl = oz_test_qs(
        db, "SELECT value FROM parameters WHERE owner = 'population h' AND key = 'trace_lambda'");
    cr_assert_str_eq(tl, "0.5");
    g_autofree char *enc = oz_test_qs(
        db, "SELECT value FROM parameters WHERE owner = 'population in' AND key = 'encoding'");
    cr_assert_str_eq(enc, "current");
    cr_assert_eq(oz_test_q(db, "SELECT COUNT(*) FROM parameters WHERE owner = 'population out' "
                               "AND key = 'v_th'"),
                 0, "a readout has no threshold");
    g_autofree char *shape = oz_test_qs(db, "SELECT shape FROM populations WHERE name = 'h'");
    cr_assert_str_eq(shape, "3,1");
    g_autofree char *flat = oz_test_qs(db, "SELECT shape FROM populations WHERE name = 'in'");
    cr_assert_str_eq(flat, "4");
}

/* A log made before population shapes gains the column when opened for writing, and a
 * populations row then names its columns. */
Test(models, an_older_log_gains_the_shape_column) {
    g_autofree char *db = g_build_filename(oz_test_tiny_dir, "old.sqlite", NULL);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(h,
                              "CREATE TABLE populations(run_id INTEGER NOT NULL, name TEXT NOT "
                              "NULL, model TEXT, size INTEGER, topo INTEGER, encoding TEXT, "
                              "lambda REAL, v_th REAL, dropout REAL, PRIMARY KEY(run_id, name));"
                              "INSERT INTO populations VALUES(1, 'h', 'lif', 3, 1, NULL, 0.5, 1, "
                              "0);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(h);
    g_autoptr(GError) err = NULL;
    OzRunLog *log = oz_runlog_open(db, NULL, 1000, &err);
    cr_assert_not_null(log, "%s", err ? err->message : "");
    oz_runlog_close(log);
    cr_assert_eq(oz_test_q(db, "SELECT COUNT(*) FROM populations WHERE shape IS NULL"), 1,
                 "the old row has no shape");
    cr_assert_eq(oz_test_q(db, "SELECT COUNT(*) FROM parameters"), 0, "and a parameters table");
}

/* The contract of OZ_NEURON_TRACE_OF_SPIKES, which the learner's sparse chunks rely on, for
 * every model that claims it: without a probe, clean_spikes is what the frame sent, and the
 * trace is trace_decay·â(t−1) + o(t); and ψ is the g·ψ product the learner multiplies by
 * the mask afterwards. */
Test(models, a_trace_of_spikes_follows_the_clean_spikes) {
    int checked = 0;
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
        if (!((*m)->caps & OZ_NEURON_TRACE_OF_SPIKES))
            continue;
        enum { N = 50, B = 3, T = 6 };
        /* Its defaults, with dropout where it has one (the mask is part of o). */
        /* And with trace_lambda where it has one, to a decay of its own. */
        const char *keys[3] = {NULL}, *values[3] = {NULL};
        int nk = 0;
        if (oz_neuron_param(*m, "dropout", NULL)) {
            keys[nk] = "dropout";
            values[nk++] = "0.3";
        }
        if (oz_neuron_param(*m, "trace_lambda", NULL)) {
            keys[nk] = "trace_lambda";
            values[nk++] = "0.375";
        }
        OzPopulationParams pp = {.model = (*m)->name, .size = N, .keys = keys, .values = values};
        g_autoptr(GError) err = NULL;
        g_autoptr(OzPopulation) pop = oz_population_new("h", &pp, B, &err);
        cr_assert_not_null(pop, "%s", err ? err->message : "");
        oz_population_set_depth(pop, T);
        OzRng rng, in;
        oz_rng_init(&rng, 3, "dropout");
        oz_rng_init(&in, 4, "in");
        pop->rng = &rng;
        pop->training = TRUE;
        oz_population_reset(pop);
        const float decay = (*m)->trace_decay(pop);
        cr_assert(decay > 0.0f, "%s: a decay that can be told apart", (*m)->name);
        if (oz_neuron_param(*m, "trace_lambda", NULL))
            cr_assert_eq(decay, 0.375f, "%s: trace_lambda is its trace decay", (*m)->name);
        float o[N];
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < B * N; i++)
                pop->acc[i] = (float)(2.0 * oz_rng_uniform(&in));
            oz_population_step(pop, t);
            const OzFrame *f = oz_population_frame(pop, t);
            for (int b = 0; b < B; b++) {
                (*m)->clean_spikes(pop, f, (gsize)b, o);
                for (int i = 0; i < N; i++) {
                    gsize k = (gsize)b * N + i;
                    float prev = t > 0 ? oz_population_frame(pop, t - 1)->trace[k] : 0.0f;
                    cr_assert_eq(o[i], f->s[k], "%s: o = s without a probe", (*m)->name);
                    cr_assert_eq(f->trace[k], decay * prev + o[i], "%s: the trace", (*m)->name);
                }
            }
        }
        checked++;
    }
    cr_assert(checked > 0, "lif claims it");
}

/* A model's configure slot (checks across keys) reaches the scenario's messages. */
Test(models, a_check_across_keys_names_the_key_in_the_scenario) {
    const char *sets[] = {"population h.reset=hard", "population h.v_reset=1.5", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err));
    cr_assert(strstr(err->message, "my.ini: [population h] v_reset:") &&
                  strstr(err->message, "below v_th"),
              "%s", err->message);
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
    g_error_free(err);
}

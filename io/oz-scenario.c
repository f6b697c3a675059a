/* oz-scenario.c — loading a scenario: the key file, --set overrides, a NIR file's
 * sections, each section into its config (io/oz-scenario-keys.c, by the schema of
 * io/oz-scenario-schema.c), then the checks across sections (references between
 * populations, projections and feedback, one input and one readout, the kinds' shapes, the
 * data set's files).  Nothing is committed to the caller until the whole file has
 * validated.  Also run names, and freeing a scenario.
 *
 * Models, kinds, rules and data sets are asked through their registries and ops tables,
 * so this file knows no plugin by name.
 */
#include "oz-scenario-private.h"

#include "io/oz-dataset.h"
#include "io/oz-nir.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-neuron.h"

#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as
 * minus signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-scenario-error-quark, oz_scenario_error)
// clang-format on

static gboolean is_name_ok(const char *s) {
    if (!*s)
        return FALSE;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-')
            return FALSE;
    return TRUE;
}

static gboolean is_run_name_char(char ch) {
    return g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
}

gboolean oz_scenario_name_is_plain(const char *name, char **why) {
    g_return_val_if_fail(name != NULL, FALSE);
    char *reason = NULL;
    gsize len = strlen(name);
    /* The first offending byte first: a '/' says more about a name than its length. */
    for (gsize i = 0; i < len && !reason; i++) {
        guchar ch = (guchar)name[i];
        if (is_run_name_char((char)ch))
            continue;
        if (ch == '/')
            reason = g_strdup_printf("'/' at byte %zu", i);
        else if (ch == ' ')
            reason = g_strdup_printf("a space at byte %zu", i);
        else if (ch >= 0x80)
            reason = g_strdup_printf("a non-ASCII byte 0x%02x at byte %zu", ch, i);
        else if (g_ascii_iscntrl((char)ch))
            reason = g_strdup_printf("the control character 0x%02x at byte %zu", ch, i);
        else
            reason = g_strdup_printf("'%c' at byte %zu", ch, i);
    }
    if (!reason && len == 0)
        reason = g_strdup("it is empty");
    else if (!reason && !g_ascii_isalnum(name[0]))
        reason = g_strdup_printf("it starts with '%c'", name[0]);
    else if (!reason && len > OZ_RUN_NAME_MAX)
        reason = g_strdup_printf("it is %zu bytes long", len);
    if (why)
        *why = reason;
    else
        g_free(reason);
    return reason == NULL;
}

char *oz_scenario_name_from_path(const char *path) {
    g_autofree char *base = g_path_get_basename(path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    GString *s = g_string_new(NULL);
    /* One '_' per character: "naïve" reads as "na_ve", not "na__ve".  A base name that is
     * not UTF-8 (file names are bytes) gets one per byte. */
    gboolean utf8 = g_utf8_validate(base, -1, NULL);
    for (const char *p = base; *p; p = utf8 ? g_utf8_next_char(p) : p + 1)
        g_string_append_c(s, is_run_name_char(*p) ? *p : '_');
    if (!g_ascii_isalnum(s->str[0]))
        g_string_prepend(s, "run");
    g_string_truncate(s, MIN(s->len, (gsize)OZ_RUN_NAME_MAX));
    g_assert(oz_scenario_name_is_plain(s->str, NULL));
    return g_string_free(s, FALSE);
}

static void pop_config_free(OzPopulationConfig *p) {
    g_free(p->name);
    oz__scenario_clear_section(K_POPULATION, p);
    g_strfreev(p->keys);
    g_strfreev(p->values);
    g_free(p);
}

/* The value beside key in the parallel NULL-terminated vectors keys and values, or NULL. */
static const char *value_of(char *const *keys, char *const *values, const char *key) {
    for (int i = 0; keys && keys[i]; i++)
        if (strcmp(keys[i], key) == 0)
            return values[i];
    return NULL;
}

const char *oz_population_config_get(const OzPopulationConfig *pc, const char *key) {
    return value_of(pc->keys, pc->values, key);
}

static void fb_config_free(OzFeedbackConfig *p) {
    g_free(p->name);
    oz__scenario_clear_section(K_FEEDBACK, p);
    g_free(p);
}

static void proj_config_free(OzProjectionConfig *p) {
    g_free(p->name);
    oz__scenario_clear_section(K_PROJECTION, p);
    g_strfreev(p->keys);
    g_strfreev(p->values);
    g_free(p);
}

/* Where the values of a singleton section of this kind go. */
static gpointer singleton_config(OzScenario *sc, OzSectionKind kind) {
    switch (kind) {
    case K_RUN:
        return &sc->run;
    case K_DATA:
        return &sc->data;
    case K_RECORD:
        return &sc->record;
    case K_RULE:
        return &sc->rule;
    case K_OPTIMIZER:
        return &sc->optimizer;
    case K_NETWORK:
        return &sc->network;
    case K_HARDWARE:
        return &sc->hardware;
    default:
        g_assert_not_reached();
    }
}

void oz_scenario_free(OzScenario *sc) {
    if (!sc)
        return;
    g_free(sc->path);
    g_free(sc->text);
    g_strfreev(sc->overrides);
    for (int k = 0; k < K_COUNT; k++)
        if (!oz__section_named[k])
            oz__scenario_clear_section((OzSectionKind)k, singleton_config(sc, (OzSectionKind)k));
    g_strfreev(sc->data.keys);
    g_strfreev(sc->data.values);
    g_strfreev(sc->rule.keys);
    g_strfreev(sc->rule.values);
    if (sc->pops)
        g_ptr_array_free(sc->pops, TRUE);
    if (sc->projs)
        g_ptr_array_free(sc->projs, TRUE);
    if (sc->feedbacks)
        g_ptr_array_free(sc->feedbacks, TRUE);
    g_free(sc);
}

gboolean oz__scenario_apply_overrides(OzScenarioCtx *c, GKeyFile *kf, const char *const *overrides,
                                      GError **error) {
    for (const char *const *o = overrides; o && *o; o++) {
        const char *eq = strchr(*o, '=');
        g_autofree char *lhs = eq ? g_strndup(*o, (gsize)(eq - *o)) : NULL;
        char *dot = lhs ? strrchr(lhs, '.') : NULL;
        if (!eq || !dot || dot == lhs || !dot[1]) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                        "--set '%s': expected section.key=value, e.g. run.seed=0 or "
                        "'population h1.dropout=0.1'",
                        *o);
            return FALSE;
        }
        *dot = '\0';
        const char *section = g_strstrip(lhs);
        const char *key = g_strstrip(dot + 1);
        gboolean named =
            g_str_has_prefix(section, "population ") || g_str_has_prefix(section, "projection ");
        if (named && !g_key_file_has_group(kf, section)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "--set '%s': %s has no section [%s]", *o, c->path, section);
            return FALSE;
        }
        g_key_file_set_value(kf, section, key, eq + 1);
        g_hash_table_add(c->overridden, g_strdup_printf("%s\x1f%s", section, key));
    }
    return TRUE;
}

static char *pop_names(const OzScenario *sc) {
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < sc->pops->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               ((OzPopulationConfig *)g_ptr_array_index(sc->pops, i))->name);
    return g_string_free(s, FALSE);
}

static OzPopulationConfig *find_pop(const OzScenario *sc, const char *name) {
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *p = g_ptr_array_index(sc->pops, i);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

const char *oz_data_config_get(const OzDataConfig *dc, const char *key) {
    return value_of(dc->keys, dc->values, key);
}

/* The data set's checks across its keys and of what they name (files, folders), as the run
 * will load them: the training split only when training. */
static gboolean resolve_data(const OzScenarioCtx *c, OzScenario *sc, GError **error) {
    OzDataConfig *d = &sc->data;
    const OzDatasetOps *ops = oz_dataset_lookup(d->dataset);
    g_assert(ops);
    if (!ops->configure)
        return TRUE;
    g_autoptr(GError) local = NULL;
    const char *bad = NULL;
    gpointer params = oz_dataset_params_new(ops, (const char *const *)d->keys,
                                            (const char *const *)d->values, &bad, &local);
    g_assert(params); /* io/oz-scenario-keys.c validated every key */
    gboolean train = strcmp(sc->run.mode, "train") == 0;
    gboolean ok = ops->configure(params, train, &bad, &local);
    oz_dataset_params_free(ops, params);
    if (ok)
        return TRUE;
    OzScenarioError code =
        local->domain == OZ_SCENARIO_ERROR ? (OzScenarioError)local->code : OZ_SCENARIO_ERROR_VALUE;
    oz__scenario_key_error(c, error, code, "data", bad, "%s", local->message);
    return FALSE;
}

/* The run name is checked before anything else that can fail, and defaulted from the file
 * name when empty. */
static gboolean validate_run_name(const OzScenarioCtx *c, OzScenario *sc, GError **error) {
    if (!*sc->run.name) {
        g_free(sc->run.name);
        sc->run.name = oz_scenario_name_from_path(c->path);
        return TRUE;
    }
    g_autofree char *why = NULL;
    if (oz_scenario_name_is_plain(sc->run.name, &why))
        return TRUE;
    g_autofree char *shown = oz__scenario_printable(sc->run.name, FALSE);
    oz__scenario_key_error(
        c, error, OZ_SCENARIO_ERROR_VALUE, "run", "name",
        "'%s' is not a plain name (%s): it names the run log runs/NAME.sqlite, so it must "
        "be 1 to %d ASCII letters, digits, '-', '_' or '.', starting with a letter or digit",
        shown, why, OZ_RUN_NAME_MAX);
    return FALSE;
}

static gboolean has_cap(const OzPopulationConfig *p, OzNeuronCaps cap) {
    return (oz_neuron_lookup(p->model)->caps & (guint)cap) != 0;
}

/* Whether a population of this configuration sends anything (asks the model, on a
 * population that exists only for the question: emits reads the parameters). */
static gboolean emits_something(const OzPopulationConfig *p) {
    const OzNeuronOps *ops = oz_neuron_lookup(p->model);
    OzPopulation probe = {.ops = ops, .n = p->size, .batch = 1};
    probe.p.model = ops->name;
    probe.p.size = p->size;
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    probe.params = own;
    if (!oz_neuron_configure(ops, (const char *const *)p->keys, (const char *const *)p->values,
                             &probe.p, own, NULL, NULL))
        return TRUE; /* cannot happen: the keys validated; let the network say more */
    return oz_neuron_emits(&probe) != OZ_EMITS_NOTHING;
}

/* A hidden population that can receive a learning signal: a model with a surrogate that
 * is not the readout. */
static gboolean learnable(const OzPopulationConfig *p) {
    const OzNeuronOps *ops = oz_neuron_lookup(p->model);
    return ops->surrogate && !(ops->caps & OZ_NEURON_READOUT);
}

/* "a|b": the registered models with the capability cap (or, with want_learnable, the
 * learnable hidden ones).  (transfer full) */
static char *models_with(OzNeuronCaps cap, gboolean want_learnable) {
    GString *s = g_string_new(NULL);
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
        gboolean ok = want_learnable ? (*m)->surrogate && !((*m)->caps & OZ_NEURON_READOUT)
                                     : ((*m)->caps & (guint)cap) != 0;
        if (ok)
            g_string_append_printf(s, "%s%s", s->len ? "|" : "", (*m)->name);
    }
    return g_string_free(s, FALSE);
}

/* The kind's checks of its keys against the populations' shapes (its configure slot),
 * with the keys as the projection will run them; a population given only a size has
 * rank 1. */
static gboolean check_kind_shapes(const OzScenarioCtx *c, const OzProjectionConfig *p,
                                  const OzPopulationConfig *pre, const OzPopulationConfig *post,
                                  GError **error) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup(p->kind);
    if (!ops || !ops->configure)
        return TRUE;
    g_autofree gpointer kp = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    if (kp)
        oz_param_defaults(ops->params, kp);
    for (int k = 0; kp && p->keys && p->keys[k]; k++) {
        g_autofree char *why = NULL;
        if (!oz_param_parse(oz_param_find(ops->params, p->keys[k]), p->values[k], kp, &why))
            g_assert_not_reached(); /* oz__scenario_fill_kind_keys validated them */
    }
    int dims[2][OZ_SCENARIO_SHAPE_MAX];
    int rank[2];
    const OzPopulationConfig *ends[2] = {pre, post};
    for (int e = 0; e < 2; e++) {
        rank[e] = ends[e]->rank > 0 ? ends[e]->rank : 1;
        memcpy(dims[e], ends[e]->dims, sizeof dims[e]);
        if (ends[e]->rank == 0)
            dims[e][0] = ends[e]->size;
    }
    const char *key = NULL;
    g_autoptr(GError) local = NULL;
    if (ops->configure(kp, rank[0], dims[0], rank[1], dims[1], &key, &local))
        return TRUE;
    g_autofree char *section = g_strdup_printf("projection %s", p->name);
    oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key ? key : "kind", "%s",
                           local->message);
    return FALSE;
}

static gboolean validate(const OzScenarioCtx *c, OzScenario *sc, GError **error) {
    if (!validate_run_name(c, sc, error))
        return FALSE;
    if (sc->hardware.weight_bits == 1) {
        oz__scenario_key_error(
            c, error, OZ_SCENARIO_ERROR_VALUE, "hardware", "weight_bits",
            "1 bit leaves a symmetric quantiser only zero: use 0 (float) or 2-16");
        return FALSE;
    }
    if (sc->pops->len == 0) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_MISSING,
                    "%s: no [population NAME] section: a network needs at least an input and "
                    "a readout",
                    c->path);
        return FALSE;
    }
    int n_input = 0, n_readout = 0;
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *p = g_ptr_array_index(sc->pops, i);
        n_input += has_cap(p, OZ_NEURON_SOURCE);
        n_readout += has_cap(p, OZ_NEURON_READOUT);
    }
    if (n_input != 1 || n_readout != 1) {
        g_autofree char *sources = models_with(OZ_NEURON_SOURCE, FALSE);
        g_autofree char *readouts = models_with(OZ_NEURON_READOUT, FALSE);
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_VALUE,
                    "%s: the network needs exactly one population with model = %s and one "
                    "with model = %s (found %d and %d)",
                    c->path, sources, readouts, n_input, n_readout);
        return FALSE;
    }
    for (guint i = 0; i < sc->projs->len; i++) {
        OzProjectionConfig *p = g_ptr_array_index(sc->projs, i);
        g_autofree char *section = g_strdup_printf("projection %s", p->name);
        const char *ends[2] = {p->from, p->to};
        const char *keys[2] = {"from", "to"};
        for (int k = 0; k < 2; k++) {
            OzPopulationConfig *target = find_pop(sc, ends[k]);
            if (!target) {
                g_autofree char *names = pop_names(sc);
                oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, section, keys[k],
                                       "no population named '%s' (defined: %s)", ends[k], names);
                return FALSE;
            }
            if (k == 0 && !emits_something(target)) {
                oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, section, keys[k],
                                       "population '%s' (model %s) emits nothing", ends[k],
                                       target->model);
                return FALSE;
            }
            if (k == 1 && has_cap(target, OZ_NEURON_SOURCE)) {
                oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, section, keys[k],
                                       "population '%s' is an input and takes no projection",
                                       ends[k]);
                return FALSE;
            }
        }
        if (!check_kind_shapes(c, p, find_pop(sc, p->from), find_pop(sc, p->to), error))
            return FALSE;
    }
    for (guint i = 0; i < sc->projs->len; i++) {
        OzProjectionConfig *p = g_ptr_array_index(sc->projs, i);
        const OzProjectionKindOps *ops = oz_projection_kind_lookup(p->kind);
        if (p->weight_standardization && !ops->fan_in) {
            g_autofree char *section = g_strdup_printf("projection %s", p->name);
            oz__scenario_key_error(
                c, error, OZ_SCENARIO_ERROR_VALUE, section, "weight_standardization",
                "kind %s does not describe its fan-in (its fan_in slot), so it cannot "
                "standardise its weights",
                p->kind);
            return FALSE;
        }
    }
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *p = g_ptr_array_index(sc->pops, i);
        if (p->igl && (!learnable(p) || has_cap(p, OZ_NEURON_READOUT))) {
            g_autofree char *section = g_strdup_printf("population %s", p->name);
            oz__scenario_key_error(
                c, error, OZ_SCENARIO_ERROR_VALUE, section, "igl",
                "an intermediate readout goes on a hidden population of a learnable "
                "model; '%s' has model %s",
                p->name, p->model);
            return FALSE;
        }
    }
    for (guint i = 0; i < sc->feedbacks->len; i++) {
        OzFeedbackConfig *fb = g_ptr_array_index(sc->feedbacks, i);
        OzPopulationConfig *target = find_pop(sc, fb->name);
        if (!target || !learnable(target)) {
            g_autofree char *names = pop_names(sc);
            g_autofree char *models = models_with(0, TRUE);
            g_autofree char *what =
                target ? g_strdup_printf("of model %s, which does not learn", target->model)
                       : g_strdup("not defined");
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "%s: [feedback %s]: errors go to a hidden population of a learnable model "
                        "(%s) named like the section; '%s' is %s (defined: %s)",
                        c->path, fb->name, models, fb->name, what, names);
            return FALSE;
        }
    }
    for (char **s = sc->record.spike_populations; s && *s; s++) {
        if (!find_pop(sc, *s)) {
            g_autofree char *names = pop_names(sc);
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, "record",
                                   "spike_populations", "no population named '%s' (defined: %s)",
                                   *s, names);
            return FALSE;
        }
    }
    return resolve_data(c, sc, error);
}

/* [network] from_nir: the sections of the NIR file's network, merged into kf under what is
 * already there (a key the scenario or --set gives wins).  *expanded tells whether there
 * was a file.  Its errors are the file's (OZ_NIR_ERROR); a bad nir_dt is the scenario's. */
static gboolean expand_nir(const OzScenarioCtx *c, GKeyFile *kf, gboolean *expanded,
                           GError **error) {
    g_autofree char *file = g_key_file_get_string(kf, "network", "from_nir", NULL);
    if (!file || !*g_strstrip(file))
        return TRUE;
    OzNetworkConfig nc = {0};
    if (!oz__scenario_fill_section(c, kf, K_NETWORK, "network", &nc, error))
        return FALSE;
    oz__scenario_clear_section(K_NETWORK, &nc);
    g_autofree char *mode = g_key_file_get_string(kf, "run", "mode", NULL);
    g_autofree char *sections = NULL;
    if (!oz_nir_import_given(file, nc.nir_dt,
                             g_strcmp0(mode ? g_strstrip(mode) : NULL, "train") == 0, kf, &sections,
                             NULL, error)) {
        g_prefix_error(error, "%s: [network] from_nir: ", c->path);
        return FALSE;
    }
    g_autoptr(GKeyFile) nk = g_key_file_new();
    g_autoptr(GError) local = NULL;
    if (!g_key_file_load_from_data(nk, sections, (gsize)-1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_FAILED,
                    "%s: [network] from_nir: the sections made from %s do not parse: %s", c->path,
                    file, local->message);
        return FALSE;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(nk, NULL);
    for (char **g = groups; *g; g++) {
        g_auto(GStrv) keys = g_key_file_get_keys(nk, *g, NULL, NULL);
        for (char **k = keys; k && *k; k++)
            if (!g_key_file_has_key(kf, *g, *k, NULL)) {
                g_autofree char *v = g_key_file_get_value(nk, *g, *k, NULL);
                g_key_file_set_value(kf, *g, *k, v);
            }
    }
    *expanded = TRUE;
    return TRUE;
}

/* A new configuration named name for a named section of this kind, appended to the
 * scenario's list of them (which owns it). */
static gpointer add_named_config(OzScenario *sc, OzSectionKind kind, const char *name) {
    switch (kind) {
    case K_POPULATION: {
        OzPopulationConfig *p = g_new0(OzPopulationConfig, 1);
        p->name = g_strdup(name);
        g_ptr_array_add(sc->pops, p);
        return p;
    }
    case K_PROJECTION: {
        OzProjectionConfig *p = g_new0(OzProjectionConfig, 1);
        p->name = g_strdup(name);
        g_ptr_array_add(sc->projs, p);
        return p;
    }
    case K_FEEDBACK: {
        OzFeedbackConfig *p = g_new0(OzFeedbackConfig, 1);
        p->name = g_strdup(name);
        g_ptr_array_add(sc->feedbacks, p);
        return p;
    }
    default:
        g_assert_not_reached();
    }
}

OzScenario *oz_scenario_load_data(const char *text, const char *path, const char *const *overrides,
                                  GError **error) {
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    if (!g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_KEEP_COMMENTS, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                    "%s: not a valid key file: %s", path, local->message);
        return NULL;
    }
    g_autoptr(GHashTable) overridden = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    OzScenarioCtx c = {path, overridden};
    if (!oz__scenario_apply_overrides(&c, kf, overrides, error))
        return NULL;

    /* The text as written (with overrides), before a NIR file adds its sections: the run
     * log keeps what the user wrote, and loading it again reads the file again. */
    g_autofree char *text_given = g_key_file_to_data(kf, NULL, NULL);
    gboolean expanded = FALSE;
    if (!expand_nir(&c, kf, &expanded, error))
        return NULL;

    g_autoptr(OzScenario) sc = g_new0(OzScenario, 1);
    sc->path = g_strdup(path);
    sc->overrides = g_strdupv((char **)overrides);
    sc->pops = g_ptr_array_new_with_free_func((GDestroyNotify)pop_config_free);
    sc->projs = g_ptr_array_new_with_free_func((GDestroyNotify)proj_config_free);
    sc->feedbacks = g_ptr_array_new_with_free_func((GDestroyNotify)fb_config_free);

    gboolean seen[K_COUNT] = {FALSE};
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        OzSectionKind kind = K_COUNT;
        const char *name = NULL;
        for (int k = 0; k < K_COUNT; k++) {
            if (!oz__section_named[k] && strcmp(*g, oz__section_names[k]) == 0) {
                kind = (OzSectionKind)k;
            } else if (oz__section_named[k] && g_str_has_prefix(*g, oz__section_names[k]) &&
                       (*g)[strlen(oz__section_names[k])] == ' ') {
                kind = (OzSectionKind)k;
                name = *g + strlen(oz__section_names[k]) + 1;
            }
        }
        if (kind == K_COUNT) {
            const char *cands[] = {"run",
                                   "data",
                                   "record",
                                   "rule",
                                   "optimizer",
                                   "population NAME",
                                   "projection NAME",
                                   "feedback NAME",
                                   "network",
                                   "hardware"};
            g_autofree char *sug = oz__scenario_suggest(*g, cands, G_N_ELEMENTS(cands));
            g_set_error(
                error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_UNKNOWN,
                "%s: [%s]: unknown section%s; sections are [run], [data], [record], "
                "[rule], [optimizer], [population NAME], [projection NAME], [feedback NAME], "
                "[network] and [hardware]",
                path, *g, sug);
            return NULL;
        }
        if (name && !is_name_ok(name)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_VALUE,
                        "%s: [%s]: the name '%s' must be letters, digits, '_' or '-'", path, *g,
                        name);
            return NULL;
        }
        gpointer base =
            oz__section_named[kind] ? add_named_config(sc, kind, name) : singleton_config(sc, kind);
        seen[kind] = TRUE;
        if (!oz__scenario_fill_section(&c, kf, kind, *g, base, error))
            return NULL;
        if (kind == K_POPULATION && (!oz__scenario_fill_shape(&c, kf, *g, base, error) ||
                                     !oz__scenario_fill_model_keys(&c, kf, *g, base, error)))
            return NULL;
        if (kind == K_PROJECTION && !oz__scenario_fill_kind_keys(&c, kf, *g, base, error))
            return NULL;
    }
    /* Singleton sections that are absent still get their defaults. */
    for (int k = 0; k < K_COUNT; k++)
        if (!oz__section_named[k] && !seen[k] &&
            !oz__scenario_fill_section(&c, kf, (OzSectionKind)k, oz__section_names[k],
                                       singleton_config(sc, (OzSectionKind)k), error))
            return NULL;
    if (!validate(&c, sc, error))
        return NULL;
    sc->text = expanded ? g_steal_pointer(&text_given) : g_key_file_to_data(kf, NULL, NULL);
    return g_steal_pointer(&sc);
}

OzScenario *oz_scenario_load(const char *path, const char *const *overrides, GError **error) {
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) local = NULL;
    if (!g_file_get_contents(path, &text, &len, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_FAILED,
                    "%s: cannot read the scenario: %s", path, local->message);
        return NULL;
    }
    /* The key-file parser reads up to the first NUL byte; whatever follows would be
     * silently dropped (a name cut short, a section lost). */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                    "%s: a NUL byte at offset %td: a scenario is a text file", path, nul - text);
        return NULL;
    }
    return oz_scenario_load_data(text, path, overrides, error);
}

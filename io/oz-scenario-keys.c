/* oz-scenario-keys.c — reading one section of a scenario key file into its config struct.
 *
 * A section is walked once to reject unknown keys (with a "did you mean"), then by the
 * schema (io/oz-scenario-schema.c) to fill every field, so a key absent from the file gets
 * its default and a required key without one is reported.  The keys a plugin takes (a
 * population's model, a projection's kind, the rule, the data set) are read by the
 * plugin's own table and kept as text; a key of another registered plugin of the same
 * family is accepted and ignored.  Every message names the file, the section and the key,
 * and says when the key was given with --set.  Checks across sections are
 * io/oz-scenario.c's.
 */
#include "oz-scenario-private.h"

#include "io/oz-dataset.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-neuron.h"
#include "plasticity/oz-learner.h"
#include "plasticity/oz-rule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int oz_levenshtein(const char *a, const char *b) {
    gsize la = strlen(a), lb = strlen(b);
    g_autofree int *row = g_new(int, lb + 1);
    for (gsize j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (gsize i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (gsize j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 1]) ? 0 : 1;
            row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean 'x'?)" for the closest candidate within distance 3, or "". */
char *oz__scenario_suggest(const char *word, const char *const *candidates, gsize n) {
    const char *best = NULL;
    int best_d = 4;
    for (gsize i = 0; i < n; i++) {
        int d = oz_levenshtein(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best ? g_strdup_printf(" (did you mean '%s'?)", best) : g_strdup("");
}

void oz__scenario_key_error(const OzScenarioCtx *c, GError **error, OzScenarioError code,
                            const char *section, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    gboolean from_cli = FALSE;
    if (key && c->overridden) {
        g_autofree char *k = g_strdup_printf("%s\x1f%s", section, key);
        from_cli = g_hash_table_contains(c->overridden, k);
    }
    if (key)
        g_set_error(error, OZ_SCENARIO_ERROR, code, "%s: [%s] %s: %s%s", c->path, section, key, msg,
                    from_cli ? " (set with --set)" : "");
    else
        g_set_error(error, OZ_SCENARIO_ERROR, code, "%s: [%s]: %s", c->path, section, msg);
}

void oz_scenario_set_error(const OzScenario *sc, GError **error, OzScenarioError code,
                           const char *section, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    OzScenarioCtx c = {sc->path, NULL};
    oz__scenario_key_error(&c, error, code, section, key, "%s", msg);
}

/* Where in a raw key-file value an escape GLib cannot read starts (it knows \s \n \t \r
 * and \\), or −1. */
static gssize bad_escape(const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p != '\\')
            continue;
        if (!p[1] || !strchr("sntr\\", p[1]))
            return p - v;
        p++;
    }
    return -1;
}

/* A value as it can be shown in a message: control characters, backslashes (unless raw:
 * a key file's own escapes, shown as written) and, unless the value is valid UTF-8, high
 * bytes as C escapes.  (transfer full) */
char *oz__scenario_printable(const char *v, gboolean raw) {
    char keep[130];
    gsize n = 0;
    if (raw)
        keep[n++] = '\\';
    if (g_utf8_validate(v, -1, NULL))
        for (int b = 0x80; b <= 0xff; b++)
            keep[n++] = (char)b;
    keep[n] = '\0';
    return g_strescape(v, keep);
}

static gboolean parse_value(const OzScenarioCtx *c, const OzKeySpec *ks, const char *section,
                            const char *raw, gpointer base, GError **error) {
    gpointer field = (char *)base + ks->offset;
    g_autofree char *v = g_strstrip(g_strdup(raw));
    switch (ks->type) {
    case T_INT:
    case T_INT64: {
        gint64 out = 0;
        char *end = NULL;
        errno = 0;
        out = g_ascii_strtoll(v, &end, 10);
        if (!*v || *end || errno != 0) {
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                                   "expected an integer in [%.0f, %.0f], got '%s'", ks->min,
                                   ks->max, v);
            return FALSE;
        }
        if ((double)out < ks->min || (double)out > ks->max) {
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                                   "%s is out of range: expected an integer in [%.0f, %.0f]", v,
                                   ks->min, ks->max);
            return FALSE;
        }
        if (ks->type == T_INT)
            *(int *)field = (int)out;
        else
            *(gint64 *)field = out;
        return TRUE;
    }
    case T_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double d = g_ascii_strtod(v, &end);
        if (!*v || *end || errno != 0 || !isfinite(d)) {
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                                   "expected a number in [%g, %g], got '%s'", ks->min, ks->max, v);
            return FALSE;
        }
        if (d < ks->min || d > ks->max) {
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                                   "%s is out of range: expected a number in [%g, %g]", v, ks->min,
                                   ks->max);
            return FALSE;
        }
        *(double *)field = d;
        return TRUE;
    }
    case T_BOOL: {
        static const char *const yes[] = {"true", "yes", "1", "on"};
        static const char *const no[] = {"false", "no", "0", "off"};
        for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
            if (g_ascii_strcasecmp(v, yes[i]) == 0) {
                *(gboolean *)field = TRUE;
                return TRUE;
            }
            if (g_ascii_strcasecmp(v, no[i]) == 0) {
                *(gboolean *)field = FALSE;
                return TRUE;
            }
        }
        oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                               "expected true or false, got '%s'", v);
        return FALSE;
    }
    case T_ENUM: {
        g_auto(GStrv) choices = g_strsplit(oz__key_choices(ks), "|", -1);
        if (g_strv_contains((const char *const *)choices, v)) {
            g_free(*(char **)field);
            *(char **)field = g_strdup(v);
            return TRUE;
        }
        g_autofree char *sug =
            oz__scenario_suggest(v, (const char *const *)choices, g_strv_length(choices));
        g_autofree char *list = g_strjoinv(", ", choices);
        oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                               "expected one of %s, got '%s'%s", list, v, sug);
        return FALSE;
    }
    case T_STRING:
        g_free(*(char **)field);
        *(char **)field = g_strdup(v);
        return TRUE;
    case T_LIST: {
        g_auto(GStrv) parts = g_strsplit(v, ",", -1);
        GPtrArray *out = g_ptr_array_new();
        for (char **p = parts; *p; p++) {
            g_strstrip(*p);
            if (**p)
                g_ptr_array_add(out, g_strdup(*p));
        }
        g_ptr_array_add(out, NULL);
        g_strfreev(*(char ***)field);
        *(char ***)field = (char **)g_ptr_array_free(out, FALSE);
        return TRUE;
    }
    }
    return FALSE;
}

/* Appends to known every key of table (NULL or ended by a NULL key) it does not hold yet. */
static void add_param_keys(GPtrArray *known, const OzParamSpec *table) {
    for (int i = 0; table && table[i].key; i++) {
        gboolean seen = FALSE;
        for (guint j = 0; j < known->len && !seen; j++)
            seen = strcmp(g_ptr_array_index(known, j), table[i].key) == 0;
        if (!seen)
            g_ptr_array_add(known, (gpointer)table[i].key);
    }
}

/* Every key of the registered plugins whose keys a section of this kind takes (the neuron
 * models' for a population, the projection kinds', the rules', the data sets'), once each,
 * in registry order; nothing for the other kinds. */
static void add_plugin_keys(GPtrArray *known, OzSectionKind kind) {
    switch (kind) {
    case K_POPULATION:
        for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
            add_param_keys(known, (*m)->common_params);
            add_param_keys(known, (*m)->params);
        }
        break;
    case K_PROJECTION:
        for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++)
            add_param_keys(known, (*k)->params);
        break;
    case K_RULE:
        for (const OzRuleOps *const *r = oz_rule_all(); *r; r++)
            add_param_keys(known, (*r)->params);
        break;
    case K_DATA:
        for (const OzDatasetOps *const *d = oz_datasets(); *d; d++)
            add_param_keys(known, (*d)->params);
        break;
    default:
        break;
    }
}

/* The raw text of a key, or NULL when absent (*raw_out).  FALSE with an error when the
 * value is there but cannot be read. */
static gboolean read_raw(const OzScenarioCtx *c, GKeyFile *kf, const char *section, const char *key,
                         char **raw_out, GError **error) {
    g_autoptr(GError) kerr = NULL;
    *raw_out = g_key_file_get_string(kf, section, key, &kerr);
    if (kerr && !g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) &&
        !g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND)) {
        /* A bad escape: GLib hands back the value with it left in (2.74) or nothing.
         * Not UTF-8: nothing.  Either way it is not what the file meant, and the
         * default must not stand in for it, nor a "\0" pass into a name or a path. */
        g_clear_pointer(raw_out, g_free);
        g_autofree char *value = g_key_file_get_value(kf, section, key, NULL);
        gssize at = value ? bad_escape(value) : -1;
        g_autofree char *shown = oz__scenario_printable(value ? value : "", TRUE);
        if (at >= 0)
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key,
                                   "'%s' has an escape sequence a key file does not know at byte "
                                   "%" G_GSSIZE_FORMAT
                                   "; a backslash starts only \\s, \\n, \\t, \\r or \\\\",
                                   shown, at);
        else if (g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING))
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key,
                                   "'%s' is not UTF-8 text", shown);
        else
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key,
                                   "'%s' cannot be read (%s)", shown, kerr->message);
        return FALSE;
    }
    return TRUE;
}

/* A plugin's key table (NULL or ended by a NULL key): each key from the file or its
 * default, parsed into base by its spec (an enum value that is no choice gets a
 * suggestion), then appended to keys and values as text.  FALSE at the first key that does
 * not parse, with error naming it. */
static gboolean read_plugin_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                 const OzParamSpec *table, gpointer base, GPtrArray *keys,
                                 GPtrArray *values, GError **error) {
    for (int i = 0; table && table[i].key; i++) {
        const OzParamSpec *s = &table[i];
        g_autofree char *raw = NULL;
        g_autofree char *why = NULL;
        if (!read_raw(c, kf, section, s->key, &raw, error))
            return FALSE;
        if (!oz_param_parse(s, raw ? raw : s->def, base, &why)) {
            g_autofree char *sug = NULL;
            if (s->type == OZ_PARAM_ENUM) {
                g_auto(GStrv) choices = g_strsplit(s->choices, "|", -1);
                g_autofree char *v = g_strstrip(g_strdup(raw ? raw : s->def));
                sug = oz__scenario_suggest(v, (const char *const *)choices, g_strv_length(choices));
            }
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, s->key, "%s%s", why,
                                   sug ? sug : "");
            return FALSE;
        }
        g_ptr_array_add(keys, g_strdup(s->key));
        g_ptr_array_add(values, oz_param_format(s, base));
    }
    return TRUE;
}

/* Ends keys and values with NULL and hands them over as string vectors (replacing, and
 * freeing, what *keys_out and *values_out held). */
static void take_plugin_keys(GPtrArray *keys, GPtrArray *values, char ***keys_out,
                             char ***values_out) {
    g_ptr_array_add(keys, NULL);
    g_ptr_array_add(values, NULL);
    g_strfreev(*keys_out);
    g_strfreev(*values_out);
    *keys_out = (char **)g_ptr_array_free(keys, FALSE);
    *values_out = (char **)g_ptr_array_free(values, FALSE);
}

/* read_plugin_keys over one table, the keys read handed over to *keys_out and *values_out
 * whether or not they all parse. */
static gboolean fill_plugin_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                 const OzParamSpec *table, gpointer base, char ***keys_out,
                                 char ***values_out, GError **error) {
    GPtrArray *keys = g_ptr_array_new(), *values = g_ptr_array_new();
    gboolean ok = read_plugin_keys(c, kf, section, table, base, keys, values, error);
    take_plugin_keys(keys, values, keys_out, values_out);
    return ok;
}

/* The rule's own keys: every key of its table, from the file or its default, validated by
 * the rule's specs and kept as text.  Keys of other registered rules were let through by
 * oz__scenario_fill_section and are ignored here. */
static gboolean fill_rule_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                               OzRuleConfig *rc, GError **error) {
    const OzRuleOps *ops = oz_rule_lookup(rc->name);
    g_assert(ops); /* the "@rules" enum accepted it */
    OzLearnParams scratch = {0};
    return fill_plugin_keys(c, kf, section, ops->params, &scratch, &rc->keys, &rc->values, error);
}

/* The data set's own keys: every key of its table, from the file or its default, validated
 * by its specs and kept as text (its configure runs in validate, once the run mode is known).
 * Keys of other registered data sets were let through by oz__scenario_fill_section and are
 * ignored. */
static gboolean fill_dataset_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                  OzDataConfig *dc, GError **error) {
    const OzDatasetOps *ops = oz_dataset_lookup(dc->dataset);
    g_assert(ops); /* the "@datasets" enum accepted it */
    gpointer scratch = g_malloc0(MAX(ops->params_size, 1));
    gboolean ok =
        fill_plugin_keys(c, kf, section, ops->params, scratch, &dc->keys, &dc->values, error);
    oz_dataset_params_free(ops, scratch);
    return ok;
}

gboolean oz__scenario_fill_section(const OzScenarioCtx *c, GKeyFile *kf, OzSectionKind kind,
                                   const char *section, gpointer base, GError **error) {
    /* Unknown keys first, so a misspelt required key reads as a misspelling. */
    g_auto(GStrv) keys = g_key_file_get_keys(kf, section, NULL, NULL);
    g_autoptr(GPtrArray) known_keys = g_ptr_array_new();
    for (gsize i = 0; i < oz__scenario_schema_len; i++)
        if (oz__scenario_schema[i].kind == kind)
            g_ptr_array_add(known_keys, (gpointer)oz__scenario_schema[i].key);
    add_plugin_keys(known_keys, kind);
    const char *const *known = (const char *const *)known_keys->pdata;
    const gsize nknown = known_keys->len;
    for (char **k = keys; k && *k; k++) {
        gboolean ok = FALSE;
        for (gsize i = 0; i < nknown && !ok; i++)
            ok = strcmp(known[i], *k) == 0;
        if (!ok) {
            g_autofree char *sug = oz__scenario_suggest(*k, known, nknown);
            GString *all = g_string_new(NULL);
            for (gsize i = 0; i < nknown; i++)
                g_string_append_printf(all, "%s%s", i ? ", " : "", known[i]);
            oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_UNKNOWN, section, *k,
                                   "unknown key%s; keys of a %s section: %s", sug,
                                   oz__section_names[kind], all->str);
            g_string_free(all, TRUE);
            return FALSE;
        }
    }
    for (gsize i = 0; i < oz__scenario_schema_len; i++) {
        const OzKeySpec *ks = &oz__scenario_schema[i];
        if (ks->kind != kind)
            continue;
        g_autofree char *raw = NULL;
        if (!read_raw(c, kf, section, ks->key, &raw, error))
            return FALSE;
        if (!raw) {
            /* A population's size may be left out when its shape is given. */
            if (kind == K_POPULATION && strcmp(ks->key, "size") == 0 &&
                g_key_file_has_key(kf, section, "shape", NULL))
                continue;
            if (!ks->def) {
                oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_MISSING, section, ks->key,
                                       "required key is missing (%s)", ks->help);
                return FALSE;
            }
            raw = g_strdup(ks->def);
        }
        if (!parse_value(c, ks, section, raw, base, error))
            return FALSE;
    }
    if (kind == K_RULE)
        return fill_rule_keys(c, kf, section, base, error);
    if (kind == K_DATA)
        return fill_dataset_keys(c, kf, section, base, error);
    return TRUE;
}

/* The shape key: 1 to OZ_SCENARIO_SHAPE_MAX positive integers separated by commas, whose
 * product is the size (given or not; when given, they must agree). */
gboolean oz__scenario_fill_shape(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                 OzPopulationConfig *p, GError **error) {
    _Static_assert(OZ_SCENARIO_SHAPE_MAX == OZ_SHAPE_MAX_RANK, "one limit on shape ranks");
    if (!*p->shape) {
        if (g_key_file_has_key(kf, section, "size", NULL))
            return TRUE;
        oz__scenario_key_error(
            c, error, OZ_SCENARIO_ERROR_MISSING, section, "size",
            "required key is missing (number of neurons; or give shape = C,H,W)");
        return FALSE;
    }
    g_auto(GStrv) parts = g_strsplit(p->shape, ",", -1);
    int rank = (int)g_strv_length(parts);
    gint64 product = 1;
    gboolean ok = rank >= 1 && rank <= OZ_SCENARIO_SHAPE_MAX;
    for (int d = 0; ok && d < rank; d++) {
        char *end = NULL;
        g_strstrip(parts[d]);
        errno = 0;
        gint64 v = g_ascii_strtoll(parts[d], &end, 10);
        ok = *parts[d] && !*end && errno == 0 && v >= 1 && v <= 10000000;
        if (ok) {
            p->dims[d] = (int)v;
            product *= v;
            ok = product <= 10000000;
        }
    }
    if (!ok) {
        oz__scenario_key_error(
            c, error, OZ_SCENARIO_ERROR_VALUE, section, "shape",
            "expected 1 to %d positive integers separated by commas (C,H,W or N) whose "
            "product is at most 10000000, got '%s'",
            OZ_SCENARIO_SHAPE_MAX, p->shape);
        return FALSE;
    }
    p->rank = rank;
    if (!g_key_file_has_key(kf, section, "size", NULL)) {
        p->size = (int)product;
    } else if (p->size != product) {
        oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, "size",
                               "%d does not match shape = %s, whose product is %" G_GINT64_FORMAT
                               " (give either, or both agreeing)",
                               p->size, p->shape, product);
        return FALSE;
    }
    return TRUE;
}

/* The population's model keys: every key of its model's tables, from the file or its
 * default, validated by the model's own specs and its configure slot on temporaries, and
 * kept as text.  Keys of other registered models were let through by
 * oz__scenario_fill_section and are ignored here. */
gboolean oz__scenario_fill_model_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                      OzPopulationConfig *p, GError **error) {
    const OzNeuronOps *ops = oz_neuron_lookup(p->model);
    g_assert(ops); /* the "@models" enum accepted it */
    OzPopulationParams common = {.model = ops->name, .size = p->size};
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    GPtrArray *keys = g_ptr_array_new(), *values = g_ptr_array_new();
    gboolean ok =
        read_plugin_keys(c, kf, section, ops->common_params, &common, keys, values, error) &&
        read_plugin_keys(c, kf, section, ops->params, own, keys, values, error);
    take_plugin_keys(keys, values, &p->keys, &p->values);
    if (!ok)
        return FALSE;
    /* The model's checks across keys, as the population will run them. */
    const char *bad = NULL;
    g_autoptr(GError) local = NULL;
    OzPopulationParams check = {.model = ops->name, .size = p->size};
    g_autofree gpointer scratch = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    if (!oz_neuron_configure(ops, (const char *const *)p->keys, (const char *const *)p->values,
                             &check, scratch, &bad, &local)) {
        oz__scenario_key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, bad, "%s",
                               local->message);
        return FALSE;
    }
    return TRUE;
}

/* The projection's kind keys: every key of its kind's table, from the file or its default,
 * validated by the kind's specs and kept as text.  Keys of other registered kinds were
 * let through by oz__scenario_fill_section and are ignored here. */
gboolean oz__scenario_fill_kind_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                     OzProjectionConfig *p, GError **error) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup(p->kind);
    g_assert(ops); /* the "@kinds" enum accepted it */
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    return fill_plugin_keys(c, kf, section, ops->params, own, &p->keys, &p->values, error);
}

/* ---- One key's value without loading the scenario (oz_scenario_key_value) ---- */

/* The kind of a section name ("hardware", "population h1"), or K_COUNT. */
static OzSectionKind section_kind(const char *section) {
    for (int k = 0; k < K_COUNT; k++) {
        const char *name = oz__section_names[k];
        gsize len = strlen(name);
        if (!oz__section_named[k] ? strcmp(section, name) == 0
                                  : strncmp(section, name, len) == 0 && section[len] == ' ' &&
                                        section[len + 1])
            return (OzSectionKind)k;
    }
    return K_COUNT;
}

/* The default of a key a plugin takes: from the plugin the section chooses (chosen: its
 * model, kind, rule or data set name), else from the first registered plugin of the family
 * that has the key (a key accepted and ignored), else NULL. */
static const char *plugin_default(OzSectionKind kind, const char *chosen, const char *key) {
    const OzParamSpec *s = NULL;
    switch (kind) {
    case K_POPULATION: {
        const OzNeuronOps *m = oz_neuron_lookup(chosen);
        s = m ? oz_neuron_param(m, key, NULL) : NULL;
        for (const OzNeuronOps *const *o = oz_neuron_models(); !s && *o; o++)
            s = oz_neuron_param(*o, key, NULL);
        break;
    }
    case K_PROJECTION: {
        const OzProjectionKindOps *k = oz_projection_kind_lookup(chosen);
        s = k ? oz_param_find(k->params, key) : NULL;
        for (const OzProjectionKindOps *const *o = oz_projection_kinds(); !s && *o; o++)
            s = oz_param_find((*o)->params, key);
        break;
    }
    case K_RULE: {
        const OzRuleOps *r = oz_rule_lookup(chosen);
        s = r ? oz_param_find(r->params, key) : NULL;
        for (const OzRuleOps *const *o = oz_rule_all(); !s && *o; o++)
            s = oz_param_find((*o)->params, key);
        break;
    }
    case K_DATA: {
        const OzDatasetOps *d = oz_dataset_lookup(chosen);
        s = d ? oz_param_find(d->params, key) : NULL;
        for (const OzDatasetOps *const *o = oz_datasets(); !s && *o; o++)
            s = oz_param_find((*o)->params, key);
        break;
    }
    default:
        break;
    }
    return s ? s->def : NULL;
}

/* The schema's entry for key in a section of this kind, or NULL. */
static const OzKeySpec *schema_key(OzSectionKind kind, const char *key) {
    for (gsize i = 0; i < oz__scenario_schema_len; i++)
        if (oz__scenario_schema[i].kind == kind && strcmp(oz__scenario_schema[i].key, key) == 0)
            return &oz__scenario_schema[i];
    return NULL;
}

/* The key of a section of this kind that chooses its plugin, or NULL. */
static const char *plugin_choice_key(OzSectionKind kind) {
    switch (kind) {
    case K_POPULATION:
        return "model";
    case K_PROJECTION:
        return "kind";
    case K_RULE:
        return "name";
    case K_DATA:
        return "dataset";
    default:
        return NULL;
    }
}

char *oz_scenario_key_value(const char *text, const char *path, const char *const *overrides,
                            const char *section_key, char **def_out, GError **error) {
    if (def_out)
        *def_out = NULL;
    g_autofree char *lhs = g_strdup(section_key);
    char *dot = strrchr(lhs, '.');
    if (!dot || dot == lhs || !dot[1]) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                    "'%s': expected section.key, e.g. hardware.neuron_noise or "
                    "'population h1.dropout'",
                    section_key);
        return NULL;
    }
    *dot = '\0';
    const char *section = g_strstrip(lhs), *key = g_strstrip(dot + 1);
    g_autoptr(GHashTable) overridden = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    OzScenarioCtx c = {path, overridden};
    OzSectionKind kind = section_kind(section);
    if (kind == K_COUNT) {
        const char *cands[K_COUNT];
        for (int k = 0; k < K_COUNT; k++)
            cands[k] = oz__section_names[k];
        g_autofree char *sug = oz__scenario_suggest(section, cands, K_COUNT);
        oz__scenario_key_error(&c, error, OZ_SCENARIO_ERROR_UNKNOWN, section, NULL,
                               "unknown section%s; sections are [run], [data], [record], [rule], "
                               "[optimizer], [population NAME], [projection NAME], [feedback "
                               "NAME], [network] and [hardware]",
                               sug);
        return NULL;
    }
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    if (!g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                    "%s: not a valid key file: %s", path, local->message);
        return NULL;
    }
    if (!oz__scenario_apply_overrides(&c, kf, overrides, error))
        return NULL;
    if (oz__section_named[kind] && !g_key_file_has_group(kf, section)) {
        oz__scenario_key_error(&c, error, OZ_SCENARIO_ERROR_REFERENCE, section, NULL,
                               "no such section in the scenario");
        return NULL;
    }
    /* The same known keys, and the same message, as reading the section. */
    g_autoptr(GPtrArray) known = g_ptr_array_new();
    for (gsize i = 0; i < oz__scenario_schema_len; i++)
        if (oz__scenario_schema[i].kind == kind)
            g_ptr_array_add(known, (gpointer)oz__scenario_schema[i].key);
    add_plugin_keys(known, kind);
    gboolean found = FALSE;
    for (guint i = 0; i < known->len && !found; i++)
        found = strcmp(known->pdata[i], key) == 0;
    if (!found) {
        g_autofree char *sug =
            oz__scenario_suggest(key, (const char *const *)known->pdata, known->len);
        GString *all = g_string_new(NULL);
        for (guint i = 0; i < known->len; i++)
            g_string_append_printf(all, "%s%s", i ? ", " : "", (char *)known->pdata[i]);
        oz__scenario_key_error(&c, error, OZ_SCENARIO_ERROR_UNKNOWN, section, key,
                               "unknown key%s; keys of a %s section: %s", sug,
                               oz__section_names[kind], all->str);
        g_string_free(all, TRUE);
        return NULL;
    }
    const OzKeySpec *ks = schema_key(kind, key);
    const char *def = NULL;
    if (ks) {
        def = ks->def;
    } else {
        /* A plugin's key: the default of the plugin the section chooses. */
        const char *ck = plugin_choice_key(kind);
        g_autofree char *chosen = NULL;
        if (!read_raw(&c, kf, section, ck, &chosen, error))
            return NULL;
        if (!chosen)
            chosen = g_strdup(schema_key(kind, ck)->def);
        def = plugin_default(kind, g_strstrip(chosen), key);
    }
    char *raw = NULL;
    if (!read_raw(&c, kf, section, key, &raw, error))
        return NULL;
    if (!raw && !def) {
        oz__scenario_key_error(&c, error, OZ_SCENARIO_ERROR_MISSING, section, key,
                               "the scenario gives no value and the key has no default%s",
                               kind == K_POPULATION && strcmp(key, "size") == 0
                                   ? " (a size given by shape is not read here)"
                                   : "");
        return NULL;
    }
    if (def_out)
        *def_out = g_strdup(def);
    return raw ? g_strstrip(raw) : g_strdup(def);
}

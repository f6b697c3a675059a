/* oz-neuron-registry.c — the registered neuron models, and the core's side of the ops table:
 * checks, lookup, parameter handling.
 *
 * Adding a model is its file plus its name in the list of neurons/meson.build, which
 * compiles the file and registers it (docs/EXTENDING.md).  The table is checked
 * once at program start (a constructor): a duplicate name, an ops table of another
 * api_version, a missing required slot or a default that does not parse aborts with a
 * message, so a broken model never runs.
 */
#include "neurons/oz-neuron.h"

#include <string.h>

/* OZ_NEURON_MODELS(X): one X(name) per model, from the list in neurons/meson.build; the
 * model's file defines `const OzNeuronOps oz_neuron_model_NAME`. */
#include "oz-neuron-models.h"

#define DECLARE(m) extern const OzNeuronOps oz_neuron_model_##m;
OZ_NEURON_MODELS(DECLARE)
#undef DECLARE
#define ENTRY(m) &oz_neuron_model_##m,
static const OzNeuronOps *const registry[] = {OZ_NEURON_MODELS(ENTRY) NULL};
#undef ENTRY

static gboolean check_specs(const OzNeuronOps *ops, const OzParamSpec *specs, gsize size,
                            char **why) {
    for (int i = 0; specs && specs[i].key; i++) {
        const OzParamSpec *s = &specs[i];
        if (!s->def || !s->help || (s->type == OZ_PARAM_ENUM && !s->choices)) {
            *why = g_strdup_printf("model %s: key %s needs a default, a help text and (enum) "
                                   "choices",
                                   ops->name, s->key);
            return FALSE;
        }
        if (size && s->offset >= size) {
            *why = g_strdup_printf("model %s: key %s lies outside its parameter struct", ops->name,
                                   s->key);
            return FALSE;
        }
        /* The default must parse: into scratch space large enough for any field. */
        g_autofree gpointer scratch = g_malloc0(MAX(size, s->offset + sizeof(double)));
        g_autofree char *err = NULL;
        if (!oz_param_parse(s, s->def, scratch, &err)) {
            *why = g_strdup_printf("model %s: key %s: bad default '%s': %s", ops->name, s->key,
                                   s->def, err);
            return FALSE;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(specs[j].key, s->key) == 0) {
                *why = g_strdup_printf("model %s: key %s is listed twice", ops->name, s->key);
                return FALSE;
            }
    }
    return TRUE;
}

gboolean oz_neuron_ops_check(const OzNeuronOps *ops, char **why) {
    g_return_val_if_fail(ops && why, FALSE);
    *why = NULL;
    if (ops->api_version != OZ_NEURON_API_VERSION) {
        *why =
            g_strdup_printf("model %s: api_version %d, the core speaks %d",
                            ops->name ? ops->name : "?", ops->api_version, OZ_NEURON_API_VERSION);
        return FALSE;
    }
    if (!ops->name || !*ops->name || !ops->help || !ops->step || !ops->emits) {
        *why = g_strdup_printf("model %s: name, help, step and emits are required",
                               ops->name ? ops->name : "?");
        return FALSE;
    }
    if ((ops->caps & OZ_NEURON_TRACE_OF_SPIKES) && (!ops->clean_spikes || !ops->trace_decay)) {
        *why = g_strdup_printf("model %s: a trace of its spikes needs clean_spikes and "
                               "trace_decay",
                               ops->name);
        return FALSE;
    }
    if ((ops->caps & OZ_NEURON_SPIKE_SOURCE) && !(ops->caps & OZ_NEURON_SOURCE)) {
        *why = g_strdup_printf("model %s: a spike source is a source (OZ_NEURON_SOURCE)",
                               ops->name);
        return FALSE;
    }
    if (ops->params && !ops->params_size) {
        *why = g_strdup_printf("model %s: keys in its own struct need params_size", ops->name);
        return FALSE;
    }
    if (!check_specs(ops, ops->common_params, sizeof(OzPopulationParams), why) ||
        !check_specs(ops, ops->params, ops->params_size, why))
        return FALSE;
    for (int i = 0; ops->params && ops->params[i].key; i++)
        if (oz_param_find(ops->common_params, ops->params[i].key)) {
            *why = g_strdup_printf("model %s: key %s is in both of its tables", ops->name,
                                   ops->params[i].key);
            return FALSE;
        }
    return TRUE;
}

/* At program start: every model well-formed, no name twice. */
__attribute__((constructor)) static void check_registry(void) {
    for (int i = 0; registry[i]; i++) {
        g_autofree char *why = NULL;
        if (!oz_neuron_ops_check(registry[i], &why))
            g_error("neuron model registry: %s", why);
        for (int j = 0; j < i; j++)
            if (strcmp(registry[i]->name, registry[j]->name) == 0)
                g_error("neuron model registry: the name %s is registered twice",
                        registry[i]->name);
    }
}

const OzNeuronOps *oz_neuron_lookup(const char *name) {
    for (int i = 0; name && registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const OzNeuronOps *const *oz_neuron_models(void) {
    return registry;
}

char *oz_neuron_names(void) {
    GString *s = g_string_new(NULL);
    for (int i = 0; registry[i]; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", registry[i]->name);
    return g_string_free(s, FALSE);
}

const OzParamSpec *oz_neuron_param(const OzNeuronOps *ops, const char *key, gboolean *common) {
    const OzParamSpec *s = oz_param_find(ops->common_params, key);
    if (common)
        *common = s != NULL;
    return s ? s : oz_param_find(ops->params, key);
}

gboolean oz_neuron_configure(const OzNeuronOps *ops, const char *const *keys,
                             const char *const *values, OzPopulationParams *params, gpointer priv,
                             const char **bad_key, GError **error) {
    g_return_val_if_fail(ops && params, FALSE);
    g_return_val_if_fail(!ops->params_size || priv, FALSE);
    if (bad_key)
        *bad_key = NULL;
    OzPopulationParams common = *params;
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    oz_param_defaults(ops->params, own);
    /* Given as keys, the parameters are the model's defaults and the keys; without keys the
     * typed fields stand as given (populations built by hand, as in the tests). */
    if (keys)
        oz_param_defaults(ops->common_params, &common);
    for (int i = 0; keys && keys[i]; i++) {
        gboolean in_common = FALSE;
        const OzParamSpec *s = oz_neuron_param(ops, keys[i], &in_common);
        g_autofree char *why = NULL;
        if (!s)
            why = g_strdup_printf("model %s has no key %s", ops->name, keys[i]);
        else if (!values || !values[i])
            why = g_strdup("no value");
        else
            oz_param_parse(s, values[i], in_common ? (gpointer)&common : own, &why);
        if (why) {
            if (bad_key)
                *bad_key = keys[i];
            g_set_error_literal(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID, why);
            return FALSE;
        }
    }
    if (ops->configure && !ops->configure(&common, own, bad_key, error))
        return FALSE;
    /* Commit. */
    common.keys = params->keys;
    common.values = params->values;
    *params = common;
    if (ops->params_size)
        memcpy(priv, own, ops->params_size);
    return TRUE;
}

int oz_neuron_ctl(OzPopulation *pop, int op, gpointer arg) {
    return pop->ops->ctl ? pop->ops->ctl(pop, op, arg) : OZ_CTL_UNKNOWN;
}

/* A state tensor's name becomes part of the checkpoint name state:POP.NAME: plain, so the
 * name reads back unambiguously (no '.' or ':'), and short. */
static gboolean state_name_ok(const char *name) {
    gsize len = name ? strlen(name) : 0;
    if (len == 0 || len > 40)
        return FALSE;
    for (const char *c = name; *c; c++)
        if (!g_ascii_isalnum(*c) && *c != '_')
            return FALSE;
    return TRUE;
}

int oz_neuron_state_tensors(OzPopulation *pop, OzNeuronTensor *out, int max) {
    if (!pop->ops->state_tensors)
        return 0;
    int n = pop->ops->state_tensors(pop, out, max);
    if (n < 0 || n > max)
        g_error("model %s: state_tensors returned %d entries for room for %d", pop->ops->name, n,
                max);
    for (int k = 0; k < n; k++) {
        if (!state_name_ok(out[k].name))
            g_error("model %s: state tensor %d is named '%s' (1-40 letters, digits or '_')",
                    pop->ops->name, k, out[k].name ? out[k].name : "(null)");
        if (out[k].count > 0 && !out[k].data)
            g_error("model %s: state tensor %s has %zu values and no data", pop->ops->name,
                    out[k].name, (size_t)out[k].count);
        for (int j = 0; j < k; j++)
            if (strcmp(out[j].name, out[k].name) == 0)
                g_error("model %s: state tensor %s is listed twice", pop->ops->name, out[k].name);
    }
    return n;
}

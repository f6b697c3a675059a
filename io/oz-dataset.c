/* oz-dataset.c — the data-set registry and the core's side of the ops table (oz-dataset.h):
 * checks, lookup, keys, loading, and what several data sets share (the spike fill, reading
 * and binning a list of recordings).
 *
 * Adding a data set is its file plus an entry in the `datasets` list of io/meson.build
 * (docs/EXTENDING.md, "Adding a data set").  The tables are checked once at program start (a
 * constructor): a duplicate name, another api_version, a missing required slot or a default
 * that does not parse aborts with a message.
 *
 * Deliberately not here: anything one data set does (its file), choosing samples (the run).
 */
#include "io/oz-dataset.h"

#include <string.h>

/* OZ_DATASETS(X): one X(ident) per data set, from the list in io/meson.build; a data set's
 * file defines `const OzDatasetOps oz_dataset_IDENT` (its name with '-' as '_'). */
#include "oz-dataset-list.h"

#define DECLARE(d) extern const OzDatasetOps oz_dataset_##d;
OZ_DATASETS(DECLARE)
#undef DECLARE
#define ENTRY(d) &oz_dataset_##d,
static const OzDatasetOps *const registry[] = {OZ_DATASETS(ENTRY) NULL};
#undef ENTRY

gboolean oz_dataset_ops_check(const OzDatasetOps *ops, char **why) {
    g_return_val_if_fail(ops && why, FALSE);
    *why = NULL;
    const char *name = ops->name ? ops->name : "?";
    if (ops->api_version != OZ_DATASET_API_VERSION) {
        *why = g_strdup_printf("data set %s: api_version %d, the core speaks %d", name,
                               ops->api_version, OZ_DATASET_API_VERSION);
        return FALSE;
    }
    if (!ops->name || !*ops->name || !ops->help || !ops->load || !ops->fill ||
        ops->kind >= OZ_SAMPLE_KIND_COUNT) {
        *why = g_strdup_printf("data set %s: name, help, kind, load and fill are required", name);
        return FALSE;
    }
    if (ops->params && !ops->params_size) {
        *why = g_strdup_printf("data set %s: keys need params_size", name);
        return FALSE;
    }
    for (int i = 0; ops->params && ops->params[i].key; i++) {
        const OzParamSpec *s = &ops->params[i];
        if (!s->def || !s->help || (s->type == OZ_PARAM_ENUM && !s->choices) ||
            s->offset >= ops->params_size) {
            *why = g_strdup_printf("data set %s: key %s needs a default, a help text, (enum) "
                                   "choices and a field inside its struct",
                                   name, s->key);
            return FALSE;
        }
        g_autofree gpointer scratch = g_malloc0(ops->params_size);
        g_autofree char *err = NULL;
        gboolean ok = oz_param_parse(s, s->def, scratch, &err);
        oz_param_clear(ops->params, scratch);
        if (!ok) {
            *why = g_strdup_printf("data set %s: key %s: bad default '%s': %s", name, s->key,
                                   s->def, err);
            return FALSE;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(ops->params[j].key, s->key) == 0) {
                *why = g_strdup_printf("data set %s: key %s is listed twice", name, s->key);
                return FALSE;
            }
    }
    return TRUE;
}

/* At program start: every data set well-formed, no name twice. */
__attribute__((constructor)) static void check_registry(void) {
    for (int i = 0; registry[i]; i++) {
        g_autofree char *why = NULL;
        if (!oz_dataset_ops_check(registry[i], &why))
            g_error("data-set registry: %s", why);
        for (int j = 0; j < i; j++)
            if (strcmp(registry[i]->name, registry[j]->name) == 0)
                g_error("data-set registry: the name %s is registered twice", registry[i]->name);
    }
}

const OzDatasetOps *oz_dataset_lookup(const char *name) {
    for (int i = 0; name && registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const OzDatasetOps *const *oz_datasets(void) {
    return registry;
}

gpointer oz_dataset_params_new(const OzDatasetOps *ops, const char *const *keys,
                               const char *const *values, const char **bad_key, GError **error) {
    gpointer p = g_malloc0(MAX(ops->params_size, 1));
    oz_param_defaults(ops->params, p);
    if (bad_key)
        *bad_key = NULL;
    for (int i = 0; keys && keys[i]; i++) {
        const OzParamSpec *s = oz_param_find(ops->params, keys[i]);
        g_autofree char *why = NULL;
        if (!s)
            why = g_strdup_printf("data set %s has no key %s", ops->name, keys[i]);
        else if (!values || !values[i])
            why = g_strdup("no value");
        else
            oz_param_parse(s, values[i], p, &why);
        if (why) {
            if (bad_key)
                *bad_key = keys[i];
            g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, why);
            oz_dataset_params_free(ops, p);
            return NULL;
        }
    }
    return p;
}

void oz_dataset_params_free(const OzDatasetOps *ops, gpointer params) {
    if (!params)
        return;
    oz_param_clear(ops->params, params);
    g_free(params);
}

gboolean oz_dataset_load(const OzDatasetOps *ops, const char *const *keys,
                         const char *const *values, const OzDatasetRequest *req, OzDataset *out,
                         GError **error) {
    memset(out, 0, sizeof *out);
    gpointer params = oz_dataset_params_new(ops, keys, values, NULL, error);
    if (!params)
        return FALSE;
    out->ops = ops;
    out->params = params;
    out->kind = ops->kind;
    if (!ops->load(params, req, out, error)) {
        oz_dataset_clear(out);
        return FALSE;
    }
    g_assert(out->kind == ops->kind && out->labels && out->rank >= 1 && out->rank <= 3);
    return TRUE;
}

void oz_dataset_clear(OzDataset *set) {
    if (set->ops)
        oz_dataset_params_free(set->ops, set->params);
    oz_image_set_clear(&set->images);
    oz_spike_set_clear(&set->spikes);
    g_free(set->source);
    memset(set, 0, sizeof *set);
}

gsize oz_dataset_bytes(const OzDataset *set) {
    if (set->kind == OZ_SAMPLE_SPIKES)
        return oz_spike_set_bytes(&set->spikes);
    return (gsize)set->images.n * ((gsize)set->images.features + 1);
}

void oz_dataset_fill_spikes(const OzDataset *set, const int *samples, int active,
                            OzPopulation *pop) {
    const OzSpikeSet *ss = &set->spikes;
    const gsize stride = (gsize)ss->ticks + 1;
    for (int b = 0; b < pop->batch; b++) {
        if (b >= active) {
            pop->spike_in[b] = (OzSpikeSample){0};
            continue;
        }
        pop->spike_in[b] = (OzSpikeSample){.tick_off = ss->tick_off + (gsize)samples[b] * stride,
                                           .cell = ss->cell,
                                           .count = ss->count,
                                           .ticks = ss->ticks};
    }
}

gboolean oz_dataset_bin_files(const OzEventFileList *list, OzEventReader reader,
                              const OzBinning *binning, const char *what,
                              const OzDatasetRequest *req, OzDataset *out, GError **error) {
    OzSpikeSet *set = &out->spikes;
    for (gsize i = 0; i < list->n; i++) {
        OzEventStream s = {0};
        if (!reader(list->paths[i], &s, error))
            return FALSE;
        oz_spike_set_append(set, &s, binning, list->labels[i]);
        oz_event_stream_clear(&s);
        out->files++;
        if (req->progress && ((i + 1) % 1000 == 0 || i + 1 == list->n))
            req->progress(what, i + 1, list->n, req->progress_user);
    }
    oz_spike_set_trim(set);
    out->n = (int)set->n;
    out->labels = set->labels;
    out->rank = 3;
    out->shape[0] = set->channels;
    out->shape[1] = set->height;
    out->shape[2] = set->width;
    return TRUE;
}

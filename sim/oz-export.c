/* oz-export.c — `opzosim export`: a run's network and one epoch's weights as a NIR graph.
 *
 * The run's populations and projections are built again from the run log (their models,
 * kinds and keys as they ran, batch 1, no data) and the epoch's checkpoint is loaded into
 * them — under sWS the raw W and γ, from which the projection forms Ŵ as the run did.  Each
 * population's model and each projection's kind then write their own nodes through their
 * `nir` slots (neurons/oz-nir-map.h; the mapping is docs/INTEROP.md's): this file names no
 * model and no kind.  What it keeps is NIR's structure: the order of the nodes (the input,
 * the hidden populations, the readout, then the projections), a Delay node before a delayed
 * projection's nodes, the link a kind gets (the source's output scale, and whether to fold
 * the input normalisation x = (p/255 − mean)/std into it: a current-encoded input of a
 * normalised run), where biases land (oz_nir_export_place_biases) and the graph's metadata
 * (encoding, T, dt, the normalisation, what to feed — the source model's words when it gives
 * them —, the decision rule).
 */
#include "sim/oz-export.h"

#include "io/oz-nir.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-neuron.h"
#include "neurons/oz-projection.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sqlite3 *db;
    gint64 run;
    int epoch;
    double dt;
    gint64 seed; /* the run's seed: a kind that draws its structure (sparse) draws it again */
    GKeyFile *kf;
    GPtrArray *pops;  /* of OzPopulation*, owned, in the run log's order */
    GPtrArray *projs; /* of OzProjection*, owned */
    GHashTable *text; /* "OWNER\nKEY" → value: the run's parameters table */
    OzPopulation *input, *readout;
} Ex;

static gboolean fail(GError **error, OzNirError code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(GError **error, OzNirError code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, OZ_NIR_ERROR, code, msg);
    return FALSE;
}

static OzPopulation *find_pop(Ex *ex, const char *name) {
    for (guint i = 0; i < ex->pops->len; i++) {
        OzPopulation *p = g_ptr_array_index(ex->pops, i);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

/* The run's parameters table, every row (none for a log older than the table). */
static void read_parameters(Ex *ex) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT owner, key, value FROM parameters WHERE run_id = ? ORDER BY "
                           "rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex->run);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *o = (const char *)sqlite3_column_text(st, 0);
            const char *k = (const char *)sqlite3_column_text(st, 1);
            const char *v = (const char *)sqlite3_column_text(st, 2);
            if (o && k && v)
                g_hash_table_replace(ex->text, g_strdup_printf("%s\n%s", o, k), g_strdup(v));
        }
    }
    sqlite3_finalize(st);
}

/* The keys of owner the table `specs` knows, as parallel NULL-terminated arrays
 * (transfer container: the strings are the table's). */
typedef gboolean (*KeyFilter)(gconstpointer ops, const char *key);

static void owner_keys(Ex *ex, const char *owner, KeyFilter known, gconstpointer ops,
                       GPtrArray *keys, GPtrArray *values) {
    g_autofree char *prefix = g_strdup_printf("%s\n", owner);
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, ex->text);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (g_str_has_prefix(k, prefix) && known(ops, (const char *)k + strlen(prefix))) {
            g_ptr_array_add(keys, (char *)k + strlen(prefix));
            g_ptr_array_add(values, v);
        }
    g_ptr_array_add(keys, NULL);
    g_ptr_array_add(values, NULL);
}

static gboolean model_key(gconstpointer ops, const char *key) {
    gboolean common = FALSE;
    return oz_neuron_param(ops, key, &common) != NULL;
}

static gboolean kind_key(gconstpointer ops, const char *key) {
    const OzProjectionKindOps *kind = ops;
    return kind->params && oz_param_find(kind->params, key) != NULL;
}

/* A key of the run's scenario text, or def.  (transfer full) */
static char *scenario_value(Ex *ex, const char *group, const char *key, const char *def) {
    char *v = g_key_file_get_value(ex->kf, group, key, NULL);
    if (v)
        g_strstrip(v);
    return v ? v : g_strdup(def);
}

/* A float32 tensor of the checkpoint (little-endian bytes), or NULL with *n = 0. */
static float *tensor(Ex *ex, const char *name, gsize *n) {
    sqlite3_stmt *st = NULL;
    float *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT data, dtype FROM checkpoints WHERE run_id = ? AND epoch = ? "
                           "AND name = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex->run);
        sqlite3_bind_int(st, 2, ex->epoch);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const guint8 *b = sqlite3_column_blob(st, 0);
            gsize len = (gsize)sqlite3_column_bytes(st, 0);
            const char *dtype = (const char *)sqlite3_column_text(st, 1);
            if (b && (!dtype || strcmp(dtype, "float32") == 0) && len % 4 == 0) {
                *n = len / 4;
                out = g_new(float, MAX(*n, 1));
                for (gsize i = 0; i < *n; i++) {
                    guint32 u = (guint32)b[4 * i] | (guint32)b[4 * i + 1] << 8 |
                                (guint32)b[4 * i + 2] << 16 | (guint32)b[4 * i + 3] << 24;
                    memcpy(&out[i], &u, 4);
                }
            }
        }
    }
    sqlite3_finalize(st);
    return out;
}

/* The checkpoint's tensor name into dst (n floats), or an error naming it. */
static gboolean load(Ex *ex, const char *name, float *dst, gsize n, GError **error) {
    gsize got = 0;
    g_autofree float *v = tensor(ex, name, &got);
    if (!v || got != n)
        return fail(error, OZ_NIR_ERROR_FORMAT,
                    "run %" G_GINT64_FORMAT " epoch %d: no float32 tensor %s of %zu values in "
                    "the checkpoint",
                    ex->run, ex->epoch, name, n);
    memcpy(dst, v, n * sizeof(float));
    return TRUE;
}

/* One population of the run, built from its row and its logged keys, with its bias. */
static gboolean add_population(Ex *ex, const char *name, const char *model, int size,
                               const char *shape, GError **error) {
    const OzNeuronOps *ops = oz_neuron_lookup(model);
    if (!ops)
        return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                    "population %s: model %s is not a model of this build", name, model);
    if (!ops->nir || !ops->nir->export_node)
        return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                    "population %s: model %s has no NIR node (it is not exportable; "
                    "docs/INTEROP.md lists the models that are)",
                    name, model);
    g_autofree char *owner = g_strdup_printf("population %s", name);
    g_autoptr(GPtrArray) keys = g_ptr_array_new(), values = g_ptr_array_new();
    owner_keys(ex, owner, model_key, ops, keys, values);
    OzPopulationParams pp = {.model = model,
                             .size = size,
                             .keys = (const char *const *)keys->pdata,
                             .values = (const char *const *)values->pdata};
    g_auto(GStrv) parts = shape ? g_strsplit(shape, ",", -1) : NULL;
    if (parts && g_strv_length(parts) == 3) {
        pp.rank = 3;
        for (int d = 0; d < 3; d++)
            pp.shape[d] = atoi(parts[d]);
    }
    g_autoptr(GError) local = NULL;
    OzPopulation *pop = oz_population_new(name, &pp, 1, &local);
    if (!pop)
        return fail(error, OZ_NIR_ERROR_FORMAT, "population %s: %s", name, local->message);
    g_ptr_array_add(ex->pops, pop);
    if (oz_neuron_has(pop, OZ_NEURON_SOURCE))
        ex->input = pop;
    else if (oz_neuron_has(pop, OZ_NEURON_READOUT))
        ex->readout = pop;
    if (!oz_neuron_has(pop, OZ_NEURON_SOURCE) && pop->p.bias) {
        g_autofree char *tn = g_strconcat("b:", name, NULL);
        if (!load(ex, tn, pop->bias, (gsize)pop->n, error))
            return FALSE;
    }
    return TRUE;
}

/* One projection of the run: its kind and keys, its checkpointed weights. */
static gboolean add_projection(Ex *ex, const char *name, const char *from, const char *to,
                               int delay, GError **error) {
    g_autofree char *group = g_strdup_printf("projection %s", name);
    g_autofree char *kname = scenario_value(ex, group, "kind", "dense");
    const OzProjectionKindOps *kind = oz_projection_kind_lookup(kname);
    if (!kind)
        return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                    "projection %s: kind %s is not a kind of this build", name, kname);
    if (!kind->nir || !kind->nir->export_chain)
        return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                    "projection %s: kind %s has no NIR node (it is not exportable; "
                    "docs/INTEROP.md lists the kinds that are)",
                    name, kname);
    OzPopulation *pre = find_pop(ex, from), *post = find_pop(ex, to);
    if (!pre || !post)
        return fail(error, OZ_NIR_ERROR_FORMAT, "projection %s: no population %s", name,
                    pre ? to : from);
    g_autofree gpointer kp = kind->params_size ? g_malloc0(kind->params_size) : NULL;
    if (kp)
        oz_param_defaults(kind->params, kp);
    g_autoptr(GPtrArray) keys = g_ptr_array_new(), values = g_ptr_array_new();
    owner_keys(ex, group, kind_key, kind, keys, values);
    for (guint k = 0; kp && keys->pdata[k]; k++) {
        g_autofree char *why = NULL;
        if (!oz_param_parse(oz_param_find(kind->params, keys->pdata[k]), values->pdata[k], kp,
                            &why))
            return fail(error, OZ_NIR_ERROR_FORMAT, "projection %s: %s = %s: %s", name,
                        (char *)keys->pdata[k], (char *)values->pdata[k], why);
    }
    const char *bad = NULL;
    g_autoptr(GError) local = NULL;
    if (!oz_projection_configure(kind, kp, pre, post, &bad, &local))
        return fail(error, OZ_NIR_ERROR_FORMAT, "projection %s: %s: %s", name, bad ? bad : "",
                    local->message);
    g_autofree char *ws = scenario_value(ex, group, "weight_standardization", "false");
    OzProjectionParams pp = {
        .delay_ticks = delay,
        .kind = kind,
        .kind_params = kp,
        .seed = ex->seed,
        .weight_standardization = strcmp(ws, "true") == 0,
    };
    OzProjection *p = oz_projection_new(name, pre, post, &pp);
    g_ptr_array_add(ex->projs, p);
    /* Under sWS the checkpoint holds the raw W and γ; the projection forms Ŵ from them as
     * the run did (oz_projection_weights_changed), and Ŵ is what the kind exports. */
    g_autofree char *tn = g_strconcat("w:", name, NULL);
    if (!load(ex, tn, oz_projection_param(p), p->nw, error))
        return FALSE;
    if (p->ws) {
        g_autofree char *gn = g_strconcat("gamma:", name, NULL);
        if (!load(ex, gn, p->ws->gamma, p->ws->lay.units, error))
            return FALSE;
    }
    oz_projection_weights_changed(p);
    return TRUE;
}

static gboolean read_network(Ex *ex, GError **error) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT name, model, size, shape FROM populations WHERE run_id = ? "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(error, OZ_NIR_ERROR_FORMAT, "the run log has no populations table: %s",
                    sqlite3_errmsg(ex->db));
    sqlite3_bind_int64(st, 1, ex->run);
    gboolean ok = TRUE;
    while (ok && sqlite3_step(st) == SQLITE_ROW)
        ok = add_population(ex, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2),
                            (const char *)sqlite3_column_text(st, 3), error);
    sqlite3_finalize(st);
    if (!ok)
        return FALSE;
    if (!ex->input || !ex->readout)
        return fail(error, OZ_NIR_ERROR_FORMAT,
                    "run %" G_GINT64_FORMAT " has no input or no readout population", ex->run);
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT name, pre, post, delay_ticks FROM projections WHERE run_id = "
                           "? ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(error, OZ_NIR_ERROR_FORMAT, "the run log has no projections table: %s",
                    sqlite3_errmsg(ex->db));
    sqlite3_bind_int64(st, 1, ex->run);
    while (ok && sqlite3_step(st) == SQLITE_ROW)
        ok = add_projection(
            ex, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
            (const char *)sqlite3_column_text(st, 2), sqlite3_column_int(st, 3), error);
    sqlite3_finalize(st);
    return ok;
}

/* ---- Building the graph ---- */

/* Whether the normalisation is folded into projections out of the input. */
static gboolean folds(Ex *ex, const OzNirExport *nx, double *mean, double *std) {
    g_autofree char *norm = scenario_value(ex, "data", "normalize", "true");
    g_autofree char *m = scenario_value(ex, "data", "mean", "0.1307");
    g_autofree char *s = scenario_value(ex, "data", "std", "0.3081");
    *mean = g_ascii_strtod(m, NULL);
    *std = g_ascii_strtod(s, NULL);
    return nx->feeds_values && g_strcmp0(norm, "true") == 0;
}

static gboolean export_population(OzNirExport *nx, OzPopulation *p, GError **error) {
    char *name = p->ops->nir->export_node(nx, p, error);
    if (!name)
        return FALSE;
    g_hash_table_insert(nx->node_names, p, name);
    return TRUE;
}

static gboolean export_projection(Ex *ex, OzNirExport *nx, OzProjection *p, GError **error) {
    g_autofree char *prev = g_strdup(oz_nir_export_node(nx, p->pre));
    if (p->p.delay_ticks > 0) {
        g_autofree char *dn = g_strconcat(p->name, "_delay", NULL);
        OzNirNode *d = oz_nir_node_add(nx->graph, dn, "Delay");
        oz_nir_per_neuron(d->fields, "delay", p->pre, p->p.delay_ticks * ex->dt);
        oz_nir_edge_add(nx->graph, prev, dn);
        g_free(prev);
        prev = g_strdup(dn);
    }
    const OzNeuronNir *src = p->pre->ops->nir;
    OzNirLink link = {
        .from = prev,
        .to = oz_nir_export_node(nx, p->post),
        .scale = src->export_scale ? src->export_scale(p->pre) : 1.0,
        .mean = 0,
        .std = 1,
    };
    link.fold = p->pre == ex->input && folds(ex, nx, &link.mean, &link.std);
    return p->kind->nir->export_chain(nx, p, &link, error);
}

static gboolean build(Ex *ex, OzNirGraph *g, char **soft, GError **error) {
    g_autoptr(GString) softs = g_string_new(NULL);
    g_autoptr(GHashTable) bias = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    g_autoptr(GHashTable) names =
        g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    g_autoptr(GPtrArray) slots = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *ticks = scenario_value(ex, "run", "ticks", "6");
    OzNirExport nx = {.graph = g,
                      .dt = ex->dt,
                      .soft = softs,
                      .bias = bias,
                      .slots = slots,
                      .node_names = names,
                      .text = ex->text,
                      .ticks = atoi(ticks)};
    /* Every population's NIR bias starts as its bias b; kinds add folded offsets. */
    for (guint i = 0; i < ex->pops->len; i++) {
        OzPopulation *p = g_ptr_array_index(ex->pops, i);
        double *b = oz_nir_export_bias(&nx, p);
        for (int k = 0; p != ex->input && p->p.bias && k < p->n; k++)
            b[k] = p->bias[k];
    }
    /* Nodes in the order: the input, the hidden populations, the readout, the projections. */
    if (!export_population(&nx, ex->input, error))
        return FALSE;
    for (guint i = 0; i < ex->pops->len; i++) {
        OzPopulation *p = g_ptr_array_index(ex->pops, i);
        if (p != ex->input && p != ex->readout && !export_population(&nx, p, error))
            return FALSE;
    }
    if (!export_population(&nx, ex->readout, error))
        return FALSE;
    for (guint i = 0; i < ex->projs->len; i++)
        if (!export_projection(ex, &nx, g_ptr_array_index(ex->projs, i), error))
            return FALSE;
    if (!oz_nir_export_place_biases(&nx, ex->pops, error))
        return FALSE;
    /* What NIR has no field for. */
    double mean = 0, std = 1;
    gboolean fold = folds(ex, &nx, &mean, &std);
    GPtrArray *m = g->meta;
    oz_nir_field_string(m, "opzosim_version", OZ_VERSION);
    oz_nir_field_string(m, "opzosim_input", ex->input->name);
    oz_nir_field_string(m, "opzosim_readout", ex->readout->name);
    oz_nir_field_string(m, "opzosim_encoding", nx.encoding ? nx.encoding : "current");
    oz_nir_field_scalar(m, "opzosim_T", OZ_NIR_I64, nx.ticks);
    oz_nir_field_scalar(m, "opzosim_dt", OZ_NIR_F64, ex->dt);
    oz_nir_field_string(m, "opzosim_input_scale",
                        nx.feed ? nx.feed
                        : fold  ? "feed x = pixel/255; the normalisation is folded into the "
                                  "first layer"
                                : "feed x = pixel/255 (no normalisation)");
    oz_nir_field_scalar(m, "opzosim_normalize", OZ_NIR_I64, fold ? 1 : 0);
    oz_nir_field_scalar(m, "opzosim_mean", OZ_NIR_F64, mean);
    oz_nir_field_scalar(m, "opzosim_std", OZ_NIR_F64, std);
    oz_nir_field_string(m, "opzosim_decision",
                        "argmax over classes of sum_t o[t], o the Output, over the T ticks that "
                        "start when input first reaches it");
    oz_nir_field_string(m, "opzosim_threshold", "a neuron fires when u >= v_threshold");
    *soft = softs->len ? g_strdup(softs->str) : NULL;
    return TRUE;
}

gboolean oz_export_nir(sqlite3 *db, const OzExportOptions *opt, const char *out_path,
                       char **soft_reset, GError **error) {
    Ex ex = {.db = db, .run = opt->run_id, .epoch = opt->epoch, .dt = opt->dt_s};
    if (!(opt->dt_s > 0))
        return fail(error, OZ_NIR_ERROR_UNSUPPORTED, "--dt %g: expected a positive time step",
                    opt->dt_s);
    sqlite3_stmt *st = NULL;
    if (ex.run < 0 &&
        sqlite3_prepare_v2(db, "SELECT MAX(run_id) FROM checkpoints", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        ex.run = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (ex.run < 0)
        return fail(error, OZ_NIR_ERROR_FORMAT,
                    "the run log holds no checkpoint (only training runs write them)");
    if (ex.epoch < 0 &&
        sqlite3_prepare_v2(db, "SELECT MAX(epoch) FROM checkpoints WHERE run_id = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex.run);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            ex.epoch = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    g_autofree char *text = NULL;
    if (sqlite3_prepare_v2(db, "SELECT scenario, seed FROM runs WHERE id = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex.run);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            text = g_strdup((const char *)sqlite3_column_text(st, 0));
            ex.seed = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    if (!text || ex.epoch < 0)
        return fail(error, OZ_NIR_ERROR_FORMAT, "run %" G_GINT64_FORMAT " %s", ex.run,
                    text ? "has no checkpoint" : "is not in the run log");
    ex.kf = g_key_file_new();
    g_key_file_load_from_data(ex.kf, text, (gsize)-1, G_KEY_FILE_NONE, NULL);
    /* Projections first: they point into the populations. */
    ex.projs = g_ptr_array_new_with_free_func((GDestroyNotify)oz_projection_free);
    ex.pops = g_ptr_array_new_with_free_func((GDestroyNotify)oz_population_free);
    ex.text = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    read_parameters(&ex);
    g_autoptr(OzNirGraph) g = oz_nir_graph_new();
    g_autofree char *soft = NULL;
    gboolean ok =
        read_network(&ex, error) && build(&ex, g, &soft, error) && oz_nir_write(g, out_path, error);
    g_key_file_free(ex.kf);
    g_ptr_array_unref(ex.projs);
    g_ptr_array_unref(ex.pops);
    g_hash_table_unref(ex.text);
    if (ok && soft_reset)
        *soft_reset = g_steal_pointer(&soft);
    return ok;
}

int oz_cmd_export(int argc, char **argv) {
    gint64 run_id = -1;
    int epoch = -1;
    g_autofree char *format = NULL, *out = NULL;
    double dt = 1e-4;
    GOptionEntry entries[] = {
        {"run", 0, 0, G_OPTION_ARG_INT64, &run_id, "Run id (default: the newest with a checkpoint)",
         "ID"},
        {"epoch", 'e', 0, G_OPTION_ARG_INT, &epoch, "Epoch (default: the newest checkpoint)", "N"},
        {"format", 'f', 0, G_OPTION_ARG_STRING, &format, "Output format: nir", "FORMAT"},
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output file (required)", "FILE"},
        {"dt", 0, 0, G_OPTION_ARG_DOUBLE, &dt,
         "Seconds per tick for the LIF mapping tau = dt/(1 - lambda) (default 1e-4)", "S"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("DB - write a run's trained network as a NIR graph (HDF5)");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 || !out) {
        fprintf(stderr, "opzosim export: %s\n",
                error ? error->message
                      : "usage: opzosim export DB [--run ID] [--epoch N] --format nir --out "
                        "FILE.nir [--dt S]");
        return 2;
    }
    if (g_strcmp0(format ? format : "nir", "nir") != 0) {
        fprintf(stderr, "opzosim export: --format %s: the one format is nir\n", format);
        return 2;
    }
    const char *db_path = argv[1];
    sqlite3 *db = NULL;
    if (!g_file_test(db_path, G_FILE_TEST_IS_REGULAR) ||
        sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "opzosim: error: cannot open run log %s\n", db_path);
        sqlite3_close(db);
        return 2;
    }
    sqlite3_busy_timeout(db, 5000);
    OzExportOptions opt = {run_id, epoch, dt};
    g_autofree char *soft = NULL;
    gboolean ok = oz_export_nir(db, &opt, out, &soft, &error);
    sqlite3_close(db);
    if (!ok) {
        fprintf(stderr, "opzosim: error: %s: %s\n", db_path, error->message);
        return error->code == OZ_NIR_ERROR_WRITE ? 1 : 2;
    }
    if (soft)
        fprintf(stderr,
                "opzosim: warning: populations %s use the soft (subtract) reset, which NIR "
                "cannot express: their nodes carry v_reset = 0 and opzosim_reset = soft in "
                "their metadata; a tool that ignores it runs a hard reset (set [population] "
                "reset = hard and train again to lose nothing)\n",
                soft);
    printf("wrote %s\n", out);
    return 0;
}

/* oz-nir-graph.c — a NIR graph in memory, and the readers of a node's fields (see
 * oz-nir-graph.h).  No HDF5 here: io/oz-nir.c reads and writes the file.
 */
#include "neurons/oz-nir-graph.h"

#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as minus
 * signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-nir-error-quark, oz_nir_error)
// clang-format on

void oz_nir_field_free(OzNirField *f) {
    if (!f)
        return;
    g_free(f->name);
    g_free(f->v);
    g_strfreev(f->s);
    g_free(f);
}

void oz_nir_node_free(OzNirNode *n) {
    if (!n)
        return;
    g_free(n->name);
    g_free(n->type);
    g_ptr_array_unref(n->fields);
    g_ptr_array_unref(n->meta);
    oz_nir_graph_free(n->sub);
    g_free(n);
}

OzNirGraph *oz_nir_graph_new(void) {
    OzNirGraph *g = g_new0(OzNirGraph, 1);
    g->nodes = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_node_free);
    g->edges = g_ptr_array_new_with_free_func(g_free);
    g->meta = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_field_free);
    return g;
}

void oz_nir_graph_free(OzNirGraph *g) {
    if (!g)
        return;
    g_ptr_array_unref(g->nodes);
    g_ptr_array_unref(g->edges);
    g_ptr_array_unref(g->meta);
    g_free(g);
}

OzNirNode *oz_nir_node_add(OzNirGraph *g, const char *name, const char *type) {
    OzNirNode *n = g_new0(OzNirNode, 1);
    n->name = g_strdup(name);
    n->type = g_strdup(type);
    n->fields = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_field_free);
    n->meta = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_field_free);
    g_ptr_array_add(g->nodes, n);
    return n;
}

OzNirNode *oz_nir_node_find(const OzNirGraph *g, const char *name) {
    for (guint i = 0; i < g->nodes->len; i++) {
        OzNirNode *n = g_ptr_array_index(g->nodes, i);
        if (strcmp(n->name, name) == 0)
            return n;
    }
    return NULL;
}

void oz_nir_edge_add(OzNirGraph *g, const char *source, const char *target) {
    g_ptr_array_add(g->edges, g_strdup(source));
    g_ptr_array_add(g->edges, g_strdup(target));
}

OzNirField *oz_nir_field_add(GPtrArray *list, const char *name, OzNirDtype dtype, int rank,
                             const gsize *dims, const double *v) {
    g_return_val_if_fail(rank >= 0 && rank <= OZ_NIR_RANK_MAX, NULL);
    OzNirField *f = g_new0(OzNirField, 1);
    f->name = g_strdup(name);
    f->dtype = dtype;
    f->rank = rank;
    f->n = 1;
    for (int d = 0; d < rank; d++) {
        f->dims[d] = dims[d];
        f->n *= dims[d];
    }
    f->v = g_memdup2(v, MAX(f->n, 1) * sizeof(double));
    g_ptr_array_add(list, f);
    return f;
}

OzNirField *oz_nir_field_scalar(GPtrArray *list, const char *name, OzNirDtype dtype, double v) {
    return oz_nir_field_add(list, name, dtype, 0, NULL, &v);
}

OzNirField *oz_nir_field_string(GPtrArray *list, const char *name, const char *s) {
    OzNirField *f = g_new0(OzNirField, 1);
    f->name = g_strdup(name);
    f->dtype = OZ_NIR_STR;
    f->n = 1;
    f->s = g_new0(char *, 2);
    f->s[0] = g_strdup(s);
    g_ptr_array_add(list, f);
    return f;
}

const OzNirField *oz_nir_field_find(const GPtrArray *list, const char *name) {
    for (guint i = 0; list && i < list->len; i++) {
        const OzNirField *f = g_ptr_array_index((GPtrArray *)list, i);
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

/* ---- Reading the fields of a node ---- */

const OzNirField *oz_nir_need(const OzNirNode *n, const char *field, GError **error) {
    const OzNirField *f = oz_nir_field_find(n->fields, field);
    if (!f || !f->v) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "node '%s' (%s) has no numeric field '%s'", n->name, n->type, field);
        return NULL;
    }
    return f;
}

gboolean oz_nir_uniform(const OzNirNode *n, const OzNirField *f, double *out, GError **error) {
    for (gsize i = 1; i < f->n; i++)
        if (f->v[i] != f->v[0]) {
            g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (%s): '%s' differs between neurons (%g and %g); an opzosim "
                        "population has one value",
                        n->name, n->type, f->name, f->v[0], f->v[i]);
            return FALSE;
        }
    *out = f->v[0];
    return TRUE;
}

double oz_nir_meta_number(const OzNirNode *n, const char *key, double def) {
    const OzNirField *f = n ? oz_nir_field_find(n->meta, key) : NULL;
    return f && f->v && f->n >= 1 ? f->v[0] : def;
}

const char *oz_nir_meta_text(const GPtrArray *meta, const char *key) {
    const OzNirField *f = oz_nir_field_find(meta, key);
    return f && f->s && f->n >= 1 ? f->s[0] : NULL;
}

void oz_nir_pair(const OzNirNode *n, const char *field, int def, int out[2]) {
    const OzNirField *f = oz_nir_field_find(n->fields, field);
    out[0] = out[1] = def;
    if (f && f->v && f->n >= 1) {
        out[0] = (int)f->v[0];
        out[1] = (int)f->v[f->n >= 2 ? 1 : 0];
    }
}

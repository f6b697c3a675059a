/* oz-nir-map.c — the helpers the NIR mappings of models and kinds share, and the placing
 * of biases (see oz-nir-map.h).
 */
#include "neurons/oz-nir-map.h"

#include "neurons/oz-neuron.h"

#include <string.h>

typedef struct {
    const OzPopulation *post;
    OzNirNode *node;
    int groups;
} BiasSlot;

double *oz_nir_export_bias(OzNirExport *ex, const OzPopulation *pop) {
    double *b = g_hash_table_lookup(ex->bias, pop);
    if (!b) {
        b = g_new0(double, MAX(pop->n, 1));
        g_hash_table_insert(ex->bias, (gpointer)pop, b);
    }
    return b;
}

double oz_nir_export_number(const OzNirExport *ex, const OzPopulation *pop, const char *key,
                            double fallback) {
    g_autofree char *k = g_strdup_printf("population %s\n%s", pop->name, key);
    const char *v = ex->text ? g_hash_table_lookup(ex->text, k) : NULL;
    return v ? g_ascii_strtod(v, NULL) : fallback;
}

const char *oz_nir_export_node(const OzNirExport *ex, const OzPopulation *pop) {
    return g_hash_table_lookup(ex->node_names, pop);
}

void oz_nir_export_bias_slot(OzNirExport *ex, const OzPopulation *post, OzNirNode *node,
                             int groups) {
    BiasSlot *s = g_new(BiasSlot, 1);
    *s = (BiasSlot){post, node, groups};
    g_ptr_array_add(ex->slots, s);
}

void oz_nir_export_soft(OzNirExport *ex, const OzPopulation *pop) {
    g_string_append_printf(ex->soft, "%s%s", ex->soft->len ? ", " : "", pop->name);
}

void oz_nir_per_neuron(GPtrArray *fields, const char *name, const OzPopulation *pop, double v) {
    g_autofree double *a = g_new(double, MAX(pop->n, 1));
    for (int i = 0; i < pop->n; i++)
        a[i] = v;
    gsize dims[OZ_SHAPE_MAX_RANK];
    for (int d = 0; d < pop->rank; d++)
        dims[d] = (gsize)pop->shape[d];
    oz_nir_field_add(fields, name, OZ_NIR_F64, pop->rank, dims, a);
}

void oz_nir_ints2(GPtrArray *fields, const char *name, int a, int b) {
    double v[2] = {a, b};
    gsize d = 2;
    oz_nir_field_add(fields, name, OZ_NIR_I64, 1, &d, v);
}

void oz_nir_exact_bias(GPtrArray *meta, const OzPopulation *pop) {
    if (!pop->p.bias || !pop->bias)
        return;
    g_autofree double *v = g_new(double, MAX(pop->n, 1));
    for (int i = 0; i < pop->n; i++)
        v[i] = pop->bias[i];
    gsize d = (gsize)pop->n;
    oz_nir_field_add(meta, "opzosim_bias", OZ_NIR_F32, 1, &d, v);
}

void oz_nir_import_shape(OzNirPopImport *im, const gsize *dims, int rank) {
    im->n = 1;
    for (int d = 0; d < rank; d++)
        im->n *= (int)dims[d];
    if (rank == 3 || rank == 2) {
        im->rank = 3;
        im->dims[0] = rank == 3 ? (int)dims[0] : 1;
        im->dims[1] = (int)dims[rank - 2];
        im->dims[2] = (int)dims[rank - 1];
    } else {
        im->rank = 1;
        im->dims[0] = im->n;
    }
    g_free(im->bias);
    im->bias = g_new0(float, MAX(im->n, 1));
}

static gboolean fill_slot(const BiasSlot *s, const double *b, int n, gboolean check) {
    OzNirField *f = (OzNirField *)oz_nir_field_find(s->node->fields, "bias");
    int per = n / MAX(s->groups, 1);
    if (!f || f->n < (gsize)s->groups || per * s->groups != n)
        return FALSE;
    for (int g = 0; check && g < s->groups; g++)
        for (int q = 1; q < per; q++)
            if (b[g * per + q] != b[g * per])
                return FALSE;
    for (int g = 0; g < s->groups; g++)
        f->v[g] = b[g * per];
    return TRUE;
}

gboolean oz_nir_export_place_biases(OzNirExport *ex, GPtrArray *pops, GError **error) {
    for (guint i = 0; i < pops->len; i++) {
        const OzPopulation *p = g_ptr_array_index(pops, i);
        if (oz_neuron_has(p, OZ_NEURON_SOURCE))
            continue;
        const double *b = oz_nir_export_bias(ex, p);
        gboolean any = FALSE;
        for (int k = 0; k < p->n; k++)
            any = any || b[k] != 0.0;
        if (!any)
            continue;
        /* A node that holds one bias per neuron (an Affine) takes it as it is; else the
         * neuron's own node (LIF's v_leak); else a node with one bias per group (a
         * Conv2d's per channel), when the bias is one value per group. */
        const BiasSlot *exact = NULL, *grouped = NULL;
        for (guint j = 0; j < ex->slots->len; j++) {
            const BiasSlot *s = g_ptr_array_index(ex->slots, j);
            if (s->post != p)
                continue;
            if (!exact && s->groups == p->n)
                exact = s;
            if (!grouped && s->groups < p->n)
                grouped = s;
        }
        if (exact && fill_slot(exact, b, p->n, FALSE))
            continue;
        OzNirNode *own = oz_nir_node_find(ex->graph, oz_nir_export_node(ex, p));
        const OzNeuronNir *nir = p->ops->nir;
        if (own && nir && nir->export_bias && nir->export_bias(p, own, b))
            continue;
        if (grouped && fill_slot(grouped, b, p->n, TRUE))
            continue;
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                    "population %s (%s): its bias (with any normalisation folded in) %s, and "
                    "its %s node has no field for a per-neuron bias",
                    p->name, p->ops->name,
                    grouped ? "differs within the groups of neurons that the bias of its "
                              "input node holds one value for (a Conv2d's channels)"
                            : "has no node to go on (no input node with a bias)",
                    own ? own->type : "NIR");
        return FALSE;
    }
    return TRUE;
}

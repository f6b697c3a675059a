/* oz-nir-map.c — the helpers the NIR mappings of models and kinds share, and the placing
 * of biases (see oz-nir-map.h).
 */
#include "neurons/oz-nir-map.h"

#include "neurons/oz-neuron.h"
#include "neurons/oz-projection.h"

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

const char *oz_nir_export_text(const OzNirExport *ex, const char *owner, const char *key) {
    g_autofree char *k = g_strdup_printf("%s\n%s", owner, key);
    return ex->text ? g_hash_table_lookup(ex->text, k) : NULL;
}

double oz_nir_export_number(const OzNirExport *ex, const OzPopulation *pop, const char *key,
                            double fallback) {
    g_autofree char *owner = g_strdup_printf("population %s", pop->name);
    const char *v = oz_nir_export_text(ex, owner, key);
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

gboolean oz_nir_import_input_shape(OzNirPopImport *im, GError **error) {
    const OzNirField *sh = oz_nir_need(im->node, "shape", error);
    if (!sh)
        return FALSE;
    gsize dims[OZ_NIR_RANK_MAX] = {0};
    int rank = (int)MIN(sh->n, (gsize)OZ_NIR_RANK_MAX);
    for (int d = 0; d < rank; d++)
        dims[d] = (gsize)sh->v[d];
    oz_nir_import_shape(im, dims, rank);
    return TRUE;
}

OzNirNode *oz_nir_export_input_node(OzNirExport *ex, const OzPopulation *pop) {
    OzNirNode *n = oz_nir_node_add(ex->graph, "input", "Input");
    double shp[OZ_SHAPE_MAX_RANK];
    for (int d = 0; d < pop->rank; d++)
        shp[d] = pop->shape[d];
    gsize rank = (gsize)pop->rank;
    oz_nir_field_add(n->fields, "shape", OZ_NIR_I64, 1, &rank, shp);
    return n;
}

/* [Flatten, from a shaped (C,H,W) population: opzosim's order is PyTorch's] → Affine
 * (n_post, n_pre) = (scale·W)ᵀ, folding x = (p/255 − mean)/std into weight/std and
 * −mean/std·ΣW into the target's bias; its bias field holds one value per neuron. */
void oz_nir_export_affine(OzNirExport *ex, const OzProjection *p, const OzNirLink *link,
                          const float *w_pre_post) {
    g_autofree char *prev = g_strdup(link->from);
    const OzPopulation *src = p->pre;
    if (src->rank == 3) {
        g_autofree char *fn = g_strconcat(p->name, "_flatten", NULL);
        OzNirNode *f = oz_nir_node_add(ex->graph, fn, "Flatten");
        oz_nir_field_scalar(f->fields, "start_dim", OZ_NIR_I64, 0);
        oz_nir_field_scalar(f->fields, "end_dim", OZ_NIR_I64, -1);
        double shp[3] = {src->shape[0], src->shape[1], src->shape[2]};
        gsize three = 3;
        oz_nir_field_add(f->fields, "input_type/input", OZ_NIR_I64, 1, &three, shp);
        oz_nir_edge_add(ex->graph, prev, fn);
        g_free(prev);
        prev = g_strdup(fn);
    }
    const int nin = p->n_pre, nout = p->n_post;
    const gboolean fold = link->fold;
    const double mean = link->mean, std = link->std;
    g_autofree double *w = g_new(double, (gsize)nin *nout);
    g_autofree double *off = g_new0(double, nout);
    g_autofree double *eff = g_new(double, (gsize)nin *nout);
    for (int i = 0; i < nin; i++)
        for (int o = 0; o < nout; o++) {
            double v = (double)w_pre_post[(gsize)i * nout + o] * link->scale;
            eff[(gsize)i * nout + o] = v;
            w[(gsize)o * nin + i] = fold ? v / std : v;
            off[o] -= fold ? v * mean / std : 0.0;
        }
    double *acc = oz_nir_export_bias(ex, p->post);
    for (int o = 0; o < nout; o++)
        acc[o] += off[o];
    OzNirNode *a = oz_nir_node_add(ex->graph, p->name, "Affine");
    gsize wd[2] = {(gsize)nout, (gsize)nin};
    oz_nir_field_add(a->fields, "weight", OZ_NIR_F32, 2, wd, w);
    /* The bias is filled when every offset is known (oz_nir_export_place_biases). */
    oz_nir_field_add(a->fields, "bias", OZ_NIR_F32, 1, wd, off);
    oz_nir_export_bias_slot(ex, p->post, a, nout);
    if (fold) {
        gsize od[2] = {(gsize)nin, (gsize)nout};
        oz_nir_field_add(a->meta, "opzosim_weight", OZ_NIR_F32, 2, od, eff);
        oz_nir_field_string(a->meta, "opzosim_folded",
                            "the input normalisation x = (p/255 - mean)/std is folded in: "
                            "weight/std, bias - mean/std * sum(weight)");
    }
    oz_nir_edge_add(ex->graph, prev, p->name);
    oz_nir_edge_add(ex->graph, p->name, link->to);
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

/* oz-nir-import.c — a NIR graph as opzosim populations, projections and their tensors.
 *
 * Nested graphs go first: a NIRGraph node's nodes join the graph under the names
 * "GRAPH.NODE", the edges into the nested graph go to what its Input leads to and the edges
 * out of it leave from what leads to its Output, and its Input and Output nodes disappear
 * (flatten).
 *
 * Node roles come from the registries, never from names: a node whose type a neuron model
 * claims (OzNeuronOps.nir->node_types) is a population — a source model's is the input,
 * the readout model's is Output; where several models claim a type (Input: the image input
 * and the spike input of event data) the one the scenario's [population NAME] model names
 * is taken, else the one the node's metadata names (opzosim_model), else the first that
 * does not wait to be named (OzNeuronNir.named_only); a node whose type a projection kind
 * claims is a weight node, or a node the kind takes directly before its weight node (a
 * pool); Delay and Flatten are NIR's structure, kept here.  Between two populations runs a
 * chain of linear nodes, each with one edge in and one out: Delays (a uniform delay, rounded
 * to ticks of dt), Flattens (opzosim populations are flat already: a C,H,W map is read in
 * PyTorch's flattening order), at most one node a kind takes before, and exactly one weight
 * node.
 * Each chain is one projection of the kind that claims its weight node.
 *
 * The model reads its node (its discrete-time form, docs/INTEROP.md): its keys, its input
 * gain (folded into the weights and biases of the projections into it, so that the
 * population runs u = λv + I + b of docs/ALGORITHM.md), its bias.  This project's metadata
 * (opzosim_bias) gives a population's bias exactly, and then the nodes' biases are not
 * added; [population] keys in the scenario (or --set) win over what the file gives.
 *
 * A chain from a population back onto itself (a recurrent Linear) becomes a projection with
 * a delay of at least one tick: it runs for inference; training such a network is refused.
 * A population straight into Output (no weights) is a spiking output layer: the readout
 * counts its spikes through an identity (a Linear node the importer makes).
 *
 * What is refused, each with the node named: a missing type, an edge naming a node the
 * graph lacks, node types nothing claims (listed together), branching chains, weights whose
 * shape does not fit the populations they join, and training a network whose output layer
 * spikes.
 */
#include "io/oz-nir.h"

#include "neurons/oz-kind.h"
#include "neurons/oz-neuron.h"

#include <math.h>
#include <string.h>

typedef enum { ROLE_NONE = -1, ROLE_INPUT, ROLE_NEURON, ROLE_OUTPUT, ROLE_LINEAR } Role;

/* NIR's own structural node types (not a plugin's). */
static const char *const nir_delay = "Delay";
static const char *const nir_flatten = "Flatten";
static const char *const nir_graph = "NIRGraph";
static const char *const nir_input = "Input";
static const char *const nir_output = "Output";

static gboolean in_list(const char *const *list, const char *type) {
    for (int i = 0; list && list[i]; i++)
        if (strcmp(list[i], type) == 0)
            return TRUE;
    return FALSE;
}

/* The model that claims NIR type `type`, or NULL. */
static const OzNeuronOps *model_of(const char *type) {
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++)
        if ((*m)->nir && (*m)->nir->import_node && in_list((*m)->nir->node_types, type))
            return *m;
    return NULL;
}

/* The kind that claims `type` as a weight node (pre FALSE) or as a node before one. */
static const OzProjectionKindOps *kind_of(const char *type, gboolean pre) {
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++)
        if ((*k)->nir && (*k)->nir->import_chain &&
            in_list(pre ? (*k)->nir->pre_types : (*k)->nir->node_types, type))
            return *k;
    return NULL;
}

static Role role_of(const OzNirNode *n) {
    const OzNeuronOps *m = model_of(n->type);
    if (m)
        return m->caps & OZ_NEURON_SOURCE    ? ROLE_INPUT
               : m->caps & OZ_NEURON_READOUT ? ROLE_OUTPUT
                                             : ROLE_NEURON;
    if (strcmp(n->type, nir_delay) == 0 || strcmp(n->type, nir_flatten) == 0 ||
        kind_of(n->type, FALSE) || kind_of(n->type, TRUE))
        return ROLE_LINEAR;
    return ROLE_NONE;
}

/* Every node type the import runs, for messages.  (transfer full) */
static char *known_types(void) {
    GString *s = g_string_new(NULL);
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++)
        for (int i = 0; (*m)->nir && (*m)->nir->node_types && (*m)->nir->node_types[i]; i++)
            g_string_append_printf(s, "%s%s", s->len ? ", " : "", (*m)->nir->node_types[i]);
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++)
        for (int pre = 0; pre < 2 && (*k)->nir; pre++) {
            const char *const *l = pre ? (*k)->nir->pre_types : (*k)->nir->node_types;
            for (int i = 0; l && l[i]; i++)
                g_string_append_printf(s, "%s%s", s->len ? ", " : "", l[i]);
        }
    g_string_append_printf(s, ", %s, %s, %s (nested)", nir_flatten, nir_delay, nir_graph);
    return g_string_free(s, FALSE);
}

static void tensor_free(OzNirTensor *t) {
    if (!t)
        return;
    g_free(t->v);
    g_free(t);
}

/* A population or projection name from a node name: characters other than letters,
 * digits, '_' and '-' (nirtorch writes "layer.0", nested graphs "graph.node") become '_'. */
static char *plain_name(const char *s) {
    char *out = g_strdup(s);
    for (char *p = out; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
            *p = '_';
    return out;
}

/* What the import knows about one population. */
typedef struct {
    const OzNirNode *node; /* NULL for a readout made for a spiking output */
    const OzNeuronOps *ops;
    char *name;
    OzNirPopImport im; /* shape, keys, gain, bias */
} Pop;

typedef struct {
    const char *path;
    double dt;
    GKeyFile *given; /* the scenario as written, or NULL */
    OzNirGraph *g;
    GPtrArray *pops; /* of Pop* */
    GString *text;   /* the sections */
    GHashTable *tensors;
} Imp;

static void pop_free(Pop *p) {
    if (!p)
        return;
    g_free(p->name);
    g_free(p->im.bias);
    if (p->im.keys)
        g_string_free(p->im.keys, TRUE);
    g_free(p);
}

/* The model population `name` (a plain name) is built from node n with: among the models
 * claiming n's type, the one the scenario names, else the one n's metadata names, else the
 * first that is not named_only; NULL when none. */
static const OzNeuronOps *choose_model(const Imp *im, const OzNirNode *n, const char *name) {
    g_autofree char *group = g_strdup_printf("population %s", name);
    g_autofree char *given =
        im->given ? g_key_file_get_value(im->given, group, "model", NULL) : NULL;
    if (given)
        g_strstrip(given);
    const char *meta = oz_nir_meta_text(n->meta, "opzosim_model");
    const OzNeuronOps *by_scenario = NULL, *by_meta = NULL, *first = NULL;
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
        const OzNeuronNir *nir = (*m)->nir;
        if (!nir || !nir->import_node || !in_list(nir->node_types, n->type))
            continue;
        if (given && strcmp((*m)->name, given) == 0)
            by_scenario = *m;
        if (meta && strcmp((*m)->name, meta) == 0)
            by_meta = *m;
        if (!first && !nir->named_only)
            first = *m;
    }
    return by_scenario ? by_scenario : by_meta ? by_meta : first;
}

static Pop *pop_new(Imp *im, const OzNirNode *node, const OzNeuronOps *ops, const char *name) {
    Pop *p = g_new0(Pop, 1);
    p->node = node;
    p->ops = ops;
    p->name = plain_name(name);
    p->im.node = node;
    p->im.graph_meta = im->g->meta;
    p->im.dt = im->dt;
    p->im.keys = g_string_new(NULL);
    p->im.gain = 1.0;
    g_ptr_array_add(im->pops, p);
    return p;
}

static Pop *pop_of_node(Imp *im, const OzNirNode *n) {
    for (guint i = 0; i < im->pops->len; i++) {
        Pop *p = g_ptr_array_index(im->pops, i);
        if (p->node == n)
            return p;
    }
    return NULL;
}

static gboolean fail(Imp *im, GError **error, OzNirError code, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static gboolean fail(Imp *im, GError **error, OzNirError code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, OZ_NIR_ERROR, code, "%s: %s", im->path, msg);
    return FALSE;
}

/* A plugin's error (which names the node) with the file in front. */
static gboolean failed(Imp *im, GError **error) {
    g_prefix_error(error, "%s: ", im->path);
    return FALSE;
}

static const char *edge_source(const OzNirGraph *g, guint e) {
    return g_ptr_array_index(g->edges, 2 * e);
}
static const char *edge_target(const OzNirGraph *g, guint e) {
    return g_ptr_array_index(g->edges, 2 * e + 1);
}

/* ---- Nested graphs ---- */

static gboolean check_edges(Imp *im, const OzNirGraph *g, const char *where, GError **error) {
    for (guint e = 0; e < g->edges->len / 2; e++)
        for (int k = 0; k < 2; k++) {
            const char *nm = g_ptr_array_index(g->edges, 2 * e + k);
            if (!oz_nir_node_find(g, nm))
                return fail(im, error, OZ_NIR_ERROR_FORMAT,
                            "%sedge %u (%s -> %s) names node '%s', which the graph does not have",
                            where, e, edge_source(g, e), edge_target(g, e), nm);
        }
    return TRUE;
}

/* The node names an edge into (entry) or out of (exit) node n of the flattened graph
 * stands for: n itself, or for a nested graph what its Input leads to / what leads to its
 * Output. */
typedef struct {
    GPtrArray *entry, *exit; /* of char*, owned */
} Ports;

static void ports_free(Ports *p) {
    g_ptr_array_unref(p->entry);
    g_ptr_array_unref(p->exit);
    g_free(p);
}

/* g with every nested graph's nodes and edges put in its place (transfer full; g's nested
 * nodes are emptied). */
static OzNirGraph *flatten(Imp *im, OzNirGraph *g, const char *where, GError **error) {
    if (!check_edges(im, g, where, error))
        return NULL;
    g_autoptr(OzNirGraph) out = oz_nir_graph_new();
    g_autoptr(GHashTable) ports =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)ports_free);
    /* Nodes keep their order; a nested graph's nodes take its place. */
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_node_free);
    while (g->nodes->len)
        g_ptr_array_add(nodes, g_ptr_array_steal_index(g->nodes, 0));
    for (guint i = 0; i < nodes->len; i++) {
        OzNirNode *n = g_ptr_array_index(nodes, i);
        Ports *pt = g_new0(Ports, 1);
        pt->entry = g_ptr_array_new_with_free_func(g_free);
        pt->exit = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(ports, g_strdup(n->name), pt);
        if (!n->sub) {
            g_ptr_array_add(pt->entry, g_strdup(n->name));
            g_ptr_array_add(pt->exit, g_strdup(n->name));
            g_ptr_array_add(out->nodes, n);
            g_ptr_array_index(nodes, i) = NULL;
            continue;
        }
        g_autofree char *w = g_strdup_printf("%snested graph '%s': ", where, n->name);
        g_autoptr(OzNirGraph) sub = flatten(im, n->sub, w, error);
        if (!sub)
            return NULL;
        /* Its Input and Output are ports, not populations. */
        const OzNirNode *in = NULL, *outp = NULL;
        int nin = 0, nout = 0;
        for (guint k = 0; k < sub->nodes->len; k++) {
            const OzNirNode *s = g_ptr_array_index(sub->nodes, k);
            if (strcmp(s->type, nir_input) == 0)
                in = s, nin++;
            if (strcmp(s->type, nir_output) == 0)
                outp = s, nout++;
        }
        if (nin != 1 || nout != 1) {
            fail(im, error, OZ_NIR_ERROR_FORMAT,
                 "%shas %d Input and %d Output nodes; a nested graph has one of each", w, nin,
                 nout);
            return NULL;
        }
        for (guint e = 0; e < sub->edges->len / 2; e++) {
            const char *a = edge_source(sub, e), *b = edge_target(sub, e);
            gboolean from_in = strcmp(a, in->name) == 0, to_out = strcmp(b, outp->name) == 0;
            if (from_in && to_out) {
                fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                     "%sits Input leads straight to its Output", w);
                return NULL;
            }
            if (from_in)
                g_ptr_array_add(pt->entry, g_strdup_printf("%s.%s", n->name, b));
            else if (to_out)
                g_ptr_array_add(pt->exit, g_strdup_printf("%s.%s", n->name, a));
            else {
                g_autofree char *pa = g_strdup_printf("%s.%s", n->name, a);
                g_autofree char *pb = g_strdup_printf("%s.%s", n->name, b);
                oz_nir_edge_add(out, pa, pb);
            }
        }
        /* Its other nodes move into the outer graph, renamed "GRAPH.NODE". */
        for (guint k = 0; k < sub->nodes->len; k++) {
            OzNirNode *s = g_ptr_array_index(sub->nodes, k);
            if (s == in || s == outp)
                continue;
            g_ptr_array_index(sub->nodes, k) = NULL;
            char *nm = g_strdup_printf("%s.%s", n->name, s->name);
            g_free(s->name);
            s->name = nm;
            g_ptr_array_add(out->nodes, s);
        }
    }
    for (guint e = 0; e < g->edges->len / 2; e++) {
        const Ports *a = g_hash_table_lookup(ports, edge_source(g, e));
        const Ports *b = g_hash_table_lookup(ports, edge_target(g, e));
        for (guint x = 0; x < a->exit->len; x++)
            for (guint y = 0; y < b->entry->len; y++)
                oz_nir_edge_add(out, a->exit->pdata[x], b->entry->pdata[y]);
    }
    g_ptr_array_extend_and_steal(out->meta, g->meta);
    g->meta = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_field_free);
    return g_steal_pointer(&out);
}

/* ---- Checks on the graph as a whole ---- */

static gboolean check_graph(Imp *im, GError **error) {
    OzNirGraph *g = im->g;
    g_autoptr(GString) bad = g_string_new(NULL);
    for (guint i = 0; i < g->nodes->len; i++) {
        OzNirNode *n = g_ptr_array_index(g->nodes, i);
        if (role_of(n) == ROLE_NONE)
            g_string_append_printf(bad, "%s%s (%s)", bad->len ? ", " : "", n->name, n->type);
    }
    if (bad->len) {
        g_autofree char *ok = known_types();
        return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                    "opzosim cannot run these nodes: %s; it runs %s (docs/INTEROP.md)", bad->str,
                    ok);
    }
    int inputs = 0, outputs = 0;
    for (guint i = 0; i < g->nodes->len; i++) {
        OzNirNode *n = g_ptr_array_index(g->nodes, i);
        inputs += role_of(n) == ROLE_INPUT;
        outputs += role_of(n) == ROLE_OUTPUT;
    }
    if (inputs != 1 || outputs != 1)
        return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                    "the graph has %d Input and %d Output nodes; opzosim runs one of each", inputs,
                    outputs);
    return TRUE;
}

/* Every node has a type, in the nested graphs too (before flattening). */
static gboolean check_types(Imp *im, const OzNirGraph *g, GError **error) {
    for (guint i = 0; i < g->nodes->len; i++) {
        const OzNirNode *n = g_ptr_array_index(g->nodes, i);
        if (!n->type)
            return fail(im, error, OZ_NIR_ERROR_FORMAT,
                        "node '%s' has no 'type' dataset (every NIR node names its type)", n->name);
        if (n->sub && !check_types(im, n->sub, error))
            return FALSE;
    }
    return TRUE;
}

static void add_tensor(Imp *im, const char *prefix, const char *name, float *v, gsize n) {
    OzNirTensor *t = g_new0(OzNirTensor, 1);
    t->v = v;
    t->n = n;
    g_hash_table_replace(im->tensors, g_strconcat(prefix, name, NULL), t);
}

/* ---- Chains ---- */

typedef struct {
    const OzNirNode *weights; /* the weight node; NULL: none */
    const OzProjectionKindOps *kind;
    const OzNirNode *pre; /* a node the kind takes before its weight node, or NULL */
    const OzProjectionKindOps *pre_kind;
    int delay_ticks;
    const OzNirNode *end; /* the population or Output the chain reaches */
} Chain;

static int degree(const OzNirGraph *g, const char *name, gboolean in) {
    int d = 0;
    for (guint e = 0; e < g->edges->len / 2; e++)
        d += strcmp(in ? edge_target(g, e) : edge_source(g, e), name) == 0;
    return d;
}

static const char *successor(const OzNirGraph *g, const char *name) {
    for (guint e = 0; e < g->edges->len / 2; e++)
        if (strcmp(edge_source(g, e), name) == 0)
            return edge_target(g, e);
    return NULL;
}

/* Follows the linear nodes from `first` to the next population or Output. */
static gboolean follow(Imp *im, const OzNirNode *from, const char *first, Chain *c,
                       GError **error) {
    memset(c, 0, sizeof *c);
    const char *cur = first;
    for (guint steps = 0; steps <= im->g->nodes->len; steps++) {
        const OzNirNode *n = oz_nir_node_find(im->g, cur);
        Role role = role_of(n);
        if (role == ROLE_NEURON || role == ROLE_OUTPUT) {
            c->end = n;
            return TRUE;
        }
        if (role == ROLE_INPUT)
            return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED, "an edge leads into Input '%s'",
                        n->name);
        if (degree(im->g, cur, TRUE) != 1 || degree(im->g, cur, FALSE) != 1)
            return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (%s) has %d edges in and %d out; opzosim runs a linear node "
                        "between two layers with one of each (sums and branches of linear "
                        "nodes are not supported)",
                        n->name, n->type, degree(im->g, cur, TRUE), degree(im->g, cur, FALSE));
        const OzProjectionKindOps *pk = kind_of(n->type, TRUE);
        const OzProjectionKindOps *wk = kind_of(n->type, FALSE);
        if (strcmp(n->type, nir_delay) == 0) {
            const OzNirField *d = oz_nir_need(n, "delay", error);
            double sec = 0;
            if (!d || !oz_nir_uniform(n, d, &sec, error))
                return failed(im, error);
            double ticks = sec / im->dt;
            if (ticks < 0 || fabs(ticks - round(ticks)) > 1e-6 * MAX(1.0, ticks))
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (Delay): %g s is not a whole number of ticks of dt = %g s",
                            n->name, sec, im->dt);
            c->delay_ticks += (int)round(ticks);
        } else if (pk) {
            if (c->pre || c->weights)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (%s): opzosim takes it only directly before a %s", n->name,
                            n->type, pk->nir->node_types ? pk->nir->node_types[0] : "weight node");
            c->pre = n;
            c->pre_kind = pk;
        } else if (wk) {
            if (c->weights)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "nodes '%s' and '%s' are two weight layers with no neurons between "
                            "them (from '%s')",
                            c->weights->name, n->name, from->name);
            if (c->pre && c->pre_kind != wk)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (%s): opzosim takes it only directly before a %s",
                            c->pre->name, c->pre->type,
                            c->pre_kind->nir->node_types ? c->pre_kind->nir->node_types[0]
                                                         : "weight node");
            c->weights = n;
            c->kind = wk;
        }
        cur = successor(im->g, cur);
    }
    return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                "the linear nodes after '%s' form a loop with no neuron in it", from->name);
}

/* The projection of a chain from src to dst: its section, its weights (times dst's gain)
 * and its bias added into dst's, by the kind that claims the weight node. */
static gboolean add_projection(Imp *im, const Pop *src, Pop *dst, const OzNirNode *weights,
                               const OzProjectionKindOps *kind, const OzNirNode *pre, int delay,
                               GError **error) {
    g_autofree char *name = plain_name(weights->name);
    OzNirProjImport pi = {
        .weights = weights,
        .pre = pre,
        .src_name = src->name,
        .dst_name = dst->name,
        .src_rank = src->im.rank,
        .src_n = src->im.n,
        .dst_rank = dst->im.rank,
        .dst_n = dst->im.n,
        .gain = dst->im.gain,
        .exact_bias = dst->im.exact_bias,
        .keys = g_string_new(NULL),
        .dst_bias = dst->im.bias,
        .dst_has_bias = &dst->im.has_bias,
    };
    memcpy(pi.src_dims, src->im.dims, sizeof pi.src_dims);
    memcpy(pi.dst_dims, dst->im.dims, sizeof pi.dst_dims);
    gboolean ok = kind->nir->import_chain(&pi, error);
    if (ok) {
        g_string_append_printf(im->text,
                               "\n[projection %s]\nfrom = %s\nto = %s\ndelay = %d\nkind = %s\n%s",
                               name, src->name, dst->name, delay, kind->name, pi.keys->str);
        add_tensor(im, "w:", name, g_steal_pointer(&pi.w), pi.nw);
    }
    g_free(pi.w);
    g_string_free(pi.keys, TRUE);
    return ok ? TRUE : failed(im, error);
}

/* ---- The whole import ---- */

static void pop_section(Imp *im, const Pop *p) {
    g_string_append_printf(im->text, "\n[population %s]\nmodel = %s\n", p->name, p->ops->name);
    if (p->im.rank == 3)
        g_string_append_printf(im->text, "shape = %d,%d,%d\n", p->im.dims[0], p->im.dims[1],
                               p->im.dims[2]);
    else
        g_string_append_printf(im->text, "size = %d\n", p->im.n);
    if (!(p->ops->caps & OZ_NEURON_SOURCE))
        g_string_append_printf(im->text, "bias = %s\n", p->im.has_bias ? "true" : "false");
    g_string_append(im->text, p->im.keys->str);
}

/* The model's reading of its node, and this project's exact bias where the metadata has it. */
static gboolean read_population(Imp *im, Pop *p, GError **error) {
    if (!p->ops->nir->import_node(&p->im, error))
        return failed(im, error);
    if (!p->im.bias)
        oz_nir_import_shape(&p->im, (const gsize[]){1}, 1);
    const OzNirField *eb = oz_nir_field_find(p->node->meta, "opzosim_bias");
    if (eb && eb->v && eb->n == (gsize)p->im.n) {
        for (gsize i = 0; i < eb->n; i++)
            p->im.bias[i] = (float)eb->v[i];
        p->im.has_bias = p->im.exact_bias = TRUE;
    }
    return TRUE;
}

/* The population of node n named name (before plain_name), of the model choose_model
 * takes, with the model's reading of the node (read_population); NULL with an error. */
static Pop *new_population(Imp *im, const OzNirNode *n, const char *name, GError **error) {
    g_autofree char *plain = plain_name(name);
    const OzNeuronOps *ops = choose_model(im, n, plain);
    if (!ops) {
        fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
             "node '%s' (%s): the models that take it are taken only where the scenario "
             "([population %s] model) or the node's metadata names one",
             n->name, n->type, plain);
        return NULL;
    }
    Pop *p = pop_new(im, n, ops, name);
    return read_population(im, p, error) ? p : NULL;
}

static gboolean import_graph(Imp *im, gboolean train, GError **error) {
    if (!check_types(im, im->g, error))
        return FALSE;
    g_autoptr(OzNirGraph) flat = flatten(im, im->g, "", error);
    if (!flat)
        return FALSE;
    im->g = flat;
    if (!check_graph(im, error))
        return FALSE;
    OzNirGraph *g = im->g;
    const OzNirNode *input = NULL, *output = NULL;
    Pop *ro = NULL;
    for (guint i = 0; i < g->nodes->len; i++) {
        const OzNirNode *n = g_ptr_array_index(g->nodes, i);
        Role role = role_of(n);
        if (role == ROLE_INPUT) {
            input = n;
            const char *nm = oz_nir_meta_text(g->meta, "opzosim_input");
            if (!new_population(im, n, nm ? nm : n->name, error))
                return FALSE;
        } else if (role == ROLE_NEURON) {
            if (!new_population(im, n, n->name, error))
                return FALSE;
        } else if (role == ROLE_OUTPUT) {
            output = n;
        }
    }
    if (!input)
        return fail(im, error, OZ_NIR_ERROR_FORMAT, "no Input node");
    /* The readout, last: the chains into Output give its size; a population straight into
     * Output is a spiking output layer, counted. */
    const char *ro_name = oz_nir_meta_text(g->meta, "opzosim_readout");
    if (!(ro = new_population(im, output, ro_name ? ro_name : "out", error)))
        return FALSE;
    ro->im.gain = 1.0;
    /* Sections: populations in node order, the readout last, then the projections. */
    g_autoptr(GString) projections = g_string_new(NULL);
    GString *pops_text = im->text;
    im->text = projections;
    gboolean spiking_out = FALSE, weighted_out = FALSE, recurrent = FALSE, ok = TRUE;
    for (guint e = 0; ok && e < g->edges->len / 2; e++) {
        const OzNirNode *s = oz_nir_node_find(g, edge_source(g, e));
        Role role = role_of(s);
        if (role != ROLE_INPUT && role != ROLE_NEURON)
            continue;
        Chain c;
        if (!(ok = follow(im, s, edge_target(g, e), &c, error)))
            break;
        Pop *src = pop_of_node(im, s);
        Pop *dst = role_of(c.end) == ROLE_OUTPUT ? ro : pop_of_node(im, c.end);
        /* A recurrent edge (a layer onto itself) reads the previous tick's spikes: NIR's
         * continuous time has no zero-delay loop, opzosim's ticks do. */
        if (c.end == s) {
            recurrent = TRUE;
            c.delay_ticks = MAX(c.delay_ticks, 1);
        }
        if (!c.weights && dst == ro && role == ROLE_NEURON) {
            /* The readout counts the spikes: o[t] = s[t] through an identity, a Linear. */
            spiking_out = TRUE;
            oz_nir_import_shape(&ro->im, (const gsize[]){(gsize)src->im.n}, 1);
            g_autoptr(OzNirGraph) tmp = oz_nir_graph_new();
            g_autofree char *pn = g_strconcat(src->name, "_count", NULL);
            OzNirNode *id = oz_nir_node_add(tmp, pn, "Linear");
            gsize n = (gsize)src->im.n, dims[2] = {n, n};
            g_autofree double *v = g_new0(double, n *n);
            for (gsize i = 0; i < n; i++)
                v[i * n + i] = 1.0;
            oz_nir_field_add(id->fields, "weight", OZ_NIR_F32, 2, dims, v);
            const OzProjectionKindOps *kind = kind_of(id->type, FALSE);
            ok = kind ? add_projection(im, src, ro, id, kind, NULL, c.delay_ticks, error)
                      : fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                             "no projection kind takes a Linear node, which a spiking output "
                             "layer needs");
            continue;
        }
        if (!c.weights) {
            ok = fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                      "the path from '%s' to '%s' has no weight node", s->name, c.end->name);
            break;
        }
        weighted_out = weighted_out || dst == ro;
        ok = add_projection(im, src, dst, c.weights, c.kind, c.pre, c.delay_ticks, error);
    }
    im->text = pops_text;
    if (!ok)
        return FALSE;
    if (spiking_out && weighted_out)
        return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                    "the Output node '%s' takes both spikes and weighted sums", output->name);
    if (recurrent && train)
        return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                    "it has recurrent edges (a layer projecting onto itself): it runs for "
                    "inference, and learning through recurrent edges is not supported");
    if (spiking_out && train)
        return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                    "its output layer spikes (no weights between the last neurons and Output "
                    "'%s'): it classifies by spike counts and can be run for inference "
                    "(run.mode = infer), not fine-tuned; replace its output by a readout "
                    "(an Affine into Output) to train it",
                    output->name);
    for (guint i = 0; i < im->pops->len; i++) {
        Pop *p = g_ptr_array_index(im->pops, i);
        pop_section(im, p);
        if (!(p->ops->caps & OZ_NEURON_SOURCE))
            add_tensor(im, "b:", p->name, g_memdup2(p->im.bias, (gsize)p->im.n * sizeof(float)),
                       (gsize)p->im.n);
    }
    g_string_append(im->text, projections->str);
    return TRUE;
}

gboolean oz_nir_import(const char *path, double dt_s, gboolean train, char **sections,
                       GHashTable **tensors, GError **error) {
    return oz_nir_import_given(path, dt_s, train, NULL, sections, tensors, error);
}

gboolean oz_nir_import_given(const char *path, double dt_s, gboolean train, GKeyFile *given,
                             char **sections, GHashTable **tensors, GError **error) {
    g_autoptr(OzNirGraph) g = oz_nir_read(path, error);
    if (!g)
        return FALSE;
    Imp im = {
        .path = path,
        .dt = dt_s,
        .given = given,
        .g = g,
        .pops = g_ptr_array_new_with_free_func((GDestroyNotify)pop_free),
        .text = g_string_new(NULL),
        .tensors =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)tensor_free),
    };
    gboolean ok = import_graph(&im, train, error);
    g_ptr_array_unref(im.pops);
    if (ok && sections)
        *sections = g_string_free(im.text, FALSE);
    else
        g_string_free(im.text, TRUE);
    if (ok && tensors)
        *tensors = im.tensors;
    else
        g_hash_table_unref(im.tensors);
    return ok;
}

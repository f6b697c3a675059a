/* oz-nir-import.c — a NIR graph as opzosim populations, projections and their tensors.
 *
 * Node roles: Input is the input population; LIF and IF are spiking populations; Output is
 * the readout.  Between two of them runs a chain of linear nodes, each with one edge in and
 * one out: Delay (a uniform delay, rounded to ticks of dt), Flatten (opzosim populations
 * are flat already: a C,H,W map is read in PyTorch's flattening order), an AvgPool2d or
 * SumPool2d directly before a Conv2d (the conv2d kind's pool: non-overlapping windows), and
 * exactly one Affine, Linear or Conv2d.  Each chain is one projection.
 *
 * The neuron's discrete-time form (docs/INTEROP.md): LIF with Euler at dt gives
 * λ = 1 − dt/τ, and its input I enters scaled by the gain dt·r/τ, v_leak as a bias
 * (dt/τ)·v_leak; IF adds r·I per tick.  The gain is folded into the projection's weights
 * and biases, so the population runs the plain u = λv + I + b of docs/ALGORITHM.md.  A
 * per-neuron τ, r, threshold or reset that is not one value for the whole layer is refused
 * (a population has one of each).  v_reset gives a hard reset unless this project's
 * metadata says soft; [population] reset in the scenario (or --set) wins over both.
 *
 * A chain from a layer back onto itself (a recurrent Linear) becomes a projection with a
 * delay of at least one tick: it runs for inference; training such a network is refused.
 *
 * What is refused, each with the node named: a missing type, an edge naming a node the
 * graph lacks, node types opzosim cannot run (listed together), branching chains, weights whose
 * shape does not fit the populations they join, and training a network whose output layer spikes.
 */
#include "io/oz-nir.h"

#include <math.h>
#include <string.h>

typedef enum { ROLE_INPUT, ROLE_NEURON, ROLE_OUTPUT, ROLE_LINEAR } Role;

static const struct {
    const char *type;
    Role role;
} known_types[] = {
    {"Input", ROLE_INPUT},    {"Output", ROLE_OUTPUT},    {"LIF", ROLE_NEURON},
    {"IF", ROLE_NEURON},      {"Affine", ROLE_LINEAR},    {"Linear", ROLE_LINEAR},
    {"Conv2d", ROLE_LINEAR},  {"AvgPool2d", ROLE_LINEAR}, {"SumPool2d", ROLE_LINEAR},
    {"Flatten", ROLE_LINEAR}, {"Delay", ROLE_LINEAR},
};

static int role_of(const OzNirNode *n) {
    for (gsize i = 0; i < G_N_ELEMENTS(known_types); i++)
        if (strcmp(n->type, known_types[i].type) == 0)
            return (int)known_types[i].role;
    return -1;
}

static void tensor_free(OzNirTensor *t) {
    if (!t)
        return;
    g_free(t->v);
    g_free(t);
}

/* A population or projection name from a node name: characters other than letters,
 * digits, '_' and '-' (nirtorch writes "layer.0") become '_'. */
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
    char *name;
    const char *model; /* "input", "lif", "if", "readout" */
    int rank;          /* 1 (flat) or 3 (C,H,W) */
    int dims[3];
    int n;
    double lambda, v_th, v_reset, gain;
    gboolean soft;
    float *bias; /* (n) */
    gboolean has_bias;
    gboolean exact_bias; /* from this project's metadata: the chains' biases are ignored */
} Pop;

typedef struct {
    const char *path;
    double dt;
    OzNirGraph *g;
    GPtrArray *pops; /* of Pop* */
    GString *text;   /* the sections */
    GHashTable *tensors;
} Imp;

static void pop_free(Pop *p) {
    if (!p)
        return;
    g_free(p->name);
    g_free(p->bias);
    g_free(p);
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

/* ---- Checks on the graph as a whole ---- */

static gboolean check_graph(Imp *im, GError **error) {
    OzNirGraph *g = im->g;
    for (guint i = 0; i < g->nodes->len; i++) {
        OzNirNode *n = g_ptr_array_index(g->nodes, i);
        if (!n->type)
            return fail(im, error, OZ_NIR_ERROR_FORMAT,
                        "node '%s' has no 'type' dataset (every NIR node names its type)", n->name);
    }
    for (guint e = 0; e + 1 < g->edges->len; e += 2)
        for (int k = 0; k < 2; k++) {
            const char *nm = g_ptr_array_index(g->edges, e + k);
            if (!oz_nir_node_find(g, nm))
                return fail(im, error, OZ_NIR_ERROR_FORMAT,
                            "edge %u (%s -> %s) names node '%s', which the graph does not have",
                            e / 2, (char *)g_ptr_array_index(g->edges, e),
                            (char *)g_ptr_array_index(g->edges, e + 1), nm);
        }
    g_autoptr(GString) bad = g_string_new(NULL);
    for (guint i = 0; i < g->nodes->len; i++) {
        OzNirNode *n = g_ptr_array_index(g->nodes, i);
        if (role_of(n) < 0)
            g_string_append_printf(bad, "%s%s (%s)", bad->len ? ", " : "", n->name, n->type);
    }
    if (bad->len) {
        g_autoptr(GString) ok = g_string_new(NULL);
        for (gsize i = 0; i < G_N_ELEMENTS(known_types); i++)
            g_string_append_printf(ok, "%s%s", i ? ", " : "", known_types[i].type);
        return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                    "opzosim cannot run these nodes: %s; it runs %s (docs/INTEROP.md)", bad->str,
                    ok->str);
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

/* ---- Field readers ---- */

static const OzNirField *need(Imp *im, const OzNirNode *n, const char *field, GError **error) {
    const OzNirField *f = oz_nir_field_find(n->fields, field);
    if (!f || !f->v) {
        fail(im, error, OZ_NIR_ERROR_FORMAT, "node '%s' (%s) has no numeric field '%s'", n->name,
             n->type, field);
        return NULL;
    }
    return f;
}

/* The one value of a per-neuron array, or an error when its entries differ. */
static gboolean uniform(Imp *im, const OzNirNode *n, const OzNirField *f, double *out,
                        GError **error) {
    for (gsize i = 1; i < f->n; i++)
        if (f->v[i] != f->v[0])
            return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (%s): '%s' differs between neurons (%g and %g); an opzosim "
                        "population has one value",
                        n->name, n->type, f->name, f->v[0], f->v[i]);
    *out = f->v[0];
    return TRUE;
}

static double meta_number(const OzNirNode *n, const char *key, double def) {
    const OzNirField *f = n ? oz_nir_field_find(n->meta, key) : NULL;
    return f && f->v && f->n >= 1 ? f->v[0] : def;
}

static const char *meta_text(const GPtrArray *meta, const char *key) {
    const OzNirField *f = oz_nir_field_find(meta, key);
    return f && f->s && f->n >= 1 ? f->s[0] : NULL;
}

/* A 2-vector (or a scalar) field as two ints; def when absent. */
static void pair(const OzNirNode *n, const char *field, int def, int out[2]) {
    const OzNirField *f = oz_nir_field_find(n->fields, field);
    out[0] = out[1] = def;
    if (f && f->v && f->n >= 1) {
        out[0] = (int)f->v[0];
        out[1] = (int)f->v[f->n >= 2 ? 1 : 0];
    }
}

/* ---- Populations ---- */

static void set_shape(Pop *p, const gsize *dims, int rank) {
    p->n = 1;
    for (int d = 0; d < rank; d++)
        p->n *= (int)dims[d];
    if (rank == 3 || rank == 2) {
        p->rank = 3;
        p->dims[0] = rank == 3 ? (int)dims[0] : 1;
        p->dims[1] = (int)dims[rank - 2];
        p->dims[2] = (int)dims[rank - 1];
    } else {
        p->rank = 1;
        p->dims[0] = p->n;
    }
}

static gboolean add_neuron(Imp *im, const OzNirNode *n, GError **error) {
    Pop *p = g_new0(Pop, 1);
    g_ptr_array_add(im->pops, p);
    p->node = n;
    p->name = plain_name(n->name);
    gboolean lif = strcmp(n->type, "LIF") == 0;
    p->model = lif ? "lif" : "if";
    const OzNirField *vth = need(im, n, "v_threshold", error);
    const OzNirField *r = vth ? need(im, n, "r", error) : NULL;
    if (!r)
        return FALSE;
    set_shape(p, vth->dims, vth->rank);
    double rr = 1.0;
    if (!uniform(im, n, vth, &p->v_th, error) || !uniform(im, n, r, &rr, error))
        return FALSE;
    const OzNirField *vr = oz_nir_field_find(n->fields, "v_reset");
    if (vr && vr->v && !uniform(im, n, vr, &p->v_reset, error))
        return FALSE;
    p->soft = g_strcmp0(meta_text(n->meta, "opzosim_reset"), "soft") == 0;
    p->bias = g_new0(float, MAX(p->n, 1));
    p->lambda = 1.0;
    p->gain = rr;
    if (lif) {
        const OzNirField *tau = need(im, n, "tau", error);
        const OzNirField *vl = tau ? need(im, n, "v_leak", error) : NULL;
        double t = 0;
        if (!vl || !uniform(im, n, tau, &t, error))
            return FALSE;
        if (!(t >= im->dt))
            return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (LIF): tau = %g s is below dt = %g s, where the Euler step "
                        "is unstable; set [network] nir_dt to the time step the file was made "
                        "for",
                        n->name, t, im->dt);
        p->lambda = meta_number(n, "opzosim_lambda", 1.0 - im->dt / t);
        p->gain = im->dt * rr / t;
        for (gsize i = 0; i < vl->n && i < (gsize)p->n; i++)
            if (vl->v[i] != 0.0) {
                p->bias[i] = (float)(im->dt / t * vl->v[i]);
                p->has_bias = TRUE;
            }
    }
    const OzNirField *eb = oz_nir_field_find(n->meta, "opzosim_bias");
    if (eb && eb->v && eb->n == (gsize)p->n) {
        for (gsize i = 0; i < eb->n; i++)
            p->bias[i] = (float)eb->v[i];
        p->has_bias = p->exact_bias = TRUE;
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
    const OzNirNode *weights; /* Affine, Linear or Conv2d; NULL: none */
    const OzNirNode *pool;
    int delay_ticks;
    const OzNirNode *end; /* the neuron or Output the chain reaches */
} Chain;

static const char *edge_source(const OzNirGraph *g, guint e) {
    return g_ptr_array_index(g->edges, 2 * e);
}
static const char *edge_target(const OzNirGraph *g, guint e) {
    return g_ptr_array_index(g->edges, 2 * e + 1);
}

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

/* Follows the linear nodes from `first` to the next neuron or Output. */
static gboolean follow(Imp *im, const OzNirNode *from, const char *first, Chain *c,
                       GError **error) {
    memset(c, 0, sizeof *c);
    const char *cur = first;
    for (guint steps = 0; steps <= im->g->nodes->len; steps++) {
        const OzNirNode *n = oz_nir_node_find(im->g, cur);
        int role = role_of(n);
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
        if (strcmp(n->type, "Delay") == 0) {
            const OzNirField *d = need(im, n, "delay", error);
            double sec = 0;
            if (!d || !uniform(im, n, d, &sec, error))
                return FALSE;
            double ticks = sec / im->dt;
            if (ticks < 0 || fabs(ticks - round(ticks)) > 1e-6 * MAX(1.0, ticks))
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (Delay): %g s is not a whole number of ticks of dt = %g s",
                            n->name, sec, im->dt);
            c->delay_ticks += (int)round(ticks);
        } else if (strcmp(n->type, "AvgPool2d") == 0 || strcmp(n->type, "SumPool2d") == 0) {
            if (c->pool || c->weights)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (%s): opzosim pools only directly before a Conv2d", n->name,
                            n->type);
            c->pool = n;
        } else if (strcmp(n->type, "Flatten") != 0) {
            if (c->weights)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "nodes '%s' and '%s' are two weight layers with no neurons between "
                            "them (from '%s')",
                            c->weights->name, n->name, from->name);
            if (c->pool && strcmp(n->type, "Conv2d") != 0)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (%s): opzosim pools only directly before a Conv2d",
                            c->pool->name, c->pool->type);
            c->weights = n;
        }
        cur = successor(im->g, cur);
    }
    return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                "the linear nodes after '%s' form a loop with no neuron in it", from->name);
}

/* The projection of a chain from src to dst: its section, weights (times dst's gain) and
 * its bias added into dst's. */
static gboolean add_projection(Imp *im, const Pop *src, Pop *dst, const Chain *c, GError **error) {
    const OzNirNode *w = c->weights;
    g_autofree char *name = plain_name(w->name);
    g_string_append_printf(im->text, "\n[projection %s]\nfrom = %s\nto = %s\ndelay = %d\n", name,
                           src->name, dst->name, c->delay_ticks);
    const OzNirField *wf = need(im, w, "weight", error);
    if (!wf)
        return FALSE;
    const OzNirField *exact = oz_nir_field_find(w->meta, "opzosim_weight");
    const OzNirField *bf = oz_nir_field_find(w->fields, "bias");
    const double gain = dst->gain;
    float *wt = NULL;
    gsize nw = 0;
    if (strcmp(w->type, "Conv2d") == 0) {
        if (wf->rank != 4)
            return fail(im, error, OZ_NIR_ERROR_FORMAT,
                        "node '%s' (Conv2d): weight has %d dimensions, expected (C_out, C_in, kH, "
                        "kW)",
                        w->name, wf->rank);
        int stride[2], pad[2], dil[2];
        pair(w, "stride", 1, stride);
        pair(w, "padding", 0, pad);
        pair(w, "dilation", 1, dil);
        double groups = 1;
        const OzNirField *gf = oz_nir_field_find(w->fields, "groups");
        if (gf && gf->v)
            groups = gf->v[0];
        int cout = (int)wf->dims[0], cin = (int)wf->dims[1];
        if (wf->dims[2] != wf->dims[3] || stride[0] != stride[1] || pad[0] != pad[1] ||
            dil[0] != 1 || dil[1] != 1 || groups != 1)
            return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (Conv2d): opzosim's conv2d takes a square kernel, one stride "
                        "and one padding for both axes, dilation 1 and groups 1 (kernel %zux%zu, "
                        "stride %d,%d, padding %d,%d, dilation %d,%d, groups %g)",
                        w->name, wf->dims[2], wf->dims[3], stride[0], stride[1], pad[0], pad[1],
                        dil[0], dil[1], groups);
        if (src->rank != 3 || src->dims[0] != cin)
            return fail(im, error, OZ_NIR_ERROR_FORMAT,
                        "node '%s' (Conv2d): weight reads %d channels; '%s' has shape %d,%d,%d",
                        w->name, cin, src->name, src->dims[0], src->rank == 3 ? src->dims[1] : 0,
                        src->rank == 3 ? src->dims[2] : 0);
        if (dst->n % cout != 0)
            return fail(im, error, OZ_NIR_ERROR_FORMAT,
                        "node '%s' (Conv2d): %d output channels do not divide '%s' (%d neurons)",
                        w->name, cout, dst->name, dst->n);
        g_string_append_printf(im->text, "kind = conv2d\nkernel = %zu\nstride = %d\npadding = %d\n",
                               wf->dims[2], stride[0], pad[0]);
        if (c->pool) {
            int k[2], s[2], p[2];
            pair(c->pool, "kernel_size", 1, k);
            pair(c->pool, "stride", k[0], s);
            pair(c->pool, "padding", 0, p);
            if (k[0] != k[1] || s[0] != k[0] || s[1] != k[1] || p[0] != 0 || p[1] != 0)
                return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                            "node '%s' (%s): opzosim pools over non-overlapping square windows "
                            "(kernel_size = stride, padding 0); got kernel %d,%d stride %d,%d "
                            "padding %d,%d",
                            c->pool->name, c->pool->type, k[0], k[1], s[0], s[1], p[0], p[1]);
            g_string_append_printf(im->text, "pool = %s\npool_size = %d\n",
                                   strcmp(c->pool->type, "AvgPool2d") == 0 ? "avg" : "sum", k[0]);
        }
        nw = wf->n;
        wt = g_new(float, nw);
        for (gsize i = 0; i < nw; i++)
            wt[i] = exact && exact->n == nw ? (float)exact->v[i] : (float)(wf->v[i] * gain);
        int per = dst->n / cout;
        if (bf && bf->v && bf->n == (gsize)cout && !dst->exact_bias)
            for (int co = 0; co < cout; co++)
                for (int q = 0; q < per; q++)
                    if (bf->v[co] != 0.0) {
                        dst->bias[co * per + q] += (float)(bf->v[co] * gain);
                        dst->has_bias = TRUE;
                    }
    } else {
        if (wf->rank != 2 || (int)wf->dims[0] != dst->n || (int)wf->dims[1] != src->n) {
            g_autofree char *got = wf->rank == 2
                                       ? g_strdup_printf("(%zu, %zu)", wf->dims[0], wf->dims[1])
                                       : g_strdup_printf("%d dimensions", wf->rank);
            return fail(im, error, OZ_NIR_ERROR_FORMAT,
                        "node '%s' (%s): weight has shape %s, expected (out, in) = (%d, %d) for "
                        "'%s' -> '%s' (a shape mismatch)",
                        w->name, w->type, got, dst->n, src->n, src->name, dst->name);
        }
        g_string_append(im->text, "kind = dense\n");
        int nin = src->n, nout = dst->n;
        nw = (gsize)nin * (gsize)nout;
        wt = g_new(float, nw);
        /* NIR's (out, in) into opzosim's (n_pre, n_post). */
        for (int i = 0; i < nin; i++)
            for (int o = 0; o < nout; o++) {
                gsize k = (gsize)i * nout + o;
                wt[k] = exact && exact->n == nw ? (float)exact->v[k]
                                                : (float)(wf->v[(gsize)o * nin + i] * gain);
            }
        if (strcmp(w->type, "Affine") == 0 && bf && bf->v && bf->n == (gsize)nout &&
            !dst->exact_bias)
            for (int o = 0; o < nout; o++)
                if (bf->v[o] != 0.0) {
                    dst->bias[o] += (float)(bf->v[o] * gain);
                    dst->has_bias = TRUE;
                }
    }
    add_tensor(im, "w:", name, wt, nw);
    return TRUE;
}

/* ---- The whole import ---- */

static void pop_section(Imp *im, const Pop *p, const char *encoding) {
    g_string_append_printf(im->text, "\n[population %s]\nmodel = %s\n", p->name, p->model);
    if (p->rank == 3)
        g_string_append_printf(im->text, "shape = %d,%d,%d\n", p->dims[0], p->dims[1], p->dims[2]);
    else
        g_string_append_printf(im->text, "size = %d\n", p->n);
    if (strcmp(p->model, "input") == 0) {
        g_string_append_printf(im->text, "encoding = %s\n", encoding);
        return;
    }
    g_string_append_printf(im->text, "bias = %s\n", p->has_bias ? "true" : "false");
    if (strcmp(p->model, "readout") == 0)
        return;
    if (strcmp(p->model, "lif") == 0)
        g_string_append_printf(im->text, "lambda = %.9g\n", (double)(float)p->lambda);
    g_string_append_printf(im->text, "v_th = %.9g\nreset = %s\nv_reset = %.9g\n",
                           (double)(float)p->v_th, p->soft ? "soft" : "hard",
                           (double)(float)p->v_reset);
}

static gboolean import_graph(Imp *im, gboolean train, GError **error) {
    if (!check_graph(im, error))
        return FALSE;
    OzNirGraph *g = im->g;
    const OzNirNode *input = NULL, *output = NULL;
    for (guint i = 0; i < g->nodes->len; i++) {
        const OzNirNode *n = g_ptr_array_index(g->nodes, i);
        int role = role_of(n);
        if (role == ROLE_INPUT) {
            input = n;
            const OzNirField *sh = need(im, n, "shape", error);
            if (!sh)
                return FALSE;
            gsize dims[OZ_NIR_RANK_MAX] = {0};
            int rank = (int)MIN(sh->n, (gsize)OZ_NIR_RANK_MAX);
            for (int d = 0; d < rank; d++)
                dims[d] = (gsize)sh->v[d];
            Pop *p = g_new0(Pop, 1);
            p->node = n;
            const char *nm = meta_text(g->meta, "opzosim_input");
            p->name = plain_name(nm ? nm : n->name);
            p->model = "input";
            set_shape(p, dims, rank);
            g_ptr_array_add(im->pops, p);
        } else if (role == ROLE_NEURON && !add_neuron(im, n, error)) {
            return FALSE;
        } else if (role == ROLE_OUTPUT) {
            output = n;
        }
    }
    /* The readout: the chains into Output give its size; a neuron straight into Output is a
     * spiking output layer, counted. */
    Pop *ro = g_new0(Pop, 1);
    const char *ro_name = meta_text(g->meta, "opzosim_readout");
    ro->name = plain_name(ro_name ? ro_name : "out");
    ro->model = "readout";
    ro->node = output;
    ro->gain = 1.0;
    g_ptr_array_add(im->pops, ro);
    const OzNirField *osh = oz_nir_field_find(output->fields, "shape");
    gsize on = 1;
    for (gsize d = 0; osh && osh->v && d < osh->n; d++)
        on *= (gsize)osh->v[d];
    ro->n = (int)on;
    ro->rank = 1;
    ro->dims[0] = ro->n;
    ro->bias = g_new0(float, MAX(ro->n, 1));
    const OzNirField *eb = oz_nir_field_find(output->meta, "opzosim_bias");
    if (eb && eb->v && eb->n == (gsize)ro->n) {
        for (gsize i = 0; i < eb->n; i++)
            ro->bias[i] = (float)eb->v[i];
        ro->has_bias = ro->exact_bias = TRUE;
    }
    const char *encoding = meta_text(g->meta, "opzosim_encoding");
    /* Sections: populations in node order, the readout last, then the projections. */
    g_autoptr(GString) projections = g_string_new(NULL);
    GString *pops_text = im->text;
    im->text = projections;
    gboolean spiking_out = FALSE, weighted_out = FALSE, recurrent = FALSE;
    for (guint e = 0; e < g->edges->len / 2; e++) {
        const OzNirNode *s = oz_nir_node_find(g, edge_source(g, e));
        int role = role_of(s);
        if (role != ROLE_INPUT && role != ROLE_NEURON)
            continue;
        Chain c;
        if (!follow(im, s, edge_target(g, e), &c, error)) {
            im->text = pops_text;
            return FALSE;
        }
        Pop *src = pop_of_node(im, s);
        Pop *dst = role_of(c.end) == ROLE_OUTPUT ? ro : pop_of_node(im, c.end);
        /* A recurrent edge (a layer onto itself) reads the previous tick's spikes: NIR's
         * continuous time has no zero-delay loop, opzosim's ticks do. */
        if (c.end == s) {
            recurrent = TRUE;
            c.delay_ticks = MAX(c.delay_ticks, 1);
        }
        if (!c.weights) {
            if (dst == ro && role == ROLE_NEURON) {
                /* The readout counts the spikes: o[t] = s[t] through an identity. */
                spiking_out = TRUE;
                ro->n = src->n;
                ro->dims[0] = src->n;
                g_free(ro->bias);
                ro->bias = g_new0(float, src->n);
                g_autofree char *pn = g_strconcat(src->name, "_count", NULL);
                g_string_append_printf(im->text,
                                       "\n[projection %s]\nfrom = %s\nto = %s\ndelay = %d\n"
                                       "kind = dense\n",
                                       pn, src->name, ro->name, c.delay_ticks);
                float *id = g_new0(float, (gsize)src->n *(gsize)src->n);
                for (int i = 0; i < src->n; i++)
                    id[(gsize)i * src->n + i] = 1.0f;
                add_tensor(im, "w:", pn, id, (gsize)src->n * (gsize)src->n);
                continue;
            }
            im->text = pops_text;
            return fail(im, error, OZ_NIR_ERROR_UNSUPPORTED,
                        "the path from '%s' to '%s' has no Affine, Linear or Conv2d", s->name,
                        c.end->name);
        }
        weighted_out = weighted_out || dst == ro;
        if (!add_projection(im, src, dst, &c, error)) {
            im->text = pops_text;
            return FALSE;
        }
    }
    im->text = pops_text;
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
    if (!input)
        return fail(im, error, OZ_NIR_ERROR_FORMAT, "no Input node");
    for (guint i = 0; i < im->pops->len; i++) {
        Pop *p = g_ptr_array_index(im->pops, i);
        pop_section(im, p, encoding ? encoding : "current");
        if (strcmp(p->model, "input") != 0)
            add_tensor(im, "b:", p->name, g_memdup2(p->bias, (gsize)p->n * sizeof(float)),
                       (gsize)p->n);
    }
    g_string_append(im->text, projections->str);
    return TRUE;
}

gboolean oz_nir_import(const char *path, double dt_s, gboolean train, char **sections,
                       GHashTable **tensors, GError **error) {
    g_autoptr(OzNirGraph) g = oz_nir_read(path, error);
    if (!g)
        return FALSE;
    Imp im = {
        .path = path,
        .dt = dt_s,
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

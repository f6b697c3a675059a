/* oz-kind-sparse.c — the sparse projection kind: fixed random connectivity, stored
 * compressed by presynaptic neuron.
 *
 * Connectivity (`[projection NAME] connectivity`): fixed_indegree gives every postsynaptic
 * neuron `indegree` distinct presynaptic partners (all of them when indegree ≥ n_pre);
 * pairwise connects each pair independently with probability `p`.  It is drawn once, from
 * its own stream (seed, "sparse:" + the projection's name), so no other stream moves and
 * the same seed rebuilds the same synapses (they are not checkpointed: a run resumed or
 * evaluated rebuilds them from the scenario's seed).
 *
 * Storage (CSR by presynaptic neuron): row i of `start`/`col` lists neuron i's targets in
 * increasing order, and w[k], grad[k] are synapse k's weight and gradient: the optimizer,
 * the checkpoint (w:NAME, shape (nnz)) and weight decay see only existing synapses.
 * Memory is O(synapses): start (n_pre + 1), col and w (nnz each), and grad (nnz) once
 * learning asks for it (oz_projection_grad); drawing fixed_indegree connectivity holds a
 * second (nnz) int array until the rows are sorted.
 *
 * Every product runs over the rows: delivery scatters row i of a spike (event-driven) or a
 * real value (static current, noisy frames) into the target's accumulator, one sample at a
 * time, so the sums are in a fixed order whatever the thread count; the gradient
 * grad[k] += Σ_b â[b,i]·g_u[b,col[k]] and the chain out[b,i] += Σ_k down[b,col[k]]·C[k]
 * gather along row i.  SynOps are the synapses reached: Σ over transmitted spikes of the
 * neuron's out-degree (in a dense noisy frame, the spikes are the presynaptic model's
 * clean spikes).  There is no delta path: a spike costs its out-degree, already small.
 *
 * NIR (docs/INTEROP.md): exported as the Affine of its dense equivalent, absent synapses
 * zero, which is lossless (the products are the same: a zero weight adds nothing); NIR has
 * no sparse connectivity, so the file comes back as a dense projection, and this kind
 * claims no node.  The dense matrix is built for the export, n_pre × n_post floats.
 */
#include "neurons/oz-projection.h"

#include "engine/oz-par.h"
#include <math.h>
#include <string.h>

typedef struct {
    int connectivity; /* 0: fixed_indegree, 1: pairwise */
    int indegree;
    double p;
} SparseParams;

static const OzParamSpec sparse_params[] = {
    {"connectivity", OZ_PARAM_ENUM, offsetof(SparseParams, connectivity), 0, 0,
     "fixed_indegree|pairwise", "fixed_indegree",
     "sparse: indegree partners per postsynaptic neuron, or each pair with probability p"},
    {"indegree", OZ_PARAM_INT, offsetof(SparseParams, indegree), 1, 1e7, NULL, "10",
     "sparse, fixed_indegree: presynaptic partners of each postsynaptic neuron"},
    {"p", OZ_PARAM_DOUBLE, offsetof(SparseParams, p), 0, 1, NULL, "0.1",
     "sparse, pairwise: connection probability of each pair"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

typedef struct {
    gsize *start;  /* (n_pre + 1) row i is col[start[i] .. start[i+1]) */
    int *col;      /* (nnz) targets */
    float *o;      /* (n_pre) scratch: one sample's clean spikes */
    double fan_in; /* mean in-degree, for the initialisation's bound */
} Sparse;

static gsize degree(const Sparse *s, int i) {
    return s->start[i + 1] - s->start[i];
}

/* fixed_indegree: per postsynaptic neuron j, indegree distinct partners by Floyd's
 * sampling (a bitmap of n_pre marks the ones taken), then a counting sort into rows. */
static void draw_fixed_indegree(OzProjection *p, Sparse *s, OzRng *rng, int k) {
    const int n_pre = p->n_pre, n_post = p->n_post;
    k = MIN(k, n_pre);
    const gsize nnz = (gsize)k * (gsize)n_post;
    int *pre_of = g_new(int, nnz); /* (n_post, k) */
    guint8 *taken = g_new0(guint8, n_pre);
    s->start = g_new0(gsize, (gsize)n_pre + 1);
    for (int j = 0; j < n_post; j++) {
        int *row = pre_of + (gsize)j * k;
        for (int m = 0; m < k; m++) {
            int r = n_pre - k + m;
            int t = (int)oz_rng_below(rng, (guint64)r + 1);
            row[m] = taken[t] ? r : t;
            taken[row[m]] = 1;
        }
        for (int m = 0; m < k; m++) {
            taken[row[m]] = 0;
            s->start[row[m] + 1]++;
        }
    }
    for (int i = 0; i < n_pre; i++)
        s->start[i + 1] += s->start[i];
    /* Postsynaptic neurons in increasing order, so each row's targets are sorted. */
    gsize *fill = g_memdup2(s->start, sizeof(gsize) * (gsize)n_pre);
    s->col = g_new(int, nnz);
    for (int j = 0; j < n_post; j++)
        for (int m = 0; m < k; m++)
            s->col[fill[pre_of[(gsize)j * k + m]]++] = j;
    g_free(fill);
    g_free(taken);
    g_free(pre_of);
    p->nw = nnz;
    s->fan_in = k;
}

/* pairwise: row by row, the gaps between connected targets are geometric, so the draw
 * costs O(synapses), not O(n_pre · n_post). */
static void draw_pairwise(OzProjection *p, Sparse *s, OzRng *rng, double prob) {
    const int n_pre = p->n_pre, n_post = p->n_post;
    GArray *cols = g_array_new(FALSE, FALSE, sizeof(int));
    s->start = g_new0(gsize, (gsize)n_pre + 1);
    const double log_q = prob < 1.0 ? log1p(-prob) : 0.0;
    for (int i = 0; i < n_pre && prob > 0.0; i++) {
        for (gint64 j = -1;;) {
            if (prob >= 1.0) {
                j++;
            } else {
                double u = 1.0 - oz_rng_uniform(rng); /* (0, 1] */
                double gap = floor(log(u) / log_q);
                j += 1 + (gap < (double)n_post ? (gint64)gap : n_post);
            }
            if (j >= n_post)
                break;
            int c = (int)j;
            g_array_append_val(cols, c);
        }
        s->start[i + 1] = cols->len;
    }
    for (int i = 0; prob <= 0.0 && i < n_pre; i++)
        s->start[i + 1] = 0;
    p->nw = cols->len;
    s->col = (int *)g_array_free(cols, FALSE);
    s->fan_in = prob * n_pre;
}

static void sparse_alloc(OzProjection *p) {
    Sparse *s = p->kstate;
    const SparseParams *sp = p->kparams;
    g_autofree char *purpose = g_strdup_printf("sparse:%s", p->name);
    OzRng rng;
    oz_rng_init(&rng, p->p.seed, purpose);
    if (sp->connectivity == 0)
        draw_fixed_indegree(p, s, &rng, sp->indegree);
    else
        draw_pairwise(p, s, &rng, sp->p);
    s->o = g_new0(float, p->n_pre);
    /* At least one float, so that an empty projection still has a tensor. */
    p->w = g_new0(float, MAX(p->nw, 1));
}

static void sparse_free(OzProjection *p) {
    Sparse *s = p->kstate;
    g_clear_pointer(&s->start, g_free);
    g_clear_pointer(&s->col, g_free);
    g_clear_pointer(&s->o, g_free);
    g_clear_pointer(&p->w, g_free);
}

static int sparse_shape(const OzProjection *p, gsize dims[2]) {
    dims[0] = p->nw;
    dims[1] = 0;
    return 1;
}

/* out (nnz) ~ [projection] init, with the mean in-degree as the fan-in. */
static void sparse_draw_like_weights(const OzProjection *p, OzRng *rng, float *out) {
    const Sparse *s = p->kstate;
    /* fan_out: the mean out-degree. */
    const double fan_out = MAX((double)p->nw / MAX(p->n_pre, 1), 1.0);
    oz_projection_draw_init(p, rng, out, p->nw, MAX(s->fan_in, 1.0), fan_out);
}

static void sparse_init(OzProjection *p, OzRng *rng) {
    sparse_draw_like_weights(p, rng, p->w);
}

typedef struct {
    const OzProjection *p;
    const float *s;          /* (B, n_pre) real values, or NULL */
    const int *idx, *counts; /* spike lists, when s is NULL */
    const float *mult;       /* (B, n_pre) events per list entry, or NULL: one each */
    float val;
    float *acc; /* (B, n_post) */
} ScatterJob;

/* acc[b] += Σ_i s[b,i] · W[i,:] over the rows with s ≠ 0 (or val · W[i,:] over the
 * sample's spikes), for the samples [begin, end). */
static void scatter_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const ScatterJob *j = ctx;
    const OzProjection *p = j->p;
    const Sparse *s = p->kstate;
    const int n_pre = p->n_pre, n_post = p->n_post;
    const float *w = oz_projection_forward_w(p);
    for (gsize b = begin; b < end; b++) {
        float *a = j->acc + b * n_post;
        const int n = j->s ? n_pre : j->counts[b];
        for (int m = 0; m < n; m++) {
            const int i = j->s ? m : j->idx[b * n_pre + m];
            const float d = j->s     ? j->s[b * n_pre + i]
                            : j->mult ? j->mult[b * n_pre + m]
                                      : j->val;
            if (d == 0.0f)
                continue;
            for (gsize k = s->start[i]; k < s->start[i + 1]; k++)
                a[s->col[k]] += d * w[k];
        }
    }
}

static void scatter(const OzProjection *p, const float *values, float *acc, int rows) {
    ScatterJob j = {.p = p, .s = values, .acc = acc};
    oz_par_for((gsize)rows, 1, scatter_rows, &j);
}

/* The synapses a dense frame's spikes reach: the presynaptic model's clean spikes, or,
 * for a model that cannot say, the frame's spike count times the mean out-degree. */
static guint64 dense_frame_synops(const OzProjection *p, const OzFrame *f, int rows) {
    const Sparse *s = p->kstate;
    if (!p->pre->ops->clean_spikes)
        return (guint64)llround((double)f->nspikes * (double)p->nw / MAX(p->n_pre, 1));
    guint64 n = 0;
    for (int b = 0; b < rows; b++) {
        p->pre->ops->clean_spikes(p->pre, f, (gsize)b, s->o);
        for (int i = 0; i < p->n_pre; i++)
            if (s->o[i] != 0.0f)
                n += degree(s, i);
    }
    return n;
}

static void sparse_deliver(OzProjection *p, OzFrame *f, float *acc) {
    const Sparse *s = p->kstate;
    const int rows = p->pre->active_samples;
    const gsize bn = (gsize)rows * p->n_post;
    switch (f->kind) {
    case OZ_FRAME_EMPTY:
        return;
    case OZ_FRAME_DENSE_STATIC:
        if (!p->cache_valid) {
            memset(p->cache, 0, sizeof(float) * bn);
            scatter(p, f->s, p->cache, rows);
            p->cache_valid = TRUE;
            p->dense_macs += (guint64)rows * p->nw;
        }
        oz_par_add(acc, p->cache, bn);
        return;
    case OZ_FRAME_DENSE:
        p->synops += dense_frame_synops(p, f, rows);
        p->row_fetches += f->nspikes;
        scatter(p, f->s, acc, rows);
        p->dense_macs += (guint64)rows * p->nw;
        p->packets_dense++;
        return;
    case OZ_FRAME_SPIKES:
        break;
    }
    p->row_fetches += f->nspikes;
    if (f->nspikes == 0)
        return;
    const int *idx = oz_frame_index(f, rows, p->n_pre);
    /* An entry of c events (f->mult, value 1) is c synaptic events per synapse. */
    g_assert(!f->mult || f->value == 1.0f);
    for (int b = 0; b < rows; b++)
        for (int m = 0; m < f->counts[b]; m++) {
            const gsize at = (gsize)b * p->n_pre + m;
            p->synops += degree(s, idx[at]) * (f->mult ? (guint64)f->mult[at] : 1u);
        }
    ScatterJob j = {
        .p = p, .idx = idx, .counts = f->counts, .mult = f->mult, .val = f->value, .acc = acc};
    oz_par_for((gsize)rows, 1, scatter_rows, &j);
    p->packets_event++;
}

typedef struct {
    const OzProjection *p;
    float *grad;
    const float *pre, *g;
    const float *c; /* chain: C in w's layout */
    float *out;     /* chain: (rows, n_pre) */
    int rows;
} RowJob;

/* grad[k] += Σ_b pre[b,i] · g_u[b,col[k]] for the rows [begin, end) (each row writes its
 * own synapses, summing the samples in order). */
static void grad_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowJob *j = ctx;
    const OzProjection *p = j->p;
    const Sparse *s = p->kstate;
    for (gsize i = begin; i < end; i++)
        for (int b = 0; b < j->rows; b++) {
            const float a = j->pre[(gsize)b * p->n_pre + i];
            if (a == 0.0f)
                continue;
            const float *g = j->g + (gsize)b * p->n_post;
            for (gsize k = s->start[i]; k < s->start[i + 1]; k++)
                j->grad[k] += a * g[s->col[k]];
        }
}

static guint64 sparse_accumulate(OzProjection *p, float *grad, const float *pre,
                                 const float *g_u, int rows) {
    RowJob j = {.p = p, .grad = grad, .pre = pre, .g = g_u, .rows = rows};
    oz_par_for((gsize)p->n_pre, 16, grad_rows, &j);
    return (guint64)rows * p->nw;
}

/* out[b,i] += Σ_k down[b,col[k]] · C[k] for the rows [begin, end). */
static void chain_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowJob *j = ctx;
    const OzProjection *p = j->p;
    const Sparse *s = p->kstate;
    for (int b = 0; b < j->rows; b++) {
        const float *d = j->g + (gsize)b * p->n_post;
        for (gsize i = begin; i < end; i++) {
            float sum = 0.0f;
            for (gsize k = s->start[i]; k < s->start[i + 1]; k++)
                sum += d[s->col[k]] * j->c[k];
            j->out[(gsize)b * p->n_pre + i] += sum;
        }
    }
}

static guint64 sparse_chain_apply(const OzProjection *p, const float *c, const float *down,
                                  int rows, float *out) {
    RowJob j = {.p = p, .g = down, .c = c ? c : p->w, .out = out, .rows = rows};
    oz_par_for((gsize)p->n_pre, 16, chain_rows, &j);
    return (guint64)rows * p->nw;
}

/* The Affine of W with zeros where no synapse is (oz_nir_export_affine). */
static gboolean sparse_nir_export(OzNirExport *ex, const OzProjection *p, const OzNirLink *link,
                                  GError **error) {
    (void)error;
    const Sparse *s = p->kstate;
    g_autofree float *w = g_new0(float, MAX((gsize)p->n_pre * (gsize)p->n_post, 1));
    for (int i = 0; i < p->n_pre; i++)
        for (gsize k = s->start[i]; k < s->start[i + 1]; k++)
            w[(gsize)i * p->n_post + s->col[k]] = p->w[k];
    oz_nir_export_affine(ex, p, link, w);
    return TRUE;
}

static const OzKindNir sparse_nir = {
    .export_chain = sparse_nir_export,
};

const OzProjectionKindOps oz_projection_kind_sparse = {
    .api_version = OZ_PROJECTION_KIND_API_VERSION,
    .name = "sparse",
    .state_size = sizeof(Sparse),
    .help = "fixed random connectivity, stored by presynaptic neuron (only its synapses)",
    .params = sparse_params,
    .params_size = sizeof(SparseParams),
    .alloc = sparse_alloc,
    .free = sparse_free,
    .shape = sparse_shape,
    .init = sparse_init,
    .draw_like_weights = sparse_draw_like_weights,
    .deliver = sparse_deliver,
    .accumulate = sparse_accumulate,
    .chain_apply = sparse_chain_apply,
    .nir = &sparse_nir,
};

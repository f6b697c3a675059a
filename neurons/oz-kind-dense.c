/* oz-kind-dense.c — the dense projection kind: W (n_pre, n_post) row-major, every pair
 * connected.  Event-driven, delta and BLAS delivery of spike packets.
 *
 * The event path loops samples, then the sample's spikes, adding one weight row per
 * spike.  The delta path does the same with the list of neurons whose transmitted value
 * changed since the previous packet, starting from that packet's current.  The dense path
 * is one sgemm over the active rows.  Each adds in a fixed order, so each is
 * deterministic; they differ from each other only by float rounding (tested to a
 * tolerance).  The gradient and the chain are sgemms; the learner may stage and chunk the
 * gradient (OZ_KIND_DENSE_LAYOUT).
 */
#include "neurons/oz-projection.h"

#include "engine/oz-par.h"
#include "engine/oz-vec.h"
#include <math.h>
#include <string.h>

static void dense_alloc(OzProjection *p) {
    p->nw = (gsize)p->n_pre * (gsize)p->n_post;
    p->w = g_new0(float, p->nw);
}

static void dense_free(OzProjection *p) {
    g_clear_pointer(&p->w, g_free);
}

static int dense_shape(const OzProjection *p, gsize dims[2]) {
    dims[0] = (gsize)p->n_pre;
    dims[1] = (gsize)p->n_post;
    return 2;
}

/* out (nw) ~ [projection] init: U(±init_scale/√n_pre), N(0, init_scale²),
 * N(0, init_scale² · 2/n_post) or zero. */
static void dense_draw_like_weights(const OzProjection *p, OzRng *rng, float *out) {
    /* fan_out = n_post: each presynaptic neuron reaches every postsynaptic one. */
    oz_projection_draw_init(p, rng, out, p->nw, (double)p->n_pre, (double)MAX(p->n_post, 1));
}

static void dense_init(OzProjection *p, OzRng *rng) {
    dense_draw_like_weights(p, rng, p->w);
}

/* The sums of event and delta delivery: for each sample b in [begin, end),
 *   r = base[b] (or 0 when base is NULL) + Σ_k d_k · W[idx_k]
 * over the sample's list (d_k = vals[k], or val when vals is NULL), stored into set[b]
 * and, when add is given, also added into add[b].  Event delivery starts from the
 * target's accumulator and stores into it; delta delivery starts from the previous
 * packet's current (or 0 for a full packet), stores the new current and adds it to the
 * accumulator.
 *
 * Each sample's sums for a block of columns stay in registers while its list adds its
 * weight rows: one load of W per 16 multiply-adds instead of a load and a store of the
 * accumulator as well.  The blocks are the outer loop, so a block of W (n_pre × 128
 * floats, 400 KB at n_pre = 800) stays in L2 across the samples of a part.  Every
 * element still adds d·w over its list in list order, the same operations as a plain
 * per-entry loop.
 *
 * Always inlined into its callers, which pass NULL as a constant where they have no
 * vals, base or add, so none pays for another's branches. */
#define EVENT_VECS 8 /* 128 columns a block */

static inline __attribute__((always_inline)) void add_rows(const OzProjection *p, const int *idx,
                                                           const int *counts, const float *vals,
                                                           float val, const float *base, float *set,
                                                           float *add, gsize begin, gsize end) {
    const int n = p->n_post, n_pre = p->n_pre;
    const float *w = oz_projection_forward_w(p);
    const OzVec16 zero = {0};
    int c0 = 0;
    for (; c0 + 16 * EVENT_VECS <= n; c0 += 16 * EVENT_VECS) {
        for (gsize b = begin; b < end; b++) {
            const gsize at = b * n + c0;
            const int *ib = idx + b * n_pre;
            const float *vb = vals ? vals + b * n_pre : NULL;
            OzVec16 r[EVENT_VECS];
            for (int v = 0; v < EVENT_VECS; v++)
                r[v] = base ? oz_vload16(base + at + 16 * v) : zero;
            for (int k = 0; k < counts[b]; k++) {
                const float d = vb ? vb[k] : val;
                const float *row = w + (gsize)ib[k] * n + c0;
                for (int v = 0; v < EVENT_VECS; v++)
                    r[v] = r[v] + d * oz_vload16(row + 16 * v);
            }
            for (int v = 0; v < EVENT_VECS; v++) {
                oz_vstore16(set + at + 16 * v, r[v]);
                if (add)
                    oz_vstore16(add + at + 16 * v, oz_vload16(add + at + 16 * v) + r[v]);
            }
        }
    }
    for (; c0 + 16 <= n; c0 += 16) {
        for (gsize b = begin; b < end; b++) {
            const gsize at = b * n + c0;
            const int *ib = idx + b * n_pre;
            const float *vb = vals ? vals + b * n_pre : NULL;
            OzVec16 r = base ? oz_vload16(base + at) : zero;
            for (int k = 0; k < counts[b]; k++)
                r = r + (vb ? vb[k] : val) * oz_vload16(w + (gsize)ib[k] * n + c0);
            oz_vstore16(set + at, r);
            if (add)
                oz_vstore16(add + at, oz_vload16(add + at) + r);
        }
    }
    /* The last columns (fewer than 16), accumulated in place in set. */
    for (gsize b = begin; b < end && c0 < n; b++) {
        float *s = set + b * n;
        const int *ib = idx + b * n_pre;
        const float *vb = vals ? vals + b * n_pre : NULL;
        if (!base)
            for (int c = c0; c < n; c++)
                s[c] = 0.0f;
        else if (base + b * n != s)
            for (int c = c0; c < n; c++)
                s[c] = base[b * n + c];
        for (int k = 0; k < counts[b]; k++) {
            const float d = vb ? vb[k] : val;
            for (int c = c0; c < n; c++)
                s[c] += d * w[(gsize)ib[k] * n + c];
        }
        if (add)
            for (int c = c0; c < n; c++)
                add[b * n + c] += s[c];
    }
}

typedef struct {
    const OzProjection *p;
    const int *idx, *counts; /* (B, n_pre) lists and (B) their lengths */
    const float *vals;       /* (B, n_pre) a value per entry (delta lists) */
    float val;               /* the value of every spike (spike lists) */
    float *cur, *acc;        /* (B, n_post) the current (delta state) and the target */
} RowsJob;

/* Event delivery: acc += val · W[spikes]. */
static void event_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowsJob *j = ctx;
    add_rows(j->p, j->idx, j->counts, NULL, j->val, j->acc, j->acc, NULL, begin, end);
}

/* A full packet under delta state: cur = val · W[spikes], acc += cur. */
static void full_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowsJob *j = ctx;
    add_rows(j->p, j->idx, j->counts, NULL, j->val, NULL, j->cur, j->acc, begin, end);
}

/* The same two for a packet whose entries stand for several events each (OzFrame.mult, a
 * counts-mode spike input): entry k adds mult_k · W[idx_k].  Separate functions, so the
 * binary paths above keep their constant NULL. */
static void event_rows_mult(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowsJob *j = ctx;
    add_rows(j->p, j->idx, j->counts, j->vals, 0.0f, j->acc, j->acc, NULL, begin, end);
}

static void full_rows_mult(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowsJob *j = ctx;
    add_rows(j->p, j->idx, j->counts, j->vals, 0.0f, NULL, j->cur, j->acc, begin, end);
}

/* A delta packet: cur += Σ_k Δs_k · W[changed_k], acc += cur. */
static void delta_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const RowsJob *j = ctx;
    add_rows(j->p, j->idx, j->counts, j->vals, 0.0f, j->cur, j->cur, j->acc, begin, end);
}

static void deliver_events(OzProjection *p, OzFrame *f, float *acc, int rows) {
    RowsJob j = {.p = p,
                 .idx = oz_frame_index(f, rows, p->n_pre),
                 .counts = f->counts,
                 .vals = f->mult,
                 .val = f->value,
                 .acc = acc};
    oz_par_for((gsize)rows, 1, f->mult ? event_rows_mult : event_rows, &j);
}

/* Builds a delta packet's change lists (not the learner's sparse chunks). */
typedef struct {
    OzProjection *p;
    const float *s;
    guint64 part_changes[OZ_PAR_MAX_THREADS];
} DeltaChangeJob;

/* The change lists of samples [begin, end): neurons whose transmitted value differs from
 * the previous packet's, with the difference; s_prev becomes this packet. */
static void change_rows(void *ctx, int part, gsize begin, gsize end) {
    DeltaChangeJob *j = ctx;
    OzProjection *p = j->p;
    const int n = p->n_pre;
    guint64 total = 0;
    for (gsize b = begin; b < end; b++) {
        const float *s = j->s + b * n;
        float *sp = p->s_prev + b * n, *dv = p->dval + b * n;
        int *di = p->didx + b * n;
        const int cnt = oz_list_changes(s, sp, n, di, dv);
        p->dcount[b] = cnt;
        total += (guint64)cnt;
    }
    j->part_changes[part] = total;
}

/* A spike packet through a projection that keeps delta state.  The full paths leave the
 * current in cur as well, for the next packet's change. */
static void deliver_with_delta(OzProjection *p, OzFrame *f, float *acc, int rows) {
    const gsize cells = (gsize)rows * (gsize)p->n_pre;
    const gboolean can_delta =
        p->have_prev && (p->p.delta_refresh <= 0 || p->delta_run < p->p.delta_refresh);
    guint64 changes = 0;
    if (can_delta) {
        DeltaChangeJob cj = {.p = p, .s = f->s};
        oz_par_for((gsize)rows, 1, change_rows, &cj);
        for (int k = 0; k < oz_par_threads(); k++)
            changes += cj.part_changes[k];
    } else {
        oz_par_copy(p->s_prev, f->s, cells);
    }
    enum { FULL_DENSE, FULL_EVENT, DELTA } how;
    if (p->p.delivery == OZ_DELIVERY_DELTA) {
        how = can_delta ? DELTA : FULL_EVENT;
    } else {
        guint64 shortest = can_delta ? MIN(changes, f->nspikes) : f->nspikes;
        if ((double)shortest / (double)cells >= (double)p->p.dense_threshold)
            how = FULL_DENSE;
        else
            how = can_delta && changes < f->nspikes ? DELTA : FULL_EVENT;
    }
    switch (how) {
    case FULL_DENSE:
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre,
                 oz_projection_forward_w(p), p->n_post, 0.0f, p->cur, p->n_post);
        oz_par_add(acc, p->cur, (gsize)rows * p->n_post);
        p->packets_dense++;
        p->spike_dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
        p->delta_run = 0;
        break;
    case FULL_EVENT: {
        RowsJob j = {.p = p,
                     .idx = oz_frame_index(f, rows, p->n_pre),
                     .counts = f->counts,
                     .vals = f->mult,
                     .val = f->value,
                     .cur = p->cur,
                     .acc = acc};
        oz_par_for((gsize)rows, 1, f->mult ? full_rows_mult : full_rows, &j);
        p->packets_event++;
        p->delta_run = 0;
        break;
    }
    case DELTA: {
        RowsJob j = {.p = p,
                     .idx = p->didx,
                     .counts = p->dcount,
                     .vals = p->dval,
                     .cur = p->cur,
                     .acc = acc};
        oz_par_for((gsize)rows, 1, delta_rows, &j);
        p->packets_delta++;
        p->delta_rows += changes;
        p->delta_run++;
        break;
    }
    }
    p->have_prev = TRUE;
}

static void dense_deliver(OzProjection *p, OzFrame *f, float *acc) {
    const int rows = p->pre->active_samples;
    switch (f->kind) {
    case OZ_FRAME_EMPTY:
        return;
    case OZ_FRAME_DENSE_STATIC:
        if (!p->cache_valid) {
            oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre,
                     oz_projection_forward_w(p), p->n_post, 0.0f, p->cache, p->n_post);
            p->cache_valid = TRUE;
            p->dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
        }
        oz_par_add(acc, p->cache, (gsize)rows * p->n_post);
        return;
    case OZ_FRAME_DENSE:
        p->have_prev = FALSE; /* the next spike packet cannot be a change from this one */
        /* Spikes carried inside a dense (noisy) frame still count as synaptic events;
         * the dense product that carries the probe is counted as MACs. */
        p->synops += f->nspikes * (guint64)p->n_post;
        p->row_fetches += f->nspikes;
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre,
                 oz_projection_forward_w(p), p->n_post, 1.0f, acc, p->n_post);
        p->dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
        p->packets_dense++;
        return;
    case OZ_FRAME_SPIKES:
        break;
    }
    /* nspikes counts events: a multi-event entry (f->mult) is that many synaptic events. */
    g_assert(!f->mult || f->value == 1.0f);
    p->synops += f->nspikes * (guint64)p->n_post;
    p->row_fetches += f->nspikes;
    if (f->nspikes == 0) {
        p->have_prev = FALSE; /* its current is zero: the next packet goes in full */
        return;
    }
    if (p->cur && p->p.delivery != OZ_DELIVERY_EVENT && p->p.delivery != OZ_DELIVERY_DENSE) {
        deliver_with_delta(p, f, acc, rows);
        return;
    }
    gboolean dense;
    switch (p->p.delivery) {
    case OZ_DELIVERY_EVENT:
        dense = FALSE;
        break;
    case OZ_DELIVERY_DENSE:
        dense = TRUE;
        break;
    default: {
        double density = (double)f->nspikes / ((double)rows * (double)p->n_pre);
        dense = density >= (double)p->p.dense_threshold;
        break;
    }
    }
    if (dense) {
        /* s already holds the transmitted value (dropout scale included). */
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre,
                 oz_projection_forward_w(p), p->n_post, 1.0f, acc, p->n_post);
        p->packets_dense++;
        p->spike_dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
    } else {
        deliver_events(p, f, acc, rows);
        p->packets_event++;
    }
}

/* grad (n_pre, n_post) += preᵀ (n_pre, rows) · g_u (rows, n_post) */
static guint64 dense_accumulate(OzProjection *p, float *grad, const float *pre, const float *g_u,
                                int rows) {
    oz_sgemm(CblasTrans, CblasNoTrans, p->n_pre, p->n_post, rows, 1.0f, pre, p->n_pre, g_u,
             p->n_post, 1.0f, grad, p->n_post);
    return (guint64)rows * p->nw;
}

/* out (rows, n_pre) += down (rows, n_post) · Cᵀ */
static guint64 dense_chain_apply(const OzProjection *p, const float *c, const float *down, int rows,
                                 float *out) {
    oz_sgemm(CblasNoTrans, CblasTrans, rows, p->n_pre, p->n_post, 1.0f, down, p->n_post,
             c ? c : p->w, p->n_post, 1.0f, out, p->n_pre);
    return (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
}

/* Output unit j's fan-in is column j of W (n_pre, n_post). */
static void dense_fan_in(const OzProjection *p, OzFanIn *out) {
    *out = (OzFanIn){.units = (gsize)p->n_post,
                     .fan_in = (gsize)p->n_pre,
                     .unit_stride = 1,
                     .elem_stride = (gsize)p->n_post};
}

/* ---- NIR (docs/INTEROP.md) ---- */

/* An Affine (or Linear) node (out, in) = Wᵀ times the target's gain; an Affine's bias onto
 * the target's, unless the target's bias is exact. */
static gboolean dense_nir_import(OzNirProjImport *im, GError **error) {
    const OzNirNode *w = im->weights;
    const OzNirField *wf = oz_nir_need(w, "weight", error);
    if (!wf)
        return FALSE;
    const int nin = im->src_n, nout = im->dst_n;
    if (wf->rank != 2 || (int)wf->dims[0] != nout || (int)wf->dims[1] != nin) {
        g_autofree char *got = wf->rank == 2
                                   ? g_strdup_printf("(%zu, %zu)", wf->dims[0], wf->dims[1])
                                   : g_strdup_printf("%d dimensions", wf->rank);
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "node '%s' (%s): weight has shape %s, expected (out, in) = (%d, %d) for "
                    "'%s' -> '%s' (a shape mismatch)",
                    w->name, w->type, got, nout, nin, im->src_name, im->dst_name);
        return FALSE;
    }
    const OzNirField *exact = oz_nir_field_find(w->meta, "opzosim_weight");
    const OzNirField *bf = oz_nir_field_find(w->fields, "bias");
    im->nw = (gsize)nin * (gsize)nout;
    im->w = g_new(float, MAX(im->nw, 1));
    /* NIR's (out, in) into opzosim's (n_pre, n_post). */
    for (int i = 0; i < nin; i++)
        for (int o = 0; o < nout; o++) {
            gsize k = (gsize)i * nout + o;
            im->w[k] = exact && exact->n == im->nw ? (float)exact->v[k]
                                                   : (float)(wf->v[(gsize)o * nin + i] * im->gain);
        }
    if (strcmp(w->type, "Affine") == 0 && bf && bf->v && bf->n == (gsize)nout && !im->exact_bias)
        for (int o = 0; o < nout; o++)
            if (bf->v[o] != 0.0) {
                im->dst_bias[o] += (float)(bf->v[o] * im->gain);
                *im->dst_has_bias = TRUE;
            }
    return TRUE;
}

/* [Flatten] → Affine (n_post, n_pre) = (scale·W)ᵀ, the normalisation folded in
 * (oz_nir_export_affine). */
static gboolean dense_nir_export(OzNirExport *ex, const OzProjection *p, const OzNirLink *link,
                                 GError **error) {
    (void)error;
    oz_nir_export_affine(ex, p, link, p->w);
    return TRUE;
}

static const char *const dense_nir_types[] = {"Affine", "Linear", NULL};
static const OzKindNir dense_nir = {
    .node_types = dense_nir_types,
    .import_chain = dense_nir_import,
    .export_chain = dense_nir_export,
};

const OzProjectionKindOps oz_projection_kind_dense = {
    .api_version = OZ_PROJECTION_KIND_API_VERSION,
    .name = "dense",
    .help = "every presynaptic neuron to every postsynaptic one: W (n_pre, n_post)",
    .caps = OZ_KIND_DENSE_LAYOUT,
    .alloc = dense_alloc,
    .free = dense_free,
    .shape = dense_shape,
    .init = dense_init,
    .draw_like_weights = dense_draw_like_weights,
    .deliver = dense_deliver,
    .accumulate = dense_accumulate,
    .chain_apply = dense_chain_apply,
    .fan_in = dense_fan_in,
    .nir = &dense_nir,
};

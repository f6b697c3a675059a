/* oz-projection.c — event-driven, delta and BLAS delivery of spike packets.
 *
 * The event path loops samples, then the sample's spikes, adding one weight row per
 * spike.  The delta path does the same with the list of neurons whose transmitted value
 * changed since the previous packet, starting from that packet's current.  The dense path
 * is one sgemm over the active rows.  Each adds in a fixed order, so each is
 * deterministic; they differ from each other only by float rounding (tested to a
 * tolerance).
 */
#include "oz-projection.h"

#include "engine/oz-par.h"
#include "engine/oz-vec.h"
#include <math.h>
#include <string.h>

OzProjection *oz_projection_new(const char *name, OzPopulation *pre, OzPopulation *post,
                                const OzProjectionParams *params) {
    g_return_val_if_fail(pre && post && params && params->delay_ticks >= 0, NULL);
    g_return_val_if_fail(pre->batch == post->batch, NULL);
    OzProjection *p = g_new0(OzProjection, 1);
    p->name = g_strdup(name);
    p->pre = pre;
    p->post = post;
    p->n_pre = pre->n;
    p->n_post = post->n;
    p->p = *params;
    gsize nw = (gsize)p->n_pre * (gsize)p->n_post;
    p->w = g_new0(float, nw);
    p->grad = g_new0(float, nw);
    p->cache = g_new0(float, (gsize)pre->batch *(gsize)p->n_post);
    /* Delta state only where spike packets can arrive and delta delivery may be used. */
    gboolean spiking = strcmp(pre->ops->name, "input") != 0 ||
                       pre->p.encoding == OZ_ENCODING_BERNOULLI;
    gboolean delta = params->delivery == OZ_DELIVERY_DELTA ||
                     (params->delivery == OZ_DELIVERY_AUTO && params->delta);
    if (spiking && delta) {
        gsize bpre = (gsize)pre->batch * (gsize)p->n_pre;
        p->cur = g_new0(float, (gsize)pre->batch * (gsize)p->n_post);
        p->s_prev = g_new0(float, bpre);
        p->didx = g_new0(int, bpre);
        p->dval = g_new0(float, bpre);
        p->dcount = g_new0(int, pre->batch);
    }
    return p;
}

void oz_projection_free(OzProjection *p) {
    if (!p)
        return;
    g_free(p->name);
    g_free(p->w);
    g_free(p->grad);
    g_free(p->cache);
    g_free(p->cur);
    g_free(p->s_prev);
    g_free(p->didx);
    g_free(p->dval);
    g_free(p->dcount);
    g_free(p);
}

void oz_projection_init_weights(OzProjection *p, OzRng *rng) {
    gsize nw = (gsize)p->n_pre * (gsize)p->n_post;
    switch (p->p.init) {
    case OZ_INIT_UNIFORM: {
        double bound = p->p.init_scale / sqrt((double)p->n_pre);
        for (gsize i = 0; i < nw; i++)
            p->w[i] = (float)((2.0 * oz_rng_uniform(rng) - 1.0) * bound);
        break;
    }
    case OZ_INIT_NORMAL:
        for (gsize i = 0; i < nw; i++)
            p->w[i] = (float)(oz_rng_gauss(rng) * p->p.init_scale);
        break;
    case OZ_INIT_ZERO:
    case OZ_INIT_COUNT:
        memset(p->w, 0, nw * sizeof(float));
        break;
    }
    p->cache_valid = FALSE;
}

void oz_projection_reset(OzProjection *p) {
    p->cache_valid = FALSE;
    p->have_prev = FALSE;
    p->delta_run = 0;
}

void oz_projection_counters_clear(OzProjection *p) {
    p->synops = p->row_fetches = p->dense_macs = p->update_macs = 0;
    p->packets_event = p->packets_dense = p->spike_dense_macs = 0;
    p->packets_delta = p->delta_rows = 0;
}

typedef struct {
    const OzProjection *p;
    const int *idx, *counts;
    float *acc;
    float val;
} EventJob;

/* Event-driven delivery keeps each sample's accumulators for a block of columns in
 * registers while its spikes add their weight rows: one load of W per 16 multiply-adds
 * instead of a load and a store of the accumulator as well.  The blocks are the outer
 * loop, so a block of W (n_pre × 128 floats, 400 KB at n_pre = 800) stays in L2 across
 * the samples of a part.  Every accumulator element still adds val·w over its spikes in
 * ascending presynaptic order, the same operations as a plain per-spike loop. */
#define EVENT_VECS 8 /* 128 columns a block */

static void event_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const EventJob *j = ctx;
    const int n = j->p->n_post, n_pre = j->p->n_pre;
    const float val = j->val;
    const float *w = j->p->w;
    int c0 = 0;
    for (; c0 + 16 * EVENT_VECS <= n; c0 += 16 * EVENT_VECS) {
        for (gsize b = begin; b < end; b++) {
            float *a = j->acc + b * n + c0;
            const int *idx = j->idx + b * n_pre;
            OzVec16 r[EVENT_VECS];
            for (int v = 0; v < EVENT_VECS; v++)
                r[v] = oz_vload16(a + 16 * v);
            for (int k = 0; k < j->counts[b]; k++) {
                const float *row = w + (gsize)idx[k] * n + c0;
                for (int v = 0; v < EVENT_VECS; v++)
                    r[v] = r[v] + val * oz_vload16(row + 16 * v);
            }
            for (int v = 0; v < EVENT_VECS; v++)
                oz_vstore16(a + 16 * v, r[v]);
        }
    }
    for (; c0 + 16 <= n; c0 += 16) {
        for (gsize b = begin; b < end; b++) {
            float *a = j->acc + b * n + c0;
            const int *idx = j->idx + b * n_pre;
            OzVec16 r = oz_vload16(a);
            for (int k = 0; k < j->counts[b]; k++)
                r = r + val * oz_vload16(w + (gsize)idx[k] * n + c0);
            oz_vstore16(a, r);
        }
    }
    for (gsize b = begin; b < end && c0 < n; b++) {
        float *a = j->acc + b * n;
        const int *idx = j->idx + b * n_pre;
        for (int k = 0; k < j->counts[b]; k++)
            for (int c = c0; c < n; c++)
                a[c] += val * w[(gsize)idx[k] * n + c];
    }
}

static void deliver_events(OzProjection *p, OzFrame *f, float *acc, int rows) {
    EventJob j = {p, oz_frame_index(f, rows, p->n_pre), f->counts, acc, f->value};
    oz_par_for((gsize)rows, 1, event_rows, &j);
}

/* The sums of delta mode: for each sample, sum = base + Σ_k v_k · W[idx_k] (base: the
 * previous packet's current, or zero for a full packet; v_k: the change of neuron idx_k,
 * or the spike value), stored as the new current and added to the target's input.  The
 * same register blocking as event_rows. */
typedef struct {
    const OzProjection *p;
    const int *idx, *counts; /* (B, n_pre) lists and (B) their lengths */
    const float *vals;       /* (B, n_pre) a value per entry, or NULL: every entry is val */
    float val;
    gboolean from_cur; /* base = cur (delta), else 0 (full packet) */
    float *cur, *acc;
} SumJob;

static void sum_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const SumJob *j = ctx;
    const int n = j->p->n_post, n_pre = j->p->n_pre;
    const float *w = j->p->w;
    const OzVec16 zero = {0};
    int c0 = 0;
    for (; c0 + 16 * EVENT_VECS <= n; c0 += 16 * EVENT_VECS) {
        for (gsize b = begin; b < end; b++) {
            float *cur = j->cur + b * n + c0, *a = j->acc + b * n + c0;
            const int *idx = j->idx + b * n_pre;
            const float *vals = j->vals ? j->vals + b * n_pre : NULL;
            OzVec16 r[EVENT_VECS];
            for (int v = 0; v < EVENT_VECS; v++)
                r[v] = j->from_cur ? oz_vload16(cur + 16 * v) : zero;
            for (int k = 0; k < j->counts[b]; k++) {
                const float d = vals ? vals[k] : j->val;
                const float *row = w + (gsize)idx[k] * n + c0;
                for (int v = 0; v < EVENT_VECS; v++)
                    r[v] = r[v] + d * oz_vload16(row + 16 * v);
            }
            for (int v = 0; v < EVENT_VECS; v++) {
                oz_vstore16(cur + 16 * v, r[v]);
                oz_vstore16(a + 16 * v, oz_vload16(a + 16 * v) + r[v]);
            }
        }
    }
    for (; c0 + 16 <= n; c0 += 16) {
        for (gsize b = begin; b < end; b++) {
            float *cur = j->cur + b * n + c0, *a = j->acc + b * n + c0;
            const int *idx = j->idx + b * n_pre;
            const float *vals = j->vals ? j->vals + b * n_pre : NULL;
            OzVec16 r = j->from_cur ? oz_vload16(cur) : zero;
            for (int k = 0; k < j->counts[b]; k++)
                r = r + (vals ? vals[k] : j->val) * oz_vload16(w + (gsize)idx[k] * n + c0);
            oz_vstore16(cur, r);
            oz_vstore16(a, oz_vload16(a) + r);
        }
    }
    for (gsize b = begin; b < end && c0 < n; b++) {
        float *cur = j->cur + b * n, *a = j->acc + b * n;
        const int *idx = j->idx + b * n_pre;
        const float *vals = j->vals ? j->vals + b * n_pre : NULL;
        if (!j->from_cur)
            for (int c = c0; c < n; c++)
                cur[c] = 0.0f;
        for (int k = 0; k < j->counts[b]; k++) {
            const float d = vals ? vals[k] : j->val;
            for (int c = c0; c < n; c++)
                cur[c] += d * w[(gsize)idx[k] * n + c];
        }
        for (int c = c0; c < n; c++)
            a[c] += cur[c];
    }
}

typedef struct {
    OzProjection *p;
    const float *s;
    guint64 part_changes[OZ_PAR_MAX_THREADS];
} ChangeJob;

/* The change lists of samples [begin, end): neurons whose transmitted value differs from
 * the previous packet's, with the difference; s_prev becomes this packet. */
static void change_rows(void *ctx, int part, gsize begin, gsize end) {
    ChangeJob *j = ctx;
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
        ChangeJob cj = {.p = p, .s = f->s};
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
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre, p->w,
                 p->n_post, 0.0f, p->cur, p->n_post);
        oz_par_add(acc, p->cur, (gsize)rows * p->n_post);
        p->packets_dense++;
        p->spike_dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
        p->delta_run = 0;
        break;
    case FULL_EVENT: {
        SumJob j = {p, oz_frame_index(f, rows, p->n_pre), f->counts, NULL, f->value, FALSE,
                    p->cur, acc};
        oz_par_for((gsize)rows, 1, sum_rows, &j);
        p->packets_event++;
        p->delta_run = 0;
        break;
    }
    case DELTA: {
        SumJob j = {p, p->didx, p->dcount, p->dval, 0.0f, TRUE, p->cur, acc};
        oz_par_for((gsize)rows, 1, sum_rows, &j);
        p->packets_delta++;
        p->delta_rows += changes;
        p->delta_run++;
        break;
    }
    }
    p->have_prev = TRUE;
}

void oz_projection_deliver(OzProjection *p, OzFrame *f, float *acc) {
    const int rows = p->pre->active_samples;
    switch (f->kind) {
    case OZ_FRAME_EMPTY:
        return;
    case OZ_FRAME_DENSE_STATIC:
        if (!p->cache_valid) {
            oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre,
                     p->w, p->n_post, 0.0f, p->cache, p->n_post);
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
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre, p->w,
                 p->n_post, 1.0f, acc, p->n_post);
        p->dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
        p->packets_dense++;
        return;
    case OZ_FRAME_SPIKES:
        break;
    }
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
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, p->n_post, p->n_pre, 1.0f, f->s, p->n_pre, p->w,
                 p->n_post, 1.0f, acc, p->n_post);
        p->packets_dense++;
        p->spike_dense_macs += (guint64)rows * (guint64)p->n_pre * (guint64)p->n_post;
    } else {
        deliver_events(p, f, acc, rows);
        p->packets_event++;
    }
}

/* oz-kind-conv2d.c — the conv2d projection kind: a 2-D convolution from a population shaped
 * C_in,H,W to one shaped C_out,H′,W′, optionally reading the presynaptic map through a
 * fixed average or sum pool (docs/ALGORITHM.md §3.5; docs/EXTENDING.md, "The conv2d
 * kind").
 *
 * Keys: kernel k, stride s, padding pad, pool (none, avg, sum) and pool_size p.  With a
 * pool the kernel reads the pooled map (C_in, ⌊H/p⌋, ⌊W/p⌋): non-overlapping p×p windows,
 * each the mean (avg) or the sum of its spikes; rows and columns past the last whole window
 * are dropped.  Pooling is linear, so a pooled convolution is one linear map of the
 * presynaptic spikes — the dense matrix it unrolls to is the pool's times the
 * convolution's — and the pool needs no population of its own: probes, M, B and LL
 * readouts stay on the spiking population.  H′ = ⌊(H_pooled + 2·pad − k)/s⌋ + 1, likewise
 * W′; configure checks the target's shape against it and names the key to blame.
 *
 * Weights: W (C_out, C_in, k, k) row-major, the checkpoint's and the optimizer's tensor,
 * shape (C_out, C_in·k·k): a row is one output channel's fan-in.  No weights are shared
 * with anything; the bias stays the population's (per neuron).
 *
 * Delivery, per packet:
 *   event-driven — each spike at (c, y, x) goes to its pooled position q (or nowhere when
 *     cropped), scaled by 1/p² for avg, and scatters its kernel slice W[:, c, ky, kx] into
 *     every output position it reaches (a precomputed list per q: borders and stride
 *     decide which).  The slices are read from Wt (C_in·k·k, C_out), a transposed copy
 *     of W refreshed by the reset slot, into a per-sample accumulator laid out
 *     (position, C_out), added into the target at the end of the sample.
 *   im2col — real-valued frames (the static input current, OPZO's and ZO's noisy
 *     frames) and spike packets at or above dense_threshold: per sample the pooled map,
 *     its im2col matrix col (C_in·k·k, H′·W′), and acc (C_out, H′·W′) += W · col by one
 *     cblas_sgemm.  Samples are split across the team, each part with its own col: the
 *     buffer is (threads × C_in·k·k·H′·W′) floats, allocated once, whatever T.
 *   A spike packet takes im2col when its density is at least the key im2col_threshold
 *   (default 0.4: bench/oz-bench-conv puts the crossover of a 64 → 128, 3×3 layer on
 *   14×14 near 40%, docs/PERFORMANCE.md), not [run] dense_threshold, which is the dense
 *   kind's crossover; delivery = event or dense forces a path.
 * SynOps are exact: a spike counts C_out × the output positions it reaches; a dense frame's
 * spikes are the presynaptic model's clean spikes.
 *
 * Learning: accumulate ∇W (C_out, C_in·k·k) += Σ_b g_u,b (C_out, H′·W′) · col_bᵀ, the
 * correlation of the (pooled) trace with g_u over positions: a chunk of samples' col_b and
 * g_u,b side by side (built in parallel, each buffer at most 8 MB, the chunk fixed by the
 * geometry) and one oz_sgemm with K = chunk·H′·W′ per chunk, in sample order; the
 * chain (bp, fa, sign, shadow BP) is the transposed convolution followed by the transposed
 * pool: col = Cᵀ · down_b, col2im into the pooled map, each pooled value spread over its
 * window (÷p² for avg).  The learner's gradient stages, sparse chunks and delta delivery
 * need W (n_pre, n_post) and are not used for conv2d (no OZ_KIND_DENSE_LAYOUT; delta state
 * is ignored).
 */
#include "neurons/oz-projection.h"

#include "engine/oz-par.h"
#include <math.h>
#include <string.h>

enum { POOL_NONE = 0, POOL_AVG, POOL_SUM };

typedef struct {
    int kernel, stride, padding;
    int pool; /* POOL_NONE, POOL_AVG, POOL_SUM */
    int pool_size;
    double im2col_threshold;
} ConvParams;

static const OzParamSpec conv_params[] = {
    {"kernel", OZ_PARAM_INT, offsetof(ConvParams, kernel), 1, 64, NULL, "3",
     "conv2d: the kernel's side k (a k×k kernel)"},
    {"stride", OZ_PARAM_INT, offsetof(ConvParams, stride), 1, 64, NULL, "1",
     "conv2d: the step between output positions"},
    {"padding", OZ_PARAM_INT, offsetof(ConvParams, padding), 0, 64, NULL, "0",
     "conv2d: zeros added on every border of the (pooled) input map"},
    {"pool", OZ_PARAM_ENUM, offsetof(ConvParams, pool), 0, 0, "none|avg|sum", "none",
     "conv2d: read the presynaptic map through a non-overlapping average or sum pool"},
    {"pool_size", OZ_PARAM_INT, offsetof(ConvParams, pool_size), 1, 64, NULL, "2",
     "conv2d with a pool: the pool's window side (and stride)"},
    {"im2col_threshold", OZ_PARAM_DOUBLE, offsetof(ConvParams, im2col_threshold), 0, 1, NULL,
     "0.4",
     "conv2d, [run] delivery = auto: a spike packet at least this dense goes through im2col "
     "(the crossover, bench/oz-bench-conv)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

/* The geometry of one projection. */
typedef struct {
    int cin, hin, win;   /* the presynaptic map */
    int ps;              /* pool window side (1: no pool) */
    float gain;          /* a spike's weight in its pooled value: 1/ps² (avg) or 1 */
    int hc, wc;          /* the map the kernel reads (pooled) */
    int k, s, pad;
    int cout, ho, wo;
    int kk, ckk, howo, hcwc, hw;
} Geom;

typedef struct {
    Geom g;
    float *wt;        /* (C_in·k·k, C_out) W transposed, for the event path */
    int *pre_q;       /* (hin·win) the pooled position of a presynaptic position, or −1 */
    guint64 *degree;  /* (hin·win) the synapses a spike at that position reaches (any channel) */
    int *reach_start; /* (hc·wc + 1) the output positions position q reaches ... */
    int *reach_pos;   /* ... each an output position oy·wo + ox */
    int *reach_kk;    /* ... through kernel element ky·k + kx */
    int parts;        /* per-part buffers allocated */
    float *col;       /* (parts, ckk·howo) im2col matrices */
    float *map;       /* (parts, cin·hcwc) pooled maps (with a pool) */
    float *scratch;   /* (parts, howo·cout) event accumulators, position-major */
    float *o;         /* (n_pre) one sample's clean spikes, for a dense frame's SynOps */
    int chunk;        /* samples per gradient product (a fixed number: see grad_chunk) */
    float *gcol;      /* (ckk, chunk·howo) the chunk's im2col matrices side by side */
    float *gg;        /* (C_out, chunk·howo) the chunk's g_u side by side */
} Conv;

/* The output side of a convolution over n positions, or ≤ 0 when the kernel does not fit. */
static int out_side(int n, int k, int s, int pad) {
    return n + 2 * pad < k ? 0 : (n + 2 * pad - k) / s + 1;
}

static char *shape_text(int rank, const int *dims) {
    GString *s = g_string_new(NULL);
    for (int d = 0; d < rank; d++)
        g_string_append_printf(s, "%s%d", d ? "," : "", dims[d]);
    return g_string_free(s, FALSE);
}

/* The geometry from the keys and both shapes; FALSE with *key and error when they do not
 * fit. */
static gboolean geometry(const ConvParams *cp, int pre_rank, const int *pre, int post_rank,
                         const int *post, Geom *g, const char **key, GError **error) {
    memset(g, 0, sizeof *g);
    if (pre_rank != 3) {
        g_autofree char *got = shape_text(pre_rank, pre);
        *key = "from";
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "conv2d reads a population shaped C,H,W (shape = C,H,W); it has shape %s",
                    got);
        return FALSE;
    }
    g->cin = pre[0];
    g->hin = pre[1];
    g->win = pre[2];
    g->ps = cp->pool == POOL_NONE ? 1 : cp->pool_size;
    g->gain = cp->pool == POOL_AVG ? 1.0f / (float)(g->ps * g->ps) : 1.0f;
    g->hc = g->hin / g->ps;
    g->wc = g->win / g->ps;
    if (g->hc < 1 || g->wc < 1) {
        *key = "pool_size";
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "a %d×%d pool does not fit the %d×%d map of the presynaptic population",
                    g->ps, g->ps, g->hin, g->win);
        return FALSE;
    }
    g->k = cp->kernel;
    g->s = cp->stride;
    g->pad = cp->padding;
    g->ho = out_side(g->hc, g->k, g->s, g->pad);
    g->wo = out_side(g->wc, g->k, g->s, g->pad);
    if (g->ho < 1 || g->wo < 1) {
        *key = "kernel";
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "a %d×%d kernel with padding %d does not fit the %d×%d input map", g->k,
                    g->k, g->pad, g->hc, g->wc);
        return FALSE;
    }
    const int cout = post_rank >= 1 ? post[0] : 0;
    if (post_rank != 3 || post[1] != g->ho || post[2] != g->wo) {
        g_autofree char *got = shape_text(post_rank, post);
        g_autofree char *pool =
            cp->pool == POOL_NONE
                ? g_strdup("")
                : g_strdup_printf(", %s pool %d", cp->pool == POOL_AVG ? "avg" : "sum", g->ps);
        *key = "to";
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "expected the target's shape C_out,%d,%d (from %d,%d,%d%s, kernel %d, "
                    "stride %d, padding %d); it has shape %s",
                    g->ho, g->wo, g->cin, g->hin, g->win, pool, g->k, g->s, g->pad, got);
        return FALSE;
    }
    g->cout = cout;
    g->kk = g->k * g->k;
    g->ckk = g->cin * g->kk;
    g->howo = g->ho * g->wo;
    g->hcwc = g->hc * g->wc;
    g->hw = g->hin * g->win;
    return TRUE;
}

static gboolean conv_configure(const void *params, int pre_rank, const int *pre_shape,
                               int post_rank, const int *post_shape, const char **key,
                               GError **error) {
    Geom g;
    return geometry(params, pre_rank, pre_shape, post_rank, post_shape, &g, key, error);
}

/* Which output positions each input position q of the kernel's map reaches, and through
 * which kernel element: oy·s − pad + ky = qy, for 0 ≤ oy < ho and 0 ≤ ky < k. */
static void build_reach(Conv *cv) {
    const Geom *g = &cv->g;
    cv->reach_start = g_new0(int, (gsize)g->hcwc + 1);
    GArray *pos = g_array_new(FALSE, FALSE, sizeof(int)), *kk = g_array_new(FALSE, FALSE, sizeof(int));
    for (int qy = 0; qy < g->hc; qy++)
        for (int qx = 0; qx < g->wc; qx++) {
            for (int ky = 0; ky < g->k; ky++) {
                const int ty = qy + g->pad - ky;
                if (ty < 0 || ty % g->s || ty / g->s >= g->ho)
                    continue;
                for (int kx = 0; kx < g->k; kx++) {
                    const int tx = qx + g->pad - kx;
                    if (tx < 0 || tx % g->s || tx / g->s >= g->wo)
                        continue;
                    int at = (ty / g->s) * g->wo + tx / g->s, e = ky * g->k + kx;
                    g_array_append_val(pos, at);
                    g_array_append_val(kk, e);
                }
            }
            cv->reach_start[qy * g->wc + qx + 1] = (int)pos->len;
        }
    cv->reach_pos = (int *)g_array_free(pos, FALSE);
    cv->reach_kk = (int *)g_array_free(kk, FALSE);
    cv->pre_q = g_new(int, (gsize)g->hw);
    for (int y = 0; y < g->hin; y++)
        for (int x = 0; x < g->win; x++) {
            const int qy = y / g->ps, qx = x / g->ps;
            cv->pre_q[y * g->win + x] = qy < g->hc && qx < g->wc ? qy * g->wc + qx : -1;
        }
    cv->degree = g_new(guint64, (gsize)g->hw);
    for (int i = 0; i < g->hw; i++) {
        const int q = cv->pre_q[i];
        cv->degree[i] =
            q < 0 ? 0 : (guint64)(cv->reach_start[q + 1] - cv->reach_start[q]) * g->cout;
    }
}

static void conv_alloc(OzProjection *p) {
    Conv *cv = p->kstate;
    const char *key = NULL;
    g_autoptr(GError) err = NULL;
    if (!geometry(p->kparams, p->pre->rank, p->pre->shape, p->post->rank, p->post->shape, &cv->g,
                  &key, &err))
        g_error("projection %s: %s: %s (oz_network_add_projection checks this)", p->name, key,
                err->message);
    const Geom *g = &cv->g;
    p->nw = (gsize)g->cout * (gsize)g->ckk;
    p->w = g_new0(float, p->nw);
    cv->wt = g_new0(float, p->nw);
    cv->o = g_new0(float, p->n_pre);
    build_reach(cv);
}

static void conv_free(OzProjection *p) {
    Conv *cv = p->kstate;
    g_clear_pointer(&cv->wt, g_free);
    g_clear_pointer(&cv->pre_q, g_free);
    g_clear_pointer(&cv->degree, g_free);
    g_clear_pointer(&cv->reach_start, g_free);
    g_clear_pointer(&cv->reach_pos, g_free);
    g_clear_pointer(&cv->reach_kk, g_free);
    g_clear_pointer(&cv->col, g_free);
    g_clear_pointer(&cv->map, g_free);
    g_clear_pointer(&cv->scratch, g_free);
    g_clear_pointer(&cv->o, g_free);
    g_clear_pointer(&cv->gcol, g_free);
    g_clear_pointer(&cv->gg, g_free);
    g_clear_pointer(&p->w, g_free);
}

static int conv_shape(const OzProjection *p, gsize dims[2]) {
    const Conv *cv = p->kstate;
    dims[0] = (gsize)cv->g.cout;
    dims[1] = (gsize)cv->g.ckk;
    return 2;
}

/* Wt = W transposed to (C_in·k·k, C_out): a kernel slice is one contiguous row. */
static void conv_reset(OzProjection *p) {
    Conv *cv = p->kstate;
    const Geom *g = &cv->g;
    for (int co = 0; co < g->cout; co++)
        for (int r = 0; r < g->ckk; r++)
            cv->wt[(gsize)r * g->cout + co] = oz_projection_forward_w(p)[(gsize)co * g->ckk + r];
}

/* out (nw) ~ [projection] init with fan_in = C_in·k·k and fan_out = C_out·k·k:
 * U(±scale/√fan_in), N(0, scale²), N(0, scale²·2/fan_out) (Kaiming, fan_out) or zero. */
static void conv_draw_like_weights(const OzProjection *p, OzRng *rng, float *out) {
    const Geom *g = &((const Conv *)p->kstate)->g;
    oz_projection_draw_init(p, rng, out, p->nw, (double)g->ckk, (double)g->cout * g->kk);
}

static void conv_init(OzProjection *p, OzRng *rng) {
    conv_draw_like_weights(p, rng, p->w);
    conv_reset(p);
}

/* Per-part buffers for parts [0, oz_par_threads()), allocated once the team is known
 * (from the simulation thread, before a job). */
static void ensure_parts(Conv *cv) {
    const int parts = oz_par_threads();
    if (parts <= cv->parts)
        return;
    const Geom *g = &cv->g;
    g_free(cv->col);
    g_free(cv->map);
    g_free(cv->scratch);
    cv->col = g_new0(float, (gsize)parts * g->ckk * g->howo);
    cv->map = g->ps > 1 ? g_new0(float, (gsize)parts * g->cin * g->hcwc) : NULL;
    cv->scratch = g_new0(float, (gsize)parts * g->howo * g->cout);
    cv->parts = parts;
}

/* map (C_in, hc, wc) = the pooled in (C_in, hin, win): mean or sum of each window, its
 * cells added row by row, left to right (a window row at a time across the map row, so
 * the loop over qx vectorises; the order of each window's sum is unchanged). */
static void pool_map(const Geom *g, const float *in, float *map) {
    for (int c = 0; c < g->cin; c++)
        for (int qy = 0; qy < g->hc; qy++) {
            float *dst = map + (gsize)c * g->hcwc + (gsize)qy * g->wc;
            for (int qx = 0; qx < g->wc; qx++)
                dst[qx] = 0.0f;
            for (int dy = 0; dy < g->ps; dy++) {
                const float *row = in + (gsize)c * g->hw + (gsize)(qy * g->ps + dy) * g->win;
                for (int dx = 0; dx < g->ps; dx++)
                    for (int qx = 0; qx < g->wc; qx++)
                        dst[qx] += row[qx * g->ps + dx];
            }
            for (int qx = 0; qx < g->wc; qx++)
                dst[qx] *= g->gain;
        }
}

/* out (C_in, hin, win) += the transposed pool of map: each window's cells get its value
 * (÷ ps² for avg). */
static void unpool_add(const Geom *g, const float *map, float *out) {
    for (int c = 0; c < g->cin; c++)
        for (int y = 0; y < g->hc * g->ps; y++)
            for (int x = 0; x < g->wc * g->ps; x++)
                out[(gsize)c * g->hw + y * g->win + x] +=
                    g->gain * map[(gsize)c * g->hcwc + (y / g->ps) * g->wc + x / g->ps];
}

/* col rows [r0, r1) of the im2col matrix (ckk, howo) of map (C_in, hc, wc), rows ld
 * floats apart: row (c, ky, kx), column (oy, ox) holds map[c, oy·s − pad + ky,
 * ox·s − pad + kx], 0 outside. */
static void im2col_rows(const Geom *g, const float *map, float *col, gsize ld, int r0, int r1) {
    for (int r = r0; r < r1; r++) {
        const int c = r / g->kk, ky = (r % g->kk) / g->k, kx = r % g->k;
        float *dst = col + (gsize)r * ld;
        const float *src = map + (gsize)c * g->hcwc;
        /* The output columns whose x = ox·s − pad + kx falls inside the map: [lo, hi). */
        const int lo = MIN(g->wo, MAX(0, (g->pad - kx + g->s - 1) / g->s));
        const int hi = MAX(lo, MIN(g->wo, (g->wc - 1 + g->pad - kx) / g->s + 1));
        for (int oy = 0; oy < g->ho; oy++) {
            const int y = oy * g->s - g->pad + ky;
            float *d = dst + oy * g->wo;
            if (y < 0 || y >= g->hc) {
                memset(d, 0, sizeof(float) * (gsize)g->wo);
                continue;
            }
            /* sy[i] is map[c, y, lo·s − pad + kx + i] */
            const float *sy = src + (gsize)y * g->wc + (lo * g->s - g->pad + kx);
            for (int ox = 0; ox < lo; ox++)
                d[ox] = 0.0f;
            if (g->s == 1)
                memcpy(d + lo, sy, sizeof(float) * (gsize)(hi - lo));
            else
                for (int ox = lo; ox < hi; ox++)
                    d[ox] = sy[(ox - lo) * g->s];
            for (int ox = hi; ox < g->wo; ox++)
                d[ox] = 0.0f;
        }
    }
}

/* map (C_in, hc, wc) += the col2im of col (ckk, howo), channels [c0, c1): the adjoint of
 * im2col_rows. */
static void col2im_channels(const Geom *g, const float *col, float *map, int c0, int c1) {
    for (int c = c0; c < c1; c++) {
        float *dst = map + (gsize)c * g->hcwc;
        for (int e = 0; e < g->kk; e++) {
            const int ky = e / g->k, kx = e % g->k;
            const float *src = col + ((gsize)c * g->kk + e) * g->howo;
            for (int oy = 0; oy < g->ho; oy++) {
                const int y = oy * g->s - g->pad + ky;
                if (y < 0 || y >= g->hc)
                    continue;
                for (int ox = 0; ox < g->wo; ox++) {
                    const int x = ox * g->s - g->pad + kx;
                    if (x >= 0 && x < g->wc)
                        dst[y * g->wc + x] += src[oy * g->wo + ox];
                }
            }
        }
    }
}

/* The map the kernel reads for one sample's in (C_in, hin, win): in itself, or its pool
 * in the part's map buffer. */
static const float *kernel_map(const Conv *cv, int part, const float *in) {
    if (cv->g.ps == 1)
        return in;
    float *map = cv->map + (gsize)part * cv->g.cin * cv->g.hcwc;
    pool_map(&cv->g, in, map);
    return map;
}

typedef struct {
    const OzProjection *p;
    const float *s;          /* (rows, n_pre) values (im2col) */
    const int *idx, *counts; /* (rows, n_pre) spike lists (event) */
    float val;
    const float *mult;       /* (B, n_pre) events per list entry (counts-mode input), or NULL */
    const float *c;          /* chain: C in w's layout */
    float *out;              /* (rows, n_post) or, for the chain, (rows, n_pre) */
    float beta;              /* im2col: 0 to overwrite out, 1 to add */
    guint64 part_synops[OZ_PAR_MAX_THREADS];
} ConvJob;

/* im2col delivery of samples [begin, end): out_b (C_out, howo) = β·out_b + W · col_b. */
static void im2col_part(void *ctx, int part, gsize begin, gsize end) {
    ConvJob *j = ctx;
    const Conv *cv = j->p->kstate;
    const Geom *g = &cv->g;
    float *col = cv->col + (gsize)part * g->ckk * g->howo;
    for (gsize b = begin; b < end; b++) {
        const float *map = kernel_map(cv, part, j->s + b * j->p->n_pre);
        im2col_rows(g, map, col, (gsize)g->howo, 0, g->ckk);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->cout, g->howo, g->ckk, 1.0f,
                    oz_projection_forward_w(j->p), g->ckk, col, g->howo, j->beta,
                    j->out + b * j->p->n_post, g->howo);
    }
}

/* Event delivery of samples [begin, end): each spike's kernel slice, scaled by the pool's
 * gain, into the output positions it reaches; out_b += the sample's sums.  An entry that
 * stands for c events (j->mult) adds c times its slice and counts c synaptic events per
 * synapse. */
static void event_part(void *ctx, int part, gsize begin, gsize end) {
    ConvJob *j = ctx;
    const OzProjection *p = j->p;
    const Conv *cv = p->kstate;
    const Geom *g = &cv->g;
    float *acc = cv->scratch + (gsize)part * g->howo * g->cout;
    const float v = j->val * g->gain;
    guint64 synops = 0;
    for (gsize b = begin; b < end; b++) {
        memset(acc, 0, sizeof(float) * (gsize)g->howo * g->cout);
        const int *ib = j->idx + b * p->n_pre;
        for (int m = 0; m < j->counts[b]; m++) {
            const int i = ib[m], c = i / g->hw, pos = i - c * g->hw, q = cv->pre_q[pos];
            if (q < 0)
                continue;
            /* v·1 is v exactly, so a packet without counts gives the same bits as before. */
            const float events = j->mult ? j->mult[b * p->n_pre + m] : 1.0f, ve = v * events;
            synops += cv->degree[pos] * (guint64)events;
            for (int e = cv->reach_start[q]; e < cv->reach_start[q + 1]; e++) {
                const float *row = cv->wt + ((gsize)c * g->kk + cv->reach_kk[e]) * g->cout;
                float *dst = acc + (gsize)cv->reach_pos[e] * g->cout;
                for (int co = 0; co < g->cout; co++)
                    dst[co] += ve * row[co];
            }
        }
        float *out = j->out + b * p->n_post;
        for (int pos = 0; pos < g->howo; pos++)
            for (int co = 0; co < g->cout; co++)
                out[(gsize)co * g->howo + pos] += acc[(gsize)pos * g->cout + co];
    }
    j->part_synops[part] = synops;
}

/* The output positions × C_out a presynaptic neuron reaches: its out-degree. */
static guint64 out_degree(const Conv *cv, int i) {
    return cv->degree[i % cv->g.hw];
}

/* The synapses a frame's spikes reach: a spike packet's spikes (an entry of c events c
 * times), or for a dense (noisy) frame the presynaptic model's clean spikes (for a model
 * that cannot say, the nonzero values of s). */
static guint64 frame_synops(const OzProjection *p, OzFrame *f, int rows) {
    const Conv *cv = p->kstate;
    guint64 n = 0;
    if (f->kind == OZ_FRAME_SPIKES && f->mult) {
        const int *idx = oz_frame_index(f, rows, p->n_pre);
        for (int b = 0; b < rows; b++)
            for (int m = 0; m < f->counts[b]; m++) {
                const gsize at = (gsize)b * p->n_pre + m;
                n += out_degree(cv, idx[at]) * (guint64)f->mult[at];
            }
        return n;
    }
    for (int b = 0; b < rows; b++) {
        const float *o = f->s + (gsize)b * p->n_pre;
        if (f->kind == OZ_FRAME_DENSE && p->pre->ops->clean_spikes) {
            p->pre->ops->clean_spikes(p->pre, f, (gsize)b, cv->o);
            o = cv->o;
        }
        for (int c = 0; c < cv->g.cin; c++, o += cv->g.hw)
            for (int i = 0; i < cv->g.hw; i++)
                n += o[i] != 0.0f ? cv->degree[i] : 0;
    }
    return n;
}

static guint64 im2col_macs(const OzProjection *p, int rows) {
    return (guint64)rows * p->nw * (guint64)((const Conv *)p->kstate)->g.howo;
}

static void run_im2col(OzProjection *p, const float *s, float *out, float beta, int rows) {
    ConvJob j = {.p = p, .s = s, .out = out, .beta = beta};
    oz_par_for((gsize)rows, 1, im2col_part, &j);
}

static void conv_deliver(OzProjection *p, OzFrame *f, float *acc) {
    Conv *cv = p->kstate;
    const int rows = p->pre->active_samples;
    ensure_parts(cv);
    switch (f->kind) {
    case OZ_FRAME_EMPTY:
        return;
    case OZ_FRAME_DENSE_STATIC:
        if (!p->cache_valid) {
            run_im2col(p, f->s, p->cache, 0.0f, rows);
            p->cache_valid = TRUE;
            p->dense_macs += im2col_macs(p, rows);
        }
        oz_par_add(acc, p->cache, (gsize)rows * p->n_post);
        return;
    case OZ_FRAME_DENSE:
        p->synops += frame_synops(p, f, rows);
        p->row_fetches += f->nspikes;
        run_im2col(p, f->s, acc, 1.0f, rows);
        p->dense_macs += im2col_macs(p, rows);
        p->packets_dense++;
        return;
    case OZ_FRAME_SPIKES:
        break;
    }
    p->row_fetches += f->nspikes;
    if (f->nspikes == 0)
        return;
    gboolean dense;
    switch (p->p.delivery) {
    case OZ_DELIVERY_DENSE:
        dense = TRUE;
        break;
    case OZ_DELIVERY_AUTO: {
        /* The crossover is the kind's own (a spike costs k²·C_out adds at most, against
         * the dense kind's n_post): im2col_threshold, not [run] dense_threshold. */
        const ConvParams *cp = p->kparams;
        dense = (double)f->nspikes / ((double)rows * p->n_pre) >= cp->im2col_threshold;
        break;
    }
    default: /* event, and delta (not a conv2d path): event-driven */
        dense = FALSE;
        break;
    }
    if (dense) {
        p->synops += frame_synops(p, f, rows);
        run_im2col(p, f->s, acc, 1.0f, rows);
        p->spike_dense_macs += im2col_macs(p, rows);
        p->packets_dense++;
        return;
    }
    /* An entry of c events (f->mult) comes with value 1, as on the other kinds. */
    g_assert(!f->mult || f->value == 1.0f);
    ConvJob j = {.p = p, .idx = oz_frame_index(f, rows, p->n_pre), .counts = f->counts,
                 .val = f->value, .mult = f->mult, .out = acc};
    oz_par_for((gsize)rows, 1, event_part, &j);
    for (int k = 0; k < oz_par_threads(); k++)
        p->synops += j.part_synops[k];
    p->packets_event++;
}

/* The gradient's products take chunk samples side by side, so that one product has
 * K = chunk·howo (a long inner dimension, efficient) while each buffer stays within
 * GRAD_FLOATS floats (8 MB) whatever the batch and T. */
#define GRAD_FLOATS ((gsize)1 << 21)

static gsize grad_floats = GRAD_FLOATS;

/* For the tests: the bound of the gradient's buffers (0: GRAD_FLOATS); a projection's
 * buffers follow it at its next gradient (a small bound forces chunks of one sample). */
void oz_conv2d_test_grad_floats(gsize floats);
void oz_conv2d_test_grad_floats(gsize floats) {
    grad_floats = floats ? floats : GRAD_FLOATS;
}

static int grad_chunk(const Geom *g) {
    const gsize per = (gsize)MAX(g->ckk, g->cout) * g->howo;
    return (int)MAX((gsize)1, grad_floats / per);
}

typedef struct {
    const OzProjection *p;
    const float *pre, *g_u; /* (rows, n_pre), (rows, n_post) */
    int b0, n;              /* the chunk: samples [b0, b0 + n) */
} GradJob;

/* Samples [begin, end) of a chunk: the pooled trace's im2col matrix into columns
 * [i·howo, (i+1)·howo) of gcol, g_u into the same columns of gg. */
static void grad_part(void *ctx, int part, gsize begin, gsize end) {
    const GradJob *j = ctx;
    const Conv *cv = j->p->kstate;
    const Geom *g = &cv->g;
    const gsize ld = (gsize)j->n * g->howo;
    for (gsize i = begin; i < end; i++) {
        const gsize b = (gsize)j->b0 + i;
        const float *map = kernel_map(cv, part, j->pre + b * j->p->n_pre);
        im2col_rows(g, map, cv->gcol + i * g->howo, ld, 0, g->ckk);
        const float *gu = j->g_u + b * j->p->n_post;
        for (int co = 0; co < g->cout; co++)
            memcpy(cv->gg + co * ld + i * g->howo, gu + (gsize)co * g->howo,
                   sizeof(float) * (gsize)g->howo);
    }
}

/* grad (C_out, ckk) += Σ_b g_u,b (C_out, howo) · col_bᵀ, col_b the im2col of the pooled
 * pre_b: per chunk of samples (a number fixed by the geometry, not by the team) the
 * matrices side by side and one oz_sgemm, chunks in sample order. */
static guint64 conv_accumulate(OzProjection *p, float *grad, const float *pre, const float *g_u,
                               int rows) {
    Conv *cv = p->kstate;
    const Geom *g = &cv->g;
    ensure_parts(cv);
    if (!cv->gcol || cv->chunk != grad_chunk(g)) {
        g_free(cv->gcol);
        g_free(cv->gg);
        cv->chunk = grad_chunk(g);
        cv->gcol = g_new(float, (gsize)cv->chunk * g->ckk * g->howo);
        cv->gg = g_new(float, (gsize)cv->chunk * g->cout * g->howo);
    }
    for (int b0 = 0; b0 < rows; b0 += cv->chunk) {
        GradJob j = {p, pre, g_u, b0, MIN(cv->chunk, rows - b0)};
        oz_par_for((gsize)j.n, 1, grad_part, &j);
        const int ld = j.n * g->howo;
        oz_sgemm(CblasNoTrans, CblasTrans, g->cout, g->ckk, ld, 1.0f, cv->gg, ld, cv->gcol, ld,
                 1.0f, grad, g->ckk);
    }
    return im2col_macs(p, rows);
}

/* The chain of samples [begin, end): out_b (C_in, hin, win) += the transposed pool of the
 * transposed convolution of down_b: col = Cᵀ · down_b, then col2im. */
static void chain_part(void *ctx, int part, gsize begin, gsize end) {
    ConvJob *j = ctx;
    const OzProjection *p = j->p;
    const Conv *cv = p->kstate;
    const Geom *g = &cv->g;
    float *col = cv->col + (gsize)part * g->ckk * g->howo;
    for (gsize b = begin; b < end; b++) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->ckk, g->howo, g->cout, 1.0f, j->c,
                    g->ckk, j->s + b * p->n_post, g->howo, 0.0f, col, g->howo);
        float *out = j->out + b * p->n_pre;
        if (g->ps == 1) {
            col2im_channels(g, col, out, 0, g->cin);
            continue;
        }
        float *map = cv->map + (gsize)part * g->cin * g->hcwc;
        memset(map, 0, sizeof(float) * (gsize)g->cin * g->hcwc);
        col2im_channels(g, col, map, 0, g->cin);
        unpool_add(g, map, out);
    }
}

/* out (rows, n_pre) += down (rows, n_post) · Cᵀ, C the unrolled matrix of the kernel c. */
static guint64 conv_chain_apply(const OzProjection *p, const float *c, const float *down, int rows,
                                float *out) {
    Conv *cv = p->kstate;
    ensure_parts(cv);
    ConvJob j = {.p = p, .s = down, .c = c ? c : p->w, .out = out};
    oz_par_for((gsize)rows, 1, chain_part, &j);
    return im2col_macs(p, rows);
}

/* Output channel o's fan-in is row o of W (C_out, C_in·k·k): the same weights for every
 * output position of the channel, so sWS standardises per channel. */
static void conv_fan_in(const OzProjection *p, OzFanIn *out) {
    const Conv *cv = p->kstate;
    *out = (OzFanIn){.units = (gsize)cv->g.cout,
                     .fan_in = (gsize)cv->g.ckk,
                     .unit_stride = (gsize)cv->g.ckk,
                     .elem_stride = 1};
}

/* The map the kernel reads: the pooled one (the population itself without a pool). */
static int conv_view_size(const OzProjection *p) {
    const Conv *cv = p->kstate;
    return cv->g.cin * cv->g.hcwc;
}

typedef struct {
    const Geom *g;
    const float *in;
    float *out;
} ViewJob;

static void view_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const ViewJob *j = ctx;
    const gsize nv = (gsize)j->g->cin * j->g->hcwc, n = (gsize)j->g->cin * j->g->hw;
    for (gsize b = begin; b < end; b++)
        pool_map(j->g, j->in + b * n, j->out + b * nv);
}

static void view_transpose_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const ViewJob *j = ctx;
    const gsize nv = (gsize)j->g->cin * j->g->hcwc, n = (gsize)j->g->cin * j->g->hw;
    for (gsize b = begin; b < end; b++)
        unpool_add(j->g, j->in + b * nv, j->out + b * n);
}

/* out (rows, view) = the pooled in (rows, n_pre). */
static void conv_view(const OzProjection *p, const float *in, int rows, float *out) {
    const Conv *cv = p->kstate;
    ViewJob j = {&cv->g, in, out};
    oz_par_for((gsize)rows, 1, view_part, &j);
}

/* out (rows, n_pre) += the transposed pool of v (rows, view). */
static void conv_view_transpose(const OzProjection *p, const float *v, int rows, float *out) {
    const Conv *cv = p->kstate;
    ViewJob j = {&cv->g, v, out};
    oz_par_for((gsize)rows, 1, view_transpose_part, &j);
}

/* ---- NIR (docs/INTEROP.md) ---- */

/* A Conv2d node (C_out, C_in, k, k) with a square kernel, one stride and one padding for both
 * axes, dilation 1 and groups 1, times the target's gain; an AvgPool2d or SumPool2d right
 * before it is the kind's pool (non-overlapping square windows); its per-channel bias onto
 * every neuron of the channel. */
static gboolean conv_nir_import(OzNirProjImport *im, GError **error) {
    const OzNirNode *w = im->weights;
    const OzNirField *wf = oz_nir_need(w, "weight", error);
    if (!wf)
        return FALSE;
    if (wf->rank != 4) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "node '%s' (%s): weight has %d dimensions, expected (C_out, C_in, kH, kW)",
                    w->name, w->type, wf->rank);
        return FALSE;
    }
    int stride[2], pad[2], dil[2];
    oz_nir_pair(w, "stride", 1, stride);
    oz_nir_pair(w, "padding", 0, pad);
    oz_nir_pair(w, "dilation", 1, dil);
    double groups = 1;
    const OzNirField *gf = oz_nir_field_find(w->fields, "groups");
    if (gf && gf->v)
        groups = gf->v[0];
    const int cout = (int)wf->dims[0], cin = (int)wf->dims[1];
    if (wf->dims[2] != wf->dims[3] || stride[0] != stride[1] || pad[0] != pad[1] || dil[0] != 1 ||
        dil[1] != 1 || groups != 1) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                    "node '%s' (%s): opzosim's conv2d takes a square kernel, one stride and one "
                    "padding for both axes, dilation 1 and groups 1 (kernel %zux%zu, stride "
                    "%d,%d, padding %d,%d, dilation %d,%d, groups %g)",
                    w->name, w->type, wf->dims[2], wf->dims[3], stride[0], stride[1], pad[0],
                    pad[1], dil[0], dil[1], groups);
        return FALSE;
    }
    if (im->src_rank != 3 || im->src_dims[0] != cin) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "node '%s' (%s): weight reads %d channels; '%s' has shape %d,%d,%d", w->name,
                    w->type, cin, im->src_name, im->src_dims[0],
                    im->src_rank == 3 ? im->src_dims[1] : 0,
                    im->src_rank == 3 ? im->src_dims[2] : 0);
        return FALSE;
    }
    if (im->dst_n % cout != 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "node '%s' (%s): %d output channels do not divide '%s' (%d neurons)", w->name,
                    w->type, cout, im->dst_name, im->dst_n);
        return FALSE;
    }
    g_string_append_printf(im->keys, "kernel = %zu\nstride = %d\npadding = %d\n", wf->dims[2],
                           stride[0], pad[0]);
    if (im->pre) {
        const OzNirNode *q = im->pre;
        int k[2], s[2], p[2];
        oz_nir_pair(q, "kernel_size", 1, k);
        oz_nir_pair(q, "stride", k[0], s);
        oz_nir_pair(q, "padding", 0, p);
        if (k[0] != k[1] || s[0] != k[0] || s[1] != k[1] || p[0] != 0 || p[1] != 0) {
            g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (%s): opzosim pools over non-overlapping square windows "
                        "(kernel_size = stride, padding 0); got kernel %d,%d stride %d,%d "
                        "padding %d,%d",
                        q->name, q->type, k[0], k[1], s[0], s[1], p[0], p[1]);
            return FALSE;
        }
        g_string_append_printf(im->keys, "pool = %s\npool_size = %d\n",
                               strcmp(q->type, "AvgPool2d") == 0 ? "avg" : "sum", k[0]);
    }
    const OzNirField *exact = oz_nir_field_find(w->meta, "opzosim_weight");
    const OzNirField *bf = oz_nir_field_find(w->fields, "bias");
    im->nw = wf->n;
    im->w = g_new(float, MAX(im->nw, 1));
    for (gsize i = 0; i < im->nw; i++)
        im->w[i] =
            exact && exact->n == im->nw ? (float)exact->v[i] : (float)(wf->v[i] * im->gain);
    const int per = im->dst_n / cout;
    if (bf && bf->v && bf->n == (gsize)cout && !im->exact_bias)
        for (int co = 0; co < cout; co++)
            for (int q = 0; q < per; q++)
                if (bf->v[co] != 0.0) {
                    im->dst_bias[co * per + q] += (float)(bf->v[co] * im->gain);
                    *im->dst_has_bias = TRUE;
                }
    return TRUE;
}

/* [AvgPool2d | SumPool2d] → Conv2d (C_out, C_in, k, k) = scale·W, folding the input
 * normalisation: weight/std, and −mean/std times the kernel's sum over the taps inside the
 * map (the padding reads zeros, not −mean/std) into the target's bias, one value per output
 * neuron.  Its bias field holds one value per channel. */
static gboolean conv_nir_export(OzNirExport *ex, const OzProjection *p, const OzNirLink *link,
                                GError **error) {
    (void)error;
    const Conv *cv = p->kstate;
    const ConvParams *cp = p->kparams;
    const Geom *g = &cv->g;
    g_autofree char *prev = g_strdup(link->from);
    const int ps = g->ps;
    if (ps > 1) {
        g_autofree char *pn = g_strconcat(p->name, "_pool", NULL);
        OzNirNode *q =
            oz_nir_node_add(ex->graph, pn, cp->pool == POOL_AVG ? "AvgPool2d" : "SumPool2d");
        oz_nir_ints2(q->fields, "kernel_size", ps, ps);
        oz_nir_ints2(q->fields, "stride", ps, ps);
        oz_nir_ints2(q->fields, "padding", 0, 0);
        oz_nir_edge_add(ex->graph, prev, pn);
        g_free(prev);
        prev = g_strdup(pn);
    }
    const int cin = g->cin, hc = g->hc, wc = g->wc, k = g->k;
    const int cout = g->cout, ho = g->ho, wo = g->wo;
    const gsize ckk = (gsize)g->ckk;
    const gboolean fold = link->fold;
    const double mean = link->mean, std = link->std;
    g_autofree double *eff = g_new(double, p->nw);
    g_autofree double *w = g_new(double, p->nw);
    for (gsize i = 0; i < p->nw; i++) {
        eff[i] = (double)p->w[i] * link->scale;
        w[i] = fold ? eff[i] / std : eff[i];
    }
    if (fold) {
        double *acc = oz_nir_export_bias(ex, p->post);
        for (int co = 0; co < cout; co++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double sum = 0;
                    for (int ci = 0; ci < cin; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int y = oy * g->s - g->pad + ky;
                                int x = ox * g->s - g->pad + kx;
                                if (y >= 0 && y < hc && x >= 0 && x < wc)
                                    sum += eff[(gsize)co * ckk + ((gsize)ci * k + ky) * k + kx];
                            }
                    acc[((gsize)co * ho + oy) * wo + ox] -= sum * mean / std;
                }
    }
    OzNirNode *c = oz_nir_node_add(ex->graph, p->name, "Conv2d");
    oz_nir_ints2(c->fields, "input_shape", hc, wc);
    gsize wd[4] = {(gsize)cout, (gsize)cin, (gsize)k, (gsize)k};
    oz_nir_field_add(c->fields, "weight", OZ_NIR_F32, 4, wd, w);
    oz_nir_ints2(c->fields, "stride", g->s, g->s);
    oz_nir_ints2(c->fields, "padding", g->pad, g->pad);
    oz_nir_ints2(c->fields, "dilation", 1, 1);
    oz_nir_field_scalar(c->fields, "groups", OZ_NIR_I64, 1);
    g_autofree double *zero = g_new0(double, cout);
    gsize bd = (gsize)cout;
    oz_nir_field_add(c->fields, "bias", OZ_NIR_F32, 1, &bd, zero);
    oz_nir_export_bias_slot(ex, p->post, c, cout);
    if (fold)
        oz_nir_field_add(c->meta, "opzosim_weight", OZ_NIR_F32, 4, wd, eff);
    oz_nir_edge_add(ex->graph, prev, p->name);
    oz_nir_edge_add(ex->graph, p->name, link->to);
    return TRUE;
}

static const char *const conv_nir_types[] = {"Conv2d", NULL};
static const char *const conv_nir_pre[] = {"AvgPool2d", "SumPool2d", NULL};
static const OzKindNir conv_nir = {
    .node_types = conv_nir_types,
    .pre_types = conv_nir_pre,
    .import_chain = conv_nir_import,
    .export_chain = conv_nir_export,
};

const OzProjectionKindOps oz_projection_kind_conv2d = {
    .api_version = OZ_PROJECTION_KIND_API_VERSION,
    .name = "conv2d",
    .state_size = sizeof(Conv),
    .help = "2-D convolution C_in,H,W → C_out,H′,W′ (optionally through an avg/sum pool): "
            "W (C_out, C_in·k·k)",
    .params = conv_params,
    .params_size = sizeof(ConvParams),
    .configure = conv_configure,
    .alloc = conv_alloc,
    .free = conv_free,
    .shape = conv_shape,
    .init = conv_init,
    .draw_like_weights = conv_draw_like_weights,
    .reset = conv_reset,
    .deliver = conv_deliver,
    .accumulate = conv_accumulate,
    .chain_apply = conv_chain_apply,
    .fan_in = conv_fan_in,
    .view_size = conv_view_size,
    .view = conv_view,
    .view_transpose = conv_view_transpose,
    .nir = &conv_nir,
};

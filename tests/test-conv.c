/* The conv2d projection kind (neurons/oz-kind-conv2d.c) against the dense matrix its
 * convolution unrolls to (the Toeplitz form), built here from the convolution's formula in
 * double: delivery on the event and im2col paths, SynOps, the gradient folded back over
 * tied weights and the transposed chain, over kernels 1, 3, 5, strides 1, 2, paddings 0, 1,
 * pools none, avg and sum on non-square maps; every registered rule on a conv net against
 * its dense twin; shapes checked by the scenario; stored eligibility with feedback delays
 * on a conv net equal to no delay, bit for bit. */
#include "engine/oz-par.h"
#include "io/oz-scenario.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-network.h"
#include "neurons/oz-projection.h"
#include "oz-test-rule.h"
#include "oz-test-util.h"
#include "plasticity/oz-learner.h"
#include "plasticity/oz-loss.h"
#include "plasticity/oz-rule.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

TestSuite(conv);

/* neurons/oz-kind-conv2d.c: the bound of the gradient's buffers (0: the default). */
void oz_conv2d_test_grad_floats(gsize floats);

/* A conv2d's geometry as the test writes it. */
typedef struct {
    int cin, hin, win, cout, k, s, pad;
    const char *pool; /* "none", "avg", "sum" */
    int ps;
} Conf;

static const OzProjectionKindOps *conv_kind(void) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup("conv2d");
    cr_assert_not_null(ops, "conv2d is registered");
    return ops;
}

/* The kind's parameter struct from the configuration, parsed by its own key specs.
 * (transfer full) */
static gpointer conv_keys(const Conf *c) {
    const OzProjectionKindOps *ops = conv_kind();
    gpointer out = g_malloc0(ops->params_size);
    oz_param_defaults(ops->params, out);
    g_autofree char *k = g_strdup_printf("%d", c->k), *s = g_strdup_printf("%d", c->s),
                    *pad = g_strdup_printf("%d", c->pad), *ps = g_strdup_printf("%d", c->ps);
    const char *keys[] = {"kernel", "stride", "padding", "pool", "pool_size"};
    const char *vals[] = {k, s, pad, c->pool, ps};
    for (int i = 0; i < 5; i++) {
        g_autofree char *why = NULL;
        cr_assert(oz_param_parse(oz_param_find(ops->params, keys[i]), vals[i], out, &why), "%s",
                  why);
    }
    return out;
}

static int pooled(const Conf *c, int n) {
    return strcmp(c->pool, "none") ? n / c->ps : n;
}

/* The output side, by the formula; ≤ 0 when the kernel does not fit. */
static int side(const Conf *c, int n) {
    const int m = pooled(c, n);
    return m + 2 * c->pad < c->k ? 0 : (m + 2 * c->pad - c->k) / c->s + 1;
}

/* D (n_pre, n_post), the unrolled matrix of the kernel w (cout, cin, k, k): presynaptic
 * (c, y, x) lies in pool window (y/ps, x/ps) (or none past the last whole window), which
 * the kernel element (ky, kx) = (qy − oy·s + pad, qx − ox·s + pad) of output (co, oy, ox)
 * reads with the pool's gain; reach (n_pre, n_post) marks the synapses that exist. */
static void unroll(const Conf *c, const float *w, double *d, guint8 *reach) {
    const int ho = side(c, c->hin), wo = side(c, c->win);
    const int hp = pooled(c, c->hin), wp = pooled(c, c->win);
    const gboolean pool = strcmp(c->pool, "none") != 0;
    const int ps = pool ? c->ps : 1;
    const double gain = strcmp(c->pool, "avg") == 0 ? 1.0 / (ps * ps) : 1.0;
    const int n_pre = c->cin * c->hin * c->win, n_post = c->cout * ho * wo;
    memset(d, 0, sizeof(double) * n_pre * n_post);
    if (reach)
        memset(reach, 0, (gsize)n_pre * n_post);
    for (int ci = 0; ci < c->cin; ci++)
        for (int y = 0; y < c->hin; y++)
            for (int x = 0; x < c->win; x++) {
                const int qy = y / ps, qx = x / ps;
                if (qy >= hp || qx >= wp)
                    continue;
                const int i = (ci * c->hin + y) * c->win + x;
                for (int co = 0; co < c->cout; co++)
                    for (int oy = 0; oy < ho; oy++)
                        for (int ox = 0; ox < wo; ox++) {
                            const int ky = qy - oy * c->s + c->pad, kx = qx - ox * c->s + c->pad;
                            if (ky < 0 || ky >= c->k || kx < 0 || kx >= c->k)
                                continue;
                            const int j = (co * ho + oy) * wo + ox;
                            d[(gsize)i * n_post + j] =
                                gain * w[((co * c->cin + ci) * c->k + ky) * c->k + kx];
                            if (reach)
                                reach[(gsize)i * n_post + j] = 1;
                        }
            }
}

/* The gradient of the kernel from the unrolled one: each weight sums its tied entries
 * times the pool's gain (∂D[i,j]/∂w). */
static void fold(const Conf *c, const float *dgrad, double *out) {
    const int nw = c->cout * c->cin * c->k * c->k;
    const int n_pre = c->cin * c->hin * c->win;
    const int n_post = c->cout * side(c, c->hin) * side(c, c->win);
    /* The unrolled matrix of the unit kernel e_m is ∂D/∂w_m. */
    float *unit = g_new0(float, nw);
    double *dm = g_new(double, (gsize)n_pre * n_post);
    for (int m = 0; m < nw; m++) {
        unit[m] = 1.0f;
        unroll(c, unit, dm, NULL);
        unit[m] = 0.0f;
        double sum = 0;
        for (gsize e = 0; e < (gsize)n_pre * n_post; e++)
            sum += dm[e] * dgrad[e];
        out[m] = sum;
    }
    g_free(unit);
    g_free(dm);
}

static const OzPopulationParams LIF_P = {.model = "lif", .lambda = 0.5f, .v_th = 1.0f};

static OzPopulation *shaped(const char *name, int c, int h, int w, int batch) {
    OzPopulationParams pp = LIF_P;
    pp.size = c * h * w;
    pp.rank = 3;
    pp.shape[0] = c;
    pp.shape[1] = h;
    pp.shape[2] = w;
    OzPopulation *pop = oz_population_new(name, &pp, batch, NULL);
    cr_assert_not_null(pop);
    return pop;
}

static void expect_close(const char *what, const Conf *c, const float *got, const double *want,
                         gsize n) {
    for (gsize i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= 1e-5 + 1e-5 * fabs(want[i]),
                  "k%d s%d p%d pool %s/%d map %dx%d: %s[%zu] = %.9g, the unrolled matrix gives "
                  "%.9g",
                  c->k, c->s, c->pad, c->pool, c->ps, c->hin, c->win, what, (size_t)i,
                  (double)got[i], want[i]);
}

/* acc (B, n_post) = s (B, n_pre) · D, in double. */
static void product(const double *s, const double *d, int rows, int n_pre, int n_post,
                    double *acc) {
    for (int b = 0; b < rows; b++)
        for (int j = 0; j < n_post; j++) {
            double sum = 0;
            for (int i = 0; i < n_pre; i++)
                sum += s[(gsize)b * n_pre + i] * d[(gsize)i * n_post + j];
            acc[(gsize)b * n_post + j] = sum;
        }
}

/* The two projections of one geometry (event-driven and im2col) against D. */
typedef struct {
    const Conf *c;
    OzProjection *ev, *im;
    const double *d; /* (n_pre, n_post) */
    int rows, n_pre, n_post;
    double *sd, *want; /* (rows, n_pre), (rows, n_post) */
    float *e, *a;      /* (rows, n_post): the event and im2col currents */
} Pair;

/* Delivers spike frame f on both paths and checks the currents against s·D, the im2col
 * path taken, and both SynOp counts against synops. */
static void deliver_both(Pair *q, OzFrame *f, guint64 synops, const char *what) {
    const gsize np = (gsize)q->rows * q->n_pre, nq = (gsize)q->rows * q->n_post;
    for (gsize i = 0; i < np; i++)
        q->sd[i] = f->s[i];
    product(q->sd, q->d, q->rows, q->n_pre, q->n_post, q->want);
    memset(q->a, 0, sizeof(float) * nq);
    memset(q->e, 0, sizeof(float) * nq);
    oz_projection_counters_clear(q->ev);
    oz_projection_counters_clear(q->im);
    oz_projection_deliver(q->ev, f, q->e);
    oz_projection_deliver(q->im, f, q->a);
    cr_assert_eq(q->im->packets_dense, 1, "%s: the im2col path", what);
    g_autofree char *ew = g_strdup_printf("event current, %s", what);
    g_autofree char *aw = g_strdup_printf("im2col current, %s", what);
    expect_close(ew, q->c, q->e, q->want, nq);
    expect_close(aw, q->c, q->a, q->want, nq);
    const Conf *c = q->c;
    cr_assert_eq(q->ev->synops, synops, "%s, k%d s%d p%d pool %s: event SynOps %lu, reached %lu",
                 what, c->k, c->s, c->pad, c->pool, (unsigned long)q->ev->synops,
                 (unsigned long)synops);
    cr_assert_eq(q->im->synops, synops, "%s: im2col SynOps are the synapses reached too", what);
}

/* One geometry: delivery on both paths, SynOps, gradient and chain against D. */
static void check_toeplitz(const Conf *c) {
    const int B = 3, ho = side(c, c->hin), wo = side(c, c->win);
    const int n_pre = c->cin * c->hin * c->win, n_post = c->cout * ho * wo;
    OzPopulation *pre = shaped("pre", c->cin, c->hin, c->win, B);
    OzPopulation *post = shaped("post", c->cout, ho, wo, B);
    gpointer keys = conv_keys(c);
    const char *key = NULL;
    GError *err = NULL;
    cr_assert(oz_projection_configure(conv_kind(), keys, pre, post, &key, &err), "%s: %s", key,
              err ? err->message : "");
    OzProjectionParams pp = {.init = OZ_INIT_ZERO, .delivery = OZ_DELIVERY_EVENT,
                             .dense_threshold = 0.15f, .kind = conv_kind(), .kind_params = keys};
    OzProjection *ev = oz_projection_new("ev", pre, post, &pp);
    pp.delivery = OZ_DELIVERY_DENSE;
    OzProjection *im = oz_projection_new("im", pre, post, &pp);
    g_free(keys);
    gsize dims[2];
    cr_assert_eq(oz_projection_shape(ev, dims), 2);
    cr_assert(dims[0] == (gsize)c->cout && dims[1] == (gsize)c->cin * c->k * c->k,
              "W is (C_out, C_in·k·k)");
    cr_assert_eq(ev->nw, dims[0] * dims[1]);
    /* Weights that are never zero, multiples of 1/64. */
    for (gsize m = 0; m < ev->nw; m++)
        ev->w[m] = im->w[m] = (float)((int)((m * 37) % 61) - 30) / 64.0f + 1.0f / 128.0f;
    oz_projection_reset(ev);
    oz_projection_reset(im);
    double *d = g_new(double, (gsize)n_pre * n_post);
    guint8 *reach = g_new(guint8, (gsize)n_pre * n_post);
    unroll(c, ev->w, d, reach);
    OzRng rng;
    oz_rng_init(&rng, 7, "test");
    float *a = g_new0(float, B *n_post), *e = g_new0(float, B *n_post);
    double *want = g_new(double, B *n_post), *sd = g_new(double, B *n_pre);
    Pair q = {c, ev, im, d, B, n_pre, n_post, sd, want, e, a};
    const double rates[] = {0.05, 0.3, 1.0};
    for (gsize r = 0; r < G_N_ELEMENTS(rates); r++) {
        OzFrame *f = oz_population_frame(pre, 0);
        oz_test_spike_frame(f, B, n_pre, rates[r], 1.25f, FALSE, &rng);
        guint64 synops = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n_pre; i++)
                if (f->s[b * n_pre + i] != 0.0f)
                    for (int j = 0; j < n_post; j++)
                        synops += reach[(gsize)i * n_post + j];
        deliver_both(&q, f, synops, "spikes");
        cr_assert_eq(ev->packets_event, 1, "the event path");
        cr_assert_eq(ev->row_fetches, f->nspikes);
    }
    /* A counts-mode packet (an event camera's cell of c events, value 1): each entry sends
     * its row c times and makes c × out-degree SynOps, on both paths. */
    {
        OzFrame *f = oz_population_frame(pre, 0);
        oz_test_spike_frame(f, B, n_pre, 0.3, 1.0f, FALSE, &rng);
        const int *idx = oz_frame_index(f, B, n_pre);
        f->mult = g_new0(float, (gsize)B *n_pre);
        guint64 synops = 0, events = 0;
        for (int b = 0; b < B; b++)
            for (int m = 0; m < f->counts[b]; m++) {
                const int i = idx[b * n_pre + m], cnt = 1 + (b + m) % 3;
                f->s[b * n_pre + i] = (float)cnt;
                f->mult[b * n_pre + m] = (float)cnt;
                events += (guint64)cnt;
                for (int j = 0; j < n_post; j++)
                    synops += (guint64)cnt * reach[(gsize)i * n_post + j];
            }
        f->nspikes = events;
        deliver_both(&q, f, synops, "counts");
        g_clear_pointer(&f->mult, g_free);
    }
    /* Real-valued frames: the static current (cached) and a dense noisy frame. */
    OzFrame *f = oz_population_frame(pre, 0);
    for (int i = 0; i < B * n_pre; i++)
        sd[i] = f->s[i] = (float)oz_rng_gauss(&rng);
    product(sd, d, B, n_pre, n_post, want);
    const OzFrameKind kinds[] = {OZ_FRAME_DENSE_STATIC, OZ_FRAME_DENSE};
    for (int t = 0; t < 2; t++) {
        f->kind = kinds[t];
        f->nspikes = 0;
        memset(a, 0, sizeof(float) * B * n_post);
        oz_projection_reset(ev);
        oz_projection_deliver(ev, f, a);
        expect_close(t ? "dense frame" : "static current", c, a, want, (gsize)B * n_post);
    }
    /* The gradient, against the unrolled one folded over the tied entries. */
    float *prev = g_new(float, B *n_pre), *gu = g_new(float, B *n_post);
    for (int i = 0; i < B * n_pre; i++)
        prev[i] = (float)oz_rng_uniform(&rng);
    for (int i = 0; i < B * n_post; i++)
        gu[i] = (float)oz_rng_gauss(&rng);
    float *dgrad = g_new0(float, (gsize)n_pre * n_post);
    for (int i = 0; i < n_pre; i++)
        for (int j = 0; j < n_post; j++)
            for (int b = 0; b < B; b++)
                dgrad[(gsize)i * n_post + j] += prev[b * n_pre + i] * gu[b * n_post + j];
    double *gwant = g_new(double, ev->nw);
    fold(c, dgrad, gwant);
    guint64 macs = ev->kind->accumulate(ev, oz_projection_grad(ev), prev, gu, B);
    expect_close("gradient", c, ev->grad, gwant, ev->nw);
    cr_assert_eq(macs, (guint64)B * ev->nw * ho * wo);
    /* The same gradient taken one sample per product (the chunks of a large layer). */
    oz_conv2d_test_grad_floats(1);
    macs = im->kind->accumulate(im, oz_projection_grad(im), prev, gu, B);
    oz_conv2d_test_grad_floats(0);
    expect_close("gradient in chunks of one sample", c, im->grad, gwant, im->nw);
    cr_assert_eq(macs, (guint64)B * im->nw * ho * wo);
    /* The chain: down · Dᵀ, for W and for another tensor in W's layout (fa's B). */
    double *cwant = g_new(double, B *n_pre);
    float *out = g_new(float, B *n_pre), *other = g_new(float, ev->nw);
    for (int pass = 0; pass < 2; pass++) {
        const float *cm = pass ? other : NULL;
        if (pass) {
            for (gsize m = 0; m < ev->nw; m++)
                other[m] = (float)oz_rng_gauss(&rng);
            unroll(c, other, d, NULL);
        }
        for (int b = 0; b < B; b++)
            for (int i = 0; i < n_pre; i++) {
                double sum = 0;
                for (int j = 0; j < n_post; j++)
                    sum += gu[b * n_post + j] * d[(gsize)i * n_post + j];
                cwant[b * n_pre + i] = sum + 0.5;
            }
        for (int i = 0; i < B * n_pre; i++)
            out[i] = 0.5f; /* the chain adds */
        ev->kind->chain_apply(ev, cm, gu, B, out);
        expect_close(pass ? "chain through B" : "chain", c, out, cwant, (gsize)B * n_pre);
    }
    g_free(cwant);
    g_free(out);
    g_free(other);
    g_free(gwant);
    g_free(dgrad);
    g_free(prev);
    g_free(gu);
    g_free(a);
    g_free(e);
    g_free(want);
    g_free(sd);
    g_free(d);
    g_free(reach);
    oz_projection_free(ev);
    oz_projection_free(im);
    oz_population_free(pre);
    oz_population_free(post);
}

Test(conv, delivery_synops_gradient_and_chain_equal_the_unrolled_matrix) {
    const char *pools[] = {"none", "avg", "sum"};
    const int kernels[] = {1, 3, 5};
    int checked = 0;
    for (int pl = 0; pl < 3; pl++)
        for (int ki = 0; ki < 3; ki++)
            for (int s = 1; s <= 2; s++)
                for (int pad = 0; pad <= 1; pad++) {
                    /* 2 channels of 7×9 (9×11 under a pool: the last row and column are
                     * past the last whole window). */
                    Conf c = {.cin = 2, .hin = 7, .win = 9, .cout = 3, .k = kernels[ki], .s = s,
                              .pad = pad, .pool = pools[pl], .ps = 2};
                    if (pl) {
                        c.hin = 9;
                        c.win = 11;
                    }
                    if (side(&c, c.hin) < 1 || side(&c, c.win) < 1)
                        continue;
                    check_toeplitz(&c);
                    checked++;
                }
    cr_assert_geq(checked, 30);
    /* A 3×3 average pool (gain 1/9) with a 1×1 kernel. */
    Conf c = {.cin = 1, .hin = 7, .win = 6, .cout = 2, .k = 1, .s = 1, .pad = 0, .pool = "avg",
              .ps = 3};
    check_toeplitz(&c);
}

/* [run] delivery = auto: a spike packet goes event-driven below the kind's
 * im2col_threshold and through im2col at or above it, whatever [run] dense_threshold. */
Test(conv, auto_delivery_picks_the_path_by_the_kinds_threshold) {
    const Conf c = {.cin = 2, .hin = 6, .win = 5, .cout = 3, .k = 3, .s = 1, .pad = 1,
                    .pool = "none", .ps = 2};
    OzPopulation *pre = shaped("pre", 2, 6, 5, 2), *post = shaped("post", 3, 6, 5, 2);
    gpointer keys = conv_keys(&c);
    const OzProjectionKindOps *ops = conv_kind();
    g_autofree char *why = NULL;
    cr_assert(oz_param_parse(oz_param_find(ops->params, "im2col_threshold"), "0.25", keys, &why));
    OzProjectionParams pp = {.init = OZ_INIT_NORMAL, .init_scale = 1.0f,
                             .delivery = OZ_DELIVERY_AUTO, .dense_threshold = 0.01f,
                             .kind = ops, .kind_params = keys};
    OzProjection *p = oz_projection_new("p", pre, post, &pp);
    g_free(keys);
    OzRng rng;
    oz_rng_init(&rng, 5, "init");
    oz_projection_init_weights(p, &rng);
    float acc[2 * 90];
    OzFrame *f = oz_population_frame(pre, 0);
    const double rates[] = {0.1, 0.6};
    int paths[2] = {0, 0};
    for (int r = 0; r < 2; r++) {
        oz_test_spike_frame(f, 2, 60, rates[r], 1.0f, FALSE, &rng);
        const double density = (double)f->nspikes / 120.0;
        oz_projection_counters_clear(p);
        oz_projection_deliver(p, f, acc);
        cr_assert_eq(p->packets_dense, density >= 0.25, "density %g", density);
        cr_assert_eq(p->packets_event, density < 0.25, "density %g", density);
        paths[density >= 0.25]++;
    }
    cr_assert(paths[0] == 1 && paths[1] == 1, "one packet on each side of the threshold");
    oz_projection_free(p);
    oz_population_free(pre);
    oz_population_free(post);
}

/* Delivery (both paths) and the chain split samples across the team, each sample summed
 * by itself in a fixed order: the same bits at 1, 2 and 3 threads. */
Test(conv, delivery_chain_and_gradient_are_the_same_bits_at_any_thread_count) {
    const Conf c = {.cin = 3, .hin = 8, .win = 6, .cout = 4, .k = 3, .s = 1, .pad = 1,
                    .pool = "avg", .ps = 2};
    const int B = 5, NPRE = 144, NPOST = 4 * 4 * 3;
    OzPopulation *pre = shaped("pre", 3, 8, 6, B), *post = shaped("post", 4, 4, 3, B);
    gpointer keys = conv_keys(&c);
    OzProjectionParams pp = {.init = OZ_INIT_KAIMING, .init_scale = 1.0f,
                             .kind = conv_kind(), .kind_params = keys};
    OzProjection *p = oz_projection_new("p", pre, post, &pp);
    g_free(keys);
    OzRng rng;
    oz_rng_init(&rng, 8, "init");
    oz_projection_init_weights(p, &rng);
    float *ref = g_new(float, 3 * B * NPRE), *got = g_new(float, 3 * B * NPRE);
    float *down = g_new(float, B * NPOST);
    for (int i = 0; i < B * NPOST; i++)
        down[i] = (float)oz_rng_gauss(&rng);
    float *gref[2] = {g_new(float, p->nw), g_new(float, p->nw)}, *ggot = g_new(float, p->nw);
    OzFrame *f = oz_population_frame(pre, 0);
    for (int threads = 1; threads <= 3; threads++) {
        oz_par_set_threads(threads);
        float *out = threads == 1 ? ref : got;
        memset(out, 0, sizeof(float) * 3 * B * NPRE);
        OzRng frames;
        oz_rng_init(&frames, 9, "frames");
        for (int path = 0; path < 2; path++) {
            p->p.delivery = path ? OZ_DELIVERY_DENSE : OZ_DELIVERY_EVENT;
            oz_test_spike_frame(f, B, NPRE, 0.3, 1.25f, FALSE, &frames);
            oz_projection_deliver(p, f, out + path * B * NPRE);
        }
        p->kind->chain_apply(p, NULL, down, B, out + 2 * B * NPRE);
        if (threads > 1)
            cr_assert(memcmp(ref, got, sizeof(float) * 3 * B * NPRE) == 0,
                      "%d threads: other bits than 1 thread", threads);
        /* The weight gradient, in chunks of two samples (three products) and in one. */
        for (int chunked = 0; chunked < 2; chunked++) {
            float *grad = threads == 1 ? gref[chunked] : ggot;
            memset(oz_projection_grad(p), 0, sizeof(float) * p->nw);
            oz_conv2d_test_grad_floats(chunked ? 2 * 12 * 27 : 0);
            p->kind->accumulate(p, oz_projection_grad(p), ref + 2 * B * NPRE, down, B);
            memcpy(grad, p->grad, sizeof(float) * p->nw);
            if (threads > 1)
                cr_assert(memcmp(gref[chunked], ggot, sizeof(float) * p->nw) == 0,
                          "%d threads: another gradient than 1 thread", threads);
        }
        oz_conv2d_test_grad_floats(0);
    }
    oz_par_set_threads(1);
    g_free(ref);
    g_free(got);
    g_free(down);
    g_free(gref[0]);
    g_free(gref[1]);
    g_free(ggot);
    oz_projection_free(p);
    oz_population_free(pre);
    oz_population_free(post);
}

Test(conv, shapes_that_do_not_fit_are_refused_naming_the_key_and_the_expected_shape) {
    char *dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 4, 4, 8, 6, 3);
    g_autofree char *base = g_strdup_printf("[run]\nmode = train\n[data]\ndir = %s\nclasses = 3\n"
                       "[population in]\nmodel = input\nshape = 1,8,6\n"
                       "[population h]\nmodel = lif\nshape = 4,8,6\n"
                       "[population out]\nmodel = readout\nsize = 3\n"
                       "[projection a]\nfrom = in\nto = h\nkind = conv2d\npadding = 1\n"
                       "[projection b]\nfrom = h\nto = out\n", dir);
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(base, "c.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    oz_scenario_free(sc);
    struct {
        const char *set, *want;
    } cases[] = {
        {"projection a.padding=0", "[projection a] to: expected the target's shape C_out,6,4"},
        {"projection a.stride=2", "[projection a] to: expected the target's shape C_out,4,3"},
        {"projection a.kernel=11", "[projection a] kernel:"},
        {"population in.shape=8,6", "[projection a] from: conv2d reads a population shaped C,H,W"},
        {"projection a.pool=avg", "C_out,4,3 (from 1,8,6, avg pool 2, kernel 3"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        const char *sets[] = {cases[i].set, NULL};
        cr_assert_null(oz_scenario_load_data(base, "c.ini", sets, &err), "%s", cases[i].set);
        cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
        cr_assert(strstr(err->message, "c.ini: ") && strstr(err->message, cases[i].want),
                  "%s: %s", cases[i].set, err->message);
        g_clear_error(&err);
    }
    /* The network refuses it too, for a program that builds one without a scenario. */
    OzNetwork *net = oz_network_new(1, 2);
    OzPopulationParams in = {.model = "input", .size = 48, .rank = 3, .shape = {1, 8, 6}};
    OzPopulationParams h = LIF_P;
    h.size = 96;
    h.rank = 3;
    h.shape[0] = 2;
    h.shape[1] = 8;
    h.shape[2] = 6;
    cr_assert_not_null(oz_network_add_population(net, "in", &in, NULL));
    cr_assert_not_null(oz_network_add_population(net, "h", &h, NULL));
    Conf c = {.k = 3, .s = 1, .pad = 0, .pool = "none", .ps = 2};
    gpointer keys = conv_keys(&c);
    OzProjectionParams pp = {.kind = conv_kind(), .kind_params = keys};
    cr_assert_null(oz_network_add_projection(net, "a", "in", "h", &pp, &err));
    cr_assert(strstr(err->message, "projection a: to: expected the target's shape C_out,6,4"),
              "%s", err->message);
    g_clear_error(&err);
    g_free(keys);
    oz_network_free(net);
    oz_test_rmtree(dir);
}

/* ---- Every rule through conv projections, against the dense twin ---- */

enum { TB = 2, TT = 5, TWINDOWS = 3 };

/* in 1×6×7 → (conv 3×3, padding 1) → h1 2×6×7 → (avg pool 2, conv 3×3, padding 1) →
 * h2 3×3×3 → dense → out 3.  The twin has dense projections a and b holding the unrolled
 * matrices. */
static const Conf CA = {.cin = 1, .hin = 6, .win = 7, .cout = 2, .k = 3, .s = 1, .pad = 1,
                        .pool = "none", .ps = 2};
static const Conf CB = {.cin = 2, .hin = 6, .win = 7, .cout = 3, .k = 3, .s = 1, .pad = 1,
                        .pool = "avg", .ps = 2};

typedef struct {
    OzNetwork *net;
    OzLearner *l;
    OzProjection *w[3];
    OzPopulation *in, *h1, *h2, *out;
    OzRng init, noise;
} Net;

typedef struct {
    const char *rule;
    gboolean conv;
    float lr;
    int delay1, delay2, jitter1, jitter2;
    float dropout;
    gboolean ll; /* local learning */
} NetOpts;

static void net_build(Net *k, const NetOpts *o) {
    memset(k, 0, sizeof *k);
    oz_rng_init(&k->init, 11, "init");
    oz_rng_init(&k->noise, 11, "noise");
    k->net = oz_network_new(TB, TT);
    OzPopulationParams in = {.model = "input", .size = 42, .rank = 3, .shape = {1, 6, 7},
                             .encoding = OZ_ENCODING_CURRENT, .lambda = 0.5f};
    OzPopulationParams h1 = {.model = "lif", .size = 84, .rank = 3, .shape = {2, 6, 7},
                             .lambda = 0.5f, .v_th = 1.0f, .bias = TRUE, .dropout = o->dropout};
    OzPopulationParams h2 = {.model = "lif", .size = 27, .rank = 3, .shape = {3, 3, 3},
                             .lambda = 0.5f, .v_th = 1.0f, .bias = TRUE, .dropout = o->dropout};
    OzPopulationParams ro = {.model = "readout", .size = 3, .bias = TRUE};
    k->in = oz_network_add_population(k->net, "in", &in, NULL);
    k->h1 = oz_network_add_population(k->net, "h1", &h1, NULL);
    k->h2 = oz_network_add_population(k->net, "h2", &h2, NULL);
    k->out = oz_network_add_population(k->net, "out", &ro, NULL);
    const Conf *confs[2] = {&CA, &CB};
    const char *names[3] = {"a", "b", "c"}, *from[3] = {"in", "h1", "h2"},
               *to[3] = {"h1", "h2", "out"};
    for (int i = 0; i < 3; i++) {
        gpointer keys = i < 2 && o->conv ? conv_keys(confs[i]) : NULL;
        OzProjectionParams pp = {.init = OZ_INIT_UNIFORM,
                                 .init_scale = 2.5f,
                                 .dense_threshold = 0.15f,
                                 .kind = keys ? conv_kind() : NULL,
                                 .kind_params = keys,
                                 .seed = 11};
        GError *err = NULL;
        k->w[i] = oz_network_add_projection(k->net, names[i], from[i], to[i], &pp, &err);
        cr_assert_not_null(k->w[i], "%s", err ? err->message : "");
        g_free(keys);
    }
    OzLearnParams lp = {
        .rule = o->rule,
        .loss_lambda = 0.3,
        .surrogate_a = 0.25,
        .noise = OZ_NOISE_GAUSSIAN,
        .position = OZ_NOISE_AFTER,
        .antithetic = TRUE,
        .momentum = 0.9,
        .local_learning = o->ll,
        .ll_scale = 0.5,
        .optim = {.kind = OZ_OPTIM_ADAMW, .lr = o->lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    };
    GError *err = NULL;
    k->l = oz_learner_new(k->net, &lp, &k->init, &k->noise, &err);
    cr_assert_not_null(k->l, "%s", err ? err->message : "");
    oz_learner_set_feedback(k->l, "h1", o->delay1, o->jitter1, OZ_ELIGIBILITY_STORED);
    oz_learner_set_feedback(k->l, "h2", o->delay2, o->jitter2, OZ_ELIGIBILITY_STORED);
    gint64 lat = oz_learner_finalize(k->l, 11, &err);
    cr_assert_geq(lat, 0, "%s", err ? err->message : "");
    cr_assert(oz_network_prepare(k->net, oz_network_delay_to(k->net, k->out) + lat, NULL));
    oz_network_init_parameters(k->net, &k->init);
    oz_learner_prepare(k->l);
    k->l->alpha = 0.3f;
    k->l->lr = o->lr;
    for (int i = 0; i < TB * 42; i++)
        k->in->x[i] = (float)((i * 29) % 23) / 8.0f - 0.75f;
    k->h1->rng = k->h2->rng = &k->noise;
}

static void net_free(Net *k) {
    oz_learner_free(k->l);
    oz_network_free(k->net);
}

/* dst (n_pre, n_post) = the unrolled matrix of the kernel src, as floats. */
static void unroll_into(const Conf *c, const float *src, float *dst) {
    const int n_pre = c->cin * c->hin * c->win;
    const int n_post = c->cout * side(c, c->hin) * side(c, c->win);
    double *d = g_new(double, (gsize)n_pre * n_post);
    unroll(c, src, d, NULL);
    for (gsize e = 0; e < (gsize)n_pre * n_post; e++)
        dst[e] = (float)d[e];
    g_free(d);
}

static void check_rule_on_twins(const char *rule) {
    Net s, d;
    NetOpts o = {.rule = rule, .conv = TRUE};
    net_build(&s, &o);
    o.conv = FALSE;
    net_build(&d, &o);
    const Conf *confs[2] = {&CA, &CB};
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(s.w[i]->kind->name, "conv2d");
        unroll_into(confs[i], s.w[i]->w, d.w[i]->w);
    }
    memcpy(d.w[2]->w, s.w[2]->w, sizeof(float) * s.w[2]->nw);
    /* Biases come from the init stream after the weights, which the twins draw in
     * different numbers: the twin takes the conv net's. */
    memcpy(d.h1->bias, s.h1->bias, sizeof(float) * s.h1->n);
    memcpy(d.h2->bias, s.h2->bias, sizeof(float) * s.h2->n);
    memcpy(d.out->bias, s.out->bias, sizeof(float) * s.out->n);
    for (guint h = 0; h < s.l->hidden->len; h++) {
        OzHidden *hs = g_ptr_array_index(s.l->hidden, h), *hd = g_ptr_array_index(d.l->hidden, h);
        gsize sz = hs->path.mat ? (gsize)hs->path.n * hs->path.m : 0;
        double norm = 0;
        for (gsize i = 0; i < sz; i++)
            norm += fabsf(hs->path.mat[i]);
        for (gsize i = 0; i < sz && norm == 0; i++) /* dkp's B starts at zero */
            hs->path.mat[i] = hd->path.mat[i] = (float)((int)(i * 13 % 9) - 4) / 8.0f;
    }
    const guint8 y[TB] = {1, 2};
    double hidden = 0;
    for (int win = 0; win < TWINDOWS; win++) {
        Net *both[2] = {&s, &d};
        for (int t = 0; t < 2; t++) {
            oz_network_reset(both[t]->net, TB, TRUE);
            oz_learner_begin(both[t]->l, y, TRUE);
        }
        /* A chain's matrix (bp: W, sign: sign(W), fa: a B drawn by the kind) is the
         * unrolled conv one in the twin. */
        if (s.l->rule->chain_matrix) {
            const float *cs = s.l->rule->chain_matrix(s.l->rule_state, s.l, s.w[1]);
            float *cd = (float *)d.l->rule->chain_matrix(d.l->rule_state, d.l, d.w[1]);
            unroll_into(&CB, cs, cd);
            cs = s.l->rule->chain_matrix(s.l->rule_state, s.l, s.w[2]);
            cd = (float *)d.l->rule->chain_matrix(d.l->rule_state, d.l, d.w[2]);
            memcpy(cd, cs, sizeof(float) * s.w[2]->nw);
        }
        oz_network_run_window(s.net);
        oz_network_run_window(d.net);
        for (int i = 0; i < TB * 3; i++)
            cr_assert_float_eq(s.out->o[i], d.out->o[i], 1e-5, "%s: readout o[%d]", rule, i);
        for (int i = 0; i < 2; i++) {
            double *want = g_new(double, s.w[i]->nw);
            fold(confs[i], d.w[i]->grad, want);
            for (gsize m = 0; m < s.w[i]->nw; m++) {
                cr_assert(fabs(s.w[i]->grad[m] - want[m]) <= 1e-5 + 1e-4 * fabs(want[m]),
                          "%s window %d: %s grad[%zu] conv %g, unrolled %g", rule, win,
                          s.w[i]->name, (size_t)m, (double)s.w[i]->grad[m], want[m]);
                hidden += fabs(want[m]) * (i == 0);
            }
            g_free(want);
            cr_assert_eq(s.w[i]->row_fetches, d.w[i]->row_fetches, "%s: the same spikes", rule);
            cr_assert_leq(s.w[i]->synops, d.w[i]->synops, "%s: a conv reaches fewer synapses",
                          rule);
        }
        for (gsize m = 0; m < s.w[2]->nw; m++)
            cr_assert_float_eq(s.w[2]->grad[m], d.w[2]->grad[m], 1e-5, "%s: c grad", rule);
        for (int i = 0; i < s.h1->n; i++)
            cr_assert_float_eq(s.h1->bias_grad[i], d.h1->bias_grad[i], 1e-5, "%s: b1", rule);
    }
    if (oz_test_rule_is_silent(rule))
        cr_assert_eq(hidden, 0.0, "%s: a silent rule gives the conv layers nothing", rule);
    else
        cr_assert_gt(hidden, 0.0, "%s: the first conv layer gets a gradient", rule);
    cr_assert_gt(s.w[1]->synops, 0, "%s: spikes crossed the pooled conv", rule);
    net_free(&s);
    net_free(&d);
}

Test(conv, every_rule_learns_through_conv_projections_as_through_their_unrolled_twin) {
    int n = 0;
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++, n++)
        check_rule_on_twins((*r)->name);
    cr_assert_geq(n, 7);
}

/* Weights and biases of the conv net after 3 trained windows. */
static GByteArray *conv_weights(const NetOpts *o) {
    Net k;
    net_build(&k, o);
    const guint8 y[TB] = {1, 0};
    for (int i = 0; i < 3; i++) {
        oz_network_reset(k.net, TB, TRUE);
        oz_learner_begin(k.l, y, TRUE);
        oz_network_run_window(k.net);
    }
    GByteArray *out = g_byte_array_new();
    for (int i = 0; i < 3; i++)
        g_byte_array_append(out, (const guint8 *)k.w[i]->w, sizeof(float) * k.w[i]->nw);
    g_byte_array_append(out, (const guint8 *)k.h1->bias, sizeof(float) * k.h1->n);
    g_byte_array_append(out, (const guint8 *)k.h2->bias, sizeof(float) * k.h2->n);
    net_free(&k);
    return out;
}

/* Every registered rule: stored eligibility with the delays the rule takes gives the
 * weights of delay 0, bit for bit, on a conv net (as tests/test-learning.c checks on a
 * dense one). */
Test(conv, stored_eligibility_with_feedback_delays_equals_no_delay_on_a_conv_net) {
    for (const OzRuleOps *const *rr = oz_rule_all(); *rr; rr++) {
        NetOpts base = {.rule = (*rr)->name, .conv = TRUE, .lr = 0.05f, .dropout = 0.2f};
        GByteArray *ref = conv_weights(&base);
        NetOpts variants[] = {base, base, base};
        variants[0].delay1 = variants[0].delay2 = 2;
        variants[1].delay1 = 3;
        variants[1].delay2 = 1;
        variants[2].delay1 = 2;
        variants[2].jitter1 = 3;
        variants[2].jitter2 = 4;
        for (gsize v = 0; v < G_N_ELEMENTS(variants); v++) {
            const NetOpts *o = &variants[v];
            if (oz_rule_chains(*rr) && (o->delay1 != o->delay2 || o->jitter1 || o->jitter2))
                continue;
            GByteArray *got = conv_weights(o);
            cr_assert_eq(got->len, ref->len);
            cr_assert(memcmp(got->data, ref->data, ref->len) == 0,
                      "%s, variant %zu: conv weights differ from delay 0", (*rr)->name, v);
            g_byte_array_free(got, TRUE);
        }
        /* The weights moved: the comparison is not between two untouched nets. */
        NetOpts frozen = base;
        frozen.lr = 0.0f;
        GByteArray *still = conv_weights(&frozen);
        if (oz_test_rule_is_silent((*rr)->name))
            cr_assert(memcmp(still->data, ref->data, ref->len) == 0,
                      "%s: a silent rule leaves the conv weights as they were", (*rr)->name);
        else
            cr_assert(memcmp(still->data, ref->data, ref->len) != 0, "%s learned",
                      (*rr)->name);
        g_byte_array_free(still, TRUE);
        g_byte_array_free(ref, TRUE);
    }
}

/* ---- Local learning reads the pooled output where a pool follows the layer ---- */

/* h1's spikes and traces at the T input ticks, recorded as the network steps. */
typedef struct {
    float s[TT][TB * 84], a[TT][TB * 84];
} Record;

static void record_h1(OzPopulation *pop, gint64 tick, gpointer user_data) {
    Record *r = user_data;
    if (strcmp(pop->name, "h1") != 0 || tick >= TT)
        return;
    const OzFrame *f = oz_population_frame(pop, tick);
    memcpy(r->s[tick], f->s, sizeof(float) * TB * 84);
    memcpy(r->a[tick], f->trace, sizeof(float) * TB * 84);
}

/* The 2×2 average pool of h1 (2, 6, 7) → (2, 3, 3), written out here. */
static void pool_h1(const float *in, double *out) {
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++) {
                double sum = 0;
                for (int d = 0; d < 4; d++)
                    sum += in[(c * 6 + 2 * y + d / 2) * 7 + 2 * x + d % 2];
                out[(c * 3 + y) * 3 + x] = sum / 4;
            }
}

Test(conv, the_local_learning_readout_of_a_pooled_layer_reads_its_pooled_output) {
    Net k;
    NetOpts o = {.rule = "dfa", .conv = TRUE, .ll = TRUE};
    net_build(&k, &o);
    OzHidden *h1 = oz_learner_hidden(k.l, k.h1), *h2 = oz_learner_hidden(k.l, k.h2);
    /* h1 is read by b through a 2×2 average pool: R is (2·3·3, 3); h2 has no pool after it. */
    cr_assert_eq(h1->ll_n, 18);
    cr_assert_eq(h1->ll_view, k.w[1]);
    cr_assert_eq(h2->ll_n, 27);
    cr_assert_null(h2->ll_view);
    /* The view's transpose is its adjoint: <P x, v> = <x, Pᵀ v>. */
    OzRng rng;
    oz_rng_init(&rng, 3, "test");
    float x[TB * 84], px[TB * 18], v[TB * 18], ptv[TB * 84];
    for (int i = 0; i < TB * 84; i++) {
        x[i] = (float)oz_rng_gauss(&rng);
        ptv[i] = 0.0f;
    }
    for (int i = 0; i < TB * 18; i++)
        v[i] = (float)oz_rng_gauss(&rng);
    const OzProjection *b = k.w[1];
    b->kind->view(b, x, TB, px);
    b->kind->view_transpose(b, v, TB, ptv);
    double lhs = 0, rhs = 0, want[18];
    for (int s = 0; s < TB; s++) {
        pool_h1(x + s * 84, want);
        for (int i = 0; i < 18; i++) {
            cr_assert_float_eq(px[s * 18 + i], want[i], 1e-6, "P(x)[%d]", i);
            lhs += px[s * 18 + i] * (double)v[s * 18 + i];
        }
    }
    for (int i = 0; i < TB * 84; i++)
        rhs += (double)x[i] * ptv[i];
    cr_assert_float_eq(lhs, rhs, 1e-5, "the transposed pool is the adjoint");
    /* One window (lr 0): ∇R of h1 = Σ_t P(â(t))ᵀ e_r(t), e_r the scaled error of
     * r = P(ŝ(t))·R, computed here from h1's recorded spikes and traces. */
    Record *rec = g_new0(Record, 1);
    oz_network_set_observer(k.net, record_h1, rec);
    const guint8 y[TB] = {1, 2};
    oz_network_reset(k.net, TB, TRUE);
    oz_learner_begin(k.l, y, TRUE);
    oz_network_run_window(k.net);
    double grad[18 * 3] = {0};
    double spikes = 0;
    for (int t = 0; t < TT; t++) {
        float r[TB * 3], e[TB * 3];
        double ps[18], pa[TB][18];
        for (int s = 0; s < TB; s++) {
            pool_h1(rec->s[t] + s * 84, ps);
            pool_h1(rec->a[t] + s * 84, pa[s]);
            for (int c = 0; c < 3; c++) {
                double sum = 0;
                for (int i = 0; i < 18; i++)
                    sum += ps[i] * h1->ll_w[i * 3 + c];
                r[s * 3 + c] = (float)sum;
            }
            for (int i = 0; i < 84; i++)
                spikes += rec->s[t][s * 84 + i] != 0.0f;
        }
        oz_loss_instant(r, y, TB, 3, 0.3, TT, e, NULL);
        for (int s = 0; s < TB; s++)
            for (int i = 0; i < 18; i++)
                for (int c = 0; c < 3; c++)
                    grad[i * 3 + c] += pa[s][i] * 0.5 * e[s * 3 + c];
    }
    cr_assert_gt(spikes, 0, "h1 fired");
    for (int i = 0; i < 18 * 3; i++)
        cr_assert(fabs(h1->ll_grad[i] - grad[i]) <= 1e-6 + 1e-4 * fabs(grad[i]),
                  "dR1[%d] = %g, the pooled reference gives %g", i, (double)h1->ll_grad[i],
                  grad[i]);
    g_free(rec);
    net_free(&k);
}

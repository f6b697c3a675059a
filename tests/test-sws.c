/* Scaled weight standardisation, output_scale and intermediate global learning
 * (docs/ALGORITHM.md §3.6, §2.7, §8, §8.1): sWS forward and backward against a
 * double-precision reference and against central differences, the learner's step through
 * it against a twin network without sWS, on dense and conv2d projections; output_scale's
 * exact scaling of what a population transmits; IGL's gradients and a LL readout through a
 * pool against double references; γ through a checkpoint. */
#include "oz-test-util.h"
#include "plasticity/oz-learner.h"
#include "sim/oz-checkpoint.h"
#include "sim/oz-run.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <string.h>

/* ---- sWS by hand, in double, in (unit, j) order ---- */

static gsize at(const OzFanIn *L, gsize u, gsize j) {
    return u * L->unit_stride + j * L->elem_stride;
}

/* Ŵ of unit u: γ (W − μ) / sqrt(N σ² + ε), σ² unbiased. */
static void ref_forward(const OzFanIn *L, const double *w, const double *gamma, double *out) {
    const gsize N = L->fan_in;
    for (gsize u = 0; u < L->units; u++) {
        double mu = 0, ss = 0;
        for (gsize j = 0; j < N; j++)
            mu += w[at(L, u, j)];
        mu /= (double)N;
        for (gsize j = 0; j < N; j++)
            ss += (w[at(L, u, j)] - mu) * (w[at(L, u, j)] - mu);
        const double s = sqrt((double)N * ss / (double)(N - 1) + 1e-4);
        for (gsize j = 0; j < N; j++)
            out[at(L, u, j)] = gamma[u] * (w[at(L, u, j)] - mu) / s;
    }
}

/* The formulas of the backward pass, written out again per unit. */
static void ref_backward(const OzFanIn *L, const double *w, const double *gamma, const double *g,
                         double *gw, double *ggamma) {
    const gsize N = L->fan_in;
    for (gsize u = 0; u < L->units; u++) {
        double mu = 0, ss = 0, gbar = 0, gc = 0;
        for (gsize j = 0; j < N; j++)
            mu += w[at(L, u, j)] / (double)N;
        for (gsize j = 0; j < N; j++)
            ss += (w[at(L, u, j)] - mu) * (w[at(L, u, j)] - mu);
        const double s = sqrt((double)N * ss / (double)(N - 1) + 1e-4);
        for (gsize j = 0; j < N; j++) {
            gbar += g[at(L, u, j)] / (double)N;
            gc += g[at(L, u, j)] * (w[at(L, u, j)] - mu);
        }
        ggamma[u] = gc / s;
        for (gsize j = 0; j < N; j++) {
            const double c = w[at(L, u, j)] - mu;
            gw[at(L, u, j)] =
                gamma[u] / s *
                (g[at(L, u, j)] - gbar - (double)N / (double)(N - 1) * c * gc / (s * s));
        }
    }
}

/* L = Σ G·Ŵ(W, γ), for central differences. */
static double ref_objective(const OzFanIn *L, const double *w, const double *gamma,
                            const double *g) {
    const gsize nw = L->units * L->fan_in;
    double *out = g_new(double, nw), sum = 0;
    ref_forward(L, w, gamma, out);
    for (gsize i = 0; i < nw; i++)
        sum += g[i] * out[i];
    g_free(out);
    return sum;
}

static void expect_near(const char *what, const float *got, const double *want, gsize n,
                        double rel) {
    double scale = 1e-12;
    for (gsize i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (gsize i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= rel * scale, "%s[%zu]: got %.9g, reference %.9g", what,
                  i, got[i], want[i]);
}

/* A network in (n_in) → h (n_out, lif) with one sWS projection of the given kind. */
typedef struct {
    OzNetwork *net;
    OzProjection *p;
} One;

static One one_projection(int n_in, int n_out) {
    One o;
    o.net = oz_network_new(2, 3);
    OzPopulationParams in = {.model = "input", .size = n_in, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams lif = {.model = "lif", .size = n_out, .lambda = 0.5f, .v_th = 1.0f};
    cr_assert_not_null(oz_network_add_population(o.net, "in", &in, NULL));
    cr_assert_not_null(oz_network_add_population(o.net, "h", &lif, NULL));
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 1, .weight_standardization = 1};
    GError *err = NULL;
    o.p = oz_network_add_projection(o.net, "a", "in", "h", &pp, &err);
    cr_assert_not_null(o.p, "%s", err ? err->message : "");
    cr_assert_not_null(o.p->ws, "weight_standardization gives the projection its sWS state");
    return o;
}

/* Raw weights with a per-unit offset and spread (μ ≠ 0, σ ≠ 1), gains other than 1. */
static void fill_raw(OzProjection *p, double *w, double *gamma) {
    const OzFanIn *L = &p->ws->lay;
    for (gsize u = 0; u < L->units; u++) {
        gamma[u] = 0.6 + 0.35 * (double)u;
        p->ws->gamma[u] = (float)gamma[u];
        for (gsize j = 0; j < L->fan_in; j++) {
            const float v =
                0.3f * (float)u - 0.2f + (float)((int)((j * 7 + u * 3) % 11) - 5) / 8.0f;
            p->ws->w_raw[at(L, u, j)] = v;
            w[at(L, u, j)] = v;
        }
    }
}

Test(sws, the_dense_forward_standardises_each_column_like_the_double_reference) {
    One o = one_projection(7, 5);
    const OzFanIn *L = &o.p->ws->lay;
    cr_assert_eq(L->units, 5, "a dense unit is a postsynaptic neuron");
    cr_assert_eq(L->fan_in, 7);
    double w[35], gamma[5], want[35];
    fill_raw(o.p, w, gamma);
    oz_projection_weights_changed(o.p);
    ref_forward(L, w, gamma, want);
    expect_near("Ŵ", o.p->w, want, 35, 1e-6);
    /* Each column of Ŵ / γ has mean 0 and N·var ≈ 1 (up to ε). */
    for (gsize u = 0; u < 5; u++) {
        double m = 0;
        for (gsize j = 0; j < 7; j++)
            m += o.p->w[at(L, u, j)];
        cr_assert(fabs(m) < 1e-5, "column %zu sums to %g", u, m);
    }
    oz_network_free(o.net);
}

Test(sws, the_backward_matches_the_formulas_and_central_differences_including_gamma) {
    One o = one_projection(6, 4);
    const OzFanIn *L = &o.p->ws->lay;
    const gsize nw = 24, U = 4;
    double w[24], gamma[4], g[24], gw[24], gg[4];
    fill_raw(o.p, w, gamma);
    float *grad = oz_projection_grad(o.p);
    for (gsize i = 0; i < nw; i++) {
        g[i] = (double)((int)((i * 5 + 3) % 13) - 6) / 16.0;
        grad[i] = (float)g[i];
    }
    oz_projection_grad_backward(o.p);
    ref_backward(L, w, gamma, g, gw, gg);
    expect_near("∂L/∂W", o.p->ws->grad_raw, gw, nw, 1e-5);
    expect_near("∂L/∂γ", o.p->ws->gamma_grad, gg, U, 1e-5);
    for (gsize i = 0; i < nw; i++)
        cr_assert_eq(grad[i], 0.0f, "∂L/∂Ŵ is consumed by the backward pass");
    /* The formulas themselves against central differences of L = Σ G·Ŵ. */
    const double h = 1e-6;
    for (gsize i = 0; i < nw; i++) {
        double wp[24], wm[24];
        memcpy(wp, w, sizeof wp);
        memcpy(wm, w, sizeof wm);
        wp[i] += h;
        wm[i] -= h;
        double fd = (ref_objective(L, wp, gamma, g) - ref_objective(L, wm, gamma, g)) / (2 * h);
        cr_assert(fabs(fd - gw[i]) < 1e-6 * fmax(1, fabs(fd)), "∂L/∂W[%zu]: %.9g vs %.9g", i, gw[i],
                  fd);
    }
    for (gsize u = 0; u < U; u++) {
        double gp[4], gm[4];
        memcpy(gp, gamma, sizeof gp);
        memcpy(gm, gamma, sizeof gm);
        gp[u] += h;
        gm[u] -= h;
        double fd = (ref_objective(L, w, gp, g) - ref_objective(L, w, gm, g)) / (2 * h);
        cr_assert(fabs(fd - gg[u]) < 1e-6 * fmax(1, fabs(fd)), "∂L/∂γ[%zu]: %.9g vs %.9g", u, gg[u],
                  fd);
    }
    oz_network_free(o.net);
}

Test(sws, a_kind_without_fan_in_or_a_fan_in_of_one_is_refused_by_name) {
    OzNetwork *net = oz_network_new(2, 3);
    OzPopulationParams in = {.model = "input", .size = 1, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams lif = {.model = "lif", .size = 3, .lambda = 0.5f, .v_th = 1.0f};
    oz_network_add_population(net, "in", &in, NULL);
    oz_network_add_population(net, "h", &lif, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 1, .weight_standardization = 1};
    GError *err = NULL;
    cr_assert_null(oz_network_add_projection(net, "a", "in", "h", &pp, &err));
    cr_assert(strstr(err->message, "projection a") && strstr(err->message, "N - 1"), "%s",
              err->message);
    g_clear_error(&err);
    pp.kind = oz_projection_kind_lookup("sparse");
    cr_assert_null(oz_network_add_projection(net, "b", "h", "h", &pp, &err));
    cr_assert(strstr(err->message, "kind sparse"), "%s", err->message);
    g_clear_error(&err);
    oz_network_free(net);
}

/* ---- The learner's step through sWS, against a twin without it ---- */

enum { B = 2, NI = 3, N1 = 4, N2 = 4, M = 2, T = 4 };

typedef struct {
    OzNetwork *net;
    OzLearner *l;
    OzProjection *w[3];
    OzPopulation *in, *h1, *h2, *out;
    OzRng init, noise;
} Tiny;

typedef struct {
    const char *rule;
    gboolean sws;
    gboolean igl; /* h2 carries an intermediate readout */
    OzOptimKind optim;
    double lr;
    OzNoiseMode position;
} TinyOpts;

static void tiny_build(Tiny *k, const TinyOpts *o) {
    memset(k, 0, sizeof *k);
    oz_rng_init(&k->init, 11, "init");
    oz_rng_init(&k->noise, 11, "noise");
    k->net = oz_network_new(B, T);
    OzPopulationParams in = {
        .model = "input", .size = NI, .encoding = OZ_ENCODING_CURRENT, .lambda = 0.5f};
    OzPopulationParams lif = {.model = "lif", .lambda = 0.5f, .v_th = 1.0f, .bias = TRUE};
    OzPopulationParams ro = {.model = "readout", .size = M, .bias = TRUE};
    k->in = oz_network_add_population(k->net, "in", &in, NULL);
    lif.size = N1;
    k->h1 = oz_network_add_population(k->net, "h1", &lif, NULL);
    lif.size = N2;
    k->h2 = oz_network_add_population(k->net, "h2", &lif, NULL);
    k->out = oz_network_add_population(k->net, "out", &ro, NULL);
    OzProjectionParams pp = {
        .init = OZ_INIT_UNIFORM, .init_scale = 2.5f, .weight_standardization = o->sws};
    k->w[0] = oz_network_add_projection(k->net, "w1", "in", "h1", &pp, NULL);
    k->w[1] = oz_network_add_projection(k->net, "w2", "h1", "h2", &pp, NULL);
    k->w[2] = oz_network_add_projection(k->net, "w3", "h2", "out", &pp, NULL);
    OzLearnParams lp = {
        .rule = o->rule,
        .loss_lambda = 0.3,
        .surrogate_a = 0.25,
        .noise = OZ_NOISE_GAUSSIAN,
        .position = o->position,
        .antithetic = TRUE,
        .momentum = 0.9,
        .optim = {.kind = o->optim, .lr = 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    };
    GError *err = NULL;
    k->l = oz_learner_new(k->net, &lp, &k->init, &k->noise, &err);
    cr_assert_not_null(k->l, "%s", err ? err->message : "");
    if (o->igl)
        cr_assert(oz_learner_set_igl(k->l, "h2", &err), "%s", err ? err->message : "");
    gint64 lat = oz_learner_finalize(k->l, 11, &err);
    cr_assert_geq(lat, 0, "%s", err ? err->message : "");
    k->h1->min_depth = MAX(k->h1->min_depth, T);
    k->h2->min_depth = MAX(k->h2->min_depth, T);
    cr_assert(oz_network_prepare(k->net, oz_network_delay_to(k->net, k->out) + lat, NULL));
    oz_network_init_parameters(k->net, &k->init);
    oz_learner_prepare(k->l);
    k->l->alpha = 0.3f;
    k->l->lr = o->lr;
    const float x[B * NI] = {0.9f, -0.4f, 1.3f, 0.2f, 1.1f, -0.7f};
    memcpy(k->in->x, x, sizeof x);
    k->h1->rng = k->h2->rng = &k->noise;
}

static void tiny_free(Tiny *k) {
    oz_learner_free(k->l);
    oz_network_free(k->net);
}

static void tiny_window(Tiny *k) {
    static const guint8 y[B] = {1, 0};
    oz_network_reset(k->net, B, TRUE);
    oz_learner_begin(k->l, y, TRUE);
    oz_network_run_window(k->net);
}

/* A window of bp through sWS (SGD, lr η) against the same window on a twin without sWS
 * whose weights are the sWS net's Ŵ: the twin's gradient is ∂L/∂Ŵ (so the forward pass
 * and bp's transposed path used Ŵ), and the sWS net's step must be
 * W ← W − η·backward(∂L/∂Ŵ), γ ← γ − η·∂L/∂γ, with Ŵ formed again from them. */
static void check_step_against_twin(const char *rule) {
    const double eta = 0.05;
    Tiny a, b;
    tiny_build(&a, &(TinyOpts){.rule = rule, .sws = TRUE, .optim = OZ_OPTIM_SGD, .lr = eta});
    tiny_build(&b, &(TinyOpts){.rule = rule, .optim = OZ_OPTIM_SGD, .lr = 0.0});
    double raw[3][16], gam[3][4];
    for (int i = 0; i < 3; i++) {
        memcpy(b.w[i]->w, a.w[i]->w, sizeof(float) * a.w[i]->nw);
        for (gsize j = 0; j < a.w[i]->nw; j++)
            raw[i][j] = a.w[i]->ws->w_raw[j];
        for (gsize u = 0; u < a.w[i]->ws->lay.units; u++) {
            /* γ other than 1, so a step that ignored it would show. */
            a.w[i]->ws->gamma[u] = 0.8f + 0.25f * (float)u;
            gam[i][u] = a.w[i]->ws->gamma[u];
        }
        oz_projection_weights_changed(a.w[i]);
        memcpy(b.w[i]->w, a.w[i]->w, sizeof(float) * a.w[i]->nw);
    }
    OzPopulation *pa[3] = {a.h1, a.h2, a.out}, *pb[3] = {b.h1, b.h2, b.out};
    for (int i = 0; i < 3; i++)
        memcpy(pb[i]->bias, pa[i]->bias, sizeof(float) * (gsize)pa[i]->n);
    tiny_window(&a);
    tiny_window(&b);
    double nz = 0;
    for (int i = 0; i < 3; i++) {
        const OzFanIn *L = &a.w[i]->ws->lay;
        const gsize nw = a.w[i]->nw, U = L->units;
        double g[16], gw[16], gg[4], want_w[16], want_g[4], want_hat[16];
        for (gsize j = 0; j < nw; j++) {
            g[j] = b.w[i]->grad[j];
            nz += fabs(g[j]);
        }
        ref_backward(L, raw[i], gam[i], g, gw, gg);
        for (gsize j = 0; j < nw; j++)
            want_w[j] = raw[i][j] - eta * gw[j];
        for (gsize u = 0; u < U; u++)
            want_g[u] = gam[i][u] - eta * gg[u];
        expect_near("W after the step", a.w[i]->ws->w_raw, want_w, nw, 1e-5);
        expect_near("γ after the step", a.w[i]->ws->gamma, want_g, U, 1e-5);
        ref_forward(L, want_w, want_g, want_hat);
        expect_near("Ŵ after the step", a.w[i]->w, want_hat, nw, 1e-5);
    }
    cr_assert_gt(nz, 0.0, "the tiny net must produce a gradient");
    tiny_free(&a);
    tiny_free(&b);
}

Test(sws, a_bp_step_goes_through_the_backward_pass_and_forms_w_hat_again) {
    check_step_against_twin("bp");
}

Test(sws, a_dfa_step_goes_through_the_backward_pass_and_forms_w_hat_again) {
    check_step_against_twin("dfa");
}

/* ---- output_scale ---- */

/* in (3) → h (lif, output_scale as given, dropout as given) → out (readout, no bias). */
typedef struct {
    OzNetwork *net;
    OzPopulation *h, *out;
    OzProjection *a, *b;
    OzRng rng;
} Scaled;

static Scaled scaled_net(const char *scale, const char *dropout, gboolean training) {
    Scaled s;
    oz_rng_init(&s.rng, 5, "init");
    s.net = oz_network_new(B, T);
    OzPopulationParams in = {.model = "input", .size = NI, .encoding = OZ_ENCODING_CURRENT};
    const char *keys[] = {"lambda", "v_th", "bias", "output_scale", "dropout", NULL};
    const char *values[] = {"0.5", "1", "false", scale, dropout, NULL};
    OzPopulationParams lif = {.model = "lif", .size = 40, .keys = keys, .values = values};
    OzPopulationParams ro = {.model = "readout", .size = M, .bias = FALSE};
    oz_network_add_population(s.net, "in", &in, NULL);
    GError *err = NULL;
    s.h = oz_network_add_population(s.net, "h", &lif, &err);
    cr_assert_not_null(s.h, "%s", err ? err->message : "");
    s.out = oz_network_add_population(s.net, "out", &ro, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 4};
    s.a = oz_network_add_projection(s.net, "a", "in", "h", &pp, NULL);
    s.b = oz_network_add_projection(s.net, "b", "h", "out", &pp, NULL);
    s.h->min_depth = T;
    cr_assert(oz_network_prepare(s.net, oz_network_delay_to(s.net, s.out), NULL));
    oz_network_init_parameters(s.net, &s.rng);
    s.h->rng = &s.rng;
    const float x[B * NI] = {0.9f, -0.4f, 1.3f, 0.2f, 1.1f, -0.7f};
    memcpy(oz_network_population(s.net, "in")->x, x, sizeof x);
    oz_network_reset(s.net, B, training);
    oz_network_run_window(s.net);
    return s;
}

Test(sws, output_scale_multiplies_the_transmitted_spikes_traces_and_delivered_current) {
    Scaled one = scaled_net("1", "0", FALSE), two = scaled_net("2", "0", FALSE);
    const gsize bn = (gsize)B * 40;
    guint64 spikes = 0;
    for (gint64 t = 0; t < T; t++) {
        const OzFrame *f1 = oz_population_frame(one.h, t), *f2 = oz_population_frame(two.h, t);
        cr_assert_eq(f2->nspikes, f1->nspikes, "tick %ld: the same spikes", (long)t);
        cr_assert_eq(f2->value, 2.0f * f1->value);
        for (gsize i = 0; i < bn; i++) {
            cr_assert_eq(f2->s[i], 2.0f * f1->s[i], "s[%zu] at tick %ld", i, (long)t);
            cr_assert_eq(f2->trace[i], 2.0f * f1->trace[i], "trace[%zu] at tick %ld", i, (long)t);
        }
        /* What a downstream projection's gradient uses as â: the scaled trace. */
        float g[B * M] = {0.5f, -0.25f, 1.0f, 0.75f}, d1[40 * M] = {0}, d2[40 * M] = {0};
        one.b->kind->accumulate(one.b, d1, f1->trace, g, B);
        two.b->kind->accumulate(two.b, d2, f2->trace, g, B);
        for (int i = 0; i < 40 * M; i++)
            cr_assert_eq(d2[i], 2.0f * d1[i]);
        spikes += f1->nspikes;
    }
    cr_assert_gt(spikes, 0, "h must fire for the test to mean something");
    cr_assert_eq(two.h->spikes, one.h->spikes, "firing counts spikes, not their value");
    cr_assert_eq(two.b->synops, one.b->synops, "so does SynOps");
    /* The readout (no bias) sums the delivered current: exactly twice. */
    for (int i = 0; i < B * M; i++)
        cr_assert_eq(two.out->osum[i], 2.0f * one.out->osum[i], "osum[%d]", i);
    oz_network_free(one.net);
    oz_network_free(two.net);
}

Test(sws, output_scale_rides_on_the_dropout_mask_so_the_gate_scales_too) {
    Scaled s = scaled_net("2", "0.5", TRUE);
    int kept = 0;
    for (int i = 0; i < B * 40; i++) {
        cr_assert(s.h->mask[i] == 0.0f || s.h->mask[i] == 4.0f, "mask %g", (double)s.h->mask[i]);
        kept += s.h->mask[i] != 0.0f;
    }
    cr_assert(kept > 0 && kept < B * 40);
    oz_network_free(s.net);
    Scaled e = scaled_net("2.74", "0", FALSE);
    for (int i = 0; i < B * 40; i++)
        cr_assert_eq(e.h->mask[i], 2.74f, "inference: the mask is the scale");
    oz_network_free(e.net);
}

/* ---- IGL against a double reference ---- */

static double psi(double u) {
    double x = (u - 1.0) / 0.25;
    double e = exp(-x);
    return 4.0 * e / ((1 + e) * (1 + e));
}

static void ref_error(const double *r, const guint8 *y, double *e, double *l) {
    for (int b = 0; b < B; b++) {
        double mx = -1e300, zs = 0;
        for (int c = 0; c < M; c++)
            mx = fmax(mx, r[b * M + c]);
        for (int c = 0; c < M; c++)
            zs += exp(r[b * M + c] - mx);
        l[b] = 0.7 * (mx + log(zs) - r[b * M + y[b]]);
        for (int c = 0; c < M; c++) {
            double p = exp(r[b * M + c] - mx) / zs, yc = c == y[b];
            e[b * M + c] = (0.7 * (p - yc) + 0.3 * (2.0 / M) * (r[b * M + c] - yc)) / (T * B);
            l[b] += 0.3 * (r[b * M + c] - yc) * (r[b * M + c] - yc) / M;
        }
        l[b] /= T * B;
    }
}

typedef struct {
    double g1[NI * N1], g2[N1 * N2], g3[N2 * M], R[N2 * M];
} IglGrads;

/* in → h1 → h2 (igl) → out with dfa or opzo: h2 learns from the top error through its
 * own B or M; h1 from h2's readout r = ŝ₂R (its error, and for opzo r as õ in M₁'s
 * update); R by ∇R = Σ â₂ᵀ e_r. */
static void igl_reference(Tiny *k, gboolean opzo, const double *m1_0, const double *m2_0,
                          IglGrads *g) {
    static const guint8 y[B] = {1, 0};
    memset(g, 0, sizeof *g);
    OzHidden *H1 = g_ptr_array_index(k->l->hidden, 0), *H2 = g_ptr_array_index(k->l->hidden, 1);
    const float *W1 = k->w[0]->w, *W2 = k->w[1]->w, *W3 = k->w[2]->w, *R = H2->igl_w;
    double v1[B * N1] = {0}, v2[B * N2] = {0}, tr1[B * N1] = {0}, tr2[B * N2] = {0};
    double M1[N1 * M], M2[N2 * M];
    memcpy(M1, m1_0, sizeof M1);
    memcpy(M2, m2_0, sizeof M2);
    const double alpha = opzo ? 0.3 : 0.0;
    for (int t = 0; t < T; t++) {
        const float *z1 = oz_population_frame(k->h1, t)->z, *z2 = oz_population_frame(k->h2, t)->z;
        double u1[B * N1], u2[B * N2], sh1[B * N1], sh2[B * N2], o[B * M], r[B * M];
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < N1; j++) {
                double cur = k->h1->bias[j];
                for (int i = 0; i < NI; i++)
                    cur += (double)k->in->x[b * NI + i] * W1[i * N1 + j];
                double u = 0.5 * v1[b * N1 + j] + cur, s = u >= 1.0 ? 1.0 : 0.0;
                v1[b * N1 + j] = u - s;
                u1[b * N1 + j] = u;
                sh1[b * N1 + j] = s + alpha * z1[b * N1 + j];
                tr1[b * N1 + j] = 0.5 * tr1[b * N1 + j] + s;
            }
            for (int j = 0; j < N2; j++) {
                double cur = k->h2->bias[j];
                for (int i = 0; i < N1; i++)
                    cur += sh1[b * N1 + i] * W2[i * N2 + j];
                double u = 0.5 * v2[b * N2 + j] + cur, s = u >= 1.0 ? 1.0 : 0.0;
                v2[b * N2 + j] = u - s;
                u2[b * N2 + j] = u;
                sh2[b * N2 + j] = s + alpha * z2[b * N2 + j];
                tr2[b * N2 + j] = 0.5 * tr2[b * N2 + j] + s;
            }
            for (int c = 0; c < M; c++) {
                o[b * M + c] = k->out->bias[c];
                r[b * M + c] = 0;
                for (int i = 0; i < N2; i++) {
                    o[b * M + c] += sh2[b * N2 + i] * W3[i * M + c];
                    r[b * M + c] += sh2[b * N2 + i] * R[i * M + c];
                }
            }
        }
        double e[B * M], er[B * M], l[B], lr[B];
        ref_error(o, y, e, l);
        ref_error(r, y, er, lr);
        if (opzo) {
            for (int i = 0; i < N1 * M; i++)
                M1[i] *= 0.9;
            for (int i = 0; i < N2 * M; i++)
                M2[i] *= 0.9;
            for (int b = 0; b < B; b++)
                for (int c = 0; c < M; c++) {
                    for (int i = 0; i < N1; i++)
                        M1[i * M + c] += 0.1 / B * z1[b * N1 + i] * r[b * M + c];
                    for (int i = 0; i < N2; i++)
                        M2[i * M + c] += 0.1 / B * z2[b * N2 + i] * o[b * M + c];
                }
        }
        const float *B1 = H1->path.mat, *B2 = H2->path.mat;
        for (int b = 0; b < B; b++) {
            double gu1[N1], gu2[N2];
            for (int i = 0; i < N2; i++) {
                double s = 0;
                for (int c = 0; c < M; c++)
                    s += (opzo ? M2[i * M + c] : B2[i * M + c]) * e[b * M + c];
                gu2[i] = s * psi(u2[b * N2 + i]);
            }
            for (int i = 0; i < N1; i++) {
                double s = 0;
                for (int c = 0; c < M; c++)
                    s += (opzo ? M1[i * M + c] : B1[i * M + c]) * er[b * M + c];
                gu1[i] = s * psi(u1[b * N1 + i]);
            }
            for (int j = 0; j < N1; j++)
                for (int i = 0; i < NI; i++)
                    g->g1[i * N1 + j] += (double)k->in->x[b * NI + i] * gu1[j];
            for (int j = 0; j < N2; j++)
                for (int i = 0; i < N1; i++)
                    g->g2[i * N2 + j] += tr1[b * N1 + i] * gu2[j];
            for (int c = 0; c < M; c++)
                for (int i = 0; i < N2; i++) {
                    g->g3[i * M + c] += tr2[b * N2 + i] * e[b * M + c];
                    g->R[i * M + c] += tr2[b * N2 + i] * er[b * M + c];
                }
        }
    }
}

static void check_igl(const char *rule) {
    const gboolean opzo = !strcmp(rule, "opzo");
    Tiny k;
    tiny_build(&k, &(TinyOpts){.rule = rule, .igl = TRUE, .position = OZ_NOISE_AFTER});
    OzHidden *H1 = g_ptr_array_index(k.l->hidden, 0), *H2 = g_ptr_array_index(k.l->hidden, 1);
    cr_assert(H1->target == H2 && H2->target == NULL,
              "h1 learns from h2's readout, h2 from the top");
    cr_assert_not_null(H2->igl_w);
    /* Warm opzo's M up for a few windows (lr 0), so the checked window starts nonzero. */
    for (int w = 0; opzo && w < 3; w++)
        tiny_window(&k);
    double m1[N1 * M], m2[N2 * M];
    for (int i = 0; i < N1 * M; i++)
        m1[i] = H1->path.mat[i];
    for (int i = 0; i < N2 * M; i++)
        m2[i] = H2->path.mat[i];
    tiny_window(&k);
    IglGrads g;
    igl_reference(&k, opzo, m1, m2, &g);
    double nz = 0;
    for (int i = 0; i < NI * N1; i++)
        nz += fabs(g.g1[i]);
    cr_assert_gt(nz, 0.0, "h1 must get a gradient for the test to mean something");
    expect_near("W1", k.w[0]->grad, g.g1, NI * N1, 1e-4);
    expect_near("W2", k.w[1]->grad, g.g2, N1 * N2, 1e-4);
    expect_near("W3", k.w[2]->grad, g.g3, N2 * M, 1e-4);
    expect_near("R_igl", H2->igl_grad, g.R, N2 * M, 1e-4);
    tiny_free(&k);
}

Test(sws, igl_dfa_gradients_match_the_double_reference) {
    check_igl("dfa");
}

Test(sws, igl_opzo_gradients_and_momentum_match_the_double_reference) {
    check_igl("opzo");
}

/* A learner of the rule on in → h1 → out, not finalized (igl is set before). */
static OzLearner *small_learner(OzNetwork **net, const char *rule, OzRng *r1, OzRng *r2) {
    *net = oz_network_new(B, T);
    OzPopulationParams in = {.model = "input", .size = NI, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams lif = {.model = "lif", .size = N1, .lambda = 0.5f, .v_th = 1.0f};
    OzPopulationParams ro = {.model = "readout", .size = M};
    oz_network_add_population(*net, "in", &in, NULL);
    oz_network_add_population(*net, "h1", &lif, NULL);
    oz_network_add_population(*net, "out", &ro, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 1};
    oz_network_add_projection(*net, "a", "in", "h1", &pp, NULL);
    oz_network_add_projection(*net, "b", "h1", "out", &pp, NULL);
    oz_rng_init(r1, 1, "init");
    oz_rng_init(r2, 1, "noise");
    OzLearnParams lp = {.rule = rule, .optim = {.kind = OZ_OPTIM_ADAMW}};
    OzLearner *l = oz_learner_new(*net, &lp, r1, r2, NULL);
    cr_assert_not_null(l);
    return l;
}

Test(sws, igl_is_refused_for_a_chain_rule_and_an_unknown_population) {
    OzNetwork *net;
    OzRng r1, r2;
    GError *err = NULL;
    OzLearner *l = small_learner(&net, "dfa", &r1, &r2);
    cr_assert_not(oz_learner_set_igl(l, "nope", &err));
    cr_assert(strstr(err->message, "nope"), "%s", err->message);
    g_clear_error(&err);
    cr_assert(oz_learner_set_igl(l, "h1", &err), "dfa takes it");
    oz_learner_free(l);
    oz_network_free(net);
    l = small_learner(&net, "bp", &r1, &r2);
    cr_assert_not(oz_learner_set_igl(l, "h1", &err));
    cr_assert(strstr(err->message, "bp"), "%s", err->message);
    g_clear_error(&err);
    oz_learner_free(l);
    oz_network_free(net);
}

/* ---- γ through a checkpoint ---- */

Test(sws, gamma_and_the_raw_weights_round_trip_through_a_checkpoint) {
    g_autofree char *dir = oz_test_tmpdir();
    g_autofree char *text = oz_test_tiny_scenario(dir);
    g_autofree char *ini = oz_test_write_file(dir, "s.ini", text);
    g_autofree char *db = g_build_filename(dir, "r.sqlite", NULL);
    const char *set = "projection a.weight_standardization=true";
    g_autofree char *err = NULL;
    int rc = oz_test_run(&err, "run", ini, "--quiet", "--db", db, "--set", set, "--set",
                         "run.mode=train", NULL);
    cr_assert_eq(rc, 0, "%s", err);
    g_autofree char *shape = oz_test_qs(
        db, "select dtype || '[' || shape || ']' from checkpoints where name = 'gamma:a'");
    cr_assert_str_eq(shape, "float32[3]");
    cr_assert_eq(oz_test_q(db, "select count(*) from checkpoints where name like 'gamma:%'"), 1,
                 "only the sWS projection has a gain");
    cr_assert_eq(oz_test_q(db, "select count(*) from checkpoints where name = 'm:a.gamma'"), 1,
                 "γ is an optimizer parameter");
    /* Load it into a fresh run of the same scenario. */
    const char *sets[] = {set, "run.mode=train", NULL};
    GError *e = NULL;
    g_autoptr(OzScenario) sc = oz_scenario_load(ini, sets, &e);
    cr_assert_not_null(sc, "%s", e ? e->message : "");
    OzRun *run = oz_run_new(sc, &e);
    cr_assert_not_null(run, "%s", e ? e->message : "");
    OzProjection *p = oz_network_projection(run->net, "a");
    cr_assert_not_null(p->ws);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert(oz_checkpoint_load(h, 1, 0, run, OZ_LOAD_MODEL, &e), "%s", e ? e->message : "");
    sqlite3_close(h);
    g_autoptr(GBytes) gb = oz_test_blob(db, "select data from checkpoints where name = 'gamma:a'");
    g_autoptr(GBytes) wb = oz_test_blob(db, "select data from checkpoints where name = 'w:a'");
    cr_assert_eq(g_bytes_get_size(gb), 4 * p->ws->lay.units);
    cr_assert_eq(g_bytes_get_size(wb), 4 * p->nw);
    const guint8 *gd = g_bytes_get_data(gb, NULL), *wd = g_bytes_get_data(wb, NULL);
    gboolean trained = FALSE;
    double raw[12], gam[3], want[12];
    cr_assert_eq(p->nw, 12);
    for (gsize u = 0; u < p->ws->lay.units; u++) {
        guint32 bits = (guint32)gd[4 * u] | (guint32)gd[4 * u + 1] << 8 |
                       (guint32)gd[4 * u + 2] << 16 | (guint32)gd[4 * u + 3] << 24;
        float v;
        memcpy(&v, &bits, 4);
        cr_assert_eq(p->ws->gamma[u], v, "γ[%zu] loaded", u);
        trained |= v != 1.0f;
        gam[u] = v;
    }
    cr_assert(trained, "training moved γ away from 1");
    for (gsize i = 0; i < p->nw; i++) {
        guint32 bits = (guint32)wd[4 * i] | (guint32)wd[4 * i + 1] << 8 |
                       (guint32)wd[4 * i + 2] << 16 | (guint32)wd[4 * i + 3] << 24;
        float v;
        memcpy(&v, &bits, 4);
        cr_assert_eq(p->ws->w_raw[i], v, "w:a holds the raw W");
        raw[i] = v;
    }
    /* And Ŵ is formed from them after the load. */
    ref_forward(&p->ws->lay, raw, gam, want);
    expect_near("Ŵ after the load", p->w, want, p->nw, 1e-6);
    oz_run_free(run);
    oz_test_rmtree(g_steal_pointer(&dir));
}

/* ---- Convolutions ---- */

/* conv2d's keys for kernel 3, padding 1 and the given pool.  (transfer full) */
static gpointer conv_keys(const char *pool) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup("conv2d");
    cr_assert_not_null(ops);
    gpointer out = g_malloc0(ops->params_size);
    oz_param_defaults(ops->params, out);
    const char *keys[] = {"kernel", "padding", "pool", "pool_size"};
    const char *vals[] = {"3", "1", pool, "2"};
    for (int i = 0; i < 4; i++) {
        g_autofree char *why = NULL;
        cr_assert(oz_param_parse(oz_param_find(ops->params, keys[i]), vals[i], out, &why), "%s",
                  why);
    }
    return out;
}

static OzPopulationParams shaped(const char *model, int c, int h, int w) {
    OzPopulationParams pp = {.model = model,
                             .size = c * h * w,
                             .rank = 3,
                             .shape = {c, h, w},
                             .lambda = 0.5f,
                             .v_th = 1.0f,
                             .bias = TRUE,
                             .encoding = OZ_ENCODING_CURRENT};
    return pp;
}

Test(sws, conv_standardises_each_output_channel_and_delivers_through_w_hat) {
    OzNetwork *net = oz_network_new(B, T);
    OzPopulationParams in = shaped("input", 2, 5, 5), h = shaped("lif", 3, 5, 5);
    oz_network_add_population(net, "in", &in, NULL);
    oz_network_add_population(net, "h", &h, NULL);
    g_autofree gpointer keys = conv_keys("none");
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM,
                             .init_scale = 1,
                             .dense_threshold = 2.0f, /* spike packets take the event path */
                             .kind = oz_projection_kind_lookup("conv2d"),
                             .kind_params = keys,
                             .weight_standardization = TRUE};
    GError *err = NULL;
    OzProjection *p = oz_network_add_projection(net, "a", "in", "h", &pp, &err);
    cr_assert_not_null(p, "%s", err ? err->message : "");
    pp.weight_standardization = FALSE;
    OzProjection *twin = oz_network_add_projection(net, "t", "in", "h", &pp, &err);
    cr_assert_not_null(twin->w);
    const OzFanIn *L = &p->ws->lay;
    /* W (C_out, C_in·k·k): an output channel is a row. */
    cr_assert(L->units == 3 && L->fan_in == 18 && L->unit_stride == 18 && L->elem_stride == 1,
              "conv2d's fan-in: units %zu, N %zu, strides %zu, %zu", L->units, L->fan_in,
              L->unit_stride, L->elem_stride);
    double w[54], gamma[3], want[54], g[54], gw[54], gg[3];
    fill_raw(p, w, gamma);
    oz_projection_weights_changed(p);
    ref_forward(L, w, gamma, want);
    expect_near("conv Ŵ", p->w, want, 54, 1e-6);
    float *grad = oz_projection_grad(p);
    for (gsize i = 0; i < 54; i++) {
        g[i] = (double)((int)((i * 5 + 3) % 13) - 6) / 16.0;
        grad[i] = (float)g[i];
    }
    oz_projection_grad_backward(p);
    ref_backward(L, w, gamma, g, gw, gg);
    expect_near("conv ∂L/∂W", p->ws->grad_raw, gw, 54, 1e-5);
    expect_near("conv ∂L/∂γ", p->ws->gamma_grad, gg, 3, 1e-5);
    /* Delivery (the event path reads a transposed copy, refreshed with Ŵ) equals that of a
     * plain conv2d holding Ŵ. */
    memcpy(twin->w, p->w, sizeof(float) * p->nw);
    oz_projection_reset(twin);
    OzPopulation *pre = oz_network_population(net, "in");
    cr_assert(oz_network_prepare(net, 0, NULL));
    OzFrame *f = oz_population_frame(pre, 0);
    OzRng rng;
    oz_rng_init(&rng, 3, "spikes");
    oz_test_spike_frame(f, B, 50, 0.3, 1.0f, FALSE, &rng);
    float a1[B * 75] = {0}, a2[B * 75] = {0};
    pre->active_samples = B;
    oz_projection_deliver(p, f, a1);
    f->indexed = FALSE;
    oz_projection_deliver(twin, f, a2);
    cr_assert_gt(p->packets_event, 0, "the event path was taken");
    cr_assert(memcmp(a1, a2, sizeof a1) == 0, "the sWS conv delivers through Ŵ");
    oz_network_free(net);
}

/* in (1,6,6) → h1 (2,6,6) → h2 (3,3,3) by a conv2d with an avg pool 2 → out (2), dfa with
 * B = 0 and LL, so h1's signal is its LL term only: the readout reads pool(ŝ₁) (18
 * values), and the pooled error spreads back over each window (÷4). */
Test(sws, a_local_readout_reads_the_pooled_map_the_next_conv_reads) {
    OzRng init, noise;
    oz_rng_init(&init, 11, "init");
    oz_rng_init(&noise, 11, "noise");
    OzNetwork *net = oz_network_new(B, T);
    OzPopulationParams in = shaped("input", 1, 6, 6), h1 = shaped("lif", 2, 6, 6),
                       h2 = shaped("lif", 3, 3, 3);
    OzPopulationParams ro = {.model = "readout", .size = M, .bias = TRUE};
    oz_network_add_population(net, "in", &in, NULL);
    OzPopulation *ph1 = oz_network_add_population(net, "h1", &h1, NULL);
    oz_network_add_population(net, "h2", &h2, NULL);
    oz_network_add_population(net, "out", &ro, NULL);
    g_autofree gpointer k_a = conv_keys("none"), k_b = conv_keys("avg");
    OzProjectionParams pa = {.init = OZ_INIT_UNIFORM,
                             .init_scale = 3,
                             .dense_threshold = 0.15f,
                             .kind = oz_projection_kind_lookup("conv2d"),
                             .kind_params = k_a};
    OzProjectionParams pb = pa, pc = {.init = OZ_INIT_UNIFORM, .init_scale = 2.5f};
    pb.kind_params = k_b;
    GError *err = NULL;
    cr_assert_not_null(oz_network_add_projection(net, "a", "in", "h1", &pa, &err));
    OzProjection *b = oz_network_add_projection(net, "b", "h1", "h2", &pb, &err);
    cr_assert_not_null(b, "%s", err ? err->message : "");
    cr_assert_not_null(oz_network_add_projection(net, "c", "h2", "out", &pc, &err));
    OzLearnParams lp = {
        .rule = "dfa",
        .loss_lambda = 0.3,
        .surrogate_a = 0.25,
        .local_learning = TRUE,
        .ll_scale = 0.5,
        .optim = {.kind = OZ_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    };
    OzLearner *l = oz_learner_new(net, &lp, &init, &noise, &err);
    cr_assert_not_null(l, "%s", err ? err->message : "");
    gint64 lat = oz_learner_finalize(l, 11, &err);
    cr_assert_geq(lat, 0);
    ph1->min_depth = T;
    cr_assert(
        oz_network_prepare(net, oz_network_delay_to(net, oz_network_population(net, "out")), NULL));
    oz_network_init_parameters(net, &init);
    oz_learner_prepare(l);
    l->lr = 0.0;
    OzPopulation *pin = oz_network_population(net, "in");
    for (int i = 0; i < B * 36; i++)
        pin->x[i] = (float)((i * 7) % 11) / 5.0f - 0.3f;
    OzHidden *H1 = oz_learner_hidden(l, ph1);
    cr_assert(H1->ll_view == b && H1->ll_n == 18, "h1's readout reads b's pool (18 values)");
    cr_assert(oz_learner_hidden(l, oz_network_population(net, "h2"))->ll_view == NULL);
    memset(H1->path.mat, 0, sizeof(float) * (gsize)H1->path.n * H1->path.m);
    static const guint8 y[B] = {1, 0};
    oz_network_reset(net, B, TRUE);
    oz_learner_begin(l, y, TRUE);
    oz_network_run_window(net);
    double gR[18 * M] = {0}, gb[72] = {0};
    for (int t = 0; t < T; t++) {
        const OzFrame *f = oz_population_frame(ph1, t);
        double ps[B * 18], pt[B * 18], r[B * M] = {0}, e[B * M], ls[B];
        for (int bb = 0; bb < B; bb++)
            for (int c = 0; c < 2; c++)
                for (int qy = 0; qy < 3; qy++)
                    for (int qx = 0; qx < 3; qx++) {
                        double s = 0, a = 0;
                        for (int dy = 0; dy < 2; dy++)
                            for (int dx = 0; dx < 2; dx++) {
                                int i = bb * 72 + c * 36 + (2 * qy + dy) * 6 + 2 * qx + dx;
                                s += f->s[i];
                                a += f->trace[i];
                            }
                        ps[bb * 18 + c * 9 + qy * 3 + qx] = s / 4;
                        pt[bb * 18 + c * 9 + qy * 3 + qx] = a / 4;
                    }
        for (int bb = 0; bb < B; bb++)
            for (int c = 0; c < M; c++)
                for (int q = 0; q < 18; q++)
                    r[bb * M + c] += ps[bb * 18 + q] * H1->ll_w[q * M + c];
        ref_error(r, y, e, ls);
        for (int i = 0; i < B * M; i++)
            e[i] *= 0.5;
        for (int bb = 0; bb < B; bb++) {
            for (int q = 0; q < 18; q++)
                for (int c = 0; c < M; c++)
                    gR[q * M + c] += pt[bb * 18 + q] * e[bb * M + c];
            for (int i = 0; i < 72; i++) {
                const int c = i / 36, y0 = (i % 36) / 6, x0 = i % 6;
                const int q = c * 9 + (y0 / 2) * 3 + x0 / 2;
                double gs = 0;
                for (int cc = 0; cc < M; cc++)
                    gs += H1->ll_w[q * M + cc] * e[bb * M + cc] / 4;
                gb[i] += gs * psi(f->u[bb * 72 + i]);
            }
        }
    }
    double nz = 0;
    for (int i = 0; i < 72; i++)
        nz += fabs(gb[i]);
    cr_assert_gt(nz, 0.0, "h1 gets an LL signal");
    expect_near("R (pooled)", H1->ll_grad, gR, 18 * M, 1e-4);
    expect_near("b of h1", ph1->bias_grad, gb, 72, 1e-4);
    oz_learner_free(l);
    oz_network_free(net);
}

/* ---- Bad input: exit 2 naming file, section and key, before anything starts ---- */

Test(sws, misplaced_igl_and_sws_exit_2_naming_the_section_and_key) {
    g_autofree char *dir = oz_test_tmpdir();
    g_autofree char *text = oz_test_tiny_scenario(dir);
    g_autofree char *ini = oz_test_write_file(dir, "bad.ini", text);
    g_autofree char *db = g_build_filename(dir, "r.sqlite", NULL);
    static const char *const cases[][4] = {
        {"projection a.kind=sparse", "projection a.weight_standardization=true",
         "[projection a] weight_standardization", "kind sparse"},
        {"population out.igl=true", "run.mode=train", "[population out] igl", "readout"},
        {"population h.igl=true", "rule.name=bp", "[population h] igl", "bp"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *err = NULL;
        int rc = oz_test_run(&err, "run", ini, "--quiet", "--db", db, "--set", cases[i][0], "--set",
                             cases[i][1], "--set", "run.mode=train", NULL);
        cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, err);
        cr_assert(strstr(err, "bad.ini") && strstr(err, cases[i][2]) && strstr(err, cases[i][3]),
                  "case %zu names file, section, key and why: %s", i, err);
        cr_assert_not(g_file_test(db, G_FILE_TEST_EXISTS) &&
                          oz_test_q(db, "select count(*) from runs") > 0,
                      "case %zu: no run row", i);
    }
    oz_test_rmtree(g_steal_pointer(&dir));
}

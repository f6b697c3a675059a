/* Learning: every rule's accumulated gradient on a tiny network against an independent
 * double-precision reference of docs/ALGORITHM.md §4–§8; OPZO's M against the true Jacobian; AdamW
 * and SGD steps by hand; bit-identical reruns. */
#include "engine/oz-par.h"
#include "io/oz-scenario.h"
#include "oz-test-rule.h"
#include "oz-test-util.h"
#include "plasticity/oz-learner.h"
#include "sim/oz-run.h"

#include <criterion/alloc.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <string.h>

enum { B = 2, NI = 3, N1 = 4, N2 = 4, M = 2, T = 4 };

typedef struct {
    OzNetwork *net;
    OzLearner *l;
    OzProjection *w1, *w2, *w3;
    OzPopulation *in, *h1, *h2, *out;
    OzRng init, noise;
} Tiny;

typedef struct {
    gboolean trace_noisy, noise_unmasked, input_trace, m_batch_sum, m_per_window, ll;
    float dropout;
    int delay1, jitter1, delay2, jitter2;
    int pdelay[3]; /* projection delays in→h1, h1→h2, h2→out */
    OzEligibility eligibility;
    float lr;
    int chunk;       /* grad_chunk_ticks */
    gboolean sparse; /* sparse_grad, with a threshold that takes it whenever it applies */
    int warmup;      /* windows trained (lr 0.05) before the checked one */
} Opts;

static const Opts DEFAULTS = {0};

static void tiny_build_opts(Tiny *k, const char *rule, OzNoiseMode position, float alpha,
                            const Opts *o) {
    memset(k, 0, sizeof *k);
    oz_rng_init(&k->init, 11, "init");
    oz_rng_init(&k->noise, 11, "noise");
    k->net = oz_network_new(B, T);
    OzPopulationParams in = {
        .model = "input", .size = NI, .encoding = OZ_ENCODING_CURRENT, .lambda = 0.5f};
    OzPopulationParams lif = {
        .model = "lif", .lambda = 0.5f, .v_th = 1.0f, .bias = TRUE, .dropout = o->dropout};
    OzPopulationParams ro = {.model = "readout", .size = M, .bias = TRUE};
    k->in = oz_network_add_population(k->net, "in", &in, NULL);
    lif.size = N1;
    k->h1 = oz_network_add_population(k->net, "h1", &lif, NULL);
    lif.size = N2;
    k->h2 = oz_network_add_population(k->net, "h2", &lif, NULL);
    k->out = oz_network_add_population(k->net, "out", &ro, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 2.5f};
    pp.delay_ticks = o->pdelay[0];
    k->w1 = oz_network_add_projection(k->net, "w1", "in", "h1", &pp, NULL);
    pp.delay_ticks = o->pdelay[1];
    k->w2 = oz_network_add_projection(k->net, "w2", "h1", "h2", &pp, NULL);
    pp.delay_ticks = o->pdelay[2];
    k->w3 = oz_network_add_projection(k->net, "w3", "h2", "out", &pp, NULL);
    OzLearnParams lp = {
        .rule = rule,
        .loss_lambda = 0.3,
        .surrogate_a = 0.25,
        .noise = OZ_NOISE_GAUSSIAN,
        .position = position,
        .antithetic = TRUE,
        .momentum = 0.9,
        .trace_noisy = o->trace_noisy,
        .noise_unmasked = o->noise_unmasked,
        .input_trace = o->input_trace,
        .m_batch_sum = o->m_batch_sum,
        .m_per_window = o->m_per_window,
        .local_learning = o->ll,
        .ll_scale = 0.5,
        .grad_chunk_ticks = o->chunk,
        .sparse_grad = o->sparse,
        .sparse_grad_threshold = 1e9,
        .optim = {.kind = OZ_OPTIM_ADAMW, .lr = 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    };
    GError *err = NULL;
    k->l = oz_learner_new(k->net, &lp, &k->init, &k->noise, &err);
    cr_assert_not_null(k->l, "%s", err ? err->message : "");
    oz_learner_set_feedback(k->l, "h1", o->delay1, o->jitter1, o->eligibility);
    oz_learner_set_feedback(k->l, "h2", o->delay2, o->jitter2, o->eligibility);
    gint64 lat = oz_learner_finalize(k->l, 11, &err);
    cr_assert_geq(lat, 0, "%s", err ? err->message : "");
    /* Keep every tick's frame, so the reference can read the probes z[t]. */
    k->h1->min_depth = MAX(k->h1->min_depth, T);
    k->h2->min_depth = MAX(k->h2->min_depth, T);
    cr_assert(oz_network_prepare(k->net, oz_network_delay_to(k->net, k->out) + lat, NULL));
    oz_network_init_parameters(k->net, &k->init);
    oz_learner_prepare(k->l);
    k->l->alpha = alpha;
    k->l->lr = o->lr; /* 0 keeps the weights: the gradients stay readable after the step */
    const float x[B * NI] = {0.9f, -0.4f, 1.3f, 0.2f, 1.1f, -0.7f};
    memcpy(k->in->x, x, sizeof x);
    k->h1->rng = k->h2->rng = &k->noise;
}

static void tiny_build(Tiny *k, const char *rule, OzNoiseMode position, float alpha) {
    tiny_build_opts(k, rule, position, alpha, &DEFAULTS);
}

static void tiny_free(Tiny *k) {
    oz_learner_free(k->l);
    oz_network_free(k->net);
}

static double psi(double u) {
    double x = (u - 1.0) / 0.25;
    double e = exp(-x);
    return 4.0 * e / ((1 + e) * (1 + e));
}

/* The rules reference() below knows.  Every registered rule is checked against it (the
 * `rules` tests iterate the registry), so a new rule fails them until its g_s is written
 * out here. */
static gboolean has_reference(const char *rule) {
    static const char *const known[] = {"bp",   "dfa",  "dkp",    "zo",
                                         "opzo", "fa", "sign", "readout"};
    for (gsize i = 0; i < G_N_ELEMENTS(known); i++)
        if (!strcmp(rule, known[i]))
            return TRUE;
    return FALSE;
}

/* The reference: docs/ALGORITHM.md §5.1 written out in double, one loop per formula. */
typedef struct {
    double g1[NI * N1], g2[N1 * N2], g3[N2 * M];
    double b1[N1], b2[N2], b3[M];
    double dkp1[N1 * M], dkp2[N2 * M];
    double M1[N1 * M], M2[N2 * M];
    double R1[N1 * M], R2[N2 * M];
} Grads;

/* e of the loss of r (rows B, classes M) for labels y, scaled (docs/ALGORITHM.md §4). */
static void ref_error(const double *r, const guint8 *y, double scale, double *e) {
    for (int b = 0; b < B; b++) {
        double mx = -1e300, zs = 0;
        for (int c = 0; c < M; c++)
            mx = fmax(mx, r[b * M + c]);
        for (int c = 0; c < M; c++)
            zs += exp(r[b * M + c] - mx);
        for (int c = 0; c < M; c++) {
            double p = exp(r[b * M + c] - mx) / zs, yc = c == y[b];
            e[b * M + c] =
                scale * (0.7 * (p - yc) + 0.3 * (2.0 / M) * (r[b * M + c] - yc)) / (T * B);
        }
    }
}

/* One hidden LIF layer of the reference (λ = 0.5, V_th = 1, soft reset): parameters, the
 * state it carries across ticks and what it gives at the current tick, each (B, n). */
typedef struct {
    int n;
    const float *bias, *mask, *z; /* z: this tick's probe */
    double *v, *tr;               /* membrane and trace, across ticks */
    double *u, *sh;               /* potential and transmitted ŝ at this tick */
} RefLayer;

/* Sample b of layer L at one tick, driven by in (n_in values) through W (n_in, L->n):
 * charge, fire, the probe αz before or after the neuron when noisy, the dropout mask (before
 * or after the noise, as op says), the trace of the clean or the noisy spikes. */
static void ref_layer_tick(RefLayer *L, int b, const double *in, int n_in, const float *W,
                           gboolean noisy, OzNoiseMode position, double alpha, const Opts *op) {
    const int n = L->n;
    for (int j = 0; j < n; j++) {
        double cur = L->bias[j];
        for (int i = 0; i < n_in; i++)
            cur += in[i] * W[i * n + j];
        if (noisy && position == OZ_NOISE_BEFORE)
            cur += alpha * L->z[b * n + j];
        double u = 0.5 * L->v[b * n + j] + cur, s = u >= 1.0 ? 1.0 : 0.0;
        double mk = L->mask[b * n + j], a = noisy && position == OZ_NOISE_AFTER ? alpha : 0;
        L->v[b * n + j] = u - s;
        L->u[b * n + j] = u;
        L->sh[b * n + j] =
            op->noise_unmasked ? mk * (s + a * L->z[b * n + j]) : s * mk + a * L->z[b * n + j];
        L->tr[b * n + j] = 0.5 * L->tr[b * n + j] + (op->trace_noisy ? L->sh[b * n + j] : s * mk);
    }
}

/* The feedback matrices of both hidden layers as the checked window began: DKP's B (fixed
 * during a window, learned by the optimizer) and OPZO's M (carried over from the window
 * before). */
typedef struct {
    double f1[N1 * M], f2[N2 * M];
} Start;

static void reference(Tiny *k, const char *rule, OzNoiseMode position, double alpha,
                      const guint8 *y, Grads *g, const Opts *op, const Start *st) {
    memset(g, 0, sizeof *g);
    const float *mk1 = k->h1->mask, *mk2 = k->h2->mask;
    double xt[B * NI] = {0}, W1acc[N1 * M] = {0}, W2acc[N2 * M] = {0};
    double v1[B * N1] = {0}, v2[B * N2] = {0}, tr1[B * N1] = {0}, tr2[B * N2] = {0};
    double M1[N1 * M], M2[N2 * M];
    memcpy(M1, st->f1, sizeof M1);
    memcpy(M2, st->f2, sizeof M2);
    const gboolean opzo = strcmp(rule, "opzo") == 0, zo = strcmp(rule, "zo") == 0;
    const gboolean dkp = strcmp(rule, "dkp") == 0;
    const gboolean noisy = opzo || zo;
    const float *W1 = k->w1->w, *W2 = k->w2->w, *W3 = k->w3->w;
    /* The matrices a chain multiplies by: W itself for bp; fa's fixed B (checked on its own
     * in rules::fa_draws_b_like_the_weights_from_its_own_stream); sign(W) for sign. */
    const gboolean chain = !strcmp(rule, "bp") || !strcmp(rule, "fa") || !strcmp(rule, "sign");
    const float *C2 = W2, *C3 = W3;
    float S2[N1 * N2], S3[N2 * M];
    if (!strcmp(rule, "fa")) {
        C2 = k->l->rule->chain_matrix(k->l->rule_state, k->l, k->w2);
        C3 = k->l->rule->chain_matrix(k->l->rule_state, k->l, k->w3);
    } else if (!strcmp(rule, "sign")) {
        for (int i = 0; i < N1 * N2; i++)
            S2[i] = W2[i] > 0 ? 1.0f : W2[i] < 0 ? -1.0f : 0.0f;
        for (int i = 0; i < N2 * M; i++)
            S3[i] = W3[i] > 0 ? 1.0f : W3[i] < 0 ? -1.0f : 0.0f;
        C2 = S2;
        C3 = S3;
    }
    OzHidden *H1 = g_ptr_array_index(k->l->hidden, 0), *H2 = g_ptr_array_index(k->l->hidden, 1);
    for (int t = 0; t < T; t++) {
        const float *z1 = oz_population_frame(k->h1, t)->z, *z2 = oz_population_frame(k->h2, t)->z;
        double u1[B * N1], u2[B * N2], sh1[B * N1], sh2[B * N2], o[B * M], e[B * M], l[B];
        for (int b = 0; b < B; b++) {
            double xb[NI];
            for (int i = 0; i < NI; i++)
                xb[i] = k->in->x[b * NI + i];
            RefLayer L1 = {N1, k->h1->bias, mk1, z1, v1, tr1, u1, sh1};
            RefLayer L2 = {N2, k->h2->bias, mk2, z2, v2, tr2, u2, sh2};
            ref_layer_tick(&L1, b, xb, NI, W1, noisy, position, alpha, op);
            ref_layer_tick(&L2, b, &sh1[b * N1], N1, W2, noisy, position, alpha, op);
            double mx = -1e300, zsum = 0;
            for (int c = 0; c < M; c++) {
                double oc = k->out->bias[c];
                for (int i = 0; i < N2; i++)
                    oc += sh2[b * N2 + i] * W3[i * M + c];
                o[b * M + c] = oc;
                mx = fmax(mx, oc);
            }
            for (int c = 0; c < M; c++)
                zsum += exp(o[b * M + c] - mx);
            l[b] = 0;
            for (int c = 0; c < M; c++) {
                double p = exp(o[b * M + c] - mx) / zsum, yc = c == y[b];
                e[b * M + c] = (0.7 * (p - yc) + 0.3 * (2.0 / M) * (o[b * M + c] - yc)) / (T * B);
                l[b] += 0.3 * (o[b * M + c] - yc) * (o[b * M + c] - yc) / M;
            }
            l[b] += 0.7 * (mx + log(zsum) - o[b * M + y[b]]);
            l[b] /= T * B;
        }
        /* Readout. */
        for (int b = 0; b < B; b++)
            for (int c = 0; c < M; c++) {
                g->b3[c] += e[b * M + c];
                for (int i = 0; i < N2; i++)
                    g->g3[i * M + c] += tr2[b * N2 + i] * e[b * M + c];
            }
        /* Feedback matrices at this tick. */
        for (int i = 0; i < B * NI; i++)
            xt[i] = 0.5 * xt[i] + k->in->x[i];
        const double kb = op->m_batch_sum ? 1.0 : 1.0 / B;
        if (opzo && !op->m_per_window) {
            for (int i = 0; i < N1 * M; i++)
                M1[i] *= 0.9;
            for (int i = 0; i < N2 * M; i++)
                M2[i] *= 0.9;
        }
        if (opzo) {
            double *A1 = op->m_per_window ? W1acc : M1, *A2 = op->m_per_window ? W2acc : M2;
            double kk = op->m_per_window ? kb : 0.1 * kb;
            for (int b = 0; b < B; b++)
                for (int c = 0; c < M; c++) {
                    for (int i = 0; i < N1; i++)
                        A1[i * M + c] += kk * z1[b * N1 + i] * o[b * M + c];
                    for (int i = 0; i < N2; i++)
                        A2[i * M + c] += kk * z2[b * N2 + i] * o[b * M + c];
                }
        }
        double gu2[B * N2], gu1[B * N1], er1[B * M] = {0}, er2[B * M] = {0};
        if (op->ll) {
            double r1[B * M] = {0}, r2[B * M] = {0};
            for (int b = 0; b < B; b++)
                for (int c = 0; c < M; c++) {
                    for (int i = 0; i < N1; i++)
                        r1[b * M + c] += sh1[b * N1 + i] * H1->ll_w[i * M + c];
                    for (int i = 0; i < N2; i++)
                        r2[b * M + c] += sh2[b * N2 + i] * H2->ll_w[i * M + c];
                }
            ref_error(r1, y, 0.5, er1);
            ref_error(r2, y, 0.5, er2);
            for (int b = 0; b < B; b++)
                for (int c = 0; c < M; c++) {
                    for (int i = 0; i < N1; i++)
                        g->R1[i * M + c] += tr1[b * N1 + i] * er1[b * M + c];
                    for (int i = 0; i < N2; i++)
                        g->R2[i * M + c] += tr2[b * N2 + i] * er2[b * M + c];
                }
        }
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N2; i++) {
                double s = 0;
                for (int c = 0; c < M; c++) {
                    double fb = 0;
                    if (chain)
                        fb = C3[i * M + c];
                    else if (!strcmp(rule, "dfa"))
                        fb = H2->path.mat[i * M + c];
                    else if (opzo)
                        fb = M2[i * M + c];
                    else if (dkp)
                        fb = st->f2[i * M + c];
                    s += fb * e[b * M + c];
                }
                if (zo)
                    s = l[b] / alpha * z2[b * N2 + i];
                for (int c = 0; c < M && op->ll; c++)
                    s += H2->ll_w[i * M + c] * er2[b * M + c];
                gu2[b * N2 + i] = s * psi(u2[b * N2 + i]) * mk2[b * N2 + i];
            }
            for (int i = 0; i < N1; i++) {
                double s = 0;
                if (chain) {
                    for (int j = 0; j < N2; j++)
                        s += C2[i * N2 + j] * gu2[b * N2 + j];
                } else {
                    for (int c = 0; c < M; c++) {
                        double fb = !strcmp(rule, "dfa") ? H1->path.mat[i * M + c]
                                    : opzo               ? M1[i * M + c]
                                    : dkp                ? st->f1[i * M + c]
                                                         : 0;
                        s += fb * e[b * M + c];
                    }
                }
                if (zo)
                    s = l[b] / alpha * z1[b * N1 + i];
                for (int c = 0; c < M && op->ll; c++)
                    s += H1->ll_w[i * M + c] * er1[b * M + c];
                gu1[b * N1 + i] = s * psi(u1[b * N1 + i]) * mk1[b * N1 + i];
            }
        }
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < N2; j++) {
                g->b2[j] += gu2[b * N2 + j];
                for (int i = 0; i < N1; i++)
                    g->g2[i * N2 + j] += tr1[b * N1 + i] * gu2[b * N2 + j];
            }
            for (int j = 0; j < N1; j++) {
                g->b1[j] += gu1[b * N1 + j];
                for (int i = 0; i < NI; i++)
                    g->g1[i * N1 + j] +=
                        (op->input_trace ? xt[b * NI + i] : (double)k->in->x[b * NI + i]) *
                        gu1[b * N1 + j];
            }
            for (int c = 0; c < M; c++) {
                for (int i = 0; i < N1; i++)
                    g->dkp1[i * M + c] += tr1[b * N1 + i] * e[b * M + c];
                for (int i = 0; i < N2; i++)
                    g->dkp2[i * M + c] += tr2[b * N2 + i] * e[b * M + c];
            }
        }
    }
    for (int i = 0; i < N1 * M; i++)
        g->M1[i] = op->m_per_window ? 0.9 * st->f1[i] + 0.1 * W1acc[i] : M1[i];
    for (int i = 0; i < N2 * M; i++)
        g->M2[i] = op->m_per_window ? 0.9 * st->f2[i] + 0.1 * W2acc[i] : M2[i];
}

static void expect_close(const char *what, const float *got, const double *want, int n) {
    double scale = 1e-12;
    for (int i = 0; i < n; i++)
        scale = fmax(scale, fabs(want[i]));
    for (int i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= 1e-4 * scale + 1e-7, "%s[%d]: got %.9g, reference %.9g",
                  what, i, got[i], want[i]);
}

/* DKP's B starts at zero and only the optimizer's steps make it nonzero, and a per-window
 * M changes only at a window's end: checked in the first window, their hidden layers
 * would get no signal and every hidden gradient would be 0 against 0.  They are checked
 * after a few trained windows. */
static int warmup_of(const char *rule, const Opts *op) {
    if (op->warmup)
        return op->warmup;
    return !strcmp(rule, "dkp") || op->m_per_window ? 3 : 0;
}

static void check_rule_opts(const char *rule, OzNoiseMode position, const Opts *op) {
    cr_assert(has_reference(rule), "rule %s has no reference: write its g_s into reference()",
              rule);
    Tiny k;
    const float alpha = 0.3f;
    tiny_build_opts(&k, rule, position, alpha, op);
    const guint8 y[B] = {1, 0};
    OzHidden *H1 = g_ptr_array_index(k.l->hidden, 0), *H2 = g_ptr_array_index(k.l->hidden, 1);
    k.l->lr = 0.05;
    for (int w = 0; w < warmup_of(rule, op); w++) {
        oz_network_reset(k.net, B, TRUE);
        oz_learner_begin(k.l, y, TRUE);
        oz_network_run_window(k.net);
    }
    k.l->lr = op->lr;
    Start st = {{0}, {0}};
    for (int i = 0; H1->path.mat && i < N1 * M; i++)
        st.f1[i] = H1->path.mat[i];
    for (int i = 0; H2->path.mat && i < N2 * M; i++)
        st.f2[i] = H2->path.mat[i];
    /* Staged flushes before the checked window, to tell which path its chunks took. */
    const GradStage *stage = &k.l->stage[k.w2->id];
    const guint64 sparse0 = stage->flushes_sparse, dense0 = stage->flushes_dense;
    oz_network_reset(k.net, B, TRUE);
    oz_learner_begin(k.l, y, TRUE);
    oz_network_run_window(k.net);
    Grads g;
    reference(&k, rule, position, alpha, y, &g, op, &st);
    double nz = 0, fb = 0;
    for (int i = 0; i < N1 * N2; i++)
        nz += fabs(g.g2[i]);
    for (int i = 0; i < N1 * M; i++)
        fb += fabs(st.f1[i]);
    if (oz_test_rule_is_silent(rule))
        cr_assert_eq(nz, 0.0, "%s: a silent rule gives the hidden layers nothing", rule);
    else
        cr_assert_gt(nz, 0.0, "%s: the tiny net must produce a hidden gradient", rule);
    if (!strcmp(rule, "dkp"))
        cr_assert_gt(fb, 0.0, "dkp: B has been learned before the checked window");
    expect_close("W3", k.w3->grad, g.g3, N2 * M);
    expect_close("b3", k.out->bias_grad, g.b3, M);
    expect_close("W2", k.w2->grad, g.g2, N1 * N2);
    expect_close("b2", k.h2->bias_grad, g.b2, N2);
    expect_close("W1", k.w1->grad, g.g1, NI * N1);
    expect_close("b1", k.h1->bias_grad, g.b1, N1);
    if (!strcmp(rule, "dkp")) {
        expect_close("dB1", H1->path.grad, g.dkp1, N1 * M);
        expect_close("dB2", H2->path.grad, g.dkp2, N2 * M);
    }
    if (op->ll) {
        expect_close("dR1", H1->ll_grad, g.R1, N1 * M);
        expect_close("dR2", H2->ll_grad, g.R2, N2 * M);
    }
    if (!strcmp(rule, "opzo")) {
        expect_close("M1", H1->path.mat, g.M1, N1 * M);
        expect_close("M2", H2->path.mat, g.M2, N2 * M);
    }
    /* The path the h1→h2 chunks of the checked window took: the sparse one whenever it
     * was asked for and applies (a gradient that matched with it switched off would prove
     * nothing), else the sgemm. */
    if (op->chunk > 1) {
        const guint64 ds = stage->flushes_sparse - sparse0, dd = stage->flushes_dense - dense0;
        if (op->sparse && !op->trace_noisy) {
            cr_assert(stage->sparse_ok, "%s: the sparse path applies", rule);
            cr_assert_gt(ds, 0, "%s: chunks took the sparse path", rule);
            cr_assert_eq(dd, 0, "%s: no chunk fell back to the sgemm", rule);
        } else {
            cr_assert_eq(ds, 0, "%s: no sparse chunk without sparse_grad", rule);
            cr_assert_gt(dd, 0, "%s: chunks took the sgemm", rule);
        }
    }
    tiny_free(&k);
}

static void check_rule(const char *rule, OzNoiseMode position) {
    check_rule_opts(rule, position, &DEFAULTS);
}

Test(learning, alternative_readings_match_reference) {
    const Opts variants[] = {
        {.dropout = 0.25f},
        {.dropout = 0.25f, .noise_unmasked = TRUE},
        {.dropout = 0.25f, .trace_noisy = TRUE},
        {.input_trace = TRUE},
        {.m_batch_sum = TRUE},
        {.m_per_window = TRUE},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(variants); i++)
        check_rule_opts("opzo", OZ_NOISE_AFTER, &variants[i]);
    check_rule_opts("bp", OZ_NOISE_AFTER, &variants[0]);
    check_rule_opts("dfa", OZ_NOISE_AFTER, &variants[3]);
    const Opts ll = {.ll = TRUE, .dropout = 0.25f};
    check_rule_opts("opzo", OZ_NOISE_AFTER, &ll);
    check_rule_opts("dfa", OZ_NOISE_AFTER, &ll);
    check_rule_opts("bp", OZ_NOISE_AFTER, &ll);
}

/* Gradient terms gathered over ticks and added by one product (a chunk that ends inside
 * the window, and one larger than the window) give the reference gradients. */
Test(learning, gathered_gradient_chunks_match_reference) {
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++) {
        const Opts chunks[] = {{.chunk = 3, .dropout = 0.25f}, {.chunk = 64}};
        for (gsize c = 0; c < G_N_ELEMENTS(chunks); c++)
            check_rule_opts((*r)->name, OZ_NOISE_AFTER, &chunks[c]);
    }
}

/* The sparse path of a gathered chunk, Σ_t Δo(t)ᵀ H(t) (+ the carry-in product when the
 * chunk starts after the layer's first tick), gives the reference gradients of every
 * rule: a chunk of the whole window, chunks of 2 ticks with dropout (the second one with a
 * carry-in), and with the trace following the probe (where it must not apply). */
Test(learning, sparse_gradient_chunks_match_reference) {
    for (const OzRuleOps *const *rr = oz_rule_all(); *rr; rr++) {
        const char *const rules[] = {(*rr)->name};
        const gsize r = 0;
        const Opts chunks[] = {{.chunk = 64, .sparse = TRUE},
                               {.chunk = 2, .dropout = 0.25f, .sparse = TRUE}};
        for (gsize c = 0; c < G_N_ELEMENTS(chunks); c++) {
            check_rule_opts(rules[r], OZ_NOISE_AFTER, &chunks[c]);
            /* And it was the sparse path that made the h1→h2 gradient. */
            Tiny k;
            tiny_build_opts(&k, rules[r], OZ_NOISE_AFTER, 0.3f, &chunks[c]);
            const guint8 y[B] = {1, 0};
            oz_network_reset(k.net, B, TRUE);
            oz_learner_begin(k.l, y, TRUE);
            oz_network_run_window(k.net);
            const GradStage *g = &k.l->stage[k.w2->id];
            cr_assert(g->sparse_ok, "%s", rules[r]);
            cr_assert_eq(g->flushes_sparse, (guint64)(chunks[c].chunk == 2 ? 2 : 1), "%s chunk %d",
                         rules[r], chunks[c].chunk);
            cr_assert_eq(g->flushes_dense, 0);
            tiny_free(&k);
        }
    }
    const Opts noisy = {.chunk = 64, .sparse = TRUE, .dropout = 0.25f, .trace_noisy = TRUE};
    check_rule_opts("opzo", OZ_NOISE_AFTER, &noisy);
    Tiny k;
    tiny_build_opts(&k, "opzo", OZ_NOISE_AFTER, 0.3f, &noisy);
    cr_assert_not(k.l->stage[k.w2->id].sparse_ok, "a noisy trace is not a filtered spike train");
    tiny_free(&k);
}

/* A short last batch gathers more ticks into the same rows of a chunk (here 4 ticks of
 * one sample in a chunk of 2 ticks × 2 rows); the sparse path must hold them all and give
 * the sgemm's gradient. */
Test(learning, sparse_chunks_of_a_short_batch_hold_more_ticks) {
    const char *rules[] = {"dfa", "opzo"};
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        float grads[2][N1 * N2];
        for (int sparse = 0; sparse < 2; sparse++) {
            const Opts o = {.chunk = 2, .dropout = 0.25f, .sparse = sparse};
            Tiny k;
            tiny_build_opts(&k, rules[r], OZ_NOISE_AFTER, 0.3f, &o);
            const guint8 y[B] = {1, 0};
            oz_network_reset(k.net, 1, TRUE);
            oz_learner_begin(k.l, y, TRUE);
            oz_network_run_window(k.net);
            memcpy(grads[sparse], k.w2->grad, sizeof grads[sparse]);
            /* One chunk of 4 ticks, by the sparse path, or (the comparison) by sgemm. */
            const GradStage *st = &k.l->stage[k.w2->id];
            cr_assert_eq(st->flushes_sparse, sparse ? 1 : 0, "%s", rules[r]);
            cr_assert_eq(st->flushes_dense, sparse ? 0 : 1, "%s", rules[r]);
            tiny_free(&k);
        }
        for (int i = 0; i < N1 * N2; i++)
            cr_assert(fabsf(grads[1][i] - grads[0][i]) <= 1e-5f * (1.0f + fabsf(grads[0][i])),
                      "%s [%d]: %g vs %g", rules[r], i, grads[1][i], grads[0][i]);
    }
}

/* At a realistic size — change lists 16 at a time plus a tail (150 presynaptic neurons),
 * H panels of 128 and 16 columns and a scalar tail (149 postsynaptic) — the sparse path
 * gives the sgemm's gradient to rounding, with and without a carry-in. */
static void mid_gradients(const char *rule, gboolean sparse, int chunk, float *grad2,
                          GradStage *st) {
    enum { MB = 3, MI = 20, M1 = 150, M2 = 149, MM = 10, MT = 8 };
    OzRng init, noise;
    oz_rng_init(&init, 5, "init");
    oz_rng_init(&noise, 5, "noise");
    OzNetwork *net = oz_network_new(MB, MT);
    OzPopulationParams in = {.model = "input", .size = MI, .encoding = OZ_ENCODING_CURRENT};
    OzPopulationParams lif = {.model = "lif", .lambda = 0.5f, .v_th = 1.0f, .dropout = 0.2f};
    OzPopulationParams ro = {.model = "readout", .size = MM, .bias = TRUE};
    oz_network_add_population(net, "in", &in, NULL);
    lif.size = M1;
    OzPopulation *h1 = oz_network_add_population(net, "h1", &lif, NULL);
    lif.size = M2;
    OzPopulation *h2 = oz_network_add_population(net, "h2", &lif, NULL);
    oz_network_add_population(net, "out", &ro, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 3.0f};
    oz_network_add_projection(net, "w1", "in", "h1", &pp, NULL);
    OzProjection *w2 = oz_network_add_projection(net, "w2", "h1", "h2", &pp, NULL);
    oz_network_add_projection(net, "w3", "h2", "out", &pp, NULL);
    OzLearnParams lp = {
        .rule = rule, .loss_lambda = 0.3, .surrogate_a = 0.25, .noise = OZ_NOISE_GAUSSIAN,
        .position = OZ_NOISE_AFTER, .antithetic = TRUE, .momentum = 0.9,
        .grad_chunk_ticks = chunk, .sparse_grad = sparse, .sparse_grad_threshold = 1e9,
        .optim = {.kind = OZ_OPTIM_ADAMW, .lr = 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    };
    GError *err = NULL;
    OzLearner *l = oz_learner_new(net, &lp, &init, &noise, &err);
    cr_assert_not_null(l, "%s", err ? err->message : "");
    gint64 lat = oz_learner_finalize(l, 5, &err);
    cr_assert_geq(lat, 0);
    cr_assert(oz_network_prepare(net, oz_network_delay_to(net, oz_network_population(net, "out")) +
                                          lat, NULL));
    oz_network_init_parameters(net, &init);
    oz_learner_prepare(l);
    l->alpha = 0.3f;
    l->lr = 0.0f;
    OzPopulation *inp = oz_network_population(net, "in");
    for (int i = 0; i < MB * MI; i++)
        inp->x[i] = (float)oz_rng_uniform(&init) * 2.0f;
    h1->rng = h2->rng = &noise;
    const guint8 y[MB] = {1, 4, 7};
    oz_network_reset(net, MB, TRUE);
    oz_learner_begin(l, y, TRUE);
    oz_network_run_window(net);
    memcpy(grad2, w2->grad, sizeof(float) * M1 * M2);
    *st = l->stage[w2->id];
    oz_learner_free(l);
    oz_network_free(net);
}

Test(learning, sparse_gradient_at_size_matches_the_sgemm) {
    enum { M1 = 150, M2 = 149 };
    const char *rules[] = {"dfa", "opzo", "bp"};
    float *dense = g_new(float, M1 * M2), *sparse = g_new(float, M1 * M2);
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        const int chunks[] = {8, 4, 3};
        for (gsize c = 0; c < G_N_ELEMENTS(chunks); c++) {
            GradStage sd, ss;
            mid_gradients(rules[r], FALSE, chunks[c], dense, &sd);
            mid_gradients(rules[r], TRUE, chunks[c], sparse, &ss);
            /* The comparison took the sgemm only, the sparse run the sparse path only. */
            cr_assert_eq(sd.flushes_sparse, 0);
            cr_assert_gt(sd.flushes_dense, 0, "%s chunk %d", rules[r], chunks[c]);
            cr_assert_gt(ss.flushes_sparse, 0, "%s chunk %d", rules[r], chunks[c]);
            cr_assert_eq(ss.flushes_dense, 0, "%s chunk %d", rules[r], chunks[c]);
            double scale = 1e-12, nz = 0;
            for (int i = 0; i < M1 * M2; i++) {
                scale = fmax(scale, fabs(dense[i]));
                nz += dense[i] != 0.0f;
            }
            cr_assert_gt(nz, M1 * M2 / 4, "%s: the net must produce a dense gradient", rules[r]);
            for (int i = 0; i < M1 * M2; i++)
                cr_assert(fabs(sparse[i] - dense[i]) <= 2e-6 * scale, "%s chunk %d [%d]: %g vs %g",
                          rules[r], chunks[c], i, sparse[i], dense[i]);
        }
    }
    g_free(dense);
    g_free(sparse);
}

/* The sparse path splits H by (sample, panel) and the sums by presynaptic neuron, each
 * neuron's changes in row order: the same bits at 1, 2 and 3 threads (products this small
 * are not split). */
Test(learning, sparse_gradient_is_the_same_at_any_thread_count) {
    enum { M1 = 150, M2 = 149 };
    const char *rules[] = {"dfa", "opzo"};
    float *one = g_new(float, M1 * M2), *other = g_new(float, M1 * M2);
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        const int chunks[] = {8, 3};
        for (gsize c = 0; c < G_N_ELEMENTS(chunks); c++)
            for (int threads = 1; threads <= 3; threads++) {
                oz_par_set_threads(threads);
                GradStage st;
                mid_gradients(rules[r], TRUE, chunks[c], threads == 1 ? one : other, &st);
                cr_assert(st.flushes_sparse > 0 && st.flushes_dense == 0, "%s chunk %d threads %d",
                          rules[r], chunks[c], threads);
                if (threads > 1)
                    cr_assert(memcmp(one, other, sizeof(float) * M1 * M2) == 0,
                              "%s chunk %d: %d threads differ", rules[r], chunks[c], threads);
            }
    }
    oz_par_set_threads(1);
    g_free(one);
    g_free(other);
}

Test(learning, sphere_noise_has_the_configured_radius) {
    OzRng r;
    oz_rng_init(&r, 2, "noise");
    float z[3 * 50];
    for (int unit = 0; unit <= 1; unit++) {
        oz_noise_sample(OZ_NOISE_SPHERE, &r, z, 3, 50, unit);
        for (int b = 0; b < 3; b++) {
            double n2 = 0;
            for (int i = 0; i < 50; i++)
                n2 += (double)z[b * 50 + i] * z[b * 50 + i];
            cr_assert_float_eq(sqrt(n2), unit ? 1.0 : sqrt(50.0), 1e-4);
        }
    }
    oz_noise_sample(OZ_NOISE_RADEMACHER, &r, z, 3, 50, FALSE);
    int plus = 0;
    for (int i = 0; i < 150; i++) {
        cr_assert(z[i] == 1.0f || z[i] == -1.0f);
        plus += z[i] > 0;
    }
    cr_assert(plus > 40 && plus < 110, "%d", plus);
}

/* Every registered rule, one window of the tiny net against the reference (bp: the chain
 * rule through ψ).  Parameterised by registry index, so each rule is its own test. */
static void free_rule_params(struct criterion_test_params *p) {
    cr_free(p->params);
}

ParameterizedTestParameters(rules, match_the_reference) {
    int n = 0;
    while (oz_rule_all()[n])
        n++;
    int *idx = cr_malloc(sizeof(int) * (gsize)n);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    return cr_make_param_array(int, idx, (size_t)n, free_rule_params);
}

ParameterizedTest(int *i, rules, match_the_reference) {
    check_rule(oz_rule_all()[*i]->name, OZ_NOISE_AFTER);
}

/* The registry's entries are well formed and found by name; the table check rejects a
 * duplicate name, a rule with both or neither way of forming g_s, an unregistered pathway
 * and another API version. */
static const float *no_chain(void *state, const OzLearner *l, const OzProjection *p) {
    (void)state;
    (void)l;
    return p->w;
}

Test(rules, registry_entries_are_well_formed_and_checked) {
    int n = 0;
    g_auto(GStrv) names = g_strsplit(oz_rule_names("|"), "|", -1);
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++, n++) {
        const OzRuleOps *o = *r;
        cr_assert_str_eq(names[n] ? names[n] : "(none)", o->name, "oz_rule_names, entry %d", n);
        cr_assert_eq(o->api_version, OZ_RULE_API_VERSION, "%s", o->name);
        cr_assert(o->name && *o->name && o->summary && *o->summary);
        cr_assert_eq(oz_rule_lookup(o->name), o, "%s", o->name);
        cr_assert((o->pathway == NULL) != (o->chain_matrix == NULL), "%s", o->name);
        cr_assert(!o->pathway || oz_feedback_lookup(o->pathway), "%s", o->name);
        cr_assert(oz_rule_chains(o) == (o->chain_matrix != NULL));
    }
    cr_assert_eq(g_strv_length(names), (guint)n, "oz_rule_names lists the registry");
    cr_assert_geq(n, 5, "the five rules of the paper are registered");
    GError *err = NULL;
    cr_assert(oz_rule_table_check(oz_rule_all(), &err));
    const OzRuleOps *first = oz_rule_all()[0];
    const OzRuleOps dup = *first;
    const OzRuleOps *const twice[] = {first, &dup, NULL};
    cr_assert_not(oz_rule_table_check(twice, &err));
    cr_assert(strstr(err->message, "registered twice") && strstr(err->message, first->name), "%s",
              err->message);
    g_clear_error(&err);
#define RULE(v, n, path, chain)                                                                    \
    {.api_version = (v), .name = (n), .summary = "x", .pathway = (path), .chain_matrix = (chain)}
    const OzRuleOps both = RULE(OZ_RULE_API_VERSION, "both", "random", no_chain);
    const OzRuleOps neither = RULE(OZ_RULE_API_VERSION, "neither", NULL, NULL);
    const OzRuleOps nopath = RULE(OZ_RULE_API_VERSION, "nopath", "nowhere", NULL);
    const OzRuleOps old = RULE(1, "old", "random", NULL);
#undef RULE
    const OzRuleOps *const bad[] = {&both, &neither, &nopath, &old};
    const char *why[] = {"exactly one", "exactly one", "not registered", "api_version"};
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        const OzRuleOps *const t[] = {bad[i], NULL};
        cr_assert_not(oz_rule_table_check(t, &err), "%s", bad[i]->name);
        cr_assert(strstr(err->message, why[i]), "%s", err->message);
        g_clear_error(&err);
    }
}

/* fa's B of each projection of the chain has W's shape and is drawn as W's uniform
 * initialisation is, from the stream (seed, "fa:" + projection): recomputed here from that
 * stream, bit for bit.  The init stream is untouched (W equals bp's W), and B is not W. */
Test(rules, fa_draws_b_like_the_weights_from_its_own_stream) {
    Tiny fa, bp;
    tiny_build(&fa, "fa", OZ_NOISE_AFTER, 0.3f);
    tiny_build(&bp, "bp", OZ_NOISE_AFTER, 0.3f);
    OzProjection *chain[] = {fa.w2, fa.w3}, *same[] = {bp.w2, bp.w3};
    for (int i = 0; i < 2; i++) {
        const OzProjection *p = chain[i];
        const int nw = p->n_pre * p->n_post;
        const float *b = fa.l->rule->chain_matrix(fa.l->rule_state, fa.l, p);
        g_autofree char *purpose = g_strdup_printf("fa:%s", p->name);
        OzRng rng;
        oz_rng_init(&rng, 11, purpose);
        const double bound = 2.5 / sqrt((double)p->n_pre); /* tiny_build's init_scale */
        gboolean differs = FALSE;
        for (int j = 0; j < nw; j++) {
            const float want = (float)((2.0 * oz_rng_uniform(&rng) - 1.0) * bound);
            cr_assert(b[j] == want, "%s B[%d]: %g, drawn %g", p->name, j, b[j], want);
            cr_assert(fabs(b[j]) <= bound);
            differs |= b[j] != p->w[j];
        }
        cr_assert(differs, "%s: B is not W", p->name);
        cr_assert(memcmp(p->w, same[i]->w, sizeof(float) * (gsize)nw) == 0,
                  "%s: the init stream drew the same W as for bp", p->name);
    }
    tiny_free(&fa);
    tiny_free(&bp);
}

/* sign's matrix is sign(W) of the current weights: refreshed when a window begins (after
 * weights were set from outside, as a checkpoint load does) and after the optimizer's
 * step (here a large one on tiny weights, which flips signs). */
static void expect_sign_of(const Tiny *k, const char *when) {
    const float *w = k->w2->w;
    const float *s = k->l->rule->chain_matrix(k->l->rule_state, k->l, k->w2);
    for (int i = 0; i < N1 * N2; i++)
        cr_assert(s[i] == (w[i] > 0 ? 1.0f : w[i] < 0 ? -1.0f : 0.0f), "%s [%d]: %g for W %g",
                  when, i, s[i], w[i]);
}

Test(rules, sign_follows_the_weights) {
    Tiny k;
    tiny_build(&k, "sign", OZ_NOISE_AFTER, 0.3f);
    const guint8 y[B] = {1, 0};
    float before[N1 * N2];
    for (int i = 0; i < N1 * N2; i++)
        k.w2->w[i] = (i % 3 == 0 ? -1e-3f : 1e-3f) * (i % 5 == 4 ? 0.0f : 1.0f);
    memcpy(before, k.w2->w, sizeof before);
    oz_network_reset(k.net, B, TRUE);
    oz_learner_begin(k.l, y, TRUE);
    expect_sign_of(&k, "at the window's start");
    k.l->lr = 1.0;
    oz_network_run_window(k.net);
    int flips = 0;
    for (int i = 0; i < N1 * N2; i++)
        flips += (k.w2->w[i] > 0) != (before[i] > 0);
    cr_assert_gt(flips, 0, "the step flipped signs");
    expect_sign_of(&k, "after the step");
    tiny_free(&k);
}

Test(learning, opzo_before_neuron_matches_reference) {
    check_rule("opzo", OZ_NOISE_BEFORE);
}

Test(learning, antithetic_probe_alternates_sign) {
    Tiny k;
    tiny_build(&k, "opzo", OZ_NOISE_AFTER, 0.2f);
    const guint8 y[B] = {0, 1};
    oz_network_reset(k.net, B, TRUE);
    oz_learner_begin(k.l, y, TRUE);
    oz_network_run_window(k.net);
    const float *z0 = oz_population_frame(k.h1, 0)->z, *z1 = oz_population_frame(k.h1, 1)->z;
    const float *z2 = oz_population_frame(k.h1, 2)->z;
    int differs = 0;
    for (int i = 0; i < B * N1; i++) {
        cr_assert_eq(z1[i], -z0[i]);
        differs += z2[i] != z0[i] && z2[i] != -z0[i];
    }
    cr_assert_gt(differs, 0, "tick 2 draws a fresh probe");
    tiny_free(&k);
}

/* With frozen parameters, after-neuron noise and inverse_alpha, E[z õᵀ/α] = ∂o/∂ŝ = W3
 * for the last hidden layer (linear readout), so M2 must converge to W3. */
Test(learning, opzo_momentum_converges_to_the_average_jacobian) {
    const int Bm = 64, Ni = 20, Nh = 30, Mo = 5, Tm = 10;
    OzNetwork *net = oz_network_new(Bm, Tm);
    OzPopulationParams in = {.model = "input", .size = Ni};
    OzPopulationParams lif = {
        .model = "lif", .size = Nh, .lambda = 0.5f, .v_th = 1.0f, .bias = TRUE};
    OzPopulationParams ro = {.model = "readout", .size = Mo, .bias = TRUE};
    OzPopulation *pin = oz_network_add_population(net, "in", &in, NULL);
    oz_network_add_population(net, "h", &lif, NULL);
    oz_network_add_population(net, "out", &ro, NULL);
    OzProjectionParams pp = {.init = OZ_INIT_UNIFORM, .init_scale = 3.0f};
    oz_network_add_projection(net, "a", "in", "h", &pp, NULL);
    OzProjection *w3 = oz_network_add_projection(net, "b", "h", "out", &pp, NULL);
    OzRng init, noise, data;
    oz_rng_init(&init, 5, "init");
    oz_rng_init(&noise, 5, "noise");
    oz_rng_init(&data, 5, "data");
    OzLearnParams lp = {.rule = "opzo",
                        .loss_lambda = 0.05,
                        .surrogate_a = 0.25,
                        .noise = OZ_NOISE_GAUSSIAN,
                        .position = OZ_NOISE_AFTER,
                        .antithetic = TRUE,
                        .momentum = 0.998,
                        .inverse_alpha = TRUE,
                        .optim = {.kind = OZ_OPTIM_ADAMW, .beta1 = 0.9, .beta2 = 0.999}};
    OzLearner *l = oz_learner_new(net, &lp, &init, &noise, NULL);
    cr_assert_eq(oz_learner_finalize(l, 5, NULL), 0);
    cr_assert(oz_network_prepare(net, 0, NULL));
    oz_network_init_parameters(net, &init);
    oz_learner_prepare(l);
    l->alpha = 0.5f;
    l->lr = 0.0;
    guint8 y[64];
    for (int it = 0; it < 800; it++) {
        for (int i = 0; i < Bm * Ni; i++)
            pin->x[i] = (float)oz_rng_gauss(&data);
        for (int b = 0; b < Bm; b++)
            y[b] = (guint8)(b % Mo);
        oz_network_reset(net, Bm, TRUE);
        oz_learner_begin(l, y, TRUE);
        oz_network_run_window(net);
    }
    OzHidden *h = g_ptr_array_index(l->hidden, 0);
    double num = 0, den = 0;
    for (int i = 0; i < Nh * Mo; i++) {
        double d = h->path.mat[i] - w3->w[i];
        num += d * d;
        den += (double)w3->w[i] * w3->w[i];
    }
    double rel = sqrt(num / den);
    cr_assert_lt(rel, 0.05, "relative error of M vs the Jacobian: %g", rel);
    oz_learner_free(l);
    oz_network_free(net);
}

Test(learning, adamw_step_matches_hand_computation) {
    OzOptimParams p = {.kind = OZ_OPTIM_ADAMW,
                       .lr = 0,
                       .weight_decay = 0.01,
                       .beta1 = 0.9,
                       .beta2 = 0.999,
                       .eps = 1e-8};
    OzOptimizer *o = oz_optim_new(&p);
    float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.1f};
    oz_optim_add(o, "w", w, g, 2);
    oz_optim_step(o, 0.1);
    /* Step 1: m̂ = g, v̂ = g², so w ← w(1 − lr·wd) − lr·g/(|g| + ε). */
    cr_assert_float_eq(w[0], 1.0 * 0.999 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-6);
    cr_assert_float_eq(w[1], -2.0 * 0.999 - 0.1 * 0.1 / (0.1 + 1e-8), 1e-6);
    /* Step 2 with g = (−0.2, 0.3), by the formulas. */
    double w0 = w[0], w1 = w[1];
    g[0] = -0.2f;
    g[1] = 0.3f;
    oz_optim_step(o, 0.05);
    double gs[2] = {-0.2, 0.3}, g1[2] = {0.5, 0.1}, want[2] = {w0, w1};
    for (int i = 0; i < 2; i++) {
        double m = 0.9 * (0.1 * g1[i]) + 0.1 * gs[i];
        double v = 0.999 * (0.001 * g1[i] * g1[i]) + 0.001 * gs[i] * gs[i];
        double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
        want[i] = want[i] * (1 - 0.05 * 0.01) - 0.05 * mh / (sqrt(vh) + 1e-8);
    }
    cr_assert_float_eq(w[0], want[0], 1e-6);
    cr_assert_float_eq(w[1], want[1], 1e-6);
    oz_optim_free(o);
}

Test(learning, sgd_momentum_step_matches_hand_computation) {
    OzOptimParams p = {.kind = OZ_OPTIM_SGD, .weight_decay = 0.1, .momentum = 0.9};
    OzOptimizer *o = oz_optim_new(&p);
    float w[1] = {2.0f}, g[1] = {1.0f};
    oz_optim_add(o, "w", w, g, 1);
    oz_optim_step(o, 0.5); /* g' = 1 + 0.2 = 1.2, buf = 1.2, w = 2 − 0.6 = 1.4 */
    cr_assert_float_eq(w[0], 1.4, 1e-6);
    oz_optim_step(o, 0.5); /* g' = 1 + 0.14 = 1.14, buf = 1.08 + 1.14 = 2.22, w = 1.4 − 1.11 */
    cr_assert_float_eq(w[0], 0.29, 1e-6);
    oz_optim_free(o);
}

static char *run_dir;

/* Loads the scenario text, steps its run `batches` times and appends every projection's
 * weights to out.  (transfer full) the run and, in sc_out, its scenario. */
static OzRun *run_steps(const char *text, int batches, GByteArray *out, OzScenario **sc_out) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(text, "det.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    sc->data.classes = 4;
    OzRun *run = oz_run_new(sc, &err);
    cr_assert_not_null(run, "%s", err ? err->message : "");
    for (int i = 0; i < batches; i++) {
        OzLogBatch *rows = NULL;
        cr_assert(oz_run_step(run, &rows));
        oz_log_batch_free(rows);
    }
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        g_byte_array_append(out, (const guint8 *)p->w, sizeof(float) * p->n_pre * p->n_post);
    }
    *sc_out = sc;
    return run;
}

/* weights_after with more sections appended to the scenario (record, for instance). */
static void weights_after_with(const char *rule, const char *more, int batches, GByteArray *out) {
    g_autofree char *text =
        g_strdup_printf("[run]\nmode = train\nticks = 4\nbatch_size = 8\nseed = 3\n"
                        "[data]\ndir = %s\n[rule]\nname = %s\n[optimizer]\nlr = 1e-2\n"
                        "[population in]\nmodel = input\nsize = 16\n"
                        "[population h1]\nmodel = lif\nsize = 12\ndropout = 0.2\n"
                        "[population h2]\nmodel = lif\nsize = 12\ndropout = 0.2\n"
                        "[population out]\nmodel = readout\nsize = 4\n"
                        "[projection a]\nfrom = in\nto = h1\n[projection b]\nfrom = h1\nto = h2\n"
                        "[projection c]\nfrom = h2\nto = out\n%s",
                        run_dir, rule, more);
    OzScenario *sc;
    oz_run_free(run_steps(text, batches, out, &sc));
    oz_scenario_free(sc);
}

static void weights_after(const char *rule, int batches, GByteArray *out) {
    weights_after_with(rule, "", batches, out);
}

/* Every registered rule: measuring the gradient against BP on every batch ([record]
 * grad_stats, docs/ALGORITHM.md §12) leaves the training the same bits. */
Test(learning, gradient_statistics_leave_the_training_unchanged) {
    run_dir = oz_test_tmpdir();
    oz_test_write_dataset(run_dir, 64, 8, 4, 4, 4);
    for (const OzRuleOps *const *rr = oz_rule_all(); *rr; rr++) {
        GByteArray *off = g_byte_array_new(), *on = g_byte_array_new();
        weights_after((*rr)->name, 5, off);
        weights_after_with((*rr)->name, "[record]\ngrad_stats = true\ngrad_stats_every = 1\n", 5,
                           on);
        cr_assert_eq(off->len, on->len);
        cr_assert(memcmp(off->data, on->data, off->len) == 0,
                  "%s: the weights differ with grad_stats on", (*rr)->name);
        g_byte_array_free(off, TRUE);
        g_byte_array_free(on, TRUE);
    }
    oz_test_rmtree(run_dir);
}

/* Every registered rule: the same seed gives the same weights, through the program's run. */
Test(learning, same_seed_gives_bit_identical_weights) {
    run_dir = oz_test_tmpdir();
    oz_test_write_dataset(run_dir, 64, 8, 4, 4, 4);
    for (const OzRuleOps *const *rr = oz_rule_all(); *rr; rr++) {
        const char *const rules[] = {(*rr)->name};
        const gsize r = 0;
        GByteArray *a = g_byte_array_new(), *b = g_byte_array_new(), *c = g_byte_array_new();
        weights_after(rules[r], 5, a);
        weights_after(rules[r], 5, b);
        weights_after(rules[r], 1, c);
        cr_assert_eq(a->len, b->len);
        cr_assert(memcmp(a->data, b->data, a->len) == 0, "%s: reruns differ", rules[r]);
        cr_assert(memcmp(a->data, c->data, a->len) != 0, "%s: training changed nothing", rules[r]);
        g_byte_array_free(a, TRUE);
        g_byte_array_free(b, TRUE);
        g_byte_array_free(c, TRUE);
    }
    oz_test_rmtree(run_dir);
}

Test(learning, unknown_rule_is_a_scenario_error) {
    GError *err = NULL;
    OzScenario *sc =
        oz_scenario_load_data("[run]\nmode = train\n[rule]\nname = hebb\n", "r.ini", NULL, &err);
    cr_assert_null(sc);
    cr_assert(strstr(err->message, "r.ini: [rule] name:") && strstr(err->message, "'hebb'"), "%s",
              err->message);
    /* The message lists the registered rules (oz_rule_names is checked against the registry
     * in rules::registry_entries_are_well_formed_and_checked), and so does the learner's. */
    cr_assert(strstr(err->message, oz_rule_names(", ")), "%s", err->message);
    g_clear_error(&err);
    cr_assert_null(oz_rule_lookup("hebb"));
    OzNetwork *net = oz_network_new(1, 2);
    OzPopulationParams ro = {.model = "readout", .size = 2};
    oz_network_add_population(net, "out", &ro, NULL);
    OzLearnParams lp = {.rule = "hebb"};
    OzRng rng;
    oz_rng_init(&rng, 1, "init");
    cr_assert_null(oz_learner_new(net, &lp, &rng, &rng, &err));
    cr_assert(g_error_matches(err, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_UNKNOWN_RULE));
    cr_assert(strstr(err->message, oz_rule_names(", ")), "%s", err->message);
    g_clear_error(&err);
    oz_network_free(net);
}

/* Weights and biases after `batches` windows with the given feedback options; the h1→h2
 * chunks that took the sparse path and the sgemm, into `flushes` when not NULL. */
static GByteArray *weights_flushes(const char *rule, const Opts *o, int batches,
                                   guint64 flushes[2]) {
    Tiny k;
    tiny_build_opts(&k, rule, OZ_NOISE_AFTER, 0.3f, o);
    GByteArray *out = g_byte_array_new();
    const guint8 y[B] = {1, 0};
    for (int i = 0; i < batches; i++) {
        oz_network_reset(k.net, B, TRUE);
        oz_learner_begin(k.l, y, TRUE);
        oz_network_run_window(k.net);
    }
    OzProjection *ps[3] = {k.w1, k.w2, k.w3};
    for (int i = 0; i < 3; i++)
        g_byte_array_append(out, (const guint8 *)ps[i]->w,
                            sizeof(float) * ps[i]->n_pre * ps[i]->n_post);
    g_byte_array_append(out, (const guint8 *)k.h1->bias, sizeof(float) * N1);
    g_byte_array_append(out, (const guint8 *)k.h2->bias, sizeof(float) * N2);
    if (flushes) {
        flushes[0] = k.l->stage[k.w2->id].flushes_sparse;
        flushes[1] = k.l->stage[k.w2->id].flushes_dense;
    }
    tiny_free(&k);
    return out;
}

static GByteArray *weights_with(const char *rule, const Opts *o, int batches) {
    return weights_flushes(rule, o, batches, NULL);
}

/* Whether a rule takes these feedback delays: a chain needs one delay for every hidden
 * population and no jitter (oz_learner_check_uniform_feedback). */
static gboolean takes_delays(const OzRuleOps *rule, const Opts *o) {
    return !oz_rule_chains(rule) || (o->delay1 == o->delay2 && !o->jitter1 && !o->jitter2);
}

/* Every registered rule: stored eligibility with any delays and jitter the rule takes
 * gives the weights of delay 0, bit for bit (a chain: one delay for all, no jitter). */
Test(delays, stored_eligibility_with_any_delays_and_jitter_equals_no_delay) {
    for (const OzRuleOps *const *rr = oz_rule_all(); *rr; rr++) {
        const char *const rules[] = {(*rr)->name};
        const gsize r = 0;
        Opts base = {.dropout = 0.2f, .lr = 0.05f};
        GByteArray *ref = weights_with(rules[r], &base, 3);
        const Opts variants[] = {
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 1, .delay2 = 1},
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 3, .delay2 = 1},
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 2, .jitter1 = 3, .delay2 = 0, .jitter2 = 4},
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 2, .delay2 = 2},
        };
        for (gsize v = 0; v < G_N_ELEMENTS(variants); v++) {
            if (!takes_delays(*rr, &variants[v]))
                continue;
            GByteArray *got = weights_with(rules[r], &variants[v], 3);
            cr_assert_eq(got->len, ref->len);
            cr_assert(memcmp(got->data, ref->data, ref->len) == 0,
                      "%s, variant %zu: weights differ from delay 0", rules[r], v);
            g_byte_array_free(got, TRUE);
        }
        g_byte_array_free(ref, TRUE);
        /* With gradient terms gathered in chunks of 3 ticks: the chunks hold the same
         * emission ticks whatever the delays, so the sums are again identical.  Every
         * h1→h2 chunk of these runs goes by sgemm, and … */
        Opts cbase = base;
        cbase.chunk = 3;
        guint64 fl[2];
        ref = weights_flushes(rules[r], &cbase, 3, fl);
        cr_assert(fl[0] == 0 && fl[1] > 0, "%s: %lu sparse, %lu sgemm chunks", rules[r],
                  (unsigned long)fl[0], (unsigned long)fl[1]);
        const Opts late[] = {
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 3, .delay2 = 1, .chunk = 3},
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 2, .jitter1 = 3, .jitter2 = 4, .chunk = 3},
            {.dropout = 0.2f, .lr = 0.05f, .delay1 = 3, .delay2 = 3, .chunk = 3},
        };
        for (gsize v = 0; v < G_N_ELEMENTS(late); v++) {
            if (!takes_delays(*rr, &late[v]))
                continue;
            GByteArray *got = weights_flushes(rules[r], &late[v], 3, fl);
            cr_assert(memcmp(got->data, ref->data, ref->len) == 0,
                      "%s, chunked variant %zu: weights differ from delay 0", rules[r], v);
            cr_assert(fl[0] == 0 && fl[1] > 0, "%s, chunked variant %zu", rules[r], v);
            g_byte_array_free(got, TRUE);
        }
        g_byte_array_free(ref, TRUE);
        /* … the same with the sparse path: the chunks hold the same consecutive ticks,
         * delayed or not.  Of a window's two chunks the first (ticks 0–2) must take it; the
         * second, one tick with a carry-in product, costs more than its sgemm and takes
         * that. */
        cbase.sparse = TRUE;
        ref = weights_flushes(rules[r], &cbase, 3, fl);
        cr_assert(fl[0] == 3 && fl[1] == 3, "%s: %lu sparse, %lu sgemm chunks", rules[r],
                  (unsigned long)fl[0], (unsigned long)fl[1]);
        for (gsize v = 0; v < G_N_ELEMENTS(late); v++) {
            if (!takes_delays(*rr, &late[v]))
                continue;
            Opts o = late[v];
            o.sparse = TRUE;
            GByteArray *got = weights_flushes(rules[r], &o, 3, fl);
            cr_assert(memcmp(got->data, ref->data, ref->len) == 0,
                      "%s, sparse chunked variant %zu: weights differ from delay 0", rules[r], v);
            cr_assert(fl[0] == 3 && fl[1] == 3, "%s, sparse chunked variant %zu: %lu sparse, %lu "
                      "sgemm chunks", rules[r], v, (unsigned long)fl[0], (unsigned long)fl[1]);
            g_byte_array_free(got, TRUE);
        }
        g_byte_array_free(ref, TRUE);
    }
}

Test(delays, current_eligibility_without_delay_equals_stored) {
    Opts stored = {.dropout = 0.2f, .lr = 0.05f};
    Opts current = {.dropout = 0.2f, .lr = 0.05f, .eligibility = OZ_ELIGIBILITY_CURRENT};
    GByteArray *a = weights_with("opzo", &stored, 3), *b = weights_with("opzo", &current, 3);
    cr_assert(memcmp(a->data, b->data, a->len) == 0);
    g_byte_array_free(b, TRUE);
    /* With a delay, current eligibility uses other factors: the weights must differ. */
    Opts late = {.dropout = 0.2f,
                 .lr = 0.05f,
                 .delay1 = 2,
                 .delay2 = 1,
                 .eligibility = OZ_ELIGIBILITY_CURRENT};
    b = weights_with("opzo", &late, 3);
    cr_assert(memcmp(a->data, b->data, a->len) != 0);
    g_byte_array_free(a, TRUE);
    g_byte_array_free(b, TRUE);
}

typedef struct {
    GArray *log; /* of gint64 triples (population id, emitted, arrived) */
} Arrivals;

static void note_arrival(OzHidden *h, gint64 te, gint64 ta, gpointer user) {
    Arrivals *a = user;
    gint64 row[3] = {h->pop->id, te, ta};
    g_array_append_vals(a->log, row, 3);
}

static GArray *arrivals(const Opts *o, guint64 seed) {
    Tiny k;
    tiny_build_opts(&k, "dfa", OZ_NOISE_AFTER, 0.3f, o);
    oz_rng_init(&k.l->rng_jitter, seed, "jitter");
    Arrivals a = {g_array_new(FALSE, FALSE, sizeof(gint64))};
    k.l->on_arrival = note_arrival;
    k.l->on_arrival_data = &a;
    const guint8 y[B] = {1, 0};
    for (int i = 0; i < 4; i++) {
        oz_network_reset(k.net, B, TRUE);
        oz_learner_begin(k.l, y, TRUE);
        oz_network_run_window(k.net);
    }
    tiny_free(&k);
    return a.log;
}

Test(delays, errors_arrive_at_the_right_population_and_tick) {
    Opts o = {.delay1 = 3, .delay2 = 1};
    GArray *log = arrivals(&o, 1);
    cr_assert_eq(log->len, 3 * 4 * T * 2, "every error of every window arrives once");
    for (guint i = 0; i < log->len; i += 3) {
        gint64 pop = g_array_index(log, gint64, i), te = g_array_index(log, gint64, i + 1);
        gint64 ta = g_array_index(log, gint64, i + 2);
        cr_assert_eq(ta - te, pop == 1 ? 3 : 1, "population %ld, emitted %ld, arrived %ld",
                     (long)pop, (long)te, (long)ta);
    }
    g_array_free(log, TRUE);
    /* Jitter: within [delay, delay + J], reproducible for a seed, different for another. */
    Opts j = {.delay1 = 1, .jitter1 = 3, .delay2 = 0, .jitter2 = 2};
    GArray *a = arrivals(&j, 1), *b = arrivals(&j, 1), *c = arrivals(&j, 2);
    gboolean out_of_order = FALSE;
    for (guint i = 0; i < a->len; i += 3) {
        gint64 pop = g_array_index(a, gint64, i),
               lag = g_array_index(a, gint64, i + 2) - g_array_index(a, gint64, i + 1);
        cr_assert(pop == 1 ? lag >= 1 && lag <= 4 : lag >= 0 && lag <= 2, "lag %ld", (long)lag);
        if (i >= 6 && g_array_index(a, gint64, i - 6) == pop &&
            g_array_index(a, gint64, i - 5) > g_array_index(a, gint64, i + 1))
            out_of_order = TRUE;
    }
    cr_assert_eq(a->len, b->len);
    cr_assert(memcmp(a->data, b->data, a->len * sizeof(gint64)) == 0, "same seed, same jitter");
    cr_assert(c->len != a->len || memcmp(a->data, c->data, a->len * sizeof(gint64)) != 0,
              "another seed, other jitter");
    cr_assert(out_of_order, "jitter reorders some arrivals");
    g_array_free(a, TRUE);
    g_array_free(b, TRUE);
    g_array_free(c, TRUE);
}

Test(delays, a_delay_longer_than_the_drain_is_a_scenario_error) {
    g_autofree char *dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 8, 8, 4, 4, 4);
    g_autofree char *text =
        g_strdup_printf("[run]\nmode = train\nticks = 4\nbatch_size = 4\ndrain_ticks = 2\n"
                        "[data]\ndir = %s\nclasses = 4\n[rule]\nname = dfa\n"
                        "[population in]\nmodel = input\nsize = 16\n"
                        "[population h1]\nmodel = lif\nsize = 6\n"
                        "[population out]\nmodel = readout\nsize = 4\n"
                        "[projection a]\nfrom = in\nto = h1\n[projection c]\nfrom = h1\nto = out\n"
                        "[feedback h1]\ndelay = 2\njitter = 1\n",
                        dir);
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(text, "late.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    cr_assert_null(oz_run_new(sc, &err));
    cr_assert(strstr(err->message, "late.ini: [run] drain_ticks: 2 is too few: ") &&
                  g_str_has_suffix(err->message, "so at least 3 (or -1 for automatic)"),
              "%s", err->message);
    g_clear_error(&err);
    oz_scenario_free(sc);
    /* Automatic drain works, and a feedback section must name a lif population. */
    const char *sets[] = {"run.drain_ticks=-1", NULL};
    sc = oz_scenario_load_data(text, "late.ini", sets, &err);
    OzRun *run = oz_run_new(sc, &err);
    cr_assert_not_null(run, "%s", err ? err->message : "");
    cr_assert_eq(run->net->drain_ticks, 3);
    oz_run_free(run);
    oz_scenario_free(sc);
    g_autofree char *bad = g_strconcat(text, "[feedback out]\ndelay = 1\n", NULL);
    cr_assert_null(oz_scenario_load_data(bad, "late.ini", sets, &err));
    cr_assert(strstr(err->message, "[feedback out]"), "%s", err->message);
    g_clear_error(&err);
    oz_test_rmtree(g_steal_pointer(&dir));
}

/* A chain rule (bp, and any rule with chain_matrix) takes one delay for every hidden
 * population and no jitter, and says so as a scenario error; a direct rule takes any. */
Test(delays, a_chain_rule_rejects_unequal_delays_and_jitter) {
    g_autofree char *dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 8, 8, 4, 4, 4);
    const char *const feedback[] = {
        "[feedback h1]\ndelay = 1\n[feedback h2]\ndelay = 2\n",
        "[feedback h1]\ndelay = 1\njitter = 1\n[feedback h2]\ndelay = 1\njitter = 1\n",
        "[feedback h1]\ndelay = 2\n[feedback h2]\ndelay = 2\n",
    };
    int chains = 0;
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++) {
        chains += oz_rule_chains(*r);
        for (gsize f = 0; f < G_N_ELEMENTS(feedback); f++) {
            g_autofree char *text = g_strdup_printf(
                "[run]\nmode = train\nticks = 4\nbatch_size = 4\n"
                "[data]\ndir = %s\nclasses = 4\n[rule]\nname = %s\n"
                "[population in]\nmodel = input\nsize = 16\n"
                "[population h1]\nmodel = lif\nsize = 6\n[population h2]\nmodel = lif\nsize = 5\n"
                "[population out]\nmodel = readout\nsize = 4\n"
                "[projection a]\nfrom = in\nto = h1\n[projection b]\nfrom = h1\nto = h2\n"
                "[projection c]\nfrom = h2\nto = out\n%s",
                dir, (*r)->name, feedback[f]);
            GError *err = NULL;
            OzScenario *sc = oz_scenario_load_data(text, "chain.ini", NULL, &err);
            cr_assert_not_null(sc, "%s", err ? err->message : "");
            OzRun *run = oz_run_new(sc, &err);
            const gboolean uniform = f == 2;
            if (oz_rule_chains(*r) && !uniform) {
                cr_assert_null(run, "%s, feedback %zu", (*r)->name, f);
                cr_assert(g_error_matches(err, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_VALUE));
                cr_assert(strstr(err->message, "chain.ini: [rule] name:") &&
                              strstr(err->message, "same delay and no jitter"),
                          "%s", err->message);
                g_clear_error(&err);
            } else {
                cr_assert_not_null(run, "%s, feedback %zu: %s", (*r)->name, f,
                                   err ? err->message : "");
                oz_run_free(run);
            }
            oz_scenario_free(sc);
        }
    }
    cr_assert_geq(chains, 1, "bp is a chain");
    oz_test_rmtree(g_steal_pointer(&dir));
}

Test(diagnostics, bp_rule_has_cosine_one_and_variance_matches_a_direct_computation) {
    Tiny k;
    Opts o = {.dropout = 0.2f, .lr = 0.05f};
    tiny_build_opts(&k, "bp", OZ_NOISE_AFTER, 0.3f, &o);
    oz_learner_enable_diagnostics(k.l);
    k.l->frozen = TRUE;
    OzRng data;
    oz_rng_init(&data, 4, "data");
    const int W = 6;
    double *g = g_new0(double, (gsize)W *N1 *N2);
    float w_before[N1 * N2];
    memcpy(w_before, k.w2->w, sizeof w_before);
    for (int i = 0; i < W; i++) {
        for (int j = 0; j < B * NI; j++)
            k.in->x[j] = (float)(2.0 * oz_rng_uniform(&data));
        const guint8 y[B] = {(guint8)(i % 2), 1};
        k.l->diag = TRUE;
        oz_network_reset(k.net, B, TRUE);
        oz_learner_begin(k.l, y, TRUE);
        oz_network_run_window(k.net);
        for (int j = 0; j < N1 * N2; j++)
            g[i * N1 * N2 + j] = k.w2->grad[j];
    }
    cr_assert(memcmp(w_before, k.w2->w, sizeof w_before) == 0, "frozen: no step");
    OzGradStats *st = NULL;
    for (guint i = 0; i < k.l->stats->len; i++)
        if (g_array_index(k.l->stats, OzGradStats, i).proj == k.w2)
            st = &g_array_index(k.l->stats, OzGradStats, i);
    cr_assert_not_null(st);
    cr_assert_eq(st->count, W);
    cr_assert_float_eq(st->cos_sum / W, 1.0, 1e-6, "BP against itself");
    /* var = Σ_i ‖g_i − ḡ‖² / (W · elements). */
    double var = 0;
    for (int j = 0; j < N1 * N2; j++) {
        double mean = 0;
        for (int i = 0; i < W; i++)
            mean += g[i * N1 * N2 + j] / W;
        for (int i = 0; i < W; i++)
            var += (g[i * N1 * N2 + j] - mean) * (g[i * N1 * N2 + j] - mean);
    }
    var /= (double)W * N1 * N2;
    double m2 = 0;
    for (int j = 0; j < N1 * N2; j++)
        m2 += st->m2[j];
    cr_assert_gt(var, 0.0);
    cr_assert_float_eq(m2 / ((double)W * N1 * N2), var, 1e-9 * (1 + var));
    g_free(g);
    tiny_free(&k);
}

/* With axonal delays on a feed-forward chain every layer is the undelayed one shifted in
 * time, and each error is credited to the activity that caused it (lag ticks earlier), so
 * learning is exactly the undelayed learning: 3 trained windows, bit for bit. */
static void check_projection_delays(const char *rule) {
    Opts base = {.dropout = 0.2f, .lr = 0.05f};
    GByteArray *ref = weights_with(rule, &base, 3), *first = weights_with(rule, &base, 1);
    cr_assert(memcmp(ref->data, first->data, ref->len) != 0, "%s: training changed nothing",
              rule);
    g_byte_array_free(first, TRUE);
    const Opts variants[] = {
        {.dropout = 0.2f, .lr = 0.05f, .pdelay = {0, 1, 1}},
        {.dropout = 0.2f, .lr = 0.05f, .pdelay = {2, 0, 3}},
        {.dropout = 0.2f, .lr = 0.05f, .pdelay = {1, 2, 0}, .delay1 = 2, .delay2 = 2},
    };
    for (gsize v = 0; v < G_N_ELEMENTS(variants); v++) {
        if (!takes_delays(oz_rule_lookup(rule), &variants[v]))
            continue;
        GByteArray *got = weights_with(rule, &variants[v], 3);
        cr_assert(memcmp(got->data, ref->data, ref->len) == 0,
                  "%s, variant %zu: weights differ from the undelayed network", rule, v);
        g_byte_array_free(got, TRUE);
    }
    g_byte_array_free(ref, TRUE);
}

/* Every registered rule that does not probe. */
Test(delays, projection_delays_shift_time_and_learn_the_same) {
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++)
        if (!(*r)->probe)
            check_projection_delays((*r)->name);
}

/* The same for the rules that probe: a population's probe follows its input tick
 * (tick − start_tick), its keys are drawn in the undelayed order (input tick, then
 * population), and nothing is drawn after its T input ticks (sample_noise in
 * plasticity/oz-learner.c).  Before that fix, variants 0 and 1 differed from the second
 * window on (probes drawn on ticks [start_tick + T, loss_to)) and variant 2 in its first
 * (h1 from tick 1 and h2 from tick 3 interleaved their draws). */
Test(delays, projection_delays_learn_the_same_with_the_probe) {
    int probing = 0;
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++)
        if ((*r)->probe) {
            check_projection_delays((*r)->name);
            probing++;
        }
    cr_assert_geq(probing, 2, "zo and opzo probe");
}

/* A run of `rule` (extra: more [rule] keys) on a net whose hidden layers never fire: the
 * inputs reach h1 through weights 1/100 of the usual, and no weight decay.  Returns the
 * run after `batches` steps; out gets every projection's weights. */
static OzRun *silent_run(const char *rule, const char *extra, int batches, GByteArray *out,
                         OzScenario **sc_out) {
    g_autofree char *text = g_strdup_printf(
        "[run]\nmode = train\nticks = 4\nbatch_size = 8\nseed = 3\n"
        "[data]\ndir = %s\n[rule]\nname = %s\n%s[optimizer]\nlr = 1e-2\nweight_decay = 0\n"
        "[population in]\nmodel = input\nsize = 16\n"
        "[population h1]\nmodel = lif\nsize = 12\n"
        "[population h2]\nmodel = lif\nsize = 12\n"
        "[population out]\nmodel = readout\nsize = 4\n"
        "[projection a]\nfrom = in\nto = h1\ninit_scale = 0.01\n"
        "[projection b]\nfrom = h1\nto = h2\ninit_scale = 0.01\n"
        "[projection c]\nfrom = h2\nto = out\n",
        run_dir, rule, extra);
    return run_steps(text, batches, out, sc_out);
}

/* Bytes of projections a and b at the front of silent_run's weights. */
static gsize hidden_weight_bytes(const OzRun *run) {
    gsize n = 0;
    for (guint i = 0; i < 2; i++) {
        const OzProjection *p = g_ptr_array_index(run->net->projs, i);
        n += sizeof(float) * (gsize)p->n_pre * p->n_post;
    }
    return n;
}

/* DKP's B starts at 0 (the paper) and learns from the layer's own trace: on a net whose
 * hidden layers are silent, B and the hidden weights never move (docs/ALGORITHM.md §7.3),
 * while DFA's fixed B does move them.  dkp_init = random starts B from DFA's draw, bit for
 * bit, and the hidden weights move as under DFA. */
Test(rules, dkp_from_zero_cannot_leave_a_silent_start) {
    run_dir = oz_test_tmpdir();
    oz_test_write_dataset(run_dir, 64, 8, 4, 4, 4);
    GByteArray *w0 = g_byte_array_new(), *zero = g_byte_array_new(), *rnd = g_byte_array_new(),
               *dfa = g_byte_array_new();
    OzScenario *s0, *s1, *s2, *s3;
    OzRun *r0 = silent_run("dkp", "", 0, w0, &s0);
    OzRun *r1 = silent_run("dkp", "", 5, zero, &s1);
    OzRun *r2 = silent_run("dkp", "dkp_init = random\n", 5, rnd, &s2);
    OzRun *r3 = silent_run("dfa", "", 0, dfa, &s3);
    const gsize hb = hidden_weight_bytes(r0);
    {
        /* DFA's fixed B moves the hidden weights of the same silent net. */
        OzScenario *s5;
        GByteArray *w5 = g_byte_array_new();
        OzRun *r5 = silent_run("dfa", "", 5, w5, &s5);
        cr_assert(memcmp(w0->data, w5->data, hb) != 0, "dfa: the hidden weights move");
        oz_run_free(r5);
        oz_scenario_free(s5);
        g_byte_array_free(w5, TRUE);
    }
    cr_assert(memcmp(w0->data, zero->data, hb) == 0, "dkp from 0: the hidden weights moved");
    cr_assert(memcmp(w0->data + hb, zero->data + hb, w0->len - hb) == 0,
              "dkp from 0: the readout's weights read a silent h2 and stay");
    cr_assert(memcmp(w0->data, rnd->data, hb) != 0, "dkp from DFA's draw: the hidden weights move");
    for (guint h = 0; h < r1->learner->hidden->len; h++) {
        const OzHidden *z = g_ptr_array_index(r1->learner->hidden, h);
        const OzHidden *d = g_ptr_array_index(r3->learner->hidden, h);
        const OzHidden *r = g_ptr_array_index(r2->learner->hidden, h);
        const gsize n = (gsize)z->path.n * z->path.m;
        for (gsize i = 0; i < n; i++)
            cr_assert(z->path.mat[i] == 0.0f, "%s B[%zu] = %g, not 0", z->pop->name, i,
                      z->path.mat[i]);
        /* h1 starts firing within the 5 steps, so its B learns (h2 stays silent). */
        int moved = 0;
        for (gsize i = 0; i < n; i++)
            moved += r->path.mat[i] != d->path.mat[i];
        if (h == 0)
            cr_assert_gt(moved, 0, "%s: the random start's B learns", r->pop->name);
    }
    /* At step 0 the random start is DFA's matrix. */
    OzScenario *s4;
    GByteArray *w4 = g_byte_array_new();
    OzRun *r4 = silent_run("dkp", "dkp_init = random\n", 0, w4, &s4);
    for (guint h = 0; h < r4->learner->hidden->len; h++) {
        const OzHidden *r = g_ptr_array_index(r4->learner->hidden, h);
        const OzHidden *d = g_ptr_array_index(r3->learner->hidden, h);
        cr_assert(memcmp(r->path.mat, d->path.mat, sizeof(float) * r->path.n * r->path.m) == 0,
                  "%s: dkp_init = random draws DFA's B", r->pop->name);
    }
    cr_assert(memcmp(w4->data, dfa->data, w4->len) == 0, "the weights are drawn as under dfa");
    OzRun *runs[] = {r0, r1, r2, r3, r4};
    OzScenario *scs[] = {s0, s1, s2, s3, s4};
    GByteArray *bufs[] = {w0, zero, rnd, dfa, w4};
    for (int i = 0; i < 5; i++) {
        oz_run_free(runs[i]);
        oz_scenario_free(scs[i]);
        g_byte_array_free(bufs[i], TRUE);
    }
    oz_test_rmtree(run_dir);
}

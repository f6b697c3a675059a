/* Projection kinds as plugins: every registered kind's ops table is well formed and found
 * by its name, `[projection] kind` takes the registered names only (an unknown one lists
 * them), and `opzosim keys` lists every kind with its keys from the ops tables.  The
 * sparse kind delivers, learns and decays its weights as a dense matrix with the same
 * zeros. */
#include "io/oz-scenario.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-network.h"
#include "neurons/oz-projection.h"
#include "oz-test-rule.h"
#include "oz-test-util.h"
#include "plasticity/oz-learner.h"
#include "plasticity/oz-rule.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

TestSuite(kinds, .init = oz_test_tiny_setup, .fini = oz_test_tiny_teardown);

Test(kinds, every_registered_kind_is_well_formed_and_found_by_name) {
    int n = 0;
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++, n++) {
        g_autofree char *why = NULL;
        cr_assert(oz_projection_kind_check(*k, &why), "%s", why);
        cr_assert_eq(oz_projection_kind_lookup((*k)->name), *k, "%s by its name", (*k)->name);
    }
    cr_assert(n >= 1);
    cr_assert_not_null(oz_projection_kind_lookup("dense"), "dense is registered");
    cr_assert_null(oz_projection_kind_lookup("dens"));
    /* A table of another api_version or without a required slot is refused. */
    OzProjectionKindOps bad = *oz_projection_kind_lookup("dense");
    bad.api_version++;
    g_autofree char *why = NULL;
    cr_assert_not(oz_projection_kind_check(&bad, &why));
    cr_assert(strstr(why, "api_version"), "%s", why);
    bad = *oz_projection_kind_lookup("dense");
    bad.accumulate = NULL;
    g_clear_pointer(&why, g_free);
    cr_assert_not(oz_projection_kind_check(&bad, &why));
    cr_assert(strstr(why, "required"), "%s", why);
}

Test(kinds, the_default_kind_is_dense) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    OzProjectionConfig *a = g_ptr_array_index(sc->projs, 0);
    cr_assert_str_eq(a->kind, "dense");
    oz_scenario_free(sc);
}

Test(kinds, an_unknown_kind_lists_the_registered_ones) {
    const char *sets[] = {"projection a.kind=dence", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", sets, &err));
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
    g_autofree char *names = oz_projection_kind_names();
    cr_assert(strstr(err->message, "[projection a] kind:") && strstr(err->message, names), "%s",
              err->message);
    g_error_free(err);
}

Test(kinds, keys_lists_every_kind_and_its_keys_from_the_ops_tables) {
    g_autofree char *out = NULL;
    cr_assert_eq(oz_test_run_out(&out, NULL, "keys", NULL), 0, "keys exits 0");
    const char *proj = strstr(out, "[projection NAME]");
    cr_assert_not_null(proj);
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++) {
        g_autofree char *head = g_strdup_printf("  kind = %s: %s\n", (*k)->name, (*k)->help);
        const char *at = strstr(proj, head);
        cr_assert_not_null(at, "keys lists kind %s under [projection NAME]", (*k)->name);
        for (int i = 0; (*k)->params && (*k)->params[i].key; i++) {
            g_autofree char *def = g_strdup_printf("[default: %s]", (*k)->params[i].def);
            g_autofree char *key = g_strdup_printf("\n    %-16s ", (*k)->params[i].key);
            const char *line = strstr(at, key);
            cr_assert(line && strstr(line, def), "kind %s key %s with its default", (*k)->name,
                      (*k)->params[i].key);
        }
    }
}

/* ---- The sparse kind against a dense matrix with the same zeros ---- */

typedef struct {
    int connectivity; /* the sparse kind's parameter struct, in its key order */
    int indegree;
    double p;
} SparseKeys;

/* A sparse projection's parameters: its keys parsed by the kind's own specs. */
static void sparse_keys(const char *connectivity, const char *indegree, const char *p,
                        gpointer out) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup("sparse");
    cr_assert_not_null(ops, "sparse is registered");
    cr_assert_leq(ops->params_size, sizeof(SparseKeys) + 64);
    oz_param_defaults(ops->params, out);
    const char *keys[] = {"connectivity", "indegree", "p"}, *vals[] = {connectivity, indegree, p};
    for (int i = 0; i < 3; i++) {
        g_autofree char *why = NULL;
        cr_assert(oz_param_parse(oz_param_find(ops->params, keys[i]), vals[i], out, &why), "%s",
                  why);
    }
}

/* Where each of a kind's synapses sits, found through its chain slot alone: with C the
 * unit vector of synapse k and down[j] = j + 1, out[i] = j + 1 at the synapse's (i, j). */
static void synapse_positions(const OzProjection *p, int *pre_of, int *post_of) {
    float *c = g_new0(float, p->nw), *down = g_new(float, p->n_post), *out = g_new(float, p->n_pre);
    for (int j = 0; j < p->n_post; j++)
        down[j] = (float)(j + 1);
    for (gsize k = 0; k < p->nw; k++) {
        c[k] = 1.0f;
        memset(out, 0, sizeof(float) * p->n_pre);
        p->kind->chain_apply(p, c, down, 1, out);
        c[k] = 0.0f;
        int found = 0;
        for (int i = 0; i < p->n_pre; i++)
            if (out[i] != 0.0f) {
                found++;
                pre_of[k] = i;
                post_of[k] = (int)out[i] - 1;
            }
        cr_assert_eq(found, 1, "synapse %zu leaves exactly one neuron", (size_t)k);
    }
    g_free(c);
    g_free(down);
    g_free(out);
}

/* The dense twin's W: the sparse weights at their synapses, zero elsewhere (asserting that
 * no two synapses share a place). */
static void scatter_into(const OzProjection *sp, const int *pre_of, const int *post_of,
                         const float *values, float *dense) {
    memset(dense, 0, sizeof(float) * (gsize)sp->n_pre * sp->n_post);
    for (gsize k = 0; k < sp->nw; k++) {
        float *at = dense + (gsize)pre_of[k] * sp->n_post + post_of[k];
        cr_assert_eq(*at, 0.0f, "synapse %zu is the only one at (%d, %d)", (size_t)k, pre_of[k],
                     post_of[k]);
        *at = values[k];
    }
}

/* Weights that are never zero and sum exactly in float (multiples of 1/128). */
static void exact_weights(OzProjection *p) {
    for (gsize k = 0; k < p->nw; k++)
        p->w[k] = (float)((int)((k * 37) % 127) - 63) / 128.0f + 1.0f / 256.0f;
}

static const OzPopulationParams LIF_P = {.model = "lif", .lambda = 0.5f, .v_th = 1.0f};

static void check_twin_delivery(const char *conn, const char *indegree, const char *prob) {
    const int B = 3, NPRE = 37, NPOST = 29;
    OzPopulationParams pre_p = LIF_P, post_p = LIF_P;
    pre_p.size = NPRE;
    post_p.size = NPOST;
    OzPopulation *pre = oz_population_new("pre", &pre_p, B, NULL);
    OzPopulation *post = oz_population_new("post", &post_p, B, NULL);
    gpointer keys = g_malloc0(sizeof(SparseKeys) + 64);
    sparse_keys(conn, indegree, prob, keys);
    OzProjectionParams spp = {.init = OZ_INIT_NORMAL,
                              .init_scale = 1.0f,
                              .delivery = OZ_DELIVERY_AUTO,
                              .dense_threshold = 0.15f,
                              .kind = oz_projection_kind_lookup("sparse"),
                              .kind_params = keys,
                              .seed = 5};
    OzProjectionParams dpp = {.init = OZ_INIT_ZERO, .delivery = OZ_DELIVERY_EVENT};
    OzProjection *sp = oz_projection_new("sp", pre, post, &spp);
    OzProjection *dp = oz_projection_new("dp", pre, post, &dpp);
    g_free(keys);
    cr_assert_lt(sp->nw, (gsize)NPRE * NPOST, "%s: fewer synapses than pairs", conn);
    cr_assert_gt(sp->nw, 0);
    exact_weights(sp);
    int *pre_of = g_new(int, sp->nw), *post_of = g_new(int, sp->nw);
    synapse_positions(sp, pre_of, post_of);
    scatter_into(sp, pre_of, post_of, sp->w, dp->w);
    int degree[NPRE], in_degree[NPOST];
    memset(degree, 0, sizeof degree);
    memset(in_degree, 0, sizeof in_degree);
    for (gsize k = 0; k < sp->nw; k++) {
        degree[pre_of[k]]++;
        in_degree[post_of[k]]++;
    }
    if (!strcmp(conn, "fixed_indegree"))
        for (int j = 0; j < NPOST; j++)
            cr_assert_eq(in_degree[j], atoi(indegree), "post %d has indegree partners", j);
    /* Spike packets: the same currents bit for bit (exact sums), SynOps = Σ out-degree. */
    OzRng rng;
    oz_rng_init(&rng, 3, "test");
    float *a = g_new0(float, B *NPOST), *d = g_new0(float, B *NPOST);
    const double rates[] = {0.0, 0.05, 0.3, 1.0};
    for (gsize r = 0; r < G_N_ELEMENTS(rates); r++) {
        OzFrame *f = oz_population_frame(pre, 0);
        oz_test_spike_frame(f, B, NPRE, rates[r], 1.25f, FALSE, &rng);
        memset(a, 0, sizeof(float) * B * NPOST);
        memset(d, 0, sizeof(float) * B * NPOST);
        oz_projection_counters_clear(sp);
        oz_projection_counters_clear(dp);
        oz_projection_deliver(sp, f, a);
        oz_projection_deliver(dp, f, d);
        guint64 want = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < NPRE; i++)
                if (f->s[b * NPRE + i] != 0.0f)
                    want += (guint64)degree[i];
        cr_assert_eq(sp->synops, want, "%s rate %g: SynOps are the synapses reached", conn,
                     rates[r]);
        cr_assert_eq(sp->row_fetches, dp->row_fetches);
        for (int k = 0; k < B * NPOST; k++)
            cr_assert_eq(a[k], d[k], "%s rate %g: current [%d] %g vs %g", conn, rates[r], k,
                         (double)a[k], (double)d[k]);
    }
    /* Real-valued frames: a static current (cached) and a dense noisy frame. */
    OzFrame *f = oz_population_frame(pre, 0);
    for (int i = 0; i < B * NPRE; i++)
        f->s[i] = (float)oz_rng_gauss(&rng);
    const OzFrameKind kinds[] = {OZ_FRAME_DENSE_STATIC, OZ_FRAME_DENSE};
    for (int t = 0; t < 2; t++) {
        f->kind = kinds[t];
        f->nspikes = 0;
        memset(a, 0, sizeof(float) * B * NPOST);
        memset(d, 0, sizeof(float) * B * NPOST);
        oz_projection_reset(sp);
        oz_projection_reset(dp);
        oz_projection_deliver(sp, f, a);
        oz_projection_deliver(dp, f, d);
        for (int k = 0; k < B * NPOST; k++)
            cr_assert_float_eq(a[k], d[k], 1e-5, "%s frame kind %d [%d]", conn, kinds[t], k);
    }
    /* The gradient on the synapses, and the chain, against the dense twin's. */
    float *pre_v = g_new(float, B *NPRE), *gu = g_new(float, B *NPOST);
    for (int i = 0; i < B * NPRE; i++)
        pre_v[i] = (float)oz_rng_uniform(&rng);
    for (int i = 0; i < B * NPOST; i++)
        gu[i] = (float)oz_rng_gauss(&rng);
    sp->kind->accumulate(sp, oz_projection_grad(sp), pre_v, gu, B);
    dp->kind->accumulate(dp, oz_projection_grad(dp), pre_v, gu, B);
    for (gsize k = 0; k < sp->nw; k++)
        cr_assert_float_eq(sp->grad[k], dp->grad[(gsize)pre_of[k] * NPOST + post_of[k]], 1e-5,
                           "%s grad of synapse %zu", conn, (size_t)k);
    float *cs = g_new0(float, B *NPRE), *cd = g_new0(float, B *NPRE);
    sp->kind->chain_apply(sp, NULL, gu, B, cs);
    dp->kind->chain_apply(dp, NULL, gu, B, cd);
    for (int k = 0; k < B * NPRE; k++)
        cr_assert_float_eq(cs[k], cd[k], 1e-5, "%s chain [%d]", conn, k);
    /* The checkpoint's and the optimizer's tensor: the nnz values, rank 1. */
    gsize dims[2];
    cr_assert_eq(oz_projection_shape(sp, dims), 1);
    cr_assert_eq(dims[0], sp->nw);
    g_free(cs);
    g_free(cd);
    g_free(pre_v);
    g_free(gu);
    g_free(a);
    g_free(d);
    g_free(pre_of);
    g_free(post_of);
    oz_projection_free(sp);
    oz_projection_free(dp);
    oz_population_free(pre);
    oz_population_free(post);
}

Test(kinds, sparse_delivery_gradient_chain_and_synops_equal_the_dense_twin) {
    check_twin_delivery("fixed_indegree", "5", "0.1");
    check_twin_delivery("pairwise", "10", "0.2");
}

Test(kinds, sparse_connectivity_is_drawn_from_the_seed) {
    OzPopulationParams pp = LIF_P;
    pp.size = 50;
    OzPopulation *pre = oz_population_new("pre", &pp, 1, NULL);
    OzPopulation *post = oz_population_new("post", &pp, 1, NULL);
    gpointer keys = g_malloc0(sizeof(SparseKeys) + 64);
    sparse_keys("pairwise", "10", "0.1", keys);
    OzProjectionParams spp = {.init = OZ_INIT_ZERO,
                              .kind = oz_projection_kind_lookup("sparse"),
                              .kind_params = keys,
                              .seed = 9};
    OzProjection *a = oz_projection_new("x", pre, post, &spp);
    OzProjection *b = oz_projection_new("x", pre, post, &spp);
    OzProjection *c = oz_projection_new("y", pre, post, &spp);
    g_free(keys);
    /* About p · 2500 synapses; the same seed and name give the same ones. */
    cr_assert(a->nw > 150 && a->nw < 350, "%zu synapses", (size_t)a->nw);
    cr_assert_eq(a->nw, b->nw);
    int *pa = g_new(int, a->nw), *qa = g_new(int, a->nw), *pb = g_new(int, b->nw),
        *qb = g_new(int, b->nw);
    synapse_positions(a, pa, qa);
    synapse_positions(b, pb, qb);
    cr_assert_arr_eq(pa, pb, sizeof(int) * a->nw);
    cr_assert_arr_eq(qa, qb, sizeof(int) * a->nw);
    /* Another projection's name is another stream. */
    gboolean same = c->nw == a->nw;
    if (same) {
        int *pc = g_new(int, c->nw), *qc = g_new(int, c->nw);
        synapse_positions(c, pc, qc);
        same = !memcmp(pa, pc, sizeof(int) * a->nw) && !memcmp(qa, qc, sizeof(int) * a->nw);
        g_free(pc);
        g_free(qc);
    }
    cr_assert_not(same, "projections x and y draw their own synapses");
    g_free(pa);
    g_free(qa);
    g_free(pb);
    g_free(qb);
    oz_projection_free(a);
    oz_projection_free(b);
    oz_projection_free(c);
    oz_population_free(pre);
    oz_population_free(post);
}

/* Every registered rule on a tiny net whose three projections are sparse, against its
 * dense twin (the same weights at the synapses, zeros elsewhere).  The learning rate is 0,
 * so the twin's zeros stay zero and each window's gradient stays readable after its
 * step. */
enum { TB = 2, TNI = 6, TN1 = 8, TN2 = 8, TM = 3, TT = 5, TWINDOWS = 3 };

typedef struct {
    OzNetwork *net;
    OzLearner *l;
    OzProjection *w[3];
    OzPopulation *in, *h1, *h2, *out;
    OzRng init, noise;
} Twin;

static void twin_build(Twin *k, const char *rule, gboolean sparse) {
    memset(k, 0, sizeof *k);
    oz_rng_init(&k->init, 11, "init");
    oz_rng_init(&k->noise, 11, "noise");
    k->net = oz_network_new(TB, TT);
    OzPopulationParams in = {
        .model = "input", .size = TNI, .encoding = OZ_ENCODING_CURRENT, .lambda = 0.5f};
    OzPopulationParams lif = {.model = "lif", .lambda = 0.5f, .v_th = 1.0f, .bias = TRUE};
    OzPopulationParams ro = {.model = "readout", .size = TM, .bias = TRUE};
    k->in = oz_network_add_population(k->net, "in", &in, NULL);
    lif.size = TN1;
    k->h1 = oz_network_add_population(k->net, "h1", &lif, NULL);
    lif.size = TN2;
    k->h2 = oz_network_add_population(k->net, "h2", &lif, NULL);
    k->out = oz_network_add_population(k->net, "out", &ro, NULL);
    const char *names[3] = {"w1", "w2", "w3"}, *from[3] = {"in", "h1", "h2"},
               *to[3] = {"h1", "h2", "out"}, *indegree[3] = {"3", "4", "5"};
    for (int i = 0; i < 3; i++) {
        gpointer keys = g_malloc0(sizeof(SparseKeys) + 64);
        sparse_keys("fixed_indegree", indegree[i], "0.1", keys);
        OzProjectionParams pp = {.init = OZ_INIT_UNIFORM,
                                 .init_scale = 2.5f,
                                 .dense_threshold = 0.15f,
                                 .kind = sparse ? oz_projection_kind_lookup("sparse") : NULL,
                                 .kind_params = sparse ? keys : NULL,
                                 .seed = 11};
        k->w[i] = oz_network_add_projection(k->net, names[i], from[i], to[i], &pp, NULL);
        g_free(keys);
    }
    OzLearnParams lp = {
        .rule = rule,
        .loss_lambda = 0.3,
        .surrogate_a = 0.25,
        .noise = OZ_NOISE_GAUSSIAN,
        .position = OZ_NOISE_AFTER,
        .antithetic = TRUE,
        .momentum = 0.9,
        .optim = {.kind = OZ_OPTIM_ADAMW, .lr = 0.0, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    };
    GError *err = NULL;
    k->l = oz_learner_new(k->net, &lp, &k->init, &k->noise, &err);
    cr_assert_not_null(k->l, "%s", err ? err->message : "");
    oz_learner_set_feedback(k->l, "h1", 0, 0, OZ_ELIGIBILITY_STORED);
    oz_learner_set_feedback(k->l, "h2", 0, 0, OZ_ELIGIBILITY_STORED);
    gint64 lat = oz_learner_finalize(k->l, 11, &err);
    cr_assert_geq(lat, 0, "%s", err ? err->message : "");
    cr_assert(oz_network_prepare(k->net, oz_network_delay_to(k->net, k->out) + lat, NULL));
    oz_network_init_parameters(k->net, &k->init);
    oz_learner_prepare(k->l);
    k->l->alpha = 0.3f;
    k->l->lr = 0.0;
    const float x[TB * TNI] = {0.875f, -0.5f,  1.25f,  0.25f, 1.125f, -0.75f,
                               1.5f,   0.625f, -0.25f, 1.0f,  0.375f, 1.375f};
    memcpy(k->in->x, x, sizeof x);
    k->h1->rng = k->h2->rng = &k->noise;
}

static void twin_free(Twin *k) {
    oz_learner_free(k->l);
    oz_network_free(k->net);
}

static void expect_vec(const char *rule, const char *what, int window, const float *a,
                       const float *b, gsize n) {
    for (gsize i = 0; i < n; i++)
        cr_assert(fabsf(a[i] - b[i]) <= 1e-5f + 1e-4f * fabsf(b[i]),
                  "%s window %d: %s[%zu] sparse %g, dense %g", rule, window, what, (size_t)i,
                  (double)a[i], (double)b[i]);
}

static void check_rule_on_twins(const char *rule) {
    Twin s, d;
    twin_build(&s, rule, TRUE);
    twin_build(&d, rule, FALSE);
    int *pre_of[3], *post_of[3];
    for (int i = 0; i < 3; i++) {
        OzProjection *sp = s.w[i], *dp = d.w[i];
        for (gsize k = 0; k < sp->nw; k++) /* exact: multiples of 1/64, never zero */
            sp->w[k] = (float)((int)((k * 37 + (gsize)i * 11) % 97) - 48) / 64.0f + 1.0f / 128.0f;
        pre_of[i] = g_new(int, sp->nw);
        post_of[i] = g_new(int, sp->nw);
        synapse_positions(sp, pre_of[i], post_of[i]);
        scatter_into(sp, pre_of[i], post_of[i], sp->w, dp->w);
        /* The optimizer (weight decay included) sees the synapses only. */
        gboolean found = FALSE;
        for (guint j = 0; j < s.l->opt->params->len; j++) {
            OzParam *op = &g_array_index(s.l->opt->params, OzParam, j);
            if (op->w == sp->w) {
                cr_assert_eq(op->n, sp->nw, "%s: the optimizer's tensor is the synapses", rule);
                found = TRUE;
            }
        }
        cr_assert(found);
    }
    /* Biases come from the init stream after the weights, which the twins draw in
     * different numbers: the twin takes the sparse net's. */
    memcpy(d.h1->bias, s.h1->bias, sizeof(float) * TN1);
    memcpy(d.h2->bias, s.h2->bias, sizeof(float) * TN2);
    memcpy(d.out->bias, s.out->bias, sizeof(float) * TM);
    /* A pathway that starts at zero (dkp learns its B) gets the same values in both. */
    for (guint h = 0; h < s.l->hidden->len; h++) {
        OzHidden *hs = g_ptr_array_index(s.l->hidden, h), *hd = g_ptr_array_index(d.l->hidden, h);
        gsize sz = hs->path.mat ? (gsize)hs->path.n * hs->path.m : 0;
        double norm = 0;
        for (gsize i = 0; i < sz; i++)
            norm += fabsf(hs->path.mat[i]);
        for (gsize i = 0; i < sz && norm == 0; i++)
            hs->path.mat[i] = hd->path.mat[i] = (float)((int)(i * 13 % 9) - 4) / 8.0f;
    }
    const guint8 y[TB] = {1, 2};
    double hidden = 0;
    guint64 synops_s = 0, synops_d = 0;
    for (int win = 0; win < TWINDOWS; win++) {
        Twin *both[2] = {&s, &d};
        for (int t = 0; t < 2; t++) {
            oz_network_reset(both[t]->net, TB, TRUE);
            oz_learner_begin(both[t]->l, y, TRUE);
        }
        /* A chain's matrix (bp: W, sign: sign(W), fa: a fixed B drawn by the kind) gets
         * the same zeros in the twin. */
        if (s.l->rule->chain_matrix)
            for (int i = 1; i < 3; i++) {
                const float *cs = s.l->rule->chain_matrix(s.l->rule_state, s.l, s.w[i]);
                float *cd = (float *)d.l->rule->chain_matrix(d.l->rule_state, d.l, d.w[i]);
                scatter_into(s.w[i], pre_of[i], post_of[i], cs, cd);
            }
        oz_network_run_window(s.net);
        oz_network_run_window(d.net);
        expect_vec(rule, "readout o", win, s.out->o, d.out->o, (gsize)TB * TM);
        for (int i = 0; i < 3; i++) {
            OzProjection *sp = s.w[i], *dp = d.w[i];
            float *mapped = g_new(float, sp->nw);
            for (gsize k = 0; k < sp->nw; k++)
                mapped[k] = dp->grad[(gsize)pre_of[i][k] * dp->n_post + post_of[i][k]];
            expect_vec(rule, sp->name, win, sp->grad, mapped, sp->nw);
            if (i == 1)
                for (gsize k = 0; k < sp->nw; k++)
                    hidden += fabsf(mapped[k]);
            g_free(mapped);
            cr_assert_eq(sp->row_fetches, dp->row_fetches, "%s: the same spikes", rule);
            synops_s += sp->synops;
            synops_d += dp->synops;
        }
        expect_vec(rule, "b1", win, s.h1->bias_grad, d.h1->bias_grad, TN1);
        expect_vec(rule, "b2", win, s.h2->bias_grad, d.h2->bias_grad, TN2);
        expect_vec(rule, "b3", win, s.out->bias_grad, d.out->bias_grad, TM);
    }
    if (oz_test_rule_is_silent(rule))
        cr_assert_eq(hidden, 0.0, "%s: a silent rule gives the hidden layers nothing", rule);
    else
        cr_assert_gt(hidden, 0.0, "%s: the twins must produce a hidden gradient", rule);
    cr_assert_gt(synops_s, 0, "%s: spikes crossed the sparse projections", rule);
    cr_assert_lt(synops_s, synops_d, "%s: a sparse projection reaches fewer synapses", rule);
    for (int i = 0; i < 3; i++) {
        g_free(pre_of[i]);
        g_free(post_of[i]);
    }
    twin_free(&s);
    twin_free(&d);
}

Test(kinds, every_rule_learns_through_sparse_projections_as_through_their_dense_twin) {
    int n = 0;
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++, n++)
        check_rule_on_twins((*r)->name);
    cr_assert_geq(n, 7);
}

Test(kinds, kind_keys_are_validated_run_and_logged_with_their_projection) {
    /* A key of another kind is accepted and ignored; one no kind knows is an error. */
    const char *other[] = {"projection a.indegree=2", NULL};
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(oz_test_tiny_text, "my.ini", other, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    OzProjectionConfig *a = g_ptr_array_index(sc->projs, 0);
    cr_assert_null(a->keys[0], "a dense projection keeps no kind keys");
    oz_scenario_free(sc);
    const char *unknown[] = {"projection a.outdegree=2", NULL};
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", unknown, &err));
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_UNKNOWN);
    cr_assert(strstr(err->message, "[projection a] outdegree:"), "%s", err->message);
    g_clear_error(&err);
    const char *bad[] = {"projection a.kind=sparse", "projection a.indegree=0", NULL};
    cr_assert_null(oz_scenario_load_data(oz_test_tiny_text, "my.ini", bad, &err));
    cr_assert(strstr(err->message, "[projection a] indegree:"), "%s", err->message);
    g_clear_error(&err);
    /* A run through a sparse projection logs its keys with owner "projection NAME". */
    g_autofree char *path = oz_test_write_file(oz_test_tiny_dir, "s.ini", oz_test_tiny_text);
    g_autofree char *db = g_build_filename(oz_test_tiny_dir, "log.sqlite", NULL);
    g_autofree char *errs = NULL;
    int rc = oz_test_run(&errs, "run", path, "--db", db, "--quiet", "--set",
                         "projection a.kind=sparse", "--set", "projection a.indegree=2", NULL);
    cr_assert_eq(rc, 0, "%s", errs);
    g_autofree char *k = oz_test_qs(
        db, "SELECT value FROM parameters WHERE owner = 'projection a' AND key = 'indegree'");
    cr_assert_str_eq(k, "2");
    cr_assert_eq(oz_test_q(db, "SELECT COUNT(*) FROM parameters WHERE owner = 'projection b'"), 0,
                 "a dense projection has no kind keys");
}

/* ---- Weight decay on a sparse projection ---- */

/* |a − b| within 4 units in the last place of b. */
static gboolean within_4_ulp(float a, float b) {
    float ulp = nextafterf(fabsf(b), INFINITY) - fabsf(b);
    return fabsf(a - b) <= 4.0f * ulp;
}

/* One AdamW step (plasticity/oz-optim.h) with weight decay wd through the learner's own
 * optimizer, on the sparse net and on its dense twin, from gradient g(k) on synapse k of
 * projection i (zero where the twin has no synapse).  On its first step AdamW has
 * m̂ = g and √v̂ = |g|, so a synapse's closed form is w·(1 − lr·wd) − lr·g/(|g| + ε): with
 * a zero gradient the decay alone, to 4 ulp.  The optimizer keeps β1, β2 and its moments
 * in float (1 − (float)0.999 is 1.3e-5 off 0.001), so the gradient's part, lr·g/(|g| + ε),
 * is checked to 1e-5 of lr.  Every synapse, and only those, moves so; the twin's zeros stay
 * zero and its synapses equal the sparse weights bit for bit. */
static void check_sparse_decay(float (*grad)(int i, gsize k)) {
    const double lr = 0.01, wd = 0.1, eps = 1e-8;
    Twin s, d;
    twin_build(&s, "bp", TRUE);
    twin_build(&d, "bp", FALSE);
    s.l->opt->p.weight_decay = d.l->opt->p.weight_decay = wd;
    oz_optim_zero_grad(s.l->opt);
    oz_optim_zero_grad(d.l->opt);
    int *pre_of[3], *post_of[3];
    float *before[3];
    for (int i = 0; i < 3; i++) {
        OzProjection *sp = s.w[i], *dp = d.w[i];
        exact_weights(sp);
        before[i] = g_memdup2(sp->w, sizeof(float) * sp->nw);
        pre_of[i] = g_new(int, sp->nw);
        post_of[i] = g_new(int, sp->nw);
        synapse_positions(sp, pre_of[i], post_of[i]);
        scatter_into(sp, pre_of[i], post_of[i], sp->w, dp->w);
        float *g = g_new(float, sp->nw);
        for (gsize k = 0; k < sp->nw; k++)
            g[k] = grad(i, k);
        memcpy(oz_projection_grad(sp), g, sizeof(float) * sp->nw);
        scatter_into(sp, pre_of[i], post_of[i], g, oz_projection_grad(dp));
        g_free(g);
    }
    oz_optim_step(s.l->opt, lr);
    oz_optim_step(d.l->opt, lr);
    for (int i = 0; i < 3; i++) {
        OzProjection *sp = s.w[i], *dp = d.w[i];
        for (gsize k = 0; k < sp->nw; k++) {
            double g = grad(i, k);
            float want = (float)(before[i][k] * (1.0 - lr * wd) - lr * g / (fabs(g) + eps));
            cr_assert_neq(sp->w[k], before[i][k], "%s synapse %zu moved", sp->name, (size_t)k);
            gboolean close = g == 0.0 ? within_4_ulp(sp->w[k], want)
                                      : fabs((double)sp->w[k] - want) <= 1e-5 * lr;
            cr_assert(close, "%s synapse %zu (g %g): %.9g, want %.9g", sp->name, (size_t)k, g,
                      (double)sp->w[k], (double)want);
        }
        float *dense = g_new(float, (gsize)sp->n_pre * sp->n_post);
        scatter_into(sp, pre_of[i], post_of[i], sp->w, dense);
        gsize zeros = 0;
        for (gsize x = 0; x < (gsize)sp->n_pre * sp->n_post; x++) {
            zeros += dense[x] == 0.0f;
            cr_assert_eq(dp->w[x], dense[x], "%s (%zu, %zu): dense %g, sparse %g", sp->name,
                         (size_t)(x / sp->n_post), (size_t)(x % sp->n_post), (double)dp->w[x],
                         (double)dense[x]);
        }
        cr_assert_eq(zeros, (gsize)sp->n_pre * sp->n_post - sp->nw,
                     "%s: a zero wherever there is no synapse, and only there", sp->name);
        g_free(dense);
        g_free(before[i]);
        g_free(pre_of[i]);
        g_free(post_of[i]);
    }
    twin_free(&s);
    twin_free(&d);
}

static float zero_grad(int i, gsize k) {
    (void)i;
    (void)k;
    return 0.0f;
}

/* Positive, negative and zero gradients of different sizes. */
static float known_grad(int i, gsize k) {
    return (float)((int)((k * 7 + (gsize)i) % 5) - 2) * 0.375f;
}

Test(kinds, weight_decay_on_a_sparse_projection_moves_exactly_its_synapses) {
    check_sparse_decay(zero_grad);
    check_sparse_decay(known_grad);
}

/* oz-learner.c — see oz-learner.h.  Every batched product is one sgemm; no allocation
 * happens per tick. */
#include "oz-learner.h"

#include "plasticity/oz-loss.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static const OzRuleOps rule_bp = {OZ_RULE_API_VERSION, "bp", "transpose", FALSE};
static const OzRuleOps rule_dfa = {OZ_RULE_API_VERSION, "dfa", "random", FALSE};
static const OzRuleOps rule_dkp = {OZ_RULE_API_VERSION, "dkp", "learned", FALSE};
static const OzRuleOps rule_zo = {OZ_RULE_API_VERSION, "zo", "broadcast", TRUE};
static const OzRuleOps rule_opzo = {OZ_RULE_API_VERSION, "opzo", "momentum", TRUE};
static const OzRuleOps *const rules[] = {&rule_bp, &rule_dfa, &rule_dkp, &rule_zo, &rule_opzo,
                                         NULL};

const OzRuleOps *oz_rule_lookup(const char *name) {
    for (int i = 0; rules[i]; i++)
        if (g_strcmp0(rules[i]->name, name) == 0)
            return rules[i];
    return NULL;
}

const OzRuleOps *const *oz_rule_all(void) {
    return rules;
}

static void on_loss(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void on_error(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void on_step(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void sample_noise(OzPopulation *pop, gint64 tick, gpointer user_data);

static void hidden_free(OzHidden *h) {
    oz_pathway_clear(&h->path);
    g_free(h->g_s);
    g_free(h->g_u);
    g_free(h->ll_w);
    g_free(h->ll_grad);
    g_free(h->ll_r);
    g_free(h->ll_e);
    g_free(h);
}

OzLearner *oz_learner_new(OzNetwork *net, const OzLearnParams *params, OzRng *rng_init,
                          OzRng *rng_noise, GError **error) {
    const OzRuleOps *rule = oz_rule_lookup(params->rule);
    if (!rule) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_NOT_FOUND,
                    "unknown learning rule '%s' (rules: bp, dfa, dkp, zo, opzo)", params->rule);
        return NULL;
    }
    g_return_val_if_fail(!net->prepared, NULL);
    OzLearner *l = g_new0(OzLearner, 1);
    l->net = net;
    l->rule = rule;
    l->p = *params;
    l->rng_noise = rng_noise;
    l->hidden = g_ptr_array_new_with_free_func((GDestroyNotify)hidden_free);
    const OzFeedbackOps *fb = oz_feedback_lookup(rule->feedback);
    g_assert(fb);
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        if (g_strcmp0(pop->ops->name, "readout") == 0)
            l->readout = pop;
    }
    if (!l->readout) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "learning needs a readout population");
        oz_learner_free(l);
        return NULL;
    }
    l->m = l->readout->n;
    int B = net->batch;
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        if (g_strcmp0(pop->ops->name, "lif") != 0)
            continue;
        OzHidden *h = g_new0(OzHidden, 1);
        h->pop = pop;
        oz_pathway_init(&h->path, fb, pop->n, l->m, rng_init, params->dfa_fan_n);
        h->path.momentum = params->momentum;
        h->path.inverse_alpha = params->inverse_alpha;
        h->path.batch_sum = params->m_batch_sum;
        h->path.per_window = params->m_per_window;
        pop->trace_noisy = params->trace_noisy;
        pop->noise_unmasked = params->noise_unmasked;
        h->g_s = g_new0(float, (gsize)B * pop->n);
        h->g_u = g_new0(float, (gsize)B * pop->n);
        if (params->local_learning) {
            gsize sz = (gsize)pop->n * l->m;
            h->ll_w = g_new0(float, sz);
            h->ll_grad = g_new0(float, sz);
            h->ll_r = g_new0(float, (gsize)B * l->m);
            h->ll_e = g_new0(float, (gsize)B * l->m);
            double bound = 1.0 / sqrt((double)pop->n);
            for (gsize i = 0; i < sz; i++)
                h->ll_w[i] = (float)((2.0 * oz_rng_uniform(rng_init) - 1.0) * bound);
        }
        pop->min_depth = MAX(pop->min_depth, h->delay_ticks + 1);
        if (rule->noise) {
            pop->noise_mode = params->position;
            pop->pre_step = sample_noise;
            pop->pre_step_data = l;
        }
        g_ptr_array_add(l->hidden, h);
    }
    if (params->input_trace)
        for (guint i = 0; i < net->pops->len; i++) {
            OzPopulation *pop = g_ptr_array_index(net->pops, i);
            if (g_strcmp0(pop->ops->name, "input") == 0)
                oz_population_enable_input_trace(pop);
        }
    l->ring = 1;
    l->e_ring = g_new0(float, (gsize)l->ring * B * l->m);
    l->o_ring = g_new0(float, (gsize)l->ring * B * l->m);
    l->l_ring = g_new0(double, (gsize)l->ring * B);
    l->labels = g_new0(guint8, B);
    guint P = net->pops->len;
    l->stage_loss = 2 * P;
    l->stage_step = 3 * P + 2;
    l->loss_handler = oz_engine_add_handler(net->engine, "loss", on_loss, l);
    l->step_handler = oz_engine_add_handler(net->engine, "optimizer-step", on_step, l);
    l->error_handler = g_new0(guint, l->hidden->len);
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        g_autofree char *name = g_strdup_printf("error:%s", h->pop->name);
        l->error_handler[k] = oz_engine_add_handler(net->engine, name, on_error, l);
    }
    return l;
}

void oz_learner_free(OzLearner *l) {
    if (!l)
        return;
    g_ptr_array_free(l->hidden, TRUE);
    oz_optim_free(l->opt);
    g_free(l->e_ring);
    g_free(l->o_ring);
    g_free(l->l_ring);
    g_free(l->labels);
    g_free(l->error_handler);
    g_free(l);
}

static gint by_topo(gconstpointer a, gconstpointer b) {
    const OzHidden *x = *(OzHidden *const *)a, *y = *(OzHidden *const *)b;
    return x->pop->topo - y->pop->topo;
}

void oz_learner_prepare(OzLearner *l) {
    g_return_if_fail(l->net->prepared);
    /* Hidden populations in topological order, so reverse order is BP's order. */
    g_ptr_array_sort(l->hidden, by_topo);
    l->opt = oz_optim_new(&l->p.optim);
    for (guint i = 0; i < l->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(l->net->projs, i);
        oz_optim_add(l->opt, p->name, p->w, p->grad, (gsize)p->n_pre * p->n_post);
    }
    for (guint i = 0; i < l->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(l->net->pops, i);
        if (pop->bias && pop->p.bias) {
            g_autofree char *name = g_strdup_printf("%s.bias", pop->name);
            oz_optim_add(l->opt, name, pop->bias, pop->bias_grad, (gsize)pop->n);
        }
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->path.grad) {
            g_autofree char *name = g_strdup_printf("%s.feedback", h->pop->name);
            oz_optim_add(l->opt, name, h->path.mat, h->path.grad, (gsize)h->path.n * h->path.m);
        }
        if (h->ll_w) {
            g_autofree char *name = g_strdup_printf("%s.ll", h->pop->name);
            oz_optim_add(l->opt, name, h->ll_w, h->ll_grad, (gsize)h->pop->n * l->m);
        }
    }
}

void oz_learner_begin(OzLearner *l, const guint8 *labels, gboolean training) {
    int rows = l->readout->active_samples;
    memcpy(l->labels, labels, (gsize)rows);
    l->training = training;
    l->loss_sum = 0.0;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        h->pop->noise_alpha = l->rule->noise ? l->alpha : 0.0f;
    }
    if (training)
        oz_optim_zero_grad(l->opt);
    oz_engine_schedule(l->net->engine, 0, l->stage_loss, l->loss_handler, 0);
}

/* z for tick t: fresh on even ticks, −z of the previous tick on odd ones (antithetic). */
static void sample_noise(OzPopulation *pop, gint64 tick, gpointer user_data) {
    OzLearner *l = user_data;
    if (!pop->training || pop->noise_alpha == 0.0f)
        return;
    OzFrame *f = oz_population_frame(pop, tick);
    int rows = pop->active_samples;
    gsize sz = (gsize)rows * pop->n;
    if (l->p.antithetic && (tick & 1)) {
        const float *prev = oz_population_frame(pop, tick - 1)->z;
        for (gsize i = 0; i < sz; i++)
            f->z[i] = -prev[i];
    } else {
        oz_noise_sample(l->p.noise, l->rng_noise, f->z, rows, pop->n, l->p.sphere_unit);
    }
}

/* grad (n_pre, n_post) += preᵀ (n_pre, rows) · g (rows, n_post) */
static void accumulate(float *grad, const float *pre, const float *g, int rows, int n_pre,
                       int n_post) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_pre, n_post, rows, 1.0f, pre, n_pre, g,
                n_post, 1.0f, grad, n_post);
}

static void accumulate_bias(float *bias_grad, const float *g, int rows, int n) {
    for (int b = 0; b < rows; b++)
        for (int i = 0; i < n; i++)
            bias_grad[i] += g[(gsize)b * n + i];
}

/* The factor â_pre of a projection for an error emitted at tick t. */
static const float *pre_factor(OzProjection *p, gint64 t) {
    gint64 te = t - p->p.delay_ticks;
    if (te < 0)
        return NULL;
    const OzFrame *f = oz_population_frame(p->pre, te);
    if (f->tick != te || f->kind == OZ_FRAME_EMPTY)
        return NULL;
    return f->trace;
}

static void on_loss(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzLearner *l = user_data;
    gint64 t = ev->tick;
    OzPopulation *ro = l->readout;
    int rows = ro->active_samples, m = l->m;
    gsize slot = (gsize)(t % l->ring);
    float *e = l->e_ring + slot * (gsize)l->net->batch * m;
    float *o = l->o_ring + slot * (gsize)l->net->batch * m;
    double *ls = l->l_ring + slot * (gsize)l->net->batch;
    memcpy(o, ro->o, sizeof(float) * (gsize)rows * m);
    l->loss_sum += oz_loss_instant(ro->o, l->labels, rows, m, l->p.loss_lambda,
                                   (int)l->net->input_ticks, e, ls);
    if (t + 1 < l->net->window_ticks)
        oz_engine_schedule(engine, t + 1, ev->stage, ev->handler, 0);
    if (!l->training)
        return;
    /* Readout: exact local delta rule. */
    for (guint k = 0; k < ro->in->len; k++) {
        OzProjection *p = g_ptr_array_index(ro->in, k);
        const float *pre = pre_factor(p, t);
        if (pre)
            accumulate(p->grad, pre, e, rows, p->n_pre, m);
    }
    if (ro->p.bias)
        accumulate_bias(ro->bias_grad, e, rows, m);
    /* Errors travel to the hidden populations, latest in topological order first. */
    for (guint k = l->hidden->len; k-- > 0;) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        guint32 stage = l->stage_loss + 1 + (guint32)(l->hidden->len - 1 - k);
        oz_engine_schedule(engine, t + h->delay_ticks, stage, l->error_handler[k], t);
    }
    if (l->p.step_every_tick || t + 1 == l->net->window_ticks)
        oz_engine_schedule(engine, t, l->stage_step, l->step_handler, t);
}

static OzHidden *hidden_of(OzLearner *l, OzPopulation *pop) {
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->pop == pop)
            return h;
    }
    return NULL;
}

/* BP: g_s of h = Σ over its outgoing projections of (downstream g_u or e) · Wᵀ. */
static void bp_chain(OzLearner *l, OzHidden *h, const float *e, int rows, float *chain) {
    int n = h->pop->n;
    memset(chain, 0, sizeof(float) * (gsize)rows * n);
    for (guint k = 0; k < h->pop->out->len; k++) {
        OzProjection *p = g_ptr_array_index(h->pop->out, k);
        const float *down = NULL;
        if (p->post == l->readout) {
            down = e;
        } else {
            OzHidden *hp = hidden_of(l, p->post);
            if (!hp)
                continue;
            down = hp->g_u;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, p->n_post, 1.0f, down,
                    p->n_post, p->w, p->n_post, 1.0f, chain, n);
        h->path.macs += (guint64)rows * n * p->n_post;
    }
}

static void on_error(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzLearner *l = user_data;
    (void)engine;
    gint64 te = ev->arg;
    guint k = 0;
    while (k < l->hidden->len && l->error_handler[k] != ev->handler)
        k++;
    g_assert(k < l->hidden->len);
    OzHidden *h = g_ptr_array_index(l->hidden, k);
    OzPopulation *pop = h->pop;
    int rows = pop->active_samples, n = pop->n, m = l->m;
    gsize slot = (gsize)(te % l->ring);
    const OzFrame *f = oz_population_frame(pop, te);
    g_assert(f->tick == te); /* the ring keeps the emission tick's factors */
    OzFeedbackCtx ctx = {
        .rows = rows,
        .n = n,
        .m = m,
        .e = l->e_ring + slot * (gsize)l->net->batch * m,
        .o = l->o_ring + slot * (gsize)l->net->batch * m,
        .z = f->z,
        .sample_loss = l->l_ring + slot * (gsize)l->net->batch,
        .trace = f->trace,
        .chain = h->g_s,
        .alpha = pop->noise_alpha,
    };
    if (h->path.ops == oz_feedback_lookup("transpose"))
        bp_chain(l, h, ctx.e, rows, h->g_s);
    if (h->path.ops->observe)
        h->path.ops->observe(&h->path, &ctx);
    h->path.ops->signal(&h->path, &ctx, h->g_s);
    if (h->ll_w) {
        /* r = ŝ R; e_r = ll_scale · ∂L(r)/∂r; g_s += e_r Rᵀ; ∇R += âᵀ e_r. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, m, n, 1.0f, f->s, n,
                    h->ll_w, m, 0.0f, h->ll_r, m);
        oz_loss_instant(h->ll_r, l->labels, rows, m, l->p.loss_lambda, (int)l->net->input_ticks,
                        h->ll_e, NULL);
        for (gsize i = 0, sz = (gsize)rows * m; i < sz; i++)
            h->ll_e[i] *= (float)l->p.ll_scale;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, m, 1.0f, h->ll_e, m,
                    h->ll_w, m, 1.0f, h->g_s, n);
        accumulate(h->ll_grad, f->trace, h->ll_e, rows, n, m);
    }
    /* Three factors: g_u = g_s ⊙ ψ(u) ⊙ mask. */
    const float vth = pop->p.v_th, a = (float)l->p.surrogate_a;
    for (gsize i = 0, sz = (gsize)rows * n; i < sz; i++)
        h->g_u[i] = h->g_s[i] * oz_surrogate(f->u[i], vth, a) * pop->mask[i];
    for (guint j = 0; j < pop->in->len; j++) {
        OzProjection *p = g_ptr_array_index(pop->in, j);
        const float *pre = pre_factor(p, te);
        if (pre)
            accumulate(p->grad, pre, h->g_u, rows, p->n_pre, n);
    }
    if (pop->p.bias)
        accumulate_bias(pop->bias_grad, h->g_u, rows, n);
}

static void on_step(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzLearner *l = user_data;
    (void)engine;
    if (ev->arg + 1 == l->net->window_ticks)
        for (guint k = 0; k < l->hidden->len; k++)
            oz_pathway_end_window(&((OzHidden *)g_ptr_array_index(l->hidden, k))->path);
    oz_optim_step(l->opt, l->lr);
    if (l->p.step_every_tick) {
        oz_optim_zero_grad(l->opt);
        /* Weights changed inside the window: cached static currents are stale. */
        for (guint i = 0; i < l->net->projs->len; i++)
            oz_projection_reset(g_ptr_array_index(l->net->projs, i));
    }
}

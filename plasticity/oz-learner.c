/* oz-learner.c — see oz-learner.h.  Every batched product is one sgemm; no allocation
 * happens per tick. */
#include "oz-learner.h"

#include "neurons/oz-hardware.h"
#include "plasticity/oz-loss.h"

#include "engine/oz-dist.h"
#include "engine/oz-par.h"
#include "engine/oz-vec.h"
#include <math.h>
#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as minus
 * signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-learner-error-quark, oz_learner_error)
// clang-format on

static void on_loss(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void on_error(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void on_step(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void sample_noise(OzPopulation *pop, gint64 tick, gpointer user_data);
static OzHidden *hidden_of(OzLearner *l, OzPopulation *pop);

static void hidden_free(OzHidden *h) {
    oz_pathway_clear(&h->path);
    g_free(h->gs_ring);
    g_free(h->arrived);
    g_free(h->g_u);
    g_free(h->bp_chain);
    g_free(h->bp_gu);
    g_free(h->ll_w);
    g_free(h->ll_grad);
    g_free(h->ll_r);
    g_free(h->ll_e);
    g_free(h->ll_s);
    g_free(h->ll_a);
    g_free(h->ll_g);
    g_free(h->igl_w);
    g_free(h->igl_grad);
    g_free(h->igl_o_ring);
    g_free(h->igl_e_ring);
    g_free(h->igl_l_ring);
    g_free(h);
}

/* Whether [hardware] noise_is_probe makes the chip's own noise the probe of pop. */
static gboolean chip_noise_probes(const OzLearner *l, const OzPopulation *pop) {
    return l->net->hw && l->net->hw->p.noise_is_probe && pop->chip && pop->chip->sigma > 0;
}

/* The probe's α: the chip's noise σ where it is the probe, else the run's schedule. */
static float probe_alpha(const OzLearner *l, const OzHidden *h) {
    return chip_noise_probes(l, h->pop) ? h->pop->chip->sigma : l->alpha;
}

/* The learning state of hidden population pop: its feedback pathway (a direct rule's,
 * drawn from rng_init; fb is NULL for a chain), its g_u buffer, the LL readout (drawn
 * next), and the noise hook when the rule probes it. */
static OzHidden *hidden_new(OzLearner *l, OzPopulation *pop, const OzFeedbackOps *fb,
                            OzRng *rng_init) {
    const OzLearnParams *params = &l->p;
    const int B = l->net->batch;
    OzHidden *h = g_new0(OzHidden, 1);
    h->pop = pop;
    oz_pathway_init(&h->path, fb, pop->n, l->m, rng_init, params->dfa_fan_n,
                    params->dkp_init_random);
    h->path.momentum = params->momentum;
    h->path.inverse_alpha = params->inverse_alpha;
    h->path.batch_sum = params->m_batch_sum;
    h->path.per_window = params->m_per_window;
    pop->trace_noisy = params->trace_noisy;
    pop->noise_unmasked = params->noise_unmasked;
    h->g_u = g_new0(float, (gsize)B * pop->n);
    if (params->local_learning) {
        /* The readout reads the layer's pooled output where a pool follows it: the view
         * of the first outgoing projection that has one smaller than the layer. */
        h->ll_n = pop->n;
        for (guint k = 0; k < pop->out->len && !h->ll_view; k++) {
            const OzProjection *p = g_ptr_array_index(pop->out, k);
            if (p->kind->view_size && p->kind->view_size(p) < pop->n) {
                h->ll_view = p;
                h->ll_n = p->kind->view_size(p);
                h->ll_s = g_new0(float, (gsize)B * h->ll_n);
                h->ll_a = g_new0(float, (gsize)B * h->ll_n);
                h->ll_g = g_new0(float, (gsize)B * h->ll_n);
            }
        }
        gsize sz = (gsize)h->ll_n * l->m;
        h->ll_w = g_new0(float, sz);
        h->ll_grad = g_new0(float, sz);
        h->ll_r = g_new0(float, (gsize)B * l->m);
        h->ll_e = g_new0(float, (gsize)B * l->m);
        double bound = 1.0 / sqrt((double)h->ll_n);
        for (gsize i = 0; i < sz; i++)
            h->ll_w[i] = (float)((2.0 * oz_rng_uniform(rng_init) - 1.0) * bound);
    }
    OzNoiseMode where = OZ_NOISE_AFTER;
    if (l->rule->probe && l->rule->probe(l->rule_state, l, pop, &where)) {
        h->probed = TRUE;
        pop->noise_mode = where;
        pop->pre_step = sample_noise;
        pop->pre_step_data = l;
        if (chip_noise_probes(l, pop)) {
            /* The chip's noise is the probe: before the neuron, at α = σ (probe_alpha). */
            pop->noise_mode = OZ_NOISE_BEFORE;
            pop->chip->noise_is_probe = TRUE;
            pop->chip->probe_ticks = l->net->input_ticks;
        }
    }
    /* ψ around the nominal threshold for a rule whose model of the chip is the nominal one;
     * around each neuron's own for the others (oz-rule.h chip_model). */
    if (pop->chip)
        pop->chip->psi_nominal =
            l->rule->chip_model && l->rule->chip_model(l->rule_state, l) == OZ_CHIP_NOMINAL;
    return h;
}

/* The loss and step handlers and one error handler per hidden population.  Stages: the
 * loss, then one error stage per population (at most P), then the step. */
static void add_handlers(OzLearner *l) {
    OzNetwork *net = l->net;
    l->stage_loss = oz_network_first_free_stage(net);
    l->stage_step = l->stage_loss + net->pops->len + 2;
    l->loss_handler = oz_engine_add_handler(net->engine, "loss", on_loss, l);
    l->step_handler = oz_engine_add_handler(net->engine, "optimizer-step", on_step, l);
    l->error_handler = g_new0(guint, l->hidden->len);
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        g_autofree char *name = g_strdup_printf("error:%s", h->pop->name);
        l->error_handler[k] = oz_engine_add_handler(net->engine, name, on_error, l);
    }
}

/* The last population whose model has the capability. */
static OzPopulation *find_model(OzNetwork *net, OzNeuronCaps cap) {
    OzPopulation *found = NULL;
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        if (oz_neuron_has(pop, cap))
            found = pop;
    }
    return found;
}

OzLearner *oz_learner_new(OzNetwork *net, const OzLearnParams *params, OzRng *rng_init,
                          OzRng *rng_noise, GError **error) {
    const OzRuleOps *rule = oz_rule_lookup(params->rule);
    if (!rule) {
        g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_UNKNOWN_RULE,
                    "unknown learning rule '%s' (rules: %s)", params->rule, oz_rule_names(", "));
        return NULL;
    }
    g_return_val_if_fail(!net->prepared, NULL);
    OzPopulation *readout = find_model(net, OZ_NEURON_READOUT);
    if (!readout) {
        g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_NO_READOUT,
                    "learning needs a readout population");
        return NULL;
    }
    OzLearner *l = g_new0(OzLearner, 1);
    l->net = net;
    l->rule = rule;
    l->rule_state = rule->state_size ? g_malloc0(rule->state_size) : NULL;
    l->p = *params;
    if (net->hw && net->hw->p.noise_is_probe && net->hw->p.neuron_noise > 0 && rule->probe) {
        /* The chip's noise is Gaussian and fresh on every tick: no antithetic pairs. */
        l->p.noise = OZ_NOISE_GAUSSIAN;
        l->p.antithetic = FALSE;
    }
    l->rng_noise = rng_noise;
    l->readout = readout;
    l->m = readout->n;
    l->hidden = g_ptr_array_new_with_free_func((GDestroyNotify)hidden_free);
    const OzFeedbackOps *fb = rule->pathway ? oz_feedback_lookup(rule->pathway) : NULL;
    g_assert(fb || oz_rule_chains(rule)); /* oz_rule_table_check */
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        /* Every population of a learnable model (one with a surrogate ψ) gets a signal. */
        if (oz_neuron_learnable(pop) && pop != readout)
            g_ptr_array_add(l->hidden, hidden_new(l, pop, fb, rng_init));
    }
    if (params->input_trace)
        for (guint i = 0; i < net->pops->len; i++) {
            OzPopulation *pop = g_ptr_array_index(net->pops, i);
            if (oz_neuron_has(pop, OZ_NEURON_SOURCE))
                oz_population_enable_input_trace(pop);
        }
    l->labels = g_new0(guint8, net->batch);
    add_handlers(l);
    return l;
}

void oz_learner_free(OzLearner *l) {
    if (!l)
        return;
    g_free(l->dist_buf);
    if (l->stats) {
        for (guint i = 0; i < l->stats->len; i++) {
            OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
            g_free(st->bp_grad);
            g_free(st->mean);
            g_free(st->m2);
        }
        g_array_free(l->stats, TRUE);
    }
    for (guint i = 0; l->static_gu && i < l->net->projs->len; i++)
        g_free(l->static_gu[i]);
    for (guint i = 0; l->stage && i < l->net->projs->len; i++) {
        GradStage *g = &l->stage[i];
        g_free(g->pre);
        g_free(g->gu);
        g_free(g->didx);
        g_free(g->dval);
        g_free(g->dcount);
        g_free(g->o_prev);
        g_free(g->o_cur);
        g_free(g->carry);
        g_free(g->te);
        g_free(g->h);
        g_free(g->g0);
        g_free(g->tstart);
        g_free(g->tpos);
        g_free(g->trow);
        g_free(g->tval);
    }
    g_free(l->stage);
    g_free(l->static_gu);
    g_free(l->static_dirty);
    g_ptr_array_free(l->hidden, TRUE);
    oz_optim_free(l->opt);
    g_free(l->e_ring);
    g_free(l->o_ring);
    g_free(l->l_ring);
    g_free(l->labels);
    g_free(l->noise_keys);
    g_free(l->error_handler);
    if (l->rule->clear && l->rule_state)
        l->rule->clear(l->rule_state);
    g_free(l->rule_state);
    g_free(l);
}

static gint by_topo(gconstpointer a, gconstpointer b) {
    const OzHidden *x = *(OzHidden *const *)a, *y = *(OzHidden *const *)b;
    return x->pop->topo - y->pop->topo;
}

gboolean oz_learner_set_feedback(OzLearner *l, const char *name, int delay, int jitter,
                                 OzEligibility eligibility) {
    g_return_val_if_fail(delay >= 0 && jitter >= 0, FALSE);
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (g_strcmp0(h->pop->name, name) == 0) {
            h->delay_ticks = delay;
            h->jitter_ticks = jitter;
            h->eligibility = eligibility;
            return TRUE;
        }
    }
    return FALSE;
}

gboolean oz_learner_set_igl(OzLearner *l, const char *name, GError **error) {
    g_return_val_if_fail(l->e_ring == NULL, FALSE); /* before oz_learner_finalize */
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (g_strcmp0(h->pop->name, name) != 0)
            continue;
        if (oz_rule_chains(l->rule)) {
            g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_FAILED,
                        "population %s: igl needs a rule with a feedback pathway (dfa, dkp, zo, "
                        "opzo); %s forms its signal layer by layer",
                        name, l->rule->name);
            return FALSE;
        }
        h->igl = TRUE;
        return TRUE;
    }
    g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_FAILED,
                "igl: '%s' is not a hidden population", name);
    return FALSE;
}

/* IGL's wiring, once the delays are known: each hidden population's target is the nearest
 * igl population it reaches (one that no other reached igl population precedes), and
 * its lag becomes its path delay to that population plus the target's own lag, so its
 * factors pair with the activity the intermediate readout saw.  R_igl is drawn from its
 * own stream (seed, "igl:POP"), so the other draws of a run do not move. */
static void igl_setup(OzLearner *l, guint64 seed) {
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        OzHidden *best = NULL;
        for (guint j = 0; j < l->hidden->len; j++) {
            OzHidden *g = g_ptr_array_index(l->hidden, j);
            if (g == h || !g->igl || oz_network_delay_between(l->net, h->pop, g->pop) < 0)
                continue;
            if (!best || oz_network_delay_between(l->net, g->pop, best->pop) >= 0)
                best = g;
        }
        h->target = best;
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->target)
            h->lag = h->target->lag + oz_network_delay_between(l->net, h->pop, h->target->pop);
        if (!h->igl)
            continue;
        const gsize sz = (gsize)h->pop->n * l->m;
        h->igl_w = g_new(float, sz);
        h->igl_grad = g_new0(float, sz);
        g_autofree char *purpose = g_strdup_printf("igl:%s", h->pop->name);
        OzRng rng;
        oz_rng_init(&rng, seed, purpose);
        const double bound = 1.0 / sqrt((double)h->pop->n);
        for (gsize i = 0; i < sz; i++)
            h->igl_w[i] = (float)((2.0 * oz_rng_uniform(&rng) - 1.0) * bound);
    }
}

gboolean oz_learner_check_uniform_feedback(const OzLearner *l, GError **error) {
    for (guint k = 0; k < l->hidden->len; k++) {
        const OzHidden *h = g_ptr_array_index(l->hidden, k);
        const OzHidden *h0 = g_ptr_array_index(l->hidden, 0);
        if (h->jitter_ticks > 0 || h->delay_ticks != h0->delay_ticks) {
            g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_DELAY,
                        "feedback into %s: %s forms its signal layer by layer, so every hidden "
                        "population needs the same delay and no jitter",
                        h->pop->name, l->rule->name);
            return FALSE;
        }
    }
    return TRUE;
}

gint64 oz_learner_finalize(OzLearner *l, guint64 seed, GError **error) {
    gint64 max_lat = 0;
    if (l->rule->check_feedback && !l->rule->check_feedback(l->rule_state, l, error))
        return -1;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        h->lag = MAX(0, oz_network_delay_between(l->net, h->pop, l->readout));
    }
    igl_setup(l, seed);
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        gint64 lat = h->delay_ticks + h->jitter_ticks;
        if (lat > 0 && l->p.step_every_tick) {
            g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_DELAY,
                        "feedback into %s has a delay, but the optimizer steps every tick; "
                        "use [rule] step = batch with delayed errors",
                        h->pop->name);
            return -1;
        }
        max_lat = MAX(max_lat, lat);
        /* Stored factors of tick te are read up to lat ticks later (and a projection's
         * presynaptic factor d ticks before that). */
        h->pop->min_depth = MAX(h->pop->min_depth, (int)(h->lag + lat) + 1);
        for (guint j = 0; j < h->pop->in->len; j++) {
            OzProjection *p = g_ptr_array_index(h->pop->in, j);
            p->pre->min_depth = MAX(p->pre->min_depth, (int)(h->lag + lat) + p->p.delay_ticks + 1);
        }
    }
    l->ring = (int)max_lat + 1;
    l->noise_keys = g_new0(guint64, (gsize)l->net->input_ticks * l->hidden->len);
    const gsize slots = (gsize)l->ring * (gsize)l->net->batch; /* ring slots × samples */
    l->e_ring = g_new0(float, slots * l->m);
    l->o_ring = g_new0(float, slots * l->m);
    l->l_ring = g_new0(double, slots);
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        h->gs_ring = g_new0(float, slots * h->pop->n);
        h->arrived = g_new(gint64, l->ring);
        if (h->igl) {
            h->igl_o_ring = g_new0(float, slots * l->m);
            h->igl_e_ring = g_new0(float, slots * l->m);
            h->igl_l_ring = g_new0(double, slots);
        }
    }
    oz_rng_init(&l->rng_jitter, seed, "jitter");
    if (l->rule->setup && !l->rule->setup(l->rule_state, l, seed, error))
        return -1;
    return max_lat;
}

void oz_learner_prepare(OzLearner *l) {
    g_return_if_fail(l->net->prepared);
    g_return_if_fail(l->e_ring != NULL); /* oz_learner_finalize first */
    guint np = l->net->projs->len;
    l->static_gu = g_new0(float *, np);
    l->static_dirty = g_new0(gboolean, np);
    for (guint i = 0; i < np; i++) {
        OzProjection *p = g_ptr_array_index(l->net->projs, i);
        if (p->pre->x && p->pre->p.encoding == OZ_ENCODING_CURRENT && !p->pre->input_trace &&
            p->post != l->readout)
            l->static_gu[i] = g_new0(float, (gsize)l->net->batch * p->n_post);
    }
    l->stage = g_new0(GradStage, np);
    if (l->p.grad_chunk_ticks > 1) {
        for (guint i = 0; i < np; i++) {
            OzProjection *p = g_ptr_array_index(l->net->projs, i);
            /* Staging and chunks work on W (n_pre, n_post); another kind accumulates
             * once per tick through its own slot. */
            if (l->static_gu[i] || p->post == l->readout || !hidden_of(l, p->post) ||
                !(p->kind->caps & OZ_KIND_DENSE_LAYOUT))
                continue;
            GradStage *g = &l->stage[i];
            g->cap = l->p.grad_chunk_ticks * l->net->batch;
            g->pre = g_new(float, (gsize)g->cap * p->n_pre);
            g->gu = g_new(float, (gsize)g->cap * p->n_post);
            /* The sparse path needs â(t) = λâ(t−1) + o(t) with o the clean, masked
             * spikes: a LIF source whose trace does not follow the probe. */
            g->sparse_ok = l->p.sparse_grad &&
                           oz_neuron_has(p->pre, OZ_NEURON_TRACE_OF_SPIKES) &&
                           !p->pre->trace_noisy;
            if (g->sparse_ok) {
                gsize cells = (gsize)g->cap * p->n_pre, bn = (gsize)l->net->batch * p->n_pre;
                g->didx = g_new(int, cells);
                g->dval = g_new(float, cells);
                g->dcount = g_new(int, g->cap);
                g->o_prev = g_new(float, bn);
                g->o_cur = g_new(float, bn);
                g->carry = g_new(float, bn);
                /* A short last batch fits more entries (ticks) into the same rows. */
                g->te = g_new(gint64, g->cap);
                g->h = g_new(float, (gsize)g->cap * p->n_post);
                g->g0 = g_new(float, (gsize)l->net->batch * p->n_post);
                g->tstart = g_new(int, p->n_pre + 1);
                g->tpos = g_new(int, p->n_pre);
                g->trow = g_new(int, cells);
                g->tval = g_new(float, cells);
            }
        }
    }
    l->loss_from = l->readout->sum_from;
    l->loss_to = l->loss_from + l->net->input_ticks;
    /* Hidden populations in topological order, so reverse order is a chain's order. */
    g_ptr_array_sort(l->hidden, by_topo);
    l->opt = oz_optim_new(&l->p.optim);
    for (guint i = 0; i < l->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(l->net->projs, i);
        oz_projection_grad(p); /* the kind accumulates into it (∂L/∂Ŵ under sWS) */
        oz_optim_add(l->opt, p->name, oz_projection_param(p), oz_projection_param_grad(p),
                     p->nw);
        if (p->ws) {
            /* γ is a parameter like any other: the reference's optimizer decays every
             * parameter (docs/ALGORITHM.md §3.6). */
            g_autofree char *name = g_strdup_printf("%s.gamma", p->name);
            oz_optim_add(l->opt, name, p->ws->gamma, p->ws->gamma_grad, p->ws->lay.units);
        }
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
            oz_optim_add(l->opt, name, h->ll_w, h->ll_grad, (gsize)h->ll_n * l->m);
        }
        if (h->igl_w) {
            g_autofree char *name = g_strdup_printf("%s.igl", h->pop->name);
            oz_optim_add(l->opt, name, h->igl_w, h->igl_grad, (gsize)h->pop->n * l->m);
        }
    }
}

/* The optimizer's gradients, and under sWS the ∂L/∂Ŵ the kinds accumulate (which the
 * optimizer does not hold). */
static void zero_grads(OzLearner *l) {
    oz_optim_zero_grad(l->opt);
    for (guint i = 0; i < l->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(l->net->projs, i);
        if (p->ws)
            memset(p->grad, 0, sizeof(float) * p->nw);
    }
}

void oz_learner_begin(OzLearner *l, const guint8 *labels, gboolean training) {
    int rows = l->readout->active_samples;
    memcpy(l->labels, labels, (gsize)rows);
    l->training = training;
    l->loss_sum = 0.0;
    l->noise_keys_drawn = FALSE;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        h->pop->noise_alpha = h->probed ? probe_alpha(l, h) : 0.0f;
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        h->next_te = l->loss_from;
        h->applied = 0;
        for (int i = 0; i < l->ring; i++)
            h->arrived[i] = -1;
    }
    if (training)
        zero_grads(l);
    if (l->rule->window_begin)
        l->rule->window_begin(l->rule_state, l);
    oz_engine_schedule(l->net->engine, l->loss_from, l->stage_loss, l->loss_handler, 0);
}

/* The batch mean's divisor: the whole mini-batch's rows (l->batch_rows) when this process
 * steps a share of it, else the rows stepped here. */
static int batch_rows(const OzLearner *l, int rows) {
    return l->batch_rows > 0 ? l->batch_rows : rows;
}

/* A fresh probe at input tick k: on every tick, or on even ones with antithetic pairs. */
static gboolean fresh_probe(const OzLearner *l, gint64 k) {
    return !l->p.antithetic || (k & 1) == 0;
}

/* Draws the window's probe keys in the order a network without axonal delays draws them
 * tick by tick — input tick k, then each hidden population in topological order — so the
 * stream advances by the same draws whatever the delays. */
static void draw_noise_keys(OzLearner *l) {
    const gsize nh = l->hidden->len;
    for (int k = 0; k < l->net->input_ticks; k++)
        if (fresh_probe(l, k))
            for (gsize h = 0; h < nh; h++)
                l->noise_keys[(gsize)k * nh + h] = oz_rng_next(l->rng_noise);
    l->noise_keys_drawn = TRUE;
}

/* z for the population's k-th input tick (k = tick − start_tick): fresh on even k, −z of
 * the previous tick on odd ones (antithetic).  The probe follows the input tick, not the
 * engine's tick, so a chain with axonal delays is probed as the undelayed chain is. */
static void sample_noise(OzPopulation *pop, gint64 tick, gpointer user_data) {
    OzLearner *l = user_data;
    if (!pop->training || pop->noise_alpha == 0.0f)
        return;
    OzFrame *f = oz_population_frame(pop, tick);
    int rows = pop->active_samples;
    gsize sz = (gsize)rows * pop->n;
    const gint64 k = tick - pop->start_tick;
    if (k >= l->net->input_ticks) {
        /* After its T input ticks a population only carries late activity and delivers
         * late errors: no probe, and no draw. */
        memset(f->z, 0, sz * sizeof(float));
        return;
    }
    if (!fresh_probe(l, k)) {
        const float *prev = oz_population_frame(pop, tick - 1)->z;
        for (gsize i = 0; i < sz; i++)
            f->z[i] = -prev[i];
        return;
    }
    if (!l->noise_keys_drawn)
        draw_noise_keys(l);
    guint h = 0;
    while (h < l->hidden->len && ((OzHidden *)g_ptr_array_index(l->hidden, h))->pop != pop)
        h++;
    g_assert(h < l->hidden->len);
    oz_noise_sample_key_at(l->p.noise, l->noise_keys[(gsize)k * l->hidden->len + h],
                           pop->row_offset, f->z, rows, pop->n, l->p.sphere_unit);
}

/* grad (n_pre, n_post) += preᵀ (n_pre, rows) · g (rows, n_post) */
static void accumulate(float *grad, const float *pre, const float *g, int rows, int n_pre,
                       int n_post) {
    oz_sgemm(CblasTrans, CblasNoTrans, n_pre, n_post, rows, 1.0f, pre, n_pre, g, n_post, 1.0f, grad,
             n_post);
}

typedef struct {
    float *bias_grad;
    const float *g;
    int rows, n;
} BiasJob;

static void bias_cols(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const BiasJob *j = ctx;
    for (int b = 0; b < j->rows; b++)
        for (gsize i = begin; i < end; i++)
            j->bias_grad[i] += j->g[(gsize)b * j->n + i];
}

/* bias_grad (n) += Σ_b g (rows, n), split by columns; each column sums in row order. */
static void accumulate_bias(float *bias_grad, const float *g, int rows, int n) {
    BiasJob j = {bias_grad, g, rows, n};
    oz_par_for((gsize)n, 16, bias_cols, &j);
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

static OzHidden *hidden_of(OzLearner *l, OzPopulation *pop) {
    return oz_learner_hidden(l, pop);
}

OzHidden *oz_learner_hidden(const OzLearner *l, const OzPopulation *pop) {
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->pop == pop)
            return h;
    }
    return NULL;
}

/* A chain rule's g_s of h = Σ over its outgoing projections p of (downstream g_u or e) ·
 * C(p)ᵀ, with C(p) the rule's chain_matrix (bp: W). */
static void chain_signal(OzLearner *l, OzHidden *h, const float *e, int rows, float *chain) {
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
            down = hp->g_u_last ? hp->g_u_last : hp->g_u;
        }
        const float *c = l->rule->chain_matrix(l->rule_state, l, p);
        h->path.macs += p->kind->chain_apply(p, c, down, rows, chain);
    }
}

static gsize slot_of(const OzLearner *l, gint64 te) {
    return (gsize)(te % l->ring);
}

/* The top-down signal g_s of h for the error emitted at te, written into its ring slot:
 * a chain rule's chain, or a direct rule's pathway observe and signal (with the probe,
 * trace and output of tick te); plus the local-learning term. */
static void make_signal(OzLearner *l, OzHidden *h, gint64 te) {
    OzPopulation *pop = h->pop;
    int rows = pop->active_samples, n = pop->n, m = l->m;
    gsize slot = slot_of(l, te);
    /* The activity behind the error of te happened lag ticks earlier. */
    const OzFrame *f = oz_population_frame(pop, te - h->lag);
    g_assert(f->tick == te - h->lag);
    float *g_s = h->gs_ring + slot * (gsize)l->net->batch * n;
    /* Below an igl population, its readout is the output this population learns from. */
    const OzHidden *t = h->target;
    const gsize at = slot * (gsize)l->net->batch;
    OzFeedbackCtx ctx = {
        .rows = rows,
        .n = n,
        .m = m,
        .e = (t ? t->igl_e_ring : l->e_ring) + at * m,
        .o = (t ? t->igl_o_ring : l->o_ring) + at * m,
        .z = f->z,
        .sample_loss = (t ? t->igl_l_ring : l->l_ring) + at,
        .trace = f->trace,
        .alpha = pop->noise_alpha,
        .batch_rows = batch_rows(l, rows),
    };
    if (oz_rule_chains(l->rule)) {
        chain_signal(l, h, ctx.e, rows, g_s);
    } else {
        if (h->path.ops->observe && !(l->frozen && !h->path.ops->trained))
            h->path.ops->observe(&h->path, &ctx);
        h->path.ops->signal(&h->path, &ctx, g_s);
    }
    if (h->ll_w) {
        /* r = ŝ R; e_r = ll_scale · ∂L(r)/∂r; g_s += e_r Rᵀ; ∇R += âᵀ e_r — with ŝ, â the
         * pooled P(ŝ), P(â) and e_r Rᵀ spread back by Pᵀ where a pool follows the layer. */
        const OzProjection *v = h->ll_view;
        const int nr = h->ll_n;
        const float *s = f->s, *a = f->trace;
        if (v) {
            v->kind->view(v, f->s, rows, h->ll_s);
            v->kind->view(v, f->trace, rows, h->ll_a);
            s = h->ll_s;
            a = h->ll_a;
        }
        oz_sgemm(CblasNoTrans, CblasNoTrans, rows, m, nr, 1.0f, s, nr, h->ll_w, m, 0.0f, h->ll_r,
                 m);
        oz_loss_instant_share(h->ll_r, l->labels, rows, batch_rows(l, rows), m, l->p.loss_lambda,
                              (int)l->net->input_ticks, h->ll_e, NULL);
        for (gsize i = 0, sz = (gsize)rows * m; i < sz; i++)
            h->ll_e[i] *= (float)l->p.ll_scale;
        if (v) {
            oz_sgemm(CblasNoTrans, CblasTrans, rows, nr, m, 1.0f, h->ll_e, m, h->ll_w, m, 0.0f,
                     h->ll_g, nr);
            v->kind->view_transpose(v, h->ll_g, rows, g_s);
        } else {
            oz_sgemm(CblasNoTrans, CblasTrans, rows, n, m, 1.0f, h->ll_e, m, h->ll_w, m, 1.0f, g_s,
                     n);
        }
        accumulate(h->ll_grad, a, h->ll_e, rows, nr, m);
        h->path.macs += 3 * (guint64)rows * nr * m; /* r, e_r Rᵀ, ∇R */
    }
}

/* H and G̃(t₀) of a chunk, per (sample, column): backwards over the entries,
 * G̃(k) = g(k) + λ·G̃(k+1) and H(k) = G̃(k) + H(k+1).  H is stored by panels of
 * SPARSE_PANEL columns, each (K rows × its width) contiguous, so that the rows one
 * neuron's changes read are a forward sweep through one compact block. */
#define SPARSE_PANEL 128

typedef struct {
    const GradStage *g;
    int rows, n, panels;
    float lam;
} HJob;

static void h_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const HJob *j = ctx;
    const GradStage *g = j->g;
    const gsize K = (gsize)g->rows;
    float gt[SPARSE_PANEL], hs[SPARSE_PANEL];
    /* Units: (sample b, panel q). */
    for (gsize unit = begin; unit < end; unit++) {
        const int b = (int)(unit / (gsize)j->panels), q = (int)(unit % (gsize)j->panels);
        const int c0 = q * SPARSE_PANEL, w = MIN(SPARSE_PANEL, j->n - c0);
        float *panel = g->h + K * (gsize)c0; /* panels before q hold K × 128 each */
        for (int x = 0; x < w; x++)
            gt[x] = hs[x] = 0.0f;
        for (int k = g->entries - 1; k >= 0; k--) {
            const gsize r = (gsize)k * (gsize)j->rows + (gsize)b;
            const float *gu = g->gu + r * (gsize)j->n + c0;
            float *h = panel + r * (gsize)w;
            for (int x = 0; x < w; x++) {
                gt[x] = gu[x] + j->lam * gt[x];
                hs[x] += gt[x];
                h[x] = hs[x];
            }
        }
        memcpy(g->g0 + (gsize)b * j->n + c0, gt, sizeof(float) * (gsize)w);
    }
}

/* First entry of row r's change list that is ≥ i (the lists ascend). */
static int lower_bound(const int *a, int n, int i) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (a[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct {
    OzProjection *p;
    GradStage *g;
    gboolean fill; /* pass 1 counts each neuron's changes; pass 2 lists them and adds */
} SparseJob;

#define SPARSE_VECS 8 /* 128 columns a block, accumulators in registers */

/* Presynaptic neurons [begin, end): ∇W[i] += Σ over i's changes (row r, value d) of
 * d·H[r].  Each neuron's changes are taken in row order, so the sum is the same at any
 * thread count; a block of H (K × 128 floats) stays in L2 across the part's neurons. */
static void sparse_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const SparseJob *j = ctx;
    const GradStage *g = j->g;
    const int n_pre = j->p->n_pre, n = j->p->n_post, K = g->rows;
    const int i0 = (int)begin, i1 = (int)end;
    if (!j->fill) {
        for (int i = i0; i < i1; i++)
            g->tstart[i + 1] = 0;
        for (int r = 0; r < K; r++) {
            const int *di = g->didx + (gsize)r * n_pre;
            for (int k = lower_bound(di, g->dcount[r], i0); k < g->dcount[r] && di[k] < i1; k++)
                g->tstart[di[k] + 1]++;
        }
        return;
    }
    /* tstart holds each neuron's start; fill through a cursor per neuron. */
    int *cursor = g->tpos;
    for (int i = i0; i < i1; i++)
        cursor[i] = g->tstart[i];
    for (int r = 0; r < K; r++) {
        const int *di = g->didx + (gsize)r * n_pre;
        const float *dv = g->dval + (gsize)r * n_pre;
        for (int k = lower_bound(di, g->dcount[r], i0); k < g->dcount[r] && di[k] < i1; k++) {
            int pos = cursor[di[k]]++;
            g->trow[pos] = r;
            g->tval[pos] = dv[k];
        }
    }
    float *grad = j->p->grad;
    const gsize Kz = (gsize)K;
    for (int c0 = 0; c0 < n; c0 += SPARSE_PANEL) {
        const int w = MIN(SPARSE_PANEL, n - c0);
        const float *panel = g->h + Kz * (gsize)c0;
        if (w == 16 * SPARSE_VECS) {
            int i = i0;
            /* Two neurons at a time: two independent streams of row loads in flight (the
             * loop waits on L2, not on arithmetic); each neuron's sum keeps its order. */
            for (; i + 1 < i1; i += 2) {
                float *gw0 = grad + (gsize)i * n + c0, *gw1 = gw0 + n;
                OzVec16 a0[SPARSE_VECS], a1[SPARSE_VECS];
                for (int v = 0; v < SPARSE_VECS; v++) {
                    a0[v] = oz_vload16(gw0 + 16 * v);
                    a1[v] = oz_vload16(gw1 + 16 * v);
                }
                const int s0 = g->tstart[i], s1 = g->tstart[i + 1], s2 = g->tstart[i + 2];
                const int both = MIN(s1 - s0, s2 - s1);
                for (int k = 0; k < both; k++) {
                    const float d0 = g->tval[s0 + k], d1 = g->tval[s1 + k];
                    const float *r0 = panel + (gsize)g->trow[s0 + k] * (16 * SPARSE_VECS);
                    const float *r1 = panel + (gsize)g->trow[s1 + k] * (16 * SPARSE_VECS);
                    for (int v = 0; v < SPARSE_VECS; v++) {
                        a0[v] = a0[v] + d0 * oz_vload16(r0 + 16 * v);
                        a1[v] = a1[v] + d1 * oz_vload16(r1 + 16 * v);
                    }
                }
                for (int e = s0 + both; e < s1; e++) {
                    const float *r0 = panel + (gsize)g->trow[e] * (16 * SPARSE_VECS);
                    for (int v = 0; v < SPARSE_VECS; v++)
                        a0[v] = a0[v] + g->tval[e] * oz_vload16(r0 + 16 * v);
                }
                for (int e = s1 + both; e < s2; e++) {
                    const float *r1 = panel + (gsize)g->trow[e] * (16 * SPARSE_VECS);
                    for (int v = 0; v < SPARSE_VECS; v++)
                        a1[v] = a1[v] + g->tval[e] * oz_vload16(r1 + 16 * v);
                }
                for (int v = 0; v < SPARSE_VECS; v++) {
                    oz_vstore16(gw0 + 16 * v, a0[v]);
                    oz_vstore16(gw1 + 16 * v, a1[v]);
                }
            }
            for (; i < i1; i++) {
                float *gw = grad + (gsize)i * n + c0;
                OzVec16 acc[SPARSE_VECS];
                for (int v = 0; v < SPARSE_VECS; v++)
                    acc[v] = oz_vload16(gw + 16 * v);
                for (int e = g->tstart[i]; e < g->tstart[i + 1]; e++) {
                    const float d = g->tval[e];
                    const float *row = panel + (gsize)g->trow[e] * (16 * SPARSE_VECS);
                    for (int v = 0; v < SPARSE_VECS; v++)
                        acc[v] = acc[v] + d * oz_vload16(row + 16 * v);
                }
                for (int v = 0; v < SPARSE_VECS; v++)
                    oz_vstore16(gw + 16 * v, acc[v]);
            }
            continue;
        }
        /* The last, narrower panel: 16 columns at a time, then one by one. */
        int x0 = 0;
        for (; x0 + 16 <= w; x0 += 16) {
            for (int i = i0; i < i1; i++) {
                float *gw = grad + (gsize)i * n + c0 + x0;
                OzVec16 acc = oz_vload16(gw);
                for (int e = g->tstart[i]; e < g->tstart[i + 1]; e++)
                    acc = acc + g->tval[e] * oz_vload16(panel + (gsize)g->trow[e] * w + x0);
                oz_vstore16(gw, acc);
            }
        }
        for (int i = i0; i < i1 && x0 < w; i++) {
            float *gw = grad + (gsize)i * n + c0;
            for (int e = g->tstart[i]; e < g->tstart[i + 1]; e++) {
                const float d = g->tval[e];
                const float *row = panel + (gsize)g->trow[e] * w;
                for (int x = x0; x < w; x++)
                    gw[x] += d * row[x];
            }
        }
    }
}

/* The sparse path of a flush, when it applies and is the cheaper one (see GradStage).
 * Returns FALSE to leave the chunk to the sgemm. */
static gboolean flush_sparse(const OzLearner *l, OzProjection *p, GradStage *g) {
    if (!g->sparse_ok || !g->consecutive || g->entries == 0)
        return FALSE;
    const int rows = g->entry_rows;
    const double density = (double)g->nnz / ((double)g->rows * (double)p->n_pre);
    /* Before the chunk the trace was not zero: a carry-in product with K = rows. */
    const gboolean carry = g->te[0] > p->pre->start_tick;
    /* Cost against the chunk's sgemm (1): the changes cost density / threshold (the
     * threshold is the density at which the two are even), the carry-in 1/entries. */
    const double cost = density / fmax(l->p.sparse_grad_threshold, 1e-9) +
                        (carry ? 1.0 / (double)g->entries : 0.0);
    if (cost >= 1.0)
        return FALSE;
    const int panels = (p->n_post + SPARSE_PANEL - 1) / SPARSE_PANEL;
    HJob hj = {g, rows, p->n_post, panels, p->pre->ops->trace_decay(p->pre)};
    oz_par_for((gsize)rows * (gsize)panels, 1, h_part, &hj);
    if (carry)
        accumulate(p->grad, g->carry, g->g0, rows, p->n_pre, p->n_post);
    SparseJob sj = {p, g, FALSE};
    oz_par_for((gsize)p->n_pre, 1, sparse_part, &sj);
    g->tstart[0] = 0;
    for (int i = 0; i < p->n_pre; i++)
        g->tstart[i + 1] += g->tstart[i];
    sj.fill = TRUE;
    oz_par_for((gsize)p->n_pre, 1, sparse_part, &sj);
    return TRUE;
}

/* Adds a projection's gathered terms into its gradient: the sparse path where it applies,
 * else one sgemm, K = gathered rows. */
static void flush_stage(const OzLearner *l, OzProjection *p, GradStage *g) {
    if (g->rows == 0)
        return;
    if (flush_sparse(l, p, g)) {
        g->flushes_sparse++;
    } else {
        accumulate(p->grad, g->pre, g->gu, g->rows, p->n_pre, p->n_post);
        g->flushes_dense++;
    }
    g->rows = 0;
}

/* Stages one tick of a sparse chunk: the spike changes Δo of each sample of a
 * projection's presynaptic LIF layer (not delta delivery's lists; see oz-projection.c). */
typedef struct {
    GradStage *g;
    const OzPopulation *pop;
    const OzFrame *f;
    const float *pre;
    int n;
    gboolean first, carry;
    gsize row0; /* the stage row of sample 0 of this entry */
    guint64 part_nnz[OZ_PAR_MAX_THREADS];
} ChunkChangeJob;

/* Change lists of one entry's samples [begin, end): o = the clean spikes the model sent
 * (its clean_spikes slot), Δo = o − o_prev. */
static void change_part(void *ctx, int part, gsize begin, gsize end) {
    ChunkChangeJob *j = ctx;
    GradStage *g = j->g;
    const int n = j->n;
    guint64 nnz = 0;
    for (gsize b = begin; b < end; b++) {
        float *op = g->o_prev + b * n;
        int *di = g->didx + (j->row0 + b) * n;
        float *dv = g->dval + (j->row0 + b) * n;
        if (j->first)
            memset(op, 0, sizeof(float) * (gsize)n);
        float *o = g->o_cur + b * n;
        j->pop->ops->clean_spikes(j->pop, j->f, b, o);
        if (j->carry)
            for (int i = 0; i < n; i++)
                g->carry[b * n + i] = j->pre[b * n + i] - o[i];
        const int cnt = oz_list_changes(o, op, n, di, dv);
        g->dcount[j->row0 + b] = cnt;
        nnz += (guint64)cnt;
    }
    j->part_nnz[part] = nnz;
}

/* Bookkeeping of the sparse path for one more entry (presynaptic tick te, about to be
 * gathered at the stage's current rows). */
static void stage_changes(OzProjection *p, GradStage *g, const float *pre, gint64 te, int rows) {
    const gboolean first = g->rows == 0;
    if (first) {
        g->entries = 0;
        g->entry_rows = rows;
        g->nnz = 0;
        g->consecutive = TRUE;
    } else if (!g->consecutive || rows != g->entry_rows || te != g->te[g->entries - 1] + 1) {
        g->consecutive = FALSE;
        return;
    }
    const OzFrame *f = oz_population_frame(p->pre, te);
    ChunkChangeJob j = {.g = g,
                   .pop = p->pre,
                   .f = f,
                   .pre = pre,
                   .n = p->n_pre,
                   .first = first,
                   .carry = first && te > p->pre->start_tick,
                   .row0 = (gsize)g->rows};
    oz_par_for((gsize)rows, 1, change_part, &j);
    for (int k = 0; k < oz_par_threads(); k++)
        g->nnz += j.part_nnz[k];
    g->te[g->entries++] = te;
}

/* The stage's free g_u rows for one more tick of a staged projection (flushing a full
 * stage first), or NULL when the projection is not staged. */
static float *stage_slot(OzLearner *l, OzProjection *p, int rows) {
    GradStage *g = &l->stage[p->id];
    if (!g->cap)
        return NULL;
    if (g->rows + rows > g->cap)
        flush_stage(l, p, g);
    return g->gu + (gsize)g->rows * p->n_post;
}

/* ∇W += âᵀ g_u for one tick: into the projection's stage when it has one (flushed when
 * full and before the step), else at once.  g_u may already sit in the stage's slot
 * (apply_signal computes it there), and is then not copied. */
static void stage_or_accumulate(OzLearner *l, OzProjection *p, const float *pre, gint64 te,
                                const float *g_u, int rows) {
    float *slot = stage_slot(l, p, rows);
    if (!slot) {
        p->update_macs += p->kind->accumulate(p, p->grad, pre, g_u, rows);
        return;
    }
    p->update_macs += (guint64)rows * p->nw;
    GradStage *g = &l->stage[p->id];
    if (g->sparse_ok)
        stage_changes(p, g, pre, te, rows);
    oz_par_copy(g->pre + (gsize)g->rows * p->n_pre, pre, (gsize)rows * p->n_pre);
    if (slot != g_u)
        oz_par_copy(slot, g_u, (gsize)rows * p->n_post);
    g->rows += rows;
}

typedef struct {
    float *g_u;
    const float *g_s, *u, *mask;
    const OzPopulation *pop;
    float a;
} GuJob;

/* g_u = (g_s ⊙ ψ(u)) ⊙ mask, ψ from the model. */
static void gu_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const GuJob *j = ctx;
    j->pop->ops->surrogate(j->pop, j->u, j->a, j->g_s, j->g_u, begin, end);
    for (gsize i = begin; i < end; i++)
        j->g_u[i] *= j->mask[i];
}

/* The three-factor update for the signal emitted at te, with the eligibility factors of
 * tick ft (te itself for stored eligibility, the arrival tick for current):
 * g_u = the rule's gate (default g_s ⊙ ψ(u[ft]) ⊙ mask); ∇W += â_pre[ft − d]ᵀ g_u;
 * ∇b += Σ g_u. */
static void apply_signal(OzLearner *l, OzHidden *h, gint64 te, gint64 ft) {
    OzPopulation *pop = h->pop;
    int rows = pop->active_samples, n = pop->n;
    const OzFrame *f = oz_population_frame(pop, ft);
    g_assert(f->tick == ft); /* the ring keeps the factors of every pending tick */
    const float *g_s = h->gs_ring + slot_of(l, te) * (gsize)l->net->batch * n;
    /* g_u, written straight into the stage of the first staged incoming projection. */
    float *g_u = h->g_u;
    for (guint k = 0; k < pop->in->len; k++) {
        OzProjection *p = g_ptr_array_index(pop->in, k);
        float *slot = pre_factor(p, ft) ? stage_slot(l, p, rows) : NULL;
        if (slot) {
            g_u = slot;
            break;
        }
    }
    if (l->rule->gate) {
        const OzRuleGateCtx c = {pop, f, g_s, rows, n, (float)l->p.surrogate_a};
        l->rule->gate(l->rule_state, &c, g_u);
    } else {
        GuJob j = {g_u, g_s, f->u, pop->mask, pop, (float)l->p.surrogate_a};
        oz_par_for((gsize)rows * n, 16, gu_part, &j);
    }
    for (guint k = 0; k < pop->in->len; k++) {
        OzProjection *p = g_ptr_array_index(pop->in, k);
        const float *pre = pre_factor(p, ft);
        if (!pre)
            continue;
        float *sum = l->static_gu[p->id];
        if (sum) {
            oz_par_add(sum, g_u, (gsize)rows * n);
            l->static_dirty[p->id] = TRUE;
        } else {
            stage_or_accumulate(l, p, pre, ft - p->p.delay_ticks, g_u, rows);
        }
    }
    if (pop->p.bias)
        accumulate_bias(pop->bias_grad, g_u, rows, n);
    h->g_u_last = g_u; /* a chain reads it for the same emission tick */
    h->applied++;
}

/* Diagnostics: spatial BP's gradient on this very forward pass, into the stats'
 * bp_grad, at the emission tick (docs/ALGORITHM.md §12.1). */
static void shadow_bp(OzLearner *l, gint64 t, const float *e, int rows) {
    for (guint k = l->hidden->len; k-- > 0;) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        OzPopulation *pop = h->pop;
        int n = pop->n;
        memset(h->bp_chain, 0, sizeof(float) * (gsize)rows * n);
        for (guint j = 0; j < pop->out->len; j++) {
            OzProjection *p = g_ptr_array_index(pop->out, j);
            OzHidden *hp = p->post == l->readout ? NULL : hidden_of(l, p->post);
            const float *down = p->post == l->readout ? e : hp ? hp->bp_gu : NULL;
            if (down)
                p->kind->chain_apply(p, NULL, down, rows, h->bp_chain);
        }
        const OzFrame *f = oz_population_frame(pop, t - h->lag);
        const gsize sz = (gsize)rows * n;
        pop->ops->surrogate(pop, f->u, (float)l->p.surrogate_a, h->bp_chain, h->bp_gu, 0, sz);
        for (gsize i = 0; i < sz; i++)
            h->bp_gu[i] *= pop->mask[i];
    }
    for (guint i = 0; i < l->stats->len; i++) {
        OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
        const float *pre = pre_factor(st->proj, t - st->hidden->lag);
        if (pre)
            st->proj->kind->accumulate(st->proj, st->bp_grad, pre, st->hidden->bp_gu, rows);
    }
}

static void stats_window_end(OzLearner *l) {
    for (guint i = 0; i < l->stats->len; i++) {
        OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
        OzProjection *p = st->proj;
        gsize sz = p->nw;
        double dot = 0, ng = 0, nb = 0;
        st->count++;
        for (gsize j = 0; j < sz; j++) {
            double g = p->grad[j], b = st->bp_grad[j];
            dot += g * b;
            ng += g * g;
            nb += b * b;
            double d = g - st->mean[j];
            st->mean[j] += d / (double)st->count;
            st->m2[j] += d * (g - st->mean[j]);
        }
        st->cos_sum += ng > 0 && nb > 0 ? dot / sqrt(ng * nb) : 0.0;
        st->norm_sum += sqrt(ng);
        st->bp_norm_sum += sqrt(nb);
        memset(st->bp_grad, 0, sz * sizeof(float));
    }
}

void oz_learner_enable_diagnostics(OzLearner *l) {
    g_return_if_fail(l->opt != NULL && l->stats == NULL);
    l->stats = g_array_new(FALSE, TRUE, sizeof(OzGradStats));
    int B = l->net->batch;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        h->bp_chain = g_new0(float, (gsize)B * h->pop->n);
        h->bp_gu = g_new0(float, (gsize)B * h->pop->n);
        for (guint j = 0; j < h->pop->in->len; j++) {
            OzProjection *p = g_ptr_array_index(h->pop->in, j);
            gsize sz = p->nw;
            OzGradStats st = {p, h, g_new0(float, sz), g_new0(double, sz), g_new0(double, sz), 0, 0,
                              0, 0};
            g_array_append_val(l->stats, st);
        }
    }
}

void oz_learner_stats_reset(OzLearner *l) {
    if (!l->stats)
        return;
    for (guint i = 0; i < l->stats->len; i++) {
        OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
        gsize sz = st->proj->nw;
        memset(st->mean, 0, sz * sizeof(double));
        memset(st->m2, 0, sz * sizeof(double));
        st->count = 0;
        st->cos_sum = st->norm_sum = st->bp_norm_sum = 0;
    }
}

/* An igl population's readout at tick t, from the activity behind the top error of t
 * (frame t − lag, as make_signal reads it): r = ŝ R_igl, its error e = ∂L(r)/∂r with the
 * network's loss at full weight (an output, not LL's scaled term) and its per-sample loss,
 * kept by emission tick for the populations below; and R_igl's delta rule
 * ∇R_igl += âᵀ e. */
static void igl_readout(OzLearner *l, OzHidden *h, gint64 t) {
    OzPopulation *pop = h->pop;
    const int rows = pop->active_samples, n = pop->n, m = l->m;
    const OzFrame *f = oz_population_frame(pop, t - h->lag);
    g_assert(f->tick == t - h->lag);
    const gsize at = slot_of(l, t) * (gsize)l->net->batch;
    float *r = h->igl_o_ring + at * m, *e = h->igl_e_ring + at * m;
    oz_sgemm(CblasNoTrans, CblasNoTrans, rows, m, n, 1.0f, f->s, n, h->igl_w, m, 0.0f, r, m);
    oz_loss_instant_share(r, l->labels, rows, batch_rows(l, rows), m, l->p.loss_lambda,
                          (int)l->net->input_ticks, e, h->igl_l_ring + at);
    accumulate(h->igl_grad, f->trace, e, rows, n, m);
    h->path.macs += 2 * (guint64)rows * n * m; /* r, ∇R_igl */
}

static void on_loss(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzLearner *l = user_data;
    gint64 t = ev->tick;
    OzPopulation *ro = l->readout;
    int rows = ro->active_samples, m = l->m;
    gsize slot = slot_of(l, t);
    float *e = l->e_ring + slot * (gsize)l->net->batch * m;
    float *o = l->o_ring + slot * (gsize)l->net->batch * m;
    double *ls = l->l_ring + slot * (gsize)l->net->batch;
    memcpy(o, ro->o, sizeof(float) * (gsize)rows * m);
    l->loss_sum += oz_loss_instant_share(ro->o, l->labels, rows, batch_rows(l, rows), m,
                                         l->p.loss_lambda, (int)l->net->input_ticks, e, ls);
    if (t + 1 < l->loss_to)
        oz_engine_schedule(engine, t + 1, ev->stage, ev->handler, 0);
    if (!l->training)
        return;
    /* Readout: exact local delta rule. */
    for (guint k = 0; k < ro->in->len; k++) {
        OzProjection *p = g_ptr_array_index(ro->in, k);
        const float *pre = pre_factor(p, t);
        if (pre) {
            p->update_macs += p->kind->accumulate(p, p->grad, pre, e, rows);
        }
    }
    if (ro->p.bias)
        accumulate_bias(ro->bias_grad, e, rows, m);
    if (l->diag)
        shadow_bp(l, t, e, rows);
    for (guint k = 0; k < l->hidden->len; k++)
        if (((OzHidden *)g_ptr_array_index(l->hidden, k))->igl)
            igl_readout(l, g_ptr_array_index(l->hidden, k), t);
    /* A direct rule's top-down signals leave now (a chain is formed on arrival, when the
     * downstream g_u exists) and arrive after each pathway's delay and jitter, latest
     * population in topological order first. */
    const gboolean direct = !oz_rule_chains(l->rule);
    for (guint k = l->hidden->len; k-- > 0;) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (direct)
            make_signal(l, h, t);
        gint64 lag = h->delay_ticks;
        if (h->jitter_ticks > 0)
            lag += (gint64)oz_rng_below(&l->rng_jitter, (guint64)h->jitter_ticks + 1);
        guint32 stage = l->stage_loss + 1 + (guint32)(l->hidden->len - 1 - k);
        oz_engine_schedule(engine, t + lag, stage, l->error_handler[k], t);
    }
    if (l->p.step_every_tick)
        oz_engine_schedule(engine, t, l->stage_step, l->step_handler, t);
    else if (t + 1 == l->loss_to)
        oz_engine_schedule(engine, l->net->window_ticks - 1, l->stage_step, l->step_handler, t);
}

static void on_error(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzLearner *l = user_data;
    (void)engine;
    gint64 te = ev->arg, ta = ev->tick;
    guint k = 0;
    while (k < l->hidden->len && l->error_handler[k] != ev->handler)
        k++;
    g_assert(k < l->hidden->len);
    OzHidden *h = g_ptr_array_index(l->hidden, k);
    if (l->on_arrival)
        l->on_arrival(h, te, ta, l->on_arrival_data);
    if (oz_rule_chains(l->rule))
        make_signal(l, h, te);
    if (h->eligibility == OZ_ELIGIBILITY_CURRENT) {
        apply_signal(l, h, te, ta);
        return;
    }
    /* Stored eligibility: apply in emission order whatever the arrival order, so the
     * sums are formed exactly as without delay (bit-identical weights). */
    h->arrived[slot_of(l, te)] = te;
    while (h->arrived[slot_of(l, h->next_te)] == h->next_te) {
        apply_signal(l, h, h->next_te, h->next_te - h->lag);
        h->arrived[slot_of(l, h->next_te)] = -1;
        h->next_te++;
    }
}

/* Adds the gathered Σ_t g_u of static-input projections into their gradients. */
static void flush_static(OzLearner *l) {
    for (guint i = 0; i < l->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(l->net->projs, i);
        if (!l->static_dirty[i])
            continue;
        int rows = p->pre->active_samples;
        p->update_macs += p->kind->accumulate(p, p->grad, p->pre->x, l->static_gu[i], rows);
        memset(l->static_gu[i], 0, sizeof(float) * (gsize)rows * p->n_post);
        l->static_dirty[i] = FALSE;
    }
}

/* Calls fn on every gradient one step sums over the batch, in a fixed order: the kinds'
 * gradients (∂L/∂Ŵ under sWS, before oz_projection_grad_backward), the biases', the
 * trained feedback matrices' (DKP), the LL and IGL readouts', and with diagnostics shadow
 * BP's. */
static void foreach_grad(OzLearner *l, void (*fn)(float *g, gsize n, gpointer user),
                         gpointer user) {
    for (guint i = 0; i < l->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(l->net->projs, i);
        fn(p->grad, p->nw, user);
    }
    for (guint i = 0; i < l->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(l->net->pops, i);
        if (pop->bias && pop->p.bias)
            fn(pop->bias_grad, (gsize)pop->n, user);
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->path.grad)
            fn(h->path.grad, (gsize)h->path.n * h->path.m, user);
        if (h->ll_w)
            fn(h->ll_grad, (gsize)h->ll_n * l->m, user);
        if (h->igl_w)
            fn(h->igl_grad, (gsize)h->pop->n * l->m, user);
    }
    for (guint i = 0; l->diag && l->stats && i < l->stats->len; i++) {
        OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
        fn(st->bp_grad, st->proj->nw, user);
    }
}

typedef struct {
    float *buf;
    gsize at;
    gboolean unpack;
} GradPack;

static void count_grad(float *g, gsize n, gpointer user) {
    (void)g;
    ((GradPack *)user)->at += n;
}

static void pack_grad(float *g, gsize n, gpointer user) {
    GradPack *k = user;
    if (k->unpack)
        memcpy(g, k->buf + k->at, n * sizeof(float));
    else
        memcpy(k->buf + k->at, g, n * sizeof(float));
    k->at += n;
}

/* Several processes, each with a share of the batch (docs/CLUSTER.md): every gradient
 * becomes the whole batch's, summed over the processes in rank order in one message, before
 * anything reads it. */
static void sum_grads(OzLearner *l) {
    GradPack k = {0};
    foreach_grad(l, count_grad, &k);
    if (k.at > l->dist_len) {
        g_free(l->dist_buf);
        l->dist_buf = g_new(float, k.at);
        l->dist_len = k.at;
    }
    k = (GradPack){l->dist_buf, 0, FALSE};
    foreach_grad(l, pack_grad, &k);
    oz_dist_sum_f32(l->dist_buf, k.at);
    k = (GradPack){l->dist_buf, 0, TRUE};
    foreach_grad(l, pack_grad, &k);
}

static void on_step(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzLearner *l = user_data;
    (void)engine;
    flush_static(l);
    for (guint i = 0; i < l->net->projs->len; i++)
        flush_stage(l, g_ptr_array_index(l->net->projs, i), &l->stage[i]);
    if (oz_dist_size() > 1)
        sum_grads(l);
    if (ev->arg + 1 == l->loss_to && !l->frozen)
        for (guint k = 0; k < l->hidden->len; k++)
            oz_pathway_end_window(&((OzHidden *)g_ptr_array_index(l->hidden, k))->path);
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        /* Every error of the window has been applied before the step (the drain was sized
         * for the longest delay plus jitter). */
        OZ_NEVER(!l->p.step_every_tick && h->applied != l->loss_to - l->loss_from);
    }
    if (l->diag && !l->p.step_every_tick)
        stats_window_end(l);
    /* sWS: the kinds gathered ∂L/∂Ŵ; the optimizer steps W and γ. */
    for (guint i = 0; i < l->net->projs->len; i++)
        oz_projection_grad_backward(g_ptr_array_index(l->net->projs, i));
    if (!l->frozen) {
        oz_optim_step(l->opt, l->lr);
        if (l->rule->step_done)
            l->rule->step_done(l->rule_state, l);
        /* Ŵ follows the new W and γ (once per step, not per tick). */
        for (guint i = 0; i < l->net->projs->len; i++) {
            OzProjection *p = g_ptr_array_index(l->net->projs, i);
            if (p->ws)
                oz_projection_weights_changed(p);
        }
    }
    if (l->p.step_every_tick) {
        zero_grads(l);
        /* Weights changed inside the window: cached static currents are stale. */
        for (guint i = 0; i < l->net->projs->len; i++)
            oz_projection_reset(g_ptr_array_index(l->net->projs, i));
    }
}

/* oz-network.c — wiring, topological staging and the per-tick handlers. */
#include "oz-network.h"

#include "neurons/oz-hardware.h"

#include <math.h>
#include <string.h>

OzNetwork *oz_network_new(int batch, gint64 input_ticks) {
    g_return_val_if_fail(batch > 0 && input_ticks > 0, NULL);
    OzNetwork *net = g_new0(OzNetwork, 1);
    net->engine = oz_engine_new();
    net->pops = g_ptr_array_new_with_free_func((GDestroyNotify)oz_population_free);
    net->projs = g_ptr_array_new_with_free_func((GDestroyNotify)oz_projection_free);
    net->topo = g_ptr_array_new();
    net->batch = batch;
    net->input_ticks = input_ticks;
    net->drain_ticks = -1;
    return net;
}

void oz_network_free(OzNetwork *net) {
    if (!net)
        return;
    oz_hardware_detach(net);
    g_ptr_array_free(net->topo, TRUE);
    g_ptr_array_free(net->projs, TRUE);
    g_ptr_array_free(net->pops, TRUE);
    oz_engine_free(net->engine);
    g_free(net->update_handler);
    g_free(net->deliver_handler);
    g_free(net);
}

OzPopulation *oz_network_population(OzNetwork *net, const char *name) {
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *p = g_ptr_array_index(net->pops, i);
        if (g_strcmp0(p->name, name) == 0)
            return p;
    }
    return NULL;
}

OzProjection *oz_network_projection(OzNetwork *net, const char *name) {
    for (guint i = 0; i < net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(net->projs, i);
        if (g_strcmp0(p->name, name) == 0)
            return p;
    }
    return NULL;
}

OzPopulation *oz_network_add_population(OzNetwork *net, const char *name,
                                        const OzPopulationParams *params, GError **error) {
    g_return_val_if_fail(!net->prepared, NULL);
    if (oz_network_population(net, name)) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_EXISTS, "population %s is defined twice",
                    name);
        return NULL;
    }
    OzPopulation *pop = oz_population_new(name, params, net->batch, error);
    if (!pop)
        return NULL;
    pop->id = (int)net->pops->len;
    pop->input_ticks = net->input_ticks;
    g_ptr_array_add(net->pops, pop);
    return pop;
}

OzProjection *oz_network_add_projection(OzNetwork *net, const char *name, const char *from,
                                        const char *to, const OzProjectionParams *params,
                                        GError **error) {
    g_return_val_if_fail(!net->prepared, NULL);
    OzPopulation *pre = oz_network_population(net, from);
    OzPopulation *post = oz_network_population(net, to);
    if (!pre || !post) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_NOT_FOUND,
                    "projection %s: no population named '%s'", name, !pre ? from : to);
        return NULL;
    }
    if (oz_neuron_emits(pre) == OZ_EMITS_NOTHING) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "projection %s: population '%s' (model %s) emits nothing", name, from,
                    pre->ops->name);
        return NULL;
    }
    if (oz_neuron_has(post, OZ_NEURON_SOURCE)) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "projection %s: population '%s' (model %s) is an input and takes no "
                    "projection",
                    name, to, post->ops->name);
        return NULL;
    }
    if (oz_network_projection(net, name)) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_EXISTS, "projection %s is defined twice",
                    name);
        return NULL;
    }
    const char *key = NULL;
    g_autoptr(GError) local = NULL;
    if (!oz_projection_configure(params->kind, params->kind_params, pre, post, &key, &local)) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID, "projection %s: %s: %s",
                    name, key ? key : "kind", local->message);
        return NULL;
    }
    OzProjection *proj = oz_projection_new(name, pre, post, params);
    if (params->weight_standardization && !proj->ws) {
        OzFanIn lay = {0};
        if (proj->kind->fan_in) {
            proj->kind->fan_in(proj, &lay);
            g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                        "projection %s: weight_standardization needs at least 2 weights per "
                        "output unit (the variance divides by N - 1); kind %s gives %zu",
                        name, proj->kind->name, lay.fan_in);
        } else {
            g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                        "projection %s: kind %s does not describe its fan-in, so it cannot "
                        "take weight_standardization",
                        name, proj->kind->name);
        }
        oz_projection_free(proj);
        return NULL;
    }
    proj->id = (int)net->projs->len;
    g_ptr_array_add(net->projs, proj);
    g_ptr_array_add(pre->out, proj);
    g_ptr_array_add(post->in, proj);
    return proj;
}

static void on_update(OzEngine *engine, const OzEvent *ev, gpointer user_data);
static void on_deliver(OzEngine *engine, const OzEvent *ev, gpointer user_data);

/* Kahn's algorithm over zero-delay projections; ties broken by declaration order so the
 * stage assignment is a pure function of the scenario. */
static gboolean topo_sort(OzNetwork *net, GError **error) {
    guint np = net->pops->len;
    g_autofree int *indeg = g_new0(int, np);
    for (guint i = 0; i < net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(net->projs, i);
        if (p->p.delay_ticks == 0)
            indeg[p->post->id]++;
    }
    g_ptr_array_set_size(net->topo, 0);
    g_autofree gboolean *done = g_new0(gboolean, np);
    for (guint round = 0; round < np; round++) {
        OzPopulation *next = NULL;
        for (guint i = 0; i < np && !next; i++)
            if (!done[i] && indeg[i] == 0)
                next = g_ptr_array_index(net->pops, i);
        if (!next) {
            /* Every zero-delay projection between the remaining populations is on a
             * cycle or downstream of one; list them, and blame the last declared (usually
             * the one just added to close the loop). */
            GString *names = g_string_new(NULL);
            for (guint i = 0; i < net->projs->len; i++) {
                OzProjection *p = g_ptr_array_index(net->projs, i);
                if (p->p.delay_ticks == 0 && !done[p->pre->id] && !done[p->post->id]) {
                    g_string_append_printf(names, "%s%s", names->len ? ", " : "", p->name);
                    net->cycle_projection = p->name;
                }
            }
            g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                        "zero-delay cycle among projections %s: every cycle needs a "
                        "projection with delay >= 1",
                        names->str);
            g_string_free(names, TRUE);
            return FALSE;
        }
        done[next->id] = TRUE;
        next->topo = (int)net->topo->len;
        g_ptr_array_add(net->topo, next);
        for (guint i = 0; i < next->out->len; i++) {
            OzProjection *p = g_ptr_array_index(next->out, i);
            if (p->p.delay_ticks == 0)
                indeg[p->post->id]--;
        }
    }
    return TRUE;
}

/* Longest delay-weighted path to every population, by relaxation, into dist; with a
 * delayed cycle it is unbounded, and the sum of all delays is used instead (every simple
 * path is shorter).  Returns the longest over all populations. */
static gint64 delay_paths(OzNetwork *net, gint64 *dist) {
    guint np = net->pops->len;
    memset(dist, 0, sizeof(gint64) * np);
    gint64 total = 0;
    for (guint i = 0; i < net->projs->len; i++)
        total += ((OzProjection *)g_ptr_array_index(net->projs, i))->p.delay_ticks;
    for (guint round = 0; round <= np; round++) {
        gboolean changed = FALSE;
        for (guint i = 0; i < net->projs->len; i++) {
            OzProjection *p = g_ptr_array_index(net->projs, i);
            gint64 d = dist[p->pre->id] + p->p.delay_ticks;
            if (d > dist[p->post->id]) {
                dist[p->post->id] = d;
                changed = TRUE;
            }
        }
        if (!changed) {
            gint64 best = 0;
            for (guint i = 0; i < np; i++)
                best = MAX(best, dist[i]);
            return best;
        }
    }
    for (guint i = 0; i < np; i++)
        dist[i] = MIN(dist[i], total);
    return total;
}

static gint64 longest_delay_path(OzNetwork *net) {
    g_autofree gint64 *dist = g_new0(gint64, net->pops->len);
    return delay_paths(net, dist);
}

gint64 oz_network_delay_to(OzNetwork *net, OzPopulation *pop) {
    g_autofree gint64 *dist = g_new0(gint64, net->pops->len);
    delay_paths(net, dist);
    return dist[pop->id];
}

gint64 oz_network_delay_between(OzNetwork *net, OzPopulation *from, OzPopulation *to) {
    guint np = net->pops->len;
    g_autofree gint64 *dist = g_new(gint64, np);
    gint64 total = 0;
    for (guint i = 0; i < np; i++)
        dist[i] = -1;
    for (guint i = 0; i < net->projs->len; i++)
        total += ((OzProjection *)g_ptr_array_index(net->projs, i))->p.delay_ticks;
    dist[from->id] = 0;
    for (guint round = 0; round <= np; round++) {
        gboolean changed = FALSE;
        for (guint i = 0; i < net->projs->len; i++) {
            OzProjection *p = g_ptr_array_index(net->projs, i);
            if (dist[p->pre->id] < 0)
                continue;
            gint64 d = MIN(dist[p->pre->id] + p->p.delay_ticks, total);
            if (d > dist[p->post->id]) {
                dist[p->post->id] = d;
                changed = TRUE;
            }
        }
        if (!changed)
            break;
    }
    return dist[to->id];
}

gboolean oz_network_prepare(OzNetwork *net, gint64 drain_ticks, GError **error) {
    g_return_val_if_fail(!net->prepared, FALSE);
    if (!topo_sort(net, error))
        return FALSE;
    net->drain_ticks = drain_ticks >= 0 ? drain_ticks : longest_delay_path(net);
    net->window_ticks = net->input_ticks + net->drain_ticks;
    guint np = net->pops->len;
    /* Earliest arrival of input at each population: before it, a population rests (so a
     * feed-forward chain with delays is the undelayed one shifted in time). */
    g_autofree gint64 *earliest = g_new(gint64, np);
    for (guint i = 0; i < np; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        earliest[i] = oz_neuron_has(pop, OZ_NEURON_SOURCE) ? 0 : G_MAXINT64;
    }
    for (guint round = 0; round <= np; round++) {
        gboolean changed = FALSE;
        for (guint i = 0; i < net->projs->len; i++) {
            OzProjection *p = g_ptr_array_index(net->projs, i);
            if (earliest[p->pre->id] == G_MAXINT64)
                continue;
            gint64 d = earliest[p->pre->id] + p->p.delay_ticks;
            if (d < earliest[p->post->id]) {
                earliest[p->post->id] = d;
                changed = TRUE;
            }
        }
        if (!changed)
            break;
    }
    for (guint i = 0; i < np; i++)
        if (earliest[i] == G_MAXINT64)
            earliest[i] = 0;
    net->update_handler = g_new0(guint, np);
    net->deliver_handler = g_new0(guint, MAX(net->projs->len, 1));
    for (guint i = 0; i < np; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        int depth = MAX(1, pop->min_depth);
        for (guint k = 0; k < pop->out->len; k++)
            depth = MAX(depth, ((OzProjection *)g_ptr_array_index(pop->out, k))->p.delay_ticks +
                                   1);
        oz_population_set_depth(pop, depth);
        pop->start_tick = earliest[i];
        if (oz_neuron_has(pop, OZ_NEURON_READOUT)) {
            pop->sum_from = oz_network_delay_to(net, pop);
            pop->sum_to = pop->sum_from + net->input_ticks;
        }
        g_autofree char *hname = g_strdup_printf("update:%s", pop->name);
        net->update_handler[i] = oz_engine_add_handler(net->engine, hname, on_update, net);
    }
    for (guint i = 0; i < net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(net->projs, i);
        g_autofree char *hname = g_strdup_printf("deliver:%s", p->name);
        net->deliver_handler[i] = oz_engine_add_handler(net->engine, hname, on_deliver, p);
    }
    net->prepared = TRUE;
    return TRUE;
}

guint32 oz_network_first_free_stage(const OzNetwork *net) {
    return 2u * net->pops->len;
}

void oz_network_init_parameters(OzNetwork *net, OzRng *rng) {
    for (guint i = 0; i < net->projs->len; i++)
        oz_projection_init_weights(g_ptr_array_index(net->projs, i), rng);
    /* Biases follow the framework default for a linear layer: U(±1/√fan_in), with the
     * fan-in summed over every incoming projection. */
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        if (!pop->bias)
            continue;
        int fan_in = 0;
        for (guint k = 0; k < pop->in->len; k++)
            fan_in += ((OzProjection *)g_ptr_array_index(pop->in, k))->n_pre;
        double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
        for (int j = 0; j < pop->n; j++)
            pop->bias[j] =
                pop->p.bias ? (float)((2.0 * oz_rng_uniform(rng) - 1.0) * bound) : 0.0f;
    }
}

void oz_network_reset(OzNetwork *net, int active_samples, gboolean training) {
    g_return_if_fail(net->prepared);
    g_return_if_fail(active_samples > 0 && active_samples <= net->batch);
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        pop->active_samples = active_samples;
        pop->training = training;
        oz_population_reset(pop);
    }
    for (guint i = 0; i < net->projs->len; i++)
        oz_projection_reset(g_ptr_array_index(net->projs, i));
    oz_engine_reset_clock(net->engine);
}

void oz_network_set_row_offset(OzNetwork *net, int offset) {
    for (guint i = 0; i < net->pops->len; i++)
        ((OzPopulation *)g_ptr_array_index(net->pops, i))->row_offset = offset;
}

void oz_network_run_window(OzNetwork *net) {
    g_return_if_fail(net->prepared);
    for (guint i = 0; i < net->topo->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->topo, i);
        if (pop->start_tick < net->window_ticks)
            oz_engine_schedule(net->engine, pop->start_tick, 2u * pop->topo + 1u,
                               net->update_handler[pop->id], pop->id);
    }
    oz_engine_run_all(net->engine);
}

static void on_update(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzNetwork *net = user_data;
    OzPopulation *pop = g_ptr_array_index(net->pops, ev->arg);
    gint64 t = ev->tick;
    oz_population_step(pop, t);
    if (net->observer)
        net->observer(pop, t, net->observer_data);
    if (t + 1 < net->window_ticks)
        oz_engine_schedule(engine, t + 1, ev->stage, ev->handler, ev->arg);
    if (pop->out->len == 0)
        return;
    OzFrame *f = oz_population_frame(pop, t);
    if (f->kind == OZ_FRAME_EMPTY)
        return;
    for (guint k = 0; k < pop->out->len; k++) {
        OzProjection *p = g_ptr_array_index(pop->out, k);
        gint64 arrival = t + p->p.delay_ticks;
        /* A packet that would land after the window could change nothing. */
        if (arrival >= net->window_ticks)
            continue;
        oz_engine_schedule(engine, arrival, 2u * p->post->topo, net->deliver_handler[p->id], t);
    }
}

static void on_deliver(OzEngine *engine, const OzEvent *ev, gpointer user_data) {
    OzProjection *p = user_data;
    OzFrame *f = oz_population_frame(p->pre, ev->arg);
    g_assert(f->tick == ev->arg); /* the ring is deep enough for every delay */
    oz_projection_deliver(p, f, p->post->acc);
    (void)engine;
}

void oz_network_counters_clear(OzNetwork *net) {
    for (guint i = 0; i < net->pops->len; i++)
        oz_population_counters_clear(g_ptr_array_index(net->pops, i));
    for (guint i = 0; i < net->projs->len; i++)
        oz_projection_counters_clear(g_ptr_array_index(net->projs, i));
}

void oz_network_set_observer(OzNetwork *net, OzStepObserver observer, gpointer user_data) {
    net->observer = observer;
    net->observer_data = user_data;
}

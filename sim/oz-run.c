/* oz-run.c — wiring a scenario into a network, and the phase loop. */
#include "oz-run.h"

#include "io/oz-nir.h"
#include "sim/oz-checkpoint.h"

#include "engine/oz-blas.h"
#include "engine/oz-dist.h"
#include "neurons/oz-hardware.h"

#include <math.h>
#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as minus
 * signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-run-error-quark, oz_run_error)
// clang-format on

static OzDelivery delivery_of(const char *s) {
    if (g_strcmp0(s, "event") == 0)
        return OZ_DELIVERY_EVENT;
    if (g_strcmp0(s, "dense") == 0)
        return OZ_DELIVERY_DENSE;
    if (g_strcmp0(s, "delta") == 0)
        return OZ_DELIVERY_DELTA;
    return OZ_DELIVERY_AUTO;
}

static OzInit init_of(const char *s) {
    if (g_strcmp0(s, "normal") == 0)
        return OZ_INIT_NORMAL;
    if (g_strcmp0(s, "zero") == 0)
        return OZ_INIT_ZERO;
    if (g_strcmp0(s, "kaiming") == 0)
        return OZ_INIT_KAIMING;
    return OZ_INIT_UNIFORM;
}

static void observe(OzPopulation *pop, gint64 tick, gpointer user_data);
static OzLogBatch *phase_rows(OzRun *run, const OzPhase *ph);

/* Populations whose output is spikes (firing rates and spike recording apply). */
static gboolean emits_spikes(const OzRun *run, const OzPopulation *pop) {
    (void)run;
    return oz_neuron_emits(pop) == OZ_EMITS_SPIKES;
}

/* The populations, each with its model's keys as the scenario validated them.  The data
 * source draws from the input stream, every other population (dropout masks) from the
 * dropout stream. */
static gboolean add_populations(OzRun *run, GError **error) {
    OzScenario *sc = run->sc;
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *pc = g_ptr_array_index(sc->pops, i);
        OzPopulationParams pp = {
            .model = pc->model,
            .size = pc->size,
            .rank = pc->rank,
            .keys = (const char *const *)pc->keys,
            .values = (const char *const *)pc->values,
        };
        memcpy(pp.shape, pc->dims, sizeof pp.shape);
        g_autoptr(GError) local = NULL;
        OzPopulation *pop = oz_network_add_population(run->net, pc->name, &pp, &local);
        if (!pop) {
            g_autofree char *section = g_strdup_printf("population %s", pc->name);
            oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_VALUE, section, "model", "%s",
                                  local->message);
            return FALSE;
        }
        gboolean source = oz_neuron_has(pop, OZ_NEURON_SOURCE);
        pop->rng = source ? &run->rng_input : &run->rng_dropout;
        if (source)
            run->input = pop;
        if (oz_neuron_has(pop, OZ_NEURON_READOUT))
            run->readout = pop;
    }
    return TRUE;
}

static gboolean add_projections(OzRun *run, GError **error) {
    OzScenario *sc = run->sc;
    for (guint i = 0; i < sc->projs->len; i++) {
        OzProjectionConfig *pc = g_ptr_array_index(sc->projs, i);
        const OzProjectionKindOps *kind = oz_projection_kind_lookup(pc->kind);
        g_assert(kind); /* the scenario accepted it */
        /* The kind's keys, as the scenario validated them. */
        g_autofree gpointer kp = kind->params_size ? g_malloc0(kind->params_size) : NULL;
        for (int k = 0; kp && pc->keys && pc->keys[k]; k++) {
            g_autofree char *why = NULL;
            gboolean parsed =
                oz_param_parse(oz_param_find(kind->params, pc->keys[k]), pc->values[k], kp, &why);
            g_assert(parsed);
        }
        OzProjectionParams pp = {
            .delay_ticks = pc->delay,
            .init = init_of(pc->init),
            .init_scale = (float)pc->init_scale,
            .delivery = delivery_of(sc->run.delivery),
            .dense_threshold = (float)sc->run.dense_threshold,
            .delta = sc->run.delta,
            .delta_refresh = sc->run.delta_refresh,
            .kind = kind,
            .kind_params = kp,
            .seed = sc->run.seed,
            .weight_standardization = pc->weight_standardization,
        };
        g_autoptr(GError) local = NULL;
        if (!oz_network_add_projection(run->net, pc->name, pc->from, pc->to, &pp, &local)) {
            g_autofree char *section = g_strdup_printf("projection %s", pc->name);
            oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_REFERENCE, section, "from", "%s",
                                  local->message);
            return FALSE;
        }
    }
    return TRUE;
}

/* The learner's parameters from [rule], [optimizer] and [run]. */
static OzLearnParams learn_params(const OzScenario *sc) {
    const OzRuleConfig *rc = &sc->rule;
    const OzOptimizerConfig *oc = &sc->optimizer;
    OzLearnParams lp = {
        .rule = rc->name,
        .loss_lambda = rc->loss_lambda,
        .surrogate_a = rc->surrogate_a,
        .noise = (OzNoiseDist)oz_noise_dist_from_string(rc->noise),
        .position = strcmp(rc->noise_position, "before") == 0 ? OZ_NOISE_BEFORE : OZ_NOISE_AFTER,
        .antithetic = rc->antithetic,
        .step_every_tick = strcmp(rc->step, "tick") == 0,
        .sphere_unit = strcmp(rc->sphere_radius, "1") == 0,
        .trace_noisy = strcmp(rc->trace_under_noise, "noisy") == 0,
        .noise_unmasked = strcmp(rc->noise_dropout_order, "mask_after_noise") == 0,
        .input_trace = strcmp(rc->first_layer_factor, "trace") == 0,
        .local_learning = rc->local_learning,
        .ll_scale = rc->ll_scale,
        .grad_chunk_ticks = sc->run.grad_chunk_ticks,
        .sparse_grad = sc->run.sparse_grad,
        .sparse_grad_threshold = sc->run.sparse_grad_threshold,
        .optim = {.kind = strcmp(oc->name, "sgd") == 0 ? OZ_OPTIM_SGD : OZ_OPTIM_ADAMW,
                  .lr = oc->lr,
                  .weight_decay = oc->weight_decay,
                  .beta1 = oc->beta1,
                  .beta2 = oc->beta2,
                  .eps = oc->eps,
                  .momentum = oc->momentum},
    };
    /* The rules' own keys: every registered rule's defaults, then the values the scenario
     * kept for its rule (validated there, so the parse cannot fail). */
    for (const OzRuleOps *const *r = oz_rule_all(); *r; r++)
        oz_param_defaults((*r)->params, &lp);
    const OzRuleOps *ops = oz_rule_lookup(rc->name);
    for (int i = 0; ops && rc->keys && rc->keys[i]; i++) {
        const OzParamSpec *s = oz_param_find(ops->params, rc->keys[i]);
        g_autofree char *why = NULL;
        if (s && !oz_param_parse(s, rc->values[i], &lp, &why))
            g_error("rule key %s: %s", rc->keys[i], why);
    }
    return lp;
}

/* The learner with its feedback pathways ([feedback POP] delays and jitter).  *lat
 * receives the longest error latency (delay + jitter). */
static gboolean add_learner(OzRun *run, gint64 *lat, GError **error) {
    OzScenario *sc = run->sc;
    OzLearnParams lp = learn_params(sc);
    g_autoptr(GError) local = NULL;
    run->learner = oz_learner_new(run->net, &lp, &run->rng_init, &run->rng_noise, &local);
    if (!run->learner) {
        oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_VALUE, "rule", "name", "%s",
                              local->message);
        return FALSE;
    }
    for (guint i = 0; i < sc->feedbacks->len; i++) {
        OzFeedbackConfig *fb = g_ptr_array_index(sc->feedbacks, i);
        oz_learner_set_feedback(run->learner, fb->name, fb->delay, fb->jitter,
                                strcmp(fb->eligibility, "current") == 0 ? OZ_ELIGIBILITY_CURRENT
                                                                        : OZ_ELIGIBILITY_STORED);
    }
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *pc = g_ptr_array_index(sc->pops, i);
        if (pc->igl && !oz_learner_set_igl(run->learner, pc->name, &local)) {
            g_autofree char *section = g_strdup_printf("population %s", pc->name);
            oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_VALUE, section, "igl", "%s",
                                  local->message);
            return FALSE;
        }
    }
    *lat = oz_learner_finalize(run->learner, (guint64)sc->run.seed, &local);
    if (*lat < 0) {
        oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_VALUE, "rule", "name", "%s",
                              local->message);
        return FALSE;
    }
    return TRUE;
}

/* The drain after the T input ticks, for oz_network_prepare: [run] drain_ticks (−1:
 * automatic), which when learning must also let the last error land, lat ticks after
 * the loss.  Fails when an explicit value is too short. */
static gboolean drain_ticks(OzRun *run, gint64 lat, gint64 *out, GError **error) {
    const OzScenario *sc = run->sc;
    gint64 drain = sc->run.drain_ticks;
    *out = drain;
    gint64 readout_delay = oz_network_delay_to(run->net, run->readout);
    if (!run->learner) {
        if (drain >= 0 && drain < readout_delay) {
            oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_VALUE, "run", "drain_ticks",
                                  "%" G_GINT64_FORMAT
                                  " is too few: the readout's path delay is %" G_GINT64_FORMAT
                                  " ticks (or use -1 for automatic)",
                                  drain, readout_delay);
            return FALSE;
        }
        return TRUE;
    }
    /* The loss sees T ticks from the readout's path delay on; the last error then needs
     * lat more ticks to land. */
    gint64 need = readout_delay + lat;
    if (drain < 0) {
        gint64 path = 0;
        for (guint i = 0; i < run->net->pops->len; i++)
            path = MAX(path, oz_network_delay_to(run->net, g_ptr_array_index(run->net->pops, i)));
        *out = MAX(need, path);
        return TRUE;
    }
    if (drain < need) {
        oz_scenario_set_error(
            sc, error, OZ_SCENARIO_ERROR_VALUE, "run", "drain_ticks",
            "%" G_GINT64_FORMAT " is too few: the readout's path delay "
            "is %" G_GINT64_FORMAT " and the slowest error needs %" G_GINT64_FORMAT
            " more ticks (delay + jitter), so at least %" G_GINT64_FORMAT " (or -1 for automatic)",
            drain, need - lat, lat, need);
        return FALSE;
    }
    return TRUE;
}

/* The chip of [hardware] (neurons/oz-hardware.h). */
static OzHardwareParams hardware_params(const OzScenario *sc) {
    const OzHardwareConfig *hc = &sc->hardware;
    OzHardwareParams hp;
    oz_hardware_params_defaults(&hp);
    hp.seed = (guint64)hc->seed;
    hp.weight_bits = hc->weight_bits;
    hp.weight_mismatch = hc->weight_mismatch;
    hp.threshold_mismatch = hc->threshold_mismatch;
    hp.leak_mismatch = hc->leak_mismatch;
    hp.neuron_noise = hc->neuron_noise;
    hp.noise_is_probe = hc->noise_is_probe;
    hp.spike_drop = hc->spike_drop;
    hp.bp_model = strcmp(hc->bp_model, "exact") == 0 ? OZ_BP_MODEL_EXACT : OZ_BP_MODEL_NOMINAL;
    return hp;
}

/* Wires the scenario's populations, projections and (training) learner, then fixes the
 * schedule and draws the initial parameters.  Errors name the scenario's section and
 * key. */
static gboolean build_network(OzRun *run, GError **error) {
    OzScenario *sc = run->sc;
    /* Under MPI each process steps its share of every mini-batch (docs/CLUSTER.md): the
     * network holds the largest share. */
    const int size = oz_dist_size();
    run->batch = sc->run.batch_size;
    run->net = oz_network_new((run->batch + size - 1) / size, sc->run.ticks);
    if (!add_populations(run, error) || !add_projections(run, error))
        return FALSE;
    /* The chip before the learner: the rules' probes and ψ depend on it. */
    OzHardwareParams hp = hardware_params(sc);
    oz_hardware_attach(run->net, &hp, (guint64)sc->run.seed);
    gint64 lat = 0;
    if (strcmp(sc->run.mode, "train") == 0 && !add_learner(run, &lat, error))
        return FALSE;
    gint64 drain = 0;
    if (!drain_ticks(run, lat, &drain, error))
        return FALSE;
    g_autoptr(GError) local = NULL;
    if (!oz_network_prepare(run->net, drain, &local)) {
        g_autofree char *section = g_strdup_printf(
            "projection %s", run->net->cycle_projection ? run->net->cycle_projection : "?");
        oz_scenario_set_error(sc, error, OZ_SCENARIO_ERROR_VALUE, section, "delay", "%s",
                              local->message);
        return FALSE;
    }
    /* After the learner drew its feedback matrices: the draws from rng_init come in this
     * order. */
    oz_network_init_parameters(run->net, &run->rng_init);
    if (run->learner) {
        oz_learner_prepare(run->learner);
        if (sc->record.grad_stats) {
            oz_learner_enable_diagnostics(run->learner);
            run->learner->frozen = sc->record.grad_stats_frozen;
        }
    }
    oz_network_set_observer(run->net, observe, run);
    return TRUE;
}

/* [network] from_nir: the file's weights and biases replace the drawn ones (the draws
 * still happen, so every stream is where it would be).  The scenario built the same
 * sections from the same file, so each tensor fits unless the scenario's own keys changed
 * a shape, which is named. */
static gboolean load_nir_tensors(OzRun *run, GError **error) {
    const OzNetworkConfig *nc = &run->sc->network;
    g_autoptr(GHashTable) t = NULL;
    if (!oz_nir_import(nc->from_nir, nc->nir_dt, FALSE, NULL, &t, error))
        return FALSE;
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        g_autofree char *key = g_strconcat("w:", p->name, NULL);
        const OzNirTensor *w = g_hash_table_lookup(t, key);
        if (!w)
            continue;
        if (w->n != p->nw) {
            g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                        "%s: the weights of '%s' hold %zu values; projection %s has %zu "
                        "(a shape changed by the scenario's own keys)",
                        nc->from_nir, p->name, w->n, p->name, p->nw);
            return FALSE;
        }
        memcpy(p->w, w->v, w->n * sizeof(float));
    }
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        g_autofree char *key = g_strconcat("b:", pop->name, NULL);
        const OzNirTensor *b = g_hash_table_lookup(t, key);
        if (b && pop->bias && b->n == (gsize)pop->n)
            memcpy(pop->bias, b->v, b->n * sizeof(float));
    }
    return TRUE;
}

/* The loaded set against the network: its kind of sample against the input model (a spike
 * data set needs a spike source, an image data set one that takes values), its sample
 * shape against the input population's shape and size, its classes against the readout. */
static gboolean check_data(OzRun *run, const OzDataset *set, GError **error) {
    OzPopulation *in = run->input;
    g_autofree char *section = g_strdup_printf("population %s", in->name);
    gboolean spikes = set->kind == OZ_SAMPLE_SPIKES;
    if (spikes != oz_neuron_has(in, OZ_NEURON_SPIKE_SOURCE)) {
        GString *fit = g_string_new(NULL);
        for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++)
            if (((*m)->caps & OZ_NEURON_SOURCE) &&
                !((*m)->caps & OZ_NEURON_SPIKE_SOURCE) == !spikes)
                g_string_append_printf(fit, "%s%s", fit->len ? " or " : "", (*m)->name);
        oz_scenario_set_error(run->sc, error, OZ_SCENARIO_ERROR_VALUE, section, "model",
                              "%s does not take the samples of [data] dataset = %s, which are "
                              "%s (use model = %s)",
                              in->ops->name, set->ops->name,
                              spikes ? "binned spikes, one frame per tick" : "images", fit->str);
        g_string_free(fit, TRUE);
        return FALSE;
    }
    gint64 features = 1;
    GString *dims = g_string_new(NULL);
    for (int d = 0; d < set->rank; d++) {
        features *= set->shape[d];
        g_string_append_printf(dims, "%s%d", d ? "×" : "", set->shape[d]);
    }
    const char *unit = spikes ? "cells" : "pixels";
    /* A spike source's shape must be the set's (C,H,W); a size alone must be the product. */
    gboolean shape_differs = spikes && in->rank > 1 && in->rank != set->rank;
    for (int d = 0; spikes && in->rank > 1 && !shape_differs && d < set->rank; d++)
        shape_differs = in->shape[d] != set->shape[d];
    if (in->n != features || shape_differs) {
        g_autofree char *mine = oz_population_shape_string(in);
        if (shape_differs || in->rank > 1)
            oz_scenario_set_error(run->sc, error, OZ_SCENARIO_ERROR_VALUE, section, "shape",
                                  "%s does not match the data: %s holds %s = %" G_GINT64_FORMAT
                                  " %s per sample",
                                  mine, set->source, dims->str, features, unit);
        else
            oz_scenario_set_error(run->sc, error, OZ_SCENARIO_ERROR_VALUE, section, "size",
                                  "%d does not match the data: %s holds %s = %" G_GINT64_FORMAT
                                  " %s per sample",
                                  in->n, set->source, dims->str, features, unit);
        g_string_free(dims, TRUE);
        return FALSE;
    }
    g_string_free(dims, TRUE);
    if (run->readout->n != run->sc->data.classes) {
        g_autofree char *ro = g_strdup_printf("population %s", run->readout->name);
        oz_scenario_set_error(run->sc, error, OZ_SCENARIO_ERROR_VALUE, ro, "size",
                              "%d does not match [data] classes = %d", run->readout->n,
                              run->sc->data.classes);
        return FALSE;
    }
    return TRUE;
}

/* Loads one split of the scenario's data set and checks it against the network. */
static gboolean load_split(OzRun *run, OzSplit split, OzDataset *out, OzDatasetProgress progress,
                           gpointer user, GError **error) {
    const OzDataConfig *d = &run->sc->data;
    const OzDatasetOps *ops = oz_dataset_lookup(d->dataset);
    g_assert(ops); /* the scenario accepted it */
    OzDatasetRequest req = {.split = split,
                            .classes = d->classes,
                            .limit = split == OZ_SPLIT_TRAIN ? d->train_limit : d->test_limit,
                            .ticks = run->sc->run.ticks,
                            .progress = progress,
                            .progress_user = user};
    return oz_dataset_load(ops, (const char *const *)d->keys, (const char *const *)d->values, &req,
                           out, error) &&
           check_data(run, out, error);
}

/* Under MPI every process steps at least one row of every batch (a process with none would
 * have no window to step while the others wait for its sums): the batch and the last, short
 * batch of each split must hold at least one sample per process. */
static gboolean check_shares(OzRun *run, GError **error) {
    const int size = oz_dist_size();
    const OzDataset *sets[2] = {&run->train, &run->test};
    const char *names[2] = {"train", "test"};
    for (int i = 0; size > 1 && i < 2; i++) {
        if (!sets[i]->ops)
            continue;
        int last = sets[i]->n % run->batch ? sets[i]->n % run->batch : MIN(run->batch, sets[i]->n);
        if (last < size) {
            oz_scenario_set_error(run->sc, error, OZ_SCENARIO_ERROR_VALUE, "run", "batch_size",
                                  "%d with %d %s samples leaves a batch of %d, fewer than the %d "
                                  "processes (each needs a sample of every batch): choose "
                                  "batch_size or [data] %s_limit so that every batch holds at "
                                  "least %d",
                                  run->batch, sets[i]->n, names[i], last, size, names[i], size);
            return FALSE;
        }
    }
    return TRUE;
}

static void plan_phases(OzRun *run) {
    run->phases = g_array_new(FALSE, FALSE, sizeof(OzPhase));
    if (!run->learner) {
        OzPhase p = {OZ_PHASE_TEST, 0};
        g_array_append_val(run->phases, p);
        run->samples_total = run->test.n;
        return;
    }
    for (int e = 0; e < run->sc->run.epochs; e++) {
        OzPhase tr = {OZ_PHASE_TRAIN, e}, te = {OZ_PHASE_TEST, e};
        g_array_append_val(run->phases, tr);
        g_array_append_val(run->phases, te);
        run->samples_total += run->train.n + run->test.n;
    }
}

OzRun *oz_run_new(OzScenario *sc, GError **error) {
    return oz_run_new_with_progress(sc, NULL, NULL, error);
}

OzRun *oz_run_new_with_progress(OzScenario *sc, OzDatasetProgress progress, gpointer user,
                                GError **error) {
    g_autoptr(OzRun) run = g_new0(OzRun, 1);
    run->sc = sc;
    guint64 seed = (guint64)sc->run.seed;
    oz_rng_init(&run->rng_init, seed, "init");
    oz_rng_init(&run->rng_input, seed, "input");
    oz_rng_init(&run->rng_dropout, seed, "dropout");
    oz_rng_init(&run->rng_shuffle, seed, "shuffle");
    oz_rng_init(&run->rng_noise, seed, "noise");
    run->labels = g_new0(guint8, sc->run.batch_size);
    if (!build_network(run, error))
        return NULL;
    if (*sc->network.from_nir && !load_nir_tensors(run, error))
        return NULL;
    if (strcmp(sc->run.mode, "train") == 0 &&
        !load_split(run, OZ_SPLIT_TRAIN, &run->train, progress, user, error))
        return NULL;
    if (!load_split(run, OZ_SPLIT_TEST, &run->test, progress, user, error))
        return NULL;
    if (!check_shares(run, error))
        return NULL;
    run->record_pop = g_new0(gboolean, run->net->pops->len);
    run->runaway = g_new0(int, run->net->pops->len);
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        char **list = sc->record.spike_populations;
        gboolean spiking = emits_spikes(run, pop);
        run->record_pop[i] =
            spiking && (!list || !*list || g_strv_contains((const char *const *)list, pop->name));
    }
    plan_phases(run);
    run->phase_index = 0;
    run->cursor = -1;
    return g_steal_pointer(&run);
}

void oz_run_free(OzRun *run) {
    if (!run)
        return;
    oz_learner_free(run->learner);
    oz_network_free(run->net);
    if (run->silent_hidden)
        g_string_free(run->silent_hidden, TRUE);
    g_free(run->labels);
    oz_dataset_clear(&run->train);
    oz_dataset_clear(&run->test);
    if (run->phases)
        g_array_free(run->phases, TRUE);
    g_free(run->order);
    g_free(run->record_pop);
    g_free(run->runaway);
    g_clear_error(&run->fault);
    oz_log_batch_free(run->spikes);
    if (run->spike_text)
        g_string_free(run->spike_text, TRUE);
    g_free(run);
}

/* The data set's keys as loaded (owner `data`, defaults included), and per loaded split
 * (owner `data train`, `data test`) what loading found: samples, the bytes the samples take
 * in memory and, for event data, the recordings and the events read, kept, cropped by the
 * binning and moved off the sensor by stabilisation (read = kept + cropped + off sensor).
 * Deterministic values only (no load time), so equal runs log equal rows. */
static void add_data_rows(OzRun *run, OzLogBatch *b) {
    const OzDataConfig *d = &run->sc->data;
    oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "data", "dataset", d->dataset);
    const char *common[3] = {"classes", "train_limit", "test_limit"};
    const int common_values[3] = {d->classes, d->train_limit, d->test_limit};
    for (int k = 0; k < 3; k++) {
        g_autofree char *v = g_strdup_printf("%d", common_values[k]);
        oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "data", common[k], v);
    }
    for (int k = 0; d->keys && d->keys[k]; k++)
        oz_log_batch_add(b, OZ_ROW_PARAMETER, "sss", "data", d->keys[k], d->values[k]);
    const OzDataset *splits[2] = {&run->train, &run->test};
    const char *owners[2] = {"data train", "data test"};
    for (int i = 0; i < 2; i++) {
        const OzDataset *set = splits[i];
        if (!set->ops)
            continue; /* not loaded (inference) */
        guint64 values[7] = {(guint64)set->n,         oz_dataset_bytes(set),
                             set->files,              set->spikes.events_in,
                             set->spikes.events_kept, set->spikes.events_cropped,
                             set->spikes.events_off_sensor};
        const char *keys[7] = {"samples",     "bytes",          "recordings",       "events_read",
                               "events_kept", "events_cropped", "events_off_sensor"};
        for (int k = 0; k < (set->kind == OZ_SAMPLE_SPIKES ? 7 : 2); k++) {
            g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, values[k]);
            oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", owners[i], keys[k], v);
        }
    }
}

/* The chip as the run used it, owner "hardware" (only when an effect is on, so a run on an
 * ideal chip logs what it did before [hardware] existed).  A BP run given the true chip is
 * labelled a reference in its own row. */
static void hardware_rows(OzRun *run, OzLogBatch *b) {
    if (!run->net->hw)
        return;
    const OzHardwareConfig *hc = &run->sc->hardware;
    g_autofree char *seed = g_strdup_printf("%" G_GINT64_FORMAT, hc->seed);
    g_autofree char *bits = g_strdup_printf("%d", hc->weight_bits);
    const struct {
        const char *key;
        double value;
    } sigmas[] = {{"weight_mismatch", hc->weight_mismatch},
                  {"threshold_mismatch", hc->threshold_mismatch},
                  {"leak_mismatch", hc->leak_mismatch},
                  {"neuron_noise", hc->neuron_noise},
                  {"spike_drop", hc->spike_drop}};
    oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "hardware", "seed", seed);
    oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "hardware", "weight_bits", bits);
    for (gsize i = 0; i < G_N_ELEMENTS(sigmas); i++) {
        /* The shortest text that reads back to the same value. */
        char text[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_formatd(text, sizeof text, "%.15g", sigmas[i].value);
        if (g_ascii_strtod(text, NULL) != sigmas[i].value)
            g_ascii_dtostr(text, sizeof text, sigmas[i].value);
        oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "hardware", sigmas[i].key, text);
    }
    oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "hardware", "noise_is_probe",
                     hc->noise_is_probe ? "true" : "false");
    oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "hardware", "bp_model", hc->bp_model);
    if (oz_run_is_reference(run))
        oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "hardware", "reference",
                         OZ_RUN_REFERENCE_NOTE);
}

gboolean oz_run_is_reference(const OzRun *run) {
    const OzLearner *l = run->learner;
    return l && run->net->hw && l->rule->chip_model &&
           l->rule->chip_model(l->rule_state, l) == OZ_CHIP_EXACT;
}

OzLogBatch *oz_run_structure_rows(OzRun *run) {
    OzLogBatch *b = oz_log_batch_new();
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *p = g_ptr_array_index(run->net->pops, i);
        /* The encoding column is the input's encoding key, for a model that has one (a
         * spike input of event data has none). */
        const char *enc = p == run->input && oz_neuron_param(p->ops, "encoding", NULL)
                              ? (p->p.encoding == OZ_ENCODING_BERNOULLI ? "bernoulli" : "current")
                              : NULL;
        g_autofree char *shape = oz_population_shape_string(p);
        if (enc)
            oz_log_batch_add(b, OZ_ROW_POPULATION, "ssiisddds", p->name, p->ops->name,
                             (gint64)p->n, (gint64)p->topo, enc, (double)p->p.lambda,
                             (double)p->p.v_th, (double)p->p.dropout, shape);
        else
            oz_log_batch_add(b, OZ_ROW_POPULATION, "ssiinddds", p->name, p->ops->name,
                             (gint64)p->n, (gint64)p->topo, (double)p->p.lambda,
                             (double)p->p.v_th, (double)p->p.dropout, shape);
        /* The model's parameters as the population runs with them, defaults included. */
        g_autofree char *owner = g_strdup_printf("population %s", p->name);
        const OzParamSpec *tables[2] = {p->ops->common_params, p->ops->params};
        gconstpointer bases[2] = {&p->p, p->params};
        for (int t = 0; t < 2; t++)
            for (int k = 0; tables[t] && tables[t][k].key; k++) {
                g_autofree char *value = oz_param_format(&tables[t][k], bases[t]);
                oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", owner, tables[t][k].key, value);
            }
    }
    add_data_rows(run, b);
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        OzProjectionConfig *pc = g_ptr_array_index(run->sc->projs, i);
        oz_log_batch_add(b, OZ_ROW_PROJECTION, "sssiiis", p->name, p->pre->name, p->post->name,
                         (gint64)p->n_pre, (gint64)p->n_post, (gint64)p->p.delay_ticks, pc->init);
        /* The kind's parameters as the projection runs with them, defaults included. */
        g_autofree char *owner = g_strdup_printf("projection %s", p->name);
        for (int k = 0; p->kind->params && p->kind->params[k].key; k++) {
            g_autofree char *value = oz_param_format(&p->kind->params[k], p->kparams);
            oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", owner, p->kind->params[k].key, value);
        }
    }
    hardware_rows(run, b);
    /* The kernels that round its products (engine/oz-blas.h): the last bits of a run
     * depend on them, as on the thread count. */
    oz_log_batch_add(b, OZ_ROW_PARAMETER, "sSs", "run", "blas_kernels", oz_blas_kernels());
    return b;
}

const OzPhase *oz_run_current_phase(const OzRun *run) {
    if (run->phase_index >= run->phases->len)
        return NULL;
    return &g_array_index(run->phases, OzPhase, run->phase_index);
}

double oz_run_running_accuracy(const OzRun *run) {
    return run->seen > 0 ? (double)run->correct / (double)run->seen : 0.0;
}

static const OzDataset *phase_set(OzRun *run, const OzPhase *ph) {
    return ph->kind == OZ_PHASE_TRAIN ? &run->train : &run->test;
}

static const char *phase_name(const OzPhase *ph) {
    return ph->kind == OZ_PHASE_TRAIN ? "train" : "test";
}

static gboolean is_last_test(OzRun *run) {
    for (guint i = run->phase_index + 1; i < run->phases->len; i++)
        if (g_array_index(run->phases, OzPhase, i).kind == OZ_PHASE_TEST)
            return FALSE;
    return TRUE;
}

/* α and the learning rate of a training phase (docs/ALGORITHM.md §10.4, §10.3). */
static void phase_schedules(OzRun *run, const OzPhase *ph) {
    if (run->learner && ph->kind == OZ_PHASE_TRAIN) {
        const OzScenario *sc = run->sc;
        int E = sc->run.epochs, e = ph->epoch;
        double frac = E > 1 ? (double)e / (double)(E - 1) : 0.0;
        if (strcmp(sc->rule.alpha_schedule, "linear_e_over_E") == 0)
            frac = (double)e / (double)E;
        double alpha =
            strcmp(sc->rule.alpha_schedule, "fixed") == 0
                ? sc->rule.alpha_start
                : sc->rule.alpha_start + (sc->rule.alpha_end - sc->rule.alpha_start) * frac;
        double lr = sc->optimizer.lr;
        if (strcmp(sc->optimizer.schedule, "cosine") == 0)
            lr *= 0.5 * (1.0 + cos(G_PI * (double)e / (double)E));
        run->learner->alpha = (float)alpha;
        run->learner->lr = lr;
    }
}

static void begin_phase(OzRun *run, const OzPhase *ph) {
    const OzDataset *set = phase_set(run, ph);
    g_free(run->order);
    run->order = g_new(int, set->n);
    for (int i = 0; i < set->n; i++)
        run->order[i] = i;
    if (ph->kind == OZ_PHASE_TRAIN)
        oz_rng_shuffle(&run->rng_shuffle, run->order, set->n);
    run->cursor = 0;
    run->correct = run->seen = 0;
    run->loss_sum = 0.0;
    run->batches = 0;
    phase_schedules(run, ph);
    if (run->learner && ph->kind == OZ_PHASE_TRAIN)
        oz_learner_stats_reset(run->learner);
    oz_network_counters_clear(run->net);
    /* The learner's flush counters are per phase in the log, like the network's. */
    for (guint i = 0; run->learner && run->learner->stage && i < run->net->projs->len; i++)
        run->learner->stage[i].flushes_sparse = run->learner->stage[i].flushes_dense = 0;
    run->phase_started = (double)g_get_monotonic_time() / 1e6;
    oz_log_batch_free(run->spikes);
    run->spikes = oz_log_batch_new();
    if (ph->kind == OZ_PHASE_TEST)
        run->rng_input_test = run->rng_input;
    oz_hardware_begin_phase(run->net, (guint64)run->sc->run.seed, ph->kind == OZ_PHASE_TRAIN,
                            ph->epoch);
}

int *oz_run_order_for_phase(OzRun *run, guint phase_index, gsize *n) {
    g_return_val_if_fail(phase_index < run->phases->len, NULL);
    const OzPhase *ph = &g_array_index(run->phases, OzPhase, phase_index);
    const OzDataset *set = phase_set(run, ph);
    g_free(run->order);
    run->order = g_new0(int, set->n);
    *n = (gsize)set->n;
    return run->order;
}

void oz_run_continue_phase(OzRun *run, double elapsed_seconds) {
    const OzPhase *ph = oz_run_current_phase(run);
    g_return_if_fail(ph != NULL && run->cursor >= 0);
    phase_schedules(run, ph);
    run->phase_started = (double)g_get_monotonic_time() / 1e6 - elapsed_seconds;
    oz_log_batch_free(run->spikes);
    run->spikes = oz_log_batch_new();
}

void oz_run_skip_to_epoch(OzRun *run, int epoch) {
    g_return_if_fail(run->learner != NULL);
    run->phase_index = 0;
    run->samples_done = 0;
    while (run->phase_index < run->phases->len &&
           g_array_index(run->phases, OzPhase, run->phase_index).epoch < epoch) {
        const OzPhase *ph = &g_array_index(run->phases, OzPhase, run->phase_index);
        run->samples_done += ph->kind == OZ_PHASE_TRAIN ? run->train.n : run->test.n;
        run->phase_index++;
    }
    run->cursor = -1;
}

static void observe(OzPopulation *pop, gint64 tick, gpointer user_data) {
    OzRun *run = user_data;
    if (!run->recording || !run->record_pop[pop->id])
        return;
    OzFrame *f = oz_population_frame(pop, tick);
    if (f->kind != OZ_FRAME_SPIKES)
        return;
    const int *all = oz_frame_index(f, pop->active_samples, pop->n);
    const OzPhase *ph = oz_run_current_phase(run);
    int limit = run->sc->record.spike_samples - run->record_base;
    GString *list = g_string_sized_new(1024);
    for (int b = 0; b < MIN(limit, pop->active_samples); b++) {
        const int *idx = all + (gsize)b * pop->n;
        if (f->counts[b] == 0)
            continue;
        /* One row per (sample, tick): the neuron ids as a JSON array, expanded into one
         * spikes row each by the writer's statement.  Names are borrowed. */
        g_string_assign(list, "[");
        for (int k = 0; k < f->counts[b]; k++)
            g_string_append_printf(list, k ? ",%d" : "%d", idx[k]);
        g_string_append_c(list, ']');
        if (oz_dist_rank() > 0) {
            /* Rank 0 alone writes the log: it receives these at the phase's end. */
            if (!run->spike_text)
                run->spike_text = g_string_new(NULL);
            g_string_append_printf(run->spike_text, "%d %d %d %d %" G_GINT64_FORMAT " %s\n",
                                   ph->epoch, (int)ph->kind, run->record_base + b, pop->id, tick,
                                   list->str);
            continue;
        }
        oz_log_batch_add(run->spikes, OZ_ROW_SPIKE_LIST, "iSiSis", (gint64)ph->epoch,
                         phase_name(ph), (gint64)(run->record_base + b), pop->name, tick,
                         list->str);
    }
    g_string_free(list, TRUE);
}

/* ---- Several processes (docs/CLUSTER.md) ---- */

void oz_run_share(int active, int rank, int size, int *offset, int *rows) {
    int base = active / size, rest = active % size;
    *offset = rank * base + MIN(rank, rest);
    *rows = base + (rank < rest);
}

/* The phase's counters that each process counts for its own rows, in a fixed order: per
 * population, per projection, the learner's gradient chunks.  (The error path's MACs are
 * cumulative and handled apart.) */
static GPtrArray *phase_counters(OzRun *run) {
    GPtrArray *c = g_ptr_array_new();
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        g_ptr_array_add(c, &pop->spikes);
        g_ptr_array_add(c, &pop->neuron_updates);
    }
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        guint64 *f[] = {&p->synops,        &p->row_fetches,      &p->dense_macs,
                        &p->update_macs,   &p->spike_dense_macs, &p->packets_event,
                        &p->packets_dense, &p->packets_delta,    &p->delta_rows};
        for (gsize k = 0; k < G_N_ELEMENTS(f); k++)
            g_ptr_array_add(c, f[k]);
        if (run->learner && run->learner->stage) {
            g_ptr_array_add(c, &run->learner->stage[i].flushes_sparse);
            g_ptr_array_add(c, &run->learner->stage[i].flushes_dense);
        }
    }
    return c;
}

/* Rank 0 receives the spikes the other ranks recorded, as rows after its own. */
static void gather_spikes(OzRun *run) {
    const char *text = run->spike_text ? run->spike_text->str : "";
    gsize len = 0;
    g_autofree guint8 *all = oz_dist_gather_bytes((const guint8 *)text, strlen(text), 0, &len);
    if (run->spike_text)
        g_string_truncate(run->spike_text, 0);
    if (oz_dist_rank() != 0 || len == 0)
        return;
    g_autofree char *lines = g_strndup((const char *)all, len);
    g_auto(GStrv) rows = g_strsplit(lines, "\n", -1);
    for (char **r = rows; *r && **r; r++) {
        int epoch = 0, kind = 0, sample = 0, pop = 0, used = 0;
        gint64 tick = 0;
        if (sscanf(*r, "%d %d %d %d %" G_GINT64_FORMAT " %n", &epoch, &kind, &sample, &pop, &tick,
                   &used) != 5 ||
            pop < 0 || (guint)pop >= run->net->pops->len)
            g_error("spike rows from another rank are malformed: %s", *r);
        const OzPhase ph = {(OzPhaseKind)kind, epoch};
        OzPopulation *p = g_ptr_array_index(run->net->pops, pop);
        oz_log_batch_add(run->spikes, OZ_ROW_SPIKE_LIST, "iSiSis", (gint64)epoch, phase_name(&ph),
                         (gint64)sample, p->name, tick, *r + used);
    }
}

/* Every counter of the phase as the sum over the processes.  saved (length: the counters,
 * then one per hidden population) receives this process's own values, for restore_counters;
 * NULL: they are not kept. */
static void sum_counters(OzRun *run, gint64 *saved) {
    g_autoptr(GPtrArray) c = phase_counters(run);
    guint nh = run->learner ? run->learner->hidden->len : 0;
    g_autofree gint64 *v = g_new(gint64, c->len + nh);
    for (guint i = 0; i < c->len; i++)
        v[i] = (gint64) * (guint64 *)c->pdata[i];
    for (guint k = 0; k < nh; k++) {
        OzHidden *h = g_ptr_array_index(run->learner->hidden, k);
        v[c->len + k] = (gint64)(h->path.macs - h->macs_at_phase_start);
    }
    if (saved)
        memcpy(saved, v, sizeof(gint64) * (c->len + nh));
    oz_dist_sum_i64(v, c->len + nh);
    for (guint i = 0; i < c->len; i++)
        *(guint64 *)c->pdata[i] = (guint64)v[i];
    for (guint k = 0; k < nh; k++) {
        OzHidden *h = g_ptr_array_index(run->learner->hidden, k);
        h->path.macs = h->macs_at_phase_start + (guint64)v[c->len + k];
    }
}

/* Back to this process's own counts after the phase's rows were made (the error path's
 * MACs restart from them). */
static void restore_counters(OzRun *run, const gint64 *saved, const guint64 *macs) {
    g_autoptr(GPtrArray) c = phase_counters(run);
    for (guint i = 0; i < c->len; i++)
        *(guint64 *)c->pdata[i] = (guint64)saved[i];
    for (guint k = 0; run->learner && k < run->learner->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(run->learner->hidden, k);
        h->path.macs = h->macs_at_phase_start = macs[k];
    }
}

void oz_run_gather_phase(OzRun *run) {
    if (oz_dist_size() == 1)
        return;
    gather_spikes(run);
    sum_counters(run, NULL);
}

void oz_run_split_counters(OzRun *run) {
    if (oz_dist_rank() == 0)
        return;
    g_autoptr(GPtrArray) c = phase_counters(run);
    for (guint i = 0; i < c->len; i++)
        *(guint64 *)c->pdata[i] = 0;
    for (guint k = 0; run->learner && k < run->learner->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(run->learner->hidden, k);
        h->path.macs = h->macs_at_phase_start;
    }
}

/* The phase's rows; under several processes from the sums over them (rank 0 writes them). */
static OzLogBatch *phase_rows_all(OzRun *run, const OzPhase *ph) {
    if (oz_dist_size() == 1)
        return phase_rows(run, ph);
    g_autoptr(GPtrArray) c = phase_counters(run);
    guint nh = run->learner ? run->learner->hidden->len : 0;
    g_autofree gint64 *saved = g_new(gint64, c->len + nh);
    g_autofree guint64 *macs = g_new(guint64, nh + 1);
    for (guint k = 0; k < nh; k++)
        macs[k] = ((OzHidden *)g_ptr_array_index(run->learner->hidden, k))->path.macs;
    gather_spikes(run);
    sum_counters(run, saved);
    OzLogBatch *rows = phase_rows(run, ph);
    restore_counters(run, saved, macs);
    return rows;
}

static OzLogBatch *phase_rows(OzRun *run, const OzPhase *ph) {
    OzLogBatch *b = g_steal_pointer(&run->spikes);
    const char *phase = phase_name(ph);
    gint64 samples = run->seen;
    gint64 window = run->net->window_ticks;
    if (!run->learner)
        oz_log_batch_add(b, OZ_ROW_EPOCH, "isiindnnd", (gint64)ph->epoch, phase, samples,
                         (gint64)run->sc->run.ticks, run->last_accuracy, run->phase_seconds);
    else if (ph->kind == OZ_PHASE_TRAIN)
        oz_log_batch_add(b, OZ_ROW_EPOCH, "isiiddddd", (gint64)ph->epoch, phase, samples,
                         (gint64)run->sc->run.ticks, run->last_loss, run->last_accuracy,
                         run->learner->lr, (double)run->learner->alpha, run->phase_seconds);
    else
        oz_log_batch_add(b, OZ_ROW_EPOCH, "isiiddnnd", (gint64)ph->epoch, phase, samples,
                         (gint64)run->sc->run.ticks, run->last_loss, run->last_accuracy,
                         run->phase_seconds);
    if (run->sc->record.firing_rates) {
        for (guint i = 0; i < run->net->pops->len; i++) {
            OzPopulation *p = g_ptr_array_index(run->net->pops, i);
            gint64 neuron_ticks = samples * (gint64)p->n * (window - p->start_tick);
            gboolean spiking = emits_spikes(run, p);
            if (spiking)
                oz_log_batch_add(b, OZ_ROW_FIRING_RATE, "issiidi", (gint64)ph->epoch, phase,
                                 p->name, (gint64)p->spikes, neuron_ticks,
                                 neuron_ticks ? (double)p->spikes / (double)neuron_ticks : 0.0,
                                 (gint64)p->neuron_updates);
            else
                oz_log_batch_add(b, OZ_ROW_FIRING_RATE, "issiini", (gint64)ph->epoch, phase,
                                 p->name, (gint64)0, neuron_ticks, (gint64)p->neuron_updates);
        }
    }
    if (run->learner && ph->kind == OZ_PHASE_TRAIN) {
        /* The error path's cost per hidden population (the paper's Table 5), and which
         * of them fired no spike. */
        if (!run->silent_hidden)
            run->silent_hidden = g_string_new(NULL);
        g_string_truncate(run->silent_hidden, 0);
        for (guint k = 0; k < run->learner->hidden->len; k++) {
            OzHidden *h = g_ptr_array_index(run->learner->hidden, k);
            oz_log_batch_add(b, OZ_ROW_TRAINING_OPS, "isii", (gint64)ph->epoch, h->pop->name,
                             samples, (gint64)(h->path.macs - h->macs_at_phase_start));
            h->macs_at_phase_start = h->path.macs;
            if (samples > 0 && h->pop->spikes == 0 && emits_spikes(run, h->pop))
                g_string_append_printf(run->silent_hidden, "%s%s",
                                       run->silent_hidden->len ? ", " : "", h->pop->name);
        }
    }
    if (run->learner && run->learner->stats && ph->kind == OZ_PHASE_TRAIN) {
        for (guint i = 0; i < run->learner->stats->len; i++) {
            OzGradStats *st = &g_array_index(run->learner->stats, OzGradStats, i);
            if (st->count == 0)
                continue;
            gsize sz = st->proj->nw;
            double m2 = 0;
            for (gsize j = 0; j < sz; j++)
                m2 += st->m2[j];
            double c = (double)st->count;
            if (st->count > 1)
                oz_log_batch_add(b, OZ_ROW_GRAD_STATS, "issidddd", (gint64)ph->epoch,
                                 st->hidden->pop->name, st->proj->name, (gint64)st->count,
                                 st->cos_sum / c, st->norm_sum / c, st->bp_norm_sum / c,
                                 m2 / (c * (double)sz));
            else
                oz_log_batch_add(b, OZ_ROW_GRAD_STATS, "issidddn", (gint64)ph->epoch,
                                 st->hidden->pop->name, st->proj->name, (gint64)st->count,
                                 st->cos_sum / c, st->norm_sum / c, st->bp_norm_sum / c);
        }
    }
    if (run->sc->record.synops) {
        for (guint i = 0; i < run->net->projs->len; i++) {
            OzProjection *p = g_ptr_array_index(run->net->projs, i);
            const GradStage *g =
                run->learner && run->learner->stage ? &run->learner->stage[p->id] : NULL;
            oz_log_batch_add(
                b, OZ_ROW_SYNOPS, "issiiiiiiiiiiiii", (gint64)ph->epoch, phase, p->name, samples,
                (gint64)p->synops, (gint64)p->row_fetches, (gint64)p->dense_macs, (gint64)0,
                (gint64)p->update_macs, (gint64)p->spike_dense_macs, (gint64)p->packets_event,
                (gint64)p->packets_dense, (gint64)p->packets_delta, (gint64)p->delta_rows,
                (gint64)(g ? g->flushes_sparse : 0), (gint64)(g ? g->flushes_dense : 0));
        }
    }
    return b;
}

/* NaN and ±Inf are the floats whose exponent bits are all ones.  The bits are copied
 * out (memcpy, which compiles to a plain load): reading a float through a guint32
 * pointer would break C's aliasing rule.  One pass without an early exit, so the loop
 * vectorises. */
static gboolean all_finite(const float *x, gsize n) {
    guint32 bad = 0;
    for (gsize j = 0; j < n; j++) {
        guint32 bits;
        memcpy(&bits, &x[j], sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* What a fault in epoch leaves behind, for its message: "the last good checkpoint is
 * epoch N", or that there is none yet.  (transfer full) */
static char *last_good(int epoch) {
    return epoch > 0 ? g_strdup_printf("the last good checkpoint is epoch %d", epoch - 1)
                     : g_strdup("no epoch finished, so there is no checkpoint");
}

/* NaN or Inf in the loss or any parameter, or a population firing on (nearly) every
 * neuron-tick for runaway_batches batches in a row, stops the run (the
 * simulator's own guards, not part of the algorithm; docs/RELIABILITY.md; issue 6). */
static void check_guards(OzRun *run, const OzPhase *ph, const gint64 *spiked, int active) {
    const OzScenario *sc = run->sc;
    g_autofree char *good = last_good(ph->epoch);
    if (run->learner && !isfinite(run->learner->loss_sum)) {
        g_set_error(&run->fault, OZ_RUN_ERROR, OZ_RUN_ERROR_NUMERIC,
                    "the loss became %s in epoch %d (batch starting at sample %d); %s",
                    isnan(run->learner->loss_sum) ? "NaN" : "infinite", ph->epoch, run->cursor,
                    good);
        return;
    }
    if (run->learner && ph->kind == OZ_PHASE_TRAIN) {
        for (guint i = 0; i < run->net->projs->len; i++) {
            OzProjection *p = g_ptr_array_index(run->net->projs, i);
            if (!all_finite(p->w, p->nw)) {
                g_set_error(&run->fault, OZ_RUN_ERROR, OZ_RUN_ERROR_NUMERIC,
                            "weights of projection %s are no longer finite in epoch %d; %s",
                            p->name, ph->epoch, good);
                return;
            }
        }
    }
    if (sc->run.runaway_batches <= 0 || ph->kind != OZ_PHASE_TRAIN)
        return;
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        /* Spiking populations the network computes (not the data source). */
        if (oz_neuron_has(pop, OZ_NEURON_SOURCE) || oz_neuron_emits(pop) != OZ_EMITS_SPIKES)
            continue;
        double cells = (double)active * pop->n * (double)(run->net->window_ticks - pop->start_tick);
        double rate = (double)spiked[i] / cells;
        run->runaway[i] = rate >= sc->run.max_rate ? run->runaway[i] + 1 : 0;
        if (run->runaway[i] >= sc->run.runaway_batches) {
            g_set_error(&run->fault, OZ_RUN_ERROR, OZ_RUN_ERROR_NUMERIC,
                        "runaway firing: population %s spiked on %.1f%% of its neuron-ticks for "
                        "%d batches in a row ([run] max_rate = %g, runaway_batches = %d); %s",
                        pop->name, 100.0 * rate, run->runaway[i], sc->run.max_rate,
                        sc->run.runaway_batches, good);
            return;
        }
    }
}

gboolean oz_run_step(OzRun *run, OzLogBatch **rows) {
    *rows = NULL;
    const OzPhase *ph = oz_run_current_phase(run);
    if (!ph || run->fault)
        return FALSE;
    if (run->cursor < 0)
        begin_phase(run, ph);
    const OzDataset *set = phase_set(run, ph);
    int active = MIN(run->batch, set->n - run->cursor);
    /* This process's rows of the batch: all of them, or under MPI its share (the other
     * processes step theirs; docs/CLUSTER.md). */
    int off = 0, mine = active;
    oz_run_share(active, oz_dist_rank(), oz_dist_size(), &off, &mine);
    const int *rows_order = run->order + run->cursor + off;
    /* The data set writes the batch's rows into the input (values or spike views). */
    set->ops->fill(set, rows_order, mine, run->input);
    gboolean training = ph->kind == OZ_PHASE_TRAIN;
    oz_network_set_row_offset(run->net, off); /* before the reset draws dropout masks */
    oz_network_reset(run->net, mine, training);
    run->record_base = run->cursor + off;
    if (run->learner && training && strcmp(run->sc->rule.alpha_schedule, "linear_iteration") == 0) {
        const OzScenario *sc = run->sc;
        gint64 per_epoch = (set->n + run->batch - 1) / run->batch;
        gint64 total = per_epoch * sc->run.epochs;
        gint64 it = per_epoch * ph->epoch + run->cursor / run->batch;
        double frac = total > 1 ? (double)it / (double)(total - 1) : 0.0;
        run->learner->alpha =
            (float)(sc->rule.alpha_start + (sc->rule.alpha_end - sc->rule.alpha_start) * frac);
    }
    if (run->learner) {
        run->learner->diag = training && run->learner->stats &&
                             (run->cursor / run->batch) % run->sc->record.grad_stats_every == 0;
        for (int b = 0; b < mine; b++)
            run->labels[b] = set->labels[rows_order[b]];
        run->learner->batch_rows = active;
        oz_learner_begin(run->learner, run->labels, training);
    }
    run->recording = !training && is_last_test(run) && run->cursor < run->sc->record.spike_samples;
    guint64 spikes_before[run->net->pops->len];
    for (guint i = 0; i < run->net->pops->len; i++)
        spikes_before[i] = ((OzPopulation *)g_ptr_array_index(run->net->pops, i))->spikes;
    oz_network_run_window(run->net);
    run->recording = FALSE;

    /* The batch's correct answers and spikes, and (below) its loss: sums over the processes
     * under MPI, so the guards decide alike on every rank. */
    const guint np = run->net->pops->len;
    gint64 counts[np + 1];
    counts[0] = 0;
    const OzPopulation *ro = run->readout;
    for (int b = 0; b < mine; b++) {
        const float *score = ro->osum + (gsize)b * ro->n;
        int best = 0;
        for (int c = 1; c < ro->n; c++)
            if (score[c] > score[best])
                best = c;
        counts[0] += best == set->labels[rows_order[b]];
    }
    for (guint i = 0; i < np; i++)
        counts[1 + i] = (gint64)(((OzPopulation *)g_ptr_array_index(run->net->pops, i))->spikes -
                                 spikes_before[i]);
    oz_dist_sum_i64(counts, np + 1);
    if (run->learner)
        oz_dist_sum_f64(&run->learner->loss_sum, 1);
    check_guards(run, ph, counts + 1, active);
    if (run->fault)
        return FALSE;
    run->correct += counts[0];
    run->seen += active;
    if (run->learner) {
        run->loss_sum += run->learner->loss_sum;
        run->batches++;
    }
    run->cursor += active;
    run->samples_done += active;
    if (run->cursor >= set->n) {
        run->phase_seconds = (double)g_get_monotonic_time() / 1e6 - run->phase_started;
        run->last_accuracy = oz_run_running_accuracy(run);
        run->last_loss = run->batches ? run->loss_sum / (double)run->batches : 0.0;
        *rows = phase_rows_all(run, ph);
        if (run->learner && ph->kind == OZ_PHASE_TEST)
            oz_checkpoint_add_rows(run, ph->epoch, run->sc->record.checkpoints_all, *rows);
        run->phase_index++;
        run->cursor = -1;
    }
    return TRUE;
}

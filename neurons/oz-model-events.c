/* oz-model-events.c — the spike input of event data (docs/EVENTS.md, "The spike input").
 *
 * A source fed binned events (OZ_NEURON_SPIKE_SOURCE): the run points pop->spike_in[b] at
 * sample b's binned frames (OzSpikeSample, a view into the data set's OzSpikeSet) and the
 * population's tick-t output is frame t of the sample, shape C×H×W (2×34×34 for N-MNIST),
 * one neuron per cell.  A frame is a spike packet: the per-sample lists are the frame's
 * cells (already in ascending order, so no index is built), sent through the event path
 * one weight row per entry.  In counts mode a cell of c events is c synaptic events: its
 * dense value s is c, its list entry carries mult = c (the row is added c times over, c ×
 * out-degree SynOps), and the frame's nspikes counts events.  Binary frames carry mult = 1
 * (1·w adds exactly w, so the sums equal a plain spike packet's).  Ticks from the sample's T on
 * (the drain), and rows beyond the batch's samples, are silent.
 *
 * The first layer's presynaptic factor is the emitted frame itself (the trace is s: the OTTT
 * convention of the image input, docs/ALGORITHM.md §5.4), so in counts mode the weight
 * gradient sees c; with [rule] first_layer_factor = trace it is the λ-trace of the frames.
 *
 * Each frame keeps, in its lists, exactly the cells its s holds, so the next use of the
 * frame (depth ticks later) clears those cells only: a step costs O(cells) plus, with the
 * λ-trace, one pass over (B, n).
 *
 * NIR (docs/INTEROP.md): the population is an Input node of its shape whose metadata says
 * how the run binned the events (the run's [data] keys as the run log holds them, and T), so
 * another tool can feed the same frames; events have no normalisation, so nothing is folded
 * into the first layer.  The image input claims Input too: this model is taken on import
 * only where the node's metadata or the scenario names it (named_only).
 *
 * Deliberately not here: reading, binning or choosing the samples (io/oz-dataset-*.c and the
 * run), learning (no surrogate: not learnable), probes (the input is never probed).
 */
#include "neurons/oz-neuron.h"

#include <stddef.h>
#include <string.h>

#define P(f) offsetof(OzPopulationParams, f)
static const OzParamSpec events_keys[] = {
    {"lambda", OZ_PARAM_FLOAT, P(lambda), 0, 1, NULL, "0.5",
     "λ of the input's trace, when the rule asks for it ([rule] first_layer_factor = trace)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P

static void events_alloc(OzPopulation *pop) {
    pop->spike_in = g_new0(OzSpikeSample, pop->batch);
}

/* s holds the frame's cells (count or 1), mult the count per list entry; the trace is s
 * unless the λ-trace was asked for. */
static void events_frame_alloc(OzPopulation *pop, OzFrame *f) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    f->mult = g_new0(float, bn);
    f->s = g_new0(float, bn);
    if (!pop->input_trace)
        f->trace = f->s;
}

static void step_events(OzPopulation *pop, gint64 tick) {
    OzFrame *f = oz_population_frame(pop, tick);
    const int n = pop->n, bsz = pop->active_samples;
    /* Clear what the frame held when it was last written: exactly its lists. */
    for (int b = 0; b < bsz; b++) {
        float *s = f->s + (gsize)b * n;
        const int *idx = f->idx + (gsize)b * n;
        for (int k = 0; k < f->counts[b]; k++)
            s[idx[k]] = 0.0f;
        f->counts[b] = 0;
    }
    f->tick = tick;
    f->value = 1.0f;
    f->indexed = TRUE;
    guint64 events = 0;
    if (tick < pop->input_ticks) {
        for (int b = 0; b < bsz; b++) {
            const OzSpikeSample *in = &pop->spike_in[b];
            if (tick >= in->ticks)
                continue;
            const guint64 lo = in->tick_off[tick], hi = in->tick_off[tick + 1];
            float *s = f->s + (gsize)b * n, *mult = f->mult + (gsize)b * n;
            int *idx = f->idx + (gsize)b * n;
            int cnt = 0;
            for (guint64 k = lo; k < hi; k++) {
                const int cell = in->cell[k];
                const float c = in->count ? (float)in->count[k] : 1.0f;
                g_assert(cell < n); /* the run checked the set's shape against ours */
                s[cell] = c;
                idx[cnt] = cell;
                mult[cnt] = c;
                cnt++;
                events += in->count ? in->count[k] : 1u;
            }
            f->counts[b] = cnt;
        }
    }
    f->kind = tick < pop->input_ticks ? OZ_FRAME_SPIKES : OZ_FRAME_EMPTY;
    f->nspikes = events;
    pop->spikes += events;
    if (pop->input_trace) {
        const float *prev =
            tick > pop->start_tick ? oz_population_frame(pop, tick - 1)->trace : pop->zero;
        const float lam = pop->p.lambda;
        for (gsize i = 0, sz = (gsize)bsz * n; i < sz; i++)
            f->trace[i] = lam * prev[i] + f->s[i];
    }
}

static OzEmits events_emits(const OzPopulation *pop) {
    (void)pop;
    return OZ_EMITS_SPIKES;
}

/* What another tool feeds the Input node (the graph's and the node's metadata). */
static const char events_feed[] =
    "binned events: at tick t < T, frame t of the sample, a C,H,W tensor (channel = "
    "polarity, OFF 0, ON 1; cell c*H*W + y*W + x) holding 1 where an event fell in bin t "
    "(values = binary) or the number of events, at most 255 (values = counts), binned as "
    "opzosim_bin, opzosim_bin_us, opzosim_stabilise, opzosim_from_first_event say; zeros "
    "after T; no normalisation";

/* The [data] keys that say how the events were binned, written as metadata opzosim_KEY where
 * the run logged them: numbers as numbers, choices as text. */
static const struct {
    const char *key;
    gboolean number;
} events_binning_keys[] = {{"dataset", FALSE}, {"bin", FALSE},       {"bin_us", TRUE},
                           {"values", FALSE},  {"stabilise", FALSE}, {"from_first_event", FALSE},
                           {"size", TRUE}};

static char *events_nir_export(OzNirExport *ex, const OzPopulation *pop, GError **error) {
    (void)error;
    OzNirNode *n = oz_nir_export_input_node(ex, pop);
    oz_nir_field_string(n->meta, "opzosim_model", pop->ops->name);
    oz_nir_field_scalar(n->meta, "opzosim_T", OZ_NIR_I64, ex->ticks);
    for (gsize k = 0; k < G_N_ELEMENTS(events_binning_keys); k++) {
        const char *v = oz_nir_export_text(ex, "data", events_binning_keys[k].key);
        if (!v)
            continue;
        g_autofree char *name = g_strconcat("opzosim_", events_binning_keys[k].key, NULL);
        if (events_binning_keys[k].number)
            oz_nir_field_scalar(n->meta, name, OZ_NIR_F64, g_ascii_strtod(v, NULL));
        else
            oz_nir_field_string(n->meta, name, v);
    }
    oz_nir_field_string(n->meta, "opzosim_feed", events_feed);
    ex->feeds_values = FALSE;
    ex->encoding = "events";
    ex->feed = events_feed;
    return g_strdup("input");
}

/* The Input node's shape, which the event data set's frames must have (the run checks). */
static gboolean events_nir_import(OzNirPopImport *im, GError **error) {
    return oz_nir_import_input_shape(im, error);
}

static const char *const events_nir_types[] = {"Input", NULL};
static const OzNeuronNir events_nir = {
    .node_types = events_nir_types,
    .named_only = TRUE,
    .import_node = events_nir_import,
    .export_node = events_nir_export,
};

const OzNeuronOps oz_neuron_model_events = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "events",
    .help = "the spike input of an event data set: tick t emits the sample's binned frame t "
            "(shape C,H,W; a cell of c events is c synaptic events)",
    .state_size = 0,
    .params_size = 0,
    .caps = OZ_NEURON_SOURCE | OZ_NEURON_SPIKE_SOURCE,
    .common_params = events_keys,
    .alloc = events_alloc,
    .frame_alloc = events_frame_alloc,
    .step = step_events,
    .emits = events_emits,
    .nir = &events_nir,
};

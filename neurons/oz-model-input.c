/* oz-model-input.c — the input encoder (docs/ALGORITHM.md §2.1).
 *
 * A source: the run writes each sample's values into pop->x (pixels normalised for the
 * current encoding, probabilities pixel/255 for Bernoulli) and the population emits them on
 * the T input ticks of a window, nothing after.  Encodings:
 *   current   — x itself every tick, a dense frame equal at every tick (DENSE_STATIC), so a
 *               projection computes its current once per sample;
 *   bernoulli — per neuron and tick a spike with probability x (x ≤ 0 never, x ≥ 1 always),
 *               drawn from the population's stream (the run's `input` stream).
 *
 * The input's trace is its raw value: the first layer's weight gradient uses x[t] itself,
 * not a trace of it (docs/ALGORITHM.md §5.4, OTTT convention), unless the rule asks for the
 * λ-trace (first_layer_factor = trace; oz_population_enable_input_trace).
 *
 * Deliberately not here: reading or normalising data (sim/oz-run.c), learning (an input has
 * no surrogate: it is not learnable).
 */
#include "neurons/oz-neuron.h"

#include <stddef.h>
#include <string.h>

#define P(f) offsetof(OzPopulationParams, f)
static const OzParamSpec input_keys[] = {
    {"encoding", OZ_PARAM_ENUM, P(encoding), 0, 0, "current|bernoulli", "current",
     "the image as a constant current, or Bernoulli spikes with p = pixel/255"},
    {"lambda", OZ_PARAM_FLOAT, P(lambda), 0, 1, NULL, "0.5",
     "λ of the input's trace, when the rule asks for it ([rule] first_layer_factor = trace)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P
_Static_assert(OZ_ENCODING_CURRENT == 0 && OZ_ENCODING_BERNOULLI == 1,
               "encoding choices are in the order of OzEncoding");

static void input_alloc(OzPopulation *pop) {
    pop->x = g_new0(float, (gsize)pop->batch *(gsize)pop->n);
}

/* The static-current input emits its x buffer itself; nothing to copy.  Its trace is its
 * emitted value unless a λ-trace was asked for (see the file comment). */
static void input_frame_alloc(OzPopulation *pop, OzFrame *f) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    f->s = pop->p.encoding == OZ_ENCODING_CURRENT ? pop->x : g_new0(float, bn);
    if (!pop->input_trace)
        f->trace = f->s;
}

static void step_input(OzPopulation *pop, gint64 tick) {
    OzFrame *f = oz_population_frame(pop, tick);
    f->tick = tick;
    int n = pop->n, bsz = pop->active_samples;
    if (tick >= pop->input_ticks) {
        f->kind = OZ_FRAME_EMPTY;
        f->nspikes = 0;
        return;
    }
    if (pop->p.encoding == OZ_ENCODING_CURRENT) {
        f->kind = OZ_FRAME_DENSE_STATIC;
        f->s = pop->x;
        f->nspikes = 0;
        if (pop->input_trace) {
            const float *prev =
                tick > pop->start_tick ? oz_population_frame(pop, tick - 1)->trace : pop->zero;
            const float lam = pop->p.lambda;
            for (gsize i = 0, sz = (gsize)bsz * n; i < sz; i++)
                f->trace[i] = lam * prev[i] + pop->x[i];
        }
        return;
    }
    /* Bernoulli rate code: spike with probability x (x ≤ 0 never, x ≥ 1 always).  One key
     * per tick from the input stream; each sample draws from its own sub-stream of it,
     * indexed by its row in the global mini-batch, so a batch split between processes
     * (docs/CLUSTER.md) draws the same spikes as one process. */
    const guint64 key = oz_rng_next(pop->rng);
    guint64 total = 0;
    for (int b = 0; b < bsz; b++) {
        const float *x = pop->x + (gsize)b * n;
        float *s = f->s + (gsize)b * n;
        int *idx = f->idx + (gsize)b * n;
        int cnt = 0;
        OzRng rng;
        oz_rng_init_sub(&rng, key, (guint64)pop->row_offset + (guint64)b);
        for (int i = 0; i < n; i++) {
            float spike = oz_rng_uniform(&rng) < (double)x[i] ? 1.0f : 0.0f;
            s[i] = spike;
            idx[cnt] = i;
            cnt += spike != 0.0f;
        }
        f->counts[b] = cnt;
        total += (guint64)cnt;
    }
    f->kind = OZ_FRAME_SPIKES;
    f->indexed = TRUE;
    f->value = 1.0f;
    f->nspikes = total;
    pop->spikes += total;
}

static OzEmits input_emits(const OzPopulation *pop) {
    return pop->p.encoding == OZ_ENCODING_BERNOULLI ? OZ_EMITS_SPIKES : OZ_EMITS_DENSE;
}

/* NIR: the Input node, named `input`, with the population's shape (C,H,W or N).  A current
 * encoding sends the data's values, so the exporter may fold the normalisation into the
 * first layer; the encoding goes into the graph's metadata. */
static char *input_nir_export(OzNirExport *ex, const OzPopulation *pop, GError **error) {
    (void)error;
    oz_nir_export_input_node(ex, pop);
    ex->feeds_values = pop->p.encoding == OZ_ENCODING_CURRENT;
    ex->encoding = ex->feeds_values ? "current" : "bernoulli";
    return g_strdup("input");
}

/* The Input node's shape; the encoding this project's metadata names (current without, or
 * when it names no encoding of this model: a file exported from the spike input of event
 * data, run on images because the scenario says model = input). */
static gboolean input_nir_import(OzNirPopImport *im, GError **error) {
    if (!oz_nir_import_input_shape(im, error))
        return FALSE;
    const char *enc = oz_nir_meta_text(im->graph_meta, "opzosim_encoding");
    g_string_append_printf(im->keys, "encoding = %s\n",
                           g_strcmp0(enc, "bernoulli") == 0 ? "bernoulli" : "current");
    return TRUE;
}

static const char *const input_nir_types[] = {"Input", NULL};
static const OzNeuronNir input_nir = {
    .node_types = input_nir_types,
    .import_node = input_nir_import,
    .export_node = input_nir_export,
};

const OzNeuronOps oz_neuron_model_input = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "input",
    .help = "the encoder: the data set's sample as a current or as Bernoulli spikes",
    .state_size = 0,
    .params_size = 0,
    .caps = OZ_NEURON_SOURCE,
    .common_params = input_keys,
    .alloc = input_alloc,
    .frame_alloc = input_frame_alloc,
    .step = step_input,
    .emits = input_emits,
    .nir = &input_nir,
};

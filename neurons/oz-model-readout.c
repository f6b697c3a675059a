/* oz-model-readout.c — the non-spiking readout (docs/ALGORITHM.md §2.6).
 *
 * o[t] = I[t] + b every tick, and the class score Σ_t o[t] over the T ticks that start at
 * its path delay (sum_from, sum_to: set by the network).  The loss reads o; the run reads
 * the score.  It emits nothing, so no projection leaves it.
 *
 * Deliberately not here: the loss and the readout's delta rule (plasticity/oz-learner.c).
 */
#include "neurons/oz-neuron.h"

#include <stddef.h>
#include <string.h>

#define P(f) offsetof(OzPopulationParams, f)
static const OzParamSpec readout_keys[] = {
    {"bias", OZ_PARAM_BOOL, P(bias), 0, 0, NULL, "true", "learnable bias b"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P

static void readout_alloc(OzPopulation *pop) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    pop->o = g_new0(float, bn);
    pop->osum = g_new0(float, bn);
    pop->bias = g_new0(float, pop->n);
    pop->bias_grad = g_new0(float, pop->n);
}

static void readout_reset(OzPopulation *pop) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    memset(pop->osum, 0, bn * sizeof(float));
    memset(pop->o, 0, bn * sizeof(float));
}

static void step_readout(OzPopulation *pop, gint64 tick) {
    const int n = pop->n;
    const gboolean in_window = tick >= pop->sum_from && tick < pop->sum_to;
    for (int b = 0; b < pop->batch; b++) {
        gsize off = (gsize)b * n;
        for (int i = 0; i < n; i++) {
            float oi = pop->acc[off + i] + (pop->p.bias ? pop->bias[i] : 0.0f);
            pop->o[off + i] = oi;
            if (in_window)
                pop->osum[off + i] += oi;
            pop->acc[off + i] = 0.0f;
        }
    }
    pop->neuron_updates += (guint64)pop->active_samples * (guint64)n;
}

static OzEmits readout_emits(const OzPopulation *pop) {
    (void)pop;
    return OZ_EMITS_NOTHING;
}

/* NIR: the Output node, of shape (n); the readout's o[t] = I[t] + b is what an Affine into
 * Output computes, so the bias rides on that Affine (oz_nir_export_place_biases) and
 * exactly in the metadata. */
static char *readout_nir_export(OzNirExport *ex, const OzPopulation *pop, GError **error) {
    (void)error;
    OzNirNode *out = oz_nir_node_add(ex->graph, "output", "Output");
    double on = pop->n;
    gsize one = 1;
    oz_nir_field_add(out->fields, "shape", OZ_NIR_I64, 1, &one, &on);
    oz_nir_exact_bias(out->meta, pop);
    return g_strdup("output");
}

/* The Output node's shape is the readout's size; a spiking layer straight into it makes the
 * importer size it to that layer instead. */
static gboolean readout_nir_import(OzNirPopImport *im, GError **error) {
    (void)error;
    const OzNirField *osh = oz_nir_field_find(im->node->fields, "shape");
    gsize on = 1;
    for (gsize d = 0; osh && osh->v && d < osh->n; d++)
        on *= (gsize)osh->v[d];
    oz_nir_import_shape(im, &on, 1);
    return TRUE;
}

static const char *const readout_nir_types[] = {"Output", NULL};
static const OzNeuronNir readout_nir = {
    .node_types = readout_nir_types,
    .import_node = readout_nir_import,
    .export_node = readout_nir_export,
};

const OzNeuronOps oz_neuron_model_readout = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "readout",
    .help = "non-spiking output: o[t] = I[t] + b, class score sum_t o[t]",
    .state_size = 0,
    .params_size = 0,
    .caps = OZ_NEURON_READOUT,
    .common_params = readout_keys,
    .alloc = readout_alloc,
    .reset = readout_reset,
    .step = step_readout,
    .emits = readout_emits,
    .nir = &readout_nir,
};

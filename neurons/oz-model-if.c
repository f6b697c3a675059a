/* oz-model-if.c — the integrate-and-fire model: LIF without a leak.
 *
 * u = v + I + b, a spike when u ≥ V_th (a tie fires), soft reset v = u − V_th·s, dropout on
 * the transmitted spike.  The membrane keeps its charge between inputs, as on most
 * neuromorphic hardware; the presynaptic trace still decays (â = 0.5·â + mask·s), since a
 * trace that never forgets would make the first layer's factor grow with the window.  The
 * tick is the shared threshold engine's (oz-threshold.c).
 */
#include "neurons/oz-threshold-private.h"

#include <stddef.h>

#define P(f) offsetof(OzPopulationParams, f)
static const OzParamSpec if_keys[] = {
    {"v_th", OZ_PARAM_FLOAT, P(v_th), 1e-6, 1e6, NULL, "1", "firing threshold"},
    {"dropout", OZ_PARAM_FLOAT, P(dropout), 0, 0.99, NULL, "0",
     "probability of silencing a neuron for a whole sample (training only)"},
    {"bias", OZ_PARAM_BOOL, P(bias), 0, 0, NULL, "true", "learnable bias b"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P

/* No leak; the trace decays by one half per tick. */
static void if_prepare(OzPopulation *pop) {
    oz__threshold_prepare(pop, 1.0f, 0.5f);
}

/* An IF node, docs/INTEROP.md. */
static gboolean if_nir_import(OzNirPopImport *im, GError **error) {
    return oz__threshold_nir_import(im, FALSE, error);
}

static const char *const if_nir_types[] = {"IF", NULL};
static const OzNeuronNir if_nir = {
    .node_types = if_nir_types,
    .import_node = if_nir_import,
    .export_node = oz__threshold_nir_export,
    .export_bias = oz__threshold_nir_export_bias,
    .export_scale = oz__threshold_nir_scale,
};

const OzNeuronOps oz_neuron_model_if = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "if",
    .help = "integrate-and-fire (no leak): u = v + I + b, spike when u >= V_th, soft or hard reset",
    .state_size = sizeof(OzThresholdState),
    .params_size = sizeof(OzThresholdParams),
    .caps = OZ_NEURON_TRACE_OF_SPIKES,
    .common_params = if_keys,
    .params = oz__threshold_reset_keys,
    .configure = oz__threshold_configure,
    .alloc = oz__threshold_alloc,
    .prepare = if_prepare,
    .frame_alloc = oz__threshold_frame_alloc,
    .reset = oz__threshold_reset,
    .step = oz__threshold_step,
    .emits = oz__threshold_emits,
    .surrogate = oz__threshold_surrogate,
    .clean_spikes = oz__threshold_clean_spikes,
    .trace_decay = oz__threshold_trace_decay,
    .nir = &if_nir,
};

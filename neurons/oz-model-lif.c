/* oz-model-lif.c — the leaky integrate-and-fire model (docs/ALGORITHM.md §2.2–2.5).
 *
 * u = λv + I + b, a spike when u ≥ V_th (a tie fires), reset (soft: v = u − V_th·s; hard:
 * v = v_reset), dropout on the transmitted spike, presynaptic trace â = λâ + mask·s.  The tick
 * itself is the shared threshold engine's (oz-threshold.c); this file says which keys LIF takes and
 * what its leak and trace decay are.
 */
#include "neurons/oz-threshold-private.h"

#include <stddef.h>

#define P(f) offsetof(OzPopulationParams, f)
static const OzParamSpec lif_keys[] = {
    {"lambda", OZ_PARAM_FLOAT, P(lambda), 0, 1, NULL, "0.5", "leak λ = 1 - 1/τ"},
    {"v_th", OZ_PARAM_FLOAT, P(v_th), 1e-6, 1e6, NULL, "1", "firing threshold"},
    {"dropout", OZ_PARAM_FLOAT, P(dropout), 0, 0.99, NULL, "0",
     "probability of silencing a neuron for a whole sample (training only)"},
    {"bias", OZ_PARAM_BOOL, P(bias), 0, 0, NULL, "true", "learnable bias b"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P

/* The membrane and the trace both decay by λ. */
static void lif_prepare(OzPopulation *pop) {
    oz__threshold_prepare(pop, pop->p.lambda, pop->p.lambda);
}

/* A LIF node (an IF node when λ = 1), docs/INTEROP.md. */
static gboolean lif_nir_import(OzNirPopImport *im, GError **error) {
    return oz__threshold_nir_import(im, TRUE, error);
}

static const char *const lif_nir_types[] = {"LIF", NULL};
static const OzNeuronNir lif_nir = {
    .node_types = lif_nir_types,
    .import_node = lif_nir_import,
    .export_node = oz__threshold_nir_export,
    .export_bias = oz__threshold_nir_export_bias,
    .export_scale = oz__threshold_nir_scale,
};

const OzNeuronOps oz_neuron_model_lif = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "lif",
    .help = "leaky integrate-and-fire: u = λv + I + b, spike when u >= V_th, soft or hard reset",
    .state_size = sizeof(OzThresholdState),
    .params_size = sizeof(OzThresholdParams),
    .caps = OZ_NEURON_TRACE_OF_SPIKES,
    .common_params = lif_keys,
    .params = oz__threshold_reset_keys,
    .configure = oz__threshold_configure,
    .alloc = oz__threshold_alloc,
    .prepare = lif_prepare,
    .frame_alloc = oz__threshold_frame_alloc,
    .reset = oz__threshold_reset,
    .step = oz__threshold_step,
    .emits = oz__threshold_emits,
    .surrogate = oz__threshold_surrogate,
    .clean_spikes = oz__threshold_clean_spikes,
    .trace_decay = oz__threshold_trace_decay,
    .nir = &lif_nir,
};

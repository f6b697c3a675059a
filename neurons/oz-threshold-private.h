/* oz-threshold-private.h — the shared engine of threshold neurons (oz-threshold.c), for the
 * model files built on it.  Not for use outside neurons/.
 *
 * A model using it sets state_size = sizeof(OzThresholdState), fills the state in its
 * prepare slot, and points alloc, frame_alloc, reset, step, emits, surrogate, clean_spikes
 * and trace_decay at the oz__threshold_ functions.  It reads pop->p.v_th, .dropout and .bias
 * (the model lists them among its keys) and the derived values below.
 */
#pragma once

#include "neurons/oz-neuron.h"

#include <stddef.h>

/* Derived values (prepare), pop->state of a threshold model. */
typedef struct {
    float leak;        /* v ← leak·v each tick before the input: λ for LIF */
    float trace_decay; /* â ← trace_decay·â + o */
    gboolean hard;     /* after a spike v ← v_reset (hard) instead of v ← u − V_th (soft) */
    float v_reset;
    float output_scale;       /* the transmitted spike and the trace are scaled by it (≥ 1e-6) */
    gboolean bias_in_current; /* the model adds b into its input current itself (cubalif) */
} OzThresholdState;

/* The reset keys, pop->params of a threshold model that takes them. */
typedef enum { OZ_RESET_SOFT = 0, OZ_RESET_HARD } OzResetMode;
typedef struct {
    int reset; /* OzResetMode */
    float v_reset;
    float trace_lambda; /* −1: the model's default (prepare writes the value it resolved) */
    float output_scale; /* a fixed scale of what the population transmits (sWS nets: 2.74) */
} OzThresholdParams;
/* `reset = soft|hard`, `v_reset`, `trace_lambda` and `output_scale`: a model's params table
 * (params_size = sizeof(OzThresholdParams)), with oz__threshold_configure as its configure
 * slot.  A model with keys of its own puts the rows (OZ__THRESHOLD_RESET_KEY_ROWS) into its
 * table, with its params struct starting with an OzThresholdParams. */
extern const OzParamSpec oz__threshold_reset_keys[];
// clang-format off
#define OZ__TR(f) offsetof(OzThresholdParams, f)
#define OZ__THRESHOLD_RESET_KEY_ROWS                                                               \
    {"reset", OZ_PARAM_ENUM, OZ__TR(reset), 0, 0, "soft|hard", "soft",                             \
     "after a spike: soft subtracts V_th from u, hard sets the membrane to v_reset"},              \
        {"v_reset", OZ_PARAM_FLOAT, OZ__TR(v_reset), -1e6, 1e6, NULL, "0",                         \
         "the membrane after a spike under reset = hard (below v_th)"},                            \
        {"trace_lambda", OZ_PARAM_FLOAT, OZ__TR(trace_lambda), -1, 1, NULL, "-1",                  \
         "decay of the presynaptic trace, a = trace_lambda*a + s (-1: the model's own: lambda "    \
         "for lif and cubalif, 0.5 for if)"},                                                      \
        {"output_scale", OZ_PARAM_FLOAT, OZ__TR(output_scale), 1e-6, 1e6, NULL, "1",               \
         "a fixed scale of the transmitted spikes and of the trace (2.74 in the paper's sWS "      \
         "nets); firing rates and SynOps still count spikes"}
// clang-format on

/* A hard reset to or above the threshold is rejected (blames v_reset), and so is a
 * trace_lambda in (−1, 0). */
gboolean oz__threshold_configure(const OzPopulationParams *common, gconstpointer params,
                                 const char **key, GError **error);
/* Fills pop->state: the given leak, the trace decay (trace_lambda, or the given default when
 * it is −1 or the model has no such key) and the reset from pop->params (soft when the
 * model has no reset keys). */
void oz__threshold_prepare(OzPopulation *pop, float leak, float trace_decay);

void oz__threshold_alloc(OzPopulation *pop);
void oz__threshold_frame_alloc(OzPopulation *pop, OzFrame *f);
void oz__threshold_reset(OzPopulation *pop);
void oz__threshold_step(OzPopulation *pop, gint64 tick);
OzEmits oz__threshold_emits(const OzPopulation *pop);
void oz__threshold_surrogate(const OzPopulation *pop, const float *u, float a, const float *g,
                             float *out, gsize begin, gsize end);
void oz__threshold_clean_spikes(const OzPopulation *pop, const OzFrame *f, gsize row, float *o);
float oz__threshold_trace_decay(const OzPopulation *pop);

/* The NIR mapping of threshold models (oz-threshold-nir.c; docs/INTEROP.md).  Export: a
 * leaky population (λ < 1) is a LIF node (tau = dt/(1 − λ), r = 1/(1 − λ), v_leak = 0), one
 * without a leak an IF node (r = 1); v_threshold, v_reset, and λ, the model, the reset and
 * the bias exactly in the node's metadata; a soft reset is reported (NIR has none).  The
 * bias of a LIF may ride on v_leak = b·r.  Import: leaky (a LIF node: λ = 1 − dt/τ, input
 * gain dt·r/τ, bias (dt/τ)·v_leak) or not (an IF node: gain r); the keys it writes are
 * lambda (leaky only), v_th, reset and v_reset. */
char *oz__threshold_nir_export(OzNirExport *ex, const OzPopulation *pop, GError **error);
gboolean oz__threshold_nir_export_bias(const OzPopulation *pop, OzNirNode *node,
                                       const double *bias);
double oz__threshold_nir_scale(const OzPopulation *pop);
gboolean oz__threshold_nir_import(OzNirPopImport *im, gboolean leaky, GError **error);

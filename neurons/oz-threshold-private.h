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

/* Derived values (prepare), pop->state of a threshold model. */
typedef struct {
    float leak;        /* v ← leak·v each tick before the input: λ for LIF */
    float trace_decay; /* â ← trace_decay·â + o */
    gboolean hard;     /* after a spike v ← v_reset (hard) instead of v ← u − V_th (soft) */
    float v_reset;
    float output_scale; /* the transmitted spike and the trace are scaled by it (≥ 1e-6) */
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
 * (params_size =
 * sizeof(OzThresholdParams)), with oz__threshold_configure as its configure slot. */
extern const OzParamSpec oz__threshold_reset_keys[];
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

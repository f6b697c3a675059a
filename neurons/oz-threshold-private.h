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
} OzThresholdState;

void oz__threshold_alloc(OzPopulation *pop);
void oz__threshold_frame_alloc(OzPopulation *pop, OzFrame *f);
void oz__threshold_reset(OzPopulation *pop);
void oz__threshold_step(OzPopulation *pop, gint64 tick);
OzEmits oz__threshold_emits(const OzPopulation *pop);
void oz__threshold_surrogate(const OzPopulation *pop, const float *u, float a, const float *g,
                             float *out, gsize begin, gsize end);
void oz__threshold_clean_spikes(const OzPopulation *pop, const OzFrame *f, gsize row, float *o);
float oz__threshold_trace_decay(const OzPopulation *pop);

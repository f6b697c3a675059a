/* oz-population.h — neuron populations: state, per-tick step, outgoing frames.
 *
 * A population holds the state of n neurons for each of B samples, structure-of-arrays
 * and batch-major: v[b*n + i].  What the neurons do is a model's (neurons/oz-neuron.h: the
 * ops table; one file per model, neurons/oz-model-*.c; the registry in
 * neurons/oz-neuron-registry.c, its list in neurons/meson.build).  `opzosim keys` lists the
 * registered models and their keys; each model's file says what it computes (the paper's
 * input encoder, LIF neuron and readout: docs/ALGORITHM.md §2).
 *
 * A population has a shape (C,H,W or N; shape[0..rank), product n) for the layers that need
 * one (convolution, event input); everything else sees n neurons.
 *
 * What a population emits at tick t lives in a frame: a ring of `depth` frames
 * (1 + the largest delay of its outgoing projections) keeps the spikes (as a dense
 * 0/value matrix and as per-sample index lists) and the trace of recent ticks, so a
 * delayed projection reads the packet of its emission tick.  The struct is public to
 * the core (network, projections, learning rules); user code goes through functions.
 *
 * Deliberately not here: scheduling (oz-network), weights (oz-projection), learning, and
 * anything one model does (its file).
 */
#pragma once

#include "engine/oz-rng.h"

#include <stdint.h>

#include <glib.h>

#define OZ_NEURONS_ERROR (oz_neurons_error_quark())
GQuark oz_neurons_error_quark(void);

typedef enum {
    OZ_NEURONS_ERROR_FAILED,
    OZ_NEURONS_ERROR_INVALID, /* an impossible combination (e.g. a zero-delay cycle) */
    OZ_NEURONS_ERROR_EXISTS,  /* a duplicate name */
    OZ_NEURONS_ERROR_NOT_FOUND
} OzNeuronsError;

typedef struct OzNeuronOps OzNeuronOps;
typedef struct OzProjection OzProjection;

/* The most dimensions a population shape has (C,H,W needs 3). */
#define OZ_SHAPE_MAX_RANK 4

typedef enum {
    OZ_ENCODING_CURRENT = 0,
    OZ_ENCODING_BERNOULLI,
    OZ_ENCODING_COUNT
} OzEncoding;

typedef enum {
    OZ_FRAME_EMPTY = 0,   /* nothing emitted this tick (input after its window) */
    OZ_FRAME_SPIKES,      /* binary spikes times `value`; idx/counts are valid */
    OZ_FRAME_DENSE,       /* real values in s; idx/counts are not valid */
    OZ_FRAME_DENSE_STATIC /* like DENSE, and equal at every tick of the sample */
} OzFrameKind;

typedef struct {
    gint64 tick;
    OzFrameKind kind;
    float value;      /* the value of one transmitted spike (1/(1−p) under dropout) */
    guint64 nspikes;  /* spikes in the whole batch */
    int *counts;      /* (B) spikes per sample */
    int *idx;         /* (B, n) per sample, the first counts[b] entries are neuron ids;
                       * built on demand (oz_frame_index) for OZ_FRAME_SPIKES frames */
    gboolean indexed; /* idx is valid */
    float *mult;      /* (B, n) or NULL: how many events each idx entry stands for (a cell
                       * of c events of a counts-mode spike input): the entry sends c times
                       * its weight row, c synaptic events per synapse, and nspikes counts
                       * events.  Only in frames whose value is 1; set with idx (indexed).
                       * NULL: one event each. */
    float *s;         /* (B, n) transmitted activity (ŝ = s + αz under after-neuron noise) */
    float *trace;     /* (B, n) presynaptic trace â at this tick (see oz-population.c) */
    float *u;         /* (B, n) lif: pre-reset membrane at this tick, for ψ */
    float *z;         /* (B, n) lif with noise: the probe z injected at this tick */
} OzFrame;

typedef enum {
    OZ_NOISE_NONE = 0,
    OZ_NOISE_AFTER,  /* ŝ = s + αz is transmitted (node perturbation) */
    OZ_NOISE_BEFORE, /* αz is added to the input current before charging */
    OZ_NOISE_COUNT
} OzNoiseMode;

/* One sample of binned spikes as a spike source reads it (OZ_NEURON_SPIKE_SOURCE): a view
 * into the data set's binned form (io/oz-events.h, OzSpikeSet), filled by the run per batch
 * row.  Tick t's cells are cell[tick_off[t] … tick_off[t + 1]), flat indices into the
 * population (c·H·W + y·W + x), ascending; count[] is parallel (a cell of count c is c
 * events), or NULL when every cell is one event.  Ticks from `ticks` on are silent; a row
 * with ticks = 0 (beyond the batch's samples) emits nothing. */
typedef struct {
    const guint64 *tick_off; /* (ticks + 1) */
    const guint16 *cell;
    const guint8 *count;
    int ticks;
} OzSpikeSample;

/* Parameters fixed for a run (plain value; filled from the scenario).  The typed fields are
 * the parameters the core and the learning rules also read; each model says which of them
 * it takes (its common_params), and fields a model does not take keep what they were given
 * (zero).  Keys only one model reads live in its own struct (pop->params). */
typedef struct {
    const char *model;   /* a registered model's name (oz_neuron_lookup) */
    int size;            /* n; with a shape, its product */
    int rank;            /* 0: no shape given (the shape is (size)) */
    int shape[OZ_SHAPE_MAX_RANK];
    OzEncoding encoding; /* input */
    float lambda;        /* leak, λ = 1 − 1/τ (lif); an input's λ-trace (first_layer_factor) */
    float v_th;          /* threshold (threshold models: lif) */
    float dropout;       /* probability p of dropping a neuron for a sample (threshold models) */
    gboolean bias;       /* a learnable bias (lif, readout) */
    /* Model keys as text (oz_neuron_configure): NULL-terminated, parallel.  When given
     * (the scenario's path) the fields above are ignored and every parameter is the model's
     * default or its key; NULL: the fields above stand as given.  (transfer none) */
    const char *const *keys;
    const char *const *values;
} OzPopulationParams;

typedef struct OzPopulation {
    const OzNeuronOps *ops;
    char *name;
    int id;        /* index in the network */
    int topo;      /* position in the zero-delay topological order */
    int n, batch;
    OzPopulationParams p; /* keys/values cleared: they are not kept */
    int rank;             /* ≥ 1 */
    int shape[OZ_SHAPE_MAX_RANK];
    gpointer params;      /* the model's own parameters (ops->params_size bytes), or NULL */
    gpointer state;       /* the model's private state (ops->state_size bytes), or NULL */

    /* State, (B, n) unless noted. */
    float *acc;     /* input current gathered for the current tick; cleared by step */
    float *v;       /* post-reset membrane (lif) */
    float *u;       /* lif: the u of the last step's frame (a view, not owned) */
    float *x;       /* input: current values or Bernoulli probabilities */
    OzSpikeSample *spike_in; /* (B) a spike source's samples, set by the run per batch */
    float *mask;    /* dropout mask, 0 or 1/(1−p) (lif, training only) */
    float *o;       /* readout: o[t] of the last step */
    float *osum;    /* readout: Σ_t o[t] */
    float *bias;    /* (n) */
    float *bias_grad; /* (n) */
    int active_samples; /* samples of the batch that hold data (≤ B) */
    int row_offset;     /* row 0's row in the global mini-batch: the sub-stream index of its
                         * per-sample draws (0 but on ranks > 0 of an MPI run) */
    gint64 sum_from, sum_to; /* readout: osum gathers o[t] for t in [sum_from, sum_to) */
    gint64 start_tick;       /* first tick of a window it updates on: when input can first
                              * reach it (the shortest delay path from an input) */

    int depth;
    OzFrame *frames; /* (depth) ring indexed by tick % depth */
    float *zero;     /* (B, n) zeros: the trace before tick 0 */

    /* Noise injection (lif).  pre_step, when set, runs at the start of every step and
     * fills the frame's z; the step adds α·z where noise_mode says.  noise_alpha = 0 or
     * training = FALSE disables it. */
    OzNoiseMode noise_mode;
    float noise_alpha;
    void (*pre_step)(struct OzPopulation *pop, gint64 tick, gpointer user_data);
    gpointer pre_step_data;
    int min_depth; /* frames a learning rule needs (1 + its longest error delay) */
    /* Alternatives to the default readings (docs/ALGORITHM.md §13), set by the learning rule:
     *   trace_noisy      the trace follows ŝ = s + αz instead of the clean spikes;
     *   noise_unmasked   dropout applies after the noise: ŝ = mask ⊙ (spike + αz);
     *   input_trace      an input's factor is its λ-trace Σ λ^(t−τ) x[τ], not x[t]. */
    gboolean trace_noisy, noise_unmasked, input_trace;

    /* Run-time switches set by the network. */
    gboolean training;  /* dropout masks apply */
    gint64 input_ticks; /* input emits on ticks [0, input_ticks) */
    OzRng *rng;         /* (transfer none) Bernoulli draws and dropout masks */
    /* The chip's per-neuron mismatch and noise (neurons/oz-hardware.h); NULL on an ideal
     * chip. */
    struct OzChipNeurons *chip;

    /* Wiring, (transfer none). */
    GPtrArray *out; /* of OzProjection* */
    GPtrArray *in;  /* of OzProjection* */

    /* Exact counters since the last oz_population_counters_clear(). */
    guint64 spikes;         /* transmitted spikes */
    guint64 neuron_updates; /* neuron state updates (B·n per tick for lif/readout) */
} OzPopulation;

/* Creates a population of params->size neurons for batches of up to `batch` samples,
 * keeping one frame until oz_population_set_depth.  Returns NULL and sets an error
 * (OZ_NEURONS_ERROR_INVALID) for an unknown model, a shape whose product is not the size,
 * or a model key that does not parse (the message names the key). */
OzPopulation *oz_population_new(const char *name, const OzPopulationParams *params, int batch,
                                GError **error);
void oz_population_free(OzPopulation *pop);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzPopulation, oz_population_free)

/* Allocates the frame ring; called by the network once delays are known. */
void oz_population_set_depth(OzPopulation *pop, int depth);
/* Gives a source (input) population its own trace buffers (input_trace); before prepare. */
void oz_population_enable_input_trace(OzPopulation *pop);
/* Start of a sample window: zero v, traces, readout sums; draw dropout masks. */
void oz_population_reset(OzPopulation *pop);
void oz_population_step(OzPopulation *pop, gint64 tick);
OzFrame *oz_population_frame(OzPopulation *pop, gint64 tick);
/* The per-sample spike lists of a spike frame (rows, n), built once on first use: the
 * event-driven path and spike recording need them, a dense path does not. */
const int *oz_frame_index(OzFrame *f, int rows, int n);
void oz_population_counters_clear(OzPopulation *pop);

/* "2,34,34" or "784": the shape as the scenario writes it.  (transfer full) */
char *oz_population_shape_string(const OzPopulation *pop);

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "neurons/oz-neuron.h"

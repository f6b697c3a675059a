/* oz-population.h — neuron populations: state, per-tick step, outgoing frames.
 *
 * A population holds the state of n neurons for each of B samples, structure-of-arrays
 * and batch-major: v[b*n + i].  Three neuron models exist (registry in oz-population.c):
 *   input    — an encoder: a static image as a real-valued current every tick
 *              ("direct encoding", docs/ALGORITHM.md §2.1) or Bernoulli rate spikes;
 *   lif      — docs/ALGORITHM.md §2.2: charge u = λv + I + b, fire s = H(u − V_th) (a tie fires),
 *              soft reset v = u − V_th·s; dropout mask on the transmitted spike (§2.3);
 *              presynaptic trace â[t] = λâ[t−1] + s[t] (§2.4);
 *   readout  — non-spiking, o[t] = I[t] + b, and the class score Σ_t o[t] (§2.6).
 *
 * What a population emits at tick t lives in a frame: a ring of `depth` frames
 * (1 + the largest delay of its outgoing projections) keeps the spikes (as a dense
 * 0/value matrix and as per-sample index lists) and the trace of recent ticks, so a
 * delayed projection reads the packet of its emission tick.  The struct is public to
 * the core (network, projections, learning rules); user code goes through functions.
 *
 * Deliberately not here: scheduling (oz-network), weights (oz-projection), learning.
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

/* Parameters fixed for a run (plain value; filled from the scenario). */
typedef struct {
    const char *model;   /* "input", "lif", "readout" */
    int size;
    OzEncoding encoding; /* input only */
    float lambda;        /* leak, λ = 1 − 1/τ; lif */
    float v_th;          /* threshold; lif */
    float dropout;       /* probability p of dropping a neuron for a sample; lif */
    gboolean bias;       /* lif, readout */
} OzPopulationParams;

typedef struct OzPopulation {
    const OzNeuronOps *ops;
    char *name;
    int id;        /* index in the network */
    int topo;      /* position in the zero-delay topological order */
    int n, batch;
    OzPopulationParams p;

    /* State, (B, n) unless noted. */
    float *acc;     /* input current gathered for the current tick; cleared by step */
    float *v;       /* post-reset membrane (lif) */
    float *u;       /* lif: the u of the last step's frame (a view, not owned) */
    float *x;       /* input: current values or Bernoulli probabilities */
    float *mask;    /* dropout mask, 0 or 1/(1−p) (lif, training only) */
    float *o;       /* readout: o[t] of the last step */
    float *osum;    /* readout: Σ_t o[t] */
    float *bias;    /* (n) */
    float *bias_grad; /* (n) */
    int active_samples; /* samples of the batch that hold data (≤ B) */
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

    /* Wiring, (transfer none). */
    GPtrArray *out; /* of OzProjection* */
    GPtrArray *in;  /* of OzProjection* */

    /* Exact counters since the last oz_population_counters_clear(). */
    guint64 spikes;         /* transmitted spikes */
    guint64 neuron_updates; /* neuron state updates (B·n per tick for lif/readout) */
} OzPopulation;

/* The neuron-model plugin (docs/CONTRIBUTING.md §3).  One instance per model, looked up by name. */
struct OzNeuronOps {
    int api_version; /* OZ_NEURON_API_VERSION */
    const char *name;
    gboolean has_state;   /* (required) keeps v/u and a bias */
    gboolean emits;       /* (required) can feed a projection */
    /* (required) advance one tick: read pop->acc, write frame tick % depth, clear acc. */
    void (*step)(OzPopulation *pop, gint64 tick);
};

#define OZ_NEURON_API_VERSION 1

const OzNeuronOps *oz_neuron_lookup(const char *name);
/* NULL-terminated array of every registered model, for tests and help. */
const OzNeuronOps *const *oz_neuron_models(void);

/* Creates a population of params->size neurons for batches of up to `batch` samples,
 * keeping `depth` frames.  Returns NULL and sets an error for an unknown model. */
OzPopulation *oz_population_new(const char *name, const OzPopulationParams *params, int batch,
                                GError **error);
void oz_population_free(OzPopulation *pop);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzPopulation, oz_population_free)

/* Allocates the frame ring; called by the network once delays are known. */
void oz_population_set_depth(OzPopulation *pop, int depth);
/* Gives an input population its own trace buffers (input_trace); before prepare. */
void oz_population_enable_input_trace(OzPopulation *pop);
/* Start of a sample window: zero v, traces, readout sums; draw dropout masks. */
void oz_population_reset(OzPopulation *pop);
void oz_population_step(OzPopulation *pop, gint64 tick);
OzFrame *oz_population_frame(OzPopulation *pop, gint64 tick);
/* The per-sample spike lists of a spike frame (rows, n), built once on first use: the
 * event-driven path and spike recording need them, a dense path does not. */
const int *oz_frame_index(OzFrame *f, int rows, int n);
void oz_population_counters_clear(OzPopulation *pop);

#include <math.h>
#include <string.h>

/* e^x for x ≤ 0 (clamped at −87), relative error below 2e-7, branch-free so that loops
 * calling it vectorise: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor
 * polynomial, 2^n by building the float's exponent. */
static inline float oz_exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504f;
    float nf = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - nf * 0.693145751953125f - nf * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                                            r * (1.0f / 720))))));
    int32_t bits = ((int32_t)nf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Surrogate derivative ψ(u) = (1/a)·σ'((u − V_th)/a) (docs/ALGORITHM.md §2.5).  σ'(x) = e/(1 + e)²
 * with e = e^−|x|, which cannot overflow on either side.  Inline: it runs per neuron per
 * tick in the learning loops. */
static inline float oz_surrogate(float u, float v_th, float a) {
    float x = (u - v_th) / a;
    float e = oz_exp_neg(-fabsf(x));
    float d = 1.0f + e;
    return e / (d * d * a);
}

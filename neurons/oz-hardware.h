/* oz-hardware.h — a model of the chip that runs the forward pass: quantised and mismatched
 * weights, mismatched thresholds and leaks, neuron noise and lost spikes ([hardware],
 * docs/HARDWARE.md).
 *
 * The chip changes only what the forward pass computes, for every neuron model and
 * projection kind alike:
 *   • weights: each projection keeps its full-precision tensor w, which learning updates,
 *     the optimizer steps and the checkpoint stores; its kind delivers through the forward
 *     tensor wf = q(w) ⊙ m, formed again whenever the projection is reset (every window,
 *     after every optimizer step and after a checkpoint load).  q is symmetric uniform
 *     quantisation to weight_bits bits with the scale max|w| / (2^(bits−1) − 1) taken anew
 *     each time, m a fixed factor exp(σ·ξ) per stored weight (weight_mismatch; a conv2d
 *     kernel weight is one stored weight shared by its positions).  Biases stay in float.
 *   • neurons: fixed factors exp(σ·ξ) per neuron on V_th (threshold_mismatch) and on the
 *     leak λ (leak_mismatch; the product is clipped to at most 0.999, and a neuron without
 *     leak, λ = 1, keeps it), and fresh Gaussian noise of std neuron_noise added to each
 *     neuron's input every tick, in training and at test.  Threshold models (lif, if) read
 *     them (neurons/oz-threshold.c); other models have no threshold to mismatch.
 *   • spikes: each spike is lost with probability spike_drop on each projection it
 *     travels, one draw per spike and projection; the sender's own trace still counts it,
 *     and a lost spike is not a synaptic operation (the kind counts what it receives).
 * Every fixed draw comes from the [hardware] seed, keyed by what it belongs to
 * ("hardware:w:PROJ", "hardware:vth:POP", "hardware:leak:POP"), so a chip is the same
 * across runs and rules; the fresh draws (noise, drops) come from the run's seed, started
 * again at every phase (oz_hardware_begin_phase).
 *
 * With every effect off nothing is attached and the network computes exactly what it did
 * without this file.
 */
#pragma once

#include "neurons/oz-network.h"

typedef enum { OZ_BP_MODEL_NOMINAL = 0, OZ_BP_MODEL_EXACT } OzBpModel;

typedef struct {
    guint64 seed;              /* of the fixed draws: the chip */
    int weight_bits;           /* 0: float; 2–16 */
    double weight_mismatch;    /* σ of the per-synapse factor exp(σξ) */
    double threshold_mismatch; /* σ of the per-neuron factor on V_th */
    double leak_mismatch;      /* σ of the per-neuron factor on λ */
    double neuron_noise;       /* σ of the fresh input noise per neuron and tick */
    gboolean noise_is_probe;   /* the noise is the probe of the rules that probe */
    double spike_drop;         /* p of losing a spike on a projection */
    int bp_model;              /* OzBpModel: what a chain rule's model of the chip is */
} OzHardwareParams;

/* A projection's part of the chip. */
typedef struct OzChipSynapses {
    float *mismatch; /* (nw) exp(σξ), or NULL */
    int bits;        /* 0: float */
    float drop;      /* spike_drop */
    OzRng *rng_drop; /* (transfer none) the chip's stream of lost spikes */
    OzFrame kept;    /* the packet without its lost spikes (s, counts, idx owned) */
    float *clean;    /* (n_pre) a row's clean spikes, for a dense (noisy) frame */
    guint64 dropped; /* spikes lost on this projection since the counters were cleared */
} OzChipSynapses;

/* A population's part of the chip. */
typedef struct OzChipNeurons {
    float *vth_factor, *leak_factor; /* (n) or NULL */
    float *vth, *leak;               /* (n) the values they give, resolved by the model */
    gboolean resolved;
    float sigma;      /* neuron_noise */
    float *noise;     /* (B, n) σ·ξ of the current tick */
    OzRng *rng_noise; /* (transfer none) */
    /* Set by the learner: during training the rule's probe at α = σ is the noise on the
     * population's first probe_ticks input ticks, so the chip adds none of its own there. */
    gboolean noise_is_probe;
    gint64 probe_ticks;
    /* Set by the learner: ψ is taken at the nominal V_th (a rule's nominal model) rather
     * than at the neuron's own threshold. */
    gboolean psi_nominal;
} OzChipNeurons;

struct OzHardware {
    OzHardwareParams p;
    OzRng rng_noise, rng_drop; /* fresh draws (oz_hardware_begin_phase) */
};

/* Every effect off (the default of [hardware]). */
void oz_hardware_params_defaults(OzHardwareParams *hp);
/* Whether any effect is on.  bp_model, noise_is_probe and the seed alone change nothing. */
gboolean oz_hardware_active(const OzHardwareParams *hp);

/* Gives the network's populations and projections their part of the chip, drawn from
 * hp->seed; the fresh streams from run_seed.  Does nothing when no effect is on.  Call
 * once, after every population and projection is added. */
void oz_hardware_attach(OzNetwork *net, const OzHardwareParams *hp, guint64 run_seed);
/* At the start of a phase: the fresh streams (noise, lost spikes) start again from
 * (run_seed, "hardware:noise:train:EPOCH") in a training phase and from
 * (run_seed, "hardware:noise:test") in every test phase (likewise "hardware:drop:…"), so
 * `opzosim eval` of a stored epoch meets the noise its test phase met, and a run resumed
 * at an epoch continues as an uninterrupted one.  Does nothing on an ideal chip. */
void oz_hardware_begin_phase(OzNetwork *net, guint64 run_seed, gboolean training, int epoch);
/* Frees what attach gave (oz_network_free calls it). */
void oz_hardware_detach(OzNetwork *net);

/* out (n) = q(w): symmetric uniform quantisation to bits bits (2–16), levels
 * k·s for integers |k| ≤ 2^(bits−1) − 1, s = max|w| / (2^(bits−1) − 1), rounding half away
 * from zero.  All zeros stay zeros.  Returns s. */
float oz_hardware_quantise(const float *w, gsize n, int bits, float *out);
/* fill (n) = exp(σ·ξ), ξ ~ N(0, 1) from (seed, purpose). */
void oz_hardware_factors(guint64 seed, const char *purpose, double sigma, float *fill, gsize n);

/* Forms p->wf from p->w (oz_projection_reset calls it). */
void oz_chip_refresh_weights(OzProjection *p);
/* The packet f as the target receives it: f itself without spike_drop, else a frame in
 * p->chip->kept with the lost spikes removed (trace, u and z still the sender's). */
OzFrame *oz_chip_drop(OzProjection *p, OzFrame *f);
/* The chip's noise for pop's step at tick (σ·ξ, (B, n)), or NULL when it adds none. */
const float *oz_chip_noise(OzPopulation *pop, gint64 tick);

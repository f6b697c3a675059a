/* oz-neuron.h — the neuron-model plugin: what a model is, and what the rest of the simulator
 * may ask of it.
 *
 * Design.  A model is a `static const OzNeuronOps` in its own file (neurons/oz-model-NAME.c)
 * plus one line in the registry (neurons/oz-neuron-registry.c).  Nothing outside a model's
 * file compares model names or ops pointers: the core, the learner, the scenario and the run
 * ask the ops table instead —
 *   • capabilities (caps): is it the data source, the readout, does its trace follow its
 *     clean spikes (the sparse gradient path needs that);
 *   • emits(pop): spikes, dense values or nothing (can it feed a projection; are firing rates
 *     and spike recording meaningful);
 *   • surrogate: ψ(u) for learning — a model without it is not learnable (no error signal is
 *     sent to it, [feedback NAME] cannot name it);
 *   • clean_spikes: the spikes o it sent at a tick before any probe, for the learner's
 *     sparse chunks, instead of the learner recomputing a model's firing rule;
 *   • parameters: keys with type, range, default and help (engine/oz-params.h), which the
 *     scenario validates, `opzosim keys` lists and the run log stores (table `parameters`);
 *   • nir: how it maps to and from NIR nodes (neurons/oz-nir-map.h) — the NIR export and
 *     import ask it instead of naming models; a model without it is not exportable.
 *
 * Data (docs/CONTRIBUTING.md, house style): parameters are fixed for a run — the keys the
 * core and learning also read (λ, V_th, dropout, bias, encoding) live in the population's
 * OzPopulationParams (common_params), keys only the model reads live in its own struct
 * pop->params (params, params_size bytes); derived values are computed by prepare; state and
 * buffers are the population's public (B, n) arrays the model allocates in alloc (v, x, mask,
 * o, osum, bias, frame buffers) plus private state pop->state (state_size bytes, allocated,
 * zeroed and freed by the core).  The core frees every public buffer; a model's free slot
 * releases only what its private state points to.
 *
 * Lifecycle: oz_population_new → (parameters: defaults, given fields, keys, configure;
 * transactional: nothing is kept on error) → alloc → prepare; frames on
 * oz_population_set_depth (frame_alloc); per sample window reset; per tick step (the hot
 * path: it cannot fail, everything was validated before).
 *
 * Versioning: new slots are appended and api_version is bumped; optional slots may be NULL
 * and only the core's wrappers apply their defaults; ctl is the escape hatch for requests
 * that are not worth a slot (unknown ops return OZ_CTL_UNKNOWN).
 */
#pragma once

#include "engine/oz-params.h"
#include "neurons/oz-nir-map.h"
#include "neurons/oz-population.h"

#define OZ_NEURON_API_VERSION 3

/* What a population sends along its outgoing projections. */
typedef enum {
    OZ_EMITS_NOTHING = 0, /* feeds no projection (a readout) */
    OZ_EMITS_SPIKES,      /* spike packets (dense frames only while a probe is added to them) */
    OZ_EMITS_DENSE,       /* real values (a current-encoded input) */
    OZ_EMITS_COUNT
} OzEmits;

/* Capabilities (OzNeuronOps.caps). */
typedef enum {
    /* Fed from the data set through pop->x by the run; takes no projection; input reaches
     * it at tick 0.  A scenario has exactly one population of a source model. */
    OZ_NEURON_SOURCE = 1u << 0,
    /* Its class score pop->osum (Σ o[t] over the T ticks from its path delay on) is the
     * network's answer, and pop->o is what the loss reads.  Exactly one per scenario. */
    OZ_NEURON_READOUT = 1u << 1,
    /* Its frame trace is â(t) = trace_decay·â(t−1) + o(t) with o = clean_spikes (unless the
     * rule asks for the noisy reading, pop->trace_noisy), so a chunk of gradient terms can be
     * summed from the spike changes (plasticity/oz-learner.c, sparse chunks). */
    OZ_NEURON_TRACE_OF_SPIKES = 1u << 2,
    /* A source fed binned spike samples (pop->spike_in, one sparse frame per tick: an event
     * data set) rather than values in pop->x (an image data set).  The run pairs a data set
     * with the input model by this bit. */
    OZ_NEURON_SPIKE_SOURCE = 1u << 3,
} OzNeuronCaps;

#define OZ_CTL_UNKNOWN (-1)
/* ctl op: *(const float **)arg ← the (B, n) synaptic current of a model with one (cubalif),
 * for tests and diagnostics; returns 0.  Others return OZ_CTL_UNKNOWN. */
#define OZ_NEURON_CTL_CURRENT 1

/* A named piece of a model's state that must survive a checkpoint: state that outlives a
 * sample window (an adaptive threshold, a homeostatic rate).  None of the built-in models
 * has one: their state is reset every window.  The checkpoint stores it as the float32
 * vector `state:POP.NAME` of `count` values, with the weights, so eval, --init-from and
 * --resume all load it, and a missing or mis-sized one is an error naming it
 * (docs/CHECKPOINTS.md). */
typedef struct {
    const char *name; /* 1-40 ASCII letters, digits or '_', unique in the model: "theta" */
    float *data;      /* (transfer none) valid while the population lives; NULL if count is 0 */
    gsize count;      /* values; the same at save and load for the same scenario */
} OzNeuronTensor;

/* The most state tensors one population has (the size of the array state_tensors fills). */
#define OZ_NEURON_STATE_TENSORS_MAX 16

struct OzNeuronOps {
    int api_version;   /* (required) OZ_NEURON_API_VERSION */
    const char *name;  /* (required) unique; the scenario's `model = NAME` */
    const char *help;  /* (required) one line for `opzosim keys` */
    gsize state_size;  /* (required, may be 0) bytes of pop->state, zeroed and freed by the core */
    gsize params_size; /* (required, may be 0) bytes of pop->params */
    guint caps;        /* (required) OzNeuronCaps */
    /* (optional) keys whose fields are in OzPopulationParams (offsets into it): parameters
     * the core or the learner also read.  NULL-key-terminated. */
    const OzParamSpec *common_params;
    /* (optional) keys whose fields are in the model's own struct pop->params. */
    const OzParamSpec *params;
    /* (optional) checks that involve several keys, after every key parsed, on temporaries:
     * returns FALSE, sets *key to the key to blame (or NULL for the section) and an error
     * whose message says what was expected.  Nothing is committed on failure. */
    gboolean (*configure)(const OzPopulationParams *common, gconstpointer params, const char **key,
                          GError **error);
    /* (optional) allocates the public (B, n) buffers the model uses (v, x, mask, o, osum,
     * bias, bias_grad; spike_in, (B)) and anything its private state points to.  pop->n, pop->batch,
     * pop->p and pop->params are set. */
    void (*alloc)(OzPopulation *pop);
    /* (optional) derived values from the parameters, into pop->state. */
    void (*prepare)(OzPopulation *pop);
    /* (optional) frees what pop->state points to (the core frees the public buffers). */
    void (*free)(OzPopulation *pop);
    /* (optional) a frame's model-specific buffers (u, z) or aliases (s = x); the core
     * allocates s and trace afterwards where they are still NULL, and never frees a buffer
     * that is pop->x. */
    void (*frame_alloc)(OzPopulation *pop, OzFrame *f);
    /* (optional) start of a sample window, after the core cleared acc and the frames: zero
     * the state, draw per-sample masks (from pop->rng, in population order). */
    void (*reset)(OzPopulation *pop);
    /* (required) the hot path: read pop->acc, write the frame of tick (tick % depth), clear
     * acc, count spikes and neuron updates. */
    void (*step)(OzPopulation *pop, gint64 tick);
    /* (required) what it sends (may depend on its parameters, e.g. an input's encoding). */
    OzEmits (*emits)(const OzPopulation *pop);
    /* (optional; NULL: not learnable) out[i] = g[i]·ψ(u[i]) for i in [begin, end) of a
     * (B, n) block, with u the frame's pre-reset membrane and a the rule's surrogate width.
     * The product is formed as g·ψ so that callers multiplying by a mask afterwards get
     * (g·ψ)·mask, the order of docs/ALGORITHM.md §5. */
    void (*surrogate)(const OzPopulation *pop, const float *u, float a, const float *g, float *out,
                      gsize begin, gsize end);
    /* (required with OZ_NEURON_TRACE_OF_SPIKES) the clean spikes o (before any probe, after
     * the dropout mask) of sample row `row` of frame f, into o (n). */
    void (*clean_spikes)(const OzPopulation *pop, const OzFrame *f, gsize row, float *o);
    /* (required with OZ_NEURON_TRACE_OF_SPIKES) the trace's decay: â(t) = decay·â(t−1) + o(t). */
    float (*trace_decay)(const OzPopulation *pop);
    /* (optional) state to checkpoint (see OzNeuronTensor): fills up to max entries and
     * returns how many, the same names in the same order at every call.  Called when a
     * checkpoint is saved or loaded, after alloc; loading writes into data. */
    int (*state_tensors)(OzPopulation *pop, OzNeuronTensor *out, int max);
    /* (optional) the escape hatch: returns OZ_CTL_UNKNOWN for an op it does not know. */
    int (*ctl)(OzPopulation *pop, int op, gpointer arg);
    /* (optional; NULL: no NIR node — not exportable, and it claims no node on import) its
     * NIR mapping (neurons/oz-nir-map.h).  Added in api_version 3. */
    const OzNeuronNir *nir;
};

/* The registry (neurons/oz-neuron-registry.c).  A duplicate name, a wrong api_version or a
 * table missing a required slot aborts the program at startup. */
const OzNeuronOps *oz_neuron_lookup(const char *name);
/* NULL-terminated array of every registered model, in registry order. */
const OzNeuronOps *const *oz_neuron_models(void);
/* "input, lif, readout": the registered names, for messages.  (transfer full) */
char *oz_neuron_names(void);
/* Checks one ops table for the slots its capabilities require; returns FALSE and *why
 * (transfer full) on a malformed table.  Used by the registry at startup and by tests. */
gboolean oz_neuron_ops_check(const OzNeuronOps *ops, char **why);

/* The model's key for `key` in either of its tables, or NULL (*common says which). */
const OzParamSpec *oz_neuron_param(const OzNeuronOps *ops, const char *key, gboolean *common);
/* Parses key/value pairs into temporaries, runs the model's configure, and only then commits
 * into *params and *priv.  With keys (even none: an empty list) every parameter starts at
 * its model's default; with keys NULL the typed fields of *params stand as given and the
 * model's own struct takes its defaults.  priv is params_size bytes (NULL when that is 0).
 * On error *bad_key (if not NULL) names the key (NULL for the section).  A key no table of
 * the model has is an error: callers drop other models' keys before. */
gboolean oz_neuron_configure(const OzNeuronOps *ops, const char *const *keys,
                             const char *const *values, OzPopulationParams *params, gpointer priv,
                             const char **bad_key, GError **error);

/* Wrappers that apply the defaults of optional slots. */
static inline OzEmits oz_neuron_emits(const OzPopulation *pop) {
    return pop->ops->emits(pop);
}
static inline gboolean oz_neuron_has(const OzPopulation *pop, OzNeuronCaps cap) {
    return (pop->ops->caps & (guint)cap) != 0;
}
static inline gboolean oz_neuron_learnable(const OzPopulation *pop) {
    return pop->ops->surrogate != NULL;
}
int oz_neuron_ctl(OzPopulation *pop, int op, gpointer arg);
/* The population's state tensors (0 without the slot) into out (max entries).  A model
 * that returns a nameless, badly named or duplicate tensor, or data NULL for count > 0,
 * is a programming error: the program aborts naming the model. */
int oz_neuron_state_tensors(OzPopulation *pop, OzNeuronTensor *out, int max);

/* e^x for x ≤ 0 (clamped at −87), relative error below 2e-7, branch-free so that loops
 * calling it vectorise: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor
 * polynomial, 2^n by building the float's exponent. */
static inline float oz_exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    float t = x * 1.44269504f;
    float nf = (t + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = x - nf * 0.693145751953125f - nf * 1.428606765330187e-06f;
    float p =
        1.0f +
        r * (1.0f +
             r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    int32_t bits = ((int32_t)nf + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* The sigmoid surrogate derivative ψ(u) = (1/a)·σ'((u − V_th)/a) (docs/ALGORITHM.md §2.5),
 * for threshold models.  σ'(x) = e/(1 + e)² with e = e^−|x|, which cannot overflow on either
 * side.  Inline: it runs per neuron per tick in a model's surrogate slot. */
static inline float oz_surrogate(float u, float v_th, float a) {
    float x = (u - v_th) / a;
    float e = oz_exp_neg(-fabsf(x));
    float d = 1.0f + e;
    return e / (d * d * a);
}

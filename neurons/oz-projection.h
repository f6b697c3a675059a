/* oz-projection.h — projections between populations, with integer delays.
 *
 * The storage, delivery, gradient and counts of a projection belong to its kind
 * (neurons/oz-kind.h); this file is the kind-independent part.  What follows describes
 * the dense kind (neurons/oz-kind-dense.c), the default.
 *
 * Weights are stored (n_pre, n_post) row-major, so the weights leaving one presynaptic
 * neuron are one contiguous row: event-driven delivery of a spike adds one row to the
 * target's input (one "weight-row fetch").  The same layout is the right-hand operand
 * of I(B, n_post) += S(B, n_pre) · W for the BLAS path.
 *
 * Delivery picks, per packet, between the event path (per spike: one row, n_post adds)
 * and the dense path (one sgemm), by the batch's firing density; the counts are the
 * same either way, because they describe the network, not our implementation:
 *   synops      = transmitted spikes × n_post (the neuromorphic accumulate count);
 *   row_fetches = transmitted spikes;
 *   dense_macs  = multiply-accumulates of real-valued (non-spike) input, counted when
 *                 they are computed — a static input current once per sample.
 * One counter describes our implementation instead: spike_dense_macs = the multiply-adds
 * of spike packets that went through sgemm (B × n_pre × n_post each), for the
 * performance floor (bench/run.sh).
 *
 * Delta delivery.  A hidden layer driven by a static input current fires much the same
 * neurons tick after tick: in a trained MNIST net about a third of h1 fires at each tick
 * but only 7% of it changes state from one tick to the next.  A spike packet s can then
 * be delivered as its change from the previous packet s′ of the same sample:
 *     I = s·W = I′ + (s − s′)·W,
 * one weight row (±value) per neuron that started or stopped firing.  The projection
 * keeps I′ and s′ per sample; the first packet of a sample, every delta_refresh-th
 * packet (bounding the rounding drift of a long chain of changes) and any packet for
 * which the change is not the cheaper list are delivered in full.  Auto delivery takes
 * the shorter of the spike list and the change list and compares its density with
 * dense_threshold, as before.  I differs from a direct s·W by float rounding only
 * (tested to a tolerance, and bit for bit with weights whose sums are exact).
 */
#pragma once

#include "neurons/oz-kind.h"
#include "neurons/oz-population.h"

typedef enum {
    OZ_DELIVERY_AUTO = 0,
    OZ_DELIVERY_EVENT,
    OZ_DELIVERY_DENSE,
    OZ_DELIVERY_DELTA, /* every packet after the first as its change from the previous one */
    OZ_DELIVERY_COUNT
} OzDelivery;

typedef enum {
    OZ_INIT_UNIFORM = 0, /* U(−1/√fan_in, 1/√fan_in): the FC default (docs/ALGORITHM.md §3.1) */
    OZ_INIT_NORMAL,      /* N(0, scale²) */
    OZ_INIT_ZERO,
    OZ_INIT_KAIMING, /* N(0, scale² · 2/fan_out), fan_out as the kind counts it (He et al.) */
    OZ_INIT_COUNT
} OzInit;

typedef struct {
    int delay_ticks;
    OzInit init;
    float init_scale; /* std for OZ_INIT_NORMAL; multiplier for OZ_INIT_UNIFORM */
    OzDelivery delivery;
    float dense_threshold; /* auto: dense path when density ≥ this */
    gboolean delta;        /* auto: may send a packet as its change from the previous one */
    int delta_refresh;     /* a full packet after at most this many delta packets (≥ 1) */
    const OzProjectionKindOps *kind; /* NULL: dense */
    const void *kind_params;         /* the kind's params_size bytes (copied); NULL: defaults */
    guint64 seed;                    /* the run's seed, for what a kind draws (connectivity) */
    gboolean weight_standardization; /* sWS: w holds Ŵ of a raw W and gain γ (oz-wstd.h) */
} OzProjectionParams;

struct OzProjection {
    char *name;
    int id;
    OzPopulation *pre, *post; /* (transfer none) */
    int n_pre, n_post;
    OzProjectionParams p;
    const OzProjectionKindOps *kind; /* (transfer none) */
    void *kstate;                    /* the kind's state_size bytes */
    void *kparams;                   /* the kind's params_size bytes */
    gsize nw;                        /* length of w and grad */
    float *w;     /* the kind's weight tensor (dense: (n_pre, n_post)) */
    float *wf;    /* the forward weights the kind delivers through when the chip changes
                   * them (q(w) ⊙ m, neurons/oz-hardware.h); NULL: w itself */
    struct OzChipSynapses *chip; /* the chip's part of the projection, or NULL */
    float *grad;  /* accumulated weight gradient, w's layout: NULL until learning asks
                   * for it (oz_projection_grad), so inference never holds it */
    OzWstd *ws;   /* sWS (oz-wstd.h): the raw W, γ and their gradients; NULL without it.
                   * Then w is Ŵ and grad is ∂L/∂Ŵ. */
    float *cache; /* (B, n_post) the static input current of this sample */
    gboolean cache_valid;

    /* Delta delivery (allocated only when it can be used): the current the last spike
     * packet of this sample delivered, that packet's transmitted activity, and the
     * per-sample change lists of the packet being delivered. */
    float *cur;    /* (B, n_post) */
    float *s_prev; /* (B, n_pre) */
    int *didx;     /* (B, n_pre) */
    float *dval;   /* (B, n_pre) */
    int *dcount;   /* (B) */
    gboolean have_prev; /* cur and s_prev hold the previous spike packet of this sample */
    int delta_run;      /* delta packets since the last full one */

    guint64 synops, row_fetches, dense_macs;
    guint64 update_macs; /* learning: MACs spent accumulating this projection's gradient */
    guint64 packets_event, packets_dense; /* which path each packet took */
    guint64 spike_dense_macs;             /* MACs of the packets that took sgemm */
    guint64 packets_delta;                /* packets sent as their change */
    guint64 delta_rows;                   /* weight rows those changes added */
};

/* The weights the forward pass reads: the chip's forward tensor, or w.  Kinds deliver
 * through it; learning, the optimizer and checkpoints use w. */
static inline const float *oz_projection_forward_w(const OzProjection *proj) {
    return proj->wf ? proj->wf : proj->w;
}

OzProjection *oz_projection_new(const char *name, OzPopulation *pre, OzPopulation *post,
                                const OzProjectionParams *params);
void oz_projection_free(OzProjection *proj);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzProjection, oz_projection_free)

void oz_projection_init_weights(OzProjection *proj, OzRng *rng);
/* out (n) ~ [projection] init for a kind whose synapses have this fan-in and fan-out:
 * U(±init_scale/√fan_in), N(0, init_scale²), N(0, init_scale²·2/fan_out) (Kaiming, fan_out)
 * or zero.  The kinds' init and draw_like_weights call it with their own fans. */
void oz_projection_draw_init(const OzProjection *proj, OzRng *rng, float *out, gsize n,
                             double fan_in, double fan_out);
/* The gradient (nw floats, w's layout), allocated zeroed on first call: only learning
 * needs it (the learner asks for every projection's), so an inference-only network never
 * holds a second weight-sized buffer.  (transfer none) */
float *oz_projection_grad(OzProjection *proj);
/* The tensor the optimizer steps and the checkpoint stores as w:PROJ, and its gradient:
 * w and grad, or under sWS the raw W and ∂L/∂W.  (transfer none) */
float *oz_projection_param(OzProjection *proj);
float *oz_projection_param_grad(OzProjection *proj);
/* After the parameters changed (an optimizer step, a checkpoint load): under sWS, Ŵ is
 * formed again from W and γ; the cached current and delta state are forgotten either way. */
void oz_projection_weights_changed(OzProjection *proj);
/* Before an optimizer step under sWS: ∂L/∂W and ∂L/∂γ from the accumulated ∂L/∂Ŵ (grad),
 * which is then zeroed.  Does nothing without sWS. */
void oz_projection_grad_backward(OzProjection *proj);
/* The weight tensor's rank (1 or 2) and dims, for checkpoints.  */
int oz_projection_shape(const OzProjection *proj, gsize dims[2]);
/* Start of a sample window (or after a weight change): forget the cached current. */
void oz_projection_reset(OzProjection *proj);
/* Adds the frame's contribution into acc (B, n_post) and counts it. */
void oz_projection_deliver(OzProjection *proj, OzFrame *frame, float *acc);
void oz_projection_counters_clear(OzProjection *proj);
/* The kind's configure slot (when it has one) on the populations' shapes: FALSE, with
 * *key the key to blame, when its keys do not fit them. */
gboolean oz_projection_configure(const OzProjectionKindOps *kind, const void *kind_params,
                                 const OzPopulation *pre, const OzPopulation *post,
                                 const char **key, GError **error);

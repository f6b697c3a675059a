/* oz-learner.h — the OTTT online learning core with rule plugins (docs/ALGORITHM.md §4–§9).
 *
 * Per tick t, after the forward pass (stages 0 … 2P−1), the learner's events run:
 *   loss   (stage 2P): L[t] and e[t] = ∂L/∂o[t] (oz-loss); the readout's exact local
 *          delta rule ∇W += â_preᵀ e, ∇b += Σ_b e; then one error event per hidden
 *          population, at tick t + its feedback delay, carrying t;
 *   error  (stages 2P+1 …, reverse topological order): the rule's pathway or chain
 *          gives g_s; its gate (default g_u = g_s ⊙ ψ(u[t]) ⊙ mask) gives g_u; and, for
 *          every incoming projection,
 *          ∇W += â_pre[t − delay]ᵀ g_u (the raw input for an input population),
 *          ∇b += Σ_b g_u — the three-factor rule;
 *   step   (stage 3P+2): one optimizer step at the last tick (OTTT_A), or every tick
 *          (OTTT_O).
 * The factors of tick t (u, traces, z) are read from the populations' frame rings, so
 * an error that arrives late still meets the eligibility of its emission tick.
 *
 * Rules are plugins (plasticity/oz-rule.h): each decides how g_s is formed, how it is
 * gated, whether it probes, which delays it takes; this core does the rest for all.
 *
 * Local learning (LL, optional for any rule): each hidden population l gets a readout
 * r = ŝ·R (R (n, m), uniform init like a projection, no bias) with the same loss scaled
 * by ll_scale; its error e_r adds e_r·Rᵀ to g_s before the ψ gating, and R learns by
 * ∇R += â_lᵀ e_r with the network's optimizer.  Where a pool follows l (an outgoing
 * projection whose kind reads a view of l, neurons/oz-kind.h: conv2d's pool), R reads the
 * pooled output instead: r = P(ŝ)·R, g_s += Pᵀ(e_r·Rᵀ), ∇R += P(â)ᵀ e_r.
 */
#pragma once

#include "engine/oz-common.h"
#include "feedback/oz-feedback.h"
#include "feedback/oz-noise.h"
#include "neurons/oz-network.h"
#include "plasticity/oz-optim.h"
#include "plasticity/oz-rule.h"

#define OZ_LEARNER_ERROR (oz_learner_error_quark())
GQuark oz_learner_error_quark(void);

typedef enum {
    OZ_LEARNER_ERROR_FAILED,
    OZ_LEARNER_ERROR_UNKNOWN_RULE, /* [rule] name is not in the registry */
    OZ_LEARNER_ERROR_NO_READOUT,   /* the network has no readout population to learn from */
    OZ_LEARNER_ERROR_DELAY         /* a feedback delay or jitter the rule or step cannot take */
} OzLearnerError;

typedef struct {
    const char *rule;
    double loss_lambda; /* λ_L of the CE/MSE mix */
    double surrogate_a; /* a₁ of ψ */
    OzNoiseDist noise;
    OzNoiseMode position; /* OZ_NOISE_AFTER or OZ_NOISE_BEFORE */
    gboolean antithetic;
    double momentum; /* λ_M */
    gboolean inverse_alpha;
    gboolean dfa_fan_n;       /* DFA init N(0, 2/n) instead of N(0, 2/m) */
    gboolean dkp_init_random; /* DKP's B starts from DFA's draw, not 0 */
    gboolean step_every_tick;
    gboolean sphere_unit;    /* sphere noise on radius 1, not √n */
    gboolean trace_noisy;    /* traces follow ŝ, not the clean spikes */
    gboolean noise_unmasked; /* dropout after the noise */
    gboolean input_trace;    /* first layer uses the λ-trace of x, not x */
    gboolean m_batch_sum;    /* M gathers Σ_b, not the batch mean */
    gboolean m_per_window;   /* M updated once per window with Σ_t */
    gboolean local_learning; /* LL: per-layer readouts add their error (docs/ALGORITHM.md §8) */
    double ll_scale;         /* LL loss scale, 0.01 */
    int grad_chunk_ticks;    /* ticks of ∇W terms gathered into one sgemm (0 or 1: each tick) */
    gboolean sparse_grad;    /* a chunk may be added from the changes of the spikes behind â */
    double sparse_grad_threshold; /* … the changed fraction at which it costs as much as sgemm */
    OzOptimParams optim;
} OzLearnParams;

typedef enum {
    OZ_ELIGIBILITY_STORED = 0, /* factors of the emission tick (result = no delay) */
    OZ_ELIGIBILITY_CURRENT     /* factors of the arrival tick (Xiao et al. 2022) */
} OzEligibility;

typedef struct OzHidden {
    OzPopulation *pop;
    OzPathway path; /* a direct rule's pathway; for a chain only its macs count */
    gboolean probed; /* the rule probes this population during training */
    float *g_u;     /* (B, n) */
    const float *g_u_last; /* where the latest g_u was written: g_u or a gradient stage slot
                            * (a chain reads it for the population below, same emission tick) */
    float *gs_ring; /* (ring, B, n) top-down signals by emission tick */
    int delay_ticks, jitter_ticks;
    gint64 lag; /* path delay from this population to the readout: the error emitted at
                 * te was caused by this population's activity at te − lag */
    OzEligibility eligibility;
    gint64 *arrived;             /* (ring) emission tick that arrived in each slot, −1 for none */
    gint64 next_te;              /* stored: the next emission tick to apply */
    gint64 applied;              /* signals applied in this window */
    float *bp_chain, *bp_gu;     /* (B, n) diagnostics: the shadow BP signal */
    guint64 macs_at_phase_start; /* path.macs when the current phase began */
    float *ll_w, *ll_grad;       /* (ll_n, m) local-learning readout R, when enabled */
    float *ll_r, *ll_e;          /* (B, m) its output and (scaled) error */
    int ll_n;                    /* what R reads: n, or the pooled view's size */
    const OzProjection *ll_view; /* the projection whose view (pool) R reads, or NULL */
    float *ll_s, *ll_a, *ll_g;   /* (B, ll_n) with a view: P(ŝ), P(â), e_r·Rᵀ */
    /* IGL (docs/ALGORITHM.md §8.1).  On a population marked igl: its readout R_igl (n, m)
     * and, by emission tick, the readout's output, error and per-sample loss, which the
     * populations below it take instead of the top readout's. */
    gboolean igl;
    float *igl_w, *igl_grad;     /* (n, m) */
    float *igl_o_ring;           /* (ring, B, m) r = ŝ R_igl */
    float *igl_e_ring;           /* (ring, B, m) ∂L(r)/∂r */
    double *igl_l_ring;          /* (ring, B) per-sample loss of r */
    struct OzHidden *target;     /* the nearest igl population above this one, whose
                                  * readout's error this one learns from; NULL: the top */
} OzHidden;

/* Gradient diagnostics of one projection into a hidden population (docs/ALGORITHM.md §12): the
 * cosine between the rule's batch gradient and spatial BP's on the same forward pass,
 * and a streaming (Welford) variance of the batch gradient across batches. */
typedef struct {
    OzProjection *proj;
    OzHidden *hidden;
    float *bp_grad; /* (n_pre, n_post) */
    double *mean, *m2;
    gint64 count;
    double cos_sum, norm_sum, bp_norm_sum;
} OzGradStats;

typedef struct {
    float *pre; /* (chunk × B, n_pre) â rows */
    float *gu;  /* (chunk × B, n_post) g_u rows */
    int rows;   /* rows gathered */
    int cap;    /* chunk × B */

    /* The sparse path (oz-learner.c, flush_sparse), for a projection from a LIF
     * population whose trace follows its clean spikes o: â(t) = λâ(t−1) + o(t).  Then
     * Σ_t â(t)ᵀ g(t) = Σ_t Δo(t)ᵀ H(t) (+ a carry-in term when the chunk does not start
     * at the population's first tick), with Δo(t) = o(t) − o(t−1) inside the chunk and
     * H(t) = Σ_{t'≥t} Σ_{t''≥t'} λ^{t''−t'} g(t'') — and Δo is sparse (a hidden layer
     * under a static input changes few neurons from tick to tick). */
    gboolean sparse_ok;  /* this projection's pre-trace follows clean spikes */
    int *didx;           /* (cap, n_pre) per row: neurons whose o changed (ascending) */
    float *dval;         /* (cap, n_pre) by how much */
    int *dcount;         /* (cap) list lengths */
    float *o_prev;       /* (B, n_pre) o of the previous entry */
    float *o_cur;        /* (B, n_pre) o of this entry */
    float *carry;        /* (B, n_pre) λ·â(t₀−1) = â(t₀) − o(t₀) of the first entry */
    gint64 *te;          /* (chunk) the presynaptic tick of each entry */
    int entries, entry_rows;
    gboolean consecutive; /* entries are consecutive ticks with the same rows */
    guint64 nnz;          /* changes gathered */
    float *h;             /* (cap × n_post) H, by panels of 128 columns, each K rows contiguous */
    float *g0;            /* (B, n_post) G̃(t₀) = Σ_t λ^{t−t₀} g(t), for the carry-in */
    int *tstart;          /* (n_pre + 1) per neuron: start of its entries in trow/tval */
    int *tpos;            /* (n_pre) fill cursors */
    int *trow;            /* (cap · n_pre) the rows of each neuron's changes */
    float *tval;          /* (cap · n_pre) their values */
    guint64 flushes_sparse, flushes_dense; /* which path each flush took (tests) */
} GradStage;

struct OzLearner {
    OzNetwork *net; /* (transfer none) */
    const OzRuleOps *rule;
    void *rule_state; /* rule->state_size bytes, or NULL */
    OzLearnParams p;
    OzPopulation *readout;
    int m;
    GPtrArray *hidden; /* of OzHidden*, in topological order */
    OzOptimizer *opt;
    OzRng *rng_noise; /* (transfer none) */
    /* The probe keys of a window, (T, hidden): drawn from rng_noise at the window's first
     * probe, in the order an undelayed network draws them (input tick, then population in
     * topological order), so that a population whose input starts later, behind axonal
     * delays, still gets the probes of the same input tick. */
    guint64 *noise_keys;
    gboolean noise_keys_drawn;

    guint8 *labels; /* (B) of the current window */
    int ring;       /* depth of the error rings */
    float *e_ring;  /* (ring, B, m) */
    float *o_ring;  /* (ring, B, m) */
    double *l_ring; /* (ring, B) per-sample loss */

    gboolean training;
    int batch_rows;  /* rows of the whole mini-batch when this process steps a share of it (an
                      * MPI run, docs/CLUSTER.md): the loss's batch mean divides by it; 0: the
                      * rows stepped here */
    float *dist_buf; /* every gradient, packed for one sum over the processes (on first use) */
    gsize dist_len;
    float alpha;               /* current perturbation scale */
    double lr;                 /* current learning rate */
    double loss_sum;           /* Σ_t L[t] of the current window */
    gint64 loss_from, loss_to; /* ticks whose output enters the loss (T of them) */
    OzRng rng_jitter;
    void (*on_arrival)(OzHidden *h, gint64 emitted, gint64 arrived, gpointer user_data);
    gpointer on_arrival_data; /* test hook */
    gboolean diag;            /* gather gradient diagnostics for this window */
    gboolean frozen;          /* no optimizer step and no M update (variance protocol) */
    GArray *stats;            /* of OzGradStats, when diagnostics are enabled */
    /* Projections from a static-current input: the input is the same at every tick, so
     * Σ_t xᵀ g_u[t] = xᵀ Σ_t g_u[t] — one sgemm per window instead of one per tick. */
    float **static_gu;      /* per projection id: (B, n_post) Σ_t g_u, or NULL */
    gboolean *static_dirty; /* per projection id */
    /* Hidden projections' gradient terms âᵀ g_u, gathered for grad_chunk_ticks ticks and
     * added by one sgemm with K = ticks × B: the same sum, a larger product (C is read
     * and written once per chunk instead of once per tick). */
    GradStage *stage; /* per projection id; NULL arrays when not staged */
    guint loss_handler, step_handler;
    guint *error_handler; /* per hidden */
    guint32 stage_loss, stage_step;
};

/* Call after every population and projection is added, before oz_network_prepare:
 * sets frame depths and noise hooks and registers the learner's handlers.  Fails with a
 * clear message for an unknown rule. */
OzLearner *oz_learner_new(OzNetwork *net, const OzLearnParams *params, OzRng *rng_init,
                          OzRng *rng_noise, GError **error);
void oz_learner_free(OzLearner *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzLearner, oz_learner_free)

/* Delay (ticks), jitter (extra 0..jitter ticks per delivery) and eligibility of the error
 * pathway into the population `name`; before oz_learner_finalize.  FALSE if no hidden
 * population has that name. */
gboolean oz_learner_set_feedback(OzLearner *l, const char *name, int delay, int jitter,
                                 OzEligibility eligibility);
/* Marks the hidden population `name` for intermediate global learning: it gets a readout
 * whose error, instead of the top readout's, trains the hidden populations below it
 * through their own feedback pathways (docs/ALGORITHM.md §8.1).  Before
 * oz_learner_finalize.  Fails (OZ_LEARNER_ERROR_FAILED) when no hidden population has that
 * name or the rule forms its signal by a chain (bp, fa, sign): IGL needs a pathway. */
gboolean oz_learner_set_igl(OzLearner *l, const char *name, GError **error);
/* Before oz_network_prepare: checks what the rule cannot do with the delays (its
 * check_feedback slot) and that a step every tick has no delay, sizes rings and frame
 * depths for them, and runs the rule's setup with the seed.  Returns the longest delay
 * plus jitter, or −1 with an error. */
gint64 oz_learner_finalize(OzLearner *l, guint64 seed, GError **error);

/* The learning state of population pop, or NULL when it is not a hidden population (a
 * chain rule's projections are those leaving one).  (transfer none) */
OzHidden *oz_learner_hidden(const OzLearner *l, const OzPopulation *pop);

/* For a rule's check_feedback: every hidden population has the same delay and no jitter
 * (what a chain needs); else OZ_LEARNER_ERROR_DELAY naming the population. */
gboolean oz_learner_check_uniform_feedback(const OzLearner *l, GError **error);

/* After oz_network_prepare and parameter init: creates the optimizer over every weight,
 * bias and trained feedback matrix. */
void oz_learner_prepare(OzLearner *l);
/* Before oz_network_run_window: labels (active rows) of the window.  With training,
 * gradients are zeroed and the step is scheduled; without, only the loss is computed. */
void oz_learner_begin(OzLearner *l, const guint8 *labels, gboolean training);
/* After oz_learner_prepare: allocate the diagnostics (shadow BP, Welford buffers). */
void oz_learner_enable_diagnostics(OzLearner *l);
/* Forget gathered statistics (start of an epoch). */
void oz_learner_stats_reset(OzLearner *l);

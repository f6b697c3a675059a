/* oz-rule.h — learning rules as plugins: what a rule decides, and the rule registry.
 *
 * The learning core (oz-learner.c) runs the OTTT loop of docs/ALGORITHM.md §4–§9 for every
 * rule: the loss and the readout's exact delta rule at each tick, one error event per
 * hidden population (delay, jitter, stored or current eligibility), ∇W += â_preᵀ g_u for
 * every incoming projection, gathered chunks and their sparse path, local learning, the
 * optimizer step.  A rule decides only what differs between rules, through the slots of a
 * `static const OzRuleOps` in its own file (oz-rule-<name>.c):
 *
 *   api_version, name, state_size, summary
 *       The core allocates state_size bytes of per-learner state, zeroed, before any slot
 *       runs, passes it as `state` to every slot, and frees it after `clear`.
 *   probe (optional; NULL = never)
 *       Whether and where a hidden population is probed during training: TRUE with
 *       *where = OZ_NOISE_AFTER or OZ_NOISE_BEFORE sets the population's pre_step hook,
 *       which fills z from the window's probe keys, and α·z is injected there (zo, opzo:
 *       every hidden population, at [rule] noise_position).
 *   pathway / chain_matrix (exactly one is set) — how the top-down signal g_s of each
 *       hidden population is formed:
 *     direct (pathway = a name in the feedback registry, feedback/oz-feedback.h): g_s is
 *       formed from the output error when it is emitted, by the pathway's observe and
 *       signal (dfa: random, dkp: learned, zo: broadcast, opzo: momentum), and travels
 *       to the population with its delay and jitter;
 *     chain (chain_matrix set): g_s is formed when the error arrives, as
 *         g_s(l) = Σ over l's outgoing projections p of down(p) · C(p)ᵀ,
 *       where down(p) is the readout's error e, or the target population's g_u of the
 *       same emission tick, and C(p) = chain_matrix(p), (n_pre, n_post) row-major like
 *       W.  Hidden populations receive their errors in reverse topological order (the
 *       deeper population first, in an earlier stage of the same tick), so down(p) is
 *       there.  bp: C = W; feedback alignment would return a fixed random B of W's
 *       shape, sign symmetry sign(W).  The multiply-adds count as the population's
 *       error-path cost (training_ops.feedback_macs).
 *   gate (optional; NULL = the three-factor default)
 *       g_u from g_s with the factors of the eligibility tick: the default is
 *       g_u = g_s ⊙ ψ(u) ⊙ mask (docs/ALGORITHM.md §5.3).
 *   check_feedback (optional; NULL = any delays and jitter)
 *       Called by oz_learner_finalize once every [feedback] delay, jitter and eligibility
 *       is set; fails (OZ_LEARNER_ERROR_DELAY) for what the rule cannot take.  A chain
 *       needs one delay for every hidden population and no jitter, so that each
 *       population's g_u of an emission tick exists before the population above it
 *       forms its g_s (oz_learner_check_uniform_feedback).
 *   setup / clear (optional)
 *       setup runs at the end of oz_learner_finalize with the run's seed: a rule's own
 *       matrices are drawn here from their own (seed, purpose) stream, so that no other
 *       stream moves and results of the other rules stay bit for bit.  clear frees what
 *       setup allocated inside state.
 *   chip_model (optional; NULL = local)
 *       What the rule's backward pass knows of the chip when [hardware] changes the forward
 *       pass (neurons/oz-hardware.h, docs/HARDWARE.md).  OZ_CHIP_LOCAL: only what the chip
 *       gives — the noisy forward pass, the error, the rule's own matrices and the local
 *       factors of the chip's own neurons (ψ around each neuron's own threshold).
 *       OZ_CHIP_NOMINAL: a model of the chip as designed — ψ around the nominal V_th (with
 *       the chip's membrane potentials), and a chain matrix from the nominal weights w.
 *       OZ_CHIP_EXACT: the true chip — ψ around each neuron's own threshold, and a chain
 *       matrix from the forward weights (oz_projection_forward_w), a reference no real chip
 *       offers.  The core sets ψ from it; a chain rule picks its matrix from it.
 *   window_begin, step_done (optional hooks)
 *       Per window (oz_learner_begin, training or not) and after every optimizer step
 *       (once per window, or every tick with [rule] step = tick): a rule whose chain
 *       matrix is derived from the weights refreshes it here.
 *
 * Registry (oz-rule-registry.c): a const array in the order of plasticity/meson.build's
 * `rule_names`, so adding a rule is its file plus one name there.  The array is checked
 * once, on first use (every program path looks a rule up, and the scenario lists the
 * names): a duplicate name or a malformed table aborts, as a programming error.
 *
 * Deliberately not here: the loss, the readout's delta rule, local learning, delays and
 * eligibility, gradient staging, the optimizer — one implementation in the core serves
 * every rule, which is what makes the rules comparable.
 */
#pragma once

#include "neurons/oz-network.h"

#include <glib.h>
#include "engine/oz-params.h"

typedef struct OzLearner OzLearner;

/* What a gate slot reads: the signal and the factors of the eligibility tick. */
typedef struct {
    const OzPopulation *pop;
    const OzFrame *frame; /* the population's frame at the eligibility tick (u, trace, z) */
    const float *g_s;     /* (rows, n) top-down signal */
    int rows, n;
    float surrogate_a; /* a₁ of ψ */
} OzRuleGateCtx;

typedef struct OzRuleOps OzRuleOps;

/* A rule's model of the chip (the chip_model slot). */
typedef enum { OZ_CHIP_LOCAL = 0, OZ_CHIP_NOMINAL, OZ_CHIP_EXACT } OzChipModel;

struct OzRuleOps {
    int api_version;     /* (required) OZ_RULE_API_VERSION */
    const char *name;    /* (required) the value of [rule] name; unique */
    gsize state_size;    /* (required) bytes of state the core allocates zeroed; 0: none */
    const char *summary; /* (required) one line, for `opzosim keys` and the docs */

    /* (required, this or chain_matrix) a direct pathway's name (feedback/oz-feedback.h) */
    const char *pathway;
    /* (required, this or pathway) the matrix C (n_pre, n_post) of an outgoing projection
     * of a hidden population: g_s(pre) += down · Cᵀ.  Valid until the next optimizer step
     * or window. */
    const float *(*chain_matrix)(void *state, const OzLearner *l, const OzProjection *p);

    /* (optional) TRUE to probe hidden population pop during training, at *where. */
    gboolean (*probe)(void *state, const OzLearner *l, const OzPopulation *pop, OzNoiseMode *where);
    /* (optional) g_u (rows, n) from c->g_s; NULL: g_s ⊙ ψ(u) ⊙ mask. */
    void (*gate)(void *state, const OzRuleGateCtx *c, float *g_u);
    /* (optional) rejects feedback delays, jitter or eligibility the rule cannot take. */
    gboolean (*check_feedback)(void *state, const OzLearner *l, GError **error);
    /* (optional) once, at the end of oz_learner_finalize. */
    gboolean (*setup)(void *state, OzLearner *l, guint64 seed, GError **error);
    /* (optional) frees what setup allocated inside state (the core frees state itself). */
    void (*clear)(void *state);
    /* (optional) at oz_learner_begin, after the learner's own bookkeeping. */
    void (*window_begin)(void *state, OzLearner *l);
    /* (optional) after every optimizer step. */
    void (*step_done)(void *state, OzLearner *l);
    /* (optional) the rule's own [rule] keys; each offset is of a field of OzLearnParams
     * (plasticity/oz-learner.h), an ENUM's field a gboolean/int holding the choice's index.
     * Keys of other registered rules are accepted in [rule] and ignored. */
    const OzParamSpec *params;
    /* (optional) the rule's model of the chip; NULL: OZ_CHIP_LOCAL. */
    OzChipModel (*chip_model)(void *state, const OzLearner *l);
};

#define OZ_RULE_API_VERSION 2

/* The registered rule called name, or NULL.  (transfer none) */
const OzRuleOps *oz_rule_lookup(const char *name);
/* NULL-terminated array of every registered rule, in registry order.  (transfer none) */
const OzRuleOps *const *oz_rule_all(void);
/* The registered names joined by sep ("bp|dfa|…" for the scenario's enum).  (transfer none;
 * one string per separator, kept for the process's lifetime) */
const char *oz_rule_names(const char *sep);
/* Checks a NULL-terminated rule table: API version, name, summary, exactly one of pathway
 * (and that it is registered) or chain_matrix, no duplicate names.  The registry is checked
 * with it on first use. */
gboolean oz_rule_table_check(const OzRuleOps *const *rules, GError **error);
/* Whether the rule forms g_s by a chain through the populations above. */
static inline gboolean oz_rule_chains(const OzRuleOps *ops) {
    return ops->chain_matrix != NULL;
}

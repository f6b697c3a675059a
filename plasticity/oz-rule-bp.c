/* oz-rule-bp.c — bp: spatial backpropagation through the layers, online in time
 * (docs/ALGORITHM.md §7.1): g_s of a hidden population is the chain
 * g_s(l) = Σ over its outgoing projections of g_u(target) · Wᵀ (the readout's error e for
 * the last layer), formed when the error arrives, the deeper population first.
 *
 * A chain needs each population's g_u of an emission tick before the population below
 * forms its own, so every hidden population must get its error with the same delay and
 * no jitter.  No probe, the three-factor gate. */
#include "plasticity/oz-learner.h"

#include "neurons/oz-hardware.h"

/* BP needs a model of the chip for its backward pass: the nominal one (the weights as
 * learned, the nominal threshold in ψ) unless [hardware] bp_model = exact hands it the
 * true chip, as a reference no real chip offers (docs/HARDWARE.md). */
static OzChipModel bp_chip_model(void *state, const OzLearner *l) {
    (void)state;
    return l->net->hw && l->net->hw->p.bp_model == OZ_BP_MODEL_EXACT ? OZ_CHIP_EXACT
                                                                     : OZ_CHIP_NOMINAL;
}

static const float *bp_chain_matrix(void *state, const OzLearner *l, const OzProjection *p) {
    return bp_chip_model(state, l) == OZ_CHIP_EXACT ? oz_projection_forward_w(p) : p->w;
}

static gboolean bp_check_feedback(void *state, const OzLearner *l, GError **error) {
    (void)state;
    return oz_learner_check_uniform_feedback(l, error);
}

const OzRuleOps oz_rule_bp_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "bp",
    .state_size = 0,
    .summary = "spatial backpropagation: the chain g_s = g_u(above) · Wᵀ, layer by layer",
    .chain_matrix = bp_chain_matrix,
    .check_feedback = bp_check_feedback,
    .chip_model = bp_chip_model,
};

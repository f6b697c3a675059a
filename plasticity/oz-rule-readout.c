/* oz-rule-readout.c — readout: only the readout learns (docs/ALGORITHM.md §7.6).  The
 * hidden populations get no top-down signal (the `none` pathway of feedback/oz-feedback.c:
 * g_s = 0), so their weights and biases keep their values under an optimizer without weight
 * decay, while the readout learns by its exact local delta rule as under every rule.  A
 * control: how much of a fine-tuning's gain is the readout re-fitting to the hidden layers
 * as they are (docs/HARDWARE.md).  With [rule] local_learning the LL readouts' errors still
 * reach their layers. */
#include "plasticity/oz-learner.h"

const OzRuleOps oz_rule_readout_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "readout",
    .state_size = 0,
    .summary = "only the readout learns: no signal to the hidden layers (a control)",
    .pathway = "none",
};

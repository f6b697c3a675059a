/* oz-rule-dkp.c — dkp: direct Kolen-Pollack (docs/ALGORITHM.md §7.3): g_s = e Bᵀ with B
 * learned alongside the weights, ∇B = Σ_t â[t]ᵀ e[t], starting at zero — the `learned`
 * pathway of feedback/oz-feedback.c, stepped by the network's optimizer.  Any delays and
 * jitter; no probe; the three-factor gate. */
#include "plasticity/oz-learner.h"

const OzRuleOps oz_rule_dkp_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "dkp",
    .state_size = 0,
    .summary = "direct Kolen-Pollack: g_s = e Bᵀ, B learned by ∇B = âᵀ e",
    .pathway = "learned",
};

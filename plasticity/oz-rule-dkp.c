/* oz-rule-dkp.c — dkp: direct Kolen-Pollack (docs/ALGORITHM.md §7.3): g_s = e Bᵀ with B
 * learned alongside the weights, ∇B = Σ_t â[t]ᵀ e[t], starting at zero (the paper) or at
 * DFA's N(0, 2/m) draw ([rule] dkp_init = random) — the `learned` pathway of
 * feedback/oz-feedback.c, stepped by the network's optimizer.  Any delays and jitter; no
 * probe; the three-factor gate. */
#include "plasticity/oz-learner.h"

static const OzParamSpec dkp_params[] = {
    {"dkp_init", OZ_PARAM_ENUM, offsetof(OzLearnParams, dkp_init_random), 0, 0, "zero|random",
     "zero", "DKP's B starts at 0 (the paper), or from DFA's N(0, 2/m) draw"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

const OzRuleOps oz_rule_dkp_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "dkp",
    .state_size = 0,
    .summary = "direct Kolen-Pollack: g_s = e Bᵀ, B learned by ∇B = âᵀ e",
    .pathway = "learned",
    .params = dkp_params,
};

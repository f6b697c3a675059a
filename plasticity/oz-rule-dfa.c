/* oz-rule-dfa.c — dfa: direct feedback alignment (docs/ALGORITHM.md §7.2): g_s = e Bᵀ with
 * a fixed random B (n, m) per hidden population, N(0, 2/fan) — the `random` pathway of
 * feedback/oz-feedback.c, drawn from the init stream ([rule] dfa_fan picks the fan).
 * Any delays and jitter; no probe; the three-factor gate. */
#include "plasticity/oz-learner.h"

static const OzParamSpec dfa_params[] = {
    {"dfa_fan", OZ_PARAM_ENUM, offsetof(OzLearnParams, dfa_fan_n), 0, 0, "m|n", "m",
     "DFA's B ~ N(0, 2/fan): fan = outputs m or layer width n"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

const OzRuleOps oz_rule_dfa_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "dfa",
    .state_size = 0,
    .summary = "direct feedback alignment: g_s = e Bᵀ, B fixed and random",
    .pathway = "random",
    .params = dfa_params,
};

/* oz-rule-opzo.c — opzo: online pseudo-zeroth-order learning (docs/ALGORITHM.md §7.5, Eqs.
 * 5–6): every hidden population is probed with α·z during training; the `momentum`
 * pathway of feedback/oz-feedback.c keeps M ← λ_M M + (1−λ_M) mean_b z õᵀ and gives
 * g_s = e Mᵀ.  Any delays and jitter; the three-factor gate. */
#include "plasticity/oz-learner.h"

/* Every hidden population, where [rule] noise_position says. */
static gboolean opzo_probe(void *state, const OzLearner *l, const OzPopulation *pop,
                           OzNoiseMode *where) {
    (void)state;
    (void)pop;
    *where = l->p.position;
    return TRUE;
}

static const OzParamSpec opzo_params[] = {
    {"momentum", OZ_PARAM_DOUBLE, offsetof(OzLearnParams, momentum), 0, 1, NULL, "0.99999",
     "λ_M of OPZO's feedback matrices M"},
    {"inverse_alpha", OZ_PARAM_BOOL, offsetof(OzLearnParams, inverse_alpha), 0, 0, NULL, "false",
     "OPZO: M accumulates zõᵀ/α instead of zõᵀ"},
    {"m_batch", OZ_PARAM_ENUM, offsetof(OzLearnParams, m_batch_sum), 0, 0, "mean|sum", "mean",
     "OPZO: M gathers the batch mean or the batch sum of zõᵀ"},
    {"m_cadence", OZ_PARAM_ENUM, offsetof(OzLearnParams, m_per_window), 0, 0, "tick|window",
     "tick", "OPZO: update M every tick, or once per window with Σ_t zõᵀ (used from the next window)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

const OzRuleOps oz_rule_opzo_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "opzo",
    .state_size = 0,
    .summary = "online pseudo-zeroth order: probe z, M ← λ M + (1−λ) z õᵀ, g_s = e Mᵀ",
    .pathway = "momentum",
    .probe = opzo_probe,
    .params = opzo_params,
};

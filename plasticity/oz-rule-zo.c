/* oz-rule-zo.c — zo: single-point zeroth order (docs/ALGORITHM.md §7.4, probes §6):
 * every hidden population is probed with α·z during training, and g_s,b = (ℓ_b / α) z_b —
 * the `broadcast` pathway of feedback/oz-feedback.c.  Any delays and jitter; the
 * three-factor gate. */
#include "plasticity/oz-learner.h"

/* Every hidden population, where [rule] noise_position says. */
static gboolean zo_probe(void *state, const OzLearner *l, const OzPopulation *pop,
                         OzNoiseMode *where) {
    (void)state;
    (void)pop;
    *where = l->p.position;
    return TRUE;
}

const OzRuleOps oz_rule_zo_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "zo",
    .state_size = 0,
    .summary = "single-point zeroth order: probe z, g_s = (loss / α) z",
    .pathway = "broadcast",
    .probe = zo_probe,
};

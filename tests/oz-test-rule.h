/* oz-test-rule.h — what the rule tests ask of a registered rule beyond its ops table (header
 * only: tests/oz-test-util is linked into programs without the rules). */
#pragma once

#include "feedback/oz-feedback.h"
#include "plasticity/oz-rule.h"

/* Whether the registered rule `name` sends no signal to the hidden populations (a direct
 * pathway without a matrix or a probe: `readout`).  The tests that require a hidden
 * gradient of every rule assert instead that such a rule's is exactly zero. */
static inline gboolean oz_test_rule_is_silent(const char *name) {
    const OzRuleOps *r = oz_rule_lookup(name);
    g_assert(r != NULL);
    if (oz_rule_chains(r))
        return FALSE;
    const OzFeedbackOps *f = oz_feedback_lookup(r->pathway);
    return f && !f->has_matrix && !f->needs_noise;
}

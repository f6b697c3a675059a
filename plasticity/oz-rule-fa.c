/* oz-rule-fa.c — fa: feedback alignment (Lillicrap et al. 2016), layer by layer.  BP's
 * chain with a fixed random matrix B in place of each weight matrix:
 *     g_s(l) = Σ over l's outgoing projections p of g_u(target) · B_pᵀ
 * (the readout's error e for the last layer), formed when the error arrives, the deeper
 * population first — the learning core's chain (plasticity/oz-rule.h).
 *
 * B_p has W_p's layout (its kind's tensor) and is drawn as W_p's initialisation is, by
 * the kind's draw_like_weights slot (neurons/oz-kind.h; docs/ALGORITHM.md §3.1:
 * `[projection] init` and `init_scale`), but from its own stream
 * (seed, "fa:" + the projection's name): the init stream draws exactly what it draws for
 * every other rule, and a run resumed or rebuilt from the same seed gets the same B, so
 * B is not checkpointed.  Only projections leaving a hidden population get one (those
 * are the chain's).  Like BP, fa needs one feedback delay for every hidden population and
 * no jitter; no probe; the three-factor gate. */
#include "plasticity/oz-learner.h"

typedef struct {
    guint n;   /* projections of the network */
    float **b; /* per projection id: B in W's layout, or NULL */
} FaState;

static gboolean fa_setup(void *state, OzLearner *l, guint64 seed, GError **error) {
    (void)error;
    FaState *s = state;
    s->n = l->net->projs->len;
    s->b = g_new0(float *, s->n);
    for (guint i = 0; i < s->n; i++) {
        const OzProjection *p = g_ptr_array_index(l->net->projs, i);
        if (!oz_learner_hidden(l, p->pre))
            continue;
        g_autofree char *purpose = g_strdup_printf("fa:%s", p->name);
        OzRng rng;
        oz_rng_init(&rng, seed, purpose);
        /* B has W's layout and its kind draws it like W. */
        s->b[p->id] = g_new0(float, p->nw);
        p->kind->draw_like_weights(p, &rng, s->b[p->id]);
    }
    return TRUE;
}

static void fa_clear(void *state) {
    FaState *s = state;
    for (guint i = 0; s->b && i < s->n; i++)
        g_free(s->b[i]);
    g_clear_pointer(&s->b, g_free);
}

static const float *fa_chain_matrix(void *state, const OzLearner *l, const OzProjection *p) {
    (void)l;
    const FaState *s = state;
    /* setup drew a B for every projection leaving a hidden population: the chain's. */
    g_assert((guint)p->id < s->n && s->b[p->id]);
    return s->b[p->id];
}

static gboolean fa_check_feedback(void *state, const OzLearner *l, GError **error) {
    (void)state;
    return oz_learner_check_uniform_feedback(l, error);
}

const OzRuleOps oz_rule_fa_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "fa",
    .state_size = sizeof(FaState),
    .summary = "feedback alignment: the chain g_s = g_u(above) · Bᵀ, B fixed, drawn like W",
    .chain_matrix = fa_chain_matrix,
    .check_feedback = fa_check_feedback,
    .setup = fa_setup,
    .clear = fa_clear,
};

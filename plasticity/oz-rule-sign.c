/* oz-rule-sign.c — sign: sign symmetry (Liao, Leibo & Poggio 2016), layer by layer.  BP's
 * chain with the signs of the weights in place of the weights:
 *     g_s(l) = Σ over l's outgoing projections p of g_u(target) · sign(W_p)ᵀ
 * (the readout's error e for the last layer; sign(0) = 0), formed when the error arrives,
 * the deeper population first — the learning core's chain (plasticity/oz-rule.h).
 *
 * sign(W) is kept per projection of the chain and refreshed whenever W can have changed:
 * at the start of every window (after a checkpoint was loaded, say) and after every
 * optimizer step (every tick with [rule] step = tick).  It is derived from W, so nothing
 * is drawn and nothing is checkpointed.  Like BP, sign needs one feedback delay for every
 * hidden population and no jitter; no probe; the three-factor gate. */
#include "plasticity/oz-learner.h"

typedef struct {
    guint n;   /* projections of the network */
    float **s; /* per projection id: sign(W) (n_pre, n_post), or NULL */
} SignState;

static gboolean sign_setup(void *state, OzLearner *l, guint64 seed, GError **error) {
    (void)seed;
    (void)error;
    SignState *s = state;
    s->n = l->net->projs->len;
    s->s = g_new0(float *, s->n);
    for (guint i = 0; i < s->n; i++) {
        const OzProjection *p = g_ptr_array_index(l->net->projs, i);
        if (oz_learner_hidden(l, p->pre))
            s->s[p->id] = g_new0(float, p->nw);
    }
    return TRUE;
}

static void sign_clear(void *state) {
    SignState *s = state;
    for (guint i = 0; s->s && i < s->n; i++)
        g_free(s->s[i]);
    g_clear_pointer(&s->s, g_free);
}

/* sign(W) of every projection of the chain, from the current weights. */
static void refresh(void *state, OzLearner *l) {
    SignState *s = state;
    for (guint i = 0; i < s->n; i++) {
        const OzProjection *p = g_ptr_array_index(l->net->projs, i);
        float *out = s->s[p->id];
        if (!out)
            continue;
        for (gsize j = 0; j < p->nw; j++)
            out[j] = (float)((p->w[j] > 0.0f) - (p->w[j] < 0.0f));
    }
}

static const float *sign_chain_matrix(void *state, const OzLearner *l, const OzProjection *p) {
    (void)l;
    const SignState *s = state;
    /* setup made one for every projection leaving a hidden population: the chain's. */
    g_assert((guint)p->id < s->n && s->s[p->id]);
    return s->s[p->id];
}

static gboolean sign_check_feedback(void *state, const OzLearner *l, GError **error) {
    (void)state;
    return oz_learner_check_uniform_feedback(l, error);
}

const OzRuleOps oz_rule_sign_ops = {
    .api_version = OZ_RULE_API_VERSION,
    .name = "sign",
    .state_size = sizeof(SignState),
    .summary = "sign symmetry: the chain g_s = g_u(above) · sign(W)ᵀ",
    .chain_matrix = sign_chain_matrix,
    .check_feedback = sign_check_feedback,
    .setup = sign_setup,
    .clear = sign_clear,
    .window_begin = refresh,
    .step_done = refresh,
};

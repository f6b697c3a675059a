/* oz-feedback.c — the four pathways.  Every product is one sgemm over the batch. */
#include "oz-feedback.h"

#include "engine/oz-dist.h"
#include "engine/oz-par.h"
#include <math.h>
#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as minus
 * signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-feedback-error-quark, oz_feedback_error)
// clang-format on

static void signal_matrix(OzPathway *p, const OzFeedbackCtx *c, float *g_s) {
    /* g_s (rows, n) = e (rows, m) · matᵀ, mat (n, m). */
    oz_sgemm(CblasNoTrans, CblasTrans, c->rows, p->n, p->m, 1.0f, c->e, p->m, p->mat, p->m, 0.0f,
             g_s, p->n);
    p->macs += (guint64)c->rows * p->n * p->m;
}

static void observe_learned(OzPathway *p, const OzFeedbackCtx *c) {
    /* ∇B (n, m) += âᵀ (n, rows) · e (rows, m). */
    oz_sgemm(CblasTrans, CblasNoTrans, p->n, p->m, c->rows, 1.0f, c->trace, p->n, c->e, p->m, 1.0f,
             p->grad, p->m);
    p->macs += (guint64)c->rows * p->n * p->m;
}

static void observe_momentum(OzPathway *p, const OzFeedbackCtx *c) {
    /* M ← λ_M M + (1 − λ_M)/rows · zᵀ õ [/α]; or the sum over the batch; or, per window,
     * gather zᵀõ and apply the update at the window's end. */
    double k = p->batch_sum ? 1.0 : 1.0 / (c->batch_rows > 0 ? c->batch_rows : c->rows);
    if (p->inverse_alpha && c->alpha != 0.0f)
        k /= c->alpha;
    if (!p->per_window && oz_dist_size() > 1) {
        /* Several processes, each with a share of the batch (docs/CLUSTER.md): M needs the
         * whole batch's zᵀõ at every tick, so the shares' products are summed (in rank
         * order) before the update; one process takes the fused product below. */
        gsize sz = (gsize)p->n * p->m;
        if (!p->dist_acc)
            p->dist_acc = g_new0(float, sz);
        oz_sgemm(CblasTrans, CblasNoTrans, p->n, p->m, c->rows, 1.0f, c->z, p->n, c->o, p->m, 0.0f,
                 p->dist_acc, p->m);
        oz_dist_sum_f32(p->dist_acc, sz);
        const float lam = (float)p->momentum, kk = (float)(k * (1.0 - p->momentum));
        for (gsize i = 0; i < sz; i++)
            p->mat[i] = kk * p->dist_acc[i] + lam * p->mat[i];
        p->macs += (guint64)c->rows * p->n * p->m;
        return;
    }
    if (p->per_window) {
        if (!p->window_acc)
            p->window_acc = g_new0(float, (gsize)p->n * p->m);
        oz_sgemm(CblasTrans, CblasNoTrans, p->n, p->m, c->rows, (float)k, c->z, p->n, c->o, p->m,
                 1.0f, p->window_acc, p->m);
    } else {
        oz_sgemm(CblasTrans, CblasNoTrans, p->n, p->m, c->rows, (float)(k * (1.0 - p->momentum)),
                 c->z, p->n, c->o, p->m, (float)p->momentum, p->mat, p->m);
    }
    p->macs += (guint64)c->rows * p->n * p->m;
}

static void signal_broadcast(OzPathway *p, const OzFeedbackCtx *c, float *g_s) {
    for (int b = 0; b < c->rows; b++) {
        float k = c->alpha != 0.0f ? (float)(c->sample_loss[b] / c->alpha) : 0.0f;
        const float *z = c->z + (gsize)b * p->n;
        float *g = g_s + (gsize)b * p->n;
        for (int i = 0; i < p->n; i++)
            g[i] = k * z[i];
    }
    p->macs += (guint64)c->rows * p->n;
}

/* No signal: g_s = 0, so a hidden population learns nothing from the output (the readout
 * still learns by its own local rule). */
static void signal_none(OzPathway *p, const OzFeedbackCtx *c, float *g_s) {
    memset(g_s, 0, sizeof(float) * (gsize)c->rows * (gsize)p->n);
}

static const OzFeedbackOps random_ops = {
    OZ_FEEDBACK_API_VERSION, "random", TRUE, FALSE, FALSE, NULL, signal_matrix};
static const OzFeedbackOps learned_ops = {OZ_FEEDBACK_API_VERSION, "learned",    TRUE, TRUE, FALSE,
                                          observe_learned,         signal_matrix};
static const OzFeedbackOps momentum_ops = {OZ_FEEDBACK_API_VERSION, "momentum",   TRUE, FALSE, TRUE,
                                           observe_momentum,        signal_matrix};
static const OzFeedbackOps broadcast_ops = {
    OZ_FEEDBACK_API_VERSION, "broadcast", FALSE, FALSE, TRUE, NULL, signal_broadcast};

static const OzFeedbackOps none_ops = {
    OZ_FEEDBACK_API_VERSION, "none", FALSE, FALSE, FALSE, NULL, signal_none};

static const OzFeedbackOps *const registry[] = {&random_ops, &learned_ops, &momentum_ops,
                                                &broadcast_ops, &none_ops, NULL};

const OzFeedbackOps *oz_feedback_lookup(const char *name) {
    for (int i = 0; registry[i]; i++)
        if (g_strcmp0(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const OzFeedbackOps *const *oz_feedback_all(void) {
    return registry;
}

void oz_pathway_init(OzPathway *p, const OzFeedbackOps *ops, int n, int m, OzRng *rng,
                     gboolean fan_n, gboolean draw_trained) {
    memset(p, 0, sizeof *p);
    p->ops = ops;
    p->n = n;
    p->m = m;
    p->momentum = 0.99999;
    if (!ops || !ops->has_matrix)
        return;
    gsize sz = (gsize)n * (gsize)m;
    p->mat = g_new0(float, sz);
    if (ops->trained)
        p->grad = g_new0(float, sz);
    if (ops == &random_ops || (ops->trained && draw_trained)) {
        double std = sqrt(2.0 / (fan_n ? n : m));
        for (gsize i = 0; i < sz; i++)
            p->mat[i] = (float)(oz_rng_gauss(rng) * std);
    }
}

void oz_pathway_end_window(OzPathway *p) {
    if (!p->per_window || !p->window_acc)
        return;
    /* Several processes: the window's sum over the whole batch (docs/CLUSTER.md). */
    oz_dist_sum_f32(p->window_acc, (gsize)p->n * p->m);
    const float lam = (float)p->momentum, k = (float)(1.0 - p->momentum);
    for (gsize i = 0, sz = (gsize)p->n * p->m; i < sz; i++) {
        p->mat[i] = lam * p->mat[i] + k * p->window_acc[i];
        p->window_acc[i] = 0.0f;
    }
}

void oz_pathway_clear(OzPathway *p) {
    g_clear_pointer(&p->window_acc, g_free);
    g_clear_pointer(&p->dist_acc, g_free);
    g_clear_pointer(&p->mat, g_free);
    g_clear_pointer(&p->grad, g_free);
}

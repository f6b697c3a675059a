/* oz-optim.h — AdamW and SGD with momentum over a list of flat parameter tensors.
 *
 * AdamW follows the decoupled form (Loshchilov & Hutter; PyTorch's AdamW):
 *   w ← w·(1 − lr·wd);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
 *   w ← w − lr · m̂ / (√v̂ + ε),  m̂ = m/(1−β1^t), v̂ = v/(1−β2^t).
 * SGD: g' = g + wd·w;  buf ← μ·buf + g' (buf = g' on the first step);  w ← w − lr·buf.
 * Moments are float, as in the frameworks.
 */
#pragma once

#include <glib.h>

typedef enum { OZ_OPTIM_ADAMW = 0, OZ_OPTIM_SGD, OZ_OPTIM_COUNT } OzOptimKind;

typedef struct {
    OzOptimKind kind;
    double lr, weight_decay, beta1, beta2, eps, momentum;
} OzOptimParams;

typedef struct {
    char *name;
    float *w, *g; /* (transfer none) */
    float *m, *v; /* owned moments */
    gsize n;
} OzParam;

typedef struct {
    OzOptimParams p;
    GArray *params; /* of OzParam */
    gint64 steps;
} OzOptimizer;

OzOptimizer *oz_optim_new(const OzOptimParams *params);
void oz_optim_free(OzOptimizer *opt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzOptimizer, oz_optim_free)
void oz_optim_add(OzOptimizer *opt, const char *name, float *w, float *g, gsize n);
void oz_optim_zero_grad(OzOptimizer *opt);
/* One step with learning rate lr (the schedule is the caller's). */
void oz_optim_step(OzOptimizer *opt, double lr);

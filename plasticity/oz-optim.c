/* oz-optim.c — see oz-optim.h. */
#include "oz-optim.h"

#include "engine/oz-par.h"

#include <math.h>
#include <string.h>

OzOptimizer *oz_optim_new(const OzOptimParams *params) {
    OzOptimizer *o = g_new0(OzOptimizer, 1);
    o->p = *params;
    o->params = g_array_new(FALSE, TRUE, sizeof(OzParam));
    return o;
}

void oz_optim_free(OzOptimizer *o) {
    if (!o)
        return;
    for (guint i = 0; i < o->params->len; i++) {
        OzParam *p = &g_array_index(o->params, OzParam, i);
        g_free(p->name);
        g_free(p->m);
        g_free(p->v);
    }
    g_array_free(o->params, TRUE);
    g_free(o);
}

void oz_optim_add(OzOptimizer *o, const char *name, float *w, float *g, gsize n) {
    OzParam p = {g_strdup(name), w, g, g_new0(float, n), g_new0(float, n), n};
    g_array_append_val(o->params, p);
}

void oz_optim_zero_grad(OzOptimizer *o) {
    for (guint i = 0; i < o->params->len; i++) {
        OzParam *p = &g_array_index(o->params, OzParam, i);
        memset(p->g, 0, p->n * sizeof(float));
    }
}

typedef struct {
    OzParam *p;
    gboolean adamw, first;
    float b1, b2, eps, step, inv_sqrt_bc2, decay; /* AdamW */
    float mu, wd, lr;                             /* SGD */
} StepJob;

/* Elements [begin, end) of one parameter: one part of the compute team. */
static void step_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const StepJob *j = ctx;
    OzParam *p = j->p;
    if (j->adamw) {
        const float b1 = j->b1, b2 = j->b2;
        for (gsize i = begin; i < end; i++) {
            float g = p->g[i];
            float m = b1 * p->m[i] + (1.0f - b1) * g;
            float v = b2 * p->v[i] + (1.0f - b2) * g * g;
            p->m[i] = m;
            p->v[i] = v;
            float w = p->w[i] * j->decay;
            p->w[i] = w - j->step * m / (sqrtf(v) * j->inv_sqrt_bc2 + j->eps);
        }
        return;
    }
    for (gsize i = begin; i < end; i++) {
        float g = p->g[i] + j->wd * p->w[i];
        float buf = j->first ? g : j->mu * p->m[i] + g;
        p->m[i] = buf;
        p->w[i] -= j->lr * buf;
    }
}

void oz_optim_step(OzOptimizer *o, double lr) {
    o->steps++;
    StepJob j = {.adamw = o->p.kind == OZ_OPTIM_ADAMW,
                 .first = o->steps == 1,
                 .b1 = (float)o->p.beta1,
                 .b2 = (float)o->p.beta2,
                 .eps = (float)o->p.eps,
                 .mu = (float)o->p.momentum,
                 .wd = (float)o->p.weight_decay,
                 .lr = (float)lr};
    if (j.adamw) {
        const double bc1 = 1.0 - pow(o->p.beta1, (double)o->steps);
        const double bc2 = 1.0 - pow(o->p.beta2, (double)o->steps);
        j.step = (float)(lr / bc1);
        j.inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
        j.decay = (float)(1.0 - lr * o->p.weight_decay);
    }
    for (guint k = 0; k < o->params->len; k++) {
        j.p = &g_array_index(o->params, OzParam, k);
        oz_par_for(j.p->n, 16, step_part, &j);
    }
}

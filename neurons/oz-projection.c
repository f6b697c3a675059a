/* oz-projection.c — the kind-independent part of a projection: construction (the kind
 * allocates its tensor), the delivery buffers, counters, and dispatch to the kind
 * (neurons/oz-kind.h).
 */
#include "oz-projection.h"

#include "neurons/oz-hardware.h"

#include <math.h>
#include <string.h>

OzProjection *oz_projection_new(const char *name, OzPopulation *pre, OzPopulation *post,
                                const OzProjectionParams *params) {
    g_return_val_if_fail(pre && post && params && params->delay_ticks >= 0, NULL);
    g_return_val_if_fail(pre->batch == post->batch, NULL);
    OzProjection *p = g_new0(OzProjection, 1);
    p->name = g_strdup(name);
    p->pre = pre;
    p->post = post;
    p->n_pre = pre->n;
    p->n_post = post->n;
    p->p = *params;
    p->p.kind_params = NULL;
    p->kind = params->kind ? params->kind : oz_projection_kind_lookup("dense");
    g_assert(p->kind);
    if (p->kind->state_size)
        p->kstate = g_malloc0(p->kind->state_size);
    if (p->kind->params_size) {
        p->kparams = g_malloc0(p->kind->params_size);
        if (params->kind_params)
            memcpy(p->kparams, params->kind_params, p->kind->params_size);
        else
            oz_param_defaults(p->kind->params, p->kparams);
    }
    p->kind->alloc(p);
    if (params->weight_standardization && p->kind->fan_in) {
        OzFanIn lay;
        p->kind->fan_in(p, &lay);
        g_assert(lay.units * lay.fan_in == p->nw);
        if (lay.fan_in >= 2)
            p->ws = oz_wstd_new(&lay);
    }
    p->cache = g_new0(float, (gsize)pre->batch *(gsize)p->n_post);
    /* Delta state only where spike packets can arrive and delta delivery may be used. */
    gboolean spiking = oz_neuron_emits(pre) == OZ_EMITS_SPIKES;
    gboolean delta = params->delivery == OZ_DELIVERY_DELTA ||
                     (params->delivery == OZ_DELIVERY_AUTO && params->delta);
    if (spiking && delta) {
        gsize bpre = (gsize)pre->batch * (gsize)p->n_pre;
        p->cur = g_new0(float, (gsize)pre->batch * (gsize)p->n_post);
        p->s_prev = g_new0(float, bpre);
        p->didx = g_new0(int, bpre);
        p->dval = g_new0(float, bpre);
        p->dcount = g_new0(int, pre->batch);
    }
    return p;
}

void oz_projection_free(OzProjection *p) {
    if (!p)
        return;
    g_free(p->name);
    p->kind->free(p);
    g_clear_pointer(&p->grad, g_free);
    oz_wstd_free(p->ws);
    g_free(p->kstate);
    g_free(p->kparams);
    g_free(p->cache);
    g_free(p->cur);
    g_free(p->s_prev);
    g_free(p->didx);
    g_free(p->dval);
    g_free(p->dcount);
    g_free(p);
}

float *oz_projection_grad(OzProjection *p) {
    if (!p->grad)
        p->grad = g_new0(float, MAX(p->nw, 1));
    return p->grad;
}

/* Under sWS the kind's draw is the raw W; γ starts at 1 (oz_wstd_new). */
void oz_projection_draw_init(const OzProjection *p, OzRng *rng, float *out, gsize n,
                             double fan_in, double fan_out) {
    switch (p->p.init) {
    case OZ_INIT_UNIFORM: {
        const double bound = p->p.init_scale / sqrt(fan_in);
        for (gsize i = 0; i < n; i++)
            out[i] = (float)((2.0 * oz_rng_uniform(rng) - 1.0) * bound);
        break;
    }
    case OZ_INIT_NORMAL:
        for (gsize i = 0; i < n; i++)
            out[i] = (float)(oz_rng_gauss(rng) * p->p.init_scale);
        break;
    case OZ_INIT_KAIMING: {
        const double sd = p->p.init_scale * sqrt(2.0 / fan_out);
        for (gsize i = 0; i < n; i++)
            out[i] = (float)(oz_rng_gauss(rng) * sd);
        break;
    }
    case OZ_INIT_ZERO:
    case OZ_INIT_COUNT:
        memset(out, 0, n * sizeof(float));
        break;
    }
}

void oz_projection_init_weights(OzProjection *p, OzRng *rng) {
    p->kind->init(p, rng);
    if (p->ws)
        memcpy(p->ws->w_raw, p->w, sizeof(float) * p->nw);
    oz_projection_weights_changed(p);
}

float *oz_projection_param(OzProjection *p) {
    return p->ws ? p->ws->w_raw : p->w;
}

float *oz_projection_param_grad(OzProjection *p) {
    return p->ws ? p->ws->grad_raw : oz_projection_grad(p);
}

void oz_projection_weights_changed(OzProjection *p) {
    if (p->ws)
        oz_wstd_forward(p->ws, p->w);
    oz_projection_reset(p);
}

void oz_projection_grad_backward(OzProjection *p) {
    if (!p->ws || !p->grad)
        return;
    oz_wstd_backward(p->ws, p->grad);
    memset(p->grad, 0, sizeof(float) * p->nw);
}

void oz_projection_reset(OzProjection *p) {
    /* The chip's forward weights follow w: a reset comes after every change of w. */
    oz_chip_refresh_weights(p);
    if (p->kind->reset)
        p->kind->reset(p);
    p->cache_valid = FALSE;
    p->have_prev = FALSE;
    p->delta_run = 0;
}

void oz_projection_counters_clear(OzProjection *p) {
    p->synops = p->row_fetches = p->dense_macs = p->update_macs = 0;
    p->packets_event = p->packets_dense = p->spike_dense_macs = 0;
    p->packets_delta = p->delta_rows = 0;
    if (p->chip)
        p->chip->dropped = 0;
}

void oz_projection_deliver(OzProjection *p, OzFrame *f, float *acc) {
    p->kind->deliver(p, oz_chip_drop(p, f), acc);
}

int oz_projection_shape(const OzProjection *p, gsize dims[2]) {
    return p->kind->shape(p, dims);
}

gboolean oz_projection_configure(const OzProjectionKindOps *kind, const void *kind_params,
                                 const OzPopulation *pre, const OzPopulation *post,
                                 const char **key, GError **error) {
    if (!kind || !kind->configure)
        return TRUE;
    g_autofree gpointer defaults = NULL;
    if (!kind_params && kind->params_size) {
        defaults = g_malloc0(kind->params_size);
        oz_param_defaults(kind->params, defaults);
        kind_params = defaults;
    }
    return kind->configure(kind_params, pre->rank, pre->shape, post->rank, post->shape, key,
                           error);
}

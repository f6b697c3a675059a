/* oz-threshold-nir.c — the NIR mapping of the threshold models (lif, if): their LIF and IF
 * nodes (declared in oz-threshold-private.h; the mapping is docs/INTEROP.md's).
 *
 * Export reads λ, V_th and v_reset as the run log holds them (oz_nir_export_number: the
 * decimal the user wrote, so that τ = dt/(1 − λ) does not carry a float32 rounding of λ),
 * and writes λ exactly into the metadata, so that an import here is exact.  NIR's reset is
 * hard: a soft reset is written as v_reset = 0 with opzosim_reset = soft and reported.
 *
 * Deliberately not here: the bias of a population with an Affine into it (the dense kind's
 * node holds it, oz_nir_export_place_biases), the weights' gain (the importer folds
 * OzNirPopImport.gain into them).
 */
#include "neurons/oz-threshold-private.h"

#include <string.h>

/* λ as the export writes it: the model's leak, read from the log's text when leaky. */
static double export_lambda(const OzNirExport *ex, const OzPopulation *pop) {
    const OzThresholdState *st = pop->state;
    return st->leak < 1.0f ? oz_nir_export_number(ex, pop, "lambda", st->leak) : 1.0;
}

char *oz__threshold_nir_export(OzNirExport *ex, const OzPopulation *pop, GError **error) {
    (void)error;
    const OzThresholdParams *tp = pop->params;
    const double lambda = export_lambda(ex, pop);
    const gboolean soft = !tp || tp->reset != OZ_RESET_HARD;
    const double v_reset = soft ? 0.0 : oz_nir_export_number(ex, pop, "v_reset", tp->v_reset);
    const gboolean leak = lambda < 1.0;
    OzNirNode *n = oz_nir_node_add(ex->graph, pop->name, leak ? "LIF" : "IF");
    if (leak) {
        double r = 1.0 / (1.0 - lambda);
        oz_nir_per_neuron(n->fields, "tau", pop, ex->dt * r);
        oz_nir_per_neuron(n->fields, "r", pop, r);
        oz_nir_per_neuron(n->fields, "v_leak", pop, 0.0);
    } else {
        oz_nir_per_neuron(n->fields, "r", pop, 1.0);
    }
    oz_nir_per_neuron(n->fields, "v_threshold", pop,
                      oz_nir_export_number(ex, pop, "v_th", pop->p.v_th));
    oz_nir_per_neuron(n->fields, "v_reset", pop, v_reset);
    oz_nir_field_scalar(n->meta, "opzosim_lambda", OZ_NIR_F64, lambda);
    oz_nir_field_string(n->meta, "opzosim_model", pop->ops->name);
    oz_nir_field_string(n->meta, "opzosim_reset", soft ? "soft" : "hard");
    oz_nir_exact_bias(n->meta, pop);
    if (soft)
        oz_nir_export_soft(ex, pop);
    return g_strdup(pop->name);
}

/* A LIF node holds a per-neuron bias as v_leak = b·r, since its input is (dt/τ)·v_leak per
 * tick and r·dt/τ = 1; an IF node has no such field. */
gboolean oz__threshold_nir_export_bias(const OzPopulation *pop, OzNirNode *node,
                                       const double *bias) {
    if (strcmp(node->type, "LIF") != 0)
        return FALSE;
    OzNirField *vl = (OzNirField *)oz_nir_field_find(node->fields, "v_leak");
    const OzThresholdState *st = pop->state;
    double r = 1.0 / (1.0 - oz_nir_meta_number(node, "opzosim_lambda", st->leak));
    for (int k = 0; k < pop->n && vl; k++)
        vl->v[k] = bias[k] * r;
    return vl != NULL;
}

double oz__threshold_nir_scale(const OzPopulation *pop) {
    const OzThresholdState *st = pop->state;
    return st->output_scale;
}

gboolean oz__threshold_nir_import(OzNirPopImport *im, gboolean leaky, GError **error) {
    const OzNirNode *n = im->node;
    const OzNirField *vth = oz_nir_need(n, "v_threshold", error);
    const OzNirField *r = vth ? oz_nir_need(n, "r", error) : NULL;
    if (!r)
        return FALSE;
    oz_nir_import_shape(im, vth->dims, vth->rank);
    double v_th = 0, rr = 1.0, v_reset = 0;
    if (!oz_nir_uniform(n, vth, &v_th, error) || !oz_nir_uniform(n, r, &rr, error))
        return FALSE;
    const OzNirField *vr = oz_nir_field_find(n->fields, "v_reset");
    if (vr && vr->v && !oz_nir_uniform(n, vr, &v_reset, error))
        return FALSE;
    const gboolean soft = g_strcmp0(oz_nir_meta_text(n->meta, "opzosim_reset"), "soft") == 0;
    im->gain = rr;
    if (leaky) {
        const OzNirField *tau = oz_nir_need(n, "tau", error);
        const OzNirField *vl = tau ? oz_nir_need(n, "v_leak", error) : NULL;
        double t = 0;
        if (!vl || !oz_nir_uniform(n, tau, &t, error))
            return FALSE;
        if (!(t >= im->dt)) {
            g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                        "node '%s' (%s): tau = %g s is below dt = %g s, where the Euler step "
                        "is unstable; set [network] nir_dt to the time step the file was made "
                        "for",
                        n->name, n->type, t, im->dt);
            return FALSE;
        }
        double lambda = oz_nir_meta_number(n, "opzosim_lambda", 1.0 - im->dt / t);
        im->gain = im->dt * rr / t;
        for (gsize i = 0; i < vl->n && i < (gsize)im->n; i++)
            if (vl->v[i] != 0.0) {
                im->bias[i] = (float)(im->dt / t * vl->v[i]);
                im->has_bias = TRUE;
            }
        g_string_append_printf(im->keys, "lambda = %.9g\n", (double)(float)lambda);
    }
    g_string_append_printf(im->keys, "v_th = %.9g\nreset = %s\nv_reset = %.9g\n",
                           (double)(float)v_th, soft ? "soft" : "hard", (double)(float)v_reset);
    return TRUE;
}

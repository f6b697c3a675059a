/* oz-model-cubalif.c — the current-based LIF model: two states per neuron, a synaptic current
 * with its own decay, then the membrane (NIR's CubaLIF; snnTorch's Synaptic).
 *
 * Per tick: I = α·I + x + b (x the input the projections delivered, b the bias), then the
 * threshold engine's tick on u = λ·v + I: a spike when u ≥ V_th, soft or hard reset of v,
 * dropout, the trace â = trace_decay·â + mask·s (oz-threshold.c).  The bias enters the
 * current, not the membrane, so that an Affine's bias in a NIR file (which feeds the current)
 * maps exactly.  The current starts every sample window at zero, like v.
 *
 * Learning: ψ is the threshold engine's sigmoid surrogate of u around V_th
 * (docs/ALGORITHM.md §2.5), as for lif.  The spike depends on the input only through u, and
 * u on the current I, so the surrogate of the firing is the same function of u; what the
 * rules do not see is the synaptic filter's memory (the input of earlier ticks reaching u
 * through α·I), which the learner's presynaptic trace does not follow — the same kind of
 * approximation the online trace makes for the membrane's own leak.  Every rule trains
 * through it (tests/test-cubalif.c).
 *
 * NIR (docs/INTEROP.md): a CubaLIF node, τ_syn = dt/(1 − α), τ_mem = dt/(1 − λ),
 * r = 1/(1 − λ), w_in = 1/(1 − α), v_leak = 0 (the forward-Euler map of the two equations,
 * snnTorch's export); on import λ = 1 − dt/τ_mem, α = 1 − dt/τ_syn and the input gain
 * (dt·r/τ_mem)·(dt·w_in/τ_syn) is folded into the weights.
 */
#include "neurons/oz-threshold-private.h"

#include "engine/oz-par.h"

#include <stddef.h>
#include <string.h>

/* The model's own keys: the threshold engine's reset keys, then α.  The engine reads the
 * struct as an OzThresholdParams, which is its first member. */
typedef struct {
    OzThresholdParams th;
    float alpha;
} CubaParams;

/* Private state: the engine's state first (it reads pop->state as one), then the current. */
typedef struct {
    OzThresholdState th;
    float alpha;
    float *cur; /* (B, n) the synaptic current I */
} CubaState;

#define P(f) offsetof(OzPopulationParams, f)
static const OzParamSpec cubalif_common_keys[] = {
    {"lambda", OZ_PARAM_FLOAT, P(lambda), 0, 1, NULL, "0.5",
     "leak of the membrane, u = lambda*v + I"},
    {"v_th", OZ_PARAM_FLOAT, P(v_th), 1e-6, 1e6, NULL, "1", "firing threshold"},
    {"dropout", OZ_PARAM_FLOAT, P(dropout), 0, 0.99, NULL, "0",
     "probability of silencing a neuron for a whole sample (training only)"},
    {"bias", OZ_PARAM_BOOL, P(bias), 0, 0, NULL, "true",
     "learnable bias b, added into the synaptic current"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P

static const OzParamSpec cubalif_keys[] = {
    OZ__THRESHOLD_RESET_KEY_ROWS,
    {"alpha", OZ_PARAM_FLOAT, offsetof(CubaParams, alpha), 0, 1, NULL, "0.5",
     "decay of the synaptic current, I = alpha*I + input + b"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static void cubalif_alloc(OzPopulation *pop) {
    oz__threshold_alloc(pop);
    CubaState *cs = pop->state;
    cs->cur = g_new0(float, (gsize)pop->batch *(gsize)pop->n);
}

static void cubalif_free(OzPopulation *pop) {
    CubaState *cs = pop->state;
    g_clear_pointer(&cs->cur, g_free);
}

/* The membrane and the trace decay by λ; the bias goes into the current. */
static void cubalif_prepare(OzPopulation *pop) {
    oz__threshold_prepare(pop, pop->p.lambda, pop->p.lambda);
    CubaState *cs = pop->state;
    const CubaParams *cp = pop->params;
    cs->th.bias_in_current = TRUE;
    cs->alpha = cp->alpha;
}

static void cubalif_reset(OzPopulation *pop) {
    oz__threshold_reset(pop);
    CubaState *cs = pop->state;
    memset(cs->cur, 0, (gsize)pop->batch * (gsize)pop->n * sizeof(float));
}

typedef struct {
    OzPopulation *pop;
} CurJob;

/* Rows [begin, end): I = α·I + x + b, and x ← I for the engine's charge. */
static void current_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    OzPopulation *pop = ((CurJob *)ctx)->pop;
    CubaState *cs = pop->state;
    const int n = pop->n;
    const float a = cs->alpha, bias_on = pop->p.bias ? 1.0f : 0.0f;
    for (gsize b = begin; b < end; b++) {
        float *restrict cur = cs->cur + b * (gsize)n;
        float *restrict acc = pop->acc + b * (gsize)n;
        for (int i = 0; i < n; i++) {
            float c = a * cur[i] + acc[i] + bias_on * pop->bias[i];
            cur[i] = c;
            acc[i] = c;
        }
    }
}

static void cubalif_step(OzPopulation *pop, gint64 tick) {
    CurJob j = {pop};
    oz_par_for((gsize)pop->active_samples, 1, current_rows, &j);
    oz__threshold_step(pop, tick);
}

static int cubalif_ctl(OzPopulation *pop, int op, gpointer arg) {
    if (op != OZ_NEURON_CTL_CURRENT)
        return OZ_CTL_UNKNOWN;
    const CubaState *cs = pop->state;
    *(const float **)arg = cs->cur;
    return 0;
}

/* ---- NIR ---- */

static char *cubalif_nir_export(OzNirExport *ex, const OzPopulation *pop, GError **error) {
    const OzThresholdParams *tp = pop->params;
    const CubaParams *cp = pop->params;
    const double lambda = oz_nir_export_number(ex, pop, "lambda", pop->p.lambda);
    const double alpha = oz_nir_export_number(ex, pop, "alpha", cp->alpha);
    if (!(lambda < 1.0) || !(alpha < 1.0)) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                    "population %s (cubalif): lambda = %g, alpha = %g: NIR's CubaLIF needs both "
                    "below 1 (a time constant dt/(1 - decay))",
                    pop->name, lambda, alpha);
        return NULL;
    }
    const gboolean soft = tp->reset != OZ_RESET_HARD;
    const double v_reset = soft ? 0.0 : oz_nir_export_number(ex, pop, "v_reset", tp->v_reset);
    OzNirNode *n = oz_nir_node_add(ex->graph, pop->name, "CubaLIF");
    const double r = 1.0 / (1.0 - lambda), w_in = 1.0 / (1.0 - alpha);
    oz_nir_per_neuron(n->fields, "tau_syn", pop, ex->dt * w_in);
    oz_nir_per_neuron(n->fields, "tau_mem", pop, ex->dt * r);
    oz_nir_per_neuron(n->fields, "r", pop, r);
    oz_nir_per_neuron(n->fields, "v_leak", pop, 0.0);
    oz_nir_per_neuron(n->fields, "v_threshold", pop,
                      oz_nir_export_number(ex, pop, "v_th", pop->p.v_th));
    oz_nir_per_neuron(n->fields, "v_reset", pop, v_reset);
    oz_nir_per_neuron(n->fields, "w_in", pop, w_in);
    oz_nir_field_scalar(n->meta, "opzosim_lambda", OZ_NIR_F64, lambda);
    oz_nir_field_scalar(n->meta, "opzosim_alpha", OZ_NIR_F64, alpha);
    oz_nir_field_string(n->meta, "opzosim_model", pop->ops->name);
    oz_nir_field_string(n->meta, "opzosim_reset", soft ? "soft" : "hard");
    oz_nir_exact_bias(n->meta, pop);
    if (soft)
        oz_nir_export_soft(ex, pop);
    return g_strdup(pop->name);
}

/* One value of a per-neuron field (def when the node lacks it), or an error. */
static gboolean one_value(const OzNirNode *n, const char *field, double def, gboolean required,
                          double *out, GError **error) {
    const OzNirField *f =
        required ? oz_nir_need(n, field, error) : oz_nir_field_find(n->fields, field);
    *out = def;
    if (required && !f)
        return FALSE;
    return !f || !f->v || oz_nir_uniform(n, f, out, error);
}

static gboolean cubalif_nir_import(OzNirPopImport *im, GError **error) {
    const OzNirNode *n = im->node;
    const OzNirField *vth = oz_nir_need(n, "v_threshold", error);
    if (!vth)
        return FALSE;
    oz_nir_import_shape(im, vth->dims, vth->rank);
    double v_th, r, ts, tm, w_in, v_leak, v_reset;
    if (!one_value(n, "v_threshold", 1, TRUE, &v_th, error) ||
        !one_value(n, "r", 1, TRUE, &r, error) || !one_value(n, "tau_syn", 1, TRUE, &ts, error) ||
        !one_value(n, "tau_mem", 1, TRUE, &tm, error) ||
        !one_value(n, "w_in", 1, FALSE, &w_in, error) ||
        !one_value(n, "v_leak", 0, FALSE, &v_leak, error) ||
        !one_value(n, "v_reset", 0, FALSE, &v_reset, error))
        return FALSE;
    if (!(ts >= im->dt) || !(tm >= im->dt)) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                    "node '%s' (%s): tau_syn = %g s and tau_mem = %g s must not be below dt = "
                    "%g s, where the Euler step is unstable; set [network] nir_dt to the time "
                    "step the file was made for",
                    n->name, n->type, ts, tm, im->dt);
        return FALSE;
    }
    if (v_leak != 0.0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_UNSUPPORTED,
                    "node '%s' (%s): v_leak = %g: opzosim's cubalif adds its bias into the "
                    "synaptic current, where a leak voltage of the membrane has no exact form; "
                    "only v_leak = 0 is read",
                    n->name, n->type, v_leak);
        return FALSE;
    }
    const double lambda = oz_nir_meta_number(n, "opzosim_lambda", 1.0 - im->dt / tm);
    const double alpha = oz_nir_meta_number(n, "opzosim_alpha", 1.0 - im->dt / ts);
    im->gain = (im->dt * r / tm) * (im->dt * w_in / ts);
    const gboolean soft = g_strcmp0(oz_nir_meta_text(n->meta, "opzosim_reset"), "soft") == 0;
    g_string_append_printf(im->keys,
                           "lambda = %.9g\nalpha = %.9g\nv_th = %.9g\nreset = %s\nv_reset = %.9g\n",
                           (double)(float)lambda, (double)(float)alpha, (double)(float)v_th,
                           soft ? "soft" : "hard", (double)(float)v_reset);
    return TRUE;
}

static const char *const cubalif_nir_types[] = {"CubaLIF", NULL};
static const OzNeuronNir cubalif_nir = {
    .node_types = cubalif_nir_types,
    .import_node = cubalif_nir_import,
    .export_node = cubalif_nir_export,
    .export_scale = oz__threshold_nir_scale,
};

const OzNeuronOps oz_neuron_model_cubalif = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "cubalif",
    .help = "current-based LIF: I = alpha*I + input + b, u = lambda*v + I, spike when u >= V_th",
    .state_size = sizeof(CubaState),
    .params_size = sizeof(CubaParams),
    .caps = OZ_NEURON_TRACE_OF_SPIKES,
    .common_params = cubalif_common_keys,
    .params = cubalif_keys,
    .configure = oz__threshold_configure,
    .alloc = cubalif_alloc,
    .prepare = cubalif_prepare,
    .free = cubalif_free,
    .frame_alloc = oz__threshold_frame_alloc,
    .reset = cubalif_reset,
    .step = cubalif_step,
    .emits = oz__threshold_emits,
    .surrogate = oz__threshold_surrogate,
    .clean_spikes = oz__threshold_clean_spikes,
    .trace_decay = oz__threshold_trace_decay,
    .ctl = cubalif_ctl,
    .nir = &cubalif_nir,
};

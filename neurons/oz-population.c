/* oz-population.c — the model-independent part of a population: parameters (through the
 * model's ops table), shape, buffers the core owns (acc, zero, frames), reset, the frame ring
 * and the per-sample spike lists.  What the neurons compute is in neurons/oz-model-*.c.
 */
#include "oz-population.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "engine/oz-par.h"

#include <stdint.h>

#include <math.h>
#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as
 * minus signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-neurons-error-quark, oz_neurons_error)
// clang-format on

/* Checks the shape against the size: either may be given, both must agree. */
static gboolean check_shape(const char *name, const OzPopulationParams *params, GError **error) {
    if (params->rank < 0 || params->rank > OZ_SHAPE_MAX_RANK) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "population %s: a shape has 1 to %d dimensions, not %d", name,
                    OZ_SHAPE_MAX_RANK, params->rank);
        return FALSE;
    }
    gint64 product = 1;
    for (int d = 0; d < params->rank; d++) {
        if (params->shape[d] < 1) {
            g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                        "population %s: dimension %d of the shape is %d; each must be >= 1",
                        name, d, params->shape[d]);
            return FALSE;
        }
        product *= params->shape[d];
        if (product > G_MAXINT)
            break;
    }
    if (params->rank > 0 && product != params->size) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "population %s: the shape's product is %" G_GINT64_FORMAT
                    ", but the size is %d",
                    name, product, params->size);
        return FALSE;
    }
    return TRUE;
}

OzPopulation *oz_population_new(const char *name, const OzPopulationParams *params, int batch,
                                GError **error) {
    const OzNeuronOps *ops = oz_neuron_lookup(params->model);
    if (!ops) {
        g_autofree char *names = oz_neuron_names();
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "population %s: unknown neuron model '%s' (models: %s)", name,
                    params->model ? params->model : "(null)", names);
        return NULL;
    }
    g_return_val_if_fail(params->size > 0 && batch > 0, NULL);
    if (!check_shape(name, params, error))
        return NULL;
    /* Parameters first, on temporaries: an error leaves nothing behind. */
    OzPopulationParams pp = *params;
    g_autofree gpointer priv = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    const char *bad_key = NULL;
    g_autoptr(GError) local = NULL;
    if (!oz_neuron_configure(ops, params->keys, params->values, &pp, priv, &bad_key, &local)) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID, "population %s: %s%s%s",
                    name, bad_key ? bad_key : "", bad_key ? ": " : "", local->message);
        return NULL;
    }
    OzPopulation *pop = g_new0(OzPopulation, 1);
    pop->ops = ops;
    pop->name = g_strdup(name);
    pop->n = params->size;
    pop->batch = batch;
    pop->p = pp;
    pop->p.model = ops->name;
    pop->p.keys = pop->p.values = NULL;
    pop->rank = params->rank > 0 ? params->rank : 1;
    if (params->rank > 0)
        memcpy(pop->shape, params->shape, sizeof(int) * (gsize)params->rank);
    else
        pop->shape[0] = params->size;
    pop->params = g_steal_pointer(&priv);
    pop->state = ops->state_size ? g_malloc0(ops->state_size) : NULL;
    gsize bn = (gsize)batch * (gsize)pop->n;
    pop->acc = g_new0(float, bn);
    pop->zero = g_new0(float, bn);
    if (ops->alloc)
        ops->alloc(pop);
    if (ops->prepare)
        ops->prepare(pop);
    pop->active_samples = batch;
    pop->sum_to = G_MAXINT64;
    pop->input_ticks = G_MAXINT64;
    pop->out = g_ptr_array_new();
    pop->in = g_ptr_array_new();
    oz_population_set_depth(pop, 1);
    return pop;
}

char *oz_population_shape_string(const OzPopulation *pop) {
    GString *s = g_string_new(NULL);
    for (int d = 0; d < pop->rank; d++)
        g_string_append_printf(s, "%s%d", d ? "," : "", pop->shape[d]);
    return g_string_free(s, FALSE);
}

static void free_frames(OzPopulation *pop) {
    for (int k = 0; k < pop->depth; k++) {
        OzFrame *f = &pop->frames[k];
        g_free(f->counts);
        g_free(f->idx);
        g_free(f->mult);
        if (f->trace != f->s && f->trace != pop->x)
            g_free(f->trace);
        if (f->s != pop->x)
            g_free(f->s);
        g_free(f->u);
        g_free(f->z);
    }
    g_free(pop->frames);
    pop->frames = NULL;
    pop->depth = 0;
}

void oz_population_free(OzPopulation *pop) {
    if (!pop)
        return;
    free_frames(pop);
    if (pop->ops->free)
        pop->ops->free(pop);
    g_free(pop->state);
    g_free(pop->params);
    g_free(pop->name);
    g_free(pop->acc);
    g_free(pop->zero);
    g_free(pop->x);
    g_free(pop->spike_in);
    g_free(pop->v);
    g_free(pop->mask);
    g_free(pop->o);
    g_free(pop->osum);
    g_free(pop->bias);
    g_free(pop->bias_grad);
    g_ptr_array_free(pop->out, TRUE);
    g_ptr_array_free(pop->in, TRUE);
    g_free(pop);
}

void oz_population_enable_input_trace(OzPopulation *pop) {
    g_return_if_fail(oz_neuron_has(pop, OZ_NEURON_SOURCE));
    pop->input_trace = TRUE;
    oz_population_set_depth(pop, pop->depth);
}

void oz_population_set_depth(OzPopulation *pop, int depth) {
    g_return_if_fail(depth >= 1);
    free_frames(pop);
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    pop->depth = depth;
    pop->frames = g_new0(OzFrame, depth);
    for (int k = 0; k < depth; k++) {
        OzFrame *f = &pop->frames[k];
        f->tick = -1;
        f->counts = g_new0(int, pop->batch);
        f->idx = g_new0(int, bn);
        if (pop->ops->frame_alloc)
            pop->ops->frame_alloc(pop, f);
        if (!f->s)
            f->s = g_new0(float, bn);
        if (!f->trace)
            f->trace = g_new0(float, bn);
    }
    pop->u = pop->frames[0].u;
}

OzFrame *oz_population_frame(OzPopulation *pop, gint64 tick) {
    g_assert(tick >= 0);
    return &pop->frames[tick % pop->depth];
}

void oz_population_reset(OzPopulation *pop) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    memset(pop->acc, 0, bn * sizeof(float));
    for (int k = 0; k < pop->depth; k++) {
        OzFrame *f = &pop->frames[k];
        f->tick = -1;
        f->kind = OZ_FRAME_EMPTY;
        f->nspikes = 0;
        /* Rows of samples beyond active_samples (the short last batch) are never
         * stepped: give them no spikes so no delivery touches them. */
        for (int b = pop->active_samples; b < pop->batch; b++) {
            f->counts[b] = 0;
            if (f->s != pop->x)
                memset(f->s + (gsize)b * pop->n, 0, (gsize)pop->n * sizeof(float));
            if (f->trace && f->trace != f->s)
                memset(f->trace + (gsize)b * pop->n, 0, (gsize)pop->n * sizeof(float));
        }
    }
    if (pop->ops->reset)
        pop->ops->reset(pop);
}

void oz_population_step(OzPopulation *pop, gint64 tick) {
    pop->ops->step(pop, tick);
}

void oz_population_counters_clear(OzPopulation *pop) {
    pop->spikes = 0;
    pop->neuron_updates = 0;
}

typedef struct {
    OzFrame *f;
    int n;
} IndexJob;

static void index_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const IndexJob *j = ctx;
    const int n = j->n;
    for (gsize b = begin; b < end; b++) {
        const float *s = j->f->s + b * n;
        int *idx = j->f->idx + b * n;
        int cnt = 0, i = 0;
#ifdef __AVX512F__
        /* Sixteen at a time, compressed in a register and stored in full at cnt (≤ i):
         * the same list as the scalar loop. */
        const __m512i step = _mm512_set1_epi32(16);
        __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for (; i + 16 <= n; i += 16) {
            __mmask16 m =
                _mm512_cmp_ps_mask(_mm512_loadu_ps(s + i), _mm512_setzero_ps(), _CMP_NEQ_UQ);
            _mm512_storeu_si512(idx + cnt, _mm512_maskz_compress_epi32(m, ids));
            cnt += __builtin_popcount((unsigned)m);
            ids = _mm512_add_epi32(ids, step);
        }
#endif
        for (; i < n; i++) {
            idx[cnt] = i;
            cnt += s[i] != 0.0f;
        }
        g_assert(cnt == j->f->counts[b]);
    }
}

const int *oz_frame_index(OzFrame *f, int rows, int n) {
    g_assert(f->kind == OZ_FRAME_SPIKES);
    if (f->indexed)
        return f->idx;
    IndexJob j = {f, n};
    oz_par_for((gsize)rows, 1, index_rows, &j);
    f->indexed = TRUE;
    return f->idx;
}


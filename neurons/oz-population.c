/* oz-population.c — population state and the three neuron models.
 *
 * The LIF step fuses charge, fire, reset, dropout, trace and the spike-list build into
 * one pass over (B, n), since every one of them reads what the previous wrote.
 * The trace of tick t is written into the frame of tick t from the frame of t − 1, so
 * a delayed reader finds the trace that went with its packet without a copy.
 *
 * The input model's trace is its raw value: the first layer's weight gradient uses
 * x[t] itself, not a trace of it (docs/ALGORITHM.md §5.4, OTTT convention).
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

static void step_input(OzPopulation *pop, gint64 tick);
static void step_lif(OzPopulation *pop, gint64 tick);
static void step_readout(OzPopulation *pop, gint64 tick);

static const OzNeuronOps input_ops = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "input",
    .has_state = FALSE,
    .emits = TRUE,
    .step = step_input,
};

static const OzNeuronOps lif_ops = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "lif",
    .has_state = TRUE,
    .emits = TRUE,
    .step = step_lif,
};

static const OzNeuronOps readout_ops = {
    .api_version = OZ_NEURON_API_VERSION,
    .name = "readout",
    .has_state = TRUE,
    .emits = FALSE,
    .step = step_readout,
};

static const OzNeuronOps *const registry[] = {&input_ops, &lif_ops, &readout_ops, NULL};

const OzNeuronOps *oz_neuron_lookup(const char *name) {
    for (int i = 0; registry[i]; i++)
        if (g_strcmp0(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const OzNeuronOps *const *oz_neuron_models(void) {
    return registry;
}

OzPopulation *oz_population_new(const char *name, const OzPopulationParams *params, int batch,
                                GError **error) {
    const OzNeuronOps *ops = oz_neuron_lookup(params->model);
    if (!ops) {
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "population %s: unknown neuron model '%s'", name,
                    params->model ? params->model : "(null)");
        return NULL;
    }
    g_return_val_if_fail(params->size > 0 && batch > 0, NULL);
    OzPopulation *pop = g_new0(OzPopulation, 1);
    pop->ops = ops;
    pop->name = g_strdup(name);
    pop->n = params->size;
    pop->batch = batch;
    pop->p = *params;
    pop->p.model = ops->name;
    gsize bn = (gsize)batch * (gsize)pop->n;
    pop->acc = g_new0(float, bn);
    pop->zero = g_new0(float, bn);
    if (ops == &input_ops)
        pop->x = g_new0(float, bn);
    if (ops == &lif_ops) {
        pop->v = g_new0(float, bn);
        pop->mask = g_new0(float, bn);
    }
    if (ops == &readout_ops) {
        pop->o = g_new0(float, bn);
        pop->osum = g_new0(float, bn);
    }
    if (ops->has_state) {
        pop->bias = g_new0(float, pop->n);
        pop->bias_grad = g_new0(float, pop->n);
    }
    pop->active_samples = batch;
    pop->sum_to = G_MAXINT64;
    pop->input_ticks = G_MAXINT64;
    pop->out = g_ptr_array_new();
    pop->in = g_ptr_array_new();
    oz_population_set_depth(pop, 1);
    return pop;
}

static void free_frames(OzPopulation *pop) {
    for (int k = 0; k < pop->depth; k++) {
        OzFrame *f = &pop->frames[k];
        g_free(f->counts);
        g_free(f->idx);
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
    g_free(pop->name);
    g_free(pop->acc);
    g_free(pop->zero);
    g_free(pop->x);
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
    g_return_if_fail(pop->ops == &input_ops);
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
        /* The static-current input emits its x buffer itself; nothing to copy.  An
         * input's trace is its emitted value (see the file comment). */
        gboolean is_input = pop->ops == &input_ops;
        if (is_input && pop->p.encoding == OZ_ENCODING_CURRENT)
            f->s = pop->x;
        else
            f->s = g_new0(float, bn);
        f->trace = is_input && !pop->input_trace ? f->s : g_new0(float, bn);
        if (pop->ops == &lif_ops) {
            f->u = g_new0(float, bn);
            f->z = g_new0(float, bn);
        }
    }
    pop->u = pop->frames[0].u;
}

OzFrame *oz_population_frame(OzPopulation *pop, gint64 tick) {
    g_assert(tick >= 0);
    return &pop->frames[tick % pop->depth];
}

typedef struct {
    float *mask;
    uint64_t key;
    int n;
    float p, keep;
} MaskJob;

/* Dropout masks of samples [begin, end), each row from its own sub-stream of the key. */
static void mask_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const MaskJob *j = ctx;
    for (gsize b = begin; b < end; b++) {
        OzRng rng;
        oz_rng_init_sub(&rng, j->key, b);
        float *m = j->mask + b * j->n;
        for (int i = 0; i < j->n; i++)
            m[i] = oz_rng_uniform(&rng) < (double)j->p ? 0.0f : j->keep;
    }
}

void oz_population_reset(OzPopulation *pop) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    memset(pop->acc, 0, bn * sizeof(float));
    if (pop->v)
        memset(pop->v, 0, bn * sizeof(float));
    if (pop->osum)
        memset(pop->osum, 0, bn * sizeof(float));
    if (pop->o)
        memset(pop->o, 0, bn * sizeof(float));
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
    if (pop->mask) {
        float p = pop->p.dropout;
        if (pop->training && p > 0.0f) {
            /* One Bernoulli(1−p) draw per neuron per sample, scaled by 1/(1−p) and kept
             * for every tick of the sample (docs/ALGORITHM.md §2.3). */
            MaskJob j = {pop->mask, oz_rng_next(pop->rng), pop->n, p, 1.0f / (1.0f - p)};
            oz_par_for((gsize)pop->batch, 1, mask_rows, &j);
        } else {
            for (gsize i = 0; i < bn; i++)
                pop->mask[i] = 1.0f;
        }
    }
}

void oz_population_step(OzPopulation *pop, gint64 tick) {
    pop->ops->step(pop, tick);
}

void oz_population_counters_clear(OzPopulation *pop) {
    pop->spikes = 0;
    pop->neuron_updates = 0;
}

static void step_input(OzPopulation *pop, gint64 tick) {
    OzFrame *f = oz_population_frame(pop, tick);
    f->tick = tick;
    int n = pop->n, bsz = pop->active_samples;
    if (tick >= pop->input_ticks) {
        f->kind = OZ_FRAME_EMPTY;
        f->nspikes = 0;
        return;
    }
    if (pop->p.encoding == OZ_ENCODING_CURRENT) {
        f->kind = OZ_FRAME_DENSE_STATIC;
        f->s = pop->x;
        f->nspikes = 0;
        if (pop->input_trace) {
            const float *prev =
                tick > pop->start_tick ? oz_population_frame(pop, tick - 1)->trace : pop->zero;
            const float lam = pop->p.lambda;
            for (gsize i = 0, sz = (gsize)bsz * n; i < sz; i++)
                f->trace[i] = lam * prev[i] + pop->x[i];
        }
        return;
    }
    /* Bernoulli rate code: spike with probability x (x ≤ 0 never, x ≥ 1 always). */
    guint64 total = 0;
    for (int b = 0; b < bsz; b++) {
        const float *x = pop->x + (gsize)b * n;
        float *s = f->s + (gsize)b * n;
        int *idx = f->idx + (gsize)b * n;
        int cnt = 0;
        for (int i = 0; i < n; i++) {
            float spike = oz_rng_uniform(pop->rng) < (double)x[i] ? 1.0f : 0.0f;
            s[i] = spike;
            idx[cnt] = i;
            cnt += spike != 0.0f;
        }
        f->counts[b] = cnt;
        total += (guint64)cnt;
    }
    f->kind = OZ_FRAME_SPIKES;
    f->indexed = TRUE;
    f->value = 1.0f;
    f->nspikes = total;
    pop->spikes += total;
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

/* The LIF update of one sample's row.  The common cases get their own loops with no
 * per-element branches, so the compiler vectorises them; the rest (noise before the
 * neuron, the alternative readings) share a general loop.  Returns the spike count. */
static int lif_row(const OzPopulation *pop, float *restrict acc, float *restrict v,
                   float *restrict u, float *restrict s, float *restrict tr,
                   const float *restrict pv, const float *restrict mask, const float *restrict z,
                   float a_before, float a_after) {
    const int n = pop->n;
    const float lam = pop->p.lambda, vth = pop->p.v_th;
    const float *restrict bias = pop->bias;
    const float bias_on = pop->p.bias ? 1.0f : 0.0f;
    int cnt = 0;
    if (a_before == 0.0f && !pop->trace_noisy && !pop->noise_unmasked) {
        /* No probe, or the probe after the neuron added to the masked spike (the default). */
        for (int i = 0; i < n; i++) {
            float ui = lam * v[i] + acc[i] + bias_on * bias[i];
            float fire = ui >= vth ? 1.0f : 0.0f;
            v[i] = ui - vth * fire;
            u[i] = ui;
            float out = fire * mask[i];
            tr[i] = lam * pv[i] + out;
            s[i] = out + a_after * z[i];
            acc[i] = 0.0f;
            cnt += out != 0.0f;
        }
        return cnt;
    }
    for (int i = 0; i < n; i++) {
        float ui = lam * v[i] + acc[i] + bias_on * bias[i] + a_before * z[i];
        float fire = ui >= vth ? 1.0f : 0.0f;
        v[i] = ui - vth * fire;
        u[i] = ui;
        float out = fire * mask[i];
        float sent = out;
        if (a_after != 0.0f)
            sent = pop->noise_unmasked ? mask[i] * (fire + a_after * z[i]) : out + a_after * z[i];
        /* The trace follows the clean (masked) spikes by default (docs/ALGORITHM.md §6.4). */
        tr[i] = lam * pv[i] + (pop->trace_noisy ? sent : out);
        s[i] = sent;
        acc[i] = 0.0f;
        cnt += out != 0.0f;
    }
    return cnt;
}

typedef struct {
    OzPopulation *pop;
    OzFrame *f;
    const float *prev, *z;
    float a_before, a_after;
    guint64 part_spikes[OZ_PAR_MAX_THREADS];
} LifJob;

/* Rows [begin, end) of a LIF step: one part of the compute team. */
static void lif_rows(void *ctx, int part, gsize begin, gsize end) {
    LifJob *j = ctx;
    OzPopulation *pop = j->pop;
    OzFrame *f = j->f;
    guint64 total = 0;
    for (gsize b = begin; b < end; b++) {
        gsize off = b * (gsize)pop->n;
        int cnt = lif_row(pop, pop->acc + off, pop->v + off, f->u + off, f->s + off, f->trace + off,
                          j->prev + off, pop->mask + off, j->z + off, j->a_before, j->a_after);
        f->counts[b] = cnt;
        total += (guint64)cnt;
    }
    j->part_spikes[part] = total;
}

static void step_lif(OzPopulation *pop, gint64 tick) {
    if (pop->pre_step)
        pop->pre_step(pop, tick, pop->pre_step_data);
    OzFrame *f = oz_population_frame(pop, tick);
    const gboolean first = tick <= pop->start_tick;
    const float *prev = first ? pop->zero : oz_population_frame(pop, tick - 1)->trace;
    if (pop->depth == 1 && !first)
        prev = f->trace; /* the same buffer: updated in place */
    const int n = pop->n;
    const float value =
        pop->training && pop->p.dropout > 0.0f ? 1.0f / (1.0f - pop->p.dropout) : 1.0f;
    const gboolean noisy =
        pop->training && pop->noise_mode != OZ_NOISE_NONE && pop->noise_alpha != 0.0f;
    /* α·z enters before charging or after firing; a zero α makes either a no-op. */
    const float a_before = noisy && pop->noise_mode == OZ_NOISE_BEFORE ? pop->noise_alpha : 0.0f;
    const float a_after = noisy && pop->noise_mode == OZ_NOISE_AFTER ? pop->noise_alpha : 0.0f;
    /* Without a probe z is never read: point it at zeros so the loops stay uniform. */
    const float *z_all = a_before != 0.0f || a_after != 0.0f ? f->z : pop->zero;
    LifJob j = {pop, f, prev, z_all, a_before, a_after, {0}};
    oz_par_for((gsize)pop->active_samples, 1, lif_rows, &j);
    guint64 total = 0;
    for (int k = 0; k < oz_par_threads(); k++)
        total += j.part_spikes[k];
    f->tick = tick;
    f->kind = a_after != 0.0f ? OZ_FRAME_DENSE : OZ_FRAME_SPIKES;
    f->indexed = FALSE;
    f->value = value;
    f->nspikes = total;
    pop->u = f->u;
    pop->spikes += total;
    pop->neuron_updates += (guint64)pop->active_samples * (guint64)n;
}

static void step_readout(OzPopulation *pop, gint64 tick) {
    const int n = pop->n;
    const gboolean in_window = tick >= pop->sum_from && tick < pop->sum_to;
    for (int b = 0; b < pop->batch; b++) {
        gsize off = (gsize)b * n;
        for (int i = 0; i < n; i++) {
            float oi = pop->acc[off + i] + (pop->p.bias ? pop->bias[i] : 0.0f);
            pop->o[off + i] = oi;
            if (in_window)
                pop->osum[off + i] += oi;
            pop->acc[off + i] = 0.0f;
        }
    }
    pop->neuron_updates += (guint64)pop->active_samples * (guint64)n;
}

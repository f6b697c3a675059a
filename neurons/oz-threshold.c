/* oz-threshold.c — the shared engine of threshold neurons: charge, fire at V_th, reset.
 *
 * Per tick: charge u = leak·v + I + b, fire s = H(u − V_th) (a tie fires), reset — soft,
 * v = u − V_th·s, or hard, v = v_reset after a spike (other tools and hardware use it) —,
 * dropout mask on the transmitted spike (docs/ALGORITHM.md §2.3; it also carries the fixed
 * output_scale, §2.7), presynaptic trace â[t] = trace_decay·â[t−1] + mask·s[t] (§2.4); a
 * rule's probe αz enters before charging or after firing.  The step fuses charge, fire,
 * reset, dropout and trace into one pass over (B, n), since every one of them reads what the
 * previous wrote.  The trace of tick t is written into the frame of tick t from the frame of
 * t − 1, so a delayed reader finds the trace that went with its packet without a copy.
 *
 * For learning: the sigmoid surrogate ψ(u) around V_th (§2.5) and the clean spikes
 * o = mask where u ≥ V_th, which the trace follows (the sparse gradient chunks).
 *
 * A model built on it (oz-model-lif.c) keeps an OzThresholdState as its private state,
 * fills it in its prepare slot, and points its slots at these functions; the model decides
 * its keys and derived values (leak, trace decay), this file what a tick does with them.
 *
 * Deliberately not here: where the probe z comes from (the rule's pre_step hook), delivery.
 */
#include "neurons/oz-threshold-private.h"

#include "engine/oz-par.h"
#include "neurons/oz-hardware.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

const OzParamSpec oz__threshold_reset_keys[] = {
    OZ__THRESHOLD_RESET_KEY_ROWS,
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

gboolean oz__threshold_configure(const OzPopulationParams *common, gconstpointer params,
                                 const char **key, GError **error) {
    const OzThresholdParams *tp = params;
    if (tp->reset == OZ_RESET_HARD && tp->v_reset >= common->v_th) {
        *key = "v_reset";
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "%g is not below v_th = %g: a hard reset must leave the neuron below its "
                    "threshold",
                    (double)tp->v_reset, (double)common->v_th);
        return FALSE;
    }
    if (tp->trace_lambda < 0.0f && tp->trace_lambda != -1.0f) {
        *key = "trace_lambda";
        g_set_error(error, OZ_NEURONS_ERROR, OZ_NEURONS_ERROR_INVALID,
                    "%g: expected a decay in [0, 1], or -1 for the model's own",
                    (double)tp->trace_lambda);
        return FALSE;
    }
    return TRUE;
}

void oz__threshold_prepare(OzPopulation *pop, float leak, float trace_decay) {
    OzThresholdState *st = pop->state;
    OzThresholdParams *tp = pop->params;
    st->leak = leak;
    st->trace_decay = tp && tp->trace_lambda >= 0.0f ? tp->trace_lambda : trace_decay;
    /* The value it runs with, for the run log's parameters table. */
    if (tp)
        tp->trace_lambda = st->trace_decay;
    st->hard = tp && tp->reset == OZ_RESET_HARD;
    st->v_reset = tp ? tp->v_reset : 0.0f;
    st->output_scale = tp ? tp->output_scale : 1.0f;
}

void oz__threshold_alloc(OzPopulation *pop) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    pop->v = g_new0(float, bn);
    pop->mask = g_new0(float, bn);
    pop->bias = g_new0(float, pop->n);
    pop->bias_grad = g_new0(float, pop->n);
}

void oz__threshold_frame_alloc(OzPopulation *pop, OzFrame *f) {
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    f->u = g_new0(float, bn);
    f->z = g_new0(float, bn);
}

typedef struct {
    float *mask;
    uint64_t key;
    guint64 row0; /* the global row of row 0 */
    int n;
    float p, keep;
} MaskJob;

/* Dropout masks of samples [begin, end), each row from its own sub-stream of the key, indexed
 * by the sample's row in the global mini-batch (the same masks however a batch is split
 * between processes). */
static void mask_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const MaskJob *j = ctx;
    for (gsize b = begin; b < end; b++) {
        OzRng rng;
        oz_rng_init_sub(&rng, j->key, j->row0 + b);
        float *m = j->mask + b * j->n;
        for (int i = 0; i < j->n; i++)
            m[i] = oz_rng_uniform(&rng) < (double)j->p ? 0.0f : j->keep;
    }
}

/* Zero membrane (a window starts at rest, whatever the reset); one dropout mask per sample
 * for the window.
 *
 * The mask also carries output_scale: every reading of the transmitted spike (s, the
 * trace, the clean spikes) and the gate g_u = g_s ⊙ ψ ⊙ mask then see the scaled output
 * with no other change, and the spike count (out ≠ 0) is unchanged.  A scale of 1
 * multiplies by 1.0f, which is exact: the default is bit-identical. */
void oz__threshold_reset(OzPopulation *pop) {
    const OzThresholdState *st = pop->state;
    gsize bn = (gsize)pop->batch * (gsize)pop->n;
    memset(pop->v, 0, bn * sizeof(float));
    float p = pop->p.dropout;
    if (pop->training && p > 0.0f) {
        /* One Bernoulli(1−p) draw per neuron per sample, scaled by 1/(1−p) and kept
         * for every tick of the sample (docs/ALGORITHM.md §2.3). */
        MaskJob j = {pop->mask,
                     oz_rng_next(pop->rng),
                     (guint64)pop->row_offset,
                     pop->n,
                     p,
                     1.0f / (1.0f - p) * st->output_scale};
        oz_par_for((gsize)pop->batch, 1, mask_rows, &j);
    } else {
        for (gsize i = 0; i < bn; i++)
            pop->mask[i] = st->output_scale;
    }
}

/* The chip's per-neuron values for one row (neurons/oz-hardware.h): NULL where nominal. */
typedef struct {
    gboolean on;
    const float *leak, *vth; /* (n) */
    const float *noise;      /* (n) this sample's σ·ξ */
} OzChipRow;

/* The update of one sample's row.  The common cases get their own loops with no
 * per-element branches, so the compiler vectorises them; the rest (noise before the
 * neuron, the alternative readings) share a general loop.  Returns the spike count. */
static int threshold_row(const OzPopulation *pop, const OzThresholdState *st, float *restrict acc,
                         float *restrict v, float *restrict u, float *restrict s,
                         float *restrict tr, const float *restrict pv, const float *restrict mask,
                         const float *restrict z, float a_before, float a_after,
                         const OzChipRow *chip) {
    const int n = pop->n;
    const float leak = st->leak, decay = st->trace_decay, vth = pop->p.v_th;
    const float vr = st->v_reset;
    const float *restrict bias = pop->bias;
    /* A two-state model adds its bias into its current before the step (bias_in_current). */
    const float bias_on = pop->p.bias && !st->bias_in_current ? 1.0f : 0.0f;
    int cnt = 0;
    const gboolean plain =
        a_before == 0.0f && !pop->trace_noisy && !pop->noise_unmasked && !chip->on;
    if (plain && st->hard) {
        /* The same as the loop below with a hard reset (a select, still vectorised). */
        for (int i = 0; i < n; i++) {
            float ui = leak * v[i] + acc[i] + bias_on * bias[i];
            float fire = ui >= vth ? 1.0f : 0.0f;
            v[i] = ui >= vth ? vr : ui;
            u[i] = ui;
            float out = fire * mask[i];
            tr[i] = decay * pv[i] + out;
            s[i] = out + a_after * z[i];
            acc[i] = 0.0f;
            cnt += out != 0.0f;
        }
        return cnt;
    }
    if (plain) {
        /* No probe, or the probe after the neuron added to the masked spike (the default). */
        for (int i = 0; i < n; i++) {
            float ui = leak * v[i] + acc[i] + bias_on * bias[i];
            float fire = ui >= vth ? 1.0f : 0.0f;
            v[i] = ui - vth * fire;
            u[i] = ui;
            float out = fire * mask[i];
            tr[i] = decay * pv[i] + out;
            s[i] = out + a_after * z[i];
            acc[i] = 0.0f;
            cnt += out != 0.0f;
        }
        return cnt;
    }
    for (int i = 0; i < n; i++) {
        /* On a chip: the neuron's own λ and V_th, and the tick's noise on its input. */
        const float li = chip->leak ? chip->leak[i] : leak;
        const float ti = chip->vth ? chip->vth[i] : vth;
        float ui = li * v[i] + acc[i] + bias_on * bias[i] + a_before * z[i];
        if (chip->noise)
            ui += chip->noise[i];
        float fire = ui >= ti ? 1.0f : 0.0f;
        v[i] = st->hard ? (ui >= ti ? vr : ui) : ui - ti * fire;
        u[i] = ui;
        float out = fire * mask[i];
        float sent = out;
        if (a_after != 0.0f)
            sent = pop->noise_unmasked ? mask[i] * (fire + a_after * z[i]) : out + a_after * z[i];
        /* The trace follows the clean (masked) spikes by default (docs/ALGORITHM.md §6.4). */
        tr[i] = decay * pv[i] + (pop->trace_noisy ? sent : out);
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
    const float *chip_leak, *chip_vth, *chip_noise; /* NULL: nominal, no noise */
    guint64 part_spikes[OZ_PAR_MAX_THREADS];
} RowsJob;

/* Rows [begin, end) of a step: one part of the compute team. */
static void step_rows(void *ctx, int part, gsize begin, gsize end) {
    RowsJob *j = ctx;
    const OzThresholdState *st = j->pop->state;
    OzPopulation *pop = j->pop;
    OzFrame *f = j->f;
    guint64 total = 0;
    for (gsize b = begin; b < end; b++) {
        gsize off = b * (gsize)pop->n;
        const OzChipRow chip = {
            .on = j->chip_leak || j->chip_vth || j->chip_noise,
            .leak = j->chip_leak,
            .vth = j->chip_vth,
            .noise = j->chip_noise ? j->chip_noise + off : NULL,
        };
        int cnt = threshold_row(pop, st, pop->acc + off, pop->v + off, f->u + off, f->s + off,
                                f->trace + off, j->prev + off, pop->mask + off, j->z + off,
                                j->a_before, j->a_after, &chip);
        f->counts[b] = cnt;
        total += (guint64)cnt;
    }
    j->part_spikes[part] = total;
}

/* The chip's per-neuron V_th and λ from their mismatch factors, once: λ·factor is clipped to
 * 0.999, so that a mismatched leaky neuron never integrates without loss (a neuron with
 * λ = 1, which has no leak, is left as it is by the step). */
static void chip_resolve(OzPopulation *pop) {
    OzChipNeurons *c = pop->chip;
    if (c->resolved)
        return;
    const OzThresholdState *st = pop->state;
    for (int i = 0; i < pop->n; i++) {
        c->vth[i] = c->vth_factor ? pop->p.v_th * c->vth_factor[i] : pop->p.v_th;
        c->leak[i] = c->leak_factor ? fminf(st->leak * c->leak_factor[i], 0.999f) : st->leak;
    }
    c->resolved = TRUE;
}

/* The threshold neuron i is compared with: its own on a mismatched chip. */
static inline float neuron_vth(const OzPopulation *pop, gsize i) {
    const OzChipNeurons *c = pop->chip;
    return c && c->vth_factor ? pop->p.v_th * c->vth_factor[i] : pop->p.v_th;
}

void oz__threshold_step(OzPopulation *pop, gint64 tick) {
    if (pop->pre_step)
        pop->pre_step(pop, tick, pop->pre_step_data);
    OzFrame *f = oz_population_frame(pop, tick);
    const gboolean first = tick <= pop->start_tick;
    const float *prev = first ? pop->zero : oz_population_frame(pop, tick - 1)->trace;
    if (pop->depth == 1 && !first)
        prev = f->trace; /* the same buffer: updated in place */
    const int n = pop->n;
    const OzThresholdState *st = pop->state;
    const float value =
        (pop->training && pop->p.dropout > 0.0f ? 1.0f / (1.0f - pop->p.dropout) : 1.0f) *
        st->output_scale; /* what the mask holds (oz__threshold_reset) */
    const gboolean noisy =
        pop->training && pop->noise_mode != OZ_NOISE_NONE && pop->noise_alpha != 0.0f;
    /* α·z enters before charging or after firing; a zero α makes either a no-op. */
    const float a_before = noisy && pop->noise_mode == OZ_NOISE_BEFORE ? pop->noise_alpha : 0.0f;
    const float a_after = noisy && pop->noise_mode == OZ_NOISE_AFTER ? pop->noise_alpha : 0.0f;
    /* Without a probe z is never read: point it at zeros so the loops stay uniform. */
    const float *z_all = a_before != 0.0f || a_after != 0.0f ? f->z : pop->zero;
    RowsJob j = {pop, f, prev, z_all, a_before, a_after, NULL, NULL, NULL, {0}};
    if (pop->chip) {
        chip_resolve(pop);
        j.chip_leak = pop->chip->leak_factor && st->leak < 1.0f ? pop->chip->leak : NULL;
        j.chip_vth = pop->chip->vth_factor ? pop->chip->vth : NULL;
        j.chip_noise = oz_chip_noise(pop, tick);
    }
    oz_par_for((gsize)pop->active_samples, 1, step_rows, &j);
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

OzEmits oz__threshold_emits(const OzPopulation *pop) {
    (void)pop;
    return OZ_EMITS_SPIKES;
}

void oz__threshold_surrogate(const OzPopulation *pop, const float *u, float a, const float *g,
                             float *out, gsize begin, gsize end) {
    const float vth = pop->p.v_th;
    const OzChipNeurons *c = pop->chip;
    if (c && c->vth_factor && !c->psi_nominal) {
        /* ψ of the chip's own neuron, around its own threshold (docs/HARDWARE.md). */
        const gsize n = (gsize)pop->n;
        for (gsize i = begin; i < end; i++)
            out[i] = g[i] * oz_surrogate(u[i], neuron_vth(pop, i % n), a);
        return;
    }
    for (gsize i = begin; i < end; i++)
        out[i] = g[i] * oz_surrogate(u[i], vth, a);
}

/* The spike a neuron sent before any probe: mask where u ≥ V_th (threshold_row). */
void oz__threshold_clean_spikes(const OzPopulation *pop, const OzFrame *f, gsize row, float *o) {
    const int n = pop->n;
    const float *u = f->u + row * n, *mask = pop->mask + row * n;
    for (int i = 0; i < n; i++)
        o[i] = u[i] >= neuron_vth(pop, (gsize)i) ? mask[i] : 0.0f;
}

float oz__threshold_trace_decay(const OzPopulation *pop) {
    const OzThresholdState *st = pop->state;
    return st->trace_decay;
}

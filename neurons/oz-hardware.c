/* oz-hardware.c — the chip's forward pass: fixed draws of a chip, forward weights, lost
 * spikes and neuron noise (the design is in oz-hardware.h; docs/HARDWARE.md).
 */
#include "neurons/oz-hardware.h"

#include "engine/oz-par.h"
#include "neurons/oz-neuron.h"

#include <math.h>
#include <string.h>

void oz_hardware_params_defaults(OzHardwareParams *hp) {
    *hp = (OzHardwareParams){.seed = 1};
}

gboolean oz_hardware_active(const OzHardwareParams *hp) {
    return hp->weight_bits > 0 || hp->weight_mismatch > 0 || hp->threshold_mismatch > 0 ||
           hp->leak_mismatch > 0 || hp->neuron_noise > 0 || hp->spike_drop > 0;
}

float oz_hardware_quantise(const float *w, gsize n, int bits, float *out) {
    g_return_val_if_fail(bits >= 2 && bits <= 16, 0.0f);
    float top = 0.0f;
    for (gsize i = 0; i < n; i++)
        top = fmaxf(top, fabsf(w[i]));
    const float levels = (float)((1 << (bits - 1)) - 1);
    if (top == 0.0f) {
        memset(out, 0, n * sizeof(float));
        return 0.0f;
    }
    const float s = top / levels;
    for (gsize i = 0; i < n; i++) {
        /* Clamped, so that a rounding of top / s just above levels stays on the grid. */
        float k = fminf(fmaxf(roundf(w[i] / s), -levels), levels);
        out[i] = k * s;
    }
    return s;
}

void oz_hardware_factors(guint64 seed, const char *purpose, double sigma, float *fill, gsize n) {
    OzRng rng;
    oz_rng_init(&rng, seed, purpose);
    for (gsize i = 0; i < n; i++)
        fill[i] = (float)exp(sigma * oz_rng_gauss(&rng));
}

static void attach_projection(OzHardware *hw, OzProjection *p) {
    const OzHardwareParams *hp = &hw->p;
    OzChipSynapses *c = g_new0(OzChipSynapses, 1);
    c->bits = hp->weight_bits;
    if (hp->weight_mismatch > 0) {
        g_autofree char *purpose = g_strdup_printf("hardware:w:%s", p->name);
        c->mismatch = g_new(float, MAX(p->nw, 1));
        oz_hardware_factors(hp->seed, purpose, hp->weight_mismatch, c->mismatch, p->nw);
    }
    if (c->bits > 0 || c->mismatch)
        p->wf = g_new0(float, MAX(p->nw, 1));
    c->drop = (float)hp->spike_drop;
    c->rng_drop = &hw->rng_drop;
    if (c->drop > 0 && oz_neuron_emits(p->pre) == OZ_EMITS_SPIKES) {
        gsize cells = (gsize)p->pre->batch * (gsize)p->n_pre;
        c->kept.s = g_new0(float, cells);
        c->kept.idx = g_new0(int, cells);
        c->kept.counts = g_new0(int, p->pre->batch);
        c->clean = g_new0(float, cells);
    }
    p->chip = c;
    oz_chip_refresh_weights(p);
}

static void attach_population(OzHardware *hw, OzPopulation *pop) {
    const OzHardwareParams *hp = &hw->p;
    OzChipNeurons *c = g_new0(OzChipNeurons, 1);
    const gsize n = (gsize)pop->n;
    if (hp->threshold_mismatch > 0) {
        g_autofree char *purpose = g_strdup_printf("hardware:vth:%s", pop->name);
        c->vth_factor = g_new(float, n);
        oz_hardware_factors(hp->seed, purpose, hp->threshold_mismatch, c->vth_factor, n);
    }
    if (hp->leak_mismatch > 0) {
        g_autofree char *purpose = g_strdup_printf("hardware:leak:%s", pop->name);
        c->leak_factor = g_new(float, n);
        oz_hardware_factors(hp->seed, purpose, hp->leak_mismatch, c->leak_factor, n);
    }
    c->vth = g_new0(float, n);
    c->leak = g_new0(float, n);
    c->sigma = (float)hp->neuron_noise;
    if (c->sigma > 0)
        c->noise = g_new0(float, (gsize)pop->batch *n);
    c->rng_noise = &hw->rng_noise;
    pop->chip = c;
}

void oz_hardware_attach(OzNetwork *net, const OzHardwareParams *hp, guint64 run_seed) {
    g_return_if_fail(!net->hw);
    if (!oz_hardware_active(hp))
        return;
    OzHardware *hw = g_new0(OzHardware, 1);
    hw->p = *hp;
    oz_rng_init(&hw->rng_noise, run_seed, "hardware:noise");
    oz_rng_init(&hw->rng_drop, run_seed, "hardware:drop");
    net->hw = hw;
    for (guint i = 0; i < net->pops->len; i++)
        attach_population(hw, g_ptr_array_index(net->pops, i));
    for (guint i = 0; i < net->projs->len; i++)
        attach_projection(hw, g_ptr_array_index(net->projs, i));
}

void oz_hardware_begin_phase(OzNetwork *net, guint64 run_seed, gboolean training, int epoch) {
    if (!net->hw)
        return;
    g_autofree char *noise = training ? g_strdup_printf("hardware:noise:train:%d", epoch)
                                      : g_strdup("hardware:noise:test");
    g_autofree char *drop = training ? g_strdup_printf("hardware:drop:train:%d", epoch)
                                     : g_strdup("hardware:drop:test");
    oz_rng_init(&net->hw->rng_noise, run_seed, noise);
    oz_rng_init(&net->hw->rng_drop, run_seed, drop);
}

void oz_hardware_detach(OzNetwork *net) {
    if (!net->hw)
        return;
    for (guint i = 0; i < net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(net->pops, i);
        OzChipNeurons *c = pop->chip;
        if (!c)
            continue;
        g_free(c->vth_factor);
        g_free(c->leak_factor);
        g_free(c->vth);
        g_free(c->leak);
        g_free(c->noise);
        g_clear_pointer(&pop->chip, g_free);
    }
    for (guint i = 0; i < net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(net->projs, i);
        OzChipSynapses *c = p->chip;
        if (!c)
            continue;
        g_free(c->mismatch);
        g_free(c->kept.s);
        g_free(c->kept.idx);
        g_free(c->kept.counts);
        g_free(c->clean);
        g_clear_pointer(&p->wf, g_free);
        g_clear_pointer(&p->chip, g_free);
    }
    g_clear_pointer(&net->hw, g_free);
}

void oz_chip_refresh_weights(OzProjection *p) {
    const OzChipSynapses *c = p->chip;
    if (!c || !p->wf)
        return;
    if (c->bits > 0)
        oz_hardware_quantise(p->w, p->nw, c->bits, p->wf);
    else
        memcpy(p->wf, p->w, p->nw * sizeof(float));
    if (c->mismatch)
        for (gsize i = 0; i < p->nw; i++)
            p->wf[i] *= c->mismatch[i];
}

typedef struct {
    OzProjection *p;
    const OzFrame *f;
    uint64_t key;
    guint64 part_kept[OZ_PAR_MAX_THREADS], part_lost[OZ_PAR_MAX_THREADS];
} DropJob;

/* Samples [begin, end): each spike of the packet survives with probability 1 − p, one
 * uniform draw per spike in the sample's neuron order, from the sample's sub-stream (indexed
 * by its row in the global mini-batch, as every per-sample draw is). */
static void drop_rows(void *ctx, int part, gsize begin, gsize end) {
    DropJob *j = ctx;
    OzProjection *p = j->p;
    OzChipSynapses *c = p->chip;
    const OzFrame *f = j->f;
    const int n = p->n_pre;
    guint64 kept = 0, lost = 0;
    for (gsize b = begin; b < end; b++) {
        OzRng rng;
        oz_rng_init_sub(&rng, j->key, (guint64)p->pre->row_offset + b);
        const float *s = f->s + b * n;
        float *ks = c->kept.s + b * n;
        int *ki = c->kept.idx + b * n;
        int cnt = 0;
        memcpy(ks, s, (gsize)n * sizeof(float));
        if (f->kind == OZ_FRAME_SPIKES) {
            const int *idx = f->idx + b * n;
            for (int k = 0; k < f->counts[b]; k++) {
                if (oz_rng_uniform(&rng) < (double)c->drop) {
                    ks[idx[k]] = 0.0f;
                    lost++;
                } else {
                    ki[cnt++] = idx[k];
                }
            }
        } else {
            /* A dense (noisy) frame carries spike + αz: a lost spike takes away its spike
             * part, the probe stays. */
            float *o = c->clean + b * n;
            p->pre->ops->clean_spikes(p->pre, f, b, o);
            for (int i = 0; i < n; i++) {
                if (o[i] == 0.0f)
                    continue;
                if (oz_rng_uniform(&rng) < (double)c->drop) {
                    ks[i] -= o[i];
                    lost++;
                } else {
                    cnt++;
                }
            }
        }
        c->kept.counts[b] = cnt;
        kept += (guint64)cnt;
    }
    j->part_kept[part] = kept;
    j->part_lost[part] = lost;
}

OzFrame *oz_chip_drop(OzProjection *p, OzFrame *f) {
    OzChipSynapses *c = p->chip;
    if (!c || c->drop <= 0 || !c->kept.s || f->nspikes == 0)
        return f;
    if (f->kind != OZ_FRAME_SPIKES && !(f->kind == OZ_FRAME_DENSE && p->pre->ops->clean_spikes))
        return f;
    const int rows = p->pre->active_samples;
    if (f->kind == OZ_FRAME_SPIKES)
        oz_frame_index(f, rows, p->n_pre);
    DropJob j = {.p = p, .f = f, .key = oz_rng_next(c->rng_drop)};
    oz_par_for((gsize)rows, 1, drop_rows, &j);
    guint64 kept = 0, lost = 0;
    for (int k = 0; k < oz_par_threads(); k++) {
        kept += j.part_kept[k];
        lost += j.part_lost[k];
    }
    OzFrame *out = &c->kept;
    out->tick = f->tick;
    out->kind = f->kind;
    out->value = f->value;
    out->nspikes = kept;
    out->indexed = f->kind == OZ_FRAME_SPIKES;
    out->trace = f->trace;
    out->u = f->u;
    out->z = f->z;
    c->dropped += lost;
    return out;
}

typedef struct {
    float *noise;
    uint64_t key;
    guint64 row0; /* the global row of row 0 */
    int n;
    float sigma;
} NoiseJob;

static void noise_rows(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const NoiseJob *j = ctx;
    for (gsize b = begin; b < end; b++) {
        OzRng rng;
        oz_rng_init_sub(&rng, j->key, j->row0 + b);
        float *row = j->noise + b * j->n;
        oz_rng_gauss_fill(&rng, row, (gsize)j->n);
        for (int i = 0; i < j->n; i++)
            row[i] *= j->sigma;
    }
}

const float *oz_chip_noise(OzPopulation *pop, gint64 tick) {
    OzChipNeurons *c = pop->chip;
    if (!c || c->sigma <= 0)
        return NULL;
    /* Where the rule's probe is the chip's noise, the step adds that probe instead. */
    if (c->noise_is_probe && pop->training && pop->noise_alpha != 0.0f &&
        tick - pop->start_tick < c->probe_ticks)
        return NULL;
    NoiseJob j = {c->noise, oz_rng_next(c->rng_noise), (guint64)pop->row_offset, pop->n, c->sigma};
    oz_par_for((gsize)pop->active_samples, 1, noise_rows, &j);
    return c->noise;
}

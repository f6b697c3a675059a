/* oz-binning.c — event recordings binned into T ticks of channels×H×W cells, kept as one
 * sparse set for the whole data set (io/oz-events.h, docs/EVENTS.md "Binning").
 *
 * A recording is binned in one pass over its events: every mode maps events to ticks in time
 * (or index) order, so a tick's events are contiguous.  Within a tick a count per cell (the
 * set's scratch, one byte per cell) merges repeated events and a list of touched cells,
 * sorted when the tick closes, gives the ascending cell order; the scratch is cleared through
 * that list, so a tick costs O(events + cells touched · log), never O(H·W).  The set grows by
 * doubling; nothing is allocated per event or per recording.
 *
 * This file knows no file format and no scenario key: the dataset layer chooses the mode and
 * checks sizes before calling (a size that breaks the 16-bit cell index is a programming
 * error here).
 */
#include "oz-events.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    SACCADE_US = 105000,  /* each of Orchard's three saccades */
    COUNT_MAX = 255,      /* counts saturate at one byte */
};

void oz_saccade_offset(gint64 t, double *dx, double *dy) {
    /* The triangle's corners; segment k runs from corner k to corner k + 1. */
    static const double cx[4] = {0.0, 3.5, 7.0, 0.0}, cy[4] = {0.0, 7.0, 0.0, 0.0};
    if (t < 0 || t >= 3 * (gint64)SACCADE_US) {
        *dx = *dy = 0.0;
        return;
    }
    int k = (int)(t / SACCADE_US);
    double u = (double)(t - (gint64)k * SACCADE_US) / SACCADE_US;
    *dx = cx[k] + (cx[k + 1] - cx[k]) * u;
    *dy = cy[k] + (cy[k + 1] - cy[k]) * u;
}

void oz_spike_set_init(OzSpikeSet *set, int ticks, int channels, int height, int width,
                       gboolean binary) {
    /* Asserts, not g_return_if_fail: a set left uninitialised would be written through by
     * the next append. */
    g_assert(set != NULL);
    g_assert(ticks >= 1 && (channels == 1 || channels == 2) && height >= 1 && width >= 1);
    /* The cell index is 16-bit: the dataset layer refuses larger sensors before this. */
    g_assert((gint64)channels * height * width <= 65536);
    *set = (OzSpikeSet){.ticks = ticks, .channels = channels, .height = height, .width = width,
                        .binary = binary};
    const gsize cells = (gsize)channels * (gsize)height * (gsize)width;
    set->scratch_count = g_new0(guint8, cells);
    set->scratch_touched = g_new(guint16, cells);
    set->cap_cells = 1024;
    set->cell = g_new(guint16, set->cap_cells);
    if (!binary)
        set->count = g_new(guint8, set->cap_cells);
    set->cap_samples = 16;
    set->tick_off = g_new(guint64, set->cap_samples * (gsize)(ticks + 1));
    set->labels = g_new(guint8, set->cap_samples);
}

void oz_spike_set_clear(OzSpikeSet *set) {
    if (!set)
        return;
    g_free(set->tick_off);
    g_free(set->cell);
    g_free(set->count);
    g_free(set->labels);
    g_free(set->scratch_count);
    g_free(set->scratch_touched);
    *set = (OzSpikeSet){0};
}

static void ensure_scratch(OzSpikeSet *set) {
    if (set->scratch_count)
        return;
    const gsize cells = (gsize)set->channels * (gsize)set->height * (gsize)set->width;
    set->scratch_count = g_new0(guint8, cells);
    set->scratch_touched = g_new(guint16, cells);
}

static void reserve_cells(OzSpikeSet *set, gsize need) {
    if (need <= set->cap_cells)
        return;
    gsize cap = set->cap_cells ? set->cap_cells : 1024;
    while (cap < need)
        cap *= 2;
    set->cell = g_renew(guint16, set->cell, cap);
    if (!set->binary)
        set->count = g_renew(guint8, set->count, cap);
    set->cap_cells = cap;
}

static void reserve_sample(OzSpikeSet *set) {
    if (set->n < set->cap_samples)
        return;
    gsize cap = set->cap_samples ? set->cap_samples * 2 : 16;
    set->tick_off = g_renew(guint64, set->tick_off, cap * (gsize)(set->ticks + 1));
    set->labels = g_renew(guint8, set->labels, cap);
    set->cap_samples = cap;
}

void oz_spike_set_trim(OzSpikeSet *set) {
    g_return_if_fail(set != NULL);
    const gsize T1 = (gsize)set->ticks + 1;
    const gsize cells = set->n ? set->tick_off[set->n * T1 - 1] : 0;
    const gsize cap_cells = cells ? cells : 1;
    const gsize cap_samples = set->n ? set->n : 1;
    set->cell = g_renew(guint16, set->cell, cap_cells);
    if (!set->binary)
        set->count = g_renew(guint8, set->count, cap_cells);
    set->cap_cells = cap_cells;
    set->tick_off = g_renew(guint64, set->tick_off, cap_samples * T1);
    set->labels = g_renew(guint8, set->labels, cap_samples);
    set->cap_samples = cap_samples;
    g_clear_pointer(&set->scratch_count, g_free);
    g_clear_pointer(&set->scratch_touched, g_free);
}

gsize oz_spike_set_bytes(const OzSpikeSet *set) {
    g_return_val_if_fail(set != NULL, 0);
    gsize bytes = set->cap_cells * (sizeof(guint16) + (set->binary ? 0 : 1)) +
                  set->cap_samples * ((gsize)(set->ticks + 1) * sizeof(guint64) + 1);
    if (set->scratch_count)
        bytes += (gsize)set->channels * (gsize)set->height * (gsize)set->width * 3;
    return bytes;
}

static int cmp_u16(const void *a, const void *b) {
    return (int)*(const guint16 *)a - (int)*(const guint16 *)b;
}

/* Closes a tick: appends its touched cells from pos in ascending order (with their counts)
 * and clears the scratch through the touched list.  Returns the new end of the cells. */
static guint64 close_tick(OzSpikeSet *set, gsize touched, guint64 pos) {
    reserve_cells(set, (gsize)pos + touched);
    guint16 *list = set->scratch_touched;
    qsort(list, touched, sizeof(guint16), cmp_u16);
    for (gsize j = 0; j < touched; j++) {
        set->cell[pos + j] = list[j];
        if (!set->binary)
            set->count[pos + j] = set->scratch_count[list[j]];
        set->scratch_count[list[j]] = 0;
    }
    return pos + touched;
}

/* Where event e lands on the sensor: stabilised when asked, and FALSE when off it. */
static inline gboolean place(const OzCamEvent *e, gboolean stabilise, int width, int height,
                             int *x, int *y) {
    if (stabilise) {
        double dx, dy;
        oz_saccade_offset(e->t, &dx, &dy);
        /* round() takes halves away from zero, as MATLAB's round in Orchard's code. */
        double fx = round((double)e->x - dx), fy = round((double)e->y - dy);
        if (fx < 0 || fy < 0 || fx >= width || fy >= height)
            return FALSE;
        *x = (int)fx;
        *y = (int)fy;
        return TRUE;
    }
    *x = e->x;
    *y = e->y;
    return e->x < width && e->y < height;
}

void oz_spike_set_append(OzSpikeSet *set, const OzEventStream *s, const OzBinning *b,
                         guint8 label) {
    g_return_if_fail(set != NULL && s != NULL && b != NULL && (s->ev != NULL || s->n == 0));
    g_return_if_fail(b->ticks == set->ticks && !!b->binary == !!set->binary);
    g_return_if_fail(s->width == set->width && s->height == set->height);
    g_return_if_fail(b->mode == OZ_BIN_SPREAD || b->mode == OZ_BIN_EVENTS || b->bin_us > 0);
    /* Orchard's offsets are in N-MNIST pixels. */
    g_return_if_fail(!b->stabilise ||
                     (s->width == OZ_NMNIST_SIZE && s->height == OZ_NMNIST_SIZE));
    ensure_scratch(set);
    reserve_sample(set);
    const gint64 T = set->ticks;
    const gsize T1 = (gsize)T + 1;
    const int W = set->width, H = set->height;
    const gsize hw = (gsize)W * (gsize)H;
    guint64 *off = set->tick_off + set->n * T1;
    guint64 pos = set->n ? set->tick_off[set->n * T1 - 1] : 0;

    /* The events that stay on the sensor, their number and span (SPREAD and EVENTS need
     * them before the first event is placed). */
    gsize on = 0;
    gint64 t_first = 0, t_last = 0;
    for (gsize i = 0; i < s->n; i++) {
        int x, y;
        if (!place(&s->ev[i], b->stabilise, W, H, &x, &y))
            continue;
        if (on++ == 0)
            t_first = s->ev[i].t;
        t_last = s->ev[i].t;
    }
    const gint64 t0 = b->from_first_event && s->n ? s->ev[0].t : 0;
    const gint64 span = t_last - t_first;
    const gsize per_frame = on / (gsize)T; /* EVENTS: ⌊N/T⌋ */

    gint64 cur = 0;
    gsize touched = 0, idx = 0;
    guint64 kept = 0, cropped = 0, off_sensor = 0;
    off[0] = pos;
    for (gsize i = 0; i < s->n; i++) {
        const OzCamEvent *e = &s->ev[i];
        int x, y;
        if (!place(e, b->stabilise, W, H, &x, &y)) {
            off_sensor++;
            continue;
        }
        gint64 k;
        switch (b->mode) {
        case OZ_BIN_SPREAD:
            if (span <= 0)
                k = 0;
            else if (e->t - t_first <= G_MAXINT64 / T)
                k = (e->t - t_first) * T / span;
            else
                k = (gint64)((double)(e->t - t_first) * (double)T / (double)span);
            k = MIN(k, T - 1);
            break;
        case OZ_BIN_EVENTS:
            k = per_frame ? MIN((gint64)(idx / per_frame), T - 1) : T - 1;
            break;
        case OZ_BIN_PAPER:
        case OZ_BIN_TIME:
        default: {
            double d = floor((double)(e->t - t0) / b->bin_us);
            k = d < 0 ? -1 : d >= (double)T ? T : (gint64)d;
            break;
        }
        }
        idx++;
        if (k < 0 || k >= T) {
            cropped++;
            continue;
        }
        /* Ticks never go back (events are in time order), so earlier ticks are closed. */
        while (cur < k) {
            pos = close_tick(set, touched, pos);
            touched = 0;
            off[++cur] = pos;
        }
        const gsize c = set->channels == 2 && e->p ? hw : 0;
        const gsize cell = c + (gsize)y * (gsize)W + (gsize)x;
        if (set->scratch_count[cell] == 0)
            set->scratch_touched[touched++] = (guint16)cell;
        if (set->scratch_count[cell] < COUNT_MAX)
            set->scratch_count[cell]++;
        kept++;
    }
    while (cur < T) {
        pos = close_tick(set, touched, pos);
        touched = 0;
        off[++cur] = pos;
    }
    set->labels[set->n] = label;
    set->n++;
    set->events_in += s->n;
    set->events_kept += kept;
    set->events_cropped += cropped;
    set->events_off_sensor += off_sensor;
}

/* oz-event-stats.c — statistics of event recordings (oz-event-stats.h has the definitions).
 *
 * Per recording, one pass in time order over its events keeps, per (pixel, polarity), the
 * last event's time and the open burst's size; bursts still open at the end are closed.
 * Only sums and three numbers per recording (count, ON fraction, last timestamp) outlive the
 * recording.
 */
#include "io/oz-event-stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE 128
#define BURST_GAP_US 8000
#define INTERVAL_MAX_US 20000
#define EARLY_US 90000
#define EARLY_BIN_US 3000
#define EARLY_BINS 30
#define PROFILE_BIN_US 5000
#define BORDER 2

const double oz_event_stats_interval_ms[5] = {1.5, 2, 3, 5, 10};

struct OzEventStatsAcc {
    GArray *count, *on_fraction, *last_t; /* double, one per recording */
    double saccade[3], early_events, early_cells, active_pixels, active_pairs;
    guint64 bursts[OZ_EVENT_STATS_BURST_SIZES], burst_total, burst_events;
    guint64 intervals, interval_below[5];
    double sum_x, sum_y;
    guint64 events;
    double border_events, border_on, border_pixel_seconds;
    guint64 profile[OZ_EVENT_STATS_PROFILE_BINS];
    guint64 class_n[OZ_EVENT_STATS_CLASSES];
    double class_events[OZ_EVENT_STATS_CLASSES], class_early[OZ_EVENT_STATS_CLASSES];
    /* Scratch, per (pixel, polarity) and per early cell; sized for the largest sensor. */
    gint64 *last;   /* (2·MAX_SIDE²) the last event's time, −1 none */
    guint32 *burst; /* (2·MAX_SIDE²) the open burst's size */
    guint8 *cell;   /* (EARLY_BINS·2·MAX_SIDE²) seen */
};

OzEventStatsAcc *oz_event_stats_acc_new(void) {
    OzEventStatsAcc *acc = g_new0(OzEventStatsAcc, 1);
    acc->count = g_array_new(FALSE, FALSE, sizeof(double));
    acc->on_fraction = g_array_new(FALSE, FALSE, sizeof(double));
    acc->last_t = g_array_new(FALSE, FALSE, sizeof(double));
    acc->last = g_new(gint64, 2 * MAX_SIDE * MAX_SIDE);
    acc->burst = g_new(guint32, 2 * MAX_SIDE * MAX_SIDE);
    acc->cell = g_new(guint8, EARLY_BINS * 2 * MAX_SIDE * MAX_SIDE);
    return acc;
}

void oz_event_stats_acc_free(OzEventStatsAcc *acc) {
    if (!acc)
        return;
    g_array_free(acc->count, TRUE);
    g_array_free(acc->on_fraction, TRUE);
    g_array_free(acc->last_t, TRUE);
    g_free(acc->last);
    g_free(acc->burst);
    g_free(acc->cell);
    g_free(acc);
}

static void close_burst(OzEventStatsAcc *acc, guint32 size) {
    if (size == 0)
        return;
    acc->bursts[MIN(size, OZ_EVENT_STATS_BURST_SIZES) - 1]++;
    acc->burst_total++;
    acc->burst_events += size;
}

void oz_event_stats_acc_add(OzEventStatsAcc *acc, const OzEventStream *s, int label) {
    g_return_if_fail(s->width > 0 && s->height > 0 && s->width <= MAX_SIDE &&
                     s->height <= MAX_SIDE && s->n > 0);
    const int W = s->width, H = s->height;
    const gsize pairs = 2 * (gsize)W * (gsize)H;
    for (gsize i = 0; i < pairs; i++)
        acc->last[i] = -1;
    memset(acc->burst, 0, pairs * sizeof *acc->burst);
    memset(acc->cell, 0, EARLY_BINS * pairs);
    gsize on = 0, early = 0, cells = 0, border = 0, border_on = 0;
    gsize saccade[3] = {0, 0, 0};
    for (gsize i = 0; i < s->n; i++) {
        const OzCamEvent *e = &s->ev[i];
        gsize k = ((gsize)e->p * H + e->y) * W + e->x; /* (polarity, y, x) */
        on += e->p != 0;
        acc->sum_x += e->x;
        acc->sum_y += e->y;
        saccade[e->t < 105000 ? 0 : e->t < 210000 ? 1 : 2]++;
        if (e->t >= 0 && e->t < EARLY_US) {
            early++;
            guint8 *c = &acc->cell[(gsize)(e->t / EARLY_BIN_US) * pairs + k];
            cells += !*c;
            *c = 1;
        }
        if (e->t >= 0 && e->t < PROFILE_BIN_US * OZ_EVENT_STATS_PROFILE_BINS)
            acc->profile[e->t / PROFILE_BIN_US]++;
        if (e->x < BORDER || e->y < BORDER || e->x >= W - BORDER || e->y >= H - BORDER) {
            border++;
            border_on += e->p != 0;
        }
        if (acc->last[k] >= 0) {
            gint64 gap = e->t - acc->last[k];
            if (gap < INTERVAL_MAX_US) {
                acc->intervals++;
                for (int j = 0; j < 5; j++)
                    acc->interval_below[j] += gap < oz_event_stats_interval_ms[j] * 1000.0;
            }
            if (gap > BURST_GAP_US) {
                close_burst(acc, acc->burst[k]);
                acc->burst[k] = 0;
            }
        }
        acc->burst[k]++;
        acc->last[k] = e->t;
    }
    gsize active_pairs = 0, active_pixels = 0;
    for (gsize k = 0; k < pairs; k++) {
        close_burst(acc, acc->burst[k]);
        active_pairs += acc->last[k] >= 0;
    }
    for (gsize k = 0; k < pairs / 2; k++)
        active_pixels += acc->last[k] >= 0 || acc->last[k + pairs / 2] >= 0;

    double n = (double)s->n, last = (double)s->ev[s->n - 1].t;
    g_array_append_val(acc->count, n);
    double frac = (double)on / n;
    g_array_append_val(acc->on_fraction, frac);
    g_array_append_val(acc->last_t, last);
    for (int j = 0; j < 3; j++)
        acc->saccade[j] += (double)saccade[j];
    acc->early_events += (double)early;
    acc->early_cells += (double)cells;
    acc->active_pixels += (double)active_pixels;
    acc->active_pairs += (double)active_pairs;
    acc->events += s->n;
    int band = W * H - MAX(W - 2 * BORDER, 0) * MAX(H - 2 * BORDER, 0);
    acc->border_events += (double)border;
    acc->border_on += (double)border_on;
    acc->border_pixel_seconds += band * last / 1e6;
    if (label >= 0 && label < OZ_EVENT_STATS_CLASSES) {
        acc->class_n[label]++;
        acc->class_events[label] += n;
        acc->class_early[label] += (double)early;
    }
}

static int double_cmp(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

double oz_event_stats_quantile(double *v, gsize n, double q) {
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, double_cmp);
    double pos = q * (double)(n - 1);
    gsize lo = (gsize)floor(pos), hi = MIN(lo + 1, n - 1);
    double f = pos - (double)lo;
    return v[lo] + f * (v[hi] - v[lo]);
}

static void mean_sd(const double *v, gsize n, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (gsize i = 0; i < n; i++)
        s += v[i];
    *mean = n ? s / (double)n : 0;
    for (gsize i = 0; i < n; i++)
        ss += (v[i] - *mean) * (v[i] - *mean);
    *sd = n ? sqrt(ss / (double)n) : 0;
}

void oz_event_stats_acc_finish(const OzEventStatsAcc *acc, OzEventStats *out) {
    memset(out, 0, sizeof *out);
    gsize n = acc->count->len;
    out->n = n;
    if (n == 0)
        return;
    double dn = (double)n;
    g_autofree double *v = g_new(double, n);
    memcpy(v, acc->count->data, n * sizeof *v);
    mean_sd(v, n, &out->events_mean, &out->events_sd);
    out->events_p5 = oz_event_stats_quantile(v, n, 0.05);
    out->events_median = oz_event_stats_quantile(v, n, 0.5);
    out->events_p95 = oz_event_stats_quantile(v, n, 0.95);
    out->events_min = v[0];
    out->events_max = v[n - 1];
    memcpy(v, acc->on_fraction->data, n * sizeof *v);
    double sd;
    mean_sd(v, n, &out->on_fraction_mean, &sd);
    out->on_fraction_p5 = oz_event_stats_quantile(v, n, 0.05);
    out->on_fraction_p95 = oz_event_stats_quantile(v, n, 0.95);
    mean_sd((const double *)acc->last_t->data, n, &out->last_t_mean_ms, &out->last_t_sd_ms);
    out->last_t_mean_ms /= 1000;
    out->last_t_sd_ms /= 1000;
    for (int j = 0; j < 3; j++)
        out->saccade[j] = acc->saccade[j] / dn;
    out->early_events = acc->early_events / dn;
    out->early_cells = acc->early_cells / dn;
    out->active_pixels = acc->active_pixels / dn;
    out->active_pairs = acc->active_pairs / dn;
    for (int j = 0; j < OZ_EVENT_STATS_BURST_SIZES && acc->burst_total; j++)
        out->burst_share[j] = (double)acc->bursts[j] / (double)acc->burst_total;
    out->burst_mean = acc->burst_total ? (double)acc->burst_events / (double)acc->burst_total : 0;
    for (int j = 0; j < 5 && acc->intervals; j++)
        out->interval_cdf[j] = (double)acc->interval_below[j] / (double)acc->intervals;
    out->mean_x = acc->sum_x / (double)acc->events;
    out->mean_y = acc->sum_y / (double)acc->events;
    out->border_hz =
        acc->border_pixel_seconds > 0 ? acc->border_events / acc->border_pixel_seconds : 0;
    out->border_on = acc->border_events > 0 ? acc->border_on / acc->border_events : 0;
    guint64 in_profile = 0;
    for (int b = 0; b < OZ_EVENT_STATS_PROFILE_BINS; b++)
        in_profile += acc->profile[b];
    for (int b = 0; b < OZ_EVENT_STATS_PROFILE_BINS && in_profile; b++)
        out->profile[b] = (double)acc->profile[b] / (double)in_profile;
    for (int c = 0; c < OZ_EVENT_STATS_CLASSES; c++) {
        out->class_n[c] = acc->class_n[c];
        if (acc->class_n[c]) {
            out->class_events[c] = acc->class_events[c] / (double)acc->class_n[c];
            out->class_early[c] = acc->class_early[c] / (double)acc->class_n[c];
        }
    }
}

/* Measured on the 1,100 real recordings (MNIST train images 0–999, test images 0–99) with
 * the definitions of oz-event-stats.h, that is by `opzosim convert --check` itself. */
static const double real_profile_percent[OZ_EVENT_STATS_PROFILE_BINS] = {
    0.13, 0.28, 0.57, 1.01, 1.53, 2.18, 2.78, 3.17, 3.50, 3.64, 3.73, 3.62, 3.04, 2.75, 1.81, 0.82,
    0.46, 0.25, 0.24, 0.31, 0.39, 0.48, 0.59, 0.69, 1.03, 1.65, 2.14, 2.54, 2.87, 3.06, 3.11, 3.03,
    2.95, 2.55, 1.83, 1.19, 0.75, 0.44, 0.41, 0.52, 0.64, 0.61, 0.42, 0.26, 0.13, 0.36, 1.39, 2.36,
    2.73, 2.80, 2.93, 3.15, 3.07, 2.76, 2.23, 1.79, 1.57, 1.28, 0.82, 0.43, 0.17, 0.07,
};

static OzEventStats real_stats = {
    .n = 1100,
    .events_mean = 4108,
    .events_sd = 1152,
    .events_p5 = 2259,
    .events_median = 4164,
    .events_p95 = 6003,
    .events_min = 1069,
    .events_max = 7152,
    .on_fraction_mean = 0.500,
    .on_fraction_p5 = 0.491,
    .on_fraction_p95 = 0.513,
    .saccade = {1488, 1358, 1262},
    .early_events = 1449,
    .early_cells = 1388,
    .last_t_mean_ms = 307.7,
    .last_t_sd_ms = 2.9,
    .active_pixels = 444,
    .active_pairs = 798,
    .burst_share = {0.54, 0.100, 0.108, 0.118, 0.094, 0.035, 0.005},
    .burst_mean = 2.25,
    .interval_cdf = {0.006, 0.034, 0.26, 0.66, 0.91},
    .mean_x = 16.66,
    .mean_y = 17.21,
    .border_hz = 0.45,
    .border_on = 0.89,
    .class_n = {105, 130, 107, 104, 119, 99, 104, 132, 89, 111},
    .class_events = {5497, 2539, 4704, 4850, 3714, 4210, 4163, 3738, 4502, 3767},
    .class_early = {1887, 753, 1770, 1812, 1233, 1579, 1473, 1386, 1559, 1282},
};

const OzEventStats *oz_event_stats_real_nmnist(void) {
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        /* The published percentages sum to 100.01 (rounding): normalised to shares. */
        double sum = 0;
        for (int b = 0; b < OZ_EVENT_STATS_PROFILE_BINS; b++)
            sum += real_profile_percent[b];
        for (int b = 0; b < OZ_EVENT_STATS_PROFILE_BINS; b++)
            real_stats.profile[b] = real_profile_percent[b] / sum;
        g_once_init_leave(&once, 1);
    }
    return &real_stats;
}

double oz_event_stats_profile_l1(const OzEventStats *a, const OzEventStats *b) {
    double d = 0;
    for (int k = 0; k < OZ_EVENT_STATS_PROFILE_BINS; k++)
        d += fabs(a->profile[k] - b->profile[k]);
    return d;
}

double oz_event_stats_pearson(const double *a, const double *b, gsize n) {
    if (n < 2)
        return 0;
    double ma = 0, mb = 0;
    for (gsize i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (gsize i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0;
}

/* oz-event-stats.h — the statistics that compare N-MNIST-like recordings with real ones
 * (docs/EVENTS.md, "Converted against real recordings"): events per recording, ON fraction,
 * events per saccade third, the first 90 ms as the paper bins them, active pixels, bursts and
 * same-pixel intervals, the mean event position, border noise, the 5-ms activity profile and
 * per-class means.
 *
 * Recordings are added one at a time (any sensor size up to 128×128); nothing of a recording
 * is kept but its event count, ON fraction and last timestamp, so a whole data set fits.
 * Definitions:
 *   - per-recording quantities are averaged over recordings; the sd is the population sd
 *     (divided by n); percentiles interpolate linearly between order statistics at
 *     q·(n − 1);
 *   - bursts, intervals, the mean position and the profile pool every event of every
 *     recording;
 *   - a burst is a run of events of one (pixel, polarity) with gaps of at most 8 ms; an
 *     interval is the gap between consecutive events of one (pixel, polarity), counted when
 *     under 20 ms;
 *   - the first 90 ms: events with t < 90 ms, and the distinct (⌊t/3 ms⌋, polarity, x, y)
 *     cells among them;
 *   - the profile: the share of the events below 310 ms in each 5-ms bin (62 bins);
 *   - the border band: pixels within 2 of an edge; its rate is per pixel over each
 *     recording's last timestamp.
 * Pure computation: no files, no printing.
 */
#pragma once

#include "io/oz-events.h"

#include <glib.h>

#define OZ_EVENT_STATS_PROFILE_BINS 62 /* 5 ms each, 0 … 310 ms */
#define OZ_EVENT_STATS_CLASSES 10
#define OZ_EVENT_STATS_BURST_SIZES 7 /* sizes 1 … 6 and 7 or more */

typedef struct {
    gsize n; /* recordings */
    double events_mean, events_sd, events_p5, events_median, events_p95, events_min, events_max;
    double on_fraction_mean, on_fraction_p5, on_fraction_p95;
    double saccade[3];   /* mean events in 0–105, 105–210 and ≥ 210 ms */
    double early_events; /* mean events with t < 90 ms */
    double early_cells;  /* mean binary cells in 30 bins of 3 ms */
    double last_t_mean_ms, last_t_sd_ms;
    double active_pixels, active_pairs;             /* mean per recording */
    double burst_share[OZ_EVENT_STATS_BURST_SIZES]; /* share of bursts of size 1 … 6, 7+ */
    double burst_mean;
    double interval_cdf[5]; /* share of intervals (< 20 ms) below 1.5, 2, 3, 5 and 10 ms */
    double mean_x, mean_y;
    double border_hz, border_on; /* border band: events per pixel and second; ON share */
    double profile[OZ_EVENT_STATS_PROFILE_BINS]; /* shares summing to 1 (0 when no event) */
    gsize class_n[OZ_EVENT_STATS_CLASSES];
    double class_events[OZ_EVENT_STATS_CLASSES]; /* mean events per recording of the class */
    double class_early[OZ_EVENT_STATS_CLASSES];  /* mean events with t < 90 ms */
} OzEventStats;

/* The interval thresholds of interval_cdf, in ms. */
extern const double oz_event_stats_interval_ms[5];

typedef struct OzEventStatsAcc OzEventStatsAcc;

OzEventStatsAcc *oz_event_stats_acc_new(void);
void oz_event_stats_acc_free(OzEventStatsAcc *acc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzEventStatsAcc, oz_event_stats_acc_free)
/* Adds one recording (timestamps non-decreasing, sensor at most 128×128, at least one
 * event); label ≥ OZ_EVENT_STATS_CLASSES is left out of the per-class means only. */
void oz_event_stats_acc_add(OzEventStatsAcc *acc, const OzEventStream *s, int label);
/* The statistics of every recording added so far. */
void oz_event_stats_acc_finish(const OzEventStatsAcc *acc, OzEventStats *out);

/* The statistics of the 1,100 real N-MNIST recordings of MNIST train images 0–999 and test
 * images 0–99 (docs/EVENTS.md), for a comparison without a reference folder: every field
 * as this module computes it on them, rounded. */
const OzEventStats *oz_event_stats_real_nmnist(void);

/* Σ |a − b| over the profile bins. */
double oz_event_stats_profile_l1(const OzEventStats *a, const OzEventStats *b);
/* Pearson's r of two equally long series (0 when either is constant or n < 2). */
double oz_event_stats_pearson(const double *a, const double *b, gsize n);
/* The q-quantile (0 ≤ q ≤ 1) of v by linear interpolation at q·(n − 1); sorts v. */
double oz_event_stats_quantile(double *v, gsize n, double q);

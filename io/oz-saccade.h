/* oz-saccade.h — the saccade DVS emulator: a static grey image turned into an N-MNIST-like
 * event recording (34×34 pixels, two polarities, three saccades, about 310 ms), as described
 * in docs/EVENTS.md, "The saccade converter".
 *
 * The image moves over the sensor along a fixed trajectory (the measured knot table by
 * default); each sensor pixel samples the blurred image bilinearly, turns it into a log
 * intensity, and emits an event whenever that log intensity has moved by its threshold
 * since the last crossing (per-pixel threshold mismatch, a refractory period, a random
 * initial reference), plus Poisson background noise.  All randomness of one recording comes
 * from one stream keyed by (seed, split, image index), so a recording never depends on which
 * thread made it or in which order.
 *
 * Deliberately not here: files and folders (sim/oz-convert.c writes them through the
 * N-MNIST writer of io/oz-events.h) and statistics (io/oz-event-stats.h).  The functions
 * below oz_saccade_render are its pieces, public so that tests can check each by hand.
 */
#pragma once

#include "engine/oz-params.h"
#include "engine/oz-rng.h"
#include "io/oz-events.h"

#include <glib.h>

typedef enum {
    OZ_SACCADE_MOTION_MEASURED,       /* the measured knot table (default) */
    OZ_SACCADE_MOTION_ORCHARD_LINEAR, /* Orchard's three straight 105 ms ramps */
    OZ_SACCADE_MOTION_ORCHARD_MINJERK /* the same vertices, minimum-jerk within each ramp */
} OzSaccadeMotion;

typedef enum {
    OZ_SACCADE_DARK_ON_BRIGHT, /* dark strokes on a bright background (default, as measured) */
    OZ_SACCADE_BRIGHT_ON_DARK, /* the literal MNIST look */
} OzSaccadePolarityStyle;

/* The converter's parameters (oz_saccade_param_specs lists them with their defaults). */
typedef struct {
    int motion;          /* OzSaccadeMotion */
    double amplitude_px; /* A: the trajectory's scale */
    double origin_x_px;  /* o_x, o_y: where image pixel (0, 0) sits at zero offset */
    double origin_y_px;
    double blur_sigma_px; /* σ of the optical blur (0: none) */
    double contrast_k;    /* K: stroke-to-background log contrast */
    int polarity_style;   /* OzSaccadePolarityStyle */
    double threshold_on;  /* nominal thresholds C_on, C_off (ln units) */
    double threshold_off;
    double threshold_sigma; /* σ_C: per-pixel mismatch of each threshold */
    double refractory_ms;
    gboolean phase;     /* random initial reference level */
    double dt_ms;       /* the rendering step */
    double noise_on_hz; /* background noise per pixel */
    double noise_off_hz;
    gboolean hot_pixels; /* add the four hot pixels of the real recordings */
    double duration_ms;  /* T: the recording's length */
} OzSaccadeParams;

/* The parameters' table (NULL-key terminated): key, range or choices, default, help. */
const OzParamSpec *oz_saccade_param_specs(void);
/* Sets every parameter to its default (the calibrated values). */
void oz_saccade_params_defaults(OzSaccadeParams *p);
/* Sets one parameter from "key=value"; FALSE with a message naming the key (or listing the
 * keys) otherwise, and p unchanged.  Errors are OZ_EVENTS_ERROR_FAILED. */
gboolean oz_saccade_params_set(OzSaccadeParams *p, const char *assignment, GError **error);

#define OZ_SACCADE_SIZE 34 /* the sensor is 34×34, as N-MNIST */

/* The image offset d(t) = (dx, dy) in pixels at t_ms, for the parameters' motion and
 * amplitude (held at its last value after the trajectory ends). */
void oz_saccade_motion(const OzSaccadeParams *p, double t_ms, double *dx, double *dy);

/* A blurred, zero-padded image in [0, 1]: pixel (c, r) of the source, c, r ≥ −pad, is at
 * v[(r + pad)·w + c + pad]; taps outside it are background (0). */
typedef struct {
    double *v; /* (h, w) */
    int pad, w, h;
} OzSaccadeImage;

/* m = pixel/255, zero-padded by ⌈3σ⌉ + 8 and blurred with a normalised Gaussian of
 * p->blur_sigma_px truncated at ±⌈3σ⌉ (separable: rows, then columns).  rows, cols ≤ 64. */
void oz_saccade_image_init(OzSaccadeImage *im, const guint8 *pixels, int rows, int cols,
                           const OzSaccadeParams *p);
void oz_saccade_image_clear(OzSaccadeImage *im);
/* Bilinear sample at image position (c, r) (column, row; pixel centres at integers),
 * clamped to [0, 1]. */
double oz_saccade_sample(const OzSaccadeImage *im, double c, double r);

/* An event before its time is rounded to whole µs. */
typedef struct {
    double t_us;
    guint16 x, y;
    guint8 p;
} OzSaccadeEvent;

/* One pixel's threshold detector between two renderings: log intensities a at t0_us and b
 * at t1_us.  Emits into out (may be NULL) every crossing that the refractory period lets
 * through, at its interpolated time in µs (not yet rounded); updates *ref and *t_last
 * (−INFINITY: nothing emitted yet).  Returns the crossings found (emitted or not). */
typedef struct {
    double c_on, c_off; /* this pixel's thresholds */
    double refractory_us;
} OzSaccadePixel;
int oz_saccade_pixel_step(const OzSaccadePixel *px, double a, double b, double t0_us, double t1_us,
                          double *ref, double *t_last, guint16 x, guint16 y,
                          GArray *out /* OzSaccadeEvent */);

/* The smallest threshold: a threshold of 0 or below would cross forever. */
#define OZ_SACCADE_MIN_THRESHOLD 0.01

/* The first draws of a recording: C_on then C_off of every pixel in row-major order, each
 * threshold + σ_C·z with z normal (Box–Muller, cosine branch: two uniforms), then clamped
 * to at least OZ_SACCADE_MIN_THRESHOLD.  px has OZ_SACCADE_SIZE² entries. */
void oz_saccade_draw_thresholds(const OzSaccadeParams *p, OzRng *rng, OzSaccadePixel *px);

/* Sorts events by (t, y, x, p): the order of the output, which makes its bytes
 * reproducible. */
void oz_saccade_sort(OzCamEvent *ev, gsize n);

/* The random stream of one recording: split is 0 for training images, 1 for test images,
 * index the 0-based image index. */
void oz_saccade_rng(OzRng *rng, guint64 seed, int split, guint64 index);

/* The recording of one image (rows×cols grey pixels, 0..255) with the stream rng, into out
 * (34×34; cleared first; timestamps in µs below duration_ms).  Cannot fail. */
void oz_saccade_render(const OzSaccadeParams *p, const guint8 *pixels, int rows, int cols,
                       OzRng *rng, OzEventStream *out);

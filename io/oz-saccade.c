/* oz-saccade.c — the saccade DVS emulator (oz-saccade.h; the model and its calibration are
 * in docs/EVENTS.md, "The saccade converter").
 *
 * One recording: draw each pixel's thresholds and initial reference, render the log
 * intensity of all 34×34 pixels every dt along the trajectory, find each pixel's threshold
 * crossings between two renderings by linear interpolation (ESIM style: the reference moves
 * to the crossed level even when the refractory period drops the event), add Poisson
 * background noise, round the times down to whole µs, sort.
 *
 * Not modelled (extension points): a photoreceptor low-pass, leak events, intensity-
 * dependent shot noise, latency jitter.
 */
#include "io/oz-saccade.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters ---- */

#define P(f) offsetof(OzSaccadeParams, f)
static const OzParamSpec saccade_keys[] = {
    {"motion", OZ_PARAM_ENUM, P(motion), 0, 0, "measured|orchard-linear|orchard-minjerk",
     "measured", "the trajectory: the measured knot table or Orchard's nominal triangle"},
    {"amplitude_px", OZ_PARAM_DOUBLE, P(amplitude_px), 0, 20, NULL, "6.5",
     "A: the trajectory's scale in pixels"},
    {"origin_x_px", OZ_PARAM_DOUBLE, P(origin_x_px), -20, 20, NULL, "0.1",
     "o_x: sensor column of image column 0 at zero offset"},
    {"origin_y_px", OZ_PARAM_DOUBLE, P(origin_y_px), -20, 20, NULL, "1.0",
     "o_y: sensor row of image row 0 at zero offset"},
    {"blur_sigma_px", OZ_PARAM_DOUBLE, P(blur_sigma_px), 0, 3, NULL, "0.6",
     "σ of the Gaussian optical blur in pixels (0: none)"},
    {"contrast_k", OZ_PARAM_DOUBLE, P(contrast_k), 0.01, 20, NULL, "1.3",
     "K: log contrast between stroke and background"},
    {"polarity_style", OZ_PARAM_ENUM, P(polarity_style), 0, 0, "dark-on-bright|bright-on-dark",
     "dark-on-bright", "how the display shows the image"},
    {"threshold_on", OZ_PARAM_DOUBLE, P(threshold_on), 0.01, 10, NULL, "0.2",
     "C_on: nominal ON threshold (ln units)"},
    {"threshold_off", OZ_PARAM_DOUBLE, P(threshold_off), 0.01, 10, NULL, "0.2",
     "C_off: nominal OFF threshold (ln units)"},
    {"threshold_sigma", OZ_PARAM_DOUBLE, P(threshold_sigma), 0, 1, NULL, "0.03",
     "σ_C: per-pixel threshold mismatch (each threshold clamped to at least 0.01)"},
    {"refractory_ms", OZ_PARAM_DOUBLE, P(refractory_ms), 0, 100, NULL, "1",
     "per-pixel refractory period (both polarities)"},
    {"phase", OZ_PARAM_BOOL, P(phase), 0, 0, NULL, "true",
     "random initial reference: R0 = L(0) + (u - 1/2) C_on"},
    {"dt_ms", OZ_PARAM_DOUBLE, P(dt_ms), 0.01, 10, NULL, "0.5", "rendering step"},
    {"noise_on_hz", OZ_PARAM_DOUBLE, P(noise_on_hz), 0, 1000, NULL, "0.27",
     "ON background noise per pixel (Poisson)"},
    {"noise_off_hz", OZ_PARAM_DOUBLE, P(noise_off_hz), 0, 1000, NULL, "0.035",
     "OFF background noise per pixel (Poisson)"},
    {"hot_pixels", OZ_PARAM_BOOL, P(hot_pixels), 0, 0, NULL, "false",
     "add the four hot pixels of the real recordings"},
    {"duration_ms", OZ_PARAM_DOUBLE, P(duration_ms), 1, 8000, NULL, "310",
     "T: the recording's length"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef P

const OzParamSpec *oz_saccade_param_specs(void) {
    return saccade_keys;
}

void oz_saccade_params_defaults(OzSaccadeParams *p) {
    memset(p, 0, sizeof *p);
    oz_param_defaults(saccade_keys, p);
}

gboolean oz_saccade_params_set(OzSaccadeParams *p, const char *assignment, GError **error) {
    const char *eq = strchr(assignment, '=');
    g_autofree char *key = eq ? g_strstrip(g_strndup(assignment, (gsize)(eq - assignment))) : NULL;
    const OzParamSpec *spec = key ? oz_param_find(saccade_keys, key) : NULL;
    if (!spec) {
        GString *keys = g_string_new(NULL);
        for (const OzParamSpec *s = saccade_keys; s->key; s++)
            g_string_append_printf(keys, "%s%s", s == saccade_keys ? "" : ", ", s->key);
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED,
                    "--set '%s': %s; the converter's keys are %s", assignment,
                    eq ? "unknown key" : "expected KEY=VALUE", keys->str);
        g_string_free(keys, TRUE);
        return FALSE;
    }
    g_autofree char *why = NULL;
    if (!oz_param_parse(spec, eq + 1, p, &why)) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED, "--set %s: %s", key, why);
        return FALSE;
    }
    return TRUE;
}

/* ---- motion ---- */

/* The measured trajectory, normalised: (x_n, y_n) every 5 ms from 0 to 310 ms.  The image
 * velocity was estimated every 5 ms from real N-MNIST recordings by contrast maximisation:
 * the tilt axis (y) makes most of the first saccade, the pan axis (x) creeps through the
 * second, and each return is a ramp of its own. */
#define KNOT_MS 5.0
static const float knots[][2] = {
    {0.000f, 0.000f}, {0.000f, 0.003f}, {0.000f, 0.011f}, {0.000f, 0.031f}, {0.000f, 0.072f},
    {0.000f, 0.130f}, {0.000f, 0.200f}, {0.000f, 0.286f}, {0.004f, 0.381f}, {0.012f, 0.483f},
    {0.035f, 0.586f}, {0.070f, 0.681f}, {0.112f, 0.763f}, {0.159f, 0.829f}, {0.209f, 0.874f},
    {0.244f, 0.907f}, {0.244f, 0.956f}, {0.254f, 0.966f}, {0.258f, 0.971f}, {0.262f, 0.975f},
    {0.268f, 0.982f}, {0.276f, 0.990f}, {0.286f, 1.000f}, {0.313f, 0.949f}, {0.340f, 0.906f},
    {0.375f, 0.859f}, {0.421f, 0.805f}, {0.476f, 0.742f}, {0.526f, 0.664f}, {0.573f, 0.574f},
    {0.611f, 0.480f}, {0.642f, 0.387f}, {0.673f, 0.293f}, {0.708f, 0.207f}, {0.747f, 0.129f},
    {0.782f, 0.066f}, {0.821f, 0.023f}, {0.859f, 0.000f}, {0.872f, 0.000f}, {0.884f, 0.000f},
    {0.899f, 0.000f}, {0.934f, 0.000f}, {0.969f, 0.000f}, {0.981f, 0.000f}, {0.987f, 0.000f},
    {0.990f, 0.000f}, {1.000f, 0.000f}, {0.915f, 0.000f}, {0.829f, 0.000f}, {0.744f, 0.000f},
    {0.654f, 0.000f}, {0.560f, 0.000f}, {0.467f, 0.000f}, {0.377f, 0.000f}, {0.296f, 0.000f},
    {0.228f, 0.000f}, {0.172f, 0.000f}, {0.117f, 0.000f}, {0.065f, 0.000f}, {0.018f, 0.000f},
    {0.005f, 0.000f}, {0.001f, 0.000f}, {0.000f, 0.000f},
};
#define N_KNOTS ((int)G_N_ELEMENTS(knots))
_Static_assert(G_N_ELEMENTS(knots) == 63, "knots every 5 ms from 0 to 310 ms");

/* Orchard's nominal triangle, in units of A: (0, 0) → (½, 1) → (1, 0) → (0, 0), one 105 ms
 * segment each (A = 7 gives his (3.5, 7) and (7, 0)). */
#define SEGMENT_MS 105.0
static const double vertices[4][2] = {{0, 0}, {0.5, 1}, {1, 0}, {0, 0}};

void oz_saccade_motion(const OzSaccadeParams *p, double t_ms, double *dx, double *dy) {
    double xn, yn;
    if (p->motion == OZ_SACCADE_MOTION_MEASURED) {
        if (t_ms <= 0) {
            xn = knots[0][0];
            yn = knots[0][1];
        } else if (t_ms >= KNOT_MS * (N_KNOTS - 1)) {
            xn = knots[N_KNOTS - 1][0];
            yn = knots[N_KNOTS - 1][1];
        } else {
            int i = (int)(t_ms / KNOT_MS);
            double f = t_ms / KNOT_MS - i;
            xn = (1 - f) * knots[i][0] + f * knots[i + 1][0];
            yn = (1 - f) * knots[i][1] + f * knots[i + 1][1];
        }
    } else {
        if (t_ms <= 0 || t_ms >= 3 * SEGMENT_MS) {
            xn = yn = 0;
        } else {
            int s = (int)(t_ms / SEGMENT_MS);
            double tau = t_ms / SEGMENT_MS - s;
            if (p->motion == OZ_SACCADE_MOTION_ORCHARD_MINJERK)
                tau = tau * tau * tau * (10 - 15 * tau + 6 * tau * tau);
            xn = (1 - tau) * vertices[s][0] + tau * vertices[s + 1][0];
            yn = (1 - tau) * vertices[s][1] + tau * vertices[s + 1][1];
        }
    }
    *dx = p->amplitude_px * xn;
    *dy = p->amplitude_px * yn;
}

/* ---- the image ---- */

void oz_saccade_image_init(OzSaccadeImage *im, const guint8 *pixels, int rows, int cols,
                           const OzSaccadeParams *p) {
    g_assert(rows > 0 && cols > 0 && rows <= 64 && cols <= 64);
    double sigma = p->blur_sigma_px;
    int radius = sigma > 0 ? (int)ceil(3 * sigma) : 0;
    im->pad = radius + 8;
    im->w = cols + 2 * im->pad;
    im->h = rows + 2 * im->pad;
    double kernel[32];
    double sum = 0;
    for (int i = -radius; i <= radius; i++) {
        kernel[i + radius] = radius ? exp(-0.5 * i * i / (sigma * sigma)) : 1.0;
        sum += kernel[i + radius];
    }
    for (int i = 0; i <= 2 * radius; i++)
        kernel[i] /= sum;
    gsize n = (gsize)im->w * (gsize)im->h;
    double *m = g_new0(double, n), *tmp = g_new0(double, n);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            m[(gsize)(r + im->pad) * im->w + c + im->pad] = pixels[r * cols + c] / 255.0;
    /* Rows, then columns; the padding (≥ radius + 8) keeps every tap of the source inside. */
    for (int r = 0; r < im->h; r++)
        for (int c = radius; c < im->w - radius; c++) {
            double s = 0;
            for (int k = -radius; k <= radius; k++)
                s += kernel[k + radius] * m[(gsize)r * im->w + c + k];
            tmp[(gsize)r * im->w + c] = s;
        }
    memset(m, 0, n * sizeof *m);
    for (int r = radius; r < im->h - radius; r++)
        for (int c = 0; c < im->w; c++) {
            double s = 0;
            for (int k = -radius; k <= radius; k++)
                s += kernel[k + radius] * tmp[(gsize)(r + k) * im->w + c];
            m[(gsize)r * im->w + c] = s;
        }
    g_free(tmp);
    im->v = m;
}

void oz_saccade_image_clear(OzSaccadeImage *im) {
    g_clear_pointer(&im->v, g_free);
}

static inline double tap(const OzSaccadeImage *im, int c, int r) {
    c += im->pad;
    r += im->pad;
    if (c < 0 || r < 0 || c >= im->w || r >= im->h)
        return 0;
    return im->v[(gsize)r * im->w + c];
}

double oz_saccade_sample(const OzSaccadeImage *im, double c, double r) {
    double cf = floor(c), rf = floor(r);
    double f = c - cf, g = r - rf;
    int c0 = (int)cf, r0 = (int)rf;
    double a = (1 - f) * (1 - g) * tap(im, c0, r0) + f * (1 - g) * tap(im, c0 + 1, r0) +
               (1 - f) * g * tap(im, c0, r0 + 1) + f * g * tap(im, c0 + 1, r0 + 1);
    return a < 0 ? 0 : a > 1 ? 1 : a;
}

/* ---- the pixel ---- */

int oz_saccade_pixel_step(const OzSaccadePixel *px, double a, double b, double t0_us, double t1_us,
                          double *ref, double *t_last, guint16 x, guint16 y, GArray *out) {
    int found = 0;
    for (;;) {
        double level;
        guint8 pol;
        if (b > *ref + px->c_on) {
            level = *ref + px->c_on;
            pol = 1;
        } else if (b < *ref - px->c_off) {
            level = *ref - px->c_off;
            pol = 0;
        } else {
            break;
        }
        /* The log intensity is linear inside a step.  Only the first step can start beyond
         * a level (a random reference farther than C_off above L(0)); such a crossing is
         * due at once, so the fraction is clamped to [0, 1]. */
        double frac = b != a ? (level - a) / (b - a) : 0;
        frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
        double t = t0_us + (t1_us - t0_us) * frac;
        *ref = level;
        found++;
        if (t - *t_last >= px->refractory_us) {
            if (out) {
                OzSaccadeEvent e = {.t_us = t, .x = x, .y = y, .p = pol};
                g_array_append_val(out, e);
            }
            *t_last = t;
        }
    }
    return found;
}

static int event_cmp(const void *pa, const void *pb) {
    const OzCamEvent *a = pa, *b = pb;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    return (int)a->p - (int)b->p;
}

void oz_saccade_sort(OzCamEvent *ev, gsize n) {
    qsort(ev, n, sizeof *ev, event_cmp);
}

/* ---- one recording ---- */

void oz_saccade_rng(OzRng *rng, guint64 seed, int split, guint64 index) {
    /* The key of a split is one draw of the stream (seed, "dvs-saccade:<split>"); each image
     * is a sub-stream of it, so recordings are independent of order and thread count. */
    OzRng base;
    oz_rng_init(&base, seed, split == 0 ? "dvs-saccade:train" : "dvs-saccade:test");
    oz_rng_init_sub(rng, oz_rng_next(&base), index);
}

/* N(0, 1) by Box–Muller with two uniforms, keeping the cosine branch only: one normal per
 * two draws, so that each threshold is a fixed number of draws and the draw order stays as
 * documented.  1 − u is in (0, 1], so the logarithm is finite. */
static double gauss_cos(OzRng *rng) {
    double u1 = 1.0 - oz_rng_uniform(rng);
    double u2 = oz_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * G_PI * u2);
}

void oz_saccade_draw_thresholds(const OzSaccadeParams *p, OzRng *rng, OzSaccadePixel *px) {
    for (int i = 0; i < OZ_SACCADE_SIZE * OZ_SACCADE_SIZE; i++) {
        /* Drawn before clamping: MAX() evaluates its arguments twice. */
        double on = p->threshold_on + p->threshold_sigma * gauss_cos(rng);
        double off = p->threshold_off + p->threshold_sigma * gauss_cos(rng);
        px[i].c_on = MAX(OZ_SACCADE_MIN_THRESHOLD, on);
        px[i].c_off = MAX(OZ_SACCADE_MIN_THRESHOLD, off);
        px[i].refractory_us = p->refractory_ms * 1000.0;
    }
}

/* Poisson arrivals of rate_hz in [0, duration_us), by exponential gaps. */
static void poisson(OzRng *rng, double rate_hz, double duration_us, guint16 x, guint16 y,
                    guint8 pol, GArray *out) {
    if (rate_hz <= 0)
        return;
    double mean_gap_us = 1e6 / rate_hz;
    double t = 0;
    for (;;) {
        t += -log(1.0 - oz_rng_uniform(rng)) * mean_gap_us;
        if (t >= duration_us)
            return;
        OzSaccadeEvent e = {.t_us = t, .x = x, .y = y, .p = pol};
        g_array_append_val(out, e);
    }
}

/* The hot pixels of the real recordings: (x, y) and events per 310 ms recording, half ON. */
static const struct {
    guint16 x, y;
    double per_recording;
} hot[] = {{18, 30, 14.6}, {7, 15, 7.5}, {1, 13, 1.5}, {29, 1, 0.8}};
#define HOT_RECORDING_S 0.310

/* The log intensity seen by every sensor pixel at t_ms. */
static void render(const OzSaccadeParams *p, const OzSaccadeImage *im, double t_ms, double *L) {
    double dx, dy;
    oz_saccade_motion(p, t_ms, &dx, &dy);
    double b = exp(-p->contrast_k);
    gboolean dark = p->polarity_style == OZ_SACCADE_DARK_ON_BRIGHT;
    for (int y = 0; y < OZ_SACCADE_SIZE; y++)
        for (int x = 0; x < OZ_SACCADE_SIZE; x++) {
            double a = oz_saccade_sample(im, x - p->origin_x_px - dx, y - p->origin_y_px - dy);
            double I = dark ? 1 - (1 - b) * a : b + (1 - b) * a;
            L[y * OZ_SACCADE_SIZE + x] = log(I);
        }
}

void oz_saccade_render(const OzSaccadeParams *p, const guint8 *pixels, int rows, int cols,
                       OzRng *rng, OzEventStream *out) {
    enum { NPIX = OZ_SACCADE_SIZE * OZ_SACCADE_SIZE };
    OzSaccadeImage im = {0};
    oz_saccade_image_init(&im, pixels, rows, cols, p);
    OzSaccadePixel px[NPIX];
    double ref[NPIX], t_last[NPIX], L0[NPIX], L1[NPIX];

    /* Draw order: both thresholds of every pixel (row-major), then every phase, then the
     * noise pixel by pixel (ON before OFF), then the hot pixels. */
    oz_saccade_draw_thresholds(p, rng, px);
    render(p, &im, 0.0, L0);
    for (int i = 0; i < NPIX; i++) {
        ref[i] = L0[i] + (p->phase ? (oz_rng_uniform(rng) - 0.5) * px[i].c_on : 0.0);
        t_last[i] = -INFINITY;
    }

    GArray *ev = g_array_sized_new(FALSE, FALSE, sizeof(OzSaccadeEvent), 8192);
    double duration_us = p->duration_ms * 1000.0;
    double dt_us = p->dt_ms * 1000.0;
    int steps = (int)ceil(p->duration_ms / p->dt_ms - 1e-9);
    double *prev = L0, *cur = L1;
    for (int k = 1; k <= steps; k++) {
        render(p, &im, k * p->dt_ms, cur);
        double t0 = (k - 1) * dt_us, t1 = k * dt_us;
        for (int i = 0; i < NPIX; i++)
            oz_saccade_pixel_step(&px[i], prev[i], cur[i], t0, t1, &ref[i], &t_last[i],
                                  (guint16)(i % OZ_SACCADE_SIZE), (guint16)(i / OZ_SACCADE_SIZE),
                                  ev);
        double *swap = prev;
        prev = cur;
        cur = swap;
    }
    for (int i = 0; i < NPIX; i++) {
        guint16 x = (guint16)(i % OZ_SACCADE_SIZE), y = (guint16)(i / OZ_SACCADE_SIZE);
        poisson(rng, p->noise_on_hz, duration_us, x, y, 1, ev);
        poisson(rng, p->noise_off_hz, duration_us, x, y, 0, ev);
    }
    if (p->hot_pixels)
        for (gsize h = 0; h < G_N_ELEMENTS(hot); h++)
            for (guint8 pol = 1; pol != 255; pol--)
                poisson(rng, 0.5 * hot[h].per_recording / HOT_RECORDING_S, duration_us, hot[h].x,
                        hot[h].y, pol, ev);
    oz_saccade_image_clear(&im);

    /* Whole µs, rounded down; the last step may end at or past T. */
    OzCamEvent *e = g_new(OzCamEvent, MAX(ev->len, 1));
    gsize n = 0;
    gint64 t_end = (gint64)ceil(duration_us);
    for (guint i = 0; i < ev->len; i++) {
        const OzSaccadeEvent *s = &g_array_index(ev, OzSaccadeEvent, i);
        gint64 t = (gint64)floor(s->t_us);
        if (t >= t_end)
            continue;
        e[n++] = (OzCamEvent){.t = t, .x = s->x, .y = s->y, .p = s->p};
    }
    g_array_free(ev, TRUE);
    oz_saccade_sort(e, n);
    oz_event_stream_clear(out);
    out->ev = e;
    out->n = n;
    out->width = out->height = OZ_SACCADE_SIZE;
}

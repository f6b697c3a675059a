/* The saccade DVS converter and `opzosim convert` (docs/EVENTS.md, "The saccade converter"):
 * the emulator's pieces against values worked by hand (the knot table, bilinear sampling,
 * one pixel's threshold crossings and refractory drop, the sort order), determinism for a
 * seed, the same bytes at 1 and 2 threads, the output read back by the N-MNIST reader, the
 * statistics of `--check` on a hand-made folder, the statistics of 50 converted digit-like
 * images inside broad bands, and bad input exiting 2 with nothing written.  The images are
 * made here: no test needs MNIST. */
#include "oz-test-util.h"

#include "io/oz-event-stats.h"
#include "io/oz-events.h"
#include "io/oz-saccade.h"
#include "sim/oz-convert.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(convert, .init = setup, .fini = teardown);

/* ---- images ---- */

/* A digit-like 28×28 image: a ring (even i) or a slanted bar (odd i) of varying size and
 * place, strokes 2–3 pixels wide with soft edges, as MNIST's. */
static void make_digit(guint8 *img, int i) {
    memset(img, 0, 28 * 28);
    double cx = 13.5 + (i % 3) - 1, cy = 13.5 + (i % 5) - 2;
    double r = 6 + (i % 4), w = 1.2 + 0.2 * (i % 3);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            double d;
            if (i % 2 == 0) {
                d = fabs(hypot(x - cx, (y - cy) * 0.8) - r);
            } else {
                /* distance to the segment from (cx − 3, cy + 8) to (cx + 3, cy − 8) */
                double ax = cx - 3, ay = cy + 8, bx = cx + 3, by = cy - 8;
                double t = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) /
                           ((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                d = hypot(x - (ax + t * (bx - ax)), y - (ay + t * (by - ay)));
            }
            double v = d < w ? 1 : d < w + 1 ? w + 1 - d : 0;
            img[y * 28 + x] = (guint8)lround(255 * v);
        }
}

/* Writes n digit-like images and their labels (i % 10) as IDX files into dir. */
static void write_digits(const char *images, const char *labels, int n) {
    g_autofree guint8 *img = g_new(guint8, (gsize)n * 784);
    g_autofree guint8 *lab = g_new(guint8, n);
    for (int i = 0; i < n; i++) {
        make_digit(img + (gsize)i * 784, i);
        lab[i] = (guint8)(i % 10);
    }
    guint32 di[3] = {(guint32)n, 28, 28}, dl[1] = {(guint32)n};
    oz_test_write_idx(images, di, 3, img, FALSE);
    oz_test_write_idx(labels, dl, 1, lab, FALSE);
}

/* An MNIST-named folder with n_train and n_test digit-like images (the test images start
 * at a different pattern index). */
static char *write_mnist_dir(int n_train, int n_test) {
    char *d = g_build_filename(dir, "mnist", NULL);
    g_mkdir_with_parents(d, 0755);
    g_autofree char *ti = g_build_filename(d, "train-images-idx3-ubyte", NULL);
    g_autofree char *tl = g_build_filename(d, "train-labels-idx1-ubyte", NULL);
    g_autofree char *si = g_build_filename(d, "t10k-images-idx3-ubyte", NULL);
    g_autofree char *sl = g_build_filename(d, "t10k-labels-idx1-ubyte", NULL);
    write_digits(ti, tl, n_train);
    write_digits(si, sl, n_test);
    return d;
}

/* ---- the emulator's pieces ---- */

Test(convert, the_measured_trajectory_interpolates_its_knots_and_holds_the_last) {
    OzSaccadeParams p;
    oz_saccade_params_defaults(&p);
    double dx, dy;
    /* Halfway between the knots at 40 ms (0.004, 0.381) and 45 ms (0.012, 0.483), A = 6.5. */
    oz_saccade_motion(&p, 42.5, &dx, &dy);
    cr_assert(fabs(dx - 6.5 * 0.008) < 1e-6, "dx %g", dx);
    cr_assert(fabs(dy - 6.5 * 0.432) < 1e-6, "dy %g", dy);
    /* On a knot: 110 ms is (0.286, 1.000). */
    oz_saccade_motion(&p, 110, &dx, &dy);
    cr_assert(fabs(dx - 6.5 * 0.286) < 1e-6 && fabs(dy - 6.5) < 1e-6, "%g %g", dx, dy);
    /* A quarter of the way from 230 ms (1.000, 0) to 235 ms (0.915, 0). */
    oz_saccade_motion(&p, 231.25, &dx, &dy);
    cr_assert(fabs(dx - 6.5 * (1.0 - 0.25 * 0.085)) < 1e-6 && dy == 0, "%g %g", dx, dy);
    /* After 310 ms the last knot (0, 0) holds. */
    oz_saccade_motion(&p, 400, &dx, &dy);
    cr_assert(dx == 0 && dy == 0);
}

Test(convert, orchard_trajectories_follow_the_triangle_linearly_or_by_minimum_jerk) {
    OzSaccadeParams p;
    oz_saccade_params_defaults(&p);
    cr_assert(oz_saccade_params_set(&p, "motion=orchard-linear", NULL));
    cr_assert(oz_saccade_params_set(&p, "amplitude_px=7", NULL));
    double dx, dy;
    oz_saccade_motion(&p, 52.5, &dx, &dy); /* halfway to (3.5, 7) */
    cr_assert(fabs(dx - 1.75) < 1e-9 && fabs(dy - 3.5) < 1e-9, "%g %g", dx, dy);
    oz_saccade_motion(&p, 105 + 21, &dx, &dy); /* a fifth of (3.5, 7) → (7, 0) */
    cr_assert(fabs(dx - 4.2) < 1e-9 && fabs(dy - 5.6) < 1e-9, "%g %g", dx, dy);
    cr_assert(oz_saccade_params_set(&p, "motion=orchard-minjerk", NULL));
    /* τ = 0.2: s = 10τ³ − 15τ⁴ + 6τ⁵ = 0.05792. */
    oz_saccade_motion(&p, 21, &dx, &dy);
    cr_assert(fabs(dx - 3.5 * 0.05792) < 1e-9 && fabs(dy - 7 * 0.05792) < 1e-9, "%g %g", dx, dy);
    oz_saccade_motion(&p, 320, &dx, &dy);
    cr_assert(dx == 0 && dy == 0);
}

Test(convert, bilinear_sampling_weights_the_four_taps_and_outside_is_background) {
    OzSaccadeParams p;
    oz_saccade_params_defaults(&p);
    p.blur_sigma_px = 0;
    guint8 img[28 * 28] = {0};
    img[3 * 28 + 5] = 255; /* row 3, column 5 */
    img[3 * 28 + 6] = 51;  /* 0.2 */
    OzSaccadeImage im = {0};
    oz_saccade_image_init(&im, img, 28, 28, &p);
    cr_assert(fabs(oz_saccade_sample(&im, 5, 3) - 1) < 1e-12);
    /* (1 − ¼)(1 − ½)·1 + ¼(1 − ½)·0.2 = 0.4 */
    cr_assert(fabs(oz_saccade_sample(&im, 5.25, 3.5) - 0.4) < 1e-12, "%g",
              oz_saccade_sample(&im, 5.25, 3.5));
    /* ¾ of the way from column 4 (0) to 5 (1). */
    cr_assert(fabs(oz_saccade_sample(&im, 4.75, 3) - 0.75) < 1e-12);
    cr_assert(oz_saccade_sample(&im, -30, 3) == 0);
    cr_assert(oz_saccade_sample(&im, 5, 100) == 0);
    oz_saccade_image_clear(&im);
    /* With σ = 0.6 the kernel is e^(−k²/0.72) over k = −2…2, normalised: a lone white
     * pixel keeps its total and its centre is the kernel's middle weight squared. */
    p.blur_sigma_px = 0.6;
    img[3 * 28 + 6] = 0;
    oz_saccade_image_init(&im, img, 28, 28, &p);
    double e1 = exp(-1 / 0.72), e4 = exp(-4 / 0.72);
    double k0 = 1 / (1 + 2 * e1 + 2 * e4);
    cr_assert(fabs(oz_saccade_sample(&im, 5, 3) - k0 * k0) < 1e-12, "%g",
              oz_saccade_sample(&im, 5, 3));
    cr_assert(fabs(oz_saccade_sample(&im, 6, 3) - k0 * k0 * e1) < 1e-12);
    double total = 0;
    for (int r = -3; r <= 9; r++)
        for (int c = -3; c <= 9; c++)
            total += oz_saccade_sample(&im, c, r);
    cr_assert(fabs(total - 1) < 1e-12, "%g", total);
    oz_saccade_image_clear(&im);
}

Test(convert, a_pixel_emits_at_each_crossed_level_at_the_interpolated_time) {
    /* L rises from 0 to 1 over 1000 µs with C_on = 0.3: levels 0.3, 0.6, 0.9 at 300, 600 and
     * 900 µs; the reference ends at the last level crossed. */
    OzSaccadePixel px = {.c_on = 0.3, .c_off = 0.2, .refractory_us = 0};
    double ref = 0, t_last = -INFINITY;
    GArray *ev = g_array_new(FALSE, FALSE, sizeof(OzSaccadeEvent));
    cr_assert_eq(oz_saccade_pixel_step(&px, 0, 1, 0, 1000, &ref, &t_last, 4, 7, ev), 3);
    cr_assert_eq(ev->len, 3);
    const double want[3] = {300, 600, 900};
    for (int i = 0; i < 3; i++) {
        const OzSaccadeEvent *e = &g_array_index(ev, OzSaccadeEvent, i);
        cr_assert(fabs(e->t_us - want[i]) < 1e-9, "event %d at %g", i, e->t_us);
        cr_assert(e->p == 1 && e->x == 4 && e->y == 7);
    }
    cr_assert(fabs(ref - 0.9) < 1e-12);
    /* Falling by 0.5 from 0.9 over 1000 … 2000 µs with C_off = 0.2: levels 0.7 and 0.5 at
     * 1400 and 1800 µs, OFF. */
    g_array_set_size(ev, 0);
    cr_assert_eq(oz_saccade_pixel_step(&px, 0.9, 0.4, 1000, 2000, &ref, &t_last, 4, 7, ev), 2);
    cr_assert_eq(ev->len, 2);
    cr_assert(fabs(g_array_index(ev, OzSaccadeEvent, 0).t_us - 1400) < 1e-9);
    cr_assert(fabs(g_array_index(ev, OzSaccadeEvent, 1).t_us - 1800) < 1e-9);
    cr_assert(g_array_index(ev, OzSaccadeEvent, 0).p == 0);
    cr_assert(fabs(ref - 0.5) < 1e-12);
    /* Inside the thresholds nothing happens. */
    cr_assert_eq(oz_saccade_pixel_step(&px, 0.4, 0.6, 2000, 3000, &ref, &t_last, 4, 7, ev), 0);
    g_array_free(ev, TRUE);
}

Test(convert, the_refractory_period_drops_an_event_but_the_reference_still_moves) {
    /* Crossings at 300, 600 and 900 µs with a 400 µs refractory period: 600 comes 300 µs
     * after the last emitted one and is dropped; 900 comes 600 µs after it and is emitted. */
    OzSaccadePixel px = {.c_on = 0.3, .c_off = 0.3, .refractory_us = 400};
    double ref = 0, t_last = -INFINITY;
    GArray *ev = g_array_new(FALSE, FALSE, sizeof(OzSaccadeEvent));
    cr_assert_eq(oz_saccade_pixel_step(&px, 0, 1, 0, 1000, &ref, &t_last, 0, 0, ev), 3);
    cr_assert_eq(ev->len, 2);
    cr_assert(fabs(g_array_index(ev, OzSaccadeEvent, 0).t_us - 300) < 1e-9);
    cr_assert(fabs(g_array_index(ev, OzSaccadeEvent, 1).t_us - 900) < 1e-9);
    cr_assert(fabs(ref - 0.9) < 1e-12, "the reference moves on a dropped crossing too");
    cr_assert(fabs(t_last - 900) < 1e-9);
    g_array_free(ev, TRUE);
}

Test(convert, thresholds_take_four_uniforms_per_pixel_and_are_clamped_to_0_01) {
    OzSaccadeParams p;
    oz_saccade_params_defaults(&p);
    p.threshold_sigma = 1.0; /* so that many fall below the clamp */
    static OzSaccadePixel px[OZ_SACCADE_SIZE * OZ_SACCADE_SIZE];
    OzRng rng, ref;
    oz_saccade_rng(&rng, 3, 0, 0);
    ref = rng;
    oz_saccade_draw_thresholds(&p, &rng, px);
    int clamped = 0;
    for (int i = 0; i < OZ_SACCADE_SIZE * OZ_SACCADE_SIZE; i++) {
        cr_assert(px[i].c_on >= 0.01 && px[i].c_off >= 0.01, "pixel %d: %g %g", i, px[i].c_on,
                  px[i].c_off);
        clamped += px[i].c_on == 0.01;
        cr_assert(px[i].refractory_us == 1000);
    }
    /* P(0.2 + z < 0.01) = 0.42: about 490 of 1,156. */
    cr_assert(clamped > 300 && clamped < 700, "%d", clamped);
    /* Pixel 0's C_on from the first two uniforms, by Box–Muller's cosine branch. */
    double u1 = 1.0 - oz_rng_uniform(&ref), u2 = oz_rng_uniform(&ref);
    double on = 0.2 + sqrt(-2 * log(u1)) * cos(2 * G_PI * u2);
    cr_assert(px[0].c_on == (on > 0.01 ? on : 0.01), "%g vs %g", px[0].c_on, on);
    /* Two normals of two uniforms each per pixel: the stream is where 4 × 1,156 draws
     * leave it, whatever the clamp did. */
    for (int k = 2; k < 4 * OZ_SACCADE_SIZE * OZ_SACCADE_SIZE; k++)
        oz_rng_next(&ref);
    cr_assert(memcmp(&ref, &rng, sizeof ref) == 0);
}

Test(convert, events_are_sorted_by_time_then_row_column_and_polarity) {
    OzCamEvent ev[] = {{5, 2, 1, 1}, {5, 1, 1, 1}, {5, 1, 1, 0}, {3, 9, 9, 1}, {5, 0, 2, 0}};
    oz_saccade_sort(ev, G_N_ELEMENTS(ev));
    const OzCamEvent want[] = {
        {3, 9, 9, 1}, {5, 1, 1, 0}, {5, 1, 1, 1}, {5, 2, 1, 1}, {5, 0, 2, 0}};
    for (gsize i = 0; i < G_N_ELEMENTS(ev); i++)
        cr_assert(ev[i].t == want[i].t && ev[i].x == want[i].x && ev[i].y == want[i].y &&
                      ev[i].p == want[i].p,
                  "position %zu: (%ld, %u, %u, %u)", i, (long)ev[i].t, ev[i].x, ev[i].y, ev[i].p);
}

Test(convert, a_recording_depends_only_on_seed_split_and_index) {
    OzSaccadeParams p;
    oz_saccade_params_defaults(&p);
    guint8 img[784];
    make_digit(img, 3);
    OzEventStream a = {0}, b = {0}, c = {0}, d = {0};
    OzRng rng;
    oz_saccade_rng(&rng, 7, 0, 12);
    oz_saccade_render(&p, img, 28, 28, &rng, &a);
    oz_saccade_rng(&rng, 7, 0, 12);
    oz_saccade_render(&p, img, 28, 28, &rng, &b);
    cr_assert(a.n > 500 && a.n == b.n, "%zu vs %zu", a.n, b.n);
    cr_assert(memcmp(a.ev, b.ev, a.n * sizeof *a.ev) == 0);
    for (gsize i = 1; i < a.n; i++)
        cr_assert(a.ev[i].t >= a.ev[i - 1].t && a.ev[i].t < 310000 && a.ev[i].x < 34 &&
                  a.ev[i].y < 34);
    oz_saccade_rng(&rng, 8, 0, 12);
    oz_saccade_render(&p, img, 28, 28, &rng, &c);
    cr_assert(c.n != a.n || memcmp(a.ev, c.ev, a.n * sizeof *a.ev) != 0, "another seed");
    oz_saccade_rng(&rng, 7, 1, 12);
    oz_saccade_render(&p, img, 28, 28, &rng, &d);
    cr_assert(d.n != a.n || memcmp(a.ev, d.ev, a.n * sizeof *a.ev) != 0, "another split");
    oz_event_stream_clear(&a);
    oz_event_stream_clear(&b);
    oz_event_stream_clear(&c);
    oz_event_stream_clear(&d);
}

/* ---- the program ---- */

/* Every file under root, relative path → contents, for comparing two outputs. */
static void collect(const char *root, const char *rel, GHashTable *out) {
    g_autofree char *path = rel ? g_build_filename(root, rel, NULL) : g_strdup(root);
    GDir *d = g_dir_open(path, 0, NULL);
    cr_assert(d, "%s", path);
    for (const char *n; (n = g_dir_read_name(d));) {
        g_autofree char *r = rel ? g_build_filename(rel, n, NULL) : g_strdup(n);
        g_autofree char *full = g_build_filename(root, r, NULL);
        if (g_file_test(full, G_FILE_TEST_IS_DIR)) {
            collect(root, r, out);
        } else {
            char *text = NULL;
            gsize len = 0;
            cr_assert(g_file_get_contents(full, &text, &len, NULL));
            g_hash_table_insert(out, g_strdup(r), g_bytes_new_take(text, len));
        }
    }
    g_dir_close(d);
}

static void assert_same_tree(const char *a, const char *b) {
    g_autoptr(GHashTable) ta =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
    g_autoptr(GHashTable) tb =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
    collect(a, NULL, ta);
    collect(b, NULL, tb);
    cr_assert_eq(g_hash_table_size(ta), g_hash_table_size(tb));
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, ta);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        GBytes *other = g_hash_table_lookup(tb, k);
        cr_assert(other, "%s only in %s", (char *)k, a);
        cr_assert(g_bytes_equal(v, other), "%s differs", (char *)k);
    }
}

static int convert(const char *mnist, const char *out, const char *seed, const char *threads) {
    g_autofree char *err = NULL;
    int rc = oz_test_run(&err, "convert", "--from", "mnist", "--dir", mnist, "--out", out, "--seed",
                         seed, "--threads", threads, "--quiet", NULL);
    cr_assert_eq(rc, 0, "convert: %s", err);
    return rc;
}

Test(convert, the_output_is_the_same_bytes_at_1_and_2_threads_and_for_a_seed) {
    g_autofree char *mnist = write_mnist_dir(12, 7);
    g_autofree char *o1 = g_build_filename(dir, "t1", NULL);
    g_autofree char *o2 = g_build_filename(dir, "t2", NULL);
    g_autofree char *o3 = g_build_filename(dir, "t3", NULL);
    convert(mnist, o1, "5", "1");
    convert(mnist, o2, "5", "2");
    assert_same_tree(o1, o2);
    /* Another seed gives other recordings. */
    convert(mnist, o3, "6", "2");
    g_autofree char *f1 = g_build_filename(o1, "Train", "3", "00004.bin", NULL);
    g_autofree char *f3 = g_build_filename(o3, "Train", "3", "00004.bin", NULL);
    g_autofree char *a = NULL, *b = NULL;
    gsize na = 0, nb = 0;
    cr_assert(g_file_get_contents(f1, &a, &na, NULL) && g_file_get_contents(f3, &b, &nb, NULL));
    cr_assert(na != nb || memcmp(a, b, na) != 0);
}

Test(convert, the_output_reads_back_through_the_nmnist_reader) {
    g_autofree char *mnist = write_mnist_dir(23, 11);
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "convert", "--from", "mnist", "--dir", mnist, "--out", out,
                             "--limit", "20", "--test-limit", "9", "--threads", "2", "--quiet",
                             NULL),
                 0, "%s", err);
    static const char *const split[2] = {"Train", "Test"};
    const gsize want[2] = {20, 9};
    for (int s = 0; s < 2; s++) {
        g_autofree char *sd = g_build_filename(out, split[s], NULL);
        OzEventFileList l = {0};
        g_autoptr(GError) error = NULL;
        cr_assert(oz_nmnist_list_dir(sd, 0, &l, &error), "%s", error ? error->message : "");
        cr_assert_eq(l.n, want[s]);
        for (gsize i = 0; i < l.n; i++) {
            /* Files come in image order: label i % 10, name i + 1. */
            g_autofree char *base = g_path_get_basename(l.paths[i]);
            g_autofree char *name = g_strdup_printf("%05zu.bin", i + 1);
            cr_assert_str_eq(base, name);
            cr_assert_eq(l.labels[i], i % 10);
            OzEventStream es = {0};
            cr_assert(oz_nmnist_read_file(l.paths[i], &es, &error), "%s", error->message);
            cr_assert(es.n > 200, "%s: %zu events", l.paths[i], es.n);
            oz_event_stream_clear(&es);
        }
        oz_event_file_list_clear(&l);
    }
    /* The sidecar holds the seed and every key. */
    g_autofree char *side = g_build_filename(out, "converter.txt", NULL);
    g_autofree char *text = NULL;
    cr_assert(g_file_get_contents(side, &text, NULL, NULL));
    cr_assert(strstr(text, "\nseed = 2022\n") && strstr(text, "\ncontrast_k = 1.3\n") &&
                  strstr(text, "\nmotion = measured\n") && strstr(text, "--test-limit 9"),
              "%s", text);
}

Test(convert, fifty_digit_like_images_give_n_mnist_like_statistics) {
    g_autofree char *mnist = write_mnist_dir(50, 1);
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_autofree char *err = NULL;
    cr_assert_eq(oz_test_run(&err, "convert", "--from", "mnist", "--dir", mnist, "--out", out,
                             "--test-limit", "0", "--quiet", NULL),
                 0, "%s", err);
    g_autofree char *sd = g_build_filename(out, "Train", NULL);
    OzEventFileList l = {0};
    cr_assert(oz_nmnist_list_dir(sd, 0, &l, NULL));
    cr_assert_eq(l.n, 50);
    g_autoptr(OzEventStatsAcc) acc = oz_event_stats_acc_new();
    for (gsize i = 0; i < l.n; i++) {
        OzEventStream es = {0};
        cr_assert(oz_nmnist_read_file(l.paths[i], &es, NULL));
        oz_event_stats_acc_add(acc, &es, l.labels[i]);
        oz_event_stream_clear(&es);
    }
    oz_event_file_list_clear(&l);
    OzEventStats st;
    oz_event_stats_acc_finish(acc, &st);
    /* Broad bands around real N-MNIST (docs/EVENTS.md): thousands of events, balanced
     * polarities, each saccade a fair share, the troughs between saccades quieter than
     * their peaks, bursts of a few events, few intervals under the refractory period. */
    cr_assert(st.events_mean > 1500 && st.events_mean < 9000, "%g", st.events_mean);
    cr_assert(st.on_fraction_mean > 0.45 && st.on_fraction_mean < 0.55, "%g", st.on_fraction_mean);
    for (int j = 0; j < 3; j++)
        cr_assert(st.saccade[j] > 0.2 * st.events_mean && st.saccade[j] < 0.5 * st.events_mean,
                  "third %d: %g", j, st.saccade[j]);
    double peak = st.profile[8] + st.profile[9] + st.profile[10];     /* 40–55 ms */
    double trough = st.profile[17] + st.profile[18] + st.profile[19]; /* 85–100 ms */
    cr_assert(trough < 0.3 * peak, "trough %g, peak %g", trough, peak);
    cr_assert(st.burst_mean > 1.5 && st.burst_mean < 3.5, "%g", st.burst_mean);
    cr_assert(st.interval_cdf[0] < 0.05, "%g", st.interval_cdf[0]);
    cr_assert(st.mean_x > 13 && st.mean_x < 21 && st.mean_y > 13 && st.mean_y < 21, "%g %g",
              st.mean_x, st.mean_y);
    cr_assert(st.last_t_mean_ms > 290 && st.last_t_mean_ms < 310, "%g", st.last_t_mean_ms);
}

/* ---- --check on a hand-made folder ---- */

static void write_rec(const char *root, const char *split, int label, const char *name,
                      const OzCamEvent *ev, gsize n) {
    for (int c = 0; c < 10; c++) {
        g_autofree char *cd = g_strdup_printf("%s/%s/%d", root, split, c);
        g_mkdir_with_parents(cd, 0755);
    }
    g_autofree char *path = g_strdup_printf("%s/%s/%d/%s", root, split, label, name);
    OzEventStream s = {.ev = (OzCamEvent *)ev, .n = n, .width = 34, .height = 34};
    g_autoptr(GError) error = NULL;
    cr_assert(oz_nmnist_write_file(path, &s, &error), "%s", error ? error->message : "");
}

/* Recording A (train, class 0) and B (test, class 1); the numbers below are worked out
 * from them by hand. */
static const OzCamEvent rec_a[] = {
    {1000, 0, 0, 1},     {3000, 0, 0, 1},   {12000, 0, 0, 1},    {50000, 10, 20, 0},
    {100000, 10, 20, 1}, {150000, 5, 7, 0}, {250000, 20, 10, 1}, {300000, 20, 10, 1},
};
static const OzCamEvent rec_b[] = {
    {0, 33, 33, 0}, {89999, 33, 33, 0}, {200000, 1, 2, 1}, {309999, 1, 2, 0}};

static char *write_hand_folder(void) {
    char *root = g_build_filename(dir, "hand", NULL);
    write_rec(root, "Train", 0, "00001.bin", rec_a, G_N_ELEMENTS(rec_a));
    write_rec(root, "Test", 1, "00001.bin", rec_b, G_N_ELEMENTS(rec_b));
    return root;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

Test(convert, event_statistics_of_two_hand_made_recordings) {
    g_autoptr(OzEventStatsAcc) acc = oz_event_stats_acc_new();
    OzEventStream a = {.ev = (OzCamEvent *)rec_a, .n = 8, .width = 34, .height = 34};
    OzEventStream b = {.ev = (OzCamEvent *)rec_b, .n = 4, .width = 34, .height = 34};
    oz_event_stats_acc_add(acc, &a, 0);
    oz_event_stats_acc_add(acc, &b, 1);
    OzEventStats st;
    oz_event_stats_acc_finish(acc, &st);
    cr_assert_eq(st.n, 2);
    /* Counts 8 and 4: mean 6, population sd 2, p5 at 0.05 of the way from 4 to 8. */
    cr_assert(NEAR(st.events_mean, 6) && NEAR(st.events_sd, 2), "%g %g", st.events_mean,
              st.events_sd);
    cr_assert(NEAR(st.events_p5, 4.2) && NEAR(st.events_median, 6) && NEAR(st.events_p95, 7.8));
    /* ON: 6 of 8 and 1 of 4. */
    cr_assert(NEAR(st.on_fraction_mean, 0.5), "%g", st.on_fraction_mean);
    /* Thirds: A 5, 1, 2; B 2, 1, 1. */
    cr_assert(NEAR(st.saccade[0], 3.5) && NEAR(st.saccade[1], 1) && NEAR(st.saccade[2], 1.5));
    /* t < 90 ms: A 4 events in bins 0, 1, 4, 16; B 2 in bins 0 and 29: all distinct. */
    cr_assert(NEAR(st.early_events, 3) && NEAR(st.early_cells, 3));
    /* Pixels: A 4, B 2; (pixel, polarity) pairs: A 5, B 3. */
    cr_assert(NEAR(st.active_pixels, 3) && NEAR(st.active_pairs, 4));
    /* Bursts (gap > 8 ms splits): A {1000, 3000}, {12000}, five single events; B four
     * singles: 11 bursts, 10 of size 1, 12 events. */
    cr_assert(NEAR(st.burst_share[0], 10.0 / 11) && NEAR(st.burst_share[1], 1.0 / 11));
    cr_assert(NEAR(st.burst_mean, 12.0 / 11), "%g", st.burst_mean);
    /* Intervals under 20 ms: 2000 and 9000 µs. */
    cr_assert(NEAR(st.interval_cdf[1], 0) && NEAR(st.interval_cdf[2], 0.5) &&
              NEAR(st.interval_cdf[3], 0.5) && NEAR(st.interval_cdf[4], 1));
    cr_assert(NEAR(st.mean_x, 133.0 / 12) && NEAR(st.mean_y, 137.0 / 12), "%g %g", st.mean_x,
              st.mean_y);
    cr_assert(NEAR(st.last_t_mean_ms, 304.9995));
    /* Border band: A's three (0, 0) events, B's four; 4 of 7 ON, over 256 pixels × (0.3 +
     * 0.309999) s. */
    cr_assert(NEAR(st.border_on, 4.0 / 7) && NEAR(st.border_hz, 7 / (256 * 0.609999)), "%g",
              st.border_hz);
    /* Profile: bin 0 holds 1000, 3000 and 0 µs of 12 events; bin 61 holds 309999. */
    cr_assert(NEAR(st.profile[0], 0.25) && NEAR(st.profile[61], 1.0 / 12) &&
              NEAR(st.profile[17], 1.0 / 12));
    cr_assert(st.class_n[0] == 1 && NEAR(st.class_events[0], 8) && NEAR(st.class_early[0], 4));
    cr_assert(st.class_n[1] == 1 && NEAR(st.class_events[1], 4) && NEAR(st.class_early[1], 2));
}

Test(convert, check_prints_the_statistics_of_a_folder_against_another) {
    g_autofree char *root = write_hand_folder();
    g_autofree char *out = NULL;
    int rc = oz_test_run_out(&out, NULL, "convert", "--check", root, "--against", root, "--format",
                             "markdown", NULL);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "2 recordings (1 train, 1 test)"), "%s", out);
    cr_assert(strstr(out, "| events per recording: mean | 6 | 6 | ±10 % | pass |"), "%s", out);
    cr_assert(strstr(out, "| mean event x | 11.08 | 11.08 | ±0.50 | pass |"), "%s", out);
    cr_assert(strstr(out, "| bursts of size 1 (share) | 0.91 |"), "%s", out);
    /* Train 00001 pairs with train 00001 and test with test: r = 1 over two pairs. */
    cr_assert(strstr(out, "| 1.000 (2 pairs) |"), "%s", out);
    /* Against the built-in real numbers, 6 events per recording is far outside its band. */
    g_autofree char *out2 = NULL;
    oz_test_run_out(&out2, NULL, "convert", "--check", root, NULL);
    cr_assert(strstr(out2, "events per recording: mean") && strstr(out2, "FAIL"), "%s", out2);
}

Test(convert, check_reads_a_list_file_layout) {
    g_autofree char *root = g_build_filename(dir, "lists", NULL);
    g_mkdir_with_parents(root, 0755);
    OzEventStream a = {.ev = (OzCamEvent *)rec_a, .n = 8, .width = 34, .height = 34};
    OzEventStream b = {.ev = (OzCamEvent *)rec_b, .n = 4, .width = 34, .height = 34};
    g_autofree char *pa = g_build_filename(root, "1.bs2", NULL);
    g_autofree char *pb = g_build_filename(root, "60001.bs2", NULL);
    cr_assert(oz_nmnist_write_file(pa, &a, NULL) && oz_nmnist_write_file(pb, &b, NULL));
    g_free(oz_test_write_file(root, "train1.txt", "# id label\n1 0\n"));
    g_free(oz_test_write_file(root, "test1.txt", "60001\t1\n"));
    g_autofree char *hand = write_hand_folder();
    g_autofree char *out = NULL;
    int rc = oz_test_run_out(&out, NULL, "convert", "--check", root, "--against", hand, "--format",
                             "markdown", NULL);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "2 recordings (1 train, 1 test)"), "%s", out);
    /* 60001 in test1.txt is test image 1, as 00001.bin in Test/. */
    cr_assert(strstr(out, "| 1.000 (2 pairs) |"), "%s", out);
    /* --split test: only B. */
    g_autofree char *out2 = NULL;
    oz_test_run_out(&out2, NULL, "convert", "--check", root, "--split", "test", "--format",
                    "markdown", NULL);
    cr_assert(strstr(out2, "1 recordings (0 train, 1 test)") &&
                  strstr(out2, "| events per recording: mean | 4 |"),
              "%s", out2);
}

/* ---- bad input ---- */

static gboolean is_empty_or_absent(const char *path) {
    GDir *d = g_dir_open(path, 0, NULL);
    if (!d)
        return !g_file_test(path, G_FILE_TEST_EXISTS);
    gboolean empty = g_dir_read_name(d) == NULL;
    g_dir_close(d);
    return empty;
}

Test(convert, bad_input_exits_2_with_a_clear_message_and_writes_nothing) {
    g_autofree char *mnist = write_mnist_dir(5, 3);
    g_autofree char *out = g_build_filename(dir, "never", NULL);
    g_autofree char *missing = g_build_filename(dir, "nothing-here", NULL);
    g_autofree char *images = g_build_filename(mnist, "train-images-idx3-ubyte", NULL);
    g_autofree char *labels = g_build_filename(mnist, "t10k-labels-idx1-ubyte", NULL);
    const struct {
        const char *args[12];
        const char *says;
    } cases[] = {
        {{"convert", "--from", "mnist", "--dir", mnist, NULL}, "--out DIR is required"},
        {{"convert", "--from", "cifar", "--dir", mnist, "--out", out, NULL}, "--from cifar"},
        {{"convert", "--from", "mnist", "--dir", missing, "--out", out, NULL}, "nothing-here"},
        {{"convert", "--from", "mnist", "--dir", mnist, "--out", out, "--set", "colour=1", NULL},
         "unknown key"},
        {{"convert", "--from", "mnist", "--dir", mnist, "--out", out, "--set", "contrast_k=-1",
          NULL},
         "contrast_k"},
        {{"convert", "--from", "mnist", "--dir", mnist, "--out", out, "--threads", "-1", NULL},
         "--threads"},
        {{"convert", "--from", "idx", "--images", images, "--out", out, NULL}, "--labels"},
        /* 5 training images, 3 test labels: the counts differ. */
        {{"convert", "--from", "idx", "--images", images, "--labels", labels, "--out", out, NULL},
         "t10k-labels"},
        {{"convert", "--from", "idx", "--images", images, "--labels", labels, "--split",
          "validation", "--out", out, NULL},
         "--split validation"},
        {{"convert", "--check", missing, NULL}, "nothing-here"},
        {{"convert", "--check", mnist, NULL}, "neither Train/"},
        {{"convert", "--check", mnist, "--format", "html", NULL}, "--format html"},
        {{"convert", "--limit", "3", NULL}, "--from"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *err = NULL;
        int rc = oz_test_runv(cases[i].args, &err);
        cr_assert_eq(rc, 2, "case %zu: exit %d: %s", i, rc, err);
        cr_assert(strstr(err, cases[i].says), "case %zu: '%s' not in: %s", i, cases[i].says, err);
        cr_assert(is_empty_or_absent(out), "case %zu wrote into --out", i);
    }
}

Test(convert, a_non_empty_out_is_refused_unless_forced) {
    g_autofree char *mnist = write_mnist_dir(4, 2);
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    g_mkdir_with_parents(out, 0755);
    g_free(oz_test_write_file(out, "notes.txt", "mine\n"));
    g_autofree char *err = NULL;
    int rc = oz_test_run(&err, "convert", "--from", "mnist", "--dir", mnist, "--out", out,
                         "--quiet", NULL);
    cr_assert_eq(rc, 2, "%s", err);
    cr_assert(strstr(err, "not empty") && strstr(err, "--force"), "%s", err);
    g_autofree char *train = g_build_filename(out, "Train", NULL);
    cr_assert(!g_file_test(train, G_FILE_TEST_EXISTS), "nothing written");
    g_free(g_steal_pointer(&err));
    rc = oz_test_run(&err, "convert", "--from", "mnist", "--dir", mnist, "--out", out, "--force",
                     "--quiet", NULL);
    cr_assert_eq(rc, 0, "%s", err);
    g_autofree char *f = g_build_filename(out, "Test", "1", "00002.bin", NULL);
    g_autofree char *notes = g_build_filename(out, "notes.txt", NULL);
    cr_assert(g_file_test(f, G_FILE_TEST_IS_REGULAR) && g_file_test(notes, G_FILE_TEST_EXISTS));
}

Test(convert, a_broken_recording_in_check_exits_2_naming_the_file) {
    g_autofree char *root = write_hand_folder();
    g_autofree char *bad = g_build_filename(root, "Train", "4", "00002.bin", NULL);
    cr_assert(g_file_set_contents(bad, "\x01\x02\x03\x04\x05\x06", 6, NULL));
    g_autofree char *err = NULL;
    int rc = oz_test_run(&err, "convert", "--check", root, NULL);
    cr_assert_eq(rc, 2, "%s", err);
    cr_assert(strstr(err, "00002.bin"), "%s", err);
}

Test(convert, a_recording_that_cannot_be_written_stops_the_conversion_with_exit_1) {
    g_autofree char *mnist = write_mnist_dir(6, 2);
    g_autofree char *out = g_build_filename(dir, "out", NULL);
    /* A folder where recording 00005.bin (label 4) should go: the rename cannot replace it. */
    g_autofree char *blocker = g_build_filename(out, "Train", "4", "00005.bin", NULL);
    g_mkdir_with_parents(blocker, 0755);
    g_autofree char *err = NULL;
    int rc = oz_test_run(&err, "convert", "--from", "mnist", "--dir", mnist, "--out", out,
                         "--force", "--threads", "1", "--quiet", NULL);
    cr_assert_eq(rc, 1, "%s", err);
    cr_assert(strstr(err, "00005.bin"), "%s", err);
    /* The error domain is convert's own, and its name survives clang-format. */
    cr_assert_str_eq(g_quark_to_string(OZ_CONVERT_ERROR), "oz-convert-error-quark");
}

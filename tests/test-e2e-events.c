/* Event data through the program (docs/EVENTS.md): the nmnist data set on hand-made
 * recordings (exact SynOps of the input projection, the load statistics in the run log), on
 * 30 real N-MNIST recordings (tests/data/nmnist-small, CC BY-SA 4.0: see its README) trained
 * and evaluated through a scenario, eval on other recordings with --set, and bad input: a
 * bad [data] key, an input model or shape that does not fit the data, a malformed recording
 * — each exit 2 with a message naming the file (and section and key, or byte offset) before
 * any run row exists. */
#include "oz-test-util.h"

#include "io/oz-dataset.h"
#include "io/oz-scenario.h"

#include <criterion/criterion.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(e2e_events, .init = setup, .fini = teardown, .timeout = 120);

/* One N-MNIST record: x, y, polarity and a timestamp in µs (< 2^23). */
typedef struct {
    int x, y, p, t;
} Rec;

static void write_recording(const char *path, const Rec *r, int n) {
    GByteArray *b = g_byte_array_new();
    for (int i = 0; i < n; i++) {
        guint8 rec[5] = {(guint8)r[i].x, (guint8)r[i].y,
                         (guint8)((r[i].p << 7) | ((r[i].t >> 16) & 0x7f)),
                         (guint8)((r[i].t >> 8) & 0xff), (guint8)(r[i].t & 0xff)};
        g_byte_array_append(b, rec, 5);
    }
    GError *err = NULL;
    cr_assert(g_file_set_contents(path, (const char *)b->data, b->len, &err), "%s",
              err ? err->message : "");
    g_byte_array_unref(b);
}

/* Two recordings and a list naming both.  Sample 1 (label 0): two events in one cell in bin
 * 0 (x 1, y 2, ON), one in bin 1 (5, 5, OFF), one in bin 3 (33, 33, ON), one at 20 ms, past
 * the 4 bins of 3 ms.  Sample 2 (label 1): three events in one cell (3, 3, OFF) in bin 0.
 * With T = 4: counts mode has 2 + 1 + 1 + 3 = 7 events in 4 cells, binary mode 4 cells. */
static void write_hand_made(void) {
    const Rec a[] = {{1, 2, 1, 100}, {1, 2, 1, 200}, {5, 5, 0, 3100}, {33, 33, 1, 9000},
                     {0, 0, 0, 20000}};
    const Rec b[] = {{3, 3, 0, 0}, {3, 3, 0, 50}, {3, 3, 0, 60}};
    g_autofree char *pa = g_build_filename(dir, "1.bin", NULL);
    g_autofree char *pb = g_build_filename(dir, "2.bin", NULL);
    write_recording(pa, a, G_N_ELEMENTS(a));
    write_recording(pb, b, G_N_ELEMENTS(b));
    g_free(oz_test_write_file(dir, "list.txt", "#sample #class\n1 0\n2 1\n"));
}

/* A scenario over event data: input (events, 2,34,34) → h (lif, n_post) → out (readout, 10),
 * with [data] extra and any further sections.  (transfer full: the path) */
static char *scenario(const char *name, const char *data, int ticks, int n_post,
                      const char *more) {
    g_autofree char *text = g_strdup_printf(
        "[run]\nticks = %d\nbatch_size = 8\nthreads = 1\n"
        "[data]\ndataset = nmnist\n%s\n"
        "[population in]\nmodel = events\nshape = 2,34,34\n"
        "[population h]\nmodel = lif\nsize = %d\n"
        "[population out]\nmodel = readout\nsize = 10\n"
        "[projection in_h]\nfrom = in\nto = h\ninit_scale = 6\n"
        "[projection h_out]\nfrom = h\nto = out\n%s",
        ticks, data, n_post, more ? more : "");
    return oz_test_write_file(dir, name, text);
}

Test(e2e_events, synops_of_the_input_projection_are_the_binned_events_times_n_post) {
    write_hand_made();
    const char *modes[] = {"counts", "binary"};
    const gint64 events[] = {7, 4};
    for (int m = 0; m < 2; m++) {
        g_autofree char *data = g_strdup_printf("dir = %s\ntest_list = list.txt\nvalues = %s",
                                                dir, modes[m]);
        g_autofree char *s = scenario("s.ini", data, 4, 24, NULL);
        g_autofree char *db = g_strdup_printf("%s/%s.sqlite", dir, modes[m]);
        char *err = NULL;
        int rc = oz_test_run(&err, "run", s, "--db", db, "--quiet", NULL);
        cr_assert_eq(rc, 0, "%s", err);
        g_free(err);
        cr_assert_eq(oz_test_q(db, "select synops from synops where projection = 'in_h'"),
                     events[m] * 24, "%s", modes[m]);
        cr_assert_eq(oz_test_q(db, "select spikes from firing_rates where population = 'in'"),
                     events[m], "%s", modes[m]);
        cr_assert_eq(oz_test_q(db, "select value from parameters where owner = 'data test' and "
                                   "key = 'samples'"),
                     2);
        cr_assert_eq(oz_test_q(db, "select value from parameters where owner = 'data test' and "
                                   "key = 'events_read'"),
                     8);
        cr_assert_eq(oz_test_q(db, "select value from parameters where owner = 'data test' and "
                                   "key = 'events_kept'"),
                     7, "the event at 20 ms is past the 4 bins of 3 ms");
        cr_assert_eq(oz_test_q(db, "select value from parameters where owner = 'data test' and "
                                   "key = 'events_cropped'"),
                     1);
        g_autofree char *v = oz_test_qs(db, "select value from parameters where owner = 'data' "
                                            "and key = 'values'");
        cr_assert_str_eq(v, modes[m]);
    }
}

/* The real recordings: trains and tests through the scenario, and the same run twice logs
 * the same rows (same scenario, seed and threads; every table, grad_stats included). */
Test(e2e_events, real_recordings_train_and_test_through_a_scenario) {
    g_autofree char *data = g_strdup_printf("dir = %s/nmnist-small\ntrain_list = train20.txt\n"
                                            "test_list = test10.txt",
                                            OZ_TEST_DATA_DIR);
    g_autofree char *s = scenario("real.ini", data, 30, 40,
                                  "[rule]\nname = opzo\nloss_lambda = 0.001\n");
    g_autofree char *db = g_build_filename(dir, "real.sqlite", NULL);
    for (int k = 0; k < 2; k++) {
        char *err = NULL;
        int rc = oz_test_run(&err, "run", s, "--db", db, "--quiet", "--set", "run.mode=train",
                             "--set", "run.epochs=2", "--set", "record.grad_stats=true", "--set",
                             "record.spike_samples=2", NULL);
        cr_assert_eq(rc, 0, "%s", err);
        g_free(err);
    }
    cr_assert_eq(oz_test_q(db, "select samples from epochs where run_id = 1 and epoch = 1 and "
                               "phase = 'train'"),
                 20);
    cr_assert_eq(oz_test_q(db, "select samples from epochs where run_id = 1 and epoch = 1 and "
                               "phase = 'test'"),
                 10);
    gint64 read = oz_test_q(db, "select value from parameters where run_id = 1 and owner = "
                                "'data train' and key = 'events_read'");
    cr_assert_gt(read, 20 * 1000, "real recordings hold thousands of events each: %ld",
                 (long)read);
    cr_assert_gt(oz_test_q(db, "select synops from synops where run_id = 1 and epoch = 1 and "
                               "phase = 'test' and projection = 'in_h'"),
                 0);
    oz_test_assert_logs_equal(db, 1, db, 2);

    /* eval of the trained network on the training recordings instead of the test ones:
     * the report is on standard output. */
    g_autofree char *out = NULL, *err = NULL;
    int rc = oz_test_run_out(&out, &err, "eval", "--db", db, "--run", "1", "--set",
                             "data.test_list=train20.txt", NULL);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert(strstr(out, "run 1 epoch 1: test accuracy ") && strstr(out, " over 20 samples "),
              "%s", out);
}

/* A hidden layer that never fires in a training epoch is named in a warning (the run
 * goes on): the real recordings through weights 1/1000 of the usual reach no threshold,
 * and dkp starting from 0 then learns nothing (docs/ALGORITHM.md §7.3).  With the usual
 * weights the layer fires and nothing is said. */
Test(e2e_events, a_hidden_layer_silent_for_a_training_epoch_is_named_in_a_warning) {
    g_autofree char *data = g_strdup_printf("dir = %s/nmnist-small\ntrain_list = train20.txt\n"
                                            "test_list = test10.txt",
                                            OZ_TEST_DATA_DIR);
    g_autofree char *s =
        scenario("silent.ini", data, 30, 40, "[rule]\nname = dkp\nloss_lambda = 0.001\n");
    const char *const scales[] = {"projection in_h.init_scale=0.006",
                                  "projection in_h.init_scale=6"};
    for (int k = 0; k < 2; k++) {
        g_autofree char *db = g_strdup_printf("%s/silent%d.sqlite", dir, k);
        char *err = NULL;
        int rc = oz_test_run(&err, "run", s, "--db", db, "--quiet", "--set", "run.mode=train",
                             "--set", "run.epochs=1", "--set", scales[k], NULL);
        cr_assert_eq(rc, 0, "%s", err);
        const char *w = strstr(err, "warning: training epoch 1: h fired no spike");
        if (k == 0) {
            cr_assert(w && strstr(err, "docs/ALGORITHM.md"), "%s", err);
            cr_assert_eq(oz_test_q(db, "select spikes from firing_rates where population = 'h' "
                                       "and phase = 'train'"),
                         0);
        } else {
            cr_assert_null(w, "%s", err);
        }
        g_free(err);
    }
}

/* Each case: exit 2, the file, section and key (or what else names the place) in the
 * message, and no run row. */
Test(e2e_events, bad_data_keys_and_inputs_that_do_not_fit_exit_2_naming_file_section_key) {
    write_hand_made();
    g_autofree char *data = g_strdup_printf("dir = %s\ntrain_list = list.txt\ntest_list = "
                                            "list.txt",
                                            dir);
    g_autofree char *s = scenario("s.ini", data, 4, 24, NULL);
    const struct {
        const char *set;
        const char *must[3];
    } cases[] = {
        {"data.bin=sometimes", {"s.ini: [data] bin: expected one of paper, time, spread, events"}},
        {"data.bin_us=0", {"s.ini: [data] bin_us: 0 is out of range"}},
        {"data.values=many", {"s.ini: [data] values: expected one of binary, counts"}},
        {"data.bin_u=3000", {"s.ini: [data] bin_u: unknown key (did you mean 'bin_us'?)"}},
        {"data.test_list=missing.txt", {"s.ini: [data] test_list: no list file", "missing.txt"}},
        {"data.train_list=", {"s.ini: [data] dir: no folder", "/Train"}},
        {"population in.shape=2,32,32",
         {"s.ini: [population in] shape: 2,32,32 does not match the data:",
          "holds 2×34×34 = 2312 cells per sample"}},
        /* The same size, another shape. */
        {"population in.shape=2,17,68",
         {"s.ini: [population in] shape: 2,17,68 does not match the data:"}},
        {"population in.model=input",
         {"s.ini: [population in] model: input does not take the samples of [data] dataset = "
          "nmnist, which are binned spikes, one frame per tick (use model = events)"}},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *db = g_strdup_printf("%s/bad%zu.sqlite", dir, i);
        char *err = NULL;
        int rc = oz_test_run(&err, "run", s, "--db", db, "--quiet", "--set", "run.mode=train",
                             "--set", cases[i].set, NULL);
        cr_assert_eq(rc, 2, "%s: exit %d: %s", cases[i].set, rc, err);
        for (int k = 0; k < 3 && cases[i].must[k]; k++)
            cr_assert(strstr(err, cases[i].must[k]), "%s: wants '%s' in: %s", cases[i].set,
                      cases[i].must[k], err);
        g_free(err);
        cr_assert_not(g_file_test(db, G_FILE_TEST_EXISTS), "%s: no run log before the data",
                      cases[i].set);
    }
}

/* A recording whose length is not a multiple of 5, in the middle of the list: exit 2 naming
 * the file and the byte offset, and the run never started (no run log). */
Test(e2e_events, a_malformed_recording_exits_2_naming_file_and_offset_before_anything_starts) {
    write_hand_made();
    g_autofree char *bad = g_build_filename(dir, "3.bin", NULL);
    const guint8 bytes[7] = {1, 1, 0, 0, 10, 2, 2};
    cr_assert(g_file_set_contents(bad, (const char *)bytes, sizeof bytes, NULL));
    g_free(oz_test_write_file(dir, "bad.txt", "#sample #class\n1 0\n3 1\n2 1\n"));
    g_autofree char *data = g_strdup_printf("dir = %s\ntest_list = bad.txt", dir);
    g_autofree char *s = scenario("s.ini", data, 4, 24, NULL);
    g_autofree char *db = g_build_filename(dir, "bad.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", s, "--db", db, "--quiet", NULL);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert(strstr(err, bad), "names the file: %s", err);
    cr_assert(strstr(err, "offset 5") || strstr(err, "byte 5"), "names the offset: %s", err);
    g_free(err);
    cr_assert_not(g_file_test(db, G_FILE_TEST_EXISTS), "nothing started");
}

/* A little-endian 32-bit word. */
static void put32(GByteArray *b, guint32 v) {
    guint8 w[4] = {(guint8)v, (guint8)(v >> 8), (guint8)(v >> 16), (guint8)(v >> 24)};
    g_byte_array_append(b, w, 4);
}

/* A DVS128 Gesture archive of one trial, u01_led.aedat: one AEDAT 3.1 polarity packet of 9
 * events, cut by u01_led_labels.csv into gesture 3 (t in [0, 1000): 5 events) and gesture 11
 * (t in [1000, 2000): 3 events; the event at 2500 is in no gesture), listed for both splits. */
static void write_gesture_archive(void) {
    static const guint32 ev[9][4] = {/* x, y, p, t */
                                     {0, 0, 1, 10},      {127, 127, 0, 20}, {64, 64, 1, 30},
                                     {3, 100, 0, 40},    {3, 100, 0, 900},  {10, 20, 1, 1000},
                                     {127, 0, 1, 1500},  {0, 127, 0, 1999}, {5, 5, 1, 2500}};
    GByteArray *b = g_byte_array_new();
    const char *header = "#!AER-DAT3.1\r\n#!END-HEADER\r\n";
    g_byte_array_append(b, (const guint8 *)header, strlen(header));
    const guint8 type_source[4] = {1, 0, 1, 0}; /* eventType 1 (polarity), eventSource 1 */
    g_byte_array_append(b, type_source, 4);
    put32(b, 8); /* eventSize */
    put32(b, 4); /* eventTSOffset */
    put32(b, 0); /* eventTSOverflow */
    for (int k = 0; k < 3; k++)
        put32(b, 9); /* eventCapacity, eventNumber, eventValid */
    for (int i = 0; i < 9; i++) {
        put32(b, ev[i][0] << 17 | ev[i][1] << 2 | ev[i][2] << 1 | 1u);
        put32(b, ev[i][3]);
    }
    g_autofree char *aedat = g_build_filename(dir, "u01_led.aedat", NULL);
    cr_assert(g_file_set_contents(aedat, (const char *)b->data, b->len, NULL));
    g_byte_array_unref(b);
    g_free(oz_test_write_file(dir, "u01_led_labels.csv",
                              "class,startTime_usec,endTime_usec\n3,0,1000\n11,1000,2000\n"));
    g_free(oz_test_write_file(dir, "trials_to_train.txt", "u01_led.aedat\n"));
    g_free(oz_test_write_file(dir, "trials_to_test.txt", "u01_led.aedat\n"));
}

/* The gestures become samples of 2×32×32 cells (the sensor scaled from 128), every event of
 * a cut binned (equal-event-count frames, counts), so the input projection's SynOps are the
 * gestures' events × n_post; the labels are the classes minus one. */
Test(e2e_events, dvs_gesture_trials_are_cut_scaled_and_binned) {
    write_gesture_archive();
    g_autofree char *text = g_strdup_printf(
        "[run]\nticks = 2\nbatch_size = 4\nthreads = 1\nmode = train\n"
        "[data]\ndataset = dvsgesture\ndir = %s\nsize = 32\nclasses = 11\n"
        "[rule]\nname = bp\n"
        "[record]\nspike_samples = 2\n"
        "[population in]\nmodel = events\nshape = 2,32,32\n"
        "[population h]\nmodel = lif\nsize = 16\n"
        "[population out]\nmodel = readout\nsize = 11\n"
        "[projection in_h]\nfrom = in\nto = h\n"
        "[projection h_out]\nfrom = h\nto = out\n",
        dir);
    g_autofree char *s = oz_test_write_file(dir, "g.ini", text);
    g_autofree char *db = g_build_filename(dir, "g.sqlite", NULL);
    char *err = NULL;
    int rc = oz_test_run(&err, "run", s, "--db", db, "--quiet", NULL);
    cr_assert_eq(rc, 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(db, "select value from parameters where owner = 'data test' and "
                               "key = 'samples'"),
                 2);
    cr_assert_eq(oz_test_q(db, "select synops from synops where phase = 'test' and "
                               "projection = 'in_h'"),
                 8 * 16, "5 + 3 events, 16 synapses each");
    /* Sample 0's first frame: its first ⌊5/2⌋ = 2 events, (0,0) ON and (127,127) OFF scaled
     * to (0,0) and (31,31): cells 1·1024 + 0 and 0·1024 + 31·32 + 31. */
    g_autofree char *cells =
        oz_test_qs(db, "select group_concat(neuron) from (select neuron from spikes where "
                       "population = 'in' and sample = 0 and tick = 0 order by neuron)");
    cr_assert_str_eq(cells, "1023,1024");
}

Test(e2e_events, keys_lists_every_data_set_and_its_keys) {
    g_autofree char *out = oz_scenario_describe();
    for (const OzDatasetOps *const *d = oz_datasets(); *d; d++) {
        g_autofree char *line = g_strdup_printf("  dataset = %s: %s\n", (*d)->name, (*d)->help);
        cr_assert(strstr(out, line), "lists %s", (*d)->name);
        for (int k = 0; (*d)->params && (*d)->params[k].key; k++) {
            g_autofree char *key = g_strdup_printf("\n    %-16s %s", (*d)->params[k].key,
                                                   (*d)->params[k].help);
            cr_assert(strstr(out, key), "lists %s's key %s", (*d)->name, (*d)->params[k].key);
        }
    }
}

/* Event-camera input (io/oz-events.h): the N-MNIST reader, writer and layouts, the AEDAT 3.1
 * reader and DVS-Gesture lists, and binning, each on small recordings the tests write
 * themselves; every expected event, frame and byte offset is worked out by hand here. */
#include "io/oz-dataset.h"
#include "io/oz-events.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(events, .init = setup, .fini = teardown);

/* ---- N-MNIST ------------------------------------------------------------------------- */

/* Appends one 5-byte N-MNIST record. */
static void rec(GByteArray *b, guint x, guint y, guint p, guint32 t) {
    guint8 r[5] = {(guint8)x, (guint8)y, (guint8)((p ? 0x80 : 0) | (t >> 16 & 0x7F)),
                   (guint8)(t >> 8), (guint8)t};
    g_byte_array_append(b, r, 5);
}

static char *write_bytes(const char *name, const guint8 *bytes, gsize len) {
    char *path = g_build_filename(dir, name, NULL);
    cr_assert(g_file_set_contents(path, (const char *)bytes, (gssize)len, NULL));
    return path;
}

static void assert_event(const OzCamEvent *e, gint64 t, guint x, guint y, guint p) {
    cr_assert(e->t == t && e->x == x && e->y == y && e->p == p,
              "expected (t %" G_GINT64_FORMAT ", x %u, y %u, p %u), got (t %" G_GINT64_FORMAT
              ", x %u, y %u, p %u)",
              t, x, y, p, e->t, e->x, e->y, e->p);
}

Test(events, nmnist_reads_exact_events_and_drops_overflow_markers) {
    g_autoptr(GByteArray) b = g_byte_array_new();
    rec(b, 1, 2, 1, 100);
    rec(b, 33, 33, 0, 0x7FFFFF); /* every timestamp bit set: 8388607 µs */
    rec(b, 5, 240, 0, 0);        /* overflow: +8192 µs from here on */
    rec(b, 0, 0, 1, 0x7FFFFF);   /* 8388607 + 8192 */
    rec(b, 7, 3, 0, 0x7FFFFF);
    rec(b, 9, 240, 1, 12345); /* a second one: +16384 */
    rec(b, 4, 8, 1, 0x7FFFFF);
    g_autofree char *path = write_bytes("ok.bin", b->data, b->len);
    OzEventStream s;
    GError *err = NULL;
    cr_assert(oz_nmnist_read_file(path, &s, &err), "%s", err ? err->message : "");
    cr_assert_eq(s.n, 5);
    cr_assert_eq(s.width, 34);
    cr_assert_eq(s.height, 34);
    assert_event(&s.ev[0], 100, 1, 2, 1);
    assert_event(&s.ev[1], 8388607, 33, 33, 0);
    assert_event(&s.ev[2], 8388607 + 8192, 0, 0, 1);
    assert_event(&s.ev[3], 8388607 + 8192, 7, 3, 0);
    assert_event(&s.ev[4], 8388607 + 16384, 4, 8, 1);
    oz_event_stream_clear(&s);
    cr_assert_null(s.ev);
}

/* A reader of one recording file (oz_nmnist_read_file, oz_aedat3_read_file). */
typedef gboolean (*ReadFile)(const char *path, OzEventStream *out, GError **error);

/* Writes b to the file name, reads it with read_file and expects an error of code whose
 * message names the file and contains want, and no events. */
static void expect_read_error(ReadFile read_file, const char *name, GByteArray *b, int code,
                              const char *want) {
    g_autofree char *path = write_bytes(name, b->data, b->len);
    OzEventStream s;
    GError *err = NULL;
    cr_assert_not(read_file(path, &s, &err), "%s was accepted", name);
    cr_assert_not_null(err);
    cr_assert(err->domain == OZ_EVENTS_ERROR);
    cr_assert_eq(err->code, code, "%s: code %d: %s", name, err->code, err->message);
    cr_assert(strstr(err->message, path), "the message names the file: %s", err->message);
    cr_assert(strstr(err->message, want), "expected '%s' in: %s", want, err->message);
    cr_assert_null(s.ev);
    g_error_free(err);
}

/* Reads name (holding bytes) as N-MNIST and expects an error of code whose message names
 * the file and contains want. */
static void expect_parse_error(const char *name, GByteArray *b, int code, const char *want) {
    expect_read_error(oz_nmnist_read_file, name, b, code, want);
}

Test(events, nmnist_length_not_a_multiple_of_5_names_the_incomplete_record) {
    g_autoptr(GByteArray) b = g_byte_array_new();
    rec(b, 1, 1, 0, 10);
    rec(b, 2, 2, 0, 20);
    const guint8 tail[3] = {3, 3, 0};
    g_byte_array_append(b, tail, 3);
    expect_parse_error("short.bin", b, OZ_EVENTS_ERROR_FORMAT, "byte offset 10");
}

Test(events, nmnist_x_or_y_outside_the_sensor_names_the_record) {
    g_autoptr(GByteArray) b = g_byte_array_new();
    rec(b, 1, 1, 0, 10);
    rec(b, 34, 1, 0, 20);
    expect_parse_error("x.bin", b, OZ_EVENTS_ERROR_RANGE, "byte offset 5:");
    g_byte_array_set_size(b, 0);
    rec(b, 1, 1, 0, 10);
    rec(b, 2, 2, 0, 11);
    rec(b, 3, 239, 0, 20); /* 239 is no marker */
    expect_parse_error("y.bin", b, OZ_EVENTS_ERROR_RANGE, "byte offset 10:");
    g_byte_array_set_size(b, 0);
    rec(b, 33, 34, 0, 10);
    expect_parse_error("y0.bin", b, OZ_EVENTS_ERROR_RANGE, "byte offset 0:");
}

Test(events, nmnist_timestamp_going_back_beyond_the_overflow_rule_names_the_record) {
    g_autoptr(GByteArray) b = g_byte_array_new();
    rec(b, 1, 1, 0, 9000);
    rec(b, 0, 240, 0, 0); /* +8192: 900 becomes 9092, still fine */
    rec(b, 1, 1, 0, 900);
    rec(b, 1, 1, 0, 899); /* 9091 < 9092 */
    expect_parse_error("back.bin", b, OZ_EVENTS_ERROR_RANGE, "byte offset 15:");
}

Test(events, nmnist_empty_recording_is_an_error) {
    g_autoptr(GByteArray) b = g_byte_array_new();
    expect_parse_error("empty.bin", b, OZ_EVENTS_ERROR_EMPTY, "empty recording");
    rec(b, 0, 240, 0, 0); /* only a marker: no event either */
    expect_parse_error("marker.bin", b, OZ_EVENTS_ERROR_EMPTY, "empty recording");
}

Test(events, nmnist_unreadable_file_is_an_error_naming_it) {
    g_autofree char *path = g_build_filename(dir, "absent.bin", NULL);
    OzEventStream s;
    GError *err = NULL;
    cr_assert_not(oz_nmnist_read_file(path, &s, &err));
    cr_assert_eq(err->code, OZ_EVENTS_ERROR_FAILED);
    cr_assert(strstr(err->message, path), "%s", err->message);
    g_error_free(err);
}

Test(events, nmnist_writer_round_trips_and_refuses_what_the_reader_would) {
    OzCamEvent ev[] = {{0, 0, 0, 1}, {5, 33, 1, 0}, {5, 2, 33, 1}, {8388607, 17, 16, 0}};
    OzEventStream s = {.ev = ev, .n = 4, .width = 34, .height = 34};
    g_autofree char *path = g_build_filename(dir, "w.bin", NULL);
    GError *err = NULL;
    cr_assert(oz_nmnist_write_file(path, &s, &err), "%s", err ? err->message : "");
    gsize len = 0;
    g_autofree char *bytes = NULL;
    cr_assert(g_file_get_contents(path, &bytes, &len, NULL));
    cr_assert_eq(len, 20);
    /* The last record by hand: x 17, y 16, OFF, t 0x7FFFFF. */
    const guint8 last[5] = {17, 16, 0x7F, 0xFF, 0xFF};
    cr_assert_arr_eq(bytes + 15, last, 5);
    OzEventStream r;
    cr_assert(oz_nmnist_read_file(path, &r, &err), "%s", err ? err->message : "");
    cr_assert_eq(r.n, 4);
    for (int i = 0; i < 4; i++)
        assert_event(&r.ev[i], ev[i].t, ev[i].x, ev[i].y, ev[i].p);
    oz_event_stream_clear(&r);

    /* Each refusal leaves no file (and no temporary) behind. */
    const OzCamEvent bad[][2] = {
        {{0, 1, 1, 0}, {8388608, 1, 1, 0}}, /* t ≥ 2^23 */
        {{0, 1, 1, 0}, {1, 34, 1, 0}},      /* x ≥ 34 */
        {{0, 1, 1, 0}, {1, 1, 34, 0}},      /* y ≥ 34 */
        {{5, 1, 1, 0}, {4, 1, 1, 0}},       /* decreasing t */
    };
    for (gsize k = 0; k < G_N_ELEMENTS(bad); k++) {
        g_autofree char *name = g_strdup_printf("bad%zu.bin", k);
        g_autofree char *bp = g_build_filename(dir, name, NULL);
        OzEventStream bs = {.ev = (OzCamEvent *)bad[k], .n = 2, .width = 34, .height = 34};
        cr_assert_not(oz_nmnist_write_file(bp, &bs, &err), "case %zu was written", k);
        cr_assert_eq(err->code, OZ_EVENTS_ERROR_RANGE);
        cr_assert(strstr(err->message, "event 1"), "case %zu: %s", k, err->message);
        g_clear_error(&err);
        cr_assert_not(g_file_test(bp, G_FILE_TEST_EXISTS), "case %zu left a file", k);
    }
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    int files = 0;
    while (g_dir_read_name(d))
        files++;
    cr_assert_eq(files, 1, "only w.bin is in the folder, found %d files", files);
}

/* Writes a one-event recording at path. */
static void touch_recording(const char *path) {
    g_autoptr(GByteArray) b = g_byte_array_new();
    rec(b, 1, 1, 1, 1);
    cr_assert(g_file_set_contents(path, (const char *)b->data, b->len, NULL));
}

Test(events, nmnist_list_dir_orders_by_sample_number_across_classes) {
    g_autofree char *train = g_build_filename(dir, "Train", NULL);
    /* Sample numbers (not zero-padded) scattered over the class folders. */
    const struct {
        int label;
        const char *name;
    } files[] = {{3, "10.bin"}, {0, "2.bin"}, {9, "1.bin"}, {0, "11.bin"}, {5, "3.bin"}};
    for (int c = 0; c < 10; c++) {
        g_autofree char *cdir = g_strdup_printf("%s/%d", train, c);
        cr_assert_eq(g_mkdir_with_parents(cdir, 0755), 0);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_strdup_printf("%s/%d/%s", train, files[i].label, files[i].name);
        touch_recording(p);
    }
    g_autofree char *other = g_strdup_printf("%s/4/readme.txt", train);
    cr_assert(g_file_set_contents(other, "not a recording", -1, NULL));

    OzEventFileList l;
    GError *err = NULL;
    cr_assert(oz_nmnist_list_dir(train, 0, &l, &err), "%s", err ? err->message : "");
    cr_assert_eq(l.n, 5);
    const int want_label[] = {9, 0, 5, 3, 0};
    const char *want_name[] = {"9/1.bin", "0/2.bin", "5/3.bin", "3/10.bin", "0/11.bin"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(l.labels[i], want_label[i], "entry %d", i);
        cr_assert(g_str_has_suffix(l.paths[i], want_name[i]), "entry %d: %s", i, l.paths[i]);
    }
    cr_assert_null(l.paths[5]);
    oz_event_file_list_clear(&l);

    cr_assert(oz_nmnist_list_dir(train, 2, &l, &err));
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.labels[0], 9);
    cr_assert_eq(l.labels[1], 0);
    oz_event_file_list_clear(&l);

    g_autofree char *seven = g_strdup_printf("%s/7", train);
    cr_assert_eq(g_rmdir(seven), 0);
    cr_assert_not(oz_nmnist_list_dir(train, 0, &l, &err));
    cr_assert(strstr(err->message, seven), "names the missing class folder: %s", err->message);
    g_clear_error(&err);
}

static void assert_sample(const OzSpikeSet *set, gsize s, const char *want);

/* train_limit with the folder layout: the list is in sample-number order across classes, and
 * the limited set takes each class in turn; every kept recording must keep its own label.
 * Each recording holds one event whose x is its class and whose y is its sample number. */
Test(events, a_limited_folder_layout_keeps_each_recording_with_its_own_label) {
    const struct {
        int label, number;
    } files[] = {{1, 1}, {0, 2}, {0, 3}, {1, 4}, {2, 5}, {0, 6}};
    for (int c = 0; c < 10; c++) {
        g_autofree char *cdir = g_strdup_printf("%s/Train/%d", dir, c);
        cr_assert_eq(g_mkdir_with_parents(cdir, 0755), 0);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autoptr(GByteArray) b = g_byte_array_new();
        rec(b, (guint)files[i].label, (guint)files[i].number, 1, 0);
        g_autofree char *name =
            g_strdup_printf("Train/%d/%05d.bin", files[i].label, files[i].number);
        g_free(write_bytes(name, b->data, b->len));
    }
    const char *keys[] = {"dir", NULL}, *values[] = {dir, NULL};
    /* Limit 4: one of each class in turn (class 0's 2, class 1's 1, class 2's 5), then class
     * 0's next (3). */
    const int want_number[] = {2, 1, 5, 3}, want_label[] = {0, 1, 2, 0};
    OzDatasetRequest req = {.split = OZ_SPLIT_TRAIN, .classes = 10, .limit = 4, .ticks = 2};
    OzDataset set = {0};
    GError *err = NULL;
    cr_assert(oz_dataset_load(oz_dataset_lookup("nmnist"), keys, values, &req, &set, &err),
              "%s", err ? err->message : "");
    cr_assert_eq(set.n, 4);
    for (int s = 0; s < 4; s++) {
        /* Tick 0 holds the one event: cell = 34·34 (ON) + 34·y + x. */
        guint cell = 34 * 34 + 34 * (guint)want_number[s] + (guint)want_label[s];
        g_autofree char *want = g_strdup_printf("%u|", cell);
        cr_assert_eq(set.labels[s], want_label[s], "sample %d's label", s);
        assert_sample(&set.spikes, (gsize)s, want);
    }
    oz_dataset_clear(&set);
}

Test(events, nmnist_list_file_reads_ids_and_labels_beside_it) {
    g_autofree char *a = g_build_filename(dir, "1.bs2", NULL);
    g_autofree char *b = g_build_filename(dir, "60001.bin", NULL);
    g_autofree char *c = g_build_filename(dir, "x_y.bs2", NULL);
    touch_recording(a);
    touch_recording(b);
    touch_recording(c);
    g_autofree char *list = oz_test_write_file(dir, "list.txt",
                                               "#sample #class\r\n"
                                               "1\t5\r\n"
                                               "\n"
                                               "   60001     0   \n"
                                               "# a comment\n"
                                               "x_y 9");
    OzEventFileList l;
    GError *err = NULL;
    cr_assert(oz_nmnist_list_file(list, 10, 0, &l, &err), "%s", err ? err->message : "");
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.paths[0], a);
    cr_assert_str_eq(l.paths[1], b);
    cr_assert_str_eq(l.paths[2], c);
    cr_assert_eq(l.labels[0], 5);
    cr_assert_eq(l.labels[1], 0);
    cr_assert_eq(l.labels[2], 9);
    oz_event_file_list_clear(&l);
    cr_assert(oz_nmnist_list_file(list, 10, 2, &l, &err));
    cr_assert_eq(l.n, 2);
    oz_event_file_list_clear(&l);
}

/* For case k of a table of bad text files: asserts that *err's message holds the file's
 * path followed by want (":LINE: …"), then clears *err. */
static void expect_line_error(GError **err, gsize k, const char *path, const char *want) {
    g_autofree char *full = g_strconcat(path, want, NULL);
    cr_assert(strstr((*err)->message, full), "case %zu: expected '%s' in: %s", k, full,
              (*err)->message);
    g_clear_error(err);
}

Test(events, nmnist_list_file_errors_name_the_list_and_line) {
    g_autofree char *a = g_build_filename(dir, "1.bs2", NULL);
    touch_recording(a);
    g_autofree char *outside = g_build_filename(dir, "sub", NULL);
    cr_assert_eq(g_mkdir(outside, 0755), 0);
    const struct {
        const char *text;
        int code;
        const char *want;
    } cases[] = {
        {"# header\n1 5\n1\n", OZ_EVENTS_ERROR_LABEL, ":3: missing label"},
        {"1 10\n", OZ_EVENTS_ERROR_LABEL, ":1: label '10' is not an integer in 0…9"},
        {"1 -1\n", OZ_EVENTS_ERROR_LABEL, ":1: label '-1'"},
        {"1 5x\n", OZ_EVENTS_ERROR_LABEL, ":1: label '5x'"},
        {"1 5 7\n", OZ_EVENTS_ERROR_FORMAT, ":1: extra text"},
        {"1 5\n\nsub/1 5\n", OZ_EVENTS_ERROR_FORMAT, ":3: the ID is not a plain file name"},
        {"../1 5\n", OZ_EVENTS_ERROR_FORMAT, ":1: the ID is not a plain file name"},
        {"..  5\n", OZ_EVENTS_ERROR_FORMAT, ":1: the ID is not a plain file name"},
        {"1 5\n2 5\n", OZ_EVENTS_ERROR_FAILED, ":2: neither 2.bin nor 2.bs2 exists"},
        {"# nothing\n\n", OZ_EVENTS_ERROR_EMPTY, ": lists no recording"},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(cases); k++) {
        g_autofree char *name = g_strdup_printf("bad%zu.txt", k);
        g_autofree char *list = oz_test_write_file(dir, name, cases[k].text);
        OzEventFileList l;
        GError *err = NULL;
        cr_assert_not(oz_nmnist_list_file(list, 10, 0, &l, &err), "case %zu accepted", k);
        cr_assert_eq(err->code, cases[k].code, "case %zu: %s", k, err->message);
        expect_line_error(&err, k, list, cases[k].want);
        cr_assert_eq(l.n, 0);
    }
}

/* ---- binning ------------------------------------------------------------------------- */

/* Sample s of set as text: ticks separated by '|', each tick's cells "cell" (binary) or
 * "cell:count", separated by spaces. */
static char *sample_text(const OzSpikeSet *set, gsize s) {
    GString *out = g_string_new(NULL);
    const gsize T1 = (gsize)set->ticks + 1;
    for (int t = 0; t < set->ticks; t++) {
        if (t)
            g_string_append_c(out, '|');
        for (guint64 j = set->tick_off[s * T1 + t]; j < set->tick_off[s * T1 + t + 1]; j++) {
            if (j > set->tick_off[s * T1 + t])
                g_string_append_c(out, ' ');
            g_string_append_printf(out, "%u", set->cell[j]);
            if (set->count)
                g_string_append_printf(out, ":%u", set->count[j]);
        }
    }
    return g_string_free(out, FALSE);
}

/* Ticks' texts joined by '|': given as (tick, text) pairs, the other ticks empty. */
static char *ticks_text(int ticks, int pairs, const int *tick, const char *const *text) {
    GString *out = g_string_new(NULL);
    for (int t = 0; t < ticks; t++) {
        if (t)
            g_string_append_c(out, '|');
        for (int k = 0; k < pairs; k++)
            if (tick[k] == t)
                g_string_append(out, text[k]);
    }
    return g_string_free(out, FALSE);
}

static void assert_sample(const OzSpikeSet *set, gsize s, const char *want) {
    g_autofree char *got = sample_text(set, s);
    cr_assert_str_eq(got, want, "sample %zu:\n got  %s\n want %s", s, got, want);
}

static OzEventStream stream34(OzCamEvent *ev, gsize n) {
    return (OzEventStream){.ev = ev, .n = n, .width = 34, .height = 34};
}

/* The paper's binning: 3 ms bins from t = 0, the first 30, channel = polarity. */
static OzCamEvent paper_events[] = {
    {0, 1, 0, 1},      /* tick 0, cell 34·34 + 1 = 1157 */
    {10, 1, 0, 1},     /* the same cell again */
    {2999, 0, 1, 0},   /* tick 0, cell 34 */
    {3000, 33, 33, 0}, /* tick 1, cell 1155 */
    {9000, 2, 0, 1},   /* tick 3, cell 1158 */
    {89999, 5, 5, 0},  /* tick 29, cell 175 */
    {90000, 6, 6, 1},  /* cropped */
    {200000, 7, 7, 1}, /* cropped */
};

Test(events, paper_binning_is_binary_3ms_bins_of_the_first_90ms) {
    OzSpikeSet set;
    oz_spike_set_init(&set, 30, 2, 34, 34, TRUE);
    OzBinning b = {.mode = OZ_BIN_PAPER, .ticks = 30, .bin_us = 3000, .binary = TRUE};
    OzEventStream s = stream34(paper_events, G_N_ELEMENTS(paper_events));
    oz_spike_set_append(&set, &s, &b, 7);
    const int tick[] = {0, 1, 3, 29};
    const char *text[] = {"34 1157", "1155", "1158", "175"};
    g_autofree char *want = ticks_text(30, 4, tick, text);
    assert_sample(&set, 0, want);
    cr_assert_null(set.count);
    cr_assert_eq(set.n, 1);
    cr_assert_eq(set.labels[0], 7);
    cr_assert_eq(set.events_in, 8);
    cr_assert_eq(set.events_kept, 6);
    cr_assert_eq(set.events_cropped, 2);
    cr_assert_eq(set.tick_off[30], 5, "5 active cells");
    oz_spike_set_clear(&set);
}

Test(events, counts_binning_keeps_counts_and_saturates_at_255) {
    OzSpikeSet set;
    oz_spike_set_init(&set, 30, 2, 34, 34, FALSE);
    OzBinning b = {.mode = OZ_BIN_PAPER, .ticks = 30, .bin_us = 3000, .binary = FALSE};
    OzEventStream s = stream34(paper_events, G_N_ELEMENTS(paper_events));
    oz_spike_set_append(&set, &s, &b, 1);
    /* A second sample: 300 events on one cell in tick 2. */
    OzCamEvent many[300];
    for (int i = 0; i < 300; i++)
        many[i] = (OzCamEvent){6000 + i, 4, 2, 0};
    OzEventStream m = stream34(many, 300);
    oz_spike_set_append(&set, &m, &b, 2);
    const int tick[] = {0, 1, 3, 29};
    const char *text[] = {"34:1 1157:2", "1155:1", "1158:1", "175:1"};
    g_autofree char *want0 = ticks_text(30, 4, tick, text);
    assert_sample(&set, 0, want0);
    const int tick1[] = {2};
    const char *text1[] = {"72:255"};
    g_autofree char *want1 = ticks_text(30, 1, tick1, text1);
    assert_sample(&set, 1, want1);
    /* The second sample's offsets start where the first's end. */
    cr_assert_eq(set.tick_off[31], set.tick_off[30]);
    cr_assert_eq(set.events_in, 308);
    cr_assert_eq(set.events_kept, 306);
    cr_assert_eq(set.events_cropped, 2);
    cr_assert_eq(set.labels[1], 2);
    oz_spike_set_trim(&set);
    assert_sample(&set, 1, want1);
    cr_assert_eq(oz_spike_set_bytes(&set), 6 * 3 + 2 * (31 * 8 + 1));
    oz_spike_set_clear(&set);
}

Test(events, time_binning_from_the_first_event_pads_and_crops) {
    OzCamEvent ev[] = {
        {500, 0, 0, 0},  /* t − t0 = 0: tick 0 */
        {1000, 1, 0, 0}, /* 500: tick 0 */
        {1499, 2, 0, 0}, /* 999: tick 0 */
        {1500, 3, 0, 0}, /* 1000: tick 1 */
        {2600, 4, 0, 1}, /* 2100: tick 2 */
        {3500, 5, 0, 0}, /* 3000: cropped at T = 3 */
        {4000, 6, 0, 0}, /* cropped */
    };
    OzEventStream s = stream34(ev, G_N_ELEMENTS(ev));
    OzSpikeSet set;
    oz_spike_set_init(&set, 3, 2, 34, 34, TRUE);
    OzBinning b = {
        .mode = OZ_BIN_TIME, .ticks = 3, .bin_us = 1000, .binary = TRUE, .from_first_event = TRUE};
    oz_spike_set_append(&set, &s, &b, 0);
    assert_sample(&set, 0, "0 1 2|3|1160");
    cr_assert_eq(set.events_cropped, 2);
    cr_assert_eq(set.events_kept, 5);
    oz_spike_set_clear(&set);

    /* T = 6 from t = 0: 500 → 0; 1000, 1499, 1500 → 1; 2600 → 2; 3500 → 3; 4000 → 4; and
     * one silent tick of padding. */
    oz_spike_set_init(&set, 6, 2, 34, 34, TRUE);
    b.ticks = 6;
    b.from_first_event = FALSE;
    oz_spike_set_append(&set, &s, &b, 0);
    assert_sample(&set, 0, "0|1 2 3|1160|5|6|");
    cr_assert_eq(set.events_cropped, 0);
    oz_spike_set_clear(&set);
}

Test(events, spread_binning_splits_the_span_into_equal_bins) {
    OzCamEvent ev[] = {
        {100, 0, 0, 0}, /* (t − 100)·3/300 = 0 */
        {150, 1, 0, 0}, /* 0.5: 0 */
        {200, 2, 0, 0}, /* 1 */
        {300, 3, 0, 0}, /* 2 */
        {400, 4, 0, 0}, /* 3, the last event: in the last bin, 2 */
    };
    OzEventStream s = stream34(ev, G_N_ELEMENTS(ev));
    OzSpikeSet set;
    oz_spike_set_init(&set, 3, 2, 34, 34, TRUE);
    OzBinning b = {.mode = OZ_BIN_SPREAD, .ticks = 3, .binary = TRUE};
    oz_spike_set_append(&set, &s, &b, 0);
    assert_sample(&set, 0, "0 1|2|3 4");
    /* One instant: everything in the first bin. */
    OzEventStream one = stream34(ev, 1);
    oz_spike_set_append(&set, &one, &b, 0);
    assert_sample(&set, 1, "0||");
    cr_assert_eq(set.events_cropped, 0);
    oz_spike_set_clear(&set);
}

Test(events, events_binning_makes_equal_count_frames_the_last_taking_the_rest) {
    OzCamEvent ev[7];
    for (int i = 0; i < 7; i++)
        ev[i] = (OzCamEvent){i * 1000, (guint16)i, 0, 0};
    OzEventStream s = stream34(ev, 7);
    OzSpikeSet set;
    oz_spike_set_init(&set, 3, 2, 34, 34, FALSE);
    OzBinning b = {.mode = OZ_BIN_EVENTS, .ticks = 3, .binary = FALSE};
    /* ⌊7/3⌋ = 2: indices 0–1, 2–3, 4–6. */
    oz_spike_set_append(&set, &s, &b, 0);
    assert_sample(&set, 0, "0:1 1:1|2:1 3:1|4:1 5:1 6:1");
    /* Fewer events than frames: ⌊2/3⌋ = 0, so the last frame takes both. */
    OzEventStream two = stream34(ev, 2);
    oz_spike_set_append(&set, &two, &b, 0);
    assert_sample(&set, 1, "||0:1 1:1");
    oz_spike_set_clear(&set);
}

Test(events, saccade_offsets_follow_orchards_triangle) {
    const struct {
        gint64 t;
        double dx, dy;
    } want[] = {{0, 0, 0},      {52500, 1.75, 3.5}, {105000, 3.5, 7},          {157500, 5.25, 3.5},
                {210000, 7, 0}, {262500, 3.5, 0},   {314999, 7.0 / 105000, 0}, {315000, 0, 0},
                {400000, 0, 0}};
    for (gsize i = 0; i < G_N_ELEMENTS(want); i++) {
        double dx, dy;
        oz_saccade_offset(want[i].t, &dx, &dy);
        cr_assert(fabs(dx - want[i].dx) < 1e-12 && fabs(dy - want[i].dy) < 1e-12,
                  "t %" G_GINT64_FORMAT ": (%g, %g), want (%g, %g)", want[i].t, dx, dy, want[i].dx,
                  want[i].dy);
    }
}

Test(events, stabilisation_moves_events_back_and_drops_those_off_the_sensor) {
    OzCamEvent ev[] = {
        {52500, 10, 10, 1},  /* (10 − 1.75, 10 − 3.5) = (8.25, 6.5) → (8, 7): cell 246 */
        {157500, 5, 20, 0},  /* (−0.25, 16.5) → (0, 17): cell 578 */
        {262500, 3, 0, 1},   /* (−0.5, 0) → x = −1: off the sensor */
        {400000, 33, 33, 0}, /* no offset: cell 1155 */
    };
    OzEventStream s = stream34(ev, G_N_ELEMENTS(ev));
    OzSpikeSet set;
    oz_spike_set_init(&set, 1, 1, 34, 34, TRUE); /* one channel: polarity ignored */
    OzBinning b = {
        .mode = OZ_BIN_TIME, .ticks = 1, .bin_us = 1e6, .binary = TRUE, .stabilise = TRUE};
    oz_spike_set_append(&set, &s, &b, 0);
    assert_sample(&set, 0, "246 578 1155");
    cr_assert_eq(set.events_off_sensor, 1);
    cr_assert_eq(set.events_kept, 3);
    cr_assert_eq(set.events_in, 4);
    oz_spike_set_clear(&set);
}

Test(events, a_set_beyond_the_16_bit_cell_index_is_refused, .signal = SIGABRT) {
    OzSpikeSet set;
    oz_spike_set_init(&set, 1, 2, 257, 128, TRUE); /* 65792 cells */
}

/* ---- AEDAT 3.1 and DVS-Gesture ------------------------------------------------------- */

static const char AEDAT_HEADER[] =
    "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n";

static void put32(GByteArray *b, guint32 v) {
    guint8 w[4] = {(guint8)v, (guint8)(v >> 8), (guint8)(v >> 16), (guint8)(v >> 24)};
    g_byte_array_append(b, w, 4);
}

/* A 28-byte packet header (eventNumber = eventValid = capacity). */
static void packet(GByteArray *b, guint16 type, gint32 size, gint32 overflow, gint32 capacity) {
    guint8 ts[4] = {(guint8)type, (guint8)(type >> 8), 1, 0}; /* eventType, eventSource 1 */
    g_byte_array_append(b, ts, 4);
    put32(b, (guint32)size);
    put32(b, 4); /* eventTSOffset */
    put32(b, (guint32)overflow);
    put32(b, (guint32)capacity);
    put32(b, (guint32)capacity);
    put32(b, (guint32)capacity);
}

static void polarity(GByteArray *b, guint32 x, guint32 y, guint32 p, gboolean valid, guint32 ts) {
    put32(b, x << 17 | y << 2 | p << 1 | (valid ? 1u : 0u));
    put32(b, ts);
}

static GByteArray *aedat_start(void) {
    GByteArray *b = g_byte_array_new();
    g_byte_array_append(b, (const guint8 *)AEDAT_HEADER, strlen(AEDAT_HEADER));
    return b;
}

/* Two polarity packets with a non-polarity packet between them, an invalid event and a
 * timestamp overflow in the second polarity packet. */
static GByteArray *aedat_valid(void) {
    GByteArray *b = aedat_start();
    packet(b, 1, 8, 0, 3);
    polarity(b, 0, 0, 1, TRUE, 10);
    polarity(b, 127, 127, 0, TRUE, 20);
    polarity(b, 5, 5, 1, FALSE, 25); /* invalid: dropped */
    packet(b, 2, 8, 0, 2);           /* special events: skipped, whatever they hold */
    polarity(b, 4000, 4000, 1, TRUE, 1);
    polarity(b, 1, 1, 1, TRUE, 0);
    packet(b, 1, 8, 1, 2); /* eventTSOverflow 1: t = 2^31 + ts */
    polarity(b, 3, 4, 1, TRUE, 5);
    polarity(b, 64, 1, 0, TRUE, 7);
    return b;
}

Test(events, aedat_reads_polarity_packets_skipping_others_and_invalid_events) {
    g_autoptr(GByteArray) b = aedat_valid();
    g_autofree char *path = write_bytes("ok.aedat", b->data, b->len);
    OzEventStream s;
    GError *err = NULL;
    cr_assert(oz_aedat3_read_file(path, &s, &err), "%s", err ? err->message : "");
    cr_assert_eq(s.width, 128);
    cr_assert_eq(s.height, 128);
    cr_assert_eq(s.n, 4);
    assert_event(&s.ev[0], 10, 0, 0, 1);
    assert_event(&s.ev[1], 20, 127, 127, 0);
    assert_event(&s.ev[2], ((gint64)1 << 31) + 5, 3, 4, 1);
    assert_event(&s.ev[3], ((gint64)1 << 31) + 7, 64, 1, 0);

    /* The whole 2×128×128 sensor fits the 16-bit cell index: EVENTS, T = 2, ⌊4/2⌋ = 2. */
    OzSpikeSet set;
    oz_spike_set_init(&set, 2, 2, 128, 128, TRUE);
    OzBinning bin = {.mode = OZ_BIN_EVENTS, .ticks = 2, .binary = TRUE};
    oz_spike_set_append(&set, &s, &bin, 3);
    /* (0,0,ON) = 16384, (127,127,OFF) = 16383; (3,4,ON) = 16384 + 4·128 + 3, (64,1,OFF). */
    assert_sample(&set, 0, "16383 16384|192 16899");
    oz_spike_set_clear(&set);
    oz_event_stream_clear(&s);
}

Test(events, aedat_events_out_of_time_order_are_sorted_stably) {
    g_autoptr(GByteArray) b = aedat_start();
    packet(b, 1, 8, 0, 3);
    polarity(b, 1, 0, 0, TRUE, 20);
    polarity(b, 2, 0, 0, TRUE, 10);
    polarity(b, 3, 0, 0, TRUE, 20);
    g_autofree char *path = write_bytes("order.aedat", b->data, b->len);
    OzEventStream s;
    GError *err = NULL;
    cr_assert(oz_aedat3_read_file(path, &s, &err), "%s", err ? err->message : "");
    cr_assert_eq(s.n, 3);
    assert_event(&s.ev[0], 10, 2, 0, 0);
    assert_event(&s.ev[1], 20, 1, 0, 0);
    assert_event(&s.ev[2], 20, 3, 0, 0);
    oz_event_stream_clear(&s);
}

/* The same for an AEDAT 3.1 file. */
static void expect_aedat_error(const char *name, GByteArray *b, int code, const char *want) {
    expect_read_error(oz_aedat3_read_file, name, b, code, want);
}

Test(events, aedat_malformed_files_are_errors_with_their_byte_offsets) {
    const gsize h = strlen(AEDAT_HEADER); /* 61: where the first packet starts */
    cr_assert_eq(h, 61);
    GByteArray *b;

    b = g_byte_array_new();
    const char v2[] = "#!AER-DAT2.0\r\n#!END-HEADER\r\n";
    g_byte_array_append(b, (const guint8 *)v2, strlen(v2));
    expect_aedat_error("v2.aedat", b, OZ_EVENTS_ERROR_FORMAT, "byte offset 0: not an AEDAT 3.1");
    g_byte_array_unref(b);

    b = g_byte_array_new();
    const char noend[] = "#!AER-DAT3.1\r\n#Format: RAW\r\n";
    g_byte_array_append(b, (const guint8 *)noend, strlen(noend));
    expect_aedat_error("noend.aedat", b, OZ_EVENTS_ERROR_FORMAT, "has no #!END-HEADER");
    g_byte_array_unref(b);

    b = g_byte_array_new();
    const char nohash[] = "#!AER-DAT3.1\r\nFormat: RAW\r\n#!END-HEADER\r\n";
    g_byte_array_append(b, (const guint8 *)nohash, strlen(nohash));
    expect_aedat_error("nohash.aedat", b, OZ_EVENTS_ERROR_FORMAT,
                       "byte offset 14: header line does not start with '#'");
    g_byte_array_unref(b);

    b = aedat_valid();
    const guint8 ten[10] = {1, 0, 1, 0, 8, 0, 0, 0, 0, 0};
    g_byte_array_append(b, ten, 10);
    g_autofree char *at = g_strdup_printf("byte offset %u: truncated packet header", b->len - 10);
    expect_aedat_error("head.aedat", b, OZ_EVENTS_ERROR_FORMAT, at);
    g_byte_array_unref(b);

    b = aedat_start();
    packet(b, 1, 8, 0, 1);
    polarity(b, 1, 1, 1, TRUE, 1);
    packet(b, 1, 8, 0, 3); /* at 61 + 28 + 8 = 97: three events announced, two present */
    polarity(b, 1, 1, 1, TRUE, 2);
    polarity(b, 1, 1, 1, TRUE, 3);
    expect_aedat_error("body.aedat", b, OZ_EVENTS_ERROR_FORMAT, "byte offset 97: truncated packet");
    g_byte_array_unref(b);

    b = aedat_start();
    packet(b, 2, 6, 0, 1); /* another type may have any size */
    g_byte_array_append(b, ten, 6);
    packet(b, 1, 6, 0, 1); /* at 61 + 28 + 6 = 95 */
    g_byte_array_append(b, ten, 6);
    expect_aedat_error("size.aedat", b, OZ_EVENTS_ERROR_FORMAT,
                       "byte offset 95: polarity packet with eventSize 6");
    g_byte_array_unref(b);

    b = aedat_start();
    packet(b, 1, 8, 0, 3);
    polarity(b, 1, 1, 1, TRUE, 1);
    polarity(b, 128, 1, 1, TRUE, 2); /* at 61 + 28 + 8 = 97 */
    polarity(b, 1, 1, 1, TRUE, 3);
    expect_aedat_error("x.aedat", b, OZ_EVENTS_ERROR_RANGE,
                       "byte offset 97: polarity event at x = 128");
    g_byte_array_unref(b);

    b = aedat_start();
    packet(b, 1, 8, 0, 2);
    polarity(b, 1, 1, 1, TRUE, 1);
    polarity(b, 1, 128, 1, TRUE, 2); /* at 97 */
    expect_aedat_error("y.aedat", b, OZ_EVENTS_ERROR_RANGE,
                       "byte offset 97: polarity event at x = 1, y = 128");
    g_byte_array_unref(b);

    b = aedat_start();
    packet(b, 1, 8, 0, 1);
    polarity(b, 1, 1, 1, FALSE, 1);
    expect_aedat_error("invalid.aedat", b, OZ_EVENTS_ERROR_EMPTY, "no valid polarity event");
    g_byte_array_unref(b);
}

Test(events, gesture_labels_csv_gives_cuts_with_classes_from_zero) {
    g_autofree char *csv = oz_test_write_file(dir, "user01_lab_labels.csv",
                                              "class,startTime_usec,endTime_usec\r\n"
                                              "1,100,200\r\n"
                                              "11, 300 ,4294967296\r\n"
                                              "\r\n");
    GArray *cuts = NULL;
    GError *err = NULL;
    cr_assert(oz_gesture_read_labels(csv, &cuts, &err), "%s", err ? err->message : "");
    cr_assert_eq(cuts->len, 2);
    OzGestureCut *c = (OzGestureCut *)cuts->data;
    cr_assert(c[0].label == 0 && c[0].start == 100 && c[0].end == 200);
    cr_assert(c[1].label == 10 && c[1].start == 300 && c[1].end == 4294967296);
    g_array_unref(cuts);

    const struct {
        const char *text, *want;
    } bad[] = {
        {"class,startTime_usec,endTime_usec\n1,1,2\n0,1,2\n", ":3: class outside 1…11"},
        {"class,startTime_usec,endTime_usec\n12,1,2\n", ":2: class outside 1…11"},
        {"class,startTime_usec,endTime_usec\n1,5,5\n", ":2: expected 0 ≤ startTime_usec"},
        {"class,startTime_usec,endTime_usec\n1,5\n", ":2: expected `class,startTime_usec"},
        {"class,startTime_usec,endTime_usec\n1,a,9\n", ":2: expected `class,startTime_usec"},
        {"1,100,200\n", ":1: expected the header row"},
        {"class,startTime_usec,endTime_usec\n", ": no label row"},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(bad); k++) {
        g_autofree char *name = g_strdup_printf("bad%zu_labels.csv", k);
        g_autofree char *path = oz_test_write_file(dir, name, bad[k].text);
        cr_assert_not(oz_gesture_read_labels(path, &cuts, &err), "case %zu accepted", k);
        cr_assert_eq(err->code, OZ_EVENTS_ERROR_LABEL);
        expect_line_error(&err, k, path, bad[k].want);
        cr_assert_null(cuts);
    }
}

Test(events, gesture_trial_lists_hold_plain_aedat_names) {
    g_autofree char *txt = oz_test_write_file(dir, "trials_to_train.txt",
                                              "user01_fluorescent.aedat\r\n\n user02_lab.aedat\n");
    char **names = NULL;
    GError *err = NULL;
    cr_assert(oz_gesture_read_trials(txt, &names, &err), "%s", err ? err->message : "");
    cr_assert_eq(g_strv_length(names), 2);
    cr_assert_str_eq(names[0], "user01_fluorescent.aedat");
    cr_assert_str_eq(names[1], "user02_lab.aedat");
    g_strfreev(names);

    const struct {
        const char *text, *want;
    } bad[] = {
        {"a.aedat\n../b.aedat\n", ":2: '../b.aedat' is not a plain .aedat file name"},
        {"a.aedat\nsub/b.aedat\n", ":2: 'sub/b.aedat'"},
        {"b.txt\n", ":1: 'b.txt'"},
        {"\n\n", ": lists no trial"},
    };
    for (gsize k = 0; k < G_N_ELEMENTS(bad); k++) {
        g_autofree char *name = g_strdup_printf("bad%zu.txt", k);
        g_autofree char *path = oz_test_write_file(dir, name, bad[k].text);
        cr_assert_not(oz_gesture_read_trials(path, &names, &err), "case %zu accepted", k);
        expect_line_error(&err, k, path, bad[k].want);
        cr_assert_null(names);
    }
}

Test(events, cut_keeps_start_up_to_end_and_downsample_floors_coordinates) {
    OzCamEvent ev[] = {
        {0, 0, 0, 0}, {10, 127, 1, 1}, {10, 64, 2, 0}, {20, 85, 3, 1}, {30, 1, 127, 0}};
    OzEventStream s = {.ev = ev, .n = 5, .width = 128, .height = 128};
    OzEventStream c;
    oz_event_stream_cut(&s, 10, 30, &c);
    cr_assert_eq(c.n, 3);
    assert_event(&c.ev[0], 10, 127, 1, 1);
    assert_event(&c.ev[2], 20, 85, 3, 1);
    /* ⌊x·48/128⌋: 127 → 47, 64 → 24, 85 → 31; y 1, 2, 3 → 0. */
    oz_event_stream_downsample(&c, 48);
    cr_assert_eq(c.width, 48);
    cr_assert_eq(c.height, 48);
    assert_event(&c.ev[0], 10, 47, 0, 1);
    assert_event(&c.ev[1], 10, 24, 0, 0);
    assert_event(&c.ev[2], 20, 31, 1, 1);
    oz_event_stream_clear(&c);

    oz_event_stream_cut(&s, 30, 31, &c);
    cr_assert_eq(c.n, 1);
    oz_event_stream_downsample(&c, 32); /* (1, 127) → (0, 31) */
    assert_event(&c.ev[0], 30, 0, 31, 0);
    oz_event_stream_clear(&c);
    oz_event_stream_cut(&s, 31, 100, &c);
    cr_assert_eq(c.n, 0);
    cr_assert_null(c.ev);
    oz_event_stream_cut(&s, -5, 1, &c);
    cr_assert_eq(c.n, 1);
    oz_event_stream_clear(&c);
}

/* Event-camera input (io/oz-events.h): the N-MNIST reader, writer and layouts, the AEDAT 3.1
 * reader and DVS-Gesture lists, and binning, each on small recordings the tests write
 * themselves; every expected event, frame and byte offset is worked out by hand here. */
#include "io/oz-events.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
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
    rec(b, 9, 240, 1, 12345);    /* a second one: +16384 */
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

/* Reads name (holding bytes) and expects an error of code whose message names the file and
 * contains want. */
static void expect_parse_error(const char *name, GByteArray *b, int code, const char *want) {
    g_autofree char *path = write_bytes(name, b->data, b->len);
    OzEventStream s;
    GError *err = NULL;
    cr_assert_not(oz_nmnist_read_file(path, &s, &err), "%s was accepted", name);
    cr_assert_not_null(err);
    cr_assert(err->domain == OZ_EVENTS_ERROR);
    cr_assert_eq(err->code, code, "%s: code %d: %s", name, err->code, err->message);
    cr_assert(strstr(err->message, path), "the message names the file: %s", err->message);
    cr_assert(strstr(err->message, want), "expected '%s' in: %s", want, err->message);
    cr_assert_null(s.ev);
    g_error_free(err);
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
        g_autofree char *want = g_strconcat(list, cases[k].want, NULL);
        cr_assert(strstr(err->message, want), "case %zu: expected '%s' in: %s", k, want,
                  err->message);
        cr_assert_eq(l.n, 0);
        g_error_free(err);
    }
}

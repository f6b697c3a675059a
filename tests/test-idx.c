/* IDX reader: plain and gzip, and every malformation named with its file. */
#include "io/oz-idx.h"
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

TestSuite(idx, .init = setup, .fini = teardown);

Test(idx, reads_plain_and_gzip_alike) {
    guint8 data[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        data[i] = (guint8)(i * 7);
    guint32 dims[3] = {2, 3, 4};
    g_autofree char *plain = g_build_filename(dir, "a.idx", NULL);
    g_autofree char *gz = g_build_filename(dir, "a.idx.gz", NULL);
    oz_test_write_idx(plain, dims, 3, data, FALSE);
    oz_test_write_idx(gz, dims, 3, data, TRUE);
    for (int k = 0; k < 2; k++) {
        OzIdx idx;
        GError *err = NULL;
        cr_assert(oz_idx_load(k ? gz : plain, &idx, &err), "%s", err ? err->message : "");
        cr_assert_eq(idx.ndims, 3);
        cr_assert_eq(idx.dims[0], 2);
        cr_assert_eq(idx.dims[2], 4);
        cr_assert_eq(idx.count, 24);
        cr_assert_arr_eq(idx.data, data, 24);
        oz_idx_clear(&idx);
    }
}

static GError *load_error(const char *name, const guint8 *bytes, gsize len) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    cr_assert(g_file_set_contents(path, (const char *)bytes, (gssize)len, NULL));
    OzIdx idx;
    GError *err = NULL;
    cr_assert_not(oz_idx_load(path, &idx, &err));
    cr_assert_not_null(err);
    cr_assert(strstr(err->message, name), "message names the file: %s", err->message);
    return err;
}

Test(idx, wrong_magic_is_rejected) {
    const guint8 b[] = {0x00, 0x00, 0x0d, 0x01, 0, 0, 0, 1, 5};
    GError *err = load_error("magic.idx", b, sizeof b);
    cr_assert_eq(err->code, OZ_IDX_ERROR_MAGIC);
    cr_assert(strstr(err->message, "offset 0"), "%s", err->message);
    g_error_free(err);
}

Test(idx, truncated_body_names_the_offset) {
    const guint8 b[] = {0x00, 0x00, 0x08, 0x01, 0, 0, 0, 5, 1, 2, 3};
    GError *err = load_error("short.idx", b, sizeof b);
    cr_assert_eq(err->code, OZ_IDX_ERROR_TRUNCATED);
    cr_assert(strstr(err->message, "offset 11"), "%s", err->message);
    g_error_free(err);
}

Test(idx, truncated_header_and_empty_file) {
    const guint8 b[] = {0x00, 0x00, 0x08, 0x03, 0, 0, 0, 5};
    GError *err = load_error("head.idx", b, sizeof b);
    cr_assert_eq(err->code, OZ_IDX_ERROR_TRUNCATED);
    g_error_free(err);
    err = load_error("empty.idx", b, 0);
    cr_assert_eq(err->code, OZ_IDX_ERROR_TRUNCATED);
    g_error_free(err);
}

Test(idx, trailing_bytes_are_rejected) {
    const guint8 b[] = {0x00, 0x00, 0x08, 0x01, 0, 0, 0, 2, 1, 2, 3};
    GError *err = load_error("long.idx", b, sizeof b);
    cr_assert_eq(err->code, OZ_IDX_ERROR_SIZE);
    g_error_free(err);
}

Test(idx, corrupt_gzip_is_an_error) {
    guint8 data[64] = {0};
    guint32 dims[1] = {64};
    g_autofree char *gz = g_build_filename(dir, "c.idx.gz", NULL);
    oz_test_write_idx(gz, dims, 1, data, TRUE);
    gchar *bytes;
    gsize len;
    cr_assert(g_file_get_contents(gz, &bytes, &len, NULL));
    /* Truncated: half the file. */
    cr_assert(g_file_set_contents(gz, bytes, (gssize)(len / 2), NULL));
    OzIdx idx;
    GError *err = NULL;
    cr_assert_not(oz_idx_load(gz, &idx, &err));
    cr_assert(strstr(err->message, "c.idx.gz") &&
                  strstr(err->message, "of decompressed data (corrupt or truncated gzip?)"),
              "%s", err->message);
    g_clear_error(&err);
    /* Corrupt: whole, with its stored CRC changed. */
    bytes[len - 8] ^= 0x55;
    cr_assert(g_file_set_contents(gz, bytes, (gssize)len, NULL));
    g_free(bytes);
    cr_assert_not(oz_idx_load(gz, &idx, &err));
    cr_assert(strstr(err->message, "c.idx.gz") &&
                  strstr(err->message, "of decompressed data (corrupt or truncated gzip?)"),
              "%s", err->message);
    g_error_free(err);
}

Test(idx, missing_file_names_the_path) {
    OzIdx idx;
    GError *err = NULL;
    cr_assert_not(oz_idx_load("/nonexistent/x.idx", &idx, &err));
    cr_assert(strstr(err->message, "/nonexistent/x.idx"));
    g_error_free(err);
}

Test(idx, image_set_checks_counts_and_labels) {
    oz_test_write_dataset(dir, 6, 4, 2, 3, 3);
    g_autofree char *im = g_build_filename(dir, "train-images-idx3-ubyte", NULL);
    g_autofree char *lb = g_build_filename(dir, "train-labels-idx1-ubyte", NULL);
    g_autofree char *lb_test = g_build_filename(dir, "t10k-labels-idx1-ubyte", NULL);
    OzImageSet set;
    GError *err = NULL;
    cr_assert(oz_image_set_load(im, lb, 3, 0, &set, &err));
    cr_assert_eq(set.n, 6);
    cr_assert_eq(set.features, 6);
    cr_assert_eq(set.labels[4], 1);
    oz_image_set_clear(&set);
    cr_assert(oz_image_set_load(im, lb, 3, 2, &set, &err), "limit");
    cr_assert_eq(set.n, 2);
    oz_image_set_clear(&set);
    /* Labels go up to 2: with 2 classes sample 2 is out of range. */
    cr_assert_not(oz_image_set_load(im, lb, 2, 0, &set, &err));
    cr_assert_eq(err->code, OZ_IDX_ERROR_LABEL);
    cr_assert(strstr(err->message, "train-labels-idx1-ubyte: label 2 of sample 2 (offset 10) is "
                                   "out of range 0..1"),
              "%s", err->message);
    g_clear_error(&err);
    /* 6 images, 4 labels. */
    cr_assert_not(oz_image_set_load(im, lb_test, 3, 0, &set, &err));
    cr_assert(strstr(err->message, "6 images") && strstr(err->message, "4 labels"), "%s",
              err->message);
    g_clear_error(&err);
}

/* A header with the given sizes and no body. */
static GError *header_error(const char *name, const guint32 *dims, int nd) {
    guint8 b[4 + 16] = {0x00, 0x00, 0x08, (guint8)nd};
    for (int i = 0; i < nd; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (guint8)(dims[i] >> (24 - 8 * k));
    return load_error(name, b, 4 + 4 * (gsize)nd);
}

Test(idx, sizes_past_the_limit_name_the_dimensions_and_their_product) {
    /* 60000 × 28 × 28 is 47 MB; the fourth size takes it to 3.3 TB, past 2^34. */
    const guint32 dims[] = {60000, 28, 28, 70000};
    GError *err = header_error("big.idx", dims, 4);
    cr_assert_eq(err->code, OZ_IDX_ERROR_SIZE);
    cr_assert(strstr(err->message, "60000 × 28 × 28 × 70000 = 3292800000000 bytes"), "%s",
              err->message);
    cr_assert(strstr(err->message, "limit of 17179869184"), "%s", err->message);
    cr_assert(strstr(err->message, "offsets 4 to 19"), "the header's place: %s", err->message);
    cr_assert(strstr(err->message, "dimension 3 (70000, offset 16)"), "%s", err->message);
    g_error_free(err);
}

Test(idx, a_product_of_sizes_that_wraps_64_bits_is_rejected) {
    /* 2^17 · 2^17 = 2^34 is at the limit; · 2^30 is 2^64, which a 64-bit product wraps to
     * 0 — which an empty body would then match. */
    const guint32 dims[] = {1u << 17, 1u << 17, 1u << 30};
    GError *err = header_error("wrap.idx", dims, 3);
    cr_assert_eq(err->code, OZ_IDX_ERROR_SIZE, "%s", err->message);
    cr_assert(strstr(err->message, "131072 × 131072 × 1073741824 = 2^64 or more bytes"), "%s",
              err->message);
    cr_assert(strstr(err->message, "dimension 2 (1073741824, offset 12)"), "%s", err->message);
    g_error_free(err);
}

Test(idx, a_zero_size_is_named_with_its_offset) {
    const guint32 dims[] = {3, 0, 2};
    GError *err = header_error("zero.idx", dims, 3);
    cr_assert_eq(err->code, OZ_IDX_ERROR_SIZE);
    cr_assert(strstr(err->message, "dimension 1 is 0 at offset 8"), "%s", err->message);
    g_error_free(err);
}

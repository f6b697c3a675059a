#include "oz-test-util.h"

#include <gio/gio.h>
#include <string.h>

char *oz_test_tmpdir(void) {
    GError *err = NULL;
    char *dir = g_dir_make_tmp("opzosim-test-XXXXXX", &err);
    g_assert_no_error(err);
    return dir;
}

void oz_test_rmtree(char *dir) {
    char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_assert(system(cmd) == 0);
    g_free(cmd);
    g_free(dir);
}

void oz_test_write_idx(const char *path, const guint32 *dims, int ndims, const guint8 *data,
                       gboolean gz) {
    GByteArray *buf = g_byte_array_new();
    guint8 magic[4] = {0, 0, 0x08, (guint8)ndims};
    g_byte_array_append(buf, magic, 4);
    gsize count = 1;
    for (int i = 0; i < ndims; i++) {
        guint8 be[4] = {(guint8)(dims[i] >> 24), (guint8)(dims[i] >> 16), (guint8)(dims[i] >> 8),
                        (guint8)dims[i]};
        g_byte_array_append(buf, be, 4);
        count *= dims[i];
    }
    g_byte_array_append(buf, data, (guint)count);
    GError *err = NULL;
    if (gz) {
        GZlibCompressor *comp = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
        GOutputStream *mem = g_memory_output_stream_new_resizable();
        GOutputStream *out = g_converter_output_stream_new(mem, G_CONVERTER(comp));
        gsize written = 0;
        g_output_stream_write_all(out, buf->data, buf->len, &written, NULL, &err);
        g_assert_no_error(err);
        g_output_stream_close(out, NULL, &err);
        g_assert_no_error(err);
        gsize size = g_memory_output_stream_get_data_size(G_MEMORY_OUTPUT_STREAM(mem));
        g_file_set_contents(path, g_memory_output_stream_get_data(G_MEMORY_OUTPUT_STREAM(mem)),
                            (gssize)size, &err);
        g_object_unref(out);
        g_object_unref(mem);
        g_object_unref(comp);
    } else {
        g_file_set_contents(path, (const char *)buf->data, buf->len, &err);
    }
    g_assert_no_error(err);
    g_byte_array_free(buf, TRUE);
}

static void write_split(const char *dir, const char *prefix, int n, int rows, int cols,
                        int classes, int salt) {
    gsize feat = (gsize)rows * cols;
    guint8 *img = g_new(guint8, (gsize)n * feat);
    guint8 *lab = g_new(guint8, n);
    for (int i = 0; i < n; i++) {
        lab[i] = (guint8)(i % classes);
        for (gsize k = 0; k < feat; k++)
            img[(gsize)i * feat + k] = (guint8)((k * 37 + (gsize)i * 11 + (gsize)salt) % 256);
    }
    char *ip = g_strdup_printf("%s/%s-images-idx3-ubyte", dir, prefix);
    char *lp = g_strdup_printf("%s/%s-labels-idx1-ubyte", dir, prefix);
    guint32 di[3] = {(guint32)n, (guint32)rows, (guint32)cols};
    guint32 dl[1] = {(guint32)n};
    oz_test_write_idx(ip, di, 3, img, FALSE);
    oz_test_write_idx(lp, dl, 1, lab, FALSE);
    g_free(ip);
    g_free(lp);
    g_free(img);
    g_free(lab);
}

void oz_test_write_dataset(const char *dir, int n_train, int n_test, int rows, int cols,
                           int classes) {
    write_split(dir, "train", n_train, rows, cols, classes, 0);
    write_split(dir, "t10k", n_test, rows, cols, classes, 5);
}

char *oz_test_write_file(const char *dir, const char *name, const char *text) {
    char *path = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    g_file_set_contents(path, text, -1, &err);
    g_assert_no_error(err);
    return path;
}

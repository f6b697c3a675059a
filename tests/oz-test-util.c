#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <gio/gio.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

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

/* ---- Running the program and reading its run log ---- */

const char *oz_test_bin(void) {
    const char *b = g_getenv("OZ_BIN");
    cr_assert_not_null(b, "meson sets OZ_BIN");
    return b;
}

int oz_test_runv(const char *const *args, char **err_out) {
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)oz_test_bin());
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    int status = 0;
    char *out = NULL, *err = NULL;
    GError *e = NULL;
    cr_assert(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                           &err, &status, &e),
              "%s", e ? e->message : "");
    g_ptr_array_free(argv, TRUE);
    g_free(out);
    if (err_out)
        *err_out = err;
    else
        g_free(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void args_add_valist(GPtrArray *args, const char *first, va_list ap) {
    /* Drop the terminator a previous oz_test_args_end left. */
    if (args->len > 0 && g_ptr_array_index(args, args->len - 1) == NULL)
        g_ptr_array_set_size(args, args->len - 1);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        g_ptr_array_add(args, (gpointer)a);
}

int oz_test_run(char **err_out, const char *first, ...) {
    GPtrArray *args = g_ptr_array_new();
    va_list ap;
    va_start(ap, first);
    args_add_valist(args, first, ap);
    va_end(ap);
    int code = oz_test_runv(oz_test_args_end(args), err_out);
    g_ptr_array_free(args, TRUE);
    return code;
}

GPtrArray *oz_test_args_new(const char *first, ...) {
    GPtrArray *args = g_ptr_array_new();
    va_list ap;
    va_start(ap, first);
    args_add_valist(args, first, ap);
    va_end(ap);
    return args;
}

void oz_test_args_add(GPtrArray *args, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    args_add_valist(args, first, ap);
    va_end(ap);
}

const char *const *oz_test_args_end(GPtrArray *args) {
    if (args->len == 0 || g_ptr_array_index(args, args->len - 1) != NULL)
        g_ptr_array_add(args, NULL);
    return (const char *const *)args->pdata;
}

static sqlite3_stmt *first_row(const char *db_path, const char *sql, sqlite3 **db) {
    cr_assert_eq(sqlite3_open_v2(db_path, db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s",
                 db_path);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(*db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(*db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    return st;
}

gint64 oz_test_q(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = first_row(db_path, sql, &db);
    gint64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

char *oz_test_qs(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = first_row(db_path, sql, &db);
    const unsigned char *t = sqlite3_column_text(st, 0);
    char *v = t ? g_strdup((const char *)t) : NULL;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

GBytes *oz_test_blob(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = first_row(db_path, sql, &db);
    GBytes *b = g_bytes_new(sqlite3_column_blob(st, 0), (gsize)sqlite3_column_bytes(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return b;
}

gint64 oz_test_q_try(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    gint64 v = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

int oz_test_runv_in(const char *cwd, const char *const *args, char **err_out) {
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)oz_test_bin());
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    int status = 0;
    char *out = NULL, *err = NULL;
    GError *e = NULL;
    cr_assert(g_spawn_sync(cwd, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                           &err, &status, &e),
              "%s", e ? e->message : "");
    g_ptr_array_free(argv, TRUE);
    g_free(out);
    if (err_out)
        *err_out = err;
    else
        g_free(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

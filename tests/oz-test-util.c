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

char *oz_test_tiny_scenario(const char *dir) {
    oz_test_write_dataset(dir, 4, 4, 2, 2, 2);
    return g_strdup_printf("[run]\nticks = 3\nbatch_size = 2\n"
                           "[data]\ndir = %s\nclasses = 2\n"
                           "[population in]\nmodel = input\nsize = 4\n"
                           "[population h]\nmodel = lif\nsize = 3\n"
                           "[population out]\nmodel = readout\nsize = 2\n"
                           "[projection a]\nfrom = in\nto = h\n"
                           "[projection b]\nfrom = h\nto = out\n",
                           dir);
}

char *oz_test_write_file(const char *dir, const char *name, const char *text) {
    char *path = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    g_file_set_contents(path, text, -1, &err);
    g_assert_no_error(err);
    return path;
}

void oz_test_spike_frame(OzFrame *f, int batch, int n, double p, float value, gboolean flip,
                         OzRng *rng) {
    f->kind = OZ_FRAME_SPIKES;
    f->value = value;
    f->indexed = FALSE;
    f->nspikes = 0;
    for (int b = 0; b < batch; b++) {
        int cnt = 0;
        for (int i = 0; i < n; i++) {
            float *si = &f->s[(gsize)b * n + i];
            gboolean hit = oz_rng_uniform(rng) < p;
            if (flip)
                *si = hit ? (*si != 0.0f ? 0.0f : value) : *si;
            else
                *si = hit ? value : 0.0f;
            cnt += *si != 0.0f;
        }
        f->counts[b] = cnt;
        f->nspikes += (guint64)cnt;
    }
}

/* ---- Running the program and reading its run log ---- */

const char *oz_test_bin(void) {
    const char *b = g_getenv("OZ_BIN");
    cr_assert_not_null(b, "meson sets OZ_BIN");
    return b;
}

/* The program's argument vector: its path, then args; free with g_ptr_array_free(, TRUE). */
static GPtrArray *program_argv(const char *const *args) {
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)oz_test_bin());
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    return argv;
}

static int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs the program in cwd (NULL: ours) with env added to our environment and waits;
 * standard output and error go to *out_out and *err_out where given. */
static int run_program(const char *cwd, const char *const *args, const char *const *env,
                       char **out_out, char **err_out) {
    GPtrArray *argv = program_argv(args);
    char **envp = g_get_environ();
    for (const char *const *e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        cr_assert_not_null(eq, "NAME=VALUE: %s", *e);
        g_autofree char *name = g_strndup(*e, (gsize)(eq - *e));
        envp = g_environ_setenv(envp, name, eq + 1, TRUE);
    }
    int status = 0;
    char *out = NULL, *err = NULL;
    GError *e = NULL;
    cr_assert(g_spawn_sync(cwd, (char **)argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, &out,
                           &err, &status, &e),
              "%s", e ? e->message : "");
    g_strfreev(envp);
    g_ptr_array_free(argv, TRUE);
    if (out_out)
        *out_out = out;
    else
        g_free(out);
    if (err_out)
        *err_out = err;
    else
        g_free(err);
    return exit_code(status);
}

int oz_test_runv_env(const char *const *args, const char *const *env, char **err_out) {
    return run_program(NULL, args, env, NULL, err_out);
}

int oz_test_runv(const char *const *args, char **err_out) {
    return run_program(NULL, args, NULL, NULL, err_out);
}

GPid oz_test_spawnv(const char *const *args) {
    GPtrArray *argv = program_argv(args);
    GPid pid = 0;
    GError *e = NULL;
    cr_assert(g_spawn_async(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                            &pid, &e),
              "%s", e ? e->message : "");
    g_ptr_array_free(argv, TRUE);
    return pid;
}

int oz_test_wait(GPid pid) {
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);
    return exit_code(status);
}

static void args_add_valist(GPtrArray *args, const char *first, va_list ap) {
    /* Drop the terminator a previous oz_test_args_end left. */
    if (args->len > 0 && g_ptr_array_index(args, args->len - 1) == NULL)
        g_ptr_array_set_size(args, args->len - 1);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        g_ptr_array_add(args, (gpointer)a);
}

/* Runs the program with the arguments first, … (NULL-terminated) and waits; standard
 * output and error go to *out and *err_out where given. */
static int run_valist(char **out, char **err_out, const char *first, va_list ap) {
    GPtrArray *args = g_ptr_array_new();
    args_add_valist(args, first, ap);
    int code = run_program(NULL, oz_test_args_end(args), NULL, out, err_out);
    g_ptr_array_free(args, TRUE);
    return code;
}

int oz_test_run(char **err_out, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    int code = run_valist(NULL, err_out, first, ap);
    va_end(ap);
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

void oz_test_args_addv(GPtrArray *args, const char *const *list) {
    if (args->len > 0 && g_ptr_array_index(args, args->len - 1) == NULL)
        g_ptr_array_set_size(args, args->len - 1);
    for (const char *const *a = list; *a; a++)
        g_ptr_array_add(args, (gpointer)*a);
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

int oz_test_exec(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK, "%s", db_path);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s: %s", db_path, sql, msg ? msg : "");
    int changed = sqlite3_changes(db);
    sqlite3_close(db);
    return changed;
}

int oz_test_runv_in(const char *cwd, const char *const *args, char **err_out) {
    return run_program(cwd, args, NULL, NULL, err_out);
}

/* ---- Comparing two run logs ---- */

const char *const oz_test_uncompared_columns[] = {
    "id",         "run_id", /* the same run may have another id in the other log */
    "started_at", "finished_at", "seconds", "peak_rss_kb", "log_seconds", /* wall clock */
    NULL};

static sqlite3 *open_ro(const char *path) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s", path);
    return db;
}

/* The compared columns of table, in schema order. */
static GPtrArray *compared_columns(sqlite3 *db, const char *path, const char *table) {
    g_autofree char *sql = g_strdup_printf("SELECT name FROM pragma_table_info('%s')", table);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", path,
                 sqlite3_errmsg(db));
    GPtrArray *cols = g_ptr_array_new_with_free_func(g_free);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!g_strv_contains(oz_test_uncompared_columns, name))
            g_ptr_array_add(cols, g_strdup(name));
    }
    sqlite3_finalize(st);
    cr_assert_gt(cols->len, 0, "%s has no table %s", path, table);
    return cols;
}

static char *join_columns(GPtrArray *cols) {
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < cols->len; i++)
        g_string_append_printf(s, "%s\"%s\"", i ? ", " : "", (char *)cols->pdata[i]);
    return g_string_free(s, FALSE);
}

/* A row as "col=value, …" for the failure message; blobs by size. */
static char *describe_row(sqlite3_stmt *st, GPtrArray *cols) {
    GString *s = g_string_new("(");
    for (guint c = 0; c < cols->len; c++) {
        g_string_append_printf(s, "%s%s=", c ? ", " : "", (char *)cols->pdata[c]);
        switch (sqlite3_column_type(st, (int)c)) {
        case SQLITE_NULL:
            g_string_append(s, "NULL");
            break;
        case SQLITE_INTEGER:
            g_string_append_printf(s, "%lld", (long long)sqlite3_column_int64(st, (int)c));
            break;
        case SQLITE_FLOAT:
            g_string_append_printf(s, "%.17g", sqlite3_column_double(st, (int)c));
            break;
        case SQLITE_BLOB:
            g_string_append_printf(s, "<blob of %d bytes>", sqlite3_column_bytes(st, (int)c));
            break;
        default: {
            const char *t = (const char *)sqlite3_column_text(st, (int)c);
            if (strlen(t) > 60)
                g_string_append_printf(s, "'%.60s…'", t);
            else
                g_string_append_printf(s, "'%s'", t);
        }
        }
    }
    g_string_append_c(s, ')');
    return g_string_free(s, FALSE);
}

/* Whether column c of the current rows of x and y holds the same value (reals and blobs
 * bit for bit); if not, what differs in *why (transfer full). */
static gboolean same_value(sqlite3_stmt *x, sqlite3_stmt *y, int c, char **why) {
    int tx = sqlite3_column_type(x, c), ty = sqlite3_column_type(y, c);
    if (tx != ty) {
        *why = g_strdup_printf("types %d and %d", tx, ty);
        return FALSE;
    }
    switch (tx) {
    case SQLITE_NULL:
        return TRUE;
    case SQLITE_INTEGER:
        return sqlite3_column_int64(x, c) == sqlite3_column_int64(y, c);
    case SQLITE_FLOAT: {
        double a = sqlite3_column_double(x, c), b = sqlite3_column_double(y, c);
        return memcmp(&a, &b, sizeof a) == 0;
    }
    default: {
        const guint8 *a = sqlite3_column_blob(x, c), *b = sqlite3_column_blob(y, c);
        int na = sqlite3_column_bytes(x, c), nb = sqlite3_column_bytes(y, c);
        if (na != nb) {
            *why = g_strdup_printf("%d bytes and %d bytes", na, nb);
            return FALSE;
        }
        for (int k = 0; k < na; k++)
            if (a[k] != b[k]) {
                *why = g_strdup_printf("first difference at byte %d of %d", k, na);
                return FALSE;
            }
        return TRUE;
    }
    }
}

/* Compares every row of table for run ra in a with those of run rb in b (ordered by every
 * compared column), failing at the first difference.  Returns the number of rows. */
static gint64 compare_table(sqlite3 *a, const char *path_a, gint64 ra, sqlite3 *b,
                            const char *path_b, gint64 rb, const char *table) {
    GPtrArray *cols = compared_columns(a, path_a, table);
    GPtrArray *cols_b = compared_columns(b, path_b, table);
    g_autofree char *list = join_columns(cols);
    g_autofree char *list_b = join_columns(cols_b);
    cr_assert_str_eq(list, list_b, "%s: the columns of %s differ between %s and %s", table, table,
                     path_a, path_b);
    g_ptr_array_free(cols_b, TRUE);
    const char *key = strcmp(table, "runs") == 0 ? "id" : "run_id";
    g_autofree char *sql =
        g_strdup_printf("SELECT %s FROM %s WHERE %s = ? ORDER BY %s", list, table, key, list);
    sqlite3_stmt *x = NULL, *y = NULL;
    cr_assert_eq(sqlite3_prepare_v2(a, sql, -1, &x, NULL), SQLITE_OK, "%s", sqlite3_errmsg(a));
    cr_assert_eq(sqlite3_prepare_v2(b, sql, -1, &y, NULL), SQLITE_OK, "%s", sqlite3_errmsg(b));
    sqlite3_bind_int64(x, 1, ra);
    sqlite3_bind_int64(y, 1, rb);
    gint64 rows = 0;
    for (;; rows++) {
        int sx = sqlite3_step(x), sy = sqlite3_step(y);
        if (sx != SQLITE_ROW || sy != SQLITE_ROW) {
            g_autofree char *extra = sx == SQLITE_ROW   ? describe_row(x, cols)
                                     : sy == SQLITE_ROW ? describe_row(y, cols)
                                                        : NULL;
            cr_assert(sx == SQLITE_DONE && sy == SQLITE_DONE,
                      "%s: %s has more rows than %s after %lld equal ones; the next: %s", table,
                      sx == SQLITE_ROW ? path_a : path_b, sx == SQLITE_ROW ? path_b : path_a,
                      (long long)rows, extra ? extra : "(a read error)");
            break;
        }
        for (guint c = 0; c < cols->len; c++) {
            g_autofree char *why = NULL;
            if (same_value(x, y, (int)c, &why))
                continue;
            g_autofree char *rx = describe_row(x, cols);
            g_autofree char *ry = describe_row(y, cols);
            cr_assert_fail("%s: row %lld differs in column %s%s%s%s\n  %s (run %lld): %s\n"
                           "  %s (run %lld): %s",
                           table, (long long)rows, (char *)cols->pdata[c], why ? " (" : "",
                           why ? why : "", why ? ")" : "", path_a, (long long)ra, rx, path_b,
                           (long long)rb, ry);
        }
    }
    sqlite3_finalize(x);
    sqlite3_finalize(y);
    g_ptr_array_free(cols, TRUE);
    return rows;
}

static void assert_tables_equal(const char *db_a, gint64 run_a, const char *db_b, gint64 run_b,
                                const char *const *tables) {
    sqlite3 *a = open_ro(db_a), *b = open_ro(db_b);
    for (const char *const *t = tables; *t; t++) {
        gint64 rows = compare_table(a, db_a, run_a, b, db_b, run_b, *t);
        cr_assert_gt(rows, 0, "%s holds no rows of run %lld in %s: nothing was compared", *t,
                     (long long)run_a, db_a);
    }
    sqlite3_close(a);
    sqlite3_close(b);
}

void oz_test_assert_logs_equal(const char *db_a, gint64 run_a, const char *db_b, gint64 run_b) {
    const char *const tables[] = {"runs",   "populations",  "projections", "epochs", "firing_rates",
                                  "synops", "training_ops", "grad_stats",  "spikes", "checkpoints",
                                  NULL};
    assert_tables_equal(db_a, run_a, db_b, run_b, tables);
}

void oz_test_assert_checkpoints_equal(const char *db_a, gint64 run_a, const char *db_b,
                                      gint64 run_b) {
    const char *const tables[] = {"checkpoints", NULL};
    assert_tables_equal(db_a, run_a, db_b, run_b, tables);
}

/* ---- The tiny-scenario fixture ---- */

char *oz_test_tiny_dir;
char *oz_test_tiny_text;

void oz_test_tiny_setup(void) {
    oz_test_tiny_dir = oz_test_tmpdir();
    oz_test_tiny_text = oz_test_tiny_scenario(oz_test_tiny_dir);
}

void oz_test_tiny_teardown(void) {
    oz_test_rmtree(oz_test_tiny_dir);
    g_free(oz_test_tiny_text);
}

/* ---- The program's standard output ---- */

int oz_test_run_out(char **out, char **err_out, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    int code = run_valist(out, err_out, first, ap);
    va_end(ap);
    return code;
}

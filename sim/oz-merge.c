/* oz-merge.c — `opzosim merge OUT.sqlite IN.sqlite...`: one run log from several (sweep
 * jobs run on several machines, say).
 *
 * Every input is opened as the study commands open a log: read-only, and migrated in
 * memory first when it is of an older schema version, so all inputs have this build's
 * columns before their rows are compared or copied.  Runs get new ids in input order and
 * every table with a run_id column follows its rows; energy_models is the union of the
 * inputs' models, and a model named twice with different values is refused (the joules of
 * one log's runs would silently change).  A table or column this build does not know (a
 * user's own) is copied too, so nothing is lost; views are this build's.
 *
 * OUT is written to a temporary file beside it and renamed at the end, so it is either
 * complete or absent; an existing OUT is refused unless --force.
 */
#include "sim/oz-study.h"

#include "io/oz-runlog.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* The columns of table in db's main schema, in order.  (transfer full) */
static GPtrArray *columns_of(sqlite3 *db, const char *table, GPtrArray *types) {
    GPtrArray *cols = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *sql = g_strdup_printf("PRAGMA main.table_info(\"%s\")", table);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW) {
            g_ptr_array_add(cols, g_strdup((const char *)sqlite3_column_text(st, 1)));
            if (types) {
                const char *t = (const char *)sqlite3_column_text(st, 2);
                g_ptr_array_add(types, g_strdup(t ? t : ""));
            }
        }
    sqlite3_finalize(st);
    return cols;
}

static gboolean has(GPtrArray *list, const char *s) {
    for (guint i = 0; i < list->len; i++)
        if (strcmp(list->pdata[i], s) == 0)
            return TRUE;
    return FALSE;
}

static gboolean sql_fail(GError **error, sqlite3 *db, const char *path, const char *what) {
    g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_FAILED, "merge: %s: %s: %s", path, what,
                sqlite3_errmsg(db));
    return FALSE;
}

/* Makes table exist in dst with every column src has (a table or column only src has is
 * created or added). */
static gboolean ensure_table(sqlite3 *dst, const char *out, OzStudy *src, const char *table,
                             GError **error) {
    g_autoptr(GPtrArray) have = columns_of(dst, table, NULL);
    if (have->len == 0) {
        sqlite3_stmt *st = NULL;
        char *create = NULL;
        if (sqlite3_prepare_v2(src->db, "SELECT sql FROM sqlite_master WHERE name = ?", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW)
                create = g_strdup((const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        int rc = create ? sqlite3_exec(dst, create, NULL, NULL, NULL) : SQLITE_ERROR;
        g_free(create);
        if (rc != SQLITE_OK)
            return sql_fail(error, dst, out, "cannot create a table of an input");
        return TRUE;
    }
    g_autoptr(GPtrArray) types = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) cols = columns_of(src->db, table, types);
    for (guint i = 0; i < cols->len; i++) {
        if (has(have, cols->pdata[i]))
            continue;
        g_autofree char *alter = g_strdup_printf("ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", table,
                                                 (char *)cols->pdata[i], (char *)types->pdata[i]);
        if (sqlite3_exec(dst, alter, NULL, NULL, NULL) != SQLITE_OK)
            return sql_fail(error, dst, out, "cannot add a column of an input");
    }
    return TRUE;
}

/* Copies every row of table from src to dst.  The runs table's id is left for dst to
 * assign, and the new id of each old one is put in ids; in other tables run_id goes
 * through ids.  Returns the number of rows copied through *copied. */
static gboolean copy_table(sqlite3 *dst, const char *out, OzStudy *src, const char *table,
                           GHashTable *ids, gint64 *copied, GError **error) {
    if (!ensure_table(dst, out, src, table, error))
        return FALSE;
    g_autoptr(GPtrArray) cols = columns_of(src->db, table, NULL);
    gboolean runs = strcmp(table, "runs") == 0;
    GString *sel = g_string_new("SELECT "), *ins = g_string_new(NULL), *qs = g_string_new(NULL);
    g_string_append_printf(ins, "INSERT INTO \"%s\"(", table);
    int run_col = -1, id_col = -1, n = 0;
    for (guint i = 0; i < cols->len; i++) {
        const char *c = cols->pdata[i];
        g_string_append_printf(sel, "%s\"%s\"", i ? ", " : "", c);
        if (runs && strcmp(c, "id") == 0) {
            id_col = (int)i;
            continue;
        }
        if (strcmp(c, "run_id") == 0)
            run_col = (int)i;
        g_string_append_printf(ins, "%s\"%s\"", n ? ", " : "", c);
        g_string_append(qs, n ? ", ?" : "?");
        n++;
    }
    g_string_append_printf(sel, " FROM \"%s\" ORDER BY rowid", table);
    g_string_append_printf(ins, ") VALUES(%s)", qs->str);
    sqlite3_stmt *from = NULL, *to = NULL;
    gboolean ok = TRUE;
    if (sqlite3_prepare_v2(src->db, sel->str, -1, &from, NULL) != SQLITE_OK)
        ok = sql_fail(error, src->db, src->path, "cannot read a table");
    else if (sqlite3_prepare_v2(dst, ins->str, -1, &to, NULL) != SQLITE_OK)
        ok = sql_fail(error, dst, out, "cannot prepare a copy");
    while (ok && sqlite3_step(from) == SQLITE_ROW) {
        sqlite3_reset(to);
        int k = 1;
        for (int i = 0; i < (int)cols->len; i++) {
            if (i == id_col)
                continue;
            if (i == run_col) {
                gint64 old = sqlite3_column_int64(from, i);
                gint64 *nid = g_hash_table_lookup(ids, &old);
                if (!nid) {
                    g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                                "merge: %s: a row of %s belongs to run %" G_GINT64_FORMAT
                                ", which is not in its runs table",
                                src->path, table, old);
                    ok = FALSE;
                    break;
                }
                sqlite3_bind_int64(to, k++, *nid);
            } else {
                sqlite3_bind_value(to, k++, sqlite3_column_value(from, i));
            }
        }
        if (ok && sqlite3_step(to) != SQLITE_DONE)
            ok = sql_fail(error, dst, out, "cannot copy a row");
        if (ok && runs) {
            gint64 *old = g_new(gint64, 1), *nid = g_new(gint64, 1);
            *old = sqlite3_column_int64(from, id_col);
            *nid = sqlite3_last_insert_rowid(dst);
            g_hash_table_insert(ids, old, nid);
        }
        if (ok)
            (*copied)++;
    }
    sqlite3_finalize(from);
    sqlite3_finalize(to);
    g_string_free(sel, TRUE);
    g_string_free(ins, TRUE);
    g_string_free(qs, TRUE);
    return ok;
}

/* Adds src's energy models to dst: a model dst lacks is copied, one it has must have the
 * same values in every column. */
static gboolean merge_energy_models(sqlite3 *dst, const char *out, OzStudy *src, GHashTable *origin,
                                    GError **error) {
    if (!ensure_table(dst, out, src, "energy_models", error))
        return FALSE;
    g_autoptr(GPtrArray) cols = columns_of(src->db, "energy_models", NULL);
    GString *sel = g_string_new("SELECT ");
    for (guint i = 0; i < cols->len; i++)
        g_string_append_printf(sel, "%s\"%s\"", i ? ", " : "", (char *)cols->pdata[i]);
    g_string_append(sel, " FROM energy_models ORDER BY rowid");
    g_autofree char *sel_sql = g_string_free(sel, FALSE);
    sqlite3_stmt *from = NULL, *same = NULL;
    gboolean ok = TRUE;
    if (sqlite3_prepare_v2(src->db, sel_sql, -1, &from, NULL) != SQLITE_OK)
        return sql_fail(error, src->db, src->path, "cannot read energy_models");
    while (ok && sqlite3_step(from) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(from, 0);
        /* One column at a time, so the message can name the one that differs. */
        for (guint i = 0; ok && i < cols->len; i++) {
            g_autofree char *q = g_strdup_printf(
                "SELECT (SELECT count(*) FROM energy_models WHERE model = ?1),"
                " (SELECT \"%s\" IS ?2 FROM energy_models WHERE model = ?1),"
                " (SELECT quote(\"%s\") FROM energy_models WHERE model = ?1), quote(?2)",
                (char *)cols->pdata[i], (char *)cols->pdata[i]);
            if (sqlite3_prepare_v2(dst, q, -1, &same, NULL) != SQLITE_OK) {
                ok = sql_fail(error, dst, out, "cannot compare energy_models");
                break;
            }
            sqlite3_bind_text(same, 1, model, -1, SQLITE_TRANSIENT);
            sqlite3_bind_value(same, 2, sqlite3_column_value(from, (int)i));
            sqlite3_step(same);
            gboolean present = sqlite3_column_int(same, 0) > 0;
            if (present && !sqlite3_column_int(same, 1)) {
                g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                            "merge: energy model '%s' differs between %s and %s: %s = %s in the "
                            "one and %s in the other; rename one of them "
                            "(UPDATE energy_models SET model = ... WHERE model = '%s')",
                            model, (char *)g_hash_table_lookup(origin, model), src->path,
                            (char *)cols->pdata[i], sqlite3_column_text(same, 2),
                            sqlite3_column_text(same, 3), model);
                ok = FALSE;
            }
            sqlite3_finalize(same);
            same = NULL;
            if (!present) {
                GString *ins = g_string_new("INSERT INTO energy_models(");
                for (guint c = 0; c < cols->len; c++)
                    g_string_append_printf(ins, "%s\"%s\"", c ? ", " : "", (char *)cols->pdata[c]);
                g_string_append(ins, ") VALUES(");
                for (guint c = 0; c < cols->len; c++)
                    g_string_append(ins, c ? ", ?" : "?");
                g_string_append(ins, ")");
                sqlite3_stmt *to = NULL;
                if (sqlite3_prepare_v2(dst, ins->str, -1, &to, NULL) == SQLITE_OK) {
                    for (guint c = 0; c < cols->len; c++)
                        sqlite3_bind_value(to, (int)c + 1, sqlite3_column_value(from, (int)c));
                    if (sqlite3_step(to) != SQLITE_DONE)
                        ok = sql_fail(error, dst, out, "cannot copy an energy model");
                } else {
                    ok = sql_fail(error, dst, out, "cannot copy an energy model");
                }
                sqlite3_finalize(to);
                g_string_free(ins, TRUE);
                g_hash_table_insert(origin, g_strdup(model), g_strdup(src->path));
                break;
            }
        }
    }
    sqlite3_finalize(from);
    return ok;
}

/* Merges the inputs into the database at tmp. */
static gboolean merge_into(const char *tmp, const char *out, char **inputs, int n_in,
                           gint64 *n_runs, GError **error) {
    sqlite3 *dst = NULL;
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        sql_fail(error, dst, out, "cannot create the output");
        sqlite3_close(dst);
        return FALSE;
    }
    /* The output's energy models are the inputs' (each input, migrated, has the built-in
     * ones unless its user removed them). */
    gboolean ok =
        oz_runlog_migrate(dst, out, error) &&
        sqlite3_exec(dst, "DELETE FROM energy_models; BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    g_autoptr(GHashTable) origin = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (int i = 0; ok && i < n_in; i++) {
        g_autoptr(OzStudy) src = oz_study_open(inputs[i], error);
        if (!src) {
            ok = FALSE;
            break;
        }
        g_autoptr(GHashTable) ids =
            g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
        gint64 copied = 0;
        ok = copy_table(dst, out, src, "runs", ids, &copied, error);
        *n_runs += copied;
        if (ok)
            ok = merge_energy_models(dst, out, src, origin, error);
        /* Then every other table, in the order the input created them. */
        sqlite3_stmt *t = NULL;
        if (ok && sqlite3_prepare_v2(src->db,
                                     "SELECT name FROM sqlite_master WHERE type = 'table' AND"
                                     " name NOT LIKE 'sqlite_%' AND name NOT IN ('runs',"
                                     " 'energy_models') ORDER BY rowid",
                                     -1, &t, NULL) != SQLITE_OK)
            ok = sql_fail(error, src->db, src->path, "cannot list its tables");
        while (ok && sqlite3_step(t) == SQLITE_ROW) {
            g_autofree char *table = g_strdup((const char *)sqlite3_column_text(t, 0));
            ok = copy_table(dst, out, src, table, ids, &copied, error);
        }
        sqlite3_finalize(t);
    }
    if (ok && sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        ok = sql_fail(error, dst, out, "cannot commit");
    if (sqlite3_close(dst) != SQLITE_OK && ok)
        ok = sql_fail(error, dst, out, "cannot close");
    return ok;
}

gboolean oz_merge_logs(const char *out, char **inputs, int n_in, gint64 *n_runs, GError **error) {
    g_autofree char *dir = g_path_get_dirname(out);
    g_autofree char *base = g_path_get_basename(out);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.%d.tmp", dir, base, (int)getpid());
    g_unlink(tmp);
    *n_runs = 0;
    gboolean ok = merge_into(tmp, out, inputs, n_in, n_runs, error);
    if (ok && g_rename(tmp, out) != 0) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_FAILED, "merge: cannot write %s: %s", out,
                    g_strerror(errno));
        ok = FALSE;
    }
    if (!ok) {
        g_unlink(tmp);
        g_autofree char *journal = g_strconcat(tmp, "-journal", NULL);
        g_unlink(journal);
    }
    return ok;
}

int oz_cmd_merge(int argc, char **argv) {
    gboolean force = FALSE;
    GOptionEntry entries[] = {
        {"force", 'f', 0, G_OPTION_ARG_NONE, &force, "Replace OUT if it exists", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("OUT.sqlite IN.sqlite... - merge run logs into a new one");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc < 3) {
        fprintf(stderr, "opzosim merge: %s\n",
                error ? error->message : "usage: opzosim merge OUT.sqlite IN.sqlite... [--force]");
        return 2;
    }
    const char *out = argv[1];
    if (g_file_test(out, G_FILE_TEST_EXISTS) && !force) {
        fprintf(stderr, "opzosim: error: merge: %s exists (--force replaces it)\n", out);
        return 2;
    }
    gint64 n_runs = 0;
    if (!oz_merge_logs(out, argv + 2, argc - 2, &n_runs, &error)) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return oz_study_exit_code(error);
    }
    printf("merged %" G_GINT64_FORMAT " runs from %d run logs into %s\n", n_runs, argc - 2, out);
    return 0;
}

/* oz-study.c — what the study commands share: opening a run log for reading (migrating an
 * older one in memory), choosing and naming runs, atomic file writes, exit codes; and the
 * `runs` command, which lists a log's runs.
 *
 * It never writes to the log it reads: a log of an older schema version is copied into an
 * in-memory database by SQLite's backup API and migrated there, so the commands can use
 * the views and columns of this build (training_energy, energy_models' training columns).
 */
#include "sim/oz-study.h"

#include "io/oz-runlog.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

// clang-format off
G_DEFINE_QUARK(oz-study-error-quark, oz_study_error)
// clang-format on

static void run_free(gpointer p) {
    OzStudyRun *r = p;
    g_free(r->name);
    g_free(r->label);
    g_free(r->scenario);
    g_free(r->rule);
    g_free(r->mode);
    g_free(r->status);
    g_free(r->sweep);
    g_free(r->started);
    g_free(r);
}

void oz_study_free(OzStudy *study) {
    if (!study)
        return;
    if (study->runs)
        g_ptr_array_free(study->runs, TRUE);
    sqlite3_close(study->db);
    g_free(study->path);
    g_free(study);
}

int oz_study_exit_code(const GError *error) {
    if (error->domain == OZ_STUDY_ERROR)
        return error->code == OZ_STUDY_ERROR_INPUT ? 2 : 1;
    /* A log of a newer schema is what the user gave. */
    if (error->domain == OZ_RUNLOG_ERROR)
        return error->code == OZ_RUNLOG_ERROR_VERSION ? 2 : 1;
    if (error->domain == G_FILE_ERROR || error->domain == G_OPTION_ERROR)
        return 2;
    return 1;
}

sqlite3_stmt *oz_study_prepare(OzStudy *study, const char *sql, GError **error) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(study->db, sql, -1, &st, NULL) != SQLITE_OK) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_FAILED, "run log %s: %s", study->path,
                    sqlite3_errmsg(study->db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

gboolean oz_study_each_run_rows(OzStudy *study, const char *sql, OzStudyRowFunc row, gpointer data,
                                GError **error) {
    sqlite3_stmt *st = oz_study_prepare(study, sql, error);
    if (!st)
        return FALSE;
    for (guint i = 0; i < study->runs->len; i++) {
        OzStudyRun *r = study->runs->pdata[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->id);
        while (sqlite3_step(st) == SQLITE_ROW)
            row(i, st, data);
    }
    sqlite3_finalize(st);
    return TRUE;
}

void oz_study_csv_field(GString *s, const char *v) {
    g_string_append_c(s, '"');
    for (const char *c = v; *c; c++) {
        if (*c == '"')
            g_string_append_c(s, '"');
        g_string_append_c(s, *c);
    }
    g_string_append_c(s, '"');
}

double oz_study_double(OzStudy *study, const char *sql, const gint64 *binds, int n) {
    sqlite3_stmt *st = NULL;
    double v = NAN;
    if (sqlite3_prepare_v2(study->db, sql, -1, &st, NULL) == SQLITE_OK) {
        for (int i = 0; i < n; i++)
            sqlite3_bind_int64(st, i + 1, binds[i]);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            v = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* TRUE if db answers a query on a runs table (a file that is not a database, or a database
 * without runs, is not a run log). */
static gboolean is_run_log(sqlite3 *db, const char *path, GError **error) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'", -1,
                                &st, NULL);
    gboolean found =
        rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    if (!found)
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT, "%s is not a run log: %s", path,
                    rc != SQLITE_OK ? sqlite3_errmsg(db) : "it has no runs table");
    sqlite3_finalize(st);
    return found;
}

OzStudy *oz_study_open(const char *path, GError **error) {
    g_autoptr(OzStudy) study = g_new0(OzStudy, 1);
    study->path = g_strdup(path);
    study->runs = g_ptr_array_new_with_free_func(run_free);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT, "run log %s: no such file", path);
        return NULL;
    }
    if (sqlite3_open_v2(path, &study->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT, "cannot open run log %s: %s", path,
                    study->db ? sqlite3_errmsg(study->db) : "out of memory");
        return NULL;
    }
    sqlite3_busy_timeout(study->db, 5000);
    if (!is_run_log(study->db, path, error))
        return NULL;
    int version = oz_runlog_schema_version(study->db);
    if (version > OZ_RUNLOG_SCHEMA_VERSION) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "run log %s: schema version %d is newer than this build's (%d): use a "
                    "newer opzosim",
                    path, version, OZ_RUNLOG_SCHEMA_VERSION);
        return NULL;
    }
    if (version < OZ_RUNLOG_SCHEMA_VERSION) {
        /* Migrate a copy: the user's file stays as it is. */
        sqlite3 *mem = NULL;
        sqlite3_open(":memory:", &mem);
        sqlite3_backup *b = sqlite3_backup_init(mem, "main", study->db, "main");
        int rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(mem);
        sqlite3_backup_finish(b);
        if (rc != SQLITE_DONE) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_FAILED,
                        "run log %s: cannot copy it to migrate it: %s", path, sqlite3_errmsg(mem));
            sqlite3_close(mem);
            return NULL;
        }
        sqlite3_close(study->db);
        study->db = mem;
        if (!oz_runlog_migrate(mem, path, error))
            return NULL;
    }
    return g_steal_pointer(&study);
}

/* [rule] name as the run ran: the parameters table if it has it, else the scenario text
 * with the overrides (SECTION.KEY=VALUE lines) applied, else the default, opzo. */
static char *run_rule(sqlite3 *db, gint64 id, const char *scenario, const char *overrides) {
    char *rule = oz_runlog_parameter(db, id, "rule", "name");
    if (rule)
        return rule;
    if (overrides) {
        g_auto(GStrv) lines = g_strsplit(overrides, "\n", -1);
        for (char **l = lines; *l; l++) {
            char *s = g_strstrip(*l);
            if (g_str_has_prefix(s, "rule.name=")) {
                g_free(rule);
                rule = g_strdup(s + strlen("rule.name="));
            }
        }
        if (rule)
            return rule;
    }
    if (scenario) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        if (g_key_file_load_from_data(kf, scenario, -1, G_KEY_FILE_NONE, NULL))
            rule = g_key_file_get_string(kf, "rule", "name", NULL);
        if (rule)
            return g_strstrip(rule);
    }
    return g_strdup("opzo");
}

static gboolean add_runs(OzStudy *study, const char *where, const char *arg, gint64 id,
                         GHashTable *seen, int *added, GError **error) {
    g_autofree char *sql = g_strdup_printf(
        "SELECT id, name, scenario_path, seed, scenario, overrides, mode, status, sweep,"
        " started_at FROM runs WHERE %s ORDER BY id",
        where);
    sqlite3_stmt *st = oz_study_prepare(study, sql, error);
    if (!st)
        return FALSE;
    if (arg) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (gint64)strlen(arg));
    } else if (id >= 0) {
        sqlite3_bind_int64(st, 1, id);
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        (*added)++;
        gint64 rid = sqlite3_column_int64(st, 0);
        if (g_hash_table_contains(seen, &rid))
            continue;
        OzStudyRun *r = g_new0(OzStudyRun, 1);
        r->id = rid;
        g_hash_table_add(seen, g_memdup2(&r->id, sizeof r->id));
        r->name = g_strdup((const char *)sqlite3_column_text(st, 1));
        const char *sp = (const char *)sqlite3_column_text(st, 2);
        r->scenario = sp ? g_path_get_basename(sp) : g_strdup(r->name);
        r->seed = sqlite3_column_int64(st, 3);
        r->rule = run_rule(study->db, rid, (const char *)sqlite3_column_text(st, 4),
                           (const char *)sqlite3_column_text(st, 5));
        const char *mode = (const char *)sqlite3_column_text(st, 6);
        r->mode = g_strdup(mode ? mode : "train");
        r->status = g_strdup((const char *)sqlite3_column_text(st, 7));
        r->sweep = g_strdup((const char *)sqlite3_column_text(st, 8));
        r->started = g_strdup((const char *)sqlite3_column_text(st, 9));
        g_ptr_array_add(study->runs, r);
    }
    sqlite3_finalize(st);
    return TRUE;
}

static gint compare_runs(gconstpointer a, gconstpointer b) {
    const OzStudyRun *x = *(OzStudyRun *const *)a, *y = *(OzStudyRun *const *)b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A legend's name for each run: its name, or — when two chosen runs share it — what tells
 * them apart: the part of a sweep tag after ": " (the swept values), else "#id". */
static void label_runs(OzStudy *study) {
    for (guint i = 0; i < study->runs->len; i++) {
        OzStudyRun *r = study->runs->pdata[i];
        gboolean shared = FALSE;
        for (guint j = 0; j < study->runs->len && !shared; j++) {
            OzStudyRun *o = study->runs->pdata[j];
            shared = j != i && g_strcmp0(o->name, r->name) == 0;
        }
        const char *swept = r->sweep ? strstr(r->sweep, ": ") : NULL;
        if (!shared)
            r->label = g_strdup(r->name);
        else if (swept)
            r->label = g_strdup(swept + 2);
        else
            r->label = g_strdup_printf("%s #%" G_GINT64_FORMAT, r->name, r->id);
    }
}

gboolean oz_study_select(OzStudy *study, char **run_args, const char *sweep, GError **error) {
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    for (char **a = run_args; a && *a; a++) {
        char *end = NULL;
        gint64 id = g_ascii_strtoll(*a, &end, 10);
        int added = 0;
        gboolean ok = *a[0] && *end == '\0'
                          ? add_runs(study, "id = ?1", NULL, id, seen, &added, error)
                          : add_runs(study, "name = ?1", *a, -1, seen, &added, error);
        if (!ok)
            return FALSE;
        if (added == 0) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                        "run log %s has no run %s (opzosim runs %s lists them)", study->path, *a,
                        study->path);
            return FALSE;
        }
    }
    if (sweep) {
        int added = 0;
        if (!add_runs(study, "substr(sweep, 1, ?2) = ?1", sweep, -1, seen, &added, error))
            return FALSE;
        if (added == 0) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                        "run log %s has no run of a sweep tagged '%s'", study->path, sweep);
            return FALSE;
        }
    }
    if ((!run_args || !*run_args) && !sweep) {
        int added = 0;
        if (!add_runs(study, "1", NULL, -1, seen, &added, error))
            return FALSE;
        if (added == 0) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT, "run log %s has no runs",
                        study->path);
            return FALSE;
        }
    }
    g_ptr_array_sort(study->runs, compare_runs);
    label_runs(study);
    return TRUE;
}

char *oz_study_title(const OzStudy *study) {
    g_autoptr(GPtrArray) scen = g_ptr_array_new();
    g_autoptr(GArray) seeds = g_array_new(FALSE, FALSE, sizeof(gint64));
    for (guint i = 0; i < study->runs->len; i++) {
        OzStudyRun *r = study->runs->pdata[i];
        gboolean have = FALSE;
        for (guint j = 0; j < scen->len && !have; j++)
            have = strcmp(scen->pdata[j], r->scenario) == 0;
        if (!have)
            g_ptr_array_add(scen, r->scenario);
        have = FALSE;
        for (guint j = 0; j < seeds->len && !have; j++)
            have = g_array_index(seeds, gint64, j) == r->seed;
        if (!have)
            g_array_append_val(seeds, r->seed);
    }
    GString *t = g_string_new(NULL);
    for (guint j = 0; j < scen->len; j++) {
        if (j == 3) {
            g_string_append_printf(t, " and %u more", scen->len - 3);
            break;
        }
        g_string_append_printf(t, "%s%s", j ? ", " : "", (char *)scen->pdata[j]);
    }
    g_string_append(t, seeds->len > 1 ? ", seeds " : ", seed ");
    for (guint j = 0; j < seeds->len; j++)
        g_string_append_printf(t, "%s%" G_GINT64_FORMAT, j ? ", " : "",
                               g_array_index(seeds, gint64, j));
    return g_string_free(t, FALSE);
}

gboolean oz_study_write_file(const char *path, const char *data, gsize len, GError **error) {
    /* g_file_set_contents writes a temporary file beside path and renames it. */
    if (!g_file_set_contents(path, data, (gssize)len, error)) {
        g_prefix_error(error, "cannot write %s: ", path);
        return FALSE;
    }
    return TRUE;
}

/* ---- opzosim runs DB ---- */

int oz_cmd_runs(int argc, char **argv) {
    g_autoptr(GOptionContext) ctx = g_option_context_new("DB - list the runs of a run log");
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2) {
        fprintf(stderr, "opzosim runs: %s\n", error ? error->message : "usage: opzosim runs DB");
        return 2;
    }
    g_autoptr(OzStudy) study = oz_study_open(argv[1], &error);
    if (!study || !oz_study_select(study, NULL, NULL, &error)) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return oz_study_exit_code(error);
    }
    printf("%4s  %-28s %-5s %-11s %6s %8s  %-20s %s\n", "id", "name", "rule", "status", "epochs",
           "best_acc", "started", "sweep");
    for (guint i = 0; i < study->runs->len; i++) {
        OzStudyRun *r = study->runs->pdata[i];
        gint64 b[] = {r->id};
        double epochs = oz_study_double(
            study, "SELECT count(DISTINCT epoch) FROM epochs WHERE run_id = ?1", b, 1);
        double best = oz_study_double(
            study, "SELECT max(accuracy) FROM epochs WHERE run_id = ?1 AND phase = 'test'", b, 1);
        char acc[32] = "-";
        if (!isnan(best))
            g_snprintf(acc, sizeof acc, "%.2f%%", 100.0 * best);
        printf("%4" G_GINT64_FORMAT "  %-28s %-5s %-11s %6.0f %8s  %-20s %s\n", r->id, r->name,
               r->rule, r->status, epochs, acc, r->started ? r->started : "",
               r->sweep ? r->sweep : "");
    }
    return 0;
}

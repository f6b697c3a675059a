/* oz-report.c — `opzosim report`: the tables of a study, the chosen runs side by side (one
 * column per run), as text, Markdown, CSV or one self-contained HTML page with the SVG
 * figures of `opzosim plot` inlined.
 *
 * Tables: the runs; accuracy (final and best test accuracy, seconds per epoch); firing
 * rate per population (last epoch); SynOps and dense MACs per sample per projection, for
 * inference (test phase) and training (training phase), last epoch; training operations
 * per sample by kind (forward SynOps, dense MACs, feedback MACs, weight updates: the
 * paper's Table 5 measured); joules per sample under each hardware model, inference and
 * training, marked where the model lacks an energy for some operation.
 *
 * Every number is read from the log here, with the same SQL a user would write
 * (docs/QUERIES.md); nothing is estimated.
 */
#include "sim/oz-study.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

typedef struct {
    char *key;
    double *vals;      /* one per run, NAN when the run has none */
    gboolean *partial; /* one per run: the value leaves out some operation */
} Row;

typedef struct {
    char *title;
    const char *fmt; /* printf format of a value in text and Markdown */
    GPtrArray *rows; /* of Row * */
    char *note;
} Table;

typedef struct {
    OzStudy *study;
    guint nruns;
    GPtrArray *tables; /* of Table * */
} Report;

static void row_free(gpointer p) {
    Row *r = p;
    g_free(r->key);
    g_free(r->vals);
    g_free(r->partial);
    g_free(r);
}

static void table_free(gpointer p) {
    Table *t = p;
    g_free(t->title);
    g_free(t->note);
    g_ptr_array_free(t->rows, TRUE);
    g_free(t);
}

static Table *table_new(Report *rep, const char *title, const char *fmt) {
    Table *t = g_new0(Table, 1);
    t->title = g_strdup(title);
    t->fmt = fmt;
    t->rows = g_ptr_array_new_with_free_func(row_free);
    g_ptr_array_add(rep->tables, t);
    return t;
}

/* Sets the value of run i in the row named key (made at the end when new). */
static void put(Report *rep, Table *t, const char *key, guint i, double v, gboolean partial) {
    Row *row = NULL;
    for (guint k = 0; k < t->rows->len && !row; k++)
        if (strcmp(((Row *)t->rows->pdata[k])->key, key) == 0)
            row = t->rows->pdata[k];
    if (!row) {
        row = g_new0(Row, 1);
        row->key = g_strdup(key);
        row->vals = g_new(double, rep->nruns);
        row->partial = g_new0(gboolean, rep->nruns);
        for (guint k = 0; k < rep->nruns; k++)
            row->vals[k] = NAN;
        g_ptr_array_add(t->rows, row);
    }
    row->vals[i] = v;
    row->partial[i] = partial;
}

static OzStudyRun *run_at(const Report *rep, guint i) {
    return rep->study->runs->pdata[i];
}

/* A table being filled: where fill_row puts a row. */
typedef struct {
    Report *rep;
    Table *t;
} Fill;

/* One result row (key, value[, partial]) as the value of run i; a NULL value is none. */
static void fill_row(guint i, sqlite3_stmt *st, gpointer data) {
    Fill *fl = data;
    if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        return;
    gboolean partial = sqlite3_column_count(st) > 2 && sqlite3_column_int(st, 2) == 0;
    put(fl->rep, fl->t, (const char *)sqlite3_column_text(st, 0), i, sqlite3_column_double(st, 1),
        partial);
}

/* Runs sql once per run (?1 = the run id); each result row is (key, value[, partial]). */
static gboolean fill(Report *rep, Table *t, const char *sql, GError **error) {
    Fill fl = {rep, t};
    return oz_study_each_run_rows(rep->study, sql, fill_row, &fl, error);
}

/* The report's tables in order: title, printf format of a value, a note under the table
 * (or NULL), and the queries that fill its rows (NULL-terminated), each run once per run
 * with ?1 the run id, each result row (key, value[, partial]). */
typedef struct {
    const char *title, *fmt, *note;
    const char *const sql[8];
} TableSpec;

static const TableSpec table_specs[] = {
    {"Accuracy and time",
     "%.4g",
     NULL,
     /* The last epoch's test accuracy, the best one and its epoch, seconds per epoch. */
     {"SELECT 'final test accuracy (%)', 100 * accuracy FROM epochs WHERE run_id = ?1"
      " AND phase = 'test' ORDER BY epoch DESC LIMIT 1",
      "SELECT 'best test accuracy (%)', 100 * accuracy FROM epochs WHERE run_id = ?1"
      " AND phase = 'test' ORDER BY accuracy DESC, epoch LIMIT 1",
      "SELECT 'epoch of the best test accuracy', epoch FROM epochs WHERE run_id = ?1"
      " AND phase = 'test' ORDER BY accuracy DESC, epoch LIMIT 1",
      "SELECT 'final train accuracy (%)', 100 * accuracy FROM epochs WHERE run_id = ?1"
      " AND phase = 'train' ORDER BY epoch DESC LIMIT 1",
      "SELECT 'epochs', count(*) FROM epochs WHERE run_id = ?1 AND phase = 'test'",
      "SELECT 'seconds per training epoch', avg(seconds) FROM epochs WHERE run_id = ?1"
      " AND phase = 'train' HAVING count(*) > 0",
      "SELECT 'seconds per test epoch', avg(seconds) FROM epochs WHERE run_id = ?1"
      " AND phase = 'test' HAVING count(*) > 0",
      NULL}},
    {"Firing rate per population (spikes / neuron / tick, last epoch)",
     "%.4g",
     NULL,
     {"SELECT f.population || ' ' || CASE f.phase WHEN 'test' THEN 'inference' ELSE"
      " 'training' END, f.rate FROM firing_rates f JOIN populations p ON p.run_id ="
      " f.run_id AND p.name = f.population WHERE f.run_id = ?1 AND f.rate IS NOT NULL"
      " AND f.epoch = (SELECT max(epoch) FROM firing_rates WHERE run_id = ?1 AND"
      " phase = f.phase) ORDER BY p.topo, f.phase DESC",
      NULL}},
    {"SynOps and dense MACs per sample per projection (last epoch)",
     "%.4g",
     NULL,
     {"SELECT s.projection || ' ' || CASE s.phase WHEN 'test' THEN 'inference' ELSE"
      " 'training' END || ' ' || k.kind, CASE k.kind WHEN 'SynOps' THEN s.synops ELSE"
      " s.dense_macs END * 1.0 / s.samples FROM synops s JOIN (SELECT 'SynOps' AS kind"
      " UNION ALL SELECT 'dense MACs') k LEFT JOIN projections p ON p.run_id = s.run_id"
      " AND p.name = s.projection WHERE s.run_id = ?1 AND s.samples > 0 AND s.epoch ="
      " (SELECT max(epoch) FROM synops WHERE run_id = ?1 AND phase = s.phase)"
      " ORDER BY s.phase, p.rowid, k.kind DESC",
      NULL}},
    {"Training operations per sample by kind (last training epoch)",
     "%.4g",
     NULL,
     {"WITH last AS (SELECT max(epoch) AS e FROM synops WHERE run_id = ?1 AND"
      "  phase = 'train'),"
      " s AS (SELECT max(samples) AS n, sum(synops) AS syn, sum(dense_macs) AS mac,"
      "  sum(update_ops) AS upd FROM synops, last WHERE run_id = ?1 AND phase = 'train'"
      "  AND epoch = last.e),"
      " fb AS (SELECT IFNULL(sum(feedback_macs), 0) AS fb FROM training_ops, last"
      "  WHERE run_id = ?1 AND epoch = last.e)"
      " SELECT k, CASE o WHEN 1 THEN s.syn WHEN 2 THEN s.mac WHEN 3 THEN fb.fb"
      "  WHEN 4 THEN s.upd ELSE s.syn + s.mac + fb.fb + s.upd END * 1.0 / s.n"
      " FROM s, fb, (SELECT 'forward SynOps' AS k, 1 AS o"
      "  UNION ALL SELECT 'dense MACs', 2 UNION ALL SELECT 'feedback MACs', 3"
      "  UNION ALL SELECT 'weight updates', 4 UNION ALL SELECT 'total', 5) kinds"
      " WHERE s.n > 0 ORDER BY o",
      NULL}},
    {"Energy per sample (J), last epoch",
     "%.3g",
     "* the model has no energy for some operation the run performed (it "
     "counts as zero): a lower bound",
     {"SELECT model || ' inference', joules_per_sample, covers_all_ops FROM energy"
      " WHERE run_id = ?1 AND phase = 'test' AND epoch = (SELECT max(epoch) FROM"
      " energy WHERE run_id = ?1 AND phase = 'test') ORDER BY model",
      "SELECT model || ' training', joules_per_sample, covers_all_ops FROM"
      " training_energy WHERE run_id = ?1 AND epoch = (SELECT max(epoch) FROM"
      " training_energy WHERE run_id = ?1) ORDER BY model",
      NULL}},
};

static gboolean build(Report *rep, GError **error) {
    for (gsize k = 0; k < G_N_ELEMENTS(table_specs); k++) {
        const TableSpec *ts = &table_specs[k];
        Table *t = table_new(rep, ts->title, ts->fmt);
        t->note = g_strdup(ts->note);
        for (const char *const *q = ts->sql; *q; q++)
            if (!fill(rep, t, *q, error))
                return FALSE;
    }
    return TRUE;
}

/* ---- Output ---- */

static char *value_text(const Table *t, const Row *r, guint i) {
    if (isnan(r->vals[i]))
        return g_strdup("-");
    g_autofree char *v = g_strdup_printf(t->fmt, r->vals[i]);
    return g_strdup_printf("%s%s", v, r->partial[i] ? "*" : "");
}

static void out_text(const Report *rep, GString *s, gboolean markdown) {
    for (guint k = 0; k < rep->tables->len; k++) {
        const Table *t = rep->tables->pdata[k];
        if (t->rows->len == 0)
            continue;
        /* Column widths: the key column, then one per run. */
        gsize w0 = strlen("quantity");
        g_autofree gsize *w = g_new0(gsize, rep->nruns);
        for (guint i = 0; i < rep->nruns; i++)
            w[i] = g_utf8_strlen(run_at(rep, i)->label, -1);
        for (guint j = 0; j < t->rows->len; j++) {
            const Row *r = t->rows->pdata[j];
            w0 = MAX(w0, strlen(r->key));
            for (guint i = 0; i < rep->nruns; i++) {
                g_autofree char *v = value_text(t, r, i);
                w[i] = MAX(w[i], strlen(v));
            }
        }
        g_string_append_printf(s, markdown ? "### %s\n\n" : "%s\n", t->title);
        const char *sep = markdown ? " | " : "  ";
        g_string_append_printf(s, "%s%-*s", markdown ? "| " : "", (int)w0, "quantity");
        for (guint i = 0; i < rep->nruns; i++)
            g_string_append_printf(s, "%s%*s", sep, (int)w[i], run_at(rep, i)->label);
        g_string_append(s, markdown ? " |\n" : "\n");
        if (markdown) {
            g_string_append(s, "|");
            for (gsize c = 0; c < w0 + 2; c++)
                g_string_append_c(s, '-');
            for (guint i = 0; i < rep->nruns; i++) {
                g_string_append(s, "|");
                for (gsize c = 0; c < w[i] + 1; c++)
                    g_string_append_c(s, '-');
                g_string_append_c(s, ':');
            }
            g_string_append(s, "|\n");
        }
        for (guint j = 0; j < t->rows->len; j++) {
            const Row *r = t->rows->pdata[j];
            g_string_append_printf(s, "%s%-*s", markdown ? "| " : "", (int)w0, r->key);
            for (guint i = 0; i < rep->nruns; i++) {
                g_autofree char *v = value_text(t, r, i);
                g_string_append_printf(s, "%s%*s", sep, (int)w[i], v);
            }
            g_string_append(s, markdown ? " |\n" : "\n");
        }
        if (t->note)
            g_string_append_printf(s, markdown ? "\n%s\n" : "%s\n", t->note);
        g_string_append(s, "\n");
    }
}

/* One line per value: table, quantity, run_id, run, value (all digits), partial. */
static void out_csv(const Report *rep, GString *s) {
    g_string_append(s, "table,quantity,run_id,run,value,partial\n");
    for (guint k = 0; k < rep->tables->len; k++) {
        const Table *t = rep->tables->pdata[k];
        for (guint j = 0; j < t->rows->len; j++) {
            const Row *r = t->rows->pdata[j];
            for (guint i = 0; i < rep->nruns; i++) {
                if (isnan(r->vals[i]))
                    continue;
                oz_study_csv_field(s, t->title);
                g_string_append_c(s, ',');
                oz_study_csv_field(s, r->key);
                g_string_append_printf(s, ",%" G_GINT64_FORMAT ",", run_at(rep, i)->id);
                oz_study_csv_field(s, run_at(rep, i)->label);
                g_string_append_printf(s, ",%.17g,%d\n", r->vals[i], r->partial[i]);
            }
        }
    }
}

static void html_escape(GString *s, const char *v) {
    g_autofree char *e = g_markup_escape_text(v, -1);
    g_string_append(s, e);
}

static gboolean out_html(const Report *rep, GString *s, GError **error) {
    g_autofree char *title = oz_study_title(rep->study);
    g_string_append(s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<title>");
    html_escape(s, title);
    g_string_append(s, "</title>\n<style>\nbody{font-family:sans-serif;margin:2em;max-width:"
                       "1200px}\ntable{border-collapse:collapse;margin:1em 0}\n"
                       "td,th{border:1px solid #bbb;padding:2px 8px}\ntd.v{text-align:right;"
                       "font-variant-numeric:tabular-nums}\nsvg{max-width:100%;height:auto}\n"
                       "</style>\n</head>\n<body>\n<h1>");
    html_escape(s, title);
    g_string_append(s, "</h1>\n");
    for (guint k = 0; k < rep->tables->len; k++) {
        const Table *t = rep->tables->pdata[k];
        if (t->rows->len == 0)
            continue;
        g_string_append(s, "<h2>");
        html_escape(s, t->title);
        g_string_append(s, "</h2>\n<table>\n<tr><th>quantity</th>");
        for (guint i = 0; i < rep->nruns; i++) {
            g_string_append(s, "<th>");
            html_escape(s, run_at(rep, i)->label);
            g_string_append(s, "</th>");
        }
        g_string_append(s, "</tr>\n");
        for (guint j = 0; j < t->rows->len; j++) {
            const Row *r = t->rows->pdata[j];
            g_string_append(s, "<tr><td>");
            html_escape(s, r->key);
            g_string_append(s, "</td>");
            for (guint i = 0; i < rep->nruns; i++) {
                g_autofree char *v = value_text(t, r, i);
                g_string_append(s, "<td class=\"v\">");
                html_escape(s, v);
                g_string_append(s, "</td>");
            }
            g_string_append(s, "</tr>\n");
        }
        g_string_append(s, "</table>\n");
        if (t->note) {
            g_string_append(s, "<p>");
            html_escape(s, t->note);
            g_string_append(s, "</p>\n");
        }
    }
    /* The figures, drawn as SVG into a temporary folder and inlined (without their XML
     * declaration), so the page needs no other file.  A kind with nothing to draw (no
     * gradient statistics, no recorded spikes) is left out with a line saying why. */
    g_autofree char *dir = g_dir_make_tmp("opzosim-report-XXXXXX", error);
    if (!dir)
        return FALSE;
    static const char *const kinds[] = {"curves", "rates", "energy", "ops", "grad", "raster"};
    g_string_append(s, "<h2>Figures</h2>\n");
    gboolean ok = TRUE;
    for (gsize k = 0; k < G_N_ELEMENTS(kinds) && ok; k++) {
        if (strcmp(kinds[k], "raster") == 0 && rep->nruns != 1)
            continue;
        g_autofree char *path = g_strdup_printf("%s/%s.svg", dir, kinds[k]);
        OzPlotOptions opt = {.kind = kinds[k], .epoch = -1, .phase = NULL, .sample = -1};
        g_autoptr(GError) err = NULL;
        if (!oz_plot_draw(rep->study, &opt, path, NULL, &err)) {
            if (err->domain != OZ_STUDY_ERROR || err->code != OZ_STUDY_ERROR_INPUT) {
                g_propagate_error(error, g_steal_pointer(&err));
                ok = FALSE;
                break;
            }
            g_string_append_printf(s, "<p>No %s figure: ", kinds[k]);
            html_escape(s, err->message);
            g_string_append(s, "</p>\n");
            continue;
        }
        g_autofree char *svg = NULL;
        if (!g_file_get_contents(path, &svg, NULL, error)) {
            ok = FALSE;
            break;
        }
        g_unlink(path);
        const char *start = strstr(svg, "<svg");
        g_string_append_printf(s, "<figure id=\"%s\">\n%s\n</figure>\n", kinds[k],
                               start ? start : svg);
    }
    g_rmdir(dir);
    g_string_append(s, "</body>\n</html>\n");
    return ok;
}

int oz_cmd_report(int argc, char **argv) {
    g_auto(GStrv) run_args = NULL;
    g_autofree char *sweep = NULL, *format = NULL, *out = NULL;
    GOptionEntry entries[] = {
        {"run", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &run_args,
         "A run, by id or name (repeat for more; default: every run)", "ID|NAME"},
        {"sweep", 0, 0, G_OPTION_ARG_STRING, &sweep, "The runs of a sweep (tag prefix)", "TAG"},
        {"format", 0, 0, G_OPTION_ARG_STRING, &format,
         "text (default), markdown, csv or html (a page with the tables and figures)", "FORMAT"},
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Write to FILE (default: standard output)",
         "FILE"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("DB - the tables of a study");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2) {
        fprintf(stderr, "opzosim report: %s\n",
                error ? error->message
                      : "usage: opzosim report DB [--run ID|NAME]... [--sweep TAG] "
                        "[--format text|markdown|csv|html] [--out FILE]");
        return 2;
    }
    const char *fmt = format ? format : "text";
    if (strcmp(fmt, "text") != 0 && strcmp(fmt, "markdown") != 0 && strcmp(fmt, "csv") != 0 &&
        strcmp(fmt, "html") != 0) {
        fprintf(stderr,
                "opzosim: error: report --format %s: expected text, markdown, csv or "
                "html\n",
                fmt);
        return 2;
    }
    g_autoptr(OzStudy) study = oz_study_open(argv[1], &error);
    if (!study || !oz_study_select(study, run_args, sweep, &error)) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return oz_study_exit_code(error);
    }
    Report rep = {.study = study,
                  .nruns = study->runs->len,
                  .tables = g_ptr_array_new_with_free_func(table_free)};
    GString *s = g_string_new(NULL);
    gboolean ok = build(&rep, &error);
    if (ok) {
        if (strcmp(fmt, "csv") == 0)
            out_csv(&rep, s);
        else if (strcmp(fmt, "html") == 0)
            ok = out_html(&rep, s, &error);
        else
            out_text(&rep, s, strcmp(fmt, "markdown") == 0);
    }
    if (ok && out)
        ok = oz_study_write_file(out, s->str, s->len, &error);
    else if (ok)
        fwrite(s->str, 1, s->len, stdout);
    g_string_free(s, TRUE);
    g_ptr_array_free(rep.tables, TRUE);
    if (!ok) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return oz_study_exit_code(error);
    }
    return 0;
}

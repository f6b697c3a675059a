/* oz-study.h — reading run logs for studies: the commands `plot`, `report`, `runs` and
 * `merge`, and what they share (opening a log of any schema version read-only, choosing
 * runs by id, name or sweep tag, naming them in legends and titles, writing a file
 * atomically).
 *
 * None of this writes to a run log it reads.  A log of an older schema version is copied
 * into memory and migrated there (io/oz-runlog.h), so the views of this build exist.
 *
 * Errors: OZ_STUDY_ERROR_INPUT is what the user gave (a missing file or run, a table with
 * nothing to draw, an option out of range): exit 2.  OZ_STUDY_ERROR_FAILED is a failure
 * while working (SQLite, the plotting library, the disk): exit 1.
 */
#pragma once

#include <glib.h>
#include <sqlite3.h>
#include <stdio.h>

#define OZ_STUDY_ERROR (oz_study_error_quark())
GQuark oz_study_error_quark(void);

typedef enum { OZ_STUDY_ERROR_INPUT, OZ_STUDY_ERROR_FAILED } OzStudyError;

/* One run of a log, as the commands name it. */
typedef struct {
    gint64 id;
    char *name;
    char *label;    /* the legend's name: the run name, made unique among the chosen runs */
    char *scenario; /* the scenario file's base name, or the run name */
    gint64 seed;
    char *rule; /* [rule] name as it ran (the overrides applied) */
    char *mode; /* train or infer */
    char *status;
    char *sweep; /* the sweep tag, or NULL */
    char *started;
} OzStudyRun;

typedef struct {
    sqlite3 *db; /* read-only, or an in-memory migrated copy */
    char *path;
    GPtrArray *runs; /* of OzStudyRun *: the chosen runs, in id order */
} OzStudy;

/* Opens the run log at path for reading.  (transfer full) */
OzStudy *oz_study_open(const char *path, GError **error);
void oz_study_free(OzStudy *study);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzStudy, oz_study_free)

/* Chooses runs: each of run_args is an id or a name (a name chooses every run of that
 * name); sweep chooses the runs whose sweep tag starts with it.  With neither, every run
 * of the log.  A run or tag that matches nothing is an input error naming it. */
gboolean oz_study_select(OzStudy *study, char **run_args, const char *sweep, GError **error);

/* "scenario, seed N" for one scenario and seed, else the lists: a figure's title.
 * (transfer full) */
char *oz_study_title(const OzStudy *study);

/* Runs sql with the integers of binds (n of them) bound to ?1…, and returns the first
 * column of the first row as a double (NAN when there is no row or it is NULL). */
double oz_study_double(OzStudy *study, const char *sql, const gint64 *binds, int n);

/* Prepares sql, or sets a FAILED error naming the log. */
sqlite3_stmt *oz_study_prepare(OzStudy *study, const char *sql, GError **error);

/* What a study command does with one result row of a query about the chosen run at index
 * run (into study->runs). */
typedef void (*OzStudyRowFunc)(guint run, sqlite3_stmt *st, gpointer data);
/* Prepares sql and runs it once per chosen run, in order, with ?1 bound to the run's id,
 * passing each result row to row; FALSE with a FAILED error when sql does not prepare. */
gboolean oz_study_each_run_rows(OzStudy *study, const char *sql, OzStudyRowFunc row, gpointer data,
                                GError **error);

/* Appends v to s as a quoted CSV field (a quote inside doubled), without a separator. */
void oz_study_csv_field(GString *s, const char *v);

/* Writes len bytes of data to path through a temporary file in the same folder, renamed
 * over path at the end, so a reader never sees half a file. */
gboolean oz_study_write_file(const char *path, const char *data, gsize len, GError **error);

/* The exit code of an error of these commands: 2 for the user's input, 1 otherwise. */
int oz_study_exit_code(const GError *error);

/* The commands (argv[0] is the command's name); each returns the exit code. */
int oz_cmd_plot(int argc, char **argv);
int oz_cmd_report(int argc, char **argv);
int oz_cmd_runs(int argc, char **argv);
int oz_cmd_merge(int argc, char **argv);
/* Merges the run logs inputs into out (runs renumbered in input order), replacing out at
 * the end by a rename, so out is whole or unchanged; out may be one of the inputs.  The
 * core of `merge`; `sweep` under MPI merges its ranks' logs with it. */
gboolean oz_merge_logs(const char *out, char **inputs, int n_in, gint64 *n_runs, GError **error);

/* What `plot` draws: kind is curves, raster, rates, energy, grad, ops or levels; the
 * raster's sample is chosen by epoch, phase and sample (−1 and NULL: the newest recorded);
 * levels puts each run at the value of the scenario key x (SECTION.KEY) and groups runs
 * into lines by the keys of by (comma-separated; NULL: rule.name). */
typedef struct {
    const char *kind;
    int epoch;
    const char *phase;
    gint64 sample;
    const char *x;
    const char *by;
} OzPlotOptions;

/* Draws a figure of the chosen runs of study into path (.png, .svg or .pdf, written
 * atomically) and, when csv_path is set, writes the plotted numbers there (one row per
 * point: run_id, run, panel, series, x, y, note).  Nothing to draw (no run with rows in
 * the tables the kind reads) is an input error, and then no file is written. */
gboolean oz_plot_draw(OzStudy *study, const OzPlotOptions *options, const char *path,
                      const char *csv_path, GError **error);

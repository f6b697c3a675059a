/* oz-test-util.h — helpers shared by the tests: temporary folders and small IDX data
 * sets made on the fly (so the suite needs no download), random spike frames, running
 * the program and comparing run logs. */
#pragma once

#include "engine/oz-rng.h"
#include "neurons/oz-population.h"

#include <glib.h>

/* A fresh folder under $TMPDIR; (transfer full). */
char *oz_test_tmpdir(void);
/* Removes a folder made by oz_test_tmpdir, with everything in it, and frees the name. */
void oz_test_rmtree(char *dir);
/* Writes an IDX uint8 file with the given dims; gzip-compressed when gz. */
void oz_test_write_idx(const char *path, const guint32 *dims, int ndims, const guint8 *data,
                       gboolean gz);
/* Writes {train,t10k}-{images-idx3,labels-idx1}-ubyte into dir: n_train / n_test
 * images of rows×cols, with a deterministic pattern and labels (i % classes). */
void oz_test_write_dataset(const char *dir, int n_train, int n_test, int rows, int cols,
                           int classes);
/* Writes a 2×2-pixel, 2-class data set into dir and returns the text of a tiny scenario
 * over it: in (4) → h (lif, 3) → out (readout, 2), projections a and b.  The scenario
 * unit tests add sections to it.  (transfer full) */
char *oz_test_tiny_scenario(const char *dir);
/* Writes text to dir/name and returns the path; (transfer full). */
char *oz_test_write_file(const char *dir, const char *name, const char *text);

/* Makes f a spike frame of batch × n neurons carrying `value`: with flip FALSE each
 * neuron fires with probability p (a fresh packet at that density); with flip TRUE each
 * keeps its state in f->s and flips with probability p (the next packet of a hidden layer
 * under a static input, which changes little per tick).  One uniform draw per neuron, in
 * sample-major order.  Sets counts and nspikes; the index lists are left to be built on
 * demand (indexed = FALSE). */
void oz_test_spike_frame(OzFrame *f, int batch, int n, double p, float value, gboolean flip,
                         OzRng *rng);

/* ---- Running the program and reading its run log (the e2e suites) ---- */

/* The program under test: $OZ_BIN, which meson sets (asserts that it is set). */
const char *oz_test_bin(void);
/* Runs the program with a NULL-terminated argument vector (without the program's name)
 * and waits.  Returns the exit code, or 128 + the signal.  If err_out is given it
 * receives standard error (transfer full); otherwise standard error is dropped. */
int oz_test_runv(const char *const *args, char **err_out);
/* The same with the arguments as a NULL-terminated list: oz_test_run(&err, "run", path,
 * "--quiet", NULL). */
int oz_test_run(char **err_out, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* oz_test_runv with the program's working directory set to cwd (NULL: the test's own), for
 * what it writes to paths relative to it (runs/NAME.sqlite). */
int oz_test_runv_in(const char *cwd, const char *const *args, char **err_out);
/* oz_test_runv with extra environment variables: env is a NULL-terminated list of
 * "NAME=VALUE" strings (or NULL). */
int oz_test_runv_env(const char *const *args, const char *const *env, char **err_out);
/* Starts the program without waiting (standard output and error are inherited); reap it
 * with oz_test_wait, which returns the exit code, or 128 + the signal. */
GPid oz_test_spawnv(const char *const *args);
int oz_test_wait(GPid pid);
/* An argument vector under construction: a GPtrArray of (transfer none) strings that
 * oz_test_args_end terminates.  oz_test_args_add appends a NULL-terminated list. */
GPtrArray *oz_test_args_new(const char *first, ...) G_GNUC_NULL_TERMINATED;
void oz_test_args_add(GPtrArray *args, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Appends a NULL-terminated array of strings (a shared list of options). */
void oz_test_args_addv(GPtrArray *args, const char *const *list);
const char *const *oz_test_args_end(GPtrArray *args);

/* The first column of the first row of sql over the database at path, opened read-only:
 * as an integer, as text (NULL for SQL NULL; transfer full), or as a blob (transfer
 * full).  Each asserts that the statement prepares and yields a row. */
gint64 oz_test_q(const char *db_path, const char *sql);
char *oz_test_qs(const char *db_path, const char *sql);
GBytes *oz_test_blob(const char *db_path, const char *sql);
/* Like oz_test_q, but −1 instead of failing: for polling a database another process
 * writes. */
gint64 oz_test_q_try(const char *db_path, const char *sql);
/* Runs sql (one or more statements) on the database at path, opened for writing, and
 * returns how many rows the last statement changed; asserts that it succeeds. */
int oz_test_exec(const char *db_path, const char *sql);

/* Asserts that run run_a of the log db_a and run run_b of db_b logged the same results:
 * the runs row and every row of populations, projections, epochs, firing_rates, synops,
 * training_ops, grad_stats, spikes and checkpoints (every checkpoint of every epoch, each
 * blob byte for byte).  Every column is compared except the run id and the wall-clock
 * ones (oz_test_uncompared_columns); the columns come from PRAGMA table_info, so one
 * added to the schema later is compared without a change here.  Reals are compared bit
 * for bit.  Each table must hold rows for run_a, so the comparison is not vacuous.  A
 * difference fails the test with the table and the first differing row of each log. */
void oz_test_assert_logs_equal(const char *db_a, gint64 run_a, const char *db_b, gint64 run_b);
/* The same for the checkpoints table only (both runs must have one). */
void oz_test_assert_checkpoints_equal(const char *db_a, gint64 run_a, const char *db_b,
                                      gint64 run_b);
/* The columns oz_test_assert_logs_equal leaves out: ids and wall-clock measurements;
 * NULL-terminated. */
extern const char *const oz_test_uncompared_columns[];

/* ---- The tiny-scenario fixture ---- */

/* For suites whose tests build scenarios on oz_test_tiny_scenario: oz_test_tiny_setup makes
 * a fresh folder (oz_test_tiny_dir) holding the tiny data set and the scenario's text over
 * it (oz_test_tiny_text); oz_test_tiny_teardown removes and frees both.  Use as
 * TestSuite(NAME, .init = oz_test_tiny_setup, .fini = oz_test_tiny_teardown). */
extern char *oz_test_tiny_dir;
extern char *oz_test_tiny_text;
void oz_test_tiny_setup(void);
void oz_test_tiny_teardown(void);

/* ---- The program's standard output ---- */

/* oz_test_run, and *out receives standard output (transfer full). */
int oz_test_run_out(char **out, char **err_out, const char *first, ...) G_GNUC_NULL_TERMINATED;

/* oz-runlog.h — the SQLite run log.
 *
 * One database holds any number of runs.  Rows are gathered by the simulation into an
 * OzLogBatch (plain values, no SQLite calls) and submitted; a writer on libuv's thread
 * pool commits each batch in one transaction with prepared statements, one batch at a
 * time and in submission order, so the simulation never waits for the disk.  The run
 * row itself (begin, finish) is written synchronously, when no batch is in flight.
 *
 * WAL mode and a busy timeout let a user query a running log.  A failed batch keeps the
 * error (oz_runlog_error) and drops later batches; everything committed before it stays.
 *
 * Tables: runs, populations, parameters, projections, epochs, firing_rates, synops, spikes,
 * training_ops, grad_stats, checkpoints, interrupt_state, energy_models; views: energy
 * (joules per run, epoch, phase and hardware model) and training_energy (a training
 * phase's joules with the error path and the weight updates).
 *
 * Schema versions (PRAGMA user_version): 0, a log made before the version was kept; 1,
 * energy_models has feedback_mac_pj, update_pj and training_source, and training_energy
 * exists.  Opening a log for writing migrates it (oz_runlog_migrate).
 */
#pragma once

#include <glib.h>
#include <uv.h>

struct sqlite3;

#define OZ_RUNLOG_ERROR (oz_runlog_error_quark())
GQuark oz_runlog_error_quark(void);

/* VERSION: a log made by a newer build (schema version above OZ_RUNLOG_SCHEMA_VERSION). */
typedef enum {
    OZ_RUNLOG_ERROR_FAILED,
    OZ_RUNLOG_ERROR_BUSY,
    OZ_RUNLOG_ERROR_FULL,
    OZ_RUNLOG_ERROR_VERSION
} OzRunLogError;

/* The schema version this build writes (PRAGMA user_version). */
#define OZ_RUNLOG_SCHEMA_VERSION 1

typedef enum {
    OZ_ROW_POPULATION = 0,
    OZ_ROW_PROJECTION,
    OZ_ROW_EPOCH,
    OZ_ROW_FIRING_RATE,
    OZ_ROW_SYNOPS,
    OZ_ROW_SPIKE,
    OZ_ROW_SPIKE_LIST, /* epoch, phase, sample, population, tick, JSON array of neurons:
                        * one spikes row per neuron, expanded inside SQLite */
    OZ_ROW_GRAD_STATS,
    OZ_ROW_TRAINING_OPS,
    OZ_ROW_CHECKPOINT,       /* epoch, name, dtype, shape, blob (sim/oz-checkpoint.c) */
    OZ_ROW_CHECKPOINT_PRUNE, /* epoch: deletes this run's checkpoints of earlier epochs */
    OZ_ROW_INTERRUPT,        /* name, dtype, shape, blob: the state at an interruption */
    OZ_ROW_INTERRUPT_CLEAR,  /* (no columns): forget this run's interruption state */
    OZ_ROW_PARAMETER,        /* owner, key, value: one plugin parameter as it ran */
    OZ_ROW_COUNT
} OzRowKind;

typedef struct OzLogBatch OzLogBatch;
typedef struct OzRunLog OzRunLog;

OzLogBatch *oz_log_batch_new(void);
void oz_log_batch_free(OzLogBatch *batch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzLogBatch, oz_log_batch_free)
/* Appends a row.  types has one letter per column after run_id: 'i' gint64,
 * 'd' double, 's' const char * (copied), 'S' const char * that outlives the batch (not
 * copied: names and literals), 'b' a blob as (const void *, gsize) (copied),
 * 'n' NULL (no argument).  The run id is
 * prepended by the writer. */
void oz_log_batch_add(OzLogBatch *batch, OzRowKind kind, const char *types, ...);
guint oz_log_batch_rows(const OzLogBatch *batch);
/* Moves every row of src to the end of dst; src is left empty. */
void oz_log_batch_take(OzLogBatch *dst, OzLogBatch *src);

typedef struct {
    const char *name;
    const char *scenario_path;
    const char *scenario_text;
    const char *overrides; /* one per line */
    gint64 seed;
    int threads;
    const char *mode;
    const char *sweep; /* sweep tag, or NULL */
} OzRunInfo;

/* Opens (creating if needed) the database and its schema.  loop may be NULL: then every
 * submit commits synchronously.  A database locked by another process is waited for
 * busy_timeout_ms, then reported (OZ_RUNLOG_ERROR_BUSY).
 * Fault injection for tests: the environment variable OPZOSIM_FAULT_MAX_PAGES=N caps the
 * database at N pages (SQLite's max_page_count), so writes fail as on a full disk. */
OzRunLog *oz_runlog_open(const char *path, uv_loop_t *loop, int busy_timeout_ms, GError **error);
/* Waits for pending batches (runs the loop if there is one), then closes.  NULL-safe. */
void oz_runlog_close(OzRunLog *log);

gint64 oz_runlog_begin_run(OzRunLog *log, const OzRunInfo *info, GError **error);
gint64 oz_runlog_run_id(const OzRunLog *log);
/* Continues an existing run: its status goes back to running and new rows join it. */
gboolean oz_runlog_resume_run(OzRunLog *log, gint64 run_id, GError **error);
/* Takes ownership of batch. */
void oz_runlog_submit(OzRunLog *log, OzLogBatch *batch);
/* TRUE while a batch is queued or being written. */
gboolean oz_runlog_busy(const OzRunLog *log);
/* The first write error, or NULL.  (transfer none) */
const GError *oz_runlog_error(const OzRunLog *log);
/* status: "finished", "failed" or "interrupted".  Requires !busy. */
gboolean oz_runlog_finish_run(OzRunLog *log, const char *status, const char *message,
                              GError **error);
/* Brings the database behind db (open for writing) to this build's schema: creates what is
 * missing, adds the columns of later versions to an older log's tables, seeds the built-in
 * energy models and sets the schema version.  Rows are never removed or changed, except
 * that the built-in energy models of an older log gain their training energies.  A log of
 * a newer schema version is refused (OZ_RUNLOG_ERROR_VERSION); path only names the log in
 * messages. */
gboolean oz_runlog_migrate(struct sqlite3 *db, const char *path, GError **error);
/* The value of run_id's parameters row (owner, key), or NULL: no such row, a NULL value, a
 * log older than the table (transfer full). */
char *oz_runlog_parameter(struct sqlite3 *db, gint64 run_id, const char *owner, const char *key);
/* PRAGMA user_version of db (0 for a log made before versions were kept), −1 on error. */
int oz_runlog_schema_version(struct sqlite3 *db);
/* The SQLite handle, for tests and fault injection.  (transfer none) */
struct sqlite3 *oz_runlog_db(OzRunLog *log);

/* oz-checkpoint.h — a run's state as named blobs in the run log's checkpoints table.
 *
 * At the end of every training epoch (after its test phase) the run writes, in the same
 * transaction as that epoch's rows: weights (w:PROJ), biases (b:POP), fixed or momentum
 * feedback matrices (fb:POP), optimizer moments (m:PARAM, v:PARAM) and step count, and
 * every random stream's state.  That is everything that a resumed run needs to continue
 * bit for bit, and what `opzosim eval` needs to re-evaluate an epoch.
 * [record] checkpoints = last keeps only the newest epoch (default); all keeps every one.
 */
#pragma once

#include "sim/oz-run.h"

#include <sqlite3.h>

/* TEMP: the checkpoint helper defines this domain; only the names are needed here. */
#define OZ_CHECKPOINT_ERROR (oz_checkpoint_error_quark())
GQuark oz_checkpoint_error_quark(void);
typedef enum {
    OZ_CHECKPOINT_ERROR_FAILED,
    OZ_CHECKPOINT_ERROR_MISMATCH,
    OZ_CHECKPOINT_ERROR_CORRUPT,
    OZ_CHECKPOINT_ERROR_MISSING
} OzCheckpointError;

/* Rows that store the run's state as of the end of `epoch` (and forget any interruption
 * state, which is now older). */
void oz_checkpoint_add_rows(OzRun *run, int epoch, gboolean keep_all, OzLogBatch *batch);
/* Rows that store everything at a batch boundary inside a phase — the epoch checkpoint's
 * tensors plus the position (phase, cursor, sample order), the phase's counters, loss and
 * accuracy sums and gradient statistics — into interrupt_state, and the spike rows
 * recorded so far in the phase. */
void oz_checkpoint_add_interrupt_rows(OzRun *run, OzLogBatch *batch);
/* Restores an interruption state of run_id if there is one: *found tells.  The run then
 * continues inside the interrupted phase. */
gboolean oz_checkpoint_load_interrupt(sqlite3 *db, gint64 run_id, OzRun *run, gboolean *found,
                                      GError **error);
/* Latest epoch with a checkpoint for run_id, or −1. */
int oz_checkpoint_latest_epoch(sqlite3 *db, gint64 run_id);
typedef enum {
    OZ_LOAD_ALL,     /* everything: resume */
    OZ_LOAD_WEIGHTS, /* weights, biases and the input stream of the test phase: eval */
    OZ_LOAD_MODEL    /* weights, biases, feedback and LL matrices: start from a checkpoint */
} OzLoadWhat;

/* Loads the run's tensors from the checkpoint of (run_id, epoch).  Fails if a needed
 * tensor is missing or has another size (a different scenario). */
gboolean oz_checkpoint_load(sqlite3 *db, gint64 run_id, int epoch, OzRun *run, OzLoadWhat what,
                            GError **error);
/* Opens spec = "PATH[:RUN[:EPOCH]]" (defaults: the newest run with a checkpoint, its
 * newest epoch) and loads OZ_LOAD_MODEL into run. */
gboolean oz_checkpoint_init_from(const char *spec, OzRun *run, GError **error);

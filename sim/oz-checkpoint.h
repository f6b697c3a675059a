/* oz-checkpoint.h — a run's state as typed, named, little-endian tensors in the run log.
 *
 * At the end of every training epoch (after its test phase) the run writes, in the same
 * transaction as that epoch's rows, one row of the `checkpoints` table per tensor:
 * weights (w:PROJ), biases (b:POP), the neuron models' state that outlives a window
 * (state:POP.NAME, from OzNeuronOps.state_tensors; none of the built-in models has any),
 * fixed or momentum feedback matrices (fb:POP), local learning readouts (ll:POP),
 * optimizer moments (m:PARAM, v:PARAM) and step count, and every random stream's state
 * (rng:NAME.s0 … s3).  That is everything that a resumed run
 * needs to continue bit for bit, and what `opzosim eval` needs to re-evaluate an epoch.
 * [record] checkpoints_all keeps every epoch; the default keeps only the newest.
 *
 * Each row carries its dtype (float32, float64, int32, uint32, int64, uint64), its shape
 * ('36,40'; '' for a scalar) and the values as little-endian bytes, so any machine (and
 * numpy, see docs/CHECKPOINTS.md) reads it the same way.  Format 3; format-2 epoch
 * checkpoints (native-endian struct bytes, no dtype) are still read, format-2
 * interruption states are refused by name.
 *
 * Errors are in OZ_CHECKPOINT_ERROR; the codes say what the caller should exit with.
 */
#pragma once

#include "sim/oz-run.h"

#include <sqlite3.h>

#define OZ_CHECKPOINT_ERROR (oz_checkpoint_error_quark())
GQuark oz_checkpoint_error_quark(void);

typedef enum {
    OZ_CHECKPOINT_ERROR_MISMATCH, /* a checkpoint the user supplies does not fit the scenario
                                   * (shapes, dtypes, changed scenario): exit 2 */
    OZ_CHECKPOINT_ERROR_CORRUPT,  /* the run's own stored state is unreadable: exit 1 */
    OZ_CHECKPOINT_ERROR_MISSING,  /* no such run/epoch/tensor */
    OZ_CHECKPOINT_ERROR_FAILED
} OzCheckpointError;

/* The layout written by this build (the value of the `format` tensor). */
#define OZ_CHECKPOINT_FORMAT 3

/* Rows that store the run's state as of the end of `epoch` (and forget any interruption
 * state, which is now older). */
void oz_checkpoint_add_rows(OzRun *run, int epoch, gboolean keep_all, OzLogBatch *batch);
/* Rows that store everything at a batch boundary inside a phase — the epoch checkpoint's
 * tensors plus the position (phase, cursor, sample order), the phase's counters, loss and
 * accuracy sums and gradient statistics — into interrupt_state, and the spike rows
 * recorded so far in the phase. */
void oz_checkpoint_add_interrupt_rows(OzRun *run, OzLogBatch *batch);
/* Restores an interruption state of run_id if there is one: *found tells.  The run then
 * continues inside the interrupted phase.  A state of format 2 is refused
 * (OZ_CHECKPOINT_ERROR_MISMATCH, with a message that says how to resume from the last
 * epoch checkpoint instead). */
gboolean oz_checkpoint_load_interrupt(sqlite3 *db, gint64 run_id, OzRun *run, gboolean *found,
                                      GError **error);
/* Latest epoch with a checkpoint for run_id, or −1. */
int oz_checkpoint_latest_epoch(sqlite3 *db, gint64 run_id);
typedef enum {
    OZ_LOAD_ALL,     /* everything: resume */
    OZ_LOAD_WEIGHTS, /* weights, biases, model state and the input stream of the test phase:
                      * eval */
    OZ_LOAD_MODEL    /* weights, biases, model state, feedback and LL matrices: start from a
                      * checkpoint */
} OzLoadWhat;

/* Loads the run's tensors from the checkpoint of (run_id, epoch), of format 3 or 2.
 * Errors name the tensor: a required one missing (OZ_CHECKPOINT_ERROR_MISSING), another
 * dtype or shape than the network's (…_MISMATCH, with both), a blob whose length does not
 * fit its dtype and shape (…_CORRUPT).  An optional tensor that is missing (one added
 * after the checkpoint was written; see docs/CHECKPOINTS.md) takes its default, zero. */
gboolean oz_checkpoint_load(sqlite3 *db, gint64 run_id, int epoch, OzRun *run, OzLoadWhat what,
                            GError **error);
/* Opens spec = "PATH[:RUN[:EPOCH]]" (defaults: the newest run with a checkpoint, its
 * newest epoch) and loads OZ_LOAD_MODEL into run. */
gboolean oz_checkpoint_init_from(const char *spec, OzRun *run, GError **error);

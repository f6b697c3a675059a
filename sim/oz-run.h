/* oz-run.h — one run of a scenario: data, network, phases, counters → log rows.
 *
 * A run is a sequence of phases over mini-batches (today: the test set; with learning:
 * train and test per epoch).  oz_run_step() advances one mini-batch, so the caller (the
 * libuv loop in oz-main.c) can interleave progress, signals and log writes.  Nothing
 * here prints; rows for the run log are returned in batches.
 */
#pragma once

#include "io/oz-dataset.h"
#include "io/oz-runlog.h"
#include "io/oz-scenario.h"
#include "neurons/oz-network.h"
#include "plasticity/oz-learner.h"

/* Errors of a run once it is under way (setting one up reports scenario and data
 * errors in their own domains). */
#define OZ_RUN_ERROR (oz_run_error_quark())
GQuark oz_run_error_quark(void);

typedef enum {
    OZ_RUN_ERROR_FAILED,
    OZ_RUN_ERROR_NUMERIC,            /* NaN/Inf loss or weights, runaway firing */
    OZ_RUN_ERROR_RESUME_NOT_FOUND,   /* --resume: no unfinished run of that name */
    OZ_RUN_ERROR_RESUME_CHANGED,     /* --resume: the scenario differs from the run's */
    OZ_RUN_ERROR_RESUME_NOT_TRAINING /* --resume of a run that does not train */
} OzRunError;

typedef enum { OZ_PHASE_TRAIN, OZ_PHASE_TEST } OzPhaseKind;

typedef struct {
    OzPhaseKind kind;
    int epoch;
} OzPhase;

typedef struct OzRun {
    OzScenario *sc;   /* (transfer none) */
    OzNetwork *net;
    OzPopulation *input, *readout;
    OzDataset train, test; /* the loaded splits (train only when training) */
    OzRng rng_init, rng_input, rng_dropout, rng_shuffle, rng_noise;
    OzRng rng_input_test; /* rng_input as the last test phase began (for eval) */
    OzLearner *learner; /* NULL when only inferring */
    guint8 *labels;     /* (B) labels of the current batch */
    int batch;          /* [run] batch_size: the global mini-batch, split between the
                         * processes of an MPI run (docs/CLUSTER.md) */
    GString *spike_text; /* an MPI run's rank > 0: its recorded spikes, for rank 0 */
    double loss_sum;    /* Σ over batches of the window loss Σ_t L[t] */
    gint64 batches;

    GArray *phases;   /* of OzPhase, the plan */
    guint phase_index;
    int cursor;       /* next sample of the current phase */
    int *order;       /* sample order of the current phase */
    gint64 correct, seen;
    double phase_started; /* monotonic seconds */
    double phase_seconds;
    double phase_elapsed; /* seconds into the current phase, kept for interruptions */
    gboolean recording;   /* spikes of the current batch are being recorded */
    int record_base;      /* sample index of row 0 of the batch */
    gboolean *record_pop; /* per population id */
    OzLogBatch *spikes;   /* rows of the current phase */

    /* Results of the last finished phase. */
    double last_accuracy;
    double last_loss;
    /* Hidden populations that fired no spike in the last training phase, ", "-separated
     * (empty: none).  A layer silent from the start may never wake up: a rule whose
     * feedback learns from the layer's own trace (dkp from 0) stays at 0 with it. */
    GString *silent_hidden;

    /* Numerical guards: set when the run must stop (NaN/Inf, runaway firing). */
    GError *fault;
    int *runaway;   /* per population: consecutive batches above max_rate */
    gint64 samples_total, samples_done; /* over all phases, for progress */
} OzRun;

/* Loads data and builds the network.  Errors name the scenario file, section and key
 * (exit code 2 material). */
/* Whether the run trains on a chip with a rule given the true chip ([hardware] bp_model =
 * exact): a reference no real chip offers.  The run log says so in its parameters table
 * (owner "hardware", key "reference") and the program on its summary line. */
gboolean oz_run_is_reference(const OzRun *run);
#define OZ_RUN_REFERENCE_NOTE                                                                      \
    "REFERENCE ONLY: bp_model = exact gives BP the true chip (quantised, mismatched weights and "  \
    "each neuron's own threshold), which no real chip offers"

OzRun *oz_run_new(OzScenario *sc, GError **error);
/* The same, reporting the data's loading progress (thousands of event files) to progress. */
OzRun *oz_run_new_with_progress(OzScenario *sc, OzDatasetProgress progress, gpointer user,
                                GError **error);
void oz_run_free(OzRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzRun, oz_run_free)

/* Rows describing populations and projections. */
OzLogBatch *oz_run_structure_rows(OzRun *run);
/* Advances one mini-batch.  After a numerical fault (run->fault set) it returns FALSE
 * and nothing of the faulty epoch is logged or checkpointed.  When it completes a phase, *phase_rows receives that
 * phase's rows (epochs, firing_rates, synops, spikes).  Returns FALSE when the whole
 * plan is done (then nothing was advanced). */
gboolean oz_run_step(OzRun *run, OzLogBatch **phase_rows);
const OzPhase *oz_run_current_phase(const OzRun *run);
/* Continue a training plan at the start of epoch `epoch` (after a resume). */
void oz_run_skip_to_epoch(OzRun *run, int epoch);
/* The order buffer for the current phase (sized for its data set); for restoring. */
int *oz_run_order_for_phase(OzRun *run, guint phase_index, gsize *n);
/* After a mid-phase state was restored (phase_index, cursor, order, counters): the
 * phase's schedules, clock and spike buffer, without reshuffling or resetting. */
void oz_run_continue_phase(OzRun *run, double elapsed_seconds);
double oz_run_running_accuracy(const OzRun *run);

/* Several processes (docs/CLUSTER.md).  Rank r steps rows [*offset, *offset + *rows) of a
 * global mini-batch of `active` rows: contiguous shares, the first active % N ranks one row
 * more. */
void oz_run_share(int active, int rank, int size, int *offset, int *rows);
/* Before an interruption state is saved: every counter of the phase becomes the sum over the
 * processes (on every rank) and rank 0 receives the other ranks' recorded spikes.  Collective;
 * nothing for one process. */
void oz_run_gather_phase(OzRun *run);
/* After an interruption state was loaded under several processes: the stored counters are the
 * whole run's, so rank 0 keeps them and the others start theirs from zero (their sum at the
 * phase's end is then right). */
void oz_run_split_counters(OzRun *run);

/* opzosim.h — libopzosim, the simulator as a C library (the public API).
 *
 * Build against it with `cc prog.c $(pkg-config --cflags --libs opzosim)` after
 * `meson install`; examples/embed.c is a whole program.  A simulation is a scenario
 * (docs/ARCHITECTURE.md, `opzosim keys`) loaded from a file or a string, with the same
 * `section.key=value` overrides as `opzosim run --set`, then advanced one mini-batch at a
 * time or run to the end of its plan (train and test phases per epoch, or one test phase
 * for run.mode = infer).  Results and counters are read between steps; checkpoints go to
 * and come from run logs (SQLite files, docs/CHECKPOINTS.md); a run log's network can be
 * exported as a NIR graph (docs/INTEROP.md).
 *
 * Every failure is a GError (GLib) set through the last parameter, and the function
 * returns FALSE or NULL.  The domains are the library's modules' (scenario, data, network,
 * checkpoint, NIR ...); a scenario or data error names the file, section and key.
 *
 * Nothing here prints.  One OzSim is used from one thread at a time; the compute team
 * (run.threads) is process-wide and sized by the newest OzSim.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A loaded scenario: its network, data and plan.  Opaque. */
typedef struct OzSim OzSim;

/* Loads the scenario file at path with overrides ("section.key=value", NULL-terminated, or
 * NULL), wires the network and loads its data.  (transfer full) */
OzSim *oz_sim_new_from_file(const char *path, const char *const *overrides, GError **error);
/* The same from the text of a scenario; name stands for the file in messages and names the
 * run when [run] name is empty.  (transfer full) */
OzSim *oz_sim_new_from_data(const char *text, const char *name, const char *const *overrides,
                            GError **error);
/* NULL-safe. */
void oz_sim_free(OzSim *sim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzSim, oz_sim_free)

/* Advances one mini-batch.  *done (if not NULL) is set to TRUE when the plan has ended
 * (nothing was advanced then).  A numerical fault (NaN, runaway firing) is an error. */
gboolean oz_sim_step(OzSim *sim, gboolean *done, GError **error);
/* Steps until the plan ends. */
gboolean oz_sim_run(OzSim *sim, GError **error);

/* Accuracy (0..1) of the last finished phase, or −1 before one has finished. */
double oz_sim_accuracy(const OzSim *sim);
/* Accuracy over the samples of the current phase so far. */
double oz_sim_running_accuracy(const OzSim *sim);
/* Mini-batches advanced so far, every phase included. */
gint64 oz_sim_batches(const OzSim *sim);
/* Synaptic operations (transmitted spikes × fan-out, summed over projections) and spikes
 * (summed over populations) since the simulation was loaded, every phase included. */
guint64 oz_sim_synops(OzSim *sim);
guint64 oz_sim_spikes(OzSim *sim);

/* Writes the network's current state (weights, biases, optimizer, random streams) as an
 * epoch checkpoint of a new finished run in the run log at db_path (created if needed), with
 * the network's structure rows, so `opzosim eval` and `export` and oz_sim_load_checkpoint
 * read it.  *run_id (if not NULL) gets the run's id. */
gboolean oz_sim_save_checkpoint(OzSim *sim, const char *db_path, gint64 *run_id, GError **error);
/* Starts from a checkpoint's model (weights, biases, feedback matrices): spec is
 * "PATH[:RUN[:EPOCH]]" as for `opzosim run --init-from` (defaults: the newest). */
gboolean oz_sim_load_checkpoint(OzSim *sim, const char *spec, GError **error);

/* Writes run run_id (< 0: the newest with a checkpoint) at epoch (< 0: its newest) of the
 * run log at db_path as a NIR graph to out_path, with dt_s seconds per tick (1e-4 is the
 * usual).  *soft_reset (if not NULL) gets the populations whose soft reset NIR cannot
 * express, or NULL (transfer full). */
gboolean oz_sim_export_nir(const char *db_path, gint64 run_id, int epoch, double dt_s,
                           const char *out_path, char **soft_reset, GError **error);

G_END_DECLS

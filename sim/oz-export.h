/* oz-export.h — a trained network out of a run log, as a NIR graph (docs/INTEROP.md).
 *
 * The network is read from the log alone — the run's populations, projections and plugin
 * parameters, its scenario text for what those tables do not hold (projection kinds,
 * input normalisation, T, encoding), and the weights and biases of one epoch's
 * checkpoint — so exporting needs neither the data set nor the scenario file.
 *
 * Errors: OZ_NIR_ERROR (io/oz-nir.h).  What the user asked for that is not there (no such
 * run, epoch or tensor) or cannot be expressed (a model or kind NIR has no node for) is
 * OZ_NIR_ERROR_UNSUPPORTED or _FORMAT, exit 2; a file that cannot be written is _WRITE.
 */
#pragma once

#include <glib.h>
#include <sqlite3.h>

typedef struct {
    gint64 run_id; /* < 0: the newest run with a checkpoint */
    int epoch;     /* < 0: the run's newest checkpoint */
    double dt_s;   /* the time step of the discrete-time mapping */
} OzExportOptions;

/* Writes run's network to out_path.  *soft_reset (if not NULL) gets the names of the
 * populations whose soft reset NIR cannot express, comma-separated, or NULL (transfer
 * full). */
gboolean oz_export_nir(sqlite3 *db, const OzExportOptions *opt, const char *out_path,
                       char **soft_reset, GError **error);

/* `opzosim export DB [--run ID] [--epoch N] --format nir --out FILE [--dt S]`; argv[0] is
 * the command's name.  Returns the exit code. */
int oz_cmd_export(int argc, char **argv);

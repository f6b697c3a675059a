/* oz-api.c — libopzosim's public API (sim/opzosim.h) over the run, checkpoint and export
 * code: an OzSim is a scenario with its OzRun, and the counters it has summed. */
#include "sim/opzosim.h"

#include "engine/oz-par.h"
#include "io/oz-runlog.h"
#include "io/oz-scenario.h"
#include "sim/oz-checkpoint.h"
#include "sim/oz-export.h"
#include "sim/oz-run.h"

struct OzSim {
    OzScenario *sc;
    OzRun *run;
    int phases_done;
    gint64 steps;    /* mini-batches advanced */
    int epochs_done; /* training epochs completed, the next checkpoint's number */
    /* Counters are cleared at each phase start; the totals add what each step added. */
    guint64 synops, spikes, last_synops, last_spikes;
};

static OzSim *sim_new(OzScenario *sc, GError **error) {
    if (!sc)
        return NULL;
    oz_par_set_threads(CLAMP(sc->run.threads, 1, OZ_PAR_MAX_THREADS));
    OzRun *run = oz_run_new(sc, error);
    if (!run) {
        oz_scenario_free(sc);
        return NULL;
    }
    OzSim *sim = g_new0(OzSim, 1);
    sim->sc = sc;
    sim->run = run;
    return sim;
}

OzSim *oz_sim_new_from_file(const char *path, const char *const *overrides, GError **error) {
    g_return_val_if_fail(path != NULL, NULL);
    return sim_new(oz_scenario_load(path, overrides, error), error);
}

OzSim *oz_sim_new_from_data(const char *text, const char *name, const char *const *overrides,
                            GError **error) {
    g_return_val_if_fail(text != NULL, NULL);
    return sim_new(oz_scenario_load_data(text, name ? name : "scenario", overrides, error), error);
}

void oz_sim_free(OzSim *sim) {
    if (!sim)
        return;
    oz_run_free(sim->run);
    oz_scenario_free(sim->sc);
    g_free(sim);
}

/* The network's counters now, summed. */
static void counters(const OzSim *sim, guint64 *synops, guint64 *spikes) {
    *synops = *spikes = 0;
    const OzNetwork *net = sim->run->net;
    for (guint i = 0; i < net->projs->len; i++)
        *synops += ((const OzProjection *)g_ptr_array_index(net->projs, i))->synops;
    for (guint i = 0; i < net->pops->len; i++)
        *spikes += ((const OzPopulation *)g_ptr_array_index(net->pops, i))->spikes;
}

/* Adds what the counters gained since the last look (a phase start clears them). */
static void gather(OzSim *sim) {
    guint64 syn, spk;
    counters(sim, &syn, &spk);
    sim->synops += syn >= sim->last_synops ? syn - sim->last_synops : syn;
    sim->spikes += spk >= sim->last_spikes ? spk - sim->last_spikes : spk;
    sim->last_synops = syn;
    sim->last_spikes = spk;
}

gboolean oz_sim_step(OzSim *sim, gboolean *done, GError **error) {
    g_return_val_if_fail(sim != NULL, FALSE);
    const OzPhase *cur = oz_run_current_phase(sim->run);
    const OzPhase ph = cur ? *cur : (OzPhase){OZ_PHASE_TEST, -1};
    OzLogBatch *rows = NULL;
    gboolean advanced = oz_run_step(sim->run, &rows);
    sim->steps += advanced;
    /* Rows come back when the step finished a phase; the end of a test phase ends its
     * epoch. */
    if (rows) {
        sim->phases_done++;
        if (ph.kind == OZ_PHASE_TEST && sim->run->learner)
            sim->epochs_done = ph.epoch + 1;
    }
    oz_log_batch_free(rows);
    gather(sim);
    if (sim->run->fault) {
        g_propagate_error(error, g_error_copy(sim->run->fault));
        return FALSE;
    }
    if (done)
        *done = !advanced;
    return TRUE;
}

gboolean oz_sim_run(OzSim *sim, GError **error) {
    gboolean done = FALSE;
    while (!done)
        if (!oz_sim_step(sim, &done, error))
            return FALSE;
    return TRUE;
}

double oz_sim_accuracy(const OzSim *sim) {
    g_return_val_if_fail(sim != NULL, -1);
    return sim->phases_done ? sim->run->last_accuracy : -1;
}

double oz_sim_running_accuracy(const OzSim *sim) {
    g_return_val_if_fail(sim != NULL, -1);
    return oz_run_running_accuracy(sim->run);
}

gint64 oz_sim_batches(const OzSim *sim) {
    g_return_val_if_fail(sim != NULL, 0);
    return sim->steps;
}

guint64 oz_sim_synops(OzSim *sim) {
    g_return_val_if_fail(sim != NULL, 0);
    gather(sim);
    return sim->synops;
}

guint64 oz_sim_spikes(OzSim *sim) {
    g_return_val_if_fail(sim != NULL, 0);
    gather(sim);
    return sim->spikes;
}

gboolean oz_sim_save_checkpoint(OzSim *sim, const char *db_path, gint64 *run_id, GError **error) {
    g_return_val_if_fail(sim != NULL && db_path != NULL, FALSE);
    OzRunLog *log = oz_runlog_open(db_path, NULL, 5000, error);
    if (!log)
        return FALSE;
    const OzScenario *sc = sim->sc;
    OzRunInfo info = {sc->run.name, sc->path,         sc->text,     "",
                      sc->run.seed, oz_par_threads(), sc->run.mode, NULL};
    gboolean ok = oz_runlog_begin_run(log, &info, error) >= 0;
    if (ok) {
        oz_runlog_submit(log, oz_run_structure_rows(sim->run));
        OzLogBatch *batch = oz_log_batch_new();
        oz_checkpoint_add_rows(sim->run, sim->epochs_done, FALSE, batch);
        oz_runlog_submit(log, batch);
        const GError *werr = oz_runlog_error(log);
        if (werr) {
            g_propagate_error(error, g_error_copy(werr));
            ok = FALSE;
        }
    }
    if (ok && run_id)
        *run_id = oz_runlog_run_id(log);
    ok = ok && oz_runlog_finish_run(log, "finished", NULL, error);
    oz_runlog_close(log);
    return ok;
}

gboolean oz_sim_load_checkpoint(OzSim *sim, const char *spec, GError **error) {
    g_return_val_if_fail(sim != NULL && spec != NULL, FALSE);
    return oz_checkpoint_init_from(spec, sim->run, error);
}

gboolean oz_sim_export_nir(const char *db_path, gint64 run_id, int epoch, double dt_s,
                           const char *out_path, char **soft_reset, GError **error) {
    g_return_val_if_fail(db_path != NULL && out_path != NULL, FALSE);
    sqlite3 *db = NULL;
    if (!g_file_test(db_path, G_FILE_TEST_IS_REGULAR) ||
        sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "cannot open run log %s", db_path);
        return FALSE;
    }
    sqlite3_busy_timeout(db, 5000);
    OzExportOptions opt = {run_id, epoch, dt_s};
    gboolean ok = oz_export_nir(db, &opt, out_path, soft_reset, error);
    sqlite3_close(db);
    return ok;
}

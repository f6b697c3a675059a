/* oz-main.c — the opzosim program: command line, the libuv run loop, progress, signals.
 *
 * The simulation advances one mini-batch per turn of a uv_idle handle, so the loop stays
 * responsive: a timer refreshes the progress line, SIGINT/SIGTERM set a flag that stops
 * the run after the current batch, and the run log's writer commits on the thread pool
 * meanwhile.  Of the simulation code this is the only place that prints; the study
 * commands (sim/oz-study.c, oz-plot.c, oz-report.c, oz-merge.c) and `convert`
 * (sim/oz-convert.c, which this file hands its arguments to) print their own output.
 *
 * Exit codes: 0 done; 2 bad input — the command line, the scenario, its data files, an
 * --init-from checkpoint that does not fit or is not there, --resume with a changed
 * scenario or without an unfinished run; 1 a runtime failure — a numeric fault (NaN/Inf,
 * runaway firing), the run log failing (full, locked too long), a checkpoint of the
 * run's own log that cannot be read back; a run log of a newer schema version is bad
 * input (2); 130 / 143 interrupted by SIGINT / SIGTERM.
 * exit_code_for() decides from an error's domain and code.
 */
#include "io/oz-events.h"
#include "io/oz-nir.h"
#include "io/oz-runlog.h"
#include "io/oz-scenario.h"
#include "sim/oz-checkpoint.h"
#include "sim/oz-convert.h"
#include "sim/oz-export.h"
#include "sim/oz-run.h"
#include "sim/oz-study.h"

#include "engine/oz-blas.h"
#include "engine/oz-dist.h"
#include "engine/oz-par.h"
#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct {
    uv_loop_t *loop;
    uv_idle_t idle;
    uv_timer_t timer;
    uv_signal_t sigint, sigterm;
    OzRun *run;
    OzRunLog *log;
    int stop_signal;    /* 0, SIGINT or SIGTERM */
    gboolean done;      /* the plan finished */
    gboolean tty;
    gboolean quiet;
    const char *prefix; /* progress line prefix (sweeps) */
    guint sweep_index, sweep_count; /* this run's place in a sweep (count 0: no sweep) */
    double started;     /* monotonic seconds */
    double last_plain;  /* last non-tty progress line */
    double plain_every;
    gint64 last_done;
    gint64 batches;        /* steps taken */
    gint64 interrupt_after; /* test hook: raise SIGINT after this many batches (0: never) */
    double last_time;
    double rate;        /* smoothed samples/s */
    gboolean peer_failed; /* under MPI: another rank's run log failed, so this rank stopped */
} App;

/* The collective status word of an MPI run (docs/CLUSTER.md): before every batch each rank
 * offers what would stop it and every rank takes the largest, so all ranks stop together
 * after the same batch.  A signal is its number; rank 0's failing run log outranks it. */
enum { STATUS_OK = 0, STATUS_LOG_FAILED = 1000 };

/* The run log's error, or NULL (ranks other than 0 have no log). */
static const GError *log_error(const App *app) {
    return app->log ? oz_runlog_error(app->log) : NULL;
}

static double now_s(void) {
    return (double)g_get_monotonic_time() / 1e6;
}

static void progress(App *app, gboolean final) {
    if (app->quiet)
        return;
    OzRun *run = app->run;
    double t = now_s();
    double dt = t - app->last_time;
    if (dt > 0.2) {
        double inst = (double)(run->samples_done - app->last_done) / dt;
        app->rate = app->rate > 0 ? 0.7 * app->rate + 0.3 * inst : inst;
        app->last_done = run->samples_done;
        app->last_time = t;
    }
    const OzPhase *ph = oz_run_current_phase(run);
    /* An inference run has one test phase whatever [run] epochs says. */
    const int epochs = run->learner ? run->sc->run.epochs : 1;
    char eta[32];
    double left = (double)(run->samples_total - run->samples_done);
    oz_format_eta(app->rate > 0 ? left / app->rate : -1, eta, sizeof eta);
    g_autofree char *line = g_strdup_printf(
        "%s%s epoch %d/%d  %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " samples  %.0f samples/s  "
        "acc %.2f%%  ETA %s",
        app->prefix ? app->prefix : "", ph ? (ph->kind == OZ_PHASE_TRAIN ? "[train]" : "[test]") : "[done]",
        ph ? ph->epoch + 1 : epochs, epochs, run->samples_done,
        run->samples_total, app->rate, 100.0 * oz_run_running_accuracy(run), eta);
    if (app->sweep_count > 0 && run->samples_total > 0) {
        double frac = ((double)app->sweep_index +
                       (double)run->samples_done / (double)run->samples_total) /
                      (double)app->sweep_count;
        char *with = g_strdup_printf("%s  sweep %.0f%%", line, 100.0 * frac);
        g_free(line);
        line = with;
    }
    if (app->tty) {
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    } else if (final || t - app->last_plain >= app->plain_every) {
        fprintf(stderr, "%s\n", line);
        app->last_plain = t;
    }
    fflush(stderr);
}

static void close_all(App *app) {
    uv_idle_stop(&app->idle);
    uv_timer_stop(&app->timer);
    uv_signal_stop(&app->sigint);
    uv_signal_stop(&app->sigterm);
    uv_close((uv_handle_t *)&app->idle, NULL);
    uv_close((uv_handle_t *)&app->timer, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

/* Takes the collective status word (one process: its own state): TRUE when the run must
 * stop.  Afterwards every rank has the same stop_signal, and a rank whose log did not fail
 * knows that rank 0's did (peer_failed). */
static gboolean agree_status(App *app) {
    int status = oz_dist_max_int(log_error(app) ? STATUS_LOG_FAILED : app->stop_signal);
    if (status == STATUS_LOG_FAILED) {
        app->peer_failed = !log_error(app);
        app->stop_signal = 0;
        return TRUE;
    }
    /* This rank's signal or another's: every rank stops after the same batch. */
    app->stop_signal = status;
    return status != 0;
}

static void on_idle(uv_idle_t *h) {
    App *app = h->data;
    if (agree_status(app)) {
        close_all(app);
        return;
    }
    OzLogBatch *rows = NULL;
    if (app->interrupt_after > 0 && ++app->batches == app->interrupt_after)
        raise(SIGINT); /* delivered through the loop, like a user's ^C */
    if (!oz_run_step(app->run, &rows)) {
        app->done = app->run->fault == NULL;
        close_all(app);
        return;
    }
    if (rows) {
        const OzPhase *ph = &g_array_index(app->run->phases, OzPhase, app->run->phase_index - 1);
        if (!app->quiet) {
            if (app->tty)
                fprintf(stderr, "\r\033[K");
            fprintf(stderr, "%s epoch %d: accuracy %.2f%% over %" G_GINT64_FORMAT
                            " samples in %.1f s\n",
                    ph->kind == OZ_PHASE_TRAIN ? "train" : "test", ph->epoch + 1,
                    100.0 * app->run->last_accuracy, app->run->seen, app->run->phase_seconds);
        }
        if (ph->kind == OZ_PHASE_TRAIN && oz_dist_rank() == 0 && app->run->silent_hidden &&
            app->run->silent_hidden->len > 0)
            fprintf(stderr,
                    "opzosim: warning: training epoch %d: %s fired no spike.  A silent layer "
                    "passes nothing on, and a feedback matrix learned from its own trace (dkp "
                    "starting from 0) stays 0: see docs/ALGORITHM.md §7.3\n",
                    ph->epoch + 1, app->run->silent_hidden->str);
        if (app->log)
            oz_runlog_submit(app->log, rows);
        else
            oz_log_batch_free(rows);
    }
}

static void on_timer(uv_timer_t *h) {
    progress(h->data, FALSE);
}

static void on_signal(uv_signal_t *h, int signum) {
    App *app = h->data;
    if (!app->stop_signal && !app->quiet)
        fprintf(stderr, "\nopzosim: %s received: stopping after the current batch\n",
                signum == SIGINT ? "SIGINT" : "SIGTERM");
    app->stop_signal = signum;
}

static int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "opzosim: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return EXIT_FAIL;
}

/* The exit code of an error, decided by its domain and code alone (the file comment
 * lists them): 2 when what the user gave is at fault, so running again after fixing it
 * makes sense; 1 when the run failed while running. */
static int exit_code_for(const GError *error) {
    g_return_val_if_fail(error != NULL, EXIT_FAIL);
    /* Setting up a run: the scenario, its data files, and the network and learner wired
     * from it. */
    if (error->domain == OZ_SCENARIO_ERROR || error->domain == OZ_IDX_ERROR ||
        error->domain == OZ_NEURONS_ERROR || error->domain == OZ_FEEDBACK_ERROR ||
        error->domain == OZ_LEARNER_ERROR)
        return EXIT_USAGE;
    /* Event-camera recordings and their lists are the user's data: every code of the domain,
     * FAILED (unreadable) included, is bad input. */
    if (error->domain == OZ_EVENTS_ERROR)
        return EXIT_USAGE;
    /* convert: a bad option or output folder is the user's; a file that cannot be written
     * is a failure. */
    if (error->domain == OZ_CONVERT_ERROR)
        return error->code == OZ_CONVERT_ERROR_INPUT ? EXIT_USAGE : EXIT_FAIL;
    /* A NIR file is the user's too ([network] from_nir); only writing one can fail. */
    if (error->domain == OZ_NIR_ERROR)
        return error->code == OZ_NIR_ERROR_WRITE ? EXIT_FAIL : EXIT_USAGE;
    if (error->domain == OZ_RUN_ERROR) {
        switch ((OzRunError)error->code) {
        case OZ_RUN_ERROR_RESUME_NOT_FOUND:
        case OZ_RUN_ERROR_RESUME_CHANGED:
        case OZ_RUN_ERROR_RESUME_NOT_TRAINING:
            return EXIT_USAGE;
        case OZ_RUN_ERROR_NUMERIC:
        case OZ_RUN_ERROR_FAILED:
            return EXIT_FAIL;
        }
        return EXIT_FAIL;
    }
    if (error->domain == OZ_CHECKPOINT_ERROR) {
        /* A checkpoint that does not fit this scenario, or is not there (--init-from,
         * --resume, eval), is the user's choice; one that cannot be read back from the
         * run's own log is a failure. */
        switch ((OzCheckpointError)error->code) {
        case OZ_CHECKPOINT_ERROR_MISMATCH:
        case OZ_CHECKPOINT_ERROR_MISSING:
            return EXIT_USAGE;
        case OZ_CHECKPOINT_ERROR_CORRUPT:
        case OZ_CHECKPOINT_ERROR_FAILED:
            return EXIT_FAIL;
        }
        return EXIT_FAIL;
    }
    /* GLib's file errors name a file the user gave that is absent, unreadable or not what
     * it should be; only the unspecific FAILED is a failure. */
    if (error->domain == G_FILE_ERROR)
        return error->code == G_FILE_ERROR_FAILED ? EXIT_FAIL : EXIT_USAGE;
    /* A run log written by a newer opzosim is the user's file, not a failure. */
    if (error->domain == OZ_RUNLOG_ERROR && error->code == OZ_RUNLOG_ERROR_VERSION)
        return EXIT_USAGE;
    /* The run log (a write that failed, a lock held too long) and anything else. */
    return EXIT_FAIL;
}

/* Prints error and returns its exit code. */
static int report(const GError *error) {
    fprintf(stderr, "opzosim: error: %s\n", error->message);
    return exit_code_for(error);
}

/* The newest unfinished run named name: its id (−1 if there is none) and its scenario
 * text (transfer full). */
static gint64 find_unfinished_run(sqlite3 *db, const char *name, char **text) {
    sqlite3_stmt *st = NULL;
    gint64 id = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, scenario FROM runs WHERE name = ? AND status != "
                           "'finished' ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            *text = g_strdup((const char *)sqlite3_column_text(st, 1));
        }
    }
    sqlite3_finalize(st);
    return id;
}

/* Loads run id's newest epoch checkpoint (none: from the start) and positions the plan
 * after it. */
static gboolean skip_from_checkpoint(sqlite3 *db, gint64 id, OzRun *run, GError **error) {
    int epoch = oz_checkpoint_latest_epoch(db, id);
    if (epoch >= 0 && !oz_checkpoint_load(db, id, epoch, run, OZ_LOAD_ALL, error))
        return FALSE;
    oz_run_skip_to_epoch(run, epoch + 1);
    return TRUE;
}

/* Restores run id's state: where it was interrupted inside a phase if it was, else its
 * newest epoch checkpoint (none: from the start), and positions the plan after it. */
static gboolean restore_state(sqlite3 *db, gint64 id, OzRun *run, GError **error) {
    gboolean mid = FALSE;
    if (!oz_checkpoint_load_interrupt(db, id, run, &mid, error))
        return FALSE;
    /* Under MPI the stored counters are the whole run's: rank 0 continues them. */
    oz_run_split_counters(run);
    if (oz_dist_rank() > 0)
        return mid || skip_from_checkpoint(db, id, run, error);
    if (mid) {
        const OzPhase *ph = oz_run_current_phase(run);
        fprintf(stderr,
                "opzosim: resuming run %" G_GINT64_FORMAT " where it was interrupted: %s phase "
                "of epoch %d, sample %d\n",
                id, ph && ph->kind == OZ_PHASE_TRAIN ? "train" : "test", ph ? ph->epoch + 1 : 0,
                MAX(run->cursor, 0));
        return TRUE;
    }
    if (!skip_from_checkpoint(db, id, run, error))
        return FALSE;
    fprintf(stderr, "opzosim: resuming run %" G_GINT64_FORMAT " at epoch %d of %d\n", id,
            oz_checkpoint_latest_epoch(db, id) + 2, run->sc->run.epochs);
    return TRUE;
}

/* A run continued with other OpenBLAS kernels than it started with goes on correctly but
 * rounds its products differently, so it is no longer the same bits as an uninterrupted
 * run: say so, and how to keep them (runs older than the record say nothing). */
static void warn_other_kernels(sqlite3 *db, gint64 id) {
    if (oz_dist_rank() > 0)
        return;
    g_autofree char *then = oz_runlog_parameter(db, id, "run", "blas_kernels");
    const char *now = oz_blas_kernels();
    if (then && g_ascii_strcasecmp(then, now) != 0)
        fprintf(stderr,
                "opzosim: warning: run %" G_GINT64_FORMAT " started with OpenBLAS's %s kernels "
                "and continues with %s: its results will differ in the last bits from an "
                "uninterrupted run (OPENBLAS_CORETYPE=%s keeps the first)\n",
                id, then, now, then);
}

/* Finds the newest unfinished run with this scenario's name in db, restores its last
 * checkpoint into run and (given the log: rank 0) continues the run row. */
static gboolean resume_run(OzRunLog *log, sqlite3 *db, OzScenario *sc, OzRun *run, GError **error) {
    g_autofree char *text = NULL;
    gint64 id = find_unfinished_run(db, sc->run.name, &text);
    if (id < 0) {
        g_set_error(error, OZ_RUN_ERROR, OZ_RUN_ERROR_RESUME_NOT_FOUND,
                    "--resume: no unfinished run named '%s' in the run log", sc->run.name);
        return FALSE;
    }
    if (g_strcmp0(text, sc->text) != 0) {
        g_set_error(error, OZ_RUN_ERROR, OZ_RUN_ERROR_RESUME_CHANGED,
                    "--resume: %s (with its --set overrides) differs from the scenario run "
                    "%" G_GINT64_FORMAT " was started with; resume with the same file and "
                    "overrides",
                    sc->path, id);
        return FALSE;
    }
    if (!run->learner) {
        g_set_error(error, OZ_RUN_ERROR, OZ_RUN_ERROR_RESUME_NOT_TRAINING,
                    "--resume: only training runs (run.mode = train) can be resumed");
        return FALSE;
    }
    warn_other_kernels(db, id);
    return restore_state(db, id, run, error) && (!log || oz_runlog_resume_run(log, id, error));
}

/* Loading progress of a data set read from many files (event recordings): a line refreshed
 * about once a second on a terminal, every ten seconds otherwise, and the total at the end. */
static void load_progress(const char *what, gsize done, gsize total, gpointer user) {
    (void)user;
    static double last;
    gboolean tty = isatty(STDERR_FILENO);
    double t = now_s();
    if (done < total && t - last < (tty ? 1.0 : 10.0))
        return;
    last = t;
    if (tty)
        fprintf(stderr, "\r\033[Kopzosim: loading %s: %zu/%zu recordings%s", what, done, total,
                done == total ? "\n" : "");
    else
        fprintf(stderr, "opzosim: loading %s: %zu/%zu recordings\n", what, done, total);
    fflush(stderr);
}

/* eval: the run (default: the newest with a checkpoint) and how it was started — its
 * scenario text and path (transfer full) and thread count.  Prints and returns FALSE
 * when there is none. */
static gboolean find_checkpointed_run(sqlite3 *db, const char *db_path, gint64 *run_id, char **text,
                                      char **path, int *threads) {
    sqlite3_stmt *st = NULL;
    if (*run_id < 0 &&
        sqlite3_prepare_v2(db, "SELECT MAX(run_id) FROM checkpoints", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *run_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (*run_id < 0) {
        fprintf(stderr, "opzosim: error: %s holds no checkpoint (only training runs write them)\n",
                db_path);
        return FALSE;
    }
    if (sqlite3_prepare_v2(db, "SELECT scenario, scenario_path, threads FROM runs WHERE id = ?", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, *run_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *text = g_strdup((const char *)sqlite3_column_text(st, 0));
            *path = g_strdup((const char *)sqlite3_column_text(st, 1));
            *threads = sqlite3_column_int(st, 2);
        }
    }
    sqlite3_finalize(st);
    if (!*text) {
        fprintf(stderr, "opzosim: error: %s has no run %" G_GINT64_FORMAT "\n", db_path, *run_id);
        return FALSE;
    }
    return TRUE;
}

/* eval: the test accuracy the run logged for epoch, or −1. */
static double stored_test_accuracy(sqlite3 *db, gint64 run_id, int epoch) {
    sqlite3_stmt *st = NULL;
    double stored = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT accuracy FROM epochs WHERE run_id = ? AND epoch = ? AND "
                           "phase = 'test'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_int(st, 2, epoch);
        if (sqlite3_step(st) == SQLITE_ROW)
            stored = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    return stored;
}

static int cmd_eval(int argc, char **argv) {
    g_autofree char *db_path = NULL;
    g_auto(GStrv) sets = NULL;
    gint64 run_id = -1;
    int epoch = -1, threads = 0;
    GOptionEntry entries[] = {
        {"db", 'd', 0, G_OPTION_ARG_FILENAME, &db_path, "Run log database (required)", "PATH"},
        {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets,
         "Override a key of the stored scenario, section.key=value (repeatable): another test "
         "set, or e.g. hardware.neuron_noise=0.3 to test the stored network on a chip (the "
         "accuracy is then not compared with the stored one)",
         "KEY=VALUE"},
        {"run", 0, 0, G_OPTION_ARG_INT64, &run_id, "Run id (default: the newest with a checkpoint)",
         "ID"},
        {"epoch", 'e', 0, G_OPTION_ARG_INT, &epoch,
         "Epoch as numbered in the epochs table, from 0 (default: the newest checkpoint)", "N"},
        {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "compute threads (default: the run's)",
         "N"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- evaluate a stored checkpoint on the test set");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || !db_path || argc != 1) {
        fprintf(stderr, "opzosim eval: %s\n",
                error ? error->message
                      : "usage: opzosim eval --db PATH [--run ID] [--epoch N] [--set KEY=VALUE]");
        return EXIT_USAGE;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "opzosim: error: cannot open run log %s: %s\n", db_path,
                db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return EXIT_USAGE;
    }
    sqlite3_busy_timeout(db, 5000);
    g_autofree char *text = NULL, *path = NULL;
    int run_threads = 1;
    if (!find_checkpointed_run(db, db_path, &run_id, &text, &path, &run_threads)) {
        sqlite3_close(db);
        return EXIT_USAGE;
    }
    if (epoch < 0)
        epoch = oz_checkpoint_latest_epoch(db, run_id);
    oz_par_set_threads(CLAMP(threads > 0 ? threads : run_threads, 1, OZ_PAR_MAX_THREADS));
    /* The stored scenario's [run] name is not needed (eval writes no run log), and a log
     * made before run names had to be plain may hold one that is not: set a plain one. */
    g_autoptr(GPtrArray) overrides = g_ptr_array_new();
    for (char **s = sets; s && *s; s++)
        g_ptr_array_add(overrides, *s);
    /* After the user's: eval always infers. */
    const char *infer[] = {"run.mode=infer", "record.spike_samples=0", "run.name=eval"};
    for (gsize i = 0; i < G_N_ELEMENTS(infer); i++)
        g_ptr_array_add(overrides, (gpointer)infer[i]);
    g_ptr_array_add(overrides, NULL);
    g_autoptr(OzScenario) sc =
        oz_scenario_load_data(text, path, (const char *const *)overrides->pdata, &error);
    g_autoptr(OzRun) run = sc ? oz_run_new_with_progress(sc, load_progress, NULL, &error) : NULL;
    if (!run || !oz_checkpoint_load(db, run_id, epoch, run, OZ_LOAD_WEIGHTS, &error)) {
        sqlite3_close(db);
        return report(error);
    }
    /* The input stream as the test phase began, so Bernoulli inputs draw the same. */
    run->rng_input = run->rng_input_test;
    OzLogBatch *rows = NULL;
    while (oz_run_step(run, &rows))
        oz_log_batch_free(g_steal_pointer(&rows));
    double stored = stored_test_accuracy(db, run_id, epoch);
    sqlite3_close(db);
    if (sets) {
        /* Other data or settings: nothing stored to compare with. */
        printf("run %" G_GINT64_FORMAT " epoch %d: test accuracy %.4f%% over %" G_GINT64_FORMAT
               " samples (with --set: not compared with the stored %.4f%%)\n",
               run_id, epoch, 100.0 * run->last_accuracy, run->seen, 100.0 * stored);
        return EXIT_OK;
    }
    gboolean same = stored == run->last_accuracy;
    printf("run %" G_GINT64_FORMAT " epoch %d: test accuracy %.4f%% over %" G_GINT64_FORMAT
           " samples; stored %.4f%%: %s\n",
           run_id, epoch, 100.0 * run->last_accuracy, run->seen, 100.0 * stored,
           same ? "identical" : "DIFFERENT");
    return same ? EXIT_OK : EXIT_FAIL;
}

/* ---- One run: load, open the log, run the loop, record how it ended ---- */

/* What one run is asked to do: `run`'s command line, or one combination of a sweep. */
typedef struct {
    const char *scenario_path;
    char **sets;         /* --set overrides, NULL-terminated, or NULL */
    const char *db_path; /* NULL: runs/NAME.sqlite */
    int threads;         /* 0: [run] threads */
    gboolean quiet;
    gboolean resume;
    const char *init_from; /* start from a checkpoint's model: PATH[:RUN[:EPOCH]], or NULL */
    int busy_timeout_ms;   /* how long to wait for a run log another process has locked */
    const char *sweep;     /* the run row's sweep tag, or NULL */
    const char *prefix;    /* starts the progress line (sweeps), or NULL */
    guint sweep_index, sweep_count; /* this run's place in a sweep (count 0: no sweep) */
} RunRequest;

/* The scenario with its overrides, the compute team, and the wired network with its
 * data (and --init-from's model unless resuming).  Nothing is written yet, so a bad
 * input leaves no run row.  (transfer full) */
static gboolean load_run(const RunRequest *req, OzScenario **sc_out, OzRun **run_out,
                         int *threads_out, GError **error) {
    g_autoptr(OzScenario) sc =
        oz_scenario_load(req->scenario_path, (const char *const *)req->sets, error);
    if (!sc)
        return FALSE;
    int threads = req->threads ? req->threads : sc->run.threads;
    oz_par_set_threads(threads);
    g_autoptr(OzRun) run = oz_run_new_with_progress(sc, req->quiet ? NULL : load_progress, NULL,
                                                    error);
    if (!run)
        return FALSE;
    if (req->init_from && !req->resume && !oz_checkpoint_init_from(req->init_from, run, error))
        return FALSE;
    *threads_out = threads;
    *run_out = g_steal_pointer(&run);
    *sc_out = g_steal_pointer(&sc);
    return TRUE;
}

static void app_init(App *app, uv_loop_t *loop, OzRun *run, const RunRequest *req) {
    *app = (App){.loop = loop,
                 .run = run,
                 .quiet = req->quiet,
                 .prefix = req->prefix,
                 .sweep_index = req->sweep_index,
                 .sweep_count = req->sweep_count,
                 .tty = isatty(STDERR_FILENO),
                 .plain_every = 10.0 * run->sc->run.progress_seconds};
    /* Fault injection for tests: OPZOSIM_TEST_INTERRUPT_AFTER=N interrupts after N
     * batches, so a test can stop a run at an exact point. */
    const char *ia = g_getenv("OPZOSIM_TEST_INTERRUPT_AFTER");
    app->interrupt_after = ia ? g_ascii_strtoll(ia, NULL, 10) : 0;
}

static void start_signals(App *app) {
    uv_signal_init(app->loop, &app->sigint);
    uv_signal_init(app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
}

/* The run row's overrides: the --set list and --init-from, which changes where the run
 * starts as much as a key does.  (transfer full) */
static char *overrides_text(const RunRequest *req) {
    g_autofree char *joined = req->sets ? g_strjoinv("\n", req->sets) : NULL;
    if (!req->init_from || req->resume)
        return g_steal_pointer(&joined);
    return g_strdup_printf("%s%s--init-from %s", joined ? joined : "", joined ? "\n" : "",
                           req->init_from);
}

/* A new run row with the network's structure, or (--resume) the unfinished run's row
 * with its state restored. */
static gboolean open_run_row(App *app, const RunRequest *req, const char *db_path, int threads,
                             GError **error) {
    const OzScenario *sc = app->run->sc;
    if (req->resume && app->log)
        return resume_run(app->log, oz_runlog_db(app->log), app->run->sc, app->run, error);
    if (req->resume) {
        /* Another rank of an MPI run: it restores the same state from the log rank 0 has
         * opened (and migrated), reading only. */
        sqlite3 *db = NULL;
        gboolean ok = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK;
        if (!ok)
            g_set_error(error, OZ_RUN_ERROR, OZ_RUN_ERROR_FAILED, "cannot open run log %s: %s",
                        db_path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_busy_timeout(db, req->busy_timeout_ms);
        ok = ok && resume_run(NULL, db, app->run->sc, app->run, error);
        sqlite3_close(db);
        return ok;
    }
    if (!app->log)
        return TRUE; /* rank 0 writes the run row */
    g_autofree char *overrides = overrides_text(req);
    OzRunInfo info = {sc->run.name, sc->path, sc->text,     overrides,
                      sc->run.seed, threads,  sc->run.mode, req->sweep};
    if (oz_runlog_begin_run(app->log, &info, error) < 0)
        return FALSE;
    OzLogBatch *rows = oz_run_structure_rows(app->run);
    if (oz_dist_size() > 1) {
        /* An MPI run says how many processes split its batches (the last bits of its
         * results depend on it; docs/CLUSTER.md).  One process logs no such row. */
        g_autofree char *n = g_strdup_printf("%d", oz_dist_size());
        oz_log_batch_add(rows, OZ_ROW_PARAMETER, "sSs", "run", "processes", n);
    }
    oz_runlog_submit(app->log, rows);
    return TRUE;
}

/* Before the loop ran: closes the signal handles, the log and the loop. */
static void close_early(App *app) {
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_run(app->loop, UV_RUN_DEFAULT);
    if (app->log)
        oz_runlog_close(app->log);
    uv_loop_close(app->loop);
}

static void print_banner(const App *app, const char *db_path, int threads) {
    const OzRun *run = app->run;
    const OzScenario *sc = run->sc;
    fprintf(stderr,
            "opzosim %s: %s (run %" G_GINT64_FORMAT " in %s), %u populations, %u "
            "projections, T=%d+%" G_GINT64_FORMAT " drain, batch %d, %d thread%s",
            OZ_VERSION, sc->run.name, oz_runlog_run_id(app->log), db_path, run->net->pops->len,
            run->net->projs->len, sc->run.ticks, run->net->drain_ticks, sc->run.batch_size, threads,
            threads == 1 ? "" : "s");
    if (oz_dist_size() > 1)
        fprintf(stderr, " per process, %d processes", oz_dist_size());
    fprintf(stderr, ", OpenBLAS %s kernels\n", oz_blas_kernels());
}

/* The plan, one mini-batch per idle turn, until it is done, a signal or fault stops it,
 * or the log fails.  Returns when every handle is closed. */
static void run_loop(App *app) {
    app->started = app->last_time = app->last_plain = now_s();
    uv_idle_init(app->loop, &app->idle);
    uv_timer_init(app->loop, &app->timer);
    app->idle.data = app->timer.data = app;
    uv_idle_start(&app->idle, on_idle);
    guint64 period = (guint64)(app->run->sc->run.progress_seconds * 1000.0);
    uv_timer_start(&app->timer, on_timer, period, period);
    uv_run(app->loop, UV_RUN_DEFAULT);
}

/* A training run stopped by a signal inside its plan commits where it is, so --resume
 * continues at this batch. */
static void save_interruption(App *app) {
    OzRun *run = app->run;
    if (!app->stop_signal || !run->learner || run->fault || log_error(app) || app->peer_failed ||
        !oz_run_current_phase(run))
        return;
    /* Under MPI the counters and recorded spikes of every rank, at rank 0. */
    oz_run_gather_phase(run);
    if (!app->log)
        return;
    OzLogBatch *state = oz_log_batch_new();
    oz_checkpoint_add_interrupt_rows(run, state);
    oz_runlog_submit(app->log, state);
    uv_run(app->loop, UV_RUN_DEFAULT);
}

/* How the run ended: the run row's status and message (transfer full), and the exit
 * code.  A fault is printed now; a log error after the log is closed (execute). */
static int run_outcome(const App *app, const char **status, char **message) {
    const GError *werr = log_error(app);
    *status = "finished";
    *message = NULL;
    if (app->run->fault) {
        *status = "failed";
        *message = g_strdup(app->run->fault->message);
        return report(app->run->fault);
    }
    if (werr) {
        *status = "failed";
        *message = g_strdup(werr->message);
        return exit_code_for(werr);
    }
    if (app->peer_failed) {
        *status = "failed";
        *message = g_strdup("rank 0's run log failed");
        return EXIT_FAIL;
    }
    if (app->stop_signal) {
        *status = "interrupted";
        *message =
            g_strdup_printf("stopped by %s", app->stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        return 128 + app->stop_signal;
    }
    return EXIT_OK;
}

/* Writes the run row's status.  A failure may be passing (another process holding the
 * lock past the busy timeout), so it is tried three times; if all fail the row stays
 * 'running' and that is said. */
static gboolean mark_run_row(App *app, const char *status, const char *message,
                             const char *db_path) {
    g_autoptr(GError) ferr = NULL;
    /* Fault injection for tests: OPZOSIM_FAULT_FINISH_FAILS=N makes the first N attempts
     * fail. */
    const char *ff = g_getenv("OPZOSIM_FAULT_FINISH_FAILS");
    const gint64 finish_faults = ff ? g_ascii_strtoll(ff, NULL, 10) : 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        g_clear_error(&ferr);
        if (attempt < finish_faults)
            g_set_error(&ferr, OZ_RUN_ERROR, OZ_RUN_ERROR_FAILED,
                        "cannot mark run %" G_GINT64_FORMAT " %s (OPZOSIM_FAULT_FINISH_FAILS)",
                        oz_runlog_run_id(app->log), status);
        else if (oz_runlog_finish_run(app->log, status, message, &ferr))
            return TRUE;
    }
    fprintf(stderr, "opzosim: error: %s; run %" G_GINT64_FORMAT " stays marked 'running' in %s\n",
            ferr->message, oz_runlog_run_id(app->log), db_path);
    return FALSE;
}

static void print_summary(const App *app, const char *status, int code, const char *db_path) {
    const double seconds = now_s() - app->started;
    fprintf(stderr, "run %s: %s in %.1f s\n", status, app->run->sc->run.name, seconds);
    if (oz_dist_size() > 1)
        fprintf(stderr,
                "run %s: rank 0 spent %.2f s (%.1f%%) in collectives (waiting for the other "
                "ranks included) and sent %.1f MB\n",
                app->run->sc->run.name, oz_dist_seconds(),
                seconds > 0 ? 100.0 * oz_dist_seconds() / seconds : 0.0,
                (double)oz_dist_bytes_sent() / 1e6);
    if (oz_run_is_reference(app->run))
        fprintf(stderr, "run %s: %s\n", app->run->sc->run.name, OZ_RUN_REFERENCE_NOTE);
    if (code != EXIT_OK && !app->stop_signal)
        return;
    printf("run log: %s\n", db_path);
    printf("  sqlite3 %s \"select population, rate from firing_rates where run_id = "
           "(select max(id) from runs)\"\n",
           db_path);
    printf("  sqlite3 %s \"select model, joules_per_sample from energy where run_id = "
           "(select max(id) from runs) and phase = 'test'\"\n",
           db_path);
}

/* Runs one scenario (with overrides) to its end: the run loop, progress and signals.
 * Returns an exit code. */
static int execute(const RunRequest *given) {
    g_autoptr(GError) error = NULL;
    g_autoptr(OzScenario) sc = NULL;
    g_autoptr(OzRun) run = NULL;
    int threads = 0;
    /* Under MPI (docs/CLUSTER.md) every rank loads the scenario and data and steps its share
     * of each batch; rank 0 alone prints progress and writes the run log.  Every step that
     * can fail ends with oz_dist_max_int, so all ranks go on or all stop (each failing rank
     * prints its own error). */
    const gboolean lead = oz_dist_rank() == 0;
    RunRequest mine = *given;
    mine.quiet = given->quiet || !lead;
    const RunRequest *req = &mine;
    int code = load_run(req, &sc, &run, &threads, &error) ? EXIT_OK : report(error);
    if ((code = oz_dist_max_int(code)) != EXIT_OK)
        return code;
    if (lead && oz_run_is_reference(run))
        fprintf(stderr, "opzosim: %s\n", OZ_RUN_REFERENCE_NOTE);
    g_autofree char *db_path =
        req->db_path ? g_strdup(req->db_path) : g_strdup_printf("runs/%s.sqlite", sc->run.name);
    g_autofree char *dir = g_path_get_dirname(db_path);
    if (lead && g_mkdir_with_parents(dir, 0755) != 0)
        code = fail("cannot create the folder %s for the run log: %s", dir, g_strerror(errno));
    if ((code = oz_dist_max_int(code)) != EXIT_OK)
        return code;

    uv_loop_t loop;
    uv_loop_init(&loop);
    App app;
    app_init(&app, &loop, run, req);
    if (lead) {
        app.log = oz_runlog_open(db_path, &loop, req->busy_timeout_ms, &error);
        if (!app.log)
            code = report(error);
    }
    if ((code = oz_dist_max_int(code)) != EXIT_OK) {
        if (app.log)
            oz_runlog_close(app.log);
        uv_loop_close(&loop);
        return code;
    }
    /* Signals are caught before the run row exists, so an early ^C still ends with the
     * row marked interrupted rather than a process killed mid-write. */
    start_signals(&app);
    code = open_run_row(&app, req, db_path, threads, &error) ? EXIT_OK : report(error);
    if ((code = oz_dist_max_int(code)) != EXIT_OK) {
        close_early(&app);
        return code;
    }
    if (!req->quiet)
        print_banner(&app, db_path, threads);
    run_loop(&app);
    /* A signal that came as the plan ended: every rank ends alike. */
    agree_status(&app);
    save_interruption(&app);
    /* Every handle is closed and every queued write has run: the log is quiescent. */
    g_assert(!app.log || !oz_runlog_busy(app.log));
    progress(&app, TRUE);

    const char *status = NULL;
    g_autofree char *message = NULL;
    code = run_outcome(&app, &status, &message);
    gboolean log_failed = log_error(&app) != NULL;
    if (app.log && !mark_run_row(&app, status, message, db_path))
        code = EXIT_FAIL;
    if (app.log)
        oz_runlog_close(app.log);
    int rc = uv_loop_close(&loop);
    g_warn_if_fail(rc == 0);
    if (log_failed && !run->fault)
        fprintf(stderr, "opzosim: error: %s\n", message);
    if (!req->quiet)
        print_summary(&app, status, code, db_path);
    return code;
}

static int cmd_run(int argc, char **argv) {
    g_auto(GStrv) sets = NULL;
    g_autofree char *db_path = NULL, *init_from = NULL;
    int threads = 0, busy_timeout_ms = 5000;
    gboolean quiet = FALSE, resume = FALSE;
    GOptionEntry entries[] = {
        {"resume", 'r', 0, G_OPTION_ARG_NONE, &resume,
         "Continue the newest unfinished run of this scenario in the run log from its last "
         "checkpoint",
         NULL},
        {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets,
         "Override a scenario key (repeatable)", "SECTION.KEY=VALUE"},
        {"db", 'd', 0, G_OPTION_ARG_FILENAME, &db_path,
         "Run log database (default runs/NAME.sqlite)", "PATH"},
        {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "compute threads (default [run] threads)",
         "N"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL},
        {"busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_timeout_ms,
         "Milliseconds to wait for a run log locked by another process (default 5000)", "MS"},
        {"init-from", 0, 0, G_OPTION_ARG_STRING, &init_from,
         "Start from the weights, biases and feedback matrices of a checkpoint (default: the "
         "newest run and epoch in PATH)",
         "PATH[:RUN[:EPOCH]]"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("SCENARIO - run a scenario");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Scenario keys: opzosim keys.  Exit codes: 0 done, 1 runtime failure, 2 bad "
             "input, 130/143 interrupted.");
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "opzosim run: %s\n", error->message);
        return EXIT_USAGE;
    }
    if (argc != 2) {
        fprintf(stderr, "opzosim run: expected one scenario file (see opzosim run --help)\n");
        return EXIT_USAGE;
    }
    if (threads < 0 || threads > 256) {
        fprintf(stderr, "opzosim run: --threads %d: expected 1..256\n", threads);
        return EXIT_USAGE;
    }
    RunRequest req = {.scenario_path = argv[1],
                      .sets = sets,
                      .db_path = db_path,
                      .threads = threads,
                      .quiet = quiet,
                      .resume = resume,
                      .init_from = init_from,
                      .busy_timeout_ms = busy_timeout_ms};
    return execute(&req);
}

/* ---- sweep ---- */

/* The --vary lists and the combinations they make. */
typedef struct {
    guint nv;
    char **keys;       /* (nv) KEY or KEY1+KEY2, pointing into the --vary strings */
    GPtrArray *values; /* (nv) GStrv: each key's values */
    guint *counts;     /* (nv) */
    guint total;       /* combinations: the product of counts */
    GPtrArray *combos; /* (total) GStrv: every run's overrides */
    GPtrArray *labels; /* (total) "KEY=V KEY=V" */
} Sweep;

static void sweep_clear(Sweep *sw) {
    g_free(sw->keys);
    g_free(sw->counts);
    if (sw->values)
        g_ptr_array_free(sw->values, TRUE);
    if (sw->combos)
        g_ptr_array_free(sw->combos, TRUE);
    if (sw->labels)
        g_ptr_array_free(sw->labels, TRUE);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Sweep, sweep_clear)

/* Splits every --vary into its key and values (the strings are cut in place). */
static gboolean sweep_parse(Sweep *sw, char **varies) {
    sw->nv = g_strv_length(varies);
    sw->keys = g_new0(char *, sw->nv);
    sw->counts = g_new0(guint, sw->nv);
    sw->values = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    sw->total = 1;
    for (guint i = 0; i < sw->nv; i++) {
        char *eq = strchr(varies[i], '=');
        if (!eq || eq == varies[i] || !eq[1]) {
            fprintf(stderr, "opzosim sweep: --vary '%s': expected SECTION.KEY=V1,V2,...\n",
                    varies[i]);
            return FALSE;
        }
        *eq = '\0';
        sw->keys[i] = varies[i];
        g_ptr_array_add(sw->values, g_strsplit(eq + 1, ",", -1));
        sw->counts[i] = g_strv_length(g_ptr_array_index(sw->values, i));
        sw->total *= sw->counts[i];
    }
    return TRUE;
}

/* Combination c: the overrides (sets, then one per key of every --vary; transfer full)
 * and its label. */
static char **sweep_combination(const Sweep *sw, char **sets, guint c, char **label) {
    GPtrArray *s = g_ptr_array_new();
    for (char **p = sets; p && *p; p++)
        g_ptr_array_add(s, g_strdup(*p));
    GString *lb = g_string_new(NULL);
    guint rest = c;
    for (guint i = 0; i < sw->nv; i++) {
        const char *v = ((char **)g_ptr_array_index(sw->values, i))[rest % sw->counts[i]];
        rest /= sw->counts[i];
        /* KEY1+KEY2=... gives every key of the group the same value. */
        g_auto(GStrv) group = g_strsplit(sw->keys[i], "+", -1);
        for (char **k = group; *k; k++)
            g_ptr_array_add(s, g_strdup_printf("%s=%s", g_strstrip(*k), v));
        g_string_append_printf(lb, "%s%s=%s", i ? " " : "", sw->keys[i], v);
    }
    g_ptr_array_add(s, NULL);
    *label = g_string_free(lb, FALSE);
    return (char **)g_ptr_array_free(s, FALSE);
}

/* Builds every combination and validates its scenario before any runs. */
static gboolean sweep_prepare(Sweep *sw, const char *scenario_path, char **sets) {
    sw->combos = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    sw->labels = g_ptr_array_new_with_free_func(g_free);
    for (guint c = 0; c < sw->total; c++) {
        char *label = NULL;
        char **arr = sweep_combination(sw, sets, c, &label);
        g_ptr_array_add(sw->combos, arr);
        g_ptr_array_add(sw->labels, label);
        g_autoptr(GError) error = NULL;
        g_autoptr(OzScenario) sc =
            oz_scenario_load(scenario_path, (const char *const *)arr, &error);
        if (!sc) {
            fprintf(stderr, "opzosim: error: sweep combination %s: %s\n", label, error->message);
            return FALSE;
        }
    }
    return TRUE;
}

/* Runs the combinations in order, each as base with its overrides and tags.  A bad input
 * or an interruption ends the sweep; a failed run does not.  Returns the last exit code
 * that was not 0. */
static int sweep_run(const Sweep *sw, const RunRequest *base, const char *sweep_id) {
    int code = EXIT_OK;
    /* Under MPI the combinations are dealt to the ranks round-robin (rank r runs r, r + N,
     * …), each run by one rank alone. */
    const guint rank = (guint)oz_dist_world_rank(), ranks = (guint)oz_dist_world_size();
    for (guint c = rank; c < sw->total && (code == EXIT_OK || code == EXIT_FAIL); c += ranks) {
        const char *label = g_ptr_array_index(sw->labels, c);
        g_autofree char *tag = g_strdup_printf("%s %u/%u: %s", sweep_id, c + 1, sw->total, label);
        g_autofree char *prefix = g_strdup_printf("[%u/%u %s] ", c + 1, sw->total, label);
        if (!base->quiet)
            fprintf(stderr, "opzosim sweep: run %u of %u: %s\n", c + 1, sw->total, label);
        RunRequest req = *base;
        req.sets = g_ptr_array_index(sw->combos, c);
        req.sweep = tag;
        req.prefix = prefix;
        req.sweep_index = c;
        req.sweep_count = sw->total;
        int rc = execute(&req);
        if (rc != EXIT_OK)
            code = rc;
    }
    return code;
}

/* The log rank `rank` of `ranks` writes its runs of a sweep into, beside the target.
 * (transfer full) */
static char *sweep_part_path(const char *db_path, int rank, int ranks) {
    g_autofree char *stem = g_str_has_suffix(db_path, ".sqlite")
                                ? g_strndup(db_path, strlen(db_path) - 7)
                                : g_strdup(db_path);
    return g_strdup_printf("%s.rank%d-of-%d.sqlite", stem, rank, ranks);
}

/* A sweep under MPI (docs/CLUSTER.md): every rank runs its combinations alone into its own
 * log, TARGET.rankR-of-N.sqlite; at the end rank 0 merges the target (if it exists) and the
 * parts, in rank order, into the target and removes the parts (kept if the merge fails).
 * Returns the largest exit code of any rank's runs, or the merge's. */
static int sweep_ranks(const Sweep *sw, const RunRequest *base, const char *sweep_id) {
    const int rank = oz_dist_world_rank(), ranks = oz_dist_world_size();
    g_autofree char *part = sweep_part_path(base->db_path, rank, ranks);
    g_unlink(part); /* a part left by an earlier sweep would be merged twice */
    RunRequest mine = *base;
    mine.db_path = part;
    /* Every run of the sweep is one rank's alone. */
    oz_dist_solo(TRUE);
    int code = sweep_run(sw, &mine, sweep_id);
    oz_dist_solo(FALSE);
    code = oz_dist_max_int(code);
    if (rank != 0)
        return code;
    GPtrArray *inputs = g_ptr_array_new_with_free_func(g_free);
    if (g_file_test(base->db_path, G_FILE_TEST_EXISTS))
        g_ptr_array_add(inputs, g_strdup(base->db_path));
    for (int r = 0; r < ranks; r++) {
        char *p = sweep_part_path(base->db_path, r, ranks);
        if (g_file_test(p, G_FILE_TEST_EXISTS))
            g_ptr_array_add(inputs, p);
        else
            g_free(p); /* a rank with no combination (more ranks than runs) */
    }
    g_autoptr(GError) error = NULL;
    gint64 n_runs = 0;
    guint first_part = g_file_test(base->db_path, G_FILE_TEST_EXISTS) ? 1 : 0;
    if (inputs->len > 0 &&
        !oz_merge_logs(base->db_path, (char **)inputs->pdata, (int)inputs->len, &n_runs, &error)) {
        fprintf(stderr, "opzosim: error: sweep: merging the ranks' run logs: %s (they are kept)\n",
                error->message);
        g_ptr_array_free(inputs, TRUE);
        return MAX(code, EXIT_FAIL);
    }
    for (guint i = first_part; i < inputs->len; i++)
        g_unlink(inputs->pdata[i]);
    g_ptr_array_free(inputs, TRUE);
    if (!base->quiet)
        printf("sweep %s: %u runs on %d ranks, merged into %s\n  sqlite3 %s \"select r.sweep, "
               "e.accuracy from runs r join epochs e on e.run_id = r.id where e.phase = 'test' "
               "and r.sweep like '%s%%' order by r.id, e.epoch\"\n",
               sweep_id, sw->total, ranks, base->db_path, base->db_path, sweep_id);
    return code;
}

/* opzosim sweep: the cross product of --vary lists, each combination one run in one
 * database, tagged so that one SQL query compares them. */
static int cmd_sweep(int argc, char **argv) {
    g_auto(GStrv) sets = NULL, varies = NULL;
    g_autofree char *db_path = NULL, *init_from = NULL;
    int threads = 0;
    gboolean quiet = FALSE;
    GOptionEntry entries[] = {
        {"vary", 'v', 0, G_OPTION_ARG_STRING_ARRAY, &varies,
         "A key and its values (repeatable; the sweep is the cross product); "
         "K1+K2=V1,... sets several keys to the same value",
         "SECTION.KEY=V1,V2,..."},
        {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sets, "Override for every run (repeatable)",
         "SECTION.KEY=VALUE"},
        {"db", 'd', 0, G_OPTION_ARG_FILENAME, &db_path,
         "Run log database (default runs/NAME-sweep.sqlite)", "PATH"},
        {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "compute threads", "N"},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL},
        {"init-from", 0, 0, G_OPTION_ARG_STRING, &init_from,
         "Every run starts from this checkpoint's weights and feedback matrices",
         "PATH[:RUN[:EPOCH]]"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("SCENARIO - run every combination of the --vary values");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Example: opzosim sweep s.ini --vary rule.name=opzo,dfa "
             "--vary 'feedback h1.delay=0,2,4'\nCompare: select sweep, overrides, max(accuracy) "
             "from runs join epochs on run_id = id where phase = 'test' group by id;");
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 || !varies) {
        fprintf(stderr, "opzosim sweep: %s\n",
                error ? error->message
                      : "expected a scenario and at least one --vary (see opzosim sweep --help)");
        return EXIT_USAGE;
    }
    g_auto(Sweep) sw = {0};
    if (!sweep_parse(&sw, varies) || !sweep_prepare(&sw, argv[1], sets))
        return EXIT_USAGE;
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
    /* Under MPI every rank tags its runs with rank 0's time. */
    char shared[32] = {0};
    g_strlcpy(shared, stamp, sizeof shared);
    oz_dist_bcast(shared, sizeof shared, 0);
    g_free(stamp);
    stamp = g_strdup(shared);
    g_autofree char *base = g_path_get_basename(argv[1]);
    g_autofree char *sweep_id = g_strdup_printf("%s@%s", base, stamp);
    if (!db_path) {
        /* The file's name is input too: sanitised like a defaulted run name. */
        g_autofree char *stem = oz_scenario_name_from_path(argv[1]);
        db_path = g_strdup_printf("runs/%s-sweep.sqlite", stem);
    }
    RunRequest each = {.scenario_path = argv[1],
                       .db_path = db_path,
                       .threads = threads,
                       .quiet = quiet,
                       .init_from = init_from,
                       .busy_timeout_ms = 5000};
    if (oz_dist_world_size() > 1)
        return sweep_ranks(&sw, &each, sweep_id);
    int code = sweep_run(&sw, &each, sweep_id);
    if (!quiet)
        printf(
            "sweep %s: %u runs in %s\n  sqlite3 %s \"select r.sweep, e.accuracy from runs r join "
            "epochs e on e.run_id = r.id where e.phase = 'test' and r.sweep like '%s%%' "
            "order by r.id, e.epoch\"\n",
            sweep_id, sw.total, db_path, db_path, sweep_id);
    return code;
}

static int cmd_keys(void) {
    g_autofree char *s = oz_scenario_describe();
    printf("Scenario sections and keys (GLib key file syntax):\n%s", s);
    return EXIT_OK;
}

static void usage(FILE *f) {
    fprintf(f, "Usage: opzosim COMMAND [OPTIONS]\n\n"
               "Commands:\n"
               "  run SCENARIO [--set SECTION.KEY=VALUE]... [--db PATH] [--threads N]\n"
               "               run a scenario and log it to SQLite\n"
               "  run SCENARIO --resume ...   continue an interrupted training run\n"
               "  sweep SCENARIO --vary SECTION.KEY=V1,V2,... [--vary ...] [--set ...]\n"
               "               run the cross product into one database, each run tagged\n"
               "  eval --db PATH [--run ID] [--epoch N] [--set SECTION.KEY=VALUE]...\n"
               "               re-evaluate a stored checkpoint on the test set (or, with --set,\n"
               "               on other data)\n"
               "  keys         list every scenario section and key with its default\n"
               "  export DB [--run ID] [--epoch N] --format nir --out FILE.nir [--dt S]\n"
               "               write a trained network as a NIR graph (docs/INTEROP.md)\n"
               "  plot DB [--run ID|NAME]... [--sweep TAG] --what KIND --out FILE.{png,svg,pdf}\n"
               "               [--data FILE.csv]   draw a figure; KIND: curves, raster, rates,\n"
               "               energy, grad, ops or levels\n"
               "  report DB [--run ID|NAME]... [--sweep TAG] [--format text|markdown|csv|html]\n"
               "               the tables of a study (accuracy, rates, SynOps, energy)\n"
               "  runs DB      list the runs of a run log\n"
               "  merge OUT.sqlite IN.sqlite... [--force]\n"
               "               merge run logs into a new one (run ids renumbered)\n"
               "  convert --from mnist|fashion-mnist|idx --out DIR [--limit N] [--seed N]\n"
               "               make an N-MNIST-like data set with the saccade emulator\n"
               "  convert --check DIR [--against DIR2] [--format markdown]\n"
               "               statistics of an N-MNIST-layout folder against real recordings\n"
               "  --version    print the version\n"
               "  --help       this text (opzosim run --help for run's options)\n");
}

static int dispatch(int argc, char **argv);

/* Under MPI (docs/CLUSTER.md) `run` splits its batches over the ranks and `sweep` deals its
 * combinations to them; any other command runs in every rank alone. */
int main(int argc, char **argv) {
    if (!oz_dist_init(&argc, &argv))
        return EXIT_FAIL;
    if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "sweep") != 0))
        oz_dist_solo(TRUE);
    int code = dispatch(argc, argv);
    oz_dist_solo(FALSE);
    oz_dist_finalize();
    return code;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("opzosim %s (SQLite %s, libuv %s, GLib %u.%u.%u, OpenBLAS %s kernels)\n", OZ_VERSION,
               sqlite3_libversion(), uv_version_string(), glib_major_version, glib_minor_version,
               glib_micro_version, oz_blas_kernels());
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "sweep") == 0)
        return cmd_sweep(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(argv[1], "keys") == 0)
        return cmd_keys();
    if (strcmp(argv[1], "export") == 0)
        return oz_cmd_export(argc - 1, argv + 1);
    if (strcmp(argv[1], "plot") == 0)
        return oz_cmd_plot(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0)
        return oz_cmd_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "runs") == 0)
        return oz_cmd_runs(argc - 1, argv + 1);
    if (strcmp(argv[1], "merge") == 0)
        return oz_cmd_merge(argc - 1, argv + 1);
    if (strcmp(argv[1], "convert") == 0)
        return oz_convert_main(argc - 1, argv + 1, report);
    fprintf(stderr, "opzosim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

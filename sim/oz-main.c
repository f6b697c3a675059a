/* oz-main.c — the opzosim program: command line, the libuv run loop, progress, signals.
 *
 * The simulation advances one mini-batch per turn of a uv_idle handle, so the loop stays
 * responsive: a timer refreshes the progress line, SIGINT/SIGTERM set a flag that stops
 * the run after the current batch, and the run log's writer commits on the thread pool
 * meanwhile.  This is the only place that prints.
 *
 * Exit codes: 0 done; 1 runtime failure (run log, I/O); 2 bad command line, scenario or
 * data; 130 / 143 interrupted by SIGINT / SIGTERM.
 */
#include "io/oz-runlog.h"
#include "io/oz-scenario.h"
#include "sim/oz-checkpoint.h"
#include "sim/oz-run.h"

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
} App;

static double now_s(void) {
    return (double)g_get_monotonic_time() / 1e6;
}

static void format_eta(double s, char *buf, gsize n) {
    if (s < 0 || s > 1e7)
        g_strlcpy(buf, "?", n);
    else if (s >= 3600)
        g_snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        g_snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        g_snprintf(buf, n, "%.0fs", s);
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
    char eta[32];
    double left = (double)(run->samples_total - run->samples_done);
    format_eta(app->rate > 0 ? left / app->rate : -1, eta, sizeof eta);
    g_autofree char *line = g_strdup_printf(
        "%s%s epoch %d/%d  %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " samples  %.0f samples/s  "
        "acc %.2f%%  ETA %s",
        app->prefix ? app->prefix : "", ph ? (ph->kind == OZ_PHASE_TRAIN ? "[train]" : "[test]") : "[done]",
        ph ? ph->epoch + 1 : run->sc->run.epochs, run->sc->run.epochs, run->samples_done,
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

static void on_idle(uv_idle_t *h) {
    App *app = h->data;
    if (app->stop_signal || oz_runlog_error(app->log)) {
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
        oz_runlog_submit(app->log, rows);
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

/* Finds the newest unfinished run with this scenario's name, restores its last
 * checkpoint into run and continues the run row.  Returns an exit code. */
static int resume_run(OzRunLog *log, OzScenario *sc, OzRun *run, GError **error) {
    sqlite3 *db = oz_runlog_db(log);
    sqlite3_stmt *st = NULL;
    gint64 id = -1;
    g_autofree char *text = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, scenario FROM runs WHERE name = ? AND status != "
                           "'finished' ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, sc->run.name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            id = sqlite3_column_int64(st, 0);
            text = g_strdup((const char *)sqlite3_column_text(st, 1));
        }
    }
    sqlite3_finalize(st);
    if (id < 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "--resume: no unfinished run named '%s' in the run log", sc->run.name);
        return EXIT_USAGE;
    }
    if (g_strcmp0(text, sc->text) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--resume: %s (with its --set overrides) differs from the scenario run %" G_GINT64_FORMAT
                    " was started with; resume with the same file and overrides",
                    sc->path, id);
        return EXIT_USAGE;
    }
    if (!run->learner) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "--resume: only training runs (run.mode = train) can be resumed");
        return EXIT_USAGE;
    }
    /* A state this build cannot read (another format, a missing tensor) is bad input like
     * a bad scenario: nothing has started, and the run row is left as it was. */
    gboolean mid = FALSE;
    if (!oz_checkpoint_load_interrupt(db, id, run, &mid, error))
        return EXIT_USAGE;
    if (mid) {
        const OzPhase *ph = oz_run_current_phase(run);
        fprintf(stderr,
                "opzosim: resuming run %" G_GINT64_FORMAT " where it was interrupted: %s phase "
                "of epoch %d, sample %d\n",
                id, ph && ph->kind == OZ_PHASE_TRAIN ? "train" : "test", ph ? ph->epoch + 1 : 0,
                MAX(run->cursor, 0));
    } else {
        int epoch = oz_checkpoint_latest_epoch(db, id);
        if (epoch >= 0 && !oz_checkpoint_load(db, id, epoch, run, OZ_LOAD_ALL, error))
            return EXIT_USAGE;
        oz_run_skip_to_epoch(run, epoch + 1);
        fprintf(stderr, "opzosim: resuming run %" G_GINT64_FORMAT " at epoch %d of %d\n", id,
                epoch + 2, sc->run.epochs);
    }
    if (!oz_runlog_resume_run(log, id, error))
        return EXIT_FAIL;
    return EXIT_OK;
}

static int cmd_eval(int argc, char **argv) {
    g_autofree char *db_path = NULL;
    gint64 run_id = -1;
    int epoch = -1, threads = 0;
    GOptionEntry entries[] = {
        {"db", 'd', 0, G_OPTION_ARG_FILENAME, &db_path, "Run log database (required)", "PATH"},
        {"run", 0, 0, G_OPTION_ARG_INT64, &run_id, "Run id (default: the newest with a checkpoint)",
         "ID"},
        {"epoch", 'e', 0, G_OPTION_ARG_INT, &epoch,
         "Epoch as numbered in the epochs table, from 0 (default: the newest checkpoint)", "N"},
        {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "compute threads (default: the run's)", "N"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- evaluate a stored checkpoint on the test set");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || !db_path || argc != 1) {
        fprintf(stderr, "opzosim eval: %s\n",
                error ? error->message : "usage: opzosim eval --db PATH [--run ID] [--epoch N]");
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
    sqlite3_stmt *st = NULL;
    if (run_id < 0 &&
        sqlite3_prepare_v2(db, "SELECT MAX(run_id) FROM checkpoints", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        run_id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (run_id < 0) {
        fprintf(stderr, "opzosim: error: %s holds no checkpoint (only training runs write them)\n",
                db_path);
        sqlite3_close(db);
        return EXIT_USAGE;
    }
    if (epoch < 0)
        epoch = oz_checkpoint_latest_epoch(db, run_id);
    g_autofree char *text = NULL, *path = NULL;
    int run_threads = 1;
    if (sqlite3_prepare_v2(db, "SELECT scenario, scenario_path, threads FROM runs WHERE id = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            text = g_strdup((const char *)sqlite3_column_text(st, 0));
            path = g_strdup((const char *)sqlite3_column_text(st, 1));
            run_threads = sqlite3_column_int(st, 2);
        }
    }
    sqlite3_finalize(st);
    if (!text) {
        fprintf(stderr, "opzosim: error: %s has no run %" G_GINT64_FORMAT "\n", db_path, run_id);
        sqlite3_close(db);
        return EXIT_USAGE;
    }
    oz_par_set_threads(CLAMP(threads > 0 ? threads : run_threads, 1, OZ_PAR_MAX_THREADS));
    const char *infer[] = {"run.mode=infer", "record.spike_samples=0", NULL};
    g_autoptr(OzScenario) sc = oz_scenario_load_data(text, path, infer, &error);
    g_autoptr(OzRun) run = sc ? oz_run_new(sc, &error) : NULL;
    if (!run || !oz_checkpoint_load(db, run_id, epoch, run, OZ_LOAD_WEIGHTS, &error)) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        sqlite3_close(db);
        return EXIT_USAGE;
    }
    run->rng_input = run->rng_input_test;
    OzLogBatch *rows = NULL;
    while (oz_run_step(run, &rows))
        oz_log_batch_free(g_steal_pointer(&rows));
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
    sqlite3_close(db);
    gboolean same = stored == run->last_accuracy;
    printf("run %" G_GINT64_FORMAT " epoch %d: test accuracy %.4f%% over %" G_GINT64_FORMAT
           " samples; stored %.4f%%: %s\n",
           run_id, epoch, 100.0 * run->last_accuracy, run->seen, 100.0 * stored,
           same ? "identical" : "DIFFERENT");
    return same ? EXIT_OK : EXIT_FAIL;
}

static int execute(const char *scenario_path, char **sets, const char *db_arg, int threads,
                   gboolean quiet, gboolean resume, const char *sweep, const char *prefix);

/* How long to wait for a run log that another process has locked. */
static int busy_timeout_ms = 5000;
/* The sweep's progress, shown on every run's progress line. */
static guint sweep_index = 0, sweep_count = 0;
/* --init-from: start from the weights and feedback matrices of a stored checkpoint. */
static char *init_from = NULL;

static int cmd_run(int argc, char **argv) {
    g_auto(GStrv) sets = NULL;
    g_autofree char *db_path = NULL;
    int threads = 0;
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
    return execute(argv[1], sets, db_path, threads, quiet, resume, NULL, NULL);
}

/* Runs one scenario (with overrides) to its end; the run loop, progress and signals.
 * sweep tags the run row; prefix starts the progress line.  Returns an exit code. */
static int execute(const char *scenario_path, char **sets, const char *db_arg, int threads,
                   gboolean quiet, gboolean resume, const char *sweep, const char *prefix) {
    g_autoptr(GError) error = NULL;
    g_autoptr(OzScenario) sc = oz_scenario_load(scenario_path, (const char *const *)sets, &error);
    if (!sc) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return EXIT_USAGE;
    }
    g_autofree char *db_path = g_strdup(db_arg);
    if (threads == 0)
        threads = sc->run.threads;
    oz_par_set_threads(threads);

    g_autoptr(OzRun) run = oz_run_new(sc, &error);
    if (!run) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return EXIT_USAGE;
    }
    if (init_from && !resume && !oz_checkpoint_init_from(init_from, run, &error)) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return EXIT_USAGE;
    }
    if (!db_path)
        db_path = g_strdup_printf("runs/%s.sqlite", sc->run.name);
    g_autofree char *dir = g_path_get_dirname(db_path);
    if (g_mkdir_with_parents(dir, 0755) != 0)
        return fail("cannot create the folder %s for the run log: %s", dir, g_strerror(errno));

    App app = {0};
    uv_loop_t loop;
    uv_loop_init(&loop);
    app.loop = &loop;
    app.run = run;
    app.quiet = quiet;
    app.prefix = prefix;
    app.sweep_index = sweep_index;
    app.sweep_count = sweep_count;
    /* Fault injection for tests: OPZOSIM_TEST_INTERRUPT_AFTER=N interrupts after N
     * batches, so a test can stop a run at an exact point. */
    const char *ia = g_getenv("OPZOSIM_TEST_INTERRUPT_AFTER");
    app.interrupt_after = ia ? g_ascii_strtoll(ia, NULL, 10) : 0;
    app.tty = isatty(STDERR_FILENO);
    app.plain_every = 10.0 * sc->run.progress_seconds;
    app.log = oz_runlog_open(db_path, &loop, busy_timeout_ms, &error);
    if (!app.log) {
        uv_loop_close(&loop);
        return fail("%s", error->message);
    }
    g_autofree char *joined = sets ? g_strjoinv("\n", sets) : NULL;
    g_autofree char *overrides = init_from && !resume
                                     ? g_strdup_printf("%s%s--init-from %s", joined ? joined : "",
                                                       joined ? "\n" : "", init_from)
                                     : g_strdup(joined);
    OzRunInfo info = {sc->run.name, sc->path, sc->text,     overrides,
                      sc->run.seed, threads,  sc->run.mode, sweep};
    /* Signals are caught before the run row exists, so an early ^C still ends with the
     * row marked interrupted rather than a process killed mid-write. */
    uv_signal_init(&loop, &app.sigint);
    uv_signal_init(&loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    int early = EXIT_OK;
    if (resume) {
        early = resume_run(app.log, sc, run, &error);
        if (early != EXIT_OK)
            fprintf(stderr, "opzosim: error: %s\n", error->message);
    } else if (oz_runlog_begin_run(app.log, &info, &error) < 0) {
        early = fail("%s", error->message);
    } else {
        oz_runlog_submit(app.log, oz_run_structure_rows(run));
    }
    if (early != EXIT_OK) {
        uv_close((uv_handle_t *)&app.sigint, NULL);
        uv_close((uv_handle_t *)&app.sigterm, NULL);
        uv_run(&loop, UV_RUN_DEFAULT);
        oz_runlog_close(app.log);
        uv_loop_close(&loop);
        return early;
    }
    if (!quiet)
        fprintf(stderr,
                "opzosim %s: %s (run %" G_GINT64_FORMAT " in %s), %u populations, %u "
                "projections, T=%d+%" G_GINT64_FORMAT " drain, batch %d, %d thread%s\n",
                OZ_VERSION, sc->run.name, oz_runlog_run_id(app.log), db_path,
                run->net->pops->len, run->net->projs->len, sc->run.ticks,
                run->net->drain_ticks, sc->run.batch_size, threads, threads == 1 ? "" : "s");

    app.started = app.last_time = app.last_plain = now_s();
    uv_idle_init(&loop, &app.idle);
    uv_timer_init(&loop, &app.timer);
    app.idle.data = app.timer.data = &app;
    uv_idle_start(&app.idle, on_idle);
    guint64 period = (guint64)(sc->run.progress_seconds * 1000.0);
    uv_timer_start(&app.timer, on_timer, period, period);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (app.stop_signal && run->learner && !run->fault && !oz_runlog_error(app.log) &&
        oz_run_current_phase(run)) {
        /* Interrupted inside the plan: commit where we are, so --resume continues here. */
        OzLogBatch *state = oz_log_batch_new();
        oz_checkpoint_add_interrupt_rows(run, state);
        oz_runlog_submit(app.log, state);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    /* Every handle is closed and every queued write has run: the log is quiescent. */
    g_assert(!oz_runlog_busy(app.log));
    progress(&app, TRUE);

    int code = EXIT_OK;
    const char *status = "finished";
    g_autofree char *message = NULL;
    const GError *werr = oz_runlog_error(app.log);
    if (run->fault) {
        status = "failed";
        message = g_strdup(run->fault->message);
        code = EXIT_FAIL;
        fprintf(stderr, "opzosim: error: %s\n", message);
    } else if (werr) {
        status = "failed";
        message = g_strdup(werr->message);
        code = EXIT_FAIL;
    } else if (app.stop_signal) {
        status = "interrupted";
        message = g_strdup_printf("stopped by %s", app.stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
        code = 128 + app.stop_signal;
    }
    g_autoptr(GError) ferr = NULL;
    gboolean marked = FALSE;
    /* Fault injection for tests: OPZOSIM_FAULT_FINISH_FAILS=N makes the first N attempts
     * to mark the run row fail. */
    const char *ff = g_getenv("OPZOSIM_FAULT_FINISH_FAILS");
    const gint64 finish_faults = ff ? g_ascii_strtoll(ff, NULL, 10) : 0;
    for (int attempt = 0; attempt < 3 && !marked; attempt++) {
        g_clear_error(&ferr);
        if (attempt < finish_faults)
            g_set_error(&ferr, G_FILE_ERROR, G_FILE_ERROR_IO,
                        "cannot mark run %" G_GINT64_FORMAT " %s (OPZOSIM_FAULT_FINISH_FAILS)",
                        oz_runlog_run_id(app.log), status);
        else
            marked = oz_runlog_finish_run(app.log, status, message, &ferr);
    }
    if (!marked) {
        fprintf(stderr,
                "opzosim: error: %s; run %" G_GINT64_FORMAT " stays marked 'running' in %s\n",
                ferr->message, oz_runlog_run_id(app.log), db_path);
        code = EXIT_FAIL;
    }
    oz_runlog_close(app.log);
    int rc = uv_loop_close(&loop);
    g_warn_if_fail(rc == 0);
    if (werr)
        fprintf(stderr, "opzosim: error: %s\n", message);
    if (!quiet) {
        fprintf(stderr, "run %s: %s in %.1f s\n", status, sc->run.name, now_s() - app.started);
        if (code == EXIT_OK || app.stop_signal) {
            printf("run log: %s\n", db_path);
            printf("  sqlite3 %s \"select population, rate from firing_rates where run_id = "
                   "(select max(id) from runs)\"\n",
                   db_path);
            printf("  sqlite3 %s \"select model, joules_per_sample from energy where run_id = "
                   "(select max(id) from runs) and phase = 'test'\"\n",
                   db_path);
        }
    }
    return code;
}

/* opzosim sweep: the cross product of --vary lists, each combination one run in one
 * database, tagged so that one SQL query compares them. */
static int cmd_sweep(int argc, char **argv) {
    g_auto(GStrv) sets = NULL, varies = NULL;
    g_autofree char *db_path = NULL;
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
    /* Split every --vary into its key and values. */
    guint nv = g_strv_length(varies);
    g_autofree char **keys = g_new0(char *, nv);
    g_autofree GStrv *values = g_new0(GStrv, nv);
    g_autofree guint *counts = g_new0(guint, nv);
    guint total = 1;
    for (guint i = 0; i < nv; i++) {
        char *eq = strchr(varies[i], '=');
        if (!eq || eq == varies[i] || !eq[1]) {
            fprintf(stderr, "opzosim sweep: --vary '%s': expected SECTION.KEY=V1,V2,...\n",
                    varies[i]);
            for (guint k = 0; k < i; k++)
                g_strfreev(values[k]);
            return EXIT_USAGE;
        }
        *eq = '\0';
        keys[i] = varies[i];
        values[i] = g_strsplit(eq + 1, ",", -1);
        counts[i] = g_strv_length(values[i]);
        total *= counts[i];
    }
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
    g_autofree char *base = g_path_get_basename(argv[1]);
    g_autofree char *sweep_id = g_strdup_printf("%s@%s", base, stamp);
    if (!db_path) {
        char *dot = strrchr(base, '.');
        if (dot)
            *dot = '\0';
        db_path = g_strdup_printf("runs/%s-sweep.sqlite", base);
    }
    /* Validate every combination before running any. */
    GPtrArray *combos = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
    GPtrArray *labels = g_ptr_array_new_with_free_func(g_free);
    for (guint c = 0; c < total; c++) {
        GPtrArray *s = g_ptr_array_new();
        for (char **p = sets; p && *p; p++)
            g_ptr_array_add(s, g_strdup(*p));
        GString *label = g_string_new(NULL);
        guint rest = c;
        for (guint i = 0; i < nv; i++) {
            const char *v = values[i][rest % counts[i]];
            rest /= counts[i];
            /* KEY1+KEY2=... gives every key of the group the same value. */
            g_auto(GStrv) group = g_strsplit(keys[i], "+", -1);
            for (char **k = group; *k; k++)
                g_ptr_array_add(s, g_strdup_printf("%s=%s", g_strstrip(*k), v));
            g_string_append_printf(label, "%s%s=%s", i ? " " : "", keys[i], v);
        }
        g_ptr_array_add(s, NULL);
        char **arr = (char **)g_ptr_array_free(s, FALSE);
        g_autoptr(OzScenario) sc = oz_scenario_load(argv[1], (const char *const *)arr, &error);
        if (!sc) {
            fprintf(stderr, "opzosim: error: sweep combination %s: %s\n", label->str,
                    error->message);
            g_strfreev(arr);
            g_string_free(label, TRUE);
            g_ptr_array_free(combos, TRUE);
            g_ptr_array_free(labels, TRUE);
            for (guint i = 0; i < nv; i++)
                g_strfreev(values[i]);
            return EXIT_USAGE;
        }
        g_ptr_array_add(combos, arr);
        g_ptr_array_add(labels, g_string_free(label, FALSE));
    }
    int code = EXIT_OK;
    for (guint c = 0; c < total && (code == EXIT_OK || code == EXIT_FAIL); c++) {
        g_autofree char *tag = g_strdup_printf("%s %u/%u: %s", sweep_id, c + 1, total,
                                               (char *)g_ptr_array_index(labels, c));
        g_autofree char *prefix =
            g_strdup_printf("[%u/%u %s] ", c + 1, total, (char *)g_ptr_array_index(labels, c));
        if (!quiet)
            fprintf(stderr, "opzosim sweep: run %u of %u: %s\n", c + 1, total,
                    (char *)g_ptr_array_index(labels, c));
        sweep_index = c;
        sweep_count = total;
        int rc = execute(argv[1], g_ptr_array_index(combos, c), db_path, threads, quiet, FALSE,
                         tag, prefix);
        if (rc != EXIT_OK)
            code = rc;
    }
    if (!quiet)
        printf("sweep %s: %u runs in %s\n  sqlite3 %s \"select r.sweep, e.accuracy from runs r join "
               "epochs e on e.run_id = r.id where e.phase = 'test' and r.sweep like '%s%%' "
               "order by r.id, e.epoch\"\n",
               sweep_id, total, db_path, db_path, sweep_id);
    g_ptr_array_free(combos, TRUE);
    g_ptr_array_free(labels, TRUE);
    for (guint i = 0; i < nv; i++)
        g_strfreev(values[i]);
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
               "  eval --db PATH [--run ID] [--epoch N]\n"
               "               re-evaluate a stored checkpoint on the test set\n"
               "  keys         list every scenario section and key with its default\n"
               "  --version    print the version\n"
               "  --help       this text (opzosim run --help for run's options)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("opzosim %s (SQLite %s, libuv %s, GLib %u.%u.%u)\n", OZ_VERSION,
               sqlite3_libversion(), uv_version_string(), glib_major_version,
               glib_minor_version, glib_micro_version);
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
    fprintf(stderr, "opzosim: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

/* oz-checkpoint.c — see oz-checkpoint.h.  Tensors are enumerated in one place
 * (foreach_tensor) so saving and loading cannot disagree about names. */
#include "oz-checkpoint.h"

#include <stdlib.h>
#include <string.h>

/* kind: 0 weights and biases, 1 the test input stream, 2 feedback and LL matrices,
 * 3 optimizer and random state, 4 the position inside a phase (interruptions only). */
typedef void (*TensorFunc)(const char *name, void *data, gsize bytes, int kind, gpointer user);

/* The layout of the tensors below; bump it whenever a tensor's name, size or meaning
 * changes, so an old checkpoint is refused with a clear message, not misread. */
#define OZ_CHECKPOINT_FORMAT 2
static const guint32 checkpoint_format = OZ_CHECKPOINT_FORMAT;

static void foreach_tensor(OzRun *run, TensorFunc fn, gpointer user) {
    char name[256];
    /* First, so a loader checks it before anything else (see load_one). */
    fn("format", (void *)&checkpoint_format, sizeof checkpoint_format, 0, user);
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        g_snprintf(name, sizeof name, "w:%s", p->name);
        fn(name, p->w, sizeof(float) * (gsize)p->n_pre * p->n_post, 0, user);
    }
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        if (!pop->bias)
            continue;
        g_snprintf(name, sizeof name, "b:%s", pop->name);
        fn(name, pop->bias, sizeof(float) * (gsize)pop->n, 0, user);
    }
    fn("rng:input_test", &run->rng_input_test, sizeof(OzRng), 1, user);
    if (!run->learner)
        return;
    OzLearner *l = run->learner;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (!h->path.mat)
            continue;
        g_snprintf(name, sizeof name, "fb:%s", h->pop->name);
        fn(name, h->path.mat, sizeof(float) * (gsize)h->path.n * h->path.m, 2, user);
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (!h->ll_w)
            continue;
        g_snprintf(name, sizeof name, "ll:%s", h->pop->name);
        fn(name, h->ll_w, sizeof(float) * (gsize)h->pop->n * l->m, 2, user);
    }
    for (guint i = 0; i < l->opt->params->len; i++) {
        OzParam *p = &g_array_index(l->opt->params, OzParam, i);
        g_snprintf(name, sizeof name, "m:%s", p->name);
        fn(name, p->m, sizeof(float) * p->n, 3, user);
        g_snprintf(name, sizeof name, "v:%s", p->name);
        fn(name, p->v, sizeof(float) * p->n, 3, user);
    }
    fn("optim:steps", &l->opt->steps, sizeof l->opt->steps, 3, user);
    fn("rng:init", &run->rng_init, sizeof(OzRng), 3, user);
    fn("rng:input", &run->rng_input, sizeof(OzRng), 3, user);
    fn("rng:dropout", &run->rng_dropout, sizeof(OzRng), 3, user);
    fn("rng:shuffle", &run->rng_shuffle, sizeof(OzRng), 3, user);
    fn("rng:noise", &run->rng_noise, sizeof(OzRng), 3, user);
    fn("rng:jitter", &l->rng_jitter, sizeof(OzRng), 3, user);
}

/* The position inside a phase and everything the phase has gathered so far. */
static void foreach_position(OzRun *run, TensorFunc fn, gpointer user) {
    char name[256];
    fn("pos:phase_index", &run->phase_index, sizeof run->phase_index, 4, user);
    fn("pos:cursor", &run->cursor, sizeof run->cursor, 4, user);
    const OzPhase *ph = oz_run_current_phase(run);
    const OzImageSet *set = ph && ph->kind == OZ_PHASE_TRAIN ? &run->train : &run->test;
    /* Between phases (cursor −1) the next phase has no order yet: it will shuffle from
     * the restored stream, as it would have. */
    if (run->cursor >= 0)
        fn("pos:order", run->order, sizeof(int) * (gsize)set->n, 4, user);
    fn("pos:correct", &run->correct, sizeof run->correct, 4, user);
    fn("pos:seen", &run->seen, sizeof run->seen, 4, user);
    fn("pos:loss_sum", &run->loss_sum, sizeof run->loss_sum, 4, user);
    fn("pos:batches", &run->batches, sizeof run->batches, 4, user);
    fn("pos:samples_done", &run->samples_done, sizeof run->samples_done, 4, user);
    fn("pos:elapsed", &run->phase_elapsed, sizeof run->phase_elapsed, 4, user);
    fn("pos:runaway", run->runaway, sizeof(int) * run->net->pops->len, 4, user);
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        g_snprintf(name, sizeof name, "cnt:%s.spikes", pop->name);
        fn(name, &pop->spikes, sizeof pop->spikes, 4, user);
        g_snprintf(name, sizeof name, "cnt:%s.updates", pop->name);
        fn(name, &pop->neuron_updates, sizeof pop->neuron_updates, 4, user);
    }
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        guint64 *fields[] = {&p->synops,           &p->row_fetches,   &p->dense_macs,
                             &p->update_macs,      &p->packets_event, &p->packets_dense,
                             &p->spike_dense_macs, &p->packets_delta, &p->delta_rows};
        for (gsize k = 0; k < G_N_ELEMENTS(fields); k++) {
            g_snprintf(name, sizeof name, "cnt:%s.%zu", p->name, k);
            fn(name, fields[k], sizeof(guint64), 4, user);
        }
    }
    if (!run->learner)
        return;
    OzLearner *l = run->learner;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        g_snprintf(name, sizeof name, "macs:%s", h->pop->name);
        fn(name, &h->path.macs, sizeof h->path.macs, 4, user);
        g_snprintf(name, sizeof name, "macs0:%s", h->pop->name);
        fn(name, &h->macs_at_phase_start, sizeof h->macs_at_phase_start, 4, user);
        if (h->path.window_acc) {
            g_snprintf(name, sizeof name, "macc:%s", h->pop->name);
            fn(name, h->path.window_acc, sizeof(float) * (gsize)h->path.n * h->path.m, 4, user);
        }
    }
    for (guint i = 0; l->stage && i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        g_snprintf(name, sizeof name, "cnt:%s.flushes_sparse", p->name);
        fn(name, &l->stage[p->id].flushes_sparse, sizeof(guint64), 4, user);
        g_snprintf(name, sizeof name, "cnt:%s.flushes_dense", p->name);
        fn(name, &l->stage[p->id].flushes_dense, sizeof(guint64), 4, user);
    }
    for (guint i = 0; l->stats && i < l->stats->len; i++) {
        OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
        gsize sz = (gsize)st->proj->n_pre * st->proj->n_post;
        g_snprintf(name, sizeof name, "gs:%s.mean", st->proj->name);
        fn(name, st->mean, sizeof(double) * sz, 4, user);
        g_snprintf(name, sizeof name, "gs:%s.m2", st->proj->name);
        fn(name, st->m2, sizeof(double) * sz, 4, user);
        g_snprintf(name, sizeof name, "gs:%s.count", st->proj->name);
        fn(name, &st->count, sizeof st->count, 4, user);
        g_snprintf(name, sizeof name, "gs:%s.sums", st->proj->name);
        fn(name, &st->cos_sum, 3 * sizeof(double), 4, user);
    }
}

typedef struct {
    OzLogBatch *batch;
    int epoch;
} SaveCtx;

static void save_one(const char *name, void *data, gsize bytes, int kind, gpointer user) {
    SaveCtx *c = user;
    (void)kind;
    oz_log_batch_add(c->batch, OZ_ROW_CHECKPOINT, "isb", (gint64)c->epoch, name, data, bytes);
}

void oz_checkpoint_add_rows(OzRun *run, int epoch, gboolean keep_all, OzLogBatch *batch) {
    SaveCtx c = {batch, epoch};
    foreach_tensor(run, save_one, &c);
    oz_log_batch_add(batch, OZ_ROW_INTERRUPT_CLEAR, "");
    if (!keep_all)
        oz_log_batch_add(batch, OZ_ROW_CHECKPOINT_PRUNE, "i", (gint64)epoch);
}

int oz_checkpoint_latest_epoch(sqlite3 *db, gint64 run_id) {
    sqlite3_stmt *st = NULL;
    int epoch = -1;
    if (sqlite3_prepare_v2(db, "SELECT MAX(epoch) FROM checkpoints WHERE run_id = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            epoch = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    return epoch;
}

static void save_interrupt(const char *name, void *data, gsize bytes, int kind, gpointer user) {
    (void)kind;
    oz_log_batch_add(user, OZ_ROW_INTERRUPT, "sb", name, data, bytes);
}

void oz_checkpoint_add_interrupt_rows(OzRun *run, OzLogBatch *batch) {
    run->phase_elapsed = (double)g_get_monotonic_time() / 1e6 - run->phase_started;
    oz_log_batch_add(batch, OZ_ROW_INTERRUPT_CLEAR, "");
    foreach_tensor(run, save_interrupt, batch);
    foreach_position(run, save_interrupt, batch);
    if (run->spikes)
        oz_log_batch_take(batch, run->spikes);
}

typedef struct {
    sqlite3_stmt *st;
    OzLoadWhat what;
    GError **error;
    gboolean ok;
    gint64 run_id;
    int epoch;
} LoadCtx;

static void load_one(const char *name, void *data, gsize bytes, int kind, gpointer user) {
    LoadCtx *c = user;
    gboolean wanted = c->what == OZ_LOAD_ALL || kind == 0 ||
                      (c->what == OZ_LOAD_WEIGHTS && kind == 1) ||
                      (c->what == OZ_LOAD_MODEL && kind == 2);
    if (!c->ok || !wanted)
        return;
    sqlite3_reset(c->st);
    sqlite3_bind_text(c->st, c->epoch < 0 ? 2 : 3, name, -1, SQLITE_STATIC);
    if (strcmp(name, "format") == 0) {
        guint32 got = 0;
        if (sqlite3_step(c->st) == SQLITE_ROW && sqlite3_column_bytes(c->st, 0) == sizeof got)
            memcpy(&got, sqlite3_column_blob(c->st, 0), sizeof got);
        if (got != checkpoint_format) {
            g_set_error(c->error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "checkpoint of run %" G_GINT64_FORMAT " has format %u, this build reads "
                        "format %u; use the opzosim that wrote it",
                        c->run_id, got, checkpoint_format);
            c->ok = FALSE;
        }
        return;
    }
    if (sqlite3_step(c->st) != SQLITE_ROW) {
        g_set_error(c->error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "checkpoint of run %" G_GINT64_FORMAT " (epoch %d; -1 = interruption) has "
                    "no tensor '%s'",
                    c->run_id, c->epoch, name);
        c->ok = FALSE;
        return;
    }
    gsize got = (gsize)sqlite3_column_bytes(c->st, 0);
    if (got != bytes) {
        g_set_error(c->error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "checkpoint tensor '%s' has %zu bytes, the network needs %zu (another "
                    "scenario?)",
                    name, got, bytes);
        c->ok = FALSE;
        return;
    }
    memcpy(data, sqlite3_column_blob(c->st, 0), bytes);
}

gboolean oz_checkpoint_load(sqlite3 *db, gint64 run_id, int epoch, OzRun *run, OzLoadWhat what,
                            GError **error) {
    g_return_val_if_fail(epoch >= 0, FALSE);
    LoadCtx c = {NULL, what, error, TRUE, run_id, epoch};
    if (sqlite3_prepare_v2(db,
                           "SELECT data FROM checkpoints WHERE run_id = ? AND epoch = ? AND "
                           "name = ?",
                           -1, &c.st, NULL) != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot read checkpoints: %s",
                    sqlite3_errmsg(db));
        return FALSE;
    }
    sqlite3_bind_int64(c.st, 1, run_id);
    sqlite3_bind_int(c.st, 2, epoch);
    foreach_tensor(run, load_one, &c);
    sqlite3_finalize(c.st);
    for (guint i = 0; i < run->net->projs->len; i++)
        oz_projection_reset(g_ptr_array_index(run->net->projs, i));
    return c.ok;
}

gboolean oz_checkpoint_init_from(const char *spec, OzRun *run, GError **error) {
    g_auto(GStrv) parts = g_strsplit(spec, ":", 3);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(parts[0], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "--init-from %s: cannot open: %s",
                    spec, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return FALSE;
    }
    gint64 run_id = parts[1] && *parts[1] ? g_ascii_strtoll(parts[1], NULL, 10) : -1;
    if (run_id < 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT MAX(run_id) FROM checkpoints", -1, &st, NULL) ==
                SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            run_id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    int epoch = parts[1] && parts[2] ? atoi(parts[2]) : oz_checkpoint_latest_epoch(db, run_id);
    gboolean ok = FALSE;
    if (run_id < 0 || epoch < 0)
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "--init-from %s: no checkpoint there (only training runs write them)", spec);
    else
        ok = oz_checkpoint_load(db, run_id, epoch, run, OZ_LOAD_MODEL, error);
    sqlite3_close(db);
    return ok;
}

gboolean oz_checkpoint_load_interrupt(sqlite3 *db, gint64 run_id, OzRun *run, gboolean *found,
                                      GError **error) {
    *found = FALSE;
    sqlite3_stmt *st = NULL;
    guint phase_index = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT data FROM interrupt_state WHERE run_id = ? AND name = "
                           "'pos:phase_index'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        if (sqlite3_step(st) == SQLITE_ROW &&
            sqlite3_column_bytes(st, 0) == (int)sizeof phase_index) {
            memcpy(&phase_index, sqlite3_column_blob(st, 0), sizeof phase_index);
            *found = TRUE;
        }
    }
    sqlite3_finalize(st);
    if (!*found)
        return TRUE;
    if (phase_index >= run->phases->len) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "interruption state of run %" G_GINT64_FORMAT " names phase %u of %u", run_id,
                    phase_index, run->phases->len);
        return FALSE;
    }
    gsize n = 0;
    oz_run_order_for_phase(run, phase_index, &n);
    LoadCtx c = {NULL, OZ_LOAD_ALL, error, TRUE, run_id, -1};
    if (sqlite3_prepare_v2(db, "SELECT data FROM interrupt_state WHERE run_id = ? AND name = ?", -1,
                           &c.st, NULL) != SQLITE_OK) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "cannot read the interruption state: %s", sqlite3_errmsg(db));
        return FALSE;
    }
    sqlite3_bind_int64(c.st, 1, run_id);
    foreach_tensor(run, load_one, &c);
    /* The position: load_one takes kind 4 under OZ_LOAD_ALL. */
    run->phase_index = phase_index;
    foreach_position(run, load_one, &c);
    sqlite3_finalize(c.st);
    if (!c.ok)
        return FALSE;
    for (guint i = 0; i < run->net->projs->len; i++)
        oz_projection_reset(g_ptr_array_index(run->net->projs, i));
    if (run->cursor >= 0)
        oz_run_continue_phase(run, run->phase_elapsed);
    return TRUE;
}

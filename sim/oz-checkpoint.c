/* oz-checkpoint.c — see oz-checkpoint.h.  Tensors are enumerated in one place
 * (foreach_tensor) so saving and loading cannot disagree about names. */
#include "oz-checkpoint.h"

#include <string.h>

typedef void (*TensorFunc)(const char *name, void *data, gsize bytes, gboolean weight,
                           gpointer user);

static void foreach_tensor(OzRun *run, TensorFunc fn, gpointer user) {
    char name[256];
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        g_snprintf(name, sizeof name, "w:%s", p->name);
        fn(name, p->w, sizeof(float) * (gsize)p->n_pre * p->n_post, TRUE, user);
    }
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        if (!pop->bias)
            continue;
        g_snprintf(name, sizeof name, "b:%s", pop->name);
        fn(name, pop->bias, sizeof(float) * (gsize)pop->n, TRUE, user);
    }
    fn("rng:input_test", &run->rng_input_test, sizeof(OzRng), TRUE, user);
    if (!run->learner)
        return;
    OzLearner *l = run->learner;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (!h->path.mat)
            continue;
        g_snprintf(name, sizeof name, "fb:%s", h->pop->name);
        fn(name, h->path.mat, sizeof(float) * (gsize)h->path.n * h->path.m, FALSE, user);
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (!h->ll_w)
            continue;
        g_snprintf(name, sizeof name, "ll:%s", h->pop->name);
        fn(name, h->ll_w, sizeof(float) * (gsize)h->pop->n * l->m, FALSE, user);
    }
    for (guint i = 0; i < l->opt->params->len; i++) {
        OzParam *p = &g_array_index(l->opt->params, OzParam, i);
        g_snprintf(name, sizeof name, "m:%s", p->name);
        fn(name, p->m, sizeof(float) * p->n, FALSE, user);
        g_snprintf(name, sizeof name, "v:%s", p->name);
        fn(name, p->v, sizeof(float) * p->n, FALSE, user);
    }
    fn("optim:steps", &l->opt->steps, sizeof l->opt->steps, FALSE, user);
    fn("rng:init", &run->rng_init, sizeof(OzRng), FALSE, user);
    fn("rng:input", &run->rng_input, sizeof(OzRng), FALSE, user);
    fn("rng:dropout", &run->rng_dropout, sizeof(OzRng), FALSE, user);
    fn("rng:shuffle", &run->rng_shuffle, sizeof(OzRng), FALSE, user);
    fn("rng:noise", &run->rng_noise, sizeof(OzRng), FALSE, user);
    fn("rng:jitter", &l->rng_jitter, sizeof(OzRng), FALSE, user);
}

typedef struct {
    OzLogBatch *batch;
    int epoch;
} SaveCtx;

static void save_one(const char *name, void *data, gsize bytes, gboolean weight, gpointer user) {
    SaveCtx *c = user;
    (void)weight;
    oz_log_batch_add(c->batch, OZ_ROW_CHECKPOINT, "isb", (gint64)c->epoch, name, data, bytes);
}

void oz_checkpoint_add_rows(OzRun *run, int epoch, gboolean keep_all, OzLogBatch *batch) {
    SaveCtx c = {batch, epoch};
    foreach_tensor(run, save_one, &c);
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

typedef struct {
    sqlite3_stmt *st;
    gboolean weights_only;
    GError **error;
    gboolean ok;
    gint64 run_id;
    int epoch;
} LoadCtx;

static void load_one(const char *name, void *data, gsize bytes, gboolean weight, gpointer user) {
    LoadCtx *c = user;
    if (!c->ok || (c->weights_only && !weight))
        return;
    sqlite3_reset(c->st);
    sqlite3_bind_text(c->st, 3, name, -1, SQLITE_STATIC);
    if (sqlite3_step(c->st) != SQLITE_ROW) {
        g_set_error(c->error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                    "checkpoint of run %" G_GINT64_FORMAT " epoch %d has no tensor '%s'",
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

gboolean oz_checkpoint_load(sqlite3 *db, gint64 run_id, int epoch, OzRun *run,
                            gboolean weights_only, GError **error) {
    LoadCtx c = {NULL, weights_only, error, TRUE, run_id, epoch};
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

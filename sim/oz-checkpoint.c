/* oz-checkpoint.c — see oz-checkpoint.h; docs/CHECKPOINTS.md is the reader's reference.
 *
 * Tensors are enumerated in one place (foreach_tensor, foreach_position) so saving and
 * loading cannot disagree about names, dtypes or shapes.
 *
 * Representation (format 3).  A tensor is one row: (run_id, epoch, name, dtype, shape,
 * data) in `checkpoints`, (run_id, name, dtype, shape, data) in `interrupt_state`.  dtype
 * and shape are columns rather than a header inside the blob because then SQL can list
 * them (`SELECT name, dtype, shape FROM checkpoints`), the blob is the bare array that
 * numpy.frombuffer reads without an offset, and an older log needs nothing but two ADD
 * COLUMNs (io/oz-runlog.c) — its format-2 rows keep NULL there.  Every value is written
 * and read byte by byte in little-endian order (put_le, get_le): never a memcpy of a
 * struct or an array, so the bytes do not depend on the host.
 *
 * Names.  Every scalar has its own name (cnt:PROJ.synops, pos:cursor), never a position
 * in a struct or a list; a random stream is its four xoshiro256** words as uint64 scalars
 * rng:NAME.s0 … rng:NAME.s3 (a field added to OzRng fails the _Static_assert below until
 * it is given a name here).
 *
 * Compatibility.  A tensor is required unless marked optional.  A loader that misses an
 * optional tensor sets it to its default, zero; so a new counter whose zero is right for
 * an older checkpoint is added as optional without a new format.  A tensor whose name,
 * dtype, shape or meaning changes, or a new required one, bumps OZ_CHECKPOINT_FORMAT.
 * Optional today: cnt:PROJ.packets_delta and cnt:PROJ.delta_rows (implementation
 * counters of delta delivery, not kept by format 2), and macc:POP (a momentum pathway's
 * per-window sum, allocated on first use and zero at every batch boundary).
 *
 * Format 2 is read in one delimited section (load_legacy_v2): epoch checkpoints only.
 */
#include "oz-checkpoint.h"

#include "neurons/oz-neuron.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// clang-format off
G_DEFINE_QUARK(oz-checkpoint-error-quark, oz_checkpoint_error)
// clang-format on

typedef enum { DT_F32, DT_F64, DT_I32, DT_U32, DT_I64, DT_U64, DT_COUNT } DType;

/* The names are numpy's: numpy.dtype(name).newbyteorder('<') reads a blob. */
static const struct {
    const char *name;
    guint size;
} dtypes[] = {
    [DT_F32] = {"float32", 4}, [DT_F64] = {"float64", 8}, [DT_I32] = {"int32", 4},
    [DT_U32] = {"uint32", 4},  [DT_I64] = {"int64", 8},   [DT_U64] = {"uint64", 8},
};
_Static_assert(G_N_ELEMENTS(dtypes) == DT_COUNT, "one name per dtype");
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8 && sizeof(int) == 4,
               "the dtypes assume 4-byte float and int, 8-byte double");
_Static_assert(sizeof(OzRng) == 4 * sizeof(uint64_t),
               "OzRng gained a field: give it a named word in emit_rng");

/* The dtype of a C variable, so a tensor's dtype cannot disagree with its storage. */
#define DT_OF(x)                                                                                   \
    _Generic((x), float                                                                            \
             : DT_F32, double                                                                      \
             : DT_F64, int                                                                         \
             : DT_I32, guint                                                                       \
             : DT_U32, gint64                                                                      \
             : DT_I64, guint64                                                                     \
             : DT_U64)

/* Which loads want a tensor (see wanted()). */
enum {
    KIND_MODEL,      /* weights, biases and the models' state */
    KIND_TEST_INPUT, /* the input stream as the last test phase began */
    KIND_FEEDBACK,   /* feedback and LL matrices */
    KIND_TRAIN,      /* optimizer and random state */
    KIND_POSITION    /* the position inside a phase (interruptions only) */
};

typedef struct {
    const char *name;
    void *data; /* count × dtype size bytes, host order */
    DType dtype;
    int ndim; /* 0: a scalar */
    gsize shape[2];
    int kind;
    gboolean optional; /* may be missing: then zero */
} Tensor;

typedef void (*TensorFunc)(const Tensor *t, gpointer user);

typedef struct {
    TensorFunc fn;
    gpointer user;
} Walk;

static gsize tensor_count(const Tensor *t) {
    gsize n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* '36,40', '' for a scalar: the `shape` column. */
static void shape_text(const Tensor *t, char *buf, gsize size) {
    buf[0] = 0;
    for (int i = 0; i < t->ndim; i++) {
        gsize len = strlen(buf);
        g_snprintf(buf + len, size - len, "%s%zu", i ? "," : "", t->shape[i]);
    }
}

static void emit(const Walk *w, int kind, gboolean optional, DType dtype, void *data, int ndim,
                 gsize d0, gsize d1, const char *fmt, ...) G_GNUC_PRINTF(9, 10);
static void emit(const Walk *w, int kind, gboolean optional, DType dtype, void *data, int ndim,
                 gsize d0, gsize d1, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    g_vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    Tensor t = {name, data, dtype, ndim, {d0, d1}, kind, optional};
    w->fn(&t, w->user);
}

/* A scalar variable under its own name. */
#define SCALAR(w, kind, optional, ptr, ...)                                                        \
    emit(w, kind, optional, DT_OF(*(ptr)), (void *)(ptr), 0, 0, 0, __VA_ARGS__)

static void emit_rng(const Walk *w, int kind, const char *stream, OzRng *rng) {
    for (int k = 0; k < 4; k++)
        SCALAR(w, kind, FALSE, &rng->s[k], "rng:%s.s%d", stream, k);
}

static guint32 checkpoint_format = OZ_CHECKPOINT_FORMAT;

/* A population's model state that outlives a window (OzNeuronOps.state_tensors), as float32
 * vectors state:POP.NAME.  They are part of the model, like its weights: eval, --init-from
 * and --resume load them, and they are required.  A model without the slot (every built-in
 * one) has no such rows, so adding them needed no new format: no checkpoint of an earlier
 * build belongs to a model that has state. */
static void emit_model_state(const Walk *w, OzPopulation *pop) {
    OzNeuronTensor ts[OZ_NEURON_STATE_TENSORS_MAX];
    int n = oz_neuron_state_tensors(pop, ts, (int)G_N_ELEMENTS(ts));
    for (int k = 0; k < n; k++)
        emit(w, KIND_MODEL, FALSE, DT_F32, ts[k].data, 1, ts[k].count, 0, "state:%s.%s", pop->name,
             ts[k].name);
}

static void foreach_tensor(OzRun *run, const Walk *w) {
    /* First, so a reader meets it before anything else (the loader reads it apart). */
    SCALAR(w, KIND_MODEL, FALSE, &checkpoint_format, "format");
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        gsize dims[2] = {0, 0};
        int rank = oz_projection_shape(p, dims);
        /* Under sWS the raw W (Ŵ is formed from it and γ after a load). */
        emit(w, KIND_MODEL, FALSE, DT_F32, oz_projection_param(p), rank, dims[0], dims[1], "w:%s",
             p->name);
        if (p->ws)
            emit(w, KIND_MODEL, FALSE, DT_F32, p->ws->gamma, 1, p->ws->lay.units, 0, "gamma:%s",
                 p->name);
    }
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        if (pop->bias)
            emit(w, KIND_MODEL, FALSE, DT_F32, pop->bias, 1, (gsize)pop->n, 0, "b:%s", pop->name);
    }
    for (guint i = 0; i < run->net->pops->len; i++)
        emit_model_state(w, g_ptr_array_index(run->net->pops, i));
    emit_rng(w, KIND_TEST_INPUT, "input_test", &run->rng_input_test);
    if (!run->learner)
        return;
    OzLearner *l = run->learner;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->path.mat)
            emit(w, KIND_FEEDBACK, FALSE, DT_F32, h->path.mat, 2, (gsize)h->path.n,
                 (gsize)h->path.m, "fb:%s", h->pop->name);
    }
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        if (h->ll_w)
            emit(w, KIND_FEEDBACK, FALSE, DT_F32, h->ll_w, 2, (gsize)h->ll_n, (gsize)l->m,
                 "ll:%s", h->pop->name);
        if (h->igl_w)
            emit(w, KIND_FEEDBACK, FALSE, DT_F32, h->igl_w, 2, (gsize)h->pop->n, (gsize)l->m,
                 "igl:%s", h->pop->name);
    }
    for (guint i = 0; i < l->opt->params->len; i++) {
        OzParam *p = &g_array_index(l->opt->params, OzParam, i);
        /* A projection's moments have its weights' shape; a bias's are a vector. */
        gsize d0 = p->n, d1 = 0;
        for (guint j = 0; j < run->net->projs->len; j++) {
            OzProjection *proj = g_ptr_array_index(run->net->projs, j);
            if (oz_projection_param(proj) == p->w && proj->nw == p->n) {
                gsize dims[2] = {0, 0};
                oz_projection_shape(proj, dims);
                d0 = dims[0];
                d1 = dims[1];
            }
        }
        emit(w, KIND_TRAIN, FALSE, DT_F32, p->m, d1 ? 2 : 1, d0, d1, "m:%s", p->name);
        emit(w, KIND_TRAIN, FALSE, DT_F32, p->v, d1 ? 2 : 1, d0, d1, "v:%s", p->name);
    }
    SCALAR(w, KIND_TRAIN, FALSE, &l->opt->steps, "optim:steps");
    emit_rng(w, KIND_TRAIN, "init", &run->rng_init);
    emit_rng(w, KIND_TRAIN, "input", &run->rng_input);
    emit_rng(w, KIND_TRAIN, "dropout", &run->rng_dropout);
    emit_rng(w, KIND_TRAIN, "shuffle", &run->rng_shuffle);
    emit_rng(w, KIND_TRAIN, "noise", &run->rng_noise);
    emit_rng(w, KIND_TRAIN, "jitter", &l->rng_jitter);
}

/* The position inside a phase and everything the phase has gathered so far. */
static void foreach_position(OzRun *run, const Walk *w) {
    const int K = KIND_POSITION;
    SCALAR(w, K, FALSE, &run->phase_index, "pos:phase_index");
    SCALAR(w, K, FALSE, &run->cursor, "pos:cursor");
    const OzPhase *ph = oz_run_current_phase(run);
    const OzDataset *set = ph && ph->kind == OZ_PHASE_TRAIN ? &run->train : &run->test;
    /* Between phases (cursor −1) the next phase has no order yet: it will shuffle from
     * the restored stream, as it would have.  (When loading, pos:cursor above has just
     * been read, so this test sees the stored cursor.) */
    if (run->cursor >= 0)
        emit(w, K, FALSE, DT_I32, run->order, 1, (gsize)set->n, 0, "pos:order");
    SCALAR(w, K, FALSE, &run->correct, "pos:correct");
    SCALAR(w, K, FALSE, &run->seen, "pos:seen");
    SCALAR(w, K, FALSE, &run->loss_sum, "pos:loss_sum");
    SCALAR(w, K, FALSE, &run->batches, "pos:batches");
    SCALAR(w, K, FALSE, &run->samples_done, "pos:samples_done");
    SCALAR(w, K, FALSE, &run->phase_elapsed, "pos:elapsed");
    for (guint i = 0; i < run->net->pops->len; i++) {
        OzPopulation *pop = g_ptr_array_index(run->net->pops, i);
        SCALAR(w, K, FALSE, &run->runaway[i], "runaway:%s", pop->name);
        SCALAR(w, K, FALSE, &pop->spikes, "cnt:%s.spikes", pop->name);
        SCALAR(w, K, FALSE, &pop->neuron_updates, "cnt:%s.neuron_updates", pop->name);
    }
    for (guint i = 0; i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        SCALAR(w, K, FALSE, &p->synops, "cnt:%s.synops", p->name);
        SCALAR(w, K, FALSE, &p->row_fetches, "cnt:%s.row_fetches", p->name);
        SCALAR(w, K, FALSE, &p->dense_macs, "cnt:%s.dense_macs", p->name);
        SCALAR(w, K, FALSE, &p->update_macs, "cnt:%s.update_macs", p->name);
        SCALAR(w, K, FALSE, &p->packets_event, "cnt:%s.packets_event", p->name);
        SCALAR(w, K, FALSE, &p->packets_dense, "cnt:%s.packets_dense", p->name);
        SCALAR(w, K, FALSE, &p->spike_dense_macs, "cnt:%s.spike_dense_macs", p->name);
        /* Optional: format 2 did not keep them (a missing one starts at 0). */
        SCALAR(w, K, TRUE, &p->packets_delta, "cnt:%s.packets_delta", p->name);
        SCALAR(w, K, TRUE, &p->delta_rows, "cnt:%s.delta_rows", p->name);
    }
    if (!run->learner)
        return;
    OzLearner *l = run->learner;
    for (guint k = 0; k < l->hidden->len; k++) {
        OzHidden *h = g_ptr_array_index(l->hidden, k);
        SCALAR(w, K, FALSE, &h->path.macs, "macs:%s", h->pop->name);
        SCALAR(w, K, FALSE, &h->macs_at_phase_start, "macs0:%s", h->pop->name);
        /* Allocated on first use (a fresh run has none, so a loader skips it) and zero at
         * every batch boundary: optional. */
        if (h->path.window_acc)
            emit(w, K, TRUE, DT_F32, h->path.window_acc, 2, (gsize)h->path.n, (gsize)h->path.m,
                 "macc:%s", h->pop->name);
    }
    /* Optional: format 2 did not keep the gradient chunks' paths (a missing one starts
     * at 0). */
    for (guint i = 0; l->stage && i < run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(run->net->projs, i);
        SCALAR(w, K, TRUE, &l->stage[p->id].flushes_sparse, "cnt:%s.flushes_sparse", p->name);
        SCALAR(w, K, TRUE, &l->stage[p->id].flushes_dense, "cnt:%s.flushes_dense", p->name);
    }
    for (guint i = 0; l->stats && i < l->stats->len; i++) {
        OzGradStats *st = &g_array_index(l->stats, OzGradStats, i);
        const char *pn = st->proj->name;
        gsize dims[2] = {0, 0}; /* the weights' shape, as the kind names it */
        int rank = oz_projection_shape(st->proj, dims);
        emit(w, K, FALSE, DT_F64, st->mean, rank, dims[0], dims[1], "gs:%s.mean", pn);
        emit(w, K, FALSE, DT_F64, st->m2, rank, dims[0], dims[1], "gs:%s.m2", pn);
        SCALAR(w, K, FALSE, &st->count, "gs:%s.count", pn);
        SCALAR(w, K, FALSE, &st->cos_sum, "gs:%s.cos_sum", pn);
        SCALAR(w, K, FALSE, &st->norm_sum, "gs:%s.norm_sum", pn);
        SCALAR(w, K, FALSE, &st->bp_norm_sum, "gs:%s.bp_norm_sum", pn);
    }
}

/* ---- Little-endian bytes ---- */

/* count values of `size` bytes (4 or 8) from host variables to little-endian bytes.  Each
 * value is taken as an integer of its width and cut into bytes by shifts, which gives the
 * same bytes on any host. */
static void put_le(guint8 *out, const void *in, gsize count, guint size) {
    const guint8 *src = in;
    for (gsize i = 0; i < count; i++) {
        guint64 u;
        if (size == 4) {
            guint32 x;
            memcpy(&x, src + 4 * i, 4);
            u = x;
        } else {
            memcpy(&u, src + 8 * i, 8);
        }
        for (guint k = 0; k < size; k++)
            out[i * size + k] = (guint8)(u >> (8 * k));
    }
}

/* The inverse of put_le. */
static void get_le(void *out, const guint8 *in, gsize count, guint size) {
    guint8 *dst = out;
    for (gsize i = 0; i < count; i++) {
        guint64 u = 0;
        for (guint k = 0; k < size; k++)
            u |= (guint64)in[i * size + k] << (8 * k);
        if (size == 4) {
            guint32 x = (guint32)u;
            memcpy(dst + 4 * i, &x, 4);
        } else {
            memcpy(dst + 8 * i, &u, 8);
        }
    }
}

/* ---- Saving ---- */

typedef struct {
    OzLogBatch *batch;
    int epoch; /* −1: interrupt_state */
} SaveCtx;

static void save_one(const Tensor *t, gpointer user) {
    SaveCtx *c = user;
    guint size = dtypes[t->dtype].size;
    gsize bytes = tensor_count(t) * size;
    guint8 *buf = g_malloc(MAX(bytes, 1));
    put_le(buf, t->data, tensor_count(t), size);
    char shape[64];
    shape_text(t, shape, sizeof shape);
    if (c->epoch >= 0)
        oz_log_batch_add(c->batch, OZ_ROW_CHECKPOINT, "isSsb", (gint64)c->epoch, t->name,
                         dtypes[t->dtype].name, shape, buf, bytes);
    else
        oz_log_batch_add(c->batch, OZ_ROW_INTERRUPT, "sSsb", t->name, dtypes[t->dtype].name, shape,
                         buf, bytes);
    g_free(buf);
}

void oz_checkpoint_add_rows(OzRun *run, int epoch, gboolean keep_all, OzLogBatch *batch) {
    g_return_if_fail(epoch >= 0);
    SaveCtx c = {batch, epoch};
    foreach_tensor(run, &(Walk){save_one, &c});
    oz_log_batch_add(batch, OZ_ROW_INTERRUPT_CLEAR, "");
    if (!keep_all)
        oz_log_batch_add(batch, OZ_ROW_CHECKPOINT_PRUNE, "i", (gint64)epoch);
}

void oz_checkpoint_add_interrupt_rows(OzRun *run, OzLogBatch *batch) {
    run->phase_elapsed = (double)g_get_monotonic_time() / 1e6 - run->phase_started;
    oz_log_batch_add(batch, OZ_ROW_INTERRUPT_CLEAR, "");
    SaveCtx c = {batch, -1};
    foreach_tensor(run, &(Walk){save_one, &c});
    foreach_position(run, &(Walk){save_one, &c});
    if (run->spikes)
        oz_log_batch_take(batch, run->spikes);
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

/* ---- Loading ---- */

typedef struct {
    sqlite3_stmt *st; /* dtype, shape, data of ?3 = name (and ?2 = epoch) */
    OzLoadWhat what;
    GError **error;
    gboolean ok;
    guint32 format;
    char *where; /* "checkpoint of run 3, epoch 1", for messages */
} LoadCtx;

static gboolean wanted(OzLoadWhat what, int kind) {
    return what == OZ_LOAD_ALL || kind == KIND_MODEL ||
           (what == OZ_LOAD_WEIGHTS && kind == KIND_TEST_INPUT) ||
           (what == OZ_LOAD_MODEL && kind == KIND_FEEDBACK);
}

/* The row of `name`, or FALSE.  Its columns stay valid until the next find_row. */
static gboolean find_row(LoadCtx *c, const char *name) {
    sqlite3_reset(c->st);
    sqlite3_bind_text(c->st, 3, name, -1, SQLITE_TRANSIENT);
    return sqlite3_step(c->st) == SQLITE_ROW;
}

/* 'float32[36,40]' for messages; 'uint64[]' for a scalar. */
static char *describe(const char *dtype, const char *shape) {
    return g_strdup_printf("%s[%s]", dtype ? dtype : "?", shape ? shape : "?");
}

static gboolean load_legacy_v2(LoadCtx *c, const Tensor *t);

/* --init-from a run of another rule (a BP-pretrained network fine-tuned with DFA or OPZO,
 * docs/HARDWARE.md): its checkpoint has no feedback or LL matrix for this rule, which then
 * keeps its own initial draw.  One that is there must still fit. */
static gboolean keeps_own_draw(const LoadCtx *c, const Tensor *t) {
    return c->what == OZ_LOAD_MODEL && t->kind == KIND_FEEDBACK;
}

static void load_one(const Tensor *t, gpointer user) {
    LoadCtx *c = user;
    if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0)
        return;
    if (c->format == 2) {
        c->ok = load_legacy_v2(c, t);
        return;
    }
    guint size = dtypes[t->dtype].size;
    gsize count = tensor_count(t);
    char shape[64];
    shape_text(t, shape, sizeof shape);
    g_autofree char *want = describe(dtypes[t->dtype].name, shape);
    if (!find_row(c, t->name)) {
        if (t->optional) {
            memset(t->data, 0, count * size);
            return;
        }
        if (keeps_own_draw(c, t))
            return;
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING,
                    "%s has no tensor '%s' (the network needs %s)", c->where, t->name, want);
        c->ok = FALSE;
        return;
    }
    const char *dtype = (const char *)sqlite3_column_text(c->st, 0);
    const char *got_shape = (const char *)sqlite3_column_text(c->st, 1);
    if (!dtype || !got_shape) {
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_CORRUPT,
                    "%s: tensor '%s' has no dtype or shape in a checkpoint of format %u", c->where,
                    t->name, c->format);
        c->ok = FALSE;
        return;
    }
    if (strcmp(dtype, dtypes[t->dtype].name) != 0 || strcmp(got_shape, shape) != 0) {
        g_autofree char *got = describe(dtype, got_shape);
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH,
                    "%s: tensor '%s' is %s, the network needs %s (written for another "
                    "scenario?)",
                    c->where, t->name, got, want);
        c->ok = FALSE;
        return;
    }
    gsize bytes = (gsize)sqlite3_column_bytes(c->st, 2);
    if (bytes != count * size) {
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_CORRUPT,
                    "%s: tensor '%s' (%s) has %zu bytes instead of %zu", c->where, t->name, want,
                    bytes, count * size);
        c->ok = FALSE;
        return;
    }
    if (bytes)
        get_le(t->data, sqlite3_column_blob(c->st, 2), count, size);
}

/* ---- Format 2 (legacy; read-only) ----
 *
 * Format 2 (opzosim before checkpoints had dtypes) stored each tensor as the bytes of the
 * variables it came from, in the writing host's order.  Every machine that wrote it was
 * little-endian (x86-64), so its bytes are read with get_le like format 3's.  Only its
 * epoch checkpoints are read: they hold the tensors of foreach_tensor under the same
 * names, except that a random stream is one 32-byte row `rng:NAME` (a whole OzRng:
 * s[0..3], eight bytes each) instead of four words.  Its rows have no dtype or shape, so
 * only their lengths can be checked.  Its interruption states, with counters named by
 * position and structs stored whole, are refused (oz_checkpoint_load_interrupt).  Since
 * an epoch checkpoint of format 2 holds the same state as one of format 3, eval,
 * --init-from and --resume continue from it exactly as from a new one. */
static gboolean load_legacy_v2(LoadCtx *c, const Tensor *t) {
    guint size = dtypes[t->dtype].size;
    gsize count = tensor_count(t), need = count * size, offset = 0;
    g_autofree char *name = g_strdup(t->name);
    char *dot = strrchr(name, '.');
    if (g_str_has_prefix(name, "rng:") && dot && dot[1] == 's' && dot[2] >= '0' && dot[2] <= '3' &&
        !dot[3]) {
        offset = 8 * (gsize)(dot[2] - '0');
        need = sizeof(OzRng);
        *dot = 0;
    }
    char shape[64];
    shape_text(t, shape, sizeof shape);
    g_autofree char *want = describe(dtypes[t->dtype].name, shape);
    if (!find_row(c, name)) {
        if (t->optional) {
            memset(t->data, 0, count * size);
            return TRUE;
        }
        if (keeps_own_draw(c, t))
            return TRUE;
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING,
                    "%s (format 2) has no tensor '%s' (the network needs %s)", c->where, name,
                    want);
        return FALSE;
    }
    gsize bytes = (gsize)sqlite3_column_bytes(c->st, 2);
    if (bytes != need) {
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH,
                    "%s (format 2): tensor '%s' has %zu bytes, the network needs %s = %zu bytes "
                    "(written for another scenario?)",
                    c->where, name, bytes, want, need);
        return FALSE;
    }
    get_le(t->data, (const guint8 *)sqlite3_column_blob(c->st, 2) + offset, count, size);
    return TRUE;
}

/* ---- End of format 2 ---- */

/* Reads the `format` tensor into c->format: 3, or 2 (a row without dtype, whose four
 * bytes are little-endian like all of format 2). */
static gboolean read_format(LoadCtx *c) {
    if (!find_row(c, "format")) {
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING,
                    "%s has no tensor 'format' (is there a checkpoint?)", c->where);
        return FALSE;
    }
    const char *dtype = (const char *)sqlite3_column_text(c->st, 0);
    const char *shape = (const char *)sqlite3_column_text(c->st, 1);
    if (sqlite3_column_bytes(c->st, 2) != 4 ||
        (dtype && (strcmp(dtype, "uint32") != 0 || !shape || *shape))) {
        g_autofree char *got = describe(dtype, shape);
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_CORRUPT,
                    "%s: tensor 'format' is %s of %d bytes, not a uint32 scalar", c->where, got,
                    sqlite3_column_bytes(c->st, 2));
        return FALSE;
    }
    get_le(&c->format, sqlite3_column_blob(c->st, 2), 1, 4);
    if (c->format != OZ_CHECKPOINT_FORMAT && c->format != 2) {
        g_set_error(c->error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH,
                    "%s has format %u; this build reads formats 2 and %d: use the opzosim that "
                    "wrote it",
                    c->where, c->format, OZ_CHECKPOINT_FORMAT);
        return FALSE;
    }
    return TRUE;
}

/* SELECT dtype, shape, data of one tensor from `table`: ?1 run, ?2 epoch (checkpoints
 * only), ?3 name.  A log that no build of format 3 has opened for writing (eval and
 * --init-from open read-only) lacks the dtype and shape columns; all its rows are of
 * format 2, and NULL stands in for them. */
static sqlite3_stmt *prepare_select(sqlite3 *db, const char *table, GError **error) {
    g_autofree char *probe = g_strdup_printf("SELECT dtype, shape FROM %s LIMIT 0", table);
    sqlite3_stmt *st = NULL;
    gboolean typed = sqlite3_prepare_v2(db, probe, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    st = NULL;
    gboolean by_epoch = strcmp(table, "checkpoints") == 0;
    g_autofree char *sql = g_strdup_printf(
        "SELECT %s, data FROM %s WHERE run_id = ?1 AND %s name = ?3",
        typed ? "dtype, shape" : "NULL, NULL", table, by_epoch ? "epoch = ?2 AND" : "");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        g_set_error(error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING,
                    "cannot read the %s table of %s: %s", table,
                    sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "?",
                    sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

gboolean oz_checkpoint_load(sqlite3 *db, gint64 run_id, int epoch, OzRun *run, OzLoadWhat what,
                            GError **error) {
    g_return_val_if_fail(epoch >= 0, FALSE);
    LoadCtx c = {NULL, what, error, TRUE, 0, NULL};
    c.st = prepare_select(db, "checkpoints", error);
    if (!c.st)
        return FALSE;
    c.where = g_strdup_printf("checkpoint of run %" G_GINT64_FORMAT ", epoch %d", run_id, epoch);
    sqlite3_bind_int64(c.st, 1, run_id);
    sqlite3_bind_int(c.st, 2, epoch);
    c.ok = read_format(&c);
    if (c.ok)
        foreach_tensor(run, &(Walk){load_one, &c});
    sqlite3_finalize(c.st);
    g_free(c.where);
    for (guint i = 0; i < run->net->projs->len; i++)
        oz_projection_weights_changed(g_ptr_array_index(run->net->projs, i));
    return c.ok;
}

gboolean oz_checkpoint_init_from(const char *spec, OzRun *run, GError **error) {
    g_auto(GStrv) parts = g_strsplit(spec, ":", 3);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(parts[0], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        g_set_error(error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING,
                    "--init-from %s: cannot open: %s", spec,
                    db ? sqlite3_errmsg(db) : "out of memory");
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
        g_set_error(error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING,
                    "--init-from %s: no checkpoint there (only training runs write them)", spec);
    else if (!(ok = oz_checkpoint_load(db, run_id, epoch, run, OZ_LOAD_MODEL, error)))
        g_prefix_error(error, "--init-from %s: ", spec);
    sqlite3_close(db);
    return ok;
}

/* A format-2 interruption state: refused, with the way to resume from the last epoch
 * checkpoint instead (which this build reads).  The spike rows of the interrupted epoch
 * were committed with the state; they must go too, or the redone epoch would add them
 * twice. */
static void refuse_legacy_interrupt(sqlite3 *db, gint64 run_id, GError **error) {
    int epoch = oz_checkpoint_latest_epoch(db, run_id);
    const char *path = sqlite3_db_filename(db, "main");
    g_autofree char *from = epoch >= 0 ? g_strdup_printf("its epoch-%d checkpoint", epoch)
                                       : g_strdup("the beginning (it has no epoch checkpoint)");
    g_set_error(error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH,
                "the interruption state of run %" G_GINT64_FORMAT " has checkpoint format 2 "
                "(written by an older opzosim), which this build does not continue mid-phase. "
                "Finish the run with the opzosim that wrote it, or resume it from %s: "
                "sqlite3 '%s' \"DELETE FROM interrupt_state WHERE run_id = %" G_GINT64_FORMAT
                "; DELETE FROM spikes WHERE run_id = %" G_GINT64_FORMAT " AND epoch > %d\" "
                "and run --resume again",
                run_id, from, path && *path ? path : "RUNLOG", run_id, run_id, epoch);
}

gboolean oz_checkpoint_load_interrupt(sqlite3 *db, gint64 run_id, OzRun *run, gboolean *found,
                                      GError **error) {
    *found = FALSE;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM interrupt_state WHERE run_id = ? LIMIT 1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        *found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    if (!*found)
        return TRUE;
    LoadCtx c = {NULL, OZ_LOAD_ALL, error, TRUE, 0, NULL};
    c.st = prepare_select(db, "interrupt_state", error);
    if (!c.st)
        return FALSE;
    c.where = g_strdup_printf("interruption state of run %" G_GINT64_FORMAT, run_id);
    sqlite3_bind_int64(c.st, 1, run_id);
    c.ok = read_format(&c);
    if (c.ok && c.format != OZ_CHECKPOINT_FORMAT) {
        refuse_legacy_interrupt(db, run_id, error);
        c.ok = FALSE;
    }
    guint phase_index = 0;
    if (c.ok)
        load_one(&(Tensor){"pos:phase_index",
                           &phase_index,
                           DT_OF(phase_index),
                           0,
                           {0, 0},
                           KIND_POSITION,
                           FALSE},
                 &c);
    if (c.ok && phase_index >= run->phases->len) {
        g_set_error(error, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_CORRUPT,
                    "%s names phase %u of %u", c.where, phase_index, run->phases->len);
        c.ok = FALSE;
    }
    if (c.ok) {
        gsize n = 0;
        oz_run_order_for_phase(run, phase_index, &n);
        foreach_tensor(run, &(Walk){load_one, &c});
        run->phase_index = phase_index;
        foreach_position(run, &(Walk){load_one, &c});
    }
    sqlite3_finalize(c.st);
    g_free(c.where);
    if (!c.ok)
        return FALSE;
    for (guint i = 0; i < run->net->projs->len; i++)
        oz_projection_weights_changed(g_ptr_array_index(run->net->projs, i));
    if (run->cursor >= 0)
        oz_run_continue_phase(run, run->phase_elapsed);
    return TRUE;
}

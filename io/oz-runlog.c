/* oz-runlog.c — schema, batches and the thread-pool writer.
 *
 * Thread discipline: the sqlite3 handle is used by the loop thread only while no batch
 * is in flight, and by exactly one worker while one is (the next batch starts from the
 * after-work callback, on the loop thread).  So no two threads touch it at once, and the
 * default serialized mode is not even needed.
 */
#include "oz-runlog.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* clang-format would split the quark's name at its hyphens (it reads them as
 * minus signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-runlog-error-quark, oz_runlog_error)
// clang-format on

/* The schema.  Counters of synops, per epoch, phase and projection: synops (transmitted
 * spikes × n_post), row_fetches (transmitted spikes), dense_macs (real-valued input as
 * computed), update_ops (gradient accumulation MACs), spike_dense_macs (MACs of the spike
 * packets that went through sgemm); then which path the work took, exact counts for tests
 * and profiles: packets_event, packets_dense and packets_delta (packets delivered by spike
 * rows, by sgemm — a noisy dense frame included — or as the change from the sample's
 * previous packet), delta_rows (the weight rows those changes added), and
 * grad_flushes_sparse and grad_flushes_dense (gathered gradient chunks of the projection
 * added from the presynaptic spike changes or by sgemm; zero outside training). */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS runs("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL, scenario_path TEXT, scenario TEXT,"
    "  overrides TEXT, seed INTEGER, threads INTEGER, version TEXT, mode TEXT,"
    "  status TEXT NOT NULL CHECK(status IN ('running','finished','failed','interrupted')),"
    "  message TEXT, started_at TEXT NOT NULL, finished_at TEXT, seconds REAL, sweep TEXT,"
    "  peak_rss_kb INTEGER, log_seconds REAL);"
    "CREATE TABLE IF NOT EXISTS populations("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, model TEXT,"
    "  size INTEGER, topo INTEGER, encoding TEXT, lambda REAL, v_th REAL, dropout REAL,"
    "  shape TEXT, PRIMARY KEY(run_id, name));"
    /* Every parameter of a plugin as it ran (a neuron model's keys, defaults included):
     * owner is the scenario section ("population h1"), value the text that reads back to
     * the same value. */
    "CREATE TABLE IF NOT EXISTS parameters("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), owner TEXT NOT NULL, key TEXT NOT NULL,"
    "  value TEXT, PRIMARY KEY(run_id, owner, key));"
    "CREATE TABLE IF NOT EXISTS projections("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, pre TEXT, post TEXT,"
    "  n_pre INTEGER, n_post INTEGER, delay_ticks INTEGER, init TEXT,"
    "  PRIMARY KEY(run_id, name));"
    "CREATE TABLE IF NOT EXISTS epochs("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  phase TEXT NOT NULL CHECK(phase IN ('train','test')), samples INTEGER,"
    "  ticks INTEGER, loss REAL, accuracy REAL, lr REAL, alpha REAL, seconds REAL,"
    "  PRIMARY KEY(run_id, epoch, phase));"
    "CREATE TABLE IF NOT EXISTS firing_rates("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  phase TEXT NOT NULL, population TEXT NOT NULL, spikes INTEGER,"
    "  neuron_ticks INTEGER, rate REAL, neuron_updates INTEGER,"
    "  PRIMARY KEY(run_id, epoch, phase, population));"
    "CREATE TABLE IF NOT EXISTS synops("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  phase TEXT NOT NULL, projection TEXT NOT NULL, samples INTEGER,"
    "  synops INTEGER, row_fetches INTEGER, dense_macs INTEGER,"
    "  feedback_ops INTEGER NOT NULL DEFAULT 0, update_ops INTEGER NOT NULL DEFAULT 0,"
    "  spike_dense_macs INTEGER NOT NULL DEFAULT 0,"
    "  packets_event INTEGER NOT NULL DEFAULT 0, packets_dense INTEGER NOT NULL DEFAULT 0,"
    "  packets_delta INTEGER NOT NULL DEFAULT 0, delta_rows INTEGER NOT NULL DEFAULT 0,"
    "  grad_flushes_sparse INTEGER NOT NULL DEFAULT 0,"
    "  grad_flushes_dense INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(run_id, epoch, phase, projection));"
    "CREATE TABLE IF NOT EXISTS spikes("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  phase TEXT NOT NULL, sample INTEGER NOT NULL, population TEXT NOT NULL,"
    "  tick INTEGER NOT NULL, neuron INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS training_ops("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  population TEXT NOT NULL, samples INTEGER, feedback_macs INTEGER,"
    "  PRIMARY KEY(run_id, epoch, population));"
    "CREATE TABLE IF NOT EXISTS grad_stats("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  population TEXT NOT NULL, projection TEXT NOT NULL, batches INTEGER,"
    "  cos_bp REAL, grad_norm REAL, bp_grad_norm REAL, variance REAL,"
    "  PRIMARY KEY(run_id, epoch, projection));"
    /* Checkpoint tensors (sim/oz-checkpoint.c, docs/CHECKPOINTS.md): data holds the values
     * as little-endian bytes of dtype ('float32', …), shape is '36,40' ('' for a scalar).
     * dtype and shape come last, as in an older log that gained them (NULL in its rows:
     * format 2). */
    "CREATE TABLE IF NOT EXISTS interrupt_state("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, data BLOB NOT NULL,"
    "  dtype TEXT, shape TEXT, PRIMARY KEY(run_id, name));"
    "CREATE TABLE IF NOT EXISTS checkpoints("
    "  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL,"
    "  name TEXT NOT NULL, data BLOB NOT NULL, dtype TEXT, shape TEXT,"
    "  PRIMARY KEY(run_id, epoch, name));"
    "CREATE INDEX IF NOT EXISTS spikes_by_sample ON spikes(run_id, sample, population, tick);"
    "CREATE INDEX IF NOT EXISTS epochs_by_phase ON epochs(phase, run_id);"
    /* Per-operation energies in picojoules (docs/ENERGY.md gives each source).  NULL: the
     * model has no figure for that operation, and a view marks the result as not covering
     * every operation.  The rows are seeded by seed_sql, after oz_runlog_migrate has given an
     * older table the training columns. */
    "CREATE TABLE IF NOT EXISTS energy_models("
    "  model TEXT PRIMARY KEY, synop_pj REAL, mac_pj REAL, neuron_update_pj REAL,"
    "  access_pj REAL, source TEXT, feedback_mac_pj REAL, update_pj REAL,"
    "  training_source TEXT);"
    "CREATE VIEW IF NOT EXISTS energy AS"
    "  WITH ops AS (SELECT run_id, epoch, phase, MAX(samples) AS samples,"
    "      SUM(synops) AS synops, SUM(dense_macs) AS dense_macs, SUM(row_fetches) AS row_fetches"
    "      FROM synops GROUP BY run_id, epoch, phase),"
    "    nu AS (SELECT run_id, epoch, phase, SUM(neuron_updates) AS neuron_updates"
    "      FROM firing_rates GROUP BY run_id, epoch, phase)"
    "  SELECT ops.run_id, ops.epoch, ops.phase, m.model, ops.samples, ops.synops,"
    "    ops.dense_macs, ops.row_fetches, IFNULL(nu.neuron_updates, 0) AS neuron_updates,"
    "    1e-12 * (ops.synops * IFNULL(m.synop_pj, 0) + ops.dense_macs * IFNULL(m.mac_pj, 0)"
    "      + IFNULL(nu.neuron_updates, 0) * IFNULL(m.neuron_update_pj, 0)"
    "      + ops.row_fetches * IFNULL(m.access_pj, 0)) AS joules,"
    "    1e-12 * (ops.synops * IFNULL(m.synop_pj, 0) + ops.dense_macs * IFNULL(m.mac_pj, 0)"
    "      + IFNULL(nu.neuron_updates, 0) * IFNULL(m.neuron_update_pj, 0)"
    "      + ops.row_fetches * IFNULL(m.access_pj, 0)) / MAX(ops.samples, 1)"
    "      AS joules_per_sample,"
    "    (ops.dense_macs = 0 OR m.mac_pj IS NOT NULL) AS covers_all_ops"
    "  FROM ops LEFT JOIN nu USING (run_id, epoch, phase) CROSS JOIN energy_models m;";

/* The training columns of the built-in models, as (model, feedback MAC pJ, weight update
 * pJ, source).  A weight update reads its synapse, multiplies and adds, and writes it
 * back: for the CMOS models the MAC plus two 32-bit (16-, 8-bit) SRAM accesses of a small
 * array (Horowitz 2014: about 10 pJ per 64-bit read of an 8 KB array, taken as 5, 2.5
 * and 1.25 pJ per 32-, 16- and 8-bit word). */
#define OZ_TRAINING_ENERGIES                                                                       \
    "('cmos45-fp32', 4.6, 14.6, 'feedback MAC = fp32 MAC 4.6 pJ; weight update = MAC + read and "  \
    "write of a 32-bit word of an 8 KB SRAM, 2 x 5 pJ (Horowitz 2014)'),"                          \
    "('cmos45-fp16', 1.5, 6.5, 'feedback MAC = fp16 MAC 1.5 pJ; weight update = MAC + read and "   \
    "write of a 16-bit word of an 8 KB SRAM, 2 x 2.5 pJ (Horowitz 2014)'),"                        \
    "('cmos45-int8', 0.23, 2.73, 'feedback MAC = int8 MAC 0.23 pJ; weight update = MAC + read "    \
    "and write of an 8-bit word of an 8 KB SRAM, 2 x 1.25 pJ (Horowitz 2014)'),"                   \
    "('loihi', NULL, 120, 'weight update = synaptic update of the learning engine, 120 pJ "        \
    "(Davies et al., IEEE Micro 2018, Table 2); no dense MAC, so no feedback MAC'),"               \
    "('spinnaker', NULL, NULL, 'no published per-operation training energy'),"                     \
    "('spinnaker2', NULL, NULL, 'no published per-operation training energy'),"                    \
    "('cpu-i7-4960x', 8600, 8600, 'one op each at the per-op energy (Degnan et al. 2015)'),"       \
    "('gpu-titan-black', 300, 300, 'one op each at the per-op energy (Degnan et al. 2015)')"

/* The training energies of the built-in rows, run on a log of schema version 0 only (a new
 * one, after seed_sql, or one made before the training columns): a later change a user
 * makes to these columns is left alone. */
static const char training_energies_sql[] =
    "WITH t(model, fb, upd, src) AS (VALUES " OZ_TRAINING_ENERGIES ")"
    "  UPDATE energy_models SET feedback_mac_pj = t.fb, update_pj = t.upd,"
    "    training_source = t.src FROM t"
    "  WHERE energy_models.model = t.model AND energy_models.training_source IS NULL;";

/* Seeds the built-in hardware models (a model already there, built in or the user's, is
 * left as it is) and creates the views that read the training columns. */
static const char seed_sql[] =
    "INSERT OR IGNORE INTO energy_models(model, synop_pj, mac_pj, neuron_update_pj, access_pj,"
    "  source) VALUES"
    "  ('cmos45-fp32', 0.9, 4.6, NULL, NULL, 'Horowitz, ISSCC 2014: fp32 add 0.9 pJ, mult 3.7 pJ; "
    "the usual SNN-paper convention (AC 0.9, MAC 4.6)'),"
    "  ('cmos45-fp16', 0.4, 1.5, NULL, NULL, 'Horowitz 2014 (fp16 add 0.4, mult 1.1)'),"
    "  ('cmos45-int8', 0.03, 0.23, NULL, NULL, 'Horowitz 2014 (int8 add 0.03, mult 0.2)'),"
    "  ('loihi', 27.1, NULL, 81, NULL, 'Davies et al., IEEE Micro 2018: 23.6 pJ per synaptic "
    "spike op + 3.5 pJ synaptic update; 81 pJ per neuron update (as tabulated by KerasSpiking)'),"
    "  ('spinnaker', 13300, NULL, 26000, NULL, 'Hoppner et al. 2019 (via KerasSpiking)'),"
    "  ('spinnaker2', 450, NULL, 2190, NULL, 'Hoppner et al. 2019 (via KerasSpiking)'),"
    "  ('cpu-i7-4960x', 8600, 8600, NULL, NULL, 'Degnan et al. 2015, per op (via KerasSpiking)'),"
    "  ('gpu-titan-black', 300, 300, NULL, NULL, 'Degnan et al. 2015, per op (via KerasSpiking)');"
    /* The energy of a training phase: the forward operations (as in energy) plus the error
     * path's MACs (training_ops.feedback_macs) and the weight updates (synops.update_ops:
     * one per gradient multiply-accumulate, each reading and writing its synapse). */
    "CREATE VIEW IF NOT EXISTS training_energy AS"
    "  WITH ops AS (SELECT run_id, epoch, MAX(samples) AS samples, SUM(synops) AS synops,"
    "      SUM(dense_macs) AS dense_macs, SUM(row_fetches) AS row_fetches,"
    "      SUM(update_ops) AS weight_updates"
    "      FROM synops WHERE phase = 'train' GROUP BY run_id, epoch),"
    "    nu AS (SELECT run_id, epoch, SUM(neuron_updates) AS neuron_updates"
    "      FROM firing_rates WHERE phase = 'train' GROUP BY run_id, epoch),"
    "    fb AS (SELECT run_id, epoch, SUM(feedback_macs) AS feedback_macs"
    "      FROM training_ops GROUP BY run_id, epoch),"
    "    c AS (SELECT ops.*, IFNULL(nu.neuron_updates, 0) AS neuron_updates,"
    "      IFNULL(fb.feedback_macs, 0) AS feedback_macs"
    "      FROM ops LEFT JOIN nu USING (run_id, epoch) LEFT JOIN fb USING (run_id, epoch))"
    "  SELECT run_id, epoch, model, samples, synops, dense_macs, row_fetches, neuron_updates,"
    "    feedback_macs, weight_updates, joules, joules / MAX(samples, 1) AS joules_per_sample,"
    "    covers_all_ops FROM ("
    "  SELECT c.*, m.model,"
    "    1e-12 * (c.synops * IFNULL(m.synop_pj, 0) + c.dense_macs * IFNULL(m.mac_pj, 0)"
    "      + c.neuron_updates * IFNULL(m.neuron_update_pj, 0)"
    "      + c.row_fetches * IFNULL(m.access_pj, 0)"
    "      + c.feedback_macs * IFNULL(m.feedback_mac_pj, 0)"
    "      + c.weight_updates * IFNULL(m.update_pj, 0)) AS joules,"
    "    ((c.dense_macs = 0 OR m.mac_pj IS NOT NULL)"
    "      AND (c.feedback_macs = 0 OR m.feedback_mac_pj IS NOT NULL)"
    "      AND (c.weight_updates = 0 OR m.update_pj IS NOT NULL)) AS covers_all_ops"
    "  FROM c CROSS JOIN energy_models m);";

static const char *const row_sql[OZ_ROW_COUNT] = {
    /* Columns by name: a log made before shapes gained the column at its end. */
    [OZ_ROW_POPULATION] = ("INSERT INTO populations(run_id, name, model, size, topo, encoding,"
                           " lambda, v_th, dropout, shape) VALUES(?,?,?,?,?,?,?,?,?,?)"),
    [OZ_ROW_PARAMETER] = "INSERT OR REPLACE INTO parameters(run_id, owner, key, value) "
                         "VALUES(?,?,?,?)",
    [OZ_ROW_PROJECTION] = "INSERT INTO projections VALUES(?,?,?,?,?,?,?,?)",
    [OZ_ROW_EPOCH] = "INSERT OR REPLACE INTO epochs VALUES(?,?,?,?,?,?,?,?,?,?)",
    [OZ_ROW_FIRING_RATE] = "INSERT OR REPLACE INTO firing_rates VALUES(?,?,?,?,?,?,?,?)",
    /* Columns by name: a log made by an older build gained the later ones at its end. */
    [OZ_ROW_SYNOPS] = ("INSERT OR REPLACE INTO synops(run_id, epoch, phase, projection, samples,"
                       " synops, row_fetches, dense_macs, feedback_ops, update_ops,"
                       " spike_dense_macs, packets_event, packets_dense, packets_delta,"
                       " delta_rows, grad_flushes_sparse, grad_flushes_dense)"
                       " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
    [OZ_ROW_SPIKE] = "INSERT INTO spikes VALUES(?,?,?,?,?,?,?)",
    /* A statement per (sample, population, tick) instead of per spike: json_each expands
     * the list in SQLite's own loop (the writer's time for 64 samples: 0.69 → 0.38 s). */
    [OZ_ROW_SPIKE_LIST] = ("INSERT INTO spikes SELECT ?1, ?2, ?3, ?4, ?5, ?6, value "
                           "FROM json_each(?7)"),
    [OZ_ROW_TRAINING_OPS] = "INSERT OR REPLACE INTO training_ops VALUES(?,?,?,?,?)",
    [OZ_ROW_GRAD_STATS] = "INSERT OR REPLACE INTO grad_stats VALUES(?,?,?,?,?,?,?,?,?)",
    [OZ_ROW_CHECKPOINT] = ("INSERT OR REPLACE INTO checkpoints(run_id, epoch, name, dtype, shape,"
                           " data) VALUES(?,?,?,?,?,?)"),
    [OZ_ROW_CHECKPOINT_PRUNE] = "DELETE FROM checkpoints WHERE run_id = ? AND epoch < ?",
    [OZ_ROW_INTERRUPT] = ("INSERT OR REPLACE INTO interrupt_state(run_id, name, dtype, shape,"
                          " data) VALUES(?,?,?,?,?)"),
    [OZ_ROW_INTERRUPT_CLEAR] = "DELETE FROM interrupt_state WHERE run_id = ?",
};
_Static_assert(G_N_ELEMENTS(row_sql) == OZ_ROW_COUNT, "one statement per row kind");

typedef struct {
    char type;
    union {
        gint64 i;
        double d;
        char *s;
        GBytes *b;
    };
} Value;

typedef struct {
    OzRowKind kind;
    guint first, count;
} Row;

struct OzLogBatch {
    GArray *rows;   /* of Row */
    GArray *values; /* of Value */
};

struct OzRunLog {
    sqlite3 *db;
    sqlite3_stmt *stmt[OZ_ROW_COUNT];
    uv_loop_t *loop;
    gint64 run_id;
    GQueue pending;       /* of OzLogBatch*, not yet started */
    OzLogBatch *inflight; /* being written by a worker */
    uv_work_t work;
    GError *error; /* first failure; set by the worker, read on the loop */
    char *path;
    gint64 write_us; /* time spent writing batches (one writer at a time) */
};

OzLogBatch *oz_log_batch_new(void) {
    OzLogBatch *b = g_new0(OzLogBatch, 1);
    b->rows = g_array_new(FALSE, FALSE, sizeof(Row));
    b->values = g_array_new(FALSE, FALSE, sizeof(Value));
    return b;
}

void oz_log_batch_free(OzLogBatch *b) {
    if (!b)
        return;
    for (guint i = 0; i < b->values->len; i++) {
        Value *v = &g_array_index(b->values, Value, i);
        if (v->type == 's')
            g_free(v->s);
        else if (v->type == 'b')
            g_bytes_unref(v->b);
    }
    g_array_free(b->rows, TRUE);
    g_array_free(b->values, TRUE);
    g_free(b);
}

void oz_log_batch_add(OzLogBatch *b, OzRowKind kind, const char *types, ...) {
    g_return_if_fail(kind < OZ_ROW_COUNT);
    Row r = {kind, b->values->len, 0};
    va_list ap;
    va_start(ap, types);
    for (const char *t = types; *t; t++) {
        Value v = {.type = *t};
        switch (*t) {
        case 'i':
            v.i = va_arg(ap, gint64);
            break;
        case 'd':
            v.d = va_arg(ap, double);
            break;
        case 's':
            v.s = g_strdup(va_arg(ap, const char *));
            break;
        case 'S':
            v.s = (char *)va_arg(ap, const char *);
            break;
        case 'b': {
            const void *data = va_arg(ap, const void *);
            gsize len = va_arg(ap, gsize);
            v.b = g_bytes_new(data, len);
            break;
        }
        case 'n':
            break;
        default:
            g_assert_not_reached();
        }
        g_array_append_val(b->values, v);
        r.count++;
    }
    va_end(ap);
    g_array_append_val(b->rows, r);
}

void oz_log_batch_take(OzLogBatch *dst, OzLogBatch *src) {
    guint base = dst->values->len;
    g_array_append_vals(dst->values, src->values->data, src->values->len);
    for (guint i = 0; i < src->rows->len; i++) {
        Row r = g_array_index(src->rows, Row, i);
        r.first += base;
        g_array_append_val(dst->rows, r);
    }
    /* The values (and their strings) now belong to dst. */
    g_array_set_size(src->values, 0);
    g_array_set_size(src->rows, 0);
}

guint oz_log_batch_rows(const OzLogBatch *b) {
    return b->rows->len;
}

static void set_sqlite_error(GError **error, sqlite3 *db, int rc, const char *path,
                             const char *what) {
    int code = OZ_RUNLOG_ERROR_FAILED;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        code = OZ_RUNLOG_ERROR_BUSY;
    else if (rc == SQLITE_FULL)
        code = OZ_RUNLOG_ERROR_FULL;
    g_set_error(error, OZ_RUNLOG_ERROR, code, "run log %s: %s: %s", path, what,
                db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* Runs sql; on failure sets error ("run log PATH: WHAT: message") and returns FALSE. */
static gboolean exec_or_fail(sqlite3 *db, const char *sql, const char *path, const char *what,
                             GError **error) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        g_set_error(error, OZ_RUNLOG_ERROR,
                    rc == SQLITE_BUSY ? OZ_RUNLOG_ERROR_BUSY : OZ_RUNLOG_ERROR_FAILED,
                    "run log %s: %s: %s", path, what, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return FALSE;
    }
    return TRUE;
}

int oz_runlog_schema_version(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return version;
}

char *oz_runlog_parameter(sqlite3 *db, gint64 run_id, const char *owner, const char *key) {
    sqlite3_stmt *st = NULL;
    char *value = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT value FROM parameters WHERE run_id = ? AND owner = ? AND "
                           "key = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            value = g_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return value;
}

gboolean oz_runlog_migrate(sqlite3 *db, const char *path, GError **error) {
    int version = oz_runlog_schema_version(db);
    if (version > OZ_RUNLOG_SCHEMA_VERSION) {
        g_set_error(error, OZ_RUNLOG_ERROR, OZ_RUNLOG_ERROR_VERSION,
                    "run log %s: schema version %d is newer than this build's (%d): use a "
                    "newer opzosim",
                    path, version, OZ_RUNLOG_SCHEMA_VERSION);
        return FALSE;
    }
    if (!exec_or_fail(db, schema_sql, path, "cannot create the schema", error))
        return FALSE;
    /* Checkpoint tables of a log made before checkpoint format 3 gain dtype and shape
     * (NULL in their rows, which the loader reads as format 2). */
    static const char *const typed_tables[] = {"checkpoints", "interrupt_state"};
    for (gsize k = 0; k < G_N_ELEMENTS(typed_tables); k++) {
        g_autofree char *has = g_strdup_printf("SELECT dtype FROM %s LIMIT 0", typed_tables[k]);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, has, -1, &st, NULL) != SQLITE_OK) {
            g_autofree char *add = g_strdup_printf(
                "ALTER TABLE %s ADD COLUMN dtype TEXT; ALTER TABLE %s ADD COLUMN shape TEXT",
                typed_tables[k], typed_tables[k]);
            sqlite3_exec(db, add, NULL, NULL, NULL);
        }
        sqlite3_finalize(st);
    }
    /* Logs made before population shapes get the column (NULL in their rows). */
    sqlite3_stmt *probe = NULL;
    if (sqlite3_prepare_v2(db, "SELECT shape FROM populations LIMIT 0", -1, &probe, NULL) !=
        SQLITE_OK)
        sqlite3_exec(db, "ALTER TABLE populations ADD COLUMN shape TEXT", NULL, NULL, NULL);
    sqlite3_finalize(probe);
    probe = NULL;
    /* Logs made before runs had a sweep column get it now. */
    if (sqlite3_prepare_v2(db, "SELECT sweep FROM runs LIMIT 0", -1, &probe, NULL) != SQLITE_OK)
        sqlite3_exec(db, "ALTER TABLE runs ADD COLUMN sweep TEXT", NULL, NULL, NULL);
    sqlite3_finalize(probe);
    probe = NULL;
    if (sqlite3_prepare_v2(db, "SELECT peak_rss_kb FROM runs LIMIT 0", -1, &probe, NULL) !=
        SQLITE_OK)
        sqlite3_exec(db, "ALTER TABLE runs ADD COLUMN peak_rss_kb INTEGER", NULL, NULL, NULL);
    sqlite3_finalize(probe);
    probe = NULL;
    if (sqlite3_prepare_v2(db, "SELECT log_seconds FROM runs LIMIT 0", -1, &probe, NULL) !=
        SQLITE_OK)
        sqlite3_exec(db, "ALTER TABLE runs ADD COLUMN log_seconds REAL", NULL, NULL, NULL);
    sqlite3_finalize(probe);
    probe = NULL;
    if (sqlite3_prepare_v2(db, "SELECT spike_dense_macs FROM synops LIMIT 0", -1, &probe, NULL) !=
        SQLITE_OK)
        sqlite3_exec(db,
                     "ALTER TABLE synops ADD COLUMN spike_dense_macs INTEGER NOT NULL DEFAULT 0",
                     NULL, NULL, NULL);
    sqlite3_finalize(probe);
    /* And the delivery and gradient-path counters (0 in the rows written before). */
    static const char *const path_counters[] = {"packets_event",       "packets_dense",
                                                "packets_delta",       "delta_rows",
                                                "grad_flushes_sparse", "grad_flushes_dense"};
    for (gsize k = 0; k < G_N_ELEMENTS(path_counters); k++) {
        g_autofree char *sel = g_strdup_printf("SELECT %s FROM synops LIMIT 0", path_counters[k]);
        probe = NULL;
        if (sqlite3_prepare_v2(db, sel, -1, &probe, NULL) != SQLITE_OK) {
            g_autofree char *alter = g_strdup_printf(
                "ALTER TABLE synops ADD COLUMN %s INTEGER NOT NULL DEFAULT 0", path_counters[k]);
            sqlite3_exec(db, alter, NULL, NULL, NULL);
        }
        sqlite3_finalize(probe);
    }
    /* Version 1: energy_models gains the training energies (filled in by seed_sql for
     * the built-in rows) and the view training_energy appears. */
    static const char *const energy_columns[][2] = {
        {"feedback_mac_pj", "REAL"}, {"update_pj", "REAL"}, {"training_source", "TEXT"}};
    for (gsize k = 0; k < G_N_ELEMENTS(energy_columns); k++) {
        g_autofree char *sel =
            g_strdup_printf("SELECT %s FROM energy_models LIMIT 0", energy_columns[k][0]);
        probe = NULL;
        if (sqlite3_prepare_v2(db, sel, -1, &probe, NULL) != SQLITE_OK) {
            g_autofree char *alter = g_strdup_printf("ALTER TABLE energy_models ADD COLUMN %s %s",
                                                     energy_columns[k][0], energy_columns[k][1]);
            sqlite3_finalize(probe);
            probe = NULL;
            if (!exec_or_fail(db, alter, path, "cannot add the training energies", error))
                return FALSE;
        }
        sqlite3_finalize(probe);
    }
    if (!exec_or_fail(db, seed_sql, path, "cannot seed the energy models", error))
        return FALSE;
    if (version < 1 &&
        !exec_or_fail(db, training_energies_sql, path, "cannot add the training energies", error))
        return FALSE;
    if (version < OZ_RUNLOG_SCHEMA_VERSION) {
        g_autofree char *set =
            g_strdup_printf("PRAGMA user_version = %d", OZ_RUNLOG_SCHEMA_VERSION);
        if (!exec_or_fail(db, set, path, "cannot set the schema version", error))
            return FALSE;
    }
    return TRUE;
}

OzRunLog *oz_runlog_open(const char *path, uv_loop_t *loop, int busy_timeout_ms, GError **error) {
    OzRunLog *log = g_new0(OzRunLog, 1);
    log->loop = loop;
    log->path = g_strdup(path);
    g_queue_init(&log->pending);
    int rc = sqlite3_open_v2(path, &log->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_error(error, log->db, rc, path, "cannot open");
        oz_runlog_close(log);
        return NULL;
    }
    sqlite3_busy_timeout(log->db, busy_timeout_ms);
    char *msg = NULL;
    rc = sqlite3_exec(log->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                      &msg);
    sqlite3_free(msg);
    msg = NULL;
    if (rc == SQLITE_OK && !oz_runlog_migrate(log->db, path, error)) {
        oz_runlog_close(log);
        return NULL;
    }
    if (rc != SQLITE_OK) {
        set_sqlite_error(error, log->db, rc, path, "cannot set the journal mode");
        oz_runlog_close(log);
        return NULL;
    }
    const char *cap = g_getenv("OPZOSIM_FAULT_MAX_PAGES");
    if (cap && *cap) {
        g_autofree char *sql = g_strdup_printf("PRAGMA max_page_count = %d", atoi(cap));
        sqlite3_exec(log->db, sql, NULL, NULL, NULL);
    }
    for (int k = 0; k < OZ_ROW_COUNT; k++) {
        rc = sqlite3_prepare_v2(log->db, row_sql[k], -1, &log->stmt[k], NULL);
        if (rc != SQLITE_OK) {
            set_sqlite_error(error, log->db, rc, path, "cannot prepare a statement");
            oz_runlog_close(log);
            return NULL;
        }
    }
    return log;
}

static gboolean write_batch_timed(OzRunLog *log, OzLogBatch *b, GError **error);

/* Writes one batch in one transaction and adds its duration to write_us (read by
 * oz_runlog_finish_run when nothing is in flight). */
static gboolean write_batch(OzRunLog *log, OzLogBatch *b, GError **error) {
    gint64 t0 = g_get_monotonic_time();
    gboolean ok = write_batch_timed(log, b, error);
    log->write_us += g_get_monotonic_time() - t0;
    return ok;
}

static gboolean write_batch_timed(OzRunLog *log, OzLogBatch *b, GError **error) {
    sqlite3 *db = log->db;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_error(error, db, rc, log->path, "cannot begin a transaction");
        return FALSE;
    }
    for (guint r = 0; r < b->rows->len; r++) {
        Row *row = &g_array_index(b->rows, Row, r);
        sqlite3_stmt *st = log->stmt[row->kind];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, log->run_id);
        for (guint c = 0; c < row->count; c++) {
            Value *v = &g_array_index(b->values, Value, row->first + c);
            int col = (int)c + 2;
            switch (v->type) {
            case 'i':
                sqlite3_bind_int64(st, col, v->i);
                break;
            case 'd':
                sqlite3_bind_double(st, col, v->d);
                break;
            case 's':
            case 'S':
                sqlite3_bind_text(st, col, v->s, -1, SQLITE_STATIC);
                break;
            case 'b': {
                gsize len = 0;
                const void *data = g_bytes_get_data(v->b, &len);
                sqlite3_bind_blob64(st, col, data, len, SQLITE_STATIC);
                break;
            }
            default:
                sqlite3_bind_null(st, col);
            }
        }
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            set_sqlite_error(error, db, rc, log->path, "cannot write a row");
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return FALSE;
        }
    }
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        set_sqlite_error(error, db, rc, log->path, "cannot commit");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return FALSE;
    }
    return TRUE;
}

static void start_next(OzRunLog *log);

static void work_cb(uv_work_t *req) {
    OzRunLog *log = req->data;
    GError *err = NULL;
    if (!write_batch(log, log->inflight, &err))
        log->error = err; /* only this worker writes it while in flight */
}

static void after_work_cb(uv_work_t *req, int status) {
    OzRunLog *log = req->data;
    (void)status;
    oz_log_batch_free(log->inflight);
    log->inflight = NULL;
    start_next(log);
}

static void start_next(OzRunLog *log) {
    while (!log->inflight && !g_queue_is_empty(&log->pending)) {
        OzLogBatch *b = g_queue_pop_head(&log->pending);
        if (log->error) {
            /* After a failure nothing more is written; what was committed stays. */
            oz_log_batch_free(b);
            continue;
        }
        log->inflight = b;
        log->work.data = log;
        if (uv_queue_work(log->loop, &log->work, work_cb, after_work_cb) != 0) {
            GError *err = NULL;
            if (!write_batch(log, b, &err))
                log->error = err;
            oz_log_batch_free(b);
            log->inflight = NULL;
        }
    }
}

void oz_runlog_submit(OzRunLog *log, OzLogBatch *batch) {
    if (!log->loop) {
        GError *err = NULL;
        if (!log->error && !write_batch(log, batch, &err))
            log->error = err;
        oz_log_batch_free(batch);
        return;
    }
    g_queue_push_tail(&log->pending, batch);
    start_next(log);
}

gboolean oz_runlog_busy(const OzRunLog *log) {
    return log->inflight != NULL || log->pending.length > 0;
}

const GError *oz_runlog_error(const OzRunLog *log) {
    return log->error;
}

static char *now_iso(void) {
    g_autoptr(GDateTime) t = g_date_time_new_now_utc();
    return g_date_time_format_iso8601(t);
}

gint64 oz_runlog_begin_run(OzRunLog *log, const OzRunInfo *info, GError **error) {
    g_return_val_if_fail(!oz_runlog_busy(log), -1);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(log->db,
                                "INSERT INTO runs(name, scenario_path, scenario, overrides, seed,"
                                " threads, version, mode, status, started_at, sweep)"
                                " VALUES(?,?,?,?,?,?,?,?,'running',?,?)",
                                -1, &st, NULL);
    g_autofree char *now = now_iso();
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, info->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, info->scenario_path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, info->scenario_text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, info->overrides, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, info->seed);
        sqlite3_bind_int(st, 6, info->threads);
        sqlite3_bind_text(st, 7, OZ_VERSION, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, info->mode, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, info->sweep, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_DONE) {
        set_sqlite_error(error, log->db, rc, log->path, "cannot insert the run");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    log->run_id = sqlite3_last_insert_rowid(log->db);
    return log->run_id;
}

gboolean oz_runlog_resume_run(OzRunLog *log, gint64 run_id, GError **error) {
    g_return_val_if_fail(!oz_runlog_busy(log), FALSE);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(log->db,
                                "UPDATE runs SET status = 'running', message = NULL,"
                                " finished_at = NULL WHERE id = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run_id);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_sqlite_error(error, log->db, rc, log->path, "cannot resume the run");
        return FALSE;
    }
    log->run_id = run_id;
    return TRUE;
}

gint64 oz_runlog_run_id(const OzRunLog *log) {
    return log->run_id;
}

gboolean oz_runlog_finish_run(OzRunLog *log, const char *status, const char *message,
                              GError **error) {
    g_return_val_if_fail(!oz_runlog_busy(log), FALSE);
    sqlite3_stmt *st = NULL;
    g_autofree char *now = now_iso();
    int rc = sqlite3_prepare_v2(
        log->db,
        "UPDATE runs SET status = ?, message = ?, finished_at = ?,"
        " seconds = (julianday(?) - julianday(started_at)) * 86400.0, peak_rss_kb = ?,"
        " log_seconds = ? WHERE id = ?",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, message, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        sqlite3_bind_int64(st, 5, (gint64)ru.ru_maxrss);
        sqlite3_bind_double(st, 6, (double)log->write_us / 1e6);
        sqlite3_bind_int64(st, 7, log->run_id);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        set_sqlite_error(error, log->db, rc, log->path, "cannot mark the run finished");
        return FALSE;
    }
    return TRUE;
}

struct sqlite3 *oz_runlog_db(OzRunLog *log) {
    return log->db;
}

void oz_runlog_close(OzRunLog *log) {
    if (!log)
        return;
    if (log->loop)
        while (oz_runlog_busy(log))
            uv_run(log->loop, UV_RUN_ONCE);
    for (int k = 0; k < OZ_ROW_COUNT; k++)
        sqlite3_finalize(log->stmt[k]);
    if (log->db)
        sqlite3_close(log->db);
    g_clear_error(&log->error);
    g_free(log->path);
    g_free(log);
}

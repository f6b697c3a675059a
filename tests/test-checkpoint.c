/* Checkpoints (sim/oz-checkpoint.c, docs/CHECKPOINTS.md): every tensor round-trips bit for
 * bit; the bytes are little-endian whatever the host; a missing optional tensor takes its
 * default; a wrong shape, dtype or a missing tensor is an error naming it; and a log of
 * format 2 made by an older build (tests/data/checkpoint-format2.sql, see the README
 * there) loads for eval, --init-from and --resume, its interruption state refused.  A
 * neuron model's state tensors (OzNeuronOps.state_tensors) are saved and loaded as
 * state:POP.NAME, and a model without them writes no such row. */
#include "neurons/oz-neuron.h"
#include "oz-test-util.h"
#include "sim/oz-checkpoint.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 40, 50, 6, 6, 10);
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(checkpoint, .init = setup, .fini = teardown);

/* The scenario of the format-2 fixture (tests/data/checkpoint-format2.ini), on dir. */
static char *scenario_text(void) {
    return g_strdup_printf("[run]\nname = ck\nmode = train\nepochs = 2\nticks = 4\n"
                           "batch_size = 16\nthreads = 1\n[data]\ndir = %s\n"
                           "[optimizer]\nlr = 1e-2\n[rule]\nname = opzo\n"
                           "[population in]\nmodel = input\nsize = 36\n"
                           "[population h1]\nmodel = lif\nsize = 20\ndropout = 0.2\n"
                           "[population h2]\nmodel = lif\nsize = 12\n"
                           "[population out]\nmodel = readout\nsize = 10\n"
                           "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                           "[projection h1_h2]\nfrom = h1\nto = h2\ninit_scale = 6\n"
                           "[projection h2_out]\nfrom = h2\nto = out\n",
                           dir);
}

typedef struct {
    OzScenario *sc;
    OzRun *run;
} Run;

static Run make_run_text(const char *text, const char *const *sets) {
    GError *err = NULL;
    Run r = {oz_scenario_load_data(text, "ck.ini", sets, &err), NULL};
    cr_assert_not_null(r.sc, "%s", err ? err->message : "");
    r.run = oz_run_new(r.sc, &err);
    cr_assert_not_null(r.run, "%s", err ? err->message : "");
    return r;
}

static Run make_run(const char *const *sets) {
    g_autofree char *text = scenario_text();
    return make_run_text(text, sets);
}

static void free_run(Run *r) {
    oz_run_free(r->run);
    oz_scenario_free(r->sc);
}

static void steps(OzRun *run, int batches) {
    for (int i = 0; i < batches; i++) {
        OzLogBatch *rows = NULL;
        cr_assert(oz_run_step(run, &rows));
        oz_log_batch_free(rows);
    }
}

/* A log at dir/name holding one run (id 1) and the rows of b. */
static char *write_log(const char *name, OzLogBatch *b) {
    char *path = g_build_filename(dir, name, NULL);
    GError *err = NULL;
    OzRunLog *log = oz_runlog_open(path, NULL, 5000, &err);
    cr_assert_not_null(log, "%s", err ? err->message : "");
    OzRunInfo info = {"ck", "ck.ini", "", NULL, 1, 1, "train", NULL};
    cr_assert_eq(oz_runlog_begin_run(log, &info, &err), 1);
    oz_runlog_submit(log, b);
    cr_assert_null(oz_runlog_error(log), "%s", oz_runlog_error(log)->message);
    oz_runlog_close(log);
    return path;
}

static char *save_epoch(OzRun *run, const char *name) {
    OzLogBatch *b = oz_log_batch_new();
    oz_checkpoint_add_rows(run, 0, TRUE, b);
    return write_log(name, b);
}

static char *save_interrupt(OzRun *run, const char *name) {
    OzLogBatch *b = oz_log_batch_new();
    oz_checkpoint_add_interrupt_rows(run, b);
    return write_log(name, b);
}

static void exec(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_close(db);
}

static sqlite3 *open_ro(const char *path) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

static gboolean load_epoch(const char *path, gint64 run_id, int epoch, OzRun *run, OzLoadWhat what,
                           GError **error) {
    sqlite3 *db = open_ro(path);
    gboolean ok = oz_checkpoint_load(db, run_id, epoch, run, what, error);
    sqlite3_close(db);
    return ok;
}

/* Every row of a table as sorted "name dtype[shape] hex" lines; (transfer full). */
static char *table_text(const char *path, const char *table, const char *where) {
    g_autofree char *sql = g_strdup_printf(
        "select group_concat(line, char(10)) from (select name || ' ' || dtype || '[' || shape "
        "|| '] ' || hex(data) as line from %s where %s order by name)",
        table, where);
    return oz_test_qs(path, sql);
}

Test(checkpoint, every_tensor_round_trips_bit_for_bit) {
    const char *sets[] = {"record.grad_stats=true", "rule.local_learning=true", NULL};
    const char *sets2[] = {"record.grad_stats=true", "rule.local_learning=true", "run.seed=2",
                           NULL};
    Run a = make_run(sets);
    steps(a.run, 2); /* inside the first training phase: counters, moments, streams moved */
    g_autofree char *pa = save_epoch(a.run, "a.sqlite");
    g_autofree char *ia = save_interrupt(a.run, "ia.sqlite");

    /* An epoch checkpoint into a run of another seed: everything differs before. */
    Run b = make_run(sets2);
    g_autofree char *pb0 = save_epoch(b.run, "b0.sqlite");
    g_autofree char *ta = table_text(pa, "checkpoints", "1");
    g_autofree char *tb0 = table_text(pb0, "checkpoints", "1");
    cr_assert_str_neq(ta, tb0);
    GError *err = NULL;
    cr_assert(load_epoch(pa, 1, 0, b.run, OZ_LOAD_ALL, &err), "%s", err ? err->message : "");
    g_autofree char *pb = save_epoch(b.run, "b.sqlite");
    g_autofree char *tb = table_text(pb, "checkpoints", "1");
    cr_assert_str_eq(ta, tb, "the epoch checkpoint saved again after loading is the same");

    /* An interruption state, with the position, counters, gradient statistics. */
    Run c = make_run(sets2);
    sqlite3 *db = open_ro(ia);
    gboolean found = FALSE;
    cr_assert(oz_checkpoint_load_interrupt(db, 1, c.run, &found, &err), "%s",
              err ? err->message : "");
    sqlite3_close(db);
    cr_assert(found);
    cr_assert_eq(c.run->cursor, a.run->cursor);
    cr_assert_geq(c.run->cursor, 0, "mid-phase");
    g_autofree char *pc = save_interrupt(c.run, "c.sqlite");
    /* pos:elapsed is re-measured at every save. */
    const char *where = "name != 'pos:elapsed'";
    g_autofree char *tia = table_text(ia, "interrupt_state", where);
    g_autofree char *tc = table_text(pc, "interrupt_state", where);
    cr_assert_str_eq(tia, tc, "the interruption state saved again after loading is the same");
    /* Every kind of tensor is there, scalars under their own names, none by position. */
    const char *names[] = {"format",
                           "w:in_h1",
                           "b:h1",
                           "fb:h1",
                           "ll:h2",
                           "m:in_h1",
                           "v:h1.bias",
                           "optim:steps",
                           "rng:input.s0",
                           "rng:jitter.s3",
                           "rng:input_test.s2",
                           "pos:order",
                           "pos:loss_sum",
                           "runaway:h1",
                           "cnt:h1.spikes",
                           "cnt:h1_h2.synops",
                           "cnt:in_h1.delta_rows",
                           "macs0:h2",
                           "gs:in_h1.mean",
                           "gs:h1_h2.cos_sum"};
    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *sql = g_strdup_printf(
            "select count(*) from interrupt_state where name = '%s' and dtype is not null and "
            "shape is not null",
            names[i]);
        cr_assert_eq(oz_test_q(ia, sql), 1, "%s", names[i]);
    }
    cr_assert_eq(oz_test_q(ia, "select count(*) from interrupt_state where name glob '*[.:][0-9]' "
                               "and name not glob 'rng:*.s[0-3]'"),
                 0, "no tensor is named by position");
    g_autofree char *m = oz_test_qs(
        ia, "select dtype || '[' || shape || ']' from interrupt_state where name = 'm:in_h1'");
    cr_assert_str_eq(m, "float32[36,20]", "moments have their weights' shape");
    free_run(&a);
    free_run(&b);
    free_run(&c);
}

Test(checkpoint, bytes_are_little_endian_whatever_the_host) {
    Run a = make_run(NULL);
    OzProjection *in_h1 = g_ptr_array_index(a.run->net->projs, 0);
    in_h1->w[0] = 1.5f;  /* 0x3fc00000 */
    in_h1->w[1] = -2.0f; /* 0xc0000000 */
    a.run->rng_input.s[0] = 0x0102030405060708u;
    a.run->learner->opt->steps = 0x1122334455667788;
    g_autofree char *pa = save_epoch(a.run, "le.sqlite");
    /* The writer: least significant byte first. */
    g_autofree char *w =
        oz_test_qs(pa, "select hex(substr(data, 1, 8)) from checkpoints where name = 'w:in_h1'");
    cr_assert_str_eq(w, "0000C03F000000C0");
    g_autofree char *s0 =
        oz_test_qs(pa, "select hex(data) from checkpoints where name = 'rng:input.s0'");
    cr_assert_str_eq(s0, "0807060504030201");
    g_autofree char *st =
        oz_test_qs(pa, "select hex(data) from checkpoints where name = 'optim:steps'");
    cr_assert_str_eq(st, "8877665544332211");

    /* The reader: blobs built here byte by byte, as any writer, big-endian hosts included,
     * must lay them out — not copied from this host's memory. */
    exec(pa, "update checkpoints set data = X'0000803F' || substr(data, 5) where name = "
             "'w:h2_out';"
             "update checkpoints set data = X'EFCDAB8967452301' where name = 'rng:noise.s1';"
             "update checkpoints set data = X'0300000000000000' where name = 'optim:steps'");
    Run b = make_run(NULL);
    GError *err = NULL;
    cr_assert(load_epoch(pa, 1, 0, b.run, OZ_LOAD_ALL, &err), "%s", err ? err->message : "");
    OzProjection *h2_out = g_ptr_array_index(b.run->net->projs, 2);
    OzProjection *b_in_h1 = g_ptr_array_index(b.run->net->projs, 0);
    cr_assert(h2_out->w[0] == 1.0f, "%a", h2_out->w[0]);
    cr_assert(b_in_h1->w[0] == 1.5f && b_in_h1->w[1] == -2.0f);
    cr_assert_eq(b.run->rng_noise.s[1], 0x0123456789ABCDEFu);
    cr_assert_eq(b.run->rng_input.s[0], 0x0102030405060708u);
    cr_assert_eq(b.run->learner->opt->steps, 3);
    free_run(&a);
    free_run(&b);
}

Test(checkpoint, a_missing_optional_tensor_takes_its_default) {
    Run a = make_run(NULL);
    steps(a.run, 1);
    OzProjection *pa0 = g_ptr_array_index(a.run->net->projs, 0);
    OzProjection *pa2 = g_ptr_array_index(a.run->net->projs, 2);
    pa0->packets_delta = 5;
    pa2->packets_delta = 7;
    g_autofree char *ia = save_interrupt(a.run, "opt.sqlite");
    exec(ia, "delete from interrupt_state where name in ('cnt:in_h1.packets_delta', "
             "'cnt:in_h1.delta_rows')");
    Run b = make_run(NULL);
    OzProjection *pb0 = g_ptr_array_index(b.run->net->projs, 0);
    OzProjection *pb2 = g_ptr_array_index(b.run->net->projs, 2);
    pb0->packets_delta = 99;
    pb0->delta_rows = 77;
    sqlite3 *db = open_ro(ia);
    gboolean found = FALSE;
    GError *err = NULL;
    cr_assert(oz_checkpoint_load_interrupt(db, 1, b.run, &found, &err), "%s",
              err ? err->message : "");
    sqlite3_close(db);
    cr_assert_eq(pb0->packets_delta, 0, "the default");
    cr_assert_eq(pb0->delta_rows, 0, "the default");
    cr_assert_eq(pb2->packets_delta, 7, "a stored optional tensor is read");
    cr_assert_eq(pb0->synops, pa0->synops);

    /* A required one missing is an error naming it. */
    exec(ia, "delete from interrupt_state where name = 'cnt:h1_h2.row_fetches'");
    Run c = make_run(NULL);
    db = open_ro(ia);
    cr_assert_not(oz_checkpoint_load_interrupt(db, 1, c.run, &found, &err));
    sqlite3_close(db);
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING), "%s",
              err->message);
    cr_assert(strstr(err->message, "'cnt:h1_h2.row_fetches'"), "%s", err->message);
    cr_assert(strstr(err->message, "uint64[]"), "%s", err->message);
    g_clear_error(&err);
    free_run(&a);
    free_run(&b);
    free_run(&c);
}

/* Loads (run 1, epoch 0) of path into a run of the standard scenario and expects an error
 * of `code` whose message holds every string of `parts`. */
static void expect_error(const char *path, OzLoadWhat what, int code, const char *const *parts) {
    Run b = make_run(NULL);
    GError *err = NULL;
    cr_assert_not(load_epoch(path, 1, 0, b.run, what, &err));
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, code), "code %d: %s", err->code,
              err->message);
    for (int i = 0; parts[i]; i++)
        cr_assert(strstr(err->message, parts[i]), "'%s' not in: %s", parts[i], err->message);
    g_error_free(err);
    free_run(&b);
}

Test(checkpoint, a_wrong_shape_is_an_error_naming_the_tensor_and_both_shapes) {
    Run a = make_run(NULL);
    g_autofree char *pa = save_epoch(a.run, "shape.sqlite");
    /* A checkpoint of another scenario: h1 has 21 neurons there. */
    const char *sets[] = {"population h1.size=21", NULL};
    Run other = make_run(sets);
    GError *err = NULL;
    cr_assert_not(load_epoch(pa, 1, 0, other.run, OZ_LOAD_MODEL, &err));
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH), "%s",
              err->message);
    cr_assert(strstr(err->message, "tensor 'w:in_h1' is float32[36,20], the network needs "
                                   "float32[36,21] (written for another scenario?)"),
              "%s", err->message);
    g_clear_error(&err);
    free_run(&other);
    /* The same element count in another shape is still another shape. */
    exec(pa, "update checkpoints set shape = '20,36' where name = 'w:in_h1'");
    const char *parts[] = {"'w:in_h1'", "float32[20,36]", "float32[36,20]", NULL};
    expect_error(pa, OZ_LOAD_WEIGHTS, OZ_CHECKPOINT_ERROR_MISMATCH, parts);
    free_run(&a);
}

Test(checkpoint, a_wrong_dtype_is_an_error_naming_the_tensor_and_both_dtypes) {
    Run a = make_run(NULL);
    g_autofree char *pa = save_epoch(a.run, "dtype.sqlite");
    exec(pa, "update checkpoints set dtype = 'float64', data = zeroblob(160) where name = 'b:h1'");
    const char *parts[] = {"'b:h1'", "float64[20]", "float32[20]", NULL};
    expect_error(pa, OZ_LOAD_WEIGHTS, OZ_CHECKPOINT_ERROR_MISMATCH, parts);
    g_autofree char *pa2 = save_epoch(a.run, "dtype2.sqlite");
    exec(pa2, "update checkpoints set dtype = 'int64' where name = 'rng:shuffle.s1'");
    const char *parts2[] = {"'rng:shuffle.s1'", "int64[]", "uint64[]", NULL};
    expect_error(pa2, OZ_LOAD_ALL, OZ_CHECKPOINT_ERROR_MISMATCH, parts2);
    free_run(&a);
}

Test(checkpoint, missing_truncated_or_unknown_format_tensors_are_named_errors) {
    Run a = make_run(NULL);
    g_autofree char *pa = save_epoch(a.run, "bad.sqlite");
    exec(pa, "update checkpoints set data = substr(data, 1, 10) where name = 'v:in_h1'");
    const char *trunc[] = {"'v:in_h1'", "10 bytes instead of 2880", NULL};
    expect_error(pa, OZ_LOAD_ALL, OZ_CHECKPOINT_ERROR_CORRUPT, trunc);
    exec(pa, "delete from checkpoints where name = 'w:h1_h2'");
    const char *missing[] = {"run 1, epoch 0", "no tensor 'w:h1_h2'", "float32[20,12]", NULL};
    expect_error(pa, OZ_LOAD_WEIGHTS, OZ_CHECKPOINT_ERROR_MISSING, missing);
    exec(pa, "update checkpoints set data = X'04000000' where name = 'format'");
    const char *newer[] = {"format 4", "reads formats 2 and 3", NULL};
    expect_error(pa, OZ_LOAD_WEIGHTS, OZ_CHECKPOINT_ERROR_MISMATCH, newer);
    free_run(&a);
}

/* ---- Format 2: a log made by the build before format 3 ---- */

/* The fixture as a log in dir, its data folder pointed at dir; (transfer full). */
static char *format2_log(const char *name) {
    g_autofree char *sql_path = g_build_filename(OZ_TEST_DATA_DIR, "checkpoint-format2.sql", NULL);
    g_autofree char *sql = NULL;
    GError *err = NULL;
    cr_assert(g_file_get_contents(sql_path, &sql, NULL, &err), "%s", err ? err->message : "");
    char *path = g_build_filename(dir, name, NULL);
    exec(path, sql);
    g_autofree char *fix =
        g_strdup_printf("update runs set scenario = replace(scenario, '/tmp/oz-ckpt-fixture-data', "
                        "'%s')",
                        dir);
    exec(path, fix);
    return path;
}

static Run format2_run(const char *path) {
    g_autofree char *text = oz_test_qs(path, "select scenario from runs where id = 1");
    return make_run_text(text, NULL);
}

/* The float32 values of a format-2 blob, decoded here from its little-endian bytes. */
static float le_float(const guint8 *p) {
    guint32 u = (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

Test(checkpoint, a_format_2_checkpoint_loads_the_same_weights) {
    g_autofree char *f2 = format2_log("f2.sqlite");
    cr_assert_eq(oz_test_q(f2, "select count(*) from pragma_table_info('checkpoints') where "
                               "name = 'dtype'"),
                 0, "the fixture has the old schema");
    Run r = format2_run(f2);
    GError *err = NULL;
    cr_assert(load_epoch(f2, 1, 1, r.run, OZ_LOAD_WEIGHTS, &err), "%s", err ? err->message : "");
    for (guint i = 0; i < r.run->net->projs->len; i++) {
        OzProjection *p = g_ptr_array_index(r.run->net->projs, i);
        g_autofree char *sql = g_strdup_printf(
            "select data from checkpoints where run_id = 1 and epoch = 1 and name = 'w:%s'",
            p->name);
        g_autoptr(GBytes) blob = oz_test_blob(f2, sql);
        gsize len = 0;
        const guint8 *bytes = g_bytes_get_data(blob, &len);
        cr_assert_eq(len, 4 * (gsize)p->n_pre * p->n_post);
        for (gsize k = 0; k < len / 4; k++)
            cr_assert(p->w[k] == le_float(bytes + 4 * k), "w:%s[%zu]", p->name, k);
    }
    /* A stream: one 32-byte row of four little-endian words in format 2. */
    g_autofree char *hex = oz_test_qs(
        f2, "select hex(substr(data, 9, 8)) from checkpoints where run_id = 1 and epoch = 1 "
            "and name = 'rng:input_test'");
    g_autofree char *mine = g_strdup_printf("%016" G_GINT64_MODIFIER "X",
                                            GUINT64_SWAP_LE_BE(r.run->rng_input_test.s[1]));
    cr_assert_str_eq(hex, mine);
    free_run(&r);
}

Test(checkpoint, a_format_2_interruption_state_is_refused_by_name) {
    g_autofree char *f2 = format2_log("f2i.sqlite");
    Run r = format2_run(f2);
    sqlite3 *db = open_ro(f2);
    gboolean found = FALSE;
    GError *err = NULL;
    cr_assert_not(oz_checkpoint_load_interrupt(db, 2, r.run, &found, &err));
    sqlite3_close(db);
    cr_assert(found);
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH));
    cr_assert(strstr(err->message, "interruption state of run 2 has checkpoint format 2"), "%s",
              err->message);
    cr_assert(strstr(err->message, "DELETE FROM interrupt_state WHERE run_id = 2"), "%s",
              err->message);
    cr_assert(strstr(err->message, "epoch-0 checkpoint"), "%s", err->message);
    g_error_free(err);
    free_run(&r);
}

/* The fixture was trained by a gcc build; eval and the resumed run are compared with it bit
 * for bit, so a build by another compiler (clang rounds some sums differently) fails here
 * while loading correctly.  gcc is the project's compiler (scripts/setup.sh). */
Test(checkpoint, a_format_2_log_works_for_eval_init_from_and_resume) {
    g_autofree char *f2 = format2_log("f2e.sqlite");
    /* eval exits 0 only when it reproduces the stored test accuracy. */
    char *err = NULL;
    for (int e = 0; e < 2; e++) {
        g_autofree char *epoch = g_strdup_printf("%d", e);
        int rc = oz_test_run(&err, "eval", "--db", f2, "--run", "1", "--epoch", epoch, NULL);
        cr_assert_eq(rc, 0, "eval of format-2 epoch %d: %s", e, err);
        g_free(err);
    }
    /* The scenario of the stored runs, as a file. */
    g_autofree char *text = oz_test_qs(f2, "select scenario from runs where id = 1");
    g_autofree char *ini = oz_test_write_file(dir, "s.ini", text);
    g_autofree char *inf = g_build_filename(dir, "inf.sqlite", NULL);
    g_autofree char *spec = g_strdup_printf("%s:1:1", f2);
    int rc = oz_test_run(&err, "run", ini, "--db", inf, "--quiet", "--set", "run.mode=infer",
                         "--init-from", spec, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    g_free(err);
    cr_assert_eq(oz_test_q(inf, "select accuracy * 1e12 from epochs"),
                 oz_test_q(f2, "select accuracy * 1e12 from epochs where run_id = 1 and "
                               "epoch = 1 and phase = 'test'"),
                 "inference from the format-2 checkpoint reproduces its accuracy");

    /* Run 2 was interrupted in epoch 1: its state is refused by name, with the way out. */
    rc = oz_test_run(&err, "run", ini, "--db", f2, "--quiet", "--resume", NULL);
    cr_assert_eq(rc, 2, "exit %d: %s", rc, err);
    cr_assert(strstr(err, "interruption state of run 2 has checkpoint format 2") &&
                  strstr(err, "DELETE FROM interrupt_state WHERE run_id = 2"),
              "%s", err);
    g_free(err);
    exec(f2, "DELETE FROM interrupt_state WHERE run_id = 2; DELETE FROM spikes WHERE run_id = 2 "
             "AND epoch > 0");
    /* A twin log whose epoch-0 checkpoint of run 2 is the same state in format 3. */
    g_autofree char *f3 = g_build_filename(dir, "f3.sqlite", NULL);
    g_autofree char *copy = g_strdup_printf("cp '%s' '%s'", f2, f3);
    cr_assert_eq(system(copy), 0);
    exec(f3, "delete from checkpoints where run_id = 2");
    {
        Run r = format2_run(f3);
        GError *gerr = NULL;
        cr_assert(load_epoch(f2, 2, 0, r.run, OZ_LOAD_ALL, &gerr), "%s", gerr ? gerr->message : "");
        OzRunLog *log = oz_runlog_open(f3, NULL, 5000, &gerr);
        cr_assert_not_null(log);
        cr_assert(oz_runlog_resume_run(log, 2, &gerr));
        OzLogBatch *b = oz_log_batch_new();
        oz_checkpoint_add_rows(r.run, 0, TRUE, b);
        oz_runlog_submit(log, b);
        cr_assert_null(oz_runlog_error(log));
        cr_assert(oz_runlog_finish_run(log, "interrupted", NULL, &gerr));
        oz_runlog_close(log);
        free_run(&r);
    }
    cr_assert_eq(oz_test_q(f3, "select count(*) from checkpoints where run_id = 2 and "
                               "dtype is null"),
                 0, "the twin's run 2 is in format 3");
    const char *logs[] = {f2, f3};
    for (int i = 0; i < 2; i++) {
        rc = oz_test_run(&err, "run", ini, "--db", logs[i], "--quiet", "--resume", NULL);
        cr_assert_eq(rc, 0, "%s", err);
        cr_assert(strstr(err, "resuming run 2 at epoch 2"), "%s", err);
        g_free(err);
    }
    /* The log gained the columns and the resumed epoch is in format 3 ... */
    cr_assert_eq(oz_test_q(f2, "select count(*) from checkpoints where run_id = 2 and epoch = 1 "
                               "and dtype = 'float32' and name = 'w:in_h1'"),
                 1);
    /* ... and resuming from format 2 is bit for bit resuming from format 3. */
    g_autofree char *t2 = table_text(f2, "checkpoints", "run_id = 2 and epoch = 1");
    g_autofree char *t3 = table_text(f3, "checkpoints", "run_id = 2 and epoch = 1");
    cr_assert_str_eq(t2, t3);
    cr_assert_eq(oz_test_q(f2, "select sum(accuracy * 1e12) + sum(loss * 1e12) from epochs "
                               "where run_id = 2"),
                 oz_test_q(f3, "select sum(accuracy * 1e12) + sum(loss * 1e12) from epochs "
                               "where run_id = 2"));
    cr_assert_eq(oz_test_q(f2, "select count(*) from runs where id = 2 and status = 'finished'"),
                 1);
    /* And both equal run 1, which the old build trained without interruption: a tensor
     * for tensor, a stream for its four words.  (This also says that training has not
     * changed since that build; if it changes on purpose, remake the fixture, see
     * tests/data/README.md.) */
    gint64 tensors = oz_test_q(f2, "select count(*) from checkpoints where run_id = 1 and "
                                   "epoch = 1 and name not glob 'rng:*'");
    cr_assert_eq(oz_test_q(f2, "select count(*) from checkpoints a join checkpoints b using "
                               "(name) where a.run_id = 1 and a.epoch = 1 and b.run_id = 2 and "
                               "b.epoch = 1 and a.data = b.data and name != 'format'"),
                 tensors - 1);
    cr_assert_eq(oz_test_q(f2, "select count(*) from checkpoints a where a.run_id = 1 and "
                               "a.epoch = 1 and a.name glob 'rng:*' and hex(a.data) = (select "
                               "group_concat(h, '') from (select hex(data) as h from checkpoints "
                               "b where b.run_id = 2 and b.epoch = 1 and b.name glob a.name || "
                               "'.s[0-3]' order by b.name))"),
                 7, "the seven streams");
}

/* ---- A model's state that outlives a window (OzNeuronOps.state_tensors) ----
 *
 * No registered model has state_tensors, and a test registers nothing; so these tests give
 * population h1 of a run a copy of lif's ops table with the slot filled.  The copy behaves
 * as lif in every other slot; its state is lif's membrane v, (B, n) floats that a real
 * stateful model would keep across windows. */

static OzNeuronOps stateful_ops;

static int stateful_state(OzPopulation *pop, OzNeuronTensor *out, int max) {
    cr_assert_geq(max, 1);
    out[0] = (OzNeuronTensor){"v", pop->v, (gsize)pop->batch * pop->n};
    return 1;
}

/* h1 of r becomes the stateful lif, its v filled with values that depend on `salt`. */
static OzPopulation *make_stateful(Run *r, float salt) {
    stateful_ops = *oz_neuron_lookup("lif");
    stateful_ops.state_tensors = stateful_state;
    OzPopulation *h1 = g_ptr_array_index(r->run->net->pops, 1);
    cr_assert_str_eq(h1->name, "h1");
    h1->ops = &stateful_ops;
    for (int i = 0; i < h1->batch * h1->n; i++)
        h1->v[i] = salt + (float)i / 64.0f;
    return h1;
}

Test(checkpoint, a_models_state_tensors_round_trip_for_eval_init_from_and_resume) {
    Run a = make_run(NULL);
    OzPopulation *ha = make_stateful(&a, 0.5f);
    g_autofree char *pa = save_epoch(a.run, "state.sqlite");
    g_autofree char *ia = save_interrupt(a.run, "istate.sqlite");
    const char *sql = "select dtype || '[' || shape || ']' || length(data) from %s where name = "
                      "'state:h1.v'";
    g_autofree char *q1 = g_strdup_printf(sql, "checkpoints");
    g_autofree char *q2 = g_strdup_printf(sql, "interrupt_state");
    g_autofree char *row = oz_test_qs(pa, q1);
    g_autofree char *irow = oz_test_qs(ia, q2);
    cr_assert_str_eq(row, "float32[320]1280", "16 samples x 20 neurons");
    cr_assert_str_eq(irow, "float32[320]1280");
    const gsize bytes = sizeof(float) * (gsize)ha->batch * ha->n;
    const OzLoadWhat whats[] = {OZ_LOAD_ALL, OZ_LOAD_WEIGHTS, OZ_LOAD_MODEL};
    for (gsize k = 0; k < G_N_ELEMENTS(whats); k++) {
        Run b = make_run(NULL);
        OzPopulation *hb = make_stateful(&b, -3.0f);
        cr_assert_neq(memcmp(hb->v, ha->v, bytes), 0);
        GError *err = NULL;
        cr_assert(load_epoch(pa, 1, 0, b.run, whats[k], &err), "%s", err ? err->message : "");
        cr_assert_eq(memcmp(hb->v, ha->v, bytes), 0, "load %d: the state, bit for bit",
                     (int)whats[k]);
        free_run(&b);
    }
    /* And from an interruption state. */
    Run c = make_run(NULL);
    OzPopulation *hc = make_stateful(&c, -3.0f);
    sqlite3 *db = open_ro(ia);
    gboolean found = FALSE;
    GError *err = NULL;
    cr_assert(oz_checkpoint_load_interrupt(db, 1, c.run, &found, &err), "%s",
              err ? err->message : "");
    sqlite3_close(db);
    cr_assert(found);
    cr_assert_eq(memcmp(hc->v, ha->v, bytes), 0, "the state, bit for bit");
    free_run(&a);
    free_run(&c);
}

Test(checkpoint, a_missing_or_mis_sized_state_tensor_is_an_error_naming_it) {
    Run a = make_run(NULL);
    make_stateful(&a, 0.5f);
    g_autofree char *pa = save_epoch(a.run, "state.sqlite");
    /* The same network with another batch size: v is (8, 20). */
    const char *sets[] = {"run.batch_size=8", NULL};
    Run b = make_run(sets);
    OzPopulation *hb = make_stateful(&b, -3.0f);
    GError *err = NULL;
    cr_assert_not(load_epoch(pa, 1, 0, b.run, OZ_LOAD_MODEL, &err));
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISMATCH), "%s",
              err->message);
    cr_assert(strstr(err->message, "tensor 'state:h1.v' is float32[320], the network needs "
                                   "float32[160]"),
              "%s", err->message);
    g_clear_error(&err);
    cr_assert_eq(hb->v[0], -3.0f, "nothing of the state was read");
    /* A checkpoint written without the state (by a model without it) lacks it. */
    Run plain = make_run(NULL);
    g_autofree char *pp = save_epoch(plain.run, "plain.sqlite");
    Run c = make_run(NULL);
    make_stateful(&c, -3.0f);
    cr_assert_not(load_epoch(pp, 1, 0, c.run, OZ_LOAD_WEIGHTS, &err));
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_MISSING), "%s",
              err->message);
    cr_assert(strstr(err->message, "no tensor 'state:h1.v' (the network needs float32[320])"), "%s",
              err->message);
    g_clear_error(&err);
    /* A truncated blob is unreadable. */
    exec(pa, "update checkpoints set data = substr(data, 1, 100) where name = 'state:h1.v'");
    cr_assert_not(load_epoch(pa, 1, 0, c.run, OZ_LOAD_ALL, &err));
    cr_assert(g_error_matches(err, OZ_CHECKPOINT_ERROR, OZ_CHECKPOINT_ERROR_CORRUPT), "%s",
              err->message);
    cr_assert(strstr(err->message, "'state:h1.v'"), "%s", err->message);
    g_clear_error(&err);
    free_run(&a);
    free_run(&b);
    free_run(&plain);
    free_run(&c);
}

Test(checkpoint, a_model_without_state_tensors_writes_no_state_rows) {
    Run plain = make_run(NULL);
    Run st = make_run(NULL);
    make_stateful(&st, 0.5f);
    g_autofree char *pp = save_epoch(plain.run, "plain.sqlite");
    g_autofree char *ps = save_epoch(st.run, "st.sqlite");
    cr_assert_eq(oz_test_q(pp, "select count(*) from checkpoints where name glob 'state:*'"), 0);
    /* The stateful run has exactly one row more, and every other name is the same. */
    cr_assert_eq(oz_test_q(ps, "select count(*) from checkpoints"),
                 oz_test_q(pp, "select count(*) from checkpoints") + 1);
    g_autofree char *np = oz_test_qs(pp, "select group_concat(name) from (select name from "
                                         "checkpoints order by name)");
    g_autofree char *ns = oz_test_qs(ps, "select group_concat(name) from (select name from "
                                         "checkpoints where name != 'state:h1.v' order by name)");
    cr_assert_str_eq(np, ns);
    free_run(&plain);
    free_run(&st);
}

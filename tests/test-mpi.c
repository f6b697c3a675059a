/* test-mpi.c — the program under MPI (docs/CLUSTER.md): a batch split between 2 ranks
 * against one process, 2-rank runs repeated, resumed (same and other rank counts), a sweep
 * dealt to 2 ranks, and SIGTERM sent to one rank.
 *
 * Built only with -Dmpi=enabled.  $OZ_BIN is tests/mpi-run.sh, which runs the program under
 * `mpirun -np $OZ_NP` when OZ_NP is set and directly otherwise; each Criterion test runs in
 * a process of its own, so a test sets OZ_NP for the runs it makes.  The data are the tiny
 * synthetic sets of tests/oz-test-util.h, so the suite takes seconds, not minutes.
 */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* A 144-64-64-10 network on 12×12 synthetic images: dropout, a probe (opzo), and 60 batches
 * of 32 per training epoch.  (transfer full) */
static char *scenario(const char *dir, int n_train, int n_test) {
    oz_test_write_dataset(dir, n_train, n_test, 12, 12, 10);
    g_autofree char *text = g_strdup_printf(
        "[run]\nname = mpi\nmode = train\nepochs = 1\nseed = 5\nticks = 4\nbatch_size = 32\nthreads = 1\n"
        "[data]\ndir = %s\n"
        "[rule]\nname = opzo\n"
        "[optimizer]\nname = adamw\nlr = 3e-3\n"
        "[population in]\nmodel = input\nsize = 144\n"
        "[population h1]\nmodel = lif\nsize = 64\ndropout = 0.2\n"
        "[population h2]\nmodel = lif\nsize = 64\ndropout = 0.2\n"
        "[population out]\nmodel = readout\nsize = 10\n"
        "[projection in_h1]\nfrom = in\nto = h1\n"
        "[projection h1_h2]\nfrom = h1\nto = h2\n"
        "[projection h2_out]\nfrom = h2\nto = out\n",
        dir);
    return oz_test_write_file(dir, "mpi.ini", text);
}

/* Runs `opzosim run ini --db db --quiet sets…` on np ranks (0: one process without mpirun);
 * returns the exit code. */
static int run_np(int np, const char *ini, const char *db, const char *const *sets,
                  const char *const *env) {
    if (np > 0) {
        g_autofree char *n = g_strdup_printf("%d", np);
        g_setenv("OZ_NP", n, TRUE);
    } else {
        g_unsetenv("OZ_NP");
    }
    g_autoptr(GPtrArray) args = oz_test_args_new("run", ini, "--db", db, "--quiet", NULL);
    for (const char *const *s = sets; s && *s; s++)
        oz_test_args_add(args, "--set", *s, NULL);
    g_autofree char *err = NULL;
    int code = oz_test_runv_env(oz_test_args_end(args), env, &err);
    if (code != 0 && code != 130 && code != 143)
        fprintf(stderr, "%s", err ? err : "");
    return code;
}

/* The float32 checkpoint tensors of the newest run in db, by name. */
static GHashTable *tensors(const char *db_path) {
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify)g_array_unref);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT name, data FROM checkpoints WHERE dtype = 'float32'"
                                    " AND run_id = (SELECT MAX(id) FROM runs)",
                                    -1, &st, NULL),
                 SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const guint8 *b = sqlite3_column_blob(st, 1);
        int len = sqlite3_column_bytes(st, 1);
        GArray *a = g_array_sized_new(FALSE, FALSE, sizeof(double), (guint)len / 4);
        for (int i = 0; i + 3 < len; i += 4) {
            guint32 u = (guint32)b[i] | (guint32)b[i + 1] << 8 | (guint32)b[i + 2] << 16 |
                        (guint32)b[i + 3] << 24;
            float f;
            memcpy(&f, &u, sizeof f);
            double d = f;
            g_array_append_val(a, d);
        }
        g_hash_table_insert(t, g_strdup((const char *)sqlite3_column_text(st, 0)), a);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_gt(g_hash_table_size(t), 0, "%s holds no checkpoint", db_path);
    return t;
}

/* The parameters a step changes (weights, biases, γ, feedback and LL matrices, M). */
static gboolean is_parameter(const char *name) {
    const char *prefixes[] = {"w:", "b:", "gamma:", "fb:", "ll:", "igl:"};
    for (gsize i = 0; i < G_N_ELEMENTS(prefixes); i++)
        if (g_str_has_prefix(name, prefixes[i]))
            return TRUE;
    return FALSE;
}

/* One SGD step of lr 10⁶ (so that lr·∇ outweighs the initial weights and the float rounding of w − lr·∇ stays far below 1e-5 of the change) on one batch of 32, from the same initial parameters (a run with
 * lr 0): the change of every parameter in one process and with the batch split between 2
 * ranks (the same draws: dropout, probes, Bernoulli input).  The change is lr·∇ (or, for
 * OPZO's M, its update), recovered from the checkpoints; each tensor's two changes must agree
 * to 1e-5 of the tensor's largest change — the same sums, added in another order. */
static void check_one_batch(const char *dir, const char *ini, const char *tag,
                            const char *const *extra) {
    const char *base[] = {"data.train_limit=32", "data.test_limit=32", "optimizer.name=sgd",
                          "optimizer.weight_decay=0", "optimizer.momentum=0"};
    const char *lrs[3] = {"optimizer.lr=0", "optimizer.lr=1e6", "optimizer.lr=1e6"};
    const int nps[3] = {0, 0, 2};
    GHashTable *t[3];
    for (int k = 0; k < 3; k++) {
        g_autoptr(GPtrArray) sets = g_ptr_array_new();
        for (gsize i = 0; i < G_N_ELEMENTS(base); i++)
            g_ptr_array_add(sets, (gpointer)base[i]);
        for (const char *const *e = extra; e && *e; e++)
            g_ptr_array_add(sets, (gpointer)*e);
        g_ptr_array_add(sets, (gpointer)lrs[k]);
        g_ptr_array_add(sets, NULL);
        g_autofree char *db = g_strdup_printf("%s/%s-%d.sqlite", dir, tag, k);
        cr_assert_eq(run_np(nps[k], ini, db, (const char *const *)sets->pdata, NULL), 0);
        t[k] = tensors(db);
    }
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, t[0]);
    int compared = 0;
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!is_parameter(key))
            continue;
        GArray *p0 = value, *p1 = g_hash_table_lookup(t[1], key), *p2 = g_hash_table_lookup(t[2], key);
        cr_assert(p1 && p2 && p1->len == p0->len && p2->len == p0->len, "%s", (char *)key);
        /* A tensor lr does not move (OPZO's M, a fixed feedback matrix) is compared by its
         * values. */
        double moved = 0;
        for (guint i = 0; i < p0->len; i++)
            moved = fmax(moved, fabs(g_array_index(p1, double, i) - g_array_index(p0, double, i)));
        const double *base0 = moved > 0 ? (const double *)p0->data : NULL;
        double scale = 0, diff = 0;
        for (guint i = 0; i < p0->len; i++) {
            double z = base0 ? base0[i] : 0.0;
            double d1 = g_array_index(p1, double, i) - z;
            double d2 = g_array_index(p2, double, i) - z;
            scale = fmax(scale, fabs(d1));
            diff = fmax(diff, fabs(d2 - d1));
        }
        fprintf(stderr, "test-mpi: %s one batch, %s: largest change %.4g, 2 ranks vs 1 differ by "
                        "%.3g (relative %.2g)\n",
                tag, (char *)key, scale, diff, scale > 0 ? diff / scale : 0.0);
        cr_assert(diff <= 1e-5 * scale, "%s: %s changed by up to %g in one process, and the 2-rank "
                                        "change differs by %g (more than 1e-5 of it)",
                  tag, (char *)key, scale, diff);
        compared++;
    }
    cr_assert_geq(compared, 6, "%s: only %d parameter tensors", tag, compared);
    for (int k = 0; k < 3; k++)
        g_hash_table_unref(t[k]);
}

Test(mpi, one_batch_gradients_equal_one_process) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 32, 32);
    /* OPZO with current input: the probe and M's per-tick sum; BP with Bernoulli input; DKP
     * with local learning (feedback and LL gradients); DFA with sWS (∂L/∂Ŵ summed before
     * the γ chain rule); OPZO with M gathered per window. */
    const char *opzo[] = {NULL};
    const char *bp[] = {"rule.name=bp", "population in.encoding=bernoulli", NULL};
    const char *dkp[] = {"rule.name=dkp", "rule.local_learning=true", NULL};
    const char *dfa[] = {"rule.name=dfa", "projection in_h1.weight_standardization=true",
                         "projection h1_h2.weight_standardization=true", NULL};
    const char *opzo_w[] = {"rule.m_cadence=window", NULL};
    check_one_batch(dir, ini, "opzo", opzo);
    check_one_batch(dir, ini, "bp", bp);
    check_one_batch(dir, ini, "dkp", dkp);
    check_one_batch(dir, ini, "dfa-sws", dfa);
    check_one_batch(dir, ini, "opzo-window", opzo_w);
    oz_test_rmtree(dir);
}

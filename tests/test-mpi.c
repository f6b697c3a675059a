/* test-mpi.c — the program under MPI (docs/CLUSTER.md): a batch split between 2 ranks
 * against one process, 2-rank and 3-rank runs repeated, resumed (same and other rank
 * counts), a sweep dealt to 2 ranks, and SIGTERM sent to one rank.
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
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* One split of a learnable data set: 12×12 images of 10 classes, each a fixed random
 * prototype (from seed 7) blended with per-image noise, label i % 10. */
static void write_split(const char *dir, const char *prefix, int n, guint64 salt) {
    enum { PIX = 144, CLASSES = 10 };
    OzRng proto_rng, rng;
    oz_rng_init(&proto_rng, 7, "test-mpi:prototypes");
    oz_rng_init(&rng, 7 + salt, "test-mpi:images");
    double proto[CLASSES][PIX];
    for (int c = 0; c < CLASSES; c++)
        for (int k = 0; k < PIX; k++)
            proto[c][k] = oz_rng_uniform(&proto_rng);
    g_autofree guint8 *img = g_new(guint8, (gsize)n * PIX);
    g_autofree guint8 *lab = g_new(guint8, n);
    for (int i = 0; i < n; i++) {
        lab[i] = (guint8)(i % CLASSES);
        for (int k = 0; k < PIX; k++)
            img[(gsize)i * PIX + k] =
                (guint8)(255.0 * (0.6 * proto[lab[i]][k] + 0.4 * oz_rng_uniform(&rng)));
    }
    g_autofree char *ip = g_strdup_printf("%s/%s-images-idx3-ubyte", dir, prefix);
    g_autofree char *lp = g_strdup_printf("%s/%s-labels-idx1-ubyte", dir, prefix);
    const guint32 di[3] = {(guint32)n, 12, 12}, dl[1] = {(guint32)n};
    oz_test_write_idx(ip, di, 3, img, FALSE);
    oz_test_write_idx(lp, dl, 1, lab, FALSE);
}

/* A 144-64-64-10 network on the learnable 12×12 images: dropout, a probe (opzo), batches of
 * 32.  (transfer full) */
static char *scenario(const char *dir, int n_train, int n_test) {
    write_split(dir, "train", n_train, 0);
    write_split(dir, "t10k", n_test, 1);
    g_autofree char *text =
        g_strdup_printf("[run]\nname = mpi\nmode = train\nepochs = 1\nseed = 5\nticks = "
                        "4\nbatch_size = 32\nthreads = 1\n"
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

/* The program's next runs: under mpirun on np ranks, or (0) one process without mpirun. */
static void use_ranks(int np) {
    if (np > 0) {
        g_autofree char *n = g_strdup_printf("%d", np);
        g_setenv("OZ_NP", n, TRUE);
    } else {
        g_unsetenv("OZ_NP");
    }
}

/* Runs `opzosim run ini --db db --quiet sets…` on np ranks (0: one process without mpirun);
 * returns the exit code. */
static int run_np(int np, const char *ini, const char *db, const char *const *sets,
                  const char *const *env) {
    use_ranks(np);
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
    GHashTable *t =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_array_unref);
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

/* One SGD step of lr 10⁶ (so that lr·∇ outweighs the initial weights and the float rounding of w −
 * lr·∇ stays far below 1e-5 of the change) on one batch of 32, from the same initial parameters (a
 * run with lr 0): the change of every parameter in one process and with the batch split between 2
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
        GArray *p0 = value, *p1 = g_hash_table_lookup(t[1], key),
               *p2 = g_hash_table_lookup(t[2], key);
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
        fprintf(stderr,
                "test-mpi: %s one batch, %s: largest change %.4g, 2 ranks vs 1 differ by "
                "%.3g (relative %.2g)\n",
                tag, (char *)key, scale, diff, scale > 0 ? diff / scale : 0.0);
        cr_assert(diff <= 1e-5 * scale,
                  "%s: %s changed by up to %g in one process, and the 2-rank "
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

/* The largest difference between the weights (w:*) of the newest runs in two logs, and the
 * largest weight. */
static double weight_difference(const char *db_a, const char *db_b, double *largest) {
    g_autoptr(GHashTable) a = tensors(db_a);
    g_autoptr(GHashTable) b = tensors(db_b);
    GHashTableIter it;
    gpointer key, value;
    double diff = 0;
    *largest = 0;
    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!g_str_has_prefix(key, "w:"))
            continue;
        GArray *wa = value, *wb = g_hash_table_lookup(b, key);
        cr_assert(wb && wb->len == wa->len, "%s", (char *)key);
        for (guint i = 0; i < wa->len; i++) {
            *largest = fmax(*largest, fabs(g_array_index(wa, double, i)));
            diff = fmax(diff, fabs(g_array_index(wa, double, i) - g_array_index(wb, double, i)));
        }
    }
    return diff;
}

static double test_accuracy(const char *db) {
    g_autofree char *a = oz_test_qs(db, "SELECT accuracy FROM epochs WHERE phase = 'test' AND "
                                        "run_id = (SELECT MAX(id) FROM runs) ORDER BY epoch DESC");
    return g_ascii_strtod(a, NULL);
}

/* One epoch (600 training samples in batches of 32, the last one short: 600 = 18·32 + 24;
 * 1000 test samples, split between the ranks too): the test accuracy of 2 ranks against one
 * process within 0.3 point, and the largest weight difference, printed for docs/CLUSTER.md. */
Test(mpi, one_epoch_agrees_with_one_process) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 600, 1000);
    const char *rules[] = {"rule.name=opzo", "rule.name=bp"};
    for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
        const char *sets[] = {rules[r], NULL};
        g_autofree char *one = g_strdup_printf("%s/epoch-%zu-1.sqlite", dir, r);
        g_autofree char *two = g_strdup_printf("%s/epoch-%zu-2.sqlite", dir, r);
        cr_assert_eq(run_np(0, ini, one, sets, NULL), 0);
        cr_assert_eq(run_np(2, ini, two, sets, NULL), 0);
        double largest = 0, diff = weight_difference(one, two, &largest);
        double a1 = test_accuracy(one), a2 = test_accuracy(two);
        fprintf(stderr,
                "test-mpi: one epoch, %s: test accuracy %.2f%% (1 process) and %.2f%% "
                "(2 ranks); largest weight difference %.3g (largest weight %.3g)\n",
                rules[r], 100 * a1, 100 * a2, diff, largest);
        cr_assert_leq(fabs(a1 - a2), 0.003, "%s: %.2f%% against %.2f%%", rules[r], 100 * a1,
                      100 * a2);
        /* Both trained: the runs are not equal because nothing happened. */
        cr_assert_gt(oz_test_q(one, "SELECT COUNT(*) FROM checkpoints WHERE name LIKE 'w:%'"), 0);
        cr_assert_eq(oz_test_q(two, "SELECT samples FROM epochs WHERE phase = 'train'"), 600);
        cr_assert_eq(oz_test_q(two, "SELECT samples FROM epochs WHERE phase = 'test'"), 1000);
        /* The counters are the sums over the ranks: the neuron updates exactly, the spikes
         * within 1% (a weight 1e-7 away may move a spike). */
        const char *updates = "SELECT SUM(neuron_updates) FROM firing_rates";
        cr_assert_eq(oz_test_q(two, updates), oz_test_q(one, updates));
        const char *spikes = "SELECT SUM(spikes) FROM firing_rates WHERE population = 'h1'";
        gint64 s1 = oz_test_q(one, spikes), s2 = oz_test_q(two, spikes);
        cr_assert(s1 > 0 && llabs(s1 - s2) <= s1 / 100,
                  "h1 spiked %" G_GINT64_FORMAT " times in one process, %" G_GINT64_FORMAT
                  " with 2 ranks",
                  s1, s2);
    }
    oz_test_rmtree(dir);
}

/* Resumes db's newest run on np ranks (0: one process) with sets. */
static int resume_np(int np, const char *ini, const char *db, const char *const *sets) {
    use_ranks(np);
    g_autoptr(GPtrArray) args =
        oz_test_args_new("run", ini, "--db", db, "--quiet", "--resume", NULL);
    for (const char *const *s = sets; s && *s; s++)
        oz_test_args_add(args, "--set", *s, NULL);
    return oz_test_runv(oz_test_args_end(args), NULL);
}

/* Everything a run records, with the sums over ranks in play: spikes of recorded samples
 * (some held by rank 1), gradient diagnostics (shadow BP summed), dropout, probes, Bernoulli
 * input. */
static const char *const recorded[] = {"record.spike_samples=40", "record.grad_stats=true",
                                       "population in.encoding=bernoulli", "run.epochs=2", NULL};

/* Two runs with 2 ranks give the same log bit for bit: every row and every checkpoint. */
Test(mpi, two_rank_runs_are_bit_identical) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 200, 100);
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    cr_assert_eq(run_np(2, ini, a, recorded, NULL), 0);
    cr_assert_eq(run_np(2, ini, b, recorded, NULL), 0);
    oz_test_assert_logs_equal(a, 1, b, 1);
    cr_assert_eq(oz_test_q(a, "SELECT value FROM parameters WHERE owner = 'run' AND key = "
                              "'processes'"),
                 2);
    /* Rank 1 recorded samples 16…31 of the first test batch (rows 16… of 32). */
    cr_assert_eq(oz_test_q(a, "SELECT COUNT(DISTINCT sample) FROM spikes WHERE sample >= 16"
                              " AND sample < 32"),
                 16);
    oz_test_rmtree(dir);
}

/* A 2-rank run interrupted inside a training phase (after 9 batches: epoch 0 has 7 of 200)
 * and resumed with 2 ranks equals an uninterrupted 2-rank run bit for bit. */
Test(mpi, resume_with_two_ranks_is_bit_identical) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 200, 100);
    g_autofree char *whole = g_build_filename(dir, "whole.sqlite", NULL);
    g_autofree char *cut = g_build_filename(dir, "cut.sqlite", NULL);
    cr_assert_eq(run_np(2, ini, whole, recorded, NULL), 0);
    const char *env[] = {"OPZOSIM_TEST_INTERRUPT_AFTER=9", NULL};
    cr_assert_eq(run_np(2, ini, cut, recorded, env), 130);
    cr_assert_eq(oz_test_q(cut, "SELECT status = 'interrupted' FROM runs"), 1);
    cr_assert_gt(oz_test_q(cut, "SELECT COUNT(*) FROM interrupt_state"), 0);
    cr_assert_eq(resume_np(2, ini, cut, recorded), 0);
    oz_test_assert_logs_equal(whole, 1, cut, 1);
    oz_test_rmtree(dir);
}

/* A checkpoint moves between rank counts: interrupted inside a phase with 2 ranks and resumed
 * in one process, and the other way round; each ends within the tolerance of the one-epoch
 * test (0.3 point) of an uninterrupted run with the rank count it was resumed with, and its
 * counters cover every sample once. */
Test(mpi, resume_across_rank_counts) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 200, 100);
    const char *sets[] = {"run.epochs=2", "record.spike_samples=40", NULL};
    const char *env[] = {"OPZOSIM_TEST_INTERRUPT_AFTER=9", NULL};
    const int from[2] = {2, 0}, to[2] = {0, 2};
    for (int k = 0; k < 2; k++) {
        g_autofree char *whole = g_strdup_printf("%s/whole-%d.sqlite", dir, k);
        g_autofree char *cut = g_strdup_printf("%s/cut-%d.sqlite", dir, k);
        cr_assert_eq(run_np(to[k], ini, whole, sets, NULL), 0);
        cr_assert_eq(run_np(from[k], ini, cut, sets, env), 130);
        cr_assert_eq(resume_np(to[k], ini, cut, sets), 0);
        double largest = 0, diff = weight_difference(whole, cut, &largest);
        double a1 = test_accuracy(whole), a2 = test_accuracy(cut);
        fprintf(stderr,
                "test-mpi: resumed from %d to %d processes: test accuracy %.2f%% "
                "(uninterrupted) and %.2f%%; largest weight difference %.3g (largest "
                "weight %.3g)\n",
                MAX(from[k], 1), MAX(to[k], 1), 100 * a1, 100 * a2, diff, largest);
        cr_assert_leq(fabs(a1 - a2), 0.003);
        cr_assert_eq(oz_test_q(cut, "SELECT status = 'finished' FROM runs"), 1);
        /* The interrupted epoch's counters: every sample counted once, whichever ranks
         * counted it (the stored counters are rank 0's to continue). */
        cr_assert_eq(oz_test_q(cut, "SELECT SUM(samples) FROM epochs WHERE phase = 'train'"), 400);
        const char *same = "SELECT SUM(neuron_updates) FROM firing_rates WHERE population = 'h1'";
        cr_assert_eq(oz_test_q(cut, same), oz_test_q(whole, same));
    }
    oz_test_rmtree(dir);
}

/* The run of db whose sweep tag ends like `label` (a tag is "FILE@TIME i/n: KEY=V"). */
static gint64 run_of(const char *db, const char *label) {
    g_autofree char *sql = g_strdup_printf("SELECT id FROM runs WHERE sweep LIKE '%% %s'", label);
    return oz_test_q(db, sql);
}

/* A sweep over 2 ranks (rank 0 runs combinations 1 and 3, rank 1 combination 2, each into
 * its own log) merged into the target gives the runs of the same sweep in one process: the
 * same epochs rows and checkpoints, every blob byte for byte.  The ranks' logs are gone. */
Test(mpi, sweep_over_two_ranks_equals_one_process) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 96, 64);
    g_autofree char *one = g_build_filename(dir, "one.sqlite", NULL);
    g_autofree char *two = g_build_filename(dir, "two.sqlite", NULL);
    const char *dbs[2] = {one, two};
    for (int k = 0; k < 2; k++) {
        use_ranks(2 * k);
        g_autoptr(GPtrArray) args = oz_test_args_new("sweep", ini, "--db", dbs[k], "--quiet",
                                                     "--vary", "rule.name=opzo,bp,dfa", NULL);
        cr_assert_eq(oz_test_runv(oz_test_args_end(args), NULL), 0);
    }
    cr_assert_eq(oz_test_q(two, "SELECT COUNT(*) FROM runs WHERE status = 'finished'"), 3);
    const char *labels[] = {"1/3: rule.name=opzo", "2/3: rule.name=bp", "3/3: rule.name=dfa"};
    for (gsize i = 0; i < G_N_ELEMENTS(labels); i++) {
        gint64 a = run_of(one, labels[i]), b = run_of(two, labels[i]);
        oz_test_assert_checkpoints_equal(one, a, two, b);
        g_autofree char *sql = g_strdup_printf(
            "SELECT group_concat(phase || ':' || samples || ':' || quote(loss) || ':' || "
            "quote(accuracy), ' ') FROM epochs WHERE run_id = %" G_GINT64_FORMAT,
            a);
        g_autofree char *sql_b = g_strdup_printf(
            "SELECT group_concat(phase || ':' || samples || ':' || quote(loss) || ':' || "
            "quote(accuracy), ' ') FROM epochs WHERE run_id = %" G_GINT64_FORMAT,
            b);
        g_autofree char *ea = oz_test_qs(one, sql), *eb = oz_test_qs(two, sql_b);
        cr_assert_str_eq(ea, eb, "%s", labels[i]);
    }
    g_autofree char *part0 = g_build_filename(dir, "two.rank0-of-2.sqlite", NULL);
    g_autofree char *part1 = g_build_filename(dir, "two.rank1-of-2.sqlite", NULL);
    cr_assert(!g_file_test(part0, G_FILE_TEST_EXISTS) && !g_file_test(part1, G_FILE_TEST_EXISTS));
    oz_test_rmtree(dir);
}

/* The rank process of mpirun (pid parent) whose OMPI_COMM_WORLD_RANK is rank, or 0. */
static GPid rank_pid(GPid parent, int rank) {
    g_autofree char *want = g_strdup_printf("OMPI_COMM_WORLD_RANK=%d", rank);
    GPid found = 0;
    DIR *proc = opendir("/proc");
    cr_assert(proc);
    struct dirent *d;
    while (!found && (d = readdir(proc))) {
        GPid pid = (GPid)g_ascii_strtoll(d->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", pid);
        g_autofree char *stat = NULL;
        if (!g_file_get_contents(stat_path, &stat, NULL, NULL))
            continue;
        /* pid (comm) state ppid …: the parent after the comm's closing parenthesis. */
        const char *close = strrchr(stat, ')');
        int ppid = 0;
        if (!close || sscanf(close + 1, " %*c %d", &ppid) != 1 || ppid != parent)
            continue;
        g_autofree char *env_path = g_strdup_printf("/proc/%d/environ", pid);
        g_autofree char *env = NULL;
        gsize len = 0;
        if (!g_file_get_contents(env_path, &env, &len, NULL))
            continue;
        for (gsize at = 0; at < len; at += strlen(env + at) + 1)
            if (strcmp(env + at, want) == 0)
                found = pid;
    }
    closedir(proc);
    return found;
}

/* SIGTERM sent to rank 1 alone, while training: every rank stops after the same batch, the
 * run is marked interrupted (by SIGTERM, exit 143), and every epoch it logged is whole (train
 * and test rows and the checkpoint). */
Test(mpi, sigterm_to_one_rank_stops_all) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 200, 100);
    g_autofree char *db = g_build_filename(dir, "term.sqlite", NULL);
    use_ranks(2);
    const char *const args[] = {"run", ini, "--db", db, "--quiet", "--set", "run.epochs=400", NULL};
    GPid mpirun = oz_test_spawnv(args);
    /* Until an epoch is logged (training is under way), at most a minute. */
    for (int i = 0; i < 600 && oz_test_q_try(db, "SELECT COUNT(*) FROM epochs WHERE phase = "
                                                 "'test'") < 1;
         i++)
        g_usleep(100000);
    GPid rank1 = rank_pid(mpirun, 1);
    cr_assert_gt(rank1, 0, "no process of rank 1 under mpirun %d", mpirun);
    cr_assert_eq(kill(rank1, SIGTERM), 0);
    /* Rank 0 must stop too: a minute at most, then mpirun (which ends its ranks) is stopped
     * and the test fails rather than waiting for ever. */
    int waited = 0;
    for (; waited < 600; waited++) {
        siginfo_t info = {0};
        /* Ended?  (WNOWAIT: oz_test_wait below reaps it.) */
        if (waitid(P_PID, (id_t)mpirun, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid)
            break;
        g_usleep(100000);
    }
    if (waited >= 600) {
        kill(mpirun, SIGTERM);
        oz_test_wait(mpirun);
        cr_assert_fail("rank 0 did not stop within a minute of rank 1's SIGTERM");
    }
    int code = oz_test_wait(mpirun);
    cr_assert_eq(code, 143, "mpirun ended with %d", code);
    cr_assert_eq(oz_test_q(db, "SELECT status = 'interrupted' AND message = 'stopped by SIGTERM' "
                               "FROM runs"),
                 1);
    gint64 epochs = oz_test_q(db, "SELECT COUNT(*) FROM epochs WHERE phase = 'test'");
    cr_assert_lt(epochs, 400);
    /* An epoch's checkpoint comes with its test row; the train row of an epoch stopped in
     * its test phase is logged already (as in one process). */
    gint64 trained = oz_test_q(db, "SELECT COUNT(*) FROM epochs WHERE phase = 'train'");
    cr_assert(trained == epochs || trained == epochs + 1,
              "%" G_GINT64_FORMAT " train rows, %" G_GINT64_FORMAT " test rows", trained, epochs);
    cr_assert_eq(oz_test_q(db, "SELECT MAX(epoch) + 1 FROM checkpoints"), epochs);
    cr_assert_eq(oz_test_q(db, "SELECT COUNT(DISTINCT epoch) FROM checkpoints"), 1);
    oz_test_rmtree(dir);
}

/* A batch that would leave a rank without a sample (33 training samples in batches of 32 over
 * 2 ranks: the last holds 1) is refused before anything runs, naming the key (exit 2). */
Test(mpi, a_batch_smaller_than_the_ranks_is_a_scenario_error) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 33, 32);
    g_autofree char *db = g_build_filename(dir, "short.sqlite", NULL);
    use_ranks(2);
    g_autofree char *err = NULL;
    const char *const args[] = {"run", ini, "--db", db, "--quiet", NULL};
    cr_assert_eq(oz_test_runv(args, &err), 2);
    cr_assert(strstr(err, "batch_size") && strstr(err, "fewer than the 2 processes"), "%s", err);
    cr_assert(!g_file_test(db, G_FILE_TEST_EXISTS) ||
              oz_test_q(db, "SELECT COUNT(*) FROM runs") == 0);
    oz_test_rmtree(dir);
}

/* Two runs with 3 ranks give the same log bit for bit.  From 3 ranks on the grouping of a
 * float sum changes its result, so this is where the fixed order (engine/oz-dist-mpi.c) is
 * needed; tests/test-dist.c shows the order itself.  The batches of 32 split unevenly
 * (11, 11, 10; the short last batch of 4 as 2, 1, 1), and rank 2's recorded samples of the
 * first test batch (rows 22…31) reach the log with the others (40 in all). */
Test(mpi, three_rank_runs_are_bit_identical) {
    char *dir = oz_test_tmpdir();
    g_autofree char *ini = scenario(dir, 100, 60);
    g_autofree char *a = g_build_filename(dir, "a.sqlite", NULL);
    g_autofree char *b = g_build_filename(dir, "b.sqlite", NULL);
    cr_assert_eq(run_np(3, ini, a, recorded, NULL), 0);
    cr_assert_eq(run_np(3, ini, b, recorded, NULL), 0);
    oz_test_assert_logs_equal(a, 1, b, 1);
    cr_assert_eq(oz_test_q(a, "SELECT value FROM parameters WHERE owner = 'run' AND key = "
                              "'processes'"),
                 3);
    cr_assert_eq(oz_test_q(a, "SELECT SUM(samples) FROM epochs WHERE phase = 'train'"), 200);
    /* The spikes of the last test phase. */
    cr_assert_eq(oz_test_q(a, "SELECT COUNT(DISTINCT sample) FROM spikes WHERE sample >= 22 AND"
                              " sample < 32"),
                 10);
    cr_assert_eq(oz_test_q(a, "SELECT COUNT(DISTINCT sample) FROM spikes"), 40);
    oz_test_rmtree(dir);
}

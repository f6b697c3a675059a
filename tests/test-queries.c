/* test-queries.c — every query of docs/QUERIES.md, run on a run log the test makes and
 * checked against numbers the test works out on its own: the accuracies the program
 * printed, the network's sizes and ticks (neuron-ticks, static-input MACs, the error
 * path's MACs and the weight updates each rule makes per sample), the model energies typed
 * in here, and counts it makes itself from raw rows.  A query added to the document
 * without a check here fails the test, and so does one that stops parsing. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The network: in 36 → h1 20 → h2 16 → out 10, T = 4 ticks, 40 training and 20 test
 * samples, 2 epochs, batch 16 (3 mini-batches an epoch). */
enum { N_IN = 36, N_H1 = 20, N_H2 = 16, N_OUT = 10, T = 4, N_TRAIN = 40, N_TEST = 20 };

static const char scenario_fmt[] = "[run]\nmode = train\nepochs = 2\nticks = 4\nbatch_size = 16\n"
                                   "threads = 1\n[data]\ndir = %s\n"
                                   "[record]\nspike_samples = 3\ngrad_stats = true\n"
                                   "grad_stats_every = 1\n"
                                   "[population in]\nmodel = input\nsize = 36\n"
                                   "[population h1]\nmodel = lif\nsize = 20\nv_th = 0.75\n"
                                   "lambda = 0.625\n"
                                   "[population h2]\nmodel = lif\nsize = 16\n"
                                   "[population out]\nmodel = readout\nsize = 10\n"
                                   "[projection in_h1]\nfrom = in\nto = h1\ninit_scale = 6\n"
                                   "[projection h1_h2]\nfrom = h1\nto = h2\ninit_scale = 3\n"
                                   "[projection h2_out]\nfrom = h2\nto = out\n";

static char *dir, *db;
/* The test accuracies the program printed: [run 1 or 2][epoch], as fractions. */
static double printed[3][2];

/* Reads "test epoch E: accuracy X% over 20 samples" lines of a sweep's standard error,
 * each run starting at "opzosim sweep: run K of 2". */
static void parse_accuracies(const char *err) {
    int run = 0, found = 0;
    g_auto(GStrv) lines = g_strsplit(err, "\n", -1);
    for (char **l = lines; *l; l++) {
        int k, total, e;
        double acc;
        if (sscanf(*l, "opzosim sweep: run %d of %d", &k, &total) == 2)
            run = k;
        else if (sscanf(*l, "test epoch %d: accuracy %lf%% over", &e, &acc) == 2 && run >= 1 &&
                 run <= 2 && e >= 1 && e <= 2) {
            printed[run][e - 1] = acc / 100.0;
            found++;
        }
    }
    cr_assert_eq(found, 4, "four test accuracies printed: %s", err);
}

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, N_TRAIN, N_TEST, 6, 6, 10);
    g_autofree char *text = g_strdup_printf(scenario_fmt, dir);
    g_autofree char *scenario = oz_test_write_file(dir, "s.ini", text);
    db = g_build_filename(dir, "s.sqlite", NULL);
    char *err = NULL;
    cr_assert_eq(
        oz_test_run(&err, "sweep", scenario, "--vary", "rule.name=dfa,opzo", "--db", db, NULL), 0,
        "%s", err);
    parse_accuracies(err);
    g_free(err);
    /* A third run that fails: the runaway guard at 1% firing. */
    cr_assert_eq(oz_test_run(NULL, "run", scenario, "--db", db, "--quiet", "--set",
                             "run.max_rate=0.01", "--set", "run.runaway_batches=1", NULL),
                 1);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(db);
}

/* ---- A query's answer ---- */

typedef struct {
    int rows, cols;
    GPtrArray *names; /* column names */
    GPtrArray *text;  /* rows × cols, NULL for SQL NULL */
    GArray *num;      /* rows × cols doubles (NAN for NULL) */
} Result;

static void result_free(Result *r) {
    g_ptr_array_free(r->names, TRUE);
    g_ptr_array_free(r->text, TRUE);
    g_array_free(r->num, TRUE);
    g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Result, result_free)

static int col(const Result *r, const char *name) {
    for (int c = 0; c < r->cols; c++)
        if (strcmp(r->names->pdata[c], name) == 0)
            return c;
    cr_assert_fail("the answer has no column %s", name);
    return -1;
}

static double num(const Result *r, int row, const char *name) {
    cr_assert_lt(row, r->rows);
    return g_array_index(r->num, double, row * r->cols + col(r, name));
}

static const char *str(const Result *r, int row, const char *name) {
    cr_assert_lt(row, r->rows);
    return r->text->pdata[row * r->cols + col(r, name)];
}

static void close_to(double got, double want, const char *what) {
    cr_assert(fabs(got - want) <= 1e-9 * fabs(want) + 1e-300, "%s: %.17g, expected %.17g", what,
              got, want);
}

/* The parameters the document names, bound by name. */
static int param_neuron;

static Result *run_query(sqlite3 *h, const char *sql) {
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK, "%s\n%s", sql,
                 sqlite3_errmsg(h));
    for (int i = 1; i <= sqlite3_bind_parameter_count(st); i++) {
        const char *p = sqlite3_bind_parameter_name(st, i);
        if (strcmp(p, ":run") == 0)
            sqlite3_bind_int(st, i, 1);
        else if (strcmp(p, ":epoch") == 0)
            sqlite3_bind_int(st, i, 1);
        else if (strcmp(p, ":sample") == 0)
            sqlite3_bind_int(st, i, 0);
        else if (strcmp(p, ":population") == 0)
            sqlite3_bind_text(st, i, "h1", -1, SQLITE_STATIC);
        else if (strcmp(p, ":neuron") == 0)
            sqlite3_bind_int(st, i, param_neuron);
        else
            cr_assert_fail("unknown parameter %s in\n%s", p, sql);
    }
    Result *r = g_new0(Result, 1);
    r->cols = sqlite3_column_count(st);
    r->names = g_ptr_array_new_with_free_func(g_free);
    r->text = g_ptr_array_new_with_free_func(g_free);
    r->num = g_array_new(FALSE, FALSE, sizeof(double));
    for (int c = 0; c < r->cols; c++)
        g_ptr_array_add(r->names, g_strdup(sqlite3_column_name(st, c)));
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < r->cols; c++) {
            gboolean null = sqlite3_column_type(st, c) == SQLITE_NULL;
            g_ptr_array_add(r->text,
                            null ? NULL : g_strdup((const char *)sqlite3_column_text(st, c)));
            double v = null ? NAN : sqlite3_column_double(st, c);
            g_array_append_val(r->num, v);
        }
        r->rows++;
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(h));
    sqlite3_finalize(st);
    return r;
}

/* ---- Counts the test makes from raw rows ---- */

/* One integer from sql over the log (for counters the checks build on). */
static gint64 count_of(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static gint64 count_of(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *sql = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return oz_test_q(db, sql);
}

/* Transmitted spikes of population pop in run, epoch, phase (firing_rates.spikes). */
static double spikes_of(int run, int epoch, const char *phase, const char *pop) {
    return (double)count_of("select spikes from firing_rates where run_id = %d and epoch = %d"
                            " and phase = '%s' and population = '%s'",
                            run, epoch, phase, pop);
}

/* The recorded spikes of run 1, epoch 1, test sample 0, counted here per (population,
 * neuron) and per (population, tick). */
typedef struct {
    int h1_neuron[N_H1];
    GHashTable *by_tick; /* "pop tick" → count */
    int total;
} SampleCounts;

static void count_sample(SampleCounts *c) {
    memset(c, 0, sizeof *c);
    c->by_tick = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h,
                                    "select run_id, epoch, phase, sample, population, tick, neuron"
                                    " from spikes",
                                    -1, &st, NULL),
                 SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 0) != 1 || sqlite3_column_int(st, 1) != 1 ||
            strcmp((const char *)sqlite3_column_text(st, 2), "test") != 0 ||
            sqlite3_column_int(st, 3) != 0)
            continue;
        const char *pop = (const char *)sqlite3_column_text(st, 4);
        int neuron = sqlite3_column_int(st, 6);
        if (strcmp(pop, "h1") == 0) {
            cr_assert(neuron >= 0 && neuron < N_H1);
            c->h1_neuron[neuron]++;
        }
        char *key = g_strdup_printf("%s %d", pop, sqlite3_column_int(st, 5));
        g_hash_table_insert(
            c->by_tick, key,
            GINT_TO_POINTER(GPOINTER_TO_INT(g_hash_table_lookup(c->by_tick, key)) + 1));
        c->total++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    cr_assert_gt(c->total, 0, "sample 0 has recorded spikes");
}

/* ---- One check per query, in the document's order ---- */

static void check_runs(const Result *r) {
    cr_assert_eq(r->rows, 3);
    const char *status[] = {"finished", "finished", "failed"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(num(r, i, "id"), i + 1);
        cr_assert_str_eq(str(r, i, "status"), status[i]);
        cr_assert_eq(str(r, i, "sweep") != NULL, i < 2, "only the sweep's runs have a tag");
    }
}

static void check_final_best(const Result *r) {
    cr_assert_eq(r->rows, 2, "the failed run has no test epoch");
    for (int i = 0; i < 2; i++) {
        close_to(num(r, i, "final_accuracy"), printed[i + 1][1], "final");
        close_to(num(r, i, "best_accuracy"), MAX(printed[i + 1][0], printed[i + 1][1]), "best");
        cr_assert_eq(num(r, i, "test_epochs"), 2);
    }
}

static void check_curve(const Result *r) {
    cr_assert_eq(r->rows, 2);
    for (int e = 0; e < 2; e++) {
        cr_assert_eq(num(r, e, "epoch"), e);
        close_to(num(r, e, "accuracy"), printed[1][e], "accuracy");
    }
}

static void check_pivot(const Result *r) {
    cr_assert_eq(r->rows, 2);
    for (int e = 0; e < 2; e++) {
        close_to(num(r, e, "dfa"), printed[1][e], "dfa");
        close_to(num(r, e, "opzo"), printed[2][e], "opzo");
    }
}

static void check_rates(const Result *r) {
    cr_assert_eq(r->rows, 2 * 2 * 2, "2 epochs × 2 phases × h1, h2");
    for (int i = 0; i < r->rows; i++) {
        double samples = strcmp(str(r, i, "phase"), "train") == 0 ? N_TRAIN : N_TEST;
        double n = strcmp(str(r, i, "population"), "h1") == 0 ? N_H1 : N_H2;
        cr_assert_eq(num(r, i, "neuron_ticks"), samples * T * n);
        close_to(num(r, i, "rate"), num(r, i, "spikes") / (samples * T * n), "rate");
    }
}

static void check_synops_projection(const Result *r) {
    cr_assert_eq(r->rows, 3);
    double h1 = spikes_of(1, 1, "test", "h1"), h2 = spikes_of(1, 1, "test", "h2");
    for (int i = 0; i < 3; i++) {
        const char *p = str(r, i, "projection");
        double syn = strcmp(p, "h1_h2") == 0    ? h1 * N_H2
                     : strcmp(p, "h2_out") == 0 ? h2 * N_OUT
                                                : 0;
        double fetch = strcmp(p, "h1_h2") == 0 ? h1 : strcmp(p, "h2_out") == 0 ? h2 : 0;
        close_to(num(r, i, "synops_per_sample"), syn / N_TEST, p);
        close_to(num(r, i, "row_fetches_per_sample"), fetch / N_TEST, p);
        /* The static input current: N_IN × N_H1 MACs once per sample. */
        close_to(num(r, i, "dense_macs_per_sample"), strcmp(p, "in_h1") == 0 ? N_IN * N_H1 : 0, p);
    }
}

static void check_synops_rule(const Result *r) {
    cr_assert_eq(r->rows, 2);
    const char *rules[] = {"dfa", "opzo"};
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(str(r, i, "rule"), rules[i]);
        double syn =
            spikes_of(i + 1, 1, "test", "h1") * N_H2 + spikes_of(i + 1, 1, "test", "h2") * N_OUT;
        close_to(num(r, i, "synops_per_sample"), syn / N_TEST, rules[i]);
    }
}

/* DFA's error path per sample: e (N_OUT) times B into each hidden population, every tick.
 * Weight updates per sample: the static input's gradient once, the spiking projections'
 * every tick. */
#define DFA_FEEDBACK ((double)T * N_OUT * (N_H1 + N_H2))
#define WEIGHT_UPDATES ((double)N_IN * N_H1 + (double)T * (N_H1 * N_H2 + N_H2 * N_OUT))

static void check_table5(const Result *r) {
    cr_assert_eq(r->rows, 1);
    double syn = spikes_of(1, 1, "train", "h1") * N_H2 + spikes_of(1, 1, "train", "h2") * N_OUT;
    close_to(num(r, 0, "synops_per_sample"), syn / N_TRAIN, "synops");
    close_to(num(r, 0, "dense_macs_per_sample"), N_IN * N_H1, "dense");
    close_to(num(r, 0, "feedback_macs_per_sample"), DFA_FEEDBACK, "feedback");
    close_to(num(r, 0, "weight_updates_per_sample"), WEIGHT_UPDATES, "updates");
}

/* Neuron updates per sample: lif and readout populations, every tick. */
#define NEURON_UPDATES ((double)T * (N_H1 + N_H2 + N_OUT))

static void check_loihi_fp32(const Result *r) {
    cr_assert_eq(r->rows, 4);
    for (int i = 0; i < 4; i++) {
        int run = (int)num(r, i, "run_id");
        double syn =
            (spikes_of(run, 1, "test", "h1") * N_H2 + spikes_of(run, 1, "test", "h2") * N_OUT) /
            N_TEST;
        gboolean loihi = strcmp(str(r, i, "model"), "loihi") == 0;
        double pj = loihi ? syn * 27.1 + NEURON_UPDATES * 81 : syn * 0.9 + N_IN * N_H1 * 4.6;
        close_to(num(r, i, "joules_per_sample"), 1e-12 * pj, str(r, i, "model"));
        cr_assert_eq(num(r, i, "covers_all_ops"), loihi ? 0 : 1);
    }
}

static void check_training_energy(const Result *r) {
    cr_assert_eq(r->rows, 8);
    double syn =
        (spikes_of(1, 1, "train", "h1") * N_H2 + spikes_of(1, 1, "train", "h2") * N_OUT) / N_TRAIN;
    int found = 0;
    for (int i = 0; i < r->rows; i++) {
        if (i > 0)
            cr_assert_geq(num(r, i, "joules_per_sample"), num(r, i - 1, "joules_per_sample"));
        if (strcmp(str(r, i, "model"), "cmos45-fp32") != 0)
            continue;
        double pj = syn * 0.9 + N_IN * N_H1 * 4.6 + DFA_FEEDBACK * 4.6 + WEIGHT_UPDATES * 14.6;
        close_to(num(r, i, "joules_per_sample"), 1e-12 * pj, "fp32 training");
        cr_assert_eq(num(r, i, "covers_all_ops"), 1);
        found++;
    }
    cr_assert_eq(found, 1);
}

static void check_models(const Result *r) {
    cr_assert_eq(r->rows, 8);
    for (int i = 0; i < r->rows; i++) {
        if (strcmp(str(r, i, "model"), "loihi") == 0) {
            cr_assert_null(str(r, i, "mac_pj"));
            cr_assert_eq(num(r, i, "missing"), 2, "loihi: no MAC, no feedback MAC");
            cr_assert_eq(num(r, i, "update_pj"), 120);
        } else if (strcmp(str(r, i, "model"), "cmos45-fp32") == 0) {
            cr_assert_eq(num(r, i, "missing"), 1, "fp32: no neuron update");
            close_to(num(r, i, "update_pj"), 4.6 + 2 * 5, "fp32 update");
        }
        cr_assert_not_null(str(r, i, "source"));
    }
}

static SampleCounts sample;

static void check_neuron_count(const Result *r) {
    cr_assert_eq(r->rows, 1);
    cr_assert_eq(num(r, 0, "spikes"), sample.h1_neuron[param_neuron], "neuron %d", param_neuron);
    cr_assert_gt(num(r, 0, "spikes"), 0, "the busiest neuron was asked for");
}

static void check_per_tick(const Result *r) {
    cr_assert_eq(r->rows, (int)g_hash_table_size(sample.by_tick));
    int total = 0;
    for (int i = 0; i < r->rows; i++) {
        g_autofree char *key =
            g_strdup_printf("%s %.0f", str(r, i, "population"), num(r, i, "tick"));
        cr_assert_eq(num(r, i, "spikes"), GPOINTER_TO_INT(g_hash_table_lookup(sample.by_tick, key)),
                     "%s", key);
        total += (int)num(r, i, "spikes");
    }
    cr_assert_eq(total, sample.total);
}

static void check_failed(const Result *r) {
    cr_assert_eq(r->rows, 1);
    cr_assert_eq(num(r, 0, "id"), 3);
    cr_assert(strstr(str(r, 0, "message"), "runaway firing"), "%s", str(r, 0, "message"));
}

static void check_cosine(const Result *r) {
    cr_assert_eq(r->rows, 2 * 2, "2 epochs × in_h1, h1_h2");
    for (int i = 0; i < r->rows; i++) {
        cr_assert_eq(num(r, i, "epoch"), i / 2);
        /* Every mini-batch: ceil(40 / 16). */
        cr_assert_eq(num(r, i, "batches"), 3);
        cr_assert(fabs(num(r, i, "cos_bp")) <= 1.0);
    }
}

static void check_slowest(const Result *r) {
    /* The epochs' times, gathered here. */
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, "select seconds from epochs", -1, &st, NULL), SQLITE_OK);
    double max = 0;
    int positive = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        double s = sqlite3_column_double(st, 0);
        max = MAX(max, s);
        positive += s > 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    cr_assert_eq(r->rows, MIN(5, positive));
    close_to(num(r, 0, "seconds"), max, "slowest");
    for (int i = 1; i < r->rows; i++)
        cr_assert_geq(num(r, i - 1, "seconds"), num(r, i, "seconds"));
}

static void check_parameters(const Result *r) {
    int seen = 0;
    for (int i = 0; i < r->rows; i++) {
        if (strcmp(str(r, i, "key"), "v_th") == 0) {
            cr_assert_str_eq(str(r, i, "value"), "0.75");
            seen++;
        }
        if (strcmp(str(r, i, "key"), "lambda") == 0) {
            cr_assert_str_eq(str(r, i, "value"), "0.625");
            seen++;
        }
    }
    cr_assert_eq(seen, 2, "the scenario's v_th and lambda of h1");
}

static void check_checkpoints(const Result *r) {
    cr_assert_eq(r->rows, 3, "the last epoch's three weight tensors");
    struct {
        const char *name, *shape;
        int n;
    } w[] = {{"w:h1_h2", "20,16", N_H1 * N_H2},
             {"w:h2_out", "16,10", N_H2 * N_OUT},
             {"w:in_h1", "36,20", N_IN * N_H1}};
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(str(r, i, "name"), w[i].name);
        cr_assert_str_eq(str(r, i, "shape"), w[i].shape);
        cr_assert_str_eq(str(r, i, "dtype"), "float32");
        cr_assert_eq(num(r, i, "bytes"), 4 * w[i].n);
        cr_assert_eq(num(r, i, "epoch"), 1);
    }
}

static void check_log_time(const Result *r) {
    cr_assert_eq(r->rows, 2);
    for (int i = 0; i < 2; i++) {
        close_to(num(r, i, "log_percent"), 100 * num(r, i, "log_seconds") / num(r, i, "seconds"),
                 "percent");
        cr_assert(num(r, i, "log_seconds") <= num(r, i, "seconds"));
        cr_assert_gt(num(r, i, "peak_rss_kb"), 0);
    }
}

static void (*const checks[])(const Result *) = {
    check_runs,        check_final_best,
    check_curve,       check_pivot,
    check_rates,       check_synops_projection,
    check_synops_rule, check_table5,
    check_loihi_fp32,  check_training_energy,
    check_models,      check_neuron_count,
    check_per_tick,    check_failed,
    check_cosine,      check_slowest,
    check_parameters,  check_checkpoints,
    check_log_time,
};

/* The ```sql blocks of docs/QUERIES.md, in order.  (transfer full) */
static GPtrArray *document_queries(void) {
    g_autofree char *path = g_build_filename(OZ_SOURCE_DIR, "docs", "QUERIES.md", NULL);
    g_autofree char *doc = NULL;
    cr_assert(g_file_get_contents(path, &doc, NULL, NULL), "%s", path);
    GPtrArray *q = g_ptr_array_new_with_free_func(g_free);
    for (const char *p = doc; (p = strstr(p, "```sql\n"));) {
        p += strlen("```sql\n");
        const char *end = strstr(p, "```");
        cr_assert_not_null(end, "an unterminated sql block");
        g_ptr_array_add(q, g_strndup(p, (gsize)(end - p)));
        p = end + 3;
    }
    return q;
}

Test(queries, every_query_of_the_cookbook_answers_what_the_test_counts, .init = setup,
     .fini = teardown) {
    g_autoptr(GPtrArray) queries = document_queries();
    cr_assert_geq(queries->len, 15, "at least 15 queries");
    cr_assert_eq(queries->len, G_N_ELEMENTS(checks),
                 "%u queries, %zu checks: a query without a"
                 " check (or a check without its query)",
                 queries->len, G_N_ELEMENTS(checks));
    count_sample(&sample);
    /* The busiest h1 neuron of the sample, so the count asked for is not a trivial 0. */
    for (int n = 0; n < N_H1; n++)
        if (sample.h1_neuron[n] > sample.h1_neuron[param_neuron])
            param_neuron = n;
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (guint i = 0; i < queries->len; i++) {
        g_autoptr(Result) r = run_query(h, queries->pdata[i]);
        cr_log_info("query %u: %d rows", i + 1, r->rows);
        checks[i](r);
    }
    sqlite3_close(h);
    g_hash_table_destroy(sample.by_tick);
}

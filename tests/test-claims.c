/* test-claims.c — statements of docs/RELIABILITY.md that no module's own tests covered:
 * scenario errors found only when the network is built (readout size against the
 * classes, the limits of BP and of a step every tick under delayed errors), the IDX
 * reader's limit on decompressed data, and the compute team going on with fewer
 * threads when a helper cannot be started. */
#include "engine/oz-par.h"
#include "io/oz-idx-private.h"
#include "io/oz-idx.h"
#include "io/oz-scenario.h"
#include "oz-test-util.h"
#include "sim/oz-run.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <string.h>

/* ---- Scenario errors raised while the network is built (oz_run_new) ---- */

static char *dir;

static void setup(void) {
    dir = oz_test_tmpdir();
    /* 2×2 images, 2 classes. */
    oz_test_write_dataset(dir, 4, 4, 2, 2, 2);
}

static void teardown(void) {
    oz_test_rmtree(dir);
}

TestSuite(claims, .init = setup, .fini = teardown);

/* A train-mode scenario with two hidden layers, the given rule and extra sections. */
static char *scenario_text(const char *rule, int out_size, const char *extra) {
    return g_strdup_printf("[run]\nmode = train\nticks = 3\nbatch_size = 2\n"
                           "[data]\ndir = %s\nclasses = 2\n"
                           "[rule]\nname = %s\n"
                           "[population in]\nmodel = input\nsize = 4\n"
                           "[population h1]\nmodel = lif\nsize = 5\n"
                           "[population h2]\nmodel = lif\nsize = 3\n"
                           "[population out]\nmodel = readout\nsize = %d\n"
                           "[projection a]\nfrom = in\nto = h1\n"
                           "[projection b]\nfrom = h1\nto = h2\n"
                           "[projection c]\nfrom = h2\nto = out\n%s",
                           dir, rule, out_size, extra ? extra : "");
}

/* Loads the scenario (which must parse) and builds the run: NULL and the error's
 * message (transfer full) when the build is refused. */
static OzRun *build(const char *text, const char *const *sets, char **message) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(text, "my.ini", sets, &err);
    cr_assert_not_null(sc, "the scenario itself is valid: %s", err ? err->message : "");
    OzRun *run = oz_run_new(sc, &err);
    *message = NULL;
    if (!run) {
        cr_assert_not_null(err);
        *message = g_strdup(err->message);
        g_error_free(err);
        oz_scenario_free(sc);
    }
    return run;
}

static void free_run(OzRun *run) {
    OzScenario *sc = run->sc;
    oz_run_free(run);
    oz_scenario_free(sc);
}

/* Asserts that building text is refused with a message holding every string of must. */
static void expect_refused(const char *what, const char *text, const char *const *sets,
                           const char *const *must) {
    g_autofree char *msg = NULL;
    OzRun *run = build(text, sets, &msg);
    cr_assert_null(run, "%s: expected a scenario error", what);
    for (const char *const *m = must; *m; m++)
        cr_assert(strstr(msg, *m), "%s: wants '%s' in: %s", what, *m, msg);
    cr_assert_null(strchr(msg, '\n'), "%s: one line: %s", what, msg);
}

static void expect_built(const char *what, const char *text, const char *const *sets) {
    g_autofree char *msg = NULL;
    OzRun *run = build(text, sets, &msg);
    cr_assert_not_null(run, "%s: %s", what, msg);
    free_run(run);
}

Test(claims, a_readout_size_other_than_the_classes_is_a_scenario_error) {
    g_autofree char *good = scenario_text("dfa", 2, NULL);
    expect_built("readout of 2 for 2 classes", good, NULL);
    g_autofree char *bad = scenario_text("dfa", 3, NULL);
    const char *must[] = {"my.ini: [population out] size:", "3 does not match [data] classes = 2",
                          NULL};
    expect_refused("training, readout of 3", bad, NULL, must);
    /* Inference reads only the test set: the same check guards it. */
    const char *infer[] = {"run.mode=infer", NULL};
    expect_refused("inference, readout of 3", bad, infer, must);
}

Test(claims, bp_with_per_population_delays_or_jitter_is_a_rule_error) {
    /* One delay for every hidden population and no jitter is what BP can do. */
    g_autofree char *same =
        scenario_text("bp", 2, "[feedback h1]\ndelay = 2\n[feedback h2]\ndelay = 2\n");
    expect_built("bp, delay 2 everywhere", same, NULL);
    g_autofree char *differ =
        scenario_text("bp", 2, "[feedback h1]\ndelay = 2\n[feedback h2]\ndelay = 1\n");
    /* The chain rules' check names the rule (fa and sign say the same of themselves). */
    const char *must[] = {"my.ini: [rule] name: feedback into h2: bp forms its signal layer by "
                          "layer, so every hidden population needs the same delay and no jitter",
                          NULL};
    expect_refused("bp, delays 2 and 1", differ, NULL, must);
    g_autofree char *jitter = scenario_text("bp", 2, "[feedback h2]\njitter = 1\n");
    expect_refused("bp, jitter 1", jitter, NULL, must);
    /* Other rules take both. */
    const char *dfa[] = {"rule.name=dfa", NULL};
    expect_built("dfa, delays 2 and 1", differ, dfa);
    expect_built("dfa, jitter 1", jitter, dfa);
}

Test(claims, a_step_every_tick_with_delayed_errors_is_a_rule_error) {
    g_autofree char *plain = scenario_text("dfa", 2, "[rule]\nstep = tick\n");
    /* The [rule] section appears twice in the text: a key file merges them. */
    expect_built("step every tick without delays", plain, NULL);
    const char *must[] = {"my.ini: [rule] name: feedback into h1 has a delay, but the optimizer "
                          "steps every tick; use [rule] step = batch with delayed errors",
                          NULL};
    g_autofree char *late =
        scenario_text("dfa", 2, "[rule]\nstep = tick\n[feedback h1]\ndelay = 1\n");
    expect_refused("step every tick, delay 1", late, NULL, must);
    g_autofree char *jitter =
        scenario_text("dfa", 2, "[rule]\nstep = tick\n[feedback h1]\njitter = 2\n");
    expect_refused("step every tick, jitter 2", jitter, NULL, must);
    const char *batch[] = {"rule.step=batch", NULL};
    expect_built("step every batch, delay 1", late, batch);
}

/* ---- The IDX reader's limit on decompressed data (io/oz-idx.c) ---- */

/* Writes a 1-D IDX file whose data (8 header bytes and the body) is exactly total bytes. */
static char *write_idx_of(const char *name, guint64 total, gboolean gz) {
    g_autofree guint8 *body = g_malloc0(total - 8);
    for (guint64 i = 0; i < total - 8; i++)
        body[i] = (guint8)(i * 2654435761u >> 24); /* not all zeros: gzip must do some work */
    guint32 dims[1] = {(guint32)(total - 8)};
    char *path = g_build_filename(dir, name, NULL);
    oz_test_write_idx(path, dims, 1, body, gz);
    return path;
}

Test(claims, the_idx_limit_is_4_GiB) {
    guint64 old = oz__idx_set_max_bytes_for_tests(1000);
    cr_assert_eq(old, (guint64)4 << 30, "the default limit is 4 GiB: %" G_GUINT64_FORMAT, old);
    cr_assert_eq(oz__idx_set_max_bytes_for_tests(0), 1000);
    cr_assert_eq(oz__idx_set_max_bytes_for_tests(0), (guint64)4 << 30, "0 restores 4 GiB");
}

Test(claims, a_gzip_body_that_decompresses_past_the_limit_is_an_error_naming_file_and_limit) {
    const guint64 limit = 1 << 20;
    oz__idx_set_max_bytes_for_tests(limit);
    for (int gz = 0; gz <= 1; gz++) {
        /* One byte below the limit is read; at the limit the reader stops. */
        g_autofree char *below = write_idx_of(gz ? "below.gz" : "below", limit - 1, gz);
        g_autofree char *at = write_idx_of(gz ? "at.gz" : "at", limit, gz);
        g_autofree char *past = write_idx_of(gz ? "past.gz" : "past", 3 * limit, gz);
        if (gz) {
            GStatBuf st;
            cr_assert_eq(g_stat(past, &st), 0);
            cr_assert_lt((guint64)st.st_size, limit, "the compressed file is under the limit");
        }
        OzIdx idx;
        GError *err = NULL;
        cr_assert(oz_idx_load(below, &idx, &err), "%s", err ? err->message : "");
        cr_assert_eq(idx.count, limit - 9);
        oz_idx_clear(&idx);
        const char *refused[] = {at, past};
        for (int k = 0; k < 2; k++) {
            cr_assert_not(oz_idx_load(refused[k], &idx, &err), "%s is refused", refused[k]);
            cr_assert(g_error_matches(err, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE), "%s", err->message);
            cr_assert(strstr(err->message, refused[k]), "names the file: %s", err->message);
            cr_assert(strstr(err->message, "1 MiB or more"), "names the limit: %s", err->message);
            g_clear_error(&err);
        }
    }
    oz__idx_set_max_bytes_for_tests(0);
}

/* ---- The compute team without one of its helpers (engine/oz-par.c) ---- */

typedef struct {
    int *hits;
    gboolean part_ran[OZ_PAR_MAX_THREADS];
} CountJob;

static void count_part(void *ctx, int part, gsize begin, gsize end) {
    CountJob *j = ctx;
    j->part_ran[part] = TRUE; /* each part writes only its own slot */
    for (gsize i = begin; i < end; i++)
        j->hits[i]++;
}

static int warnings;
static char *last_warning;

static void catch_warning(const char *domain, GLogLevelFlags level, const char *message,
                          gpointer user) {
    (void)domain, (void)level, (void)user;
    warnings++;
    g_free(last_warning);
    last_warning = g_strdup(message);
}

/* A missing helper leaves the team smaller; a job then still visits every index once
 * and a split product is still right. */
Test(claims, a_helper_thread_that_fails_to_start_is_a_warning_and_the_team_continues,
     .timeout = 60) {
    g_log_set_handler("opzosim-engine", G_LOG_LEVEL_WARNING, catch_warning, NULL);
    g_setenv("OPZOSIM_FAULT_THREAD_START", "2", TRUE);
    oz_par_set_threads(4);
    g_unsetenv("OPZOSIM_FAULT_THREAD_START");
    cr_assert_eq(warnings, 1, "one warning");
    cr_assert(strstr(last_warning, "helper thread 2") && strstr(last_warning, "using 2 threads"),
              "%s", last_warning);
    cr_assert_eq(oz_par_threads(), 2, "the team continues with the threads it has");

    const gsize n = 100000;
    CountJob j = {g_new0(int, n), {0}};
    oz_par_for(n, 16, count_part, &j);
    for (gsize i = 0; i < n; i++)
        cr_assert_eq(j.hits[i], 1, "index %zu visited %d times", i, j.hits[i]);
    cr_assert(j.part_ran[0] && j.part_ran[1], "both threads worked");
    cr_assert_not(j.part_ran[2], "no part for the missing helper");
    g_free(j.hits);

    /* A product large enough to be split, against a double-precision reference (parts
     * of other shapes round differently, so one thread's bits are not the reference). */
    const int m = 256, k = 64, nn = 96;
    float *a = g_new(float, (gsize)m *k), *b = g_new(float, (gsize)k *nn);
    float *c = g_new0(float, (gsize)m *nn);
    for (int i = 0; i < m * k; i++)
        a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (int i = 0; i < k * nn; i++)
        b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    oz_sgemm(CblasNoTrans, CblasNoTrans, m, nn, k, 1.0f, a, k, b, nn, 0.0f, c, nn);
    for (int r = 0; r < m; r++)
        for (int col = 0; col < nn; col++) {
            double ref = 0;
            for (int q = 0; q < k; q++)
                ref += (double)a[r * k + q] * b[q * nn + col];
            cr_assert_float_eq(c[r * nn + col], ref, 1e-4, "C[%d][%d]", r, col);
        }
    g_free(a);
    g_free(b);
    g_free(c);

    /* Asking again (without the fault) starts the whole team. */
    oz_par_set_threads(4);
    cr_assert_eq(oz_par_threads(), 4);
    cr_assert_eq(warnings, 1);
    oz_par_set_threads(1);
    g_free(last_warning);
}

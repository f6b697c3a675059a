/* End to end: run names form the default run log path runs/NAME.sqlite, so a scenario
 * received from someone else must not be able to write anywhere else.  The program runs
 * with a temporary working directory, and every test checks what appeared in it and in the
 * rest of the temporary tree. */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <glib/gstdio.h>
#include <string.h>

static char *top;  /* the temporary tree: data/, scenarios/, work/ */
static char *work; /* the program's working directory, top/work/ */
static char *data;
static char *scen;

static void setup(void) {
    top = oz_test_tmpdir();
    data = g_build_filename(top, "data", NULL);
    scen = g_build_filename(top, "scenarios", NULL);
    work = g_build_filename(top, "work", NULL);
    cr_assert_eq(g_mkdir(data, 0755), 0);
    cr_assert_eq(g_mkdir(scen, 0755), 0);
    cr_assert_eq(g_mkdir(work, 0755), 0);
    oz_test_write_dataset(data, 8, 8, 4, 4, 3);
}

static void teardown(void) {
    oz_test_rmtree(top);
    g_free(data);
    g_free(scen);
    g_free(work);
}

TestSuite(e2e_names, .init = setup, .fini = teardown);

/* A small inference scenario with extra lines in [run]; written into scenarios/. */
static char *write_scenario(const char *file, const char *run_extra) {
    g_autofree char *text = g_strdup_printf("[run]\nticks = 2\nbatch_size = 4\nthreads = 1\n%s"
                                            "[data]\ndir = %s\nclasses = 3\n"
                                            "[population in]\nmodel = input\nsize = 16\n"
                                            "[population h]\nmodel = lif\nsize = 5\n"
                                            "[population out]\nmodel = readout\nsize = 3\n"
                                            "[projection a]\nfrom = in\nto = h\n"
                                            "[projection b]\nfrom = h\nto = out\n",
                                            run_extra, data);
    return oz_test_write_file(scen, file, text);
}

static void list_into(const char *root, const char *rel, GPtrArray *out) {
    g_autofree char *path = rel ? g_build_filename(root, rel, NULL) : g_strdup(root);
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    cr_assert_not_null(d, "%s", path);
    for (const char *e; (e = g_dir_read_name(d));) {
        char *r = rel ? g_build_filename(rel, e, NULL) : g_strdup(e);
        g_ptr_array_add(out, r);
        g_autofree char *full = g_build_filename(root, r, NULL);
        if (g_file_test(full, G_FILE_TEST_IS_DIR) && !g_file_test(full, G_FILE_TEST_IS_SYMLINK))
            list_into(root, r, out);
    }
}

static gint by_name(gconstpointer a, gconstpointer b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every path under root, relative to it, sorted and joined by newlines.  (transfer full) */
static char *tree(const char *root) {
    GPtrArray *all = g_ptr_array_new_with_free_func(g_free);
    list_into(root, NULL, all);
    g_ptr_array_sort(all, by_name);
    g_ptr_array_add(all, NULL);
    char *s = g_strjoinv("\n", (char **)all->pdata);
    g_ptr_array_free(all, TRUE);
    return s;
}

/* Runs the program in work/ and asserts it exits 2 naming [run] name, with the tree under
 * top exactly as before. */
static void expect_refused(const char *const *args, const char *why) {
    g_autofree char *before = tree(top);
    char *err = NULL;
    int rc = oz_test_runv_in(work, args, &err);
    cr_assert_eq(rc, 2, "exit code %d, stderr: %s", rc, err);
    cr_assert(strstr(err, "[run] name:") && strstr(err, why), "names the key and says why: %s",
              err);
    cr_assert(strstr(err, "s.ini"), "names the file: %s", err);
    g_free(err);
    g_autofree char *after = tree(top);
    cr_assert_str_eq(after, before, "nothing was written");
    g_autofree char *runs = g_build_filename(work, "runs", NULL);
    cr_assert_not(g_file_test(runs, G_FILE_TEST_EXISTS), "no runs/ in the working directory");
}

Test(e2e_names, a_run_name_that_leaves_runs_exits_2_and_writes_nothing) {
    /* runs/../../escaped.sqlite from work/ is top/escaped.sqlite: inside the tree. */
    g_autofree char *s = write_scenario("s.ini", "name = ../../escaped\n");
    const char *args[] = {"run", s, "--quiet", NULL};
    expect_refused(args, "'/' at byte 2");
    g_autofree char *escaped = g_build_filename(top, "escaped.sqlite", NULL);
    cr_assert_not(g_file_test(escaped, G_FILE_TEST_EXISTS));
}

Test(e2e_names, a_bad_name_from_set_or_sweep_vary_exits_2_and_writes_nothing) {
    g_autofree char *s = write_scenario("s.ini", "");
    const char *set[] = {"run", s, "--quiet", "--set", "run.name=../../escaped", NULL};
    expect_refused(set, "'/' at byte 2");
    const char *hidden[] = {"run", s, "--quiet", "--set", "run.name=.hidden", NULL};
    expect_refused(hidden, "it starts with '.'");
    /* A sweep validates every combination before it runs any, so the good first value
     * does not run either. */
    const char *sweep[] = {"sweep", s, "--quiet", "--vary", "run.name=fine,../../escaped", NULL};
    expect_refused(sweep, "'/' at byte 2");
}

/* Runs the scenario in work/ and asserts that it wrote exactly runs/NAME.sqlite there,
 * holding a run named name. */
static void expect_run_log(const char *scenario_path, const char *name) {
    const char *args[] = {"run", scenario_path, "--quiet", NULL};
    char *err = NULL;
    int rc = oz_test_runv_in(work, args, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    /* Listed before the run log is read: a reader may leave -wal and -shm files. */
    g_autofree char *listing = tree(work);
    g_autofree char *want = g_strdup_printf("runs\nruns/%s.sqlite", name);
    cr_assert_str_eq(listing, want);
    g_autofree char *file = g_strdup_printf("%s.sqlite", name);
    g_autofree char *db = g_build_filename(work, "runs", file, NULL);
    g_autofree char *stored = oz_test_qs(db, "select name from runs");
    cr_assert_str_eq(stored, name);
}

Test(e2e_names, a_plain_name_writes_runs_name_sqlite_in_the_working_directory) {
    g_autofree char *s = write_scenario("s.ini", "name = run-1_a.b\n");
    expect_run_log(s, "run-1_a.b");
}

Test(e2e_names, a_file_name_that_is_not_plain_defaults_to_a_plain_run_log_name) {
    g_autofree char *s = write_scenario("my scenario (v2).ini", "");
    expect_run_log(s, "my_scenario__v2_");
    /* A sweep's default run log is named the same way. */
    const char *sweep[] = {"sweep", s, "--quiet", "--vary", "run.seed=1,2", NULL};
    char *err = NULL;
    int rc = oz_test_runv_in(work, sweep, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    g_autofree char *sdb = g_build_filename(work, "runs", "my_scenario__v2_-sweep.sqlite", NULL);
    cr_assert(g_file_test(sdb, G_FILE_TEST_IS_REGULAR), "%s", sdb);
    cr_assert_eq(oz_test_q(sdb, "select count(*) from runs where name = 'my_scenario__v2_'"), 2);
}

/* A run log made before run names had to be plain may store a scenario whose [run] name is
 * not; eval writes no run log, so it still evaluates that run's checkpoint. */
Test(e2e_names, eval_of_a_stored_scenario_whose_name_is_not_plain_still_works) {
    g_autofree char *s = write_scenario("s.ini", "mode = train\nepochs = 1\n");
    g_autofree char *db = g_build_filename(top, "old.sqlite", NULL);
    const char *train[] = {"run", s, "--quiet", "--db", db, NULL};
    char *err = NULL;
    int rc = oz_test_runv_in(work, train, &err);
    cr_assert_eq(rc, 0, "stderr: %s", err);
    g_free(err);
    oz_test_exec(db, "update runs set scenario = replace(scenario, '[run]', '[run]' || "
                     "char(10) || 'name = my old run')");
    g_autofree char *text = oz_test_qs(db, "select scenario from runs");
    cr_assert(strstr(text, "name = my old run"), "the stored name is not plain: %s", text);
    const char *ev[] = {"eval", "--db", db, NULL};
    rc = oz_test_runv_in(work, ev, &err);
    cr_assert_eq(rc, 0, "eval exits 0: %s", err);
    g_free(err);
}

/* test-dist.c — engine/oz-dist.h's collectives on 3 and on 2 ranks: runs tests/dist-check.c
 * (next to this binary in the build) under `mpirun -np N` through tests/mpi-run.sh, which
 * meson gives as $OZ_BIN, and asserts that every rank passed every check.
 *
 * At 3 ranks the float sums tell rank order ((x₀ + x₁) + x₂) from every other grouping
 * (dist-check.c's opening comment says how); at 2 ranks they cannot, but the exact values,
 * the uneven parts and the other collectives are checked all the same.  Built only with
 * -Dmpi=enabled (suite mpi).
 */
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* Runs dist-check on np ranks and asserts that it succeeded and that each rank reported. */
static void run_ranks(int np) {
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    cr_assert_not_null(self);
    g_autofree char *dir = g_path_get_dirname(self);
    g_autofree char *worker = g_build_filename(dir, "dist-check", NULL);
    cr_assert(g_file_test(worker, G_FILE_TEST_IS_EXECUTABLE), "no %s", worker);
    g_autofree char *n = g_strdup_printf("%d", np);
    /* tests/mpi-run.sh runs $OZ_OPZOSIM under `mpirun -np $OZ_NP`; each Criterion test runs
     * in a process of its own, so these last for this test only. */
    g_setenv("OZ_OPZOSIM", worker, TRUE);
    g_setenv("OZ_NP", n, TRUE);
    g_autofree char *out = NULL, *err = NULL;
    int code = oz_test_run_out(&out, &err, n, NULL);
    cr_assert_eq(code, 0, "dist-check on %d ranks exited with %d:\n%s%s", np, code, out ? out : "",
                 err ? err : "");
    for (int r = 0; r < np; r++) {
        g_autofree char *line = g_strdup_printf("rank %d of %d: ", r, np);
        cr_assert(strstr(out, line), "rank %d did not report:\n%s%s", r, out, err ? err : "");
    }
}

Test(dist, collectives_in_rank_order_on_3_ranks, .timeout = 120) {
    run_ranks(3);
}

Test(dist, collectives_on_2_ranks, .timeout = 120) {
    run_ranks(2);
}

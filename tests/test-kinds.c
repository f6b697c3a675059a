/* Projection kinds as plugins: every registered kind's ops table is well formed and found
 * by its name, `[projection] kind` takes the registered names only (an unknown one lists
 * them), and `opzosim keys` lists every kind with its keys from the ops tables. */
#include "io/oz-scenario.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-network.h"
#include "oz-test-util.h"

#include <criterion/criterion.h>
#include <string.h>

static char *dir;
static char *base_text;

static void setup(void) {
    dir = oz_test_tmpdir();
    oz_test_write_dataset(dir, 4, 4, 2, 2, 2);
    base_text = g_strdup_printf("[run]\nticks = 3\nbatch_size = 2\n"
                                "[data]\ndir = %s\nclasses = 2\n"
                                "[population in]\nmodel = input\nsize = 4\n"
                                "[population h]\nmodel = lif\nsize = 3\n"
                                "[population out]\nmodel = readout\nsize = 2\n"
                                "[projection a]\nfrom = in\nto = h\n"
                                "[projection b]\nfrom = h\nto = out\n",
                                dir);
}

static void teardown(void) {
    oz_test_rmtree(dir);
    g_free(base_text);
}

TestSuite(kinds, .init = setup, .fini = teardown);

Test(kinds, every_registered_kind_is_well_formed_and_found_by_name) {
    int n = 0;
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++, n++) {
        g_autofree char *why = NULL;
        cr_assert(oz_projection_kind_check(*k, &why), "%s", why);
        cr_assert_eq(oz_projection_kind_lookup((*k)->name), *k, "%s by its name", (*k)->name);
    }
    cr_assert(n >= 1);
    cr_assert_not_null(oz_projection_kind_lookup("dense"), "dense is registered");
    cr_assert_null(oz_projection_kind_lookup("dens"));
    /* A table of another api_version or without a required slot is refused. */
    OzProjectionKindOps bad = *oz_projection_kind_lookup("dense");
    bad.api_version++;
    g_autofree char *why = NULL;
    cr_assert_not(oz_projection_kind_check(&bad, &why));
    cr_assert(strstr(why, "api_version"), "%s", why);
    bad = *oz_projection_kind_lookup("dense");
    bad.accumulate = NULL;
    g_clear_pointer(&why, g_free);
    cr_assert_not(oz_projection_kind_check(&bad, &why));
    cr_assert(strstr(why, "required"), "%s", why);
}

Test(kinds, the_default_kind_is_dense) {
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(base_text, "my.ini", NULL, &err);
    cr_assert_not_null(sc, "%s", err ? err->message : "");
    OzProjectionConfig *a = g_ptr_array_index(sc->projs, 0);
    cr_assert_str_eq(a->kind, "dense");
    oz_scenario_free(sc);
}

Test(kinds, an_unknown_kind_lists_the_registered_ones) {
    const char *sets[] = {"projection a.kind=dence", NULL};
    GError *err = NULL;
    cr_assert_null(oz_scenario_load_data(base_text, "my.ini", sets, &err));
    cr_assert_eq(err->code, OZ_SCENARIO_ERROR_VALUE);
    g_autofree char *names = oz_projection_kind_names();
    cr_assert(strstr(err->message, "[projection a] kind:") && strstr(err->message, names),
              "%s", err->message);
    g_error_free(err);
}

Test(kinds, keys_lists_every_kind_and_its_keys_from_the_ops_tables) {
    g_autofree char *cmd = g_strdup_printf("'%s' keys", oz_test_bin());
    g_autofree char *out = NULL;
    int status = 0;
    cr_assert(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
    cr_assert(g_spawn_check_wait_status(status, NULL), "keys exits 0");
    const char *proj = strstr(out, "[projection NAME]");
    cr_assert_not_null(proj);
    for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++) {
        g_autofree char *head = g_strdup_printf("  kind = %s: %s\n", (*k)->name, (*k)->help);
        const char *at = strstr(proj, head);
        cr_assert_not_null(at, "keys lists kind %s under [projection NAME]", (*k)->name);
        for (int i = 0; (*k)->params && (*k)->params[i].key; i++) {
            g_autofree char *def = g_strdup_printf("[default: %s]", (*k)->params[i].def);
            g_autofree char *key = g_strdup_printf("\n    %-16s ", (*k)->params[i].key);
            const char *line = strstr(at, key);
            cr_assert(line && strstr(line, def), "kind %s key %s with its default", (*k)->name,
                      (*k)->params[i].key);
        }
    }
}

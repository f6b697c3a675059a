/* libFuzzer target: the scenario parser and validator on arbitrary text (with and
 * without a --set override).  Nothing may crash, leak or hang; errors are fine. */
#include "io/oz-scenario.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The first line, if it looks like an override, is used as one. */
    char *text = g_strndup((const char *)data, size);
    const char *sets[2] = {NULL, NULL};
    char *body = text;
    char *nl = strchr(text, '\n');
    if (nl && g_str_has_prefix(text, "--set ")) {
        *nl = '\0';
        sets[0] = text + 6;
        body = nl + 1;
    }
    GError *err = NULL;
    OzScenario *sc = oz_scenario_load_data(body, "fuzz.ini", sets, &err);
    g_assert((sc == NULL) != (err == NULL));
    oz_scenario_free(sc);
    g_clear_error(&err);
    g_free(text);
    return 0;
}

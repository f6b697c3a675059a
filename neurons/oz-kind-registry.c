/* oz-kind-registry.c — the registered projection kinds: checks and lookup.
 *
 * Adding a kind is its file plus its name in the `projection_kinds` list of
 * neurons/meson.build, which compiles the file and registers it (docs/EXTENDING.md).  The
 * table is checked once at program start (a constructor): a duplicate name, an ops table
 * of another api_version or a missing required slot aborts with a message, so a broken
 * kind never runs.
 */
#include "neurons/oz-kind.h"

#include <string.h>

/* OZ_PROJECTION_KINDS(X): one X(name) per kind, from neurons/meson.build; the kind's file
 * defines `const OzProjectionKindOps oz_projection_kind_NAME`. */
#include "oz-projection-kinds.h"

#define DECLARE(k) extern const OzProjectionKindOps oz_projection_kind_##k;
OZ_PROJECTION_KINDS(DECLARE)
#undef DECLARE
#define ENTRY(k) &oz_projection_kind_##k,
static const OzProjectionKindOps *const registry[] = {OZ_PROJECTION_KINDS(ENTRY) NULL};
#undef ENTRY

gboolean oz_projection_kind_check(const OzProjectionKindOps *ops, char **why) {
    g_return_val_if_fail(ops && why, FALSE);
    *why = NULL;
    const char *name = ops->name ? ops->name : "?";
    if (ops->api_version != OZ_PROJECTION_KIND_API_VERSION) {
        *why = g_strdup_printf("kind %s: api_version %d, the core speaks %d", name,
                               ops->api_version, OZ_PROJECTION_KIND_API_VERSION);
        return FALSE;
    }
    if (!ops->name || !*ops->name || !ops->help || !ops->alloc || !ops->free || !ops->shape ||
        !ops->init || !ops->draw_like_weights || !ops->deliver || !ops->accumulate ||
        !ops->chain_apply) {
        *why = g_strdup_printf("kind %s: name, help, alloc, free, shape, init, "
                               "draw_like_weights, deliver, accumulate and chain_apply are "
                               "required",
                               name);
        return FALSE;
    }
    if (!ops->view_size != !ops->view || !ops->view != !ops->view_transpose) {
        *why = g_strdup_printf("kind %s: view_size, view and view_transpose go together", name);
        return FALSE;
    }
    if (ops->params && !ops->params_size) {
        *why = g_strdup_printf("kind %s: keys need params_size", name);
        return FALSE;
    }
    for (int i = 0; ops->params && ops->params[i].key; i++) {
        const OzParamSpec *s = &ops->params[i];
        if (!s->def || !s->help || s->offset >= ops->params_size) {
            *why = g_strdup_printf("kind %s: key %s needs a default, a help text and a field "
                                   "inside its parameter struct",
                                   name, s->key);
            return FALSE;
        }
    }
    return TRUE;
}

/* At program start: every kind well-formed, no name twice. */
__attribute__((constructor)) static void check_registry(void) {
    for (int i = 0; registry[i]; i++) {
        g_autofree char *why = NULL;
        if (!oz_projection_kind_check(registry[i], &why))
            g_error("projection kind registry: %s", why);
        for (int j = 0; j < i; j++)
            if (strcmp(registry[i]->name, registry[j]->name) == 0)
                g_error("projection kind registry: the name %s is registered twice",
                        registry[i]->name);
    }
}

const OzProjectionKindOps *oz_projection_kind_lookup(const char *name) {
    for (int i = 0; name && registry[i]; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const OzProjectionKindOps *const *oz_projection_kinds(void) {
    return registry;
}

char *oz_projection_kind_names(void) {
    GString *s = g_string_new(NULL);
    for (int i = 0; registry[i]; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "", registry[i]->name);
    return g_string_free(s, FALSE);
}

/* oz-rule-registry.c — the learning-rule registry: a const array looked up by name.
 *
 * The entries come from OZ_RULE_LIST (generated from plasticity/meson.build's rule_names),
 * so a rule is registered by its name there and nowhere else.  The table is checked once,
 * on first use; a malformed or duplicate entry is a programming error and aborts with the
 * reason, before any scenario is read. */
#include "plasticity/oz-rule.h"

#include "feedback/oz-feedback.h"
#include "plasticity/oz-learner.h"
#include "plasticity/oz-rule-list.h"

#define OZ_RULE_DECLARE(n) extern const OzRuleOps oz_rule_##n##_ops;
#define OZ_RULE_ENTRY(n) &oz_rule_##n##_ops,

OZ_RULE_LIST(OZ_RULE_DECLARE)

static const OzRuleOps *const rules[] = {OZ_RULE_LIST(OZ_RULE_ENTRY) NULL};

gboolean oz_rule_table_check(const OzRuleOps *const *table, GError **error) {
    for (int i = 0; table[i]; i++) {
        const OzRuleOps *r = table[i];
        const char *name = r->name ? r->name : "(unnamed)";
        const char *why = NULL;
        if (r->api_version != OZ_RULE_API_VERSION)
            why = "has another api_version";
        else if (!r->name || !*r->name)
            why = "has no name";
        else if (!r->summary)
            why = "has no summary";
        else if ((r->pathway != NULL) == (r->chain_matrix != NULL))
            why = "needs exactly one of pathway and chain_matrix";
        else if (r->pathway && !oz_feedback_lookup(r->pathway))
            why = "names a feedback pathway that is not registered";
        else if (r->state_size == 0 && (r->setup || r->clear))
            why = "has setup or clear but no state";
        for (int j = 0; !why && j < i; j++)
            if (g_strcmp0(table[j]->name, r->name) == 0)
                why = "is registered twice";
        if (why) {
            g_set_error(error, OZ_LEARNER_ERROR, OZ_LEARNER_ERROR_FAILED,
                        "learning rule %d (%s) %s", i, name, why);
            return FALSE;
        }
    }
    return TRUE;
}

static void check_registry(void) {
    static gsize checked = 0;
    if (g_once_init_enter(&checked)) {
        g_autoptr(GError) error = NULL;
        if (!oz_rule_table_check(rules, &error))
            g_error("rule registry: %s", error->message);
        g_once_init_leave(&checked, 1);
    }
}

const OzRuleOps *oz_rule_lookup(const char *name) {
    check_registry();
    for (int i = 0; rules[i]; i++)
        if (g_strcmp0(rules[i]->name, name) == 0)
            return rules[i];
    return NULL;
}

const OzRuleOps *const *oz_rule_all(void) {
    check_registry();
    return rules;
}

const char *oz_rule_names(const char *sep) {
    static GHashTable *joined; /* separator → names joined by it */
    G_LOCK_DEFINE_STATIC(joined);
    check_registry();
    G_LOCK(joined);
    if (!joined)
        joined = g_hash_table_new(g_str_hash, g_str_equal);
    char *s = g_hash_table_lookup(joined, sep);
    if (!s) {
        GString *g = g_string_new(NULL);
        for (int i = 0; rules[i]; i++)
            g_string_append_printf(g, "%s%s", i ? sep : "", rules[i]->name);
        s = g_string_free(g, FALSE);
        g_hash_table_insert(joined, g_strdup(sep), s);
    }
    G_UNLOCK(joined);
    return s;
}

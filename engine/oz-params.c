/* oz-params.c — parsing, defaults and formatting of plugin parameters (see oz-params.h).
 *
 * The messages match those of the scenario's own keys (io/oz-scenario.c), so a plugin's key
 * reads like any other in an error.
 */
#include "oz-params.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int oz_param_count(const OzParamSpec *specs) {
    int n = 0;
    while (specs && specs[n].key)
        n++;
    return n;
}

const OzParamSpec *oz_param_find(const OzParamSpec *specs, const char *key) {
    for (int i = 0; specs && specs[i].key; i++)
        if (strcmp(specs[i].key, key) == 0)
            return &specs[i];
    return NULL;
}

static gboolean parse_number(const OzParamSpec *s, const char *v, double *out, char **why) {
    char *end = NULL;
    errno = 0;
    if (s->type == OZ_PARAM_INT) {
        gint64 i = g_ascii_strtoll(v, &end, 10);
        if (!*v || *end || errno != 0) {
            *why =
                g_strdup_printf("expected an integer in [%.0f, %.0f], got '%s'", s->min, s->max, v);
            return FALSE;
        }
        if ((double)i < s->min || (double)i > s->max) {
            *why = g_strdup_printf("%s is out of range: expected an integer in [%.0f, %.0f]", v,
                                   s->min, s->max);
            return FALSE;
        }
        *out = (double)i;
        return TRUE;
    }
    double d = g_ascii_strtod(v, &end);
    if (!*v || *end || errno != 0 || !isfinite(d)) {
        *why = g_strdup_printf("expected a number in [%g, %g], got '%s'", s->min, s->max, v);
        return FALSE;
    }
    if (d < s->min || d > s->max) {
        *why =
            g_strdup_printf("%s is out of range: expected a number in [%g, %g]", v, s->min, s->max);
        return FALSE;
    }
    *out = d;
    return TRUE;
}

gboolean oz_param_parse(const OzParamSpec *s, const char *text, gpointer base, char **why) {
    g_return_val_if_fail(s && text && base && why, FALSE);
    gpointer field = (char *)base + s->offset;
    g_autofree char *v = g_strstrip(g_strdup(text));
    switch (s->type) {
    case OZ_PARAM_FLOAT:
    case OZ_PARAM_DOUBLE:
    case OZ_PARAM_INT: {
        double d = 0;
        if (!parse_number(s, v, &d, why))
            return FALSE;
        if (s->type == OZ_PARAM_FLOAT)
            *(float *)field = (float)d;
        else if (s->type == OZ_PARAM_DOUBLE)
            *(double *)field = d;
        else
            *(int *)field = (int)d;
        return TRUE;
    }
    case OZ_PARAM_BOOL: {
        static const char *const yes[] = {"true", "yes", "1", "on"};
        static const char *const no[] = {"false", "no", "0", "off"};
        for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
            if (g_ascii_strcasecmp(v, yes[i]) == 0 || g_ascii_strcasecmp(v, no[i]) == 0) {
                *(gboolean *)field = g_ascii_strcasecmp(v, yes[i]) == 0;
                return TRUE;
            }
        }
        *why = g_strdup_printf("expected true or false, got '%s'", v);
        return FALSE;
    }
    case OZ_PARAM_ENUM: {
        g_auto(GStrv) choices = g_strsplit(s->choices, "|", -1);
        for (int i = 0; choices[i]; i++) {
            if (strcmp(choices[i], v) == 0) {
                *(int *)field = i;
                return TRUE;
            }
        }
        g_autofree char *list = g_strjoinv(", ", choices);
        *why = g_strdup_printf("expected one of %s, got '%s'", list, v);
        return FALSE;
    }
    case OZ_PARAM_STRING:
        g_free(*(char **)field);
        *(char **)field = g_steal_pointer(&v);
        return TRUE;
    case OZ_PARAM_TYPE_COUNT:
        break;
    }
    *why = g_strdup("unknown parameter type");
    return FALSE;
}

void oz_param_defaults(const OzParamSpec *specs, gpointer base) {
    for (int i = 0; specs && specs[i].key; i++) {
        g_autofree char *why = NULL;
        /* A default that does not parse is a bug in the plugin's table, caught by the tests
         * that walk every registered plugin. */
        if (!oz_param_parse(&specs[i], specs[i].def, base, &why))
            g_critical("parameter %s: bad default '%s': %s", specs[i].key, specs[i].def, why);
    }
}

void oz_param_clear(const OzParamSpec *specs, gpointer base) {
    for (int i = 0; specs && specs[i].key; i++)
        if (specs[i].type == OZ_PARAM_STRING)
            g_clear_pointer((char **)((char *)base + specs[i].offset), g_free);
}

char *oz_param_format(const OzParamSpec *s, gconstpointer base) {
    gconstpointer field = (const char *)base + s->offset;
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    switch (s->type) {
    case OZ_PARAM_FLOAT:
        return g_strdup(g_ascii_formatd(buf, sizeof buf, "%.9g", (double)*(const float *)field));
    case OZ_PARAM_DOUBLE:
        return g_strdup(g_ascii_formatd(buf, sizeof buf, "%.17g", *(const double *)field));
    case OZ_PARAM_INT:
        return g_strdup_printf("%d", *(const int *)field);
    case OZ_PARAM_BOOL:
        return g_strdup(*(const gboolean *)field ? "true" : "false");
    case OZ_PARAM_ENUM: {
        g_auto(GStrv) choices = g_strsplit(s->choices, "|", -1);
        int i = *(const int *)field;
        return g_strdup(i >= 0 && i < (int)g_strv_length(choices) ? choices[i] : "?");
    }
    case OZ_PARAM_STRING: {
        const char *v = *(char *const *)field;
        return g_strdup(v ? v : "");
    }
    case OZ_PARAM_TYPE_COUNT:
        break;
    }
    return g_strdup("?");
}

char *oz_param_describe(const OzParamSpec *s) {
    switch (s->type) {
    case OZ_PARAM_FLOAT:
    case OZ_PARAM_DOUBLE:
        return g_strdup_printf("a number in [%g, %g]", s->min, s->max);
    case OZ_PARAM_INT:
        return g_strdup_printf("an integer in [%.0f, %.0f]", s->min, s->max);
    case OZ_PARAM_BOOL:
        return g_strdup("true or false");
    case OZ_PARAM_ENUM: {
        g_auto(GStrv) choices = g_strsplit(s->choices, "|", -1);
        g_autofree char *list = g_strjoinv(", ", choices);
        return g_strdup_printf("one of %s", list);
    }
    case OZ_PARAM_STRING:
        return g_strdup("a text");
    case OZ_PARAM_TYPE_COUNT:
        break;
    }
    return g_strdup("?");
}

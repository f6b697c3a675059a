/* oz-params.h — parameter specs: the keys a plugin takes, their types, ranges and defaults.
 *
 * A plugin (a neuron model today; projection kinds and rules may use the same type) lists
 * its parameters as a const array of OzParamSpec ending with an entry whose key is NULL.
 * Each entry says where the value lives in the plugin's parameter struct (offset), its type,
 * its closed range or its choices, its default as text and a one-line help.  From that
 * table the scenario accepts and validates the keys, `opzosim keys` lists them, and the run
 * log stores their values, so a plugin never parses text itself.
 *
 * Deliberately not here: where a key comes from (a scenario section, --set) and how an
 * error names it; oz_param_parse returns the reason only ("expected a number in [0, 1],
 * got 'x'"), and the caller prefixes the file, section and key.
 */
#pragma once

#include <glib.h>

typedef enum {
    OZ_PARAM_FLOAT = 0, /* float, parsed as a double and range-checked before the cast */
    OZ_PARAM_DOUBLE,    /* double */
    OZ_PARAM_INT,       /* int */
    OZ_PARAM_BOOL,      /* gboolean: true/false, yes/no, 1/0, on/off */
    OZ_PARAM_ENUM,      /* int: the index of the value in choices */
    OZ_PARAM_STRING,    /* char *: a copy of the text (a path); owned by the struct, freed by
                         * oz_param_clear */
    OZ_PARAM_TYPE_COUNT
} OzParamType;

typedef struct {
    const char *key; /* NULL ends a table */
    OzParamType type;
    gsize offset;        /* of the field in the plugin's parameter struct */
    double min, max;     /* FLOAT, DOUBLE, INT: the closed range */
    const char *choices; /* ENUM: "a|b|c"; the field holds the index */
    const char *def;     /* the default, as text (never NULL: plugin keys are optional) */
    const char *help;
} OzParamSpec;

/* The number of entries of a NULL-key-terminated table (0 for NULL). */
int oz_param_count(const OzParamSpec *specs);
/* The entry for key, or NULL. */
const OzParamSpec *oz_param_find(const OzParamSpec *specs, const char *key);
/* Parses text (surrounding white space ignored) into the field of base.  On a bad value
 * returns FALSE, leaves the field unchanged and sets *why (transfer full) to the reason in
 * the words the scenario uses for its own keys. */
gboolean oz_param_parse(const OzParamSpec *spec, const char *text, gpointer base, char **why);
/* Sets every field of the table to its default. */
void oz_param_defaults(const OzParamSpec *specs, gpointer base);
/* Frees the string fields of the table (OZ_PARAM_STRING) and sets them to NULL; the other
 * fields are left as they are.  A struct whose table has no string needs no clearing. */
void oz_param_clear(const OzParamSpec *specs, gpointer base);
/* The field's value as text that oz_param_parse reads back to the same value (floats with
 * 9 significant digits, booleans as true/false, enums by name).  (transfer full) */
char *oz_param_format(const OzParamSpec *spec, gconstpointer base);
/* "a number in [0, 1]", "an integer in [1, 10]", "true or false", "one of a, b": what the
 * key takes, for help texts.  (transfer full) */
char *oz_param_describe(const OzParamSpec *spec);

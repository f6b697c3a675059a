/* oz-scenario-private.h — what the three files of the scenario loader share.
 *
 * io/oz-scenario-schema.c holds the schema (every key of every section, with its type,
 * place in the config structs, range or choices, default and help) and describes it;
 * io/oz-scenario-keys.c reads a section's keys from the key file into a config struct by
 * the schema and by the plugins' key tables, with the messages that name file, section and
 * key; io/oz-scenario.c loads a whole scenario: sections, overrides, a NIR file, the checks
 * across sections.  Nothing here is part of the public interface (io/oz-scenario.h).
 */
#pragma once

#include "oz-scenario.h"

#include <glib.h>

/* The kinds of section, in the order the schema lists their keys.  K_ and T_ (below) are
 * short, unlike the house's OZ_ names, because the schema table names one of each in every
 * row; they are private to the loader's three files. */
typedef enum {
    K_RUN,
    K_DATA,
    K_RECORD,
    K_RULE,
    K_OPTIMIZER,
    K_POPULATION,
    K_PROJECTION,
    K_FEEDBACK,
    K_NETWORK,
    K_HARDWARE,
    K_COUNT
} OzSectionKind;

/* Each kind's section name, and whether its sections carry a name ([population NAME]);
 * K_COUNT entries each (checked where they are defined). */
extern const char *const oz__section_names[];
extern const gboolean oz__section_named[];

typedef enum { T_INT, T_INT64, T_DOUBLE, T_BOOL, T_STRING, T_ENUM, T_LIST } OzKeyType;

typedef struct {
    OzSectionKind kind;
    const char *key;
    OzKeyType type;
    gsize offset;
    double min, max;
    const char *choices; /* T_ENUM: "a|b|c", or "@TAG" for a registry's names */
    const char *def;     /* NULL: required */
    const char *help;
} OzKeySpec;

/* The schema, in section-kind order; oz__scenario_schema_len entries. */
extern const OzKeySpec oz__scenario_schema[];
extern const gsize oz__scenario_schema_len;

/* A key's choices, "a|b|c" (a registry-backed enum's joined names), or NULL. */
const char *oz__key_choices(const OzKeySpec *ks);

/* Frees what the schema fills in a section's configuration at base: its text and list
 * fields (the kind's T_STRING, T_ENUM and T_LIST keys), each left NULL. */
void oz__scenario_clear_section(OzSectionKind kind, gpointer base);

/* The scenario being read: its path for messages and the keys --set gave. */
typedef struct {
    const char *path;
    GHashTable *overridden; /* "section\x1fkey" set */
} OzScenarioCtx;

/* Applies --set overrides ("section.key=value") to kf, recording each in c->overridden;
 * FALSE with an error at the first that is malformed or names a section kf lacks. */
gboolean oz__scenario_apply_overrides(OzScenarioCtx *c, GKeyFile *kf, const char *const *overrides,
                                      GError **error);
/* Sets error to "PATH: [SECTION] KEY: MESSAGE" (with " (set with --set)" when the key
 * came from an override), or "PATH: [SECTION]: MESSAGE" when key is NULL. */
void oz__scenario_key_error(const OzScenarioCtx *c, GError **error, OzScenarioError code,
                            const char *section, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(6, 7);
/* " (did you mean 'x'?)" for the closest candidate within distance 3, or "".
 * (transfer full) */
char *oz__scenario_suggest(const char *word, const char *const *candidates, gsize n);
/* A value as it can be shown in a message (see io/oz-scenario-keys.c).  (transfer full) */
char *oz__scenario_printable(const char *v, gboolean raw);

/* Fills the configuration at base from the section of this kind: unknown keys are an error,
 * every schema key of the kind is read from the file or its default, and a [rule] or [data]
 * section reads its plugin's own keys too. */
gboolean oz__scenario_fill_section(const OzScenarioCtx *c, GKeyFile *kf, OzSectionKind kind,
                                   const char *section, gpointer base, GError **error);
/* A population's shape against its size (io/oz-scenario-keys.c). */
gboolean oz__scenario_fill_shape(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                 OzPopulationConfig *p, GError **error);
/* A population's model keys, checked by the model's configure slot. */
gboolean oz__scenario_fill_model_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                      OzPopulationConfig *p, GError **error);
/* A projection's kind keys. */
gboolean oz__scenario_fill_kind_keys(const OzScenarioCtx *c, GKeyFile *kf, const char *section,
                                     OzProjectionConfig *p, GError **error);

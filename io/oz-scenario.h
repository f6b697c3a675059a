/* oz-scenario.h — scenario files: GLib key files, validated against a schema.
 *
 * Sections: [run], [data], [record], and one [population NAME] / [projection NAME] per
 * population / projection; [network] from_nir takes them from a NIR file (io/oz-nir.h),
 * under whatever the scenario gives itself.  Every key has a type, a range or a set of choices, and a
 * default (or is required).  A population's model is one of the registered neuron models
 * and its model keys come from that model's ops table (neurons/oz-neuron.h); a key of
 * another registered model is accepted and ignored (so one file can switch models with
 * --set), a key no model knows is an error.  Parsing is all-or-nothing: an error leaves no half-filled
 * scenario, and its message names the file, the section, the key, the value given and
 * what was expected, with a "did you mean" for misspelt keys and sections.
 *
 * Overrides (`--set section.key=value`) are applied to the key file before validation,
 * and errors in them say so.  The text of the scenario after overrides is kept, so the
 * run log can store exactly what ran.
 *
 * [data] keys: dataset, classes and the limits are the schema's; every other key is the
 * chosen data set's (io/oz-dataset.h), validated by its table and its configure slot.
 * Relative data paths are resolved against the current directory.
 */
#pragma once

#include <glib.h>

#define OZ_SCENARIO_ERROR (oz_scenario_error_quark())
GQuark oz_scenario_error_quark(void);

typedef enum {
    OZ_SCENARIO_ERROR_FAILED,
    OZ_SCENARIO_ERROR_PARSE,
    OZ_SCENARIO_ERROR_UNKNOWN,  /* unknown section or key */
    OZ_SCENARIO_ERROR_MISSING,  /* a required key or section is absent */
    OZ_SCENARIO_ERROR_VALUE,    /* wrong type or out of range */
    OZ_SCENARIO_ERROR_REFERENCE /* names something that does not exist */
} OzScenarioError;

typedef struct {
    char *name; /* a plain name (oz_scenario_name_is_plain), never empty */
    gint64 seed;
    int epochs;
    int batch_size;
    int ticks;       /* T: input ticks per sample */
    int drain_ticks; /* −1: the longest delay path */
    char *mode;      /* "infer" or "train" */
    int threads;
    char *delivery;  /* "auto", "event", "dense", "delta" */
    double dense_threshold;
    gboolean delta;    /* auto delivery may use the change from the previous packet */
    int delta_refresh; /* a full packet after at most this many delta packets; 0: never */
    int grad_chunk_ticks;
    gboolean sparse_grad;         /* chunks from spiking layers by their spike changes */
    double sparse_grad_threshold; /* … the changed fraction where it costs as much as sgemm */
    double progress_seconds;
    double max_rate;      /* runaway guard: fraction of neuron-ticks spiking */
    int runaway_batches;  /* … for this many batches in a row stops the run; 0: off */
} OzRunConfig;

typedef struct {
    char *dataset; /* a registered data set (io/oz-dataset.h) */
    int train_limit, test_limit;
    int classes;
    /* The data set's own keys, every one of its table, each with the value given or its
     * default, as text that reads back to the same value; NULL-terminated, parallel.  Keys
     * of other registered data sets in [data] are accepted and not kept. */
    char **keys;
    char **values;
} OzDataConfig;

/* The value of one of the data set's keys, or NULL.  (transfer none) */
const char *oz_data_config_get(const OzDataConfig *dc, const char *key);

#define OZ_SCENARIO_SHAPE_MAX 4 /* dimensions of a population shape (C,H,W needs 3) */

typedef struct {
    char *name;
    char *model; /* a registered neuron model (neurons/oz-neuron.h) */
    int size;    /* the shape's product when only the shape was given */
    char *shape; /* as given ("2,34,34"), or "" */
    int rank;    /* 0 when no shape was given */
    int dims[OZ_SCENARIO_SHAPE_MAX];
    gboolean igl; /* an intermediate readout whose error trains the layers below */
    /* The model's own keys, every one of its ops tables lists, each with the value given
     * or its default, as text that reads back to the same value; NULL-terminated, parallel.
     * Keys of other registered models in the section are accepted and not kept. */
    char **keys;
    char **values;
} OzPopulationConfig;

/* The value of one of the population's model keys, or NULL.  (transfer none) */
const char *oz_population_config_get(const OzPopulationConfig *pc, const char *key);

typedef struct {
    char *name;
    char *from, *to;
    int delay;
    char *init;
    double init_scale;
    char *kind; /* a registered projection kind (neurons/oz-kind.h) */
    gboolean weight_standardization; /* sWS (neurons/oz-wstd.h) */
    /* The kind's own keys, each with the value given or its default, as text that reads
     * back to the same value; NULL-terminated, parallel.  Keys of other registered kinds
     * in the section are accepted and not kept. */
    char **keys;
    char **values;
} OzProjectionConfig;

typedef struct {
    char *name;           /* bp, dfa, dkp, zo, opzo */
    double loss_lambda;
    double surrogate_a;
    char *noise;          /* gaussian, rademacher, sphere */
    char *noise_position; /* after, before */
    gboolean antithetic;
    double alpha_start, alpha_end;
    char *alpha_schedule; /* linear, fixed */
    char *step;           /* batch, tick */
    char *sphere_radius;  /* sqrt_n, 1 */
    char *trace_under_noise;   /* clean, noisy */
    char *noise_dropout_order; /* noise_after_mask, mask_after_noise */
    char *first_layer_factor;  /* input, trace */
    gboolean local_learning;
    double ll_scale;
    /* The rule's own keys (plasticity/oz-rule.h params), each with the value given or its
     * default, as text that reads back to the same value; NULL-terminated, parallel.  Keys
     * of other registered rules in [rule] are accepted and not kept. */
    char **keys;
    char **values;
} OzRuleConfig;

typedef struct {
    char *name; /* adamw, sgd */
    double lr, weight_decay, beta1, beta2, eps, momentum;
    char *schedule; /* cosine, constant */
} OzOptimizerConfig;

typedef struct {
    char *name; /* the hidden (lif) population the errors go to */
    int delay;
    int jitter;
    char *eligibility; /* stored, current */
} OzFeedbackConfig;

typedef struct {
    int spike_samples;       /* record spikes of the first N test samples */
    char **spike_populations; /* NULL-terminated; empty means every population */
    gboolean firing_rates;
    gboolean synops;
    gboolean checkpoints_all; /* keep every epoch's checkpoint, not only the last */
    gboolean grad_stats;
    int grad_stats_every;
    gboolean grad_stats_frozen;
} OzRecordConfig;

/* [network]: a network read from a NIR file instead of (or under) the population and
 * projection sections. */
typedef struct {
    char *from_nir; /* "" when none */
    double nir_dt;  /* seconds per tick for the file's neurons */
} OzNetworkConfig;

/* [hardware]: the chip that runs the forward pass (neurons/oz-hardware.h). */
typedef struct {
    gint64 seed;
    int weight_bits;
    double weight_mismatch, threshold_mismatch, leak_mismatch, neuron_noise;
    gboolean noise_is_probe;
    double spike_drop;
    char *bp_model; /* nominal, exact */
} OzHardwareConfig;

typedef struct {
    char *path;
    char *text;        /* the key file after overrides (before a NIR file's sections) */
    char **overrides;  /* as given, NULL-terminated */
    OzRunConfig run;
    OzDataConfig data;
    OzRecordConfig record;
    OzRuleConfig rule;
    OzOptimizerConfig optimizer;
    OzHardwareConfig hardware;
    GPtrArray *pops;   /* of OzPopulationConfig*, in file order */
    GPtrArray *projs;  /* of OzProjectionConfig*, in file order */
    GPtrArray *feedbacks; /* of OzFeedbackConfig*, in file order */
    OzNetworkConfig network;
} OzScenario;

/* Loads path, applies overrides ("section.key=value"), validates.  (transfer full) */
OzScenario *oz_scenario_load(const char *path, const char *const *overrides, GError **error);
/* The same from text; path is used in messages. */
OzScenario *oz_scenario_load_data(const char *text, const char *path,
                                  const char *const *overrides, GError **error);
void oz_scenario_free(OzScenario *sc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzScenario, oz_scenario_free)

/* The value of one key as a scenario's text with overrides gives it, without loading the
 * rest (so without its data or NIR files: the study commands read runs whose data may be
 * elsewhere): what the text says, else the default — the schema's, or for a key a plugin
 * takes (a population's model, a projection's kind, the rule, the data set) the default of
 * the plugin the section chooses, else of the first registered plugin that has the key.
 * section_key is SECTION.KEY as --set takes it ("hardware.neuron_noise", "population
 * h1.dropout"); path names the scenario in messages.  *def (when def is not NULL) receives
 * the default (transfer full; NULL for a required key).  An unknown section or key is
 * OZ_SCENARIO_ERROR_UNKNOWN (with a "did you mean"), a named section the text lacks
 * OZ_SCENARIO_ERROR_REFERENCE, a required key without a value OZ_SCENARIO_ERROR_MISSING,
 * each message naming the section and key.  (transfer full) */
char *oz_scenario_key_value(const char *text, const char *path, const char *const *overrides,
                            const char *section_key, char **def, GError **error);

/* Formats an error about a key: "PATH: [SECTION] KEY: MESSAGE". */
void oz_scenario_set_error(const OzScenario *sc, GError **error, OzScenarioError code,
                           const char *section, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(6, 7);

/* A run name is part of a file name — the run log defaults to runs/NAME.sqlite — and a
 * scenario may come from someone else, so [run] name (from the file, --set or a sweep's
 * --vary) must be a plain name: 1 to OZ_RUN_NAME_MAX bytes of ASCII letters, digits, '-',
 * '_' and '.', starting with a letter or digit.  No '/' means it cannot leave runs/, and
 * the first character rules out "..", hidden files and names read as options. */
#define OZ_RUN_NAME_MAX 100
/* Whether name is plain.  If not and why is not NULL, *why says which rule the name breaks
 * (transfer full). */
gboolean oz_scenario_name_is_plain(const char *name, char **why);
/* The run name of a scenario file whose [run] name is empty: the base name of path without
 * its extension, every character other than an ASCII letter, digit, '-', '_' or '.'
 * replaced by '_' (one per character of valid UTF-8, else one per byte), "run" put in
 * front if it then starts with neither a letter nor a digit, cut to OZ_RUN_NAME_MAX bytes.
 * Always plain: "my scenario (v2).ini" gives "my_scenario__v2_", ".x.ini" gives "run.x".
 * (transfer full) */
char *oz_scenario_name_from_path(const char *path);

/* Writes a description of every section and key (for --help-scenario). */
char *oz_scenario_describe(void);

/* Edit distance, for suggestions; exposed for tests. */
int oz_levenshtein(const char *a, const char *b);

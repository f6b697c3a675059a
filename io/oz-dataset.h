/* oz-dataset.h — the data-set plugin: what a data set is, and what the run may ask of it.
 *
 * Design.  A data set is a `const OzDatasetOps` in a file of its own (io/oz-dataset-FILE.c)
 * plus one entry in the `datasets` list of io/meson.build, which generates the registry
 * (io/oz-dataset.c).  Nothing outside a data set's file compares data-set names: the
 * scenario takes `[data] dataset`'s choices and the data set's own [data] keys from the
 * registry, and the run asks the loaded set for its size, labels, classes, the sample shape
 * it produces and the kind of sample (a dense image, or binned spikes, one frame per tick),
 * then lets the set fill the input population's batch rows (fill).
 *
 * Keys: `dataset`, `classes`, `train_limit` and `test_limit` are common [data] keys
 * (io/oz-scenario.c); every other [data] key belongs to a data set's table (params, into its
 * own struct of params_size bytes; engine/oz-params.h, string keys included), so the scenario
 * validates them, `opzosim keys` lists them under [data] and the run log stores them in
 * `parameters` with owner `data`.  A key of another registered data set is accepted and
 * ignored (so one file can switch data sets with --set).
 *
 * Lifecycle: the scenario parses the keys and calls configure (checks across keys, files that
 * must exist: a scenario error naming [data] and the key, before anything is loaded); the run
 * loads each split it needs (load: the whole split read, validated and, for events, binned
 * once and kept), checks the set's shape and kind against the input population, and per
 * mini-batch calls fill, which only writes the batch's rows (no allocation).
 *
 * Versioning: new slots are appended and OZ_DATASET_API_VERSION is bumped.
 */
#pragma once

#include "engine/oz-params.h"
#include "io/oz-events.h"
#include "io/oz-idx.h"
#include "neurons/oz-population.h"

#include <glib.h>

#define OZ_DATASET_API_VERSION 1

/* What a sample is, so the run can pair the set with an input model. */
typedef enum {
    OZ_SAMPLE_IMAGE = 0, /* values per input neuron, the same at every tick (pop->x) */
    OZ_SAMPLE_SPIKES,    /* binned events, one sparse frame per tick (pop->spike_in) */
    OZ_SAMPLE_KIND_COUNT
} OzSampleKind;

typedef enum { OZ_SPLIT_TRAIN = 0, OZ_SPLIT_TEST, OZ_SPLIT_COUNT } OzSplit;

/* Reports loading progress: done of total items (files) of a split.  Called from the loading
 * thread, at most about every 1000 items and once at the end. */
typedef void (*OzDatasetProgress)(const char *what, gsize done, gsize total, gpointer user);

/* What the run asks for when it loads a split. */
typedef struct {
    OzSplit split;
    int classes; /* labels must be below it */
    int limit;   /* > 0: the first limit samples of the split's order */
    int ticks;   /* T, for data sets that bin events into ticks */
    OzDatasetProgress progress; /* (optional) */
    gpointer progress_user;
} OzDatasetRequest;

typedef struct OzDatasetOps OzDatasetOps;

/* A loaded split.  The data set fills it in load; the run reads n, labels, kind, rank/shape
 * and the statistics, and hands it back to fill. */
typedef struct {
    const OzDatasetOps *ops; /* (transfer none) */
    gpointer params;         /* the data set's keys as loaded (ops->params_size bytes) */
    OzSampleKind kind;
    int n;                 /* samples */
    const guint8 *labels;  /* (n) each < classes; points into images or spikes */
    int rank;              /* of a sample's shape: 2 (H, W) for images, 3 (C, H, W) for spikes */
    int shape[3];
    char *source;          /* the folder or files it came from, for messages */
    OzImageSet images;     /* OZ_SAMPLE_IMAGE */
    OzSpikeSet spikes;     /* OZ_SAMPLE_SPIKES */
    guint64 files;         /* recordings read (events), 0 for images */
} OzDataset;

struct OzDatasetOps {
    int api_version;   /* (required) OZ_DATASET_API_VERSION */
    const char *name;  /* (required) unique; `[data] dataset = NAME` */
    const char *help;  /* (required) one line for `opzosim keys` */
    OzSampleKind kind; /* (required) what its samples are */
    gsize params_size; /* (required, may be 0) bytes of its key struct */
    const OzParamSpec *params; /* (optional) its own [data] keys, NULL-key-terminated */
    /* (optional) checks across keys and that what the keys name exists, on the parsed struct;
     * `train`: the training split will be loaded too.  Returns FALSE with *key the key to
     * blame and an OZ_SCENARIO_ERROR (code MISSING, REFERENCE or VALUE) whose message says
     * what was expected; the scenario prefixes file, section and key. */
    gboolean (*configure)(gconstpointer params, gboolean train, const char **key,
                          GError **error);
    /* (required) reads one split whole into out (kind, n, labels, rank/shape, images or
     * spikes, source).  Errors name the file (and offset or line) in the data's own domain
     * (OZ_IDX_ERROR, OZ_EVENTS_ERROR): bad input, exit 2. */
    gboolean (*load)(gconstpointer params, const OzDatasetRequest *req, OzDataset *out,
                     GError **error);
    /* (required) writes rows [0, active) of the input population's batch from samples
     * samples[0 … active) and clears rows [active, batch): pop->x (images) or pop->spike_in
     * (spikes).  No allocation. */
    void (*fill)(const OzDataset *set, const int *samples, int active, OzPopulation *pop);
};

/* The registry (io/oz-dataset.c).  A duplicate name, a wrong api_version or a table missing
 * a required slot aborts the program at startup. */
const OzDatasetOps *oz_dataset_lookup(const char *name);
/* NULL-terminated array of every registered data set, in registry order. */
const OzDatasetOps *const *oz_datasets(void);
/* Checks one ops table; FALSE and *why (transfer full) on a malformed one. */
gboolean oz_dataset_ops_check(const OzDatasetOps *ops, char **why);

/* Parses the data set's keys (text, NULL-terminated and parallel; every other key is an
 * error) over its defaults into a new struct of params_size bytes.  (transfer full: free
 * with oz_dataset_params_free) */
gpointer oz_dataset_params_new(const OzDatasetOps *ops, const char *const *keys,
                               const char *const *values, const char **bad_key, GError **error);
void oz_dataset_params_free(const OzDatasetOps *ops, gpointer params);

/* Loads one split: the keys are parsed, then ops->load.  On error out is left cleared. */
gboolean oz_dataset_load(const OzDatasetOps *ops, const char *const *keys,
                         const char *const *values, const OzDatasetRequest *req, OzDataset *out,
                         GError **error);
void oz_dataset_clear(OzDataset *set);

/* Bytes the loaded samples take in memory (images or the binned spikes, labels included). */
gsize oz_dataset_bytes(const OzDataset *set);

/* ---- Shared by the data sets' files ---- */

/* fill for binned spikes: pop->spike_in[b] views sample samples[b] of set->spikes. */
void oz_dataset_fill_spikes(const OzDataset *set, const int *samples, int active,
                            OzPopulation *pop);
/* Reads and bins every recording of list (one sample each, read by reader) into out->spikes
 * (initialised by the caller), with progress reports, then trims the set and fills out's n,
 * labels and shape; the first bad file stops it with the reader's error. */
typedef gboolean (*OzEventReader)(const char *path, OzEventStream *out, GError **error);
gboolean oz_dataset_bin_files(const OzEventFileList *list, OzEventReader reader,
                              const OzBinning *binning, const char *what,
                              const OzDatasetRequest *req, OzDataset *out, GError **error);

/* oz-dataset-dvsgesture.c — the `dvsgesture` data set: IBM's DVS128 Gesture recordings, each
 * gesture cut from its trial, downsampled and binned into T ticks of 2×S×S cells
 * (docs/EVENTS.md, "Data sets and keys").
 *
 * The layout is the archive's: [data] dir holds userNN_LIGHTING.aedat (AEDAT 3.1), beside it
 * userNN_LIGHTING_labels.csv (class 1–11, start and end in µs) and trials_to_train.txt /
 * trials_to_test.txt naming the split's .aedat files.  Each trial is read once; every labelled
 * cut start ≤ t < end becomes one sample (label = class − 1), its coordinates scaled from
 * 128×128 to [data] size × size (⌊x·size/128⌋, as Tonic), then binned (by default into T
 * frames of equal event counts with counts, as the paper's SpikingJelly frames).
 *
 * Deliberately not here: the AEDAT format and the label files (io/oz-aedat.c), binning
 * (io/oz-binning.c).
 */
#include "io/oz-dataset.h"

#include "io/oz-scenario.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    char *dir;
    int size; /* index into "48|32" */
    int bin;  /* OzBinMode */
    double bin_us;
    int values; /* 0 binary, 1 counts */
    gboolean from_first_event;
} GestureParams;

static const int sizes[] = {48, 32};

#define K(f) offsetof(GestureParams, f)
static const OzParamSpec gesture_keys[] = {
    {"dir", OZ_PARAM_STRING, K(dir), 0, 0, NULL, "data/dvsgesture",
     "folder of the DVS128 Gesture archive: userNN_LIGHTING.aedat, their _labels.csv, "
     "trials_to_train.txt and trials_to_test.txt"},
    {"size", OZ_PARAM_ENUM, K(size), 0, 0, "48|32", "48",
     "the 128x128 sensor scaled to size x size (48 as the paper, 32)"},
    {"bin", OZ_PARAM_ENUM, K(bin), 0, 0, "paper|time|spread|events", "events",
     "events into T = [run] ticks (see dataset = nmnist); events: T frames of equal event counts, "
     "the paper's DVS-Gesture frames"},
    {"bin_us", OZ_PARAM_DOUBLE, K(bin_us), 1, 1e9, NULL, "3000", "bin width in µs (paper, time)"},
    {"values", OZ_PARAM_ENUM, K(values), 0, 0, "binary|counts", "counts",
     "a cell with c events in a frame is 1 (binary) or c synaptic events (counts)"},
    {"from_first_event", OZ_PARAM_BOOL, K(from_first_event), 0, 0, NULL, "true",
     "bins start at the gesture's first event (paper, time)"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef K

static const char *const trial_lists[OZ_SPLIT_COUNT] = {
    [OZ_SPLIT_TRAIN] = "trials_to_train.txt", [OZ_SPLIT_TEST] = "trials_to_test.txt"};

static gboolean gesture_configure(gconstpointer params, gboolean train, const char **key,
                                  GError **error) {
    const GestureParams *p = params;
    *key = "dir";
    for (int split = train ? OZ_SPLIT_TRAIN : OZ_SPLIT_TEST; split < OZ_SPLIT_COUNT; split++) {
        g_autofree char *list = g_build_filename(p->dir, trial_lists[split], NULL);
        if (!g_file_test(list, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "no file '%s' (the DVS128 Gesture archive's trial list)", list);
            return FALSE;
        }
    }
    return TRUE;
}

/* One trial: its recording, cut by its labels into samples appended to out. */
static gboolean load_trial(const GestureParams *p, const char *name, const OzBinning *b,
                           const OzDatasetRequest *req, OzDataset *out, GError **error) {
    g_autofree char *path = g_build_filename(p->dir, name, NULL);
    g_autofree char *stem = g_strndup(name, strlen(name) - strlen(".aedat"));
    g_autofree char *csv_name = g_strconcat(stem, "_labels.csv", NULL);
    g_autofree char *csv = g_build_filename(p->dir, csv_name, NULL);
    GArray *cuts = NULL;
    if (!oz_gesture_read_labels(csv, &cuts, error))
        return FALSE;
    OzEventStream s = {0};
    gboolean ok = oz_aedat3_read_file(path, &s, error);
    for (guint i = 0; ok && i < cuts->len; i++) {
        const OzGestureCut *c = &g_array_index(cuts, OzGestureCut, i);
        if (c->label >= req->classes) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_LABEL,
                        "%s: row %u: class %d is not below [data] classes = %d", csv, i + 2,
                        c->label + 1, req->classes);
            ok = FALSE;
            break;
        }
        if (req->limit > 0 && out->spikes.n >= (gsize)req->limit)
            break;
        OzEventStream cut = {0};
        oz_event_stream_cut(&s, c->start, c->end, &cut);
        oz_event_stream_downsample(&cut, sizes[p->size]);
        oz_spike_set_append(&out->spikes, &cut, b, (guint8)c->label);
        oz_event_stream_clear(&cut);
    }
    oz_event_stream_clear(&s);
    g_array_unref(cuts);
    out->files++;
    return ok;
}

static gboolean gesture_load(gconstpointer params, const OzDatasetRequest *req, OzDataset *out,
                             GError **error) {
    const GestureParams *p = params;
    g_autofree char *list = g_build_filename(p->dir, trial_lists[req->split], NULL);
    g_auto(GStrv) names = NULL;
    if (!oz_gesture_read_trials(list, &names, error))
        return FALSE;
    const int size = sizes[p->size];
    gboolean binary = p->values == 0;
    oz_spike_set_init(&out->spikes, req->ticks, 2, size, size, binary);
    OzBinning b = {.mode = (OzBinMode)p->bin,
                   .ticks = req->ticks,
                   .bin_us = p->bin_us,
                   .binary = binary,
                   .stabilise = FALSE,
                   .from_first_event = p->from_first_event};
    const gsize total = g_strv_length(names);
    g_autofree char *what = g_strdup_printf("dvsgesture %s", trial_lists[req->split]);
    for (gsize i = 0; i < total; i++) {
        if (!load_trial(p, names[i], &b, req, out, error))
            return FALSE;
        if (req->progress)
            req->progress(what, i + 1, total, req->progress_user);
    }
    if (out->spikes.n == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY, "%s: no gesture", list);
        return FALSE;
    }
    oz_spike_set_trim(&out->spikes);
    out->source = g_strdup(list);
    out->n = (int)out->spikes.n;
    out->labels = out->spikes.labels;
    out->rank = 3;
    out->shape[0] = 2;
    out->shape[1] = out->shape[2] = size;
    return TRUE;
}

const OzDatasetOps oz_dataset_dvsgesture = {
    .api_version = OZ_DATASET_API_VERSION,
    .name = "dvsgesture",
    .help = "IBM DVS128 Gesture (AEDAT 3.1 trials cut by their label files), scaled to size x "
            "size and binned into T ticks; the input is model = events, 11 classes",
    .kind = OZ_SAMPLE_SPIKES,
    .params_size = sizeof(GestureParams),
    .params = gesture_keys,
    .configure = gesture_configure,
    .load = gesture_load,
    .fill = oz_dataset_fill_spikes,
};

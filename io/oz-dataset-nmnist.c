/* oz-dataset-nmnist.c — the `nmnist` data set: N-MNIST recordings binned into T ticks of
 * 2×34×34 cells (docs/EVENTS.md, "Data sets and keys").
 *
 * Two layouts: the original one, [data] dir with Train/0..9 and Test/0..9 holding one .bin
 * per recording (what `opzosim convert` writes), and list files (`train_list`, `test_list`: lines `ID LABEL`
 * naming ID.bin or ID.bs2 beside the list, relative to dir), the layout of slayerPytorch's
 * NMNISTsmall example.  Every recording of a split is read (io/oz-nmnist.c), validated and
 * binned at load into an OzSpikeSet (io/oz-binning.c) with T = [run] ticks; only the binned
 * set is kept.  A sample is C×H×W = 2×34×34 (channel = polarity), one sparse frame a tick.
 *
 * train_limit / test_limit with the Train/ and Test/ folders take the first files of each
 * class in turn (file k of class 0, of class 1, …, then file k + 1), so a limited set keeps
 * every class; with a list file they take its first lines.
 *
 * Deliberately not here: the record format and the binning (io/oz-events.h), the spike input
 * (neurons/oz-model-events.c).
 */
#include "io/oz-dataset.h"

#include "io/oz-scenario.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    char *dir, *train_list, *test_list;
    int bin; /* OzBinMode */
    double bin_us;
    int values; /* 0 binary, 1 counts */
    gboolean stabilise, from_first_event;
} NmnistParams;

#define K(f) offsetof(NmnistParams, f)
static const OzParamSpec nmnist_keys[] = {
    {"dir", OZ_PARAM_STRING, K(dir), 0, 0, NULL, "data/nmnist",
     "folder with Train/ and Test/ (0..9/*.bin each; opzosim convert writes one), or of the "
     "list files"},
    {"train_list", OZ_PARAM_STRING, K(train_list), 0, 0, NULL, "",
     "a list file of 'ID LABEL' lines naming ID.bin or ID.bs2 beside it (relative to dir); "
     "empty: dir/Train"},
    {"test_list", OZ_PARAM_STRING, K(test_list), 0, 0, NULL, "",
     "the same for the test split; empty: dir/Test"},
    {"bin", OZ_PARAM_ENUM, K(bin), 0, 0, "paper|time|spread|events", "paper",
     "events into T = [run] ticks: paper (bins of bin_us from t = 0, the first T kept: 3 ms x "
     "30 as TSSL-BP), time (bins of bin_us, later events cropped), spread (T equal bins over "
     "the recording), events (T frames of equal event counts)"},
    {"bin_us", OZ_PARAM_DOUBLE, K(bin_us), 1, 1e9, NULL, "3000", "bin width in µs (paper, time)"},
    {"values", OZ_PARAM_ENUM, K(values), 0, 0, "binary|counts", "binary",
     "a cell with c events in a bin is 1 (binary) or c synaptic events (counts, up to 255)"},
    {"stabilise", OZ_PARAM_BOOL, K(stabilise), 0, 0, NULL, "false",
     "undo the three saccades' drift (Orchard's linear stabilisation) before binning"},
    {"from_first_event", OZ_PARAM_BOOL, K(from_first_event), 0, 0, NULL, "false",
     "bins start at the first event's time instead of t = 0"},
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef K
_Static_assert(OZ_BIN_PAPER == 0 && OZ_BIN_TIME == 1 && OZ_BIN_SPREAD == 2 && OZ_BIN_EVENTS == 3,
               "bin choices are in the order of OzBinMode");

static const char *const split_folder[OZ_SPLIT_COUNT] = {[OZ_SPLIT_TRAIN] = "Train",
                                                         [OZ_SPLIT_TEST] = "Test"};

/* A list key's file: absolute, or relative to dir.  (transfer full) */
static char *list_path(const NmnistParams *p, const char *list) {
    return g_path_is_absolute(list) ? g_strdup(list) : g_build_filename(p->dir, list, NULL);
}

/* What configure and load read for a split: the list file or the split's folder. */
static char *split_source(const NmnistParams *p, OzSplit split, const char **key,
                          gboolean *is_list) {
    const char *list = split == OZ_SPLIT_TRAIN ? p->train_list : p->test_list;
    *is_list = *list != '\0';
    *key = *is_list ? (split == OZ_SPLIT_TRAIN ? "train_list" : "test_list") : "dir";
    return *is_list ? list_path(p, list) : g_build_filename(p->dir, split_folder[split], NULL);
}

static gboolean nmnist_configure(gconstpointer params, gboolean train, const char **key,
                                 GError **error) {
    const NmnistParams *p = params;
    for (int split = train ? OZ_SPLIT_TRAIN : OZ_SPLIT_TEST; split < OZ_SPLIT_COUNT; split++) {
        gboolean is_list = FALSE;
        g_autofree char *src = split_source(p, (OzSplit)split, key, &is_list);
        if (is_list && !g_file_test(src, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "no list file '%s'", src);
            return FALSE;
        }
        if (!is_list && !g_file_test(src, G_FILE_TEST_IS_DIR)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "no folder '%s' (N-MNIST's layout is DIR/Train/0..9 and DIR/Test/0..9; "
                        "make one from MNIST with opzosim convert --from mnist --dir data/mnist "
                        "--out %s, or give train_list and test_list)",
                        src, p->dir);
            return FALSE;
        }
    }
    return TRUE;
}

/* Keeps `limit` files of the folder layout taking each class in turn: the first file of class
 * 0, of class 1, …, then the second of each, so a limited set keeps every class.  The list is
 * in sample-number order across classes (oz_nmnist_list_dir); each class's files are taken in
 * that order, each with its own label. */
static void limit_by_class(OzEventFileList *l, int limit) {
    if (limit <= 0 || (gsize)limit >= l->n)
        return;
    gsize count[256] = {0}, start[257] = {0}, filled[256] = {0}, taken[256] = {0};
    for (gsize i = 0; i < l->n; i++)
        count[l->labels[i]]++;
    for (int c = 0; c < 256; c++)
        start[c + 1] = start[c] + count[c];
    /* by_class[start[c] …]: the positions in the list of class c's files, in list order. */
    gsize *by_class = g_new(gsize, l->n);
    for (gsize i = 0; i < l->n; i++)
        by_class[start[l->labels[i]] + filled[l->labels[i]]++] = i;
    char **paths = g_new0(char *, (gsize)limit + 1);
    guint8 *labels = g_new0(guint8, (gsize)limit);
    gsize kept = 0;
    while (kept < (gsize)limit) {
        for (int c = 0; c < 256 && kept < (gsize)limit; c++) {
            if (taken[c] >= count[c])
                continue;
            gsize at = by_class[start[c] + taken[c]++];
            paths[kept] = g_strdup(l->paths[at]);
            labels[kept++] = l->labels[at];
        }
    }
    g_free(by_class);
    OzEventFileList kept_list = {paths, labels, kept};
    oz_event_file_list_clear(l);
    *l = kept_list;
}

static gboolean nmnist_load(gconstpointer params, const OzDatasetRequest *req, OzDataset *out,
                            GError **error) {
    const NmnistParams *p = params;
    const char *key = NULL;
    gboolean is_list = FALSE;
    g_autofree char *src = split_source(p, req->split, &key, &is_list);
    OzEventFileList files = {0};
    gboolean ok = is_list ? oz_nmnist_list_file(src, req->classes, req->limit, &files, error)
                          : oz_nmnist_list_dir(src, 0, &files, error);
    if (!ok)
        return FALSE;
    if (!is_list) {
        for (gsize i = 0; i < files.n; i++)
            if (files.labels[i] >= req->classes) {
                g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_LABEL,
                            "%s: label %u (its folder) is not below [data] classes = %d",
                            files.paths[i], files.labels[i], req->classes);
                oz_event_file_list_clear(&files);
                return FALSE;
            }
        limit_by_class(&files, req->limit);
    }
    if (files.n == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY, "%s: no recording", src);
        oz_event_file_list_clear(&files);
        return FALSE;
    }
    gboolean binary = p->values == 0;
    oz_spike_set_init(&out->spikes, req->ticks, 2, OZ_NMNIST_SIZE, OZ_NMNIST_SIZE, binary);
    OzBinning b = {.mode = (OzBinMode)p->bin,
                   .ticks = req->ticks,
                   .bin_us = p->bin_us,
                   .binary = binary,
                   .stabilise = p->stabilise,
                   .from_first_event = p->from_first_event};
    g_autofree char *what = g_strdup_printf("nmnist %s", split_folder[req->split]);
    out->source = g_strdup(src);
    ok = oz_dataset_bin_files(&files, oz_nmnist_read_file, &b, what, req, out, error);
    oz_event_file_list_clear(&files);
    return ok;
}

const OzDatasetOps oz_dataset_nmnist = {
    .api_version = OZ_DATASET_API_VERSION,
    .name = "nmnist",
    .help = "N-MNIST recordings (Train/ and Test/ folders or list files), binned into T ticks "
            "of 2x34x34 cells; the input is model = events",
    .kind = OZ_SAMPLE_SPIKES,
    .params_size = sizeof(NmnistParams),
    .params = nmnist_keys,
    .configure = nmnist_configure,
    .load = nmnist_load,
    .fill = oz_dataset_fill_spikes,
};

/* oz-dataset-idx.c — the image data sets read from IDX files: `mnist`, `fashion-mnist` and
 * `idx` (docs/EVENTS.md, "Data sets and keys"; the IDX format is io/oz-idx.c).
 *
 * mnist and fashion-mnist find the four standard files ({train,t10k}-{images-idx3,
 * labels-idx1}-ubyte, plain or .gz) in [data] dir (default data/mnist, and Debian's
 * dataset-fashion-mnist folder); idx takes the four paths as keys.  A sample is the image
 * (H, W); fill writes it into the input's x as pixel/255, normalised to (v − mean)/std when
 * the input encodes it as a current and [data] normalize is on (docs/ALGORITHM.md §2.1, §15.1).
 *
 * Deliberately not here: the IDX format itself (io/oz-idx.c), choosing samples (the run).
 */
#include "io/oz-dataset.h"

#include "io/oz-scenario.h"

#include <stddef.h>
#include <string.h>

typedef struct {
    char *dir;
    char *train_images, *train_labels, *test_images, *test_labels;
    gboolean normalize;
    double mean, std;
} IdxParams;

#define K(f) offsetof(IdxParams, f)
#define NORMALISATION_KEYS                                                                       \
    {"normalize", OZ_PARAM_BOOL, K(normalize), 0, 0, NULL, "true",                                \
     "current encoding: x = (pixel/255 - mean)/std"},                                            \
        {"mean", OZ_PARAM_DOUBLE, K(mean), -1e6, 1e6, NULL, "0.1307", "normalisation mean"},      \
        {"std", OZ_PARAM_DOUBLE, K(std), 1e-9, 1e6, NULL, "0.3081", "normalisation std"}

static const OzParamSpec mnist_keys[] = {
    {"dir", OZ_PARAM_STRING, K(dir), 0, 0, NULL, "data/mnist",
     "folder of the IDX files (scripts/setup.sh fetches them); empty: the default"},
    NORMALISATION_KEYS,
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static const OzParamSpec fashion_keys[] = {
    {"dir", OZ_PARAM_STRING, K(dir), 0, 0, NULL, "/usr/share/datasets/fashion-mnist",
     "folder of the IDX files (apt-get install dataset-fashion-mnist); empty: the default"},
    NORMALISATION_KEYS,
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};

static const OzParamSpec idx_keys[] = {
    {"train_images", OZ_PARAM_STRING, K(train_images), 0, 0, NULL, "",
     "IDX path of the training images (required when training)"},
    {"train_labels", OZ_PARAM_STRING, K(train_labels), 0, 0, NULL, "",
     "IDX path of the training labels (required when training)"},
    {"test_images", OZ_PARAM_STRING, K(test_images), 0, 0, NULL, "", "IDX path of the test images"},
    {"test_labels", OZ_PARAM_STRING, K(test_labels), 0, 0, NULL, "", "IDX path of the test labels"},
    NORMALISATION_KEYS,
    {NULL, 0, 0, 0, 0, NULL, NULL, NULL},
};
#undef K
#undef NORMALISATION_KEYS

static const char *const standard_names[OZ_SPLIT_COUNT][2] = {
    [OZ_SPLIT_TRAIN] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
    [OZ_SPLIT_TEST] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"},
};

/* The folder: the key, or its default when given empty. */
static const char *folder(const OzParamSpec *keys, const IdxParams *p) {
    return p->dir && *p->dir ? p->dir : oz_param_find(keys, "dir")->def;
}

/* The IDX file base in dir, plain or gzip, or NULL.  (transfer full) */
static char *find_idx(const char *dir, const char *base) {
    g_autofree char *plain = g_build_filename(dir, base, NULL);
    if (g_file_test(plain, G_FILE_TEST_EXISTS))
        return g_steal_pointer(&plain);
    g_autofree char *gz = g_strconcat(plain, ".gz", NULL);
    if (g_file_test(gz, G_FILE_TEST_EXISTS))
        return g_steal_pointer(&gz);
    return NULL;
}

/* mnist and fashion-mnist: the files of every split that will be read must be there. */
static gboolean check_folder(const OzParamSpec *keys, const char *hint, const IdxParams *p,
                             gboolean train, const char **key, GError **error) {
    const char *dir = folder(keys, p);
    for (int split = train ? OZ_SPLIT_TRAIN : OZ_SPLIT_TEST; split < OZ_SPLIT_COUNT; split++)
        for (int f = 0; f < 2; f++) {
            g_autofree char *found = find_idx(dir, standard_names[split][f]);
            if (!found) {
                *key = "dir";
                g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                            "no file %s or %s.gz in '%s' (%s)", standard_names[split][f],
                            standard_names[split][f], dir, hint);
                return FALSE;
            }
        }
    return TRUE;
}

static gboolean mnist_configure(gconstpointer params, gboolean train, const char **key,
                                GError **error) {
    return check_folder(mnist_keys, "run scripts/setup.sh to fetch MNIST", params, train, key,
                        error);
}

static gboolean fashion_configure(gconstpointer params, gboolean train, const char **key,
                                  GError **error) {
    return check_folder(fashion_keys, "apt-get install dataset-fashion-mnist", params, train, key,
                        error);
}

/* idx: the four paths as keys; the training pair only when training. */
static gboolean idx_configure(gconstpointer params, gboolean train, const char **key,
                              GError **error) {
    const IdxParams *p = params;
    struct {
        const char *key;
        const char *path;
        gboolean needed;
    } f[] = {{"train_images", p->train_images, train},
             {"train_labels", p->train_labels, train},
             {"test_images", p->test_images, TRUE},
             {"test_labels", p->test_labels, TRUE}};
    for (gsize i = 0; i < G_N_ELEMENTS(f); i++) {
        if (!f[i].needed)
            continue;
        *key = f[i].key;
        if (!*f[i].path) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_MISSING,
                        "required with dataset = idx (a path to an IDX file)");
            return FALSE;
        }
        if (!g_file_test(f[i].path, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE, "no such file '%s'",
                        f[i].path);
            return FALSE;
        }
    }
    return TRUE;
}

/* Reads images and labels into out, a sample being an (H, W) image. */
static gboolean load_pair(const char *images, const char *labels, const OzDatasetRequest *req,
                          OzDataset *out, GError **error) {
    if (!oz_image_set_load(images, labels, req->classes, req->limit, &out->images, error))
        return FALSE;
    out->n = out->images.n;
    out->labels = out->images.labels;
    out->rank = 2;
    out->shape[0] = out->images.rows;
    out->shape[1] = out->images.cols;
    out->source = g_strdup(images);
    return TRUE;
}

/* mnist and fashion-mnist: the standard files of the split in the folder (configure saw them;
 * a file removed since is the IDX reader's error). */
static gboolean load_folder(const OzParamSpec *keys, gconstpointer params,
                            const OzDatasetRequest *req, OzDataset *out, GError **error) {
    const char *dir = folder(keys, params);
    char *files[2];
    for (int f = 0; f < 2; f++) {
        files[f] = find_idx(dir, standard_names[req->split][f]);
        if (!files[f])
            files[f] = g_build_filename(dir, standard_names[req->split][f], NULL);
    }
    gboolean ok = load_pair(files[0], files[1], req, out, error);
    g_free(files[0]);
    g_free(files[1]);
    return ok;
}

static gboolean mnist_load(gconstpointer params, const OzDatasetRequest *req, OzDataset *out,
                           GError **error) {
    return load_folder(mnist_keys, params, req, out, error);
}

static gboolean fashion_load(gconstpointer params, const OzDatasetRequest *req, OzDataset *out,
                             GError **error) {
    return load_folder(fashion_keys, params, req, out, error);
}

static gboolean idx_load(gconstpointer params, const OzDatasetRequest *req, OzDataset *out,
                         GError **error) {
    const IdxParams *p = params;
    gboolean train = req->split == OZ_SPLIT_TRAIN;
    return load_pair(train ? p->train_images : p->test_images,
                     train ? p->train_labels : p->test_labels, req, out, error);
}

/* x = pixel/255, as (x − mean)/std for a current-encoded input with normalize on. */
static void fill_images(const OzDataset *set, const int *samples, int active, OzPopulation *pop) {
    const IdxParams *p = set->params;
    const int n = pop->n;
    const gboolean norm = pop->p.encoding == OZ_ENCODING_CURRENT && p->normalize;
    const float mean = (float)p->mean, inv_std = (float)(1.0 / p->std);
    for (int b = 0; b < pop->batch; b++) {
        float *x = pop->x + (gsize)b * n;
        if (b >= active) {
            memset(x, 0, (gsize)n * sizeof(float));
            continue;
        }
        const guint8 *img = set->images.images + (gsize)samples[b] * n;
        for (int i = 0; i < n; i++) {
            float v = (float)img[i] / 255.0f;
            x[i] = norm ? (v - mean) * inv_std : v;
        }
    }
}

const OzDatasetOps oz_dataset_mnist = {
    .api_version = OZ_DATASET_API_VERSION,
    .name = "mnist",
    .help = "MNIST: the four IDX files in dir",
    .kind = OZ_SAMPLE_IMAGE,
    .params_size = sizeof(IdxParams),
    .params = mnist_keys,
    .configure = mnist_configure,
    .load = mnist_load,
    .fill = fill_images,
};

const OzDatasetOps oz_dataset_fashion_mnist = {
    .api_version = OZ_DATASET_API_VERSION,
    .name = "fashion-mnist",
    .help = "Fashion-MNIST (Debian's dataset-fashion-mnist): the four IDX files in dir",
    .kind = OZ_SAMPLE_IMAGE,
    .params_size = sizeof(IdxParams),
    .params = fashion_keys,
    .configure = fashion_configure,
    .load = fashion_load,
    .fill = fill_images,
};

const OzDatasetOps oz_dataset_idx = {
    .api_version = OZ_DATASET_API_VERSION,
    .name = "idx",
    .help = "any labelled IDX image set: the four paths as keys",
    .kind = OZ_SAMPLE_IMAGE,
    .params_size = sizeof(IdxParams),
    .params = idx_keys,
    .configure = idx_configure,
    .load = idx_load,
    .fill = fill_images,
};

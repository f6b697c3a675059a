/* oz-convert.c — `opzosim convert` and `opzosim convert --check` (oz-convert.h;
 * docs/EVENTS.md, "The saccade converter").
 *
 * convert: everything the user gave is checked first (options, the converter's keys, both
 * IDX files of each split, the output folder), so a bad input exits 2 with nothing written.
 * Then the recordings are shared out among worker threads by an atomic counter; each one
 * depends only on (seed, split, image index) through its own random stream, and each file is
 * written to a temporary name and renamed (the N-MNIST writer), so the output is the same
 * bytes at any thread count and a reader never sees half a file.  The main thread prints a
 * progress line.
 *
 * --check: reads every recording of a folder (the Train/ Test/ layout or list files), adds
 * it to io/oz-event-stats.h's accumulator and prints a table of the statistics beside a
 * reference (another folder, or the real N-MNIST numbers built in) with the acceptance bands
 * of docs/EVENTS.md.  With two folders, recordings of the same image are paired by split and
 * number (the file's numeric name; a test number above 60000 is 60000 + the image number, as
 * in the list files of the real recordings) for the event-count correlation.
 */
#include "sim/oz-convert.h"

#include "io/oz-event-stats.h"
#include "io/oz-events.h"
#include "io/oz-idx.h"
#include "io/oz-saccade.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* clang-format would split the quark's name at its hyphens, and the name is the domain's
 * string. */
// clang-format off
G_DEFINE_QUARK(oz-convert-error-quark, oz_convert_error)
// clang-format on

enum { EXIT_OK = 0, EXIT_USAGE = 2 };
enum { SPLIT_TRAIN = 0, SPLIT_TEST = 1 };
static const char *const split_dir[2] = {"Train", "Test"};
static const char *const split_word[2] = {"train", "test"};

/* ---- the command line ---- */

typedef struct {
    char *from, *dir, *images, *labels, *split, *out, *check, *against, *format;
    char **sets, **lists;
    int limit, test_limit, threads;
    gint64 seed;
    gboolean force, quiet, keys;
} Options;

static void options_clear(Options *o) {
    g_free(o->from);
    g_free(o->dir);
    g_free(o->images);
    g_free(o->labels);
    g_free(o->split);
    g_free(o->out);
    g_free(o->check);
    g_free(o->against);
    g_free(o->format);
    g_strfreev(o->sets);
    g_strfreev(o->lists);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static gboolean input_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean input_error(GError **error, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, OZ_CONVERT_ERROR, OZ_CONVERT_ERROR_INPUT, msg);
    return FALSE;
}

/* ---- convert: the inputs ---- */

typedef struct {
    OzSaccadeParams params;
    guint64 seed;
    const char *out;
    const char *from;
    OzImageSet sets[2];
    char *paths[2][2]; /* [split][images, labels]; NULL: split not converted */
    int n[2];          /* recordings per split */
    int total;
    /* Shared by the workers. */
    gint next, done, stop;
    GMutex lock;
    GError *error; /* the first failure */
} Job;

static void job_clear(Job *job) {
    for (int s = 0; s < 2; s++) {
        oz_image_set_clear(&job->sets[s]);
        g_free(job->paths[s][0]);
        g_free(job->paths[s][1]);
    }
    g_clear_error(&job->error);
    g_mutex_clear(&job->lock);
}

/* dir/base, or dir/base.gz when only that exists (transfer full); NULL with an error naming
 * both when neither does. */
static char *find_idx(const char *dir, const char *base, GError **error) {
    g_autofree char *plain = g_build_filename(dir, base, NULL);
    if (g_file_test(plain, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer(&plain);
    g_autofree char *gz = g_strconcat(plain, ".gz", NULL);
    if (g_file_test(gz, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer(&gz);
    input_error(error, "--dir %s: neither %s nor %s exists", dir, plain, gz);
    return NULL;
}

/* The IDX files of each split to convert, loaded and checked. */
static gboolean load_inputs(const Options *o, Job *job, GError **error) {
    gboolean idx = strcmp(o->from, "idx") == 0;
    if (!idx && strcmp(o->from, "mnist") != 0 && strcmp(o->from, "fashion-mnist") != 0)
        return input_error(error, "--from %s: expected mnist, fashion-mnist or idx", o->from);
    if (idx) {
        if (!o->images || !o->labels || o->dir)
            return input_error(error, "--from idx takes --images IDX and --labels IDX (and no "
                                      "--dir)");
        int s = SPLIT_TRAIN;
        if (o->split && strcmp(o->split, "test") == 0)
            s = SPLIT_TEST;
        else if (o->split && strcmp(o->split, "train") != 0)
            return input_error(error, "--split %s: expected train or test", o->split);
        job->paths[s][0] = g_strdup(o->images);
        job->paths[s][1] = g_strdup(o->labels);
    } else {
        if (o->images || o->labels || o->split)
            return input_error(error,
                               "--images, --labels and --split go with --from idx; "
                               "--from %s reads both splits from --dir",
                               o->from);
        const char *dir = o->dir                          ? o->dir
                          : strcmp(o->from, "mnist") == 0 ? "data/mnist"
                                                          : "/usr/share/datasets/fashion-mnist";
        static const char *const names[2][2] = {
            {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
            {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
        for (int s = 0; s < 2; s++)
            for (int f = 0; f < 2; f++)
                if (!(job->paths[s][f] = find_idx(dir, names[s][f], error)))
                    return FALSE;
    }
    for (int s = 0; s < 2; s++) {
        if (!job->paths[s][0])
            continue;
        int limit = s == SPLIT_TEST && o->test_limit >= 0 ? o->test_limit : o->limit;
        if (limit == 0 && s == SPLIT_TEST && o->test_limit == 0)
            continue; /* --test-limit 0: the training split only */
        /* Labels name the class folders; any byte value is a folder name. */
        if (!oz_image_set_load(job->paths[s][0], job->paths[s][1], 256, limit, &job->sets[s],
                               error))
            return FALSE;
        const OzImageSet *set = &job->sets[s];
        if (set->rows > 64 || set->cols > 64)
            return input_error(error,
                               "%s: images of %d×%d pixels; the converter takes at most 64×64 "
                               "(one image pixel is one sensor pixel of the 34×34 sensor)",
                               job->paths[s][0], set->rows, set->cols);
        job->n[s] = set->n;
    }
    job->total = job->n[0] + job->n[1];
    if (job->total == 0)
        return input_error(error, "nothing to convert (--limit and --test-limit leave no image)");
    return TRUE;
}

/* --out: a new or empty folder, or any folder with --force.  Checked before anything is
 * written. */
static gboolean check_out(const char *out, gboolean force, GError **error) {
    if (!g_file_test(out, G_FILE_TEST_EXISTS))
        return TRUE;
    if (!g_file_test(out, G_FILE_TEST_IS_DIR))
        return input_error(error, "--out %s exists and is not a folder", out);
    g_autoptr(GError) local = NULL;
    GDir *d = g_dir_open(out, 0, &local);
    if (!d)
        return input_error(error, "--out %s: cannot list it: %s", out, local->message);
    gboolean empty = g_dir_read_name(d) == NULL;
    g_dir_close(d);
    if (!empty && !force)
        return input_error(error,
                           "--out %s exists and is not empty: give a new or empty folder, or "
                           "--force to write over the recordings it holds",
                           out);
    return TRUE;
}

/* The class folders of each split (0 … 9 at least, so the N-MNIST reader finds all ten). */
static gboolean make_folders(const Job *job, GError **error) {
    for (int s = 0; s < 2; s++) {
        if (!job->n[s])
            continue;
        int top = 9;
        for (int i = 0; i < job->sets[s].n; i++)
            top = MAX(top, job->sets[s].labels[i]);
        for (int c = 0; c <= top; c++) {
            char name[4];
            g_snprintf(name, sizeof name, "%d", c);
            g_autofree char *path = g_build_filename(job->out, split_dir[s], name, NULL);
            if (g_mkdir_with_parents(path, 0755) != 0) {
                g_set_error(error, OZ_CONVERT_ERROR, OZ_CONVERT_ERROR_FAILED,
                            "cannot create the folder %s: %s", path, g_strerror(errno));
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* A key's value as text that reads back to the same value: doubles with the fewest digits
 * (up to 17) that do, so 0.1 stays 0.1.  (transfer full) */
static char *format_key(const OzParamSpec *s, const OzSaccadeParams *p) {
    if (s->type != OZ_PARAM_DOUBLE)
        return oz_param_format(s, p);
    double v = *(const double *)((const char *)p + s->offset);
    char buf[G_ASCII_DTOSTR_BUF_SIZE];
    for (int digits = 1; digits <= 17; digits++) {
        char fmt[8];
        g_snprintf(fmt, sizeof fmt, "%%.%dg", digits);
        g_ascii_formatd(buf, sizeof buf, fmt, v);
        if (g_ascii_strtod(buf, NULL) == v)
            return g_strdup(buf);
    }
    return oz_param_format(s, p);
}

/* converter.txt: every parameter and the seed, and the command that makes the same bytes. */
static gboolean write_sidecar(const Job *job, const Options *o, GError **error) {
    GString *t = g_string_new(NULL);
    g_string_append(t, "# opzosim convert: the saccade DVS converter (docs/EVENTS.md, \"The "
                       "saccade converter\").\n"
                       "# The same inputs, seed and keys give the same bytes at any thread "
                       "count.\n");
    GString *cmd = g_string_new("opzosim convert");
    g_string_append_printf(cmd, " --from %s", job->from);
    if (strcmp(job->from, "idx") == 0)
        g_string_append_printf(cmd, " --images %s --labels %s --split %s",
                               job->paths[job->n[0] ? 0 : 1][0], job->paths[job->n[0] ? 0 : 1][1],
                               split_word[job->n[0] ? 0 : 1]);
    else if (o->dir)
        g_string_append_printf(cmd, " --dir %s", o->dir);
    g_string_append_printf(cmd, " --out OUT --seed %" G_GUINT64_FORMAT, job->seed);
    if (o->limit > 0)
        g_string_append_printf(cmd, " --limit %d", o->limit);
    if (o->test_limit >= 0)
        g_string_append_printf(cmd, " --test-limit %d", o->test_limit);
    g_string_append_printf(t, "# Regenerate: %s", cmd->str);
    for (const OzParamSpec *s = oz_saccade_param_specs(); s->key; s++) {
        g_autofree char *v = format_key(s, &job->params);
        g_string_append_printf(t, " --set %s=%s", s->key, v);
    }
    g_string_append(t, "\n");
    g_string_free(cmd, TRUE);
    g_string_append_printf(t, "from = %s\nseed = %" G_GUINT64_FORMAT "\n", job->from, job->seed);
    for (int s = 0; s < 2; s++)
        if (job->n[s])
            g_string_append_printf(t, "%s_images = %s\n%s_labels = %s\n%s_recordings = %d\n",
                                   split_word[s], job->paths[s][0], split_word[s], job->paths[s][1],
                                   split_word[s], job->n[s]);
    for (const OzParamSpec *s = oz_saccade_param_specs(); s->key; s++) {
        g_autofree char *v = format_key(s, &job->params);
        g_string_append_printf(t, "%s = %s\n", s->key, v);
    }
    g_autofree char *path = g_build_filename(job->out, "converter.txt", NULL);
    g_autoptr(GError) local = NULL;
    gboolean ok = g_file_set_contents(path, t->str, (gssize)t->len, &local);
    g_string_free(t, TRUE);
    if (!ok)
        g_set_error(error, OZ_CONVERT_ERROR, OZ_CONVERT_ERROR_FAILED, "%s", local->message);
    return ok;
}

/* ---- convert: the work ---- */

static void job_fail(Job *job, GError *e) {
    g_mutex_lock(&job->lock);
    if (!job->error)
        job->error = e;
    else
        g_error_free(e);
    g_mutex_unlock(&job->lock);
    g_atomic_int_set(&job->stop, 1);
}

static gpointer worker(gpointer data) {
    Job *job = data;
    OzEventStream s = {0};
    while (!g_atomic_int_get(&job->stop)) {
        int i = g_atomic_int_add(&job->next, 1);
        if (i >= job->total)
            break;
        /* The test split first: it is the smaller, and complete early it can be checked
         * while the training split is still being made. */
        int split = i < job->n[1] ? SPLIT_TEST : SPLIT_TRAIN;
        int k = split == SPLIT_TEST ? i : i - job->n[1];
        const OzImageSet *set = &job->sets[split];
        OzRng rng;
        oz_saccade_rng(&rng, job->seed, split, (guint64)k);
        oz_saccade_render(&job->params, set->images + (gsize)k * set->features, set->rows,
                          set->cols, &rng, &s);
        char label[4], name[32];
        g_snprintf(label, sizeof label, "%u", set->labels[k]);
        g_snprintf(name, sizeof name, "%05d.bin", k + 1);
        g_autofree char *path = g_build_filename(job->out, split_dir[split], label, name, NULL);
        GError *e = NULL;
        if (s.n == 0) {
            e = g_error_new(OZ_CONVERT_ERROR, OZ_CONVERT_ERROR_FAILED,
                            "%s image %d (label %u) gives no event, and the N-MNIST reader "
                            "refuses an empty recording (a blank image with the noise off?)",
                            split_word[split], k, set->labels[k]);
        } else if (!oz_nmnist_write_file(path, &s, &e)) {
            /* A write that fails here is the machine's (a full disk), not the input's. */
            e->domain = OZ_CONVERT_ERROR;
            e->code = OZ_CONVERT_ERROR_FAILED;
        }
        if (e) {
            job_fail(job, e);
            break;
        }
        g_atomic_int_inc(&job->done);
    }
    oz_event_stream_clear(&s);
    return NULL;
}

/* Seconds as the progress lines print them: 1h05m, 3m07s, 42s, or ? (unknown). */
void oz_format_eta(double s, char *buf, gsize n) {
    if (s < 0 || s > 1e7)
        g_strlcpy(buf, "?", n);
    else if (s >= 3600)
        g_snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        g_snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        g_snprintf(buf, n, "%.0fs", s);
}

/* Waits for the workers, printing a progress line: refreshed in place on a terminal, every
 * 30 s otherwise. */
static void wait_progress(Job *job, gboolean quiet) {
    gboolean tty = isatty(STDERR_FILENO);
    double start = (double)g_get_monotonic_time() / 1e6, last_print = start;
    for (;;) {
        int done = g_atomic_int_get(&job->done);
        gboolean finished = done >= job->total || g_atomic_int_get(&job->stop);
        double now = (double)g_get_monotonic_time() / 1e6;
        if (!quiet && (finished || now - last_print >= (tty ? 0.5 : 30.0))) {
            double rate = now > start ? done / (now - start) : 0;
            char eta[32];
            oz_format_eta(rate > 0 ? (job->total - done) / rate : -1, eta, sizeof eta);
            fprintf(stderr, "%s[convert] %d/%d recordings  %.0f recordings/s  ETA %s%s",
                    tty ? "\r\033[K" : "", done, job->total, rate, eta,
                    tty && !finished ? "" : "\n");
            fflush(stderr);
            last_print = now;
        }
        if (finished)
            return;
        g_usleep(100000);
    }
}

static int run_convert(const Options *o, int (*report)(const GError *)) {
    g_autoptr(GError) error = NULL;
    Job job = {.seed = (guint64)o->seed, .out = o->out, .from = o->from};
    g_mutex_init(&job.lock);
    oz_saccade_params_defaults(&job.params);
    int code = EXIT_OK;
    gboolean ok = TRUE;
    for (char **s = o->sets; ok && s && *s; s++)
        ok = oz_saccade_params_set(&job.params, *s, &error);
    if (ok && !o->out)
        ok = input_error(&error, "--out DIR is required");
    if (ok && (o->threads < 0 || o->threads > 256))
        ok = input_error(&error, "--threads %d: expected 1..256", o->threads);
    if (ok && o->limit < 0)
        ok = input_error(&error, "--limit %d: expected 0 (all) or more", o->limit);
    if (ok && o->seed < 0)
        ok = input_error(&error, "--seed %" G_GINT64_FORMAT ": expected 0 or more", o->seed);
    ok = ok && load_inputs(o, &job, &error) && check_out(o->out, o->force, &error);
    /* Nothing has been written so far. */
    ok = ok && make_folders(&job, &error) && write_sidecar(&job, o, &error);
    if (!ok) {
        code = report(error);
        job_clear(&job);
        return code;
    }
    int threads = o->threads > 0 ? o->threads : MAX(1, (int)g_get_num_processors());
    threads = MIN(threads, job.total);
    if (!o->quiet)
        fprintf(stderr,
                "opzosim convert: %d training and %d test images into %s, seed %" G_GINT64_FORMAT
                ", %d thread%s\n",
                job.n[0], job.n[1], o->out, o->seed, threads, threads == 1 ? "" : "s");
    GThread **th = g_new(GThread *, threads);
    for (int i = 0; i < threads; i++)
        th[i] = g_thread_new("convert", worker, &job);
    wait_progress(&job, o->quiet);
    for (int i = 0; i < threads; i++)
        g_thread_join(th[i]);
    g_free(th);
    if (job.error)
        code = report(job.error);
    else if (!o->quiet)
        fprintf(stderr, "opzosim convert: %d recordings in %s (parameters in %s/converter.txt)\n",
                job.total, o->out, o->out);
    job_clear(&job);
    return code;
}

/* ---- --check ---- */

/* One folder's recordings: file lists per split. */
typedef struct {
    OzEventFileList list[2];
} Folder;

static void folder_clear(Folder *f) {
    oz_event_file_list_clear(&f->list[0]);
    oz_event_file_list_clear(&f->list[1]);
}

/* The split a list file holds, from its name: "test…" is the test split, anything else
 * training. */
static int list_split(const char *path) {
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *low = g_ascii_strdown(base, -1);
    return g_str_has_prefix(low, "test") ? SPLIT_TEST : SPLIT_TRAIN;
}

/* Appends l to acc (both lists are consumed). */
static void list_append(OzEventFileList *acc, OzEventFileList *l) {
    gsize n = acc->n + l->n;
    acc->paths = g_renew(char *, acc->paths, n + 1);
    acc->labels = g_renew(guint8, acc->labels, n ? n : 1);
    for (gsize i = 0; i < l->n; i++) {
        acc->paths[acc->n + i] = l->paths[i];
        acc->labels[acc->n + i] = l->labels[i];
    }
    acc->paths[n] = NULL;
    acc->n = n;
    g_free(l->paths);
    g_free(l->labels);
    *l = (OzEventFileList){0};
}

/* Finds the recordings of dir: the list files given, else Train/ and Test/, else list files
 * named train*.txt and test*.txt in dir.  want: −1 both splits, else only that one. */
static gboolean folder_open(const char *dir, char **lists, int want, Folder *f, GError **error) {
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
        return input_error(error, "%s is not a folder", dir);
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    if (lists && *lists) {
        for (char **l = lists; *l; l++)
            g_ptr_array_add(found, g_path_is_absolute(*l) || g_file_test(*l, G_FILE_TEST_EXISTS)
                                       ? g_strdup(*l)
                                       : g_build_filename(dir, *l, NULL));
    } else {
        gboolean layout = FALSE;
        for (int s = 0; s < 2; s++) {
            g_autofree char *sd = g_build_filename(dir, split_dir[s], NULL);
            if (!g_file_test(sd, G_FILE_TEST_IS_DIR))
                continue;
            layout = TRUE;
            if (want >= 0 && want != s)
                continue;
            if (!oz_nmnist_list_dir(sd, 0, &f->list[s], error))
                return FALSE;
        }
        if (layout)
            return TRUE;
        g_autoptr(GError) local = NULL;
        GDir *d = g_dir_open(dir, 0, &local);
        if (!d)
            return input_error(error, "%s: cannot list it: %s", dir, local->message);
        for (const char *n; (n = g_dir_read_name(d));) {
            g_autofree char *low = g_ascii_strdown(n, -1);
            if (g_str_has_suffix(low, ".txt") &&
                (g_str_has_prefix(low, "train") || g_str_has_prefix(low, "test")))
                g_ptr_array_add(found, g_build_filename(dir, n, NULL));
        }
        g_dir_close(d);
        g_ptr_array_sort(found, (GCompareFunc)g_strcmp0);
        if (found->len == 0)
            return input_error(error,
                               "%s holds neither Train/ nor Test/ nor a train*.txt or "
                               "test*.txt list file (give one with --list FILE)",
                               dir);
    }
    for (guint i = 0; i < found->len; i++) {
        const char *path = g_ptr_array_index(found, i);
        int s = list_split(path);
        if (want >= 0 && want != s)
            continue;
        OzEventFileList l = {0};
        if (!oz_nmnist_list_file(path, 256, 0, &l, error))
            return FALSE;
        list_append(&f->list[s], &l);
    }
    return TRUE;
}

/* The image a recording shows, for pairing two folders: split·2^32 + number, or −1. */
static gint64 image_key(const char *path, int split) {
    g_autofree char *base = g_path_get_basename(path);
    gint64 v = 0;
    int digits = 0;
    for (const char *p = base; *p && *p != '.'; p++) {
        if (!g_ascii_isdigit(*p) || ++digits > 12)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (!digits)
        return -1;
    if (split == SPLIT_TEST && v > 60000)
        v -= 60000;
    return ((gint64)split << 32) | v;
}

typedef struct {
    OzEventStats st;
    GHashTable *counts; /* image key → event count (gint64 keys, double values, boxed) */
    gsize n[2];
} Checked;

static void checked_clear(Checked *c) {
    g_clear_pointer(&c->counts, g_hash_table_unref);
}

static gboolean check_folder(const char *dir, char **lists, int want, Checked *out,
                             GError **error) {
    Folder f = {0};
    if (!folder_open(dir, lists, want, &f, error)) {
        folder_clear(&f);
        return FALSE;
    }
    if (f.list[0].n + f.list[1].n == 0) {
        folder_clear(&f);
        return input_error(error, "%s: no recording of the %s split", dir,
                           want >= 0 ? split_word[want] : "either");
    }
    g_autoptr(OzEventStatsAcc) acc = oz_event_stats_acc_new();
    out->counts = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
    for (int s = 0; s < 2; s++) {
        out->n[s] = f.list[s].n;
        for (gsize i = 0; i < f.list[s].n; i++) {
            OzEventStream es = {0};
            if (!oz_nmnist_read_file(f.list[s].paths[i], &es, error)) {
                folder_clear(&f);
                return FALSE;
            }
            oz_event_stats_acc_add(acc, &es, f.list[s].labels[i]);
            gint64 key = image_key(f.list[s].paths[i], s);
            if (key >= 0)
                g_hash_table_insert(out->counts, g_memdup2(&key, sizeof key),
                                    g_memdup2(&(double){(double)es.n}, sizeof(double)));
            oz_event_stream_clear(&es);
        }
    }
    folder_clear(&f);
    oz_event_stats_acc_finish(acc, &out->st);
    return TRUE;
}

/* One row of the table: a statistic, its value here and in the reference, the band and the
 * verdict (empty for statistics without a band). */
typedef struct {
    char *cells[5];
} Row;

static void rows_add(GArray *rows, const char *name, char *value, char *ref, char *band,
                     int pass /* −1: no band */) {
    Row r = {{g_strdup(name), value, ref, band ? band : g_strdup(""),
              g_strdup(pass < 0 ? ""
                       : pass   ? "pass"
                                : "FAIL")}};
    g_array_append_val(rows, r);
}

/* A statistic with a band relative to the reference: |v − ref| ≤ rel·ref. */
static void row_rel(GArray *rows, const char *name, const char *fmt, double v, double ref,
                    double rel, int *fails) {
    gboolean pass = fabs(v - ref) <= rel * fabs(ref) + 1e-12;
    *fails += !pass;
    rows_add(rows, name, g_strdup_printf(fmt, v), g_strdup_printf(fmt, ref),
             g_strdup_printf("±%.0f %%", 100 * rel), pass);
}

/* A statistic with an absolute band around the reference. */
static void row_abs(GArray *rows, const char *name, const char *fmt, double v, double ref,
                    double tol, int *fails) {
    gboolean pass = fabs(v - ref) <= tol + 1e-12;
    *fails += !pass;
    g_autofree char *tol_s = g_strdup_printf(fmt, tol);
    rows_add(rows, name, g_strdup_printf(fmt, v), g_strdup_printf(fmt, ref),
             g_strdup_printf("±%s", tol_s), pass);
}

static void row_info(GArray *rows, const char *name, char *value, char *ref) {
    rows_add(rows, name, value, ref, NULL, -1);
}

static char *fmt3(const char *f, double a, double b, double c) {
    char buf[160];
    g_snprintf(buf, sizeof buf, f, a, b, c);
    return g_strdup(buf);
}

static void print_rows(GArray *rows, const char *const head[5], gboolean markdown) {
    int w[5];
    for (int c = 0; c < 5; c++)
        w[c] = (int)g_utf8_strlen(head[c], -1);
    for (guint i = 0; i < rows->len; i++)
        for (int c = 0; c < 5; c++)
            w[c] = MAX(w[c], (int)g_utf8_strlen(g_array_index(rows, Row, i).cells[c], -1));
    for (guint i = 0; i <= rows->len + 1; i++) {
        const char *const *cells = i == 0 ? head
                                   : i == 1
                                       ? NULL
                                       : (const char *const *)g_array_index(rows, Row, i - 2).cells;
        if (i == 1 && !markdown)
            continue;
        for (int c = 0; c < 5; c++) {
            if (i == 1) {
                printf("%s", c == 0 ? "| --- |" : " ---: |");
                continue;
            }
            const char *s = cells[c];
            int pad = w[c] - (int)g_utf8_strlen(s, -1);
            if (markdown)
                printf("%s %s |", c ? "" : "|", s);
            else if (c == 0)
                printf("%s%*s", s, pad, "");
            else
                printf("  %*s%s", pad, "", s);
        }
        printf("\n");
    }
}

static void rows_free(GArray *rows) {
    for (guint i = 0; i < rows->len; i++)
        for (int c = 0; c < 5; c++)
            g_free(g_array_index(rows, Row, i).cells[c]);
    g_array_free(rows, TRUE);
}

/* The comparison table (docs/EVENTS.md has the bands and where they come from). */
static int build_rows(GArray *rows, const OzEventStats *a, const OzEventStats *r,
                      double correlation, gsize paired) {
    int fails = 0;
    row_rel(rows, "events per recording: mean", "%.0f", a->events_mean, r->events_mean, 0.10,
            &fails);
    row_rel(rows, "events per recording: sd", "%.0f", a->events_sd, r->events_sd, 0.20, &fails);
    row_info(rows, "events per recording: p5 / median / p95",
             fmt3("%.0f / %.0f / %.0f", a->events_p5, a->events_median, a->events_p95),
             fmt3("%.0f / %.0f / %.0f", r->events_p5, r->events_median, r->events_p95));
    row_info(rows, "events per recording: min / max",
             g_strdup_printf("%.0f / %.0f", a->events_min, a->events_max),
             g_strdup_printf("%.0f / %.0f", r->events_min, r->events_max));
    {
        gboolean pass = a->on_fraction_mean >= 0.47 && a->on_fraction_mean <= 0.53;
        fails += !pass;
        rows_add(rows, "ON fraction: mean", g_strdup_printf("%.3f", a->on_fraction_mean),
                 g_strdup_printf("%.3f", r->on_fraction_mean), g_strdup("0.47–0.53"), pass);
    }
    row_info(rows, "ON fraction: p5 / p95",
             g_strdup_printf("%.3f / %.3f", a->on_fraction_p5, a->on_fraction_p95),
             g_strdup_printf("%.3f / %.3f", r->on_fraction_p5, r->on_fraction_p95));
    static const char *const sacc[3] = {"events at 0–105 ms", "events at 105–210 ms",
                                        "events at ≥ 210 ms"};
    for (int j = 0; j < 3; j++)
        row_rel(rows, sacc[j], "%.0f", a->saccade[j], r->saccade[j], 0.12, &fails);
    row_rel(rows, "events at t < 90 ms", "%.0f", a->early_events, r->early_events, 0.12, &fails);
    row_rel(rows, "binary cells in 30 bins of 3 ms", "%.0f", a->early_cells, r->early_cells, 0.12,
            &fails);
    row_info(rows, "last timestamp (ms): mean ± sd",
             g_strdup_printf("%.1f ± %.1f", a->last_t_mean_ms, a->last_t_sd_ms),
             g_strdup_printf("%.1f ± %.1f", r->last_t_mean_ms, r->last_t_sd_ms));
    row_rel(rows, "active pixels", "%.0f", a->active_pixels, r->active_pixels, 0.10, &fails);
    row_rel(rows, "active (pixel, polarity) pairs", "%.0f", a->active_pairs, r->active_pairs, 0.10,
            &fails);
    row_abs(rows, "bursts of size 1 (share)", "%.2f", a->burst_share[0], r->burst_share[0], 0.05,
            &fails);
    row_abs(rows, "mean burst size", "%.2f", a->burst_mean, r->burst_mean, 0.3, &fails);
    GString *bs_a = g_string_new(NULL), *bs_r = g_string_new(NULL);
    for (int j = 1; j < OZ_EVENT_STATS_BURST_SIZES; j++) {
        g_string_append_printf(bs_a, "%s%.3f", j > 1 ? " " : "", a->burst_share[j]);
        g_string_append_printf(bs_r, "%s%.3f", j > 1 ? " " : "", r->burst_share[j]);
    }
    row_info(rows, "bursts of size 2, 3, 4, 5, 6, 7+ (share)", g_string_free(bs_a, FALSE),
             g_string_free(bs_r, FALSE));
    row_abs(rows, "same-pixel intervals < 3 ms (CDF)", "%.2f", a->interval_cdf[2],
            r->interval_cdf[2], 0.08, &fails);
    row_abs(rows, "same-pixel intervals < 5 ms (CDF)", "%.2f", a->interval_cdf[3],
            r->interval_cdf[3], 0.08, &fails);
    row_info(
        rows, "same-pixel intervals < 1.5 / 2 / 10 ms (CDF)",
        fmt3("%.3f / %.3f / %.2f", a->interval_cdf[0], a->interval_cdf[1], a->interval_cdf[4]),
        fmt3("%.3f / %.3f / %.2f", r->interval_cdf[0], r->interval_cdf[1], r->interval_cdf[4]));
    if (paired >= 2) {
        gboolean pass = correlation >= 0.95;
        fails += !pass;
        rows_add(rows, "event count vs the reference's, same image (r)",
                 g_strdup_printf("%.3f (%zu pairs)", correlation, paired), g_strdup("1"),
                 g_strdup("≥ 0.95"), pass);
    }
    row_abs(rows, "mean event x", "%.2f", a->mean_x, r->mean_x, 0.5, &fails);
    row_abs(rows, "mean event y", "%.2f", a->mean_y, r->mean_y, 0.5, &fails);
    {
        double l1 = oz_event_stats_profile_l1(a, r);
        gboolean pass = l1 <= 0.2;
        fails += !pass;
        rows_add(rows, "5-ms activity profile: L1 distance", g_strdup_printf("%.3f", l1),
                 g_strdup("0"), g_strdup("≤ 0.2"), pass);
    }
    row_info(rows, "border band (2 px): Hz per pixel, ON share",
             g_strdup_printf("%.2f, %.2f", a->border_hz, a->border_on),
             g_strdup_printf("%.2f, %.2f", r->border_hz, r->border_on));
    for (int c = 0; c < OZ_EVENT_STATS_CLASSES; c++) {
        if (!a->class_n[c])
            continue;
        char name[64];
        g_snprintf(name, sizeof name, "class %d: mean events (%zu recordings)", c, a->class_n[c]);
        if (r->class_events[c] > 0) {
            row_rel(rows, name, "%.0f", a->class_events[c], r->class_events[c], 0.15, &fails);
        } else {
            row_info(rows, name, g_strdup_printf("%.0f", a->class_events[c]), g_strdup("—"));
        }
        g_snprintf(name, sizeof name, "class %d: events at t < 90 ms", c);
        row_info(rows, name, g_strdup_printf("%.0f", a->class_early[c]),
                 r->class_early[c] > 0 ? g_strdup_printf("%.0f", r->class_early[c])
                                       : g_strdup("—"));
    }
    return fails;
}

/* The profile, 5 ms per value, in lines of 12. */
static void print_profile(const char *title, const OzEventStats *st, gboolean markdown) {
    printf("%s%s (percent of the events below 310 ms, 5-ms bins from 0 ms):\n%s",
           markdown ? "\n" : "", title, markdown ? "\n```\n" : "");
    for (int b = 0; b < OZ_EVENT_STATS_PROFILE_BINS; b++)
        printf("%5.2f%s", 100 * st->profile[b], (b + 1) % 12 == 0 ? "\n" : " ");
    printf("\n%s", markdown ? "```\n" : "");
}

static int run_check(const Options *o, int (*report)(const GError *)) {
    g_autoptr(GError) error = NULL;
    gboolean markdown = FALSE;
    if (o->format && strcmp(o->format, "markdown") == 0)
        markdown = TRUE;
    else if (o->format && strcmp(o->format, "text") != 0)
        input_error(&error, "--format %s: expected text or markdown", o->format);
    int want = -1;
    if (!error && o->split) {
        if (strcmp(o->split, "train") == 0)
            want = SPLIT_TRAIN;
        else if (strcmp(o->split, "test") == 0)
            want = SPLIT_TEST;
        else
            input_error(&error, "--split %s: expected train or test", o->split);
    }
    if (!error && (o->from || o->out || o->sets))
        input_error(&error, "--check reads a folder: --from, --out and --set do not go with it");
    Checked a = {0}, b = {0};
    if (!error)
        check_folder(o->check, o->lists, want, &a, &error);
    if (!error && o->against)
        check_folder(o->against, NULL, want, &b, &error);
    if (error) {
        checked_clear(&a);
        checked_clear(&b);
        return report(error);
    }
    const OzEventStats *ref = o->against ? &b.st : oz_event_stats_real_nmnist();
    double r = 0;
    gsize paired = 0;
    if (o->against) {
        GArray *va = g_array_new(FALSE, FALSE, sizeof(double));
        GArray *vb = g_array_new(FALSE, FALSE, sizeof(double));
        GHashTableIter it;
        gpointer k, v;
        g_hash_table_iter_init(&it, a.counts);
        while (g_hash_table_iter_next(&it, &k, &v)) {
            const double *other = g_hash_table_lookup(b.counts, k);
            if (other) {
                g_array_append_val(va, *(double *)v);
                g_array_append_val(vb, *other);
            }
        }
        paired = va->len;
        r = oz_event_stats_pearson((double *)va->data, (double *)vb->data, paired);
        g_array_free(va, TRUE);
        g_array_free(vb, TRUE);
    }
    GArray *rows = g_array_new(FALSE, FALSE, sizeof(Row));
    int fails = build_rows(rows, &a.st, ref, r, paired);
    g_autofree char *ref_name = o->against ? g_strdup_printf("%s (%zu)", o->against, b.st.n)
                                           : g_strdup("real N-MNIST (1,100, built in)");
    printf("%s%s: %zu recordings (%zu train, %zu test)%s\n\n", markdown ? "### " : "", o->check,
           a.st.n, a.n[0], a.n[1],
           o->against ? "" : "; reference: the 1,100 real recordings of docs/EVENTS.md");
    const char *head[5] = {"statistic", o->check, ref_name, "band", "verdict"};
    print_rows(rows, head, markdown);
    print_profile(o->check, &a.st, markdown);
    if (o->against)
        print_profile(o->against, &b.st, markdown);
    printf("%s%d statistic%s outside %s band\n", markdown ? "\n" : "", fails, fails == 1 ? "" : "s",
           fails == 1 ? "its" : "their");
    rows_free(rows);
    checked_clear(&a);
    checked_clear(&b);
    return EXIT_OK;
}

/* ---- the command ---- */

static void print_keys(void) {
    printf("Converter keys (--set KEY=VALUE), with their defaults:\n");
    for (const OzParamSpec *s = oz_saccade_param_specs(); s->key; s++) {
        g_autofree char *what = oz_param_describe(s);
        printf("  %-16s = %-15s %s (%s)\n", s->key, s->def, s->help, what);
    }
}

int oz_convert_main(int argc, char **argv, int (*report)(const GError *error)) {
    g_auto(Options) o = {.seed = 2022, .test_limit = -1};
    GOptionEntry entries[] = {
        {"from", 0, 0, G_OPTION_ARG_STRING, &o.from, "mnist, fashion-mnist or idx", "SET"},
        {"dir", 0, 0, G_OPTION_ARG_FILENAME, &o.dir,
         "folder of the four IDX files, plain or .gz (default data/mnist, "
         "/usr/share/datasets/fashion-mnist)",
         "DIR"},
        {"images", 0, 0, G_OPTION_ARG_FILENAME, &o.images, "--from idx: the images", "IDX"},
        {"labels", 0, 0, G_OPTION_ARG_FILENAME, &o.labels, "--from idx: the labels", "IDX"},
        {"split", 0, 0, G_OPTION_ARG_STRING, &o.split,
         "--from idx: the split it goes to (default train); --check: only this split",
         "train|test"},
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &o.out, "output folder (new or empty)", "DIR"},
        {"limit", 0, 0, G_OPTION_ARG_INT, &o.limit, "the first N images of each split", "N"},
        {"test-limit", 0, 0, G_OPTION_ARG_INT, &o.test_limit,
         "the first N test images (default: --limit; 0: no test split)", "N"},
        {"seed", 0, 0, G_OPTION_ARG_INT64, &o.seed, "seed of the converter (default 2022)", "N"},
        {"threads", 't', 0, G_OPTION_ARG_INT, &o.threads, "worker threads (default: one per core)",
         "N"},
        {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &o.sets,
         "a converter key (repeatable; --keys lists them)", "KEY=VALUE"},
        {"force", 0, 0, G_OPTION_ARG_NONE, &o.force,
         "write into a non-empty --out, over the recordings of the same names", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet, "no progress output", NULL},
        {"keys", 0, 0, G_OPTION_ARG_NONE, &o.keys, "list the converter's keys and defaults", NULL},
        {"check", 0, 0, G_OPTION_ARG_FILENAME, &o.check,
         "print the statistics of an N-MNIST-layout folder instead of converting", "DIR"},
        {"list", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.lists,
         "--check: a list file of DIR (repeatable; test*.txt is the test split)", "FILE"},
        {"against", 0, 0, G_OPTION_ARG_FILENAME, &o.against,
         "--check: the reference folder (default: the real N-MNIST statistics built in)", "DIR2"},
        {"format", 0, 0, G_OPTION_ARG_STRING, &o.format, "--check: text (default) or markdown",
         "FORMAT"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- make an N-MNIST-like data set from images, or check one");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(
        ctx, "Examples:\n"
             "  opzosim convert --from mnist --dir data/mnist --out data/nmnist\n"
             "  opzosim convert --check data/nmnist --split test --format markdown\n"
             "Output: OUT/Train/<label>/<NNNNN>.bin, OUT/Test/<label>/<NNNNN>.bin (NNNNN: the "
             "1-based image index) and OUT/converter.txt.  docs/EVENTS.md describes the model.");
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "opzosim convert: %s\n", error->message);
        return EXIT_USAGE;
    }
    if (argc != 1) {
        fprintf(stderr, "opzosim convert: unexpected argument '%s' (see opzosim convert --help)\n",
                argv[1]);
        return EXIT_USAGE;
    }
    if (o.keys) {
        print_keys();
        return EXIT_OK;
    }
    if (o.check)
        return run_check(&o, report);
    if (o.lists || o.against || o.format) {
        fprintf(stderr, "opzosim convert: --list, --against and --format go with --check\n");
        return EXIT_USAGE;
    }
    if (!o.from) {
        fprintf(stderr, "opzosim convert: --from mnist|fashion-mnist|idx or --check DIR is "
                        "required (see opzosim convert --help)\n");
        return EXIT_USAGE;
    }
    return run_convert(&o, report);
}

/* oz-nmnist.c — N-MNIST recordings: the 5-byte record format (read and write), the
 * Train/0..9 folder layout and `ID LABEL` list files (docs/EVENTS.md, "Formats").
 *
 * A recording is read whole (about 20 KB) and parsed in one linear pass into one array of
 * events allocated up front at its largest possible size (len / 5), so parsing does no
 * allocation per event.  Every record is checked; the first bad one is an error naming the
 * file and its byte offset, and nothing is returned.  This file does not bin (oz-binning.c)
 * and does not know the data set's scenario keys (the dataset layer).
 */
#include "oz-events-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    RECORD_BYTES = 5,
    OVERFLOW_Y = 240,      /* a record with this y marks a timestamp overflow */
    OVERFLOW_US = 1 << 13, /* what each marker adds to the later timestamps */
    MAX_T_US = 1 << 23,    /* 23 timestamp bits */
    NMNIST_CLASSES = 10,
};

gboolean oz_nmnist_parse(const guint8 *bytes, gsize len, const char *name, OzEventStream *out,
                         GError **error) {
    g_return_val_if_fail(bytes != NULL || len == 0, FALSE);
    g_return_val_if_fail(name != NULL && out != NULL, FALSE);
    *out = (OzEventStream){.width = OZ_NMNIST_SIZE, .height = OZ_NMNIST_SIZE};
    if (len % RECORD_BYTES != 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                    "%s: %zu bytes is not a whole number of 5-byte N-MNIST records: the record "
                    "at byte offset %zu is incomplete",
                    name, len, len - len % RECORD_BYTES);
        return FALSE;
    }
    OzCamEvent *ev = g_new(OzCamEvent, len / RECORD_BYTES + 1);
    gsize n = 0;
    gint64 add = 0, prev = 0;
    for (gsize off = 0; off < len; off += RECORD_BYTES) {
        const guint8 *r = bytes + off;
        if (r[1] == OVERFLOW_Y) {
            /* Orchard's reader (and Tonic's) adds 2^13 µs to every later timestamp. */
            add += OVERFLOW_US;
            continue;
        }
        if (r[0] >= OZ_NMNIST_SIZE || r[1] >= OZ_NMNIST_SIZE) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_RANGE,
                        "%s: byte offset %zu: event at x = %u, y = %u is outside the 34×34 "
                        "sensor (0…33; y = 240 marks an overflow)",
                        name, off, r[0], r[1]);
            g_free(ev);
            return FALSE;
        }
        gint64 t = (gint64)((guint32)(r[2] & 0x7F) << 16 | (guint32)r[3] << 8 | r[4]) + add;
        if (t < prev) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_RANGE,
                        "%s: byte offset %zu: timestamp %" G_GINT64_FORMAT
                        " µs is below the previous event's %" G_GINT64_FORMAT " µs",
                        name, off, t, prev);
            g_free(ev);
            return FALSE;
        }
        prev = t;
        ev[n++] = (OzCamEvent){.t = t, .x = r[0], .y = r[1], .p = r[2] >> 7};
    }
    if (n == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY,
                    "%s: empty recording: no event in its %zu bytes", name, len);
        g_free(ev);
        return FALSE;
    }
    out->ev = ev;
    out->n = n;
    return TRUE;
}

gboolean oz_nmnist_read_file(const char *path, OzEventStream *out, GError **error) {
    g_return_val_if_fail(path != NULL && out != NULL, FALSE);
    return oz__event_read_file(path, OZ_NMNIST_SIZE, oz_nmnist_parse, out, error);
}

gboolean oz_nmnist_write_file(const char *path, const OzEventStream *s, GError **error) {
    g_return_val_if_fail(path != NULL && s != NULL && (s->ev != NULL || s->n == 0), FALSE);
    /* Everything is checked before a byte is written, so a refused stream leaves no file. */
    if (s->n == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY,
                    "%s: not written: no event (the reader refuses an empty recording)", path);
        return FALSE;
    }
    for (gsize i = 0; i < s->n; i++) {
        const OzCamEvent *e = &s->ev[i];
        const char *why = NULL;
        if (e->x >= OZ_NMNIST_SIZE || e->y >= OZ_NMNIST_SIZE)
            why = "x or y outside the 34×34 sensor";
        else if (e->t < 0 || e->t >= MAX_T_US)
            why = "a timestamp outside 0 ≤ t < 2^23 µs";
        else if (i > 0 && e->t < s->ev[i - 1].t)
            why = "a timestamp below the previous event's";
        else if (e->p > 1)
            why = "a polarity other than 0 or 1";
        if (why) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_RANGE,
                        "%s: not written: event %zu (t = %" G_GINT64_FORMAT
                        " µs, x = %u, y = %u, p = %u) has %s",
                        path, i, e->t, e->x, e->y, e->p, why);
            return FALSE;
        }
    }
    g_autofree guint8 *buf = g_malloc(s->n * RECORD_BYTES);
    for (gsize i = 0; i < s->n; i++) {
        const OzCamEvent *e = &s->ev[i];
        guint8 *r = buf + i * RECORD_BYTES;
        guint32 t = (guint32)e->t;
        r[0] = (guint8)e->x;
        r[1] = (guint8)e->y;
        r[2] = (guint8)((e->p ? 0x80u : 0u) | (t >> 16 & 0x7Fu));
        r[3] = (guint8)(t >> 8);
        r[4] = (guint8)t;
    }
    /* g_file_set_contents writes a temporary file beside path and renames it over path, so a
     * reader never sees half a recording. */
    g_autoptr(GError) local = NULL;
    if (!g_file_set_contents(path, (const char *)buf, (gssize)(s->n * RECORD_BYTES), &local)) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED, "%s: cannot write: %s", path,
                    local->message);
        return FALSE;
    }
    return TRUE;
}

/* ---- file lists ---------------------------------------------------------------------- */

typedef struct {
    char *path;
    const char *base; /* the file name inside path */
    guint8 label;
} Entry;

/* A file name's stem as a number when it is all digits (at most 18), else −1. */
static gint64 numeric_stem(const char *base) {
    gint64 v = 0;
    int digits = 0;
    for (const char *p = base; *p && *p != '.'; p++) {
        if (!g_ascii_isdigit(*p) || ++digits > 18)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return digits ? v : -1;
}

/* Numbered files (the original sample indices, or the converter's) in numeric order, so that
 * 2.bin comes before 10.bin; numbered before named; then by name and label, a total order. */
static int entry_cmp(const void *pa, const void *pb) {
    const Entry *a = pa, *b = pb;
    gint64 na = numeric_stem(a->base), nb = numeric_stem(b->base);
    if (na != nb) {
        if (na < 0 || nb < 0)
            return na < 0 ? 1 : -1;
        return na < nb ? -1 : 1;
    }
    int c = strcmp(a->base, b->base);
    if (c)
        return c;
    return (int)a->label - (int)b->label;
}

static void take_entries(GArray *entries, int limit, OzEventFileList *out) {
    gsize n = entries->len;
    if (limit > 0 && (gsize)limit < n)
        n = (gsize)limit;
    out->paths = g_new0(char *, n + 1);
    out->labels = g_new(guint8, n ? n : 1);
    out->n = n;
    for (gsize i = 0; i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        if (i < n) {
            out->paths[i] = e->path;
            out->labels[i] = e->label;
        } else {
            g_free(e->path);
        }
    }
    g_array_set_size(entries, 0);
}

static void entries_free(GArray *entries) {
    for (guint i = 0; i < entries->len; i++)
        g_free(g_array_index(entries, Entry, i).path);
    g_array_free(entries, TRUE);
}

gboolean oz_nmnist_list_dir(const char *split_dir, int limit, OzEventFileList *out,
                            GError **error) {
    g_return_val_if_fail(split_dir != NULL && out != NULL, FALSE);
    *out = (OzEventFileList){0};
    GArray *entries = g_array_new(FALSE, FALSE, sizeof(Entry));
    for (int c = 0; c < NMNIST_CLASSES; c++) {
        char name[4];
        g_snprintf(name, sizeof name, "%d", c);
        g_autofree char *folder = g_build_filename(split_dir, name, NULL);
        g_autoptr(GError) local = NULL;
        GDir *d = g_dir_open(folder, 0, &local);
        if (!d) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED,
                        "%s: cannot list the class folder %d: %s (the N-MNIST layout is "
                        "0/ … 9/ with .bin files)",
                        folder, c, local->message);
            entries_free(entries);
            return FALSE;
        }
        for (const char *f; (f = g_dir_read_name(d));) {
            if (!g_str_has_suffix(f, ".bin"))
                continue;
            Entry e = {.path = g_build_filename(folder, f, NULL), .label = (guint8)c};
            g_array_append_val(entries, e);
        }
        g_dir_close(d);
    }
    if (entries->len == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY,
                    "%s: no .bin recording in its class folders 0/ … 9/", split_dir);
        entries_free(entries);
        return FALSE;
    }
    /* The base names point into the paths, which no longer move. */
    for (guint i = 0; i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        e->base = strrchr(e->path, G_DIR_SEPARATOR) + 1;
    }
    g_array_sort(entries, entry_cmp);
    take_entries(entries, limit, out);
    entries_free(entries);
    return TRUE;
}

/* Whether id names a file beside the list and nothing else: no folder separator, not `.` or
 * `..`, no control byte. */
static gboolean id_is_plain(const char *id) {
    if (!*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return FALSE;
    for (const char *p = id; *p; p++)
        if (*p == '/' || *p == '\\' || g_ascii_iscntrl(*p))
            return FALSE;
    return TRUE;
}

gboolean oz_nmnist_list_file(const char *list_path, int classes, int limit, OzEventFileList *out,
                             GError **error) {
    g_return_val_if_fail(list_path != NULL && out != NULL, FALSE);
    g_return_val_if_fail(classes >= 1 && classes <= 256, FALSE);
    *out = (OzEventFileList){0};
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    if (!g_file_get_contents(list_path, &text, NULL, &local)) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED, "%s: cannot read: %s",
                    list_path, local->message);
        return FALSE;
    }
    g_autofree char *dir = g_path_get_dirname(list_path);
    GArray *entries = g_array_new(FALSE, FALSE, sizeof(Entry));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (int ln = 0; lines[ln]; ln++) {
        if (limit > 0 && entries->len >= (guint)limit)
            break;
        const int line = ln + 1;
        g_auto(GStrv) tok = g_strsplit_set(g_strstrip(lines[ln]), " \t\r\v\f", -1);
        /* g_strsplit_set gives empty tokens between repeated separators: squeeze them. */
        int nt = 0;
        for (int k = 0; tok[k]; k++)
            if (*tok[k])
                tok[nt++] = tok[k];
            else
                g_free(tok[k]);
        tok[nt] = NULL;
        if (nt == 0 || tok[0][0] == '#')
            continue;
        const char *why = NULL;
        g_autofree char *why_owned = NULL;
        OzEventsError code = OZ_EVENTS_ERROR_FORMAT;
        long label = -1;
        if (!id_is_plain(tok[0])) {
            why = "the ID is not a plain file name (no '/', '\\', '.' or '..')";
        } else if (nt < 2) {
            why = "missing label (expected `ID LABEL`)";
            code = OZ_EVENTS_ERROR_LABEL;
        } else if (nt > 2) {
            why = "extra text after the label (expected `ID LABEL`)";
        } else {
            code = OZ_EVENTS_ERROR_LABEL;
            char *end = NULL;
            errno = 0;
            label = strtol(tok[1], &end, 10);
            if (errno || end == tok[1] || *end || label < 0 || label >= classes)
                why = why_owned =
                    g_strdup_printf("label '%s' is not an integer in 0…%d", tok[1], classes - 1);
        }
        char *path = NULL;
        if (!why) {
            g_autofree char *bin = g_strconcat(tok[0], ".bin", NULL);
            g_autofree char *bs2 = g_strconcat(tok[0], ".bs2", NULL);
            path = g_build_filename(dir, bin, NULL);
            if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
                g_free(path);
                path = g_build_filename(dir, bs2, NULL);
                if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
                    g_clear_pointer(&path, g_free);
                    code = OZ_EVENTS_ERROR_FAILED;
                    why = why_owned =
                        g_strdup_printf("neither %s nor %s exists beside the list file", bin, bs2);
                }
            }
        }
        if (why) {
            g_set_error(error, OZ_EVENTS_ERROR, (int)code, "%s:%d: %s", list_path, line, why);
            entries_free(entries);
            return FALSE;
        }
        Entry e = {.path = path, .label = (guint8)label};
        g_array_append_val(entries, e);
    }
    if (entries->len == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY,
                    "%s: lists no recording (expected `ID LABEL` lines)", list_path);
        entries_free(entries);
        return FALSE;
    }
    take_entries(entries, limit, out);
    entries_free(entries);
    return TRUE;
}

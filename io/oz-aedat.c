/* oz-aedat.c — DVS128 Gesture recordings: AEDAT 3.1 polarity packets, the `*_labels.csv`
 * cuts, the trial lists, and cutting and downsampling a stream (docs/EVENTS.md, "Formats").
 *
 * A file is read whole and walked twice: the first pass checks the header and every packet
 * header and counts the polarity events, the second decodes them into one array allocated at
 * that size.  Only polarity packets (type 1) are decoded; other packets are skipped by their
 * declared size.  This file does not bin (oz-binning.c) and knows no scenario key.
 */
#include "oz-events-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    PACKET_HEADER_BYTES = 28,
    POLARITY_TYPE = 1,
    POLARITY_EVENT_BYTES = 8,
    GESTURE_CLASSES = 11,
};

static const char MAGIC[] = "#!AER-DAT3.1";
static const char END_HEADER[] = "#!END-HEADER";

static guint32 le32(const guint8 *p) {
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static gint16 le16s(const guint8 *p) {
    return (gint16)(guint16)((guint32)p[0] | (guint32)p[1] << 8);
}

/* The offset just past the header, or 0 with error set.  Header lines start with '#' and end
 * in "\r\n" (a bare "\n" is accepted); the first is the version, the last #!END-HEADER. */
static gsize skip_header(const guint8 *b, gsize len, const char *path, GError **error) {
    gsize off = 0;
    gboolean first = TRUE;
    while (off < len) {
        const guint8 *nl = memchr(b + off, '\n', len - off);
        if (!nl)
            break;
        gsize end = (gsize)(nl - b); /* the '\n' */
        gsize text_end = end > off && b[end - 1] == '\r' ? end - 1 : end;
        const char *line = (const char *)b + off;
        gsize n = text_end - off;
        if (first) {
            if (n != strlen(MAGIC) || memcmp(line, MAGIC, n) != 0) {
                g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                            "%s: byte offset 0: not an AEDAT 3.1 file (the first line must be "
                            "%s; found '%.*s')",
                            path, MAGIC, (int)MIN(n, 40), line);
                return 0;
            }
            first = FALSE;
        } else if (n == 0 || line[0] != '#') {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                        "%s: byte offset %zu: header line does not start with '#' before %s", path,
                        off, END_HEADER);
            return 0;
        } else if (n == strlen(END_HEADER) && memcmp(line, END_HEADER, n) == 0) {
            return end + 1;
        }
        off = end + 1;
    }
    if (first)
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                    "%s: byte offset 0: not an AEDAT 3.1 file (no %s line)", path, MAGIC);
    else
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                    "%s: byte offset %zu: the header has no %s line", path, off, END_HEADER);
    return 0;
}

typedef struct {
    gint16 type;
    gint32 size, overflow, capacity;
} PacketHeader;

static PacketHeader packet_header(const guint8 *p) {
    return (PacketHeader){.type = le16s(p),
                          .size = (gint32)le32(p + 4),
                          .overflow = (gint32)le32(p + 12),
                          .capacity = (gint32)le32(p + 20)};
}

/* Checks the packet at off and returns its total length, or 0 with error set. */
static gsize check_packet(const guint8 *b, gsize len, gsize off, const char *path, GError **error) {
    if (len - off < PACKET_HEADER_BYTES) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                    "%s: byte offset %zu: truncated packet header (%zu of 28 bytes)", path, off,
                    len - off);
        return 0;
    }
    PacketHeader h = packet_header(b + off);
    if (h.size < 0 || h.capacity < 0 || h.overflow < 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                    "%s: byte offset %zu: packet header with a negative field (eventSize %d, "
                    "eventCapacity %d, eventTSOverflow %d)",
                    path, off, h.size, h.capacity, h.overflow);
        return 0;
    }
    if (h.type == POLARITY_TYPE && h.size != POLARITY_EVENT_BYTES) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                    "%s: byte offset %zu: polarity packet with eventSize %d (expected 8)", path,
                    off, h.size);
        return 0;
    }
    const guint64 body = (guint64)h.size * (guint64)h.capacity;
    if (body > len - off - PACKET_HEADER_BYTES) {
        g_set_error(
            error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
            "%s: byte offset %zu: truncated packet: %d events of %d bytes need %" G_GUINT64_FORMAT
            " bytes after its header, the file has %zu",
            path, off, h.capacity, h.size, body, len - off - PACKET_HEADER_BYTES);
        return 0;
    }
    return PACKET_HEADER_BYTES + (gsize)body;
}

static gint cmp_time(gconstpointer a, gconstpointer b, gpointer unused) {
    (void)unused;
    gint64 ta = ((const OzCamEvent *)a)->t, tb = ((const OzCamEvent *)b)->t;
    return (ta > tb) - (ta < tb);
}

gboolean oz_aedat3_parse(const guint8 *b, gsize len, const char *path, OzEventStream *out,
                         GError **error) {
    g_return_val_if_fail(b != NULL || len == 0, FALSE);
    g_return_val_if_fail(path != NULL && out != NULL, FALSE);
    *out = (OzEventStream){.width = OZ_DVS128_SIZE, .height = OZ_DVS128_SIZE};
    const gsize start = skip_header(b, len, path, error);
    if (!start)
        return FALSE;

    /* Pass 1: every packet's header, and room for the polarity events. */
    guint64 room = 0;
    for (gsize off = start; off < len;) {
        gsize plen = check_packet(b, len, off, path, error);
        if (!plen)
            return FALSE;
        PacketHeader h = packet_header(b + off);
        if (h.type == POLARITY_TYPE)
            room += (guint64)h.capacity;
        off += plen;
    }

    /* Pass 2: the valid polarity events. */
    OzCamEvent *ev = g_new(OzCamEvent, room ? room : 1);
    gsize n = 0;
    gboolean sorted = TRUE;
    for (gsize off = start; off < len;) {
        PacketHeader h = packet_header(b + off);
        const gsize plen = PACKET_HEADER_BYTES + (gsize)h.size * (gsize)h.capacity;
        if (h.type == POLARITY_TYPE) {
            for (gint32 i = 0; i < h.capacity; i++) {
                const gsize at = off + PACKET_HEADER_BYTES + (gsize)i * POLARITY_EVENT_BYTES;
                const guint32 data = le32(b + at), ts = le32(b + at + 4);
                if (!(data & 1u))
                    continue; /* invalid: dropped */
                const guint32 x = data >> 17 & 0x7FFFu, y = data >> 2 & 0x7FFFu;
                const char *why = NULL;
                if (x >= OZ_DVS128_SIZE || y >= OZ_DVS128_SIZE)
                    why = "outside the 128×128 sensor";
                else if (ts > G_MAXINT32)
                    why = "with a negative timestamp";
                if (why) {
                    g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_RANGE,
                                "%s: byte offset %zu: polarity event at x = %u, y = %u, t = %d "
                                "%s",
                                path, at, x, y, (gint32)ts, why);
                    g_free(ev);
                    return FALSE;
                }
                const gint64 t = (gint64)h.overflow << 31 | (gint64)ts;
                if (n && t < ev[n - 1].t)
                    sorted = FALSE;
                ev[n++] = (OzCamEvent){
                    .t = t, .x = (guint16)x, .y = (guint16)y, .p = (guint8)(data >> 1 & 1u)};
            }
        }
        off += plen;
    }
    if (n == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY,
                    "%s: empty recording: no valid polarity event", path);
        g_free(ev);
        return FALSE;
    }
    /* A stream is in time order.  Packets from the camera are; should a file's not be, a
     * stable sort keeps equal timestamps in file order (cutting by time, as the labels do,
     * does not depend on the order). */
    if (!sorted) {
        g_debug("%s: events out of time order; sorted", path);
        g_qsort_with_data(ev, (gint)n, sizeof(OzCamEvent), cmp_time, NULL);
    }
    out->ev = ev;
    out->n = n;
    return TRUE;
}

gboolean oz_aedat3_read_file(const char *path, OzEventStream *out, GError **error) {
    g_return_val_if_fail(path != NULL && out != NULL, FALSE);
    return oz__event_read_file(path, OZ_DVS128_SIZE, oz_aedat3_parse, out, error);
}

/* ---- DVS-Gesture labels and trials --------------------------------------------------- */

/* Parses text as a whole int64 (spaces around allowed). */
static gboolean parse_i64(const char *text, gint64 *v) {
    g_autofree char *s = g_strstrip(g_strdup(text));
    if (!*s)
        return FALSE;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return FALSE;
    *v = x;
    return TRUE;
}

gboolean oz_gesture_read_labels(const char *csv_path, GArray **cuts, GError **error) {
    g_return_val_if_fail(csv_path != NULL && cuts != NULL, FALSE);
    *cuts = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    if (!g_file_get_contents(csv_path, &text, NULL, &local)) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED, "%s: cannot read: %s", csv_path,
                    local->message);
        return FALSE;
    }
    g_autoptr(GArray) out = g_array_new(FALSE, FALSE, sizeof(OzGestureCut));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    gboolean header = FALSE;
    for (int ln = 0; lines[ln]; ln++) {
        const int line = ln + 1;
        char *l = g_strstrip(lines[ln]);
        if (!*l)
            continue;
        g_auto(GStrv) f = g_strsplit(l, ",", -1);
        gint64 v[3] = {0, 0, 0};
        const gboolean numeric = g_strv_length(f) == 3 && parse_i64(f[0], &v[0]) &&
                                 parse_i64(f[1], &v[1]) && parse_i64(f[2], &v[2]);
        if (!header) {
            /* The first line names the columns; a row of numbers there means it is missing
             * and a cut would be taken for it. */
            if (numeric) {
                g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_LABEL,
                            "%s:%d: expected the header row (class,startTime_usec,"
                            "endTime_usec), found a data row",
                            csv_path, line);
                return FALSE;
            }
            header = TRUE;
            continue;
        }
        const char *why = NULL;
        if (!numeric)
            why = "expected `class,startTime_usec,endTime_usec` (three integers)";
        else if (v[0] < 1 || v[0] > GESTURE_CLASSES)
            why = "class outside 1…11";
        else if (v[1] < 0 || v[2] <= v[1])
            why = "expected 0 ≤ startTime_usec < endTime_usec";
        if (why) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_LABEL, "%s:%d: %s (found '%s')",
                        csv_path, line, why, l);
            return FALSE;
        }
        OzGestureCut c = {.label = (int)v[0] - 1, .start = v[1], .end = v[2]};
        g_array_append_val(out, c);
    }
    if (out->len == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_LABEL, "%s: no label row", csv_path);
        return FALSE;
    }
    *cuts = g_steal_pointer(&out);
    return TRUE;
}

gboolean oz_gesture_read_trials(const char *txt_path, char ***names, GError **error) {
    g_return_val_if_fail(txt_path != NULL && names != NULL, FALSE);
    *names = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GError) local = NULL;
    if (!g_file_get_contents(txt_path, &text, NULL, &local)) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED, "%s: cannot read: %s", txt_path,
                    local->message);
        return FALSE;
    }
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (int ln = 0; lines[ln]; ln++) {
        const char *name = g_strstrip(lines[ln]);
        if (!*name)
            continue;
        gboolean plain = strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
        for (const char *p = name; *p && plain; p++)
            plain = *p != '/' && *p != '\\' && !g_ascii_iscntrl(*p);
        if (!plain || !g_str_has_suffix(name, ".aedat") || strlen(name) == strlen(".aedat")) {
            g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FORMAT,
                        "%s:%d: '%s' is not a plain .aedat file name", txt_path, ln + 1, name);
            return FALSE;
        }
        g_ptr_array_add(out, g_strdup(name));
    }
    if (out->len == 0) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_EMPTY, "%s: lists no trial", txt_path);
        return FALSE;
    }
    g_ptr_array_add(out, NULL);
    *names = (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
    return TRUE;
}

/* ---- cutting and downsampling -------------------------------------------------------- */

/* The first index whose timestamp is ≥ t (the events are in time order). */
static gsize lower_bound(const OzEventStream *s, gint64 t) {
    gsize lo = 0, hi = s->n;
    while (lo < hi) {
        gsize mid = lo + (hi - lo) / 2;
        if (s->ev[mid].t < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void oz_event_stream_cut(const OzEventStream *s, gint64 start, gint64 end, OzEventStream *out) {
    g_return_if_fail(s != NULL && out != NULL);
    *out = (OzEventStream){.width = s->width, .height = s->height};
    const gsize a = lower_bound(s, start), z = MAX(a, lower_bound(s, end));
    out->n = z - a;
    out->ev = out->n ? g_memdup2(s->ev + a, out->n * sizeof(OzCamEvent)) : NULL;
}

void oz_event_stream_downsample(OzEventStream *s, int size) {
    g_return_if_fail(s != NULL && size >= 1 && size <= s->width && size <= s->height);
    /* Integer arithmetic: ⌊x·size/width⌋ exactly, as Tonic's ⌊x·(size/width)⌋ is for the
     * factors it is used with (48/128 and 32/128 are exact in binary). */
    for (gsize i = 0; i < s->n; i++) {
        s->ev[i].x = (guint16)((guint32)s->ev[i].x * (guint32)size / (guint32)s->width);
        s->ev[i].y = (guint16)((guint32)s->ev[i].y * (guint32)size / (guint32)s->height);
    }
    s->width = s->height = size;
}

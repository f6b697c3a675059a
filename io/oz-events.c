/* oz-events.c — what the event-camera readers share: the error domain and the clean-up of
 * streams and file lists (io/oz-events.h, docs/EVENTS.md), and reading a recording file whole
 * for a format's parser (io/oz-events-private.h).  The formats themselves are in
 * oz-nmnist.c and oz-aedat.c, binning in oz-binning.c. */
#include "oz-events-private.h"

/* clang-format would split the quark's name at its hyphens (it reads them as
 * minus signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-events-error-quark, oz_events_error)
// clang-format on

void oz_event_stream_clear(OzEventStream *s) {
    if (!s)
        return;
    g_clear_pointer(&s->ev, g_free);
    s->n = 0;
}

void oz_event_file_list_clear(OzEventFileList *l) {
    if (!l)
        return;
    for (gsize i = 0; i < l->n; i++)
        g_free(l->paths[i]);
    g_clear_pointer(&l->paths, g_free);
    g_clear_pointer(&l->labels, g_free);
    l->n = 0;
}

gboolean oz__event_read_file(const char *path, int size, OzEventParseFunc parse, OzEventStream *out,
                             GError **error) {
    *out = (OzEventStream){.width = size, .height = size};
    g_autofree char *bytes = NULL;
    gsize len = 0;
    g_autoptr(GError) local = NULL;
    if (!g_file_get_contents(path, &bytes, &len, &local)) {
        g_set_error(error, OZ_EVENTS_ERROR, OZ_EVENTS_ERROR_FAILED, "%s: cannot read: %s", path,
                    local->message);
        return FALSE;
    }
    return parse((const guint8 *)bytes, len, path, out, error);
}

/* oz-events-private.h — what the event-camera readers (io/oz-nmnist.c, io/oz-aedat.c)
 * share inside io/: reading a recording file whole before its format's parser. */
#pragma once

#include "oz-events.h"

/* A format's parser of a recording in memory (oz_nmnist_parse, oz_aedat3_parse). */
typedef gboolean (*OzEventParseFunc)(const guint8 *bytes, gsize len, const char *name,
                                     OzEventStream *out, GError **error);

/* Sets *out to an empty stream of size × size pixels, reads the file at path whole and
 * parses it with parse (path names it in messages).  A file that cannot be read is
 * OZ_EVENTS_ERROR_FAILED "PATH: cannot read: …". */
gboolean oz__event_read_file(const char *path, int size, OzEventParseFunc parse,
                             OzEventStream *out, GError **error);

/* oz-idx-private.h — internals of io/oz-idx.c that the tests reach.
 *
 * The reader refuses a file whose (decompressed) data reaches a limit, 4 GiB, so a
 * small gzip bomb cannot fill memory.  A test cannot afford 4 GiB, so it lowers the
 * limit here, checks the refusal at a small size, and checks that the default is 4 GiB.
 */
#pragma once

#include <glib.h>

/* The data of one IDX file after decompression must stay below this many bytes. */
#define OZ__IDX_MAX_BYTES ((guint64)1 << 32)

/* Sets the limit (a multiple of 1 MiB; 0 restores OZ__IDX_MAX_BYTES) and returns the
 * previous one.  For tests only: the program never calls it. */
guint64 oz__idx_set_max_bytes_for_tests(guint64 max_bytes);

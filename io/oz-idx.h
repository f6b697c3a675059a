/* oz-idx.h — IDX files (the MNIST family), plain or gzip-compressed (docs/ALGORITHM.md §15.1).
 *
 * An IDX file is a 4-byte magic (0, 0, type, ndims), ndims big-endian uint32 sizes, and
 * the body.  Only type 0x08 (uint8) is accepted, which is what MNIST and Fashion-MNIST
 * use.  The whole file is validated: magic, dimension count, sizes positive with a
 * product of at most 2^34 bytes (formed without overflow; past it, the message shows every
 * size and the product), that the body is exactly the product of the sizes (a short body
 * names the offset where it ends).  gzip input is
 * recognised by its own magic, not by the file name, and decompressed with GLib's zlib
 * converter.
 */
#pragma once

#include <glib.h>

#define OZ_IDX_ERROR (oz_idx_error_quark())
GQuark oz_idx_error_quark(void);

typedef enum {
    OZ_IDX_ERROR_FAILED,
    OZ_IDX_ERROR_MAGIC,
    OZ_IDX_ERROR_TRUNCATED,
    OZ_IDX_ERROR_SIZE,
    OZ_IDX_ERROR_LABEL,
} OzIdxError;

typedef struct {
    int ndims;
    guint32 dims[4];
    gsize count; /* product of dims */
    guint8 *data; /* (count) */
} OzIdx;

/* Reads and validates path.  Returns FALSE with an error naming the file otherwise. */
gboolean oz_idx_load(const char *path, OzIdx *out, GError **error);
/* The same from bytes in memory (plain or gzip); name is used in messages. */
gboolean oz_idx_load_bytes(GBytes *bytes, const char *name, OzIdx *out, GError **error);
void oz_idx_clear(OzIdx *idx);

/* A labelled image set: images (n, features) and labels (n), each label < classes. */
typedef struct {
    int n, rows, cols, features, classes;
    guint8 *images;
    guint8 *labels;
} OzImageSet;

/* Loads an images file and a labels file and checks they agree: images 3-D, labels 1-D,
 * equal counts, every label < classes.  limit > 0 keeps only the first limit samples. */
gboolean oz_image_set_load(const char *images_path, const char *labels_path, int classes,
                           int limit, OzImageSet *out, GError **error);
void oz_image_set_clear(OzImageSet *set);

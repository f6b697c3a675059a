/* oz-idx.c — IDX reader.  The file is read whole (MNIST's largest file is 47 MB); the
 * gzip path streams through a GConverterInputStream. */
#include "oz-idx.h"
#include "oz-idx-private.h"

#include <gio/gio.h>
#include <string.h>

G_DEFINE_QUARK(oz-idx-error-quark, oz_idx_error)

/* Only the tests change it (oz-idx-private.h). */
static guint64 max_bytes = OZ__IDX_MAX_BYTES;

guint64 oz__idx_set_max_bytes_for_tests(guint64 limit) {
    guint64 old = max_bytes;
    max_bytes = limit ? limit : OZ__IDX_MAX_BYTES;
    return old;
}

/* The whole of a stream, through a gzip decompressor when the first two bytes are the
 * gzip magic.  name is for messages. */
static GBytes *read_stream(GInputStream *raw, gboolean gz, const char *name, GError **error) {
    g_autoptr(GInputStream) in = NULL;
    if (gz) {
        g_autoptr(GZlibDecompressor) dec = g_zlib_decompressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP);
        in = g_converter_input_stream_new(raw, G_CONVERTER(dec));
    } else {
        in = g_object_ref(raw);
    }
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autoptr(GError) local = NULL;
    guint8 chunk[1 << 16];
    for (;;) {
        gssize r = g_input_stream_read(in, chunk, sizeof chunk, NULL, &local);
        if (r < 0) {
            g_set_error(error, OZ_IDX_ERROR, gz ? OZ_IDX_ERROR_TRUNCATED : OZ_IDX_ERROR_FAILED,
                        "%s: read failed after %u bytes%s: %s", name, buf->len,
                        gz ? " of decompressed data (corrupt or truncated gzip?)" : "",
                        local->message);
            return NULL;
        }
        if (r == 0)
            break;
        /* At the limit, not past it: a GByteArray holds at most 4 GiB − 1 bytes. */
        if ((guint64)buf->len + (guint64)r >= max_bytes) {
            const gboolean gib = max_bytes % (1u << 30) == 0;
            g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                        "%s: %" G_GUINT64_FORMAT " %s or more of data; not an IDX file of this "
                        "project",
                        name, gib ? max_bytes >> 30 : max_bytes >> 20, gib ? "GiB" : "MiB");
            return NULL;
        }
        g_byte_array_append(buf, chunk, (guint)r);
    }
    return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
}

static GBytes *read_all(const char *path, GError **error) {
    g_autoptr(GFile) file = g_file_new_for_path(path);
    g_autoptr(GError) local = NULL;
    g_autoptr(GFileInputStream) fin = g_file_read(file, NULL, &local);
    if (!fin) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_FAILED, "%s: cannot open: %s", path,
                    local->message);
        return NULL;
    }
    guint8 head[2] = {0, 0};
    gsize got = 0;
    if (!g_input_stream_read_all(G_INPUT_STREAM(fin), head, 2, &got, NULL, &local) ||
        !g_seekable_seek(G_SEEKABLE(fin), 0, G_SEEK_SET, NULL, &local)) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_FAILED, "%s: cannot read: %s", path,
                    local->message);
        return NULL;
    }
    return read_stream(G_INPUT_STREAM(fin), got == 2 && head[0] == 0x1f && head[1] == 0x8b,
                       path, error);
}

static gboolean parse(GBytes *bytes, const char *path, OzIdx *out, GError **error);

/* The largest body a header may promise.  read_stream stops at 4 GiB anyway; this bounds
 * the product of the sizes, which is checked before the body is looked at. */
#define IDX_MAX_BYTES ((guint64)1 << 34)

static guint32 be32(const guint8 *p) {
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

gboolean oz_idx_load(const char *path, OzIdx *out, GError **error) {
    memset(out, 0, sizeof *out);
    g_autoptr(GBytes) bytes = read_all(path, error);
    if (!bytes)
        return FALSE;
    return parse(bytes, path, out, error);
}

gboolean oz_idx_load_bytes(GBytes *raw, const char *name, OzIdx *out, GError **error) {
    memset(out, 0, sizeof *out);
    gsize n = 0;
    const guint8 *d = g_bytes_get_data(raw, &n);
    g_autoptr(GInputStream) mem = g_memory_input_stream_new_from_bytes(raw);
    g_autoptr(GBytes) bytes = read_stream(mem, n >= 2 && d[0] == 0x1f && d[1] == 0x8b, name, error);
    if (!bytes)
        return FALSE;
    return parse(bytes, name, out, error);
}

static gboolean parse(GBytes *bytes, const char *path, OzIdx *out, GError **error) {
    gsize len = 0;
    const guint8 *p = g_bytes_get_data(bytes, &len);
    if (len < 4) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_TRUNCATED,
                    "%s: %zu bytes, too short for an IDX magic number (4 bytes)", path, len);
        return FALSE;
    }
    if (p[0] != 0 || p[1] != 0 || p[2] != 0x08 || p[3] < 1 || p[3] > 4) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_MAGIC,
                    "%s: bad IDX magic %02x %02x %02x %02x at offset 0: expected 00 00 08 "
                    "(unsigned bytes) then 1..4 dimensions",
                    path, p[0], p[1], p[2], p[3]);
        return FALSE;
    }
    int nd = p[3];
    gsize head = 4 + 4 * (gsize)nd;
    if (len < head) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_TRUNCATED,
                    "%s: truncated header: %zu bytes, %d dimensions need %zu", path, len, nd,
                    head);
        return FALSE;
    }
    for (int i = 0; i < nd; i++) {
        out->dims[i] = be32(p + 4 + 4 * i);
        if (out->dims[i] == 0) {
            g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                        "%s: dimension %d is 0 at offset %d: sizes must be positive", path, i,
                        4 + 4 * i);
            return FALSE;
        }
    }
    /* Every size is positive now (no division by zero below).  The product is checked
     * before each multiplication: a running product up to the limit times a 32-bit size
     * could pass 2^64 and wrap to a small number that an empty body would match. */
    guint64 count = 1;
    int over = -1; /* the dimension whose factor takes the product past the limit */
    for (int i = 0; i < nd && over < 0; i++) {
        if (out->dims[i] > IDX_MAX_BYTES / count)
            over = i;
        else
            count *= out->dims[i];
    }
    if (over >= 0) {
        /* Every size and their product as far as it fits in 64 bits, so the message shows
         * which number of the header is out of proportion. */
        GString *dims = g_string_new(NULL);
        guint64 product = 1;
        gboolean fits = TRUE;
        for (int i = 0; i < nd; i++) {
            g_string_append_printf(dims, "%s%u", i ? " × " : "", out->dims[i]);
            fits = fits && out->dims[i] <= G_MAXUINT64 / product;
            if (fits)
                product *= out->dims[i];
        }
        g_autofree char *total =
            fits ? g_strdup_printf("%" G_GUINT64_FORMAT, product) : g_strdup("2^64 or more");
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                    "%s: the header's sizes (offsets 4 to %zu) give dimensions %s = %s bytes, "
                    "more than the limit of %" G_GUINT64_FORMAT " (2^34); the product passes it "
                    "at dimension %d (%u, offset %d)",
                    path, head - 1, dims->str, total, IDX_MAX_BYTES, over, out->dims[over],
                    4 + 4 * over);
        g_string_free(dims, TRUE);
        return FALSE;
    }
    if (len - head < count) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_TRUNCATED,
                    "%s: truncated body: the header promises %" G_GUINT64_FORMAT
                    " bytes after offset %zu, the file ends at offset %zu",
                    path, count, head, len);
        return FALSE;
    }
    if (len - head > count) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                    "%s: %zu unexpected bytes after the body, from offset %" G_GUINT64_FORMAT,
                    path, len - head - count, head + count);
        return FALSE;
    }
    out->ndims = nd;
    out->count = count;
    out->data = g_memdup2(p + head, count);
    return TRUE;
}

void oz_idx_clear(OzIdx *idx) {
    g_clear_pointer(&idx->data, g_free);
    idx->count = 0;
}

gboolean oz_image_set_load(const char *images_path, const char *labels_path, int classes,
                           int limit, OzImageSet *out, GError **error) {
    memset(out, 0, sizeof *out);
    OzIdx im = {0}, lb = {0};
    if (!oz_idx_load(images_path, &im, error))
        return FALSE;
    if (!oz_idx_load(labels_path, &lb, error)) {
        oz_idx_clear(&im);
        return FALSE;
    }
    gboolean ok = FALSE;
    if (im.ndims != 3) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                    "%s: %d dimensions, expected 3 (count, rows, columns) for images",
                    images_path, im.ndims);
    } else if (lb.ndims != 1) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                    "%s: %d dimensions, expected 1 (count) for labels", labels_path, lb.ndims);
    } else if (im.dims[0] != lb.dims[0]) {
        g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_SIZE,
                    "%s holds %u images but %s holds %u labels", images_path, im.dims[0],
                    labels_path, lb.dims[0]);
    } else {
        ok = TRUE;
        for (guint32 i = 0; i < lb.dims[0]; i++) {
            if (lb.data[i] >= classes) {
                g_set_error(error, OZ_IDX_ERROR, OZ_IDX_ERROR_LABEL,
                            "%s: label %u of sample %u (offset %u) is out of range 0..%d",
                            labels_path, lb.data[i], i, 8 + i, classes - 1);
                ok = FALSE;
                break;
            }
        }
    }
    if (!ok) {
        oz_idx_clear(&im);
        oz_idx_clear(&lb);
        return FALSE;
    }
    out->n = (int)im.dims[0];
    if (limit > 0 && limit < out->n)
        out->n = limit;
    out->rows = (int)im.dims[1];
    out->cols = (int)im.dims[2];
    out->features = out->rows * out->cols;
    out->classes = classes;
    out->images = im.data;
    out->labels = lb.data;
    return TRUE;
}

void oz_image_set_clear(OzImageSet *set) {
    g_clear_pointer(&set->images, g_free);
    g_clear_pointer(&set->labels, g_free);
    set->n = 0;
}

/* libFuzzer target: the IDX reader (plain and gzip) on arbitrary bytes. */
#include "io/oz-idx.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    GBytes *b = g_bytes_new(data, size);
    OzIdx idx;
    GError *err = NULL;
    gboolean ok = oz_idx_load_bytes(b, "fuzz.idx", &idx, &err);
    g_assert(ok == (err == NULL));
    if (ok) {
        /* A valid file's count must fit what the header says. */
        gsize count = 1;
        for (int i = 0; i < idx.ndims; i++)
            count *= idx.dims[i];
        g_assert(count == idx.count);
        oz_idx_clear(&idx);
    }
    g_clear_error(&err);
    g_bytes_unref(b);
    return 0;
}

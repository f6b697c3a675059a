/* oz-test-util.h — helpers shared by the tests: temporary folders and small IDX data
 * sets made on the fly (so the suite needs no download). */
#pragma once

#include <glib.h>

/* A fresh folder under $TMPDIR; (transfer full). */
char *oz_test_tmpdir(void);
/* Removes a folder made by oz_test_tmpdir, with everything in it, and frees the name. */
void oz_test_rmtree(char *dir);
/* Writes an IDX uint8 file with the given dims; gzip-compressed when gz. */
void oz_test_write_idx(const char *path, const guint32 *dims, int ndims, const guint8 *data,
                       gboolean gz);
/* Writes {train,t10k}-{images-idx3,labels-idx1}-ubyte into dir: n_train / n_test
 * images of rows×cols, with a deterministic pattern and labels (i % classes). */
void oz_test_write_dataset(const char *dir, int n_train, int n_test, int rows, int cols,
                           int classes);
/* Writes text to dir/name and returns the path; (transfer full). */
char *oz_test_write_file(const char *dir, const char *name, const char *text);

/* oz-convert.h — `opzosim convert`: an IDX image set turned into an N-MNIST-layout data set by
 * the saccade emulator (io/oz-saccade.h), and `opzosim convert --check`: the statistics of
 * any folder the N-MNIST reader accepts, optionally against a reference folder
 * (docs/EVENTS.md, "The saccade converter" and "Converted against real recordings").
 */
#pragma once

#include <glib.h>

#define OZ_CONVERT_ERROR (oz_convert_error_quark())
GQuark oz_convert_error_quark(void);

typedef enum {
    OZ_CONVERT_ERROR_FAILED, /* a runtime failure: a file that could not be written */
    OZ_CONVERT_ERROR_INPUT,  /* a bad argument, option or folder: exit 2 */
} OzConvertError;

/* The `convert` command: argv[0] is "convert".  Prints its own usage errors (exit 2); every
 * other error goes to report, which prints it and returns its exit code.  Returns the exit
 * code. */
int oz_convert_main(int argc, char **argv, int (*report)(const GError *error));
/* Seconds as the progress lines print them: 1h05m, 3m07s, 42s, or ? (unknown, s < 0). */
void oz_format_eta(double s, char *buf, gsize n);


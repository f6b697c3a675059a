/* oz-events.h — event-camera recordings: readers, the N-MNIST writer, binning into ticks and
 * the sparse binned set (docs/EVENTS.md).
 *
 * A recording is read whole into an OzEventStream (timestamps in µs from the file, x to the
 * right, y down, polarity 1 = ON), binned at once into T ticks of 2×H×W cells and dropped:
 * only the binned form (OzSpikeSet, a few bytes per active cell) stays in memory.
 *
 * Files:
 *   io/oz-nmnist.c   N-MNIST 5-byte records (read and write), the Train/0..9 layout and
 *                    `id label` list files;
 *   io/oz-aedat.c    AEDAT 3.1 polarity packets, DVS-Gesture label CSVs and trial lists,
 *                    coordinate downsampling;
 *   io/oz-binning.c  the binning modes and OzSpikeSet.
 *
 * Every reader validates the whole input; a malformed file is an OZ_EVENTS_ERROR whose
 * message names the file and the byte offset (or line) and says what was expected.
 */
#pragma once

#include <glib.h>

#define OZ_EVENTS_ERROR (oz_events_error_quark())
GQuark oz_events_error_quark(void);

typedef enum {
    OZ_EVENTS_ERROR_FAILED,    /* unreadable file or folder */
    OZ_EVENTS_ERROR_FORMAT,    /* bytes that break the format (length, header, packet) */
    OZ_EVENTS_ERROR_RANGE,     /* a coordinate outside the sensor, a timestamp going back */
    OZ_EVENTS_ERROR_EMPTY,     /* a recording with no event */
    OZ_EVENTS_ERROR_LABEL,     /* a missing or bad label */
} OzEventsError;

/* One camera event.  (Not OzEvent: that is the engine's scheduled event, engine/oz-engine.h,
 * and sim/ includes both headers.) */
typedef struct {
    gint64 t;  /* µs */
    guint16 x, y;
    guint8 p;  /* 1 = ON, 0 = OFF */
} OzCamEvent;

typedef struct {
    OzCamEvent *ev; /* (n), timestamps non-decreasing */
    gsize n;
    int width, height; /* the sensor: 34×34 for N-MNIST, 128×128 for DVS128 */
} OzEventStream;

void oz_event_stream_clear(OzEventStream *s);

/* ---- N-MNIST (io/oz-nmnist.c) ------------------------------------------------------- */

#define OZ_NMNIST_SIZE 34

/* Parses N-MNIST records: 5 bytes each (x, y, p<<7 | t>>16 & 0x7F, t>>8, t), no header.
 * y == 240 records are timestamp-overflow markers: dropped, and 2^13 µs added to every later
 * timestamp.  Errors (name and byte offset in the message): length not a multiple of 5, x or
 * y ≥ 34, a timestamp below the previous one, no event.  name is used in messages. */
gboolean oz_nmnist_parse(const guint8 *bytes, gsize len, const char *name, OzEventStream *out,
                         GError **error);
gboolean oz_nmnist_read_file(const char *path, OzEventStream *out, GError **error);
/* Writes s as N-MNIST records (timestamps must be < 2^23 µs and non-decreasing, x, y < 34;
 * an error otherwise, nothing written).  Writes to a temporary file and renames it. */
gboolean oz_nmnist_write_file(const char *path, const OzEventStream *s, GError **error);

/* A labelled list of recording files. */
typedef struct {
    char **paths; /* (n, NULL-terminated) absolute or relative to the working directory */
    guint8 *labels; /* (n) */
    gsize n;
} OzEventFileList;

void oz_event_file_list_clear(OzEventFileList *l);
/* The original layout: split_dir/0 … split_dir/9, every *.bin in each, label = the folder.
 * The files of all folders are listed in one order: numbered names (N-MNIST's and the
 * converter's names are sample indices) by number, then other names by bytes, ties by label;
 * so limit > 0 keeps the first limit samples of the data set, all classes mixed (folder by
 * folder it would keep only zeros).  A missing class folder or no file at all is an error. */
gboolean oz_nmnist_list_dir(const char *split_dir, int limit, OzEventFileList *out,
                            GError **error);
/* A list file: lines `ID LABEL` (any whitespace; `#` lines and blank lines skipped) naming
 * ID.bin or ID.bs2 beside the list file, in the file's order; limit > 0 stops after limit
 * entries.  Errors name the list file and line: a missing label, a label ≥ classes, extra
 * text, an ID that is not a plain file name, a file that does not exist; a list with no entry
 * is an error too.  classes is 1…256. */
gboolean oz_nmnist_list_file(const char *list_path, int classes, int limit, OzEventFileList *out,
                             GError **error);

/* ---- DVS128 Gesture (io/oz-aedat.c) --------------------------------------------------- */

#define OZ_DVS128_SIZE 128

/* AEDAT 3.1: `#` header lines, the first `#!AER-DAT3.1`, up to `#!END-HEADER\r\n`, then
 * packets with a 28-byte little-endian header; polarity packets (type 1, 8-byte events: data
 * word with valid bit 0, polarity bit 1, y bits 2–16, x bits 17–31; int32 timestamp, full =
 * overflow<<31 | ts); other packet types skipped by eventCapacity × eventSize; invalid events
 * dropped; events out of time order stably sorted.  Errors name the file and byte offset: a
 * missing or bad header, a truncated packet, a negative header field, eventSize ≠ 8 in a
 * polarity packet, x or y ≥ 128, a negative timestamp, no valid event. */
gboolean oz_aedat3_read_file(const char *path, OzEventStream *out, GError **error);
/* The same on bytes in memory; name is used in messages. */
gboolean oz_aedat3_parse(const guint8 *bytes, gsize len, const char *name, OzEventStream *out,
                         GError **error);

typedef struct {
    int label;            /* 0…10 (the file's 1…11 minus one) */
    gint64 start, end;    /* µs, the cut is start ≤ t < end */
} OzGestureCut;

/* `*_labels.csv`: a header row, then `class,startTime_usec,endTime_usec` rows (blank lines
 * skipped), class 1…11, 0 ≤ start < end.  Errors name the file and line, including a first
 * line that is a data row (a missing header) and a file with no row.  *cuts (transfer full). */
gboolean oz_gesture_read_labels(const char *csv_path, GArray **cuts /* OzGestureCut */,
                                GError **error);
/* trials_to_train.txt / trials_to_test.txt: one .aedat name per line (spaces and blank
 * lines skipped); names must be plain file names ending in .aedat, an error naming file and
 * line otherwise; an empty list is an error.  *names (transfer full) NULL-terminated. */
gboolean oz_gesture_read_trials(const char *txt_path, char ***names, GError **error);
/* Events with start ≤ t < end, as a new stream (timestamps kept; possibly no event, then
 * out->ev is NULL); s must be in time order. */
void oz_event_stream_cut(const OzEventStream *s, gint64 start, gint64 end, OzEventStream *out);
/* Scales coordinates to a size×size sensor, in place: x' = ⌊x·size/width⌋, y' =
 * ⌊y·size/height⌋ (as Tonic's Downsample); 1 ≤ size ≤ the sensor. */
void oz_event_stream_downsample(OzEventStream *s, int size);

/* ---- Binning (io/oz-binning.c) ------------------------------------------------------- */

/* How a recording's events become ticks (docs/EVENTS.md, "Binning").  Every mode keeps the
 * events in time order, so tick numbers never decrease along a recording. */
typedef enum {
    OZ_BIN_PAPER,  /* as TIME; the paper's values are bin_us 3000, ticks 30, binary, t0 = 0 */
    OZ_BIN_TIME,   /* tick k = ⌊(t − t0)/bin_us⌋; events with k ≥ ticks (or t < t0) are
                      cropped and counted; a short recording leaves silent ticks */
    OZ_BIN_SPREAD, /* `ticks` equal-width bins over [t_first, t_last]:
                      k = ⌊(t − t_first)·T/(t_last − t_first)⌋, t_last in the last bin */
    OZ_BIN_EVENTS, /* `ticks` equal-event-count frames: event i goes to ⌊i/⌊N/T⌋⌋, at most
                      T − 1 (the last frame takes the rest; all of them when N < T) */
} OzBinMode;

typedef struct {
    OzBinMode mode;
    int ticks;          /* T ≥ 1 */
    double bin_us;      /* PAPER and TIME: > 0 */
    gboolean binary;    /* a cell with c events is 1 (binary) or c (counts, saturating at 255);
                           must match the set's */
    gboolean stabilise; /* Orchard's linear saccade compensation (34×34 N-MNIST only), then
                           drop the pixels it moves off the sensor; before any mode */
    gboolean from_first_event; /* PAPER and TIME: t0 = first event's time (TRUE) or 0 */
} OzBinning;

/* Orchard's saccade offset at time t µs (the image moves (0,0) → (3.5,7) → (7,0) → (0,0),
 * 105 ms a segment, (0,0) from 315 ms on): stabilisation subtracts it from (x, y). */
void oz_saccade_offset(gint64 t, double *dx, double *dy);

/* The binned form of a data set: sample s, tick t has the cells
 * cell[tick_off[s·(T+1) + t] … tick_off[s·(T+1) + t + 1]), each a flat index
 * c·H·W + y·W + x (c = polarity, or 0 with one channel), ascending within a tick; count[]
 * parallel (NULL when binary).  tick_off is 64-bit and sample-major, so any sample's frames
 * are two lookups.  Cells are 16-bit, so channels·H·W ≤ 65536 (2×128×128 fits); init asserts
 * it.  Memory: 2 bytes per active cell (+1 with counts), 8 bytes per sample-tick. */
typedef struct {
    int ticks, channels, height, width;
    gboolean binary;
    gsize n; /* samples */
    guint64 *tick_off; /* (n·(ticks+1)) */
    guint16 *cell;     /* (tick_off[n·(ticks+1) − 1]) */
    guint8 *count;     /* parallel to cell, or NULL when binary */
    guint8 *labels;    /* (n) */
    /* Totals over the set, for the log: events_in = kept + cropped + off_sensor. */
    guint64 events_in, events_kept, events_cropped;
    guint64 events_off_sensor; /* moved off the sensor by stabilisation */
    /* Private: capacities and the per-recording scratch (a count per cell, touched cells). */
    gsize cap_samples, cap_cells;
    guint8 *scratch_count;
    guint16 *scratch_touched;
} OzSpikeSet;

/* channels is 1 (polarity ignored) or 2; binary says whether counts are kept. */
void oz_spike_set_init(OzSpikeSet *set, int ticks, int channels, int height, int width,
                       gboolean binary);
/* Bins one recording (sensor height×width = the set's, timestamps non-decreasing) and appends
 * it as the next sample.  A recording with no event left after stabilisation and cropping
 * is appended as T silent ticks.  No allocation beyond the set's amortised growth. */
void oz_spike_set_append(OzSpikeSet *set, const OzEventStream *s, const OzBinning *b,
                         guint8 label);
/* Frees the growth slack and the scratch (call once the set is complete; append still works). */
void oz_spike_set_trim(OzSpikeSet *set);
void oz_spike_set_clear(OzSpikeSet *set);
/* Bytes the set holds (capacities and scratch included). */
gsize oz_spike_set_bytes(const OzSpikeSet *set);

/* libFuzzer target: the AEDAT 3.1 reader on arbitrary bytes, and what it accepts cut,
 * downsampled to 48×48 and binned into equal-count frames.  Nothing may crash, leak or hang;
 * a parsed stream must be on the sensor and in time order. */
#include "io/oz-events.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    OzEventStream s;
    GError *err = NULL;
    gboolean ok = oz_aedat3_parse(data, size, "fuzz.aedat", &s, &err);
    g_assert(ok == (err == NULL));
    g_clear_error(&err);
    if (!ok)
        return 0;
    g_assert(s.n > 0);
    for (gsize i = 0; i < s.n; i++) {
        g_assert(s.ev[i].x < 128 && s.ev[i].y < 128 && s.ev[i].p <= 1);
        g_assert(i == 0 || s.ev[i].t >= s.ev[i - 1].t);
    }
    OzEventStream c;
    oz_event_stream_cut(&s, s.ev[0].t, s.ev[s.n - 1].t, &c);
    g_assert(c.n < s.n);
    oz_event_stream_downsample(&s, 48);
    OzBinning b = {.mode = OZ_BIN_EVENTS, .ticks = 20, .binary = FALSE};
    OzSpikeSet set;
    oz_spike_set_init(&set, 20, 2, 48, 48, FALSE);
    oz_spike_set_append(&set, &s, &b, 0);
    g_assert(set.events_kept == s.n);
    oz_spike_set_clear(&set);
    oz_event_stream_clear(&c);
    oz_event_stream_clear(&s);
    return 0;
}

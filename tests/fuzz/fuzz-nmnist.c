/* libFuzzer target: the N-MNIST record parser on arbitrary bytes, and what it accepts binned
 * in every mode.  Nothing may crash, leak or hang; a parsed stream must hold the reader's
 * promises (on the sensor, in time order) and binning must account for every event. */
#include "io/oz-events.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    OzEventStream s;
    GError *err = NULL;
    gboolean ok = oz_nmnist_parse(data, size, "fuzz.bin", &s, &err);
    g_assert(ok == (err == NULL));
    g_clear_error(&err);
    if (!ok)
        return 0;
    g_assert(s.n > 0 && s.n <= size / 5);
    for (gsize i = 0; i < s.n; i++) {
        g_assert(s.ev[i].x < 34 && s.ev[i].y < 34 && s.ev[i].p <= 1);
        g_assert(i == 0 || s.ev[i].t >= s.ev[i - 1].t);
    }
    for (int mode = OZ_BIN_PAPER; mode <= OZ_BIN_EVENTS; mode++) {
        const gboolean binary = mode % 2 == 0;
        OzBinning b = {.mode = (OzBinMode)mode, .ticks = 7, .bin_us = 1500, .binary = binary,
                       .stabilise = mode >= OZ_BIN_TIME, .from_first_event = mode == OZ_BIN_TIME};
        OzSpikeSet set;
        oz_spike_set_init(&set, 7, 2, 34, 34, binary);
        oz_spike_set_append(&set, &s, &b, 1);
        g_assert(set.events_in == s.n);
        g_assert(set.events_in == set.events_kept + set.events_cropped + set.events_off_sensor);
        for (int t = 0; t < 7; t++)
            for (guint64 j = set.tick_off[t] + 1; j < set.tick_off[t + 1]; j++)
                g_assert(set.cell[j] > set.cell[j - 1]);
        g_assert(set.tick_off[7] <= set.events_kept);
        oz_spike_set_clear(&set);
    }
    oz_event_stream_clear(&s);
    return 0;
}

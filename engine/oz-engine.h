/* oz-engine.h — the discrete-time event engine.
 *
 * Time is an integer tick.  Events are ordered by (tick, stage, seq): the stage orders
 * work inside one tick (the network's topological order, so zero-delay projections
 * deliver within the tick), and seq — an insertion counter — breaks the remaining ties,
 * so a run is deterministic.  An event names a handler (registered once, at wire-up)
 * and carries one integer argument; it says nothing about neurons.  One event carries
 * the work of a whole mini-batch (batch lockstep), which keeps the queue small.
 *
 * Deliberately not here: anything about populations, spikes or learning; threads (the
 * engine runs on the caller's thread); wall-clock time.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct OzEngine OzEngine;

typedef struct {
    gint64 tick;
    guint32 stage;
    guint32 handler;
    guint64 seq;
    gint64 arg;
} OzEvent;

typedef void (*OzHandlerFunc)(OzEngine *engine, const OzEvent *event, gpointer user_data);

OzEngine *oz_engine_new(void);
/* No-op on NULL. */
void oz_engine_free(OzEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzEngine, oz_engine_free)

/* Registers a handler; returns its id.  (transfer none) for name and user_data. */
guint oz_engine_add_handler(OzEngine *engine, const char *name, OzHandlerFunc func,
                            gpointer user_data);
const char *oz_engine_handler_name(const OzEngine *engine, guint handler);

/* Schedules an event; returns its seq.  Scheduling into the past — a tick before now,
 * or the current tick at a stage already passed — is a programming error. */
guint64 oz_engine_schedule(OzEngine *engine, gint64 tick, guint32 stage, guint handler,
                           gint64 arg);
/* Marks a pending event as cancelled; it is dropped when it reaches the head of the
 * queue.  Returns FALSE if no such event is pending. */
gboolean oz_engine_cancel(OzEngine *engine, guint64 seq);

/* Dispatches every event with tick < until_tick, in order.  Handlers may schedule more
 * events, including at the current (tick, stage).  Returns the number dispatched. */
guint64 oz_engine_run(OzEngine *engine, gint64 until_tick);
/* Dispatches until the queue is empty. */
guint64 oz_engine_run_all(OzEngine *engine);

gint64 oz_engine_now(const OzEngine *engine);
guint32 oz_engine_stage(const OzEngine *engine);
gsize oz_engine_pending(const OzEngine *engine);
guint64 oz_engine_dispatched(const OzEngine *engine);
/* Per-handler dispatch count since creation. */
guint64 oz_engine_handler_count(const OzEngine *engine, guint handler);

/* Sets the clock back to tick 0 for a new sample window.  The queue must be empty. */
void oz_engine_reset_clock(OzEngine *engine);

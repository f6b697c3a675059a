/* oz-network.h — populations and projections wired onto the event engine.
 *
 * The network owns an engine and registers two kinds of handler with it: one update
 * handler per population (step one tick, then send the tick's frame along each outgoing
 * projection) and one delivery handler per projection (add a frame into the target's
 * input).  Stages follow the topological order of the zero-delay graph: population k in
 * that order delivers into at stage 2k and updates at stage 2k+1, so a zero-delay
 * projection lands within the tick.  A cycle of zero-delay projections has no such
 * order and is rejected by oz_network_prepare().  Stages from
 * oz_network_first_free_stage() on are free for learning rules.
 *
 * A sample window is `input_ticks` ticks of input plus `drain_ticks` ticks in which the
 * input is silent and pending packets still arrive (for delays).  Every population
 * updates on every tick of the window.
 */
#pragma once

#include "engine/oz-engine.h"
#include "neurons/oz-population.h"
#include "neurons/oz-projection.h"

typedef struct OzNetwork OzNetwork;
typedef struct OzHardware OzHardware;

/* Called after each population step (e.g. to record spikes). */
typedef void (*OzStepObserver)(OzPopulation *pop, gint64 tick, gpointer user_data);

struct OzNetwork {
    OzEngine *engine;     /* owned */
    GPtrArray *pops;      /* of OzPopulation*, owned */
    GPtrArray *projs;     /* of OzProjection*, owned */
    GPtrArray *topo;      /* populations in topological order, (transfer none) */
    int batch;
    gint64 input_ticks;   /* T */
    gint64 drain_ticks;   /* extra ticks after the input; -1 before prepare means auto */
    gint64 window_ticks;  /* input_ticks + drain_ticks */
    gboolean prepared;
    OzStepObserver observer;
    gpointer observer_data;
    guint *update_handler;  /* per population id */
    guint *deliver_handler; /* per projection id */
    const char *cycle_projection; /* after a failed prepare: a projection on the cycle */
    OzHardware *hw;               /* the chip (neurons/oz-hardware.h), or NULL on an ideal one */
};

OzNetwork *oz_network_new(int batch, gint64 input_ticks);
void oz_network_free(OzNetwork *net);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzNetwork, oz_network_free)

/* (transfer none) return values; the network owns them.  NULL and an error on a
 * duplicate name or an unknown model. */
OzPopulation *oz_network_add_population(OzNetwork *net, const char *name,
                                        const OzPopulationParams *params, GError **error);
OzProjection *oz_network_add_projection(OzNetwork *net, const char *name, const char *from,
                                        const char *to, const OzProjectionParams *params,
                                        GError **error);
OzPopulation *oz_network_population(OzNetwork *net, const char *name);
OzProjection *oz_network_projection(OzNetwork *net, const char *name);

/* Orders populations, sizes frame rings, registers handlers.  drain_ticks < 0 picks the
 * longest delay path through the network.  Fails on a zero-delay cycle.  A readout's
 * class score sums o[t] over the T ticks starting at its path delay. */
gboolean oz_network_prepare(OzNetwork *net, gint64 drain_ticks, GError **error);
guint32 oz_network_first_free_stage(const OzNetwork *net);
/* Longest delay-weighted path from any population to pop (the sum of all delays if a
 * delayed cycle makes it unbounded).  Valid before prepare. */
gint64 oz_network_delay_to(OzNetwork *net, OzPopulation *pop);
/* Longest delay-weighted path from `from` to `to`, or −1 if `to` cannot be reached. */
gint64 oz_network_delay_between(OzNetwork *net, OzPopulation *from, OzPopulation *to);

/* Weight and bias initialisation from one stream, in declaration order. */
void oz_network_init_parameters(OzNetwork *net, OzRng *rng);
/* Start of a window: active_samples ≤ batch rows hold data. */
void oz_network_reset(OzNetwork *net, int active_samples, gboolean training);
/* Row 0 of the window is row `offset` of the global mini-batch (one process's share of an MPI
 * run's batch, docs/CLUSTER.md; 0 otherwise): every per-sample draw takes its sub-stream by
 * the global row. */
void oz_network_set_row_offset(OzNetwork *net, int offset);
/* Schedules every population's first update and runs the engine until it is idle. */
void oz_network_run_window(OzNetwork *net);
void oz_network_counters_clear(OzNetwork *net);
void oz_network_set_observer(OzNetwork *net, OzStepObserver observer, gpointer user_data);

/* oz-kind.h — projection kinds as plugins: how a projection stores its synapses, delivers
 * frames through them, accumulates their gradient and counts their work.
 *
 * A projection (oz-projection.h) is the model-independent part: its two populations, its
 * delay, the delivery options, the counters, and one weight tensor `w` with its gradient
 * `grad`, both `nw` floats long.  What `w` holds is the kind's business: the dense kind
 * keeps W (n_pre, n_post) row-major; a compressed kind keeps only its existing synapses'
 * values.  The optimizer, the checkpoint and the weight-finiteness guard see only the
 * nw-long arrays and the shape the kind names.  A kind is a `const OzProjectionKindOps
 * oz_projection_kind_NAME` in its own file (oz-kind-NAME.c), registered by its name in the
 * `projection_kinds` list of neurons/meson.build (docs/EXTENDING.md).
 *
 *   api_version, name, state_size, help (required)
 *       The core allocates state_size bytes of per-projection state, zeroed, as p->kstate
 *       before alloc runs, and frees it after free.
 *   params, params_size (optional)
 *       The kind's keys in [projection NAME] (engine/oz-params.h), parsed into a struct of
 *       params_size bytes that the projection owns (p->kparams); `opzosim keys` lists them
 *       and the run log's parameters table records them with owner "projection NAME".
 *   caps (optional)
 *       OZ_KIND_DENSE_LAYOUT: w is W (n_pre, n_post) row-major, so the learner may stage
 *       gradient rows and gather sparse chunks of it (its sgemm paths); a kind without it
 *       gets one accumulate call per tick.
 *   alloc (required)
 *       Sets p->nw and allocates p->w (zeroed) and its own buffers, using the
 *       seed for anything drawn (connectivity) from its own (seed, purpose) stream.
 *   free (required)
 *       Frees what alloc allocated, w included.  The gradient p->grad (nw floats, w's
 *       layout) is the core's: allocated when learning asks for it (oz_projection_grad),
 *       freed after free, so an inference-only network holds no weight-sized gradient.
 *   configure (optional)
 *       Checks the kind's keys against the two populations' shapes (rank and dims; a
 *       population given only a size has rank 1) before anything is built: the scenario
 *       and oz_network_add_projection call it, so a projection whose keys do not fit its
 *       populations is refused with a message naming the key to blame (*key) and the
 *       shape that was expected.  alloc may then rely on the shapes.
 *   shape (required)
 *       The tensor's shape for checkpoints: its rank (1 or 2) and dims.
 *   init (required)
 *       Draws the initial weights from rng ([projection] init, init_scale).
 *   draw_like_weights (required)
 *       Fills out (nw floats) with a draw from the same distribution as init, from rng:
 *       feedback alignment's fixed B has W's layout and W's distribution.
 *   deliver (required)
 *       Adds a frame's contribution into acc (B, n_post) — spike packets (event, dense and
 *       delta paths as the kind supports), dense frames, the cached static current — and
 *       counts it: synops = Σ over transmitted spikes of the neuron's out-degree.
 *   reset (optional)
 *       Called by oz_projection_reset: at the start of every sample window and whenever w
 *       was changed from outside (an optimizer step inside a window, a checkpoint loaded),
 *       so a kind may keep values derived from w (a transposed copy) until then.
 *   accumulate (required)
 *       grad (nw, w's layout: p->grad, or the diagnostics' shadow BP gradient) += the
 *       gradient âᵀ g_u restricted to the kind's synapses, for pre (rows, n_pre) and g_u
 *       (rows, n_post).  Returns the multiply-adds done (the learner's update_macs).
 *   view_size, view, view_transpose (optional, all three or none)
 *       When the synapses read a linear transform P of the presynaptic output rather than
 *       the output itself (conv2d's pool): its size n_view, view: out (rows, n_view) =
 *       P(in (rows, n_pre)), and view_transpose: out (rows, n_pre) += Pᵀ(v (rows,
 *       n_view)).  A local-learning readout of the presynaptic population reads this view
 *       ("the layer's pooled output where a pool follows it").
 *   chain_apply (required)
 *       out (rows, n_pre) += down (rows, n_post) · Cᵀ, where C has w's layout (C = NULL:
 *       w itself): the downstream signal of a chain rule (plasticity/oz-rule.h).  Returns
 *       the multiply-adds done.
 *   fan_in (optional)
 *       Where each output unit's fan-in lies in w (neurons/oz-wstd.h: units, N and two
 *       strides).  A kind with it can take `[projection] weight_standardization`: the
 *       projection then keeps the raw W apart and puts Ŵ into w, so deliver, accumulate and
 *       chain_apply need nothing else.  A kind without it is refused by the scenario.
 *   nir (optional; api_version 2)
 *       The kind's NIR mapping (neurons/oz-nir-map.h): the weight nodes it builds itself
 *       from on import and the nodes it writes on export.  A kind without it is not
 *       exportable and claims no node.
 *
 * The registry (oz-kind-registry.c) is checked at program start: a duplicate name, an
 * ops table of another api_version or a missing required slot aborts.
 */
#pragma once

#include "engine/oz-params.h"
#include "engine/oz-rng.h"
#include "neurons/oz-nir-map.h"
#include "neurons/oz-population.h"
#include "neurons/oz-wstd.h"

typedef struct OzProjectionKindOps OzProjectionKindOps;

typedef enum {
    OZ_KIND_DENSE_LAYOUT = 1 << 0,
} OzKindCaps;

struct OzProjectionKindOps {
    int api_version;
    const char *name;
    gsize state_size;
    const char *help;
    const OzParamSpec *params;
    gsize params_size;
    guint caps;
    gboolean (*configure)(const void *params, int pre_rank, const int *pre_shape, int post_rank,
                          const int *post_shape, const char **key, GError **error);
    void (*alloc)(OzProjection *p);
    void (*free)(OzProjection *p);
    int (*shape)(const OzProjection *p, gsize dims[2]);
    void (*init)(OzProjection *p, OzRng *rng);
    void (*draw_like_weights)(const OzProjection *p, OzRng *rng, float *out);
    void (*deliver)(OzProjection *p, OzFrame *frame, float *acc);
    void (*reset)(OzProjection *p);
    guint64 (*accumulate)(OzProjection *p, float *grad, const float *pre, const float *g_u,
                          int rows);
    guint64 (*chain_apply)(const OzProjection *p, const float *c, const float *down, int rows,
                           float *out);
    void (*fan_in)(const OzProjection *p, OzFanIn *out);
    int (*view_size)(const OzProjection *p);
    void (*view)(const OzProjection *p, const float *in, int rows, float *out);
    void (*view_transpose)(const OzProjection *p, const float *v, int rows, float *out);
    const OzKindNir *nir;
};

#define OZ_PROJECTION_KIND_API_VERSION 2

/* The registered kind called name, or NULL.  (transfer none) */
const OzProjectionKindOps *oz_projection_kind_lookup(const char *name);
/* NULL-terminated array of every registered kind, in registry order.  (transfer none) */
const OzProjectionKindOps *const *oz_projection_kinds(void);
/* The registered names joined by ", " (for messages).  (transfer full) */
char *oz_projection_kind_names(void);
/* Checks one ops table; on failure *why (transfer full) says what is wrong. */
gboolean oz_projection_kind_check(const OzProjectionKindOps *ops, char **why);

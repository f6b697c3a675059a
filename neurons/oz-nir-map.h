/* oz-nir-map.h — how a neuron model or a projection kind maps itself to and from NIR: the
 * `nir` slots of OzNeuronOps (neurons/oz-neuron.h) and OzProjectionKindOps
 * (neurons/oz-kind.h), and what the exporter (sim/oz-export.c) and the importer
 * (io/oz-nir-import.c) hand them.
 *
 * Design.  Neither the exporter nor the importer knows a model or kind by name: the
 * exporter asks each population's model for its node and each projection's kind for the
 * nodes between two populations; the importer asks the registries which model or kind
 * claims a node type (node_types) and lets it read the node.  A model or kind without the
 * slot (or without the direction's callback) is not exportable, or claims no node, and the
 * messages say so by its name.  The core keeps what is NIR's own structure, not a
 * plugin's: Delay nodes (a projection's delay), Flatten (opzosim populations are flat
 * already), nested graphs (flattened before import), the graph's metadata, and where a
 * population's bias lands (placed by oz_nir_export_place_biases from the slots offered).
 *
 * The discrete-time mapping each model uses is in docs/INTEROP.md.
 */
#pragma once

#include "neurons/oz-nir-graph.h"

/* Declared here, defined by neurons/oz-population.h and neurons/oz-projection.h (which
 * include this header through neurons/oz-neuron.h). */
typedef struct OzPopulation OzPopulation;
typedef struct OzProjection OzProjection;

/* ---- Export ---- */

/* The export in progress.  The exporter fills graph and dt; the source model sets encoding
 * and feeds_values; models and kinds add nodes, biases and bias slots. */
typedef struct {
    OzNirGraph *graph;
    double dt;              /* seconds per tick */
    const char *encoding;   /* the source's encoding, for the graph's metadata (static) */
    gboolean feeds_values;  /* the source sends the data's values x (normalisation folds) */
    GString *soft;          /* populations whose reset NIR cannot express, ", "-joined */
    GHashTable *bias;       /* OzPopulation* → double (n): what a NIR consumer adds */
    GPtrArray *slots;       /* bias slots offered by kinds, in projection order */
    GHashTable *node_names; /* OzPopulation* → char*: the node a population is */
    GHashTable *text;       /* "OWNER\nKEY" → the parameter's value as the run log holds it */
    int ticks;              /* T, the run's input ticks ([run] ticks) */
    const char *feed;       /* what to feed the Input, for the graph's metadata, set by the
                             * source model (static); NULL: the exporter says it for values */
} OzNirExport;

/* What a kind's export_chain gets for one projection. */
typedef struct {
    const char *from, *to; /* the node names its nodes run between (after any Delay) */
    double scale;          /* what one unit sent by the source is worth (its output_scale):
                            * the weights are multiplied by it */
    gboolean fold;         /* the source is the input, fed x = (p/255 − mean)/std: fold */
    double mean, std;
} OzNirLink;

/* The population's NIR bias accumulator (n doubles): its bias b (exact_bias_of), plus the
 * offsets that kinds fold in.  (transfer none) */
double *oz_nir_export_bias(OzNirExport *ex, const OzPopulation *pop);
/* A parameter of pop as a double read from its text in the run log (the decimal the user
 * wrote, not its float32 rounding, so that τ = dt/(1 − λ) is the same whichever way the
 * value was stored), or fallback when the log has none. */
double oz_nir_export_number(const OzNirExport *ex, const OzPopulation *pop, const char *key,
                            double fallback);
/* A parameter's value as the run log holds it (owner "data", "population NAME", …), or
 * NULL.  (transfer none) */
const char *oz_nir_export_text(const OzNirExport *ex, const char *owner, const char *key);
/* The node name population pop was exported as.  (transfer none) */
const char *oz_nir_export_node(const OzNirExport *ex, const OzPopulation *pop);
/* A kind offers node's field `bias` for post's bias: one value per group of
 * post->n / groups consecutive neurons (groups = post->n: any bias). */
void oz_nir_export_bias_slot(OzNirExport *ex, const OzPopulation *post, OzNirNode *node,
                             int groups);
/* Marks pop as having a reset NIR cannot express (the export warns, naming it). */
void oz_nir_export_soft(OzNirExport *ex, const OzPopulation *pop);
/* The Affine of projection p, whose weights are w_pre_post (n_pre, n_post) in the dense
 * layout: a Flatten before it when the source is shaped (C,H,W) (opzosim's order is
 * PyTorch's), weight (n_post, n_pre) = (link->scale·W)ᵀ, the normalisation folded in when
 * link->fold (weight/std, −mean/std·ΣW onto the target's bias, the unfolded weights as
 * opzosim_weight), its bias offered as a slot of one value per neuron; edges from link->from
 * to link->to.  For the kinds whose projection is a matrix (dense, sparse). */
void oz_nir_export_affine(OzNirExport *ex, const OzProjection *p, const OzNirLink *link,
                          const float *w_pre_post);
/* A per-neuron field of pop's shape, every entry v (float64). */
void oz_nir_per_neuron(GPtrArray *fields, const char *name, const OzPopulation *pop, double v);
/* An int64 pair field (a, b). */
void oz_nir_ints2(GPtrArray *fields, const char *name, int a, int b);
/* pop's bias b exactly (float32 opzosim_bias) into meta, when pop has a bias. */
void oz_nir_exact_bias(GPtrArray *meta, const OzPopulation *pop);

/* ---- Import ---- */

/* One node a model builds a population from. */
typedef struct {
    /* in */
    const OzNirNode *node;
    const GPtrArray *graph_meta; /* the graph's metadata (this project's, when present) */
    double dt;
    /* out: oz_nir_import_shape sets the shape and allocates bias (zeroed) */
    int rank, dims[3], n;
    GString *keys;       /* the model's keys, "key = value\n" each (the importer writes
                          * model, shape or size, and bias) */
    double gain;         /* what the node's input is multiplied by on its way to the
                          * population's input I (1 unless set); folded into the weights */
    float *bias;         /* (n) the population's bias b */
    gboolean has_bias;   /* some bias is not zero */
    gboolean exact_bias; /* b came from this project's metadata: node biases are ignored */
} OzNirPopImport;

/* One chain of nodes a kind builds a projection from. */
typedef struct {
    /* in */
    const OzNirNode *weights; /* the node the kind claimed (node_types) */
    const OzNirNode *pre;     /* a node it claimed directly before it (pre_types), or NULL */
    const char *src_name, *dst_name;
    int src_rank, src_dims[3], src_n;
    int dst_rank, dst_dims[3], dst_n;
    double gain;         /* the target's input gain (OzNirPopImport.gain) */
    gboolean exact_bias; /* the target's bias is exact: the node's bias is not added */
    /* out */
    GString *keys; /* the kind's keys (the importer writes from, to, delay, kind) */
    float *w;      /* (nw) in the kind's layout (transfer full) */
    gsize nw;
    float *dst_bias; /* (dst_n) the target's bias, to add the node's bias into */
    gboolean *dst_has_bias;
} OzNirProjImport;

/* Sets the population's shape from a NIR shape (rank 1, 2 (H, W: one channel) or 3) and
 * allocates its bias. */
void oz_nir_import_shape(OzNirPopImport *im, const gsize *dims, int rank);
/* The shape of an Input node (its `shape` field) as the population's, for a source model. */
gboolean oz_nir_import_input_shape(OzNirPopImport *im, GError **error);
/* An Input node named `input` with pop's shape (C,H,W or N), for a source model.
 * (transfer none: the graph's) */
OzNirNode *oz_nir_export_input_node(OzNirExport *ex, const OzPopulation *pop);

/* ---- The slots ---- */

/* OzNeuronOps.nir.  Every callback is optional. */
typedef struct {
    /* NIR node types the model builds a population from, NULL-terminated (NULL: none).
     * The source models claim Input, the readout Output. */
    const char *const *node_types;
    /* Where several models claim a node type, the importer takes the one the scenario's
     * [population NAME] model names, else the one the node's metadata names
     * (opzosim_model), else the first in the registry without this flag: a model with it
     * (the spike input of event data, which shares Input with the image input) is taken
     * only when named. */
    gboolean named_only;
    /* Reads im->node: shape, keys, gain, bias.  Errors name the node (not the file). */
    gboolean (*import_node)(OzNirPopImport *im, GError **error);
    /* Adds pop's node(s) to ex->graph and returns the name of the node projections
     * connect to (transfer full), or NULL with an error. */
    char *(*export_node)(OzNirExport *ex, const OzPopulation *pop, GError **error);
    /* Puts a per-neuron bias (n) into pop's own node (node) when the model's node has a
     * field for it (LIF's v_leak); FALSE when it has none. */
    gboolean (*export_bias)(const OzPopulation *pop, OzNirNode *node, const double *bias);
    /* What one transmitted unit is worth (a fixed output scale); NULL: 1. */
    double (*export_scale)(const OzPopulation *pop);
} OzNeuronNir;

/* OzProjectionKindOps.nir.  Every callback is optional. */
typedef struct {
    /* Weight node types the kind builds a projection from, and node types it takes directly
     * before one of them (a pool), NULL-terminated. */
    const char *const *node_types;
    const char *const *pre_types;
    gboolean (*import_chain)(OzNirProjImport *im, GError **error);
    /* Adds p's nodes from link->from to link->to, its weights times link->scale (and the
     * normalisation folded in when link->fold), offering its bias field
     * (oz_nir_export_bias_slot) and adding folded offsets into the target's
     * oz_nir_export_bias. */
    gboolean (*export_chain)(OzNirExport *ex, const OzProjection *p, const OzNirLink *link,
                             GError **error);
} OzKindNir;

/* Places every population's NIR bias: on the first slot that holds any bias, else in the
 * model's own node (export_bias), else on the first slot when the bias is one value per
 * group; otherwise an error naming the population.  pops: OzPopulation* in network order;
 * the source is skipped. */
gboolean oz_nir_export_place_biases(OzNirExport *ex, GPtrArray *pops, GError **error);

/* oz-nir.h — NIR graphs (the Neuromorphic Intermediate Representation) in HDF5: an
 * in-memory graph, its writer and reader, and the import of a graph as a network.
 *
 * A graph is nodes (name, type, fields, metadata) and edges (source, target).  Fields hold
 * numbers (any HDF5 integer or float, read through double, written as float32, float64 or
 * int64 as the field asks) or strings.  The file layout is NIR's own (docs/INTEROP.md):
 * /version, /node/type = "NIRGraph", /node/edges (E, 2), /node/nodes/NAME/{type, FIELD...,
 * metadata/...}, /node/metadata/... — `type` and `version` are string datasets, not
 * attributes.
 *
 * Import (`[network] from_nir`): oz_nir_import reads a file and gives the scenario
 * sections that build the network it describes ([population NAME], [projection NAME], as
 * key-file text) and the weights and biases to load into it, in opzosim's layouts (dense W
 * (n_pre, n_post), conv2d W (C_out, C_in·k·k), per-neuron biases).  The mapping of each
 * node type and what is refused are in docs/INTEROP.md.
 *
 * Every error is in OZ_NIR_ERROR and names the file (and the node or field); all but WRITE
 * are bad input.
 */
#pragma once

#include <glib.h>

#define OZ_NIR_ERROR (oz_nir_error_quark())
GQuark oz_nir_error_quark(void);

typedef enum {
    OZ_NIR_ERROR_FAILED,
    OZ_NIR_ERROR_FORMAT,      /* not HDF5, or not a NIR graph (missing type, bad edges, shapes) */
    OZ_NIR_ERROR_UNSUPPORTED, /* node types or settings opzosim cannot run */
    OZ_NIR_ERROR_WRITE        /* the output file could not be written: a failure, exit 1 */
} OzNirError;

typedef enum { OZ_NIR_F32, OZ_NIR_F64, OZ_NIR_I64, OZ_NIR_STR } OzNirDtype;

#define OZ_NIR_RANK_MAX 4

/* One dataset of a node (or of a metadata group). */
typedef struct {
    char *name;
    OzNirDtype dtype;
    int rank; /* 0: a scalar */
    gsize dims[OZ_NIR_RANK_MAX];
    gsize n;   /* the product of dims (1 for a scalar) */
    double *v; /* (n) numeric values, or NULL for strings */
    char **s;  /* (n) strings (NULL-terminated), or NULL for numbers */
} OzNirField;

typedef struct {
    char *name;
    char *type;        /* NULL when the file gives none (an error on import) */
    GPtrArray *fields; /* of OzNirField*, owned */
    GPtrArray *meta;   /* of OzNirField*, owned */
} OzNirNode;

typedef struct {
    GPtrArray *nodes; /* of OzNirNode*, owned, in file (or creation) order */
    GPtrArray *edges; /* of char*, owned: source, target, source, target, ... */
    GPtrArray *meta;  /* of OzNirField*, the graph's metadata */
} OzNirGraph;

OzNirGraph *oz_nir_graph_new(void);
void oz_nir_graph_free(OzNirGraph *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzNirGraph, oz_nir_graph_free)

/* Building a graph.  (transfer none) */
OzNirNode *oz_nir_node_add(OzNirGraph *g, const char *name, const char *type);
OzNirNode *oz_nir_node_find(const OzNirGraph *g, const char *name);
void oz_nir_edge_add(OzNirGraph *g, const char *source, const char *target);
/* Adds a numeric field to list (a node's fields or metadata, the graph's metadata): rank
 * dims, values v converted to dtype when written.  (transfer none) */
OzNirField *oz_nir_field_add(GPtrArray *list, const char *name, OzNirDtype dtype, int rank,
                             const gsize *dims, const double *v);
/* A scalar, or a string. */
OzNirField *oz_nir_field_scalar(GPtrArray *list, const char *name, OzNirDtype dtype, double v);
OzNirField *oz_nir_field_string(GPtrArray *list, const char *name, const char *s);
const OzNirField *oz_nir_field_find(const GPtrArray *list, const char *name);

/* Writes g as a NIR HDF5 file (NIR version 1.0.0).  OZ_NIR_ERROR_WRITE on failure. */
gboolean oz_nir_write(const OzNirGraph *g, const char *path, GError **error);
/* Reads a NIR HDF5 file.  OZ_NIR_ERROR_FORMAT when it is not HDF5 or lacks the graph
 * group; nodes without a `type` are kept with type NULL (oz_nir_import names them).
 * (transfer full) */
OzNirGraph *oz_nir_read(const char *path, GError **error);

/* A tensor for the network built from an import: "w:PROJ" in the kind's layout, "b:POP". */
typedef struct {
    gsize n;
    float *v;
} OzNirTensor;

/* Reads path as a network with time step dt_s seconds: *sections gets the key-file text of
 * its [population] and [projection] sections (transfer full), *tensors (if not NULL) a
 * table name → OzNirTensor* (transfer full).  train: the scenario trains, which a network
 * whose output layer spikes refuses. */
gboolean oz_nir_import(const char *path, double dt_s, gboolean train, char **sections,
                       GHashTable **tensors, GError **error);

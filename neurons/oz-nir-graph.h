/* oz-nir-graph.h — a NIR graph (the Neuromorphic Intermediate Representation) in memory:
 * nodes with their fields and metadata, edges, nested graphs, and the field readers that
 * the NIR mappings of the models and kinds share.
 *
 * A graph is nodes (name, type, fields, metadata) and edges (source, target).  Fields hold
 * numbers (any HDF5 integer or float, read through double, written as float32, float64 or
 * int64 as the field asks) or strings.  A node of type NIRGraph holds a graph of its own
 * (sub).  The file that holds a graph (HDF5) is io/oz-nir.c's; what a model or kind
 * makes of a node is in its own file, through the slots of neurons/oz-nir-map.h.
 *
 * Errors are in OZ_NIR_ERROR: everything but WRITE is bad input.  The field readers here
 * name the node and field; whoever reads a file puts its path in front.
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

typedef struct OzNirGraph OzNirGraph;

typedef struct {
    char *name;
    char *type;        /* NULL when the file gives none (an error on import) */
    GPtrArray *fields; /* of OzNirField*, owned */
    GPtrArray *meta;   /* of OzNirField*, owned */
    OzNirGraph *sub;   /* a NIRGraph node's own graph (owned), or NULL */
} OzNirNode;

struct OzNirGraph {
    GPtrArray *nodes; /* of OzNirNode*, owned, in file (or creation) order */
    GPtrArray *edges; /* of char*, owned: source, target, source, target, ... */
    GPtrArray *meta;  /* of OzNirField*, the graph's metadata */
};

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
/* Frees a field or a node (for lists built by hand). */
void oz_nir_field_free(OzNirField *f);
void oz_nir_node_free(OzNirNode *n);

/* ---- Reading the fields of a node (import) ---- */

/* The numeric field, or NULL with an error naming node and field. */
const OzNirField *oz_nir_need(const OzNirNode *n, const char *field, GError **error);
/* The one value of a per-neuron array, or FALSE with an error when its entries differ (an
 * opzosim population has one value). */
gboolean oz_nir_uniform(const OzNirNode *n, const OzNirField *f, double *out, GError **error);
/* The first number of a metadata field, or def. */
double oz_nir_meta_number(const OzNirNode *n, const char *key, double def);
/* The first string of a metadata list, or NULL.  (transfer none) */
const char *oz_nir_meta_text(const GPtrArray *meta, const char *key);
/* A 2-vector (or a scalar) field as two ints; def when absent. */
void oz_nir_pair(const OzNirNode *n, const char *field, int def, int out[2]);

/* oz-nir.h — NIR graphs (the Neuromorphic Intermediate Representation) in HDF5: the
 * writer and reader of a graph (neurons/oz-nir-graph.h holds the graph in memory), and
 * the import of a graph as a network.
 *
 * The file layout is NIR's own (docs/INTEROP.md):
 * /version, /node/type = "NIRGraph", /node/edges (E, 2), /node/nodes/NAME/{type, FIELD...,
 * metadata/...}, /node/metadata/... — `type` and `version` are string datasets, not
 * attributes.  A node of type NIRGraph repeats the layout of /node in its own group.
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

#include "neurons/oz-nir-graph.h"

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
/* oz_nir_import with the scenario as written (given, NULL: none): where several neuron
 * models claim a node's type (Input: the image input and the spike input of event data),
 * the population takes the model given's [population NAME] model names, else the one the
 * node's metadata names (opzosim_model), else the first that is not named_only
 * (neurons/oz-nir-map.h). */
gboolean oz_nir_import_given(const char *path, double dt_s, gboolean train, GKeyFile *given,
                             char **sections, GHashTable **tensors, GError **error);

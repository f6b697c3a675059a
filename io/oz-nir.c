/* oz-nir.c — NIR graphs in HDF5 (nir.write's layout): the writer and the reader.
 *
 * The reader walks /node with H5Literate and reads every dataset through double (float32,
 * float64 and integers all occur) or as strings (variable or fixed length: h5py writes
 * both), so one code path serves this project's files and those of snnTorch, Norse and
 * Sinabs.  HDF5's own error printing is switched off: every failure becomes one GError
 * naming the file and the node.
 *
 * A node of type NIRGraph (a nested graph) is read, like /node, into the node's sub; the
 * import (io/oz-nir-import.c) flattens it.  The graph in memory is neurons/oz-nir-graph.c's;
 * what each node means is the models' and kinds' (their `nir` slots, neurons/oz-nir-map.h).
 */
#include "io/oz-nir.h"

#include <hdf5.h>
#include <math.h>
#include <string.h>

/* ---- Writing ---- */

static hid_t vlen_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static gboolean write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                              const hsize_t *dims, const void *buf) {
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    /* A name with '/' (Flatten's input_type/input) makes its groups on the way. */
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(loc, name, ftype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    gboolean ok = ds >= 0 && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(space);
    return ok;
}

static gboolean write_string(hid_t loc, const char *name, const char *s) {
    hid_t t = vlen_string_type();
    gboolean ok = write_dataset(loc, name, t, t, 0, NULL, &s);
    H5Tclose(t);
    return ok;
}

static gboolean write_field(hid_t loc, const OzNirField *f) {
    hsize_t dims[OZ_NIR_RANK_MAX];
    for (int d = 0; d < f->rank; d++)
        dims[d] = f->dims[d];
    switch (f->dtype) {
    case OZ_NIR_STR: {
        hid_t t = vlen_string_type();
        gboolean ok = write_dataset(loc, f->name, t, t, f->rank, dims, f->s);
        H5Tclose(t);
        return ok;
    }
    case OZ_NIR_F64:
        return write_dataset(loc, f->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, f->rank, dims, f->v);
    case OZ_NIR_F32: {
        g_autofree float *buf = g_new(float, MAX(f->n, 1));
        for (gsize i = 0; i < f->n; i++)
            buf[i] = (float)f->v[i];
        return write_dataset(loc, f->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, f->rank, dims, buf);
    }
    case OZ_NIR_I64: {
        g_autofree gint64 *buf = g_new(gint64, MAX(f->n, 1));
        for (gsize i = 0; i < f->n; i++)
            buf[i] = (gint64)llround(f->v[i]);
        return write_dataset(loc, f->name, H5T_STD_I64LE, H5T_NATIVE_INT64, f->rank, dims, buf);
    }
    }
    return FALSE;
}

/* Fields (or none: NULL), then a metadata group when there is any metadata (nir.write's
 * convention). */
static gboolean write_fields(hid_t loc, const GPtrArray *fields, const GPtrArray *meta) {
    for (guint i = 0; fields && i < fields->len; i++)
        if (!write_field(loc, g_ptr_array_index((GPtrArray *)fields, i)))
            return FALSE;
    if (!meta || meta->len == 0)
        return TRUE;
    hid_t m = H5Gcreate2(loc, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (m < 0)
        return FALSE;
    gboolean ok = TRUE;
    for (guint i = 0; ok && i < meta->len; i++)
        ok = write_field(m, g_ptr_array_index((GPtrArray *)meta, i));
    H5Gclose(m);
    return ok;
}

static gboolean write_graph(hid_t file, const OzNirGraph *g) {
    if (!write_string(file, "version", "1.0.0"))
        return FALSE;
    hid_t top = H5Gcreate2(file, "node", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (top < 0)
        return FALSE;
    gboolean ok = write_string(top, "type", "NIRGraph");
    hsize_t edims[2] = {g->edges->len / 2, 2};
    hid_t st = vlen_string_type();
    ok = ok && write_dataset(top, "edges", st, st, 2, edims, g->edges->pdata);
    H5Tclose(st);
    hid_t nodes = ok ? H5Gcreate2(top, "nodes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
    ok = ok && nodes >= 0;
    for (guint i = 0; ok && i < g->nodes->len; i++) {
        const OzNirNode *n = g_ptr_array_index(g->nodes, i);
        hid_t ng = H5Gcreate2(nodes, n->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = ng >= 0 && write_string(ng, "type", n->type) && write_fields(ng, n->fields, n->meta);
        if (ng >= 0)
            H5Gclose(ng);
    }
    if (nodes >= 0)
        H5Gclose(nodes);
    ok = ok && write_fields(top, NULL, g->meta);
    H5Gclose(top);
    return ok;
}

gboolean oz_nir_write(const OzNirGraph *g, const char *path, GError **error) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_WRITE, "%s: cannot create the file", path);
        return FALSE;
    }
    gboolean ok = write_graph(file, g);
    if (H5Fclose(file) < 0)
        ok = FALSE;
    if (!ok)
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_WRITE, "%s: writing the NIR graph failed",
                    path);
    return ok;
}

/* ---- Reading ---- */

static herr_t collect_name(hid_t loc, const char *name, const H5L_info_t *info, void *data) {
    (void)loc;
    (void)info;
    g_ptr_array_add(data, g_strdup(name));
    return 0;
}

/* The names in a group, in name order.  (transfer full) */
static GPtrArray *member_names(hid_t grp) {
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    hsize_t idx = 0;
    H5Literate(grp, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, names);
    return names;
}

static gboolean is_group(hid_t loc, const char *name) {
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0)
        return FALSE;
    gboolean g = H5Iget_type(o) == H5I_GROUP;
    H5Oclose(o);
    return g;
}

/* One dataset as a field; NULL (and no error) for a class it does not read (compound,
 * enum: nothing NIR writes). */
static OzNirField *read_field(hid_t loc, const char *name, const char *path, const char *where,
                              GError **error) {
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT, "%s: %s/%s: cannot open", path, where,
                    name);
        return NULL;
    }
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds);
    int rank = H5Sget_simple_extent_ndims(space);
    H5T_class_t cls = H5Tget_class(type);
    OzNirField *f = NULL;
    if (rank < 0 || rank > OZ_NIR_RANK_MAX) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "%s: %s/%s: %d dimensions (at most %d are read)", path, where, name, rank,
                    OZ_NIR_RANK_MAX);
        goto out;
    }
    hsize_t dims[OZ_NIR_RANK_MAX] = {0};
    H5Sget_simple_extent_dims(space, dims, NULL);
    f = g_new0(OzNirField, 1);
    f->name = g_strdup(name);
    f->rank = rank;
    f->n = 1;
    for (int d = 0; d < rank; d++) {
        f->dims[d] = dims[d];
        f->n *= dims[d];
    }
    herr_t rc = -1;
    if (cls == H5T_STRING) {
        f->dtype = OZ_NIR_STR;
        f->s = g_new0(char *, f->n + 1);
        if (H5Tis_variable_str(type) > 0) {
            hid_t mt = vlen_string_type();
            char **buf = g_new0(char *, MAX(f->n, 1));
            rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            for (gsize i = 0; rc >= 0 && i < f->n; i++)
                f->s[i] = g_strdup(buf[i] ? buf[i] : "");
            if (rc >= 0)
                H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
            g_free(buf);
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(type);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sz);
            g_autofree char *buf = g_malloc0(MAX(f->n, 1) * sz);
            rc = H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            for (gsize i = 0; rc >= 0 && i < f->n; i++)
                f->s[i] = g_strndup(buf + i * sz, sz);
            H5Tclose(mt);
        }
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        f->dtype = cls == H5T_INTEGER       ? OZ_NIR_I64
                   : H5Tget_size(type) == 4 ? OZ_NIR_F32
                                            : OZ_NIR_F64;
        f->v = g_new0(double, MAX(f->n, 1));
        rc = H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, f->v);
    } else {
        oz_nir_field_free(f);
        f = NULL;
        goto out;
    }
    if (rc < 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT, "%s: %s/%s: cannot read", path, where,
                    name);
        oz_nir_field_free(f);
        f = NULL;
    }
out:
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(ds);
    return f;
}

/* Every dataset of grp into list; a `metadata` group into meta (when not NULL); other
 * groups are recorded in *subgroup (the first one's name) for the caller to refuse. */
static gboolean read_fields(hid_t grp, GPtrArray *list, GPtrArray *meta, char **subgroup,
                            const char *path, const char *where, GError **error) {
    g_autoptr(GPtrArray) names = member_names(grp);
    for (guint i = 0; i < names->len; i++) {
        const char *nm = g_ptr_array_index(names, i);
        if (is_group(grp, nm)) {
            if (meta && strcmp(nm, "metadata") == 0) {
                hid_t m = H5Gopen2(grp, nm, H5P_DEFAULT);
                g_autofree char *w = g_strdup_printf("%s/metadata", where);
                gboolean ok = read_fields(m, meta, NULL, NULL, path, w, error);
                H5Gclose(m);
                if (!ok)
                    return FALSE;
            } else if (subgroup && !*subgroup) {
                *subgroup = g_strdup(nm);
            }
            continue;
        }
        g_autoptr(GError) local = NULL;
        OzNirField *f = read_field(grp, nm, path, where, &local);
        if (local) {
            g_propagate_error(error, g_steal_pointer(&local));
            return FALSE;
        }
        if (f)
            g_ptr_array_add(list, f);
    }
    return TRUE;
}

static char *field_text(const OzNirField *f) {
    return f && f->dtype == OZ_NIR_STR && f->n >= 1 ? g_strdup(f->s[0]) : NULL;
}

/* The graph in group grp (/node, or a nested NIRGraph node's group): type, edges, nodes.
 * A node whose group holds a `nodes` group is a nested graph, read the same way into its
 * sub (depth bounds the nesting, so a file cannot make the reader recurse without end). */
static gboolean read_graph(hid_t grp, const char *path, const char *where, OzNirGraph *g, int depth,
                           GError **error) {
    g_autoptr(GPtrArray) tf = g_ptr_array_new_with_free_func((GDestroyNotify)oz_nir_field_free);
    gboolean ok = read_fields(grp, tf, g->meta, NULL, path, where, error);
    g_autofree char *type = ok ? field_text(oz_nir_field_find(tf, "type")) : NULL;
    if (ok && g_strcmp0(type, "NIRGraph") != 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "%s: %s/type is %s%s%s, not 'NIRGraph'", path, where, type ? "'" : "",
                    type ? type : "missing", type ? "'" : "");
        ok = FALSE;
    }
    const OzNirField *edges = ok ? oz_nir_field_find(tf, "edges") : NULL;
    if (ok && edges &&
        (edges->dtype != OZ_NIR_STR ||
         (edges->n > 0 && (edges->rank != 2 || edges->dims[1] != 2)))) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "%s: %s/edges: expected an (E, 2) array of node names", path, where);
        ok = FALSE;
    }
    for (gsize i = 0; ok && edges && i < edges->n; i++)
        g_ptr_array_add(g->edges, g_strdup(g_strstrip(edges->s[i])));
    hid_t nodes = -1;
    if (ok && (H5Lexists(grp, "nodes", H5P_DEFAULT) <= 0 || !is_group(grp, "nodes"))) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT, "%s: no %s/nodes group", path, where);
        ok = FALSE;
    }
    if (ok)
        nodes = H5Gopen2(grp, "nodes", H5P_DEFAULT);
    g_autoptr(GPtrArray) names = ok ? member_names(nodes) : NULL;
    for (guint i = 0; ok && i < names->len; i++) {
        const char *nm = g_ptr_array_index(names, i);
        if (!is_group(nodes, nm))
            continue;
        hid_t ng = H5Gopen2(nodes, nm, H5P_DEFAULT);
        OzNirNode *n = oz_nir_node_add(g, nm, NULL);
        g_autofree char *label = g_strdup_printf("node '%s'", nm);
        g_autofree char *sub = NULL;
        ok = read_fields(ng, n->fields, n->meta, &sub, path, label, error);
        n->type = field_text(oz_nir_field_find(n->fields, "type"));
        if (ok && H5Lexists(ng, "nodes", H5P_DEFAULT) > 0 && is_group(ng, "nodes")) {
            /* A nested graph: its fields were read as the node's (type, edges); read it
             * again as a graph of its own. */
            if (depth >= 16) {
                g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                            "%s: %s: graphs nested more than 16 deep", path, label);
                ok = FALSE;
            } else {
                g_autofree char *w = g_strdup_printf("%s/nodes/%s", where, nm);
                n->sub = oz_nir_graph_new();
                ok = read_graph(ng, path, w, n->sub, depth + 1, error);
            }
            if (ok && !n->type)
                n->type = g_strdup("NIRGraph");
        }
        H5Gclose(ng);
    }
    if (nodes >= 0)
        H5Gclose(nodes);
    return ok;
}

OzNirGraph *oz_nir_read(const char *path, GError **error) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT, "%s: no such file", path);
        return NULL;
    }
    if (H5Fis_hdf5(path) <= 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "%s: not an HDF5 file (a NIR graph is written by nir.write or opzosim export)",
                    path);
        return NULL;
    }
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT, "%s: cannot open as HDF5", path);
        return NULL;
    }
    g_autoptr(OzNirGraph) g = oz_nir_graph_new();
    gboolean ok = FALSE;
    if (H5Lexists(file, "node", H5P_DEFAULT) <= 0 || !is_group(file, "node")) {
        g_set_error(error, OZ_NIR_ERROR, OZ_NIR_ERROR_FORMAT,
                    "%s: no /node group: an HDF5 file, but not a NIR graph", path);
    } else {
        hid_t top = H5Gopen2(file, "node", H5P_DEFAULT);
        ok = read_graph(top, path, "/node", g, 0, error);
        H5Gclose(top);
    }
    H5Fclose(file);
    return ok ? g_steal_pointer(&g) : NULL;
}

/* oz-export.c — `opzosim export`: a run's network and one epoch's weights as a NIR graph.
 *
 * The mapping (docs/INTEROP.md, "Export"):
 *   input population → Input (its shape); the graph's metadata keeps what NIR has no
 *     field for: encoding, T, the normalisation, the decision rule, dt;
 *   lif → LIF with per-neuron arrays, τ = dt/(1 − λ), r = 1/(1 − λ), v_leak = 0 (the
 *     forward-Euler map of u = λv + I), v_threshold, v_reset; λ exactly, the reset mode and
 *     the bias in the node's metadata; λ = 1 and if → IF (r = 1);
 *   readout → Output, fed by an Affine per projection into it;
 *   dense projection → [Delay] → [Flatten, when the source is shaped] → Affine, weight
 *     (n_post, n_pre) = Wᵀ;
 *   conv2d projection → [Delay] → [AvgPool2d | SumPool2d] → Conv2d (C_out, C_in, k, k).
 * A population's bias b rides on the first dense Affine into it; with only conv2d inputs
 * on v_leak = b·r (LIF), or on the Conv2d's per-channel bias when it is one value per
 * channel (IF, readout).  The input normalisation x = (p/255 − mean)/std is folded into
 * the projections out of the input (W/std, and −mean/std·ΣW into the bias), so another
 * tool feeds p/255; the unfolded weights stay in the metadata (opzosim_weight) for an
 * exact import here.
 */
#include "sim/oz-export.h"

#include "io/oz-nir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name, *model;
    int n, rank, dims[3];
    double lambda, v_th, v_reset;
    gboolean soft, has_bias;
    float *bias;     /* (n) the checkpoint's, or NULL */
    double *nirbias; /* (n) what a NIR consumer adds: b plus folded normalisation offsets */
} EPop;

typedef struct {
    char *name, *from, *to, *kind;
    int n_pre, n_post, delay;
    int kernel, stride, padding, pool_size;
    char *pool;
    float *w;
    gsize nw;
} EProj;

static void epop_free(EPop *p) {
    g_free(p->name);
    g_free(p->model);
    g_free(p->bias);
    g_free(p->nirbias);
    g_free(p);
}

static void eproj_free(EProj *p) {
    g_free(p->name);
    g_free(p->from);
    g_free(p->to);
    g_free(p->kind);
    g_free(p->pool);
    g_free(p->w);
    g_free(p);
}

typedef struct {
    sqlite3 *db;
    gint64 run;
    int epoch;
    double dt;
    GKeyFile *kf;
    GPtrArray *pops, *projs;
    EPop *input, *readout;
} Ex;

static gboolean fail(GError **error, OzNirError code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static gboolean fail(GError **error, OzNirError code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, OZ_NIR_ERROR, code, msg);
    return FALSE;
}

static EPop *find_pop(Ex *ex, const char *name) {
    for (guint i = 0; i < ex->pops->len; i++) {
        EPop *p = g_ptr_array_index(ex->pops, i);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

/* A parameter of the run (parameters table) as text, or NULL.  (transfer full) */
static char *param(Ex *ex, const char *owner, const char *key) {
    sqlite3_stmt *st = NULL;
    char *v = NULL;
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT value FROM parameters WHERE run_id = ? AND owner = ? AND "
                           "key = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex->run);
        sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            v = g_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
}

static double param_double(Ex *ex, const char *owner, const char *key, double def) {
    g_autofree char *v = param(ex, owner, key);
    return v ? g_ascii_strtod(v, NULL) : def;
}

/* A key of the run's scenario text, or def.  (transfer full) */
static char *scenario_value(Ex *ex, const char *group, const char *key, const char *def) {
    char *v = g_key_file_get_value(ex->kf, group, key, NULL);
    if (v)
        g_strstrip(v);
    return v ? v : g_strdup(def);
}

/* A float32 tensor of the checkpoint (little-endian bytes), or NULL with *n = 0. */
static float *tensor(Ex *ex, const char *name, gsize *n) {
    sqlite3_stmt *st = NULL;
    float *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT data, dtype FROM checkpoints WHERE run_id = ? AND epoch = ? "
                           "AND name = ?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex->run);
        sqlite3_bind_int(st, 2, ex->epoch);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const guint8 *b = sqlite3_column_blob(st, 0);
            gsize len = (gsize)sqlite3_column_bytes(st, 0);
            const char *dtype = (const char *)sqlite3_column_text(st, 1);
            if (b && (!dtype || strcmp(dtype, "float32") == 0) && len % 4 == 0) {
                *n = len / 4;
                out = g_new(float, MAX(*n, 1));
                for (gsize i = 0; i < *n; i++) {
                    guint32 u = (guint32)b[4 * i] | (guint32)b[4 * i + 1] << 8 |
                                (guint32)b[4 * i + 2] << 16 | (guint32)b[4 * i + 3] << 24;
                    memcpy(&out[i], &u, 4);
                }
            }
        }
    }
    sqlite3_finalize(st);
    return out;
}

static gboolean read_structure(Ex *ex, GError **error) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT name, model, size, shape FROM populations WHERE run_id = ? "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(error, OZ_NIR_ERROR_FORMAT, "the run log has no populations table: %s",
                    sqlite3_errmsg(ex->db));
    sqlite3_bind_int64(st, 1, ex->run);
    while (sqlite3_step(st) == SQLITE_ROW) {
        EPop *p = g_new0(EPop, 1);
        g_ptr_array_add(ex->pops, p);
        p->name = g_strdup((const char *)sqlite3_column_text(st, 0));
        p->model = g_strdup((const char *)sqlite3_column_text(st, 1));
        p->n = sqlite3_column_int(st, 2);
        const char *shape = (const char *)sqlite3_column_text(st, 3);
        g_auto(GStrv) parts = shape ? g_strsplit(shape, ",", -1) : NULL;
        p->rank = parts && g_strv_length(parts) == 3 ? 3 : 1;
        for (int d = 0; d < p->rank; d++)
            p->dims[d] = p->rank == 3 ? atoi(parts[d]) : p->n;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(ex->db,
                           "SELECT name, pre, post, n_pre, n_post, delay_ticks FROM projections "
                           "WHERE run_id = ? ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(error, OZ_NIR_ERROR_FORMAT, "the run log has no projections table: %s",
                    sqlite3_errmsg(ex->db));
    sqlite3_bind_int64(st, 1, ex->run);
    while (sqlite3_step(st) == SQLITE_ROW) {
        EProj *p = g_new0(EProj, 1);
        g_ptr_array_add(ex->projs, p);
        p->name = g_strdup((const char *)sqlite3_column_text(st, 0));
        p->from = g_strdup((const char *)sqlite3_column_text(st, 1));
        p->to = g_strdup((const char *)sqlite3_column_text(st, 2));
        p->n_pre = sqlite3_column_int(st, 3);
        p->n_post = sqlite3_column_int(st, 4);
        p->delay = sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
    return TRUE;
}

/* Models and kinds the export maps, parameters and tensors. */
static gboolean read_network(Ex *ex, GError **error) {
    for (guint i = 0; i < ex->pops->len; i++) {
        EPop *p = g_ptr_array_index(ex->pops, i);
        g_autofree char *owner = g_strdup_printf("population %s", p->name);
        if (strcmp(p->model, "input") == 0) {
            ex->input = p;
            continue;
        }
        if (strcmp(p->model, "readout") == 0)
            ex->readout = p;
        else if (strcmp(p->model, "lif") != 0 && strcmp(p->model, "if") != 0)
            return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                        "population %s: model %s has no NIR node (export maps input, lif, if "
                        "and readout)",
                        p->name, p->model);
        /* Not exported yet: a scale of what the population sends would have to multiply
         * every outgoing weight (docs/INTEROP.md, "Not exported"). */
        if (param_double(ex, owner, "output_scale", 1.0) != 1.0)
            return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                        "population %s: output_scale other than 1 is not exported yet "
                        "(docs/INTEROP.md)",
                        p->name);
        p->lambda = strcmp(p->model, "lif") == 0 ? param_double(ex, owner, "lambda", 0.5) : 1.0;
        p->v_th = param_double(ex, owner, "v_th", 1.0);
        g_autofree char *reset = param(ex, owner, "reset");
        p->soft = strcmp(p->model, "readout") != 0 && g_strcmp0(reset, "hard") != 0;
        p->v_reset = p->soft ? 0.0 : param_double(ex, owner, "v_reset", 0.0);
        g_autofree char *bias = param(ex, owner, "bias");
        p->has_bias = g_strcmp0(bias, "false") != 0;
        p->nirbias = g_new0(double, p->n);
        if (p->has_bias) {
            g_autofree char *tn = g_strconcat("b:", p->name, NULL);
            gsize n = 0;
            p->bias = tensor(ex, tn, &n);
            if (!p->bias || n != (gsize)p->n)
                return fail(error, OZ_NIR_ERROR_FORMAT,
                            "run %" G_GINT64_FORMAT " epoch %d: no float32 tensor %s of %d "
                            "values in the checkpoint",
                            ex->run, ex->epoch, tn, p->n);
            for (int i = 0; i < p->n; i++)
                p->nirbias[i] = p->bias[i];
        }
    }
    if (!ex->input || !ex->readout)
        return fail(error, OZ_NIR_ERROR_FORMAT,
                    "run %" G_GINT64_FORMAT " has no input or no readout population", ex->run);
    for (guint i = 0; i < ex->projs->len; i++) {
        EProj *p = g_ptr_array_index(ex->projs, i);
        g_autofree char *group = g_strdup_printf("projection %s", p->name);
        p->kind = scenario_value(ex, group, "kind", "dense");
        if (strcmp(p->kind, "dense") != 0 && strcmp(p->kind, "conv2d") != 0)
            return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                        "projection %s: kind %s has no NIR node (export maps dense and conv2d)",
                        p->name, p->kind);
        /* Not exported yet: the checkpoint holds the raw W, the network delivers Ŵ·γ. */
        g_autofree char *ws = scenario_value(ex, group, "weight_standardization", "false");
        if (strcmp(ws, "true") == 0)
            return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                        "projection %s: weight_standardization = true is not exported yet "
                        "(docs/INTEROP.md)",
                        p->name);
        g_autofree char *tn = g_strconcat("w:", p->name, NULL);
        p->w = tensor(ex, tn, &p->nw);
        if (!p->w)
            return fail(error, OZ_NIR_ERROR_FORMAT,
                        "run %" G_GINT64_FORMAT " epoch %d: no float32 tensor %s in the "
                        "checkpoint",
                        ex->run, ex->epoch, tn);
        if (strcmp(p->kind, "conv2d") == 0) {
            p->kernel = (int)param_double(ex, group, "kernel", 3);
            p->stride = (int)param_double(ex, group, "stride", 1);
            p->padding = (int)param_double(ex, group, "padding", 0);
            p->pool = param(ex, group, "pool");
            p->pool_size = (int)param_double(ex, group, "pool_size", 2);
        } else {
            if (p->nw != (gsize)p->n_pre * (gsize)p->n_post)
                return fail(error, OZ_NIR_ERROR_FORMAT, "projection %s: %zu weights for %d x %d",
                            p->name, p->nw, p->n_pre, p->n_post);
        }
    }
    return TRUE;
}

/* ---- Building the graph ---- */

static char *node_name(Ex *ex, const char *pop) {
    EPop *p = find_pop(ex, pop);
    if (p == ex->input)
        return g_strdup("input");
    if (p == ex->readout)
        return g_strdup("output");
    return g_strdup(pop);
}

static void per_neuron(GPtrArray *fields, const char *name, const EPop *p, double v) {
    g_autofree double *a = g_new(double, p->n);
    for (int i = 0; i < p->n; i++)
        a[i] = v;
    gsize dims[3] = {(gsize)p->dims[0], (gsize)p->dims[1], (gsize)p->dims[2]};
    oz_nir_field_add(fields, name, OZ_NIR_F64, p->rank, dims, a);
}

static void ints2(GPtrArray *fields, const char *name, int a, int b) {
    double v[2] = {a, b};
    gsize d = 2;
    oz_nir_field_add(fields, name, OZ_NIR_I64, 1, &d, v);
}

/* The neuron node of a lif or if population; the bias is placed later (v_leak). */
static OzNirNode *neuron_node(Ex *ex, OzNirGraph *g, EPop *p) {
    (void)ex;
    gboolean leak = strcmp(p->model, "lif") == 0 && p->lambda < 1.0;
    OzNirNode *n = oz_nir_node_add(g, p->name, leak ? "LIF" : "IF");
    if (leak) {
        double r = 1.0 / (1.0 - p->lambda);
        per_neuron(n->fields, "tau", p, ex->dt * r);
        per_neuron(n->fields, "r", p, r);
        per_neuron(n->fields, "v_leak", p, 0.0);
    } else {
        per_neuron(n->fields, "r", p, 1.0);
    }
    per_neuron(n->fields, "v_threshold", p, p->v_th);
    per_neuron(n->fields, "v_reset", p, p->v_reset);
    oz_nir_field_scalar(n->meta, "opzosim_lambda", OZ_NIR_F64, p->lambda);
    oz_nir_field_string(n->meta, "opzosim_model", p->model);
    oz_nir_field_string(n->meta, "opzosim_reset", p->soft ? "soft" : "hard");
    return n;
}

static void exact_bias(GPtrArray *meta, const EPop *p) {
    if (!p->bias)
        return;
    g_autofree double *v = g_new(double, p->n);
    for (int i = 0; i < p->n; i++)
        v[i] = p->bias[i];
    gsize d = (gsize)p->n;
    oz_nir_field_add(meta, "opzosim_bias", OZ_NIR_F32, 1, &d, v);
}

/* Whether the normalisation is folded into projections out of the input. */
static gboolean folds(Ex *ex, double *mean, double *std) {
    g_autofree char *owner = g_strdup_printf("population %s", ex->input->name);
    g_autofree char *encoding = param(ex, owner, "encoding");
    g_autofree char *norm = scenario_value(ex, "data", "normalize", "true");
    g_autofree char *m = scenario_value(ex, "data", "mean", "0.1307");
    g_autofree char *s = scenario_value(ex, "data", "std", "0.3081");
    *mean = g_ascii_strtod(m, NULL);
    *std = g_ascii_strtod(s, NULL);
    return g_strcmp0(encoding ? encoding : "current", "current") == 0 &&
           g_strcmp0(norm, "true") == 0;
}

static gboolean add_projection(Ex *ex, OzNirGraph *g, EProj *p, GError **error) {
    EPop *src = find_pop(ex, p->from), *dst = find_pop(ex, p->to);
    g_autofree char *prev = node_name(ex, p->from);
    g_autofree char *target = node_name(ex, p->to);
    if (p->delay > 0) {
        g_autofree char *dn = g_strconcat(p->name, "_delay", NULL);
        OzNirNode *d = oz_nir_node_add(g, dn, "Delay");
        per_neuron(d->fields, "delay", src, p->delay * ex->dt);
        oz_nir_edge_add(g, prev, dn);
        g_free(prev);
        prev = g_strdup(dn);
    }
    double mean = 0, std = 1;
    gboolean fold = src == ex->input && folds(ex, &mean, &std);
    if (strcmp(p->kind, "dense") == 0) {
        if (src->rank == 3) {
            g_autofree char *fn = g_strconcat(p->name, "_flatten", NULL);
            OzNirNode *f = oz_nir_node_add(g, fn, "Flatten");
            oz_nir_field_scalar(f->fields, "start_dim", OZ_NIR_I64, 0);
            oz_nir_field_scalar(f->fields, "end_dim", OZ_NIR_I64, -1);
            double shp[3] = {src->dims[0], src->dims[1], src->dims[2]};
            gsize three = 3;
            oz_nir_field_add(f->fields, "input_type/input", OZ_NIR_I64, 1, &three, shp);
            oz_nir_edge_add(g, prev, fn);
            g_free(prev);
            prev = g_strdup(fn);
        }
        int nin = p->n_pre, nout = p->n_post;
        g_autofree double *w = g_new(double, (gsize)nin *nout);
        g_autofree double *off = g_new0(double, nout);
        for (int i = 0; i < nin; i++)
            for (int o = 0; o < nout; o++) {
                double v = p->w[(gsize)i * nout + o];
                w[(gsize)o * nin + i] = fold ? v / std : v;
                off[o] -= fold ? v * mean / std : 0.0;
            }
        for (int o = 0; o < nout; o++)
            dst->nirbias[o] += off[o];
        OzNirNode *a = oz_nir_node_add(g, p->name, "Affine");
        gsize wd[2] = {(gsize)nout, (gsize)nin};
        oz_nir_field_add(a->fields, "weight", OZ_NIR_F32, 2, wd, w);
        /* The bias node is filled when every offset is known (place_biases). */
        oz_nir_field_add(a->fields, "bias", OZ_NIR_F32, 1, wd, off);
        if (fold) {
            g_autofree double *orig = g_new(double, p->nw);
            for (gsize k = 0; k < p->nw; k++)
                orig[k] = p->w[k];
            gsize od[2] = {(gsize)nin, (gsize)nout};
            oz_nir_field_add(a->meta, "opzosim_weight", OZ_NIR_F32, 2, od, orig);
            oz_nir_field_string(a->meta, "opzosim_folded",
                                "the input normalisation x = (p/255 - mean)/std is folded in: "
                                "weight/std, bias - mean/std * sum(weight)");
        }
        oz_nir_edge_add(g, prev, p->name);
        oz_nir_edge_add(g, p->name, target);
        return TRUE;
    }
    /* conv2d */
    int ps = p->pool && strcmp(p->pool, "none") != 0 ? p->pool_size : 1;
    if (ps > 1) {
        g_autofree char *pn = g_strconcat(p->name, "_pool", NULL);
        OzNirNode *q =
            oz_nir_node_add(g, pn, strcmp(p->pool, "avg") == 0 ? "AvgPool2d" : "SumPool2d");
        ints2(q->fields, "kernel_size", ps, ps);
        ints2(q->fields, "stride", ps, ps);
        ints2(q->fields, "padding", 0, 0);
        oz_nir_edge_add(g, prev, pn);
        g_free(prev);
        prev = g_strdup(pn);
    }
    if (src->rank != 3 || dst->rank != 3)
        return fail(error, OZ_NIR_ERROR_FORMAT, "projection %s: conv2d between unshaped layers",
                    p->name);
    int cin = src->dims[0], hc = src->dims[1] / ps, wc = src->dims[2] / ps, k = p->kernel;
    int cout = dst->dims[0], ho = dst->dims[1], wo = dst->dims[2];
    gsize ckk = (gsize)cin * k * k;
    if (p->nw != (gsize)cout * ckk)
        return fail(error, OZ_NIR_ERROR_FORMAT, "projection %s: %zu weights for (%d, %d, %d, %d)",
                    p->name, p->nw, cout, cin, k, k);
    g_autofree double *w = g_new(double, p->nw);
    for (gsize i = 0; i < p->nw; i++)
        w[i] = fold ? p->w[i] / std : p->w[i];
    if (fold) {
        /* −mean/std times the kernel's sum over the taps that fall inside the map (the
         * padding reads zeros, not −mean/std): one value per output neuron. */
        for (int co = 0; co < cout; co++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double s = 0;
                    for (int ci = 0; ci < cin; ci++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int y = oy * p->stride - p->padding + ky;
                                int x = ox * p->stride - p->padding + kx;
                                if (y >= 0 && y < hc && x >= 0 && x < wc)
                                    s += p->w[(gsize)co * ckk + ((gsize)ci * k + ky) * k + kx];
                            }
                    dst->nirbias[((gsize)co * ho + oy) * wo + ox] -= s * mean / std;
                }
    }
    OzNirNode *c = oz_nir_node_add(g, p->name, "Conv2d");
    ints2(c->fields, "input_shape", hc, wc);
    gsize wd[4] = {(gsize)cout, (gsize)cin, (gsize)k, (gsize)k};
    oz_nir_field_add(c->fields, "weight", OZ_NIR_F32, 4, wd, w);
    ints2(c->fields, "stride", p->stride, p->stride);
    ints2(c->fields, "padding", p->padding, p->padding);
    ints2(c->fields, "dilation", 1, 1);
    oz_nir_field_scalar(c->fields, "groups", OZ_NIR_I64, 1);
    g_autofree double *zero = g_new0(double, cout);
    gsize bd = (gsize)cout;
    oz_nir_field_add(c->fields, "bias", OZ_NIR_F32, 1, &bd, zero);
    if (fold) {
        g_autofree double *orig = g_new(double, p->nw);
        for (gsize i = 0; i < p->nw; i++)
            orig[i] = p->w[i];
        oz_nir_field_add(c->meta, "opzosim_weight", OZ_NIR_F32, 4, wd, orig);
    }
    oz_nir_edge_add(g, prev, p->name);
    oz_nir_edge_add(g, p->name, target);
    return TRUE;
}

static OzNirField *field_mut(GPtrArray *list, const char *name) {
    return (OzNirField *)oz_nir_field_find(list, name);
}

/* Each population's NIR bias (b plus folded offsets) onto the first dense Affine into it,
 * else v_leak (LIF), else the per-channel bias of the first Conv2d into it when it is one
 * value per channel. */
static gboolean place_biases(Ex *ex, OzNirGraph *g, GError **error) {
    for (guint i = 0; i < ex->pops->len; i++) {
        EPop *p = g_ptr_array_index(ex->pops, i);
        if (p == ex->input)
            continue;
        gboolean any = FALSE;
        for (int k = 0; k < p->n; k++)
            any = any || p->nirbias[k] != 0.0;
        EProj *first_dense = NULL, *first_conv = NULL;
        for (guint j = 0; j < ex->projs->len; j++) {
            EProj *q = g_ptr_array_index(ex->projs, j);
            if (strcmp(q->to, p->name) != 0)
                continue;
            if (!first_dense && strcmp(q->kind, "dense") == 0)
                first_dense = q;
            if (!first_conv && strcmp(q->kind, "conv2d") == 0)
                first_conv = q;
        }
        if (!any)
            continue;
        if (first_dense) {
            OzNirField *b = field_mut(oz_nir_node_find(g, first_dense->name)->fields, "bias");
            for (int k = 0; k < p->n; k++)
                b->v[k] = p->nirbias[k];
            continue;
        }
        OzNirNode *nn = oz_nir_node_find(g, p->name);
        if (nn && strcmp(nn->type, "LIF") == 0) {
            OzNirField *vl = field_mut(nn->fields, "v_leak");
            double r = 1.0 / (1.0 - p->lambda);
            for (int k = 0; k < p->n; k++)
                vl->v[k] = p->nirbias[k] * r;
            continue;
        }
        int cout = p->dims[0], per = p->n / MAX(cout, 1);
        gboolean channel = first_conv && p->rank == 3;
        for (int c = 0; channel && c < cout; c++)
            for (int q = 1; q < per; q++)
                channel = channel && p->nirbias[c * per + q] == p->nirbias[c * per];
        if (!channel)
            return fail(error, OZ_NIR_ERROR_UNSUPPORTED,
                        "population %s (%s) takes only conv2d projections and its bias differs "
                        "within a channel: NIR's Conv2d bias is per channel and %s has no "
                        "v_leak",
                        p->name, p->model, strcmp(p->model, "if") == 0 ? "IF" : "Output");
        OzNirField *b = field_mut(oz_nir_node_find(g, first_conv->name)->fields, "bias");
        for (int c = 0; c < cout; c++)
            b->v[c] = p->nirbias[c * per];
    }
    return TRUE;
}

static gboolean build(Ex *ex, OzNirGraph *g, char **soft, GError **error) {
    EPop *in = ex->input;
    OzNirNode *inode = oz_nir_node_add(g, "input", "Input");
    double shp[3] = {in->dims[0], in->dims[1], in->dims[2]};
    gsize rank = (gsize)in->rank;
    oz_nir_field_add(inode->fields, "shape", OZ_NIR_I64, 1, &rank, shp);
    g_autoptr(GString) softs = g_string_new(NULL);
    for (guint i = 0; i < ex->pops->len; i++) {
        EPop *p = g_ptr_array_index(ex->pops, i);
        if (p == ex->input || p == ex->readout)
            continue;
        OzNirNode *n = neuron_node(ex, g, p);
        exact_bias(n->meta, p);
        if (p->soft)
            g_string_append_printf(softs, "%s%s", softs->len ? ", " : "", p->name);
    }
    OzNirNode *out = oz_nir_node_add(g, "output", "Output");
    double on = ex->readout->n;
    gsize one = 1;
    oz_nir_field_add(out->fields, "shape", OZ_NIR_I64, 1, &one, &on);
    exact_bias(out->meta, ex->readout);
    for (guint i = 0; i < ex->projs->len; i++)
        if (!add_projection(ex, g, g_ptr_array_index(ex->projs, i), error))
            return FALSE;
    if (!place_biases(ex, g, error))
        return FALSE;
    /* What NIR has no field for. */
    double mean = 0, std = 1;
    gboolean fold = folds(ex, &mean, &std);
    g_autofree char *enc_owner = g_strdup_printf("population %s", in->name);
    g_autofree char *encoding = param(ex, enc_owner, "encoding");
    g_autofree char *ticks = scenario_value(ex, "run", "ticks", "6");
    GPtrArray *m = g->meta;
    oz_nir_field_string(m, "opzosim_version", OZ_VERSION);
    oz_nir_field_string(m, "opzosim_input", in->name);
    oz_nir_field_string(m, "opzosim_readout", ex->readout->name);
    oz_nir_field_string(m, "opzosim_encoding", encoding ? encoding : "current");
    oz_nir_field_scalar(m, "opzosim_T", OZ_NIR_I64, g_ascii_strtod(ticks, NULL));
    oz_nir_field_scalar(m, "opzosim_dt", OZ_NIR_F64, ex->dt);
    oz_nir_field_string(m, "opzosim_input_scale",
                        fold ? "feed x = pixel/255; the normalisation is folded into the first "
                               "layer"
                             : "feed x = pixel/255 (no normalisation)");
    oz_nir_field_scalar(m, "opzosim_normalize", OZ_NIR_I64, fold ? 1 : 0);
    oz_nir_field_scalar(m, "opzosim_mean", OZ_NIR_F64, mean);
    oz_nir_field_scalar(m, "opzosim_std", OZ_NIR_F64, std);
    oz_nir_field_string(m, "opzosim_decision",
                        "argmax over classes of sum_t o[t], o the Output, over the T ticks that "
                        "start when input first reaches it");
    oz_nir_field_string(m, "opzosim_threshold", "a neuron fires when u >= v_threshold");
    *soft = softs->len ? g_strdup(softs->str) : NULL;
    return TRUE;
}

gboolean oz_export_nir(sqlite3 *db, const OzExportOptions *opt, const char *out_path,
                       char **soft_reset, GError **error) {
    Ex ex = {.db = db, .run = opt->run_id, .epoch = opt->epoch, .dt = opt->dt_s};
    if (!(opt->dt_s > 0))
        return fail(error, OZ_NIR_ERROR_UNSUPPORTED, "--dt %g: expected a positive time step",
                    opt->dt_s);
    sqlite3_stmt *st = NULL;
    if (ex.run < 0 &&
        sqlite3_prepare_v2(db, "SELECT MAX(run_id) FROM checkpoints", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        ex.run = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (ex.run < 0)
        return fail(error, OZ_NIR_ERROR_FORMAT,
                    "the run log holds no checkpoint (only training runs write them)");
    if (ex.epoch < 0 &&
        sqlite3_prepare_v2(db, "SELECT MAX(epoch) FROM checkpoints WHERE run_id = ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex.run);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            ex.epoch = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    st = NULL;
    g_autofree char *text = NULL;
    if (sqlite3_prepare_v2(db, "SELECT scenario FROM runs WHERE id = ?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(st, 1, ex.run);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            text = g_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (!text || ex.epoch < 0)
        return fail(error, OZ_NIR_ERROR_FORMAT, "run %" G_GINT64_FORMAT " %s", ex.run,
                    text ? "has no checkpoint" : "is not in the run log");
    ex.kf = g_key_file_new();
    g_key_file_load_from_data(ex.kf, text, (gsize)-1, G_KEY_FILE_NONE, NULL);
    ex.pops = g_ptr_array_new_with_free_func((GDestroyNotify)epop_free);
    ex.projs = g_ptr_array_new_with_free_func((GDestroyNotify)eproj_free);
    g_autoptr(OzNirGraph) g = oz_nir_graph_new();
    g_autofree char *soft = NULL;
    gboolean ok = read_structure(&ex, error) && read_network(&ex, error) &&
                  build(&ex, g, &soft, error) && oz_nir_write(g, out_path, error);
    g_key_file_free(ex.kf);
    g_ptr_array_unref(ex.pops);
    g_ptr_array_unref(ex.projs);
    if (ok && soft_reset)
        *soft_reset = g_steal_pointer(&soft);
    return ok;
}

int oz_cmd_export(int argc, char **argv) {
    gint64 run_id = -1;
    int epoch = -1;
    g_autofree char *format = NULL, *out = NULL;
    double dt = 1e-4;
    GOptionEntry entries[] = {
        {"run", 0, 0, G_OPTION_ARG_INT64, &run_id, "Run id (default: the newest with a checkpoint)",
         "ID"},
        {"epoch", 'e', 0, G_OPTION_ARG_INT, &epoch, "Epoch (default: the newest checkpoint)", "N"},
        {"format", 'f', 0, G_OPTION_ARG_STRING, &format, "Output format: nir", "FORMAT"},
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "Output file (required)", "FILE"},
        {"dt", 0, 0, G_OPTION_ARG_DOUBLE, &dt,
         "Seconds per tick for the LIF mapping tau = dt/(1 - lambda) (default 1e-4)", "S"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("DB - write a run's trained network as a NIR graph (HDF5)");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 || !out) {
        fprintf(stderr, "opzosim export: %s\n",
                error ? error->message
                      : "usage: opzosim export DB [--run ID] [--epoch N] --format nir --out "
                        "FILE.nir [--dt S]");
        return 2;
    }
    if (g_strcmp0(format ? format : "nir", "nir") != 0) {
        fprintf(stderr, "opzosim export: --format %s: the one format is nir\n", format);
        return 2;
    }
    const char *db_path = argv[1];
    sqlite3 *db = NULL;
    if (!g_file_test(db_path, G_FILE_TEST_IS_REGULAR) ||
        sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "opzosim: error: cannot open run log %s\n", db_path);
        sqlite3_close(db);
        return 2;
    }
    sqlite3_busy_timeout(db, 5000);
    OzExportOptions opt = {run_id, epoch, dt};
    g_autofree char *soft = NULL;
    gboolean ok = oz_export_nir(db, &opt, out, &soft, &error);
    sqlite3_close(db);
    if (!ok) {
        fprintf(stderr, "opzosim: error: %s: %s\n", db_path, error->message);
        return error->code == OZ_NIR_ERROR_WRITE ? 1 : 2;
    }
    if (soft)
        fprintf(stderr,
                "opzosim: warning: populations %s use the soft (subtract) reset, which NIR "
                "cannot express: their nodes carry v_reset = 0 and opzosim_reset = soft in "
                "their metadata; a tool that ignores it runs a hard reset (set [population] "
                "reset = hard and train again to lose nothing)\n",
                soft);
    printf("wrote %s\n", out);
    return 0;
}

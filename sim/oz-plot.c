/* oz-plot.c — `opzosim plot`: figures of run logs drawn with PLplot (cairo devices: PNG,
 * SVG, PDF).
 *
 * Each kind first reads its numbers from the log into a list of points (run, panel,
 * series, x, y); the figure is drawn from that list and `--data` writes the same list, so
 * the CSV holds exactly what is plotted.  Kinds: curves (accuracy and loss per epoch),
 * raster (the recorded spikes of one sample), rates (firing rate per population and
 * epoch), energy (joules per sample under each hardware model, inference and training,
 * log axis), grad (cosine to BP and gradient variance per projection), ops (training
 * operations per sample by kind, stacked) and levels (each run's last test accuracy against
 * the value of a scenario key in its scenario, one line per group of runs: a study's
 * accuracy against a chip's noise level per rule).
 *
 * Not here: any pixel drawing of our own (PLplot draws everything), and writing to the
 * log.  PLplot keeps global state, so one figure is drawn at a time.
 */
#include "sim/oz-study.h"

#include "io/oz-scenario.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <plplot.h>
#include <string.h>
#include <unistd.h>

/* One plotted value.  style tells series of one run apart (test/train, a projection). */
typedef struct {
    guint run;    /* index into study->runs */
    char *panel;  /* (transfer none): a literal or a string of the figure's strings */
    char *series; /* likewise */
    int style;
    double x, y;
    const char *note; /* "" or a remark (a model that does not cover every operation) */
} Pt;

typedef struct {
    OzStudy *study;
    const OzPlotOptions *opt;
    GArray *pts;       /* of Pt */
    GStringChunk *str; /* the strings the points point to */
    GPtrArray *panels; /* panel names in drawing order (transfer none) */
    GPtrArray *styles; /* style names by index, for the legend */
    char *title;
    const char *xlabel;
    GPtrArray *ylabels; /* one per panel */
    GArray *logy;       /* gboolean per panel */
    GArray *sizes;      /* raster: the population's size (double) per panel */
} Fig;

static void fig_clear(Fig *f) {
    g_array_free(f->pts, TRUE);
    g_string_chunk_free(f->str);
    g_ptr_array_free(f->panels, TRUE);
    g_ptr_array_free(f->styles, TRUE);
    g_ptr_array_free(f->ylabels, TRUE);
    g_array_free(f->logy, TRUE);
    g_array_free(f->sizes, TRUE);
    g_free(f->title);
}

static const char *keep(Fig *f, const char *s) {
    return g_string_chunk_insert_const(f->str, s ? s : "");
}

static int panel_index(Fig *f, const char *name, const char *ylabel, gboolean logy) {
    for (guint i = 0; i < f->panels->len; i++)
        if (strcmp(f->panels->pdata[i], name) == 0)
            return (int)i;
    g_ptr_array_add(f->panels, (char *)keep(f, name));
    g_ptr_array_add(f->ylabels, (char *)keep(f, ylabel));
    g_array_append_val(f->logy, logy);
    return (int)f->panels->len - 1;
}

static int style_index(Fig *f, const char *name) {
    for (guint i = 0; i < f->styles->len; i++)
        if (strcmp(f->styles->pdata[i], name) == 0)
            return (int)i;
    g_ptr_array_add(f->styles, (char *)keep(f, name));
    return (int)f->styles->len - 1;
}

/* A point to draw.  A value that is not finite (the loss of a run that diverged) cannot
 * be drawn: it is left out of the figure and of --data alike. */
static void add_pt(Fig *f, guint run, const char *panel, const char *series, const char *style,
                   double x, double y, const char *note) {
    if (!isfinite(x) || !isfinite(y))
        return;
    Pt p = {.run = run,
            .panel = (char *)keep(f, panel),
            .series = (char *)keep(f, series),
            .style = style ? style_index(f, style) : 0,
            .x = x,
            .y = y,
            .note = keep(f, note)};
    g_array_append_val(f->pts, p);
}

static OzStudyRun *run_at(Fig *f, guint i) {
    return f->study->runs->pdata[i];
}

/* ---- Reading the numbers of each kind ---- */

/* Each reader below runs its query once per chosen run (oz_study_each_run_rows) and adds
 * the points of each result row in a row function: data is the figure (or, for energy, a
 * panel of it). */

static void curves_row(guint i, sqlite3_stmt *st, gpointer data) {
    Fig *f = data;
    int epoch = sqlite3_column_int(st, 0);
    const char *phase = (const char *)sqlite3_column_text(st, 1);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL)
        add_pt(f, i, "accuracy", phase, phase, epoch, 100.0 * sqlite3_column_double(st, 2), NULL);
    if (sqlite3_column_type(st, 3) != SQLITE_NULL)
        add_pt(f, i, "loss", phase, phase, epoch, sqlite3_column_double(st, 3), NULL);
}

static gboolean read_curves(Fig *f, GError **error) {
    f->xlabel = "epoch";
    panel_index(f, "accuracy", "accuracy (%)", FALSE);
    panel_index(f, "loss", "loss (per sample)", FALSE);
    return oz_study_each_run_rows(f->study,
                                  "SELECT epoch, phase, accuracy, loss FROM epochs"
                                  " WHERE run_id = ?1 ORDER BY phase DESC, epoch",
                                  curves_row, f, error);
}

static void rates_row(guint i, sqlite3_stmt *st, gpointer data) {
    Fig *f = data;
    const char *phase = (const char *)sqlite3_column_text(st, 1);
    const char *pop = (const char *)sqlite3_column_text(st, 2);
    g_autofree char *panel = g_strdup_printf("firing rate of population %s", pop);
    panel_index(f, panel, "spikes / neuron / tick", FALSE);
    g_autofree char *series = g_strdup_printf("%s %s", pop, phase);
    add_pt(f, i, panel, series, phase, sqlite3_column_int(st, 0), sqlite3_column_double(st, 3),
           NULL);
}

static gboolean read_rates(Fig *f, GError **error) {
    f->xlabel = "epoch";
    return oz_study_each_run_rows(
        f->study,
        "SELECT f.epoch, f.phase, f.population, f.rate FROM firing_rates f"
        " LEFT JOIN populations p ON p.run_id = f.run_id AND p.name = f.population"
        " WHERE f.run_id = ?1 AND f.rate IS NOT NULL"
        " ORDER BY p.topo, f.population, f.phase DESC, f.epoch",
        rates_row, f, error);
}

static void grad_row(guint i, sqlite3_stmt *st, gpointer data) {
    Fig *f = data;
    const char *proj = (const char *)sqlite3_column_text(st, 1);
    int epoch = sqlite3_column_int(st, 0);
    if (sqlite3_column_type(st, 2) != SQLITE_NULL)
        add_pt(f, i, "cosine to BP", proj, proj, epoch, sqlite3_column_double(st, 2), NULL);
    if (sqlite3_column_type(st, 3) != SQLITE_NULL && sqlite3_column_double(st, 3) > 0)
        add_pt(f, i, "gradient variance", proj, proj, epoch, sqlite3_column_double(st, 3), NULL);
}

static gboolean read_grad(Fig *f, GError **error) {
    f->xlabel = "epoch";
    panel_index(f, "cosine to BP", "cosine (1)", FALSE);
    panel_index(f, "gradient variance", "variance per element", TRUE);
    return oz_study_each_run_rows(f->study,
                                  "SELECT epoch, projection, cos_bp, variance FROM grad_stats"
                                  " WHERE run_id = ?1 ORDER BY projection, epoch",
                                  grad_row, f, error);
}

/* One panel of the energy figure: the hardware models' names give x. */
typedef struct {
    Fig *f;
    const char *panel;
    GPtrArray *models;
} EnergyPanel;

static void energy_row(guint i, sqlite3_stmt *st, gpointer data) {
    EnergyPanel *e = data;
    const char *model = (const char *)sqlite3_column_text(st, 0);
    double y = sqlite3_column_double(st, 1);
    if (!(y > 0))
        return;
    guint x = 0;
    while (x < e->models->len && strcmp(e->models->pdata[x], model) != 0)
        x++;
    panel_index(e->f, e->panel, "energy (J / sample)", TRUE);
    add_pt(e->f, i, e->panel, model, NULL, x, y,
           sqlite3_column_int(st, 2) ? "" : "does not cover every operation");
}

/* Joules per sample of each run under each model: inference from the energy view (the
 * test phase of the run's last epoch that has one), training from training_energy (the
 * last training epoch).  x is the model's index (the group); a non-positive value has no
 * place on the log axis and is left out. */
static gboolean read_energy(Fig *f, GError **error) {
    f->xlabel = "hardware model";
    static const char *const sql[2] = {
        "SELECT model, joules_per_sample, covers_all_ops FROM energy WHERE run_id = ?1"
        " AND phase = 'test' AND epoch = (SELECT max(epoch) FROM energy WHERE run_id = ?1"
        " AND phase = 'test') ORDER BY model",
        "SELECT model, joules_per_sample, covers_all_ops FROM training_energy WHERE run_id = ?1"
        " AND epoch = (SELECT max(epoch) FROM training_energy WHERE run_id = ?1) ORDER BY model"};
    static const char *const panels[2] = {"inference (test phase, last epoch)",
                                          "training (training phase, last epoch)"};
    g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func(g_free);
    sqlite3_stmt *m =
        oz_study_prepare(f->study, "SELECT model FROM energy_models ORDER BY model", error);
    if (!m)
        return FALSE;
    while (sqlite3_step(m) == SQLITE_ROW)
        g_ptr_array_add(models, g_strdup((const char *)sqlite3_column_text(m, 0)));
    sqlite3_finalize(m);
    for (int k = 0; k < 2; k++) {
        EnergyPanel e = {f, panels[k], models};
        if (!oz_study_each_run_rows(f->study, sql[k], energy_row, &e, error))
            return FALSE;
    }
    /* The group names, for the x axis: kept as styles (index = x). */
    for (guint x = 0; x < models->len; x++)
        style_index(f, models->pdata[x]);
    return TRUE;
}

static const char *const ops_kinds[4] = {"forward SynOps", "dense MACs", "feedback MACs",
                                         "weight updates"};

/* The one row of a run: samples, then the operations of each kind. */
static void ops_row(guint i, sqlite3_stmt *st, gpointer data) {
    Fig *f = data;
    double n = sqlite3_column_double(st, 0);
    for (int k = 0; k < 4; k++)
        add_pt(f, i, "training operations", ops_kinds[k], ops_kinds[k], i,
               sqlite3_column_double(st, k + 1) / n / 1e6, NULL);
}

/* Training operations per sample of each run's last training epoch, by kind. */
static gboolean read_ops(Fig *f, GError **error) {
    f->xlabel = "run";
    /* In millions: PLplot would otherwise put a ×10⁷ into the title's corner. */
    panel_index(f, "training operations", "operations per training sample (millions)", FALSE);
    for (int k = 0; k < 4; k++)
        style_index(f, ops_kinds[k]);
    /* At most one row per run: the sums over its last training epoch. */
    return oz_study_each_run_rows(
        f->study,
        "WITH last AS (SELECT max(epoch) AS e FROM synops WHERE run_id = ?1 AND phase = 'train'),"
        " s AS (SELECT max(samples) AS n, sum(synops) AS syn, sum(dense_macs) AS mac,"
        "   sum(update_ops) AS upd FROM synops, last WHERE run_id = ?1 AND phase = 'train'"
        "   AND epoch = last.e),"
        " fb AS (SELECT sum(feedback_macs) AS fb FROM training_ops, last"
        "   WHERE run_id = ?1 AND epoch = last.e)"
        " SELECT s.n, s.syn, s.mac, IFNULL(fb.fb, 0), s.upd FROM s, fb WHERE s.n > 0",
        ops_row, f, error);
}

/* The recorded spikes of one sample of one run: x the tick, y the neuron, one panel per
 * population in topological order. */
static gboolean read_raster(Fig *f, GError **error) {
    if (f->study->runs->len != 1) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --what raster draws one run; %u are chosen (give one --run)",
                    f->study->runs->len);
        return FALSE;
    }
    OzStudyRun *r = run_at(f, 0);
    const OzPlotOptions *o = f->opt;
    /* The sample: the options', else the newest epoch's first recorded sample (test
     * phase first). */
    sqlite3_stmt *st = oz_study_prepare(
        f->study,
        "SELECT epoch, phase, sample FROM spikes WHERE run_id = ?1"
        " AND (?2 < 0 OR epoch = ?2) AND (?3 IS NULL OR phase = ?3) AND (?4 < 0 OR sample = ?4)"
        " ORDER BY epoch DESC, phase = 'test' DESC, sample LIMIT 1",
        error);
    if (!st)
        return FALSE;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int(st, 2, o->epoch);
    if (o->phase)
        sqlite3_bind_text(st, 3, o->phase, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, o->sample);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return TRUE; /* nothing recorded: the caller reports it */
    }
    int epoch = sqlite3_column_int(st, 0);
    g_autofree char *phase = g_strdup((const char *)sqlite3_column_text(st, 1));
    gint64 sample = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    f->xlabel = "tick (time step)";
    g_free(f->title);
    f->title = g_strdup_printf("%s, seed %" G_GINT64_FORMAT
                               ": spikes of %s (%s), %s sample %" G_GINT64_FORMAT ", epoch %d",
                               r->scenario, r->seed, r->label, r->rule, phase, sample, epoch);
    /* Every population with spikes recorded in that phase, so a silent one shows empty. */
    st = oz_study_prepare(
        f->study,
        "SELECT p.name, p.size FROM populations p WHERE p.run_id = ?1 AND EXISTS (SELECT 1 FROM"
        " spikes s WHERE s.run_id = ?1 AND s.epoch = ?2 AND s.phase = ?3 AND s.population ="
        " p.name) ORDER BY p.topo",
        error);
    if (!st)
        return FALSE;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int(st, 2, epoch);
    sqlite3_bind_text(st, 3, phase, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        g_autofree char *panel = g_strdup((const char *)sqlite3_column_text(st, 0));
        panel_index(f, panel, "neuron", FALSE);
        /* The population's size sets the panel's y range. */
        double size = sqlite3_column_double(st, 1);
        g_array_append_val(f->sizes, size);
    }
    sqlite3_finalize(st);
    st = oz_study_prepare(f->study,
                          "SELECT population, tick, neuron FROM spikes WHERE run_id = ?1 AND"
                          " epoch = ?2 AND phase = ?3 AND sample = ?4 ORDER BY rowid",
                          error);
    if (!st)
        return FALSE;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int(st, 2, epoch);
    sqlite3_bind_text(st, 3, phase, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sample);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *pop = (const char *)sqlite3_column_text(st, 0);
        Pt p = {.run = 0,
                .panel = (char *)keep(f, pop),
                .series = (char *)keep(f, pop),
                .x = sqlite3_column_int(st, 1),
                .y = sqlite3_column_int(st, 2),
                .note = keep(f, "")};
        g_array_append_val(f->pts, p);
    }
    sqlite3_finalize(st);
    return TRUE;
}

/* ---- levels: final test accuracy against a scenario key ---- */

/* One run's point before the lines are formed. */
typedef struct {
    guint run;
    const char *group; /* (transfer none): a string of the figure's (one per name) */
    double x, y;
} Level;

typedef struct {
    Fig *f;
    char **by;     /* the --by keys */
    GArray *pts;   /* of Level */
    GError *error; /* the first error; rows after it are skipped */
} Levels;

/* Whether a value is its key's default: the same text, or the same number written
 * otherwise ("0" and "0.0"). */
static gboolean is_default(const char *v, const char *def) {
    if (!def)
        return FALSE;
    if (strcmp(v, def) == 0)
        return TRUE;
    char *e1 = NULL, *e2 = NULL;
    double a = g_ascii_strtod(v, &e1), b = g_ascii_strtod(def, &e2);
    return e1 != v && !*e1 && e2 != def && !*e2 && a == b;
}

/* One run: its scenario text, overrides, scenario path, and the accuracy of its highest
 * test epoch (NULL without one). */
static void levels_row(guint i, sqlite3_stmt *st, gpointer data) {
    Levels *l = data;
    if (l->error)
        return;
    Fig *f = l->f;
    OzStudyRun *r = run_at(f, i);
    const char *text = (const char *)sqlite3_column_text(st, 0);
    const char *stored = (const char *)sqlite3_column_text(st, 1);
    const char *spath = (const char *)sqlite3_column_text(st, 2);
    g_autofree char *where = g_strdup_printf("run %s (id %" G_GINT64_FORMAT ")", r->name, r->id);
    /* The scenario as it ran: the stored text (written after its overrides) with the stored
     * --set lines applied again, as eval rebuilds it; the run row's "--init-from" line says
     * where the weights came from and is no key. */
    g_autoptr(GPtrArray) sets = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(stored ? stored : "", "\n", -1);
    for (char **s = lines; *s; s++)
        if (**s && !g_str_has_prefix(*s, "--"))
            g_ptr_array_add(sets, g_strdup(*s));
    g_ptr_array_add(sets, NULL);
    const char *const *ov = (const char *const *)sets->pdata;
    const char *path = spath ? spath : r->name;
    g_autoptr(GError) err = NULL;
    g_autofree char *xv = oz_scenario_key_value(text ? text : "", path, ov, f->opt->x, NULL, &err);
    if (!xv) {
        g_set_error(&l->error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT, "plot --x %s: %s: %s",
                    f->opt->x, where, err->message);
        return;
    }
    char *end = NULL;
    double x = g_ascii_strtod(xv, &end);
    if (end == xv || *end || !isfinite(x)) {
        g_set_error(&l->error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --x %s: %s has %s = '%s', which is not a number", f->opt->x, where,
                    f->opt->x, xv);
        return;
    }
    /* The group: the first key's value always (a line always has a name), the others'
     * only where they differ from the key's default, so the usual run reads short. */
    GString *label = g_string_new(NULL);
    for (int j = 0; l->by[j]; j++) {
        g_autofree char *def = NULL;
        g_autofree char *v = oz_scenario_key_value(text ? text : "", path, ov, l->by[j], &def, &err);
        if (!v) {
            g_set_error(&l->error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT, "plot --by %s: %s: %s",
                        l->by[j], where, err->message);
            g_string_free(label, TRUE);
            return;
        }
        if (j == 0 || !is_default(v, def))
            g_string_append_printf(label, "%s%s", label->len ? " " : "", *v ? v : "\"\"");
    }
    const char *group = keep(f, label->str);
    g_string_free(label, TRUE);
    if (sqlite3_column_type(st, 3) == SQLITE_NULL) {
        fprintf(stderr,
                "opzosim: warning: plot --what levels: %s has no test accuracy (epochs, phase "
                "test): left out\n",
                where);
        return;
    }
    Level p = {i, group, x, 100.0 * sqlite3_column_double(st, 3)};
    g_array_append_val(l->pts, p);
}

/* Lines in the order of their names, so that figures of the same lines have the same
 * colours and markers whatever order their runs ran in; points in x order. */
static gint compare_levels(gconstpointer a, gconstpointer b) {
    const Level *p = a, *q = b;
    const int by_name = strcmp(p->group, q->group);
    if (by_name != 0)
        return by_name;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->run < q->run ? -1 : p->run > q->run;
}

/* One point per chosen run: x the value of the scenario key --x in the run's scenario, y
 * its last test accuracy; one line per group of --by values, points in x order.  Two runs
 * of one group at one x are refused: a study has one run per cell, and averaging them
 * would hide that the selection is not what was meant. */
static gboolean read_levels(Fig *f, GError **error) {
    const OzPlotOptions *o = f->opt;
    g_auto(GStrv) by = g_strsplit(o->by ? o->by : "rule.name", ",", -1);
    for (char **b = by; *b; b++)
        if (!*g_strstrip(*b)) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                        "plot --by '%s': expected SECTION.KEY[,SECTION.KEY...]", o->by);
            return FALSE;
        }
    f->xlabel = o->x;
    panel_index(f, "final test accuracy", "test accuracy (%)", FALSE);
    g_autofree char *runs_title = oz_study_title(f->study);
    g_free(f->title);
    f->title = g_strdup_printf("%s: final test accuracy against %s", runs_title, o->x);
    Levels l = {f, by, g_array_new(FALSE, FALSE, sizeof(Level)), NULL};
    gboolean ok = oz_study_each_run_rows(
        f->study,
        "SELECT scenario, overrides, scenario_path, (SELECT accuracy FROM epochs WHERE"
        " run_id = ?1 AND phase = 'test' ORDER BY epoch DESC LIMIT 1) FROM runs WHERE id = ?1",
        levels_row, &l, error);
    if (ok && l.error) {
        g_propagate_error(error, l.error);
        ok = FALSE;
    }
    g_array_sort(l.pts, compare_levels);
    for (guint i = 0; ok && i < l.pts->len; i++) {
        const Level *p = &g_array_index(l.pts, Level, i);
        const Level *q = i ? &g_array_index(l.pts, Level, i - 1) : NULL;
        if (q && q->group == p->group && q->x == p->x) {
            OzStudyRun *a = run_at(f, q->run), *b = run_at(f, p->run);
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                        "plot --what levels: runs %s (id %" G_GINT64_FORMAT ") and %s (id %"
                        G_GINT64_FORMAT ") are both in line '%s' at %s = %.17g; a study has "
                        "one run per cell (line × level): choose the runs with --run or --sweep, "
                        "or tell them apart with --by",
                        a->name, a->id, b->name, b->id, p->group, o->x, p->x);
            ok = FALSE;
        }
    }
    for (guint i = 0; ok && i < l.pts->len; i++) {
        const Level *p = &g_array_index(l.pts, Level, i);
        add_pt(f, p->run, "final test accuracy", p->group, p->group, p->x, p->y, NULL);
    }
    g_array_free(l.pts, TRUE);
    return ok;
}

/* ---- Drawing ---- */

/* Colours of the runs (colour map 0 from index 2 on; 0 is the background, 1 black). */
static const guint8 palette[][3] = {
    {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
#define N_COLOURS ((int)G_N_ELEMENTS(palette))

static int colour_of(guint run) {
    return 2 + (int)(run % N_COLOURS);
}

/* Line styles 1 (solid), 2, 3, …: PLplot's predefined dash patterns. */
static int line_style(int style) {
    return 1 + style % 8;
}

static void begin(const char *device, const char *path, int width, int height) {
    plsdev(device);
    plsfnam(path);
    plspage(0.0, 0.0, width, height, 0, 0);
    plscolbg(255, 255, 255);
    plscmap0n(2 + N_COLOURS);
    plscol0(1, 0, 0, 0);
    for (int i = 0; i < N_COLOURS; i++)
        plscol0(2 + i, palette[i][0], palette[i][1], palette[i][2]);
    plinit();
    pladv(0);
    plschr(0.0, 0.85);
}

static void draw_title(const char *title) {
    plvpor(0.0, 1.0, 0.0, 1.0);
    plwind(0.0, 1.0, 0.0, 1.0);
    plcol0(1);
    /* A long title (many scenarios) is set smaller so that it fits the page. */
    size_t len = g_utf8_strlen(title, -1);
    plschr(0.0, len > 80 ? 1.05 * 80 / len : 1.05);
    plptex(0.5, 0.965, 1.0, 0.0, 0.5, title);
    plschr(0.0, 0.85);
}

/* The data range of panel p, padded; for a log panel in log10 units.  A panel without
 * points (the gradient variance of epochs that measured one batch, say) takes x from the
 * whole figure (which has points: an empty figure is refused before drawing) and y from 0
 * to 1 (one decade on a log axis).  Returns its point count. */
static guint panel_range(const Fig *f, int p, double *x0, double *x1, double *y0, double *y1) {
    gboolean logy = g_array_index(f->logy, gboolean, p);
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    guint n = 0;
    for (guint i = 0; i < f->pts->len; i++) {
        const Pt *q = &g_array_index(f->pts, Pt, i);
        if (strcmp(q->panel, f->panels->pdata[p]) != 0)
            continue;
        double y = logy ? log10(q->y) : q->y;
        *x0 = MIN(*x0, q->x);
        *x1 = MAX(*x1, q->x);
        *y0 = MIN(*y0, y);
        *y1 = MAX(*y1, y);
        n++;
    }
    if (n == 0) {
        for (guint i = 0; i < f->pts->len; i++) {
            *x0 = MIN(*x0, g_array_index(f->pts, Pt, i).x);
            *x1 = MAX(*x1, g_array_index(f->pts, Pt, i).x);
        }
        *y0 = 0.0;
        *y1 = 1.0;
    }
    if (*x1 <= *x0) {
        *x0 -= 0.5;
        *x1 += 0.5;
    }
    if (*y1 <= *y0) {
        double d = fabs(*y0) > 0 ? 0.05 * fabs(*y0) : 0.5;
        *y0 -= d;
        *y1 += d;
    }
    double dy = *y1 - *y0;
    *y0 -= 0.05 * dy;
    *y1 += 0.05 * dy;
    if (logy) {
        /* Whole decades, so that the axis has labels. */
        *y0 = floor(*y0);
        *y1 = MAX(ceil(*y1), *y0 + 1);
    }
    double dx = *x1 - *x0;
    *x0 -= 0.02 * dx;
    *x1 += 0.02 * dx;
    return n;
}

/* The label of a log axis at log10 value v: 10 to the power (PLplot's #u, #d: up, down). */
static void log_label(PLINT axis, PLFLT value, char *label, PLINT length, PLPointer data) {
    (void)data;
    if (axis == PL_Y_AXIS)
        g_snprintf(label, (gulong)length, "10#u%d#d", (int)lround(value));
    else
        g_snprintf(label, (gulong)length, "%g", value);
}

static void frame(double vx0, double vx1, double vy0, double vy1, double x0, double x1, double y0,
                  double y1, gboolean logy, gboolean whole_x, const char *xlabel,
                  const char *ylabel, const char *name) {
    plvpor(vx0, vx1, vy0, vy1);
    plwind(x0, x1, y0, y1);
    plcol0(1);
    plwidth(1.0);
    pllsty(1);
    /* Integer ticks when x counts (a raster's ticks, epochs) and its range is short; on a
     * log axis a label every decade up to six decades, then every second or third. */
    double xtick = whole_x && x1 - x0 <= 12 ? 1.0 : 0.0;
    if (logy) {
        /* The y values are log10 of the data: a linear axis labelled 10^k by log_label (PLplot's
         * own log labels put one at every decade, unreadable over ten decades). */
        plslabelfunc(log_label, NULL);
        plbox(xlabel ? "bcnst" : "bcst", xtick, 0, "bcnstvo", ceil((y1 - y0) / 6.0), 1);
        plslabelfunc(NULL, NULL);
    } else {
        plbox(xlabel ? "bcnst" : "bcst", xtick, 0, "bcnstv", 0.0, 0);
    }
    if (xlabel)
        plmtex("b", 2.6, 0.5, 0.5, xlabel);
    /* The y label within its panel's height: smaller text for a short panel. */
    PLFLT def_ht, ht, sx0, sx1, sy0, sy1;
    plgchr(&def_ht, &ht);
    plgspa(&sx0, &sx1, &sy0, &sy1);
    const double room = (vy1 - vy0) * (sy1 - sy0), need = 0.62 * ht * (double)strlen(ylabel);
    const double scale = need > room ? room / need : 1.0;
    if (scale < 1.0)
        plschr(0.0, ht / def_ht * scale);
    /* The displacement is in character heights: the same distance from the axis at any size,
     * and beyond the widest tick label (plbox reports its digits; 4.2 clears four). */
    PLINT digmax = 0, digits = 0;
    plgyax(&digmax, &digits);
    const double disp = logy ? 5.0 : 4.2 + 0.7 * (double)MAX(0, digits - 4);
    plmtex("l", disp / scale, 0.5, 0.5, ylabel);
    if (scale < 1.0)
        plschr(0.0, ht / def_ht);
    plmtex("t", 0.9, 0.5, 0.5, name);
}

/* The legend in the right-hand column of the page: entries with a colour and a line
 * style each (boxes: a colour box, hatched by patterns), with a marker on the line where
 * markers is not NULL. */
static void legend(double vy1, int n, const char **text, const int *colours, const int *styles,
                   gboolean boxes, const int *patterns, const char *const *markers) {
    if (n == 0)
        return;
    g_autofree PLINT *opt = g_new0(PLINT, n);
    g_autofree PLINT *tcol = g_new0(PLINT, n);
    g_autofree PLINT *lcol = g_new0(PLINT, n);
    g_autofree PLINT *lsty = g_new0(PLINT, n);
    g_autofree PLFLT *lw = g_new0(PLFLT, n);
    g_autofree PLINT *bpat = g_new0(PLINT, n);
    g_autofree PLFLT *bscale = g_new0(PLFLT, n);
    g_autofree PLFLT *bw = g_new0(PLFLT, n);
    g_autofree PLFLT *sscale = g_new0(PLFLT, n);
    g_autofree PLINT *snum = g_new0(PLINT, n);
    for (int i = 0; i < n; i++) {
        opt[i] = boxes ? PL_LEGEND_COLOR_BOX : PL_LEGEND_LINE;
        if (markers)
            opt[i] |= PL_LEGEND_SYMBOL;
        sscale[i] = 0.6;
        snum[i] = 1;
        tcol[i] = 1;
        lcol[i] = colours[i];
        lsty[i] = styles ? styles[i] : 1;
        lw[i] = 2.0;
        bpat[i] = patterns ? patterns[i] : 0;
        bscale[i] = 0.8;
        bw[i] = 1.0;
    }
    plvpor(0.665, 0.995, 0.1, vy1);
    plwind(0.0, 1.0, 0.0, 1.0);
    PLFLT w, h;
    plschr(0.0, 0.6);
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_LEFT | PL_POSITION_TOP | PL_POSITION_INSIDE, 0.0, 0.0, 0.05, 0, 1, 1, 0, 0,
             n, opt, 0.6, 0.8, 1.8, 0.0, tcol, text, lcol, bpat, bscale, bw, lcol, lsty, lw,
             markers ? lcol : NULL, markers ? sscale : NULL, markers ? snum : NULL,
             markers ? (const char **)markers : NULL);
    plschr(0.0, 0.85);
}

/* Line figures (curves, rates, grad): panels stacked, one line per (run, series), colour by
 * run, dash by style. */
static void draw_lines(const Fig *f) {
    int np = (int)f->panels->len;
    double top = 0.9, bottom = 0.09, gap = 0.07;
    double h = (top - bottom - gap * (np - 1)) / np;
    for (int p = 0; p < np; p++) {
        double x0, x1, y0, y1;
        guint n = panel_range(f, p, &x0, &x1, &y0, &y1);
        gboolean logy = g_array_index(f->logy, gboolean, p);
        double vy1 = top - p * (h + gap);
        frame(0.09, 0.645, vy1 - h, vy1, x0, x1, y0, y1, logy, TRUE,
              p == np - 1 ? f->xlabel : NULL, f->ylabels->pdata[p], f->panels->pdata[p]);
        if (n == 0)
            plptex(0.5 * (x0 + x1), 0.5 * (y0 + y1), 1.0, 0.0, 0.5, "no data in the run log");
        /* Consecutive points of one run and series form a line. */
        g_autoptr(GArray) xs = g_array_new(FALSE, FALSE, sizeof(PLFLT));
        g_autoptr(GArray) ys = g_array_new(FALSE, FALSE, sizeof(PLFLT));
        for (guint i = 0; i <= f->pts->len; i++) {
            const Pt *q = i < f->pts->len ? &g_array_index(f->pts, Pt, i) : NULL;
            if (q && strcmp(q->panel, f->panels->pdata[p]) != 0)
                continue;
            const Pt *prev = NULL;
            for (guint j = i; j-- > 0;) {
                const Pt *c = &g_array_index(f->pts, Pt, j);
                if (strcmp(c->panel, f->panels->pdata[p]) == 0) {
                    prev = c;
                    break;
                }
            }
            gboolean same =
                q && prev && prev->run == q->run && strcmp(prev->series, q->series) == 0;
            if (!same && xs->len > 0) {
                plcol0(colour_of(prev->run));
                pllsty(line_style(prev->style));
                plwidth(2.0);
                plline((PLINT)xs->len, (PLFLT *)xs->data, (PLFLT *)ys->data);
                pllsty(1);
                plssym(0.0, 0.6);
                plpoin((PLINT)xs->len, (PLFLT *)xs->data, (PLFLT *)ys->data, 17);
                g_array_set_size(xs, 0);
                g_array_set_size(ys, 0);
            }
            if (q) {
                PLFLT x = q->x, y = logy ? log10(q->y) : q->y;
                g_array_append_val(xs, x);
                g_array_append_val(ys, y);
            }
        }
    }
    /* Legend: one entry per run (colour), then the styles in black. */
    guint nr = f->study->runs->len, ns = f->styles->len;
    g_autofree const char **text = g_new0(const char *, nr + ns);
    g_autofree int *col = g_new0(int, nr + ns);
    g_autofree int *sty = g_new0(int, nr + ns);
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < nr; i++) {
        OzStudyRun *r = run_at((Fig *)f, i);
        char *t = g_strdup_printf("%s (%s)", r->label, r->rule);
        g_ptr_array_add(owned, t);
        text[i] = t;
        col[i] = colour_of(i);
        sty[i] = 1;
    }
    for (guint s = 0; s < ns && ns > 1; s++) {
        text[nr + s] = f->styles->pdata[s];
        col[nr + s] = 1;
        sty[nr + s] = line_style((int)s);
    }
    legend(top, (int)(nr + (ns > 1 ? ns : 0)), text, col, sty, FALSE, NULL, NULL);
}

/* Bars: energy (grouped by model, one bar per run, log axis; a model that does not cover
 * every operation hatched) or ops (one stacked bar per run). */
static void draw_bars(const Fig *f, gboolean stacked) {
    int np = (int)f->panels->len;
    guint nr = f->study->runs->len, ng = stacked ? nr : f->styles->len;
    /* One stacked bar per run, named under it by vertical text (run names are long). */
    double top = 0.9, bottom = stacked ? 0.4 : 0.12, gap = 0.1;
    double h = (top - bottom - gap * (np - 1)) / np;
    for (int p = 0; p < np; p++) {
        gboolean logy = g_array_index(f->logy, gboolean, p);
        double y0 = INFINITY, y1 = -INFINITY;
        g_autofree double *sum = g_new0(double, nr);
        for (guint i = 0; i < f->pts->len; i++) {
            const Pt *q = &g_array_index(f->pts, Pt, i);
            if (strcmp(q->panel, f->panels->pdata[p]) != 0)
                continue;
            sum[q->run] += q->y;
            double y = logy ? log10(q->y) : (stacked ? sum[q->run] : q->y);
            y0 = MIN(y0, y);
            y1 = MAX(y1, y);
        }
        if (logy) {
            y0 = floor(y0) - 0.2;
            y1 = ceil(y1) + 0.2;
        } else {
            y0 = 0;
            y1 *= 1.08;
        }
        double vy1 = top - p * (h + gap);
        frame(0.09, 0.645, vy1 - h, vy1, -0.5, ng - 0.5, y0, y1, logy, TRUE, NULL,
              f->ylabels->pdata[p], f->panels->pdata[p]);
        /* Group names under the axis; vertical ones smaller when the longest would not fit
         * in the space below the axis (about 27 characters at the usual size). */
        plcol0(1);
        glong longest = 0;
        for (guint g = 0; stacked && g < ng; g++) {
            OzStudyRun *r = run_at((Fig *)f, g);
            longest = MAX(longest, g_utf8_strlen(r->label, -1) + g_utf8_strlen(r->rule, -1) + 3);
        }
        plschr(0.0, longest > 27 ? 0.7 * 27.0 / (double)longest : 0.7);
        for (guint g = 0; g < ng; g++) {
            OzStudyRun *r = stacked ? run_at((Fig *)f, g) : NULL;
            g_autofree char *name =
                r ? g_strdup_printf("%s (%s)", r->label, r->rule) : g_strdup(f->styles->pdata[g]);
            double pos = (g + 0.5) / ng;
            if (stacked)
                plmtex("bv", 0.7, pos, 1.0, name);
            else
                plmtex("b", g % 2 && ng > 4 ? 2.4 : 1.2, pos, 0.5, name);
        }
        plschr(0.0, 0.85);
        g_autofree double *base = g_new0(double, nr);
        for (guint i = 0; i < f->pts->len; i++) {
            const Pt *q = &g_array_index(f->pts, Pt, i);
            if (strcmp(q->panel, f->panels->pdata[p]) != 0)
                continue;
            double w = stacked ? 0.6 : 0.8 / nr;
            double xl = stacked ? q->x - w / 2 : q->x - 0.4 + w * q->run;
            double lo = stacked ? base[q->run] : y0;
            double hi = stacked ? base[q->run] + q->y : (logy ? log10(q->y) : q->y);
            if (stacked)
                base[q->run] = hi;
            PLFLT bx[4] = {xl, xl, xl + w, xl + w}, by[4] = {lo, hi, hi, lo};
            plcol0(stacked ? colour_of((guint)q->style) : colour_of(q->run));
            plpsty(*q->note ? 3 : 0);
            plfill(4, bx, by);
            plpsty(0);
            plcol0(1);
            plwidth(0.5);
            PLFLT ox[5] = {xl, xl, xl + w, xl + w, xl}, oy[5] = {lo, hi, hi, lo, lo};
            plline(5, ox, oy);
        }
    }
    guint n = stacked ? f->styles->len : nr + 1;
    g_autofree const char **text = g_new0(const char *, n);
    g_autofree int *col = g_new0(int, n);
    g_autofree int *pat = g_new0(int, n);
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n; i++) {
        if (stacked) {
            text[i] = f->styles->pdata[i];
            col[i] = colour_of(i);
        } else if (i < nr) {
            OzStudyRun *r = run_at((Fig *)f, i);
            char *t = g_strdup_printf("%s (%s)", r->label, r->rule);
            g_ptr_array_add(owned, t);
            text[i] = t;
            col[i] = colour_of(i);
        } else {
            text[i] = "hatched: a lower bound";
            col[i] = 1;
            pat[i] = 3;
        }
    }
    legend(top, (int)n, text, col, NULL, TRUE, pat, NULL);
}

/* Raster: one panel per population, heights by the square root of its size. */
static void draw_raster(const Fig *f) {
    int np = (int)f->panels->len;
    double top = 0.9, bottom = 0.09, gap = 0.05;
    double total = 0, tmax = 0;
    for (int p = 0; p < np; p++)
        total += sqrt(g_array_index(f->sizes, double, p));
    for (guint i = 0; i < f->pts->len; i++)
        tmax = MAX(tmax, g_array_index(f->pts, Pt, i).x);
    double avail = top - bottom - gap * (np - 1), vy1 = top;
    g_autoptr(GArray) xs = g_array_new(FALSE, FALSE, sizeof(PLFLT));
    g_autoptr(GArray) ys = g_array_new(FALSE, FALSE, sizeof(PLFLT));
    for (int p = 0; p < np; p++) {
        double n = g_array_index(f->sizes, double, p);
        double h = avail * sqrt(n) / total;
        g_autofree char *name =
            g_strdup_printf("population %s (%.0f neurons)", (char *)f->panels->pdata[p], n);
        frame(0.09, 0.95, vy1 - h, vy1, -0.5, tmax + 0.5, -0.5, n - 0.5, FALSE, TRUE,
              p == np - 1 ? f->xlabel : NULL, "neuron", name);
        g_array_set_size(xs, 0);
        g_array_set_size(ys, 0);
        for (guint i = 0; i < f->pts->len; i++) {
            const Pt *q = &g_array_index(f->pts, Pt, i);
            if (strcmp(q->panel, f->panels->pdata[p]) != 0)
                continue;
            PLFLT x = q->x, y = q->y;
            g_array_append_val(xs, x);
            g_array_append_val(ys, y);
        }
        /* A spike is a cell (its tick × its neuron), not a dot: with a few ticks and
         * hundreds of neurons dots merge into columns, while cells show which neurons keep
         * firing from tick to tick. */
        plcol0(colour_of((guint)p));
        plpsty(0);
        for (guint i = 0; i < xs->len; i++) {
            PLFLT x = g_array_index(xs, PLFLT, i), y = g_array_index(ys, PLFLT, i);
            PLFLT cx[4] = {x - 0.42, x - 0.42, x + 0.42, x + 0.42};
            PLFLT cy[4] = {y - 0.4, y + 0.4, y + 0.4, y - 0.4};
            plfill(4, cx, cy);
        }
        vy1 -= h + gap;
    }
}

/* levels: one panel, one line per group (colour and marker by group, groups by name and
 * points in x order, as read_levels sorted them), the legend naming the groups.  The markers are
 * glyphs of the font, so they are of one size; the colours repeat after ten groups, the markers
 * after eight, so two groups share both only after forty. */
static void draw_levels(const Fig *f) {
    static const char *const markers[] = {"●", "■", "▲", "◆", "▼", "★", "+", "×"};
    double x0, x1, y0, y1, top = 0.9;
    panel_range(f, 0, &x0, &x1, &y0, &y1);
    /* Room for the markers at the ends. */
    double dx = x1 - x0;
    x0 -= 0.03 * dx;
    x1 += 0.03 * dx;
    g_auto(GStrv) by = g_strsplit(f->opt->by ? f->opt->by : "rule.name", ",", -1);
    for (char **b = by; *b; b++)
        g_strstrip(*b);
    g_autofree char *by_text = g_strjoinv(", ", by);
    g_autofree char *name = g_strdup_printf("one line per %s", by_text);
    frame(0.09, 0.645, 0.12, top, x0, x1, y0, y1, FALSE, FALSE, f->xlabel, f->ylabels->pdata[0],
          name);
    guint ng = f->styles->len;
    g_autoptr(GArray) xs = g_array_new(FALSE, FALSE, sizeof(PLFLT));
    g_autoptr(GArray) ys = g_array_new(FALSE, FALSE, sizeof(PLFLT));
    for (guint g = 0; g < ng; g++) {
        g_array_set_size(xs, 0);
        g_array_set_size(ys, 0);
        for (guint i = 0; i < f->pts->len; i++) {
            const Pt *q = &g_array_index(f->pts, Pt, i);
            if ((guint)q->style != g)
                continue;
            PLFLT x = q->x, y = q->y;
            g_array_append_val(xs, x);
            g_array_append_val(ys, y);
        }
        plcol0(colour_of(g));
        pllsty(1);
        plwidth(2.0);
        plline((PLINT)xs->len, (PLFLT *)xs->data, (PLFLT *)ys->data);
        plschr(0.0, 0.7);
        plstring((PLINT)xs->len, (PLFLT *)xs->data, (PLFLT *)ys->data,
                 markers[g % G_N_ELEMENTS(markers)]);
        plschr(0.0, 0.85);
    }
    g_autofree const char **text = g_new0(const char *, ng);
    g_autofree const char **sym = g_new0(const char *, ng);
    g_autofree int *col = g_new0(int, ng);
    for (guint g = 0; g < ng; g++) {
        text[g] = f->styles->pdata[g];
        sym[g] = markers[g % G_N_ELEMENTS(markers)];
        col[g] = colour_of(g);
    }
    legend(top, (int)ng, text, col, NULL, FALSE, NULL, sym);
}

/* A quoted CSV field and its comma. */
static void csv_field(GString *s, const char *v) {
    oz_study_csv_field(s, v);
    g_string_append_c(s, ',');
}

static gboolean write_csv(const Fig *f, const char *csv_path, GError **error) {
    GString *s = g_string_new("run_id,run,panel,series,x,y,note\n");
    for (guint i = 0; i < f->pts->len; i++) {
        const Pt *q = &g_array_index(f->pts, Pt, i);
        OzStudyRun *r = run_at((Fig *)f, q->run);
        g_string_append_printf(s, "%" G_GINT64_FORMAT ",", r->id);
        csv_field(s, r->label);
        csv_field(s, q->panel);
        csv_field(s, q->series);
        g_string_append_printf(s, "%.17g,%.17g,", q->x, q->y);
        csv_field(s, q->note);
        s->str[s->len - 1] = '\n'; /* the last field's comma ends the line */
    }
    gboolean ok = oz_study_write_file(csv_path, s->str, s->len, error);
    g_string_free(s, TRUE);
    return ok;
}

static const char *device_for(const char *path) {
    if (g_str_has_suffix(path, ".png"))
        return "pngcairo";
    if (g_str_has_suffix(path, ".svg"))
        return "svgcairo";
    if (g_str_has_suffix(path, ".pdf"))
        return "pdfcairo";
    return NULL;
}

/* What each kind reads, its title after the runs' (raster and levels make their own), and
 * the message when there is nothing to draw. */
static const struct {
    const char *kind;
    gboolean (*read)(Fig *, GError **);
    const char *title;
    const char *empty;
} kinds[] = {
    {"curves", read_curves, "accuracy and loss", "no rows in epochs"},
    {"raster", read_raster, "spikes",
     "no recorded spikes (in spikes; record some with [record] spike_samples = N)"},
    {"rates", read_rates, "firing rates", "no firing rates (in firing_rates)"},
    {"energy", read_energy, "energy per sample",
     "no operation counts for the energy views (in synops)"},
    {"grad", read_grad, "gradient against BP",
     "no gradient statistics (in grad_stats; record them with [record] grad_stats = true)"},
    {"ops", read_ops, "training operations per sample",
     "no training operations (in synops, phase train): inference runs only"},
    {"levels", read_levels, "final test accuracy",
     "no test accuracy (in epochs, phase test) of any chosen run"},
};

gboolean oz_plot_draw(OzStudy *study, const OzPlotOptions *opt, const char *path,
                      const char *csv_path, GError **error) {
    int k = -1;
    for (int i = 0; i < (int)G_N_ELEMENTS(kinds); i++)
        if (g_strcmp0(opt->kind, kinds[i].kind) == 0)
            k = i;
    if (k < 0) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --what %s: expected curves, raster, rates, energy, grad, ops or levels",
                    opt->kind ? opt->kind : "(missing)");
        return FALSE;
    }
    gboolean levels = strcmp(kinds[k].kind, "levels") == 0;
    if (levels && !opt->x) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --what levels needs --x SECTION.KEY (e.g. --x hardware.neuron_noise)");
        return FALSE;
    }
    if (!levels && (opt->x || opt->by)) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --%s is for --what levels, not %s", opt->x ? "x" : "by", opt->kind);
        return FALSE;
    }
    const char *device = device_for(path);
    if (!device) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --out %s: the name must end in .png, .svg or .pdf", path);
        return FALSE;
    }
    Fig f = {.study = study,
             .opt = opt,
             .pts = g_array_new(FALSE, FALSE, sizeof(Pt)),
             .str = g_string_chunk_new(1024),
             .panels = g_ptr_array_new(),
             .styles = g_ptr_array_new(),
             .ylabels = g_ptr_array_new(),
             .logy = g_array_new(FALSE, FALSE, sizeof(gboolean)),
             .sizes = g_array_new(FALSE, FALSE, sizeof(double))};
    g_autofree char *runs_title = oz_study_title(study);
    f.title = g_strdup_printf("%s: %s", runs_title, kinds[k].title);
    gboolean ok = kinds[k].read(&f, error);
    if (ok && f.pts->len == 0) {
        GString *ids = g_string_new(NULL);
        for (guint i = 0; i < study->runs->len; i++)
            g_string_append_printf(ids, "%s%s", i ? ", " : "",
                                   ((OzStudyRun *)study->runs->pdata[i])->label);
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "run log %s: nothing to plot for --what %s: %s for run %s", study->path,
                    opt->kind, kinds[k].empty, ids->str);
        g_string_free(ids, TRUE);
        ok = FALSE;
    }
    /* Draw into a temporary file beside the output, renamed at the end: a failure leaves
     * no file behind, and a reader never sees half a figure. */
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp =
        g_strdup_printf("%s/.%s.%d.tmp%s", dir, base, (int)getpid(), strrchr(path, '.'));
    if (ok && !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                    "plot --out %s: folder %s does not exist", path, dir);
        ok = FALSE;
    }
    if (ok) {
        FILE *probe = fopen(tmp, "wb");
        if (!probe) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,
                        "plot --out %s: cannot write %s", path, tmp);
            ok = FALSE;
        } else {
            fclose(probe);
        }
    }
    if (ok) {
        begin(device, tmp, 1100, k == 1 ? 760 : 680);
        draw_title(f.title);
        if (levels)
            draw_levels(&f);
        else if (k == 1)
            draw_raster(&f);
        else if (k == 3 || k == 5)
            draw_bars(&f, k == 5);
        else
            draw_lines(&f);
        plend();
        if (csv_path)
            ok = write_csv(&f, csv_path, error);
        if (ok && g_rename(tmp, path) != 0) {
            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_FAILED, "cannot write %s: %s", path,
                        g_strerror(errno));
            ok = FALSE;
        }
    }
    g_unlink(tmp);
    fig_clear(&f);
    return ok;
}

/* ---- opzosim plot ---- */

int oz_cmd_plot(int argc, char **argv) {
    g_auto(GStrv) run_args = NULL;
    g_autofree char *sweep = NULL, *what = NULL, *out = NULL, *data = NULL, *phase = NULL;
    g_autofree char *x = NULL, *by = NULL;
    int epoch = -1;
    gint64 sample = -1;
    GOptionEntry entries[] = {
        {"run", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &run_args,
         "A run to draw, by id or name (repeat for more; default: every run)", "ID|NAME"},
        {"sweep", 0, 0, G_OPTION_ARG_STRING, &sweep, "The runs of a sweep (tag prefix)", "TAG"},
        {"what", 'w', 0, G_OPTION_ARG_STRING, &what,
         "curves, raster, rates, energy, grad, ops or levels (required)", "KIND"},
        {"out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "The figure: .png, .svg or .pdf (required)",
         "FILE"},
        {"data", 0, 0, G_OPTION_ARG_FILENAME, &data, "Also write the plotted numbers as CSV",
         "FILE.csv"},
        {"epoch", 0, 0, G_OPTION_ARG_INT, &epoch, "raster: the epoch (default: the newest)", "N"},
        {"phase", 0, 0, G_OPTION_ARG_STRING, &phase, "raster: train or test (default: test)",
         "PHASE"},
        {"sample", 0, 0, G_OPTION_ARG_INT64, &sample,
         "raster: the sample (default: the first recorded)", "N"},
        {"x", 0, 0, G_OPTION_ARG_STRING, &x,
         "levels: the scenario key on the x axis, e.g. hardware.neuron_noise (required); each run "
         "is one point, its last test accuracy at the key's value in its scenario",
         "SECTION.KEY"},
        {"by", 0, 0, G_OPTION_ARG_STRING, &by,
         "levels: the scenario keys whose values group runs into lines (default: rule.name); a "
         "line's name leaves out a value that is its key's default, but for the first key",
         "SECTION.KEY[,...]"},
        {NULL, 0, 0, 0, NULL, NULL, NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("DB - draw a figure of a run log");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2 || !what || !out) {
        fprintf(stderr, "opzosim plot: %s\n",
                error ? error->message
                      : "usage: opzosim plot DB [--run ID|NAME]... [--sweep TAG] --what "
                        "curves|raster|rates|energy|grad|ops|levels --out FILE.{png,svg,pdf} "
                        "[--data FILE.csv] [--x SECTION.KEY [--by SECTION.KEY,...]]");
        return 2;
    }
    if (phase && strcmp(phase, "train") != 0 && strcmp(phase, "test") != 0) {
        fprintf(stderr, "opzosim: error: plot --phase %s: expected train or test\n", phase);
        return 2;
    }
    g_autoptr(OzStudy) study = oz_study_open(argv[1], &error);
    OzPlotOptions opt = {
        .kind = what, .epoch = epoch, .phase = phase, .sample = sample, .x = x, .by = by};
    if (!study || !oz_study_select(study, run_args, sweep, &error) ||
        !oz_plot_draw(study, &opt, out, data, &error)) {
        fprintf(stderr, "opzosim: error: %s\n", error->message);
        return oz_study_exit_code(error);
    }
    return 0;
}

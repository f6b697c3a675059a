/* oz-scenario.c — schema-driven validation of scenario key files.
 *
 * The schema is one const table: (section kind, key, type, where in the config struct,
 * range or choices, default, help).  Parsing walks the file once to reject unknown
 * sections and keys, then walks the schema to fill every field, so a key absent from
 * the file gets its default and a required key without one is reported.  Nothing is
 * committed to the caller until the whole file has validated.
 *
 * A population's model keys are not in the schema: they come from the registered neuron
 * models' ops tables (neurons/oz-neuron.h), parsed with engine/oz-params.h in the same words
 * as the schema's keys, so this file knows no model by name.
 */
#include "oz-scenario.h"
#include "io/oz-nir.h"

#include "io/oz-dataset.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-neuron.h"
#include "plasticity/oz-learner.h"
#include "plasticity/oz-rule.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* clang-format would split the quark's name at its hyphens (it reads them as
 * minus signs), and the name is the domain's string. */
// clang-format off
G_DEFINE_QUARK(oz-scenario-error-quark, oz_scenario_error)
// clang-format on

typedef enum {
    K_RUN,
    K_DATA,
    K_RECORD,
    K_RULE,
    K_OPTIMIZER,
    K_POPULATION,
    K_PROJECTION,
    K_FEEDBACK,
    K_NETWORK,
    K_HARDWARE,
    K_COUNT
} Kind;

static const char *const kind_names[K_COUNT] = {
    "run", "data", "record", "rule", "optimizer", "population", "projection", "feedback",
    "network", "hardware"};
static const gboolean kind_named[] = {FALSE, FALSE, FALSE, FALSE, FALSE,
                                      TRUE,  TRUE,  TRUE,  FALSE, FALSE};
_Static_assert(G_N_ELEMENTS(kind_names) == K_COUNT, "one name per section kind");
_Static_assert(G_N_ELEMENTS(kind_named) == K_COUNT, "one flag per section kind");

typedef enum { T_INT, T_INT64, T_DOUBLE, T_BOOL, T_STRING, T_ENUM, T_LIST } Type;

typedef struct {
    Kind kind;
    const char *key;
    Type type;
    gsize offset;
    double min, max;
    const char *choices; /* T_ENUM: "a|b|c", or "@TAG" for a registry's names (below) */
    const char *def;     /* NULL: required */
    const char *help;
} KeySpec;

/* The learning rules' names, from their registry (plasticity/oz-rule-registry.c). */
static const char *rule_names(void) {
    return oz_rule_names("|");
}

/* Joins once into *slot the names name_at(0), name_at(1), … up to the first NULL, with
 * `|` between them: the choices of a registry-backed enum key. */
static const char *join_names_once(gsize *slot, const char *(*name_at)(gsize i)) {
    if (g_once_init_enter(slot)) {
        GString *s = g_string_new(NULL);
        for (gsize i = 0; name_at(i); i++)
            g_string_append_printf(s, "%s%s", s->len ? "|" : "", name_at(i));
        g_once_init_leave(slot, (gsize)g_string_free(s, FALSE));
    }
    return (const char *)*slot;
}

static const char *model_at(gsize i) {
    const OzNeuronOps *m = oz_neuron_models()[i];
    return m ? m->name : NULL;
}

static const char *kind_at(gsize i) {
    const OzProjectionKindOps *k = oz_projection_kinds()[i];
    return k ? k->name : NULL;
}

static const char *dataset_at(gsize i) {
    const OzDatasetOps *d = oz_datasets()[i];
    return d ? d->name : NULL;
}

/* The neuron models', projection kinds' and data sets' names, from their registries. */
static const char *model_names(void) {
    static gsize joined;
    return join_names_once(&joined, model_at);
}

static const char *projection_kind_names(void) {
    static gsize joined;
    return join_names_once(&joined, kind_at);
}

static const char *dataset_names(void) {
    static gsize joined;
    return join_names_once(&joined, dataset_at);
}

/* Enums whose choices are the names in a plugin registry, so that a registered plugin is
 * a valid value without an edit here. */
static const struct {
    const char *tag;
    const char *(*names)(void);
} registries[] = {{"@rules", rule_names},
                  {"@models", model_names},
                  {"@kinds", projection_kind_names},
                  {"@datasets", dataset_names}};

/* A key's choices, "a|b|c". */
static const char *key_choices(const KeySpec *ks) {
    if (ks->choices && ks->choices[0] == '@') {
        for (gsize i = 0; i < G_N_ELEMENTS(registries); i++)
            if (strcmp(ks->choices, registries[i].tag) == 0)
                return registries[i].names();
        g_error("schema: key %s names no registry (%s)", ks->key, ks->choices);
    }
    return ks->choices;
}

#define RUN(f) offsetof(OzRunConfig, f)
#define DATA(f) offsetof(OzDataConfig, f)
#define REC(f) offsetof(OzRecordConfig, f)
#define POP(f) offsetof(OzPopulationConfig, f)
#define PRJ(f) offsetof(OzProjectionConfig, f)
#define RULE(f) offsetof(OzRuleConfig, f)
#define OPT(f) offsetof(OzOptimizerConfig, f)
#define FB(f) offsetof(OzFeedbackConfig, f)
#define NET(f) offsetof(OzNetworkConfig, f)
#define HW(f) offsetof(OzHardwareConfig, f)

static const KeySpec schema[] = {
    {K_RUN, "name", T_STRING, RUN(name), 0, 0, NULL, "",
     "run name, also the default run log runs/NAME.sqlite: 1 to 100 ASCII letters, digits, "
     "'-', '_' or '.', starting with a letter or digit (default: the file's base name without "
     "its extension, any other character replaced by '_', 'run' put in front if it then starts "
     "with neither a letter nor a digit, cut to 100 bytes)"},
    {K_RUN, "seed", T_INT64, RUN(seed), 0, 9.2e18, NULL, "2022", "seed of every random stream"},
    {K_RUN, "mode", T_ENUM, RUN(mode), 0, 0, "infer|train", "infer",
     "infer: evaluate the test set; train: learn (needs a learning rule)"},
    {K_RUN, "epochs", T_INT, RUN(epochs), 1, 100000, NULL, "1", "passes over the training set"},
    {K_RUN, "batch_size", T_INT, RUN(batch_size), 1, 65536, NULL, "128", "samples per mini-batch"},
    {K_RUN, "ticks", T_INT, RUN(ticks), 1, 100000, NULL, "6", "T: ticks each sample is presented"},
    {K_RUN, "drain_ticks", T_INT, RUN(drain_ticks), -1, 100000, NULL, "-1",
     "extra ticks after the input for delayed packets; -1: the longest delay path"},
    {K_RUN, "threads", T_INT, RUN(threads), 1, 256, NULL, "2", "compute threads (--threads wins)"},
    {K_RUN, "delivery", T_ENUM, RUN(delivery), 0, 0, "auto|event|dense|delta", "auto",
     "spike delivery: per-spike weight rows, one sgemm, the change from the sample's previous "
     "packet, or chosen per packet by density"},
    {K_RUN, "dense_threshold", T_DOUBLE, RUN(dense_threshold), 0, 1, NULL, "0.15",
     "auto delivery uses sgemm when the fraction of presynaptic neurons firing (or changing, "
     "if fewer) is at least this"},
    {K_RUN, "delta", T_BOOL, RUN(delta), 0, 0, NULL, "true",
     "auto delivery may send a spike packet as its change from the previous one, I = I' + "
     "(s - s')W, when fewer neurons changed than fired (the same sum, rounded differently)"},
    {K_RUN, "delta_refresh", T_INT, RUN(delta_refresh), 0, 1000000, NULL, "32",
     "a full packet after at most this many delta packets in a row, bounding rounding "
     "drift (0: never)"},
    {K_RUN, "grad_chunk_ticks", T_INT, RUN(grad_chunk_ticks), 1, 64, NULL, "6",
     "weight-gradient terms of this many ticks go into one sgemm (1: one per tick; the same "
     "sum, rounded differently)"},
    {K_RUN, "sparse_grad", T_BOOL, RUN(sparse_grad), 0, 0, NULL, "true",
     "a gathered chunk from a LIF layer whose trace follows its clean spikes may be added as "
     "sum_t (o(t) - o(t-1))^T H(t), one row of H per neuron that started or stopped firing "
     "(the same sum as sum_t a(t)^T g(t), rounded differently)"},
    {K_RUN, "sparse_grad_threshold", T_DOUBLE, RUN(sparse_grad_threshold), 0, 1, NULL, "0.2",
     "... when cheaper: the fraction of changed presynaptic entries at which it costs as "
     "much as the sgemm (a chunk that does not start at the layer's first tick adds a "
     "carry-in product, 1/ticks of the sgemm)"},
    {K_RUN, "progress_seconds", T_DOUBLE, RUN(progress_seconds), 0.05, 3600, NULL, "1",
     "progress line refresh period on a terminal (10x that otherwise)"},

    {K_RUN, "max_rate", T_DOUBLE, RUN(max_rate), 0, 1, NULL, "0.99",
     "runaway guard: a population spiking on at least this fraction of its neuron-ticks ..."},
    {K_RUN, "runaway_batches", T_INT, RUN(runaway_batches), 0, 1e9, NULL, "50",
     "... for this many training batches in a row stops the run (0: no guard)"},

    {K_DATA, "dataset", T_ENUM, DATA(dataset), 0, 0, "@datasets", "mnist",
     "which data, one of the registered data sets (io/oz-dataset-*.c; their keys follow)"},
    {K_DATA, "train_limit", T_INT, DATA(train_limit), 0, 1e9, NULL, "0",
     "use the first N training samples (0: all)"},
    {K_DATA, "test_limit", T_INT, DATA(test_limit), 0, 1e9, NULL, "0",
     "use the first N test samples (0: all)"},
    {K_DATA, "classes", T_INT, DATA(classes), 2, 256, NULL, "10",
     "number of classes; labels must be below it"},

    {K_RECORD, "spike_samples", T_INT, REC(spike_samples), 0, 1e6, NULL, "0",
     "record every spike of the first N test samples (last evaluation)"},
    {K_RECORD, "spike_populations", T_LIST, REC(spike_populations), 0, 0, NULL, "",
     "comma-separated populations whose spikes are recorded (empty: all that spike)"},
    {K_RECORD, "firing_rates", T_BOOL, REC(firing_rates), 0, 0, NULL, "true",
     "log firing_rates rows"},
    {K_RECORD, "synops", T_BOOL, REC(synops), 0, 0, NULL, "true", "log synops rows"},
    {K_RECORD, "grad_stats", T_BOOL, REC(grad_stats), 0, 0, NULL, "false",
     "per hidden projection and epoch: cosine to BP on the same forward pass, gradient variance"},
    {K_RECORD, "grad_stats_every", T_INT, REC(grad_stats_every), 1, 1e9, NULL, "1",
     "measure every Nth training batch"},
    {K_RECORD, "grad_stats_frozen", T_BOOL, REC(grad_stats_frozen), 0, 0, NULL, "false",
     "freeze weights and M while measuring (the variance protocol of docs/ALGORITHM.md §12.2)"},
    {K_RECORD, "checkpoints_all", T_BOOL, REC(checkpoints_all), 0, 0, NULL, "false",
     "keep a checkpoint of every epoch (about 15 MB each for the paper's net), not only the last"},

    {K_RULE, "name", T_ENUM, RULE(name), 0, 0, "@rules", "opzo",
     "learning rule, one of the registered rules (plasticity/oz-rule-NAME.c)"},
    {K_RULE, "loss_lambda", T_DOUBLE, RULE(loss_lambda), 0, 1, NULL, "0.05",
     "λ_L: weight of MSE in the CE/MSE mix (docs/ALGORITHM.md §4.1; 0.001 for event data)"},
    {K_RULE, "surrogate_a", T_DOUBLE, RULE(surrogate_a), 1e-6, 1e3, NULL, "0.25",
     "a₁ of the sigmoid surrogate ψ"},
    {K_RULE, "noise", T_ENUM, RULE(noise), 0, 0, "gaussian|rademacher|sphere", "gaussian",
     "probe distribution (zo, opzo); sphere has radius √n"},
    {K_RULE, "noise_position", T_ENUM, RULE(noise_position), 0, 0, "after|before", "after",
     "inject αz after the neuron (on its output) or before (into its input current)"},
    {K_RULE, "antithetic", T_BOOL, RULE(antithetic), 0, 0, NULL, "true",
     "−z on the tick after each fresh draw"},
    {K_RULE, "alpha_start", T_DOUBLE, RULE(alpha_start), 0, 100, NULL, "0.2",
     "α in the first epoch"},
    {K_RULE, "alpha_end", T_DOUBLE, RULE(alpha_end), 0, 100, NULL, "0.01", "α in the last epoch"},
    {K_RULE, "alpha_schedule", T_ENUM, RULE(alpha_schedule), 0, 0,
     "linear|linear_e_over_E|linear_iteration|fixed", "linear",
     "linear: per epoch e, start + (end − start)·e/(E−1), so the last epoch uses alpha_end; "
     "linear_e_over_E: ·e/E; linear_iteration: per mini-batch; fixed: alpha_start"},
    {K_RULE, "sphere_radius", T_ENUM, RULE(sphere_radius), 0, 0, "sqrt_n|1", "sqrt_n",
     "sphere noise radius: √n (unit-variance components) or 1"},
    {K_RULE, "trace_under_noise", T_ENUM, RULE(trace_under_noise), 0, 0, "clean|noisy", "clean",
     "presynaptic traces from the clean spikes or from ŝ = s + αz"},
    {K_RULE, "noise_dropout_order", T_ENUM, RULE(noise_dropout_order), 0, 0,
     "noise_after_mask|mask_after_noise", "noise_after_mask",
     "ŝ = mask⊙s + αz, or ŝ = mask⊙(s + αz)"},
    {K_RULE, "first_layer_factor", T_ENUM, RULE(first_layer_factor), 0, 0, "input|trace", "input",
     "first layer's presynaptic factor: the raw input x[t] (OTTT code) or its λ-trace"},
    {K_RULE, "local_learning", T_BOOL, RULE(local_learning), 0, 0, NULL, "false",
     "LL: a linear readout per hidden layer whose scaled error joins the feedback (any rule)"},
    {K_RULE, "ll_scale", T_DOUBLE, RULE(ll_scale), 0, 100, NULL, "0.01", "LL loss scale"},
    {K_RULE, "step", T_ENUM, RULE(step), 0, 0, "batch|tick", "batch",
     "optimizer step once per batch (OTTT_A) or every tick (OTTT_O)"},

    {K_OPTIMIZER, "name", T_ENUM, OPT(name), 0, 0, "adamw|sgd", "adamw", "optimizer"},
    {K_OPTIMIZER, "lr", T_DOUBLE, OPT(lr), 0, 1e6, NULL, "2e-4", "learning rate"},
    {K_OPTIMIZER, "weight_decay", T_DOUBLE, OPT(weight_decay), 0, 1, NULL, "2e-4",
     "decoupled (adamw) or L2 (sgd) weight decay"},
    {K_OPTIMIZER, "beta1", T_DOUBLE, OPT(beta1), 0, 0.999999, NULL, "0.9", "adamw β1"},
    {K_OPTIMIZER, "beta2", T_DOUBLE, OPT(beta2), 0, 0.99999999, NULL, "0.999", "adamw β2"},
    {K_OPTIMIZER, "eps", T_DOUBLE, OPT(eps), 0, 1, NULL, "1e-8", "adamw ε"},
    {K_OPTIMIZER, "momentum", T_DOUBLE, OPT(momentum), 0, 0.999999, NULL, "0.9", "sgd momentum"},
    {K_OPTIMIZER, "schedule", T_ENUM, OPT(schedule), 0, 0, "cosine|constant", "cosine",
     "learning rate per epoch: cosine annealing to 0 over the epochs, or constant"},

    {K_POPULATION, "model", T_ENUM, POP(model), 0, 0, "@models", NULL,
     "neuron model, one of the registered models (their keys follow)"},
    {K_POPULATION, "size", T_INT, POP(size), 1, 1e7, NULL, NULL,
     "number of neurons; may be left out when shape is given, and both must agree"},
    {K_POPULATION, "shape", T_STRING, POP(shape), 0, 0, NULL, "",
     "C,H,W or N: the population's shape (convolution, event input); size is its product"},
    {K_POPULATION, "igl", T_BOOL, POP(igl), 0, 0, NULL, "false",
     "intermediate global learning: a readout on this hidden population whose error trains "
     "the hidden populations below it through their own feedback (direct rules)"},

    {K_FEEDBACK, "delay", T_INT, FB(delay), 0, 10000, NULL, "0",
     "ticks between an output error and its arrival at this population"},
    {K_FEEDBACK, "jitter", T_INT, FB(jitter), 0, 10000, NULL, "0",
     "extra delay drawn uniformly from 0..jitter per delivery (seeded)"},
    {K_FEEDBACK, "eligibility", T_ENUM, FB(eligibility), 0, 0, "stored|current", "stored",
     "a late error meets the factors of its emission tick (stored) or of its arrival (current)"},

    {K_PROJECTION, "from", T_STRING, PRJ(from), 0, 0, NULL, NULL, "presynaptic population"},
    {K_PROJECTION, "to", T_STRING, PRJ(to), 0, 0, NULL, NULL, "postsynaptic population"},
    {K_PROJECTION, "delay", T_INT, PRJ(delay), 0, 10000, NULL, "0", "axonal delay in ticks"},
    {K_PROJECTION, "init", T_ENUM, PRJ(init), 0, 0, "uniform|normal|zero|kaiming", "uniform",
     "uniform: U(±scale/√fan_in) (framework default); normal: N(0, scale²); kaiming: "
     "N(0, scale²·2/fan_out)"},
    {K_PROJECTION, "init_scale", T_DOUBLE, PRJ(init_scale), 0, 1e6, NULL, "1", "see init"},
    {K_PROJECTION, "kind", T_ENUM, PRJ(kind), 0, 0, "@kinds", "dense",
     "projection kind, one of the registered kinds (neurons/oz-kind-NAME.c)"},
    {K_PROJECTION, "weight_standardization", T_BOOL, PRJ(weight_standardization), 0, 0, NULL,
     "false",
     "scaled weight standardisation: each output unit's weights centred, divided by "
     "sqrt(N var + 1e-4) and multiplied by a learnable gain (kinds that describe their fan-in)"},

    {K_NETWORK, "from_nir", T_STRING, NET(from_nir), 0, 0, NULL, "",
     "a NIR graph (HDF5, docs/INTEROP.md) whose layers become the [population] and "
     "[projection] sections and whose weights the network starts from; a section or key "
     "given in the scenario (or --set) wins over the file's"},
    {K_NETWORK, "nir_dt", T_DOUBLE, NET(nir_dt), 1e-9, 1e3, NULL, "1e-4",
     "the time step in seconds that discretises the file's neurons: lambda = 1 - dt/tau"},

    {K_HARDWARE, "seed", T_INT64, HW(seed), 0, 9.2e18, NULL, "1",
     "seed of the chip's fixed draws (mismatch), apart from [run] seed: the same chip across "
     "runs"},
    {K_HARDWARE, "weight_bits", T_INT, HW(weight_bits), 0, 16, NULL, "0",
     "0: float weights; 2-16: the forward pass uses symmetric uniform quantisation of each "
     "projection's weights, scale max|W| at every step (learning keeps full precision)"},
    {K_HARDWARE, "weight_mismatch", T_DOUBLE, HW(weight_mismatch), 0, 5, NULL, "0",
     "sigma of a fixed factor exp(sigma*xi) per synapse"},
    {K_HARDWARE, "threshold_mismatch", T_DOUBLE, HW(threshold_mismatch), 0, 5, NULL, "0",
     "sigma of a fixed factor exp(sigma*xi) on each neuron's V_th"},
    {K_HARDWARE, "leak_mismatch", T_DOUBLE, HW(leak_mismatch), 0, 5, NULL, "0",
     "sigma of a fixed factor exp(sigma*xi) on each neuron's leak lambda (clipped to 0.999)"},
    {K_HARDWARE, "neuron_noise", T_DOUBLE, HW(neuron_noise), 0, 100, NULL, "0",
     "sigma of fresh Gaussian noise on each neuron's input every tick, in training and at test"},
    {K_HARDWARE, "noise_is_probe", T_BOOL, HW(noise_is_probe), 0, 0, NULL, "false",
     "the noise is the probe of the rules that probe (zo, opzo): alpha = sigma, before the "
     "neuron, no antithetic pairs; false: unknown to every rule"},
    {K_HARDWARE, "spike_drop", T_DOUBLE, HW(spike_drop), 0, 1, NULL, "0",
     "probability that a spike is lost on a projection (one draw per spike and projection)"},
    {K_HARDWARE, "bp_model", T_ENUM, HW(bp_model), 0, 0, "nominal|exact", "nominal",
     "BP's model of the chip: nominal weights and threshold, or exact (the true chip: a "
     "reference only, no real chip offers it)"},
};

#undef RUN
#undef DATA
#undef REC
#undef POP
#undef PRJ
#undef RULE
#undef OPT
#undef FB
#undef NET
#undef HW

int oz_levenshtein(const char *a, const char *b) {
    gsize la = strlen(a), lb = strlen(b);
    g_autofree int *row = g_new(int, lb + 1);
    for (gsize j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (gsize i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (gsize j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = g_ascii_tolower(a[i - 1]) == g_ascii_tolower(b[j - 1]) ? 0 : 1;
            row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
            diag = up;
        }
    }
    return row[lb];
}

/* " (did you mean 'x'?)" for the closest candidate within distance 3, or "". */
static char *suggest(const char *word, const char *const *candidates, gsize n) {
    const char *best = NULL;
    int best_d = 4;
    for (gsize i = 0; i < n; i++) {
        int d = oz_levenshtein(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best ? g_strdup_printf(" (did you mean '%s'?)", best) : g_strdup("");
}

typedef struct {
    const char *path;
    GHashTable *overridden; /* "section\x1fkey" set */
} Ctx;

static void key_error(const Ctx *c, GError **error, OzScenarioError code, const char *section,
                      const char *key, const char *fmt, ...) G_GNUC_PRINTF(6, 7);

static void key_error(const Ctx *c, GError **error, OzScenarioError code, const char *section,
                      const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    gboolean from_cli = FALSE;
    if (key && c->overridden) {
        g_autofree char *k = g_strdup_printf("%s\x1f%s", section, key);
        from_cli = g_hash_table_contains(c->overridden, k);
    }
    if (key)
        g_set_error(error, OZ_SCENARIO_ERROR, code, "%s: [%s] %s: %s%s", c->path, section, key, msg,
                    from_cli ? " (set with --set)" : "");
    else
        g_set_error(error, OZ_SCENARIO_ERROR, code, "%s: [%s]: %s", c->path, section, msg);
}

void oz_scenario_set_error(const OzScenario *sc, GError **error, OzScenarioError code,
                           const char *section, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    Ctx c = {sc->path, NULL};
    key_error(&c, error, code, section, key, "%s", msg);
}

static gboolean is_name_ok(const char *s) {
    if (!*s)
        return FALSE;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-')
            return FALSE;
    return TRUE;
}

static gboolean is_run_name_char(char ch) {
    return g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.';
}

gboolean oz_scenario_name_is_plain(const char *name, char **why) {
    g_return_val_if_fail(name != NULL, FALSE);
    char *reason = NULL;
    gsize len = strlen(name);
    /* The first offending byte first: a '/' says more about a name than its length. */
    for (gsize i = 0; i < len && !reason; i++) {
        guchar ch = (guchar)name[i];
        if (is_run_name_char((char)ch))
            continue;
        if (ch == '/')
            reason = g_strdup_printf("'/' at byte %zu", i);
        else if (ch == ' ')
            reason = g_strdup_printf("a space at byte %zu", i);
        else if (ch >= 0x80)
            reason = g_strdup_printf("a non-ASCII byte 0x%02x at byte %zu", ch, i);
        else if (g_ascii_iscntrl((char)ch))
            reason = g_strdup_printf("the control character 0x%02x at byte %zu", ch, i);
        else
            reason = g_strdup_printf("'%c' at byte %zu", ch, i);
    }
    if (!reason && len == 0)
        reason = g_strdup("it is empty");
    else if (!reason && !g_ascii_isalnum(name[0]))
        reason = g_strdup_printf("it starts with '%c'", name[0]);
    else if (!reason && len > OZ_RUN_NAME_MAX)
        reason = g_strdup_printf("it is %zu bytes long", len);
    if (why)
        *why = reason;
    else
        g_free(reason);
    return reason == NULL;
}

char *oz_scenario_name_from_path(const char *path) {
    g_autofree char *base = g_path_get_basename(path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    GString *s = g_string_new(NULL);
    /* One '_' per character: "naïve" reads as "na_ve", not "na__ve".  A base name that is
     * not UTF-8 (file names are bytes) gets one per byte. */
    gboolean utf8 = g_utf8_validate(base, -1, NULL);
    for (const char *p = base; *p; p = utf8 ? g_utf8_next_char(p) : p + 1)
        g_string_append_c(s, is_run_name_char(*p) ? *p : '_');
    if (!g_ascii_isalnum(s->str[0]))
        g_string_prepend(s, "run");
    g_string_truncate(s, MIN(s->len, (gsize)OZ_RUN_NAME_MAX));
    g_assert(oz_scenario_name_is_plain(s->str, NULL));
    return g_string_free(s, FALSE);
}

/* Where in a raw key-file value an escape GLib cannot read starts (it knows \s \n \t \r
 * and \\), or −1. */
static gssize bad_escape(const char *v) {
    for (const char *p = v; *p; p++) {
        if (*p != '\\')
            continue;
        if (!p[1] || !strchr("sntr\\", p[1]))
            return p - v;
        p++;
    }
    return -1;
}

/* A value as it can be shown in a message: control characters, backslashes (unless raw:
 * a key file's own escapes, shown as written) and, unless the value is valid UTF-8, high
 * bytes as C escapes.  (transfer full) */
static char *printable(const char *v, gboolean raw) {
    char keep[130];
    gsize n = 0;
    if (raw)
        keep[n++] = '\\';
    if (g_utf8_validate(v, -1, NULL))
        for (int b = 0x80; b <= 0xff; b++)
            keep[n++] = (char)b;
    keep[n] = '\0';
    return g_strescape(v, keep);
}

static gboolean parse_value(const Ctx *c, const KeySpec *ks, const char *section, const char *raw,
                            gpointer base, GError **error) {
    gpointer field = (char *)base + ks->offset;
    g_autofree char *v = g_strstrip(g_strdup(raw));
    switch (ks->type) {
    case T_INT:
    case T_INT64: {
        gint64 out = 0;
        char *end = NULL;
        errno = 0;
        out = g_ascii_strtoll(v, &end, 10);
        if (!*v || *end || errno != 0) {
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                      "expected an integer in [%.0f, %.0f], got '%s'", ks->min, ks->max, v);
            return FALSE;
        }
        if ((double)out < ks->min || (double)out > ks->max) {
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                      "%s is out of range: expected an integer in [%.0f, %.0f]", v, ks->min,
                      ks->max);
            return FALSE;
        }
        if (ks->type == T_INT)
            *(int *)field = (int)out;
        else
            *(gint64 *)field = out;
        return TRUE;
    }
    case T_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double d = g_ascii_strtod(v, &end);
        if (!*v || *end || errno != 0 || !isfinite(d)) {
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                      "expected a number in [%g, %g], got '%s'", ks->min, ks->max, v);
            return FALSE;
        }
        if (d < ks->min || d > ks->max) {
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                      "%s is out of range: expected a number in [%g, %g]", v, ks->min, ks->max);
            return FALSE;
        }
        *(double *)field = d;
        return TRUE;
    }
    case T_BOOL: {
        static const char *const yes[] = {"true", "yes", "1", "on"};
        static const char *const no[] = {"false", "no", "0", "off"};
        for (gsize i = 0; i < G_N_ELEMENTS(yes); i++) {
            if (g_ascii_strcasecmp(v, yes[i]) == 0) {
                *(gboolean *)field = TRUE;
                return TRUE;
            }
            if (g_ascii_strcasecmp(v, no[i]) == 0) {
                *(gboolean *)field = FALSE;
                return TRUE;
            }
        }
        key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                  "expected true or false, got '%s'", v);
        return FALSE;
    }
    case T_ENUM: {
        g_auto(GStrv) choices = g_strsplit(key_choices(ks), "|", -1);
        if (g_strv_contains((const char *const *)choices, v)) {
            g_free(*(char **)field);
            *(char **)field = g_strdup(v);
            return TRUE;
        }
        g_autofree char *sug = suggest(v, (const char *const *)choices, g_strv_length(choices));
        g_autofree char *list = g_strjoinv(", ", choices);
        key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, ks->key,
                  "expected one of %s, got '%s'%s", list, v, sug);
        return FALSE;
    }
    case T_STRING:
        g_free(*(char **)field);
        *(char **)field = g_strdup(v);
        return TRUE;
    case T_LIST: {
        g_auto(GStrv) parts = g_strsplit(v, ",", -1);
        GPtrArray *out = g_ptr_array_new();
        for (char **p = parts; *p; p++) {
            g_strstrip(*p);
            if (**p)
                g_ptr_array_add(out, g_strdup(*p));
        }
        g_ptr_array_add(out, NULL);
        g_strfreev(*(char ***)field);
        *(char ***)field = (char **)g_ptr_array_free(out, FALSE);
        return TRUE;
    }
    }
    return FALSE;
}

/* Appends to known every key of table (NULL or ended by a NULL key) it does not hold yet. */
static void add_param_keys(GPtrArray *known, const OzParamSpec *table) {
    for (int i = 0; table && table[i].key; i++) {
        gboolean seen = FALSE;
        for (guint j = 0; j < known->len && !seen; j++)
            seen = strcmp(g_ptr_array_index(known, j), table[i].key) == 0;
        if (!seen)
            g_ptr_array_add(known, (gpointer)table[i].key);
    }
}

/* Every key of the registered plugins whose keys a section of this kind takes (the neuron
 * models' for a population, the projection kinds', the rules', the data sets'), once each,
 * in registry order; nothing for the other kinds. */
static void add_plugin_keys(GPtrArray *known, Kind kind) {
    switch (kind) {
    case K_POPULATION:
        for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
            add_param_keys(known, (*m)->common_params);
            add_param_keys(known, (*m)->params);
        }
        break;
    case K_PROJECTION:
        for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++)
            add_param_keys(known, (*k)->params);
        break;
    case K_RULE:
        for (const OzRuleOps *const *r = oz_rule_all(); *r; r++)
            add_param_keys(known, (*r)->params);
        break;
    case K_DATA:
        for (const OzDatasetOps *const *d = oz_datasets(); *d; d++)
            add_param_keys(known, (*d)->params);
        break;
    default:
        break;
    }
}

/* The raw text of a key, or NULL when absent (*raw_out).  FALSE with an error when the
 * value is there but cannot be read. */
static gboolean read_raw(const Ctx *c, GKeyFile *kf, const char *section, const char *key,
                         char **raw_out, GError **error) {
    g_autoptr(GError) kerr = NULL;
    *raw_out = g_key_file_get_string(kf, section, key, &kerr);
    if (kerr && !g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) &&
        !g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND)) {
        /* A bad escape: GLib hands back the value with it left in (2.74) or nothing.
         * Not UTF-8: nothing.  Either way it is not what the file meant, and the
         * default must not stand in for it, nor a "\0" pass into a name or a path. */
        g_clear_pointer(raw_out, g_free);
        g_autofree char *value = g_key_file_get_value(kf, section, key, NULL);
        gssize at = value ? bad_escape(value) : -1;
        g_autofree char *shown = printable(value ? value : "", TRUE);
        if (at >= 0)
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key,
                      "'%s' has an escape sequence a key file does not know at byte "
                      "%" G_GSSIZE_FORMAT "; a backslash starts only \\s, \\n, \\t, \\r or \\\\",
                      shown, at);
        else if (g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_UNKNOWN_ENCODING))
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key, "'%s' is not UTF-8 text",
                      shown);
        else
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key, "'%s' cannot be read (%s)",
                      shown, kerr->message);
        return FALSE;
    }
    return TRUE;
}

/* A plugin's key table (NULL or ended by a NULL key): each key from the file or its
 * default, parsed into base by its spec (an enum value that is no choice gets a
 * suggestion), then appended to keys and values as text.  FALSE at the first key that does
 * not parse, with error naming it. */
static gboolean read_plugin_keys(const Ctx *c, GKeyFile *kf, const char *section,
                                 const OzParamSpec *table, gpointer base, GPtrArray *keys,
                                 GPtrArray *values, GError **error) {
    for (int i = 0; table && table[i].key; i++) {
        const OzParamSpec *s = &table[i];
        g_autofree char *raw = NULL;
        g_autofree char *why = NULL;
        if (!read_raw(c, kf, section, s->key, &raw, error))
            return FALSE;
        if (!oz_param_parse(s, raw ? raw : s->def, base, &why)) {
            g_autofree char *sug = NULL;
            if (s->type == OZ_PARAM_ENUM) {
                g_auto(GStrv) choices = g_strsplit(s->choices, "|", -1);
                g_autofree char *v = g_strstrip(g_strdup(raw ? raw : s->def));
                sug = suggest(v, (const char *const *)choices, g_strv_length(choices));
            }
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, s->key, "%s%s", why,
                      sug ? sug : "");
            return FALSE;
        }
        g_ptr_array_add(keys, g_strdup(s->key));
        g_ptr_array_add(values, oz_param_format(s, base));
    }
    return TRUE;
}

/* Ends keys and values with NULL and hands them over as string vectors (replacing, and
 * freeing, what *keys_out and *values_out held). */
static void take_plugin_keys(GPtrArray *keys, GPtrArray *values, char ***keys_out,
                             char ***values_out) {
    g_ptr_array_add(keys, NULL);
    g_ptr_array_add(values, NULL);
    g_strfreev(*keys_out);
    g_strfreev(*values_out);
    *keys_out = (char **)g_ptr_array_free(keys, FALSE);
    *values_out = (char **)g_ptr_array_free(values, FALSE);
}

/* read_plugin_keys over one table, the keys read handed over to *keys_out and *values_out
 * whether or not they all parse. */
static gboolean fill_plugin_keys(const Ctx *c, GKeyFile *kf, const char *section,
                                 const OzParamSpec *table, gpointer base, char ***keys_out,
                                 char ***values_out, GError **error) {
    GPtrArray *keys = g_ptr_array_new(), *values = g_ptr_array_new();
    gboolean ok = read_plugin_keys(c, kf, section, table, base, keys, values, error);
    take_plugin_keys(keys, values, keys_out, values_out);
    return ok;
}

/* The rule's own keys: every key of its table, from the file or its default, validated by
 * the rule's specs and kept as text.  Keys of other registered rules were let through by
 * fill_section and are ignored here. */
static gboolean fill_rule_keys(const Ctx *c, GKeyFile *kf, const char *section,
                               OzRuleConfig *rc, GError **error) {
    const OzRuleOps *ops = oz_rule_lookup(rc->name);
    g_assert(ops); /* the "@rules" enum accepted it */
    OzLearnParams scratch = {0};
    return fill_plugin_keys(c, kf, section, ops->params, &scratch, &rc->keys, &rc->values, error);
}

/* The data set's own keys: every key of its table, from the file or its default, validated
 * by its specs and kept as text (its configure runs in validate, once the run mode is known).
 * Keys of other registered data sets were let through by fill_section and are ignored. */
static gboolean fill_dataset_keys(const Ctx *c, GKeyFile *kf, const char *section,
                                  OzDataConfig *dc, GError **error) {
    const OzDatasetOps *ops = oz_dataset_lookup(dc->dataset);
    g_assert(ops); /* the "@datasets" enum accepted it */
    gpointer scratch = g_malloc0(MAX(ops->params_size, 1));
    gboolean ok =
        fill_plugin_keys(c, kf, section, ops->params, scratch, &dc->keys, &dc->values, error);
    oz_dataset_params_free(ops, scratch);
    return ok;
}

static gboolean fill_section(const Ctx *c, GKeyFile *kf, Kind kind, const char *section,
                             gpointer base, GError **error) {
    /* Unknown keys first, so a misspelt required key reads as a misspelling. */
    g_auto(GStrv) keys = g_key_file_get_keys(kf, section, NULL, NULL);
    g_autoptr(GPtrArray) known_keys = g_ptr_array_new();
    for (gsize i = 0; i < G_N_ELEMENTS(schema); i++)
        if (schema[i].kind == kind)
            g_ptr_array_add(known_keys, (gpointer)schema[i].key);
    add_plugin_keys(known_keys, kind);
    const char *const *known = (const char *const *)known_keys->pdata;
    const gsize nknown = known_keys->len;
    for (char **k = keys; k && *k; k++) {
        gboolean ok = FALSE;
        for (gsize i = 0; i < nknown && !ok; i++)
            ok = strcmp(known[i], *k) == 0;
        if (!ok) {
            g_autofree char *sug = suggest(*k, known, nknown);
            GString *all = g_string_new(NULL);
            for (gsize i = 0; i < nknown; i++)
                g_string_append_printf(all, "%s%s", i ? ", " : "", known[i]);
            key_error(c, error, OZ_SCENARIO_ERROR_UNKNOWN, section, *k,
                      "unknown key%s; keys of a %s section: %s", sug, kind_names[kind], all->str);
            g_string_free(all, TRUE);
            return FALSE;
        }
    }
    for (gsize i = 0; i < G_N_ELEMENTS(schema); i++) {
        const KeySpec *ks = &schema[i];
        if (ks->kind != kind)
            continue;
        g_autofree char *raw = NULL;
        if (!read_raw(c, kf, section, ks->key, &raw, error))
            return FALSE;
        if (!raw) {
            /* A population's size may be left out when its shape is given. */
            if (kind == K_POPULATION && strcmp(ks->key, "size") == 0 &&
                g_key_file_has_key(kf, section, "shape", NULL))
                continue;
            if (!ks->def) {
                key_error(c, error, OZ_SCENARIO_ERROR_MISSING, section, ks->key,
                          "required key is missing (%s)", ks->help);
                return FALSE;
            }
            raw = g_strdup(ks->def);
        }
        if (!parse_value(c, ks, section, raw, base, error))
            return FALSE;
    }
    if (kind == K_RULE)
        return fill_rule_keys(c, kf, section, base, error);
    if (kind == K_DATA)
        return fill_dataset_keys(c, kf, section, base, error);
    return TRUE;
}

/* Frees what the schema fills in a section's configuration at base: its text and list
 * fields (the kind's T_STRING, T_ENUM and T_LIST keys), each left NULL. */
static void clear_section(Kind kind, gpointer base) {
    for (gsize i = 0; i < G_N_ELEMENTS(schema); i++) {
        const KeySpec *ks = &schema[i];
        gpointer field = (char *)base + ks->offset;
        if (ks->kind != kind)
            continue;
        if (ks->type == T_STRING || ks->type == T_ENUM)
            g_clear_pointer((char **)field, g_free);
        else if (ks->type == T_LIST)
            g_clear_pointer((char ***)field, g_strfreev);
    }
}

static void pop_config_free(OzPopulationConfig *p) {
    g_free(p->name);
    clear_section(K_POPULATION, p);
    g_strfreev(p->keys);
    g_strfreev(p->values);
    g_free(p);
}

/* The value beside key in the parallel NULL-terminated vectors keys and values, or NULL. */
static const char *value_of(char *const *keys, char *const *values, const char *key) {
    for (int i = 0; keys && keys[i]; i++)
        if (strcmp(keys[i], key) == 0)
            return values[i];
    return NULL;
}

const char *oz_population_config_get(const OzPopulationConfig *pc, const char *key) {
    return value_of(pc->keys, pc->values, key);
}

/* The shape key: 1 to OZ_SCENARIO_SHAPE_MAX positive integers separated by commas, whose
 * product is the size (given or not; when given, they must agree). */
static gboolean fill_shape(const Ctx *c, GKeyFile *kf, const char *section, OzPopulationConfig *p,
                           GError **error) {
    _Static_assert(OZ_SCENARIO_SHAPE_MAX == OZ_SHAPE_MAX_RANK, "one limit on shape ranks");
    if (!*p->shape) {
        if (g_key_file_has_key(kf, section, "size", NULL))
            return TRUE;
        key_error(c, error, OZ_SCENARIO_ERROR_MISSING, section, "size",
                  "required key is missing (number of neurons; or give shape = C,H,W)");
        return FALSE;
    }
    g_auto(GStrv) parts = g_strsplit(p->shape, ",", -1);
    int rank = (int)g_strv_length(parts);
    gint64 product = 1;
    gboolean ok = rank >= 1 && rank <= OZ_SCENARIO_SHAPE_MAX;
    for (int d = 0; ok && d < rank; d++) {
        char *end = NULL;
        g_strstrip(parts[d]);
        errno = 0;
        gint64 v = g_ascii_strtoll(parts[d], &end, 10);
        ok = *parts[d] && !*end && errno == 0 && v >= 1 && v <= 10000000;
        if (ok) {
            p->dims[d] = (int)v;
            product *= v;
            ok = product <= 10000000;
        }
    }
    if (!ok) {
        key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, "shape",
                  "expected 1 to %d positive integers separated by commas (C,H,W or N) whose "
                  "product is at most 10000000, got '%s'",
                  OZ_SCENARIO_SHAPE_MAX, p->shape);
        return FALSE;
    }
    p->rank = rank;
    if (!g_key_file_has_key(kf, section, "size", NULL)) {
        p->size = (int)product;
    } else if (p->size != product) {
        key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, "size",
                  "%d does not match shape = %s, whose product is %" G_GINT64_FORMAT
                  " (give either, or both agreeing)",
                  p->size, p->shape, product);
        return FALSE;
    }
    return TRUE;
}

/* The population's model keys: every key of its model's tables, from the file or its
 * default, validated by the model's own specs and its configure slot on temporaries, and
 * kept as text.  Keys of other registered models were let through by fill_section and are
 * ignored here. */
static gboolean fill_model_keys(const Ctx *c, GKeyFile *kf, const char *section,
                                OzPopulationConfig *p, GError **error) {
    const OzNeuronOps *ops = oz_neuron_lookup(p->model);
    g_assert(ops); /* the "@models" enum accepted it */
    OzPopulationParams common = {.model = ops->name, .size = p->size};
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    GPtrArray *keys = g_ptr_array_new(), *values = g_ptr_array_new();
    gboolean ok =
        read_plugin_keys(c, kf, section, ops->common_params, &common, keys, values, error) &&
        read_plugin_keys(c, kf, section, ops->params, own, keys, values, error);
    take_plugin_keys(keys, values, &p->keys, &p->values);
    if (!ok)
        return FALSE;
    /* The model's checks across keys, as the population will run them. */
    const char *bad = NULL;
    g_autoptr(GError) local = NULL;
    OzPopulationParams check = {.model = ops->name, .size = p->size};
    g_autofree gpointer scratch = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    if (!oz_neuron_configure(ops, (const char *const *)p->keys, (const char *const *)p->values,
                             &check, scratch, &bad, &local)) {
        key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, bad, "%s", local->message);
        return FALSE;
    }
    return TRUE;
}

/* The projection's kind keys: every key of its kind's table, from the file or its default,
 * validated by the kind's specs and kept as text.  Keys of other registered kinds were
 * let through by fill_section and are ignored here. */
static gboolean fill_kind_keys(const Ctx *c, GKeyFile *kf, const char *section,
                               OzProjectionConfig *p, GError **error) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup(p->kind);
    g_assert(ops); /* the "@kinds" enum accepted it */
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    return fill_plugin_keys(c, kf, section, ops->params, own, &p->keys, &p->values, error);
}

static void fb_config_free(OzFeedbackConfig *p) {
    g_free(p->name);
    clear_section(K_FEEDBACK, p);
    g_free(p);
}

static void proj_config_free(OzProjectionConfig *p) {
    g_free(p->name);
    clear_section(K_PROJECTION, p);
    g_strfreev(p->keys);
    g_strfreev(p->values);
    g_free(p);
}

/* Where the values of a singleton section of this kind go. */
static gpointer singleton_config(OzScenario *sc, Kind kind) {
    switch (kind) {
    case K_RUN:
        return &sc->run;
    case K_DATA:
        return &sc->data;
    case K_RECORD:
        return &sc->record;
    case K_RULE:
        return &sc->rule;
    case K_OPTIMIZER:
        return &sc->optimizer;
    case K_NETWORK:
        return &sc->network;
    case K_HARDWARE:
        return &sc->hardware;
    default:
        g_assert_not_reached();
    }
}

void oz_scenario_free(OzScenario *sc) {
    if (!sc)
        return;
    g_free(sc->path);
    g_free(sc->text);
    g_strfreev(sc->overrides);
    for (int k = 0; k < K_COUNT; k++)
        if (!kind_named[k])
            clear_section((Kind)k, singleton_config(sc, (Kind)k));
    g_strfreev(sc->data.keys);
    g_strfreev(sc->data.values);
    g_strfreev(sc->rule.keys);
    g_strfreev(sc->rule.values);
    if (sc->pops)
        g_ptr_array_free(sc->pops, TRUE);
    if (sc->projs)
        g_ptr_array_free(sc->projs, TRUE);
    if (sc->feedbacks)
        g_ptr_array_free(sc->feedbacks, TRUE);
    g_free(sc);
}

static gboolean apply_overrides(Ctx *c, GKeyFile *kf, const char *const *overrides,
                                GError **error) {
    for (const char *const *o = overrides; o && *o; o++) {
        const char *eq = strchr(*o, '=');
        g_autofree char *lhs = eq ? g_strndup(*o, (gsize)(eq - *o)) : NULL;
        char *dot = lhs ? strrchr(lhs, '.') : NULL;
        if (!eq || !dot || dot == lhs || !dot[1]) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                        "--set '%s': expected section.key=value, e.g. run.seed=0 or "
                        "'population h1.dropout=0.1'",
                        *o);
            return FALSE;
        }
        *dot = '\0';
        const char *section = g_strstrip(lhs);
        const char *key = g_strstrip(dot + 1);
        gboolean named =
            g_str_has_prefix(section, "population ") || g_str_has_prefix(section, "projection ");
        if (named && !g_key_file_has_group(kf, section)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "--set '%s': %s has no section [%s]", *o, c->path, section);
            return FALSE;
        }
        g_key_file_set_value(kf, section, key, eq + 1);
        g_hash_table_add(c->overridden, g_strdup_printf("%s\x1f%s", section, key));
    }
    return TRUE;
}

static char *pop_names(const OzScenario *sc) {
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < sc->pops->len; i++)
        g_string_append_printf(s, "%s%s", i ? ", " : "",
                               ((OzPopulationConfig *)g_ptr_array_index(sc->pops, i))->name);
    return g_string_free(s, FALSE);
}

static OzPopulationConfig *find_pop(const OzScenario *sc, const char *name) {
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *p = g_ptr_array_index(sc->pops, i);
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

const char *oz_data_config_get(const OzDataConfig *dc, const char *key) {
    return value_of(dc->keys, dc->values, key);
}

/* The data set's checks across its keys and of what they name (files, folders), as the run
 * will load them: the training split only when training. */
static gboolean resolve_data(const Ctx *c, OzScenario *sc, GError **error) {
    OzDataConfig *d = &sc->data;
    const OzDatasetOps *ops = oz_dataset_lookup(d->dataset);
    g_assert(ops);
    if (!ops->configure)
        return TRUE;
    g_autoptr(GError) local = NULL;
    const char *bad = NULL;
    gpointer params = oz_dataset_params_new(ops, (const char *const *)d->keys,
                                            (const char *const *)d->values, &bad, &local);
    g_assert(params); /* fill_dataset_keys validated every key */
    gboolean train = strcmp(sc->run.mode, "train") == 0;
    gboolean ok = ops->configure(params, train, &bad, &local);
    oz_dataset_params_free(ops, params);
    if (ok)
        return TRUE;
    OzScenarioError code = local->domain == OZ_SCENARIO_ERROR ? (OzScenarioError)local->code
                                                              : OZ_SCENARIO_ERROR_VALUE;
    key_error(c, error, code, "data", bad, "%s", local->message);
    return FALSE;
}

/* The run name is checked before anything else that can fail, and defaulted from the file
 * name when empty. */
static gboolean validate_run_name(const Ctx *c, OzScenario *sc, GError **error) {
    if (!*sc->run.name) {
        g_free(sc->run.name);
        sc->run.name = oz_scenario_name_from_path(c->path);
        return TRUE;
    }
    g_autofree char *why = NULL;
    if (oz_scenario_name_is_plain(sc->run.name, &why))
        return TRUE;
    g_autofree char *shown = printable(sc->run.name, FALSE);
    key_error(c, error, OZ_SCENARIO_ERROR_VALUE, "run", "name",
              "'%s' is not a plain name (%s): it names the run log runs/NAME.sqlite, so it must "
              "be 1 to %d ASCII letters, digits, '-', '_' or '.', starting with a letter or digit",
              shown, why, OZ_RUN_NAME_MAX);
    return FALSE;
}

static gboolean has_cap(const OzPopulationConfig *p, OzNeuronCaps cap) {
    return (oz_neuron_lookup(p->model)->caps & (guint)cap) != 0;
}

/* Whether a population of this configuration sends anything (asks the model, on a
 * population that exists only for the question: emits reads the parameters). */
static gboolean emits_something(const OzPopulationConfig *p) {
    const OzNeuronOps *ops = oz_neuron_lookup(p->model);
    OzPopulation probe = {.ops = ops, .n = p->size, .batch = 1};
    probe.p.model = ops->name;
    probe.p.size = p->size;
    g_autofree gpointer own = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    probe.params = own;
    if (!oz_neuron_configure(ops, (const char *const *)p->keys, (const char *const *)p->values,
                             &probe.p, own, NULL, NULL))
        return TRUE; /* cannot happen: the keys validated; let the network say more */
    return oz_neuron_emits(&probe) != OZ_EMITS_NOTHING;
}

/* A hidden population that can receive a learning signal: a model with a surrogate that
 * is not the readout. */
static gboolean learnable(const OzPopulationConfig *p) {
    const OzNeuronOps *ops = oz_neuron_lookup(p->model);
    return ops->surrogate && !(ops->caps & OZ_NEURON_READOUT);
}

/* "a|b": the registered models with the capability cap (or, with want_learnable, the
 * learnable hidden ones).  (transfer full) */
static char *models_with(OzNeuronCaps cap, gboolean want_learnable) {
    GString *s = g_string_new(NULL);
    for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
        gboolean ok = want_learnable ? (*m)->surrogate && !((*m)->caps & OZ_NEURON_READOUT)
                                     : ((*m)->caps & (guint)cap) != 0;
        if (ok)
            g_string_append_printf(s, "%s%s", s->len ? "|" : "", (*m)->name);
    }
    return g_string_free(s, FALSE);
}

/* The kind's checks of its keys against the populations' shapes (its configure slot),
 * with the keys as the projection will run them; a population given only a size has
 * rank 1. */
static gboolean check_kind_shapes(const Ctx *c, const OzProjectionConfig *p,
                                  const OzPopulationConfig *pre, const OzPopulationConfig *post,
                                  GError **error) {
    const OzProjectionKindOps *ops = oz_projection_kind_lookup(p->kind);
    if (!ops || !ops->configure)
        return TRUE;
    g_autofree gpointer kp = ops->params_size ? g_malloc0(ops->params_size) : NULL;
    if (kp)
        oz_param_defaults(ops->params, kp);
    for (int k = 0; kp && p->keys && p->keys[k]; k++) {
        g_autofree char *why = NULL;
        if (!oz_param_parse(oz_param_find(ops->params, p->keys[k]), p->values[k], kp, &why))
            g_assert_not_reached(); /* fill_kind_keys validated them */
    }
    int dims[2][OZ_SCENARIO_SHAPE_MAX];
    int rank[2];
    const OzPopulationConfig *ends[2] = {pre, post};
    for (int e = 0; e < 2; e++) {
        rank[e] = ends[e]->rank > 0 ? ends[e]->rank : 1;
        memcpy(dims[e], ends[e]->dims, sizeof dims[e]);
        if (ends[e]->rank == 0)
            dims[e][0] = ends[e]->size;
    }
    const char *key = NULL;
    g_autoptr(GError) local = NULL;
    if (ops->configure(kp, rank[0], dims[0], rank[1], dims[1], &key, &local))
        return TRUE;
    g_autofree char *section = g_strdup_printf("projection %s", p->name);
    key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, key ? key : "kind", "%s",
              local->message);
    return FALSE;
}

static gboolean validate(const Ctx *c, OzScenario *sc, GError **error) {
    if (!validate_run_name(c, sc, error))
        return FALSE;
    if (sc->hardware.weight_bits == 1) {
        key_error(c, error, OZ_SCENARIO_ERROR_VALUE, "hardware", "weight_bits",
                  "1 bit leaves a symmetric quantiser only zero: use 0 (float) or 2-16");
        return FALSE;
    }
    if (sc->pops->len == 0) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_MISSING,
                    "%s: no [population NAME] section: a network needs at least an input and "
                    "a readout",
                    c->path);
        return FALSE;
    }
    int n_input = 0, n_readout = 0;
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *p = g_ptr_array_index(sc->pops, i);
        n_input += has_cap(p, OZ_NEURON_SOURCE);
        n_readout += has_cap(p, OZ_NEURON_READOUT);
    }
    if (n_input != 1 || n_readout != 1) {
        g_autofree char *sources = models_with(OZ_NEURON_SOURCE, FALSE);
        g_autofree char *readouts = models_with(OZ_NEURON_READOUT, FALSE);
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_VALUE,
                    "%s: the network needs exactly one population with model = %s and one "
                    "with model = %s (found %d and %d)",
                    c->path, sources, readouts, n_input, n_readout);
        return FALSE;
    }
    for (guint i = 0; i < sc->projs->len; i++) {
        OzProjectionConfig *p = g_ptr_array_index(sc->projs, i);
        g_autofree char *section = g_strdup_printf("projection %s", p->name);
        const char *ends[2] = {p->from, p->to};
        const char *keys[2] = {"from", "to"};
        for (int k = 0; k < 2; k++) {
            OzPopulationConfig *target = find_pop(sc, ends[k]);
            if (!target) {
                g_autofree char *names = pop_names(sc);
                key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, section, keys[k],
                          "no population named '%s' (defined: %s)", ends[k], names);
                return FALSE;
            }
            if (k == 0 && !emits_something(target)) {
                key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, section, keys[k],
                          "population '%s' (model %s) emits nothing", ends[k], target->model);
                return FALSE;
            }
            if (k == 1 && has_cap(target, OZ_NEURON_SOURCE)) {
                key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, section, keys[k],
                          "population '%s' is an input and takes no projection", ends[k]);
                return FALSE;
            }
        }
        if (!check_kind_shapes(c, p, find_pop(sc, p->from), find_pop(sc, p->to), error))
            return FALSE;
    }
    for (guint i = 0; i < sc->projs->len; i++) {
        OzProjectionConfig *p = g_ptr_array_index(sc->projs, i);
        const OzProjectionKindOps *ops = oz_projection_kind_lookup(p->kind);
        if (p->weight_standardization && !ops->fan_in) {
            g_autofree char *section = g_strdup_printf("projection %s", p->name);
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, "weight_standardization",
                      "kind %s does not describe its fan-in (its fan_in slot), so it cannot "
                      "standardise its weights",
                      p->kind);
            return FALSE;
        }
    }
    for (guint i = 0; i < sc->pops->len; i++) {
        OzPopulationConfig *p = g_ptr_array_index(sc->pops, i);
        if (p->igl && (!learnable(p) || has_cap(p, OZ_NEURON_READOUT))) {
            g_autofree char *section = g_strdup_printf("population %s", p->name);
            key_error(c, error, OZ_SCENARIO_ERROR_VALUE, section, "igl",
                      "an intermediate readout goes on a hidden population of a learnable "
                      "model; '%s' has model %s",
                      p->name, p->model);
            return FALSE;
        }
    }
    for (guint i = 0; i < sc->feedbacks->len; i++) {
        OzFeedbackConfig *fb = g_ptr_array_index(sc->feedbacks, i);
        OzPopulationConfig *target = find_pop(sc, fb->name);
        if (!target || !learnable(target)) {
            g_autofree char *names = pop_names(sc);
            g_autofree char *models = models_with(0, TRUE);
            g_autofree char *what =
                target ? g_strdup_printf("of model %s, which does not learn", target->model)
                       : g_strdup("not defined");
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_REFERENCE,
                        "%s: [feedback %s]: errors go to a hidden population of a learnable model "
                        "(%s) named like the section; '%s' is %s (defined: %s)",
                        c->path, fb->name, models, fb->name, what, names);
            return FALSE;
        }
    }
    for (char **s = sc->record.spike_populations; s && *s; s++) {
        if (!find_pop(sc, *s)) {
            g_autofree char *names = pop_names(sc);
            key_error(c, error, OZ_SCENARIO_ERROR_REFERENCE, "record", "spike_populations",
                      "no population named '%s' (defined: %s)", *s, names);
            return FALSE;
        }
    }
    return resolve_data(c, sc, error);
}

/* [network] from_nir: the sections of the NIR file's network, merged into kf under what is
 * already there (a key the scenario or --set gives wins).  *expanded tells whether there
 * was a file.  Its errors are the file's (OZ_NIR_ERROR); a bad nir_dt is the scenario's. */
static gboolean expand_nir(const Ctx *c, GKeyFile *kf, gboolean *expanded, GError **error) {
    g_autofree char *file = g_key_file_get_string(kf, "network", "from_nir", NULL);
    if (!file || !*g_strstrip(file))
        return TRUE;
    OzNetworkConfig nc = {0};
    if (!fill_section(c, kf, K_NETWORK, "network", &nc, error))
        return FALSE;
    clear_section(K_NETWORK, &nc);
    g_autofree char *mode = g_key_file_get_string(kf, "run", "mode", NULL);
    g_autofree char *sections = NULL;
    if (!oz_nir_import(file, nc.nir_dt, g_strcmp0(mode ? g_strstrip(mode) : NULL, "train") == 0,
                       &sections, NULL, error)) {
        g_prefix_error(error, "%s: [network] from_nir: ", c->path);
        return FALSE;
    }
    g_autoptr(GKeyFile) nk = g_key_file_new();
    g_autoptr(GError) local = NULL;
    if (!g_key_file_load_from_data(nk, sections, (gsize)-1, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_FAILED,
                    "%s: [network] from_nir: the sections made from %s do not parse: %s",
                    c->path, file, local->message);
        return FALSE;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(nk, NULL);
    for (char **g = groups; *g; g++) {
        g_auto(GStrv) keys = g_key_file_get_keys(nk, *g, NULL, NULL);
        for (char **k = keys; k && *k; k++)
            if (!g_key_file_has_key(kf, *g, *k, NULL)) {
                g_autofree char *v = g_key_file_get_value(nk, *g, *k, NULL);
                g_key_file_set_value(kf, *g, *k, v);
            }
    }
    *expanded = TRUE;
    return TRUE;
}

/* A new configuration named name for a named section of this kind, appended to the
 * scenario's list of them (which owns it). */
static gpointer add_named_config(OzScenario *sc, Kind kind, const char *name) {
    switch (kind) {
    case K_POPULATION: {
        OzPopulationConfig *p = g_new0(OzPopulationConfig, 1);
        p->name = g_strdup(name);
        g_ptr_array_add(sc->pops, p);
        return p;
    }
    case K_PROJECTION: {
        OzProjectionConfig *p = g_new0(OzProjectionConfig, 1);
        p->name = g_strdup(name);
        g_ptr_array_add(sc->projs, p);
        return p;
    }
    case K_FEEDBACK: {
        OzFeedbackConfig *p = g_new0(OzFeedbackConfig, 1);
        p->name = g_strdup(name);
        g_ptr_array_add(sc->feedbacks, p);
        return p;
    }
    default:
        g_assert_not_reached();
    }
}

OzScenario *oz_scenario_load_data(const char *text, const char *path, const char *const *overrides,
                                  GError **error) {
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    if (!g_key_file_load_from_data(kf, text, (gsize)-1, G_KEY_FILE_KEEP_COMMENTS, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                    "%s: not a valid key file: %s", path, local->message);
        return NULL;
    }
    g_autoptr(GHashTable) overridden = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    Ctx c = {path, overridden};
    if (!apply_overrides(&c, kf, overrides, error))
        return NULL;

    /* The text as written (with overrides), before a NIR file adds its sections: the run
     * log keeps what the user wrote, and loading it again reads the file again. */
    g_autofree char *text_given = g_key_file_to_data(kf, NULL, NULL);
    gboolean expanded = FALSE;
    if (!expand_nir(&c, kf, &expanded, error))
        return NULL;

    g_autoptr(OzScenario) sc = g_new0(OzScenario, 1);
    sc->path = g_strdup(path);
    sc->overrides = g_strdupv((char **)overrides);
    sc->pops = g_ptr_array_new_with_free_func((GDestroyNotify)pop_config_free);
    sc->projs = g_ptr_array_new_with_free_func((GDestroyNotify)proj_config_free);
    sc->feedbacks = g_ptr_array_new_with_free_func((GDestroyNotify)fb_config_free);

    gboolean seen[K_COUNT] = {FALSE};
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        Kind kind = K_COUNT;
        const char *name = NULL;
        for (int k = 0; k < K_COUNT; k++) {
            if (!kind_named[k] && strcmp(*g, kind_names[k]) == 0) {
                kind = (Kind)k;
            } else if (kind_named[k] && g_str_has_prefix(*g, kind_names[k]) &&
                       (*g)[strlen(kind_names[k])] == ' ') {
                kind = (Kind)k;
                name = *g + strlen(kind_names[k]) + 1;
            }
        }
        if (kind == K_COUNT) {
            const char *cands[] = {"run",
                                   "data",
                                   "record",
                                   "rule",
                                   "optimizer",
                                   "population NAME",
                                   "projection NAME",
                                   "feedback NAME",
                                   "network",
                                   "hardware"};
            g_autofree char *sug = suggest(*g, cands, G_N_ELEMENTS(cands));
            g_set_error(
                error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_UNKNOWN,
                "%s: [%s]: unknown section%s; sections are [run], [data], [record], "
                "[rule], [optimizer], [population NAME], [projection NAME], [feedback NAME], "
                "[network] and [hardware]",
                path, *g, sug);
            return NULL;
        }
        if (name && !is_name_ok(name)) {
            g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_VALUE,
                        "%s: [%s]: the name '%s' must be letters, digits, '_' or '-'", path, *g,
                        name);
            return NULL;
        }
        gpointer base =
            kind_named[kind] ? add_named_config(sc, kind, name) : singleton_config(sc, kind);
        seen[kind] = TRUE;
        if (!fill_section(&c, kf, kind, *g, base, error))
            return NULL;
        if (kind == K_POPULATION &&
            (!fill_shape(&c, kf, *g, base, error) || !fill_model_keys(&c, kf, *g, base, error)))
            return NULL;
        if (kind == K_PROJECTION && !fill_kind_keys(&c, kf, *g, base, error))
            return NULL;
    }
    /* Singleton sections that are absent still get their defaults. */
    for (int k = 0; k < K_COUNT; k++)
        if (!kind_named[k] && !seen[k] &&
            !fill_section(&c, kf, (Kind)k, kind_names[k], singleton_config(sc, (Kind)k), error))
            return NULL;
    if (!validate(&c, sc, error))
        return NULL;
    sc->text = expanded ? g_steal_pointer(&text_given) : g_key_file_to_data(kf, NULL, NULL);
    return g_steal_pointer(&sc);
}

OzScenario *oz_scenario_load(const char *path, const char *const *overrides, GError **error) {
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) local = NULL;
    if (!g_file_get_contents(path, &text, &len, &local)) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_FAILED,
                    "%s: cannot read the scenario: %s", path, local->message);
        return NULL;
    }
    /* The key-file parser reads up to the first NUL byte; whatever follows would be
     * silently dropped (a name cut short, a section lost). */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        g_set_error(error, OZ_SCENARIO_ERROR, OZ_SCENARIO_ERROR_PARSE,
                    "%s: a NUL byte at offset %td: a scenario is a text file", path, nul - text);
        return NULL;
    }
    return oz_scenario_load_data(text, path, overrides, error);
}

/* One plugin's key table (NULL or ended by a NULL key), a line per key. */
static void describe_params(GString *s, const OzParamSpec *table) {
    for (int i = 0; table && table[i].key; i++) {
        const OzParamSpec *ps = &table[i];
        g_autofree char *what = oz_param_describe(ps);
        g_string_append_printf(s, "    %-16s %s (%s) [default: %s]\n", ps->key, ps->help, what,
                               ps->def);
    }
}

/* The keys of every registered plugin whose keys a section of this kind takes, from their
 * ops tables, each plugin under the key that chooses it; nothing for the other kinds. */
static void describe_plugins(GString *s, Kind kind) {
    switch (kind) {
    case K_POPULATION:
        for (const OzNeuronOps *const *m = oz_neuron_models(); *m; m++) {
            g_string_append_printf(s, "  model = %s: %s\n", (*m)->name, (*m)->help);
            describe_params(s, (*m)->common_params);
            describe_params(s, (*m)->params);
        }
        break;
    case K_PROJECTION:
        for (const OzProjectionKindOps *const *k = oz_projection_kinds(); *k; k++) {
            g_string_append_printf(s, "  kind = %s: %s\n", (*k)->name, (*k)->help);
            describe_params(s, (*k)->params);
        }
        break;
    case K_DATA:
        for (const OzDatasetOps *const *d = oz_datasets(); *d; d++) {
            g_string_append_printf(s, "  dataset = %s: %s\n", (*d)->name, (*d)->help);
            describe_params(s, (*d)->params);
        }
        break;
    case K_RULE:
        for (const OzRuleOps *const *r = oz_rule_all(); *r; r++) {
            g_string_append_printf(s, "  name = %s: %s\n", (*r)->name, (*r)->summary);
            describe_params(s, (*r)->params);
        }
        break;
    default:
        break;
    }
}

char *oz_scenario_describe(void) {
    GString *s = g_string_new(NULL);
    int last = -1;
    for (gsize i = 0; i < G_N_ELEMENTS(schema); i++) {
        const KeySpec *ks = &schema[i];
        if ((int)ks->kind != last) {
            if (last >= 0)
                describe_plugins(s, (Kind)last);
            last = (int)ks->kind;
            g_string_append_printf(s, "\n[%s%s]\n", kind_names[ks->kind],
                                   kind_named[ks->kind] ? " NAME" : "");
        }
        g_string_append_printf(s, "  %-18s %s", ks->key, ks->help);
        if (key_choices(ks))
            g_string_append_printf(s, " {%s}", key_choices(ks));
        if (ks->def)
            g_string_append_printf(s, " [default: %s]\n", *ks->def ? ks->def : "\"\"");
        else
            g_string_append(s, " (required)\n");
    }
    if (last >= 0)
        describe_plugins(s, (Kind)last);
    return g_string_free(s, FALSE);
}

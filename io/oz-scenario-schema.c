/* oz-scenario-schema.c — the scenario schema: every key of every section as one const
 * table, the section kinds' names, the choices of the enum keys whose values are a plugin
 * registry's names, and the description `opzosim keys` prints.
 *
 * The table is (section kind, key, type, where in the config struct, range or choices,
 * default, help); io/oz-scenario-keys.c reads the key file by it.  A population's model
 * keys, a projection's kind keys, the rule's and the data set's own keys are not in the
 * table: they come from the plugins' ops tables (engine/oz-params.h), so this file knows
 * no plugin by name.  Nothing here reads a file.
 */
#include "oz-scenario-private.h"

#include "io/oz-dataset.h"
#include "neurons/oz-kind.h"
#include "neurons/oz-neuron.h"
#include "plasticity/oz-rule.h"

#include <stddef.h>
#include <string.h>

const char *const oz__section_names[] = {"run",       "data",       "record",     "rule",
                                         "optimizer", "population", "projection", "feedback",
                                         "network",   "hardware"};
const gboolean oz__section_named[] = {FALSE, FALSE, FALSE, FALSE, FALSE,
                                      TRUE,  TRUE,  TRUE,  FALSE, FALSE};
_Static_assert(G_N_ELEMENTS(oz__section_names) == K_COUNT, "one name per section kind");
_Static_assert(G_N_ELEMENTS(oz__section_named) == K_COUNT, "one flag per section kind");

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
const char *oz__key_choices(const OzKeySpec *ks) {
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

const OzKeySpec oz__scenario_schema[] = {
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

const gsize oz__scenario_schema_len = G_N_ELEMENTS(oz__scenario_schema);

void oz__scenario_clear_section(OzSectionKind kind, gpointer base) {
    for (gsize i = 0; i < oz__scenario_schema_len; i++) {
        const OzKeySpec *ks = &oz__scenario_schema[i];
        gpointer field = (char *)base + ks->offset;
        if (ks->kind != kind)
            continue;
        if (ks->type == T_STRING || ks->type == T_ENUM)
            g_clear_pointer((char **)field, g_free);
        else if (ks->type == T_LIST)
            g_clear_pointer((char ***)field, g_strfreev);
    }
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
static void describe_plugins(GString *s, OzSectionKind kind) {
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
    for (gsize i = 0; i < oz__scenario_schema_len; i++) {
        const OzKeySpec *ks = &oz__scenario_schema[i];
        if ((int)ks->kind != last) {
            if (last >= 0)
                describe_plugins(s, (OzSectionKind)last);
            last = (int)ks->kind;
            g_string_append_printf(s, "\n[%s%s]\n", oz__section_names[ks->kind],
                                   oz__section_named[ks->kind] ? " NAME" : "");
        }
        g_string_append_printf(s, "  %-18s %s", ks->key, ks->help);
        if (oz__key_choices(ks))
            g_string_append_printf(s, " {%s}", oz__key_choices(ks));
        if (ks->def)
            g_string_append_printf(s, " [default: %s]\n", *ks->def ? ks->def : "\"\"");
        else
            g_string_append(s, " (required)\n");
    }
    if (last >= 0)
        describe_plugins(s, (OzSectionKind)last);
    return g_string_free(s, FALSE);
}

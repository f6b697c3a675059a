/* oz-feedback.h — pathways that carry the output error to a hidden population.
 *
 * A pathway turns the output error e[t] (rows, m) into the top-down signal g_s for a
 * hidden population of n neurons (the gradient with respect to its output, before ψ
 * gating; docs/ALGORITHM.md §5.3, §7) — the direct pathways of the learning rules
 * (plasticity/oz-rule.h; BP's layer-by-layer chain is not a pathway but a rule's chain):
 *   random     (DFA)  g_s = e Bᵀ, B (n, m) fixed, N(0, 2/fan)
 *   learned    (DKP)  g_s = e Bᵀ, B starts at 0 (or as DFA's), ∇B = Σ_t â[t]ᵀ e[t] (trained)
 *   momentum   (OPZO) g_s = e Mᵀ after M ← λ_M M + (1−λ_M)/rows · zᵀ õ [/α]  (Eqs. 5–6)
 *   broadcast  (ZO)   g_s,b = (ℓ_b / α) z_b
 *   none       (readout) g_s = 0: the hidden populations learn nothing from the output
 * Matrices are stored (n, m) row-major.  Delays and jitter are the engine's business.
 */
#pragma once

#include "engine/oz-rng.h"

#include <glib.h>

/* No pathway function fails today (a pathway's name comes from the rule table, and a
 * wrong one is a programming error); the domain is here so that the first one that does
 * reports under its own module, not under another's. */
#define OZ_FEEDBACK_ERROR (oz_feedback_error_quark())
GQuark oz_feedback_error_quark(void);

typedef enum { OZ_FEEDBACK_ERROR_FAILED } OzFeedbackError;

typedef struct OzFeedbackOps OzFeedbackOps;

typedef struct {
    int rows, n, m;
    int batch_rows;             /* rows of the whole mini-batch, the batch mean's divisor: rows
                                 * in one process, more for one share of an MPI run's batch
                                 * (0: rows) */
    const float *e;             /* (rows, m) output error at the emission tick */
    const float *o;             /* (rows, m) perturbed readout õ at the emission tick */
    const float *z;             /* (rows, n) this layer's probe, or NULL */
    const double *sample_loss;  /* (rows) ℓ_b[t], already divided by T·B */
    const float *trace;         /* (rows, n) this layer's own trace â (DKP) */
    float alpha;
} OzFeedbackCtx;

typedef struct {
    const OzFeedbackOps *ops;
    int n, m;
    float *mat;  /* (n, m) or NULL */
    float *grad; /* (n, m) for a trained matrix, else NULL */
    double momentum;       /* λ_M */
    gboolean inverse_alpha; /* momentum: divide zõᵀ by α */
    gboolean batch_sum;     /* momentum: Σ_b instead of the batch mean */
    gboolean per_window;    /* momentum: gather Σ_t zõᵀ, update M once per window */
    float *window_acc;      /* (n, m) the per-window sum */
    float *dist_acc;        /* (n, m) zᵀõ of this process's rows, summed over an MPI run's
                             * processes before M takes it (allocated on first use) */
    guint64 macs;          /* multiply-accumulates spent (signal + update) */
} OzPathway;

struct OzFeedbackOps {
    int api_version;
    const char *name;
    gboolean has_matrix;  /* (required) */
    gboolean trained;     /* (required) the matrix is a parameter of the optimizer */
    gboolean needs_noise; /* (required) */
    /* (optional) before signal: update state from the context */
    void (*observe)(OzPathway *p, const OzFeedbackCtx *ctx);
    /* (required) write g_s (rows, n) */
    void (*signal)(OzPathway *p, const OzFeedbackCtx *ctx, float *g_s);
};

#define OZ_FEEDBACK_API_VERSION 1

const OzFeedbackOps *oz_feedback_lookup(const char *name);
const OzFeedbackOps *const *oz_feedback_all(void);

/* Allocates the matrix; `random` draws N(0, 2/fan_in) with fan_in = m, or n when
 * fan_n; a trained matrix starts at 0, or from the same draw when draw_trained.
 * (transfer full) of the buffers inside p; free with oz_pathway_clear. */
void oz_pathway_init(OzPathway *p, const OzFeedbackOps *ops, int n, int m, OzRng *rng,
                     gboolean fan_n, gboolean draw_trained);
/* With ops NULL, p only counts macs (a chain rule's error path) and has no matrix. */
void oz_pathway_clear(OzPathway *p);
/* End of a sample window: applies a per-window momentum update (no-op otherwise). */
void oz_pathway_end_window(OzPathway *p);

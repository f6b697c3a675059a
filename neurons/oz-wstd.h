/* oz-wstd.h — scaled weight standardisation (sWS) of a projection's weights, forward and
 * backward, for any kind that describes where each output unit's fan-in lies in its tensor
 * (docs/ALGORITHM.md §3.6).
 *
 * For each output unit i over its fan-in of N weights W_i:
 *   μ_i = mean(W_i),  σ_i² = Σ_j (W_ij − μ_i)² / (N − 1)  (unbiased),
 *   s_i = sqrt(N σ_i² + ε),  ε = 1e-4,
 *   Ŵ_ij = γ_i (W_ij − μ_i) / s_i.
 * With c = W_i − μ_i and G = ∂L/∂Ŵ_i (mean Ḡ):
 *   ∂L/∂γ_i  = Σ_j G_j c_j / s_i,
 *   ∂L/∂W_ij = (γ_i / s_i) [G_j − Ḡ − N/(N−1) · c_j (Σ_k G_k c_k) / s_i²].
 *
 * A projection with `weight_standardization` keeps the raw W (what the optimizer steps
 * and the checkpoint stores as w:PROJ) and γ here, and Ŵ in its kind's tensor p->w, so
 * delivery, the gradient and the chain of every kind use Ŵ without knowing about sWS.  The
 * kind's gradient p->grad is then ∂L/∂Ŵ; oz_wstd_backward turns it into ∂L/∂W and ∂L/∂γ.
 * Sums are formed in double, over each unit's fan-in in ascending order, so the result
 * does not depend on the layout's strides.
 */
#pragma once

#include <glib.h>

#define OZ_WSTD_EPS 1e-4

/* Where the fan-in of each output unit lies in a kind's weight tensor (the kind's fan_in
 * slot, neurons/oz-kind.h): element j of unit u is w[u·unit_stride + j·elem_stride].
 * Dense, W (n_pre, n_post): units n_post, fan_in n_pre, unit_stride 1, elem_stride n_post.
 * An out-major convolution (C_out, C_in·k·k): units C_out, unit_stride fan_in,
 * elem_stride 1. */
typedef struct {
    gsize units;
    gsize fan_in; /* N ≥ 2 */
    gsize unit_stride, elem_stride;
} OzFanIn;

typedef struct {
    OzFanIn lay;
    gsize nw;          /* units × fan_in */
    float *w_raw;      /* (nw) the raw W, in the kind's layout */
    float *grad_raw;   /* (nw) ∂L/∂W (oz_wstd_backward) */
    float *gamma;      /* (units) the learnable gain, initialised to 1 */
    float *gamma_grad; /* (units) ∂L/∂γ */
} OzWstd;

/* (transfer full) for a tensor of lay->units × lay->fan_in floats; γ = 1. */
OzWstd *oz_wstd_new(const OzFanIn *lay);
void oz_wstd_free(OzWstd *ws);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OzWstd, oz_wstd_free)

/* w_hat (nw) = Ŵ of ws->w_raw and ws->gamma. */
void oz_wstd_forward(const OzWstd *ws, float *w_hat);
/* grad_raw = ∂L/∂W and gamma_grad = ∂L/∂γ for g = ∂L/∂Ŵ (nw, the kind's layout).  Both are
 * overwritten (not added to): g holds the whole window's sum. */
void oz_wstd_backward(OzWstd *ws, const float *g);

/* oz-loss.h — the OTTT instantaneous loss and its error signal (docs/ALGORITHM.md §4).
 *
 *   L[t] = ((1 − λ_L)·CE(o[t], y) + λ_L·MSE(o[t], onehot(y))) / T
 * with CE the batch mean of softmax cross-entropy and MSE the mean over all B×C
 * elements (the PyTorch reductions), and
 *   e_b[t] = ∂L/∂o_b[t] = (1/(T·B))·[(1 − λ_L)(softmax(o_b) − y_b) + λ_L·(2/C)(o_b − y_b)].
 * Computed in double for the loss, float for the error.
 */
#pragma once

#include <glib.h>

/* o: (rows, classes).  error (rows, classes) and sample_loss (rows) may be NULL;
 * sample_loss_b is sample b's share, so Σ_b sample_loss_b = L[t].  Returns L[t]. */
double oz_loss_instant(const float *o, const guint8 *labels, int rows, int classes,
                       double lambda_l, int ticks, float *error, double *sample_loss);
/* The same for rows that are one share of a mini-batch of batch_rows rows (one process's
 * share of an MPI run's batch, docs/CLUSTER.md): the means divide by T·batch_rows, so the
 * shares' losses and errors add up to the whole batch's.  Returns this share's part of
 * L[t]. */
double oz_loss_instant_share(const float *o, const guint8 *labels, int rows, int batch_rows,
                             int classes, double lambda_l, int ticks, float *error,
                             double *sample_loss);

/* oz-loss.c — see oz-loss.h.  Softmax subtracts the row maximum first. */
#include "oz-loss.h"

#include <math.h>

double oz_loss_instant(const float *o, const guint8 *labels, int rows, int classes,
                       double lambda_l, int ticks, float *error, double *sample_loss) {
    return oz_loss_instant_share(o, labels, rows, rows, classes, lambda_l, ticks, error,
                                 sample_loss);
}

double oz_loss_instant_share(const float *o, const guint8 *labels, int rows, int batch_rows,
                             int classes, double lambda_l, int ticks, float *error,
                             double *sample_loss) {
    double total = 0.0;
    const double scale = 1.0 / ((double)ticks * (double)batch_rows);
    for (int b = 0; b < rows; b++) {
        const float *ob = o + (gsize)b * classes;
        double mx = ob[0];
        for (int c = 1; c < classes; c++)
            mx = MAX(mx, (double)ob[c]);
        double z = 0.0;
        for (int c = 0; c < classes; c++)
            z += exp((double)ob[c] - mx);
        double logz = mx + log(z);
        double ce = logz - (double)ob[labels[b]];
        double mse = 0.0;
        for (int c = 0; c < classes; c++) {
            double y = c == labels[b] ? 1.0 : 0.0;
            double d = (double)ob[c] - y;
            mse += d * d;
            if (error) {
                double p = exp((double)ob[c] - logz);
                error[(gsize)b * classes + c] =
                    (float)(scale * ((1.0 - lambda_l) * (p - y) + lambda_l * (2.0 / classes) * d));
            }
        }
        double lb = scale * ((1.0 - lambda_l) * ce + lambda_l * mse / classes);
        if (sample_loss)
            sample_loss[b] = lb;
        total += lb;
    }
    return total;
}

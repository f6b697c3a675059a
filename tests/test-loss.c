/* The OTTT instantaneous loss: value and gradient against closed forms and finite
 * differences. */
#include "plasticity/oz-loss.h"

#include <criterion/criterion.h>
#include <math.h>

Test(loss, matches_closed_form_on_a_hand_example) {
    /* One sample, C = 2, o = (0, ln 3): softmax = (1/4, 3/4), label 1.
     * CE = −ln(3/4); MSE = ((0−0)² + (ln3 − 1)²)/2; T = 2, λ_L = 0.5. */
    const float o[2] = {0.0f, (float)log(3.0)};
    const guint8 y[1] = {1};
    float e[2];
    double ce = -log(0.75), l3 = log(3.0);
    double mse = ((l3 - 1) * (l3 - 1)) / 2;
    double want = (0.5 * ce + 0.5 * mse) / 2;
    double got = oz_loss_instant(o, y, 1, 2, 0.5, 2, e, NULL);
    cr_assert_float_eq(got, want, 1e-6);
    /* e = (1/T)[(1−λ)(p − y) + λ(2/C)(o − y)] */
    cr_assert_float_eq(e[0], 0.5 * (0.5 * 0.25 + 0.5 * 0.0), 1e-6);
    cr_assert_float_eq(e[1], 0.5 * (0.5 * (0.75 - 1) + 0.5 * (l3 - 1)), 1e-6);
}

Test(loss, error_is_the_gradient_of_the_batch_loss) {
    const int B = 3, C = 5;
    float o[15];
    const guint8 y[3] = {0, 4, 2};
    for (int i = 0; i < B * C; i++)
        o[i] = (float)sin(1.3 * i) * 2.0f;
    float e[15];
    double sample[3];
    double L = oz_loss_instant(o, y, B, C, 0.05, 6, e, sample);
    cr_assert_float_eq(sample[0] + sample[1] + sample[2], L, 1e-12);
    for (int i = 0; i < B * C; i++) {
        const float h = 1e-2f;
        float op[15], om[15];
        for (int k = 0; k < B * C; k++)
            op[k] = om[k] = o[k];
        op[i] += h;
        om[i] -= h;
        double fd = (oz_loss_instant(op, y, B, C, 0.05, 6, NULL, NULL) -
                     oz_loss_instant(om, y, B, C, 0.05, 6, NULL, NULL)) /
                    (2.0 * h);
        cr_assert_float_eq(e[i], fd, 2e-5, "element %d: %g vs %g", i, e[i], fd);
    }
}

Test(loss, large_logits_do_not_overflow) {
    const float o[3] = {1000.0f, -1000.0f, 999.0f};
    const guint8 y[1] = {2};
    float e[3];
    double L = oz_loss_instant(o, y, 1, 3, 0.0, 1, e, NULL);
    cr_assert(isfinite(L));
    cr_assert_float_eq(L, log(1.0 + exp(1.0)), 1e-6);
}

/* oz-bench-sgemm — this machine's sgemm rate on the shapes of MNIST FC training
 * (batch 128, 784-800-800-10): forward I = S·W and gradient ∇W += Âᵀ·G.
 * Measured twice: OpenBLAS threading each call itself, and our team splitting each call
 * into single-threaded OpenBLAS calls (what the simulator does, engine/oz-par.h).  Prints
 * the higher rate in GFLOP/s (the floor is then the lower of the two times), each the
 * median over reps of the total time of one round of shapes; both rates go to stderr.
 * Usage: oz-bench-sgemm [threads] [reps] */
#include "engine/oz-par.h"
#include "oz-bench-util.h"
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

extern void openblas_set_num_threads(int);

static double rate(gboolean team, int reps) {
    /* {transA, M, N, K}: forward (B,n_pre)x(n_pre,n_post); gradient (n_pre,B)ᵀ x (B,n_post). */
    const int shapes[][4] = {{0, 128, 800, 784}, {0, 128, 800, 800}, {0, 128, 10, 800},
                             {1, 784, 800, 128}, {1, 800, 800, 128}, {1, 800, 10, 128}};
    const int ns = (int)G_N_ELEMENTS(shapes);
    float *a = g_new(float, 800 * 800), *b = g_new(float, 800 * 800), *c = g_new(float, 800 * 800);
    for (int i = 0; i < 800 * 800; i++) {
        a[i] = (float)((i * 7) % 13) / 13.0f;
        b[i] = (float)((i * 5) % 11) / 11.0f;
        c[i] = 0.0f;
    }
    double flops = 0;
    for (int s = 0; s < ns; s++)
        flops += 2.0 * shapes[s][1] * shapes[s][2] * shapes[s][3];
    double *t = g_new(double, reps);
    for (int r = -2; r < reps; r++) {
        gint64 t0 = g_get_monotonic_time();
        for (int s = 0; s < ns; s++) {
            int M = shapes[s][1], N = shapes[s][2], K = shapes[s][3];
            gboolean ta = shapes[s][0];
            if (team)
                oz_sgemm(ta ? CblasTrans : CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, ta ? M : K,
                         b, N, 1.0f, c, N);
            else
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasNoTrans, M, N, K,
                            1.0f, a, ta ? M : K, b, N, 1.0f, c, N);
        }
        if (r >= 0)
            t[r] = (double)(g_get_monotonic_time() - t0) / 1e6;
    }
    double r = flops / oz_bench_median(t, reps) / 1e9;
    g_free(a);
    g_free(b);
    g_free(c);
    g_free(t);
    return r;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    int reps = argc > 2 ? atoi(argv[2]) : 21;
    if (threads < 1 || threads > OZ_PAR_MAX_THREADS || reps < 1) {
        fprintf(stderr, "usage: oz-bench-sgemm [threads 1..%d] [reps >= 1]\n", OZ_PAR_MAX_THREADS);
        return 2;
    }
    /* The team first: once OpenBLAS has threaded a call, its worker spins for about
     * 0.1 s and would take the core from our helper (measured: 90 instead of 160). */
    oz_par_set_threads(threads);
    /* OpenBLAS's own worker thread spins for about 0.1 s after the library starts (it
     * never gets work here); let it fall asleep before timing anything. */
    g_usleep(300000);
    double ours = rate(TRUE, reps);
    oz_par_set_threads(1);
    openblas_set_num_threads(threads);
    double blas = rate(FALSE, reps);
    fprintf(stderr, "sgemm GFLOP/s, %d threads: OpenBLAS threading %.2f, team split %.2f\n",
            threads, blas, ours);
    printf("%.2f\n", MAX(blas, ours));
    return 0;
}

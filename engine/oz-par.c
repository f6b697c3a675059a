/* oz-par.c — see oz-par.h.
 *
 * One job at a time: the caller publishes (fn, ctx, n, grain), bumps the generation
 * counter, runs part 0 itself and waits for the helpers' pending count to reach zero.
 * A helper that finds no new generation after a short spin sleeps on the condition
 * variable; the caller wakes sleepers under the mutex, so no wake-up is lost (a helper
 * announces itself in `sleeping` and re-reads the generation under the same mutex). */
#include "oz-par.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* About a millisecond of pause instructions before a helper sleeps: longer than the gap
 * between the products and loops of one tick, shorter than anything a person notices. */
#define HELPER_SPINS (1 << 14)
/* Waiting threads yield the core now and then: with more threads than cores (or a busy
 * machine) a spinning thread would otherwise hold the core the one it waits for needs.
 * With a core each, sched_yield returns at once. */
#define YIELD_EVERY 64

extern void openblas_set_num_threads(int);

typedef struct {
    int threads;
    uv_thread_t tid[OZ_PAR_MAX_THREADS];
    int started;

    /* The current job. */
    OzParFn fn;
    void *ctx;
    gsize n, grain;

    atomic_uint gen;
    unsigned gen0; /* the generation when the helpers started */
    atomic_int pending;
    atomic_int sleeping;
    atomic_int quit;
    uv_mutex_t mu;
    uv_cond_t cv;
    gboolean sync_ready;
} Team;

static Team team = {.threads = 1};

int oz_par_threads(void) {
    return team.threads;
}

/* Part p of [0, n) split into `parts`, boundaries on multiples of grain. */
static void part_range(gsize n, gsize grain, int parts, int p, gsize *begin, gsize *end) {
    gsize units = (n + grain - 1) / grain;
    gsize b = units * (gsize)p / (gsize)parts, e = units * (gsize)(p + 1) / (gsize)parts;
    *begin = MIN(n, b * grain);
    *end = MIN(n, e * grain);
}

static void run_part(int p) {
    gsize b, e;
    part_range(team.n, team.grain, team.threads, p, &b, &e);
    if (b < e)
        team.fn(team.ctx, p, b, e);
}

static void helper_main(void *arg) {
    const int p = (int)(gintptr)arg;
    unsigned seen = team.gen0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&team.gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&team.quit, memory_order_relaxed) && spins < HELPER_SPINS) {
            cpu_relax();
            if (++spins % YIELD_EVERY == 0)
                sched_yield();
        }
        if (g == seen && !atomic_load(&team.quit)) {
            uv_mutex_lock(&team.mu);
            atomic_fetch_add(&team.sleeping, 1);
            while ((g = atomic_load(&team.gen)) == seen && !atomic_load(&team.quit))
                uv_cond_wait(&team.cv, &team.mu);
            atomic_fetch_sub(&team.sleeping, 1);
            uv_mutex_unlock(&team.mu);
        }
        if (atomic_load(&team.quit))
            return;
        seen = g;
        run_part(p);
        atomic_fetch_sub_explicit(&team.pending, 1, memory_order_release);
    }
}

void oz_par_shutdown(void) {
    if (team.started == 0)
        return;
    uv_mutex_lock(&team.mu);
    atomic_store(&team.quit, 1);
    uv_cond_broadcast(&team.cv);
    uv_mutex_unlock(&team.mu);
    for (int i = 1; i <= team.started; i++)
        uv_thread_join(&team.tid[i]);
    team.started = 0;
    atomic_store(&team.quit, 0);
}

void oz_par_set_threads(int n) {
    g_return_if_fail(n >= 1 && n <= OZ_PAR_MAX_THREADS);
    openblas_set_num_threads(1);
    if (n == team.threads && team.started == n - 1)
        return;
    oz_par_shutdown();
    team.threads = n;
    if (n == 1)
        return;
    if (!team.sync_ready) {
        if (uv_mutex_init(&team.mu) != 0 || uv_cond_init(&team.cv) != 0)
            g_error("oz-par: cannot create the team's mutex");
        team.sync_ready = TRUE;
        atexit(oz_par_shutdown);
    }
    team.gen0 = atomic_load(&team.gen);
    /* Fault injection for tests: OPZOSIM_FAULT_THREAD_START=k makes starting helper k
     * fail, as it would when the system is out of threads. */
    const char *fault = g_getenv("OPZOSIM_FAULT_THREAD_START");
    const int failing = fault ? atoi(fault) : 0;
    for (int i = 1; i < n; i++) {
        if (i == failing ||
            uv_thread_create(&team.tid[i], helper_main, (void *)(gintptr)i) != 0) {
            /* Fewer threads is slower, never wrong. */
            g_warning("oz-par: could not start helper thread %d; using %d threads", i, i);
            team.threads = i;
            break;
        }
        team.started = i;
    }
}

void oz_par_for(gsize n, gsize grain, OzParFn fn, void *ctx) {
    if (grain == 0)
        grain = 1;
    if (team.threads == 1 || n < 2 * grain) {
        if (n > 0)
            fn(ctx, 0, 0, n);
        return;
    }
    team.fn = fn;
    team.ctx = ctx;
    team.n = n;
    team.grain = grain;
    atomic_store_explicit(&team.pending, team.threads - 1, memory_order_relaxed);
    atomic_fetch_add(&team.gen, 1); /* seq_cst: publishes the job, then reads sleeping */
    if (atomic_load(&team.sleeping) > 0) {
        uv_mutex_lock(&team.mu);
        uv_cond_broadcast(&team.cv);
        uv_mutex_unlock(&team.mu);
    }
    run_part(0);
    unsigned spins = 0;
    while (atomic_load_explicit(&team.pending, memory_order_acquire) > 0) {
        cpu_relax();
        if (++spins % YIELD_EVERY == 0)
            sched_yield();
    }
}

typedef struct {
    float *dst;
    const float *src;
} VecJob;

static void copy_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const VecJob *j = ctx;
    memcpy(j->dst + begin, j->src + begin, (end - begin) * sizeof(float));
}

static void add_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const VecJob *j = ctx;
    for (gsize i = begin; i < end; i++)
        j->dst[i] += j->src[i];
}

void oz_par_copy(float *dst, const float *src, gsize n) {
    VecJob j = {dst, src};
    oz_par_for(n, 16, copy_part, &j);
}

void oz_par_add(float *dst, const float *src, gsize n) {
    VecJob j = {dst, src};
    oz_par_for(n, 16, add_part, &j);
}

/* Products below this many multiply-adds run in one call: splitting costs more than it
 * saves. */
#define SPLIT_MACS (1u << 18)

typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    gboolean split_m;
} GemmJob;

static void gemm_part(void *ctx, int part, gsize begin, gsize end) {
    (void)part;
    const GemmJob *j = ctx;
    int lo = (int)begin, cnt = (int)(end - begin);
    if (j->split_m) {
        const float *a = j->ta == CblasNoTrans ? j->a + (gsize)lo * j->lda : j->a + lo;
        cblas_sgemm(CblasRowMajor, j->ta, j->tb, cnt, j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb,
                    j->beta, j->c + (gsize)lo * j->ldc, j->ldc);
    } else {
        const float *b = j->tb == CblasNoTrans ? j->b + lo : j->b + (gsize)lo * j->ldb;
        cblas_sgemm(CblasRowMajor, j->ta, j->tb, j->m, cnt, j->k, j->alpha, j->a, j->lda, b, j->ldb,
                    j->beta, j->c + lo, j->ldc);
    }
}

void oz_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0)
        return;
    guint64 macs = (guint64)m * (guint64)n * (guint64)MAX(k, 1);
    if (team.threads == 1 || macs < SPLIT_MACS) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    GemmJob j = {ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c, m >= n};
    /* Parts on multiples of 16 rows or columns (a register tile of the kernels; 32 left
     * 800 split 384/416). */
    oz_par_for((gsize)(j.split_m ? m : n), 16, gemm_part, &j);
}

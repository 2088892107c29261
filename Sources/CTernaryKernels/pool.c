// A persistent worker pool: workers spin briefly on a generation counter, then sleep on a condition
// variable, so a decode step with ~200 parallel matmuls pays no thread creation and few syscalls.
// With more threads than online CPUs, spinning only steals the cores the other threads need (each
// run waits for every worker), so an oversubscribed pool sleeps and wakes on condition variables.
#include "CTernaryKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

struct tk_pool {
    int threads;
    pthread_t *workers;
    _Atomic uint64_t generation;
    _Atomic int remaining;
    _Atomic int stop;
    int sleepers;
    int oversubscribed;
    tk_task_fn fn;
    void *ctx;
    int64_t total, grain;
    _Atomic int64_t next;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
};

typedef struct { tk_pool *pool; int index; } worker_arg;

// Guided self-scheduling: each thread repeatedly claims a contiguous run of about 1/(2·threads)
// of what is left (at least one grain), so a thread slowed by the other tenants of a shared
// machine leaves its remainder to the others instead of making them wait at the barrier, and the
// first claims are long contiguous streams for the hardware prefetchers.
static void run_chunk(tk_pool *p, int index) {
    const int64_t total = p->total, grain = p->grain, share = 2 * (int64_t)p->threads;
    int64_t begin = atomic_load_explicit(&p->next, memory_order_relaxed);
    for (;;) {
        if (begin >= total) return;
        int64_t take = (total - begin + share - 1) / share;
        take = (take + grain - 1) / grain * grain;
        int64_t end = begin + take < total ? begin + take : total;
        if (atomic_compare_exchange_weak_explicit(&p->next, &begin, end, memory_order_relaxed, memory_order_relaxed)) {
            p->fn(p->ctx, begin, end, index);
            begin = atomic_load_explicit(&p->next, memory_order_relaxed);
        }
    }
}

static void *worker_main(void *raw) {
    worker_arg arg = *(worker_arg *)raw;
    free(raw);
    tk_pool *p = arg.pool;
    uint64_t seen = 0;
    for (;;) {
        int spins = 0, limit = p->oversubscribed ? 0 : 200000;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen && spins < limit) {
            if (spins < 20000) CPU_RELAX(); else sched_yield();
            spins++;
        }
        if (atomic_load_explicit(&p->generation, memory_order_acquire) == seen) {
            pthread_mutex_lock(&p->mutex);
            p->sleepers++;
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->mutex);
            p->sleepers--;
            pthread_mutex_unlock(&p->mutex);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        run_chunk(p, arg.index);
        if (atomic_fetch_sub_explicit(&p->remaining, 1, memory_order_acq_rel) == 1 && p->oversubscribed) {
            pthread_mutex_lock(&p->mutex);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mutex);
        }
    }
}

tk_pool *tk_pool_create(int threads) {
    if (threads < 1) threads = 1;
    tk_pool *p = calloc(1, sizeof(tk_pool));
    if (!p) return NULL;
    p->threads = threads;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->oversubscribed = cpus > 0 && threads > cpus;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->workers = calloc((size_t)threads, sizeof(pthread_t));
    for (int i = 1; i < threads; i++) {
        worker_arg *arg = malloc(sizeof(worker_arg));
        arg->pool = p;
        arg->index = i;
        pthread_create(&p->workers[i], NULL, worker_main, arg);
    }
    return p;
}

int tk_pool_threads(const tk_pool *pool) { return pool->threads; }

void tk_pool_run(tk_pool *p, tk_task_fn fn, void *ctx, int64_t total, int64_t grain) {
    if (grain < 1) grain = 1;
    if (p->threads == 1 || total <= grain) {
        if (total > 0) fn(ctx, 0, total, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->total = total;
    p->grain = grain;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->remaining, p->threads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_seq_cst);
    pthread_mutex_lock(&p->mutex);
    if (p->sleepers > 0) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    run_chunk(p, 0);
    if (p->oversubscribed) {
        pthread_mutex_lock(&p->mutex);
        while (atomic_load_explicit(&p->remaining, memory_order_acquire) != 0) pthread_cond_wait(&p->done, &p->mutex);
        pthread_mutex_unlock(&p->mutex);
        return;
    }
    // Spin briefly, then yield: with more threads than free cores, a descheduled worker must get
    // the core back rather than watch this thread spin through its time slice.
    for (int spins = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) != 0; spins++) {
        if (spins < 4096) CPU_RELAX(); else sched_yield();
    }
}

void tk_pool_destroy(tk_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->threads; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->workers);
    free(p);
}

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
    int64_t total, grain, first;
    _Atomic int64_t next;
    // Each thread's first run: claimed by its owner, or by another thread once that one's other work
    // is done (so a descheduled worker does not hold its run up).
    _Atomic uint64_t *first_claimed;   // [threads]: the generation whose first run was claimed
    // Prefetch hints: up to TK_HINT_RANGES byte ranges per thread, read while it would otherwise
    // wait; hint_generation changes when the owner thread sets new ones.
    _Atomic(const char *) *hint_base;  // [threads · TK_HINT_RANGES]
    _Atomic int64_t *hint_bytes;
    _Atomic uint64_t hint_generation;
    struct hint_progress *progress;    // [threads], each written by its own thread only
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
};

typedef struct { tk_pool *pool; int index; } worker_arg;

#define TK_HINT_RANGES 2
struct hint_progress { uint64_t generation; int range; int64_t offset; char pad[40]; };

// With `owned_first`, every thread's first run: [index · first, (index + 1) · first), a quarter of
// the work with two threads, ends rounded to the grain.
static int64_t first_run_length(const tk_pool *p, int64_t total, int64_t grain) {
    return total / (2 * (int64_t)p->threads) / grain * grain;
}

void tk_pool_first_run(const tk_pool *p, int64_t total, int64_t grain, int index, int64_t *begin, int64_t *end) {
    if (grain < 1) grain = 1;
    int64_t first = p->threads == 1 || total <= grain ? 0 : first_run_length(p, total, grain);
    *begin = index * first;
    *end = (index + 1) * first;
}

void tk_pool_set_prefetch(tk_pool *p, int index, int range, const void *base, int64_t bytes) {
    if (index < 0 || index >= p->threads || range < 0 || range >= TK_HINT_RANGES) return;
    atomic_store_explicit(&p->hint_base[index * TK_HINT_RANGES + range], (const char *)base, memory_order_relaxed);
    atomic_store_explicit(&p->hint_bytes[index * TK_HINT_RANGES + range], bytes, memory_order_relaxed);
}

void tk_pool_publish_prefetch(tk_pool *p) { atomic_fetch_add_explicit(&p->hint_generation, 1, memory_order_release); }

// Prefetches up to `lines` more cache lines of thread `index`'s hints into L2; 0 when none are left.
// A hint read while the owner replaces it may mix two ranges: prefetches never fault, so a stale
// address costs only a wasted line.
static int prefetch_some(tk_pool *p, int index, int lines) {
    struct hint_progress *h = &p->progress[index];
    uint64_t g = atomic_load_explicit(&p->hint_generation, memory_order_acquire);
    if (g != h->generation) { h->generation = g; h->range = 0; h->offset = 0; }
    while (h->range < TK_HINT_RANGES) {
        const char *base = atomic_load_explicit(&p->hint_base[index * TK_HINT_RANGES + h->range], memory_order_relaxed);
        int64_t bytes = atomic_load_explicit(&p->hint_bytes[index * TK_HINT_RANGES + h->range], memory_order_relaxed);
        if (base && h->offset < bytes) {
#if defined(__x86_64__) || defined(__aarch64__)
            for (int i = 0; i < lines && h->offset < bytes; i++, h->offset += 64) __builtin_prefetch(base + h->offset, 0, 2);
#else
            h->offset = bytes;
#endif
            return 1;
        }
        h->range++;
        h->offset = 0;
    }
    return 0;
}

// Guided self-scheduling: each thread repeatedly claims a contiguous run of about 1/share of what
// is left (at least one grain), so a thread slowed by the other tenants of a shared machine leaves
// its remainder to the others instead of making them wait at the barrier, and the first claims are
// long contiguous streams for the hardware prefetchers. share = 2·threads; with owned first runs
// (p->first > 0) each thread first takes its own run, known in advance so that it can be
// prefetched, and then claims 1/threads of what is left (fewer, longer streams; the last claims
// are still one grain). A thread whose other work is done takes any first run its owner has not
// begun, so a descheduled worker does not hold its run up.
static void run_chunk(tk_pool *p, int index, uint64_t generation) {
    const int64_t total = p->total, grain = p->grain, first = p->first;
    const int64_t share = (first > 0 ? 1 : 2) * (int64_t)p->threads;
    if (first > 0 && atomic_exchange_explicit(&p->first_claimed[index], generation, memory_order_acq_rel) != generation)
        p->fn(p->ctx, index * first, (index + 1) * first, index);
    int64_t begin = atomic_load_explicit(&p->next, memory_order_relaxed);
    for (;;) {
        if (begin >= total) break;
        int64_t take = (total - begin + share - 1) / share;
        take = (take + grain - 1) / grain * grain;
        int64_t end = begin + take < total ? begin + take : total;
        if (atomic_compare_exchange_weak_explicit(&p->next, &begin, end, memory_order_relaxed, memory_order_relaxed)) {
            p->fn(p->ctx, begin, end, index);
            begin = atomic_load_explicit(&p->next, memory_order_relaxed);
        }
    }
    for (int other = 0; first > 0 && other < p->threads; other++) {
        if (other != index && atomic_exchange_explicit(&p->first_claimed[other], generation, memory_order_acq_rel) != generation)
            p->fn(p->ctx, other * first, (other + 1) * first, index);
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
            // Idle: read ahead what this thread is likely to read first in a coming run.
            if (prefetch_some(p, arg.index, 8)) continue;
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
        run_chunk(p, arg.index, seen);
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
    p->first_claimed = calloc((size_t)threads, sizeof(*p->first_claimed));
    p->hint_base = calloc((size_t)threads * TK_HINT_RANGES, sizeof(*p->hint_base));
    p->hint_bytes = calloc((size_t)threads * TK_HINT_RANGES, sizeof(*p->hint_bytes));
    p->progress = calloc((size_t)threads, sizeof(*p->progress));
    for (int i = 1; i < threads; i++) {
        worker_arg *arg = malloc(sizeof(worker_arg));
        arg->pool = p;
        arg->index = i;
        pthread_create(&p->workers[i], NULL, worker_main, arg);
    }
    return p;
}

int tk_pool_threads(const tk_pool *pool) { return pool->threads; }

void tk_pool_run(tk_pool *p, tk_task_fn fn, void *ctx, int64_t total, int64_t grain, int owned_first) {
    if (grain < 1) grain = 1;
    if (p->threads == 1 || total <= grain) {
        if (total > 0) fn(ctx, 0, total, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->total = total;
    p->grain = grain;
    atomic_store_explicit(&p->remaining, p->threads - 1, memory_order_relaxed);
    p->first = owned_first ? first_run_length(p, total, grain) : 0;
    atomic_store_explicit(&p->next, p->threads * p->first, memory_order_relaxed);
    uint64_t generation = atomic_fetch_add_explicit(&p->generation, 1, memory_order_seq_cst) + 1;
    pthread_mutex_lock(&p->mutex);
    if (p->sleepers > 0) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    run_chunk(p, 0, generation);
    if (p->oversubscribed) {
        pthread_mutex_lock(&p->mutex);
        while (atomic_load_explicit(&p->remaining, memory_order_acquire) != 0) pthread_cond_wait(&p->done, &p->mutex);
        pthread_mutex_unlock(&p->mutex);
        return;
    }
    // Spin briefly, then yield: with more threads than free cores, a descheduled worker must get
    // the core back rather than watch this thread spin through its time slice.
    for (int spins = 0; atomic_load_explicit(&p->remaining, memory_order_acquire) != 0; spins++) {
        if (prefetch_some(p, 0, 8)) continue;
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
    free((void *)p->first_claimed);
    free((void *)p->hint_base);
    free((void *)p->hint_bytes);
    free(p->progress);
    free(p);
}

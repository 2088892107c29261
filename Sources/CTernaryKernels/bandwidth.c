// Read kernels for the bandwidth probes: they sum 64-bit words so the loads cannot be optimised
// away. The prefetching one issues the same software prefetches as the decode GEMVs (one line into
// L1 512 bytes ahead and one into L2 4 KB ahead per line): without them one core keeps too few
// misses in flight and under-reports what the hardware can deliver. The plain one is a STREAM-style
// loop (loads only, as a compiler emits for a sum).
#include "CTernaryKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#define READ_SUM_BODY(PREFETCH)                                                                \
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;                            \
    size_t i = 0;                                                                               \
    for (; i + 128 <= bytes; i += 128) {                                                        \
        if (PREFETCH) {                                                                         \
            _mm_prefetch((const char *)(p + i + 512), _MM_HINT_T0);                             \
            _mm_prefetch((const char *)(p + i + 576), _MM_HINT_T0);                             \
            _mm_prefetch((const char *)(p + i + 4096), _MM_HINT_T1);                            \
            _mm_prefetch((const char *)(p + i + 4160), _MM_HINT_T1);                            \
        }                                                                                       \
        a0 = _mm256_add_epi64(a0, _mm256_loadu_si256((const __m256i *)(p + i)));               \
        a1 = _mm256_add_epi64(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));          \
        a2 = _mm256_add_epi64(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));          \
        a3 = _mm256_add_epi64(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));          \
    }                                                                                           \
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));          \
    uint64_t out[4];                                                                            \
    _mm256_storeu_si256((__m256i *)out, s);                                                     \
    uint64_t total = out[0] + out[1] + out[2] + out[3];                                         \
    for (; i < bytes; i++) total += p[i];                                                       \
    return total

__attribute__((target("avx2"))) static uint64_t read_sum_avx2(const uint8_t *p, size_t bytes) { READ_SUM_BODY(1); }
__attribute__((target("avx2"))) static uint64_t read_sum_plain_avx2(const uint8_t *p, size_t bytes) { READ_SUM_BODY(0); }
#endif

static uint64_t read_sum(const void *data, size_t bytes, int prefetch) {
    const uint8_t *p = (const uint8_t *)data;
#if defined(__x86_64__)
    if (tk_cpu_features() & TK_ISA_AVX2) return prefetch ? read_sum_avx2(p, bytes) : read_sum_plain_avx2(p, bytes);
#endif
    (void)prefetch;  // the portable loop has no prefetch variant
    uint64_t total = 0;
    for (size_t i = 0; i < bytes; i++) total += p[i];
    return total;
}

uint64_t tk_read_sum(const void *data, size_t bytes) { return read_sum(data, bytes, 1); }
uint64_t tk_read_sum_plain(const void *data, size_t bytes) { return read_sum(data, bytes, 0); }

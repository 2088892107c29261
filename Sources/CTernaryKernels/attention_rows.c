// Attention of up to four query rows over one KV head of an f16 cache (the default cache), each key
// and value converted once for all of them: four consecutive rows of one head in a prefill (row r
// sees the first first_count + r positions, count_step 1), or the query heads that share a KV head
// at one position (grouped-query attention, count_step 0), or one row. Every (row, key) score and
// every output element is computed by the same operations in the same order whatever the rows are,
// so a token's logits do not depend on whether it ran in a prefill block or alone.
#include "CTernaryKernels.h"
#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "reduce512.h"
#define HAVE_AVX512 (tk_cpu_features() & TK_ISA_AVX512VNNI)
#define ROWS_MAX_WIDTH 256

// scores[r·ss + j] = scale · q_r · key_j for ROWS rows × KEYS keys per step (ROWS · KEYS = 16):
// each pair's sixteen-wide products summed over the row in order, then the shared sixteen-way
// reduction, whose tree is the same for each of its sixteen inputs. Rows past nq repeat the last
// row and keys past count repeat key j; their sums are not stored.
#define SCORES_ROWS(ROWS, KEYS)                                                                        \
    do {                                                                                               \
        const float *qr[ROWS];                                                                         \
        for (int r = 0; r < ROWS; r++) qr[r] = q + (size_t)(r < (int)nq ? r : (int)nq - 1) * q_stride; \
        for (size_t j = 0; j < count; j += KEYS) {                                                     \
            const uint16_t *k[KEYS];                                                                   \
            for (int t = 0; t < KEYS; t++) k[t] = keys + (j + t < count ? j + t : j) * stride;         \
            /* The cache is read from memory: ask for the keys two steps on (as the q8 kernels do). */ \
            if (j + 3 * KEYS <= count)                                                                 \
                for (int t = 0; t < KEYS; t++)                                                         \
                    for (size_t b = 0; b < 2 * n; b += 64)                                             \
                        _mm_prefetch((const char *)(keys + (j + 2 * KEYS + t) * stride) + b, _MM_HINT_T0); \
            __m512 a[16];                                                                              \
            for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_ps();                                   \
            for (size_t c = 0; c < n; c += 16) {                                                       \
                __m512 kv[KEYS];                                                                       \
                for (int t = 0; t < KEYS; t++) kv[t] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k[t] + c))); \
                for (int r = 0; r < ROWS; r++) {                                                       \
                    const __m512 qv = _mm512_loadu_ps(qr[r] + c);                                      \
                    for (int t = 0; t < KEYS; t++) a[r * KEYS + t] = _mm512_fmadd_ps(qv, kv[t], a[r * KEYS + t]); \
                }                                                                                      \
            }                                                                                          \
            float s[16];                                                                               \
            _mm512_storeu_ps(s, _mm512_mul_ps(reduce16_ps_512(a), _mm512_set1_ps(scale)));             \
            for (int r = 0; r < (int)nq; r++)                                                          \
                for (int t = 0; t < KEYS && j + t < count; t++) scores[r * ss + j + t] = s[r * KEYS + t]; \
        }                                                                                              \
    } while (0)

AVX512 static void scores_rows_avx512(const float *q, size_t q_stride, size_t nq, const uint16_t *keys, size_t stride,
                                      size_t count, size_t n, float scale, float *scores, size_t ss) {
    if (nq == 1) SCORES_ROWS(1, 16);
    else if (nq == 2) SCORES_ROWS(2, 8);
    else SCORES_ROWS(4, 4);
}

// out_r += Σ_{j < first_count + r} p_r[j] · value_j. Each output element is one multiply-add chain
// over j in order. 64 outputs (four registers) of every row at a time: each value row is converted
// once for all rows; positions every row sees are done for all rows together, the few that only
// later rows see after them. A last part of fewer than 64 outputs goes row by row.
#define VALUE_POSITION(ROWS, SKIP)                                                                     \
    do {                                                                                               \
        const uint16_t *v = values + j * stride + c0;                                                  \
        /* The cache is read from memory (the weights evict it): ask for the row 16 positions on. A */ \
        /* prefetch past the cache's end does not fault. */                                            \
        _mm_prefetch((const char *)(v + 16 * stride), _MM_HINT_T0);                                    \
        _mm_prefetch((const char *)(v + 16 * stride) + 64, _MM_HINT_T0);                               \
        __m512 vv[4];                                                                                  \
        for (int c = 0; c < 4; c++) vv[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(v + 16 * c))); \
        for (int r = 0; r < ROWS; r++) {                                                               \
            if (SKIP) continue;                                                                        \
            const __m512 w = _mm512_set1_ps(p[r * ps + j]);                                            \
            for (int c = 0; c < 4; c++) o[r][c] = _mm512_fmadd_ps(w, vv[c], o[r][c]);                  \
        }                                                                                              \
    } while (0)
#define VALUES_ROWS(ROWS)                                                                              \
    AVX512 static void values_rows##ROWS(const float *p, size_t ps, size_t first_count, size_t step, const uint16_t *values, \
                                         size_t stride, size_t n, float *out, size_t os) {             \
        size_t c0 = 0;                                                                                 \
        for (; c0 + 64 <= n; c0 += 64) {                                                               \
            __m512 o[ROWS][4];                                                                         \
            for (int r = 0; r < ROWS; r++)                                                             \
                for (int c = 0; c < 4; c++) o[r][c] = _mm512_loadu_ps(out + r * os + c0 + 16 * c);    \
            size_t j = 0;                                                                              \
            for (; j < first_count; j++) VALUE_POSITION(ROWS, 0);                                      \
            for (; j < first_count + (ROWS - 1) * step; j++) VALUE_POSITION(ROWS, j >= first_count + r * step); \
            for (int r = 0; r < ROWS; r++)                                                             \
                for (int c = 0; c < 4; c++) _mm512_storeu_ps(out + r * os + c0 + 16 * c, o[r][c]);    \
        }                                                                                              \
        for (; c0 < n; c0 += 16)                                                                       \
            for (int r = 0; r < ROWS; r++) {                                                           \
                __m512 o = _mm512_loadu_ps(out + r * os + c0);                                         \
                for (size_t j = 0; j < first_count + r * step; j++)                                    \
                    o = _mm512_fmadd_ps(_mm512_set1_ps(p[r * ps + j]),                                 \
                                        _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(values + j * stride + c0))), o); \
                _mm512_storeu_ps(out + r * os + c0, o);                                                \
            }                                                                                          \
    }
VALUES_ROWS(1)
VALUES_ROWS(2)
VALUES_ROWS(3)
VALUES_ROWS(4)

AVX512 static void values_rows_avx512(const float *p, size_t ps, size_t nq, size_t first_count, size_t step,
                                      const uint16_t *values, size_t stride, size_t n, float *out, size_t os) {
    switch (nq) {
    case 1: values_rows1(p, ps, first_count, step, values, stride, n, out, os); break;
    case 2: values_rows2(p, ps, first_count, step, values, stride, n, out, os); break;
    case 3: values_rows3(p, ps, first_count, step, values, stride, n, out, os); break;
    default: values_rows4(p, ps, first_count, step, values, stride, n, out, os); break;
    }
}
#else
#define HAVE_AVX512 0
#define ROWS_MAX_WIDTH 0
#define scores_rows_avx512(...) ((void)0)
#define values_rows_avx512(...) ((void)0)
#endif

void tk_attention_scores_f16_rows(const float *q, size_t q_stride, size_t nq, const uint16_t *keys, size_t stride,
                                  size_t first_count, size_t count_step, size_t n, float scale, float *scores,
                                  size_t scores_stride) {
    if (nq == 0) return;
    const size_t count = first_count + (nq - 1) * count_step;
    if (HAVE_AVX512 && nq <= 4 && n % 16 == 0 && n <= ROWS_MAX_WIDTH) {
        scores_rows_avx512(q, q_stride, nq, keys, stride, count, n, scale, scores, scores_stride);
        return;
    }
    for (size_t r = 0; r < nq; r++)
        tk_attention_scores_f16(q + r * q_stride, keys, stride, first_count + r * count_step, n, scale, scores + r * scores_stride);
}

void tk_attention_values_f16_rows(const float *p, size_t p_stride, size_t nq, size_t first_count, size_t count_step,
                                  const uint16_t *values, size_t stride, size_t n, float *out, size_t out_stride) {
    if (nq == 0) return;
    if (HAVE_AVX512 && nq <= 4 && n % 16 == 0 && n <= ROWS_MAX_WIDTH) {
        values_rows_avx512(p, p_stride, nq, first_count, count_step, values, stride, n, out, out_stride);
        return;
    }
    for (size_t r = 0; r < nq; r++)
        tk_attention_values_f16(p + r * p_stride, values, stride, first_count + r * count_step, n, out + r * out_stride);
}

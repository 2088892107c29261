// Attention over a run of positions whose keys / values are stored row by row with a stride (a KV
// cache row holds every head; a head's slice starts at its offset): one call computes all scores
// of a query, or the weighted sum of all values, instead of one call per position.
#include "CTernaryKernels.h"

static inline float half_to_float(uint16_t h) { _Float16 f; __builtin_memcpy(&f, &h, 2); return (float)f; }

#if defined(__x86_64__)
#include <immintrin.h>
#define F16C_FMA __attribute__((target("avx2,fma,f16c")))

F16C_FMA static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD_F32(p) _mm256_loadu_ps(p)

// scores[j] = scale · Σ_i q[i] · key_j[i]; four keys at a time share one horizontal reduction
// (three vhaddps and one cross-lane add give all four sums).
#define SCORES_BODY(LOAD, TO_FLOAT)                                                          \
    size_t j = 0;                                                                            \
    const size_t n8 = n / 8 * 8;                                                             \
    for (; j + 4 <= count; j += 4) {                                                         \
        const __typeof__(*keys) *k0 = keys + j * stride, *k1 = k0 + stride;                  \
        const __typeof__(*keys) *k2 = k1 + stride, *k3 = k2 + stride;                        \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                          \
        for (size_t i = 0; i < n8; i += 8) {                                                 \
            __m256 qv = _mm256_loadu_ps(q + i);                                              \
            a0 = _mm256_fmadd_ps(qv, LOAD(k0 + i), a0);                                      \
            a1 = _mm256_fmadd_ps(qv, LOAD(k1 + i), a1);                                      \
            a2 = _mm256_fmadd_ps(qv, LOAD(k2 + i), a2);                                      \
            a3 = _mm256_fmadd_ps(qv, LOAD(k3 + i), a3);                                      \
        }                                                                                    \
        __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));           \
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));      \
        float s[4];                                                                          \
        _mm_storeu_ps(s, s4);                                                                \
        for (size_t i = n8; i < n; i++) {                                                    \
            s[0] += q[i] * TO_FLOAT(k0[i]); s[1] += q[i] * TO_FLOAT(k1[i]);                  \
            s[2] += q[i] * TO_FLOAT(k2[i]); s[3] += q[i] * TO_FLOAT(k3[i]);                  \
        }                                                                                    \
        scores[j] = s[0] * scale; scores[j + 1] = s[1] * scale;                              \
        scores[j + 2] = s[2] * scale; scores[j + 3] = s[3] * scale;                          \
    }                                                                                        \
    for (; j < count; j++) {                                                                 \
        const __typeof__(*keys) *kr = keys + j * stride;                                     \
        __m256 a0 = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < n8; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), LOAD(kr + i), a0); \
        float s = hsum8(a0);                                                                 \
        for (size_t i = n8; i < n; i++) s += q[i] * TO_FLOAT(kr[i]);                         \
        scores[j] = s * scale;                                                               \
    }

// out[i] += Σ_j p[j] · value_j[i], 64 outputs (eight registers) at a time, then 8, then 1.
#define VALUES_BODY(LOAD, TO_FLOAT)                                                          \
    size_t c = 0;                                                                            \
    for (; c + 64 <= n; c += 64) {                                                           \
        __m256 o0 = _mm256_loadu_ps(out + c), o1 = _mm256_loadu_ps(out + c + 8);             \
        __m256 o2 = _mm256_loadu_ps(out + c + 16), o3 = _mm256_loadu_ps(out + c + 24);       \
        __m256 o4 = _mm256_loadu_ps(out + c + 32), o5 = _mm256_loadu_ps(out + c + 40);       \
        __m256 o6 = _mm256_loadu_ps(out + c + 48), o7 = _mm256_loadu_ps(out + c + 56);       \
        for (size_t j = 0; j < count; j++) {                                                 \
            const __typeof__(*values) *v = values + j * stride + c;                          \
            __m256 pj = _mm256_set1_ps(p[j]);                                                \
            o0 = _mm256_fmadd_ps(pj, LOAD(v), o0);      o1 = _mm256_fmadd_ps(pj, LOAD(v + 8), o1);  \
            o2 = _mm256_fmadd_ps(pj, LOAD(v + 16), o2); o3 = _mm256_fmadd_ps(pj, LOAD(v + 24), o3); \
            o4 = _mm256_fmadd_ps(pj, LOAD(v + 32), o4); o5 = _mm256_fmadd_ps(pj, LOAD(v + 40), o5); \
            o6 = _mm256_fmadd_ps(pj, LOAD(v + 48), o6); o7 = _mm256_fmadd_ps(pj, LOAD(v + 56), o7); \
        }                                                                                    \
        _mm256_storeu_ps(out + c, o0);      _mm256_storeu_ps(out + c + 8, o1);               \
        _mm256_storeu_ps(out + c + 16, o2); _mm256_storeu_ps(out + c + 24, o3);              \
        _mm256_storeu_ps(out + c + 32, o4); _mm256_storeu_ps(out + c + 40, o5);              \
        _mm256_storeu_ps(out + c + 48, o6); _mm256_storeu_ps(out + c + 56, o7);              \
    }                                                                                        \
    for (; c + 8 <= n; c += 8) {                                                             \
        __m256 o = _mm256_loadu_ps(out + c);                                                 \
        for (size_t j = 0; j < count; j++)                                                   \
            o = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), LOAD(values + j * stride + c), o);     \
        _mm256_storeu_ps(out + c, o);                                                        \
    }                                                                                        \
    for (; c < n; c++) {                                                                     \
        float o = out[c];                                                                    \
        for (size_t j = 0; j < count; j++) o += p[j] * TO_FLOAT(values[j * stride + c]);     \
        out[c] = o;                                                                          \
    }

#define IDENTITY(x) (x)
#define CVT_HALF(x) _cvtsh_ss(x)

F16C_FMA static void scores_f16_x86(const float *q, const uint16_t *keys, size_t stride, size_t count,
                                    size_t n, float scale, float *scores) { SCORES_BODY(LOAD_F16, CVT_HALF) }
F16C_FMA static void scores_f32_x86(const float *q, const float *keys, size_t stride, size_t count,
                                    size_t n, float scale, float *scores) { SCORES_BODY(LOAD_F32, IDENTITY) }
F16C_FMA static void values_f16_x86(const float *p, const uint16_t *values, size_t stride, size_t count,
                                    size_t n, float *out) { VALUES_BODY(LOAD_F16, CVT_HALF) }
F16C_FMA static void values_f32_x86(const float *p, const float *values, size_t stride, size_t count,
                                    size_t n, float *out) { VALUES_BODY(LOAD_F32, IDENTITY) }
#define HAVE_SIMD (tk_cpu_features() & TK_ISA_F16C_FMA)
#else
#define HAVE_SIMD 0
#define scores_f16_x86(...) ((void)0)
#define scores_f32_x86(...) ((void)0)
#define values_f16_x86(...) ((void)0)
#define values_f32_x86(...) ((void)0)
#endif

void tk_attention_scores_f16(const float *q, const uint16_t *keys, size_t stride, size_t count, size_t n,
                             float scale, float *scores) {
    if (HAVE_SIMD) { scores_f16_x86(q, keys, stride, count, n, scale, scores); return; }
    for (size_t j = 0; j < count; j++) {
        float s = 0;
        for (size_t i = 0; i < n; i++) s += q[i] * half_to_float(keys[j * stride + i]);
        scores[j] = s * scale;
    }
}

void tk_attention_scores_f32(const float *q, const float *keys, size_t stride, size_t count, size_t n,
                             float scale, float *scores) {
    if (HAVE_SIMD) { scores_f32_x86(q, keys, stride, count, n, scale, scores); return; }
    for (size_t j = 0; j < count; j++) {
        float s = 0;
        for (size_t i = 0; i < n; i++) s += q[i] * keys[j * stride + i];
        scores[j] = s * scale;
    }
}

void tk_attention_values_f16(const float *p, const uint16_t *values, size_t stride, size_t count, size_t n,
                             float *out) {
    if (HAVE_SIMD) { values_f16_x86(p, values, stride, count, n, out); return; }
    for (size_t j = 0; j < count; j++)
        for (size_t i = 0; i < n; i++) out[i] += p[j] * half_to_float(values[j * stride + i]);
}

void tk_attention_values_f32(const float *p, const float *values, size_t stride, size_t count, size_t n,
                             float *out) {
    if (HAVE_SIMD) { values_f32_x86(p, values, stride, count, n, out); return; }
    for (size_t j = 0; j < count; j++)
        for (size_t i = 0; i < n; i++) out[i] += p[j] * values[j * stride + i];
}

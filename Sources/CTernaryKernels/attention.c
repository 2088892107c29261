// Attention over a run of positions whose keys / values are stored row by row with a stride (a KV
// cache row holds every head; a head's slice starts at its offset): one call computes all scores
// of a query, or the weighted sum of all values, instead of one call per position.
#include "CTernaryKernels.h"
#include <math.h>
#include <stdint.h>

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
#define SCORES_BODY(LOAD, TO_FLOAT, KSCALE)                                                        \
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
        scores[j] = s[0] * scale * KSCALE(j); scores[j + 1] = s[1] * scale * KSCALE(j + 1);  \
        scores[j + 2] = s[2] * scale * KSCALE(j + 2);                                        \
        scores[j + 3] = s[3] * scale * KSCALE(j + 3);                                        \
    }                                                                                        \
    for (; j < count; j++) {                                                                 \
        const __typeof__(*keys) *kr = keys + j * stride;                                     \
        __m256 a0 = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < n8; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), LOAD(kr + i), a0); \
        float s = hsum8(a0);                                                                 \
        for (size_t i = n8; i < n; i++) s += q[i] * TO_FLOAT(kr[i]);                         \
        scores[j] = s * scale * KSCALE(j);                                                   \
    }

// out[i] += Σ_j p[j] · value_j[i], 64 outputs (eight registers) at a time, then 8, then 1.
#define VALUES_BODY(LOAD, TO_FLOAT, WEIGHT)                                                        \
    size_t c = 0;                                                                            \
    for (; c + 64 <= n; c += 64) {                                                           \
        __m256 o0 = _mm256_loadu_ps(out + c), o1 = _mm256_loadu_ps(out + c + 8);             \
        __m256 o2 = _mm256_loadu_ps(out + c + 16), o3 = _mm256_loadu_ps(out + c + 24);       \
        __m256 o4 = _mm256_loadu_ps(out + c + 32), o5 = _mm256_loadu_ps(out + c + 40);       \
        __m256 o6 = _mm256_loadu_ps(out + c + 48), o7 = _mm256_loadu_ps(out + c + 56);       \
        for (size_t j = 0; j < count; j++) {                                                 \
            const __typeof__(*values) *v = values + j * stride + c;                          \
            __m256 pj = _mm256_set1_ps(WEIGHT(j));                                             \
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
            o = _mm256_fmadd_ps(_mm256_set1_ps(WEIGHT(j)), LOAD(values + j * stride + c), o); \
        _mm256_storeu_ps(out + c, o);                                                        \
    }                                                                                        \
    for (; c < n; c++) {                                                                     \
        float o = out[c];                                                                    \
        for (size_t j = 0; j < count; j++) o += WEIGHT(j) * TO_FLOAT(values[j * stride + c]); \
        out[c] = o;                                                                          \
    }

#define IDENTITY(x) (x)
#define CVT_HALF(x) _cvtsh_ss(x)
#define TO_FLOAT_Q8(x) ((float)(x))
#define LOAD_Q8(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#define UNIT_SCALE(j) 1.0f
#define PLAIN_WEIGHT(j) p[j]
#define KEY_SCALE(j) key_scales[(j) * scale_stride]
#define SCALED_WEIGHT(j) (p[j] * value_scales[(j) * scale_stride])

F16C_FMA static void scores_f16_x86(const float *q, const uint16_t *keys, size_t stride, size_t count,
                                    size_t n, float scale, float *scores) { SCORES_BODY(LOAD_F16, CVT_HALF, UNIT_SCALE) }
F16C_FMA static void scores_f32_x86(const float *q, const float *keys, size_t stride, size_t count,
                                    size_t n, float scale, float *scores) { SCORES_BODY(LOAD_F32, IDENTITY, UNIT_SCALE) }
F16C_FMA static void values_f16_x86(const float *p, const uint16_t *values, size_t stride, size_t count,
                                    size_t n, float *out) { VALUES_BODY(LOAD_F16, CVT_HALF, PLAIN_WEIGHT) }
F16C_FMA static void values_f32_x86(const float *p, const float *values, size_t stride, size_t count,
                                    size_t n, float *out) { VALUES_BODY(LOAD_F32, IDENTITY, PLAIN_WEIGHT) }
F16C_FMA static void scores_q8_x86(const float *q, const int8_t *keys, size_t stride, const float *key_scales,
                                   size_t scale_stride, size_t count, size_t n, float scale, float *scores) {
    SCORES_BODY(LOAD_Q8, TO_FLOAT_Q8, KEY_SCALE)
}
F16C_FMA static void values_q8_x86(const float *p, const int8_t *values, size_t stride, const float *value_scales,
                                   size_t scale_stride, size_t count, size_t n, float *out) {
    VALUES_BODY(LOAD_Q8, TO_FLOAT_Q8, SCALED_WEIGHT)
}

// The same arithmetic as the scalar loop below (x · (127 / max|x|), rounded half to even), eight at
// a time, so both paths store identical codes.
F16C_FMA static float quantize_row_q8_x86(const float *x, int8_t *q, size_t n) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(magnitude, _mm256_loadu_ps(x + i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    for (; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    if (!(amax > 0)) { __builtin_memset(q, 0, n); return 0; }
    const float inverse = 127.0f / amax;
    const __m256 vinverse = _mm256_set1_ps(inverse);
    i = 0;
    if (((uintptr_t)q & 31) == 0) {
        // Whole 32-byte pieces of an aligned row (a KV cache row): written with streaming stores, so
        // the fresh cache lines are not first read from memory (this store was the slowest part
        // of attention in decode profiles). The next token reads them back from memory anyway.
        // Other threads may read them only after tk_store_fence() on this one.
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (; i + 32 <= n; i += 32) {
            __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinverse));
            __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8), vinverse));
            __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 16), vinverse));
            __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 24), vinverse));
            __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
            _mm256_stream_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(bytes, order));
        }
    }
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i), vinverse));
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w, w));
    }
    for (; i < n; i++) q[i] = (int8_t)lrintf(x[i] * inverse);
    return amax / 127.0f;
}
#define HAVE_SIMD (tk_cpu_features() & TK_ISA_F16C_FMA)
#else
#define HAVE_SIMD 0
#define scores_f16_x86(...) ((void)0)
#define scores_f32_x86(...) ((void)0)
#define values_f16_x86(...) ((void)0)
#define values_f32_x86(...) ((void)0)
#define scores_q8_x86(...) ((void)0)
#define values_q8_x86(...) ((void)0)
#define quantize_row_q8_x86(...) 0.0f
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

float tk_quantize_row_q8(const float *x, int8_t *q, size_t n) {
    if (HAVE_SIMD) return quantize_row_q8_x86(x, q, n);
    float amax = 0;
    for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    if (!(amax > 0)) { for (size_t i = 0; i < n; i++) q[i] = 0; return 0; }
    const float inverse = 127.0f / amax;
    for (size_t i = 0; i < n; i++) q[i] = (int8_t)lrintf(x[i] * inverse);
    return amax / 127.0f;
}

void tk_attention_scores_q8(const float *q, const int8_t *keys, size_t stride, const float *key_scales,
                            size_t scale_stride, size_t count, size_t n, float scale, float *scores) {
    if (HAVE_SIMD) { scores_q8_x86(q, keys, stride, key_scales, scale_stride, count, n, scale, scores); return; }
    for (size_t j = 0; j < count; j++) {
        float s = 0;
        for (size_t i = 0; i < n; i++) s += q[i] * (float)keys[j * stride + i];
        scores[j] = s * scale * key_scales[j * scale_stride];
    }
}

void tk_attention_values_q8(const float *p, const int8_t *values, size_t stride, const float *value_scales,
                            size_t scale_stride, size_t count, size_t n, float *out) {
    if (HAVE_SIMD) { values_q8_x86(p, values, stride, value_scales, scale_stride, count, n, out); return; }
    for (size_t j = 0; j < count; j++) {
        const float w = p[j] * value_scales[j * scale_stride];
        for (size_t i = 0; i < n; i++) out[i] += w * (float)values[j * stride + i];
    }
}

void tk_store_fence(void) {
#if defined(__x86_64__)
    _mm_sfence();
#endif
}

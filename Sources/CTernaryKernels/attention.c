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

#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "reduce512.h"
#define HAVE_AVX512 (tk_cpu_features() & TK_ISA_AVX512VNNI)
#define Q8_MAX_WIDTH 256

// q8 scores with integer dot products (as llama.cpp's q8_0 · q8_0): the query is quantized to int8
// once (one scale, round half to even), then each key row costs one vpdpbusd per 64 values: |q|
// as the unsigned operand, the key negated where q is negative as the signed one. Sixteen keys'
// sums are reduced together. Rows of any width up to Q8_MAX_WIDTH (a last partial 64 is masked).
AVX512 static void scores_q8_avx512(const float *q, const int8_t *keys, size_t stride, const float *key_scales,
                                    size_t scale_stride, size_t count, size_t n, float scale, float *scores) {
    const size_t chunks = (n + 63) / 64;
    __mmask16 lanes[Q8_MAX_WIDTH / 16];  // valid floats of each 16 of q
    __mmask64 bytes[Q8_MAX_WIDTH / 64];  // valid bytes of each 64 of a key row
    for (size_t b = 0; b < 4 * chunks; b++) {
        size_t left = n > 16 * b ? n - 16 * b : 0;
        lanes[b] = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    }
    for (size_t c = 0; c < chunks; c++) {
        size_t left = n - 64 * c;
        bytes[c] = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
    }
    __m512 m = _mm512_setzero_ps();
    for (size_t b = 0; b < 4 * chunks; b++) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes[b], q + 16 * b)));
    const float amax = _mm512_reduce_max_ps(m);
    if (!(amax > 0)) { for (size_t j = 0; j < count; j++) scores[j] = 0; return; }
    const __m512 inverse = _mm512_set1_ps(127.0f / amax);
    __m512i magnitude[Q8_MAX_WIDTH / 64];
    __mmask64 negative[Q8_MAX_WIDTH / 64];
    for (size_t c = 0; c < chunks; c++) {
        __m128i b[4];
        for (int k = 0; k < 4; k++) {
            __m512 x = _mm512_maskz_loadu_ps(lanes[4 * c + k], q + 64 * c + 16 * k);
            b[k] = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(x, inverse)));
        }
        __m512i v = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(b[0]), b[1], 1), b[2], 2), b[3], 3);
        magnitude[c] = _mm512_abs_epi8(v);
        negative[c] = _mm512_movepi8_mask(v);
    }
    const float factor = scale * (amax / 127.0f);
    const __m512i zero = _mm512_setzero_si512(), no_shift = zero;
#define DOT(acc, row)                                                                                \
    do {                                                                                             \
        acc = zero;                                                                                  \
        for (size_t c = 0; c < chunks; c++) {                                                        \
            __m512i k = _mm512_maskz_loadu_epi8(bytes[c], (const void *)((row) + 64 * c));           \
            acc = _mm512_dpbusd_epi32(acc, magnitude[c], _mm512_mask_sub_epi8(k, negative[c], zero, k)); \
        }                                                                                            \
    } while (0)
    size_t j = 0;
    for (; j + 16 <= count; j += 16) {
        const int8_t *r = keys + j * stride;
        // The cache is read from memory (the weights stream evicts it every token): ask for the
        // rows two blocks ahead, so each head's scan does not wait on one miss at a time.
        for (size_t t = 0; t < 16 && j + 32 + t < count; t++) _mm_prefetch((const char *)(r + (32 + t) * stride), _MM_HINT_T0);
        __m512i a[16];
        for (int t = 0; t < 16; t++) DOT(a[t], r + (size_t)t * stride);
        __m512i sums = reduce16_512(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11],
                                    a[12], a[13], a[14], a[15], no_shift);
        float s[16];
        _mm512_storeu_ps(s, _mm512_cvtepi32_ps(sums));
        for (int t = 0; t < 16; t++) scores[j + t] = s[t] * factor * key_scales[(j + t) * scale_stride];
    }
    for (; j < count; j++) {
        __m512i a;
        DOT(a, keys + j * stride);
        scores[j] = (float)_mm512_reduce_add_epi32(a) * factor * key_scales[j * scale_stride];
    }
#undef DOT
}

// q8 value sums, sixteen outputs per register: one sign extension, one conversion and one FMA per
// sixteen values (the AVX2 path needs two of each). Even and odd positions go to separate
// accumulators, so the FMA chains are half as long. n must be a multiple of 16, at most Q8_MAX_WIDTH.
AVX512 static void values_q8_avx512(const float *p, const int8_t *values, size_t stride, const float *value_scales,
                                    size_t scale_stride, size_t count, size_t n, float *out) {
    const size_t blocks = n / 16;
    __m512 even[Q8_MAX_WIDTH / 16], odd[Q8_MAX_WIDTH / 16];
    for (size_t c = 0; c < blocks; c++) { even[c] = _mm512_loadu_ps(out + 16 * c); odd[c] = _mm512_setzero_ps(); }
#define ROW16(v, c) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)((v) + 16 * (c)))))
    size_t j = 0;
    for (; j + 2 <= count; j += 2) {
        const int8_t *v0 = values + j * stride, *v1 = v0 + stride;
        // The cache is read from memory: ask for the rows 32 positions ahead.
        if (j + 33 < count) {
            _mm_prefetch((const char *)(v0 + 32 * stride), _MM_HINT_T0);
            _mm_prefetch((const char *)(v1 + 32 * stride), _MM_HINT_T0);
        }
        const __m512 w0 = _mm512_set1_ps(p[j] * value_scales[j * scale_stride]);
        const __m512 w1 = _mm512_set1_ps(p[j + 1] * value_scales[(j + 1) * scale_stride]);
        for (size_t c = 0; c < blocks; c++) {
            even[c] = _mm512_fmadd_ps(w0, ROW16(v0, c), even[c]);
            odd[c] = _mm512_fmadd_ps(w1, ROW16(v1, c), odd[c]);
        }
    }
    if (j < count) {
        const int8_t *v = values + j * stride;
        const __m512 w = _mm512_set1_ps(p[j] * value_scales[j * scale_stride]);
        for (size_t c = 0; c < blocks; c++) even[c] = _mm512_fmadd_ps(w, ROW16(v, c), even[c]);
    }
#undef ROW16
    for (size_t c = 0; c < blocks; c++) _mm512_storeu_ps(out + 16 * c, _mm512_add_ps(even[c], odd[c]));
}
#else
#define HAVE_SIMD 0
#define scores_f16_x86(...) ((void)0)
#define scores_f32_x86(...) ((void)0)
#define values_f16_x86(...) ((void)0)
#define values_f32_x86(...) ((void)0)
#define scores_q8_x86(...) ((void)0)
#define values_q8_x86(...) ((void)0)
#define quantize_row_q8_x86(...) 0.0f
#define HAVE_AVX512 0
#define Q8_MAX_WIDTH 256
#define scores_q8_avx512(...) ((void)0)
#define values_q8_avx512(...) ((void)0)
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
    if (HAVE_AVX512 && n >= 16 && n <= Q8_MAX_WIDTH) {
        scores_q8_avx512(q, keys, stride, key_scales, scale_stride, count, n, scale, scores);
        return;
    }
    if (HAVE_SIMD) { scores_q8_x86(q, keys, stride, key_scales, scale_stride, count, n, scale, scores); return; }
    for (size_t j = 0; j < count; j++) {
        float s = 0;
        for (size_t i = 0; i < n; i++) s += q[i] * (float)keys[j * stride + i];
        scores[j] = s * scale * key_scales[j * scale_stride];
    }
}

void tk_attention_values_q8(const float *p, const int8_t *values, size_t stride, const float *value_scales,
                            size_t scale_stride, size_t count, size_t n, float *out) {
    if (HAVE_AVX512 && n % 16 == 0 && n <= Q8_MAX_WIDTH) {
        values_q8_avx512(p, values, stride, value_scales, scale_stride, count, n, out);
        return;
    }
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

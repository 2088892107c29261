// Half-precision helpers for the f16 KV cache: F16C + FMA where the CPU has them, else _Float16.
#include "CTernaryKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c"))) static float dot_f16c(const float *q, const uint16_t *k, size_t n) {
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + i))), acc);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float total = _mm_cvtss_f32(s);
    for (; i < n; i++) total += q[i] * _cvtsh_ss(k[i]);
    return total;
}

__attribute__((target("avx2,fma,f16c"))) static void axpy_f16c(float a, const uint16_t *v, float *y, size_t n) {
    __m256 av = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i))), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * _cvtsh_ss(v[i]);
}

__attribute__((target("avx2,f16c"))) static void to_f16_f16c(const float *x, uint16_t *out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}
#define HAVE_F16C (tk_cpu_features() & TK_ISA_F16C_FMA)
#else
#define HAVE_F16C 0
static float dot_f16c(const float *q, const uint16_t *k, size_t n) { (void)q; (void)k; (void)n; return 0; }
static void axpy_f16c(float a, const uint16_t *v, float *y, size_t n) { (void)a; (void)v; (void)y; (void)n; }
static void to_f16_f16c(const float *x, uint16_t *out, size_t n) { (void)x; (void)out; (void)n; }
#endif

static inline float half_to_float(uint16_t h) { _Float16 f; __builtin_memcpy(&f, &h, 2); return (float)f; }
static inline uint16_t float_to_half(float x) { _Float16 f = (_Float16)x; uint16_t h; __builtin_memcpy(&h, &f, 2); return h; }

float tk_dot_f16(const float *q, const uint16_t *k, size_t n) {
    if (HAVE_F16C) return dot_f16c(q, k, n);
    float total = 0;
    for (size_t i = 0; i < n; i++) total += q[i] * half_to_float(k[i]);
    return total;
}

void tk_axpy_f16(float a, const uint16_t *v, float *y, size_t n) {
    if (HAVE_F16C) { axpy_f16c(a, v, y, n); return; }
    for (size_t i = 0; i < n; i++) y[i] += a * half_to_float(v[i]);
}

void tk_f32_to_f16(const float *x, uint16_t *out, size_t n) {
    if (HAVE_F16C) { to_f16_f16c(x, out, n); return; }
    for (size_t i = 0; i < n; i++) out[i] = float_to_half(x[i]);
}

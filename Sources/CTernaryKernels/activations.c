// Vectorised GELU (tanh form), SiLU, softmax and log-sum-exp. exp uses the Cephes polynomial
// (relative error about 1e-7, the float32 rounding level); the scalar fallbacks use libm.
#include "CTernaryKernels.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3762626647949f));
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

// gelu(v) = 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)), u = sqrt(2/pi) (v + 0.044715 v^3)
AVX2 static void gelu_avx2(float *x, size_t n) {
    const __m256 c = _mm256_set1_ps(-2.0f * 0.7978845608028654f), k = _mm256_set1_ps(0.044715f), one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 inner = _mm256_fmadd_ps(_mm256_mul_ps(k, v), _mm256_mul_ps(v, v), v);
        __m256 e = exp256(_mm256_mul_ps(c, inner));
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)));
    }
    for (; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

// silu(v) = v · sigmoid(v) = v / (1 + exp(-v))
AVX2 static void silu_avx2(float *x, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp256(_mm256_sub_ps(zero, v)))));
    }
    for (; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

AVX2 static void softmax_avx2(float *x, size_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m = -INFINITY, lanes[8];
    _mm256_storeu_ps(lanes, mv);
    for (int j = 0; j < 8; j++) m = lanes[j] > m ? lanes[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    __m256 sv = _mm256_setzero_ps(), mb = _mm256_set1_ps(m);
    float s = 0;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    for (; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    _mm256_storeu_ps(lanes, sv);
    for (int j = 0; j < 8; j++) s += lanes[j];
    __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / s;
}
// log Σ exp(x_i) as m + log Σ exp(x_i − m), m = max x_i: each term's exp in float32 (Cephes, about
// 1e-7 relative), their sum in double, so a 100k-token vocabulary loses nothing to accumulation.
AVX2 static double log_sum_exp_avx2(const float *x, size_t n) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    float m = -INFINITY, lanes[8];
    _mm256_storeu_ps(lanes, mv);
    for (int j = 0; j < 8; j++) m = lanes[j] > m ? lanes[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const __m256 mb = _mm256_set1_ps(m);
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double d[4], s = 0;
    _mm256_storeu_pd(d, _mm256_add_pd(s0, s1));
    for (int j = 0; j < 4; j++) s += d[j];
    for (; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}
#define HAVE_AVX2 (tk_cpu_features() & TK_ISA_AVX2)
#else
#define HAVE_AVX2 0
static double log_sum_exp_avx2(const float *x, size_t n) { (void)x; (void)n; return 0; }
static void gelu_avx2(float *x, size_t n) { (void)x; (void)n; }
static void softmax_avx2(float *x, size_t n) { (void)x; (void)n; }
static void silu_avx2(float *x, size_t n) { (void)x; (void)n; }
#endif

void tk_gelu_tanh(float *x, size_t n) {
    if (HAVE_AVX2) { gelu_avx2(x, n); return; }
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

void tk_silu(float *x, size_t n) {
    if (HAVE_AVX2) { silu_avx2(x, n); return; }
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

double tk_log_sum_exp_reference(const float *x, size_t n) {
    if (n == 0) return -INFINITY;
    double m = -INFINITY, s = 0;
    for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    for (size_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    return m + log(s);
}

double tk_log_sum_exp(const float *x, size_t n) {
    if (n == 0) return -INFINITY;
    if (HAVE_AVX2) return log_sum_exp_avx2(x, n);
    return tk_log_sum_exp_reference(x, n);
}

void tk_softmax(float *x, size_t n) {
    if (HAVE_AVX2) { softmax_avx2(x, n); return; }
    float m = -INFINITY, s = 0;
    for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    for (size_t i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    for (size_t i = 0; i < n; i++) x[i] *= 1.0f / s;
}

#pragma clang fp contract(off)
static inline float dequantize_one(int32_t acc, float factor, const float *bias, size_t i) {
    float y = (float)acc * factor;
    return bias ? y + bias[i] : y;
}

#if defined(__x86_64__)
AVX2 static void dequantize_avx2(const int32_t *acc, float factor, const float *bias, float *out, size_t n, int accumulate) {
    const __m256 f = _mm256_set1_ps(factor);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + i))), f);
        if (bias) y = _mm256_add_ps(y, _mm256_loadu_ps(bias + i));
        if (accumulate) y = _mm256_add_ps(_mm256_loadu_ps(out + i), y);
        _mm256_storeu_ps(out + i, y);
    }
    for (; i < n; i++) {
        float y = dequantize_one(acc[i], factor, bias, i);
        out[i] = accumulate ? out[i] + y : y;
    }
}
#endif

void tk_dequantize(const int32_t *acc, float factor, const float *bias, float *out, size_t n, int accumulate) {
#if defined(__x86_64__)
    if (tk_cpu_features() & TK_ISA_AVX2) { dequantize_avx2(acc, factor, bias, out, n, accumulate); return; }
#endif
    for (size_t i = 0; i < n; i++) {
        float y = dequantize_one(acc[i], factor, bias, i);
        out[i] = accumulate ? out[i] + y : y;
    }
}

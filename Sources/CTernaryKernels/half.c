// Half-precision helpers for the f16 KV cache and the packer's f16/bf16 tensors: F16C + FMA where
// the CPU has them, else _Float16 and shifts.
#include "CTernaryKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,f16c"))) static void to_f16_f16c(const float *x, uint16_t *out, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}
__attribute__((target("avx2,f16c"))) static void from_f16_f16c(const void *x, float *out, size_t n) {
    const uint8_t *b = (const uint8_t *)x;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        __builtin_memcpy(&h, b + 2 * i, 2);
        out[i] = _cvtsh_ss(h);
    }
}
#define HAVE_F16C (tk_cpu_features() & TK_ISA_F16C_FMA)
#else
#define HAVE_F16C 0
static void to_f16_f16c(const float *x, uint16_t *out, size_t n) { (void)x; (void)out; (void)n; }
static void from_f16_f16c(const void *x, float *out, size_t n) { (void)x; (void)out; (void)n; }
#endif

static inline uint16_t float_to_half(float x) { _Float16 f = (_Float16)x; uint16_t h; __builtin_memcpy(&h, &f, 2); return h; }

void tk_f32_to_f16(const float *x, uint16_t *out, size_t n) {
    if (HAVE_F16C) { to_f16_f16c(x, out, n); return; }
    for (size_t i = 0; i < n; i++) out[i] = float_to_half(x[i]);
}

void tk_f16_to_f32(const void *x, float *out, size_t n) {
    if (HAVE_F16C) { from_f16_f16c(x, out, n); return; }
    const uint8_t *b = (const uint8_t *)x;
    for (size_t i = 0; i < n; i++) {
        _Float16 f;
        __builtin_memcpy(&f, b + 2 * i, 2);
        out[i] = (float)f;
    }
}

// bfloat16 is the top half of a float32: widening is exact, NaN payloads included.
void tk_bf16_to_f32(const void *x, float *out, size_t n) {
    const uint8_t *b = (const uint8_t *)x;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        __builtin_memcpy(&h, b + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        __builtin_memcpy(out + i, &bits, 4);
    }
}

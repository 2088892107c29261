// Kernels of the grouped formats q4 and q6 (docs/FORMAT.md, "Grouped matrices"): groups of 32
// weights, each with an f16 scale d; w = d · (q − 8) (q4, 4-bit q) or d · (q − 32) (q6, 6-bit q).
// A 64-weight block holds two groups: q4 in 32 bytes (byte 16h + j: low nibble weight 32h + j,
// high nibble weight 32h + 16 + j), q6 in 48 (those 32 bytes of low nibbles, then 16 bytes whose
// byte 8h + i holds in bits 2m..2m+1 the top two bits of weight 32h + 8m + i).
//
// Each group's integer sum Σ (q − offset)·x is exact; the row's value Σ_g d_g · sum_g is a float sum,
// accumulated here lane by lane, so it differs from the scalar reference (TernaryKernels/
// GroupedMatmul.swift) by float rounding only. Both kernels multiply the unsigned codes q with
// the activations and take offset · Σx off each group's sum.
#include "CTernaryKernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define AVX2 __attribute__((target("avx2,fma,f16c")))

// ---- AVX-512 VNNI: decode, two rows × 128 weights per step ---------------------------------------
// A block's 32 bytes of nibbles are loaded into both halves of a vector; a shift and a mask give
// its 64 codes in the lane order (g0 0–15, g1 0–15, g0 16–31, g1 16–31), and the activations are
// put in that order once per step for both rows. The codes q are unsigned, so vpdpbusd takes them
// as they are: Σ (q − offset)·x = Σ q·x − offset·Σ x, with the lane sums of x (vpdpbusd against
// ones) also shared by both rows. Like the ternary GEMV, each step prefetches the next lines of
// both rows into L1 and L2, and each row has two accumulator chains.
#include "prefetch.h"

typedef struct { __m512i nibble_shifts, low4, ones, high_pick, high_shifts, low2; __m512i scale_index[2]; } grouped_consts;

AVX512 static inline grouped_consts grouped_setup(void) {
    grouped_consts c;
    c.nibble_shifts = _mm512_set_epi64(4, 4, 4, 4, 0, 0, 0, 0);
    c.low4 = _mm512_set1_epi8(0x0F);
    c.ones = _mm512_set1_epi8(1);
    // q6: lanes (g0, g1, g0, g1) take the top bits of their group's eight bytes; positions 0–7
    // of a group use bits 0–1, 8–15 bits 2–3, 16–23 bits 4–5, 24–31 bits 6–7.
    c.high_pick = _mm512_set_epi8(15, 14, 13, 12, 11, 10, 9, 8, 15, 14, 13, 12, 11, 10, 9, 8,
                                  7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0,
                                  15, 14, 13, 12, 11, 10, 9, 8, 15, 14, 13, 12, 11, 10, 9, 8,
                                  7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0);
    c.high_shifts = _mm512_set_epi32(6, 6, 4, 4, 6, 6, 4, 4, 2, 2, 0, 0, 2, 2, 0, 0);
    c.low2 = _mm512_set1_epi8(3);
    // Scales of groups (2b, 2b + 1) over lanes (0–3, 8–11) and (4–7, 12–15), from four converted scales.
    c.scale_index[0] = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    c.scale_index[1] = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 3, 3, 2, 2, 2, 2);
    return c;
}

// The block's 64 codes' low four bits, in the lane order above.
AVX512 static inline __m512i grouped_nibbles(const grouped_consts *c, const uint8_t *block) {
    __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)block));
    return _mm512_and_si512(_mm512_srlv_epi64(v, c->nibble_shifts), c->low4);
}

AVX512 static inline __m512i q6_codes(const grouped_consts *c, const uint8_t *block) {
    __m512i high = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(block + 32))), c->high_pick);
    high = _mm512_and_si512(_mm512_srlv_epi32(high, c->high_shifts), c->low2);
    return _mm512_or_si512(grouped_nibbles(c, block), _mm512_slli_epi16(high, 4));
}

// 64 activations in the codes' lane order, and offset · (their sums over each lane's four bytes).
typedef struct { __m512i x, offset_sums; } grouped_x;

AVX512 static inline grouped_x grouped_load_x(const grouped_consts *c, const int8_t *x, int offset_shift) {
    __m512i v = _mm512_loadu_si512((const void *)x);
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));
    grouped_x g = {v, _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), c->ones, v), offset_shift)};
    return g;
}

AVX512 static inline __m512 grouped_step(__m512i codes, grouped_x x, __m512 scale, __m512 acc) {
    __m512i sums = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), codes, x.x), x.offset_sums);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc);
}

// The four scales of groups g…g+3 as floats (lanes 0–3).
AVX512 static inline __m512 grouped_scales4(const uint16_t *d) {
    return _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d)));
}

AVX512 static inline __m512 grouped_scales2(const uint16_t *d) {
    uint32_t pair;
    __builtin_memcpy(&pair, d, 4);
    return _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128((int)pair)));
}

#define GROUPED_GEMV_AVX512(NAME, BLOCK_BYTES, CODES, OFFSET_SHIFT)                                      \
    AVX512 void NAME(const uint8_t *w, size_t row_bytes, size_t rows, const uint16_t *scales, size_t groups, \
                     const int8_t *x, float *out) {                                                        \
        const grouped_consts c = grouped_setup();                                                          \
        size_t r = 0;                                                                                      \
        for (; r + 2 <= rows; r += 2) {                                                                    \
            const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;                                   \
            const uint16_t *d0 = scales + r * groups, *d1 = d0 + groups;                                   \
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;                                    \
            size_t g = 0;                                                                                  \
            for (; g + 4 <= groups; g += 4) {                                                              \
                const size_t at = (BLOCK_BYTES) * (g / 2);                                                 \
                PREFETCH_AHEAD(w0 + at);                                                                   \
                PREFETCH_AHEAD(w1 + at);                                                                   \
                if ((BLOCK_BYTES) > 32) { PREFETCH_AHEAD(w0 + at + 64); PREFETCH_AHEAD(w1 + at + 64); }       \
                grouped_x x0 = grouped_load_x(&c, x + 32 * g, OFFSET_SHIFT);                               \
                grouped_x x1 = grouped_load_x(&c, x + 32 * g + 64, OFFSET_SHIFT);                          \
                __m512 s0 = grouped_scales4(d0 + g), s1 = grouped_scales4(d1 + g);                          \
                a0 = grouped_step(CODES(&c, w0 + at), x0, _mm512_permutexvar_ps(c.scale_index[0], s0), a0);  \
                b0 = grouped_step(CODES(&c, w1 + at), x0, _mm512_permutexvar_ps(c.scale_index[0], s1), b0);  \
                a1 = grouped_step(CODES(&c, w0 + at + (BLOCK_BYTES)), x1, _mm512_permutexvar_ps(c.scale_index[1], s0), a1); \
                b1 = grouped_step(CODES(&c, w1 + at + (BLOCK_BYTES)), x1, _mm512_permutexvar_ps(c.scale_index[1], s1), b1); \
            }                                                                                              \
            for (; g < groups; g += 2) {                                                                   \
                const size_t at = (BLOCK_BYTES) * (g / 2);                                                 \
                grouped_x x0 = grouped_load_x(&c, x + 32 * g, OFFSET_SHIFT);                               \
                a0 = grouped_step(CODES(&c, w0 + at), x0, _mm512_permutexvar_ps(c.scale_index[0], grouped_scales2(d0 + g)), a0); \
                b0 = grouped_step(CODES(&c, w1 + at), x0, _mm512_permutexvar_ps(c.scale_index[0], grouped_scales2(d1 + g)), b0); \
            }                                                                                              \
            out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));                                          \
            out[r + 1] = _mm512_reduce_add_ps(_mm512_add_ps(b0, b1));                                      \
        }                                                                                                  \
        for (; r < rows; r++) {                                                                            \
            const uint8_t *w0 = w + r * row_bytes;                                                         \
            const uint16_t *d0 = scales + r * groups;                                                      \
            __m512 a0 = _mm512_setzero_ps();                                                               \
            for (size_t g = 0; g < groups; g += 2) {                                                       \
                grouped_x x0 = grouped_load_x(&c, x + 32 * g, OFFSET_SHIFT);                               \
                a0 = grouped_step(CODES(&c, w0 + (BLOCK_BYTES) * (g / 2)), x0,                            \
                                  _mm512_permutexvar_ps(c.scale_index[0], grouped_scales2(d0 + g)), a0);   \
            }                                                                                              \
            out[r] = _mm512_reduce_add_ps(a0);                                                             \
        }                                                                                                  \
    }

GROUPED_GEMV_AVX512(tk_q4_gemv_avx512vnni, 32, grouped_nibbles, 3)
GROUPED_GEMV_AVX512(tk_q6_gemv_avx512vnni, 48, q6_codes, 5)

// ---- AVX2: decode, two rows × 64 weights (two groups) per step ---------------------------------
// As the AVX-512 kernel: unsigned codes into vpmaddubsw (|q·x| pairs stay below 2^15 for q ≤ 63),
// the offset taken off as offset · Σx from lane sums shared by both rows, prefetch ahead, two
// accumulators per row. One vector holds one group: low lane weights 0–15, high lane 16–31.

AVX2 static inline __m256i grouped_nibbles256(const uint8_t *bytes) {
    __m128i v = _mm_loadu_si128((const __m128i *)bytes);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

// q6: group h of the block at `block` (its nibbles at 16h, its top bits at 32 + 8h).
AVX2 static inline __m256i q6_codes256(const uint8_t *block, int h) {
    __m128i v = _mm_loadl_epi64((const __m128i *)(block + 32 + 8 * h));
    v = _mm_unpacklo_epi64(v, v);
    const __m256i shifts = _mm256_set_epi32(6, 6, 4, 4, 2, 2, 0, 0);
    __m256i high = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set_m128i(v, v), shifts), _mm256_set1_epi8(3));
    return _mm256_or_si256(grouped_nibbles256(block + 16 * h), _mm256_slli_epi16(high, 4));
}

// 32 activations and offset · (their sums over each int32 lane's four bytes).
typedef struct { __m256i x, offset_sums; } grouped_x256;

AVX2 static inline grouped_x256 grouped_load_x256(const int8_t *x, int offset_shift) {
    __m256i v = _mm256_loadu_si256((const __m256i *)x);
    __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), v), _mm256_set1_epi16(1));
    grouped_x256 g = {v, _mm256_slli_epi32(sums, offset_shift)};
    return g;
}

AVX2 static inline __m256 grouped_step256(__m256i codes, grouped_x256 x, float d, __m256 acc) {
    __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x.x), _mm256_set1_epi16(1));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sums, x.offset_sums)), _mm256_set1_ps(d), acc);
}

AVX2 static inline float grouped_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define Q4_CODES256(block, h) grouped_nibbles256((block) + 16 * (h))
#define Q6_CODES256(block, h) q6_codes256((block), (h))

#define GROUPED_GEMV_AVX2(NAME, BLOCK_BYTES, CODES, OFFSET_SHIFT)                                        \
    AVX2 void NAME(const uint8_t *w, size_t row_bytes, size_t rows, const uint16_t *scales, size_t groups, \
                   const int8_t *x, float *out) {                                                          \
        size_t r = 0;                                                                                      \
        for (; r + 2 <= rows; r += 2) {                                                                    \
            const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;                                   \
            const uint16_t *d0 = scales + r * groups, *d1 = d0 + groups;                                   \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;                                    \
            for (size_t g = 0; g < groups; g += 2) {                                                       \
                const uint8_t *p0 = w0 + (BLOCK_BYTES) * (g / 2), *p1 = w1 + (BLOCK_BYTES) * (g / 2);      \
                if ((g & 3) == 0 || (BLOCK_BYTES) > 32) { PREFETCH_AHEAD(p0); PREFETCH_AHEAD(p1); }        \
                grouped_x256 x0 = grouped_load_x256(x + 32 * g, OFFSET_SHIFT);                             \
                grouped_x256 x1 = grouped_load_x256(x + 32 * g + 32, OFFSET_SHIFT);                        \
                a0 = grouped_step256(CODES(p0, 0), x0, _cvtsh_ss(d0[g]), a0);                              \
                b0 = grouped_step256(CODES(p1, 0), x0, _cvtsh_ss(d1[g]), b0);                              \
                a1 = grouped_step256(CODES(p0, 1), x1, _cvtsh_ss(d0[g + 1]), a1);                          \
                b1 = grouped_step256(CODES(p1, 1), x1, _cvtsh_ss(d1[g + 1]), b1);                          \
            }                                                                                              \
            out[r] = grouped_hsum256(_mm256_add_ps(a0, a1));                                               \
            out[r + 1] = grouped_hsum256(_mm256_add_ps(b0, b1));                                           \
        }                                                                                                  \
        for (; r < rows; r++) {                                                                            \
            const uint8_t *w0 = w + r * row_bytes;                                                         \
            const uint16_t *d0 = scales + r * groups;                                                      \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;                                                      \
            for (size_t g = 0; g < groups; g += 2) {                                                       \
                const uint8_t *p0 = w0 + (BLOCK_BYTES) * (g / 2);                                          \
                a0 = grouped_step256(CODES(p0, 0), grouped_load_x256(x + 32 * g, OFFSET_SHIFT), _cvtsh_ss(d0[g]), a0); \
                a1 = grouped_step256(CODES(p0, 1), grouped_load_x256(x + 32 * g + 32, OFFSET_SHIFT), _cvtsh_ss(d0[g + 1]), a1); \
            }                                                                                              \
            out[r] = grouped_hsum256(_mm256_add_ps(a0, a1));                                               \
        }                                                                                                  \
    }

GROUPED_GEMV_AVX2(tk_q4_gemv_avx2, 32, Q4_CODES256, 3)
GROUPED_GEMV_AVX2(tk_q6_gemv_avx2, 48, Q6_CODES256, 5)

#else  // not x86: never called (tk_cpu_features() reports no AVX2 and no AVX-512).
void tk_q4_gemv_avx512vnni(const uint8_t *w, size_t rb, size_t rows, const uint16_t *d, size_t g, const int8_t *x, float *o) { (void)w; (void)rb; (void)rows; (void)d; (void)g; (void)x; (void)o; __builtin_trap(); }
void tk_q6_gemv_avx512vnni(const uint8_t *w, size_t rb, size_t rows, const uint16_t *d, size_t g, const int8_t *x, float *o) { (void)w; (void)rb; (void)rows; (void)d; (void)g; (void)x; (void)o; __builtin_trap(); }
void tk_q4_gemv_avx2(const uint8_t *w, size_t rb, size_t rows, const uint16_t *d, size_t g, const int8_t *x, float *o) { (void)w; (void)rb; (void)rows; (void)d; (void)g; (void)x; (void)o; __builtin_trap(); }
void tk_q6_gemv_avx2(const uint8_t *w, size_t rb, size_t rows, const uint16_t *d, size_t g, const int8_t *x, float *o) { (void)w; (void)rb; (void)rows; (void)d; (void)g; (void)x; (void)o; __builtin_trap(); }
#endif

// Kernels of the t1.6 format (docs/FORMAT.md, "t1.6 matrices"): a 64-byte block holds 320
// weights; byte j is the base-3 number c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4 of the codes c_i = w + 1
// of positions 64·i + j. A code vector for 64 consecutive positions comes out of one block by two
// compares, one byte-table lookup (vpermi2b, AVX-512 VBMI) and shifts, then feeds vpdpbusd like
// the 2-bit format's codes: Σ w·x = Σ code·x − Σ x. The scalar reference (TernaryKernels/ScalarKernels.swift) is the oracle.
#include "CTernaryKernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define VBMI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))
#define AVX512 VBMI
#include "reduce512.h"
#include "prefetch.h"
#include "panel512.h"

// The four low digits of r = q mod 81 as 2-bit fields, c0 | c1 << 2 | c2 << 4 | c3 << 6: r < 81 is
// a 7-bit index, so one vpermi2b over two 64-byte tables looks them up (measured on Zen 5: one
// lookup and more shifts is faster than two lookups of nibble pairs or four of single digits).
static uint8_t t16_table[128] __attribute__((aligned(64)));

__attribute__((constructor)) static void t16_fill_table(void) {
    for (int r = 0; r < 128; r++) {
        int v = r < 81 ? r : 0, fields = 0;
        for (int i = 0; i < 4; i++) { fields |= (v % 3) << (2 * i); v /= 3; }
        t16_table[r] = (uint8_t)fields;
    }
}

typedef struct { __m512i t0, t1, low2, c81, c162, one; } t16_luts;

VBMI static inline void t16_load_luts(t16_luts *l) {
    l->t0 = _mm512_load_si512((const void *)t16_table);
    l->t1 = _mm512_load_si512((const void *)(t16_table + 64));
    l->low2 = _mm512_set1_epi8(3);
    l->c81 = _mm512_set1_epi8(81);
    l->c162 = _mm512_set1_epi8((char)162);
    l->one = _mm512_set1_epi8(1);
}

// A block decoded to two vectors: the low digits' fields, and the top digit c4 by two unsigned
// compares (q ≥ 81, q ≥ 162), which also take it off q. Each digit then takes at most two more
// operations.
typedef struct { __m512i fields, c4; } t16_block;

VBMI static inline t16_block t16_decode_packed(const t16_luts *l, const uint8_t *block) {
    __m512i q = _mm512_loadu_si512((const void *)block);
    __mmask64 ge81 = _mm512_cmpge_epu8_mask(q, l->c81), ge162 = _mm512_cmpge_epu8_mask(q, l->c162);
    __m512i r = _mm512_mask_sub_epi8(q, ge81, q, l->c81);
    r = _mm512_mask_sub_epi8(r, ge162, r, l->c81);
    __m512i c4 = _mm512_maskz_mov_epi8(ge81, l->one);
    t16_block b = {_mm512_permutex2var_epi8(l->t0, r, l->t1), _mm512_mask_add_epi8(c4, ge162, c4, l->one)};
    return b;
}

// Digit i's codes (64 consecutive positions). A 16-bit shift carries the next byte's low bits into
// this byte's top, which the mask clears.
VBMI static inline __m512i t16_digit(const t16_luts *l, t16_block b, int i) {
    switch (i) {
    case 0: return _mm512_and_si512(b.fields, l->low2);
    case 1: return _mm512_and_si512(_mm512_srli_epi16(b.fields, 2), l->low2);
    case 2: return _mm512_and_si512(_mm512_srli_epi16(b.fields, 4), l->low2);
    case 3: return _mm512_and_si512(_mm512_srli_epi16(b.fields, 6), l->low2);
    default: return b.c4;
    }
}

// The five code vectors of one block (positions 0–63, 64–127, …, 256–319 of the block).
VBMI static inline void t16_decode(const t16_luts *l, const uint8_t *block, __m512i c[5]) {
    t16_block b = t16_decode_packed(l, block);
    for (int i = 0; i < 5; i++) c[i] = t16_digit(l, b, i);
}

// The GEMV's digits: each low digit masked where it lies in the fields byte (c_i · 4^i, at most
// 2 · 64, so still a u8 operand) instead of shifted down, which saves three shifts per block. Each
// digit has its own accumulator, so its sums are exact multiples of 4^i: an arithmetic right shift
// by 2i at the end recovers them (t16_scaled_sum).
VBMI static inline void t16_decode_scaled(const t16_luts *l, const uint8_t *block, __m512i c[5]) {
    t16_block b = t16_decode_packed(l, block);
    c[0] = _mm512_and_si512(b.fields, l->low2);
    c[1] = _mm512_and_si512(b.fields, _mm512_slli_epi16(l->low2, 2));
    c[2] = _mm512_and_si512(b.fields, _mm512_slli_epi16(l->low2, 4));
    c[3] = _mm512_and_si512(b.fields, _mm512_slli_epi16(l->low2, 6));
    c[4] = b.c4;
}

VBMI static inline int32_t t16_scaled_sum(const __m512i a[5]) {
    __m512i s = _mm512_add_epi32(a[0], _mm512_srai_epi32(a[1], 2));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_srai_epi32(a[2], 4), _mm512_srai_epi32(a[3], 6)));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s, a[4]));
}

// Two rows against eight tokens: every activation load feeds both rows (one load per two
// vpdpbusd, as the 2-bit GEMM), sixteen accumulators reduced together at the end.
VBMI static inline void t16_rows2_tokens8(const t16_luts *l, const uint8_t *w0, const uint8_t *w1, size_t blocks,
                                          const int8_t *x, size_t x_stride, const int32_t *xsum,
                                          int32_t *out, size_t out_stride) {
    __m512i a[8], b[8];
    _Pragma("clang loop unroll(full)") for (int t = 0; t < 8; t++) a[t] = b[t] = _mm512_setzero_si512();
    for (size_t k = 0; k < blocks; k++) {
        t16_block d0 = t16_decode_packed(l, w0 + 64 * k), d1 = t16_decode_packed(l, w1 + 64 * k);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) {
            __m512i c0 = t16_digit(l, d0, i), c1 = t16_digit(l, d1, i);
            _Pragma("clang loop unroll(full)") for (int t = 0; t < 8; t++) {
                __m512i xv = _mm512_loadu_si512(x + t * x_stride + 320 * k + 64 * i);
                a[t] = _mm512_dpbusd_epi32(a[t], c0, xv);
                b[t] = _mm512_dpbusd_epi32(b[t], c1, xv);
            }
        }
    }
    const __m512i z = _mm512_setzero_si512();
    __m512i sums = reduce16_512(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7], z);
    int32_t tmp[16];
    _mm512_storeu_si512(tmp, sums);
    for (int t = 0; t < 8; t++) {
        out[t * out_stride] = tmp[2 * t] - xsum[t];
        out[t * out_stride + 1] = tmp[2 * t + 1] - xsum[t];
    }
}

VBMI void tk_t16_gemv_avx512vbmi(const uint8_t *w, size_t row_bytes, size_t rows,
                                 const int8_t *x, int32_t xsum, int32_t *out) {
    t16_luts l;
    t16_load_luts(&l);
    size_t blocks = row_bytes / 64;
    size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;
        // One accumulator per digit and row: ten independent vpdpbusd chains.
        __m512i a[5], b[5];
        for (int i = 0; i < 5; i++) a[i] = b[i] = _mm512_setzero_si512();
        for (size_t k = 0; k < blocks; k++) {
            PREFETCH_AHEAD(w0 + 64 * k);
            PREFETCH_AHEAD(w1 + 64 * k);
            const int8_t *xb = x + 320 * k;
            __m512i c[5], d[5];
            t16_decode_scaled(&l, w0 + 64 * k, c);
            t16_decode_scaled(&l, w1 + 64 * k, d);
            for (int i = 0; i < 5; i++) {
                __m512i xi = _mm512_loadu_si512(xb + 64 * i);
                a[i] = _mm512_dpbusd_epi32(a[i], c[i], xi);
                b[i] = _mm512_dpbusd_epi32(b[i], d[i], xi);
            }
        }
        out[r] = t16_scaled_sum(a) - xsum;
        out[r + 1] = t16_scaled_sum(b) - xsum;
    }
    for (; r < rows; r++) {
        const uint8_t *w0 = w + r * row_bytes;
        __m512i a = _mm512_setzero_si512();
        for (size_t k = 0; k < blocks; k++) {
            __m512i c[5];
            t16_decode(&l, w0 + 64 * k, c);
            for (int i = 0; i < 5; i++) a = _mm512_dpbusd_epi32(a, c[i], _mm512_loadu_si512(x + 320 * k + 64 * i));
        }
        out[r] = _mm512_reduce_add_epi32(a) - xsum;
    }
}

// One row against N (8 or 1) tokens: each block is decoded
// once for all of them. Digits outside, tokens inside, fully unrolled: consecutive vpdpbusd go
// to different accumulators (a chain of five on one accumulator would wait on its latency).
#define T16_ROW_TOKENS(N)                                                                              \
    VBMI static inline void t16_row_tokens_##N(const t16_luts *l, const uint8_t *row, size_t blocks,  \
                                               const int8_t *x, size_t x_stride, const int32_t *xsum,  \
                                               int32_t *out, size_t out_stride) {                      \
        __m512i acc[N];                                                                                \
        _Pragma("clang loop unroll(full)") for (int t = 0; t < N; t++) acc[t] = _mm512_setzero_si512(); \
        for (size_t k = 0; k < blocks; k++) {                                                          \
            __m512i c[5];                                                                              \
            t16_decode(l, row + 64 * k, c);                                                            \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) {                           \
                _Pragma("clang loop unroll(full)") for (int t = 0; t < N; t++)                         \
                    acc[t] = _mm512_dpbusd_epi32(acc[t], c[i],                                         \
                                                 _mm512_loadu_si512(x + t * x_stride + 320 * k + 64 * i)); \
            }                                                                                          \
        }                                                                                              \
        _Pragma("clang loop unroll(full)") for (int t = 0; t < N; t++)                                 \
            out[t * out_stride] = _mm512_reduce_add_epi32(acc[t]) - xsum[t];                           \
    }
T16_ROW_TOKENS(8)
T16_ROW_TOKENS(1)

// Sixteen vectors of sixteen dwords, transposed in place: v[q] dword r ← v[r] dword q. Interleaves
// of dwords, then of qwords, put four rows' dword 4L + j in lane L of one vector; two rounds of
// 128-bit lane shuffles gather each dword's four lanes.
VBMI static inline void transpose16x16_epi32(__m512i v[16]) {
    __m512i a[16], b[16];
    _Pragma("clang loop unroll(full)") for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
    }
    _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) {
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    // b[4i + j], lane L: rows 4i…4i+3 at dword 4L + j.
    _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
        __m512i c = _mm512_shuffle_i32x4(b[j], b[4 + j], 0x88), d = _mm512_shuffle_i32x4(b[j], b[4 + j], 0xDD);
        __m512i e = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0x88), f = _mm512_shuffle_i32x4(b[8 + j], b[12 + j], 0xDD);
        v[j] = _mm512_shuffle_i32x4(c, e, 0x88);
        v[8 + j] = _mm512_shuffle_i32x4(c, e, 0xDD);
        v[4 + j] = _mm512_shuffle_i32x4(d, f, 0x88);
        v[12 + j] = _mm512_shuffle_i32x4(d, f, 0xDD);
    }
}

// The t1.6 format's unpack into a panel (panel512.h): each row's block decodes to five vectors of
// 64 consecutive codes (a row's bytes, in position order); a 16 × 16 dword transpose of sixteen
// rows' vectors of one digit gives the panel vectors of those 64 positions.
VBMI static void t16_unpack_panel(const uint8_t *w, size_t row_bytes, size_t rows, size_t k0, size_t kn, uint8_t *panel) {
    t16_luts l;
    t16_load_luts(&l);
    __m512i codes[5][16];
    for (size_t half = 0; half < 2; half++) {
        size_t base = 16 * half;
        for (size_t b = 0; b < kn / 320; b++) {
            const uint8_t *block = w + (k0 / 320 + b) * 64;
            for (size_t r = 0; r < 16; r++) {
                if (base + r < rows) {
                    __m512i c[5];
                    t16_decode(&l, block + (base + r) * row_bytes, c);
                    for (int i = 0; i < 5; i++) codes[i][r] = c[i];
                } else {
                    for (int i = 0; i < 5; i++) codes[i][r] = _mm512_setzero_si512();
                }
            }
            for (int i = 0; i < 5; i++) {
                transpose16x16_epi32(codes[i]);
                uint8_t *dst = panel + 64 * half + 128 * (80 * b + 16 * i);
                for (int q = 0; q < 16; q++) _mm512_store_si512((void *)(dst + 128 * q), codes[i][q]);
            }
        }
    }
}

VBMI void tk_t16_gemm_avx512vbmi(const uint8_t *w, size_t row_bytes, size_t rows,
                                 const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                                 int32_t *out, size_t out_stride) {
    size_t blocks = row_bytes / 64;
    // A prefill (more than 16 tokens): panels of unpacked codes that every token reuses (panel512.h).
    if (ntok > 16) {
        panel_gemm_512(w, row_bytes, rows, blocks * 320, 640, t16_unpack_panel, x, x_stride, xsum, ntok, out, out_stride);
        return;
    }
    // A decode batch (up to 16 tokens, one per sequence): one pass over the weights, each block
    // decoded once for eight tokens.
    t16_luts l;
    t16_load_luts(&l);
    size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;
        size_t t = 0;
        for (; t + 8 <= ntok; t += 8)
            t16_rows2_tokens8(&l, w0, w1, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride);
        for (; t < ntok; t++) {
            t16_row_tokens_1(&l, w0, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride);
            t16_row_tokens_1(&l, w1, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r + 1, out_stride);
        }
    }
    for (; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        size_t t = 0;
        for (; t + 8 <= ntok; t += 8)
            t16_row_tokens_8(&l, row, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride);
        for (; t < ntok; t++)
            t16_row_tokens_1(&l, row, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride);
    }
}

// ---- AVX2 ---------------------------------------------------------------------------------------
// No 128-entry byte lookup here, so arithmetic instead, on 32 bytes (half a block) at a time:
// the top digit by two unsigned compares (as above), then r = q mod 81 split as 9·a + b with a
// 16-bit multiply-high (a = r / 9 < 9, b = r mod 9 < 9), and the four low digits by 16-entry
// byte lookups (vpshufb) of a and b. Codes feed vpmaddubsw: five digits' 16-bit pair sums add
// up to at most 5 · 2 · 2 · 127 = 2540, one vpmaddwd per half block.
#define AVX2T __attribute__((target("avx2")))

typedef struct { __m256i c81, c162, sign, nine_mul, low_byte, digit0, digit1, ones16; } t16_avx2_consts;

AVX2T static inline void t16_avx2_load_consts(t16_avx2_consts *k) {
    k->c81 = _mm256_set1_epi8(81);
    k->c162 = _mm256_set1_epi8((char)162);
    k->sign = _mm256_set1_epi8((char)0x80);
    k->nine_mul = _mm256_set1_epi16(7282);  // ⌈65536 / 9⌉: (v · 7282) >> 16 = v / 9 for v < 81
    k->low_byte = _mm256_set1_epi16(0x00FF);
    // Digits of v < 9: v mod 3 and v / 3, repeated in both 128-bit lanes (vpshufb is per lane).
    k->digit0 = _mm256_setr_epi8(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0);
    k->digit1 = _mm256_setr_epi8(0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0);
    k->ones16 = _mm256_set1_epi16(1);
}

// The five code vectors of 32 packed bytes: c[i] holds digit i of each byte.
AVX2T static inline void t16_avx2_decode(const t16_avx2_consts *k, const uint8_t *bytes, __m256i c[5]) {
    __m256i q = _mm256_loadu_si256((const __m256i *)bytes);
    // Unsigned q ≥ 81 and q ≥ 162 as signed compares of q − 128 against 80 − 128 and 161 − 128.
    __m256i qs = _mm256_xor_si256(q, k->sign);
    __m256i ge81 = _mm256_cmpgt_epi8(qs, _mm256_xor_si256(_mm256_sub_epi8(k->c81, _mm256_set1_epi8(1)), k->sign));
    __m256i ge162 = _mm256_cmpgt_epi8(qs, _mm256_xor_si256(_mm256_sub_epi8(k->c162, _mm256_set1_epi8(1)), k->sign));
    __m256i r = _mm256_sub_epi8(_mm256_sub_epi8(q, _mm256_and_si256(ge81, k->c81)), _mm256_and_si256(ge162, k->c81));
    c[4] = _mm256_abs_epi8(_mm256_add_epi8(ge81, ge162));  // masks are −1: the count of compares met
    // a = r / 9 per byte: even bytes in the low halves of 16-bit lanes, odd bytes shifted down.
    __m256i even = _mm256_mulhi_epu16(_mm256_and_si256(r, k->low_byte), k->nine_mul);
    __m256i odd = _mm256_mulhi_epu16(_mm256_srli_epi16(r, 8), k->nine_mul);
    __m256i a = _mm256_or_si256(even, _mm256_slli_epi16(odd, 8));
    // b = r − 9a (8a < 72 fits its byte, so the 16-bit shift carries nothing across).
    __m256i b = _mm256_sub_epi8(r, _mm256_add_epi8(_mm256_slli_epi16(a, 3), a));
    c[0] = _mm256_shuffle_epi8(k->digit0, b);
    c[1] = _mm256_shuffle_epi8(k->digit1, b);
    c[2] = _mm256_shuffle_epi8(k->digit0, a);
    c[3] = _mm256_shuffle_epi8(k->digit1, a);
}

// Σ code · x over half a block (160 weights): x at positions 64·i + the half's 32 columns.
AVX2T static inline __m256i t16_avx2_dot(const t16_avx2_consts *k, const __m256i c[5], const int8_t *x) {
    __m256i s = _mm256_maddubs_epi16(c[0], _mm256_loadu_si256((const __m256i *)x));
    for (int i = 1; i < 5; i++) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(c[i], _mm256_loadu_si256((const __m256i *)(x + 64 * i))));
    return _mm256_madd_epi16(s, k->ones16);
}

AVX2T static inline int32_t t16_hsum_256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

AVX2T void tk_t16_gemv_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                            const int8_t *x, int32_t xsum, int32_t *out) {
    t16_avx2_consts k;
    t16_avx2_load_consts(&k);
    size_t blocks = row_bytes / 64;
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        for (size_t b = 0; b < blocks; b++) {
            PREFETCH_AHEAD(row + 64 * b);
            const int8_t *xb = x + 320 * b;
            __m256i c[5], d[5];
            t16_avx2_decode(&k, row + 64 * b, c);
            t16_avx2_decode(&k, row + 64 * b + 32, d);
            a0 = _mm256_add_epi32(a0, t16_avx2_dot(&k, c, xb));
            a1 = _mm256_add_epi32(a1, t16_avx2_dot(&k, d, xb + 32));
        }
        out[r] = t16_hsum_256(_mm256_add_epi32(a0, a1)) - xsum;
    }
}

// Each half block decoded once for four tokens (then one at a time for the rest).
AVX2T void tk_t16_gemm_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                            const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                            int32_t *out, size_t out_stride) {
    t16_avx2_consts k;
    t16_avx2_load_consts(&k);
    size_t blocks = row_bytes / 64;
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *row = w + r * row_bytes;
        size_t t = 0;
        for (; t + 4 <= ntok; t += 4) {
            const int8_t *x0 = x + t * x_stride;
            __m256i a[4];
            for (int j = 0; j < 4; j++) a[j] = _mm256_setzero_si256();
            for (size_t b = 0; b < blocks; b++) {
                for (int h = 0; h < 2; h++) {
                    __m256i c[5];
                    t16_avx2_decode(&k, row + 64 * b + 32 * h, c);
                    for (int j = 0; j < 4; j++) a[j] = _mm256_add_epi32(a[j], t16_avx2_dot(&k, c, x0 + j * x_stride + 320 * b + 32 * h));
                }
            }
            for (int j = 0; j < 4; j++) out[(t + j) * out_stride + r] = t16_hsum_256(a[j]) - xsum[t + j];
        }
        for (; t < ntok; t++) tk_t16_gemv_avx2(row, row_bytes, 1, x + t * x_stride, xsum[t], out + t * out_stride + r);
    }
}

#else  // not x86: never called (tk_cpu_features() reports no VBMI and no AVX2).
void tk_t16_gemv_avx2(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)rb; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_t16_gemm_avx2(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, size_t xs, const int32_t *s, size_t n, int32_t *o, size_t os) { (void)w; (void)rb; (void)rows; (void)x; (void)xs; (void)s; (void)n; (void)o; (void)os; __builtin_trap(); }
void tk_t16_gemv_avx512vbmi(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)rb; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_t16_gemm_avx512vbmi(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, size_t xs, const int32_t *s, size_t n, int32_t *o, size_t os) { (void)w; (void)rb; (void)rows; (void)x; (void)xs; (void)s; (void)n; (void)o; (void)os; __builtin_trap(); }
#endif

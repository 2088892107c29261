// x86 SIMD kernels. Every function has its own target attribute and is only called after
// tk_cpu_features() says the CPU has the instructions; the scalar reference lives in Swift
// (TernaryKernels/ScalarKernels.swift) and is the oracle for the tests.
#include "CTernaryKernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

int tk_cpu_features(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    __builtin_cpu_init();
    int f = 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= TK_ISA_AVX2;
    if ((f & TK_ISA_AVX2) && __builtin_cpu_supports("avxvnni")) f |= TK_ISA_AVXVNNI;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) f |= TK_ISA_AVX512VNNI;
    if ((f & TK_ISA_AVX2) && __builtin_cpu_supports("f16c")) f |= TK_ISA_F16C_FMA;
    if ((f & TK_ISA_AVX512VNNI) && __builtin_cpu_supports("avx512vbmi")) f |= TK_ISA_AVX512VBMI;
    cached = f;
    return f;
}

#define AVX2 __attribute__((target("avx2,fma")))
#include "prefetch.h"
#define AVXVNNI __attribute__((target("avx2,fma,avxvnni")))
#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#include "reduce512.h"
#include "panel512.h"

AVX2 static inline int32_t hsum_epi32_256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

// One 16-byte block -> codes of positions 0..31 (lo) and 32..63 (hi), one byte each.
#define UNPACK_BLOCK_256(ptr, lo, hi)                                                 \
    do {                                                                              \
        __m256i v_ = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(ptr))); \
        lo = _mm256_and_si256(_mm256_srlv_epi32(v_, sh01), m3);                       \
        hi = _mm256_and_si256(_mm256_srlv_epi32(v_, sh23), m3);                       \
    } while (0)

#define SHIFTS_256                                                                    \
    const __m256i sh01 = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);                   \
    const __m256i sh23 = _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6);                   \
    const __m256i m3 = _mm256_set1_epi8(3)

// AVX2: vpmaddubsw(codes, x) gives int16 pairs of at most 2*2*128 = 512; two per block add to
// 1024, so 16 blocks fit in int16 before widening with vpmaddwd.
AVX2 static inline int32_t dot_row_avx2(const uint8_t *w, size_t blocks, const int8_t *x) {
    SHIFTS_256;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    size_t b = 0;
    while (b < blocks) {
        size_t end = b + 16 < blocks ? b + 16 : blocks;
        __m256i acc16 = _mm256_setzero_si256();
        for (; b < end; b++) {
            if ((b & 3) == 0) PREFETCH_AHEAD(w + 16 * b);
            __m256i lo, hi;
            UNPACK_BLOCK_256(w + 16 * b, lo, hi);
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + 64 * b));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + 64 * b + 32));
            acc16 = _mm256_add_epi16(acc16, _mm256_maddubs_epi16(lo, x0));
            acc16 = _mm256_add_epi16(acc16, _mm256_maddubs_epi16(hi, x1));
        }
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(acc16, ones));
    }
    return hsum_epi32_256(acc);
}

AVX2 void tk_ternary_gemv_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                               const int8_t *x, int32_t xsum, int32_t *out) {
    size_t blocks = row_bytes / 16;
    for (size_t r = 0; r < rows; r++) out[r] = dot_row_avx2(w + r * row_bytes, blocks, x) - xsum;
}

// Prefill on the AVX2 path: tokens in tiles whose activations fit in 40 KB, so they stay in the
// 48 KB L1 while the rows pass over them; a decode batch of up to 16 tokens (on the AVX2 and
// AVX-VNNI paths) stays one tile, one pass over the weights.
static inline size_t l1_token_tile(size_t blocks, size_t ntok) {
    if (ntok <= 16) return ntok;
    size_t tile = 40960 / (blocks * 64 + 1) / 4 * 4;
    return tile < 4 ? 4 : tile;
}

AVX2 void tk_ternary_gemm_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                               const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                               int32_t *out, size_t out_stride) {
    SHIFTS_256;
    const __m256i ones = _mm256_set1_epi16(1);
    size_t blocks = row_bytes / 16;
    size_t tile = l1_token_tile(blocks, ntok);
    for (size_t t0 = 0; t0 < ntok; t0 += tile) {
        size_t t1 = t0 + tile < ntok ? t0 + tile : ntok;
        for (size_t r = 0; r < rows; r++) {
            const uint8_t *wr = w + r * row_bytes;
            size_t t = t0;
            for (; t + 4 <= t1; t += 4) {
                const int8_t *x0p = x + t * x_stride, *x1p = x0p + x_stride, *x2p = x1p + x_stride, *x3p = x2p + x_stride;
                __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
                size_t b = 0;
                while (b < blocks) {
                    size_t end = b + 16 < blocks ? b + 16 : blocks;
                    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
                    for (; b < end; b++) {
                        __m256i lo, hi;
                        UNPACK_BLOCK_256(wr + 16 * b, lo, hi);
                        size_t o = 64 * b;
#define TOK(s, p)                                                                                   \
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(p + o)))); \
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(p + o + 32))))
                        TOK(s0, x0p); TOK(s1, x1p); TOK(s2, x2p); TOK(s3, x3p);
#undef TOK
                    }
                    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(s0, ones));
                    a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(s1, ones));
                    a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(s2, ones));
                    a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(s3, ones));
                }
                out[(t + 0) * out_stride + r] = hsum_epi32_256(a0) - xsum[t + 0];
                out[(t + 1) * out_stride + r] = hsum_epi32_256(a1) - xsum[t + 1];
                out[(t + 2) * out_stride + r] = hsum_epi32_256(a2) - xsum[t + 2];
                out[(t + 3) * out_stride + r] = hsum_epi32_256(a3) - xsum[t + 3];
            }
            for (; t < t1; t++) out[t * out_stride + r] = dot_row_avx2(wr, blocks, x + t * x_stride) - xsum[t];
        }
    }
}

// AVX-VNNI: vpdpbusd accumulates four u8*s8 products straight into int32. As in the AVX-512 path,
// lane masks replace shifts: the block is broadcast to both 128-bit lanes, and the low half keeps
// bits 0-1 (lane 0) and 2-3 (lane 1), the high half bits 4-5 and 6-7, so lane t holds code · 4^t
// in position order. Low and high halves accumulate separately and one arithmetic shift per lane
// removes the scale at the end of the row (exact: every lane sum is a multiple of its 4^t).
#define MASKS_256                                                                                 \
    const __m256i mask_lo = _mm256_setr_epi32(0x03030303, 0x03030303, 0x03030303, 0x03030303,    \
                                              0x0C0C0C0C, 0x0C0C0C0C, 0x0C0C0C0C, 0x0C0C0C0C);    \
    const __m256i mask_hi = _mm256_setr_epi32(0x30303030, 0x30303030, 0x30303030, 0x30303030,    \
                                              (int)0xC0C0C0C0, (int)0xC0C0C0C0, (int)0xC0C0C0C0, (int)0xC0C0C0C0); \
    const __m256i shift_lo = _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2);                          \
    const __m256i shift_hi = _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)
#define BLOCK_256(ptr) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(ptr)))
#define FINISH_256(lo, hi) hsum_epi32_256(_mm256_add_epi32(_mm256_srav_epi32(lo, shift_lo), _mm256_srav_epi32(hi, shift_hi)))

AVXVNNI static inline int32_t dot_row_avxvnni(const uint8_t *w, size_t blocks, const int8_t *x) {
    MASKS_256;
    __m256i lo = _mm256_setzero_si256(), hi = lo;
    for (size_t b = 0; b < blocks; b++) {
        if ((b & 3) == 0) PREFETCH_AHEAD(w + 16 * b);
        __m256i v = BLOCK_256(w + 16 * b);
        lo = _mm256_dpbusd_avx_epi32(lo, _mm256_and_si256(v, mask_lo), _mm256_loadu_si256((const __m256i *)(x + 64 * b)));
        hi = _mm256_dpbusd_avx_epi32(hi, _mm256_and_si256(v, mask_hi), _mm256_loadu_si256((const __m256i *)(x + 64 * b + 32)));
    }
    return FINISH_256(lo, hi);
}

AVXVNNI void tk_ternary_gemv_avxvnni(const uint8_t *w, size_t row_bytes, size_t rows,
                                     const int8_t *x, int32_t xsum, int32_t *out) {
    size_t blocks = row_bytes / 16;
    for (size_t r = 0; r < rows; r++) out[r] = dot_row_avxvnni(w + r * row_bytes, blocks, x) - xsum;
}

// AVX-VNNI prefill (more than 16 tokens): the panel scheme of panel512.h at 256 bits, with the 16
// vector registers VEX encoding allows. A panel is 16 rows × 512 weights of plain codes (8 KB), two
// 32-byte vectors per four weights (rows 0–7, 8–15; byte 4r + i = row r's code of weight k + i);
// six tokens per step: 12 accumulators, two code vectors and one broadcast.
#define PANEL256_ROWS 16
#define PANEL256_K 512
#define PANEL256_TOKENS 6

// 2-bit rows → panel: each row's block unpacks to its codes in position order (as the AVX2 GEMV
// does); an 8 × 8 dword transpose of eight rows' vectors gives the panel vectors of 32 positions.
AVXVNNI static void ternary_unpack_panel256(const uint8_t *w, size_t row_bytes, size_t rows, size_t k0, size_t kn, uint8_t *panel) {
    SHIFTS_256;
    static const uint8_t none[16];
    for (size_t half = 0; half < 2; half++) {
        for (size_t b = 0; b < kn / 64; b++) {
            __m256i lo[8], hi[8];
            for (size_t r = 0; r < 8; r++) {
                size_t row = 8 * half + r;
                const uint8_t *block = row < rows ? w + row * row_bytes + (k0 / 64 + b) * 16 : none;
                UNPACK_BLOCK_256(block, lo[r], hi[r]);
            }
            for (int part = 0; part < 2; part++) {
                __m256i *v = part ? hi : lo, t[8], u[8];
                for (int i = 0; i < 4; i++) {
                    t[2 * i] = _mm256_unpacklo_epi32(v[2 * i], v[2 * i + 1]);
                    t[2 * i + 1] = _mm256_unpackhi_epi32(v[2 * i], v[2 * i + 1]);
                }
                for (int i = 0; i < 2; i++) {
                    u[4 * i] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
                    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
                    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
                    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
                }
                // u[4i + j], lane L: rows 4i…4i+3 at dword 4L + j.
                uint8_t *dst = panel + 32 * half + 64 * (16 * b + 8 * part);
                for (int j = 0; j < 4; j++) {
                    _mm256_store_si256((__m256i *)(dst + 64 * j), _mm256_permute2x128_si256(u[j], u[4 + j], 0x20));
                    _mm256_store_si256((__m256i *)(dst + 64 * (4 + j)), _mm256_permute2x128_si256(u[j], u[4 + j], 0x31));
                }
            }
        }
    }
}

AVXVNNI static inline __attribute__((always_inline)) void panel256_tokens(
    const int N, const uint8_t *panel, size_t steps, const int8_t *x, size_t x_stride, const int32_t *xsum, int first, int last,
    int32_t *out, size_t out_stride, __m256i m0, __m256i m1) {
    __m256i a[PANEL256_TOKENS], b[PANEL256_TOKENS];
    _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) {
        a[j] = first ? _mm256_setzero_si256() : _mm256_maskload_epi32(out + j * out_stride, m0);
        b[j] = first ? _mm256_setzero_si256() : _mm256_maskload_epi32(out + j * out_stride + 8, m1);
    }
    for (size_t s = 0; s < steps; s++) {
        __m256i w0 = _mm256_load_si256((const __m256i *)(panel + 64 * s)), w1 = _mm256_load_si256((const __m256i *)(panel + 64 * s + 32));
        _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) {
            int32_t four;
            memcpy(&four, x + j * x_stride + 4 * s, 4);
            __m256i v = _mm256_set1_epi32(four);
            a[j] = _mm256_dpbusd_avx_epi32(a[j], w0, v);
            b[j] = _mm256_dpbusd_avx_epi32(b[j], w1, v);
        }
    }
    _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) {
        if (last) {
            __m256i sum = _mm256_set1_epi32(xsum[j]);
            a[j] = _mm256_sub_epi32(a[j], sum);
            b[j] = _mm256_sub_epi32(b[j], sum);
        }
        _mm256_maskstore_epi32(out + j * out_stride, m0, a[j]);
        _mm256_maskstore_epi32(out + j * out_stride + 8, m1, b[j]);
    }
}

AVXVNNI static void ternary_panel_gemm_avxvnni(const uint8_t *w, size_t row_bytes, size_t rows, const int8_t *x, size_t x_stride,
                                               const int32_t *xsum, size_t ntok, int32_t *out, size_t out_stride) {
    uint8_t panel[PANEL256_K * PANEL256_ROWS] __attribute__((aligned(32)));
    const size_t k_padded = row_bytes * 4;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (size_t r0 = 0; r0 < rows; r0 += PANEL256_ROWS) {
        size_t here = rows - r0 < PANEL256_ROWS ? rows - r0 : PANEL256_ROWS;
        __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)here), lane), m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)here - 8), lane);
        for (size_t k0 = 0; k0 < k_padded; k0 += PANEL256_K) {
            size_t kn = k_padded - k0 < PANEL256_K ? k_padded - k0 : PANEL256_K;
            ternary_unpack_panel256(w + r0 * row_bytes, row_bytes, here, k0, kn, panel);
            prefetch_next_panel(w, row_bytes, rows, k_padded, PANEL256_ROWS, PANEL256_K, r0, k0);
            int first = k0 == 0, last = k0 + kn >= k_padded;
            size_t steps = kn / 4, t = 0;
            const int8_t *xk = x + k0;
            int32_t *o = out + r0;
#define PANEL_CALL(N) panel256_tokens(N, panel, steps, xk + t * x_stride, x_stride, xsum + t, first, last, o + t * out_stride, out_stride, m0, m1)
            for (; t + PANEL256_TOKENS <= ntok; t += PANEL256_TOKENS) PANEL_CALL(PANEL256_TOKENS);
            if (t + 4 <= ntok) { PANEL_CALL(4); t += 4; }
            if (t + 2 <= ntok) { PANEL_CALL(2); t += 2; }
            if (t < ntok) { PANEL_CALL(1); t += 1; }
#undef PANEL_CALL
        }
    }
}

AVXVNNI void tk_ternary_gemm_avxvnni(const uint8_t *w, size_t row_bytes, size_t rows,
                                     const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                                     int32_t *out, size_t out_stride) {
    if (ntok > 16) {
        ternary_panel_gemm_avxvnni(w, row_bytes, rows, x, x_stride, xsum, ntok, out, out_stride);
        return;
    }
    MASKS_256;
    size_t blocks = row_bytes / 16;
    size_t tile = l1_token_tile(blocks, ntok);
    for (size_t t0 = 0; t0 < ntok; t0 += tile) {
        size_t t1 = t0 + tile < ntok ? t0 + tile : ntok;
        for (size_t r = 0; r < rows; r++) {
            const uint8_t *wr = w + r * row_bytes;
            size_t t = t0;
            for (; t + 4 <= t1; t += 4) {
                const int8_t *p0 = x + t * x_stride, *p1 = p0 + x_stride, *p2 = p1 + x_stride, *p3 = p2 + x_stride;
                __m256i l0 = _mm256_setzero_si256(), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
                for (size_t b = 0; b < blocks; b++) {
                    __m256i v = BLOCK_256(wr + 16 * b);
                    __m256i lo = _mm256_and_si256(v, mask_lo), hi = _mm256_and_si256(v, mask_hi);
                    size_t o = 64 * b;
#define TOK(l, h, p)                                                                        \
    l = _mm256_dpbusd_avx_epi32(l, lo, _mm256_loadu_si256((const __m256i *)(p + o)));      \
    h = _mm256_dpbusd_avx_epi32(h, hi, _mm256_loadu_si256((const __m256i *)(p + o + 32)))
                    TOK(l0, h0, p0); TOK(l1, h1, p1); TOK(l2, h2, p2); TOK(l3, h3, p3);
#undef TOK
                }
                out[(t + 0) * out_stride + r] = FINISH_256(l0, h0) - xsum[t + 0];
                out[(t + 1) * out_stride + r] = FINISH_256(l1, h1) - xsum[t + 1];
                out[(t + 2) * out_stride + r] = FINISH_256(l2, h2) - xsum[t + 2];
                out[(t + 3) * out_stride + r] = FINISH_256(l3, h3) - xsum[t + 3];
            }
            for (; t < t1; t++) out[t * out_stride + r] = dot_row_avxvnni(wr, blocks, x + t * x_stride) - xsum[t];
        }
    }
}

// AVX-512 VNNI: the 16-byte block is broadcast to the four 128-bit lanes and lane group t keeps
// only bits 2t..2t+1 of each byte (a mask, no shift): lane group t then holds code · 4^t for
// positions 16t..16t+15, in position order, so vpdpbusd can use the activations as they are.
// Each accumulator lane of group t is a multiple of 4^t; an exact arithmetic shift right by 2t
// per row removes the scale. This costs one vpandd (ports 0/5) and one vpdpbusd per block
// instead of a variable shift as well, halving port-0 pressure. code · 4^t ≤ 128 fits the
// unsigned byte operand; |lane| ≤ 64 · 2 · 128 · K stays in int32 for K < 131072.
#define SHIFTS_512                                                                                   \
    const __m512i lane_masks = _mm512_setr_epi32(0x03030303, 0x03030303, 0x03030303, 0x03030303,     \
                                                 0x0C0C0C0C, 0x0C0C0C0C, 0x0C0C0C0C, 0x0C0C0C0C,     \
                                                 0x30303030, 0x30303030, 0x30303030, 0x30303030,     \
                                                 (int)0xC0C0C0C0, (int)0xC0C0C0C0, (int)0xC0C0C0C0, (int)0xC0C0C0C0); \
    const __m512i lane_shifts = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6)
#define UNPACK_BLOCK_512(ptr) \
    _mm512_and_si512(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(ptr))), lane_masks)
#define FINISH_512(acc) _mm512_reduce_add_epi32(_mm512_srav_epi32((acc), lane_shifts))

AVX512 static inline int32_t dot_row_avx512(const uint8_t *w, size_t blocks, const int8_t *x) {
    SHIFTS_512;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0;
    size_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        acc0 = _mm512_dpbusd_epi32(acc0, UNPACK_BLOCK_512(w + 16 * b), _mm512_loadu_si512(x + 64 * b));
        acc1 = _mm512_dpbusd_epi32(acc1, UNPACK_BLOCK_512(w + 16 * b + 16), _mm512_loadu_si512(x + 64 * b + 64));
    }
    if (b < blocks) acc0 = _mm512_dpbusd_epi32(acc0, UNPACK_BLOCK_512(w + 16 * b), _mm512_loadu_si512(x + 64 * b));
    return FINISH_512(_mm512_add_epi32(acc0, acc1));
}

// Sixteen accumulators of the lane-mask unpack -> their sixteen row sums: reduce16_512 in
// reduce512.h (shared with the q8 attention kernels).
// Decode: two rows at a time, one 64-byte line (four blocks) of each per step, four independent
// accumulator chains, so the 5-cycle vpdpbusd latency is hidden and each activation load serves
// both rows. Each step also prefetches one line per row into L2 TK_PREFETCH_L2 bytes ahead and
// into L1 TK_PREFETCH_L1 bytes ahead: the L1 has only 16 fill buffers, so without the L2
// prefetch too few DRAM misses are in flight to reach the read bandwidth (about 12 vs 16 GB/s
// in a two-thread A/B run on this machine kind).
AVX512 void tk_ternary_gemv_avx512vnni(const uint8_t *w, size_t row_bytes, size_t rows,
                                       const int8_t *x, int32_t xsum, int32_t *out) {
    SHIFTS_512;
    size_t blocks = row_bytes / 16;
    size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;
        size_t b = 0;
        for (; b + 4 <= blocks; b += 4) {
            PREFETCH_AHEAD(w0 + 16 * b);
            PREFETCH_AHEAD(w1 + 16 * b);
            const int8_t *xb = x + 64 * b;
            __m512i x0 = _mm512_loadu_si512(xb), x1 = _mm512_loadu_si512(xb + 64);
            __m512i x2 = _mm512_loadu_si512(xb + 128), x3 = _mm512_loadu_si512(xb + 192);
            a0 = _mm512_dpbusd_epi32(a0, UNPACK_BLOCK_512(w0 + 16 * b), x0);
            b0 = _mm512_dpbusd_epi32(b0, UNPACK_BLOCK_512(w1 + 16 * b), x0);
            a1 = _mm512_dpbusd_epi32(a1, UNPACK_BLOCK_512(w0 + 16 * b + 16), x1);
            b1 = _mm512_dpbusd_epi32(b1, UNPACK_BLOCK_512(w1 + 16 * b + 16), x1);
            a0 = _mm512_dpbusd_epi32(a0, UNPACK_BLOCK_512(w0 + 16 * b + 32), x2);
            b0 = _mm512_dpbusd_epi32(b0, UNPACK_BLOCK_512(w1 + 16 * b + 32), x2);
            a1 = _mm512_dpbusd_epi32(a1, UNPACK_BLOCK_512(w0 + 16 * b + 48), x3);
            b1 = _mm512_dpbusd_epi32(b1, UNPACK_BLOCK_512(w1 + 16 * b + 48), x3);
        }
        for (; b < blocks; b++) {
            __m512i x0 = _mm512_loadu_si512(x + 64 * b);
            a0 = _mm512_dpbusd_epi32(a0, UNPACK_BLOCK_512(w0 + 16 * b), x0);
            b0 = _mm512_dpbusd_epi32(b0, UNPACK_BLOCK_512(w1 + 16 * b), x0);
        }
        out[r] = FINISH_512(_mm512_add_epi32(a0, a1)) - xsum;
        out[r + 1] = FINISH_512(_mm512_add_epi32(b0, b1)) - xsum;
    }
    for (; r < rows; r++) out[r] = dot_row_avx512(w + r * row_bytes, blocks, x) - xsum;
}

// Rows r and r + 1 of tokens t…t+count−1 (count ≤ 8) from the sums of two rows' accumulators
// (lanes 2i, 2i + 1: rows r, r + 1 of token t + i), less each token's activation sum.
AVX512 static inline void store_row_pairs(__m512i sums, const int32_t *xsum, size_t t, int count, int32_t *out, size_t out_stride,
                                          size_t r) {
    const __m512i dup_pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    __m512i pairs = _mm512_permutexvar_epi32(dup_pairs, _mm512_maskz_loadu_epi32((__mmask16)((1u << count) - 1), xsum + t));
    int32_t tmp[16];
    _mm512_storeu_si512(tmp, _mm512_sub_epi32(sums, pairs));
    for (int i = 0; i < count; i++) {
        out[(t + i) * out_stride + r] = tmp[2 * i];
        out[(t + i) * out_stride + r + 1] = tmp[2 * i + 1];
    }
}

// The eight-token step of rows r, r + 1 over blocks [b0, b1), continuing the sixteen accumulators
// in acc (a0, b0, a1, b1, …: rows r and r + 1 of tokens 0…7). Each token's activations have a
// pointer of their own and the blocks go four per step (one prefetch per row per 64-byte line):
// a chain of pointer additions per token would cost almost as many instructions as the
// vpdpbusd it feeds.
AVX512 static inline void rows2_tokens8_span(const uint8_t *w0, const uint8_t *w1, const int8_t *p, size_t xs,
                                             size_t b0, size_t b1, size_t l2_ahead, __m512i *acc) {
    SHIFTS_512;
    (void)lane_shifts;
    const int8_t *q0 = p, *q1 = p + xs, *q2 = p + 2 * xs, *q3 = p + 3 * xs;
    const int8_t *q4 = p + 4 * xs, *q5 = p + 5 * xs, *q6 = p + 6 * xs, *q7 = p + 7 * xs;
    __m512i a[16];
    _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; i++) a[i] = acc[i];
#define TOKEN_PAIR(i, q)                                                                            \
    do {                                                                                            \
        const __m512i v = _mm512_loadu_si512(q + o);                                                \
        a[2 * (i)] = _mm512_dpbusd_epi32(a[2 * (i)], u0, v);                                        \
        a[2 * (i) + 1] = _mm512_dpbusd_epi32(a[2 * (i) + 1], u1, v);                                \
    } while (0)
#define BLOCK8(bb)                                                                                  \
    do {                                                                                            \
        const __m512i u0 = UNPACK_BLOCK_512(w0 + 16 * (bb)), u1 = UNPACK_BLOCK_512(w1 + 16 * (bb)); \
        const size_t o = 64 * (bb);                                                                 \
        TOKEN_PAIR(0, q0); TOKEN_PAIR(1, q1); TOKEN_PAIR(2, q2); TOKEN_PAIR(3, q3);                 \
        TOKEN_PAIR(4, q4); TOKEN_PAIR(5, q5); TOKEN_PAIR(6, q6); TOKEN_PAIR(7, q7);                 \
    } while (0)
    size_t b = b0;
    for (; b < b1 && (b & 3); b++) BLOCK8(b);
    for (; b + 4 <= b1; b += 4) {
        _mm_prefetch((const char *)(w0 + 16 * b) + TK_PREFETCH_L1, _MM_HINT_T0);
        _mm_prefetch((const char *)(w1 + 16 * b) + TK_PREFETCH_L1, _MM_HINT_T0);
        _mm_prefetch((const char *)(w0 + 16 * b) + l2_ahead, _MM_HINT_T1);
        _mm_prefetch((const char *)(w1 + 16 * b) + l2_ahead, _MM_HINT_T1);
        BLOCK8(b);
        BLOCK8(b + 1);
        BLOCK8(b + 2);
        BLOCK8(b + 3);
    }
    for (; b < b1; b++) BLOCK8(b);
#undef BLOCK8
#undef TOKEN_PAIR
    _Pragma("clang loop unroll(full)") for (int i = 0; i < 16; i++) acc[i] = a[i];
}

// A decode batch (2–16 tokens, one per sequence): rows r, r + 1 of tokens t…t+7 in one pass over
// the two rows, each unpacked block feeding sixteen dot products and each activation load two, so
// the weights are read from memory once for all the tokens. (A prefill, more tokens, reuses
// unpacked panels: panel512.h.)
AVX512 static inline void rows2_tokens8(const uint8_t *w0, const uint8_t *w1, size_t blocks, const int8_t *x, size_t x_stride,
                                        const int32_t *xsum, size_t t, int32_t *out, size_t out_stride, size_t r) {
    SHIFTS_512;
    (void)lane_masks;
    __m512i a[16];
    for (int i = 0; i < 16; i++) a[i] = _mm512_setzero_si512();
    rows2_tokens8_span(w0, w1, x + t * x_stride, x_stride, 0, blocks, TK_PREFETCH_L2, a);
    __m512i sums = reduce16_512(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15],
                                lane_shifts);
    store_row_pairs(sums, xsum, t, 8, out, out_stride, r);
}

// Tokens t..t1−1 (fewer than eight) of rows r and r + 1: four per step, then one at a time.
AVX512 static inline void rows2_tail(const uint8_t *w0, const uint8_t *w1, size_t blocks, const int8_t *x, size_t x_stride,
                                     const int32_t *xsum, size_t t, size_t t1, int32_t *out, size_t out_stride, size_t r) {
    SHIFTS_512;
    for (; t + 4 <= t1; t += 4) {
        const int8_t *p0 = x + t * x_stride, *p1 = p0 + x_stride, *p2 = p1 + x_stride, *p3 = p2 + x_stride;
        __m512i a00 = _mm512_setzero_si512(), a01 = a00, a02 = a00, a03 = a00;
        __m512i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        for (size_t b = 0; b < blocks; b++) {
            if ((b & 3) == 0) { PREFETCH_AHEAD(w0 + 16 * b); PREFETCH_AHEAD(w1 + 16 * b); }
            __m512i c0 = UNPACK_BLOCK_512(w0 + 16 * b), c1 = UNPACK_BLOCK_512(w1 + 16 * b);
            size_t o = 64 * b;
            __m512i x0 = _mm512_loadu_si512(p0 + o), x1 = _mm512_loadu_si512(p1 + o);
            __m512i x2 = _mm512_loadu_si512(p2 + o), x3 = _mm512_loadu_si512(p3 + o);
            a00 = _mm512_dpbusd_epi32(a00, c0, x0); a10 = _mm512_dpbusd_epi32(a10, c1, x0);
            a01 = _mm512_dpbusd_epi32(a01, c0, x1); a11 = _mm512_dpbusd_epi32(a11, c1, x1);
            a02 = _mm512_dpbusd_epi32(a02, c0, x2); a12 = _mm512_dpbusd_epi32(a12, c1, x2);
            a03 = _mm512_dpbusd_epi32(a03, c0, x3); a13 = _mm512_dpbusd_epi32(a13, c1, x3);
        }
        const __m512i z = _mm512_setzero_si512();
        __m512i sums = reduce16_512(a00, a10, a01, a11, a02, a12, a03, a13, z, z, z, z, z, z, z, z, lane_shifts);
        store_row_pairs(sums, xsum, t, 4, out, out_stride, r);
    }
    for (; t < t1; t++) {
        out[t * out_stride + r] = dot_row_avx512(w0, blocks, x + t * x_stride) - xsum[t];
        out[t * out_stride + r + 1] = dot_row_avx512(w1, blocks, x + t * x_stride) - xsum[t];
    }
}

// Where eight tokens' activations outgrow L1 (K > 5120): groups of eight rows (four pairs), and
// for each eight tokens, K in spans of 4096 weights (32 KB of activations for eight tokens) that
// the four pairs take in turn, their accumulators kept in a buffer between spans. So a span's
// activations stay in L1 while the four pairs use them, and a group's weights are read from
// memory once for all the tokens (they stay in L1/L2 for the next eight). Each pair prefetches
// the same span of the pair eight rows on into L2: a group reads eight rows in turns of 1 KB,
// which leaves a fixed distance ahead in the same row inside the group already being read.
#define SPAN_BLOCKS 64
AVX512 static void gemm_eight_row_groups(const uint8_t *w, size_t row_bytes, size_t rows, const int8_t *x, size_t x_stride,
                                         const int32_t *xsum, size_t ntok, int32_t *out, size_t out_stride) {
    SHIFTS_512;
    (void)lane_masks;
    size_t blocks = row_bytes / 16;
    __m512i acc[4][16];
    for (size_t r0 = 0; r0 < rows; r0 += 8) {
        size_t left = rows - r0, pairs = left >= 8 ? 4 : left / 2;
        size_t t = 0;
        for (; t + 8 <= ntok; t += 8) {
            for (size_t g = 0; g < pairs; g++)
                for (int i = 0; i < 16; i++) acc[g][i] = _mm512_setzero_si512();
            for (size_t b = 0; b < blocks; b += SPAN_BLOCKS) {
                size_t b1 = b + SPAN_BLOCKS < blocks ? b + SPAN_BLOCKS : blocks;
                for (size_t g = 0; g < pairs; g++) {
                    const uint8_t *w0 = w + (r0 + 2 * g) * row_bytes;
                    rows2_tokens8_span(w0, w0 + row_bytes, x + t * x_stride, x_stride, b, b1, 8 * row_bytes, acc[g]);
                }
            }
            for (size_t g = 0; g < pairs; g++) {
                __m512i *a = acc[g];
                __m512i sums = reduce16_512(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13],
                                            a[14], a[15], lane_shifts);
                store_row_pairs(sums, xsum, t, 8, out, out_stride, r0 + 2 * g);
            }
        }
        for (size_t g = 0; g < pairs; g++) {
            const uint8_t *w0 = w + (r0 + 2 * g) * row_bytes;
            rows2_tail(w0, w0 + row_bytes, blocks, x, x_stride, xsum, t, ntok, out, out_stride, r0 + 2 * g);
        }
        if (left < 8 && (left & 1)) {
            size_t r = rows - 1;
            for (size_t u = 0; u < ntok; u++)
                out[u * out_stride + r] = dot_row_avx512(w + r * row_bytes, blocks, x + u * x_stride) - xsum[u];
        }
    }
}

// Rows r0…r0+3 (fewer past `rows`: zeros) of one 16-byte block, one row per 128-bit lane.
AVX512 static inline __m512i four_rows_block(const uint8_t *w, size_t row_bytes, size_t rows, size_t r0, size_t offset) {
    static const uint8_t none[16];
#define ROW(i) (r0 + (i) < rows ? w + (r0 + (i)) * row_bytes + offset : none)
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)ROW(0)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)ROW(1)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)ROW(2)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)ROW(3)), 3);
#undef ROW
}

// The 2-bit format's unpack into a panel (panel512.h). Dword q of a 16-byte block holds, in bit
// pair t of its byte i, the code of position 16t + 4q + i: so once the sixteen rows' dwords q are
// gathered into one vector (a 16 × 4 dword transpose: four two-source permutes, then two), a
// shift by 2t and a mask give the panel vector of positions 16t + 4q … +3.
AVX512 static void ternary_unpack_panel(const uint8_t *w, size_t row_bytes, size_t rows, size_t k0, size_t kn, uint8_t *panel) {
    const __m512i pick01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i pick23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i first8 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i second8 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const __m512i m3 = _mm512_set1_epi8(3);
    for (size_t half = 0; half < 2; half++) {
        size_t base = 16 * half;
        if (base >= rows) {  // no rows 16–31: zero codes (their sums are never stored)
            for (size_t s = 0; s < kn / 4; s++) _mm512_store_si512((void *)(panel + 128 * s + 64 * half), _mm512_setzero_si512());
            continue;
        }
        for (size_t b = 0; b < kn / 64; b++) {
            size_t offset = (k0 / 64 + b) * 16;
            __m512i r0 = four_rows_block(w, row_bytes, rows, base, offset), r1 = four_rows_block(w, row_bytes, rows, base + 4, offset);
            __m512i r2 = four_rows_block(w, row_bytes, rows, base + 8, offset), r3 = four_rows_block(w, row_bytes, rows, base + 12, offset);
            __m512i lo01 = _mm512_permutex2var_epi32(r0, pick01, r1), hi01 = _mm512_permutex2var_epi32(r2, pick01, r3);
            __m512i lo23 = _mm512_permutex2var_epi32(r0, pick23, r1), hi23 = _mm512_permutex2var_epi32(r2, pick23, r3);
            __m512i dw[4] = {_mm512_permutex2var_epi32(lo01, first8, hi01), _mm512_permutex2var_epi32(lo01, second8, hi01),
                             _mm512_permutex2var_epi32(lo23, first8, hi23), _mm512_permutex2var_epi32(lo23, second8, hi23)};
            uint8_t *dst = panel + 64 * half + 128 * 16 * b;
            _Pragma("clang loop unroll(full)") for (int q = 0; q < 4; q++) {
                _mm512_store_si512((void *)(dst + 128 * q), _mm512_and_si512(dw[q], m3));
                _mm512_store_si512((void *)(dst + 128 * (4 + q)), _mm512_and_si512(_mm512_srli_epi32(dw[q], 2), m3));
                _mm512_store_si512((void *)(dst + 128 * (8 + q)), _mm512_and_si512(_mm512_srli_epi32(dw[q], 4), m3));
                _mm512_store_si512((void *)(dst + 128 * (12 + q)), _mm512_and_si512(_mm512_srli_epi32(dw[q], 6), m3));
            }
        }
    }
}

AVX512 void tk_ternary_gemm_avx512vnni(const uint8_t *w, size_t row_bytes, size_t rows,
                                       const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                                       int32_t *out, size_t out_stride) {
    SHIFTS_512;
    size_t blocks = row_bytes / 16;
    // A prefill (more than 16 tokens): panels of unpacked codes that every token reuses (panel512.h).
    if (ntok > 16) {
        panel_gemm_512(w, row_bytes, rows, blocks * 64, 512, ternary_unpack_panel, x, x_stride, xsum, ntok, out, out_stride);
        return;
    }
    // A decode batch (a few tokens, one per sequence) whose eight tokens' activations outgrow L1:
    // one pass over the weights in groups of eight rows (measured: 1.06× the aggregate decode of
    // eight sequences on GPT-2 XL, docs/BENCHMARKS.md).
    if (ntok >= 8 && blocks * 64 * 8 > 40960) {
        gemm_eight_row_groups(w, row_bytes, rows, x, x_stride, xsum, ntok, out, out_stride);
        return;
    }
    // A decode batch of up to 16 tokens whose activations fit: one pass over the weights, two rows ×
    // eight tokens per step, then the tail.
    size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;
        size_t t = 0;
        for (; t + 8 <= ntok; t += 8) rows2_tokens8(w0, w1, blocks, x, x_stride, xsum, t, out, out_stride, r);
        rows2_tail(w0, w1, blocks, x, x_stride, xsum, t, ntok, out, out_stride, r);
    }
    for (; r < rows; r++)
        for (size_t t = 0; t < ntok; t++) out[t * out_stride + r] = dot_row_avx512(w + r * row_bytes, blocks, x + t * x_stride) - xsum[t];
}

// ---- int8 x int8 -------------------------------------------------------------------------------
// AVX2: vpmaddubsw(|w|, sign(x, w)); weights and activations lie in [-127, 127], so a pair sum is
// at most 2 * 127 * 127 = 32258 and never saturates.
AVX2 void tk_int8_gemv_avx2(const int8_t *w, size_t row_len, size_t rows,
                            const int8_t *x, int32_t xsum, int32_t *out) {
    (void)xsum;
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *wr = w + r * row_len;
        __m256i acc = _mm256_setzero_si256();
        for (size_t k = 0; k < row_len; k += 32) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(wr + k));
            __m256i xv = _mm256_loadu_si256((const __m256i *)(x + k));
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
        }
        out[r] = hsum_epi32_256(acc);
    }
}

// AVX-512 VNNI: (w xor 0x80) = w + 128 as unsigned, so dpbusd gives sum(w*x) + 128 * sum(x).
AVX512 void tk_int8_gemv_avx512vnni(const int8_t *w, size_t row_len, size_t rows,
                                    const int8_t *x, int32_t xsum, int32_t *out) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (size_t r = 0; r < rows; r++) {
        const int8_t *wr = w + r * row_len;
        __m512i acc = _mm512_setzero_si512();
        for (size_t k = 0; k < row_len; k += 64) {
            __m512i wv = _mm512_xor_si512(_mm512_loadu_si512(wr + k), bias);
            acc = _mm512_dpbusd_epi32(acc, wv, _mm512_loadu_si512(x + k));
        }
        out[r] = _mm512_reduce_add_epi32(acc) - 128 * xsum;
    }
}

// ---- float -------------------------------------------------------------------------------------
AVX2 static inline float hsum_ps_256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma,f16c"))) void tk_f16_gemv_fma(const uint16_t *w, size_t k, size_t rows,
                                                             const float *x, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        size_t i = 0;
        for (; i + 16 <= k; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + i))), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wr + i + 8))), _mm256_loadu_ps(x + i + 8), a1);
        }
        float s = hsum_ps_256(_mm256_add_ps(a0, a1));
        for (; i < k; i++) s += _cvtsh_ss(wr[i]) * x[i];
        out[r] = s;
    }
}

AVX2 void tk_f32_gemv_fma(const float *w, size_t k, size_t rows, const float *x, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *wr = w + r * k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        size_t i = 0;
        for (; i + 16 <= k; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 8), _mm256_loadu_ps(x + i + 8), a1);
        }
        float s = hsum_ps_256(_mm256_add_ps(a0, a1));
        for (; i < k; i++) s += wr[i] * x[i];
        out[r] = s;
    }
}

// bf16 is the top half of an f32: widen each 16-bit value with a shift, same two FMA chains.
AVX2 void tk_bf16_gemv_fma(const uint16_t *w, size_t k, size_t rows, const float *x, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *wr = w + r * k;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        size_t i = 0;
        for (; i + 16 <= k; i += 16) {
            __m256i h = _mm256_loadu_si256((const __m256i *)(wr + i));
            __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(h)), 16));
            __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1)), 16));
            a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
            a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
        }
        float s = hsum_ps_256(_mm256_add_ps(a0, a1));
        for (; i < k; i++) { uint32_t bits = (uint32_t)wr[i] << 16; float v; __builtin_memcpy(&v, &bits, 4); s += v * x[i]; }
        out[r] = s;
    }
}

// ---- activation quantization -------------------------------------------------------------------
AVX2 float tk_quantize_activations_avx2(const float *x, size_t n, int8_t *q, size_t padded, int32_t *sum) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 largest = _mm256_set1_ps(__FLT_MAX__);
    __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), absmask);
        m = _mm256_max_ps(m, a);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, largest, _CMP_NLE_UQ));  // infinity or NaN
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float mx = _mm_cvtss_f32(m4);
    int nonfinite = _mm256_movemask_ps(bad) != 0;
    for (; i < n; i++) {
        float a = __builtin_fabsf(x[i]);
        if (!(a <= __FLT_MAX__)) nonfinite = 1;
        if (a > mx) mx = a;
    }
    if (nonfinite) {  // as the scalar reference: NaN scale, zero codes
        for (i = 0; i < padded; i++) q[i] = 0;
        *sum = 0;
        return __builtin_nanf("");
    }
    if (!(mx >= 1e-5f)) mx = 1e-5f;
    float s = 127.0f / mx;
    const __m256 sv = _mm256_set1_ps(s);
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    __m256i acc = _mm256_setzero_si256();
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        __m256i iv = _mm256_cvtps_epi32(v);
        acc = _mm256_add_epi32(acc, iv);
        __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
        __m128i p8 = _mm_packs_epi16(p16, p16);
        _mm_storel_epi64((__m128i *)(q + i), p8);
    }
    int32_t total = hsum_epi32_256(acc);
    for (; i < n; i++) {
        float v = __builtin_rintf(x[i] * s);
        v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
        q[i] = (int8_t)v;
        total += (int32_t)v;
    }
    for (; i < padded; i++) q[i] = 0;
    *sum = total;
    return s;
}

// The same on sixteen lanes: four independent maxima (a max chain would wait on its latency), and
// the remainder under a mask whose lanes read as zero (which changes neither the maximum nor the
// sum). Each code is the same operations as the AVX2 path's, so both give the same bytes.
AVX512 float tk_quantize_activations_avx512(const float *x, size_t n, int8_t *q, size_t padded, int32_t *sum) {
    const __m512 largest = _mm512_set1_ps(__FLT_MAX__);
    __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
    __mmask16 bad = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 a0 = _mm512_abs_ps(_mm512_loadu_ps(x + i)), a1 = _mm512_abs_ps(_mm512_loadu_ps(x + i + 16));
        __m512 a2 = _mm512_abs_ps(_mm512_loadu_ps(x + i + 32)), a3 = _mm512_abs_ps(_mm512_loadu_ps(x + i + 48));
        m0 = _mm512_max_ps(m0, a0); m1 = _mm512_max_ps(m1, a1); m2 = _mm512_max_ps(m2, a2); m3 = _mm512_max_ps(m3, a3);
        bad |= _mm512_cmp_ps_mask(a0, largest, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a1, largest, _CMP_NLE_UQ) |
               _mm512_cmp_ps_mask(a2, largest, _CMP_NLE_UQ) | _mm512_cmp_ps_mask(a3, largest, _CMP_NLE_UQ);
    }
    for (; i < n; i += 16) {
        __mmask16 live = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(live, x + i));
        m0 = _mm512_max_ps(m0, a);
        bad |= _mm512_cmp_ps_mask(a, largest, _CMP_NLE_UQ);  // infinity or NaN
    }
    float mx = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
    if (bad) {  // as the scalar reference: NaN scale, zero codes
        for (i = 0; i < padded; i++) q[i] = 0;
        *sum = 0;
        return __builtin_nanf("");
    }
    if (!(mx >= 1e-5f)) mx = 1e-5f;
    float s = 127.0f / mx;
    const __m512 sv = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    __m512i acc = _mm512_setzero_si512();
    for (i = 0; i < n; i += 16) {
        __mmask16 live = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(live, x + i), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i iv = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
        acc = _mm512_add_epi32(acc, iv);
        _mm512_mask_cvtsepi32_storeu_epi8(q + i, live, iv);
    }
    for (i = n; i < padded; i++) q[i] = 0;
    *sum = _mm512_reduce_add_epi32(acc);
    return s;
}

#else  // not x86: the Swift portable path is used; these are never called.
int tk_cpu_features(void) { return 0; }
void tk_ternary_gemv_avx2(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)rb; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_ternary_gemv_avxvnni(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)rb; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_ternary_gemv_avx512vnni(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)rb; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_ternary_gemm_avx2(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, size_t xs, const int32_t *s, size_t n, int32_t *o, size_t os) { (void)w; (void)rb; (void)rows; (void)x; (void)xs; (void)s; (void)n; (void)o; (void)os; __builtin_trap(); }
void tk_ternary_gemm_avxvnni(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, size_t xs, const int32_t *s, size_t n, int32_t *o, size_t os) { (void)w; (void)rb; (void)rows; (void)x; (void)xs; (void)s; (void)n; (void)o; (void)os; __builtin_trap(); }
void tk_ternary_gemm_avx512vnni(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, size_t xs, const int32_t *s, size_t n, int32_t *o, size_t os) { (void)w; (void)rb; (void)rows; (void)x; (void)xs; (void)s; (void)n; (void)o; (void)os; __builtin_trap(); }
void tk_int8_gemv_avx2(const int8_t *w, size_t k, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)k; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_int8_gemv_avx512vnni(const int8_t *w, size_t k, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)k; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_f16_gemv_fma(const uint16_t *w, size_t k, size_t rows, const float *x, float *o) { (void)w; (void)k; (void)rows; (void)x; (void)o; __builtin_trap(); }
void tk_f32_gemv_fma(const float *w, size_t k, size_t rows, const float *x, float *o) { (void)w; (void)k; (void)rows; (void)x; (void)o; __builtin_trap(); }
void tk_bf16_gemv_fma(const uint16_t *w, size_t k, size_t rows, const float *x, float *o) { (void)w; (void)k; (void)rows; (void)x; (void)o; __builtin_trap(); }
float tk_quantize_activations_avx2(const float *x, size_t n, int8_t *q, size_t p, int32_t *s) { (void)x; (void)n; (void)q; (void)p; (void)s; __builtin_trap(); }
float tk_quantize_activations_avx512(const float *x, size_t n, int8_t *q, size_t p, int32_t *s) { (void)x; (void)n; (void)q; (void)p; (void)s; __builtin_trap(); }
#endif

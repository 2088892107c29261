// Kernels of the t1.6 format (docs/FORMAT.md, "t1.6 matrices"): a 64-byte block holds 320
// weights; byte j is the base-3 number c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4 of the codes c_i = w + 1
// of positions 64·i + j. A code vector for 64 consecutive positions comes out of one block by
// byte-table lookups (vpermi2b, AVX-512 VBMI), then feeds vpdpbusd like the 2-bit format's codes:
// Σ w·x = Σ code·x − Σ x. The scalar reference (TernaryKernels/ScalarKernels.swift) is the oracle.
#include "CTernaryKernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define VBMI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))
#ifndef TK_PREFETCH_L1
#define TK_PREFETCH_L1 512
#endif
#ifndef TK_PREFETCH_L2
#define TK_PREFETCH_L2 4096
#endif

// Byte → codes: [0][q] = c0 | c1 << 4, [1][q] = c2 | c3 << 4, [2][q] = c4 (q ≤ 242; the rest 0).
static uint8_t t16_tables[3][256] __attribute__((aligned(64)));

__attribute__((constructor)) static void t16_fill_tables(void) {
    for (int q = 0; q < 256; q++) {
        int c[5] = {0, 0, 0, 0, 0}, v = q;
        if (q < 243)
            for (int i = 0; i < 5; i++) { c[i] = v % 3; v /= 3; }
        t16_tables[0][q] = (uint8_t)(c[0] | c[1] << 4);
        t16_tables[1][q] = (uint8_t)(c[2] | c[3] << 4);
        t16_tables[2][q] = (uint8_t)c[4];
    }
}

typedef struct { __m512i t[3][4]; __m512i low4; } t16_luts;

VBMI static inline void t16_load_luts(t16_luts *l) {
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) l->t[i][j] = _mm512_load_si512((const void *)(t16_tables[i] + 64 * j));
    l->low4 = _mm512_set1_epi8(0x0F);
}

// The 256-entry table `t` at every byte of q: two 128-entry lookups, picked by q's top bit.
VBMI static inline __m512i t16_lookup(const __m512i t[4], __m512i q, __mmask64 high) {
    __m512i lo = _mm512_permutex2var_epi8(t[0], q, t[1]);
    __m512i hi = _mm512_permutex2var_epi8(t[2], q, t[3]);
    return _mm512_mask_blend_epi8(high, lo, hi);
}

// The five code vectors of one block (positions 0–63, 64–127, …, 256–319 of the block).
VBMI static inline void t16_decode(const t16_luts *l, const uint8_t *block, __m512i c[5]) {
    __m512i q = _mm512_loadu_si512((const void *)block);
    __mmask64 high = _mm512_movepi8_mask(q);
    __m512i p01 = t16_lookup(l->t[0], q, high), p23 = t16_lookup(l->t[1], q, high);
    c[0] = _mm512_and_si512(p01, l->low4);
    c[1] = _mm512_and_si512(_mm512_srli_epi16(p01, 4), l->low4);
    c[2] = _mm512_and_si512(p23, l->low4);
    c[3] = _mm512_and_si512(_mm512_srli_epi16(p23, 4), l->low4);
    c[4] = t16_lookup(l->t[2], q, high);
}

VBMI void tk_t16_gemv_avx512vbmi(const uint8_t *w, size_t row_bytes, size_t rows,
                                 const int8_t *x, int32_t xsum, int32_t *out) {
    t16_luts l;
    t16_load_luts(&l);
    size_t blocks = row_bytes / 64;
    size_t r = 0;
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = w + r * row_bytes, *w1 = w0 + row_bytes;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;
        for (size_t k = 0; k < blocks; k++) {
            _mm_prefetch((const char *)(w0 + 64 * k) + TK_PREFETCH_L1, _MM_HINT_T0);
            _mm_prefetch((const char *)(w1 + 64 * k) + TK_PREFETCH_L1, _MM_HINT_T0);
            _mm_prefetch((const char *)(w0 + 64 * k) + TK_PREFETCH_L2, _MM_HINT_T1);
            _mm_prefetch((const char *)(w1 + 64 * k) + TK_PREFETCH_L2, _MM_HINT_T1);
            const int8_t *xb = x + 320 * k;
            __m512i x0 = _mm512_loadu_si512(xb), x1 = _mm512_loadu_si512(xb + 64), x2 = _mm512_loadu_si512(xb + 128);
            __m512i x3 = _mm512_loadu_si512(xb + 192), x4 = _mm512_loadu_si512(xb + 256);
            __m512i c[5], d[5];
            t16_decode(&l, w0 + 64 * k, c);
            t16_decode(&l, w1 + 64 * k, d);
            a0 = _mm512_dpbusd_epi32(a0, c[0], x0); b0 = _mm512_dpbusd_epi32(b0, d[0], x0);
            a1 = _mm512_dpbusd_epi32(a1, c[1], x1); b1 = _mm512_dpbusd_epi32(b1, d[1], x1);
            a0 = _mm512_dpbusd_epi32(a0, c[2], x2); b0 = _mm512_dpbusd_epi32(b0, d[2], x2);
            a1 = _mm512_dpbusd_epi32(a1, c[3], x3); b1 = _mm512_dpbusd_epi32(b1, d[3], x3);
            a0 = _mm512_dpbusd_epi32(a0, c[4], x4); b0 = _mm512_dpbusd_epi32(b0, d[4], x4);
        }
        out[r] = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1)) - xsum;
        out[r + 1] = _mm512_reduce_add_epi32(_mm512_add_epi32(b0, b1)) - xsum;
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

// One row against `n` (constant after inlining: 8, 4 or 1) tokens: each block is decoded once
// for all of them.
VBMI static inline __attribute__((always_inline)) void t16_row_tokens(
    const t16_luts *l, const uint8_t *row, size_t blocks, const int8_t *x, size_t x_stride,
    const int32_t *xsum, int32_t *out, size_t out_stride, const int n) {
    __m512i acc[8];
    for (int t = 0; t < n; t++) acc[t] = _mm512_setzero_si512();
    for (size_t k = 0; k < blocks; k++) {
        __m512i c[5];
        t16_decode(l, row + 64 * k, c);
        for (int t = 0; t < n; t++) {
            const int8_t *xb = x + t * x_stride + 320 * k;
            for (int i = 0; i < 5; i++) acc[t] = _mm512_dpbusd_epi32(acc[t], c[i], _mm512_loadu_si512(xb + 64 * i));
        }
    }
    for (int t = 0; t < n; t++) out[t * out_stride] = _mm512_reduce_add_epi32(acc[t]) - xsum[t];
}

VBMI void tk_t16_gemm_avx512vbmi(const uint8_t *w, size_t row_bytes, size_t rows,
                                 const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                                 int32_t *out, size_t out_stride) {
    t16_luts l;
    t16_load_luts(&l);
    size_t blocks = row_bytes / 64;
    // Tokens in tiles whose activations stay in L2 while every row passes over them.
    size_t tile = 65536 / (row_bytes * 5 + 1);
    tile = tile < 8 ? 8 : tile / 8 * 8;
    if (ntok <= 16) tile = ntok;
    for (size_t t0 = 0; t0 < ntok; t0 += tile) {
        size_t t1 = t0 + tile < ntok ? t0 + tile : ntok;
        for (size_t r = 0; r < rows; r++) {
            const uint8_t *row = w + r * row_bytes;
            size_t t = t0;
            for (; t + 8 <= t1; t += 8)
                t16_row_tokens(&l, row, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride, 8);
            for (; t + 4 <= t1; t += 4)
                t16_row_tokens(&l, row, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride, 4);
            for (; t < t1; t++)
                t16_row_tokens(&l, row, blocks, x + t * x_stride, x_stride, xsum + t, out + t * out_stride + r, out_stride, 1);
        }
    }
}

#else  // not x86: never called (tk_cpu_features() reports no VBMI).
void tk_t16_gemv_avx512vbmi(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, int32_t s, int32_t *o) { (void)w; (void)rb; (void)rows; (void)x; (void)s; (void)o; __builtin_trap(); }
void tk_t16_gemm_avx512vbmi(const uint8_t *w, size_t rb, size_t rows, const int8_t *x, size_t xs, const int32_t *s, size_t n, int32_t *o, size_t os) { (void)w; (void)rb; (void)rows; (void)x; (void)xs; (void)s; (void)n; (void)o; (void)os; __builtin_trap(); }
#endif

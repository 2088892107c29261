// Internal to CTernaryKernels (not a public header): the AVX-512 VNNI prefill GEMM shared by the
// ternary formats. Include after defining AVX512 (the target attribute) and including
// <immintrin.h>.
//
// A format's unpack turns 32 rows × `kn` weights of its packed rows into a panel of plain codes
// (w + 1, so 0…2) in the order vpdpbusd wants them across rows: for each four weights k…k+3, two
// 64-byte vectors (rows 0–15, rows 16–31) whose byte 4r + i is row r's code of weight k + i. Then
// every token reuses the panel from L1: per four weights, two vector loads of codes, one
// broadcast of the token's four activations, and two vpdpbusd into accumulators that each hold
// sixteen rows of one token. So no horizontal sums and no unpacking in the inner loop, which is
// only loads and vpdpbusd (twelve tokens: 24 accumulators, 14 loads per 24 vpdpbusd).
#ifndef TK_PANEL512_H
#define TK_PANEL512_H

#include <string.h>

#define PANEL_ROWS 32
// Weights per row in one panel, at most (512 for the 2-bit format, 640 for t1.6: its blocks are 320):
// 32 rows × 640 = 20 KB of codes, which stay in the 48 KB L1 beside twelve tokens' 7.5 KB of
// activations. The unpack also zeroes the codes of rows past `rows` (their sums are never stored).
#define PANEL_K_MAX 640
#define PANEL_TOKENS 12

typedef void (*tk_panel_unpack)(const uint8_t *w, size_t row_bytes, size_t rows, size_t k0, size_t kn, uint8_t *panel);

// N tokens (a compile-time constant after inlining) against a panel of `steps` × 4 weights. The
// accumulators start at zero (first panel) or at what `out` holds (int32 partial sums), and end
// there, less the tokens' activation sums after the last panel. Masks m0, m1: which of rows
// 0–15 and 16–31 exist.
AVX512 static inline __attribute__((always_inline)) void panel_tokens(
    const int N, const uint8_t *panel, size_t steps, const int8_t *x, size_t x_stride, const int32_t *xsum, int first, int last,
    int32_t *out, size_t out_stride, __mmask16 m0, __mmask16 m1) {
    __m512i a[PANEL_TOKENS], b[PANEL_TOKENS];
    _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) {
        if (first) {
            a[j] = _mm512_setzero_si512();
            b[j] = _mm512_setzero_si512();
        } else {
            a[j] = _mm512_maskz_loadu_epi32(m0, out + j * out_stride);
            b[j] = _mm512_maskz_loadu_epi32(m1, out + j * out_stride + 16);
        }
    }
    for (size_t s = 0; s < steps; s++) {
        __m512i w0 = _mm512_load_si512((const void *)(panel + 128 * s)), w1 = _mm512_load_si512((const void *)(panel + 128 * s + 64));
        _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) {
            int32_t four;
            memcpy(&four, x + j * x_stride + 4 * s, 4);
            __m512i v = _mm512_set1_epi32(four);
            a[j] = _mm512_dpbusd_epi32(a[j], w0, v);
            b[j] = _mm512_dpbusd_epi32(b[j], w1, v);
        }
    }
    _Pragma("clang loop unroll(full)") for (int j = 0; j < N; j++) {
        if (last) {
            __m512i sum = _mm512_set1_epi32(xsum[j]);
            a[j] = _mm512_sub_epi32(a[j], sum);
            b[j] = _mm512_sub_epi32(b[j], sum);
        }
        _mm512_mask_storeu_epi32(out + j * out_stride, m0, a[j]);
        _mm512_mask_storeu_epi32(out + j * out_stride + 16, m1, b[j]);
    }
}

// The next panel's packed weights into L2 while this one is used: its 32 rows are 32 separate
// runs of a few lines (from memory in a forward), which the hardware prefetchers would not fetch
// before the unpack waits on them. (No target attribute: the 256-bit panels use it too.)
static inline void prefetch_next_panel(const uint8_t *w, size_t row_bytes, size_t rows, size_t k_padded, size_t panel_rows,
                                       size_t panel_k, size_t r0, size_t k0) {
    k0 += panel_k;
    if (k0 >= k_padded) {
        k0 = 0;
        r0 += panel_rows;
        if (r0 >= rows) return;
    }
    size_t kn = k_padded - k0 < panel_k ? k_padded - k0 : panel_k;
    size_t begin = k0 / 4 * row_bytes / (k_padded / 4), end = (k0 + kn) / 4 * row_bytes / (k_padded / 4);  // bytes of the run
    size_t last = r0 + panel_rows < rows ? r0 + panel_rows : rows;
    for (size_t r = r0; r < last; r++) {
        const char *row = (const char *)(w + r * row_bytes);
        for (size_t b = begin; b < end; b += 64) _mm_prefetch(row + b, _MM_HINT_T1);
        _mm_prefetch(row + end - 1, _MM_HINT_T1);  // the run's last line, where it starts unaligned
    }
}

// out[t·out_stride + r] = Σ_k code(r, k)·x_t[k] − xsum[t] for `rows` rows of `k_padded` weights
// (the activations are zero past the real K), panels of `panel_k` weights (a multiple of 4, at
// most PANEL_K_MAX) unpacked by `unpack`.
AVX512 static void panel_gemm_512(const uint8_t *w, size_t row_bytes, size_t rows, size_t k_padded, size_t panel_k, tk_panel_unpack unpack,
                                  const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok, int32_t *out, size_t out_stride) {
    uint8_t panel[PANEL_K_MAX * PANEL_ROWS] __attribute__((aligned(64)));
    for (size_t r0 = 0; r0 < rows; r0 += PANEL_ROWS) {
        size_t here = rows - r0 < PANEL_ROWS ? rows - r0 : PANEL_ROWS;
        __mmask16 m0 = here >= 16 ? 0xFFFF : (__mmask16)((1u << here) - 1);
        __mmask16 m1 = here >= 32 ? 0xFFFF : here > 16 ? (__mmask16)((1u << (here - 16)) - 1) : 0;
        for (size_t k0 = 0; k0 < k_padded; k0 += panel_k) {
            size_t kn = k_padded - k0 < panel_k ? k_padded - k0 : panel_k;
            unpack(w + r0 * row_bytes, row_bytes, here, k0, kn, panel);
            prefetch_next_panel(w, row_bytes, rows, k_padded, PANEL_ROWS, panel_k, r0, k0);
            int first = k0 == 0, last = k0 + kn >= k_padded;
            size_t steps = kn / 4, t = 0;
            const int8_t *xk = x + k0;
            int32_t *o = out + r0;
#define PANEL_CALL(N) panel_tokens(N, panel, steps, xk + t * x_stride, x_stride, xsum + t, first, last, o + t * out_stride, out_stride, m0, m1)
            for (; t + PANEL_TOKENS <= ntok; t += PANEL_TOKENS) PANEL_CALL(PANEL_TOKENS);
            if (t + 8 <= ntok) { PANEL_CALL(8); t += 8; }
            if (t + 4 <= ntok) { PANEL_CALL(4); t += 4; }
            if (t + 2 <= ntok) { PANEL_CALL(2); t += 2; }
            if (t < ntok) { PANEL_CALL(1); t += 1; }
#undef PANEL_CALL
        }
    }
}

#endif

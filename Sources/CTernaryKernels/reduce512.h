// Internal to CTernaryKernels (not a public header): the AVX-512 sixteen-way reduction shared by
// the ternary kernels and the q8 attention kernels. Include after defining AVX512 (the target
// attribute) and including <immintrin.h>.
#ifndef TK_REDUCE512_H
#define TK_REDUCE512_H

// Sixteen accumulators of the lane-mask unpack -> their sixteen row sums, in one vector, in order.
// Unpack-and-add inside 128-bit lanes keeps each lane group's data in its own lane, so the 4^t
// scale comes off with one shift per four accumulators; two transposing shuffles of 128-bit
// lanes finish the sums. About 50 µops instead of about 150 for sixteen separate reductions.
// With zero shifts it is the plain sum of each of the sixteen vectors' int32 lanes.
AVX512 static inline __m512i reduce16_512(__m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                          __m512i v4, __m512i v5, __m512i v6, __m512i v7,
                                          __m512i v8, __m512i v9, __m512i v10, __m512i v11,
                                          __m512i v12, __m512i v13, __m512i v14, __m512i v15,
                                          __m512i lane_shifts) {
#define PAIR32(x, y) _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y))
#define PAIR64(x, y) _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
    __m512i q0 = _mm512_srav_epi32(PAIR64(PAIR32(v0, v1), PAIR32(v2, v3)), lane_shifts);
    __m512i q1 = _mm512_srav_epi32(PAIR64(PAIR32(v4, v5), PAIR32(v6, v7)), lane_shifts);
    __m512i q2 = _mm512_srav_epi32(PAIR64(PAIR32(v8, v9), PAIR32(v10, v11)), lane_shifts);
    __m512i q3 = _mm512_srav_epi32(PAIR64(PAIR32(v12, v13), PAIR32(v14, v15)), lane_shifts);
#undef PAIR32
#undef PAIR64
    __m512i s01 = _mm512_add_epi32(_mm512_shuffle_i32x4(q0, q1, 0x44), _mm512_shuffle_i32x4(q0, q1, 0xEE));
    __m512i s23 = _mm512_add_epi32(_mm512_shuffle_i32x4(q2, q3, 0x44), _mm512_shuffle_i32x4(q2, q3, 0xEE));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(s01, s23, 0x88), _mm512_shuffle_i32x4(s01, s23, 0xDD));
}

#endif

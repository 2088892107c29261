// Internal to CTernaryKernels (not a public header): the AVX-512 sixteen-way reductions shared by
// the ternary kernels and the attention kernels. Include after defining AVX512 (the target
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

// The same reduction for floats: lane i of the result is the sum of a[i]'s sixteen lanes, added in
// one tree that is the same for every input ((0+2)+(1+3) inside each 128-bit lane, then the four
// lane sums as (0+2)+(1+3)), so a sum does not depend on which slot its vector came in.
AVX512 static inline __m512 reduce16_ps_512(const __m512 *a) {
#define PAIR32F(x, y) _mm512_add_ps(_mm512_unpacklo_ps(x, y), _mm512_unpackhi_ps(x, y))
#define PAIR64F(x, y) _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(x), _mm512_castps_pd(y))), \
                                    _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(x), _mm512_castps_pd(y))))
    __m512 q0 = PAIR64F(PAIR32F(a[0], a[1]), PAIR32F(a[2], a[3]));
    __m512 q1 = PAIR64F(PAIR32F(a[4], a[5]), PAIR32F(a[6], a[7]));
    __m512 q2 = PAIR64F(PAIR32F(a[8], a[9]), PAIR32F(a[10], a[11]));
    __m512 q3 = PAIR64F(PAIR32F(a[12], a[13]), PAIR32F(a[14], a[15]));
#undef PAIR32F
#undef PAIR64F
    __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(q0, q1, 0x44), _mm512_shuffle_f32x4(q0, q1, 0xEE));
    __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(q2, q3, 0x44), _mm512_shuffle_f32x4(q2, q3, 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xDD));
}

#endif

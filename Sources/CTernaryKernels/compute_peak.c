// The int8 dot-product peak for `bench`: a loop of twelve independent multiply-add chains on
// register operands only (no loads), the instruction the ternary matmuls are built on. Prefill is
// compute-bound, so its fraction of this is what its efficiency means (as decode's fraction of the
// STREAM read). The operands pass through an empty asm each round so the compiler cannot hoist or
// merge the chains; the result depends on every chain.
#include "CTernaryKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define CHAINS(OP, T, INIT, ADD, REDUCE)                                                            \
    T a0 = INIT(1), a1 = INIT(2), a2 = INIT(3), a3 = INIT(4), a4 = INIT(5), a5 = INIT(6);          \
    T a6 = INIT(7), a7 = INIT(8), a8 = INIT(9), a9 = INIT(10), a10 = INIT(11), a11 = INIT(12);     \
    for (size_t i = 0; i < rounds; i++) {                                                          \
        a0 = OP(a0); a1 = OP(a1); a2 = OP(a2); a3 = OP(a3); a4 = OP(a4); a5 = OP(a5);              \
        a6 = OP(a6); a7 = OP(a7); a8 = OP(a8); a9 = OP(a9); a10 = OP(a10); a11 = OP(a11);          \
        __asm__ volatile("" : "+v"(u), "+v"(s));                                                  \
    }                                                                                               \
    T t = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));                       \
    t = ADD(t, ADD(ADD(a8, a9), ADD(a10, a11)));                                                    \
    return REDUCE(t)

__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
static int64_t peak_avx512vnni(size_t rounds) {
    __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(-1);
#define OP512(a) _mm512_dpbusd_epi32(a, u, s)
    CHAINS(OP512, __m512i, _mm512_set1_epi32, _mm512_add_epi32, (int64_t)_mm512_reduce_add_epi32);
}

__attribute__((target("avx2,fma,avxvnni")))
static int64_t peak_avxvnni(size_t rounds) {
    __m256i u = _mm256_set1_epi8(1), s = _mm256_set1_epi8(-1);
#define OPVNNI(a) _mm256_dpbusd_avx_epi32(a, u, s)
#define REDUCE256(v) ((int64_t)_mm256_extract_epi32(v, 0) + _mm256_extract_epi32(v, 7))
    CHAINS(OPVNNI, __m256i, _mm256_set1_epi32, _mm256_add_epi32, REDUCE256);
}

// AVX2 has no int8 dot-product-accumulate: vpmaddubsw (32 multiply-adds into int16 pairs), then
// an add, is what its ternary kernels issue per 32 weights.
__attribute__((target("avx2,fma")))
static int64_t peak_avx2(size_t rounds) {
    __m256i u = _mm256_set1_epi8(1), s = _mm256_set1_epi8(-1);
#define OPAVX2(a) _mm256_add_epi16(a, _mm256_maddubs_epi16(u, s))
    CHAINS(OPAVX2, __m256i, _mm256_set1_epi16, _mm256_add_epi16, REDUCE256);
}
#endif

int64_t tk_dot_peak(int isa, size_t rounds) {
#if defined(__x86_64__)
    int features = tk_cpu_features();
    if (isa == TK_ISA_AVX512VNNI && (features & TK_ISA_AVX512VNNI)) return peak_avx512vnni(rounds);
    if (isa == TK_ISA_AVXVNNI && (features & TK_ISA_AVXVNNI)) return peak_avxvnni(rounds);
    if (isa == TK_ISA_AVX2 && (features & TK_ISA_AVX2)) return peak_avx2(rounds);
#endif
    (void)isa; (void)rounds;
    return -1;
}

size_t tk_dot_peak_macs_per_round(int isa) {
    switch (isa) {
    case TK_ISA_AVX512VNNI: return 12 * 64;
    case TK_ISA_AVXVNNI: return 12 * 32;
    case TK_ISA_AVX2: return 12 * 32;
    default: return 0;
    }
}

// Internal to CTernaryKernels (not a public header): the software prefetch distances of the decode
// GEMVs, shared by every format's kernels. Include after <immintrin.h>.
#ifndef TK_PREFETCH_H
#define TK_PREFETCH_H

// Bytes ahead of the line being read: into L1, and (further) into L2.
#ifndef TK_PREFETCH_L1
#define TK_PREFETCH_L1 512
#endif
#ifndef TK_PREFETCH_L2
#define TK_PREFETCH_L2 4096
#endif
#define PREFETCH_AHEAD(p)                                                    \
    do {                                                                     \
        _mm_prefetch((const char *)(p) + TK_PREFETCH_L1, _MM_HINT_T0);       \
        _mm_prefetch((const char *)(p) + TK_PREFETCH_L2, _MM_HINT_T1);       \
    } while (0)

#endif

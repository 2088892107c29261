#!/usr/bin/env bash
# Counts malloc-family calls of a command (an LD_PRELOAD shim, Linux/glibc), to check that decode
# allocates nothing per token: the count must not grow with -n.
#   scripts/count-mallocs.sh .build/release/ternary bench -p 0 -n 8 -t 2 -r 1
#   scripts/count-mallocs.sh .build/release/ternary bench -p 0 -n 72 -t 2 -r 1
set -euo pipefail
shim=$(mktemp -d)/count.so
cc -O2 -shared -fPIC -x c -o "$shim" - -ldl <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stddef.h>
static long calls;
static char early[1 << 16];
static size_t early_used;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_memalign)(void **, size_t, size_t);
void *malloc(size_t n) { if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc"); calls++; return real_malloc(n); }
void *calloc(size_t a, size_t b) {
    if (!real_calloc) { void *p = early + early_used; early_used += (a * b + 15) & ~(size_t)15; return p; }  /* dlsym's own calloc */
    calls++; return real_calloc(a, b);
}
static void (*real_free)(void *);
void free(void *p) {
    if ((char *)p >= early && (char *)p < early + sizeof early) return;  /* never from libc */
    if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
    real_free(p);
}
void *realloc(void *p, size_t n) { if (!real_realloc) real_realloc = dlsym(RTLD_NEXT, "realloc"); calls++; return real_realloc(p, n); }
int posix_memalign(void **p, size_t a, size_t n) { if (!real_memalign) real_memalign = dlsym(RTLD_NEXT, "posix_memalign"); calls++; return real_memalign(p, a, n); }
__attribute__((constructor)) static void start(void) { real_calloc = dlsym(RTLD_NEXT, "calloc"); }
__attribute__((destructor)) static void report(void) { fprintf(stderr, "allocations: %ld\n", calls); }
C
LD_PRELOAD="$shim" "$@"

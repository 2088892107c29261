#!/usr/bin/env bash
# The Swift tests under sanitizers (docs/RELIABILITY.md):
#
#   scripts/sanitize.sh [address|thread|all]     (default: all)
#
# address: every Swift test, the CLI tests included (TERNARY_BIN points them at the sanitized
#          `ternary`), under AddressSanitizer.
# thread:  the tests that run the worker pool, models on several threads and the batch scheduler
#          (its own thread, async streams), under ThreadSanitizer.
# Each builds in its own scratch directory (.build/asan, .build/tsan), beside the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"

if [ "$which" = address ] || [ "$which" = all ]; then
    echo "== AddressSanitizer: every Swift test"
    swift build --scratch-path .build/asan --sanitize=address
    TERNARY_BIN="$PWD/.build/asan/debug/ternary" ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" \
        swift test --scratch-path .build/asan --sanitize=address
fi

if [ "$which" = thread ] || [ "$which" = all ]; then
    echo "== ThreadSanitizer: the worker pool and multi-threaded model runs"
    TSAN_OPTIONS="halt_on_error=1:${TSAN_OPTIONS:-}" \
        swift test --scratch-path .build/tsan --sanitize=thread \
        --filter "workerPoolCoversRange|workerPoolOwnedFirstRuns|workerPoolPrefetchHintsAreHarmless|concurrentContexts|threadCountDoesNotChangeResults|BatchSchedulerTests"
fi

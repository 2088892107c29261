#!/usr/bin/env bash
# Runs every fuzz target (Sources/TernaryFuzzTargets) under libFuzzer + AddressSanitizer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default: 60 s, every target)
#
# Seeds and kept crash inputs live in Fuzz/corpus/<target>/ (`swift test` replays them all); what
# the fuzzer learns goes to .build/fuzz/corpus/<target>/, so a longer run resumes where the last
# one stopped. A crash, a sanitizer report, a property violation, a 10 s hang or a 2 GB
# allocation writes the input to Fuzz/corpus/<target>/crash-… (commit it with the fix) and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

swift build --product ternary-fuzz --scratch-path .build/fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address 2>&1 \
    | grep -v "Cannot export local symbol" || true
binary=.build/fuzz/debug/ternary-fuzz
[ -x "$binary" ] || { echo "fuzz build failed" >&2; exit 1; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(json packed-model tokenizer-file vocab-merges gguf text-round-trip openai-request)
fi

failed=()
for target in "${targets[@]}"; do
    mkdir -p ".build/fuzz/corpus/$target" "Fuzz/corpus/$target"
    echo "== $target: ${seconds} s"
    if ! ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}" "$binary" "$target" \
            -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="Fuzz/corpus/$target/" -print_final_stats=1 \
            ".build/fuzz/corpus/$target" "Fuzz/corpus/$target" 2> ".build/fuzz/$target.log"; then
        failed+=("$target")
        tail -60 ".build/fuzz/$target.log"
    fi
    grep -E "^stat::number_of_executed_units|^Done|NEW_FUNC|cov:" ".build/fuzz/$target.log" | tail -2
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs in Fuzz/corpus/<target>/crash-*)" >&2
    exit 1
fi
echo "fuzzing: no crashes in ${targets[*]}"

#!/usr/bin/env bash
# Every test: the Swift package (kernels, file format, tokenizer, PyTorch parity, CLI), the
# Python trainer (BitLinear, patcher, training, export, Swift/Python cross-checks, the packed-format
# mutation fuzz), then the reliability runs: every libFuzzer target for 30 s and the Swift tests
# under AddressSanitizer and ThreadSanitizer (docs/RELIABILITY.md).
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --quick    without the fuzzers and sanitizers
#
# Needs ../shared/data beside the repository. Creates .venv on first use. The chat page's browser
# test needs Debian's chromium and chromium-driver: under CI they are installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CI:-}" ] && ! command -v chromedriver >/dev/null; then
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Each phase's wall time, for keeping CI inside its budget.
phase() { local start=$SECONDS; "$@"; echo "== ${*:1:4}: $((SECONDS - start)) s"; }

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# llama-cpp-python (llama.cpp, to load the GGUFs `ternary export` writes) builds from source: a few
# minutes on two cores, once per environment; its multimodal library is not needed.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" phase .venv/bin/python -m pip install -q -e "python[test]"

phase swift build
phase swift test

TERNARY_BIN="$PWD/.build/debug/ternary" phase .venv/bin/python -m pytest python/tests -q --durations=15

if [ "${1:-}" != "--quick" ]; then
    phase scripts/fuzz.sh 30
    phase scripts/sanitize.sh all
fi

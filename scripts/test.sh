#!/usr/bin/env bash
# Every test: the Swift package (kernels, file format, tokenizer, PyTorch parity, CLI) and the
# Python trainer (BitLinear, patcher, training, export, and Swift/Python cross-checks).
# Needs ../shared/data beside the repository. Creates .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e "python[test]"

swift build
swift test

TERNARY_BIN="$PWD/.build/debug/ternary" .venv/bin/python -m pytest python/tests -q

#!/usr/bin/env bash
# Reproduces the GPT-2 XL rows of docs/BENCHMARKS.md: a synthetic all-ternary GPT-2 XL, the Swift
# engine at 1 and 2 threads, then the NumPy reference engine on the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-/tmp/gpt2-xl-synthetic.safetensors}
swift build -c release
[ -f "$MODEL" ] || .build/release/ternary synth --preset gpt2-xl --embeddings ternary -o "$MODEL"
lscpu | grep -E "Model name|^CPU\(s\)"
.build/release/ternary bench -m "$MODEL" -p 128 -n 64 -t 1,2 -r 5
.build/release/ternary bench -m "$MODEL" -p 128 -n 64 -t 2 -r 5 --json
PYTHONPATH=python .venv/bin/python -m ternary_qat.numpy_ref "$MODEL" --ids 1,2,3,4,5,6,7,8 -n 4

#!/usr/bin/env python3
"""Compare `ternary` binaries on a shared, noisy machine: the binaries take turns.

    scripts/ab-bench.py --rounds 5 BEFORE AFTER -- -m gxl.safetensors -p 0 -n 64 -t 2 -r 3
    scripts/ab-bench.py --rounds 4 BEFORE AFTER -- -m gxl-tok.safetensors --parallel 1,8 -p 16 -n 32 -r 2

Each round runs `BINARY bench ARGS --json` once per binary, the order reversed every other round
(so neither always runs first, on a cooler or warmer machine). Per row of the benchmark (test,
threads, depth or sequences) it prints each binary's median tok/s and range over the rounds, and
for every binary after the first: the median over the rounds of its ratio to the first binary in
the same round, and in how many rounds it was higher; with --parallel, also each level's ratio to
one sequence (the median over the rounds). docs/BENCHMARKS.md quotes these figures.
"""
import argparse
import json
import statistics
import subprocess
import sys


def row_key(row):
    if "parallel" in row:
        return f"{row['test']} x{row['parallel']} t{row['threads']}"
    return f"{row['test']} d{row.get('depth', 0)} t{row['threads']}"


def row_rate(row):
    return row.get("tokens_per_second", row.get("aggregate_decode_tokens_per_second"))


def run(binary, bench_args):
    try:
        done = subprocess.run([binary, "bench", *bench_args, "--json"], capture_output=True, text=True)
    except OSError as error:
        sys.exit(f"cannot run {binary}: {error.strerror} (give the path of a built ternary executable)")
    if done.returncode != 0:
        sys.exit(f"{binary} bench failed ({done.returncode}):\n{done.stderr.strip()}")
    try:
        rows, _ = json.JSONDecoder().raw_decode(done.stdout.lstrip())
    except json.JSONDecodeError as error:
        sys.exit(f"{binary} bench --json printed no JSON array ({error}):\n{done.stdout[:500]}")
    return {row_key(row): row for row in rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4, help="rounds; each runs every binary once (default 4)")
    parser.usage = "%(prog)s [--rounds N] BINARY BINARY [BINARY...] -- BENCH_ARGS..."
    parser.add_argument("binaries", nargs="+", help="two or more ternary executables; the first is the baseline")
    argv = sys.argv[1:]
    if "--" not in argv:
        parser.error("put the arguments for `ternary bench` after --")
    split = argv.index("--")
    args, bench_args = parser.parse_args(argv[:split]), argv[split + 1:]
    if len(args.binaries) < 2 or args.rounds < 1:
        parser.error("give at least two binaries and --rounds >= 1")
    if "--json" in bench_args:
        parser.error("leave out --json: the script adds it")

    results = [[None] * len(args.binaries) for _ in range(args.rounds)]  # [round][binary] -> {key: row}
    for r in range(args.rounds):
        order = list(range(len(args.binaries)))
        if r % 2:
            order.reverse()
        for b in order:
            results[r][b] = run(args.binaries[b], bench_args)
            print(f"round {r + 1}/{args.rounds}: {args.binaries[b]} done", file=sys.stderr)

    keys = list(results[0][0])

    def vs_one(b, key):
        """--parallel rows: the median over the rounds of this level's rate over one sequence's."""
        row = results[0][b].get(key)
        single = f"{row['test']} x1 t{row['threads']}" if row and "parallel" in row else None
        if single is None or single == key or single not in results[0][b]:
            return "–"
        ratios = [row_rate(results[r][b][key]) / row_rate(results[r][b][single]) for r in range(args.rounds)]
        return f"{statistics.median(ratios):.2f}×"

    print("| row | binary | median tok/s | range | ratio to the first (median of rounds) | higher in | vs. 1 sequence |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for key in keys:
        base = [results[r][0][key] for r in range(args.rounds)]
        for b, binary in enumerate(args.binaries):
            rows = [results[r][b].get(key) for r in range(args.rounds)]
            if any(row is None for row in rows):
                print(f"| {key} | {binary} | missing in some rounds | | | | |")
                continue
            rates = [row_rate(row) for row in rows]
            line = f"| {key} | {binary} | {statistics.median(rates):.2f} | {min(rates):.2f}–{max(rates):.2f} |"
            if b == 0:
                line += " – | – |"
            else:
                ratios = [rate / row_rate(first) for rate, first in zip(rates, base)]
                higher = sum(ratio > 1 for ratio in ratios)
                line += f" {statistics.median(ratios):.3f}× | {higher} of {args.rounds} |"
            print(line + f" {vs_one(b, key)} |")


if __name__ == "__main__":
    main()

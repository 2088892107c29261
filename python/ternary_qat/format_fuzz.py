"""Mutation fuzzing of packed files against the engine: mutate valid files (bytes, header fields,
config values, tokenizer entries, weight values), run `ternary inspect` and a generation on each, and
hold every answer against the strict reader of docs/FORMAT.md (`format_check`).

    python -m ternary_qat.format_fuzz --cases 2200 --ternary .build/release/ternary SEED.safetensors ...

A case fails when the engine crashes (a signal), hangs, answers without a clear `Error:` line, or
accepts a file the strict reader rejects. Failing inputs are kept in --keep (default: a temp dir).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .format_check import DTYPE_SIZES, FormatViolation, check_packed

ODD_NUMBERS = [0, -1, 1, 2, 3, 7, 63, 64, 65, 255, 2**31 - 1, 2**31, 2**32, 2**53, 2**62, 2**63 - 1, 2**64,
               -2**63, 1.5, 1e308, -0.0, 1e-320, "12", None, True, [], {}]


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict | str, body: bytes) -> bytes:
    text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def _tensor_names(header: dict) -> list[str]:
    return sorted(k for k in header if k != "__metadata__")


# Each mutator takes (rng, bytes of a valid file) and returns (bytes, description).
def flip_bits(rng, data):
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 8])):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out), "bit flips"


def set_bytes(rng, data):
    out = bytearray(data)
    i = rng.randrange(len(out))
    n = rng.choice([1, 2, 4, 8])
    out[i:i + n] = bytes(rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)]) for _ in range(n))[:len(out) - i]
    return bytes(out), "byte overwrite"


def truncate(rng, data):
    return data[:rng.randrange(len(data))], "truncation"


def append(rng, data):
    return data + bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 8, 64]))), "trailing bytes"


def header_length(rng, data):
    (n,) = struct.unpack("<Q", data[:8])
    value = rng.choice([0, n - 8, n + 8, n - 1, n + 1, len(data), 2**63, 2**64 - 1, 7])
    return struct.pack("<Q", max(0, value) % 2**64) + data[8:], "header length"


def header_text(rng, data):
    (n,) = struct.unpack("<Q", data[:8])
    text = data[8:8 + n].decode("utf-8")
    i = rng.randrange(len(text))
    edit = rng.choice(["delete", "insert", "duplicate-key", "float"])
    if edit == "delete":
        text = text[:i] + text[i + 1:]
    elif edit == "insert":
        text = text[:i] + rng.choice(['"', "{", "}", ",", ":", "1", "\\", "\u0000", "\udc80", "]"]) + text[i:]
    elif edit == "duplicate-key":
        header, _ = _split(data)
        name = rng.choice(_tensor_names(header))
        entry = json.dumps(header[name], separators=(",", ":"))
        text = text.rstrip()[:-1] + f',"{name}":{entry}' + "}"
    else:
        text = text.replace('"shape":[', '"shape":[1.0,', 1) if rng.random() < 0.5 else text.replace('"data_offsets":[0,', '"data_offsets":[0.0,', 1)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n:], f"header text ({edit})"


def tensor_entry(rng, data):
    header, body = _split(data)
    name = rng.choice(_tensor_names(header))
    entry = header[name]
    field = rng.choice(["dtype", "shape", "offsets", "delete", "extra", "zero-length"])
    if field == "dtype":
        entry["dtype"] = rng.choice(sorted(DTYPE_SIZES) + ["F8", "", "u32"])
    elif field == "shape":
        if entry["shape"]:
            i = rng.randrange(len(entry["shape"]))
            entry["shape"][i] = rng.choice([0, 1, entry["shape"][i] + 1, entry["shape"][i] - 1, 2**62, -1])
        else:
            entry["shape"] = [rng.choice([0, 2])]
    elif field == "offsets":
        b, e = entry["data_offsets"]
        entry["data_offsets"] = rng.choice([[b + 4, e + 4], [b - 4, e - 4], [e, b], [b, 2**64], [0, e - b], [b, b]])
    elif field == "delete":
        del header[name]
    elif field == "extra":
        header[name + ".extra"] = dict(entry)
    else:
        b = entry["data_offsets"][0] + 4
        header["zero"] = {"dtype": "F32", "shape": [0], "data_offsets": [b, b]}
    return _join(header, body), f"tensor entry ({field})"


def config_value(rng, data):
    header, body = _split(data)
    meta = header["__metadata__"]
    which = rng.choice(["config", "config", "quantization"])
    value = json.loads(meta[which])
    key = rng.choice(sorted(value))
    action = rng.random()
    if action < 0.1:
        del value[key]
        description = f"{which} delete {key}"
    else:
        odd = rng.choice(ODD_NUMBERS + ["silu", "gelu_new", "neox", "int8", "ternary", "bf16"])
        if isinstance(value[key], (int, float)) and not isinstance(value[key], bool) and rng.random() < 0.4:
            odd = value[key] * 2 if rng.random() < 0.5 else value[key] + 1
        value[key] = odd
        description = f"{which} {key} = {json.dumps(odd)[:20]}"
    meta[which] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return _join(header, body), description


def metadata_key(rng, data):
    header, body = _split(data)
    meta = header["__metadata__"]
    key = rng.choice(sorted(meta))
    action = rng.choice(["delete", "value", "non-string"])
    if action == "delete":
        del meta[key]
    elif action == "value":
        meta[key] = rng.choice(["", "2", "llama", "gpt2", "mamba2", "{}", "[]", "{\"a\":1,\"a\":2}", "ternary-pipeline", "gpt2-bpe"])
    else:
        meta[key] = rng.choice([1, None, [], {}])
    return _join(header, body), f"metadata {key} ({action})"


def tokenizer_entry(rng, data):
    header, body = _split(data)
    meta = header["__metadata__"]
    if "tokenizer.spec" in meta:
        spec = json.loads(meta["tokenizer.spec"])
        key = rng.choice(sorted(spec))
        if isinstance(spec[key], list) and spec[key] and rng.random() < 0.7:
            i = rng.randrange(len(spec[key]))
            spec[key][i] = rng.choice([-1, 2**31, 2**62, len(spec.get("pieces", [])), "x", None, 0, 2**53])
        else:
            spec[key] = rng.choice([None, [], {}, -1, 2**62, "", True])
        meta["tokenizer.spec"] = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return _join(header, body), f"tokenizer.spec {key}"
    if "tokenizer.vocab" in meta:
        if rng.random() < 0.5:
            vocab = json.loads(meta["tokenizer.vocab"])
            piece = rng.choice(sorted(vocab))
            vocab[piece] = rng.choice([-1, 2**31, 2**62, len(vocab), 0, 1.5, None])
            meta["tokenizer.vocab"] = json.dumps(vocab, separators=(",", ":"), ensure_ascii=False)
            return _join(header, body), "tokenizer.vocab id"
        lines = meta["tokenizer.merges"].split("\n")
        i = rng.randrange(len(lines))
        lines[i] = rng.choice(["", "a", "a b c", "\r", "zz qq", lines[i] + "\r", " "])
        meta["tokenizer.merges"] = "\n".join(lines)
        return _join(header, body), "tokenizer.merges line"
    return set_bytes(rng, data)


def weight_value(rng, data):
    header, body = _split(data)
    name = rng.choice(_tensor_names(header))
    entry = header[name]
    b, e = entry["data_offsets"]
    if e == b:
        return flip_bits(rng, data)
    body = bytearray(body)
    size = DTYPE_SIZES.get(entry["dtype"], 1)
    i = b + rng.randrange((e - b) // size) * size
    special = {"F32": [struct.pack("<f", math.nan), struct.pack("<f", math.inf), struct.pack("<f", -math.inf), struct.pack("<f", 0.0),
                       struct.pack("<f", -1.0), struct.pack("<f", 3e38)],
               "F16": [b"\x00\x7e", b"\x00\x7c", b"\x00\xfc", b"\xff\x7b"], "BF16": [b"\xc0\x7f", b"\x80\x7f", b"\x80\xff"],
               "I8": [b"\x80", b"\x7f", b"\x81"], "U32": [b"\xff\xff\xff\xff", b"\x03\x00\x00\x00", b"\x00\x00\x00\xc0"],
               "U8": [b"\xf3", b"\xff", b"\xf2", b"\x00"]}  # t1.6: past 242 (243, 255), the last valid byte, five codes 0
    value = rng.choice(special.get(entry["dtype"], [bytes([rng.randrange(256)]) * size]))
    body[i:i + len(value)] = value
    return _join(header, bytes(body)), f"value of {entry['dtype']}"


MUTATORS = [flip_bits, set_bytes, truncate, append, header_length, header_text, tensor_entry, config_value, config_value,
            metadata_key, tokenizer_entry, weight_value, weight_value]


@dataclass
class Outcome:
    case: int
    mutation: str
    verdict: str          # ok-rejected | ok-accepted | crash | hang | unclear | accepted-invalid | rejected-valid
    detail: str
    path: Path | None = None


FAILURES = ("crash", "hang", "unclear", "accepted-invalid")


def _run(command: list[str], timeout: float) -> tuple[str, int | None, str]:
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "hang", None, ""
    err = result.stderr.decode("utf-8", "replace")
    if result.returncode < 0:
        return "crash", result.returncode, err
    if result.returncode != 0:
        last = [line for line in err.splitlines() if line.strip()]
        clear = bool(last) and last[-1].startswith("Error: ") and "Fatal error" not in err and len(last[-1]) < 2000
        return ("rejected" if clear else "unclear"), result.returncode, err
    return "accepted", 0, err


def run_case(ternary: str, path: Path, has_tokenizer: bool, timeout: float) -> tuple[str, str]:
    answers = []
    commands = [[ternary, "inspect", str(path)]]
    commands.append([ternary, "generate", "-m", str(path), "-n", "2", "--temperature", "0", "-t", "1", "--quiet", "Hello"]
                    if has_tokenizer else [ternary, "bench", "-m", str(path), "-p", "2", "-n", "2", "-r", "1", "-t", "1"])
    for command in commands:
        verdict, code, err = _run(command, timeout)
        if verdict in ("crash", "hang", "unclear"):
            return verdict, f"{command[1]}: rc {code}: {err.strip()[-300:]}"
        answers.append((command[1], verdict, err))
    accepted = [name for name, verdict, _ in answers if verdict == "accepted"]
    try:
        check_packed(path)
        strict = None
    except FormatViolation as e:
        strict = str(e)
    except Exception as e:  # the strict reader itself must not fail on any input
        strict = f"strict reader raised {type(e).__name__}: {e}"
    if accepted and strict is not None:
        return "accepted-invalid", f"{'/'.join(accepted)} accepted; strict reader: {strict}"
    if not accepted and strict is None:
        return "rejected-valid", answers[-1][2].strip()[-300:]
    return ("ok-accepted" if accepted else "ok-rejected"), strict or ""


def fuzz(seeds: list[Path], cases: int, ternary: str, seed: int = 0, workers: int | None = None, timeout: float = 30,
         keep: Path | None = None, progress: bool = True) -> list[Outcome]:
    rng = random.Random(seed)
    originals = [(s, s.read_bytes()) for s in seeds]
    scratch = Path(tempfile.mkdtemp(prefix="ternary-format-fuzz-"))
    jobs = []
    for case in range(cases):
        source, data = rng.choice(originals)
        mutator = rng.choice(MUTATORS)
        case_rng = random.Random(rng.getrandbits(64))
        try:
            mutated, description = mutator(case_rng, data)
        except (ValueError, KeyError, IndexError, TypeError) as e:  # a mutator that does not apply to this seed
            mutated, description = flip_bits(case_rng, data)[0], f"bit flips (after {mutator.__name__}: {type(e).__name__})"
        path = scratch / f"case-{case:05d}.safetensors"
        path.write_bytes(mutated)
        has_tokenizer = b'"tokenizer.model"' in data[:200_000]
        jobs.append((case, f"{source.name}: {description}", path, has_tokenizer))

    def work(job):
        case, description, path, has_tokenizer = job
        verdict, detail = run_case(ternary, path, has_tokenizer, timeout)
        return Outcome(case, description, verdict, detail, path)

    outcomes = []
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        for outcome in tqdm(pool.map(work, jobs), total=len(jobs), desc="format fuzz", disable=not progress, unit="case"):
            if outcome.verdict in FAILURES and keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                kept = keep / outcome.path.name
                shutil.copyfile(outcome.path, kept)
                outcome.path = kept
            outcomes.append(outcome)
    shutil.rmtree(scratch, ignore_errors=True)
    return outcomes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", nargs="+", type=Path, help="valid packed files to mutate")
    parser.add_argument("--cases", type=int, default=2200)
    parser.add_argument("--ternary", default=os.environ.get("TERNARY_BIN", ".build/debug/ternary"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "ternary-format-fuzz-failures")
    args = parser.parse_args(argv)
    for s in args.seeds:
        check_packed(s)  # a seed must be valid, or "accepted-invalid" means nothing
    outcomes = fuzz(args.seeds, args.cases, args.ternary, args.seed, args.workers, args.timeout, args.keep)
    verdicts = Counter(o.verdict for o in outcomes)
    print(f"{len(outcomes)} cases × 2 commands: " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))
    by_kind = Counter(o.mutation.split(": ", 1)[1].split(" (")[0].split(" = ")[0] for o in outcomes)
    print("mutations: " + ", ".join(f"{k} {n}" for k, n in by_kind.most_common()))
    for o in outcomes:
        if o.verdict in FAILURES or o.verdict == "rejected-valid":
            print(f"  {o.verdict}: case {o.case} ({o.mutation}) {o.detail[:400]}  [{o.path}]")
    return 1 if any(o.verdict in FAILURES for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())

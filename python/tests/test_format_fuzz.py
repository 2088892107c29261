"""The strict reader of docs/FORMAT.md, and a mutation fuzz of packed files against the engine:
no crash, no hang, no unclear error, and no file accepted that the strict reader rejects."""
import json
import struct

import numpy as np
import pytest

from conftest import ROOT
from ternary_qat.format_check import FormatViolation, check_packed
from ternary_qat.format_fuzz import FAILURES, fuzz

SEEDS = sorted((ROOT / "Fuzz" / "corpus" / "packed-model").glob("seed-*"))
SHIPPED = ROOT / "models" / "shakespeare-ternary.safetensors"


def _rewrite(src, dst, edit_header=None, edit_body=None):
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header, body = json.loads(data[8:8 + n]), bytearray(data[8 + n:])
    if edit_header:
        edit_header(header)
    if edit_body:
        edit_body(header, body)
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(body))
    return dst


def test_the_strict_reader_accepts_what_the_writers_write():
    assert SEEDS, "no seeds: run scripts/fuzz-seeds.py"
    for path in SEEDS + [SHIPPED]:
        check_packed(path)


def _poke(name, offset, value):
    def edit(header, body):
        begin = header[name]["data_offsets"][0]
        body[begin + offset:begin + offset + len(value)] = value
    return edit


@pytest.mark.parametrize("case, edit_header, edit_body, message", [
    ("extra tensor", lambda h: h.__setitem__("x", {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}), None, "does not have"),
    ("config key", lambda h: h["__metadata__"].__setitem__("config", json.dumps({**json.loads(h["__metadata__"]["config"]), "n_embd": 8},
                                                                                      sort_keys=True, separators=(",", ":"))),
     None, "padding is not code 1"),
    ("NaN", None, _poke("ln_f.weight", 0, struct.pack("<f", float("nan"))), "NaN"),
    ("code 3", None, _poke("h.0.mlp.c_fc.weight", 3, b"\xff"), "code 3"),
    ("vocabulary not canonical", lambda h: h["__metadata__"].__setitem__("tokenizer.vocab", h["__metadata__"]["tokenizer.vocab"] + " "), None,
     "canonical"),
])
def test_the_strict_reader_rejects_each_broken_rule(tmp_path, case, edit_header, edit_body, message):
    bad = _rewrite(ROOT / "Fuzz" / "corpus" / "packed-model" / "seed-gpt2-ternary", tmp_path / "bad.safetensors", edit_header, edit_body)
    with pytest.raises(FormatViolation, match=message):
        check_packed(bad)


def _edit_config(**changes):
    def edit(header):
        config = {**json.loads(header["__metadata__"]["config"]), **changes}
        header["__metadata__"]["config"] = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return edit


@pytest.mark.parametrize("changes, message", [
    ({"head_dim": 4}, "num_heads × head_dim is not expand × hidden_size"),
    ({"time_step_limit": [0.5, 0.25]}, "time_step_limit"),
    ({"time_step_limit": [0.0, 1e39]}, "time_step_limit"),
    ({"bitmamba": True, "tie_word_embeddings": True}, "tie_word_embeddings"),
    ({"bitmamba": True}, "does not have"),  # BitMamba-2's block has other tensors
    ({"conv_kernel": 17}, "conv_kernel"),
    ({"n_groups": 3}, "n_groups"),
    ({"state_size": 4}, "in_proj.weight: .* expected"),
])
def test_the_strict_reader_checks_mamba2_files(tmp_path, changes, message):
    seed = ROOT / "Fuzz" / "corpus" / "packed-model" / "seed-mamba2-ternary"
    check_packed(seed)
    with pytest.raises(FormatViolation, match=message):
        check_packed(_rewrite(seed, tmp_path / "bad.safetensors", _edit_config(**changes)))


def test_the_strict_reader_refuses_an_A_log_whose_exp_overflows(tmp_path):
    # Found by the mutation fuzz: the engine refused it (A = −exp(A_log) is infinite) and the
    # document did not say so.
    seed = ROOT / "Fuzz" / "corpus" / "packed-model" / "seed-mamba2-ternary"
    bad = _rewrite(seed, tmp_path / "bad.safetensors", None, _poke("layers.0.mixer.A_log", 4, struct.pack("<f", 88.8)))
    with pytest.raises(FormatViolation, match="exp\\(A_log\\)"):
        check_packed(bad)


def test_mutated_files_get_clear_errors_and_nothing_invalid_is_accepted(ternary_bin, tmp_path):
    outcomes = fuzz(SEEDS, cases=300, ternary=ternary_bin, seed=12345, keep=tmp_path / "failures", progress=False)
    failures = [o for o in outcomes if o.verdict in FAILURES]
    assert not failures, "\n".join(f"{o.verdict}: {o.mutation}: {o.detail[:300]}" for o in failures[:10])
    verdicts = {o.verdict for o in outcomes}
    assert "ok-rejected" in verdicts and "ok-accepted" in verdicts, "the mutations should both break and keep files valid"

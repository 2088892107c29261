"""Mamba-2: the token-by-token reference (the oracle of the Swift parity fixtures) against
transformers' own Mamba2ForCausalLM, and the exported checkpoint through `ternary pack`."""

import json
import math
import re
import subprocess

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ternary_qat import export_hf, patch_model
from ternary_qat import reference_mamba2 as R


def tiny_mamba2(groups: int, seed: int = 0, rms_norm: bool = False, **kw):
    from transformers import Mamba2Config, Mamba2ForCausalLM

    torch.manual_seed(seed)
    config = Mamba2Config(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_heads=8, head_dim=16, state_size=16,
                          n_groups=groups, expand=2, conv_kernel=4, initializer_range=0.25, use_cache=False, **kw)
    model = Mamba2ForCausalLM(config).eval()
    patch_model(model, rms_norm=rms_norm)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith(("dt_bias", ".D", "conv1d.bias")):
                p.copy_(torch.randn_like(p))
    return model


@pytest.mark.parametrize("groups,rms_norm", [(1, False), (2, True)])
def test_the_reference_matches_transformers_mamba2(tmp_path, groups, rms_norm):
    model = tiny_mamba2(groups, rms_norm=rms_norm, tie_word_embeddings=groups == 1)
    export_hf(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    w = R.quantize_state(load_file(str(tmp_path / "model.safetensors")), config, embeddings="f32", rms_norm=rms_norm)
    ids = np.random.default_rng(0).integers(0, 300, size=40).tolist()
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].numpy()  # transformers' chunked scan
    got = R.forward(w, ids)
    assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())
    # Token by token through the state gives the same logits as the whole prompt.
    state = R.new_state(w)
    stepped = np.concatenate([R.forward(w, [i], state) for i in ids])
    assert np.abs(stepped - got).max() <= 1e-5 * max(1.0, np.abs(got).max())


def test_an_exported_mamba2_packs_as_transformers_wrote_it_and_generates(tmp_path, ternary_bin, tokenizer_dir):
    model = tiny_mamba2(2)
    model.config.vocab_size = 300
    export_hf(model, tmp_path / "hf")
    assert "Infinity" in (tmp_path / "hf" / "config.json").read_text()  # time_step_limit, not strict JSON
    packed = tmp_path / "m.safetensors"
    subprocess.run([ternary_bin, "pack", tmp_path / "hf", "-o", packed, "--no-tokenizer"], check=True, capture_output=True)
    out = subprocess.run([ternary_bin, "inspect", packed], check=True, capture_output=True, text=True).stdout
    assert "architecture:   mamba2" in out and "check:          ok" in out


def test_a_mamba2_saved_by_transformers_packs_whichever_way_it_writes_infinity(tmp_path, ternary_bin):
    # transformers 4 writes time_step_limit's unbounded maximum as the literal Infinity, transformers
    # 5 as {"__float__": "Infinity"}: the packer reads both, to the same file.
    from transformers import Mamba2Config, Mamba2ForCausalLM

    torch.manual_seed(0)
    model = Mamba2ForCausalLM(Mamba2Config(vocab_size=300, hidden_size=32, num_hidden_layers=1, num_heads=4, head_dim=16,
                                           state_size=8, n_groups=1, expand=2, conv_kernel=4))
    model.save_pretrained(tmp_path / "saved")
    text = (tmp_path / "saved" / "config.json").read_text()
    literal = re.sub(r'\{\s*"__float__":\s*"Infinity"\s*\}', "Infinity", text)
    assert "Infinity" in literal and "__float__" not in literal
    forms = {"literal": literal, "tagged": literal.replace("Infinity", '{"__float__": "Infinity"}')}
    packed = {}
    for form, config in forms.items():
        directory = tmp_path / form
        directory.mkdir()
        (directory / "config.json").write_text(config)
        (directory / "model.safetensors").symlink_to(tmp_path / "saved" / "model.safetensors")
        packed[form] = tmp_path / f"{form}.safetensors"
        subprocess.run([ternary_bin, "pack", directory, "-o", packed[form], "--no-tokenizer"], check=True, capture_output=True)
    assert packed["literal"].read_bytes() == packed["tagged"].read_bytes()
    out = subprocess.run([ternary_bin, "inspect", packed["tagged"]], check=True, capture_output=True, text=True).stdout
    assert "architecture:   mamba2" in out and "check:          ok" in out


@pytest.mark.parametrize("edit,fragment", [
    ({"head_dim": 8}, "num_heads × head_dim (8 × 8) must equal expand × hidden_size"),
    ({"n_groups": 3}, "n_groups"),
    ({"n_groups": 4}, "in_proj"),
    ({"time_step_limit": [1.0, 0.5]}, "time_step_limit"),
])
def test_inconsistent_mamba2_configs_are_errors_naming_the_field_or_tensor(tmp_path, ternary_bin, edit, fragment):
    model = tiny_mamba2(2)
    export_hf(model, tmp_path / "hf")
    path = tmp_path / "hf" / "config.json"
    config = json.loads(path.read_text().replace("Infinity", "1e999"))
    config.update(edit)
    if edit.get("head_dim") == 8:
        config["num_heads"] = 8
    path.write_text(json.dumps(config))
    result = subprocess.run([ternary_bin, "pack", tmp_path / "hf", "-o", tmp_path / "x.safetensors", "--no-tokenizer"],
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert fragment in result.stderr, result.stderr
    assert "Fatal error" not in result.stderr


def test_a_bitmamba2_bit2_file_packs_and_malformed_ones_are_clear_errors(tmp_path, ternary_bin):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from make_swift_fixtures import tiny_bit2

    good = tmp_path / "tiny.bin"
    tiny_bit2(0, good)
    packed = tmp_path / "tiny.safetensors"
    subprocess.run([ternary_bin, "pack", good, "-o", packed, "--no-tokenizer"], check=True, capture_output=True)
    out = subprocess.run([ternary_bin, "inspect", packed], check=True, capture_output=True, text=True).stdout
    assert '"bitmamba":true' in out and "lm_head.weight_scale" in out  # the head stays ternary
    raw = good.read_bytes()
    kind_at = 20 + 4 + 4 + 4 * 2 + 4 * 300 * 64  # header, the embeddings: kind, rank, dims, values; then in_proj.norm
    for label, data, fragment in [
        ("truncated", raw[:-100], "truncated"),
        ("kind", raw[:kind_at] + (7).to_bytes(4, "little") + raw[kind_at + 4:], "kind 7"),
        ("trailing", raw + b"\0" * 8, "follow the last tensor"),
        ("layers", raw[:12] + (1 << 20).to_bytes(4, "little") + raw[16:], "n_layers"),
    ]:
        bad = tmp_path / f"{label}.bin"
        bad.write_bytes(data)
        result = subprocess.run([ternary_bin, "pack", bad, "-o", tmp_path / "x.safetensors", "--no-tokenizer"], capture_output=True, text=True)
        assert result.returncode != 0 and fragment in result.stderr, (label, result.stderr)
        assert "Fatal error" not in result.stderr


def test_qat_with_distillation_on_mamba2_trains_exports_packs_and_the_engine_scores_it_as_the_reference(
        tmp_path, ternary_bin, shakespeare, tokenizer_dir):
    from ternary_qat import train as T

    text = tmp_path / "text.txt"
    text.write_text(shakespeare.read_text()[:40_000])
    config = {"model_type": "mamba2", "num_hidden_layers": 2, "hidden_size": 32, "num_heads": 4, "head_dim": 16, "state_size": 16,
              "n_groups": 1, "expand": 2, "conv_kernel": 4, "chunk_size": 32, "tie_word_embeddings": True, "use_cache": False}
    common = ["--data", str(text), "--tokenizer", str(tokenizer_dir), "--seq-len", "32", "--batch-size", "8", "--eval-every", "10",
              "--eval-batches", "2", "--no-progress", "--seed", "3", "--warmup-steps", "2", "--lr", "3e-3", "--threads", "2"]
    T.train(common + ["--out", str(tmp_path / "fp"), "--mode", "fp", "--model-config", json.dumps(config), "--steps", "30", "--lr", "1e-2"])
    teacher = tmp_path / "fp" / "export"
    T.train(common + ["--out", str(tmp_path / "kd"), "--init", str(teacher), "--teacher", str(teacher), "--steps", "15",
                      "--lambda-warmup", "5"])
    def history(name):
        return [json.loads(l) for l in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    fp, kd = history("fp"), history("kd")
    assert fp[-1]["eval_loss"] < fp[0]["loss"] - 0.3  # the FP Mamba-2 learns
    assert kd[-1]["eval_loss"] < math.log(50257)  # the ternary student is far from a random model
    export = tmp_path / "kd" / "export"
    exported = json.loads((export / "config.json").read_text())
    assert exported["model_type"] == "mamba2" and exported["ternary_qat"]["rms_norm"] is False
    packed = tmp_path / "kd.safetensors"
    subprocess.run([ternary_bin, "pack", export, "-o", packed], check=True, capture_output=True)
    scored = tmp_path / "scored.txt"
    scored.write_text(shakespeare.read_text()[50_000:52_000])
    ours = json.loads(subprocess.run([ternary_bin, "perplexity", "-m", packed, "--file", scored, "--ctx", "32", "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    ids = json.loads(subprocess.run([ternary_bin, "tokenize", "-m", packed, "--ids", "--file", scored],
                                    check=True, capture_output=True, text=True).stdout)
    w = R.quantize_state(load_file(str(export / "model.safetensors")), exported, embeddings="f16")
    want, count = R.perplexity(w, ids, 32)
    assert ours["tokens_scored"] == count
    assert abs(ours["ppl"] - want) / want < 1e-3, (ours, want)

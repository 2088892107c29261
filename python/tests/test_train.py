import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from ternary_qat import train as T

ROOT = Path(__file__).resolve().parents[2]


def small_text(tmp_path, shakespeare, chars=60_000) -> str:
    path = tmp_path / "text.txt"
    path.write_text(shakespeare.read_text()[:chars])
    return str(path)


def args(tmp_path, shakespeare, tokenizer_dir, out, *extra):
    return ["--data", small_text(tmp_path, shakespeare), "--tokenizer", str(tokenizer_dir), "--out", str(out),
            "--model-config", json.dumps({"n_layer": 2, "n_embd": 32, "n_head": 2}), "--seq-len", "32",
            "--batch-size", "8", "--eval-every", "10", "--eval-batches", "2", "--no-progress", "--seed", "3",
            "--warmup-steps", "2", "--lr", "3e-3", "--threads", "2", *extra]


def history(out):
    return [json.loads(l) for l in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_a_short_qat_run_lowers_the_loss_and_writes_plot_checkpoint_and_export(tmp_path, shakespeare, tokenizer_dir):
    out = tmp_path / "run"
    T.train(args(tmp_path, shakespeare, tokenizer_dir, out, "--steps", "20"))
    h = history(out)
    first = sum(r["loss"] for r in h[:3]) / 3
    last = sum(r["loss"] for r in h[-3:]) / 3
    assert last < first - 0.5, (first, last)
    assert h[-1]["eval_loss"] < h[9]["eval_loss"]
    assert (out / "loss.png").stat().st_size > 1000
    export = out / "export"
    config = json.loads((export / "config.json").read_text())
    assert config["ternary_qat"]["rms_norm"] is False
    assert (export / "vocab.json").exists() and (export / "merges.txt").exists()
    assert load_file(str(export / "model.safetensors"))["transformer.h.0.attn.c_attn.weight"].shape == (32, 96)


def test_distillation_loss_is_zero_for_identical_student_and_teacher():
    logits = torch.randn(2, 5, 50)
    assert T.distillation_loss(logits, logits.clone(), 2.0).abs().item() < 1e-6
    assert T.distillation_loss(logits, torch.randn(2, 5, 50), 2.0).item() > 0.01


def test_resume_from_an_interrupted_run_is_bit_identical(tmp_path, shakespeare, tokenizer_dir):
    full, cut = tmp_path / "full", tmp_path / "cut"
    T.train(args(tmp_path, shakespeare, tokenizer_dir, full, "--steps", "12"))
    T.train(args(tmp_path, shakespeare, tokenizer_dir, cut, "--steps", "12", "--stop-at", "5"))
    assert torch.load(cut / "checkpoint.pt", weights_only=False)["step"] == 5
    assert not (cut / "export").exists()
    T.train(args(tmp_path, shakespeare, tokenizer_dir, cut, "--steps", "12", "--resume"))
    a = torch.load(full / "checkpoint.pt", weights_only=False)
    b = torch.load(cut / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 12
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]


def test_torchrun_with_two_cpu_processes_trains_to_the_end_with_identical_weights(tmp_path, shakespeare, tokenizer_dir):
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ternary_qat.train",
           *args(tmp_path, shakespeare, tokenizer_dir, out, "--steps", "8", "--threads", "1", "--save-all-ranks")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    r0 = torch.load(out / "rank0.pt", weights_only=False)
    r1 = torch.load(out / "rank1.pt", weights_only=False)
    assert r0.keys() == r1.keys()
    for name in r0:
        assert torch.equal(r0[name], r1[name]), name
    assert len(history(out)) == 8
    assert (out / "export" / "model.safetensors").exists()


def test_bf16_autocast_and_lambda_warmup_run(tmp_path, shakespeare, tokenizer_dir):
    out = tmp_path / "bf16"
    T.train(args(tmp_path, shakespeare, tokenizer_dir, out, "--steps", "4", "--dtype", "bf16", "--lambda-warmup", "4",
                 "--rms-norm"))
    h = history(out)
    assert len(h) == 4 and all(torch.isfinite(torch.tensor(r["loss"])) for r in h)
    assert T.quant_lambda(T.parse_args(["--data", "x", "--tokenizer", "y", "--out", "z", "--lambda-warmup", "10"]), 5) == 0.5


def test_bad_options_are_rejected_with_a_message(capsys):
    import pytest

    for bad in (["--steps", "0"], ["--holdout-fraction", "1.5"], ["--lr", "0"], ["--mode", "fp", "--teacher", "t"]):
        with pytest.raises(SystemExit):
            T.parse_args(["--data", "x", "--tokenizer", "y", "--out", "z", *bad])
    assert "error" in capsys.readouterr().err

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
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
    ratios = h[-1]["zero_ratio"]  # each ternary layer's fraction of zero weights, at every evaluation
    assert sorted(ratios) == sorted(f"transformer.h.{i}.{m}" for i in range(2) for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"))
    assert all(0.1 < r < 0.6 for r in ratios.values()) and "zero_ratio" in h[9] and "zero_ratio" not in h[8]
    export = out / "export"
    config = json.loads((export / "config.json").read_text())
    assert config["ternary_qat"]["rms_norm"] is False
    assert (export / "vocab.json").exists() and (export / "merges.txt").exists()
    card = (export / "README.md").read_text()
    assert "| mode | qat |" in card and "| steps | 20 |" in card and "ternary pack . -o model.safetensors" in card
    assert f"| final held-out loss | {h[-1]['eval_loss']} |" in card
    assert json.loads((export / "generation_config.json").read_text())["eos_token_id"] == 50256
    assert load_file(str(export / "model.safetensors"))["transformer.h.0.attn.c_attn.weight"].shape == (32, 96)


def test_distillation_loss_is_zero_for_identical_student_and_teacher():
    logits = torch.randn(2, 5, 50)
    assert T.distillation_loss(logits, logits.clone(), 2.0).abs().item() < 1e-6
    assert T.distillation_loss(logits, torch.randn(2, 5, 50), 2.0).item() > 0.01


def test_resume_from_an_interrupted_run_is_bit_identical(tmp_path, shakespeare, tokenizer_dir):
    full, cut = tmp_path / "full", tmp_path / "cut"
    T.train(args(tmp_path, shakespeare, tokenizer_dir, full, "--steps", "8"))
    T.train(args(tmp_path, shakespeare, tokenizer_dir, cut, "--steps", "8", "--stop-at", "3"))
    assert torch.load(cut / "checkpoint.pt", weights_only=False)["step"] == 3
    assert not (cut / "export").exists()
    T.train(args(tmp_path, shakespeare, tokenizer_dir, cut, "--steps", "8", "--resume"))
    a = torch.load(full / "checkpoint.pt", weights_only=False)
    b = torch.load(cut / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 8
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]
    assert history(cut) == history(full)  # metrics.jsonl holds each step once, not the steps redone after the checkpoint


NO_DROPOUT = ["--model-config", json.dumps({"n_layer": 2, "n_embd": 32, "n_head": 2, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
                                             "attn_pdrop": 0.0})]


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory, shakespeare, tokenizer_dir) -> Path:
    """10 QAT steps in this process with a batch of 8: what two processes × 4 must reproduce."""
    tmp = tmp_path_factory.mktemp("one")
    T.train(args(tmp, shakespeare, tokenizer_dir, tmp / "one", "--steps", "10", "--save-all-ranks", "--batch-size", "8", *NO_DROPOUT))
    return tmp / "one"


def torchrun(tmp_path, shakespeare, tokenizer_dir, out, *extra) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "ternary_qat.train",
           *args(tmp_path, shakespeare, tokenizer_dir, out, "--steps", "10", "--threads", "1", "--save-all-ranks",
                 "--batch-size", "4", *NO_DROPOUT, *extra)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def same_training(out, single, weights_within=1e-4) -> None:
    """The 2-process run `out` logged the same losses as the 1-process run `single` and ends with
    the same weights: all but a few elements in a hundred thousand within 1e-5, and all within
    `weights_within` (the model is dropout-free: dropout draws differ between the set-ups by nature)."""
    r0 = torch.load(out / "rank0.pt", weights_only=False)
    r1 = torch.load(out / "rank1.pt", weights_only=False)
    one = torch.load(single / "rank0.pt", weights_only=False)
    assert r0.keys() == r1.keys() == one.keys()
    # The two differ only by float summation order (gradients averaged across processes vs one
    # batch). AdamW divides each gradient by its running RMS, so where a gradient is near zero that
    # rounding becomes up to a fraction of one step (lr 3e-3); and a ternary weight whose latent
    # value sits on a rounding threshold may round the other way in one run, which moves its row.
    far, total = 0, 0
    for name in r0:
        assert torch.equal(r0[name], r1[name]), name
        diff = (r0[name] - one[name]).abs()
        assert diff.max().item() < weights_within, name
        far += int((diff > 1e-5).sum())
        total += diff.numel()
    assert far <= total * 1e-3, (far, total)
    two, alone = history(out), history(single)
    assert len(two) == len(alone) == 10
    for a, b in zip(two, alone):  # the same loss curve; the logged loss is the global batch's
        assert abs(a["loss"] - b["loss"]) < 1e-5 * b["loss"], (a, b)
    assert abs(two[-1]["eval_loss"] - alone[-1]["eval_loss"]) < 1e-5 * alone[-1]["eval_loss"]
    assert two[-1]["zero_ratio"].keys() == alone[-1]["zero_ratio"].keys()
    for name, ratio in alone[-1]["zero_ratio"].items():  # a weight on a rounding threshold may flip
        assert abs(two[-1]["zero_ratio"][name] - ratio) < 1e-3, name
    exported = load_file(str(out / "export" / "model.safetensors"))
    for name, tensor in exported.items():
        assert torch.equal(tensor, r0[name].float()), name


def test_two_ddp_processes_train_the_same_weights_as_one_process_with_the_same_global_batch(tmp_path, shakespeare, tokenizer_dir,
                                                                                           one_process_run):
    torchrun(tmp_path, shakespeare, tokenizer_dir, tmp_path / "two")
    same_training(tmp_path / "two", one_process_run)


def test_two_fsdp_processes_interrupted_and_resumed_train_the_same_weights_as_one_process(tmp_path, shakespeare, tokenizer_dir,
                                                                                          one_process_run):
    """Sharded gradients are averaged by reduce-scatter in another order than DDP's all-reduce: a
    few more weights round the other way (measured: 22 elements of 1.6M move by up to 1.4e-3).
    The run stops after 5 steps and resumes from its (unsharded) checkpoint, resharded."""
    out = tmp_path / "two"
    torchrun(tmp_path, shakespeare, tokenizer_dir, out, "--fsdp", "--stop-at", "5")
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 5 and not (out / "export").exists()
    torchrun(tmp_path, shakespeare, tokenizer_dir, out, "--fsdp", "--resume")
    same_training(out, one_process_run, weights_within=5e-3)


def test_bf16_autocast_and_lambda_warmup_run(tmp_path, shakespeare, tokenizer_dir):
    out = tmp_path / "bf16"
    T.train(args(tmp_path, shakespeare, tokenizer_dir, out, "--steps", "4", "--dtype", "bf16", "--lambda-warmup", "4",
                 "--rms-norm"))
    h = history(out)
    assert len(h) == 4 and all(torch.isfinite(torch.tensor(r["loss"])) for r in h)
    assert T.quant_lambda(T.parse_args(["--data", "x", "--tokenizer", "y", "--out", "z", "--lambda-warmup", "10"]), 5) == 0.5


def test_bad_options_are_rejected_with_a_message(capsys):

    for bad in (["--steps", "0"], ["--holdout-fraction", "1.5"], ["--lr", "0"], ["--mode", "fp", "--teacher", "t"]):
        with pytest.raises(SystemExit):
            T.parse_args(["--data", "x", "--tokenizer", "y", "--out", "z", *bad])
    assert "error" in capsys.readouterr().err


def test_init_from_a_model_whose_vocabulary_is_smaller_than_the_tokenizer_is_refused_with_a_message(tmp_path, shakespeare,
                                                                                                    tokenizer_dir):
    from conftest import tiny_gpt2

    tiny_gpt2(vocab_size=300).save_pretrained(tmp_path / "small")
    argv = args(tmp_path, shakespeare, tokenizer_dir, tmp_path / "out", "--steps", "2")
    argv[argv.index("--model-config"):argv.index("--model-config") + 2] = ["--init", str(tmp_path / "small")]
    with pytest.raises(SystemExit, match="has 50257 tokens but the model in --init .* embeds only 300"):
        T.train(argv)


def test_training_continues_from_an_hf_saved_patched_model(tmp_path, shakespeare, tokenizer_dir):
    """--init of a patched model saved by save_pretrained (as HF Trainer's checkpoint-N/) gets the
    same patch back, the BitLinear norms included, rather than patching a second time."""
    first = tmp_path / "first"
    T.train(args(tmp_path, shakespeare, tokenizer_dir, first, "--steps", "2", "--rms-norm"))

    def build(init, *extra):
        return T.build_model(T.parse_args(["--data", "x", "--tokenizer", str(tokenizer_dir), "--out", "o", "--init", str(init), *extra]))

    patched = build(first / "export", "--rms-norm")  # the export holds the latent weights of the FP architecture
    with torch.no_grad():
        for m in patched.modules():
            if getattr(m, "norm", None) is not None and hasattr(m, "quant_lambda"):
                m.norm.weight.uniform_(0.5, 1.5)
    patched.save_pretrained(tmp_path / "saved")
    again = build(tmp_path / "saved")
    assert sum(getattr(m, "norm", None) is not None for m in again.modules() if hasattr(m, "quant_lambda")) == 8
    ids = torch.randint(0, 50257, (1, 9))
    with torch.no_grad():
        assert torch.equal(again.eval()(ids).logits, patched.eval()(ids).logits)

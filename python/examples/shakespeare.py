"""The shipped models, end to end: FP pretraining on tinyshakespeare, then three ternary versions —
naive PTQ, QAT, and QAT + distillation from the FP teacher — packed and scored by the Swift engine,
beside a control: the FP model trained as many more steps as the ternary runs get. The better of
QAT and QAT + distillation ships.

    python python/examples/shakespeare.py                 # the GPT-2, ~1 hour on 2 cores
    python python/examples/shakespeare.py --arch mamba2   # the Mamba-2 of about the same size

Writes runs/shakespeare[-mamba2]/ (checkpoints, metrics, packed files, results.json), the plots in
docs/, and the better healed model to models/shakespeare[-mamba2]-ternary.safetensors. Fixed seeds
throughout.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

import torch  # noqa: E402

from ternary_qat import reference, reference_mamba2  # noqa: E402
from ternary_qat.evaluation import chunked_perplexity, hf_logits  # noqa: E402
from ternary_qat.train import train  # noqa: E402
from ternary_qat.tokenizer_files import load_tokenizer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
# Per architecture: the random-init config, the plots' title, and the name of its files.
ARCHS = {
    "gpt2": ({"n_layer": 6, "n_embd": 192, "n_head": 6, "n_positions": 256}, "6×192 GPT-2", "shakespeare"),
    # 8 blocks of 192 wide with 6 heads of 64 and a state of 64: about the GPT-2's size and step time.
    "mamba2": ({"model_type": "mamba2", "num_hidden_layers": 8, "hidden_size": 192, "num_heads": 6, "head_dim": 64, "state_size": 64,
                "n_groups": 1, "expand": 2, "conv_kernel": 4, "chunk_size": 128, "tie_word_embeddings": True, "use_cache": False},
               "8×192 Mamba-2", "shakespeare-mamba2"),
}
CTX = 128  # perplexity chunk length = the training sequence length (positions past it were never trained)


def split_text(out: Path) -> tuple[Path, Path]:
    """The last 10 % of tinyshakespeare (from a line start) is held out."""
    text = (SHARED / "text" / "tinyshakespeare" / "input.txt").read_text()
    cut = text.index("\n", int(len(text) * 0.9)) + 1
    (out / "train.txt").write_text(text[:cut])
    (out / "heldout.txt").write_text(text[cut:])
    return out / "train.txt", out / "heldout.txt"


def common(train_txt: Path, held_txt: Path, out: Path, steps: int, extra: list[str]) -> list[str]:
    return ["--data", str(train_txt), "--eval-data", str(held_txt), "--tokenizer", str(SHARED / "gpt2"),
            "--out", str(out), "--steps", str(steps), "--batch-size", "16", "--seq-len", "128",
            "--eval-every", "50", "--eval-batches", "8", "--save-every", "50", "--seed", "0", "--threads", "2", *extra]


def run_stage(name: str, argv: list[str], out: Path) -> None:
    if (out / "export" / "model.safetensors").exists():
        print(f"[{name}] done already, skipping")
        return
    resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
    start = time.time()
    train(argv + resume)
    print(f"[{name}] {time.time() - start:.0f} s")


def swift(ternary: str, *args: str) -> str:
    return subprocess.run([ternary, *args], check=True, capture_output=True, text=True).stdout


def torch_ppl(model_dir: Path, ids: list[int]) -> float:
    """Chunked perplexity (the engine's protocol) of the FP model, in PyTorch."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32, attn_implementation="eager").eval()
    return chunked_perplexity(hf_logits(model), ids, CTX)[0]


def reference_ppl(model_dir: Path, ids: list[int], embeddings: str) -> float:
    """The independent reference of the ternary semantics on the same weights."""
    from safetensors.torch import load_file

    config = json.loads((model_dir / "config.json").read_text())
    state = load_file(str(model_dir / "model.safetensors"))
    flags = config.get("ternary_qat", {})
    rms, eps = flags.get("rms_norm", False), flags.get("rms_norm_eps", 1e-6)
    if config["model_type"] == "mamba2":
        w = reference_mamba2.quantize_state(state, config, embeddings=embeddings, rms_norm=rms, rms_norm_eps=eps)
        return reference_mamba2.perplexity(w, ids, CTX)[0]
    w = reference.quantize_gpt2_state(state, config, embeddings, rms, eps)
    return reference.perplexity(w, ids, CTX)[0]


def plots(runs: Path, results: dict, docs: Path, title: str, stem: str, corpus: str = "tinyshakespeare, GPT-2 tokenizer") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Runs that continue from the FP checkpoint are drawn from its last step (results["fp_steps"]),
    # so the x axis counts every step a model has had.
    offset = results.get("fp_steps", 0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, label in (("fp", "FP pretraining"), ("fp_more", "FP, continued (control)"), ("qat", "QAT"), ("qat_kd", "QAT + distillation")):
        if not (runs / name / "metrics.jsonl").exists():
            continue
        h = [json.loads(l) for l in (runs / name / "metrics.jsonl").read_text().splitlines()]
        start = 0 if name == "fp" else offset
        ax.plot([start + r["step"] for r in h], [r["loss"] for r in h], alpha=0.35, label=f"{label}: training")
        ev = [r for r in h if "eval_loss" in r]
        ax.plot([start + r["step"] for r in ev], [r["eval_loss"] for r in ev], "o-", ms=3, label=f"{label}: held-out")
    ax.set_xlabel("step (continued runs counted from the FP checkpoint's last)" if offset else "step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(f"{corpus}, {title}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(docs / f"{stem}-training.png", dpi=110)
    plt.close(fig)

    runs_with_zeros = [(name, label, [json.loads(l) for l in (runs / name / "metrics.jsonl").read_text().splitlines()])
                       for name, label in (("qat", "QAT"), ("qat_kd", "QAT + distillation")) if (runs / name / "metrics.jsonl").exists()]
    runs_with_zeros = [(n, label, [r for r in h if r.get("zero_ratio")]) for n, label, h in runs_with_zeros]
    if all(h for _, _, h in runs_with_zeros) and runs_with_zeros:
        fig, axes = plt.subplots(1, len(runs_with_zeros), figsize=(6 * len(runs_with_zeros), 4), sharey=True, squeeze=False)
        for ax, (_, label, h) in zip(axes[0], runs_with_zeros):
            steps = [r["step"] for r in h]
            for layer in h[-1]["zero_ratio"]:
                ax.plot(steps, [r["zero_ratio"][layer] for r in h], lw=0.8, alpha=0.5)
            ax.plot(steps, [sum(r["zero_ratio"].values()) / len(r["zero_ratio"]) for r in h], "k-", lw=2, label="mean")
            ax.set_title(f"{label}: zero-ratio of each ternary layer")
            ax.set_xlabel("step")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            ax.legend()
        axes[0][0].set_ylabel("fraction of ternary weights that are 0")
        fig.tight_layout()
        fig.savefig(docs / f"{stem}-zero-ratio.png", dpi=110)
        plt.close(fig)

    names = ["FP (PyTorch)", "PTQ", "QAT", "QAT+KD"]
    values = [results["fp"]["ppl_torch"], results["ptq"]["ppl_swift"], results["qat"]["ppl_swift"], results["qat_kd"]["ppl_swift"]]
    colors = ["#888", "#d62728", "#1f77b4", "#2ca02c"]
    if "fp_more" in results:
        names.insert(1, "FP +steps")
        values.insert(1, results["fp_more"]["ppl_torch"])
        colors.insert(1, "#bbb")
    fig, ax = plt.subplots(figsize=(6.5 if len(names) > 4 else 6, 4))
    bars = ax.bar(names, values, color=colors)
    ax.set_yscale("log")
    ax.set_ylabel("held-out perplexity (log scale)")
    ax.set_title("Naive ternarization vs quantization-aware healing")
    for b, v in zip(bars, values):
        ax.text(b.get_x() + b.get_width() / 2, v * 1.05, f"{v:.1f}", ha="center", fontsize=9)
    fig.tight_layout()
    fig.savefig(docs / f"{stem}-perplexity.png", dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(ARCHS), default="gpt2")
    p.add_argument("--runs", help="working directory (default: runs/<name>)")
    p.add_argument("--ternary", default=str(ROOT / ".build" / "release" / "ternary"), help="the Swift CLI (swift build -c release)")
    p.add_argument("--fp-steps", type=int, default=750, help="FP pretraining steps (750: its held-out loss has flattened)")
    p.add_argument("--qat-steps", type=int, default=300)
    a = p.parse_args()
    model_config, title, stem = ARCHS[a.arch]
    runs = Path(a.runs or ROOT / "runs" / stem)
    runs.mkdir(parents=True, exist_ok=True)
    train_txt, held_txt = split_text(runs)
    torch.manual_seed(0)

    run_stage("fp", common(train_txt, held_txt, runs / "fp", a.fp_steps,
                           ["--mode", "fp", "--model-config", json.dumps(model_config), "--lr", "1e-3", "--warmup-steps", "30"]), runs / "fp")
    fp = runs / "fp" / "export"
    qat_args = ["--mode", "qat", "--init", str(fp), "--lr", "1e-3", "--warmup-steps", "30", "--lambda-warmup", "100"]
    run_stage("qat", common(train_txt, held_txt, runs / "qat", a.qat_steps, qat_args), runs / "qat")
    run_stage("qat_kd", common(train_txt, held_txt, runs / "qat_kd", a.qat_steps,
                               qat_args + ["--teacher", str(fp), "--kd-weight", "1.0", "--kd-temperature", "2.0"]), runs / "qat_kd")
    # The control: the FP model trained as many more steps as the ternary runs get, with their
    # learning-rate schedule, so the table compares models that have had the same training.
    run_stage("fp_more", common(train_txt, held_txt, runs / "fp_more", a.qat_steps,
                                ["--mode", "fp", "--init", str(fp), "--lr", "1e-3", "--warmup-steps", "30"]), runs / "fp_more")

    ids = load_tokenizer(SHARED / "gpt2")(held_txt.read_text(), add_special_tokens=False)["input_ids"]
    results = {"model": model_config, "ctx": CTX, "heldout_tokens": len(ids)}
    results["fp_steps"], results["qat_steps"] = a.fp_steps, a.qat_steps
    results["fp"] = {"ppl_torch": torch_ppl(fp, ids)}
    results["fp_more"] = {"ppl_torch": torch_ppl(runs / "fp_more" / "export", ids)}
    for name, src in (("ptq", fp), ("qat", runs / "qat" / "export"), ("qat_kd", runs / "qat_kd" / "export")):
        packed = runs / f"{name}.safetensors"
        swift(a.ternary, "pack", str(src), "-o", str(packed), "--embeddings", "int8")
        out = json.loads(swift(a.ternary, "perplexity", "-m", str(packed), "--file", str(held_txt), "--ctx", str(CTX), "--json"))
        results[name] = {"ppl_swift": out["ppl"], "tokens_scored": out["tokens_scored"],
                         "ppl_reference": reference_ppl(src, ids, "int8"), "bytes": packed.stat().st_size}
        print(name, results[name])
    fp_bytes = (fp / "model.safetensors").stat().st_size
    results["fp"]["bytes"] = fp_bytes
    gap = math.log(results["ptq"]["ppl_swift"]) - math.log(results["fp"]["ppl_torch"])
    results["gap_closed"] = (math.log(results["ptq"]["ppl_swift"]) - math.log(results["qat_kd"]["ppl_swift"])) / gap
    results["gap_closed_qat"] = (math.log(results["ptq"]["ppl_swift"]) - math.log(results["qat"]["ppl_swift"])) / gap
    samples = []
    # The better healed model ships.
    results["shipped"] = min(("qat", "qat_kd"), key=lambda n: results[n]["ppl_swift"])
    shipped = ROOT / "models" / f"{stem}-ternary.safetensors"
    shipped.parent.mkdir(exist_ok=True)
    shutil.copyfile(runs / f"{results['shipped']}.safetensors", shipped)
    for prompt, seed in (("ROMEO:", 1), ("JULIET:\nO Romeo,", 2), ("KING HENRY:\nWhat", 3)):
        text = swift(a.ternary, "generate", "-m", str(shipped), prompt, "-n", "60", "--seed", str(seed), "--quiet")
        samples.append({"prompt": prompt, "seed": seed, "text": text})
    results["samples"] = samples
    (runs / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "docs" / f"{stem}-results.json").write_text(json.dumps(results, indent=2) + "\n")
    plots(runs, results, ROOT / "docs", title, stem)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Healing a real pretrained model: Karpathy's stories260K (Llama-2 architecture, trained on
TinyStories) made ternary, naively (PTQ) and by QAT and QAT + distillation from the float model.

    python python/examples/stories.py        # ~25 minutes on 2 cores

1. The llama2.c checkpoint becomes a Hugging Face LlamaForCausalLM (ternary_qat.llama2c; its greedy
   sample is the one stories260K.md publishes).
2. Training data are the teacher's own stories (temperature 1, from BOS, fixed seeds), generated
   once into runs/stories/data/ (outside git), and a held-out set of stories never trained on.
3. PTQ (the float weights ternarized as they are), QAT and QAT+KD from the float model; held-out
   perplexity of each from the engine, with the PyTorch reference beside it, and of the float
   teacher in PyTorch.

Writes runs/stories/ (runs, packed files, results.json), docs/stories-*.png, docs/stories-results.json,
and the QAT+KD model to models/stories-ternary.safetensors.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from shakespeare import plots, run_stage, swift  # noqa: E402
from ternary_qat import llama2c, reference_llama  # noqa: E402
from ternary_qat.evaluation import chunked_perplexity, hf_logits  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "models" / "stories260K"
CTX = 128  # perplexity chunk = training sequence length
PROMPTS = ("Once upon a time", "Tom and his dog", "One day, Lily")


def teacher_stories(teacher: Path, out: Path, count: int, seed: int, batch: int = 100) -> Path:
    """`count` stories sampled at temperature 1 (no top-k/top-p) from BOS, up to 256 tokens or the
    model's own end (BOS or EOS), one per paragraph; cached."""
    if out.exists():
        return out
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    tokenizer = AutoTokenizer.from_pretrained(teacher)
    stories = []
    for b in tqdm(range(0, count, batch), desc=f"sampling {out.name}"):
        torch.manual_seed(seed * 1_000_003 + b)
        start = torch.ones(min(batch, count - b), 1, dtype=torch.long)
        with torch.no_grad():
            ids = model.generate(start, attention_mask=torch.ones_like(start), do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                 max_new_tokens=256, eos_token_id=[1, 2], pad_token_id=0)
        for row in ids[:, 1:].tolist():
            row = row[:next((i for i, t in enumerate(row) if t in (0, 1, 2)), len(row))]
            text = tokenizer.decode(row).strip()
            if text:
                stories.append(text.replace("\n\n", "\n"))
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n\n".join(stories) + "\n")
    tmp.replace(out)
    return out


def reference_ppl(model_dir: Path, ids: list[int]) -> float:
    from safetensors.torch import load_file

    config = json.loads((model_dir / "config.json").read_text())
    flags = config.get("ternary_qat", {})
    state = load_file(str(model_dir / "model.safetensors"))
    w = reference_llama.quantize_state(state, config, bitnet=False, embeddings="f16", rms_norm=flags.get("rms_norm", False),
                                       rms_norm_eps=flags.get("rms_norm_eps", 1e-6))
    return reference_llama.perplexity(w, ids, CTX)[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=str(ROOT / "runs" / "stories"))
    p.add_argument("--ternary", default=str(ROOT / ".build" / "release" / "ternary"), help="the Swift CLI (swift build -c release)")
    p.add_argument("--train-stories", type=int, default=4000)
    p.add_argument("--heldout-stories", type=int, default=400)
    p.add_argument("--steps", type=int, default=400)
    a = p.parse_args()
    runs = Path(a.runs)
    (runs / "data").mkdir(parents=True, exist_ok=True)
    teacher = runs / "teacher"
    if not (teacher / "model.safetensors").exists():
        llama2c.convert(SHARED / "stories260K.bin", SHARED / "tok512.bin", teacher)
    train_txt = teacher_stories(teacher, runs / "data" / "train.txt", a.train_stories, seed=1)
    held_txt = teacher_stories(teacher, runs / "data" / "heldout.txt", a.heldout_stories, seed=2)

    def args(out: Path, *extra: str) -> list[str]:
        return ["--data", str(train_txt), "--eval-data", str(held_txt), "--tokenizer", str(teacher), "--init", str(teacher),
                "--out", str(out), "--steps", str(a.steps), "--batch-size", "32", "--seq-len", str(CTX), "--lr", "1e-3",
                "--min-lr", "1e-4", "--warmup-steps", "50", "--lambda-warmup", "100", "--eval-every", "100", "--eval-batches", "4",
                "--save-every", "100", "--seed", "0", "--threads", "2", *extra]

    run_stage("qat", args(runs / "qat"), runs / "qat")
    run_stage("qat_kd", args(runs / "qat_kd", "--teacher", str(teacher), "--kd-weight", "1.0", "--kd-temperature", "2.0"),
              runs / "qat_kd")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(teacher)(held_txt.read_text(), add_special_tokens=False)["input_ids"]
    fp_model = AutoModelForCausalLM.from_pretrained(teacher).eval()
    results = {"model": "stories260K (dim 64, 5 layers, 8 heads, 4 KV heads, vocab 512)", "ctx": CTX, "heldout_tokens": len(ids),
               "train_stories": a.train_stories, "heldout_stories": a.heldout_stories, "steps": a.steps,
               "fp": {"ppl_torch": chunked_perplexity(hf_logits(fp_model), ids, CTX)[0],
                      "bytes": (SHARED / "stories260K.bin").stat().st_size}}
    for name, src in (("ptq", teacher), ("qat", runs / "qat" / "export"), ("qat_kd", runs / "qat_kd" / "export")):
        packed = runs / f"{name}.safetensors"
        swift(a.ternary, "pack", str(src), "-o", str(packed), "--embeddings", "f16")
        out = json.loads(swift(a.ternary, "perplexity", "-m", str(packed), "--file", str(held_txt), "--ctx", str(CTX), "--json"))
        samples = [swift(a.ternary, "generate", "-m", str(packed), prompt, "-n", "60", "--temperature", "0", "--quiet")
                   for prompt in PROMPTS]
        results[name] = {"ppl_swift": out["ppl"], "tokens_scored": out["tokens_scored"], "ppl_reference": reference_ppl(src, ids),
                         "bytes": packed.stat().st_size, "greedy": samples}
        print(name, {k: v for k, v in results[name].items() if k != "greedy"})
    fp_packed = runs / "fp.safetensors"
    swift(a.ternary, "pack", str(teacher), "-o", str(fp_packed), "--weights", "f32", "--embeddings", "f32")
    results["fp"]["greedy"] = [swift(a.ternary, "generate", "-m", str(fp_packed), prompt, "-n", "60", "--temperature", "0", "--quiet")
                               for prompt in PROMPTS]
    log = {k: math.log(results[k]["ppl_swift"]) for k in ("ptq", "qat", "qat_kd")}
    gap = log["ptq"] - math.log(results["fp"]["ppl_torch"])
    results["gap_closed"] = (log["ptq"] - log["qat_kd"]) / gap
    results["gap_closed_qat"] = (log["ptq"] - log["qat"]) / gap
    shipped = ROOT / "models" / "stories-ternary.safetensors"
    shutil.copyfile(runs / "qat_kd.safetensors", shipped)
    (runs / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (ROOT / "docs" / "stories-results.json").write_text(json.dumps(results, indent=2) + "\n")
    # The float teacher's training is Karpathy's, not ours: the curves are QAT's and QAT+KD's.
    plots(runs, results, ROOT / "docs", "stories260K → ternary", "stories", corpus="the teacher's own stories, its 512-token vocabulary")
    print(json.dumps({k: v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()

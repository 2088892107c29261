"""Quantization-aware training (and plain FP training) of Hugging Face causal LMs on local text.

    python -m ternary_qat.train --data input.txt --tokenizer ../shared/data/gpt2 \
        --init fp_model/ --teacher fp_model/ --out qat_kd/ --steps 500

Single process on CPU or CUDA, or several with torchrun (DDP: gloo on CPU, nccl on GPU).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm
from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from .bitlinear import BitLinear
from .export import export_hf
from .patch import patch_model, set_quant_lambda, zero_ratios
from .tokenizer_files import load_tokenizer


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, nargs="+", help="local text file(s)")
    p.add_argument("--tokenizer", required=True, help="tokenizer directory: tokenizer.json (any HF fast tokenizer), or GPT-2's "
                   "vocab.json+merges.txt / encoder.json+vocab.bpe")
    p.add_argument("--out", required=True, help="output directory (checkpoint, metrics, plot, export)")
    p.add_argument("--init", help="start from this HF model directory (default: random init from --model-config)")
    p.add_argument("--model-config", help="JSON of config fields for a random init: GPT2Config's, e.g. '{\"n_layer\":4,\"n_embd\":256}', "
                   "or any architecture's with its model_type, e.g. '{\"model_type\":\"mamba2\",\"hidden_size\":192,…}'")
    p.add_argument("--mode", choices=["qat", "fp"], default="qat", help="qat: patch with BitLinear; fp: plain float training")
    p.add_argument("--rms-norm", action="store_true", help="RMSNorm before each BitLinear's activation quantization")
    p.add_argument("--teacher", help="FP teacher HF directory for distillation")
    p.add_argument("--kd-weight", type=float, default=1.0, help="weight of the KL term")
    p.add_argument("--ce-weight", type=float, default=1.0, help="weight of the cross-entropy term")
    p.add_argument("--kd-temperature", type=float, default=2.0)
    p.add_argument("--lambda-warmup", type=int, default=0, help="steps to ramp quantization λ from 0 to 1 (0: full from the start)")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=8, help="sequences per process per step (the global batch is this × processes)")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="autocast dtype for the forward")
    p.add_argument("--holdout-fraction", type=float, default=0.1, help="the last fraction of the tokens is held out")
    p.add_argument("--eval-data", nargs="+", help="held-out text file(s); then all of --data is for training")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-batches", type=int, default=8)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--stop-at", type=int, help="save and stop at this step (resume later with --resume); the schedule stays that of --steps")
    p.add_argument("--save-all-ranks", action="store_true", help="every rank writes its final weights to OUT/rank<N>.pt (to check DDP sync)")
    p.add_argument("--fsdp", action="store_true", help="under torchrun: shard weights, gradients and optimizer state over the "
                   "processes (FSDP full-shard, one unit per transformer block) instead of replicating them (DDP)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    for name in ("steps", "batch_size", "seq_len", "eval_every", "eval_batches", "save_every"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if not 0 < a.holdout_fraction < 1:
        p.error("--holdout-fraction must be in (0, 1)")
    if a.lr <= 0 or a.min_lr < 0 or a.min_lr > a.lr:
        p.error("need 0 <= --min-lr <= --lr and --lr > 0")
    if a.teacher and a.mode == "fp":
        p.error("--teacher distils into a ternary student; use it with --mode qat")
    return a


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
        device = torch.device("cuda", local)
    else:
        dist.init_process_group("gloo")
        device = torch.device("cpu")
    return Dist(dist.get_rank(), world, device)


def load_tokens(files: list[str], tokenizer_dir: str) -> torch.Tensor:
    tok = load_tokenizer(tokenizer_dir)
    ids: list[int] = []
    for f in files:
        text = Path(f).read_text(encoding="utf-8")
        ids.extend(tok(text, add_special_tokens=False)["input_ids"])
    return torch.tensor(ids, dtype=torch.long)


def tokenizer_size(tokenizer_dir: str) -> tuple[int, int | None]:
    """(ids the tokenizer can produce, its end-of-text id)."""
    tok = load_tokenizer(tokenizer_dir)
    return len(tok), tok.eos_token_id


def build_model(a: argparse.Namespace):
    vocab_size, eos = tokenizer_size(a.tokenizer)
    if a.init:
        model = AutoModelForCausalLM.from_pretrained(a.init, torch_dtype=torch.float32, attn_implementation="eager")
        rows = model.get_input_embeddings().num_embeddings
        if vocab_size > rows:
            raise SystemExit(f"--tokenizer {a.tokenizer} has {vocab_size} tokens but the model in --init {a.init} embeds only {rows}: "
                             "use the model's own tokenizer")
    else:
        fields = json.loads(a.model_config) if a.model_config else {}
        model_type = fields.pop("model_type", "gpt2")
        fields.setdefault("vocab_size", vocab_size)
        end = eos if eos is not None else vocab_size - 1
        fields.setdefault("bos_token_id", end)
        fields.setdefault("eos_token_id", end)
        torch.manual_seed(a.seed)
        if model_type == "gpt2":
            fields.setdefault("n_positions", max(a.seq_len, 128))
            model = GPT2LMHeadModel(GPT2Config(**fields))
        else:
            # Any architecture transformers knows, random-initialized from its config fields.
            model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **fields), torch_dtype=torch.float32)
    if a.mode == "qat" and not any(isinstance(m, BitLinear) for m in model.modules()):
        patch_model(model, rms_norm=a.rms_norm)
    return model


def learning_rate(a: argparse.Namespace, step: int) -> float:
    if step < a.warmup_steps:
        return a.lr * (step + 1) / a.warmup_steps
    progress = (step - a.warmup_steps) / max(1, a.steps - a.warmup_steps)
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def quant_lambda(a: argparse.Namespace, step: int) -> float:
    return 1.0 if a.lambda_warmup <= 0 else min(1.0, step / a.lambda_warmup)


def batch(tokens: torch.Tensor, a: argparse.Namespace, step: int, d: Dist) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank r's share of step's global batch (batch_size × world windows drawn from the seed and the
    step alone), so a resumed run sees the same data and N processes train on what one process
    with an N times larger batch would."""
    g = torch.Generator().manual_seed(a.seed * 1_000_003 + step)
    starts = torch.randint(0, len(tokens) - a.seq_len - 1, (a.batch_size * d.world,), generator=g)
    mine = starts[d.rank * a.batch_size:(d.rank + 1) * a.batch_size]
    rows = torch.stack([tokens[s:s + a.seq_len + 1] for s in mine.tolist()])
    return rows[:, :-1].to(d.device), rows[:, 1:].to(d.device)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher/T) ‖ softmax(student/T)), averaged over tokens; 0 when they agree."""
    t = temperature
    s = F.log_softmax(student_logits.float() / t, dim=-1).flatten(0, -2)
    p = F.log_softmax(teacher_logits.float() / t, dim=-1).flatten(0, -2)
    return F.kl_div(s, p, log_target=True, reduction="batchmean") * t * t


@torch.no_grad()
def evaluate(model, tokens: torch.Tensor, a: argparse.Namespace, d: Dist) -> float:
    """Mean cross-entropy over the first eval_batches × global-batch non-overlapping held-out
    windows, shared out over the processes (the same windows whatever their number)."""
    model.eval()
    n = min(a.eval_batches * a.batch_size * d.world, (len(tokens) - 1) // a.seq_len)
    n -= n % d.world  # every process runs as many batches (under FSDP each forward is collective)
    totals = torch.zeros(2, dtype=torch.float64)
    mine = list(range(d.rank, n, d.world))
    for i in range(0, len(mine), a.batch_size):
        rows = torch.stack([tokens[j * a.seq_len: j * a.seq_len + a.seq_len + 1] for j in mine[i:i + a.batch_size]])
        logits = model(rows[:, :-1].to(d.device)).logits
        totals[0] += F.cross_entropy(logits.float().flatten(0, 1), rows[:, 1:].flatten().to(d.device), reduction="sum").item()
        totals[1] += rows[:, 1:].numel()
    if d.world > 1:
        dist.all_reduce(totals)
    model.train()
    return (totals[0] / totals[1].clamp(min=1)).item()


def plot(history: list[dict], path: Path, title: str) -> None:
    """The loss curves and, for QAT, each ternary layer's zero-ratio (its fraction of 0 weights) at
    every evaluation: a layer drifting towards 1 is collapsing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in history if "loss" in h]
    held = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h]
    zeros = [(h["step"], h["zero_ratio"]) for h in history if h.get("zero_ratio")]
    fig, axes = plt.subplots(1, 2 if zeros else 1, figsize=(12 if zeros else 7, 4), squeeze=False)
    ax = axes[0][0]
    if train:
        ax.plot(*zip(*train), label="training loss", alpha=0.6)
    if held:
        ax.plot(*zip(*held), "o-", label="held-out loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    if zeros:
        ax = axes[0][1]
        steps = [s for s, _ in zeros]
        for name in zeros[-1][1]:
            ax.plot(steps, [r.get(name, float("nan")) for _, r in zeros], lw=0.8, alpha=0.45)
        ax.plot(steps, [sum(r.values()) / len(r) for _, r in zeros], "k-", lw=2, label=f"mean of {len(zeros[-1][1])} layers")
        ax.set_xlabel("step")
        ax.set_ylabel("fraction of ternary weights that are 0")
        ax.set_title("zero-ratio per ternary layer (towards 1 = collapse)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def shard(model) -> None:
    """FSDP full-shard (torch's fully_shard): each transformer block (the model's _no_split_modules)
    is one unit, gathered for its forward and backward and sharded again after; the rest (embeddings,
    head, final norm) is the root unit."""
    from torch.distributed.fsdp import fully_shard

    blocks = set(getattr(model, "_no_split_modules", None) or [])
    for module in list(model.modules()):
        if type(module).__name__ in blocks:
            fully_shard(module)
    fully_shard(model)


def clip_gradients(model, max_norm: float, fsdp: bool) -> None:
    """clip_grad_norm_; under FSDP the norm is summed over the shards explicitly (each process holds
    a slice of every gradient), so it equals the one-process norm."""
    if not fsdp:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        return
    grads = [p.grad.to_local() if hasattr(p.grad, "to_local") else p.grad for p in model.parameters() if p.grad is not None]
    squares = torch.stack([g.double().pow(2).sum() for g in grads]).sum()  # float64: the sum of millions of squares
    dist.all_reduce(squares)
    scale = (max_norm / (squares.sqrt() + 1e-6)).clamp(max=1.0).float()
    for g in grads:
        g.mul_(scale)


def full_state(model, optimizer, fsdp: bool, optimizer_too: bool = True, everywhere: bool = False) -> tuple[dict, dict | None]:
    """The unsharded model (and optimizer) state dicts. Under FSDP every rank must call it, and
    only rank 0 gets them (on the CPU) unless `everywhere`."""
    if not fsdp:
        return model.state_dict(), optimizer.state_dict() if optimizer_too else None
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=not everywhere)
    model_state = get_model_state_dict(model, options=options)
    return model_state, get_optimizer_state_dict(model, optimizer, options=options) if optimizer_too else None


def save_checkpoint(path: Path, model_state: dict, optimizer_state: dict, step: int, history: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model_state, "optimizer": optimizer_state, "step": step, "history": history,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}}, tmp)
    os.replace(tmp, path)


def train(argv=None) -> Path:
    a = parse_args(argv)
    d = setup_distributed()
    if a.threads:
        torch.set_num_threads(a.threads)
    out = Path(a.out)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
    tokens = load_tokens(a.data, a.tokenizer)
    if a.eval_data:
        train_tokens, held_tokens = tokens, load_tokens(a.eval_data, a.tokenizer)
    else:
        split = int(len(tokens) * (1 - a.holdout_fraction))
        train_tokens, held_tokens = tokens[:split], tokens[split:]
    if len(train_tokens) <= a.seq_len + 1 or len(held_tokens) <= a.seq_len + 1:
        raise SystemExit(f"not enough text: {len(tokens)} tokens for --seq-len {a.seq_len}")
    model = build_model(a).to(d.device)
    if int(tokens.max()) >= model.get_input_embeddings().num_embeddings:
        raise SystemExit(f"{a.data}: token id {int(tokens.max())} is past the model's embedding rows")
    teacher = None
    if a.teacher:
        teacher = AutoModelForCausalLM.from_pretrained(a.teacher, torch_dtype=torch.float32, attn_implementation="eager").to(d.device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    checkpoint = out / "checkpoint.pt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False) if a.resume and checkpoint.exists() else None
    fsdp = a.fsdp and d.world > 1
    if state is not None and not fsdp:
        model.load_state_dict(state["model"])
    if fsdp:
        shard(model)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))
    start, history = 0, []
    if state is not None:
        if fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                           options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(state["optimizer"])
        start, history = state["step"], state["history"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
    else:
        torch.manual_seed(a.seed + d.rank)
    wrapped = torch.nn.parallel.DistributedDataParallel(model) if d.world > 1 and not fsdp else model
    autocast = torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16")
    bar = tqdm(total=a.steps, initial=start, disable=not d.main or a.no_progress, desc=f"train ({a.mode})")
    model.train()
    metrics = None
    if d.main:  # rewritten from the checkpoint's history: a resumed run does not repeat the steps after it
        metrics = open(out / "metrics.jsonl", "w")
        metrics.writelines(json.dumps(record) + "\n" for record in history)
    end = min(a.steps, a.stop_at) if a.stop_at else a.steps
    step_tokens, last_eval = a.batch_size * d.world * a.seq_len, {}
    for step in range(start, end):
        step_start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(a, step)
        if a.mode == "qat":
            set_quant_lambda(model, quant_lambda(a, step))
        x, y = batch(train_tokens, a, step, d)
        with autocast:
            logits = wrapped(x).logits
            ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
            loss = a.ce_weight * ce if teacher is not None else ce
            if teacher is not None:
                with torch.no_grad():
                    teacher_logits = teacher(x).logits
                loss = loss + a.kd_weight * distillation_loss(logits, teacher_logits, a.kd_temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if a.grad_clip > 0:
            clip_gradients(model, a.grad_clip, fsdp)
        optimizer.step()
        losses = torch.stack([ce.detach(), loss.detach()]).float()
        if d.world > 1:  # the global batch's mean, as one process would log it
            dist.all_reduce(losses)
            losses /= d.world
        record = {"step": step + 1, "loss": losses[0].item(), "total_loss": losses[1].item(), "lr": learning_rate(a, step)}
        step_seconds = time.perf_counter() - step_start
        if (step + 1) % a.eval_every == 0 or step + 1 == a.steps:
            record["eval_loss"] = evaluate(model, held_tokens, a, d)
            record["eval_ppl"] = math.exp(record["eval_loss"])
            if a.mode == "qat":  # collective under FSDP: every process computes it
                record["zero_ratio"] = zero_ratios(model)
                worst = max(record["zero_ratio"], key=record["zero_ratio"].get)
                if d.main and record["zero_ratio"][worst] > 0.9:
                    tqdm.write(f"warning: step {step + 1}: {worst} has {record['zero_ratio'][worst]:.0%} zero weights "
                               "(collapsing towards all-zero; try a lower --lr or a longer --lambda-warmup)")
        postfix = {"loss": f"{record['loss']:.3f}", "tok/s": f"{step_tokens / step_seconds:.0f}"}
        if a.mode == "qat":
            postfix["λ"] = f"{quant_lambda(a, step):.2f}"
        if "eval_ppl" in record:
            last_eval = {"held-out ppl": f"{record['eval_ppl']:.2f}"}
            if "zero_ratio" in record:
                last_eval["zeros"] = f"{sum(record['zero_ratio'].values()) / len(record['zero_ratio']):.3f}"
        bar.set_postfix({**postfix, **last_eval})
        history.append(record)
        if metrics:
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
        bar.update(1)
        if (step + 1) % a.save_every == 0 or step + 1 == end:
            model_state, optimizer_state = full_state(model, optimizer, fsdp)  # collective under FSDP
            if d.main:
                save_checkpoint(checkpoint, model_state, optimizer_state, step + 1, history)
                plot(history, out / "loss.png", f"{a.mode}{' + distillation' if teacher is not None else ''}")
    bar.close()
    if metrics:
        metrics.close()
    if a.save_all_ranks or end == a.steps:
        model_state, _ = full_state(model, optimizer, fsdp, optimizer_too=False, everywhere=a.save_all_ranks)
        if a.save_all_ranks:
            torch.save(model_state, out / f"rank{d.rank}.pt")
        if d.main and end == a.steps:
            if fsdp:  # an unsharded copy to export from
                model = build_model(a)
                model.load_state_dict(model_state)
            card = {"mode": a.mode + (" + distillation" if a.teacher else ""), "initialized from": a.init or "random (--model-config)",
                    "teacher": a.teacher, "data": ", ".join(a.data), "steps": a.steps, "global batch (sequences)": a.batch_size * d.world,
                    "sequence length": a.seq_len, "learning rate": f"{a.lr} → {a.min_lr} (cosine, {a.warmup_steps} warm-up steps)",
                    "quantization λ warm-up steps": a.lambda_warmup, "RMSNorm before quantization": a.rms_norm,
                    "final held-out loss": history[-1].get("eval_loss") if history else None}
            export_hf(model, out / "export", a.tokenizer, training=card)
    if d.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out


if __name__ == "__main__":
    train()

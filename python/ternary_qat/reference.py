"""An independent PyTorch implementation of a ternary GPT-2 forward, straight from a Hugging Face
state dict and the semantics of docs/FORMAT.md (no HF modules, no packed file). It is the oracle
for the Swift engine's parity fixtures and for the patched model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import semantics as S


@dataclass
class TernaryGPT2Weights:
    """GPT-2 weights already quantized as the packer does."""

    config: dict
    embeddings: str  # f32 | f16 | int8 | ternary
    wte: np.ndarray  # dequantized (vocab, d) used for lookup
    head: tuple  # how the head is computed: ("float", W) | ("int8", q, scale) | ("ternary", q, beta)
    wpe: np.ndarray
    layers: list
    ln_f: tuple
    rms_norm: bool
    rms_eps: float


def _np(t) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy()


def quantize_gpt2_state(state: dict, config: dict, embeddings: str = "f16", rms_norm: bool = False,
                        rms_eps: float = 1e-6) -> TernaryGPT2Weights:
    """Quantize an HF GPT2LMHeadModel state dict (Conv1D weights are (in, out))."""
    pre = "transformer." if "transformer.wte.weight" in state else ""
    g = lambda name: _np(state[pre + name])
    wte = g("wte.weight")
    if embeddings == "f32":
        table, head, wpe = wte, ("float", wte), g("wpe.weight")
    elif embeddings == "f16":
        table = wte.astype(np.float16).astype(np.float32)
        head, wpe = ("float", table), g("wpe.weight").astype(np.float16).astype(np.float32)
    elif embeddings == "int8":
        q, scale = S.int8_rows(wte)
        table = q.astype(np.float32) * scale[:, None]
        head, wpe = ("int8", q, scale), g("wpe.weight").astype(np.float16).astype(np.float32)
    elif embeddings == "ternary":
        q, beta = S.ternarize(wte)
        table = q.astype(np.float32) * beta
        head, wpe = ("ternary", q, beta), g("wpe.weight").astype(np.float16).astype(np.float32)
    else:
        raise ValueError(f"unknown embeddings {embeddings!r}")
    layers = []
    for i in range(config["n_layer"]):
        p = f"h.{i}."
        layer = {"ln_1": (g(p + "ln_1.weight"), g(p + "ln_1.bias")), "ln_2": (g(p + "ln_2.weight"), g(p + "ln_2.bias"))}
        for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            w = np.ascontiguousarray(g(p + name + ".weight").T)  # (out, in)
            q, beta = S.ternarize(w)
            norm = g(p + name + ".norm.weight") if rms_norm else None
            layer[name] = (q, beta, g(p + name + ".bias"), norm)
        layers.append(layer)
    return TernaryGPT2Weights(config, embeddings, table, head, wpe, layers, (g("ln_f.weight"), g("ln_f.bias")), rms_norm, rms_eps)


def _layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), torch.from_numpy(w), torch.from_numpy(b), eps)


def _bitlinear(x: torch.Tensor, params, rms_norm: bool, rms_eps: float) -> torch.Tensor:
    q, beta, bias, norm = params
    if rms_norm:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + rms_eps) * torch.from_numpy(norm)
    return torch.from_numpy(S.bitlinear(x.numpy(), q, beta, bias))


def _gelu(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind in ("gelu_new", "gelu_pytorch_tanh"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if kind == "gelu":
        return torch.nn.functional.gelu(x)
    if kind == "relu":
        return torch.relu(x)
    raise ValueError(kind)


@torch.no_grad()
def forward(weights: TernaryGPT2Weights, ids: list[int]) -> np.ndarray:
    """Logits (len(ids), vocab) for one sequence starting at position 0."""
    c = weights.config
    d, nh = c["n_embd"], c["n_head"]
    eps = c.get("layer_norm_epsilon", 1e-5)
    act = c.get("activation_function", "gelu_new")
    T = len(ids)
    x = torch.from_numpy(weights.wte[ids] + weights.wpe[:T])
    mask = torch.full((T, T), float("-inf")).triu(1)
    for layer in weights.layers:
        h = _layer_norm(x, *layer["ln_1"], eps)
        qkv = _bitlinear(h, layer["attn.c_attn"], weights.rms_norm, weights.rms_eps)
        q, k, v = qkv.split(d, dim=-1)
        q, k, v = (t.view(T, nh, d // nh).transpose(0, 1) for t in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // nh) + mask
        y = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, d)
        x = x + _bitlinear(y, layer["attn.c_proj"], weights.rms_norm, weights.rms_eps)
        h = _layer_norm(x, *layer["ln_2"], eps)
        h = _gelu(_bitlinear(h, layer["mlp.c_fc"], weights.rms_norm, weights.rms_eps), act)
        x = x + _bitlinear(h, layer["mlp.c_proj"], weights.rms_norm, weights.rms_eps)
    h = _layer_norm(x, *weights.ln_f, eps).numpy()
    kind = weights.head[0]
    if kind == "float":
        return (h @ weights.head[1].T).astype(np.float32)
    if kind == "int8":
        _, q, scale = weights.head
        xq, s = S.quantize_activations(h)
        acc = S.exact_int_matmul(xq, q)
        return (acc.astype(np.float32) * scale[None, :] / s).astype(np.float32)
    _, q, beta = weights.head
    return S.bitlinear(h, q, beta, None)


def perplexity(weights: TernaryGPT2Weights, ids: list[int], ctx: int) -> tuple[float, int]:
    """The engine's chunked protocol (see evaluation.chunked_perplexity)."""
    from .evaluation import chunked_perplexity

    return chunked_perplexity(lambda chunk: torch.from_numpy(forward(weights, chunk)), ids, ctx)


def greedy(weights: TernaryGPT2Weights, prompt: list[int], steps: int) -> list[int]:
    ids = list(prompt)
    for _ in range(steps):
        logits = forward(weights, ids)
        ids.append(int(np.argmax(logits[-1])))
    return ids[len(prompt):]

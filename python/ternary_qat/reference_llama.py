"""An independent PyTorch/NumPy forward of Llama-family ternary models (Llama with BitLinear layers,
Hugging Face BitNet b1.58), straight from a Hugging Face state dict, its config.json and the
semantics of docs/FORMAT.md (no HF modules, no packed file). The oracle for the Swift engine's
Llama and BitNet parity fixtures, itself checked against transformers' own modules in the tests.

Ternary layers use exact integer matmuls (`semantics.bitlinear`); activations are int8 per token.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import semantics as S

LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def _np(t) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float32)


def unpack_bitnet(packed: np.ndarray) -> np.ndarray:
    """HF BitNet's deployment form: uint8 (rows/4, k), bits 2i..2i+1 of byte [r, c] hold
    W[i·rows/4 + r, c] + 1. Returns int8 (rows, k) in {−1, 0, 1}."""
    packed = np.asarray(packed, dtype=np.uint8)
    return np.concatenate([((packed >> (2 * i)) & 3).astype(np.int8) - 1 for i in range(4)], axis=0)


def pack_bitnet(codes: np.ndarray) -> np.ndarray:
    """Inverse of unpack_bitnet (rows must be a multiple of 4)."""
    rows = codes.shape[0]
    assert rows % 4 == 0, "BitNet's packed form needs a multiple of 4 rows"
    q = rows // 4
    u = (np.asarray(codes, dtype=np.int16) + 1).astype(np.uint8)
    return u[0:q] | (u[q:2 * q] << 2) | (u[2 * q:3 * q] << 4) | (u[3 * q:] << 6)


@dataclass
class LlamaFamilyWeights:
    config: dict
    bitnet: bool
    table: np.ndarray            # (vocab, d) embeddings as the engine stores them
    head: np.ndarray             # (vocab, d) float head as stored
    layers: list = field(default_factory=list)
    norm: np.ndarray = None


def _stored(w: np.ndarray, embeddings: str) -> np.ndarray:
    if embeddings == "f32":
        return w
    if embeddings == "f16":
        return w.astype(np.float16).astype(np.float32)
    raise ValueError(f"the reference covers f32 and f16 embeddings, not {embeddings!r}")


def quantize_state(state: dict, config: dict, *, bitnet: bool, embeddings: str = "f16", rms_norm: bool = False,
                   rms_norm_eps: float = 1e-6, scale_divides: bool = False) -> LlamaFamilyWeights:
    """Weights as `ternary pack` stores them: latent float linears ternarized by absmean, BitNet's
    packed uint8 linears kept exactly (their weight_scale multiplies, or divides if `scale_divides`)."""
    pre = "model." if "model.embed_tokens.weight" in state else ""
    g = lambda name: _np(state[pre + name])
    table = _stored(g("embed_tokens.weight"), embeddings)
    tied = config.get("tie_word_embeddings", False)
    head = table if tied else _stored(_np(state["lm_head.weight"]), embeddings)
    layers = []
    for i in range(config["num_hidden_layers"]):
        p = f"layers.{i}."
        layer = {"input_layernorm": g(p + "input_layernorm.weight"), "post_attention_layernorm": g(p + "post_attention_layernorm.weight")}
        if bitnet:
            layer["attn_sub_norm"] = g(p + "self_attn.attn_sub_norm.weight")
            layer["ffn_sub_norm"] = g(p + "mlp.ffn_sub_norm.weight")
        for name in LINEARS:
            raw = state[pre + p + name + ".weight"]
            if raw.dtype == torch.uint8:
                q = unpack_bitnet(raw.numpy())
                scale = np.float32(_np(state[pre + p + name + ".weight_scale"]).reshape(-1)[0])
                beta = np.float32(1) / scale if scale_divides else scale
            else:
                q, beta = S.ternarize(_np(raw))
            bias_key = pre + p + name + ".bias"
            bias = g(p + name + ".bias") if bias_key in state else None
            norm = None
            if rms_norm:
                key = next(k for k in (pre + p + name + ".norm.weight", pre + p + name + ".rms_norm.weight") if k in state)
                norm = _np(state[key])
            layer[name] = (q, beta, bias, norm)
        layers.append(layer)
    weights = LlamaFamilyWeights(config, bitnet, table, head, layers, g("norm.weight"))
    weights.rms_norm_eps = rms_norm_eps
    return weights


def _rms(x: torch.Tensor, w: np.ndarray, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * torch.from_numpy(w)


def _linear(x: torch.Tensor, params, eps: float) -> torch.Tensor:
    q, beta, bias, norm = params
    if norm is not None:
        x = _rms(x, norm, eps)
    return torch.from_numpy(S.bitlinear(x.numpy(), q, beta, bias))


def _act(x: torch.Tensor, name: str) -> torch.Tensor:
    if name in ("silu", "swish"):
        return x * torch.sigmoid(x)
    if name == "relu2":
        return torch.relu(x).square()
    if name == "relu":
        return torch.relu(x)
    if name == "gelu":
        return torch.nn.functional.gelu(x)
    raise ValueError(name)


def rope_tables(config: dict, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """cos, sin (T, dim/2) as HF computes them (float32), and the rotated dims per head."""
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    params = config.get("rope_parameters") or {}
    theta = config.get("rope_theta", params.get("rope_theta", 10000.0))
    dim = int(head_dim * config.get("partial_rotary_factor", params.get("partial_rotary_factor", 1.0)))
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    freqs = positions.float()[:, None] * inv_freq[None, :]
    return freqs.cos(), freqs.sin(), dim


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, dim: int, style: str) -> torch.Tensor:
    """x: (heads, T, head_dim)."""
    r, rest = x[..., :dim], x[..., dim:]
    if style == "gptj":
        a, b = r[..., 0::2], r[..., 1::2]
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    else:
        half = dim // 2
        a, b = r[..., :half], r[..., half:]
        out = torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)
    return torch.cat((out, rest), dim=-1)


@torch.no_grad()
def forward(weights: LlamaFamilyWeights, ids: list[int]) -> np.ndarray:
    """Logits (len(ids), vocab) for one sequence starting at position 0."""
    c = weights.config
    d, nh = c["hidden_size"], c["num_attention_heads"]
    nkv = c.get("num_key_value_heads") or nh
    hd = c.get("head_dim") or d // nh
    eps = c.get("rms_norm_eps", 1e-6)
    act = c.get("hidden_act", "relu2" if weights.bitnet else "silu")
    style = c.get("rope_style", "neox")
    T = len(ids)
    cos, sin, dim = rope_tables(c, torch.arange(T))
    x = torch.from_numpy(weights.table[ids].copy())
    mask = torch.full((T, T), float("-inf")).triu(1)
    le = getattr(weights, "rms_norm_eps", 1e-6)
    for layer in weights.layers:
        h = _rms(x, layer["input_layernorm"], eps)
        q = _linear(h, layer["self_attn.q_proj"], le).view(T, nh, hd).transpose(0, 1)
        k = _linear(h, layer["self_attn.k_proj"], le).view(T, nkv, hd).transpose(0, 1)
        v = _linear(h, layer["self_attn.v_proj"], le).view(T, nkv, hd).transpose(0, 1)
        q, k = _rotate(q, cos, sin, dim, style), _rotate(k, cos, sin, dim, style)
        k, v = (t.repeat_interleave(nh // nkv, dim=0) for t in (k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask
        y = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, nh * hd)
        if weights.bitnet:
            y = _rms(y, layer["attn_sub_norm"], eps)
        x = x + _linear(y, layer["self_attn.o_proj"], le)
        h = _rms(x, layer["post_attention_layernorm"], eps)
        a = _act(_linear(h, layer["mlp.gate_proj"], le), act) * _linear(h, layer["mlp.up_proj"], le)
        if weights.bitnet:
            a = _rms(a, layer["ffn_sub_norm"], eps)
        x = x + _linear(a, layer["mlp.down_proj"], le)
    h = _rms(x, weights.norm, eps).numpy()
    return (h @ weights.head.T).astype(np.float32)


def perplexity(weights: LlamaFamilyWeights, ids: list[int], ctx: int) -> tuple[float, int]:
    from .evaluation import chunked_perplexity

    return chunked_perplexity(lambda chunk: torch.from_numpy(forward(weights, chunk)), ids, ctx)


def greedy(weights: LlamaFamilyWeights, prompt: list[int], steps: int) -> list[int]:
    ids = list(prompt)
    for _ in range(steps):
        ids.append(int(np.argmax(forward(weights, ids)[-1])))
    return ids[len(prompt):]

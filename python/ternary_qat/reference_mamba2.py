"""An independent forward of ternary Mamba-2 models straight from a Hugging Face state dict and its
config.json, with the semantics of docs/FORMAT.md (ternary in_proj/out_proj with int8 per-token
activations, everything else float32) and the recurrence written token by token, as the engine
runs it: no HF modules, no packed file. The oracle for the Swift engine's Mamba-2 parity fixtures,
itself checked against transformers' Mamba2ForCausalLM (chunked scan) in the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import semantics as S


def _np(t) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float32)


@dataclass
class Mamba2Weights:
    config: dict
    table: np.ndarray
    head: np.ndarray
    layers: list = field(default_factory=list)
    norm_f: np.ndarray = None
    rms_norm: bool = False
    rms_norm_eps: float = 1e-6


def quantize_state(state: dict, config: dict, *, embeddings: str = "f16", rms_norm: bool = False, rms_norm_eps: float = 1e-6) -> Mamba2Weights:
    """Weights as `ternary pack` stores them (projections ternarized by absmean)."""
    pre = "backbone." if "backbone.embeddings.weight" in state else ""
    g = lambda name: _np(state[pre + name])

    def stored(w):
        return w.astype(np.float16).astype(np.float32) if embeddings == "f16" else w

    table = stored(g("embeddings.weight"))
    head = table if config.get("tie_word_embeddings", True) else stored(_np(state["lm_head.weight"]))
    layers = []
    for i in range(config["num_hidden_layers"]):
        p = f"layers.{i}."
        layer = {"norm": g(p + "norm.weight"), "conv_weight": g(p + "mixer.conv1d.weight").reshape(-1, config.get("conv_kernel", 4)),
                 "conv_bias": g(p + "mixer.conv1d.bias") if pre + p + "mixer.conv1d.bias" in state else None,
                 "dt_bias": g(p + "mixer.dt_bias"), "A": -np.exp(g(p + "mixer.A_log")), "D": g(p + "mixer.D"),
                 "gate_norm": g(p + "mixer.norm.weight")}
        for name in ("in_proj", "out_proj"):
            q, beta = S.ternarize(g(p + f"mixer.{name}.weight"))
            bias_key = pre + p + f"mixer.{name}.bias"
            norm = None
            if rms_norm:
                key = next(k for k in (pre + p + f"mixer.{name}.norm.weight", pre + p + f"mixer.{name}.rms_norm.weight") if k in state)
                norm = _np(state[key])
            layer[name] = (q, beta, _np(state[bias_key]) if bias_key in state else None, norm)
        layers.append(layer)
    return Mamba2Weights(config, table, head, layers, g("norm_f.weight"), rms_norm, rms_norm_eps)


def _rms(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(eps)) * w).astype(np.float32)


def _linear(x: np.ndarray, params, eps: float) -> np.ndarray:
    q, beta, bias, norm = params
    if norm is not None:
        x = _rms(x, norm, eps)
    return S.bitlinear(x, q, beta, bias)


def _silu(x):
    return (x / (1 + np.exp(-x))).astype(np.float32)


def new_state(w: Mamba2Weights) -> list[dict]:
    c = w.config
    inner = c["expand"] * c["hidden_size"]
    conv_width = inner + 2 * c["n_groups"] * c["state_size"]
    return [{"conv": np.zeros((c["conv_kernel"] - 1, conv_width), np.float32),
             "ssm": np.zeros((c["num_heads"], c["head_dim"], c["state_size"]), np.float32)} for _ in w.layers]


def forward(w: Mamba2Weights, ids: list[int], state: list[dict] | None = None) -> np.ndarray:
    """Logits (len(ids), vocab), continuing `state` (updated in place) or from an empty one."""
    c = w.config
    state = new_state(w) if state is None else state
    d, H, hd, N, G, K = c["hidden_size"], c["num_heads"], c["head_dim"], c["state_size"], c["n_groups"], c["conv_kernel"]
    inner = c["expand"] * d
    eps = c.get("layer_norm_epsilon", 1e-5)
    lo, hi = c.get("time_step_limit", (0.0, math.inf))
    x = w.table[np.asarray(ids)].astype(np.float32)
    T = len(ids)
    for layer, st in zip(w.layers, state):
        proj = _linear(_rms(x, layer["norm"], eps), layer["in_proj"], w.rms_norm_eps)
        z, xbc, dt = proj[:, :inner], proj[:, inner:inner + inner + 2 * G * N], proj[:, -H:]
        window = np.concatenate([st["conv"], xbc], axis=0)
        conv = np.stack([(window[t:t + K] * layer["conv_weight"].T).sum(0) for t in range(T)])
        if layer["conv_bias"] is not None:
            conv = conv + layer["conv_bias"]
        conv = _silu(conv.astype(np.float32))
        st["conv"] = window[-(K - 1):] if K > 1 else window[:0]
        xs, B, C = conv[:, :inner].reshape(T, H, hd), conv[:, inner:inner + G * N].reshape(T, G, N), conv[:, inner + G * N:].reshape(T, G, N)
        dt = torch.nn.functional.softplus(torch.from_numpy(dt + layer["dt_bias"])).numpy()
        dt = np.clip(dt, lo, hi).astype(np.float32)
        y = np.zeros((T, H, hd), np.float32)
        per = H // G
        for t in range(T):
            for h in range(H):
                g = h // per
                decay = np.exp(dt[t, h] * layer["A"][h])
                st["ssm"][h] = st["ssm"][h] * decay + (dt[t, h] * xs[t, h])[:, None] * B[t, g][None, :]
                y[t, h] = st["ssm"][h] @ C[t, g] + layer["D"][h] * xs[t, h]
        y = y.reshape(T, inner) * _silu(z)
        groups = y.reshape(T, G, inner // G)
        groups = groups / np.sqrt(np.mean(groups * groups, axis=-1, keepdims=True) + np.float32(eps))
        y = (groups.reshape(T, inner) * layer["gate_norm"]).astype(np.float32)
        x = (x + _linear(y, layer["out_proj"], w.rms_norm_eps)).astype(np.float32)
    return (_rms(x, w.norm_f, eps) @ w.head.T).astype(np.float32)


def greedy(w: Mamba2Weights, prompt: list[int], steps: int) -> list[int]:
    state = new_state(w)
    logits = forward(w, prompt, state)
    out = []
    for _ in range(steps):
        token = int(np.argmax(logits[-1]))
        out.append(token)
        logits = forward(w, [token], state)
    return out


def perplexity(w: Mamba2Weights, ids: list[int], ctx: int) -> tuple[float, int]:
    """As `ternary perplexity`: non-overlapping chunks of `ctx` tokens, each from an empty state."""
    from .evaluation import chunked_perplexity

    return chunked_perplexity(lambda chunk: torch.from_numpy(forward(w, chunk)), ids, ctx)

"""An independent forward of ternary Mamba-2 models straight from a Hugging Face state dict and its
config.json, with the semantics of docs/FORMAT.md (ternary in_proj/out_proj with int8 per-token
activations, everything else float32) and the recurrence written token by token, as the engine
runs it: no HF modules, no packed file. The oracle for the Swift engine's Mamba-2 parity fixtures,
itself checked against transformers' Mamba2ForCausalLM (chunked scan) in the tests.

BitMamba-2's block (`bitmamba` in the config) is covered too, read from its BIT2 file (`read_bit2`,
`write_bit2`): x alone through the convolution, D per channel, y · silu(z), no block norm, and a
ternary head with its own input norm.
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
    table: np.ndarray            # (vocab, d) embeddings as the engine reads them
    head: tuple                  # ("float", W) or ("int8", q, scale)
    layers: list = field(default_factory=list)
    norm_f: np.ndarray = None
    rms_norm: bool = False
    rms_norm_eps: float = 1e-6
    head_norm: np.ndarray = None  # BitMamba-2: the ternary head's input norm


def quantize_state(state: dict, config: dict, *, embeddings: str = "f16", rms_norm: bool = False, rms_norm_eps: float = 1e-6) -> Mamba2Weights:
    """Weights as `ternary pack` stores them (projections ternarized by absmean)."""
    pre = "backbone." if "backbone.embeddings.weight" in state else ""
    g = lambda name: _np(state[pre + name])

    def stored(w):
        """(values as the engine reads them, the head's form): float, or int8 rows with their scales."""
        if embeddings == "int8":
            q, scale = S.int8_rows(w)
            return (q.astype(np.float32) * scale[:, None]).astype(np.float32), ("int8", q, scale)
        if embeddings == "f16":
            w = w.astype(np.float16).astype(np.float32)
        elif embeddings != "f32":
            raise ValueError(f"the reference covers f32, f16 and int8 embeddings, not {embeddings!r}")
        return w, ("float", w)

    table, head = stored(g("embeddings.weight"))
    if not config.get("tie_word_embeddings", True):
        _, head = stored(_np(state["lm_head.weight"]))
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
    conv_width = inner if c.get("bitmamba") else inner + 2 * c["n_groups"] * c["state_size"]
    return [{"conv": np.zeros((c["conv_kernel"] - 1, conv_width), np.float32),
             "ssm": np.zeros((c["num_heads"], c["head_dim"], c["state_size"]), np.float32)} for _ in w.layers]


def forward(w: Mamba2Weights, ids: list[int], state: list[dict] | None = None) -> np.ndarray:
    """Logits (len(ids), vocab), continuing `state` (updated in place) or from an empty one."""
    c = w.config
    state = new_state(w) if state is None else state
    d, H, hd, N, G, K = c["hidden_size"], c["num_heads"], c["head_dim"], c["state_size"], c["n_groups"], c["conv_kernel"]
    inner = c["expand"] * d
    bitmamba = c.get("bitmamba", False)
    eps = c.get("layer_norm_epsilon", 1e-5)
    lo, hi = c.get("time_step_limit", (0.0, math.inf))
    x = w.table[np.asarray(ids)].astype(np.float32)
    T = len(ids)
    for layer, st in zip(w.layers, state):
        h = x if bitmamba else _rms(x, layer["norm"], eps)
        proj = _linear(h, layer["in_proj"], eps if bitmamba else w.rms_norm_eps)
        z, xbc, dt = proj[:, :inner], proj[:, inner:inner + inner + 2 * G * N], proj[:, -H:]
        conv_in = xbc[:, :inner] if bitmamba else xbc
        window = np.concatenate([st["conv"], conv_in], axis=0)
        conv = np.stack([(window[t:t + K] * layer["conv_weight"].T).sum(0) for t in range(T)])
        if layer["conv_bias"] is not None:
            conv = conv + layer["conv_bias"]
        conv = _silu(conv.astype(np.float32))
        st["conv"] = window[-(K - 1):] if K > 1 else window[:0]
        bc = xbc if bitmamba else conv
        xs = conv[:, :inner].reshape(T, H, hd)
        B, C = bc[:, inner:inner + G * N].reshape(T, G, N), bc[:, inner + G * N:].reshape(T, G, N)
        D = layer["D"].reshape(H, hd) if bitmamba else np.repeat(layer["D"][:, None], hd, axis=1)
        dt = torch.nn.functional.softplus(torch.from_numpy(dt + layer["dt_bias"])).numpy()
        dt = np.clip(dt, lo, hi).astype(np.float32)
        y = np.zeros((T, H, hd), np.float32)
        per = H // G
        for t in range(T):
            for h in range(H):
                g = h // per
                decay = np.exp(dt[t, h] * layer["A"][h])
                st["ssm"][h] = st["ssm"][h] * decay + (dt[t, h] * xs[t, h])[:, None] * B[t, g][None, :]
                y[t, h] = st["ssm"][h] @ C[t, g] + D[h] * xs[t, h]
        y = y.reshape(T, inner) * _silu(z)
        if not bitmamba:
            groups = y.reshape(T, G, inner // G)
            groups = groups / np.sqrt(np.mean(groups * groups, axis=-1, keepdims=True) + np.float32(eps))
            y = (groups.reshape(T, inner) * layer["gate_norm"]).astype(np.float32)
        x = (x + _linear(y, layer["out_proj"], eps if bitmamba else w.rms_norm_eps)).astype(np.float32)
    h = _rms(x, w.norm_f, eps)
    if w.head[0] == "ternary":
        _, q, beta = w.head
        return S.bitlinear(_rms(h, w.head_norm, eps), q, beta, None)
    if w.head[0] == "int8":
        _, q, scale = w.head
        xq, s = S.quantize_activations(h)
        return (S.exact_int_matmul(xq, q).astype(np.float32) * scale[None, :] / s).astype(np.float32)
    return (h @ w.head[1].T).astype(np.float32)


BIT2_MAGIC = 0x42495432


def write_bit2(path, config: dict, tensors: dict) -> None:
    """A BIT2 file as bitmamba.c reads it. `tensors`: float arrays by name, and for the ternary
    projections and head (codes int8 (rows, k), s) with values codes / s."""
    import struct

    order = ["embed.weight"]
    for i in range(config["n_layers"]):
        order += [f"layers.{i}.{n}" for n in ("in_proj.norm.weight", "in_proj.weight", "conv1d.weight", "conv1d.bias", "dt_bias",
                                             "A_log", "D", "out_proj.norm.weight", "out_proj.weight")]
    order += ["norm_f.weight", "lm_head.norm.weight", "lm_head.weight"]
    with open(path, "wb") as f:
        f.write(struct.pack("<5i", BIT2_MAGIC, config["vocab_size"], config["d_model"], config["n_layers"], config["n_heads"]))
        for name in order:
            value = tensors[name]
            if isinstance(value, tuple):
                codes, s = value
                flat = (codes.reshape(-1) + 1).astype(np.uint8).reshape(-1, 4)
                packed = flat[:, 0] | (flat[:, 1] << 2) | (flat[:, 2] << 4) | (flat[:, 3] << 6)
                f.write(struct.pack("<iiif", 2, codes.shape[0], codes.shape[1], float(s)))
                f.write(packed.astype(np.uint8).tobytes())
            else:
                value = np.asarray(value, dtype=np.float32)
                f.write(struct.pack("<ii", 0, value.ndim) + struct.pack(f"<{value.ndim}i", *value.shape))
                f.write(value.tobytes())


def read_bit2(path) -> Mamba2Weights:
    """The weights of a BIT2 file, codes and scales exactly (a ternary tensor is code · (1 / s))."""
    import struct

    raw = open(path, "rb").read()
    magic, vocab, d, layers, heads = struct.unpack_from("<5i", raw, 0)
    assert magic == BIT2_MAGIC, "not a BIT2 file"
    offset = 20

    def take():
        nonlocal offset
        kind, = struct.unpack_from("<i", raw, offset)
        offset += 4
        if kind == 2:
            rows, cols, s = struct.unpack_from("<iif", raw, offset)
            offset += 12
            b = np.frombuffer(raw, np.uint8, rows * cols // 4, offset)
            offset += rows * cols // 4
            codes = np.stack([(b >> (2 * i)) & 3 for i in range(4)], axis=1).reshape(rows, cols).astype(np.int8) - 1
            return codes, np.float32(np.float32(1) / np.float32(s))
        ndim, = struct.unpack_from("<i", raw, offset)
        shape = struct.unpack_from(f"<{ndim}i", raw, offset + 4)
        offset += 4 + 4 * ndim
        n = int(np.prod(shape))
        value = np.frombuffer(raw, np.float32, n, offset).reshape(shape).copy()
        offset += 4 * n
        return value

    inner = 2 * d
    config = {"hidden_size": d, "num_hidden_layers": layers, "num_heads": heads, "head_dim": inner // heads, "state_size": 1,
              "n_groups": heads, "expand": 2, "conv_kernel": 4, "vocab_size": vocab, "layer_norm_epsilon": 1e-6, "bitmamba": True}
    table = take()
    out = []
    for _ in range(layers):
        in_norm, in_proj, conv_w, conv_b, dt_bias, a_log, D, out_norm, out_proj = (take() for _ in range(9))
        out.append({"in_proj": (in_proj[0], in_proj[1], None, in_norm), "conv_weight": conv_w.reshape(inner, 4), "conv_bias": conv_b,
                    "dt_bias": dt_bias, "A": -np.exp(a_log), "D": D.reshape(-1), "out_proj": (out_proj[0], out_proj[1], None, out_norm)})
    norm_f, head_norm, head = take(), take(), take()
    assert offset == len(raw), "bytes after the last tensor"
    return Mamba2Weights(config, table, ("ternary", head[0], head[1]), out, norm_f, True, 1e-6, head_norm)


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

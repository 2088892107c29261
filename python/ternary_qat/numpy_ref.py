"""A NumPy reference engine: loads a packed ternary file and runs GPT-2 with the engine's integer
semantics, vectorised. An independent oracle for tests and the speed baseline in BENCHMARKS.md.

    python -m ternary_qat.numpy_ref model.safetensors --ids 1,2,3 -n 16
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from safetensors import safe_open

from . import semantics as S


class NumpyGPT2:
    def __init__(self, path: str):
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata()
            if meta.get("format") != "ternary" or meta.get("architecture") != "gpt2":
                raise ValueError(f"{path} is not a packed ternary GPT-2 file")
            self.config = json.loads(meta["config"])
            q = json.loads(meta["quantization"])
            t = {name: f.get_tensor(name) for name in f.keys()}
        c = self.config
        self.d, self.heads, self.layers = c["n_embd"], c["n_head"], c["n_layer"]
        self.vocab, self.eps = c["vocab_size"], c["layer_norm_epsilon"]
        self.rms_norm, self.rms_eps = q["rms_norm"], q["rms_norm_eps"]
        # The embeddings' own format: matrix_formats names it (q4/q6 share t1.6's dtype).
        self.embeddings = json.loads(meta["matrix_formats"])["wte"] if "matrix_formats" in meta else q["embeddings"]
        d = self.d
        if self.embeddings in S.GROUPED_OFFSETS:
            packed, scales = t["wte.weight"], t["wte.group_scale"]
            self.wte = S.dequantize_grouped(packed, scales, d, self.embeddings)
            self.head = ("grouped", packed, scales)
        elif self.embeddings in ("f32", "f16"):
            self.wte = t["wte.weight"].astype(np.float32)
            self.head = ("float", self.wte)
        elif self.embeddings == "int8":
            qw, scale = t["wte.weight"][:, :d], t["wte.scale"]
            self.wte = qw.astype(np.float32) * scale[:, None]
            self.head = ("int8", qw.astype(np.float32), scale)
        else:
            qw = S.unpack_any(t["wte.weight"], d)
            beta = t["wte.weight_scale"][0]
            self.wte = qw.astype(np.float32) * beta
            self.head = ("ternary", qw.astype(np.float32), beta)
        self.wpe = t["wpe.weight"].astype(np.float32)
        self.blocks = []
        for i in range(self.layers):
            p = f"h.{i}"
            block = {n: (t[f"{p}.{n}.weight"], t[f"{p}.{n}.bias"]) for n in ("ln_1", "ln_2")}
            for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
                w = t[f"{p}.{name}.weight"]
                k = d if name != "mlp.c_proj" else c["n_inner"]
                # int8 codes; products and sums of integers below 2^24 are exact in float32.
                block[name] = (S.unpack_any(w, k), t[f"{p}.{name}.weight_scale"][0], t[f"{p}.{name}.bias"],
                               t.get(f"{p}.{name}.norm.weight"))
            self.blocks.append(block)
        self.ln_f = (t["ln_f.weight"], t["ln_f.bias"])
        self.activation = c.get("activation_function", "gelu_new")

    def _ln(self, x, wb):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + np.float32(self.eps)) * wb[0] + wb[1]

    def _linear(self, x, params):
        q, beta, bias, norm = params
        if norm is not None:
            x = x / np.sqrt((x * x).mean(-1, keepdims=True) + np.float32(self.rms_eps)) * norm
        xq, s = S.quantize_activations(x)
        acc = xq.astype(np.float32) @ q.astype(np.float32).T  # exact integer values
        return (acc * (beta / s) + bias).astype(np.float32)

    def _act(self, x):
        if self.activation == "relu":
            return np.maximum(x, 0)
        if self.activation == "gelu":
            from math import erf
            return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2))).astype(np.float32)
        return (0.5 * x * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x ** 3)))).astype(np.float32)

    def new_cache(self):
        return {"k": [np.zeros((0, self.d), np.float32) for _ in range(self.layers)],
                "v": [np.zeros((0, self.d), np.float32) for _ in range(self.layers)], "length": 0}

    def forward(self, ids, cache=None) -> np.ndarray:
        """Logits (len(ids), vocab) for ids following what `cache` holds."""
        cache = cache if cache is not None else self.new_cache()
        T, d, H = len(ids), self.d, self.heads
        hs, start = d // H, cache["length"]
        x = self.wte[ids] + self.wpe[start:start + T]
        for i, b in enumerate(self.blocks):
            qkv = self._linear(self._ln(x, b["ln_1"]), b["attn.c_attn"])
            q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
            cache["k"][i] = np.concatenate([cache["k"][i], k])
            cache["v"][i] = np.concatenate([cache["v"][i], v])
            K = cache["k"][i].reshape(-1, H, hs).transpose(1, 0, 2)
            V = cache["v"][i].reshape(-1, H, hs).transpose(1, 0, 2)
            Q = q.reshape(T, H, hs).transpose(1, 0, 2)
            att = Q @ K.transpose(0, 2, 1) / np.float32(math.sqrt(hs))
            mask = np.arange(start + T)[None, :] > (start + np.arange(T))[:, None]
            att = np.where(mask[None], -np.inf, att)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            y = (att @ V).transpose(1, 0, 2).reshape(T, d)
            x = x + self._linear(y, b["attn.c_proj"])
            h = self._act(self._linear(self._ln(x, b["ln_2"]), b["mlp.c_fc"]))
            x = x + self._linear(h, b["mlp.c_proj"])
        cache["length"] = start + T
        h = self._ln(x, self.ln_f).astype(np.float32)
        kind = self.head[0]
        if kind == "float":
            return h @ self.head[1].T
        xq, s = S.quantize_activations(h)
        if kind == "grouped":
            return (S.grouped_matmul(xq, self.head[1], self.head[2], self.d, self.embeddings) / s).astype(np.float32)
        acc = xq.astype(np.float32) @ self.head[1].T
        if kind == "int8":
            return acc * self.head[2][None, :] / s
        return acc * (self.head[2] / s)

    def generate(self, ids, n: int) -> tuple[list[int], float, float]:
        """Greedy; returns (new ids, prefill seconds, decode seconds)."""
        cache = self.new_cache()
        t0 = time.perf_counter()
        logits = self.forward(list(ids), cache)
        t1 = time.perf_counter()
        out = []
        for _ in range(n):
            out.append(int(np.argmax(logits[-1])))
            if len(out) == n:
                break
            logits = self.forward([out[-1]], cache)
        return out, t1 - t0, time.perf_counter() - t1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--ids", default="0", help="comma-separated prompt ids")
    p.add_argument("-n", type=int, default=16)
    a = p.parse_args()
    m = NumpyGPT2(a.model)
    ids = [int(i) for i in a.ids.split(",")]
    out, pre, dec = m.generate(ids, a.n)
    print(json.dumps({"ids": out, "prefill_tokens_per_second": len(ids) / pre,
                      "decode_tokens_per_second": (len(out) - 1) / dec if len(out) > 1 else None}))


if __name__ == "__main__":
    main()

"""Writes packed ternary files byte-identical to the Swift packer (docs/FORMAT.md)."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from . import semantics as S

FORMAT_NAME = "ternary"
FORMAT_VERSION = "1"
_DTYPES = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int8"): "I8",
           np.dtype("uint32"): "U32", np.dtype("int32"): "I32", np.dtype("uint8"): "U8", np.dtype("uint16"): "U16"}


def canonical_json(value) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the form the Swift `JSONValue.serialized()` writes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


FORMATS = ("ternary", "t1.6", "int8", "f32", "f16", "bf16", "q4", "q6")
MATRIX_FORMATS_KEY = "matrix_formats"


def quantization_metadata(embeddings: str, rms_norm: bool, rms_norm_eps: float, weights: str = "ternary") -> str:
    return canonical_json({"activations": "int8-absmax-per-token", "block": S.BLOCK_WEIGHTS, "embeddings": embeddings,
                           "rms_norm": bool(rms_norm), "rms_norm_eps": float(rms_norm_eps),
                           "weights": "ternary-absmean-per-tensor" if weights == "ternary" else weights})


def bfloat16_bits(w: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns of float32 values, rounded to nearest even (as torch and the Swift packer)."""
    u = np.ascontiguousarray(w, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def tokenizer_metadata(vocab: dict[str, int], merges: list[str]) -> dict[str, str]:
    return {"tokenizer.model": "gpt2-bpe", "tokenizer.vocab": canonical_json(vocab), "tokenizer.merges": "\n".join(merges)}


class PackedBuilder:
    """Collects tensors like the Swift PackedModelBuilder."""

    def __init__(self, architecture: str, config: dict, embeddings: str, rms_norm: bool = False,
                 rms_norm_eps: float = 1e-6, tokenizer: tuple[dict, list] | None = None, weights: str = "ternary"):
        for option, value in (("embeddings", embeddings), ("weights", weights)):
            if value not in FORMATS:
                raise ValueError(f"{option} must be one of {', '.join(FORMATS)}, not {value!r}")
        self.embeddings = embeddings
        self.weights = weights
        self.metadata = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "architecture": architecture,
                         "config": canonical_json(config),
                         "quantization": quantization_metadata(embeddings, rms_norm, rms_norm_eps, weights)}
        if tokenizer is not None:
            self.metadata.update(tokenizer_metadata(*tokenizer))
        self.tensors: dict[str, np.ndarray] = {}
        self.matrix_formats: dict[str, str] = {}  # written as the `matrix_formats` metadata
        self.dtypes: dict[str, str] = {}  # safetensors dtype where numpy's would be wrong (BF16 as uint16)

    def add(self, name: str, array: np.ndarray, dtype: str | None = None) -> None:
        self.tensors[name] = np.ascontiguousarray(array)
        if dtype is not None:
            self.dtypes[name] = dtype

    def add_matrix(self, name: str, w: np.ndarray, fmt: str) -> None:
        """A (rows, k) matrix stored in `fmt` (docs/FORMAT.md, "Matrix formats")."""
        w = np.asarray(w, dtype=np.float32)
        if not np.isfinite(w).all():
            raise ValueError(f"{name} holds NaN or infinity")
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        self.matrix_formats[name] = fmt
        if fmt in ("ternary", "t1.6"):
            q, beta = S.ternarize(w)
            self.add(f"{name}.weight", S.pack_ternary(q) if fmt == "ternary" else S.pack_base3(q))
            self.add(f"{name}.weight_scale", np.array([beta], dtype=np.float32))
        elif fmt == "int8":
            q, scale = S.int8_rows(w)
            padded = np.zeros((w.shape[0], S.padded_length(w.shape[1])), dtype=np.int8)
            padded[:, :w.shape[1]] = q
            self.add(f"{name}.weight", padded)
            self.add(f"{name}.scale", scale)
        elif fmt == "f32":
            self.add(f"{name}.weight", w)
        elif fmt == "f16":
            self.add(f"{name}.weight", w.astype(np.float16))
        elif fmt == "bf16":
            self.add(f"{name}.weight", bfloat16_bits(w), dtype="BF16")
        else:  # q4, q6
            codes, scales = S.quantize_grouped(w, fmt)
            self.add(f"{name}.weight", S.pack_grouped(codes, fmt))
            self.add(f"{name}.group_scale", scales)

    def add_bitlinear(self, prefix: str, w: np.ndarray, bias: np.ndarray | None, norm: np.ndarray | None) -> None:
        self.add_matrix(prefix, w, self.weights)
        if bias is not None:
            self.add(f"{prefix}.bias", bias.astype(np.float32))
        if norm is not None:
            self.add(f"{prefix}.norm.weight", norm.astype(np.float32))

    def add_embedding(self, name: str, w: np.ndarray) -> None:
        self.add_matrix(name, w, self.embeddings)

    def add_float_table(self, name: str, w: np.ndarray) -> None:
        self.add(name, w.astype(np.float32 if self.embeddings == "f32" else np.float16))

    def write(self, path: str | os.PathLike) -> None:
        metadata = dict(self.metadata, **{MATRIX_FORMATS_KEY: canonical_json(self.matrix_formats)})
        write_safetensors(path, metadata, self.tensors, self.dtypes)


def write_safetensors(path, metadata: dict[str, str], tensors: dict[str, np.ndarray], dtypes: dict[str, str] | None = None) -> None:
    """Canonical safetensors: __metadata__ (sorted) first, tensors by element size (desc) then name,
    header padded with spaces to a multiple of 8; written to a temp file and renamed."""
    order = sorted(tensors, key=lambda n: (-tensors[n].dtype.itemsize, n))
    parts, offset = [], 0
    if metadata:
        parts.append('"__metadata__":' + canonical_json(metadata))
    for name in order:
        a = tensors[name]
        end = offset + a.nbytes
        entry = {"dtype": (dtypes or {}).get(name) or _DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, end]}
        parts.append(json.dumps(name, ensure_ascii=False) + ":" + json.dumps(entry, separators=(",", ":")))
        offset = end
    header = ("{" + ",".join(parts) + "}").encode("utf-8")
    header += b" " * (-len(header) % 8)
    path = Path(path)
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for name in order:
                f.write(tensors[name].astype(tensors[name].dtype.newbyteorder("<"), copy=False).tobytes())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

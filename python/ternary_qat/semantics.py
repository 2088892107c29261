"""The quantization semantics of docs/FORMAT.md, in NumPy, bit-exact with the Swift packer.

These functions are the single Python definition of how weights and activations are quantized;
the exporter, the NumPy reference engine and the test references all call them.
"""
from __future__ import annotations

import numpy as np

BLOCK_WEIGHTS = 64  # weights per packed block (16 bytes)
WEIGHTS_PER_WORD = 16
BETA_FLOOR = np.float32(1e-5)
ACT_FLOOR = np.float32(1e-5)


def padded_length(k: int) -> int:
    return (k + BLOCK_WEIGHTS - 1) // BLOCK_WEIGHTS * BLOCK_WEIGHTS


def absmean_beta(w: np.ndarray) -> np.float32:
    """β = max(float32(Σ|w| / n), 1e-5) with the sum taken in float64, sequentially, row-major.

    np.cumsum is sequential (np.sum is pairwise), which makes this bit-identical to the Swift loop.
    """
    flat = np.abs(np.ascontiguousarray(w, dtype=np.float32).ravel()).astype(np.float64)
    total = np.cumsum(flat)[-1] if flat.size else 0.0
    return np.maximum(np.float32(total / flat.size), BETA_FLOOR)


def ternarize(w: np.ndarray, beta: np.float32 | None = None) -> tuple[np.ndarray, np.float32]:
    """W_q = clamp(round_half_even(W / β), −1, 1) as int8, and β."""
    w = np.asarray(w, dtype=np.float32)
    if beta is None:
        beta = absmean_beta(w)
    q = np.clip(np.rint(w / np.float32(beta)), -1, 1).astype(np.int8)
    return q, np.float32(beta)


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per token (last axis): s = 127 / max(max|x|, 1e-5); q = clamp(round_half_even(x·s), −128, 127)."""
    x = np.asarray(x, dtype=np.float32)
    m = np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), ACT_FLOOR)
    s = (np.float32(127) / m).astype(np.float32)
    q = np.clip(np.rint(x * s), -128, 127).astype(np.int8)
    return q, s


def int8_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row int8: scale = max(max|row|, 1e-5) / 127; q = clamp(round(w / scale), −127, 127)."""
    w = np.asarray(w, dtype=np.float32)
    scale = (np.maximum(np.max(np.abs(w), axis=1), BETA_FLOOR) / np.float32(127)).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def pack_ternary(q: np.ndarray) -> np.ndarray:
    """Packs int8 ternary rows (rows, k) into uint32 words (rows, padded_k / 16).

    Block of 64 weights = 16 bytes; byte j holds in bits 2t..2t+1 the code (w + 1) of position
    16t + j; padding positions hold code 1 (weight 0).
    """
    rows, k = q.shape
    kp = padded_length(k)
    codes = np.ones((rows, kp), dtype=np.uint8)
    codes[:, :k] = (q.astype(np.int16) + 1).astype(np.uint8)
    blocks = codes.reshape(rows, kp // 64, 4, 16)  # (rows, block, t, j)
    packed = (blocks[:, :, 0, :] | (blocks[:, :, 1, :] << 2) | (blocks[:, :, 2, :] << 4) | (blocks[:, :, 3, :] << 6))
    return np.ascontiguousarray(packed.reshape(rows, kp // 4)).view("<u4")


def unpack_ternary(words: np.ndarray, k: int) -> np.ndarray:
    """Inverse of pack_ternary: (rows, padded_k / 16) uint32 → (rows, k) int8."""
    rows = words.shape[0]
    b = np.ascontiguousarray(words).view(np.uint8).reshape(rows, -1, 16)
    codes = np.stack([(b >> (2 * t)) & 3 for t in range(4)], axis=2)  # (rows, block, t, j)
    return (codes.reshape(rows, -1)[:, :k].astype(np.int8) - 1)


def base3_padded_length(k: int) -> int:
    """K rounded up to whole t1.6 blocks of 320 weights."""
    return (k + 319) // 320 * 320


def pack_base3(q: np.ndarray) -> np.ndarray:
    """Packs int8 ternary rows (rows, k) in the t1.6 layout: (rows, padded_k / 5) uint8.

    Block of 320 weights = 64 bytes; byte j is c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4 with c_i the code
    (w + 1) of position 64·i + j; padding positions hold code 1 (weight 0).
    """
    rows, k = q.shape
    kp = base3_padded_length(k)
    codes = np.ones((rows, kp), dtype=np.uint16)
    codes[:, :k] = (q.astype(np.int16) + 1).astype(np.uint16)
    blocks = codes.reshape(rows, kp // 320, 5, 64)  # (rows, block, digit i, j)
    packed = sum(blocks[:, :, i, :] * 3 ** i for i in range(5))
    return np.ascontiguousarray(packed.astype(np.uint8).reshape(rows, kp // 5))


def unpack_base3(b: np.ndarray, k: int) -> np.ndarray:
    """Inverse of pack_base3: (rows, padded_k / 5) uint8 → (rows, k) int8."""
    rows = b.shape[0]
    v = np.ascontiguousarray(b).reshape(rows, -1, 64).astype(np.int16)
    digits = []
    for _ in range(5):
        digits.append(v % 3)
        v = v // 3
    codes = np.stack(digits, axis=2)  # (rows, block, i, j)
    return codes.reshape(rows, -1)[:, :k].astype(np.int8) - 1


def unpack_any(w: np.ndarray, k: int) -> np.ndarray:
    """Ternary codes of a packed matrix in either layout, told apart by dtype (U32: 2-bit, U8: t1.6)."""
    return unpack_base3(w, k) if w.dtype == np.uint8 else unpack_ternary(w, k)


def exact_int_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (n, k) int8 @ b (m, k).T as exact integers, via float64 BLAS: every product and partial
    sum is an integer below 2^53 for k < 2^38, so the float64 result is exact."""
    return a.astype(np.float64) @ b.astype(np.float64).T


def bitlinear(x: np.ndarray, q: np.ndarray, beta: np.float32, bias: np.ndarray | None) -> np.ndarray:
    """y = (W_q · x_q) · β / s + bias with an exact integer matmul, x: (tokens, k), q: (rows, k)."""
    xq, s = quantize_activations(x)
    acc = exact_int_matmul(xq, q)
    y = acc.astype(np.float32) * (np.float32(beta) / s)
    if bias is not None:
        y = y + bias.astype(np.float32)
    return y.astype(np.float32)


GROUP_WEIGHTS = 32
GROUPED_OFFSETS = {"q4": 8, "q6": 32}  # w = d · (q − offset); codes 0…2·offset − 1


def quantize_grouped(w: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """q4/q6 (docs/FORMAT.md, "Grouped matrices"): rows padded with zeros to a multiple of 64, groups
    of 32; d = float16(m / −offset) for m the group's value of largest magnitude (the first on a tie;
    a zero d is +0), q = clamp(round_half_even(w / d) + offset, 0, 2·offset − 1), offset where d is 0.
    Returns the codes (rows, padded) uint8 and the scales (rows, groups) float16."""
    off = GROUPED_OFFSETS[fmt]
    w = np.asarray(w, dtype=np.float32)
    rows, k = w.shape
    padded = np.zeros((rows, padded_length(k)), dtype=np.float32)
    padded[:, :k] = w
    groups = padded.reshape(rows, -1, GROUP_WEIGHTS)
    m = np.take_along_axis(groups, np.abs(groups).argmax(-1)[..., None], -1)[..., 0]
    with np.errstate(over="ignore"):
        d = (m / np.float32(-off)).astype(np.float16)
    if not np.isfinite(d).all():
        raise ValueError(f"a group's scale (its largest weight / {off}) overflows float16")
    d[d == 0] = 0
    dd = d.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.rint(groups / dd) + np.float32(off), 0, 2 * off - 1)
    q = np.where(dd == 0, off, q).astype(np.uint8)
    return q.reshape(rows, -1), d


def pack_grouped(codes: np.ndarray, fmt: str) -> np.ndarray:
    """Codes (rows, padded) → bytes (rows, row_bytes): per 64-weight block, byte 16h + j holds weight
    32h + j (low nibble) and 32h + 16 + j (high nibble); q6 adds 16 bytes, byte 8h + i holding in bits
    2m…2m+1 the top two bits of weight 32h + 8m + i."""
    rows = codes.shape[0]
    c = codes.reshape(rows, -1, 2, GROUP_WEIGHTS).astype(np.uint8)
    low = ((c[..., :16] & 15) | ((c[..., 16:] & 15) << 4)).reshape(rows, -1, 32)
    if fmt == "q4":
        return low.reshape(rows, -1)
    top = (c >> 4).reshape(rows, -1, 2, 4, 8)
    high = (top[..., 0, :] | (top[..., 1, :] << 2) | (top[..., 2, :] << 4) | (top[..., 3, :] << 6)).reshape(rows, -1, 16)
    return np.concatenate([low, high], axis=2).reshape(rows, -1)


def unpack_grouped(b: np.ndarray, k: int, fmt: str) -> np.ndarray:
    """Inverse of pack_grouped: the codes (rows, k) as int16."""
    rows = b.shape[0]
    per_block = 32 if fmt == "q4" else 48
    v = np.ascontiguousarray(b).reshape(rows, -1, per_block).astype(np.int16)
    low = v[..., :32].reshape(rows, -1, 2, 16)
    codes = np.concatenate([low & 15, low >> 4], axis=3)  # (rows, block, h, 32)
    if fmt == "q6":
        high = v[..., 32:].reshape(rows, -1, 2, 1, 8)
        top = np.concatenate([(high >> (2 * m)) & 3 for m in range(4)], axis=3).reshape(rows, -1, 2, 32)
        codes = codes | (top << 4)
    return codes.reshape(rows, -1)[:, :k]


def dequantize_grouped(b: np.ndarray, scales: np.ndarray, k: int, fmt: str) -> np.ndarray:
    """w = float32(d) · float32(q − offset), (rows, k)."""
    q = unpack_grouped(b, k, fmt) - GROUPED_OFFSETS[fmt]
    d = np.repeat(scales.astype(np.float32), GROUP_WEIGHTS, axis=1)[:, :k]
    return (d * q.astype(np.float32)).astype(np.float32)


def grouped_matmul(xq: np.ndarray, b: np.ndarray, scales: np.ndarray, k: int, fmt: str) -> np.ndarray:
    """Σ_g d_g · Σ_{i∈g} (q − offset)·x_q (tokens, rows): each group's sum exact (float64), the sum
    over groups in float64 (the engine adds in float32, in its own order)."""
    q = (unpack_grouped(b, k, fmt) - GROUPED_OFFSETS[fmt]).astype(np.float64)
    rows, padded = q.shape[0], padded_length(k)
    qp = np.zeros((rows, padded))
    qp[:, :k] = q
    x = np.zeros((xq.shape[0], padded))
    x[:, :k] = xq[:, :k]
    sums = np.einsum("tgi,rgi->trg", x.reshape(x.shape[0], -1, GROUP_WEIGHTS), qp.reshape(rows, -1, GROUP_WEIGHTS))
    return np.einsum("trg,rg->tr", sums, scales.astype(np.float64))

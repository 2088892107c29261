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

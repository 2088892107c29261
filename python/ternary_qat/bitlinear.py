"""BitLinear: a linear layer whose forward uses ternary weights and int8 activations
(BitNet b1.58; the semantics of docs/FORMAT.md), trained through straight-through estimators."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · weight — the optional norm before activation quantization."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()).to(x.dtype)


def weight_scale(w: torch.Tensor) -> torch.Tensor:
    """β = mean|W|, at least 1e-5 (per tensor)."""
    return w.abs().mean().clamp(min=1e-5)


def ternary_weight(w: torch.Tensor) -> torch.Tensor:
    """{−1, 0, +1} · β with W_q = clamp(round(W / β), −1, 1); torch.round rounds half to even."""
    beta = weight_scale(w)
    return (w / beta).round().clamp(-1, 1) * beta


def int8_activations(x: torch.Tensor) -> torch.Tensor:
    """Per-token absmax int8, dequantized: clamp(round(x · s), −128, 127) / s, s = 127 / max|x|."""
    # A true division: `127.0 / tensor` would be computed as 127 · (1 / tensor), one rounding off.
    s = torch.full_like(x[..., :1], 127.0) / x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    return (x * s).round().clamp(-128, 127) / s


class BitLinear(nn.Linear):
    """nn.Linear with quantization-aware forward.

    `quant_lambda` (0…1) blends latent and quantized values, `x + λ·(q(x) − x).detach()`, for a
    gradual warm-up; at λ = 1 the forward is exactly the engine's. Gradients flow straight
    through the rounding to the FP32 latent weights.

    `from_conv1d`: the layer replaced a GPT-2 `Conv1D` and keeps that module's (in, out) weight
    layout, so the state dict has the model's own shapes and HF's save/load round-trips.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rms_norm: bool = False,
                 rms_norm_eps: float = 1e-6, from_conv1d: bool = False, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.norm = RMSNorm(in_features, rms_norm_eps) if rms_norm else None
        self.quant_lambda = 1.0
        self.from_conv1d = from_conv1d
        if from_conv1d:
            self.weight = nn.Parameter(self.weight.detach().t().contiguous())

    def effective_weight(self) -> torch.Tensor:
        """The (out, in) weight the forward multiplies by."""
        w = self.weight.float()
        w = w.t() if self.from_conv1d else w
        return w + self.quant_lambda * (ternary_weight(w) - w).detach()

    def effective_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            x = self.norm(x)
        x = x.float()
        return x + self.quant_lambda * (int8_activations(x) - x).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(self.effective_input(x), self.effective_weight(), None if self.bias is None else self.bias.float())
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", rms_norm={self.norm is not None}"

"""Swap a Hugging Face model's linear projections for BitLinear."""
from __future__ import annotations

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from .bitlinear import BitLinear

# Which projections are ternarized, per model_type (others: every nn.Linear / Conv1D).
TARGETS = {
    "gpt2": {"c_attn", "c_proj", "c_fc"},
    "llama": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "bitnet": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "mamba": {"in_proj", "out_proj"},
    "mamba2": {"in_proj", "out_proj"},
}


def _replacement(module: nn.Module, rms_norm: bool, rms_norm_eps: float) -> BitLinear:
    if isinstance(module, Conv1D):
        in_features, out_features = module.weight.shape  # Conv1D stores (in, out)
        weight = module.weight.detach().t()
    else:
        out_features, in_features = module.weight.shape
        weight = module.weight.detach()
    layer = BitLinear(in_features, out_features, bias=module.bias is not None, rms_norm=rms_norm,
                      rms_norm_eps=rms_norm_eps, device=module.weight.device, dtype=module.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if module.bias is not None:
            layer.bias.copy_(module.bias)
    layer.from_conv1d = isinstance(module, Conv1D)
    return layer


def patch_model(model: nn.Module, *, keep: tuple[str, ...] = ("lm_head",), rms_norm: bool = False,
                rms_norm_eps: float = 1e-6) -> list[str]:
    """Replace the model's linear projections by BitLinear in place; return the replaced names.

    Embeddings, norms and the modules named in `keep` (by full name or last component) stay float.
    Mamba models must run their slow (pure PyTorch) path, which calls the projections as modules.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = TARGETS.get(model_type)
    replaced = []
    for name, module in list(model.named_modules()):
        if not isinstance(module, (nn.Linear, Conv1D)) or isinstance(module, BitLinear):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if name in keep or leaf in keep or (targets is not None and leaf not in targets):
            continue
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, leaf, _replacement(module, rms_norm, rms_norm_eps))
        replaced.append(name)
    if hasattr(model, "config"):
        model.config.ternary_qat = {"rms_norm": rms_norm, "rms_norm_eps": rms_norm_eps, "patched": replaced}
    return replaced


def bitlinear_layers(model: nn.Module) -> list[tuple[str, BitLinear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BitLinear)]


def set_quant_lambda(model: nn.Module, value: float) -> None:
    for _, layer in bitlinear_layers(model):
        layer.quant_lambda = float(value)

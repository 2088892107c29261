"""Swap a Hugging Face model's linear projections for BitLinear."""
from __future__ import annotations

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from .bitlinear import BitLinear, weight_scale

# Which projections are ternarized, per model_type (others: every nn.Linear / Conv1D).
TARGETS = {
    "gpt2": {"c_attn", "c_proj", "c_fc"},
    "llama": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "bitnet": {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
    "mamba": {"in_proj", "out_proj"},
    "mamba2": {"in_proj", "out_proj"},
}


def _replacement(module: nn.Module, rms_norm: bool, rms_norm_eps: float) -> BitLinear:
    conv = isinstance(module, Conv1D)
    # Conv1D stores (in, out); the BitLinear keeps whichever layout the module had.
    in_features, out_features = module.weight.shape if conv else module.weight.shape[::-1]
    layer = BitLinear(in_features, out_features, bias=module.bias is not None, rms_norm=rms_norm, rms_norm_eps=rms_norm_eps,
                      from_conv1d=conv, device=module.weight.device, dtype=module.weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(module.weight)
        if module.bias is not None:
            layer.bias.copy_(module.bias)
    return layer


def patch_model(model: nn.Module, *, keep: tuple[str, ...] = ("lm_head",), rms_norm: bool = False,
                rms_norm_eps: float = 1e-6, only: list[str] | None = None, verbose: bool = False) -> list[str]:
    """Replace the model's linear projections by BitLinear in place; return the replaced names.

    Embeddings, norms, convolutions and the modules named in `keep` (by full name or last
    component) stay float; for a known model_type only its projections (TARGETS) are replaced,
    otherwise every nn.Linear / Conv1D. `only` replaces exactly those full names (what a saved
    model recorded). Mamba models must run their slow (pure PyTorch) path, which calls the
    projections as modules. The model's config records the patch as its `quantization_config`
    (see hf_quantizer), so `save_pretrained` → `from_pretrained` gives the patched model back.
    `verbose` prints what was replaced and what stayed float, and why.
    """
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    targets = TARGETS.get(model_type)
    replaced, kept = [], []
    for name, module in list(model.named_modules()):
        if not isinstance(module, (nn.Linear, Conv1D)) or isinstance(module, BitLinear):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if only is not None:
            reason = None if name in only else "not recorded as patched"
        elif name in keep or leaf in keep:
            reason = "kept float (keep=)"
        elif targets is not None and leaf not in targets:
            reason = f"not a {model_type} projection"
        else:
            reason = None
        if reason:
            kept.append((name, reason))
            continue
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, leaf, _replacement(module, rms_norm, rms_norm_eps))
        replaced.append(name)
    if only is not None and (missing := sorted(set(only) - set(replaced))):
        raise ValueError(f"patch_model: the recorded modules {missing[:5]} are not linear layers of this model")
    if verbose:
        print(f"patch_model: {len(replaced)} linear layers are BitLinear ({', '.join(sorted({n.rsplit('.', 1)[-1] for n in replaced}))})")
        for name, reason in kept:
            print(f"  float: {name} ({reason})")
        print("  float: embeddings, norms and convolutions (not linear layers)")
    if hasattr(model, "config"):
        from .hf_quantizer import TernaryQATConfig

        model.config.quantization_config = TernaryQATConfig(modules_to_convert=replaced, use_rms_norm=rms_norm, rms_norm_eps=rms_norm_eps)
    return replaced


def bitlinear_layers(model: nn.Module) -> list[tuple[str, BitLinear]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, BitLinear)]


def set_quant_lambda(model: nn.Module, value: float) -> None:
    for _, layer in bitlinear_layers(model):
        layer.quant_lambda = float(value)


@torch.no_grad()
def zero_ratios(model: nn.Module) -> dict[str, float]:
    """Per BitLinear: the fraction of its ternary weights that are 0 (|W| < β/2). A layer drifting
    towards 1 is collapsing (the known QAT failure); absmean ternarization of a Gaussian gives ≈ 0.31."""
    out = {}
    for name, layer in bitlinear_layers(model):
        w = layer.weight
        if hasattr(w, "full_tensor"):  # an FSDP shard (DTensor): every process must call this
            w = w.full_tensor()
        w = w.float()
        out[name] = (w.abs() / weight_scale(w)).round().eq(0).float().mean().item()
    return out

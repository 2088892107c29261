"""A patched model in transformers' own save/load: `patch_model` records a `quantization_config`
(BitNet's keys, `quant_method: ternary_qat`), and this module registers that method with
transformers, so `from_pretrained` of a saved patched model (or of a `Trainer` checkpoint-N/)
patches the same modules before the weights load and gives the same logits.

Importing `ternary_qat` registers it. transformers' own `bitnet` method does not fit here: its
online layers replace only `nn.Linear` (GPT-2's projections are `Conv1D`) and round the weight
scale differently from the engine (w · (1/β) rather than w / β).
"""
from __future__ import annotations

from transformers.quantizers import HfQuantizer
from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING
from transformers.utils.quantization_config import QuantizationConfigMixin

METHOD = "ternary_qat"


class TernaryQATConfig(QuantizationConfigMixin):
    """Which modules are BitLinear (`modules_to_convert`, full names) and whether each normalizes
    its input (`use_rms_norm`, `rms_norm_eps`), with BitNet's `linear_class`/`quantization_mode`
    names: latent float weights, quantized on the fly ("online")."""

    def __init__(self, modules_to_convert: list[str] | None = None, use_rms_norm: bool = False, rms_norm_eps: float = 1e-6,
                 linear_class: str = "bitlinear", quantization_mode: str = "online", **kwargs):
        self.quant_method = METHOD
        self.modules_to_convert = list(modules_to_convert or [])
        self.use_rms_norm = bool(use_rms_norm)
        self.rms_norm_eps = float(rms_norm_eps)
        self.linear_class = linear_class
        self.quantization_mode = quantization_mode
        if linear_class != "bitlinear" or quantization_mode != "online":
            raise ValueError(f"{METHOD}: only linear_class 'bitlinear' with quantization_mode 'online' exists, "
                             f"got {linear_class!r}/{quantization_mode!r}")


class TernaryQATQuantizer(HfQuantizer):
    """Patches the recorded modules before the weights load; the latent weights then load as they are."""

    requires_calibration = False

    def _process_model_before_weight_loading(self, model, **kwargs):
        from .patch import patch_model

        c = self.quantization_config
        patch_model(model, only=c.modules_to_convert, rms_norm=c.use_rms_norm, rms_norm_eps=c.rms_norm_eps)
        return model

    def is_serializable(self):
        return True

    @property
    def is_trainable(self) -> bool:
        return True

    @property
    def is_qat_trainable(self) -> bool:
        return True


def register() -> None:
    """Idempotent (transformers refuses a second registration of a name)."""
    AUTO_QUANTIZATION_CONFIG_MAPPING.setdefault(METHOD, TernaryQATConfig)
    AUTO_QUANTIZER_MAPPING.setdefault(METHOD, TernaryQATQuantizer)


register()

"""Quantization-aware training of ternary (BitNet b1.58) models and export for the Ternary engine."""
from .bitlinear import BitLinear, RMSNorm, int8_activations, ternary_weight, weight_scale
from . import hf_quantizer  # registers quant_method ternary_qat with transformers
from .export import export_hf, export_hf_bitnet, export_packed
from .patch import bitlinear_layers, patch_model, set_quant_lambda, zero_ratios

__all__ = ["BitLinear", "RMSNorm", "int8_activations", "ternary_weight", "weight_scale", "export_hf", "export_hf_bitnet", "export_packed",
           "patch_model", "bitlinear_layers", "set_quant_lambda", "zero_ratios"]

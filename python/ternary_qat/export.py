"""Export a patched model: an HF-style directory for `ternary pack`, or the packed file itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from . import semantics as S
from .bitlinear import BitLinear
from .manifest import ARCHITECTURES, PREFIXES, manifest, packed_config
from .packed_format import PackedBuilder
from .tokenizer_files import copy_tokenizer, vocab_and_merges


def _flags(model) -> tuple[bool, float]:
    norms = [m.norm for m in model.modules() if isinstance(m, BitLinear)]
    rms = any(n is not None for n in norms)
    eps = next((n.eps for n in norms if n is not None), 1e-6)
    return rms, eps


def latent_state_dict(model) -> dict[str, torch.Tensor]:
    """The float32 latent weights in the original HF layout (a BitLinear keeps its module's), without
    tied duplicates."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and getattr(model.config, "tie_word_embeddings", True):
            continue
        state[name] = tensor.detach().float().cpu().contiguous().clone()
    return state


def write_model_card(out: Path, model, form: str, training: dict | None = None) -> None:
    """README.md (a Hugging Face model card: what the directory holds, how to run it, how it was
    made) and generation_config.json."""
    config = model.config
    patched = [n for n, m in model.named_modules() if isinstance(m, BitLinear)]
    lines = ["---", "library_name: transformers", "tags: [ternary, bitnet-b1.58, quantization-aware-training, ternary-engine]", "---",
             f"# Ternary {config.model_type} ({len(patched)} ternary linear layers)", "",
             f"{form} Weights {{-1, 0, +1}} with one absmean scale per matrix and int8 per-token activations "
             "(BitNet b1.58), made by quantization-aware training with `ternary_qat`. Embeddings, head, norms"
             f"{' and convolutions' if config.model_type.startswith('mamba') else ''} are float.", "",
             "Run it on a CPU with the Ternary engine:", "", "```", "ternary pack . -o model.safetensors",
             "ternary generate -m model.safetensors \"Once upon a time\"", "```", ""]
    if training:
        lines += ["## Training", "", "| setting | value |", "| --- | --- |"]
        lines += [f"| {k} | {v} |" for k, v in training.items() if v is not None and v is not False]
        lines.append("")
    (out / "README.md").write_text("\n".join(lines))
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        generation.save_pretrained(out)


def export_hf(model, out_dir: str | Path, tokenizer_dir: str | Path | None = None, training: dict | None = None) -> Path:
    """Writes config.json (with the `ternary_qat` flags), model.safetensors (latent FP32 weights),
    the tokenizer files, and a model card with the `training` settings: what `ternary pack` reads."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rms, eps = _flags(model)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the patch's own record: the packer reads `ternary_qat`
    config["ternary_qat"] = {"rms_norm": rms, "rms_norm_eps": eps}
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(latent_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    if tokenizer_dir is not None:
        copy_tokenizer(tokenizer_dir, out)
    write_model_card(out, model, "Latent float32 weights, ternarized when packed.", training)
    return out


BITNET_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def export_hf_bitnet(model, out_dir: str | Path, tokenizer_dir: str | Path | None = None, training: dict | None = None) -> Path:
    """Hugging Face BitNet's packed deployment form, which transformers' `BitNetForCausalLM`
    (AutoBitLinear, offline mode) loads with `from_pretrained`: each linear of the attention and
    FFN ternarized by absmean and stored as uint8 (out/4, in), four values per byte along the
    output dimension, with a `weight_scale` (β) that multiplies; `quantization_config` says so.
    A BitLinear pre-norm becomes AutoBitLinear's `rms_norm` (use_rms_norm)."""
    from .reference_llama import pack_bitnet

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rms, eps = _flags(model)
    state = {}
    for name, tensor in latent_state_dict(model).items():
        base, _, leaf = name.rpartition(".")
        owner = base.rsplit(".", 1)[-1]
        if leaf == "weight" and owner in BITNET_LINEARS:
            q, beta = S.ternarize(tensor.numpy())
            state[name] = torch.from_numpy(pack_bitnet(q))
            state[base + ".weight_scale"] = torch.tensor([float(beta)], dtype=torch.float32)
        elif name.endswith(".norm.weight") and base.rsplit(".", 1)[0].rsplit(".", 1)[-1] in BITNET_LINEARS:
            state[base.rsplit(".", 1)[0] + ".rms_norm.weight"] = tensor
        else:
            state[name] = tensor
    config = model.config.to_dict()
    config["quantization_config"] = {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "offline",
                                     "use_rms_norm": rms, "rms_norm_eps": eps}
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    if tokenizer_dir is not None:
        copy_tokenizer(tokenizer_dir, out)
    write_model_card(out, model, "Hugging Face BitNet's packed form (transformers' `BitNetForCausalLM` loads it; four ternary "
                                 "values per byte, `weight_scale` multiplies).", training)
    return out


def gpt2_config_metadata(config) -> dict:
    """The `config` metadata of a packed GPT-2 (the same keys and values the Swift packer writes)."""
    return packed_config("gpt2", config.to_dict())


def export_packed(model, path: str | Path, *, embeddings: str = "f16", weights: str = "ternary",
                  tokenizer_dir: str | Path | None = None) -> Path:
    """Writes the packed file directly, from the architecture's manifest (ternary_qat.manifest);
    byte-identical to `ternary pack` of export_hf(model). GPT-2, Llama and BitNet models."""
    model_type = model.config.model_type
    if model_type not in ARCHITECTURES:
        raise NotImplementedError(f"export_packed supports {', '.join(ARCHITECTURES)}, not {model_type}")
    rms, eps = _flags(model)
    state = {k: v.numpy() for k, v in latent_state_dict(model).items()}
    config = packed_config(model_type, model.config.to_dict())

    def source(name: str) -> np.ndarray:
        for prefix in PREFIXES[model_type]:
            if prefix + name in state:
                return state[prefix + name]
        raise KeyError(f"{name} is not in the model's state dict")

    tokenizer = vocab_and_merges(tokenizer_dir) if tokenizer_dir is not None else None
    b = PackedBuilder(ARCHITECTURES[model_type], config, embeddings, rms, eps, tokenizer, weights=weights)
    for spec in manifest(model_type, config, rms):
        if spec.kind in ("linear", "embedding"):
            w = source(spec.source)
            w = np.ascontiguousarray(w.T) if spec.transposed else w
            b.add_matrix(spec.name, w, weights if spec.kind == "linear" else embeddings)
        elif spec.kind == "vector":
            b.add(spec.name, source(spec.source).astype(np.float32))
        else:
            b.add_float_table(spec.name, source(spec.source))
    b.write(path)
    return Path(path)


def load_exported(directory: str | Path):
    """An export_hf directory back as a patched model (BitLinear layers, norms, flags)."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from .patch import patch_model

    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    flags = config.get("ternary_qat", {})
    model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32, attn_implementation="eager")
    patch_model(model, rms_norm=flags.get("rms_norm", False), rms_norm_eps=flags.get("rms_norm_eps", 1e-6))
    state = load_file(str(directory / "model.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise ValueError(f"{directory}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model.eval()

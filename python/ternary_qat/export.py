"""Export a patched model: an HF-style directory for `ternary pack`, or the packed file itself."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from .bitlinear import BitLinear
from .packed_format import PackedBuilder
from .tokenizer_files import copy_tokenizer, vocab_and_merges


def _flags(model) -> tuple[bool, float]:
    norms = [m.norm for m in model.modules() if isinstance(m, BitLinear)]
    rms = any(n is not None for n in norms)
    eps = next((n.eps for n in norms if n is not None), 1e-6)
    return rms, eps


def latent_state_dict(model) -> dict[str, torch.Tensor]:
    """The float32 latent weights in the original HF layout (Conv1D weights back to (in, out)),
    without tied duplicates."""
    state = {}
    conv = {name for name, m in model.named_modules() if isinstance(m, BitLinear) and m.from_conv1d}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and getattr(model.config, "tie_word_embeddings", True):
            continue
        t = tensor.detach().float().cpu()
        if name.endswith(".weight") and name[: -len(".weight")] in conv:
            t = t.t()
        state[name] = t.contiguous().clone()
    return state


def export_hf(model, out_dir: str | Path, tokenizer_dir: str | Path | None = None) -> Path:
    """Writes config.json (with the `ternary_qat` flags), model.safetensors (latent FP32 weights)
    and the tokenizer files: what `ternary pack` reads."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rms, eps = _flags(model)
    config = model.config.to_dict()
    config["ternary_qat"] = {"rms_norm": rms, "rms_norm_eps": eps}
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(latent_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
    if tokenizer_dir is not None:
        copy_tokenizer(tokenizer_dir, out)
    return out


def gpt2_config_metadata(config) -> dict:
    """The `config` metadata of a packed GPT-2 (the same keys and values the Swift packer writes)."""
    d = config.n_embd
    return {"activation_function": config.activation_function, "layer_norm_epsilon": float(config.layer_norm_epsilon),
            "n_embd": d, "n_head": config.n_head, "n_inner": config.n_inner or 4 * d, "n_layer": config.n_layer,
            "n_positions": config.n_positions, "vocab_size": config.vocab_size}


def export_packed(model, path: str | Path, *, embeddings: str = "f16", tokenizer_dir: str | Path | None = None) -> Path:
    """Writes the packed ternary file directly; byte-identical to `ternary pack` of export_hf(model)."""
    if model.config.model_type != "gpt2":
        raise NotImplementedError(f"export_packed supports gpt2, not {model.config.model_type}")
    rms, eps = _flags(model)
    state = {k: v.numpy() for k, v in latent_state_dict(model).items()}
    pre = "transformer." if "transformer.wte.weight" in state else ""
    c = model.config
    tokenizer = vocab_and_merges(tokenizer_dir) if tokenizer_dir is not None else None
    b = PackedBuilder("gpt2", gpt2_config_metadata(c), embeddings, rms, eps, tokenizer)
    b.add_embedding("wte", state[pre + "wte.weight"])
    b.add_float_table("wpe.weight", state[pre + "wpe.weight"])
    for i in range(c.n_layer):
        p = f"h.{i}"
        for norm in ("ln_1", "ln_2"):
            b.add(f"{p}.{norm}.weight", state[f"{pre}{p}.{norm}.weight"])
            b.add(f"{p}.{norm}.bias", state[f"{pre}{p}.{norm}.bias"])
        for name in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            w = np.ascontiguousarray(state[f"{pre}{p}.{name}.weight"].T)  # (out, in)
            norm = state[f"{pre}{p}.{name}.norm.weight"] if rms else None
            b.add_bitlinear(f"{p}.{name}", w, state[f"{pre}{p}.{name}.bias"], norm)
    b.add("ln_f.weight", state[pre + "ln_f.weight"])
    b.add("ln_f.bias", state[pre + "ln_f.bias"])
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
    conv = {name for name, m in model.named_modules() if isinstance(m, BitLinear) and m.from_conv1d}
    for name in list(state):
        if name.endswith(".weight") and name[: -len(".weight")] in conv:
            state[name] = state[name].t().contiguous()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]
    if missing or unexpected:
        raise ValueError(f"{directory}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    return model.eval()

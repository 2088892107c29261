"""The tensor manifests of the packed format, per architecture: the Python twin of the Swift
manifests (Sources/TernaryModels/GPT2.swift, Llama.swift, BitNet.swift, Mamba2.swift). `export_packed` writes from
these; the tests check that its files are byte-identical to `ternary pack`'s, which proves the two
manifests (names, shapes, kinds, order-independent contents) agree.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    name: str           # matrices: the prefix of <name>.weight and its scales; others: the tensor name
    kind: str           # "linear" | "embedding" | "vector" | "table"
    shape: tuple        # (rows, k) for matrices; the tensor shape otherwise
    source: str         # the Hugging Face tensor name, without the model prefix
    transposed: bool = False  # the checkpoint stores (k, rows) (GPT-2's Conv1D)


ARCHITECTURES = {"gpt2": "gpt2", "llama": "llama", "bitnet": "bitnet"}
PREFIXES = {"gpt2": ("transformer.", ""), "llama": ("model.", ""), "bitnet": ("model.", "")}


def packed_config(model_type: str, hf: dict) -> dict:
    """The `config` metadata a packed file stores for a Hugging Face config.json (as Swift's
    GPT2Config.json / LlamaConfig.json: the engine's keys with its defaults filled in)."""
    if model_type == "gpt2":
        d = hf["n_embd"]
        return {"activation_function": hf.get("activation_function", "gelu_new"),
                "layer_norm_epsilon": float(hf.get("layer_norm_epsilon", 1e-5)), "n_embd": d, "n_head": hf["n_head"],
                "n_inner": hf.get("n_inner") or 4 * d, "n_layer": hf["n_layer"], "n_positions": hf["n_positions"],
                "vocab_size": hf["vocab_size"]}
    if model_type in ("llama", "bitnet"):
        heads = hf["num_attention_heads"]
        params = hf.get("rope_parameters") or {}
        scaling = hf.get("rope_scaling")
        if scaling is None and (params.get("rope_type") or params.get("type") or "default") != "default":
            scaling = params
        config = {
            "attention_bias": bool(hf.get("attention_bias", False)),
            "head_dim": hf.get("head_dim") or hf["hidden_size"] // heads,
            "hidden_act": hf.get("hidden_act", "relu2" if model_type == "bitnet" else "silu"),
            "hidden_size": hf["hidden_size"], "intermediate_size": hf["intermediate_size"],
            "max_position_embeddings": hf.get("max_position_embeddings", 2048), "mlp_bias": bool(hf.get("mlp_bias", False)),
            "num_attention_heads": heads, "num_hidden_layers": hf["num_hidden_layers"],
            "num_key_value_heads": hf.get("num_key_value_heads") or heads,
            "partial_rotary_factor": float(hf.get("partial_rotary_factor", params.get("partial_rotary_factor", 1.0))),
            "rms_norm_eps": float(hf.get("rms_norm_eps", 1e-6)), "rope_style": hf.get("rope_style", "neox"),
            "rope_theta": float(hf.get("rope_theta", params.get("rope_theta", 10000.0))),
            "tie_word_embeddings": bool(hf.get("tie_word_embeddings", False)), "vocab_size": hf["vocab_size"],
        }
        if scaling and (scaling.get("rope_type") or scaling.get("type")) != "default":
            config["rope_scaling"] = scaling
        return config
    raise ValueError(f"no manifest for model_type {model_type!r}")


def manifest(model_type: str, config: dict, rms_norm: bool = False) -> list[TensorSpec]:
    """The tensors of a packed file for a packed config (see `packed_config`)."""
    specs: list[TensorSpec] = []
    if model_type == "gpt2":
        d, inner = config["n_embd"], config["n_inner"]
        specs += [TensorSpec("wte", "embedding", (config["vocab_size"], d), "wte.weight"),
                  TensorSpec("wpe.weight", "table", (config["n_positions"], d), "wpe.weight")]
        for i in range(config["n_layer"]):
            p = f"h.{i}"
            for norm in ("ln_1", "ln_2"):
                specs += [TensorSpec(f"{p}.{norm}.weight", "vector", (d,), f"{p}.{norm}.weight"),
                          TensorSpec(f"{p}.{norm}.bias", "vector", (d,), f"{p}.{norm}.bias")]
            for name, rows, k in (("attn.c_attn", 3 * d, d), ("attn.c_proj", d, d), ("mlp.c_fc", inner, d), ("mlp.c_proj", d, inner)):
                specs.append(TensorSpec(f"{p}.{name}", "linear", (rows, k), f"{p}.{name}.weight", transposed=True))
                specs.append(TensorSpec(f"{p}.{name}.bias", "vector", (rows,), f"{p}.{name}.bias"))
                if rms_norm:
                    specs.append(TensorSpec(f"{p}.{name}.norm.weight", "vector", (k,), f"{p}.{name}.norm.weight"))
        specs += [TensorSpec("ln_f.weight", "vector", (d,), "ln_f.weight"), TensorSpec("ln_f.bias", "vector", (d,), "ln_f.bias")]
        return specs
    if model_type == "mamba2":
        return _mamba2_manifest(config, rms_norm)
    if model_type not in ("llama", "bitnet"):
        raise ValueError(f"no manifest for model_type {model_type!r}")
    sub_norms = model_type == "bitnet"
    d, ffn, vocab = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    q, kv = config["num_attention_heads"] * config["head_dim"], config["num_key_value_heads"] * config["head_dim"]
    specs.append(TensorSpec("embed_tokens", "embedding", (vocab, d), "embed_tokens.weight"))

    def linear(name, rows, k, bias):
        specs.append(TensorSpec(name, "linear", (rows, k), f"{name}.weight"))
        if bias:
            specs.append(TensorSpec(f"{name}.bias", "vector", (rows,), f"{name}.bias"))
        if rms_norm:
            specs.append(TensorSpec(f"{name}.norm.weight", "vector", (k,), f"{name}.norm.weight"))

    for i in range(config["num_hidden_layers"]):
        p = f"layers.{i}"
        specs.append(TensorSpec(f"{p}.input_layernorm.weight", "vector", (d,), f"{p}.input_layernorm.weight"))
        for name, rows in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
            linear(f"{p}.self_attn.{name}", rows, d, config["attention_bias"])
        if sub_norms:
            specs.append(TensorSpec(f"{p}.self_attn.attn_sub_norm.weight", "vector", (q,), f"{p}.self_attn.attn_sub_norm.weight"))
        linear(f"{p}.self_attn.o_proj", d, q, config["attention_bias"])
        specs.append(TensorSpec(f"{p}.post_attention_layernorm.weight", "vector", (d,), f"{p}.post_attention_layernorm.weight"))
        linear(f"{p}.mlp.gate_proj", ffn, d, config["mlp_bias"])
        linear(f"{p}.mlp.up_proj", ffn, d, config["mlp_bias"])
        if sub_norms:
            specs.append(TensorSpec(f"{p}.mlp.ffn_sub_norm.weight", "vector", (ffn,), f"{p}.mlp.ffn_sub_norm.weight"))
        linear(f"{p}.mlp.down_proj", d, ffn, config["mlp_bias"])
    specs.append(TensorSpec("norm.weight", "vector", (d,), "norm.weight"))
    if not config["tie_word_embeddings"]:
        specs.append(TensorSpec("lm_head", "embedding", (vocab, d), "lm_head.weight"))
    return specs


def _mamba2_manifest(config: dict, rms_norm: bool) -> list[TensorSpec]:
    """docs/FORMAT.md, `mamba2`: Mamba2ForCausalLM's tensors, or BitMamba-2's block when `bitmamba`."""
    d, vocab, heads = config["hidden_size"], config["vocab_size"], config["num_heads"]
    bitmamba = config["bitmamba"]
    inner = config["expand"] * d
    xbc = inner + 2 * config["n_groups"] * config["state_size"]
    conv = inner if bitmamba else xbc
    specs = [TensorSpec("embeddings", "embedding", (vocab, d), "embeddings.weight")]

    def linear(name, rows, k):
        specs.append(TensorSpec(name, "linear", (rows, k), f"{name}.weight"))
        if config["use_bias"]:
            specs.append(TensorSpec(f"{name}.bias", "vector", (rows,), f"{name}.bias"))
        if rms_norm or bitmamba:  # BitMamba-2's projections always normalize their inputs
            specs.append(TensorSpec(f"{name}.norm.weight", "vector", (k,), f"{name}.norm.weight"))

    for i in range(config["num_hidden_layers"]):
        p = f"layers.{i}"
        if not bitmamba:
            specs.append(TensorSpec(f"{p}.norm.weight", "vector", (d,), f"{p}.norm.weight"))
        linear(f"{p}.mixer.in_proj", inner + xbc + heads, d)
        specs.append(TensorSpec(f"{p}.mixer.conv1d.weight", "table", (conv, config["conv_kernel"]), f"{p}.mixer.conv1d.weight"))
        if config["use_conv_bias"]:
            specs.append(TensorSpec(f"{p}.mixer.conv1d.bias", "vector", (conv,), f"{p}.mixer.conv1d.bias"))
        for name in ("dt_bias", "A_log"):
            specs.append(TensorSpec(f"{p}.mixer.{name}", "vector", (heads,), f"{p}.mixer.{name}"))
        specs.append(TensorSpec(f"{p}.mixer.D", "vector", (inner if bitmamba else heads,), f"{p}.mixer.D"))
        if not bitmamba:
            specs.append(TensorSpec(f"{p}.mixer.norm.weight", "vector", (inner,), f"{p}.mixer.norm.weight"))
        linear(f"{p}.mixer.out_proj", d, inner)
    specs.append(TensorSpec("norm_f.weight", "vector", (d,), "norm_f.weight"))
    if bitmamba:
        specs.append(TensorSpec("lm_head", "linear", (vocab, d), "lm_head.weight"))
        specs.append(TensorSpec("lm_head.norm.weight", "vector", (d,), "lm_head.norm.weight"))
    elif not config["tie_word_embeddings"]:
        specs.append(TensorSpec("lm_head", "embedding", (vocab, d), "lm_head.weight"))
    return specs

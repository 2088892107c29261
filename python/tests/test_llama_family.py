"""Llama and BitNet: the independent reference against transformers' own modules, and the Python
exporter against `ternary pack`, byte for byte (which proves the two manifests agree)."""
import json
import subprocess

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import tiny_llama_family
from ternary_qat import export_hf, export_hf_bitnet, export_packed
from ternary_qat import reference_llama as R


def _ids(n=24, seed=0):
    return np.random.default_rng(seed).integers(0, 300, size=n).tolist()


def test_bitnet_deployment_export_loads_in_transformers_and_matches_the_reference(tmp_path):
    from transformers import BitNetForCausalLM
    from transformers.integrations.bitnet import AutoBitLinear

    model = tiny_llama_family("bitnet", heads=6, kv_heads=2, hidden_size=96, intermediate_size=160, tie_word_embeddings=True)
    export_hf_bitnet(model, tmp_path / "bn")
    loaded = BitNetForCausalLM.from_pretrained(tmp_path / "bn", dtype=torch.float32).eval()
    assert isinstance(loaded.model.layers[0].self_attn.q_proj, AutoBitLinear)
    config = json.loads((tmp_path / "bn" / "config.json").read_text())
    assert config["quantization_config"]["linear_class"] == "autobitlinear"
    ids = _ids()
    with torch.no_grad():
        want = loaded(torch.tensor([ids])).logits[0].numpy()
        patched = model(torch.tensor([ids])).logits[0].numpy()
    got = R.forward(R.quantize_state(load_file(str(tmp_path / "bn" / "model.safetensors")), config, bitnet=True, embeddings="f32"), ids)
    scale = max(1.0, np.abs(want).max())
    assert np.abs(got - want).max() < 1e-4 * scale
    assert np.abs(patched - want).max() < 1e-4 * scale, "the deployment form computes what the patched model computes"


@pytest.mark.parametrize("rms_norm", [False, True])
def test_reference_matches_the_patched_llama(tmp_path, rms_norm):
    model = tiny_llama_family("llama", rms_norm=rms_norm)
    export_hf(model, tmp_path / "hf")
    ids = _ids(seed=1)
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].numpy()
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    got = R.forward(R.quantize_state(load_file(str(tmp_path / "hf" / "model.safetensors")), config, bitnet=False,
                                     embeddings="f32", rms_norm=rms_norm), ids)
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())


def _pack(ternary_bin, directory, out, *args):
    subprocess.run([ternary_bin, "pack", str(directory), "-o", str(out), *args], check=True, capture_output=True)
    return out.read_bytes()


def _same(a: bytes, b: bytes):
    assert len(a) == len(b)
    assert a == b, f"first difference at byte {next(i for i in range(len(a)) if a[i] != b[i])}"


@pytest.mark.parametrize("model_type,rms_norm,embeddings,weights", [
    ("llama", False, "f16", "ternary"), ("llama", True, "int8", "ternary"), ("llama", False, "bf16", "f16"),
    ("llama", True, "int8", "t1.6"),
    ("bitnet", False, "f16", "ternary"), ("bitnet", False, "f32", "int8"),
])
def test_export_packed_is_byte_identical_to_the_swift_packer(tmp_path, ternary_bin, tokenizer_dir, model_type, rms_norm, embeddings, weights):
    kw = {"heads": 6, "kv_heads": 2, "hidden_size": 96, "intermediate_size": 160, "tie_word_embeddings": True} if model_type == "bitnet" else {}
    model = tiny_llama_family(model_type, rms_norm=rms_norm, vocab_size=50257, **kw)  # the GPT-2 tokenizer's
    export_hf(model, tmp_path / "hf", tokenizer_dir)
    swift = _pack(ternary_bin, tmp_path / "hf", tmp_path / "swift.safetensors", "--embeddings", embeddings, "--weights", weights)
    python = export_packed(model, tmp_path / "python.safetensors", embeddings=embeddings, weights=weights, tokenizer_dir=tokenizer_dir)
    _same(swift, python.read_bytes())


@pytest.mark.parametrize("model_type,rms_norm", [("bitnet", False), ("llama", True)])
def test_the_hf_bitnet_deployment_form_packs_to_the_same_file_as_the_latent_weights(tmp_path, ternary_bin, model_type, rms_norm):
    kw = {"heads": 6, "kv_heads": 2, "hidden_size": 96, "intermediate_size": 160} if model_type == "bitnet" else {}
    model = tiny_llama_family(model_type, rms_norm=rms_norm, **kw)
    export_hf_bitnet(model, tmp_path / "deploy")
    export_hf(model, tmp_path / "latent")
    deployed = _pack(ternary_bin, tmp_path / "deploy", tmp_path / "a.safetensors", "--no-tokenizer")
    latent = _pack(ternary_bin, tmp_path / "latent", tmp_path / "b.safetensors", "--no-tokenizer")
    _same(deployed, latent)


def test_the_legacy_dividing_bitlinear_convention_is_refused_unless_asked(tmp_path, ternary_bin):
    model = tiny_llama_family("bitnet", heads=6, kv_heads=2, hidden_size=96, intermediate_size=160)
    export_hf_bitnet(model, tmp_path / "bn")
    config_path = tmp_path / "bn" / "config.json"
    config = json.loads(config_path.read_text())
    config["quantization_config"]["linear_class"] = "bitlinear"
    config_path.write_text(json.dumps(config))
    refused = subprocess.run([ternary_bin, "pack", str(tmp_path / "bn"), "-o", str(tmp_path / "x.safetensors"), "--no-tokenizer"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "--legacy-bitlinear" in refused.stderr and "divides" in refused.stderr
    assert not (tmp_path / "x.safetensors").exists()
    accepted = subprocess.run([ternary_bin, "pack", str(tmp_path / "bn"), "-o", str(tmp_path / "x.safetensors"), "--no-tokenizer",
                               "--legacy-bitlinear"], capture_output=True, text=True)
    assert accepted.returncode == 0, accepted.stderr


def test_a_sharded_bf16_checkpoint_packs_like_the_same_weights_in_one_file(tmp_path, ternary_bin):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(3)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=64)
    model = LlamaForCausalLM(config).to(torch.bfloat16)  # the bf16 master form: ternarized at pack time
    model.save_pretrained(tmp_path / "sharded", max_shard_size="100KB")
    model.save_pretrained(tmp_path / "single")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    a = _pack(ternary_bin, tmp_path / "sharded", tmp_path / "a.safetensors", "--no-tokenizer")
    b = _pack(ternary_bin, tmp_path / "single", tmp_path / "b.safetensors", "--no-tokenizer")
    _same(a, b)


@pytest.mark.parametrize("edit,fragment", [
    (lambda c: c.update(hidden_act="gelu_fast"), "'hidden_act': 'gelu_fast' is not one of"),
    (lambda c: c.update(rope_scaling={"rope_type": "yarn", "factor": 4.0}), "'rope_scaling.rope_type': 'yarn' is not supported"),
    (lambda c: c.update(quantization_config={"quant_method": "gptq"}), "quant_method 'gptq' is not supported"),
    (lambda c: c.update(num_key_value_heads=3), "must divide num_attention_heads"),
    (lambda c: c.update(num_hidden_layers=10**9), "'num_hidden_layers': 1000000000 is outside"),
    (lambda c: c.update(hidden_size=2**61), "'hidden_size': 2305843009213693952 is outside"),
])
def test_bad_configs_are_errors_naming_the_key(tmp_path, ternary_bin, edit, fragment):
    model = tiny_llama_family("llama")
    export_hf(model, tmp_path / "hf")
    path = tmp_path / "hf" / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))
    result = subprocess.run([ternary_bin, "pack", str(tmp_path / "hf"), "-o", str(tmp_path / "x.safetensors"), "--no-tokenizer"],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert fragment in result.stderr and "config.json" in result.stderr, result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_a_missing_or_misshaped_tensor_names_it_with_the_shapes(tmp_path, ternary_bin):
    from safetensors.torch import load_file, save_file

    model = tiny_llama_family("llama")
    export_hf(model, tmp_path / "hf")
    weights = tmp_path / "hf" / "model.safetensors"
    state = load_file(str(weights))
    state["model.layers.1.self_attn.k_proj.weight"] = state["model.layers.1.self_attn.k_proj.weight"][:8].contiguous()
    del state["model.layers.0.mlp.up_proj.weight"]
    save_file(state, str(weights))
    result = subprocess.run([ternary_bin, "pack", str(tmp_path / "hf"), "-o", str(tmp_path / "x.safetensors"), "--no-tokenizer"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "layers.0.mlp.up_proj.weight" in result.stderr or "layers.1.self_attn.k_proj.weight" in result.stderr, result.stderr

import torch
from transformers import LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM

from conftest import tie_free_ids, tiny_gpt2
from ternary_qat import BitLinear, bitlinear_layers, patch_model
from ternary_qat import semantics as S
from ternary_qat import reference


def test_gpt2_patch_replaces_four_conv1d_per_layer_and_keeps_head_and_embeddings():
    model = tiny_gpt2(n_layer=3, vocab_size=300)
    names = patch_model(model)
    assert len(names) == 4 * 3
    assert all(isinstance(model.get_submodule(n), BitLinear) for n in names)
    assert not isinstance(model.lm_head, BitLinear)
    assert isinstance(model.transformer.wte, torch.nn.Embedding)
    assert sorted({n.split(".", 3)[-1] for n in names}) == ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]


def test_llama_patch_replaces_seven_projections_per_layer():
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2)
    model = LlamaForCausalLM(config)
    names = patch_model(model)
    assert len(names) == 7 * 2
    assert not isinstance(model.lm_head, BitLinear)


def test_transformers_bitnet_patch_replaces_seven_projections_per_layer():
    from transformers import BitNetConfig, BitNetForCausalLM

    config = BitNetConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, bos_token_id=0, eos_token_id=1)
    model = BitNetForCausalLM(config)
    names = patch_model(model)
    assert len(names) == 7 * 2
    out = model(torch.randint(0, 100, (1, 6))).logits
    assert out.shape == (1, 6, 100) and torch.isfinite(out).all()


def test_mamba_patch_replaces_in_and_out_projections_and_runs_the_slow_path():
    config = MambaConfig(vocab_size=100, hidden_size=32, state_size=8, num_hidden_layers=2, expand=2)
    model = MambaForCausalLM(config)
    names = patch_model(model)
    assert len(names) == 2 * 2
    assert all(n.endswith(("in_proj", "out_proj")) for n in names)
    out = model(torch.randint(0, 100, (1, 5))).logits
    assert out.shape == (1, 5, 100) and torch.isfinite(out).all()


def test_patch_works_on_from_pretrained_models(tmp_path):
    tiny_gpt2(vocab_size=300).save_pretrained(tmp_path)
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(tmp_path)
    assert len(patch_model(model)) == 8


def test_patched_gpt2_eval_logits_equal_the_independent_reference():
    model = tiny_gpt2(n_embd=80, n_head=5, n_layer=2, vocab_size=300, initializer_range=0.1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    patch_model(model)
    weights = reference.quantize_gpt2_state(state, model.config.to_dict(), "f32")
    ids = tie_free_ids(lambda i: reference.forward(weights, i), vocab=300, length=40)
    with torch.no_grad():
        got = model(torch.tensor([ids])).logits[0].numpy()
    want = reference.forward(weights, ids)
    assert abs(got - want).max() < 1e-4 * max(1.0, abs(want).max())


def test_every_patched_layer_receives_a_nonzero_gradient():
    model = tiny_gpt2(vocab_size=300).train()
    names = patch_model(model)
    ids = torch.randint(0, 300, (2, 16))
    model(ids, labels=ids).loss.backward()
    for n in names:
        g = model.get_submodule(n).weight.grad
        assert g is not None and g.abs().sum() > 0, n


def _roundtrip(model, tmp_path, vocab):
    """save_pretrained → from_pretrained of a patched model: the same modules patched, the same logits."""
    from transformers import AutoModelForCausalLM

    with torch.no_grad():  # norms away from their all-ones init, so a lost norm would show
        for _, layer in bitlinear_layers(model):
            if layer.norm is not None:
                layer.norm.weight.uniform_(0.5, 1.5)
    model.eval()
    ids = torch.randint(0, vocab, (2, 12))
    with torch.no_grad():
        want = model(ids).logits
    model.save_pretrained(tmp_path)
    back = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert [n for n, _ in bitlinear_layers(back)] == [n for n, _ in bitlinear_layers(model)]
    with torch.no_grad():
        assert torch.equal(back(ids).logits, want)
    return back


def test_a_patched_gpt2_saved_by_hf_loads_back_patched_with_the_same_logits(tmp_path):

    model = tiny_gpt2(n_embd=96, n_head=4, vocab_size=300)  # square c_proj: a transposed load would not fail by shape
    patch_model(model, rms_norm=True)
    back = _roundtrip(model, tmp_path, 300)
    assert back.transformer.h[0].attn.c_proj.weight.shape == (96, 96) and back.transformer.h[0].attn.c_attn.weight.shape == (96, 288)
    assert back.config.quantization_config.use_rms_norm is True


def test_a_patched_llama_saved_by_hf_loads_back_patched_with_the_same_logits(tmp_path):
    config = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2)
    model = LlamaForCausalLM(config)
    patch_model(model)
    _roundtrip(model, tmp_path, 100)


def test_patch_model_says_what_it_replaced_and_what_stayed_float(capsys):
    model = tiny_gpt2(vocab_size=300)
    patch_model(model, verbose=True)
    out = capsys.readouterr().out
    assert "8 linear layers are BitLinear (c_attn, c_fc, c_proj)" in out
    assert "float: lm_head (kept float (keep=))" in out and "embeddings, norms" in out

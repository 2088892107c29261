import torch
from transformers import LlamaConfig, LlamaForCausalLM, MambaConfig, MambaForCausalLM

from conftest import tie_free_ids, tiny_gpt2
from ternary_qat import BitLinear, patch_model
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

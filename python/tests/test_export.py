import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tie_free_ids, tiny_gpt2
from ternary_qat import export_hf, export_packed, patch_model
from ternary_qat.evaluation import chunked_perplexity, hf_logits
from ternary_qat.export import load_exported
from ternary_qat.format_check import check_packed
from ternary_qat.numpy_ref import NumpyGPT2
from ternary_qat.tokenizer_files import load_tokenizer


def patched(seed=0, rms_norm=False, **kw):
    model = tiny_gpt2(seed=seed, initializer_range=0.1, **kw)
    patch_model(model, rms_norm=rms_norm)
    if rms_norm:  # non-trivial norm weights, so a lost norm would show
        torch.manual_seed(seed + 1)
        for m in model.modules():
            if getattr(m, "norm", None) is not None:
                m.norm.weight.data.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("rms_norm,weights", [(False, "ternary"), (True, "ternary"), (True, "t1.6")])
def test_export_then_numpy_reference_equals_the_patched_models_logits(tmp_path, rms_norm, weights):
    model = patched(rms_norm=rms_norm, vocab_size=300, n_embd=64)
    path = export_packed(model, tmp_path / "m.safetensors", embeddings="f32", weights=weights)
    engine = NumpyGPT2(str(path))
    ids = tie_free_ids(engine.forward, vocab=300, length=40)
    with torch.no_grad():
        want = model(torch.tensor([ids])).logits[0].numpy()
    got = engine.forward(ids)
    assert np.abs(got - want).max() < 1e-4 * max(1.0, np.abs(want).max())


def test_the_t16_layout_round_trips_and_puts_digit_i_of_byte_j_at_position_64i_plus_j():
    from ternary_qat import semantics as S

    rng = np.random.default_rng(0)
    for k in (1, 63, 319, 320, 321, 700):
        q = rng.integers(-1, 2, size=(3, k)).astype(np.int8)
        packed = S.pack_base3(q)
        assert packed.shape == (3, S.base3_padded_length(k) // 5) and packed.max() <= 242
        assert np.array_equal(S.unpack_base3(packed, k), q)
    q = np.zeros((1, 330), dtype=np.int8)
    q[0, 0], q[0, 64], q[0, 128], q[0, 192], q[0, 256] = 1, -1, 1, 1, -1
    assert S.pack_base3(q)[0, 0] == 2 + 0 * 3 + 2 * 9 + 2 * 27 + 0 * 81 and S.pack_base3(q)[0, 1] == 121  # 121: five zeros


def test_export_hf_round_trips_to_an_identical_patched_model(tmp_path):
    model = patched(rms_norm=True, vocab_size=300)
    export_hf(model, tmp_path / "hf")
    again = load_exported(tmp_path / "hf")
    a, b = model.state_dict(), again.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert [m.from_conv1d for m in again.modules() if hasattr(m, "from_conv1d")].count(True) == 8


@pytest.mark.parametrize("embeddings,rms_norm,weights", [(e, r, "ternary") for e in ("f16", "int8", "ternary") for r in (False, True)]
                         + [("int8", False, "t1.6"), ("t1.6", True, "t1.6"), ("q4", False, "ternary"), ("q6", True, "ternary")])
def test_export_packed_is_byte_identical_to_the_swift_packer(tmp_path, ternary_bin, tokenizer_dir, embeddings, rms_norm, weights):
    model = patched(rms_norm=rms_norm, n_embd=40, n_head=4)
    export_hf(model, tmp_path / "hf", tokenizer_dir)
    swift = tmp_path / "swift.safetensors"
    subprocess.run([ternary_bin, "pack", str(tmp_path / "hf"), "-o", str(swift), "--embeddings", embeddings, "--weights", weights],
                   check=True, capture_output=True)
    python = export_packed(model, tmp_path / "python.safetensors", embeddings=embeddings, weights=weights, tokenizer_dir=tokenizer_dir)
    a, b = swift.read_bytes(), python.read_bytes()
    assert len(a) == len(b)
    assert a == b, f"first difference at byte {next(i for i in range(len(a)) if a[i] != b[i])}"


def test_export_pack_and_swift_perplexity_agree_with_the_patched_model(tmp_path, ternary_bin, tokenizer_dir, shakespeare):
    model = patched(seed=7, rms_norm=True, n_embd=64, n_head=4)
    export_hf(model, tmp_path / "hf", tokenizer_dir)
    packed = tmp_path / "m.safetensors"
    subprocess.run([ternary_bin, "pack", str(tmp_path / "hf"), "-o", str(packed)], check=True, capture_output=True)
    text = tmp_path / "t.txt"
    text.write_text(shakespeare.read_text()[:4000])
    result = subprocess.run([ternary_bin, "perplexity", "-m", str(packed), "--file", str(text), "--ctx", "64",
                             "--max-tokens", "300", "--json"], check=True, capture_output=True, text=True)
    got = json.loads(result.stdout)
    ids = load_tokenizer(tokenizer_dir)(text.read_text(), add_special_tokens=False)["input_ids"][:300]
    want, scored = chunked_perplexity(hf_logits(model), ids, 64)
    assert got["tokens_scored"] == scored == 4 * 63
    assert abs(got["ppl"] - want) / want < 1e-3, (got, want)
    human = subprocess.run([ternary_bin, "perplexity", "-m", str(packed), "--file", str(text), "--ctx", "64",
                            "--max-tokens", "300"], check=True, capture_output=True, text=True)
    assert human.stdout.strip().splitlines()[-1].startswith("PPL = ")


@pytest.mark.parametrize("embeddings", ["q4", "q6"])
def test_grouped_heads_swift_perplexity_equals_the_numpy_reference(tmp_path, ternary_bin, tokenizer_dir, shakespeare, embeddings):
    """The engine's q4/q6 lookup and head against NumPy's reading of docs/FORMAT.md (exact group sums,
    float64 over groups): the same perplexity to float rounding; and the file passes format_check.
    The body's matrices are zero, so what is compared is the lookup and the head alone: in a random
    body, activation-quantization ties that float32 rounds either way move a perplexity of 6e4 by
    1e-3 (the int8 head's too), which would hide a small error in the head."""
    model = patched(seed=3, n_embd=64, n_head=4)
    with torch.no_grad():
        for name, m in model.named_modules():
            if name.startswith("transformer.h.") and hasattr(m, "from_conv1d"):
                m.weight.zero_()
    path = export_packed(model, tmp_path / "m.safetensors", embeddings=embeddings, tokenizer_dir=tokenizer_dir)
    check_packed(path)
    text = tmp_path / "t.txt"
    text.write_text(shakespeare.read_text()[:3000])
    got = json.loads(subprocess.run([ternary_bin, "perplexity", "-m", str(path), "--file", str(text), "--ctx", "64",
                                     "--max-tokens", "200", "--json"], check=True, capture_output=True, text=True).stdout)
    ids = load_tokenizer(tokenizer_dir)(text.read_text(), add_special_tokens=False)["input_ids"][:200]
    engine = NumpyGPT2(str(path))
    want, scored = chunked_perplexity(lambda chunk: torch.from_numpy(engine.forward(chunk)), ids, 64)
    assert got["tokens_scored"] == scored
    assert abs(got["ppl"] - want) / want < 1e-6, (got, want)
    # The dequantized lookup is the documented w = d · (q − offset), close to the model's own weights.
    wte = model.transformer.wte.weight.detach().numpy()
    assert np.abs(engine.wte - wte).max() <= np.abs(wte).max() / (7 if embeddings == "q4" else 31)


def test_pack_reads_sharded_bf16_checkpoints_and_tokenizer_json(tmp_path, ternary_bin, tokenizer_dir):
    """A sharded BF16 checkpoint with a tokenizer.json packs to the same file as the F32 single-file
    checkpoint of the same (bf16-rounded) weights with vocab.json + merges.txt."""
    from ternary_qat.tokenizer_files import load_tokenizer

    model = tiny_gpt2(seed=3, n_embd=64, n_head=4, initializer_range=0.1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    sharded, single = tmp_path / "sharded", tmp_path / "single"
    model.to(torch.bfloat16).save_pretrained(sharded, max_shard_size="2MB")
    assert (sharded / "model.safetensors.index.json").exists() and not (sharded / "model.safetensors").exists()
    load_tokenizer(tokenizer_dir).backend_tokenizer.save(str(sharded / "tokenizer.json"))
    model.float().save_pretrained(single)
    export_dir = tmp_path / "tok"
    export_dir.mkdir()
    from ternary_qat.tokenizer_files import copy_tokenizer

    copy_tokenizer(tokenizer_dir, single)
    for name, src in (("a", sharded), ("b", single)):
        subprocess.run([ternary_bin, "pack", str(src), "-o", str(tmp_path / f"{name}.safetensors")], check=True,
                       capture_output=True)
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()

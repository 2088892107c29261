"""GGUF interop: files written by the `gguf` package (llama.cpp's reader/writer) and laid out as
bitnet.cpp writes I2_S run in the engine exactly as the same model packed from its Hugging Face
checkpoint; every tensor type decodes as gguf-py decodes it."""

import json
import subprocess

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file

from gguf_fixtures import write_gpt2, write_llama_family


def run(ternary_bin, *args, check=True):
    result = subprocess.run([ternary_bin, *map(str, args)], capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def perplexity(ternary_bin, model, text):
    out = run(ternary_bin, "perplexity", "-m", model, "--file", text, "--ctx", "64", "--max-tokens", "192", "--json").stdout
    return json.loads(out)["ppl"]


@pytest.fixture(scope="module")
def text(tmp_path_factory, shakespeare):
    path = tmp_path_factory.mktemp("text") / "excerpt.txt"
    path.write_text(shakespeare.read_text()[:3000])
    return path


CASES = [
    # (architecture, ternary type, what writes such files)
    ("llama", "tq2_0"),         # llama-quantize --type TQ2_0
    ("gpt2", "tq2_0"),
    ("bitnet", "tq1_0"),        # llama.cpp's bitnet (1bitLLM), TQ1_0
    ("bitnet-b1.58", "i2_s"),   # bitnet.cpp's 2B4T converter
]


@pytest.mark.parametrize("arch,kind", CASES)
def test_a_ternary_gguf_runs_as_the_same_model_packed_from_its_hf_checkpoint(tmp_path, ternary_bin, text, arch, kind):
    if arch == "gpt2":
        hf, model = write_gpt2(tmp_path, kind)
        vocab = "../shared/data/gpt2/ggml-vocab-gpt-2.gguf"
    else:
        hf, model = write_llama_family(tmp_path, arch, kind)
        vocab = "../shared/data/llama2/ggml-vocab-llama-spm.gguf"
    from gguf_fixtures import SHARED

    vocab = SHARED / vocab.split("data/")[1]
    from_hf, from_gguf = tmp_path / "hf.safetensors", tmp_path / "gguf.safetensors"
    run(ternary_bin, "pack", hf, "-o", from_hf, "--tokenizer", vocab)
    run(ternary_bin, "pack", model, "-o", from_gguf)
    a, b = load_file(from_hf), load_file(from_gguf)
    assert a.keys() == b.keys()
    permuted = [n for n in a if arch == "llama" and (".q_proj." in n or ".k_proj." in n) and n.endswith(".weight")]
    for name in a:
        if name not in permuted:  # llama.cpp's query/key row order, run with interleaved RoPE instead
            assert np.array_equal(a[name], b[name]), name
    # `-m model.gguf` converts on load; the perplexity is the packed model's.
    want, got = perplexity(ternary_bin, from_hf, text), perplexity(ternary_bin, model, text)
    assert abs(got - want) <= 1e-3 * want, (got, want)
    if not permuted:
        assert got == want


@pytest.mark.parametrize("kind", ["f32", "f16", "bf16", "q8_0", "q4_0", "q6_k"])
def test_every_float_and_block_type_decodes_as_gguf_py_decodes_it(tmp_path, ternary_bin, kind):
    _, model = write_llama_family(tmp_path, "llama", "tq2_0", embedding_kind=kind, layers=1, vocab=512)
    packed = tmp_path / "f32.safetensors"
    run(ternary_bin, "pack", model, "-o", packed, "--embeddings", "f32", "--weights", "f32", "--no-tokenizer")
    ours = load_file(packed)
    reader = gguf.GGUFReader(model)
    names = {"token_embd.weight": "embed_tokens.weight", "output.weight": "lm_head.weight",
             "blk.0.attn_v.weight": "layers.0.self_attn.v_proj.weight", "blk.0.ffn_down.weight": "layers.0.mlp.down_proj.weight"}
    for tensor in reader.tensors:
        if tensor.name in names:
            want = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            assert np.array_equal(ours[names[tensor.name]], want.reshape(ours[names[tensor.name]].shape)), tensor.name


@pytest.mark.parametrize("kind", ["tq1_0", "i2_s"])
def test_ternary_codes_and_scales_survive_exactly(tmp_path, ternary_bin, kind):
    _, model = write_llama_family(tmp_path, "bitnet-b1.58" if kind == "i2_s" else "bitnet", kind, layers=1, vocab=512)
    packed = tmp_path / "f32.safetensors"
    run(ternary_bin, "pack", model, "-o", packed, "--weights", "f32", "--no-tokenizer")
    ours = load_file(packed)
    reference = tmp_path / "reference"
    write_llama_family(reference, "bitnet-b1.58" if kind == "i2_s" else "bitnet", "f32", layers=1, vocab=512)
    want = gguf.GGUFReader(reference / ("bitnet-b1.58" if kind == "i2_s" else "bitnet") / "model.gguf")
    for tensor in want.tensors:
        if tensor.name == "blk.0.ffn_up.weight":
            assert np.array_equal(ours["layers.0.mlp.up_proj.weight"], np.asarray(tensor.data).reshape(ours["layers.0.mlp.up_proj.weight"].shape))


def corrupt(path, offset, data):
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


def test_malformed_ggufs_are_errors_that_say_what_is_wrong(tmp_path, ternary_bin):
    _, model = write_llama_family(tmp_path, "llama", "tq2_0", layers=1, vocab=512)
    raw = model.read_bytes()
    cases = {}
    cases["truncated"] = (raw[: len(raw) - 1000], "truncated")
    huge = bytearray(raw)
    huge[8:16] = (1 << 63).to_bytes(8, "little")  # tensor count
    cases["count"] = (bytes(huge), "more than the")
    reader = gguf.GGUFReader(model)
    first = reader.tensors[0]
    # The type field follows the tensor's name and dimensions in the header.
    name = first.name.encode()
    at = raw.index(name) + len(name) + 4 + 8 * len(first.shape)
    unknown = bytearray(raw)
    unknown[at:at + 4] = (77).to_bytes(4, "little")
    cases["type"] = (bytes(unknown), "type 77 is not one this engine reads")
    misaligned = bytearray(raw)
    offset = int.from_bytes(raw[at + 4:at + 12], "little")
    misaligned[at + 4:at + 12] = (offset + 1).to_bytes(8, "little")
    cases["alignment"] = (bytes(misaligned), "not a multiple of the alignment")
    past = bytearray(raw)
    k = raw.index(b"general.architecture") - 8  # the key's length, a u64
    past[k:k + 8] = (len(raw)).to_bytes(8, "little")
    cases["string"] = (bytes(past), "only")
    dup = bytearray(raw)
    k = raw.index(b"llama.rope.freq_base")  # as long as llama.context_length, written before it
    dup[k:k + 20] = b"llama.context_length"
    cases["duplicate"] = (bytes(dup), "appears twice")
    for label, (data, fragment) in cases.items():
        bad = tmp_path / f"{label}.gguf"
        bad.write_bytes(data)
        result = run(ternary_bin, "pack", bad, "-o", tmp_path / f"{label}.safetensors", "--no-tokenizer", check=False)
        assert result.returncode != 0, label
        assert "Fatal error" not in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert str(bad) in result.stderr or bad.name in result.stderr, result.stderr
        if fragment:
            assert fragment in result.stderr, (label, result.stderr)
        assert not (tmp_path / f"{label}.safetensors").exists()


def test_per_block_scales_that_differ_are_refused_not_requantized(tmp_path, ternary_bin):
    _, model = write_llama_family(tmp_path, "llama", "tq2_0", layers=1, vocab=512)
    reader = gguf.GGUFReader(model)
    tensor = next(t for t in reader.tensors if t.name == "blk.0.ffn_up.weight")
    start = int(tensor.data_offset) + 64  # the first block's float16 scale
    raw = bytearray(model.read_bytes())
    raw[start:start + 2] = np.float16(0.5).tobytes()
    model.write_bytes(bytes(raw))
    result = run(ternary_bin, "pack", model, "-o", tmp_path / "x.safetensors", "--no-tokenizer", check=False)
    assert result.returncode != 0
    assert "blk.0.ffn_up.weight" in result.stderr and "different scales" in result.stderr, result.stderr


def test_inspect_lists_the_metadata_of_the_real_llama3_vocabulary(ternary_bin):
    from gguf_fixtures import SHARED

    out = run(ternary_bin, "inspect", SHARED / "llama3" / "ggml-vocab-llama-bpe.gguf").stdout
    assert "GGUF v3" in out and "tokenizer.ggml.pre" in out and '"llama-bpe"' in out and "128256 strings" in out

"""`ternary export --gguf`: the file reads back exactly with gguf-py, loads in llama.cpp (through
llama-cpp-python) and computes the same model there."""

import json
import math
import subprocess
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from gguf_fixtures import LLAMA_VOCAB, write_llama_family
from ternary_qat.numpy_ref import NumpyGPT2
from ternary_qat.semantics import dequantize_grouped, unpack_ternary

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "shakespeare-ternary.safetensors"


def run(ternary_bin, *args):
    result = subprocess.run([ternary_bin, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def shipped_gguf(tmp_path_factory, ternary_bin):
    out = tmp_path_factory.mktemp("export") / "shakespeare.gguf"
    run(ternary_bin, "export", "-m", SHIPPED, "--gguf", "tq2_0", "-o", out)
    return out


def test_the_exported_shipped_model_reads_back_exactly_with_gguf_py(shipped_gguf):
    packed = load_file(SHIPPED)
    tensors = {t.name: t for t in gguf.GGUFReader(shipped_gguf).tensors}
    decoded = {name: gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32) for name, t in tensors.items()}
    for layer in range(6):
        for ours, theirs in [("attn.c_attn", "attn_qkv"), ("attn.c_proj", "attn_output"), ("mlp.c_fc", "ffn_up"), ("mlp.c_proj", "ffn_down")]:
            words = packed[f"h.{layer}.{ours}.weight"]
            got = decoded[f"blk.{layer}.{theirs}.weight"]
            codes = unpack_ternary(words, got.shape[-1])
            scale = np.float32(np.float16(packed[f"h.{layer}.{ours}.weight_scale"][0]))
            assert np.array_equal(got, codes.astype(np.float32) * scale), theirs
            assert np.array_equal(decoded[f"blk.{layer}.{theirs}.bias"], packed[f"h.{layer}.{ours}.bias"])
        assert np.array_equal(decoded[f"blk.{layer}.attn_norm.weight"], packed[f"h.{layer}.ln_1.weight"])
    embeddings = packed["wte.weight"][:, :192].astype(np.float32) * packed["wte.scale"][:, None]
    assert np.array_equal(decoded["token_embd.weight"], embeddings.astype(np.float16).astype(np.float32))
    assert np.array_equal(decoded["position_embd.weight"], packed["wpe.weight"].astype(np.float32))
    # The ternary types llama.cpp has: TQ2_0 where rows are whole 256-weight blocks, else Q8_0.
    assert tensors["blk.0.ffn_down.weight"].tensor_type == gguf.GGMLQuantizationType.TQ2_0
    assert tensors["blk.0.ffn_up.weight"].tensor_type == gguf.GGMLQuantizationType.Q8_0


def test_the_exported_shipped_model_packs_back_to_the_same_ternary_matrices(shipped_gguf, ternary_bin, tmp_path):
    back = tmp_path / "back.safetensors"
    run(ternary_bin, "pack", shipped_gguf, "-o", back, "--embeddings", "int8")
    original, again = load_file(SHIPPED), load_file(back)
    assert original.keys() == again.keys()
    for name in original:
        if name.endswith(".weight_scale"):  # stored in GGUF blocks as float16
            assert again[name] == np.float32(np.float16(original[name][0])), name
        elif name.endswith(".weight") and original[name].dtype == np.uint32:
            # TQ2_0 blocks and the Q8_0 fallback (codes times a shared d) both keep the codes.
            assert np.array_equal(original[name], again[name]), name


def llama_argmax(model_path, ids, n_ctx=256):
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=2, logits_all=True, verbose=False)
    llm.eval(ids)
    return np.asarray(llm.scores[: len(ids)]), llm


def test_llama_cpp_runs_the_exported_shipped_model_and_agrees_with_the_engine(shipped_gguf, shakespeare, ternary_bin):
    text = shakespeare.read_text()[5000:6000]
    ids = json.loads(run(ternary_bin, "tokenize", "-m", SHIPPED, "--ids", "--no-bos", text))[:64]
    assert len(ids) == 64
    ours = NumpyGPT2(str(SHIPPED)).forward(ids)  # the engine's integer semantics (parity-tested)
    theirs, llm = llama_argmax(shipped_gguf, ids)
    agreement = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
    print(f"llama.cpp vs engine: next-token argmax agrees at {agreement:.3f} of 64 positions")
    assert agreement >= 0.9
    # And it generates text from a prompt, tokenized by llama.cpp from the exported vocabulary.
    prompt = llm.tokenize(b"ROMEO:", add_bos=False)
    assert prompt == json.loads(run(ternary_bin, "tokenize", "-m", SHIPPED, "--ids", "--no-bos", "ROMEO:"))
    llm.reset()
    out = []
    for token in llm.generate(prompt, temp=0.0, top_k=1):
        out.append(token)
        if len(out) == 16:
            break
    assert len(llm.detokenize(out).decode(errors="replace").strip()) > 10


@pytest.mark.parametrize("arch,kind", [("llama", "tq2_0"), ("bitnet", "tq1_0"), ("llama", "tq1_0")])
def test_an_exported_ternary_model_is_what_llama_cpps_own_tools_write_and_runs_there(tmp_path, ternary_bin, shakespeare, arch, kind):
    # The fixture is the GGUF llama.cpp's converter + llama-quantize would write for this model
    # (gguf-py's own TQ quantizer, query/key rows permuted); our export must hold the same blocks.
    hf, reference = write_llama_family(tmp_path, arch, kind, layers=1)
    packed, exported = tmp_path / "packed.safetensors", tmp_path / "exported.gguf"
    run(ternary_bin, "pack", hf, "-o", packed, "--tokenizer", LLAMA_VOCAB)
    run(ternary_bin, "export", "-m", packed, "--gguf", kind, "-o", exported)
    ours_tensors = {t.name: t for t in gguf.GGUFReader(exported).tensors}
    for t in gguf.GGUFReader(reference).tensors:
        mine = ours_tensors[t.name]
        assert mine.tensor_type == t.tensor_type, t.name
        assert np.array_equal(np.asarray(mine.data), np.asarray(t.data)), t.name
    # Our engine reads its own export back as the same model (scales are float16-exact here).
    text = sample_text(tmp_path, shakespeare)
    ours = engine_perplexity(ternary_bin, packed, text)
    assert engine_perplexity(ternary_bin, exported, text) == pytest.approx(ours, rel=1e-6)
    # llama.cpp runs it: the same perplexity as on the reference file, and near ours. A random
    # model is chaotic, so llama.cpp's activation quantization (per 256-value block, ours per
    # token) moves its perplexity by a few percent (the trained shipped model agrees on 98 % of
    # greedy tokens, above).
    ids = json.loads(run(ternary_bin, "tokenize", "-m", packed, "--ids", "--file", text))[:64]
    theirs = llama_cpp_perplexity(exported, ids)
    print(f"{arch} {kind}: perplexity engine {ours:.1f}, llama.cpp {theirs:.1f}")
    assert theirs == llama_cpp_perplexity(reference, ids)
    assert theirs == pytest.approx(ours, rel=0.1)


@pytest.mark.parametrize("embeddings,block_type", [("q4", gguf.GGMLQuantizationType.Q4_0), ("q6", gguf.GGMLQuantizationType.Q8_0)])
def test_a_grouped_head_exports_as_llama_cpps_block_type_and_llama_cpp_runs_it(tmp_path, ternary_bin, shakespeare, embeddings, block_type):
    # A tied 32000-row head (the 2B4T case: `--embeddings q4` is what the side-by-side benchmark runs).
    hf, _ = write_llama_family(tmp_path, "bitnet", "tq2_0", layers=1)
    packed, exported = tmp_path / "packed.safetensors", tmp_path / "exported.gguf"
    run(ternary_bin, "pack", hf, "-o", packed, "--tokenizer", LLAMA_VOCAB, "--embeddings", embeddings)
    run(ternary_bin, "export", "-m", packed, "--gguf", "tq2_0", "-o", exported)
    tensors = {t.name: t for t in gguf.GGUFReader(exported).tensors}
    assert "output.weight" not in tensors  # tied: llama.cpp's head is token_embd
    embd = tensors["token_embd.weight"]
    assert embd.tensor_type == block_type
    # The same values: llama.cpp's blocks decode to exactly our groups (codes times float16 scales).
    t = load_file(packed)
    ours_values = dequantize_grouped(t["embed_tokens.weight"], t["embed_tokens.group_scale"], 256, embeddings)
    assert np.array_equal(gguf.quants.dequantize(embd.data, embd.tensor_type).astype(np.float32), ours_values)
    # Our engine runs the GGUF with a Q4_0 head as q4 (the same integer head, so the same perplexity);
    # a Q8_0 one as f16 (the same values, float products).
    text = sample_text(tmp_path, shakespeare)
    ours = engine_perplexity(ternary_bin, packed, text)
    assert engine_perplexity(ternary_bin, exported, text) == pytest.approx(ours, rel=1e-6 if embeddings == "q4" else 1e-2)
    ids = json.loads(run(ternary_bin, "tokenize", "-m", packed, "--ids", "--file", text))[:64]
    theirs = llama_cpp_perplexity(exported, ids)
    print(f"bitnet with a {embeddings} head: perplexity engine {ours:.1f}, llama.cpp {theirs:.1f}")
    assert theirs == pytest.approx(ours, rel=0.1)
    # Packed again without --embeddings: Q4_0 stays q4, byte for byte; Q8_0 becomes f16.
    repacked = tmp_path / "repacked.safetensors"
    run(ternary_bin, "pack", exported, "-o", repacked)
    with safe_open(str(repacked), framework="numpy") as f:
        assert json.loads(f.metadata()["matrix_formats"])["embed_tokens"] == ("q4" if embeddings == "q4" else "f16")
        if embeddings == "q4":
            assert np.array_equal(f.get_tensor("embed_tokens.weight"), t["embed_tokens.weight"])


def sample_text(directory, shakespeare):
    text = directory / "text.txt"
    text.write_text(shakespeare.read_text()[:2000])
    return text


def engine_perplexity(ternary_bin, model, text):
    return json.loads(run(ternary_bin, "perplexity", "-m", model, "--file", text, "--ctx", "64", "--max-tokens", "64", "--json"))["ppl"]


def llama_cpp_perplexity(path, ids):
    logits, _ = llama_argmax(path, ids, n_ctx=64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return math.exp(-float(np.mean([logp[i, ids[i + 1]] for i in range(len(ids) - 1)])))

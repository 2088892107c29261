"""Writes the small fixtures the Swift tests compare against (run from the repo root):

    python python/scripts/make_swift_fixtures.py [tokenizer] [gpt2] [bitnet] [llama] [mamba2]

* Tests/TernaryTests/Fixtures/gpt2-tiny/: a random-init HF GPT-2 (F16 weights, width 80 so rows
  need padding, head size 20 so attention has a tail) and expected.safetensors with reference
  logits for every embedding storage, 32 greedy tokens and a perplexity, all computed by
  ternary_qat.reference (independent of the Swift code).
* Tests/TernaryTests/Fixtures/bitnet-tiny/: a random-init HF BitNetForCausalLM (6 query heads, 2 KV
  heads, relu2, sub-norms, tied embeddings) saved in HF BitNet's packed deployment form, with
  expected logits, greedy tokens and a perplexity from ternary_qat.reference_llama.
* Tests/TernaryTests/Fixtures/llama-tiny/: a random-init LlamaForCausalLM patched and exported by
  ternary_qat (per-linear BitLinear RMSNorm, untied head, F16 latent weights), likewise.
* Tests/TernaryTests/Fixtures/mamba2-g1/, mamba2-g2/: random-init Mamba2ForCausalLM (n_groups 1 and
  2, head_dim 16, state 16, conv 4) patched and exported by ternary_qat (mamba2-g2 with a BitLinear
  RMSNorm before each projection and an untied head), with expected logits, greedy tokens and a
  perplexity from ternary_qat.reference_mamba2 (a token-by-token recurrence).
* Tests/TernaryTests/Fixtures/bitmamba2-tiny/: a random BitMamba-2 (bitmamba.c's BIT2 file: 8 heads
  of 16, ternary projections and head) with expected logits from reference_mamba2.read_bit2.
* Tests/TernaryTests/Fixtures/tokenizer-cases.json: 1,200 varied strings with tiktoken's GPT-2 ids.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ternary_qat import reference  # noqa: E402
from ternary_qat import reference_llama  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "TernaryTests" / "Fixtures"
SHARED = ROOT.parent / "shared" / "data"


def tiny_gpt2(seed: int) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=300, n_positions=64, n_embd=80, n_head=4, n_layer=2,
                        initializer_range=0.25, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def greedy_margin_ok(weights, prompt, steps, margin=0.05) -> bool:
    ids = list(prompt)
    for _ in range(steps):
        last = reference.forward(weights, ids)[-1]
        top = np.sort(last)[-2:]
        if top[1] - top[0] < margin:
            return False
        ids.append(int(np.argmax(last)))
    return True


def nearest_rounding_tie(weights, ids) -> float:
    """Smallest distance of any x·s to a .5 rounding tie in the activation quantization of a
    forward pass. Near a tie, float32 op order decides the rounding, so fixtures avoid them."""
    from ternary_qat import semantics

    original = semantics.quantize_activations
    closest = [1.0]

    def spy(x):
        x = np.asarray(x, dtype=np.float32)
        m = np.maximum(np.abs(x).max(-1, keepdims=True), semantics.ACT_FLOOR)
        v = x * (np.float32(127) / m)
        closest[0] = min(closest[0], float(np.abs(np.abs(v - np.floor(v)) - 0.5).min()))
        return original(x)

    semantics.quantize_activations = spy
    try:
        reference.forward(weights, ids)
    finally:
        semantics.quantize_activations = original
    return closest[0]


def make_model_fixture() -> None:
    out = FIXTURES / "gpt2-tiny"
    out.mkdir(parents=True, exist_ok=True)
    prompt = [17, 42, 7, 255, 3]
    for seed in range(100):
        model = tiny_gpt2(seed).half()
        model.save_pretrained(out, safe_serialization=True)
        state = {k: v.float() for k, v in model.state_dict().items()}
        config = json.loads((out / "config.json").read_text())
        w16 = reference.quantize_gpt2_state(state, config, "f16")
        if greedy_margin_ok(w16, prompt, 32):
            break
    modes = {emb: reference.quantize_gpt2_state(state, config, emb) for emb in ("f32", "f16", "int8", "ternary")}
    for ids_seed in range(2000):
        rng = np.random.default_rng(ids_seed)
        ids = rng.integers(0, 300, size=32).tolist()
        if all(nearest_rounding_tie(w, ids) > 2e-5 for w in modes.values()):
            break
    else:
        raise SystemExit("no id sequence without a near rounding tie; change the model seed")
    tensors = {"ids": np.array(ids, dtype=np.int32), "greedy_prompt": np.array(prompt, dtype=np.int32)}
    for emb, w in modes.items():
        tensors[f"logits_{emb}"] = reference.forward(w, ids)
    tensors["greedy_tokens"] = np.array(reference.greedy(w16, prompt, 32), dtype=np.int32)
    ppl_ids = rng.integers(0, 300, size=4 * 32 + 7).tolist()
    ppl, scored = reference.perplexity(w16, ppl_ids, 32)
    tensors["ppl_ids"] = np.array(ppl_ids, dtype=np.int32)
    save_file(tensors, str(out / "expected.safetensors"),
              metadata={"ppl": repr(ppl), "ppl_ctx": "32", "tokens_scored": str(scored), "seed": str(seed),
                        "ids_seed": str(ids_seed)})
    for extra in ("generation_config.json",):
        (out / extra).unlink(missing_ok=True)
    print(f"gpt2-tiny: seed {seed}, ids seed {ids_seed}, ppl {ppl:.4f} over {scored} tokens")


def margin_ok(forward, prompt, steps, margin=0.05) -> bool:
    ids = list(prompt)
    for _ in range(steps):
        last = forward(ids)[-1]
        top = np.sort(last)[-2:]
        if top[1] - top[0] < margin:
            return False
        ids.append(int(np.argmax(last)))
    return True


def tie_distance(forward, ids) -> float:
    """As nearest_rounding_tie, for any forward that quantizes through ternary_qat.semantics."""
    from ternary_qat import semantics

    original, closest = semantics.quantize_activations, [1.0]

    def spy(x):
        x = np.asarray(x, dtype=np.float32)
        v = x * (np.float32(127) / np.maximum(np.abs(x).max(-1, keepdims=True), semantics.ACT_FLOOR))
        closest[0] = min(closest[0], float(np.abs(np.abs(v - np.floor(v)) - 0.5).min()))
        return original(x)

    semantics.quantize_activations = spy
    try:
        forward(ids)
    finally:
        semantics.quantize_activations = original
    return closest[0]


def tiny_bitnet(seed: int, out: Path) -> None:
    from transformers import BitNetConfig, BitNetForCausalLM

    from ternary_qat import export_hf_bitnet

    torch.manual_seed(seed)
    config = BitNetConfig(vocab_size=300, hidden_size=96, intermediate_size=160, num_hidden_layers=2, num_attention_heads=6,
                          num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=True, initializer_range=0.25,
                          bos_token_id=0, eos_token_id=0)
    model = BitNetForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
    export_hf_bitnet(model, out)


def tiny_llama(seed: int, out: Path) -> None:
    from safetensors.torch import load_file
    from safetensors.torch import save_file as save_torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from ternary_qat import export_hf, patch_model

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.25, bos_token_id=0, eos_token_id=0)
    model = LlamaForCausalLM(config).eval()
    patch_model(model, rms_norm=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
    export_hf(model, out)
    # F16 latent weights keep the fixture small; the packer reads F16 as well.
    weights = out / "model.safetensors"
    save_torch({k: v.half().contiguous() for k, v in load_file(str(weights)).items()}, str(weights), metadata={"format": "pt"})


def make_reference_fixture(name: str, build, quantize, reference) -> None:
    """Builds tiny random models (`build(seed, out)`) until one keeps the greedy prompt's
    continuation clear of rounding ties, then writes what the Swift parity suites compare with:
    logits of 32 tie-free ids, 32 greedy tokens and a perplexity, from `reference` (a module with
    forward/greedy/perplexity) over `quantize(state, config)`."""
    from safetensors.torch import load_file

    out = FIXTURES / name
    out.mkdir(parents=True, exist_ok=True)
    prompt = [17, 42, 7, 255, 3]
    for seed in range(100):
        build(seed, out)
        config = json.loads((out / "config.json").read_text())
        w = quantize(load_file(str(out / "model.safetensors")), config)
        forward = lambda ids: reference.forward(w, ids)  # noqa: E731
        if margin_ok(forward, prompt, 32):
            break
    for ids_seed in range(2000):
        rng = np.random.default_rng(ids_seed)
        ids = rng.integers(0, 300, size=32).tolist()
        if tie_distance(forward, ids) > 2e-5:
            break
    else:
        raise SystemExit(f"{name}: no id sequence without a near rounding tie; change the model seed")
    tensors = {"ids": np.array(ids, dtype=np.int32), "greedy_prompt": np.array(prompt, dtype=np.int32),
               "logits_f16": forward(ids), "greedy_tokens": np.array(reference.greedy(w, prompt, 32), dtype=np.int32)}
    ppl_ids = rng.integers(0, 300, size=4 * 32 + 7).tolist()
    ppl, scored = reference.perplexity(w, ppl_ids, 32)
    tensors["ppl_ids"] = np.array(ppl_ids, dtype=np.int32)
    save_file(tensors, str(out / "expected.safetensors"),
              metadata={"ppl": repr(ppl), "ppl_ctx": "32", "tokens_scored": str(scored), "seed": str(seed), "ids_seed": str(ids_seed)})
    for extra in ("generation_config.json", "README.md"):  # what export writes beside the weights; not fixtures
        (out / extra).unlink(missing_ok=True)
    print(f"{name}: seed {seed}, ids seed {ids_seed}, ppl {ppl:.4f} over {scored} tokens")


def make_llama_family_fixture(name: str, build, bitnet: bool, rms_norm: bool) -> None:
    make_reference_fixture(name, build, lambda state, config: reference_llama.quantize_state(
        state, config, bitnet=bitnet, embeddings="f16", rms_norm=rms_norm), reference_llama)


def tiny_mamba2(groups: int, rms_norm: bool, tied: bool):
    def build(seed: int, out: Path) -> None:
        from safetensors.torch import load_file
        from safetensors.torch import save_file as save_torch
        from transformers import Mamba2Config, Mamba2ForCausalLM

        from ternary_qat import export_hf, patch_model

        torch.manual_seed(seed)
        config = Mamba2Config(vocab_size=300, hidden_size=64, num_hidden_layers=2, num_heads=8, head_dim=16, state_size=16,
                              n_groups=groups, expand=2, conv_kernel=4, tie_word_embeddings=tied, initializer_range=0.25,
                              bos_token_id=0, eos_token_id=0, pad_token_id=0)
        model = Mamba2ForCausalLM(config).eval()
        patch_model(model, rms_norm=rms_norm)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("norm.weight"):
                    p.copy_(1 + 0.3 * torch.randn_like(p))
                elif name.endswith(("dt_bias", ".D", "conv1d.bias")):
                    p.copy_(torch.randn_like(p))
                elif name.endswith("A_log"):
                    p.add_(0.3 * torch.randn_like(p))
        export_hf(model, out)
        weights = out / "model.safetensors"
        save_torch({k: v.half().contiguous() for k, v in load_file(str(weights)).items()}, str(weights), metadata={"format": "pt"})
    return build


def make_mamba2_fixture(name: str, groups: int, rms_norm: bool, tied: bool) -> None:
    from ternary_qat import reference_mamba2

    make_reference_fixture(name, tiny_mamba2(groups, rms_norm, tied), lambda state, config: reference_mamba2.quantize_state(
        state, config, embeddings="f16", rms_norm=rms_norm), reference_mamba2)


def tiny_bit2(seed: int, path: Path, vocab: int = 300, d: int = 64, layers: int = 2, heads: int = 8) -> None:
    """A random BitMamba-2 written as bitmamba.c's BIT2 file."""
    from ternary_qat import reference_mamba2

    rng = np.random.default_rng(seed)
    inner = 2 * d

    def ternary(rows, k, beta=(0.02, 0.1)):
        return rng.integers(-1, 2, size=(rows, k)).astype(np.int8), np.float32(1 / rng.uniform(*beta))

    t = {"embed.weight": rng.normal(0, 1, (vocab, d)).astype(np.float32)}
    for i in range(layers):
        p = f"layers.{i}."
        t[p + "in_proj.norm.weight"] = (1 + 0.3 * rng.standard_normal(d)).astype(np.float32)
        t[p + "in_proj.weight"] = ternary(2 * inner + 3 * heads, d)
        t[p + "conv1d.weight"] = rng.normal(0, 0.5, (inner, 1, 4)).astype(np.float32)
        t[p + "conv1d.bias"] = rng.normal(0, 0.5, inner).astype(np.float32)
        t[p + "dt_bias"] = rng.normal(0, 1, heads).astype(np.float32)
        t[p + "A_log"] = (np.log(np.arange(1, heads + 1)) + 0.3 * rng.standard_normal(heads)).astype(np.float32)
        t[p + "D"] = rng.normal(0, 1, inner).astype(np.float32)
        t[p + "out_proj.norm.weight"] = (1 + 0.3 * rng.standard_normal(inner)).astype(np.float32)
        t[p + "out_proj.weight"] = ternary(d, inner)
    t["norm_f.weight"] = (1 + 0.3 * rng.standard_normal(d)).astype(np.float32)
    t["lm_head.norm.weight"] = (1 + 0.3 * rng.standard_normal(d)).astype(np.float32)
    t["lm_head.weight"] = ternary(vocab, d, beta=(0.5, 1.0))  # logits far enough apart for a greedy test
    reference_mamba2.write_bit2(path, {"vocab_size": vocab, "d_model": d, "n_layers": layers, "n_heads": heads}, t)


def make_bitmamba_fixture() -> None:
    from ternary_qat import reference_mamba2

    out = FIXTURES / "bitmamba2-tiny"
    out.mkdir(parents=True, exist_ok=True)
    prompt = [17, 42, 7, 255, 3]
    for seed in range(100):
        tiny_bit2(seed, out / "model.bin")
        w = reference_mamba2.read_bit2(out / "model.bin")
        forward = lambda ids: reference_mamba2.forward(w, ids)  # noqa: E731
        if margin_ok(forward, prompt, 32):
            break
    else:
        raise SystemExit("bitmamba2-tiny: no seed gives greedy margins of 0.05")
    for ids_seed in range(2000):
        rng = np.random.default_rng(ids_seed)
        ids = rng.integers(0, 300, size=32).tolist()
        if tie_distance(forward, ids) > 2e-5:
            break
    else:
        raise SystemExit("bitmamba2-tiny: no id sequence without a near rounding tie; change the model seed")
    tensors = {"ids": np.array(ids, dtype=np.int32), "greedy_prompt": np.array(prompt, dtype=np.int32),
               "logits_f16": forward(ids), "greedy_tokens": np.array(reference_mamba2.greedy(w, prompt, 32), dtype=np.int32)}
    ppl_ids = rng.integers(0, 300, size=4 * 32 + 7).tolist()
    ppl, scored = reference_mamba2.perplexity(w, ppl_ids, 32)
    tensors["ppl_ids"] = np.array(ppl_ids, dtype=np.int32)
    save_file(tensors, str(out / "expected.safetensors"),
              metadata={"ppl": repr(ppl), "ppl_ctx": "32", "tokens_scored": str(scored), "seed": str(seed), "ids_seed": str(ids_seed)})
    print(f"bitmamba2-tiny: seed {seed}, ids seed {ids_seed}, ppl {ppl:.4f} over {scored} tokens")


def tokenizer_strings(n: int) -> list[str]:
    rng = random.Random(1234)
    shakespeare = (SHARED / "text" / "tinyshakespeare" / "input.txt").read_text()
    wiki = (SHARED / "text" / "wikitext-2-raw" / "wiki.test.raw").read_text()
    pieces = ["Hello", "world", "don't", "I'm", "we'll", "they've", "she'd", "it's", "'S", "'tis", "O'er",
              "123", "4567890", "3.14159", "1,000,000", "２０２６", "½", "Ⅻ", "٣٤٥",
              "こんにちは", "世界", "한국어", "Ελληνικά", "Привет", "ជំរាបសួរ", "مرحبا", "עברית", "हिन्दी",
              "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🤖", "☃", "✓", "…", "—", "“quoted”", "«»", "\u00a0", "\u2003", "\u3000",
              "\t", "\n", "\r\n", "  ", "   ", "\n\n", " \n ", "\u200b", "café", "naïve", "e\u0301", "ß", "ﬁ",
              "<|endoftext|>", "<|endoftext", "|>", "http://example.com/a?b=c", "foo@bar.org", "#hashtag",
              "C++", "x86_64", "snake_case", "CamelCase", "ALLCAPS", "!!!", "???", "...", "(", ")", "[]", "{}",
              "$", "%", "^", "&&", "||", "=>", "->", "::", "//", "/*", "*/", "\\", "\"", "'", "`", "~"]
    cases = ["", " ", "  ", "\n", "a", "'s", "Hello world", " Hello", "Hello  world", "Hello\n\nworld",
             "   leading", "trailing   ", "mixed \t\n whitespace", "'''", "''s", "it''s"]
    while len(cases) < n:
        kind = rng.random()
        if kind < 0.25:
            start = rng.randrange(len(shakespeare) - 400)
            cases.append(shakespeare[start:start + rng.randint(1, 400)])
        elif kind < 0.45:
            start = rng.randrange(len(wiki) - 400)
            cases.append(wiki[start:start + rng.randint(1, 400)])
        else:
            parts = [rng.choice(pieces) for _ in range(rng.randint(1, 12))]
            seps = ["", " ", "  ", "\n", "\t", " \n", "   "]
            cases.append("".join(p + rng.choice(seps) for p in parts))
    return cases[:n]


def make_tokenizer_fixture() -> None:
    import base64

    import tiktoken

    ranks = {}
    for line in (SHARED / "gpt2" / "gpt2.tiktoken").read_text().splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    enc = tiktoken.Encoding(
        name="gpt2", mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256},
        pat_str=r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
    cases = []
    for text in tokenizer_strings(1200):
        cases.append({"text": text, "ids": enc.encode(text, allowed_special="all"),
                      "ordinary": enc.encode_ordinary(text)})
    (FIXTURES / "tokenizer-cases.json").write_text("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases) + "\n]\n")
    print(f"tokenizer-cases.json: {len(cases)} cases")


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    which = set(sys.argv[1:]) or {"tokenizer", "gpt2", "bitnet", "llama", "mamba2"}
    if "tokenizer" in which:
        make_tokenizer_fixture()
    if "gpt2" in which:
        make_model_fixture()
    if "bitnet" in which:
        make_llama_family_fixture("bitnet-tiny", tiny_bitnet, bitnet=True, rms_norm=False)
    if "llama" in which:
        make_llama_family_fixture("llama-tiny", tiny_llama, bitnet=False, rms_norm=True)
    if "mamba2" in which:
        make_mamba2_fixture("mamba2-g1", groups=1, rms_norm=False, tied=True)
        make_mamba2_fixture("mamba2-g2", groups=2, rms_norm=True, tied=False)
        make_bitmamba_fixture()

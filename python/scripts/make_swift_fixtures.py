"""Writes the small fixtures the Swift tests compare against (run from the repo root):

    python python/scripts/make_swift_fixtures.py

* Tests/TernaryTests/Fixtures/gpt2-tiny/: a random-init HF GPT-2 (F16 weights, width 80 so rows
  need padding, head size 20 so attention has a tail) and expected.safetensors with reference
  logits for every embedding storage, 32 greedy tokens and a perplexity, all computed by
  ternary_qat.reference (independent of the Swift code).
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
    make_tokenizer_fixture()
    make_model_fixture()

"""The Swift tokenizer pipeline against Hugging Face's `tokenizers` library on tokenizer.json files
built here: a Llama-3-style byte-level BPE (Llama 3's pre-tokenizer regex, its special tokens, a
BOS post-processor, ignore_merges) and a SentencePiece-style BPE with byte fallback (Llama 2's
normalizer and decoder), each on 5,000 random strings, with and without special-token parsing."""
import json
import random
import subprocess

import pytest
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
PIECES = ["Hello", "world", "don't", "I'M", "we'LL", "they've", "She'd", "it's", "'S", "O'er", "123", "4567890", "3.14159",
          "1,000,000", "２０２６", "½", "Ⅻ", "٣٤٥", "こんにちは", "世界", "한국어", "Ελληνικά", "Привет", "ជំរាបសួរ", "مرحبا",
          "עברית", "हिन्दी", "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🤖", "☃", "…", "—", "“quoted”", "\u00a0", "\u2003", "\u3000",
          "\t", "\n", "\r\n", "  ", "   ", "\n\n", " \n ", "\u200b", "café", "naïve", "e\u0301", "ß", "ﬁ", "C++", "x86_64",
          "snake_case", "CamelCase", "!!!", "...", "(", ")", "$", "=>", "\\", "\"", "'", "`", "~", "<0x41>", "▁", "<unk>",
          ] + SPECIALS + ["<|eot_id", "|>"]


def corpus(shared) -> list[str]:
    shakespeare = (shared / "text" / "tinyshakespeare" / "input.txt").read_text()[:300_000]
    wiki = (shared / "text" / "wikitext-2-raw" / "wiki.test.raw").read_text()[:300_000]
    return [shakespeare, wiki, " ".join(PIECES) * 20]


def random_strings(n: int, seed: int, shared) -> list[str]:
    rng = random.Random(seed)
    text = corpus(shared)[0] + corpus(shared)[1]
    out = ["", " ", "  ", "\n", "a", "'s", "Hello world", " Hello", "123456789", "\t\t x", "<|eot_id|><|eot_id|>"]
    while len(out) < n:
        if rng.random() < 0.3:
            start = rng.randrange(len(text) - 300)
            out.append(text[start:start + rng.randint(1, 300)])
        else:
            seps = ["", " ", "  ", "\n", "\t", " \n", "   ", "\r\n"]
            out.append("".join(rng.choice(PIECES) + rng.choice(seps) for _ in range(rng.randint(1, 12))))
    return out


def llama3_style(shared) -> Tokenizer:
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(shared), trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])])
    return tok


def sentencepiece_style(shared) -> Tokenizer:
    """Llama 2's layout: <unk>, <s>, </s>, the 256 byte tokens, then the merged pieces."""
    trained = Tokenizer(models.BPE())
    trained.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # Without a pre-tokenizer each input is one word, and BPE training is quadratic in a word's
    # length: train on lines, not on the three 300 kB texts (115 s against a second).
    lines = [line for text in corpus(shared) for line in text.splitlines(keepends=True) if line.strip()]
    trained.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=1500, show_progress=False))
    spec = json.loads(trained.to_str())
    base = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    learned = sorted(spec["model"]["vocab"], key=spec["model"]["vocab"].get)
    vocab = {piece: i for i, piece in enumerate(base + [p for p in learned if p not in base])}
    spec["model"].update(vocab=vocab, byte_fallback=True, unk_token="<unk>", fuse_unk=True)
    spec["added_tokens"] = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
                             "special": True} for i, c in enumerate(base[:3])]
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    spec["post_processor"] = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                        {"Sequence": {"id": "A", "type_id": 0}}],
                              "pair": [{"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    return Tokenizer.from_str(json.dumps(spec))


def swift_batch(ternary_bin, path, lines, *flags) -> list:
    result = subprocess.run([ternary_bin, "tokenize", "--tokenizer", str(path), "--jsonl", *flags],
                            input="\n".join(json.dumps(l) for l in lines) + "\n", capture_output=True, text=True, check=True)
    return [json.loads(l) for l in result.stdout.splitlines()]


@pytest.mark.parametrize("build", [llama3_style, sentencepiece_style], ids=["llama3-bpe", "sentencepiece-bpe"])
def test_ids_and_decoding_equal_the_tokenizers_library(tmp_path, ternary_bin, build):
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "data"
    tok = build(shared)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    strings = random_strings(5000, seed=7, shared=shared)
    # With special tokens parsed (the library's default) and BOS added.
    want = [e.ids for e in tok.encode_batch(strings, add_special_tokens=True)]
    got = swift_batch(ternary_bin, path, strings, "--special")
    bad = [i for i in range(len(strings)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} differ, first {strings[bad[0]]!r}: {got[bad[0]]} vs {want[bad[0]]}"
    # Special-token text as plain text.
    tok.encode_special_tokens = True
    want = [e.ids for e in tok.encode_batch(strings, add_special_tokens=False)]
    got = swift_batch(ternary_bin, path, strings, "--no-bos")
    bad = [i for i in range(len(strings)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} differ, first {strings[bad[0]]!r}: {got[bad[0]]} vs {want[bad[0]]}"
    # Decoding: the library's text, which is the input again (SentencePiece writes spaces as "▁",
    # so a literal "▁" in the input comes back as a space, in the library as here).
    texts = swift_batch(ternary_bin, path, want, "--decode")
    assert texts == [tok.decode(ids, skip_special_tokens=False) for ids in want]
    assert all(t == s for t, s in zip(texts, strings) if "▁" not in s)

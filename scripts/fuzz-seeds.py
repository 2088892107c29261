#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, Fuzz/corpus/<target>/seed-*: small valid inputs of every kind
the readers take, so that libFuzzer starts from the interesting part of the input space.

    .venv/bin/python scripts/fuzz-seeds.py [--ternary .build/debug/ternary]

Seeds are tiny (a few KB: libFuzzer's mutations are cheaper on small inputs) and deterministic.
Crash inputs that the fuzzers find are kept beside them as regression cases (crash-*, kept as
found); this script never touches those.
"""
from __future__ import annotations

import argparse
import json
import struct
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "Fuzz" / "corpus"
TEXT = "Hello, world! The quick brown fox jumps over the lazy dog. don't 12345\n  naïve café 中文 😀\t"


def seed(target: str, name: str, data: bytes) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def byte_level_tokenizer(vocab_size=300) -> dict:
    """A GPT-2 style byte-level BPE trained on a few sentences (tokenizers library)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([TEXT] * 4 + ["the cat sat on the mat", "to be or not to be"], trainer)
    return json.loads(tok.to_str())


def sentencepiece_tokenizer() -> dict:
    """A Llama-2 style tokenizer.json: ▁ for spaces, byte fallback, <s>/</s>."""
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    words = ["▁", "e", "t", "h", "o", "l", "▁t", "he", "▁the", "ll", "▁he", "llo", "▁hello"]
    vocab = {p: i for i, p in enumerate(pieces + words)}
    merges = ["▁ t", "h e", "▁t he", "l l", "▁ he", "ll o", "▁he llo"]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": p, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
                          "special": True} for i, p in enumerate(pieces[:3])],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                     {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": True, "byte_fallback": True, "ignore_merges": False, "vocab": vocab, "merges": merges},
    }


def llama2c_tokenizer(spm: dict) -> bytes:
    """llama2.c's tokenizer.bin: max token length, then (score, length, bytes) per token."""
    vocab = sorted(spm["model"]["vocab"].items(), key=lambda kv: kv[1])
    out = [b""]
    longest = 0
    for i, (piece, _) in enumerate(vocab):
        text = piece.replace("▁", " ").encode()
        longest = max(longest, len(text))
        out.append(struct.pack("<fi", -float(i), len(text)) + text)
    out[0] = struct.pack("<i", longest)
    return b"".join(out)


def gguf_tokenizer(path: Path, kind: str, hf: dict) -> None:
    """A GGUF file holding only a tokenizer (and one small tensor), as llama.cpp's writer lays it out."""
    import gguf
    import numpy as np

    vocab = sorted(hf["model"]["vocab"].items(), key=lambda kv: kv[1])
    w = gguf.GGUFWriter(str(path), "llama" if kind == "llama" else "gpt2")
    w.add_tokenizer_model(kind)
    w.add_token_list([p for p, _ in vocab])
    if kind == "llama":
        w.add_token_scores([-float(i) for i in range(len(vocab))])
        types = [3 if p in ("<unk>", "<s>", "</s>") else 6 if p.startswith("<0x") else 1 for p, _ in vocab]
        types[0] = 2
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_chat_template("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")
    else:
        w.add_token_types([3 if p == "<|endoftext|>" else 1 for p, _ in vocab])
        w.add_token_merges(hf["model"]["merges"] if isinstance(hf["model"]["merges"][0], str)
                           else [" ".join(m) for m in hf["model"]["merges"]])
        w.add_eos_token_id(hf["model"]["vocab"]["<|endoftext|>"])
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_model(path: Path, arch: str) -> None:
    """A GGUF model of a few KB with every tensor type the reader decodes: a one-layer Llama (TQ2_0,
    TQ1_0, Q8_0, Q4_0, Q6_K, F16, BF16), or bitnet.cpp's 2B4T shape with I2_S (type 36, which
    gguf-py does not list, so it is written with its number)."""
    import gguf
    import numpy as np

    rng = np.random.default_rng(0)
    width, ffn, vocab = 32, 256, 8
    w = gguf.GGUFWriter(str(path), arch)
    for add, value in [(w.add_block_count, 1), (w.add_context_length, 16), (w.add_embedding_length, width),
                       (w.add_feed_forward_length, ffn), (w.add_head_count, 2), (w.add_head_count_kv, 1)]:
        add(value)
    w.add_layer_norm_rms_eps(1e-5)
    T = gguf.GGMLQuantizationType

    def ternary(rows, k):
        return rng.integers(-1, 2, size=(rows, k)).astype(np.float32) * np.float32(0.25)

    def quantized(name, values, qtype):
        w.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)

    w.add_tensor("token_embd.weight", rng.normal(size=(vocab, width)).astype(np.float16))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(width, dtype=np.float32))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(width, dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    if arch == "llama":
        quantized("blk.0.attn_q.weight", rng.normal(size=(width, width)).astype(np.float32), T.Q8_0)
        quantized("blk.0.attn_k.weight", rng.normal(size=(width // 2, width)).astype(np.float32), T.Q4_0)
        quantized("blk.0.attn_v.weight", ternary(width // 2, width), T.Q8_0)
        quantized("blk.0.attn_output.weight", rng.normal(size=(width, width)).astype(np.float32), T.BF16)
        quantized("blk.0.ffn_gate.weight", ternary(ffn, width), T.Q8_0)
        quantized("blk.0.ffn_up.weight", ternary(ffn, width), T.Q4_0)
        quantized("blk.0.ffn_down.weight", ternary(width, ffn), T.TQ2_0)
        q6 = rng.integers(0, 256, size=(vocab, 210), dtype=np.uint8)
        q6[:, 208:] = np.frombuffer(np.float16(1e-3).tobytes(), dtype=np.uint8)
        w.add_tensor("output.weight", rng.normal(size=(vocab, width)).astype(np.float32))
        w.add_tensor("unused.q6_k", q6, raw_dtype=T.Q6_K)  # decoded by the fuzz target, unused by the model
    else:
        w.add_tensor("blk.0.attn_sub_norm.weight", np.ones(width, dtype=np.float32))
        w.add_tensor("blk.0.ffn_sub_norm.weight", np.ones(ffn, dtype=np.float32))
        for name, rows, k in [("attn_q", width, width), ("attn_k", width // 2, width), ("attn_v", width // 2, width),
                              ("attn_output", width, width), ("ffn_gate", ffn, width), ("ffn_up", ffn, width)]:
            codes = rng.integers(0, 3, size=rows * k).astype(np.uint8).reshape(-1, 4, 32)
            packed = (codes[:, 0] << 6) | (codes[:, 1] << 4) | (codes[:, 2] << 2) | codes[:, 3]
            tail = np.zeros(32, np.uint8)
            tail[:4] = np.frombuffer(np.float32(0.5).tobytes(), np.uint8)
            w.add_tensor(f"blk.0.{name}.weight", np.concatenate([packed.reshape(-1), tail]).view(np.int8), raw_shape=(rows, k), raw_dtype=36)
        quantized("blk.0.ffn_down.weight", ternary(width, ffn), T.TQ1_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tiny_checkpoints(out: Path) -> dict[str, Path]:
    """Random-init GPT-2, Llama, BitNet and Mamba-2 checkpoints of a few KB (transformers)."""
    import torch
    from transformers import (BitNetConfig, BitNetForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Mamba2Config,
                              Mamba2ForCausalLM)

    torch.manual_seed(0)
    small = dict(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                 num_key_value_heads=1, max_position_embeddings=16, bos_token_id=1, eos_token_id=2)
    models = {
        "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=300, n_embd=16, n_layer=1, n_head=2, n_positions=16, bos_token_id=0, eos_token_id=0)),
        "llama": LlamaForCausalLM(LlamaConfig(**small)),
        "bitnet": BitNetForCausalLM(BitNetConfig(**small)),
        "mamba2": Mamba2ForCausalLM(Mamba2Config(vocab_size=300, hidden_size=16, num_hidden_layers=1, num_heads=4, head_dim=8,
                                                 state_size=8, n_groups=1, expand=2, conv_kernel=4)),
    }
    paths = {}
    for name, model in models.items():
        paths[name] = out / name
        model.save_pretrained(paths[name])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ternary", default=str(ROOT / ".build" / "debug" / "ternary"))
    args = parser.parse_args()
    for old in CORPUS.glob("*/seed-*"):
        old.unlink()

    byte_level, spm = byte_level_tokenizer(), sentencepiece_tokenizer()
    seed("tokenizer-file", "byte-level.json", json.dumps(byte_level, ensure_ascii=False).encode())
    seed("tokenizer-file", "sentencepiece.json", json.dumps(spm, ensure_ascii=False).encode())
    seed("tokenizer-file", "llama2c.bin", llama2c_tokenizer(spm))

    vocab = byte_level["model"]["vocab"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in byte_level["model"]["merges"]]
    seed("vocab-merges", "gpt2", json.dumps(vocab, ensure_ascii=False).encode() + b"\xff" + ("#version: 0.2\n" + "\n".join(merges)).encode())
    seed("vocab-merges", "crlf", json.dumps(dict(list(vocab.items())[:280])).encode() + b"\xff" + "\r\n".join(merges[:10]).encode())

    for name, value in {
        "config": {"model_type": "mamba2", "time_step_limit": [0.0, "Infinity"], "n_layer": 2, "eps": 1e-5, "tie": True, "x": None},
        "nested": {"a": [[1, 2.5, -3e-7], {"b": "\u00e9\\\"\n\t\u0001"}], "": {}},
        "unicode": ["😀", "\ud7ff", "中文", 18446744073709551615, -9223372036854775808],
    }.items():
        seed("json", name, json.dumps(value, ensure_ascii=False).encode())
    seed("json", "infinity", b'{"limit": [0.0, Infinity], "nan": NaN, "neg": -Infinity}')
    seed("json", "tagged-infinity", b'{"limit": [0.0, {"__float__": "Infinity"}], "nan": {"__float__": "NaN"}}')
    seed("json", "tokenizer", json.dumps(spm["normalizer"]).encode())

    for name, text in {"ascii": TEXT, "whitespace": " \n\n  \t x  \r\n y   ", "contractions": "I'm we'll they've she'd it's 's'S",
                       "unicode": "naïve café 中文 😀 \u0301e\u200b \U0010FFFF", "special": "<|endoftext|> <s> ĠĊ"}.items():
        seed("text-round-trip", name, text.encode())

    for name, body in {
        "chat": {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                 "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "seed": 3, "stop": ["\n", "END"],
                 "stream": True, "stream_options": {"include_usage": True}, "presence_penalty": 0.5, "frequency_penalty": -0.5},
        "chat-parts": {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                                    {"role": "assistant", "content": None}, {"role": "developer", "content": "x"}],
                       "max_completion_tokens": 4, "response_format": {"type": "text"}, "tools": [], "tool_choice": "none", "n": 1},
        "text": {"prompt": "ROMEO:", "max_tokens": 16, "stop": "\n\n", "echo": False, "best_of": 1, "logprobs": False,
                 "repeat_penalty": 1.1, "repeat_last_n": 64, "ignore_eos": True, "logit_bias": {}},
        "text-ids": {"prompt": [15496, 995, 0], "seed": -1, "temperature": 0},
        "chat-logprobs": {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True, "top_logprobs": 2, "max_tokens": 2,
                          "logit_bias": {"50256": -100, "198": 2.5}},
        "text-logprobs": {"prompt": [[15496, 995]], "logprobs": 3, "max_tokens": 0, "echo": True},
        "chat-json": {"messages": [{"role": "user", "content": "JSON please"}], "response_format": {"type": "json_object"},
                      "max_tokens": 4, "seed": 1},
        "chat-schema": {"messages": [{"role": "user", "content": "Who?"}], "max_tokens": 4, "response_format": {
            "type": "json_schema", "json_schema": {"name": "who", "strict": True, "schema": {
                "type": "object", "required": ["name", "tags"], "additionalProperties": False, "properties": {
                    "name": {"type": "string", "maxLength": 8}, "age": {"type": ["integer", "null"]},
                    "tags": {"type": "array", "items": {"enum": ["a", 1, None]}, "maxItems": 2},
                    "friend": {"$ref": "#/$defs/F"}},
                "$defs": {"F": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}}},
        "bad": {"prompt": "x", "n": 2, "top_p": 0, "max_tokens": -1, "unknown": 1},
    }.items():
        seed("openai-request", name, json.dumps(body, ensure_ascii=False).encode())

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind, hf in (("llama", spm), ("gpt2", byte_level)):
            gguf_tokenizer(tmp / f"{kind}.gguf", kind, hf)
            seed("gguf", kind, (tmp / f"{kind}.gguf").read_bytes())
        for arch in ("llama", "bitnet-b1.58"):
            gguf_model(tmp / f"{arch}.gguf", arch)
            seed("gguf", f"model-{arch}", (tmp / f"{arch}.gguf").read_bytes())
        (tmp / "tokenizer.json").write_text(json.dumps(spm, ensure_ascii=False))
        (tmp / "byte-level.json").write_text(json.dumps(byte_level, ensure_ascii=False))
        checkpoints = tiny_checkpoints(tmp)
        packs = {
            "gpt2-ternary": (checkpoints["gpt2"], ["--tokenizer", str(tmp / "byte-level.json")]),
            "gpt2-int8": (checkpoints["gpt2"], ["--no-tokenizer", "--embeddings", "int8", "--weights", "int8"]),
            "gpt2-t16": (checkpoints["gpt2"], ["--no-tokenizer", "--embeddings", "int8", "--weights", "t1.6"]),
            "llama-bf16": (checkpoints["llama"], ["--tokenizer", str(tmp / "tokenizer.json"), "--embeddings", "bf16"]),
            "bitnet-ternary": (checkpoints["bitnet"], ["--no-tokenizer", "--embeddings", "ternary"]),
            "gpt2-q4": (checkpoints["gpt2"], ["--no-tokenizer", "--embeddings", "q4"]),
            "llama-q6": (checkpoints["llama"], ["--no-tokenizer", "--embeddings", "q6"]),
            "mamba2-ternary": (checkpoints["mamba2"], ["--no-tokenizer"]),
        }
        for name, (checkpoint, options) in packs.items():
            out = tmp / f"{name}.safetensors"
            subprocess.run([args.ternary, "pack", str(checkpoint), "-o", str(out), *options], check=True, capture_output=True)
            seed("packed-model", name, out.read_bytes())
    for d in sorted(CORPUS.iterdir()):
        files = list(d.glob("seed-*"))
        print(f"{d.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files):,} bytes")


if __name__ == "__main__":
    main()

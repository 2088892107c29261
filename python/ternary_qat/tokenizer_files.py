"""The GPT-2 tokenizer from a local directory (no hub): vocab.json + merges.txt or
encoder.json + vocab.bpe (the OpenAI names, as in ../shared/data/gpt2)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast


def tokenizer_paths(directory: str | Path) -> tuple[Path, Path]:
    d = Path(directory)
    for vocab, merges in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        if (d / vocab).is_file() and (d / merges).is_file():
            return d / vocab, d / merges
    raise FileNotFoundError(f"no GPT-2 tokenizer in {d}: expected vocab.json + merges.txt or encoder.json + vocab.bpe")


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """A directory's tokenizer.json (any HF fast tokenizer), else GPT-2's byte-level BPE from its
    vocab and merges, built with the `tokenizers` library (stable across transformers 4/5)."""
    if (Path(directory) / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    vocab, merges = vocab_and_merges(directory)
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>")


def vocab_and_merges(directory: str | Path) -> tuple[dict[str, int], list[str]]:
    vocab, merges = tokenizer_paths(directory)
    lines = [l.rstrip("\r") for l in merges.read_text(encoding="utf-8").split("\n")]
    return json.loads(vocab.read_text(encoding="utf-8")), [l for l in lines if l and not l.startswith("#version")]


def copy_tokenizer(directory: str | Path, out: str | Path) -> None:
    """Copies the tokenizer into `out` under the Hugging Face names."""
    d = Path(directory)
    if (d / "tokenizer.json").is_file():
        for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"):
            if (d / name).is_file():
                shutil.copyfile(d / name, Path(out) / name)
        return
    vocab, merges = tokenizer_paths(directory)
    shutil.copyfile(vocab, Path(out) / "vocab.json")
    shutil.copyfile(merges, Path(out) / "merges.txt")

"""stories260K (llama2.c) as a Hugging Face Llama: the converter is exact."""
import json
import subprocess

import pytest
import torch

from conftest import SHARED
from ternary_qat import llama2c

STORIES = SHARED / "models" / "stories260K"


def published_sample() -> str:
    doc = (STORIES / "stories260K.md").read_text()
    start = doc.index("Once upon a time, there was a little girl named Lily.")
    end = doc.index("We can help you.") + len("We can help you.")
    return doc[start:end]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    return llama2c.convert(STORIES / "stories260K.bin", STORIES / "tok512.bin", tmp_path_factory.mktemp("stories") / "hf")


def test_the_converted_model_samples_greedily_what_stories260k_md_publishes(converted):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(converted).eval()
    tokenizer = AutoTokenizer.from_pretrained(converted)
    with torch.no_grad():
        ids = model.generate(torch.tensor([[1]]), max_new_tokens=256, do_sample=False)
    assert tokenizer.decode(ids[0, 1:]).startswith(published_sample())


def test_the_converted_tokenizer_encodes_as_the_engine_reads_tok512_and_tokenizer_json(converted, ternary_bin):
    from transformers import AutoTokenizer

    text = "Once upon a time, Tom's dog ran.\nÜber 你好!  Two  spaces, digits 1234 and a tab\tend."
    hf = AutoTokenizer.from_pretrained(converted)(text, add_special_tokens=False)["input_ids"]

    def engine(tokenizer):
        out = subprocess.run([ternary_bin, "tokenize", "--tokenizer", str(tokenizer), "--ids", "--no-bos", text], capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout)

    assert engine(converted) == hf
    assert engine(STORIES / "tok512.bin") == hf


def test_the_converted_directory_packs_and_the_engine_prints_the_published_sample(converted, ternary_bin, tmp_path):
    packed = tmp_path / "stories.safetensors"
    subprocess.run([ternary_bin, "pack", str(converted), "--weights", "f32", "--embeddings", "f32", "-o", str(packed)], check=True,
                   capture_output=True)
    out = subprocess.run([ternary_bin, "generate", "-m", str(packed), "--temperature", "0", "-n", "256", "--quiet", ""],
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith(published_sample()), out[:300]


def test_a_truncated_checkpoint_is_refused_with_what_it_should_hold(tmp_path):
    cut = tmp_path / "cut.bin"
    cut.write_bytes((STORIES / "stories260K.bin").read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        llama2c.read_checkpoint(cut)
    with pytest.raises(ValueError, match="not a llama2.c checkpoint"):
        llama2c.read_checkpoint(STORIES / "tok512.bin")

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "python"))

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tokenizer_dir() -> Path:
    return SHARED / "gpt2"


@pytest.fixture(scope="session")
def shakespeare() -> Path:
    return SHARED / "text" / "tinyshakespeare" / "input.txt"


@pytest.fixture(scope="session")
def ternary_bin() -> str:
    """The Swift `ternary` executable (built by the README's test command before pytest runs)."""
    path = os.environ.get("TERNARY_BIN") or str(ROOT / ".build" / "debug" / "ternary")
    if not Path(path).is_file():
        pytest.fail(f"Swift binary not found at {path}: run `swift build` first or set TERNARY_BIN")
    return path


def tiny_gpt2(seed=0, n_embd=48, n_layer=2, n_head=4, vocab_size=50257, n_positions=128, **kw):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                        resid_pdrop=0, embd_pdrop=0, attn_pdrop=0, **kw)
    return GPT2LMHeadModel(config).eval()

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


def nearest_rounding_tie(run) -> float:
    """Runs `run()` and returns how close any x·s came to a .5 tie in activation quantization.
    Near a tie, float op order (torch vs NumPy) decides the int8 value, so parity tests avoid it."""
    import numpy as np

    from ternary_qat import semantics

    original, closest = semantics.quantize_activations, [1.0]

    def spy(x):
        x = np.asarray(x, dtype=np.float32)
        v = x * (np.float32(127) / np.maximum(np.abs(x).max(-1, keepdims=True), semantics.ACT_FLOOR))
        closest[0] = min(closest[0], float(np.abs(np.abs(v - np.floor(v)) - 0.5).min()))
        return original(x)

    semantics.quantize_activations = spy
    try:
        run()
    finally:
        semantics.quantize_activations = original
    return closest[0]


def tie_free_ids(forward, vocab: int, length: int, margin: float = 2e-5) -> list[int]:
    import numpy as np

    for seed in range(500):
        ids = np.random.default_rng(seed).integers(0, vocab, size=length).tolist()
        if nearest_rounding_tie(lambda: forward(ids)) > margin:
            return ids
    raise AssertionError("no id sequence without a near rounding tie")

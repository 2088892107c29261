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


def tiny_llama_family(model_type="llama", seed=0, vocab_size=300, hidden_size=64, intermediate_size=96, layers=2, heads=4,
                      kv_heads=2, rms_norm=False, **kw):
    """A random-init tiny LlamaForCausalLM or BitNetForCausalLM, patched by ternary_qat, with
    non-trivial norm weights (so a lost norm would show)."""
    from transformers import BitNetConfig, BitNetForCausalLM, LlamaConfig, LlamaForCausalLM

    from ternary_qat import patch_model

    torch.manual_seed(seed)
    Config, Model = (BitNetConfig, BitNetForCausalLM) if model_type == "bitnet" else (LlamaConfig, LlamaForCausalLM)
    config = Config(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size, num_hidden_layers=layers,
                    num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=64, initializer_range=0.25,
                    bos_token_id=0, eos_token_id=0, pad_token_id=None, **kw)
    model = Model(config).eval()
    patch_model(model, rms_norm=rms_norm)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
    return model


class ServerProcess:
    """`ternary serve` on a free loopback port, for the server tests; stops it on exit."""

    def __init__(self, ternary_bin: str, *args: str, ready: bool = True):
        import re
        import subprocess
        import time
        import urllib.request

        self.process = subprocess.Popen([ternary_bin, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"serve did not start: {line!r} {self.process.stderr.read()}")
        self.url = match.group(1)
        # Read its output as it comes (so a chatty server never blocks on a full pipe).
        import threading

        self.lines: list[str] = []
        for pipe in (self.process.stdout, self.process.stderr):
            threading.Thread(target=lambda p=pipe: self.lines.extend(iter(p.readline, "")), daemon=True).start()
        deadline = time.time() + 120
        while ready and time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except Exception:
                time.sleep(0.05)
        else:
            if ready:
                raise RuntimeError("the model did not load in 120 s")

    def client(self, **kw):
        from openai import OpenAI

        return OpenAI(base_url=self.url + "/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except Exception:
                self.process.kill()
                raise
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

"""GGUF fixtures written by the `gguf` package (llama.cpp's own reader and writer), for the engine's
GGUF reader and exporter tests.

Each fixture is a tiny random model saved twice: as a Hugging Face checkpoint, and as the GGUF that
llama.cpp's converter (or bitnet.cpp's, for I2_S) would write for it. Linear weights are ternary
codes times 2t with exactly half the codes nonzero and t a float16 number, so the packer's absmean
scale of the Hugging Face weights is exactly t and the codes survive: both files hold the same
ternary model, bit for bit, and a GGUF block scale (float16) can hold t exactly.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
LLAMA_VOCAB = SHARED / "llama2" / "ggml-vocab-llama-spm.gguf"
GPT2_VOCAB = SHARED / "gpt2" / "ggml-vocab-gpt-2.gguf"
I2_S = 36  # bitnet.cpp's type number; gguf-py (upstream) does not list it


def ternary_weight(rng: np.random.Generator, rows: int, k: int) -> tuple[np.ndarray, np.float32]:
    """Codes (rows, k) with exactly half nonzero, and their float16-exact scale t."""
    n = rows * k
    codes = np.zeros(n, dtype=np.int8)
    nonzero = rng.permutation(n)[: n // 2]
    codes[nonzero] = rng.choice(np.array([-1, 1], dtype=np.int8), size=n // 2)
    t = np.float32(np.float16(rng.uniform(0.02, 0.08)))
    return codes.reshape(rows, k), t


def llama_style_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a query/key projection in llama.cpp's order: within each head, the two halves that
    Hugging Face's rotate_half pairs become interleaved pairs (llama.cpp's RoPE)."""
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def i2_s_bytes(codes: np.ndarray, scale: np.float32) -> np.ndarray:
    """bitnet.cpp's I2_S: codes 0/1/2 for −1/0/+1 over the flattened (rows, k) tensor, in blocks
    of 128 weights packed into 32 bytes (weight 32·g + p of a block in bits 7−2g and 6−2g of byte
    p), then 32 bytes whose first four hold the float32 scale."""
    q = (codes.reshape(-1) + 1).astype(np.uint8).reshape(-1, 4, 32)
    packed = (q[:, 0] << 6) | (q[:, 1] << 4) | (q[:, 2] << 2) | q[:, 3]
    tail = np.zeros(32, dtype=np.uint8)
    tail[:4] = np.frombuffer(np.float32(scale).tobytes(), dtype=np.uint8)
    return np.concatenate([packed.reshape(-1), tail])


def copy_tokenizer(writer: gguf.GGUFWriter, vocab: Path) -> int:
    """Copies a vocab GGUF's tokenizer.* keys; returns the vocabulary size."""
    reader = gguf.GGUFReader(vocab)
    size = 0
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value = field.contents()
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, value, field.types[0], sub_type=sub)
        if key == "tokenizer.ggml.tokens":
            size = len(value)
    return size


def add_ternary(writer: gguf.GGUFWriter, name: str, codes: np.ndarray, t: np.float32, kind: str) -> None:
    values = codes.astype(np.float32) * t
    if kind == "i2_s":
        writer.add_tensor(name, i2_s_bytes(codes, t).view(np.int8), raw_shape=codes.shape, raw_dtype=I2_S)
    elif kind == "f32":
        writer.add_tensor(name, values)
    else:
        qtype = {"tq1_0": gguf.GGMLQuantizationType.TQ1_0, "tq2_0": gguf.GGMLQuantizationType.TQ2_0}[kind]
        writer.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)


def add_float(writer: gguf.GGUFWriter, name: str, values: np.ndarray, kind: str = "f32") -> None:
    values = np.ascontiguousarray(values, dtype=np.float32)
    if kind == "f32":
        writer.add_tensor(name, values)
    elif kind == "f16":
        writer.add_tensor(name, values.astype(np.float16))
    elif kind == "q6_k":
        rows, k = values.shape
        writer.add_tensor(name, q6_k_blocks(np.random.default_rng(rows), rows, k), raw_dtype=gguf.GGMLQuantizationType.Q6_K)
    else:
        qtype = gguf.GGMLQuantizationType[kind.upper()]
        writer.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)


def q6_k_blocks(rng: np.random.Generator, rows: int, k: int) -> np.ndarray:
    """Random Q6_K bytes in place of a matrix (gguf-py cannot quantize to Q6_K, only read it): any
    ql, qh and scales, with a small positive float16 d."""
    blocks = rows * k // 256
    raw = rng.integers(0, 256, size=(blocks, 210), dtype=np.uint8)
    raw[:, 208:210] = np.full(blocks, np.float16(rng.uniform(1e-4, 1e-3)), dtype=np.float16).view(np.uint8).reshape(blocks, 2)
    return raw.reshape(rows, k // 256 * 210)


def write_llama_family(directory: Path, arch: str, ternary_kind: str, embedding_kind: str = "f16", seed: int = 0,
                       width: int = 256, ffn: int = 512, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                       vocab: int = 32000) -> tuple[Path, Path]:
    """A Llama (`llama`), BitNet (`bitnet`: SiLU, llama.cpp) or BitNet 2B4T (`bitnet-b1.58`: ReLU²,
    bitnet.cpp) model: its Hugging Face directory and its GGUF. With a vocabulary other than the
    Llama 2 one (32000) the GGUF has no tokenizer (quicker fixtures for tests of the weights)."""
    from transformers import BitNetConfig, BitNetForCausalLM, LlamaConfig, LlamaForCausalLM

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    bitnet = arch != "llama"
    common = dict(vocab_size=vocab, hidden_size=width, intermediate_size=ffn, num_hidden_layers=layers, num_attention_heads=heads,
                  num_key_value_heads=kv_heads, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0)
    if bitnet:
        model = BitNetForCausalLM(BitNetConfig(**common, hidden_act="silu" if arch == "bitnet" else "relu2", tie_word_embeddings=True))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    head_size = width // heads
    out = directory / arch
    out.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(out / "model.gguf", arch)
    writer.add_block_count(layers)
    writer.add_context_length(128)
    writer.add_embedding_length(width)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(head_size)
    if vocab == 32000:
        copy_tokenizer(writer, LLAMA_VOCAB)

    embed = state["model.embed_tokens.weight"].numpy()
    add_float(writer, "token_embd.weight", embed, embedding_kind)
    for i in range(layers):
        p = f"model.layers.{i}"
        norms = [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm")]
        if bitnet:
            norms += [("self_attn.attn_sub_norm", "attn_sub_norm"), ("mlp.ffn_sub_norm", "ffn_sub_norm")]
        for hf, g in norms:
            norm = torch.from_numpy(rng.uniform(0.5, 1.5, size=state[f"{p}.{hf}.weight"].shape).astype(np.float32))
            state[f"{p}.{hf}.weight"] = norm
            add_float(writer, f"blk.{i}.{g}.weight", norm.numpy())
        for hf, g in [("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                      ("self_attn.o_proj", "attn_output"), ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"),
                      ("mlp.down_proj", "ffn_down")]:
            rows, k = state[f"{p}.{hf}.weight"].shape
            codes, t = ternary_weight(rng, rows, k)
            state[f"{p}.{hf}.weight"] = torch.from_numpy(codes.astype(np.float32) * (2 * t))
            if arch == "llama" and g in ("attn_q", "attn_k"):
                codes = llama_style_permute(codes, heads if g == "attn_q" else kv_heads)
            add_ternary(writer, f"blk.{i}.{g}.weight", codes, t, ternary_kind)
    final = torch.from_numpy(rng.uniform(0.5, 1.5, size=width).astype(np.float32))
    state["model.norm.weight"] = final
    add_float(writer, "output_norm.weight", final.numpy())
    if not bitnet:
        add_float(writer, "output.weight", state["lm_head.weight"].numpy(), embedding_kind)
    model.load_state_dict(state)
    model.save_pretrained(out / "hf")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out / "hf", out / "model.gguf"


def write_gpt2(directory: Path, ternary_kind: str, embedding_kind: str = "f16", seed: int = 0,
               width: int = 256, layers: int = 2, heads: int = 4) -> tuple[Path, Path]:
    """A GPT-2 as llama.cpp's converter writes it (Conv1D weights transposed to (out, in))."""
    from transformers import GPT2Config, GPT2LMHeadModel

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=50257, n_positions=128, n_embd=width, n_layer=layers, n_head=heads))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    out = directory / "gpt2"
    out.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(out / "model.gguf", "gpt2")
    writer.add_block_count(layers)
    writer.add_context_length(128)
    writer.add_embedding_length(width)
    writer.add_feed_forward_length(4 * width)
    writer.add_head_count(heads)
    writer.add_layer_norm_eps(1e-5)
    copy_tokenizer(writer, GPT2_VOCAB)
    add_float(writer, "token_embd.weight", state["transformer.wte.weight"].numpy(), embedding_kind)
    add_float(writer, "position_embd.weight", state["transformer.wpe.weight"].numpy())
    for i in range(layers):
        p = f"transformer.h.{i}"
        for hf, g in [("ln_1", "attn_norm"), ("ln_2", "ffn_norm")]:
            for part in ("weight", "bias"):
                values = torch.from_numpy(rng.uniform(0.5, 1.5, size=width).astype(np.float32) - (0 if part == "weight" else 1))
                state[f"{p}.{hf}.{part}"] = values
                add_float(writer, f"blk.{i}.{g}.{part}", values.numpy())
        for hf, g in [("attn.c_attn", "attn_qkv"), ("attn.c_proj", "attn_output"), ("mlp.c_fc", "ffn_up"), ("mlp.c_proj", "ffn_down")]:
            k, rows = state[f"{p}.{hf}.weight"].shape  # Conv1D: (in, out)
            codes, t = ternary_weight(rng, rows, k)
            state[f"{p}.{hf}.weight"] = torch.from_numpy((codes.astype(np.float32) * (2 * t)).T.copy())
            add_ternary(writer, f"blk.{i}.{g}.weight", codes, t, ternary_kind)
            bias = torch.from_numpy(rng.normal(0, 0.02, size=rows).astype(np.float32))
            state[f"{p}.{hf}.bias"] = bias
            add_float(writer, f"blk.{i}.{g}.bias", bias.numpy())
    for part in ("weight", "bias"):
        add_float(writer, f"output_norm.{part}", state[f"transformer.ln_f.{part}"].numpy())
    model.load_state_dict(state)
    model.save_pretrained(out / "hf")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out / "hf", out / "model.gguf"

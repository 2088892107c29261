"""llama2.c checkpoints (run.c's legacy `.bin`, e.g. stories260K) and tokenizers (`tok512.bin`) as a
Hugging Face LlamaForCausalLM directory with a tokenizer.json, exactly:

    python -m ternary_qat.llama2c stories260K.bin tok512.bin -o stories260K-hf/

The `.bin` layout: seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size —
negative when the classifier is not shared — and seq_len), then float32 tensors in run.c's order
(embeddings, attention norms, wq, wk, wv, wo, FFN norms, w1, w2, w3, final norm, two unused RoPE
tables, the classifier if not shared). llama2.c rotates interleaved pairs (2i, 2i+1); transformers'
Llama rotates halves (i, i + d/2), so q and k rows are permuted per head as Meta → HF conversion does.

The tokenizer: int32 max_token_length, then per token a float32 score, an int32 length and the
UTF-8 piece (spaces for SentencePiece's ▁; `<0xNN>` byte tokens). Its encoder merges the adjacent
pair whose union has the best score; as a BPE model that is one merge per split of each piece,
ranked by that piece's score.
"""
from __future__ import annotations

import argparse
import struct
from pathlib import Path

import numpy as np
import torch

SPACE = "\u2581"


def read_checkpoint(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(LlamaConfig fields, state dict under transformers' names)."""
    data = Path(path).read_bytes()
    if len(data) < 28:
        raise ValueError(f"{path}: {len(data)} bytes, shorter than a llama2.c header (28)")
    dim, hidden, layers, heads, kv_heads, signed_vocab, seq_len = struct.unpack("<7i", data[:28])
    vocab, shared = abs(signed_vocab), signed_vocab > 0
    if min(dim, hidden, layers, heads, kv_heads, vocab, seq_len) < 1 or dim % heads or heads % kv_heads:
        raise ValueError(f"{path}: not a llama2.c checkpoint (header {dim, hidden, layers, heads, kv_heads, signed_vocab, seq_len})")
    head = dim // heads
    floats = np.frombuffer(data, dtype="<f4", offset=28)
    at = 0

    def take(*shape: int) -> np.ndarray:
        nonlocal at
        n = int(np.prod(shape))
        if at + n > floats.size:
            raise ValueError(f"{path}: truncated ({len(data)} bytes) for a model of dim {dim}, {layers} layers")
        out = floats[at:at + n].reshape(shape).copy()
        at += n
        return out

    def rope_halves(w: np.ndarray, n_heads: int) -> np.ndarray:
        """Rows of each head from interleaved pairs to halves: (h, d/2, 2, in) → (h, 2, d/2, in)."""
        return w.reshape(n_heads, head // 2, 2, -1).transpose(0, 2, 1, 3).reshape(w.shape)

    state: dict[str, np.ndarray] = {"model.embed_tokens.weight": take(vocab, dim)}
    per_layer = [("input_layernorm.weight", (dim,)), ("self_attn.q_proj.weight", (dim, dim)),
                 ("self_attn.k_proj.weight", (kv_heads * head, dim)), ("self_attn.v_proj.weight", (kv_heads * head, dim)),
                 ("self_attn.o_proj.weight", (dim, dim)), ("post_attention_layernorm.weight", (dim,)),
                 ("mlp.gate_proj.weight", (hidden, dim)), ("mlp.down_proj.weight", (dim, hidden)), ("mlp.up_proj.weight", (hidden, dim))]
    for name, shape in per_layer:  # run.c stores each tensor kind for all layers together
        for layer in range(layers):
            w = take(*shape)
            if name == "self_attn.q_proj.weight":
                w = rope_halves(w, heads)
            elif name == "self_attn.k_proj.weight":
                w = rope_halves(w, kv_heads)
            state[f"model.layers.{layer}.{name}"] = w
    state["model.norm.weight"] = take(dim)
    take(seq_len * head // 2)  # freq_cis_real
    take(seq_len * head // 2)  # freq_cis_imag
    if not shared:
        state["lm_head.weight"] = take(vocab, dim)
    if at != floats.size:
        raise ValueError(f"{path}: {4 * (floats.size - at)} bytes past the tensors its header describes")
    config = {"vocab_size": vocab, "hidden_size": dim, "intermediate_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads, "max_position_embeddings": seq_len,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": shared,
              "bos_token_id": 1, "eos_token_id": 2, "attention_bias": False, "mlp_bias": False}
    return config, {k: torch.from_numpy(v) for k, v in state.items()}


def read_tokenizer(path: str | Path, vocab_size: int) -> tuple[list[str], list[float]]:
    data = Path(path).read_bytes()
    pieces, scores, at = [], [], 4
    for i in range(vocab_size):
        if at + 8 > len(data):
            raise ValueError(f"{path}: ends at token {i} of {vocab_size}")
        score, length = struct.unpack_from("<fi", data, at)
        at += 8
        if length < 0 or at + length > len(data):
            raise ValueError(f"{path}: token {i} has length {length} past the end")
        pieces.append(data[at:at + length].decode("utf-8"))
        scores.append(score)
        at += length
    return pieces, scores


def hf_tokenizer(pieces: list[str], scores: list[float]):
    """The same tokenizer as a `tokenizers` BPE with byte fallback, in Llama's tokenizer.json form (BOS before
    a sequence, as run.c encodes a prompt)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    names = list(pieces)
    names[0], names[1], names[2] = "<unk>", "<s>", "</s>"  # llama2.c writes BOS/EOS as "\n<s>\n", "\n</s>\n"
    names = [n if i < 3 or n.startswith("<0x") else n.replace(" ", SPACE) for i, n in enumerate(names)]
    vocab = {n: i for i, n in enumerate(names)}
    merges = []
    for i, piece in enumerate(names):
        if i < 3 or piece.startswith("<0x") or len(piece) < 2:
            continue
        for k in range(1, len(piece)):
            a, b = piece[:k], piece[k:]
            if a in vocab and b in vocab:
                merges.append((-scores[i], i, vocab[a], (a, b)))
    merges = [m[-1] for m in sorted(merges)]
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    bpe.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE), normalizers.Replace(" ", SPACE)])
    bpe.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    bpe.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])  # run.c's BOS
    return PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def convert(checkpoint: str | Path, tokenizer: str | Path, out: str | Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    fields, state = read_checkpoint(checkpoint)
    model = LlamaForCausalLM(LlamaConfig(**fields))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if m != "lm_head.weight"]:
        raise ValueError(f"{checkpoint}: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    out = Path(out)
    model.save_pretrained(out)
    hf_tokenizer(*read_tokenizer(tokenizer, fields["vocab_size"])).save_pretrained(out)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("tokenizer")
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args(argv)
    print(convert(a.checkpoint, a.tokenizer, a.out))


if __name__ == "__main__":
    main()

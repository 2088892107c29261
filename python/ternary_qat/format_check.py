"""A strict reader of docs/FORMAT.md, written from the document alone (not from the Swift reader),
so that the two can check each other: `check_packed` lists every way a file breaks the format.

    python -m ternary_qat.format_check model.safetensors
"""
from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

from . import manifest as M
from .semantics import BLOCK_WEIGHTS, GROUP_WEIGHTS, GROUPED_OFFSETS, base3_padded_length, padded_length, unpack_base3, unpack_grouped

DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1}
MATRIX_DTYPES = {"U32": "ternary", "U8": "t1.6", "I8": "int8", "F32": "f32", "F16": "f16", "BF16": "bf16"}  # files without matrix_formats
FORMAT_DTYPES = dict({v: k for k, v in MATRIX_DTYPES.items()}, q4="U8", q6="U8")
TENSOR_KEYS = {"dtype", "shape", "data_offsets"}
QUANTIZATION_KEYS = {"activations", "block", "embeddings", "rms_norm", "rms_norm_eps", "weights"}
ARCHITECTURES = ("gpt2", "llama", "bitnet", "mamba2")


class FormatViolation(ValueError):
    pass


def _strict_json(text: str, what: str, allow_non_finite: bool = False):
    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise FormatViolation(f"{what}: a key appears twice")
        return dict(items)

    def constant(name):
        if not allow_non_finite:
            raise FormatViolation(f"{what}: {name} is not JSON")
        return float(name)

    def number(text):
        value = float(text)
        if not math.isfinite(value) and not allow_non_finite:
            raise FormatViolation(f"{what}: {text} is out of range")
        return value

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as e:
        raise FormatViolation(f"{what}: not valid JSON ({e})") from None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_header(data: bytes) -> tuple[dict, dict, int]:
    """(metadata, tensors, data start) after the safetensors-level checks."""
    if len(data) < 8:
        raise FormatViolation(f"file of {len(data)} bytes has no header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise FormatViolation(f"header length {n} exceeds the file")
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise FormatViolation("header is not UTF-8") from None
    header = _strict_json(text, "header")
    if not isinstance(header, dict):
        raise FormatViolation("header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatViolation("__metadata__ is not an object of strings")
    data_len = len(data) - 8 - n
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != TENSOR_KEYS:
            raise FormatViolation(f"tensor {name!r}: expected exactly {sorted(TENSOR_KEYS)}")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise FormatViolation(f"tensor {name!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise FormatViolation(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
            raise FormatViolation(f"tensor {name!r}: data_offsets {offsets!r} is not two integers")
        begin, end = offsets
        if not 0 <= begin <= end <= data_len:
            raise FormatViolation(f"tensor {name!r}: data_offsets {offsets} outside the data section of {data_len} bytes")
        if end - begin != math.prod(shape) * DTYPE_SIZES[dtype]:
            raise FormatViolation(f"tensor {name!r}: {end - begin} bytes for shape {shape} of {dtype}")
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise FormatViolation(f"tensor {name!r} starts at {begin}, expected {position} (a gap or an overlap)")
        position = end
    if position != data_len:
        raise FormatViolation(f"tensors end at {position}, the data section at {data_len}")
    return metadata, header, 8 + n


def _array(data: bytes, start: int, entry: dict) -> np.ndarray:
    begin, end = entry["data_offsets"]
    raw = data[start + begin:start + end]
    dtype = entry["dtype"]
    if dtype == "BF16":
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])
    numpy_dtype = {"F32": "<f4", "F16": "<f2", "I8": "i1", "U32": "<u4", "U8": "u1", "I32": "<i4", "U16": "<u2",
                   "F64": "<f8", "I64": "<i8", "I16": "<i2", "U64": "<u8", "BOOL": "u1"}[dtype]
    return np.frombuffer(raw, numpy_dtype).reshape(entry["shape"])


MAX_DIMENSION, MAX_LAYERS = 1 << 24, 1024
FLOAT32_MAX = float(np.finfo(np.float32).max)
GPT2_ACTIVATIONS = ("gelu_new", "gelu_pytorch_tanh", "gelu", "relu")
LLAMA_ACTIVATIONS = ("silu", "swish", "relu2", "relu", "gelu", "gelu_new", "gelu_pytorch_tanh")
FORMAT_NAMES = ("ternary", "t1.6", "int8", "f32", "f16", "bf16", "q4", "q6")


def _positive_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _check_config(architecture: str, config: dict) -> None:
    """docs/FORMAT.md: every key of the architecture (the packed form holds them all), nothing else."""
    if not isinstance(config, dict):
        raise FormatViolation("config is not a JSON object")
    if architecture == "mamba2":
        return _check_mamba2_config(config)
    if architecture == "gpt2":
        ints = ("n_embd", "n_head", "n_inner", "n_layer", "n_positions", "vocab_size")
        required = set(ints) | {"activation_function", "layer_norm_epsilon"}
        optional = set()
    else:
        ints = ("head_dim", "hidden_size", "intermediate_size", "max_position_embeddings", "num_attention_heads",
                "num_hidden_layers", "num_key_value_heads", "vocab_size")
        required = set(ints) | {"attention_bias", "hidden_act", "mlp_bias", "partial_rotary_factor", "rms_norm_eps",
                                "rope_style", "rope_theta", "tie_word_embeddings"}
        optional = {"rope_scaling"}
    missing, extra = sorted(required - set(config)), sorted(set(config) - required - optional)
    if missing or extra:
        raise FormatViolation(f"config lacks {missing} / has unknown keys {extra}")
    for key in ints:
        limit = MAX_LAYERS if "layer" in key else MAX_DIMENSION
        if not _is_int(config[key]) or not 1 <= config[key] <= limit:
            raise FormatViolation(f"config {key} = {config[key]!r} is not an integer in 1…{limit}")
    if architecture == "gpt2":
        if config["n_embd"] % config["n_head"]:
            raise FormatViolation("config n_embd is not a multiple of n_head")
        if config["activation_function"] not in GPT2_ACTIVATIONS:
            raise FormatViolation(f"config activation_function {config['activation_function']!r} is not one of {GPT2_ACTIVATIONS}")
        if not isinstance(config["layer_norm_epsilon"], float) or not _positive_number(config["layer_norm_epsilon"]):
            raise FormatViolation("config layer_norm_epsilon is not a positive number")
        return
    if config["num_attention_heads"] % config["num_key_value_heads"]:
        raise FormatViolation("config num_attention_heads is not a multiple of num_key_value_heads")
    for key in ("attention_bias", "mlp_bias", "tie_word_embeddings"):
        if not isinstance(config[key], bool):
            raise FormatViolation(f"config {key} is not a boolean")
    if config["hidden_act"] not in LLAMA_ACTIVATIONS:
        raise FormatViolation(f"config hidden_act {config['hidden_act']!r} is not one of {LLAMA_ACTIVATIONS}")
    if config["rope_style"] not in ("neox", "gptj"):
        raise FormatViolation(f"config rope_style {config['rope_style']!r} is not neox or gptj")
    for key in ("partial_rotary_factor", "rms_norm_eps", "rope_theta"):
        if not isinstance(config[key], float) or not _positive_number(config[key]):
            raise FormatViolation(f"config {key} = {config[key]!r} is not a positive number (written with a fraction)")
    if config["rope_theta"] <= 1:
        raise FormatViolation("config rope_theta is not above 1")
    factor = config["partial_rotary_factor"]
    if factor > 1 or int(config["head_dim"] * factor) // 2 * 2 < 2:
        raise FormatViolation(f"config partial_rotary_factor {factor} is not in (0, 1] or rotates no pair")
    if "rope_scaling" in config:
        scaling = config["rope_scaling"]
        kind = isinstance(scaling, dict) and (scaling.get("rope_type") or scaling.get("type"))
        keys = {"linear": ("factor",), "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}
        if kind not in keys or not all(_positive_number(scaling.get(k)) for k in keys[kind]):
            raise FormatViolation(f"config rope_scaling {scaling!r} is not linear or llama3 with positive numbers")


MAMBA2_INTS = ("conv_kernel", "expand", "head_dim", "hidden_size", "n_groups", "num_heads", "num_hidden_layers", "state_size", "vocab_size")
MAMBA2_BOOLS = ("bitmamba", "tie_word_embeddings", "use_bias", "use_conv_bias")


def _check_mamba2_config(config: dict) -> None:
    required = set(MAMBA2_INTS) | set(MAMBA2_BOOLS) | {"hidden_act", "layer_norm_epsilon", "time_step_limit"}
    missing, extra = sorted(required - set(config)), sorted(set(config) - required)
    if missing or extra:
        raise FormatViolation(f"config lacks {missing} / has unknown keys {extra}")
    for key in MAMBA2_INTS:
        limit = MAX_LAYERS if "layer" in key else 16 if key == "conv_kernel" else MAX_DIMENSION
        if not _is_int(config[key]) or not 1 <= config[key] <= limit:
            raise FormatViolation(f"config {key} = {config[key]!r} is not an integer in 1…{limit}")
    for key in MAMBA2_BOOLS:
        if not isinstance(config[key], bool):
            raise FormatViolation(f"config {key} is not a boolean")
    if config["num_heads"] * config["head_dim"] != config["expand"] * config["hidden_size"]:
        raise FormatViolation("config num_heads × head_dim is not expand × hidden_size")
    if config["num_heads"] % config["n_groups"]:
        raise FormatViolation("config num_heads is not a multiple of n_groups")
    if config["hidden_act"] not in ("silu", "swish"):
        raise FormatViolation(f"config hidden_act {config['hidden_act']!r} is not silu")
    if not isinstance(config["layer_norm_epsilon"], float) or not _positive_number(config["layer_norm_epsilon"]):
        raise FormatViolation("config layer_norm_epsilon is not a positive number (written with a fraction)")
    limit = config["time_step_limit"]
    if not (isinstance(limit, list) and len(limit) == 2 and all(isinstance(v, float) and math.isfinite(v) for v in limit)
            and 0 <= limit[0] <= limit[1] <= FLOAT32_MAX):
        raise FormatViolation(f"config time_step_limit {limit!r} is not [min, max] with 0 ≤ min ≤ max ≤ the largest float32")
    if config["bitmamba"] and config["tie_word_embeddings"]:
        raise FormatViolation("config tie_word_embeddings is true with bitmamba (BitMamba-2 has its own ternary head)")


SPEC_KEYS = {"pieces", "kinds", "merges", "ignore_merges", "normalizer", "pre_tokenizer", "strip_leading_space", "added",
             "prefix", "suffix", "bos", "eos", "stop", "chat_template", "symbols", "decoding"}
NORMALIZERS = {"Sequence", "Prepend", "Replace", "Lowercase"}
PRE_TOKENIZERS = {"Sequence", "ByteLevel", "Split", "Digits", "Metaspace"}


def _check_component(value, types: set, what: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") not in types:
        raise FormatViolation(f"tokenizer.spec {what} {str(value)[:60]} is not one of {sorted(types)}")
    if value["type"] == "Sequence":
        inner = value.get("normalizers" if what == "normalizer" else "pretokenizers")
        if not isinstance(inner, list):
            raise FormatViolation(f"tokenizer.spec {what} Sequence holds no list")
        for item in inner:
            _check_component(item, types, what)


def _check_spec_fields(spec: dict, count: int) -> None:
    """The stored form of a ternary-pipeline tokenizer: exactly its keys, each of its type."""
    keys = SPEC_KEYS | ({"priorities"} & set(spec)) | ({"byte_fallback", "unknown"} if spec.get("symbols") == "characters" else set())
    if set(spec) != keys:
        raise FormatViolation(f"tokenizer.spec keys differ from the stored form: {sorted(set(spec) ^ keys)}")
    for key in ("ignore_merges", "strip_leading_space") + (("byte_fallback",) if "byte_fallback" in spec else ()):
        if not isinstance(spec[key], bool):
            raise FormatViolation(f"tokenizer.spec {key} is not a boolean")
    if spec["symbols"] not in ("byte-level", "characters"):
        raise FormatViolation("tokenizer.spec symbols is not byte-level or characters")
    if spec.get("unknown") is not None and not (_is_int(spec["unknown"]) and 0 <= spec["unknown"] < count):
        raise FormatViolation("tokenizer.spec unknown is not an id in the vocabulary")
    decoding = spec["decoding"]
    if not (decoding == {"type": "byte-level"} or (isinstance(decoding, dict) and set(decoding) == {"type", "space"}
                                                    and decoding["type"] == "pieces" and isinstance(decoding["space"], str))):
        raise FormatViolation(f"tokenizer.spec decoding {decoding!r} is not byte-level or pieces")
    if spec["chat_template"] is not None and not isinstance(spec["chat_template"], str):
        raise FormatViolation("tokenizer.spec chat_template is not a string or null")
    if "priorities" in spec and not (isinstance(spec["priorities"], list) and len(spec["priorities"]) * 3 == len(spec["merges"])
                                     and all(isinstance(p, float) and math.isfinite(p) for p in spec["priorities"])):
        raise FormatViolation("tokenizer.spec priorities is not one finite number (written with a fraction) per merge")
    _check_component(spec["normalizer"], NORMALIZERS, "normalizer")
    _check_component(spec["pre_tokenizer"], PRE_TOKENIZERS, "pre_tokenizer")
    for token in spec["added"] if isinstance(spec["added"], list) else [None]:
        if not (isinstance(token, dict) and set(token) == {"content", "id", "special", "lstrip", "rstrip"}
                and all(isinstance(token[k], bool) for k in ("special", "lstrip", "rstrip"))):
            raise FormatViolation(f"tokenizer.spec added token {token!r} is not content, id, special, lstrip, rstrip")


def _byte_symbols() -> list[str]:
    """GPT-2's byte → printable character map (bytes_to_unicode)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def _check_byte_level(pieces) -> None:
    missing = [s for s in _byte_symbols() if s not in pieces]
    if missing:
        raise FormatViolation(f"a byte-level vocabulary lacks the byte symbol {missing[0]!r} (it needs all 256)")


def _check_tokenizer(metadata: dict, vocab_size: int) -> None:
    model = metadata.get("tokenizer.model")
    keys = {k for k in metadata if k.startswith("tokenizer.")}
    if model is None:
        if keys:
            raise FormatViolation(f"tokenizer keys {sorted(keys)} without tokenizer.model")
        return
    if model == "gpt2-bpe":
        if keys != {"tokenizer.model", "tokenizer.vocab", "tokenizer.merges"}:
            raise FormatViolation(f"gpt2-bpe tokenizer keys are {sorted(keys)}")
        vocab = _strict_json(metadata["tokenizer.vocab"], "tokenizer.vocab")
        if not isinstance(vocab, dict) or not all(_is_int(i) for i in vocab.values()):
            raise FormatViolation("tokenizer.vocab is not an object of token → integer id")
        ids = sorted(vocab.values())
        if ids != list(range(len(ids))):
            raise FormatViolation("tokenizer.vocab ids are not 0…n−1, each once")
        if metadata["tokenizer.vocab"] != json.dumps(vocab, sort_keys=True, separators=(",", ":"), ensure_ascii=False):
            raise FormatViolation("tokenizer.vocab is not canonical JSON")
        pieces = set(vocab)
        _check_byte_level(pieces)
        for number, line in enumerate(metadata["tokenizer.merges"].split("\n"), 1):
            parts = line.split(" ")
            if len(parts) != 2 or parts[0] + parts[1] not in pieces or not set(parts) <= pieces:
                raise FormatViolation(f"tokenizer.merges line {number} {line!r} is not two tokens whose join is a token")
        count = len(ids)
    elif model == "ternary-pipeline":
        if keys != {"tokenizer.model", "tokenizer.spec"}:
            raise FormatViolation(f"ternary-pipeline tokenizer keys are {sorted(keys)}")
        spec = _strict_json(metadata["tokenizer.spec"], "tokenizer.spec")
        if not isinstance(spec, dict):
            raise FormatViolation("tokenizer.spec is not an object")
        pieces, kinds, merges = spec.get("pieces"), spec.get("kinds"), spec.get("merges")
        if not isinstance(pieces, list) or not all(isinstance(p, str) for p in pieces) or not pieces:
            raise FormatViolation("tokenizer.spec pieces is not a non-empty list of strings")
        if not isinstance(kinds, list) or len(kinds) != len(pieces) or not all(_is_int(k) and 1 <= k <= 6 for k in kinds):
            raise FormatViolation("tokenizer.spec kinds is not one token type 1…6 per piece")
        count = len(pieces)
        if not isinstance(merges, list) or len(merges) % 3 or not all(_is_int(i) and 0 <= i < count for i in merges):
            raise FormatViolation("tokenizer.spec merges is not id triples inside the vocabulary")
        for key in ("bos", "eos"):
            if spec.get(key) is not None and not (_is_int(spec[key]) and 0 <= spec[key] < count):
                raise FormatViolation(f"tokenizer.spec {key} is not an id in the vocabulary")
        for key in ("prefix", "suffix", "stop"):
            if key in spec and not (isinstance(spec[key], list) and all(_is_int(i) and 0 <= i < count for i in spec[key])):
                raise FormatViolation(f"tokenizer.spec {key} holds an id outside the vocabulary")
        _check_spec_fields(spec, count)
        if spec["symbols"] == "byte-level":
            _check_byte_level(set(pieces))
        for token in spec.get("added") or []:
            if not (isinstance(token, dict) and _is_int(token.get("id")) and 0 <= token["id"] < count
                    and isinstance(token.get("content"), str) and token["content"]):
                raise FormatViolation(f"tokenizer.spec added token {token!r} is not content + an id in the vocabulary")
    else:
        raise FormatViolation(f"tokenizer.model {model!r} is not gpt2-bpe or ternary-pipeline")
    if count > vocab_size:
        raise FormatViolation(f"the tokenizer has {count} tokens, the model's vocabulary {vocab_size}")


def _check_matrix(data: bytes, start: int, tensors: dict, spec: M.TensorSpec, expected: dict, formats: dict | None) -> None:
    rows, k = spec.shape
    name = f"{spec.name}.weight"
    entry = tensors.get(name)
    if entry is None:
        raise FormatViolation(f"missing tensor {name!r}")
    if formats is None:
        fmt = MATRIX_DTYPES.get(entry["dtype"])
        if fmt is None:
            raise FormatViolation(f"{name}: dtype {entry['dtype']} is no matrix format")
    else:
        fmt = formats.get(spec.name)
        if fmt is None:
            raise FormatViolation(f"matrix_formats names no format for {spec.name!r}")
    kp, kp3 = padded_length(k), base3_padded_length(k)
    shape = {"ternary": [rows, kp // 16], "t1.6": [rows, kp3 // 5], "int8": [rows, kp],
             "q4": [rows, kp // 2], "q6": [rows, kp * 3 // 4]}.get(fmt, [rows, k])
    expected[name] = (FORMAT_DTYPES[fmt], shape)
    if fmt in ("ternary", "t1.6"):
        expected[f"{spec.name}.weight_scale"] = ("F32", [1])
    elif fmt == "int8":
        expected[f"{spec.name}.scale"] = ("F32", [rows])
    elif fmt in GROUPED_OFFSETS:
        expected[f"{spec.name}.group_scale"] = ("F16", [rows, kp // GROUP_WEIGHTS])
    if entry["dtype"] != FORMAT_DTYPES[fmt]:
        return  # reported with the other dtypes
    if entry["shape"] != shape:
        return  # reported with the other shapes
    values = _array(data, start, entry)
    if fmt == "ternary":
        raw = values.view(np.uint8).reshape(rows, kp // BLOCK_WEIGHTS, 16)
        codes = np.stack([(raw >> (2 * t)) & 3 for t in range(4)], axis=2).reshape(rows, kp)  # positions 16t + j
        if (codes == 3).any():
            raise FormatViolation(f"{name}: holds the code 3")
        if (codes[:, k:] != 1).any():
            raise FormatViolation(f"{name}: padding is not code 1")
    elif fmt == "t1.6":
        if (values > 242).any():
            raise FormatViolation(f"{name}: holds a byte above 242 (five base-3 digits)")
        if (unpack_base3(values, kp3)[:, k:] != 0).any():
            raise FormatViolation(f"{name}: padding is not code 1")
    elif fmt == "int8":
        if (values == -128).any():
            raise FormatViolation(f"{name}: holds −128")
        if (values[:, k:] != 0).any():
            raise FormatViolation(f"{name}: padding is not zero")
    elif fmt in GROUPED_OFFSETS:
        if (unpack_grouped(values, kp, fmt)[:, k:] != GROUPED_OFFSETS[fmt]).any():
            raise FormatViolation(f"{name}: padding is not weight 0 (code {GROUPED_OFFSETS[fmt]})")


def check_packed(path: str | Path) -> None:
    """Raises FormatViolation naming the first rule of docs/FORMAT.md the file breaks."""
    data = Path(path).read_bytes()
    metadata, tensors, start = read_header(data)
    if metadata.get("format") != "ternary" or metadata.get("format_version") != "1":
        raise FormatViolation("format / format_version is not ternary / 1")
    architecture = metadata.get("architecture")
    if architecture not in ARCHITECTURES:
        raise FormatViolation(f"architecture {architecture!r} is not one of {ARCHITECTURES}")
    config = _strict_json(metadata.get("config", ""), "config")
    _check_config(architecture, config)
    if metadata["config"] != json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False):
        raise FormatViolation("config is not canonical JSON")
    quantization = _strict_json(metadata.get("quantization", ""), "quantization")
    if not isinstance(quantization, dict) or not QUANTIZATION_KEYS <= set(quantization):
        raise FormatViolation(f"quantization lacks one of {sorted(QUANTIZATION_KEYS)}")
    if set(quantization) != QUANTIZATION_KEYS or quantization["activations"] != "int8-absmax-per-token" \
            or not _is_int(quantization["block"]) or quantization["block"] != BLOCK_WEIGHTS or not isinstance(quantization["rms_norm"], bool) \
            or quantization["embeddings"] not in FORMAT_NAMES \
            or quantization["weights"] not in ("ternary-absmean-per-tensor",) + FORMAT_NAMES[1:]:
        raise FormatViolation(f"quantization {quantization!r} is not the format's")
    if metadata["quantization"] != json.dumps(quantization, sort_keys=True, separators=(",", ":"), ensure_ascii=False):
        raise FormatViolation("quantization is not canonical JSON")
    eps = quantization["rms_norm_eps"]
    if not isinstance(eps, float) or not _positive_number(eps):
        raise FormatViolation("quantization rms_norm_eps is not a positive number written with a fraction")
    _check_tokenizer(metadata, config["vocab_size"])
    formats = None
    if "matrix_formats" in metadata:
        formats = _strict_json(metadata["matrix_formats"], "matrix_formats")
        if not isinstance(formats, dict) or any(f not in FORMAT_NAMES for f in formats.values()):
            raise FormatViolation(f"matrix_formats is not an object of format names ({', '.join(FORMAT_NAMES)})")
        if metadata["matrix_formats"] != json.dumps(formats, sort_keys=True, separators=(",", ":"), ensure_ascii=False):
            raise FormatViolation("matrix_formats is not canonical JSON")

    expected: dict[str, tuple[str, list]] = {}
    specs = M.manifest(architecture, config, rms_norm=quantization["rms_norm"])
    matrices = {spec.name for spec in specs if spec.kind in ("linear", "embedding")}
    if formats is not None and set(formats) - matrices:
        raise FormatViolation(f"matrix_formats names matrices the architecture does not have: {sorted(set(formats) - matrices)[:5]}")
    for spec in specs:
        if spec.kind in ("linear", "embedding"):
            _check_matrix(data, start, tensors, spec, expected, formats)
        elif spec.kind == "table":
            dtype = tensors.get(spec.name, {}).get("dtype")
            expected[spec.name] = (dtype if dtype in ("F32", "F16") else "F32", list(spec.shape))
        else:
            expected[spec.name] = ("F32", list(spec.shape))
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise FormatViolation(f"tensors the architecture does not have: {extra[:5]}")
    for name, (dtype, shape) in expected.items():
        entry = tensors.get(name)
        if entry is None:
            raise FormatViolation(f"missing tensor {name!r}")
        if entry["dtype"] != dtype or entry["shape"] != shape:
            raise FormatViolation(f"{name}: {entry['dtype']} {entry['shape']}, expected {dtype} {shape}")
        if dtype in ("F32", "F16", "BF16") and not np.isfinite(_array(data, start, entry)).all():
            raise FormatViolation(f"{name}: holds NaN or infinity")
        if name.endswith(("weight_scale", ".scale")) and not (_array(data, start, entry) > 0).all():
            raise FormatViolation(f"{name}: a scale is not positive")
        if name.endswith(".mixer.A_log"):
            with np.errstate(over="ignore"):
                if not np.isfinite(np.exp(_array(data, start, entry).astype(np.float32))).all():
                    raise FormatViolation(f"{name}: exp(A_log) is not a finite float32")


def main(argv=None) -> int:
    status = 0
    for path in argv if argv is not None else sys.argv[1:]:
        try:
            check_packed(path)
            print(f"{path}: ok")
        except FormatViolation as e:
            print(f"{path}: {e}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())

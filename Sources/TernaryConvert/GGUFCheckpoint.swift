import TernaryFormat
import TernaryModels
import TernaryTokenizer

/// A GGUF model file (llama.cpp's and bitnet.cpp's), read as a Hugging Face checkpoint of the same
/// architecture: its metadata becomes a config.json, its tensors answer to Hugging Face's names, and
/// its ternary tensors (TQ1_0, TQ2_0, I2_S) keep their codes and scale exactly.
///
/// Architectures: llama.cpp's `gpt2`, `llama` and `bitnet` (1bitLLM's BitNet b1.58: SiLU gate, head
/// tied to the embeddings), bitnet.cpp's `bitnet-b1.58` and `bitnet-25` (BitNet b1.58 2B4T: squared
/// ReLU). llama.cpp stores a Llama's query and key rows permuted for its interleaved RoPE, so a
/// `llama` file runs with `rope_style` gptj; the BitNet files keep Hugging Face's order (neox).
public final class GGUFCheckpoint: TensorSource {
    public let file: GGUFFile
    public var path: String { file.path }
    /// The GGUF `general.architecture`.
    public let ggufArchitecture: String
    /// This engine's architecture for it.
    public let architecture: Architecture
    /// The config as a Hugging Face config.json would write it.
    public let config: JSONValue
    private let tensorsByName: [String: GGUFFile.TensorInfo]
    private var consumed = Set<String>()

    /// GGUF architecture → (our model_type, hidden_act for the Llama family).
    static let supported: [String: (modelType: String, activation: String?)] = [
        "gpt2": ("gpt2", nil), "llama": ("llama", "silu"), "bitnet": ("bitnet", "silu"),
        "bitnet-b1.58": ("bitnet", "relu2"), "bitnet-25": ("bitnet", "relu2"),
    ]

    public init(path: String) throws {
        file = try GGUFFile(path: path)
        let m = file.metadata
        guard let arch = m["general.architecture"]?.string else { throw FormatError.missingMetadata(path: path, key: "general.architecture") }
        guard let (modelType, activation) = Self.supported[arch], let architecture = ModelRegistry.architecture(modelType: modelType) else {
            throw ConvertError.badConfig(path: path, reason: "GGUF architecture '\(arch)' is not one this engine runs (\(Self.supported.keys.sorted().joined(separator: ", ")))")
        }
        ggufArchitecture = arch
        self.architecture = architecture
        tensorsByName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func integer(_ key: String) throws -> Int {
            guard let value = m["\(arch).\(key)"] else { throw FormatError.missingMetadata(path: path, key: "\(arch).\(key)") }
            guard let n = value.integer, n > 0 else { throw FormatError.badMetadata(path: path, key: "\(arch).\(key)", reason: "must be a positive integer") }
            return n
        }
        func number(_ key: String) throws -> Double? {
            guard let value = m["\(arch).\(key)"] else { return nil }
            guard let x = value.number, x.isFinite, x > 0 else { throw FormatError.badMetadata(path: path, key: "\(arch).\(key)", reason: "must be a positive number") }
            return x
        }
        guard let embedding = tensorsByName["token_embd.weight"], embedding.dimensions.count == 2 else {
            throw FormatError.missingTensor(path: path, tensor: "token_embd.weight (a matrix [n_embd, n_vocab])")
        }
        let vocabulary = embedding.dimensions[1]
        if file.tensors.contains(where: { $0.name == "rope_freqs.weight" }) {
            throw ConvertError.badConfig(path: path, reason: "it scales RoPE by per-frequency factors (rope_freqs.weight, Llama 3.1 style), which GGUF import does not read yet; pack the Hugging Face checkpoint instead")
        }
        let width = try integer("embedding_length"), layers = try integer("block_count")
        let heads = try integer("attention.head_count"), context = try integer("context_length"), ffn = try integer("feed_forward_length")
        var pairs: [(String, JSONValue)] = [("model_type", .string(modelType)), ("vocab_size", .int(vocabulary))]
        if modelType == "gpt2" {
            pairs += [("n_embd", .int(width)), ("n_layer", .int(layers)), ("n_head", .int(heads)), ("n_positions", .int(context)),
                      ("n_inner", .int(ffn)), ("activation_function", .string("gelu_new")),
                      ("layer_norm_epsilon", .double(try number("attention.layer_norm_epsilon") ?? 1e-5))]
        } else {
            let kvHeads = m["\(arch).attention.head_count_kv"] == nil ? heads : try integer("attention.head_count_kv")
            let headSize = m["\(arch).attention.key_length"] == nil ? width / heads : try integer("attention.key_length")
            pairs += [("hidden_size", .int(width)), ("intermediate_size", .int(ffn)), ("num_hidden_layers", .int(layers)),
                      ("num_attention_heads", .int(heads)), ("num_key_value_heads", .int(kvHeads)), ("head_dim", .int(headSize)),
                      ("max_position_embeddings", .int(context)), ("hidden_act", .string(activation ?? "silu")),
                      ("rms_norm_eps", .double(try number("attention.layer_norm_rms_epsilon") ?? 1e-5)),
                      ("rope_theta", .double(try number("rope.freq_base") ?? 10000)),
                      ("rope_style", .string(arch == "llama" ? "gptj" : "neox")),
                      // llama.cpp's bitnet graph always multiplies by the embeddings.
                      ("tie_word_embeddings", .bool(arch == "bitnet" || tensorsByName["output.weight"] == nil))]
            if let rotated = m["\(arch).rope.dimension_count"]?.integer, rotated != headSize {
                pairs.append(("partial_rotary_factor", .double(Double(rotated) / Double(headSize))))
            }
            if m["\(arch).rope.scaling.type"]?.string == "linear", let factor = try number("rope.scaling.factor"), factor != 1 {
                pairs.append(("rope_scaling", .object([("rope_type", .string("linear")), ("factor", .double(factor))])))
            }
        }
        config = .object(pairs)
    }

    /// The tokenizer of `tokenizer.ggml.*`, if the file has one.
    public func tokenizer() throws -> TokenizerSpec? {
        guard file.metadata["tokenizer.ggml.model"] != nil else { return nil }
        return try TokenizerSpec(gguf: file)
    }

    // MARK: Hugging Face names → GGUF names

    /// The GGUF tensor for a Hugging Face tensor name (without the `model.`/`transformer.` prefix).
    func ggufName(_ name: String) -> String? { Self.ggufName(name, gpt2: architecture.name == "gpt2") }

    /// llama.cpp's name for a Hugging Face tensor name of GPT-2 or of the Llama family.
    static func ggufName(_ name: String, gpt2: Bool) -> String? {
        let parts = name.split(separator: ".").map(String.init)
        if gpt2 {
            let top = ["wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight", "ln_f.weight": "output_norm.weight",
                       "ln_f.bias": "output_norm.bias", "lm_head.weight": "output.weight"]
            if let mapped = top[name] { return mapped }
            guard parts.count >= 4, parts[0] == "h" else { return nil }
            let inner = parts[2..<(parts.count - 1)].joined(separator: ".")
            let blocks = ["ln_1": "attn_norm", "ln_2": "ffn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
                          "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"]
            return blocks[inner].map { "blk.\(parts[1]).\($0).\(parts.last!)" }
        }
        let top = ["embed_tokens.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"]
        if let mapped = top[name] { return mapped }
        guard parts.count >= 4, parts[0] == "layers" else { return nil }
        let inner = parts[2..<(parts.count - 1)].joined(separator: ".")
        let blocks = ["input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
                      "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                      "self_attn.attn_sub_norm": "attn_sub_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                      "mlp.down_proj": "ffn_down", "mlp.ffn_sub_norm": "ffn_sub_norm"]
        return blocks[inner].map { "blk.\(parts[1]).\($0).\(parts.last!)" }
    }

    private func tensor(_ name: String) throws -> GGUFFile.TensorInfo {
        guard let gguf = ggufName(name), let info = tensorsByName[gguf] else {
            throw FormatError.missingTensor(path: path, tensor: ggufName(name) ?? name)
        }
        consumed.insert(info.name)
        return info
    }

    // MARK: TensorSource

    public var tensorNames: [String] { file.tensors.map(\.name) }
    public func contains(_ name: String) -> Bool { ggufName(name).map { tensorsByName[$0] != nil } ?? false }
    public func unusedTensorNames() -> [String] { tensorNames.filter { !consumed.contains($0) } }

    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let info = try tensor(name)
        try check(info, shape: shape)
        let (type, bytes) = try file.data(of: info)
        return try decoded(type.floats(bytes, elements: shape.reduce(1, *)), info)
    }

    /// GGUF matrices are always (rows, k) with k innermost, whatever the Hugging Face layout
    /// (`transposed` describes GPT-2's Conv1D, which llama.cpp's converter already transposed).
    public func matrix(_ name: String, rows: Int, k: Int, transposed: Bool) throws -> SourceMatrix {
        let info = try tensor(name)
        try check(info, shape: [rows, k])
        let (type, bytes) = try file.data(of: info)
        var scale: Float = 1
        // llama.cpp's bitnet files may carry a separate per-tensor scale (`.scale`, one value).
        let scaleName = String(info.name.dropLast("weight".count)) + "scale"
        if info.name.hasSuffix(".weight"), let scaleInfo = tensorsByName[scaleName] {
            consumed.insert(scaleName)
            let (scaleType, scaleBytes) = try file.data(of: scaleInfo)
            guard scaleInfo.dimensions.reduce(1, *) == 1 else {
                throw FormatError.wrongShape(path: path, tensor: scaleName, expected: [1], found: scaleInfo.dimensions.reversed())
            }
            scale = try decoded(scaleType.floats(scaleBytes, elements: 1), scaleInfo)[0]
            guard scale.isFinite, scale > 0 else { throw ConvertError.nonFinite(tensor: "\(scaleName) (\(scale); a scale must be positive and finite)") }
        }
        guard type.isTernary else {
            let values = try decoded(type.floats(bytes, elements: rows * k), info).map { $0 * scale }
            return Self.ternaryValues(values) ?? .float(values)
        }
        let blocks = try decoded(type.ternaryBlocks(bytes, elements: rows * k), info)
        return .ternary(codes: blocks.codes, scale: try sharedScale(blocks, type: type, tensor: info.name) * scale)
    }

    /// A float matrix whose nonzero values all have one magnitude is a ternary matrix stored as
    /// floats (llama-quantize's Q8_0/F16 fallback for rows that are not whole 256-weight blocks,
    /// `ternary export`'s, or bitnet.cpp's F16 output): its codes and that magnitude are kept, as
    /// bitnet.cpp's converter keeps them, instead of re-deriving an absmean scale from them.
    static func ternaryValues(_ values: [Float]) -> SourceMatrix? {
        guard let first = values.first(where: { $0 != 0 }) else { return nil }
        let magnitude = abs(first)
        guard magnitude.isFinite else { return nil }
        var codes = [Int8](repeating: 0, count: values.count)
        for (i, v) in values.enumerated() where v != 0 {
            guard abs(v) == magnitude else { return nil }
            codes[i] = v > 0 ? 1 : -1
        }
        return .ternary(codes: codes, scale: magnitude)
    }

    /// The one scale a tensor's blocks share. TQ1_0 and TQ2_0 have a scale per 256-weight block,
    /// this engine one per tensor: a file quantized from a ternary model (llama-quantize of BitNet
    /// weights, or `ternary export`) gives every block with a nonzero weight the same scale, which is
    /// then kept exactly; a tensor whose blocks differ is refused rather than requantized.
    func sharedScale(_ blocks: GGUFTensorType.TernaryBlocks, type: GGUFTensorType, tensor: String) throws -> Float {
        if type == .i2_s {
            let s = blocks.scales[0]
            guard s.isFinite, s > 0 else { throw ConvertError.nonFinite(tensor: "\(tensor) (its I2_S scale is \(s))") }
            return s
        }
        var shared: Float?
        for (b, s) in blocks.scales.enumerated() {
            let start = b * type.blockWeights
            guard blocks.codes[start..<(start + type.blockWeights)].contains(where: { $0 != 0 }) else { continue }
            guard s.isFinite, s > 0 else { throw ConvertError.nonFinite(tensor: "\(tensor) (block \(b) has the scale \(s))") }
            if let shared, shared != s {
                throw FormatError.corruptValues(path: path, tensor: tensor, reason: "its \(type.name) blocks have different scales (\(shared) and \(s) in block \(b)), so it is not one ternary matrix with one scale as this engine stores it; convert the model from its ternary checkpoint instead")
            }
            shared = s
        }
        return shared ?? 1
    }

    private func check(_ info: GGUFFile.TensorInfo, shape: [Int]) throws {
        // GGUF lists dimensions innermost first.
        var found = Array(info.dimensions.reversed())
        while found.count > shape.count, found.first == 1 { found.removeFirst() }
        guard found == shape else { throw FormatError.wrongShape(path: path, tensor: info.name, expected: shape, found: found) }
    }

    private func decoded<T>(_ result: Result<T, GGUFDecodingError>, _ info: GGUFFile.TensorInfo) throws -> T {
        switch result {
        case let .success(value): return value
        case let .failure(error): throw FormatError.corruptValues(path: path, tensor: info.name, reason: error.reason)
        }
    }
}

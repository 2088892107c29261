import TernaryFormat

/// A llama2.c checkpoint (`run.c`'s "legacy" format, e.g. stories260K.bin), read as a Llama model
/// under Hugging Face's tensor names. Header: seven int32 — dim, hidden_dim, n_layers, n_heads,
/// n_kv_heads, vocab_size (negative: the classifier is not shared with the embeddings), seq_len;
/// then float32 weights in run.c's order: token embeddings, attention norms, wq, wk, wv, wo, FFN
/// norms, w1, w2, w3, final norm, the unused freq_cis tables, and the classifier if not shared.
/// Rows are outputs (run.c's matmul W(d, n) · x), RoPE pairs are interleaved (GPT-J style).
public final class Llama2cCheckpoint: TensorSource {
    public let path: String
    /// The config as a Llama config.json would write it.
    public let config: JSONValue
    private let tensors: [String: (offset: Int, shape: [Int])]
    private let mapping: MappedFile
    private var consumed = Set<String>()

    public init(path: String) throws {
        mapping = try MappedFile(path: path)
        self.path = path
        let bytes = mapping.bytes
        func bad(_ reason: String) -> ConvertError { .badConfig(path: path, reason: "not a llama2.c checkpoint: \(reason)") }
        guard bytes.count >= 28 else { throw bad("\(bytes.count) bytes, shorter than its 28-byte header") }
        let header = (0..<7).map { Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        let (dim, hidden, layers, heads, kvHeads, signedVocab, context) = (header[0], header[1], header[2], header[3], header[4], header[5], header[6])
        let vocab = abs(signedVocab), shared = signedVocab > 0
        for (value, name, limit) in [(dim, "dim", 1 << 16), (hidden, "hidden_dim", 1 << 18), (layers, "n_layers", 1024), (heads, "n_heads", 4096),
                                     (kvHeads, "n_kv_heads", 4096), (vocab, "vocab_size", 1 << 22), (context, "seq_len", 1 << 22)] where value < 1 || value > limit {
            throw bad("\(name) = \(value) is outside 1...\(limit)")
        }
        guard dim % heads == 0, heads % kvHeads == 0 else { throw bad("dim \(dim), n_heads \(heads), n_kv_heads \(kvHeads) do not divide") }
        let headSize = dim / heads, kvDim = kvHeads * headSize
        var offset = 28, table: [String: (Int, [Int])] = [:]
        func add(_ name: String, _ shape: [Int]) {
            table[name] = (offset, shape)
            offset += 4 * shape.reduce(1, *)
        }
        func perLayer(_ name: String, _ shape: [Int]) { for l in 0..<layers { add("model.layers.\(l).\(name)", shape) } }
        add("model.embed_tokens.weight", [vocab, dim])
        perLayer("input_layernorm.weight", [dim])
        perLayer("self_attn.q_proj.weight", [dim, dim])
        perLayer("self_attn.k_proj.weight", [kvDim, dim])
        perLayer("self_attn.v_proj.weight", [kvDim, dim])
        perLayer("self_attn.o_proj.weight", [dim, dim])
        perLayer("post_attention_layernorm.weight", [dim])
        perLayer("mlp.gate_proj.weight", [hidden, dim])   // w1
        perLayer("mlp.down_proj.weight", [dim, hidden])   // w2
        perLayer("mlp.up_proj.weight", [hidden, dim])     // w3
        add("model.norm.weight", [dim])
        offset += 2 * 4 * context * headSize / 2          // freq_cis_real, freq_cis_imag (unused)
        if !shared { add("lm_head.weight", [vocab, dim]) }
        guard offset == bytes.count else {
            throw bad("the header implies \(offset) bytes but the file has \(bytes.count); it is truncated, padded, or in another llama2.c version")
        }
        tensors = table
        config = .object([
            ("model_type", .string("llama")), ("hidden_size", .int(dim)), ("intermediate_size", .int(hidden)),
            ("num_hidden_layers", .int(layers)), ("num_attention_heads", .int(heads)), ("num_key_value_heads", .int(kvHeads)),
            ("vocab_size", .int(vocab)), ("max_position_embeddings", .int(context)), ("rms_norm_eps", .double(1e-5)),
            ("rope_theta", .double(10000)), ("rope_style", .string("gptj")), ("hidden_act", .string("silu")),
            ("tie_word_embeddings", .bool(shared)),
        ])
    }

    public var tensorNames: [String] { tensors.keys.sorted() }
    public func contains(_ name: String) -> Bool { resolve(name) != nil }
    public func unusedTensorNames() -> [String] { tensorNames.filter { !consumed.contains($0) } }

    private func resolve(_ name: String) -> String? {
        tensors[name] != nil ? name : tensors["model." + name] != nil ? "model." + name : nil
    }

    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let full = resolve(name), let (offset, stored) = tensors[full] else { throw FormatError.missingTensor(path: path, tensor: name) }
        guard stored == shape else { throw FormatError.wrongShape(path: path, tensor: name, expected: shape, found: stored) }
        consumed.insert(full)
        let n = shape.reduce(1, *)
        return (0..<n).map { mapping.bytes.loadUnaligned(fromByteOffset: offset + 4 * $0, as: Float.self) }
    }

    public func matrix(_ name: String, rows: Int, k: Int, transposed: Bool) throws -> SourceMatrix {
        .float(try floats(name, shape: [rows, k]))
    }
}

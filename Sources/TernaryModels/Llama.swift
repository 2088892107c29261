import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// Llama-family hyper-parameters with the key names of Hugging Face's config.json (LlamaConfig,
/// BitNetConfig). Reads both transformers 4 (`rope_theta`, `rope_scaling`) and transformers 5
/// (`rope_parameters`) configs; a packed file stores the 4.x form.
public struct LlamaConfig: Decodable, Sendable, Equatable {
    public var vocabularySize: Int        // vocab_size
    public var width: Int                 // hidden_size
    public var ffnWidth: Int              // intermediate_size
    public var layers: Int                // num_hidden_layers
    public var heads: Int                 // num_attention_heads
    public var kvHeads: Int               // num_key_value_heads (default: num_attention_heads)
    public var headSize: Int              // head_dim (default: hidden_size / num_attention_heads)
    public var activation: String         // hidden_act
    public var contextLength: Int         // max_position_embeddings
    public var rmsNormEpsilon: Double     // rms_norm_eps
    public var ropeTheta: Double          // rope_theta
    public var ropeScaling: JSONValue?    // rope_scaling: {rope_type: linear | llama3, factor, …}
    public var partialRotaryFactor: Double  // partial_rotary_factor
    /// "neox" (HF's rotate_half, the default) or "gptj" (interleaved pairs, as llama2.c's run.c).
    public var ropeStyle: String          // rope_style (this engine's key)
    public var tiedEmbeddings: Bool       // tie_word_embeddings
    public var attentionBias: Bool        // attention_bias
    public var mlpBias: Bool              // mlp_bias

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", width = "hidden_size", ffnWidth = "intermediate_size", layers = "num_hidden_layers"
        case heads = "num_attention_heads", kvHeads = "num_key_value_heads", headSize = "head_dim", activation = "hidden_act"
        case contextLength = "max_position_embeddings", rmsNormEpsilon = "rms_norm_eps", ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling", ropeParameters = "rope_parameters", partialRotaryFactor = "partial_rotary_factor"
        case ropeStyle = "rope_style", tiedEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias", mlpBias = "mlp_bias"
    }

    /// Decodes with `defaultActivation` when `hidden_act` is absent (Llama: silu, BitNet: relu2).
    static func decode(_ json: JSONValue, defaultActivation: String) throws -> LlamaConfig {
        var config = try JSONValueDecoder.decode(LlamaConfig.self, from: json)
        if json["hidden_act"] == nil { config.activation = defaultActivation }
        try config.validate()
        return config
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        width = try c.decode(Int.self, forKey: .width)
        ffnWidth = try c.decode(Int.self, forKey: .ffnWidth)
        layers = try c.decode(Int.self, forKey: .layers)
        heads = try c.decode(Int.self, forKey: .heads)
        try ModelLimits.check(width, "hidden_size")
        try ModelLimits.check(heads, "num_attention_heads")
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? heads
        headSize = try c.decodeIfPresent(Int.self, forKey: .headSize) ?? width / heads
        activation = try c.decodeIfPresent(String.self, forKey: .activation) ?? "silu"
        contextLength = try c.decodeIfPresent(Int.self, forKey: .contextLength) ?? 2048
        rmsNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .rmsNormEpsilon) ?? 1e-6
        // transformers 5 moved rope_theta and rope_scaling into rope_parameters.
        let parameters = try c.decodeIfPresent(JSONValue.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? parameters?["rope_theta"]?.number ?? 10000
        var scaling = try c.decodeIfPresent(JSONValue.self, forKey: .ropeScaling)
        if scaling == nil, let parameters, let type = parameters["rope_type"]?.string ?? parameters["type"]?.string, type != "default" {
            scaling = parameters
        }
        ropeScaling = scaling
        partialRotaryFactor = try c.decodeIfPresent(Double.self, forKey: .partialRotaryFactor)
            ?? parameters?["partial_rotary_factor"]?.number ?? 1
        ropeStyle = try c.decodeIfPresent(String.self, forKey: .ropeStyle) ?? RotaryEmbedding.Style.neox.rawValue
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? false
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
    }

    public func validate() throws {
        for (value, key) in [(vocabularySize, "vocab_size"), (width, "hidden_size"), (ffnWidth, "intermediate_size"),
                             (layers, "num_hidden_layers"), (heads, "num_attention_heads"), (kvHeads, "num_key_value_heads"),
                             (headSize, "head_dim"), (contextLength, "max_position_embeddings")] {
            try ModelLimits.check(value, key)
        }
        guard heads % kvHeads == 0 else {
            throw ModelLimits.invalid("num_key_value_heads", "\(kvHeads) must divide num_attention_heads (\(heads)): each KV head serves a whole group of query heads")
        }
        guard ["silu", "swish", "relu2", "relu", "gelu", "gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw ModelLimits.invalid("hidden_act", "'\(activation)' is not one of silu, relu2, relu, gelu, gelu_pytorch_tanh")
        }
        guard rmsNormEpsilon.isFinite, rmsNormEpsilon > 0 else { throw ModelLimits.invalid("rms_norm_eps", "must be a positive number") }
        guard ropeTheta.isFinite, ropeTheta > 1 else { throw ModelLimits.invalid("rope_theta", "must be a number above 1") }
        guard RotaryEmbedding.Style(rawValue: ropeStyle) != nil else {
            throw ModelLimits.invalid("rope_style", "'\(ropeStyle)' is not one of neox, gptj")
        }
        guard partialRotaryFactor > 0, partialRotaryFactor <= 1, rotaryDimensions >= 2 else {
            throw ModelLimits.invalid("partial_rotary_factor", "\(partialRotaryFactor) must be in (0, 1] and rotate at least one pair")
        }
        _ = try scaling()
        try ModelLimits.checkProduct([vocabularySize, width], "vocab_size × hidden_size")
        try ModelLimits.checkProduct([layers, heads * headSize + 2 * kvHeads * headSize, width], "attention weights")
        try ModelLimits.checkProduct([layers, 3 * ffnWidth, width], "FFN weights")
    }

    /// Values of each head that RoPE rotates (an even number).
    public var rotaryDimensions: Int { Int(Double(headSize) * partialRotaryFactor) / 2 * 2 }

    /// `rope_scaling` as this engine applies it; other types are refused.
    func scaling() throws -> RopeScaling? {
        guard let json = ropeScaling, !json.isNull else { return nil }
        let type = json["rope_type"]?.string ?? json["type"]?.string ?? "default"
        func number(_ key: String) throws -> Double {
            guard let v = json[key]?.number, v.isFinite, v > 0 else { throw ModelLimits.invalid("rope_scaling.\(key)", "must be a positive number") }
            return v
        }
        switch type {
        case "default": return nil
        case "linear": return .linear(factor: try number("factor"))
        case "llama3":
            return .llama3(factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                           highFrequencyFactor: try number("high_freq_factor"), originalContext: try number("original_max_position_embeddings"))
        default:
            throw ModelLimits.invalid("rope_scaling.rope_type", "'\(type)' is not supported (this engine runs \(RopeScaling.supportedTypes.joined(separator: ", ")))")
        }
    }

    func rotaryEmbedding() throws -> RotaryEmbedding {
        RotaryEmbedding(style: RotaryEmbedding.Style(rawValue: ropeStyle)!, dimensions: rotaryDimensions, base: ropeTheta, scaling: try scaling())
    }

    /// As stored in a packed file's metadata (transformers 4 names).
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("attention_bias", .bool(attentionBias)), ("head_dim", .int(headSize)), ("hidden_act", .string(activation)),
            ("hidden_size", .int(width)), ("intermediate_size", .int(ffnWidth)), ("max_position_embeddings", .int(contextLength)),
            ("mlp_bias", .bool(mlpBias)), ("num_attention_heads", .int(heads)), ("num_hidden_layers", .int(layers)),
            ("num_key_value_heads", .int(kvHeads)), ("partial_rotary_factor", .double(partialRotaryFactor)),
            ("rms_norm_eps", .double(rmsNormEpsilon)), ("rope_style", .string(ropeStyle)), ("rope_theta", .double(ropeTheta)),
            ("tie_word_embeddings", .bool(tiedEmbeddings)), ("vocab_size", .int(vocabularySize)),
        ]
        if let ropeScaling, !ropeScaling.isNull, (ropeScaling["rope_type"]?.string ?? ropeScaling["type"]?.string) != "default" {
            pairs.append(("rope_scaling", ropeScaling))
        }
        return .object(pairs)
    }
}

/// Llama-shaped models (`LlamaForCausalLM`) with ternary or dense linear layers: RMSNorm pre-norms,
/// grouped-query attention with RoPE, a gated FFN (SwiGLU), final RMSNorm, tied or untied head.
/// The per-linear BitLinear RMSNorm of our trainer and of 1bitLLM's bitnet_b1_58 checkpoints is
/// read when the file's quantization says `rms_norm`.
public enum Llama {
    public static let architecture = Architecture(
        name: "llama", modelTypes: ["llama"], checkpointPrefixes: ["model.", ""], ignoredCheckpointSuffixes: [".rotary_emb.inv_freq"],
        tiedHead: ("lm_head.weight", "embed_tokens.weight"),
        decodeConfig: { try LlamaConfig.decode($0, defaultActivation: "silu").json },
        manifest: { config, quantization in manifest(try LlamaConfig.decode(config, defaultActivation: "silu"), quantization: quantization, subNorms: false) },
        load: { file, tokenizer, kernels in try load(file: file, tokenizer: tokenizer, kernels: kernels, subNorms: false) })

    /// The tensors of a Llama-family model; `subNorms` adds BitNet b1.58's attention and FFN sub-norms.
    static func manifest(_ c: LlamaConfig, quantization: QuantizationInfo, subNorms: Bool) -> [TensorSpec] {
        let d = c.width, q = c.heads * c.headSize, kv = c.kvHeads * c.headSize
        var specs = [TensorSpec("embed_tokens", .embedding(rows: c.vocabularySize, k: d), source: "embed_tokens.weight")]
        func linear(_ name: String, rows: Int, k: Int, bias: Bool) {
            specs.append(TensorSpec(name, .linear(rows: rows, k: k), source: "\(name).weight"))
            if bias { specs.append(TensorSpec("\(name).bias", .vector(rows), source: "\(name).bias")) }
            if quantization.rmsNormBeforeQuant { specs.append(TensorSpec("\(name).norm.weight", .vector(k), source: "\(name).norm.weight")) }
        }
        for i in 0..<c.layers {
            let p = "layers.\(i)"
            specs.append(TensorSpec("\(p).input_layernorm.weight", .vector(d), source: "\(p).input_layernorm.weight"))
            linear("\(p).self_attn.q_proj", rows: q, k: d, bias: c.attentionBias)
            linear("\(p).self_attn.k_proj", rows: kv, k: d, bias: c.attentionBias)
            linear("\(p).self_attn.v_proj", rows: kv, k: d, bias: c.attentionBias)
            if subNorms { specs.append(TensorSpec("\(p).self_attn.attn_sub_norm.weight", .vector(q), source: "\(p).self_attn.attn_sub_norm.weight")) }
            linear("\(p).self_attn.o_proj", rows: d, k: q, bias: c.attentionBias)
            specs.append(TensorSpec("\(p).post_attention_layernorm.weight", .vector(d), source: "\(p).post_attention_layernorm.weight"))
            linear("\(p).mlp.gate_proj", rows: c.ffnWidth, k: d, bias: c.mlpBias)
            linear("\(p).mlp.up_proj", rows: c.ffnWidth, k: d, bias: c.mlpBias)
            if subNorms { specs.append(TensorSpec("\(p).mlp.ffn_sub_norm.weight", .vector(c.ffnWidth), source: "\(p).mlp.ffn_sub_norm.weight")) }
            linear("\(p).mlp.down_proj", rows: d, k: c.ffnWidth, bias: c.mlpBias)
        }
        specs.append(TensorSpec("norm.weight", .vector(d), source: "norm.weight"))
        if !c.tiedEmbeddings { specs.append(TensorSpec("lm_head", .embedding(rows: c.vocabularySize, k: d), source: "lm_head.weight")) }
        return specs
    }

    static func load(file: PackedModelFile, tokenizer: (any Tokenizer)?, kernels: TernaryKernels, subNorms: Bool) throws -> any LanguageModel {
        let c = try file.decodeConfig(LlamaConfig.self)
        do { try c.validate() } catch let failure as JSONValueDecoder.Failure {
            throw FormatError.badMetadata(path: file.path, key: "config", reason: failure.description)
        }
        let w = try WeightLoader(file: file, manifest: manifest(c, quantization: file.quantization, subNorms: subNorms), kernels: kernels)
        let eps = Float(c.rmsNormEpsilon)
        let layers = (0..<c.layers).map { i in
            let p = "layers.\(i)"
            let attention = ["q_proj", "k_proj", "v_proj"].map { w.linear("\(p).self_attn.\($0)") }
            // BitNet's sub-norms normalize the input of o_proj and down_proj.
            let output = subNorms ? w.linear("\(p).self_attn.o_proj", norm: "\(p).self_attn.attn_sub_norm.weight", epsilon: c.rmsNormEpsilon)
                : w.linear("\(p).self_attn.o_proj")
            let down = subNorms ? w.linear("\(p).mlp.down_proj", norm: "\(p).mlp.ffn_sub_norm.weight", epsilon: c.rmsNormEpsilon)
                : w.linear("\(p).mlp.down_proj")
            return TransformerModel.Layer(
                attentionNorm: .rms(weight: w.vector("\(p).input_layernorm.weight"), epsilon: eps),
                projections: [(LinearGroup(attention, kernels: kernels), 0)],
                output: LinearGroup([output], kernels: kernels),
                ffnNorm: .rms(weight: w.vector("\(p).post_attention_layernorm.weight"), epsilon: eps),
                up: LinearGroup([w.linear("\(p).mlp.gate_proj"), w.linear("\(p).mlp.up_proj")], kernels: kernels),
                down: LinearGroup([down], kernels: kernels))
        }
        let table = w.matrix("embed_tokens")
        let headMatrix = c.tiedEmbeddings ? table : w.matrix("lm_head")
        let shape = TransformerModel.Shape(
            vocabulary: c.vocabularySize, contextLength: c.contextLength, width: c.width, layers: c.layers,
            attention: AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headSize: c.headSize), ffnWidth: c.ffnWidth,
            gatedFFN: true, activation: VectorOps.Activation(name: c.activation)!, rope: try c.rotaryEmbedding())
        return TransformerModel(
            architecture: file.architecture, file: file, tokenizer: tokenizer, kernels: kernels, shape: shape, tokenEmbedding: table,
            positionEmbedding: nil, layers: layers, finalNorm: .rms(weight: w.vector("norm.weight"), epsilon: eps),
            head: LinearGroup([Linear(matrix: headMatrix, bias: nil, inputNorm: nil, inputNormEpsilon: 0)], kernels: kernels))
    }
}

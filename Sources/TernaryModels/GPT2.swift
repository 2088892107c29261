import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// GPT-2 hyper-parameters, with the key names of Hugging Face's config.json (the `config` metadata
/// of a packed file uses the same names).
public struct GPT2Config: Decodable, Sendable, Equatable {
    public var vocabularySize: Int   // vocab_size
    public var contextLength: Int    // n_positions
    public var width: Int            // n_embd
    public var heads: Int            // n_head
    public var layers: Int           // n_layer
    public var innerWidth: Int       // n_inner (null or absent: 4 · n_embd)
    public var layerNormEpsilon: Double  // layer_norm_epsilon
    public var activation: String    // activation_function

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", contextLength = "n_positions", width = "n_embd", heads = "n_head", layers = "n_layer"
        case innerWidth = "n_inner", layerNormEpsilon = "layer_norm_epsilon", activation = "activation_function"
        case scaleAttentionWeights = "scale_attn_weights", scaleByLayer = "scale_attn_by_inverse_layer_idx"
        case reorderAndUpcast = "reorder_and_upcast_attn"
    }

    public init(vocabularySize: Int, contextLength: Int, width: Int, heads: Int, layers: Int,
                innerWidth: Int? = nil, layerNormEpsilon: Double = 1e-5, activation: String = "gelu_new") {
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.width = width
        self.heads = heads
        self.layers = layers
        self.innerWidth = innerWidth ?? 4 * width
        self.layerNormEpsilon = layerNormEpsilon
        self.activation = activation
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let width = try c.decode(Int.self, forKey: .width)
        try ModelLimits.check(width, "n_embd")
        self.init(
            vocabularySize: try c.decode(Int.self, forKey: .vocabularySize), contextLength: try c.decode(Int.self, forKey: .contextLength),
            width: width, heads: try c.decode(Int.self, forKey: .heads), layers: try c.decode(Int.self, forKey: .layers),
            innerWidth: try c.decodeIfPresent(Int.self, forKey: .innerWidth),
            layerNormEpsilon: try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? 1e-5,
            activation: try c.decodeIfPresent(String.self, forKey: .activation) ?? "gelu_new")
        // Attention variants this engine does not compute: refused rather than silently ignored.
        if try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionWeights) == false {
            throw ModelLimits.unsupported("scale_attn_weights", "false (unscaled attention scores) is not supported")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .scaleByLayer) == true {
            throw ModelLimits.unsupported("scale_attn_by_inverse_layer_idx", "true is not supported")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .reorderAndUpcast) == true {
            throw ModelLimits.unsupported("reorder_and_upcast_attn", "true is not supported")
        }
        try validate()
    }

    public var headSize: Int { width / heads }

    /// Checks that the shapes make sense.
    public func validate() throws {
        for (value, key) in [(vocabularySize, "vocab_size"), (contextLength, "n_positions"), (width, "n_embd"), (heads, "n_head"),
                             (layers, "n_layer"), (innerWidth, "n_inner")] {
            try ModelLimits.check(value, key)
        }
        guard width % heads == 0 else { throw ModelLimits.invalid("n_embd", "\(width) must be divisible by n_head (\(heads))") }
        guard VectorOps.Activation(name: activation) != nil, activation != "silu", activation != "relu2", activation != "swish" else {
            throw ModelLimits.invalid("activation_function", "'\(activation)' is not one of gelu_new, gelu_pytorch_tanh, gelu, relu")
        }
        guard layerNormEpsilon.isFinite, layerNormEpsilon > 0 else { throw ModelLimits.invalid("layer_norm_epsilon", "must be a positive number") }
        try ModelLimits.checkProduct([vocabularySize, width], "vocab_size × n_embd")
        try ModelLimits.checkProduct([layers, 3 * width, width], "n_layer × 3·n_embd × n_embd")
        try ModelLimits.checkProduct([layers, innerWidth, width], "n_layer × n_inner × n_embd")
    }

    /// As stored in a packed file's metadata.
    public var json: JSONValue {
        .object([
            ("activation_function", .string(activation)),
            ("layer_norm_epsilon", .double(layerNormEpsilon)),
            ("n_embd", .int(width)), ("n_head", .int(heads)), ("n_inner", .int(innerWidth)),
            ("n_layer", .int(layers)), ("n_positions", .int(contextLength)), ("vocab_size", .int(vocabularySize)),
        ])
    }
}

/// GPT-2 with ternary linear layers: token + learned position embeddings, pre-LayerNorm blocks of
/// causal self-attention (one fused q|k|v projection) and a GELU MLP, final LayerNorm, LM head
/// tied to the token embeddings.
enum GPT2 {
    static let architecture = Architecture(
        name: "gpt2", modelTypes: ["gpt2"], checkpointPrefixes: ["transformer.", ""],
        // Causal-mask buffers that older checkpoints carry; the head must equal the embeddings.
        ignoredCheckpointSuffixes: [".attn.bias", ".attn.masked_bias"], tiedHead: ("lm_head.weight", "wte.weight"),
        decodeConfig: { try JSONValueDecoder.decode(GPT2Config.self, from: $0).json },
        manifest: { config, quantization in manifest(try JSONValueDecoder.decode(GPT2Config.self, from: config), quantization: quantization) },
        load: { try load(file: $0, tokenizer: $1, kernels: $2) })

    static func manifest(_ c: GPT2Config, quantization: QuantizationInfo) -> [TensorSpec] {
        let d = c.width
        var specs = [
            TensorSpec("wte", .embedding(rows: c.vocabularySize, k: d), source: "wte.weight"),
            TensorSpec("wpe.weight", .table(rows: c.contextLength, columns: d), source: "wpe.weight"),
        ]
        for i in 0..<c.layers {
            let p = "h.\(i)"
            for norm in ["ln_1", "ln_2"] {
                specs.append(TensorSpec("\(p).\(norm).weight", .vector(d), source: "\(p).\(norm).weight"))
                specs.append(TensorSpec("\(p).\(norm).bias", .vector(d), source: "\(p).\(norm).bias"))
            }
            // Conv1D weights are (in, out); matrix rows are outputs.
            for (name, rows, k) in [("attn.c_attn", 3 * d, d), ("attn.c_proj", d, d), ("mlp.c_fc", c.innerWidth, d), ("mlp.c_proj", d, c.innerWidth)] {
                specs.append(TensorSpec("\(p).\(name)", .linear(rows: rows, k: k), source: "\(p).\(name).weight", transposed: true))
                specs.append(TensorSpec("\(p).\(name).bias", .vector(rows), source: "\(p).\(name).bias"))
                if quantization.rmsNormBeforeQuant {
                    specs.append(TensorSpec("\(p).\(name).norm.weight", .vector(k), source: "\(p).\(name).norm.weight"))
                }
            }
        }
        specs.append(TensorSpec("ln_f.weight", .vector(d), source: "ln_f.weight"))
        specs.append(TensorSpec("ln_f.bias", .vector(d), source: "ln_f.bias"))
        return specs
    }

    static func load(file: PackedModelFile, tokenizer: (any Tokenizer)?, kernels: TernaryKernels) throws -> any LanguageModel {
        let c = try file.decodeConfig(GPT2Config.self)
        let w = try WeightLoader(file: file, manifest: manifest(c, quantization: file.quantization), kernels: kernels)
        let eps = Float(c.layerNormEpsilon)
        func norm(_ name: String) -> Norm { .layer(weight: w.vector("\(name).weight"), bias: w.vector("\(name).bias"), epsilon: eps) }
        func group(_ name: String) -> LinearGroup { LinearGroup([w.linear(name)], kernels: kernels) }
        let layers = (0..<c.layers).map { i in
            let p = "h.\(i)"
            return TransformerModel.Layer(
                attentionNorm: norm("\(p).ln_1"), projections: [(group("\(p).attn.c_attn"), 0)], output: group("\(p).attn.c_proj"),
                ffnNorm: norm("\(p).ln_2"), up: group("\(p).mlp.c_fc"), down: group("\(p).mlp.c_proj"))
        }
        let table = w.matrix("wte")
        let shape = TransformerModel.Shape(
            vocabulary: c.vocabularySize, contextLength: c.contextLength, width: c.width, layers: c.layers,
            attention: AttentionShape(heads: c.heads, kvHeads: c.heads, headSize: c.headSize), ffnWidth: c.innerWidth,
            gatedFFN: false, activation: VectorOps.Activation(name: c.activation)!, rope: nil)
        let head = LinearGroup([Linear(matrix: table, bias: nil, inputNorm: nil, inputNormEpsilon: 0)], kernels: kernels)
        return TransformerModel(
            architecture: "gpt2", file: file, tokenizer: tokenizer, kernels: kernels, shape: shape, tokenEmbedding: table,
            positionEmbedding: w.table("wpe.weight"), layers: layers, finalNorm: norm("ln_f"), head: head)
    }
}

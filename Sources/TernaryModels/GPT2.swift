#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// GPT-2 hyper-parameters (the `config` metadata of a packed file; names as in HF's config.json).
public struct GPT2Config: Sendable, Equatable {
    public var vocabularySize: Int   // vocab_size
    public var contextLength: Int    // n_positions
    public var width: Int            // n_embd
    public var heads: Int            // n_head
    public var layers: Int           // n_layer
    public var innerWidth: Int       // n_inner (default 4 · n_embd)
    public var layerNormEpsilon: Double  // layer_norm_epsilon
    public var activation: String    // activation_function

    public static let supportedActivations = ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"]

    public var headSize: Int { width / heads }

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

    /// Checks that the shapes make sense (`source` names the file in the message).
    public func validate(source: String) throws {
        guard width % heads == 0 else {
            throw ModelError.badConfig(path: source, reason: "n_embd (\(width)) must be divisible by n_head (\(heads))")
        }
        guard Self.supportedActivations.contains(activation) else {
            throw ModelError.badConfig(path: source, reason: "activation_function '\(activation)' is not one of \(Self.supportedActivations)")
        }
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

    init(file: PackedModelFile) throws {
        var activation = "gelu_new"
        if let raw = file.config["activation_function"] {
            guard let name = raw as? String else { throw ModelError.badConfig(path: file.path, reason: "activation_function must be a string") }
            activation = name
        }
        let width = try file.configInt("n_embd")
        self.init(
            vocabularySize: try file.configInt("vocab_size"), contextLength: try file.configInt("n_positions"),
            width: width, heads: try file.configInt("n_head"), layers: try file.configInt("n_layer"),
            innerWidth: try file.configInt("n_inner", default: 4 * width),
            layerNormEpsilon: try file.configDouble("layer_norm_epsilon", default: 1e-5), activation: activation)
        try validate(source: file.path)
    }
}

/// GPT-2 with ternary linear layers: token + position embeddings, pre-LayerNorm blocks of causal
/// self-attention and a GELU MLP, final LayerNorm, LM head tied to the token embeddings.
public final class GPT2Model: LanguageModel {
    struct LayerNormWeights {
        let weight: UnsafePointer<Float>  // (width)
        let bias: UnsafePointer<Float>    // (width)
        init(file: PackedModelFile, prefix: String, width: Int) throws {
            weight = try file.file.tensor("\(prefix).weight", dtypes: [.f32], shape: [width]).data.baseAddress!.assumingMemoryBound(to: Float.self)
            bias = try file.file.tensor("\(prefix).bias", dtypes: [.f32], shape: [width]).data.baseAddress!.assumingMemoryBound(to: Float.self)
        }
    }

    struct Block {
        let ln1: LayerNormWeights
        let attention: TernaryLinear   // c_attn: (3·width, width)
        let attentionOut: TernaryLinear  // attn.c_proj: (width, width)
        let ln2: LayerNormWeights
        let up: TernaryLinear          // c_fc: (inner, width)
        let down: TernaryLinear        // mlp.c_proj: (width, inner)
    }

    public let architecture = "gpt2"
    public let config: GPT2Config
    public let tokenizer: BPETokenizer?
    public let file: PackedModelFile
    let context: InferenceContext
    let tokenEmbedding: EmbeddingTable
    let positionEmbedding: UnsafeRawPointer  // (contextLength, width), F32 or F16
    let positionIsHalf: Bool
    let blocks: [Block]
    let finalNorm: LayerNormWeights
    private let buffers = ForwardBuffers()
    private let scratch = LinearScratch()
    /// The MLP's activation, applied in the up projection's epilogue.
    private let activation: VectorOps.Activation

    public var vocabularySize: Int { config.vocabularySize }
    public var contextLength: Int { config.contextLength }
    public var weightBytesPerToken: Int {
        blocks.reduce(tokenEmbedding.bytes) { $0 + $1.attention.weightBytes + $1.attentionOut.weightBytes + $1.up.weightBytes + $1.down.weightBytes }
    }
    public var weightRegions: [UnsafeRawBufferPointer] {
        blocks.flatMap { [$0.attention.region, $0.attentionOut.region, $0.up.region, $0.down.region] } + [tokenEmbedding.region]
    }

    public init(file: PackedModelFile, tokenizer: BPETokenizer?, context: InferenceContext) throws {
        let config = try GPT2Config(file: file)
        self.config = config
        self.file = file
        self.tokenizer = tokenizer
        self.context = context
        let d = config.width
        tokenEmbedding = try EmbeddingTable(file: file, name: "wte", vocabulary: config.vocabularySize, width: d)
        let wpe = try file.file.tensor("wpe.weight", dtypes: [.f32, .f16], shape: [config.contextLength, d])
        positionEmbedding = wpe.data.baseAddress!
        positionIsHalf = wpe.dtype == .f16
        blocks = try (0..<config.layers).map { i in
            let p = "h.\(i)"
            return Block(
                ln1: try LayerNormWeights(file: file, prefix: "\(p).ln_1", width: d),
                attention: try TernaryLinear(file: file, prefix: "\(p).attn.c_attn", rows: 3 * d, k: d, hasBias: true),
                attentionOut: try TernaryLinear(file: file, prefix: "\(p).attn.c_proj", rows: d, k: d, hasBias: true),
                ln2: try LayerNormWeights(file: file, prefix: "\(p).ln_2", width: d),
                up: try TernaryLinear(file: file, prefix: "\(p).mlp.c_fc", rows: config.innerWidth, k: d, hasBias: true),
                down: try TernaryLinear(file: file, prefix: "\(p).mlp.c_proj", rows: d, k: config.innerWidth, hasBias: true))
        }
        finalNorm = try LayerNormWeights(file: file, prefix: "ln_f", width: d)
        guard let activation = VectorOps.Activation(name: config.activation) else {
            throw ModelError.badConfig(path: file.path, reason: "activation_function '\(config.activation)' is not one of \(GPT2Config.supportedActivations)")
        }
        self.activation = activation
    }

    public func makeMemory() -> SequenceMemory {
        KVCache(layers: config.layers, capacity: config.contextLength, heads: config.heads, headSize: config.headSize,
                precision: context.kvPrecision)
    }

    public func forward(_ tokens: [Int], memory: SequenceMemory, allLogits: Bool, into logits: UnsafeMutableBufferPointer<Float>) throws {
        guard let cache = memory as? KVCache, cache.layers == config.layers, cache.heads == config.heads,
              cache.headSize == config.headSize else {
            preconditionFailure("GPT2Model.forward needs the KVCache from its own makeMemory()")
        }
        let T = tokens.count, start = cache.length
        guard T > 0 else { return }
        precondition(logits.count >= (allLogits ? T : 1) * config.vocabularySize, "the logits buffer is too small")
        guard start + T <= config.contextLength else { throw ModelError.contextFull(needed: start + T, contextLength: config.contextLength) }
        for token in tokens where token < 0 || token >= config.vocabularySize {
            throw ModelError.tokenOutOfRange(token: token, vocabularySize: config.vocabularySize)
        }
        var offset = 0
        while offset < T {
            let end = min(T, offset + context.microBatch)
            let out = allLogits ? logits.baseAddress! + offset * config.vocabularySize : (end == T ? logits.baseAddress! : nil)
            forward(microBatch: tokens[offset..<end], cache: cache, allLogits: allLogits, logits: out)
            offset = end
        }
    }

    /// One micro-batch: every layer over `tokens` after what `cache` holds; writes the logits of
    /// every token (`allLogits`) or of the last into `logits`, or none if `logits` is nil.
    private func forward(microBatch tokens: ArraySlice<Int>, cache: KVCache, allLogits: Bool, logits: UnsafeMutablePointer<Float>?) {
        let T = tokens.count, d = config.width, start = cache.length
        let b = buffers
        b.reserve(tokens: T, width: d, inner: config.innerWidth, context: config.contextLength, heads: config.heads, threads: context.pool.threads)
        let x = b.x, h = b.h
        for (t, token) in tokens.enumerated() {
            tokenEmbedding.lookup(token, into: x + t * d)
            addPosition(start + t, to: x + t * d)
        }
        let eps = Float(config.layerNormEpsilon)
        let activation = LinearEpilogue.activation(activation)
        for (layer, block) in blocks.enumerated() {
            layerNorm(x, into: h, tokens: T, block.ln1, eps: eps)
            block.attention(h, tokens: T, into: b.qkv, scratch: scratch, context: context)
            attend(layer: layer, tokens: T, start: start, cache: cache, into: h)  // h is free once quantized
            block.attentionOut(h, tokens: T, into: x, scratch: scratch, context: context, epilogue: .addToOutput)
            layerNorm(x, into: h, tokens: T, block.ln2, eps: eps)
            block.up(h, tokens: T, into: b.inner, scratch: scratch, context: context, epilogue: activation)
            block.down(b.inner, tokens: T, into: x, scratch: scratch, context: context, epilogue: .addToOutput)
        }
        cache.advance(by: T)
        guard let logits else { return }
        let first = allLogits ? 0 : T - 1
        let count = T - first
        for t in first..<T {
            VectorOps.layerNorm(x + t * d, h + (t - first) * d, d, weight: finalNorm.weight, bias: finalNorm.bias, eps: eps)
        }
        tokenEmbedding.logits(h, tokens: count, into: logits, scratch: scratch, context: context)
    }

    /// LayerNorm of each of `T` rows of width d; a prefill spreads its rows over the threads.
    private func layerNorm(_ x: UnsafeMutablePointer<Float>, into h: UnsafeMutablePointer<Float>, tokens T: Int,
                           _ weights: LayerNormWeights, eps: Float) {
        let d = config.width
        context.pool.run(T) { range in
            for t in range { VectorOps.layerNorm(x + t * d, h + t * d, d, weight: weights.weight, bias: weights.bias, eps: eps) }
        }
    }

    private func addPosition(_ position: Int, to x: UnsafeMutablePointer<Float>) {
        let d = config.width
        if positionIsHalf {
            let p = positionEmbedding.assumingMemoryBound(to: Float16.self) + position * d
            for i in 0..<d { x[i] += Float(p[i]) }
        } else {
            let p = positionEmbedding.assumingMemoryBound(to: Float.self) + position * d
            for i in 0..<d { x[i] += p[i] }
        }
    }

    /// Causal self-attention of the new tokens over the cache; writes `out` (T, width).
    private func attend(layer: Int, tokens T: Int, start: Int, cache: KVCache, into out: UnsafeMutablePointer<Float>) {
        let task = AttentionRun(
            cache: cache.layer(layer), tokens: T, start: start, width: config.width, headSize: config.headSize,
            contextLength: config.contextLength, qkv: buffers.qkv, out: out, scores: buffers.scores,
            batchKeys: buffers.batchKeys, batchValues: buffers.batchValues)
        if T == 1 {
            // Decode: a head per item, and each thread stores its own heads' keys and values, so the
            // first writes to fresh cache pages are not left to the calling thread alone (about 6 %
            // faster tg in an A/B run).
            context.pool.run(config.heads, task)
        } else {
            // Prefill: the threads store heads in parallel, then (head, token) items spread the
            // attention finely over the threads.
            context.pool.run(config.heads, BatchStore(attention: task))
            context.pool.runIndexed(T * config.heads) { range, worker in
                for item in range { task.attend(head: item / T, token: item % T, worker: worker) }
            }
        }
    }
}

/// Activations of one forward call; grown to the largest call seen.
final class ForwardBuffers {
    private(set) var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)         // (T, width) residual stream
    private(set) var h = UnsafeMutablePointer<Float>.allocate(capacity: 1)         // (T, width) LayerNorm out, then attention out
    private(set) var qkv = UnsafeMutablePointer<Float>.allocate(capacity: 1)       // (T, 3·width)
    private(set) var inner = UnsafeMutablePointer<Float>.allocate(capacity: 1)     // (T, inner)
    private(set) var scores = UnsafeMutablePointer<Float>.allocate(capacity: 1)    // (threads, context)
    private(set) var batchKeys = UnsafeMutablePointer<Float>.allocate(capacity: 1)   // (heads, T, head size)
    private(set) var batchValues = UnsafeMutablePointer<Float>.allocate(capacity: 1) // (heads, T, head size)
    private var tokens = 0, scoreCapacity = 0

    func reserve(tokens T: Int, width d: Int, inner: Int, context: Int, heads: Int, threads: Int) {
        if T > tokens {
            for p in [x, h, qkv, self.inner, batchKeys, batchValues] { p.deallocate() }
            x = .allocate(capacity: T * d); h = .allocate(capacity: T * d); qkv = .allocate(capacity: T * 3 * d)
            self.inner = .allocate(capacity: T * inner)
            batchKeys = .allocate(capacity: T * d); batchValues = .allocate(capacity: T * d)
            tokens = T
        }
        if threads * context > scoreCapacity {
            scores.deallocate()
            scoreCapacity = threads * context
            scores = .allocate(capacity: scoreCapacity)
        }
    }

    deinit { for p in [x, h, qkv, inner, scores, batchKeys, batchValues] { p.deallocate() } }
}

/// Causal attention of one forward call's tokens, per head. Earlier positions come from the cache;
/// the batch's own keys and values are read in float32 from a per-head contiguous copy of `qkv` (a
/// prefill is exact whatever the cache precision, and its loops stream memory).
private struct AttentionRun: ParallelTask {
    let cache: KVCacheLayer
    let tokens: Int, start: Int, width: Int, headSize: Int, contextLength: Int
    let qkv: UnsafeMutablePointer<Float>      // (tokens, 3 · width)
    let out: UnsafeMutablePointer<Float>      // (tokens, width)
    let scores: UnsafeMutablePointer<Float>   // (threads, context)
    let batchKeys: UnsafeMutablePointer<Float>, batchValues: UnsafeMutablePointer<Float>  // (heads, tokens, head size)

    /// This head's new keys and values: into the cache (read by later calls) and into the
    /// contiguous batch copy (read by this call).
    func storeBatch(head: Int) {
        let hs = headSize, d = width
        let keys = batchKeys + head * tokens * hs, values = batchValues + head * tokens * hs
        for t in 0..<tokens {
            let k = qkv + t * 3 * d + d + head * hs, v = k + d
            cache.store(head: head, position: start + t, keys: k, values: v)
            (keys + t * hs).update(from: k, count: hs)
            (values + t * hs).update(from: v, count: hs)
        }
    }

    /// Token t's output for one head, using thread `worker`'s score row.
    func attend(head: Int, token t: Int, worker: Int) {
        let hs = headSize, d = width, p = scores + worker * contextLength
        let keys = batchKeys + head * tokens * hs, values = batchValues + head * tokens * hs
        let q = qkv + t * 3 * d + head * hs
        let scale = 1 / Float(hs).squareRoot()
        cache.scores(head: head, query: q, count: start, scale: scale, into: p)
        AttentionKernels.scores(query: q, keys: keys, stride: hs, count: t + 1, width: hs, scale: scale, into: p + start)
        VectorOps.softmax(p, start + t + 1)
        let o = out + t * d + head * hs
        o.update(repeating: 0, count: hs)
        cache.accumulateValues(head: head, weights: p, count: start, into: o)
        AttentionKernels.accumulate(weights: p + start, values: values, stride: hs, count: t + 1, width: hs, into: o)
    }

    /// Decode (one token): store and attend, head by head.
    func run(_ range: Range<Int>, worker: Int) {
        for head in range {
            storeBatch(head: head)
            attend(head: head, token: 0, worker: worker)
        }
        cache.finishStores()
    }
}

/// Stores a prefill's keys and values, head by head, in parallel.
private struct BatchStore: ParallelTask {
    let attention: AttentionRun

    func run(_ range: Range<Int>, worker: Int) {
        for head in range { attention.storeBatch(head: head) }
        attention.cache.finishStores()
    }
}

import Foundation
import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// Mamba-2 hyper-parameters with the key names of Hugging Face's config.json (Mamba2Config).
/// `time_step_limit` may hold Infinity as transformers writes it; the packed form stores an
/// unbounded limit as the largest float, which clamps nothing.
public struct Mamba2Config: Decodable, Sendable, Equatable {
    public var vocabularySize: Int     // vocab_size
    public var width: Int              // hidden_size
    public var layers: Int             // num_hidden_layers
    public var heads: Int              // num_heads
    public var headSize: Int           // head_dim
    public var stateSize: Int          // state_size
    public var groups: Int             // n_groups
    public var expand: Int             // expand
    public var convKernel: Int         // conv_kernel
    public var useBias: Bool           // use_bias (in_proj, out_proj)
    public var useConvBias: Bool       // use_conv_bias
    public var activation: String      // hidden_act (silu)
    public var epsilon: Double         // layer_norm_epsilon
    public var timeStepMin: Double     // time_step_limit[0]
    public var timeStepMax: Double     // time_step_limit[1]
    public var tiedEmbeddings: Bool    // tie_word_embeddings
    /// BitMamba-2's block (this engine's key `bitmamba`): the convolution over x only (B and C go
    /// straight from in_proj to the scan), D per channel, y · silu(z) without the gated norm, no
    /// block norm (in_proj and out_proj normalize their own inputs) and a ternary head with its
    /// own input norm after the final norm.
    public var bitmamba: Bool          // bitmamba

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size", width = "hidden_size", layers = "num_hidden_layers", heads = "num_heads", headSize = "head_dim"
        case stateSize = "state_size", groups = "n_groups", expand, convKernel = "conv_kernel", useBias = "use_bias"
        case useConvBias = "use_conv_bias", activation = "hidden_act", epsilon = "layer_norm_epsilon", timeStepLimit = "time_step_limit"
        case tiedEmbeddings = "tie_word_embeddings", bitmamba
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        width = try c.decode(Int.self, forKey: .width)
        layers = try c.decode(Int.self, forKey: .layers)
        heads = try c.decode(Int.self, forKey: .heads)
        headSize = try c.decode(Int.self, forKey: .headSize)
        stateSize = try c.decode(Int.self, forKey: .stateSize)
        groups = try c.decodeIfPresent(Int.self, forKey: .groups) ?? 1
        expand = try c.decodeIfPresent(Int.self, forKey: .expand) ?? 2
        convKernel = try c.decodeIfPresent(Int.self, forKey: .convKernel) ?? 4
        useBias = try c.decodeIfPresent(Bool.self, forKey: .useBias) ?? false
        useConvBias = try c.decodeIfPresent(Bool.self, forKey: .useConvBias) ?? true
        activation = try c.decodeIfPresent(String.self, forKey: .activation) ?? "silu"
        epsilon = try c.decodeIfPresent(Double.self, forKey: .epsilon) ?? 1e-5
        let limit = try c.decodeIfPresent([Double].self, forKey: .timeStepLimit) ?? [0, .infinity]
        guard limit.count == 2, !limit[0].isNaN, !limit[1].isNaN, limit[0] >= 0, limit[0] <= limit[1] else {
            throw ModelLimits.invalid("time_step_limit", "must be [min, max] with 0 ≤ min ≤ max")
        }
        timeStepMin = limit[0]
        timeStepMax = min(limit[1], Double(Float.greatestFiniteMagnitude))
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? true
        bitmamba = try c.decodeIfPresent(Bool.self, forKey: .bitmamba) ?? false
        if bitmamba && tiedEmbeddings { throw ModelLimits.invalid("tie_word_embeddings", "a BitMamba-2 block has its own ternary head") }
        try validate()
    }

    public var inner: Int { expand * width }
    /// Rows of in_proj for x, B and C.
    public var xbcWidth: Int { inner + 2 * groups * stateSize }
    /// Channels of the convolution: x, B and C (BitMamba-2: x only).
    public var convWidth: Int { bitmamba ? inner : xbcWidth }
    /// Rows of in_proj: z, then x | B | C, then dt.
    public var projectionWidth: Int { inner + xbcWidth + heads }

    public func validate() throws {
        for (value, key) in [(vocabularySize, "vocab_size"), (width, "hidden_size"), (layers, "num_hidden_layers"), (heads, "num_heads"),
                             (headSize, "head_dim"), (stateSize, "state_size"), (groups, "n_groups"), (expand, "expand")] {
            try ModelLimits.check(value, key)
        }
        guard (1...16).contains(convKernel) else { throw ModelLimits.invalid("conv_kernel", "\(convKernel) must be in 1...16") }
        guard heads * headSize == inner else {
            throw ModelLimits.invalid("num_heads", "num_heads × head_dim (\(heads) × \(headSize)) must equal expand × hidden_size (\(expand) × \(width))")
        }
        guard heads % groups == 0 else { throw ModelLimits.invalid("n_groups", "\(groups) must divide num_heads (\(heads))") }
        guard activation == "silu" || activation == "swish" else { throw ModelLimits.invalid("hidden_act", "'\(activation)' is not silu") }
        guard epsilon.isFinite, epsilon > 0 else { throw ModelLimits.invalid("layer_norm_epsilon", "must be a positive number") }
        try ModelLimits.checkProduct([vocabularySize, width], "vocab_size × hidden_size")
        try ModelLimits.checkProduct([layers, projectionWidth + inner, width], "projection weights")
    }

    /// As stored in a packed file's metadata.
    public var json: JSONValue {
        .object([
            ("conv_kernel", .int(convKernel)), ("expand", .int(expand)), ("head_dim", .int(headSize)), ("hidden_act", .string(activation)),
            ("hidden_size", .int(width)), ("layer_norm_epsilon", .double(epsilon)), ("n_groups", .int(groups)), ("num_heads", .int(heads)),
            ("num_hidden_layers", .int(layers)), ("state_size", .int(stateSize)), ("tie_word_embeddings", .bool(tiedEmbeddings)),
            ("time_step_limit", .array([.double(timeStepMin), .double(timeStepMax)])), ("use_bias", .bool(useBias)),
            ("use_conv_bias", .bool(useConvBias)), ("vocab_size", .int(vocabularySize)), ("bitmamba", .bool(bitmamba)),
        ])
    }
}

/// Mamba-2 as Hugging Face's `Mamba2ForCausalLM` computes it (its `torch_forward`): per layer,
/// x += out_proj(gated_norm(scan(conv(in_proj(rmsnorm(x)))), z)); in_proj and out_proj are the
/// ternary (or dense) matrices, the convolution, A, D, dt and the norms stay float. Memory per
/// sequence is a `RecurrentState`, the same size whatever the context.
enum Mamba2 {
    /// The number of positions a sequence may reach: a recurrent state has no limit of its own.
    static let contextLength = 1 << 20

    static let architecture = Architecture(
        name: "mamba2", modelTypes: ["mamba2"], checkpointPrefixes: ["backbone.", ""], ignoredCheckpointSuffixes: [],
        tiedHead: ("lm_head.weight", "embeddings.weight"),
        decodeConfig: { try JSONValueDecoder.decode(Mamba2Config.self, from: $0).json },
        manifest: { config, quantization in manifest(try JSONValueDecoder.decode(Mamba2Config.self, from: config), quantization: quantization) },
        load: { file, tokenizer, kernels in try load(file: file, tokenizer: tokenizer, kernels: kernels) })

    static func manifest(_ c: Mamba2Config, quantization: QuantizationInfo) -> [TensorSpec] {
        var specs = [TensorSpec("embeddings", .embedding(rows: c.vocabularySize, k: c.width), source: "embeddings.weight")]
        func linear(_ name: String, rows: Int, k: Int) {
            specs.append(TensorSpec(name, .linear(rows: rows, k: k), source: "\(name).weight"))
            if c.useBias { specs.append(TensorSpec("\(name).bias", .vector(rows), source: "\(name).bias")) }
            // BitMamba-2's projections always normalize their inputs.
            if quantization.rmsNormBeforeQuant || c.bitmamba { specs.append(TensorSpec("\(name).norm.weight", .vector(k), source: "\(name).norm.weight")) }
        }
        for i in 0..<c.layers {
            let p = "layers.\(i)"
            if !c.bitmamba { specs.append(TensorSpec("\(p).norm.weight", .vector(c.width), source: "\(p).norm.weight")) }
            linear("\(p).mixer.in_proj", rows: c.projectionWidth, k: c.width)
            specs.append(TensorSpec("\(p).mixer.conv1d.weight", .table(rows: c.convWidth, columns: c.convKernel), source: "\(p).mixer.conv1d.weight"))
            if c.useConvBias { specs.append(TensorSpec("\(p).mixer.conv1d.bias", .vector(c.convWidth), source: "\(p).mixer.conv1d.bias")) }
            for name in ["dt_bias", "A_log"] { specs.append(TensorSpec("\(p).mixer.\(name)", .vector(c.heads), source: "\(p).mixer.\(name)")) }
            specs.append(TensorSpec("\(p).mixer.D", .vector(c.bitmamba ? c.inner : c.heads), source: "\(p).mixer.D"))
            if !c.bitmamba { specs.append(TensorSpec("\(p).mixer.norm.weight", .vector(c.inner), source: "\(p).mixer.norm.weight")) }
            linear("\(p).mixer.out_proj", rows: c.width, k: c.inner)
        }
        specs.append(TensorSpec("norm_f.weight", .vector(c.width), source: "norm_f.weight"))
        if c.bitmamba {
            specs.append(TensorSpec("lm_head", .linear(rows: c.vocabularySize, k: c.width), source: "lm_head.weight"))
            specs.append(TensorSpec("lm_head.norm.weight", .vector(c.width), source: "lm_head.norm.weight"))
        } else if !c.tiedEmbeddings {
            specs.append(TensorSpec("lm_head", .embedding(rows: c.vocabularySize, k: c.width), source: "lm_head.weight"))
        }
        return specs
    }

    static func load(file: PackedModelFile, tokenizer: (any Tokenizer)?, kernels: TernaryKernels) throws -> any LanguageModel {
        let c = try file.decodeConfig(Mamba2Config.self)
        let w = try WeightLoader(file: file, manifest: manifest(c, quantization: file.quantization), kernels: kernels)
        var owned: [UnsafeMutablePointer<Float>] = []
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let b = UnsafeMutablePointer<Float>.allocate(capacity: count)
            owned.append(b)
            return b
        }
        let layers = try (0..<c.layers).map { i in
            let p = "layers.\(i).mixer"
            // The convolution weights as float32 (the table may be stored F16), tap-major: (kernel,
            // channels), so that the kernel reads neighbouring channels as vectors.
            let table = w.table("\(p).conv1d.weight")
            let conv = buffer(c.convWidth * c.convKernel)
            var taps = [Float](repeating: 0, count: c.convKernel)
            for r in 0..<c.convWidth {
                taps.withUnsafeMutableBufferPointer { table.copy(row: r, to: $0.baseAddress!) }
                for j in 0..<c.convKernel { conv[j * c.convWidth + r] = taps[j] }
            }
            let aLog = w.vector("\(p).A_log"), a = buffer(c.heads)
            for h in 0..<c.heads {
                a[h] = -Foundation.exp(aLog[h])
                guard a[h].isFinite else {
                    owned.forEach { $0.deallocate() }
                    throw FormatError.corruptValues(path: file.path, tensor: "\(p).A_log", reason: "exp(A_log) overflows a float")
                }
            }
            let epsilon = c.bitmamba ? c.epsilon : nil
            return Mamba2Model.Layer(
                norm: c.bitmamba ? nil : .rms(weight: w.vector("layers.\(i).norm.weight"), epsilon: Float(c.epsilon)),
                inProjection: LinearGroup([w.linear("\(p).in_proj", epsilon: epsilon)], kernels: kernels),
                convolution: UnsafePointer(conv), convolutionBias: w.optionalVector("\(p).conv1d.bias"),
                timeStepBias: w.vector("\(p).dt_bias"), a: UnsafePointer(a), d: w.vector("\(p).D"), gateNorm: w.optionalVector("\(p).norm.weight"),
                outProjection: LinearGroup([w.linear("\(p).out_proj", epsilon: epsilon)], kernels: kernels))
        }
        let table = w.matrix("embeddings")
        let head = c.bitmamba ? w.linear("lm_head", epsilon: c.epsilon)
            : Linear(matrix: c.tiedEmbeddings ? table : w.matrix("lm_head"), bias: nil, inputNorm: nil, inputNormEpsilon: 0)
        return Mamba2Model(
            file: file, tokenizer: tokenizer, kernels: kernels, config: c, tokenEmbedding: table, layers: layers, owned: owned,
            finalNorm: .rms(weight: w.vector("norm_f.weight"), epsilon: Float(c.epsilon)),
            head: LinearGroup([head], kernels: kernels))
    }
}

final class Mamba2Model: LanguageModel, @unchecked Sendable {
    struct Layer {
        /// The block's pre-norm (none in BitMamba-2, whose in_proj normalizes its input).
        let norm: Norm?
        let inProjection: LinearGroup
        /// (kernel, channels) float32, tap-major (owned by the model).
        let convolution: UnsafePointer<Float>
        let convolutionBias: UnsafePointer<Float>?
        let timeStepBias: UnsafePointer<Float>
        /// A = −exp(A_log), per head (owned by the model).
        let a: UnsafePointer<Float>
        /// D: per head, or per channel (BitMamba-2).
        let d: UnsafePointer<Float>
        /// The gated RMSNorm's weight (none in BitMamba-2: y · silu(z)).
        let gateNorm: UnsafePointer<Float>?
        let outProjection: LinearGroup
    }

    let architecture = "mamba2"
    let file: PackedModelFile
    let tokenizer: (any Tokenizer)?
    let kernels: TernaryKernels
    let config: Mamba2Config
    let tokenEmbedding: WeightMatrix
    let layers: [Layer]
    let finalNorm: Norm
    let head: LinearGroup
    let scan: SelectiveScan.Shape

    /// The float buffers the layers point into (freed with the model).
    private let owned: [UnsafeMutablePointer<Float>]

    init(file: PackedModelFile, tokenizer: (any Tokenizer)?, kernels: TernaryKernels, config: Mamba2Config, tokenEmbedding: WeightMatrix,
         layers: [Layer], owned: [UnsafeMutablePointer<Float>], finalNorm: Norm, head: LinearGroup) {
        self.owned = owned
        self.file = file
        self.tokenizer = tokenizer
        self.kernels = kernels
        self.config = config
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.head = head
        scan = SelectiveScan.Shape(heads: config.heads, headSize: config.headSize, stateSize: config.stateSize, groups: config.groups)
    }

    deinit { owned.forEach { $0.deallocate() } }

    var vocabularySize: Int { config.vocabularySize }
    var contextLength: Int { Mamba2.contextLength }

    private var groups: [LinearGroup] { layers.flatMap { [$0.inProjection, $0.outProjection] } + [head] }
    var weightBytesPerToken: Int { groups.reduce(0) { $0 + $1.weightBytes } }
    var multiplyAddsPerToken: (layers: Int, head: Int) {
        (groups.reduce(0) { $0 + $1.multiplyAdds } - head.multiplyAdds, head.multiplyAdds)
    }
    var weightRegions: [UnsafeRawBufferPointer] { groups.flatMap(\.regions) }

    func makeMemory(_ options: MemoryOptions) -> SequenceMemory {
        RecurrentState(layers: config.layers, convRows: config.convKernel - 1, convWidth: config.convWidth,
                       ssmSize: config.heads * config.headSize * config.stateSize,
                       capacity: min(options.capacity ?? contextLength, contextLength), owner: ObjectIdentifier(self))
    }

    func forward(_ steps: UnsafeMutableBufferPointer<ForwardStep>, context: InferenceContext) throws {
        try ForwardRounds.validate(steps, vocabulary: config.vocabularySize, architecture: architecture) { memory in
            (memory as? RecurrentState)?.owner == ObjectIdentifier(self)
        }
        ForwardRounds.run(steps, context: context) { segments, count, rows, done in
            round(steps, segments: segments, count: count, rows: rows, done: done, context: context)
        }
    }

    /// Every layer over one round's rows (each sequence's rows in order), then the logits.
    private func round(_ steps: UnsafeMutableBufferPointer<ForwardStep>, segments: UnsafeMutablePointer<Segment>, count: Int,
                       rows T: Int, done: UnsafePointer<Int>, context: InferenceContext) {
        let ws = context.workspace, pool = context.pool, c = config, shape = scan
        let d = c.width, P = c.projectionWidth, inner = c.inner, convWidth = c.convWidth
        let x = ws.floats(.residual, T * d)              // (T, d) residual stream
        let h = ws.floats(.normed, T * max(d, inner))    // (T, d) norm out, then (T, inner) gated norm out
        let projected = ws.floats(.qkv, T * P)           // (T, z | xBC | dt)
        let convolved = ws.floats(.ffn, T * convWidth)   // (T, x | B | C) after the convolution
        let scanned = ws.floats(.attention, T * inner)   // (T, y)
        let timeSteps = ws.floats(.scores, T * c.heads)  // (T, heads)
        for s in 0..<count {
            let segment = segments[s]
            steps[segment.step].tokens.withUnsafeBufferPointer { ids in
                for t in 0..<segment.count {
                    tokenEmbedding.dequantizeRow(ids[done[segment.step] + t], into: x + (segment.firstRow + t) * d)
                }
            }
        }
        // The steps keep the states alive; unretained references cost no reference counting in the loops.
        let memories = ws.typed(.caches, Unmanaged<RecurrentState>.self, count)
        for s in 0..<count { memories[s] = .passUnretained(steps[segments[s].step].memory as! RecurrentState) }
        let timeStepMin = Float(c.timeStepMin), timeStepMax = Float(c.timeStepMax)
        for (l, layer) in layers.enumerated() {
            if let norm = layer.norm {
                norm.apply(x, into: h, rows: T, width: d, pool: pool)
                layer.inProjection(h, tokens: T, into: projected, stride: P, context: context)
            } else {
                layer.inProjection(x, tokens: T, into: projected, stride: P, context: context)
            }
            // The convolution, per sequence (its window continues from its state), channels split
            // over the threads.
            for s in 0..<count {
                let segment = segments[s]
                pool.run(convWidth, grain: 64, ConvolutionTask(
                    input: projected + segment.firstRow * P + inner, inputStride: P, tokens: segment.count,
                    state: memories[s].takeUnretainedValue().convolution(l), width: convWidth, weight: layer.convolution,
                    bias: layer.convolutionBias, kernel: c.convKernel, out: convolved + segment.firstRow * convWidth, outStride: convWidth))
            }
            for row in 0..<T {
                for head in 0..<c.heads {
                    timeSteps[row * c.heads + head] = SelectiveScan.timeStep(
                        projected[row * P + inner + c.xbcWidth + head], bias: layer.timeStepBias[head], min: timeStepMin, max: timeStepMax)
                }
            }
            // The scan: (sequence, head) items over the threads, each token after token; then the gate.
            pool.run(count * c.heads, ScanTask(
                config: c, shape: shape, layer: l, segments: segments, memories: memories, projected: projected, convolved: convolved,
                timeSteps: timeSteps, scanned: scanned, a: layer.a, d: layer.d))
            pool.run(T, GateTask(scanned: scanned, projected: projected, stride: P, inner: inner, groups: c.groups,
                                 epsilon: Float(c.epsilon), weight: layer.gateNorm, out: h))
            layer.outProjection(h, tokens: T, into: x, stride: d, context: context, epilogue: .addToOutput)
        }
        for s in 0..<count { memories[s].takeUnretainedValue().advance(by: segments[s].count) }
        ForwardRounds.writeLogits(steps, segments: segments, count: count, done: done, x: x, width: d, vocabulary: c.vocabularySize,
                                  finalNorm: finalNorm, head: head, context: context)
    }
}

/// The convolution of one sequence's rows over a range of channels.
private struct ConvolutionTask: ParallelTask {
    let input: UnsafePointer<Float>, inputStride: Int, tokens: Int
    let state: UnsafeMutablePointer<Float>, width: Int
    let weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, kernel: Int
    let out: UnsafeMutablePointer<Float>, outStride: Int

    func run(_ range: Range<Int>, worker: Int) {
        SelectiveScan.convolve(input: input, inputStride: inputStride, tokens: tokens, state: state, width: width, weight: weight, bias: bias,
                               kernel: kernel, out: out, outStride: outStride, channels: range, silu: true)
    }
}

/// The selective scan of (sequence, head) items, each over its sequence's rows of the round.
private struct ScanTask: ParallelTask {
    let config: Mamba2Config, shape: SelectiveScan.Shape, layer: Int
    let segments: UnsafePointer<Segment>, memories: UnsafePointer<Unmanaged<RecurrentState>>
    let projected: UnsafePointer<Float>, convolved: UnsafePointer<Float>, timeSteps: UnsafePointer<Float>
    let scanned: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, d: UnsafePointer<Float>

    func run(_ items: Range<Int>, worker: Int) {
        let c = config, inner = c.inner, convWidth = c.convWidth, P = c.projectionWidth
        for item in items {
            let s = item / c.heads, head = item % c.heads, segment = segments[s]
            let group = head / shape.headsPerGroup, first = segment.firstRow
            // B and C: convolved, or (BitMamba-2) straight from in_proj.
            let (rows, stride) = c.bitmamba ? (projected + first * P + inner, P) : (convolved + first * convWidth, convWidth)
            let b = rows + inner + group * c.stateSize
            SelectiveScan.scan(
                state: memories[s].takeUnretainedValue().ssm(layer) + head * c.headSize * c.stateSize,
                x: convolved + first * convWidth + head * c.headSize, xStride: convWidth, b: b, c: b + c.groups * c.stateSize,
                bcStride: stride, dt: timeSteps + first * c.heads + head, dtStride: c.heads, a: a[head],
                d: c.bitmamba ? d + head * c.headSize : d + head, dStride: c.bitmamba ? 1 : 0,
                y: scanned + first * inner + head * c.headSize, yStride: inner, tokens: segment.count,
                headSize: c.headSize, stateSize: c.stateSize)
        }
    }
}

/// y · silu(z) per row, then the grouped RMSNorm when the block has one.
private struct GateTask: ParallelTask {
    let scanned: UnsafePointer<Float>, projected: UnsafeMutablePointer<Float>, stride: Int, inner: Int, groups: Int, epsilon: Float
    let weight: UnsafePointer<Float>?
    let out: UnsafeMutablePointer<Float>

    func run(_ range: Range<Int>, worker: Int) {
        for row in range {
            if let weight {
                SelectiveScan.gatedNorm(y: scanned + row * inner, z: projected + row * stride, weight: weight, groupSize: inner / groups,
                                        groups: groups, epsilon: epsilon, out: out + row * inner)
            } else {
                SelectiveScan.gate(y: scanned + row * inner, z: projected + row * stride, count: inner, out: out + row * inner)
            }
        }
    }
}

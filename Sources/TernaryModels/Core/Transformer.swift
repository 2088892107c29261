import TernaryFormat
import TernaryKernels
import TernaryTokenizer

/// A decoder-only transformer on the shared core. GPT-2, Llama and BitNet b1.58 are configurations
/// of it: each architecture file reads its config, lists its manifest and builds one of these.
///
/// Per layer: x += out(attend(rope(qkv(norm₁(x))))); x += down(ffn(up(norm₂(x)))), where the FFN is
/// act(up) or act(gate) · up, and any linear may normalize its own input first (BitNet's sub-norms,
/// the BitLinear pre-norm). Then a final norm and the LM head.
final class TransformerModel: LanguageModel, @unchecked Sendable {
    struct Shape {
        let vocabulary: Int
        let contextLength: Int
        let width: Int
        let layers: Int
        let attention: AttentionShape
        let ffnWidth: Int
        let gatedFFN: Bool
        let activation: VectorOps.Activation
        let rope: RotaryEmbedding?
    }

    struct Layer {
        let attentionNorm: Norm
        /// Groups writing the q | k | v row, each from its own column (one fused group for GPT-2's
        /// c_attn; one group of three for Llama; three groups when each has its own input norm).
        let projections: [(group: LinearGroup, offset: Int)]
        let output: LinearGroup
        let ffnNorm: Norm
        /// One member (act(up)) or two (gate, up) for a gated FFN.
        let up: LinearGroup
        let down: LinearGroup
    }

    let architecture: String
    let file: PackedModelFile
    let tokenizer: (any Tokenizer)?
    let kernels: TernaryKernels
    let shape: Shape
    let tokenEmbedding: WeightMatrix
    let positionEmbedding: FloatTable?
    let layers: [Layer]
    let finalNorm: Norm
    let head: LinearGroup

    init(architecture: String, file: PackedModelFile, tokenizer: (any Tokenizer)?, kernels: TernaryKernels, shape: Shape,
         tokenEmbedding: WeightMatrix, positionEmbedding: FloatTable?, layers: [Layer], finalNorm: Norm, head: LinearGroup) {
        self.architecture = architecture
        self.file = file
        self.tokenizer = tokenizer
        self.kernels = kernels
        self.shape = shape
        self.tokenEmbedding = tokenEmbedding
        self.positionEmbedding = positionEmbedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.head = head
    }

    var vocabularySize: Int { shape.vocabulary }
    var contextLength: Int { shape.contextLength }

    private var groups: [LinearGroup] {
        layers.flatMap { $0.projections.map(\.group) + [$0.output, $0.up, $0.down] } + [head]
    }
    var weightBytesPerToken: Int { groups.reduce(0) { $0 + $1.weightBytes } }
    var multiplyAddsPerToken: (layers: Int, head: Int) {
        (groups.reduce(0) { $0 + $1.multiplyAdds } - head.multiplyAdds, head.multiplyAdds)
    }
    var weightRegions: [UnsafeRawBufferPointer] { groups.flatMap(\.regions) }

    func makeMemory(_ options: MemoryOptions) -> SequenceMemory {
        KVCache(layers: shape.layers, capacity: min(options.capacity ?? shape.contextLength, shape.contextLength),
                kvHeads: shape.attention.kvHeads, headSize: shape.attention.headSize, precision: options.kvPrecision,
                owner: ObjectIdentifier(self))
    }

    func forward(_ steps: UnsafeMutableBufferPointer<ForwardStep>, context: InferenceContext) throws {
        try ForwardRounds.validate(steps, vocabulary: shape.vocabulary, architecture: architecture) { memory in
            (memory as? KVCache)?.owner == ObjectIdentifier(self)
        }
        ForwardRounds.run(steps, context: context) { segments, count, rows, done in
            round(steps, segments: segments, count: count, rows: rows, done: done, context: context)
        }
    }

    /// Every layer over one round's rows; stores their keys and values, advances the memories and
    /// writes the logits the steps ask for.
    private func round(_ steps: UnsafeMutableBufferPointer<ForwardStep>, segments: UnsafeMutablePointer<Segment>, count: Int,
                       rows T: Int, done: UnsafePointer<Int>, context: InferenceContext) {
        let ws = context.workspace, pool = context.pool
        let d = shape.width, a = shape.attention
        let x = ws.floats(.residual, T * d)                      // (T, d) residual stream
        let h = ws.floats(.normed, T * max(d, a.queryWidth))     // (T, d) norm out, then (T, queryWidth) attention out
        let qkv = ws.floats(.qkv, T * a.rowWidth)                // (T, q | k | v)
        let ffn = ws.floats(.ffn, T * shape.ffnWidth)            // (T, ffn)
        let rowSegments = ws.typed(.rowSegments, Int32.self, T)
        let positions = ws.typed(.positions, Int32.self, T)
        var scoreStride = 1
        for s in 0..<count {
            let segment = segments[s]
            scoreStride = max(scoreStride, segment.start + segment.count)
            steps[segment.step].tokens.withUnsafeBufferPointer { ids in
                for t in 0..<segment.count {
                    let row = segment.firstRow + t
                    tokenEmbedding.dequantizeRow(ids[done[segment.step] + t], into: x + row * d)
                    positionEmbedding?.add(row: segment.start + t, to: x + row * d)
                    rowSegments[row] = Int32(s)
                    positions[row] = Int32(segment.start + t)
                }
            }
        }
        var cosines: UnsafeMutablePointer<Float>?, sines: UnsafeMutablePointer<Float>?
        if let rope = shape.rope {
            let half = rope.dimensions / 2, table = ws.floats(.rope, 2 * T * half)
            rope.tables(positions: positions, count: T, cos: table, sin: table + T * half)
            (cosines, sines) = (table, table + T * half)
        }
        let caches = ws.typed(.caches, KVCacheLayer.self, count)
        // Sized for the next power of two of positions: the context grows by a token per decode
        // step, and the buffer must not be reallocated each time.
        let scores = ws.floats(.scores, pool.threads * AttentionKernels.maxRows * (1 << (Int.bitWidth - (scoreStride - 1).leadingZeroBitCount)))
        // A prefill's attention goes by blocks of up to maxRows consecutive rows of one segment
        // (each block's keys and values are converted once for its rows): the first row of each.
        let rowBlocks = ws.typed(.rowBlocks, Int32.self, T)
        var blockCount = 0
        for s in 0..<count {
            for first in Swift.stride(from: segments[s].firstRow, to: segments[s].firstRow + segments[s].count, by: AttentionKernels.maxRows) {
                rowBlocks[blockCount] = Int32(first)
                blockCount += 1
            }
        }
        let ffnEpilogue: LinearEpilogue = shape.gatedFFN ? .gated(shape.activation) : .activation(shape.activation)
        // Decode steps are bound by reading the weights: before each linear runs, the threads are
        // told which rows of the next one they take first, and read them while they wait.
        let prefetches = T <= LinearGroup.streamingTokens
        func announce(_ group: LinearGroup, _ epilogue: LinearEpilogue) {
            if prefetches { group.announce(tokens: T, epilogue: epilogue, context: context) }
        }
        for (l, layer) in layers.enumerated() {
            layer.attentionNorm.apply(x, into: h, rows: T, width: d, pool: pool)
            for (i, projection) in layer.projections.enumerated() {
                if i + 1 < layer.projections.count { announce(layer.projections[i + 1].group, .store) } else { announce(layer.output, .addToOutput) }
                projection.group(h, tokens: T, into: qkv + projection.offset, stride: a.rowWidth, context: context)
            }
            if let rope = shape.rope, let cosines, let sines {
                let half = rope.dimensions / 2
                pool.run(T) { range in
                    for i in range {
                        let row = qkv + i * a.rowWidth
                        rope.rotate(row, heads: a.heads, headSize: a.headSize, cos: cosines + i * half, sin: sines + i * half)
                        rope.rotate(row + a.queryWidth, heads: a.kvHeads, headSize: a.headSize, cos: cosines + i * half, sin: sines + i * half)
                    }
                }
            }
            for s in 0..<count { caches[s] = (steps[segments[s].step].memory as! KVCache).layer(l) }
            let task = AttentionRun(
                shape: a, tokens: T, qkv: qkv, out: h, scores: scores, scoreStride: scoreStride,
                segments: segments, caches: caches, rowSegments: rowSegments)
            if T == count {
                // Decode: one token per sequence.
                pool.run(count * a.kvHeads, task)
            } else {
                // Prefill: the threads store heads in parallel, then (head, row block) items spread
                // the attention over the threads.
                pool.run(count * a.kvHeads, BatchStore(attention: task))
                pool.runIndexed(blockCount * a.heads) { range, worker in
                    for item in range {
                        let block = item % blockCount, first = Int(rowBlocks[block])
                        let s = Int(rowSegments[first]), end = segments[s].firstRow + segments[s].count
                        task.attend(head: item / blockCount, rows: first..<min(end, first + AttentionKernels.maxRows), worker: worker)
                    }
                }
            }
            announce(layer.up, ffnEpilogue)
            layer.output(h, tokens: T, into: x, stride: d, context: context, epilogue: .addToOutput)
            layer.ffnNorm.apply(x, into: h, rows: T, width: d, pool: pool)
            announce(layer.down, .addToOutput)
            layer.up(h, tokens: T, into: ffn, stride: shape.ffnWidth, context: context, epilogue: ffnEpilogue)
            if l + 1 < layers.count { announce(layers[l + 1].projections[0].group, .store) } else { announce(head, .store) }
            layer.down(ffn, tokens: T, into: x, stride: d, context: context, epilogue: .addToOutput)
        }
        for s in 0..<count { (steps[segments[s].step].memory as! KVCache).advance(by: segments[s].count) }
        ForwardRounds.writeLogits(steps, segments: segments, count: count, done: done, x: x, width: d, vocabulary: shape.vocabulary,
                                  finalNorm: finalNorm, head: head, context: context)
        // The next step starts with the first layer's projections (sampling runs in between).
        announce(layers[0].projections[0].group, .store)
    }
}

import TernaryKernels

/// The attention hyper-parameters of a model. With grouped-query attention (GQA) each of the
/// `kvHeads` key/value heads serves `heads / kvHeads` consecutive query heads (MQA: one KV head;
/// GPT-2: as many as query heads).
struct AttentionShape: Sendable {
    let heads: Int
    let kvHeads: Int
    let headSize: Int
    let scale: Float

    init(heads: Int, kvHeads: Int, headSize: Int) {
        precondition(heads % kvHeads == 0, "query heads must be a multiple of KV heads")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headSize = headSize
        scale = 1 / Float(headSize).squareRoot()
    }

    var group: Int { heads / kvHeads }
    var queryWidth: Int { heads * headSize }
    var kvWidth: Int { kvHeads * headSize }
    /// A projection row holds q | k | v side by side (GPT-2's fused c_attn writes exactly this).
    var rowWidth: Int { queryWidth + 2 * kvWidth }
}

/// One sequence's tokens inside a forward round: rows `firstRow ..< firstRow + count` of the
/// round's activations, at positions `start ..< start + count` of the sequence.
struct Segment {
    var firstRow: Int
    var count: Int
    var start: Int
    /// Index of the forward step (sequence) it belongs to.
    var step: Int
}

/// Causal attention of one layer over a round's rows, per head. Every key and value is read from the
/// sequence's cache, the round's own included (they are stored first), as llama.cpp does: so a
/// token's logits do not depend on how its prompt was split into rounds, on the other sequences
/// of a batch, or on a cached prefix, and the same seed gives the same text however a server
/// schedules it. Each head's keys (and values) lie contiguous in the cache, so the loops stream.
struct AttentionRun: ParallelTask {
    let shape: AttentionShape
    let tokens: Int                                   // rows in the round
    let qkv: UnsafeMutablePointer<Float>              // (tokens, rowWidth), q and k already rotated
    let out: UnsafeMutablePointer<Float>              // (tokens, queryWidth)
    let scores: UnsafeMutablePointer<Float>           // (threads, AttentionKernels.maxRows, scoreStride)
    let scoreStride: Int
    let segments: UnsafePointer<Segment>
    let caches: UnsafePointer<KVCacheLayer>           // per segment: its sequence's cache, this layer
    let rowSegments: UnsafePointer<Int32>             // (tokens): the segment of each row

    /// One segment's new keys and values of KV head `g`, into its cache.
    func store(segment s: Int, kvHead g: Int) {
        let hs = shape.headSize, segment = segments[s], cache = caches[s]
        for t in 0..<segment.count {
            let k = qkv + (segment.firstRow + t) * shape.rowWidth + shape.queryWidth + g * hs, v = k + shape.kvWidth
            cache.store(head: g, position: segment.start + t, keys: k, values: v)
        }
    }

    /// The outputs for query head h of `rows` (consecutive rows of one segment, at most
    /// AttentionKernels.maxRows): a prefill's block.
    func attend(head h: Int, rows: Range<Int>, worker: Int) {
        let first = rows.lowerBound, s = Int(rowSegments[first]), segment = segments[s]
        attend(cache: caches[s], kvHead: h / shape.group, queries: qkv + first * shape.rowWidth + h * shape.headSize,
               queryStride: shape.rowWidth, rows: rows.count, causal: true, firstCount: segment.start + (first - segment.firstRow) + 1,
               out: out + first * shape.queryWidth + h * shape.headSize, outStride: shape.queryWidth, worker: worker)
    }

    /// The outputs of row i for every query head that KV head g serves (grouped-query attention
    /// reads each key and value once for up to AttentionKernels.maxRows heads): a decode step.
    func attend(kvHead g: Int, row i: Int, worker: Int) {
        let s = Int(rowSegments[i]), segment = segments[s], hs = shape.headSize
        let visible = segment.start + (i - segment.firstRow) + 1
        for h0 in Swift.stride(from: g * shape.group, to: (g + 1) * shape.group, by: AttentionKernels.maxRows) {
            let heads = min(AttentionKernels.maxRows, (g + 1) * shape.group - h0)
            attend(cache: caches[s], kvHead: g, queries: qkv + i * shape.rowWidth + h0 * hs, queryStride: hs, rows: heads,
                   causal: false, firstCount: visible, out: out + i * shape.queryWidth + h0 * hs, outStride: hs, worker: worker)
        }
    }

    /// Up to AttentionKernels.maxRows query rows over KV head g, using thread `worker`'s score rows.
    /// The cache's kernels take the rows together and give each the same numbers as alone, so a
    /// token's output does not depend on the block it ran in.
    private func attend(cache: KVCacheLayer, kvHead g: Int, queries q: UnsafePointer<Float>, queryStride: Int, rows: Int,
                        causal: Bool, firstCount: Int, out o: UnsafeMutablePointer<Float>, outStride: Int, worker: Int) {
        let p = scores + worker * AttentionKernels.maxRows * scoreStride
        cache.scores(head: g, queries: q, queryStride: queryStride, rows: rows, causal: causal, firstCount: firstCount,
                     scale: shape.scale, into: p, scoreStride: scoreStride)
        for r in 0..<rows {
            VectorOps.softmax(p + r * scoreStride, firstCount + (causal ? r : 0))
            (o + r * outStride).update(repeating: 0, count: shape.headSize)
        }
        cache.accumulateValues(head: g, weights: p, weightStride: scoreStride, rows: rows, causal: causal, firstCount: firstCount,
                               into: o, outStride: outStride)
    }

    /// Decode (one token per segment): item = segment · kvHeads + g stores KV head g, then attends
    /// with the query heads it serves. Each thread stores its own heads, so the first writes to
    /// fresh cache pages are not left to the calling thread alone (about 6 % faster tg in an A/B run).
    func run(_ range: Range<Int>, worker: Int) {
        for item in range {
            let s = item / shape.kvHeads, g = item % shape.kvHeads
            store(segment: s, kvHead: g)
            attend(kvHead: g, row: segments[s].firstRow, worker: worker)
        }
        AttentionKernels.storeFence()
    }
}

/// Stores a prefill's keys and values, (segment, KV head) by (segment, KV head), in parallel.
struct BatchStore: ParallelTask {
    let attention: AttentionRun

    func run(_ range: Range<Int>, worker: Int) {
        for item in range { attention.store(segment: item / attention.shape.kvHeads, kvHead: item % attention.shape.kvHeads) }
        AttentionKernels.storeFence()
    }
}

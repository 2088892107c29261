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

/// Causal attention of one layer over a round's rows, per head. Earlier positions of each sequence
/// come from its cache; the round's own keys and values are read in float32 from a per-head
/// contiguous copy (a prefill is exact whatever the cache precision, and its loops stream memory).
struct AttentionRun: ParallelTask {
    let shape: AttentionShape
    let tokens: Int                                   // rows in the round
    let qkv: UnsafeMutablePointer<Float>              // (tokens, rowWidth), q and k already rotated
    let out: UnsafeMutablePointer<Float>              // (tokens, queryWidth)
    let scores: UnsafeMutablePointer<Float>           // (threads, scoreStride)
    let scoreStride: Int
    let batchKeys: UnsafeMutablePointer<Float>        // (kvHeads, tokens, head size)
    let batchValues: UnsafeMutablePointer<Float>      // (kvHeads, tokens, head size)
    let segments: UnsafePointer<Segment>
    let caches: UnsafePointer<KVCacheLayer>           // per segment: its sequence's cache, this layer
    let rowSegments: UnsafePointer<Int32>             // (tokens): the segment of each row

    /// One segment's new keys and values of KV head `g`: into its cache (read by later calls) and
    /// into the contiguous batch copy (read by this call).
    func store(segment s: Int, kvHead g: Int) {
        let hs = shape.headSize, segment = segments[s], cache = caches[s]
        let keys = batchKeys + (g * tokens + segment.firstRow) * hs, values = batchValues + (g * tokens + segment.firstRow) * hs
        for t in 0..<segment.count {
            let k = qkv + (segment.firstRow + t) * shape.rowWidth + shape.queryWidth + g * hs, v = k + shape.kvWidth
            cache.store(head: g, position: segment.start + t, keys: k, values: v)
            (keys + t * hs).update(from: k, count: hs)
            (values + t * hs).update(from: v, count: hs)
        }
    }

    /// Row i's output for query head h, using thread `worker`'s score row.
    func attend(head h: Int, row i: Int, worker: Int) {
        let hs = shape.headSize, s = Int(rowSegments[i]), segment = segments[s], cache = caches[s]
        let t = i - segment.firstRow, g = h / shape.group
        let p = scores + worker * scoreStride
        let keys = batchKeys + (g * tokens + segment.firstRow) * hs, values = batchValues + (g * tokens + segment.firstRow) * hs
        let q = qkv + i * shape.rowWidth + h * hs
        cache.scores(head: g, query: q, count: segment.start, scale: shape.scale, into: p)
        AttentionKernels.scores(query: q, keys: keys, stride: hs, count: t + 1, width: hs, scale: shape.scale, into: p + segment.start)
        VectorOps.softmax(p, segment.start + t + 1)
        let o = out + i * shape.queryWidth + h * hs
        o.update(repeating: 0, count: hs)
        cache.accumulateValues(head: g, weights: p, count: segment.start, into: o)
        AttentionKernels.accumulate(weights: p + segment.start, values: values, stride: hs, count: t + 1, width: hs, into: o)
    }

    /// Decode (one token per segment): item = segment · kvHeads + g stores KV head g, then attends
    /// with the query heads it serves. Each thread stores its own heads, so the first writes to
    /// fresh cache pages are not left to the calling thread alone (about 6 % faster tg in an A/B run).
    func run(_ range: Range<Int>, worker: Int) {
        for item in range {
            let s = item / shape.kvHeads, g = item % shape.kvHeads
            store(segment: s, kvHead: g)
            for h in (g * shape.group)..<((g + 1) * shape.group) { attend(head: h, row: segments[s].firstRow, worker: worker) }
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

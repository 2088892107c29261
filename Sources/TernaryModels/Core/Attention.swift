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
    let scores: UnsafeMutablePointer<Float>           // (threads, scoreStride)
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

    /// Row i's output for query head h, using thread `worker`'s score row.
    func attend(head h: Int, row i: Int, worker: Int) {
        let hs = shape.headSize, s = Int(rowSegments[i]), segment = segments[s], cache = caches[s]
        let visible = segment.start + (i - segment.firstRow) + 1, g = h / shape.group
        let p = scores + worker * scoreStride
        let q = qkv + i * shape.rowWidth + h * hs
        cache.scores(head: g, query: q, count: visible, scale: shape.scale, into: p)
        VectorOps.softmax(p, visible)
        let o = out + i * shape.queryWidth + h * hs
        o.update(repeating: 0, count: hs)
        cache.accumulateValues(head: g, weights: p, count: visible, into: o)
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

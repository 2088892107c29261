import TernaryKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a model remembers of one sequence between calls: a KV cache for attention models, a
/// fixed-size recurrent state for state-space models (Mamba-2). Generation and perplexity only use
/// this interface. A memory belongs to one sequence and is used by one forward at a time.
public protocol SequenceMemory: AnyObject {
    /// Tokens consumed so far.
    var length: Int { get }
    /// The most tokens it can hold.
    var capacity: Int { get }
    /// Bytes it takes when full (reserved address space; pages are touched as tokens arrive).
    var bytes: Int { get }
    /// Forget everything (start a new sequence).
    func reset()
    /// Keep only the first `count` tokens, if this kind of memory can (a KV cache can; a recurrent
    /// state cannot go back without a saved checkpoint). Returns whether it did.
    func truncate(to count: Int) -> Bool
}

/// How a model makes the memory of a new sequence.
public struct MemoryOptions: Sendable, Equatable {
    /// How a KV cache stores keys and values.
    public var kvPrecision: KVPrecision
    /// The most tokens the sequence may hold (nil: the model's context length; larger values are
    /// capped to it).
    public var capacity: Int?

    public init(kvPrecision: KVPrecision = .f16, capacity: Int? = nil) {
        self.kvPrecision = kvPrecision
        self.capacity = capacity
    }
}

/// Storage from an anonymous mapping: pages cost memory only once written, so a cache sized for
/// the full context costs only what the sequence has used.
final class LazyBuffer {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int

    init(bytes: Int) {
        self.bytes = max(bytes, 1)
        let raw = mmap(nil, self.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(raw != nil && raw != MAP_FAILED, "cannot reserve \(self.bytes) bytes for the model's memory")
        pointer = raw!
        #if os(Linux)
        // Each head's rows are written a few at a time, far apart: 2 MB pages would make all of them
        // resident at once.
        _ = madvise(pointer, self.bytes, Int32(MADV_NOHUGEPAGE))
        #endif
    }

    deinit { munmap(pointer, bytes) }
}

/// How keys and values are stored.
/// - f32: exact, bit-comparable with the float32 PyTorch reference.
/// - f16: half the memory; the default (as llama.cpp's).
/// - q8: int8 with one float scale per head and position, about a quarter of f32 (as llama.cpp's
///   q8_0, with the head as the block); see docs/BENCHMARKS.md for its perplexity cost. Lossier
///   than f16: on stories260K (head size 8) it flips one greedy near-tie that f16 and f32 keep.
public enum KVPrecision: String, Sendable, CaseIterable {
    case f32, f16, q8

    /// Bytes of one stored key or value element.
    var elementBytes: Int {
        switch self {
        case .f32: 4
        case .f16: 2
        case .q8: 1
        }
    }
}

/// Per-layer keys and values for attention models, stored KV head by KV head (with grouped-query
/// attention a KV head serves several query heads, and only KV heads are stored): each head's
/// positions are contiguous, so attention over the cache streams memory instead of striding
/// across all heads.
///
/// One anonymous mapping holds every layer: keys (kvHeads, capacity, head size), values (same), and
/// for q8 the key and value scales, position-major (capacity, kvHeads) so that a short sequence
/// touches few pages of them.
public final class KVCache: SequenceMemory {
    public let layers: Int
    public let capacity: Int
    public let kvHeads: Int
    public let headSize: Int
    /// Width of one position's keys (KV heads × head size).
    public var width: Int { kvHeads * headSize }
    public let precision: KVPrecision
    /// The model that made it (a cache of the same shape from another model holds other keys).
    let owner: ObjectIdentifier?
    private let storage: LazyBuffer
    private let base: UnsafeMutableRawPointer   // storage.pointer, read without retaining storage
    private let planeBytes: Int                 // one layer's keys (or values), page-aligned
    private let scalePlaneBytes: Int            // one layer's key (or value) scales, page-aligned
    private let layerBytes: Int
    public private(set) var length = 0
    public var bytes: Int { storage.bytes }

    public init(layers: Int, capacity: Int, kvHeads: Int, headSize: Int, precision: KVPrecision = .f32, owner: ObjectIdentifier? = nil) {
        self.owner = owner
        self.layers = layers
        self.capacity = capacity
        self.kvHeads = kvHeads
        let heads = kvHeads
        self.headSize = headSize
        self.precision = precision
        func pageAligned(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }
        planeBytes = pageAligned(heads * capacity * headSize * precision.elementBytes)
        scalePlaneBytes = precision == .q8 ? pageAligned(capacity * heads * MemoryLayout<Float>.size) : 0
        layerBytes = 2 * planeBytes + 2 * scalePlaneBytes
        storage = LazyBuffer(bytes: layers * layerBytes)
        base = storage.pointer
    }

    public func reset() { length = 0 }

    /// Keeps the first `count` positions (the rest are overwritten by later tokens).
    public func truncate(to count: Int) -> Bool {
        guard count >= 0, count <= length else { return false }
        length = count
        return true
    }

    /// One layer's keys and values as plain pointers, for the attention tasks: calls through it
    /// cost no reference counting per head.
    func layer(_ layer: Int) -> KVCacheLayer {
        let start = base + layer * layerBytes
        let scales = (start + 2 * planeBytes).assumingMemoryBound(to: Float.self)
        return KVCacheLayer(
            keys: start, values: start + planeBytes, keyScales: scales,
            valueScales: scales + scalePlaneBytes / MemoryLayout<Float>.size,
            precision: precision, capacity: capacity, heads: kvHeads, headSize: headSize)
    }

    /// Called by the model once all layers have stored `count` new positions.
    func advance(by count: Int) { length += count }
}

/// One layer of a `KVCache`: keys and values (KV heads, capacity, head size); for q8 also the key and
/// value scales (capacity, KV heads). `head` arguments are KV head indices.
struct KVCacheLayer {
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    let keyScales: UnsafeMutablePointer<Float>    // q8 only
    let valueScales: UnsafeMutablePointer<Float>  // q8 only
    let precision: KVPrecision
    let capacity: Int, heads: Int, headSize: Int

    /// Offset (in elements) of `head`'s row for `position`.
    @inline(__always)
    private func index(head: Int, position: Int) -> Int { (head * capacity + position) * headSize }

    /// Stores one head's keys and values (`headSize` floats each) for one position. q8 rows may be
    /// written with streaming stores: call `finishStores()` before other threads read them.
    @inline(__always)
    func store(head: Int, position: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        let at = index(head: head, position: position)
        switch precision {
        case .f32:
            (keys.assumingMemoryBound(to: Float.self) + at).update(from: k, count: headSize)
            (values.assumingMemoryBound(to: Float.self) + at).update(from: v, count: headSize)
        case .f16:
            HalfPrecision.convert(k, to: keys.assumingMemoryBound(to: Float16.self) + at, headSize)
            HalfPrecision.convert(v, to: values.assumingMemoryBound(to: Float16.self) + at, headSize)
        case .q8:
            let scaleAt = position * heads + head
            keyScales[scaleAt] = AttentionKernels.quantizeRow(k, into: keys.assumingMemoryBound(to: Int8.self) + at, count: headSize)
            valueScales[scaleAt] = AttentionKernels.quantizeRow(v, into: values.assumingMemoryBound(to: Int8.self) + at, count: headSize)
        }
    }

    /// Orders this thread's earlier `store`s before its later stores (call it before the stores are
    /// handed to other threads, e.g. at the end of a parallel task).
    @inline(__always)
    func finishStores() {
        if precision == .q8 { AttentionKernels.storeFence() }
    }

    /// Query rows r < `rows` (q + r · queryStride, at most AttentionKernels.maxRows), row r seeing
    /// the first firstCount + r positions when `causal`, else firstCount: scores[r · scoreStride + j]
    /// = scale · q_r · key[head][j] over row r's positions. Each score is the same whatever the rows.
    @inline(__always)
    func scores(head: Int, queries q: UnsafePointer<Float>, queryStride: Int, rows: Int, causal: Bool, firstCount: Int,
                scale: Float, into scores: UnsafeMutablePointer<Float>, scoreStride: Int) {
        let start = index(head: head, position: 0), step = causal ? 1 : 0
        switch precision {
        case .f32:
            for r in 0..<rows {
                AttentionKernels.scores(query: q + r * queryStride, keys: keys.assumingMemoryBound(to: Float.self) + start,
                                        stride: headSize, count: firstCount + r * step, width: headSize, scale: scale,
                                        into: scores + r * scoreStride)
            }
        case .f16:
            AttentionKernels.scores(queries: q, queryStride: queryStride, rows: rows, causal: causal,
                                    keys: keys.assumingMemoryBound(to: Float16.self) + start,
                                    stride: headSize, firstCount: firstCount, width: headSize, scale: scale,
                                    into: scores, scoreStride: scoreStride)
        case .q8:
            for r in 0..<rows {
                AttentionKernels.scores(query: q + r * queryStride, keys: keys.assumingMemoryBound(to: Int8.self) + start, stride: headSize,
                                        keyScales: keyScales + head, scaleStride: heads, count: firstCount + r * step, width: headSize,
                                        scale: scale, into: scores + r * scoreStride)
            }
        }
    }

    /// y_r += Σ_j p_r[j] · value[head][j] over row r's positions, for the rows of `scores(…)`, p_r = p
    /// + r · weightStride, y_r = y + r · outStride.
    @inline(__always)
    func accumulateValues(head: Int, weights p: UnsafePointer<Float>, weightStride: Int, rows: Int, causal: Bool, firstCount: Int,
                          into y: UnsafeMutablePointer<Float>, outStride: Int) {
        let start = index(head: head, position: 0), step = causal ? 1 : 0
        switch precision {
        case .f32:
            for r in 0..<rows {
                AttentionKernels.accumulate(weights: p + r * weightStride, values: values.assumingMemoryBound(to: Float.self) + start,
                                            stride: headSize, count: firstCount + r * step, width: headSize, into: y + r * outStride)
            }
        case .f16:
            AttentionKernels.accumulate(weights: p, weightStride: weightStride, rows: rows, causal: causal, firstCount: firstCount,
                                        values: values.assumingMemoryBound(to: Float16.self) + start, stride: headSize,
                                        width: headSize, into: y, outStride: outStride)
        case .q8:
            for r in 0..<rows {
                AttentionKernels.accumulate(weights: p + r * weightStride, values: values.assumingMemoryBound(to: Int8.self) + start,
                                            stride: headSize, valueScales: valueScales + head, scaleStride: heads,
                                            count: firstCount + r * step, width: headSize, into: y + r * outStride)
            }
        }
    }
}

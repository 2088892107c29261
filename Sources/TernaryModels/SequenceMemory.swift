import TernaryKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a model remembers between calls: a KV cache for attention models, a fixed-size recurrent
/// state for state-space models (Mamba-2). Generation and perplexity only use this interface.
public protocol SequenceMemory: AnyObject {
    /// Tokens consumed so far.
    var length: Int { get }
    /// Forget everything (start a new sequence).
    func reset()
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
    }

    deinit { munmap(pointer, bytes) }
}

/// How keys and values are stored. f16 halves the cache (as llama.cpp does by default); f32 keeps
/// the engine bit-comparable with the float32 PyTorch reference.
public enum KVPrecision: String, Sendable, CaseIterable {
    case f32, f16
}

/// Per-layer keys and values for attention models, stored head by head: each head's positions are
/// contiguous, so attention over the cache streams memory instead of striding across all heads.
public final class KVCache: SequenceMemory {
    public let layers: Int
    public let capacity: Int
    public let heads: Int
    public let headSize: Int
    /// Width of one position's keys (heads × head size).
    public var width: Int { heads * headSize }
    public let precision: KVPrecision
    private let keys: [LazyBuffer]    // per layer: (heads, capacity, head size) of f32 or f16
    private let values: [LazyBuffer]  // per layer: (heads, capacity, head size) of f32 or f16
    public private(set) var length = 0

    public init(layers: Int, capacity: Int, heads: Int, headSize: Int, precision: KVPrecision = .f32) {
        self.layers = layers
        self.capacity = capacity
        self.heads = heads
        self.headSize = headSize
        self.precision = precision
        let bytes = capacity * heads * headSize * (precision == .f32 ? 4 : 2)
        keys = (0..<layers).map { _ in LazyBuffer(bytes: bytes) }
        values = (0..<layers).map { _ in LazyBuffer(bytes: bytes) }
    }

    public func reset() { length = 0 }

    /// Offset (in elements) of `head`'s row for `position`.
    @inline(__always)
    private func index(head: Int, position: Int) -> Int { (head * capacity + position) * headSize }

    /// Stores one head's keys and values (`headSize` floats each) for one position.
    @inline(__always)
    func store(layer: Int, head: Int, position: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        let at = index(head: head, position: position)
        switch precision {
        case .f32:
            (keys[layer].pointer.assumingMemoryBound(to: Float.self) + at).update(from: k, count: headSize)
            (values[layer].pointer.assumingMemoryBound(to: Float.self) + at).update(from: v, count: headSize)
        case .f16:
            HalfPrecision.convert(k, to: keys[layer].pointer.assumingMemoryBound(to: Float16.self) + at, headSize)
            HalfPrecision.convert(v, to: values[layer].pointer.assumingMemoryBound(to: Float16.self) + at, headSize)
        }
    }

    /// scores[j] = scale · q · key[head][j] for the first `count` positions.
    @inline(__always)
    func scores(layer: Int, head: Int, query q: UnsafePointer<Float>, count: Int, scale: Float,
                into scores: UnsafeMutablePointer<Float>) {
        guard count > 0 else { return }
        let start = index(head: head, position: 0)
        switch precision {
        case .f32:
            AttentionKernels.scores(query: q, keys: keys[layer].pointer.assumingMemoryBound(to: Float.self) + start,
                                    stride: headSize, count: count, width: headSize, scale: scale, into: scores)
        case .f16:
            AttentionKernels.scores(query: q, keys: keys[layer].pointer.assumingMemoryBound(to: Float16.self) + start,
                                    stride: headSize, count: count, width: headSize, scale: scale, into: scores)
        }
    }

    /// y += Σ_j p[j] · value[head][j] over the first `count` positions.
    @inline(__always)
    func accumulateValues(layer: Int, head: Int, weights p: UnsafePointer<Float>, count: Int,
                          into y: UnsafeMutablePointer<Float>) {
        guard count > 0 else { return }
        let start = index(head: head, position: 0)
        switch precision {
        case .f32:
            AttentionKernels.accumulate(weights: p, values: values[layer].pointer.assumingMemoryBound(to: Float.self) + start,
                                        stride: headSize, count: count, width: headSize, into: y)
        case .f16:
            AttentionKernels.accumulate(weights: p, values: values[layer].pointer.assumingMemoryBound(to: Float16.self) + start,
                                        stride: headSize, count: count, width: headSize, into: y)
        }
    }

    /// Called by the model once all layers have stored `count` new positions.
    func advance(by count: Int) { length += count }
}

/// Fixed-size recurrent state (convolution window and SSM state per layer) for Mamba-2 style models.
public final class RecurrentState: SequenceMemory {
    public let convState: [[Float]]  // per layer: (channels, kernel - 1)
    public let ssmState: [[Float]]   // per layer: (heads, head size, state size)
    public private(set) var length = 0

    public init(layers: Int, convSize: Int, ssmSize: Int) {
        convState = Array(repeating: [Float](repeating: 0, count: convSize), count: layers)
        ssmState = Array(repeating: [Float](repeating: 0, count: ssmSize), count: layers)
    }

    public func reset() { length = 0 }
    func advance(by count: Int) { length += count }
}

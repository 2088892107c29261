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

/// Per-layer keys and values for attention models.
public final class KVCache: SequenceMemory {
    public let layers: Int
    public let capacity: Int
    /// Width of one position's keys (heads × head size).
    public let width: Int
    public let precision: KVPrecision
    private let keys: [LazyBuffer]    // per layer: (capacity, width) of f32 or f16
    private let values: [LazyBuffer]  // per layer: (capacity, width) of f32 or f16
    public private(set) var length = 0

    public init(layers: Int, capacity: Int, width: Int, precision: KVPrecision = .f32) {
        self.layers = layers
        self.capacity = capacity
        self.width = width
        self.precision = precision
        let bytes = capacity * width * (precision == .f32 ? 4 : 2)
        keys = (0..<layers).map { _ in LazyBuffer(bytes: bytes) }
        values = (0..<layers).map { _ in LazyBuffer(bytes: bytes) }
    }

    public func reset() { length = 0 }

    /// Stores one position's keys and values (each `width` floats).
    @inline(__always)
    func store(layer: Int, position: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>) {
        switch precision {
        case .f32:
            (keys[layer].pointer.assumingMemoryBound(to: Float.self) + position * width).update(from: k, count: width)
            (values[layer].pointer.assumingMemoryBound(to: Float.self) + position * width).update(from: v, count: width)
        case .f16:
            HalfPrecision.convert(k, to: keys[layer].pointer.assumingMemoryBound(to: Float16.self) + position * width, width)
            HalfPrecision.convert(v, to: values[layer].pointer.assumingMemoryBound(to: Float16.self) + position * width, width)
        }
    }

    /// q · key[position][offset..<offset+n]
    @inline(__always)
    func dotKey(layer: Int, position: Int, offset: Int, _ q: UnsafePointer<Float>, _ n: Int) -> Float {
        switch precision {
        case .f32: VectorOps.dot(q, keys[layer].pointer.assumingMemoryBound(to: Float.self) + position * width + offset, n)
        case .f16: HalfPrecision.dot(q, keys[layer].pointer.assumingMemoryBound(to: Float16.self) + position * width + offset, n)
        }
    }

    /// y += a · value[position][offset..<offset+n]
    @inline(__always)
    func addValue(layer: Int, position: Int, offset: Int, _ a: Float, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        switch precision {
        case .f32: VectorOps.axpy(a, values[layer].pointer.assumingMemoryBound(to: Float.self) + position * width + offset, y, n)
        case .f16: HalfPrecision.axpy(a, values[layer].pointer.assumingMemoryBound(to: Float16.self) + position * width + offset, y, n)
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

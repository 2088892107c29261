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

/// Float storage from an anonymous mapping: pages cost memory only once written, so a cache sized
/// for the full context costs only what the sequence has used.
final class LazyFloatBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = max(count, 1)
        let bytes = self.count * MemoryLayout<Float>.stride
        let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(raw != nil && raw != MAP_FAILED, "cannot reserve \(bytes) bytes for the model's memory")
        pointer = raw!.bindMemory(to: Float.self, capacity: self.count)
    }

    deinit { munmap(pointer, count * MemoryLayout<Float>.stride) }
}

/// Per-layer keys and values for attention models.
public final class KVCache: SequenceMemory {
    public let layers: Int
    public let capacity: Int
    /// Width of one position's keys (heads × head size).
    public let width: Int
    private let keys: [LazyFloatBuffer]    // per layer: (capacity, width)
    private let values: [LazyFloatBuffer]  // per layer: (capacity, width)
    public private(set) var length = 0

    public init(layers: Int, capacity: Int, width: Int) {
        self.layers = layers
        self.capacity = capacity
        self.width = width
        keys = (0..<layers).map { _ in LazyFloatBuffer(count: capacity * width) }
        values = (0..<layers).map { _ in LazyFloatBuffer(count: capacity * width) }
    }

    public func reset() { length = 0 }

    @inline(__always) func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys[layer].pointer }
    @inline(__always) func values(layer: Int) -> UnsafeMutablePointer<Float> { values[layer].pointer }

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

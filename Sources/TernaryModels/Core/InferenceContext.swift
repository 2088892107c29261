import TernaryKernels

/// Where forward passes run: the worker threads and the scratch memory they use. A model's weights
/// are immutable and can be shared by any number of contexts; create one context per thread that
/// runs forward passes (two contexts may run the same model at the same time). A context itself
/// runs one forward at a time: it is not safe to use from two threads at once.
public final class InferenceContext: @unchecked Sendable {
    public let pool: WorkerPool
    /// The most tokens one forward step processes at once: a longer prompt runs in micro-batches of
    /// this size (as llama.cpp's ubatch), which bounds the activation buffers whatever the prompt
    /// length; later micro-batches read earlier positions from the KV cache, as decode does.
    public let microBatch: Int
    let workspace = Workspace()

    public static let defaultMicroBatch = 128

    public init(threads: Int = WorkerPool.coreCount, microBatch: Int = InferenceContext.defaultMicroBatch) {
        precondition(microBatch >= 1, "a micro-batch holds at least one token")
        pool = WorkerPool(threads: threads)
        self.microBatch = microBatch
    }
}

/// The scratch memory of one context: one buffer per use, grown to the largest request and never
/// shrunk, so a decode loop allocates nothing once warmed up. Growing a buffer drops its contents.
final class Workspace {
    enum Slot: Int, CaseIterable {
        case residual, normed, qkv, attention, ffn, ffnPair, scores, rope, headRows, logits
        case quantized, activationScales, activationSums, accumulators, normRows, normedInput
        case rowSegments, rowBlocks, positions, segments, caches, stepProgress
    }

    private var pointers = [UnsafeMutableRawPointer?](repeating: nil, count: Slot.allCases.count)
    private var capacities = [Int](repeating: 0, count: Slot.allCases.count)

    /// At least `bytes` bytes for `slot`, 64-byte aligned.
    func raw(_ slot: Slot, bytes: Int) -> UnsafeMutableRawPointer {
        let i = slot.rawValue
        if bytes > capacities[i] || pointers[i] == nil {
            pointers[i]?.deallocate()
            let size = max(bytes, 64)
            pointers[i] = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            capacities[i] = size
        }
        return pointers[i]!
    }

    func floats(_ slot: Slot, _ count: Int) -> UnsafeMutablePointer<Float> {
        raw(slot, bytes: count * MemoryLayout<Float>.stride).assumingMemoryBound(to: Float.self)
    }

    func typed<T>(_ slot: Slot, _ type: T.Type, _ count: Int) -> UnsafeMutablePointer<T> {
        raw(slot, bytes: count * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: count)
    }

    deinit { for p in pointers { p?.deallocate() } }
}

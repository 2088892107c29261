import TernaryKernels

/// The kernels and threads a model runs with.
public final class InferenceContext: @unchecked Sendable {
    public let kernels: TernaryKernels
    public let pool: WorkerPool
    public let kvPrecision: KVPrecision
    /// The most tokens one forward step processes at once: a longer prompt runs in micro-batches of
    /// this size (as llama.cpp's ubatch), which bounds the activation buffers whatever the prompt
    /// length; later micro-batches read earlier positions from the KV cache, as decode does.
    public let microBatch: Int

    public static let defaultMicroBatch = 128

    public init(threads: Int = WorkerPool.coreCount, isa: KernelISA = .best, kvPrecision: KVPrecision = .q8,
                microBatch: Int = InferenceContext.defaultMicroBatch) {
        precondition(microBatch >= 1, "a micro-batch holds at least one token")
        kernels = TernaryKernels(isa: isa)
        pool = WorkerPool(threads: threads)
        self.kvPrecision = kvPrecision
        self.microBatch = microBatch
    }
}

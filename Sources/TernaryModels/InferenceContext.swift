import TernaryKernels

/// The kernels and threads a model runs with.
public final class InferenceContext: @unchecked Sendable {
    public let kernels: TernaryKernels
    public let pool: WorkerPool
    public let kvPrecision: KVPrecision

    public init(threads: Int = WorkerPool.coreCount, isa: KernelISA = .best, kvPrecision: KVPrecision = .f16) {
        kernels = TernaryKernels(isa: isa)
        pool = WorkerPool(threads: threads)
        self.kvPrecision = kvPrecision
    }
}

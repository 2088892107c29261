import TernaryKernels

/// The kernels and threads a model runs with.
public final class InferenceContext: @unchecked Sendable {
    public let kernels: TernaryKernels
    public let pool: WorkerPool

    public init(threads: Int = WorkerPool.coreCount, isa: KernelISA = .best) {
        kernels = TernaryKernels(isa: isa)
        pool = WorkerPool(threads: threads)
    }
}

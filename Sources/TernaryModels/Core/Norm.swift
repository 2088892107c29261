import TernaryKernels

/// The normalization before attention and FFN blocks (and at the end of the stack).
enum Norm {
    /// (x − mean) / sqrt(var + ε) · weight + bias (GPT-2).
    case layer(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, epsilon: Float)
    /// x / sqrt(mean(x²) + ε) · weight (Llama, BitNet).
    case rms(weight: UnsafePointer<Float>, epsilon: Float)

    @inline(__always)
    func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) {
        switch self {
        case let .layer(weight, bias, epsilon): VectorOps.layerNorm(x, out, n, weight: weight, bias: bias, eps: epsilon)
        case let .rms(weight, epsilon): VectorOps.rmsNorm(x, out, n, weight: weight, eps: epsilon)
        }
    }

    /// Each of `rows` rows of width n; a prefill spreads its rows over the threads.
    func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, width n: Int, pool: WorkerPool) {
        pool.run(rows) { range in
            for t in range { apply(x + t * n, into: out + t * n, n) }
        }
    }
}

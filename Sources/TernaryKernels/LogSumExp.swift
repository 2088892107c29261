import CTernaryKernels

/// log Σ exp(x[i]): the normalizer that turns logits into log-probabilities (log-softmax).
public enum LogSumExp {
    /// Vectorised (AVX2 where the CPU has it), the terms summed in double; finite inputs only.
    public static func of(_ x: UnsafeBufferPointer<Float>) -> Double { tk_log_sum_exp(x.baseAddress, x.count) }

    /// Double precision throughout, one term at a time: the oracle the vectorised path is tested against.
    public static func reference(_ x: UnsafeBufferPointer<Float>) -> Double { tk_log_sum_exp_reference(x.baseAddress, x.count) }
}

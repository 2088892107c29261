import CTernaryKernels

/// The int8 dot-product peak of a kernel path: every thread of `pool` runs the path's
/// multiply-add instruction in independent chains on registers (`tk_dot_peak`); the best of
/// `repeats` passes, in multiply-adds per second. What prefill, which is bound by arithmetic, is
/// measured against, as decode is against the STREAM read.
public enum ComputePeak {
    /// Nil for the scalar and portable paths (no single instruction to measure).
    public static func measure(isa: KernelISA, pool: WorkerPool, repeats: Int = 3) -> Double? {
        let code: Int32
        switch isa {
        case .avx512VNNI: code = Int32(TK_ISA_AVX512VNNI)
        case .avxVNNI: code = Int32(TK_ISA_AVXVNNI)
        case .avx2: code = Int32(TK_ISA_AVX2)
        case .scalar, .portable: return nil
        }
        let perRound = tk_dot_peak_macs_per_round(code)
        let rounds = 2_000_000  // about 5 ms per thread at 2 rounds per ns
        var best = 0.0
        var sinks = [Int64](repeating: 0, count: pool.threads)
        for _ in 0..<repeats {
            let start = Timing.now()
            sinks.withUnsafeMutableBufferPointer { s in
                let out = s.baseAddress!
                pool.runIndexed(pool.threads) { range, worker in
                    for _ in range { out[worker] &+= tk_dot_peak(code, rounds) }
                }
            }
            let seconds = Timing.seconds(since: start)
            best = max(best, Double(pool.threads * rounds * perRound) / seconds)
        }
        guard sinks.allSatisfy({ $0 != -1 }) else { return nil }
        return best
    }
}

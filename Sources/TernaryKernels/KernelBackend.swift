import CTernaryKernels

/// Which implementation runs the integer matmuls. All produce bit-identical integer results.
public enum KernelISA: String, CaseIterable, Sendable, CustomStringConvertible {
    case scalar
    case portable
    case avx2
    case avxVNNI = "avx-vnni"
    case avx512VNNI = "avx512-vnni"

    public var description: String { rawValue }

    private static let features = Int32(tk_cpu_features())

    /// The paths this CPU can run, slowest first.
    public static var available: [KernelISA] {
        var result: [KernelISA] = [.scalar, .portable]
        if features & Int32(TK_ISA_AVX2) != 0 { result.append(.avx2) }
        if features & Int32(TK_ISA_AVXVNNI) != 0 { result.append(.avxVNNI) }
        if features & Int32(TK_ISA_AVX512VNNI) != 0 { result.append(.avx512VNNI) }
        return result
    }

    /// The fastest path on this CPU (measured: AVX-512 VNNI > AVX-VNNI > AVX2 > portable).
    public static var best: KernelISA { available.last! }

    /// AVX-512 VBMI beside VNNI: the `t1.6` kernels' byte-table lookups.
    public static var hasBase3SIMD: Bool { features & Int32(TK_ISA_AVX512VBMI) != 0 }

    /// Float GEMV with F16C + FMA is available (used for f16/f32 embeddings as LM head).
    static var hasFloatSIMD: Bool { features & Int32(TK_ISA_F16C_FMA) != 0 }
}

/// One interface over every kernel implementation.
public struct TernaryKernels: Sendable {
    public let isa: KernelISA

    public init(isa: KernelISA = .best) {
        precondition(KernelISA.available.contains(isa), "\(isa) is not available on this CPU")
        self.isa = isa
    }

    /// Quantizes one token's activations (see `ScalarKernels.quantizeActivations`).
    @inline(__always)
    public func quantize(
        _ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>, padded: Int
    ) -> (scale: Float, sum: Int32) {
        switch isa {
        case .scalar, .portable:
            return ScalarKernels.quantizeActivations(x, count: count, into: q, padded: padded)
        case .avx2, .avxVNNI:
            var sum: Int32 = 0
            let s = tk_quantize_activations_avx2(x, count, q, padded, &sum)
            return (s, sum)
        case .avx512VNNI:
            var sum: Int32 = 0
            let s = tk_quantize_activations_avx512(x, count, q, padded, &sum)
            return (s, sum)
        }
    }

    /// Float GEMV over f16 rows (f16 embeddings as the LM head).
    @inline(__always)
    public func f16GEMV(weights: UnsafePointer<Float16>, k: Int, rows: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        if isa != .scalar && isa != .portable && KernelISA.hasFloatSIMD {
            weights.withMemoryRebound(to: UInt16.self, capacity: k * rows) { tk_f16_gemv_fma($0, k, rows, x, out) }
        } else {
            ScalarKernels.floatGEMV(weights: weights, k: k, rows: rows, x: x, out: out)
        }
    }

    /// Float GEMV over bf16 rows (the top half of each f32).
    @inline(__always)
    public func bf16GEMV(weights: UnsafePointer<UInt16>, k: Int, rows: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        if isa != .scalar && isa != .portable && KernelISA.hasFloatSIMD {
            tk_bf16_gemv_fma(weights, k, rows, x, out)
        } else {
            ScalarKernels.bf16GEMV(weights: weights, k: k, rows: rows, x: x, out: out)
        }
    }

    /// Float GEMV over f32 rows.
    @inline(__always)
    public func f32GEMV(weights: UnsafePointer<Float>, k: Int, rows: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        if isa != .scalar && isa != .portable && KernelISA.hasFloatSIMD {
            tk_f32_gemv_fma(weights, k, rows, x, out)
        } else {
            ScalarKernels.floatGEMV(weights: weights, k: k, rows: rows, x: x, out: out)
        }
    }
}

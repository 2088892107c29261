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
    static var hasBase3SIMD: Bool { features & Int32(TK_ISA_AVX512VBMI) != 0 }

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
        case .avx2, .avxVNNI, .avx512VNNI:
            var sum: Int32 = 0
            let s = tk_quantize_activations_avx2(x, count, q, padded, &sum)
            return (s, sum)
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` for packed ternary rows; `xSum` is the sum of `x`.
    @inline(__always)
    public func ternaryGEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xSum: Int32, out: UnsafeMutablePointer<Int32>
    ) {
        let w = weights.assumingMemoryBound(to: UInt8.self)
        switch isa {
        case .scalar: ScalarKernels.ternaryGEMV(weights: weights, rowBytes: rowBytes, rows: rows, x: x, out: out)
        case .portable: PortableKernels.ternaryGEMV(weights: weights, rowBytes: rowBytes, rows: rows, x: x, xSum: xSum, out: out)
        case .avx2: tk_ternary_gemv_avx2(w, rowBytes, rows, x, xSum, out)
        case .avxVNNI: tk_ternary_gemv_avxvnni(w, rowBytes, rows, x, xSum, out)
        case .avx512VNNI: tk_ternary_gemv_avx512vnni(w, rowBytes, rows, x, xSum, out)
        }
    }

    /// Matrix-matrix form for prefill: `tokens` activation rows of stride `xStride`, results at
    /// `out[t * outStride + r]`. SIMD paths reuse each unpacked weight block across four tokens.
    @inline(__always)
    public func ternaryGEMM(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xStride: Int, xSums: UnsafePointer<Int32>, tokens: Int,
        out: UnsafeMutablePointer<Int32>, outStride: Int
    ) {
        let w = weights.assumingMemoryBound(to: UInt8.self)
        switch isa {
        case .scalar, .portable:
            var column = [Int32](repeating: 0, count: rows)
            for t in 0..<tokens {
                ternaryGEMV(weights: weights, rowBytes: rowBytes, rows: rows, x: x + t * xStride, xSum: xSums[t], out: &column)
                for r in 0..<rows { out[t * outStride + r] = column[r] }
            }
        case .avx2: tk_ternary_gemm_avx2(w, rowBytes, rows, x, xStride, xSums, tokens, out, outStride)
        case .avxVNNI: tk_ternary_gemm_avxvnni(w, rowBytes, rows, x, xStride, xSums, tokens, out, outStride)
        case .avx512VNNI: tk_ternary_gemm_avx512vnni(w, rowBytes, rows, x, xStride, xSums, tokens, out, outStride)
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` for `t1.6` rows (`Base3Layout`). AVX-512 VBMI + VNNI where the CPU
    /// has them (the `avx512-vnni` path); the portable kernel on the other paths.
    @inline(__always)
    public func base3GEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xSum: Int32, out: UnsafeMutablePointer<Int32>
    ) {
        if isa == .scalar {
            ScalarKernels.base3GEMV(weights: weights, rowBytes: rowBytes, rows: rows, x: x, out: out)
        } else if isa == .avx512VNNI && KernelISA.hasBase3SIMD {
            tk_t16_gemv_avx512vbmi(weights.assumingMemoryBound(to: UInt8.self), rowBytes, rows, x, xSum, out)
        } else {
            PortableKernels.base3GEMV(weights: weights, rowBytes: rowBytes, rows: rows, x: x, xSum: xSum, out: out)
        }
    }

    /// The matrix-matrix form of `base3GEMV` (prefill, batched decode): each block is decoded once
    /// for up to eight tokens.
    @inline(__always)
    public func base3GEMM(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, xStride: Int, xSums: UnsafePointer<Int32>, tokens: Int,
        out: UnsafeMutablePointer<Int32>, outStride: Int
    ) {
        if isa == .avx512VNNI && KernelISA.hasBase3SIMD {
            tk_t16_gemm_avx512vbmi(weights.assumingMemoryBound(to: UInt8.self), rowBytes, rows, x, xStride, xSums, tokens, out, outStride)
            return
        }
        var column = [Int32](repeating: 0, count: rows)
        for t in 0..<tokens {
            base3GEMV(weights: weights, rowBytes: rowBytes, rows: rows, x: x + t * xStride, xSum: xSums[t], out: &column)
            for r in 0..<rows { out[t * outStride + r] = column[r] }
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` for int8 rows (values in −127…127, padded to a multiple of 64).
    @inline(__always)
    public func int8GEMV(
        weights: UnsafePointer<Int8>, rowLength: Int, rows: Int,
        x: UnsafePointer<Int8>, xSum: Int32, out: UnsafeMutablePointer<Int32>
    ) {
        switch isa {
        case .scalar: ScalarKernels.int8GEMV(weights: weights, rowLength: rowLength, rows: rows, x: x, out: out)
        case .portable: PortableKernels.int8GEMV(weights: weights, rowLength: rowLength, rows: rows, x: x, out: out)
        case .avx2, .avxVNNI: tk_int8_gemv_avx2(weights, rowLength, rows, x, xSum, out)
        case .avx512VNNI: tk_int8_gemv_avx512vnni(weights, rowLength, rows, x, xSum, out)
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

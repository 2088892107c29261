import CTernaryKernels

/// The packed layouts that have integer kernels (docs/FORMAT.md): each pads a row to whole blocks.
public enum IntegerLayout: String, CaseIterable, Sendable, CustomStringConvertible {
    /// 2-bit ternary codes, 64 weights per 16-byte block (`TernaryLayout`).
    case ternary
    /// Base-3 ternary codes, 320 weights per 64-byte block (`Base3Layout`).
    case base3 = "t1.6"
    /// Signed bytes, rows padded to 64.
    case int8

    public var description: String { rawValue }

    /// Weights per block; rows and their activations are zero-padded to a multiple.
    public var blockWeights: Int { self == .base3 ? Base3Layout.blockWeights : TernaryLayout.blockWeights }

    /// `k` padded to whole blocks: the activations' length.
    public func paddedLength(_ k: Int) -> Int { (k + blockWeights - 1) / blockWeights * blockWeights }

    /// Bytes of one stored row of `k` weights.
    public func rowBytes(_ k: Int) -> Int {
        switch self {
        case .ternary: TernaryLayout.rowBytes(k)
        case .base3: Base3Layout.rowBytes(k)
        case .int8: paddedLength(k)
        }
    }
}

/// The integer matmuls of one layout on one instruction-set path, chosen once (when a model is
/// loaded, `TernaryKernels.matmul(for:)`) rather than switched per call: a new layout is one more
/// row in that table plus its kernels. Every entry gives integer results equal to the layout's
/// scalar reference (tested for every layout and path).
public struct IntegerMatmul: Sendable {
    /// `out[r] = Σ_k W[r,k]·x[k]` for `rows` rows of `rowBytes` bytes; `xSum` is `Σ x`.
    public typealias GEMV = @Sendable (_ weights: UnsafeRawPointer, _ rowBytes: Int, _ rows: Int,
                                      _ x: UnsafePointer<Int8>, _ xSum: Int32, _ out: UnsafeMutablePointer<Int32>) -> Void
    /// `out[t·outStride + r] = Σ_k W[r,k]·x[t·xStride + k]` for `tokens` activation rows.
    public typealias GEMM = @Sendable (_ weights: UnsafeRawPointer, _ rowBytes: Int, _ rows: Int,
                                      _ x: UnsafePointer<Int8>, _ xStride: Int, _ xSums: UnsafePointer<Int32>, _ tokens: Int,
                                      _ out: UnsafeMutablePointer<Int32>, _ outStride: Int) -> Void

    public let layout: IntegerLayout
    /// The implementation that runs, e.g. `avx512-vbmi` (it may differ from the path asked for
    /// when a layout has no kernel for it, as t1.6 on AVX-512 without VBMI runs the AVX2 one).
    public let implementation: String
    public let gemv: GEMV
    public let gemm: GEMM

    /// A GEMM as one GEMV per token (paths without a matrix-matrix kernel).
    static func tokenByToken(_ gemv: @escaping GEMV) -> GEMM {
        { w, rowBytes, rows, x, xStride, xSums, tokens, out, outStride in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: rows) { column in
                for t in 0..<tokens {
                    gemv(w, rowBytes, rows, x + t * xStride, xSums[t], column.baseAddress!)
                    for r in 0..<rows { out[t * outStride + r] = column[r] }
                }
            }
        }
    }
}

extension TernaryKernels {
    /// The matmuls for `layout` on this path (see `IntegerMatmul`).
    public func matmul(for layout: IntegerLayout) -> IntegerMatmul {
        @Sendable func bytes(_ w: UnsafeRawPointer) -> UnsafePointer<UInt8> { w.assumingMemoryBound(to: UInt8.self) }
        @Sendable func int8s(_ w: UnsafeRawPointer) -> UnsafePointer<Int8> { w.assumingMemoryBound(to: Int8.self) }
        func make(_ name: String, _ gemv: @escaping IntegerMatmul.GEMV, _ gemm: IntegerMatmul.GEMM? = nil) -> IntegerMatmul {
            IntegerMatmul(layout: layout, implementation: name, gemv: gemv, gemm: gemm ?? IntegerMatmul.tokenByToken(gemv))
        }
        switch (layout, isa) {
        case (.ternary, .scalar):
            return make("scalar") { w, rb, rows, x, _, out in ScalarKernels.ternaryGEMV(weights: w, rowBytes: rb, rows: rows, x: x, out: out) }
        case (.ternary, .portable):
            return make("portable") { w, rb, rows, x, s, out in PortableKernels.ternaryGEMV(weights: w, rowBytes: rb, rows: rows, x: x, xSum: s, out: out) }
        case (.ternary, .avx2):
            return make("avx2", { tk_ternary_gemv_avx2(bytes($0), $1, $2, $3, $4, $5) },
                        { tk_ternary_gemm_avx2(bytes($0), $1, $2, $3, $4, $5, $6, $7, $8) })
        case (.ternary, .avxVNNI):
            return make("avx-vnni", { tk_ternary_gemv_avxvnni(bytes($0), $1, $2, $3, $4, $5) },
                        { tk_ternary_gemm_avxvnni(bytes($0), $1, $2, $3, $4, $5, $6, $7, $8) })
        case (.ternary, .avx512VNNI):
            return make("avx512-vnni", { tk_ternary_gemv_avx512vnni(bytes($0), $1, $2, $3, $4, $5) },
                        { tk_ternary_gemm_avx512vnni(bytes($0), $1, $2, $3, $4, $5, $6, $7, $8) })
        case (.base3, .scalar):
            return make("scalar") { w, rb, rows, x, _, out in ScalarKernels.base3GEMV(weights: w, rowBytes: rb, rows: rows, x: x, out: out) }
        case (.base3, .avx512VNNI) where KernelISA.hasBase3SIMD:
            return make("avx512-vbmi", { tk_t16_gemv_avx512vbmi(bytes($0), $1, $2, $3, $4, $5) },
                        { tk_t16_gemm_avx512vbmi(bytes($0), $1, $2, $3, $4, $5, $6, $7, $8) })
        case (.base3, .avx2), (.base3, .avxVNNI), (.base3, .avx512VNNI):  // (AVX-512 without VBMI: the AVX2 kernel)
            return make("avx2", { tk_t16_gemv_avx2(bytes($0), $1, $2, $3, $4, $5) },
                        { tk_t16_gemm_avx2(bytes($0), $1, $2, $3, $4, $5, $6, $7, $8) })
        case (.base3, .portable):
            return make("portable") { w, rb, rows, x, s, out in PortableKernels.base3GEMV(weights: w, rowBytes: rb, rows: rows, x: x, xSum: s, out: out) }
        case (.int8, .scalar):
            return make("scalar") { w, rb, rows, x, _, out in ScalarKernels.int8GEMV(weights: int8s(w), rowLength: rb, rows: rows, x: x, out: out) }
        case (.int8, .portable):
            return make("portable") { w, rb, rows, x, _, out in PortableKernels.int8GEMV(weights: int8s(w), rowLength: rb, rows: rows, x: x, out: out) }
        case (.int8, .avx2), (.int8, .avxVNNI):
            return make("avx2") { tk_int8_gemv_avx2(int8s($0), $1, $2, $3, $4, $5) }
        case (.int8, .avx512VNNI):
            return make("avx512-vnni") { tk_int8_gemv_avx512vnni(int8s($0), $1, $2, $3, $4, $5) }
        }
    }
}

import CTernaryKernels

/// The matmul of a grouped layout (`q4`, `q6`) on one instruction-set path, chosen once when a model
/// is loaded. Each group's integer sum is exact; the row's value Σ_g d_g · sum_g is a float sum, so
/// the SIMD paths agree with the scalar reference to float rounding (tested with a stated bound).
public struct GroupedMatmul: Sendable {
    /// `out[r] = Σ_g d[r·groups + g] · Σ_{i ∈ g} (q − offset)·x[i]` for `rows` rows and `groups · 32`
    /// activations x.
    public typealias GEMV = @Sendable (_ weights: UnsafeRawPointer, _ rowBytes: Int, _ rows: Int, _ scales: UnsafePointer<Float16>,
                                      _ groups: Int, _ x: UnsafePointer<Int8>, _ out: UnsafeMutablePointer<Float>) -> Void

    public let layout: GroupedLayout
    public let implementation: String
    public let gemv: GEMV
}

extension TernaryKernels {
    /// The matmul for `layout` on this path.
    public func groupedMatmul(for layout: GroupedLayout) -> GroupedMatmul {
        typealias Kernel = @convention(c) (UnsafePointer<UInt8>?, Int, Int, UnsafePointer<UInt16>?, Int, UnsafePointer<Int8>?, UnsafeMutablePointer<Float>?) -> Void
        func c(_ name: String, _ kernel: Kernel) -> GroupedMatmul {
            GroupedMatmul(layout: layout, implementation: name) { w, rowBytes, rows, scales, groups, x, out in
                kernel(w.assumingMemoryBound(to: UInt8.self), rowBytes, rows, UnsafeRawPointer(scales).assumingMemoryBound(to: UInt16.self), groups, x, out)
            }
        }
        switch (isa, layout) {
        case (.avx512VNNI, .q4): return c("avx512-vnni", tk_q4_gemv_avx512vnni)
        case (.avx512VNNI, .q6): return c("avx512-vnni", tk_q6_gemv_avx512vnni)
        case (.avx2, .q4) where KernelISA.hasFloatSIMD, (.avxVNNI, .q4) where KernelISA.hasFloatSIMD: return c("avx2", tk_q4_gemv_avx2)
        case (.avx2, .q6) where KernelISA.hasFloatSIMD, (.avxVNNI, .q6) where KernelISA.hasFloatSIMD: return c("avx2", tk_q6_gemv_avx2)
        default:
            // The portable path has no vector kernel of its own for these layouts (they serve only
            // heads and embeddings): it runs the scalar reference, and says so.
            return GroupedMatmul(layout: layout, implementation: "scalar") { w, rowBytes, rows, scales, groups, x, out in
                ScalarKernels.groupedGEMV(layout, weights: w, rowBytes: rowBytes, rows: rows, scales: scales, groups: groups, x: x, out: out)
            }
        }
    }
}

extension ScalarKernels {
    /// The reference: per group an Int32 sum, then `acc += Float(d) · Float(sum)` group by group.
    public static func groupedGEMV(
        _ layout: GroupedLayout, weights: UnsafeRawPointer, rowBytes: Int, rows: Int, scales: UnsafePointer<Float16>, groups: Int,
        x: UnsafePointer<Int8>, out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let row = UnsafeRawBufferPointer(start: weights + r * rowBytes, count: rowBytes)
            var acc: Float = 0
            for g in 0..<groups {
                var sum: Int32 = 0
                for i in (g * GroupedLayout.groupWeights)..<((g + 1) * GroupedLayout.groupWeights) {
                    sum += Int32(layout.code(at: i, of: row) - layout.offset) * Int32(x[i])
                }
                acc += Float(scales[r * groups + g]) * Float(sum)
            }
            out[r] = acc
        }
    }
}

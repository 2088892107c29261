/// The scalar reference kernels: always built, the fallback on any CPU, and the oracle that every
/// SIMD path is tested against. Integer results must match them exactly.
public enum ScalarKernels {
    /// BitNet b1.58 per-token activation quantization (docs/FORMAT.md):
    /// `s = 127 / max(max|x|, 1e-5)`, `q = clamp(roundHalfEven(x * s), -128, 127)`, zero padding.
    /// Returns `s` and the sum of `q`. A token holding NaN or an infinity (weights that overflow)
    /// gets `s = NaN` and `q = 0`, so the layer's outputs are NaN and the logits say so: the
    /// sampler then stops with an error instead of generating from garbage.
    public static func quantizeActivations(
        _ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>, padded: Int
    ) -> (scale: Float, sum: Int32) {
        var maxAbs: Float = 0
        var finite = true
        for i in 0..<count {
            finite = finite && x[i].isFinite
            maxAbs = max(maxAbs, abs(x[i]))
        }
        guard finite else {
            q.update(repeating: 0, count: padded)
            return (.nan, 0)
        }
        let scale = Float(127) / max(maxAbs, 1e-5)
        var sum: Int32 = 0
        for i in 0..<count {
            let v = min(max((x[i] * scale).rounded(.toNearestOrEven), -128), 127)
            q[i] = Int8(v)
            sum += Int32(v)
        }
        for i in count..<padded { q[i] = 0 }
        return (scale, sum)
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` over packed ternary rows.
    public static func ternaryGEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>
    ) {
        let w = weights.assumingMemoryBound(to: UInt8.self)
        for r in 0..<rows {
            let row = w + r * rowBytes
            var acc: Int32 = 0
            for block in 0..<(rowBytes / TernaryLayout.blockBytes) {
                for j in 0..<16 {
                    let byte = row[block * 16 + j]
                    for k in 0..<4 {
                        let code = Int32((byte >> UInt8(2 * k)) & 3)
                        acc += (code - 1) * Int32(x[block * 64 + 16 * k + j])
                    }
                }
            }
            out[r] = acc
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` over `t1.6` rows (`Base3Layout`), one base-3 digit at a time.
    public static func base3GEMV(
        weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
        x: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>
    ) {
        let w = weights.assumingMemoryBound(to: UInt8.self)
        for r in 0..<rows {
            let row = w + r * rowBytes
            var acc: Int32 = 0
            for block in 0..<(rowBytes / Base3Layout.blockBytes) {
                for j in 0..<64 {
                    let byte = Int(row[block * 64 + j])
                    for i in 0..<5 {
                        acc += Int32(Base3Layout.digit(byte, i) - 1) * Int32(x[block * 320 + 64 * i + j])
                    }
                }
            }
            out[r] = acc
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` over int8 rows of `rowLength` (padded) values.
    public static func int8GEMV(
        weights: UnsafePointer<Int8>, rowLength: Int, rows: Int,
        x: UnsafePointer<Int8>, out: UnsafeMutablePointer<Int32>
    ) {
        for r in 0..<rows {
            var acc: Int32 = 0
            for k in 0..<rowLength { acc += Int32(weights[r * rowLength + k]) * Int32(x[k]) }
            out[r] = acc
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` over float rows (f16 or f32 storage).
    public static func floatGEMV<W: BinaryFloatingPoint>(
        weights: UnsafePointer<W>, k: Int, rows: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            var acc: Float = 0
            for i in 0..<k { acc += Float(weights[r * k + i]) * x[i] }
            out[r] = acc
        }
    }

    /// `out[r] = Σ_k W[r,k]·x[k]` over bfloat16 rows (each value is the top half of an f32).
    public static func bf16GEMV(
        weights: UnsafePointer<UInt16>, k: Int, rows: Int, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            var acc: Float = 0
            for i in 0..<k { acc += Float(bitPattern: UInt32(weights[r * k + i]) << 16) * x[i] }
            out[r] = acc
        }
    }
}

import TernaryFormat
import TernaryKernels

/// Weight quantization exactly as docs/FORMAT.md defines it (the Python exporter mirrors this
/// code bit for bit, so both write identical files).
public enum WeightQuantizer {
    /// β = max(float32(Σ|w| / n), 1e-5), the sum taken in float64 in row-major order.
    public static func absMean(_ w: [Float]) -> Float {
        var total = 0.0
        for v in w { total += Double(abs(v)) }
        return max(Float(total / Double(w.count)), Float(1e-5))
    }

    /// Ternary codes of a row-major (rows, k) float matrix: round-half-even(w / β) clamped to
    /// −1…1, and β.
    public static func ternaryCodes(_ w: [Float], rows: Int, k: Int) -> (codes: [Int8], beta: Float) {
        precondition(w.count == rows * k)
        let beta = absMean(w)
        return (w.map { Int8(min(max(($0 / beta).rounded(.toNearestOrEven), -1), 1)) }, beta)
    }

    /// Packs exact ternary values (rows, k), each −1, 0 or +1, in `format`'s layout (`ternary`:
    /// 2-bit, the default; `t1.6`: base 3).
    public static func pack(_ codes: [Int8], rows: Int, k: Int, format: WeightFormat = .ternary) -> [UInt8] {
        precondition(codes.count == rows * k && format.isTernary)
        let rowBytes = format.rowBytes(k)
        var packed = [UInt8](repeating: 0, count: rows * rowBytes)
        packed.withUnsafeMutableBytes { out in
            codes.withUnsafeBufferPointer { all in
                for r in 0..<rows {
                    let row = UnsafeBufferPointer(rebasing: all[(r * k)..<((r + 1) * k)])
                    let target = UnsafeMutableRawBufferPointer(rebasing: out[(r * rowBytes)..<((r + 1) * rowBytes)])
                    if format == .base3 { Base3Layout.packRow(row, into: target) } else { TernaryLayout.packRow(row, into: target) }
                }
            }
        }
        return packed
    }

    /// The codes (rows, k) of rows packed in `format`'s layout.
    public static func unpack(_ packed: [UInt8], rows: Int, k: Int, format: WeightFormat = .ternary) -> [Int8] {
        precondition(format.isTernary)
        let rowBytes = format.rowBytes(k)
        var codes = [Int8](repeating: 0, count: rows * k)
        packed.withUnsafeBytes { raw in
            for r in 0..<rows {
                let row = UnsafeRawBufferPointer(rebasing: raw[(r * rowBytes)..<((r + 1) * rowBytes)])
                for i in 0..<k {
                    codes[r * k + i] = format == .base3 ? Base3Layout.weight(at: i, of: row) : TernaryLayout.weight(at: i, of: row)
                }
            }
        }
        return codes
    }

    /// bfloat16 bits of a float, rounded to nearest even (as torch's `.to(torch.bfloat16)`).
    public static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    /// Per-row int8: scale = max(max|row|, 1e-5) / 127, q = clamp(round(w / scale), −127, 127),
    /// rows padded with zeros to a multiple of 64.
    public static func int8Rows(_ w: [Float], rows: Int, k: Int) -> (values: [Int8], scales: [Float]) {
        let padded = TernaryLayout.paddedLength(k)
        var values = [Int8](repeating: 0, count: rows * padded)
        var scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var m: Float = 0
            for i in 0..<k { m = max(m, abs(w[r * k + i])) }
            let scale = max(m, 1e-5) / 127
            scales[r] = scale
            for i in 0..<k { values[r * padded + i] = Int8(min(max((w[r * k + i] / scale).rounded(.toNearestOrEven), -127), 127)) }
        }
        return (values, scales)
    }

    /// A grouped layout's rows (docs/FORMAT.md, "Grouped matrices"): each group of 32 quantized by
    /// `GroupedLayout.quantizeGroup`, rows padded to 64 with weight 0. Nil when a scale overflows f16.
    public static func groupedRows(_ w: [Float], rows: Int, k: Int, layout: GroupedLayout) -> (bytes: [UInt8], scales: [Float16])? {
        let padded = GroupedLayout.paddedLength(k), groups = GroupedLayout.groups(k), rowBytes = layout.rowBytes(k)
        var bytes = [UInt8](repeating: 0, count: rows * rowBytes)
        var scales = [Float16](repeating: 0, count: rows * groups)
        var codes = [UInt8](repeating: 0, count: padded)
        for r in 0..<rows {
            for g in 0..<groups {
                let start = min(k, g * GroupedLayout.groupWeights), end = min(k, start + GroupedLayout.groupWeights)
                guard let (groupCodes, d) = layout.quantizeGroup(w[(r * k + start)..<(r * k + end)]) else { return nil }
                codes.replaceSubrange((g * GroupedLayout.groupWeights)..<((g + 1) * GroupedLayout.groupWeights), with: groupCodes)
                scales[r * groups + g] = d
            }
            codes.withUnsafeBufferPointer { source in
                bytes.withUnsafeMutableBytes { out in
                    layout.packRow(source, into: UnsafeMutableRawBufferPointer(rebasing: out[(r * rowBytes)..<((r + 1) * rowBytes)]))
                }
            }
        }
        return (bytes, scales)
    }

    /// Transposes a row-major (rows, cols) matrix (GPT-2's Conv1D stores (in, out)).
    public static func transpose(_ w: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: w.count)
        for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = w[r * cols + c] } }
        return out
    }
}

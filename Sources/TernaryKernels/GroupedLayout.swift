/// The grouped layouts `q4` and `q6` (docs/FORMAT.md, "Grouped matrices"), for large-vocabulary
/// embeddings and heads: groups of 32 weights, each with its own f16 scale `d`, w = d · (q − offset)
/// with q a 4-bit (offset 8) or 6-bit (offset 32) code. q4 is ggml's Q4_0 block split into its
/// scale and its 16 code bytes.
///
/// A row of `k` weights is padded with zeros to a multiple of 64 and stored as blocks of two groups:
/// q4 in 32 bytes (byte `16h + j`: low nibble weight `32h + j`, high nibble weight `32h + 16 + j`),
/// q6 in 48 (those 32 bytes of low nibbles, then 16 bytes; byte `32 + 8h + i` holds in bits
/// `2m…2m+1` the top two bits of weight `32h + 8m + i`). The scales are a separate F16 tensor
/// `(rows, groups)`.
public enum GroupedLayout: String, CaseIterable, Sendable, CustomStringConvertible {
    case q4
    case q6

    public var description: String { rawValue }

    public static let groupWeights = 32
    public static let blockWeights = 64

    /// Bits of a code.
    public var bits: Int { self == .q4 ? 4 : 6 }
    /// The code of weight 0: w = d · (q − offset).
    public var offset: Int { self == .q4 ? 8 : 32 }
    /// The largest code.
    public var maxCode: Int { 2 * offset - 1 }
    public var blockBytes: Int { self == .q4 ? 32 : 48 }

    /// `k` padded to whole blocks.
    @inlinable public static func paddedLength(_ k: Int) -> Int { (k + blockWeights - 1) / blockWeights * blockWeights }
    /// Scales (groups) per row.
    @inlinable public static func groups(_ k: Int) -> Int { paddedLength(k) / groupWeights }
    public func rowBytes(_ k: Int) -> Int { Self.paddedLength(k) / Self.blockWeights * blockBytes }

    /// The code q (0…maxCode) of weight `position` of a row.
    @inlinable public func code(at position: Int, of row: UnsafeRawBufferPointer) -> Int {
        let block = position / Self.blockWeights * blockBytes, h = position % 64 / 32, j = position % 32
        let low = Int(row[block + 16 * h + j % 16] >> (4 * (j / 16))) & 15
        if self == .q4 { return low }
        return low | (Int(row[block + 32 + 8 * h + j % 8] >> (2 * (j / 8))) & 3) << 4
    }

    /// Writes the codes (each 0…maxCode, `paddedLength` of them) of one row into `row`.
    public func packRow(_ codes: UnsafeBufferPointer<UInt8>, into row: UnsafeMutableRawBufferPointer) {
        precondition(codes.count % Self.blockWeights == 0 && row.count == codes.count / Self.blockWeights * blockBytes)
        for i in 0..<row.count { row[i] = 0 }
        for position in 0..<codes.count {
            let q = Int(codes[position])
            precondition(q <= maxCode, "a \(self) code is at most \(maxCode)")
            let block = position / Self.blockWeights * blockBytes, h = position % 64 / 32, j = position % 32
            row[block + 16 * h + j % 16] |= UInt8((q & 15) << (4 * (j / 16)))
            if self == .q6 { row[block + 32 + 8 * h + j % 8] |= UInt8((q >> 4) << (2 * (j / 8))) }
        }
    }

    /// Quantizes one group (up to 32 values; missing ones are zero): d = m / −offset rounded to f16,
    /// where m is the value of largest magnitude (the first, on a tie; a zero d is +0), and q = clamp(round-half-even(
    /// w / d) + offset, 0, maxCode), or offset everywhere when d is 0. Nil when d overflows f16.
    public func quantizeGroup(_ values: ArraySlice<Float>) -> (codes: [UInt8], scale: Float16)? {
        var m: Float = 0
        for v in values where abs(v) > abs(m) { m = v }
        var d = Float16(m / -Float(offset))
        guard d.isFinite else { return nil }
        if d == 0 { d = 0 }  // +0 (an all-zero group whose largest value is −0 would give −0)
        let scale = Float(d)
        var codes = [UInt8](repeating: UInt8(offset), count: Self.groupWeights)
        if scale != 0 {
            for (i, v) in values.enumerated() {
                codes[i] = UInt8(min(max((v / scale).rounded(.toNearestOrEven) + Float(offset), 0), Float(maxCode)))
            }
        }
        return (codes, d)
    }
}
